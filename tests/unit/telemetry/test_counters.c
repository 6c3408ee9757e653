/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of per-thread counters (telemetry/counters.c). It checks that:
 * - a set's sum is the counter-by-counter sum of its blocks, and the block
 *   visitor sees each live block once, with its owner, in creation order;
 * - destroying a block folds its values into the set's retired totals, so
 *   the sum is unchanged by a destroy and keeps growing with new blocks;
 * - two sets are independent, and the set visitor reports each with its sums;
 * - bad sets, owners and arguments are refused (NULL or -EINVAL, -EEXIST)
 *   with nothing changed;
 * - with 4 writer threads each counting 1,000,000 times into its own block
 *   and then destroying it, a concurrent reader's sums never decrease and
 *   never exceed the final total, and the final sum is exact.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/counters.h>

#include "check.h"

enum { A_RX, A_DROP, A_BYTES, A_COUNT };

static const struct sl_counter_def a_defs[A_COUNT] = {
    [A_RX] = {"rx_packets_total", "Packets received."},
    [A_DROP] = {"drop_no_mbuf_total", "Packets dropped: no mbuf."},
    [A_BYTES] = {"rx_bytes_total", "Bytes received."},
};
static const struct sl_counter_set set_a = {"test_a", a_defs, A_COUNT};

static const struct sl_counter_def b_defs[] = {
    {"appends_total", "Appends stored."},
};
static const struct sl_counter_set set_b = {"test_b", b_defs, 1};

/* Collects what sl_counter_foreach_block() shows, up to 8 blocks. */
struct seen_blocks {
	unsigned count;
	const char *owners[8];
	uint64_t rx[8];
};

static int seen_block(const struct sl_counter_block *b, const char *owner, void *arg)
{
	struct seen_blocks *s = arg;
	if (s->count < 8) {
		s->owners[s->count] = owner;
		s->rx[s->count] = sl_counter_block_get(b, A_RX);
	}
	s->count++;
	return 0;
}

static void test_sum_blocks(void)
{
	struct sl_counter_block *b[3];
	const char *owners[3] = {"rx-lcore-1", "rx-lcore-2", "writer-0"};
	uint64_t sum[A_COUNT];

	CHECK(sl_counter_sum(&set_a, sum, A_COUNT) == 0);
	CHECK_EQ_U64(sum[A_RX], 0);

	for (unsigned i = 0; i < 3; i++) {
		b[i] = sl_counter_block_create(&set_a, owners[i]);
		CHECK(b[i] != NULL);
		if (b[i] == NULL)
			return;
	}
	for (unsigned i = 0; i < 3; i++) {
		for (unsigned k = 0; k <= i; k++)
			sl_counter_inc(b[i], A_RX);
		sl_counter_add(b[i], A_BYTES, 1000u * (i + 1));
	}
	sl_counter_add(b[1], A_DROP, 7);
	sl_counter_add(b[2], A_DROP, 0);

	CHECK_EQ_U64(sl_counter_block_get(b[0], A_RX), 1);
	CHECK_EQ_U64(sl_counter_block_get(b[2], A_RX), 3);
	CHECK_EQ_U64(sl_counter_block_get(b[1], A_DROP), 7);
	CHECK(sl_counter_sum(&set_a, sum, A_COUNT) == 0);
	CHECK_EQ_U64(sum[A_RX], 1 + 2 + 3);
	CHECK_EQ_U64(sum[A_DROP], 7);
	CHECK_EQ_U64(sum[A_BYTES], 6000);

	struct seen_blocks s = {0};
	CHECK(sl_counter_foreach_block(&set_a, seen_block, &s) == 0);
	CHECK(s.count == 3);
	for (unsigned i = 0; i < 3 && i < s.count; i++) {
		CHECK_STREQ(s.owners[i], owners[i]);
		CHECK_EQ_U64(s.rx[i], i + 1);
	}

	/* Destroy folds: the sum does not move, and new blocks add to it. */
	sl_counter_block_destroy(b[1]);
	CHECK(sl_counter_sum(&set_a, sum, A_COUNT) == 0);
	CHECK_EQ_U64(sum[A_RX], 6);
	CHECK_EQ_U64(sum[A_DROP], 7);
	CHECK_EQ_U64(sum[A_BYTES], 6000);

	s = (struct seen_blocks){0};
	CHECK(sl_counter_foreach_block(&set_a, seen_block, &s) == 0);
	CHECK(s.count == 2);
	if (s.count == 2) {
		CHECK_STREQ(s.owners[0], "rx-lcore-1");
		CHECK_STREQ(s.owners[1], "writer-0");
	}

	/* The owner name is free again once its block is gone. */
	b[1] = sl_counter_block_create(&set_a, "rx-lcore-2");
	CHECK(b[1] != NULL);
	sl_counter_add(b[1], A_DROP, 3);
	CHECK_EQ_U64(sl_counter_block_get(b[1], A_DROP), 3);
	for (unsigned i = 0; i < 3; i++)
		sl_counter_block_destroy(b[i]);
	sl_counter_block_destroy(NULL);

	CHECK(sl_counter_sum(&set_a, sum, A_COUNT) == 0);
	CHECK_EQ_U64(sum[A_RX], 6);
	CHECK_EQ_U64(sum[A_DROP], 10);
	CHECK_EQ_U64(sum[A_BYTES], 6000);
	s = (struct seen_blocks){0};
	CHECK(sl_counter_foreach_block(&set_a, seen_block, &s) == 0);
	CHECK(s.count == 0);
}

