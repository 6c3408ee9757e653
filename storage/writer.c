/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shard writer: one thread owns a set of shards. For each it drains the
 * shard's ring in bursts, copies the records of each append into the
 * shard's open batch (assigning consecutive sequence numbers), and commits:
 * the batch is written at the end of the active segment, linked to an
 * fdatasync (fsync mode), as one io_uring submission.
 *
 * Group commit: each shard has storage.commits_inflight + 1 batch buffers.
 * While a commit is in flight, appends gather in another; when the commit
 * completes, the gathered batch goes out at once. One fdatasync thus covers
 * every record that arrived since the previous one; a batch grows at most
 * to the buffer (storage.batch_bytes), and a record waits at most for the
 * commit in flight plus its own (plus storage.linger_us, default 0). A
 * batch that fills up goes out without waiting, beside the commits in
 * flight (at most storage.commits_inflight), flagged OVERLAPPED: a busy
 * shard keeps the disk busy during an fdatasync. A write always completes
 * before the fsync that covers it starts: they are linked SQEs.
 *
 * The visible watermark (records < visible_lo may be read) moves only when
 * a commit completed: after the fdatasync in fsync mode, after the write in
 * write mode. Commits finish in submission order (commit_q), whatever order
 * their completions come in; then the appends are done() in order. A failed
 * or short write or fsync is never retried and never acked: the shard
 * records the error, fails everything it holds and everything that comes,
 * also younger commits in flight even when they succeed (they follow a hole
 * in the log), and recovery at the next start decides what survived.
 *
 * As batches commit, the writer also builds the active segment's sparse
 * index (reader.c's rules) and, at roll, saves it as <base>.idx before the
 * next segment exists: readers and retention, on the control thread, then
 * load it instead of reading every batch header of a sealed segment.
 *
 * Nothing here allocates: buffers, rings and index entries are made when a
 * shard is created (control thread), the io_uring when the writer starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/counters.h>
#include <sluice/log.h>

#include "store_internal.h"

#define SUBSYS           "storage"
#define PUMP_BURST       64
#define IO_DEPTH         256
#define IDLE_WAIT_MS     100
#define INFLIGHT_WAIT_NS (1 * SL_NS_PER_MS)
#define IDLE_WAIT_NS     (IDLE_WAIT_MS * SL_NS_PER_MS)

/* ---- the "storage" counter set: one block per writer thread ---- */

enum {
	SC_COMMITS,
	SC_COMMIT_RECORDS,
	SC_COMMIT_BYTES,
	SC_COMMIT_FAILED,
	SC_COMMITS_OVERLAPPED,
	SC_COMMITS_AFTER_FAILED,
	SC_COMMIT_US_SUM,
	SC_COMMIT_LE_FIRST, /* commit latency buckets, cumulative */
	SC_COMMIT_LE_LAST = SC_COMMIT_LE_FIRST + 7,
	SC_ROLLS,
	SC_ROLL_FAILED,
	SC_PREALLOC_BYTES,
	SC_PREALLOC_REFUSED,
	SC_APPENDS_INTERNAL,
	SC_APPENDS_STREAM_GONE,
	SC_BUFFERS_UNREGISTERED,
	SC_COUNT
};

/* Upper bounds of the commit latency buckets (µs); the last is +Inf. */
static const uint64_t commit_le_us[] = {250, 500, 1000, 2000, 4000, 8000, 16000, UINT64_MAX};
SL_STATIC_ASSERT(SL_ARRAY_SIZE(commit_le_us) == SC_COMMIT_LE_LAST - SC_COMMIT_LE_FIRST + 1);

static const struct sl_counter_def storage_defs[SC_COUNT] = {
    [SC_COMMITS] = {"commits", "group commits completed (write + fdatasync in fsync mode)"},
    [SC_COMMIT_RECORDS] = {"commit_records", "records in completed commits"},
    [SC_COMMIT_BYTES] = {"commit_bytes", "batch bytes written by completed commits"},
    [SC_COMMIT_FAILED] = {"commit_failed", "commits failed by a write or fdatasync error"},
    [SC_COMMITS_OVERLAPPED] = {"commits_overlapped",
			       "commits submitted while an older one of the shard was in flight "
			       "(full batches, storage.commits_inflight)"},
    [SC_COMMITS_AFTER_FAILED] = {"commits_after_failed",
				 "commits that completed after an older one of the shard failed: "
				 "never acked"},
    [SC_COMMIT_US_SUM] = {"commit_us_sum", "sum of commit latencies, submit to completion (us)"},
    [SC_COMMIT_LE_FIRST + 0] = {"commit_us_le_250", "commits completed within 250 us"},
    [SC_COMMIT_LE_FIRST + 1] = {"commit_us_le_500", "commits completed within 500 us"},
    [SC_COMMIT_LE_FIRST + 2] = {"commit_us_le_1000", "commits completed within 1 ms"},
    [SC_COMMIT_LE_FIRST + 3] = {"commit_us_le_2000", "commits completed within 2 ms"},
    [SC_COMMIT_LE_FIRST + 4] = {"commit_us_le_4000", "commits completed within 4 ms"},
    [SC_COMMIT_LE_FIRST + 5] = {"commit_us_le_8000", "commits completed within 8 ms"},
    [SC_COMMIT_LE_FIRST + 6] = {"commit_us_le_16000", "commits completed within 16 ms"},
    [SC_COMMIT_LE_FIRST + 7] = {"commit_us_le_inf", "commits completed (all latencies)"},
    [SC_ROLLS] = {"rolls", "segments created (rolls)"},
    [SC_ROLL_FAILED] = {"roll_failed", "segment creations failed (the shard stopped)"},
    [SC_PREALLOC_BYTES] = {"prealloc_bytes", "bytes reserved ahead of active segments"},
    [SC_PREALLOC_REFUSED] = {"prealloc_refused", "reservations the filesystem refused"},
    [SC_APPENDS_INTERNAL] = {"appends_internal",
			     "appends answered INTERNAL: their shard failed (I/O error)"},
    [SC_APPENDS_STREAM_GONE] = {"appends_stream_gone",
				"appends answered STREAM_NOT_FOUND: stream deleted while queued"},
    [SC_BUFFERS_UNREGISTERED] =
	{"buffers_unregistered",
	 "batch buffers io_uring refused to register (written unregistered)"},
};

const struct sl_counter_set sl_store_counters = {
    .name = "storage",
    .defs = storage_defs,
    .count = SC_COUNT,
};

static void wc_add(struct writer *w, unsigned idx, uint64_t n)
{
	if (w->c != NULL)
		sl_counter_add(w->c, idx, n);
}

static struct writer *shard_writer(struct sl_shard *sh)
{
	return &sh->st->writers[sh->writer];
}

static uint32_t batch_align(const struct sl_store *st)
{
	return st->opt.direct_io ? 4096u : SL_SEG_BATCH_ALIGN;
}

/* Index entries the largest segment can need: one at its first batch, one
 * per SL_IDX_EVERY_BYTES after; a segment ends at segment_bytes or at
 * its first batch (at most a buffer), whichever is larger. */
static uint32_t index_entries_max(const struct sl_store *st, uint32_t buf_cap)
{
	uint64_t n = (st->opt.segment_bytes + buf_cap) / SL_IDX_EVERY_BYTES + 2;
	return n < SL_IDX_ENTRIES_MAX ? (uint32_t)n : SL_IDX_ENTRIES_MAX;
}

int sl_shard_buffers_init(struct sl_shard *sh, uint32_t cap)
{
	uint32_t depth = sh->st->opt.commits_inflight;
	sh->nbufs = (depth >= 1 && depth <= SL_STORE_COMMITS_MAX ? depth : 1) + 1;
	for (unsigned i = 0; i < sh->nbufs; i++) {
		struct batch_buf *bb = &sh->bufs[i];
		memset(bb, 0, sizeof(*bb));
		bb->mem = aligned_alloc(4096, cap);
		if (bb->mem == NULL)
			return -ENOMEM;
		bb->cap = cap;
		bb->buf_index = -1;
		bb->sh = sh;
	}
	sh->filling = -1;
	sh->commit_head = sh->commit_n = 0;
	struct seg_view *v = &sh->seg.idx;
	*v = (struct seg_view){.fd = -1};
	sh->seg.idx_whole = false; /* until this writer creates a segment */
	v->idx = calloc(index_entries_max(sh->st, cap), sizeof(*v->idx));
	if (v->idx == NULL)
		return -ENOMEM;
	v->idx_cap = index_entries_max(sh->st, cap);
	return 0;
}

void sl_shard_buffers_fini(struct sl_shard *sh)
{
	for (unsigned i = 0; i < sh->nbufs; i++) {
		free(sh->bufs[i].mem);
		sh->bufs[i].mem = NULL;
	}
	free(sh->seg.idx.idx);
	sh->seg.idx.idx = NULL;
	sh->seg.idx.idx_cap = sh->seg.idx.idx_count = 0;
	sh->seg.idx_whole = false;
}

void sl_writer_wake(struct writer *w)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Only the first producer to see the writer asleep rings: while it
	 * waits for an fdatasync, every append would otherwise cost its
	 * producer (an RX lcore) a write() system call. */
	if (__atomic_load_n(&w->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&w->sleeping, 0, __ATOMIC_SEQ_CST)) {
		uint64_t one = 1;
		ssize_t n = write(w->wake_fd, &one, sizeof(one));
		(void)n;
	}
}

