/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: what goes into each frame. Keys (random hex, sequential over N
 * keys, or fixed), explicit hash keys (random, fixed, or spread over N even
 * hash ranges), data sizes (fixed or uniform in [min, max]) and data bytes,
 * then the frame itself through the codec's builder (sl_slw1_frame_build),
 * so the generator sends exactly what the daemon's parser is tested with.
 *
 * Record data, so a reader can check what it gets back (gen.h):
 *   0  8  producer_id  big-endian
 *   8  8  batch_seq    big-endian
 *  16  2  index        the record's place in its frame, big-endian
 *  18  …  filler       splitmix64 seeded with producer_id ^ (batch_seq << 16)
 *                      ^ index, each 64-bit output written big-endian
 * all cut to the record's data length (a 4-byte record holds the first 4
 * bytes of producer_id).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>

#include "gen.h"

#define DATA_PREFIX_BYTES 18
#define SEQ_KEY_PREFIX    "key-"

struct gen_payload {
	const struct gen_options *o;
	uint64_t rng;
	uint64_t key_next;  /* GEN_KEY_SEQ */
	uint64_t hash_next; /* GEN_HASH_SPREAD */
	uint8_t *keys;      /* records_per_frame slots of SL_PARTITION_KEY_MAX */
	uint8_t *data;      /* records_per_frame * size_max */
	struct sl_record recs[SL_FRAME_RECORDS_MAX];
};

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void gen_record_data(uint64_t producer_id, uint64_t batch_seq, uint16_t index, uint8_t *out,
		     uint32_t len)
{
	uint8_t prefix[DATA_PREFIX_BYTES];
	store_be64(prefix, producer_id);
	store_be64(prefix + 8, batch_seq);
	prefix[16] = (uint8_t)(index >> 8);
	prefix[17] = (uint8_t)index;
	uint32_t n = len < DATA_PREFIX_BYTES ? len : DATA_PREFIX_BYTES;
	memcpy(out, prefix, n);

	uint64_t state = producer_id ^ (batch_seq << 16) ^ index;
	uint32_t off = n;
	uint8_t word[8];
	while (off + 8 <= len) {
		store_be64(out + off, gen_splitmix64(&state));
		off += 8;
	}
	if (off < len) {
		store_be64(word, gen_splitmix64(&state));
		memcpy(out + off, word, len - off);
	}
}

