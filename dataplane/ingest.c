/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ingest core (ingest.h): frame → appends → ack, with the producer's
 * dedupe window. One port per ingest thread; nothing here is shared
 * between threads except the completion ring (many writers in, this port's
 * thread out) and the `sleeping` flag that decides whether a writer must
 * wake the port through its eventfd.
 *
 * Memory, all allocated at create time:
 * - frame contexts in two classes: small (up to SMALL_RECS records, so at
 *   most SMALL_RECS shards) and large (up to SL_FRAME_RECORDS_MAX); each
 *   holds its record views (grouped by shard) and one sl_append per shard;
 * - the dedupe table: producers_max producers, each a window of
 *   SL_INGEST_DEDUPE_WINDOW slots indexed by batch_seq; a slot's ack entries
 *   live in chunks of CHUNK_ENTRIES from a shared pool. A full table or an
 *   empty chunk pool evicts the least recently used producer (counted).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/counters.h>
#include <sluice/ingest.h>
#include <sluice/log.h>
#include <sluice/ring.h>
#include <sluice/shardmap.h>
#include <sluice/store.h>

#define SUBSYS "ingest"

#define SMALL_RECS    16
#define CHUNK_ENTRIES 4
#define NIL           UINT32_MAX

/* ---- counters ---- */

enum {
	C_FRAMES,
	C_RECORDS,
	C_BYTES,
	C_FRAMES_OK,
	C_FRAMES_PARTIAL,
	C_RECORDS_STORED,
	C_RECORDS_REJECTED,
	C_RECORDS_DUPLICATE,
	C_MALFORMED_FIRST, /* one per enum sl_slw1_reason, R_NONE excluded */
	C_MALFORMED_LAST = C_MALFORMED_FIRST + SL_SLW1_R_COUNT - 2,
	C_UNAUTHORIZED,
	C_TOO_LARGE,
	C_STREAM_NOT_FOUND,
	C_THROTTLED,
	C_THROTTLED_NO_CONTEXT,
	C_STALE_BATCH,
	C_INTERNAL,
	C_SHUTTING_DOWN,
	C_DUPLICATE,
	C_DUPLICATE_IN_FLIGHT,
	C_DEDUPE_EVICTED,
	C_ACKS,
	C_ACK_DATAGRAMS,
	C_NOT_FOR_US,
	C_BAD_PACKET,
	C_IP_FRAGMENT,
	C_ACK_TX_DROP,
	C_COUNT
};

static const struct sl_counter_def defs[C_COUNT] = {
    [C_FRAMES] = {"frames", "SLW1 frames that reached the ingest core"},
    [C_RECORDS] = {"records", "records in frames that parsed"},
    [C_BYTES] = {"bytes", "bytes of frames that reached the ingest core"},
    [C_FRAMES_OK] = {"frames_ok", "frames stored whole"},
    [C_FRAMES_PARTIAL] = {"frames_partial", "frames stored in part (some shards refused)"},
    [C_RECORDS_STORED] = {"records_stored", "records stored (acked or not)"},
    [C_RECORDS_REJECTED] = {"records_rejected",
			    "records of parsed frames not stored: throttled, stream not found, "
			    "too large, stale, shard failed, stopping"},
    [C_RECORDS_DUPLICATE] = {"records_duplicate",
			     "records of retransmitted frames, not stored again"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_MAGIC - 1] = {"malformed_bad_magic",
						     "frames dropped: not SLW1 magic"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_VERSION - 1] = {"malformed_bad_version",
						       "frames dropped: version not 1"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_FLAGS - 1] = {"malformed_bad_flags",
						     "frames dropped: unknown flag bits"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_COUNT - 1] = {"malformed_bad_count",
						     "frames dropped: record_count out of range"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_LENGTH - 1] = {"malformed_bad_length",
						      "frames dropped: frame_len wrong"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_STREAM - 1] = {"malformed_bad_stream",
						      "frames dropped: bad stream name"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_RECORD - 1] = {"malformed_bad_record",
						      "frames dropped: bad record"},
    [C_MALFORMED_FIRST + SL_SLW1_R_TRAILING - 1] = {"malformed_trailing",
						    "frames dropped: bytes after the records"},
    [C_MALFORMED_FIRST + SL_SLW1_R_BAD_CRC - 1] = {"malformed_bad_crc",
						   "frames dropped: CRC-32C mismatch"},
    [C_UNAUTHORIZED] = {"unauthorized", "frames refused: AUTH set, no keys configured"},
    [C_TOO_LARGE] = {"too_large", "frames refused: a record over the stream's maximum"},
    [C_STREAM_NOT_FOUND] = {"stream_not_found", "frames refused: no such stream"},
    [C_THROTTLED] = {"throttled", "frames refused whole: shard rings full"},
    [C_THROTTLED_NO_CONTEXT] = {"throttled_no_context",
				"frames refused: too many frames awaiting storage"},
    [C_STALE_BATCH] = {"stale_batch", "frames refused: batch_seq below the dedupe window"},
    [C_INTERNAL] = {"internal", "frames refused whole: shard failed (I/O error)"},
    [C_SHUTTING_DOWN] = {"shutting_down", "frames refused: stopping"},
    [C_DUPLICATE] = {"duplicate", "retransmitted frames answered from the dedupe window"},
    [C_DUPLICATE_IN_FLIGHT] = {"duplicate_in_flight",
			       "retransmissions dropped while the original is being stored"},
    [C_DEDUPE_EVICTED] = {"dedupe_evicted", "producers evicted from a full dedupe table"},
    [C_ACKS] = {"acks", "frames answered with an ack"},
    [C_ACK_DATAGRAMS] = {"ack_datagrams", "ack datagrams (parts) handed to the backend"},
    [C_NOT_FOR_US] = {"not_for_us", "packets dropped: not for the ingest address and port"},
    [C_BAD_PACKET] = {"bad_packet", "packets dropped: bad Ethernet/IP/UDP header"},
    [C_IP_FRAGMENT] = {"ip_fragment", "packets dropped: IPv4 fragments"},
    [C_ACK_TX_DROP] = {"ack_tx_drop", "ack datagrams the backend could not send"},
};

