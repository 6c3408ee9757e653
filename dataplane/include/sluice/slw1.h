/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SLW1 codec: parse and validate an ingest frame, build one (for tests
 * and the load generator), and build and parse the SLA1 ack that answers it.
 * The byte-exact format is in WIRE.md and at the top of slw1.c. Everything
 * here is pure over (bytes, length): no allocation, no DPDK, no logging, no
 * global state, so fuzzers, unit tests and both ingest backends (DPDK and
 * kernel sockets) drive the same code. Any thread may call any function.
 */
#ifndef SLUICE_SLW1_H
#define SLUICE_SLW1_H

#include <stddef.h>
#include <stdint.h>

#include <sluice/record.h>
#include <sluice/u128.h>

#define SL_SLW1_MAGIC     0x534C5731u /* "SLW1" */
#define SL_SLW1_ACK_MAGIC 0x534C4131u /* "SLA1" */
#define SL_SLW1_VERSION   1

/* Frame flags. */
#define SL_SLW1_F_ACK_REQUESTED 0x01u
#define SL_SLW1_F_AUTH          0x02u
#define SL_SLW1_F_ALL           (SL_SLW1_F_ACK_REQUESTED | SL_SLW1_F_AUTH)

/* Ack flags. */
#define SL_SLW1_ACK_F_DUPLICATE 0x01u

/* Fixed sizes of the wire format, in bytes. */
#define SL_SLW1_HDR_BYTES       29 /* magic .. stream_len; the stream follows */
#define SL_SLW1_PEEK_BYTES      12 /* magic .. frame_len: enough to frame TCP */
#define SL_SLW1_REC_HDR_BYTES   7  /* rflags, key_len, data_len */
#define SL_SLW1_HASH_KEY_BYTES  16 /* explicit hash key, with rflags bit 0 */
#define SL_SLW1_CRC_BYTES       4
#define SL_SLW1_AUTH_TAG_BYTES  32 /* HMAC-SHA256 after the CRC, with AUTH */
#define SL_SLW1_ACK_HDR_BYTES   32
#define SL_SLW1_ACK_ENTRY_BYTES 24

/* The shortest frame: a 1-byte stream, one record with a 1-byte key, no data. */
#define SL_SLW1_FRAME_MIN (SL_SLW1_HDR_BYTES + 1 + SL_SLW1_REC_HDR_BYTES + 1 + SL_SLW1_CRC_BYTES)

/* Everything in a frame that is not key or data, at most. */
#define SL_SLW1_FRAME_OVERHEAD_MAX                                                                 \
	(SL_SLW1_HDR_BYTES + SL_STREAM_NAME_MAX +                                                  \
	 SL_FRAME_RECORDS_MAX * (SL_SLW1_REC_HDR_BYTES + SL_SLW1_HASH_KEY_BYTES) +                 \
	 SL_SLW1_CRC_BYTES + SL_SLW1_AUTH_TAG_BYTES)

/*
 * The longest frame accepted (over TCP; a UDP datagram is far shorter):
 * SL_RECORD_SIZE_LIMIT (10 MiB) of keys and data plus the largest possible
 * overhead. 10 MiB rather than less because a stream may raise its maximum
 * record size to that ceiling, and one such record must still fit in a frame;
 * it also bounds what a TCP reader buffers per connection.
 */
#define SL_SLW1_FRAME_MAX (SL_RECORD_SIZE_LIMIT + SL_SLW1_FRAME_OVERHEAD_MAX)

/* The shortest ack datagram that can carry one entry. */
#define SL_SLW1_ACK_PART_MIN (SL_SLW1_ACK_HDR_BYTES + SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES)
/* parts is one byte. */
#define SL_SLW1_ACK_PARTS_MAX 255

/* Frame status, as the ack's status byte and each entry's (WIRE.md). */
enum sl_slw1_status {
	SL_SLW1_OK = 0,
	SL_SLW1_PARTIAL = 1,
	SL_SLW1_THROTTLED = 2,
	SL_SLW1_STREAM_NOT_FOUND = 3,
	SL_SLW1_MALFORMED = 4,
	SL_SLW1_TOO_LARGE = 5,
	SL_SLW1_UNAUTHORIZED = 6,
	SL_SLW1_INTERNAL = 7,
	SL_SLW1_STALE_BATCH = 8,
	SL_SLW1_SHUTTING_DOWN = 9,
};
#define SL_SLW1_STATUS_MAX SL_SLW1_SHUTTING_DOWN

