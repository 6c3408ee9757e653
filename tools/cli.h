/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of the sluice CLI share: exit codes, the global options
 * (struct cli), and the helpers every command uses for messages and JSON
 * output. sluice.c owns main, the command table and these helpers;
 * cli_kinesis.c holds the commands that talk to the Kinesis API.
 */
#ifndef SLUICE_TOOLS_CLI_H
#define SLUICE_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
};

#define ENDPOINT_HOST_MAX 255
#define ECHO_LEN_MAX      80 /* bytes of user input quoted in a message */
#define ISO_BUF           32 /* "9999-12-31T23:59:59.999Z" or "<ms>ms", NUL */

/* A parsed --endpoint. */
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

/*
 * Copy at most ECHO_LEN_MAX bytes of `s` into `out` (ECHO_LEN_MAX + 4
 * bytes) for quoting in a message: control and non-ASCII bytes become '?',
 * a cut is marked with "...". Returns out.
 */
const char *sl_cli_echo(const char *s, char *out);
/* "sluice PATH: WHAT 'ARG'" and a --help hint on stderr; returns EXIT_USAGE. */
int sl_cli_bad_arg(const char *path, const char *what, const char *arg);
/* Print `obj` compactly on one line of stdout and release it (NULL: out of
 * memory). EXIT_OK or EXIT_FAIL. */
int sl_cli_json_print(json_t *obj);
/* "2024-05-01T12:00:00.123Z" for ms since the epoch into out[ISO_BUF]. */
const char *sl_cli_iso_ms(uint64_t ms, char *out);

/* The Kinesis API commands (cli_kinesis.c); argv holds the arguments after
 * the command's name. They return an exit status. */
int sl_cli_stream_create(struct cli *cli, int argc, char **argv);
int sl_cli_stream_list(struct cli *cli, int argc, char **argv);
int sl_cli_stream_describe(struct cli *cli, int argc, char **argv);
int sl_cli_stream_delete(struct cli *cli, int argc, char **argv);
int sl_cli_put(struct cli *cli, int argc, char **argv);
int sl_cli_get(struct cli *cli, int argc, char **argv);
int sl_cli_tail(struct cli *cli, int argc, char **argv);
/* `sluice stats` (cli_stats.c). */
int sl_cli_stats(struct cli *cli, int argc, char **argv);

#endif /* SLUICE_TOOLS_CLI_H */
