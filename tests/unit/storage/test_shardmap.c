/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks storage/shardmap.c through the store. A fresh store publishes an
 * empty map. Streams of 1, 2, 3, 4, 7 and 64 shards (and 40 more of one
 * shard, so that the name table probes past collisions): after each change
 * the version grows and the map holds exactly the live streams, found by
 * name (not by an unknown name, a prefix, an extension, a name cut short by
 * len, an empty or over-long one) and by id, with their attributes; each
 * stream's shards are sorted, contiguous, cover 0..2^128-1 with the Kinesis
 * split (shard i starts at i * floor(2^128 / n)) and point at the store's
 * shard objects; sl_shardmap_route gives the shard holding the hash at 0,
 * 2^128-1, every shard's first and last hash, the hashes either side of each
 * boundary and pseudo-random hashes (checked against a linear scan). A
 * deleted stream leaves the map (by name and id), a new stream of the same
 * name gets a new id, a refused create (-EEXIST) or delete (-ENOENT)
 * publishes nothing, and the map is the same after close + reopen.
 * sl_hash_partition_key matches MD5 digests computed by Python's hashlib
 * (1-byte keys, around the 64-byte MD5 block, 256 bytes, UTF-8), and those
 * keys land on the shard Python predicts in a 4-shard stream.
 * sl_store_append_shard: an append routed through the map is stored in that
 * shard and read back (and no other shard gets it); a reader thread
 * registered with the store's QSBR domain that holds a shard from the map
 * while the stream is deleted gets -ENOENT from it, and the delete does not
 * return before that thread's quiescent state; after it, appends to the
 * stream by id fail with -ENOENT.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/shardmap.h>
#include <sluice/store.h>

#include "check.h"
#include "store_util.h"

/* ---- partition-key hashing ---- */

enum key_kind {
	KEY_LITERAL,   /* the bytes of lit[0..len) */
	KEY_DIGITS,    /* "0123456789" repeated, cut at len */
	KEY_ALL_BYTES, /* 0x00, 0x01, ... 0xff (len 256) */
};

struct key_vector {
	const char *what;
	enum key_kind kind;
	const char *lit;
	size_t len;
	const char *md5_hex;
	uint32_t shard_of_4; /* index of the range that holds it, 4 shards */
};

/*
 * The digests and shard indexes were produced independently of this code:
 *
 *   python3 -c 'import hashlib
 *   digits = lambda n: bytes(ord("0") + i % 10 for i in range(n))
 *   for k in [b"a", b"\x00", b"partitionKey-1", b"user-42", digits(55), digits(56),
 *             digits(63), digits(64), digits(65), bytes(range(256)),
 *             "ключ".encode(), "日本語キー".encode(), "🔑-key".encode()]:
 *       d = hashlib.md5(k).digest()
 *       print(len(k), d.hex(), min(int.from_bytes(d, "big") // (2**128 // 4), 3))'
 */
