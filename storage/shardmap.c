/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shard map (shardmap.h): built from the metadata on the control
 * thread, published with a release store, freed after a QSBR grace period.
 * One allocation per snapshot: the header, the streams (by id), their open
 * shards (by start hash), and the name table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED /* MD5_*: no allocation, unlike EVP */
#include <openssl/md5.h>

#include <sluice/assert.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/shardmap.h>

#include "store_internal.h"

#define SUBSYS "storage"
/* How long an update waits for reader threads to pass a quiescent state. */
#define GRACE_TIMEOUT_MS 5000

sl_u128 sl_hash_partition_key(const uint8_t *key, size_t len)
{
	uint8_t d[MD5_DIGEST_LENGTH];
	MD5_CTX c;
	MD5_Init(&c);
	MD5_Update(&c, key, len);
	MD5_Final(d, &c);
	return sl_u128_load_be(d);
}

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

const struct sl_shardmap_stream *sl_shardmap_stream(const struct sl_shardmap *m, const char *name,
						    size_t len)
{
	if (m->stream_count == 0 || len == 0 || len > SL_STREAM_NAME_MAX)
		return NULL;
	for (uint32_t i = name_hash(name, len) & m->bucket_mask;; i = (i + 1) & m->bucket_mask) {
		uint32_t k = m->buckets[i];
		if (k == UINT32_MAX)
			return NULL;
		const struct sl_shardmap_stream *s = &m->streams[k];
		if (s->name_len == len && memcmp(s->name, name, len) == 0)
			return s;
	}
}

const struct sl_shardmap_stream *sl_shardmap_stream_by_id(const struct sl_shardmap *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->stream_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->streams[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->stream_count && m->streams[lo].id == id ? &m->streams[lo] : NULL;
}

const struct sl_shardmap_shard *sl_shardmap_route(const struct sl_shardmap_stream *s, sl_u128 hash)
{
	SL_ASSERT_HOT(s->shard_count > 0);
	/* The last shard whose start is <= hash. */
	uint32_t lo = 0, hi = s->shard_count;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->shards[mid].start_hash <= hash)
			lo = mid;
		else
			hi = mid;
	}
	return &s->shards[lo];
}

const struct sl_shardmap *sl_store_shardmap(struct sl_store *st)
{
	return __atomic_load_n(&st->map, __ATOMIC_ACQUIRE);
}

struct sl_qsbr *sl_store_qsbr(struct sl_store *st)
{
	return st->qsbr;
}

/* ---- building (control thread) ---- */

struct build {
	struct sl_store *st;
	struct sl_meta_stream *streams;
	uint32_t stream_count, stream_cap;
	struct sl_shardmap_shard *shards;
	uint32_t *first_shard; /* per stream: index into shards */
	uint32_t shard_count, shard_cap;
	int rc;
};

static int collect_stream(const struct sl_meta_stream *s, void *arg)
{
	struct build *b = arg;
	if (s->status != SL_STREAM_ACTIVE && s->status != SL_STREAM_UPDATING)
		return 0;
	if (b->stream_count == b->stream_cap) {
		uint32_t cap = b->stream_cap ? b->stream_cap * 2 : 16;
		void *p = realloc(b->streams, cap * sizeof(*b->streams));
		void *q = realloc(b->first_shard, (cap + 1) * sizeof(*b->first_shard));
		if (p != NULL)
			b->streams = p;
		if (q != NULL)
			b->first_shard = q;
		if (p == NULL || q == NULL)
			return b->rc = -ENOMEM;
		b->stream_cap = cap;
	}
	b->streams[b->stream_count++] = *s;
	return 0;
}

