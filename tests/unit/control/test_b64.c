/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis API's base64 (control/kinesis_b64.c), each decoder the CPU
 * runs (scalar, AVX2, AVX-512 VBMI) forced in turn:
 * - encoding equals OpenSSL's EVP_EncodeBlock, and decoding gives the
 *   bytes back, for every length 0..600 and long random ones, with the
 *   decoded bytes equal to EVP_DecodeBlock's;
 * - the strict rules, against a reference: the two-pass decoder this file
 *   replaced (kept below as it was), on every input of the shapes that
 *   matter: a bad character at every position of encodings of many
 *   lengths, across the vector blocks' edges (each of the 256 byte values
 *   up to 68 characters, the classes' edges and alphabet characters with
 *   the top bit set beyond); '=' at every position and runs of it; every last character
 *   before one or two '=' (unused bits); random strings of good, bad and
 *   '=' characters; and the error, the offending character, the length
 *   and the bytes must all agree;
 * - buffers are exactly as long as the input and the output, so that a
 *   sanitizer build catches a read or write past either.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../../control/kinesis_internal.h"
#include "check.h"

/* ---- the reference: the decoder kinesis_json.c had, unchanged ---- */

static int ref_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

static enum kin_b64_err ref_check(const char *in, size_t n, size_t *out_len, char *bad)
{
	if (n % 4 != 0)
		return KIN_B64_ELEN;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '=') {
			if (i + 1 < n && in[i + 1] != '=') {
				*bad = '=';
				return KIN_B64_ECHAR;
			}
			pad++;
		} else if (ref_value(in[i]) < 0) {
			*bad = in[i];
			return KIN_B64_ECHAR;
		}
	}
	if (pad > 2)
		return KIN_B64_ELAST;
	if (pad > 0) {
		int last = ref_value(in[n - pad - 1]);
		int unused_mask = pad == 1 ? 0x3 : 0xF;
		if ((last & unused_mask) != 0)
			return KIN_B64_ELAST;
	}
	*out_len = n / 4 * 3 - pad;
	return KIN_B64_OK;
}

static void ref_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			int d = in[i + j] == '=' ? (pad++, 0) : ref_value(in[i + j]);
			v = v << 6 | (uint32_t)d;
		}
		*out++ = (uint8_t)(v >> 16);
		if (pad < 2)
			*out++ = (uint8_t)(v >> 8);
		if (pad < 1)
			*out++ = (uint8_t)v;
	}
}

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static const char *impl_name(enum kin_b64_impl impl)
{
	return impl == KIN_B64_IMPL_SCALAR ? "scalar"
	       : impl == KIN_B64_IMPL_AVX2 ? "avx2"
					   : "avx512";
}

static enum kin_b64_impl cur_impl;
static unsigned mismatches; /* printed, at most a few */

/*
 * Decode in (n bytes, copied into a buffer of exactly n) with the decoder
 * in use, check-only and decoding into a buffer of exactly the decoded
 * length, and compare everything with the reference.
 */
static void agree(const char *in_src, size_t n)
{
	char *in = malloc(n ? n : 1);
	memcpy(in, in_src, n);
	size_t ref_len = 0, len = 0, len2 = 0;
	char ref_bad = 0, bad = 0, bad2 = 0;
	enum kin_b64_err want = ref_check(in, n, &ref_len, &ref_bad);
	enum kin_b64_err got = kin_b64_check(in, n, &len, &bad);
	uint8_t *ref_out = NULL, *out = NULL;
	if (want == KIN_B64_OK) {
		ref_out = malloc(ref_len ? ref_len : 1);
		ref_decode(in, n, ref_out);
	}
	/* exactly the decoded length when valid; else all decoding may take */
	size_t cap = want == KIN_B64_OK ? ref_len : kin_b64_decoded_max(n);
	out = malloc(cap ? cap : 1);
	enum kin_b64_err got2 = kin_b64_decode_strict(in, n, out, &len2, &bad2);
	bool ok = got == want && got2 == want;
	if (ok && want == KIN_B64_ECHAR)
		ok = bad == ref_bad && bad2 == ref_bad;
	if (ok && want == KIN_B64_OK)
		ok = len == ref_len && len2 == ref_len && memcmp(out, ref_out, ref_len) == 0;
	CHECK(ok);
	if (!ok && mismatches++ < 8)
		fprintf(stderr,
			"  %s: n=%zu '%.*s': want %d bad %02x len %zu, got %d/%d bad %02x/%02x "
			"len %zu/%zu\n",
			impl_name(cur_impl), n, (int)(n < 200 ? n : 200), in, want,
			(uint8_t)ref_bad, ref_len, got, got2, (uint8_t)bad, (uint8_t)bad2, len,
			len2);
	free(ref_out);
	free(out);
	free(in);
}

