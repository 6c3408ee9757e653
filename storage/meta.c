/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The metadata store (meta.h) on SQLite: one connection, WAL,
 * synchronous=FULL, foreign keys on, a busy timeout. Every statement is
 * prepared once at open and kept in struct sl_meta; each use ends with
 * sqlite3_reset() and sqlite3_clear_bindings(), so no statement holds a read
 * open or a borrowed pointer between calls.
 *
 * Schema, version 1 (PRAGMA user_version; a newer version is refused with
 * -EPROTO and the file is left untouched):
 *
 *   streams (id INTEGER PRIMARY KEY AUTOINCREMENT, name UNIQUE, status, mode,
 *            durability, retention_hours, retention_bytes, max_record_bytes,
 *            next_shard_id, created_ms)
 *   shards  (stream_id -> streams ON DELETE CASCADE, shard_id, start_hash,
 *            end_hash, parent_id, adjacent_parent_id, seq_prefix, closed,
 *            end_seq; PRIMARY KEY (stream_id, shard_id))
 *   tags    (stream_id -> streams ON DELETE CASCADE, key, value;
 *            PRIMARY KEY (stream_id, key))
 *
 * AUTOINCREMENT keeps the highest id ever given in sqlite_sequence, so a
 * stream id is never reused, even after the stream with the highest id is
 * deleted. Hash keys and end_seq are 16-byte big-endian BLOBs, which compare
 * (memcmp) in numeric order. parent_id and adjacent_parent_id are NULL for
 * "none" (-1 in struct sl_meta_shard); end_seq is NULL while a shard is open.
 * open_shard_count is not stored: it is counted from shards.
 *
 * A change of several rows runs in BEGIN IMMEDIATE ... COMMIT, with ROLLBACK
 * on any error; a change of one statement is its own transaction.
 *
 * Listing functions read a page of rows, reset the statement, and only then
 * call the callback, page after page (keyed on the last name, shard id or
 * tag key seen). So a callback may call any sl_meta function on the same
 * connection, including one that changes what is being listed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <sluice/assert.h>
#include <sluice/log.h>
#include <sluice/meta.h>

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 2000
#define HASH_BYTES      16
#define PAGE_ROWS       16 /* rows read per statement run while listing */
/* Shard ids are u32 and a page moves past the last one seen. */
#define SHARD_PAGES_MAX ((UINT32_MAX / PAGE_ROWS) + 1u)
/* Tags per stream are capped at SL_META_TAGS_MAX; a tampered file may hold more. */
#define TAG_PAGES_MAX ((UINT32_MAX / PAGE_ROWS) + 1u)

SL_STATIC_ASSERT(SL_STREAM_NAME_MAX == 128); /* the CHECK on streams.name spells it */
SL_STATIC_ASSERT(SCHEMA_VERSION == 1);       /* the last line of schema_sql spells it */
SL_STATIC_ASSERT(SL_SHARDS_PER_STREAM_MAX < UINT32_MAX);

static const char schema_sql[] =
    "CREATE TABLE streams ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id BETWEEN 1 AND 4294967295),"
    " name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),"
    " status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),"
    " mode INTEGER NOT NULL CHECK (mode BETWEEN 0 AND 1),"
    " durability INTEGER NOT NULL CHECK (durability BETWEEN 0 AND 2),"
    " retention_hours INTEGER NOT NULL,"
    " retention_bytes INTEGER NOT NULL,"
    " max_record_bytes INTEGER NOT NULL,"
    " next_shard_id INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE shards ("
    " stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,"
    " shard_id INTEGER NOT NULL,"
    " start_hash BLOB NOT NULL CHECK (length(start_hash) = 16),"
    " end_hash BLOB NOT NULL CHECK (length(end_hash) = 16),"
    " parent_id INTEGER,"
    " adjacent_parent_id INTEGER,"
    " seq_prefix INTEGER NOT NULL,"
    " closed INTEGER NOT NULL CHECK (closed IN (0, 1)),"
    " end_seq BLOB CHECK (end_seq IS NULL OR length(end_seq) = 16),"
    " PRIMARY KEY (stream_id, shard_id),"
    " UNIQUE (stream_id, seq_prefix)) WITHOUT ROWID;"
    "CREATE TABLE tags ("
    " stream_id INTEGER NOT NULL REFERENCES streams (id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (stream_id, key)) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

