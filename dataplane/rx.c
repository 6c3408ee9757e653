/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RX lcores: queue ownership, the poll loop, ARP/ICMP answers, acks on the
 * lcore's TX queues, the drain at stop (see rx.h).
 *
 * Ownership: the ports' RX queues, taken port by port, go round-robin to
 * the worker lcores, so with one queue per lcore on every port lcore i
 * owns queue i everywhere. On each port, each owning lcore has its own TX
 * queue (numbered by first ownership) and its own mempool, sized
 * dpdk.mbufs per queue it owns; acks and ARP/ICMP answers leave through
 * the port the request came in by, on the lcore's TX queue there.
 *
 * Frames awaiting storage hold their mbufs, so an lcore's ingest port may
 * retain no more frames than its smallest pool can spare after its RX
 * rings, its TX ring, the TX buffer, bursts and caches: then RX never runs
 * dry because storage is slow; the ingest core answers THROTTLED instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#include <sluice/assert.h>
#include <sluice/counters.h>
#include <sluice/error.h>
#include <sluice/ingest.h>
#include <sluice/log.h>
#include <sluice/net.h>
#include <sluice/port.h>
#include <sluice/rx.h>

#define SUBSYS "dpdk"

#define TX_BUF_MAX       512  /* mbufs buffered per (lcore, port) before a burst */
#define TX_TRIES_MAX     4    /* rte_eth_tx_burst calls for one buffer, then drop */
#define IDLE_POLLS       1024 /* empty rounds before dpdk.idle_sleep_us applies */
#define DRAIN_PAUSE_US   100
#define LCORE_QUEUES_MAX (SL_EAL_PORTS_MAX * 4)
#define FRAMES_FLOOR     16

SL_STATIC_ASSERT(sizeof(struct sl_net_reply) <= SL_INGEST_REPLY_BYTES);
SL_STATIC_ASSERT(SL_EAL_PORTS_MAX <= UINT8_MAX); /* sl_net_reply.port_index */
SL_STATIC_ASSERT(SL_RX_BURST_MAX <= TX_BUF_MAX);

/* ---- counters ("dpdk_rx", one block per lcore) ---- */

enum {
	C_RX_PACKETS,
	C_RX_BYTES,
	C_INGEST_FRAMES,
	C_ARP_REPLIES,
	C_ICMP_REPLIES,
	C_NOT_FOR_US,
	C_IP_FRAGMENTS,
	C_MULTI_SEGMENT,
	C_BAD_FIRST, /* one per enum sl_net_bad, NONE excluded */
	C_BAD_LAST = C_BAD_FIRST + SL_NET_BAD_COUNT - 2,
	C_TX_PACKETS,
	C_ACKS_SENT,
	C_ACKS_DROPPED,
	C_REPLIES_DROPPED,
	C_COUNT
};

