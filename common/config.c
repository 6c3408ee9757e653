/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration: one table of every key (section, name, type, bounds,
 * default, documentation), an INI reader on top of libinih, command-line
 * overrides, cross-key validation and a formatter that writes the table back
 * out (sluiced --print-config, sluice config show, etc/sluice.conf's check).
 *
 * Defaults are the table's default texts run through the same setters as
 * the file, so a default can never be a value the file would refuse, and
 * sl_config_format(defaults) reproduces the documented defaults exactly.
 *
 * Input bounds, checked before libinih sees a byte: the file is at most
 * SL_CONFIG_FILE_MAX bytes, holds no NUL byte, and no line is longer than
 * SL_CONFIG_LINE_MAX bytes. The reader feeds libinih one line at a time and
 * counts lines itself, so every error names its line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/config.h>
#include <sluice/error.h>

enum key_type {
	T_STR,  /* printable text, may be empty */
	T_PATH, /* printable text, not empty */
	T_BOOL,
	T_U32,    /* decimal, within [min, max] */
	T_LEVEL,  /* log level */
	T_SUBSYS, /* "name=level,..." */
	T_HOSTPORT,
	T_IPV4,    /* A.B.C.D or empty */
	T_CPULIST, /* "auto" or "0-1,3" */
	T_HUGE,    /* auto | on | off */
	T_SWITCH,  /* auto | on | off, as enum sl_config_switch */
	T_VDEV,    /* list: one DPDK vdev spec per line */
	T_PCI,     /* list: one PCI address per line */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;  /* of the field in struct sl_config */
	size_t size; /* of a string field or list element */
	uint32_t min, max;
	const char *def;
	const char *doc;
};

#define F(field)  offsetof(struct sl_config, field), sizeof(((struct sl_config *)0)->field)
#define FL(field) offsetof(struct sl_config, field), sizeof(((struct sl_config *)0)->field[0])

/* Grouped by section, in the order sl_config_format writes them. */
static const struct key keys[] = {
    {"daemon", "data_dir", T_PATH, F(data_dir), 0, 0, "./var",
     "Directory for segment files, metadata and the pid/lock file\n"
     "(created if missing; one daemon per directory)."},
    {"daemon", "log_level", T_LEVEL, F(log_level), 0, 0, "info",
     "Default log level: error, warn, info or debug."},
    {"daemon", "log_subsystems", T_SUBSYS, F(log_subsystems), 0, 0, "",
     "Per-subsystem log levels overriding log_level, e.g. dpdk=debug,storage=warn."},
    {"daemon", "shutdown_timeout_ms", T_U32, F(shutdown_timeout_ms), 100, 600000, "10000",
     "How long SIGTERM/SIGINT wait for each thread to flush and stop\n"
     "before the daemon gives up and exits 1."},
    {"api", "listen", T_HOSTPORT, F(api_listen), 0, 0, "127.0.0.1:4567",
     "Kinesis API (HTTP/1.1 and h2c), /metrics and the dashboard."},
    {"api", "connections_max", T_U32, F(api_connections_max), 1, 65536, "1024",
     "Open API connections at most; one more is answered 503 and closed.\n"
     "Each may hold header_kb_max of headers plus the bodies it carries."},
    {"api", "header_kb_max", T_U32, F(api_header_kb_max), 1, 1024, "16",
     "A request's line and headers at most (KiB); more is answered 431."},
    {"api", "body_kb_max", T_U32, F(api_body_kb_max), 1, 1048576, "8192",
     "A request body at most (KiB), checked from Content-Length before any\n"
     "of it is read (chunked bodies as they arrive); more is answered 413.\n"
     "A 5 MiB PutRecords request is about 7 MiB in base64 and JSON."},
    {"api", "header_timeout_ms", T_U32, F(api_header_timeout_ms), 10, 600000, "10000",
     "From a request's first byte to the end of its headers; then 408."},
    {"api", "body_timeout_ms", T_U32, F(api_body_timeout_ms), 10, 3600000, "30000",
     "From the end of a request's headers to the end of its body; then 408."},
    {"api", "idle_timeout_ms", T_U32, F(api_idle_timeout_ms), 10, 3600000, "60000",
     "A keep-alive connection with nothing pending is closed after this long,\n"
     "and so is one whose client reads none of a response for this long."},
    {"api", "account_id", T_STR, F(api_account_id), 0, 0, "000000000000",
     "The AWS account id (12 digits) the Kinesis API shows in stream ARNs\n"
     "and messages."},
    {"api", "appends_inflight_max", T_U32, F(api_appends_inflight_max), 16, 1048576, "4096",
     "PutRecord(s) appends (one per shard a request writes to) handed to\n"
     "storage and not yet durable, at most; past it a request is answered\n"
     "ProvisionedThroughputExceededException."},
    {"api", "shard_limit", T_U32, F(api_shard_limit), 1, 65536, "500",
     "Open shards over all streams at most (DescribeLimits' ShardLimit).\n"
     "Each shard reserves two storage.batch_kb buffers and its tail cache."},
    {"ingest", "listen", T_HOSTPORT, F(ingest_listen), 0, 0, "127.0.0.1:7400",
     "SLW1 ingest on the host's kernel stack: UDP and TCP on this address\n"
     "(the DPDK dataplane listens on dpdk.ip instead)."},
    {"ingest", "kernel", T_SWITCH, F(ingest_kernel), 0, 0, "on",
     "Run the kernel UDP/TCP ingest backend on ingest.listen (the host's\n"
     "stack, beside the DPDK door; TCP producers come in here): on, off, or\n"
     "auto (only when no DPDK RX lcore takes SLW1)."},
    {"ingest", "frames_max", T_U32, F(ingest_frames_max), 16, 1048576, "4096",
     "Frames awaiting storage at once, per ingest thread (each RX lcore, the\n"
     "kernel backend); more are answered THROTTLED."},
    {"ingest", "producers_max", T_U32, F(ingest_producers_max), 1, 1048576, "1024",
     "Producers whose dedupe window (the last 64 batches) each ingest thread\n"
     "remembers, about 10 KiB each; the least recently seen is evicted."},
    {"ingest", "udp_buffers", T_U32, F(ingest_udp_buffers), 8, 16384, "256",
     "Kernel backend: 64 KiB UDP receive buffers. A buffer is held while its\n"
     "frame awaits storage, so this also bounds UDP frames in flight."},
    {"ingest", "udp_ack_payload_max", T_U32, F(ingest_udp_ack_payload_max), 128, 65507, "1472",
     "Kernel backend: the largest UDP ack datagram (bytes); a longer ack is\n"
     "split into parts (1472: an Ethernet MTU of 1500)."},
    {"ingest", "tcp_connections_max", T_U32, F(ingest_tcp_connections_max), 1, 4096, "64",
     "Kernel backend: TCP connections at once; more are accepted and closed."},
    {"ingest", "tcp_inflight_max", T_U32, F(ingest_tcp_inflight_max), 1, 65536, "256",
     "Kernel backend: frames of one TCP connection awaiting storage or their\n"
     "turn to be acked; the connection is not read further until one is."},
    {"ingest", "tcp_buffer_mb", T_U32, F(ingest_tcp_buffer_mb), 16, 65536, "256",
     "Kernel backend: read buffers of all TCP connections together (MiB); a\n"
     "connection that needs more waits. A frame may be up to ~10 MiB."},
    {"ingest", "tcp_frame_timeout_ms", T_U32, F(ingest_tcp_frame_timeout_ms), 10, 3600000, "10000",
     "Kernel backend: a TCP frame not wholly received this long after its\n"
     "first bytes closes its connection, after the acks of earlier frames."},
    {"ingest", "tcp_idle_timeout_ms", T_U32, F(ingest_tcp_idle_timeout_ms), 0, 86400000, "300000",
     "Kernel backend: a TCP connection with nothing received, in flight or to\n"
     "write for this long is closed, and so is one whose peer reads none of\n"
     "its pending acks for this long. 0: never."},
    {"dpdk", "enabled", T_BOOL, F(dpdk_enabled), 0, 0, "true",
     "Start the DPDK EAL. When it cannot start, the daemon says why in one\n"
     "line and carries on with the kernel backend."},
    {"dpdk", "vdev", T_VDEV, FL(dpdk_vdev), 0, 0, "",
     "A virtual port, repeatable: net_af_packet0,iface=veth0 / net_memif0 /\n"
     "net_pcap0,rx_pcap=f.pcap / net_tap0 / net_null0. Empty: none."},
    {"dpdk", "pci", T_PCI, FL(dpdk_pci), 0, 0, "",
     "A PCI NIC to use (bound to vfio-pci), repeatable, e.g. 0000:3b:00.0.\n"
     "Empty: no PCI device is probed (--no-pci)."},
    {"dpdk", "ip", T_IPV4, F(dpdk_ip), 0, 0, "",
     "The appliance's IPv4 address on its DPDK ports: it answers ARP and\n"
     "ping for it and takes SLW1 on UDP port 7400. Required with ports."},
    {"dpdk", "lcores", T_CPULIST, F(dpdk_lcores), 0, 0, "auto",
     "CPUs for EAL: the first is the main lcore (control, writers), the\n"
     "others poll RX queues. auto: every CPU this process may run on."},
    {"dpdk", "file_prefix", T_STR, F(dpdk_file_prefix), 0, 0, "",
     "EAL --file-prefix, so several instances can run side by side.\n"
     "Empty: sluice-<pid>."},
    {"dpdk", "huge", T_HUGE, F(dpdk_huge), 0, 0, "auto",
     "Hugepages: on (required), off (--no-huge), or auto (used when\n"
     "hugetlbfs is mounted and has free pages)."},
    {"dpdk", "memory_mb", T_U32, F(dpdk_memory_mb), 64, 65536, "512",
     "Memory EAL reserves for mempools and rings (-m)."},
    {"dpdk", "in_memory", T_BOOL, F(dpdk_in_memory), 0, 0, "true",
     "EAL --in-memory: no runtime files under /var/run/dpdk."},
    {"dpdk", "eal_args", T_STR, F(dpdk_eal_args), 0, 0, "",
     "Extra EAL arguments, space-separated, appended last (expert use)."},
    {"dpdk", "udp_port", T_U32, F(dpdk_udp_port), 1, 65535, "7400",
     "UDP port of SLW1 ingest on dpdk.ip."},
    {"dpdk", "rx_queues", T_U32, F(dpdk_rx_queues), 0, 64, "0",
     "RX queues per port, each polled by one RX lcore, spread by RSS on\n"
     "IPv4/UDP where the port offers it. 0: one per RX lcore. Bounded by\n"
     "what the port offers."},
    {"dpdk", "rx_desc", T_U32, F(dpdk_rx_desc), 64, 16384, "1024", "Descriptors per RX queue."},
    {"dpdk", "tx_desc", T_U32, F(dpdk_tx_desc), 64, 16384, "1024",
     "Descriptors per TX queue (one TX queue per RX lcore, for acks)."},
    {"dpdk", "mbufs", T_U32, F(dpdk_mbufs), 1024, 1048576, "8192",
     "Packet buffers per RX queue, on the port's NUMA socket. A frame's\n"
     "buffer is held until its records are stored; what the RX ring and\n"
     "caches do not need bounds the frames awaiting storage."},
    {"dpdk", "mbuf_cache", T_U32, F(dpdk_mbuf_cache), 0, 512, "256",
     "Per-lcore mempool cache (packet buffers)."},
    {"dpdk", "mtu", T_U32, F(dpdk_mtu), 576, 9600, "1500",
     "Port MTU; above 1500 needs jumbo frames on the port and its peer.\n"
     "Acks are split into datagrams of at most mtu - 28 bytes."},
    {"dpdk", "rx_burst", T_U32, F(dpdk_rx_burst), 1, 256, "32",
     "Packets an RX lcore takes from a queue at a time."},
    {"dpdk", "idle_sleep_us", T_U32, F(dpdk_idle_sleep_us), 0, 10000, "0",
     "An RX lcore that found nothing in 1024 polls in a row sleeps this\n"
     "long between polls until traffic returns. 0: poll without pause."},
    {"storage", "writers", T_U32, F(storage_writers), 1, 64, "1",
     "Shard writer threads; each shard is owned by exactly one."},
    {"storage", "segment_mb", T_U32, F(storage_segment_mb), 4, 65536, "256",
     "A shard's segment file rolls over when it reaches this size (MiB)."},
    {"storage", "segment_age_s", T_U32, F(storage_segment_age_s), 1, 604800, "3600",
     "... or when the active segment is this old (seconds), at its next write."},
    {"storage", "batch_kb", T_U32, F(storage_batch_kb), 64, 65536, "2048",
     "A shard's batch buffer (KiB), storage.commits_inflight + 1 per shard:\n"
     "the most one group commit writes, and the largest append (one frame's\n"
     "or request's records for one shard) the shard takes."},
    {"storage", "linger_us", T_U32, F(storage_linger_us), 0, 100000, "0",
     "How long an idle shard waits for more records before it commits a batch\n"
     "(0: at once). While a commit is in flight the next batch gathers anyway."},
    {"storage", "preallocate_mb", T_U32, F(storage_preallocate_mb), 0, 65536, "64",
     "Disk space each shard's active segment reserves ahead of its batches\n"
     "(MiB, fallocate with KEEP_SIZE from offset 0, renewed when half is\n"
     "used; at most up to storage.segment_mb; what a segment sealed by age\n"
     "did not use is given back). The segment after one that filled up is\n"
     "reserved whole at once: few extents, kept in the inode, so a commit's\n"
     "fdatasync writes one metadata block, not two (docs/ARCHITECTURE.md).\n"
     "Shards writing side by side get long extents rather than interleaved\n"
     "blocks. 0: off (and no whole reservation)."},
    {"storage", "commits_inflight", T_U32, F(storage_commits_inflight), 1, 4, "2",
     "Group commits (batch write + fdatasync) a shard keeps in flight at\n"
     "once. Only a full batch goes out beside one in flight; one that is not\n"
     "full waits for it and gathers what arrives meanwhile. Each commit has\n"
     "its own batch buffer (storage.batch_kb), plus the one that fills. They\n"
     "are acked in order; one that fails fails every later one. More keeps\n"
     "a busy shard's disk busy (one shard, 1 KiB records, here: about +25%\n"
     "with 2, +38% with 3). 1: every batch waits for the commit before it."},
    {"storage", "ring_slots", T_U32, F(storage_ring_slots), 64, 1048576, "4096",
     "Appends queued per shard before ingest is answered THROTTLED\n"
     "(rounded up to a power of two)."},
    {"storage", "direct_io", T_BOOL, F(storage_direct_io), 0, 0, "true",
     "Write segments with O_DIRECT (batches padded to 4 KiB), bypassing the\n"
     "page cache's copy: about 2.5x the throughput of buffered writes here\n"
     "(perf/RESULTS.md). Falls back to buffered, with a warning, where the\n"
     "filesystem refuses O_DIRECT (tmpfs)."},
    {"storage", "tail_kb", T_U32, F(storage_tail_kb), 0, 1048576, "1024",
     "Per shard, the newest committed batches kept in memory (KiB), from\n"
     "which readers by sequence number are served without touching disk.\n"
     "0: none."},
};

SL_STATIC_ASSERT(SL_ARRAY_SIZE(keys) <= sizeof(((struct sl_config *)0)->src));

/* Longest value quoted in an error message. */
#define ERR_VALUE_MAX 120

/* The value as quoted in errors: cut (marked "..."), non-printables as '?'. */
static void quote_value(const char *v, char out[ERR_VALUE_MAX + 4])
{
	size_t n = 0;
	for (; v[n] != '\0' && n < ERR_VALUE_MAX; n++)
		out[n] = isprint((unsigned char)v[n]) ? v[n] : '?';
	if (v[n] != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static int set_error(struct sl_config_error *err, const char *where, const struct key *k,
		     const char *value, const char *reason)
{
	char q[ERR_VALUE_MAX + 4];
	quote_value(value, q);
	snprintf(err->msg, sizeof(err->msg), "%s: %s.%s = '%s': %s", where, k->section, k->name, q,
		 reason);
	return -EINVAL;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (unsigned i = 0; i < SL_ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool section_known(const char *section)
{
	for (unsigned i = 0; i < SL_ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section) == 0)
			return true;
	}
	return false;
}

/* ---- value parsers: each returns NULL or the reason it refused ---- */

static const char *parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	static __thread char reason[64];
	uint64_t n = 0;
	if (*v == '\0')
		return "not a whole number";
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return "not a whole number";
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			break;
	}
	if (n < min || n > max) {
		snprintf(reason, sizeof(reason), "must be between %u and %u", min, max);
		return reason;
	}
	*out = (uint32_t)n;
	return NULL;
}

static const char *parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (unsigned i = 0; i < SL_ARRAY_SIZE(yes); i++) {
		if (strcmp(v, yes[i]) == 0)
			return *out = true, NULL;
		if (strcmp(v, no[i]) == 0)
			return *out = false, NULL;
	}
	return "not a boolean (true/false, yes/no, on/off, 1/0)";
}

