/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK dataplane's RX lcores: each EAL worker lcore owns some RX
 * queues (of one or more ports), one TX queue on each of those ports, a
 * mempool per port, its counter block ("dpdk_rx") and its ingest port
 * (ingest.h). Its loop, a burst at a time: classify each frame (net.h);
 * SLW1 datagrams for dpdk.ip:dpdk.udp_port go to sl_ingest_frame() with
 * the mbuf as the frame's buffer (freed when the ingest core releases it);
 * ARP requests and ICMP echo requests for dpdk.ip are answered in place;
 * everything else is counted and freed. After each round of bursts: the
 * ingest core's completions (sl_ingest_poll: acks built in fresh mbufs and
 * buffered on the lcore's TX queue), one rte_eth_tx_burst per port, and a
 * QSBR quiescent point. No allocation (beyond mbufs from the lcore's own
 * pools), lock, syscall or log line per packet.
 *
 * Life, all on the main thread: sl_rx_create() at boot after EAL and the
 * store, sl_rx_launch(), and at shutdown — before the shard writers stop,
 * since draining needs them — sl_rx_stop() and sl_rx_destroy().
 */
#ifndef SLUICE_RX_H
#define SLUICE_RX_H

#include <stdint.h>

#include <sluice/config.h>
#include <sluice/eal.h>

struct sl_store;
struct sl_rx;

#define SL_RX_BURST_MAX 256 /* dpdk.rx_burst's bound */

/*
 * Configure and start every port EAL found (eal->ports) for the RX lcores
 * (EAL's workers), and create each lcore's pools, counters and ingest port
 * on st (borrowed; must outlive the sl_rx). cfg is copied. Returns 0 and
 * *out, or -errno with why[0..why_cap) saying what failed (nothing left
 * started): no worker lcore (-ENODEV), a port that cannot be configured as
 * asked, memory. eal must be up with at least one port.
 */
int sl_rx_create(const struct sl_config *cfg, const struct sl_eal *eal, struct sl_store *st,
		 struct sl_rx **out, char *why, size_t why_cap);

/* Launch each RX lcore's loop (rte_eal_remote_launch). 0 or -errno. */
int sl_rx_launch(struct sl_rx *rx);

/*
 * Ask every lcore to stop: each stops receiving, polls its ingest port
 * until no frame awaits storage (for at most daemon.shutdown_timeout_ms),
 * flushes its acks and returns; wait for all. Logs each lcore's counters.
 * Returns 0, or -ETIMEDOUT when frames were still awaiting storage (their
 * mbufs stay allocated: sl_rx_destroy then keeps pools and ingest ports).
 * Idempotent; a no-op before launch.
 */
int sl_rx_stop(struct sl_rx *rx);

/* Stop and close the ports, free ingest ports, pools, counters. After
 * sl_rx_stop. NULL: no-op. */
void sl_rx_destroy(struct sl_rx *rx);

/* RX lcores in use. */
unsigned sl_rx_lcore_count(const struct sl_rx *rx);

#endif /* SLUICE_RX_H */
