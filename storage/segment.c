/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The segment format codec: encode and check segment headers, build record
 * batches in a buffer the writer owns, check batches read back from disk and
 * iterate their records. Pure functions over (bytes, length) with no I/O and
 * no allocation, so the writer, recovery, readers, the unit test and the fuzz
 * target all drive the same code. The byte layout is in <sluice/segment.h>;
 * docs/formats/segment.md repeats it for operators.
 *
 * Rules, in the order they are checked (the order decides which error wins):
 *
 * Segment header: fewer than 64 bytes is -EAGAIN; then magic, the CRC over
 * bytes 0..59 (-EBADMSG), the version (-EPROTO: a header whose CRC holds but
 * whose version is not 1 is a file from another release, not corruption),
 * header_len 4096, reserved bytes 40..59 zero (-EBADMSG). Bytes 64..4095 are
 * not read.
 *
 * Batch header (sl_seg_batch_header_decode): fewer than 64 bytes is -EAGAIN;
 * then magic, version 1, flags only bit 0 (OVERLAPPED), header_len 64,
 * reserved bytes zero,
 * batch_len a multiple of 8, at most SL_SEG_BATCH_BYTES_MAX, at least
 * 64 + payload_len and at most 4095 bytes of padding beyond it (the builder
 * pads to 8 or 4096), record_count 1..SL_SEG_BATCH_RECORDS_MAX, dedupe_count
 * at most SL_SEG_DEDUPE_MAX, payload_len large enough for that many entries
 * and record headers, first_arrival_ms <= last_arrival_ms within 2^32 - 1 ms,
 * and base_seq's low 64 bits + record_count - 1 not wrapping (every record of
 * a shard shares the high 64 bits). Any failure is -EBADMSG. These checks run
 * before the CRC, which needs the whole batch: a clean prefix of a valid
 * batch is therefore always -EAGAIN, never -EBADMSG.
 *
 * Whole batch (sl_seg_batch_check): the header as above; fewer than
 * batch_len bytes is -EAGAIN; then the CRC over header bytes 0..59 and the
 * payload; then the payload's structure: each record's flags only bit 0,
 * key_len 1..SL_PARTITION_KEY_MAX, key_len + data_len <=
 * SL_RECORD_SIZE_LIMIT, the record within the payload; record 0's arrival
 * delta 0 and first_arrival_ms + the greatest delta == last_arrival_ms; the
 * records end exactly where the dedupe entries begin (payload_len less
 * 40 x dedupe_count); each dedupe entry's reserved bytes zero, record_count
 * >= 1 and entry_index < entry_count. The padding is not covered by the CRC
 * and is not read.
 *
 * The builder writes records straight into the caller's buffer as they are
 * added; dedupe entries, which may be added at any time, wait at the top of
 * the buffer. finish() moves them behind the records, writes the header
 * last and checks its own
 * output with sl_seg_batch_check (SL_ASSERT_HOT): the CRC is verified before
 * the batch is written, and recovery verifies it again after it is read.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>
#include <sluice/record.h>
#include <sluice/segment.h>
#include <sluice/u128.h>

/* Segment header field offsets. */
#define SH_MAGIC          0
#define SH_VERSION        4
#define SH_HEADER_LEN     6
#define SH_STREAM_ID      8
#define SH_SHARD_ID       12
#define SH_BASE_SEQ       16
#define SH_CREATED_MS     32
#define SH_RESERVED       40
#define SH_RESERVED_BYTES 20
#define SH_CRC            60

/* Batch header field offsets. */
#define BH_MAGIC         0
#define BH_VERSION       4
#define BH_FLAGS         5
#define BH_HEADER_LEN    6
#define BH_BATCH_LEN     8
#define BH_PAYLOAD_LEN   12
#define BH_BASE_SEQ      16
#define BH_RECORD_COUNT  32
#define BH_DEDUPE_COUNT  36
#define BH_RESERVED_A    38
#define BH_FIRST_ARRIVAL 40
#define BH_LAST_ARRIVAL  48
#define BH_RESERVED_B    56
#define BH_CRC           60