/*
 * Text values: printable ASCII, no surrounding blanks (libinih strips them,
 * so they would not survive a trip through the file), and short enough that
 * "name = value" fits one config line, so whatever is accepted from the
 * command line can be written out and read back.
 */
static const char *check_text(const struct key *k, const char *v, size_t size, bool empty_ok)
{
	static __thread char reason[64];
	size_t len = strlen(v);
	size_t fit = SL_CONFIG_LINE_MAX - strlen(k->name) - 3;
	if (len == 0 && !empty_ok)
		return "must not be empty";
	if (len >= size || len > fit) {
		snprintf(reason, sizeof(reason), "longer than %zu bytes",
			 fit < size ? fit : size - 1);
		return reason;
	}
	if (len > 0 && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[len - 1])))
		return "begins or ends with blanks";
	for (size_t i = 0; i < len; i++) {
		if (!isprint((unsigned char)v[i]))
			return "holds a control or non-ASCII character";
		if (v[i] == ';' || v[i] == '#')
			return "';' and '#' start comments in the config file";
	}
	return NULL;
}

static const char *parse_subsys(const char *v)
{
	if (sl_log_check_overrides(v) != 0)
		return "expected subsystem=level (error, warn, info, debug), comma-separated";
	return NULL;
}

static const char *parse_cpulist(const char *v)
{
	if (strcmp(v, "auto") == 0)
		return NULL;
	const char *p = v;
	long prev = -1;
	do {
		char *end;
		if (!isdigit((unsigned char)*p))
			return "expected auto or a CPU list such as 0-1,3";
		long a = strtol(p, &end, 10), b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return "expected auto or a CPU list such as 0-1,3";
			b = strtol(end + 1, &end, 10);
		}
		if (a > b || b >= 1024)
			return "CPU numbers must ascend within a range and be below 1024";
		if (a <= prev)
			return "CPUs must be listed in ascending order, once each";
		prev = b;
		p = end;
		if (*p != ',' && *p != '\0')
			return "expected auto or a CPU list such as 0-1,3";
	} while (*p++ == ',');
	return NULL;
}

