/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The real storage I/O layer: one io_uring per struct sl_io, owned by one
 * thread. Asynchronous writes and fdatasyncs are queued as SQEs whose
 * user_data is the caller's struct sl_io_req; sl_io_poll submits them, reaps
 * every CQE and calls each request's done(). The synchronous operations
 * (open, pread, pwrite_sync, ...) are plain system calls. This is the only
 * file in the project that includes liburing.h.
 *
 * Bounds: a request needs one CQE, so the number of requests in flight
 * (queued or submitted, not yet reaped) is capped at the CQ ring's size;
 * with the SQ ring full, or that cap reached, a queueing call returns
 * -EBUSY and queues nothing. The CQ ring therefore never overflows and
 * the kernel never has to hold completions for us.
 *
 * Linked write + fdatasync: the write SQE carries IOSQE_IO_LINK, so the
 * kernel starts the fsync only once the write completed with exactly the
 * requested length. A failed write, and a short one (the kernel marks a
 * read or write that returns less than asked as failed for the purpose of
 * links), completes the fsync with -ECANCELED; tests/unit/storage/test_io.c
 * checks both against the running kernel.
 *
 * Registered buffers and files: at create the ring gets a sparse table of
 * SL_IO_BUFS_MAX buffer slots and one of SL_IO_FILES_MAX file slots; a
 * buffer or file is put in a free slot when its owner registers it and
 * the slot is cleared when it unregisters, so shards that come and go
 * (streams created and deleted) get them too. A write from a registered
 * buffer is a WRITE_FIXED (the kernel pinned and mapped the pages once); a
 * request on a registered fd names its slot with IOSQE_FIXED_FILE (the
 * kernel took its file reference once). The fd -> slot map is an open
 * addressing table. A kernel that refuses the sparse tables (older than
 * 5.19) leaves both off: every request then uses plain buffers and fds.
 *
 * Nothing is allocated after sl_io_uring_create.
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include <sluice/assert.h>
#include <sluice/error.h>
#include <sluice/io.h>

/* Consecutive EINTRs a synchronous call tolerates before giving up. */
#define EINTR_RETRIES_MAX 64

/* The fd -> file slot table: twice the slots, so probes stay short. */
#define FILE_MAP_CAP (2u * SL_IO_FILES_MAX)
#define FD_NONE      (-1)
#define FD_GONE      (-2) /* a removed entry: probes go past it */

struct file_map_entry {
	int fd; /* FD_NONE, FD_GONE or the registered fd */
	int slot;
};

struct uring_io {
	struct sl_io io; /* first: &uring_io.io is what callers hold */
	struct io_uring ring;
	unsigned inflight;     /* requests queued or submitted, not yet reaped */
	unsigned inflight_max; /* the CQ ring's size */
	bool polling;          /* inside poll: done() must not poll again */
	/* Registered buffers: a sparse table of SL_IO_BUFS_MAX slots, free
	 * slots on a stack; 0 slots: the kernel refused the table. */
	unsigned buf_slots;
	unsigned buf_free_count;
	uint16_t buf_free[SL_IO_BUFS_MAX];
	bool buf_used[SL_IO_BUFS_MAX];
	/* Registered files, likewise, and the fd -> slot map. */
	unsigned file_slots;
	unsigned file_free_count;
	uint16_t file_free[SL_IO_FILES_MAX];
	struct file_map_entry file_map[FILE_MAP_CAP];
};

SL_STATIC_ASSERT(SL_IO_BUFS_MAX <= UINT16_MAX + 1u);
SL_STATIC_ASSERT(SL_IO_FILES_MAX <= UINT16_MAX + 1u);

/* io is the first member, so the cast is exact (and keeps -Wcast-align quiet). */
SL_STATIC_ASSERT(offsetof(struct uring_io, io) == 0);

static struct uring_io *to_uring(struct sl_io *io)
{
	return (struct uring_io *)io;
}

static const struct uring_io *to_uring_const(const struct sl_io *io)
{
	return (const struct uring_io *)io;
}

/* Room for n more requests: n SQEs and n CQEs. */
static bool uring_has_room(const struct uring_io *u, unsigned n)
{
	if (u->inflight + n > u->inflight_max)
		return false;
	return io_uring_sq_space_left(&u->ring) >= n;
}

