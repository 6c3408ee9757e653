/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: the SLW1 load generator. Sends frames (WIRE.md) to a sluice
 * appliance over a kernel UDP socket, a TCP connection or a DPDK port, at a
 * fixed rate or as fast as a window of frames in flight allows, checks
 * every ack against its frame, retransmits what was not acked, and reports
 * what happened: frames and records sent, acked, retried, throttled,
 * duplicate, lost; answers by status; bad acks by reason; ack latency.
 *
 * This file: the command line (every value bounded, a usage error names the
 * option and exits 2), start-up (producer id, seed, signals), --dump-frame,
 * and the exit status: 0 when every frame sent was acked OK (with --no-ack:
 * handed to the transport without error), 1 when anything was lost, failed,
 * answered with a bad ack, or the transport could not be used, 2 on usage
 * errors. The engine is gen_engine.c, the transports gen_sock.c and
 * gen_dpdk.c, the payload gen_payload.c, the report gen_stats.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sluice/alloc.h>
#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include "gen.h"
#include "sl_build.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

#define ARG_LEN_MAX      4096
#define DURATION_S_MAX   1e6
#define RATE_MAX         1e9
#define DEFAULT_DURATION (10 * SL_NS_PER_S)
#define HEX_PER_LINE     16

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_requested < 2)
		stop_requested++;
}

static const char usage_text[] =
    "usage: sluice-gen TRANSPORT --stream NAME [options]\n"
    "\n"
    "Sends SLW1 frames to a sluice appliance and checks every ack (WIRE.md).\n"
    "\n"
    "Transport (one):\n"
    "  --udp HOST:PORT          kernel UDP socket, one frame per datagram\n"
    "  --tcp HOST:PORT          TCP, frames back to back, acks in order\n"
    "  --dpdk-vdev SPEC         a DPDK virtual port (net_memif,..., net_af_packet,iface=X)\n"
    "    --src-ip A.B.C.D       our address on that port (required)\n"
    "    --dst-ip A.B.C.D       the appliance's address (required)\n"
    "    --dst-mac XX:..:XX     its MAC (default: resolved by ARP)\n"
    "    --dst-port N           default 7400\n"
    "    --src-port N           default 7400\n"
    "    --lcore N              CPU for EAL (default: the first one allowed)\n"
    "    --eal-args \"...\"       more EAL arguments\n"
    "    --arp-timeout-ms N     default 3000\n"
    "    --idle-sleep-us N      sleep between empty RX polls while waiting for\n"
    "                           acks, default 20; 0 = busy polling\n"
    "\n"
    "Frames:\n"
    "  --stream NAME            the stream (required)\n"
    "  --producer-id N          default random; 0 = anonymous (no dedupe)\n"
    "  --batch-seq-start N      first batch_seq, default 1\n"
    "  --records-per-frame N    1..500, default 10\n"
    "  --record-size N|MIN-MAX  data bytes per record, fixed or uniform; default 100\n"
    "  --keys MODE              random[:LEN] (default random:16), seq:N, fixed:KEY\n"
    "  --hash-keys MODE         explicit hash keys: random, fixed:DECIMAL, spread:N\n"
    "  --auth                   set the AUTH flag (zero tag: answered UNAUTHORIZED)\n"
    "  --seed N                 PRNG seed for keys and sizes (default random)\n"
    "\n"
    "Pace and amount:\n"
    "  --rate R | Rr | max      R frames/s, Rr records/s, or as fast as possible (default)\n"
    "  --duration S             seconds (default 10 unless --frames or --records)\n"
    "  --frames N               stop after N frames\n"
    "  --records N              stop after N records (the last frame may be shorter)\n"
    "\n"
    "Acks:\n"
    "  --no-ack                 fire and forget (ACK_REQUESTED clear)\n"
    "  --window W               frames in flight, 1..64, default 16\n"
    "  --timeout-ms T           retransmit after T ms without an ack, default 1000\n"
    "  --retries N              retransmissions per frame, default 5\n"
    "  --throttle-retries N     resends after THROTTLED per frame, default 100\n"
    "  --backoff-ms B           first THROTTLED backoff (doubles), default 10\n"
    "  --backoff-max-ms B       longest backoff, default 1000\n"
    "\n"
    "Output:\n"
    "  --json                   the report as one JSON object\n"
    "  --record-acks FILE       one line per stored ack entry:\n"
    "                           producer_id batch_seq shard first_seq record_count\n"
    "  --dump-frame             print the first frame in hex and exit\n"
    "  --help, --version\n"
    "\n"
    "Record data: 8 bytes producer_id, 8 bytes batch_seq, 2 bytes index in the\n"
    "frame (big-endian), then splitmix64 output seeded with producer_id ^\n"
    "(batch_seq << 16) ^ index, cut to the record's size.\n"
    "Exit status: 0 everything acked (or sent, with --no-ack), 1 anything lost,\n"
    "failed or badly acked, 2 usage error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("sluice-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see sluice-gen --help)\n", stderr);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end = NULL;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16;
	if (s[0] == '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		usage_error("%s: '%.80s' is not a number", opt, s);
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || end == s)
		usage_error("%s: '%.80s' is not a number", opt, s);
	if (v < min || v > max)
		usage_error("%s: %llu is out of range %" PRIu64 "..%" PRIu64, opt, v, min, max);
	return v;
}