static const char *parse_vdev(const struct key *k, const char *v)
{
	const char *reason = check_text(k, v, SL_CONFIG_STR_MAX, false);
	if (reason)
		return reason;
	/* driver name and index: [a-z0-9_]+, then optional ,key=value args */
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_");
	if (n == 0 || (v[n] != '\0' && v[n] != ','))
		return "expected a vdev spec: name[,key=value...] (e.g. net_null0)";
	if (strchr(v, ' ') != NULL)
		return "a vdev spec holds no spaces";
	return NULL;
}

static const char *parse_pci(const struct key *k, const char *v)
{
	(void)k;
	/* [DDDD:]BB:DD.F */
	unsigned d, b, s, f;
	char tail;
	if (sscanf(v, "%4x:%2x:%2x.%1x%c", &d, &b, &s, &f, &tail) == 4 ||
	    sscanf(v, "%2x:%2x.%1x%c", &b, &s, &f, &tail) == 3) {
		if (strlen(v) < 32 && strspn(v, "0123456789abcdefABCDEF:.") == strlen(v))
			return NULL;
	}
	return "expected a PCI address such as 0000:3b:00.0";
}

int sl_parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t ip = 0;
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 4)
			v = v * 10 + (unsigned)(*p++ - '0'), digits++;
		if (digits == 0 || digits > 3 || v > 255)
			return -EINVAL;
		if (digits > 1 && p[-(int)digits] == '0')
			return -EINVAL; /* no leading zeros: 010 reads as octal elsewhere */
		ip = ip << 8 | v;
		if (i < 3 && *p++ != '.')
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*out = ip;
	return 0;
}

