/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks the SLW1 codec (dataplane/slw1.c) against WIRE.md. A frame and an
 * ack are written byte by byte here and sealed with a bitwise CRC-32C of the
 * test's own (held to the check value 0xE3069283), so the test checks the
 * format itself and not only that builder and parser agree. Then, rule by
 * rule of the frame table, one valid and one invalid case with the expected
 * status and reason; TOO_LARGE versus MALFORMED; AUTH answered UNAUTHORIZED;
 * random build -> parse round trips (keys 1..256, data 0..1000, explicit hash
 * keys, up to 500 records); every truncation of valid frames is MALFORMED
 * and every single-byte flip is never OK; the TCP length peek; ack build and
 * parse round trips and rejections; and the multi-part split of 200 entries
 * at an MTU of 1500.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sluice/crc32c.h>
#include <sluice/slw1.h>

#include "check.h"

#define BUF_BYTES  (700u * 1024)
#define RECORD_MAX SL_RECORD_SIZE_DEFAULT

static uint8_t frame_buf[BUF_BYTES];
static uint8_t scratch[BUF_BYTES];
static uint8_t data_pool[1000 * SL_FRAME_RECORDS_MAX];
static struct sl_record recs[SL_FRAME_RECORDS_MAX];
static struct sl_record parsed[SL_FRAME_RECORDS_MAX];

