/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: the DPDK transport. One port (a virtual device such as
 * net_memif or net_af_packet, given as --dpdk-vdev), one RX and one TX
 * queue, polled by the generator's one thread.
 *
 * EAL runs beside sluiced: its own --file-prefix (sluice-gen-<pid>, whose
 * runtime directory is removed at exit), --no-huge, --no-pci, one lcore
 * (--lcore, default the first CPU this process may use), plus --eal-args.
 * Not --no-shconf: net_memif needs EAL's multi-process channel and fails
 * to probe without it ("Failed to register mp action callback").
 *
 * TX: each frame becomes one packet, Ethernet / IPv4 (DF, TTL 64, header
 * checksum) / UDP (checksum over the pseudo-header) / the frame, built here.
 * Frames longer than the port's MTU minus 28 are refused at start (no IP
 * fragmentation). Packets gather in a burst of BURST and go out when it is
 * full or the engine waits; a burst the queue does not take after
 * TX_SPINS_MAX tries is freed and counted (tx_dropped).
 *
 * RX: ARP requests for --src-ip are answered (the appliance must find us to
 * send acks); an ARP packet from --dst-ip teaches its MAC when --dst-mac was
 * not given. IPv4/UDP packets to src-ip:src-port with a valid IPv4 header
 * checksum, not fragmented, carry acks. The UDP checksum is not recomputed
 * here (only a port's verdict in ol_flags is honoured): a sender with
 * checksum offload, such as the kernel on a veth, hands af_packet packets
 * whose checksum the hardware never filled in, and every ack carries its
 * own CRC-32C anyway. Everything else is counted (rx_not_for_us,
 * rx_bad_packet) and freed.
 *
 * At open, when --dst-mac is not given, the destination is resolved by ARP
 * (a request every ARP_RETRY_MS until --arp-timeout-ms).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <sluice/assert.h>
#include <sluice/clock.h>

#include "gen.h"

#define EAL_ARGC_MAX  64
#define EAL_MEMORY_MB "128"
#define MBUF_COUNT    8191
#define MBUF_CACHE    256
#define RING_DESC     1024
#define BURST         32
#define TX_SPINS_MAX  100000
#define IDLE_SPINS    64 /* empty RX bursts in a row before the poll sleeps */
#define ARP_RETRY_MS  200
#define LINK_WAIT_MS  5000
#define HDR_BYTES     (RTE_ETHER_HDR_LEN + GEN_IP_UDP_HDR_BYTES)
#define IPV4_TTL      64

SL_STATIC_ASSERT(sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr) == GEN_IP_UDP_HDR_BYTES);

struct dpdk {
	struct gen_transport t;
	uint16_t port;
	struct rte_mempool *pool;
	struct rte_ether_addr src_mac, dst_mac;
	bool dst_known;
	bool learn_dst;              /* no --dst-mac: ARP from dst_ip updates dst_mac */
	uint32_t src_ip, dst_ip;     /* network order */
	uint16_t src_port, dst_port; /* network order */
	uint16_t ip_id;
	struct rte_mbuf *tx[BURST];
	unsigned tx_n;
	uint64_t idle_sleep_ns; /* 0: busy polling */
	bool eal_up, port_up;
	char runtime_dir[512];
};

/* Send the gathered burst; what the queue will not take is freed, counted. */
static void tx_flush(struct dpdk *d)
{
	unsigned sent = 0;
	for (unsigned spin = 0; sent < d->tx_n && spin < TX_SPINS_MAX; spin++)
		sent += rte_eth_tx_burst(d->port, 0, d->tx + sent, (uint16_t)(d->tx_n - sent));
	if (sent < d->tx_n) {
		d->t.stats->tx_dropped += d->tx_n - sent;
		rte_pktmbuf_free_bulk(d->tx + sent, d->tx_n - sent);
	}
	d->tx_n = 0;
}

static void tx_queue(struct dpdk *d, struct rte_mbuf *m)
{
	d->tx[d->tx_n++] = m;
	if (d->tx_n == BURST)
		tx_flush(d);
}

