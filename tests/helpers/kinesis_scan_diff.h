/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The property the PutRecords fast path (control/kinesis_scan.c) must
 * keep, as a check the unit test and the fuzz target share: when the
 * scanner takes a body, jansson parses the same body, the typed getters
 * and checks PutRecords runs on the records (put_many_read, read_record in
 * kinesis_records.c) find no error, and both read exactly the same values:
 * keys, hash keys, decoded data, stream members, the 5 MB count. Bodies
 * the scanner declines go through jansson anyway, so they prove nothing
 * here. Header-only; one includer per program (static scratch).
 */
#ifndef SLUICE_TEST_KINESIS_SCAN_DIFF_H
#define SLUICE_TEST_KINESIS_SCAN_DIFF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../control/kinesis_internal.h"

struct ksd_rec {
	const char *key, *ehk; /* ehk NULL when absent */
	size_t key_len, ehk_len;
	const uint8_t *data;
	size_t data_len;
};

struct ksd_view {
	uint32_t count;
	size_t bytes;
	const char *name, *arn; /* NULL when absent */
	size_t name_len, arn_len;
	struct ksd_rec rec[SL_FRAME_RECORDS_MAX];
};

static struct kin_scan_record ksd_recs[SL_FRAME_RECORDS_MAX];
static struct ksd_view ksd_scanned, ksd_parsed;

/* The scanner's reading (buf: len bytes); false when it declines. *sane:
 * its output keeps its own bounds. */
static inline bool ksd_scan(const char *body, size_t len, uint8_t *buf, struct ksd_view *v,
			    bool *sane)
{
	struct kin_scan_put sp;
	*sane = true;
	if (!kin_scan_put_records(body, len, ksd_recs, buf, &sp))
		return false;
	*sane = sp.count >= 1 && sp.count <= SL_FRAME_RECORDS_MAX && sp.used <= len;
	memset(v, 0, sizeof(*v));
	v->count = sp.count;
	v->bytes = sp.bytes;
	v->name = sp.stream_name;
	v->name_len = sp.stream_name_len;
	v->arn = sp.stream_arn;
	v->arn_len = sp.stream_arn_len;
	for (uint32_t i = 0; *sane && i < sp.count; i++) {
		const struct kin_scan_record *r = &ksd_recs[i];
		*sane = (size_t)r->data_off + r->data_len <= sp.used &&
			(size_t)r->key_off + r->key_len <= sp.used &&
			(!r->has_ehk || (size_t)r->ehk_off + r->ehk_len <= sp.used);
		v->rec[i] = (struct ksd_rec){
		    .key = (const char *)buf + r->key_off,
		    .key_len = r->key_len,
		    .ehk = r->has_ehk ? (const char *)buf + r->ehk_off : NULL,
		    .ehk_len = r->ehk_len,
		    .data = buf + r->data_off,
		    .data_len = r->data_len,
		};
	}
	return true;
}

/*
 * The jansson path's reading, with the getters and checks PutRecords runs
 * on the records. false: not a JSON object, or its records hold a type or
 * validation error. Values point into *root (the caller frees it) and
 * into data (len bytes: the decoded data).
 */
static inline bool ksd_jansson(const char *body, size_t len, json_t **root, uint8_t *data,
			       struct ksd_view *v)
{
	struct kin_call *c = calloc(1, sizeof(*c));
	json_t *list, *e;
	size_t i, off = 0;
	bool ok = false;
	memset(v, 0, sizeof(*v));
	*root = json_loadb(body, len, 0, NULL);
	if (c == NULL || *root == NULL || !json_is_object(*root))
		goto out;
	c->root = *root;
	if (!kin_get_list(c, c->root, "Records", &list) || c->serr || json_array_size(list) < 1 ||
	    json_array_size(list) > SL_FRAME_RECORDS_MAX)
		goto out;
	kin_get_str(c, c->root, "StreamName", &v->name, &v->name_len);
	kin_get_str(c, c->root, "StreamARN", &v->arn, &v->arn_len);
	json_array_foreach(list, i, e)
	{
		struct ksd_rec *r = &v->rec[i];
		const char *b64;
		size_t b64_len;
		if (!kin_elem_obj(c, e))
			goto out;
		bool has_key = kin_get_str(c, e, "PartitionKey", &r->key, &r->key_len);
		kin_v_notnull(c, "k", has_key);
		if (has_key)
			kin_v_strlen(c, "k", r->key, r->key_len, 1, SL_PARTITION_KEY_MAX);
		if (kin_get_str(c, e, "ExplicitHashKey", &r->ehk, &r->ehk_len))
			kin_v_pattern(c, "h", r->ehk, r->ehk_len,
				      kin_match_digits(r->ehk, r->ehk_len, 38), KIN_PAT_HASH);
		bool has_data = kin_get_blob(c, e, "Data", &b64, &b64_len, &r->data_len);
		kin_v_notnull(c, "d", has_data);
		if (has_data) {
			kin_v_blobmax(c, "d", r->data_len, KIN_DATA_MAX_MODEL);
			kin_b64_decode(b64, b64_len, data + off);
			r->data = data + off;
			off += r->data_len;
		}
		v->bytes += r->data_len + r->key_len;
	}
	v->count = (uint32_t)json_array_size(list);
	ok = !c->serr && c->verr_count == 0;
out:
	free(c);
	return ok;
}

static inline bool ksd_span_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if ((a == NULL) != (b == NULL))
		return false;
	return a == NULL || (alen == blen && memcmp(a, b, alen) == 0);
}

static inline bool ksd_equal(const struct ksd_view *a, const struct ksd_view *b)
{
	if (a->count != b->count || a->bytes != b->bytes ||
	    !ksd_span_eq(a->name, a->name_len, b->name, b->name_len) ||
	    !ksd_span_eq(a->arn, a->arn_len, b->arn, b->arn_len))
		return false;
	for (uint32_t i = 0; i < a->count; i++) {
		const struct ksd_rec *x = &a->rec[i], *y = &b->rec[i];
		if (!ksd_span_eq(x->key, x->key_len, y->key, y->key_len) ||
		    !ksd_span_eq(x->ehk, x->ehk_len, y->ehk, y->ehk_len) ||
		    x->data_len != y->data_len || memcmp(x->data, y->data, x->data_len) != 0)
			return false;
	}
	return true;
}

/*
 * The check: returns whether the scanner took body; *agree is false when
 * it did and the property broke (or its output left its bounds). The body
 * is copied into a buffer of exactly len bytes, so that a sanitizer sees
 * any read past it.
 */
static inline bool ksd_check(const char *body, size_t len, bool *agree)
{
	char *copy = malloc(len ? len : 1);
	uint8_t *buf = malloc(len ? len : 1), *data = malloc(len ? len : 1);
	json_t *root = NULL;
	bool sane;
	memcpy(copy, body, len);
	bool took = ksd_scan(copy, len, buf, &ksd_scanned, &sane);
	*agree = sane;
	if (took && sane)
		*agree = ksd_jansson(copy, len, &root, data, &ksd_parsed) &&
			 ksd_equal(&ksd_scanned, &ksd_parsed);
	json_decref(root);
	free(copy);
	free(buf);
	free(data);
	return took;
}

#endif /* SLUICE_TEST_KINESIS_SCAN_DIFF_H */
