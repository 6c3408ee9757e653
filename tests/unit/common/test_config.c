/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks common/config.c through its public API:
 * - the defaults, field by field and as formatted text, and the key table's
 *   names and order;
 * - etc/sluice.conf: it loads, sets every key (uncommented, in its section)
 *   to the default, and from its first section on is byte for byte
 *   sl_config_format(defaults, doc), so the shipped file cannot drift from
 *   the table;
 * - every error, from a file and from the command line: the return code, and
 *   that the message names the place (file:line or "command line"), the key
 *   and the offending value; the raw-text bounds (line length, NUL byte,
 *   file size) at and just past their limits; syntax errors and their line;
 *   sl_config_load_file on a missing path, a directory and an oversized file;
 * - the accepted spellings (booleans, IPv6 and localhost listeners,
 *   comments), list semantics (repeats append, an empty value clears, the
 *   command line replaces the file's list then appends, at most
 *   SL_CONFIG_VDEV_MAX entries) and where each key was set from;
 * - sl_config_validate's cross-key rules;
 * - sl_config_format: a non-default configuration formats, loads back and
 *   formats identically (with and without docs); every value the library
 *   accepts, from a file or the command line, survives that round trip;
 *   truncation to a small buffer; error values quoted cut and printable;
 * - daemon.log_subsystems is accepted exactly when sl_log_configure, which
 *   the daemon feeds it to, accepts it;
 * - sl_parse_ipv4 and sl_parse_hostport directly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/config.h>
#include <sluice/log.h>

#include "check.h"

#define ORIGIN   "t.ini"
#define TEXT_MAX (1 << 16)

static char text_a[TEXT_MAX], text_b[TEXT_MAX], text_c[TEXT_MAX];

/* Every needle must occur in msg; each is one check, reported with msg. */
static void check_msg_at(const char *file, int line, const char *msg, const char *const *needles)
{
	for (; *needles != NULL; needles++) {
		sl_check_count++;
		if (strstr(msg, *needles) == NULL) {
			sl_check_failed++;
			fprintf(stderr, "%s:%d: CHECK failed: message lacks \"%s\": \"%s\"\n", file,
				line, *needles, msg);
		}
	}
}
#define CHECK_MSG(msg, ...)                                                                        \
	check_msg_at(__FILE__, __LINE__, (msg), (const char *const[]){__VA_ARGS__, NULL})

/* Defaults, then `text` as a file named ORIGIN. */
static int load(struct sl_config *cfg, const char *text, struct sl_config_error *err)
{
	sl_config_defaults(cfg);
	memset(err, 0, sizeof(*err));
	return sl_config_load_string(cfg, text, strlen(text), ORIGIN, err);
}

static int set(struct sl_config *cfg, const char *key, const char *value,
	       struct sl_config_error *err)
{
	memset(err, 0, sizeof(*err));
	return sl_config_set(cfg, key, value, err);
}

/* Table index of "section.key", or -1. */
static int key_index(const char *dotted)
{
	char name[128];
	for (unsigned i = 0; i < sl_config_key_count(); i++) {
		if (strcmp(sl_config_key_name(i, name, sizeof(name)), dotted) == 0)
			return (int)i;
	}
	return -1;
}

static uint8_t src_of(const struct sl_config *cfg, const char *dotted)
{
	int i = key_index(dotted);
	CHECK(i >= 0);
	return i >= 0 ? cfg->src[i] : 0xff;
}

static size_t format(const struct sl_config *cfg, bool doc, char *buf)
{
	size_t n = sl_config_format(cfg, doc, buf, TEXT_MAX);
	CHECK(n < TEXT_MAX);
	return n;
}

/*
 * The round trip sl_config_format promises: the text loads back into a fresh
 * configuration, without error, and formats to the same text.
 */
static void check_roundtrip_at(const char *file, int line, const struct sl_config *cfg,
			       const char *what)
{
	static struct sl_config again;
	struct sl_config_error err;
	for (int doc = 0; doc <= 1; doc++) {
		size_t n = format(cfg, doc, text_a);
		sl_config_defaults(&again);
		memset(&err, 0, sizeof(err));
		int rc = sl_config_load_string(&again, text_a, n, "formatted", &err);
		size_t m = format(&again, doc, text_b);
		sl_check_count++;
		if (rc != 0 || n != m || memcmp(text_a, text_b, n) != 0) {
			sl_check_failed++;
			fprintf(stderr,
				"%s:%d: CHECK failed: %s: format(doc=%d) does not load back to "
				"itself (rc %d: %s)\n",
				file, line, what, doc, rc, rc ? err.msg : "texts differ");
		}
	}
}
#define CHECK_ROUNDTRIP(cfg, what) check_roundtrip_at(__FILE__, __LINE__, (cfg), (what))

/* ---- defaults ---- */

static const char *const key_names[] = {
    "daemon.data_dir",
    "daemon.log_level",
    "daemon.log_subsystems",
    "daemon.shutdown_timeout_ms",
    "api.listen",
    "api.connections_max",
    "api.header_kb_max",
    "api.body_kb_max",
    "api.header_timeout_ms",
    "api.body_timeout_ms",
    "api.idle_timeout_ms",
    "api.account_id",
    "api.appends_inflight_max",
    "api.shard_limit",
    "ingest.listen",
    "ingest.kernel",
    "ingest.frames_max",
    "ingest.producers_max",
    "ingest.udp_buffers",
    "ingest.udp_ack_payload_max",
    "ingest.tcp_connections_max",
    "ingest.tcp_inflight_max",
    "ingest.tcp_buffer_mb",
    "ingest.tcp_frame_timeout_ms",
    "ingest.tcp_idle_timeout_ms",
    "dpdk.enabled",
    "dpdk.vdev",
    "dpdk.pci",
    "dpdk.ip",
    "dpdk.lcores",
    "dpdk.file_prefix",
    "dpdk.huge",
    "dpdk.memory_mb",
    "dpdk.in_memory",
    "dpdk.eal_args",
    "dpdk.udp_port",
    "dpdk.rx_queues",
    "dpdk.rx_desc",
    "dpdk.tx_desc",
    "dpdk.mbufs",
    "dpdk.mbuf_cache",
    "dpdk.mtu",
    "dpdk.rx_burst",
    "dpdk.idle_sleep_us",
    "storage.writers",
    "storage.segment_mb",
    "storage.segment_age_s",
    "storage.batch_kb",
    "storage.linger_us",
    "storage.preallocate_mb",
    "storage.commits_inflight",
    "storage.ring_slots",
    "storage.direct_io",
    "storage.tail_kb",
};

static const char defaults_text[] = "[daemon]\n"
				    "data_dir = ./var\n"
				    "log_level = info\n"
				    "log_subsystems = \n"
				    "shutdown_timeout_ms = 10000\n"
				    "\n"
				    "[api]\n"
				    "listen = 127.0.0.1:4567\n"
				    "connections_max = 1024\n"
				    "header_kb_max = 16\n"
				    "body_kb_max = 8192\n"
				    "header_timeout_ms = 10000\n"
				    "body_timeout_ms = 30000\n"
				    "idle_timeout_ms = 60000\n"
				    "account_id = 000000000000\n"
				    "appends_inflight_max = 4096\n"
				    "shard_limit = 500\n"
				    "\n"
				    "[ingest]\n"
				    "listen = 127.0.0.1:7400\n"
				    "kernel = on\n"
				    "frames_max = 4096\n"
				    "producers_max = 1024\n"
				    "udp_buffers = 256\n"
				    "udp_ack_payload_max = 1472\n"
				    "tcp_connections_max = 64\n"
				    "tcp_inflight_max = 256\n"
				    "tcp_buffer_mb = 256\n"
				    "tcp_frame_timeout_ms = 10000\n"
				    "tcp_idle_timeout_ms = 300000\n"
				    "\n"
				    "[dpdk]\n"
				    "enabled = true\n"
				    "vdev =\n"
				    "pci =\n"
				    "ip = \n"
				    "lcores = auto\n"
				    "file_prefix = \n"
				    "huge = auto\n"
				    "memory_mb = 512\n"
				    "in_memory = true\n"
				    "eal_args = \n"
				    "udp_port = 7400\n"
				    "rx_queues = 0\n"
				    "rx_desc = 1024\n"
				    "tx_desc = 1024\n"
				    "mbufs = 8192\n"
				    "mbuf_cache = 256\n"
				    "mtu = 1500\n"
				    "rx_burst = 32\n"
				    "idle_sleep_us = 0\n"
				    "\n"
				    "[storage]\n"
				    "writers = 1\n"
				    "segment_mb = 256\n"
				    "segment_age_s = 3600\n"
				    "batch_kb = 2048\n"
				    "linger_us = 0\n"
				    "preallocate_mb = 64\n"
				    "commits_inflight = 2\n"
				    "ring_slots = 4096\n"
				    "direct_io = true\n"
				    "tail_kb = 1024\n";

