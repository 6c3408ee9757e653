/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control thread's event loop (see evloop.h): level-triggered epoll for
 * file descriptors, one-shot millisecond timers in a binary min-heap, and an
 * eventfd through which other threads wake it.
 *
 * File descriptors are kept in a table indexed by fd number. Each slot has a
 * generation, bumped when the fd is removed, and epoll carries (generation,
 * fd) in its event data: an event fetched in the same epoll_wait batch for
 * an fd that a previous callback removed (and maybe reopened as another
 * connection with the same number) is recognised as stale and dropped.
 *
 * Timers live in their owners' structs; the heap is an array of pointers to
 * them ordered by due time, and each timer knows its position (heap_index,
 * 1-based, 0 when not armed), so cancel and re-arm are O(log n).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/evloop.h>

/* Events fetched per epoll_wait. */
#define EVENTS_MAX 64
/* The fd table grows to hold the largest fd watched; never past this. */
#define FD_MAX (1u << 24)

struct fd_slot {
	sl_ev_fd_fn *fn;
	void *arg;
	uint32_t events;
	uint32_t gen;
	bool used;
};

struct sl_evloop {
	int epfd;
	int wake_fd;
	uint64_t now_ms;
	struct fd_slot *fds;
	uint32_t fds_cap;
	uint32_t fd_count; /* watched, the wake fd included */
	struct sl_ev_timer **heap;
	uint32_t heap_len, heap_cap;
};

static uint64_t mono_ms(void)
{
	return sl_clock_mono_ns() / SL_NS_PER_MS;
}

/* ---- timer heap ---- */

static bool before(const struct sl_ev_timer *a, const struct sl_ev_timer *b)
{
	return a->due_ms < b->due_ms;
}

static void heap_place(struct sl_evloop *l, uint32_t i, struct sl_ev_timer *t)
{
	l->heap[i] = t;
	t->heap_index = i + 1;
}

static void sift_up(struct sl_evloop *l, uint32_t i)
{
	struct sl_ev_timer *t = l->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!before(t, l->heap[parent]))
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, t);
}

static void sift_down(struct sl_evloop *l, uint32_t i)
{
	struct sl_ev_timer *t = l->heap[i];
	for (;;) {
		uint32_t child = 2 * i + 1;
		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len && before(l->heap[child + 1], l->heap[child]))
			child++;
		if (!before(l->heap[child], t))
			break;
		heap_place(l, i, l->heap[child]);
		i = child;
	}
	heap_place(l, i, t);
}

static void heap_remove(struct sl_evloop *l, struct sl_ev_timer *t)
{
	SL_ASSERT(t->heap_index >= 1);
	SL_ASSERT(t->heap_index <= l->heap_len);
	uint32_t i = t->heap_index - 1;
	SL_ASSERT(l->heap[i] == t);
	t->heap_index = 0;
	l->heap_len--;
	if (i == l->heap_len)
		return;
	struct sl_ev_timer *last = l->heap[l->heap_len];
	heap_place(l, i, last);
	if (i > 0 && before(last, l->heap[(i - 1) / 2]))
		sift_up(l, i);
	else
		sift_down(l, i);
}

