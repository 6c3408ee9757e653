/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the segment format codec (storage/segment.c). The input is
 * read two ways: as a segment file (sl_seg_header_decode on its start and,
 * when that passes, batches from offset 4096) and as a bare run of batches
 * from offset 0, the way recovery walks a log: sl_seg_batch_check, then
 * every dedupe entry (the payload's last 40 x dedupe_count bytes) and every
 * record (from the payload's start), reading every byte of keys and data so
 * that ASan sees any read past the input, then on by batch_len while the
 * next batch fits.
 *
 * Invariants: no crash, no sanitizer report; each function returns one of
 * its documented codes; the header-only decode and the whole-batch check
 * agree (a clean prefix is -EAGAIN, a bad header -EBADMSG in both); a
 * checked batch yields exactly record_count records with sequence numbers
 * base_seq + n, packed from the payload's start up to exactly where the
 * dedupe entries begin, lengths and arrival times in bounds; and a checked
 * batch rebuilt through the builder from what was decoded, its dedupe
 * entries added interleaved with the records (entry i before record i, the
 * rest after the last) and its flags set, comes out byte for byte the same
 * (the format has one encoding for a given content, padding aside, and the
 * builder puts entries behind the records in the order added whenever they
 * were added).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>
#include <sluice/record.h>
#include <sluice/segment.h>
#include <sluice/u128.h>

/* The records of one batch, for the rebuild; larger batches skip it. */
#define REBUILD_RECORDS_MAX 4096

static struct sl_record rebuild_records[REBUILD_RECORDS_MAX];
static uint64_t rebuild_arrival_ms[REBUILD_RECORDS_MAX];

static volatile uint8_t sink;

static void touch_bytes(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc ^= p[i];
	sink ^= acc;
}

static void check_segment_header(const uint8_t *data, size_t size)
{
	struct sl_seg_header h;
	int rc = sl_seg_header_decode(data, size, &h);

	SL_ASSERT(rc == 0 || rc == -EAGAIN || rc == -EBADMSG || rc == -EPROTO);
	SL_ASSERT((rc == -EAGAIN) == (size < SL_SEG_HEADER_USED));
}

/* One record against its batch; returns where the next one may start. */
static const uint8_t *check_record(const struct sl_seg_record *r, const struct sl_seg_batch *b,
				   const uint8_t *from, const uint8_t *end, uint32_t n)
{
	SL_ASSERT(r->seq == b->base_seq + n);
	SL_ASSERT(r->key_len >= 1);
	SL_ASSERT(r->key_len <= SL_PARTITION_KEY_MAX);
	SL_ASSERT((uint64_t)r->key_len + r->data_len <= SL_RECORD_SIZE_LIMIT);
	SL_ASSERT((r->flags & ~SL_RECORD_F_EXPLICIT_HASH_KEY) == 0);
	SL_ASSERT(r->arrival_ms >= b->first_arrival_ms);
	SL_ASSERT(r->arrival_ms <= b->last_arrival_ms);
	SL_ASSERT(n > 0 || r->arrival_ms == b->first_arrival_ms);
	/* Records are packed: key right after the header, data after the key. */
	SL_ASSERT(r->key == from + SL_SEG_RECORD_HEADER_BYTES);
	SL_ASSERT(r->data ==
		  r->key + r->key_len + ((r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY) ? 16 : 0));
	SL_ASSERT(r->data <= end);
	SL_ASSERT((size_t)(end - r->data) >= r->data_len);
	touch_bytes(r->key, r->key_len);
	touch_bytes(r->data, r->data_len);
	return r->data + r->data_len;
}

/* Walk the records and entries of a checked batch at p. */
static void walk_batch(const uint8_t *p, const struct sl_seg_batch *b)
{
	const uint8_t *payload = p + SL_SEG_BATCH_HEADER_BYTES;
	/* The records come first; the entries take the payload's last bytes. */
	const uint8_t *end =
	    payload + b->payload_len - (size_t)b->dedupe_count * SL_SEG_DEDUPE_BYTES;
	const uint8_t *next = payload;
	uint64_t arrival_max = b->first_arrival_ms;
	struct sl_seg_iter it;
	struct sl_seg_record r;
	uint32_t n = 0;

	for (uint16_t i = 0; i < b->dedupe_count; i++) {
		struct sl_seg_dedupe d;
		sl_seg_batch_dedupe(p, b, i, &d);
		SL_ASSERT(d.record_count >= 1);
		SL_ASSERT(d.entry_index < d.entry_count);
	}
	sl_seg_iter_init(&it, p, b);
	while (sl_seg_iter_next(&it, &r) == 1) {
		SL_ASSERT(n < b->record_count);
		next = check_record(&r, b, next, end, n);
		if (r.arrival_ms > arrival_max)
			arrival_max = r.arrival_ms;
		if (n < REBUILD_RECORDS_MAX) {
			rebuild_records[n] = (struct sl_record){
			    .key = r.key,
			    .data = r.data,
			    .hash_key = r.explicit_hash_key,
			    .data_len = r.data_len,
			    .key_len = r.key_len,
			    .flags = r.flags,
			};
			rebuild_arrival_ms[n] = r.arrival_ms;
		}
		n++;
	}
	SL_ASSERT(n == b->record_count);
	SL_ASSERT(next == end);
	SL_ASSERT(arrival_max == b->last_arrival_ms);
}

/* Build the batch again from its decoded parts: the same bytes. */
static void rebuild_batch(const uint8_t *p, const struct sl_seg_batch *b)
{
	size_t used = SL_SEG_BATCH_HEADER_BYTES + (size_t)b->payload_len;
	size_t cap = used + SL_SEG_BATCH_ALIGN;
	uint8_t *out = malloc(cap);
	struct sl_seg_builder sb;

	if (out == NULL || b->record_count > REBUILD_RECORDS_MAX) {
		free(out);
		return;
	}
	sl_seg_batch_begin(&sb, out, cap, b->base_seq, b->first_arrival_ms);
	for (uint32_t i = 0; i <= b->record_count; i++) {
		/* Entry i before record i; after the last record, the rest. */
		for (uint32_t e = i; e < b->dedupe_count && (e == i || i == b->record_count); e++) {
			struct sl_seg_dedupe d;
			sl_seg_batch_dedupe(p, b, (uint16_t)e, &d);
			SL_ASSERT(sl_seg_batch_add_dedupe(&sb, &d) == 0);
		}
		if (i < b->record_count)
			SL_ASSERT(sl_seg_batch_add_record(&sb, &rebuild_records[i],
							  rebuild_arrival_ms[i]) == 0);
	}
	SL_ASSERT(sb.dedupe_added == b->dedupe_count);
	sb.flags = b->flags;
	size_t len = sl_seg_batch_finish(&sb, SL_SEG_BATCH_ALIGN);
	SL_ASSERT(len >= used);
	SL_ASSERT(len <= b->batch_len);
	/* All but batch_len (8..11) and, when that differs, the CRC (60..63). */
	SL_ASSERT(memcmp(out, p, 8) == 0);
	SL_ASSERT(memcmp(out + 12, p + 12, 48) == 0);
	SL_ASSERT(len != b->batch_len || memcmp(out + 8, p + 8, 4) == 0);
	SL_ASSERT(len != b->batch_len || memcmp(out + 60, p + 60, 4) == 0);
	SL_ASSERT(memcmp(out + SL_SEG_BATCH_HEADER_BYTES, p + SL_SEG_BATCH_HEADER_BYTES,
			 b->payload_len) == 0);
	free(out);
}

/* Check one batch at p (len bytes left); returns its batch_len, or 0 to stop. */
static size_t check_one(const uint8_t *p, size_t len)
{
	struct sl_seg_batch hb, b;
	int hrc = sl_seg_batch_header_decode(p, len, &hb);
	int rc = sl_seg_batch_check(p, len, &b);

	SL_ASSERT(hrc == 0 || hrc == -EAGAIN || hrc == -EBADMSG);
	SL_ASSERT(rc == 0 || rc == -EAGAIN || rc == -EBADMSG);
	SL_ASSERT((hrc == -EAGAIN) == (len < SL_SEG_BATCH_HEADER_BYTES));
	SL_ASSERT(hrc != -EAGAIN || rc == -EAGAIN);
	SL_ASSERT(hrc != -EBADMSG || rc == -EBADMSG);
	if (hrc != 0)
		return 0;
	SL_ASSERT((rc == -EAGAIN) == (len < hb.batch_len));
	if (rc != 0)
		return 0;
	SL_ASSERT(b.batch_len == hb.batch_len && b.payload_len == hb.payload_len);
	SL_ASSERT(b.record_count == hb.record_count && b.dedupe_count == hb.dedupe_count);
	SL_ASSERT(b.batch_len <= len);
	SL_ASSERT(b.batch_len % SL_SEG_BATCH_ALIGN == 0);
	SL_ASSERT(b.batch_len >= SL_SEG_BATCH_HEADER_BYTES + (uint64_t)b.payload_len);
	SL_ASSERT(b.record_count >= 1);
	walk_batch(p, &b);
	rebuild_batch(p, &b);
	return b.batch_len;
}

/*
 * The batch at p once more with its CRC recomputed: a mutated input rarely
 * keeps a good CRC, and this lets the fuzzer reach the payload checks behind
 * it. An exact-size copy, so ASan still sees a read past batch_len.
 */
static void check_recrc(const uint8_t *p, size_t len)
{
	struct sl_seg_batch hb;

	if (sl_seg_batch_header_decode(p, len, &hb) != 0 || len < hb.batch_len)
		return;
	uint8_t *copy = malloc(hb.batch_len);
	if (copy == NULL)
		return;
	memcpy(copy, p, hb.batch_len);
	uint32_t crc = sl_crc32c(copy, 60);
	crc = sl_crc32c_update(crc, copy + SL_SEG_BATCH_HEADER_BYTES, hb.payload_len);
	for (int i = 0; i < 4; i++)
		copy[60 + i] = (uint8_t)(crc >> (24 - 8 * i));
	check_one(copy, hb.batch_len);
	free(copy);
}

static void walk_batches(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* Each step moves at least a batch header: at most size / 64 steps. */
	while (off < size) {
		size_t step = check_one(data + off, size - off);
		if (step == 0) {
			check_recrc(data + off, size - off);
			break;
		}
		SL_ASSERT(step >= SL_SEG_BATCH_HEADER_BYTES);
		SL_ASSERT(step <= size - off);
		off += step;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_seg_header h;

	check_segment_header(data, size);
	walk_batches(data, size);
	if (size >= SL_SEG_HEADER_BYTES && sl_seg_header_decode(data, size, &h) == 0)
		walk_batches(data + SL_SEG_HEADER_BYTES, size - SL_SEG_HEADER_BYTES);
	return 0;
}
