/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice: the operator's command-line tool. Global options come first
 * (--endpoint, --json, --help, --version), then a command path looked up in
 * one static table of {name, summary, usage, handler} entries; a group entry
 * (such as `config` or `segment`) has children instead of a handler.
 * `segment verify|dump` read segment files directly, through the same
 * scanner recovery uses, and need no daemon; `stream`, `put`, `get` and
 * `tail` talk to the Kinesis API at the endpoint (cli_kinesis.c).
 *
 * Output is for people by default and one compact JSON document per line
 * with --json. Exit status: 0 success, 1 the operation could not be carried
 * out (unreadable file, write error), 2 bad usage or invalid input (unknown
 * command or option, bad endpoint, invalid configuration).
 *
 * Every input is bounded: arguments are measured with strnlen before use,
 * the endpoint is at most ENDPOINT_LEN_MAX bytes, the command path at most
 * CMD_DEPTH_MAX deep, and values echoed back in messages are cut and cleaned.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sluice/config.h>
#include <sluice/segment.h>
#include <sluice/segscan.h>
#include <sluice/u128.h>

#include <sluice/alloc.h>

#include "cli.h"
#include "sl_build.h"

#define ENDPOINT_DEFAULT "http://127.0.0.1:4567"
#define ENDPOINT_ENV     "SLUICE_ENDPOINT"
#define ENDPOINT_LEN_MAX 512
#define CMD_DEPTH_MAX    4
#define ARG_LEN_MAX      4096 /* longer arguments are refused outright */
#define OVERRIDE_MAX     256  /* --section.key=value pairs per invocation */
#define OVERRIDE_KEY_MAX 128
#define FORMAT_LEN_MAX   (1u << 20) /* sl_config_format output we accept */
#define USAGE_COLUMN     18
#define REASON_MAX       160             /* why a segment walk stopped, in a phrase */
#define ISO_SECONDS_MAX  253402300799ull /* 9999-12-31T23:59:59 UTC */
#define KEY_SHOW_MAX     64              /* characters of a record key printed */
#define DATA_SHOW_BYTES  32              /* bytes of record data printed, in hex */
#define PREAD_EINTR_MAX  64              /* interrupted preads retried per call */

struct cmd;
typedef int cmd_handler_fn(struct cli *cli, int argc, char **argv);

/*
 * One command. A leaf has a handler and no children; a group has children
 * (terminated by an entry with a NULL name) and no handler. `usage` is the
 * argument synopsis, optionally followed by lines of detail.
 */
struct cmd {
	const char *name;
	const char *summary;
	const char *usage;
	cmd_handler_fn *handler;
	const struct cmd *sub;
};

/* The command path walked so far, root first, for messages and usage. */
struct trail {
	const struct cmd *node[CMD_DEPTH_MAX];
	unsigned depth;
};

/* A --section.key=value (or --section.key value) from the command line. */
struct override {
	char key[OVERRIDE_KEY_MAX];
	const char *value; /* borrowed from argv */
};

/* Arguments shared by `config check` and `config show`. */
struct config_args {
	const char *file; /* NULL: defaults and overrides only */
	bool doc;
	unsigned override_count;
	struct override override[OVERRIDE_MAX];
};