/*
 * An SQE for req (the caller checked room); the caller preps it, then
 * attaches req with io_uring_sqe_set_data (prep_* resets user_data).
 */
static struct io_uring_sqe *uring_sqe(struct uring_io *u, struct sl_io_req *req, uint32_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	SL_ASSERT(sqe != NULL);
	req->res = 0;
	req->len = len;
	return sqe;
}

static unsigned file_hash(int fd)
{
	return ((unsigned)fd * 2654435761u) % FILE_MAP_CAP;
}

/* The map entry of fd, or NULL. */
static struct file_map_entry *file_find(struct uring_io *u, int fd)
{
	if (u->file_slots == 0 || fd < 0)
		return NULL;
	for (unsigned i = 0, h = file_hash(fd); i < FILE_MAP_CAP; i++, h = (h + 1) % FILE_MAP_CAP) {
		struct file_map_entry *e = &u->file_map[h];
		if (e->fd == fd)
			return e;
		if (e->fd == FD_NONE)
			return NULL;
	}
	return NULL;
}

/* Point the SQE at fd's registered slot, if it has one. */
static void uring_sqe_file(struct uring_io *u, struct io_uring_sqe *sqe, int fd)
{
	const struct file_map_entry *e = file_find(u, fd);
	if (e != NULL) {
		sqe->fd = e->slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

/* Fill a write SQE (fixed when buf_index >= 0); never NULL after has_room. */
static struct io_uring_sqe *uring_prep_write(struct uring_io *u, int fd, const void *buf,
					     uint32_t len, uint64_t off, int buf_index,
					     struct sl_io_req *req)
{
	struct io_uring_sqe *sqe = uring_sqe(u, req, len);

	if (buf_index >= 0) {
		SL_ASSERT((unsigned)buf_index < u->buf_slots && u->buf_used[buf_index]);
		io_uring_prep_write_fixed(sqe, fd, buf, len, off, buf_index);
	} else {
		io_uring_prep_write(sqe, fd, buf, len, off);
	}
	uring_sqe_file(u, sqe, fd);
	io_uring_sqe_set_data(sqe, req);
	return sqe;
}

static void uring_prep_fsync(struct uring_io *u, int fd, struct sl_io_req *req)
{
	struct io_uring_sqe *sqe = uring_sqe(u, req, 0);

	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	uring_sqe_file(u, sqe, fd);
	io_uring_sqe_set_data(sqe, req);
}

static int uring_write(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
		       int buf_index, struct sl_io_req *req)
{
	struct uring_io *u = to_uring(io);

	SL_ASSERT(req != NULL);
	SL_ASSERT(req->done != NULL);
	SL_ASSERT(len <= INT_MAX);
	if (!uring_has_room(u, 1))
		return -EBUSY;
	uring_prep_write(u, fd, buf, len, off, buf_index, req);
	u->inflight++;
	return 0;
}

static int uring_write_fsync(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
			     int buf_index, struct sl_io_req *wreq, struct sl_io_req *freq)
{
	struct uring_io *u = to_uring(io);
	struct io_uring_sqe *wsqe;

	SL_ASSERT(wreq != NULL);
	SL_ASSERT(freq != NULL);
	SL_ASSERT(wreq != freq);
	SL_ASSERT(wreq->done != NULL);
	SL_ASSERT(freq->done != NULL);
	SL_ASSERT(len <= INT_MAX);
	/* Both SQEs or neither: a lone write without its fsync would break
	 * the caller's durability accounting. */
	if (!uring_has_room(u, 2))
		return -EBUSY;
	wsqe = uring_prep_write(u, fd, buf, len, off, buf_index, wreq);
	wsqe->flags |= IOSQE_IO_LINK;
	uring_prep_fsync(u, fd, freq);
	u->inflight += 2;
	return 0;
}

/* The SQE of a one-request call, or NULL when there is no room (-EBUSY). */
static struct io_uring_sqe *uring_one(struct uring_io *u, struct sl_io_req *req)
{
	SL_ASSERT(req != NULL);
	SL_ASSERT(req->done != NULL);
	return uring_has_room(u, 1) ? uring_sqe(u, req, 0) : NULL;
}

/* After its prep: the registered file for fd (if any), req, counted. */
static int uring_queued(struct uring_io *u, struct io_uring_sqe *sqe, int fd, struct sl_io_req *req)
{
	uring_sqe_file(u, sqe, fd);
	io_uring_sqe_set_data(sqe, req);
	u->inflight++;
	return 0;
}

static int uring_fsync(struct sl_io *io, int fd, struct sl_io_req *req)
{
	struct uring_io *u = to_uring(io);
	struct io_uring_sqe *sqe = uring_one(u, req);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	return uring_queued(u, sqe, fd, req);
}

static int uring_fallocate(struct sl_io *io, int fd, int mode, uint64_t off, uint64_t len,
			   struct sl_io_req *req)
{
	struct uring_io *u = to_uring(io);
	struct io_uring_sqe *sqe = uring_one(u, req);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len);
	return uring_queued(u, sqe, fd, req);
}

static int uring_openat(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode,
			struct sl_io_req *req)
{
	struct uring_io *u = to_uring(io);
	struct io_uring_sqe *sqe = uring_one(u, req);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_openat(sqe, dirfd, name, flags | O_CLOEXEC, mode);
	return uring_queued(u, sqe, -1, req); /* a directory fd is never registered */
}

static int uring_poll_add(struct sl_io *io, int fd, struct sl_io_req *req)
{
	struct uring_io *u = to_uring(io);
	struct io_uring_sqe *sqe = uring_one(u, req);

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	return uring_queued(u, sqe, -1, req); /* an eventfd, never registered */
}

/* Call done() for every CQE in the ring; returns how many. */
static int uring_reap(struct uring_io *u)
{
	struct io_uring_cqe *cqe;
	unsigned head;
	unsigned n = 0;

	io_uring_for_each_cqe (&u->ring, head, cqe) {
		struct sl_io_req *req = io_uring_cqe_get_data(cqe);

		/* Bounded: we never have more requests out than CQ slots. */
		SL_ASSERT(n < u->inflight_max);
		SL_ASSERT(req != NULL);
		SL_ASSERT(u->inflight > 0);
		u->inflight--;
		req->res = cqe->res;
		n++;
		/* done() may queue new requests; they go to the SQ and are
		 * submitted by the next poll, so the CQ walk is unaffected. */
		req->done(req);
	}
	io_uring_cq_advance(&u->ring, n);
	return (int)n;
}

/*
 * Submit everything queued, wait up to timeout_ns until min_complete
 * completions are ready (never for more than are in flight), then reap
 * them all. A timeout or a signal just ends the wait early.
 */
static int uring_poll(struct sl_io *io, unsigned min_complete, uint64_t timeout_ns)
{
	struct uring_io *u = to_uring(io);
	int ret;

	SL_ASSERT(!u->polling);
	if (io_uring_sq_ready(&u->ring) > 0) {
		ret = io_uring_submit(&u->ring);
		/* EAGAIN/EBUSY: the kernel is short of resources right now;
		 * the SQEs stay queued for the next poll. */
		if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
			return ret;
	}
	if (min_complete > u->inflight)
		min_complete = u->inflight;
	if (min_complete > 0 && timeout_ns > 0 && io_uring_cq_ready(&u->ring) < min_complete) {
		struct __kernel_timespec ts = {
		    .tv_sec = (long long)(timeout_ns / 1000000000u),
		    .tv_nsec = (long long)(timeout_ns % 1000000000u),
		};
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqes(&u->ring, &cqe, min_complete, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN)
			return ret;
	}
	u->polling = true;
	ret = uring_reap(u);
	u->polling = false;
	return ret;
}

static int uring_open(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode)
{
	int fd;

	(void)io;
	for (unsigned i = 0; i < EINTR_RETRIES_MAX; i++) {
		fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EINTR)
			return sl_neg_errno();
	}
	return -EINTR;
}