/* The columns read_stream() expects, in order. */
#define STREAM_COLS                                                                                \
	"s.id, s.name, s.status, s.mode, s.durability, s.retention_hours, s.retention_bytes,"      \
	" s.max_record_bytes, s.next_shard_id, s.created_ms,"                                      \
	" (SELECT count(*) FROM shards h WHERE h.stream_id = s.id AND h.closed = 0)"

/* The columns read_shard() expects, in order. */
#define SHARD_COLS                                                                                 \
	"stream_id, shard_id, start_hash, end_hash, parent_id, adjacent_parent_id, seq_prefix,"    \
	" closed, end_seq"

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_STREAM_INSERT,
	ST_SHARD_INSERT,
	ST_STREAM_BY_NAME,
	ST_STREAM_BY_ID,
	ST_STREAM_EXISTS,
	ST_STREAM_PAGE,
	ST_STREAM_SET_STATUS,
	ST_STREAM_SET_RETENTION,
	ST_STREAM_DELETE,
	ST_SHARD_PAGE,
	ST_TAG_UPSERT,
	ST_TAG_COUNT,
	ST_TAG_DELETE,
	ST_TAG_PAGE,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_STREAM_INSERT] = "INSERT INTO streams (name, status, mode, durability, retention_hours,"
			 " retention_bytes, max_record_bytes, next_shard_id, created_ms)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_SHARD_INSERT] = "INSERT INTO shards (" SHARD_COLS ")"
			" VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, 0, NULL)",
    [ST_STREAM_BY_NAME] = "SELECT " STREAM_COLS " FROM streams s WHERE s.name = ?1",
    [ST_STREAM_BY_ID] = "SELECT " STREAM_COLS " FROM streams s WHERE s.id = ?1",
    [ST_STREAM_EXISTS] = "SELECT 1 FROM streams WHERE id = ?1",
    [ST_STREAM_PAGE] = "SELECT " STREAM_COLS " FROM streams s WHERE s.name > ?1"
		       " ORDER BY s.name LIMIT ?2",
    [ST_STREAM_SET_STATUS] = "UPDATE streams SET status = ?2 WHERE id = ?1",
    [ST_STREAM_SET_RETENTION] = "UPDATE streams SET retention_hours = ?2 WHERE id = ?1",
    [ST_STREAM_DELETE] = "DELETE FROM streams WHERE id = ?1",
    [ST_SHARD_PAGE] = "SELECT " SHARD_COLS " FROM shards WHERE stream_id = ?1 AND shard_id > ?2"
		      " ORDER BY shard_id LIMIT ?3",
    [ST_TAG_UPSERT] = "INSERT INTO tags (stream_id, key, value) VALUES (?1, ?2, ?3)"
		      " ON CONFLICT (stream_id, key) DO UPDATE SET value = excluded.value",
    [ST_TAG_COUNT] = "SELECT count(*) FROM tags WHERE stream_id = ?1",
    [ST_TAG_DELETE] = "DELETE FROM tags WHERE stream_id = ?1 AND key = ?2",
    /* ?2 NULL: from the first key (an empty key would not be > ''). */
    [ST_TAG_PAGE] = "SELECT key, value FROM tags WHERE stream_id = ?1"
		    " AND (?2 IS NULL OR key > ?2) ORDER BY key LIMIT ?3",
};

