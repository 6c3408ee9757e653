/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ingest core against a real store: frames in, acks out through a fake
 * backend that records them; records read back from storage byte for byte
 * with the sequence numbers the acks gave. Shards chosen for keys are
 * checked against MD5 values computed with Python's hashlib:
 *   python3 -c "import hashlib; k=b'alpha'; \
 *     print(int.from_bytes(hashlib.md5(k).digest(),'big') // (2**128 // 4))"
 * gives alpha 0, beta 2, gamma 0, delta 1, k0 0, k1 2, k2 1, k3 3 for a
 * 4-shard stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/counters.h>
#include <sluice/ingest.h>
#include <sluice/shardmap.h>
#include <sluice/slw1.h>
#include <sluice/store.h>

#include "check.h"
#include "store_util.h"

#define ACKS_MAX 64

struct captured {
	uint8_t bytes[16384];
	size_t len;
	uint8_t reply0;
	uint64_t cookie;
};

struct fake {
	struct captured acks[ACKS_MAX];
	unsigned ack_count;
	unsigned released;
	uint64_t last_release_cookie;
};

static void fake_send_ack(void *backend, const uint8_t *reply, uint64_t cookie, const uint8_t *ack,
			  size_t len)
{
	struct fake *f = backend;
	if (f->ack_count == ACKS_MAX || len > sizeof(f->acks[0].bytes))
		return;
	struct captured *c = &f->acks[f->ack_count++];
	memcpy(c->bytes, ack, len);
	c->len = len;
	c->reply0 = reply[0];
	c->cookie = cookie;
}

static void fake_release(void *backend, void *buf_ref, uint64_t cookie)
{
	struct fake *f = backend;
	(void)buf_ref;
	f->released++;
	f->last_release_cookie = cookie;
}

static const struct sl_ingest_ops fake_ops = {
    .send_ack = fake_send_ack,
    .release = fake_release,
};

static struct fake fk;
static uint8_t reply[SL_INGEST_REPLY_BYTES] = {0x5a};

/* Poll until nothing is in flight (or 5 s). */
static void drain(struct sl_ingest_port *p)
{
	for (int i = 0; i < 50000 && sl_ingest_inflight(p) > 0; i++) {
		sl_ingest_poll(p);
		usleep(100);
	}
	CHECK(sl_ingest_inflight(p) == 0);
}

static size_t build(uint8_t *out, size_t cap, const char *stream, uint64_t producer, uint64_t batch,
		    const char *const *keys, unsigned n, uint8_t flags)
{
	static uint8_t data[SL_FRAME_RECORDS_MAX][64];
	struct sl_record recs[SL_FRAME_RECORDS_MAX];
	for (unsigned i = 0; i < n; i++) {
		int dl = snprintf((char *)data[i], sizeof(data[i]), "%s#%llu#%u", keys[i],
				  (unsigned long long)batch, i);
		recs[i] = (struct sl_record){
		    .key = (const uint8_t *)keys[i],
		    .key_len = (uint16_t)strlen(keys[i]),
		    .data = data[i],
		    .data_len = (uint32_t)dl,
		};
	}
	struct sl_slw1_frame_hdr h = {
	    .producer_id = producer,
	    .batch_seq = batch,
	    .stream = stream,
	    .stream_len = (uint8_t)strlen(stream),
	    .flags = flags,
	};
	return sl_slw1_frame_build(out, cap, &h, recs, (uint16_t)n);
}

static uint64_t counter(const char *name)
{
	const struct sl_counter_set *set = sl_ingest_counter_set();
	uint64_t sums[SL_COUNTER_SET_MAX];
	CHECK(sl_counter_sum(set, sums, set->count) == 0);
	for (unsigned i = 0; i < set->count; i++) {
		if (strcmp(set->defs[i].name, name) == 0)
			return sums[i];
	}
	CHECK(!"no such counter");
	return 0;
}

