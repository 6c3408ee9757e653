/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage engine: per-shard logs under <data_dir>/shards, metadata in
 * <data_dir>/meta.db, shard writer threads.
 *
 * Ownership and threads:
 * - sl_store_open/close run on the main thread at boot and shutdown; open
 *   recovers every shard (checks each batch CRC of the newest segment,
 *   truncates a torn tail, reports corruption in the middle of a log).
 * - Each shard is owned by exactly one writer (shard i of the store goes to
 *   writer i % writers); sl_store_writer_run is the writer thread's loop.
 * - Any thread appends (sl_store_append): the append goes onto the shard's
 *   lock-free ring; the writer copies its records into a batch, assigns
 *   sequence numbers, writes and group-commits, and calls app->done once
 *   the stream's durability mode is satisfied (or with an error status).
 * - Readers (sl_store_read) run on any thread but never see a record past
 *   the shard's visible watermark: durable (fdatasync'd) in fsync mode,
 *   written in write mode.
 * - Stream and shard creation/deletion go through the control thread:
 *   sl_store_stream_create etc. update the metadata (one transaction) and
 *   hand new shards to their writers through each writer's mailbox.
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sluice/config.h>
#include <sluice/io.h>
#include <sluice/meta.h>
#include <sluice/record.h>
#include <sluice/segment.h>
#include <sluice/u128.h>

struct sl_store;
struct sl_shard;

struct sl_store_options {
	const char *data_dir;
	uint32_t writers;          /* 1..64 */
	uint64_t segment_bytes;    /* roll when a segment reaches this size */
	uint64_t segment_age_ms;   /* roll when the active segment is this old */
	uint32_t batch_bytes;      /* a batch buffer; also the largest append */
	uint32_t linger_us;        /* wait this long for more before submitting */
	uint32_t commits_inflight; /* group commits a shard keeps in flight, 1..4 */
	uint64_t prealloc_bytes;   /* reserve this much ahead of the batches; 0: off */
	uint32_t ring_slots;       /* per shard, power of two */
	bool direct_io;            /* O_DIRECT segment writes (4 KiB padded) */
	uint32_t tail_bytes;       /* per shard tail cache (newest batches); 0: none */
	/* Tests: make the writers' I/O through a fault layer with this plan
	 * (NULL: real io_uring only). */
	const struct sl_io_fault_plan *fault_plan;
};

/* The "storage" counter set (commits, their latency in buckets, rolls,
 * reservations, appends failed by storage): one block per writer thread,
 * registered by sl_store_open so /metrics shows it from boot. */
struct sl_counter_set;
extern const struct sl_counter_set sl_store_counters;

/* Defaults from the configuration ([storage] keys); data_dir borrowed. */
void sl_store_options_from_config(struct sl_store_options *o, const struct sl_config *cfg);

/*
 * Open the store: metadata, every shard, recovery. Returns 0 and *out, or
 * -errno (logged with the file and offset when recovery found corruption
 * in the middle of a log: -EUCLEAN; the store is still opened read-only
 * for that shard in that case and the shard refuses appends).
 */
int sl_store_open(const struct sl_store_options *o, struct sl_store **out);

/* Refuse further appends (-ESHUTDOWN): the first step of a clean stop,
 * before the writers are asked to drain and return. Any thread. */
void sl_store_stop_appends(struct sl_store *st);

/* Whether sl_store_stop_appends() was called. Any thread. */
bool sl_store_stopping(const struct sl_store *st);

/* Close: every writer must have returned. Flushes nothing itself. */
void sl_store_close(struct sl_store *st);

/* The writer thread's loop (sl_thread_fn shape): runs until stop_fd is
 * readable, then drains its rings, commits what it holds, and returns 0;
 * or returns a negative errno when its io_uring failed. */
int sl_store_writer_run(struct sl_store *st, unsigned writer, int stop_fd);

/* ---- streams (control thread) ---- */

