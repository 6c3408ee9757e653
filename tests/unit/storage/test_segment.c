/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks storage/segment.c, the segment format codec, against
 * <sluice/segment.h> and docs/formats/segment.md:
 *
 * - segment header: encode/decode round trip, every field at its byte offset
 *   (checked against the spec's offsets directly), the zeroed tail; every
 *   single-bit flip in bytes 0..63 is -EBADMSG; a version 2 header with a
 *   valid CRC is -EPROTO; bad header_len, magic or reserved bytes with a
 *   valid CRC are -EBADMSG; fewer than 64 bytes is -EAGAIN;
 * - the golden vector of docs/formats/segment.md, built and compared byte for
 *   byte, then checked and iterated, and every batch header field at its
 *   offset;
 * - build -> check -> iterate round trips with random batches (keys 1..256
 *   bytes, data 0..4096, some explicit hash keys, varied arrival times, 0..5
 *   dedupe entries added before, between and after the records at random,
 *   which come back behind the records in the order added), in exact-size
 *   copies so ASan sees any overread; sequence numbers base + n; batch_len a
 *   multiple of 8 or 4096 with zero padding shorter than the alignment; a log
 *   of batches walked by batch_len;
 * - -ENOSPC at exact boundaries (records and entries together against cap
 *   and SL_SEG_BATCH_BYTES_MAX, in either order; SL_SEG_BATCH_RECORDS_MAX;
 *   SL_SEG_DEDUPE_MAX; the 32-bit arrival delta) with nothing written and
 *   the builder still usable; begin()'s first_arrival_ms is a floor that
 *   record 0's arrival raises, and a later arrival before the batch's first
 *   is stored as it;
 * - truncation: every prefix of a valid batch is -EAGAIN (shorter than the
 *   header or than batch_len; the decision documented in segment.h), never
 *   -EBADMSG or 0, and with a whole header *out holds batch_len;
 * - every single-bit flip in header + payload is never 0: -EBADMSG, or
 *   -EAGAIN only when it raised batch_len past the bytes given (with the
 *   whole 64 MiB readable it is -EBADMSG); flips in the padding are ignored;
 * - structural checks on their own: mutated batches with a recomputed, valid
 *   CRC, one rule broken at a time, are -EBADMSG (and the boundary values
 *   next to them are 0);
 * - programmer errors in the builder abort (SL_ASSERT, run in a child);
 * - file names.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sluice/crc32c.h>
#include <sluice/record.h>
#include <sluice/segment.h>
#include <sluice/u128.h>

#include "check.h"

#define FIRST_MS 1700000000000ull

/* ---- helpers: big-endian access written here, not taken from segment.c ---- */

static uint64_t get_be(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(uint8_t *p, unsigned width, uint64_t v)
{
	for (unsigned i = width; i-- > 0;) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Recompute a batch's CRC after a mutation, as the spec defines it. */
static void recrc(uint8_t *batch, size_t avail)
{
	uint32_t payload_len = (uint32_t)get_be(batch + 12, 4);
	uint32_t crc = sl_crc32c(batch, 60);

	if (64 + (uint64_t)payload_len <= avail)
		crc = sl_crc32c_update(crc, batch + 64, payload_len);
	put_be(batch + 60, 4, crc);
}

static uint8_t *xmalloc(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	if (p == NULL) {
		fprintf(stderr, "test_segment: out of memory (%zu bytes)\n", len);
		abort();
	}
	return p;
}

/* sl_seg_batch_check over an exact-size copy, so ASan sees a read past len. */
static int check_exact(const uint8_t *buf, size_t len, struct sl_seg_batch *out)
{
	uint8_t *copy = xmalloc(len);
	memcpy(copy, buf, len);
	int rc = sl_seg_batch_check(copy, len, out);
	free(copy);
	return rc;
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

/* xorshift64*: fixed seed, so a failure repeats. */
static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_below(uint64_t n)
{
	return rng_next() % n;
}

/* Field by field: the structs have padding. */
static bool batch_equal(const struct sl_seg_batch *a, const struct sl_seg_batch *b)
{
	return a->batch_len == b->batch_len && a->payload_len == b->payload_len &&
	       a->base_seq == b->base_seq && a->record_count == b->record_count &&
	       a->dedupe_count == b->dedupe_count && a->first_arrival_ms == b->first_arrival_ms &&
	       a->last_arrival_ms == b->last_arrival_ms;
}

static bool dedupe_equal(const struct sl_seg_dedupe *a, const struct sl_seg_dedupe *b)
{
	return a->producer_id == b->producer_id && a->batch_seq == b->batch_seq &&
	       a->first_seq == b->first_seq && a->record_count == b->record_count &&
	       a->entry_index == b->entry_index && a->entry_count == b->entry_count;
}

static struct sl_record make_record(const char *key, const char *data)
{
	struct sl_record r = {
	    .key = (const uint8_t *)key,
	    .key_len = (uint16_t)strlen(key),
	    .data = (const uint8_t *)data,
	    .data_len = (uint32_t)strlen(data),
	};
	return r;
}

/* ---- segment header ---- */

static const struct sl_seg_header header_sample = {
    .stream_id = 0x0A0B0C0D,
    .shard_id = 0x11121314,
    .base_seq = (sl_u128)0x2122232425262728ull << 64 | 0x292A2B2C2D2E2F30ull,
    .created_ms = 0x3132333435363738ull,
};

static void test_header_layout(void)
{
	/* Bytes 40..59 (reserved) are left to the array's zero fill. */
	static const uint8_t expect[60] = {
	    'S',  'L',  'S',  'G',                          /* 0 magic */
	    0x00, 0x01,                                     /* 4 version */
	    0x10, 0x00,                                     /* 6 header_len 4096 */
	    0x0A, 0x0B, 0x0C, 0x0D,                         /* 8 stream_id */
	    0x11, 0x12, 0x13, 0x14,                         /* 12 shard_id */
	    0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, /* 16 base_seq */
	    0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, /* (its low half) */
	    0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, /* 32 created_ms */
	};
	uint8_t buf[SL_SEG_HEADER_BYTES];
	struct sl_seg_header h;

	memset(buf, 0xEE, sizeof(buf));
	sl_seg_header_encode(buf, &header_sample);
	CHECK(memcmp(buf, expect, sizeof(expect)) == 0);
	CHECK_EQ_U64(get_be(buf + 60, 4), sl_crc32c(buf, 60));
	CHECK(all_bytes(buf + 64, SL_SEG_HEADER_BYTES - 64, 0));

	memset(&h, 0, sizeof(h));
	CHECK_EQ_U64(sl_seg_header_decode(buf, sizeof(buf), &h), 0);
	CHECK_EQ_U64(h.stream_id, header_sample.stream_id);
	CHECK_EQ_U64(h.shard_id, header_sample.shard_id);
	CHECK(h.base_seq == header_sample.base_seq);
	CHECK_EQ_U64(h.created_ms, header_sample.created_ms);
	/* Only the first 64 bytes are needed or read. */
	CHECK_EQ_U64(sl_seg_header_decode(buf, SL_SEG_HEADER_USED, &h), 0);
	buf[100] = 1;
	CHECK_EQ_U64(sl_seg_header_decode(buf, sizeof(buf), &h), 0);
	for (size_t len = 0; len < SL_SEG_HEADER_USED; len++)
		CHECK_EQ_U64(sl_seg_header_decode(buf, len, &h), -EAGAIN);
}

static void test_header_corruption(void)
{
	uint8_t buf[SL_SEG_HEADER_USED];
	uint8_t full[SL_SEG_HEADER_BYTES];
	struct sl_seg_header h;

	sl_seg_header_encode(full, &header_sample);
	memcpy(buf, full, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			CHECK_EQ_U64(sl_seg_header_decode(buf, sizeof(buf), &h), -EBADMSG);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK_EQ_U64(sl_seg_header_decode(buf, sizeof(buf), &h), 0);

	/* With a valid CRC, so each rule is met on its own. */
	static const struct {
		unsigned off, width;
		uint64_t value;
		int rc;
	} cases[] = {
	    {4, 2, 2, -EPROTO},
	    {4, 2, 0, -EPROTO},
	    {6, 2, 4095, -EBADMSG},
	    {6, 2, 64, -EBADMSG},
	    {0, 4, 0x534C5348, -EBADMSG},
	    {40, 1, 1, -EBADMSG},
	    {59, 1, 0x80, -EBADMSG},
	    {8, 4, 0, 0},
	    {16, 8, ~0ull, 0},
	};
	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		memcpy(buf, full, sizeof(buf));
		put_be(buf + cases[c].off, cases[c].width, cases[c].value);
		CHECK_EQ_U64(sl_seg_header_decode(buf, sizeof(buf), &h), -EBADMSG);
		put_be(buf + 60, 4, sl_crc32c(buf, 60));
		int rc = sl_seg_header_decode(buf, sizeof(buf), &h);
		if (rc != cases[c].rc)
			fprintf(stderr, "header case %zu: rc %d\n", c, rc);
		CHECK_EQ_U64(rc, cases[c].rc);
	}
}

/* ---- the golden vector (docs/formats/segment.md) ---- */

static const uint8_t golden[152] = {
    0x53, 0x4c, 0x42, 0x54, 0x01, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x98, 0x00, 0x00, 0x00, 0x53,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0x00, 0x00, 0x00, 0x00, 0xe4, 0x50, 0x65, 0x8b,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x6b, 0x68, 0x69, 0x00, 0x00,
    0x00, 0x05, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x70, 0x6b, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
    0x66, 0x77, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

#define GOLDEN_BASE_SEQ ((sl_u128)0x0102030405060708ull << 64 | 1000)

/*
 * The doc's example: record "k" = "hi", record "pk" with an explicit key, and
 * one dedupe entry, added first: it still lands behind the records.
 */
static size_t build_golden(uint8_t *buf, size_t cap)
{
	struct sl_seg_builder b;
	struct sl_seg_dedupe d = {
	    .producer_id = 0x1122334455667788ull,
	    .batch_seq = 9,
	    .first_seq = GOLDEN_BASE_SEQ,
	    .record_count = 2,
	    .entry_index = 0,
	    .entry_count = 1,
	};
	struct sl_record r0 = make_record("k", "hi");
	struct sl_record r1 = make_record("pk", "");

	r1.flags = SL_RECORD_F_EXPLICIT_HASH_KEY;
	r1.hash_key = (sl_u128)1 << 127;
	sl_seg_batch_begin(&b, buf, cap, GOLDEN_BASE_SEQ, FIRST_MS);
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r0, FIRST_MS), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r1, FIRST_MS + 5), 0);
	return sl_seg_batch_finish(&b, 8);
}

static void test_golden_bytes(void)
{
	uint8_t buf[256];
	const size_t cap = 224;

	memset(buf, 0xA5, sizeof(buf));
	size_t len = build_golden(buf, cap);
	CHECK_EQ_U64(len, sizeof(golden));
	CHECK(memcmp(buf, golden, sizeof(golden)) == 0);
	/* Past the batch, only the entry's waiting place at the top of cap was written. */
	CHECK(all_bytes(buf + sizeof(golden), cap - 40 - sizeof(golden), 0xA5));
	CHECK(memcmp(buf + cap - 40, golden + 107, 40) == 0);
	CHECK(all_bytes(buf + cap, sizeof(buf) - cap, 0xA5));

	/* Each batch header field at its offset in the spec. */
	CHECK_EQ_U64(get_be(golden + 0, 4), SL_SEG_BATCH_MAGIC);
	CHECK_EQ_U64(golden[4], 1);
	CHECK_EQ_U64(golden[5], 0);
	CHECK_EQ_U64(get_be(golden + 6, 2), 64);
	CHECK_EQ_U64(get_be(golden + 8, 4), 152);
	CHECK_EQ_U64(get_be(golden + 12, 4), 14 + 29 + 40);
	CHECK(sl_u128_load_be(golden + 16) == GOLDEN_BASE_SEQ);
	CHECK_EQ_U64(get_be(golden + 32, 4), 2);
	CHECK_EQ_U64(get_be(golden + 36, 2), 1);
	CHECK_EQ_U64(get_be(golden + 38, 2), 0);
	CHECK_EQ_U64(get_be(golden + 40, 8), FIRST_MS);
	CHECK_EQ_U64(get_be(golden + 48, 8), FIRST_MS + 5);
	CHECK_EQ_U64(get_be(golden + 56, 4), 0);
	CHECK_EQ_U64(get_be(golden + 60, 4),
		     sl_crc32c_update(sl_crc32c(golden, 60), golden + 64, 83));
	/* The records at 64 and 78, the dedupe entry at 107, padding at 147. */
	CHECK_EQ_U64(get_be(golden + 64, 4), 0);
	CHECK_EQ_U64(golden[68], 0);
	CHECK_EQ_U64(get_be(golden + 69, 2), 1);
	CHECK_EQ_U64(get_be(golden + 71, 4), 2);
	CHECK(memcmp(golden + 75, "khi", 3) == 0);
	CHECK_EQ_U64(get_be(golden + 78, 4), 5);
	CHECK_EQ_U64(golden[82], SL_RECORD_F_EXPLICIT_HASH_KEY);
	CHECK_EQ_U64(get_be(golden + 83, 2), 2);
	CHECK_EQ_U64(get_be(golden + 85, 4), 0);
	CHECK(memcmp(golden + 89, "pk", 2) == 0);
	CHECK(sl_u128_load_be(golden + 91) == (sl_u128)1 << 127);
	CHECK_EQ_U64(get_be(golden + 107, 8), 0x1122334455667788ull);
	CHECK_EQ_U64(get_be(golden + 115, 8), 9);
	CHECK(sl_u128_load_be(golden + 123) == GOLDEN_BASE_SEQ);
	CHECK_EQ_U64(get_be(golden + 139, 2), 2);
	CHECK_EQ_U64(get_be(golden + 141, 2), 0);
	CHECK_EQ_U64(get_be(golden + 143, 2), 1);
	CHECK_EQ_U64(get_be(golden + 145, 2), 0);
	CHECK(all_bytes(golden + 147, 5, 0));
}

static void test_golden_decode(void)
{
	struct sl_seg_batch b, hb;
	struct sl_seg_dedupe d;
	struct sl_seg_record r;
	struct sl_seg_iter it;

	CHECK_EQ_U64(sl_seg_batch_header_decode(golden, sizeof(golden), &hb), 0);
	CHECK_EQ_U64(check_exact(golden, sizeof(golden), &b), 0);
	CHECK(batch_equal(&hb, &b));
	CHECK_EQ_U64(b.batch_len, 152);
	CHECK_EQ_U64(b.payload_len, 83);
	CHECK_EQ_U64(b.record_count, 2);
	CHECK_EQ_U64(b.dedupe_count, 1);
	sl_seg_batch_dedupe(golden, &b, 0, &d);
	CHECK_EQ_U64(d.producer_id, 0x1122334455667788ull);
	CHECK_EQ_U64(d.batch_seq, 9);
	CHECK(d.first_seq == GOLDEN_BASE_SEQ);
	CHECK_EQ_U64(d.record_count, 2);
	CHECK_EQ_U64(d.entry_index, 0);
	CHECK_EQ_U64(d.entry_count, 1);

	sl_seg_iter_init(&it, golden, &b);
	CHECK_EQ_U64(sl_seg_iter_next(&it, &r), 1);
	CHECK(r.seq == GOLDEN_BASE_SEQ);
	CHECK_EQ_U64(r.arrival_ms, FIRST_MS);
	CHECK(r.key_len == 1 && memcmp(r.key, "k", 1) == 0);
	CHECK(r.data_len == 2 && memcmp(r.data, "hi", 2) == 0);
	CHECK(r.key == golden + 75); /* the records start the payload */
	CHECK_EQ_U64(r.flags, 0);
	CHECK_EQ_U64(sl_seg_iter_next(&it, &r), 1);
	CHECK(r.seq == GOLDEN_BASE_SEQ + 1);
	CHECK_EQ_U64(r.arrival_ms, FIRST_MS + 5);
	CHECK(r.key_len == 2 && memcmp(r.key, "pk", 2) == 0);
	CHECK(r.key == golden + 89);
	CHECK_EQ_U64(r.data_len, 0);
	CHECK_EQ_U64(r.flags, SL_RECORD_F_EXPLICIT_HASH_KEY);
	CHECK(r.explicit_hash_key == (sl_u128)1 << 127);
	CHECK_EQ_U64(sl_seg_iter_next(&it, &r), 0);
	CHECK_EQ_U64(sl_seg_iter_next(&it, &r), 0);
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Read the hex dump lines ("0010: 01 02 ...", at most 16 bytes each, the
 * annotation after them ignored) of the doc's Example section into out.
 */
static size_t parse_doc_dump(FILE *f, uint8_t *out, size_t cap)
{
	char line[256];
	bool in_example = false;
	size_t n = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "## ", 3) == 0)
			in_example = strncmp(line, "## Example", 10) == 0;
		if (!in_example || strlen(line) < 6 || line[4] != ':' || hex_digit(line[0]) < 0)
			continue;
		const char *p = line + 5;
		for (int i = 0; i < 16 && p[0] == ' ' && n < cap; i++, p += 3) {
			int hi = hex_digit(p[1]), lo = hex_digit(p[2]);
			if (hi < 0 || lo < 0 || (p[3] != ' ' && p[3] != '\n'))
				break;
			out[n++] = (uint8_t)(hi << 4 | lo);
		}
	}
	return n;
}