static void app_finish(struct sl_shard *sh, struct sl_append *a, uint8_t status)
{
	if (status == SL_APPEND_INTERNAL)
		wc_add(shard_writer(sh), SC_APPENDS_INTERNAL, 1);
	else if (status == SL_APPEND_STREAM_NOT_FOUND)
		wc_add(shard_writer(sh), SC_APPENDS_STREAM_GONE, 1);
	a->status = status;
	a->done(a);
}

static void buf_reset(struct batch_buf *bb)
{
	bb->app_count = 0;
	bb->records = 0;
	bb->pending = 0;
	bb->result = 0;
	bb->synced = false;
	bb->queued = false;
	bb->completed = false;
	bb->len = 0;
}

/* Fail every append a buffer holds. */
static void buf_fail(struct batch_buf *bb)
{
	for (uint32_t i = 0; i < bb->app_count; i++)
		app_finish(bb->sh, bb->apps[i], SL_APPEND_INTERNAL);
	buf_reset(bb);
}

/*
 * Stop the shard: record the error once, fail what waits in the open
 * batch and the held append. The batch in flight is failed when its
 * completions arrive; the ring is drained with failures by pump().
 */
static void shard_fail(struct sl_shard *sh, int err)
{
	SL_ASSERT(err < 0);
	if (__atomic_load_n(&sh->error, __ATOMIC_ACQUIRE) == 0) {
		__atomic_store_n(&sh->error, err, __ATOMIC_RELEASE);
		SL_ERR(SUBSYS,
		       "stream %u shard %u: %s; the shard takes no more writes until restart "
		       "(recovery decides what survived)",
		       sh->stream_id, sh->shard_id, sl_strerror(err));
	}
	if (sh->filling >= 0) {
		buf_fail(&sh->bufs[sh->filling]);
		sh->filling = -1;
	}
	if (sh->held != NULL) {
		app_finish(sh, sh->held, SL_APPEND_INTERNAL);
		sh->held = NULL;
	}
}

/* Account a committed batch in the active segment's index. */
static void index_note(struct sl_shard *sh, const struct batch_buf *bb)
{
	struct seg_active *seg = &sh->seg;
	struct sl_seg_batch b;
	if (!seg->idx_whole)
		return;
	int rc = sl_seg_batch_header_decode(bb->mem, SL_SEG_BATCH_HEADER_BYTES, &b);
	SL_ASSERT(rc == 0);
	SL_ASSERT(b.batch_len == bb->len);
	rc = sl_seg_index_note(&seg->idx, bb->first_lo, bb->records, bb->off, bb->len,
			       b.first_arrival_ms, b.last_arrival_ms, false);
	if (rc != 0)
		seg->idx_whole = false; /* readers index it themselves */
}

/*
 * The active segment is complete (nothing in flight): save its index as
 * <base>.idx before the next segment exists, so that readers, who treat
 * a segment as sealed only once a newer one is there, find it and never
 * scan. A segment this writer did not index whole (adopted by recovery)
 * gets none: a stale one, left by a crash between this save and the next
 * segment's creation, is removed. A failed save costs readers a scan.
 */