struct sl_meta {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

/* A tag copied out of a statement: one allocation, key then value. */
struct tag_row {
	char *key; /* owns the allocation */
	const char *value;
};

/* Log SQLite's message for a failed step and map its code to an errno. */
static int db_fail(struct sl_meta *m, int rc, const char *what)
{
	SL_ERR("meta", "%s: %s (sqlite %d)", what, sqlite3_errmsg(m->db), rc);
	return (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

/* Ready a cached statement for its next use; drops borrowed bindings. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/*
 * Binding to a valid index of a prepared statement fails only on misuse;
 * text and blobs are bound SQLITE_STATIC (no copy, so no allocation) and
 * must live until stmt_done().
 */
static void bind_i64(sqlite3_stmt *st, int idx, int64_t v)
{
	int rc = sqlite3_bind_int64(st, idx, v);
	SL_ASSERT(rc == SQLITE_OK);
}

static void bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	int rc = sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
	SL_ASSERT(rc == SQLITE_OK);
}

static void bind_blob16(sqlite3_stmt *st, int idx, const uint8_t *b)
{
	int rc = sqlite3_bind_blob(st, idx, b, HASH_BYTES, SQLITE_STATIC);
	SL_ASSERT(rc == SQLITE_OK);
}

/* Run a statement that returns no rows, then reset it. 0 or -errno. */
static int run(struct sl_meta *m, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = m->st[id];
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE ? 0 : db_fail(m, rc, what);
	stmt_done(st);
	return err;
}

/* A one-statement change to one stream: -ENOENT when no row matched. */
static int run_on_stream(struct sl_meta *m, enum stmt_id id, const char *what)
{
	int err = run(m, id, what);
	if (err == 0 && sqlite3_changes(m->db) == 0)
		err = -ENOENT;
	return err;
}

static int tx_begin(struct sl_meta *m)
{
	SL_ASSERT(sqlite3_get_autocommit(m->db)); /* no transaction is left open */
	return run(m, ST_BEGIN, "begin");
}

/* Commit when err is 0, else (or when the commit fails) roll back. */
static int tx_end(struct sl_meta *m, int err)
{
	if (err == 0)
		err = run(m, ST_COMMIT, "commit");
	/* SQLite may already have rolled back (on BUSY, FULL, IOERR, NOMEM). */
	if (err != 0 && !sqlite3_get_autocommit(m->db))
		(void)run(m, ST_ROLLBACK, "rollback");
	SL_ASSERT(sqlite3_get_autocommit(m->db));
	return err;
}

/* One integer from a one-row statement (a PRAGMA) run once. */
static int query_int(struct sl_meta *m, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(m, rc, sql);
	rc = sqlite3_step(st);
	int err = rc == SQLITE_ROW ? 0 : db_fail(m, rc, sql);
	if (err == 0)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return err;
}

static int exec(struct sl_meta *m, const char *sql, const char *what)
{
	int rc = sqlite3_exec(m->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(m, rc, what);
}

/* 0 when the file holds our schema version or none yet; -EPROTO if newer. */
static int check_version(struct sl_meta *m, int64_t *version)
{
	int err = query_int(m, "PRAGMA user_version", version);
	if (err != 0)
		return err;
	if (*version > SCHEMA_VERSION || *version < 0) {
		SL_ERR("meta", "schema version %lld, this build knows up to %d",
		       (long long)*version, SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

static int set_journal_wal(struct sl_meta *m)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(m->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(m, rc, "journal_mode");
	rc = sqlite3_step(st);
	int err = rc == SQLITE_ROW ? 0 : db_fail(m, rc, "journal_mode");
	const char *mode = err == 0 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (err == 0 && (mode == NULL || strcmp(mode, "wal") != 0)) {
		SL_ERR("meta", "journal_mode is %s, not wal", mode ? mode : "unknown");
		err = -EIO;
	}
	sqlite3_finalize(st);
	return err;
}

/*
 * Connection settings, then the schema. The version is read before anything
 * is written, so a newer file is refused untouched; it is read again inside
 * the transaction that creates the schema, in case another process created
 * it meanwhile.
 */
static int setup(struct sl_meta *m)
{
	int64_t version;
	int err;

	sqlite3_extended_result_codes(m->db, 1);
	sqlite3_busy_timeout(m->db, BUSY_TIMEOUT_MS);
	if ((err = check_version(m, &version)) != 0 || (err = set_journal_wal(m)) != 0 ||
	    (err = exec(m, "PRAGMA synchronous = FULL", "synchronous")) != 0 ||
	    (err = exec(m, "PRAGMA foreign_keys = ON", "foreign_keys")) != 0)
		return err;
	if (version == SCHEMA_VERSION)
		return 0;
	if ((err = exec(m, "BEGIN IMMEDIATE", "begin")) != 0)
		return err;
	err = check_version(m, &version);
	if (err == 0 && version == 0)
		err = exec(m, schema_sql, "create schema");
	if (err == 0)
		return exec(m, "COMMIT", "commit");
	if (!sqlite3_get_autocommit(m->db))
		(void)exec(m, "ROLLBACK", "rollback");
	return err;
}

static int prepare_all(struct sl_meta *m)
{
	for (unsigned i = 0; i < ST_COUNT; i++) {
		SL_ASSERT(stmt_sql[i] != NULL);
		int rc = sqlite3_prepare_v3(m->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &m->st[i], NULL);
		if (rc != SQLITE_OK)
			return db_fail(m, rc, stmt_sql[i]);
	}
	return 0;
}

int sl_meta_open(const char *path, struct sl_meta **out)
{
	SL_ASSERT(path != NULL);
	SL_ASSERT(out != NULL);
	struct sl_meta *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &m->db, flags, NULL);
	int err;
	if (rc != SQLITE_OK) {
		err = m->db != NULL ? db_fail(m, rc, path) : -ENOMEM;
		goto err_close;
	}
	if ((err = setup(m)) != 0 || (err = prepare_all(m)) != 0)
		goto err_close;
	*out = m;
	return 0;

err_close:
	sl_meta_close(m);
	return err;
}

void sl_meta_close(struct sl_meta *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(m->st[i]); /* NULL: no-op */
	if (sqlite3_close(m->db) != SQLITE_OK)
		SL_ERR("meta", "close: %s", sqlite3_errmsg(m->db));
	free(m);
}

sl_u128 sl_meta_hash_range_size(uint32_t n)
{
	SL_ASSERT(n >= 1);
	if (n == 1)
		return SL_U128_MAX;
	/* 2^128 = SL_U128_MAX + 1, so floor(2^128 / n) is SL_U128_MAX / n, plus
	 * one when the remainder of that division is n - 1. */
	sl_u128 q = SL_U128_MAX / n;
	if (SL_U128_MAX % n == n - 1)
		q++;
	return q;
}

/*
 * The high 64 bits of every sequence number of a shard. It must differ
 * between the shards of a stream and never be given twice; shard ids are
 * never reused within a stream (next_shard_id only grows), so shard_id + 1
 * does both (never 0, so no sequence number of any shard is below 2^64).
 * The stream id is not in it: sequence numbers are unique within a stream,
 * not across streams, as in Kinesis.
 */
static uint64_t shard_seq_prefix(uint32_t shard_id)
{
	return (uint64_t)shard_id + 1;
}

static int insert_stream(struct sl_meta *m, const struct sl_meta_stream *s, uint32_t shard_count,
			 uint64_t now_ms, uint32_t *id)
{
	sqlite3_stmt *st = m->st[ST_STREAM_INSERT];
	bind_text(st, 1, s->name);
	bind_i64(st, 2, SL_STREAM_CREATING);
	bind_i64(st, 3, s->mode);
	bind_i64(st, 4, s->durability);
	bind_i64(st, 5, s->retention_hours);
	bind_i64(st, 6, (int64_t)s->retention_bytes); /* read back as u64: same bits */
	bind_i64(st, 7, s->max_record_bytes);
	bind_i64(st, 8, shard_count);
	bind_i64(st, 9, (int64_t)now_ms);
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		err = -EEXIST; /* the only UNIQUE column is name */
	else if (rc != SQLITE_DONE)
		err = db_fail(m, rc, "insert stream");
	stmt_done(st);
	if (err != 0)
		return err;
	int64_t rowid = sqlite3_last_insert_rowid(m->db);
	SL_ASSERT(rowid >= 1);
	SL_ASSERT(rowid <= UINT32_MAX); /* the CHECK on streams.id */
	*id = (uint32_t)rowid;
	return 0;
}

/* Shard i of n of a new stream: its share of 0..2^128-1 as Kinesis splits it. */
static int insert_shard(struct sl_meta *m, uint32_t stream_id, uint32_t i, uint32_t n)
{
	SL_ASSERT(i < n);
	sl_u128 size = sl_meta_hash_range_size(n);
	sl_u128 start = (sl_u128)i * size;
	sl_u128 end = i == n - 1 ? SL_U128_MAX : start + size - 1;
	uint8_t start_be[HASH_BYTES], end_be[HASH_BYTES];
	SL_ASSERT(start <= end);
	sl_u128_store_be(start_be, start);
	sl_u128_store_be(end_be, end);

	sqlite3_stmt *st = m->st[ST_SHARD_INSERT];
	bind_i64(st, 1, stream_id);
	bind_i64(st, 2, i);
	bind_blob16(st, 3, start_be);
	bind_blob16(st, 4, end_be);
	bind_i64(st, 5, (int64_t)shard_seq_prefix(i));
	return run(m, ST_SHARD_INSERT, "insert shard");
}

/* The inputs the header leaves to callers to validate. */
static void assert_stream_inputs(const struct sl_meta_stream *s, uint32_t shard_count)
{
	size_t name_len = strnlen(s->name, sizeof(s->name));
	SL_ASSERT(name_len >= 1);
	SL_ASSERT(name_len <= SL_STREAM_NAME_MAX);
	SL_ASSERT(shard_count >= 1);
	SL_ASSERT(shard_count <= SL_SHARDS_PER_STREAM_MAX);
	SL_ASSERT(s->retention_hours >= SL_META_RETENTION_H_MIN);
	SL_ASSERT(s->retention_hours <= SL_META_RETENTION_H_MAX);
	SL_ASSERT((unsigned)s->mode <= SL_STREAM_ON_DEMAND);
	SL_ASSERT((unsigned)s->durability <= SL_DURABILITY_NONE);
}

int sl_meta_stream_create(struct sl_meta *m, struct sl_meta_stream *s, uint32_t shard_count,
			  uint64_t now_ms)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(s != NULL);
	assert_stream_inputs(s, shard_count);
	uint32_t id = 0;
	int err = tx_begin(m);
	if (err != 0)
		return err;
	err = insert_stream(m, s, shard_count, now_ms, &id);
	for (uint32_t i = 0; err == 0 && i < shard_count; i++)
		err = insert_shard(m, id, i, shard_count);
	err = tx_end(m, err);
	if (err != 0)
		return err;
	s->id = id;
	s->status = SL_STREAM_CREATING;
	s->open_shard_count = shard_count;
	s->next_shard_id = shard_count;
	s->created_ms = now_ms;
	return 0;
}

/* A stream row (STREAM_COLS) into *out; -EIO for a name that cannot be ours. */
static int read_stream(sqlite3_stmt *st, struct sl_meta_stream *out)
{
	const unsigned char *name = sqlite3_column_text(st, 1);
	int name_len = sqlite3_column_bytes(st, 1);
	if (name == NULL || name_len < 1 || name_len > SL_STREAM_NAME_MAX) {
		SL_ERR("meta", "stream %lld: bad name in the database",
		       (long long)sqlite3_column_int64(st, 0));
		return -EIO;
	}
	memset(out, 0, sizeof(*out));
	out->id = (uint32_t)sqlite3_column_int64(st, 0);
	memcpy(out->name, name, (size_t)name_len);
	out->name[name_len] = '\0';
	out->status = (enum sl_stream_status)sqlite3_column_int(st, 2);
	out->mode = (enum sl_stream_mode)sqlite3_column_int(st, 3);
	out->durability = (enum sl_durability)sqlite3_column_int(st, 4);
	out->retention_hours = (uint32_t)sqlite3_column_int64(st, 5);
	out->retention_bytes = (uint64_t)sqlite3_column_int64(st, 6);
	out->max_record_bytes = (uint32_t)sqlite3_column_int64(st, 7);
	out->next_shard_id = (uint32_t)sqlite3_column_int64(st, 8);
	out->created_ms = (uint64_t)sqlite3_column_int64(st, 9);
	out->open_shard_count = (uint32_t)sqlite3_column_int64(st, 10);
	return 0;
}

/* Run a bound one-stream query: 0 and *out, -ENOENT, or -EIO. */
static int get_stream(struct sl_meta *m, enum stmt_id id, struct sl_meta_stream *out)
{
	sqlite3_stmt *st = m->st[id];
	int rc = sqlite3_step(st);
	int err;
	if (rc == SQLITE_ROW)
		err = read_stream(st, out);
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = db_fail(m, rc, "get stream");
	stmt_done(st);
	return err;
}

int sl_meta_stream_get(struct sl_meta *m, const char *name, struct sl_meta_stream *out)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(name != NULL);
	SL_ASSERT(out != NULL);
	bind_text(m->st[ST_STREAM_BY_NAME], 1, name);
	return get_stream(m, ST_STREAM_BY_NAME, out);
}

int sl_meta_stream_get_id(struct sl_meta *m, uint32_t id, struct sl_meta_stream *out)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(out != NULL);
	bind_i64(m->st[ST_STREAM_BY_ID], 1, id);
	return get_stream(m, ST_STREAM_BY_ID, out);
}

/* 0 if stream `id` exists, -ENOENT if not, or -EIO. */
static int stream_exists(struct sl_meta *m, uint32_t id)
{
	sqlite3_stmt *st = m->st[ST_STREAM_EXISTS];
	bind_i64(st, 1, id);
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_ROW    ? 0
		  : rc == SQLITE_DONE ? -ENOENT
				      : db_fail(m, rc, "find stream");
	stmt_done(st);
	return err;
}

int sl_meta_stream_set_status(struct sl_meta *m, uint32_t id, enum sl_stream_status st)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT((unsigned)st <= SL_STREAM_UPDATING);
	bind_i64(m->st[ST_STREAM_SET_STATUS], 1, id);
	bind_i64(m->st[ST_STREAM_SET_STATUS], 2, st);
	return run_on_stream(m, ST_STREAM_SET_STATUS, "set status");
}

int sl_meta_stream_set_retention(struct sl_meta *m, uint32_t id, uint32_t hours)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(hours >= SL_META_RETENTION_H_MIN);
	SL_ASSERT(hours <= SL_META_RETENTION_H_MAX);
	bind_i64(m->st[ST_STREAM_SET_RETENTION], 1, id);
	bind_i64(m->st[ST_STREAM_SET_RETENTION], 2, hours);
	return run_on_stream(m, ST_STREAM_SET_RETENTION, "set retention");
}

