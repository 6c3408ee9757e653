/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The crc32c benchmark: how fast sl_crc32c() (common/crc32c.c, the checksum
 * of every SLW1 frame and every batch on disk) runs, held against ISA-L's
 * crc32_iscsi() on the same buffers in the same run; sl_crc32c() calls ISA-L,
 * so its figures show what our wrapper costs. Our own SSE4.2 (one crc32
 * instruction stream) and slicing-by-8 implementations, kept as cross-checks,
 * are measured too. perf/bench_crc32c.sh runs it for perf/run.sh.
 *
 * It first checks that both compute the same function: the "123456789" check
 * value, then random lengths at random alignments, then a CRC continued
 * across a split. ISA-L works on the raw register (pass 0xFFFFFFFF to start,
 * no final inversion), so sl_crc32c(x) == ~crc32_iscsi(x, n, 0xFFFFFFFF) and
 * continuing from a sluice CRC c means passing ~c. Any difference prints
 * the case (and the seed that made it) and exits 1 before anything is timed.
 *
 * Then, for each figure, it times sluice and ISA-L alternately for three
 * rounds and keeps the best round of each. A round is as many calls on one
 * buffer as take about 0.3 s (0.05 s with --quick), counted beforehand.
 * Calls are independent, as for a stream of frames; the buffer stays in
 * cache (1 MiB fits in L2 on current server cores). GB/s is 10^9 bytes/s.
 *
 * Output, one line per figure on stdout, tab-separated (perf/README.md):
 *   figure NAME VALUE UNIT REFERENCE REFERENCE_NAME
 * Progress and notes go to stderr.
 *
 *   bench_crc32c [--quick] [--verify] [--seed N]
 *     --verify   run the equivalence check only (the `perf` meson suite)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <isa-l/crc.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>

#ifndef SL_ISAL_VERSION
#define SL_ISAL_VERSION "?"
#endif

#define REFERENCE_NAME "ISA-L " SL_ISAL_VERSION " crc32_iscsi"

#define BUF_BYTES_MAX  (1024u * 1024u)
#define BUF_SLACK      64u /* room for misaligned verification cases */
#define VERIFY_CASES   20000u
#define VERIFY_LEN_MAX 4096u
#define ROUNDS         3
#define ROUND_S        0.3
#define ROUND_S_QUICK  0.05
#define ITERS_MAX      (UINT64_C(1) << 40)

SL_STATIC_ASSERT(BUF_BYTES_MAX <= INT_MAX);                    /* crc32_iscsi takes an int */
SL_STATIC_ASSERT(VERIFY_LEN_MAX + BUF_SLACK <= BUF_BYTES_MAX); /* cases fit the buffer */

/* Runs a CRC iters times over buf[0..len) and returns the XOR of the results. */
typedef uint32_t loop_fn(const uint8_t *buf, size_t len, uint64_t iters);

struct bench_case {
	const char *figure;
	size_t len;
	loop_fn *loop;
};

struct side {
	uint64_t iters;
	double best_s;
};

static uint64_t rng_state;

/* xorshift64*; the seed is printed, so a mismatch can be repeated. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

static void rng_fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_next() >> 56);
}

/* ISA-L's CRC-32C in sluice's convention (inverted in and out). */
static uint32_t isal_crc32c_update(uint32_t crc, const uint8_t *buf, size_t len)
{
	SL_ASSERT(len <= INT_MAX);
	return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}

/*
 * The timed loops. Each calls its CRC directly, so the only indirect call is
 * the one per round; the XOR keeps every result live.
 */
static uint32_t loop_sl(const uint8_t *buf, size_t len, uint64_t iters)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < iters; i++)
		acc ^= sl_crc32c(buf, len);
	return acc;
}

static uint32_t loop_sl_sw(const uint8_t *buf, size_t len, uint64_t iters)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < iters; i++)
		acc ^= sl_crc32c_update_sw(0, buf, len);
	return acc;
}

