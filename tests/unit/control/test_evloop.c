/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread's event loop (control/evloop.c, included here to see
 * its heap):
 * - fds: a ready fd's callback runs with its events; -EEXIST on a second
 *   add, -ENOENT for an fd not watched; mod to 0 silences it, del stops it;
 *   an event fetched in the same batch for an fd that an earlier callback
 *   removed (even one re-added under the same number) is not delivered;
 * - timers: fire once, in due order, not before due; cancel and re-arm;
 *   the heap keeps its order and positions through thousands of random
 *   arms and cancels; a timer re-arming itself for 0 ms runs once per
 *   run_once; run_once's wait is bounded by the next timer;
 * - sl_evloop_wake from another thread ends a wait without timeout.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../../../control/evloop.c"

#include "check.h"

static struct sl_evloop *loop;

/* ---- fds ---- */

static int fd_calls;
static uint32_t fd_last_events;

static void count_fd(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	fd_calls++;
	fd_last_events = revents;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));
	(void)n;
}

static void test_fds(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK_EQ_U64(sl_evloop_add(loop, p[0], EPOLLIN, count_fd, NULL), 0);
	CHECK_EQ_U64(sl_evloop_add(loop, p[0], EPOLLIN, count_fd, NULL), (uint64_t)-EEXIST);
	CHECK_EQ_U64(sl_evloop_add(loop, -1, EPOLLIN, count_fd, NULL), (uint64_t)-EBADF);
	CHECK_EQ_U64(sl_evloop_mod(loop, p[1], EPOLLIN), (uint64_t)-ENOENT);
	CHECK_EQ_U64(sl_evloop_del(loop, p[1]), (uint64_t)-ENOENT);

	/* Nothing ready: the wait times out. */
	fd_calls = 0;
	CHECK_EQ_U64(sl_evloop_run_once(loop, 0), 0);
	CHECK_EQ_U64(fd_calls, 0);

	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 1000), 1);
	CHECK_EQ_U64(fd_calls, 1);
	CHECK(fd_last_events & EPOLLIN);

	/* Interest 0: still watched, never reported (but for errors). */
	CHECK_EQ_U64(sl_evloop_mod(loop, p[0], 0), 0);
	CHECK(write(p[1], "y", 1) == 1);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 20), 0);
	CHECK_EQ_U64(fd_calls, 1);
	CHECK_EQ_U64(sl_evloop_mod(loop, p[0], EPOLLIN), 0);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 1000), 1);
	CHECK_EQ_U64(fd_calls, 2);

	/* Level-triggered: data left unread is reported again. */
	CHECK(write(p[1], "z", 1) == 1);
	CHECK_EQ_U64(sl_evloop_del(loop, p[0]), 0);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 20), 0);
	CHECK_EQ_U64(fd_calls, 2);
	close(p[0]);
	close(p[1]);
}

/* Two readable pipes; whichever callback runs first removes the other. */
static int pa[2], pb[2], pc[2];
static int stale_calls, new_calls;

static void on_new(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	new_calls++;
}

static void remove_other(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	stale_calls++;
	int other = fd == pa[0] ? pb[0] : pa[0];
	CHECK_EQ_U64(sl_evloop_del(l, other), 0);
	/* Reuse the number for a new, idle pipe: the old event must not reach it. */
	CHECK(dup2(pc[0], other) == other);
	CHECK_EQ_U64(sl_evloop_add(l, other, EPOLLIN, on_new, NULL), 0);
	char c;
	CHECK(read(fd, &c, 1) == 1);
}

static void test_stale_event(void)
{
	CHECK(pipe(pa) == 0);
	CHECK(pipe(pb) == 0);
	CHECK(pipe(pc) == 0);
	CHECK_EQ_U64(sl_evloop_add(loop, pa[0], EPOLLIN, remove_other, NULL), 0);
	CHECK_EQ_U64(sl_evloop_add(loop, pb[0], EPOLLIN, remove_other, NULL), 0);
	CHECK(write(pa[1], "a", 1) == 1);
	CHECK(write(pb[1], "b", 1) == 1);
	/* Both are ready before the wait, so one epoll_wait returns both. */
	int ran = sl_evloop_run_once(loop, 1000);
	CHECK_EQ_U64(ran, 1);
	CHECK_EQ_U64(stale_calls, 1);
	CHECK_EQ_U64(new_calls, 0);
	CHECK_EQ_U64(sl_evloop_del(loop, pa[0]), 0);
	CHECK_EQ_U64(sl_evloop_del(loop, pb[0]), 0);
	for (int i = 0; i < 2; i++) {
		close(pa[i]);
		close(pb[i]);
		close(pc[i]);
	}
}

/* ---- timers ---- */

static int fired[16];
static int fired_count;

static void record(struct sl_evloop *l, void *arg)
{
	if (fired_count < (int)SL_ARRAY_SIZE(fired))
		fired[fired_count++] = (int)(intptr_t)arg;
}

static void run_for(uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	while (mono_ms() < end)
		sl_evloop_run_once(loop, (int)(end - mono_ms()));
}

