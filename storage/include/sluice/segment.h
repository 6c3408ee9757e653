/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The segment file format: one log per shard, a sequence of segment files,
 * each a header block followed by record batches. All integers big-endian.
 * This header and storage/segment.c are the format's definition;
 * docs/formats/segment.md repeats it for operators.
 *
 * File: <data_dir>/shards/<stream_id>/<shard_id>/<base_seq_lo as %020llu>.seg
 * (base_seq's low 64 bits: the shard's counter; the high 64 bits are the
 * shard's prefix, the same for every record of the shard).
 *
 * Segment header, SL_SEG_HEADER_BYTES (4096) at offset 0, so batches start
 * on a 4 KiB boundary (O_DIRECT):
 *
 *   off size field
 *     0    4 magic       0x534C5347 "SLSG"
 *     4    2 version     1
 *     6    2 header_len  4096
 *     8    4 stream_id
 *    12    4 shard_id
 *    16   16 base_seq    sequence number of the segment's first record
 *    32    8 created_ms  wall clock, ms since the epoch
 *    40   20 reserved    0
 *    60    4 crc32c      over bytes 0..59
 *    64 4032 zero
 *
 * Batch, at offsets 4096, 4096 + batch_len, ...:
 *
 *   off size field
 *     0    4 magic            0x534C4254 "SLBT"
 *     4    1 version          1
 *     5    1 flags            bit 0 OVERLAPPED: written while an older
 *                             commit of the shard was still in flight (it
 *                             may reach the disk before that one); other
 *                             bits 0
 *     6    2 header_len       64
 *     8    4 batch_len        bytes from this header to the next batch:
 *                             header + payload + zero padding; a multiple
 *                             of 8 (of 4096 when the writer uses O_DIRECT)
 *    12    4 payload_len      records + dedupe entries
 *    16   16 base_seq         first record's sequence number
 *    32    4 record_count     1..SL_SEG_BATCH_RECORDS_MAX
 *    36    2 dedupe_count     entries after the records
 *    38    2 reserved         0
 *    40    8 first_arrival_ms arrival time of record 0
 *    48    8 last_arrival_ms  greatest arrival time in the batch
 *    56    4 reserved         0
 *    60    4 crc32c           over bytes 0..59, then the payload
 *
 *   payload: record_count records, then dedupe_count x dedupe entry
 *   (40 bytes); padding (zeros) up to batch_len is not covered by the CRC.
 *   (Entries come last so a writer can add them as appends arrive, while
 *   the records already sit in place.)
 *
 * Dedupe entry: what WIRE.md's dedupe needs to answer a retransmitted frame
 * with its original ack, for the part of the frame stored in this shard:
 *
 *     0    8 producer_id
 *     8    8 batch_seq
 *    16   16 first_seq        of the frame's records in this shard
 *    32    2 record_count     of the frame's records in this shard
 *    34    2 entry_index      this shard's place among the frame's ack entries
 *    36    2 entry_count      how many shards the frame went to
 *    38    2 reserved         0
 *
 * Record (unaligned):
 *
 *     0    4 arrival_delta_ms arrival - first_arrival_ms
 *     4    1 flags            bit 0: explicit hash key follows the key
 *     5    2 key_len          1..256
 *     7    4 data_len         key_len + data_len <= SL_RECORD_SIZE_LIMIT
 *    11      key, [16-byte explicit hash key], data
 *
 * Rules a reader checks (sl_seg_batch_check): magic, version, flags only
 * bit 0,
 * header_len, 64 + payload_len <= batch_len with less than 4096 bytes of
 * padding, batch_len a multiple of 8 and at most SL_SEG_BATCH_BYTES_MAX,
 * record_count 1..SL_SEG_BATCH_RECORDS_MAX, dedupe_count at most
 * SL_SEG_DEDUPE_MAX, reserved fields 0, first_arrival_ms <= last_arrival_ms
 * < first_arrival_ms + 2^32, base_seq's low 64 bits + record_count - 1 not
 * wrapping, the CRC, then that the records and entries exactly fill
 * payload_len with every length in bounds (each entry's record_count >= 1
 * and entry_index < entry_count; each record's flags only bit 0), record 0's
 * arrival delta 0 and the greatest delta giving last_arrival_ms. storage/
 * segment.c lists them in the order checked. A record n has sequence number
 * base_seq + n.
 */
#ifndef SLUICE_SEGMENT_H
#define SLUICE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/assert.h>
#include <sluice/record.h>
#include <sluice/u128.h>

#define SL_SEG_MAGIC               0x534C5347u
#define SL_SEG_BATCH_MAGIC         0x534C4254u
#define SL_SEG_VERSION             1
#define SL_SEG_HEADER_BYTES        4096u
#define SL_SEG_HEADER_USED         64u
#define SL_SEG_BATCH_HEADER_BYTES  64u
#define SL_SEG_DEDUPE_BYTES        40u
#define SL_SEG_RECORD_HEADER_BYTES 11u
#define SL_SEG_BATCH_ALIGN         8u
#define SL_SEG_BATCH_BYTES_MAX     (64u << 20)
#define SL_SEG_BATCH_RECORDS_MAX   (1u << 20)
#define SL_SEG_DEDUPE_MAX          4096u
#define SL_SEG_BATCH_F_OVERLAPPED  0x01u /* batch header flags, bit 0 */
/* OVERLAPPED batches at most in flight behind one commit (the writer's
 * storage.commits_inflight is at most this + 1). */
#define SL_SEG_OVERLAPPED_MAX 3u

SL_STATIC_ASSERT(SL_SEG_HEADER_USED <= SL_SEG_HEADER_BYTES);
SL_STATIC_ASSERT(SL_SEG_HEADER_BYTES % 4096 == 0);
SL_STATIC_ASSERT(SL_SEG_BATCH_BYTES_MAX >= SL_SEG_BATCH_HEADER_BYTES + SL_SEG_RECORD_HEADER_BYTES +
					       16 + SL_RECORD_SIZE_LIMIT);
SL_STATIC_ASSERT(SL_SEG_DEDUPE_MAX <= UINT16_MAX);

/* A segment header, decoded. */
struct sl_seg_header {
	uint32_t stream_id;
	uint32_t shard_id;
	sl_u128 base_seq;
	uint64_t created_ms;
};

/* A batch header, decoded. */
struct sl_seg_batch {
	uint8_t flags; /* SL_SEG_BATCH_F_* */
	uint32_t batch_len;
	uint32_t payload_len;
	sl_u128 base_seq;
	uint32_t record_count;
	uint16_t dedupe_count;
	uint64_t first_arrival_ms;
	uint64_t last_arrival_ms;
};

struct sl_seg_dedupe {
	uint64_t producer_id;
	uint64_t batch_seq;
	sl_u128 first_seq;
	uint16_t record_count;
	uint16_t entry_index;
	uint16_t entry_count;
};

/* One record as decoded from a batch: pointers into the batch (borrowed). */
struct sl_seg_record {
	sl_u128 seq;
	uint64_t arrival_ms;
	const uint8_t *key;
	const uint8_t *data;
	sl_u128 explicit_hash_key; /* valid when flags & SL_RECORD_F_EXPLICIT_HASH_KEY */
	uint32_t data_len;
	uint16_t key_len;
	uint8_t flags;
};

/* Segment header: encode into SL_SEG_HEADER_BYTES bytes (zeroing the rest). */
void sl_seg_header_encode(uint8_t *out, const struct sl_seg_header *h);

/*
 * Decode and check a segment header (the first SL_SEG_HEADER_USED bytes of
 * buf; the zeros after them are not read). Returns 0, -EAGAIN (len <
 * SL_SEG_HEADER_USED), -EBADMSG (bad magic, CRC, header_len, reserved bytes)
 * or -EPROTO (the CRC holds but the version is unknown). *h is written only
 * on success.
 */
int sl_seg_header_decode(const uint8_t *buf, size_t len, struct sl_seg_header *h);

/* Bytes a record takes in a payload. */
static inline size_t sl_seg_record_bytes(const struct sl_record *r)
{
	return SL_SEG_RECORD_HEADER_BYTES + r->key_len +
	       ((r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY) ? 16u : 0u) + r->data_len;
}

/*
 * Building a batch in place, in a buffer the writer owns:
 *   sl_seg_batch_begin(b, buf, cap, base_seq, first_arrival_ms)
 *   sl_seg_batch_add_record(b, record, arrival_ms)     x N, and, in any order
 *   sl_seg_batch_add_dedupe(b, entry)                  x M (M <= SL_SEG_DEDUPE_MAX)
 *   sl_seg_batch_finish(b, align) -> batch_len (header + CRC written)
 * Records go in place as they are added; entries wait at the top of the
 * buffer until finish() moves them behind the records, so records and
 * entries together (plus padding) must fit cap.
 * add_* return 0 or -ENOSPC (nothing written): it does not fit cap or
 * SL_SEG_BATCH_BYTES_MAX, the batch already has SL_SEG_BATCH_RECORDS_MAX
 * records, or the record's arrival is 2^32 ms or more after first_arrival_ms;
 * the writer finishes this batch and starts the next with the record.
 * begin()'s first_arrival_ms is a floor (say, the shard's last arrival time,
 * so that times never go back): the batch's first_arrival_ms is record 0's
 * arrival_ms raised to it, and a later record's arrival_ms before that (a
 * wall clock that stepped back) is stored as the first.
 * A record or entry the ingest doors would have refused, or finishing
 * without a record, are assertions.
 */
struct sl_seg_builder {
	uint8_t *buf;
	size_t cap;
	size_t len; /* header + payload so far */
	sl_u128 base_seq;
	uint32_t record_count;
	uint16_t dedupe_added;
	uint64_t first_arrival_ms;
	uint64_t last_arrival_ms;
	uint8_t flags; /* written by finish (begin clears it) */
};

void sl_seg_batch_begin(struct sl_seg_builder *b, uint8_t *buf, size_t cap, sl_u128 base_seq,
			uint64_t first_arrival_ms);
int sl_seg_batch_add_dedupe(struct sl_seg_builder *b, const struct sl_seg_dedupe *d);
int sl_seg_batch_add_record(struct sl_seg_builder *b, const struct sl_record *r,
			    uint64_t arrival_ms);
/*
 * Write the header and CRC, zero-pad to a multiple of `align` (8 or 4096;
 * the padding must fit cap: callers size buffers with the alignment in
 * mind). Returns batch_len. Asserts at least one record.
 */
size_t sl_seg_batch_finish(struct sl_seg_builder *b, size_t align);

/*
 * Change the flags of a finished batch (buf, whole) in place and write its
 * CRC again (a pass over the payload). Returns 0, or -EBADMSG when buf
 * does not hold a valid batch or flags has an unknown bit.
 */
int sl_seg_batch_set_flags(uint8_t *buf, size_t len, uint8_t flags);

/*
 * Check the batch header at buf (len bytes available, at least
 * SL_SEG_BATCH_HEADER_BYTES) without the payload: magic, version, lengths.
 * Returns 0, -EAGAIN (len is shorter than the header), -EBADMSG.
 */
int sl_seg_batch_header_decode(const uint8_t *buf, size_t len, struct sl_seg_batch *out);

/*
 * Check a whole batch (len >= out->batch_len bytes available): the header,
 * the CRC, and that the entries and records exactly fill the payload.
 * Returns 0, -EAGAIN (truncated: fewer than 64 or fewer than batch_len
 * bytes), -EBADMSG. A clean prefix of a valid batch is always -EAGAIN; with
 * at least 64 bytes, *out then holds the header (batch_len: how many bytes to
 * read). After -EBADMSG *out is unspecified. Pure; the fuzz target drives it.
 */
int sl_seg_batch_check(const uint8_t *buf, size_t len, struct sl_seg_batch *out);

/*
 * Iterate a checked batch. sl_seg_iter_init then sl_seg_iter_next until it
 * returns 0 (end); 1 = a record in *rec (pointing into buf). Dedupe
 * entries: sl_seg_batch_dedupe(buf, batch, i, &entry).
 */
struct sl_seg_iter {
	const uint8_t *buf;
	const struct sl_seg_batch *batch;
	size_t off;
	uint32_t index;
};

void sl_seg_iter_init(struct sl_seg_iter *it, const uint8_t *buf, const struct sl_seg_batch *b);
int sl_seg_iter_next(struct sl_seg_iter *it, struct sl_seg_record *rec);
void sl_seg_batch_dedupe(const uint8_t *buf, const struct sl_seg_batch *b, uint16_t i,
			 struct sl_seg_dedupe *out);

/* "<base_seq low 64 bits as %020llu>.seg" into name (at least 32 bytes). */
void sl_seg_file_name(char *name, size_t cap, sl_u128 base_seq);

#endif /* SLUICE_SEGMENT_H */
