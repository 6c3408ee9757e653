/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks storage/io_uring.c and storage/io_fault.c against the running
 * kernel, in a fresh directory under /tmp that is removed at the end.
 *
 * The real io_uring sl_io: a write reads back byte for byte; write_fsync
 * completes the write, then the fsync, with the right results; 64 writes in
 * flight at once; writes from registered buffers (buf_index); -EBUSY with
 * nothing queued when the queue is full, also for a write_fsync that needs
 * two entries and finds one; poll with nothing in flight returns 0 at once,
 * and with a request that cannot complete (a write to a full pipe) waits
 * out its timeout; the kernel cancels a linked fsync (-ECANCELED) after a
 * failed write and after a short one (RLIMIT_FSIZE); the synchronous calls
 * (O_CLOEXEC, pread to EOF, pwrite_sync, ftruncate, unlink, errors).
 *
 * The fault layer: each plan field changes exactly the Nth operation of its
 * kind and no other, checked on the completions and on the file contents
 * afterwards; torn leaves exactly torn_after_bytes bytes while later writes
 * and fsyncs report success; a linked fsync behind an injected or short
 * write completes with -ECANCELED, after its write; refused (-EBUSY)
 * operations are not counted; the statistics.
 *
 * Exits 77 (skip) only when the kernel refuses to create an io_uring.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sluice/io.h>

#include "check.h"

#define SEC_NS    1000000000ull
#define POLLS_MAX 200

static int dirfd_tmp = -1;
static unsigned seq; /* completion order, across all requests */

struct op {
	struct sl_io_req req;
	unsigned order; /* seq when done() ran; 0 = not yet */
	unsigned calls;
};

static void op_done(struct sl_io_req *req)
{
	struct op *op = req->ctx;

	op->calls++;
	op->order = ++seq;
}

