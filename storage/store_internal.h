/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage engine's internal types, shared by store.c (open, streams,
 * appends), writer.c (the writer loop), recovery.c and reader.c. Not a
 * public header: nothing outside storage/ sees it.
 *
 * Who touches what:
 * - writer-owned (one writer thread per shard, no locks): next_lo, seg,
 *   bufs, filling, commit_q/commit_head/commit_n, held, last_arrival_ms.
 * - published by the writer, read anywhere with acquire loads:
 *   visible_lo, error, bytes_total, segments.
 * - reader-side cache (segment list and sparse index), guarded by
 *   read_lock: readers and retention on control threads; never the writer.
 */
#ifndef SLUICE_STORE_INTERNAL_H
#define SLUICE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sluice/counters.h>
#include <sluice/io.h>
#include <sluice/meta.h>
#include <sluice/record.h>
#include <sluice/ring.h>
#include <sluice/segment.h>
#include <sluice/shardmap.h>
#include <sluice/qsbr.h>
#include <sluice/store.h>

#define SL_STORE_APPS_PER_BATCH 1024
#define SL_STORE_COMMITS_MAX    (SL_SEG_OVERLAPPED_MAX + 1) /* storage.commits_inflight, at most */
#define SL_STORE_SHARDS_MAX     65536
#define SL_STORE_WRITERS_MAX    64
#define SL_STORE_MAILBOX_SLOTS  1024
#define SL_STORE_DIR_MAX        1024
/* Dedupe entries recovery keeps per shard (the newest ones). */
#define SL_STORE_DEDUPE_RESTORE 4096
/* When the newest segment holds fewer, recovery takes the rest from the
 * ends of older segments (recovery.c), reading per shard at most: this
 * many older segments; this many bytes of batches (the previous segment's
 * last index window is read even when larger); this many batch headers
 * where a segment has no usable <base>.idx. */
#define SL_STORE_DEDUPE_OLDER_SEGS    16
#define SL_STORE_DEDUPE_OLDER_BYTES   (8u << 20)
#define SL_STORE_DEDUPE_OLDER_HEADERS 4096u

/* The tail cache (tail.c): the newest committed batches of a shard. */
struct sl_tail_entry {
	uint64_t base_lo; /* UINT64_MAX while the slot is being rewritten */
	uint64_t pos;     /* absolute position in the byte ring */
	uint32_t len;
	uint32_t count;
};

struct sl_tail {
	uint8_t *mem;
	uint64_t cap; /* bytes, a power of two; 0: no cache */
	struct sl_tail_entry *ents;
	uint64_t head;       /* bytes ever written (atomic) */
	uint64_t ent_head;   /* entries ever added (atomic) */
	uint64_t writing_to; /* end of the range being overwritten (atomic) */
};

int sl_tail_init(struct sl_tail *t, uint32_t bytes);
void sl_tail_fini(struct sl_tail *t);
/* The writer, after the batch's commit completed. */
void sl_tail_push(struct sl_tail *t, uint64_t base_lo, uint32_t count, const uint8_t *batch,
		  uint32_t len);
/* A reader: copy the cached batch holding counter lo into out. 0 with
 * *len, -ENOENT (not cached), -ESTALE (overwritten meanwhile), -ENOBUFS. */
int sl_tail_copy(const struct sl_tail *t, uint64_t lo, uint8_t *out, uint32_t out_cap,
		 uint32_t *len);

/* A batch buffer and the commit that carries it. */
struct batch_buf {
	uint8_t *mem; /* aligned, cap bytes */
	uint32_t cap;
	int buf_index; /* registered buffer index, -1 if none */
	struct sl_seg_builder b;
	struct sl_append *apps[SL_STORE_APPS_PER_BATCH];
	uint32_t app_count;
	uint64_t first_lo; /* counter of the batch's first record */
	uint32_t records;
	uint64_t off; /* where it is written */
	uint32_t len; /* batch_len */
	uint64_t opened_ns;
	uint64_t submit_ns; /* when the commit was submitted */
	int pending;        /* completions still to come */
	int result;         /* first error, or 0 */
	bool synced;        /* carries an fdatasync */
	bool queued;        /* submitted, not finished yet */
	bool completed;     /* its completions arrived; waits for older ones */
	struct sl_io_req wreq;
	struct sl_io_req freq;
	struct sl_shard *sh;
};

