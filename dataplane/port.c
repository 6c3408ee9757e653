/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK port configuration and stats (see port.h).
 *
 * Plan, then start: sl_port_plan() reads what the device offers and picks
 * the RX queue count, RSS hash functions, checksum offloads and the mbuf
 * size for the MTU; the RX loop (rx.c) then assigns each RX queue an
 * owning lcore, creates one mempool per (port, lcore) and sets the TX
 * queue count (one per owning lcore) before sl_port_start() configures the
 * device. Nothing here runs on a poll core.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <sluice/assert.h>
#include <sluice/error.h>
#include <sluice/expo.h>
#include <sluice/log.h>
#include <sluice/port.h>

#define SUBSYS "dpdk"

/* The hash a producer's datagrams must stay on one queue by. */
#define RSS_WANT (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4)
/* Ethernet header, one tag, FCS: what a frame adds to the MTU. */
#define FRAME_OVERHEAD (RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN)

SL_STATIC_ASSERT(SL_PORT_QSTATS_MAX <= RTE_ETHDEV_QUEUE_STAT_CNTRS);
SL_STATIC_ASSERT(SL_PORT_XSTAT_NAME == RTE_ETH_XSTATS_NAME_SIZE);
SL_STATIC_ASSERT(SL_PORT_NAME_MAX >= RTE_ETH_NAME_MAX_LEN);

