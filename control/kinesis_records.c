/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kinesis records: PutRecord, PutRecords, GetShardIterator, GetRecords,
 * and the signed tokens (shard iterators, NextTokens) they hand out.
 *
 * Writes travel the one path every door uses (SPEC §1): a record is routed
 * through the store's shard map (MD5 of the partition key, or the explicit
 * hash key), put on its shard's ring as part of a struct sl_append, and
 * answered once the writer reports it done (durable in fsync mode). A
 * PutRecords request becomes one append per shard holding that shard's
 * records contiguously in request order; a shard's part is split into
 * several appends, still in order, only when it is larger than one append
 * may be (storage.batch_kb). Appends refused (ring full, in-flight bound)
 * fail their records with ProvisionedThroughputExceededException, the
 * others succeed: PutRecords reports each entry.
 *
 * Tokens, byte by byte (then HMAC-SHA256 over them with the API's key,
 * first 16 bytes appended, and the whole in base64):
 *    0  1 version (1)        1  1 kind (enum kin_token_kind)
 *    2  1 from (sl_read_from, or the ListShards filter)   3 1 zero
 *    4  4 stream id (LE)     8  4 shard id (LE)
 *   12  8 created, epoch ms (LE)      20 8 AT_TIMESTAMP time, ms (LE)
 *   28 16 sequence number (BE)        44 4 aux (LE)
 *   48  1 name length        49  n name (ListStreams: the last name)
 * An iterator is 88 characters; it expires SL_KINESIS_ITERATOR_TTL_MS after
 * it was made (ExpiredIteratorException); a forged or damaged one is
 * InvalidArgumentException. The key is kept in the data directory, so
 * iterators survive a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sluice/assert.h>
#include <sluice/log.h>
#include <sluice/segment.h>

#include "kinesis_internal.h"

#define TOKEN_VERSION   1
#define TOKEN_HEAD      49
#define TOKEN_MAC       16
#define TOKEN_BYTES_MAX (TOKEN_HEAD + SL_STREAM_NAME_MAX + TOKEN_MAC)
#define FUTURE_SLACK_MS 60000 /* clock steps we forgive a token's birth time */

SL_STATIC_ASSERT((TOKEN_BYTES_MAX + 2) / 3 * 4 <= KIN_TOKEN_B64_MAX);

/* ---- tokens ---- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void token_mac(const struct sl_kinesis *k, const uint8_t *p, size_t n,
		      uint8_t mac[TOKEN_MAC])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	uint8_t *r = HMAC(EVP_sha256(), k->key, (int)sizeof(k->key), p, n, md, &md_len);
	SL_ASSERT(r != NULL && md_len >= TOKEN_MAC);
	memcpy(mac, md, TOKEN_MAC);
}

size_t kin_token_encode(const struct sl_kinesis *k, const struct kin_token *t,
			char out[KIN_TOKEN_B64_MAX + 1])
{
	uint8_t b[TOKEN_BYTES_MAX] = {0};
	SL_ASSERT(t->name_len <= SL_STREAM_NAME_MAX);
	b[0] = TOKEN_VERSION;
	b[1] = t->kind;
	b[2] = t->from;
	put_le(b + 4, t->stream_id, 4);
	put_le(b + 8, t->shard_id, 4);
	put_le(b + 12, t->created_ms, 8);
	put_le(b + 20, t->time_ms, 8);
	sl_u128_store_be(b + 28, t->seq);
	put_le(b + 44, t->aux, 4);
	b[48] = (uint8_t)t->name_len;
	memcpy(b + TOKEN_HEAD, t->name, t->name_len);
	size_t n = TOKEN_HEAD + t->name_len;
	token_mac(k, b, n, b + n);
	n += TOKEN_MAC;
	kin_b64_encode(b, n, out);
	out[kin_b64_len(n)] = '\0';
	return kin_b64_len(n);
}

bool kin_token_decode(const struct sl_kinesis *k, const char *s, size_t len, struct kin_token *t)
{
	uint8_t b[TOKEN_BYTES_MAX], mac[TOKEN_MAC];
	size_t n;
	char bad;
	if (len > KIN_TOKEN_B64_MAX || kin_b64_check(s, len, &n, &bad) != KIN_B64_OK)
		return false;
	if (n < TOKEN_HEAD + TOKEN_MAC || n > sizeof(b))
		return false;
	kin_b64_decode(s, len, b);
	if (b[0] != TOKEN_VERSION || b[48] > SL_STREAM_NAME_MAX ||
	    n != (size_t)TOKEN_HEAD + b[48] + TOKEN_MAC)
		return false;
	token_mac(k, b, n - TOKEN_MAC, mac);
	if (CRYPTO_memcmp(mac, b + n - TOKEN_MAC, TOKEN_MAC) != 0)
		return false;
	memset(t, 0, sizeof(*t));
	t->kind = b[1];
	t->from = b[2];
	t->stream_id = (uint32_t)get_le(b + 4, 4);
	t->shard_id = (uint32_t)get_le(b + 8, 4);
	t->created_ms = get_le(b + 12, 8);
	t->time_ms = get_le(b + 20, 8);
	t->seq = sl_u128_load_be(b + 28);
	t->aux = (uint32_t)get_le(b + 44, 4);
	t->name_len = b[48];
	memcpy(t->name, b + TOKEN_HEAD, t->name_len);
	t->name[t->name_len] = '\0';
	return t->created_ms <= kin_now_ms() + FUTURE_SLACK_MS;
}

/* ---- routing ---- */

/* The stream (from the shard map) the request names, taking appends. */
static const struct sl_shardmap_stream *route_stream(struct kin_call *c,
						     const struct kin_stream_ref *ref)
{
	const char *name;
	size_t len;
	if (!kin_ref_name(c, ref, &name, &len))
		return NULL;
	const struct sl_shardmap *map = sl_store_shardmap(c->k->store);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(map, name, len);
	if (s == NULL || (s->status != SL_STREAM_ACTIVE && s->status != SL_STREAM_UPDATING)) {
		kin_reply_no_stream(c, name, len);
		return NULL;
	}
	return s;
}