static const struct sl_counter_def defs[C_COUNT] = {
    [C_RX_PACKETS] = {"rx_packets", "frames taken from RX queues"},
    [C_RX_BYTES] = {"rx_bytes", "bytes of frames taken from RX queues"},
    [C_INGEST_FRAMES] = {"ingest_frames", "UDP datagrams handed to the ingest core"},
    [C_ARP_REPLIES] = {"arp_replies", "ARP requests for dpdk.ip answered"},
    [C_ICMP_REPLIES] = {"icmp_replies", "ICMP echo requests for dpdk.ip answered"},
    [C_NOT_FOR_US] = {"not_for_us", "frames for another address, protocol or port (dropped)"},
    [C_IP_FRAGMENTS] = {"ip_fragments", "IPv4 fragments for us (dropped, not reassembled)"},
    [C_MULTI_SEGMENT] = {"bad_multi_segment", "frames in more than one mbuf (dropped)"},
    [C_BAD_FIRST + SL_NET_BAD_ETH - 1] = {"bad_eth", "frames shorter than an Ethernet header"},
    [C_BAD_FIRST + SL_NET_BAD_ARP - 1] = {"bad_arp", "malformed ARP"},
    [C_BAD_FIRST + SL_NET_BAD_IP_VERSION - 1] = {"bad_ip_version", "IPv4 version not 4"},
    [C_BAD_FIRST + SL_NET_BAD_IP_HDR_LEN - 1] = {"bad_ip_hdr_len", "IPv4 IHL bad or truncated"},
    [C_BAD_FIRST + SL_NET_BAD_IP_LEN - 1] = {"bad_ip_len", "IPv4 total length bad"},
    [C_BAD_FIRST + SL_NET_BAD_IP_CSUM - 1] = {"bad_ip_csum", "IPv4 header checksum bad"},
    [C_BAD_FIRST + SL_NET_BAD_IP_SRC - 1] = {"bad_ip_src",
					     "source address never answered (0, loopback, group)"},
    [C_BAD_FIRST + SL_NET_BAD_UDP_LEN - 1] = {"bad_udp_len", "UDP length bad"},
    [C_BAD_FIRST + SL_NET_BAD_L4_CSUM - 1] = {"bad_udp_csum", "UDP checksum bad (NIC)"},
    [C_BAD_FIRST + SL_NET_BAD_ICMP - 1] = {"bad_icmp", "ICMP echo request short or bad checksum"},
    [C_TX_PACKETS] = {"tx_packets", "frames sent (acks, ARP and ICMP answers)"},
    [C_ACKS_SENT] = {"acks_sent", "ack datagrams sent"},
    [C_ACKS_DROPPED] = {"acks_dropped",
			"ack datagrams not sent: no mbuf or TX full (also ingest ack_tx_drop)"},
    [C_REPLIES_DROPPED] = {"replies_dropped", "ARP/ICMP answers not sent: TX full"},
};

static const struct sl_counter_set rx_set = {
    .name = "dpdk_rx",
    .defs = defs,
    .count = C_COUNT,
};

/* ---- types ---- */

/* One lcore's TX side on one port, and what it answers as there. */
struct rx_txq {
	uint16_t port_id;
	uint16_t queue_id;
	uint16_t n; /* buffered */
	bool csum_offload;
	struct rte_mempool *pool; /* this lcore's, on this port */
	struct sl_net_local local;
	struct rte_mbuf *pkts[TX_BUF_MAX];
	uint8_t is_ack[TX_BUF_MAX];
};

struct rx_queue {
	uint16_t port_id;
	uint16_t queue_id;
	uint8_t slot; /* index into the lcore's tx[] */
};

struct rx_lcore {
	struct sl_rx *rx;
	unsigned lcore_id;
	unsigned queue_count;
	struct rx_queue queues[LCORE_QUEUES_MAX];
	unsigned port_count; /* slots in tx[] */
	struct rx_txq tx[SL_EAL_PORTS_MAX];
	struct sl_ingest_port *ingest;
	struct sl_counter_block *c;
	uint16_t burst;
	uint16_t ip_id;
	uint16_t mtu_min;
	uint32_t idle_sleep_us;
	uint32_t frames_max;
	uint64_t drain_cycles;
	bool stop;    /* set by the main thread (atomic access) */
	bool running; /* launched and not yet waited for */
	unsigned inflight_left;
};

struct sl_rx {
	struct sl_config cfg;
	struct sl_port_conf pc;
	struct sl_store *st;
	unsigned port_count;
	struct sl_port ports[SL_EAL_PORTS_MAX];
	struct rte_mempool *pools[SL_EAL_PORTS_MAX][RTE_MAX_LCORE];
	unsigned lcore_count;
	struct rx_lcore *lcores[RTE_MAX_LCORE];
	bool stuck; /* frames still held after the drain: keep memory */
};

/* ---- TX ---- */

