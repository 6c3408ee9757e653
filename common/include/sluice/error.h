/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error conventions, shared by every folder (liburing, DPDK, HAProxy):
 *
 * - int functions return 0 on success or a negative errno (-ENOSPC), like
 *   io_uring's cqe->res; never -1 with errno set.
 * - burst functions return how many items they handled; the caller owns the
 *   rest.
 * - poll functions return < 0 on error, 0 for no progress, > 0 for progress.
 *
 * sl_strerror() is thread-safe and takes either sign.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#include <errno.h>

/* Text for an errno value, positive or negative. Thread-safe; the string is
 * static or thread-local and valid until the next call on this thread. */
const char *sl_strerror(int err);

/* -errno, for wrapping a libc call that failed and set errno. Never 0. */
static inline int sl_neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif /* SLUICE_ERROR_H */