/* Bitwise CRC-32C, independent of common/crc32c.c. */
static uint32_t ref_crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc ^ 0xFFFFFFFFu;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Rewrite the trailing CRC of a frame without AUTH (after a patch). */
static void reseal(uint8_t *f, size_t len)
{
	put32(f + len - 4, ref_crc32c(f, len - 4));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static enum sl_slw1_status parse(const uint8_t *f, size_t len, uint32_t max,
				 struct sl_slw1_frame *fr)
{
	return sl_slw1_parse(f, len, max, fr, parsed, SL_FRAME_RECORDS_MAX);
}

static void expect_malformed(const uint8_t *f, size_t len, enum sl_slw1_reason reason, int line)
{
	struct sl_slw1_frame fr;
	enum sl_slw1_status st = parse(f, len, RECORD_MAX, &fr);
	if (st != SL_SLW1_MALFORMED || fr.reason != reason)
		fprintf(stderr, "line %d: status %d reason %d, want MALFORMED reason %d\n", line,
			(int)st, (int)fr.reason, (int)reason);
	CHECK_EQ_U64(st, SL_SLW1_MALFORMED);
	CHECK_EQ_U64(fr.reason, reason);
}
#define EXPECT_MALFORMED(f, len, r) expect_malformed(f, len, r, __LINE__)

static const struct sl_slw1_frame_hdr hdr_abc = {
    .producer_id = 0x0102030405060708ull,
    .batch_seq = 42,
    .stream = "abc",
    .stream_len = 3,
    .flags = SL_SLW1_F_ACK_REQUESTED,
};

/* One record: key "k", data "hi". */
static size_t build_small(uint8_t *f, const struct sl_slw1_frame_hdr *h)
{
	struct sl_record r = {.key = (const uint8_t *)"k",
			      .key_len = 1,
			      .data = (const uint8_t *)"hi",
			      .data_len = 2};
	return sl_slw1_frame_build(f, BUF_BYTES, h, &r, 1);
}

static void test_crc_reference(void)
{
	CHECK_EQ_U64(ref_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
	CHECK_EQ_U64(sl_crc32c("123456789", 9), 0xE3069283u);
}

/* The frame of hdr_abc + build_small, written out byte by byte. */
static size_t hand_frame(uint8_t *f)
{
	static const uint8_t head[] = {
	    'S', 'L', 'W', '1', 1,   0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 46, /* len */
	    1,   2,   3,   4,   5,   6,    7,    8,    0,    0,    0,    0,    0,    0,   0,
	    42,  3,   'a', 'b', 'c', 0x00, 0x00, 0x01, 'k',  0x00, 0x00, 0x00, 0x02, 'h', 'i',
	};
	memcpy(f, head, sizeof(head));
	put32(f + sizeof(head), ref_crc32c(f, sizeof(head)));
	return sizeof(head) + 4;
}

static void test_hand_frame(void)
{
	uint8_t f[64];
	size_t len = hand_frame(f);
	struct sl_slw1_frame fr;

	CHECK_EQ_U64(len, 46);
	CHECK_EQ_U64(parse(f, len, RECORD_MAX, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(fr.producer_id, 0x0102030405060708ull);
	CHECK_EQ_U64(fr.batch_seq, 42);
	CHECK_EQ_U64(fr.flags, SL_SLW1_F_ACK_REQUESTED);
	CHECK_EQ_U64(fr.frame_len, 46);
	CHECK_EQ_U64(fr.record_count, 1);
	CHECK_EQ_U64(fr.reason, SL_SLW1_R_NONE);
	CHECK(fr.stream == (const char *)f + 29);
	CHECK_EQ_U64(fr.stream_len, 3);
	CHECK(parsed[0].key == f + 35);
	CHECK_EQ_U64(parsed[0].key_len, 1);
	CHECK(parsed[0].data == f + 40);
	CHECK_EQ_U64(parsed[0].data_len, 2);
	CHECK_EQ_U64(parsed[0].flags, 0);
	CHECK(parsed[0].hash_key == 0);

	/* The builder writes the very same bytes. */
	CHECK_EQ_U64(build_small(frame_buf, &hdr_abc), 46);
	CHECK(memcmp(frame_buf, f, 46) == 0);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, len), 46);

	/* Explicit hash key: rflags 1, 16 bytes after the key. */
	uint8_t g[80];
	memcpy(g, f, 36);
	g[32] = 0x01;
	for (int i = 0; i < 16; i++)
		g[36 + i] = (uint8_t)(0xA0 + i);
	memcpy(g + 52, f + 36, 6); /* data_len and data */
	put32(g + 8, 46 + 16);
	reseal(g, 62);
	CHECK_EQ_U64(parse(g, 62, RECORD_MAX, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(parsed[0].flags, SL_RECORD_F_EXPLICIT_HASH_KEY);
	CHECK_EQ_U64(sl_u128_hi(parsed[0].hash_key), 0xA0A1A2A3A4A5A6A7ull);
	CHECK_EQ_U64(sl_u128_lo(parsed[0].hash_key), 0xA8A9AAABACADAEAFull);
	CHECK(parsed[0].data == g + 56);
	CHECK(parsed[0].key == g + 35);
}

static void test_header_rules(void)
{
	uint8_t f[64];
	size_t len = hand_frame(f);
	struct sl_slw1_frame fr;

	/* magic */
	f[3] = '2';
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_MAGIC);
	/* version: 1 passes (hand_frame), 0 and 2 do not */
	len = hand_frame(f);
	f[4] = 2;
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_VERSION);
	f[4] = 0;
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_VERSION);
	/* flags: 0 and 1 pass; bits 2..7 do not */
	for (unsigned bit = 0; bit < 8; bit++) {
		len = hand_frame(f);
		f[5] = (uint8_t)(1u << bit);
		reseal(f, len);
		if (bit == 0) {
			CHECK_EQ_U64(parse(f, len, RECORD_MAX, &fr), SL_SLW1_OK);
		} else if (bit >= 2) {
			EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_FLAGS);
		}
	}
	len = hand_frame(f);
	f[5] = 0;
	reseal(f, len);
	CHECK_EQ_U64(parse(f, len, RECORD_MAX, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(fr.flags, 0);
	/* record_count: 0, more records than present, more than recs_cap */
	len = hand_frame(f);
	put16(f + 6, 0);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_COUNT);
	put16(f + 6, 501);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_COUNT);
	put16(f + 6, 2);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);
	len = hand_frame(f);
	CHECK_EQ_U64(sl_slw1_parse(f, len, RECORD_MAX, &fr, parsed, 1), SL_SLW1_OK);
	CHECK_EQ_U64(sl_slw1_parse(f, len, RECORD_MAX, &fr, parsed, 0), SL_SLW1_MALFORMED);
	CHECK_EQ_U64(fr.reason, SL_SLW1_R_BAD_COUNT);
}