/* One statement: foreign keys delete the shards and tags with the stream. */
int sl_meta_stream_delete(struct sl_meta *m, uint32_t id)
{
	SL_ASSERT(m != NULL);
	bind_i64(m->st[ST_STREAM_DELETE], 1, id);
	return run_on_stream(m, ST_STREAM_DELETE, "delete stream");
}

/* Up to `want` streams with names > from, in name order, into rows. */
static int stream_page(struct sl_meta *m, const char *from, uint32_t want,
		       struct sl_meta_stream *rows, uint32_t *got)
{
	sqlite3_stmt *st = m->st[ST_STREAM_PAGE];
	int err = 0;
	bind_text(st, 1, from);
	bind_i64(st, 2, want);
	*got = 0;
	while (err == 0 && *got < want) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		err = rc == SQLITE_ROW ? read_stream(st, &rows[*got])
				       : db_fail(m, rc, "list streams");
		*got += err == 0;
	}
	stmt_done(st);
	return err;
}

int sl_meta_stream_list(struct sl_meta *m, const char *after, uint32_t limit, sl_meta_stream_fn *fn,
			void *arg)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(fn != NULL);
	struct sl_meta_stream rows[PAGE_ROWS];
	char cursor[SL_STREAM_NAME_MAX + 1];
	const char *from = after != NULL ? after : ""; /* every name is > "" */
	uint32_t left = limit;

	/* Bounded: each page takes at least one off `left` or ends the list. */
	while (left > 0) {
		uint32_t want = left < PAGE_ROWS ? left : PAGE_ROWS;
		uint32_t got;
		int err = stream_page(m, from, want, rows, &got);
		if (err != 0)
			return err;
		for (uint32_t i = 0; i < got; i++) {
			int rc = fn(&rows[i], arg);
			if (rc != 0)
				return rc;
		}
		if (got < want)
			return 0;
		left -= got;
		memcpy(cursor, rows[got - 1].name, sizeof(cursor));
		from = cursor;
	}
	return 0;
}