/* A record's explicit hash key, or MD5 of its key. */
static bool record_hash(struct kin_call *c, const char *ehk, size_t ehk_len, const char *key,
			size_t key_len, sl_u128 *hash)
{
	if (ehk == NULL) {
		*hash = sl_hash_partition_key((const uint8_t *)key, key_len);
		return true;
	}
	if (sl_u128_from_dec(ehk, ehk_len, hash) == 0)
		return true;
	kin_reply_err(
	    c, KX_INVALID_ARGUMENT,
	    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
	    "Specified value was %.*s",
	    (int)ehk_len, ehk);
	return false;
}

static void reply_throttled(struct kin_call *c, const struct sl_shardmap_stream *s,
			    uint32_t shard_id)
{
	char sid[KIN_SHARD_ID_BUF];
	kin_shard_id_format(shard_id, sid);
	kin_reply_err(c, KX_PROVISIONED_THROUGHPUT,
		      "Rate exceeded for shard %s in stream %s under account %s.", sid, s->name,
		      c->k->account);
}

/* An append the store refused, as an exception. */
static void reply_append_error(struct kin_call *c, const struct sl_shardmap_stream *s,
			       uint32_t shard_id, int rc)
{
	if (rc == -ENOBUFS)
		reply_throttled(c, s, shard_id);
	else if (rc == -ENOENT)
		kin_reply_no_stream(c, s->name, s->name_len);
	else if (rc == -ESHUTDOWN)
		kin_reply_err(c, KX_INTERNAL_FAILURE, "The appliance is shutting down.");
	else
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Internal service failure.");
}

/* ---- PutRecord ---- */

struct put_one {
	struct sl_append app;
	struct sl_record rec;
	char stream[SL_STREAM_NAME_MAX + 1];
	uint8_t data[]; /* the decoded Data */
};

struct put_args {
	const char *ordering, *key, *ehk, *b64;
	size_t ordering_len, key_len, ehk_len, b64_len, data_len;
	const uint8_t *data; /* decoded already (the fast path), else NULL */
	struct kin_stream_ref ref;
};

/* One record's members (PutRecord's, or a PutRecords entry's). */
static void read_record(struct kin_call *c, json_t *obj, const char *prefix, struct put_args *a)
{
	char path[64];
	snprintf(path, sizeof(path), "%spartitionKey", prefix);
	bool has_key = kin_get_str(c, obj, "PartitionKey", &a->key, &a->key_len);
	kin_v_notnull(c, path, has_key);
	if (has_key)
		kin_v_strlen(c, path, a->key, a->key_len, 1, SL_PARTITION_KEY_MAX);
	snprintf(path, sizeof(path), "%sexplicitHashKey", prefix);
	if (kin_get_str(c, obj, "ExplicitHashKey", &a->ehk, &a->ehk_len))
		kin_v_pattern(c, path, a->ehk, a->ehk_len, kin_match_digits(a->ehk, a->ehk_len, 38),
			      KIN_PAT_HASH);
	snprintf(path, sizeof(path), "%sdata", prefix);
	bool has_data = kin_get_blob(c, obj, "Data", &a->b64, &a->b64_len, &a->data_len);
	kin_v_notnull(c, path, has_data);
	if (has_data)
		kin_v_blobmax(c, path, a->data_len, KIN_DATA_MAX_MODEL);
}

/* Key + data against the stream's bound (SPEC §5: 1 MiB by default).
 * entry: the PutRecords entry, 1-based; 0 for PutRecord. */
static bool record_fits(struct kin_call *c, const struct sl_shardmap_stream *s, uint32_t entry,
			const struct put_args *a)
{
	if (a->data_len > s->max_record_bytes) {
		char path[64] = "data";
		if (entry > 0)
			snprintf(path, sizeof(path), "records.%u.member.data", entry);
		kin_v_blobmax(c, path, a->data_len, s->max_record_bytes);
		kin_reply_gathered(c);
		return false;
	}
	struct sl_record r = {.key_len = (uint16_t)a->key_len,
			      .data_len = (uint32_t)a->data_len,
			      .flags = a->ehk ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0};
	if (sl_seg_record_bytes(&r) > sl_store_append_bytes_max(c->k->store)) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "The record takes %zu bytes, more than one storage batch holds (%u "
			      "bytes: raise storage.batch_kb).",
			      sl_seg_record_bytes(&r), sl_store_append_bytes_max(c->k->store));
		return false;
	}
	if (a->data_len + a->key_len > s->max_record_bytes) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "The record's partition key and data take %zu bytes, more than the "
			      "stream's maximum record size of %u bytes.",
			      a->data_len + a->key_len, s->max_record_bytes);
		return false;
	}
	return true;
}

static void put_record_done(struct kin_call *c)
{
	struct put_one *p = c->async;
	char sid[KIN_SHARD_ID_BUF];
	kin_shard_id_format(p->app.shard_id, sid);
	switch (p->app.status) {
	case SL_APPEND_OK:
		break;
	case SL_APPEND_THROTTLED:
		c->k->stats.records_failed++;
		c->k->stats.records_throttled++;
		kin_reply_err(c, KX_PROVISIONED_THROUGHPUT,
			      "Rate exceeded for shard %s in stream %s under account %s.", sid,
			      p->stream, c->k->account);
		return;
	case SL_APPEND_STREAM_NOT_FOUND:
		c->k->stats.records_failed++;
		kin_reply_no_stream(c, p->stream, strlen(p->stream));
		return;
	default:
		c->k->stats.records_failed++;
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Internal service failure.");
		return;
	}
	c->k->stats.records_put++;
	struct kjw w;
	kjw_init(&w, 256);
	kjw_obj_begin(&w);
	kjw_key(&w, "ShardId");
	kjw_cstr(&w, sid);
	kjw_key(&w, "SequenceNumber");
	kjw_u128(&w, p->app.first_seq);
	kjw_key(&w, "EncryptionType");
	kjw_cstr(&w, "NONE");
	kjw_obj_end(&w);
	kin_reply_ok(c, &w);
}