int sl_parse_hostport(const char *s, struct sl_hostport *out)
{
	const char *colon, *host = s;
	size_t host_len;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL; /* IPv6 needs brackets */
		host_len = (size_t)(colon - s);
	}
	if (host_len == 0 || host_len >= sizeof(out->host))
		return -EINVAL;
	char h[SL_CONFIG_HOST_MAX];
	memcpy(h, host, host_len);
	h[host_len] = '\0';
	uint8_t addr[16];
	if (strcmp(h, "localhost") != 0 && inet_pton(AF_INET, h, addr) != 1 &&
	    inet_pton(AF_INET6, h, addr) != 1)
		return -EINVAL;
	uint32_t port;
	if (parse_u32(colon + 1, 1, 65535, &port) != NULL)
		return -EINVAL;
	memcpy(out->host, h, host_len + 1);
	out->port = (uint16_t)port;
	return 0;
}

static const char *set_list(const struct key *k, char *base, uint32_t *count, uint32_t cap,
			    const char *v, const char *(*check)(const struct key *, const char *))
{
	size_t elem = k->size;
	if (*v == '\0') {
		*count = 0; /* an empty value clears the list */
		return NULL;
	}
	const char *reason = check(k, v);
	if (reason)
		return reason;
	if (*count >= cap)
		return "too many entries";
	if (strlen(v) >= elem)
		return "too long";
	memcpy(base + (size_t)*count * elem, v, strlen(v) + 1);
	(*count)++;
	return NULL;
}