/* A shard row (SHARD_COLS) into *out; -EIO for a malformed BLOB. */
static int read_shard(sqlite3_stmt *st, struct sl_meta_shard *out)
{
	const void *start = sqlite3_column_blob(st, 2);
	bool start_ok = start != NULL && sqlite3_column_bytes(st, 2) == HASH_BYTES;
	const void *end = sqlite3_column_blob(st, 3);
	bool end_ok = end != NULL && sqlite3_column_bytes(st, 3) == HASH_BYTES;
	bool open = sqlite3_column_type(st, 8) == SQLITE_NULL;
	const void *end_seq = open ? NULL : sqlite3_column_blob(st, 8);
	bool end_seq_ok = open || (end_seq != NULL && sqlite3_column_bytes(st, 8) == HASH_BYTES);
	if (!start_ok || !end_ok || !end_seq_ok) {
		SL_ERR("meta", "stream %lld shard %lld: bad hash key or end_seq in the database",
		       (long long)sqlite3_column_int64(st, 0),
		       (long long)sqlite3_column_int64(st, 1));
		return -EIO;
	}
	memset(out, 0, sizeof(*out));
	out->stream_id = (uint32_t)sqlite3_column_int64(st, 0);
	out->shard_id = (uint32_t)sqlite3_column_int64(st, 1);
	out->start_hash = sl_u128_load_be(start);
	out->end_hash = sl_u128_load_be(end);
	out->parent_id =
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
	out->adjacent_parent_id =
	    sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
	out->seq_prefix = (uint64_t)sqlite3_column_int64(st, 6);
	out->closed = sqlite3_column_int(st, 7) != 0;
	out->end_seq = open ? 0 : sl_u128_load_be(end_seq);
	return 0;
}

