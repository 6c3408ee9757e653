/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection for the storage I/O layer: an sl_io that wraps another
 * (usually the real io_uring one) and makes chosen operations fail the way
 * a disk does, so the fault suite can prove what is and is not durable.
 * The plan (struct sl_io_fault_plan in io.h) names operations by 1-based
 * count per kind:
 *
 * - writes: every asynchronous write, including the write of a write_fsync.
 *   write_eio_at / write_enospc_at: nothing is written; the write completes
 *   with -EIO / -ENOSPC. write_short_at: the inner sl_io is asked for half
 *   the bytes (len / 2), so the completion reports that and the caller sees
 *   a short write (of a 0-byte write: no effect). The inner sl_io sees a
 *   whole write of len / 2, so in a write_fsync the layer does not link the
 *   inner fsync: it sends the write alone and cancels the fsync itself.
 * - fsyncs: every asynchronous fdatasync, including the one of a
 *   write_fsync. fsync_eio_at: the inner fsync is not issued; it completes
 *   with -EIO. fsync_eio_hold_writes: that failure, in a write_fsync, is
 *   held after its write completed until that many more writes were
 *   queued (a younger commit is then surely in flight beside the failing
 *   one, whatever the timing), or at most 1 s, so a caller that queues
 *   nothing more does not wait for ever.
 * - opens with O_CREAT (opens without it are not counted for the plan):
 *   open_enospc_at fails with -ENOSPC and creates nothing.
 * - torn_after_bytes: counts every byte handed to the inner sl_io, by
 *   asynchronous writes and by pwrite_sync alike (both put bytes in files).
 *   The write that crosses the limit writes only the bytes up to it but
 *   reports full success; after it every write, pwrite_sync, fsync and
 *   fdatasync is dropped and reports success. A write that ends exactly at
 *   the limit is written whole; only later ones are dropped.
 *
 * Precedence for one write: an injected error (EIO, then ENOSPC) first,
 * then torn (dropped, or the crossing write), then short: a short write is
 * never asked to put bytes past the torn limit. For an fsync, fsync_eio_at
 * comes before torn's dropping. The other synchronous calls (open, pread,
 * ftruncate, unlink, close) pass through, also after the torn limit.
 *
 * In a write_fsync the fsync behaves as the kernel's linked one: if the
 * write does not complete with its full length (injected error, short, or
 * a real failure) the fsync completes with -ECANCELED, after the write,
 * whatever the plan said for it. The counters advance only for operations
 * accepted: one refused with -EBUSY is not counted, so its retry is the
 * same Nth operation.
 *
 * Injected completions are delivered by sl_io_poll like real ones, from a
 * fixed ring; a write whose completion must be adjusted (the torn crossing
 * write) or whose fsync the layer decides itself goes to the inner sl_io
 * through one of a few fixed intercept slots. Nothing is allocated after
 * sl_io_fault_create. A full ring or no free slot is -EBUSY.
 *
 * busy_from makes every queueing call from the Nth on return -EBUSY (and
 * has_room false), a queue that never drains: how a test reaches the
 * writer's paths that wait for room.
 *
 * Statistics: writes and fsyncs count accepted asynchronous ones, opens
 * counts every open; bytes_written is bytes handed to the inner sl_io
 * (queued, not necessarily completed; pwrite_sync included);
 * faults_injected counts operations whose outcome the plan changed, when
 * they are queued (a cancelled fsync is a consequence, not counted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/io.h>

/* Injected completions waiting for poll; a power of two. */
#define READY_MAX 64u
/* Writes in flight in the inner sl_io whose completion the layer handles.
 * At most three are ever needed (the torn crossing write, the write before
 * fsync_eio_at's fsync, a short write in a write_fsync). */
#define SLOTS_MAX 4u
/* fsync_eio_hold_writes: how long a failure waits at most for the writes. */
#define HOLD_MAX_NS (1000 * SL_NS_PER_MS)

SL_STATIC_ASSERT((READY_MAX & (READY_MAX - 1)) == 0);

struct ready {
	struct sl_io_req *req;
	int res;
};

/* A write sent to the inner sl_io on the layer's behalf. */
struct slot {
	struct sl_io_req inner; /* what the inner sl_io completes; ctx = this slot */
	struct fault_io *f;
	struct sl_io_req *wreq; /* the caller's write; NULL = slot free */
	struct sl_io_req *freq; /* the caller's linked fsync, or NULL */
	uint32_t inner_len;     /* bytes asked of the inner sl_io */
	uint32_t len;           /* bytes the caller asked for */
	bool cross;             /* torn crossing: inner_len done = len reported */
	int fres;               /* the fsync's result if the write was whole */
	bool hold;              /* fsync_eio_hold_writes applies to fres */
	uint64_t hold_until_writes;
};

struct fault_io {
	struct sl_io io; /* first: &fault_io.io is what callers hold */
	struct sl_io *inner;
	struct sl_io_fault_plan plan;
	struct sl_io_fault_stats stats;
	uint64_t creat_opens; /* opens with O_CREAT, for open_enospc_at */
	uint64_t queue_calls; /* queueing calls accepted, for busy_from */
	uint64_t torn_bytes;  /* bytes handed to inner, for torn_after_bytes */
	bool torn;            /* the crossing write happened: drop the rest */
	bool polling;
	unsigned held;              /* linked fsyncs held in slots */
	struct sl_io_req *hold_req; /* fsync_eio_hold_writes: the held failure */
	int hold_res;
	uint64_t hold_until_writes; /* released once stats.writes reaches it */
	uint64_t hold_since_ns;
	unsigned synthesized;            /* fsyncs completed from slot callbacks, this poll */
	uint32_t ready_head, ready_tail; /* free-running */
	struct ready ready[READY_MAX];
	struct slot slots[SLOTS_MAX];
};

/* What the plan does to one write. */
enum write_fate {
	W_PASS,  /* to inner, as asked */
	W_FAIL,  /* not written; completes with fate.res */
	W_SHORT, /* to inner with half the bytes */
	W_CROSS, /* to inner up to the torn limit, reported whole */
	W_DROP,  /* after the torn limit: not written, reported whole */
};

struct write_plan {
	enum write_fate fate;
	int res;            /* W_FAIL */
	uint32_t inner_len; /* W_SHORT, W_CROSS */
};

/* io is the first member, so the cast is exact (and keeps -Wcast-align quiet). */
SL_STATIC_ASSERT(offsetof(struct fault_io, io) == 0);

static struct fault_io *to_fault(struct sl_io *io)
{
	return (struct fault_io *)io;
}

static const struct fault_io *to_fault_const(const struct sl_io *io)
{
	return (const struct fault_io *)io;
}

static unsigned ready_count(const struct fault_io *f)
{
	return f->ready_tail - f->ready_head;
}

static bool ready_has_room(const struct fault_io *f, unsigned n)
{
	return ready_count(f) + n <= READY_MAX;
}

static void ready_push(struct fault_io *f, struct sl_io_req *req, int res, uint32_t len)
{
	SL_ASSERT(ready_has_room(f, 1));
	req->res = 0;
	req->len = len;
	f->ready[f->ready_tail % READY_MAX] = (struct ready){.req = req, .res = res};
	f->ready_tail++;
}

static struct slot *slot_free(struct fault_io *f)
{
	for (unsigned i = 0; i < SLOTS_MAX; i++) {
		if (f->slots[i].wreq == NULL)
			return &f->slots[i];
	}
	return NULL;
}

/* Decide the fate of write number n (1-based) of len bytes. */
static struct write_plan plan_write(const struct fault_io *f, uint64_t n, uint32_t len)
{
	const struct sl_io_fault_plan *p = &f->plan;
	uint64_t limit = p->torn_after_bytes;

	if (n == p->write_eio_at)
		return (struct write_plan){.fate = W_FAIL, .res = -EIO};
	if (n == p->write_enospc_at)
		return (struct write_plan){.fate = W_FAIL, .res = -ENOSPC};
	if (f->torn)
		return (struct write_plan){.fate = W_DROP};
	if (limit != 0 && f->torn_bytes + len > limit) {
		SL_ASSERT(f->torn_bytes < limit);
		return (struct write_plan){.fate = W_CROSS,
					   .inner_len = (uint32_t)(limit - f->torn_bytes)};
	}
	/* Half of a write that does not cross the limit does not either. */
	if (n == p->write_short_at && len > 0)
		return (struct write_plan){.fate = W_SHORT, .inner_len = len / 2};
	return (struct write_plan){.fate = W_PASS, .inner_len = len};
}

/* Account for a write handed to the inner sl_io (or injected). */
static void commit_write(struct fault_io *f, const struct write_plan *wp)
{
	uint64_t limit = f->plan.torn_after_bytes;

	f->stats.writes++;
	if (wp->fate != W_PASS)
		f->stats.faults_injected++;
	if (wp->fate == W_PASS || wp->fate == W_SHORT || wp->fate == W_CROSS) {
		f->stats.bytes_written += wp->inner_len;
		f->torn_bytes += wp->inner_len;
	}
	if (limit != 0 && f->torn_bytes >= limit)
		f->torn = true;
}

/* The result an fsync number n gets when its write (if any) succeeded:
 * 0 = issue it for real (returns 1 in *pass), else the injected result. */
static int plan_fsync(const struct fault_io *f, uint64_t n, bool *pass)
{
	*pass = false;
	if (n == f->plan.fsync_eio_at)
		return -EIO;
	if (f->torn)
		return 0;
	*pass = true;
	return 0;
}

/* The inner sl_io completed a slot's write: report it, then its fsync. */
static void slot_done(struct sl_io_req *inner)
{
	struct slot *s = inner->ctx;
	struct fault_io *f = s->f;
	struct sl_io_req *wreq = s->wreq;
	struct sl_io_req *freq = s->freq;
	int res = inner->res;
	int fres = s->fres;

	SL_ASSERT(wreq != NULL);
	if (s->cross && res == (int)s->inner_len)
		res = (int)s->len;
	/* Free the slot before the callbacks: they may queue more I/O. */
	s->wreq = NULL;
	s->freq = NULL;
	wreq->res = res;
	wreq->len = s->len;
	if (freq != NULL) {
		SL_ASSERT(f->held > 0);
		f->held--;
		f->synthesized++;
	}
	wreq->done(wreq);
	if (freq != NULL) {
		/* As the kernel's link: the fsync runs only after a whole write. */
		freq->res = res == (int)s->len ? fres : -ECANCELED;
		freq->len = 0;
		if (s->hold && freq->res == fres && fres != 0) {
			f->hold_req = freq; /* fault_write*() or fault_poll release it */
			f->hold_res = fres;
			f->hold_until_writes = s->hold_until_writes;
			f->hold_since_ns = sl_clock_mono_ns();
			f->held++;
			f->synthesized--;
			return;
		}
		freq->done(freq);
	}
}

/* Queue the held fsync failure for the next poll. */
static void hold_release(struct fault_io *f)
{
	if (f->hold_req == NULL || !ready_has_room(f, 1))
		return;
	ready_push(f, f->hold_req, f->hold_res, 0);
	f->hold_req = NULL;
	SL_ASSERT(f->held > 0);
	f->held--;
}

/* After a write was queued: release the held failure once enough were. */
static void hold_note_write(struct fault_io *f)
{
	if (f->hold_req != NULL && f->stats.writes >= f->hold_until_writes)
		hold_release(f);
}

/* Send a write to the inner sl_io through a slot; freq (or NULL) gets fres
 * after it. */
static int slot_write(struct fault_io *f, int fd, const void *buf, uint32_t len, uint64_t off,
		      int buf_index, const struct write_plan *wp, struct sl_io_req *wreq,
		      struct sl_io_req *freq, int fres)
{
	struct slot *s = slot_free(f);
	int ret;

	if (s == NULL)
		return -EBUSY;
	s->inner = (struct sl_io_req){.done = slot_done, .ctx = s};
	s->f = f;
	ret = f->inner->ops->write(f->inner, fd, buf, wp->inner_len, off, buf_index, &s->inner);
	if (ret < 0)
		return ret;
	s->wreq = wreq;
	s->freq = freq;
	s->inner_len = wp->inner_len;
	s->len = len;
	s->cross = wp->fate == W_CROSS;
	s->fres = fres;
	s->hold = false;
	wreq->res = 0;
	wreq->len = len;
	if (freq != NULL) {
		freq->res = 0;
		freq->len = 0;
		f->held++;
	}
	return 0;
}

/* busy_from: whether this queueing call is refused (-EBUSY). */
static bool plan_busy(struct fault_io *f)
{
	if (f->plan.busy_from == 0)
		return false;
	if (f->queue_calls + 1 >= f->plan.busy_from)
		return true;
	f->queue_calls++;
	return false;
}

static int fault_write(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
		       int buf_index, struct sl_io_req *req)
{
	struct fault_io *f = to_fault(io);
	if (plan_busy(f))
		return -EBUSY;
	struct write_plan wp = plan_write(f, f->stats.writes + 1, len);
	int ret = 0;

	SL_ASSERT(req != NULL);
	switch (wp.fate) {
	case W_FAIL:
	case W_DROP:
		if (!ready_has_room(f, 1))
			return -EBUSY;
		ready_push(f, req, wp.fate == W_FAIL ? wp.res : (int)len, len);
		break;
	case W_CROSS:
		ret = slot_write(f, fd, buf, len, off, buf_index, &wp, req, NULL, 0);
		break;
	case W_PASS:
	case W_SHORT:
		ret = f->inner->ops->write(f->inner, fd, buf, wp.inner_len, off, buf_index, req);
		if (ret == 0)
			req->len = len; /* the inner set what it was asked: half */
		break;
	}
	if (ret < 0)
		return ret;
	commit_write(f, &wp);
	hold_note_write(f);
	return 0;
}

/* Both results are known now: queue them in order, write first. */
static int write_fsync_injected(struct fault_io *f, const struct write_plan *wp, uint32_t len,
				int fres, struct sl_io_req *wreq, struct sl_io_req *freq)
{
	int wres = wp->fate == W_FAIL ? wp->res : (int)len;

	if (!ready_has_room(f, 2))
		return -EBUSY;
	ready_push(f, wreq, wres, len);
	ready_push(f, freq, wp->fate == W_FAIL ? -ECANCELED : fres, 0);
	return 0;
}

static int fault_write_fsync(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
			     int buf_index, struct sl_io_req *wreq, struct sl_io_req *freq)
{
	struct fault_io *f = to_fault(io);
	if (plan_busy(f))
		return -EBUSY;
	struct write_plan wp = plan_write(f, f->stats.writes + 1, len);
	bool fpass;
	int fres = plan_fsync(f, f->stats.fsyncs + 1, &fpass);
	int ret;

	SL_ASSERT(wreq != NULL);
	SL_ASSERT(freq != NULL);
	/* The crossing write's fsync comes after the crossing: dropped. */
	if (wp.fate == W_CROSS && fpass) {
		fpass = false;
		fres = 0;
	}
	if (wp.fate == W_FAIL || wp.fate == W_DROP) {
		ret = write_fsync_injected(f, &wp, len, fres, wreq, freq);
	} else if (fpass && wp.fate == W_PASS) {
		ret = f->inner->ops->write_fsync(f->inner, fd, buf, wp.inner_len, off, buf_index,
						 wreq, freq);
		if (ret == 0)
			wreq->len = len;
	} else {
		ret = slot_write(f, fd, buf, len, off, buf_index, &wp, wreq, freq, fres);
		if (ret == 0 && fres != 0 && f->plan.fsync_eio_hold_writes != 0) {
			struct slot *s = NULL;
			for (unsigned i = 0; i < SLOTS_MAX && s == NULL; i++)
				if (f->slots[i].freq == freq)
					s = &f->slots[i];
			SL_ASSERT(s != NULL);
			s->hold = true;
			s->hold_until_writes = f->stats.writes + 1 + f->plan.fsync_eio_hold_writes;
		}
	}
	if (ret < 0)
		return ret;
	commit_write(f, &wp);
	hold_note_write(f);
	f->stats.fsyncs++;
	if (!fpass && wp.fate != W_FAIL)
		f->stats.faults_injected++;
	return 0;
}

static int fault_fsync(struct sl_io *io, int fd, struct sl_io_req *req)
{
	struct fault_io *f = to_fault(io);
	if (plan_busy(f))
		return -EBUSY;
	bool pass;
	int res = plan_fsync(f, f->stats.fsyncs + 1, &pass);
	int ret;

	SL_ASSERT(req != NULL);
	if (pass) {
		ret = f->inner->ops->fsync(f->inner, fd, req);
		if (ret < 0)
			return ret;
	} else {
		if (!ready_has_room(f, 1))
			return -EBUSY;
		ready_push(f, req, res, 0);
		f->stats.faults_injected++;
	}
	f->stats.fsyncs++;
	return 0;
}

/*
 * Deliver the injected completions that were queued before this call (ones
 * queued by their done() wait for the next poll), then poll the inner sl_io
 * for the rest of min_complete.
 */
/* Reserving space is not I/O the plan covers: straight through. */
static int fault_fallocate(struct sl_io *io, int fd, int mode, uint64_t off, uint64_t len,
			   struct sl_io_req *req)
{
	struct fault_io *f = to_fault(io);

	if (plan_busy(f))
		return -EBUSY;
	return f->inner->ops->fallocate(f->inner, fd, mode, off, len, req);
}

/* Counted with the synchronous opens: open_enospc_at covers both. */
static int fault_openat(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode,
			struct sl_io_req *req)
{
	struct fault_io *f = to_fault(io);

	if (plan_busy(f))
		return -EBUSY;
	if ((flags & O_CREAT) && f->creat_opens + 1 == f->plan.open_enospc_at) {
		if (!ready_has_room(f, 1))
			return -EBUSY;
		ready_push(f, req, -ENOSPC, 0);
		f->stats.faults_injected++;
	} else {
		int ret = f->inner->ops->openat(f->inner, dirfd, name, flags, mode, req);
		if (ret < 0)
			return ret;
	}
	f->stats.opens++;
	if (flags & O_CREAT)
		f->creat_opens++;
	return 0;
}

/* Waiting on an fd is not I/O the plan covers: straight through. */
static int fault_poll_add(struct sl_io *io, int fd, struct sl_io_req *req)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->poll_add(f->inner, fd, req);
}