/* SequenceNumberForOrdering: our sequence numbers always increase within a
 * shard, so it needs only to be a sequence number. */
static bool ordering_ok(struct kin_call *c, const struct put_args *a, const char *stream)
{
	sl_u128 v;
	if (a->ordering == NULL || sl_u128_from_dec(a->ordering, a->ordering_len, &v) == 0)
		return true;
	kin_reply_err(c, KX_INVALID_ARGUMENT,
		      "ExclusiveMinimumSequenceNumber %.*s used in PutRecord on stream %s under "
		      "account %s is invalid.",
		      (int)a->ordering_len, a->ordering, stream, c->k->account);
	return false;
}

static void put_one_submit(struct kin_call *c, const struct sl_shardmap_stream *s,
			   const struct put_args *a, sl_u128 hash)
{
	const struct sl_shardmap_shard *sh = sl_shardmap_route(s, hash);
	struct put_one *p = malloc(sizeof(*p) + a->data_len);
	if (p == NULL) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return;
	}
	kin_b64_decode(a->b64, a->b64_len, p->data);
	memcpy(p->stream, s->name, s->name_len + 1);
	p->rec = (struct sl_record){.key = (const uint8_t *)a->key, /* lives in c->root */
				    .data = p->data,
				    .hash_key = hash,
				    .data_len = (uint32_t)a->data_len,
				    .key_len = (uint16_t)a->key_len,
				    .flags = a->ehk ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0};
	p->app = (struct sl_append){.arrival_ms = kin_now_ms(),
				    .stream_id = s->id,
				    .shard_id = sh->shard_id,
				    .records = &p->rec,
				    .record_count = 1,
				    .entry_count = 1};
	c->async = p;
	c->async_free = free;
	c->async_done = put_record_done;
	int rc = kin_append(c, sh->shard, &p->app);
	if (rc != 0) {
		c->k->stats.records_failed++;
		c->k->stats.records_throttled += rc == -ENOBUFS;
		reply_append_error(c, s, sh->shard_id, rc);
	}
}

void kin_op_put_record(struct kin_call *c)
{
	struct put_args a = {0};
	sl_u128 hash;
	if (kin_get_str(c, c->root, "SequenceNumberForOrdering", &a.ordering, &a.ordering_len))
		kin_v_pattern(c, "sequenceNumberForOrdering", a.ordering, a.ordering_len,
			      kin_match_digits(a.ordering, a.ordering_len, 128), KIN_PAT_SEQ);
	read_record(c, c->root, "", &a);
	kin_get_stream_ref(c, &a.ref);
	if (kin_reply_gathered(c))
		return;
	const struct sl_shardmap_stream *s = route_stream(c, &a.ref);
	if (s == NULL || !record_fits(c, s, 0, &a) || !ordering_ok(c, &a, s->name))
		return;
	if (!record_hash(c, a.ehk, a.ehk_len, a.key, a.key_len, &hash))
		return;
	put_one_submit(c, s, &a, hash);
}

/* ---- PutRecords ---- */

struct put_many {
	const struct sl_shardmap_stream *s; /* valid only while submitting */
	char stream[SL_STREAM_NAME_MAX + 1];
	uint32_t n, app_count;
	struct put_args *args;  /* per entry, request order */
	sl_u128 *hash;          /* per entry */
	uint32_t *shard_index;  /* per entry: into s->shards */
	uint32_t *order;        /* recs[i] holds entry order[i] */
	struct sl_record *recs; /* grouped by shard, request order within */
	struct sl_append *apps;
	uint32_t *app_first; /* recs index of each append's first record */
	uint8_t *data;       /* decoded data (and, scanned, the keys) */
	/* the fast path (kinesis_scan.c) read the body: args hold the decoded
	 * data; the stream members are spans of the body, valid only until
	 * the request's dispatch returns */
	bool scanned;
	size_t bytes; /* Data and PartitionKey bytes */
	struct kin_stream_ref scan_ref;
};

static void put_many_free(void *p)
{
	struct put_many *m = p;
	if (m == NULL)
		return;
	free(m->args);
	free(m->hash);
	free(m->shard_index);
	free(m->order);
	free(m->recs);
	free(m->apps);
	free(m->app_first);
	free(m->data);
	free(m);
}

static struct put_many *put_many_new(uint32_t n, size_t data_bytes)
{
	struct put_many *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->n = n;
	m->args = calloc(n, sizeof(*m->args));
	m->hash = calloc(n, sizeof(*m->hash));
	m->shard_index = calloc(n, sizeof(*m->shard_index));
	m->order = calloc(n, sizeof(*m->order));
	m->recs = calloc(n, sizeof(*m->recs));
	m->apps = calloc(n, sizeof(*m->apps));
	m->app_first = calloc(n, sizeof(*m->app_first));
	m->data = malloc(data_bytes ? data_bytes : 1);
	if (!m->args || !m->hash || !m->shard_index || !m->order || !m->recs || !m->apps ||
	    !m->app_first || !m->data) {
		put_many_free(m);
		return NULL;
	}
	return m;
}

/* Records and StreamName/ARN; NULL when an error was gathered. */
static json_t *put_many_read(struct kin_call *c, struct kin_stream_ref *ref)
{
	json_t *list = NULL, *e;
	size_t i;
	bool has = kin_get_list(c, c->root, "Records", &list);
	kin_v_notnull(c, "records", has);
	if (has && json_array_size(list) < 1)
		kin_verr(c, "records", "[]", 2, false,
			 "Member must have length greater than or equal to 1");
	if (has && json_array_size(list) > SL_FRAME_RECORDS_MAX)
		kin_verr(c, "records", "[...]", 5, false,
			 "Member must have length less than or equal to 500");
	kin_get_stream_ref(c, ref);
	if (c->verr_count > 0 || c->serr || !has)
		return NULL;
	json_array_foreach(list, i, e)
	{
		if (!kin_elem_obj(c, e))
			return NULL;
	}
	return list;
}