static int cmd_version(struct cli *cli, int argc, char **argv);
static int cmd_config_check(struct cli *cli, int argc, char **argv);
static int cmd_config_show(struct cli *cli, int argc, char **argv);
static int cmd_segment_verify(struct cli *cli, int argc, char **argv);
static int cmd_segment_dump(struct cli *cli, int argc, char **argv);
static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct cmd config_cmds[] = {
    {"check", "Validate a configuration exactly as sluiced does",
     "[FILE] [--section.key=value ...]\n"
     "\n"
     "Applies the built-in defaults, then FILE if given, then each override\n"
     "(--section.key=value or --section.key value), then the cross-key checks.\n"
     "Prints \"FILE: ok\", or the first error on stderr.\n"
     "Exit status: 0 valid, 2 invalid, 1 FILE could not be read.\n",
     cmd_config_check, NULL},
    {"show", "Print the effective configuration",
     "[FILE] [--section.key=value ...] [--doc]\n"
     "\n"
     "Builds the configuration as `config check` does and prints it as INI\n"
     "(with --doc, each key preceded by its documentation and default), or\n"
     "with --json as an object {\"section.key\": \"value\", ...}, where a\n"
     "list's elements (dpdk.vdev, dpdk.pci) are joined by newlines.\n",
     cmd_config_show, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const struct cmd segment_cmds[] = {
    {"verify", "Check segment files batch by batch",
     "PATH...\n"
     "\n"
     "Reads each file's header and walks every batch, checking its CRC and\n"
     "structure, and that sequence numbers run on without a gap from the\n"
     "header's base_seq. Prints one line per file:\n"
     "  PATH: ok: N batches, M records, seq A..B, arrival T1..T2\n"
     "  PATH: torn tail at offset X (K bytes after the last good batch)\n"
     "  PATH: corrupt batch at offset X (REASON); valid data follows at offset Y\n"
     "  PATH: bad header (REASON)\n"
     "Times are ISO 8601 UTC. With --json, an array of one object per file:\n"
     "{path, ok, batches, records, first_seq, last_seq, first_arrival_ms,\n"
     "last_arrival_ms, problem}, problem null or {kind (torn_tail, corrupt,\n"
     "bad_header, io_error), offset, valid_after, reason}; sequence numbers\n"
     "are decimal strings.\n"
     "Exit status: 0 every file ok, 1 any file not ok (a torn tail included)\n"
     "or unreadable, 2 bad usage.\n",
     cmd_segment_verify, NULL},
    {"dump", "Print a segment file's header, batches and records",
     "PATH [--records] [--limit N]\n"
     "\n"
     "Prints the header, then one line per batch (offset, length, base_seq,\n"
     "counts, arrival range; \"overlapped\" when it was written while an older\n"
     "commit was in flight) and its dedupe entries; with --records one line\n"
     "per record (sequence number, arrival, key, data length and the first\n"
     "32 data bytes in hex). --limit N prints at most N batches. Stops at the\n"
     "first bad batch with the line `segment verify` would print.\n"
     "With --json, one object {header, batches: [{offset, ..., dedupe: [...],\n"
     "records: [...] (with --records)}], limited, problem}.\n"
     "Exit status: 0 no problem met, 1 a problem or an unreadable file,\n"
     "2 bad usage.\n",
     cmd_segment_dump, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Exit status of the commands that call the API. */
#define API_EXIT_STATUS                                                                            \
	"Exit status: 0 done, 1 the server refused (its exception and message are\n"               \
	"printed on one line) or could not be reached, 2 bad usage.\n"

static const struct cmd stream_cmds[] = {
    {"create", "Create a stream and wait until it is ACTIVE",
     "NAME [--shards N | --on-demand] [--durability fsync|write|none] [--no-wait]\n"
     "\n"
     "Creates the stream with N shards (default 1; the hash key space split\n"
     "evenly) or in on-demand mode, then waits (at most 60 s) until it is ACTIVE\n"
     "unless --no-wait. --durability says when a write is acknowledged: after\n"
     "fdatasync (fsync, the default), after the write (write), or once queued\n"
     "(none); it is sent as the sluice extension SluiceDurability. Prints its\n"
     "name, shard count and status; with --json\n"
     "its DescribeStreamSummary object.\n" API_EXIT_STATUS,
     sl_cli_stream_create, NULL},
    {"list", "List the streams",
     "\n"
     "\n"
     "One line per stream: name, status, mode, creation time. With --json\n"
     "{\"StreamNames\": [...], \"StreamSummaries\": [...]}, every page gathered.\n" API_EXIT_STATUS,
     sl_cli_stream_list, NULL},
    {"describe", "Show a stream, its tags and its shards",
     "NAME\n"
     "\n"
     "The stream's summary, its tags, and each shard: id, hash key range,\n"
     "first sequence number, parent, end. With --json\n"
     "{\"StreamDescriptionSummary\": {...}, \"Shards\": [...], \"Tags\": [...]}.\n" API_EXIT_STATUS,
     sl_cli_stream_describe, NULL},
    {"delete", "Delete a stream and its records",
     "NAME [--force]\n"
     "\n"
     "--force deletes it even when consumers are registered.\n" API_EXIT_STATUS,
     sl_cli_stream_delete, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const struct cmd root_cmds[] = {
    {"version", "Print the version and the allocator", "", cmd_version, NULL},
    {"config", "Check or show a configuration", "<command> [args]", NULL, config_cmds},
    {"segment", "Verify or dump segment files offline", "<command> [args]", NULL, segment_cmds},
    {"stream", "Create, list, describe or delete streams", "<command> [args]", NULL, stream_cmds},
    {"put", "Write one record",
     "STREAM KEY [DATA] [--hash-key H]\n"
     "\n"
     "Writes one record with partition key KEY; its data is DATA's bytes, or\n"
     "standard input (at most 10 MiB) when DATA is absent or '-' (put -- before\n"
     "a DATA that starts with '-'). --hash-key routes by the explicit hash key H\n"
     "(decimal, 0..2^128-1) instead of MD5(KEY). Prints the shard and the\n"
     "sequence number; with --json {\"ShardId\", \"SequenceNumber\", ...}.\n" API_EXIT_STATUS,
     sl_cli_put, NULL},
    {"get", "Read records up to the newest",
     "STREAM [--shard ID] [--from POSITION] [--limit N]\n"
     "\n"
     "Reads every shard in turn (or only shard ID) from POSITION up to the\n"
     "newest record, at most N records in all (default 1000, at most 1000000).\n"
     "POSITION: trim-horizon (the default), latest, at-seq SEQ, after-seq SEQ\n"
     "(these two need --shard), at-time T (T in ISO 8601 UTC such as\n"
     "2024-05-01T12:00:00.250Z, or seconds since the epoch).\n"
     "One line per record: shard, sequence number, arrival time, partition key,\n"
     "data (as text when it is printable UTF-8, else its length and first bytes\n"
     "in hex). With --json one object per line: {ShardId, SequenceNumber,\n"
     "ApproximateArrivalTimestamp (seconds since the epoch), PartitionKey,\n"
     "Data (base64)}.\n" API_EXIT_STATUS,
     sl_cli_get, NULL},
    {"tail", "Follow a stream until Ctrl-C",
     "STREAM [--from latest|trim-horizon] [--interval MS]\n"
     "\n"
     "Follows every shard, from the newest record on (or the oldest), and\n"
     "prints records as they arrive, in the format of `get`; when no shard had\n"
     "anything it waits MS milliseconds (default 200) before asking again.\n"
     "Shards created later are followed from their start within 10 s.\n"
     "Ctrl-C or SIGTERM stops it with exit status 0.\n" API_EXIT_STATUS,
     sl_cli_tail, NULL},
    {"stats", "Show the appliance's counters",
     "[--all]\n"
     "\n"
     "Reads every counter of the running sluiced (GET /metrics on the API\n"
     "endpoint) and prints them by set: ingest (every SLW1 door), dpdk_rx,\n"
     "kernel ingest, http, ..., only the non-zero ones unless --all, then the\n"
     "ingest accounting: frames that reached the ingest core against the sum\n"
     "of their outcome counters (the rest are still being stored). With --json\n"
     "one object {SET: {COUNTER: value}}.\n" API_EXIT_STATUS,
     sl_cli_stats, NULL},
    {"help", "Show help for a command", "[COMMAND ...]", cmd_help, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const struct cmd root = {
    "sluice",
    "Operator CLI for the sluice streaming appliance.",
    "<command> [args]\n"
    "\n"
    "Global options (before the command):\n"
    "  --endpoint URL    API endpoint: http://HOST[:PORT] or https://HOST[:PORT]\n"
    "                    (default $" ENDPOINT_ENV ", else " ENDPOINT_DEFAULT ")\n"
    "  --json            machine-readable output, one JSON document per line\n"
    "  -h, --help        show this help\n"
    "  --version         print the version\n",
    NULL,
    root_cmds,
};

/* Quote user input in a message (cli.h). */
const char *sl_cli_echo(const char *s, char *out)
{
	size_t len = strnlen(s, ECHO_LEN_MAX + 1);
	size_t n = len > ECHO_LEN_MAX ? ECHO_LEN_MAX : len;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	strcpy(out + n, len > n ? "..." : "");
	return out;
}

static bool is_help_flag(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static void trail_print(const struct trail *t, FILE *out)
{
	for (unsigned i = 0; i < t->depth; i++)
		fprintf(out, "%s%s", i ? " " : "", t->node[i]->name);
}

/* "Try 'sluice config --help'." after a usage error. */
static void print_hint(const struct trail *t)
{
	fputs("Try '", stderr);
	trail_print(t, stderr);
	fputs(" --help'.\n", stderr);
}

/* List a group's children; nested groups list theirs, indented by name. */
static void print_children(const struct cmd *group, const char *prefix, FILE *out)
{
	for (const struct cmd *c = group->sub; c->name; c++) {
		char name[64];
		/* Command names are short words: the nesting is two deep. */
		int n = snprintf(name, sizeof(name), "%s%s%s", prefix, c->name, c->sub ? " " : "");
		SL_ASSERT(n > 0 && (size_t)n < sizeof(name));

		if (c->sub) {
			print_children(c, name, out);
			continue;
		}
		fprintf(out, "  %-*s%s\n", USAGE_COLUMN - 2, name, c->summary);
	}
}

static void print_usage(const struct trail *t, FILE *out)
{
	const struct cmd *node = t->node[t->depth - 1];
	size_t synopsis_len = strcspn(node->usage, "\n");

	fputs("usage: sluice [--endpoint URL] [--json]", out);
	for (unsigned i = 1; i < t->depth; i++)
		fprintf(out, " %s", t->node[i]->name);
	fprintf(out, "%s%.*s\n\n%s\n", synopsis_len ? " " : "", (int)synopsis_len, node->usage,
		node->summary);
	if (node->usage[synopsis_len] != '\0')
		fputs(node->usage + synopsis_len + 1, out);
	if (!node->sub)
		return;
	fputs("\nCommands:\n", out);
	print_children(node, "", out);
	fputs("\nRun '", out);
	trail_print(t, out);
	fputs(" COMMAND --help' for details.\n", out);
}

static const struct cmd *find_child(const struct cmd *group, const char *name)
{
	for (const struct cmd *c = group->sub; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/*
 * Report a bad argument to the command `path` ("config check"); always
 * EXIT_USAGE.
 */
int sl_cli_bad_arg(const char *path, const char *what, const char *arg)
{
	char echo[ECHO_LEN_MAX + 4];

	fprintf(stderr, "sluice %s: %s '%s'\n", path, what, sl_cli_echo(arg, echo));
	fprintf(stderr, "Try 'sluice %s --help'.\n", path);
	return EXIT_USAGE;
}

/* ---- endpoint ---------------------------------------------------------- */

/*
 * Parse a port of 1..5 decimal digits into 1..65535. 0 or -EINVAL with
 * `why` filled.
 */
static int parse_port(const char *s, size_t len, uint16_t *out, char *why, size_t why_cap)
{
	unsigned long v = 0;

	if (len == 0) {
		snprintf(why, why_cap, "the port after ':' is empty");
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i])) {
			snprintf(why, why_cap, "the port must be decimal digits");
			return -EINVAL;
		}
		if (i < 6)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (len > 5 || v < 1 || v > 65535) {
		snprintf(why, why_cap, "the port %.*s is out of range 1..65535",
			 (int)(len > 8 ? 8 : len), s);
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

/* A host name or IPv4 literal: letters, digits, '-', '.', '_'. */
static bool host_chars_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}

/*
 * Split "host[:port]" or "[v6][:port]" (the authority, `len` bytes, no
 * user-info) into ep->host and ep->port. 0 or -EINVAL with `why` filled.
 */
static int parse_authority(const char *a, size_t len, struct endpoint *ep, char *why,
			   size_t why_cap)
{
	const char *host = a, *colon;
	size_t host_len;
	bool v6 = len > 0 && a[0] == '[';

	if (v6) {
		const char *close = memchr(a, ']', len);

		if (!close) {
			snprintf(why, why_cap, "'[' opens an IPv6 address that ']' never closes");
			return -EINVAL;
		}
		host = a + 1;
		host_len = (size_t)(close - host);
		colon = close + 1 < a + len ? close + 1 : NULL;
		if (colon && *colon != ':') {
			snprintf(why, why_cap, "unexpected text after ']'");
			return -EINVAL;
		}
	} else {
		colon = memchr(a, ':', len);
		host_len = colon ? (size_t)(colon - a) : len;
	}
	if (host_len == 0) {
		snprintf(why, why_cap, "the host is empty");
		return -EINVAL;
	}
	if (host_len > ENDPOINT_HOST_MAX) {
		snprintf(why, why_cap, "the host is longer than %d bytes", ENDPOINT_HOST_MAX);
		return -EINVAL;
	}
	if (v6 ? strspn(host, "0123456789abcdefABCDEF:.") < host_len
	       : !host_chars_ok(host, host_len)) {
		snprintf(why, why_cap, "the host contains a character not allowed in a host");
		return -EINVAL;
	}
	memcpy(ep->host, host, host_len);
	ep->host[host_len] = '\0';
	if (!colon)
		return 0;
	return parse_port(colon + 1, (size_t)(a + len - colon - 1), &ep->port, why, why_cap);
}

/*
 * Parse and check an endpoint URL: http://HOST[:PORT][/PATH] (port 80 by
 * default) or https://... (443). Returns 0, or -EINVAL with `why` saying
 * what is wrong in a phrase. `url` is borrowed and must outlive `ep`.
 */
static int parse_endpoint(const char *url, struct endpoint *ep, char *why, size_t why_cap)
{
	size_t len = strnlen(url, ENDPOINT_LEN_MAX + 1);
	const char *auth;
	size_t auth_len;

	memset(ep, 0, sizeof(*ep));
	if (len > ENDPOINT_LEN_MAX) {
		snprintf(why, why_cap, "longer than %d bytes", ENDPOINT_LEN_MAX);
		return -EINVAL;
	}
	if (strncasecmp(url, "http://", 7) == 0) {
		auth = url + 7;
		ep->port = 80;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		auth = url + 8;
		ep->port = 443;
		ep->tls = true;
	} else {
		snprintf(why, why_cap, "expected http://HOST[:PORT] or https://HOST[:PORT]");
		return -EINVAL;
	}
	auth_len = strcspn(auth, "/?#");
	if (memchr(auth, '@', auth_len)) {
		snprintf(why, why_cap, "user information (user@host) is not supported");
		return -EINVAL;
	}
	if (auth[auth_len] != '\0' && auth[auth_len] != '/') {
		snprintf(why, why_cap, "a query or fragment is not allowed");
		return -EINVAL;
	}
	ep->url = url;
	ep->path = auth + auth_len;
	return parse_authority(auth, auth_len, ep, why, why_cap);
}

/* Set cli->ep from `url`; `source` names where it came from in the message. */
static int set_endpoint(struct cli *cli, const char *url, const char *source)
{
	char why[128], echo[ECHO_LEN_MAX + 4];

	if (parse_endpoint(url, &cli->ep, why, sizeof(why)) == 0)
		return 0;
	fprintf(stderr, "sluice: invalid %s '%s': %s\n", source, sl_cli_echo(url, echo), why);
	return -EINVAL;
}

/* ---- JSON output ------------------------------------------------------- */

/*
 * A JSON string for `s`. jansson refuses invalid UTF-8 (a file name or a
 * config value may hold any bytes), so such text is sent with the bad bytes
 * replaced by '?'. NULL only when out of memory.
 */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *clean;

	if (j)
		return j;
	clean = strdup(s);
	if (!clean)
		return NULL;
	for (char *p = clean; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_string(clean);
	free(clean);
	return j;
}

/* Print `obj` compactly on one line of stdout and release it. */
int sl_cli_json_print(json_t *obj)
{
	char *text;

	if (!obj) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	puts(text);
	free(text);
	return EXIT_OK;
}

/* Set obj[key] = string(value); false when out of memory. */
static bool json_put(json_t *obj, const char *key, const char *value)
{
	json_t *v = json_text(value);

	return v && json_object_set_new(obj, key, v) == 0;
}

/* ---- version ----------------------------------------------------------- */

static int print_version(const struct cli *cli)
{
	char alloc[128];
	json_t *obj;

	sl_allocator_describe(alloc, sizeof(alloc));
	if (!cli->json) {
		printf("sluice %s (allocator %s)\n", SL_VERSION, alloc);
		return EXIT_OK;
	}
	obj = json_object();
	if (obj && (!json_put(obj, "version", SL_VERSION) || !json_put(obj, "allocator", alloc))) {
		json_decref(obj);
		obj = NULL;
	}
	return sl_cli_json_print(obj);
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli->json = true;
		else
			return sl_cli_bad_arg(
			    "version", argv[i][0] == '-' ? "unknown option" : "unexpected argument",
			    argv[i]);
	}
	return print_version(cli);
}

/* ---- config ------------------------------------------------------------ */

/*
 * Take "--section.key=value" or "--section.key value" at argv[*i] into
 * a->override. Advances *i past a separate value. EXIT_OK or EXIT_USAGE.
 */
static int take_override(const char *path, struct config_args *a, int argc, char **argv, int *i)
{
	const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	size_t key_len = eq ? (size_t)(eq - arg) : strlen(arg);
	struct override *o;

	if (a->override_count == OVERRIDE_MAX)
		return sl_cli_bad_arg(path, "too many overrides at", argv[*i]);
	if (key_len >= OVERRIDE_KEY_MAX)
		return sl_cli_bad_arg(path, "key too long", argv[*i]);
	o = &a->override[a->override_count];
	memcpy(o->key, arg, key_len);
	o->key[key_len] = '\0';
	if (eq) {
		o->value = eq + 1;
	} else if (*i + 1 < argc) {
		o->value = argv[++*i];
	} else {
		return sl_cli_bad_arg(path, "missing value for", argv[*i]);
	}
	a->override_count++;
	return EXIT_OK;
}

/* "--section.key..." with the dot in the key, before any '='. */
static bool is_override(const char *arg)
{
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');

	return strncmp(arg, "--", 2) == 0 && dot && dot > arg + 2 && (!eq || dot < eq);
}

/*
 * Parse the arguments of `config check|show`: one optional FILE, overrides,
 * --json, and --doc when `allow_doc`. EXIT_OK or EXIT_USAGE.
 */
static int parse_config_args(struct cli *cli, const char *path, bool allow_doc, int argc,
			     char **argv, struct config_args *a)
{
	bool options_done = false;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		int rc;

		if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->file)
				return sl_cli_bad_arg(path, "unexpected argument", arg);
			a->file = arg;
		} else if (strcmp(arg, "--") == 0) {
			options_done = true;
		} else if (strcmp(arg, "--json") == 0) {
			cli->json = true;
		} else if (allow_doc && strcmp(arg, "--doc") == 0) {
			a->doc = true;
		} else if (is_override(arg)) {
			rc = take_override(path, a, argc, argv, &i);
			if (rc != EXIT_OK)
				return rc;
		} else {
			return sl_cli_bad_arg(path, "unknown option", arg);
		}
	}
	return EXIT_OK;
}

/*
 * Build the configuration as the daemon does: defaults, the file, the
 * overrides in order, then the cross-key checks. Returns 0 or the negative
 * errno of the first failure, with err->msg set.
 */
static int build_config(const struct config_args *a, struct sl_config *cfg,
			struct sl_config_error *err)
{
	int rc;

	memset(err, 0, sizeof(*err));
	sl_config_defaults(cfg);
	if (a->file) {
		rc = sl_config_load_file(cfg, a->file, err);
		if (rc < 0) {
			if (err->msg[0] == '\0')
				snprintf(err->msg, sizeof(err->msg), "%s: %s", a->file,
					 strerror(-rc));
			return rc;
		}
	}
	for (unsigned i = 0; i < a->override_count; i++) {
		rc = sl_config_set(cfg, a->override[i].key, a->override[i].value, err);
		if (rc < 0)
			return rc;
	}
	return sl_config_validate(cfg, err);
}

/* EXIT_USAGE for an invalid configuration, EXIT_FAIL when it could not be read. */
static int config_exit_code(int rc)
{
	return (rc == -EINVAL || rc == -E2BIG) ? EXIT_USAGE : EXIT_FAIL;
}

/* Report a failed build_config in the chosen output mode. */
static int report_config_error(const struct cli *cli, int rc, const struct sl_config_error *err)
{
	json_t *obj;

	if (!cli->json) {
		fprintf(stderr, "%s\n", err->msg);
		return config_exit_code(rc);
	}
	obj = json_object();
	if (obj && (json_object_set_new(obj, "ok", json_false()) != 0 ||
		    !json_put(obj, "error", err->msg))) {
		json_decref(obj);
		obj = NULL;
	}
	if (sl_cli_json_print(obj) != EXIT_OK)
		return EXIT_FAIL;
	return config_exit_code(rc);
}

/*
 * The common front of `config check` and `config show`: parse the
 * arguments and build the configuration as the daemon would. Returns
 * EXIT_OK with *a and *cfg filled (the caller frees both), or the exit code
 * after reporting the problem.
 */
static int load_config_cmd(struct cli *cli, const char *name, bool allow_doc, int argc, char **argv,
			   struct config_args **a, struct sl_config **cfg)
{
	struct sl_config_error err;
	int rc;

	*a = malloc(sizeof(**a));
	*cfg = malloc(sizeof(**cfg));
	if (*a == NULL || *cfg == NULL) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	rc = parse_config_args(cli, name, allow_doc, argc, argv, *a);
	if (rc != EXIT_OK)
		return rc;
	rc = build_config(*a, *cfg, &err);
	return rc < 0 ? report_config_error(cli, rc, &err) : EXIT_OK;
}

static int cmd_config_check(struct cli *cli, int argc, char **argv)
{
	struct config_args *a = NULL;
	struct sl_config *cfg = NULL;
	int rc = load_config_cmd(cli, "config check", false, argc, argv, &a, &cfg);

	if (rc != EXIT_OK)
		goto out;
	if (cli->json) {
		json_t *obj = json_object();

		if (obj && json_object_set_new(obj, "ok", json_true()) != 0) {
			json_decref(obj);
			obj = NULL;
		}
		rc = sl_cli_json_print(obj);
	} else {
		printf("%s: ok\n", a->file ? a->file : "configuration");
	}
out:
	free(cfg);
	free(a);
	return rc;
}

/* Trim ASCII blanks from both ends of [*s, *s + *len). */
static void trim(char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
	(*s)[*len] = '\0';
}

/*
 * Set obj[key] = value, or, when the key is already there (a list such as
 * dpdk.vdev is written one element per line), append "\n" and the value, so
 * every value stays a string and no element is lost. false when out of memory.
 */
static bool json_put_append(json_t *obj, const char *key, const char *value)
{
	json_t *old = json_object_get(obj, key);
	size_t old_len, value_len;
	char *joined;
	bool ok;

	if (!old || !json_is_string(old))
		return json_put(obj, key, value);
	old_len = json_string_length(old);
	value_len = strlen(value);
	joined = malloc(old_len + 1 + value_len + 1);
	if (!joined)
		return false;
	memcpy(joined, json_string_value(old), old_len);
	joined[old_len] = '\n';
	memcpy(joined + old_len + 1, value, value_len + 1);
	ok = json_put(obj, key, joined);
	free(joined);
	return ok;
}

/*
 * Add one INI line (NUL-terminated, writable) to `obj` as "section.key":
 * "value", tracking the current section in `section`. Comments, blank lines
 * and lines without '=' are skipped. false when out of memory.
 */
static bool ini_line_to_json(char *line, char *section, size_t section_cap, json_t *obj)
{
	size_t len = strlen(line), key_len, value_len;
	char *key, *value, *eq, dotted[SL_CONFIG_LINE_MAX + 2];

	trim(&line, &len);
	if (len == 0 || line[0] == ';' || line[0] == '#')
		return true;
	if (line[0] == '[') {
		char *close = strchr(line, ']');

		key_len = close ? (size_t)(close - line - 1) : len - 1;
		snprintf(section, section_cap, "%.*s", (int)key_len, line + 1);
		return true;
	}
	eq = strchr(line, '=');
	if (!eq)
		return true;
	*eq = '\0';
	key = line;
	key_len = (size_t)(eq - line);
	value = eq + 1;
	value_len = len - key_len - 1;
	trim(&key, &key_len);
	trim(&value, &value_len);
	snprintf(dotted, sizeof(dotted), "%s.%s", section, key);
	return json_put_append(obj, dotted, value);
}

/*
 * Turn sl_config_format's INI text (writable, NUL-terminated) into a flat
 * JSON object {"section.key": "value"}; list elements are joined by "\n".
 */
static json_t *ini_to_json(char *text)
{
	json_t *obj = json_object();
	char section[SL_CONFIG_LINE_MAX + 1] = "";

	if (!obj)
		return NULL;
	for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!ini_line_to_json(line, section, sizeof(section), obj)) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

/* The formatted configuration in a fresh buffer (caller frees), or NULL. */
static char *format_config(const struct sl_config *cfg, bool doc)
{
	size_t need = sl_config_format(cfg, doc, NULL, 0);
	char *buf;

	if (need >= FORMAT_LEN_MAX) {
		fprintf(stderr, "sluice: formatted configuration too large (%zu bytes)\n", need);
		return NULL;
	}
	buf = malloc(need + 1);
	if (!buf) {
		fputs("sluice: out of memory\n", stderr);
		return NULL;
	}
	if (sl_config_format(cfg, doc, buf, need + 1) != need) {
		fputs("sluice: configuration changed length while formatting\n", stderr);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Print the built configuration as INI or, with --json, a flat object. */
static int show_config(const struct cli *cli, const struct sl_config *cfg, bool doc)
{
	char *text = format_config(cfg, doc && !cli->json);
	int rc = EXIT_OK;

	if (!text)
		return EXIT_FAIL;
	if (cli->json)
		rc = sl_cli_json_print(ini_to_json(text));
	else
		fputs(text, stdout);
	free(text);
	return rc;
}

static int cmd_config_show(struct cli *cli, int argc, char **argv)
{
	struct config_args *a = NULL;
	struct sl_config *cfg = NULL;
	int rc = load_config_cmd(cli, "config show", true, argc, argv, &a, &cfg);

	if (rc == EXIT_OK)
		rc = show_config(cli, cfg, a->doc);
	free(cfg);
	free(a);
	return rc;
}

/* ---- segment: walking a file ------------------------------------------- */

/* Why a walk over a segment file stopped before its clean end. */
enum seg_kind {
	SEG_FINE = 0,
	SEG_TORN_TAIL,  /* a bad or cut batch with nothing valid after it */
	SEG_CORRUPT,    /* a bad or out-of-sequence batch in the middle of the log */
	SEG_BAD_HEADER, /* the segment header does not check */
	SEG_IO_ERROR,   /* the file could not be opened or read */
};

static const char *const seg_kind_name[] = {
    [SEG_FINE] = "ok",           [SEG_TORN_TAIL] = "torn_tail",
    [SEG_CORRUPT] = "corrupt",   [SEG_BAD_HEADER] = "bad_header",
    [SEG_IO_ERROR] = "io_error",
};

struct seg_problem {
	enum seg_kind kind;
	uint64_t off;         /* where: the batch's offset, 0 for the header */
	uint64_t valid_after; /* offset of the next valid batch; 0: none */
	char reason[REASON_MAX];
};

/* One segment file being walked, owned by the command walking it. */
struct seg_file {
	const char *path; /* borrowed from argv */
	int fd;
	uint64_t size;
	struct sl_seg_scan scan;
	struct sl_seg_header header;
	sl_u128 next_seq;     /* the base_seq the next batch must have */
	uint64_t batch_count; /* batches returned so far */
	uint64_t batch_off;   /* offset of the batch returned last */
	struct seg_problem problem;
};

/* What `segment verify` reports of a file: the part that checked out. */
struct seg_summary {
	uint64_t batches;
	uint64_t records;
	sl_u128 first_seq;
	sl_u128 last_seq;
	uint64_t first_arrival_ms;
	uint64_t last_arrival_ms;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * sl_seg_pread_fn over a plain file descriptor (ctx points at the int):
 * reads until len bytes or the end of the file. Bytes read, or -errno.
 */
static ssize_t fd_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(const int *)ctx;
	size_t done = 0;
	unsigned eintr = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR && eintr++ < PREAD_EINTR_MAX)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Record why the walk stopped; returns -EIO for an I/O error, else -EBADMSG. */
__attribute__((format(printf, 4, 5))) static int seg_fail(struct seg_file *f, enum seg_kind kind,
							  uint64_t off, const char *fmt, ...)
{
	va_list ap;

	f->problem.kind = kind;
	f->problem.off = off;
	f->problem.valid_after = 0;
	va_start(ap, fmt);
	vsnprintf(f->problem.reason, sizeof(f->problem.reason), fmt, ap);
	va_end(ap);
	return kind == SEG_IO_ERROR ? -EIO : -EBADMSG;
}

/* Turn sl_seg_scan_header's error into f->problem, saying what is wrong. */
static int header_problem(struct seg_file *f, int rc)
{
	uint8_t head[6];

	if (rc == -EAGAIN)
		return seg_fail(f, SEG_BAD_HEADER, 0,
				"%" PRIu64 " bytes, shorter than the %u-byte header", f->size,
				SL_SEG_HEADER_BYTES);
	if (rc != -EBADMSG && rc != -EPROTO)
		return seg_fail(f, SEG_IO_ERROR, 0, "read error: %s", strerror(-rc));
	if (fd_pread(&f->fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
		return seg_fail(f, SEG_IO_ERROR, 0, "read error: short read");
	if (rc == -EPROTO)
		return seg_fail(f, SEG_BAD_HEADER, 0, "format version %u; this tool reads %u",
				(unsigned)head[4] << 8 | head[5], SL_SEG_VERSION);
	if (be32(head) != SL_SEG_MAGIC)
		return seg_fail(f, SEG_BAD_HEADER, 0, "no segment magic: not a segment file");
	return seg_fail(f, SEG_BAD_HEADER, 0, "checksum or fields do not check");
}

/*
 * Open `path` and check its segment header. 0 with the walk at the first
 * batch, or < 0 with f->problem saying why (bad_header, io_error). Call
 * seg_close in either case.
 */
static int seg_open(struct seg_file *f, const char *path)
{
	struct stat st;
	int rc;

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return seg_fail(f, SEG_IO_ERROR, 0, "cannot open: %s", strerror(errno));
	if (fstat(f->fd, &st) != 0)
		return seg_fail(f, SEG_IO_ERROR, 0, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return seg_fail(f, SEG_IO_ERROR, 0, "not a regular file");
	f->size = (uint64_t)st.st_size;
	sl_seg_scan_init(&f->scan, fd_pread, &f->fd, f->size);
	rc = sl_seg_scan_header(&f->scan, &f->header);
	if (rc != 0)
		return header_problem(f, rc);
	f->next_seq = f->header.base_seq;
	return 0;
}

static void seg_close(struct seg_file *f)
{
	sl_seg_scan_fini(&f->scan);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/*
 * Say in a phrase why the batch at `off` failed with `rc` (-EAGAIN or
 * -EBADMSG), from its header read again on its own.
 */
static void describe_bad_batch(struct seg_file *f, uint64_t off, int rc, char *out, size_t cap)
{
	uint8_t head[SL_SEG_BATCH_HEADER_BYTES];
	struct sl_seg_batch b;
	ssize_t n = fd_pread(&f->fd, head, sizeof(head), off);

	if (n < 0)
		snprintf(out, cap, "batch header unreadable: %s", strerror((int)-n));
	else if ((size_t)n < sizeof(head))
		snprintf(out, cap, "the file ends %zd bytes into the batch header", n);
	else if (be32(head) != SL_SEG_BATCH_MAGIC)
		snprintf(out, cap, "no batch magic");
	else if (sl_seg_batch_header_decode(head, sizeof(head), &b) != 0)
		snprintf(out, cap, "batch header fields do not check");
	else if (rc == -EAGAIN || b.batch_len > f->size - off)
		snprintf(out, cap, "batch_len %" PRIu32 " runs past the end of the file",
			 b.batch_len);
	else
		snprintf(out, cap, "checksum or record layout does not check");
}

/*
 * Turn sl_seg_scan_next's error at f->scan.off into f->problem: a torn tail
 * when no valid batch follows, corruption when one does.
 */
static int batch_problem(struct seg_file *f, int rc)
{
	uint64_t off = f->scan.off;
	char reason[REASON_MAX];
	int64_t next;

	if (rc != -EAGAIN && rc != -EBADMSG)
		return seg_fail(f, SEG_IO_ERROR, off, "read error: %s", strerror(-rc));
	describe_bad_batch(f, off, rc, reason, sizeof(reason));
	next = sl_seg_scan_find_valid(&f->scan, off);
	if (next < 0)
		return seg_fail(f, SEG_IO_ERROR, off, "%s; then, searching on: %s", reason,
				strerror((int)-next));
	/* Batches written beside the bad one's commit (OVERLAPPED) and only
	 * those: commits in flight together at a crash, a torn tail as
	 * recovery judges it (docs/formats/segment.md). */
	unsigned younger = 0;
	int only = next > 0 ? sl_seg_scan_only_overlapped(&f->scan, (uint64_t)next, f->next_seq,
							  SL_SEG_OVERLAPPED_MAX, &younger)
			    : 0;
	if (only < 0)
		return seg_fail(f, SEG_IO_ERROR, off, "%s; then, searching on: %s", reason,
				strerror(-only));
	if (only > 0)
		rc = seg_fail(f, SEG_TORN_TAIL, off,
			      "%s; then %u batch(es) written while it was in flight, never acked",
			      reason, younger);
	else
		rc = seg_fail(f, next == 0 ? SEG_TORN_TAIL : SEG_CORRUPT, off, "%s", reason);
	f->problem.valid_after = (uint64_t)next;
	return rc;
}

/*
 * The next batch of f: 0 with *b and *bytes (valid until the next call),
 * 1 at the clean end of the file, < 0 with f->problem set. A batch whose
 * base_seq does not follow on from the batch before (for the first, from
 * the header's base_seq) is corruption.
 */
static int seg_next(struct seg_file *f, struct sl_seg_batch *b, const uint8_t **bytes)
{
	char want[SL_U128_DEC_BUF], got[SL_U128_DEC_BUF];
	uint64_t off = f->scan.off;
	int64_t next;
	int rc = sl_seg_scan_next(&f->scan, b, bytes);

	if (rc == 1)
		return 1;
	if (rc != 0)
		return batch_problem(f, rc);
	if (b->base_seq == f->next_seq) {
		f->next_seq = b->base_seq + b->record_count;
		f->batch_off = off;
		f->batch_count++;
		return 0;
	}
	sl_u128_to_dec(f->next_seq, want);
	sl_u128_to_dec(b->base_seq, got);
	rc = seg_fail(f, SEG_CORRUPT, off, "base_seq %s where %s%s was expected", got, want,
		      f->batch_count == 0 ? " (the header's)" : "");
	next = sl_seg_scan_find_valid(&f->scan, off);
	f->problem.valid_after = next > 0 ? (uint64_t)next : 0;
	return rc;
}

/* ---- segment: output helpers ------------------------------------------- */

/* Write a path for a one-line report: control bytes become '?'. */
static void put_path(const char *path)
{
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		putchar(c < 0x20 || c == 0x7f ? '?' : c);
	}
}

/* "2024-05-01T12:00:00.123Z" for ms since the epoch; "<ms>ms" past 9999. */
const char *sl_cli_iso_ms(uint64_t ms, char *out)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (ms / 1000 > ISO_SECONDS_MAX || !gmtime_r(&secs, &tm)) {
		snprintf(out, ISO_BUF, "%" PRIu64 "ms", ms);
		return out;
	}
	n = strftime(out, ISO_BUF, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, ISO_BUF - n, ".%03uZ", (unsigned)(ms % 1000));
	return out;
}

static const char *dec128(sl_u128 v, char *out)
{
	sl_u128_to_dec(v, out);
	return out;
}

/* Lower-case hex of p[0..len) into out (2 * len + 1 bytes). */
static const char *hex(const uint8_t *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
	return out;
}

/* A key is shown as text when every byte is printable ASCII other than '"', '\'. */
static bool key_is_text(const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (key[i] < 0x20 || key[i] >= 0x7f || key[i] == '"' || key[i] == '\\')
			return false;
	}
	return true;
}

/*
 * A record's key for display, at most KEY_SHOW_MAX characters (out holds
 * KEY_SHOW_MAX + 1): the text itself, or the hex of its first
 * KEY_SHOW_MAX / 2 bytes. Returns whether it is text.
 */
static bool key_show(const struct sl_seg_record *r, char *out)
{
	size_t len;

	if (key_is_text(r->key, r->key_len)) {
		len = r->key_len < KEY_SHOW_MAX ? r->key_len : KEY_SHOW_MAX;
		memcpy(out, r->key, len);
		out[len] = '\0';
		return true;
	}
	len = r->key_len < KEY_SHOW_MAX / 2 ? r->key_len : KEY_SHOW_MAX / 2;
	hex(r->key, len, out);
	return false;
}

/* The verify-style line for f's problem, on stdout. */
static void print_problem(const struct seg_file *f)
{
	const struct seg_problem *p = &f->problem;

	SL_ASSERT(p->kind != SEG_FINE);
	put_path(f->path);
	switch (p->kind) {
	case SEG_TORN_TAIL:
		printf(": torn tail at offset %" PRIu64 " (%" PRIu64
		       " bytes after the last good batch)\n",
		       p->off, f->size - p->off);
		break;
	case SEG_CORRUPT:
		printf(": corrupt batch at offset %" PRIu64 " (%s); ", p->off, p->reason);
		if (p->valid_after)
			printf("valid data follows at offset %" PRIu64 "\n", p->valid_after);
		else
			puts("nothing valid follows");
		break;
	case SEG_BAD_HEADER:
		printf(": bad header (%s)\n", p->reason);
		break;
	default:
		printf(": error: %s\n", p->reason);
		break;
	}
}

/* ---- segment: JSON ----------------------------------------------------- */

/* An integer, or a decimal string above what json_int_t holds. */
static json_t *json_u64(uint64_t v)
{
	char dec[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(dec, sizeof(dec), "%" PRIu64, v);
	return json_string(dec);
}

/* Sequence numbers, producer ids: always decimal strings. */
static json_t *json_dec128(sl_u128 v)
{
	char dec[SL_U128_DEC_BUF];

	return json_string(dec128(v, dec));
}

/* Print one value compactly on stdout (no newline) and release it. */
static bool json_emit(json_t *v)
{
	int rc;

	if (!v)
		return false;
	rc = json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	return rc == 0;
}

static json_t *problem_json(const struct seg_problem *p)
{
	if (p->kind == SEG_FINE)
		return json_null();
	return json_pack("{s:s, s:o, s:o, s:o}", "kind", seg_kind_name[p->kind], "offset",
			 json_u64(p->off), "valid_after",
			 p->valid_after ? json_u64(p->valid_after) : json_null(), "reason",
			 json_text(p->reason));
}

static json_t *verify_json(const struct seg_file *f, const struct seg_summary *s)
{
	bool any = s->batches > 0;

	return json_pack(
	    "{s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "path", json_text(f->path), "ok",
	    f->problem.kind == SEG_FINE, "batches", json_u64(s->batches), "records",
	    json_u64(s->records), "first_seq", any ? json_dec128(s->first_seq) : json_null(),
	    "last_seq", any ? json_dec128(s->last_seq) : json_null(), "first_arrival_ms",
	    any ? json_u64(s->first_arrival_ms) : json_null(), "last_arrival_ms",
	    any ? json_u64(s->last_arrival_ms) : json_null(), "problem", problem_json(&f->problem));
}

/* ---- segment verify ---------------------------------------------------- */

static void summary_add(struct seg_summary *s, const struct sl_seg_batch *b)
{
	if (s->batches == 0) {
		s->first_seq = b->base_seq;
		s->first_arrival_ms = b->first_arrival_ms;
		s->last_arrival_ms = b->last_arrival_ms;
	}
	if (b->first_arrival_ms < s->first_arrival_ms)
		s->first_arrival_ms = b->first_arrival_ms;
	if (b->last_arrival_ms > s->last_arrival_ms)
		s->last_arrival_ms = b->last_arrival_ms;
	s->last_seq = b->base_seq + (b->record_count - 1);
	s->batches++;
	s->records += b->record_count;
}

/*
 * Walk the file at `path` to its end or its first problem (f->problem).
 * Each batch moves the walk at least a batch header forward, which bounds
 * the loop by the file's size.
 */
static void verify_file(const char *path, struct seg_file *f, struct seg_summary *s)
{
	struct sl_seg_batch b;
	const uint8_t *bytes;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = seg_open(f, path);
	for (uint64_t n = 0; rc == 0 && n <= f->size / SL_SEG_BATCH_HEADER_BYTES; n++) {
		rc = seg_next(f, &b, &bytes);
		if (rc == 0)
			summary_add(s, &b);
	}
	SL_ASSERT(rc != 0);
	seg_close(f);
}

static void print_verify_ok(const struct seg_file *f, const struct seg_summary *s)
{
	char seq_a[SL_U128_DEC_BUF], seq_b[SL_U128_DEC_BUF], t1[ISO_BUF], t2[ISO_BUF];

	put_path(f->path);
	printf(": ok: %" PRIu64 " batches, %" PRIu64 " records", s->batches, s->records);
	if (s->batches > 0)
		printf(", seq %s..%s, arrival %s..%s", dec128(s->first_seq, seq_a),
		       dec128(s->last_seq, seq_b), sl_cli_iso_ms(s->first_arrival_ms, t1),
		       sl_cli_iso_ms(s->last_arrival_ms, t2));
	putchar('\n');
}

/* Report a missing operand of the command `path`; always EXIT_USAGE. */
static int missing_arg(const char *path, const char *what)
{
	fprintf(stderr, "sluice %s: missing %s\n", path, what);
	fprintf(stderr, "Try 'sluice %s --help'.\n", path);
	return EXIT_USAGE;
}

/*
 * The arguments of `segment verify`: --json and paths ("--" ends the
 * options). paths has argc slots. EXIT_OK or EXIT_USAGE.
 */
static int parse_verify_args(struct cli *cli, int argc, char **argv, const char **paths, int *count)
{
	bool options_done = false;

	*count = 0;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0)
			paths[(*count)++] = arg;
		else if (strcmp(arg, "--") == 0)
			options_done = true;
		else if (strcmp(arg, "--json") == 0)
			cli->json = true;
		else
			return sl_cli_bad_arg("segment verify", "unknown option", arg);
	}
	return *count > 0 ? EXIT_OK : missing_arg("segment verify", "PATH");
}

static int cmd_segment_verify(struct cli *cli, int argc, char **argv)
{
	const char **paths = calloc((size_t)argc + 1, sizeof(*paths));
	json_t *all = NULL;
	int count = 0, rc, out;

	if (!paths) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	rc = parse_verify_args(cli, argc, argv, paths, &count);
	if (rc == EXIT_OK && cli->json && !(all = json_array()))
		count = 0;
	for (int i = 0; rc != EXIT_USAGE && i < count; i++) {
		struct seg_file f;
		struct seg_summary s;

		verify_file(paths[i], &f, &s);
		if (f.problem.kind != SEG_FINE)
			rc = EXIT_FAIL;
		if (all && json_array_append_new(all, verify_json(&f, &s)) != 0) {
			json_decref(all);
			all = NULL;
			break;
		} else if (!cli->json && f.problem.kind == SEG_FINE) {
			print_verify_ok(&f, &s);
		} else if (!cli->json) {
			print_problem(&f);
		}
	}
	free(paths);
	if (rc == EXIT_USAGE || !cli->json)
		return rc;
	out = sl_cli_json_print(all);
	return out != EXIT_OK ? out : rc;
}

/* ---- segment dump ------------------------------------------------------ */

struct dump_args {
	const char *path; /* borrowed from argv */
	bool records;
	bool limited;
	uint64_t limit; /* batches printed at most, when limited */
};

/* A --limit value: 1..10 decimal digits, at most UINT32_MAX. */
static bool parse_limit(const char *s, uint64_t *out)
{
	size_t len = strnlen(s, 11);
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = v;
	return true;
}

/* The arguments of `segment dump`. EXIT_OK or EXIT_USAGE. */
static int parse_dump_args(struct cli *cli, int argc, char **argv, struct dump_args *a)
{
	static const char name[] = "segment dump";
	bool options_done = false;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value;

		if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (a->path)
				return sl_cli_bad_arg(name, "unexpected argument", arg);
			a->path = arg;
		} else if (strcmp(arg, "--") == 0) {
			options_done = true;
		} else if (strcmp(arg, "--json") == 0) {
			cli->json = true;
		} else if (strcmp(arg, "--records") == 0) {
			a->records = true;
		} else if (strcmp(arg, "--limit") == 0 || strncmp(arg, "--limit=", 8) == 0) {
			value = arg[7] == '=' ? arg + 8 : i + 1 < argc ? argv[++i] : NULL;
			if (!value)
				return sl_cli_bad_arg(name, "missing value for", arg);
			if (!parse_limit(value, &a->limit))
				return sl_cli_bad_arg(
				    name, "--limit wants a count 0..4294967295, not", value);
			a->limited = true;
		} else {
			return sl_cli_bad_arg(name, "unknown option", arg);
		}
	}
	return a->path ? EXIT_OK : missing_arg(name, "PATH");
}

static void print_header(const struct seg_file *f)
{
	char seq[SL_U128_DEC_BUF], t[ISO_BUF];
	const struct sl_seg_header *h = &f->header;

	put_path(f->path);
	printf(": stream %" PRIu32 ", shard %" PRIu32 ", base_seq %s, created %s, %" PRIu64
	       " bytes\n",
	       h->stream_id, h->shard_id, dec128(h->base_seq, seq), sl_cli_iso_ms(h->created_ms, t),
	       f->size);
}

static void print_dedupe(const uint8_t *bytes, const struct sl_seg_batch *b)
{
	char seq[SL_U128_DEC_BUF];
	struct sl_seg_dedupe d;

	for (uint16_t i = 0; i < b->dedupe_count; i++) {
		sl_seg_batch_dedupe(bytes, b, i, &d);
		printf("  dedupe %u: producer_id %" PRIu64 ", batch_seq %" PRIu64
		       ", first_seq %s, %u records, entry %u/%u\n",
		       (unsigned)i, d.producer_id, d.batch_seq, dec128(d.first_seq, seq),
		       (unsigned)d.record_count, (unsigned)d.entry_index, (unsigned)d.entry_count);
	}
}

static void print_records(const uint8_t *bytes, const struct sl_seg_batch *b)
{
	char seq[SL_U128_DEC_BUF], t[ISO_BUF], key[KEY_SHOW_MAX + 1], data[2 * DATA_SHOW_BYTES + 1];
	struct sl_seg_iter it;
	struct sl_seg_record r;

	sl_seg_iter_init(&it, bytes, b);
	for (uint32_t i = 0; i < b->record_count && sl_seg_iter_next(&it, &r) == 1; i++) {
		bool text = key_show(&r, key);
		size_t shown = r.data_len < DATA_SHOW_BYTES ? r.data_len : DATA_SHOW_BYTES;
		bool key_cut = text ? r.key_len > KEY_SHOW_MAX : r.key_len > KEY_SHOW_MAX / 2;

		printf("  record %s: arrival %s, key %s%s%s%s, data_len %" PRIu32 ", data %s%s\n",
		       dec128(r.seq, seq), sl_cli_iso_ms(r.arrival_ms, t), text ? "\"" : "0x", key,
		       text ? "\"" : "", key_cut ? "..." : "", r.data_len, hex(r.data, shown, data),
		       r.data_len > shown ? "..." : "");
	}
}

static void print_batch(const struct seg_file *f, const struct sl_seg_batch *b,
			const uint8_t *bytes, bool records)
{
	char seq[SL_U128_DEC_BUF], t1[ISO_BUF], t2[ISO_BUF];

	printf("batch %" PRIu64 " at offset %" PRIu64 ": batch_len %" PRIu32
	       ", base_seq %s, %" PRIu32 " records, %u dedupe, arrival %s..%s%s\n",
	       f->batch_count - 1, f->batch_off, b->batch_len, dec128(b->base_seq, seq),
	       b->record_count, (unsigned)b->dedupe_count, sl_cli_iso_ms(b->first_arrival_ms, t1),
	       sl_cli_iso_ms(b->last_arrival_ms, t2),
	       (b->flags & SL_SEG_BATCH_F_OVERLAPPED) ? ", overlapped" : "");
	print_dedupe(bytes, b);
	if (records)
		print_records(bytes, b);
}

static json_t *header_json(const struct seg_file *f)
{
	const struct sl_seg_header *h = &f->header;

	return json_pack("{s:o, s:I, s:I, s:o, s:o, s:o}", "path", json_text(f->path), "stream_id",
			 (json_int_t)h->stream_id, "shard_id", (json_int_t)h->shard_id, "base_seq",
			 json_dec128(h->base_seq), "created_ms", json_u64(h->created_ms), "size",
			 json_u64(f->size));
}

static json_t *dedupe_json(const uint8_t *bytes, const struct sl_seg_batch *b)
{
	json_t *arr = json_array();
	struct sl_seg_dedupe d;

	for (uint16_t i = 0; arr && i < b->dedupe_count; i++) {
		sl_seg_batch_dedupe(bytes, b, i, &d);
		if (json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:i, s:i, s:i}",
							 "producer_id", json_dec128(d.producer_id),
							 "batch_seq", json_dec128(d.batch_seq),
							 "first_seq", json_dec128(d.first_seq),
							 "record_count", (int)d.record_count,
							 "entry_index", (int)d.entry_index,
							 "entry_count", (int)d.entry_count)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

static json_t *batch_json(const struct seg_file *f, const struct sl_seg_batch *b,
			  const uint8_t *bytes)
{
	return json_pack(
	    "{s:o, s:I, s:I, s:o, s:I, s:i, s:o, s:o, s:b, s:o}", "offset", json_u64(f->batch_off),
	    "batch_len", (json_int_t)b->batch_len, "payload_len", (json_int_t)b->payload_len,
	    "base_seq", json_dec128(b->base_seq), "record_count", (json_int_t)b->record_count,
	    "dedupe_count", (int)b->dedupe_count, "first_arrival_ms", json_u64(b->first_arrival_ms),
	    "last_arrival_ms", json_u64(b->last_arrival_ms), "overlapped",
	    (b->flags & SL_SEG_BATCH_F_OVERLAPPED) != 0, "dedupe", dedupe_json(bytes, b));
}

static json_t *record_json(const struct sl_seg_record *r)
{
	char key[KEY_SHOW_MAX + 1], data[2 * DATA_SHOW_BYTES + 1];
	bool text = key_show(r, key);
	size_t shown = r->data_len < DATA_SHOW_BYTES ? r->data_len : DATA_SHOW_BYTES;
	bool ehk = r->flags & SL_RECORD_F_EXPLICIT_HASH_KEY;

	return json_pack("{s:o, s:o, s:s, s:b, s:i, s:o, s:I, s:s}", "seq", json_dec128(r->seq),
			 "arrival_ms", json_u64(r->arrival_ms), "key", key, "key_is_hex", !text,
			 "key_len", (int)r->key_len, "explicit_hash_key",
			 ehk ? json_dec128(r->explicit_hash_key) : json_null(), "data_len",
			 (json_int_t)r->data_len, "data_hex", hex(r->data, shown, data));
}

/*
 * Print one batch as a JSON object; its records (with `records`) are
 * printed one at a time, so memory stays bounded by one record's object.
 */
static bool emit_batch_json(const struct seg_file *f, const struct sl_seg_batch *b,
			    const uint8_t *bytes, bool records)
{
	json_t *obj = batch_json(f, b, bytes);
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	struct sl_seg_iter it;
	struct sl_seg_record r;
	size_t len;
	bool ok = true;

	json_decref(obj);
	if (!text)
		return false;
	len = strlen(text);
	SL_ASSERT(len > 0);
	SL_ASSERT(text[len - 1] == '}');
	fwrite(text, 1, records ? len - 1 : len, stdout);
	free(text);
	if (!records)
		return true;
	fputs(",\"records\":[", stdout);
	sl_seg_iter_init(&it, bytes, b);
	for (uint32_t i = 0; ok && i < b->record_count && sl_seg_iter_next(&it, &r) == 1; i++) {
		if (i > 0)
			putchar(',');
		ok = json_emit(record_json(&r));
	}
	fputs("]}", stdout);
	return ok;
}

/*
 * Print f's batches from the first, at most a->limit when limited, until
 * the end or the first problem. 0, or < 0 after a problem (f->problem) or,
 * with -ENOMEM, when the JSON could not be built. *more: batches remain
 * unprinted because of the limit.
 */
static int dump_batches(const struct cli *cli, struct seg_file *f, const struct dump_args *a,
			bool *more)
{
	struct sl_seg_batch b;
	const uint8_t *bytes;
	int rc;

	*more = false;
	for (uint64_t n = 0; n <= f->size / SL_SEG_BATCH_HEADER_BYTES; n++) {
		if (a->limited && n == a->limit) {
			*more = f->scan.off < f->size;
			return 0;
		}
		rc = seg_next(f, &b, &bytes);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		if (!cli->json)
			print_batch(f, &b, bytes, a->records);
		else if ((n > 0 && putchar(',') == EOF) ||
			 !emit_batch_json(f, &b, bytes, a->records))
			return -ENOMEM;
	}
	SL_ASSERT(false); /* every batch moves the walk forward by at least its header */
	return -EIO;
}

/*
 * `segment dump --json`: one object {header, batches, limited, problem},
 * written piece by piece so that a large file never sits in memory.
 * EXIT_OK, or EXIT_FAIL when out of memory.
 */
static int dump_json(const struct cli *cli, struct seg_file *f, const struct dump_args *a,
		     bool opened, int *walk_rc)
{
	bool more = false;

	*walk_rc = 0;
	fputs("{\"header\":", stdout);
	if (!json_emit(opened ? header_json(f) : json_null()))
		goto err_oom;
	fputs(",\"batches\":[", stdout);
	if (opened)
		*walk_rc = dump_batches(cli, f, a, &more);
	if (*walk_rc == -ENOMEM)
		goto err_oom;
	printf("],\"limited\":%s,\"problem\":", more ? "true" : "false");
	if (!json_emit(problem_json(&f->problem)))
		goto err_oom;
	fputs("}\n", stdout);
	return EXIT_OK;
err_oom:
	fputs("\nsluice: out of memory\n", stderr);
	return EXIT_FAIL;
}

static int dump_human(const struct cli *cli, struct seg_file *f, const struct dump_args *a,
		      bool opened)
{
	bool more = false;

	if (!opened) {
		print_problem(f);
		return EXIT_FAIL;
	}
	print_header(f);
	if (dump_batches(cli, f, a, &more) < 0) {
		print_problem(f);
		return EXIT_FAIL;
	}
	if (more)
		printf("(--limit %" PRIu64 ": more follows at offset %" PRIu64 ")\n", a->limit,
		       f->scan.off);
	return EXIT_OK;
}

static int cmd_segment_dump(struct cli *cli, int argc, char **argv)
{
	struct dump_args a;
	struct seg_file f;
	bool opened;
	int rc, walk_rc;

	rc = parse_dump_args(cli, argc, argv, &a);
	if (rc != EXIT_OK)
		return rc;
	opened = seg_open(&f, a.path) == 0;
	if (cli->json) {
		rc = dump_json(cli, &f, &a, opened, &walk_rc);
		if (rc == EXIT_OK && (!opened || walk_rc < 0))
			rc = EXIT_FAIL;
	} else {
		rc = dump_human(cli, &f, &a, opened);
	}
	seg_close(&f);
	return rc;
}

/* ---- dispatch ---------------------------------------------------------- */

/*
 * Walk argv[*i..] down the command table from the root until a leaf,
 * recording the path in `t`. Returns EXIT_OK with the leaf last in `t`, or
 * an exit code after printing help (`*done` set) or a usage error.
 * `for_help` ("sluice help a b") stops at a group instead of wanting a leaf.
 */
static int walk(struct cli *cli, int argc, char **argv, int *i, struct trail *t, bool for_help,
		bool *done)
{
	char echo[ECHO_LEN_MAX + 4];

	for (;;) {
		const struct cmd *node = t->node[t->depth - 1], *child;

		if (!node->sub)
			return EXIT_OK;
		if (*i == argc) {
			if (for_help)
				return EXIT_OK;
			fputs("sluice: missing command\n", stderr);
			print_usage(t, stderr);
			return EXIT_USAGE;
		}
		if (!for_help && is_help_flag(argv[*i])) {
			print_usage(t, stdout);
			*done = true;
			return EXIT_OK;
		}
		if (!for_help && strcmp(argv[*i], "--json") == 0) {
			cli->json = true;
			(*i)++;
			continue;
		}
		child = argv[*i][0] == '-' ? NULL : find_child(node, argv[*i]);
		if (!child || t->depth == CMD_DEPTH_MAX) {
			fprintf(stderr, "sluice: unknown %s '%s'\n",
				argv[*i][0] == '-' ? "option" : "command",
				sl_cli_echo(argv[*i], echo));
			print_hint(t);
			return EXIT_USAGE;
		}
		t->node[t->depth++] = child;
		(*i)++;
	}
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	struct trail t = {.node = {&root}, .depth = 1};
	bool done = false;
	int i = 0, rc;

	rc = walk(cli, argc, argv, &i, &t, true, &done);
	if (rc != EXIT_OK)
		return rc;
	if (i < argc)
		return sl_cli_bad_arg("help", "unexpected argument", argv[i]);
	print_usage(&t, stdout);
	return EXIT_OK;
}

/* Whether a leaf's arguments ask for its help (options end at "--"). */
static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (is_help_flag(argv[i]))
			return true;
	}
	return false;
}

/* Run the command named at argv[i..]. Returns the exit status. */
static int dispatch(struct cli *cli, int argc, char **argv, int i)
{
	struct trail t = {.node = {&root}, .depth = 1};
	bool done = false;
	const struct cmd *leaf;
	int rc;

	rc = walk(cli, argc, argv, &i, &t, false, &done);
	if (rc != EXIT_OK || done)
		return rc;
	leaf = t.node[t.depth - 1];
	if (wants_help(argc - i, argv + i)) {
		print_usage(&t, stdout);
		return EXIT_OK;
	}
	return leaf->handler(cli, argc - i, argv + i);
}

/* ---- main -------------------------------------------------------------- */

/* Refuse any argument longer than ARG_LEN_MAX before looking at it. */
static int check_arg_lengths(int argc, char **argv)
{
	char echo[ECHO_LEN_MAX + 4];

	for (int i = 1; i < argc; i++) {
		if (strnlen(argv[i], ARG_LEN_MAX + 1) > ARG_LEN_MAX) {
			fprintf(stderr, "sluice: argument %d '%s' is longer than %d bytes\n", i,
				sl_cli_echo(argv[i], echo), ARG_LEN_MAX);
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

/* Validate the endpoint from --endpoint, else $SLUICE_ENDPOINT, else the default. */
static int choose_endpoint(struct cli *cli, const char *url)
{
	if (url)
		return set_endpoint(cli, url, "--endpoint") == 0 ? EXIT_OK : EXIT_USAGE;
	url = getenv(ENDPOINT_ENV);
	if (url && url[0])
		return set_endpoint(cli, url, ENDPOINT_ENV) == 0 ? EXIT_OK : EXIT_USAGE;
	return set_endpoint(cli, ENDPOINT_DEFAULT, "default endpoint") == 0 ? EXIT_OK : EXIT_FAIL;
}

/*
 * Parse the global options at argv[1..]. Returns EXIT_OK with *next at the
 * command, or an exit code (with *done set when --help/--version answered).
 */
static int parse_globals(struct cli *cli, int argc, char **argv, int *next, bool *done)
{
	const struct trail t = {.node = {&root}, .depth = 1};
	const char *url = NULL;
	bool help = false, version = false;
	char echo[ECHO_LEN_MAX + 4];
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];

		if (is_help_flag(arg)) {
			help = true;
		} else if (strcmp(arg, "--version") == 0) {
			version = true;
		} else if (strcmp(arg, "--json") == 0) {
			cli->json = true;
		} else if (strcmp(arg, "--endpoint") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else if (strncmp(arg, "--endpoint=", 11) == 0) {
			url = arg + 11;
		} else {
			fprintf(stderr, "sluice: %s '%s'\n",
				strcmp(arg, "--endpoint") == 0 ? "missing URL after"
							       : "unknown option",
				sl_cli_echo(arg, echo));
			print_hint(&t);
			return EXIT_USAGE;
		}
	}
	*next = i;
	*done = help || version;
	if (help) {
		print_usage(&t, stdout);
		return EXIT_OK;
	}
	if (version)
		return print_version(cli);
	return choose_endpoint(cli, url);
}

int main(int argc, char **argv)
{
	struct cli cli = {.json = false};
	bool done = false;
	int next = argc, rc;

	rc = check_arg_lengths(argc, argv);
	if (rc == EXIT_OK)
		rc = parse_globals(&cli, argc, argv, &next, &done);
	if (rc == EXIT_OK && !done)
		rc = dispatch(&cli, argc, argv, next);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("sluice: error writing to standard output\n", stderr);
		return EXIT_FAIL;
	}
	return rc;
}