static double parse_double(const char *opt, const char *s, double min, double max)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !isfinite(v))
		usage_error("%s: '%.80s' is not a number", opt, s);
	if (v < min || v > max)
		usage_error("%s: %g is out of range %g..%g", opt, v, min, max);
	return v;
}

/* "host:port" or "[v6]:port". */
static void parse_hostport(const char *opt, const char *s, struct gen_options *o)
{
	const char *colon = strrchr(s, ':');
	const char *host = s;
	size_t host_len = colon ? (size_t)(colon - s) : 0;
	if (colon == NULL || host_len == 0)
		usage_error("%s: '%.80s' is not HOST:PORT", opt, s);
	if (host[0] == '[') {
		if (host_len < 3 || host[host_len - 1] != ']')
			usage_error("%s: '%.80s' is not [ADDRESS]:PORT", opt, s);
		host++;
		host_len -= 2;
	}
	if (host_len > GEN_HOST_MAX)
		usage_error("%s: the host is longer than %d bytes", opt, GEN_HOST_MAX);
	memcpy(o->host, host, host_len);
	o->host[host_len] = '\0';
	o->port = (uint16_t)parse_u64(opt, colon + 1, 1, 65535);
}

static uint32_t parse_ipv4(const char *opt, const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		usage_error("%s: '%.80s' is not an IPv4 address", opt, s);
	return a.s_addr;
}