static void test_timer_order(void)
{
	struct sl_ev_timer t[4] = {{0}};
	fired_count = 0;
	uint64_t start = mono_ms();
	sl_evloop_timer_arm(loop, &t[0], 60, record, (void *)0);
	sl_evloop_timer_arm(loop, &t[1], 20, record, (void *)1);
	sl_evloop_timer_arm(loop, &t[2], 40, record, (void *)2);
	sl_evloop_timer_arm(loop, &t[3], 30, record, (void *)3);
	CHECK(sl_evloop_timer_armed(&t[0]));
	sl_evloop_timer_cancel(loop, &t[3]);
	CHECK(!sl_evloop_timer_armed(&t[3]));
	sl_evloop_timer_cancel(loop, &t[3]); /* not armed: no-op */
	/* Re-arm moves t[0] ahead of t[2]. */
	sl_evloop_timer_arm(loop, &t[0], 30, record, (void *)0);

	/* An infinite wait ends at the first timer, not before. */
	int ran = sl_evloop_run_once(loop, -1);
	CHECK_EQ_U64(ran, 1);
	CHECK(mono_ms() - start >= 20);
	CHECK_EQ_U64(fired_count, 1);
	run_for(80);
	CHECK_EQ_U64(fired_count, 3);
	CHECK_EQ_U64(fired[0], 1);
	CHECK_EQ_U64(fired[1], 0);
	CHECK_EQ_U64(fired[2], 2);
	for (int i = 0; i < 4; i++)
		CHECK(!sl_evloop_timer_armed(&t[i]));
	CHECK_EQ_U64(loop->heap_len, 0);
}

static struct sl_ev_timer self_timer;
static int self_runs;

static void rearm_self(struct sl_evloop *l, void *arg)
{
	self_runs++;
	sl_evloop_timer_arm(l, &self_timer, 0, rearm_self, NULL);
}

static void test_timer_rearm_zero(void)
{
	self_runs = 0;
	sl_evloop_timer_arm(loop, &self_timer, 0, rearm_self, NULL);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 0), 1);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 0), 1);
	CHECK_EQ_U64(self_runs, 2);
	sl_evloop_timer_cancel(loop, &self_timer);
	CHECK_EQ_U64(sl_evloop_run_once(loop, 0), 0);
}

static bool heap_valid(const struct sl_evloop *l)
{
	for (uint32_t i = 0; i < l->heap_len; i++) {
		if (l->heap[i]->heap_index != i + 1)
			return false;
		if (i > 0 && l->heap[i]->due_ms < l->heap[(i - 1) / 2]->due_ms)
			return false;
	}
	return true;
}

#define HEAP_TIMERS 2000

static uint64_t last_due;
static int order_errors, popped;

static void check_order(struct sl_evloop *l, void *arg)
{
	struct sl_ev_timer *t = arg;
	if (t->due_ms < last_due || t->due_ms > l->now_ms)
		order_errors++;
	last_due = t->due_ms;
	popped++;
}

static void test_heap_random(void)
{
	static struct sl_ev_timer t[HEAP_TIMERS];
	memset(t, 0, sizeof(t));
	srand(7);
	int bad = 0, armed = 0;
	uint64_t base = loop->now_ms;
	for (int op = 0; op < 20000; op++) {
		int i = rand() % HEAP_TIMERS;
		if (rand() % 3 == 0) {
			if (sl_evloop_timer_armed(&t[i]))
				armed--;
			sl_evloop_timer_cancel(loop, &t[i]);
		} else {
			if (!sl_evloop_timer_armed(&t[i]))
				armed++;
			sl_evloop_timer_arm(loop, &t[i], 1000000 + (uint64_t)(rand() % 5000),
					    check_order, &t[i]);
		}
		if (op % 97 == 0 && !heap_valid(loop))
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(heap_valid(loop));
	CHECK_EQ_U64(loop->heap_len, armed);
	/* Move the clock past half of them: exactly those fire, in order. */
	int expect = 0;
	for (int i = 0; i < HEAP_TIMERS; i++)
		expect += sl_evloop_timer_armed(&t[i]) && t[i].due_ms <= base + 1002500;
	loop->now_ms = base + 1002500;
	last_due = 0;
	popped = order_errors = 0;
	run_timers(loop);
	CHECK_EQ_U64(popped, expect);
	CHECK_EQ_U64(order_errors, 0);
	CHECK(heap_valid(loop));
	for (int i = 0; i < HEAP_TIMERS; i++)
		sl_evloop_timer_cancel(loop, &t[i]);
	CHECK_EQ_U64(loop->heap_len, 0);
	loop->now_ms = mono_ms();
	CHECK_EQ_U64(sl_evloop_timer_reserve(loop, 100000), 0);
	CHECK(loop->heap_cap >= 100000);
	CHECK_EQ_U64(sl_evloop_timer_reserve(loop, UINT32_MAX), (uint64_t)-ENOMEM);
}

/* ---- wake ---- */

static void *waker(void *arg)
{
	usleep(30 * 1000);
	sl_evloop_wake(loop);
	return NULL;
}

static void test_wake(void)
{
	pthread_t th;
	uint64_t start = mono_ms();
	CHECK(pthread_create(&th, NULL, waker, NULL) == 0);
	/* No timer, no fd: only the wake can end this wait. */
	int ran = sl_evloop_run_once(loop, -1);
	CHECK(ran >= 1);
	CHECK(mono_ms() - start < 5000);
	pthread_join(th, NULL);
	/* Drained: the next wait times out. */
	CHECK_EQ_U64(sl_evloop_run_once(loop, 10), 0);
	uint64_t before = sl_evloop_now_ms(loop);
	usleep(5000);
	sl_evloop_run_once(loop, 0);
	CHECK(sl_evloop_now_ms(loop) >= before + 5);
}

int main(void)
{
	CHECK_EQ_U64(sl_evloop_create(&loop), 0);
	test_fds();
	test_stale_event();
	test_timer_order();
	test_timer_rearm_zero();
	test_heap_random();
	test_wake();
	sl_evloop_destroy(loop);
	sl_evloop_destroy(NULL);
	return sl_check_finish("test_evloop");
}
