/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON for the Kinesis API: a small writer for the answers (escaping that
 * never emits invalid UTF-8, epoch-second timestamps with milliseconds,
 * base64 blobs, 128-bit decimal strings) and typed access to request
 * members with the two kinds of client error Kinesis's Coral front end
 * gives before an operation runs:
 *
 * - SerializationException: a member of the wrong JSON type (a number where
 *   a string belongs, a list where a structure belongs, a Blob that is not
 *   base64); the first one found answers the request;
 * - ValidationException: a member that breaks a model constraint (null
 *   where required, length, pattern, range, enum), gathered up to ten and
 *   answered together: "2 validation errors detected: Value 'x' at
 *   'streamName' failed to satisfy constraint: Member must ...; ...".
 *
 * Requests are parsed by jansson (kinesis.c); the writer builds answers in
 * one growing buffer that the HTTP layer takes over.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>

#include "kinesis_internal.h"

/* ---- the writer ---- */

void kjw_init(struct kjw *w, size_t reserve)
{
	memset(w, 0, sizeof(*w));
	w->cap = reserve < 256 ? 256 : reserve;
	w->buf = malloc(w->cap);
	w->oom = w->buf == NULL;
	if (w->oom)
		w->cap = 0;
}

void kjw_fini(struct kjw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

/* Room for n more bytes; false (and oom) when it cannot be had. */
static bool reserve(struct kjw *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->cap - w->len >= n)
		return true;
	size_t cap = w->cap ? w->cap : 256;
	while (cap - w->len < n)
		cap *= 2;
	char *nb = realloc(w->buf, cap);
	if (nb == NULL) {
		w->oom = true;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

static void put(struct kjw *w, const char *s, size_t n)
{
	if (reserve(w, n)) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
}

/* Before a value: a comma unless it follows a key or opens its container. */
static void sep(struct kjw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->count[w->depth]++ > 0)
		put(w, ",", 1);
}

static void open_container(struct kjw *w, char c)
{
	sep(w);
	put(w, &c, 1);
	SL_ASSERT(w->depth + 1 < KJW_DEPTH_MAX);
	w->count[++w->depth] = 0;
}

static void close_container(struct kjw *w, char c)
{
	SL_ASSERT(w->depth > 0);
	SL_ASSERT(!w->after_key);
	w->depth--;
	put(w, &c, 1);
}

void kjw_obj_begin(struct kjw *w)
{
	open_container(w, '{');
}

void kjw_obj_end(struct kjw *w)
{
	close_container(w, '}');
}

void kjw_arr_begin(struct kjw *w)
{
	open_container(w, '[');
}

void kjw_arr_end(struct kjw *w)
{
	close_container(w, ']');
}

void kjw_key(struct kjw *w, const char *key)
{
	SL_ASSERT(!w->after_key);
	if (w->count[w->depth]++ > 0)
		put(w, ",", 1);
	put(w, "\"", 1);
	put(w, key, strlen(key));
	put(w, "\":", 2);
	w->after_key = true;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void kjw_str(struct kjw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	sep(w);
	if (!reserve(w, kjw_str_bound(len)))
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	for (size_t i = 0; i < len;) {
		uint8_t ch = p[i];
		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
			i++;
		} else if (ch < 0x20) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[ch >> 4];
			o[5] = hex[ch & 15];
			o += 6;
			i++;
		} else {
			size_t n = utf8_seq(p + i, len - i);
			if (n == 0) {
				memcpy(o, "\\ufffd", 6); /* not UTF-8: the replacement character */
				o += 6;
				i++;
				continue;
			}
			memcpy(o, p + i, n);
			o += n;
			i += n;
		}
	}
	*o++ = '"';
	w->len = (size_t)(o - w->buf);
}

void kjw_cstr(struct kjw *w, const char *s)
{
	kjw_str(w, s, strlen(s));
}

void kjw_str_plain(struct kjw *w, const char *s, size_t len)
{
	sep(w);
	if (!reserve(w, len + 2))
		return;
	for (size_t i = 0; i < len; i++)
		SL_ASSERT_HOT(s[i] >= 0x20 && s[i] < 0x7F && s[i] != '"' && s[i] != '\\');
	w->buf[w->len] = '"';
	memcpy(w->buf + w->len + 1, s, len);
	w->buf[w->len + 1 + len] = '"';
	w->len += len + 2;
}