/* The 5 MB rule over the request's partition keys and data. */
static bool put_many_size_ok(struct kin_call *c, size_t bytes)
{
	if (bytes <= SL_KINESIS_PUT_BYTES_MAX)
		return true;
	kin_reply_err(c, KX_INVALID_ARGUMENT,
		      "Records size exceeds 5 MB limit: the request's partition keys and "
		      "data take %zu bytes.",
		      bytes);
	return false;
}

/* Every entry's members into m->args; false when an error was answered. */
static bool put_many_entries(struct kin_call *c, json_t *list, struct put_args *args, size_t *bytes)
{
	json_t *e;
	size_t i;
	char prefix[48];
	*bytes = 0;
	json_array_foreach(list, i, e)
	{
		snprintf(prefix, sizeof(prefix), "records.%zu.member.", i + 1);
		read_record(c, e, prefix, &args[i]);
		*bytes += args[i].data_len + args[i].key_len;
	}
	return !kin_reply_gathered(c) && put_many_size_ok(c, *bytes);
}

/* Sizes, hashes and shards of every entry; false when answered. */
static bool put_many_route(struct kin_call *c, struct put_many *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const struct put_args *a = &m->args[i];
		if (!record_fits(c, m->s, i + 1, a))
			return false;
		if (!record_hash(c, a->ehk, a->ehk_len, a->key, a->key_len, &m->hash[i]))
			return false;
		const struct sl_shardmap_shard *sh = sl_shardmap_route(m->s, m->hash[i]);
		m->shard_index[i] = (uint32_t)(sh - m->s->shards);
	}
	return true;
}

/* Group the entries by shard (a stable counting sort) and decode data. */
static bool put_many_group(struct kin_call *c, struct put_many *m)
{
	uint32_t shards = m->s->shard_count;
	uint32_t *start = calloc((size_t)shards + 1, sizeof(*start));
	if (start == NULL) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return false;
	}
	for (uint32_t i = 0; i < m->n; i++)
		start[m->shard_index[i] + 1]++;
	for (uint32_t s = 0; s < shards; s++)
		start[s + 1] += start[s];
	size_t off = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct put_args *a = &m->args[i];
		uint32_t slot = start[m->shard_index[i]]++;
		const uint8_t *data = a->data;
		if (data == NULL) {
			kin_b64_decode(a->b64, a->b64_len, m->data + off);
			data = m->data + off;
			off += a->data_len;
		}
		m->order[slot] = i;
		m->recs[slot] = (struct sl_record){
		    .key = (const uint8_t *)a->key,
		    .data = data,
		    .hash_key = m->hash[i],
		    .data_len = (uint32_t)a->data_len,
		    .key_len = (uint16_t)a->key_len,
		    .flags = a->ehk ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0,
		};
	}
	free(start);
	return true;
}

/* Cut the grouped records into appends: a shard's run, or pieces of it no
 * larger than one append may be. */
static void put_many_cut(struct put_many *m, uint32_t bytes_max, uint64_t now_ms)
{
	uint32_t i = 0;
	while (i < m->n) {
		uint32_t shard = m->shard_index[m->order[i]], first = i;
		size_t bytes = sl_seg_record_bytes(&m->recs[i++]);
		while (i < m->n && m->shard_index[m->order[i]] == shard &&
		       bytes + sl_seg_record_bytes(&m->recs[i]) <= bytes_max)
			bytes += sl_seg_record_bytes(&m->recs[i++]);
		struct sl_append *app = &m->apps[m->app_count];
		*app = (struct sl_append){.arrival_ms = now_ms,
					  .stream_id = m->s->id,
					  .shard_id = m->s->shards[shard].shard_id,
					  .records = &m->recs[first],
					  .record_count = (uint16_t)(i - first)};
		m->app_first[m->app_count++] = first;
	}
	for (uint32_t a = 0; a < m->app_count; a++) {
		m->apps[a].entry_index = (uint16_t)a;
		m->apps[a].entry_count = (uint16_t)m->app_count;
	}
}

/* An append's text in the answer: its shard id, and the sequence number
 * of its next record in decimal (counted up from the first: an append's
 * records are consecutive, and they come in request order). */
struct app_text {
	char sid[KIN_SHARD_ID_BUF];
	char seq[SL_U128_DEC_BUF];
	size_t sid_len, seq_len;
	uint16_t next; /* the rank the next record must have */
};

/* Add one to a decimal string (len digits; room for one more). */
static void dec_increment(char *s, size_t *len)
{
	size_t i = *len;
	while (i > 0 && s[i - 1] == '9')
		s[--i] = '0';
	if (i > 0) {
		s[i - 1]++;
		return;
	}
	SL_ASSERT(*len < SL_U128_DEC_MAX); /* sequence numbers stay below 2^128 */
	memmove(s + 1, s, *len);
	s[0] = '1';
	(*len)++;
}

static void put_many_result(struct kin_call *c, struct kjw *w, const struct put_many *m,
			    const struct sl_append *app, struct app_text *t, uint32_t rank)
{
	kjw_obj_begin(w);
	if (app->status == SL_APPEND_OK) {
		SL_ASSERT(rank == t->next);
		if (t->next++ > 0)
			dec_increment(t->seq, &t->seq_len);
		kjw_key(w, "SequenceNumber");
		kjw_str_plain(w, t->seq, t->seq_len);
		kjw_key(w, "ShardId");
		kjw_str_plain(w, t->sid, t->sid_len);
	} else if (app->status == SL_APPEND_THROTTLED) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "Rate exceeded for shard %s in stream %s under account %s.", t->sid,
			 m->stream, c->k->account);
		kjw_key(w, "ErrorCode");
		kjw_cstr(w, kin_exc_name(KX_PROVISIONED_THROUGHPUT));
		kjw_key(w, "ErrorMessage");
		kjw_cstr(w, msg);
	} else {
		kjw_key(w, "ErrorCode");
		kjw_cstr(w, kin_exc_name(KX_INTERNAL_FAILURE));
		kjw_key(w, "ErrorMessage");
		kjw_cstr(w, "Internal service failure.");
	}
	kjw_obj_end(w);
}

