/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Base64 for the Kinesis API (RFC 4648 section 4, the standard alphabet,
 * padded), as strict as Kinesis is with a Blob. The rules, checked in this
 * order, and the error each one gives:
 *
 *   1. the length is a multiple of 4, else KIN_B64_ELEN;
 *   2. reading from the left, the first character that is neither in
 *      [A-Za-z0-9+/] nor an '=' ending the input (an '=' followed by
 *      anything but '=' counts as bad) is KIN_B64_ECHAR, with that
 *      character ('=' for a misplaced pad);
 *   3. more than two '=' at the end is KIN_B64_ELAST, and so are non-zero
 *      bits in the last character before the padding (bits that decoding
 *      would drop: "YR==" is not a canonical encoding).
 *
 * Decoding checks as it goes, in one pass: whole blocks of characters are
 * translated and checked together (64 at a time with AVX-512 VBMI, 32 with
 * AVX2, a quad at a time through a 256-entry table otherwise), and the
 * first block that holds anything but alphabet characters is handed to the
 * scalar code from its first quad, which finds the exact error or the
 * padding at the end. The implementation is chosen once from the CPU
 * (cpuid, at first use); tests force each one in turn.
 *
 * The vector blocks (our own derivation of the known technique): AVX-512
 * VBMI looks each byte up in a 128-entry table with one two-source byte
 * permute (vpermi2b), the value or 0x80 for a bad character, and ORs the
 * input in so that bytes >= 0x80 are caught too; AVX2 classifies each
 * byte by its two nibbles (a byte is bad when the bit sets of its high and
 * its low nibble meet) and translates by adding an offset chosen by the
 * high nibble, '/' moved to its own slot. Both then merge the four 6-bit
 * values of each 32-bit lane into 24 bits with two multiply-adds
 * (vpmaddubsw by 64/1, vpmaddwd by 4096/1) and gather the three bytes of
 * every lane with a byte permute.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define B64_X86 1
#else
#define B64_X86 0
#endif

#include <sluice/assert.h>

#include "kinesis_internal.h"

#define BAD 0xFF /* not an alphabet character, in dec[] */

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

typedef enum kin_b64_err decode_fn(const char *in, size_t n, uint8_t *out, size_t *out_len,
				   char *bad);

static uint8_t dec[256];            /* character -> 6-bit value, or BAD */
static decode_fn *decode_impl;      /* the implementation in use */
static enum kin_b64_impl impl_best; /* the best this CPU runs */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- encoding ---- */

void kin_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
}

/* ---- scalar decoding ---- */

/*
 * The quad at i holds the first character outside the alphabet (every
 * character before i is good, out holds their o bytes): rules 2 and 3, and
 * the last quad's bytes when it is padding.
 */
static enum kin_b64_err finish(const char *in, size_t n, size_t i, uint8_t *out, size_t o,
			       size_t *out_len, char *bad)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t j = i;
	while (dec[p[j]] != BAD)
		j++;
	SL_ASSERT(j < i + 4);
	if (p[j] != '=') {
		*bad = (char)p[j];
		return KIN_B64_ECHAR;
	}
	size_t k = j;
	while (k < n && p[k] == '=')
		k++;
	if (k < n) {
		*bad = '='; /* padding with something after it */
		return KIN_B64_ECHAR;
	}
	size_t pad = n - j;
	if (pad > 2)
		return KIN_B64_ELAST;
	/* one or two '=' end the input: the last quad, its first two good */
	SL_ASSERT(i == n - 4);
	uint32_t a = dec[p[i]], b = dec[p[i + 1]], c = pad == 1 ? dec[p[i + 2]] : 0;
	SL_ASSERT(a != BAD && b != BAD && c != BAD);
	if ((pad == 2 && (b & 0x0F) != 0) || (pad == 1 && (c & 0x03) != 0))
		return KIN_B64_ELAST;
	uint32_t v = a << 18 | b << 12 | c << 6;
	if (out != NULL) {
		out[o] = (uint8_t)(v >> 16);
		if (pad == 1)
			out[o + 1] = (uint8_t)(v >> 8);
	}
	*out_len = o + 3 - pad;
	return KIN_B64_OK;
}

