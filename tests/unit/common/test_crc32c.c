/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks common/crc32c.c: the "123456789" check value, the RFC 3720 B.4
 * vectors and the empty input; a few inputs against a bit-at-a-time reference
 * written here; software, hardware (when the CPU has SSE4.2) and the
 * dispatched path against that reference over random buffers of every length
 * 0..1100 at every alignment 0..15, each in its own exact-size allocation so
 * the sanitizer sees any read past the end; update() split at every point
 * equals one shot; and that every single flipped bit changes the CRC.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/crc32c.h>

#include "check.h"

#define LEN_MAX   1100
#define ALIGN_MAX 16

/* Bit at a time, straight from the definition: the independent reference. */
static uint32_t ref_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t reg = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		reg ^= p[i];
		for (int bit = 0; bit < 8; bit++) {
			if (reg & 1u)
				reg = (reg >> 1) ^ 0x82F63B78u;
			else
				reg >>= 1;
		}
	}
	return ~reg;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64*: fixed seed, so a failure repeats. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static void rng_fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_next() >> 56);
}

static void test_known_values(void)
{
	uint8_t buf[32];

	CHECK_EQ_U64(sl_crc32c("123456789", 9), 0xE3069283u);
	CHECK_EQ_U64(sl_crc32c("", 0), 0);
	CHECK_EQ_U64(sl_crc32c(NULL, 0), 0);
	CHECK_EQ_U64(sl_crc32c_update(0, NULL, 0), 0);
	CHECK_EQ_U64(sl_crc32c_update(0x12345678u, NULL, 0), 0x12345678u);

	memset(buf, 0x00, sizeof(buf));
	CHECK_EQ_U64(sl_crc32c(buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xFF, sizeof(buf));
	CHECK_EQ_U64(sl_crc32c(buf, sizeof(buf)), 0x62A8AB43u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ_U64(sl_crc32c(buf, sizeof(buf)), 0x46DD794Eu);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(sizeof(buf) - 1 - i);
	CHECK_EQ_U64(sl_crc32c(buf, sizeof(buf)), 0x113FDB5Cu);
}

/* The reference against the published values, then the library against it. */
static void test_against_reference(void)
{
	static const char *const inputs[] = {
	    "",
	    "a",
	    "abc",
	    "123456789",
	    "The quick brown fox jumps over the lazy dog",
	    "sluice: a streaming-ingestion appliance, eight-byte words + tail",
	};
	uint8_t zeros[32] = {0};

	CHECK_EQ_U64(ref_crc32c("123456789", 9), 0xE3069283u);
	CHECK_EQ_U64(ref_crc32c(zeros, sizeof(zeros)), 0x8A9136AAu);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t len = strlen(inputs[i]);
		uint32_t want = ref_crc32c(inputs[i], len);

		CHECK_EQ_U64(sl_crc32c(inputs[i], len), want);
		CHECK_EQ_U64(sl_crc32c_update_sw(0, inputs[i], len), want);
		if (sl_crc32c_hw_available())
			CHECK_EQ_U64(sl_crc32c_update_hw(0, inputs[i], len), want);
	}
}

/*
 * Returns 1 and prints the case when got != want. `at` is the alignment, or
 * the split point in the incremental test.
 */
static unsigned check_one(const char *what, uint32_t got, uint32_t want, size_t len, size_t at)
{
	if (got == want)
		return 0;
	fprintf(stderr, "%s: len %zu, offset %zu: 0x%08x != 0x%08x\n", what, len, at, got, want);
	return 1;
}

static void test_lengths_and_alignments(void)
{
	bool hw = sl_crc32c_hw_available();
	uint8_t src[LEN_MAX];
	unsigned bad_sw = 0, bad_hw = 0, bad_auto = 0;

	if (!hw)
		fprintf(stderr, "test_crc32c: CPU lacks SSE4.2: hw vs sw not checked\n");
	for (size_t len = 0; len <= LEN_MAX; len++) {
		rng_fill(src, len);
		uint32_t want = ref_crc32c(src, len);

		for (size_t align = 0; align < ALIGN_MAX; align++) {
			size_t size = align + len;
			uint8_t *mem = malloc(size > 0 ? size : 1);
			uint8_t *p;

			if (mem == NULL) {
				CHECK(mem != NULL);
				return;
			}
			p = mem + align;
			memcpy(p, src, len);
			if (bad_sw == 0)
				bad_sw += check_one("sw", sl_crc32c_update_sw(0, p, len), want, len,
						    align);
			if (hw && bad_hw == 0)
				bad_hw += check_one("hw", sl_crc32c_update_hw(0, p, len), want, len,
						    align);
			if (bad_auto == 0)
				bad_auto +=
				    check_one("dispatch", sl_crc32c(p, len), want, len, align);
			free(mem);
		}
	}
	CHECK_EQ_U64(bad_sw, 0);
	CHECK_EQ_U64(bad_hw, 0);
	CHECK_EQ_U64(bad_auto, 0);
}

static void test_split(const char *what, uint32_t (*update)(uint32_t, const void *, size_t))
{
	uint8_t buf[300];
	unsigned bad = 0;

	rng_fill(buf, sizeof(buf));
	uint32_t whole = ref_crc32c(buf, sizeof(buf));

	CHECK_EQ_U64(update(0, buf, sizeof(buf)), whole);
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t crc = update(0, buf, cut);

		crc = update(crc, buf + cut, sizeof(buf) - cut);
		bad += check_one(what, crc, whole, sizeof(buf), cut);
	}
	/* Three pieces, the middle one short, across every word boundary. */
	for (size_t cut = 0; cut + 7 <= sizeof(buf); cut++) {
		uint32_t crc = update(0, buf, cut);

		crc = update(crc, buf + cut, 7);
		crc = update(crc, buf + cut + 7, sizeof(buf) - cut - 7);
		bad += check_one(what, crc, whole, sizeof(buf), cut);
	}
	CHECK_EQ_U64(bad, 0);
}

static void test_incremental(void)
{
	test_split("update", sl_crc32c_update);
	test_split("update_sw", sl_crc32c_update_sw);
	if (sl_crc32c_hw_available())
		test_split("update_hw", sl_crc32c_update_hw);
	CHECK_EQ_U64(sl_crc32c_update(sl_crc32c("1234", 4), "56789", 5), 0xE3069283u);
}

static void test_bit_flips(void)
{
	uint8_t buf[64];
	unsigned same = 0;

	rng_fill(buf, sizeof(buf));
	uint32_t orig = sl_crc32c(buf, sizeof(buf));

	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (sl_crc32c(buf, sizeof(buf)) == orig)
			same++;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ_U64(same, 0);
	CHECK_EQ_U64(sl_crc32c(buf, sizeof(buf)), orig);
}

int main(void)
{
#if defined(__x86_64__)
	CHECK(sl_crc32c_hw_available() == (__builtin_cpu_supports("sse4.2") != 0));
#endif
	test_known_values();
	test_against_reference();
	test_lengths_and_alignments();
	test_incremental();
	test_bit_flips();
	return sl_check_finish("test_crc32c");
}
