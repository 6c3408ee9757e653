/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record and batch types that every ingest door and the storage engine
 * share. dataplane/ (SLW1 over DPDK or kernel sockets) and control/ (Kinesis
 * PutRecord(s)) build a struct sl_append for each (frame, shard) pair and
 * enqueue it on that shard's ring; storage/ consumes it, stores the records
 * contiguously with consecutive sequence numbers, and calls `done` once the
 * stream's durability mode is satisfied. dataplane and storage never include
 * each other; they meet here.
 *
 * Limits are the Kinesis ones; every door checks them before it allocates or
 * decodes anything.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/assert.h>
#include <sluice/u128.h>

#define SL_STREAM_NAME_MAX       128         /* [a-zA-Z0-9_.-]{1,128} */
#define SL_PARTITION_KEY_MAX     256         /* 1..256 characters */
#define SL_RECORD_SIZE_DEFAULT   (1u << 20)  /* key + data, per stream */
#define SL_RECORD_SIZE_LIMIT     (10u << 20) /* UpdateMaxRecordSize ceiling */
#define SL_FRAME_RECORDS_MAX     500         /* SLW1 record_count, PutRecords entries */
#define SL_SHARDS_PER_STREAM_MAX 4096

SL_STATIC_ASSERT(SL_PARTITION_KEY_MAX < SL_RECORD_SIZE_DEFAULT);
SL_STATIC_ASSERT(SL_RECORD_SIZE_DEFAULT <= SL_RECORD_SIZE_LIMIT);
SL_STATIC_ASSERT(SL_FRAME_RECORDS_MAX <= UINT16_MAX);

/* Record flags, as SLW1 rflags. */
#define SL_RECORD_F_EXPLICIT_HASH_KEY 0x01u

/*
 * One record as a view: key and data point into a buffer the producer side
 * owns (an mbuf, an HTTP body) until the append completes.
 */
struct sl_record {
	const uint8_t *key;
	const uint8_t *data;
	sl_u128 hash_key; /* MD5(key) as big-endian u128, or the explicit key */
	uint32_t data_len;
	uint16_t key_len;
	uint8_t flags; /* SL_RECORD_F_* */
};

/* Per stream: when an append counts as done (SPEC §4). */
enum sl_durability {
	SL_DURABILITY_FSYNC = 0, /* on disk and fdatasync'd (default) */
	SL_DURABILITY_WRITE = 1, /* the write completed */
	SL_DURABILITY_NONE = 2,  /* enqueued */
};

/* Outcome of an append, one per (frame, shard); values are SLW1 statuses. */
enum sl_append_status {
	SL_APPEND_OK = 0,
	SL_APPEND_THROTTLED = 2,
	SL_APPEND_STREAM_NOT_FOUND = 3,
	SL_APPEND_INTERNAL = 7,
	SL_APPEND_SHUTTING_DOWN = 9,
};

struct sl_append;

/*
 * Called by the shard's writer thread when an append is done (or failed).
 * It must not block: it hands the result to the owning ingest thread
 * (through that thread's completion ring) and returns.
 */
typedef void sl_append_done_fn(struct sl_append *app);

/*
 * The unit on a shard ring: the records of one frame (or one PutRecords
 * request) bound for one shard, stored contiguously, in order. Owned by the
 * ingest path that built it; borrowed by storage from enqueue until `done`.
 */
struct sl_append {
	uint64_t producer_id; /* 0: anonymous, no dedupe */
	uint64_t batch_seq;
	uint64_t arrival_ms; /* wall clock at ingest */
	uint32_t stream_id;
	uint32_t shard_id;
	const struct sl_record *records;
	uint16_t record_count; /* 1..SL_FRAME_RECORDS_MAX */
	uint16_t entry_index;  /* this shard's place among the frame's ack entries */
	uint16_t entry_count;  /* how many shards the frame's records went to */
	/* Filled by storage before done(): */
	uint8_t status;    /* enum sl_append_status */
	sl_u128 first_seq; /* records have first_seq, first_seq + 1, ... */
	sl_append_done_fn *done;
	void *owner; /* the ingest path's context, for done() */
};

/*
 * Whether `name` (`len` bytes, not NUL-terminated) is a valid stream or
 * consumer name: 1..SL_STREAM_NAME_MAX of [a-zA-Z0-9_.-]. Pure.
 */
bool sl_stream_name_valid(const char *name, size_t len);

#endif /* SLUICE_RECORD_H */