/* Store `v` into the key's field. NULL, or why it was refused. */
static const char *apply(struct sl_config *cfg, const struct key *k, const char *v)
{
	char *field = (char *)cfg + k->off;
	const char *reason = NULL;
	uint32_t u;
	bool b;

	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_SUBSYS:
	case T_CPULIST:
		reason = check_text(k, v, k->size, k->type == T_STR || k->type == T_SUBSYS);
		if (!reason && k->type == T_SUBSYS)
			reason = parse_subsys(v);
		if (!reason && k->type == T_CPULIST)
			reason = parse_cpulist(v);
		if (!reason)
			memcpy(field, v, strlen(v) + 1);
		return reason;
	case T_BOOL:
		if (!(reason = parse_bool(v, &b)))
			*(bool *)(void *)field = b;
		return reason;
	case T_U32:
		if (!(reason = parse_u32(v, k->min, k->max, &u)))
			*(uint32_t *)(void *)field = u;
		return reason;
	case T_LEVEL:
		if (sl_log_level_parse(v, (enum sl_log_level *)(void *)field) != 0)
			return "unknown level (error, warn, info, debug)";
		return NULL;
	case T_HOSTPORT:
		if (sl_parse_hostport(v, (struct sl_hostport *)(void *)field) != 0)
			return "expected HOST:PORT (IPv4, [IPv6] or localhost; port 1-65535)";
		return NULL;
	case T_IPV4:
		if (*v == '\0')
			return *(uint32_t *)(void *)field = 0, NULL;
		if (sl_parse_ipv4(v, &u) != 0 || u == 0)
			return "expected an IPv4 address A.B.C.D";
		*(uint32_t *)(void *)field = u;
		return NULL;
	case T_HUGE:
		if (strcmp(v, "auto") == 0)
			cfg->dpdk_huge = SL_HUGE_AUTO;
		else if (strcmp(v, "on") == 0)
			cfg->dpdk_huge = SL_HUGE_ON;
		else if (strcmp(v, "off") == 0)
			cfg->dpdk_huge = SL_HUGE_OFF;
		else
			return "expected auto, on or off";
		return NULL;
	case T_SWITCH:
		if (strcmp(v, "auto") == 0)
			*(enum sl_config_switch *)(void *)field = SL_SWITCH_AUTO;
		else if (strcmp(v, "on") == 0)
			*(enum sl_config_switch *)(void *)field = SL_SWITCH_ON;
		else if (strcmp(v, "off") == 0)
			*(enum sl_config_switch *)(void *)field = SL_SWITCH_OFF;
		else
			return "expected auto, on or off";
		return NULL;
	case T_VDEV:
		return set_list(k, cfg->dpdk_vdev[0], &cfg->dpdk_vdev_count, SL_CONFIG_VDEV_MAX, v,
				parse_vdev);
	case T_PCI:
		return set_list(k, cfg->dpdk_pci[0], &cfg->dpdk_pci_count, SL_CONFIG_PCI_MAX, v,
				parse_pci);
	}
	SL_UNREACHABLE();
}