/* Dedupe entry field offsets. */
#define DE_PRODUCER_ID  0
#define DE_BATCH_SEQ    8
#define DE_FIRST_SEQ    16
#define DE_RECORD_COUNT 32
#define DE_ENTRY_INDEX  34
#define DE_ENTRY_COUNT  36
#define DE_RESERVED     38

/* Record header field offsets. */
#define RH_ARRIVAL_DELTA 0
#define RH_FLAGS         4
#define RH_KEY_LEN       5
#define RH_DATA_LEN      7

#define HASH_KEY_BYTES 16
/* The largest alignment finish() pads to, so the most padding a batch has. */
#define ALIGN_MAX 4096u

SL_STATIC_ASSERT(SH_RESERVED == SH_CREATED_MS + 8);
SL_STATIC_ASSERT(SH_CREATED_MS == SH_BASE_SEQ + 16);
SL_STATIC_ASSERT(SH_CRC == SH_RESERVED + SH_RESERVED_BYTES);
SL_STATIC_ASSERT(SH_CRC + 4 == SL_SEG_HEADER_USED);
SL_STATIC_ASSERT(SL_SEG_HEADER_BYTES <= UINT16_MAX);

SL_STATIC_ASSERT(BH_RECORD_COUNT == BH_BASE_SEQ + 16);
SL_STATIC_ASSERT(BH_LAST_ARRIVAL == BH_FIRST_ARRIVAL + 8);
SL_STATIC_ASSERT(BH_RESERVED_B == BH_LAST_ARRIVAL + 8);
SL_STATIC_ASSERT(BH_CRC + 4 == SL_SEG_BATCH_HEADER_BYTES);
SL_STATIC_ASSERT(SL_SEG_BATCH_HEADER_BYTES <= UINT16_MAX);
SL_STATIC_ASSERT(SL_SEG_BATCH_HEADER_BYTES % SL_SEG_BATCH_ALIGN == 0);

SL_STATIC_ASSERT(DE_RECORD_COUNT == DE_FIRST_SEQ + 16);
SL_STATIC_ASSERT(DE_RESERVED + 2 == SL_SEG_DEDUPE_BYTES);
SL_STATIC_ASSERT(RH_DATA_LEN + 4 == SL_SEG_RECORD_HEADER_BYTES);

/* batch_len is a u32, padding never takes a batch past the maximum. */
SL_STATIC_ASSERT(SL_SEG_BATCH_BYTES_MAX <= UINT32_MAX);
SL_STATIC_ASSERT(SL_SEG_BATCH_BYTES_MAX % ALIGN_MAX == 0);
SL_STATIC_ASSERT(ALIGN_MAX % SL_SEG_BATCH_ALIGN == 0);
SL_STATIC_ASSERT(SL_SEG_BATCH_HEADER_BYTES + SL_SEG_DEDUPE_MAX * SL_SEG_DEDUPE_BYTES <=
		 SL_SEG_BATCH_BYTES_MAX);
/* A key length fits its u16 field, a record's size fits a u32. */
SL_STATIC_ASSERT(SL_PARTITION_KEY_MAX <= UINT16_MAX);
SL_STATIC_ASSERT((uint64_t)SL_SEG_RECORD_HEADER_BYTES + HASH_KEY_BYTES + SL_RECORD_SIZE_LIMIT <=
		 UINT32_MAX);