static int fault_poll(struct sl_io *io, unsigned min_complete, uint64_t timeout_ns)
{
	struct fault_io *f = to_fault(io);
	unsigned n = ready_count(f);
	unsigned need = min_complete > n ? min_complete - n : 0;
	int ret;

	SL_ASSERT(!f->polling);
	/* No younger write came within HOLD_MAX_NS: the held failure goes
	 * now, so that a caller that queues nothing more does not hang. */
	if (f->hold_req != NULL && sl_clock_mono_ns() - f->hold_since_ns > HOLD_MAX_NS) {
		hold_release(f);
		n = ready_count(f);
		need = min_complete > n ? min_complete - n : 0;
	}
	f->polling = true;
	for (unsigned i = 0; i < n; i++) {
		struct ready r = f->ready[f->ready_head % READY_MAX];

		f->ready_head++;
		r.req->res = r.res;
		r.req->done(r.req);
	}
	f->synthesized = 0;
	ret = f->inner->ops->poll(f->inner, need, need > 0 ? timeout_ns : 0);
	f->polling = false;
	if (ret < 0)
		return n > 0 ? (int)n : ret;
	return (int)n + ret + (int)f->synthesized;
}

static int fault_open(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode)
{
	struct fault_io *f = to_fault(io);

	f->stats.opens++;
	if (flags & O_CREAT) {
		f->creat_opens++;
		if (f->creat_opens == f->plan.open_enospc_at) {
			f->stats.faults_injected++;
			return -ENOSPC;
		}
	}
	return f->inner->ops->open(f->inner, dirfd, name, flags, mode);
}