static const struct sl_counter_set ingest_set = {
    .name = "ingest",
    .defs = defs,
    .count = C_COUNT,
};

/* ---- types ---- */

struct frame {
	struct sl_ingest_port *p;
	void *buf_ref;
	uint64_t cookie;
	uint64_t producer_id, batch_seq;
	uint8_t reply[SL_INGEST_REPLY_BYTES];
	struct sl_record *recs; /* cap records, grouped by shard */
	struct sl_append *apps; /* one per shard (entry) */
	uint16_t cap;           /* SMALL_RECS or SL_FRAME_RECORDS_MAX */
	uint16_t entry_count;
	uint16_t pending; /* appends not done yet */
	bool ack;
	bool large;
	uint32_t slot; /* dedupe slot (producer << 6 | index), or NIL */
	struct frame *next_free;
};

enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_DONE };

struct dslot {
	uint64_t batch_seq;
	uint32_t chunk; /* first chunk of entries, or NIL */
	uint16_t entry_count;
	uint8_t state;
	uint8_t status;
};

struct producer {
	uint64_t id; /* 0: free */
	uint64_t max_seq;
	uint64_t used; /* port tick of the last frame */
	struct dslot slots[SL_INGEST_DEDUPE_WINDOW];
};

struct chunk {
	struct sl_slw1_ack_entry e[CHUNK_ENTRIES];
	uint32_t next;
};

struct sl_ingest_port {
	struct sl_store *st;
	struct sl_ingest_options o;
	struct sl_counter_block *c;
	struct sl_qsbr_reader *qr;
	struct sl_ring *done_ring;
	int wake_fd;
	int sleeping; /* atomic: the port waits on wake_fd */
	unsigned inflight;
	uint64_t tick;

	struct frame *free_small, *free_large;
	struct frame *frames; /* all contexts */
	uint32_t frame_count;
	struct sl_record *rec_mem;
	struct sl_append *app_mem;

	/* dedupe */
	struct producer *producers;
	uint32_t producers_max, producer_count;
	uint32_t *ptab; /* open addressing: producer index, NIL empty */
	uint32_t ptab_mask;
	struct chunk *chunks;
	uint32_t chunk_free;

	/* per frame scratch (owning thread only) */
	struct sl_record recs[SL_FRAME_RECORDS_MAX];
	const struct sl_shardmap_shard *route[SL_FRAME_RECORDS_MAX];
	uint16_t group[SL_FRAME_RECORDS_MAX]; /* record → its entry */
	/* A shard's entry in the frame being routed, by the shard's place in
	 * the stream's map; valid when entry_frame[k] == frame_no. */
	uint32_t frame_no;
	uint32_t entry_frame[SL_SHARDS_PER_STREAM_MAX];
	uint16_t entry_of[SL_SHARDS_PER_STREAM_MAX];
	struct sl_slw1_ack_entry ents[SL_FRAME_RECORDS_MAX];
	uint8_t ackbuf[SL_SLW1_ACK_HDR_BYTES + SL_FRAME_RECORDS_MAX * SL_SLW1_ACK_ENTRY_BYTES +
		       SL_SLW1_CRC_BYTES];
};

/* ---- dedupe table ---- */

static uint32_t phash(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (uint32_t)id;
}

static uint32_t producer_find(const struct sl_ingest_port *p, uint64_t id)
{
	for (uint32_t i = phash(id) & p->ptab_mask;; i = (i + 1) & p->ptab_mask) {
		uint32_t k = p->ptab[i];
		if (k == NIL || p->producers[k].id == id)
			return k;
	}
}

