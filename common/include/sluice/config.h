/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The appliance's configuration: one INI file (parsed by libinih) plus
 * command-line overrides `--section.key=value`. Every key, its type, bounds,
 * default and documentation live in one table (common/config.c);
 * etc/sluice.conf lists them all with their defaults, and a unit test holds
 * the two together.
 *
 * Rules:
 * - unknown sections and keys are errors (a typo never passes silently);
 * - a key set twice in the file is an error; a command-line value replaces
 *   the file's; a list key (dpdk.vdev) given on the command line replaces the
 *   file's list, and repeats append;
 * - the file is at most SL_CONFIG_FILE_MAX bytes, a line at most
 *   SL_CONFIG_LINE_MAX bytes, checked before libinih sees it;
 * - every error names where (file:line or "command line"), the key, the
 *   value and the reason, in sl_config_error.msg.
 *
 * The struct is filled at boot on the main thread and read-only afterwards;
 * any thread may read it without locks.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/log.h>

#define SL_CONFIG_FILE_MAX (1u << 20)
#define SL_CONFIG_LINE_MAX 190 /* libinih's line buffer is 200 */
#define SL_CONFIG_PATH_MAX 1024
#define SL_CONFIG_HOST_MAX 64
#define SL_CONFIG_STR_MAX  256
#define SL_CONFIG_VDEV_MAX 16
#define SL_CONFIG_PCI_MAX  16

struct sl_hostport {
	char host[SL_CONFIG_HOST_MAX]; /* numeric IPv4, IPv6 (no brackets) or "localhost" */
	uint16_t port;                 /* 1..65535 */
};

enum sl_config_huge {
	SL_HUGE_AUTO = 0, /* hugepages when hugetlbfs is mounted with free pages */
	SL_HUGE_ON = 1,   /* require them */
	SL_HUGE_OFF = 2,  /* --no-huge */
};

/* A feature that is on, off, or decided at boot (auto). */
enum sl_config_switch {
	SL_SWITCH_AUTO = 0,
	SL_SWITCH_ON = 1,
	SL_SWITCH_OFF = 2,
};

struct sl_config {
	/* [daemon] */
	char data_dir[SL_CONFIG_PATH_MAX];
	enum sl_log_level log_level;
	char log_subsystems[SL_CONFIG_STR_MAX];
	uint32_t shutdown_timeout_ms;
	/* [api] */
	struct sl_hostport api_listen;
	uint32_t api_connections_max;
	uint32_t api_header_kb_max;
	uint32_t api_body_kb_max;
	uint32_t api_header_timeout_ms;
	uint32_t api_body_timeout_ms;
	uint32_t api_idle_timeout_ms;
	char api_account_id[16];           /* 12 digits, for ARNs */
	uint32_t api_appends_inflight_max; /* PutRecord(s) appends not yet durable */
	uint32_t api_shard_limit;          /* open shards over all streams */
	/* [ingest] */
	struct sl_hostport ingest_listen;
	enum sl_config_switch ingest_kernel;
	uint32_t ingest_frames_max;
	uint32_t ingest_producers_max;
	uint32_t ingest_udp_buffers;
	uint32_t ingest_udp_ack_payload_max;
	uint32_t ingest_tcp_connections_max;
	uint32_t ingest_tcp_inflight_max;
	uint32_t ingest_tcp_buffer_mb;
	uint32_t ingest_tcp_frame_timeout_ms; /* first byte to last byte of a frame */
	uint32_t ingest_tcp_idle_timeout_ms;  /* 0 = never */
	/* [dpdk] */
	bool dpdk_enabled;
	char dpdk_vdev[SL_CONFIG_VDEV_MAX][SL_CONFIG_STR_MAX];
	uint32_t dpdk_vdev_count;
	char dpdk_pci[SL_CONFIG_PCI_MAX][32];
	uint32_t dpdk_pci_count;
	uint32_t dpdk_ip;                    /* host order; 0 = not configured */
	char dpdk_lcores[SL_CONFIG_STR_MAX]; /* "auto" or a CPU list "0-1,3" */
	char dpdk_file_prefix[64];           /* "" = sluice-<pid> */
	enum sl_config_huge dpdk_huge;
	uint32_t dpdk_memory_mb;
	bool dpdk_in_memory;
	char dpdk_eal_args[SL_CONFIG_STR_MAX];
	uint32_t dpdk_udp_port;      /* SLW1 over UDP on dpdk.ip */
	uint32_t dpdk_rx_queues;     /* per port; 0 = one per RX lcore */
	uint32_t dpdk_rx_desc;       /* descriptors per RX queue */
	uint32_t dpdk_tx_desc;       /* descriptors per TX queue */
	uint32_t dpdk_mbufs;         /* mbufs per RX queue */
	uint32_t dpdk_mbuf_cache;    /* mempool cache per lcore */
	uint32_t dpdk_mtu;           /* port MTU; > 1500: jumbo frames */
	uint32_t dpdk_rx_burst;      /* packets per rte_eth_rx_burst */
	uint32_t dpdk_idle_sleep_us; /* 0 = busy poll */
	/* [storage] */
	uint32_t storage_writers;
	uint32_t storage_segment_mb;
	uint32_t storage_segment_age_s;
	uint32_t storage_batch_kb;
	uint32_t storage_linger_us;
	uint32_t storage_commits_inflight;
	uint32_t storage_preallocate_mb;
	uint32_t storage_ring_slots;
	bool storage_direct_io;
	uint32_t storage_tail_kb;