/* Reader-side knowledge of one segment. */
struct seg_view {
	uint64_t base_lo;
	bool sealed;    /* not the newest segment: complete, never written again */
	bool idx_tried; /* its .idx file was looked for */
	bool idx_saved; /* its index is on disk (loaded or written) */
	int fd;
	uint64_t scanned; /* bytes of batches indexed so far */
	uint64_t last_lo; /* counter after the last indexed batch */
	uint64_t first_arrival_ms, last_arrival_ms;
	struct idx_entry *idx;
	uint32_t idx_count, idx_cap;
};

struct idx_entry {
	uint64_t base_lo;
	uint64_t off;
	uint64_t first_arrival_ms;
	uint64_t last_arrival_ms;
};

/* The writer's view of the active segment. */
struct seg_active {
	int fd; /* -1: none yet (created at the first commit) */
	uint64_t base_lo;
	uint64_t size; /* bytes written or in flight: the next offset */
	uint64_t created_ms;
	/* The segment's sparse index, built as its batches commit, by the
	 * reader's rules (sl_seg_index_note); its entries are allocated with
	 * the shard, for the largest segment the configuration makes. Saved
	 * as <base>.idx at roll when whole: the segment was created by this
	 * writer (not adopted by recovery) and every batch of it is in. */
	struct seg_view idx;
	bool idx_whole;
	bool idx_warned; /* a failed .idx save was logged */
	/* A roll in progress (writer.c): the next segment is created through
	 * io_uring, step by step, while the writer serves the other shards. */
	int roll_step;         /* ROLL_* in writer.c; 0: none */
	bool roll_queued;      /* the step's I/O is queued (else: retry it) */
	int roll_fd;           /* the new segment, once open */
	int roll_pending;      /* completions of the step still to come */
	int roll_result;       /* the step's first error */
	uint64_t roll_base_lo; /* its first record */
	uint64_t roll_created_ms;
	uint8_t *roll_hdr;  /* the header, in a batch buffer's reserved tail */
	int roll_hdr_index; /* that buffer's registered index, or -1 */
	char roll_name[32];
	bool roll_whole; /* the sealed one filled up: reserve the next whole */
	struct sl_io_req roll_req, roll_freq, roll_dreq;
	/* Space reserved ahead of the batches (storage.preallocate_mb):
	 * fallocate(KEEP_SIZE) up to here, so a commit converts reserved
	 * blocks instead of allocating them. */
	uint64_t prealloc_end;
	uint64_t prealloc_len; /* the fallocate in flight; 0: none */
	bool prealloc_off;     /* refused (ENOSPC, EOPNOTSUPP): not for this segment */
	struct sl_io_req prealloc_req;
};

struct sl_shard {
	struct sl_store *st;
	uint32_t stream_id;
	uint32_t shard_id;
	uint64_t seq_prefix;
	enum sl_durability durability;
	uint32_t retention_hours;
	uint64_t retention_bytes;
	unsigned writer;
	char dir[SL_STORE_DIR_MAX];
	int dirfd;
	struct sl_ring *ring;

	/* writer-owned */
	uint64_t next_lo;
	uint64_t last_arrival_ms;
	struct seg_active seg;
	struct batch_buf bufs[SL_STORE_COMMITS_MAX + 1];
	unsigned nbufs; /* storage.commits_inflight + 1 */
	int filling;    /* index into bufs, or -1 */
	/* Commits in flight, oldest first: they complete in any order and
	 * are finished (acked, the watermark moved) in this order. */
	int commit_q[SL_STORE_COMMITS_MAX];
	unsigned commit_head, commit_n;
	struct sl_append *held; /* dequeued, waits for buffer room */
	bool removed;           /* stream deleted (atomic): fail what comes */
	bool released;          /* the writer dropped it (atomic) */

	struct sl_tail tail;

	/* published */
	uint64_t visible_lo; /* records < this are visible (atomic) */
	int error;           /* errno that stopped the shard (atomic) */
	uint64_t bytes_total;
	uint64_t segments;

	/* recovery's dedupe entries (main thread, until released) */
	struct sl_seg_dedupe *restored;
	uint32_t restored_count, restored_next;

	/* reader side */
	pthread_mutex_t read_lock;
	struct seg_view *views;
	uint32_t view_count, view_cap;
	uint64_t index_scanned_batches; /* batch headers read to build indexes */
};

