/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel ingest backend (kernel.h): SLW1 from a UDP socket and a TCP
 * listener, read through an io_uring of this thread's own, handed to the
 * ingest core, acks written back. This file and storage's I/O layer are
 * the only ones that include liburing.h.
 *
 * Every io_uring request carries a struct op (its kind and owner) as
 * user_data and yields exactly one CQE (no multishot); `ops` counts those
 * in flight, so the SQ ring (sized for all of them) never runs out for
 * long and the CQ ring (twice that) never overflows. Cancellations carry
 * user_data 0 and their CQEs are ignored.
 *
 * UDP: udp_buffers buffers of UDP_BUF_BYTES, each with its own recvmsg
 * (MSG_TRUNC, so a datagram longer than the buffer is seen as such and
 * dropped, counted). A datagram the core keeps holds its buffer until
 * ops->release; any other is posted again at once. The reply blob is the
 * source address; acks go out with sendto(MSG_DONTWAIT), split into parts
 * of udp_ack_payload_max bytes when longer (the core builds one ack of
 * every entry, ack_payload_max 0, which is what TCP needs).
 *
 * TCP, per connection:
 * - Read buffer: a refcounted chunk (CHUNK_BYTES, or as long as the frame
 *   being read when that is longer); one recv in flight into its free
 *   tail. A whole frame is handed to the core in place, and each frame
 *   the core keeps holds a reference on its chunk; when the chunk's tail
 *   cannot take the next frame, the partial frame moves to a new chunk
 *   (or to the front of this one, when no frame holds it). A connection
 *   with no bytes buffered drops its chunk and arms a POLLIN poll instead
 *   of a recv, so an idle connection holds no buffer. All chunks together
 *   stay within tcp_buffer_mb; a connection that needs more waits (not
 *   reading) until some chunk is freed.
 * - Frame index: the n-th frame of a connection is its cookie. Slot
 *   n % tcp_inflight_max records whether frame n is answered (its ack was
 *   given to send_ack, or it will never have one) and finished (the core
 *   let go of it). emit_idx: every frame below it has had its ack queued
 *   for writing; an ack for a frame above it is held (copied) until the
 *   frames before it are answered. base_idx: every frame below it is also
 *   finished, so its slot is free; the connection reads no more frames
 *   while next_idx - base_idx == tcp_inflight_max.
 * - Output: the acks in order in one buffer, written with send(MSG_DONTWAIT)
 *   after each round; on EAGAIN a POLLOUT poll is armed. A connection with
 *   more than OUT_HIGH_BYTES unwritten stops reading frames, which bounds
 *   the buffer to OUT_HIGH_BYTES plus the acks of the frames in flight.
 * - A broken stream (bytes that cannot start a frame): reading stops, and
 *   the connection closes once the frames before them are answered and
 *   the acks written.
 * - Timeouts, checked by a sweep of the connections every SWEEP_MS (or a
 *   quarter of the shortest timeout) from the loop's own clock, read once
 *   a round; with connections open the wait ends in time for it. A frame
 *   whose first bytes came more than tcp_frame_timeout_ms ago and that is
 *   still not whole breaks the stream as garbage does (the clock stops
 *   while this side's bounds keep the connection from reading). With
 *   tcp_idle_timeout_ms (0: never): a connection with nothing buffered,
 *   in flight or to write for that long closes, and so does one whose
 *   unwritten acks made no progress for that long (a peer that reads none:
 *   what it holds is bounded, see Output, but it is not held forever).
 * - Lifetime: a reference for being open, one per request in flight, one
 *   per frame the core holds, one while queued on the dirty list. Closing
 *   (peer EOF, error, a broken stream) shuts the socket down, which ends
 *   its requests; the struct returns to the pool at the last reference,
 *   once the core has released every frame of it. Acks of frames whose
 *   connection closed are counted as dropped (ACK_TX).
 *
 * Memory: the UDP buffers, the connection pool and every connection's
 * slots are allocated at create. TCP read chunks, held acks and ack output
 * buffers are allocated on this thread as connections need them: a TCP
 * frame may be up to SL_SLW1_FRAME_MAX, too much to reserve per
 * connection. They are bounded: chunks by tcp_buffer_mb, held acks and
 * output by tcp_inflight_max acks per connection plus OUT_HIGH_BYTES.
 *
 * Sleeping: with nothing to do the thread waits in io_uring_submit_and_wait
 * with a poll armed on the core's wake eventfd (a completion from a
 * writer), on the stop fd and on every socket; sl_ingest_offline/online
 * bracket the wait, sl_ingest_quiescent ends each round.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/counters.h>
#include <sluice/error.h>
#include <sluice/ingest.h>
#include <sluice/kernel.h>
#include <sluice/log.h>
#include <sluice/slw1.h>

#define SUBSYS "kernel"

/* A UDP receive buffer: the largest UDP payload (65507 over IPv4) fits.
 * Tests may shrink it to see truncation. */
#ifndef UDP_BUF_BYTES
#define UDP_BUF_BYTES (64u << 10)
#endif
#define CHUNK_BYTES    (64u << 10) /* a TCP read buffer, unless a frame needs more */
#define OUT_HIGH_BYTES (64u << 10) /* unwritten acks above which a connection stops reading */
#define ACK_MAX_BYTES                                                                              \
	(SL_SLW1_ACK_HDR_BYTES + SL_FRAME_RECORDS_MAX * SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES)
#define LISTEN_BACKLOG   128
#define UDP_RCVBUF_BYTES (8u << 20) /* asked for; the kernel caps it at rmem_max */
#define ACCEPT_RETRY_MS  100        /* after an accept error such as EMFILE */
#define CQE_BURST        64
#define CQE_ROUNDS_MAX   64 /* CQE bursts per round before the core is polled */
#define EINTR_MAX        16
#define STOP_TICK_MS     20  /* wait granularity while draining */
#define SWEEP_MS         100 /* TCP timeouts are checked this often, at most */

SL_STATIC_ASSERT(UDP_BUF_BYTES >= SL_SLW1_FRAME_MIN);
SL_STATIC_ASSERT(CHUNK_BYTES >= SL_SLW1_PEEK_BYTES);
SL_STATIC_ASSERT(SL_SLW1_FRAME_MAX <= UINT32_MAX);

/* ---- counters ---- */

enum {
	C_UDP_DATAGRAMS,
	C_UDP_TRUNCATED,
	C_UDP_RX_ERRORS,
	C_UDP_ACK_PARTS,
	C_TCP_ACCEPTED,
	C_TCP_REFUSED,
	C_TCP_ACCEPT_ERRORS,
	C_TCP_CLOSED,
	C_TCP_FRAMES,
	C_TCP_BAD_STREAM,
	C_TCP_FRAME_TOO_LONG,
	C_TCP_PARTIAL_FRAMES,
	C_TCP_RX_ERRORS,
	C_TCP_FRAME_TIMEOUTS,
	C_TCP_IDLE_TIMEOUTS,
	C_TCP_ACK_TIMEOUTS,
	C_TCP_ACKS_HELD,
	C_TCP_MEMORY_WAITS,
	C_ACK_SEND_ERRORS,
	C_ACKS_ORPHANED,
	C_COUNT
};

