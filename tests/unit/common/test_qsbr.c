/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks common/qsbr.c. Slots: SL_QSBR_READERS_MAX readers register, the
 * next one gets NULL, an unregistered slot can be taken again; destroy(NULL)
 * and unregister(NULL) are no-ops. On one thread: synchronize returns 0 at
 * once (timeout 0) with no reader, with unregistered readers and with
 * offline ones; an online reader that has not passed a quiescent state
 * since the call began makes it return -ETIMEDOUT, not before the timeout
 * (a quiescent state reported before the call does not count; going offline
 * does; coming back online makes it wait again). On two threads: an updater
 * blocked in synchronize returns only after the reader's quiescent call,
 * checked by flags each side reads (no timing decides the result). Stress:
 * reader threads load a published pointer, read the object (its magic and a
 * checksum of its payload), report a quiescent state, and now and then go
 * offline; the updater swaps in a new object, synchronizes, poisons the old
 * one and frees it, for about a second; no reader may see poison (and under
 * ASan none may touch freed memory).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/qsbr.h>

#include "check.h"

static void test_slots(void)
{
	static struct sl_qsbr_reader *r[SL_QSBR_READERS_MAX];
	struct sl_qsbr *q = sl_qsbr_create();
	CHECK(q != NULL);
	if (q == NULL)
		return;
	unsigned got = 0;
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++) {
		r[i] = sl_qsbr_register(q);
		got += r[i] != NULL;
	}
	CHECK_EQ_U64(got, SL_QSBR_READERS_MAX);
	/* Every slot is its own. */
	unsigned dup = 0;
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++)
		for (unsigned j = i + 1; j < SL_QSBR_READERS_MAX; j++)
			dup += r[i] == r[j];
	CHECK_EQ_U64(dup, 0);
	CHECK(sl_qsbr_register(q) == NULL);
	CHECK(sl_qsbr_register(q) == NULL);

	/* All online, none quiescent since: the grace period cannot end. */
	CHECK(sl_qsbr_synchronize(q, 5) == -ETIMEDOUT);
	/* All offline: it ends at once. */
	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++)
		sl_qsbr_offline(r[i]);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);

	/* A freed slot can be taken again, and only one. */
	sl_qsbr_unregister(r[17]);
	r[17] = sl_qsbr_register(q);
	CHECK(r[17] != NULL);
	CHECK(sl_qsbr_register(q) == NULL);
	/* The new reader starts online. */
	CHECK(sl_qsbr_synchronize(q, 5) == -ETIMEDOUT);

	for (unsigned i = 0; i < SL_QSBR_READERS_MAX; i++)
		sl_qsbr_unregister(r[i]);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);
	sl_qsbr_unregister(NULL);
	sl_qsbr_destroy(q);
	sl_qsbr_destroy(NULL);
}

/* synchronize(q, ms) must time out, and not before ms have passed. */
static void check_times_out(struct sl_qsbr *q, uint32_t ms)
{
	uint64_t t0 = sl_clock_mono_ns();
	CHECK(sl_qsbr_synchronize(q, ms) == -ETIMEDOUT);
	uint64_t took = sl_clock_mono_ns() - t0;
	CHECK(took >= ms * SL_NS_PER_MS);
	CHECK(took < 10 * SL_NS_PER_S); /* a deadline, not a hang */
}

/* One thread plays both parts: the reader's state decides every result. */
static void test_single_thread(void)
{
	struct sl_qsbr *q = sl_qsbr_create();
	CHECK(q != NULL);
	if (q == NULL)
		return;
	CHECK(sl_qsbr_synchronize(q, 0) == 0); /* no reader */
	CHECK(sl_qsbr_synchronize(q, 0) == 0);

	struct sl_qsbr_reader *a = sl_qsbr_register(q);
	struct sl_qsbr_reader *b = sl_qsbr_register(q);
	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		return;
	sl_qsbr_offline(b); /* b stays offline throughout */

	/* a is online from registration and has not been quiescent since. */
	check_times_out(q, 30);
	/* A quiescent state before the call does not end a later grace
	 * period: it proves nothing about pointers loaded after it. */
	sl_qsbr_quiescent(a);
	check_times_out(q, 20);
	sl_qsbr_quiescent(a);
	sl_qsbr_quiescent(a);
	check_times_out(q, 1);

	/* Offline readers hold nothing: no wait, even with timeout 0. */
	sl_qsbr_offline(a);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);
	/* Online again: waited for again. */
	sl_qsbr_online(a);
	check_times_out(q, 10);
	sl_qsbr_offline(a);
	sl_qsbr_online(a);
	sl_qsbr_offline(a);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);

	/* An unregistered reader is not waited for, whatever its state. */
	sl_qsbr_online(a);
	sl_qsbr_unregister(a);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);
	sl_qsbr_unregister(b);
	CHECK(sl_qsbr_synchronize(q, 0) == 0);
	sl_qsbr_destroy(q);
}