static void index_seal(struct sl_shard *sh)
{
	struct seg_active *seg = &sh->seg;
	struct seg_view *v = &seg->idx;
	SL_ASSERT(sh->commit_n == 0);
	if (!seg->idx_whole || v->scanned != seg->size || v->idx_count == 0) {
		char name[32];
		sl_seg_file_name(name, sizeof(name), sl_shard_seq(sh, seg->base_lo));
		memcpy(name + strlen(name) - 3, "idx", 3); /* <20 digits>.seg -> .idx */
		unlinkat(sh->dirfd, name, 0);
		return;
	}
	SL_ASSERT(v->base_lo == seg->base_lo);
	int rc = sl_seg_index_save(sh, v, "wtmp");
	if (rc != 0 && !seg->idx_warned) {
		seg->idx_warned = true;
		SL_WARN(SUBSYS,
			"stream %u shard %u: saving the index of a sealed segment: %s; readers "
			"rebuild it (logged once)",
			sh->stream_id, sh->shard_id, sl_strerror(rc));
	}
}

/* Finish the oldest commit in flight (all its completions arrived). */
static void commit_finish(struct batch_buf *bb)
{
	struct sl_shard *sh = bb->sh;
	SL_ASSERT(sh->commit_n > 0 && sh->commit_q[sh->commit_head] == (int)(bb - sh->bufs));
	sh->commit_head = (sh->commit_head + 1) % SL_STORE_COMMITS_MAX;
	sh->commit_n--;
	struct writer *w = shard_writer(sh);
	uint64_t us = (sl_clock_mono_ns() - bb->submit_ns) / SL_NS_PER_US;
	wc_add(w, SC_COMMITS, 1);
	wc_add(w, SC_COMMIT_US_SUM, us);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(commit_le_us); i++)
		if (us <= commit_le_us[i])
			wc_add(w, SC_COMMIT_LE_FIRST + i, 1);
	if (bb->result != 0) {
		int err = bb->result;
		wc_add(w, SC_COMMIT_FAILED, 1);
		/* The shard stops first, so a producer told INTERNAL that retries
		 * at once is refused (-EIO), not queued. */
		shard_fail(sh, err);
		buf_fail(bb);
		return;
	}
	if (__atomic_load_n(&sh->error, __ATOMIC_ACQUIRE) != 0) {
		/* An older commit failed: this one follows a hole in the log,
		 * so it is never acked; recovery ends the log at the hole. */
		wc_add(w, SC_COMMITS_AFTER_FAILED, 1);
		buf_fail(bb);
		return;
	}
	/* Into the tail cache first, so a reader that sees the new watermark
	 * can find the batch in memory. */
	sl_tail_push(&sh->tail, bb->first_lo, bb->records, bb->mem, bb->len);
	index_note(sh, bb);
	__atomic_store_n(&sh->visible_lo, bb->first_lo + bb->records, __ATOMIC_RELEASE);
	__atomic_add_fetch(&sh->bytes_total, bb->len, __ATOMIC_RELAXED);
	wc_add(w, SC_COMMIT_RECORDS, bb->records);
	wc_add(w, SC_COMMIT_BYTES, bb->len);
	for (uint32_t i = 0; i < bb->app_count; i++)
		app_finish(sh, bb->apps[i], SL_APPEND_OK);
	buf_reset(bb);
}

/* Every completion of a commit has arrived: finish it, and the younger
 * ones that completed before it, in submission order. */
static void commit_complete(struct batch_buf *bb)
{
	struct sl_shard *sh = bb->sh;
	bb->completed = true;
	while (sh->commit_n > 0) {
		struct batch_buf *old = &sh->bufs[sh->commit_q[sh->commit_head]];
		if (!old->completed)
			break;
		commit_finish(old);
	}
}

static void commit_io_done(struct sl_io_req *req)
{
	struct batch_buf *bb = req->ctx;
	int err = 0;
	if (req == &bb->wreq && req->res != (int)bb->len)
		err = req->res < 0 ? req->res : -EIO; /* a short write is an error */
	else if (req == &bb->freq && req->res != 0)
		err = req->res;
	if (err != 0 && bb->result == 0)
		bb->result = err;
	SL_ASSERT(bb->pending > 0);
	if (--bb->pending == 0)
		commit_complete(bb);
}

/*
 * Segment roll, asynchronous: the writer goes on serving its other shards
 * while one shard's next segment is made, in two steps through io_uring:
 *
 *   ROLL_OPEN  openat(O_CREAT | O_EXCL) of <base>.seg
 *   ROLL_ALLOC (storage.preallocate_mb) the first reservation, from offset
 *              0, so that the header's block lies in the reserved run:
 *              the whole segment when the one it seals filled up (a busy
 *              shard), else storage.preallocate_mb. A segment reserved
 *              whole is a few extents (at most 3 for 256 MiB here), which
 *              fit in the inode with the written/unwritten split, so each
 *              commit's fdatasync writes one metadata block (the inode)
 *              instead of two (the inode and an extent tree leaf)
 *   ROLL_FILE  the header written, linked to an fdatasync of the file, and
 *              beside them an fdatasync of the shard's directory (the
 *              entry is durable)
 *
 * Only then is the new segment the active one and the batch that asked for
 * it submitted. The segment it seals was closed (its index saved) when the
 * roll began: nothing was in flight for the shard. A failed step stops the
 * shard like a failed commit: the half-made file holds no batch, and
 * recovery removes a newest segment whose header never became durable.
 */
enum { ROLL_NONE, ROLL_OPEN, ROLL_ALLOC, ROLL_FILE };

static void roll_queue(struct writer *w, struct sl_shard *sh);
static bool prealloc_wanted(const struct sl_shard *sh);
static int prealloc_submit(struct writer *w, struct sl_shard *sh, int fd, uint64_t start,
			   uint64_t len, struct sl_io_req *req);
static void prealloc_done(struct sl_io_req *req);

/* Drop the roll in progress (recovery removes or adopts the half-made
 * file): a failed step, or a step never queued for a shard that stopped or
 * was deleted. */