/* The example in docs/formats/segment.md is the golden vector, byte for byte. */
static void test_golden_doc(void)
{
	const char *root = getenv("SL_SOURCE_ROOT");
	char path[4096];
	uint8_t bytes[512];

	if (root == NULL) {
		fprintf(stderr, "segment: SL_SOURCE_ROOT unset, doc example not compared\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/docs/formats/segment.md", root);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	size_t n = parse_doc_dump(f, bytes, sizeof(bytes));
	fclose(f);
	CHECK_EQ_U64(n, sizeof(golden));
	CHECK(n == sizeof(golden) && memcmp(bytes, golden, n) == 0);
}

/* ---- random round trips ---- */

#define RT_RECORDS_MAX 40
#define RT_DEDUPE_MAX  5
#define RT_DATA_MAX    4096
#define RT_POOL_BYTES  (1u << 20)
#define RT_CAP                                                                                     \
	(SL_SEG_BATCH_HEADER_BYTES + RT_DEDUPE_MAX * SL_SEG_DEDUPE_BYTES +                         \
	 RT_RECORDS_MAX * (SL_SEG_RECORD_HEADER_BYTES + SL_PARTITION_KEY_MAX + 16 + RT_DATA_MAX) + \
	 4096)

static uint8_t *pool;

/*
 * What a random batch was built from, to compare with what it decodes to.
 * Entry i is added once dedupe_after[i] records are in (non-decreasing in i:
 * entries are numbered in the order added).
 */
struct rt_batch {
	sl_u128 base_seq;
	uint64_t first_ms;
	uint64_t last_ms;
	uint32_t record_count;
	uint16_t dedupe_count;
	struct sl_record records[RT_RECORDS_MAX];
	uint64_t arrival_ms[RT_RECORDS_MAX];
	struct sl_seg_dedupe dedupes[RT_DEDUPE_MAX];
	uint32_t dedupe_after[RT_DEDUPE_MAX];
};

static void rt_generate(struct rt_batch *g)
{
	g->record_count = 1 + (uint32_t)rng_below(RT_RECORDS_MAX);
	g->dedupe_count = (uint16_t)rng_below(RT_DEDUPE_MAX + 1);
	g->base_seq = sl_u128_make(rng_next(), rng_below(1ull << 62));
	g->first_ms = FIRST_MS + rng_below(1ull << 40);
	g->last_ms = g->first_ms;
	for (uint16_t i = 0; i < g->dedupe_count; i++) {
		struct sl_seg_dedupe *d = &g->dedupes[i];
		d->producer_id = rng_next();
		d->batch_seq = rng_next();
		d->first_seq = g->base_seq + rng_below(g->record_count);
		d->record_count = (uint16_t)(1 + rng_below(SL_FRAME_RECORDS_MAX));
		d->entry_count = (uint16_t)(1 + rng_below(64));
		d->entry_index = (uint16_t)rng_below(d->entry_count);
		/* Before record 0, between two records or after the last, then sorted. */
		uint32_t after = (uint32_t)rng_below(g->record_count + 1);
		uint16_t j = i;
		for (; j > 0 && g->dedupe_after[j - 1] > after; j--)
			g->dedupe_after[j] = g->dedupe_after[j - 1];
		g->dedupe_after[j] = after;
	}
	for (uint32_t i = 0; i < g->record_count; i++) {
		struct sl_record *r = &g->records[i];
		r->key_len = (uint16_t)(1 + rng_below(SL_PARTITION_KEY_MAX));
		r->data_len = (uint32_t)rng_below(RT_DATA_MAX + 1);
		r->key = pool + rng_below(RT_POOL_BYTES - SL_PARTITION_KEY_MAX);
		r->data = pool + rng_below(RT_POOL_BYTES - RT_DATA_MAX);
		r->flags = rng_below(3) == 0 ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0;
		r->hash_key = sl_u128_make(rng_next(), rng_next());
		g->arrival_ms[i] = i == 0 ? g->first_ms : g->first_ms + rng_below(100000);
		if (g->arrival_ms[i] > g->last_ms)
			g->last_ms = g->arrival_ms[i];
	}
}

static size_t rt_build(const struct rt_batch *g, uint8_t *buf, size_t cap, size_t align)
{
	struct sl_seg_builder b;
	size_t records_bytes = 0;
	uint16_t d = 0;

	sl_seg_batch_begin(&b, buf, cap, g->base_seq, g->first_ms);
	for (uint32_t i = 0; i <= g->record_count; i++) {
		for (; d < g->dedupe_count && g->dedupe_after[d] == i; d++)
			CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &g->dedupes[d]), 0);
		if (i == g->record_count)
			break;
		CHECK_EQ_U64(sl_seg_batch_add_record(&b, &g->records[i], g->arrival_ms[i]), 0);
		records_bytes += sl_seg_record_bytes(&g->records[i]);
	}
	CHECK_EQ_U64(d, g->dedupe_count);
	CHECK_EQ_U64(b.dedupe_added, g->dedupe_count);
	CHECK_EQ_U64(b.len, SL_SEG_BATCH_HEADER_BYTES + records_bytes);
	size_t used = b.len + (size_t)g->dedupe_count * SL_SEG_DEDUPE_BYTES;
	size_t batch_len = sl_seg_batch_finish(&b, align);
	CHECK_EQ_U64(b.len, used);
	CHECK_EQ_U64(get_be(buf + 12, 4), used - SL_SEG_BATCH_HEADER_BYTES);
	CHECK_EQ_U64(batch_len % align, 0);
	CHECK(batch_len >= used && batch_len - used < align);
	CHECK(all_bytes(buf + used, batch_len - used, 0));
	return batch_len;
}

