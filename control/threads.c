/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Named daemon threads with ordered shutdown (see threads.h). One eventfd
 * per thread asks it to stop; one shared eventfd tells the supervisor a
 * thread returned by itself.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/threads.h>

#define SUBSYS "threads"

struct thread {
	pthread_t tid;
	char name[SL_THREAD_NAME_MAX + 1];
	sl_thread_fn *fn;
	void *arg;
	int stop_fd;
	int exit_fd;         /* the group's, borrowed */
	bool stop_requested; /* written by the supervisor before stop_fd */
	int state;           /* enum thread_state, atomic */
	int result;
};

/*
 * RUNNING -> EXITED when the body returns (then the supervisor joins and
 * frees), or RUNNING -> ABANDONED when it did not stop in time (then the
 * thread frees itself whenever it does return). One CAS decides which.
 */
enum thread_state {
	RUNNING = 0,
	EXITED = 1,
	ABANDONED = 2,
};

struct sl_threads {
	unsigned count;
	int exit_fd;
	struct thread *threads[SL_THREADS_MAX];
};

struct sl_threads *sl_threads_create(void)
{
	struct sl_threads *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->exit_fd < 0) {
		free(t);
		return NULL;
	}
	return t;
}

static void *trampoline(void *p)
{
	struct thread *th = p;
	int rc = th->fn(th->arg, th->stop_fd);
	int expected = RUNNING;
	th->result = rc;
	if (!__atomic_compare_exchange_n(&th->state, &expected, EXITED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		/* Abandoned by a timed-out stop: nobody will join us. */
		SL_ASSERT(expected == ABANDONED);
		close(th->stop_fd);
		free(th);
		return NULL;
	}
	if (!__atomic_load_n(&th->stop_requested, __ATOMIC_ACQUIRE)) {
		uint64_t one = 1;
		ssize_t w = write(th->exit_fd, &one, sizeof(one));
		(void)w;
	}
	return NULL;
}

int sl_threads_start(struct sl_threads *t, const char *role, unsigned index, sl_thread_fn *fn,
		     void *arg, const cpu_set_t *cpus)
{
	pthread_attr_t attr;
	int rc;

	SL_ASSERT(fn != NULL);
	if (t->count == SL_THREADS_MAX)
		return -E2BIG;
	struct thread *th = calloc(1, sizeof(*th));
	if (th == NULL)
		return -ENOMEM;
	snprintf(th->name, sizeof(th->name), "sl-%s-%u", role, index);
	th->fn = fn;
	th->arg = arg;
	th->exit_fd = t->exit_fd;
	th->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (th->stop_fd < 0) {
		rc = sl_neg_errno();
		goto err_free;
	}
	if ((rc = -pthread_attr_init(&attr)) != 0)
		goto err_close;
	if (cpus != NULL)
		rc = -pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus);
	if (rc == 0)
		rc = -pthread_create(&th->tid, &attr, trampoline, th);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		goto err_close;
	pthread_setname_np(th->tid, th->name);
	t->threads[t->count++] = th;
	SL_DEBUG(SUBSYS, "started %s", th->name);
	return 0;

err_close:
	close(th->stop_fd);
err_free:
	free(th);
	return rc;
}

unsigned sl_threads_count(const struct sl_threads *t)
{
	return t->count;
}

int sl_threads_exit_fd(const struct sl_threads *t)
{
	return t->exit_fd;
}

int sl_threads_early_exit(const struct sl_threads *t, char *name, int *result)
{
	for (unsigned i = 0; i < t->count; i++) {
		const struct thread *th = t->threads[i];
		if (__atomic_load_n(&th->state, __ATOMIC_ACQUIRE) == EXITED &&
		    !__atomic_load_n(&th->stop_requested, __ATOMIC_ACQUIRE)) {
			snprintf(name, SL_THREAD_NAME_MAX + 1, "%s", th->name);
			*result = th->result;
			return 0;
		}
	}
	return -ENOENT;
}

/* Ask one thread to stop and wait for it. 0, its result, or -ETIMEDOUT. */
static int stop_one(struct thread *th, uint32_t timeout_ms)
{
	uint64_t one = 1;
	struct timespec deadline;
	__atomic_store_n(&th->stop_requested, true, __ATOMIC_RELEASE);
	ssize_t w = write(th->stop_fd, &one, sizeof(one));
	SL_ASSERT(w == (ssize_t)sizeof(one));
	clock_gettime(CLOCK_REALTIME, &deadline);
	uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)timeout_ms * SL_NS_PER_MS;
	deadline.tv_sec += (time_t)(ns / SL_NS_PER_S);
	deadline.tv_nsec = (long)(ns % SL_NS_PER_S);
	int rc = pthread_timedjoin_np(th->tid, NULL, &deadline);
	if (rc == ETIMEDOUT) {
		int expected = RUNNING;
		if (__atomic_compare_exchange_n(&th->state, &expected, ABANDONED, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			SL_ERR(SUBSYS, "%s did not stop within %u ms; leaving it", th->name,
			       timeout_ms);
			pthread_detach(th->tid);
			return -ETIMEDOUT;
		}
		rc = pthread_join(th->tid, NULL); /* it returned just now */
	}
	SL_ASSERT(rc == 0);
	SL_ASSERT(__atomic_load_n(&th->state, __ATOMIC_ACQUIRE) == EXITED);
	SL_DEBUG(SUBSYS, "stopped %s (%d)", th->name, th->result);
	return th->result;
}

int sl_threads_stop_all(struct sl_threads *t, uint32_t timeout_ms)
{
	int first_err = 0;
	while (t->count > 0) {
		struct thread *th = t->threads[--t->count];
		int rc = stop_one(th, timeout_ms);
		if (rc != 0 && first_err == 0)
			first_err = rc;
		if (rc != 0 && rc != -ETIMEDOUT)
			SL_ERR(SUBSYS, "%s ended with error: %s", th->name, sl_strerror(rc));
		if (rc == -ETIMEDOUT)
			continue; /* abandoned: it frees itself when it returns */
		close(th->stop_fd);
		free(th);
	}
	return first_err;
}

void sl_threads_destroy(struct sl_threads *t)
{
	if (t == NULL)
		return;
	sl_threads_stop_all(t, 10000);
	close(t->exit_fd);
	free(t);
}
