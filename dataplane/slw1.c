/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SLW1 codec: frame parse/validate/build and SLA1 ack build/parse. Pure
 * functions over (bytes, length); the RX loops, the kernel backend, the load
 * generator, the tests and the fuzzer all call the same code.
 *
 * Format (WIRE.md). All integers unsigned big-endian; lengths in bytes.
 * CRC-32C is Castagnoli (sl_crc32c), over every byte before the CRC field.
 *
 * Frame:
 *   0   4  magic        0x534C5731 "SLW1"
 *   4   1  version      1
 *   5   1  flags        bit 0 ACK_REQUESTED, bit 1 AUTH, others 0
 *   6   2  record_count 1..500
 *   8   4  frame_len    whole frame, magic through CRC (and tag); == datagram
 *  12   8  producer_id  0 = anonymous
 *  20   8  batch_seq
 *  28   1  stream_len   1..128
 *  29   stream_len      stream, [A-Za-z0-9_.-]
 *   …   record_count records:
 *         1  rflags     bit 0 EXPLICIT_HASH_KEY, others 0
 *         2  key_len    1..256
 *         key_len       partition key
 *         16            explicit hash key, only with rflags bit 0
 *         4  data_len   key_len + data_len <= the stream's max record size
 *         data_len      data
 *   frame_len-4 (-36 with AUTH)  4  crc32c
 *   with AUTH: 32-byte HMAC-SHA256 tag (no keys yet: UNAUTHORIZED)
 *
 * The records must end exactly at the CRC.
 *
 * Ack (one datagram; an ack may be split in `parts` datagrams):
 *   0   4  magic        0x534C4131 "SLA1"
 *   4   1  version      1
 *   5   1  status       0..9
 *   6   1  flags        bit 0 DUPLICATE, others 0
 *   7   1  part         0..parts-1
 *   8   1  parts        >= 1
 *   9   3  reserved     0
 *  12   8  producer_id
 *  20   8  batch_seq
 *  28   2  entry_count  entries in this datagram
 *  30   2  reserved     0
 *  32   24 × entry_count entries:
 *         4  shard number, 2 record_count, 1 status, 1 reserved 0,
 *         16 first sequence number
 *   …   4  crc32c
 *
 * Parse order: only the fields needed to find the CRC (magic, version,
 * flags, frame_len) are checked before it; then the CRC; then AUTH; then the
 * rest, walking the records with every length checked against what is left
 * before the CRC, so no read leaves buf[0..len). Why CRC early: see
 * sl_slw1_parse() in the header.
 */
#include <errno.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>
#include <sluice/slw1.h>

SL_STATIC_ASSERT(SL_SLW1_HDR_BYTES == 4 + 1 + 1 + 2 + 4 + 8 + 8 + 1);
SL_STATIC_ASSERT(SL_SLW1_PEEK_BYTES == 4 + 1 + 1 + 2 + 4);
SL_STATIC_ASSERT(SL_SLW1_REC_HDR_BYTES == 1 + 2 + 4);
SL_STATIC_ASSERT(SL_SLW1_HASH_KEY_BYTES == sizeof(sl_u128));
SL_STATIC_ASSERT(SL_SLW1_CRC_BYTES == sizeof(uint32_t));
SL_STATIC_ASSERT(SL_SLW1_AUTH_TAG_BYTES == 32);
SL_STATIC_ASSERT(SL_SLW1_ACK_HDR_BYTES == 4 + 1 + 1 + 1 + 1 + 1 + 3 + 8 + 8 + 2 + 2);
SL_STATIC_ASSERT(SL_SLW1_ACK_ENTRY_BYTES == 4 + 2 + 1 + 1 + 16);
SL_STATIC_ASSERT(SL_SLW1_FRAME_MIN == 42);
SL_STATIC_ASSERT(SL_STREAM_NAME_MAX <= UINT8_MAX);
SL_STATIC_ASSERT(SL_PARTITION_KEY_MAX <= UINT16_MAX);
SL_STATIC_ASSERT(SL_FRAME_RECORDS_MAX <= UINT16_MAX);
SL_STATIC_ASSERT(SL_SLW1_FRAME_MAX <= INT32_MAX); /* peek returns it as int */
SL_STATIC_ASSERT(SL_SLW1_ACK_PARTS_MAX == UINT8_MAX);
SL_STATIC_ASSERT(SL_SLW1_STATUS_MAX == 9);