static void chunks_free(struct sl_ingest_port *p, uint32_t c)
{
	while (c != NIL) {
		uint32_t next = p->chunks[c].next;
		p->chunks[c].next = p->chunk_free;
		p->chunk_free = c;
		c = next;
	}
}

static void slot_clear(struct sl_ingest_port *p, struct dslot *s)
{
	chunks_free(p, s->chunk);
	*s = (struct dslot){.chunk = NIL};
}

/* Remove producer k (no slot of it PENDING: pending frames point at it). */
static void producer_remove(struct sl_ingest_port *p, uint32_t k)
{
	struct producer *pr = &p->producers[k];
	for (unsigned i = 0; i < SL_INGEST_DEDUPE_WINDOW; i++)
		slot_clear(p, &pr->slots[i]);
	/* Delete from the linear-probing table by shifting back. */
	uint32_t i = phash(pr->id) & p->ptab_mask;
	while (p->ptab[i] != k)
		i = (i + 1) & p->ptab_mask;
	for (uint32_t j = (i + 1) & p->ptab_mask; p->ptab[j] != NIL; j = (j + 1) & p->ptab_mask) {
		uint32_t home = phash(p->producers[p->ptab[j]].id) & p->ptab_mask;
		/* Move j back to i when its home is not in (i, j]. */
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!between) {
			p->ptab[i] = p->ptab[j];
			i = j;
		}
	}
	p->ptab[i] = NIL;
	pr->id = 0;
	p->producer_count--;
}

static bool producer_has_pending(const struct producer *pr)
{
	for (unsigned i = 0; i < SL_INGEST_DEDUPE_WINDOW; i++) {
		if (pr->slots[i].state == SLOT_PENDING)
			return true;
	}
	return false;
}

/* Evict the least recently used producer with nothing in flight. */
static bool producer_evict(struct sl_ingest_port *p, uint32_t keep)
{
	uint32_t victim = NIL;
	for (uint32_t k = 0; k < p->producers_max; k++) {
		const struct producer *pr = &p->producers[k];
		if (pr->id == 0 || k == keep || producer_has_pending(pr))
			continue;
		if (victim == NIL || pr->used < p->producers[victim].used)
			victim = k;
	}
	if (victim == NIL)
		return false;
	producer_remove(p, victim);
	sl_counter_inc(p->c, C_DEDUPE_EVICTED);
	return true;
}

/* The producer's index, added if new (evicting when full); NIL if it
 * cannot be added. */
static uint32_t producer_get(struct sl_ingest_port *p, uint64_t id)
{
	uint32_t k = producer_find(p, id);
	if (k != NIL)
		return k;
	if (p->producer_count == p->producers_max && !producer_evict(p, NIL))
		return NIL;
	for (k = 0; p->producers[k].id != 0; k++)
		;
	struct producer *pr = &p->producers[k];
	pr->id = id;
	pr->max_seq = 0;
	for (unsigned i = 0; i < SL_INGEST_DEDUPE_WINDOW; i++)
		pr->slots[i] = (struct dslot){.chunk = NIL};
	uint32_t i = phash(id) & p->ptab_mask;
	while (p->ptab[i] != NIL)
		i = (i + 1) & p->ptab_mask;
	p->ptab[i] = k;
	p->producer_count++;
	return k;
}

static uint32_t chunk_alloc(struct sl_ingest_port *p, uint32_t keep)
{
	if (p->chunk_free == NIL && !producer_evict(p, keep))
		return NIL;
	uint32_t c = p->chunk_free;
	p->chunk_free = p->chunks[c].next;
	p->chunks[c].next = NIL;
	return c;
}

/* Remember the ack entries of a finished frame in its slot. */
static void slot_store(struct sl_ingest_port *p, uint32_t k, struct dslot *s, uint8_t status,
		       const struct sl_slw1_ack_entry *e, uint16_t n)
{
	uint32_t *link = &s->chunk;
	for (uint16_t i = 0; i < n; i += CHUNK_ENTRIES) {
		uint32_t c = chunk_alloc(p, k);
		if (c == NIL) {
			/* Cannot remember it: forget the frame whole rather than
			 * answer a retransmission with half an ack. */
			slot_clear(p, s);
			sl_counter_inc(p->c, C_DEDUPE_EVICTED);
			return;
		}
		uint16_t m = n - i < CHUNK_ENTRIES ? n - i : CHUNK_ENTRIES;
		memcpy(p->chunks[c].e, e + i, m * sizeof(*e));
		*link = c;
		link = &p->chunks[c].next;
	}
	s->state = SLOT_DONE;
	s->status = status;
	s->entry_count = n;
}

/* ---- acks ---- */