static void op_init(struct op *op)
{
	*op = (struct op){.req = {.done = op_done, .ctx = op, .res = 12345}};
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

/* Poll until `want` completions arrived (or give up); returns how many. */
static unsigned poll_n(struct sl_io *io, unsigned want)
{
	unsigned got = 0;

	for (unsigned i = 0; i < POLLS_MAX && got < want; i++) {
		int ret = io->ops->poll(io, want - got, SEC_NS);

		CHECK(ret >= 0);
		if (ret < 0)
			break;
		got += (unsigned)ret;
	}
	return got;
}

static int open_file(struct sl_io *io, const char *name)
{
	int fd = io->ops->open(io, dirfd_tmp, name, O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	return fd;
}

static uint64_t file_size(int fd)
{
	struct stat st;

	CHECK(fstat(fd, &st) == 0);
	return (uint64_t)st.st_size;
}

/* len bytes of file at off equal `byte`. */
static bool file_is(int fd, uint64_t off, size_t len, int byte)
{
	unsigned char buf[4096];

	if (len > sizeof(buf) || pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != (unsigned char)byte)
			return false;
	}
	return true;
}

static struct sl_io *uring_new(unsigned depth)
{
	struct sl_io *io = NULL;
	int ret = sl_io_uring_create(depth, &io);

	CHECK_EQ_U64(ret, 0);
	CHECK(io != NULL);
	return io;
}

static void test_write_read(void)
{
	struct sl_io *io = uring_new(8);
	static unsigned char a[4096], b[4096], back[10000];
	struct op w1, w2;
	int fd = open_file(io, "rw");

	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = (unsigned char)(i * 7);
		b[i] = (unsigned char)(i * 13 + 1);
	}
	op_init(&w1);
	op_init(&w2);
	CHECK_EQ_U64(io->ops->write(io, fd, a, sizeof(a), 0, -1, &w1.req), 0);
	CHECK_EQ_U64(io->ops->write(io, fd, b, sizeof(b), 4096, -1, &w2.req), 0);
	CHECK_EQ_U64(w1.req.len, sizeof(a));
	CHECK_EQ_U64(io->ops->inflight(io), 2);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(io->ops->inflight(io), 0);
	CHECK_EQ_U64(w1.req.res, 4096);
	CHECK_EQ_U64(w2.req.res, 4096);
	CHECK_EQ_U64(w1.calls, 1);
	CHECK(w1.req.ctx == &w1);
	/* pread stops at EOF and says how much it read. */
	CHECK_EQ_U64(io->ops->pread(io, fd, back, sizeof(back), 0), 8192);
	CHECK(memcmp(back, a, 4096) == 0);
	CHECK(memcmp(back + 4096, b, 4096) == 0);
	CHECK_EQ_U64(io->ops->pread(io, fd, back, 100, 9000), 0);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_write_fsync(void)
{
	struct sl_io *io = uring_new(8);
	static const char msg[] = "durable bytes";
	struct op w, f;
	int fd = open_file(io, "wf");

	op_init(&w);
	op_init(&f);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, msg, sizeof(msg), 10, -1, &w.req, &f.req), 0);
	CHECK_EQ_U64(io->ops->inflight(io), 2);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(w.req.res, sizeof(msg));
	CHECK_EQ_U64(f.req.res, 0);
	CHECK(w.order > 0 && w.order < f.order);
	CHECK_EQ_U64(file_size(fd), 10 + sizeof(msg));
	CHECK(file_is(fd, 0, 10, 0));

	/* A plain fsync too. */
	op_init(&f);
	CHECK_EQ_U64(io->ops->fsync(io, fd, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 1), 1);
	CHECK_EQ_U64(f.req.res, 0);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_many_inflight(void)
{
	enum { N = 64, LEN = 512 };
	struct sl_io *io = uring_new(N);
	static unsigned char bufs[N][LEN];
	static struct op ops[N];
	int fd = open_file(io, "many");
	bool ok = true;

	for (unsigned i = 0; i < N; i++) {
		memset(bufs[i], (int)(i + 1), LEN);
		op_init(&ops[i]);
		CHECK_EQ_U64(
		    io->ops->write(io, fd, bufs[i], LEN, (uint64_t)i * LEN, -1, &ops[i].req), 0);
	}
	CHECK_EQ_U64(io->ops->inflight(io), N);
	CHECK_EQ_U64(poll_n(io, N), N);
	for (unsigned i = 0; i < N; i++) {
		ok = ok && ops[i].req.res == LEN && ops[i].calls == 1;
		ok = ok && file_is(fd, (uint64_t)i * LEN, LEN, (int)(i + 1));
	}
	CHECK(ok);
	CHECK_EQ_U64(file_size(fd), N * LEN);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/*
 * Registered buffers and files (the sparse tables, on this kernel): writes
 * from inside registered buffers through a registered fd land; a slot
 * cleared is reused; an fd unregistered goes back to plain requests; an
 * fsync through the registered file works, linked or not.
 */
static void test_registered_buffers(void)
{
	struct sl_io *io = uring_new(8);
	static unsigned char b0[4096] __attribute__((aligned(4096)));
	static unsigned char b1[4096] __attribute__((aligned(4096)));
	struct op w0, w1, f;
	int fd = open_file(io, "fixed");

	memset(b0, 'x', sizeof(b0));
	memset(b1, 'y', sizeof(b1));
	int i0 = io->ops->buffer_register(io, b0, sizeof(b0));
	int i1 = io->ops->buffer_register(io, b1, sizeof(b1));
	CHECK(i0 >= 0 && i1 >= 0 && i0 != i1);
	CHECK_EQ_U64(io->ops->file_register(io, fd), 0);
	op_init(&w0);
	op_init(&w1);
	op_init(&f);
	/* Any range inside a registered buffer, not only its start. */
	CHECK_EQ_U64(io->ops->write(io, fd, b1 + 100, 1000, 0, i1, &w1.req), 0);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, b0, 4096, 1000, i0, &w0.req, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 3), 3);
	CHECK_EQ_U64(w1.req.res, 1000);
	CHECK_EQ_U64(w0.req.res, 4096);
	CHECK_EQ_U64(f.req.res, 0);
	CHECK(file_is(fd, 0, 1000, 'y'));
	CHECK(file_is(fd, 1000, 4096, 'x'));

	/* A cleared slot is handed out again, for another buffer. */
	io->ops->buffer_unregister(io, i1);
	memset(b1, 'z', sizeof(b1));
	int i2 = io->ops->buffer_register(io, b1, sizeof(b1));
	CHECK_EQ_U64(i2, i1);
	/* Unregistered, the fd is used plainly; registered again, as a slot. */
	io->ops->file_unregister(io, fd);
	op_init(&w1);
	CHECK_EQ_U64(io->ops->write(io, fd, b1, 10, 5096, i2, &w1.req), 0);
	CHECK_EQ_U64(poll_n(io, 1), 1);
	CHECK_EQ_U64(w1.req.res, 10);
	CHECK_EQ_U64(io->ops->file_register(io, fd), 0);
	op_init(&w1);
	op_init(&f);
	CHECK_EQ_U64(io->ops->write(io, fd, b1, 10, 5106, -1, &w1.req), 0);
	CHECK_EQ_U64(io->ops->fsync(io, fd, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(w1.req.res, 10);
	CHECK_EQ_U64(f.req.res, 0);
	CHECK(file_is(fd, 5096, 20, 'z'));
	CHECK_EQ_U64(file_size(fd), 5116);
	io->ops->file_unregister(io, fd);
	io->ops->buffer_unregister(io, i0);
	io->ops->buffer_unregister(io, i2);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_busy(void)
{
	struct sl_io *io = uring_new(4);
	static const char c = 'c';
	struct op w[5], f;
	int fd = open_file(io, "busy");

	for (unsigned i = 0; i < 5; i++)
		op_init(&w[i]);
	op_init(&f);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, i, -1, &w[i].req), 0);
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 4, -1, &w[4].req), (uint64_t)-EBUSY);
	CHECK_EQ_U64(io->ops->fsync(io, fd, &f.req), (uint64_t)-EBUSY);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, &c, 1, 4, -1, &w[4].req, &f.req),
		     (uint64_t)-EBUSY);
	CHECK_EQ_U64(io->ops->inflight(io), 4);
	CHECK_EQ_U64(poll_n(io, 4), 4);
	CHECK_EQ_U64(w[4].calls + f.calls, 0);

	/* One entry left: a write_fsync queues neither half. */
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, i, -1, &w[i].req), 0);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, &c, 1, 4, -1, &w[4].req, &f.req),
		     (uint64_t)-EBUSY);
	CHECK_EQ_U64(io->ops->inflight(io), 3);
	CHECK_EQ_U64(poll_n(io, 3), 3);
	CHECK_EQ_U64(io->ops->poll(io, 1, SEC_NS / 10), 0);
	CHECK_EQ_U64(w[4].calls + f.calls, 0);
	CHECK_EQ_U64(file_size(fd), 4);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/* A write into a full pipe cannot complete: poll must wait out its timeout. */