static int collect_shard(const struct sl_meta_shard *m, void *arg)
{
	struct build *b = arg;
	if (m->closed)
		return 0;
	struct sl_shard *sh = sl_store_shard(b->st, m->stream_id, m->shard_id);
	if (sh == NULL)
		return 0; /* not open in this process (failed to open): no appends */
	if (b->shard_count == b->shard_cap) {
		uint32_t cap = b->shard_cap ? b->shard_cap * 2 : 64;
		void *p = realloc(b->shards, cap * sizeof(*b->shards));
		if (p == NULL)
			return b->rc = -ENOMEM;
		b->shards = p;
		b->shard_cap = cap;
	}
	b->shards[b->shard_count++] = (struct sl_shardmap_shard){
	    .start_hash = m->start_hash,
	    .end_hash = m->end_hash,
	    .shard_id = m->shard_id,
	    .shard = sh,
	};
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct sl_meta_stream *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_start(const void *a, const void *b)
{
	const struct sl_shardmap_shard *x = a, *y = b;
	return x->start_hash < y->start_hash ? -1 : x->start_hash > y->start_hash;
}

static int build_map(struct sl_store *st, uint64_t version, struct sl_shardmap **out)
{
	struct build b = {.st = st};
	int rc = sl_meta_stream_list(st->meta, NULL, UINT32_MAX, collect_stream, &b);
	rc = rc ?: b.rc;
	if (rc == 0 && b.stream_count > 0)
		qsort(b.streams, b.stream_count, sizeof(*b.streams), by_id);
	for (uint32_t i = 0; i < b.stream_count && rc == 0; i++) {
		b.first_shard[i] = b.shard_count;
		rc = sl_meta_shard_list(st->meta, b.streams[i].id, collect_shard, &b);
		rc = rc ?: b.rc;
		if (b.shard_count > b.first_shard[i])
			qsort(b.shards + b.first_shard[i], b.shard_count - b.first_shard[i],
			      sizeof(*b.shards), by_start);
	}
	if (b.first_shard != NULL)
		b.first_shard[b.stream_count] = b.shard_count;

	uint32_t buckets = 8;
	while (buckets < b.stream_count * 2)
		buckets *= 2;
	/* One block: header, shards (16-byte aligned: u128), streams, buckets. */
	size_t off_sh = (sizeof(struct sl_shardmap) + 15) & ~(size_t)15;
	size_t off_ss = off_sh + b.shard_count * sizeof(struct sl_shardmap_shard);
	off_ss = (off_ss + 15) & ~(size_t)15;
	size_t off_bk = off_ss + b.stream_count * sizeof(struct sl_shardmap_stream);
	off_bk = (off_bk + 15) & ~(size_t)15;
	size_t sz = off_bk + buckets * sizeof(uint32_t);
	void *mem = rc == 0 ? aligned_alloc(16, (sz + 15) & ~(size_t)15) : NULL;
	if (rc == 0 && mem == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		free(b.streams);
		free(b.shards);
		free(b.first_shard);
		return rc;
	}
	memset(mem, 0, sz);
	struct sl_shardmap *m = mem;
	struct sl_shardmap_shard *sh = (void *)((char *)mem + off_sh);
	struct sl_shardmap_stream *ss = (void *)((char *)mem + off_ss);
	uint32_t *bk = (void *)((char *)mem + off_bk);
	if (b.shard_count > 0)
		memcpy(sh, b.shards, b.shard_count * sizeof(*sh));
	memset(bk, 0xff, buckets * sizeof(uint32_t));
	m->version = version;
	m->stream_count = 0;
	m->streams = ss;
	m->bucket_mask = buckets - 1;
	m->buckets = bk;
	for (uint32_t i = 0; i < b.stream_count; i++) {
		const struct sl_meta_stream *s = &b.streams[i];
		uint32_t n = b.first_shard[i + 1] - b.first_shard[i];
		if (n == 0)
			continue; /* no open shard here: nothing can take appends */
		struct sl_shardmap_stream *d = &ss[m->stream_count];
		d->id = s->id;
		d->name_len = (uint32_t)strlen(s->name);
		memcpy(d->name, s->name, d->name_len + 1);
		d->status = s->status;
		d->durability = s->durability;
		d->max_record_bytes = s->max_record_bytes;
		d->shard_count = n;
		d->shards = sh + b.first_shard[i];
		uint32_t k = name_hash(d->name, d->name_len) & m->bucket_mask;
		while (bk[k] != UINT32_MAX)
			k = (k + 1) & m->bucket_mask;
		bk[k] = m->stream_count++;
	}
	free(b.streams);
	free(b.shards);
	free(b.first_shard);
	*out = m;
	return 0;
}

int sl_shardmap_publish(struct sl_store *st)
{
	struct sl_shardmap *old = st->map, *m;
	int rc = build_map(st, old ? old->version + 1 : 1, &m);
	if (rc != 0) {
		SL_ERR(SUBSYS, "building the shard map: %s", sl_strerror(rc));
		return rc;
	}
	__atomic_store_n(&st->map, m, __ATOMIC_RELEASE);
	return old != NULL ? sl_shardmap_retire(st, old) : 0;
}

int sl_shardmap_retire(struct sl_store *st, struct sl_shardmap *old)
{
	if (sl_qsbr_synchronize(st->qsbr, GRACE_TIMEOUT_MS) != 0) {
		/* A reader thread is stuck holding it maybe: never free what a
		 * reader could still use; the leak is logged. */
		SL_ERR(SUBSYS,
		       "shard map v%llu: readers did not pass a quiescent state in %u ms; "
		       "kept in memory",
		       (unsigned long long)old->version, GRACE_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	free(old);
	return 0;
}