/* Records the sums of set_a and set_b from sl_counter_foreach_set(). */
struct seen_sets {
	unsigned visits;
	uint64_t a_drop;
	uint64_t b_appends;
	unsigned stop_after;
};

static int seen_set(const struct sl_counter_set *set, const uint64_t *sums, void *arg)
{
	struct seen_sets *s = arg;
	s->visits++;
	if (set == &set_a)
		s->a_drop = sums[A_DROP];
	if (set == &set_b)
		s->b_appends = sums[0];
	return s->visits == s->stop_after ? 42 : 0;
}

static void test_sets_independent(void)
{
	uint64_t a[A_COUNT], b_sum[1];

	CHECK(sl_counter_sum(&set_a, a, A_COUNT) == 0);
	uint64_t a_drop = a[A_DROP];

	struct sl_counter_block *ba = sl_counter_block_create(&set_a, "rx-lcore-1");
	struct sl_counter_block *bb = sl_counter_block_create(&set_b, "rx-lcore-1");
	CHECK(ba != NULL);
	CHECK(bb != NULL);
	if (ba == NULL || bb == NULL)
		return;
	sl_counter_add(bb, 0, 5);
	CHECK(sl_counter_sum(&set_a, a, A_COUNT) == 0);
	CHECK_EQ_U64(a[A_DROP], a_drop);
	CHECK(sl_counter_sum(&set_b, b_sum, 1) == 0);
	CHECK_EQ_U64(b_sum[0], 5);

	sl_counter_add(ba, A_DROP, 11);
	CHECK(sl_counter_sum(&set_b, b_sum, 1) == 0);
	CHECK_EQ_U64(b_sum[0], 5);

	struct seen_sets s = {0};
	CHECK(sl_counter_foreach_set(seen_set, &s) == 0);
	CHECK(s.visits >= 2);
	CHECK_EQ_U64(s.a_drop, a_drop + 11);
	CHECK_EQ_U64(s.b_appends, 5);

	/* A visitor's non-zero return stops the walk and is returned. */
	s = (struct seen_sets){.stop_after = 1};
	CHECK(sl_counter_foreach_set(seen_set, &s) == 42);
	CHECK(s.visits == 1);

	sl_counter_block_destroy(bb);
	sl_counter_block_destroy(ba);
	CHECK(sl_counter_sum(&set_b, b_sum, 1) == 0);
	CHECK_EQ_U64(b_sum[0], 5);
}

static int stop_at_first(const struct sl_counter_block *b, const char *owner, void *arg)
{
	(void)b;
	(void)owner;
	(*(unsigned *)arg)++;
	return -ECANCELED;
}