void sl_port_conf_from_config(struct sl_port_conf *pc, const struct sl_config *cfg)
{
	*pc = (struct sl_port_conf){
	    .rx_queues = cfg->dpdk_rx_queues,
	    .rx_desc = cfg->dpdk_rx_desc,
	    .tx_desc = cfg->dpdk_tx_desc,
	    .mbufs = cfg->dpdk_mbufs,
	    .mbuf_cache = cfg->dpdk_mbuf_cache,
	    .mtu = cfg->dpdk_mtu,
	    .ip = cfg->dpdk_ip,
	    .udp_port = (uint16_t)cfg->dpdk_udp_port,
	};
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static uint16_t min_u16(uint32_t a, uint32_t b)
{
	uint32_t m = a < b ? a : b;
	return (uint16_t)(m > UINT16_MAX ? UINT16_MAX : m);
}

/* RSS hash functions for rxq queues: none for one queue or a port without RSS. */
static void plan_rss(struct sl_port *p, const struct rte_eth_dev_info *info)
{
	p->rss = false;
	p->rss_hf = 0;
	if (p->rxq_count <= 1)
		return;
	uint64_t hf = info->flow_type_rss_offloads & RSS_WANT;
	if (hf == 0)
		hf = info->flow_type_rss_offloads & RTE_ETH_RSS_IP;
	if (hf == 0) {
		SL_WARN(SUBSYS,
			"port %u (%s): no RSS; its %u RX queues are spread by the driver, if "
			"at all",
			p->port_id, p->name, p->rxq_count);
		return;
	}
	if (!(hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP))
		SL_WARN(SUBSYS, "port %u (%s): RSS without UDP ports: IPv4 addresses only",
			p->port_id, p->name);
	p->rss = true;
	p->rss_hf = hf;
}

int sl_port_plan(uint16_t port_id, const struct sl_port_conf *pc, unsigned lcore_count,
		 struct sl_port *out, char *why, size_t why_cap)
{
	struct rte_eth_dev_info info;
	memset(out, 0, sizeof(*out));
	out->port_id = port_id;
	int rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return fail(why, why_cap, "port %u: device info: %s", port_id, rte_strerror(-rc));
	rte_eth_dev_get_name_by_port(port_id, out->name);
	snprintf(out->driver, sizeof(out->driver), "%s", info.driver_name);
	SL_ASSERT(lcore_count > 0);
	uint32_t want = pc->rx_queues ? pc->rx_queues : lcore_count;
	out->rxq_count = min_u16(min_u16(want, info.max_rx_queues), info.max_tx_queues);
	out->rxq_count = min_u16(out->rxq_count, SL_PORT_QUEUES_MAX);
	if (out->rxq_count == 0)
		return fail(why, why_cap, "port %u (%s): no RX or TX queue", port_id, out->name);
	if (out->rxq_count < want)
		SL_WARN(SUBSYS, "port %u (%s): %u RX queue(s) wanted, the port offers %u", port_id,
			out->name, want, out->rxq_count);
	/* As ethdev checks it: the MTU plus Ethernet header and FCS (a tag may
	 * ride on top, as on any Ethernet). */
	if (pc->mtu < info.min_mtu || pc->mtu > info.max_mtu ||
	    pc->mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN > info.max_rx_pktlen)
		return fail(why, why_cap,
			    "port %u (%s): dpdk.mtu %u is outside what the port carries (%u..%u, "
			    "frames up to %u bytes)",
			    port_id, out->name, pc->mtu, info.min_mtu, info.max_mtu,
			    info.max_rx_pktlen);
	out->mtu = (uint16_t)pc->mtu;
	uint32_t room = pc->mtu + FRAME_OVERHEAD;
	out->data_room = room < RTE_MBUF_DEFAULT_DATAROOM ? RTE_MBUF_DEFAULT_DATAROOM : room;
	plan_rss(out, &info);
	const uint64_t rx_ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	const uint64_t tx_ck = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	out->rx_csum = (info.rx_offload_capa & rx_ck) == rx_ck;
	out->tx_csum = (info.tx_offload_capa & tx_ck) == tx_ck;
	int socket = rte_eth_dev_socket_id(port_id);
	out->socket = socket < 0 ? SOCKET_ID_ANY : socket;
	struct rte_ether_addr mac;
	if ((rc = rte_eth_macaddr_get(port_id, &mac)) != 0)
		return fail(why, why_cap, "port %u (%s): MAC address: %s", port_id, out->name,
			    rte_strerror(-rc));
	memcpy(out->local.mac, mac.addr_bytes, 6);
	out->local.ip = pc->ip;
	out->local.udp_port = pc->udp_port;
	return 0;
}

struct rte_mempool *sl_port_pool_create(const struct sl_port *p, const struct sl_port_conf *pc,
					unsigned lcore_index, unsigned queues, char *why,
					size_t why_cap)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	SL_ASSERT(queues > 0);
	snprintf(name, sizeof(name), "sl_p%u_l%u", p->port_id, lcore_index);
	uint64_t n = (uint64_t)pc->mbufs * queues;
	if (n > UINT32_MAX / 2) {
		fail(why, why_cap, "port %u: %" PRIu64 " mbufs is too many", p->port_id, n);
		return NULL;
	}
	/* A mempool cache may hold up to 1.5x its size; keep it well below n. */
	unsigned cache = pc->mbuf_cache;
	if (cache > n / 8)
		cache = (unsigned)(n / 8);
	struct rte_mempool *mp =
	    rte_pktmbuf_pool_create(name, (unsigned)n, cache, 0,
				    (uint16_t)(p->data_room + RTE_PKTMBUF_HEADROOM), p->socket);
	if (mp == NULL)
		fail(why, why_cap,
		     "port %u: mempool of %" PRIu64 " mbufs (%u bytes each) on socket %d: %s "
		     "(raise dpdk.memory_mb or lower dpdk.mbufs)",
		     p->port_id, n, p->data_room + RTE_PKTMBUF_HEADROOM, p->socket,
		     rte_strerror(rte_errno));
	return mp;
}