static void tx_flush(struct rx_lcore *lc, struct rx_txq *tx)
{
	uint16_t n = tx->n, sent = 0;
	if (n == 0)
		return;
	for (unsigned tries = 0; sent < n && tries < TX_TRIES_MAX; tries++)
		sent += rte_eth_tx_burst(tx->port_id, tx->queue_id, tx->pkts + sent, n - sent);
	unsigned acks_sent = 0, acks_lost = 0;
	for (uint16_t i = 0; i < sent; i++)
		acks_sent += tx->is_ack[i];
	for (uint16_t i = sent; i < n; i++)
		acks_lost += tx->is_ack[i];
	if (sent < n) {
		rte_pktmbuf_free_bulk(tx->pkts + sent, n - sent);
		sl_counter_add(lc->c, C_ACKS_DROPPED, acks_lost);
		sl_counter_add(lc->c, C_REPLIES_DROPPED, (n - sent) - acks_lost);
		if (acks_lost)
			sl_ingest_count_drop(lc->ingest, SL_INGEST_DROP_ACK_TX, acks_lost);
	}
	sl_counter_add(lc->c, C_TX_PACKETS, sent);
	sl_counter_add(lc->c, C_ACKS_SENT, acks_sent);
	tx->n = 0;
}

static void tx_flush_all(struct rx_lcore *lc)
{
	for (unsigned i = 0; i < lc->port_count; i++)
		tx_flush(lc, &lc->tx[i]);
}

static void tx_push(struct rx_lcore *lc, struct rx_txq *tx, struct rte_mbuf *m, bool is_ack)
{
	if (tx->n == TX_BUF_MAX)
		tx_flush(lc, tx);
	SL_ASSERT_HOT(tx->n < TX_BUF_MAX);
	tx->is_ack[tx->n] = is_ack;
	tx->pkts[tx->n++] = m;
}

/* ---- ingest backend ---- */

static void ack_dropped(struct rx_lcore *lc)
{
	sl_counter_inc(lc->c, C_ACKS_DROPPED);
	sl_ingest_count_drop(lc->ingest, SL_INGEST_DROP_ACK_TX, 1);
}

/* ops->send_ack: one ack datagram in a fresh mbuf, onto the TX buffer. */
static void rx_send_ack(void *backend, const uint8_t *reply, uint64_t cookie, const uint8_t *ack,
			size_t len)
{
	struct rx_lcore *lc = backend;
	struct sl_net_reply r;
	(void)cookie;
	memcpy(&r, reply, sizeof(r));
	SL_ASSERT_HOT(r.port_index < lc->port_count);
	struct rx_txq *tx = &lc->tx[r.port_index];
	struct rte_mbuf *m = rte_pktmbuf_alloc(tx->pool);
	if (SL_UNLIKELY(m == NULL)) {
		ack_dropped(lc);
		return;
	}
	unsigned flags = tx->csum_offload ? SL_NET_TX_CSUM_OFFLOAD : 0;
	size_t n = sl_net_udp_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), &r,
				    tx->local.mac, ack, len, lc->ip_id++, flags);
	if (SL_UNLIKELY(n == 0)) { /* longer than the mbuf: an MTU mismatch */
		rte_pktmbuf_free(m);
		ack_dropped(lc);
		return;
	}
	m->data_len = (uint16_t)n;
	m->pkt_len = (uint32_t)n;
	if (flags) {
		m->l2_len = sl_net_udp_hdr_len(&r) - SL_NET_IPV4_HDR_BYTES - SL_NET_UDP_HDR_BYTES;
		m->l3_len = SL_NET_IPV4_HDR_BYTES;
		m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
	}
	tx_push(lc, tx, m, true);
}

/* ops->release: the frame's mbuf is no longer needed. */
static void rx_release(void *backend, void *buf_ref, uint64_t cookie)
{
	(void)backend;
	(void)cookie;
	rte_pktmbuf_free(buf_ref);
}

static const struct sl_ingest_ops rx_ops = {
    .send_ack = rx_send_ack,
    .release = rx_release,
};

/* ---- RX ---- */

static uint8_t csum_hint(uint64_t flags, uint64_t mask, uint64_t good, uint64_t bad, uint64_t none)
{
	uint64_t f = flags & mask;
	if (f == bad)
		return SL_NET_CSUM_BAD;
	/* NONE: the checksum in the bytes is not set, the data was verified. */
	if (f == good || f == none)
		return SL_NET_CSUM_GOOD;
	return SL_NET_CSUM_UNKNOWN;
}