static void test_length_rules(void)
{
	uint8_t f[64];
	size_t len = hand_frame(f);
	struct sl_slw1_frame fr;

	/* frame_len must equal the datagram's length */
	put32(f + 8, 47);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_LENGTH);
	len = hand_frame(f);
	f[len] = 0;
	EXPECT_MALFORMED(f, len + 1, SL_SLW1_R_BAD_LENGTH);
	/* and be at least SL_SLW1_FRAME_MIN, at most SL_SLW1_FRAME_MAX */
	put32(f + 8, SL_SLW1_FRAME_MAX + 1);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_LENGTH);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, len), (uint64_t)-EBADMSG);
	put32(f + 8, SL_SLW1_FRAME_MAX);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, 12), SL_SLW1_FRAME_MAX);
	put32(f + 8, SL_SLW1_FRAME_MIN - 1);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, 12), (uint64_t)-EBADMSG);
	put32(f + 8, SL_SLW1_FRAME_MIN);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, 12), SL_SLW1_FRAME_MIN);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, 11), (uint64_t)-EAGAIN);
	f[0] = 'X';
	CHECK_EQ_U64(sl_slw1_frame_len_peek(f, 12), (uint64_t)-EBADMSG);
	/* the shortest header is rejected before anything is read past it */
	len = hand_frame(f);
	EXPECT_MALFORMED(f, 28, SL_SLW1_R_BAD_LENGTH);
	CHECK_EQ_U64(parse(f, 0, RECORD_MAX, &fr), SL_SLW1_MALFORMED);
	/* bytes between the last record and the CRC */
	memmove(f + 43, f + 42, 4);
	f[42] = 0;
	put32(f + 8, 47);
	reseal(f, 47);
	EXPECT_MALFORMED(f, 47, SL_SLW1_R_TRAILING);
	/* CRC */
	len = hand_frame(f);
	f[len - 1] ^= 0x01;
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_CRC);
	len = hand_frame(f);
	f[36] ^= 0x80; /* key byte, CRC not resealed */
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_CRC);
}

/* A frame with one stream name of len bytes of c, one record. */
static size_t build_stream(uint8_t *f, size_t len, char c)
{
	static char name[SL_STREAM_NAME_MAX];
	memset(name, c, sizeof(name));
	struct sl_slw1_frame_hdr h = hdr_abc;
	h.stream = name;
	h.stream_len = (uint8_t)len;
	return build_small(f, &h);
}

static void test_stream_rules(void)
{
	struct sl_slw1_frame fr;
	size_t len = build_stream(frame_buf, SL_STREAM_NAME_MAX, 'Z');

	CHECK_EQ_U64(parse(frame_buf, len, RECORD_MAX, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(fr.stream_len, SL_STREAM_NAME_MAX);
	frame_buf[28] = SL_STREAM_NAME_MAX + 1;
	reseal(frame_buf, len);
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_STREAM);
	frame_buf[28] = 0;
	reseal(frame_buf, len);
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_STREAM);
	frame_buf[28] = 255;
	reseal(frame_buf, len);
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_STREAM);

	const char good[] = "azAZ09_.-";
	for (size_t i = 0; i < sizeof(good) - 1; i++) {
		len = build_stream(frame_buf, 1, good[i]);
		CHECK_EQ_U64(parse(frame_buf, len, RECORD_MAX, &fr), SL_SLW1_OK);
	}
	const char bad[] = {' ', '/', ':', '\0', (char)0xC3, '@'};
	for (size_t i = 0; i < sizeof(bad); i++) {
		len = build_stream(frame_buf, 5, bad[i]);
		EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_STREAM);
	}
}