static void send_ack(struct sl_ingest_port *p, const uint8_t *reply, uint64_t cookie,
		     const struct sl_slw1_ack *a, const struct sl_slw1_ack_entry *e, uint16_t n)
{
	size_t payload = p->o.ack_payload_max;
	int parts = payload != 0 ? sl_slw1_ack_parts(n, payload) : 1;
	if (parts < 0) {
		sl_counter_inc(p->c, C_ACK_TX_DROP);
		return;
	}
	sl_counter_inc(p->c, C_ACKS);
	if (payload == 0 || parts == 1) {
		struct sl_slw1_ack one = *a;
		one.part = 0;
		one.parts = 1;
		size_t len = sl_slw1_ack_build(p->ackbuf, sizeof(p->ackbuf), &one, e, n);
		SL_ASSERT(len > 0);
		p->o.ops->send_ack(p->o.backend, reply, cookie, p->ackbuf, len);
		sl_counter_inc(p->c, C_ACK_DATAGRAMS);
		return;
	}
	for (int part = 0; part < parts; part++) {
		size_t len = sl_slw1_ack_build_part(p->ackbuf, sizeof(p->ackbuf), a, e, n, payload,
						    (uint8_t)part);
		SL_ASSERT(len > 0);
		p->o.ops->send_ack(p->o.backend, reply, cookie, p->ackbuf, len);
		sl_counter_inc(p->c, C_ACK_DATAGRAMS);
	}
}

/* Answer a frame that stores nothing: status, no entries. */
static void answer(struct sl_ingest_port *p, const struct sl_slw1_frame *f, const uint8_t *reply,
		   uint64_t cookie, uint8_t status, unsigned counter)
{
	sl_counter_inc(p->c, counter);
	if (!(f->flags & SL_SLW1_F_ACK_REQUESTED))
		return;
	struct sl_slw1_ack a = {
	    .producer_id = f->producer_id,
	    .batch_seq = f->batch_seq,
	    .status = status,
	};
	send_ack(p, reply, cookie, &a, NULL, 0);
}

/* Answer a parsed frame that stores nothing: its records are rejected. */
static void refuse(struct sl_ingest_port *p, const struct sl_slw1_frame *f, const uint8_t *reply,
		   uint64_t cookie, uint8_t status, unsigned counter)
{
	sl_counter_add(p->c, C_RECORDS_REJECTED, f->record_count);
	answer(p, f, reply, cookie, status, counter);
}

/* Answer a retransmission from its dedupe slot. */
static void answer_duplicate(struct sl_ingest_port *p, const struct sl_slw1_frame *f,
			     const uint8_t *reply, uint64_t cookie, const struct dslot *s)
{
	sl_counter_inc(p->c, C_DUPLICATE);
	if (!(f->flags & SL_SLW1_F_ACK_REQUESTED))
		return;
	uint16_t n = 0;
	for (uint32_t c = s->chunk; c != NIL && n < s->entry_count; c = p->chunks[c].next) {
		for (unsigned i = 0; i < CHUNK_ENTRIES && n < s->entry_count; i++)
			p->ents[n++] = p->chunks[c].e[i];
	}
	struct sl_slw1_ack a = {
	    .producer_id = f->producer_id,
	    .batch_seq = f->batch_seq,
	    .status = s->status,
	    .flags = SL_SLW1_ACK_F_DUPLICATE,
	};
	send_ack(p, reply, cookie, &a, p->ents, n);
}

/* ---- completions ---- */

/* Writer thread: hand the append back to its port. */
static void app_done(struct sl_append *app)
{
	struct frame *fr = app->owner;
	struct sl_ingest_port *p = fr->p;
	int rc = sl_ring_enqueue(p->done_ring, app);
	SL_ASSERT(rc == 0); /* the ring holds every append the port owns */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&p->sleeping, 0, __ATOMIC_SEQ_CST)) {
		uint64_t one = 1;
		ssize_t n = write(p->wake_fd, &one, sizeof(one));
		(void)n; /* EAGAIN: the counter is already non-zero */
	}
}

static uint8_t status_of(int rc)
{
	switch (rc) {
	case 0:
		return SL_SLW1_OK;
	case -ENOBUFS:
		return SL_SLW1_THROTTLED;
	case -ENOENT:
		return SL_SLW1_STREAM_NOT_FOUND;
	case -ESHUTDOWN:
		return SL_SLW1_SHUTTING_DOWN;
	case -EMSGSIZE:
		return SL_SLW1_TOO_LARGE;
	default:
		return SL_SLW1_INTERNAL;
	}
}

static void frame_free(struct sl_ingest_port *p, struct frame *fr)
{
	if (fr->large) {
		fr->next_free = p->free_large;
		p->free_large = fr;
	} else {
		fr->next_free = p->free_small;
		p->free_small = fr;
	}
}