static const struct key_vector keys[] = {
    {"a", KEY_LITERAL, "a", 1, "0cc175b9c0f1b6a831c399e269772661", 0},
    {"one NUL byte", KEY_LITERAL, "\x00", 1, "93b885adfe0da089cdf634904fd59f71", 2},
    {"partitionKey-1", KEY_LITERAL, "partitionKey-1", 14, "77fe6d8289696ba8510480fbe3887256", 1},
    {"user-42", KEY_LITERAL, "user-42", 7, "7631bc07a1cc8fcd56e70fc6b2fb4a43", 1},
    {"digits(55)", KEY_DIGITS, NULL, 55, "6e7a4fc92eb1c3f6e652425bcc8d44b5", 1},
    {"digits(56)", KEY_DIGITS, NULL, 56, "8af270b2847610e742b0791b53648c09", 2},
    {"digits(63)", KEY_DIGITS, NULL, 63, "c5e256437e758092dbfe06283e489019", 3},
    {"digits(64)", KEY_DIGITS, NULL, 64, "7f7bfd348709deeaace19e3f535f8c54", 1},
    {"digits(65)", KEY_DIGITS, NULL, 65, "beb9f48bc802ca5ca043bcc15e219a5a", 2},
    {"bytes 0..255", KEY_ALL_BYTES, NULL, 256, "e2c865db4162bed963bfaa9ef6ac18f0", 3},
    /* "ключ" (Cyrillic, 2-byte UTF-8) */
    {"ключ", KEY_LITERAL, "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", 8, "c3657b66c60a307292aae11f07b04ae7",
     3},
    /* "日本語キー" (3-byte UTF-8) */
    {"日本語キー", KEY_LITERAL, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x82\xad\xe3\x83\xbc", 15,
     "6d9b0f6d380f08a587eaad1a4bd8218b", 1},
    /* "🔑-key" (a 4-byte UTF-8 character, then ASCII) */
    {"key emoji", KEY_LITERAL, "\xf0\x9f\x94\x91\x2d\x6b\x65\x79", 8,
     "3a72b913d861287784e67350d95a60e7", 0},
};
#define KEYS (sizeof(keys) / sizeof(keys[0]))

/* The key's bytes into buf (SL_PARTITION_KEY_MAX); returns its length. */
static size_t key_bytes(const struct key_vector *k, uint8_t *buf)
{
	SL_ASSERT(k->len >= 1 && k->len <= SL_PARTITION_KEY_MAX);
	for (size_t i = 0; i < k->len; i++) {
		if (k->kind == KEY_LITERAL)
			buf[i] = (uint8_t)k->lit[i];
		else if (k->kind == KEY_DIGITS)
			buf[i] = (uint8_t)('0' + i % 10);
		else
			buf[i] = (uint8_t)i;
	}
	return k->len;
}