static bool is_list(const struct key *k)
{
	return k->type == T_VDEV || k->type == T_PCI;
}

void sl_config_defaults(struct sl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (unsigned i = 0; i < SL_ARRAY_SIZE(keys); i++) {
		const char *reason = apply(cfg, &keys[i], keys[i].def);
		SL_ASSERT(reason == NULL);
		SL_ASSERT(cfg->src[i] == SL_CONFIG_SRC_DEFAULT);
	}
}

/* ---- the INI file ---- */

struct load_ctx {
	struct sl_config *cfg;
	struct sl_config_error *err;
	const char *origin;
	const char *text;
	size_t len;
	size_t pos;
	unsigned line;     /* of the line last handed to libinih */
	unsigned err_line; /* 0: no error yet */
	unsigned set_line[SL_ARRAY_SIZE(keys)];
};

/* libinih's reader: one line per call, NULL at the end. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	if (ctx->pos >= ctx->len)
		return NULL;
	const char *start = ctx->text + ctx->pos;
	const char *nl = memchr(start, '\n', ctx->len - ctx->pos);
	size_t n = nl ? (size_t)(nl - start) + 1 : ctx->len - ctx->pos;
	/* Lengths were checked before parsing began. */
	SL_ASSERT(n < (size_t)num);
	memcpy(str, start, n);
	str[n] = '\0';
	ctx->pos += n;
	ctx->line++;
	return str;
}

static int handle(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	char where[SL_CONFIG_PATH_MAX + 32];
	if (ctx->err_line != 0)
		return 0;
	snprintf(where, sizeof(where), "%s:%u", ctx->origin, ctx->line);
	const struct key *k = find_key(section, name);
	if (k == NULL) {
		if (section[0] == '\0')
			snprintf(ctx->err->msg, sizeof(ctx->err->msg),
				 "%s: key '%s' stands before any [section]", where, name);
		else if (section_known(section))
			snprintf(ctx->err->msg, sizeof(ctx->err->msg),
				 "%s: unknown key '%s' in section [%s]", where, name, section);
		else
			snprintf(ctx->err->msg, sizeof(ctx->err->msg),
				 "%s: unknown section [%s] (key '%s')", where, section, name);
		ctx->err_line = ctx->line;
		return 0;
	}
	unsigned idx = (unsigned)(k - keys);
	const char *reason = NULL;
	char twice[64];
	if (ctx->set_line[idx] != 0 && !is_list(k)) {
		snprintf(twice, sizeof(twice), "set twice (first at line %u)", ctx->set_line[idx]);
		reason = twice;
	} else {
		if (is_list(k) && ctx->cfg->src[idx] != SL_CONFIG_SRC_FILE)
			apply(ctx->cfg, k, ""); /* the file's list replaces the default */
		reason = apply(ctx->cfg, k, value);
	}
	if (reason) {
		set_error(ctx->err, where, k, value, reason);
		ctx->err_line = ctx->line;
		return 0;
	}
	ctx->set_line[idx] = ctx->line;
	ctx->cfg->src[idx] = SL_CONFIG_SRC_FILE;
	return 1;
}

/* Bounds on the raw text: no NUL, no overlong line. 0 or -E2BIG/-EINVAL. */
static int check_raw(const char *text, size_t len, const char *origin, struct sl_config_error *err)
{
	if (len > SL_CONFIG_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "%s: larger than %u bytes", origin,
			 SL_CONFIG_FILE_MAX);
		return -E2BIG;
	}
	unsigned line = 1;
	size_t line_start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] == '\0') {
			snprintf(err->msg, sizeof(err->msg), "%s:%u: holds a NUL byte", origin,
				 line);
			return -EINVAL;
		}
		if (i == len || text[i] == '\n') {
			if (i - line_start > SL_CONFIG_LINE_MAX) {
				snprintf(err->msg, sizeof(err->msg),
					 "%s:%u: line longer than %u bytes", origin, line,
					 SL_CONFIG_LINE_MAX);
				return -EINVAL;
			}
			line++;
			line_start = i + 1;
		}
	}
	return 0;
}