static void test_record_rules(void)
{
	uint8_t f[64];
	size_t len;
	struct sl_slw1_frame fr;

	/* rflags: bit 0 alone is tested in test_hand_frame; bits 1..7 fail */
	for (unsigned bit = 1; bit < 8; bit++) {
		len = hand_frame(f);
		f[32] = (uint8_t)(1u << bit);
		reseal(f, len);
		EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);
	}
	/* key_len 0 */
	len = hand_frame(f);
	put16(f + 33, 0);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);
	/* data_len running past the CRC, or stopping short of it */
	len = hand_frame(f);
	put32(f + 36, 3);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);
	put32(f + 36, 0xFFFFFFFFu);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);
	put32(f + 36, 1);
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_TRAILING);
	/* explicit hash key flag without room for the 16 bytes */
	len = hand_frame(f);
	f[32] = 0x01;
	reseal(f, len);
	EXPECT_MALFORMED(f, len, SL_SLW1_R_BAD_RECORD);

	/* key_len 256 passes, 257 does not */
	static uint8_t key[SL_PARTITION_KEY_MAX];
	memset(key, 'q', sizeof(key));
	struct sl_record r = {
	    .key = key, .key_len = SL_PARTITION_KEY_MAX, .data = key, .data_len = 0};
	len = sl_slw1_frame_build(frame_buf, BUF_BYTES, &hdr_abc, &r, 1);
	CHECK_EQ_U64(parse(frame_buf, len, RECORD_MAX, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(parsed[0].key_len, SL_PARTITION_KEY_MAX);
	CHECK_EQ_U64(parsed[0].data_len, 0);
	put16(frame_buf + 33, SL_PARTITION_KEY_MAX + 1);
	reseal(frame_buf, len);
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_RECORD);
}

static void test_too_large_and_auth(void)
{
	static uint8_t bytes[100];
	struct sl_record r[3] = {
	    {.key = bytes, .key_len = 10, .data = bytes, .data_len = 5},
	    {.key = bytes, .key_len = 10, .data = bytes, .data_len = 90},
	    {.key = bytes, .key_len = 1, .data = bytes, .data_len = 99},
	};
	struct sl_slw1_frame fr;
	size_t len = sl_slw1_frame_build(frame_buf, BUF_BYTES, &hdr_abc, r, 3);

	CHECK_EQ_U64(parse(frame_buf, len, 100, &fr), SL_SLW1_OK);
	CHECK_EQ_U64(parse(frame_buf, len, 99, &fr), SL_SLW1_TOO_LARGE);
	CHECK_EQ_U64(fr.bad_record, 1);
	CHECK_EQ_U64(fr.reason, SL_SLW1_R_NONE);
	CHECK_EQ_U64(fr.batch_seq, 42);
	CHECK_EQ_U64(parse(frame_buf, len, 15, &fr), SL_SLW1_TOO_LARGE);
	CHECK_EQ_U64(fr.bad_record, 1);
	CHECK_EQ_U64(parse(frame_buf, len, 1, &fr), SL_SLW1_TOO_LARGE);
	CHECK_EQ_U64(fr.bad_record, 0);
	/* too large and malformed (a trailing byte before the CRC): MALFORMED wins */
	memmove(frame_buf + len - 3, frame_buf + len - 4, 4);
	frame_buf[len - 4] = 0;
	put32(frame_buf + 8, (uint32_t)len + 1);
	reseal(frame_buf, len + 1);
	CHECK_EQ_U64(parse(frame_buf, len + 1, 99, &fr), SL_SLW1_MALFORMED);
	CHECK_EQ_U64(fr.reason, SL_SLW1_R_TRAILING);

	/* AUTH: a well-formed frame with a tag is answered UNAUTHORIZED */
	struct sl_slw1_frame_hdr h = hdr_abc;
	h.flags = SL_SLW1_F_AUTH | SL_SLW1_F_ACK_REQUESTED;
	len = build_small(frame_buf, &h);
	CHECK_EQ_U64(len, 46 + SL_SLW1_AUTH_TAG_BYTES);
	CHECK_EQ_U64(parse(frame_buf, len, RECORD_MAX, &fr), SL_SLW1_UNAUTHORIZED);
	CHECK_EQ_U64(fr.producer_id, hdr_abc.producer_id);
	CHECK_EQ_U64(fr.batch_seq, 42);
	CHECK_EQ_U64(sl_slw1_frame_len_peek(frame_buf, len), len);
	/* the CRC sits before the tag and is still checked */
	frame_buf[len - SL_SLW1_AUTH_TAG_BYTES - 1] ^= 1;
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_CRC);
	/* AUTH set on a frame without a tag: the CRC is read at the wrong place */
	len = hand_frame(frame_buf);
	frame_buf[5] |= SL_SLW1_F_AUTH;
	reseal(frame_buf, len);
	EXPECT_MALFORMED(frame_buf, len, SL_SLW1_R_BAD_LENGTH);
}

