/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK EAL start and port discovery (see eal.h).
 *
 * Lcores: the first CPU of dpdk.lcores is EAL's main lcore, where the main
 * thread, the control plane and the shard writers run; every further CPU is
 * an EAL worker lcore for RX polling. EAL pins the calling thread to the
 * main lcore; afterwards we set the main thread's affinity to every allowed
 * CPU that is not a worker lcore, so the threads it starts share those.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include <sluice/assert.h>
#include <sluice/eal.h>
#include <sluice/error.h>
#include <sluice/log.h>

#define SUBSYS "dpdk"

/* Add one argument, copied into eal->arg_store. */
static int add_arg(struct sl_eal *eal, size_t *used, const char *arg)
{
	size_t len = strlen(arg) + 1;
	if (eal->argc + 1 >= SL_EAL_ARGS_MAX || *used + len > sizeof(eal->arg_store)) {
		snprintf(eal->why, sizeof(eal->why), "too many EAL arguments");
		return -E2BIG;
	}
	char *dst = eal->arg_store + *used;
	memcpy(dst, arg, len);
	*used += len;
	eal->argv[eal->argc++] = dst;
	eal->argv[eal->argc] = NULL;
	return 0;
}

/* Parse "0-1,3" (already validated by config) into a CPU set. */
static void parse_cpus(const char *list, cpu_set_t *out)
{
	CPU_ZERO(out);
	const char *p = list;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < CPU_SETSIZE; c++)
			CPU_SET((int)c, out);
		p = *end == ',' ? end + 1 : end;
		if (end == p && *p != '\0')
			break;
	}
}

/* "0,1,3" from a CPU set. */
static void format_cpus(const cpu_set_t *set, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && n < cap; c++) {
		if (CPU_ISSET(c, set))
			n += (size_t)snprintf(buf + n, cap - n, "%s%d", n ? "," : "", c);
	}
}

static int first_cpu(const cpu_set_t *set)
{
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, set))
			return c;
	}
	return -1;
}

/* Resolve dpdk.lcores against the CPUs this process may use. */
static int plan_lcores(struct sl_eal *eal, const struct sl_config *cfg, const cpu_set_t *allowed,
		       cpu_set_t *lcores)
{
	if (strcmp(cfg->dpdk_lcores, "auto") == 0) {
		*lcores = *allowed;
	} else {
		cpu_set_t want, missing;
		parse_cpus(cfg->dpdk_lcores, &want);
		CPU_AND(lcores, &want, allowed);
		CPU_XOR(&missing, &want, lcores);
		if (CPU_COUNT(&missing) > 0) {
			char m[128];
			format_cpus(&missing, m, sizeof(m));
			snprintf(eal->why, sizeof(eal->why),
				 "dpdk.lcores names CPU(s) %s that this process may not run on", m);
			return -EINVAL;
		}
	}
	if (CPU_COUNT(lcores) == 0) {
		snprintf(eal->why, sizeof(eal->why), "no CPU left for EAL lcores");
		return -EINVAL;
	}
	eal->main_lcore = (unsigned)first_cpu(lcores);
	eal->worker_lcores = *lcores;
	CPU_CLR((int)eal->main_lcore, &eal->worker_lcores);
	CPU_XOR(&eal->control_cpus, allowed, &eal->worker_lcores);
	return 0;
}

static int split_extra(struct sl_eal *eal, size_t *used, const char *extra)
{
	char copy[SL_CONFIG_STR_MAX];
	char *save = NULL;
	snprintf(copy, sizeof(copy), "%s", extra);
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		int rc = add_arg(eal, used, t);
		if (rc)
			return rc;
	}
	return 0;
}

