/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 128-bit unsigned values: Kinesis sequence numbers and hash keys. Kinesis
 * shows both as decimal strings; SLW1 and the segment format carry them as 16
 * big-endian bytes.
 */
#ifndef SLUICE_U128_H
#define SLUICE_U128_H

#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 sl_u128;

#define SL_U128_MAX (~(sl_u128)0)
/* Decimal digits of 2^128 - 1 = 340282366920938463463374607431768211455. */
#define SL_U128_DEC_MAX 39
/* A buffer for sl_u128_to_dec(), with its NUL. */
#define SL_U128_DEC_BUF (SL_U128_DEC_MAX + 1)

static inline sl_u128 sl_u128_make(uint64_t hi, uint64_t lo)
{
	return ((sl_u128)hi << 64) | lo;
}

static inline uint64_t sl_u128_hi(sl_u128 v)
{
	return (uint64_t)(v >> 64);
}

static inline uint64_t sl_u128_lo(sl_u128 v)
{
	return (uint64_t)v;
}

/* Read 16 big-endian bytes (borrowed). */
sl_u128 sl_u128_load_be(const uint8_t *p);
/* Write 16 big-endian bytes. */
void sl_u128_store_be(uint8_t *p, sl_u128 v);

/*
 * Format in decimal into buf (at least SL_U128_DEC_BUF bytes) with a NUL;
 * returns the number of digits.
 */
size_t sl_u128_to_dec(sl_u128 v, char *buf);

/* The longest input sl_u128_from_dec() reads: up to 39 digits plus zeros. */
#define SL_U128_DEC_PARSE_MAX 64

/*
 * Parse `len` bytes of decimal (borrowed, not NUL-terminated): only ASCII
 * digits, no sign, no spaces; value <= 2^128 - 1, so at most 39 significant
 * digits. Leading zeros are allowed, but the whole input, zeros included, is
 * at most SL_U128_DEC_PARSE_MAX bytes, so the work per call is bounded.
 * Returns 0 and sets *out, or leaves *out alone and returns -EINVAL (empty,
 * longer than SL_U128_DEC_PARSE_MAX, or a byte that is not a digit; this wins
 * over -ERANGE) or -ERANGE (the value is above 2^128 - 1).
 */
int sl_u128_from_dec(const char *s, size_t len, sl_u128 *out);

#endif /* SLUICE_U128_H */
