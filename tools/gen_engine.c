/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: the engine. It paces new frames (a token bucket in frames or
 * records per second, or as fast as the window allows), keeps up to
 * `window` frames in flight, checks every ack against the frame it answers,
 * retransmits the very same bytes (same producer_id, same batch_seq) when an
 * ack does not come in time, resends THROTTLED frames after a backoff, and
 * counts everything (gen.h, struct gen_stats).
 *
 * The window slides: a new batch_seq goes out only while it is less than
 * `window` above the oldest unfinished one, so slot batch_seq % window is
 * free for it, and a retransmission is never 64 or more below the highest
 * batch_seq sent (the appliance would answer STALE_BATCH; GEN_WINDOW_MAX).
 *
 * An ack may come in parts (UDP, WIRE.md): the parts of one answer are
 * gathered per slot until all are in, then the answer is judged:
 *   OK        every entry OK, each record_count >= 1, the counts summing to
 *             the frame's records: acked (DUPLICATE counted apart);
 *   PARTIAL   entries summing to the records, some OK and some not: the OK
 *             entries' records are stored, the rest failed; final (a
 *             retransmission would get the same remembered answer);
 *   THROTTLED resent after backoff_ns, doubling up to backoff_max_ns, at
 *             most throttle_retries times, then lost;
 *   others    final failures, counted by status.
 * An ack that breaks a rule (format or CRC, producer_id, a batch_seq never
 * sent, counts that do not add up, over TCP an ack out of order) is counted
 * as bad and otherwise ignored: the frame's timeout retransmits it, and the
 * appliance's dedupe answers the retransmission.
 *
 * Over TCP a lost ack means a stuck or broken connection: a timeout (or the
 * peer closing) reconnects and resends every frame still waiting, each
 * resend taking one of that frame's retries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include "gen.h"

#define SEND_BURST_MAX  64                   /* new frames per loop turn */
#define WAIT_MAX_NS     (100 * SL_NS_PER_MS) /* re-check limits and signals this often */
#define BUCKET_BURST_NS (5 * SL_NS_PER_MS)   /* token bucket depth, in time at the rate */
#define ACK_PARTS_BITS  (SL_SLW1_ACK_PARTS_MAX + 1)
#define ACK_PARTS_WORDS (ACK_PARTS_BITS / 64)

SL_STATIC_ASSERT(GEN_WINDOW_MAX <= 64);
SL_STATIC_ASSERT(ACK_PARTS_BITS % 64 == 0);

enum slot_state {
	SLOT_FREE = 0,
	SLOT_WAIT_ACK, /* sent; deadline_ns = its timeout */
	SLOT_BACKOFF,  /* THROTTLED; deadline_ns = when to resend */
	SLOT_RESEND,   /* TCP after a reconnect: resend as soon as there is room */
};

struct slot {
	enum slot_state state;
	uint64_t batch_seq;
	uint8_t *buf; /* the frame, kept for retransmission */
	size_t len;
	uint16_t records;
	uint64_t first_sent_ns;
	uint64_t deadline_ns;
	uint32_t timeouts; /* retransmissions so far */
	uint32_t throttles;
	/* The answer being gathered (parts == 0: none yet). */
	uint8_t parts;
	uint8_t status;
	uint8_t flags;
	uint16_t parts_seen;
	uint64_t seen[ACK_PARTS_WORDS];
	uint16_t entry_n;
	struct sl_slw1_ack_entry *entries; /* room for `records_per_frame` */
	uint16_t part_off[SL_SLW1_ACK_PARTS_MAX];
	uint16_t part_cnt[SL_SLW1_ACK_PARTS_MAX];
};

struct engine {
	const struct gen_options *o;
	struct gen_transport *t;
	struct gen_payload *p;
	struct gen_stats *s;
	struct gen_hist *h;
	FILE *acks_out;
	volatile const sig_atomic_t *stop;

	struct slot *slots;
	uint32_t window;
	size_t frame_cap;
	struct slot scratch; /* --no-ack: the one frame, never waiting for an ack */
	uint64_t next_seq;
	uint64_t base; /* oldest unfinished batch_seq; == next_seq when none */
	uint32_t inflight;

	/* TCP: the batch_seq of each ack expected, in order. */
	uint64_t fifo[GEN_WINDOW_MAX];
	uint32_t fifo_head, fifo_n;
	bool conn_down;
	uint64_t reconnect_at_ns;
	uint32_t reconnect_failures;
	int fatal;