static void parse_mac(const char *opt, const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int used = 0;
	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &used) != 6 ||
	    used != 17)
		usage_error("%s: '%.80s' is not a MAC address XX:XX:XX:XX:XX:XX", opt, s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

static void parse_size(const char *opt, const char *s, struct gen_options *o)
{
	char lo[32];
	const char *dash = strchr(s, '-');
	if (dash == NULL) {
		o->size_min = o->size_max = (uint32_t)parse_u64(opt, s, 0, SL_RECORD_SIZE_LIMIT);
		return;
	}
	size_t n = (size_t)(dash - s);
	if (n == 0 || n >= sizeof(lo))
		usage_error("%s: '%.80s' is not N or MIN-MAX", opt, s);
	memcpy(lo, s, n);
	lo[n] = '\0';
	o->size_min = (uint32_t)parse_u64(opt, lo, 0, SL_RECORD_SIZE_LIMIT);
	o->size_max = (uint32_t)parse_u64(opt, dash + 1, 0, SL_RECORD_SIZE_LIMIT);
	if (o->size_min > o->size_max)
		usage_error("%s: MIN %u is above MAX %u", opt, o->size_min, o->size_max);
}

static void parse_keys(const char *opt, const char *s, struct gen_options *o)
{
	if (strcmp(s, "random") == 0) {
		o->key_mode = GEN_KEY_RANDOM;
		o->key_len = GEN_KEY_LEN_DEFAULT;
	} else if (strncmp(s, "random:", 7) == 0) {
		o->key_mode = GEN_KEY_RANDOM;
		o->key_len = (uint16_t)parse_u64(opt, s + 7, 1, SL_PARTITION_KEY_MAX);
	} else if (strncmp(s, "seq:", 4) == 0) {
		o->key_mode = GEN_KEY_SEQ;
		o->key_count = (uint32_t)parse_u64(opt, s + 4, 1, UINT32_MAX);
	} else if (strncmp(s, "fixed:", 6) == 0) {
		size_t n = strlen(s + 6);
		if (n < 1 || n > SL_PARTITION_KEY_MAX)
			usage_error("%s: a key is 1..%d bytes", opt, SL_PARTITION_KEY_MAX);
		o->key_mode = GEN_KEY_FIXED;
		memcpy(o->key_fixed, s + 6, n + 1);
	} else {
		usage_error("%s: '%.80s' is not random[:LEN], seq:N or fixed:KEY", opt, s);
	}
}

static void parse_hash_keys(const char *opt, const char *s, struct gen_options *o)
{
	if (strcmp(s, "random") == 0) {
		o->hash_mode = GEN_HASH_RANDOM;
	} else if (strncmp(s, "fixed:", 6) == 0) {
		if (sl_u128_from_dec(s + 6, strlen(s + 6), &o->hash_fixed) != 0)
			usage_error("%s: '%.80s' is not a decimal number below 2^128", opt, s + 6);
		o->hash_mode = GEN_HASH_FIXED;
	} else if (strncmp(s, "spread:", 7) == 0) {
		o->hash_mode = GEN_HASH_SPREAD;
		o->hash_count = (uint32_t)parse_u64(opt, s + 7, 1, SL_SHARDS_PER_STREAM_MAX);
	} else {
		usage_error("%s: '%.80s' is not random, fixed:DECIMAL or spread:N", opt, s);
	}
}

static void parse_rate(const char *opt, const char *s, struct gen_options *o)
{
	char num[64];
	size_t n = strlen(s);
	if (strcmp(s, "max") == 0) {
		o->rate = 0;
		return;
	}
	if (n == 0 || n >= sizeof(num))
		usage_error("%s: '%.80s' is not R, Rr or max", opt, s);
	memcpy(num, s, n + 1);
	o->rate_records = false;
	if (num[n - 1] == 'r' || num[n - 1] == 'f') {
		o->rate_records = num[n - 1] == 'r';
		num[n - 1] = '\0';
	}
	o->rate = parse_double(opt, num, 1e-3, RATE_MAX);
}

static void copy_arg(const char *opt, const char *s, char *dst, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n >= cap)
		usage_error("%s: longer than %zu bytes", opt, cap - 1);
	memcpy(dst, s, n + 1);
}