/* n random records in recs[]; returns the frame's length. */
static size_t build_random(uint8_t *f, uint16_t n, uint32_t *data_max)
{
	size_t pool = 0;
	*data_max = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct sl_record *r = &recs[i];
		r->key_len = (uint16_t)(1 + rnd() % SL_PARTITION_KEY_MAX);
		r->data_len = (uint32_t)(rnd() % 1001);
		r->flags = (rnd() & 1) ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0;
		r->hash_key = r->flags ? sl_u128_make(rnd(), rnd()) : 0;
		r->key = data_pool + pool % (sizeof(data_pool) - 1300);
		r->data = data_pool + (pool + 7) % (sizeof(data_pool) - 1300);
		pool += r->data_len + 13;
		if (r->key_len + r->data_len > *data_max)
			*data_max = r->key_len + r->data_len;
	}
	struct sl_slw1_frame_hdr h = {.producer_id = rnd(),
				      .batch_seq = rnd(),
				      .stream = "stream-1.x_Y",
				      .stream_len = 12,
				      .flags = (uint8_t)(rnd() & SL_SLW1_F_ACK_REQUESTED)};
	return sl_slw1_frame_build(f, BUF_BYTES, &h, recs, n);
}

static bool records_equal(const struct sl_record *a, const struct sl_record *b)
{
	return a->key_len == b->key_len && a->data_len == b->data_len && a->flags == b->flags &&
	       a->hash_key == b->hash_key && memcmp(a->key, b->key, a->key_len) == 0 &&
	       memcmp(a->data, b->data, a->data_len) == 0;
}

static void test_round_trips(void)
{
	for (size_t i = 0; i < sizeof(data_pool); i++)
		data_pool[i] = (uint8_t)rnd();
	for (int iter = 0; iter < 300; iter++) {
		uint16_t n = iter == 0 ? SL_FRAME_RECORDS_MAX : (uint16_t)(1 + rnd() % 40);
		uint32_t max = 0;
		size_t len = build_random(frame_buf, n, &max);
		struct sl_slw1_frame fr;
		CHECK(len > 0);
		CHECK_EQ_U64(parse(frame_buf, len, max, &fr), SL_SLW1_OK);
		CHECK_EQ_U64(fr.record_count, n);
		CHECK_EQ_U64(sl_slw1_frame_len_peek(frame_buf, len), len);
		bool same = true;
		for (uint16_t k = 0; k < n; k++)
			same = same && records_equal(&recs[k], &parsed[k]);
		CHECK(same);
		/* rebuilding from the views gives the same bytes */
		struct sl_slw1_frame_hdr h = {.producer_id = fr.producer_id,
					      .batch_seq = fr.batch_seq,
					      .stream = fr.stream,
					      .stream_len = fr.stream_len,
					      .flags = fr.flags};
		CHECK_EQ_U64(sl_slw1_frame_build(scratch, BUF_BYTES, &h, parsed, n), len);
		CHECK(memcmp(scratch, frame_buf, len) == 0);
		CHECK_EQ_U64(sl_slw1_frame_build(scratch, len - 1, &h, parsed, n), 0);
		if (max > 1)
			CHECK_EQ_U64(parse(frame_buf, len, max - 1, &fr), SL_SLW1_TOO_LARGE);
	}
}

static void test_truncations_and_flips(void)
{
	for (int iter = 0; iter < 6; iter++) {
		uint32_t max = 0;
		size_t len = iter == 0 ? hand_frame(frame_buf)
				       : build_random(frame_buf, (uint16_t)(1 + iter), &max);
		unsigned bad_trunc = 0, ok_flips = 0;
		struct sl_slw1_frame fr;
		for (size_t cut = 0; cut < len; cut++) {
			memcpy(scratch, frame_buf, cut);
			if (parse(scratch, cut, RECORD_MAX, &fr) != SL_SLW1_MALFORMED)
				bad_trunc++;
		}
		CHECK_EQ_U64(bad_trunc, 0);
		memcpy(scratch, frame_buf, len);
		for (size_t i = 0; i < len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				scratch[i] ^= (uint8_t)(1u << bit);
				if (parse(scratch, len, RECORD_MAX, &fr) == SL_SLW1_OK)
					ok_flips++;
				scratch[i] ^= (uint8_t)(1u << bit);
			}
			scratch[i] ^= 0xFF;
			if (parse(scratch, len, RECORD_MAX, &fr) == SL_SLW1_OK)
				ok_flips++;
			scratch[i] ^= 0xFF;
		}
		CHECK_EQ_U64(ok_flips, 0);
	}
}