static void rt_compare_records(const struct rt_batch *g, const uint8_t *buf,
			       const struct sl_seg_batch *b)
{
	struct sl_seg_iter it;
	struct sl_seg_record r;
	uint32_t n = 0;
	/* Packed from the payload's start up to the dedupe entries. */
	const uint8_t *next = buf + SL_SEG_BATCH_HEADER_BYTES;
	const uint8_t *end = next + b->payload_len - (size_t)b->dedupe_count * SL_SEG_DEDUPE_BYTES;

	sl_seg_iter_init(&it, buf, b);
	while (n <= g->record_count && sl_seg_iter_next(&it, &r) == 1) {
		const struct sl_record *want = &g->records[n];
		CHECK(r.key == next + SL_SEG_RECORD_HEADER_BYTES);
		next = r.data + r.data_len;
		CHECK(r.seq == g->base_seq + n);
		CHECK_EQ_U64(r.arrival_ms, g->arrival_ms[n]);
		CHECK_EQ_U64(r.flags, want->flags);
		CHECK_EQ_U64(r.key_len, want->key_len);
		CHECK_EQ_U64(r.data_len, want->data_len);
		CHECK(memcmp(r.key, want->key, want->key_len) == 0);
		CHECK(want->data_len == 0 || memcmp(r.data, want->data, want->data_len) == 0);
		if (want->flags & SL_RECORD_F_EXPLICIT_HASH_KEY)
			CHECK(r.explicit_hash_key == want->hash_key);
		n++;
	}
	CHECK_EQ_U64(n, g->record_count);
	CHECK(next == end);
}