/* Every append of fr is done: ack, remember, release (when retained). */
static void frame_finish(struct sl_ingest_port *p, struct frame *fr, bool retained)
{
	uint16_t ok = 0, n = fr->entry_count;
	uint32_t stored = 0, rejected = 0;
	uint8_t first_bad = SL_SLW1_OK;
	bool same = true;
	for (uint16_t i = 0; i < n; i++) {
		const struct sl_append *a = &fr->apps[i];
		p->ents[i] = (struct sl_slw1_ack_entry){
		    .first_seq = a->status == SL_APPEND_OK ? a->first_seq : 0,
		    .shard = a->shard_id,
		    .record_count = a->record_count,
		    .status = a->status,
		};
		if (a->status == SL_APPEND_OK) {
			ok++;
			stored += a->record_count;
		} else {
			rejected += a->record_count;
			if (first_bad == SL_SLW1_OK)
				first_bad = a->status;
		}
		if (a->status != fr->apps[0].status)
			same = false;
	}
	uint8_t status = ok == n  ? SL_SLW1_OK
			 : ok > 0 ? SL_SLW1_PARTIAL
			 : same   ? fr->apps[0].status
				  : first_bad;
	sl_counter_add(p->c, C_RECORDS_STORED, stored);
	sl_counter_add(p->c, C_RECORDS_REJECTED, rejected);
	switch (status) {
	case SL_SLW1_OK:
		sl_counter_inc(p->c, C_FRAMES_OK);
		break;
	case SL_SLW1_PARTIAL:
		sl_counter_inc(p->c, C_FRAMES_PARTIAL);
		break;
	case SL_SLW1_THROTTLED:
		sl_counter_inc(p->c, C_THROTTLED);
		break;
	case SL_SLW1_STREAM_NOT_FOUND:
		sl_counter_inc(p->c, C_STREAM_NOT_FOUND);
		break;
	case SL_SLW1_TOO_LARGE:
		sl_counter_inc(p->c, C_TOO_LARGE);
		break;
	case SL_SLW1_SHUTTING_DOWN:
		sl_counter_inc(p->c, C_SHUTTING_DOWN);
		break;
	default:
		sl_counter_inc(p->c, C_INTERNAL);
		break;
	}
	if (fr->slot != NIL) {
		uint32_t k = fr->slot >> 6;
		struct dslot *s = &p->producers[k].slots[fr->slot & 63];
		SL_ASSERT(s->state == SLOT_PENDING && s->batch_seq == fr->batch_seq);
		if (ok > 0)
			slot_store(p, k, s, status, p->ents, n);
		else
			slot_clear(p, s); /* nothing stored: a retry may store it */
	}
	if (fr->ack) {
		struct sl_slw1_ack a = {
		    .producer_id = fr->producer_id,
		    .batch_seq = fr->batch_seq,
		    .status = status,
		};
		send_ack(p, fr->reply, fr->cookie, &a, p->ents, n);
	}
	if (retained)
		p->o.ops->release(p->o.backend, fr->buf_ref, fr->cookie);
	p->inflight--;
	frame_free(p, fr);
}

unsigned sl_ingest_poll(struct sl_ingest_port *p)
{
	void *done[64];
	unsigned finished = 0;
	uint32_t n;
	while ((n = sl_ring_dequeue_burst(p->done_ring, done, SL_ARRAY_SIZE(done))) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			struct sl_append *app = done[i];
			struct frame *fr = app->owner;
			SL_ASSERT_HOT(fr->pending > 0);
			if (--fr->pending == 0) {
				frame_finish(p, fr, true);
				finished++;
			}
		}
	}
	return finished;
}

/* ---- frames ---- */

