/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK environment at boot: builds the EAL arguments from the configuration
 * (lcores, --file-prefix, --in-memory, hugepages or --no-huge, vdevs, PCI
 * allow-list), starts EAL, routes DPDK's own log lines into sluice's log
 * (subsystem "dpdk"), and lists the ports it found.
 *
 * Called once, on the main thread, before any other sluice thread starts;
 * EAL can be started only once per process. When it cannot start, the
 * caller gets the reason in one line and carries on with the kernel backend.
 */
#ifndef SLUICE_EAL_H
#define SLUICE_EAL_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include <sluice/config.h>

#define SL_EAL_PORTS_MAX 32
#define SL_EAL_ARGS_MAX  64

struct sl_eal_port {
	uint16_t port_id;
	char name[64];
	char driver[32];
	uint8_t mac[6];
	uint16_t rxq_max;
	uint16_t txq_max;
	uint16_t mtu;
	uint32_t numa_node;
};

struct sl_eal {
	bool up;
	bool hugepages; /* false: --no-huge */
	char why[256];  /* when !up: why EAL did not start */
	char file_prefix[64];
	char runtime_dir[256]; /* EAL's, removed at stop */
	unsigned main_lcore;
	cpu_set_t worker_lcores; /* RX lcores: EAL workers */
	cpu_set_t control_cpus;  /* where non-lcore threads run */
	unsigned port_count;
	struct sl_eal_port ports[SL_EAL_PORTS_MAX];
	int argc; /* the arguments EAL was given */
	char *argv[SL_EAL_ARGS_MAX];
	char arg_store[4096];
};

/*
 * Start EAL as `cfg` says. Returns 0 with eal->up, or a negative errno with
 * eal->why set (EAL refused, disabled by configuration, bad lcores); either
 * way the main thread's CPU affinity is left at eal->control_cpus, which
 * every thread it starts afterwards inherits. cfg is borrowed.
 */
int sl_eal_start(struct sl_eal *eal, const struct sl_config *cfg);

/*
 * Build the EAL argument vector into eal->argc/argv without starting
 * anything (sl_eal_start calls it; tests call it alone). 0 or -EINVAL/-E2BIG
 * with eal->why set.
 */
int sl_eal_build_args(struct sl_eal *eal, const struct sl_config *cfg, const cpu_set_t *allowed,
		      bool hugepages);

/* Release EAL (rte_eal_cleanup) after every lcore has stopped. */
void sl_eal_stop(struct sl_eal *eal);

#endif /* SLUICE_EAL_H */