static void rx_hints(const struct rte_mbuf *m, struct sl_net_rx_hints *h)
{
	uint64_t f = m->ol_flags;
	h->ip_csum = csum_hint(f, RTE_MBUF_F_RX_IP_CKSUM_MASK, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
			       RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_NONE);
	h->l4_csum = csum_hint(f, RTE_MBUF_F_RX_L4_CKSUM_MASK, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
			       RTE_MBUF_F_RX_L4_CKSUM_BAD, RTE_MBUF_F_RX_L4_CKSUM_NONE);
	h->vlan_stripped = (f & RTE_MBUF_F_RX_VLAN_STRIPPED) != 0;
	h->vlan_tci = m->vlan_tci;
}

/* Per-burst tallies, added to the counters once per burst. */
struct tally {
	uint64_t c[C_COUNT];
	uint64_t drops[SL_INGEST_DROP_COUNT];
};

/*
 * Send an ARP/ICMP answer built in m's own bytes (len long) and count it in
 * *answered. A tag the NIC stripped goes back in (m->vlan_tci still holds
 * it). false: m not taken (no headroom for the tag; counted).
 */
static bool answer(struct rx_lcore *lc, struct rx_txq *tx, struct rte_mbuf *m, size_t len,
		   bool reinsert_tag, uint64_t *answered, struct tally *t)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	m->ol_flags = 0;
	if (reinsert_tag && rte_vlan_insert(&m) != 0) {
		t->c[C_REPLIES_DROPPED]++;
		return false;
	}
	(*answered)++;
	tx_push(lc, tx, m, false);
	return true;
}

/* One frame: true when m was taken (ingest retained it, or it was sent). */
static bool rx_one(struct rx_lcore *lc, const struct rx_queue *q, struct rte_mbuf *m,
		   struct tally *t)
{
	struct rx_txq *tx = &lc->tx[q->slot];
	struct sl_net_rx_hints h;
	struct sl_net_pkt pkt;
	union {
		struct sl_net_reply r;
		uint8_t bytes[SL_INGEST_REPLY_BYTES];
	} reply;
	t->c[C_RX_PACKETS]++;
	t->c[C_RX_BYTES] += m->pkt_len;
	if (SL_UNLIKELY(m->nb_segs != 1)) {
		t->c[C_MULTI_SEGMENT]++;
		t->drops[SL_INGEST_DROP_BAD_PACKET]++;
		return false;
	}
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	rx_hints(m, &h);
	switch (sl_net_classify(data, m->data_len, &tx->local, &h, &pkt)) {
	case SL_NET_INGEST:
		t->c[C_INGEST_FRAMES]++;
		memset(&reply, 0, sizeof(reply));
		reply.r = pkt.reply;
		reply.r.port_index = q->slot;
		return sl_ingest_frame(lc->ingest, data + pkt.payload_off, pkt.payload_len, m,
				       reply.bytes, 0);
	case SL_NET_ARP_REQUEST: {
		size_t cap = (size_t)m->buf_len - m->data_off;
		size_t len = sl_net_arp_answer(data, cap, &pkt, &tx->local);
		return answer(lc, tx, m, len, h.vlan_stripped, &t->c[C_ARP_REPLIES], t);
	}
	case SL_NET_ICMP_ECHO: {
		size_t len = sl_net_icmp_answer(data, &pkt, &tx->local);
		return answer(lc, tx, m, len, h.vlan_stripped, &t->c[C_ICMP_REPLIES], t);
	}
	case SL_NET_NOT_FOR_US:
		t->c[C_NOT_FOR_US]++;
		t->drops[SL_INGEST_DROP_NOT_FOR_US]++;
		return false;
	case SL_NET_FRAGMENT:
		t->c[C_IP_FRAGMENTS]++;
		t->drops[SL_INGEST_DROP_IP_FRAGMENT]++;
		return false;
	case SL_NET_BAD:
		SL_ASSERT_HOT(pkt.bad > SL_NET_BAD_NONE);
		SL_ASSERT_HOT(pkt.bad < SL_NET_BAD_COUNT);
		t->c[C_BAD_FIRST + pkt.bad - 1]++;
		t->drops[SL_INGEST_DROP_BAD_PACKET]++;
		return false;
	default:
		SL_UNREACHABLE();
	}
}

