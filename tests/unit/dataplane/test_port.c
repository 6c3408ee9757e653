/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks dataplane/port.c against a real ethdev: EAL started (no
 * hugepages, in memory) with two net_null ports, which offer RSS and many
 * queues and make up packets on every RX call. Port 0 is planned for two
 * RX queues (RSS on IPv4/UDP chosen, the mbuf sized for the MTU), its
 * mempools created and the port started with one TX queue; packets are
 * taken from both queues and sent on the TX queue, and the stats read
 * back must count them (totals and per queue, as counted here), the
 * xstats must name the driver's counters, and the text for `sluice stats`
 * must carry the same numbers. Planning refuses an MTU the port cannot
 * carry and caps the queues at what the port offers; a port id that does
 * not exist is -ENODEV. Skips (77) when EAL cannot start here, saying why.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <sluice/config.h>
#include <sluice/eal.h>
#include <sluice/port.h>

#include "check.h"

static struct sl_eal eal;
static char text[1 << 16];

static int start_eal(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char prefix[64];
	sl_config_defaults(&cfg);
	snprintf(prefix, sizeof(prefix), "sl-test-port-%d", (int)getpid());
	if (sl_config_set(&cfg, "dpdk.vdev", "net_null0", &err) != 0 ||
	    sl_config_set(&cfg, "dpdk.vdev", "net_null1", &err) != 0 ||
	    sl_config_set(&cfg, "dpdk.huge", "off", &err) != 0 ||
	    sl_config_set(&cfg, "dpdk.memory_mb", "256", &err) != 0 ||
	    sl_config_set(&cfg, "dpdk.file_prefix", prefix, &err) != 0 ||
	    sl_config_set(&cfg, "dpdk.ip", "10.9.0.2", &err) != 0) {
		fprintf(stderr, "config: %s\n", err.msg);
		return -EINVAL;
	}
	return sl_eal_start(&eal, &cfg);
}

static struct sl_port_conf conf(void)
{
	return (struct sl_port_conf){.rx_queues = 2,
				     .rx_desc = 256,
				     .tx_desc = 256,
				     .mbufs = 2048,
				     .mbuf_cache = 32,
				     .mtu = 1500,
				     .ip = 0x0A090002u,
				     .udp_port = 7400};
}

static void test_plan(void)
{
	struct sl_port_conf pc = conf();
	struct sl_port p;
	char why[256] = "";
	CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 1, &p, why, sizeof(why)), 0);
	CHECK_EQ_U64(p.rxq_count, 2);
	CHECK(p.rss);
	CHECK(p.rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP);
	CHECK_EQ_U64(p.mtu, 1500);
	CHECK(p.data_room >= 1500 + 14 + 4 + 4);
	CHECK(memcmp(p.local.mac, eal.ports[1].mac, 6) == 0);
	CHECK_EQ_U64(p.local.ip, 0x0A090002u);
	CHECK_EQ_U64(p.local.udp_port, 7400);
	/* rx_queues 0: one per lcore. One queue: no RSS needed. */
	pc.rx_queues = 0;
	CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 1, &p, why, sizeof(why)), 0);
	CHECK_EQ_U64(p.rxq_count, 1);
	CHECK(!p.rss);
	pc.rx_queues = 3;
	CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 7, &p, why, sizeof(why)), 0);
	CHECK_EQ_U64(p.rxq_count, 3);
	/* Jumbo: the mbuf holds a whole frame. */
	pc.mtu = 9000;
	CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 1, &p, why, sizeof(why)), 0);
	CHECK(p.data_room >= 9000 + 14 + 4 + 4);
	/* More queues than the port has: capped at what it offers. */
	pc = conf();
	pc.rx_queues = SL_PORT_QUEUES_MAX;
	CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 1, &p, why, sizeof(why)), 0);
	CHECK(p.rxq_count <= eal.ports[1].rxq_max);
	CHECK(p.rxq_count <= SL_PORT_QUEUES_MAX);
	/* An MTU the device refuses. */
	struct rte_eth_dev_info info;
	CHECK_EQ_U64(rte_eth_dev_info_get(eal.ports[1].port_id, &info), 0);
	if (info.min_mtu > 576) {
		pc.mtu = 576;
		CHECK_EQ_U64(sl_port_plan(eal.ports[1].port_id, &pc, 1, &p, why, sizeof(why)),
			     -EINVAL);
		CHECK(strstr(why, "dpdk.mtu") != NULL);
	}
	struct sl_port_stats st;
	CHECK_EQ_U64(sl_port_stats_get(RTE_MAX_ETHPORTS - 1, &st), -ENODEV);
	struct sl_port_xstat x;
	CHECK_EQ_U64(sl_port_xstats_get(RTE_MAX_ETHPORTS - 1, &x, 1), -ENODEV);
}