static void arp_send(struct dpdk *d, uint16_t op, const struct rte_ether_addr *tha, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (m == NULL) {
		d->t.stats->tx_dropped++;
		return;
	}
	size_t len = RTE_ETHER_HDR_LEN + sizeof(struct rte_arp_hdr);
	struct rte_ether_hdr *eth =
	    (struct rte_ether_hdr *)(void *)rte_pktmbuf_append(m, (uint16_t)len);
	SL_ASSERT(eth != NULL);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	if (op == RTE_ARP_OP_REQUEST)
		memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	else
		eth->dst_addr = *tha;
	eth->src_addr = d->src_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = d->src_mac;
	arp->arp_data.arp_sip = d->src_ip;
	if (op == RTE_ARP_OP_REQUEST)
		memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	else
		arp->arp_data.arp_tha = *tha;
	arp->arp_data.arp_tip = tip;
	if (op == RTE_ARP_OP_REQUEST)
		d->t.stats->arp_requests++;
	else
		d->t.stats->arp_replies++;
	tx_queue(d, m);
}

static void rx_arp(struct dpdk *d, const uint8_t *p, size_t len)
{
	struct gen_stats *s = d->t.stats;
	if (len < sizeof(struct rte_arp_hdr)) {
		s->rx_bad_packet++;
		return;
	}
	struct rte_arp_hdr arp;
	memcpy(&arp, p, sizeof(arp));
	if (arp.arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp.arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp.arp_hlen != RTE_ETHER_ADDR_LEN || arp.arp_plen != 4) {
		s->rx_not_for_us++;
		return;
	}
	uint16_t op = rte_be_to_cpu_16(arp.arp_opcode);
	bool used = false;
	if (d->learn_dst && arp.arp_data.arp_sip == d->dst_ip &&
	    (op == RTE_ARP_OP_REPLY || op == RTE_ARP_OP_REQUEST)) {
		d->dst_mac = arp.arp_data.arp_sha;
		d->dst_known = true;
		used = true;
	}
	if (op == RTE_ARP_OP_REQUEST && arp.arp_data.arp_tip == d->src_ip) {
		arp_send(d, RTE_ARP_OP_REPLY, &arp.arp_data.arp_sha, arp.arp_data.arp_sip);
		used = true;
	}
	if (!used)
		s->rx_not_for_us++;
}

/* One IPv4 packet p[0..len): an ack for us goes to ack(). */
static int rx_ipv4(struct dpdk *d, const uint8_t *p, size_t len, uint64_t m_ol_flags,
		   gen_ack_fn *ack, void *arg)
{
	struct gen_stats *s = d->t.stats;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)p;
	if (len < sizeof(*ip) || (ip->version_ihl >> 4) != 4) {
		s->rx_bad_packet++;
		return 0;
	}
	size_t ihl = (size_t)(ip->version_ihl & 0xf) * 4;
	size_t total = rte_be_to_cpu_16(ip->total_length);
	if (ihl < sizeof(*ip) || total < ihl || total > len || rte_raw_cksum(ip, ihl) != 0xffff) {
		s->rx_bad_packet++;
		return 0;
	}
	if (ip->dst_addr != d->src_ip || ip->next_proto_id != IPPROTO_UDP) {
		s->rx_not_for_us++;
		return 0;
	}
	if (rte_be_to_cpu_16(ip->fragment_offset) &
	    (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		s->rx_bad_packet++; /* a fragment: acks are never fragmented */
		return 0;
	}
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(p + ihl);
	size_t l4 = total - ihl;
	if (l4 < sizeof(*udp) || rte_be_to_cpu_16(udp->dgram_len) != l4 ||
	    (m_ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		s->rx_bad_packet++;
		return 0;
	}
	if (udp->dst_port != d->src_port) {
		s->rx_not_for_us++;
		return 0;
	}
	ack(arg, (const uint8_t *)(udp + 1), l4 - sizeof(*udp));
	return 1;
}

static int rx_packet(struct dpdk *d, struct rte_mbuf *m, gen_ack_fn *ack, void *arg)
{
	struct gen_stats *s = d->t.stats;
	s->rx_packets++;
	if (m->nb_segs != 1 || m->data_len < RTE_ETHER_HDR_LEN) {
		s->rx_bad_packet++;
		return 0;
	}
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_ether_hdr *eth =
	    (const struct rte_ether_hdr *)(const void *)p; /* mbuf data: aligned */
	if (!rte_is_same_ether_addr(&eth->dst_addr, &d->src_mac) &&
	    !rte_is_broadcast_ether_addr(&eth->dst_addr)) {
		s->rx_not_for_us++;
		return 0;
	}
	size_t len = m->data_len - RTE_ETHER_HDR_LEN;
	switch (rte_be_to_cpu_16(eth->ether_type)) {
	case RTE_ETHER_TYPE_ARP:
		rx_arp(d, p + RTE_ETHER_HDR_LEN, len);
		return 0;
	case RTE_ETHER_TYPE_IPV4:
		return rx_ipv4(d, p + RTE_ETHER_HDR_LEN, len, m->ol_flags, ack, arg);
	default:
		s->rx_not_for_us++;
		return 0;
	}
}

/* One RX burst; returns the acks it carried, *n the packets. */
static int rx_burst(struct dpdk *d, gen_ack_fn *ack, void *arg, uint16_t *packets)
{
	struct rte_mbuf *pkts[BURST];
	uint16_t n = rte_eth_rx_burst(d->port, 0, pkts, BURST);
	*packets = n;
	int got = 0;
	for (uint16_t i = 0; i < n; i++) {
		got += rx_packet(d, pkts[i], ack, arg);
		rte_pktmbuf_free(pkts[i]);
	}
	return got;
}

static int dpdk_send(struct gen_transport *t, const uint8_t *buf, size_t len)
{
	struct dpdk *d = (struct dpdk *)t;
	SL_ASSERT(len <= t->payload_max);
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (m == NULL) {
		t->stats->tx_dropped++;
		return 0;
	}
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(HDR_BYTES + len));
	SL_ASSERT(p != NULL); /* the MTU check at open keeps frames in one mbuf */
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)(void *)p; /* mbuf data: aligned */
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	eth->dst_addr = d->dst_mac;
	eth->src_addr = d->src_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(GEN_IP_UDP_HDR_BYTES + len));
	ip->packet_id = rte_cpu_to_be_16(d->ip_id++);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = IPV4_TTL;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = d->src_ip;
	ip->dst_addr = d->dst_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = d->src_port;
	udp->dst_port = d->dst_port;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	udp->dgram_cksum = 0;
	memcpy(udp + 1, buf, len);
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	tx_queue(d, m);
	return 0;
}