static inline uint16_t load16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t load64(const uint8_t *p)
{
	return (uint64_t)load32(p) << 32 | load32(p + 4);
}

static inline void store16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void store64(uint8_t *p, uint64_t v)
{
	store32(p, (uint32_t)(v >> 32));
	store32(p + 4, (uint32_t)v);
}

/* Bytes after the CRC: the tag, with AUTH. */
static size_t tail_bytes(uint8_t flags)
{
	return (flags & SL_SLW1_F_AUTH) ? SL_SLW1_AUTH_TAG_BYTES : 0;
}

/*
 * The checks that need nothing but the first SL_SLW1_PEEK_BYTES: magic,
 * version, flags and the bounds of frame_len. Returns a reason.
 */
static enum sl_slw1_reason check_prefix(const uint8_t *buf, uint32_t *frame_len)
{
	if (load32(buf) != SL_SLW1_MAGIC)
		return SL_SLW1_R_BAD_MAGIC;
	if (buf[4] != SL_SLW1_VERSION)
		return SL_SLW1_R_BAD_VERSION;
	if ((buf[5] & ~SL_SLW1_F_ALL) != 0)
		return SL_SLW1_R_BAD_FLAGS;
	*frame_len = load32(buf + 8);
	if (*frame_len > SL_SLW1_FRAME_MAX)
		return SL_SLW1_R_BAD_LENGTH;
	if (*frame_len < SL_SLW1_FRAME_MIN + tail_bytes(buf[5]))
		return SL_SLW1_R_BAD_LENGTH;
	return SL_SLW1_R_NONE;
}

int sl_slw1_frame_len_peek(const uint8_t *buf, size_t len)
{
	uint32_t frame_len = 0;

	if (len < SL_SLW1_PEEK_BYTES)
		return -EAGAIN;
	if (check_prefix(buf, &frame_len) != SL_SLW1_R_NONE)
		return -EBADMSG;
	return (int)frame_len;
}

/*
 * Read one record from p[0..avail) into *r; *used is its size. Returns
 * SL_SLW1_R_BAD_RECORD when rflags or key_len break a rule or the record
 * runs past avail (the CRC).
 */
static enum sl_slw1_reason parse_record(const uint8_t *p, size_t avail, struct sl_record *r,
					size_t *used)
{
	if (avail < 3)
		return SL_SLW1_R_BAD_RECORD;
	uint8_t rflags = p[0];
	if ((rflags & ~SL_RECORD_F_EXPLICIT_HASH_KEY) != 0)
		return SL_SLW1_R_BAD_RECORD;
	uint16_t key_len = load16(p + 1);
	if (key_len == 0 || key_len > SL_PARTITION_KEY_MAX)
		return SL_SLW1_R_BAD_RECORD;
	bool explicit_key = (rflags & SL_RECORD_F_EXPLICIT_HASH_KEY) != 0;
	size_t need =
	    SL_SLW1_REC_HDR_BYTES + (size_t)key_len + (explicit_key ? SL_SLW1_HASH_KEY_BYTES : 0);
	if (avail < need)
		return SL_SLW1_R_BAD_RECORD;
	const uint8_t *q = p + 3 + key_len;
	r->key = p + 3;
	r->key_len = key_len;
	r->flags = rflags;
	r->hash_key = 0;
	if (explicit_key) {
		r->hash_key = sl_u128_load_be(q);
		q += SL_SLW1_HASH_KEY_BYTES;
	}
	uint32_t data_len = load32(q);
	if (data_len > avail - need)
		return SL_SLW1_R_BAD_RECORD;
	r->data = q + 4;
	r->data_len = data_len;
	*used = need + data_len;
	return SL_SLW1_R_NONE;
}

/*
 * Everything after the CRC and AUTH checks: record_count, stream, records,
 * trailing bytes, record sizes. body_end is the CRC's offset.
 */