static void test_poll_timeout(void)
{
	struct sl_io *io = uring_new(4);
	static char fill[65536], drain[65536];
	int p[2];
	struct op w;
	uint64_t t0;

	t0 = now_ns();
	CHECK_EQ_U64(io->ops->poll(io, 1, 5 * SEC_NS), 0);
	CHECK_EQ_U64(io->ops->poll(io, 0, 0), 0);
	CHECK(now_ns() - t0 < SEC_NS / 10);

	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	/* io_uring honours O_NONBLOCK (-EAGAIN): make the write end block. */
	CHECK(fcntl(p[1], F_SETFL, 0) == 0);
	op_init(&w);
	CHECK_EQ_U64(io->ops->write(io, p[1], "z", 1, 0, -1, &w.req), 0);
	t0 = now_ns();
	CHECK_EQ_U64(io->ops->poll(io, 1, SEC_NS / 20), 0);
	CHECK(now_ns() - t0 >= SEC_NS / 25);
	CHECK(now_ns() - t0 < 2 * SEC_NS);
	CHECK_EQ_U64(w.calls, 0);
	CHECK_EQ_U64(io->ops->inflight(io), 1);
	/* Room in the pipe lets the write finish. */
	while (read(p[0], drain, sizeof(drain)) > 0)
		;
	CHECK_EQ_U64(poll_n(io, 1), 1);
	CHECK_EQ_U64(w.req.res, 1);
	close(p[0]);
	close(p[1]);
	sl_io_destroy(io);
}