/* ---- an updater blocked until the reader's quiescent call ---- */

struct handoff {
	struct sl_qsbr *q;
	struct sl_qsbr_reader *r;
	uint32_t reader_delay_us;
	int started;   /* atomic: the updater is about to call synchronize */
	int quiescing; /* atomic: the reader is about to call quiescent */
	int returned;  /* atomic: synchronize has returned */
	int sync_rc;
	int quiescing_at_return; /* what the updater saw when it returned */
	int returned_before;     /* what the reader saw before its call */
};

static void *handoff_updater(void *p)
{
	struct handoff *h = p;
	__atomic_store_n(&h->started, 1, __ATOMIC_SEQ_CST);
	h->sync_rc = sl_qsbr_synchronize(h->q, 20000);
	h->quiescing_at_return = __atomic_load_n(&h->quiescing, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *handoff_reader(void *p)
{
	struct handoff *h = p;
	/* Bounded: the updater thread starts within seconds or never. */
	for (int i = 0; i < 1000000 && !__atomic_load_n(&h->started, __ATOMIC_SEQ_CST); i++)
		sched_yield();
	/* Only sharpens the test (the updater is then surely waiting); the
	 * checks below hold whatever the delay. */
	usleep(h->reader_delay_us);
	h->returned_before = __atomic_load_n(&h->returned, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->quiescing, 1, __ATOMIC_SEQ_CST);
	sl_qsbr_quiescent(h->r);
	return NULL;
}

static void test_waits_for_quiescent(void)
{
	struct sl_qsbr *q = sl_qsbr_create();
	CHECK(q != NULL);
	if (q == NULL)
		return;
	for (uint32_t round = 0; round < 20; round++) {
		struct handoff h = {.q = q, .reader_delay_us = (round % 5) * 5000};
		/* Registered before the updater starts, so it is surely online
		 * when the grace period begins. */
		h.r = sl_qsbr_register(q);
		CHECK(h.r != NULL);
		if (h.r == NULL)
			break;
		pthread_t up, rd;
		CHECK(pthread_create(&up, NULL, handoff_updater, &h) == 0);
		CHECK(pthread_create(&rd, NULL, handoff_reader, &h) == 0);
		pthread_join(rd, NULL);
		pthread_join(up, NULL);
		CHECK(h.sync_rc == 0);
		/* The reader quiesced before synchronize returned ... */
		CHECK_EQ_U64(h.quiescing_at_return, 1);
		/* ... and synchronize had not returned when it did. */
		CHECK_EQ_U64(h.returned_before, 0);
		sl_qsbr_unregister(h.r);
	}
	sl_qsbr_destroy(q);
}

/* ---- stress: publish, synchronize, poison, free ---- */

#define OBJ_MAGIC      UINT64_C(0x51554953434e5431) /* "QUISCNT1" */
#define OBJ_POISON     UINT64_C(0xdeadbeefdeadbeef)
#define OBJ_WORDS      16
#define STRESS_READERS 2
#define STRESS_NS      (1 * SL_NS_PER_S)
#define OFFLINE_EVERY  4096 /* reader iterations between offline spells */
#define SWAP_FAILS_MAX 3    /* then give up: readers are stuck */

/* The magic last: free() writes its own links over the first words. */
struct obj {
	uint64_t words[OBJ_WORDS];
	uint64_t sum; /* of words[] */
	uint64_t version;
	uint64_t magic;
};

struct stress {
	struct sl_qsbr *q;
	struct obj *published; /* atomic */
	int stop;              /* atomic */
};

struct stress_reader {
	struct stress *s;
	struct sl_qsbr_reader *r;
	uint64_t reads;
	uint64_t poisoned; /* magic was the poison */
	uint64_t bad;      /* neither magic nor poison, or a wrong sum */
	uint64_t offline_spells;
};

static struct obj *obj_new(uint64_t version)
{
	struct obj *o = malloc(sizeof(*o));
	if (o == NULL)
		return NULL;
	o->magic = OBJ_MAGIC;
	o->version = version;
	o->sum = 0;
	for (unsigned i = 0; i < OBJ_WORDS; i++) {
		o->words[i] = version * 0x9E3779B97F4A7C15u + i;
		o->sum += o->words[i];
	}
	return o;
}

/* Read the whole object twice round: a freed or reused one shows. */
static void reader_visit(struct stress_reader *sr, const struct obj *o)
{
	uint64_t m = __atomic_load_n(&o->magic, __ATOMIC_RELAXED);
	uint64_t sum = 0;
	for (unsigned i = 0; i < OBJ_WORDS; i++)
		sum += __atomic_load_n(&o->words[i], __ATOMIC_RELAXED);
	uint64_t m2 = __atomic_load_n(&o->magic, __ATOMIC_RELAXED);
	sr->reads++;
	if (m == OBJ_POISON || m2 == OBJ_POISON)
		sr->poisoned++;
	else if (m != OBJ_MAGIC || m2 != OBJ_MAGIC || sum != o->sum)
		sr->bad++;
}

static void *stress_reader_main(void *p)
{
	struct stress_reader *sr = p;
	struct stress *s = sr->s;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		const struct obj *o = __atomic_load_n(&s->published, __ATOMIC_ACQUIRE);
		reader_visit(sr, o);
		if (sr->reads % 7 == 0) {
			sched_yield(); /* still holding o: the updater must wait */
			reader_visit(sr, o);
		}
		sl_qsbr_quiescent(sr->r);
		if (sr->reads % OFFLINE_EVERY == 0) {
			sl_qsbr_offline(sr->r);
			sched_yield();
			sl_qsbr_online(sr->r);
			sr->offline_spells++;
		}
	}
	sl_qsbr_offline(sr->r);
	return NULL;
}

static void test_stress(void)
{
	struct stress s = {.q = sl_qsbr_create()};
	struct stress_reader sr[STRESS_READERS];
	pthread_t tid[STRESS_READERS];
	CHECK(s.q != NULL);
	if (s.q == NULL)
		return;
	uint64_t version = 1;
	s.published = obj_new(version);
	CHECK(s.published != NULL);
	if (s.published == NULL)
		return;
	for (unsigned i = 0; i < STRESS_READERS; i++) {
		sr[i] = (struct stress_reader){.s = &s, .r = sl_qsbr_register(s.q)};
		CHECK(sr[i].r != NULL);
		CHECK(pthread_create(&tid[i], NULL, stress_reader_main, &sr[i]) == 0);
	}

	uint64_t swaps = 0, timeouts = 0, t0 = sl_clock_mono_ns();
	while (sl_clock_mono_ns() - t0 < STRESS_NS && timeouts < SWAP_FAILS_MAX) {
		struct obj *n = obj_new(++version);
		if (n == NULL) {
			CHECK(n != NULL);
			break;
		}
		struct obj *old = __atomic_exchange_n(&s.published, n, __ATOMIC_ACQ_REL);
		if (sl_qsbr_synchronize(s.q, 5000) != 0) {
			timeouts++; /* never free what a reader may hold */
			continue;
		}
		old->magic = OBJ_POISON;
		memset(old->words, 0xa5, sizeof(old->words));
		free(old);
		swaps++;
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	uint64_t reads = 0, poisoned = 0, bad = 0, spells = 0;
	for (unsigned i = 0; i < STRESS_READERS; i++) {
		pthread_join(tid[i], NULL);
		sl_qsbr_unregister(sr[i].r);
		reads += sr[i].reads;
		poisoned += sr[i].poisoned;
		bad += sr[i].bad;
		spells += sr[i].offline_spells;
	}
	free(s.published);
	sl_qsbr_destroy(s.q);
	fprintf(stderr, "qsbr stress: %llu swaps, %llu reads, %llu offline spells\n",
		(unsigned long long)swaps, (unsigned long long)reads, (unsigned long long)spells);
	CHECK_EQ_U64(timeouts, 0);
	CHECK_EQ_U64(poisoned, 0);
	CHECK_EQ_U64(bad, 0);
	/* The run did something: many grace periods, with readers busy. */
	CHECK(swaps >= 100);
	CHECK(reads >= 10000);
	CHECK(spells >= 1);
}

int main(void)
{
	test_slots();
	test_single_thread();
	test_waits_for_quiescent();
	test_stress();
	return sl_check_finish("qsbr");
}