	double tokens;
	double bucket_cap;
	uint64_t bucket_ns;

	uint64_t start_ns;
	bool stopping;
	uint64_t stop_ns;          /* when stopping began */
	uint64_t blocked_since_ns; /* --no-ack: the transport had no room since */
	struct sl_slw1_ack_entry tmp[SL_FRAME_RECORDS_MAX];
};

static void reset_answer(struct slot *sl)
{
	sl->parts = 0;
	sl->parts_seen = 0;
	sl->entry_n = 0;
	memset(sl->seen, 0, sizeof(sl->seen));
}

static void bad_ack(struct engine *e, uint64_t *reason)
{
	(*reason)++;
	e->s->bad_acks++;
}

static void fifo_push(struct engine *e, uint64_t seq)
{
	SL_ASSERT(e->fifo_n < GEN_WINDOW_MAX);
	e->fifo[(e->fifo_head + e->fifo_n) % GEN_WINDOW_MAX] = seq;
	e->fifo_n++;
}

/*
 * TCP: the ack must answer the oldest frame still expecting one. When it
 * answers a later one, the acks in between were skipped: count it bad, drop
 * them from the queue (their timeouts resend them), and carry on.
 */
static bool fifo_check(struct engine *e, uint64_t seq)
{
	for (uint32_t i = 0; i < e->fifo_n; i++) {
		if (e->fifo[(e->fifo_head + i) % GEN_WINDOW_MAX] != seq)
			continue;
		e->fifo_head = (e->fifo_head + i + 1) % GEN_WINDOW_MAX;
		e->fifo_n -= i + 1;
		if (i == 0)
			return true;
		bad_ack(e, &e->s->bad_ack_order);
		return false;
	}
	bad_ack(e, &e->s->bad_ack_order);
	return false;
}

static void transmit(struct engine *e, struct slot *sl, uint64_t now)
{
	int rc = e->t->ops->send(e->t, sl->buf, sl->len);
	e->s->transmissions++;
	sl->state = SLOT_WAIT_ACK;
	sl->deadline_ns = now + e->o->timeout_ns;
	if (e->t->ordered && rc == 0)
		fifo_push(e, sl->batch_seq);
	if (rc == -EPIPE)
		e->conn_down = true;
}

static void advance_base(struct engine *e)
{
	while (e->base < e->next_seq && e->slots[e->base % e->window].state == SLOT_FREE)
		e->base++;
}

static void finish(struct engine *e, struct slot *sl)
{
	SL_ASSERT(sl->state != SLOT_FREE);
	SL_ASSERT(e->inflight > 0);
	sl->state = SLOT_FREE;
	reset_answer(sl);
	e->inflight--;
	advance_base(e);
}

static void give_up(struct engine *e, struct slot *sl)
{
	e->s->lost++;
	e->s->records_lost += sl->records;
	finish(e, sl);
}

/* One line per stored entry, parts in order: for tests reading records back. */
static void record_entries(struct engine *e, const struct slot *sl)
{
	if (e->acks_out == NULL)
		return;
	for (unsigned part = 0; part < sl->parts; part++) {
		for (unsigned i = 0; i < sl->part_cnt[part]; i++) {
			const struct sl_slw1_ack_entry *en = &sl->entries[sl->part_off[part] + i];
			if (en->status != SL_SLW1_OK)
				continue;
			char seq[SL_U128_DEC_BUF];
			sl_u128_to_dec(en->first_seq, seq);
			fprintf(e->acks_out, "%" PRIu64 " %" PRIu64 " %" PRIu32 " %s %u\n",
				e->o->producer_id, sl->batch_seq, en->shard, seq,
				(unsigned)en->record_count);
		}
	}
}

/* Entries of an OK or PARTIAL answer: counts >= 1 summing to the frame's. */
static bool entries_valid(const struct slot *sl, uint32_t *ok_records, uint32_t *ok_n)
{
	uint32_t sum = 0;
	*ok_records = 0;
	*ok_n = 0;
	for (uint16_t i = 0; i < sl->entry_n; i++) {
		const struct sl_slw1_ack_entry *en = &sl->entries[i];
		if (en->record_count == 0 || en->status == SL_SLW1_PARTIAL)
			return false;
		sum += en->record_count;
		if (en->status == SL_SLW1_OK) {
			*ok_records += en->record_count;
			(*ok_n)++;
		}
	}
	return sum == sl->records;
}