/* Up to PAGE_ROWS shards of a stream with ids > from, in id order. */
static int shard_page(struct sl_meta *m, uint32_t stream_id, int64_t from,
		      struct sl_meta_shard *rows, uint32_t *got)
{
	sqlite3_stmt *st = m->st[ST_SHARD_PAGE];
	int err = 0;
	bind_i64(st, 1, stream_id);
	bind_i64(st, 2, from);
	bind_i64(st, 3, PAGE_ROWS);
	*got = 0;
	while (err == 0 && *got < PAGE_ROWS) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		err =
		    rc == SQLITE_ROW ? read_shard(st, &rows[*got]) : db_fail(m, rc, "list shards");
		*got += err == 0;
	}
	stmt_done(st);
	return err;
}

int sl_meta_shard_list(struct sl_meta *m, uint32_t stream_id, sl_meta_shard_fn *fn, void *arg)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(fn != NULL);
	struct sl_meta_shard rows[PAGE_ROWS];
	int64_t from = -1; /* below every shard id */
	int err = stream_exists(m, stream_id);
	if (err != 0)
		return err;
	for (uint32_t page = 0; page < SHARD_PAGES_MAX; page++) {
		uint32_t got;
		err = shard_page(m, stream_id, from, rows, &got);
		if (err != 0)
			return err;
		for (uint32_t i = 0; i < got; i++) {
			int rc = fn(&rows[i], arg);
			if (rc != 0)
				return rc;
		}
		if (got < PAGE_ROWS)
			return 0;
		from = rows[got - 1].shard_id;
	}
	return 0;
}