static void roll_abandon(struct writer *w, struct sl_shard *sh)
{
	struct seg_active *seg = &sh->seg;
	if (seg->roll_fd >= 0) {
		w->io->ops->file_unregister(w->io, seg->roll_fd);
		w->io->ops->close(w->io, seg->roll_fd);
		seg->roll_fd = -1;
	}
	seg->roll_step = ROLL_NONE;
}

static void roll_fail(struct sl_shard *sh, int err)
{
	roll_abandon(shard_writer(sh), sh);
	wc_add(shard_writer(sh), SC_ROLL_FAILED, 1);
	shard_fail(sh, err);
}

/* The directory entry is durable: the new segment becomes the active one. */
static void roll_finish(struct sl_shard *sh)
{
	struct seg_active *seg = &sh->seg;
	seg->fd = seg->roll_fd;
	seg->roll_fd = -1;
	seg->roll_step = ROLL_NONE;
	seg->base_lo = seg->roll_base_lo;
	seg->size = SL_SEG_HEADER_BYTES;
	seg->created_ms = seg->roll_created_ms;
	seg->idx.base_lo = seg->idx.last_lo = seg->roll_base_lo;
	seg->idx.scanned = SL_SEG_HEADER_BYTES;
	seg->idx.idx_count = 0;
	seg->idx_whole = seg->idx.idx_cap > 0;
	__atomic_add_fetch(&sh->segments, 1, __ATOMIC_RELAXED);
	wc_add(shard_writer(sh), SC_ROLLS, 1);
}

static void roll_io_done(struct sl_io_req *req)
{
	struct sl_shard *sh = req->ctx;
	struct seg_active *seg = &sh->seg;
	struct writer *w = shard_writer(sh);
	int err = 0;

	if (seg->roll_step == ROLL_OPEN) {
		if (req->res < 0)
			err = req->res;
		else
			seg->roll_fd = req->res;
	} else if (seg->roll_step == ROLL_ALLOC) {
		prealloc_done(req); /* a refusal costs speed only */
	} else if (req == &seg->roll_req && seg->roll_step == ROLL_FILE) {
		if (req->res != (int)SL_SEG_HEADER_BYTES)
			err = req->res < 0 ? req->res : -EIO;
	} else if (req->res != 0) {
		err = req->res;
	}
	if (err != 0 && seg->roll_result == 0)
		seg->roll_result = err;
	SL_ASSERT(seg->roll_pending > 0);
	if (--seg->roll_pending > 0)
		return;
	if (seg->roll_result != 0) {
		roll_fail(sh, seg->roll_result);
		return;
	}
	switch (seg->roll_step) {
	case ROLL_OPEN:
		w->io->ops->file_register(w->io, seg->roll_fd); /* or the plain fd */
		seg->roll_step = prealloc_wanted(sh) ? ROLL_ALLOC : ROLL_FILE;
		roll_queue(w, sh);
		break;
	case ROLL_ALLOC:
		seg->roll_step = ROLL_FILE;
		roll_queue(w, sh);
		break;
	default:
		SL_ASSERT(seg->roll_step == ROLL_FILE);
		roll_finish(sh);
		break;
	}
}

/* Queue the I/O of the roll's current step; on a full queue the writer
 * loop tries again (roll_queued stays false). */
static void roll_queue(struct writer *w, struct sl_shard *sh)
{
	struct seg_active *seg = &sh->seg;
	struct sl_io *io = w->io;
	int rc;

	seg->roll_queued = false;
	seg->roll_result = 0;
	seg->roll_req = (struct sl_io_req){.done = roll_io_done, .ctx = sh};
	seg->roll_freq = (struct sl_io_req){.done = roll_io_done, .ctx = sh};
	switch (seg->roll_step) {
	case ROLL_OPEN: {
		int flags = O_WRONLY | O_CREAT | O_EXCL | (sh->st->opt.direct_io ? O_DIRECT : 0);
		rc = io->ops->openat(io, sh->dirfd, seg->roll_name, flags, 0640, &seg->roll_req);
		seg->roll_pending = 1;
		break;
	}
	case ROLL_ALLOC:
		rc = prealloc_submit(w, sh, seg->roll_fd, 0,
				     seg->roll_whole ? sh->st->opt.segment_bytes : 0,
				     &seg->roll_req);
		seg->roll_pending = 1;
		break;
	default:
		/* The header (written, then the file synced) and the directory
		 * entry (the directory synced) become durable side by side. */
		SL_ASSERT(seg->roll_step == ROLL_FILE);
		seg->roll_dreq = (struct sl_io_req){.done = roll_io_done, .ctx = sh};
		seg->roll_req.len = SL_SEG_HEADER_BYTES;
		if (!io->ops->has_room(io, 3)) {
			rc = -EBUSY;
			break;
		}
		rc = io->ops->write_fsync(io, seg->roll_fd, seg->roll_hdr, SL_SEG_HEADER_BYTES, 0,
					  seg->roll_hdr_index, &seg->roll_req, &seg->roll_freq);
		rc = rc ?: io->ops->fsync(io, sh->dirfd, &seg->roll_dreq);
		seg->roll_pending = 3;
		break;
	}
	if (rc == -EBUSY)
		return;
	if (rc != 0) {
		roll_fail(sh, rc);
		return;
	}
	seg->roll_queued = true;
}

/*
 * Begin a roll to a segment whose first record is base_lo: seal the active
 * segment (its index saved as <base>.idx before the next segment exists),
 * build the header, queue the first step. Only with nothing in flight for
 * the shard.
 */