/* A writer thread's state. */
struct writer {
	struct sl_store *st;
	unsigned index;
	struct sl_io *io;
	struct sl_shard **shards; /* owned shards, cap SL_STORE_SHARDS_MAX */
	uint32_t shard_count;
	struct sl_ring *mailbox;   /* shards to add (control thread → writer) */
	int wake_fd;               /* eventfd: producers wake a sleeping writer */
	int sleeping;              /* atomic */
	struct sl_io_req wake_req; /* io_uring poll on wake_fd while I/O is in flight */
	bool wake_armed;
	bool register_warned;       /* a refused buffer registration was logged */
	struct sl_counter_block *c; /* the "storage" set, this writer's block */
};

/* The data directory leaves room for shards/<id>/<id>/<file> in DIR_MAX. */
#define SL_STORE_DATA_DIR_MAX (SL_STORE_DIR_MAX - 128)

struct sl_store {
	struct sl_store_options opt;
	char data_dir[SL_STORE_DATA_DIR_MAX];
	struct sl_meta *meta;
	struct writer writers[SL_STORE_WRITERS_MAX];
	/* Every shard, by (stream, shard): a flat table the control thread
	 * appends to; readers look up under shards_lock. */
	pthread_rwlock_t shards_lock;
	struct sl_shard **shards;
	uint32_t shard_count, shard_cap;
	int stopping; /* atomic */
	/* The published shard map (shardmap.h) and the grace periods that
	 * guard it: replaced by the control thread, read anywhere. */
	struct sl_shardmap *map; /* atomic */
	struct sl_qsbr *qsbr;
};

/* shardmap.c (control thread): build a snapshot from the metadata and the
 * shard table, publish it, free the previous one after a grace period.
 * -ETIMEDOUT: published, but a reader did not pass a quiescent state in
 * time, so the previous snapshot (and anything only it refers to) must be
 * kept. */
int sl_shardmap_publish(struct sl_store *st);
int sl_shardmap_retire(struct sl_store *st, struct sl_shardmap *old);

/* writer.c */
void sl_writer_wake(struct writer *w);
int sl_shard_buffers_init(struct sl_shard *sh, uint32_t cap);
void sl_shard_buffers_fini(struct sl_shard *sh);

/* recovery.c: scan the shard's segments, truncate a torn tail, set
 * next_lo and the active segment. 0, -EUCLEAN (corruption in the middle:
 * logged with file and offset), -errno. */
int sl_shard_recover(struct sl_shard *sh, struct sl_io *io);

/* recovery.c: the shard's segment bases, ascending, in a malloc'd array
 * (*out); returns the count or -errno. */
int sl_shard_list_segments(const struct sl_shard *sh, uint64_t **out);

/* reader.c (callers hold sh->read_lock): bring the segment views in line
 * with the directory; extend a view's sparse index over batches below
 * vis_lo (UINT64_MAX: to the end of a sealed segment); the arrival time of
 * a view's first batch, from one batch header (-ENODATA: none yet). 0 or
 * -errno. */
void sl_shard_views_fini(struct sl_shard *sh);
int sl_shard_views_refresh(struct sl_shard *sh);
int sl_shard_view_index(struct sl_shard *sh, struct seg_view *v, uint64_t vis_lo);
int sl_shard_view_first_arrival(struct sl_shard *sh, struct seg_view *v, uint64_t *ms);

/* reader.c: the sparse index (an entry per SL_IDX_EVERY_BYTES of batches),
 * shared with the writer, which builds the active segment's as its batches
 * commit and saves it at roll. sl_seg_index_note: account the batch that
 * follows what v covers (0, -ENOMEM, -ENOSPC when !grow and v->idx is
 * full; v unchanged on error). sl_seg_index_save: write v as <base>.idx
 * through <base>.idx.<tmp_suffix> (at most 8 characters) and a rename;
 * 0 or -errno. */
#define SL_IDX_EVERY_BYTES (64u << 10)
#define SL_IDX_ENTRIES_MAX (1u << 20)
int sl_seg_index_note(struct seg_view *v, uint64_t base_lo, uint32_t records, uint64_t off,
		      uint32_t len, uint64_t first_ms, uint64_t last_ms, bool grow);
int sl_seg_index_save(struct sl_shard *sh, const struct seg_view *v, const char *tmp_suffix);

/* store.c: a deleted shard's slot in the shard table. */
extern struct sl_shard sl_store_tombstone;
static inline bool sl_shard_is_tombstone(const struct sl_shard *sh)
{
	return sh == &sl_store_tombstone;
}

static inline sl_u128 sl_shard_seq(const struct sl_shard *sh, uint64_t lo)
{
	return sl_u128_make(sh->seq_prefix, lo);
}

#endif /* SLUICE_STORE_INTERNAL_H */