static int tag_upsert(struct sl_meta *m, uint32_t stream_id, const char *key, const char *value)
{
	SL_ASSERT(key != NULL);
	SL_ASSERT(value != NULL);
	sqlite3_stmt *st = m->st[ST_TAG_UPSERT];
	bind_i64(st, 1, stream_id);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	return run(m, ST_TAG_UPSERT, "set tag");
}

/* Inside the transaction that set tags: -ENOSPC if the stream has too many. */
static int tags_check_count(struct sl_meta *m, uint32_t stream_id)
{
	sqlite3_stmt *st = m->st[ST_TAG_COUNT];
	bind_i64(st, 1, stream_id);
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_ROW ? 0 : db_fail(m, rc, "count tags");
	if (err == 0 && sqlite3_column_int64(st, 0) > SL_META_TAGS_MAX)
		err = -ENOSPC;
	stmt_done(st);
	return err;
}

/*
 * Keys already set are replaced, so the limit is checked on the count after
 * the change (a key given twice counts once; the last value wins), and a
 * change past it is rolled back whole.
 */
int sl_meta_tags_set(struct sl_meta *m, uint32_t stream_id, const char *const *keys,
		     const char *const *values, unsigned n)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(n == 0 || (keys != NULL && values != NULL));
	int err = tx_begin(m);
	if (err != 0)
		return err;
	err = stream_exists(m, stream_id);
	for (unsigned i = 0; err == 0 && i < n; i++)
		err = tag_upsert(m, stream_id, keys[i], values[i]);
	if (err == 0)
		err = tags_check_count(m, stream_id);
	return tx_end(m, err);
}

