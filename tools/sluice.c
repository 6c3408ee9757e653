/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice: the operator's command-line tool. Global options come first
 * (--endpoint, --json, --help, --version), then a command path looked up in
 * one static table of {name, summary, usage, handler} entries; a group entry
 * (such as `config`) has children instead of a handler. Later commands
 * (stream, put, get, tail, stats, segment) are new rows in that table.
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <sluice/config.h>

#include <sluice/alloc.h>

#include "sl_build.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

#define ENDPOINT_DEFAULT  "http://127.0.0.1:4567"
#define ENDPOINT_ENV      "SLUICE_ENDPOINT"
#define ENDPOINT_LEN_MAX  512
#define ENDPOINT_HOST_MAX 255
#define CMD_DEPTH_MAX     4
#define ARG_LEN_MAX       4096 /* longer arguments are refused outright */
#define ECHO_LEN_MAX      80   /* bytes of user input quoted in a message */
#define OVERRIDE_MAX      256  /* --section.key=value pairs per invocation */
#define OVERRIDE_KEY_MAX  128
#define FORMAT_LEN_MAX    (1u << 20) /* sl_config_format output we accept */
#define USAGE_COLUMN      18

/* A parsed --endpoint. The HTTP client of later commands reads it. */
struct endpoint {
	bool tls;
	char host[ENDPOINT_HOST_MAX + 1]; /* IPv6 literals without brackets */
	uint16_t port;
	const char *path; /* "" or starts with '/'; points into url */
	const char *url;  /* borrowed from argv or the environment */
};

/* What the global options decided; filled in main, read by handlers. */
struct cli {
	struct endpoint ep;
	bool json;
};

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

static const struct cmd root_cmds[] = {
    {"version", "Print the version and the allocator", "", cmd_version, NULL},
    {"config", "Check or show a configuration", "<command> [args]", NULL, config_cmds},
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

/*
 * Copy at most ECHO_LEN_MAX bytes of `s` into `out` for quoting in a
 * message, replacing control and non-ASCII bytes with '?' and marking a cut
 * with "...". `out` must hold ECHO_LEN_MAX + 4 bytes.
 */
static const char *echo_arg(const char *s, char *out)
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

		if (c->sub) {
			snprintf(name, sizeof(name), "%s%s ", prefix, c->name);
			print_children(c, name, out);
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", prefix, c->name);
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
static int bad_arg(const char *path, const char *what, const char *arg)
{
	char echo[ECHO_LEN_MAX + 4];

	fprintf(stderr, "sluice %s: %s '%s'\n", path, what, echo_arg(arg, echo));
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
	fprintf(stderr, "sluice: invalid %s '%s': %s\n", source, echo_arg(url, echo), why);
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
static int json_print(json_t *obj)
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
	return json_print(obj);
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli->json = true;
		else
			return bad_arg("version",
				       argv[i][0] == '-' ? "unknown option" : "unexpected argument",
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
		return bad_arg(path, "too many overrides at", argv[*i]);
	if (key_len >= OVERRIDE_KEY_MAX)
		return bad_arg(path, "key too long", argv[*i]);
	o = &a->override[a->override_count];
	memcpy(o->key, arg, key_len);
	o->key[key_len] = '\0';
	if (eq) {
		o->value = eq + 1;
	} else if (*i + 1 < argc) {
		o->value = argv[++*i];
	} else {
		return bad_arg(path, "missing value for", argv[*i]);
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
				return bad_arg(path, "unexpected argument", arg);
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
			return bad_arg(path, "unknown option", arg);
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
	if (json_print(obj) != EXIT_OK)
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
		rc = json_print(obj);
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
		rc = json_print(ini_to_json(text));
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
				echo_arg(argv[*i], echo));
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
		return bad_arg("help", "unexpected argument", argv[i]);
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
				echo_arg(argv[i], echo), ARG_LEN_MAX);
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
				echo_arg(arg, echo));
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