void kjw_u64(struct kjw *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	sep(w);
	put(w, b, (size_t)n);
}

void kjw_bool(struct kjw *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void kjw_u128(struct kjw *w, sl_u128 v)
{
	char b[SL_U128_DEC_BUF + 2];
	size_t n = sl_u128_to_dec(v, b + 1);
	b[0] = '"';
	b[n + 1] = '"';
	sep(w);
	put(w, b, n + 2);
}

void kjw_ts_ms(struct kjw *w, uint64_t epoch_ms)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%llu.%03u", (unsigned long long)(epoch_ms / 1000),
			 (unsigned)(epoch_ms % 1000));
	sep(w);
	put(w, b, (size_t)n);
}

void kjw_b64(struct kjw *w, const uint8_t *p, size_t len)
{
	size_t n = kin_b64_len(len);
	sep(w);
	if (!reserve(w, n + 2))
		return;
	w->buf[w->len++] = '"';
	kin_b64_encode(p, len, w->buf + w->len);
	w->len += n;
	w->buf[w->len++] = '"';
}

/* ---- type errors (SerializationException) ---- */

__attribute__((format(printf, 2, 3))) static void type_error(struct kin_call *c, const char *fmt,
							     ...)
{
	if (c->serr)
		return; /* the first one answers */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->smsg, sizeof(c->smsg), fmt, ap);
	va_end(ap);
	c->serr = true;
}

/* A scalar of the wrong kind, in Coral's (Jackson's) words. */
static void scalar_mismatch(struct kin_call *c, const json_t *v, const char *want)
{
	const char *article = strcmp(want, "Blob") == 0 ? "a" : "an";
	if (json_is_object(v))
		type_error(c, "Start of structure or map found where not expected.");
	else if (json_is_array(v))
		type_error(c, "Start of list found where not expected");
	else if (json_is_boolean(v))
		type_error(c, "class java.lang.Boolean can not be converted to %s %s", article,
			   want);
	else if (json_is_number(v))
		type_error(c, "class java.math.BigDecimal can not be converted to %s %s", article,
			   want);
	else
		type_error(c, "class java.lang.String can not be converted to %s %s", article,
			   want);
}

static json_t *member(json_t *obj, const char *name)
{
	json_t *v = obj != NULL ? json_object_get(obj, name) : NULL;
	return v == NULL || json_is_null(v) ? NULL : v;
}

bool kin_get_str(struct kin_call *c, json_t *obj, const char *name, const char **s, size_t *len)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	return kin_elem_str(c, v, s, len);
}

bool kin_elem_str(struct kin_call *c, json_t *v, const char **s, size_t *len)
{
	if (!json_is_string(v)) {
		scalar_mismatch(c, v, "String");
		return false;
	}
	*s = json_string_value(v);
	*len = json_string_length(v);
	return true;
}

bool kin_get_int(struct kin_call *c, json_t *obj, const char *name, int64_t *out)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (!json_is_number(v)) {
		scalar_mismatch(c, v, "Integer");
		return false;
	}
	double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
	/* The range first: converting a double beyond int64_t is undefined. */
	if (d < (double)INT32_MIN || d > (double)INT32_MAX) {
		type_error(c, "Numeric value (%.0f) out of range of int", d);
		return false;
	}
	int64_t i = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)d;
	if (json_is_real(v) && d < 0 && (double)i != d)
		i--; /* floor, as Coral truncates a fraction towards minus infinity */
	*out = i;
	return true;
}

bool kin_get_bool(struct kin_call *c, json_t *obj, const char *name, bool *out)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (!json_is_boolean(v)) {
		scalar_mismatch(c, v, "Boolean");
		return false;
	}
	*out = json_is_true(v);
	return true;
}

bool kin_get_ts(struct kin_call *c, json_t *obj, const char *name, int64_t *ms)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (!json_is_number(v)) {
		scalar_mismatch(c, v, "Timestamp");
		return false;
	}
	double secs = json_number_value(v);
	if (secs < -1e12 || secs > 1e12) {
		type_error(c, "Timestamp value (%.0f) out of range", secs);
		return false;
	}
	double m = secs * 1000.0;
	*ms = (int64_t)m;
	if (m < 0 && (double)*ms != m)
		(*ms)--;
	return true;
}

