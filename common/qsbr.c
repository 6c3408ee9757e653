/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Quiescent-state-based reclamation (see qsbr.h).
 *
 * The domain has a global epoch, starting at 1. A reader's `seen` is 0 while
 * offline, else the epoch it last observed at a quiescent state (or when it
 * came online). synchronize() bumps the epoch to E and waits until every
 * registered reader has seen >= E or is offline: from then on no reader can
 * hold a pointer it loaded before the bump.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/qsbr.h>

struct sl_qsbr_reader {
	_Alignas(64) uint64_t seen; /* atomic; 0: offline */
	struct sl_qsbr *q;
	int used; /* atomic */
};

struct sl_qsbr {
	_Alignas(64) uint64_t epoch; /* atomic */
	pthread_mutex_t lock;        /* register/unregister */
	struct sl_qsbr_reader readers[SL_QSBR_READERS_MAX];
};

struct sl_qsbr *sl_qsbr_create(void)
{
	struct sl_qsbr *q = aligned_alloc(64, sizeof(*q));
	if (q == NULL)
		return NULL;
	*q = (struct sl_qsbr){.epoch = 1};
	pthread_mutex_init(&q->lock, NULL);
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++)
		q->readers[i].q = q;
	return q;
}

void sl_qsbr_destroy(struct sl_qsbr *q)
{
	if (q == NULL)
		return;
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++)
		SL_ASSERT(!q->readers[i].used);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

struct sl_qsbr_reader *sl_qsbr_register(struct sl_qsbr *q)
{
	struct sl_qsbr_reader *r = NULL;
	pthread_mutex_lock(&q->lock);
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX && r == NULL; i++) {
		if (!q->readers[i].used)
			r = &q->readers[i];
	}
	if (r != NULL) {
		__atomic_store_n(&r->seen, __atomic_load_n(&q->epoch, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		__atomic_store_n(&r->used, 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void sl_qsbr_unregister(struct sl_qsbr_reader *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->q->lock);
	__atomic_store_n(&r->seen, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->q->lock);
}

void sl_qsbr_quiescent(struct sl_qsbr_reader *r)
{
	uint64_t e = __atomic_load_n(&r->q->epoch, __ATOMIC_ACQUIRE);
	__atomic_store_n(&r->seen, e, __ATOMIC_RELEASE);
}

void sl_qsbr_offline(struct sl_qsbr_reader *r)
{
	__atomic_store_n(&r->seen, 0, __ATOMIC_RELEASE);
}

void sl_qsbr_online(struct sl_qsbr_reader *r)
{
	__atomic_store_n(&r->seen, __atomic_load_n(&r->q->epoch, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELAXED);
	/* The store must be visible before this thread loads any protected
	 * pointer: otherwise an updater could miss us and free what we load. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int sl_qsbr_synchronize(struct sl_qsbr *q, uint32_t timeout_ms)
{
	uint64_t target = __atomic_add_fetch(&q->epoch, 1, __ATOMIC_SEQ_CST);
	uint64_t deadline = (sl_clock_mono_ns() / SL_NS_PER_MS) + timeout_ms;
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++) {
		struct sl_qsbr_reader *r = &q->readers[i];
		for (unsigned spin = 0;; spin++) {
			if (!__atomic_load_n(&r->used, __ATOMIC_SEQ_CST))
				break;
			uint64_t seen = __atomic_load_n(&r->seen, __ATOMIC_SEQ_CST);
			if (seen == 0 || seen >= target)
				break;
			if (spin > 64 && (sl_clock_mono_ns() / SL_NS_PER_MS) > deadline)
				return -ETIMEDOUT;
			sched_yield();
		}
	}
	return 0;
}