/* ---- the tests ---- */

/* Every length 0..600, and long ones: encode as OpenSSL does, decode back,
 * decoded bytes as OpenSSL decodes them. */
static void test_round_trip(void)
{
	enum { LEN_MAX = 600 };
	uint8_t bytes[LEN_MAX + 4096];
	char enc[(sizeof(bytes) + 2) / 3 * 4 + 1], ossl[sizeof(enc) + 1];
	uint8_t ossl_dec[sizeof(enc)];
	size_t lens[LEN_MAX + 1 + 8];
	size_t nlens = 0;
	for (size_t len = 0; len <= LEN_MAX; len++)
		lens[nlens++] = len;
	for (int i = 0; i < 8; i++)
		lens[nlens++] = LEN_MAX + 1 + rnd() % 4000;
	for (size_t li = 0; li < nlens; li++) {
		size_t len = lens[li];
		for (size_t i = 0; i < len; i++)
			bytes[i] = (uint8_t)rnd();
		size_t elen = kin_b64_len(len);
		kin_b64_encode(bytes, len, enc);
		int on = EVP_EncodeBlock((unsigned char *)ossl, bytes, (int)len);
		CHECK(on == (int)elen && memcmp(enc, ossl, elen) == 0);
		/* decode into an exact buffer, input in an exact buffer */
		char *in = malloc(elen ? elen : 1);
		memcpy(in, enc, elen);
		uint8_t *out = malloc(len ? len : 1);
		size_t got_len = 0;
		char bad = 0;
		CHECK(kin_b64_decode_strict(in, elen, out, &got_len, &bad) == KIN_B64_OK);
		CHECK(got_len == len && memcmp(out, bytes, len) == 0);
		/* EVP_DecodeBlock counts padding as zero bytes: compare the prefix */
		int dn = EVP_DecodeBlock(ossl_dec, (const unsigned char *)in, (int)elen);
		CHECK(dn >= 0 && (size_t)dn == elen / 4 * 3 && memcmp(ossl_dec, out, len) == 0);
		memset(out, 0, len);
		kin_b64_decode(in, elen, out);
		CHECK(memcmp(out, bytes, len) == 0);
		size_t check_len = 0;
		CHECK(kin_b64_check(in, elen, &check_len, &bad) == KIN_B64_OK && check_len == len);
		free(out);
		free(in);
	}
}

static const uint8_t edge_values[] = {
    0x00, 0x09, 0x0A, 0x20, 0x22, 0x2A, 0x2B, 0x2C, 0x2E, 0x2F, 0x30, 0x39,
    0x3A, 0x3D, 0x3F, 0x40, 0x41, 0x5A, 0x5B, 0x5C, 0x60, 0x61, 0x7A, 0x7B,
    0x7F, 0x80, 0xAB, 0xAF, 0xB0, 0xC1, 0xDA, 0xE1, 0xFA, 0xFF,
};

/* Each byte value at every position of encodings of lengths around the
 * vector blocks (32 and 64 characters), and '=' runs. */
static void test_every_position(void)
{
	static const size_t lens[] = {0,  1,  2,  3,  4,  5,  20, 21, 22,  23,  24,  25,  46,  47,
				      48, 49, 50, 94, 95, 96, 97, 98, 142, 143, 144, 190, 191, 192};
	uint8_t bytes[200];
	char enc[300], buf[300];
	for (size_t li = 0; li < SL_ARRAY_SIZE(lens); li++) {
		size_t len = lens[li], elen = kin_b64_len(len);
		for (size_t i = 0; i < len; i++)
			bytes[i] = (uint8_t)rnd();
		kin_b64_encode(bytes, len, enc);
		agree(enc, elen);
		for (size_t pos = 0; pos < elen; pos++) {
			/* every byte value within the first vector blocks; beyond,
			 * the edges of the character classes and alphabet
			 * characters with the top bit set */
			size_t nvals = elen <= 68 ? 256 : sizeof(edge_values);
			for (size_t vi = 0; vi < nvals; vi++) {
				memcpy(buf, enc, elen);
				buf[pos] = (char)(elen <= 68 ? vi : edge_values[vi]);
				agree(buf, elen);
			}
			/* '=' from pos to the end; and a run of two at pos */
			memcpy(buf, enc, elen);
			memset(buf + pos, '=', elen - pos);
			agree(buf, elen);
			if (pos + 1 < elen) {
				memcpy(buf, enc, elen);
				buf[pos] = buf[pos + 1] = '=';
				agree(buf, elen);
			}
		}
		/* wrong lengths: a character more or less */
		if (elen > 0)
			agree(enc, elen - 1);
		memcpy(buf, enc, elen);
		buf[elen] = 'A';
		agree(buf, elen + 1);
	}
}