static void log_port(const struct sl_port *p)
{
	struct rte_eth_link link;
	char ls[64] = "link unknown";
	if (rte_eth_link_get_nowait(p->port_id, &link) == 0) {
		if (link.link_status == RTE_ETH_LINK_UP)
			snprintf(ls, sizeof(ls), "link up, %u Mbps, %s duplex", link.link_speed,
				 link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full" : "half");
		else
			snprintf(ls, sizeof(ls), "link down");
	}
	SL_INFO(SUBSYS,
		"port %u (%s): started, %u RX queue(s), %u TX queue(s), RSS %s, mtu %u, "
		"checksum offload rx %s tx %s, %s",
		p->port_id, p->name, p->rxq_count, p->txq_count,
		p->rss ? (p->rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP ? "ipv4-udp" : "ipv4") : "off",
		p->mtu, p->rx_csum ? "on" : "off", p->tx_csum ? "on" : "off", ls);
}

static void fill_conf(const struct sl_port *p, struct rte_eth_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->rxmode.mtu = p->mtu;
	conf->rxmode.mq_mode = p->rss ? RTE_ETH_MQ_RX_RSS : RTE_ETH_MQ_RX_NONE;
	conf->rx_adv_conf.rss_conf.rss_hf = p->rss_hf;
	if (p->rx_csum)
		conf->rxmode.offloads |=
		    RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	if (p->tx_csum)
		conf->txmode.offloads |=
		    RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	conf->txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
}

static int setup_queues(struct sl_port *p, const struct sl_port_conf *pc,
			const struct rte_eth_conf *conf, struct rte_mempool *const *rxq_pool,
			char *why, size_t why_cap)
{
	struct rte_eth_dev_info info;
	uint16_t rx_desc = (uint16_t)pc->rx_desc, tx_desc = (uint16_t)pc->tx_desc;
	int rc = rte_eth_dev_info_get(p->port_id, &info);
	rc = rc ?: rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &rx_desc, &tx_desc);
	if (rc != 0)
		return fail(why, why_cap, "port %u (%s): descriptors: %s", p->port_id, p->name,
			    rte_strerror(-rc));
	struct rte_eth_rxconf rxc = info.default_rxconf;
	rxc.offloads = conf->rxmode.offloads;
	for (uint16_t q = 0; q < p->rxq_count; q++) {
		SL_ASSERT(rxq_pool[q] != NULL);
		rc = rte_eth_rx_queue_setup(p->port_id, q, rx_desc, (unsigned)p->socket, &rxc,
					    rxq_pool[q]);
		if (rc != 0)
			return fail(why, why_cap, "port %u (%s): RX queue %u: %s", p->port_id,
				    p->name, q, rte_strerror(-rc));
	}
	struct rte_eth_txconf txc = info.default_txconf;
	txc.offloads = conf->txmode.offloads;
	for (uint16_t q = 0; q < p->txq_count; q++) {
		rc = rte_eth_tx_queue_setup(p->port_id, q, tx_desc, (unsigned)p->socket, &txc);
		if (rc != 0)
			return fail(why, why_cap, "port %u (%s): TX queue %u: %s", p->port_id,
				    p->name, q, rte_strerror(-rc));
	}
	return 0;
}

int sl_port_start(struct sl_port *p, const struct sl_port_conf *pc,
		  struct rte_mempool *const *rxq_pool, char *why, size_t why_cap)
{
	struct rte_eth_conf conf;
	SL_ASSERT(!p->started);
	SL_ASSERT(p->rxq_count > 0);
	SL_ASSERT(p->txq_count > 0);
	SL_ASSERT(p->txq_count <= p->rxq_count);
	fill_conf(p, &conf);
	int rc = rte_eth_dev_configure(p->port_id, p->rxq_count, p->txq_count, &conf);
	if (rc != 0)
		return fail(why, why_cap, "port %u (%s): configure: %s", p->port_id, p->name,
			    rte_strerror(-rc));
	/* Some drivers act on the MTU only through this call (net_af_packet
	 * sets the interface's); -ENOTSUP means the configured one stands. */
	rc = rte_eth_dev_set_mtu(p->port_id, p->mtu);
	if (rc != 0 && rc != -ENOTSUP)
		return fail(why, why_cap, "port %u (%s): MTU %u: %s", p->port_id, p->name, p->mtu,
			    rte_strerror(-rc));
	if ((rc = setup_queues(p, pc, &conf, rxq_pool, why, why_cap)) != 0)
		return rc;
	if ((rc = rte_eth_dev_start(p->port_id)) != 0)
		return fail(why, why_cap, "port %u (%s): start: %s", p->port_id, p->name,
			    rte_strerror(-rc));
	p->started = true;
	log_port(p);
	return 0;
}

void sl_port_stop(struct sl_port *p)
{
	if (!p->started)
		return;
	int rc = rte_eth_dev_stop(p->port_id);
	if (rc != 0)
		SL_WARN(SUBSYS, "port %u (%s): stop: %s", p->port_id, p->name, rte_strerror(-rc));
	p->started = false;
}