int sl_meta_tags_remove(struct sl_meta *m, uint32_t stream_id, const char *const *keys, unsigned n)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(n == 0 || keys != NULL);
	int err = tx_begin(m);
	if (err != 0)
		return err;
	err = stream_exists(m, stream_id);
	for (unsigned i = 0; err == 0 && i < n; i++) {
		SL_ASSERT(keys[i] != NULL);
		bind_i64(m->st[ST_TAG_DELETE], 1, stream_id);
		bind_text(m->st[ST_TAG_DELETE], 2, keys[i]);
		err = run(m, ST_TAG_DELETE, "remove tag"); /* no row: absent, ignored */
	}
	return tx_end(m, err);
}

static void tag_rows_free(struct tag_row *rows, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		free(rows[i].key);
}

/* Copy the current row (key, value) of st into *row. 0 or -ENOMEM / -EIO. */
static int tag_row_copy(struct sl_meta *m, sqlite3_stmt *st, struct tag_row *row)
{
	const unsigned char *key = sqlite3_column_text(st, 0);
	size_t key_len = (size_t)sqlite3_column_bytes(st, 0);
	const unsigned char *value = sqlite3_column_text(st, 1);
	size_t value_len = (size_t)sqlite3_column_bytes(st, 1);
	if (key == NULL || value == NULL)
		return db_fail(m, sqlite3_errcode(m->db), "read tag");
	char *buf = malloc(key_len + 1 + value_len + 1);
	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, key, key_len + 1);
	memcpy(buf + key_len + 1, value, value_len + 1);
	row->key = buf;
	row->value = buf + key_len + 1;
	return 0;
}

/* Up to PAGE_ROWS tags of a stream with keys > from (NULL: from the first). */
static int tag_page(struct sl_meta *m, uint32_t stream_id, const char *from, struct tag_row *rows,
		    uint32_t *got)
{
	sqlite3_stmt *st = m->st[ST_TAG_PAGE];
	int err = 0;
	bind_i64(st, 1, stream_id);
	if (from != NULL)
		bind_text(st, 2, from);
	bind_i64(st, 3, PAGE_ROWS);
	*got = 0;
	while (err == 0 && *got < PAGE_ROWS) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		err = rc == SQLITE_ROW ? tag_row_copy(m, st, &rows[*got])
				       : db_fail(m, rc, "list tags");
		*got += err == 0;
	}
	stmt_done(st);
	if (err != 0)
		tag_rows_free(rows, *got);
	return err;
}

int sl_meta_tags_list(struct sl_meta *m, uint32_t stream_id, sl_meta_tag_fn *fn, void *arg)
{
	SL_ASSERT(m != NULL);
	SL_ASSERT(fn != NULL);
	struct tag_row rows[PAGE_ROWS];
	char *cursor = NULL; /* the last key of the previous page, owned */
	int err = stream_exists(m, stream_id);
	if (err != 0)
		return err;
	for (uint32_t page = 0; page < TAG_PAGES_MAX; page++) {
		uint32_t got;
		err = tag_page(m, stream_id, cursor, rows, &got);
		free(cursor);
		cursor = NULL;
		if (err != 0)
			return err;
		int rc = 0;
		for (uint32_t i = 0; i < got && rc == 0; i++)
			rc = fn(rows[i].key, rows[i].value, arg);
		bool more = rc == 0 && got == PAGE_ROWS;
		if (more) /* keep the last row's allocation as the next cursor */
			cursor = rows[--got].key;
		tag_rows_free(rows, got);
		if (!more)
			return rc;
	}
	free(cursor);
	return 0;
}