/* The kernel's side of the write_fsync contract: a failed write cancels. */
static void test_linked_cancel_error(void)
{
	struct sl_io *io = uring_new(4);
	struct op w, f;
	int fd = open_file(io, "ro");
	int rofd;

	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	rofd = io->ops->open(io, dirfd_tmp, "ro", O_RDONLY, 0);
	CHECK(rofd >= 0);
	op_init(&w);
	op_init(&f);
	CHECK_EQ_U64(io->ops->write_fsync(io, rofd, "q", 1, 0, -1, &w.req, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(w.req.res, (uint64_t)-EBADF);
	CHECK_EQ_U64(f.req.res, (uint64_t)-ECANCELED);
	CHECK(w.order < f.order);
	CHECK_EQ_U64(io->ops->close(io, rofd), 0);
	sl_io_destroy(io);
}

/*
 * ... and a short one cancels too: RLIMIT_FSIZE makes the kernel write only
 * up to the limit (SIGXFSZ ignored). The fsync must be -ECANCELED, never 0:
 * otherwise a caller could take a short write plus a good fsync for durable.
 */
static void test_linked_cancel_short(void)
{
	struct sl_io *io = uring_new(4);
	static unsigned char buf[8192];
	struct rlimit old, lim;
	struct op w, f;
	int fd = open_file(io, "short");

	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 6000;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	memset(buf, 's', sizeof(buf));
	op_init(&w);
	op_init(&f);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, buf, sizeof(buf), 0, -1, &w.req, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_EQ_U64(w.req.res, 6000);
	CHECK_EQ_U64(w.req.len, sizeof(buf));
	CHECK_EQ_U64(f.req.res, (uint64_t)-ECANCELED);
	CHECK(w.order < f.order);
	CHECK_EQ_U64(file_size(fd), 6000);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_sync_calls(void)
{
	struct sl_io *io = uring_new(4);
	static const char hdr[] = "header-v1";
	char back[32] = {0};
	int fd = open_file(io, "sync");

	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ_U64(io->ops->pwrite_sync(io, fd, hdr, sizeof(hdr), 5), 0);
	CHECK_EQ_U64(io->ops->fdatasync(io, fd), 0);
	CHECK_EQ_U64(io->ops->pread(io, fd, back, sizeof(back), 5), sizeof(hdr));
	CHECK_STREQ(back, hdr);
	CHECK_EQ_U64(io->ops->ftruncate(io, fd, 3), 0);
	CHECK_EQ_U64(file_size(fd), 3);
	CHECK_EQ_U64(io->ops->ftruncate(io, fd, UINT64_MAX), (uint64_t)-EFBIG);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	CHECK_EQ_U64(io->ops->pread(io, fd, back, 1, 0), (uint64_t)-EBADF);
	CHECK_EQ_U64(io->ops->pwrite_sync(io, fd, hdr, 1, 0), (uint64_t)-EBADF);
	CHECK_EQ_U64(io->ops->fdatasync(io, fd), (uint64_t)-EBADF);
	CHECK_EQ_U64(io->ops->close(io, fd), (uint64_t)-EBADF);
	CHECK_EQ_U64(io->ops->unlink(io, dirfd_tmp, "sync"), 0);
	CHECK_EQ_U64(io->ops->unlink(io, dirfd_tmp, "sync"), (uint64_t)-ENOENT);
	CHECK_EQ_U64(io->ops->open(io, dirfd_tmp, "sync", O_RDONLY, 0), (uint64_t)-ENOENT);
	sl_io_destroy(io);
}

static struct sl_io *fault_new(const struct sl_io_fault_plan *plan, unsigned depth)
{
	struct sl_io *io = NULL;

	CHECK_EQ_U64(sl_io_fault_create(uring_new(depth), plan, &io), 0);
	CHECK(io != NULL);
	return io;
}

/*
 * Three 100-byte writes of 'a', 'b', 'c' at 0, 100, 200 through a plan;
 * res[] gets their results. The caller checks the file.
 */
static void three_writes(struct sl_io *io, int fd, int res[3])
{
	static char bufs[3][100];
	struct op w[3];

	for (unsigned i = 0; i < 3; i++) {
		memset(bufs[i], 'a' + (int)i, 100);
		op_init(&w[i]);
		CHECK_EQ_U64(io->ops->write(io, fd, bufs[i], 100, 100 * i, -1, &w[i].req), 0);
	}
	CHECK_EQ_U64(io->ops->inflight(io), 3);
	CHECK_EQ_U64(poll_n(io, 3), 3);
	CHECK_EQ_U64(io->ops->inflight(io), 0);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ_U64(w[i].calls, 1);
		CHECK_EQ_U64(w[i].req.len, 100);
		res[i] = w[i].req.res;
	}
}

static void test_fault_write_errors(void)
{
	struct sl_io_fault_plan plan = {.write_eio_at = 2, .write_enospc_at = 3};
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "ferr");
	int res[3];

	three_writes(io, fd, res);
	CHECK_EQ_U64(res[0], 100);
	CHECK_EQ_U64(res[1], (uint64_t)-EIO);
	CHECK_EQ_U64(res[2], (uint64_t)-ENOSPC);
	/* Nothing of the failed writes reached the file. */
	CHECK_EQ_U64(file_size(fd), 100);
	CHECK(file_is(fd, 0, 100, 'a'));
	/* Later writes are not affected. */
	three_writes(io, fd, res);
	CHECK(res[0] == 100 && res[1] == 100 && res[2] == 100);
	CHECK(file_is(fd, 100, 100, 'b') && file_is(fd, 200, 100, 'c'));
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.writes, 6);
	CHECK_EQ_U64(st.fsyncs, 0);
	CHECK_EQ_U64(st.opens, 1);
	CHECK_EQ_U64(st.bytes_written, 400);
	CHECK_EQ_U64(st.faults_injected, 2);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_fault_short(void)
{
	struct sl_io_fault_plan plan = {.write_short_at = 2};
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "fshort");
	int res[3];

	three_writes(io, fd, res);
	CHECK_EQ_U64(res[0], 100);
	CHECK_EQ_U64(res[1], 50);
	CHECK_EQ_U64(res[2], 100);
	CHECK(file_is(fd, 0, 100, 'a'));
	CHECK(file_is(fd, 100, 50, 'b'));
	CHECK(file_is(fd, 150, 50, 0));
	CHECK(file_is(fd, 200, 100, 'c'));
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.writes, 3);
	CHECK_EQ_U64(st.bytes_written, 250);
	CHECK_EQ_U64(st.faults_injected, 1);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/* write_fsync through a plan: results and order of the pair. */