static uint16_t load_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load_be64(const uint8_t *p)
{
	return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static void store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	store_be32(p, (uint32_t)(v >> 32));
	store_be32(p + 4, (uint32_t)v);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

void sl_seg_header_encode(uint8_t *out, const struct sl_seg_header *h)
{
	memset(out, 0, SL_SEG_HEADER_BYTES);
	store_be32(out + SH_MAGIC, SL_SEG_MAGIC);
	store_be16(out + SH_VERSION, SL_SEG_VERSION);
	store_be16(out + SH_HEADER_LEN, SL_SEG_HEADER_BYTES);
	store_be32(out + SH_STREAM_ID, h->stream_id);
	store_be32(out + SH_SHARD_ID, h->shard_id);
	sl_u128_store_be(out + SH_BASE_SEQ, h->base_seq);
	store_be64(out + SH_CREATED_MS, h->created_ms);
	store_be32(out + SH_CRC, sl_crc32c(out, SH_CRC));
}

int sl_seg_header_decode(const uint8_t *buf, size_t len, struct sl_seg_header *h)
{
	if (len < SL_SEG_HEADER_USED)
		return -EAGAIN;
	if (load_be32(buf + SH_MAGIC) != SL_SEG_MAGIC)
		return -EBADMSG;
	if (load_be32(buf + SH_CRC) != sl_crc32c(buf, SH_CRC))
		return -EBADMSG;
	if (load_be16(buf + SH_VERSION) != SL_SEG_VERSION)
		return -EPROTO;
	if (load_be16(buf + SH_HEADER_LEN) != SL_SEG_HEADER_BYTES)
		return -EBADMSG;
	if (!all_zero(buf + SH_RESERVED, SH_RESERVED_BYTES))
		return -EBADMSG;
	h->stream_id = load_be32(buf + SH_STREAM_ID);
	h->shard_id = load_be32(buf + SH_SHARD_ID);
	h->base_seq = sl_u128_load_be(buf + SH_BASE_SEQ);
	h->created_ms = load_be64(buf + SH_CREATED_MS);
	return 0;
}

/* The batch header's relations between lengths, counts and times. */
static bool batch_fields_valid(const struct sl_seg_batch *b)
{
	uint64_t used = (uint64_t)SL_SEG_BATCH_HEADER_BYTES + b->payload_len;
	uint64_t payload_min = (uint64_t)b->dedupe_count * SL_SEG_DEDUPE_BYTES +
			       (uint64_t)b->record_count * SL_SEG_RECORD_HEADER_BYTES;

	if (b->batch_len % SL_SEG_BATCH_ALIGN != 0 || b->batch_len > SL_SEG_BATCH_BYTES_MAX)
		return false;
	if (used > b->batch_len || b->batch_len - used >= ALIGN_MAX)
		return false;
	if (b->record_count == 0 || b->record_count > SL_SEG_BATCH_RECORDS_MAX)
		return false;
	if (b->dedupe_count > SL_SEG_DEDUPE_MAX || payload_min > b->payload_len)
		return false;
	/* Unsigned: a last_arrival_ms before first_arrival_ms wraps and fails here too. */
	if (b->last_arrival_ms - b->first_arrival_ms > UINT32_MAX)
		return false;
	return sl_u128_lo(b->base_seq) <= UINT64_MAX - (b->record_count - 1);
}

int sl_seg_batch_header_decode(const uint8_t *buf, size_t len, struct sl_seg_batch *out)
{
	struct sl_seg_batch b;

	if (len < SL_SEG_BATCH_HEADER_BYTES)
		return -EAGAIN;
	if (load_be32(buf + BH_MAGIC) != SL_SEG_BATCH_MAGIC)
		return -EBADMSG;
	if (buf[BH_VERSION] != SL_SEG_VERSION || (buf[BH_FLAGS] & ~SL_SEG_BATCH_F_OVERLAPPED) != 0)
		return -EBADMSG;
	if (load_be16(buf + BH_HEADER_LEN) != SL_SEG_BATCH_HEADER_BYTES)
		return -EBADMSG;
	if (!all_zero(buf + BH_RESERVED_A, 2) || !all_zero(buf + BH_RESERVED_B, 4))
		return -EBADMSG;
	b.flags = buf[BH_FLAGS];
	b.batch_len = load_be32(buf + BH_BATCH_LEN);
	b.payload_len = load_be32(buf + BH_PAYLOAD_LEN);
	b.base_seq = sl_u128_load_be(buf + BH_BASE_SEQ);
	b.record_count = load_be32(buf + BH_RECORD_COUNT);
	b.dedupe_count = load_be16(buf + BH_DEDUPE_COUNT);
	b.first_arrival_ms = load_be64(buf + BH_FIRST_ARRIVAL);
	b.last_arrival_ms = load_be64(buf + BH_LAST_ARRIVAL);
	if (!batch_fields_valid(&b))
		return -EBADMSG;
	*out = b;
	return 0;
}

static bool dedupe_valid(const uint8_t *p)
{
	if (!all_zero(p + DE_RESERVED, 2))
		return false;
	if (load_be16(p + DE_RECORD_COUNT) == 0)
		return false;
	return load_be16(p + DE_ENTRY_INDEX) < load_be16(p + DE_ENTRY_COUNT);
}

/*
 * Check the record at p with `avail` payload bytes left (at least a record
 * header); set its size and arrival delta. False when it breaks a rule.
 */
static bool record_valid(const uint8_t *p, size_t avail, size_t *rec_len, uint32_t *delta)
{
	uint8_t flags = p[RH_FLAGS];
	uint16_t key_len = load_be16(p + RH_KEY_LEN);
	uint32_t data_len = load_be32(p + RH_DATA_LEN);

	if ((flags & ~SL_RECORD_F_EXPLICIT_HASH_KEY) != 0)
		return false;
	if (key_len == 0 || key_len > SL_PARTITION_KEY_MAX)
		return false;
	if ((uint64_t)key_len + data_len > SL_RECORD_SIZE_LIMIT)
		return false;
	/* Bounded by the checks above and the static asserts: no overflow. */
	size_t len = SL_SEG_RECORD_HEADER_BYTES + key_len + data_len +
		     ((flags & SL_RECORD_F_EXPLICIT_HASH_KEY) ? HASH_KEY_BYTES : 0);
	if (len > avail)
		return false;
	*rec_len = len;
	*delta = load_be32(p + RH_ARRIVAL_DELTA);
	return true;
}

/* The records, then the dedupe entries, exactly fill the payload. */
static int check_payload(const uint8_t *buf, const struct sl_seg_batch *b)
{
	const uint8_t *payload = buf + SL_SEG_BATCH_HEADER_BYTES;
	size_t dedupe_bytes = (size_t)b->dedupe_count * SL_SEG_DEDUPE_BYTES;
	size_t end = b->payload_len - dedupe_bytes;
	size_t off = 0;
	uint32_t delta_max = 0;

	SL_ASSERT_HOT(dedupe_bytes <= b->payload_len); /* batch_fields_valid */
	for (uint32_t i = 0; i < b->record_count; i++) {
		size_t rec_len;
		uint32_t delta;

		if (end - off < SL_SEG_RECORD_HEADER_BYTES)
			return -EBADMSG;
		if (!record_valid(payload + off, end - off, &rec_len, &delta))
			return -EBADMSG;
		if (i == 0 && delta != 0)
			return -EBADMSG;
		if (delta > delta_max)
			delta_max = delta;
		off += rec_len;
	}
	if (off != end)
		return -EBADMSG;
	for (uint16_t i = 0; i < b->dedupe_count; i++)
		if (!dedupe_valid(payload + end + (size_t)i * SL_SEG_DEDUPE_BYTES))
			return -EBADMSG;
	if (b->first_arrival_ms + delta_max != b->last_arrival_ms)
		return -EBADMSG;
	return 0;
}

int sl_seg_batch_set_flags(uint8_t *buf, size_t len, uint8_t flags)
{
	struct sl_seg_batch b;
	if ((flags & ~SL_SEG_BATCH_F_OVERLAPPED) != 0 || sl_seg_batch_check(buf, len, &b) != 0)
		return -EBADMSG;
	buf[BH_FLAGS] = flags;
	uint32_t crc = sl_crc32c(buf, BH_CRC);
	crc = sl_crc32c_update(crc, buf + SL_SEG_BATCH_HEADER_BYTES, b.payload_len);
	store_be32(buf + BH_CRC, crc);
	return 0;
}

int sl_seg_batch_check(const uint8_t *buf, size_t len, struct sl_seg_batch *out)
{
	int rc = sl_seg_batch_header_decode(buf, len, out);
	if (rc != 0)
		return rc;
	if (len < out->batch_len)
		return -EAGAIN;
	uint32_t crc = sl_crc32c(buf, BH_CRC);
	crc = sl_crc32c_update(crc, buf + SL_SEG_BATCH_HEADER_BYTES, out->payload_len);
	if (crc != load_be32(buf + BH_CRC))
		return -EBADMSG;
	return check_payload(buf, out);
}

/*
 * What the builder may still fill: cap (never more than a batch's maximum)
 * less the records so far and the dedupe entries, which wait at the top of
 * the buffer until finish() moves them behind the records.
 */
static size_t builder_room(const struct sl_seg_builder *b)
{
	size_t limit = b->cap < SL_SEG_BATCH_BYTES_MAX ? b->cap : SL_SEG_BATCH_BYTES_MAX;
	size_t used = b->len + (size_t)b->dedupe_added * SL_SEG_DEDUPE_BYTES;

	SL_ASSERT(used <= limit);
	return limit - used;
}

void sl_seg_batch_begin(struct sl_seg_builder *b, uint8_t *buf, size_t cap, sl_u128 base_seq,
			uint64_t first_arrival_ms)
{
	SL_ASSERT(buf != NULL);
	SL_ASSERT(cap >= SL_SEG_BATCH_HEADER_BYTES);

	b->buf = buf;
	b->cap = cap < SL_SEG_BATCH_BYTES_MAX ? cap : SL_SEG_BATCH_BYTES_MAX;
	b->len = SL_SEG_BATCH_HEADER_BYTES;
	b->base_seq = base_seq;
	b->record_count = 0;
	b->dedupe_added = 0;
	b->first_arrival_ms = first_arrival_ms;
	b->last_arrival_ms = first_arrival_ms;
	b->flags = 0;
}

/* Where dedupe entry i waits until finish(): the top of the buffer, downward. */
static uint8_t *dedupe_slot(const struct sl_seg_builder *b, uint16_t i)
{
	return b->buf + b->cap - ((size_t)i + 1) * SL_SEG_DEDUPE_BYTES;
}

int sl_seg_batch_add_dedupe(struct sl_seg_builder *b, const struct sl_seg_dedupe *d)
{
	SL_ASSERT(d->record_count >= 1);
	SL_ASSERT(d->entry_index < d->entry_count);

	if (b->dedupe_added == SL_SEG_DEDUPE_MAX || builder_room(b) < SL_SEG_DEDUPE_BYTES)
		return -ENOSPC;
	uint8_t *p = dedupe_slot(b, b->dedupe_added);
	store_be64(p + DE_PRODUCER_ID, d->producer_id);
	store_be64(p + DE_BATCH_SEQ, d->batch_seq);
	sl_u128_store_be(p + DE_FIRST_SEQ, d->first_seq);
	store_be16(p + DE_RECORD_COUNT, d->record_count);
	store_be16(p + DE_ENTRY_INDEX, d->entry_index);
	store_be16(p + DE_ENTRY_COUNT, d->entry_count);
	store_be16(p + DE_RESERVED, 0);
	b->dedupe_added++;
	return 0;
}

/* Move the waiting dedupe entries behind the records, in the order added. */
static void place_dedupe(struct sl_seg_builder *b)
{
	size_t n = b->dedupe_added;
	uint8_t tmp[SL_SEG_DEDUPE_BYTES];
	if (n == 0)
		return;
	/* One block move (it may overlap), which leaves them last-first... */
	memmove(b->buf + b->len, dedupe_slot(b, (uint16_t)(n - 1)), n * SL_SEG_DEDUPE_BYTES);
	/* ...then reverse the order of the 40-byte entries in place. */
	for (size_t i = 0, j = n - 1; i < j; i++, j--) {
		uint8_t *x = b->buf + b->len + i * SL_SEG_DEDUPE_BYTES;
		uint8_t *y = b->buf + b->len + j * SL_SEG_DEDUPE_BYTES;
		memcpy(tmp, x, sizeof(tmp));
		memcpy(x, y, sizeof(tmp));
		memcpy(y, tmp, sizeof(tmp));
	}
	b->len += n * SL_SEG_DEDUPE_BYTES;
}

/* The ingest doors check these before a record reaches a shard. */
static void assert_record_valid(const struct sl_record *r)
{
	SL_ASSERT(r->key != NULL);
	SL_ASSERT(r->key_len >= 1);
	SL_ASSERT(r->key_len <= SL_PARTITION_KEY_MAX);
	SL_ASSERT((uint64_t)r->key_len + r->data_len <= SL_RECORD_SIZE_LIMIT);
	SL_ASSERT(r->data != NULL || r->data_len == 0);
	SL_ASSERT((r->flags & ~SL_RECORD_F_EXPLICIT_HASH_KEY) == 0);
}

static void write_record(uint8_t *p, const struct sl_record *r, uint32_t delta)
{
	store_be32(p + RH_ARRIVAL_DELTA, delta);
	p[RH_FLAGS] = r->flags;
	store_be16(p + RH_KEY_LEN, r->key_len);
	store_be32(p + RH_DATA_LEN, r->data_len);
	p += SL_SEG_RECORD_HEADER_BYTES;
	memcpy(p, r->key, r->key_len);
	p += r->key_len;
	if (r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY) {
		sl_u128_store_be(p, r->hash_key);
		p += HASH_KEY_BYTES;
	}
	if (r->data_len > 0)
		memcpy(p, r->data, r->data_len);
}

int sl_seg_batch_add_record(struct sl_seg_builder *b, const struct sl_record *r,
			    uint64_t arrival_ms)
{
	/*
	 * Before record 0, first_arrival_ms is begin()'s floor; record 0's arrival
	 * (raised to it) becomes the batch's first. A later record's arrival
	 * before that (a wall clock that stepped back) is stored as the first.
	 */
	uint64_t arrival = arrival_ms > b->first_arrival_ms ? arrival_ms : b->first_arrival_ms;
	uint64_t first = b->record_count == 0 ? arrival : b->first_arrival_ms;

	SL_ASSERT(b->record_count <= UINT64_MAX - sl_u128_lo(b->base_seq));
	assert_record_valid(r);

	size_t rec_len = sl_seg_record_bytes(r);
	if (b->record_count >= SL_SEG_BATCH_RECORDS_MAX || rec_len > builder_room(b))
		return -ENOSPC;
	if (arrival - first > UINT32_MAX)
		return -ENOSPC;
	write_record(b->buf + b->len, r, (uint32_t)(arrival - first));
	b->len += rec_len;
	b->record_count++;
	b->first_arrival_ms = first;
	if (arrival > b->last_arrival_ms)
		b->last_arrival_ms = arrival;
	return 0;
}

/* The pair check's first half: the batch about to be written reads back as built. */
static bool builder_output_valid(const struct sl_seg_builder *b, size_t batch_len)
{
	struct sl_seg_batch chk;

	if (sl_seg_batch_check(b->buf, batch_len, &chk) != 0)
		return false;
	return chk.batch_len == batch_len && chk.record_count == b->record_count &&
	       chk.dedupe_count == b->dedupe_added && chk.base_seq == b->base_seq &&
	       chk.payload_len == b->len - SL_SEG_BATCH_HEADER_BYTES &&
	       chk.last_arrival_ms == b->last_arrival_ms;
}

size_t sl_seg_batch_finish(struct sl_seg_builder *b, size_t align)
{
	SL_ASSERT(align >= SL_SEG_BATCH_ALIGN);
	SL_ASSERT(align <= ALIGN_MAX);
	SL_ASSERT((align & (align - 1)) == 0);
	SL_ASSERT(b->record_count >= 1);

	place_dedupe(b);
	size_t batch_len = (b->len + align - 1) & ~(align - 1);
	SL_ASSERT(batch_len <= b->cap);
	SL_ASSERT(batch_len <= SL_SEG_BATCH_BYTES_MAX);
	memset(b->buf + b->len, 0, batch_len - b->len);

	uint8_t *h = b->buf;
	memset(h, 0, SL_SEG_BATCH_HEADER_BYTES);
	store_be32(h + BH_MAGIC, SL_SEG_BATCH_MAGIC);
	h[BH_VERSION] = SL_SEG_VERSION;
	SL_ASSERT((b->flags & ~SL_SEG_BATCH_F_OVERLAPPED) == 0);
	h[BH_FLAGS] = b->flags;
	store_be16(h + BH_HEADER_LEN, SL_SEG_BATCH_HEADER_BYTES);
	store_be32(h + BH_BATCH_LEN, (uint32_t)batch_len);
	store_be32(h + BH_PAYLOAD_LEN, (uint32_t)(b->len - SL_SEG_BATCH_HEADER_BYTES));
	sl_u128_store_be(h + BH_BASE_SEQ, b->base_seq);
	store_be32(h + BH_RECORD_COUNT, b->record_count);
	store_be16(h + BH_DEDUPE_COUNT, b->dedupe_added);
	store_be64(h + BH_FIRST_ARRIVAL, b->first_arrival_ms);
	store_be64(h + BH_LAST_ARRIVAL, b->last_arrival_ms);

	uint32_t crc = sl_crc32c(h, BH_CRC);
	crc = sl_crc32c_update(crc, h + SL_SEG_BATCH_HEADER_BYTES,
			       b->len - SL_SEG_BATCH_HEADER_BYTES);
	store_be32(h + BH_CRC, crc);
	/* SL_ASSERT_HOT spelled out: inside sizeof, clang calls the check unneeded. */
	if (SL_ASSERT_HOT_ENABLED)
		SL_ASSERT(builder_output_valid(b, batch_len));
	return batch_len;
}

void sl_seg_iter_init(struct sl_seg_iter *it, const uint8_t *buf, const struct sl_seg_batch *b)
{
	it->buf = buf;
	it->batch = b;
	it->off = SL_SEG_BATCH_HEADER_BYTES;
	it->index = 0;
}

int sl_seg_iter_next(struct sl_seg_iter *it, struct sl_seg_record *rec)
{
	const struct sl_seg_batch *b = it->batch;
	size_t end = SL_SEG_BATCH_HEADER_BYTES + (size_t)b->payload_len -
		     (size_t)b->dedupe_count * SL_SEG_DEDUPE_BYTES;

	if (it->index == b->record_count)
		return 0;
	SL_ASSERT_HOT(it->index < b->record_count);
	SL_ASSERT_HOT(it->off + SL_SEG_RECORD_HEADER_BYTES <= end);

	const uint8_t *p = it->buf + it->off;
	rec->seq = b->base_seq + it->index;
	rec->arrival_ms = b->first_arrival_ms + load_be32(p + RH_ARRIVAL_DELTA);
	rec->flags = p[RH_FLAGS];
	rec->key_len = load_be16(p + RH_KEY_LEN);
	rec->data_len = load_be32(p + RH_DATA_LEN);
	p += SL_SEG_RECORD_HEADER_BYTES;
	rec->key = p;
	p += rec->key_len;
	rec->explicit_hash_key = 0;
	if (rec->flags & SL_RECORD_F_EXPLICIT_HASH_KEY) {
		rec->explicit_hash_key = sl_u128_load_be(p);
		p += HASH_KEY_BYTES;
	}
	rec->data = p;
	size_t next = (size_t)(p - it->buf) + rec->data_len;
	SL_ASSERT_HOT(next <= end);
	it->off = next;
	it->index++;
	return 1;
}

void sl_seg_batch_dedupe(const uint8_t *buf, const struct sl_seg_batch *b, uint16_t i,
			 struct sl_seg_dedupe *out)
{
	SL_ASSERT(i < b->dedupe_count);

	const uint8_t *p = buf + SL_SEG_BATCH_HEADER_BYTES + b->payload_len -
			   (size_t)(b->dedupe_count - i) * SL_SEG_DEDUPE_BYTES;
	out->producer_id = load_be64(p + DE_PRODUCER_ID);
	out->batch_seq = load_be64(p + DE_BATCH_SEQ);
	out->first_seq = sl_u128_load_be(p + DE_FIRST_SEQ);
	out->record_count = load_be16(p + DE_RECORD_COUNT);
	out->entry_index = load_be16(p + DE_ENTRY_INDEX);
	out->entry_count = load_be16(p + DE_ENTRY_COUNT);
}

void sl_seg_file_name(char *name, size_t cap, sl_u128 base_seq)
{
	int n = snprintf(name, cap, "%020llu.seg", (unsigned long long)sl_u128_lo(base_seq));

	SL_ASSERT(n > 0);
	SL_ASSERT((size_t)n < cap);
}