static ssize_t fault_pread(struct sl_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->pread(f->inner, fd, buf, len, off);
}

/* Torn applies: these bytes land in files like an asynchronous write's. */
static int fault_pwrite_sync(struct sl_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	struct fault_io *f = to_fault(io);
	uint64_t limit = f->plan.torn_after_bytes;
	size_t inner_len = len;
	int ret;

	if (f->torn) {
		f->stats.faults_injected++;
		return 0;
	}
	if (limit != 0 && f->torn_bytes + len > limit) {
		inner_len = (size_t)(limit - f->torn_bytes);
		f->stats.faults_injected++;
	}
	ret = f->inner->ops->pwrite_sync(f->inner, fd, buf, inner_len, off);
	f->stats.bytes_written += inner_len;
	f->torn_bytes += inner_len;
	if (limit != 0 && f->torn_bytes >= limit)
		f->torn = true;
	return ret;
}

static int fault_ftruncate(struct sl_io *io, int fd, uint64_t len)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->ftruncate(f->inner, fd, len);
}

static int fault_fdatasync(struct sl_io *io, int fd)
{
	struct fault_io *f = to_fault(io);

	if (f->torn) {
		f->stats.faults_injected++;
		return 0;
	}
	return f->inner->ops->fdatasync(f->inner, fd);
}