/* Why a frame is MALFORMED: one drop counter each. */
enum sl_slw1_reason {
	SL_SLW1_R_NONE = 0,
	SL_SLW1_R_BAD_MAGIC,   /* not "SLW1" */
	SL_SLW1_R_BAD_VERSION, /* version != 1 */
	SL_SLW1_R_BAD_FLAGS,   /* a flag bit other than 0 and 1 */
	SL_SLW1_R_BAD_COUNT,   /* record_count 0, > 500, or > the caller's recs_cap */
	SL_SLW1_R_BAD_LENGTH,  /* frame_len != datagram length, or out of bounds */
	SL_SLW1_R_BAD_STREAM,  /* stream_len 0 or > 128, or a byte outside [A-Za-z0-9_.-] */
	SL_SLW1_R_BAD_RECORD,  /* rflags, key_len, or a record running past the CRC */
	SL_SLW1_R_TRAILING,    /* bytes between the last record and the CRC */
	SL_SLW1_R_BAD_CRC,     /* CRC-32C mismatch */
	SL_SLW1_R_COUNT,
};

/* What sl_slw1_parse() learnt about a frame. */
struct sl_slw1_frame {
	uint64_t producer_id; /* set once the header is read, even if not OK */
	uint64_t batch_seq;   /* likewise: a MALFORMED/UNAUTHORIZED ack echoes them */
	const char *stream;   /* view into buf, stream_len bytes, no NUL; OK only */
	uint32_t frame_len;
	uint16_t record_count; /* OK, TOO_LARGE: records filled in recs[] */
	uint16_t bad_record;   /* TOO_LARGE, BAD_RECORD: index of the first culprit */
	uint8_t flags;         /* SL_SLW1_F_*; set once the header is read */
	uint8_t stream_len;
	uint8_t reason; /* enum sl_slw1_reason; R_NONE unless MALFORMED */
};

/*
 * Parse and validate one whole frame: buf[0..len) (borrowed) must be exactly
 * one frame, as a UDP datagram is, or as a TCP reader delimits with
 * sl_slw1_frame_len_peek(). record_size_max (1..SL_RECORD_SIZE_LIMIT) is the
 * stream's limit on key_len + data_len. recs has room for recs_cap records;
 * pass SL_FRAME_RECORDS_MAX to accept every valid frame.
 *
 * Returns SL_SLW1_OK with *out and recs[0..record_count) filled: each record
 * is a view into buf (key, data), flags = its rflags, hash_key = the explicit
 * hash key when rflags bit 0 is set, else 0 (hashing the key is not this
 * module's job). Otherwise returns
 *   SL_SLW1_MALFORMED    any rule broken; out->reason says which,
 *   SL_SLW1_UNAUTHORIZED the AUTH flag is set (an intact frame; no keys are
 *                        configured yet, so no tag can be checked),
 *   SL_SLW1_TOO_LARGE    a well-formed, intact frame with a record whose
 *                        key_len + data_len > record_size_max (out->bad_record).
 * Checks run in this order: header length, magic, version, flags, frame_len
 * (only what is needed to locate the CRC), then the CRC, then AUTH, then
 * everything else. The CRC comes before any other field is trusted so that a
 * frame damaged in flight always counts as BAD_CRC (a transport problem) and
 * never as, say, TOO_LARGE (which a producer would take as final), and so
 * that the drop counters separate corruption from producer bugs. A frame that
 * is both malformed and too large is MALFORMED.
 */
enum sl_slw1_status sl_slw1_parse(const uint8_t *buf, size_t len, uint32_t record_size_max,
				  struct sl_slw1_frame *out, struct sl_record *recs,
				  uint16_t recs_cap);

/*
 * For TCP: given the first len bytes of a frame (borrowed), return its
 * frame_len (SL_SLW1_FRAME_MIN..SL_SLW1_FRAME_MAX) once magic, version and
 * flags check out; -EAGAIN when len < SL_SLW1_PEEK_BYTES (read more);
 * -EBADMSG when the bytes cannot start a frame (the stream has lost sync:
 * close the connection). Does not look at stream or records.
 */
int sl_slw1_frame_len_peek(const uint8_t *buf, size_t len);