static void put_many_done(struct kin_call *c)
{
	struct put_many *m = c->async;
	uint32_t *by_entry = calloc(m->n, sizeof(*by_entry)); /* entry -> its append */
	uint32_t *rank = calloc(m->n, sizeof(*rank)), failed = 0;
	struct app_text *text = calloc(m->app_count, sizeof(*text));
	if (by_entry == NULL || rank == NULL || text == NULL) {
		free(by_entry);
		free(rank);
		free(text);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return;
	}
	for (uint32_t a = 0; a < m->app_count; a++) {
		const struct sl_append *app = &m->apps[a];
		for (uint16_t r = 0; r < app->record_count; r++) {
			uint32_t e = m->order[m->app_first[a] + r];
			by_entry[e] = a;
			rank[e] = r;
		}
		kin_shard_id_format(app->shard_id, text[a].sid);
		text[a].sid_len = strlen(text[a].sid);
		if (app->status == SL_APPEND_OK) {
			text[a].seq_len = sl_u128_to_dec(app->first_seq, text[a].seq);
		} else {
			failed += app->record_count;
			c->k->stats.records_throttled +=
			    app->status == SL_APPEND_THROTTLED ? app->record_count : 0;
		}
	}
	c->k->stats.records_put += m->n - failed;
	c->k->stats.records_failed += failed;
	struct kjw w;
	kjw_init(&w, 128 + (size_t)m->n * 200);
	kjw_obj_begin(&w);
	kjw_key(&w, "FailedRecordCount");
	kjw_u64(&w, failed);
	kjw_key(&w, "Records");
	kjw_arr_begin(&w);
	for (uint32_t e = 0; e < m->n; e++)
		put_many_result(c, &w, m, &m->apps[by_entry[e]], &text[by_entry[e]], rank[e]);
	kjw_arr_end(&w);
	kjw_key(&w, "EncryptionType");
	kjw_cstr(&w, "NONE");
	kjw_obj_end(&w);
	free(by_entry);
	free(rank);
	free(text);
	kin_reply_ok(c, &w);
}

/* Hand every append to storage; the ones refused fail their records. */
static void put_many_submit(struct kin_call *c, struct put_many *m)
{
	for (uint32_t a = 0; a < m->app_count; a++) {
		struct sl_append *app = &m->apps[a];
		const struct sl_shardmap_shard *sh = NULL;
		for (uint32_t s = 0; s < m->s->shard_count && sh == NULL; s++)
			sh = m->s->shards[s].shard_id == app->shard_id ? &m->s->shards[s] : NULL;
		SL_ASSERT(sh != NULL);
		int rc = kin_append(c, sh->shard, app);
		if (rc == -ENOBUFS)
			app->status = SL_APPEND_THROTTLED;
		else if (rc != 0)
			app->status = SL_APPEND_INTERNAL;
	}
	m->s = NULL; /* the shard map may change once we return to the loop */
	if (c->pending == 0)
		put_many_done(c);
}

bool kin_put_records_scan(struct kin_call *c, const uint8_t *body, size_t len)
{
	struct kin_scan_record *recs = c->k->scan_recs;
	struct kin_scan_put sp;
	SL_ASSERT(c->async == NULL);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return false; /* jansson's path answers it, or fails the same way */
	if (!kin_scan_put_records((const char *)body, len, recs, buf, &sp)) {
		free(buf);
		return false;
	}
	SL_ASSERT(sp.count >= 1 && sp.count <= SL_FRAME_RECORDS_MAX);
	struct put_many *m = put_many_new(sp.count, 0);
	if (m == NULL) {
		free(buf);
		return false;
	}
	free(m->data);
	m->data = buf;
	m->scanned = true;
	m->bytes = sp.bytes;
	m->scan_ref = (struct kin_stream_ref){.name = sp.stream_name,
					      .name_len = sp.stream_name_len,
					      .arn = sp.stream_arn,
					      .arn_len = sp.stream_arn_len};
	for (uint32_t i = 0; i < sp.count; i++) {
		const struct kin_scan_record *r = &recs[i];
		m->args[i] = (struct put_args){
		    .key = (const char *)buf + r->key_off,
		    .key_len = r->key_len,
		    .ehk = r->has_ehk ? (const char *)buf + r->ehk_off : NULL,
		    .ehk_len = r->ehk_len,
		    .data = buf + r->data_off,
		    .data_len = r->data_len,
		};
	}
	c->async = m;
	c->async_free = put_many_free;
	c->k->stats.puts_scanned++;
	return true;
}

/* The jansson path: the entries into a new put_many (c->async); false
 * when the request was answered. */
static bool put_many_from_json(struct kin_call *c, struct kin_stream_ref *ref)
{
	size_t bytes;
	json_t *list = put_many_read(c, ref);
	if (kin_reply_gathered(c))
		return false;
	SL_ASSERT(list != NULL);
	uint32_t n = (uint32_t)json_array_size(list);
	struct put_many *m = put_many_new(n, 0);
	if (m == NULL) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return false;
	}
	c->async = m;
	c->async_free = put_many_free;
	if (!put_many_entries(c, list, m->args, &bytes))
		return false;
	free(m->data);
	m->data = malloc(bytes ? bytes : 1);
	if (m->data == NULL) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return false;
	}
	return true;
}