static void wf_once(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
		    int *wres, int *fres)
{
	struct op w, f;

	op_init(&w);
	op_init(&f);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, buf, len, off, -1, &w.req, &f.req), 0);
	CHECK_EQ_U64(io->ops->inflight(io), 2);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(io->ops->inflight(io), 0);
	CHECK(w.calls == 1 && f.calls == 1);
	CHECK(w.order < f.order);
	CHECK_EQ_U64(w.req.len, len);
	*wres = w.req.res;
	*fres = f.req.res;
}

static void test_fault_write_fsync_cancel(void)
{
	struct sl_io_fault_plan plan = {.write_eio_at = 1, .write_short_at = 2, .fsync_eio_at = 2};
	static char buf[100];
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "fcancel");
	int wres, fres;

	memset(buf, 'w', sizeof(buf));
	/* Injected write error: nothing written, the fsync cancelled. */
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK_EQ_U64(wres, (uint64_t)-EIO);
	CHECK_EQ_U64(fres, (uint64_t)-ECANCELED);
	CHECK_EQ_U64(file_size(fd), 0);
	/* Short write with fsync_eio_at on its fsync: cancelled, not EIO. */
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK_EQ_U64(wres, 50);
	CHECK_EQ_U64(fres, (uint64_t)-ECANCELED);
	CHECK_EQ_U64(file_size(fd), 50);
	/* Third: untouched. */
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK_EQ_U64(wres, 100);
	CHECK_EQ_U64(fres, 0);
	CHECK(file_is(fd, 0, 100, 'w'));
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.writes, 3);
	CHECK_EQ_U64(st.fsyncs, 3);
	CHECK_EQ_U64(st.bytes_written, 150);
	CHECK_EQ_U64(st.faults_injected, 3);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_fault_short_linked(void)
{
	struct sl_io_fault_plan plan = {.write_short_at = 1};
	static char buf[100];
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "fshortlink");
	int wres, fres;

	memset(buf, 'l', sizeof(buf));
	/* Through to the kernel with half the length: its link cancels. */
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK_EQ_U64(wres, 50);
	CHECK_EQ_U64(fres, (uint64_t)-ECANCELED);
	CHECK_EQ_U64(file_size(fd), 50);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_fault_fsync(void)
{
	struct sl_io_fault_plan plan = {.fsync_eio_at = 2};
	static char buf[100];
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "ffsync");
	struct op f[3];
	int wres, fres;

	for (unsigned i = 0; i < 3; i++) {
		op_init(&f[i]);
		CHECK_EQ_U64(io->ops->fsync(io, fd, &f[i].req), 0);
	}
	CHECK_EQ_U64(poll_n(io, 3), 3);
	CHECK_EQ_U64(f[0].req.res, 0);
	CHECK_EQ_U64(f[1].req.res, (uint64_t)-EIO);
	CHECK_EQ_U64(f[2].req.res, 0);
	sl_io_destroy(io);

	/* In a write_fsync: the write lands, its fsync fails, in that order. */
	plan.fsync_eio_at = 1;
	io = fault_new(&plan, 8);
	memset(buf, 'f', sizeof(buf));
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK_EQ_U64(wres, 100);
	CHECK_EQ_U64(fres, (uint64_t)-EIO);
	CHECK(file_is(fd, 0, 100, 'f'));
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.writes, 1);
	CHECK_EQ_U64(st.fsyncs, 1);
	CHECK_EQ_U64(st.faults_injected, 1);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/*
 * fsync_eio_hold_writes: the failing fsync of a write_fsync completes only
 * after one more write was queued (and is then delivered before that
 * write's own completions can be missed), however long the caller polls
 * before; with no more writes it comes after at most the layer's bound.
 */