bool kin_elem_obj(struct kin_call *c, json_t *v)
{
	if (json_is_object(v))
		return true;
	if (json_is_array(v))
		type_error(c, "Start of list found where not expected");
	else
		type_error(c, "Expected null");
	return false;
}

bool kin_get_obj(struct kin_call *c, json_t *obj, const char *name, json_t **out)
{
	json_t *v = member(obj, name);
	if (v == NULL || !kin_elem_obj(c, v))
		return false;
	*out = v;
	return true;
}

bool kin_get_list(struct kin_call *c, json_t *obj, const char *name, json_t **out)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (json_is_array(v)) {
		*out = v;
		return true;
	}
	if (json_is_object(v))
		type_error(c, "Start of structure or map found where not expected.");
	else
		type_error(c, "Expected list or null");
	return false;
}

bool kin_get_map(struct kin_call *c, json_t *obj, const char *name, json_t **out)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (json_is_object(v)) {
		*out = v;
		return true;
	}
	if (json_is_array(v))
		type_error(c, "Start of list found where not expected");
	else
		type_error(c, "Expected map or null");
	return false;
}

/* How much of a value an error message quotes. */
#define QUOTE_MAX 256

bool kin_get_blob(struct kin_call *c, json_t *obj, const char *name, const char **b64,
		  size_t *b64_len, size_t *len)
{
	json_t *v = member(obj, name);
	if (v == NULL)
		return false;
	if (!json_is_string(v)) {
		scalar_mismatch(c, v, "Blob");
		return false;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int shown = (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
	char bad = 0;
	switch (kin_b64_check(s, n, len, &bad)) {
	case KIN_B64_OK:
		*b64 = s;
		*b64_len = n;
		return true;
	case KIN_B64_ELEN:
		type_error(c,
			   "'%.*s' can not be converted to a Blob: Base64 encoded length is "
			   "expected a multiple of 4 bytes but found: %zu",
			   shown, s, n);
		return false;
	case KIN_B64_ECHAR:
		type_error(c,
			   "'%.*s' can not be converted to a Blob: Invalid Base64 character: '%c'",
			   shown, s, bad);
		return false;
	case KIN_B64_ELAST:
		type_error(c,
			   "'%.*s' can not be converted to a Blob: Invalid last non-pad Base64 "
			   "character dectected",
			   shown, s);
		return false;
	}
	return false;
}

/* ---- validation errors (ValidationException) ---- */

__attribute__((format(printf, 2, 3))) static void vappend(struct kin_call *c, const char *fmt, ...)
{
	if (c->vmsg_len >= sizeof(c->vmsg) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->vmsg + c->vmsg_len, sizeof(c->vmsg) - c->vmsg_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->vmsg_len += (size_t)n;
	if (c->vmsg_len > sizeof(c->vmsg) - 1)
		c->vmsg_len = sizeof(c->vmsg) - 1;
}

void kin_verr(struct kin_call *c, const char *path, const char *value, size_t value_len,
	      bool value_null, const char *constraint)
{
	if (c->verr_count >= KIN_VERRS_MAX)
		return;
	if (c->verr_count++ > 0)
		vappend(c, "; ");
	if (value_null)
		vappend(c, "Value null at '%s' failed to satisfy constraint: %s", path, constraint);
	else
		vappend(c, "Value '%.*s' at '%s' failed to satisfy constraint: %s",
			(int)(value_len < QUOTE_MAX ? value_len : QUOTE_MAX), value, path,
			constraint);
}

void kin_v_notnull(struct kin_call *c, const char *path, bool present)
{
	if (!present)
		kin_verr(c, path, NULL, 0, true, "Member must not be null");
}

/* Characters as Java counts them closely enough: UTF-8 lead bytes. */
static size_t char_count(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((uint8_t)s[i] & 0xC0) != 0x80;
	return n;
}

void kin_v_strlen(struct kin_call *c, const char *path, const char *s, size_t len, size_t min,
		  size_t max)
{
	char why[96];
	size_t n = char_count(s, len);
	if (n < min) {
		snprintf(why, sizeof(why), "Member must have length greater than or equal to %zu",
			 min);
		kin_verr(c, path, s, len, false, why);
	}
	if (n > max) {
		snprintf(why, sizeof(why), "Member must have length less than or equal to %zu",
			 max);
		kin_verr(c, path, s, len, false, why);
	}
}

void kin_v_blobmax(struct kin_call *c, const char *path, size_t len, size_t max)
{
	if (len <= max)
		return;
	char value[96], why[96];
	int n = snprintf(value, sizeof(value), "java.nio.HeapByteBuffer[pos=0 lim=%zu cap=%zu]",
			 len, len);
	snprintf(why, sizeof(why), "Member must have length less than or equal to %zu", max);
	kin_verr(c, path, value, (size_t)n, false, why);
}

void kin_v_range(struct kin_call *c, const char *path, int64_t v, int64_t min, int64_t max)
{
	char value[32], why[96];
	int n = snprintf(value, sizeof(value), "%lld", (long long)v);
	if (v < min) {
		snprintf(why, sizeof(why), "Member must have value greater than or equal to %lld",
			 (long long)min);
		kin_verr(c, path, value, (size_t)n, false, why);
	}
	if (v > max) {
		snprintf(why, sizeof(why), "Member must have value less than or equal to %lld",
			 (long long)max);
		kin_verr(c, path, value, (size_t)n, false, why);
	}
}

void kin_v_pattern(struct kin_call *c, const char *path, const char *s, size_t len, bool ok,
		   const char *pattern)
{
	char why[160];
	if (ok)
		return;
	snprintf(why, sizeof(why), "Member must satisfy regular expression pattern: %s", pattern);
	kin_verr(c, path, s, len, false, why);
}

bool kin_match_name(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool kin_match_digits(const char *s, size_t len, size_t max_after_first)
{
	if (len == 0 || len > max_after_first + 1)
		return false;
	if (s[0] == '0')
		return len == 1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

void kin_v_stream_name(struct kin_call *c, const char *path, const char *s, size_t len)
{
	kin_v_pattern(c, path, s, len, kin_match_name(s, len), KIN_PAT_NAME);
	kin_v_strlen(c, path, s, len, 1, SL_STREAM_NAME_MAX);
}

void kin_v_shard_id(struct kin_call *c, const char *path, const char *s, size_t len)
{
	kin_v_pattern(c, path, s, len, kin_match_name(s, len), KIN_PAT_NAME);
	kin_v_strlen(c, path, s, len, 1, 128);
}

/* arn:aws*:kinesis:<any>:<12 digits>:[<any>]stream/<non-space>+ */
static bool match_arn(const char *s, size_t len, bool resource)
{
	static const char head[] = "arn:aws";
	const char *end = s + len;
	if (len < sizeof(head) - 1 || memcmp(s, head, sizeof(head) - 1) != 0)
		return false;
	const char *k = memmem(s, len, ":kinesis:", 9);
	if (k == NULL)
		return false;
	/* a ":<12 digits>:" after it, then (any)stream/ and non-blanks */
	for (const char *p = k + 8; p + 14 <= end; p++) {
		if (p[0] != ':' || p[13] != ':')
			continue;
		bool digits = true;
		for (int i = 1; i <= 12; i++)
			digits = digits && p[i] >= '0' && p[i] <= '9';
		if (!digits)
			continue;
		const char *rest = p + 14;
		const char *st = memmem(rest, (size_t)(end - rest), "stream/", 7);
		if (st == NULL || (!resource && st != rest) || st + 7 >= end)
			continue;
		bool blank = false;
		for (const char *q = st + 7; q < end; q++)
			blank = blank || *q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' ||
				*q == '\f' || *q == '\v';
		if (!blank)
			return true;
	}
	return false;
}

void kin_v_stream_arn(struct kin_call *c, const char *path, const char *s, size_t len,
		      bool resource)
{
	kin_v_pattern(c, path, s, len, match_arn(s, len, resource),
		      resource ? KIN_PAT_RARN : KIN_PAT_ARN);
	kin_v_strlen(c, path, s, len, 1, 2048);
}