/* Line "port 0 <name> <key> <value>" of the stats text, as a number. */
static uint64_t text_value(const char *name, const char *key)
{
	char pat[160];
	snprintf(pat, sizeof(pat), "port 0 %s %s ", name, key);
	const char *at = strstr(text, pat);
	return at ? strtoull(at + strlen(pat), NULL, 10) : UINT64_MAX;
}

static void test_start_and_stats(void)
{
	struct sl_port_conf pc = conf();
	struct sl_port p;
	char why[256] = "";
	uint16_t pid = eal.ports[0].port_id;
	CHECK_EQ_U64(sl_port_plan(pid, &pc, 1, &p, why, sizeof(why)), 0);
	CHECK_EQ_U64(p.rxq_count, 2);
	struct rte_mempool *mp = sl_port_pool_create(&p, &pc, 0, 2, why, sizeof(why));
	CHECK(mp != NULL);
	if (mp == NULL) {
		fprintf(stderr, "pool: %s\n", why);
		return;
	}
	CHECK_EQ_U64(rte_mempool_avail_count(mp), 2u * pc.mbufs);
	struct rte_mempool *pools[2] = {mp, mp};
	p.txq_count = 1;
	CHECK_EQ_U64(sl_port_start(&p, &pc, pools, why, sizeof(why)), 0);
	CHECK(p.started);

	uint64_t rx_q[2] = {0, 0}, tx = 0;
	struct rte_mbuf *pkts[32];
	for (int round = 0; round < 50; round++) {
		for (uint16_t q = 0; q < 2; q++) {
			uint16_t n = rte_eth_rx_burst(pid, q, pkts, 32);
			rx_q[q] += n;
			uint16_t sent = rte_eth_tx_burst(pid, 0, pkts, n);
			tx += sent;
			if (sent < n)
				rte_pktmbuf_free_bulk(pkts + sent, n - sent);
		}
	}
	CHECK(rx_q[0] > 0);
	CHECK(rx_q[1] > 0);
	struct sl_port_stats st;
	CHECK_EQ_U64(sl_port_stats_get(pid, &st), 0);
	CHECK_STREQ(st.name, "net_null0");
	CHECK_EQ_U64(st.rxq_count, 2);
	CHECK_EQ_U64(st.txq_count, 1);
	CHECK_EQ_U64(st.ipackets, rx_q[0] + rx_q[1]);
	CHECK_EQ_U64(st.q_ipackets[0], rx_q[0]);
	CHECK_EQ_U64(st.q_ipackets[1], rx_q[1]);
	CHECK_EQ_U64(st.opackets, tx);
	CHECK_EQ_U64(st.q_opackets[0], tx);

	struct sl_port_xstat xs[256];
	int nx = sl_port_xstats_get(pid, xs, 256);
	CHECK(nx > 0);
	bool found = false;
	for (int i = 0; i < nx && i < 256; i++) {
		if (strcmp(xs[i].name, "rx_good_packets") == 0) {
			found = true;
			CHECK_EQ_U64(xs[i].value, rx_q[0] + rx_q[1]);
		}
	}
	CHECK(found);
	/* A short buffer: only cap written, the full count returned. */
	CHECK_EQ_U64(sl_port_xstats_get(pid, xs, 1), nx);

	size_t need = sl_port_stats_format(text, sizeof(text));
	CHECK(need < sizeof(text));
	CHECK_EQ_U64(strlen(text), need);
	CHECK_EQ_U64(text_value("net_null0", "rx_packets"), rx_q[0] + rx_q[1]);
	CHECK_EQ_U64(text_value("net_null0", "tx_packets"), tx);
	CHECK(strstr(text, "port 0 net_null0 link up\n") != NULL);
	CHECK(strstr(text, "port 0 net_null0 queue 1 rx_packets ") != NULL);
	CHECK(strstr(text, "port 0 net_null0 xstat rx_good_packets ") != NULL);
	CHECK(strstr(text, "port 1 net_null1 ") != NULL);
	/* Cut short: NUL-terminated, the full length returned. */
	char small[16];
	CHECK_EQ_U64(sl_port_stats_format(small, sizeof(small)), need);
	CHECK_EQ_U64(strlen(small), sizeof(small) - 1);

	sl_port_stop(&p);
	CHECK(!p.started);
	rte_eth_dev_close(pid);
	rte_mempool_free(mp);
}

int main(void)
{
	int rc = start_eal();
	if (rc != 0) {
		fprintf(stderr, "skip: EAL did not start here: %s\n", eal.why);
		return 77;
	}
	if (eal.port_count != 2) {
		fprintf(stderr, "expected 2 net_null ports, EAL found %u\n", eal.port_count);
		sl_eal_stop(&eal);
		return 1;
	}
	test_plan();
	test_start_and_stats();
	sl_eal_stop(&eal);
	return sl_check_finish("test_port");
}
