/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks storage/meta.c on real SQLite files in a fresh directory under /tmp:
 * create, get (by name and id), list and delete of streams; -EEXIST for a
 * duplicate name and -ENOENT for unknown streams everywhere; the hash ranges
 * of 1, 2, 3, 7 and 500 shards (contiguous, non-overlapping, exactly
 * 0..2^128-1, each floor(2^128 / n) wide but the last) and the values real
 * Kinesis gives for 2 and 3 shards; sequence prefixes; stream ids never
 * reused, also after deleting the highest and across a reopen; pagination
 * with after/limit across internal pages, a callback stopping the walk and a
 * callback changing the store mid-walk; status and retention updates; tags
 * (replace, the 50 limit with nothing changed, remove ignoring absent keys,
 * key order, gone with their stream); persistence across close and reopen;
 * atomicity, with failures forced from a second SQLite connection: a trigger
 * that fails the fourth shard insert of a create, one that fails a tag
 * insert, one that fails the cascade of a delete, and a held write lock
 * (busy timeout) — each -EIO, logged with SQLite's message, nothing changed;
 * a file with a newer user_version refused with -EPROTO; WAL on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include <sluice/log.h>
#include <sluice/meta.h>
#include <sluice/u128.h>

#include "check.h"

#define MAX_SHARDS 500
#define MAX_NAMES  64

static char dir[] = "/tmp/sl_test_meta.XXXXXX";
static char db_path[256];
static char log_path[256];

/* Shards of one stream, as sl_meta_shard_list gives them. */
struct shard_set {
	struct sl_meta_shard sh[MAX_SHARDS];
	unsigned count;
};

static int collect_shard(const struct sl_meta_shard *sh, void *arg)
{
	struct shard_set *set = arg;
	if (set->count >= MAX_SHARDS)
		return -E2BIG;
	set->sh[set->count++] = *sh;
	return 0;
}

/* Stream names in visiting order; stop_at > 0 stops the walk with 42 there. */
struct name_set {
	char name[MAX_NAMES][SL_STREAM_NAME_MAX + 1];
	uint32_t id[MAX_NAMES];
	unsigned count;
	unsigned stop_at;
	struct sl_meta *delete_from; /* non-NULL: delete each stream visited */
};

static int collect_name(const struct sl_meta_stream *s, void *arg)
{
	struct name_set *set = arg;
	if (set->count >= MAX_NAMES)
		return -E2BIG;
	snprintf(set->name[set->count], sizeof(set->name[0]), "%s", s->name);
	set->id[set->count++] = s->id;
	if (set->delete_from != NULL)
		CHECK(sl_meta_stream_delete(set->delete_from, s->id) == 0);
	return set->stop_at != 0 && set->count == set->stop_at ? 42 : 0;
}

/* Tags as "key=value;" pairs in visiting order. */
struct tag_text {
	char buf[8192];
	unsigned count;
};

static int collect_tag(const char *key, const char *value, void *arg)
{
	struct tag_text *t = arg;
	size_t len = strlen(t->buf);
	snprintf(t->buf + len, sizeof(t->buf) - len, "%s=%s;", key, value);
	t->count++;
	return 0;
}

static int list_tags(struct sl_meta *m, uint32_t id, struct tag_text *t)
{
	memset(t, 0, sizeof(*t));
	return sl_meta_tags_list(m, id, collect_tag, t);
}

static unsigned count_streams(struct sl_meta *m)
{
	static struct name_set set;
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_stream_list(m, NULL, 1000, collect_name, &set) == 0);
	return set.count;
}

static struct sl_meta_stream stream_in(const char *name)
{
	struct sl_meta_stream s;
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.mode = SL_STREAM_PROVISIONED;
	s.durability = SL_DURABILITY_FSYNC;
	s.retention_hours = 24;
	s.retention_bytes = 0;
	s.max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	return s;
}

static int create(struct sl_meta *m, const char *name, uint32_t shards, uint32_t *id)
{
	struct sl_meta_stream s = stream_in(name);
	int err = sl_meta_stream_create(m, &s, shards, 1000);
	if (err == 0 && id != NULL)
		*id = s.id;
	return err;
}