static int fault_unlink(struct sl_io *io, int dirfd, const char *name)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->unlink(f->inner, dirfd, name);
}

static int fault_close(struct sl_io *io, int fd)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->close(f->inner, fd);
}

static int fault_buffer_register(struct sl_io *io, void *base, size_t len)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->buffer_register(f->inner, base, len);
}

static void fault_buffer_unregister(struct sl_io *io, int index)
{
	struct fault_io *f = to_fault(io);

	f->inner->ops->buffer_unregister(f->inner, index);
}

static int fault_file_register(struct sl_io *io, int fd)
{
	struct fault_io *f = to_fault(io);

	return f->inner->ops->file_register(f->inner, fd);
}

static void fault_file_unregister(struct sl_io *io, int fd)
{
	struct fault_io *f = to_fault(io);

	f->inner->ops->file_unregister(f->inner, fd);
}

/* Room in the inner sl_io and for as many injected completions. */
static bool fault_has_room(const struct sl_io *io, unsigned n)
{
	const struct fault_io *f = to_fault_const(io);

	if (f->plan.busy_from != 0 && f->queue_calls + 1 >= f->plan.busy_from)
		return false;
	return ready_has_room(f, n) && f->inner->ops->has_room(f->inner, n);
}

static unsigned fault_inflight(const struct sl_io *io)
{
	const struct fault_io *f = to_fault_const(io);

	return f->inner->ops->inflight(f->inner) + ready_count(f) + f->held;
}