/* 32 hex digits as a number, without the code under test. */
static sl_u128 from_hex(const char *hex)
{
	sl_u128 v = 0;
	SL_ASSERT(strlen(hex) == 32);
	for (int i = 0; i < 32; i++) {
		char c = hex[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
		SL_ASSERT(d < 16);
		v = (v << 4) | d;
	}
	return v;
}

static void test_hash(void)
{
	/* The key sits at an odd offset of a buffer with bytes after it:
	 * only key[0..len) may count. */
	static uint8_t buf[1 + SL_PARTITION_KEY_MAX + 16];
	for (size_t i = 0; i < KEYS; i++) {
		memset(buf, 0x5a, sizeof(buf));
		size_t len = key_bytes(&keys[i], buf + 1);
		sl_u128 want = from_hex(keys[i].md5_hex);
		sl_u128 got = sl_hash_partition_key(buf + 1, len);
		if (got != want)
			fprintf(stderr, "hash of key %s differs\n", keys[i].what);
		CHECK(got == want);
		/* Pure: the same bytes elsewhere hash the same. */
		uint8_t copy[SL_PARTITION_KEY_MAX];
		memcpy(copy, buf + 1, len);
		CHECK(sl_hash_partition_key(copy, len) == want);
	}
	/* One byte more or less is another hash. */
	uint8_t d[65];
	struct key_vector k64 = keys[7];
	CHECK(k64.len == 64);
	key_bytes(&k64, d);
	CHECK(sl_hash_partition_key(d, 63) == from_hex(keys[6].md5_hex));
	CHECK(sl_hash_partition_key(d, 64) != sl_hash_partition_key(d, 63));
}

/* ---- the map ---- */

/* floor(2^128 / n), computed here from 2^128 - 1 (n >= 2). */
static sl_u128 range_size(uint32_t n)
{
	sl_u128 q = SL_U128_MAX / n, r = SL_U128_MAX % n;
	return r == n - 1 ? q + 1 : q;
}

static struct sl_meta_stream make_stream(const char *name, enum sl_durability d)
{
	struct sl_meta_stream s = {0};
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.durability = d;
	s.retention_hours = 24;
	s.max_record_bytes = 1u << 20;
	return s;
}

/* The shard the ranges say holds h: a linear scan. */
static const struct sl_shardmap_shard *scan(const struct sl_shardmap_stream *s, sl_u128 h)
{
	for (uint32_t i = 0; i < s->shard_count; i++)
		if (s->shards[i].start_hash <= h && h <= s->shards[i].end_hash)
			return &s->shards[i];
	return NULL;
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

static void check_routes(const struct sl_shardmap_stream *s)
{
	uint32_t n = s->shard_count;
	const struct sl_shardmap_shard *sh = s->shards;
	CHECK(sl_shardmap_route(s, 0) == &sh[0]);
	CHECK(sl_shardmap_route(s, SL_U128_MAX) == &sh[n - 1]);
	unsigned wrong = 0;
	for (uint32_t i = 0; i < n; i++) {
		sl_u128 a = sh[i].start_hash, b = sh[i].end_hash;
		wrong += sl_shardmap_route(s, a) != &sh[i];
		wrong += sl_shardmap_route(s, b) != &sh[i];
		wrong += sl_shardmap_route(s, a + (b - a) / 2) != &sh[i];
		if (b > a) {
			wrong += sl_shardmap_route(s, a + 1) != &sh[i];
			wrong += sl_shardmap_route(s, b - 1) != &sh[i];
		}
		if (i > 0)
			wrong += sl_shardmap_route(s, a - 1) != &sh[i - 1];
		if (i + 1 < n)
			wrong += sl_shardmap_route(s, b + 1) != &sh[i + 1];
	}
	uint64_t x = 0x2545F4914F6CDD1Du + n;
	for (int k = 0; k < 2000; k++) {
		sl_u128 h = sl_u128_make(rng_next(&x), rng_next(&x));
		if (k % 4 == 1)
			h >>= (k % 127); /* small values too */
		const struct sl_shardmap_shard *r = sl_shardmap_route(s, h);
		wrong += r != scan(s, h);
		wrong += r == NULL || h < r->start_hash || h > r->end_hash;
	}
	if (wrong != 0)
		fprintf(stderr, "stream %s (%u shards): %u wrong routes\n", s->name, n, wrong);
	CHECK_EQ_U64(wrong, 0);
}

/* The map's entry for the live stream m with n shards is complete and right. */
static void check_stream(struct sl_store *st, const struct sl_shardmap *map,
			 const struct sl_meta_stream *m, uint32_t n)
{
	size_t len = strlen(m->name);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(map, m->name, len);
	CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "stream %s not in map v%llu\n", m->name,
			(unsigned long long)map->version);
		return;
	}
	CHECK(sl_shardmap_stream_by_id(map, m->id) == s);
	CHECK_EQ_U64(s->id, m->id);
	CHECK_EQ_U64(s->name_len, len);
	CHECK_STREQ(s->name, m->name);
	CHECK(s->status == SL_STREAM_ACTIVE);
	CHECK(s->durability == m->durability);
	CHECK_EQ_U64(s->max_record_bytes, m->max_record_bytes);
	CHECK_EQ_U64(s->shard_count, n);
	if (s->shard_count != n || n == 0)
		return;
	CHECK(s->shards[0].start_hash == 0);
	CHECK(s->shards[n - 1].end_hash == SL_U128_MAX);
	unsigned bad = 0;
	sl_u128 size = n >= 2 ? range_size(n) : 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct sl_shardmap_shard *sh = &s->shards[i];
		bad += sh->start_hash > sh->end_hash;
		if (i > 0)
			bad += sh->start_hash != s->shards[i - 1].end_hash + 1;
		bad += n >= 2 && sh->start_hash != size * i;
		bad += sh->shard == NULL;
		bad += sh->shard != sl_store_shard(st, m->id, sh->shard_id);
		for (uint32_t j = 0; j < i; j++)
			bad += s->shards[j].shard_id == sh->shard_id;
	}
	CHECK_EQ_U64(bad, 0);
	check_routes(s);
}