static enum sl_slw1_status parse_body(const uint8_t *buf, size_t body_end, uint32_t record_size_max,
				      struct sl_slw1_frame *out, struct sl_record *recs,
				      uint16_t recs_cap)
{
	uint16_t count = load16(buf + 6);
	if (count == 0 || count > SL_FRAME_RECORDS_MAX || count > recs_cap) {
		out->reason = SL_SLW1_R_BAD_COUNT;
		return SL_SLW1_MALFORMED;
	}
	uint8_t stream_len = buf[28];
	if (SL_SLW1_HDR_BYTES + (size_t)stream_len > body_end ||
	    !sl_stream_name_valid((const char *)buf + SL_SLW1_HDR_BYTES, stream_len)) {
		out->reason = SL_SLW1_R_BAD_STREAM;
		return SL_SLW1_MALFORMED;
	}
	size_t off = SL_SLW1_HDR_BYTES + (size_t)stream_len;
	bool too_large = false;
	uint16_t first_too_large = 0;
	for (uint16_t i = 0; i < count; i++) {
		size_t used = 0;
		out->reason = parse_record(buf + off, body_end - off, &recs[i], &used);
		if (out->reason != SL_SLW1_R_NONE) {
			out->bad_record = i;
			return SL_SLW1_MALFORMED;
		}
		SL_ASSERT_HOT(used <= body_end - off);
		off += used;
		if (!too_large && (uint64_t)recs[i].key_len + recs[i].data_len > record_size_max) {
			too_large = true;
			first_too_large = i;
		}
	}
	if (off != body_end) {
		out->reason = SL_SLW1_R_TRAILING;
		return SL_SLW1_MALFORMED;
	}
	out->record_count = count;
	if (too_large) {
		out->bad_record = first_too_large;
		return SL_SLW1_TOO_LARGE;
	}
	out->stream = (const char *)buf + SL_SLW1_HDR_BYTES;
	out->stream_len = stream_len;
	return SL_SLW1_OK;
}

enum sl_slw1_status sl_slw1_parse(const uint8_t *buf, size_t len, uint32_t record_size_max,
				  struct sl_slw1_frame *out, struct sl_record *recs,
				  uint16_t recs_cap)
{
	uint32_t frame_len = 0;

	SL_ASSERT_HOT(record_size_max > 0);
	SL_ASSERT_HOT(record_size_max <= SL_RECORD_SIZE_LIMIT);
	memset(out, 0, sizeof(*out));
	out->reason = SL_SLW1_R_BAD_LENGTH;
	if (len < SL_SLW1_HDR_BYTES)
		return SL_SLW1_MALFORMED;
	out->reason = check_prefix(buf, &frame_len);
	if (out->reason == SL_SLW1_R_BAD_MAGIC || out->reason == SL_SLW1_R_BAD_VERSION)
		return SL_SLW1_MALFORMED;
	/* An SLW1 header: worth echoing in the ack, whatever follows. */
	out->flags = buf[5];
	out->frame_len = load32(buf + 8);
	out->producer_id = load64(buf + 12);
	out->batch_seq = load64(buf + 20);
	if (out->reason != SL_SLW1_R_NONE)
		return SL_SLW1_MALFORMED;
	if (frame_len != len) {
		out->reason = SL_SLW1_R_BAD_LENGTH;
		return SL_SLW1_MALFORMED;
	}
	size_t crc_off = len - SL_SLW1_CRC_BYTES - tail_bytes(out->flags);
	if (sl_crc32c(buf, crc_off) != load32(buf + crc_off)) {
		out->reason = SL_SLW1_R_BAD_CRC;
		return SL_SLW1_MALFORMED;
	}
	if (out->flags & SL_SLW1_F_AUTH)
		return SL_SLW1_UNAUTHORIZED;
	return parse_body(buf, crc_off, record_size_max, out, recs, recs_cap);
}

/* Size of one record on the wire. */
static uint64_t record_wire_bytes(const struct sl_record *r)
{
	uint64_t n = SL_SLW1_REC_HDR_BYTES + (uint64_t)r->key_len + r->data_len;
	if (r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY)
		n += SL_SLW1_HASH_KEY_BYTES;
	return n;
}