bool sl_ingest_frame(struct sl_ingest_port *p, const uint8_t *buf, size_t len, void *buf_ref,
		     const uint8_t *reply, uint64_t cookie)
{
	struct sl_slw1_frame f;
	p->tick++;
	sl_counter_inc(p->c, C_FRAMES);
	sl_counter_add(p->c, C_BYTES, len);
	enum sl_slw1_status st =
	    sl_slw1_parse(buf, len, SL_RECORD_SIZE_LIMIT, &f, p->recs, SL_FRAME_RECORDS_MAX);
	if (st == SL_SLW1_MALFORMED) {
		answer(p, &f, reply, cookie, st, C_MALFORMED_FIRST + f.reason - 1);
		return false;
	}
	if (st == SL_SLW1_UNAUTHORIZED) {
		answer(p, &f, reply, cookie, st, C_UNAUTHORIZED);
		return false;
	}
	if (st != SL_SLW1_OK) { /* TOO_LARGE even at the ceiling */
		answer(p, &f, reply, cookie, SL_SLW1_TOO_LARGE, C_TOO_LARGE);
		return false;
	}
	sl_counter_add(p->c, C_RECORDS, f.record_count);
	if (__builtin_expect(sl_store_stopping(p->st), 0)) {
		refuse(p, &f, reply, cookie, SL_SLW1_SHUTTING_DOWN, C_SHUTTING_DOWN);
		return false;
	}
	const struct sl_shardmap *map = sl_store_shardmap(p->st);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(map, f.stream, f.stream_len);
	if (s == NULL) {
		refuse(p, &f, reply, cookie, SL_SLW1_STREAM_NOT_FOUND, C_STREAM_NOT_FOUND);
		return false;
	}
	for (uint16_t i = 0; i < f.record_count; i++) {
		if ((uint32_t)p->recs[i].key_len + p->recs[i].data_len > s->max_record_bytes) {
			refuse(p, &f, reply, cookie, SL_SLW1_TOO_LARGE, C_TOO_LARGE);
			return false;
		}
	}

	/* The dedupe window. */
	uint32_t k = NIL;
	struct dslot *slot = NULL;
	if (f.producer_id != 0) {
		k = producer_get(p, f.producer_id);
		if (k != NIL) {
			struct producer *pr = &p->producers[k];
			pr->used = p->tick;
			slot = &pr->slots[f.batch_seq & (SL_INGEST_DEDUPE_WINDOW - 1)];
			if (slot->state != SLOT_EMPTY && slot->batch_seq == f.batch_seq) {
				sl_counter_add(p->c, C_RECORDS_DUPLICATE, f.record_count);
				if (slot->state == SLOT_DONE)
					answer_duplicate(p, &f, reply, cookie, slot);
				else
					sl_counter_inc(p->c, C_DUPLICATE_IN_FLIGHT);
				return false;
			}
			if (pr->max_seq >= SL_INGEST_DEDUPE_WINDOW &&
			    f.batch_seq <= pr->max_seq - SL_INGEST_DEDUPE_WINDOW) {
				refuse(p, &f, reply, cookie, SL_SLW1_STALE_BATCH, C_STALE_BATCH);
				return false;
			}
			if (slot->state == SLOT_PENDING) {
				/* The slot's frame (64 batches back) is still being
				 * stored: its place cannot be taken yet. */
				refuse(p, &f, reply, cookie, SL_SLW1_THROTTLED, C_THROTTLED);
				return false;
			}
		}
		/* k == NIL: no room even after eviction (all in flight):
		 * stored without a dedupe memory, which eviction counted. */
	}

	/* A context of the right class. */
	struct frame *fr;
	if (f.record_count <= SMALL_RECS && p->free_small != NULL) {
		fr = p->free_small;
		p->free_small = fr->next_free;
	} else if (p->free_large != NULL) {
		fr = p->free_large;
		p->free_large = fr->next_free;
	} else {
		refuse(p, &f, reply, cookie, SL_SLW1_THROTTLED, C_THROTTLED_NO_CONTEXT);
		return false;
	}

	/* Route every record, group by shard: shards in order of first
	 * appearance, records in frame order within a shard. */
	uint16_t n = 0;
	uint16_t counts[SL_FRAME_RECORDS_MAX];
	if (++p->frame_no == 0) { /* wrapped: stale stamps could match */
		memset(p->entry_frame, 0, sizeof(p->entry_frame));
		p->frame_no = 1;
	}
	sl_hash_partition_keys(p->recs, f.record_count);
	for (uint16_t i = 0; i < f.record_count; i++) {
		struct sl_record *r = &p->recs[i];
		const struct sl_shardmap_shard *sh = sl_shardmap_route(s, r->hash_key);
		uint32_t at = (uint32_t)(sh - s->shards);
		SL_ASSERT_HOT(at < SL_SHARDS_PER_STREAM_MAX);
		if (p->entry_frame[at] != p->frame_no) {
			p->entry_frame[at] = p->frame_no;
			p->entry_of[at] = n;
			p->route[n] = sh;
			counts[n++] = 0;
		}
		uint16_t e = p->entry_of[at];
		counts[e]++;
		p->group[i] = e;
	}
	uint16_t start[SL_FRAME_RECORDS_MAX];
	for (uint16_t e = 0, at = 0; e < n; e++) {
		start[e] = at;
		at += counts[e];
	}
	for (uint16_t i = 0; i < f.record_count; i++)
		fr->recs[start[p->group[i]]++] = p->recs[i];

	fr->buf_ref = buf_ref;
	fr->cookie = cookie;
	fr->producer_id = f.producer_id;
	fr->batch_seq = f.batch_seq;
	memcpy(fr->reply, reply, SL_INGEST_REPLY_BYTES);
	fr->entry_count = n;
	fr->ack = f.flags & SL_SLW1_F_ACK_REQUESTED;
	fr->slot = NIL;
	if (slot != NULL) {
		slot_clear(p, slot);
		slot->state = SLOT_PENDING;
		slot->batch_seq = f.batch_seq;
		fr->slot = k << 6 | (uint32_t)(f.batch_seq & (SL_INGEST_DEDUPE_WINDOW - 1));
		if (f.batch_seq > p->producers[k].max_seq)
			p->producers[k].max_seq = f.batch_seq;
	}
	uint64_t now = sl_clock_wall_ms();
	fr->pending = n;
	p->inflight++;
	for (uint16_t e = 0, at = 0; e < n; e++) {
		struct sl_append *a = &fr->apps[e];
		*a = (struct sl_append){
		    .producer_id = f.producer_id,
		    .batch_seq = f.batch_seq,
		    .arrival_ms = now,
		    .stream_id = s->id,
		    .shard_id = p->route[e]->shard_id,
		    .records = &fr->recs[at],
		    .record_count = counts[e],
		    .entry_index = e,
		    .entry_count = n,
		    .done = app_done,
		    .owner = fr,
		};
		at += counts[e];
		int rc = sl_store_append_shard(p->st, p->route[e]->shard, a);
		if (rc != 0) {
			a->status = status_of(rc);
			fr->pending--;
		}
	}
	if (fr->pending == 0) {
		/* Nothing was taken: answer now and keep nothing. The
		 * release callback is for retained frames only. */
		frame_finish(p, fr, false);
		return false;
	}
	return true;
}