static void test_defaults(void)
{
	static struct sl_config cfg;
	struct sl_config_error err = {{0}};
	char name[128];

	memset(&cfg, 0xa5, sizeof(cfg));
	sl_config_defaults(&cfg);
	CHECK_STREQ(cfg.data_dir, "./var");
	CHECK_EQ_U64(cfg.log_level, SL_LOG_INFO);
	CHECK_STREQ(cfg.log_subsystems, "");
	CHECK_EQ_U64(cfg.shutdown_timeout_ms, 10000);
	CHECK_STREQ(cfg.api_listen.host, "127.0.0.1");
	CHECK_EQ_U64(cfg.api_listen.port, 4567);
	CHECK_EQ_U64(cfg.api_connections_max, 1024);
	CHECK_EQ_U64(cfg.api_header_kb_max, 16);
	CHECK_EQ_U64(cfg.api_body_kb_max, 8192);
	CHECK_EQ_U64(cfg.api_header_timeout_ms, 10000);
	CHECK_EQ_U64(cfg.api_body_timeout_ms, 30000);
	CHECK_EQ_U64(cfg.api_idle_timeout_ms, 60000);
	CHECK_STREQ(cfg.ingest_listen.host, "127.0.0.1");
	CHECK_EQ_U64(cfg.ingest_listen.port, 7400);
	CHECK_EQ_U64(cfg.ingest_kernel, SL_SWITCH_ON);
	CHECK_EQ_U64(cfg.ingest_frames_max, 4096);
	CHECK_EQ_U64(cfg.ingest_producers_max, 1024);
	CHECK_EQ_U64(cfg.ingest_udp_buffers, 256);
	CHECK_EQ_U64(cfg.ingest_udp_ack_payload_max, 1472);
	CHECK_EQ_U64(cfg.ingest_tcp_connections_max, 64);
	CHECK_EQ_U64(cfg.ingest_tcp_inflight_max, 256);
	CHECK_EQ_U64(cfg.ingest_tcp_buffer_mb, 256);
	CHECK_EQ_U64(cfg.ingest_tcp_frame_timeout_ms, 10000);
	CHECK_EQ_U64(cfg.ingest_tcp_idle_timeout_ms, 300000);
	CHECK(cfg.dpdk_enabled);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 0);
	CHECK_EQ_U64(cfg.dpdk_pci_count, 0);
	CHECK_EQ_U64(cfg.dpdk_ip, 0);
	CHECK_STREQ(cfg.dpdk_lcores, "auto");
	CHECK_STREQ(cfg.dpdk_file_prefix, "");
	CHECK_EQ_U64(cfg.dpdk_huge, SL_HUGE_AUTO);
	CHECK_EQ_U64(cfg.dpdk_memory_mb, 512);
	CHECK(cfg.dpdk_in_memory);
	CHECK_STREQ(cfg.dpdk_eal_args, "");
	CHECK_EQ_U64(cfg.dpdk_udp_port, 7400);
	CHECK_EQ_U64(cfg.dpdk_rx_queues, 0);
	CHECK_EQ_U64(cfg.dpdk_rx_desc, 1024);
	CHECK_EQ_U64(cfg.dpdk_tx_desc, 1024);
	CHECK_EQ_U64(cfg.dpdk_mbufs, 8192);
	CHECK_EQ_U64(cfg.dpdk_mbuf_cache, 256);
	CHECK_EQ_U64(cfg.dpdk_mtu, 1500);
	CHECK_EQ_U64(cfg.dpdk_rx_burst, 32);
	CHECK_EQ_U64(cfg.dpdk_idle_sleep_us, 0);
	CHECK_EQ_U64(cfg.storage_writers, 1);
	for (unsigned i = 0; i < sizeof(cfg.src); i++)
		CHECK_EQ_U64(cfg.src[i], SL_CONFIG_SRC_DEFAULT);

	CHECK_EQ_U64(sl_config_key_count(), sizeof(key_names) / sizeof(key_names[0]));
	for (unsigned i = 0;
	     i < sl_config_key_count() && i < sizeof(key_names) / sizeof(key_names[0]); i++)
		CHECK_STREQ(sl_config_key_name(i, name, sizeof(name)), key_names[i]);
	/* A small buffer cuts the name, NUL-terminated. */
	CHECK_STREQ(sl_config_key_name(0, name, 5), "daem");

	size_t n = format(&cfg, false, text_a);
	CHECK_EQ_U64(n, strlen(defaults_text));
	CHECK_STREQ(text_a, defaults_text);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
	CHECK_ROUNDTRIP(&cfg, "defaults");

	/* doc=true: each key under its documentation and documented default. */
	format(&cfg, true, text_a);
	CHECK(strstr(text_a, "; default: 127.0.0.1:4567\nlisten = 127.0.0.1:4567\n") != NULL);
	CHECK(strstr(text_a, "; default: (empty)\nvdev =\n") != NULL);
	CHECK(strstr(text_a, "; default: 512\nmemory_mb = 512\n") != NULL);
	CHECK(strstr(text_a, "; default: ./var\ndata_dir = ./var\n") != NULL);
	CHECK(strncmp(text_a, "[daemon]\n; ", 11) == 0);
}

/* ---- etc/sluice.conf ---- */

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(TEXT_MAX);
	size_t n = buf ? fread(buf, 1, TEXT_MAX - 1, f) : 0;
	fclose(f);
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* The line `name =` (or `name = value`) inside [section] of text. */
static bool has_key_line(const char *text, const char *section, const char *name)
{
	char cur[64] = "";
	size_t nlen = strlen(name);
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (p[0] == '[' && len >= 2 && p[len - 1] == ']' && len - 2 < sizeof(cur)) {
			memcpy(cur, p + 1, len - 2);
			cur[len - 2] = '\0';
		} else if (strcmp(cur, section) == 0 && len >= nlen + 2 &&
			   strncmp(p, name, nlen) == 0 && p[nlen] == ' ' && p[nlen + 1] == '=') {
			return true;
		}
		p += len + (nl ? 1 : 0);
	}
	return false;
}

static void test_shipped_file(void)
{
	static struct sl_config def, cfg;
	struct sl_config_error err = {{0}};
	const char *root = getenv("SL_SOURCE_ROOT");
	char path[1024];

	CHECK(root != NULL); /* set by meson test */
	if (root == NULL)
		return;
	snprintf(path, sizeof(path), "%s/etc/sluice.conf", root);

	sl_config_defaults(&def);
	sl_config_defaults(&cfg);
	int rc = sl_config_load_file(&cfg, path, &err);
	CHECK_EQ_U64(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);

	/* It sets every key, to its default. */
	size_t n = format(&def, false, text_a);
	size_t m = format(&cfg, false, text_b);
	CHECK_EQ_U64(m, n);
	CHECK_STREQ(text_b, text_a);
	for (unsigned i = 0; i < sl_config_key_count(); i++)
		CHECK_EQ_U64(cfg.src[i], SL_CONFIG_SRC_FILE);

	size_t len = 0;
	char *text = read_whole(path, &len);
	CHECK(text != NULL);
	if (text == NULL)
		return;

	char name[128];
	for (unsigned i = 0; i < sl_config_key_count(); i++) {
		sl_config_key_name(i, name, sizeof(name));
		char *dot = strchr(name, '.');
		CHECK(dot != NULL);
		if (dot == NULL)
			continue;
		*dot = '\0';
		sl_check_count++;
		if (!has_key_line(text, name, dot + 1)) {
			sl_check_failed++;
			fprintf(stderr,
				"%s:%d: CHECK failed: etc/sluice.conf lacks '%s =' in [%s]\n",
				__FILE__, __LINE__, dot + 1, name);
		}
	}

	/* A header of ';' lines and blank lines, then exactly the table's text. */
	const char *body = text[0] == '[' ? text : strstr(text, "\n[");
	CHECK(body != NULL);
	if (body != NULL) {
		body += body[0] == '\n';
		CHECK(text[0] == ';');
		for (const char *p = text; p < body;) {
			const char *nl = strchr(p, '\n');
			CHECK(p[0] == ';' || p[0] == '\n');
			p = nl ? nl + 1 : body;
		}
		size_t doc_len = format(&def, true, text_c);
		size_t body_len = len - (size_t)(body - text);
		CHECK_EQ_U64(body_len, doc_len);
		sl_check_count++;
		if (body_len != doc_len || memcmp(body, text_c, doc_len) != 0) {
			sl_check_failed++;
			fprintf(stderr,
				"%s:%d: CHECK failed: etc/sluice.conf differs from "
				"sl_config_format(defaults, doc=true); regenerate it\n",
				__FILE__, __LINE__);
		}
	}
	free(text);
}

