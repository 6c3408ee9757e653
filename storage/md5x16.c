/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Partition-key hashing for a whole frame at once: MD5 (RFC 1321) of up to
 * 16 keys side by side in the 16 32-bit lanes of AVX-512 registers. Every
 * record of a frame needs MD5(key) to find its shard; one OpenSSL call
 * costs about 90 ns here, most of it fixed overhead for a key that fits one
 * 64-byte block, which is what partition keys nearly always are.
 *
 * Keys of up to 55 bytes (one block once padded) go through the vector
 * path; longer keys, and CPUs without AVX-512F, through OpenSSL's MD5.
 * Both give the same digests: the unit test checks them against each other
 * and against values computed by Python's hashlib.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <immintrin.h>

#include <sluice/assert.h>
#include <sluice/shardmap.h>

#define LANES       16
#define ONE_BLOCK   55 /* longest key whose padding fits one block */
#define BLOCK_BYTES 64
#define BLOCK_WORDS 16

static uint32_t K[64];
static bool have_avx512;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* RFC 1321: K[i] = floor(|sin(i + 1)| * 2^32); doubles compute it exactly. */
static void init(void)
{
	for (int i = 0; i < 64; i++)
		K[i] = (uint32_t)(fabs(sin((double)(i + 1))) * 4294967296.0);
	__builtin_cpu_init();
	have_avx512 = __builtin_cpu_supports("avx512f");
}

static const uint8_t S[64] = {
    7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 5,  9,  14, 20, 5,  9,
    14, 20, 5,  9,  14, 20, 5,  9,  14, 20, 4,  11, 16, 23, 4,  11, 16, 23, 4,  11, 16, 23,
    4,  11, 16, 23, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21,
};

/* The message word step i uses. */
static inline int word_of(int i)
{
	if (i < 16)
		return i;
	if (i < 32)
		return (5 * i + 1) & 15;
	if (i < 48)
		return (3 * i + 5) & 15;
	return (7 * i) & 15;
}

/* The digest (16 bytes, as MD5 writes them) read as a big-endian u128. */
static inline sl_u128 digest_u128(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	/* MD5 writes each word little-endian; reading bytes big-endian is
	 * each word byte-swapped, in order. */
	return sl_u128_make((uint64_t)__builtin_bswap32(a) << 32 | __builtin_bswap32(b),
			    (uint64_t)__builtin_bswap32(c) << 32 | __builtin_bswap32(d));
}

/* Rotate every lane left by s. */
#define ROL(x, s) _mm512_rolv_epi32((x), _mm512_set1_epi32(s))

/* One MD5 step on 16 lanes. f is the round function's ternary-logic
 * immediate, applied to (b, c, d) — or (d, b, c) for the second round. */
#define STEP(i, imm, x, y, z)                                                                      \
	do {                                                                                       \
		__m512i f_ = _mm512_ternarylogic_epi32((x), (y), (z), (imm));                      \
		f_ = _mm512_add_epi32(f_, a);                                                      \
		f_ = _mm512_add_epi32(f_, _mm512_set1_epi32((int)K[i]));                           \
		f_ = _mm512_add_epi32(f_, w[word_of(i)]);                                          \
		a = d;                                                                             \
		d = c;                                                                             \
		c = b;                                                                             \
		b = _mm512_add_epi32(b, ROL(f_, S[i]));                                            \
	} while (0)

/*
 * n (1..16) keys of at most ONE_BLOCK bytes each: lane j hashes keys[j].
 * Unused lanes hash an empty block; their results are dropped.
 */
__attribute__((target("avx512f"))) static void
md5_x16(const uint8_t *const *keys, const uint16_t *lens, unsigned n, sl_u128 *out)
{
	_Alignas(64) uint8_t blocks[LANES][BLOCK_BYTES];
	memset(blocks, 0, sizeof(blocks));
	for (unsigned j = 0; j < n; j++) {
		memcpy(blocks[j], keys[j], lens[j]);
		blocks[j][lens[j]] = 0x80;
		uint64_t bits = (uint64_t)lens[j] * 8; /* little-endian, bytes 56..63 */
		memcpy(&blocks[j][56], &bits, sizeof(bits));
	}
	/* w[k]: word k of every lane's block. */
	__m512i w[BLOCK_WORDS];
	const __m512i lane_off = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160,
						   176, 192, 208, 224, 240);
	for (int k = 0; k < BLOCK_WORDS; k++)
		w[k] = _mm512_i32gather_epi32(_mm512_add_epi32(lane_off, _mm512_set1_epi32(k)),
					      blocks, 4);
	const __m512i a0 = _mm512_set1_epi32(0x67452301), b0 = _mm512_set1_epi32((int)0xefcdab89u),
		      c0 = _mm512_set1_epi32((int)0x98badcfeu), d0 = _mm512_set1_epi32(0x10325476);
	__m512i a = a0, b = b0, c = c0, d = d0;
	/* F = b ? c : d (0xCA); G = d ? b : c; H = b ^ c ^ d (0x96);
	 * I = c ^ (b | ~d) (0x39). */
#pragma GCC unroll 16
	for (int i = 0; i < 16; i++)
		STEP(i, 0xCA, b, c, d);
#pragma GCC unroll 16
	for (int i = 16; i < 32; i++)
		STEP(i, 0xCA, d, b, c);
#pragma GCC unroll 16
	for (int i = 32; i < 48; i++)
		STEP(i, 0x96, b, c, d);
#pragma GCC unroll 16
	for (int i = 48; i < 64; i++)
		STEP(i, 0x39, b, c, d);
	_Alignas(64) uint32_t ra[LANES], rb[LANES], rc[LANES], rd[LANES];
	_mm512_store_si512(ra, _mm512_add_epi32(a, a0));
	_mm512_store_si512(rb, _mm512_add_epi32(b, b0));
	_mm512_store_si512(rc, _mm512_add_epi32(c, c0));
	_mm512_store_si512(rd, _mm512_add_epi32(d, d0));
	for (unsigned j = 0; j < n; j++)
		out[j] = digest_u128(ra[j], rb[j], rc[j], rd[j]);
}

void sl_hash_partition_keys(struct sl_record *recs, unsigned n)
{
	pthread_once(&once, init);
	const uint8_t *keys[LANES];
	uint16_t lens[LANES];
	struct sl_record *who[LANES];
	sl_u128 h[LANES];
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		struct sl_record *r = &recs[i];
		if (r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY)
			continue;
		if (!have_avx512 || r->key_len > ONE_BLOCK) {
			r->hash_key = sl_hash_partition_key(r->key, r->key_len);
			continue;
		}
		keys[m] = r->key;
		lens[m] = r->key_len;
		who[m++] = r;
		if (m == LANES) {
			md5_x16(keys, lens, m, h);
			for (unsigned j = 0; j < m; j++)
				who[j]->hash_key = h[j];
			m = 0;
		}
	}
	if (m == 1) {
		who[0]->hash_key = sl_hash_partition_key(keys[0], lens[0]);
	} else if (m > 0) {
		md5_x16(keys, lens, m, h);
		for (unsigned j = 0; j < m; j++)
			who[j]->hash_key = h[j];
	}
}