static uint32_t loop_sl_hw(const uint8_t *buf, size_t len, uint64_t iters)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < iters; i++)
		acc ^= sl_crc32c_update_hw(0, buf, len);
	return acc;
}

static uint32_t loop_isal(const uint8_t *buf, size_t len, uint64_t iters)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < iters; i++)
		acc ^= ~crc32_iscsi((unsigned char *)buf, (int)len, 0xFFFFFFFFu);
	return acc;
}

static double now_s(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_MONOTONIC, &ts);

	SL_ASSERT(rc == 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint32_t sink;

static double time_loop(loop_fn *loop, const uint8_t *buf, size_t len, uint64_t iters)
{
	double start = now_s();

	sink ^= loop(buf, len, iters);
	return now_s() - start;
}

/*
 * How many iterations take about round_s: double until a run takes a tenth
 * of it, then scale. This also warms caches, branch predictors and clocks.
 */
static uint64_t calibrate(loop_fn *loop, const uint8_t *buf, size_t len, double round_s)
{
	uint64_t iters = 1;
	double t = time_loop(loop, buf, len, iters);

	while (t < round_s / 10 && iters < ITERS_MAX) {
		iters *= 2;
		t = time_loop(loop, buf, len, iters);
	}
	SL_ASSERT(t > 0);
	double scaled = (double)iters * round_s / t;

	return scaled < 1 ? 1 : (uint64_t)scaled;
}

/* Prints one case where the implementations disagree; returns -EINVAL. */
static int mismatch(const char *what, size_t off, size_t len, uint32_t sl, uint32_t other)
{
	fprintf(stderr,
		"bench_crc32c: MISMATCH (%s) at offset %zu length %zu: "
		"sluice %08" PRIx32 ", other %08" PRIx32 "\n",
		what, off, len, sl, other);
	return -EINVAL;
}

static int verify_check_value(void)
{
	static const uint8_t check[] = "123456789";
	const uint32_t want = 0xE3069283u;
	uint32_t sl = sl_crc32c(check, 9);

	if (sl != want)
		return mismatch("check value, expected", 0, 9, sl, want);
	if (sl_crc32c_update_sw(0, check, 9) != want)
		return mismatch("check value, software", 0, 9, sl,
				sl_crc32c_update_sw(0, check, 9));
	if (isal_crc32c_update(0, check, 9) != want)
		return mismatch("check value, ISA-L", 0, 9, sl, isal_crc32c_update(0, check, 9));
	return 0;
}

/* One buffer: dispatched, software and ISA-L agree, one shot and split. */
static int verify_one(const uint8_t *buf, size_t off, size_t len)
{
	const uint8_t *p = buf + off;
	uint32_t sl = sl_crc32c(p, len);
	uint32_t sw = sl_crc32c_update_sw(0, p, len);
	uint32_t isal = isal_crc32c_update(0, p, len);

	if (sw != sl)
		return mismatch("software", off, len, sl, sw);
	if (isal != sl)
		return mismatch("ISA-L", off, len, sl, isal);

	size_t cut = len == 0 ? 0 : (size_t)(rng_next() % (len + 1));
	uint32_t head = sl_crc32c(p, cut);
	uint32_t split = isal_crc32c_update(head, p + cut, len - cut);

	if (split != sl)
		return mismatch("ISA-L continued from sluice", off, len, sl, split);
	return 0;
}

static int verify(uint8_t *buf, const struct bench_case *cases, size_t n_cases)
{
	int rc = verify_check_value();

	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < VERIFY_CASES; i++) {
		size_t off = (size_t)(rng_next() % BUF_SLACK);
		size_t len = (size_t)(rng_next() % (VERIFY_LEN_MAX + 1));

		rng_fill(buf + off, len);
		rc = verify_one(buf, off, len);
		if (rc < 0)
			return rc;
	}
	/* The timed buffers themselves, as they will be timed. */
	rng_fill(buf, BUF_BYTES_MAX);
	for (size_t i = 0; i < n_cases; i++) {
		rc = verify_one(buf, 0, cases[i].len);
		if (rc < 0)
			return rc;
	}
	fprintf(stderr,
		"bench_crc32c: sluice and ISA-L agree on %u random buffers "
		"and the timed ones\n",
		VERIFY_CASES);
	return 0;
}