static struct sl_meta *open_db(const char *path)
{
	struct sl_meta *m = NULL;
	int err = sl_meta_open(path, &m);
	CHECK(err == 0);
	CHECK(m != NULL);
	if (m == NULL) {
		fprintf(stderr, "cannot open %s: %d\n", path, err);
		exit(1);
	}
	return m;
}

/* Run SQL on a second connection to the same file. */
static void side_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "side_exec %s: %s\n", sql, msg ? msg : "?");
	CHECK(rc == SQLITE_OK);
	sqlite3_free(msg);
	sqlite3_close(db);
}

static bool log_contains(const char *needle)
{
	static char buf[1 << 16];
	FILE *f = fopen(log_path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void dec(sl_u128 v, char *buf)
{
	sl_u128_to_dec(v, buf);
}

static void test_create_get(struct sl_meta *m)
{
	struct sl_meta_stream s = stream_in("alpha"), got;
	s.mode = SL_STREAM_ON_DEMAND;
	s.durability = SL_DURABILITY_WRITE;
	s.retention_hours = 48;
	s.retention_bytes = UINT64_MAX - 5; /* above INT64_MAX: must round-trip */
	s.max_record_bytes = 2u << 20;
	CHECK(sl_meta_stream_create(m, &s, 3, 123456789012ull) == 0);
	CHECK(s.id >= 1);
	CHECK(s.status == SL_STREAM_CREATING);
	CHECK_EQ_U64(s.open_shard_count, 3);
	CHECK_EQ_U64(s.next_shard_id, 3);
	CHECK_EQ_U64(s.created_ms, 123456789012ull);

	CHECK(sl_meta_stream_get(m, "alpha", &got) == 0);
	CHECK(memcmp(&s, &got, sizeof(s)) == 0);
	CHECK_STREQ(got.name, "alpha");
	CHECK(got.mode == SL_STREAM_ON_DEMAND);
	CHECK(got.durability == SL_DURABILITY_WRITE);
	CHECK_EQ_U64(got.retention_hours, 48);
	CHECK_EQ_U64(got.retention_bytes, UINT64_MAX - 5);
	CHECK_EQ_U64(got.max_record_bytes, 2u << 20);
	memset(&got, 0, sizeof(got));
	CHECK(sl_meta_stream_get_id(m, s.id, &got) == 0);
	CHECK(memcmp(&s, &got, sizeof(s)) == 0);

	/* A 128-character name, the longest, round-trips. */
	char long_name[SL_STREAM_NAME_MAX + 1];
	memset(long_name, 'n', SL_STREAM_NAME_MAX);
	long_name[SL_STREAM_NAME_MAX] = '\0';
	uint32_t long_id;
	CHECK(create(m, long_name, 1, &long_id) == 0);
	CHECK(sl_meta_stream_get(m, long_name, &got) == 0);
	CHECK_STREQ(got.name, long_name);
	CHECK(sl_meta_stream_delete(m, long_id) == 0);

	/* Duplicate name: -EEXIST, nothing added, the first stream untouched. */
	unsigned before = count_streams(m);
	CHECK(create(m, "alpha", 5, NULL) == -EEXIST);
	CHECK_EQ_U64(count_streams(m), before);
	CHECK(sl_meta_stream_get(m, "alpha", &got) == 0);
	CHECK(memcmp(&s, &got, sizeof(s)) == 0);
}

static int never_called_shard(const struct sl_meta_shard *sh, void *arg)
{
	(void)sh;
	(void)arg;
	CHECK(0);
	return 0;
}

static int never_called_tag(const char *key, const char *value, void *arg)
{
	(void)key;
	(void)value;
	(void)arg;
	CHECK(0);
	return 0;
}

static void test_unknown(struct sl_meta *m)
{
	struct sl_meta_stream got;
	const char *k[] = {"k"}, *v[] = {"v"};
	CHECK(sl_meta_stream_get(m, "no-such-stream", &got) == -ENOENT);
	CHECK(sl_meta_stream_get_id(m, 999999, &got) == -ENOENT);
	CHECK(sl_meta_stream_set_status(m, 999999, SL_STREAM_ACTIVE) == -ENOENT);
	CHECK(sl_meta_stream_set_retention(m, 999999, 48) == -ENOENT);
	CHECK(sl_meta_stream_delete(m, 999999) == -ENOENT);
	CHECK(sl_meta_shard_list(m, 999999, never_called_shard, NULL) == -ENOENT);
	CHECK(sl_meta_tags_set(m, 999999, k, v, 1) == -ENOENT);
	CHECK(sl_meta_tags_remove(m, 999999, k, 1) == -ENOENT);
	CHECK(sl_meta_tags_list(m, 999999, never_called_tag, NULL) == -ENOENT);
}

/* The shards of a new n-shard stream tile 0..2^128-1 in floor(2^128/n) steps. */
static void check_ranges(struct sl_meta *m, uint32_t n)
{
	static struct shard_set set;
	char name[32];
	uint32_t id = 0;
	snprintf(name, sizeof(name), "hash-%u", n);
	CHECK(create(m, name, n, &id) == 0);
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_shard_list(m, id, collect_shard, &set) == 0);
	CHECK_EQ_U64(set.count, n);
	if (set.count != n)
		return;
	sl_u128 size = sl_meta_hash_range_size(n);
	CHECK(set.sh[0].start_hash == 0);
	CHECK(set.sh[n - 1].end_hash == SL_U128_MAX);
	for (uint32_t i = 0; i < n; i++) {
		const struct sl_meta_shard *sh = &set.sh[i];
		CHECK_EQ_U64(sh->stream_id, id);
		CHECK_EQ_U64(sh->shard_id, i);
		CHECK(sh->start_hash <= sh->end_hash);
		CHECK(sh->start_hash == (sl_u128)i * size);
		if (i + 1 < n) {
			CHECK(sh->end_hash - sh->start_hash + 1 == size);
			CHECK(set.sh[i + 1].start_hash == sh->end_hash + 1);
		}
		CHECK_EQ_U64(sh->seq_prefix, (uint64_t)i + 1);
		CHECK(sh->parent_id == -1);
		CHECK(sh->adjacent_parent_id == -1);
		CHECK(!sh->closed);
		CHECK(sh->end_seq == 0);
	}
	struct sl_meta_stream s;
	CHECK(sl_meta_stream_get_id(m, id, &s) == 0);
	CHECK_EQ_U64(s.open_shard_count, n);
	CHECK_EQ_U64(s.next_shard_id, n);
}

static void test_hash_ranges(struct sl_meta *m)
{
	static const uint32_t counts[] = {1, 2, 3, 7, 500};
	static struct shard_set set;
	char buf[SL_U128_DEC_BUF];
	struct sl_meta_stream s;

	CHECK(sl_meta_hash_range_size(1) == SL_U128_MAX);
	CHECK(sl_meta_hash_range_size(2) == (sl_u128)1 << 127);
	CHECK(sl_meta_hash_range_size(4) == (sl_u128)1 << 126);
	CHECK(sl_meta_hash_range_size(7) == SL_U128_MAX / 7); /* 7 divides neither */
	dec(sl_meta_hash_range_size(3), buf);
	CHECK_STREQ(buf, "113427455640312821154458202477256070485");
	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		check_ranges(m, counts[i]);

	/* The values real Kinesis shows for CreateStream with 2 and 3 shards. */
	CHECK(sl_meta_stream_get(m, "hash-2", &s) == 0);
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_shard_list(m, s.id, collect_shard, &set) == 0);
	dec(set.sh[0].end_hash, buf);
	CHECK_STREQ(buf, "170141183460469231731687303715884105727");
	dec(set.sh[1].start_hash, buf);
	CHECK_STREQ(buf, "170141183460469231731687303715884105728");
	CHECK(sl_meta_stream_get(m, "hash-3", &s) == 0);
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_shard_list(m, s.id, collect_shard, &set) == 0);
	dec(set.sh[0].start_hash, buf);
	CHECK_STREQ(buf, "0");
	dec(set.sh[0].end_hash, buf);
	CHECK_STREQ(buf, "113427455640312821154458202477256070484");
	dec(set.sh[1].start_hash, buf);
	CHECK_STREQ(buf, "113427455640312821154458202477256070485");
	dec(set.sh[1].end_hash, buf);
	CHECK_STREQ(buf, "226854911280625642308916404954512140969");
	dec(set.sh[2].start_hash, buf);
	CHECK_STREQ(buf, "226854911280625642308916404954512140970");
	dec(set.sh[2].end_hash, buf);
	CHECK_STREQ(buf, "340282366920938463463374607431768211455");
}