static void roll_begin(struct writer *w, struct sl_shard *sh, uint64_t base_lo)
{
	struct sl_io *io = w->io;
	struct seg_active *seg = &sh->seg;
	struct batch_buf *bb = &sh->bufs[sh->filling];

	SL_ASSERT(sh->commit_n == 0 && seg->roll_step == ROLL_NONE && seg->prealloc_len == 0);
	if (seg->fd >= 0) {
		index_seal(sh);
		/* Space reserved past the last batch goes back (a roll by age,
		 * mostly; by size, less than a batch is left, kept). An error
		 * costs only that space until the segment is deleted. */
		if (seg->prealloc_end > seg->size + sh->st->opt.batch_bytes)
			io->ops->ftruncate(io, seg->fd, seg->size);
		io->ops->file_unregister(io, seg->fd);
		io->ops->close(io, seg->fd);
		seg->fd = -1;
	}
	seg->idx_whole = false;
	/* The header is built in the tail of the open batch's buffer, which
	 * no batch reaches (it reserves that room), nor a later one while
	 * this roll lasts: the shard submits nothing until it is done. */
	seg->roll_hdr = bb->mem + bb->cap - SL_SEG_HEADER_BYTES;
	seg->roll_hdr_index = bb->buf_index;
	seg->roll_base_lo = base_lo;
	seg->roll_created_ms = sl_clock_wall_ms();
	seg->roll_fd = -1;
	seg->prealloc_end = 0;
	seg->prealloc_off = false;
	struct sl_seg_header h = {
	    .stream_id = sh->stream_id,
	    .shard_id = sh->shard_id,
	    .base_seq = sl_shard_seq(sh, base_lo),
	    .created_ms = seg->roll_created_ms,
	};
	sl_seg_header_encode(seg->roll_hdr, &h);
	sl_seg_file_name(seg->roll_name, sizeof(seg->roll_name), h.base_seq);
	seg->roll_step = ROLL_OPEN;
	roll_queue(w, sh);
}

static bool need_roll(const struct sl_shard *sh, uint32_t len, uint64_t now_ms)
{
	const struct seg_active *seg = &sh->seg;
	const struct sl_store_options *o = &sh->st->opt;
	if (seg->fd < 0)
		return true;
	if (seg->size == SL_SEG_HEADER_BYTES)
		return false; /* never roll an empty segment */
	return seg->size + len > o->segment_bytes || now_ms - seg->created_ms >= o->segment_age_ms;
}

/* The batch header flag a batch submitted now carries: OVERLAPPED when an
 * older commit of the shard is in flight (it may reach the disk first;
 * recovery's torn-tail rule relies on the flag). */
static uint8_t overlap_flag(const struct sl_shard *sh)
{
	return sh->commit_n > 0 ? SL_SEG_BATCH_F_OVERLAPPED : 0;
}

/* Finish the open batch (header, CRC, padding), flagged as it would go
 * out now. */
static void batch_seal(struct sl_shard *sh, struct batch_buf *bb)
{
	bb->b.flags = overlap_flag(sh);
	bb->len = (uint32_t)sl_seg_batch_finish(&bb->b, batch_align(sh->st));
}

/*
 * Seal the open batch and submit it. 0, -EBUSY (queue full: try later),
 * -EINPROGRESS (it waits for the roll it began, or one under way).
 */
static int submit(struct writer *w, struct sl_shard *sh)
{
	struct batch_buf *bb = &sh->bufs[sh->filling];
	struct sl_io *io = w->io;
	int rc;

	SL_ASSERT(sh->commit_n < sh->nbufs - 1);
	SL_ASSERT(bb->records > 0);
	if (sh->seg.roll_step != ROLL_NONE) {
		if (!sh->seg.roll_queued)
			roll_queue(w, sh); /* the queue was full */
		return -EINPROGRESS;
	}
	if (bb->len == 0)
		batch_seal(sh, bb);
	if (need_roll(sh, bb->len, sl_clock_wall_ms())) {
		if (sh->seg.prealloc_len != 0 || sh->commit_n > 0)
			return -EINPROGRESS; /* the segment's fallocate, commits first */
		sh->seg.roll_whole =
		    sh->seg.fd >= 0 && sh->seg.size + bb->len > sh->st->opt.segment_bytes;
		roll_begin(w, sh, bb->first_lo);
		return -EINPROGRESS;
	}
	if (bb->b.flags != overlap_flag(sh)) {
		/* Sealed full while an older commit was in flight, which has
		 * completed since (or the other way round): say what is true. */
		bb->b.flags = overlap_flag(sh);
		rc = sl_seg_batch_set_flags(bb->mem, bb->len, bb->b.flags);
		SL_ASSERT(rc == 0);
	}
	bb->off = sh->seg.size;
	bb->result = 0;
	bb->wreq = (struct sl_io_req){.done = commit_io_done, .ctx = bb, .len = bb->len};
	bb->freq = (struct sl_io_req){.done = commit_io_done, .ctx = bb};
	bb->synced = sh->durability == SL_DURABILITY_FSYNC;
	bb->submit_ns = sl_clock_mono_ns();
	if (bb->synced)
		rc = io->ops->write_fsync(io, sh->seg.fd, bb->mem, bb->len, bb->off, bb->buf_index,
					  &bb->wreq, &bb->freq);
	else
		rc = io->ops->write(io, sh->seg.fd, bb->mem, bb->len, bb->off, bb->buf_index,
				    &bb->wreq);
	if (rc == -EBUSY)
		return rc;
	if (rc != 0) {
		shard_fail(sh, rc);
		return 0;
	}
	bb->pending = bb->synced ? 2 : 1;
	bb->queued = true;
	if (sh->commit_n > 0)
		wc_add(w, SC_COMMITS_OVERLAPPED, 1);
	sh->seg.size += bb->len;
	sh->commit_q[(sh->commit_head + sh->commit_n) % SL_STORE_COMMITS_MAX] = sh->filling;
	sh->commit_n++;
	sh->filling = -1;
	return 0;
}

/* Bytes an append takes in a batch. */
static size_t append_bytes(const struct sl_append *a)
{
	size_t n = a->producer_id != 0 ? SL_SEG_DEDUPE_BYTES : 0;
	for (uint16_t i = 0; i < a->record_count; i++)
		n += sl_seg_record_bytes(&a->records[i]);
	return n;
}

/* Room left in an open batch, keeping the alignment padding free. (The
 * builder's capacity already leaves the segment header scratch area of
 * roll() out.) */
static size_t batch_room(const struct sl_store *st, const struct batch_buf *bb)
{
	size_t used = bb->b.len + (size_t)bb->b.dedupe_added * SL_SEG_DEDUPE_BYTES;
	size_t limit = bb->b.cap - batch_align(st);
	return limit > used ? limit - used : 0;
}

/* Pick the buffer to fill: one not in flight. -1 if the open one is
 * sealed (or, with every buffer but it in flight, none is free). */