unsigned sl_ingest_inflight(const struct sl_ingest_port *p)
{
	return p->inflight;
}

int sl_ingest_wake_fd(const struct sl_ingest_port *p)
{
	return p->wake_fd;
}

void sl_ingest_quiescent(struct sl_ingest_port *p)
{
	sl_qsbr_quiescent(p->qr);
}

void sl_ingest_offline(struct sl_ingest_port *p)
{
	sl_qsbr_offline(p->qr);
	__atomic_store_n(&p->sleeping, 1, __ATOMIC_SEQ_CST);
	/* A completion that came before the flag was seen wakes nobody:
	 * make the coming wait return at once. */
	if (sl_ring_count(p->done_ring) > 0 &&
	    __atomic_exchange_n(&p->sleeping, 0, __ATOMIC_SEQ_CST)) {
		uint64_t one = 1;
		ssize_t n = write(p->wake_fd, &one, sizeof(one));
		(void)n;
	}
}

void sl_ingest_online(struct sl_ingest_port *p)
{
	__atomic_store_n(&p->sleeping, 0, __ATOMIC_RELAXED);
	uint64_t v;
	ssize_t n = read(p->wake_fd, &v, sizeof(v)); /* non-blocking: clear it */
	(void)n;
	sl_qsbr_online(p->qr);
}

void sl_ingest_count_drop(struct sl_ingest_port *p, enum sl_ingest_drop why, uint64_t n)
{
	static const unsigned idx[SL_INGEST_DROP_COUNT] = {
	    [SL_INGEST_DROP_NOT_FOR_US] = C_NOT_FOR_US,
	    [SL_INGEST_DROP_BAD_PACKET] = C_BAD_PACKET,
	    [SL_INGEST_DROP_IP_FRAGMENT] = C_IP_FRAGMENT,
	    [SL_INGEST_DROP_ACK_TX] = C_ACK_TX_DROP,
	};
	SL_ASSERT_HOT((unsigned)why < SL_INGEST_DROP_COUNT);
	sl_counter_add(p->c, idx[why], n);
}

const struct sl_counter_set *sl_ingest_counter_set(void)
{
	return &ingest_set;
}

/* ---- restoring the dedupe windows ---- */

static int restore_one(uint32_t stream_id, uint32_t shard_id, const struct sl_seg_dedupe *d,
		       void *arg)
{
	struct sl_ingest_port *p = arg;
	(void)stream_id;
	if (d->producer_id == 0 || d->entry_count == 0 || d->entry_index >= d->entry_count)
		return 0;
	uint32_t k = producer_get(p, d->producer_id);
	if (k == NIL)
		return 0;
	struct producer *pr = &p->producers[k];
	pr->used = ++p->tick;
	struct dslot *s = &pr->slots[d->batch_seq & (SL_INGEST_DEDUPE_WINDOW - 1)];
	if (s->state == SLOT_DONE && s->batch_seq > d->batch_seq)
		return 0; /* a newer frame holds the slot */
	if (s->state != SLOT_DONE || s->batch_seq != d->batch_seq ||
	    s->entry_count != d->entry_count) {
		/* A new frame for this slot: every entry "not stored" until its
		 * shard's own dedupe entry says otherwise. */
		slot_clear(p, s);
		uint16_t n = d->entry_count;
		for (uint16_t i = 0; i < n; i++)
			p->ents[i] = (struct sl_slw1_ack_entry){.status = SL_SLW1_INTERNAL};
		slot_store(p, k, s, SL_SLW1_PARTIAL, p->ents, n);
		if (s->state != SLOT_DONE)
			return 0;
		s->batch_seq = d->batch_seq;
	}
	/* Fill the entry in. */
	uint32_t c = s->chunk;
	for (uint16_t i = 0; i < d->entry_index / CHUNK_ENTRIES; i++)
		c = p->chunks[c].next;
	p->chunks[c].e[d->entry_index % CHUNK_ENTRIES] = (struct sl_slw1_ack_entry){
	    .first_seq = d->first_seq,
	    .shard = shard_id,
	    .record_count = d->record_count,
	    .status = SL_SLW1_OK,
	};
	/* The frame's status: OK once every entry is. */
	bool all = true;
	uint16_t seen = 0;
	for (c = s->chunk; c != NIL && seen < s->entry_count; c = p->chunks[c].next) {
		for (unsigned i = 0; i < CHUNK_ENTRIES && seen < s->entry_count; i++, seen++)
			all = all && p->chunks[c].e[i].status == SL_SLW1_OK;
	}
	s->status = all ? SL_SLW1_OK : SL_SLW1_PARTIAL;
	if (d->batch_seq > pr->max_seq)
		pr->max_seq = d->batch_seq;
	return 0;
}