/* One burst from one queue. Returns how many frames it took. */
static unsigned rx_burst(struct rx_lcore *lc, const struct rx_queue *q)
{
	struct rte_mbuf *pkts[SL_RX_BURST_MAX], *drop[SL_RX_BURST_MAX];
	uint16_t n = rte_eth_rx_burst(q->port_id, q->queue_id, pkts, lc->burst);
	if (n == 0)
		return 0;
	struct tally t;
	unsigned nd = 0;
	memset(&t, 0, sizeof(t));
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!rx_one(lc, q, pkts[i], &t))
			drop[nd++] = pkts[i];
	}
	if (nd > 0)
		rte_pktmbuf_free_bulk(drop, nd);
	for (unsigned i = 0; i < C_COUNT; i++) {
		if (t.c[i])
			sl_counter_add(lc->c, i, t.c[i]);
	}
	for (unsigned i = 0; i < SL_INGEST_DROP_COUNT; i++) {
		if (t.drops[i])
			sl_ingest_count_drop(lc->ingest, (enum sl_ingest_drop)i, t.drops[i]);
	}
	return n;
}

/* After stop: no more RX; finish what storage holds, within the bound. */
static int drain(struct rx_lcore *lc)
{
	uint64_t deadline = rte_get_timer_cycles() + lc->drain_cycles;
	while (sl_ingest_inflight(lc->ingest) > 0 && rte_get_timer_cycles() < deadline) {
		sl_ingest_poll(lc->ingest);
		tx_flush_all(lc);
		sl_ingest_quiescent(lc->ingest);
		rte_delay_us_sleep(DRAIN_PAUSE_US);
	}
	sl_ingest_poll(lc->ingest);
	tx_flush_all(lc);
	lc->inflight_left = sl_ingest_inflight(lc->ingest);
	/* This thread reads nothing the control plane swaps any more. */
	sl_ingest_offline(lc->ingest);
	return lc->inflight_left ? -ETIMEDOUT : 0;
}

static int lcore_main(void *arg)
{
	struct rx_lcore *lc = arg;
	unsigned idle = 0;
	sl_ingest_online(lc->ingest);
	while (!__atomic_load_n(&lc->stop, __ATOMIC_ACQUIRE)) {
		unsigned got = 0;
		for (unsigned i = 0; i < lc->queue_count; i++)
			got += rx_burst(lc, &lc->queues[i]);
		got += sl_ingest_poll(lc->ingest);
		tx_flush_all(lc);
		sl_ingest_quiescent(lc->ingest);
		if (got > 0) {
			idle = 0;
		} else if (lc->idle_sleep_us > 0 && ++idle >= IDLE_POLLS) {
			idle = IDLE_POLLS;
			rte_delay_us_sleep(lc->idle_sleep_us);
		}
	}
	return drain(lc);
}

/* ---- boot ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A new lcore context on its own socket. */
static struct rx_lcore *lcore_new(struct sl_rx *rx, unsigned lcore_id)
{
	struct rx_lcore *lc = rte_zmalloc_socket("sl_rx_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE,
						 (int)rte_lcore_to_socket_id(lcore_id));
	if (lc == NULL)
		return NULL;
	lc->rx = rx;
	lc->lcore_id = lcore_id;
	lc->burst = (uint16_t)rx->cfg.dpdk_rx_burst;
	lc->idle_sleep_us = rx->cfg.dpdk_idle_sleep_us;
	lc->drain_cycles = rte_get_timer_hz() / 1000 * rx->cfg.shutdown_timeout_ms;
	lc->mtu_min = UINT16_MAX;
	return lc;
}

