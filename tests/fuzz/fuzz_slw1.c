/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the SLW1 frame parser and the SLA1 ack parser
 * (dataplane/slw1.c), over any bytes as one datagram. Invariants: no crash
 * or sanitizer report, no read outside the input; a MALFORMED result names a
 * reason and only MALFORMED does; an OK frame's records lie inside the input
 * and building a frame from the parsed header and records reproduces the
 * input byte for byte (the format has one encoding per frame); an ack that
 * parses rebuilds to the same bytes too; the TCP length peek agrees with the
 * parser on what frame_len is. Each input is also tried with its trailing
 * CRC-32C made right (and its frame_len set to its size), so that random
 * mutations reach the record parser behind the CRC check.
 */
#include <stdint.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/crc32c.h>
#include <sluice/slw1.h>

#define FUZZ_FRAME_MAX (1u << 20)

static struct sl_record recs[SL_FRAME_RECORDS_MAX];
static struct sl_slw1_ack_entry entries[SL_FRAME_RECORDS_MAX];
static uint8_t rebuilt[FUZZ_FRAME_MAX];
static uint8_t fixed[FUZZ_FRAME_MAX];

static bool inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return p >= data && (size_t)(p - data) <= size && n <= size - (size_t)(p - data);
}

static void check_frame(const uint8_t *data, size_t size)
{
	struct sl_slw1_frame fr;
	enum sl_slw1_status st =
	    sl_slw1_parse(data, size, SL_RECORD_SIZE_DEFAULT, &fr, recs, SL_FRAME_RECORDS_MAX);

	SL_ASSERT((st == SL_SLW1_MALFORMED) == (fr.reason != SL_SLW1_R_NONE));
	if (st != SL_SLW1_MALFORMED) {
		int peek = sl_slw1_frame_len_peek(data, size);
		SL_ASSERT(peek > 0);
		SL_ASSERT((size_t)peek == size);
	}
	if (st != SL_SLW1_OK)
		return;
	SL_ASSERT(fr.record_count >= 1);
	SL_ASSERT(fr.record_count <= SL_FRAME_RECORDS_MAX);
	for (uint16_t i = 0; i < fr.record_count; i++) {
		SL_ASSERT(inside(recs[i].key, recs[i].key_len, data, size));
		SL_ASSERT(inside(recs[i].data, recs[i].data_len, data, size));
		SL_ASSERT(recs[i].key_len + (uint64_t)recs[i].data_len <= SL_RECORD_SIZE_DEFAULT);
	}
	struct sl_slw1_frame_hdr h = {.producer_id = fr.producer_id,
				      .batch_seq = fr.batch_seq,
				      .stream = fr.stream,
				      .stream_len = fr.stream_len,
				      .flags = fr.flags};
	size_t len = sl_slw1_frame_build(rebuilt, sizeof(rebuilt), &h, recs, fr.record_count);
	SL_ASSERT(size > sizeof(rebuilt) || len == size);
	SL_ASSERT(len == 0 || memcmp(rebuilt, data, size) == 0);
}

static void check_ack(const uint8_t *data, size_t size)
{
	struct sl_slw1_ack ack;
	if (sl_slw1_ack_parse(data, size, &ack, entries, SL_FRAME_RECORDS_MAX) != 0)
		return;
	SL_ASSERT(ack.part < ack.parts);
	size_t len = sl_slw1_ack_build(rebuilt, sizeof(rebuilt), &ack, entries, ack.entry_count);
	SL_ASSERT(len == size);
	SL_ASSERT(memcmp(rebuilt, data, size) == 0);
}

/* The input as a frame whose frame_len and CRC hold (no AUTH tag). */
static void check_fixed(const uint8_t *data, size_t size)
{
	if (size < SL_SLW1_FRAME_MIN || size > sizeof(fixed))
		return;
	memcpy(fixed, data, size);
	fixed[5] &= (uint8_t)~0x02u; /* no AUTH: the CRC is the last 4 bytes */
	uint32_t len = (uint32_t)size;
	fixed[8] = (uint8_t)(len >> 24), fixed[9] = (uint8_t)(len >> 16);
	fixed[10] = (uint8_t)(len >> 8), fixed[11] = (uint8_t)len;
	uint32_t crc = sl_crc32c(fixed, size - 4);
	fixed[size - 4] = (uint8_t)(crc >> 24), fixed[size - 3] = (uint8_t)(crc >> 16);
	fixed[size - 2] = (uint8_t)(crc >> 8), fixed[size - 1] = (uint8_t)crc;
	check_frame(fixed, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_frame(data, size);
	check_fixed(data, size);
	check_ack(data, size);
	return 0;
}