/* The header fields a producer chooses; the builder derives the rest. */
struct sl_slw1_frame_hdr {
	uint64_t producer_id;
	uint64_t batch_seq;
	const char *stream; /* borrowed, stream_len bytes, [A-Za-z0-9_.-] */
	uint8_t stream_len; /* 1..SL_STREAM_NAME_MAX */
	uint8_t flags;      /* SL_SLW1_F_*; with AUTH a zero tag is appended */
};

/*
 * Write a frame of the n records (1..SL_FRAME_RECORDS_MAX, borrowed) into
 * out[0..cap), CRC included. Each record's flags become its rflags, and with
 * SL_RECORD_F_EXPLICIT_HASH_KEY its hash_key is written; key_len must be
 * 1..SL_PARTITION_KEY_MAX. data_len is not checked against any stream limit,
 * so tests can build TOO_LARGE frames. Returns the frame's length, or 0 when
 * it would not fit in cap or would exceed SL_SLW1_FRAME_MAX. Invalid
 * arguments (empty stream, bad flags, n out of range) are assertions.
 */
size_t sl_slw1_frame_build(uint8_t *out, size_t cap, const struct sl_slw1_frame_hdr *h,
			   const struct sl_record *recs, uint16_t n);

/* An ack's header. */
struct sl_slw1_ack {
	uint64_t producer_id;
	uint64_t batch_seq;
	uint16_t entry_count; /* parse: entries in this datagram; build: ignored */
	uint8_t status;       /* enum sl_slw1_status */
	uint8_t flags;        /* SL_SLW1_ACK_F_* */
	uint8_t part;         /* 0..parts-1 */
	uint8_t parts;        /* 1..SL_SLW1_ACK_PARTS_MAX */
};

/* One ack entry: the records of the frame bound for one shard. */
struct sl_slw1_ack_entry {
	sl_u128 first_seq;
	uint32_t shard;
	uint16_t record_count;
	uint8_t status; /* enum sl_slw1_status */
};

/*
 * Write one ack datagram with header *ack (part and parts as given) and the
 * n entries (borrowed) into out[0..cap), CRC included. Returns its length,
 * or 0 when cap is too small.
 */
size_t sl_slw1_ack_build(uint8_t *out, size_t cap, const struct sl_slw1_ack *ack,
			 const struct sl_slw1_ack_entry *entries, uint16_t n);

/*
 * Parse one ack datagram buf[0..len) (borrowed) into *ack and
 * entries[0..ack->entry_count). Returns 0; -EBADMSG when any rule fails
 * (magic, version, unknown flag bits, part >= parts, parts 0, reserved bytes
 * not 0, a status above SL_SLW1_STATUS_MAX, a length other than
 * 32 + 24 * entry_count + 4, the CRC); -ENOSPC when entry_count > entries_cap.
 */
int sl_slw1_ack_parse(const uint8_t *buf, size_t len, struct sl_slw1_ack *ack,
		      struct sl_slw1_ack_entry *entries, uint16_t entries_cap);

/*
 * How many entries one ack datagram of at most payload_max bytes carries
 * (for UDP over Ethernet: MTU - 20 - 8, so 1472 for an MTU of 1500); 0 when
 * payload_max < SL_SLW1_ACK_PART_MIN.
 */
uint16_t sl_slw1_ack_entries_per_part(size_t payload_max);

/*
 * How many datagrams an ack of n entries needs at payload_max bytes each:
 * at least 1 (an ack without entries is one datagram). -EMSGSIZE when
 * payload_max cannot hold one entry or more than SL_SLW1_ACK_PARTS_MAX parts
 * would be needed.
 */
int sl_slw1_ack_parts(uint16_t n, size_t payload_max);

/*
 * Build datagram `part` (0..parts-1) of the ack of all n entries, split as
 * sl_slw1_ack_parts() says: the part's own header (part, parts and
 * entry_count set; ack->part and ack->parts are ignored), its slice of the
 * entries in order, and its own CRC. Returns its length, or 0 when cap is
 * too small. Call sl_slw1_ack_parts() first: a payload_max it refuses, or a
 * part out of range, is an assertion.
 */
size_t sl_slw1_ack_build_part(uint8_t *out, size_t cap, const struct sl_slw1_ack *ack,
			      const struct sl_slw1_ack_entry *entries, uint16_t n,
			      size_t payload_max, uint8_t part);

#endif /* SLUICE_SLW1_H */
