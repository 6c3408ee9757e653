/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK ports at boot: what a port can do (queues, RSS, checksum offloads,
 * MTU) decides how it is configured; its RX queues each get one owning
 * lcore, its TX queues one per owning lcore, and its mbufs come from
 * mempools on the port's NUMA socket sized from the configuration. Any
 * ethdev works: a PCI NIC bound to vfio-pci, or a virtual port
 * (net_af_packet, net_memif, net_pcap, net_tap, net_null, net_ring).
 *
 * RSS: with more than one RX queue, the port hashes IPv4/UDP (source and
 * destination addresses and ports) when it can, so a producer's datagrams
 * always reach the same queue and lcore (its dedupe window lives there);
 * IPv4 addresses alone when that is all it offers; a port without RSS
 * keeps the queues and spreads packets its own way (net_af_packet with
 * qpairs uses the kernel's fanout hash), which is logged.
 *
 * Boot and shutdown run on the main thread; the stats functions on any
 * control thread (they read the driver's counters, never the poll loops').
 */
#ifndef SLUICE_PORT_H
#define SLUICE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/config.h>
#include <sluice/net.h>

struct rte_mempool;

#define SL_PORT_QUEUES_MAX 64 /* RX queues per port (and TX: one per lcore) */
#define SL_PORT_NAME_MAX   64
#define SL_PORT_QSTATS_MAX 16 /* per-queue counters the ethdev API keeps */
#define SL_PORT_XSTAT_NAME 64

/* What the configuration asks of every port ([dpdk] keys). */
struct sl_port_conf {
	uint32_t rx_queues;  /* 0: one per RX lcore */
	uint32_t rx_desc;    /* descriptors per RX queue */
	uint32_t tx_desc;    /* descriptors per TX queue */
	uint32_t mbufs;      /* mbufs per RX queue's pool share */
	uint32_t mbuf_cache; /* per-lcore mempool cache */
	uint32_t mtu;        /* IP MTU; above 1500 is a jumbo frame */
	uint32_t ip;         /* the appliance's IPv4, host order */
	uint16_t udp_port;   /* SLW1 UDP port */
};

void sl_port_conf_from_config(struct sl_port_conf *pc, const struct sl_config *cfg);

/* One port as configured. Filled by sl_port_plan(), then sl_port_start(). */
struct sl_port {
	uint16_t port_id;
	uint16_t rxq_count;
	uint16_t txq_count; /* set by the caller before sl_port_start: one per owning lcore */
	uint16_t mtu;
	int socket; /* NUMA socket of the device; SOCKET_ID_ANY when unknown */
	bool rss;
	bool rx_csum;       /* the NIC checks IPv4 (and UDP) checksums */
	bool tx_csum;       /* the NIC fills IPv4 and UDP checksums */
	uint64_t rss_hf;    /* RTE_ETH_RSS_* in use */
	uint32_t data_room; /* bytes per mbuf after the headroom */
	bool started;
	struct sl_net_local local;
	char name[SL_PORT_NAME_MAX];
	char driver[32];
};

/*
 * Decide how port_id is configured: RX queues (pc->rx_queues, or
 * lcore_count when 0, within what the device offers), RSS, offloads, MTU
 * (refused when the device cannot carry it). 0, or -errno with why set.
 */
int sl_port_plan(uint16_t port_id, const struct sl_port_conf *pc, unsigned lcore_count,
		 struct sl_port *out, char *why, size_t why_cap);

/*
 * A mempool for one lcore's share of a port: pc->mbufs for each of the
 * port's RX queues it owns, on the port's socket, with pc->mbuf_cache per
 * lcore and room for an MTU-sized frame in one mbuf. NULL with why set.
 */
struct rte_mempool *sl_port_pool_create(const struct sl_port *p, const struct sl_port_conf *pc,
					unsigned lcore_index, unsigned queues, char *why,
					size_t why_cap);

/*
 * Configure and start the port: RX queue q takes its mbufs from
 * rxq_pool[q] (borrowed; they outlive the port's use); p->txq_count TX
 * queues. Logs the configuration and the link state. 0 or -errno with why.
 */
int sl_port_start(struct sl_port *p, const struct sl_port_conf *pc,
		  struct rte_mempool *const *rxq_pool, char *why, size_t why_cap);

/* Stop a started port (its queues release their mbufs). */
void sl_port_stop(struct sl_port *p);

/* Counters of one port as the driver keeps them, for `sluice stats`. */
struct sl_port_stats {
	uint16_t port_id;
	char name[SL_PORT_NAME_MAX];
	bool link_up;
	uint32_t link_speed_mbps;
	uint16_t rxq_count, txq_count;
	uint64_t ipackets, opackets, ibytes, obytes;
	uint64_t imissed;   /* dropped by the NIC: RX ring full */
	uint64_t ierrors;   /* bad frames the NIC dropped */
	uint64_t oerrors;   /* TX failures */
	uint64_t rx_nombuf; /* RX mbuf allocation failures */
	/* Per queue, for the first SL_PORT_QSTATS_MAX queues. */
	uint64_t q_ipackets[SL_PORT_QSTATS_MAX], q_ibytes[SL_PORT_QSTATS_MAX];
	uint64_t q_opackets[SL_PORT_QSTATS_MAX], q_obytes[SL_PORT_QSTATS_MAX];
	uint64_t q_errors[SL_PORT_QSTATS_MAX];
};

/* Any thread once EAL is up. 0, -ENODEV (no such port), or -errno. */
int sl_port_stats_get(uint16_t port_id, struct sl_port_stats *out);

struct sl_port_xstat {
	char name[SL_PORT_XSTAT_NAME];
	uint64_t value;
};

/*
 * The driver's extended stats of port_id into out[0..cap): returns how many
 * it has (possibly more than cap: only cap are written), or -errno.
 */
int sl_port_xstats_get(uint16_t port_id, struct sl_port_xstat *out, unsigned cap);

/*
 * Every port's stats, queues and non-zero xstats as text, one "key value"
 * per line ("port 0 net_af_packet0 rx_packets 12"). Returns the length it
 * needed, like snprintf; the text is cut (NUL-terminated) when cap is short.
 */
size_t sl_port_stats_format(char *buf, size_t cap);

/*
 * An exposition source (telemetry/expo.h): every port's driver counters
 * (packets, bytes, imissed, ierrors, oerrors, rx_nombuf) as sets port<N>,
 * read when /metrics is rendered. arg unused.
 */
struct sl_expo_buf;
void sl_port_expo_source(void *arg, struct sl_expo_buf *b);

#endif /* SLUICE_PORT_H */
