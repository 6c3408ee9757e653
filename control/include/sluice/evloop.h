/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread's event loop: epoll for file descriptors, plus
 * one-shot millisecond timers. One loop per thread; every function runs on
 * the loop's own thread, except sl_evloop_wake(). No locks: other threads
 * reach the loop through a ring of their own and an eventfd registered here
 * (see the Kinesis API's completion queue).
 */
#ifndef SLUICE_EVLOOP_H
#define SLUICE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct sl_evloop;

/* events: EPOLLIN | EPOLLOUT | EPOLLRDHUP ...; revents as epoll gives them. */
typedef void sl_ev_fd_fn(struct sl_evloop *l, int fd, uint32_t revents, void *arg);
typedef void sl_ev_timer_fn(struct sl_evloop *l, void *arg);

/* A one-shot timer, embedded in its owner's struct; zero it before first use. */
struct sl_ev_timer {
	uint64_t due_ms;     /* monotonic */
	uint32_t heap_index; /* private: position in the loop's heap + 1; 0: not armed */
	sl_ev_timer_fn *fn;
	void *arg;
};

/* 0 and *out, or -errno. */
int sl_evloop_create(struct sl_evloop **out);
/* Every fd must have been removed; armed timers are dropped. NULL: no-op. */
void sl_evloop_destroy(struct sl_evloop *l);

/* Watch fd (level-triggered). 0 or -errno (-EEXIST if already watched). */
int sl_evloop_add(struct sl_evloop *l, int fd, uint32_t events, sl_ev_fd_fn *fn, void *arg);
int sl_evloop_mod(struct sl_evloop *l, int fd, uint32_t events);
/* Stop watching fd (before closing it). */
int sl_evloop_del(struct sl_evloop *l, int fd);

/*
 * Arm (or re-arm) t to fire once, `after_ms` from the loop's cached clock
 * (sl_evloop_now_ms). t is borrowed until it fires or is cancelled: it must
 * stay where it is meanwhile. The heap grows on demand; running out of
 * memory there is fatal (SL_ASSERT), so owners that arm many timers reserve
 * room up front with sl_evloop_timer_reserve.
 */
void sl_evloop_timer_arm(struct sl_evloop *l, struct sl_ev_timer *t, uint64_t after_ms,
			 sl_ev_timer_fn *fn, void *arg);
/* Disarm t; a timer that is not armed is left alone. */
void sl_evloop_timer_cancel(struct sl_evloop *l, struct sl_ev_timer *t);
bool sl_evloop_timer_armed(const struct sl_ev_timer *t);
/* Make room for `count` more armed timers than are armed now: 0 or -ENOMEM. */
int sl_evloop_timer_reserve(struct sl_evloop *l, uint32_t count);

/*
 * Wait up to timeout_ms (-1: until something happens, bounded by the next
 * timer) and dispatch what is ready: fd callbacks, then due timers (at most
 * as many as were armed when the timer pass began, so a timer re-arming
 * itself for 0 ms runs once per call). A callback may add, modify or remove
 * any fd, its own included, and arm or cancel any timer; an event already
 * fetched for an fd removed meanwhile is not delivered.
 * Returns the number of callbacks run, or -errno (EINTR is not an error: 0).
 */
int sl_evloop_run_once(struct sl_evloop *l, int timeout_ms);

/* Make a sleeping or the next sl_evloop_run_once return. Any thread. */
void sl_evloop_wake(struct sl_evloop *l);

/* The loop's cached monotonic clock, ms, refreshed by each run_once. */
uint64_t sl_evloop_now_ms(const struct sl_evloop *l);

#endif /* SLUICE_EVLOOP_H */