/* Give port p's RX queues to lcores round-robin from *next; set its TX queues. */
static int assign_port(struct sl_rx *rx, unsigned pi, unsigned *next, char *why, size_t cap)
{
	struct sl_port *p = &rx->ports[pi];
	uint8_t slot_of[RTE_MAX_LCORE];
	memset(slot_of, 0xFF, sizeof(slot_of));
	p->txq_count = 0;
	for (uint16_t q = 0; q < p->rxq_count; q++) {
		unsigned li = (*next)++ % rx->lcore_count;
		struct rx_lcore *lc = rx->lcores[li];
		if (slot_of[li] == 0xFF) {
			if (lc->port_count == SL_EAL_PORTS_MAX)
				return fail(why, cap, "lcore %u: too many ports", lc->lcore_id);
			slot_of[li] = (uint8_t)lc->port_count++;
			struct rx_txq *tx = &lc->tx[slot_of[li]];
			tx->port_id = p->port_id;
			tx->queue_id = p->txq_count++;
			tx->csum_offload = p->tx_csum;
			tx->local = p->local;
			if (p->mtu < lc->mtu_min)
				lc->mtu_min = p->mtu;
		}
		if (lc->queue_count == LCORE_QUEUES_MAX)
			return fail(why, cap, "lcore %u: more than %u RX queues", lc->lcore_id,
				    LCORE_QUEUES_MAX);
		lc->queues[lc->queue_count++] =
		    (struct rx_queue){.port_id = p->port_id, .queue_id = q, .slot = slot_of[li]};
	}
	return 0;
}

/* Queues of port p that lcore lc owns. */
static unsigned owned(const struct rx_lcore *lc, uint16_t port_id)
{
	unsigned n = 0;
	for (unsigned i = 0; i < lc->queue_count; i++)
		n += lc->queues[i].port_id == port_id;
	return n;
}

/* What one (port, lcore) pool can spare for frames awaiting storage. */
static uint32_t pool_budget(const struct sl_rx *rx, unsigned queues)
{
	int64_t b = (int64_t)queues * (rx->pc.mbufs - rx->pc.rx_desc) - rx->pc.tx_desc -
		    TX_BUF_MAX - 2 * (int64_t)rx->cfg.dpdk_rx_burst -
		    2 * (int64_t)rx->pc.mbuf_cache;
	return b < FRAMES_FLOOR ? FRAMES_FLOOR : (uint32_t)b;
}

/* Pools for port pi, one per owning lcore; then configure and start it. */
static int start_port(struct sl_rx *rx, unsigned pi, char *why, size_t cap)
{
	struct sl_port *p = &rx->ports[pi];
	struct rte_mempool *rxq_pool[SL_PORT_QUEUES_MAX] = {0};
	for (unsigned li = 0; li < rx->lcore_count; li++) {
		struct rx_lcore *lc = rx->lcores[li];
		unsigned nq = owned(lc, p->port_id);
		if (nq == 0)
			continue;
		struct rte_mempool *mp = sl_port_pool_create(p, &rx->pc, li, nq, why, cap);
		if (mp == NULL)
			return -ENOMEM;
		rx->pools[pi][li] = mp;
		uint32_t budget = pool_budget(rx, nq);
		if (budget < lc->frames_max || lc->frames_max == 0)
			lc->frames_max = budget;
		for (unsigned s = 0; s < lc->port_count; s++) {
			if (lc->tx[s].port_id == p->port_id)
				lc->tx[s].pool = mp;
		}
		for (unsigned i = 0; i < lc->queue_count; i++) {
			if (lc->queues[i].port_id == p->port_id)
				rxq_pool[lc->queues[i].queue_id] = mp;
		}
	}
	return sl_port_start(p, &rx->pc, rxq_pool, why, cap);
}

/*
 * The ingest core keeps frames_max small frame contexts plus
 * max(4, frames_max / 16) large ones (ingest.c); keep both within budget.
 */
static uint32_t frames_for_budget(uint32_t budget, uint32_t configured)
{
	uint32_t f = budget < configured ? budget : configured;
	while (f > FRAMES_FLOOR && f + (f / 16 < 4 ? 4 : f / 16) > budget)
		f -= f / 32 + 1;
	return f;
}