int sl_config_load_string(struct sl_config *cfg, const char *text, size_t len, const char *origin,
			  struct sl_config_error *err)
{
	int rc = check_raw(text, len, origin, err);
	if (rc != 0)
		return rc;
	struct load_ctx ctx = {.cfg = cfg, .err = err, .origin = origin, .text = text, .len = len};
	int first = ini_parse_stream(read_line, &ctx, handle, &ctx);
	if (first < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s: parser error %d", origin, first);
		return -EINVAL;
	}
	if (first > 0 && (ctx.err_line == 0 || (unsigned)first < ctx.err_line)) {
		snprintf(err->msg, sizeof(err->msg),
			 "%s:%d: syntax error: expected [section], key = value, or a ; comment",
			 origin, first);
		return -EINVAL;
	}
	return ctx.err_line != 0 ? -EINVAL : 0;
}

int sl_config_load_file(struct sl_config *cfg, const char *path, struct sl_config_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = sl_neg_errno();
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path, sl_strerror(rc));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err->msg, sizeof(err->msg), "%s: not a regular file", path);
		rc = -EINVAL;
		goto err_close;
	}
	if (st.st_size > (off_t)SL_CONFIG_FILE_MAX) {
		snprintf(err->msg, sizeof(err->msg), "%s: larger than %u bytes", path,
			 SL_CONFIG_FILE_MAX);
		rc = -E2BIG;
		goto err_close;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "%s: out of memory", path);
		goto err_close;
	}
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		rc = n < 0 ? sl_neg_errno() : -EIO;
		snprintf(err->msg, sizeof(err->msg), "%s: short read: %s", path, sl_strerror(rc));
	} else {
		rc = sl_config_load_string(cfg, buf, (size_t)n, path, err);
	}
	free(buf);
err_close:
	if (fd >= 0)
		close(fd);
	return rc;
}

int sl_config_set(struct sl_config *cfg, const char *dotted, const char *value,
		  struct sl_config_error *err)
{
	char section[32], name[64];
	const char *dot = strchr(dotted, '.');
	if (dot == NULL || (size_t)(dot - dotted) >= sizeof(section) ||
	    strlen(dot + 1) >= sizeof(name)) {
		snprintf(err->msg, sizeof(err->msg),
			 "command line: '--%.64s': expected --section.key=value", dotted);
		return -EINVAL;
	}
	memcpy(section, dotted, (size_t)(dot - dotted));
	section[dot - dotted] = '\0';
	strcpy(name, dot + 1);
	const struct key *k = find_key(section, name);
	if (k == NULL) {
		snprintf(err->msg, sizeof(err->msg), "command line: --%s.%s: unknown %s", section,
			 name, section_known(section) ? "key" : "section");
		return -EINVAL;
	}
	unsigned idx = (unsigned)(k - keys);
	if (is_list(k) && cfg->src[idx] != SL_CONFIG_SRC_CLI)
		apply(cfg, k, ""); /* the command line's list replaces the file's */
	const char *reason = apply(cfg, k, value);
	if (reason)
		return set_error(err, "command line", k, value, reason);
	cfg->src[idx] = SL_CONFIG_SRC_CLI;
	return 0;
}

/* The host as bind() will see it: "localhost" is 127.0.0.1. */
static const char *bind_host(const struct sl_hostport *hp)
{
	return strcmp(hp->host, "localhost") == 0 ? "127.0.0.1" : hp->host;
}

static bool wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* Whether binding both would collide: same port, same or wildcard host. */
static bool same_endpoint(const struct sl_hostport *a, const struct sl_hostport *b)
{
	const char *ha = bind_host(a), *hb = bind_host(b);
	return a->port == b->port && (strcmp(ha, hb) == 0 || wildcard(ha) || wildcard(hb));
}

int sl_config_validate(const struct sl_config *cfg, struct sl_config_error *err)
{
	if (same_endpoint(&cfg->api_listen, &cfg->ingest_listen)) {
		snprintf(err->msg, sizeof(err->msg),
			 "api.listen (%s:%u) and ingest.listen (%s:%u) would bind the same port: "
			 "each needs its own",
			 cfg->api_listen.host, cfg->api_listen.port, cfg->ingest_listen.host,
			 cfg->ingest_listen.port);
		return -EINVAL;
	}
	if (cfg->dpdk_enabled && cfg->dpdk_vdev_count + cfg->dpdk_pci_count > 0 &&
	    cfg->dpdk_ip == 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "dpdk.ip is not set: DPDK ports (dpdk.vdev, dpdk.pci) need the "
			 "appliance's IPv4 address to answer ARP and take SLW1");
		return -EINVAL;
	}
	if (strlen(cfg->api_account_id) != 12 || strspn(cfg->api_account_id, "0123456789") != 12) {
		snprintf(err->msg, sizeof(err->msg),
			 "api.account_id (%s) must be 12 digits, as an AWS account id is",
			 cfg->api_account_id);
		return -EINVAL;
	}
	/* An RX queue's buffers: its ring, a TX ring and the TX buffer (512),
	 * two bursts and two caches in flight, and at least 512 for frames
	 * awaiting storage (dataplane/rx.c). */
	uint64_t mbufs_min = (uint64_t)cfg->dpdk_rx_desc + cfg->dpdk_tx_desc +
			     2ull * cfg->dpdk_rx_burst + 2ull * cfg->dpdk_mbuf_cache + 1024;
	if (cfg->dpdk_mbufs < mbufs_min) {
		snprintf(err->msg, sizeof(err->msg),
			 "dpdk.mbufs (%u) must be at least dpdk.rx_desc + dpdk.tx_desc + "
			 "2 x dpdk.rx_burst + 2 x dpdk.mbuf_cache + 1024 (%llu)",
			 cfg->dpdk_mbufs, (unsigned long long)mbufs_min);
		return -EINVAL;
	}
	return 0;
}