enum {
	OPT_UDP = 256,
	OPT_TCP,
	OPT_DPDK_VDEV,
	OPT_SRC_IP,
	OPT_DST_IP,
	OPT_DST_MAC,
	OPT_DST_PORT,
	OPT_SRC_PORT,
	OPT_LCORE,
	OPT_EAL_ARGS,
	OPT_ARP_TIMEOUT,
	OPT_IDLE_SLEEP,
	OPT_STREAM,
	OPT_PRODUCER_ID,
	OPT_BATCH_SEQ_START,
	OPT_RECORDS_PER_FRAME,
	OPT_RECORD_SIZE,
	OPT_KEYS,
	OPT_HASH_KEYS,
	OPT_AUTH,
	OPT_SEED,
	OPT_RATE,
	OPT_DURATION,
	OPT_FRAMES,
	OPT_RECORDS,
	OPT_NO_ACK,
	OPT_WINDOW,
	OPT_TIMEOUT_MS,
	OPT_RETRIES,
	OPT_THROTTLE_RETRIES,
	OPT_BACKOFF_MS,
	OPT_BACKOFF_MAX_MS,
	OPT_JSON,
	OPT_RECORD_ACKS,
	OPT_DUMP_FRAME,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
    {"udp", required_argument, NULL, OPT_UDP},
    {"tcp", required_argument, NULL, OPT_TCP},
    {"dpdk-vdev", required_argument, NULL, OPT_DPDK_VDEV},
    {"src-ip", required_argument, NULL, OPT_SRC_IP},
    {"dst-ip", required_argument, NULL, OPT_DST_IP},
    {"dst-mac", required_argument, NULL, OPT_DST_MAC},
    {"dst-port", required_argument, NULL, OPT_DST_PORT},
    {"src-port", required_argument, NULL, OPT_SRC_PORT},
    {"lcore", required_argument, NULL, OPT_LCORE},
    {"eal-args", required_argument, NULL, OPT_EAL_ARGS},
    {"arp-timeout-ms", required_argument, NULL, OPT_ARP_TIMEOUT},
    {"idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"producer-id", required_argument, NULL, OPT_PRODUCER_ID},
    {"batch-seq-start", required_argument, NULL, OPT_BATCH_SEQ_START},
    {"records-per-frame", required_argument, NULL, OPT_RECORDS_PER_FRAME},
    {"record-size", required_argument, NULL, OPT_RECORD_SIZE},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"hash-keys", required_argument, NULL, OPT_HASH_KEYS},
    {"auth", no_argument, NULL, OPT_AUTH},
    {"seed", required_argument, NULL, OPT_SEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"records", required_argument, NULL, OPT_RECORDS},
    {"no-ack", no_argument, NULL, OPT_NO_ACK},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"throttle-retries", required_argument, NULL, OPT_THROTTLE_RETRIES},
    {"backoff-ms", required_argument, NULL, OPT_BACKOFF_MS},
    {"backoff-max-ms", required_argument, NULL, OPT_BACKOFF_MAX_MS},
    {"json", no_argument, NULL, OPT_JSON},
    {"record-acks", required_argument, NULL, OPT_RECORD_ACKS},
    {"dump-frame", no_argument, NULL, OPT_DUMP_FRAME},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void set_transport(struct gen_options *o, enum gen_transport_kind k, const char *opt)
{
	if (o->transport != GEN_T_NONE)
		usage_error("%s: only one of --udp, --tcp, --dpdk-vdev", opt);
	o->transport = k;
}

static void defaults(struct gen_options *o)
{
	memset(o, 0, sizeof(*o));
	o->dst_port = 7400;
	o->src_port = 7400;
	o->lcore = -1;
	o->arp_timeout_ms = 3000;
	o->idle_sleep_us = 20;
	o->batch_seq_start = 1;
	o->records_per_frame = 10;
	o->size_min = o->size_max = 100;
	o->key_mode = GEN_KEY_RANDOM;
	o->key_len = GEN_KEY_LEN_DEFAULT;
	o->window = 16;
	o->timeout_ns = 1000 * SL_NS_PER_MS;
	o->retries = 5;
	o->throttle_retries = 100;
	o->backoff_ns = 10 * SL_NS_PER_MS;
	o->backoff_max_ns = 1000 * SL_NS_PER_MS;
}