void kin_op_put_records(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct put_many *m = c->async;
	if (m != NULL) {
		/* scanned: its records are valid; the stream members are checked
		 * here, as put_many_read does after the records list */
		SL_ASSERT(m->scanned);
		ref = m->scan_ref;
		m->scan_ref = (struct kin_stream_ref){0}; /* spans of the body */
		kin_stream_ref_check(c, &ref);
		if (kin_reply_gathered(c) || !put_many_size_ok(c, m->bytes))
			return;
	} else if (!put_many_from_json(c, &ref)) {
		return;
	}
	m = c->async;
	c->async_done = put_many_done;
	const struct sl_shardmap_stream *s = route_stream(c, &ref);
	if (s == NULL)
		return; /* answered: c and m are gone */
	m->s = s;
	memcpy(m->stream, m->s->name, m->s->name_len + 1);
	if (!put_many_route(c, m) || !put_many_group(c, m))
		return;
	put_many_cut(m, sl_store_append_bytes_max(c->k->store), kin_now_ms());
	put_many_submit(c, m);
}

/* ---- GetShardIterator ---- */

static const char *const iterator_types[] = {
    [SL_READ_AT_SEQ] = "AT_SEQUENCE_NUMBER",
    [SL_READ_AFTER_SEQ] = "AFTER_SEQUENCE_NUMBER",
    [SL_READ_AT_TIME] = "AT_TIMESTAMP",
    [SL_READ_TRIM_HORIZON] = "TRIM_HORIZON",
    [SL_READ_LATEST] = "LATEST",
};

struct iter_args {
	struct kin_stream_ref ref;
	const char *shard, *type, *seq;
	size_t shard_len, type_len, seq_len;
	int64_t ts_ms;
	bool has_ts;
	int from; /* enum sl_read_from, -1 unknown */
};

static bool iter_read(struct kin_call *c, struct iter_args *a)
{
	memset(a, 0, sizeof(*a));
	a->from = -1;
	bool has_shard = kin_get_str(c, c->root, "ShardId", &a->shard, &a->shard_len);
	kin_v_notnull(c, "shardId", has_shard);
	if (has_shard)
		kin_v_shard_id(c, "shardId", a->shard, a->shard_len);
	bool has_type = kin_get_str(c, c->root, "ShardIteratorType", &a->type, &a->type_len);
	kin_v_notnull(c, "shardIteratorType", has_type);
	for (int i = 0; has_type && i < (int)SL_ARRAY_SIZE(iterator_types); i++) {
		if (strlen(iterator_types[i]) == a->type_len &&
		    memcmp(iterator_types[i], a->type, a->type_len) == 0)
			a->from = i;
	}
	if (has_type && a->from < 0)
		kin_verr(c, "shardIteratorType", a->type, a->type_len, false,
			 "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, "
			 "AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]");
	if (kin_get_str(c, c->root, "StartingSequenceNumber", &a->seq, &a->seq_len))
		kin_v_pattern(c, "startingSequenceNumber", a->seq, a->seq_len,
			      kin_match_digits(a->seq, a->seq_len, 128), KIN_PAT_SEQ);
	a->has_ts = kin_get_ts(c, c->root, "Timestamp", &a->ts_ms);
	kin_get_stream_ref(c, &a->ref);
	return !kin_reply_gathered(c);
}

/* The type's companions: a sequence number for AT/AFTER, a time for
 * AT_TIMESTAMP, nothing for the others. */
static bool iter_rules(struct kin_call *c, const struct iter_args *a)
{
	bool by_seq = a->from == SL_READ_AT_SEQ || a->from == SL_READ_AFTER_SEQ;
	const char *type = iterator_types[a->from];
	if (by_seq != (a->seq != NULL) && a->from != SL_READ_AT_TIME) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER "
			      "and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
			      "StartingSequenceNumber. Request specified %s and %s "
			      "StartingSequenceNumber.",
			      type, a->seq != NULL ? "also a" : "no");
		return false;
	}
	if ((a->from == SL_READ_AT_TIME) != a->has_ts) {
		if (a->has_ts)
			kin_reply_err(c, KX_INVALID_ARGUMENT,
				      "Must specify timestampInMillis parameter only for iterator "
				      "type AT_TIMESTAMP. Current request has %s as iterator type.",
				      type);
		else
			kin_reply_err(
			    c, KX_INVALID_ARGUMENT,
			    "Must specify timestampInMillis parameter for iterator of type "
			    "AT_TIMESTAMP. Current request has no timestamp parameter.");
		return false;
	}
	if (a->has_ts && a->ts_ms > (int64_t)kin_now_ms()) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "The timestampInMillis parameter cannot be greater than the "
			      "currentTimestampInMillis. timestampInMillis: %lld, "
			      "currentTimestampInMillis: %llu",
			      (long long)a->ts_ms, (unsigned long long)kin_now_ms());
		return false;
	}
	return true;
}

/* StartingSequenceNumber: one of this shard's. */
static bool iter_seq(struct kin_call *c, const struct iter_args *a, const char *stream,
		     uint32_t shard_id, sl_u128 visible, sl_u128 *seq)
{
	char sid[KIN_SHARD_ID_BUF], other[KIN_SHARD_ID_BUF];
	kin_shard_id_format(shard_id, sid);
	if (sl_u128_from_dec(a->seq, a->seq_len, seq) != 0) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "StartingSequenceNumber %.*s used in GetShardIterator on shard %s in "
			      "stream %s under account %s is invalid.",
			      (int)a->seq_len, a->seq, sid, stream, c->k->account);
		return false;
	}
	uint64_t hi = sl_u128_hi(*seq);
	if (hi == sl_u128_hi(visible))
		return true;
	if (hi >= 1 && hi - 1 <= UINT32_MAX) {
		kin_shard_id_format((uint32_t)(hi - 1), other);
		kin_reply_err(
		    c, KX_INVALID_ARGUMENT,
		    "Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
		    "call to a shard with %s",
		    other, sid);
	} else {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "StartingSequenceNumber %.*s used in GetShardIterator on shard %s in "
			      "stream %s under account %s is invalid because it did not come from "
			      "this stream.",
			      (int)a->seq_len, a->seq, sid, stream, c->k->account);
	}
	return false;
}