static uint64_t backoff_ns(const struct gen_options *o, uint32_t throttles)
{
	uint64_t b = o->backoff_ns;
	for (uint32_t i = 1; i < throttles && b < o->backoff_max_ns; i++)
		b *= 2;
	return b < o->backoff_max_ns ? b : o->backoff_max_ns;
}

/* Every part of an answer is in: judge it. */
static void judge(struct engine *e, struct slot *sl, uint64_t now)
{
	struct gen_stats *s = e->s;
	uint32_t ok_records = 0, ok_n = 0;
	bool valid = true;

	if (sl->status == SL_SLW1_OK)
		valid = entries_valid(sl, &ok_records, &ok_n) && ok_n == sl->entry_n;
	else if (sl->status == SL_SLW1_PARTIAL)
		valid = entries_valid(sl, &ok_records, &ok_n) && ok_n > 0 && ok_n < sl->entry_n;
	if (!valid) {
		bad_ack(e, &s->bad_ack_content);
		reset_answer(sl);
		return;
	}
	s->status[sl->status]++;
	switch (sl->status) {
	case SL_SLW1_OK:
		s->frames_acked++;
		s->records_acked += sl->records;
		if (sl->flags & SL_SLW1_ACK_F_DUPLICATE)
			s->duplicate++;
		gen_hist_add(e->h, now - sl->first_sent_ns);
		record_entries(e, sl);
		finish(e, sl);
		return;
	case SL_SLW1_PARTIAL:
		s->partial++;
		s->failed++;
		s->records_acked += ok_records;
		s->records_failed += sl->records - ok_records;
		record_entries(e, sl);
		finish(e, sl);
		return;
	case SL_SLW1_THROTTLED:
		s->throttled++;
		if (sl->throttles >= e->o->throttle_retries) {
			give_up(e, sl);
			return;
		}
		sl->throttles++;
		sl->state = SLOT_BACKOFF;
		sl->deadline_ns = now + backoff_ns(e->o, sl->throttles);
		reset_answer(sl);
		return;
	default:
		s->failed++;
		s->records_failed += sl->records;
		finish(e, sl);
		return;
	}
}

/* Add one ack datagram to its slot's answer. */
static void absorb(struct engine *e, struct slot *sl, const struct sl_slw1_ack *ack, uint64_t now)
{
	/* Parts of another answer to the same frame (the original's and the
	 * retransmission's, which says DUPLICATE): start over with this one. */
	if (sl->parts != 0 &&
	    (ack->parts != sl->parts || ack->status != sl->status || ack->flags != sl->flags))
		reset_answer(sl);
	if (sl->parts == 0) {
		sl->parts = ack->parts;
		sl->status = ack->status;
		sl->flags = ack->flags;
	}
	uint64_t bit = UINT64_C(1) << (ack->part % 64);
	if (sl->seen[ack->part / 64] & bit) {
		e->s->late_acks++; /* this part again: a repeated answer */
		return;
	}
	if ((uint32_t)sl->entry_n + ack->entry_count > sl->records) {
		bad_ack(e, &e->s->bad_ack_content);
		reset_answer(sl);
		return;
	}
	sl->seen[ack->part / 64] |= bit;
	sl->parts_seen++;
	sl->part_off[ack->part] = sl->entry_n;
	sl->part_cnt[ack->part] = ack->entry_count;
	memcpy(&sl->entries[sl->entry_n], e->tmp, ack->entry_count * sizeof(e->tmp[0]));
	sl->entry_n = (uint16_t)(sl->entry_n + ack->entry_count);
	if (sl->parts_seen == sl->parts)
		judge(e, sl, now);
}

static void on_ack(void *arg, const uint8_t *buf, size_t len)
{
	struct engine *e = arg;
	struct gen_stats *s = e->s;
	struct sl_slw1_ack ack;

	s->acks_received++;
	if (sl_slw1_ack_parse(buf, len, &ack, e->tmp, SL_FRAME_RECORDS_MAX) != 0) {
		bad_ack(e, &s->bad_ack_format);
		return;
	}
	if (ack.producer_id != e->o->producer_id) {
		bad_ack(e, &s->bad_ack_producer);
		return;
	}
	uint64_t seq = ack.batch_seq;
	if (e->o->no_ack || seq < e->o->batch_seq_start || seq >= e->next_seq) {
		bad_ack(e, &s->bad_ack_unknown);
		return;
	}
	if (e->t->ordered) {
		if (ack.parts != 1) {
			bad_ack(e, &s->bad_ack_content);
			return;
		}
		if (!fifo_check(e, seq))
			return;
	}
	struct slot *sl = &e->slots[seq % e->window];
	if (seq < e->base || sl->state == SLOT_FREE || sl->batch_seq != seq) {
		s->late_acks++;
		return;
	}
	absorb(e, sl, &ack, sl_clock_mono_ns());
}

