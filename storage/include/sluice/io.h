/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage I/O layer: every byte the storage engine writes or reads, and
 * every file it creates, truncates or deletes, goes through a struct sl_io.
 * storage/io_uring.c is the real one (the only file that includes
 * liburing.h); storage/io_fault.c wraps any sl_io and injects faults (EIO on
 * write or fsync, ENOSPC, short writes, a torn write that stops at a given
 * byte) so the fault suite can prove what is and is not durable.
 *
 * Threads: an sl_io belongs to one thread (a shard writer, or the thread
 * doing recovery); it is never shared. Nothing here allocates after create.
 *
 * Asynchronous operations take a struct sl_io_req that the caller embeds in
 * the object owning the I/O (a batch, a shard); it must stay valid until
 * its `done` has been called by sl_io_poll on the owning thread. `res` is
 * the result as io_uring reports it: bytes written, 0, or a negative errno.
 * A short write is reported as is (res < len): the caller treats it as an
 * error, it is never retried.
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct sl_io;
struct sl_io_req;

typedef void sl_io_done_fn(struct sl_io_req *req);

struct sl_io_req {
	sl_io_done_fn *done;
	void *ctx;    /* the owner's, for done() */
	int res;      /* filled before done() */
	uint32_t len; /* requested bytes (writes), for short-write checks */
};

struct sl_io_ops {
	/* Queue a write of len bytes at off; buf_index >= 0 names a buffer
	 * registered with sl_io_register_buffers that holds buf. 0 or -errno
	 * (-EBUSY: the queue is full; reap and retry the submission). */
	int (*write)(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
		     int buf_index, struct sl_io_req *req);
	/* Queue a write and an fdatasync that starts only after the write
	 * completed successfully (linked); if the write fails the fsync
	 * completes with -ECANCELED. */
	int (*write_fsync)(struct sl_io *io, int fd, const void *buf, uint32_t len, uint64_t off,
			   int buf_index, struct sl_io_req *wreq, struct sl_io_req *freq);
	/* Queue an fdatasync of fd. */
	int (*fsync)(struct sl_io *io, int fd, struct sl_io_req *req);
	/* Queue a fallocate(fd, mode, off, len); res 0 or a negative errno. */
	int (*fallocate)(struct sl_io *io, int fd, int mode, uint64_t off, uint64_t len,
			 struct sl_io_req *req);
	/* Queue an openat(dirfd, name, flags, mode); res is the new fd or a
	 * negative errno. name must stay valid until done() is called. */
	int (*openat)(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode,
		      struct sl_io_req *req);
	/* Queue a one-shot wait for fd to become readable (an eventfd that
	 * producers ring); res is the poll mask or a negative errno. It
	 * counts as in flight until it completes. */
	int (*poll_add)(struct sl_io *io, int fd, struct sl_io_req *req);
	/* Submit what is queued; wait up to timeout_ns for at least
	 * min_complete completions; call done() for each completion. Returns
	 * how many completed, or -errno. */
	int (*poll)(struct sl_io *io, unsigned min_complete, uint64_t timeout_ns);
	/* Synchronous calls, for segment roll, recovery, readers, retention. */
	int (*open)(struct sl_io *io, int dirfd, const char *name, int flags, mode_t mode);
	ssize_t (*pread)(struct sl_io *io, int fd, void *buf, size_t len, uint64_t off);
	int (*pwrite_sync)(struct sl_io *io, int fd, const void *buf, size_t len, uint64_t off);
	int (*ftruncate)(struct sl_io *io, int fd, uint64_t len);
	int (*fdatasync)(struct sl_io *io, int fd);
	int (*unlink)(struct sl_io *io, int dirfd, const char *name);
	int (*close)(struct sl_io *io, int fd);
	/* Registered buffers: put [base, base + len) in a slot of the ring's
	 * buffer table (the kernel pins and maps it once); returns the slot,
	 * the buf_index a write from inside it may name, or -errno
	 * (-EOPNOTSUPP: no table on this kernel; -ENOSPC: table full;
	 * -ENOMEM: the memlock limit): the caller then writes without.
	 * Unregister once no write from it is in flight. */
	int (*buffer_register)(struct sl_io *io, void *base, size_t len);
	void (*buffer_unregister)(struct sl_io *io, int index);
	/* Registered files: requests on fd use the ring's file table from now
	 * on (the kernel takes the file reference once, not per request).
	 * 0 or -errno as above, after which requests use the plain fd. Call
	 * unregister before closing fd. */
	int (*file_register)(struct sl_io *io, int fd);
	void (*file_unregister)(struct sl_io *io, int fd);
	unsigned (*inflight)(const struct sl_io *io);
	/* Whether n more requests can be queued now (none returns -EBUSY). */
	bool (*has_room)(const struct sl_io *io, unsigned n);
	void (*destroy)(struct sl_io *io);
};

struct sl_io {
	const struct sl_io_ops *ops;
};

/* Slots in each sl_io's tables of registered buffers and files. */
#define SL_IO_BUFS_MAX  16384
#define SL_IO_FILES_MAX 8192

/*
 * An io_uring with `depth` entries. Returns 0 and *out, or -errno (the
 * kernel refused io_uring, -ENOMEM). flags: 0.
 */
int sl_io_uring_create(unsigned depth, struct sl_io **out);

/* Fault injection: which operation fails, how. All counters are 1-based
 * counts of that kind of operation through this sl_io; 0 = never. */
struct sl_io_fault_plan {
	uint64_t write_eio_at;    /* the Nth write completes with -EIO */
	uint64_t write_enospc_at; /* ... with -ENOSPC */
	uint64_t write_short_at;  /* ... with half its bytes written */
	uint64_t fsync_eio_at;    /* the Nth fdatasync completes with -EIO */
	/* With fsync_eio_at on a write_fsync: its fdatasync's failure is held
	 * back after the write completed, until this many more writes were
	 * queued (a younger commit beside it), at most 1 s. 0 = reported
	 * at once. */
	uint64_t fsync_eio_hold_writes;
	uint64_t open_enospc_at; /* the Nth open with O_CREAT fails -ENOSPC */
	/* From the Nth queueing call on (write, write_fsync, fsync, openat,
	 * fallocate; not poll_add), every one returns -EBUSY and has_room is
	 * false: a queue that never drains again. */
	uint64_t busy_from;
	/* Torn: writes succeed until `torn_after_bytes` bytes in total were
	 * written through this sl_io; the write that crosses it writes only
	 * the bytes up to it and reports success, and every later write and
	 * fsync is dropped but reported as success: what a power cut after
	 * that byte leaves on disk. 0 = off. */
	uint64_t torn_after_bytes;
};

/*
 * Wrap `inner` (consumed: destroyed with the wrapper) with `plan`.
 * Returns 0 and *out, or -ENOMEM.
 */
int sl_io_fault_create(struct sl_io *inner, const struct sl_io_fault_plan *plan,
		       struct sl_io **out);

/* What the fault layer has seen, for test assertions. */
struct sl_io_fault_stats {
	uint64_t writes, fsyncs, opens, bytes_written, faults_injected;
};
void sl_io_fault_stats(const struct sl_io *io, struct sl_io_fault_stats *out);

static inline void sl_io_destroy(struct sl_io *io)
{
	if (io != NULL)
		io->ops->destroy(io);
}

#endif /* SLUICE_IO_H */