static void rt_compare(const struct rt_batch *g, const uint8_t *buf, size_t batch_len)
{
	struct sl_seg_batch b;
	struct sl_seg_dedupe d;

	CHECK_EQ_U64(sl_seg_batch_check(buf, batch_len, &b), 0);
	CHECK_EQ_U64(b.batch_len, batch_len);
	CHECK(b.base_seq == g->base_seq);
	CHECK_EQ_U64(b.record_count, g->record_count);
	CHECK_EQ_U64(b.dedupe_count, g->dedupe_count);
	CHECK_EQ_U64(b.first_arrival_ms, g->first_ms);
	CHECK_EQ_U64(b.last_arrival_ms, g->last_ms);
	/* In the order added, whenever they were added, behind the records. */
	for (uint16_t i = 0; i < g->dedupe_count; i++) {
		sl_seg_batch_dedupe(buf, &b, i, &d);
		CHECK(dedupe_equal(&d, &g->dedupes[i]));
		const uint8_t *at = buf + SL_SEG_BATCH_HEADER_BYTES + b.payload_len -
				    (size_t)(g->dedupe_count - i) * SL_SEG_DEDUPE_BYTES;
		CHECK_EQ_U64(get_be(at, 8), g->dedupes[i].producer_id);
		CHECK_EQ_U64(get_be(at + 8, 8), g->dedupes[i].batch_seq);
	}
	rt_compare_records(g, buf, &b);
}

static void test_round_trip(void)
{
	static struct rt_batch g;
	uint8_t *buf = xmalloc(RT_CAP);

	for (int iter = 0; iter < 400; iter++) {
		memset(&g, 0, sizeof(g));
		rt_generate(&g);
		memset(buf, 0xA5, RT_CAP);
		size_t align = iter % 2 ? 4096 : 8;
		size_t batch_len = rt_build(&g, buf, RT_CAP, align);
		uint8_t *exact = xmalloc(batch_len);
		memcpy(exact, buf, batch_len);
		rt_compare(&g, exact, batch_len);
		free(exact);
	}
	free(buf);
}

/* Several batches back to back, walked by batch_len as recovery will. */
static void test_log_walk(void)
{
	static struct rt_batch g;
	size_t cap = 8 * RT_CAP, off = 0, ends[8];
	uint8_t *log = xmalloc(cap);
	sl_u128 next_seq = 12345;

	for (int i = 0; i < 8; i++) {
		memset(&g, 0, sizeof(g));
		rt_generate(&g);
		g.base_seq = next_seq;
		off += rt_build(&g, log + off, cap - off, i % 3 == 0 ? 4096 : 8);
		ends[i] = off;
		next_seq += g.record_count;
	}
	struct sl_seg_batch b;
	sl_u128 seq = 12345;
	size_t at = 0;
	for (int i = 0; i < 8; i++) {
		CHECK_EQ_U64(check_exact(log + at, off - at, &b), 0);
		CHECK(b.base_seq == seq);
		seq += b.record_count;
		at += b.batch_len;
		CHECK_EQ_U64(at, ends[i]);
	}
	CHECK(seq == next_seq);
	/* A torn tail: the last batch cut short is -EAGAIN at its offset. */
	CHECK_EQ_U64(check_exact(log + ends[6], off - ends[6] - 1, &b), -EAGAIN);
	free(log);
}

/* ---- -ENOSPC and arrival times ---- */

/*
 * Records and entries together against cap, added in several orders. Each
 * add fits exactly when header + records + entries so far + it <= cap (the
 * model here, not segment.c's arithmetic); one that does not is -ENOSPC with
 * nothing written, and the builder goes on (a smaller record may still fit).
 */
static void test_enospc_cap(void)
{
	static const char *const orders[] = {"ERER", "RERE", "EERR", "RREE", "ERRE", "REER"};
	uint8_t buf[256], before[256];
	struct sl_seg_builder b;
	struct sl_seg_batch sb;
	struct sl_seg_dedupe got;
	struct sl_record r = make_record("key", "value"); /* 11 + 3 + 5 = 19 bytes */

	/* All four: 64 + 2 x 19 + 2 x 40 = 182, padded to 184. */
	for (size_t o = 0; o < SL_ARRAY_SIZE(orders); o++) {
		for (size_t cap = 64; cap <= 192; cap++) {
			size_t used = SL_SEG_BATCH_HEADER_BYTES;
			uint16_t entries = 0;
			uint32_t records = 0;

			memset(buf, 0xA5, sizeof(buf));
			sl_seg_batch_begin(&b, buf, cap, 1, FIRST_MS);
			for (const char *op = orders[o]; *op != '\0'; op++) {
				bool entry = *op == 'E';
				size_t need = entry ? SL_SEG_DEDUPE_BYTES : 19;
				struct sl_seg_dedupe d = {.producer_id = 100u + entries,
							  .record_count = 1,
							  .entry_count = 1};
				memcpy(before, buf, sizeof(buf));
				int rc = entry ? sl_seg_batch_add_dedupe(&b, &d)
					       : sl_seg_batch_add_record(&b, &r, FIRST_MS);
				if (rc != (used + need <= cap ? 0 : -ENOSPC))
					fprintf(stderr, "order %s, cap %zu, op %td: rc %d\n",
						orders[o], cap, op - orders[o], rc);
				CHECK_EQ_U64(rc, used + need <= cap ? 0 : -ENOSPC);
				if (rc == 0) {
					used += need;
					entries += entry;
					records += !entry;
				} else {
					CHECK(memcmp(buf, before, sizeof(buf)) == 0);
				}
				CHECK_EQ_U64(b.len,
					     SL_SEG_BATCH_HEADER_BYTES + (size_t)records * 19);
				CHECK_EQ_U64(b.record_count, records);
				CHECK_EQ_U64(b.dedupe_added, entries);
			}
			CHECK(all_bytes(buf + cap, sizeof(buf) - cap, 0xA5));
			size_t padded = (used + 7) & ~(size_t)7;
			if (records == 0 || padded > cap)
				continue; /* finish() would assert; see test_builder_asserts */
			size_t len = sl_seg_batch_finish(&b, 8);
			CHECK_EQ_U64(len, padded);
			CHECK(all_bytes(buf + cap, sizeof(buf) - cap, 0xA5));
			CHECK_EQ_U64(check_exact(buf, len, &sb), 0);
			CHECK_EQ_U64(sb.payload_len, used - SL_SEG_BATCH_HEADER_BYTES);
			CHECK_EQ_U64(sb.record_count, records);
			CHECK_EQ_U64(sb.dedupe_count, entries);
			for (uint16_t i = 0; i < entries; i++) {
				sl_seg_batch_dedupe(buf, &sb, i, &got);
				CHECK_EQ_U64(got.producer_id, 100u + i);
			}
		}
	}
}

/*
 * Exactly SL_SEG_BATCH_BYTES_MAX, with a cap larger than that; with_entry:
 * a dedupe entry, added between the records, takes its part of the maximum
 * and waits below it, not in the cap beyond.
 */
static void enospc_batch_max(bool with_entry)
{
	size_t cap = SL_SEG_BATCH_BYTES_MAX + 8192;
	size_t entries = with_entry ? SL_SEG_DEDUPE_BYTES : 0;
	uint8_t *buf = xmalloc(cap);
	uint8_t *data = calloc(1, SL_RECORD_SIZE_LIMIT);
	struct sl_seg_builder b;
	struct sl_record r = {.key = (const uint8_t *)"k", .key_len = 1, .data = data};
	struct sl_seg_dedupe d = {
	    .producer_id = 31, .batch_seq = 4, .record_count = 7, .entry_count = 1};
	struct sl_seg_dedupe got;
	struct sl_seg_batch sb;

	CHECK(data != NULL);
	memset(buf + SL_SEG_BATCH_BYTES_MAX, 0xA5, cap - SL_SEG_BATCH_BYTES_MAX);
	sl_seg_batch_begin(&b, buf, cap, 0, FIRST_MS);
	/* Six records of 12 + (10 MiB - 1) bytes, then one to fill 64 MiB exactly. */
	r.data_len = SL_RECORD_SIZE_LIMIT - 1;
	for (int i = 0; i < 6; i++) {
		CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), 0);
		if (with_entry && i == 2)
			CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), 0);
	}
	size_t last = SL_SEG_BATCH_BYTES_MAX - b.len - entries - SL_SEG_RECORD_HEADER_BYTES - 1;
	r.data_len = (uint32_t)last + 1;
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), -ENOSPC);
	r.data_len = (uint32_t)last;
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), 0);
	CHECK_EQ_U64(b.len + entries, SL_SEG_BATCH_BYTES_MAX);
	r.data_len = 0;
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), -ENOSPC);
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), -ENOSPC);
	CHECK(all_bytes(buf + SL_SEG_BATCH_BYTES_MAX, cap - SL_SEG_BATCH_BYTES_MAX, 0xA5));
	CHECK_EQ_U64(sl_seg_batch_finish(&b, 4096), SL_SEG_BATCH_BYTES_MAX);
	CHECK_EQ_U64(sl_seg_batch_check(buf, SL_SEG_BATCH_BYTES_MAX, &sb), 0);
	CHECK_EQ_U64(sb.record_count, 7);
	CHECK_EQ_U64(sb.dedupe_count, with_entry ? 1 : 0);
	if (with_entry) {
		sl_seg_batch_dedupe(buf, &sb, 0, &got);
		CHECK(dedupe_equal(&got, &d));
	}
	free(data);
	free(buf);
}