static void fill_entries(struct sl_slw1_ack_entry *e, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		e[i].shard = (uint32_t)rnd();
		e[i].record_count = (uint16_t)(1 + rnd() % 500);
		e[i].status = (uint8_t)(rnd() % (SL_SLW1_STATUS_MAX + 1));
		e[i].first_seq = sl_u128_make(rnd(), rnd());
	}
}

static bool entries_equal(const struct sl_slw1_ack_entry *a, const struct sl_slw1_ack_entry *b)
{
	return a->shard == b->shard && a->record_count == b->record_count &&
	       a->status == b->status && a->first_seq == b->first_seq;
}

static void test_ack_bytes(void)
{
	struct sl_slw1_ack_entry e = {.shard = 7,
				      .record_count = 3,
				      .status = SL_SLW1_OK,
				      .first_seq = sl_u128_make(0x1112131415161718ull, 0x21)};
	struct sl_slw1_ack a = {.producer_id = 5,
				.batch_seq = 0x0A0B,
				.status = SL_SLW1_OK,
				.flags = SL_SLW1_ACK_F_DUPLICATE,
				.part = 0,
				.parts = 1};
	uint8_t want[60] = {'S', 'L', 'A', '1', 1, 0, 1, 0, 1, 0, 0, 0};
	put64(want + 12, 5);
	put64(want + 20, 0x0A0B);
	put16(want + 28, 1);
	put32(want + 32, 7);
	put16(want + 36, 3);
	put64(want + 40, 0x1112131415161718ull);
	put64(want + 48, 0x21);
	put32(want + 56, ref_crc32c(want, 56));
	uint8_t got[64];
	CHECK_EQ_U64(sl_slw1_ack_build(got, sizeof(got), &a, &e, 1), 60);
	CHECK(memcmp(got, want, 60) == 0);
	CHECK_EQ_U64(sl_slw1_ack_build(got, 59, &a, &e, 1), 0);

	struct sl_slw1_ack pa;
	struct sl_slw1_ack_entry pe[2];
	CHECK_EQ_U64(sl_slw1_ack_parse(want, 60, &pa, pe, 2), 0);
	CHECK_EQ_U64(pa.entry_count, 1);
	CHECK_EQ_U64(pa.flags, SL_SLW1_ACK_F_DUPLICATE);
	CHECK_EQ_U64(pa.batch_seq, 0x0A0B);
	CHECK(entries_equal(&pe[0], &e));
	CHECK_EQ_U64(sl_slw1_ack_parse(want, 60, &pa, pe, 0), (uint64_t)-ENOSPC);
	CHECK_EQ_U64(sl_slw1_ack_parse(want, 59, &pa, pe, 2), (uint64_t)-EBADMSG);

	/* each rule: reserved bytes, status, flags, part/parts, magic, CRC */
	static const size_t offs[] = {0, 4, 5, 6, 7, 8, 9, 10, 11, 30, 31, 38, 39};
	static const uint8_t vals[] = {'X', 2, 10, 2, 1, 0, 1, 1, 1, 1, 1, 10, 1};
	for (size_t i = 0; i < SL_ARRAY_SIZE(offs); i++) {
		memcpy(got, want, 60);
		got[offs[i]] = vals[i];
		put32(got + 56, ref_crc32c(got, 56));
		CHECK_EQ_U64(sl_slw1_ack_parse(got, 60, &pa, pe, 2), (uint64_t)-EBADMSG);
	}
	for (size_t i = 0; i < 60; i++) {
		memcpy(got, want, 60);
		got[i] ^= 0x5A;
		CHECK_EQ_U64(sl_slw1_ack_parse(got, 60, &pa, pe, 2), (uint64_t)-EBADMSG);
	}
	/* an ack without entries (e.g. MALFORMED) */
	a.status = SL_SLW1_MALFORMED;
	a.flags = 0;
	CHECK_EQ_U64(sl_slw1_ack_build(got, sizeof(got), &a, NULL, 0), 36);
	CHECK_EQ_U64(sl_slw1_ack_parse(got, 36, &pa, NULL, 0), 0);
	CHECK_EQ_U64(pa.status, SL_SLW1_MALFORMED);
	CHECK_EQ_U64(pa.entry_count, 0);
}