/* One option; the rest of the command line does not matter to it. */
static void apply(struct gen_options *o, int c, const char *opt, const char *arg, bool *pid_set,
		  bool *seed_set, bool *dur_set)
{
	switch (c) {
	case OPT_UDP:
	case OPT_TCP:
		set_transport(o, c == OPT_UDP ? GEN_T_UDP : GEN_T_TCP, opt);
		parse_hostport(opt, arg, o);
		break;
	case OPT_DPDK_VDEV:
		set_transport(o, GEN_T_DPDK, opt);
		copy_arg(opt, arg, o->vdev, sizeof(o->vdev));
		break;
	case OPT_SRC_IP:
		o->src_ip = parse_ipv4(opt, arg);
		o->src_ip_set = true;
		break;
	case OPT_DST_IP:
		o->dst_ip = parse_ipv4(opt, arg);
		o->dst_ip_set = true;
		break;
	case OPT_DST_MAC:
		parse_mac(opt, arg, o->dst_mac);
		o->dst_mac_set = true;
		break;
	case OPT_DST_PORT:
		o->dst_port = (uint16_t)parse_u64(opt, arg, 1, 65535);
		break;
	case OPT_SRC_PORT:
		o->src_port = (uint16_t)parse_u64(opt, arg, 1, 65535);
		break;
	case OPT_LCORE:
		o->lcore = (int)parse_u64(opt, arg, 0, CPU_SETSIZE - 1);
		break;
	case OPT_EAL_ARGS:
		copy_arg(opt, arg, o->eal_args, sizeof(o->eal_args));
		break;
	case OPT_ARP_TIMEOUT:
		o->arp_timeout_ms = (uint32_t)parse_u64(opt, arg, 1, GEN_TIMEOUT_MS_MAX);
		break;
	case OPT_IDLE_SLEEP:
		o->idle_sleep_us = (uint32_t)parse_u64(opt, arg, 0, GEN_IDLE_SLEEP_US_MAX);
		break;
	case OPT_STREAM: {
		size_t n = strnlen(arg, SL_STREAM_NAME_MAX + 1);
		if (!sl_stream_name_valid(arg, n))
			usage_error("%s: '%.80s' is not a stream name ([A-Za-z0-9_.-], 1..%d)", opt,
				    arg, SL_STREAM_NAME_MAX);
		memcpy(o->stream, arg, n + 1);
		o->stream_len = (uint8_t)n;
		break;
	}
	case OPT_PRODUCER_ID:
		o->producer_id = parse_u64(opt, arg, 0, UINT64_MAX);
		*pid_set = true;
		break;
	case OPT_BATCH_SEQ_START:
		o->batch_seq_start = parse_u64(opt, arg, 0, UINT64_MAX / 2);
		break;
	case OPT_RECORDS_PER_FRAME:
		o->records_per_frame = (uint16_t)parse_u64(opt, arg, 1, SL_FRAME_RECORDS_MAX);
		break;
	case OPT_RECORD_SIZE:
		parse_size(opt, arg, o);
		break;
	case OPT_KEYS:
		parse_keys(opt, arg, o);
		break;
	case OPT_HASH_KEYS:
		parse_hash_keys(opt, arg, o);
		break;
	case OPT_AUTH:
		o->auth = true;
		break;
	case OPT_SEED:
		o->seed = parse_u64(opt, arg, 0, UINT64_MAX);
		*seed_set = true;
		break;
	case OPT_RATE:
		parse_rate(opt, arg, o);
		break;
	case OPT_DURATION:
		o->duration_ns = (uint64_t)(parse_double(opt, arg, 1e-3, DURATION_S_MAX) * 1e9);
		*dur_set = true;
		break;
	case OPT_FRAMES:
		o->frames_max = parse_u64(opt, arg, 1, UINT64_MAX / 2);
		break;
	case OPT_RECORDS:
		o->records_max = parse_u64(opt, arg, 1, UINT64_MAX / 2);
		break;
	case OPT_NO_ACK:
		o->no_ack = true;
		break;
	case OPT_WINDOW:
		o->window = (uint32_t)parse_u64(opt, arg, 1, GEN_WINDOW_MAX);
		break;
	case OPT_TIMEOUT_MS:
		o->timeout_ns = parse_u64(opt, arg, 1, GEN_TIMEOUT_MS_MAX) * SL_NS_PER_MS;
		break;
	case OPT_RETRIES:
		o->retries = (uint32_t)parse_u64(opt, arg, 0, GEN_RETRIES_MAX);
		break;
	case OPT_THROTTLE_RETRIES:
		o->throttle_retries = (uint32_t)parse_u64(opt, arg, 0, GEN_RETRIES_MAX);
		break;
	case OPT_BACKOFF_MS:
		o->backoff_ns = parse_u64(opt, arg, 1, GEN_BACKOFF_MS_MAX) * SL_NS_PER_MS;
		break;
	case OPT_BACKOFF_MAX_MS:
		o->backoff_max_ns = parse_u64(opt, arg, 1, GEN_BACKOFF_MS_MAX) * SL_NS_PER_MS;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_RECORD_ACKS:
		copy_arg(opt, arg, o->record_acks, sizeof(o->record_acks));
		break;
	case OPT_DUMP_FRAME:
		o->dump_frame = true;
		break;
	default:
		SL_UNREACHABLE();
	}
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = sl_clock_wall_ns() ^ ((uint64_t)getpid() << 32) ^ sl_clock_mono_ns();
	return v;
}

