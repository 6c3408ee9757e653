/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks common/ring.c. sl_ring_create refuses 0, 1, 3, other non-powers of
 * two and sizes above SL_RING_SIZE_MAX (NULL, errno EINVAL), and accepts 2
 * and SL_RING_SIZE_MAX (not under TSan); destroy(NULL) is a no-op. On one
 * thread: FIFO order; a full ring refuses with -ENOBUFS, leaves count ==
 * capacity and takes an item again once one is dequeued; positions wrap
 * round the cells over a thousand times with every fill level and burst
 * length; a burst smaller than what is queued takes the oldest items and
 * leaves the rest (and out[] past them) alone. On many threads: producers
 * enqueue items encoding (producer, index) + 1, retrying on -ENOBUFS and
 * counting the retries, while one consumer checks that every item arrives
 * exactly once, each producer's in order, and that count never exceeds
 * capacity; 4 producers x 1,000,000 on a ring of 1024, and 4 x 100,000 on a
 * ring of 2 where nearly every enqueue meets a full ring.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/assert.h>
#include <sluice/ring.h>

#include "check.h"

/*
 * ThreadSanitizer slows every atomic access and shadows memory fourfold: a
 * tenth of the items, and no ring of SL_RING_SIZE_MAX (800 MB resident). The
 * full counts take about a second under ASan and UBSan on 2 cores.
 */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#ifdef UNDER_TSAN
#define MT_ITEMS_PER_PRODUCER 100000u
#else
#define MT_ITEMS_PER_PRODUCER 1000000u
#endif
#define MT_PRODUCERS_MAX 8u
/*
 * -ENOBUFS retries for one item before its producer gives up: seconds of
 * trying, far beyond any real wait for the consumer, so a ring that stops
 * moving fails the test with a count instead of hanging until the timeout.
 */
#define MT_RETRIES_MAX (1ull << 28)

/* A non-NULL stand-in for an item: the sequence number + 1. */
static void *item_of(uint64_t seq)
{
	return (void *)(uintptr_t)(seq + 1);
}

static uint64_t seq_of(void *item)
{
	return (uint64_t)(uintptr_t)item - 1;
}

static void test_create_bounds(void)
{
	static const uint32_t bad[] = {
	    0,
	    1,
	    3,
	    5,
	    6,
	    12,
	    1000,
	    (1u << 20) + 1,
	    SL_RING_SIZE_MAX - 1,
	    SL_RING_SIZE_MAX + 1,
	    SL_RING_SIZE_MAX << 1,
	    1u << 31,
	    UINT32_MAX,
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		errno = 0;
		struct sl_ring *r = sl_ring_create(bad[i]);
		CHECK(r == NULL);
		CHECK_EQ_U64(errno, EINVAL);
		sl_ring_destroy(r);
	}

	struct sl_ring *r = sl_ring_create(2);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_EQ_U64(sl_ring_capacity(r), 2);
		CHECK_EQ_U64(sl_ring_count(r), 0);
	}
	sl_ring_destroy(r);

#ifndef UNDER_TSAN
	r = sl_ring_create(SL_RING_SIZE_MAX);
	CHECK(r != NULL);
	if (r != NULL)
		CHECK_EQ_U64(sl_ring_capacity(r), SL_RING_SIZE_MAX);
	sl_ring_destroy(r);
#endif

	sl_ring_destroy(NULL);
}

static void test_fifo(void)
{
	struct sl_ring *r = sl_ring_create(8);
	void *out[8];

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 8), 0);
	for (uint64_t i = 0; i < 5; i++)
		CHECK_EQ_U64(sl_ring_enqueue(r, item_of(i)), 0);
	CHECK_EQ_U64(sl_ring_count(r), 5);
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 8), 5);
	for (uint64_t i = 0; i < 5; i++)
		CHECK_EQ_U64(seq_of(out[i]), i);
	CHECK_EQ_U64(sl_ring_count(r), 0);
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 8), 0);
	sl_ring_destroy(r);
}

