/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shard map: an immutable snapshot of every stream an ingest door can
 * write to (name, limits, durability, and its open shards sorted by hash
 * range), so that RX lcores, the kernel ingest thread and the API route a
 * record with no lock and no SQLite: stream by name (hash table), then shard
 * by binary search over the hash ranges.
 *
 * The store builds a new snapshot on the control thread after every change
 * (stream created or deleted; later reshards) and publishes it with
 * a release store; readers load it with sl_store_shardmap(). Reader threads
 * other than the control thread register with the store's QSBR domain
 * (sl_store_qsbr) and report quiescent states between bursts; the store
 * frees an old snapshot, and the shards of a deleted stream, only after a
 * grace period. A snapshot, and every struct sl_shard it points to, stays
 * valid until the reader's next quiescent state.
 */
#ifndef SLUICE_SHARDMAP_H
#define SLUICE_SHARDMAP_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/meta.h>
#include <sluice/qsbr.h>
#include <sluice/record.h>
#include <sluice/u128.h>

struct sl_store;
struct sl_shard;

struct sl_shardmap_shard {
	sl_u128 start_hash;
	sl_u128 end_hash; /* inclusive */
	uint32_t shard_id;
	struct sl_shard *shard;
};

struct sl_shardmap_stream {
	uint32_t id;
	uint32_t name_len;
	char name[SL_STREAM_NAME_MAX + 1];
	enum sl_stream_status status; /* ACTIVE (or UPDATING) take appends */
	enum sl_durability durability;
	uint32_t max_record_bytes; /* key + data */
	uint32_t shard_count;      /* open shards, by start_hash, covering 0..2^128-1 */
	const struct sl_shardmap_shard *shards;
};

struct sl_shardmap {
	uint64_t version; /* +1 at every publication */
	uint32_t stream_count;
	const struct sl_shardmap_stream *streams; /* by id */
	/* private: open-addressing table of indexes into streams[], by name */
	uint32_t bucket_mask;
	const uint32_t *buckets; /* UINT32_MAX: empty */
};

/* The current snapshot (never NULL once the store is open). Any thread;
 * see above for how long it stays valid. */
const struct sl_shardmap *sl_store_shardmap(struct sl_store *st);

/* The store's QSBR domain, for reader threads to register with. */
struct sl_qsbr *sl_store_qsbr(struct sl_store *st);

/* The stream called name[0..len), or NULL. Pure. */
const struct sl_shardmap_stream *sl_shardmap_stream(const struct sl_shardmap *m, const char *name,
						    size_t len);
const struct sl_shardmap_stream *sl_shardmap_stream_by_id(const struct sl_shardmap *m, uint32_t id);

/* The open shard whose range holds hash (never NULL: the ranges cover every
 * value). Pure. */
const struct sl_shardmap_shard *sl_shardmap_route(const struct sl_shardmap_stream *s, sl_u128 hash);

/*
 * The hash key of a partition key as Kinesis computes it: MD5 of its bytes
 * read as a big-endian unsigned 128-bit integer. Pure, any thread.
 */
sl_u128 sl_hash_partition_key(const uint8_t *key, size_t len);

/*
 * The same for every record of recs[0..n) without
 * SL_RECORD_F_EXPLICIT_HASH_KEY: sets its hash_key. Keys that fit one MD5
 * block (up to 55 bytes) are hashed 16 at a time with AVX-512 when the CPU
 * has it (md5x16.c). Pure, any thread.
 */
void sl_hash_partition_keys(struct sl_record *recs, unsigned n);

/*
 * sl_store_append() for a shard already routed through the map: no lookup,
 * no lock. app->stream_id and shard_id must match sh. Same returns.
 */
int sl_store_append_shard(struct sl_store *st, struct sl_shard *sh, struct sl_append *app);

#endif /* SLUICE_SHARDMAP_H */