/* Whether the window and the limits allow another new frame; its records. */
static uint16_t next_frame_records(const struct engine *e)
{
	const struct gen_options *o = e->o;
	if (o->frames_max && e->s->frames_sent >= o->frames_max)
		return 0;
	uint64_t n = o->records_per_frame;
	if (o->records_max) {
		if (e->s->records_sent >= o->records_max)
			return 0;
		uint64_t left = o->records_max - e->s->records_sent;
		n = left < n ? left : n;
	}
	return (uint16_t)n;
}

static void bucket_refill(struct engine *e, uint64_t now)
{
	if (e->o->rate <= 0)
		return;
	double add = e->o->rate * (double)(now - e->bucket_ns) / 1e9;
	e->tokens = e->tokens + add < e->bucket_cap ? e->tokens + add : e->bucket_cap;
	e->bucket_ns = now;
}

static double frame_cost(const struct engine *e, uint16_t records)
{
	return e->o->rate_records ? (double)records : 1.0;
}

/* Nanoseconds until the bucket holds `cost` tokens; 0 if it does now. */
static uint64_t bucket_wait_ns(const struct engine *e, double cost)
{
	if (e->o->rate <= 0 || e->tokens >= cost)
		return 0;
	return (uint64_t)((cost - e->tokens) / e->o->rate * 1e9) + 1;
}

static bool window_open(const struct engine *e)
{
	return e->o->no_ack || e->next_seq - e->base < e->window;
}

/* How long the transport may hold data it cannot get rid of. */
static uint64_t drain_bound_ns(const struct gen_options *o)
{
	return o->timeout_ns * (o->retries + 1ull);
}

/*
 * The transport has no room for a new frame (TCP: a peer that does not
 * read). With acks, timeouts reconnect; without, nothing would ever end the
 * wait, so a peer stuck longer than drain_bound_ns() ends the run.
 */
static void check_stuck(struct engine *e, uint64_t now)
{
	if (!e->o->no_ack)
		return;
	if (e->blocked_since_ns == 0) {
		e->blocked_since_ns = now;
		return;
	}
	if (now - e->blocked_since_ns > drain_bound_ns(e->o)) {
		fprintf(stderr, "sluice-gen: the peer took nothing for %" PRIu64 " ms\n",
			(now - e->blocked_since_ns) / SL_NS_PER_MS);
		e->s->send_errors++;
		e->fatal = -ETIMEDOUT;
	}
}

static void send_new(struct engine *e, uint64_t now)
{
	struct gen_stats *s = e->s;
	bucket_refill(e, now);
	for (unsigned i = 0; i < SEND_BURST_MAX && !e->conn_down; i++) {
		uint16_t n = next_frame_records(e);
		if (n == 0 || !window_open(e))
			return;
		double cost = frame_cost(e, n);
		if (bucket_wait_ns(e, cost) > 0)
			return;
		if (!e->t->ops->room(e->t, e->frame_cap)) {
			check_stuck(e, now);
			return;
		}
		e->blocked_since_ns = 0;
		if (e->o->rate > 0)
			e->tokens -= cost;
		struct slot *sl = e->o->no_ack ? &e->scratch : &e->slots[e->next_seq % e->window];
		SL_ASSERT(sl->state == SLOT_FREE);
		sl->len = gen_payload_frame(e->p, e->next_seq, n, sl->buf, e->frame_cap);
		SL_ASSERT(sl->len > 0);
		sl->batch_seq = e->next_seq++;
		sl->records = n;
		sl->first_sent_ns = now;
		sl->timeouts = 0;
		sl->throttles = 0;
		reset_answer(sl);
		s->frames_sent++;
		s->records_sent += n;
		s->bytes_sent += sl->len;
		if (e->o->no_ack) {
			if (e->t->ops->send(e->t, sl->buf, sl->len) == -EPIPE)
				e->conn_down = true;
			s->transmissions++;
			continue;
		}
		e->inflight++;
		transmit(e, sl, now);
	}
}