/* ---- errors ---- */

/*
 * `value` for section.key, refused both in a file (line 2, after the section
 * header) and on the command line; the message names the place, the key,
 * the value as quoted, and `reason` when given.
 */
static void bad_value_at(const char *file, int line, const char *section, const char *key,
			 const char *value, const char *reason)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char text[512], dotted[128], quoted[300];

	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", section, key, value);
	snprintf(dotted, sizeof(dotted), "%s.%s", section, key);
	snprintf(quoted, sizeof(quoted), "'%s'", value);
	for (char *q = quoted; *q != '\0'; q++)
		*q = (*q >= 0x20 && *q < 0x7f) ? *q : '?'; /* as errors show them */
	const char *r = reason ? reason : "";

	int rc = load(&cfg, text, &err);
	sl_check_count++;
	if (rc != -EINVAL) {
		sl_check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: file %s = '%s' gave %d, not -EINVAL\n", file,
			line, dotted, value, rc);
	}
	check_msg_at(file, line, err.msg,
		     (const char *const[]){ORIGIN ":2: ", dotted, quoted, r, NULL});

	sl_config_defaults(&cfg);
	rc = set(&cfg, dotted, value, &err);
	sl_check_count++;
	if (rc != -EINVAL) {
		sl_check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: --%s='%s' gave %d, not -EINVAL\n", file, line,
			dotted, value, rc);
	}
	check_msg_at(file, line, err.msg,
		     (const char *const[]){"command line", dotted, quoted, r, NULL});
}
#define BAD_VALUE(s, k, v, reason) bad_value_at(__FILE__, __LINE__, (s), (k), (v), (reason))

static void test_bad_values(void)
{
	BAD_VALUE("dpdk", "enabled", "maybe", "not a boolean");
	BAD_VALUE("dpdk", "in_memory", "2", "not a boolean");
	BAD_VALUE("dpdk", "enabled", "", "not a boolean");
	BAD_VALUE("dpdk", "memory_mb", "12x", "not a whole number");
	BAD_VALUE("dpdk", "memory_mb", "-1", "not a whole number");
	BAD_VALUE("dpdk", "memory_mb", "", "not a whole number");
	BAD_VALUE("dpdk", "memory_mb", "63", "between 64 and 65536");
	BAD_VALUE("dpdk", "memory_mb", "65537", "between 64 and 65536");
	BAD_VALUE("storage", "writers", "0", "between 1 and 64");
	BAD_VALUE("storage", "writers", "65", "between 1 and 64");
	BAD_VALUE("storage", "writers", "4294967297", "between 1 and 64");
	BAD_VALUE("storage", "writers", "99999999999999999999999", "between 1 and 64");
	BAD_VALUE("daemon", "shutdown_timeout_ms", "99", "between 100 and 600000");
	BAD_VALUE("daemon", "shutdown_timeout_ms", "600001", "between 100 and 600000");
	BAD_VALUE("daemon", "log_level", "loud", "unknown level");
	BAD_VALUE("daemon", "log_level", "INFO", "unknown level");
	BAD_VALUE("daemon", "log_subsystems", "dpdk", "subsystem=level");
	BAD_VALUE("daemon", "log_subsystems", "=debug", "subsystem=level");
	BAD_VALUE("daemon", "log_subsystems", "dpdk=loud", "subsystem=level");
	BAD_VALUE("daemon", "log_subsystems", "a_name_too_long_x=debug", "subsystem=level");
	BAD_VALUE("daemon", "data_dir", "", "must not be empty");
	BAD_VALUE("daemon", "data_dir", "./a;b", "comments");
	BAD_VALUE("dpdk", "file_prefix", "a#b", "comments");
	BAD_VALUE("dpdk", "eal_args", "a\tb", NULL);
	BAD_VALUE("api", "listen", "1.2.3.4", "HOST:PORT");
	BAD_VALUE("api", "listen", "1.2.3.4:0", "HOST:PORT");
	BAD_VALUE("api", "listen", "1.2.3.4:65536", "HOST:PORT");
	BAD_VALUE("api", "listen", "nothost:80", "HOST:PORT");
	BAD_VALUE("api", "listen", "::1:80", "HOST:PORT");
	BAD_VALUE("api", "connections_max", "0", "between 1 and 65536");
	BAD_VALUE("api", "connections_max", "65537", "between 1 and 65536");
	BAD_VALUE("api", "header_kb_max", "0", "between 1 and 1024");
	BAD_VALUE("api", "header_kb_max", "1025", "between 1 and 1024");
	BAD_VALUE("api", "body_kb_max", "0", "between 1 and 1048576");
	BAD_VALUE("api", "body_kb_max", "1048577", "between 1 and 1048576");
	BAD_VALUE("api", "header_timeout_ms", "9", "between 10 and 600000");
	BAD_VALUE("api", "body_timeout_ms", "3600001", "between 10 and 3600000");
	BAD_VALUE("api", "idle_timeout_ms", "9", "between 10 and 3600000");
	BAD_VALUE("ingest", "listen", "[::1]80", "HOST:PORT");
	BAD_VALUE("ingest", "listen", "1.2.3.4:", "HOST:PORT");
	BAD_VALUE("ingest", "listen", "", "HOST:PORT");
	BAD_VALUE("ingest", "kernel", "yes", "auto, on or off");
	BAD_VALUE("ingest", "kernel", "", "auto, on or off");
	BAD_VALUE("ingest", "frames_max", "15", "between 16 and 1048576");
	BAD_VALUE("ingest", "frames_max", "1048577", "between 16 and 1048576");
	BAD_VALUE("ingest", "producers_max", "0", "between 1 and 1048576");
	BAD_VALUE("ingest", "udp_buffers", "7", "between 8 and 16384");
	BAD_VALUE("ingest", "udp_buffers", "16385", "between 8 and 16384");
	BAD_VALUE("ingest", "udp_ack_payload_max", "127", "between 128 and 65507");
	BAD_VALUE("ingest", "udp_ack_payload_max", "65508", "between 128 and 65507");
	BAD_VALUE("ingest", "tcp_connections_max", "0", "between 1 and 4096");
	BAD_VALUE("ingest", "tcp_connections_max", "4097", "between 1 and 4096");
	BAD_VALUE("ingest", "tcp_inflight_max", "0", "between 1 and 65536");
	BAD_VALUE("ingest", "tcp_buffer_mb", "15", "between 16 and 65536");
	BAD_VALUE("ingest", "tcp_frame_timeout_ms", "9", "between 10 and 3600000");
	BAD_VALUE("ingest", "tcp_idle_timeout_ms", "86400001", "between 0 and 86400000");
	BAD_VALUE("dpdk", "ip", "1.2.3", "IPv4");
	BAD_VALUE("dpdk", "ip", "256.1.1.1", "IPv4");
	BAD_VALUE("dpdk", "ip", "01.2.3.4", "IPv4");
	BAD_VALUE("dpdk", "ip", "0.0.0.0", "IPv4");
	BAD_VALUE("dpdk", "ip", "localhost", "IPv4");
	BAD_VALUE("dpdk", "udp_port", "0", "between 1 and 65535");
	BAD_VALUE("dpdk", "udp_port", "65536", "between 1 and 65535");
	BAD_VALUE("dpdk", "rx_queues", "65", "between 0 and 64");
	BAD_VALUE("dpdk", "rx_desc", "63", "between 64 and 16384");
	BAD_VALUE("dpdk", "tx_desc", "16385", "between 64 and 16384");
	BAD_VALUE("dpdk", "mbufs", "1023", "between 1024 and 1048576");
	BAD_VALUE("dpdk", "mbuf_cache", "513", "between 0 and 512");
	BAD_VALUE("dpdk", "mtu", "575", "between 576 and 9600");
	BAD_VALUE("dpdk", "mtu", "9601", "between 576 and 9600");
	BAD_VALUE("dpdk", "rx_burst", "0", "between 1 and 256");
	BAD_VALUE("dpdk", "rx_burst", "257", "between 1 and 256");
	BAD_VALUE("dpdk", "idle_sleep_us", "10001", "between 0 and 10000");
	BAD_VALUE("dpdk", "lcores", "2-1", "ascend");
	BAD_VALUE("dpdk", "lcores", "1,1", "once each");
	BAD_VALUE("dpdk", "lcores", "3,1", "ascending");
	BAD_VALUE("dpdk", "lcores", "a", "CPU list");
	BAD_VALUE("dpdk", "lcores", "0-", "CPU list");
	BAD_VALUE("dpdk", "lcores", "0,", "CPU list");
	BAD_VALUE("dpdk", "lcores", "1024", "below 1024");
	BAD_VALUE("dpdk", "lcores", "", "must not be empty");
	BAD_VALUE("dpdk", "huge", "maybe", "auto, on or off");
	BAD_VALUE("dpdk", "vdev", "bad name!", "vdev spec");
	BAD_VALUE("dpdk", "vdev", "Net_null0", "vdev spec");
	BAD_VALUE("dpdk", "vdev", "net_null0,a b", "no spaces");
	BAD_VALUE("dpdk", "pci", "zz", "PCI address");
	BAD_VALUE("dpdk", "pci", "0000:3b:00.0x", "PCI address");
	BAD_VALUE("dpdk", "pci", "0x00:3b:00.0", "PCI address");
}