/* Ids only grow: deleting the highest and creating again gives a new one. */
static void test_ids(struct sl_meta *m, uint32_t *highest)
{
	uint32_t a, b, c, d;
	CHECK(create(m, "id-a", 1, &a) == 0);
	CHECK(create(m, "id-b", 1, &b) == 0);
	CHECK(b > a);
	CHECK(sl_meta_stream_delete(m, b) == 0);
	CHECK(sl_meta_stream_delete(m, b) == -ENOENT);
	CHECK(create(m, "id-b", 1, &c) == 0); /* the same name again */
	CHECK(c > b);
	CHECK(sl_meta_stream_delete(m, c) == 0);
	CHECK(sl_meta_stream_delete(m, a) == 0);
	CHECK(create(m, "id-d", 1, &d) == 0);
	CHECK(d > c);
	CHECK(sl_meta_stream_delete(m, d) == 0);
	*highest = d;
}

static void test_status_retention(struct sl_meta *m)
{
	struct sl_meta_stream s;
	uint32_t id;
	CHECK(create(m, "upd", 2, &id) == 0);
	CHECK(sl_meta_stream_set_status(m, id, SL_STREAM_ACTIVE) == 0);
	CHECK(sl_meta_stream_get_id(m, id, &s) == 0);
	CHECK(s.status == SL_STREAM_ACTIVE);
	CHECK(sl_meta_stream_set_status(m, id, SL_STREAM_UPDATING) == 0);
	CHECK(sl_meta_stream_set_retention(m, id, SL_META_RETENTION_H_MAX) == 0);
	CHECK(sl_meta_stream_get_id(m, id, &s) == 0);
	CHECK(s.status == SL_STREAM_UPDATING);
	CHECK_EQ_U64(s.retention_hours, SL_META_RETENTION_H_MAX);
	CHECK_EQ_U64(s.retention_bytes, 0);
	CHECK_EQ_U64(s.open_shard_count, 2);
	/* Setting the same value again is a match, not -ENOENT. */
	CHECK(sl_meta_stream_set_retention(m, id, SL_META_RETENTION_H_MAX) == 0);
	CHECK(sl_meta_stream_set_status(m, id, SL_STREAM_DELETING) == 0);
	CHECK(sl_meta_stream_get(m, "upd", &s) == 0);
	CHECK(s.status == SL_STREAM_DELETING);
}