static const struct sl_counter_def defs[C_COUNT] = {
    [C_UDP_DATAGRAMS] = {"udp_datagrams", "UDP datagrams handed to the ingest core"},
    [C_UDP_TRUNCATED] = {"udp_truncated",
			 "UDP datagrams dropped: longer than a receive buffer (MSG_TRUNC)"},
    [C_UDP_RX_ERRORS] = {"udp_rx_errors", "UDP receive errors"},
    [C_UDP_ACK_PARTS] = {"udp_ack_parts", "UDP ack datagrams sent"},
    [C_TCP_ACCEPTED] = {"tcp_accepted", "TCP connections accepted"},
    [C_TCP_REFUSED] = {"tcp_refused",
		       "TCP connections closed at once: ingest.tcp_connections_max reached"},
    [C_TCP_ACCEPT_ERRORS] = {"tcp_accept_errors", "TCP accept errors (EMFILE, ...)"},
    [C_TCP_CLOSED] = {"tcp_closed", "TCP connections closed, for any reason"},
    [C_TCP_FRAMES] = {"tcp_frames", "frames delimited on TCP and handed to the ingest core"},
    [C_TCP_BAD_STREAM] = {"tcp_bad_stream",
			  "TCP connections closed: bytes that cannot start an SLW1 frame"},
    [C_TCP_FRAME_TOO_LONG] = {"tcp_frame_too_long",
			      "TCP connections closed: frame_len over the SLW1 maximum"},
    [C_TCP_PARTIAL_FRAMES] = {"tcp_partial_frames",
			      "TCP connections that ended inside a frame (its bytes dropped)"},
    [C_TCP_RX_ERRORS] = {"tcp_rx_errors", "TCP receive errors (connection closed)"},
    [C_TCP_FRAME_TIMEOUTS] = {"tcp_frame_timeouts",
			      "TCP connections closed: a frame not whole within "
			      "ingest.tcp_frame_timeout_ms (its bytes dropped)"},
    [C_TCP_IDLE_TIMEOUTS] = {"tcp_idle_timeouts",
			     "TCP connections closed: idle for ingest.tcp_idle_timeout_ms"},
    [C_TCP_ACK_TIMEOUTS] = {"tcp_ack_timeouts",
			    "TCP connections closed: the peer read none of its acks for "
			    "ingest.tcp_idle_timeout_ms"},
    [C_TCP_ACKS_HELD] = {"tcp_acks_held", "TCP acks held back behind an earlier frame's"},
    [C_TCP_MEMORY_WAITS] = {"tcp_memory_waits",
			    "times a TCP connection waited for read buffer memory"},
    [C_ACK_SEND_ERRORS] = {"ack_send_errors", "ack writes that failed (UDP sendto, TCP send)"},
    [C_ACKS_ORPHANED] = {"acks_orphaned",
			 "TCP acks dropped: their connection closed before they were written"},
};

static const struct sl_counter_set kernel_set = {
    .name = "kernel_ingest",
    .defs = defs,
    .count = C_COUNT,
};

/* ---- types ---- */

enum op_kind {
	OP_UDP_RECV = 1,
	OP_ACCEPT,
	OP_ACCEPT_RETRY,
	OP_TCP_RECV,
	OP_TCP_POLLIN,
	OP_TCP_POLLOUT,
	OP_WAKE,
	OP_STOP,
};

/* An io_uring request's context: what user_data points at. */
struct op {
	uint8_t kind; /* enum op_kind */
	void *owner;
};

/* The first byte of whatever a retained frame's buf_ref points at. */
enum buf_kind {
	BUF_UDP = 1,
	BUF_CHUNK,
};

struct ubuf {
	uint8_t kind; /* BUF_UDP; first */
	bool posted;  /* a recvmsg is in flight into it */
	bool held;    /* the core keeps the frame in it */
	struct op op;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage from;
	uint8_t *data; /* UDP_BUF_BYTES */
};

struct conn;

struct chunk {
	uint8_t kind;  /* BUF_CHUNK; first */
	uint32_t refs; /* the connection while current, + one per retained frame */
	size_t cap;
	struct conn *conn;
	uint8_t data[];
};

enum {
	SLOT_ANSWERED = 1, /* its ack is given (or it will have none) */
	SLOT_FINISHED = 2, /* the core is done with it */
};

struct slot {
	uint8_t *held; /* its ack, while an earlier frame is unanswered */
	uint32_t held_len;
	uint8_t state;
};

struct conn {
	struct sl_kernel_ingest *k;
	struct op recv_op, pollin_op, pollout_op;
	int fd;
	uint32_t refs;
	bool in_use, closed, dirty, waiting;
	bool broken; /* lost SLW1 framing: reads no more, closes once answered */
	bool recv_posted, pollin_posted, pollout_posted;
	bool readable;     /* POLLIN fired: a recv will not wait */
	struct conn *next; /* on the dirty list, or the free list */
	struct chunk *cur; /* read buffer: [rd, wr) not yet framed */
	size_t rd, wr;
	uint64_t next_idx;  /* index of the next frame read */
	uint64_t emit_idx;  /* frames below: acks queued (or none) */
	uint64_t base_idx;  /* frames below: also finished; their slots free */
	struct slot *slots; /* tcp_inflight_max */
	uint8_t *out;       /* acks not yet written: out[out_head, out_head + out_len) */
	size_t out_head, out_len, out_cap;
	size_t ack_rem;    /* bytes of the ack at out_head still to write, 0: at a boundary */
	uint32_t out_acks; /* acks wholly or partly unwritten */
	/* Timeouts (the loop's clock, k->now_ns) */
	uint64_t frame_ns;  /* the frame at rd began then; 0: none begun */
	uint64_t active_ns; /* last seen with something buffered, in flight or to write */
	uint64_t out_ns;    /* out last went from empty, or was partly written */
};

/* The reply blob the core keeps per frame. */
struct reply {
	struct conn *conn; /* TCP; NULL for UDP */
	socklen_t addr_len;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
};
SL_STATIC_ASSERT(sizeof(struct reply) <= SL_INGEST_REPLY_BYTES);

struct sl_kernel_ingest {
	struct sl_ingest_port *port;
	struct sl_counter_block *c;
	struct io_uring ring;
	bool ring_up;
	bool stopping;
	bool finishing; /* finish() cancels everything: nothing is posted again */
	int udp_fd, tcp_fd;
	uint32_t ops; /* requests with a CQE to come */
	char where[SL_CONFIG_HOST_MAX + 16];
	uint32_t drain_ms;    /* at stop: for frames in flight and unwritten acks */
	uint32_t final_ms;    /* then: for cancelled requests to complete */
	uint64_t deadline_ns; /* while stopping */

	struct op accept_op, accept_retry_op, wake_op, stop_op;
	bool accept_posted, accept_retry_posted;
	struct __kernel_timespec accept_retry_ts;
	int stop_fd;

	/* UDP */
	struct ubuf *ubufs;
	uint32_t ubuf_count, udp_posted;
	uint8_t *ubuf_mem;
	size_t udp_ack_payload_max;

	/* TCP */
	struct conn *conns; /* the pool: tcp_connections_max */
	uint32_t conns_max, conns_live, waiting_count;
	struct conn *free_conns, *dirty;
	uint32_t inflight_max;
	struct slot *slot_mem;
	uint64_t chunk_bytes, chunk_bytes_max;
	uint64_t frame_timeout_ns, idle_timeout_ns; /* idle: 0 = never */
	uint64_t now_ns;                            /* the loop's clock, read once a round */
	uint64_t sweep_ns, last_sweep_ns, next_sweep_ns;

	/* scratch for splitting a UDP ack */
	struct sl_slw1_ack_entry ents[SL_FRAME_RECORDS_MAX];
	uint8_t part[65536];
};

static void kernel_send_ack(void *backend, const uint8_t *reply, uint64_t cookie,
			    const uint8_t *ack, size_t len);
static void kernel_release(void *backend, void *buf_ref, uint64_t cookie);

static const struct sl_ingest_ops kernel_ops = {
    .send_ack = kernel_send_ack,
    .release = kernel_release,
};

/* ---- io_uring requests ---- */

/* An SQE; when the SQ ring is full, submit what it holds first. The ring
 * has an entry for every request that can be in flight, so after a
 * submit there is room. */
static struct io_uring_sqe *get_sqe(struct sl_kernel_ingest *k)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);
	if (sqe == NULL) {
		io_uring_submit(&k->ring);
		sqe = io_uring_get_sqe(&k->ring);
	}
	SL_ASSERT(sqe != NULL);
	return sqe;
}

static void op_queue(struct sl_kernel_ingest *k, struct io_uring_sqe *sqe, struct op *op)
{
	io_uring_sqe_set_data(sqe, op);
	k->ops++;
}