/* Timeouts, backoffs and resends that are due, oldest batch_seq first. */
static void service_slots(struct engine *e, uint64_t now)
{
	bool reconnect = false;
	for (uint64_t seq = e->base; seq < e->next_seq && !e->conn_down; seq++) {
		struct slot *sl = &e->slots[seq % e->window];
		if (sl->state == SLOT_FREE || sl->batch_seq != seq)
			continue;
		if (sl->state == SLOT_RESEND ||
		    (sl->state == SLOT_BACKOFF && now >= sl->deadline_ns)) {
			if (!e->t->ops->room(e->t, sl->len))
				return;
			if (sl->state == SLOT_BACKOFF)
				e->s->throttle_resends++;
			transmit(e, sl, now);
			continue;
		}
		if (sl->state != SLOT_WAIT_ACK || now < sl->deadline_ns)
			continue;
		if (e->t->ordered) {
			reconnect = true; /* the connection is stuck: start over */
			break;
		}
		if (sl->timeouts >= e->o->retries) {
			give_up(e, sl);
			continue;
		}
		sl->timeouts++;
		e->s->retried++;
		transmit(e, sl, now);
	}
	if (reconnect) {
		e->conn_down = true;
		e->reconnect_at_ns = now;
	}
}

/* Fail every unfinished frame: the transport is gone for good. */
static void abandon_all(struct engine *e, bool interrupted)
{
	for (uint64_t seq = e->base; seq < e->next_seq; seq++) {
		struct slot *sl = &e->slots[seq % e->window];
		if (sl->state == SLOT_FREE || sl->batch_seq != seq)
			continue;
		if (interrupted)
			e->s->interrupted++;
		give_up(e, sl);
	}
	SL_ASSERT(e->inflight == 0);
}

/*
 * TCP: a new connection, then every frame that waited for an ack is sent
 * again (each resend uses one of its retries; none left: lost).
 */
static void try_reconnect(struct engine *e, uint64_t now)
{
	int rc = e->t->ops->reconnect(e->t);
	if (rc != 0) {
		e->reconnect_failures++;
		if (e->reconnect_failures > e->o->retries) {
			fprintf(stderr, "sluice-gen: giving up: %s\n", e->t->why);
			abandon_all(e, false);
			e->fatal = rc;
			return;
		}
		e->reconnect_at_ns = now + backoff_ns(e->o, e->reconnect_failures);
		return;
	}
	e->s->reconnects++;
	e->reconnect_failures = 0;
	e->conn_down = false;
	e->fifo_head = 0;
	e->fifo_n = 0;
	for (uint64_t seq = e->base; seq < e->next_seq; seq++) {
		struct slot *sl = &e->slots[seq % e->window];
		/* BACKOFF waits on; RESEND was not sent since the last
		 * reconnect, so it uses no retry. */
		if (sl->batch_seq != seq || sl->state != SLOT_WAIT_ACK)
			continue;
		if (sl->timeouts >= e->o->retries) {
			give_up(e, sl);
			continue;
		}
		sl->timeouts++;
		e->s->retried++;
		reset_answer(sl);
		sl->state = SLOT_RESEND;
	}
}