static void test_full(void)
{
	struct sl_ring *r = sl_ring_create(4);
	void *out[4];

	CHECK(r != NULL);
	if (r == NULL)
		return;
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ_U64(sl_ring_enqueue(r, item_of(i)), 0);
	CHECK_EQ_U64(sl_ring_enqueue(r, item_of(4)), -ENOBUFS);
	CHECK_EQ_U64(sl_ring_enqueue(r, item_of(4)), -ENOBUFS);
	CHECK_EQ_U64(sl_ring_count(r), 4);
	CHECK_EQ_U64(sl_ring_capacity(r), 4);

	/* One out, one back in, then full again. */
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 1), 1);
	CHECK_EQ_U64(seq_of(out[0]), 0);
	CHECK_EQ_U64(sl_ring_count(r), 3);
	CHECK_EQ_U64(sl_ring_enqueue(r, item_of(4)), 0);
	CHECK_EQ_U64(sl_ring_enqueue(r, item_of(5)), -ENOBUFS);
	CHECK_EQ_U64(sl_ring_count(r), 4);

	/* The refused items left no trace: 1..4 come out, in order. */
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 4), 4);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ_U64(seq_of(out[i]), i + 1);
	CHECK_EQ_U64(sl_ring_count(r), 0);
	sl_ring_destroy(r);
}

/* Fill to k items, drain in bursts of b, for every k and b: 100s of laps. */
static void test_wrap(void)
{
	enum { SIZE = 4, ROUNDS = 200 };
	struct sl_ring *r = sl_ring_create(SIZE);
	void *out[SIZE];
	uint64_t next_in = 0, next_out = 0;
	unsigned bad_order = 0, bad_count = 0;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	for (unsigned round = 0; round < ROUNDS; round++) {
		for (uint32_t k = 1; k <= SIZE; k++) {
			for (uint32_t b = 1; b <= SIZE; b++) {
				for (uint32_t i = 0; i < k; i++)
					bad_count += sl_ring_enqueue(r, item_of(next_in++)) != 0;
				bad_count += sl_ring_count(r) != k;
				uint32_t left = k;
				while (left > 0) {
					uint32_t got = sl_ring_dequeue_burst(r, out, b);
					bad_count += got != (left < b ? left : b);
					if (got == 0)
						break;
					for (uint32_t i = 0; i < got; i++)
						bad_order += seq_of(out[i]) != next_out++;
					left -= got;
				}
			}
		}
	}
	CHECK_EQ_U64(bad_order, 0);
	CHECK_EQ_U64(bad_count, 0);
	CHECK_EQ_U64(next_out, next_in);
	/* Positions went round the 4 cells this many times. */
	CHECK(next_in / SIZE >= 1000);
	CHECK_EQ_U64(sl_ring_count(r), 0);
	sl_ring_destroy(r);
}

static void test_burst_partial(void)
{
	struct sl_ring *r = sl_ring_create(8);
	void *out[8];

	CHECK(r != NULL);
	if (r == NULL)
		return;
	for (uint64_t i = 0; i < 6; i++)
		CHECK_EQ_U64(sl_ring_enqueue(r, item_of(i)), 0);
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 0), 0);
	CHECK_EQ_U64(sl_ring_count(r), 6);

	/* Sentinels past n must stay untouched. */
	out[2] = item_of(99);
	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 2), 2);
	CHECK_EQ_U64(seq_of(out[0]), 0);
	CHECK_EQ_U64(seq_of(out[1]), 1);
	CHECK_EQ_U64(seq_of(out[2]), 99);
	CHECK_EQ_U64(sl_ring_count(r), 4);

	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 3), 3);
	for (uint64_t i = 0; i < 3; i++)
		CHECK_EQ_U64(seq_of(out[i]), i + 2);
	CHECK_EQ_U64(sl_ring_count(r), 1);

	CHECK_EQ_U64(sl_ring_dequeue_burst(r, out, 8), 1);
	CHECK_EQ_U64(seq_of(out[0]), 5);
	CHECK_EQ_U64(sl_ring_count(r), 0);
	sl_ring_destroy(r);
}

struct producer {
	struct sl_ring *ring;
	pthread_barrier_t *start;
	uint32_t *done_count;
	uint32_t id;
	uint32_t items;
	/* Written by the producer, read after join. */
	uint64_t enqueued;
	uint64_t retries;
	uint64_t other_errors;
};