/* The last character before one '=' or two: canonical only when the bits
 * decoding drops are zero. Also at the end of a long input. */
static void test_padding(void)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char buf[200];
	for (size_t prefix = 0; prefix <= 128; prefix += 64) {
		memset(buf, 'Q', prefix);
		for (int a = 0; a < 64; a++) {
			for (int b = 0; b < 64; b++) {
				/* "ab==" */
				buf[prefix] = alpha[a];
				buf[prefix + 1] = alpha[b];
				buf[prefix + 2] = buf[prefix + 3] = '=';
				agree(buf, prefix + 4);
				size_t n;
				char bad;
				enum kin_b64_err e = kin_b64_check(buf, prefix + 4, &n, &bad);
				CHECK(e == ((b & 0x0F) ? KIN_B64_ELAST : KIN_B64_OK));
				/* "abc=" with c over every value */
				buf[prefix + 2] = alpha[(a + b) & 63];
				agree(buf, prefix + 4);
				e = kin_b64_check(buf, prefix + 4, &n, &bad);
				CHECK(e == ((((a + b) & 63) & 0x03) ? KIN_B64_ELAST : KIN_B64_OK));
				CHECK(e != KIN_B64_OK || n == prefix / 4 * 3 + 2);
			}
		}
		/* three and four '=' */
		memcpy(buf + prefix, "A===", 4);
		agree(buf, prefix + 4);
		memcpy(buf + prefix, "====", 4);
		agree(buf, prefix + 4);
	}
	size_t n = 99;
	char bad = 0;
	CHECK(kin_b64_check("YQ==", 4, &n, &bad) == KIN_B64_OK && n == 1);
	CHECK(kin_b64_check("YR==", 4, &n, &bad) == KIN_B64_ELAST);
	CHECK(kin_b64_check("YWI=", 4, &n, &bad) == KIN_B64_OK && n == 2);
	CHECK(kin_b64_check("YWJ=", 4, &n, &bad) == KIN_B64_ELAST);
	CHECK(kin_b64_check("a=bc", 4, &n, &bad) == KIN_B64_ECHAR && bad == '=');
	CHECK(kin_b64_check("ab=$", 4, &n, &bad) == KIN_B64_ECHAR && bad == '=');
	CHECK(kin_b64_check("a$=b", 4, &n, &bad) == KIN_B64_ECHAR && bad == '$');
	CHECK(kin_b64_check("abc", 3, &n, &bad) == KIN_B64_ELEN);
	CHECK(kin_b64_check("", 0, &n, &bad) == KIN_B64_OK && n == 0);
}

/* Random strings: mostly alphabet, some '=', bad ASCII and high bytes. */
static void test_random(void)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char buf[2100];
	for (int iter = 0; iter < 40000; iter++) {
		size_t n =
		    iter % 4 == 0 ? rnd() % 2048 : rnd() % 40 * 4 + (iter % 8 == 1 ? 128 : 0);
		unsigned rate = (unsigned)(rnd() % 4); /* how often a special character */
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd();
			if (rate == 0 || r % (rate == 1 ? 4 : rate == 2 ? 64 : 2048) != 0)
				buf[i] = alpha[(r >> 16) & 63];
			else if ((r >> 16) % 3 == 0)
				buf[i] = '=';
			else
				buf[i] = (char)(r >> 24);
		}
		/* often end in valid-looking padding */
		if (n >= 4 && iter % 3 == 0)
			memset(buf + n - 1 - iter % 2, '=', 1 + iter % 2);
		agree(buf, n);
	}
}

int main(void)
{
	enum kin_b64_impl best = kin_b64_impl_best();
	fprintf(stderr, "best decoder on this CPU: %s\n", impl_name(best));
	CHECK(kin_b64_impl_set((enum kin_b64_impl)(KIN_B64_IMPL_AVX512 + 1)) == -ENOTSUP);
	for (int impl = KIN_B64_IMPL_SCALAR; impl <= KIN_B64_IMPL_AVX512; impl++) {
		cur_impl = (enum kin_b64_impl)impl;
		if (kin_b64_impl_set(cur_impl) != 0) {
			CHECK(impl > (int)best);
			fprintf(stderr, "%s: this CPU lacks it, not tested\n", impl_name(cur_impl));
			continue;
		}
		fprintf(stderr, "testing the %s decoder\n", impl_name(cur_impl));
		test_round_trip();
		test_every_position();
		test_padding();
		test_random();
	}
	return sl_check_finish("test_b64");
}