/* After/limit over several internal pages, stops, and changes mid-walk. */
static void test_pagination(const char *path)
{
	static struct name_set set;
	struct sl_meta *m = open_db(path);
	char name[16];
	for (unsigned i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "p%02u", i);
		CHECK(create(m, name, 1, NULL) == 0);
	}
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_stream_list(m, NULL, 1000, collect_name, &set) == 0);
	CHECK_EQ_U64(set.count, 40);
	for (unsigned i = 0; i < set.count; i++) {
		snprintf(name, sizeof(name), "p%02u", i);
		CHECK_STREQ(set.name[i], name);
	}
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_stream_list(m, "p10", 7, collect_name, &set) == 0);
	CHECK_EQ_U64(set.count, 7);
	CHECK_STREQ(set.name[0], "p11");
	CHECK_STREQ(set.name[6], "p17");
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_stream_list(m, "p", 35, collect_name, &set) == 0);
	CHECK_EQ_U64(set.count, 35);
	CHECK_STREQ(set.name[0], "p00");
	CHECK_STREQ(set.name[34], "p34");
	memset(&set, 0, sizeof(set));
	CHECK(sl_meta_stream_list(m, "p39", 10, collect_name, &set) == 0);
	CHECK(sl_meta_stream_list(m, "zzz", 10, collect_name, &set) == 0);
	CHECK(sl_meta_stream_list(m, NULL, 0, collect_name, &set) == 0);
	CHECK_EQ_U64(set.count, 0);

	/* A non-zero return stops the walk and is returned. */
	set.stop_at = 20;
	CHECK(sl_meta_stream_list(m, NULL, 1000, collect_name, &set) == 42);
	CHECK_EQ_U64(set.count, 20);
	CHECK_STREQ(set.name[19], "p19");

	/* The callback may change the store: delete every stream as it is seen. */
	memset(&set, 0, sizeof(set));
	set.delete_from = m;
	CHECK(sl_meta_stream_list(m, NULL, 1000, collect_name, &set) == 0);
	CHECK_EQ_U64(set.count, 40);
	CHECK_EQ_U64(count_streams(m), 0);
	sl_meta_close(m);
}

