/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 128-bit unsigned values in their two outside forms: 16 big-endian bytes
 * (SLW1, the segment format) and decimal text (the Kinesis API shows sequence
 * numbers and hash keys as decimal strings).
 *
 * Formatting splits the value into base-10^19 chunks, so it costs at most
 * two 128-bit divisions and the rest is 64-bit arithmetic. Parsing checks
 * every byte before it computes anything, so a bad byte is always -EINVAL,
 * and it bounds the input (SL_U128_DEC_PARSE_MAX) so a run of leading zeros
 * cannot make it loop for long.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/assert.h>
#include <sluice/u128.h>

#define POW10_19     10000000000000000000ull /* the largest power of ten in a u64 */
#define CHUNK_DIGITS 19

SL_STATIC_ASSERT(SL_U128_DEC_PARSE_MAX >= SL_U128_DEC_MAX);

sl_u128 sl_u128_load_be(const uint8_t *p)
{
	sl_u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | p[i];
	return v;
}

void sl_u128_store_be(uint8_t *p, sl_u128 v)
{
	for (int i = 15; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * Write the digits of x into p least significant first, padding with zeros
 * to at least `width` digits; returns how many were written (<= 20).
 */
static size_t put_digits_rev(char *p, uint64_t x, size_t width)
{
	size_t n = 0;

	do {
		p[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x != 0 || n < width);
	return n;
}

size_t sl_u128_to_dec(sl_u128 v, char *buf)
{
	char rev[SL_U128_DEC_MAX + 1];
	size_t n = 0;

	/* 2^128 < 10^39: at most two full chunks below the top one. */
	while (v >= POW10_19) {
		n += put_digits_rev(rev + n, (uint64_t)(v % POW10_19), CHUNK_DIGITS);
		v /= POW10_19;
	}
	n += put_digits_rev(rev + n, (uint64_t)v, 1);
	SL_ASSERT(n >= 1);
	SL_ASSERT(n <= SL_U128_DEC_MAX);

	for (size_t i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	buf[n] = '\0';
	return n;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

int sl_u128_from_dec(const char *s, size_t len, sl_u128 *out)
{
	const sl_u128 max_div10 = SL_U128_MAX / 10;
	const unsigned max_mod10 = (unsigned)(SL_U128_MAX % 10);
	sl_u128 v = 0;

	if (len == 0 || len > SL_U128_DEC_PARSE_MAX)
		return -EINVAL;
	if (!all_digits(s, len))
		return -EINVAL;

	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > max_div10 || (v == max_div10 && d > max_mod10))
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