static void bad_text_at(const char *file, int line, const char *text, int want_rc,
			const char *const *needles)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	int rc = load(&cfg, text, &err);
	sl_check_count++;
	if (rc != want_rc) {
		sl_check_failed++;
		fprintf(stderr, "%s:%d: CHECK failed: load gave %d, not %d (%s)\n", file, line, rc,
			want_rc, err.msg);
	}
	check_msg_at(file, line, err.msg, needles);
}
#define BAD_TEXT(text, ...)                                                                        \
	bad_text_at(__FILE__, __LINE__, (text), -EINVAL, (const char *const[]){__VA_ARGS__, NULL})

static void test_bad_files(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;

	BAD_TEXT("[nosuch]\nfoo = 1\n", ORIGIN ":2: ", "unknown section", "nosuch", "foo");
	BAD_TEXT("; c\n[dpdk]\nvdevs = net_null0\n", ORIGIN ":3: ", "unknown key", "vdevs", "dpdk");
	BAD_TEXT("[DPDK]\nenabled = true\n", ORIGIN ":2: ", "DPDK", "enabled");
	/* Before any section: the message names the key, not an empty "[]". */
	BAD_TEXT("data_dir = ./x\n[daemon]\n", ORIGIN ":1: ", "data_dir");
	BAD_TEXT("[daemon]\ndata_dir = a\n; c\nlog_level = info\ndata_dir = b\n",
		 ORIGIN ":5: ", "daemon.data_dir", "'b'", "first at line 2");
	BAD_TEXT(
	    "[api]\nlisten = 1.2.3.4:1\n[ingest]\nlisten = 1.2.3.4:2\n[api]\nlisten = 1.2.3.4:3\n",
	    ORIGIN ":6: ", "api.listen", "'1.2.3.4:3'", "first at line 2");
	/* An indented line continues the previous value: a second set. */
	BAD_TEXT("[daemon]\ndata_dir = a\n  b\n", ORIGIN ":3: ", "daemon.data_dir",
		 "first at line 2");

	BAD_TEXT("[dpdk\nenabled = true\n", ORIGIN ":1: ", "syntax error");
	BAD_TEXT("[daemon]\n\nnovalue\n", ORIGIN ":3: ", "syntax error");
	/* The first error wins, whichever kind. */
	BAD_TEXT("[daemon]\nnovalue\nlog_level = loud\n", ORIGIN ":2: ", "syntax error");
	BAD_TEXT("[daemon]\nlog_level = loud\nnovalue\n", ORIGIN ":2: ", "daemon.log_level",
		 "'loud'");
	BAD_TEXT("[daemon]\nlog_level = loud\n[nosuch]\nx = 1\n", ORIGIN ":2: ", "'loud'");

	/* A NUL byte, found before parsing, with its line. */
	static const char nul[] = "[daemon]\ndata_dir = a\0b\n";
	memset(&err, 0, sizeof(err));
	sl_config_defaults(&cfg);
	CHECK_EQ_U64(sl_config_load_string(&cfg, nul, sizeof(nul) - 1, ORIGIN, &err), -EINVAL);
	CHECK_MSG(err.msg, ORIGIN ":2: ", "NUL");
	CHECK_STREQ(cfg.data_dir, "./var");

	/* Lines: SL_CONFIG_LINE_MAX bytes (without the newline) pass, one more fails. */
	char text[1024];
	int head = snprintf(text, sizeof(text), "[dpdk]\n; c\n");
	memset(text + head, ';', SL_CONFIG_LINE_MAX);
	strcpy(text + head + SL_CONFIG_LINE_MAX, "\nenabled = false\n");
	CHECK_EQ_U64(load(&cfg, text, &err), 0);
	CHECK(!cfg.dpdk_enabled);
	memset(text + head, ';', SL_CONFIG_LINE_MAX + 1);
	strcpy(text + head + SL_CONFIG_LINE_MAX + 1, "\nenabled = false\n");
	bad_text_at(__FILE__, __LINE__, text, -EINVAL,
		    (const char *const[]){ORIGIN ":3: ", "longer than 190", NULL});
	CHECK_EQ_U64(load(&cfg, text, &err), -EINVAL);
	CHECK(cfg.dpdk_enabled); /* refused before anything was applied */
	/* The same on the last line, without a newline. */
	text[head + SL_CONFIG_LINE_MAX + 1] = '\0';
	bad_text_at(__FILE__, __LINE__, text, -EINVAL,
		    (const char *const[]){ORIGIN ":3: ", "longer than", NULL});
	text[head + SL_CONFIG_LINE_MAX] = '\0';
	CHECK_EQ_U64(load(&cfg, text, &err), 0);

	/* Size: SL_CONFIG_FILE_MAX bytes pass, one more is -E2BIG. */
	char *big = malloc(SL_CONFIG_FILE_MAX + 1);
	CHECK(big != NULL);
	if (big != NULL) {
		memset(big, '\n', SL_CONFIG_FILE_MAX + 1);
		memcpy(big, "[storage]\nwriters = 3\n", 22);
		sl_config_defaults(&cfg);
		CHECK_EQ_U64(sl_config_load_string(&cfg, big, SL_CONFIG_FILE_MAX, ORIGIN, &err), 0);
		CHECK_EQ_U64(cfg.storage_writers, 3);
		sl_config_defaults(&cfg);
		memset(&err, 0, sizeof(err));
		CHECK_EQ_U64(sl_config_load_string(&cfg, big, SL_CONFIG_FILE_MAX + 1, ORIGIN, &err),
			     -E2BIG);
		CHECK_MSG(err.msg, ORIGIN, "1048576");
		CHECK_EQ_U64(cfg.storage_writers, 1);
	}

	/* Files. */
	char dir[] = "/tmp/sl_test_config.XXXXXX", path[256];
	CHECK(mkdtemp(dir) != NULL);

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_U64(sl_config_load_file(&cfg, path, &err), -ENOENT);
	CHECK_MSG(err.msg, path);

	memset(&err, 0, sizeof(err));
	int rc = sl_config_load_file(&cfg, dir, &err);
	CHECK(rc < 0);
	CHECK_MSG(err.msg, dir);

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("[storage]\n\nwriters = 65\n", f);
		fclose(f);
		sl_config_defaults(&cfg);
		memset(&err, 0, sizeof(err));
		CHECK_EQ_U64(sl_config_load_file(&cfg, path, &err), -EINVAL);
		char where[300];
		snprintf(where, sizeof(where), "%s:3: ", path);
		CHECK_MSG(err.msg, where, "storage.writers", "'65'");
		unlink(path);
	}

	/* A file over SL_CONFIG_FILE_MAX: -E2BIG, as from sl_config_load_string. */
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL && big != NULL) {
		CHECK_EQ_U64(fwrite(big, 1, SL_CONFIG_FILE_MAX + 1, f), SL_CONFIG_FILE_MAX + 1);
		fclose(f);
		sl_config_defaults(&cfg);
		memset(&err, 0, sizeof(err));
		CHECK_EQ_U64(sl_config_load_file(&cfg, path, &err), -E2BIG);
		CHECK_MSG(err.msg, path, "1048576");
		CHECK_EQ_U64(cfg.storage_writers, 1);
	} else if (f != NULL) {
		fclose(f);
	}
	unlink(path);
	rmdir(dir);
	free(big);
}