static int open_buffer(struct sl_shard *sh, uint64_t now_ns)
{
	if (sh->filling >= 0)
		return sh->bufs[sh->filling].len == 0 ? sh->filling : -1;
	int i = 0;
	while ((unsigned)i < sh->nbufs && sh->bufs[i].queued)
		i++;
	if ((unsigned)i == sh->nbufs)
		return -1;
	struct batch_buf *bb = &sh->bufs[i];
	SL_ASSERT(bb->records == 0 && bb->app_count == 0);
	/* The tail of the buffer is roll()'s scratch for a segment header. */
	size_t cap = bb->cap - SL_SEG_HEADER_BYTES;
	sl_seg_batch_begin(&bb->b, bb->mem, cap, sl_shard_seq(sh, sh->next_lo),
			   sh->last_arrival_ms);
	bb->first_lo = sh->next_lo;
	bb->opened_ns = now_ns;
	sh->filling = i;
	return i;
}

/* Copy one append into the open batch. 0, or -ENOSPC (wait for room). */
static int place(struct sl_shard *sh, struct sl_append *a, uint64_t now_ns)
{
	int i = open_buffer(sh, now_ns);
	if (i < 0)
		return -ENOSPC;
	struct batch_buf *bb = &sh->bufs[i];
	if (bb->app_count == SL_STORE_APPS_PER_BATCH || append_bytes(a) > batch_room(sh->st, bb)) {
		SL_ASSERT(bb->records > 0); /* sl_store_append refuses what never fits */
		batch_seal(sh, bb);
		return -ENOSPC;
	}
	uint64_t arrival =
	    a->arrival_ms > sh->last_arrival_ms ? a->arrival_ms : sh->last_arrival_ms;
	sh->last_arrival_ms = arrival;
	for (uint16_t r = 0; r < a->record_count; r++) {
		int rc = sl_seg_batch_add_record(&bb->b, &a->records[r], arrival);
		SL_ASSERT(rc == 0);
	}
	a->first_seq = sl_shard_seq(sh, sh->next_lo);
	if (a->producer_id != 0) {
		struct sl_seg_dedupe d = {
		    .producer_id = a->producer_id,
		    .batch_seq = a->batch_seq,
		    .first_seq = a->first_seq,
		    .record_count = a->record_count,
		    .entry_index = a->entry_index,
		    .entry_count = a->entry_count,
		};
		int rc = sl_seg_batch_add_dedupe(&bb->b, &d);
		SL_ASSERT(rc == 0);
	}
	sh->next_lo += a->record_count;
	bb->records += a->record_count;
	if (sh->durability == SL_DURABILITY_NONE)
		app_finish(sh, a, SL_APPEND_OK); /* acked on enqueue, as the mode says */
	else
		bb->apps[bb->app_count++] = a;
	return 0;
}

static void prealloc_done(struct sl_io_req *req)
{
	struct sl_shard *sh = req->ctx;
	struct seg_active *seg = &sh->seg;
	if (req->res == 0) {
		seg->prealloc_end += seg->prealloc_len;
		wc_add(shard_writer(sh), SC_PREALLOC_BYTES, seg->prealloc_len);
	} else {
		wc_add(shard_writer(sh), SC_PREALLOC_REFUSED, 1);
		/* Only speed is lost: batches allocate as they go. A disk that
		 * is really full fails the batches' writes themselves. */
		seg->prealloc_off = true;
		SL_LOG_RL(SL_LOG_WARN, SUBSYS,
			  "stream %u shard %u: reserving segment space: %s; the segment goes on "
			  "without",
			  sh->stream_id, sh->shard_id, sl_strerror(req->res));
	}
	seg->prealloc_len = 0;
}

/*
 * Keep storage.preallocate_mb reserved ahead of the active segment's
 * batches (fallocate KEEP_SIZE, so the file's size stays the end of its
 * last batch): renewed once less than half of it is left, never past
 * storage.segment_mb. True when a fallocate was queued.
 */
static bool prealloc(struct writer *w, struct sl_shard *sh)
{
	const struct sl_store_options *o = &sh->st->opt;
	struct seg_active *seg = &sh->seg;
	if (!prealloc_wanted(sh) || seg->fd < 0 || seg->roll_step != ROLL_NONE ||
	    seg->prealloc_len != 0 || seg->prealloc_off ||
	    __atomic_load_n(&sh->error, __ATOMIC_ACQUIRE) != 0 ||
	    __atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE))
		return false;
	uint64_t start = seg->prealloc_end > seg->size ? seg->prealloc_end : seg->size;
	if (start - seg->size > o->prealloc_bytes / 2)
		return false;
	return prealloc_submit(w, sh, seg->fd, start, 0, &seg->prealloc_req) == 0;
}

/* Whether the shard's segments get space reserved. */
static bool prealloc_wanted(const struct sl_shard *sh)
{
	return sh->st->opt.prealloc_bytes != 0 && sh->durability != SL_DURABILITY_NONE;
}

/* Queue the reservation of [start, +len) of fd (len 0: storage.preallocate_mb),
 * within storage.segment_mb; req completes through prealloc_done (the
 * roll's own request calls it too). 0, -EBUSY (queue full), -ERANGE
 * (nothing left to reserve). */
static int prealloc_submit(struct writer *w, struct sl_shard *sh, int fd, uint64_t start,
			   uint64_t len, struct sl_io_req *req)
{
	const struct sl_store_options *o = &sh->st->opt;
	struct seg_active *seg = &sh->seg;
	SL_ASSERT(seg->prealloc_len == 0);
	if (start >= o->segment_bytes)
		return -ERANGE;
	if (len == 0)
		len = o->prealloc_bytes;
	if (len > o->segment_bytes - start)
		len = o->segment_bytes - start;
	if (req == &seg->prealloc_req)
		*req = (struct sl_io_req){.done = prealloc_done, .ctx = sh};
	int rc = w->io->ops->fallocate(w->io, fd, FALLOC_FL_KEEP_SIZE, start, len, req);
	if (rc != 0)
		return rc;
	seg->prealloc_end = start;
	seg->prealloc_len = len;
	return 0;
}