/* Names that are not streams: unknown, prefixes, extensions, cut short. */
static void check_not_found(const struct sl_shardmap *map)
{
	static char longname[SL_STREAM_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	CHECK(sl_shardmap_stream(map, "nope", 4) == NULL);
	CHECK(sl_shardmap_stream(map, "s", 1) == NULL);
	CHECK(sl_shardmap_stream(map, "s6", 2) == NULL);
	CHECK(sl_shardmap_stream(map, "s64x", 4) == NULL);
	CHECK(sl_shardmap_stream(map, "s64-", 4) == NULL);
	CHECK(sl_shardmap_stream(map, "s64", 0) == NULL);
	CHECK(sl_shardmap_stream(map, longname, SL_STREAM_NAME_MAX + 1) == NULL);
	CHECK(sl_shardmap_stream(map, longname, SL_STREAM_NAME_MAX) == NULL);
	CHECK(sl_shardmap_stream_by_id(map, 0) == NULL);
	CHECK(sl_shardmap_stream_by_id(map, UINT32_MAX) == NULL);
}

#define SIZES   6
#define EXTRA   40
#define STREAMS (SIZES + EXTRA)
static const uint32_t sizes[SIZES] = {1, 2, 3, 4, 7, 64};

struct live {
	struct sl_meta_stream m[STREAMS + 1];
	uint32_t shards[STREAMS + 1];
	bool alive[STREAMS + 1];
	unsigned count;
};

static void check_all(struct sl_store *st, const struct live *l)
{
	const struct sl_shardmap *map = sl_store_shardmap(st);
	CHECK(map != NULL);
	unsigned alive = 0;
	for (unsigned i = 0; i < l->count; i++) {
		if (l->alive[i]) {
			check_stream(st, map, &l->m[i], l->shards[i]);
			alive++;
			continue;
		}
		/* Gone by name (unless a live one took the name) and by id. */
		const struct sl_shardmap_stream *s =
		    sl_shardmap_stream(map, l->m[i].name, strlen(l->m[i].name));
		CHECK(s == NULL || s->id != l->m[i].id);
		CHECK(sl_shardmap_stream_by_id(map, l->m[i].id) == NULL);
	}
	CHECK_EQ_U64(map->stream_count, alive);
	for (uint32_t i = 1; i < map->stream_count; i++)
		CHECK(map->streams[i - 1].id < map->streams[i].id);
	check_not_found(map);
}

static uint64_t map_version(struct sl_store *st)
{
	return sl_store_shardmap(st)->version;
}

static void test_map(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w; /* a delete waits for the writer to let go */
	static struct live l;
	memset(&l, 0, sizeof(l));
	CHECK(tu_tmpdir(dir, sizeof(dir), "shardmap") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	tu_writer_start(&w, st, 0);

	const struct sl_shardmap *map = sl_store_shardmap(st);
	CHECK(map != NULL);
	CHECK_EQ_U64(map->stream_count, 0);
	CHECK(map->version >= 1);
	CHECK(sl_shardmap_stream(map, "s1", 2) == NULL);
	CHECK(sl_shardmap_stream_by_id(map, 1) == NULL);
	uint64_t v = map->version;

	for (unsigned i = 0; i < STREAMS; i++) {
		char name[32];
		uint32_t n = i < SIZES ? sizes[i] : 1;
		if (i < SIZES)
			snprintf(name, sizeof(name), "s%u", n);
		else
			snprintf(name, sizeof(name), "extra.%u_x-%u", i, i * 7919);
		l.m[i] = make_stream(name, (enum sl_durability)(i % 3));
		l.shards[i] = n;
		CHECK(sl_store_stream_create(st, &l.m[i], n) == 0);
		l.alive[i] = true;
		l.count = i + 1;
		uint64_t nv = map_version(st);
		CHECK(nv > v);
		v = nv;
		if (i < SIZES || i + 1 == STREAMS)
			check_all(st, &l);
	}
	/* Refused changes publish nothing. */
	struct sl_meta_stream dup = make_stream("s7", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &dup, 2) == -EEXIST);
	CHECK(sl_store_stream_delete(st, 999999) == -ENOENT);
	CHECK(map_version(st) == v);
	check_all(st, &l);

	/* A name cut short by len is another name, whatever follows it. */
	map = sl_store_shardmap(st);
	CHECK(sl_shardmap_stream(map, "s64", 2) == NULL);
	CHECK(sl_shardmap_stream(map, "s64", 3) == sl_shardmap_stream_by_id(map, l.m[5].id));
	CHECK(sl_shardmap_stream(map, "s7garbage", 2) == sl_shardmap_stream_by_id(map, l.m[4].id));

	/* Delete s3 and one extra: gone, the rest untouched. */
	CHECK(sl_store_stream_delete(st, l.m[2].id) == 0);
	l.alive[2] = false;
	CHECK(map_version(st) > v);
	v = map_version(st);
	CHECK(sl_store_stream_delete(st, l.m[SIZES + 3].id) == 0);
	l.alive[SIZES + 3] = false;
	CHECK(map_version(st) > v);
	v = map_version(st);
	check_all(st, &l);
	map = sl_store_shardmap(st);
	CHECK(sl_shardmap_stream(map, "s3", 2) == NULL);

	/* The name again: a new stream with a new id. */
	l.m[STREAMS] = make_stream("s3", SL_DURABILITY_WRITE);
	l.shards[STREAMS] = 5;
	CHECK(sl_store_stream_create(st, &l.m[STREAMS], 5) == 0);
	CHECK(l.m[STREAMS].id != l.m[2].id);
	l.alive[STREAMS] = true;
	l.count = STREAMS + 1;
	CHECK(map_version(st) > v);
	check_all(st, &l);

	/* Reopen: the same map (its version starts again). */
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	CHECK(sl_store_open(&o, &st) == 0);
	tu_writer_start(&w, st, 0);
	check_all(st, &l);
	map = sl_store_shardmap(st);
	CHECK(map->version >= 1);
	v = map->version;
	CHECK(sl_store_stream_delete(st, l.m[0].id) == 0);
	l.alive[0] = false;
	CHECK(map_version(st) > v);
	check_all(st, &l);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	CHECK(sl_store_open(&o, &st) == 0);
	check_all(st, &l);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* ---- keys to shards, appends through the map ---- */

static void test_keys_route(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	CHECK(tu_tmpdir(dir, sizeof(dir), "shardmap") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream m = make_stream("four", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &m, 4) == 0);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(sl_store_shardmap(st), "four", 4);
	CHECK(s != NULL && s->shard_count == 4);
	if (s == NULL || s->shard_count != 4)
		goto out;
	uint32_t hit[4] = {0};
	for (size_t i = 0; i < KEYS; i++) {
		uint8_t k[SL_PARTITION_KEY_MAX];
		size_t len = key_bytes(&keys[i], k);
		uint32_t want = keys[i].shard_of_4;
		const struct sl_shardmap_shard *r =
		    sl_shardmap_route(s, sl_hash_partition_key(k, len));
		if (r != &s->shards[want])
			fprintf(stderr, "key %s: shard index %td, want %u\n", keys[i].what,
				r - s->shards, want);
		CHECK(r == &s->shards[want]);
		/* The index Python gave is the range i * 2^126 .. */
		CHECK(r->start_hash == (sl_u128)want << 126);
		hit[want]++;
	}
	for (int i = 0; i < 4; i++)
		CHECK(hit[i] > 0); /* the vectors reach every shard */
out:
	sl_store_close(st);
	tu_rmtree(dir);
}

/* An append of n records with partition key k (hash set as ingest does). */
static void routed_append(struct tu_append *a, const struct sl_shardmap_stream *s,
			  const struct sl_shardmap_shard *sh, const char *k, uint64_t tag,
			  uint16_t n)
{
	tu_append_init(a, s->id, sh->shard_id, tag, n);
	for (uint16_t i = 0; i < n; i++) {
		a->recs[i].key = (const uint8_t *)k;
		a->recs[i].key_len = (uint16_t)strlen(k);
		a->recs[i].hash_key = sl_hash_partition_key(a->recs[i].key, a->recs[i].key_len);
	}
}

static int read_all(struct sl_store *st, struct sl_shard *sh, struct sl_read_record *recs,
		    uint32_t max, uint8_t *buf, uint32_t cap)
{
	sl_u128 next;
	return sl_store_read(st, sh, SL_READ_TRIM_HORIZON, 0, 0, recs, max, buf, cap, &next);
}

/* A reader thread holding a shard of the map across the stream's delete. */
struct holder {
	struct sl_store *st;
	char key[32];
	int holding;          /* atomic: has the shard, the delete may start */
	int deleted;          /* atomic: sl_store_stream_delete returned */
	int rc_removed;       /* its append after the new map appeared */
	int deleted_early;    /* the delete had returned before our quiescent state */
	int saw_new_map;      /* a newer version appeared (within the bound) */
	int old_still_usable; /* the held map still read right meanwhile */
	int new_has_stream;   /* the new map still had the stream */
	struct tu_append app;
};

static void *holder_main(void *p)
{
	struct holder *h = p;
	struct sl_qsbr_reader *r = sl_qsbr_register(sl_store_qsbr(h->st));
	if (r == NULL)
		return NULL;
	const struct sl_shardmap *map = sl_store_shardmap(h->st);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(map, "doomed", 6);
	if (s == NULL) {
		sl_qsbr_unregister(r);
		return NULL;
	}
	const struct sl_shardmap_shard *sh =
	    sl_shardmap_route(s, sl_hash_partition_key((const uint8_t *)h->key, strlen(h->key)));
	__atomic_store_n(&h->holding, 1, __ATOMIC_SEQ_CST);
	/* Wait (bounded) for the delete to publish a map without the stream;
	 * it then waits for us. */
	const struct sl_shardmap *now = map;
	for (int i = 0; i < 10000 && now->version == map->version; i++) {
		usleep(1000);
		now = sl_store_shardmap(h->st);
	}
	h->saw_new_map = now->version > map->version;
	h->new_has_stream = sl_shardmap_stream(now, "doomed", 6) != NULL;
	/* What we hold is still there: under ASan, reading freed memory fails. */
	h->old_still_usable = sl_shardmap_stream(map, "doomed", 6) == s && s->shard_count == 4;
	routed_append(&h->app, s, sh, h->key, 77, 1);
	h->rc_removed = sl_store_append_shard(h->st, sh->shard, &h->app.app);
	h->deleted_early = __atomic_load_n(&h->deleted, __ATOMIC_SEQ_CST);
	sl_qsbr_quiescent(r);
	sl_qsbr_unregister(r);
	return NULL;
}

static void test_append_shard(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	static struct sl_read_record recs[64];
	static uint8_t buf[64 << 10];
	CHECK(tu_tmpdir(dir, sizeof(dir), "shardmap") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream keep = make_stream("kept", SL_DURABILITY_WRITE);
	struct sl_meta_stream m = make_stream("doomed", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &keep, 2) == 0);
	CHECK(sl_store_stream_create(st, &m, 4) == 0);
	tu_writer_start(&w, st, 0);

	/* Routed by the map, stored in that shard and only there. */
	const char *key = "partitionKey-1"; /* shard index 1 of 4, see keys[] */
	const struct sl_shardmap_stream *s = sl_shardmap_stream(sl_store_shardmap(st), "doomed", 6);
	CHECK(s != NULL);
	if (s == NULL)
		goto out;
	const struct sl_shardmap_shard *sh =
	    sl_shardmap_route(s, sl_hash_partition_key((const uint8_t *)key, strlen(key)));
	CHECK(sh == &s->shards[1]);
	struct tu_append a;
	routed_append(&a, s, sh, key, 5, 3);
	CHECK(sl_store_append_shard(st, sh->shard, &a.app) == 0);
	CHECK(tu_wait(&a, 5000) && a.app.status == SL_APPEND_OK);
	int n = read_all(st, sh->shard, recs, 64, buf, sizeof(buf));
	CHECK_EQ_U64(n, 3);
	for (int i = 0; i < n && i < 3; i++) {
		CHECK(recs[i].seq == a.app.first_seq + (sl_u128)i);
		CHECK_EQ_U64(recs[i].key_len, strlen(key));
		CHECK(memcmp(buf + recs[i].key_off, key, strlen(key)) == 0);
		CHECK_EQ_U64(recs[i].data_len, a.recs[i].data_len);
		CHECK(memcmp(buf + recs[i].data_off, a.recs[i].data, a.recs[i].data_len) == 0);
	}
	for (uint32_t i = 0; i < s->shard_count; i++)
		if (&s->shards[i] != sh)
			CHECK(read_all(st, s->shards[i].shard, recs, 64, buf, sizeof(buf)) == 0);

	/* The delete, with a reader thread holding a shard of the old map. */
	static struct holder h;
	memset(&h, 0, sizeof(h));
	h.st = st;
	snprintf(h.key, sizeof(h.key), "%s", key);
	pthread_t tid;
	CHECK(pthread_create(&tid, NULL, holder_main, &h) == 0);
	for (int i = 0; i < 10000 && !__atomic_load_n(&h.holding, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	CHECK(__atomic_load_n(&h.holding, __ATOMIC_SEQ_CST) == 1);
	uint32_t doomed = m.id;
	CHECK(sl_store_stream_delete(st, doomed) == 0);
	__atomic_store_n(&h.deleted, 1, __ATOMIC_SEQ_CST);
	pthread_join(tid, NULL);
	CHECK(h.saw_new_map == 1);
	CHECK(h.new_has_stream == 0);
	CHECK(h.old_still_usable == 1);
	CHECK(h.rc_removed == -ENOENT);
	CHECK(h.deleted_early == 0);
	CHECK(h.app.done == 0); /* refused: done() never called */

	/* Afterwards: not in the map; by id, -ENOENT. */
	CHECK(sl_shardmap_stream(sl_store_shardmap(st), "doomed", 6) == NULL);
	CHECK(sl_shardmap_stream_by_id(sl_store_shardmap(st), doomed) == NULL);
	tu_append_init(&a, doomed, 1, 6, 1);
	CHECK(sl_store_append(st, &a.app) == -ENOENT);

	/* The other stream still takes appends through the map. */
	s = sl_shardmap_stream(sl_store_shardmap(st), "kept", 4);
	CHECK(s != NULL);
	if (s != NULL) {
		sh = sl_shardmap_route(s, sl_hash_partition_key((const uint8_t *)key, strlen(key)));
		routed_append(&a, s, sh, key, 8, 2);
		CHECK(sl_store_append_shard(st, sh->shard, &a.app) == 0);
		CHECK(tu_wait(&a, 5000) && a.app.status == SL_APPEND_OK);
		CHECK(read_all(st, sh->shard, recs, 64, buf, sizeof(buf)) == 2);
	}
out:
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

int main(void)
{
	test_hash();
	test_map();
	test_keys_route();
	test_append_shard();
	return sl_check_finish("shardmap");
}