static void test_enospc_batch_max(void)
{
	enospc_batch_max(false);
	enospc_batch_max(true);
}

static void test_enospc_records_max(void)
{
	size_t cap = SL_SEG_BATCH_HEADER_BYTES + (size_t)(SL_SEG_BATCH_RECORDS_MAX + 2) * 12;
	uint8_t *buf = xmalloc(cap);
	struct sl_seg_builder b;
	struct sl_record r = make_record("k", "");
	struct sl_seg_batch sb;
	uint32_t failed = 0;

	sl_seg_batch_begin(&b, buf, cap, sl_u128_make(7, 0), FIRST_MS);
	for (uint32_t i = 0; i < SL_SEG_BATCH_RECORDS_MAX; i++)
		failed += sl_seg_batch_add_record(&b, &r, FIRST_MS + i % 1000) != 0;
	CHECK_EQ_U64(failed, 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), -ENOSPC);
	size_t batch_len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(sl_seg_batch_check(buf, batch_len, &sb), 0);
	CHECK_EQ_U64(sb.record_count, SL_SEG_BATCH_RECORDS_MAX);
	CHECK_EQ_U64(sb.last_arrival_ms, FIRST_MS + 999);

	/* One more record ("k", no data) appended by hand with lengths and CRC
	 * fixed, so only the record limit is broken. */
	uint8_t *p = buf + SL_SEG_BATCH_HEADER_BYTES + sb.payload_len;
	memset(p, 0, 16);
	put_be(p + 5, 2, 1);
	p[11] = 'k';
	put_be(buf + 12, 4, sb.payload_len + 12);
	put_be(buf + 8, 4, (SL_SEG_BATCH_HEADER_BYTES + sb.payload_len + 12 + 7) & ~7u);
	put_be(buf + 32, 4, SL_SEG_BATCH_RECORDS_MAX + 1);
	recrc(buf, cap);
	CHECK_EQ_U64(sl_seg_batch_check(buf, cap, &sb), -EBADMSG);
	free(buf);
}

/*
 * SL_SEG_DEDUPE_MAX entries (half before the record, half after) pass and
 * come back in the order added; one more is -ENOSPC, with room in cap to
 * spare, nothing written; one more appended by hand is -EBADMSG.
 */
static void test_dedupe_max(void)
{
	size_t entries = SL_SEG_DEDUPE_MAX * SL_SEG_DEDUPE_BYTES;
	size_t cap = SL_SEG_BATCH_HEADER_BYTES + 12 + entries + SL_SEG_DEDUPE_BYTES + 64;
	uint8_t *buf = xmalloc(cap);
	uint8_t *before = xmalloc(cap);
	struct sl_seg_builder b;
	struct sl_seg_dedupe d = {.producer_id = 5, .record_count = 1, .entry_count = 1};
	struct sl_seg_dedupe got;
	struct sl_record r = make_record("k", "");
	struct sl_seg_batch sb;
	unsigned failed = 0, misplaced = 0;

	memset(buf, 0xA5, cap);
	sl_seg_batch_begin(&b, buf, cap, 0, FIRST_MS);
	for (unsigned i = 0; i < SL_SEG_DEDUPE_MAX; i++) {
		if (i == SL_SEG_DEDUPE_MAX / 2)
			CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), 0);
		d.batch_seq = i;
		failed += sl_seg_batch_add_dedupe(&b, &d) != 0;
	}
	CHECK_EQ_U64(failed, 0);
	memcpy(before, buf, cap);
	d.batch_seq = SL_SEG_DEDUPE_MAX;
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), -ENOSPC);
	CHECK(memcmp(buf, before, cap) == 0);
	CHECK_EQ_U64(b.dedupe_added, SL_SEG_DEDUPE_MAX);
	size_t len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(len, (SL_SEG_BATCH_HEADER_BYTES + 12 + entries + 7) & ~(size_t)7);
	CHECK_EQ_U64(check_exact(buf, len, &sb), 0);
	CHECK_EQ_U64(sb.dedupe_count, SL_SEG_DEDUPE_MAX);
	CHECK_EQ_U64(sb.payload_len, 12 + entries);
	for (uint16_t i = 0; i < SL_SEG_DEDUPE_MAX; i++) {
		sl_seg_batch_dedupe(buf, &sb, i, &got);
		misplaced += got.batch_seq != i;
	}
	CHECK_EQ_U64(misplaced, 0);

	/* A copy of the last entry appended, lengths and CRC fixed: only the count is broken. */
	uint8_t *end = buf + SL_SEG_BATCH_HEADER_BYTES + 12 + entries;
	memcpy(end, end - SL_SEG_DEDUPE_BYTES, SL_SEG_DEDUPE_BYTES);
	put_be(buf + 36, 2, SL_SEG_DEDUPE_MAX + 1);
	put_be(buf + 12, 4, 12 + entries + SL_SEG_DEDUPE_BYTES);
	len = (SL_SEG_BATCH_HEADER_BYTES + 12 + entries + SL_SEG_DEDUPE_BYTES + 7) & ~(size_t)7;
	memset(end + SL_SEG_DEDUPE_BYTES, 0, len - (size_t)(end + SL_SEG_DEDUPE_BYTES - buf));
	put_be(buf + 8, 4, len);
	recrc(buf, cap);
	CHECK_EQ_U64(check_exact(buf, len, &sb), -EBADMSG);
	free(before);
	free(buf);
}

static void test_arrival(void)
{
	uint8_t buf[512];
	struct sl_seg_builder b;
	struct sl_record r = make_record("k", "v");
	struct sl_seg_batch sb;
	struct sl_seg_iter it;
	struct sl_seg_record rec;
	static const uint64_t expect[] = {1000, 1000 + (uint64_t)UINT32_MAX, 1000, 1000};

	sl_seg_batch_begin(&b, buf, sizeof(buf), 5, 1000);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 999), 0); /* record 0: clamped */
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1000 + (uint64_t)UINT32_MAX), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1000 + (uint64_t)UINT32_MAX + 1), -ENOSPC);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 0), 0); /* a clock that stepped back */
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1000), 0);
	size_t len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), 0);
	CHECK_EQ_U64(sb.first_arrival_ms, 1000);
	CHECK_EQ_U64(sb.last_arrival_ms, 1000 + (uint64_t)UINT32_MAX);
	sl_seg_iter_init(&it, buf, &sb);
	for (size_t i = 0; i < SL_ARRAY_SIZE(expect); i++) {
		CHECK_EQ_U64(sl_seg_iter_next(&it, &rec), 1);
		CHECK_EQ_U64(rec.arrival_ms, expect[i]);
	}
	CHECK_EQ_U64(sl_seg_iter_next(&it, &rec), 0);
}

/* begin()'s first_arrival_ms is a floor; record 0's arrival sets the batch's first. */
static void test_arrival_floor(void)
{
	uint8_t buf[512];
	struct sl_seg_builder b;
	struct sl_record r = make_record("k", "v");
	struct sl_record big = make_record("k", "");
	struct sl_seg_batch sb;
	struct sl_seg_iter it;
	struct sl_seg_record rec;
	static const uint64_t expect[] = {1500, 1500, 1600};

	sl_seg_batch_begin(&b, buf, sizeof(buf), 5, 1000);
	big.data_len = sizeof(buf); /* does not fit: nothing changes */
	big.data = buf;
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &big, 1700), -ENOSPC);
	CHECK_EQ_U64(b.first_arrival_ms, 1000);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1500), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1200), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, 1600), 0);
	size_t len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), 0);
	CHECK_EQ_U64(sb.first_arrival_ms, 1500);
	CHECK_EQ_U64(sb.last_arrival_ms, 1600);
	sl_seg_iter_init(&it, buf, &sb);
	for (size_t i = 0; i < SL_ARRAY_SIZE(expect); i++) {
		CHECK_EQ_U64(sl_seg_iter_next(&it, &rec), 1);
		CHECK_EQ_U64(rec.arrival_ms, expect[i]);
	}
}