/* A failed or deleted shard answers everything it dequeues with status. */
static uint32_t drain_failed(struct sl_shard *sh, uint8_t status)
{
	void *items[PUMP_BURST];
	uint32_t n = sl_ring_dequeue_burst(sh->ring, items, PUMP_BURST);
	for (uint32_t i = 0; i < n; i++)
		app_finish(sh, items[i], status);
	if (sh->held != NULL) {
		app_finish(sh, sh->held, status);
		sh->held = NULL;
		n++;
	}
	return n;
}

/*
 * The stream was deleted: what is queued or open gets STREAM_NOT_FOUND;
 * once nothing is in flight the writer lets go of the shard (released),
 * and the control thread frees it.
 */
static uint32_t drain_removed(struct sl_shard *sh)
{
	uint32_t n = drain_failed(sh, SL_APPEND_STREAM_NOT_FOUND);
	if (sh->filling >= 0) {
		struct batch_buf *bb = &sh->bufs[sh->filling];
		for (uint32_t i = 0; i < bb->app_count; i++)
			app_finish(sh, bb->apps[i], SL_APPEND_STREAM_NOT_FOUND);
		buf_reset(bb);
		sh->filling = -1;
		n++;
	}
	return n;
}

/*
 * A shard comes to this writer: its batch buffers go in the ring's table
 * of registered buffers (WRITE_FIXED: the kernel maps them once, not per
 * write) and its active segment, if recovery left one, in the table of
 * registered files. A refusal (the memlock limit, a full table, a kernel
 * without the tables) costs only speed; it is logged once per writer.
 */
static void shard_adopt(struct writer *w, struct sl_shard *sh)
{
	for (unsigned i = 0; i < sh->nbufs; i++) {
		struct batch_buf *bb = &sh->bufs[i];
		int rc = w->io->ops->buffer_register(w->io, bb->mem, bb->cap);
		bb->buf_index = rc >= 0 ? rc : -1;
		if (rc < 0)
			wc_add(w, SC_BUFFERS_UNREGISTERED, 1);
		if (rc < 0 && rc != -EOPNOTSUPP && !w->register_warned) {
			w->register_warned = true;
			SL_WARN(SUBSYS,
				"writer %u: registering batch buffers: %s; writing from "
				"unregistered ones (logged once)",
				w->index, sl_strerror(rc));
		}
	}
	if (sh->seg.fd >= 0) {
		w->io->ops->file_register(w->io, sh->seg.fd);
		/* Adopted from recovery: an earlier run may have reserved space
		 * up to the segment's end; it is used, and freed at seal. */
		if (sh->seg.prealloc_end == 0 && sh->st->opt.prealloc_bytes > 0)
			sh->seg.prealloc_end = sh->st->opt.segment_bytes;
	}
}

/* The writer drops a shard (nothing in flight): clear its table slots. */
static void shard_let_go(struct writer *w, struct sl_shard *sh)
{
	for (unsigned i = 0; i < sh->nbufs; i++) {
		struct batch_buf *bb = &sh->bufs[i];
		if (bb->buf_index >= 0)
			w->io->ops->buffer_unregister(w->io, bb->buf_index);
		bb->buf_index = -1;
	}
	if (sh->seg.fd >= 0)
		w->io->ops->file_unregister(w->io, sh->seg.fd);
}

/* Let go of removed shards with nothing in flight. */
static void release_removed(struct writer *w)
{
	for (uint32_t i = 0; i < w->shard_count;) {
		struct sl_shard *sh = w->shards[i];
		if (!__atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE) || sh->commit_n > 0 ||
		    sh->seg.roll_step != ROLL_NONE || sh->seg.prealloc_len != 0 ||
		    sh->filling >= 0 || sl_ring_count(sh->ring) > 0) {
			i++;
			continue;
		}
		shard_let_go(w, sh);
		if (sh->seg.fd >= 0) {
			w->io->ops->close(w->io, sh->seg.fd);
			sh->seg.fd = -1;
		}
		w->shards[i] = w->shards[--w->shard_count];
		__atomic_store_n(&sh->released, true, __ATOMIC_RELEASE);
	}
}

/*
 * Move up to PUMP_BURST appends from the ring into the open batch, and
 * submit the batch when nothing is in flight (after linger). Returns how
 * much progress it made.
 */
static uint32_t pump(struct writer *w, struct sl_shard *sh, uint64_t now_ns, bool stopping)
{
	uint32_t progress = 0;
	bool failed = __atomic_load_n(&sh->error, __ATOMIC_ACQUIRE) != 0;
	bool removed = __atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE);

	if ((failed || removed) && sh->seg.roll_step != ROLL_NONE && !sh->seg.roll_queued)
		roll_abandon(w, sh); /* its step waited for queue room; no one needs it now */
	if (failed)
		return drain_failed(sh, SL_APPEND_INTERNAL);
	if (removed)
		return drain_removed(sh);
	while (progress < PUMP_BURST) {
		struct sl_append *a = sh->held;
		if (a == NULL && sl_ring_dequeue_burst(sh->ring, (void **)&a, 1) == 0)
			break;
		sh->held = NULL;
		if (place(sh, a, now_ns) != 0) {
			sh->held = a;
			break;
		}
		progress++;
	}
	if (prealloc(w, sh))
		progress++;
	if (sh->filling < 0 || sh->commit_n >= sh->nbufs - 1)
		return progress;
	struct batch_buf *bb = &sh->bufs[sh->filling];
	if (bb->records == 0)
		return progress;
	uint64_t linger_ns = (uint64_t)sh->st->opt.linger_us * SL_NS_PER_US;
	bool full = bb->len != 0 || sh->held != NULL;
	/* Group commit: a batch that is not full waits for the commit in
	 * flight (it gathers what arrives meanwhile); only a full one goes
	 * out beside it (storage.commits_inflight). */
	if (sh->commit_n > 0 && !full)
		return progress;
	if (full || stopping || now_ns - bb->opened_ns >= linger_ns) {
		if (submit(w, sh) == 0)
			progress++;
	}
	return progress;
}

/* Shards handed over by the control thread. */
static void take_mailbox(struct writer *w)
{
	void *items[16];
	uint32_t n;
	while ((n = sl_ring_dequeue_burst(w->mailbox, items, SL_ARRAY_SIZE(items))) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			SL_ASSERT(w->shard_count < SL_STORE_SHARDS_MAX);
			w->shards[w->shard_count++] = items[i];
			shard_adopt(w, items[i]);
		}
	}
}

