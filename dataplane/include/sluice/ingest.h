/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ingest core: what every SLW1 door (DPDK RX lcores, the kernel UDP and
 * TCP backend) does with a frame once it has its bytes, and how the ack
 * goes back. One struct sl_ingest_port per ingest thread, used only by that
 * thread (no locks):
 *
 *   sl_ingest_frame(): parse and validate (slw1.c) → stream by name through
 *   the shard map → dedupe window of the producer → MD5(partition key) or
 *   the explicit hash key → shard by hash range → the records of the frame
 *   grouped by shard (stable: frame order within a shard, shards in order
 *   of first appearance) → one struct sl_append per shard onto the shard
 *   rings. A frame that needs no storage (malformed, unknown stream, ...)
 *   is answered at once.
 *
 *   The writers call back from their threads (sl_append.done); that only
 *   pushes the append onto the port's completion ring and wakes the port.
 *   sl_ingest_poll() on the owning thread collects them; when every append
 *   of a frame is done it builds the SLA1 ack (split into parts of at most
 *   ack_payload_max bytes), hands each part to ops->send_ack, remembers the
 *   result for dedupe, and releases the frame's bytes (ops->release).
 *
 * Frame contexts, appends and record views come from pools sized at create
 * time: no allocation per frame. An exhausted pool answers THROTTLED.
 * Every outcome has a counter (set "ingest", one block per port).
 *
 * Dedupe: per port (a producer is pinned to one port by RSS, or by its TCP
 * connection or socket); each port restores every producer's last window
 * from storage at create time (sl_store_dedupe_foreach).
 */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/slw1.h>

struct sl_store;
struct sl_ingest_port;

#define SL_INGEST_REPLY_BYTES   48 /* opaque reply address a backend keeps per frame */
#define SL_INGEST_DEDUPE_WINDOW 64

/* What a backend supplies: how to answer and how to let go of a frame. */
struct sl_ingest_ops {
	/*
	 * Send one ack datagram (or, over TCP, the one ack of the frame) to
	 * reply[0..SL_INGEST_REPLY_BYTES) as the backend recorded it. The
	 * bytes are borrowed for the call only. cookie is the frame's, as
	 * given to sl_ingest_frame (TCP uses it to keep acks in order).
	 */
	void (*send_ack)(void *backend, const uint8_t *reply, uint64_t cookie, const uint8_t *ack,
			 size_t len);
	/*
	 * The frame's bytes are no longer needed (the writers copied them):
	 * free the mbuf or the receive buffer. Called once for every frame
	 * sl_ingest_frame() retained, after its last send_ack.
	 */
	void (*release)(void *backend, void *buf_ref, uint64_t cookie);
};

struct sl_ingest_options {
	const char *name;       /* counter block owner, e.g. "rx0", "kernel" */
	uint32_t frames_max;    /* frames awaiting storage at once (pool size) */
	uint32_t records_max;   /* record views in flight, all frames together */
	uint32_t producers_max; /* dedupe table capacity (oldest evicted, counted) */
	size_t ack_payload_max; /* bytes per ack datagram (UDP: MTU - 28); 0: no split */
	const struct sl_ingest_ops *ops;
	void *backend;
};

/* 0 and *out, or -errno. Restores dedupe windows from st. Boot time. */
int sl_ingest_port_create(struct sl_store *st, const struct sl_ingest_options *o,
			  struct sl_ingest_port **out);
/* Every retained frame must have been released (drain first). NULL: no-op. */
void sl_ingest_port_destroy(struct sl_ingest_port *p);

/*
 * Take one frame: buf[0..len) exactly (a datagram; a TCP-delimited frame).
 * reply: SL_INGEST_REPLY_BYTES the backend wants back in send_ack. cookie:
 * any value (TCP: the frame's position on its connection).
 * Returns true when the frame was retained (buf must stay valid until
 * ops->release(buf_ref)), false when it was answered or dropped at once
 * (buf may be reused on return; send_ack may have been called already).
 */
bool sl_ingest_frame(struct sl_ingest_port *p, const uint8_t *buf, size_t len, void *buf_ref,
		     const uint8_t *reply, uint64_t cookie);

/* Collect completions, send acks, release frames. Returns how many frames
 * finished. Owning thread; call after every RX burst and on wake. */
unsigned sl_ingest_poll(struct sl_ingest_port *p);

/* Frames retained and not yet finished. */
unsigned sl_ingest_inflight(const struct sl_ingest_port *p);

/* An eventfd that becomes readable when completions are waiting (for
 * backends that sleep; poll-mode lcores just call sl_ingest_poll). */
int sl_ingest_wake_fd(const struct sl_ingest_port *p);

/* A QSBR quiescent point: call between bursts, holding no frame bytes of
 * the map. Offline/online around blocking waits. */
void sl_ingest_quiescent(struct sl_ingest_port *p);
void sl_ingest_offline(struct sl_ingest_port *p);
void sl_ingest_online(struct sl_ingest_port *p);

/* Count a drop the backend saw before the frame reached the core (the
 * counters live in the port's "ingest" block). */
enum sl_ingest_drop {
	SL_INGEST_DROP_NOT_FOR_US = 0, /* wrong address, port, protocol */
	SL_INGEST_DROP_BAD_PACKET,     /* truncated or bad L2/L3/L4 header */
	SL_INGEST_DROP_IP_FRAGMENT,    /* fragmented IPv4: not reassembled */
	SL_INGEST_DROP_ACK_TX,         /* an ack the backend could not send */
	SL_INGEST_DROP_COUNT,
};
void sl_ingest_count_drop(struct sl_ingest_port *p, enum sl_ingest_drop why, uint64_t n);

/* The "ingest" counter set (for stats and tests). */
struct sl_counter_set;
const struct sl_counter_set *sl_ingest_counter_set(void);

#endif /* SLUICE_INGEST_H */