static void test_fault_fsync_hold(void)
{
	struct sl_io_fault_plan plan = {.fsync_eio_at = 1, .fsync_eio_hold_writes = 1};
	static char buf[100];
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "fhold");
	struct op w1, f1, w2, f2;

	memset(buf, 'h', sizeof(buf));
	op_init(&w1);
	op_init(&f1);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, buf, 100, 0, -1, &w1.req, &f1.req), 0);
	CHECK_EQ_U64(poll_n(io, 1), 1); /* the write */
	CHECK(w1.calls == 1 && w1.req.res == 100);
	CHECK_EQ_U64(io->ops->inflight(io), 1); /* the held fsync */
	CHECK_EQ_U64(io->ops->poll(io, 0, 0), 0);
	CHECK_EQ_U64(f1.calls, 0);
	op_init(&w2);
	op_init(&f2);
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, buf, 100, 100, -1, &w2.req, &f2.req), 0);
	CHECK_EQ_U64(poll_n(io, 3), 3);
	CHECK(f1.calls == 1 && f1.req.res == -EIO);
	CHECK(w2.calls == 1 && w2.req.res == 100);
	CHECK(f2.calls == 1 && f2.req.res == 0);
	CHECK(f1.order < f2.order);
	CHECK_EQ_U64(io->ops->inflight(io), 0);
	sl_io_destroy(io);

	/* Nothing more queued: the failure still comes, within the bound. */
	io = fault_new(&plan, 8);
	op_init(&w1);
	op_init(&f1);
	uint64_t t0 = now_ns();
	CHECK_EQ_U64(io->ops->write_fsync(io, fd, buf, 100, 0, -1, &w1.req, &f1.req), 0);
	while (f1.calls == 0 && now_ns() - t0 < 3 * SEC_NS) {
		CHECK(io->ops->poll(io, 0, 0) >= 0);
		usleep(1000);
	}
	CHECK(w1.calls == 1 && w1.req.res == 100);
	CHECK(f1.calls == 1 && f1.req.res == -EIO);
	CHECK(now_ns() - t0 >= SEC_NS / 2); /* held, not at once */
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