static void fault_destroy(struct sl_io *io)
{
	struct fault_io *f = to_fault(io);

	SL_ASSERT(!f->polling);
	SL_ASSERT(ready_count(f) == 0);
	SL_ASSERT(f->held == 0);
	sl_io_destroy(f->inner);
	free(f);
}

static const struct sl_io_ops fault_ops = {
    .write = fault_write,
    .write_fsync = fault_write_fsync,
    .fsync = fault_fsync,
    .openat = fault_openat,
    .fallocate = fault_fallocate,
    .poll_add = fault_poll_add,
    .poll = fault_poll,
    .open = fault_open,
    .pread = fault_pread,
    .pwrite_sync = fault_pwrite_sync,
    .ftruncate = fault_ftruncate,
    .fdatasync = fault_fdatasync,
    .unlink = fault_unlink,
    .close = fault_close,
    .buffer_register = fault_buffer_register,
    .buffer_unregister = fault_buffer_unregister,
    .file_register = fault_file_register,
    .file_unregister = fault_file_unregister,
    .inflight = fault_inflight,
    .has_room = fault_has_room,
    .destroy = fault_destroy,
};

/* On -ENOMEM `inner` is still consumed (destroyed), as on success: the
 * caller never has to know which happened to clean up. */
int sl_io_fault_create(struct sl_io *inner, const struct sl_io_fault_plan *plan, struct sl_io **out)
{
	struct fault_io *f;

	SL_ASSERT(inner != NULL);
	SL_ASSERT(plan != NULL);
	SL_ASSERT(out != NULL);
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		sl_io_destroy(inner);
		return -ENOMEM;
	}
	f->io.ops = &fault_ops;
	f->inner = inner;
	f->plan = *plan;
	*out = &f->io;
	return 0;
}

void sl_io_fault_stats(const struct sl_io *io, struct sl_io_fault_stats *out)
{
	SL_ASSERT(io != NULL);
	SL_ASSERT(io->ops == &fault_ops);
	*out = to_fault_const(io)->stats;
}