/* Reads until len bytes or end of file; returns the bytes read or -errno. */
static ssize_t uring_pread(struct sl_io *io, int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	unsigned eintr = 0;

	(void)io;
	SL_ASSERT(len <= SSIZE_MAX);
	SL_ASSERT(off <= INT64_MAX);
	/* Each pass reads at least one byte, ends, or counts an EINTR. */
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR && ++eintr < EINTR_RETRIES_MAX)
			continue;
		if (n < 0)
			return sl_neg_errno();
		if (n == 0)
			break;
		done += (size_t)n;
		eintr = 0;
	}
	return (ssize_t)done;
}

/*
 * Writes all len bytes (headers, index files: small, synchronous), going on
 * after a short write; 0 or -errno. A write that makes no progress is -EIO.
 */
static int uring_pwrite_sync(struct sl_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	unsigned eintr = 0;

	(void)io;
	SL_ASSERT(len <= SSIZE_MAX);
	SL_ASSERT(off <= INT64_MAX);
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR && ++eintr < EINTR_RETRIES_MAX)
			continue;
		if (n < 0)
			return sl_neg_errno();
		if (n == 0)
			return -EIO;
		done += (size_t)n;
		eintr = 0;
	}
	return 0;
}

static int uring_ftruncate(struct sl_io *io, int fd, uint64_t len)
{
	(void)io;
	if (len > INT64_MAX)
		return -EFBIG;
	for (unsigned i = 0; i < EINTR_RETRIES_MAX; i++) {
		if (ftruncate(fd, (off_t)len) == 0)
			return 0;
		if (errno != EINTR)
			return sl_neg_errno();
	}
	return -EINTR;
}

