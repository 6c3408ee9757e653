/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks common/u128.c: decimal text of 0, 1, 2^64 - 1, 2^64, 2^128 - 1, of
 * every 10^k and 10^k - 1, and of random values (against a digit-at-a-time
 * formatter written here), each parsed back to the same value; the parse
 * rules (leading zeros up to SL_U128_DEC_PARSE_MAX bytes, -EINVAL for empty,
 * sign, space, non-digit or too long input, -ERANGE above 2^128 - 1, *out
 * untouched on error, `len` honoured without a NUL); and the big-endian byte
 * layout, byte by byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sluice/u128.h>

#include "check.h"

#define U128_MAX_DEC "340282366920938463463374607431768211455"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

/* xorshift64*: fixed seed, so a failure repeats. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* One 128-bit division per digit: slow, obvious, independent of u128.c. */
static void ref_to_dec(sl_u128 v, char *buf)
{
	char rev[SL_U128_DEC_BUF];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	buf[n] = '\0';
}

/* Format v, expect `want`, parse it back, expect v. */
static void check_round_trip(sl_u128 v, const char *want)
{
	char buf[SL_U128_DEC_BUF];
	sl_u128 back = 0;
	size_t n = sl_u128_to_dec(v, buf);

	CHECK_STREQ(buf, want);
	CHECK_EQ_U64(n, strlen(want));
	CHECK_EQ_U64(sl_u128_from_dec(buf, n, &back), 0);
	CHECK(back == v);
}

static void test_fixed_values(void)
{
	sl_u128 two64 = sl_u128_make(1, 0);

	check_round_trip(0, "0");
	check_round_trip(1, "1");
	check_round_trip(UINT64_MAX, "18446744073709551615");
	check_round_trip(two64, "18446744073709551616");
	check_round_trip(SL_U128_MAX, U128_MAX_DEC);
	CHECK_EQ_U64(sl_u128_hi(two64), 1);
	CHECK_EQ_U64(sl_u128_lo(two64), 0);
	CHECK_EQ_U64(sl_u128_hi(SL_U128_MAX), UINT64_MAX);
	CHECK_EQ_U64(sl_u128_lo(SL_U128_MAX), UINT64_MAX);
}

/* 10^k and 10^k - 1 sit on the edges of the base-10^19 chunks. */
static void test_powers_of_ten(void)
{
	sl_u128 p = 1;
	char want[SL_U128_DEC_BUF];

	for (int k = 0; k <= 38; k++) {
		memset(want, '0', (size_t)k + 1);
		want[0] = '1';
		want[k + 1] = '\0';
		check_round_trip(p, want);
		if (k > 0) {
			memset(want, '9', (size_t)k);
			want[k] = '\0';
			check_round_trip(p - 1, want);
		}
		p *= 10;
	}
}

static void test_random_values(void)
{
	char want[SL_U128_DEC_BUF];

	for (int i = 0; i < 20000; i++) {
		sl_u128 v = sl_u128_make(rng_next(), rng_next());

		/* Shift by 0..127 so every magnitude turns up. */
		v >>= (unsigned)(rng_next() % 128);
		ref_to_dec(v, want);
		check_round_trip(v, want);
	}
}

/* Expect `rc` from parsing the NUL-terminated s, and *out left alone on error. */
static void check_parse(const char *s, int rc)
{
	const sl_u128 sentinel = sl_u128_make(0xDEADBEEF, 0xFEEDFACE);
	sl_u128 out = sentinel;

	CHECK_EQ_U64(sl_u128_from_dec(s, strlen(s), &out), rc);
	if (rc != 0)
		CHECK(out == sentinel);
}