/* Items carry (producer, index) so the consumer can check order per producer. */
static void *item_encode(uint32_t producer, uint32_t index)
{
	return item_of(((uint64_t)producer << 32) | index);
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	pthread_barrier_wait(p->start);
	for (uint32_t i = 0; i < p->items; i++) {
		uint64_t tries = 0;
		int rc;
		while ((rc = sl_ring_enqueue(p->ring, item_encode(p->id, i))) == -ENOBUFS &&
		       tries < MT_RETRIES_MAX) {
			tries++;
			/* On 2 cores the consumer may need this core to make room. */
			if ((tries & 15) == 0)
				sched_yield();
		}
		p->retries += tries;
		if (rc != 0) {
			p->other_errors++;
			break;
		}
		p->enqueued++;
	}
	/* Release: the consumer that sees every producer done sees every item. */
	__atomic_add_fetch(p->done_count, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct consumer_result {
	uint64_t received;
	uint64_t bad_producer;
	uint64_t bad_order;
	uint64_t over_capacity;
	uint64_t next[MT_PRODUCERS_MAX];
};

/* Dequeue until every producer is done and the ring is empty. */
static void consume(struct sl_ring *r, uint32_t producers, uint32_t *done_count,
		    struct consumer_result *res)
{
	void *out[64];

	for (;;) {
		/* Acquire: read before the burst, so an empty burst after it is final. */
		uint32_t done = __atomic_load_n(done_count, __ATOMIC_ACQUIRE);
		uint32_t got = sl_ring_dequeue_burst(r, out, 64);

		if (got == 0) {
			if (done == producers)
				return;
			sched_yield();
			continue;
		}
		res->over_capacity += sl_ring_count(r) > sl_ring_capacity(r);
		for (uint32_t i = 0; i < got; i++) {
			uint64_t v = seq_of(out[i]);
			uint32_t producer = (uint32_t)(v >> 32), index = (uint32_t)v;
			if (producer >= producers) {
				res->bad_producer++;
				continue;
			}
			res->bad_order += index != res->next[producer];
			res->next[producer] = index + 1;
			res->received++;
		}
	}
}

static void test_mpsc(uint32_t size, uint32_t producers, uint32_t items)
{
	struct sl_ring *r = sl_ring_create(size);
	struct producer prod[MT_PRODUCERS_MAX] = {{0}};
	pthread_t tid[MT_PRODUCERS_MAX];
	pthread_barrier_t start;
	uint32_t done_count = 0;
	struct consumer_result res = {0};
	uint32_t started = 0;

	CHECK(r != NULL);
	CHECK(producers <= MT_PRODUCERS_MAX);
	if (r == NULL || producers > MT_PRODUCERS_MAX)
		return;
	CHECK_EQ_U64(pthread_barrier_init(&start, NULL, producers + 1), 0);
	for (uint32_t i = 0; i < producers; i++) {
		prod[i] = (struct producer){
		    .ring = r, .start = &start, .done_count = &done_count, .id = i, .items = items};
		int rc = pthread_create(&tid[i], NULL, producer_main, &prod[i]);
		CHECK_EQ_U64(rc, 0);
		if (rc != 0)
			break;
		started++;
	}
	if (started != producers) {
		/* Cannot meet the barrier; this is a machine problem, not a ring one. */
		fprintf(stderr, "ring: pthread_create failed; stuck threads left behind\n");
		return;
	}
	pthread_barrier_wait(&start);
	consume(r, producers, &done_count, &res);

	uint64_t retries = 0, enqueued = 0, other_errors = 0;
	for (uint32_t i = 0; i < producers; i++) {
		CHECK_EQ_U64(pthread_join(tid[i], NULL), 0);
		retries += prod[i].retries;
		enqueued += prod[i].enqueued;
		other_errors += prod[i].other_errors;
		CHECK_EQ_U64(prod[i].enqueued, items);
		CHECK_EQ_U64(res.next[i], items);
	}
	CHECK_EQ_U64(other_errors, 0);
	CHECK_EQ_U64(enqueued, (uint64_t)producers * items);
	CHECK_EQ_U64(res.received, (uint64_t)producers * items);
	CHECK_EQ_U64(res.bad_producer, 0);
	CHECK_EQ_U64(res.bad_order, 0);
	CHECK_EQ_U64(res.over_capacity, 0);
	CHECK_EQ_U64(sl_ring_count(r), 0);
	fprintf(stderr, "ring: size %u, %u producers x %u items, %" PRIu64 " -ENOBUFS retries\n",
		size, producers, items, retries);
	pthread_barrier_destroy(&start);
	sl_ring_destroy(r);
}

int main(void)
{
	test_create_bounds();
	test_fifo();
	test_full();
	test_wrap();
	test_burst_partial();
	test_mpsc(1024, 4, MT_ITEMS_PER_PRODUCER);
	test_mpsc(2, 4, MT_ITEMS_PER_PRODUCER / 10);
	return sl_check_finish("ring");
}