/* Never retried on error (see HOUSE_STYLE "Avoid"): the error is the answer. */
static int uring_fdatasync(struct sl_io *io, int fd)
{
	(void)io;
	return fdatasync(fd) == 0 ? 0 : sl_neg_errno();
}

static int uring_unlink(struct sl_io *io, int dirfd, const char *name)
{
	(void)io;
	return unlinkat(dirfd, name, 0) == 0 ? 0 : sl_neg_errno();
}

/* The fd is gone whatever this returns (Linux releases it even on EINTR):
 * never retry a close. */
static int uring_close(struct sl_io *io, int fd)
{
	(void)io;
	return close(fd) == 0 ? 0 : sl_neg_errno();
}

static int uring_buffer_register(struct sl_io *io, void *base, size_t len)
{
	struct uring_io *u = to_uring(io);
	struct iovec iov = {.iov_base = base, .iov_len = len};
	__u64 tag = 0;

	SL_ASSERT(base != NULL && len > 0);
	if (u->buf_slots == 0)
		return -EOPNOTSUPP;
	if (u->buf_free_count == 0)
		return -ENOSPC;
	unsigned slot = u->buf_free[u->buf_free_count - 1];
	int ret = io_uring_register_buffers_update_tag(&u->ring, slot, &iov, &tag, 1);
	if (ret < 0)
		return ret; /* -ENOMEM: the memlock limit */
	if (ret != 1)
		return -EIO;
	u->buf_free_count--;
	u->buf_used[slot] = true;
	return (int)slot;
}

/* The slot's buffer must have no write in flight. */
static void uring_buffer_unregister(struct sl_io *io, int index)
{
	struct uring_io *u = to_uring(io);
	struct iovec none = {0};
	__u64 tag = 0;

	SL_ASSERT(index >= 0 && (unsigned)index < u->buf_slots && u->buf_used[index]);
	/* Clearing a slot needs no memory; it cannot fail for a valid one. */
	int ret = io_uring_register_buffers_update_tag(&u->ring, (unsigned)index, &none, &tag, 1);
	SL_ASSERT(ret == 1);
	(void)ret;
	u->buf_used[index] = false;
	u->buf_free[u->buf_free_count++] = (uint16_t)index;
}

static int uring_file_register(struct sl_io *io, int fd)
{
	struct uring_io *u = to_uring(io);

	SL_ASSERT(fd >= 0);
	SL_ASSERT(file_find(u, fd) == NULL);
	if (u->file_slots == 0)
		return -EOPNOTSUPP;
	if (u->file_free_count == 0)
		return -ENOSPC;
	unsigned slot = u->file_free[u->file_free_count - 1];
	int ret = io_uring_register_files_update(&u->ring, slot, &fd, 1);
	if (ret < 0)
		return ret;
	if (ret != 1)
		return -EIO;
	u->file_free_count--;
	for (unsigned h = file_hash(fd);; h = (h + 1) % FILE_MAP_CAP) {
		struct file_map_entry *e = &u->file_map[h];
		if (e->fd == FD_NONE || e->fd == FD_GONE) {
			*e = (struct file_map_entry){.fd = fd, .slot = (int)slot};
			break;
		}
	}
	return 0;
}