/* Quads from i (a multiple of 4, every character before it good). */
static enum kin_b64_err decode_quads(const char *in, size_t n, size_t i, uint8_t *out,
				     size_t *out_len, char *bad)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t o = i / 4 * 3;
	for (; i < n; i += 4) {
		uint32_t a = dec[p[i]], b = dec[p[i + 1]], c = dec[p[i + 2]], d = dec[p[i + 3]];
		if (((a | b | c | d) & 0x80) != 0) /* BAD has the top bit */
			return finish(in, n, i, out, o, out_len, bad);
		if (out != NULL) {
			uint32_t v = a << 18 | b << 12 | c << 6 | d;
			out[o] = (uint8_t)(v >> 16);
			out[o + 1] = (uint8_t)(v >> 8);
			out[o + 2] = (uint8_t)v;
		}
		o += 3;
	}
	*out_len = o;
	return KIN_B64_OK;
}

static enum kin_b64_err decode_scalar(const char *in, size_t n, uint8_t *out, size_t *out_len,
				      char *bad)
{
	return decode_quads(in, n, 0, out, out_len, bad);
}

#if B64_X86

/* ---- AVX2: 32 characters a block ---- */

__attribute__((target("avx2"))) static enum kin_b64_err
decode_avx2(const char *in, size_t n, uint8_t *out, size_t *out_len, char *bad)
{
	/* bit sets of the high and low nibbles; a byte is bad when they meet */
	const __m256i lut_hi = _mm256_setr_epi8(1, 1, 2, 4, 8, 16, 8, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1,
						1, 2, 4, 8, 16, 8, 16, 1, 1, 1, 1, 1, 1, 1, 1);
	const __m256i lut_lo =
	    _mm256_setr_epi8(11, 3, 3, 3, 3, 3, 3, 3, 3, 3, 7, 21, 23, 23, 23, 21, 11, 3, 3, 3, 3,
			     3, 3, 3, 3, 3, 7, 21, 23, 23, 23, 21);
	/* value = character + roll[high nibble, '/' moved to slot 1] */
	const __m256i lut_roll =
	    _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
			     -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m256i nib = _mm256_set1_epi8(0x0F), slash = _mm256_set1_epi8('/');
	const __m256i merge1 = _mm256_set1_epi32(0x01400140),
		      merge2 = _mm256_set1_epi32(0x00011000);
	/* the 3 bytes of each 32-bit lane, most significant first, 12 per half */
	const __m256i gather =
	    _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5,
			     4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	const __m256i halves = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
	size_t i = 0, o = 0;
	for (; i + 32 <= n; i += 32, o += 24) {
		__m256i v = _mm256_loadu_si256((const void *)(in + i));
		__m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nib);
		__m256i lo = _mm256_and_si256(v, nib);
		__m256i badv = _mm256_and_si256(_mm256_shuffle_epi8(lut_hi, hi),
						_mm256_shuffle_epi8(lut_lo, lo));
		if (!_mm256_testz_si256(badv, badv))
			break;
		if (out == NULL)
			continue;
		__m256i idx = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(v, slash));
		__m256i vals = _mm256_add_epi8(v, _mm256_shuffle_epi8(lut_roll, idx));
		__m256i w = _mm256_madd_epi16(_mm256_maddubs_epi16(vals, merge1), merge2);
		w = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(w, gather), halves);
		_mm_storeu_si128((void *)(out + o), _mm256_castsi256_si128(w));
		_mm_storel_epi64((void *)(out + o + 16), _mm256_extracti128_si256(w, 1));
	}
	return decode_quads(in, n, i, out, out_len, bad);
}

/* ---- AVX-512 VBMI: 64 characters a block ---- */