static int heap_grow(struct sl_evloop *l, uint32_t need)
{
	if (need <= l->heap_cap)
		return 0;
	if (need > UINT32_MAX / 2)
		return -ENOMEM;
	uint32_t cap = l->heap_cap ? l->heap_cap : 64;
	while (cap < need)
		cap *= 2;
	struct sl_ev_timer **h = realloc(l->heap, cap * sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	l->heap = h;
	l->heap_cap = cap;
	return 0;
}

int sl_evloop_timer_reserve(struct sl_evloop *l, uint32_t count)
{
	if (count > UINT32_MAX / 2 - l->heap_len)
		return -ENOMEM;
	return heap_grow(l, l->heap_len + count);
}

void sl_evloop_timer_arm(struct sl_evloop *l, struct sl_ev_timer *t, uint64_t after_ms,
			 sl_ev_timer_fn *fn, void *arg)
{
	SL_ASSERT(fn != NULL);
	if (t->heap_index != 0)
		heap_remove(l, t);
	int rc = heap_grow(l, l->heap_len + 1);
	SL_ASSERT(rc == 0); /* out of memory arming a timer: see sl_evloop_timer_reserve */
	t->due_ms = after_ms > UINT64_MAX - l->now_ms ? UINT64_MAX : l->now_ms + after_ms;
	t->fn = fn;
	t->arg = arg;
	l->heap_len++;
	heap_place(l, l->heap_len - 1, t);
	sift_up(l, l->heap_len - 1);
}

void sl_evloop_timer_cancel(struct sl_evloop *l, struct sl_ev_timer *t)
{
	if (t->heap_index != 0)
		heap_remove(l, t);
}

bool sl_evloop_timer_armed(const struct sl_ev_timer *t)
{
	return t->heap_index != 0;
}

/* ---- file descriptors ---- */

static uint64_t ev_data(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static int fds_grow(struct sl_evloop *l, int fd)
{
	if ((uint32_t)fd < l->fds_cap)
		return 0;
	if ((uint32_t)fd >= FD_MAX)
		return -EMFILE;
	uint32_t cap = l->fds_cap ? l->fds_cap : 64;
	while (cap <= (uint32_t)fd)
		cap *= 2;
	struct fd_slot *f = realloc(l->fds, cap * sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	memset(f + l->fds_cap, 0, (cap - l->fds_cap) * sizeof(*f));
	l->fds = f;
	l->fds_cap = cap;
	return 0;
}

static struct fd_slot *slot_of(struct sl_evloop *l, int fd)
{
	if (fd < 0 || (uint32_t)fd >= l->fds_cap || !l->fds[fd].used)
		return NULL;
	return &l->fds[fd];
}

int sl_evloop_add(struct sl_evloop *l, int fd, uint32_t events, sl_ev_fd_fn *fn, void *arg)
{
	SL_ASSERT(fn != NULL);
	if (fd < 0)
		return -EBADF;
	if (slot_of(l, fd) != NULL)
		return -EEXIST;
	int rc = fds_grow(l, fd);
	if (rc != 0)
		return rc;
	struct fd_slot *s = &l->fds[fd];
	struct epoll_event ev = {.events = events, .data.u64 = ev_data(fd, s->gen)};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return sl_neg_errno();
	s->fn = fn;
	s->arg = arg;
	s->events = events;
	s->used = true;
	l->fd_count++;
	return 0;
}

int sl_evloop_mod(struct sl_evloop *l, int fd, uint32_t events)
{
	struct fd_slot *s = slot_of(l, fd);
	if (s == NULL)
		return -ENOENT;
	if (s->events == events)
		return 0;
	struct epoll_event ev = {.events = events, .data.u64 = ev_data(fd, s->gen)};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
		return sl_neg_errno();
	s->events = events;
	return 0;
}

int sl_evloop_del(struct sl_evloop *l, int fd)
{
	struct fd_slot *s = slot_of(l, fd);
	if (s == NULL)
		return -ENOENT;
	int rc = 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) != 0)
		rc = sl_neg_errno();
	/* The slot goes whatever epoll said: the caller is about to close fd. */
	s->used = false;
	s->fn = NULL;
	s->arg = NULL;
	s->gen++;
	SL_ASSERT(l->fd_count > 0);
	l->fd_count--;
	return rc;
}

/* ---- wake-up ---- */

static void wake_drain(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

void sl_evloop_wake(struct sl_evloop *l)
{
	uint64_t one = 1;
	/* EAGAIN: the counter is saturated, so the loop is woken already. */
	ssize_t n = write(l->wake_fd, &one, sizeof(one));
	(void)n;
}

/* ---- life ---- */

int sl_evloop_create(struct sl_evloop **out)
{
	int rc;
	struct sl_evloop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->wake_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		rc = sl_neg_errno();
		goto err_free;
	}
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0) {
		rc = sl_neg_errno();
		goto err_epoll;
	}
	rc = heap_grow(l, 64);
	if (rc != 0)
		goto err_wake;
	rc = sl_evloop_add(l, l->wake_fd, EPOLLIN, wake_drain, NULL);
	if (rc != 0)
		goto err_wake;
	l->now_ms = mono_ms();
	*out = l;
	return 0;

err_wake:
	close(l->wake_fd);
err_epoll:
	close(l->epfd);
err_free:
	free(l->heap);
	free(l->fds);
	free(l);
	return rc;
}

void sl_evloop_destroy(struct sl_evloop *l)
{
	if (l == NULL)
		return;
	sl_evloop_del(l, l->wake_fd);
	SL_ASSERT(l->fd_count == 0); /* every owner removed its fds */
	for (uint32_t i = 0; i < l->heap_len; i++)
		l->heap[i]->heap_index = 0;
	close(l->wake_fd);
	close(l->epfd);
	free(l->heap);
	free(l->fds);
	free(l);
}

uint64_t sl_evloop_now_ms(const struct sl_evloop *l)
{
	return l->now_ms;
}

/* epoll_wait's timeout: the caller's, shortened to the next timer. */
static int wait_ms(const struct sl_evloop *l, int timeout_ms)
{
	if (l->heap_len == 0)
		return timeout_ms;
	uint64_t due = l->heap[0]->due_ms;
	uint64_t until = due > l->now_ms ? due - l->now_ms : 0;
	if (until > INT32_MAX)
		until = INT32_MAX;
	if (timeout_ms < 0 || until < (uint64_t)timeout_ms)
		return (int)until;
	return timeout_ms;
}

static int run_timers(struct sl_evloop *l)
{
	int ran = 0;
	/* Bound: the timers armed now; those armed by callbacks wait a turn. */
	uint32_t budget = l->heap_len;
	while (budget-- > 0 && l->heap_len > 0 && l->heap[0]->due_ms <= l->now_ms) {
		struct sl_ev_timer *t = l->heap[0];
		heap_remove(l, t);
		t->fn(l, t->arg);
		ran++;
	}
	return ran;
}

int sl_evloop_run_once(struct sl_evloop *l, int timeout_ms)
{
	struct epoll_event evs[EVENTS_MAX];
	int n = epoll_wait(l->epfd, evs, EVENTS_MAX, wait_ms(l, timeout_ms));
	l->now_ms = mono_ms();
	if (n < 0)
		return errno == EINTR ? 0 : sl_neg_errno();
	int ran = 0;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct fd_slot *s = slot_of(l, fd);
		if (s == NULL || s->gen != gen)
			continue; /* removed by an earlier callback of this batch */
		s->fn(l, fd, evs[i].events, s->arg);
		ran++;
	}
	return ran + run_timers(l);
}