/* ---- truncation and bit flips ---- */

/* A batch with a bit of everything: 2 entries (one added before the records,
 * one between them), explicit key, 4096 padding. */
static size_t build_mixed(uint8_t *buf, size_t cap, size_t align)
{
	struct sl_seg_builder b;
	struct sl_seg_dedupe d = {.producer_id = 42,
				  .batch_seq = 3,
				  .record_count = 2,
				  .entry_index = 1,
				  .entry_count = 2};
	struct sl_record r[3] = {make_record("alpha", "some data"), make_record("b", ""),
				 make_record("gamma-key", "0123456789abcdefghij")};

	r[1].flags = SL_RECORD_F_EXPLICIT_HASH_KEY;
	r[1].hash_key = sl_u128_make(0xDEADBEEF, 0xCAFE);
	sl_seg_batch_begin(&b, buf, cap, sl_u128_make(9, 77), FIRST_MS);
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), 0);
	d.entry_index = 0;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r[i], FIRST_MS + (uint64_t)i * 11), 0);
		if (i == 1)
			CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d), 0);
	}
	return sl_seg_batch_finish(&b, align);
}

static void test_truncated(void)
{
	uint8_t buf[8192];
	size_t len = build_mixed(buf, sizeof(buf), 4096);
	struct sl_seg_batch b;

	CHECK_EQ_U64(len, 4096);
	CHECK_EQ_U64(check_exact(buf, len, &b), 0);
	for (size_t cut = 0; cut < len; cut++) {
		memset(&b, 0, sizeof(b));
		int rc = check_exact(buf, cut, &b);
		if (rc != -EAGAIN)
			fprintf(stderr, "prefix of %zu bytes: rc %d\n", cut, rc);
		CHECK_EQ_U64(rc, -EAGAIN);
		if (cut >= SL_SEG_BATCH_HEADER_BYTES)
			CHECK_EQ_U64(b.batch_len, len);
	}
	/* The header alone decodes from its 64 bytes. */
	CHECK_EQ_U64(sl_seg_batch_header_decode(buf, 64, &b), 0);
	CHECK_EQ_U64(sl_seg_batch_header_decode(buf, 63, &b), -EAGAIN);
}

static void test_bit_flips(void)
{
	uint8_t batch[512];
	size_t len = build_mixed(batch, sizeof(batch), 8);
	size_t covered = SL_SEG_BATCH_HEADER_BYTES + get_be(batch + 12, 4);
	uint8_t *exact = xmalloc(len);
	/* With all of SL_SEG_BATCH_BYTES_MAX readable no flip can look truncated. */
	uint8_t *big = calloc(1, SL_SEG_BATCH_BYTES_MAX);
	struct sl_seg_batch b;
	unsigned flips = 0, again = 0;

	CHECK(big != NULL && covered < len);
	memcpy(big, batch, len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(exact, batch, len);
			exact[i] ^= (uint8_t)(1u << bit);
			int rc = sl_seg_batch_check(exact, len, &b);
			big[i] ^= (uint8_t)(1u << bit);
			int rc_big = sl_seg_batch_check(big, SL_SEG_BATCH_BYTES_MAX, &b);
			big[i] ^= (uint8_t)(1u << bit);
			if (i >= covered) { /* padding: not covered, not read */
				CHECK_EQ_U64(rc, 0);
				continue;
			}
			flips++;
			again += rc == -EAGAIN;
			CHECK(rc != 0);
			CHECK(rc == -EBADMSG || (rc == -EAGAIN && i >= 8 && i < 12));
			CHECK_EQ_U64(rc_big, -EBADMSG);
		}
	}
	CHECK_EQ_U64(flips, covered * 8);
	CHECK(again > 0); /* a raised batch_len is seen as a torn batch */
	free(big);
	free(exact);
}

/* ---- structural checks with a valid CRC ---- */

/*
 * The base batch for mutations: records at 64 ("a", "xyz", delta 0), 79
 * ("bb", explicit key, "", delta 3), 108 ("c", "012345678", delta 7), ending
 * at 129 (65 bytes of records); entries at 129 (producer 77, entry 0 of 2)
 * and 169 (producer 78, entry 1 of 3); payload 145 bytes, batch_len 216.
 */
enum { R0 = 64, R1 = 79, R2 = 108, E0 = 129, E1 = 169, BASE_PAYLOAD = 145, BASE_LEN = 216 };

static size_t build_base(uint8_t *buf, size_t cap, sl_u128 base_seq)
{
	struct sl_seg_builder b;
	struct sl_seg_dedupe d0 = {.producer_id = 77,
				   .batch_seq = 5,
				   .record_count = 2,
				   .entry_index = 0,
				   .entry_count = 2};
	struct sl_seg_dedupe d1 = {.producer_id = 78,
				   .batch_seq = 6,
				   .record_count = 1,
				   .entry_index = 1,
				   .entry_count = 3};
	struct sl_record r[3] = {make_record("a", "xyz"), make_record("bb", ""),
				 make_record("c", "012345678")};
	static const uint64_t delta[3] = {0, 3, 7};

	d0.first_seq = base_seq;
	d1.first_seq = base_seq + 2;
	r[1].flags = SL_RECORD_F_EXPLICIT_HASH_KEY;
	r[1].hash_key = 99;
	sl_seg_batch_begin(&b, buf, cap, base_seq, FIRST_MS);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r[0], FIRST_MS + delta[0]), 0);
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d0), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r[1], FIRST_MS + delta[1]), 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r[2], FIRST_MS + delta[2]), 0);
	CHECK_EQ_U64(sl_seg_batch_add_dedupe(&b, &d1), 0);
	return sl_seg_batch_finish(&b, 8);
}

struct field_set {
	uint16_t off;
	uint8_t width;
	uint64_t value;
};

/* rc: sl_seg_batch_check; header_rc: sl_seg_batch_header_decode on 64 bytes. */
struct mutation {
	const char *name;
	int rc;
	int header_rc;
	struct field_set set[2];
};

#define MUT_CAP (BASE_LEN + 8192)