static int create_ingest(struct sl_rx *rx, struct rx_lcore *lc, char *why, size_t cap)
{
	char name[32];
	snprintf(name, sizeof(name), "rx-lcore-%u", lc->lcore_id);
	lc->c = sl_counter_block_create(&rx_set, name);
	if (lc->c == NULL)
		return fail(why, cap, "%s: counter block", name);
	struct sl_ingest_options o = {
	    .name = name,
	    .frames_max = frames_for_budget(lc->frames_max, rx->cfg.ingest_frames_max),
	    .producers_max = rx->cfg.ingest_producers_max,
	    .ack_payload_max = SL_NET_UDP_PAYLOAD_MAX(lc->mtu_min),
	    .ops = &rx_ops,
	    .backend = lc,
	};
	int rc = sl_ingest_port_create(rx->st, &o, &lc->ingest);
	if (rc != 0) {
		fail(why, cap, "%s: ingest port: %s", name, sl_strerror(rc));
		return rc;
	}
	/* Offline until its loop starts, so no updater waits on a thread that
	 * does not run yet. */
	sl_ingest_offline(lc->ingest);
	SL_INFO(SUBSYS, "RX lcore %u: %u queue(s) on %u port(s), %u frames in flight at most",
		lc->lcore_id, lc->queue_count, lc->port_count, o.frames_max);
	return 0;
}

int sl_rx_create(const struct sl_config *cfg, const struct sl_eal *eal, struct sl_store *st,
		 struct sl_rx **out, char *why, size_t why_cap)
{
	SL_ASSERT(eal->up);
	SL_ASSERT(eal->port_count > 0);
	int rc = sl_counter_set_register(&rx_set);
	if (rc != 0 && rc != -EEXIST) {
		fail(why, why_cap, "counter set %s: %s", rx_set.name, sl_strerror(rc));
		return rc;
	}
	struct sl_rx *rx = rte_zmalloc("sl_rx", sizeof(*rx), RTE_CACHE_LINE_SIZE);
	if (rx == NULL) {
		fail(why, why_cap, "out of EAL memory (dpdk.memory_mb)");
		return -ENOMEM;
	}
	rx->cfg = *cfg;
	rx->st = st;
	sl_port_conf_from_config(&rx->pc, cfg);
	rc = 0;
	unsigned lcore_id;
	RTE_LCORE_FOREACH_WORKER (lcore_id) {
		struct rx_lcore *lc = lcore_new(rx, lcore_id);
		if (lc == NULL) {
			fail(why, why_cap, "out of EAL memory (dpdk.memory_mb)");
			rc = -ENOMEM;
			break;
		}
		rx->lcores[rx->lcore_count++] = lc;
	}
	if (rc == 0 && rx->lcore_count == 0) {
		fail(why, why_cap, "no RX lcore: dpdk.lcores needs a CPU besides the main lcore");
		rc = -ENODEV;
	}
	unsigned next = 0;
	for (unsigned i = 0; rc == 0 && i < eal->port_count; i++) {
		rc = sl_port_plan(eal->ports[i].port_id, &rx->pc, rx->lcore_count, &rx->ports[i],
				  why, why_cap);
		rx->port_count += rc == 0;
		rc = rc ?: assign_port(rx, i, &next, why, why_cap);
	}
	for (unsigned i = 0; rc == 0 && i < rx->port_count; i++)
		rc = start_port(rx, i, why, why_cap);
	for (unsigned i = 0; rc == 0 && i < rx->lcore_count; i++) {
		if (rx->lcores[i]->queue_count > 0)
			rc = create_ingest(rx, rx->lcores[i], why, why_cap);
	}
	if (rc != 0) {
		sl_rx_destroy(rx);
		return rc;
	}
	*out = rx;
	return 0;
}