static bool limits_reached(const struct engine *e, uint64_t now)
{
	const struct gen_options *o = e->o;
	if (o->duration_ns && now - e->start_ns >= o->duration_ns)
		return true;
	if (o->frames_max && e->s->frames_sent >= o->frames_max)
		return true;
	if (o->records_max && e->s->records_sent >= o->records_max)
		return true;
	return false;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* How long the transport may wait for acks before the next thing is due. */
static uint64_t wait_ns(const struct engine *e, uint64_t now)
{
	uint64_t w = WAIT_MAX_NS;
	if (e->conn_down)
		return e->reconnect_at_ns > now ? min_u64(w, e->reconnect_at_ns - now) : 0;
	for (uint64_t seq = e->base; seq < e->next_seq; seq++) {
		const struct slot *sl = &e->slots[seq % e->window];
		if (sl->state == SLOT_FREE || sl->batch_seq != seq)
			continue;
		/* Still due after service_slots(): waiting for room in the
		 * transport (TCP), whose poll wakes when it can write. */
		if (sl->state == SLOT_RESEND || sl->deadline_ns <= now)
			continue;
		w = min_u64(w, sl->deadline_ns - now);
	}
	if (!e->stopping) {
		if (e->o->duration_ns) {
			uint64_t end = e->start_ns + e->o->duration_ns;
			w = min_u64(w, end > now ? end - now : 0);
		}
		uint16_t n = next_frame_records(e);
		if (n > 0 && window_open(e) && e->t->ops->room(e->t, e->frame_cap))
			w = min_u64(w, bucket_wait_ns(e, frame_cost(e, n)));
	}
	return w;
}

static int engine_init(struct engine *e, const struct gen_options *o)
{
	e->window = o->no_ack ? 1 : o->window;
	e->frame_cap = (size_t)gen_frame_bytes_max(o);
	SL_ASSERT(e->frame_cap <= o->payload_max);
	e->slots = calloc(e->window, sizeof(*e->slots));
	e->scratch.buf = malloc(e->frame_cap);
	if (e->slots == NULL || e->scratch.buf == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->window && !o->no_ack; i++) {
		e->slots[i].buf = malloc(e->frame_cap);
		e->slots[i].entries =
		    calloc(o->records_per_frame, sizeof(struct sl_slw1_ack_entry));
		if (e->slots[i].buf == NULL || e->slots[i].entries == NULL)
			return -ENOMEM;
	}
	e->next_seq = o->batch_seq_start;
	e->base = o->batch_seq_start;
	e->start_ns = sl_clock_mono_ns();
	e->bucket_ns = e->start_ns;
	if (o->rate > 0) {
		double full = o->rate_records ? (double)o->records_per_frame : 1.0;
		double depth = o->rate * (double)BUCKET_BURST_NS / 1e9;
		e->bucket_cap = depth > full ? depth : full;
		e->tokens = full;
	}
	return 0;
}

static void engine_fini(struct engine *e)
{
	for (uint32_t i = 0; e->slots && i < e->window; i++) {
		free(e->slots[i].buf);
		free(e->slots[i].entries);
	}
	free(e->slots);
	free(e->scratch.buf);
}

static void engine_turn(struct engine *e)
{
	uint64_t now = sl_clock_mono_ns();
	if (!e->stopping && (*e->stop || limits_reached(e, now))) {
		e->stopping = true;
		e->stop_ns = now;
	}
	if (e->conn_down && now >= e->reconnect_at_ns)
		try_reconnect(e, now);
	if (e->fatal)
		return;
	if (!e->conn_down)
		service_slots(e, now);
	if (!e->conn_down && !e->stopping)
		send_new(e, now);
	if (e->fatal)
		return;
	if (e->stopping && e->inflight == 0 && (e->conn_down || e->t->ops->idle(e->t)))
		return;
	int rc = e->t->ops->poll(e->t, wait_ns(e, sl_clock_mono_ns()), on_ack, e);
	if (rc == -EPIPE && !e->conn_down) {
		e->conn_down = true;
		e->reconnect_at_ns = sl_clock_mono_ns();
	}
}

int gen_engine_run(const struct gen_options *o, struct gen_transport *t, struct gen_payload *p,
		   struct gen_stats *s, struct gen_hist *h, FILE *acks_out,
		   volatile const sig_atomic_t *stop)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	*e = (struct engine){
	    .o = o, .t = t, .p = p, .s = s, .h = h, .acks_out = acks_out, .stop = stop};
	int rc = engine_init(e, o);
	if (rc != 0)
		goto out;
	for (;;) {
		if (*stop >= 2) {
			abandon_all(e, true);
			break;
		}
		engine_turn(e);
		if (e->fatal)
			break;
		if (e->stopping && e->inflight == 0 && (e->conn_down || t->ops->idle(t)))
			break;
		/* Nothing waits for an ack, but the transport cannot get rid of
		 * what it holds (a TCP peer that stopped reading): bounded. */
		uint64_t drain_ns = drain_bound_ns(o);
		if (e->stopping && e->inflight == 0 && sl_clock_mono_ns() - e->stop_ns > drain_ns) {
			fprintf(stderr, "sluice-gen: unsent data left after %" PRIu64 " ms\n",
				drain_ns / SL_NS_PER_MS);
			s->send_errors++;
			break;
		}
	}
	s->elapsed_ns = sl_clock_mono_ns() - e->start_ns;
	rc = e->fatal;
out:
	engine_fini(e);
	free(e);
	return rc;
}