static void test_bad_args(void)
{
	static const struct sl_counter_def dup_defs[] = {{"x_total", ""}, {"x_total", ""}};
	static const struct sl_counter_def upper_defs[] = {{"Rx_total", ""}};
	static const struct sl_counter_def digit_defs[] = {{"9_total", ""}};
	static const struct sl_counter_def dash_defs[] = {{"rx-total", ""}};
	static const struct sl_counter_def nohelp_defs[] = {{"rx_total", NULL}};
	static const struct sl_counter_def noname_defs[] = {{NULL, "help"}};
	static const struct sl_counter_def long_defs[] = {
	    {"a123456789_123456789_123456789_123456789_123456789_123456789_123", ""}};
	static const struct sl_counter_def max_defs[] = {
	    {"a123456789_123456789_123456789_123456789_123456789_123456789_12", ""}};
	static const struct sl_counter_def many_defs[SL_COUNTER_SET_MAX + 1];
	const struct sl_counter_set bad_sets[] = {
	    {NULL, b_defs, 1},
	    {"", b_defs, 1},
	    {"Test", b_defs, 1},
	    {"test_nodefs", NULL, 1},
	    {"test_zero", b_defs, 0},
	    {"test_many", many_defs, SL_COUNTER_SET_MAX + 1},
	    {"test_dup", dup_defs, 2},
	    {"test_upper", upper_defs, 1},
	    {"test_digit", digit_defs, 1},
	    {"test_dash", dash_defs, 1},
	    {"test_nohelp", nohelp_defs, 1},
	    {"test_noname", noname_defs, 1},
	    {"test_long", long_defs, 1},
	};
	for (unsigned i = 0; i < SL_ARRAY_SIZE(bad_sets); i++) {
		CHECK(sl_counter_block_create(&bad_sets[i], "w") == NULL);
		CHECK(sl_counter_set_register(&bad_sets[i]) == -EINVAL);
	}
	CHECK(sl_counter_block_create(NULL, "w") == NULL);
	CHECK(sl_counter_set_register(NULL) == -EINVAL);

	/* 63 characters is the longest name. */
	static const struct sl_counter_set max_set = {"test_max", max_defs, 1};
	struct sl_counter_block *m = sl_counter_block_create(&max_set, "w");
	CHECK(m != NULL);
	sl_counter_block_destroy(m);

	/* Owners: NULL, empty, too long (32), not printable, duplicate. */
	CHECK(sl_counter_block_create(&set_b, NULL) == NULL);
	CHECK(sl_counter_block_create(&set_b, "") == NULL);
	CHECK(sl_counter_block_create(&set_b, "o123456789_123456789_1234567890_") == NULL);
	CHECK(sl_counter_block_create(&set_b, "rx\nlcore") == NULL);
	const char *owner_max = "o123456789_123456789_1234567890";
	struct sl_counter_block *b = sl_counter_block_create(&set_b, owner_max);
	CHECK(b != NULL);
	CHECK(sl_counter_block_create(&set_b, owner_max) == NULL);
	sl_counter_block_destroy(b);

	/* Another set object under a registered name clashes; re-registering
	 * the same one does not. */
	static const struct sl_counter_set set_b_twin = {"test_b", b_defs, 1};
	CHECK(sl_counter_set_register(&set_b_twin) == -EEXIST);
	CHECK(sl_counter_block_create(&set_b_twin, "w") == NULL);
	CHECK(sl_counter_set_register(&set_b) == 0);

	/* Sums: wrong length or NULL leave `out` untouched. */
	uint64_t out[A_COUNT + 1] = {99, 99, 99, 99};
	CHECK(sl_counter_sum(&set_a, out, A_COUNT - 1) == -EINVAL);
	CHECK(sl_counter_sum(&set_a, out, A_COUNT + 1) == -EINVAL);
	CHECK(sl_counter_sum(&set_a, NULL, A_COUNT) == -EINVAL);
	CHECK(sl_counter_sum(NULL, out, A_COUNT) == -EINVAL);
	CHECK_EQ_U64(out[0], 99);
	CHECK_EQ_U64(out[A_COUNT], 99);

	/* A set never registered sums to zeros and has no blocks. */
	static const struct sl_counter_set lonely = {"test_lonely", b_defs, 1};
	CHECK(sl_counter_sum(&lonely, out, 1) == 0);
	CHECK_EQ_U64(out[0], 0);
	unsigned visits = 0;
	CHECK(sl_counter_foreach_block(&lonely, stop_at_first, &visits) == 0);
	CHECK(visits == 0);

	/* Registered without blocks: reads 0, shows up, can then get blocks. */
	static const struct sl_counter_set early = {"test_early", b_defs, 1};
	CHECK(sl_counter_set_register(&early) == 0);
	CHECK(sl_counter_set_register(&early) == 0);
	CHECK(sl_counter_sum(&early, out, 1) == 0);
	CHECK_EQ_U64(out[0], 0);
	b = sl_counter_block_create(&early, "w");
	CHECK(b != NULL);
	CHECK(sl_counter_block_create(&early, "v") != NULL); /* left live */
	CHECK(sl_counter_foreach_block(&early, stop_at_first, &visits) == -ECANCELED);
	CHECK(visits == 1);
	sl_counter_block_destroy(b);

	CHECK(sl_counter_foreach_block(NULL, stop_at_first, &visits) == -EINVAL);
	CHECK(sl_counter_foreach_block(&set_a, NULL, NULL) == -EINVAL);
	CHECK(sl_counter_foreach_set(NULL, NULL) == -EINVAL);
}