static uint8_t lut128[128]; /* dec[] for 0..127, BAD as 0x80 */
static uint8_t perm512[64]; /* output byte j: lane j / 3, its bytes from the top */

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static enum kin_b64_err
decode_avx512(const char *in, size_t n, uint8_t *out, size_t *out_len, char *bad)
{
	const __m512i lut_a = _mm512_loadu_si512(lut128), lut_b = _mm512_loadu_si512(lut128 + 64);
	const __m512i merge1 = _mm512_set1_epi32(0x01400140),
		      merge2 = _mm512_set1_epi32(0x00011000);
	const __m512i gather = _mm512_loadu_si512(perm512);
	size_t i = 0, o = 0;
	for (; i + 64 <= n; i += 64, o += 48) {
		__m512i v = _mm512_loadu_si512(in + i);
		__m512i vals = _mm512_permutex2var_epi8(lut_a, v, lut_b);
		if (_mm512_movepi8_mask(_mm512_or_si512(vals, v)) != 0)
			break; /* a bad character, or a byte >= 0x80 */
		if (out == NULL)
			continue;
		__m512i w = _mm512_madd_epi16(_mm512_maddubs_epi16(vals, merge1), merge2);
		w = _mm512_permutexvar_epi8(gather, w);
		_mm256_storeu_si256((void *)(out + o), _mm512_castsi512_si256(w));
		_mm_storeu_si128((void *)(out + o + 32), _mm512_extracti32x4_epi32(w, 2));
	}
	return decode_quads(in, n, i, out, out_len, bad);
}

#endif /* B64_X86 */

/* ---- choosing ---- */

static void init(void)
{
	memset(dec, BAD, sizeof(dec));
	for (unsigned i = 0; i < 64; i++)
		dec[(uint8_t)alphabet[i]] = (uint8_t)i;
	decode_impl = decode_scalar;
	impl_best = KIN_B64_IMPL_SCALAR;
#if B64_X86
	for (unsigned i = 0; i < 128; i++)
		lut128[i] = dec[i] == BAD ? 0x80 : dec[i];
	for (unsigned j = 0; j < 48; j++)
		perm512[j] = (uint8_t)(4 * (j / 3) + 2 - j % 3);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2")) {
		decode_impl = decode_avx2;
		impl_best = KIN_B64_IMPL_AVX2;
	}
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vbmi")) {
		decode_impl = decode_avx512;
		impl_best = KIN_B64_IMPL_AVX512;
	}
#endif
}

static inline void ready(void)
{
	int rc = pthread_once(&once, init);
	SL_ASSERT(rc == 0);
}

int kin_b64_impl_set(enum kin_b64_impl impl)
{
	ready();
	if (impl > impl_best)
		return -ENOTSUP;
	switch (impl) {
	case KIN_B64_IMPL_SCALAR:
		decode_impl = decode_scalar;
		return 0;
#if B64_X86
	case KIN_B64_IMPL_AVX2:
		decode_impl = decode_avx2;
		return 0;
	case KIN_B64_IMPL_AVX512:
		decode_impl = decode_avx512;
		return 0;
#endif
	default:
		return -ENOTSUP;
	}
}

enum kin_b64_impl kin_b64_impl_best(void)
{
	ready();
	return impl_best;
}

/* ---- the entry points ---- */

enum kin_b64_err kin_b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t *out_len,
				       char *bad)
{
	ready();
	if (n % 4 != 0)
		return KIN_B64_ELEN;
	return decode_impl(in, n, out, out_len, bad);
}

enum kin_b64_err kin_b64_check(const char *in, size_t n, size_t *out_len, char *bad)
{
	return kin_b64_decode_strict(in, n, NULL, out_len, bad);
}

void kin_b64_decode(const char *in, size_t n, uint8_t *out)
{
	size_t len;
	char bad;
	enum kin_b64_err e = kin_b64_decode_strict(in, n, out, &len, &bad);
	SL_ASSERT(e == KIN_B64_OK); /* the caller checked it */
}