/* Parse capture i into a and e. */
static void ack_of(unsigned i, struct sl_slw1_ack *a, struct sl_slw1_ack_entry *e)
{
	CHECK(i < fk.ack_count);
	CHECK(sl_slw1_ack_parse(fk.acks[i].bytes, fk.acks[i].len, a, e, SL_FRAME_RECORDS_MAX) == 0);
}

/* Read every record of shard `shard` from seq first: n records, and check
 * their keys and data are the frame's (key, "key#batch#i"). */
static void check_stored(struct sl_store *st, uint32_t stream, uint32_t shard, sl_u128 first,
			 const char *const *keys, const unsigned *idx, unsigned n, uint64_t batch)
{
	struct sl_shard *sh = sl_store_shard(st, stream, shard);
	struct sl_read_record rr[64];
	static uint8_t buf[1 << 16];
	sl_u128 next;
	CHECK(sh != NULL);
	int got = sl_store_read(st, sh, SL_READ_AT_SEQ, first, 0, rr, 64, buf, sizeof(buf), &next);
	CHECK(got >= (int)n);
	for (unsigned i = 0; i < n && (int)i < got; i++) {
		char want[64];
		int wl = snprintf(want, sizeof(want), "%s#%llu#%u", keys[idx[i]],
				  (unsigned long long)batch, idx[i]);
		CHECK(rr[i].seq == first + i);
		CHECK(rr[i].key_len == strlen(keys[idx[i]]));
		CHECK(memcmp(buf + rr[i].key_off, keys[idx[i]], rr[i].key_len) == 0);
		CHECK(rr[i].data_len == (uint32_t)wl);
		CHECK(memcmp(buf + rr[i].data_off, want, (size_t)wl) == 0);
	}
}

static uint32_t stream_id(struct sl_store *st, const char *name)
{
	const struct sl_shardmap_stream *s =
	    sl_shardmap_stream(sl_store_shardmap(st), name, strlen(name));
	CHECK(s != NULL);
	return s ? s->id : 0;
}

static struct sl_ingest_port *port_open(struct sl_store *st, size_t ack_payload)
{
	struct sl_ingest_options o = {
	    .name = "test",
	    .frames_max = 64,
	    .producers_max = 8,
	    .ack_payload_max = ack_payload,
	    .ops = &fake_ops,
	    .backend = &fk,
	};
	struct sl_ingest_port *p = NULL;
	CHECK(sl_ingest_port_create(st, &o, &p) == 0);
	return p;
}

/* A stream `name` of `shards` shards, fsync, 24 h, 1 MiB records. */
static struct sl_meta_stream make_stream(struct sl_store *st, const char *name, uint32_t shards,
					 uint32_t max_record_bytes)
{
	struct sl_meta_stream s = {.durability = SL_DURABILITY_FSYNC,
				   .retention_hours = 24,
				   .max_record_bytes = max_record_bytes};
	snprintf(s.name, sizeof(s.name), "%s", name);
	CHECK(sl_store_stream_create(st, &s, shards) == 0);
	return s;
}

static const char *const keys8[] = {"alpha", "beta", "gamma", "delta", "k0", "k1", "k2", "k3"};
/* Shards of keys8 in a 4-shard stream (hashlib, see the top). */
static const uint32_t shard8[] = {0, 2, 0, 1, 0, 2, 1, 3};