int sl_port_stats_get(uint16_t port_id, struct sl_port_stats *out)
{
	struct rte_eth_stats st;
	struct rte_eth_dev_info info;
	struct rte_eth_link link;
	memset(out, 0, sizeof(*out));
	if (!rte_eth_dev_is_valid_port(port_id))
		return -ENODEV;
	out->port_id = port_id;
	rte_eth_dev_get_name_by_port(port_id, out->name);
	if (rte_eth_link_get_nowait(port_id, &link) == 0) {
		out->link_up = link.link_status == RTE_ETH_LINK_UP;
		out->link_speed_mbps = link.link_speed;
	}
	if (rte_eth_dev_info_get(port_id, &info) == 0) {
		out->rxq_count = info.nb_rx_queues;
		out->txq_count = info.nb_tx_queues;
	}
	int rc = rte_eth_stats_get(port_id, &st);
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	out->ipackets = st.ipackets;
	out->opackets = st.opackets;
	out->ibytes = st.ibytes;
	out->obytes = st.obytes;
	out->imissed = st.imissed;
	out->ierrors = st.ierrors;
	out->oerrors = st.oerrors;
	out->rx_nombuf = st.rx_nombuf;
	for (unsigned q = 0; q < SL_PORT_QSTATS_MAX; q++) {
		out->q_ipackets[q] = st.q_ipackets[q];
		out->q_ibytes[q] = st.q_ibytes[q];
		out->q_opackets[q] = st.q_opackets[q];
		out->q_obytes[q] = st.q_obytes[q];
		out->q_errors[q] = st.q_errors[q];
	}
	return 0;
}

/* Bounds what one call reads from a driver. */
#define XSTATS_MAX 4096

int sl_port_xstats_get(uint16_t port_id, struct sl_port_xstat *out, unsigned cap)
{
	if (!rte_eth_dev_is_valid_port(port_id))
		return -ENODEV;
	int n = rte_eth_xstats_get(port_id, NULL, 0);
	if (n <= 0)
		return n;
	if (n > XSTATS_MAX)
		n = XSTATS_MAX;
	/* Control plane only: allocating here is fine. */
	struct rte_eth_xstat *vals = calloc((size_t)n, sizeof(*vals));
	struct rte_eth_xstat_name *names = calloc((size_t)n, sizeof(*names));
	int rc = vals && names ? 0 : -ENOMEM;
	int got = rc ?: rte_eth_xstats_get(port_id, vals, (unsigned)n);
	int named = rc ?: rte_eth_xstats_get_names(port_id, names, (unsigned)n);
	if (rc == 0 && (got < 0 || named < 0))
		rc = got < 0 ? got : named;
	if (rc == 0) {
		if (got > n)
			got = n; /* grew between the calls: the first n */
		for (int i = 0; i < got && (unsigned)i < cap; i++) {
			const char *name =
			    vals[i].id < (uint64_t)named ? names[vals[i].id].name : "?";
			snprintf(out[i].name, sizeof(out[i].name), "%s", name);
			out[i].value = vals[i].value;
		}
	}
	free(vals);
	free(names);
	return rc ?: got;
}