int sl_store_stream_create(struct sl_store *st, struct sl_meta_stream *s, uint32_t shards);
int sl_store_stream_delete(struct sl_store *st, uint32_t stream_id);
/* Change a stream's retention (metadata and every shard's reads and
 * deletions at once). hours 24..8760, checked by the caller. */
int sl_store_stream_set_retention(struct sl_store *st, uint32_t stream_id, uint32_t hours);

/*
 * Retention: delete every sealed segment whose records have all expired,
 * and the oldest sealed segments of a shard over its size cap. Control
 * thread, about once a second. Returns how many segments it deleted.
 */
int sl_store_retention_tick(struct sl_store *st, uint64_t now_ms);
struct sl_meta *sl_store_meta(struct sl_store *st);

/* The shard object for (stream, shard), or NULL. Valid until the stream is
 * deleted. Any thread. */
struct sl_shard *sl_store_shard(struct sl_store *st, uint32_t stream_id, uint32_t shard_id);

/* ---- appends (any thread) ---- */

/*
 * Enqueue app (borrowed until app->done) for its shard. Returns 0, or
 * -ENOBUFS (ring full: THROTTLED), -ENOENT (no such shard), -EIO (the
 * shard failed: INTERNAL), -ESHUTDOWN (stopping), -EMSGSIZE (the records
 * are larger than a batch can hold). On error done() is not called.
 */
int sl_store_append(struct sl_store *st, struct sl_append *app);

/* The largest records-payload one append may carry. */
uint32_t sl_store_append_bytes_max(const struct sl_store *st);

/* ---- reads (any thread) ---- */

enum sl_read_from {
	SL_READ_AT_SEQ = 0,
	SL_READ_AFTER_SEQ = 1,
	SL_READ_AT_TIME = 2,
	SL_READ_TRIM_HORIZON = 3,
	SL_READ_LATEST = 4,
};

struct sl_read_record {
	sl_u128 seq;
	uint64_t arrival_ms;
	uint32_t key_off, key_len; /* into the caller's buffer */
	uint32_t data_off, data_len;
};

/*
 * Read up to max_records records (and at most buf_len bytes of keys and
 * data) starting from the position, never past the visible watermark and
 * never an expired record (older than the stream's retention). Fills
 * recs[] and buf; *next_seq gets the sequence number the next read should
 * start at (AT_SEQ). Returns the number of records (0: nothing new), or
 * -ENOENT (no such shard), -ERANGE (seq not of this shard), -EIO.
 */
int sl_store_read(struct sl_store *st, struct sl_shard *sh, enum sl_read_from from, sl_u128 seq,
		  uint64_t time_ms, struct sl_read_record *recs, uint32_t max_records, uint8_t *buf,
		  uint32_t buf_len, sl_u128 *next_seq);

/*
 * The dedupe entries recovery found (segment.h: what a retransmitted SLW1
 * frame needs to be answered with its original ack), the newest up to 4096
 * per shard (from the newest segment, then the ends of older ones, within
 * recovery's bounds), oldest first, so the ingest path can rebuild its duplicate table
 * at boot (WIRE.md: dedupe memory survives a restart). Call after open,
 * before appends start. fn returns 0 to go on; non-zero stops and is
 * returned.
 */
typedef int sl_store_dedupe_fn(uint32_t stream_id, uint32_t shard_id,
			       const struct sl_seg_dedupe *entry, void *arg);
int sl_store_dedupe_foreach(struct sl_store *st, sl_store_dedupe_fn *fn, void *arg);

/* Shard state for status/stats: visible watermark, size, failure. */
struct sl_shard_status {
	sl_u128 visible_seq; /* records < this are visible */
	uint64_t segments;
	uint64_t bytes;
	int error; /* 0, or the errno that stopped the shard */
};
void sl_store_shard_status(const struct sl_shard *sh, struct sl_shard_status *out);

#endif /* SLUICE_STORE_H */