static int stop_tag(const char *key, const char *value, void *arg)
{
	(void)key;
	(void)value;
	(*(unsigned *)arg)++;
	return 7;
}

static void set_numbered_tags(struct sl_meta *m, uint32_t id, unsigned from, unsigned n, int want)
{
	static char keys[SL_META_TAGS_MAX + 1][8];
	const char *k[SL_META_TAGS_MAX + 1], *v[SL_META_TAGS_MAX + 1];
	CHECK(n <= SL_META_TAGS_MAX + 1);
	for (unsigned i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "t%02u", from + i);
		k[i] = keys[i];
		v[i] = "x";
	}
	CHECK(sl_meta_tags_set(m, id, k, v, n) == want);
}

static void test_tags(struct sl_meta *m, char *final_text, size_t cap)
{
	static struct tag_text t, before;
	uint32_t id;
	CHECK(create(m, "tagged", 1, &id) == 0);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_EQ_U64(t.count, 0);
	const char *k1[] = {"b", "a", "c"}, *v1[] = {"1", "2", "3"};
	CHECK(sl_meta_tags_set(m, id, k1, v1, 3) == 0);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_STREQ(t.buf, "a=2;b=1;c=3;");
	/* Replace b, add d; a key given twice keeps its last value; "" is a value. */
	const char *k2[] = {"b", "d", "e", "e", "B"}, *v2[] = {"9", "4", "1", "2", ""};
	CHECK(sl_meta_tags_set(m, id, k2, v2, 5) == 0);
	CHECK(sl_meta_tags_set(m, id, NULL, NULL, 0) == 0);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_STREQ(t.buf, "B=;a=2;b=9;c=3;d=4;e=2;"); /* byte order */

	/* 6 + 45 = 51: refused whole. 6 + 44 = 50: taken. */
	before = t;
	set_numbered_tags(m, id, 0, 45, -ENOSPC);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_STREQ(t.buf, before.buf);
	set_numbered_tags(m, id, 0, 44, 0);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_EQ_U64(t.count, SL_META_TAGS_MAX);
	/* At the limit, replacing is fine and adding is not. */
	const char *k3[] = {"a"}, *v3[] = {"22"}, *k4[] = {"a", "zz"}, *v4[] = {"23", "1"};
	CHECK(sl_meta_tags_set(m, id, k3, v3, 1) == 0);
	CHECK(sl_meta_tags_set(m, id, k4, v4, 2) == -ENOSPC);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_EQ_U64(t.count, SL_META_TAGS_MAX);
	CHECK(strncmp(t.buf, "B=;a=22;b=9;c=3;d=4;e=2;t00=x;t01=x;", 36) == 0);
	CHECK(strstr(t.buf, "t43=x;") != NULL);
	CHECK(strstr(t.buf, "zz") == NULL);

	const char *k5[] = {"t00", "absent", "t43", "B"};
	CHECK(sl_meta_tags_remove(m, id, k5, 4) == 0);
	CHECK(sl_meta_tags_remove(m, id, k5, 2) == 0); /* both absent now */
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_EQ_U64(t.count, SL_META_TAGS_MAX - 3);
	CHECK(strncmp(t.buf, "a=22;b=9;c=3;d=4;e=2;t01=x;t02=x;", 33) == 0);
	unsigned calls = 0;
	CHECK(sl_meta_tags_list(m, id, stop_tag, &calls) == 7);
	CHECK_EQ_U64(calls, 1);
	snprintf(final_text, cap, "%s", t.buf);

	/* Tags go with their stream. */
	uint32_t gone, again;
	CHECK(create(m, "tag-gone", 1, &gone) == 0);
	CHECK(sl_meta_tags_set(m, gone, k1, v1, 3) == 0);
	CHECK(sl_meta_stream_delete(m, gone) == 0);
	CHECK(create(m, "tag-gone", 1, &again) == 0);
	CHECK(list_tags(m, again, &t) == 0);
	CHECK_EQ_U64(t.count, 0);
}