/* A cancellation: its own CQE is ignored (user_data 0). */
static struct io_uring_sqe *cancel_sqe(struct sl_kernel_ingest *k)
{
	struct io_uring_sqe *sqe = get_sqe(k);
	return sqe;
}

static void poll_post(struct sl_kernel_ingest *k, int fd, struct op *op)
{
	struct io_uring_sqe *sqe = get_sqe(k);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	op_queue(k, sqe, op);
}

/* ---- UDP ---- */

static void udp_post(struct sl_kernel_ingest *k, struct ubuf *ub)
{
	SL_ASSERT(!ub->posted);
	SL_ASSERT(!ub->held);
	ub->iov = (struct iovec){.iov_base = ub->data, .iov_len = UDP_BUF_BYTES};
	ub->msg = (struct msghdr){
	    .msg_name = &ub->from,
	    .msg_namelen = sizeof(ub->from),
	    .msg_iov = &ub->iov,
	    .msg_iovlen = 1,
	};
	struct io_uring_sqe *sqe = get_sqe(k);
	/* MSG_TRUNC: the result is the datagram's real length. */
	io_uring_prep_recvmsg(sqe, k->udp_fd, &ub->msg, MSG_TRUNC);
	op_queue(k, sqe, &ub->op);
	ub->posted = true;
	k->udp_posted++;
}

static void udp_done(struct sl_kernel_ingest *k, struct ubuf *ub, int res)
{
	SL_ASSERT(ub->posted);
	ub->posted = false;
	k->udp_posted--;
	if (res == -ECANCELED)
		return;
	if (res < 0) {
		sl_counter_inc(k->c, C_UDP_RX_ERRORS);
		SL_LOG_RL(SL_LOG_WARN, SUBSYS, "UDP receive on %s: %s", k->where, sl_strerror(res));
	} else if ((ub->msg.msg_flags & MSG_TRUNC) || (size_t)res > UDP_BUF_BYTES) {
		sl_counter_inc(k->c, C_UDP_TRUNCATED);
		sl_ingest_count_drop(k->port, SL_INGEST_DROP_BAD_PACKET, 1);
	} else {
		struct reply r = {.conn = NULL};
		uint8_t blob[SL_INGEST_REPLY_BYTES] = {0};
		socklen_t alen = ub->msg.msg_namelen;
		r.addr_len = alen < sizeof(r.addr) ? alen : (socklen_t)sizeof(r.addr);
		memcpy(&r.addr, &ub->from, r.addr_len);
		memcpy(blob, &r, sizeof(r));
		sl_counter_inc(k->c, C_UDP_DATAGRAMS);
		if (sl_ingest_frame(k->port, ub->data, (size_t)res, ub, blob, 0)) {
			ub->held = true;
			return;
		}
	}
	if (!k->stopping)
		udp_post(k, ub);
}