static uint8_t *write_record(uint8_t *p, const struct sl_record *r)
{
	*p++ = r->flags;
	store16(p, r->key_len);
	p += 2;
	memcpy(p, r->key, r->key_len);
	p += r->key_len;
	if (r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY) {
		sl_u128_store_be(p, r->hash_key);
		p += SL_SLW1_HASH_KEY_BYTES;
	}
	store32(p, r->data_len);
	p += 4;
	if (r->data_len > 0)
		memcpy(p, r->data, r->data_len);
	return p + r->data_len;
}

size_t sl_slw1_frame_build(uint8_t *out, size_t cap, const struct sl_slw1_frame_hdr *h,
			   const struct sl_record *recs, uint16_t n)
{
	SL_ASSERT(n >= 1);
	SL_ASSERT(n <= SL_FRAME_RECORDS_MAX);
	SL_ASSERT(h->stream_len >= 1);
	SL_ASSERT(h->stream_len <= SL_STREAM_NAME_MAX);
	SL_ASSERT((h->flags & ~SL_SLW1_F_ALL) == 0);

	uint64_t total =
	    SL_SLW1_HDR_BYTES + (uint64_t)h->stream_len + SL_SLW1_CRC_BYTES + tail_bytes(h->flags);
	for (uint16_t i = 0; i < n; i++) {
		SL_ASSERT(recs[i].key_len >= 1);
		SL_ASSERT(recs[i].key_len <= SL_PARTITION_KEY_MAX);
		SL_ASSERT((recs[i].flags & ~SL_RECORD_F_EXPLICIT_HASH_KEY) == 0);
		total += record_wire_bytes(&recs[i]);
	}
	if (total > cap || total > SL_SLW1_FRAME_MAX)
		return 0;

	store32(out, SL_SLW1_MAGIC);
	out[4] = SL_SLW1_VERSION;
	out[5] = h->flags;
	store16(out + 6, n);
	store32(out + 8, (uint32_t)total);
	store64(out + 12, h->producer_id);
	store64(out + 20, h->batch_seq);
	out[28] = h->stream_len;
	memcpy(out + SL_SLW1_HDR_BYTES, h->stream, h->stream_len);
	uint8_t *p = out + SL_SLW1_HDR_BYTES + h->stream_len;
	for (uint16_t i = 0; i < n; i++)
		p = write_record(p, &recs[i]);
	size_t crc_off = (size_t)(p - out);
	SL_ASSERT(crc_off + SL_SLW1_CRC_BYTES + tail_bytes(h->flags) == total);
	store32(p, sl_crc32c(out, crc_off));
	/* No keys yet: the tag is a placeholder the parser answers UNAUTHORIZED. */
	memset(p + SL_SLW1_CRC_BYTES, 0, tail_bytes(h->flags));
	return (size_t)total;
}

size_t sl_slw1_ack_build(uint8_t *out, size_t cap, const struct sl_slw1_ack *ack,
			 const struct sl_slw1_ack_entry *entries, uint16_t n)
{
	SL_ASSERT(ack->status <= SL_SLW1_STATUS_MAX);
	SL_ASSERT((ack->flags & ~SL_SLW1_ACK_F_DUPLICATE) == 0);
	SL_ASSERT(ack->parts >= 1);
	SL_ASSERT(ack->part < ack->parts);

	size_t total =
	    SL_SLW1_ACK_HDR_BYTES + (size_t)n * SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES;
	if (total > cap)
		return 0;
	memset(out, 0, SL_SLW1_ACK_HDR_BYTES);
	store32(out, SL_SLW1_ACK_MAGIC);
	out[4] = SL_SLW1_VERSION;
	out[5] = ack->status;
	out[6] = ack->flags;
	out[7] = ack->part;
	out[8] = ack->parts;
	store64(out + 12, ack->producer_id);
	store64(out + 20, ack->batch_seq);
	store16(out + 28, n);
	uint8_t *p = out + SL_SLW1_ACK_HDR_BYTES;
	for (uint16_t i = 0; i < n; i++, p += SL_SLW1_ACK_ENTRY_BYTES) {
		SL_ASSERT(entries[i].status <= SL_SLW1_STATUS_MAX);
		store32(p, entries[i].shard);
		store16(p + 4, entries[i].record_count);
		p[6] = entries[i].status;
		p[7] = 0;
		sl_u128_store_be(p + 8, entries[i].first_seq);
	}
	store32(p, sl_crc32c(out, (size_t)(p - out)));
	return total;
}