/* A stream's shards and tags, for comparing before and after. */
static void snapshot(struct sl_meta *m, const char *name, struct sl_meta_stream *s,
		     struct shard_set *shards, struct tag_text *tags)
{
	memset(shards, 0, sizeof(*shards));
	CHECK(sl_meta_stream_get(m, name, s) == 0);
	CHECK(sl_meta_shard_list(m, s->id, collect_shard, shards) == 0);
	CHECK(list_tags(m, s->id, tags) == 0);
}

static void test_atomic_create_tags(struct sl_meta *m)
{
	static struct tag_text t;
	struct sl_meta_stream s;
	unsigned before = count_streams(m);

	/* The fourth shard insert fails after the stream row and three shards. */
	side_exec(db_path,
		  "CREATE TRIGGER fail_shard BEFORE INSERT ON shards"
		  " WHEN NEW.shard_id = 3 BEGIN SELECT RAISE(ABORT, 'injected shard'); END");
	CHECK(create(m, "atom", 5, NULL) == -EIO);
	CHECK(log_contains("injected shard"));
	CHECK(sl_meta_stream_get(m, "atom", &s) == -ENOENT);
	CHECK_EQ_U64(count_streams(m), before);
	side_exec(db_path, "DROP TRIGGER fail_shard");
	uint32_t id;
	CHECK(create(m, "atom", 5, &id) == 0);
	CHECK(sl_meta_stream_get(m, "atom", &s) == 0);
	CHECK_EQ_U64(s.open_shard_count, 5);

	/* The second tag insert fails: the first is not kept. */
	const char *k[] = {"x", "boom"}, *v[] = {"1", "2"};
	side_exec(db_path, "CREATE TRIGGER fail_tag BEFORE INSERT ON tags"
			   " WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'injected tag'); END");
	CHECK(sl_meta_tags_set(m, id, k, v, 2) == -EIO);
	CHECK(log_contains("injected tag"));
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_EQ_U64(t.count, 0);
	side_exec(db_path, "DROP TRIGGER fail_tag");
	CHECK(sl_meta_tags_set(m, id, k, v, 2) == 0);
	CHECK(list_tags(m, id, &t) == 0);
	CHECK_STREQ(t.buf, "boom=2;x=1;");
}