/* Cross-option rules, after every option is in. */
static void validate(struct gen_options *o, bool pid_set, bool seed_set, bool dur_set)
{
	if (o->stream_len == 0)
		usage_error("--stream NAME is required");
	if (!o->dump_frame && o->transport == GEN_T_NONE)
		usage_error(
		    "one of --udp HOST:PORT, --tcp HOST:PORT, --dpdk-vdev SPEC is required");
	if (o->transport == GEN_T_DPDK && (!o->src_ip_set || !o->dst_ip_set))
		usage_error("--dpdk-vdev needs --src-ip and --dst-ip");
	if (o->transport != GEN_T_DPDK && (o->src_ip_set || o->dst_ip_set || o->dst_mac_set))
		usage_error("--src-ip, --dst-ip and --dst-mac are for --dpdk-vdev only");
	if (o->no_ack && o->record_acks[0])
		usage_error("--record-acks needs acks: not with --no-ack");
	if (o->backoff_ns > o->backoff_max_ns)
		usage_error("--backoff-ms is above --backoff-max-ms");
	if (!pid_set) {
		do
			o->producer_id = random_u64();
		while (o->producer_id == 0);
	}
	if (!seed_set)
		o->seed = random_u64();
	if (!dur_set && o->frames_max == 0 && o->records_max == 0)
		o->duration_ns = DEFAULT_DURATION;
}

static void parse_args(int argc, char **argv, struct gen_options *o)
{
	bool pid_set = false, seed_set = false, dur_set = false;
	defaults(o);
	for (int i = 1; i < argc; i++) {
		if (strnlen(argv[i], ARG_LEN_MAX + 1) > ARG_LEN_MAX)
			usage_error("argument %d is longer than %d bytes", i, ARG_LEN_MAX);
	}
	opterr = 0;
	for (;;) {
		int idx = -1;
		int prev = optind;
		int c = getopt_long(argc, argv, "", long_opts, &idx);
		if (c == -1)
			break;
		const char *opt = idx >= 0 ? argv[prev] : "?";
		char name[64];
		if (idx >= 0) {
			snprintf(name, sizeof(name), "--%s", long_opts[idx].name);
			opt = name;
		}
		if (c == '?') {
			if (optopt >= OPT_UDP)
				usage_error("%s needs a value", argv[optind - 1]);
			usage_error("unknown option '%.80s'", argv[optind - 1]);
		}
		if (c == OPT_HELP) {
			fputs(usage_text, stdout);
			exit(EXIT_OK);
		}
		if (c == OPT_VERSION) {
			char alloc[64];
			printf("sluice-gen %s (%s)\n", SL_VERSION,
			       sl_allocator_describe(alloc, sizeof(alloc)));
			exit(EXIT_OK);
		}
		apply(o, c, opt, optarg, &pid_set, &seed_set, &dur_set);
	}
	if (optind < argc)
		usage_error("unexpected argument '%.80s'", argv[optind]);
	validate(o, pid_set, seed_set, dur_set);
}

/* Offsets, 16 bytes in hex, and the printable ones, like hexdump -C. */
static void hexdump(FILE *out, const uint8_t *buf, size_t len)
{
	for (size_t off = 0; off < len; off += HEX_PER_LINE) {
		size_t n = len - off < HEX_PER_LINE ? len - off : HEX_PER_LINE;
		fprintf(out, "%08zx ", off);
		for (size_t i = 0; i < HEX_PER_LINE; i++) {
			if (i == 8)
				fputc(' ', out);
			if (i < n)
				fprintf(out, " %02x", buf[off + i]);
			else
				fputs("   ", out);
		}
		fputs("  |", out);
		for (size_t i = 0; i < n; i++) {
			uint8_t b = buf[off + i];
			fputc(b >= 0x20 && b < 0x7f ? b : '.', out);
		}
		fputs("|\n", out);
	}
	fprintf(out, "%08zx\n", len);
}