static bool dpdk_room(struct gen_transport *t, size_t len)
{
	(void)t;
	(void)len;
	return true;
}

/*
 * Flush, then poll RX until an ack came or wait_ns passed. After IDLE_SPINS
 * empty bursts in a row it sleeps idle_sleep_ns between bursts (unless 0:
 * pure busy polling), so that on a small machine the generator leaves the
 * CPU to the appliance it shares it with while it only waits for acks.
 */
static int dpdk_poll(struct gen_transport *t, uint64_t wait_ns, gen_ack_fn *ack, void *arg)
{
	struct dpdk *d = (struct dpdk *)t;
	uint64_t now = sl_clock_mono_ns();
	uint64_t end = now + wait_ns;
	unsigned idle = 0;
	int got = 0;
	do {
		uint16_t packets = 0;
		if (d->tx_n)
			tx_flush(d);
		got += rx_burst(d, ack, arg, &packets);
		idle = packets ? 0 : idle + 1;
		now = sl_clock_mono_ns();
		if (got == 0 && d->idle_sleep_ns && idle >= IDLE_SPINS &&
		    now + d->idle_sleep_ns < end) {
			struct timespec ts = {.tv_nsec = (long)d->idle_sleep_ns};
			nanosleep(&ts, NULL);
			now = sl_clock_mono_ns();
		}
	} while (got == 0 && now < end);
	if (d->tx_n)
		tx_flush(d); /* ARP replies sent while polling */
	return got;
}

static int dpdk_reconnect(struct gen_transport *t)
{
	(void)t;
	return -EOPNOTSUPP;
}

static bool dpdk_idle(struct gen_transport *t)
{
	return ((struct dpdk *)t)->tx_n == 0;
}

/*
 * EAL leaves its runtime directory (config, multi-process socket) behind.
 * It is ours alone (the file prefix holds our pid): remove it.
 */
static void remove_runtime_dir(const char *dir)
{
	if (dir[0] == '\0')
		return;
	DIR *dp = opendir(dir);
	if (dp == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(dp), e->d_name, 0);
	}
	closedir(dp);
	(void)rmdir(dir);
}