static void test_atomic_delete_busy(struct sl_meta *m)
{
	static struct shard_set sh_before, sh_after;
	static struct tag_text t_before, t_after;
	struct sl_meta_stream s_before, s_after;

	/* Deleting the tags (the cascade) fails: stream, shards, tags all stay. */
	snapshot(m, "atom", &s_before, &sh_before, &t_before);
	side_exec(db_path, "CREATE TRIGGER fail_del BEFORE DELETE ON tags"
			   " BEGIN SELECT RAISE(ABORT, 'injected delete'); END");
	CHECK(sl_meta_stream_delete(m, s_before.id) == -EIO);
	CHECK(log_contains("injected delete"));
	snapshot(m, "atom", &s_after, &sh_after, &t_after);
	CHECK(memcmp(&s_before, &s_after, sizeof(s_before)) == 0);
	CHECK(memcmp(&sh_before, &sh_after, sizeof(sh_before)) == 0);
	CHECK_STREQ(t_before.buf, t_after.buf);
	side_exec(db_path, "DROP TRIGGER fail_del");

	/* Another connection holds the write lock past the busy timeout. */
	sqlite3 *db;
	CHECK(sqlite3_open(db_path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	unsigned before = count_streams(m); /* WAL: reads go on */
	CHECK(create(m, "busy", 2, NULL) == -EIO);
	CHECK(log_contains("database is locked"));
	CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(sl_meta_stream_get(m, "busy", &s_after) == -ENOENT);
	CHECK_EQ_U64(count_streams(m), before);
	CHECK(sl_meta_stream_delete(m, s_before.id) == 0);
	CHECK(sl_meta_stream_get(m, "atom", &s_after) == -ENOENT);
}

static int64_t side_int(const char *path, const char *sql, char *text, size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		if (text != NULL)
			snprintf(text, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_versions(void)
{
	char path[300], mode[16];
	struct sl_meta *m;
	snprintf(path, sizeof(path), "%s/ver.db", dir);
	m = open_db(path);
	CHECK(create(m, "v", 1, NULL) == 0);
	sl_meta_close(m);
	CHECK(side_int(path, "PRAGMA user_version", NULL, 0) == 1);
	side_int(path, "PRAGMA journal_mode", mode, sizeof(mode));
	CHECK_STREQ(mode, "wal");

	side_exec(path, "PRAGMA user_version = 2");
	m = NULL;
	CHECK(sl_meta_open(path, &m) == -EPROTO);
	CHECK(m == NULL);
	CHECK(side_int(path, "PRAGMA user_version", NULL, 0) == 2); /* left alone */

	/* Not a database, and a directory that does not exist: -EIO. */
	snprintf(path, sizeof(path), "%s/junk.db", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	for (int i = 0; f != NULL && i < 64; i++)
		fputs("this is not an SQLite database\n", f);
	if (f != NULL)
		fclose(f);
	CHECK(sl_meta_open(path, &m) == -EIO);
	snprintf(path, sizeof(path), "%s/no/such/dir/meta.db", dir);
	CHECK(sl_meta_open(path, &m) == -EIO);
	CHECK(m == NULL);
	sl_meta_close(NULL);
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		CHECK(unlink(path) == 0);
	}
	if (d != NULL)
		closedir(d);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	static struct shard_set sh_before, sh_after;
	static struct tag_text t_before, t_after;
	static char tags_text[8192];
	struct sl_meta_stream h500, s;
	char path[300];
	uint32_t highest, id;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/meta.db", dir);
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	CHECK(log_fd >= 0);
	sl_log_set_fd(log_fd);

	struct sl_meta *m = open_db(db_path);
	test_create_get(m);
	test_unknown(m);
	test_hash_ranges(m);
	test_ids(m, &highest);
	test_status_retention(m);
	test_tags(m, tags_text, sizeof(tags_text));
	snapshot(m, "hash-500", &h500, &sh_before, &t_before);
	sl_meta_close(m);

	/* Everything is there after a reopen, and ids still only grow. */
	m = open_db(db_path);
	snapshot(m, "hash-500", &s, &sh_after, &t_after);
	CHECK(memcmp(&h500, &s, sizeof(s)) == 0);
	CHECK(memcmp(&sh_before, &sh_after, sizeof(sh_before)) == 0);
	CHECK(sl_meta_stream_get(m, "alpha", &s) == 0);
	CHECK_EQ_U64(s.retention_bytes, UINT64_MAX - 5);
	CHECK(sl_meta_stream_get(m, "upd", &s) == 0);
	CHECK(s.status == SL_STREAM_DELETING);
	CHECK(sl_meta_stream_get(m, "tagged", &s) == 0);
	CHECK(list_tags(m, s.id, &t_after) == 0);
	CHECK_STREQ(t_after.buf, tags_text);
	CHECK(create(m, "after-reopen", 1, &id) == 0);
	CHECK(id > highest);
	test_atomic_create_tags(m);
	test_atomic_delete_busy(m);
	sl_meta_close(m);

	snprintf(path, sizeof(path), "%s/page.db", dir);
	test_pagination(path);
	test_versions();

	sl_log_set_fd(2);
	if (log_fd >= 0)
		close(log_fd);
	remove_dir();
	return sl_check_finish("meta");
}
