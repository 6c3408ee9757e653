/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fast path of PutRecords: a strict scanner for the body every SDK
 * sends, which decodes each record's Data straight from the request into
 * the call's buffer, without building a JSON tree.
 *
 * jansson parses a character at a time and copies every string twice (its
 * token buffer, then the value), and a PutRecords body is almost all Data
 * strings: with 1 KiB records that was two thirds of the control thread's
 * time once base64 went vector-wide (perf record, see kinesis_b64.c). This
 * scanner recognises one shape and nothing else; for any other input it
 * answers "not mine" and the request goes through jansson and the typed
 * member access as before, which gives every error its usual answer. It
 * accepts only bodies on which that path would find no type or validation
 * error in the records, and it then yields exactly the values that path
 * would read. The shape (JSON whitespace -- space, tab, CR, LF -- allowed
 * between any two tokens, members in any order):
 *
 *   { "Records": [ R, ... ], "StreamName": S, "StreamARN": S }
 *     Records required, 1..SL_FRAME_RECORDS_MAX entries; StreamName and
 *     StreamARN optional (their own checks run afterwards, as usual);
 *   R = { "PartitionKey": S, "Data": B, "ExplicitHashKey": S }
 *     PartitionKey required, 1..SL_PARTITION_KEY_MAX characters;
 *     ExplicitHashKey optional, 0|[1-9][0-9]{0,38}; Data required, strict
 *     base64 (kinesis_b64.c) of at most KIN_DATA_MAX_MODEL bytes;
 *   S = a string of printable ASCII (0x20..0x7E) without a backslash, so
 *     its bytes are its value; B = a string whose characters the base64
 *     decoder accepts, which excludes '\', control characters and
 *     non-ASCII bytes by itself.
 *
 * Anything else is left to jansson: another member, a member twice (which
 * jansson resolves as "the last one wins"), null or another type, escapes,
 * non-ASCII text, an empty or an oversized list, a record that breaks a
 * constraint, bytes after the object. The records' PartitionKey and
 * ExplicitHashKey are copied into the buffer next to the decoded data,
 * since the request body is borrowed only while the request is
 * dispatched; the stream members are spans of the body (the caller uses
 * them before dispatch returns). Pure: bytes in, records out.
 */
#include <string.h>

#include <sluice/assert.h>

#include "kinesis_internal.h"

struct scan {
	const char *p, *end;
	uint8_t *buf; /* decoded data and copied keys */
	size_t used;
};

static inline void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* The next token is the character ch: take it. */
static inline bool take(struct scan *s, char ch)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ch) {
		s->p++;
		return true;
	}
	return false;
}

/* A string's characters, not looked at: from after the quote to the next
 * quote (escaped or not: the caller checks there is no backslash). */
static bool string_span(struct scan *s, const char **str, size_t *len)
{
	if (!take(s, '"'))
		return false;
	const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
	if (q == NULL)
		return false;
	*str = s->p;
	*len = (size_t)(q - s->p);
	s->p = q + 1;
	return true;
}

/* A string of printable ASCII without escapes: its bytes are its value. */
static bool plain_string(struct scan *s, const char **str, size_t *len)
{
	if (!string_span(s, str, len))
		return false;
	for (size_t i = 0; i < *len; i++) {
		uint8_t ch = (uint8_t)(*str)[i];
		if (ch < 0x20 || ch > 0x7E || ch == '\\')
			return false;
	}
	return true;
}

/* A member's name and the colon after it. */
static bool member_name(struct scan *s, const char **name, size_t *len)
{
	return plain_string(s, name, len) && take(s, ':');
}

static inline bool name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* Copy a string into the buffer; its offset. */
static uint32_t keep(struct scan *s, const char *str, size_t len)
{
	uint32_t off = (uint32_t)s->used;
	memcpy(s->buf + s->used, str, len);
	s->used += len;
	return off;
}

static bool scan_data(struct scan *s, struct kin_scan_record *r)
{
	const char *b64;
	size_t b64_len, len;
	char bad;
	if (!string_span(s, &b64, &b64_len))
		return false;
	/* decoding writes at most kin_b64_decoded_max(b64_len) <= b64_len bytes:
	 * what the body spends on the string, so the buffer has room */
	if (kin_b64_decode_strict(b64, b64_len, s->buf + s->used, &len, &bad) != KIN_B64_OK ||
	    len > KIN_DATA_MAX_MODEL)
		return false;
	r->data_off = (uint32_t)s->used;
	r->data_len = (uint32_t)len;
	s->used += len;
	return true;
}

/* One entry of Records. */
static bool scan_record(struct scan *s, struct kin_scan_record *r)
{
	bool has_key = false, has_data = false, has_ehk = false;
	const char *name, *v;
	size_t name_len, len;
	memset(r, 0, sizeof(*r));
	if (!take(s, '{'))
		return false;
	do {
		if (!member_name(s, &name, &name_len))
			return false;
		if (name_is(name, name_len, "Data")) {
			if (has_data || !scan_data(s, r))
				return false;
			has_data = true;
		} else if (name_is(name, name_len, "PartitionKey")) {
			if (has_key || !plain_string(s, &v, &len) || len < 1 ||
			    len > SL_PARTITION_KEY_MAX)
				return false;
			r->key_off = keep(s, v, len);
			r->key_len = (uint32_t)len;
			has_key = true;
		} else if (name_is(name, name_len, "ExplicitHashKey")) {
			if (has_ehk || !plain_string(s, &v, &len) || !kin_match_digits(v, len, 38))
				return false;
			r->ehk_off = keep(s, v, len);
			r->ehk_len = (uint32_t)len;
			has_ehk = r->has_ehk = true;
		} else {
			return false;
		}
	} while (take(s, ','));
	return take(s, '}') && has_key && has_data;
}

static bool scan_records(struct scan *s, struct kin_scan_record *recs, struct kin_scan_put *out)
{
	if (!take(s, '['))
		return false;
	do {
		if (out->count >= SL_FRAME_RECORDS_MAX || !scan_record(s, &recs[out->count]))
			return false;
		out->bytes += recs[out->count].data_len + recs[out->count].key_len;
		out->count++;
	} while (take(s, ','));
	return take(s, ']');
}

bool kin_scan_put_records(const char *body, size_t len, struct kin_scan_record *recs, uint8_t *buf,
			  struct kin_scan_put *out)
{
	struct scan s = {.p = body, .end = body + len, .buf = buf};
	const char *name;
	size_t name_len;
	bool has_records = false;
	memset(out, 0, sizeof(*out));
	if (!take(&s, '{'))
		return false;
	do {
		if (!member_name(&s, &name, &name_len))
			return false;
		if (name_is(name, name_len, "Records")) {
			if (has_records || !scan_records(&s, recs, out))
				return false;
			has_records = true;
		} else if (name_is(name, name_len, "StreamName")) {
			if (out->stream_name != NULL ||
			    !plain_string(&s, &out->stream_name, &out->stream_name_len))
				return false;
		} else if (name_is(name, name_len, "StreamARN")) {
			if (out->stream_arn != NULL ||
			    !plain_string(&s, &out->stream_arn, &out->stream_arn_len))
				return false;
		} else {
			return false;
		}
	} while (take(&s, ','));
	if (!take(&s, '}'))
		return false;
	skip_ws(&s);
	if (s.p != s.end || !has_records)
		return false;
	SL_ASSERT(s.used <= len);
	out->used = s.used;
	return true;
}