struct text {
	char *buf;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->len < t->cap ? t->buf + t->len : NULL,
			  t->len < t->cap ? t->cap - t->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

static void format_port(struct text *t, uint16_t pid)
{
	struct sl_port_stats s;
	if (sl_port_stats_get(pid, &s) != 0)
		return;
	const char *n = s.name;
	put(t, "port %u %s link %s\nport %u %s link_speed_mbps %u\n", pid, n,
	    s.link_up ? "up" : "down", pid, n, s.link_speed_mbps);
	put(t, "port %u %s rx_packets %" PRIu64 "\nport %u %s rx_bytes %" PRIu64 "\n", pid, n,
	    s.ipackets, pid, n, s.ibytes);
	put(t, "port %u %s tx_packets %" PRIu64 "\nport %u %s tx_bytes %" PRIu64 "\n", pid, n,
	    s.opackets, pid, n, s.obytes);
	put(t, "port %u %s rx_missed %" PRIu64 "\nport %u %s rx_errors %" PRIu64 "\n", pid, n,
	    s.imissed, pid, n, s.ierrors);
	put(t, "port %u %s tx_errors %" PRIu64 "\nport %u %s rx_nombuf %" PRIu64 "\n", pid, n,
	    s.oerrors, pid, n, s.rx_nombuf);
	unsigned nq = s.rxq_count > s.txq_count ? s.rxq_count : s.txq_count;
	for (unsigned q = 0; q < nq && q < SL_PORT_QSTATS_MAX; q++)
		put(t,
		    "port %u %s queue %u rx_packets %" PRIu64 " rx_bytes %" PRIu64
		    " tx_packets %" PRIu64 " tx_bytes %" PRIu64 " errors %" PRIu64 "\n",
		    pid, n, q, s.q_ipackets[q], s.q_ibytes[q], s.q_opackets[q], s.q_obytes[q],
		    s.q_errors[q]);
	struct sl_port_xstat *xs = calloc(XSTATS_MAX, sizeof(*xs));
	int nx = xs ? sl_port_xstats_get(pid, xs, XSTATS_MAX) : -ENOMEM;
	for (int i = 0; i < nx && i < XSTATS_MAX; i++) {
		if (xs[i].value != 0)
			put(t, "port %u %s xstat %s %" PRIu64 "\n", pid, n, xs[i].name,
			    xs[i].value);
	}
	free(xs);
}

size_t sl_port_stats_format(char *buf, size_t cap)
{
	struct text t = {.buf = buf, .cap = cap};
	uint16_t pid;
	if (cap > 0)
		buf[0] = '\0';
	RTE_ETH_FOREACH_DEV (pid)
		format_port(&t, pid);
	if (cap > 0 && t.len >= cap)
		buf[cap - 1] = '\0';
	return t.len;
}

/* ---- exposition ---- */

void sl_port_expo_source(void *arg, struct sl_expo_buf *b)
{
	(void)arg;
	uint16_t pid;
	RTE_ETH_FOREACH_DEV (pid) {
		struct sl_port_stats s;
		char set[32];
		if (sl_port_stats_get(pid, &s) != 0)
			continue;
		snprintf(set, sizeof(set), "port%u", pid);
		sl_expo_set_begin(b, set);
		sl_expo_counter(b, set, "rx_packets", "packets the port received", s.ipackets);
		sl_expo_counter(b, set, "rx_bytes", "bytes the port received", s.ibytes);
		sl_expo_counter(b, set, "tx_packets", "packets the port sent", s.opackets);
		sl_expo_counter(b, set, "tx_bytes", "bytes the port sent", s.obytes);
		sl_expo_counter(b, set, "imissed", "packets the NIC dropped: RX ring full",
				s.imissed);
		sl_expo_counter(b, set, "ierrors", "bad packets the NIC dropped", s.ierrors);
		sl_expo_counter(b, set, "oerrors", "packets the NIC failed to send", s.oerrors);
		sl_expo_counter(b, set, "rx_nombuf", "RX mbuf allocation failures", s.rx_nombuf);
		char name[SL_PORT_XSTAT_NAME + 8];
		for (unsigned q = 0; q < s.rxq_count && q < SL_PORT_QSTATS_MAX; q++) {
			snprintf(name, sizeof(name), "q%u_rx_packets", q);
			sl_expo_counter(b, set, name, "packets received on this RX queue",
					s.q_ipackets[q]);
			snprintf(name, sizeof(name), "q%u_rx_bytes", q);
			sl_expo_counter(b, set, name, "bytes received on this RX queue",
					s.q_ibytes[q]);
			snprintf(name, sizeof(name), "q%u_errors", q);
			sl_expo_counter(b, set, name, "packets dropped on this RX queue",
					s.q_errors[q]);
		}
		for (unsigned q = 0; q < s.txq_count && q < SL_PORT_QSTATS_MAX; q++) {
			snprintf(name, sizeof(name), "q%u_tx_packets", q);
			sl_expo_counter(b, set, name, "packets sent on this TX queue",
					s.q_opackets[q]);
		}
		/* The driver's extended stats, non-zero ones, names made
		 * Prometheus-safe ([a-z0-9_]). */
		struct sl_port_xstat xs[256];
		int n = sl_port_xstats_get(pid, xs, SL_ARRAY_SIZE(xs));
		for (int i = 0; i < n && i < (int)SL_ARRAY_SIZE(xs); i++) {
			if (xs[i].value == 0)
				continue;
			size_t k = 2;
			name[0] = 'x';
			name[1] = '_';
			for (const char *c = xs[i].name; *c != '\0' && k + 1 < sizeof(name); c++) {
				char ch = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
				bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
				name[k++] = ok ? ch : '_';
			}
			name[k] = '\0';
			sl_expo_counter(b, set, name,
					"the driver's extended statistic of that name",
					xs[i].value);
		}
	}
}