static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

/* I/O in flight, not counting the armed wake poll. */
static unsigned io_inflight(const struct writer *w)
{
	return w->io->ops->inflight(w->io) - (w->wake_armed ? 1u : 0u);
}

/* Whether the writer holds anything: queued, open, held or in flight. */
static bool writer_busy(const struct writer *w)
{
	if (io_inflight(w) > 0)
		return true;
	for (uint32_t i = 0; i < w->shard_count; i++) {
		const struct sl_shard *sh = w->shards[i];
		if (sh->held || sh->filling >= 0 || sh->commit_n > 0 ||
		    sh->seg.roll_step != ROLL_NONE || sh->seg.prealloc_len != 0 ||
		    sl_ring_count(sh->ring) > 0)
			return true;
	}
	return false;
}

/* Appends wait in the shard's ring that the writer could take now: not
 * behind a held one (which waits for a buffer, so for a completion). */
static bool shard_can_take(const struct sl_shard *sh)
{
	return sh->held == NULL && sl_ring_count(sh->ring) > 0;
}

/* Sleep until a producer wakes us, stop is asked, or timeout_ms passes. */
static void writer_sleep(struct writer *w, int stop_fd, int timeout_ms)
{
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool queued = false;
	for (uint32_t i = 0; i < w->shard_count && !queued; i++)
		queued = shard_can_take(w->shards[i]);
	queued = queued || sl_ring_count(w->mailbox) > 0;
	if (!queued) {
		struct pollfd p[2] = {{.fd = w->wake_fd, .events = POLLIN},
				      {.fd = stop_fd, .events = POLLIN}};
		if (poll(p, 2, timeout_ms) > 0 && (p[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t n = read(w->wake_fd, &v, sizeof(v));
			(void)n;
		}
	}
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
}

static void drain_wake_fd(struct writer *w)
{
	uint64_t v;
	ssize_t n = read(w->wake_fd, &v, sizeof(v));
	(void)n;
}

static void wake_done(struct sl_io_req *req)
{
	struct writer *w = req->ctx;
	w->wake_armed = false;
	drain_wake_fd(w);
}

/*
 * Wait for a completion or a producer, whichever comes first: with I/O in
 * flight the writer sleeps in io_uring, with a poll armed on its wake
 * eventfd, so an append for an idle shard never waits for another shard's
 * fdatasync. Returns what poll returned.
 */
static int wait_inflight(struct writer *w, uint64_t timeout_ns)
{
	__atomic_store_n(&w->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool queued = sl_ring_count(w->mailbox) > 0;
	for (uint32_t i = 0; i < w->shard_count && !queued; i++)
		queued = shard_can_take(w->shards[i]);
	int rc = 0;
	if (!queued) {
		if (!w->wake_armed) {
			w->wake_req = (struct sl_io_req){.done = wake_done, .ctx = w};
			w->wake_armed = w->io->ops->poll_add(w->io, w->wake_fd, &w->wake_req) == 0;
		}
		rc = w->io->ops->poll(w->io, 1, timeout_ns);
	}
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
	return rc;
}

/* Before the io goes: complete the armed wake poll by ringing it. */
static void disarm_wake(struct writer *w)
{
	uint64_t one = 1;
	for (int i = 0; i < 1000 && w->wake_armed; i++) {
		ssize_t n = write(w->wake_fd, &one, sizeof(one));
		(void)n;
		w->io->ops->poll(w->io, 1, INFLIGHT_WAIT_NS);
	}
	SL_ASSERT(!w->wake_armed);
}

static int writer_io_create(struct writer *w)
{
	struct sl_io *io;
	int rc = sl_io_uring_create(IO_DEPTH, &io);
	if (rc != 0)
		return rc;
	if (w->st->opt.fault_plan != NULL) {
		rc = sl_io_fault_create(io, w->st->opt.fault_plan, &io);
		if (rc != 0)
			return rc;
	}
	w->io = io;
	for (uint32_t i = 0; i < w->shard_count; i++)
		shard_adopt(w, w->shards[i]);
	return 0;
}

int sl_store_writer_run(struct sl_store *st, unsigned index, int stop_fd)
{
	struct writer *w = &st->writers[index];
	char owner[SL_COUNTER_OWNER_MAX + 1];
	snprintf(owner, sizeof(owner), "writer-%u", index);
	w->c = sl_counter_block_create(&sl_store_counters, owner);
	if (w->c == NULL)
		SL_WARN(SUBSYS, "writer %u: no counter block (out of memory); counting nothing",
			index);
	int rc = writer_io_create(w);
	if (rc != 0) {
		SL_ERR(SUBSYS, "writer %u: io_uring: %s", index, sl_strerror(rc));
		sl_counter_block_destroy(w->c);
		w->c = NULL;
		return rc;
	}
	bool stopping = false;
	for (uint64_t loop = 0;; loop++) {
		uint64_t now = sl_clock_mono_ns();
		uint32_t progress = 0;
		take_mailbox(w);
		for (uint32_t i = 0; i < w->shard_count; i++)
			progress += pump(w, w->shards[i], now, stopping);
		rc = w->io->ops->poll(w->io, 0, 0);
		if (rc < 0)
			break;
		progress += (uint32_t)rc;
		if (!stopping && (progress == 0 || loop % 1024 == 0) && fd_readable(stop_fd))
			stopping = true;
		if (progress > 0)
			continue;
		release_removed(w);
		if (stopping && !writer_busy(w))
			break;
		if (io_inflight(w) > 0) {
			rc = wait_inflight(w, stopping || st->opt.linger_us ? INFLIGHT_WAIT_NS
									    : IDLE_WAIT_NS);
			if (rc < 0)
				break;
		} else if (!stopping) {
			writer_sleep(w, stop_fd, st->opt.linger_us ? 1 : IDLE_WAIT_MS);
		}
	}
	if (rc < 0)
		SL_ERR(SUBSYS, "writer %u: io_uring poll: %s", index, sl_strerror(rc));
	else
		disarm_wake(w);
	sl_counter_block_destroy(w->c); /* its counts go to the set's totals */
	w->c = NULL;
	return rc < 0 ? rc : 0;
}