/* ---- create / destroy ---- */

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t r = 2;
	while (r < v && r < (1u << 30))
		r <<= 1;
	return r;
}

int sl_ingest_port_create(struct sl_store *st, const struct sl_ingest_options *o,
			  struct sl_ingest_port **out)
{
	if (o->ops == NULL || o->ops->send_ack == NULL || o->ops->release == NULL ||
	    o->frames_max == 0 || o->producers_max == 0 ||
	    (o->ack_payload_max != 0 && o->ack_payload_max < SL_SLW1_ACK_PART_MIN))
		return -EINVAL;
	int rc = sl_counter_set_register(&ingest_set);
	if (rc != 0 && rc != -EEXIST)
		return rc;
	struct sl_ingest_port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->st = st;
	p->o = *o;
	p->wake_fd = -1;
	uint32_t small = o->frames_max;
	uint32_t large = o->frames_max / 16 < 4 ? 4 : o->frames_max / 16;
	p->frame_count = small + large;
	uint64_t recs = (uint64_t)small * SMALL_RECS + (uint64_t)large * SL_FRAME_RECORDS_MAX;
	p->frames = calloc(p->frame_count, sizeof(*p->frames));
	p->rec_mem = calloc(recs, sizeof(*p->rec_mem));
	p->app_mem = calloc(recs, sizeof(*p->app_mem));
	p->done_ring = sl_ring_create(pow2_at_least(recs));
	p->producers_max = o->producers_max;
	p->producers = calloc(p->producers_max, sizeof(*p->producers));
	p->ptab_mask = pow2_at_least((uint64_t)p->producers_max * 2) - 1;
	p->ptab = malloc(((size_t)p->ptab_mask + 1) * sizeof(*p->ptab));
	uint32_t nchunks = p->producers_max * SL_INGEST_DEDUPE_WINDOW;
	p->chunks = calloc(nchunks, sizeof(*p->chunks));
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->c = sl_counter_block_create(&ingest_set, o->name);
	p->qr = sl_qsbr_register(sl_store_qsbr(st));
	if (p->frames == NULL || p->rec_mem == NULL || p->app_mem == NULL || p->done_ring == NULL ||
	    p->producers == NULL || p->ptab == NULL || p->chunks == NULL || p->wake_fd < 0 ||
	    p->c == NULL || p->qr == NULL) {
		rc = p->qr == NULL && p->c != NULL ? -ENOSPC : -ENOMEM;
		sl_ingest_port_destroy(p);
		return rc;
	}
	uint64_t at = 0;
	for (uint32_t i = 0; i < p->frame_count; i++) {
		struct frame *fr = &p->frames[i];
		fr->p = p;
		fr->large = i >= small;
		fr->cap = fr->large ? SL_FRAME_RECORDS_MAX : SMALL_RECS;
		fr->recs = &p->rec_mem[at];
		fr->apps = &p->app_mem[at];
		at += fr->cap;
		frame_free(p, fr);
	}
	memset(p->ptab, 0xff, ((size_t)p->ptab_mask + 1) * sizeof(*p->ptab));
	for (uint32_t i = 0; i < nchunks; i++)
		p->chunks[i].next = i + 1 < nchunks ? i + 1 : NIL;
	p->chunk_free = 0;
	rc = sl_store_dedupe_foreach(st, restore_one, p);
	if (rc != 0) {
		sl_ingest_port_destroy(p);
		return rc;
	}
	if (p->producer_count > 0)
		SL_INFO(SUBSYS, "%s: dedupe windows of %u producer(s) restored", o->name,
			p->producer_count);
	*out = p;
	return 0;
}

void sl_ingest_port_destroy(struct sl_ingest_port *p)
{
	if (p == NULL)
		return;
	SL_ASSERT(p->inflight == 0);
	sl_qsbr_unregister(p->qr);
	sl_counter_block_destroy(p->c);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	sl_ring_destroy(p->done_ring);
	free(p->chunks);
	free(p->ptab);
	free(p->producers);
	free(p->app_mem);
	free(p->rec_mem);
	free(p->frames);
	free(p);
}