static void test_fault_open(void)
{
	struct sl_io_fault_plan plan = {.open_enospc_at = 2};
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 4);
	int fd1, fd2, fd3;

	fd1 = io->ops->open(io, dirfd_tmp, "c1", O_RDWR | O_CREAT, 0600);
	CHECK(fd1 >= 0);
	/* Without O_CREAT: not counted for the plan. */
	fd2 = io->ops->open(io, dirfd_tmp, "c1", O_RDONLY, 0);
	CHECK(fd2 >= 0);
	CHECK_EQ_U64(io->ops->open(io, dirfd_tmp, "c2", O_RDWR | O_CREAT, 0600), (uint64_t)-ENOSPC);
	CHECK(faccessat(dirfd_tmp, "c2", F_OK, 0) != 0 && errno == ENOENT);
	fd3 = io->ops->open(io, dirfd_tmp, "c3", O_RDWR | O_CREAT, 0600);
	CHECK(fd3 >= 0);
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.opens, 4);
	CHECK_EQ_U64(st.faults_injected, 1);
	CHECK_EQ_U64(io->ops->close(io, fd1), 0);
	CHECK_EQ_U64(io->ops->close(io, fd2), 0);
	CHECK_EQ_U64(io->ops->close(io, fd3), 0);
	sl_io_destroy(io);
}

/*
 * torn_after_bytes = 250, four 100-byte writes: the third crosses and
 * writes 50; the fourth, a later fsync, write_fsync, pwrite_sync and
 * fdatasync all report success and leave the file as it was.
 */
static void test_fault_torn(void)
{
	struct sl_io_fault_plan plan = {.torn_after_bytes = 250};
	static char bufs[4][100], more[100];
	struct sl_io_fault_stats st;
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "ftorn");
	struct op w[4], f;
	int wres, fres;

	for (unsigned i = 0; i < 4; i++) {
		memset(bufs[i], '1' + (int)i, 100);
		op_init(&w[i]);
		CHECK_EQ_U64(io->ops->write(io, fd, bufs[i], 100, 100 * i, -1, &w[i].req), 0);
	}
	CHECK_EQ_U64(poll_n(io, 4), 4);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ_U64(w[i].req.res, 100);
		CHECK_EQ_U64(w[i].req.len, 100);
	}
	op_init(&f);
	CHECK_EQ_U64(io->ops->fsync(io, fd, &f.req), 0);
	CHECK_EQ_U64(poll_n(io, 1), 1);
	CHECK_EQ_U64(f.req.res, 0);
	memset(more, 'm', sizeof(more));
	wf_once(io, fd, more, 100, 0, &wres, &fres);
	CHECK(wres == 100 && fres == 0);
	CHECK_EQ_U64(io->ops->pwrite_sync(io, fd, more, 100, 0), 0);
	CHECK_EQ_U64(io->ops->fdatasync(io, fd), 0);

	CHECK_EQ_U64(file_size(fd), 250);
	CHECK(file_is(fd, 0, 100, '1'));
	CHECK(file_is(fd, 100, 100, '2'));
	CHECK(file_is(fd, 200, 50, '3'));
	sl_io_fault_stats(io, &st);
	CHECK_EQ_U64(st.bytes_written, 250);
	CHECK_EQ_U64(st.writes, 5);
	CHECK_EQ_U64(st.fsyncs, 2);
	/* crossing, 4th write, fsync, write_fsync's write and fsync,
	 * pwrite_sync, fdatasync */
	CHECK_EQ_U64(st.faults_injected, 7);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/* The crossing write inside a write_fsync, and a write ending exactly at
 * the limit (written whole, the next one dropped); pwrite_sync crossing. */