static const struct mutation mutations[] = {
    {"unchanged", 0, 0, {{8, 4, BASE_LEN}}},
    {"magic", -EBADMSG, -EBADMSG, {{0, 1, 'X'}}},
    {"version 2", -EBADMSG, -EBADMSG, {{4, 1, 2}}},
    {"flags bit 0 (OVERLAPPED)", 0, 0, {{5, 1, 1}}},
    {"flags bit 1", -EBADMSG, -EBADMSG, {{5, 1, 2}}},
    {"flags bit 7", -EBADMSG, -EBADMSG, {{5, 1, 0x80}}},
    {"header_len 56", -EBADMSG, -EBADMSG, {{6, 2, 56}}},
    {"header_len 72", -EBADMSG, -EBADMSG, {{6, 2, 72}}},
    {"batch_len below used", -EBADMSG, -EBADMSG, {{8, 4, 208}}},
    {"batch_len not a multiple of 8", -EBADMSG, -EBADMSG, {{8, 4, 212}}},
    {"batch_len 8 more", 0, 0, {{8, 4, BASE_LEN + 8}}},
    {"batch_len with 4095 padding", 0, 0, {{8, 4, 4096 + 208}}},
    {"batch_len with 4103 padding", -EBADMSG, -EBADMSG, {{8, 4, 4096 + 216}}},
    {"batch_len over the maximum", -EBADMSG, -EBADMSG, {{8, 4, SL_SEG_BATCH_BYTES_MAX + 8}}},
    {"payload_len + 1", -EBADMSG, 0, {{12, 4, BASE_PAYLOAD + 1}}},
    {"payload_len - 1", -EBADMSG, 0, {{12, 4, BASE_PAYLOAD - 1}}},
    {"payload_len + 8, batch_len + 8",
     -EBADMSG,
     0,
     {{12, 4, BASE_PAYLOAD + 8}, {8, 4, BASE_LEN + 8}}},
    {"payload_len 0", -EBADMSG, -EBADMSG, {{12, 4, 0}}},
    {"record_count 0", -EBADMSG, -EBADMSG, {{32, 4, 0}}},
    {"record_count 2", -EBADMSG, 0, {{32, 4, 2}}},
    {"record_count 4", -EBADMSG, 0, {{32, 4, 4}}},
    {"record_count over the maximum", -EBADMSG, -EBADMSG, {{32, 4, SL_SEG_BATCH_RECORDS_MAX + 1}}},
    /* Fewer entries: the records' part would run to 105 (or 145) but they end at 65. */
    {"dedupe_count 1", -EBADMSG, 0, {{36, 2, 1}}},
    {"dedupe_count 0", -EBADMSG, 0, {{36, 2, 0}}},
    /* 3 x 40 + 3 x 11 = 153 > 145: the header alone says it cannot hold them. */
    {"dedupe_count 3", -EBADMSG, -EBADMSG, {{36, 2, 3}}},
    {"dedupe_count over the maximum", -EBADMSG, -EBADMSG, {{36, 2, SL_SEG_DEDUPE_MAX + 1}}},
    {"reserved 38", -EBADMSG, -EBADMSG, {{38, 2, 1}}},
    {"reserved 56", -EBADMSG, -EBADMSG, {{56, 1, 0x80}}},
    {"reserved 59", -EBADMSG, -EBADMSG, {{59, 1, 1}}},
    {"last_arrival before first", -EBADMSG, -EBADMSG, {{48, 8, FIRST_MS - 1}}},
    {"last_arrival above the greatest", -EBADMSG, 0, {{48, 8, FIRST_MS + 8}}},
    {"last_arrival below the greatest", -EBADMSG, 0, {{48, 8, FIRST_MS + 6}}},
    {"last_arrival 2^32 after first", -EBADMSG, -EBADMSG, {{48, 8, FIRST_MS + (1ull << 32)}}},
    {"base_seq low bits wrap", -EBADMSG, -EBADMSG, {{24, 8, UINT64_MAX - 1}}},
    {"base_seq low bits at the edge", 0, 0, {{24, 8, UINT64_MAX - 2}}},
    {"base_seq high bits", 0, 0, {{16, 8, UINT64_MAX}}},
    {"entry reserved", -EBADMSG, 0, {{E0 + 38, 2, 0x100}}},
    {"entry 1 reserved", -EBADMSG, 0, {{E1 + 39, 1, 1}}},
    {"entry record_count 0", -EBADMSG, 0, {{E0 + 32, 2, 0}}},
    {"entry_index = entry_count", -EBADMSG, 0, {{E1 + 34, 2, 3}}},
    {"entry_index < entry_count", 0, 0, {{E1 + 34, 2, 2}}},
    {"entry_count 0", -EBADMSG, 0, {{E0 + 36, 2, 0}}},
    {"record 0 delta 1", -EBADMSG, 0, {{R0, 4, 1}}},
    {"record 2 delta 8", -EBADMSG, 0, {{R2, 4, 8}}},
    {"record 1 delta 7", 0, 0, {{R1, 4, 7}}},
    {"record flags bit 1", -EBADMSG, 0, {{R0 + 4, 1, 0x02}}},
    {"record flags bit 7", -EBADMSG, 0, {{R0 + 4, 1, 0x80}}},
    {"record 1 without its explicit key", -EBADMSG, 0, {{R1 + 4, 1, 0}}},
    {"record 0 with an explicit key", -EBADMSG, 0, {{R0 + 4, 1, 1}}},
    {"key_len 0, data_len + 1", -EBADMSG, 0, {{R0 + 5, 2, 0}, {R0 + 7, 4, 4}}},
    {"key_len 2, data_len - 1", 0, 0, {{R0 + 5, 2, 2}, {R0 + 7, 4, 2}}},
    {"data_len + 1", -EBADMSG, 0, {{R2 + 7, 4, 10}}},
    {"data_len - 1", -EBADMSG, 0, {{R2 + 7, 4, 8}}},
    {"record 1 data one byte into the entries", -EBADMSG, 0, {{R1 + 7, 4, 22}}},
    {"record 1 data past the payload", -EBADMSG, 0, {{R1 + 7, 4, 22 + 80}}},
    {"record 2 data into the entries", -EBADMSG, 0, {{R2 + 7, 4, 9 + 40}}},
    /* Entry 0's bytes read as record 2's data, entry 1 the only entry: valid. */
    {"record 2 data takes entry 0, dedupe_count 1", 0, 0, {{R2 + 7, 4, 9 + 40}, {36, 2, 1}}},
    {"data_len 2^32 - 1", -EBADMSG, 0, {{R2 + 7, 4, UINT32_MAX}}},
    {"key_len 2^16 - 1", -EBADMSG, 0, {{R2 + 5, 2, UINT16_MAX}}},
};

static void test_structure(void)
{
	uint8_t base[MUT_CAP], buf[MUT_CAP];
	struct sl_seg_batch b;

	memset(base, 0, sizeof(base));
	CHECK_EQ_U64(build_base(base, sizeof(base), sl_u128_make(3, 1000)), BASE_LEN);
	CHECK_EQ_U64(get_be(base + 12, 4), BASE_PAYLOAD);
	CHECK(memcmp(base + R0 + 11, "axyz", 4) == 0);
	CHECK(memcmp(base + R1 + 11, "bb", 2) == 0);
	CHECK(memcmp(base + R2 + 11, "c012345678", 10) == 0);
	CHECK_EQ_U64(R2 + 21, E0);
	CHECK_EQ_U64(get_be(base + E0, 8), 77);
	CHECK_EQ_U64(get_be(base + E1, 8), 78);
	CHECK_EQ_U64(E1 + 40, 64 + BASE_PAYLOAD);
	for (size_t m = 0; m < SL_ARRAY_SIZE(mutations); m++) {
		const struct mutation *mu = &mutations[m];
		memcpy(buf, base, sizeof(buf));
		for (int s = 0; s < 2 && mu->set[s].width != 0; s++)
			put_be(buf + mu->set[s].off, mu->set[s].width, mu->set[s].value);
		recrc(buf, sizeof(buf));
		/* Exactly batch_len bytes (when they fit): ASan sees any read past them. */
		size_t len = get_be(buf + 8, 4) < sizeof(buf) ? get_be(buf + 8, 4) : sizeof(buf);
		int rc = check_exact(buf, len, &b);
		int header_rc = sl_seg_batch_header_decode(buf, SL_SEG_BATCH_HEADER_BYTES, &b);
		if (rc != mu->rc || header_rc != mu->header_rc)
			fprintf(stderr, "mutation \"%s\": rc %d, header %d\n", mu->name, rc,
				header_rc);
		CHECK_EQ_U64(rc, mu->rc);
		CHECK_EQ_U64(header_rc, mu->header_rc);
	}
}

/*
 * The OVERLAPPED flag: the builder writes what it is given, the decoder
 * returns it, and sl_seg_batch_set_flags changes it in place with a CRC
 * that checks again; unknown bits, or a buffer that is not a valid batch,
 * are refused and leave it as it was.
 */
static void test_batch_flags(void)
{
	static uint8_t buf[MUT_CAP], copy[MUT_CAP];
	struct sl_seg_builder bld;
	struct sl_seg_batch b;
	struct sl_record r = make_record("k", "data");

	sl_seg_batch_begin(&bld, buf, sizeof(buf), sl_u128_make(3, 10), FIRST_MS);
	CHECK_EQ_U64(bld.flags, 0);
	CHECK_EQ_U64(sl_seg_batch_add_record(&bld, &r, FIRST_MS), 0);
	bld.flags = SL_SEG_BATCH_F_OVERLAPPED;
	size_t len = sl_seg_batch_finish(&bld, 8);
	CHECK_EQ_U64(buf[5], SL_SEG_BATCH_F_OVERLAPPED);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &b), 0);
	CHECK_EQ_U64(b.flags, SL_SEG_BATCH_F_OVERLAPPED);
	uint32_t crc1 = (uint32_t)get_be(buf + 60, 4);

	CHECK_EQ_U64(sl_seg_batch_set_flags(buf, len, 0), 0);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &b), 0);
	CHECK_EQ_U64(b.flags, 0);
	CHECK(get_be(buf + 60, 4) != crc1);
	CHECK_EQ_U64(sl_seg_batch_set_flags(buf, len, SL_SEG_BATCH_F_OVERLAPPED), 0);
	CHECK_EQ_U64(get_be(buf + 60, 4), crc1);

	memcpy(copy, buf, len);
	CHECK_EQ_U64(sl_seg_batch_set_flags(buf, len, 0x02), -EBADMSG);
	CHECK(memcmp(copy, buf, len) == 0);
	buf[64 + 11] ^= 0x01; /* a key byte: the CRC no longer holds */
	memcpy(copy, buf, len);
	CHECK_EQ_U64(sl_seg_batch_set_flags(buf, len, 0), -EBADMSG);
	CHECK(memcmp(copy, buf, len) == 0);
	CHECK_EQ_U64(sl_seg_batch_set_flags(buf, 63, 0), -EBADMSG);
}