int sl_eal_build_args(struct sl_eal *eal, const struct sl_config *cfg, const cpu_set_t *allowed,
		      bool hugepages)
{
	size_t used = 0;
	char buf[SL_CONFIG_STR_MAX + 16];
	cpu_set_t lcores;
	int rc;

	eal->argc = 0;
	eal->hugepages = hugepages;
	if ((rc = plan_lcores(eal, cfg, allowed, &lcores)) != 0)
		return rc;
	if (cfg->dpdk_file_prefix[0])
		snprintf(eal->file_prefix, sizeof(eal->file_prefix), "%s", cfg->dpdk_file_prefix);
	else
		snprintf(eal->file_prefix, sizeof(eal->file_prefix), "sluice-%d", (int)getpid());

	rc = add_arg(eal, &used, "sluiced");
	format_cpus(&lcores, buf, sizeof(buf));
	rc = rc ?: add_arg(eal, &used, "-l");
	rc = rc ?: add_arg(eal, &used, buf);
	snprintf(buf, sizeof(buf), "%u", eal->main_lcore);
	rc = rc ?: add_arg(eal, &used, "--main-lcore");
	rc = rc ?: add_arg(eal, &used, buf);
	rc = rc ?: add_arg(eal, &used, "--file-prefix");
	rc = rc ?: add_arg(eal, &used, eal->file_prefix);
	rc = rc ?: add_arg(eal, &used, "--no-telemetry");
	/* --in-memory needs hugepages; without them --no-shconf keeps the
	 * same promise (no shared config files, no multi-process socket). */
	if (cfg->dpdk_in_memory)
		rc = rc ?: add_arg(eal, &used, hugepages ? "--in-memory" : "--no-shconf");
	if (!hugepages)
		rc = rc ?: add_arg(eal, &used, "--no-huge");
	snprintf(buf, sizeof(buf), "%u", cfg->dpdk_memory_mb);
	rc = rc ?: add_arg(eal, &used, "-m");
	rc = rc ?: add_arg(eal, &used, buf);
	if (cfg->dpdk_pci_count == 0)
		rc = rc ?: add_arg(eal, &used, "--no-pci");
	for (uint32_t i = 0; i < cfg->dpdk_pci_count; i++) {
		rc = rc ?: add_arg(eal, &used, "-a");
		rc = rc ?: add_arg(eal, &used, cfg->dpdk_pci[i]);
	}
	for (uint32_t i = 0; i < cfg->dpdk_vdev_count; i++) {
		rc = rc ?: add_arg(eal, &used, "--vdev");
		rc = rc ?: add_arg(eal, &used, cfg->dpdk_vdev[i]);
	}
	return rc ?: split_extra(eal, &used, cfg->dpdk_eal_args);
}

/* Whether hugetlbfs is mounted and the default pool has free pages. */
static bool hugepages_ready(void)
{
	FILE *f = fopen("/proc/mounts", "re");
	char line[512];
	bool mounted = false;
	if (f == NULL)
		return false;
	while (!mounted && fgets(line, sizeof(line), f))
		mounted = strstr(line, " hugetlbfs ") != NULL;
	fclose(f);
	if (!mounted)
		return false;
	f = fopen("/proc/meminfo", "re");
	long free_pages = 0;
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %ld", &free_pages) == 1)
			break;
	}
	fclose(f);
	return free_pages > 0;
}

/*
 * DPDK writes its log through a FILE; this cookie stream turns each line
 * into a sluice log line under "dpdk", at the level DPDK gave the message.
 * Boot and control paths only: DPDK does not log on our poll loops.
 */
static ssize_t dpdk_log_write(void *cookie, const char *buf, size_t len)
{
	(void)cookie;
	int lvl = rte_log_cur_msg_loglevel();
	enum sl_log_level level = lvl <= (int)RTE_LOG_ERR       ? SL_LOG_ERROR
				  : lvl <= (int)RTE_LOG_WARNING ? SL_LOG_WARN
				  : lvl <= (int)RTE_LOG_INFO    ? SL_LOG_INFO
								: SL_LOG_DEBUG;
	size_t n = len;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n > 0)
		sl_log(level, SUBSYS, "%.*s", (int)n, buf);
	return (ssize_t)len;
}

static void route_dpdk_log(void)
{
	static const cookie_io_functions_t io = {.write = dpdk_log_write};
	FILE *f = fopencookie(NULL, "w", io);
	if (f == NULL)
		return;
	setvbuf(f, NULL, _IOLBF, 0);
	rte_openlog_stream(f);
	/* DPDK's own threshold follows ours for "dpdk". */
	uint32_t rte_level = sl_log_enabled(SL_LOG_DEBUG, SUBSYS)  ? RTE_LOG_DEBUG
			     : sl_log_enabled(SL_LOG_INFO, SUBSYS) ? RTE_LOG_NOTICE
			     : sl_log_enabled(SL_LOG_WARN, SUBSYS) ? RTE_LOG_WARNING
								   : RTE_LOG_ERR;
	rte_log_set_global_level(rte_level);
}