static void test_ack_parts(void)
{
	static struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX], pe[SL_FRAME_RECORDS_MAX];
	const size_t payload = 1500 - 20 - 8;
	struct sl_slw1_ack a = {.producer_id = 99, .batch_seq = 100, .status = SL_SLW1_PARTIAL};
	static const uint16_t want_counts[] = {59, 59, 59, 23};

	fill_entries(e, 200);
	CHECK_EQ_U64(sl_slw1_ack_entries_per_part(payload), 59);
	CHECK_EQ_U64(sl_slw1_ack_parts(200, payload), 4);
	CHECK_EQ_U64(sl_slw1_ack_parts(0, payload), 1);
	CHECK_EQ_U64(sl_slw1_ack_parts(59, payload), 1);
	CHECK_EQ_U64(sl_slw1_ack_parts(60, payload), 2);
	CHECK_EQ_U64(sl_slw1_ack_parts(1, SL_SLW1_ACK_PART_MIN - 1), (uint64_t)-EMSGSIZE);
	CHECK_EQ_U64(sl_slw1_ack_parts(255, SL_SLW1_ACK_PART_MIN), 255);
	CHECK_EQ_U64(sl_slw1_ack_parts(256, SL_SLW1_ACK_PART_MIN), (uint64_t)-EMSGSIZE);
	size_t seen = 0;
	for (uint8_t part = 0; part < 4; part++) {
		uint8_t dgram[1600];
		size_t len =
		    sl_slw1_ack_build_part(dgram, sizeof(dgram), &a, e, 200, payload, part);
		CHECK_EQ_U64(len, 36 + 24 * (size_t)want_counts[part]);
		CHECK(len <= payload);
		CHECK_EQ_U64(dgram[7], part);
		CHECK_EQ_U64(dgram[8], 4);
		uint32_t crc = (uint32_t)dgram[len - 4] << 24 | (uint32_t)dgram[len - 3] << 16 |
			       (uint32_t)dgram[len - 2] << 8 | dgram[len - 1];
		CHECK_EQ_U64(crc, ref_crc32c(dgram, len - 4));
		struct sl_slw1_ack pa;
		CHECK_EQ_U64(sl_slw1_ack_parse(dgram, len, &pa, pe + seen, 200), 0);
		CHECK_EQ_U64(pa.entry_count, want_counts[part]);
		CHECK_EQ_U64(pa.part, part);
		CHECK_EQ_U64(pa.parts, 4);
		CHECK_EQ_U64(pa.status, SL_SLW1_PARTIAL);
		CHECK_EQ_U64(pa.producer_id, 99);
		seen += pa.entry_count;
	}
	CHECK_EQ_U64(seen, 200);
	bool same = true;
	for (size_t i = 0; i < 200; i++)
		same = same && entries_equal(&e[i], &pe[i]);
	CHECK(same);
	/* no entries: one part of 36 bytes */
	uint8_t small[64];
	CHECK_EQ_U64(sl_slw1_ack_build_part(small, sizeof(small), &a, NULL, 0, payload, 0), 36);
	CHECK_EQ_U64(sl_slw1_ack_build_part(small, 35, &a, NULL, 0, payload, 0), 0);
}

int main(void)
{
	test_crc_reference();
	test_hand_frame();
	test_header_rules();
	test_length_rules();
	test_stream_rules();
	test_record_rules();
	test_too_large_and_auth();
	test_round_trips();
	test_truncations_and_flips();
	test_ack_bytes();
	test_ack_parts();
	return sl_check_finish("slw1");
}