	/* Where each key was last set from (enum sl_config_src), by table index. */
	uint8_t src[64];
};

enum sl_config_src {
	SL_CONFIG_SRC_DEFAULT = 0,
	SL_CONFIG_SRC_FILE = 1,
	SL_CONFIG_SRC_CLI = 2,
};

struct sl_config_error {
	char msg[SL_CONFIG_PATH_MAX + 512];
};

/* Fill with the embedded defaults. */
void sl_config_defaults(struct sl_config *cfg);

/*
 * Apply an INI text: `len` bytes (need not be NUL-terminated; borrowed).
 * `origin` names it in errors. Returns 0, or -EINVAL / -E2BIG with err->msg
 * set; on error cfg may hold some of the text's values.
 */
int sl_config_load_string(struct sl_config *cfg, const char *text, size_t len, const char *origin,
			  struct sl_config_error *err);

/* Read and apply a file. Errors as above, plus -errno when it can't be read. */
int sl_config_load_file(struct sl_config *cfg, const char *path, struct sl_config_error *err);

/*
 * Set "section.key" to `value` from the command line. Returns 0, or -EINVAL
 * with err->msg naming the key, the value and the reason.
 */
int sl_config_set(struct sl_config *cfg, const char *dotted_key, const char *value,
		  struct sl_config_error *err);

/* Checks that span keys, once everything is applied. 0 or -EINVAL. */
int sl_config_validate(const struct sl_config *cfg, struct sl_config_error *err);

/*
 * Write the configuration as an INI text that sl_config_load_string reads
 * back to the same values. With `doc`, each key is preceded by its
 * documentation and default. Returns the length it needed (like snprintf);
 * the text is cut (NUL-terminated) when cap is too small.
 */
size_t sl_config_format(const struct sl_config *cfg, bool doc, char *buf, size_t cap);

/* Number of keys in the table, and the dotted name of key i (for tests). */
unsigned sl_config_key_count(void);
const char *sl_config_key_name(unsigned i, char *buf, size_t cap);

/* Parse "A.B.C.D" (exactly four decimal octets). 0 or -EINVAL. */
int sl_parse_ipv4(const char *s, uint32_t *out);

/* Parse "host:port" / "[v6]:port". 0 or -EINVAL. */
int sl_parse_hostport(const char *s, struct sl_hostport *out);

#endif /* SLUICE_CONFIG_H */