static void test_frames(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	uint8_t frame[1 << 16];
	struct sl_slw1_ack a;
	static struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];

	CHECK(tu_tmpdir(dir, sizeof(dir), "ingest") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	make_stream(st, "orders", 4, SL_RECORD_SIZE_DEFAULT);
	make_stream(st, "small", 1, 10);
	tu_writer_start(&w, st, 0);
	struct sl_ingest_port *p = port_open(st, 0);
	uint32_t sid = stream_id(st, "orders");

	/* 1. Eight records over four shards: one entry per shard in order of
	 * first appearance (0, 2, 1, 3), records in frame order within each. */
	memset(&fk, 0, sizeof(fk));
	size_t len =
	    build(frame, sizeof(frame), "orders", 77, 1, keys8, 8, SL_SLW1_F_ACK_REQUESTED);
	CHECK(len > 0);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 1234));
	drain(p);
	CHECK(fk.released == 1 && fk.last_release_cookie == 1234);
	CHECK(fk.ack_count == 1 && fk.acks[0].reply0 == 0x5a && fk.acks[0].cookie == 1234);
	ack_of(0, &a, e);
	CHECK(a.status == SL_SLW1_OK && a.flags == 0 && a.producer_id == 77 && a.batch_seq == 1);
	CHECK(a.entry_count == 4);
	const uint32_t order[4] = {0, 2, 1, 3};
	for (unsigned i = 0; i < 4 && i < a.entry_count; i++) {
		unsigned idx[8], n = 0;
		for (unsigned r = 0; r < 8; r++) {
			if (shard8[r] == order[i])
				idx[n++] = r;
		}
		CHECK(e[i].shard == order[i]);
		CHECK(e[i].status == SL_SLW1_OK);
		CHECK(e[i].record_count == n);
		check_stored(st, sid, e[i].shard, e[i].first_seq, keys8, idx, n, 1);
	}
	struct sl_slw1_ack_entry first[4];
	memcpy(first, e, sizeof(first));

	/* 2. The same (producer, batch) again: DUPLICATE, same entries, and
	 * nothing stored twice. */
	uint64_t stored = counter("records_stored");
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 1235));
	CHECK(fk.ack_count == 2);
	ack_of(1, &a, e);
	CHECK(a.flags == SL_SLW1_ACK_F_DUPLICATE && a.status == SL_SLW1_OK && a.entry_count == 4);
	CHECK(memcmp(e, first, sizeof(first)) == 0);
	CHECK(counter("records_stored") == stored);
	CHECK(counter("duplicate") >= 1);

	/* 3. Anonymous producer: stored again, new sequence numbers. */
	len = build(frame, sizeof(frame), "orders", 0, 1, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 1));
	drain(p);
	ack_of(2, &a, e);
	CHECK(a.status == SL_SLW1_OK && a.entry_count == 1 && e[0].shard == 0);
	CHECK(e[0].first_seq > first[0].first_seq);

	/* 4. Unknown stream, malformed (CRC), too large: answered at once,
	 * nothing retained, each with its counter. */
	unsigned acks = fk.ack_count;
	uint64_t nf = counter("stream_not_found"), crc = counter("malformed_bad_crc"),
		 big = counter("too_large");
	len = build(frame, sizeof(frame), "nosuch", 77, 2, keys8, 2, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 2));
	ack_of(acks, &a, e);
	CHECK(a.status == SL_SLW1_STREAM_NOT_FOUND && a.entry_count == 0);
	CHECK(counter("stream_not_found") == nf + 1);
	len = build(frame, sizeof(frame), "orders", 77, 3, keys8, 2, SL_SLW1_F_ACK_REQUESTED);
	frame[len - 1] ^= 1;
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 3));
	ack_of(acks + 1, &a, e);
	CHECK(a.status == SL_SLW1_MALFORMED && a.producer_id == 77 && a.batch_seq == 3);
	CHECK(counter("malformed_bad_crc") == crc + 1);
	len = build(frame, sizeof(frame), "small", 77, 4, keys8, 2, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 4)); /* "alpha" + "alpha#4#0" > 10 */
	ack_of(acks + 2, &a, e);
	CHECK(a.status == SL_SLW1_TOO_LARGE);
	CHECK(counter("too_large") == big + 1);

	/* 5. Stale: 64 or more below the highest batch_seq of the producer. */
	len = build(frame, sizeof(frame), "orders", 77, 100, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 5));
	drain(p);
	len = build(frame, sizeof(frame), "orders", 77, 36, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 6));
	ack_of(fk.ack_count - 1, &a, e);
	CHECK(a.status == SL_SLW1_STALE_BATCH);
	len = build(frame, sizeof(frame), "orders", 77, 37, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 7)); /* 100 - 63: inside */
	drain(p);
	ack_of(fk.ack_count - 1, &a, e);
	CHECK(a.status == SL_SLW1_OK);

	/* 6. No ack requested: stored, released, no ack. */
	acks = fk.ack_count;
	unsigned rel = fk.released;
	len = build(frame, sizeof(frame), "orders", 77, 101, keys8, 3, 0);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 8));
	drain(p);
	CHECK(fk.ack_count == acks && fk.released == rel + 1);

	/* 7. Acks split in parts: 500 records with distinct keys over 4
	 * shards, 4 entries; a payload of one entry per datagram. */
	sl_ingest_port_destroy(p);
	p = port_open(st, SL_SLW1_ACK_PART_MIN);
	acks = fk.ack_count;
	len = build(frame, sizeof(frame), "orders", 78, 1, keys8, 8, SL_SLW1_F_ACK_REQUESTED);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 9));
	drain(p);
	CHECK(fk.ack_count == acks + 4);
	for (unsigned i = 0; i < 4; i++) {
		ack_of(acks + i, &a, e);
		CHECK(a.part == i && a.parts == 4 && a.entry_count == 1 && e[0].shard == order[i]);
	}
	sl_ingest_port_destroy(p);

	/* 8. Restart: the dedupe window comes back from the segments; the
	 * first frame is answered DUPLICATE with its original entries. */
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	CHECK(sl_store_open(&o, &st) == 0);
	tu_writer_start(&w, st, 0);
	p = port_open(st, 0);
	acks = fk.ack_count;
	len = build(frame, sizeof(frame), "orders", 77, 1, keys8, 8, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 10));
	ack_of(acks, &a, e);
	CHECK(a.flags == SL_SLW1_ACK_F_DUPLICATE && a.status == SL_SLW1_OK && a.entry_count == 4);
	CHECK(memcmp(e, first, sizeof(first)) == 0);
	/* And the stale rule survives too (the highest was 101). */
	len = build(frame, sizeof(frame), "orders", 77, 2, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 11));
	ack_of(acks + 1, &a, e);
	CHECK(a.status == SL_SLW1_STALE_BATCH);

	/* 9. A deleted stream: STREAM_NOT_FOUND from the next frame on. */
	/* This thread is the port's reader too: offline, so the delete's
	 * grace period does not wait for it. */
	sl_ingest_offline(p);
	CHECK(sl_store_stream_delete(st, sid) == 0);
	sl_ingest_online(p);
	len = build(frame, sizeof(frame), "orders", 79, 1, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(!sl_ingest_frame(p, frame, len, frame, reply, 12));
	ack_of(fk.ack_count - 1, &a, e);
	CHECK(a.status == SL_SLW1_STREAM_NOT_FOUND);

	sl_ingest_port_destroy(p);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* A full shard ring answers THROTTLED, and nothing is retained. */
static void test_throttled(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	uint8_t frame[4096];
	struct sl_slw1_ack a;
	struct sl_slw1_ack_entry e[8];

	CHECK(tu_tmpdir(dir, sizeof(dir), "ingest") != NULL);
	tu_options(&o, dir);
	o.ring_slots = 4;
	CHECK(sl_store_open(&o, &st) == 0);
	make_stream(st, "t", 1, SL_RECORD_SIZE_DEFAULT);
	memset(&fk, 0, sizeof(fk));
	struct sl_ingest_port *p = port_open(st, 0);
	/* No writer runs: the ring fills after 4 appends. */
	unsigned retained = 0;
	for (uint64_t b = 1; b <= 6; b++) {
		size_t len =
		    build(frame, sizeof(frame), "t", 5, b, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
		retained += sl_ingest_frame(p, frame, len, NULL, reply, b);
	}
	CHECK(retained == 4);
	CHECK(fk.ack_count == 2);
	ack_of(0, &a, e);
	CHECK(a.status == SL_SLW1_THROTTLED && a.batch_seq == 5 && a.entry_count == 1);
	CHECK(e[0].status == SL_SLW1_THROTTLED);
	/* Throttled frames are not remembered: the retry is stored. */
	struct tu_writer w;
	tu_writer_start(&w, st, 0);
	drain(p);
	size_t len = build(frame, sizeof(frame), "t", 5, 5, keys8, 1, SL_SLW1_F_ACK_REQUESTED);
	CHECK(sl_ingest_frame(p, frame, len, NULL, reply, 5));
	drain(p);
	ack_of(fk.ack_count - 1, &a, e);
	CHECK(a.status == SL_SLW1_OK && a.flags == 0);
	sl_ingest_port_destroy(p);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* A 500-record frame over a 64-shard stream: one entry per shard touched,
 * in order of first appearance, counts matching, consecutive sequence
 * numbers per shard. Shards expected from the Kinesis split, computed here:
 * shard = MD5(key) / floor(2^128 / 64) (MD5 itself is held to hashlib by
 * test_md5). */
static void test_wide(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	static uint8_t frame[1 << 16];
	static struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];
	static char keybuf[SL_FRAME_RECORDS_MAX][16];
	static const char *keys[SL_FRAME_RECORDS_MAX];
	struct sl_slw1_ack a;

	CHECK(tu_tmpdir(dir, sizeof(dir), "ingest") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream(st, "wide", 64, SL_RECORD_SIZE_DEFAULT);
	tu_writer_start(&w, st, 0);
	memset(&fk, 0, sizeof(fk));
	struct sl_ingest_port *p = port_open(st, 0);
	uint32_t want_shard[64], want_count[64], n = 0;
	sl_u128 step = ((sl_u128)1 << 127) / 32; /* floor(2^128 / 64) */
	for (unsigned i = 0; i < SL_FRAME_RECORDS_MAX; i++) {
		snprintf(keybuf[i], sizeof(keybuf[i]), "w%u", i);
		keys[i] = keybuf[i];
		sl_u128 h = sl_hash_partition_key((const uint8_t *)keys[i], strlen(keys[i]));
		uint32_t shard = (uint32_t)(h / step) > 63 ? 63 : (uint32_t)(h / step);
		unsigned k = 0;
		while (k < n && want_shard[k] != shard)
			k++;
		if (k == n) {
			want_shard[n] = shard;
			want_count[n++] = 0;
		}
		want_count[k]++;
	}
	size_t len = build(frame, sizeof(frame), "wide", 9, 1, keys, SL_FRAME_RECORDS_MAX,
			   SL_SLW1_F_ACK_REQUESTED);
	CHECK(len > 0);
	CHECK(sl_ingest_frame(p, frame, len, frame, reply, 1));
	drain(p);
	ack_of(0, &a, e);
	CHECK(a.status == SL_SLW1_OK && a.entry_count == n);
	for (unsigned k = 0; k < n && k < a.entry_count; k++) {
		CHECK(e[k].shard == want_shard[k] && e[k].record_count == want_count[k]);
		unsigned idx[SL_FRAME_RECORDS_MAX], m = 0;
		for (unsigned i = 0; i < SL_FRAME_RECORDS_MAX; i++) {
			sl_u128 h =
			    sl_hash_partition_key((const uint8_t *)keys[i], strlen(keys[i]));
			uint32_t shard = (uint32_t)(h / step) > 63 ? 63 : (uint32_t)(h / step);
			if (shard == want_shard[k])
				idx[m++] = i;
		}
		check_stored(st, s.id, e[k].shard, e[k].first_seq, keys, idx, m < 64 ? m : 64, 1);
	}
	sl_ingest_port_destroy(p);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

int main(void)
{
	test_frames();
	test_throttled();
	test_wide();
	/* Every record of a parsed frame ended once: stored, rejected or a
	 * duplicate (nothing is in flight now). */
	CHECK(counter("records") > 0);
	CHECK(counter("records") == counter("records_stored") + counter("records_rejected") +
					counter("records_duplicate"));
	CHECK(counter("records_duplicate") > 0 && counter("records_rejected") > 0);
	return sl_check_finish("test_ingest");
}