static void test_parse_errors(void)
{
	sl_u128 out = 0;

	check_parse("", -EINVAL);
	check_parse("-1", -EINVAL);
	check_parse("+1", -EINVAL);
	check_parse(" 1", -EINVAL);
	check_parse("1 ", -EINVAL);
	check_parse("1a", -EINVAL);
	check_parse("0x10", -EINVAL);
	check_parse("1\xC3\xA9", -EINVAL);
	check_parse("340282366920938463463374607431768211456", -ERANGE);  /* 2^128 */
	check_parse("9999999999999999999999999999999999999999", -ERANGE); /* 40 nines */
	check_parse("1000000000000000000000000000000000000000", -ERANGE); /* 10^39 */
	/* A bad byte wins over a value that is too large. */
	check_parse("99999999999999999999999999999999999999999999x", -EINVAL);

	/* An embedded NUL is a non-digit. */
	CHECK_EQ_U64(sl_u128_from_dec("1\0", 2, &out), -EINVAL);
	/* `len` bounds the read; no NUL needed. */
	CHECK_EQ_U64(sl_u128_from_dec("12345", 3, &out), 0);
	CHECK(out == 123);
	CHECK_EQ_U64(sl_u128_from_dec("7", 0, &out), -EINVAL);
}

static void test_leading_zeros(void)
{
	char buf[SL_U128_DEC_PARSE_MAX + 2];
	size_t max_len = strlen(U128_MAX_DEC);
	sl_u128 out = 0;

	check_parse("0", 0);
	check_parse("00", 0);
	check_parse("0001", 0);
	CHECK_EQ_U64(sl_u128_from_dec("0042", 4, &out), 0);
	CHECK(out == 42);

	/* 63 zeros then a 1: exactly SL_U128_DEC_PARSE_MAX bytes, accepted. */
	memset(buf, '0', SL_U128_DEC_PARSE_MAX - 1);
	buf[SL_U128_DEC_PARSE_MAX - 1] = '1';
	buf[SL_U128_DEC_PARSE_MAX] = '\0';
	check_parse(buf, 0);
	CHECK_EQ_U64(sl_u128_from_dec(buf, SL_U128_DEC_PARSE_MAX, &out), 0);
	CHECK(out == 1);

	/* One more zero in front: too long. */
	memset(buf, '0', SL_U128_DEC_PARSE_MAX);
	buf[SL_U128_DEC_PARSE_MAX] = '1';
	buf[SL_U128_DEC_PARSE_MAX + 1] = '\0';
	check_parse(buf, -EINVAL);

	/* 2^128 - 1 padded to the bound is still 2^128 - 1. */
	memset(buf, '0', SL_U128_DEC_PARSE_MAX - max_len);
	memcpy(buf + SL_U128_DEC_PARSE_MAX - max_len, U128_MAX_DEC, max_len + 1);
	check_parse(buf, 0);
	CHECK_EQ_U64(sl_u128_from_dec(buf, SL_U128_DEC_PARSE_MAX, &out), 0);
	CHECK(out == SL_U128_MAX);

	/* And 2^128 padded the same way is still too large. */
	buf[SL_U128_DEC_PARSE_MAX - 1] = '6';
	check_parse(buf, -ERANGE);
}

static void test_big_endian(void)
{
	uint8_t b[16];
	sl_u128 v = sl_u128_make(0x0102030405060708ull, 0x090A0B0C0D0E0F10ull);

	sl_u128_store_be(b, v);
	for (int i = 0; i < 16; i++)
		CHECK_EQ_U64(b[i], i + 1);
	CHECK(sl_u128_load_be(b) == v);

	sl_u128_store_be(b, 1);
	for (int i = 0; i < 15; i++)
		CHECK_EQ_U64(b[i], 0);
	CHECK_EQ_U64(b[15], 1);
	CHECK(sl_u128_load_be(b) == 1);

	sl_u128_store_be(b, sl_u128_make(0x8000000000000000ull, 0));
	CHECK_EQ_U64(b[0], 0x80);
	for (int i = 1; i < 16; i++)
		CHECK_EQ_U64(b[i], 0);

	for (int i = 0; i < 1000; i++) {
		uint8_t back[16];

		for (int j = 0; j < 16; j++)
			b[j] = (uint8_t)rng_next();
		sl_u128_store_be(back, sl_u128_load_be(b));
		CHECK(memcmp(back, b, sizeof(b)) == 0);
	}
}

int main(void)
{
	test_fixed_values();
	test_powers_of_ten();
	test_random_values();
	test_parse_errors();
	test_leading_zeros();
	test_big_endian();
	return sl_check_finish("test_u128");
}