static void udp_send(struct sl_kernel_ingest *k, const struct reply *r, const uint8_t *buf,
		     size_t len)
{
	for (int tries = 0; tries < EINTR_MAX; tries++) {
		ssize_t n = sendto(k->udp_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, &r->addr.sa,
				   r->addr_len);
		if (n == (ssize_t)len) {
			sl_counter_inc(k->c, C_UDP_ACK_PARTS);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	sl_counter_inc(k->c, C_ACK_SEND_ERRORS);
	sl_ingest_count_drop(k->port, SL_INGEST_DROP_ACK_TX, 1);
}

/* One ack (the core's, unsplit) to a UDP source: as it is when it fits a
 * datagram, else in parts as WIRE.md splits them. */
static void udp_send_ack(struct sl_kernel_ingest *k, const struct reply *r, const uint8_t *ack,
			 size_t len)
{
	if (len <= k->udp_ack_payload_max) {
		udp_send(k, r, ack, len);
		return;
	}
	struct sl_slw1_ack a;
	int rc = sl_slw1_ack_parse(ack, len, &a, k->ents, SL_FRAME_RECORDS_MAX);
	SL_ASSERT(rc == 0); /* the core built it */
	int parts = sl_slw1_ack_parts(a.entry_count, k->udp_ack_payload_max);
	/* udp_ack_payload_max >= 128 holds 3 entries a part: 500 in 167. */
	SL_ASSERT(parts > 0);
	for (int part = 0; part < parts; part++) {
		size_t n =
		    sl_slw1_ack_build_part(k->part, sizeof(k->part), &a, k->ents, a.entry_count,
					   k->udp_ack_payload_max, (uint8_t)part);
		SL_ASSERT(n > 0);
		udp_send(k, r, k->part, n);
	}
}

/* ---- TCP: chunks ---- */

static void wake_waiters(struct sl_kernel_ingest *k);
static void mark_dirty(struct conn *c);

static struct chunk *chunk_alloc(struct sl_kernel_ingest *k, struct conn *c, size_t cap)
{
	if (k->chunk_bytes + cap > k->chunk_bytes_max)
		return NULL;
	struct chunk *ch = malloc(sizeof(*ch) + cap);
	if (ch == NULL)
		return NULL;
	ch->kind = BUF_CHUNK;
	ch->refs = 1;
	ch->cap = cap;
	ch->conn = c;
	k->chunk_bytes += cap;
	return ch;
}

static void chunk_put(struct sl_kernel_ingest *k, struct chunk *ch)
{
	SL_ASSERT(ch->refs > 0);
	if (--ch->refs > 0)
		return;
	SL_ASSERT(k->chunk_bytes >= ch->cap);
	k->chunk_bytes -= ch->cap;
	free(ch);
	if (k->waiting_count > 0)
		wake_waiters(k);
}

/* ---- TCP: connections ---- */

static struct slot *slot_of(struct conn *c, uint64_t idx)
{
	return &c->slots[idx % c->k->inflight_max];
}

static void conn_put(struct conn *c)
{
	struct sl_kernel_ingest *k = c->k;
	SL_ASSERT(c->refs > 0);
	if (--c->refs > 0)
		return;
	SL_ASSERT(c->closed);
	SL_ASSERT(!c->recv_posted);
	SL_ASSERT(!c->pollin_posted);
	SL_ASSERT(!c->pollout_posted);
	SL_ASSERT(!c->dirty);
	SL_ASSERT(c->cur == NULL);
	for (uint64_t i = c->base_idx; i < c->next_idx; i++) {
		struct slot *s = slot_of(c, i);
		SL_ASSERT(s->held == NULL);
		s->state = 0;
	}
	close(c->fd);
	c->fd = -1;
	c->in_use = false;
	c->next = k->free_conns;
	k->free_conns = c;
	SL_ASSERT(k->conns_live > 0);
	k->conns_live--;
}

/* Stop serving c: what it has not written is dropped (counted), its
 * requests end (shutdown), frames in flight keep it until released. */
static void conn_close(struct conn *c)
{
	struct sl_kernel_ingest *k = c->k;
	if (c->closed)
		return;
	c->closed = true;
	sl_counter_inc(k->c, C_TCP_CLOSED);
	if (c->out_acks > 0) {
		sl_counter_add(k->c, C_ACKS_ORPHANED, c->out_acks);
		sl_ingest_count_drop(k->port, SL_INGEST_DROP_ACK_TX, c->out_acks);
	}
	free(c->out);
	c->out = NULL;
	c->out_head = c->out_len = c->out_cap = c->ack_rem = 0;
	c->out_acks = 0;
	if (c->waiting) {
		c->waiting = false;
		k->waiting_count--;
	}
	if (c->cur != NULL) {
		struct chunk *ch = c->cur;
		c->cur = NULL;
		chunk_put(k, ch);
	}
	shutdown(c->fd, SHUT_RDWR);
	conn_put(c); /* the open reference */
}

static void mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->refs++;
	c->next = c->k->dirty;
	c->k->dirty = c;
}

static void wake_waiters(struct sl_kernel_ingest *k)
{
	for (uint32_t i = 0; i < k->conns_max && k->waiting_count > 0; i++) {
		struct conn *c = &k->conns[i];
		if (c->in_use && c->waiting) {
			c->waiting = false;
			k->waiting_count--;
			mark_dirty(c);
		}
	}
}

/* Bytes of one ack, from its header (the core built it whole). */
static size_t ack_len_at(const uint8_t *p)
{
	uint16_t n = (uint16_t)((uint16_t)p[28] << 8 | p[29]);
	return SL_SLW1_ACK_HDR_BYTES + (size_t)n * SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES;
}

/* Queue an ack for writing. A failure to grow the buffer closes c. */
static void out_append(struct conn *c, const uint8_t *ack, size_t len)
{
	SL_ASSERT(!c->closed);
	SL_ASSERT(len >= SL_SLW1_ACK_HDR_BYTES + SL_SLW1_CRC_BYTES);
	SL_ASSERT(len == ack_len_at(ack));
	if (c->out_head + c->out_len + len > c->out_cap && c->out_head > 0) {
		memmove(c->out, c->out + c->out_head, c->out_len);
		c->out_head = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		uint8_t *out = realloc(c->out, cap);
		if (out == NULL) {
			SL_LOG_RL(SL_LOG_ERROR, SUBSYS, "TCP ack buffer: out of memory; closing");
			sl_counter_inc(c->k->c, C_ACK_SEND_ERRORS);
			sl_ingest_count_drop(c->k->port, SL_INGEST_DROP_ACK_TX, 1);
			conn_close(c);
			return;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_head + c->out_len, ack, len);
	if (c->out_len == 0)
		c->out_ns = c->k->now_ns;
	c->out_len += len;
	c->out_acks++;
	/* Reading stops above OUT_HIGH_BYTES: the rest is acks of frames in flight. */
	SL_ASSERT(c->out_len <= OUT_HIGH_BYTES + ((size_t)c->k->inflight_max + 1) * ACK_MAX_BYTES);
	mark_dirty(c);
}

/* n bytes of out were written: move past them, counting whole acks. */
static void out_consumed(struct conn *c, size_t n)
{
	SL_ASSERT(n <= c->out_len);
	size_t at = c->out_head, left = n;
	while (left > 0) {
		if (c->ack_rem == 0)
			c->ack_rem = ack_len_at(c->out + at);
		size_t take = left < c->ack_rem ? left : c->ack_rem;
		c->ack_rem -= take;
		at += take;
		left -= take;
		if (c->ack_rem == 0) {
			SL_ASSERT(c->out_acks > 0);
			c->out_acks--;
		}
	}
	c->out_head = at;
	c->out_len -= n;
	c->out_ns = c->k->now_ns; /* the peer reads */
	c->active_ns = c->k->now_ns;
	if (c->out_len == 0) {
		SL_ASSERT(c->out_acks == 0);
		SL_ASSERT(c->ack_rem == 0);
		c->out_head = 0;
	}
}

static void pollout_post(struct conn *c)
{
	if (c->pollout_posted)
		return;
	struct io_uring_sqe *sqe = get_sqe(c->k);
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	op_queue(c->k, sqe, &c->pollout_op);
	c->pollout_posted = true;
	c->refs++;
}

/* Write what is queued, without blocking; EAGAIN arms a POLLOUT poll. */
static void flush_out(struct conn *c)
{
	int eintr = 0;
	while (c->out_len > 0 && !c->closed) {
		ssize_t n =
		    send(c->fd, c->out + c->out_head, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			out_consumed(c, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR && ++eintr < EINTR_MAX)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			pollout_post(c);
			return;
		}
		sl_counter_inc(c->k->c, C_ACK_SEND_ERRORS);
		conn_close(c); /* counts the acks it could not write */
	}
}

/* Queue the acks that are next in order; free the slots behind them. */
static void conn_advance(struct conn *c)
{
	struct sl_kernel_ingest *k = c->k;
	while (c->emit_idx < c->next_idx) {
		struct slot *s = slot_of(c, c->emit_idx);
		if (!(s->state & SLOT_ANSWERED))
			break;
		if (s->held != NULL) {
			if (!c->closed) {
				out_append(c, s->held, s->held_len);
			} else {
				sl_counter_inc(k->c, C_ACKS_ORPHANED);
				sl_ingest_count_drop(k->port, SL_INGEST_DROP_ACK_TX, 1);
			}
			free(s->held);
			s->held = NULL;
		}
		c->emit_idx++;
	}
	while (c->base_idx < c->emit_idx && (slot_of(c, c->base_idx)->state & SLOT_FINISHED)) {
		slot_of(c, c->base_idx)->state = 0;
		c->base_idx++;
	}
	c->active_ns = k->now_ns; /* an idle connection's clock starts at its last frame */
	mark_dirty(c);            /* reading may resume; acks may be written */
}

/* The core is done with frame idx of c (released, or answered at once). */
static void frame_finished(struct conn *c, uint64_t idx)
{
	SL_ASSERT(idx >= c->base_idx);
	SL_ASSERT(idx < c->next_idx);
	struct slot *s = slot_of(c, idx);
	SL_ASSERT(!(s->state & SLOT_FINISHED));
	s->state |= SLOT_ANSWERED | SLOT_FINISHED;
	conn_advance(c);
}

static void tcp_send_ack(struct conn *c, uint64_t idx, const uint8_t *ack, size_t len)
{
	struct sl_kernel_ingest *k = c->k;
	SL_ASSERT(idx >= c->emit_idx);
	SL_ASSERT(idx < c->next_idx);
	struct slot *s = slot_of(c, idx);
	SL_ASSERT(!(s->state & SLOT_ANSWERED)); /* one ack per frame over TCP */
	SL_ASSERT(s->held == NULL);
	if (c->closed) {
		sl_counter_inc(k->c, C_ACKS_ORPHANED);
		sl_ingest_count_drop(k->port, SL_INGEST_DROP_ACK_TX, 1);
	} else if (idx == c->emit_idx) {
		out_append(c, ack, len);
	} else {
		s->held = malloc(len);
		if (s->held == NULL) {
			SL_LOG_RL(SL_LOG_ERROR, SUBSYS,
				  "TCP ack held back: out of memory; closing");
			sl_counter_inc(k->c, C_ACK_SEND_ERRORS);
			sl_ingest_count_drop(k->port, SL_INGEST_DROP_ACK_TX, 1);
			conn_close(c);
		} else {
			memcpy(s->held, ack, len);
			s->held_len = (uint32_t)len;
			sl_counter_inc(k->c, C_TCP_ACKS_HELD);
		}
	}
	s->state |= SLOT_ANSWERED;
	conn_advance(c);
}

/* Why the bytes at p cannot start a frame: too long, or not SLW1 at all. */
static unsigned bad_stream_counter(const uint8_t *p, size_t avail)
{
	if (avail < SL_SLW1_PEEK_BYTES)
		return C_TCP_BAD_STREAM;
	uint32_t magic = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	uint32_t len = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	if (magic == SL_SLW1_MAGIC && p[4] == SL_SLW1_VERSION && (p[5] & ~SL_SLW1_F_ALL) == 0 &&
	    len > SL_SLW1_FRAME_MAX)
		return C_TCP_FRAME_TOO_LONG;
	return C_TCP_BAD_STREAM;
}

/* Whether c may hand the core another frame now. */
static bool conn_may_take(const struct conn *c)
{
	return !c->closed && !c->broken && !c->k->stopping &&
	       c->next_idx - c->base_idx < c->k->inflight_max && c->out_len <= OUT_HIGH_BYTES;
}

/* Hand every whole frame in the read buffer to the core, as far as the
 * bounds allow. */
static void conn_parse(struct conn *c)
{
	struct sl_kernel_ingest *k = c->k;
	while (conn_may_take(c) && c->wr > c->rd) {
		struct chunk *ch = c->cur;
		const uint8_t *p = ch->data + c->rd;
		size_t avail = c->wr - c->rd;
		int flen = sl_slw1_frame_len_peek(p, avail);
		if (flen == -EAGAIN || (flen > 0 && (size_t)flen > avail))
			return;
		if (flen < 0) {
			unsigned why = bad_stream_counter(p, avail);
			sl_counter_inc(k->c, why);
			SL_LOG_RL(SL_LOG_WARN, SUBSYS, "TCP connection on %s closed: %s", k->where,
				  why == C_TCP_FRAME_TOO_LONG
				      ? "frame longer than the SLW1 maximum"
				      : "bytes that cannot start an SLW1 frame");
			/* The frames before it still get their acks; then
			 * the close (conn_service). */
			c->broken = true;
			return;
		}
		uint64_t idx = c->next_idx++;
		struct slot *s = slot_of(c, idx);
		SL_ASSERT(s->state == 0);
		SL_ASSERT(s->held == NULL);
		struct reply r = {.conn = c};
		uint8_t blob[SL_INGEST_REPLY_BYTES] = {0};
		memcpy(blob, &r, sizeof(r));
		ch->refs++;
		c->refs++;
		c->rd += (size_t)flen;
		/* The next frame's clock starts now: its bytes may have waited
		 * for this side's bounds. */
		c->frame_ns = c->rd < c->wr ? k->now_ns : 0;
		sl_counter_inc(k->c, C_TCP_FRAMES);
		if (!sl_ingest_frame(k->port, p, (size_t)flen, ch, blob, idx)) {
			frame_finished(c, idx);
			chunk_put(k, ch);
			conn_put(c); /* the dirty list's reference keeps c */
		}
	}
}

/*
 * How many bytes from rd the buffer must hold for the parse to progress;
 * 0 when it can progress now (a whole frame, or bytes that break the
 * stream, are buffered: conn_parse stopped at a bound that has since
 * cleared).
 */
static size_t conn_need(const struct conn *c)
{
	size_t avail = c->wr - c->rd;
	if (c->cur == NULL || avail < SL_SLW1_PEEK_BYTES)
		return SL_SLW1_PEEK_BYTES;
	int flen = sl_slw1_frame_len_peek(c->cur->data + c->rd, avail);
	if (flen < 0 || (size_t)flen <= avail)
		return 0;
	return (size_t)flen;
}

/* Make room for need bytes from rd with free space after wr. false: no
 * memory within tcp_buffer_mb now. */
static bool conn_room(struct conn *c, size_t need)
{
	struct sl_kernel_ingest *k = c->k;
	struct chunk *ch = c->cur;
	if (ch != NULL && ch->cap - c->rd >= need)
		return true;
	if (ch != NULL && ch->refs == 1 && ch->cap >= need) {
		memmove(ch->data, ch->data + c->rd, c->wr - c->rd);
		c->wr -= c->rd;
		c->rd = 0;
		return true;
	}
	struct chunk *n = chunk_alloc(k, c, need > CHUNK_BYTES ? need : CHUNK_BYTES);
	if (n == NULL)
		return false;
	if (ch != NULL) {
		memcpy(n->data, ch->data + c->rd, c->wr - c->rd);
		c->wr -= c->rd;
		c->cur = NULL;
		chunk_put(k, ch);
	} else {
		c->wr = 0;
	}
	c->rd = 0;
	c->cur = n;
	return true;
}

/*
 * Read more when c may: within its bounds, with buffer room. With nothing
 * buffered, c lets go of its chunk (frames in it keep it alive) and waits
 * for POLLIN first, so an idle connection holds no buffer.
 */
static void conn_read(struct conn *c)
{
	struct sl_kernel_ingest *k = c->k;
	if (c->recv_posted || c->pollin_posted || !conn_may_take(c))
		return;
	if (c->cur != NULL && c->rd == c->wr) {
		struct chunk *ch = c->cur;
		c->cur = NULL;
		c->rd = c->wr = 0;
		chunk_put(k, ch);
	}
	if (c->cur == NULL && !c->readable) {
		struct io_uring_sqe *sqe = get_sqe(k);
		io_uring_prep_poll_add(sqe, c->fd, POLLIN);
		op_queue(k, sqe, &c->pollin_op);
		c->pollin_posted = true;
		c->refs++;
		return;
	}
	size_t need = conn_need(c);
	if (need == 0) {
		mark_dirty(c); /* parse first */
		return;
	}
	if (!conn_room(c, need)) {
		if (!c->waiting) {
			c->waiting = true;
			k->waiting_count++;
			sl_counter_inc(k->c, C_TCP_MEMORY_WAITS);
		}
		return;
	}
	SL_ASSERT(c->cur->cap > c->wr);
	struct io_uring_sqe *sqe = get_sqe(k);
	io_uring_prep_recv(sqe, c->fd, c->cur->data + c->wr, c->cur->cap - c->wr, 0);
	op_queue(k, sqe, &c->recv_op);
	c->recv_posted = true;
	c->readable = false;
	c->refs++;
}

static void pollin_done(struct conn *c, int res)
{
	SL_ASSERT(c->pollin_posted);
	c->pollin_posted = false;
	if (!c->closed && res != -ECANCELED) {
		c->readable = true; /* data, EOF or an error: the recv tells which */
		mark_dirty(c);
	}
	conn_put(c);
}

static void recv_done(struct conn *c, int res)
{
	struct sl_kernel_ingest *k = c->k;
	SL_ASSERT(c->recv_posted);
	c->recv_posted = false;
	if (!c->closed && res != -ECANCELED) {
		if (res > 0) {
			SL_ASSERT(c->wr + (size_t)res <= c->cur->cap);
			if (c->wr == c->rd)
				c->frame_ns = k->now_ns; /* a frame begins */
			c->wr += (size_t)res;
			c->active_ns = k->now_ns;
			mark_dirty(c);
		} else {
			if (res < 0) {
				sl_counter_inc(k->c, C_TCP_RX_ERRORS);
				SL_LOG_RL(SL_LOG_INFO, SUBSYS, "TCP receive on %s: %s", k->where,
					  sl_strerror(res));
			}
			if (c->wr > c->rd)
				sl_counter_inc(k->c, C_TCP_PARTIAL_FRAMES);
			conn_close(c);
		}
	}
	conn_put(c);
}

static void pollout_done(struct conn *c, int res)
{
	(void)res; /* POLLOUT, POLLERR or POLLHUP: the next send tells */
	SL_ASSERT(c->pollout_posted);
	c->pollout_posted = false;
	if (!c->closed)
		mark_dirty(c);
	conn_put(c);
}

/* Everything a connection may do after a change: frame, write, read. */
static void conn_service(struct conn *c)
{
	conn_parse(c);
	if (!c->closed)
		flush_out(c);
	if (!c->closed && c->broken && c->emit_idx == c->next_idx && c->out_len == 0)
		conn_close(c); /* a broken stream, once its earlier frames are answered */
	if (!c->closed)
		conn_read(c);
}

/* Serve the dirty connections. Returns whether some are left (bounded
 * work per round: the caller must not sleep then). */
static bool service_dirty(struct sl_kernel_ingest *k)
{
	uint32_t budget = 4 * k->conns_max + 16;
	while (k->dirty != NULL && budget-- > 0) {
		struct conn *c = k->dirty;
		k->dirty = c->next;
		c->next = NULL;
		c->dirty = false;
		if (!c->closed)
			conn_service(c);
		conn_put(c);
	}
	return k->dirty != NULL;
}

/* ---- TCP: timeouts ---- */

/* Whether c has nothing buffered, in flight or to write, and asked for
 * nothing: only the peer can give it more to do. */
static bool conn_idle(const struct conn *c)
{
	return c->wr == c->rd && c->next_idx == c->base_idx && c->out_len == 0 && !c->readable &&
	       !c->waiting && !c->broken;
}

/* Check c's timeouts at now, dt after the last sweep. Closing (or
 * breaking the stream) is counted and logged. */
static void conn_sweep(struct conn *c, uint64_t now, uint64_t dt)
{
	struct sl_kernel_ingest *k = c->k;
	if (c->frame_ns != 0 && !c->broken) {
		if (!conn_may_take(c) || c->waiting) {
			/* This side's bounds hold the frame back: its clock stops. */
			c->frame_ns = c->frame_ns + dt < now ? c->frame_ns + dt : now;
		} else if (now - c->frame_ns >= k->frame_timeout_ns && conn_need(c) != 0) {
			sl_counter_inc(k->c, C_TCP_FRAME_TIMEOUTS);
			SL_LOG_RL(SL_LOG_WARN, SUBSYS,
				  "TCP connection on %s closed: a frame not whole after %llu ms "
				  "(ingest.tcp_frame_timeout_ms)",
				  k->where,
				  (unsigned long long)(k->frame_timeout_ns / SL_NS_PER_MS));
			/* As garbage: the frames before it get their acks first. */
			c->broken = true;
			mark_dirty(c);
			return;
		}
	}
	if (k->idle_timeout_ns == 0)
		return;
	if (c->out_len > 0 && now - c->out_ns >= k->idle_timeout_ns) {
		sl_counter_inc(k->c, C_TCP_ACK_TIMEOUTS);
		SL_LOG_RL(SL_LOG_WARN, SUBSYS,
			  "TCP connection on %s closed: its peer read no acks for %llu ms "
			  "(ingest.tcp_idle_timeout_ms)",
			  k->where, (unsigned long long)(k->idle_timeout_ns / SL_NS_PER_MS));
		conn_close(c); /* counts the acks it drops */
		return;
	}
	if (!conn_idle(c)) {
		c->active_ns = now;
	} else if (now - c->active_ns >= k->idle_timeout_ns) {
		sl_counter_inc(k->c, C_TCP_IDLE_TIMEOUTS);
		conn_close(c);
	}
}

/* Check every open connection's timeouts, when it is time to. */
static void sweep(struct sl_kernel_ingest *k)
{
	uint64_t now = k->now_ns;
	if (now < k->next_sweep_ns || k->conns_live == 0 || k->stopping)
		return;
	uint64_t dt = now - k->last_sweep_ns;
	k->last_sweep_ns = now;
	k->next_sweep_ns = now + k->sweep_ns;
	for (uint32_t i = 0; i < k->conns_max; i++) {
		struct conn *c = &k->conns[i];
		if (c->in_use && !c->closed)
			conn_sweep(c, now, dt);
	}
}

/* ---- TCP: accept ---- */

static void accept_post(struct sl_kernel_ingest *k)
{
	SL_ASSERT(!k->accept_posted);
	struct io_uring_sqe *sqe = get_sqe(k);
	io_uring_prep_accept(sqe, k->tcp_fd, NULL, NULL, SOCK_CLOEXEC);
	op_queue(k, sqe, &k->accept_op);
	k->accept_posted = true;
}

static void conn_open(struct sl_kernel_ingest *k, int fd)
{
	struct conn *c = k->free_conns;
	SL_ASSERT(c != NULL);
	k->free_conns = c->next;
	struct slot *slots = c->slots;
	*c = (struct conn){
	    .k = k,
	    .recv_op = {.kind = OP_TCP_RECV, .owner = c},
	    .pollin_op = {.kind = OP_TCP_POLLIN, .owner = c},
	    .pollout_op = {.kind = OP_TCP_POLLOUT, .owner = c},
	    .fd = fd,
	    .refs = 1,
	    .in_use = true,
	    .slots = slots,
	    .active_ns = k->now_ns,
	};
	k->conns_live++;
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* acks are small */
	sl_counter_inc(k->c, C_TCP_ACCEPTED);
	mark_dirty(c);
}

static void accept_done(struct sl_kernel_ingest *k, int res)
{
	SL_ASSERT(k->accept_posted);
	k->accept_posted = false;
	if (res == -ECANCELED)
		return;
	if (res >= 0) {
		if (k->stopping) {
			close(res);
			return;
		}
		if (k->free_conns == NULL) {
			sl_counter_inc(k->c, C_TCP_REFUSED);
			close(res);
			SL_LOG_RL(SL_LOG_WARN, SUBSYS,
				  "TCP connection on %s refused: %u connections open "
				  "(ingest.tcp_connections_max)",
				  k->where, k->conns_live);
		} else {
			conn_open(k, res);
		}
	} else if (res != -EINTR && res != -ECONNABORTED && res != -EAGAIN) {
		sl_counter_inc(k->c, C_TCP_ACCEPT_ERRORS);
		SL_LOG_RL(SL_LOG_WARN, SUBSYS, "TCP accept on %s: %s; retrying in %u ms", k->where,
			  sl_strerror(res), ACCEPT_RETRY_MS);
		if (!k->stopping) {
			struct io_uring_sqe *sqe = get_sqe(k);
			io_uring_prep_timeout(sqe, &k->accept_retry_ts, 0, 0);
			op_queue(k, sqe, &k->accept_retry_op);
			k->accept_retry_posted = true;
		}
		return;
	}
	if (!k->stopping)
		accept_post(k);
}

/* ---- the core's callbacks ---- */

static void kernel_send_ack(void *backend, const uint8_t *reply, uint64_t cookie,
			    const uint8_t *ack, size_t len)
{
	struct sl_kernel_ingest *k = backend;
	struct reply r;
	memcpy(&r, reply, sizeof(r));
	if (r.conn != NULL)
		tcp_send_ack(r.conn, cookie, ack, len);
	else
		udp_send_ack(k, &r, ack, len);
}

static void kernel_release(void *backend, void *buf_ref, uint64_t cookie)
{
	struct sl_kernel_ingest *k = backend;
	uint8_t kind = *(const uint8_t *)buf_ref;
	if (kind == BUF_UDP) {
		struct ubuf *ub = buf_ref;
		SL_ASSERT(ub->held);
		ub->held = false;
		if (!k->stopping)
			udp_post(k, ub);
		return;
	}
	SL_ASSERT(kind == BUF_CHUNK);
	struct chunk *ch = buf_ref;
	struct conn *c = ch->conn;
	frame_finished(c, cookie);
	chunk_put(k, ch);
	conn_put(c);
}

/* ---- the loop ---- */

static void begin_stop(struct sl_kernel_ingest *k)
{
	if (k->stopping)
		return;
	k->stopping = true;
	k->deadline_ns = sl_clock_mono_ns() + (uint64_t)k->drain_ms * SL_NS_PER_MS;
	/* No new frames: end the receives and the accept. */
	struct io_uring_sqe *sqe = cancel_sqe(k);
	io_uring_prep_cancel_fd(sqe, k->udp_fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, NULL);
	sqe = cancel_sqe(k);
	io_uring_prep_cancel_fd(sqe, k->tcp_fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, NULL);
	if (k->accept_retry_posted) {
		sqe = cancel_sqe(k);
		io_uring_prep_cancel(sqe, &k->accept_retry_op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	for (uint32_t i = 0; i < k->conns_max; i++) {
		struct conn *c = &k->conns[i];
		if (c->in_use && c->recv_posted) {
			sqe = cancel_sqe(k);
			io_uring_prep_cancel(sqe, &c->recv_op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
		if (c->in_use && c->pollin_posted) {
			sqe = cancel_sqe(k);
			io_uring_prep_cancel(sqe, &c->pollin_op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
	SL_INFO(SUBSYS, "stopping: %u frame(s) in flight, %u TCP connection(s)",
		sl_ingest_inflight(k->port), k->conns_live);
}

static void handle_cqe(struct sl_kernel_ingest *k, struct op *op, int res)
{
	SL_ASSERT(k->ops > 0);
	k->ops--;
	switch ((enum op_kind)op->kind) {
	case OP_UDP_RECV:
		udp_done(k, op->owner, res);
		return;
	case OP_ACCEPT:
		accept_done(k, res);
		return;
	case OP_ACCEPT_RETRY:
		k->accept_retry_posted = false;
		if (!k->stopping && !k->accept_posted)
			accept_post(k);
		return;
	case OP_TCP_RECV:
		recv_done(op->owner, res);
		return;
	case OP_TCP_POLLIN:
		pollin_done(op->owner, res);
		return;
	case OP_TCP_POLLOUT:
		pollout_done(op->owner, res);
		return;
	case OP_WAKE: {
		uint64_t v;
		ssize_t n = read(sl_ingest_wake_fd(k->port), &v, sizeof(v)); /* non-blocking */
		(void)n;
		/* A wake that fired as finish() cancelled everything must
		 * not post a poll that no one cancels. */
		if (res != -ECANCELED && !k->finishing)
			poll_post(k, sl_ingest_wake_fd(k->port), &k->wake_op);
		return;
	}
	case OP_STOP:
		if (res != -ECANCELED)
			begin_stop(k);
		return;
	}
	SL_UNREACHABLE();
}

/* Handle the CQEs that are in; bounded, so the core is polled often. */
static void reap(struct sl_kernel_ingest *k)
{
	struct io_uring_cqe *cqes[CQE_BURST];
	for (unsigned round = 0; round < CQE_ROUNDS_MAX; round++) {
		unsigned n = io_uring_peek_batch_cqe(&k->ring, cqes, CQE_BURST);
		for (unsigned i = 0; i < n; i++) {
			struct op *op = io_uring_cqe_get_data(cqes[i]);
			int res = cqes[i]->res;
			io_uring_cqe_seen(&k->ring, cqes[i]);
			if (op != NULL)
				handle_cqe(k, op, res);
		}
		if (n < CQE_BURST)
			return;
	}
}

/* Submit and, unless work is left, sleep until a CQE (or a tick while
 * stopping, or the next sweep while TCP connections are open). 0, or
 * -errno when io_uring failed. */
static int wait_events(struct sl_kernel_ingest *k, bool busy)
{
	int rc;
	if (busy) {
		rc = io_uring_submit(&k->ring);
	} else if (k->stopping) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = STOP_TICK_MS * SL_NS_PER_MS};
		struct io_uring_cqe *cqe;
		sl_ingest_offline(k->port);
		rc = io_uring_submit_and_wait_timeout(&k->ring, &cqe, 1, &ts, NULL);
		sl_ingest_online(k->port);
	} else if (k->conns_live > 0) {
		/* Wake for the next sweep of the TCP timeouts. */
		uint64_t ns = k->next_sweep_ns > k->now_ns ? k->next_sweep_ns - k->now_ns : 0;
		struct __kernel_timespec ts = {.tv_sec = (long long)(ns / SL_NS_PER_S),
					       .tv_nsec = (long long)(ns % SL_NS_PER_S)};
		struct io_uring_cqe *cqe;
		sl_ingest_offline(k->port);
		rc = io_uring_submit_and_wait_timeout(&k->ring, &cqe, 1, &ts, NULL);
		sl_ingest_online(k->port);
	} else {
		sl_ingest_offline(k->port);
		rc = io_uring_submit_and_wait(&k->ring, 1);
		sl_ingest_online(k->port);
	}
	if (rc >= 0 || rc == -EINTR || rc == -ETIME || rc == -EAGAIN || rc == -EBUSY)
		return 0;
	return rc;
}

static bool drained(const struct sl_kernel_ingest *k)
{
	if (sl_ingest_inflight(k->port) > 0 || k->udp_posted > 0 || k->accept_posted)
		return false;
	for (uint32_t i = 0; i < k->conns_max; i++) {
		const struct conn *c = &k->conns[i];
		if (c->in_use && !c->closed &&
		    (c->out_len > 0 || c->recv_posted || c->pollin_posted))
			return false;
	}
	return true;
}

/* Close every connection, cancel every request and wait for their CQEs,
 * so nothing the kernel may still write into is freed. */
static void finish(struct sl_kernel_ingest *k)
{
	k->stopping = true; /* nothing is posted again (also after an io_uring error) */
	k->finishing = true;
	for (uint32_t i = 0; i < k->conns_max; i++) {
		struct conn *c = &k->conns[i];
		if (c->in_use && !c->closed) {
			c->refs++;
			conn_close(c);
			conn_put(c);
		}
	}
	service_dirty(k);
	struct io_uring_sqe *sqe = cancel_sqe(k);
	io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, NULL);
	uint64_t until = sl_clock_mono_ns() + (uint64_t)k->final_ms * SL_NS_PER_MS;
	while (k->ops > 0 && sl_clock_mono_ns() < until) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = STOP_TICK_MS * SL_NS_PER_MS};
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait_timeout(&k->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR)
			break;
		reap(k);
		sl_ingest_poll(k->port);
		service_dirty(k);
	}
	if (k->ops > 0)
		SL_ERR(SUBSYS, "%u io_uring request(s) did not complete after cancellation",
		       k->ops);
}

static int ring_create(struct sl_kernel_ingest *k);

int sl_kernel_ingest_run(struct sl_kernel_ingest *k, int stop_fd)
{
	int rc = ring_create(k);
	if (rc != 0)
		return rc;
	k->stop_fd = stop_fd;
	poll_post(k, stop_fd, &k->stop_op);
	poll_post(k, sl_ingest_wake_fd(k->port), &k->wake_op);
	accept_post(k);
	for (uint32_t i = 0; i < k->ubuf_count; i++)
		udp_post(k, &k->ubufs[i]);
	k->now_ns = sl_clock_mono_ns();
	k->last_sweep_ns = k->now_ns;
	k->next_sweep_ns = k->now_ns + k->sweep_ns;
	for (;;) {
		k->now_ns = sl_clock_mono_ns(); /* once a round, for the TCP timeouts */
		reap(k);
		sl_ingest_poll(k->port);
		bool busy = service_dirty(k);
		sweep(k);
		busy = busy || k->dirty != NULL; /* a timed-out frame closes after its acks */
		sl_ingest_quiescent(k->port);
		if (k->stopping) {
			if (drained(k))
				break;
			if (sl_clock_mono_ns() >= k->deadline_ns) {
				/* Frames still in flight are a fault; acks that a
				 * peer does not read are dropped (counted) by the
				 * close in finish(). */
				if (sl_ingest_inflight(k->port) > 0) {
					SL_ERR(SUBSYS,
					       "stopping: %u frame(s) still awaiting storage "
					       "after %u ms",
					       sl_ingest_inflight(k->port), k->drain_ms);
					rc = -ETIMEDOUT;
				}
				break;
			}
		}
		rc = wait_events(k, busy);
		if (rc != 0) {
			SL_ERR(SUBSYS, "io_uring wait: %s", sl_strerror(rc));
			break;
		}
	}
	finish(k);
	return rc;
}

/* ---- create / destroy ---- */

bool sl_kernel_ingest_wanted(enum sl_config_switch mode, bool dpdk_has_ports)
{
	switch (mode) {
	case SL_SWITCH_ON:
		return true;
	case SL_SWITCH_OFF:
		return false;
	case SL_SWITCH_AUTO:
		return !dpdk_has_ports;
	}
	SL_UNREACHABLE();
}

/* cfg's ingest.listen as a socket address. 0 or -EINVAL. */
static int listen_addr(const struct sl_hostport *hp, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *host = strcmp(hp->host, "localhost") == 0 ? "127.0.0.1" : hp->host;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(hp->port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(hp->port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/* A socket of type bound to the address. fd, or -errno (logged). */
static int bind_socket(struct sl_kernel_ingest *k, const struct sockaddr_storage *ss, socklen_t len,
		       int type)
{
	const char *what = type == SOCK_DGRAM ? "UDP" : "TCP";
	int fd = socket(ss->ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int rc = sl_neg_errno();
		SL_ERR(SUBSYS, "%s socket: %s", what, sl_strerror(rc));
		return rc;
	}
	int one = 1;
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		int bytes = UDP_RCVBUF_BYTES;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	}
	if (bind(fd, (const struct sockaddr *)ss, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) != 0)) {
		int rc = sl_neg_errno();
		SL_ERR(SUBSYS, "%s %s: %s", what, k->where, sl_strerror(rc));
		close(fd);
		return rc;
	}
	return fd;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t r = 1;
	while (r < v)
		r <<= 1;
	return r;
}

/* The io_uring: an SQ entry for every request that can be in flight. */
static int ring_create(struct sl_kernel_ingest *k)
{
	/* recvmsg per UDP buffer; recv or POLLIN, and POLLOUT, per connection; accept (or
	 * its retry timeout), stop, wake; cancellations at stop. */
	uint32_t ops_max = k->ubuf_count + 2 * k->conns_max + 8;
	uint32_t entries = pow2_at_least(ops_max);
	if (entries > 32768)
		entries = 32768;
	struct io_uring_params prm = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 2 * entries};
	int rc = io_uring_queue_init_params(entries, &k->ring, &prm);
	if (rc != 0) {
		SL_ERR(SUBSYS, "io_uring (%u entries): %s", entries, sl_strerror(rc));
		return rc;
	}
	k->ring_up = true;
	return 0;
}

/* How often the TCP timeouts are checked: SWEEP_MS, or a quarter of the
 * shortest timeout when that is less (at least 1 ms). */
static uint64_t sweep_period_ns(const struct sl_kernel_ingest *k)
{
	uint64_t ns = (uint64_t)SWEEP_MS * SL_NS_PER_MS;
	if (k->frame_timeout_ns / 4 < ns)
		ns = k->frame_timeout_ns / 4;
	if (k->idle_timeout_ns != 0 && k->idle_timeout_ns / 4 < ns)
		ns = k->idle_timeout_ns / 4;
	return ns > SL_NS_PER_MS ? ns : SL_NS_PER_MS;
}

static int alloc_buffers(struct sl_kernel_ingest *k)
{
	k->ubufs = calloc(k->ubuf_count, sizeof(*k->ubufs));
	k->ubuf_mem = malloc((size_t)k->ubuf_count * UDP_BUF_BYTES);
	k->conns = calloc(k->conns_max, sizeof(*k->conns));
	k->slot_mem = calloc((size_t)k->conns_max * k->inflight_max, sizeof(*k->slot_mem));
	if (k->ubufs == NULL || k->ubuf_mem == NULL || k->conns == NULL || k->slot_mem == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < k->ubuf_count; i++) {
		struct ubuf *ub = &k->ubufs[i];
		ub->kind = BUF_UDP;
		ub->op = (struct op){.kind = OP_UDP_RECV, .owner = ub};
		ub->data = k->ubuf_mem + (size_t)i * UDP_BUF_BYTES;
	}
	for (uint32_t i = k->conns_max; i-- > 0;) {
		struct conn *c = &k->conns[i];
		c->k = k;
		c->fd = -1;
		c->slots = &k->slot_mem[(size_t)i * k->inflight_max];
		c->next = k->free_conns;
		k->free_conns = c;
	}
	return 0;
}

int sl_kernel_ingest_create(struct sl_store *st, const struct sl_config *cfg,
			    struct sl_kernel_ingest **out)
{
	int rc = sl_counter_set_register(&kernel_set);
	if (rc != 0 && rc != -EEXIST)
		return rc;
	struct sl_kernel_ingest *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->udp_fd = k->tcp_fd = -1;
	k->ubuf_count = cfg->ingest_udp_buffers;
	k->udp_ack_payload_max = cfg->ingest_udp_ack_payload_max;
	k->conns_max = cfg->ingest_tcp_connections_max;
	k->inflight_max = cfg->ingest_tcp_inflight_max;
	k->chunk_bytes_max = (uint64_t)cfg->ingest_tcp_buffer_mb << 20;
	k->frame_timeout_ns = (uint64_t)cfg->ingest_tcp_frame_timeout_ms * SL_NS_PER_MS;
	k->idle_timeout_ns = (uint64_t)cfg->ingest_tcp_idle_timeout_ms * SL_NS_PER_MS;
	k->sweep_ns = sweep_period_ns(k);
	k->drain_ms = cfg->shutdown_timeout_ms / 4 * 3;
	k->final_ms = cfg->shutdown_timeout_ms / 8;
	k->accept_op = (struct op){.kind = OP_ACCEPT, .owner = k};
	k->accept_retry_op = (struct op){.kind = OP_ACCEPT_RETRY, .owner = k};
	k->wake_op = (struct op){.kind = OP_WAKE, .owner = k};
	k->stop_op = (struct op){.kind = OP_STOP, .owner = k};
	k->accept_retry_ts = (struct __kernel_timespec){.tv_nsec = ACCEPT_RETRY_MS * SL_NS_PER_MS};
	SL_ASSERT(k->udp_ack_payload_max >= SL_SLW1_ACK_PART_MIN);
	SL_ASSERT(k->udp_ack_payload_max <= sizeof(k->part));
	SL_ASSERT(k->inflight_max > 0);
	SL_ASSERT(k->conns_max > 0);
	bool v6 = strchr(cfg->ingest_listen.host, ':') != NULL;
	snprintf(k->where, sizeof(k->where), "%s%s%s:%u", v6 ? "[" : "", cfg->ingest_listen.host,
		 v6 ? "]" : "", cfg->ingest_listen.port);

	struct sockaddr_storage ss;
	socklen_t len;
	if ((rc = listen_addr(&cfg->ingest_listen, &ss, &len)) != 0) {
		SL_ERR(SUBSYS, "ingest.listen %s: not a numeric address", k->where);
		goto err;
	}
	if ((rc = bind_socket(k, &ss, len, SOCK_DGRAM)) < 0)
		goto err;
	k->udp_fd = rc;
	if ((rc = bind_socket(k, &ss, len, SOCK_STREAM)) < 0)
		goto err;
	k->tcp_fd = rc;
	if ((k->c = sl_counter_block_create(&kernel_set, "kernel")) == NULL) {
		rc = -ENOMEM; /* or a second backend: the owner name is taken */
		goto err;
	}
	if ((rc = alloc_buffers(k)) != 0)
		goto err;
	struct sl_ingest_options o = {
	    .name = "kernel",
	    .frames_max = cfg->ingest_frames_max,
	    .records_max = cfg->ingest_frames_max * 16u,
	    .producers_max = cfg->ingest_producers_max,
	    .ack_payload_max = 0, /* TCP: one ack per frame; UDP is split here */
	    .ops = &kernel_ops,
	    .backend = k,
	};
	if ((rc = sl_ingest_port_create(st, &o, &k->port)) != 0) {
		SL_ERR(SUBSYS, "ingest port: %s", sl_strerror(rc));
		goto err;
	}
	SL_INFO(SUBSYS,
		"SLW1 on the kernel stack: UDP and TCP at %s (%u UDP buffers, up to %u TCP "
		"connections)",
		k->where, k->ubuf_count, k->conns_max);
	*out = k;
	return 0;
err:
	sl_kernel_ingest_destroy(k);
	return rc;
}

void sl_kernel_ingest_destroy(struct sl_kernel_ingest *k)
{
	if (k == NULL)
		return;
	if (k->ops > 0 || (k->port != NULL && sl_ingest_inflight(k->port) > 0)) {
		SL_ERR(SUBSYS,
		       "not freed: %u frame(s) in flight, %u io_uring request(s): storage may "
		       "still complete them",
		       k->port ? sl_ingest_inflight(k->port) : 0, k->ops);
		return;
	}
	SL_ASSERT(k->conns_live == 0 || k->conns == NULL);
	sl_ingest_port_destroy(k->port);
	if (k->ring_up)
		io_uring_queue_exit(&k->ring);
	if (k->udp_fd >= 0)
		close(k->udp_fd);
	if (k->tcp_fd >= 0)
		close(k->tcp_fd);
	sl_counter_block_destroy(k->c);
	free(k->slot_mem);
	free(k->conns);
	free(k->ubuf_mem);
	free(k->ubufs);
	free(k);
}