/* Append to a bounded buffer, counting what it would have needed. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->len < o->cap ? o->cap - o->len : 0;
	int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	o->len += n > 0 ? (size_t)n : 0;
}

static void emit_doc(struct out *o, const struct key *k)
{
	const char *p = k->doc;
	while (*p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		emit(o, "; %.*s\n", n, p);
		p += n + (nl ? 1 : 0);
	}
	emit(o, "; default: %s\n", k->def[0] ? k->def : "(empty)");
}

static void emit_value(struct out *o, const struct sl_config *cfg, const struct key *k)
{
	const char *field = (const char *)cfg + k->off;
	static const char *const huge[] = {"auto", "on", "off"};
	SL_STATIC_ASSERT((int)SL_SWITCH_AUTO == (int)SL_HUGE_AUTO &&
			 (int)SL_SWITCH_ON == (int)SL_HUGE_ON &&
			 (int)SL_SWITCH_OFF == (int)SL_HUGE_OFF);
	struct in_addr a;
	char ip[INET_ADDRSTRLEN];

	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_SUBSYS:
	case T_CPULIST:
		emit(o, "%s = %s\n", k->name, field);
		return;
	case T_BOOL:
		emit(o, "%s = %s\n", k->name,
		     *(const bool *)(const void *)field ? "true" : "false");
		return;
	case T_U32:
		emit(o, "%s = %u\n", k->name, *(const uint32_t *)(const void *)field);
		return;
	case T_LEVEL:
		emit(o, "%s = %s\n", k->name,
		     sl_log_level_name(*(const enum sl_log_level *)(const void *)field));
		return;
	case T_HOSTPORT: {
		const struct sl_hostport *hp = (const void *)field;
		bool v6 = strchr(hp->host, ':') != NULL;
		emit(o, "%s = %s%s%s:%u\n", k->name, v6 ? "[" : "", hp->host, v6 ? "]" : "",
		     hp->port);
		return;
	}
	case T_IPV4:
		a.s_addr = htonl(cfg->dpdk_ip);
		emit(o, "%s = %s\n", k->name,
		     cfg->dpdk_ip ? inet_ntop(AF_INET, &a, ip, sizeof(ip)) : "");
		return;
	case T_HUGE:
		emit(o, "%s = %s\n", k->name, huge[cfg->dpdk_huge]);
		return;
	case T_SWITCH: /* same names, same order as huge[] */
		emit(o, "%s = %s\n", k->name,
		     huge[*(const enum sl_config_switch *)(const void *)field]);
		return;
	case T_VDEV:
	case T_PCI: {
		uint32_t n = k->type == T_VDEV ? cfg->dpdk_vdev_count : cfg->dpdk_pci_count;
		if (n == 0)
			emit(o, "%s =\n", k->name);
		for (uint32_t i = 0; i < n; i++)
			emit(o, "%s = %s\n", k->name, field + (size_t)i * k->size);
		return;
	}
	}
	SL_UNREACHABLE();
}

size_t sl_config_format(const struct sl_config *cfg, bool doc, char *buf, size_t cap)
{
	struct out o = {.buf = buf, .cap = cap, .len = 0};
	const char *section = NULL;
	if (cap > 0)
		buf[0] = '\0';
	for (unsigned i = 0; i < SL_ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		if (section == NULL || strcmp(section, k->section) != 0) {
			emit(&o, "%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		if (doc)
			emit_doc(&o, k);
		emit_value(&o, cfg, k);
		if (doc && i + 1 < SL_ARRAY_SIZE(keys) && strcmp(keys[i + 1].section, section) == 0)
			emit(&o, "\n");
	}
	return o.len;
}

unsigned sl_config_key_count(void)
{
	return SL_ARRAY_SIZE(keys);
}

const char *sl_config_key_name(unsigned i, char *buf, size_t cap)
{
	SL_ASSERT(i < SL_ARRAY_SIZE(keys));
	snprintf(buf, cap, "%s.%s", keys[i].section, keys[i].name);
	return buf;
}
