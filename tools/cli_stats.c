/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `sluice stats`: every counter of a running sluiced, read from GET /metrics
 * on the API endpoint (Prometheus text, telemetry/expo.c), grouped by
 * counter set. Human output lists each set's non-zero counters (all with
 * --all) and, for the ingest set, the accounting check: every frame that
 * reached the ingest core ended in exactly one outcome counter. --json
 * prints {"SET": {"COUNTER": value, ...}, ...}.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "kinesis_client.h"

#define SET_PREFIX "# sluice-set "
#define NAME_MAX_  128

/* The ingest frame outcomes (docs/ARCHITECTURE.md, Ingest). */
static const char *const outcomes[] = {
    "frames_ok", "frames_partial",   "duplicate", "duplicate_in_flight",  "unauthorized",
    "too_large", "stream_not_found", "throttled", "throttled_no_context", "stale_batch",
    "internal",  "shutting_down",
};

/* Parse the exposition into {set: {counter: value}}. NULL on a malformed line. */
static json_t *parse(char *text)
{
	json_t *all = json_object();
	json_t *set = NULL;
	char set_name[NAME_MAX_] = "";
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, SET_PREFIX, strlen(SET_PREFIX)) == 0) {
			snprintf(set_name, sizeof(set_name), "%s", line + strlen(SET_PREFIX));
			set = json_object();
			json_object_set_new(all, set_name, set);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *sp = strchr(line, ' ');
		if (set == NULL || sp == NULL)
			continue; /* not one of ours */
		*sp = '\0';
		/* sluice_<set>_<counter>_total */
		size_t sl = strlen(set_name), ll = strlen(line);
		if (strncmp(line, "sluice_", 7) != 0 || ll < 7 + sl + 1 + 6 ||
		    strncmp(line + 7, set_name, sl) != 0 || line[7 + sl] != '_' ||
		    strcmp(line + ll - 6, "_total") != 0)
			continue;
		line[ll - 6] = '\0';
		char *end;
		errno = 0;
		unsigned long long v = strtoull(sp + 1, &end, 10);
		if (errno != 0 || end == sp + 1) {
			json_decref(all);
			return NULL;
		}
		json_object_set_new(set, line + 7 + sl + 1, json_integer((json_int_t)v));
	}
	return all;
}

static uint64_t get(json_t *set, const char *name)
{
	json_t *v = json_object_get(set, name);
	return v != NULL ? (uint64_t)json_integer_value(v) : 0;
}

static void print_human(json_t *all, bool every)
{
	const char *set_name;
	json_t *set;
	json_object_foreach(all, set_name, set)
	{
		printf("%s\n", set_name);
		const char *name;
		json_t *v;
		unsigned shown = 0;
		json_object_foreach(set, name, v)
		{
			if (!every && json_integer_value(v) == 0)
				continue;
			printf("  %-28s %" JSON_INTEGER_FORMAT "\n", name, json_integer_value(v));
			shown++;
		}
		if (shown == 0)
			printf("  (all zero)\n");
	}
	json_t *ingest = json_object_get(all, "ingest");
	if (ingest != NULL) {
		uint64_t frames = get(ingest, "frames"), ended = 0;
		for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
			ended += get(ingest, outcomes[i]);
		const char *nm;
		json_t *v;
		json_object_foreach(ingest, nm, v)
		{
			if (strncmp(nm, "malformed_", 10) == 0)
				ended += (uint64_t)json_integer_value(v);
		}
		/* Frames still being stored are the difference, when ingest runs. */
		printf("accounting: %" PRIu64 " frames = %" PRIu64 " ended + %" PRIu64
		       " in flight or unexplained\n",
		       frames, ended, frames >= ended ? frames - ended : 0);
		uint64_t recs = get(ingest, "records"), done = get(ingest, "records_stored") +
							       get(ingest, "records_rejected") +
							       get(ingest, "records_duplicate");
		printf("            %" PRIu64 " records = %" PRIu64 " stored + %" PRIu64
		       " rejected + %" PRIu64 " duplicate + %" PRIu64 " in flight or unexplained\n",
		       recs, get(ingest, "records_stored"), get(ingest, "records_rejected"),
		       get(ingest, "records_duplicate"), recs >= done ? recs - done : 0);
	}
}

int sl_cli_stats(struct cli *cli, int argc, char **argv)
{
	bool every = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			every = true;
		else if (strcmp(argv[i], "--json") == 0)
			cli->json = true;
		else
			return sl_cli_bad_arg("stats", "argument", argv[i]);
	}
	if (cli->ep.tls) {
		fprintf(stderr, "sluice stats: %s: https endpoints are not supported yet\n",
			cli->ep.url);
		return EXIT_USAGE;
	}
	struct sl_kc_options o = {
	    .url = cli->ep.url,
	    .host = cli->ep.host,
	    .port = cli->ep.port,
	    .path = cli->ep.path,
	    .connect_timeout_ms = 5000,
	    .request_timeout_ms = 30000,
	};
	struct sl_kc *kc = NULL;
	struct sl_kc_error err;
	char *text = NULL;
	size_t len;
	if (sl_kc_create(&o, &kc) != 0) {
		fputs("sluice stats: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/metrics", cli->ep.path);
	int rc = sl_kc_get(kc, path, &text, &len, &err);
	sl_kc_destroy(kc);
	if (rc != 0) {
		fprintf(stderr, "sluice stats: %s\n", err.message);
		return EXIT_FAIL;
	}
	json_t *all = parse(text);
	free(text);
	if (all == NULL) {
		fprintf(stderr, "sluice stats: %s/metrics: not a sluice exposition\n", cli->ep.url);
		return EXIT_FAIL;
	}
	if (cli->json)
		return sl_cli_json_print(all); /* releases all */
	print_human(all, every);
	json_decref(all);
	return EXIT_OK;
}