static void list_ports(struct sl_eal *eal)
{
	uint16_t pid;
	eal->port_count = 0;
	RTE_ETH_FOREACH_DEV (pid) {
		if (eal->port_count == SL_EAL_PORTS_MAX) {
			SL_WARN(SUBSYS, "more than %d ports: the rest are ignored",
				SL_EAL_PORTS_MAX);
			break;
		}
		struct sl_eal_port *p = &eal->ports[eal->port_count++];
		struct rte_eth_dev_info info;
		struct rte_ether_addr mac;
		memset(p, 0, sizeof(*p));
		p->port_id = pid;
		rte_eth_dev_get_name_by_port(pid, p->name);
		if (rte_eth_dev_info_get(pid, &info) == 0) {
			snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name);
			p->rxq_max = info.max_rx_queues;
			p->txq_max = info.max_tx_queues;
		}
		if (rte_eth_macaddr_get(pid, &mac) == 0)
			memcpy(p->mac, mac.addr_bytes, sizeof(p->mac));
		rte_eth_dev_get_mtu(pid, &p->mtu);
		int node = rte_eth_dev_socket_id(pid);
		p->numa_node = node < 0 ? 0 : (uint32_t)node;
	}
}

static void log_ports(const struct sl_eal *eal)
{
	char cpus[128];
	format_cpus(&eal->worker_lcores, cpus, sizeof(cpus));
	SL_INFO(SUBSYS, "EAL up: main lcore %u, RX lcores [%s], %s, file prefix %s, %u port(s)",
		eal->main_lcore, cpus, eal->hugepages ? "hugepages" : "no hugepages",
		eal->file_prefix, eal->port_count);
	for (unsigned i = 0; i < eal->port_count; i++) {
		const struct sl_eal_port *p = &eal->ports[i];
		SL_INFO(SUBSYS,
			"port %u: %s (driver %s) mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u "
			"rxq<=%u txq<=%u numa %u",
			p->port_id, p->name, p->driver, p->mac[0], p->mac[1], p->mac[2], p->mac[3],
			p->mac[4], p->mac[5], p->mtu, p->rxq_max, p->txq_max, p->numa_node);
	}
}

/*
 * A failed rte_eal_init may leave its runtime directory (and an empty
 * config file) behind; it is ours by prefix, so remove it.
 */
static void remove_runtime_dir(const struct sl_eal *eal)
{
	char dir[sizeof(eal->runtime_dir)];
	const char *base = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");
	if (base == NULL)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/dpdk/%s", base, eal->file_prefix);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	rmdir(dir);
}

int sl_eal_start(struct sl_eal *eal, const struct sl_config *cfg)
{
	cpu_set_t allowed;
	memset(eal, 0, sizeof(*eal));
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return sl_neg_errno();
	eal->control_cpus = allowed;
	if (!cfg->dpdk_enabled) {
		snprintf(eal->why, sizeof(eal->why), "disabled by configuration (dpdk.enabled)");
		return -ECANCELED;
	}
	bool huge =
	    cfg->dpdk_huge == SL_HUGE_ON || (cfg->dpdk_huge == SL_HUGE_AUTO && hugepages_ready());
	int rc = sl_eal_build_args(eal, cfg, &allowed, huge);
	if (rc != 0) {
		eal->control_cpus = allowed;
		return rc;
	}
	route_dpdk_log();
	/* EAL may permute argv; hand it a copy so eal->argv stays readable. */
	char *argv[SL_EAL_ARGS_MAX];
	memcpy(argv, eal->argv, sizeof(argv));
	if (rte_eal_init(eal->argc, argv) < 0) {
		int err = rte_errno;
		remove_runtime_dir(eal);
		snprintf(eal->why, sizeof(eal->why), "rte_eal_init failed: %s", rte_strerror(err));
		eal->control_cpus = allowed;
		sched_setaffinity(0, sizeof(allowed), &allowed);
		return err > 0 ? -err : -EIO;
	}
	eal->up = true;
	snprintf(eal->runtime_dir, sizeof(eal->runtime_dir), "%s", rte_eal_get_runtime_dir());
	if (CPU_COUNT(&eal->control_cpus) == 0)
		eal->control_cpus = allowed;
	/* EAL pinned us to the main lcore; widen to every non-RX CPU. */
	sched_setaffinity(0, sizeof(eal->control_cpus), &eal->control_cpus);
	list_ports(eal);
	log_ports(eal);
	return 0;
}

void sl_eal_stop(struct sl_eal *eal)
{
	if (!eal->up)
		return;
	rte_eal_mp_wait_lcore();
	uint16_t pid;
	RTE_ETH_FOREACH_DEV (pid) {
		rte_eth_dev_stop(pid);
		rte_eth_dev_close(pid);
	}
	rte_eal_cleanup();
	eal->up = false;
	/* EAL leaves its (by now empty) runtime directory behind. */
	if (eal->runtime_dir[0] && rmdir(eal->runtime_dir) != 0 && errno != ENOENT)
		SL_DEBUG(SUBSYS, "%s: %s", eal->runtime_dir, sl_strerror(-errno));
}