static void reply_no_shard(struct kin_call *c, uint32_t shard_id, const char *stream)
{
	char sid[KIN_SHARD_ID_BUF];
	kin_shard_id_format(shard_id, sid);
	kin_reply_err(c, KX_RESOURCE_NOT_FOUND,
		      "Shard %s in stream %s under account %s does not exist", sid, stream,
		      c->k->account);
}

static void write_iterator(struct kin_call *c, struct kjw *w, const char *key,
			   const struct kin_token *t)
{
	char tok[KIN_TOKEN_B64_MAX + 1];
	size_t n = kin_token_encode(c->k, t, tok);
	kjw_key(w, key);
	kjw_str(w, tok, n);
}

void kin_op_get_shard_iterator(struct kin_call *c)
{
	struct iter_args a;
	struct sl_meta_stream s;
	struct sl_shard_status st;
	uint32_t shard_id;
	if (!iter_read(c, &a) || !kin_stream_resolve(c, &a.ref, &s) || !iter_rules(c, &a))
		return;
	if (!kin_shard_id_parse(a.shard, a.shard_len, &shard_id)) {
		kin_reply_err(c, KX_RESOURCE_NOT_FOUND,
			      "Could not find shard %.*s in stream %s under account %s.",
			      (int)a.shard_len, a.shard, s.name, c->k->account);
		return;
	}
	struct sl_shard *sh = sl_store_shard(c->k->store, s.id, shard_id);
	if (sh == NULL) {
		reply_no_shard(c, shard_id, s.name);
		return;
	}
	sl_store_shard_status(sh, &st);
	struct kin_token t = {.kind = KIN_TOK_ITERATOR,
			      .from = (uint8_t)a.from,
			      .stream_id = s.id,
			      .shard_id = shard_id,
			      .created_ms = kin_now_ms(),
			      .time_ms = a.has_ts && a.ts_ms > 0 ? (uint64_t)a.ts_ms : 0};
	if (a.seq != NULL && !iter_seq(c, &a, s.name, shard_id, st.visible_seq, &t.seq))
		return;
	if (a.from == SL_READ_LATEST) {
		t.from = SL_READ_AT_SEQ; /* from the records after those visible now */
		t.seq = st.visible_seq;
	}
	struct kjw w;
	kjw_init(&w, 256);
	kjw_obj_begin(&w);
	write_iterator(c, &w, "ShardIterator", &t);
	kjw_obj_end(&w);
	kin_reply_ok(c, &w);
}

/* ---- GetRecords ---- */

/* "Thu Jan 22 01:22:02 UTC 2015", as Kinesis writes times in messages. */
static void amz_time(uint64_t ms, char out[40])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 40, "%a %b %d %H:%M:%S UTC %Y", &tm);
}

/* The iterator of the request; answers and returns false if unusable. */
static bool records_iterator(struct kin_call *c, struct kin_token *t, int64_t *limit)
{
	const char *it = NULL, *arn;
	size_t it_len = 0, arn_len;
	bool has = kin_get_str(c, c->root, "ShardIterator", &it, &it_len);
	kin_v_notnull(c, "shardIterator", has);
	if (has)
		kin_v_strlen(c, "shardIterator", it, it_len, 1, 512);
	if (kin_get_int(c, c->root, "Limit", limit))
		kin_v_range(c, "limit", *limit, 1, SL_KINESIS_GET_RECORDS_MAX);
	bool has_arn = kin_get_str(c, c->root, "StreamARN", &arn, &arn_len);
	if (has_arn)
		kin_v_stream_arn(c, "streamARN", arn, arn_len, false);
	if (kin_reply_gathered(c))
		return false;
	if (!kin_token_decode(c->k, it, it_len, t) || t->kind != KIN_TOK_ITERATOR ||
	    t->from > SL_READ_LATEST) {
		kin_reply_err(c, KX_INVALID_ARGUMENT, "Invalid ShardIterator.");
		return false;
	}
	uint64_t now = kin_now_ms();
	if (now > t->created_ms && now - t->created_ms > SL_KINESIS_ITERATOR_TTL_MS) {
		char then_s[40], now_s[40];
		amz_time(t->created_ms, then_s);
		amz_time(now, now_s);
		kin_reply_err(
		    c, KX_EXPIRED_ITERATOR,
		    "Iterator expired. The iterator was created at time %s while right "
		    "now it is %s which is further in the future than the tolerated delay "
		    "of %u milliseconds.",
		    then_s, now_s, SL_KINESIS_ITERATOR_TTL_MS);
		return false;
	}
	if (has_arn) {
		struct kin_stream_ref ref = {.arn = arn, .arn_len = arn_len};
		struct sl_meta_stream s;
		if (!kin_stream_resolve(c, &ref, &s))
			return false;
		if (s.id != t->stream_id) {
			kin_reply_err(c, KX_INVALID_ARGUMENT,
				      "StreamARN %.*s is not the stream of the ShardIterator.",
				      (int)arn_len, arn);
			return false;
		}
	}
	return true;
}

struct closed_info {
	uint32_t shard_id;
	bool found, closed;
	sl_u128 end_seq;
	uint32_t child_count;
	struct sl_meta_shard children[2];
};

static int find_closed(const struct sl_meta_shard *sh, void *arg)
{
	struct closed_info *ci = arg;
	if (sh->shard_id == ci->shard_id) {
		ci->found = true;
		ci->closed = sh->closed;
		ci->end_seq = sh->end_seq;
	}
	if ((sh->parent_id == ci->shard_id || sh->adjacent_parent_id == ci->shard_id) &&
	    ci->child_count < SL_ARRAY_SIZE(ci->children))
		ci->children[ci->child_count++] = *sh;
	return 0;
}