static void dpdk_destroy(struct gen_transport *t)
{
	struct dpdk *d = (struct dpdk *)t;
	if (d == NULL)
		return;
	if (d->port_up) {
		if (d->tx_n)
			tx_flush(d);
		rte_eth_dev_stop(d->port);
		rte_eth_dev_close(d->port);
	}
	if (d->pool)
		rte_mempool_free(d->pool);
	if (d->eal_up) {
		rte_eal_cleanup();
		remove_runtime_dir(d->runtime_dir);
	}
	free(d);
}

static const struct gen_transport_ops dpdk_ops = {
    .send = dpdk_send,
    .room = dpdk_room,
    .poll = dpdk_poll,
    .reconnect = dpdk_reconnect,
    .idle = dpdk_idle,
    .destroy = dpdk_destroy,
};

static int first_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set))
			return c;
	}
	return 0;
}

/* EAL's arguments into store; argv points into it. */
static int eal_args(const struct gen_options *o, char *store, size_t cap, char **argv, int *argc)
{
	char lcore[16], prefix[64], extra[GEN_EAL_ARGS_MAX + 1];
	snprintf(lcore, sizeof(lcore), "%d", o->lcore >= 0 ? o->lcore : first_cpu());
	snprintf(prefix, sizeof(prefix), "sluice-gen-%d", (int)getpid());
	const char *fixed[] = {
	    "sluice-gen",  "-l", lcore,         "--file-prefix", prefix,
	    "--no-huge",   "-m", EAL_MEMORY_MB, "--no-pci",      "--no-telemetry",
	    "--log-level", "5",  "--vdev",      o->vdev};
	size_t used = 0;
	int n = 0;
	snprintf(extra, sizeof(extra), "%s", o->eal_args);
	char *save = NULL;
	char *tok = NULL;
	for (size_t i = 0;; i++) {
		const char *a;
		if (i < SL_ARRAY_SIZE(fixed))
			a = fixed[i];
		else if ((tok = strtok_r(tok ? NULL : extra, " \t", &save)) != NULL)
			a = tok;
		else
			break;
		size_t len = strlen(a) + 1;
		if (n + 1 >= EAL_ARGC_MAX || used + len > cap)
			return -E2BIG;
		memcpy(store + used, a, len);
		argv[n++] = store + used;
		used += len;
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

static int port_setup(struct dpdk *d, char *why, size_t why_cap)
{
	struct rte_eth_conf conf;
	uint16_t rxd = RING_DESC, txd = RING_DESC;
	int socket = rte_eth_dev_socket_id(d->port);
	memset(&conf, 0, sizeof(conf));
	int rc = rte_eth_dev_configure(d->port, 1, 1, &conf);
	rc = rc ?: rte_eth_dev_adjust_nb_rx_tx_desc(d->port, &rxd, &txd);
	rc = rc
		 ?: rte_eth_rx_queue_setup(d->port, 0, rxd, socket < 0 ? 0 : (unsigned)socket, NULL,
					   d->pool);
	rc = rc ?: rte_eth_tx_queue_setup(d->port, 0, txd, socket < 0 ? 0 : (unsigned)socket, NULL);
	rc = rc ?: rte_eth_dev_start(d->port);
	if (rc != 0) {
		snprintf(why, why_cap, "port %u setup failed: %s", d->port, rte_strerror(-rc));
		return rc < 0 ? rc : -EIO;
	}
	d->port_up = true;
	(void)rte_eth_promiscuous_enable(d->port); /* we filter by MAC ourselves */
	rte_eth_macaddr_get(d->port, &d->src_mac);
	uint16_t mtu = 0;
	if (rte_eth_dev_get_mtu(d->port, &mtu) != 0 || mtu == 0)
		mtu = RTE_ETHER_MTU;
	d->t.payload_max = mtu > GEN_IP_UDP_HDR_BYTES ? mtu - GEN_IP_UDP_HDR_BYTES : 0;
	/* One mbuf per packet. */
	size_t room = rte_pktmbuf_data_room_size(d->pool) - RTE_PKTMBUF_HEADROOM;
	if (d->t.payload_max > room - HDR_BYTES)
		d->t.payload_max = room - HDR_BYTES;
	return 0;
}

/* Wait for the link (memif: until the peer connects). */
static int wait_link(struct dpdk *d, char *why, size_t why_cap)
{
	uint64_t end = sl_clock_mono_ns() + LINK_WAIT_MS * SL_NS_PER_MS;
	for (;;) {
		struct rte_eth_link link;
		if (rte_eth_link_get_nowait(d->port, &link) == 0 && link.link_status)
			return 0;
		if (sl_clock_mono_ns() >= end) {
			snprintf(why, why_cap, "port %u: link down after %d ms", d->port,
				 LINK_WAIT_MS);
			return -ENETDOWN;
		}
		usleep(10000);
	}
}

static void noop_ack(void *arg, const uint8_t *buf, size_t len)
{
	(void)buf;
	(void)len;
	/* Before the first frame no ack can be ours: count it. */
	((struct gen_stats *)arg)->late_acks++;
}

static int resolve_dst(struct dpdk *d, const struct gen_options *o, char *why, size_t why_cap)
{
	uint64_t end = sl_clock_mono_ns() + o->arp_timeout_ms * SL_NS_PER_MS;
	uint64_t next = 0;
	while (!d->dst_known) {
		uint64_t now = sl_clock_mono_ns();
		if (now >= end) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &d->dst_ip, ip, sizeof(ip));
			snprintf(why, why_cap, "no ARP reply from %s within %u ms (give --dst-mac)",
				 ip, o->arp_timeout_ms);
			return -EHOSTUNREACH;
		}
		if (now >= next) {
			arp_send(d, RTE_ARP_OP_REQUEST, NULL, d->dst_ip);
			tx_flush(d);
			next = now + ARP_RETRY_MS * SL_NS_PER_MS;
		}
		uint16_t packets;
		rx_burst(d, noop_ack, d->t.stats, &packets);
		if (d->tx_n)
			tx_flush(d);
	}
	return 0;
}