int sl_rx_launch(struct sl_rx *rx)
{
	for (unsigned i = 0; i < rx->lcore_count; i++) {
		struct rx_lcore *lc = rx->lcores[i];
		if (lc->queue_count == 0)
			continue; /* more lcores than queues: this one idles */
		SL_ASSERT(!lc->running);
		int rc = rte_eal_remote_launch(lcore_main, lc, lc->lcore_id);
		if (rc != 0) {
			SL_ERR(SUBSYS, "RX lcore %u: launch: %s", lc->lcore_id, sl_strerror(rc));
			return rc;
		}
		lc->running = true;
	}
	return 0;
}

/* One line of the lcore's counters at stop; the bad_* ones only when not 0. */
static void log_lcore(const struct rx_lcore *lc)
{
	char bad_each[512] = "";
	size_t used = 0;
	uint64_t bad = 0;
	for (unsigned i = C_MULTI_SEGMENT; i <= C_BAD_LAST; i++) {
		uint64_t v = sl_counter_block_get(lc->c, i);
		bad += v;
		if (v > 0 && used < sizeof(bad_each))
			used += (size_t)snprintf(bad_each + used, sizeof(bad_each) - used,
						 " %s %" PRIu64, defs[i].name, v);
	}
#define V(i) sl_counter_block_get(lc->c, (i))
	SL_INFO(SUBSYS,
		"RX lcore %u stopped: rx_packets %" PRIu64 " ingest_frames %" PRIu64
		" arp_replies %" PRIu64 " icmp_replies %" PRIu64 " not_for_us %" PRIu64
		" ip_fragments %" PRIu64 " bad %" PRIu64 " acks_sent %" PRIu64
		" acks_dropped %" PRIu64 " replies_dropped %" PRIu64 "%s",
		lc->lcore_id, V(C_RX_PACKETS), V(C_INGEST_FRAMES), V(C_ARP_REPLIES),
		V(C_ICMP_REPLIES), V(C_NOT_FOR_US), V(C_IP_FRAGMENTS), bad, V(C_ACKS_SENT),
		V(C_ACKS_DROPPED), V(C_REPLIES_DROPPED), bad_each);
#undef V
}

int sl_rx_stop(struct sl_rx *rx)
{
	int result = 0;
	for (unsigned i = 0; i < rx->lcore_count; i++)
		__atomic_store_n(&rx->lcores[i]->stop, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < rx->lcore_count; i++) {
		struct rx_lcore *lc = rx->lcores[i];
		if (!lc->running)
			continue;
		int rc = rte_eal_wait_lcore(lc->lcore_id);
		lc->running = false;
		log_lcore(lc);
		if (rc == -ETIMEDOUT) {
			SL_ERR(SUBSYS,
			       "RX lcore %u: %u frame(s) still awaiting storage after %u ms: their "
			       "buffers stay allocated",
			       lc->lcore_id, lc->inflight_left, rx->cfg.shutdown_timeout_ms);
			rx->stuck = true;
			result = rc;
		}
	}
	return result;
}

void sl_rx_destroy(struct sl_rx *rx)
{
	if (rx == NULL)
		return;
	for (unsigned i = 0; i < rx->lcore_count; i++)
		SL_ASSERT(!rx->lcores[i]->running);
	if (rx->stuck)
		return; /* writers may still read frames in these mbufs */
	for (unsigned i = 0; i < rx->lcore_count; i++) {
		struct rx_lcore *lc = rx->lcores[i];
		sl_ingest_port_destroy(lc->ingest);
		sl_counter_block_destroy(lc->c);
	}
	for (unsigned i = 0; i < rx->port_count; i++) {
		sl_port_stop(&rx->ports[i]);
		rte_eth_dev_close(rx->ports[i].port_id);
	}
	for (unsigned pi = 0; pi < rx->port_count; pi++) {
		for (unsigned li = 0; li < rx->lcore_count; li++)
			rte_mempool_free(rx->pools[pi][li]);
	}
	for (unsigned i = 0; i < rx->lcore_count; i++)
		rte_free(rx->lcores[i]);
	rte_free(rx);
}

unsigned sl_rx_lcore_count(const struct sl_rx *rx)
{
	unsigned n = 0;
	for (unsigned i = 0; i < rx->lcore_count; i++)
		n += rx->lcores[i]->queue_count > 0;
	return n;
}