static void test_fault_torn_edges(void)
{
	struct sl_io_fault_plan plan = {.torn_after_bytes = 150};
	static char buf[100];
	struct sl_io *io = fault_new(&plan, 8);
	int fd = open_file(io, "ftorn2");
	int wres, fres;

	memset(buf, 'e', sizeof(buf));
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK(wres == 100 && fres == 0);
	wf_once(io, fd, buf, 100, 100, &wres, &fres);
	CHECK(wres == 100 && fres == 0);
	CHECK_EQ_U64(file_size(fd), 150);
	CHECK(file_is(fd, 0, 150, 'e'));
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);

	plan.torn_after_bytes = 100;
	io = fault_new(&plan, 8);
	fd = open_file(io, "ftorn3");
	wf_once(io, fd, buf, 100, 0, &wres, &fres);
	CHECK(wres == 100 && fres == 0);
	wf_once(io, fd, buf, 100, 100, &wres, &fres);
	CHECK(wres == 100 && fres == 0);
	CHECK_EQ_U64(file_size(fd), 100);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);

	plan.torn_after_bytes = 30;
	io = fault_new(&plan, 8);
	fd = open_file(io, "ftorn4");
	CHECK_EQ_U64(io->ops->pwrite_sync(io, fd, buf, 100, 0), 0);
	CHECK_EQ_U64(file_size(fd), 30);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/*
 * A refused operation is not counted (the retry is the same Nth one), and
 * the layer's own queue of injected completions is bounded: -EBUSY when
 * full, everything delivered by the next polls.
 */
static void test_fault_busy(void)
{
	struct sl_io_fault_plan plan = {.write_eio_at = 4};
	static char c = 'b';
	static struct op w[70];
	struct sl_io *io = fault_new(&plan, 2);
	int fd = open_file(io, "fbusy");
	unsigned n;

	for (unsigned i = 0; i < 4; i++)
		op_init(&w[i]);
	/* Depth 2: the third write finds the inner queue full. */
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 0, -1, &w[0].req), 0);
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 1, -1, &w[1].req), 0);
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 2, -1, &w[2].req), (uint64_t)-EBUSY);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 2, -1, &w[2].req), 0);
	CHECK_EQ_U64(io->ops->write(io, fd, &c, 1, 3, -1, &w[3].req), 0);
	CHECK_EQ_U64(poll_n(io, 2), 2);
	CHECK_EQ_U64(w[2].req.res, 1);
	CHECK_EQ_U64(w[3].req.res, (uint64_t)-EIO);
	CHECK_EQ_U64(file_size(fd), 3);
	sl_io_destroy(io);

	plan = (struct sl_io_fault_plan){.torn_after_bytes = 1};
	io = fault_new(&plan, 2);
	for (n = 0; n < 70; n++) {
		op_init(&w[n]);
		if (io->ops->write(io, fd, &c, 1, n, -1, &w[n].req) != 0)
			break;
	}
	/* One to the file, then 64 held for poll. */
	CHECK_EQ_U64(n, 65);
	CHECK_EQ_U64(io->ops->inflight(io), 65);
	CHECK_EQ_U64(poll_n(io, 65), 65);
	for (unsigned i = 0; i < 65; i++)
		CHECK_EQ_U64(w[i].req.res, 1);
	CHECK_EQ_U64(file_size(fd), 3);
	CHECK_EQ_U64(io->ops->close(io, fd), 0);
	sl_io_destroy(io);
}

/* Remove everything in the test directory, then the directory. */
static void cleanup(const char *dir)
{
	DIR *d = fdopendir(dup(dirfd_tmp));
	struct dirent *e;

	CHECK(d != NULL);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			CHECK(unlinkat(dirfd_tmp, e->d_name, 0) == 0);
	}
	if (d != NULL)
		closedir(d);
	close(dirfd_tmp);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	char dir[] = "/tmp/sluice-test-io-XXXXXX";
	struct sl_io *probe = NULL;
	int ret = sl_io_uring_create(4, &probe);

	if (ret == -ENOSYS || ret == -EPERM || ret == -EACCES) {
		fprintf(stderr, "io: skipped: the kernel refuses io_uring: %s\n", strerror(-ret));
		return 77;
	}
	CHECK_EQ_U64(ret, 0);
	sl_io_destroy(probe);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	dirfd_tmp = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	CHECK(dirfd_tmp >= 0);

	test_write_read();
	test_write_fsync();
	test_many_inflight();
	test_registered_buffers();
	test_busy();
	test_poll_timeout();
	test_linked_cancel_error();
	test_linked_cancel_short();
	test_sync_calls();
	test_fault_write_errors();
	test_fault_fsync_hold();
	test_fault_short();
	test_fault_write_fsync_cancel();
	test_fault_short_linked();
	test_fault_fsync();
	test_fault_open();
	test_fault_torn();
	test_fault_torn_edges();
	test_fault_busy();

	cleanup(dir);
	return sl_check_finish("io");
}