/* Whether the shard is closed (only then is the metadata read). */
static void shard_closed(struct kin_call *c, uint32_t stream_id, uint32_t shard_id,
			 struct closed_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	ci->shard_id = shard_id;
	const struct sl_shardmap *map = sl_store_shardmap(c->k->store);
	const struct sl_shardmap_stream *s = sl_shardmap_stream_by_id(map, stream_id);
	for (uint32_t i = 0; s != NULL && i < s->shard_count; i++) {
		if (s->shards[i].shard_id == shard_id)
			return; /* open */
	}
	sl_meta_shard_list(sl_store_meta(c->k->store), stream_id, find_closed, ci);
}

static void write_children(struct kjw *w, const struct closed_info *ci)
{
	char sid[KIN_SHARD_ID_BUF];
	kjw_key(w, "ChildShards");
	kjw_arr_begin(w);
	for (uint32_t i = 0; i < ci->child_count; i++) {
		const struct sl_meta_shard *ch = &ci->children[i];
		kin_shard_id_format(ch->shard_id, sid);
		kjw_obj_begin(w);
		kjw_key(w, "ShardId");
		kjw_cstr(w, sid);
		kjw_key(w, "ParentShards");
		kjw_arr_begin(w);
		int64_t parents[2] = {ch->parent_id, ch->adjacent_parent_id};
		for (int p = 0; p < 2; p++) {
			if (parents[p] >= 0) {
				kin_shard_id_format((uint32_t)parents[p], sid);
				kjw_cstr(w, sid);
			}
		}
		kjw_arr_end(w);
		kjw_key(w, "HashKeyRange");
		kjw_obj_begin(w);
		kjw_key(w, "StartingHashKey");
		kjw_u128(w, ch->start_hash);
		kjw_key(w, "EndingHashKey");
		kjw_u128(w, ch->end_hash);
		kjw_obj_end(w);
		kjw_obj_end(w);
	}
	kjw_arr_end(w);
}

static size_t records_bound(const struct sl_read_record *r, int n)
{
	size_t b = 1024;
	for (int i = 0; i < n; i++)
		b += 160 + kjw_str_bound(r[i].key_len) + kin_b64_len(r[i].data_len);
	return b;
}

static void write_records(struct kjw *w, const struct sl_read_record *r, int n, const uint8_t *buf)
{
	kjw_key(w, "Records");
	kjw_arr_begin(w);
	for (int i = 0; i < n; i++) {
		kjw_obj_begin(w);
		kjw_key(w, "SequenceNumber");
		kjw_u128(w, r[i].seq);
		kjw_key(w, "ApproximateArrivalTimestamp");
		kjw_ts_ms(w, r[i].arrival_ms);
		kjw_key(w, "Data");
		kjw_b64(w, buf + r[i].data_off, r[i].data_len);
		kjw_key(w, "PartitionKey");
		kjw_str(w, (const char *)buf + r[i].key_off, r[i].key_len);
		kjw_obj_end(w);
	}
	kjw_arr_end(w);
}

static void records_reply(struct kin_call *c, const struct kin_token *t, struct sl_shard *sh, int n,
			  sl_u128 next)
{
	struct sl_shard_status st;
	struct closed_info ci;
	struct kjw w;
	sl_store_shard_status(sh, &st);
	shard_closed(c, t->stream_id, t->shard_id, &ci);
	bool at_end = ci.closed && next > ci.end_seq;
	uint64_t now = kin_now_ms(), behind = 0;
	if (n > 0 && next < st.visible_seq && now > c->k->rrecs[n - 1].arrival_ms)
		behind = now - c->k->rrecs[n - 1].arrival_ms;
	kjw_init(&w, records_bound(c->k->rrecs, n));
	kjw_obj_begin(&w);
	write_records(&w, c->k->rrecs, n, c->k->rbuf);
	if (!at_end) {
		struct kin_token nt = *t;
		nt.from = SL_READ_AT_SEQ;
		nt.seq = next;
		nt.time_ms = 0;
		nt.created_ms = now;
		write_iterator(c, &w, "NextShardIterator", &nt);
	} else {
		write_children(&w, &ci);
	}
	kjw_key(&w, "MillisBehindLatest");
	kjw_u64(&w, behind);
	kjw_obj_end(&w);
	c->k->stats.records_read += (uint64_t)n;
	kin_reply_ok(c, &w);
}

void kin_op_get_records(struct kin_call *c)
{
	struct kin_token t;
	int64_t limit = SL_KINESIS_GET_RECORDS_MAX;
	sl_u128 next;
	if (!records_iterator(c, &t, &limit))
		return;
	struct sl_shard *sh = sl_store_shard(c->k->store, t.stream_id, t.shard_id);
	if (sh == NULL) {
		const struct sl_shardmap_stream *s =
		    sl_shardmap_stream_by_id(sl_store_shardmap(c->k->store), t.stream_id);
		reply_no_shard(c, t.shard_id, s != NULL ? s->name : "(deleted)");
		return;
	}
	int n =
	    sl_store_read(c->k->store, sh, (enum sl_read_from)t.from, t.seq, t.time_ms, c->k->rrecs,
			  (uint32_t)limit, c->k->rbuf, SL_KINESIS_GET_BYTES_MAX, &next);
	if (n == -ERANGE) {
		kin_reply_err(c, KX_INVALID_ARGUMENT, "Invalid ShardIterator.");
		return;
	}
	if (n == -ENOENT) {
		reply_no_shard(c, t.shard_id, "(deleted)");
		return;
	}
	if (n < 0) {
		SL_LOG_RL(SL_LOG_ERROR, "kinesis", "GetRecords stream %u shard %u: %s", t.stream_id,
			  t.shard_id, strerror(-n));
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the shard failed.");
		return;
	}
	records_reply(c, &t, sh, n, next);
}
