/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC-32C (Castagnoli): the checksum of every SLW1 frame, every ack and every
 * batch on disk. sl_crc32c() runs ISA-L's crc32_iscsi, which picks the best
 * code for the CPU at run time (AVX-512 or PCLMUL folding, the SSE4.2
 * instruction, a table) and is about 9x faster than one crc32 instruction
 * stream from 1 KiB up (perf/run.sh crc32c). Two implementations of our own
 * give the same value for every input and check it in the unit tests:
 *
 * - hardware: the SSE4.2 crc32 instruction, eight bytes at a time. The
 *   project is not built with -msse4.2, so only the one function that uses it
 *   is compiled for that target, and it runs only when the CPU has it.
 * - software: slicing-by-8, eight 256-entry tables built once at first use.
 *
 * Both work on the raw CRC register (reflected polynomial 0x82F63B78, no
 * inversion); the public functions invert on the way in and out, which is
 * what makes update(crc(a), b) == crc(a || b) and update(0, x) == crc(x).
 *
 * All three work on the raw register, as ISA-L does (it starts from
 * 0xFFFFFFFF and does not invert the result). The tables are built once,
 * under pthread_once(), which publishes them to every thread.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <isa-l/crc.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC_HAVE_HW 1
#else
#define CRC_HAVE_HW 0
#endif

#define CRC_POLY 0x82F63B78u /* 0x1EDC6F41 bit-reversed */

/* Works on the raw register: no inversion in or out. */
typedef uint32_t crc_update_fn(uint32_t reg, const uint8_t *p, size_t len);

/*
 * table[0][b] is the register after feeding byte b into a zero register;
 * table[k][b] is that value carried through k more zero bytes, so eight
 * bytes fold into the register with eight lookups.
 */
static uint32_t table[8][256];
static crc_update_fn *crc_impl;
static bool hw_on;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t reg = b;

		for (int bit = 0; bit < 8; bit++)
			reg = (reg >> 1) ^ (CRC_POLY & (0u - (reg & 1u)));
		table[0][b] = reg;
	}
	for (int k = 1; k < 8; k++) {
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t prev = table[k - 1][b];

			table[k][b] = (prev >> 8) ^ table[0][prev & 0xffu];
		}
	}
}

/* Little-endian load, byte by byte: any alignment, any host byte order. */
static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_sw(uint32_t reg, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t lo = reg ^ load_le32(p);
		uint32_t hi = load_le32(p + 4);

		reg = table[7][lo & 0xffu] ^ table[6][(lo >> 8) & 0xffu] ^
		      table[5][(lo >> 16) & 0xffu] ^ table[4][lo >> 24] ^ table[3][hi & 0xffu] ^
		      table[2][(hi >> 8) & 0xffu] ^ table[1][(hi >> 16) & 0xffu] ^
		      table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len > 0) {
		reg = (reg >> 8) ^ table[0][(reg ^ *p) & 0xffu];
		p++;
		len--;
	}
	return reg;
}

#if CRC_HAVE_HW
/*
 * One crc32 instruction per eight bytes. memcpy() makes the unaligned load
 * legal C; it compiles to a plain mov.
 */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t reg, const uint8_t *p, size_t len)
{
	uint64_t reg64 = reg;

	while (len >= 8) {
		uint64_t word;

		memcpy(&word, p, sizeof(word));
		reg64 = _mm_crc32_u64(reg64, word);
		p += 8;
		len -= 8;
	}
	reg = (uint32_t)reg64;
	while (len > 0) {
		reg = _mm_crc32_u8(reg, *p);
		p++;
		len--;
	}
	return reg;
}
#endif

/* ISA-L takes an int length: feed it in bounded pieces. */
static uint32_t crc_isal(uint32_t reg, const uint8_t *p, size_t len)
{
	const size_t piece = (size_t)1 << 30;
	while (len > 0) {
		size_t n = len < piece ? len : piece;
		reg = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return reg;
}

static void crc_init(void)
{
	build_tables();
	crc_impl = crc_isal;
	hw_on = false;
#if CRC_HAVE_HW
	__builtin_cpu_init();
	hw_on = __builtin_cpu_supports("sse4.2");
#endif
}

static inline void crc_ready(void)
{
	int rc = pthread_once(&crc_once, crc_init);

	SL_ASSERT(rc == 0);
}

bool sl_crc32c_hw_available(void)
{
	crc_ready();
	return hw_on;
}

uint32_t sl_crc32c_update_sw(uint32_t crc, const void *buf, size_t len)
{
	crc_ready();
	return ~crc_sw(~crc, buf, len);
}

uint32_t sl_crc32c_update_hw(uint32_t crc, const void *buf, size_t len)
{
	SL_ASSERT(sl_crc32c_hw_available());
#if CRC_HAVE_HW
	return ~crc_hw(~crc, buf, len);
#else
	(void)crc;
	(void)buf;
	(void)len;
	SL_UNREACHABLE();
#endif
}

uint32_t sl_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	crc_ready();
	return ~crc_impl(~crc, buf, len);
}

uint32_t sl_crc32c(const void *buf, size_t len)
{
	return sl_crc32c_update(0, buf, len);
}
