/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Metadata: streams, shards (hash-key ranges, parent/child lineage, the
 * sequence prefix of each), retention, durability mode, tags — in SQLite
 * (<data_dir>/meta.db, WAL, synchronous=FULL). Every change is one
 * transaction: after a crash a change is there whole or not at all.
 *
 * A struct sl_meta is one connection, used by one thread (the control
 * thread at run time; the main thread at boot). Callers validate names and
 * bounds before calling (Kinesis rules live in control/); this layer
 * enforces uniqueness and existence and reports them as errnos:
 * -EEXIST (a live stream has that name), -ENOENT (no such stream),
 * -ENOSPC (a tag limit), -EIO (SQLite failed; logged with its message).
 */
#ifndef SLUICE_META_H
#define SLUICE_META_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/record.h>
#include <sluice/u128.h>

#define SL_META_TAGS_MAX        50 /* per stream, as Kinesis */
#define SL_META_TAG_KEY_MAX     128
#define SL_META_TAG_VALUE_MAX   256
#define SL_META_RETENTION_H_MIN 24
#define SL_META_RETENTION_H_MAX 8760

enum sl_stream_status {
	SL_STREAM_CREATING = 0,
	SL_STREAM_ACTIVE = 1,
	SL_STREAM_DELETING = 2,
	SL_STREAM_UPDATING = 3,
};

enum sl_stream_mode {
	SL_STREAM_PROVISIONED = 0,
	SL_STREAM_ON_DEMAND = 1,
};

struct sl_meta_stream {
	uint32_t id; /* never reused, also after delete */
	char name[SL_STREAM_NAME_MAX + 1];
	enum sl_stream_status status;
	enum sl_stream_mode mode;
	enum sl_durability durability;
	uint32_t retention_hours;  /* 24..8760 */
	uint64_t retention_bytes;  /* per shard; 0 = no size cap */
	uint32_t max_record_bytes; /* key + data; default 1 MiB */
	uint32_t open_shard_count;
	uint32_t next_shard_id;
	uint64_t created_ms;
};

struct sl_meta_shard {
	uint32_t stream_id;
	uint32_t shard_id; /* the N of shardId-N (12 digits in the API) */
	sl_u128 start_hash;
	sl_u128 end_hash;           /* inclusive */
	int64_t parent_id;          /* -1: none */
	int64_t adjacent_parent_id; /* -1: none */
	uint64_t seq_prefix;        /* high 64 bits of every seq of the shard */
	bool closed;
	sl_u128 end_seq; /* when closed: its last sequence number */
};

struct sl_meta;

/* Open (creating the schema if needed). 0 and *out, or -errno. */
int sl_meta_open(const char *path, struct sl_meta **out);
void sl_meta_close(struct sl_meta *m); /* NULL: no-op */

/*
 * Create a stream with `shard_count` shards splitting 0..2^128-1 evenly as
 * Kinesis does (shard i starts at i * floor(2^128 / n); the last ends at
 * 2^128 - 1), status CREATING. s->name, mode, durability, retention_hours,
 * retention_bytes, max_record_bytes are inputs; id, shard ids, created_ms
 * are filled. One transaction.
 */
int sl_meta_stream_create(struct sl_meta *m, struct sl_meta_stream *s, uint32_t shard_count,
			  uint64_t now_ms);
int sl_meta_stream_get(struct sl_meta *m, const char *name, struct sl_meta_stream *out);
int sl_meta_stream_get_id(struct sl_meta *m, uint32_t id, struct sl_meta_stream *out);
int sl_meta_stream_set_status(struct sl_meta *m, uint32_t id, enum sl_stream_status st);
int sl_meta_stream_set_retention(struct sl_meta *m, uint32_t id, uint32_t hours);
/* Remove the stream, its shards and tags. */
int sl_meta_stream_delete(struct sl_meta *m, uint32_t id);

/* Visit streams in name order, names > after (NULL: from the start), at
 * most limit. The callback returns 0 to go on, non-zero to stop (returned). */
typedef int sl_meta_stream_fn(const struct sl_meta_stream *s, void *arg);
int sl_meta_stream_list(struct sl_meta *m, const char *after, uint32_t limit, sl_meta_stream_fn *fn,
			void *arg);

/* Visit a stream's shards in shard_id order. */
typedef int sl_meta_shard_fn(const struct sl_meta_shard *sh, void *arg);
int sl_meta_shard_list(struct sl_meta *m, uint32_t stream_id, sl_meta_shard_fn *fn, void *arg);

/* Tags: set (insert or replace; -ENOSPC past SL_META_TAGS_MAX, nothing
 * changed), remove (absent keys ignored), list in key order. */
int sl_meta_tags_set(struct sl_meta *m, uint32_t stream_id, const char *const *keys,
		     const char *const *values, unsigned n);
int sl_meta_tags_remove(struct sl_meta *m, uint32_t stream_id, const char *const *keys, unsigned n);
typedef int sl_meta_tag_fn(const char *key, const char *value, void *arg);
int sl_meta_tags_list(struct sl_meta *m, uint32_t stream_id, sl_meta_tag_fn *fn, void *arg);

/* floor(2^128 / n) for n >= 2; for n = 1, 2^128 - 1 (2^128 does not fit).
 * Pure. */
sl_u128 sl_meta_hash_range_size(uint32_t n);

#endif /* SLUICE_META_H */