/* The ack header's rules; fills *ack. */
static bool ack_header_valid(const uint8_t *buf, struct sl_slw1_ack *ack)
{
	if (load32(buf) != SL_SLW1_ACK_MAGIC || buf[4] != SL_SLW1_VERSION)
		return false;
	ack->status = buf[5];
	ack->flags = buf[6];
	ack->part = buf[7];
	ack->parts = buf[8];
	ack->producer_id = load64(buf + 12);
	ack->batch_seq = load64(buf + 20);
	ack->entry_count = load16(buf + 28);
	if (ack->status > SL_SLW1_STATUS_MAX)
		return false;
	if ((ack->flags & ~SL_SLW1_ACK_F_DUPLICATE) != 0)
		return false;
	if (ack->parts == 0 || ack->part >= ack->parts)
		return false;
	if (buf[9] != 0 || buf[10] != 0 || buf[11] != 0 || buf[30] != 0 || buf[31] != 0)
		return false;
	return true;
}

int sl_slw1_ack_parse(const uint8_t *buf, size_t len, struct sl_slw1_ack *ack,
		      struct sl_slw1_ack_entry *entries, uint16_t entries_cap)
{
	memset(ack, 0, sizeof(*ack));
	if (len < SL_SLW1_ACK_HDR_BYTES + SL_SLW1_CRC_BYTES)
		return -EBADMSG;
	if (!ack_header_valid(buf, ack))
		return -EBADMSG;
	size_t crc_off = SL_SLW1_ACK_HDR_BYTES + (size_t)ack->entry_count * SL_SLW1_ACK_ENTRY_BYTES;
	if (len != crc_off + SL_SLW1_CRC_BYTES)
		return -EBADMSG;
	if (sl_crc32c(buf, crc_off) != load32(buf + crc_off))
		return -EBADMSG;
	if (ack->entry_count > entries_cap)
		return -ENOSPC;
	const uint8_t *p = buf + SL_SLW1_ACK_HDR_BYTES;
	for (uint16_t i = 0; i < ack->entry_count; i++, p += SL_SLW1_ACK_ENTRY_BYTES) {
		if (p[6] > SL_SLW1_STATUS_MAX || p[7] != 0)
			return -EBADMSG;
		entries[i].shard = load32(p);
		entries[i].record_count = load16(p + 4);
		entries[i].status = p[6];
		entries[i].first_seq = sl_u128_load_be(p + 8);
	}
	return 0;
}

uint16_t sl_slw1_ack_entries_per_part(size_t payload_max)
{
	if (payload_max < SL_SLW1_ACK_PART_MIN)
		return 0;
	size_t n =
	    (payload_max - SL_SLW1_ACK_HDR_BYTES - SL_SLW1_CRC_BYTES) / SL_SLW1_ACK_ENTRY_BYTES;
	return n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
}

int sl_slw1_ack_parts(uint16_t n, size_t payload_max)
{
	uint16_t per = sl_slw1_ack_entries_per_part(payload_max);
	if (per == 0)
		return -EMSGSIZE;
	unsigned parts = n == 0 ? 1 : ((unsigned)n + per - 1) / per;
	if (parts > SL_SLW1_ACK_PARTS_MAX)
		return -EMSGSIZE;
	return (int)parts;
}

size_t sl_slw1_ack_build_part(uint8_t *out, size_t cap, const struct sl_slw1_ack *ack,
			      const struct sl_slw1_ack_entry *entries, uint16_t n,
			      size_t payload_max, uint8_t part)
{
	int parts = sl_slw1_ack_parts(n, payload_max);
	SL_ASSERT(parts >= 1);
	SL_ASSERT(part < parts);

	uint16_t per = sl_slw1_ack_entries_per_part(payload_max);
	size_t first = (size_t)part * per;
	SL_ASSERT(first <= n);
	size_t count = n - first < per ? n - first : per;
	struct sl_slw1_ack h = *ack;
	h.part = part;
	h.parts = (uint8_t)parts;
	/* No pointer arithmetic on entries when there are none (it may be NULL). */
	const struct sl_slw1_ack_entry *slice = count > 0 ? entries + first : entries;
	return sl_slw1_ack_build(out, cap, &h, slice, (uint16_t)count);
}
