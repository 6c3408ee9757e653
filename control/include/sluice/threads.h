/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's threads, started from one place with named roles and stopped
 * in order. Each thread gets a stop eventfd: its loop polls it and returns
 * when it becomes readable. Threads stop in the reverse of the order they
 * started, so the daemon starts writers first and ingest last, and on
 * SIGTERM stops ingest first (no new records), then the API, then the
 * writers (flush, fsync).
 *
 * A thread that returns before it was asked to stop wakes the supervisor
 * through sl_threads_exit_fd(): the daemon treats that as a fault.
 *
 * Every function here is called by the supervising (main) thread only.
 */
#ifndef SLUICE_THREADS_H
#define SLUICE_THREADS_H

#include <sched.h>
#include <stdint.h>

#define SL_THREADS_MAX     128
#define SL_THREAD_NAME_MAX 15 /* Linux comm length */

/*
 * A thread's body. Runs until stop_fd is readable (never read it: it stays
 * readable), then returns 0, or a negative errno for a failure. arg is
 * borrowed from the starter for the thread's lifetime.
 */
typedef int sl_thread_fn(void *arg, int stop_fd);

struct sl_threads;

/* An empty group. NULL on -ENOMEM / when the eventfd can't be made. */
struct sl_threads *sl_threads_create(void);

/* Stops whatever still runs (sl_threads_stop_all) and frees. NULL: no-op. */
void sl_threads_destroy(struct sl_threads *t);

/*
 * Start a thread named "sl-<role>-<index>" (cut to 15 bytes), on `cpus`
 * (NULL: inherit). Returns 0, -E2BIG when the group is full, or -errno.
 */
int sl_threads_start(struct sl_threads *t, const char *role, unsigned index, sl_thread_fn *fn,
		     void *arg, const cpu_set_t *cpus);

/* How many threads the group holds (running or exited, not yet joined). */
unsigned sl_threads_count(const struct sl_threads *t);

/*
 * Readable when some thread returned on its own. The fd is owned by the
 * group.
 */
int sl_threads_exit_fd(const struct sl_threads *t);

/*
 * The first thread that returned without being asked: its name into
 * name (SL_THREAD_NAME_MAX + 1 bytes) and its result; -ENOENT if none.
 */
int sl_threads_early_exit(const struct sl_threads *t, char *name, int *result);

/*
 * Stop every thread, newest first: signal its stop fd and wait up to
 * timeout_ms for it. Returns 0 when all stopped and returned 0; the first
 * thread's negative result otherwise; -ETIMEDOUT when one did not stop in
 * time (it is left running, detached, and named in the log).
 */
int sl_threads_stop_all(struct sl_threads *t, uint32_t timeout_ms);

#endif /* SLUICE_THREADS_H */