static void test_bad_command_line(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char unknown_section[sizeof(err.msg)];

	sl_config_defaults(&cfg);
	CHECK_EQ_U64(set(&cfg, "nodot", "1", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "nodot");
	CHECK_EQ_U64(set(&cfg, "dpdk.", "1", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "dpdk.");
	CHECK_EQ_U64(set(&cfg, ".enabled", "1", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", ".enabled");

	CHECK_EQ_U64(set(&cfg, "nosuch.enabled", "1", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "nosuch.enabled", "unknown section");
	snprintf(unknown_section, sizeof(unknown_section), "%s", err.msg);
	CHECK_EQ_U64(set(&cfg, "dpdk.nosuch", "1", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "dpdk.nosuch", "unknown key");
	CHECK(strstr(err.msg, "unknown section") == NULL);
	CHECK(strcmp(err.msg, unknown_section) != 0);
	/* Names are exact: no case folding, no prefix match. */
	CHECK_EQ_U64(set(&cfg, "DPDK.enabled", "true", &err), -EINVAL);
	CHECK_EQ_U64(set(&cfg, "dpdk.enable", "true", &err), -EINVAL);
	CHECK_EQ_U64(set(&cfg, "dpdk.enabled.x", "true", &err), -EINVAL);
	/* A key too long for any table entry. */
	char longkey[200];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	longkey[4] = '.';
	CHECK_EQ_U64(set(&cfg, longkey, "1", &err), -EINVAL);
	CHECK(err.msg[0] != '\0');

	/* Nothing of the refusals stuck. */
	static struct sl_config def;
	sl_config_defaults(&def);
	format(&def, false, text_a);
	format(&cfg, false, text_b);
	CHECK_STREQ(text_b, text_a);

	/* A long bad value is quoted cut and marked; non-printables as '?'. */
	char longv[201];
	memset(longv, '9', 200);
	longv[200] = '\0';
	CHECK_EQ_U64(set(&cfg, "dpdk.memory_mb", longv, &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "dpdk.memory_mb", "'999", "...'", "between");
	CHECK(strstr(err.msg, longv) == NULL);
	CHECK_EQ_U64(set(&cfg, "dpdk.eal_args", "a\tb\x01", &err), -EINVAL);
	CHECK_MSG(err.msg, "'a?b?'");
}

/* ---- accepted forms ---- */

static void test_accepted(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	char text[256];

	for (unsigned i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[dpdk]\nenabled = %s\nin_memory = %s\n", no[i],
			 no[i]);
		CHECK_EQ_U64(load(&cfg, text, &err), 0);
		CHECK(!cfg.dpdk_enabled && !cfg.dpdk_in_memory);
		snprintf(text, sizeof(text), "[dpdk]\nenabled = %s\nin_memory = %s\n", yes[i],
			 yes[i]);
		cfg.dpdk_enabled = false;
		CHECK_EQ_U64(sl_config_load_string(&cfg, text, strlen(text), ORIGIN, &err), 0);
		CHECK(cfg.dpdk_enabled && cfg.dpdk_in_memory);
		CHECK_EQ_U64(set(&cfg, "dpdk.enabled", no[i], &err), 0);
		CHECK(!cfg.dpdk_enabled);
		CHECK_EQ_U64(set(&cfg, "dpdk.enabled", yes[i], &err), 0);
		CHECK(cfg.dpdk_enabled);
	}

	CHECK_EQ_U64(
	    load(&cfg, "[api]\nlisten = [::1]:4567\n[ingest]\nlisten = localhost:1\n", &err), 0);
	CHECK_STREQ(cfg.api_listen.host, "::1");
	CHECK_EQ_U64(cfg.api_listen.port, 4567);
	CHECK_STREQ(cfg.ingest_listen.host, "localhost");
	CHECK_EQ_U64(cfg.ingest_listen.port, 1);
	format(&cfg, false, text_a);
	CHECK(strstr(text_a, "listen = [::1]:4567\n") != NULL);
	CHECK(strstr(text_a, "listen = localhost:1\n") != NULL);
	CHECK_ROUNDTRIP(&cfg, "IPv6 and localhost listeners");

	/* Comments; inline "; " comments; "key: value"; CRLF; spaces around. */
	CHECK_EQ_U64(load(&cfg,
			  "; a comment\n"
			  "# another\n"
			  "\n"
			  "[daemon] ; after a header\n"
			  "  data_dir   =   /srv/sl ; where\n"
			  "log_level: debug\r\n"
			  "\t# indented comment\n"
			  "[dpdk]\n"
			  "ip = 10.1.2.3\n"
			  "huge = off\n"
			  "lcores = 0-1,3,5-7\n"
			  "pci = 0000:3b:00.0\n"
			  "pci = 3b:00.1\n",
			  &err),
		     0);
	CHECK_STREQ(cfg.data_dir, "/srv/sl");
	CHECK_EQ_U64(cfg.log_level, SL_LOG_DEBUG);
	CHECK_EQ_U64(cfg.dpdk_ip, 0x0a010203);
	CHECK_EQ_U64(cfg.dpdk_huge, SL_HUGE_OFF);
	CHECK_STREQ(cfg.dpdk_lcores, "0-1,3,5-7");
	CHECK_EQ_U64(cfg.dpdk_pci_count, 2);
	CHECK_STREQ(cfg.dpdk_pci[1], "3b:00.1");
	CHECK_ROUNDTRIP(&cfg, "comments and forms");

	/* A UTF-8 byte order mark before the first line. */
	CHECK_EQ_U64(load(&cfg, "\xef\xbb\xbf[storage]\nwriters = 2\n", &err), 0);
	CHECK_EQ_U64(cfg.storage_writers, 2);

	/* Empty texts and bounds. */
	CHECK_EQ_U64(load(&cfg, "", &err), 0);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\n", &err), 0);
	CHECK_EQ_U64(load(&cfg,
			  "[storage]\nwriters = 64\n[dpdk]\nmemory_mb = 65536\n"
			  "[daemon]\nshutdown_timeout_ms = 100\n",
			  &err),
		     0);
	CHECK_EQ_U64(cfg.storage_writers, 64);
	CHECK_EQ_U64(cfg.dpdk_memory_mb, 65536);
	CHECK_EQ_U64(cfg.shutdown_timeout_ms, 100);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nip =\nmemory_mb = 0064\n", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_ip, 0);
	CHECK_EQ_U64(cfg.dpdk_memory_mb, 64);

	/* Lists: repeats append, an empty value clears. */
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nvdev = net_null0\nvdev = net_tap0,iface=t0\n", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 2);
	CHECK_STREQ(cfg.dpdk_vdev[0], "net_null0");
	CHECK_STREQ(cfg.dpdk_vdev[1], "net_tap0,iface=t0");
	CHECK_EQ_U64(src_of(&cfg, "dpdk.vdev"), SL_CONFIG_SRC_FILE);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nvdev = net_null0\nvdev = net_null1\nvdev =\n", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 0);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nvdev = net_null0\nvdev =\nvdev = net_null2\n", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 1);
	CHECK_STREQ(cfg.dpdk_vdev[0], "net_null2");
	/* Sections may reopen; a list carries on across them. */
	CHECK_EQ_U64(
	    load(&cfg,
		 "[dpdk]\nvdev = net_null0\n[api]\nlisten = 1.2.3.4:5\n[dpdk]\nvdev = net_null1\n",
		 &err),
	    0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 2);
}

static void test_lists_and_overrides(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char text[2048], spec[32];

	/* SL_CONFIG_VDEV_MAX entries fit; one more is refused, file and CLI. */
	int n = snprintf(text, sizeof(text), "[dpdk]\n");
	for (int i = 0; i < SL_CONFIG_VDEV_MAX; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "vdev = net_null%d\n", i);
	CHECK_EQ_U64(load(&cfg, text, &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, SL_CONFIG_VDEV_MAX);
	CHECK_ROUNDTRIP(&cfg, "full vdev list");
	snprintf(text + n, sizeof(text) - (size_t)n, "vdev = net_null%d\n", SL_CONFIG_VDEV_MAX);
	snprintf(spec, sizeof(spec), "'net_null%d'", SL_CONFIG_VDEV_MAX);
	char where[32];
	snprintf(where, sizeof(where), ORIGIN ":%d: ", SL_CONFIG_VDEV_MAX + 2);
	CHECK_EQ_U64(load(&cfg, text, &err), -EINVAL);
	CHECK_MSG(err.msg, where, "dpdk.vdev", spec, "too many");

	sl_config_defaults(&cfg);
	for (int i = 0; i < SL_CONFIG_VDEV_MAX; i++) {
		snprintf(spec, sizeof(spec), "net_null%d", i);
		CHECK_EQ_U64(set(&cfg, "dpdk.vdev", spec, &err), 0);
	}
	CHECK_EQ_U64(set(&cfg, "dpdk.vdev", "net_null99", &err), -EINVAL);
	CHECK_MSG(err.msg, "command line", "dpdk.vdev", "'net_null99'", "too many");
	CHECK_EQ_U64(cfg.dpdk_vdev_count, SL_CONFIG_VDEV_MAX);

	n = snprintf(text, sizeof(text), "[dpdk]\n");
	for (int i = 0; i <= SL_CONFIG_PCI_MAX; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "pci = 0000:%02x:00.0\n", i);
	CHECK_EQ_U64(load(&cfg, text, &err), -EINVAL);
	CHECK_MSG(err.msg, "dpdk.pci", "too many");

	/* The command line replaces a file's value... */
	CHECK_EQ_U64(load(&cfg,
			  "[storage]\nwriters = 2\n[dpdk]\nvdev = net_null0\nvdev = net_null1\n"
			  "[api]\nlisten = 127.0.0.1:9000\n",
			  &err),
		     0);
	CHECK_EQ_U64(src_of(&cfg, "storage.writers"), SL_CONFIG_SRC_FILE);
	CHECK_EQ_U64(src_of(&cfg, "dpdk.memory_mb"), SL_CONFIG_SRC_DEFAULT);
	CHECK_EQ_U64(set(&cfg, "storage.writers", "3", &err), 0);
	CHECK_EQ_U64(cfg.storage_writers, 3);
	CHECK_EQ_U64(src_of(&cfg, "storage.writers"), SL_CONFIG_SRC_CLI);
	CHECK_EQ_U64(set(&cfg, "storage.writers", "5", &err), 0);
	CHECK_EQ_U64(cfg.storage_writers, 5);
	CHECK_EQ_U64(set(&cfg, "api.listen", "[::]:9001", &err), 0);
	CHECK_STREQ(cfg.api_listen.host, "::");
	CHECK_EQ_U64(cfg.api_listen.port, 9001);
	/* ...and its list: the first command-line entry replaces, the next appends. */
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 2);
	CHECK_EQ_U64(set(&cfg, "dpdk.vdev", "net_tap0", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 1);
	CHECK_STREQ(cfg.dpdk_vdev[0], "net_tap0");
	CHECK_EQ_U64(src_of(&cfg, "dpdk.vdev"), SL_CONFIG_SRC_CLI);
	CHECK_EQ_U64(set(&cfg, "dpdk.vdev", "net_memif0", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 2);
	CHECK_STREQ(cfg.dpdk_vdev[0], "net_tap0");
	CHECK_STREQ(cfg.dpdk_vdev[1], "net_memif0");
	CHECK_EQ_U64(set(&cfg, "dpdk.vdev", "", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 0);
	CHECK_EQ_U64(set(&cfg, "dpdk.vdev", "net_null7", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_vdev_count, 1);
	CHECK_STREQ(cfg.dpdk_vdev[0], "net_null7");
	/* A command-line list with no file list behind it starts empty. */
	sl_config_defaults(&cfg);
	CHECK_EQ_U64(set(&cfg, "dpdk.pci", "0000:00:1f.6", &err), 0);
	CHECK_EQ_U64(set(&cfg, "dpdk.pci", "0000:00:1f.7", &err), 0);
	CHECK_EQ_U64(cfg.dpdk_pci_count, 2);
	CHECK_ROUNDTRIP(&cfg, "command-line lists");
}

/* ---- validation ---- */

static void test_validate(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;

	CHECK_EQ_U64(load(&cfg, "[ingest]\nlisten = 127.0.0.1:4567\n", &err), 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_MSG(err.msg, "api.listen", "ingest.listen", "127.0.0.1:4567");
	CHECK_EQ_U64(set(&cfg, "ingest.listen", "127.0.0.1:4568", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
	CHECK_EQ_U64(set(&cfg, "api.listen", "[::1]:7", &err), 0);
	CHECK_EQ_U64(set(&cfg, "ingest.listen", "[::1]:7", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_EQ_U64(set(&cfg, "ingest.listen", "[::1]:8", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);

	/* api.account_id: 12 digits, as an AWS account id. */
	CHECK_EQ_U64(set(&cfg, "api.account_id", "12345678901", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_MSG(err.msg, "api.account_id", "12345678901", "12 digits");
	CHECK_EQ_U64(set(&cfg, "api.account_id", "12345678901x", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_EQ_U64(set(&cfg, "api.account_id", "123456789012", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);

	/* DPDK ports need dpdk.ip, unless DPDK is off. */
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nvdev = net_null0\n", &err), 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_MSG(err.msg, "dpdk.ip", "dpdk.vdev");
	CHECK_EQ_U64(set(&cfg, "dpdk.enabled", "false", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
	CHECK_EQ_U64(set(&cfg, "dpdk.enabled", "true", &err), 0);
	CHECK_EQ_U64(set(&cfg, "dpdk.ip", "192.0.2.1", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
	CHECK_EQ_U64(cfg.dpdk_ip, 0xc0000201);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\npci = 0000:3b:00.0\n", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_EQ_U64(load(&cfg, "[dpdk]\nip = 192.0.2.1\n", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);

	/* An RX queue's mbufs cover its rings, bursts, caches and 512 frames:
	 * 1024 + 1024 + 2 x 32 + 2 x 256 + 1024 = 3648 by default. */
	CHECK_EQ_U64(set(&cfg, "dpdk.mbufs", "3647", &err), 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_MSG(err.msg, "dpdk.mbufs", "3647", "3648");
	CHECK_EQ_U64(set(&cfg, "dpdk.mbufs", "3648", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
	CHECK_EQ_U64(set(&cfg, "dpdk.rx_desc", "1025", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), -EINVAL);
	CHECK_EQ_U64(set(&cfg, "dpdk.mbuf_cache", "0", &err), 0);
	CHECK_EQ_U64(sl_config_validate(&cfg, &err), 0);
}

/* ---- format ---- */

static void test_format(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	static const char *const sets[][2] = {
	    {"daemon.data_dir", "/srv/sluice data"},
	    {"daemon.log_level", "debug"},
	    {"daemon.log_subsystems", "dpdk=debug,storage=warn"},
	    {"daemon.shutdown_timeout_ms", "2500"},
	    {"api.listen", "[::1]:8080"},
	    {"api.connections_max", "2"},
	    {"api.header_kb_max", "1"},
	    {"api.body_kb_max", "1048576"},
	    {"api.header_timeout_ms", "10"},
	    {"api.body_timeout_ms", "3600000"},
	    {"api.idle_timeout_ms", "250"},
	    {"api.account_id", "123456789012"},
	    {"api.appends_inflight_max", "16"},
	    {"api.shard_limit", "65536"},
	    {"ingest.listen", "0.0.0.0:7401"},
	    {"ingest.kernel", "auto"},
	    {"ingest.frames_max", "16"},
	    {"ingest.producers_max", "1048576"},
	    {"ingest.udp_buffers", "8"},
	    {"ingest.udp_ack_payload_max", "65507"},
	    {"ingest.tcp_connections_max", "4096"},
	    {"ingest.tcp_inflight_max", "1"},
	    {"ingest.tcp_buffer_mb", "16"},
	    {"ingest.tcp_frame_timeout_ms", "3600000"},
	    {"ingest.tcp_idle_timeout_ms", "0"},
	    {"dpdk.enabled", "off"},
	    {"dpdk.vdev", "net_null0"},
	    {"dpdk.vdev", "net_af_packet0,iface=veth0"},
	    {"dpdk.pci", "0000:3b:00.0"},
	    {"dpdk.ip", "10.0.0.2"},
	    {"dpdk.lcores", "0-1,3"},
	    {"dpdk.file_prefix", "sl1"},
	    {"dpdk.huge", "on"},
	    {"dpdk.memory_mb", "1024"},
	    {"dpdk.in_memory", "no"},
	    {"dpdk.eal_args", "--log-level=8 -n 4"},
	    {"dpdk.udp_port", "9000"},
	    {"dpdk.rx_queues", "4"},
	    {"dpdk.rx_desc", "512"},
	    {"dpdk.tx_desc", "256"},
	    {"dpdk.mbufs", "65536"},
	    {"dpdk.mbuf_cache", "128"},
	    {"dpdk.mtu", "9000"},
	    {"dpdk.rx_burst", "64"},
	    {"dpdk.idle_sleep_us", "100"},
	    {"storage.writers", "4"},
	    {"storage.segment_mb", "64"},
	    {"storage.segment_age_s", "60"},
	    {"storage.batch_kb", "512"},
	    {"storage.linger_us", "200"},
	    {"storage.preallocate_mb", "0"},
	    {"storage.commits_inflight", "3"},
	    {"storage.ring_slots", "1024"},
	    {"storage.direct_io", "no"},
	    {"storage.tail_kb", "0"},
	};

	sl_config_defaults(&cfg);
	for (unsigned i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		CHECK_EQ_U64(set(&cfg, sets[i][0], sets[i][1], &err), 0);
	size_t n = format(&cfg, false, text_a);
	CHECK_STREQ(text_a, "[daemon]\n"
			    "data_dir = /srv/sluice data\n"
			    "log_level = debug\n"
			    "log_subsystems = dpdk=debug,storage=warn\n"
			    "shutdown_timeout_ms = 2500\n"
			    "\n"
			    "[api]\n"
			    "listen = [::1]:8080\n"
			    "connections_max = 2\n"
			    "header_kb_max = 1\n"
			    "body_kb_max = 1048576\n"
			    "header_timeout_ms = 10\n"
			    "body_timeout_ms = 3600000\n"
			    "idle_timeout_ms = 250\n"
			    "account_id = 123456789012\n"
			    "appends_inflight_max = 16\n"
			    "shard_limit = 65536\n"
			    "\n"
			    "[ingest]\n"
			    "listen = 0.0.0.0:7401\n"
			    "kernel = auto\n"
			    "frames_max = 16\n"
			    "producers_max = 1048576\n"
			    "udp_buffers = 8\n"
			    "udp_ack_payload_max = 65507\n"
			    "tcp_connections_max = 4096\n"
			    "tcp_inflight_max = 1\n"
			    "tcp_buffer_mb = 16\n"
			    "tcp_frame_timeout_ms = 3600000\n"
			    "tcp_idle_timeout_ms = 0\n"
			    "\n"
			    "[dpdk]\n"
			    "enabled = false\n"
			    "vdev = net_null0\n"
			    "vdev = net_af_packet0,iface=veth0\n"
			    "pci = 0000:3b:00.0\n"
			    "ip = 10.0.0.2\n"
			    "lcores = 0-1,3\n"
			    "file_prefix = sl1\n"
			    "huge = on\n"
			    "memory_mb = 1024\n"
			    "in_memory = false\n"
			    "eal_args = --log-level=8 -n 4\n"
			    "udp_port = 9000\n"
			    "rx_queues = 4\n"
			    "rx_desc = 512\n"
			    "tx_desc = 256\n"
			    "mbufs = 65536\n"
			    "mbuf_cache = 128\n"
			    "mtu = 9000\n"
			    "rx_burst = 64\n"
			    "idle_sleep_us = 100\n"
			    "\n"
			    "[storage]\n"
			    "writers = 4\n"
			    "segment_mb = 64\n"
			    "segment_age_s = 60\n"
			    "batch_kb = 512\n"
			    "linger_us = 200\n"
			    "preallocate_mb = 0\n"
			    "commits_inflight = 3\n"
			    "ring_slots = 1024\n"
			    "direct_io = false\n"
			    "tail_kb = 0\n");
	CHECK_ROUNDTRIP(&cfg, "non-default configuration");
	CHECK_EQ_U64(format(&cfg, false, text_a), n); /* the round trip used text_a */

	/* Docs show the default, not the current value. */
	format(&cfg, true, text_b);
	CHECK(strstr(text_b, "; default: 127.0.0.1:4567\nlisten = [::1]:8080\n") != NULL);
	CHECK(strstr(text_b, "; default: (empty)\nvdev = net_null0\nvdev = net_af_packet0") !=
	      NULL);

	/* Loading the formatted text gives the same fields. */
	static struct sl_config again;
	sl_config_defaults(&again);
	CHECK_EQ_U64(sl_config_load_string(&again, text_b, strlen(text_b), "doc", &err), 0);
	CHECK_STREQ(again.data_dir, "/srv/sluice data");
	CHECK_STREQ(again.api_listen.host, "::1");
	CHECK_EQ_U64(again.api_listen.port, 8080);
	CHECK_EQ_U64(again.dpdk_vdev_count, 2);
	CHECK_STREQ(again.dpdk_vdev[1], "net_af_packet0,iface=veth0");
	CHECK_EQ_U64(again.dpdk_ip, cfg.dpdk_ip);
	CHECK_EQ_U64(again.dpdk_huge, SL_HUGE_ON);
	CHECK_EQ_U64(again.ingest_kernel, SL_SWITCH_AUTO);
	CHECK_EQ_U64(set(&again, "ingest.kernel", "off", &err), 0);
	CHECK_EQ_U64(again.ingest_kernel, SL_SWITCH_OFF);
	CHECK(!again.dpdk_enabled && !again.dpdk_in_memory);
	CHECK_EQ_U64(again.log_level, SL_LOG_DEBUG);

	/* Small buffers: cut, NUL-terminated, the full length returned. */
	char small[64];
	memset(small, 'x', sizeof(small));
	CHECK_EQ_U64(sl_config_format(&cfg, false, small, 10), n);
	CHECK_EQ_U64(strlen(small), 9);
	CHECK(memcmp(small, text_a, 9) == 0);
	CHECK_EQ_U64((unsigned char)small[10], 'x');
	CHECK_EQ_U64(sl_config_format(&cfg, false, small, 1), n);
	CHECK_EQ_U64(small[0], '\0');
	CHECK_EQ_U64(sl_config_format(&cfg, false, NULL, 0), n);
	CHECK_EQ_U64(sl_config_format(&cfg, true, NULL, 0), strlen(text_b));
	char *exact = malloc(n + 1);
	CHECK(exact != NULL);
	if (exact != NULL) {
		CHECK_EQ_U64(sl_config_format(&cfg, false, exact, n), n);
		CHECK_EQ_U64(strlen(exact), n - 1);
		CHECK_EQ_U64(sl_config_format(&cfg, false, exact, n + 1), n);
		CHECK_STREQ(exact, text_a);
		free(exact);
	}
}

/*
 * Whatever the library accepts must survive format and load: values at the
 * limits of what a file line or a field holds, and command-line values with
 * edges a file cannot express.
 */
static void accepted_roundtrips_at(const char *file, int line, const char *key, const char *value)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char what[96];
	sl_config_defaults(&cfg);
	snprintf(what, sizeof(what), "--%s='%.40s%s' (%zu bytes)", key, value,
		 strlen(value) > 40 ? "..." : "", strlen(value));
	if (set(&cfg, key, value, &err) == 0)
		check_roundtrip_at(file, line, &cfg, what);
	else
		CHECK(err.msg[0] != '\0');
}
#define ACCEPTED_ROUNDTRIPS(k, v) accepted_roundtrips_at(__FILE__, __LINE__, (k), (v))

static void test_accepted_roundtrip(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char text[512], value[SL_CONFIG_PATH_MAX];

	/*
	 * Text values are bounded so that "key = value" fits one file line:
	 * at the bound a value is taken from a file and the command line and
	 * survives a round trip; one byte more is refused from both.
	 */
	static const char *const long_keys[][2] = {
	    {"dpdk", "eal_args"},
	    {"daemon", "data_dir"},
	    {"dpdk", "vdev"},
	};
	for (unsigned i = 0; i < sizeof(long_keys) / sizeof(long_keys[0]); i++) {
		const char *key = long_keys[i][1];
		int fit = SL_CONFIG_LINE_MAX - (int)strlen(key) - 3;
		char dotted[64], v[SL_CONFIG_LINE_MAX + 2];
		snprintf(dotted, sizeof(dotted), "%s.%s", long_keys[i][0], key);
		for (int j = 0; j <= fit; j++)
			v[j] = "abcdefghijklmnopqrstuvwxyz"[j % 26];
		if (strcmp(key, "vdev") == 0)
			memcpy(v, "net_null0,", 10);
		v[fit] = '\0';
		snprintf(text, sizeof(text), "[%s]\n%s = %s\n", long_keys[i][0], key, v);
		CHECK_EQ_U64(load(&cfg, text, &err), 0);
		CHECK_ROUNDTRIP(&cfg, "a value that just fits a file line");
		sl_config_defaults(&cfg);
		CHECK_EQ_U64(set(&cfg, dotted, v, &err), 0);
		CHECK_ROUNDTRIP(&cfg, "a value that just fits a file line, from the command line");
		v[fit] = 'z';
		v[fit + 1] = '\0';
		snprintf(text, sizeof(text), "[%s]\n%s=%s\n", long_keys[i][0], key, v);
		CHECK(load(&cfg, text, &err) == -EINVAL);
		CHECK(strstr(err.msg, "longer than") != NULL);
		CHECK(set(&cfg, dotted, v, &err) == -EINVAL);
		CHECK(strstr(err.msg, "longer than") != NULL);
		CHECK(strstr(err.msg, dotted) != NULL);
	}

	/* Blanks around a value would not survive the file: refused. */
	CHECK(set(&cfg, "dpdk.eal_args", " -n 4", &err) == -EINVAL);
	CHECK(strstr(err.msg, "blanks") != NULL);
	CHECK(set(&cfg, "daemon.data_dir", "./var ", &err) == -EINVAL);
	CHECK(strstr(err.msg, "blanks") != NULL);

	/* The longest values the fields hold, from the command line. */
	memset(value, 'p', sizeof(value));
	value[0] = '/';
	value[SL_CONFIG_PATH_MAX - 1] = '\0';
	ACCEPTED_ROUNDTRIPS("daemon.data_dir", value);
	value[SL_CONFIG_STR_MAX - 1] = '\0';
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", value);
	value[200] = '\0';
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", value);
	value[63] = '\0';
	ACCEPTED_ROUNDTRIPS("dpdk.file_prefix", value);

	/* Edges the file trims or reads as syntax. */
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", " -n 4");
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", "-n 4 ");
	ACCEPTED_ROUNDTRIPS("dpdk.file_prefix", " ");
	ACCEPTED_ROUNDTRIPS("daemon.data_dir", "   ");
	ACCEPTED_ROUNDTRIPS("daemon.data_dir", "./var ");
	ACCEPTED_ROUNDTRIPS("daemon.log_subsystems", " dpdk=debug");
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", "=x");
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", "[x]");
	ACCEPTED_ROUNDTRIPS("dpdk.eal_args", "a:b = c");
	ACCEPTED_ROUNDTRIPS("api.listen", "[1.2.3.4]:80");
	ACCEPTED_ROUNDTRIPS("api.listen", "1.2.3.4:0080");
	ACCEPTED_ROUNDTRIPS("api.listen", "[::ffff:1.2.3.4]:80");
	ACCEPTED_ROUNDTRIPS("dpdk.pci", "0:0:0.0");
}

/* daemon.log_subsystems goes to sl_log_configure: both must agree. */
static void test_log_subsystems_agree(void)
{
	static struct sl_config cfg;
	struct sl_config_error err;
	char many[SL_CONFIG_STR_MAX];
	int n = 0;
	for (int i = 0; i <= SL_LOG_SUBSYS_MAX; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n, "%sa=warn", i ? "," : "");
	const char *const values[] = {
	    "",
	    "dpdk=debug",
	    "dpdk=debug,storage=warn",
	    "dpdk=debug,",
	    ",dpdk=debug",
	    "dpdk=debug,,storage=warn",
	    ",",
	    many,
	    "dpdk=verbose",
	    "x=info=",
	    "dpdk",
	};
	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		sl_config_defaults(&cfg);
		bool config_ok = set(&cfg, "daemon.log_subsystems", values[i], &err) == 0;
		bool log_ok = sl_log_configure(SL_LOG_INFO, values[i]) == 0;
		sl_check_count++;
		if (config_ok != log_ok) {
			sl_check_failed++;
			fprintf(stderr,
				"%s:%d: CHECK failed: daemon.log_subsystems='%s': config %s it, "
				"sl_log_configure %s it\n",
				__FILE__, __LINE__, values[i], config_ok ? "accepts" : "refuses",
				log_ok ? "accepts" : "refuses");
		}
	}
	CHECK_EQ_U64(sl_log_configure(SL_LOG_INFO, ""), 0);
}

/* ---- the parsers ---- */

static void test_parse_ipv4(void)
{
	static const struct {
		const char *s;
		uint32_t ip;
	} good[] = {
	    {"0.0.0.0", 0},
	    {"1.2.3.4", 0x01020304},
	    {"10.0.0.1", 0x0a000001},
	    {"127.0.0.1", 0x7f000001},
	    {"255.255.255.255", 0xffffffff},
	    {"192.168.100.10", 0xc0a8640a},
	};
	static const char *const bad[] = {
	    "",           "1",         "1.2.3",     "1.2.3.",   "1.2.3.4.",   "1.2.3.4.5",
	    "256.1.1.1",  "1.2.3.256", "01.2.3.4",  "1.2.3.04", "1.2.3.00",   "1..2.3",
	    ".1.2.3",     " 1.2.3.4",  "1.2.3.4 ",  "a.b.c.d",  "1234.1.1.1", "-1.2.3.4",
	    "1.2.3.4:80", "0x1.2.3.4", "1.2.3.4\n",
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t ip = 0xdeadbeef;
		CHECK_EQ_U64(sl_parse_ipv4(good[i].s, &ip), 0);
		CHECK_EQ_U64(ip, good[i].ip);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t ip = 0xdeadbeef;
		int rc = sl_parse_ipv4(bad[i], &ip);
		if (rc != -EINVAL)
			fprintf(stderr, "  sl_parse_ipv4(\"%s\") = %d\n", bad[i], rc);
		CHECK_EQ_U64(rc, -EINVAL);
		CHECK_EQ_U64(ip, 0xdeadbeef);
	}
}

static void test_parse_hostport(void)
{
	static const struct {
		const char *s, *host;
		uint16_t port;
	} good[] = {
	    {"1.2.3.4:80", "1.2.3.4", 80},
	    {"0.0.0.0:1", "0.0.0.0", 1},
	    {"127.0.0.1:65535", "127.0.0.1", 65535},
	    {"[::1]:4567", "::1", 4567},
	    {"[::]:1", "::", 1},
	    {"[fe80::1:2]:7400", "fe80::1:2", 7400},
	    {"localhost:1", "localhost", 1},
	    {"1.2.3.4:0080", "1.2.3.4", 80},
	};
	char longhost[100];
	memset(longhost, '1', sizeof(longhost));
	memcpy(longhost, "[::", 3);
	memcpy(longhost + 80, "]:80", 5);
	const char *const bad[] = {
	    "",
	    "1.2.3.4",
	    "1.2.3.4:",
	    ":80",
	    "1.2.3.4:0",
	    "1.2.3.4:65536",
	    "1.2.3.4:99999999999",
	    "1.2.3.4:-1",
	    "1.2.3.4:8x",
	    "1.2.3.4: 80",
	    "nothost:80",
	    "example.com:80",
	    "::1:80",
	    "fe80::1:80",
	    "[::1]80",
	    "[::1]",
	    "[::1",
	    "[]:80",
	    "[::1]:",
	    "[nothost]:80",
	    "256.1.1.1:80",
	    "01.2.3.4:80",
	    "LOCALHOST:80",
	    " 1.2.3.4:80",
	    "[::1]:80:1",
	    longhost,
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sl_hostport hp = {{0}, 0};
		CHECK_EQ_U64(sl_parse_hostport(good[i].s, &hp), 0);
		CHECK_STREQ(hp.host, good[i].host);
		CHECK_EQ_U64(hp.port, good[i].port);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sl_hostport hp = {"unchanged", 9};
		int rc = sl_parse_hostport(bad[i], &hp);
		if (rc != -EINVAL)
			fprintf(stderr, "  sl_parse_hostport(\"%s\") = %d\n", bad[i], rc);
		CHECK_EQ_U64(rc, -EINVAL);
		CHECK_STREQ(hp.host, "unchanged");
		CHECK_EQ_U64(hp.port, 9);
	}
}

int main(void)
{
	test_defaults();
	test_shipped_file();
	test_bad_values();
	test_bad_files();
	test_bad_command_line();
	test_accepted();
	test_lists_and_overrides();
	test_validate();
	test_format();
	test_accepted_roundtrip();
	test_log_subsystems_agree();
	test_parse_ipv4();
	test_parse_hostport();
	return sl_check_finish("config");
}