/* Multi-threaded: 4 single writers, one reader. */

enum { MT_WRITERS = 4, MT_ITERS = 1000000, MT_ADD = 3, MT_READS_MAX = 50000000 };
enum { MT_RECORDS, MT_BYTES, MT_COUNT };

static const struct sl_counter_def mt_defs[MT_COUNT] = {
    [MT_RECORDS] = {"records_total", "Records counted."},
    [MT_BYTES] = {"bytes_total", "Bytes counted."},
};
static const struct sl_counter_set set_mt = {"test_mt", mt_defs, MT_COUNT};

static const uint64_t mt_final[MT_COUNT] = {
    [MT_RECORDS] = (uint64_t)MT_WRITERS * MT_ITERS,
    [MT_BYTES] = (uint64_t)MT_WRITERS * MT_ITERS * MT_ADD,
};

struct mt_reader {
	bool done; /* set by main once every writer is joined */
	unsigned reads;
	unsigned errors;
	unsigned decreases;
	unsigned overshoots;
	unsigned block_overshoots;
};

/* Each writer counts into its own block, then destroys it while the reader
 * may be summing, so the fold races with reads as well as the counting. */
static void *mt_write(void *arg)
{
	struct sl_counter_block *b = arg;
	for (unsigned i = 0; i < MT_ITERS; i++) {
		sl_counter_inc(b, MT_RECORDS);
		sl_counter_add(b, MT_BYTES, MT_ADD);
	}
	sl_counter_block_destroy(b);
	return NULL;
}

static int mt_check_block(const struct sl_counter_block *b, const char *owner, void *arg)
{
	struct mt_reader *r = arg;
	(void)owner;
	if (sl_counter_block_get(b, MT_RECORDS) > MT_ITERS)
		r->block_overshoots++;
	return 0;
}

static void *mt_read(void *arg)
{
	struct mt_reader *r = arg;
	uint64_t prev[MT_COUNT] = {0}, sum[MT_COUNT];

	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) && r->reads < MT_READS_MAX) {
		r->reads++;
		if (sl_counter_sum(&set_mt, sum, MT_COUNT) != 0) {
			r->errors++;
			continue;
		}
		for (unsigned i = 0; i < MT_COUNT; i++) {
			if (sum[i] < prev[i])
				r->decreases++;
			if (sum[i] > mt_final[i])
				r->overshoots++;
			prev[i] = sum[i];
		}
		if (r->reads % 64 == 0 && sl_counter_foreach_block(&set_mt, mt_check_block, r) != 0)
			r->errors++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct sl_counter_block *blocks[MT_WRITERS];
	pthread_t writers[MT_WRITERS], reader;
	struct mt_reader r = {0};
	char owner[SL_COUNTER_OWNER_MAX + 1];

	/* Boot: every block exists before its thread starts. */
	for (unsigned i = 0; i < MT_WRITERS; i++) {
		snprintf(owner, sizeof(owner), "writer-%u", i);
		blocks[i] = sl_counter_block_create(&set_mt, owner);
		CHECK(blocks[i] != NULL);
		if (blocks[i] == NULL)
			return;
	}
	CHECK(pthread_create(&reader, NULL, mt_read, &r) == 0);
	unsigned started = 0;
	for (; started < MT_WRITERS; started++) {
		if (pthread_create(&writers[started], NULL, mt_write, blocks[started]) != 0)
			break;
	}
	CHECK(started == MT_WRITERS);
	for (unsigned i = 0; i < started; i++)
		pthread_join(writers[i], NULL);
	for (unsigned i = started; i < MT_WRITERS; i++)
		sl_counter_block_destroy(blocks[i]);
	__atomic_store_n(&r.done, true, __ATOMIC_RELEASE);
	pthread_join(reader, NULL);

	CHECK(r.reads > 0);
	CHECK(r.errors == 0);
	CHECK(r.decreases == 0);
	CHECK(r.overshoots == 0);
	CHECK(r.block_overshoots == 0);
	fprintf(stderr, "counters: reader summed %u times during the run\n", r.reads);

	uint64_t sum[MT_COUNT];
	CHECK(sl_counter_sum(&set_mt, sum, MT_COUNT) == 0);
	if (started == MT_WRITERS) {
		CHECK_EQ_U64(sum[MT_RECORDS], mt_final[MT_RECORDS]);
		CHECK_EQ_U64(sum[MT_BYTES], mt_final[MT_BYTES]);
	}
}

int main(void)
{
	test_sum_blocks();
	test_sets_independent();
	test_bad_args();
	test_threads();
	return sl_check_finish("counters");
}