static double gbps(size_t len, const struct side *s)
{
	return (double)len * (double)s->iters / s->best_s / 1e9;
}

/* Sluice and ISA-L alternately, ROUNDS each; prints the figure line. */
static void run_case(const struct bench_case *c, const uint8_t *buf, double round_s)
{
	struct side sl = {.iters = calibrate(c->loop, buf, c->len, round_s), .best_s = 1e300};
	struct side ref = {.iters = calibrate(loop_isal, buf, c->len, round_s), .best_s = 1e300};

	for (int r = 0; r < ROUNDS; r++) {
		double t = time_loop(c->loop, buf, c->len, sl.iters);

		if (t < sl.best_s)
			sl.best_s = t;
		t = time_loop(loop_isal, buf, c->len, ref.iters);
		if (t < ref.best_s)
			ref.best_s = t;
	}
	SL_ASSERT(sl.best_s > 0);
	SL_ASSERT(ref.best_s > 0);
	fprintf(stderr, "bench_crc32c: %-20s sluice %8.3f GB/s  ISA-L %8.3f GB/s\n", c->figure,
		gbps(c->len, &sl), gbps(c->len, &ref));
	printf("figure\t%s\t%.3f\tGB/s\t%.3f\t%s\n", c->figure, gbps(c->len, &sl),
	       gbps(c->len, &ref), REFERENCE_NAME);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_crc32c [--quick] [--verify] [--seed N]\n");
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
	    {"crc32c_64_gbps", 64, loop_sl},
	    {"crc32c_1k_gbps", 1024, loop_sl},
	    {"crc32c_64k_gbps", 64 * 1024, loop_sl},
	    {"crc32c_1m_gbps", 1024 * 1024, loop_sl},
	    {"crc32c_own_sse42_1k_gbps", 1024, loop_sl_hw},
	    {"crc32c_own_sse42_64k_gbps", 64 * 1024, loop_sl_hw},
	    {"crc32c_own_sw_64k_gbps", 64 * 1024, loop_sl_sw},
	};
	double round_s = ROUND_S;
	bool verify_only = false;
	bool seeded = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			round_s = ROUND_S_QUICK;
		} else if (strcmp(argv[i], "--verify") == 0) {
			verify_only = true;
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			rng_state = strtoull(argv[++i], NULL, 0);
			seeded = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!seeded && getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state))
		rng_state = (uint64_t)time(NULL);
	if (rng_state == 0) /* xorshift's one fixed point */
		rng_state = 1;
	fprintf(stderr, "bench_crc32c: seed %#" PRIx64 ", reference %s\n", rng_state,
		REFERENCE_NAME);

	uint8_t *buf = aligned_alloc(64, BUF_BYTES_MAX);

	if (buf == NULL) {
		fprintf(stderr, "bench_crc32c: cannot allocate %u bytes\n", BUF_BYTES_MAX);
		return 1;
	}
	int rc = verify(buf, cases, SL_ARRAY_SIZE(cases));

	if (rc < 0 || verify_only) {
		free(buf);
		return rc < 0 ? 1 : 0;
	}

	bool hw = sl_crc32c_hw_available();

	if (!hw)
		fprintf(stderr, "bench_crc32c: this CPU has no SSE4.2, so the "
				"crc32c_own_sse42_* figures are left out\n");
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		if (!hw && cases[i].loop == loop_sl_hw)
			continue;
		run_case(&cases[i], buf, round_s);
	}
	free(buf);
	return 0;
}