/* Decimal digits of v (at least 1). */
static unsigned digits(uint64_t v)
{
	unsigned n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static uint16_t key_len_max(const struct gen_options *o)
{
	switch (o->key_mode) {
	case GEN_KEY_RANDOM:
		return o->key_len;
	case GEN_KEY_SEQ:
		SL_ASSERT(o->key_count >= 1);
		return (uint16_t)(strlen(SEQ_KEY_PREFIX) + digits(o->key_count - 1));
	case GEN_KEY_FIXED:
		return (uint16_t)strlen(o->key_fixed);
	}
	SL_UNREACHABLE();
}

uint64_t gen_frame_bytes_max(const struct gen_options *o)
{
	uint64_t per_record = SL_SLW1_REC_HDR_BYTES + (uint64_t)key_len_max(o) + o->size_max;
	if (o->hash_mode != GEN_HASH_NONE)
		per_record += SL_SLW1_HASH_KEY_BYTES;
	return SL_SLW1_HDR_BYTES + (uint64_t)o->stream_len + SL_SLW1_CRC_BYTES +
	       (o->auth ? SL_SLW1_AUTH_TAG_BYTES : 0) + o->records_per_frame * per_record;
}

int gen_payload_create(const struct gen_options *o, struct gen_payload **out)
{
	SL_ASSERT(o->records_per_frame >= 1);
	SL_ASSERT(o->records_per_frame <= SL_FRAME_RECORDS_MAX);
	SL_ASSERT(o->size_min <= o->size_max);
	struct gen_payload *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->o = o;
	p->rng = o->seed;
	p->keys = malloc((size_t)o->records_per_frame * SL_PARTITION_KEY_MAX);
	/* +1: a zero-length malloc may return NULL. */
	p->data = malloc((size_t)o->records_per_frame * o->size_max + 1);
	if (p->keys == NULL || p->data == NULL) {
		gen_payload_destroy(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void gen_payload_destroy(struct gen_payload *p)
{
	if (p == NULL)
		return;
	free(p->keys);
	free(p->data);
	free(p);
}

/* Write record i's key into its slot; returns its length. */
static uint16_t make_key(struct gen_payload *p, uint8_t *key)
{
	static const char hex[] = "0123456789abcdef";
	const struct gen_options *o = p->o;
	switch (o->key_mode) {
	case GEN_KEY_RANDOM: {
		uint64_t bits = 0;
		for (uint16_t i = 0; i < o->key_len; i++) {
			if (i % 16 == 0)
				bits = gen_splitmix64(&p->rng);
			key[i] = (uint8_t)hex[bits & 15];
			bits >>= 4;
		}
		return o->key_len;
	}
	case GEN_KEY_SEQ: {
		uint64_t k = p->key_next++ % o->key_count;
		int n = snprintf((char *)key, SL_PARTITION_KEY_MAX, SEQ_KEY_PREFIX "%llu",
				 (unsigned long long)k);
		SL_ASSERT(n > 0);
		SL_ASSERT(n < SL_PARTITION_KEY_MAX);
		return (uint16_t)n;
	}
	case GEN_KEY_FIXED: {
		size_t n = strlen(o->key_fixed);
		memcpy(key, o->key_fixed, n);
		return (uint16_t)n;
	}
	}
	SL_UNREACHABLE();
}

static sl_u128 make_hash_key(struct gen_payload *p)
{
	const struct gen_options *o = p->o;
	switch (o->hash_mode) {
	case GEN_HASH_NONE:
		return 0;
	case GEN_HASH_RANDOM: {
		uint64_t hi = gen_splitmix64(&p->rng);
		return sl_u128_make(hi, gen_splitmix64(&p->rng));
	}
	case GEN_HASH_FIXED:
		return o->hash_fixed;
	case GEN_HASH_SPREAD: {
		/* Range k of hash_count even ranges; its middle is inside it
		 * whichever way the appliance rounds the boundaries. */
		sl_u128 width = SL_U128_MAX / o->hash_count;
		uint64_t k = p->hash_next++ % o->hash_count;
		return (sl_u128)k * width + width / 2;
	}
	}
	SL_UNREACHABLE();
}

static uint32_t make_size(struct gen_payload *p)
{
	const struct gen_options *o = p->o;
	if (o->size_min == o->size_max)
		return o->size_min;
	uint64_t span = (uint64_t)o->size_max - o->size_min + 1;
	return o->size_min + (uint32_t)(gen_splitmix64(&p->rng) % span);
}

size_t gen_payload_frame(struct gen_payload *p, uint64_t batch_seq, uint16_t records, uint8_t *out,
			 size_t cap)
{
	const struct gen_options *o = p->o;
	SL_ASSERT(records >= 1);
	SL_ASSERT(records <= o->records_per_frame);
	uint8_t *data = p->data;
	for (uint16_t i = 0; i < records; i++) {
		struct sl_record *r = &p->recs[i];
		uint8_t *key = p->keys + (size_t)i * SL_PARTITION_KEY_MAX;
		r->key = key;
		r->key_len = make_key(p, key);
		r->flags = o->hash_mode != GEN_HASH_NONE ? SL_RECORD_F_EXPLICIT_HASH_KEY : 0;
		r->hash_key = make_hash_key(p);
		r->data_len = make_size(p);
		r->data = data;
		gen_record_data(o->producer_id, batch_seq, i, data, r->data_len);
		data += r->data_len;
	}
	SL_ASSERT(data <= p->data + (size_t)o->records_per_frame * o->size_max);
	struct sl_slw1_frame_hdr h = {
	    .producer_id = o->producer_id,
	    .batch_seq = batch_seq,
	    .stream = o->stream,
	    .stream_len = o->stream_len,
	    .flags = (uint8_t)((o->no_ack ? 0 : SL_SLW1_F_ACK_REQUESTED) |
			       (o->auth ? SL_SLW1_F_AUTH : 0)),
	};
	return sl_slw1_frame_build(out, cap, &h, p->recs, records);
}