/* Find the port EAL made for the vdev (its name is the spec up to a comma). */
static int find_port(const struct gen_options *o, uint16_t *port, char *why, size_t why_cap)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t n = strcspn(o->vdev, ",");
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, o->vdev, n);
	name[n] = '\0';
	if (rte_eth_dev_get_port_by_name(name, port) == 0)
		return 0;
	snprintf(why, why_cap, "no DPDK port named %s after EAL start", name);
	return -ENODEV;
}

int gen_dpdk_open(const struct gen_options *o, struct gen_stats *stats, struct gen_transport **out,
		  char *why, size_t why_cap)
{
	char store[2048];
	char *argv[EAL_ARGC_MAX];
	int argc = 0;
	struct dpdk *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(why, why_cap, "out of memory");
		return -ENOMEM;
	}
	d->t.ops = &dpdk_ops;
	d->t.stats = stats;
	d->src_ip = o->src_ip;
	d->dst_ip = o->dst_ip;
	d->src_port = rte_cpu_to_be_16(o->src_port);
	d->dst_port = rte_cpu_to_be_16(o->dst_port);
	d->learn_dst = !o->dst_mac_set;
	d->idle_sleep_ns = (uint64_t)o->idle_sleep_us * SL_NS_PER_US;
	if (o->dst_mac_set) {
		memcpy(d->dst_mac.addr_bytes, o->dst_mac, RTE_ETHER_ADDR_LEN);
		d->dst_known = true;
	}
	int rc = eal_args(o, store, sizeof(store), argv, &argc);
	if (rc != 0) {
		snprintf(why, why_cap, "too many EAL arguments");
		goto err;
	}
	if (rte_eal_init(argc, argv) < 0) {
		rc = rte_errno > 0 ? -rte_errno : -EIO;
		snprintf(why, why_cap, "rte_eal_init failed: %s", rte_strerror(rte_errno));
		goto err;
	}
	d->eal_up = true;
	snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s", rte_eal_get_runtime_dir());
	if ((rc = find_port(o, &d->port, why, why_cap)) != 0)
		goto err;
	d->pool = rte_pktmbuf_pool_create("gen_mbufs", MBUF_COUNT, MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (d->pool == NULL) {
		rc = -ENOMEM;
		snprintf(why, why_cap, "mbuf pool: %s", rte_strerror(rte_errno));
		goto err;
	}
	if ((rc = port_setup(d, why, why_cap)) != 0 || (rc = wait_link(d, why, why_cap)) != 0 ||
	    (rc = resolve_dst(d, o, why, why_cap)) != 0)
		goto err;
	*out = &d->t;
	return 0;
err:
	dpdk_destroy(&d->t);
	return rc;
}