static int dump_frame(const struct gen_options *o, struct gen_payload *p)
{
	uint64_t cap = gen_frame_bytes_max(o);
	uint8_t *buf = malloc((size_t)cap);
	if (buf == NULL) {
		fprintf(stderr, "sluice-gen: out of memory\n");
		return EXIT_FAIL;
	}
	uint16_t n = o->records_per_frame;
	if (o->records_max && o->records_max < n)
		n = (uint16_t)o->records_max;
	size_t len = gen_payload_frame(p, o->batch_seq_start, n, buf, (size_t)cap);
	SL_ASSERT(len > 0);
	hexdump(stdout, buf, len);
	free(buf);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int open_transport(struct gen_options *o, struct gen_stats *s, struct gen_transport **t)
{
	char why[512] = "";
	int rc = o->transport == GEN_T_DPDK ? gen_dpdk_open(o, s, t, why, sizeof(why))
					    : gen_sock_open(o, s, t, why, sizeof(why));
	if (rc != 0) {
		fprintf(stderr, "sluice-gen: %s\n", why);
		return EXIT_FAIL;
	}
	o->payload_max = (*t)->payload_max;
	uint64_t frame = gen_frame_bytes_max(o);
	if (frame > o->payload_max) {
		(*t)->ops->destroy(*t);
		usage_error("frames of up to %" PRIu64 " bytes do not fit this transport's %zu:"
			    " send fewer or smaller records per frame, or use --tcp",
			    frame, o->payload_max);
	}
	return EXIT_OK;
}

/* The exit status the counters call for, after checking they add up. */
static int verdict(const struct gen_options *o, const struct gen_stats *s)
{
	if (o->no_ack)
		return s->send_errors == 0 && s->tx_dropped == 0 ? EXIT_OK : EXIT_FAIL;
	SL_ASSERT(s->frames_acked + s->failed + s->lost == s->frames_sent);
	SL_ASSERT(s->records_acked + s->records_failed + s->records_lost == s->records_sent);
	if (s->lost || s->failed || s->bad_acks)
		return EXIT_FAIL;
	return EXIT_OK;
}

static int run(struct gen_options *o, struct gen_payload *p)
{
	struct gen_stats stats = {0};
	struct gen_hist *hist = calloc(1, sizeof(*hist));
	struct gen_transport *t = NULL;
	FILE *acks = NULL;
	int status = EXIT_FAIL;

	if (hist == NULL) {
		fprintf(stderr, "sluice-gen: out of memory\n");
		return EXIT_FAIL;
	}
	if (o->record_acks[0]) {
		acks = fopen(o->record_acks, "we");
		if (acks == NULL) {
			fprintf(stderr, "sluice-gen: %s: %s\n", o->record_acks,
				sl_strerror(-errno));
			goto out;
		}
	}
	if (open_transport(o, &stats, &t) != EXIT_OK)
		goto out;
	int rc = gen_engine_run(o, t, p, &stats, hist, acks, &stop_requested);
	t->ops->destroy(t);
	if (rc == -ENOMEM) {
		fprintf(stderr, "sluice-gen: out of memory\n");
		goto out;
	}
	gen_report(stdout, o, &stats, hist, o->json);
	status = rc == 0 ? verdict(o, &stats) : EXIT_FAIL;
	if (acks && (fflush(acks) != 0 || ferror(acks))) {
		fprintf(stderr, "sluice-gen: %s: write failed\n", o->record_acks);
		status = EXIT_FAIL;
	}
out:
	if (acks)
		fclose(acks);
	free(hist);
	return status;
}

int main(int argc, char **argv)
{
	static struct gen_options o;
	struct gen_payload *p = NULL;

	parse_args(argc, argv, &o);
	o.payload_max = SL_SLW1_FRAME_MAX;
	if (gen_frame_bytes_max(&o) > SL_SLW1_FRAME_MAX)
		usage_error("frames of up to %" PRIu64 " bytes exceed SLW1's %u",
			    gen_frame_bytes_max(&o), (unsigned)SL_SLW1_FRAME_MAX);
	if (gen_payload_create(&o, &p) != 0) {
		fprintf(stderr, "sluice-gen: out of memory\n");
		return EXIT_FAIL;
	}
	int status;
	if (o.dump_frame) {
		status = dump_frame(&o, p);
	} else {
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		status = run(&o, p);
	}
	gen_payload_destroy(p);
	return status;
}