/* Before the fd is closed; requests already queued keep their reference. */
static void uring_file_unregister(struct sl_io *io, int fd)
{
	struct uring_io *u = to_uring(io);
	struct file_map_entry *e = file_find(u, fd);
	int none = -1;

	if (e == NULL)
		return;
	int ret = io_uring_register_files_update(&u->ring, (unsigned)e->slot, &none, 1);
	SL_ASSERT(ret == 1);
	(void)ret;
	u->file_free[u->file_free_count++] = (uint16_t)e->slot;
	e->fd = FD_GONE;
	e->slot = -1;
}

static unsigned uring_inflight(const struct sl_io *io)
{
	return to_uring_const(io)->inflight;
}

static bool uring_room(const struct sl_io *io, unsigned n)
{
	return uring_has_room(to_uring_const(io), n);
}

static void uring_destroy(struct sl_io *io)
{
	struct uring_io *u = to_uring(io);

	/* The kernel may still write into the callers' requests and buffers. */
	SL_ASSERT(u->inflight == 0);
	SL_ASSERT(!u->polling);
	io_uring_queue_exit(&u->ring);
	free(u);
}

static const struct sl_io_ops uring_ops = {
    .write = uring_write,
    .write_fsync = uring_write_fsync,
    .fsync = uring_fsync,
    .openat = uring_openat,
    .fallocate = uring_fallocate,
    .poll_add = uring_poll_add,
    .poll = uring_poll,
    .open = uring_open,
    .pread = uring_pread,
    .pwrite_sync = uring_pwrite_sync,
    .ftruncate = uring_ftruncate,
    .fdatasync = uring_fdatasync,
    .unlink = uring_unlink,
    .close = uring_close,
    .buffer_register = uring_buffer_register,
    .buffer_unregister = uring_buffer_unregister,
    .file_register = uring_file_register,
    .file_unregister = uring_file_unregister,
    .inflight = uring_inflight,
    .has_room = uring_room,
    .destroy = uring_destroy,
};

/*
 * IORING_SETUP_SUBMIT_ALL (5.18) keeps submitting the rest of a batch when
 * one SQE fails early (its error still arrives as a CQE); older kernels
 * refuse the flag with -EINVAL and we do without it.
 */
int sl_io_uring_create(unsigned depth, struct sl_io **out)
{
	struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL};
	struct uring_io *u;
	int ret;

	SL_ASSERT(out != NULL);
	*out = NULL;
	if (depth == 0)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	ret = io_uring_queue_init_params(depth, &u->ring, &p);
	if (ret == -EINVAL) {
		p = (struct io_uring_params){0};
		ret = io_uring_queue_init_params(depth, &u->ring, &p);
	}
	if (ret < 0)
		goto err_free;
	u->io.ops = &uring_ops;
	u->inflight_max = p.cq_entries;
	SL_ASSERT(u->inflight_max >= depth);
	for (unsigned i = 0; i < FILE_MAP_CAP; i++)
		u->file_map[i] = (struct file_map_entry){.fd = FD_NONE, .slot = -1};
	/* Sparse tables (5.19); without them, plain buffers and fds. */
	if (io_uring_register_buffers_sparse(&u->ring, SL_IO_BUFS_MAX) == 0) {
		u->buf_slots = SL_IO_BUFS_MAX;
		for (unsigned i = 0; i < SL_IO_BUFS_MAX; i++)
			u->buf_free[i] = (uint16_t)(SL_IO_BUFS_MAX - 1 - i); /* slot 0 first */
		u->buf_free_count = SL_IO_BUFS_MAX;
	}
	if (io_uring_register_files_sparse(&u->ring, SL_IO_FILES_MAX) == 0) {
		u->file_slots = SL_IO_FILES_MAX;
		for (unsigned i = 0; i < SL_IO_FILES_MAX; i++)
			u->file_free[i] = (uint16_t)(SL_IO_FILES_MAX - 1 - i);
		u->file_free_count = SL_IO_FILES_MAX;
	}
	*out = &u->io;
	return 0;

err_free:
	free(u);
	return ret;
}