/* The per-record limits at their boundaries, with lengths moved, not added. */
static void test_record_limits(void)
{
	static uint8_t key[SL_PARTITION_KEY_MAX];
	size_t cap = 64 + 11 + 16 + SL_RECORD_SIZE_LIMIT + 8;
	uint8_t *buf = xmalloc(cap);
	uint8_t *data = calloc(1, SL_RECORD_SIZE_LIMIT);
	struct sl_seg_builder b;
	struct sl_seg_batch sb;

	CHECK(data != NULL);
	memset(key, 'k', sizeof(key));
	/* key 256 + data 10: key_len 257 and data_len 9 keep the size. */
	struct sl_record r = {
	    .key = key, .key_len = SL_PARTITION_KEY_MAX, .data = data, .data_len = 10};
	sl_seg_batch_begin(&b, buf, cap, 1, FIRST_MS);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), 0);
	size_t len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), 0);
	put_be(buf + 64 + 5, 2, SL_PARTITION_KEY_MAX + 1);
	put_be(buf + 64 + 7, 4, 9);
	recrc(buf, len);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), -EBADMSG);

	/* key + data exactly SL_RECORD_SIZE_LIMIT with an explicit key, then the
	 * key's 16 bytes counted as data: over the limit, same size. */
	r.key_len = 1;
	r.data_len = SL_RECORD_SIZE_LIMIT - 1;
	r.flags = SL_RECORD_F_EXPLICIT_HASH_KEY;
	sl_seg_batch_begin(&b, buf, cap, 1, FIRST_MS);
	CHECK_EQ_U64(sl_seg_batch_add_record(&b, &r, FIRST_MS), 0);
	len = sl_seg_batch_finish(&b, 8);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), 0);
	buf[64 + 4] = 0;
	put_be(buf + 64 + 7, 4, SL_RECORD_SIZE_LIMIT - 1 + 16);
	recrc(buf, len);
	CHECK_EQ_U64(sl_seg_batch_check(buf, len, &sb), -EBADMSG);
	free(data);
	free(buf);
}

/* ---- builder assertions, each in a child ---- */

static uint8_t abuf[4096];
static struct sl_seg_builder ab;
static const struct sl_seg_dedupe a_entry = {.producer_id = 1, .record_count = 1, .entry_count = 1};

static void abort_finish_empty(void)
{
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_finish(&ab, 8);
}

/* Entries alone are not a batch. */
static void abort_finish_entries_only(void)
{
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_dedupe(&ab, &a_entry);
	sl_seg_batch_finish(&ab, 8);
}

static void abort_key_len_0(void)
{
	struct sl_record r = {.key = (const uint8_t *)"", .key_len = 0};
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_record(&ab, &r, FIRST_MS);
}

static void abort_bad_flags(void)
{
	struct sl_record r = make_record("k", "v");
	r.flags = 0x02;
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_record(&ab, &r, FIRST_MS);
}

static void abort_padding_over_cap(void)
{
	struct sl_record r = make_record("k", "v"); /* 64 + 13 = 77 -> 80 */
	sl_seg_batch_begin(&ab, abuf, 79, 0, FIRST_MS);
	sl_seg_batch_add_record(&ab, &r, FIRST_MS);
	sl_seg_batch_finish(&ab, 8);
}

/* Records and entries fit (117), their padding (to 120) does not. */
static void abort_padding_over_cap_entry(void)
{
	struct sl_record r = make_record("k", "v");
	sl_seg_batch_begin(&ab, abuf, 119, 0, FIRST_MS);
	if (sl_seg_batch_add_record(&ab, &r, FIRST_MS) != 0 ||
	    sl_seg_batch_add_dedupe(&ab, &a_entry) != 0)
		_exit(2);
	sl_seg_batch_finish(&ab, 8);
}

static void abort_align_12(void)
{
	struct sl_record r = make_record("k", "v");
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_record(&ab, &r, FIRST_MS);
	sl_seg_batch_finish(&ab, 12);
}

static void abort_entry_index(void)
{
	struct sl_seg_dedupe d = a_entry;
	d.entry_index = 1;
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_dedupe(&ab, &d);
}

static void abort_entry_record_count_0(void)
{
	struct sl_seg_dedupe d = a_entry;
	d.record_count = 0;
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_dedupe(&ab, &d);
}

static void not_an_abort(void)
{
	struct sl_record r = make_record("k", "v");
	sl_seg_batch_begin(&ab, abuf, sizeof(abuf), 0, FIRST_MS);
	sl_seg_batch_add_record(&ab, &r, FIRST_MS);
	sl_seg_batch_finish(&ab, 4096);
}

/* An entry after the last record, in a cap of exactly the padded batch. */
static void not_an_abort_entry_last(void)
{
	struct sl_record r = make_record("k", "v");
	sl_seg_batch_begin(&ab, abuf, 120, 0, FIRST_MS);
	if (sl_seg_batch_add_record(&ab, &r, FIRST_MS) != 0 ||
	    sl_seg_batch_add_dedupe(&ab, &a_entry) != 0 || sl_seg_batch_finish(&ab, 8) != 120)
		_exit(2);
}

/* True when fn dies by SIGABRT from SL_ASSERT. */
static bool aborts(void (*fn)(void))
{
	char err[1024];
	int status = sl_check_run_child(fn, err, sizeof(err));
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
	       strstr(err, "assertion failed") != NULL;
}

static void test_builder_asserts(void)
{
	CHECK(aborts(abort_finish_empty));
	CHECK(aborts(abort_finish_entries_only));
	CHECK(aborts(abort_key_len_0));
	CHECK(aborts(abort_bad_flags));
	CHECK(aborts(abort_padding_over_cap));
	CHECK(aborts(abort_padding_over_cap_entry));
	CHECK(aborts(abort_align_12));
	CHECK(aborts(abort_entry_index));
	CHECK(aborts(abort_entry_record_count_0));
	CHECK(!aborts(not_an_abort));
	CHECK(!aborts(not_an_abort_entry_last));
}

/* ---- file names ---- */

static void test_file_name(void)
{
	char name[32];

	sl_seg_file_name(name, sizeof(name), sl_u128_make(0xDEADBEEF, 0));
	CHECK_STREQ(name, "00000000000000000000.seg");
	sl_seg_file_name(name, sizeof(name), sl_u128_make(1, 42));
	CHECK_STREQ(name, "00000000000000000042.seg");
	sl_seg_file_name(name, sizeof(name), sl_u128_make(UINT64_MAX, UINT64_MAX));
	CHECK_STREQ(name, "18446744073709551615.seg");
	sl_seg_file_name(name, 25, sl_u128_make(0, 12345678901234567890ull));
	CHECK_STREQ(name, "12345678901234567890.seg");
}

int main(void)
{
	pool = xmalloc(RT_POOL_BYTES);
	for (size_t i = 0; i < RT_POOL_BYTES; i++)
		pool[i] = (uint8_t)(rng_next() >> 56);

	test_header_layout();
	test_header_corruption();
	test_golden_bytes();
	test_golden_decode();
	test_golden_doc();
	test_round_trip();
	test_log_walk();
	test_enospc_cap();
	test_enospc_batch_max();
	test_enospc_records_max();
	test_dedupe_max();
	test_arrival();
	test_arrival_floor();
	test_truncated();
	test_bit_flips();
	test_structure();
	test_record_limits();
	test_batch_flags();
	test_builder_asserts();
	test_file_name();
	free(pool);
	return sl_check_finish("segment");
}
