/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sluice CLI's commands that talk to the Kinesis API at --endpoint:
 * `stream create|list|describe|delete`, `put`, `get` and `tail`. Each one
 * builds its requests with jansson, sends them through the blocking client
 * of kinesis_client.h (SigV4-signed HTTP/1.1, one kept-alive connection)
 * and prints the answer for people or, with --json, as JSON (the API's own
 * field names; `get` and `tail` print one object per record per line).
 *
 * Errors take one line on stderr and exit 1: the server's exception name
 * and message ("sluice: ResourceNotFoundException: ..."), or why no answer
 * came ("sluice: cannot connect to http://...: Connection refused"). Bad
 * usage exits 2 before anything is sent.
 *
 * Every loop is bounded (pages of a listing, GetRecords calls of `get`,
 * the wait for a new stream to become ACTIVE), except `tail`, which runs
 * until SIGINT or SIGTERM by design and then exits 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sluice/assert.h>

#include "cli.h"
#include "kinesis_client.h"

#define CONNECT_TIMEOUT_MS   5000
#define REQUEST_TIMEOUT_MS   30000
#define WAIT_ACTIVE_MS       60000 /* stream create waits this long for ACTIVE */
#define WAIT_STEP_MS         100
#define PAGES_MAX            10000  /* pages of one listing */
#define SHARDS_MAX           100000 /* shards of one stream we keep in memory */
#define DATA_BYTES_MAX       (10u << 20)
#define GET_LIMIT_DEFAULT    1000
#define GET_LIMIT_MAX        1000000
#define GET_BATCH_MAX        10000 /* GetRecords' own Limit bound */
#define GET_CALLS_MAX        10000 /* GetRecords calls per shard in `get` */
#define TAIL_BATCH           1000
#define TAIL_INTERVAL_MS     200
#define TAIL_INTERVAL_MAX_MS 60000
#define TAIL_RELIST_MS       10000
#define TEXT_SHOW_MAX        200 /* bytes of text data printed */
#define HEX_SHOW_BYTES       32  /* bytes of binary data printed, in hex */
#define SEQ_MAX              130 /* decimal digits Kinesis allows, and some */
#define SHARD_ID_MAX         128

/* The positions `get` and `tail` can start from. */
enum from_kind {
	FROM_TRIM_HORIZON,
	FROM_LATEST,
	FROM_AT_SEQ,
	FROM_AFTER_SEQ,
	FROM_AT_TIME,
};

static const char *const from_type[] = {
    [FROM_TRIM_HORIZON] = "TRIM_HORIZON", [FROM_LATEST] = "LATEST",
    [FROM_AT_SEQ] = "AT_SEQUENCE_NUMBER", [FROM_AFTER_SEQ] = "AFTER_SEQUENCE_NUMBER",
    [FROM_AT_TIME] = "AT_TIMESTAMP",
};

struct from {
	enum from_kind kind;
	const char *seq; /* AT/AFTER_SEQ; borrowed from argv */
	double time_s;   /* AT_TIME, seconds since the epoch */
};

/* A client on the endpoint, with the command's name for messages. */
struct api {
	const struct cli *cli;
	const char *cmd; /* "stream create" */
	struct sl_kc *kc;
};

/* ---- plumbing --------------------------------------------------------- */

static int api_open(const struct cli *cli, const char *cmd, struct api *a)
{
	struct sl_kc_options o = {
	    .url = cli->ep.url,
	    .host = cli->ep.host,
	    .port = cli->ep.port,
	    .path = cli->ep.path,
	    .connect_timeout_ms = CONNECT_TIMEOUT_MS,
	    .request_timeout_ms = REQUEST_TIMEOUT_MS,
	};
	int rc;

	a->cli = cli;
	a->cmd = cmd;
	a->kc = NULL;
	if (cli->ep.tls) {
		fprintf(stderr, "sluice %s: %s: https endpoints are not supported yet\n", cmd,
			cli->ep.url);
		return EXIT_USAGE;
	}
	rc = sl_kc_create(&o, &a->kc);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"sluice %s: AWS credentials or region in the environment are "
			"too long\n",
			cmd);
		return EXIT_USAGE;
	}
	if (rc < 0) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void api_close(struct api *a)
{
	sl_kc_destroy(a->kc);
	a->kc = NULL;
}

/*
 * Call `op` with `req` (consumed; NULL means it could not be built).
 * 0 and *resp (caller's); -EINTR when a signal interrupted it; -EAGAIN when
 * the server answered with the exception `expected` (may be NULL); both
 * without a message. Another negative errno after one line on stderr.
 */
static int api_call_expect(struct api *a, const char *op, json_t *req, json_t **resp,
			   const char *expected)
{
	struct sl_kc_error err;
	int rc;

	*resp = NULL;
	if (!req) {
		fputs("sluice: out of memory\n", stderr);
		return -ENOMEM;
	}
	rc = sl_kc_call(a->kc, op, req, resp, &err);
	json_decref(req);
	if (rc == 0 || rc == -EINTR)
		return rc;
	if (rc == -EREMOTEIO && expected && strcmp(err.type, expected) == 0)
		return -EAGAIN;
	if (rc == -EREMOTEIO)
		fprintf(stderr, "sluice: %s%s%s\n", err.type, err.message[0] ? ": " : "",
			err.message);
	else
		fprintf(stderr, "sluice: %s\n", err.message);
	return rc;
}

static int api_call(struct api *a, const char *op, json_t *req, json_t **resp)
{
	return api_call_expect(a, op, req, resp, NULL);
}

/* A string member of obj, or "" (never NULL). */
static const char *str_of(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* Milliseconds since the epoch of a JSON number of seconds (0 if absent). */
static uint64_t ms_of(const json_t *obj, const char *key)
{
	double v = json_number_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)(v * 1000.0 + 0.5) : 0;
}

/* Whether `s` can go into a JSON string (valid UTF-8). */
static bool is_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* Refuse an argument that is not UTF-8 (Kinesis names and keys are text). */
static int need_text(const char *cmd, const char *what, const char *s)
{
	if (is_utf8(s))
		return EXIT_OK;
	return sl_cli_bad_arg(cmd, what, s);
}

/* Decimal in [min, max] with nothing after it. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void sleep_ms(unsigned ms)
{
	poll(NULL, 0, (int)ms);
}

/*
 * argv[*i] is "--name VALUE" or "--name=VALUE": 1 with *val set (and *i
 * moved past a separate value), 0 when argv[*i] is another argument, or
 * EXIT_USAGE (< 0 as -EXIT_USAGE) after the message when the value is missing.
 */
static int opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
		     const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		sl_cli_bad_arg(cmd, "missing value after", argv[*i]);
		return -EXIT_USAGE;
	}
	*val = argv[++*i];
	return 1;
}

/* ---- shards ----------------------------------------------------------- */

/*
 * Every shard of `stream` (ListShards, NextToken alone after the first
 * page, as Kinesis wants) into a new JSON array *out. 0 or < 0 (printed).
 */
static int list_shards(struct api *a, const char *stream, json_t **out)
{
	json_t *all = json_array(), *resp = NULL;
	char *token = NULL;
	int rc = 0;

	if (!all)
		return -ENOMEM;
	for (unsigned page = 0; page < PAGES_MAX; page++) {
		json_t *req = token ? json_pack("{s:s}", "NextToken", token)
				    : json_pack("{s:s}", "StreamName", stream);
		const char *next;

		free(token);
		token = NULL;
		rc = api_call(a, "ListShards", req, &resp);
		if (rc < 0)
			break;
		if (json_is_array(json_object_get(resp, "Shards")) &&
		    json_array_extend(all, json_object_get(resp, "Shards")) != 0) {
			rc = -ENOMEM;
			break;
		}
		next = json_string_value(json_object_get(resp, "NextToken"));
		token = next ? strdup(next) : NULL;
		json_decref(resp);
		resp = NULL;
		if (!next || json_array_size(all) > SHARDS_MAX)
			break;
		if (!token) {
			rc = -ENOMEM;
			break;
		}
	}
	json_decref(resp);
	free(token);
	if (rc < 0) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return 0;
}

/* A shard iterator for `shard` from position f, strdup'd into *out. */
static int shard_iterator(struct api *a, const char *stream, const char *shard,
			  const struct from *f, char **out)
{
	json_t *req = json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardId", shard,
				"ShardIteratorType", from_type[f->kind]);
	json_t *resp;
	const char *it;
	int rc;

	*out = NULL;
	if (req && (f->kind == FROM_AT_SEQ || f->kind == FROM_AFTER_SEQ) &&
	    json_object_set_new(req, "StartingSequenceNumber", json_string(f->seq)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req && f->kind == FROM_AT_TIME &&
	    json_object_set_new(req, "Timestamp", json_real(f->time_s)) != 0) {
		json_decref(req);
		req = NULL;
	}
	rc = api_call(a, "GetShardIterator", req, &resp);
	if (rc < 0)
		return rc;
	it = json_string_value(json_object_get(resp, "ShardIterator"));
	if (it)
		*out = strdup(it);
	json_decref(resp);
	if (!it) {
		fprintf(stderr, "sluice: GetShardIterator answered without a ShardIterator\n");
		return -EPROTO;
	}
	return *out ? 0 : -ENOMEM;
}

/* ---- printing records ------------------------------------------------- */

/* Whether data is text worth printing as is: UTF-8 without control bytes but tab. */
static bool is_text(const uint8_t *p, size_t n)
{
	json_t *j;

	for (size_t i = 0; i < n; i++) {
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return false;
	}
	j = json_stringn((const char *)p, n);
	json_decref(j);
	return j != NULL;
}

static void print_data(const uint8_t *p, size_t n)
{
	if (n > 0 && is_text(p, n)) {
		size_t show = n > TEXT_SHOW_MAX ? TEXT_SHOW_MAX : n;

		/* Do not cut a UTF-8 sequence in two. */
		while (show < n && show > 0 && (p[show] & 0xc0) == 0x80)
			show--;
		printf("%.*s%s\n", (int)show, (const char *)p, show < n ? "..." : "");
		return;
	}
	printf("(%zu bytes)", n);
	if (n > 0)
		putchar(' ');
	for (size_t i = 0; i < n && i < HEX_SHOW_BYTES; i++)
		printf("%02x", p[i]);
	printf("%s\n", n > HEX_SHOW_BYTES ? "..." : "");
}

/* Text from the server on a line of ours: control bytes become '?'. */
static void put_clean(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/*
 * Print one record of `shard`: a line for people, or with --json the
 * record object with its ShardId. `rec` is borrowed. 0 or -EINVAL when the
 * server's record is malformed.
 */
static int print_record(const struct cli *cli, const char *shard, json_t *rec)
{
	const char *data = json_string_value(json_object_get(rec, "Data"));
	char iso[ISO_BUF];
	uint8_t *bytes;
	size_t n;

	if (!json_is_object(rec) || !data)
		return -EINVAL;
	if (cli->json) {
		json_t *copy = json_copy(rec);

		if (copy && json_object_set_new(copy, "ShardId", json_string(shard)) != 0) {
			json_decref(copy);
			copy = NULL;
		}
		return sl_cli_json_print(copy) == EXIT_OK ? 0 : -ENOMEM;
	}
	if (sl_kc_b64_decode(data, strlen(data), &bytes, &n) != 0)
		return -EINVAL;
	printf("%s %s %s ", shard, str_of(rec, "SequenceNumber"),
	       sl_cli_iso_ms(ms_of(rec, "ApproximateArrivalTimestamp"), iso));
	put_clean(str_of(rec, "PartitionKey"));
	putchar(' ');
	print_data(bytes, n);
	free(bytes);
	return 0;
}

/* Print every record of a GetRecords answer; returns how many, or < 0. */
static long print_records(const struct cli *cli, const char *shard, json_t *resp, char *last_seq)
{
	json_t *recs = json_object_get(resp, "Records"), *rec;
	size_t i;

	if (!json_is_array(recs)) {
		fputs("sluice: GetRecords answered without Records\n", stderr);
		return -EPROTO;
	}
	json_array_foreach(recs, i, rec)
	{
		if (print_record(cli, shard, rec) != 0) {
			fputs("sluice: GetRecords answered with a malformed record\n", stderr);
			return -EPROTO;
		}
		if (last_seq)
			snprintf(last_seq, SEQ_MAX + 1, "%s", str_of(rec, "SequenceNumber"));
	}
	return (long)json_array_size(recs);
}

/* ---- stream create ------------------------------------------------------ */

/* DescribeStreamSummary's StreamDescriptionSummary (new reference), or NULL. */
static json_t *summary(struct api *a, const char *name, int *rc)
{
	json_t *resp, *s;

	*rc = api_call(a, "DescribeStreamSummary", json_pack("{s:s}", "StreamName", name), &resp);
	if (*rc < 0)
		return NULL;
	s = json_incref(json_object_get(resp, "StreamDescriptionSummary"));
	json_decref(resp);
	if (!json_is_object(s)) {
		fputs("sluice: DescribeStreamSummary answered without a summary\n", stderr);
		json_decref(s);
		*rc = -EPROTO;
		return NULL;
	}
	return s;
}

/* Poll the summary until ACTIVE or WAIT_ACTIVE_MS; returns it or NULL. */
static json_t *wait_active(struct api *a, const char *name, bool wait)
{
	unsigned waited = 0;
	int rc;

	for (;;) {
		json_t *s = summary(a, name, &rc);

		if (!s || !wait || strcmp(str_of(s, "StreamStatus"), "ACTIVE") == 0)
			return s;
		if (waited >= WAIT_ACTIVE_MS) {
			fprintf(stderr, "sluice: stream %s is still %s after %u s\n", name,
				str_of(s, "StreamStatus"), WAIT_ACTIVE_MS / 1000);
			json_decref(s);
			return NULL;
		}
		json_decref(s);
		sleep_ms(WAIT_STEP_MS);
		waited += WAIT_STEP_MS;
	}
}

struct create_args {
	const char *name;
	const char *durability; /* NULL: the default (fsync) */
	uint64_t shards;        /* 0: not given */
	bool on_demand;
	bool no_wait;
};

static int parse_create(int argc, char **argv, struct create_args *c)
{
	const char *cmd = "stream create", *v;

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < argc; i++) {
		int m = opt_value(cmd, argc, argv, &i, "--shards", &v);

		if (m < 0)
			return -m;
		if (m == 1) {
			if (!parse_u64(v, 1, 100000, &c->shards))
				return sl_cli_bad_arg(cmd, "--shards wants 1..100000, not", v);
			continue;
		}
		m = opt_value(cmd, argc, argv, &i, "--durability", &v);
		if (m < 0)
			return -m;
		if (m == 1) {
			if (strcmp(v, "fsync") != 0 && strcmp(v, "write") != 0 &&
			    strcmp(v, "none") != 0)
				return sl_cli_bad_arg(
				    cmd, "--durability wants fsync, write or none, not", v);
			c->durability = v;
		} else if (strcmp(argv[i], "--on-demand") == 0) {
			c->on_demand = true;
		} else if (strcmp(argv[i], "--no-wait") == 0) {
			c->no_wait = true;
		} else if (argv[i][0] == '-' || c->name) {
			return sl_cli_bad_arg(
			    cmd, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
			    argv[i]);
		} else {
			c->name = argv[i];
		}
	}
	if (!c->name)
		return sl_cli_bad_arg(cmd, "missing", "NAME");
	if (c->on_demand && c->shards)
		return sl_cli_bad_arg(cmd, "--shards does not go with", "--on-demand");
	return need_text(cmd, "not UTF-8:", c->name);
}

int sl_cli_stream_create(struct cli *cli, int argc, char **argv)
{
	struct create_args c;
	struct api a;
	json_t *req, *resp = NULL, *s;
	int rc = parse_create(argc, argv, &c);

	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "stream create", &a);
	if (rc != EXIT_OK)
		return rc;
	req = c.on_demand ? json_pack("{s:s, s:{s:s}}", "StreamName", c.name, "StreamModeDetails",
				      "StreamMode", "ON_DEMAND")
			  : json_pack("{s:s, s:I}", "StreamName", c.name, "ShardCount",
				      (json_int_t)(c.shards ? c.shards : 1));
	if (req != NULL && c.durability != NULL)
		json_object_set_new(req, "SluiceDurability", json_string(c.durability));
	rc = api_call(&a, "CreateStream", req, &resp);
	json_decref(resp);
	s = rc < 0 ? NULL : wait_active(&a, c.name, !c.no_wait);
	api_close(&a);
	if (!s)
		return EXIT_FAIL;
	if (cli->json)
		return sl_cli_json_print(s);
	printf("stream %s created: %" JSON_INTEGER_FORMAT " shard(s), %s\n", c.name,
	       json_integer_value(json_object_get(s, "OpenShardCount")), str_of(s, "StreamStatus"));
	json_decref(s);
	return EXIT_OK;
}

/* ---- stream list -------------------------------------------------------- */

/* Every page of ListStreams gathered into {StreamNames, StreamSummaries}. */
static int list_streams(struct api *a, json_t **out)
{
	json_t *names = json_array(), *sums = json_array(), *resp = NULL;
	char *token = NULL;
	int rc = -ENOMEM;

	if (!names || !sums)
		goto out;
	for (unsigned page = 0; page < PAGES_MAX; page++) {
		json_t *req = token ? json_pack("{s:s}", "NextToken", token) : json_object();
		const char *next;

		free(token);
		token = NULL;
		rc = api_call(a, "ListStreams", req, &resp);
		if (rc < 0)
			goto out;
		json_array_extend(names, json_object_get(resp, "StreamNames"));
		json_array_extend(sums, json_object_get(resp, "StreamSummaries"));
		next = json_string_value(json_object_get(resp, "NextToken"));
		if (next && json_is_true(json_object_get(resp, "HasMoreStreams"))) {
			token = strdup(next);
			rc = token ? 0 : -ENOMEM;
		}
		json_decref(resp);
		resp = NULL;
		if (!token)
			break;
	}
	*out = json_pack("{s:o, s:o}", "StreamNames", names, "StreamSummaries", sums);
	names = sums = NULL;
	rc = *out ? rc : -ENOMEM;
out:
	json_decref(resp);
	json_decref(names);
	json_decref(sums);
	free(token);
	return rc;
}

static void print_stream_table(const json_t *doc)
{
	const json_t *sums = json_object_get(doc, "StreamSummaries"), *s;
	int width = 4;
	size_t i;

	if (json_array_size(sums) == 0) {
		puts("no streams");
		return;
	}
	json_array_foreach(sums, i, s)
	{
		int n = (int)strlen(str_of(s, "StreamName"));

		width = n > width ? n : width;
	}
	printf("%-*s  %-8s  %-11s  %s\n", width, "NAME", "STATUS", "MODE", "CREATED");
	json_array_foreach(sums, i, s)
	{
		char iso[ISO_BUF];
		const json_t *mode = json_object_get(s, "StreamModeDetails");

		printf("%-*s  %-8s  %-11s  %s\n", width, str_of(s, "StreamName"),
		       str_of(s, "StreamStatus"), str_of(mode, "StreamMode"),
		       sl_cli_iso_ms(ms_of(s, "StreamCreationTimestamp"), iso));
	}
}

int sl_cli_stream_list(struct cli *cli, int argc, char **argv)
{
	struct api a;
	json_t *doc = NULL;
	int rc;

	if (argc > 0)
		return sl_cli_bad_arg("stream list",
				      argv[0][0] == '-' ? "unknown option" : "unexpected argument",
				      argv[0]);
	rc = api_open(cli, "stream list", &a);
	if (rc != EXIT_OK)
		return rc;
	rc = list_streams(&a, &doc);
	api_close(&a);
	if (rc < 0)
		return EXIT_FAIL;
	if (cli->json)
		return sl_cli_json_print(doc);
	print_stream_table(doc);
	json_decref(doc);
	return EXIT_OK;
}

/* ---- stream describe ---------------------------------------------------- */

/* Every tag of `name` (ListTagsForStream pages) into a new array *out. */
static int list_tags(struct api *a, const char *name, json_t **out)
{
	json_t *all = json_array(), *resp = NULL;
	char *start = NULL;
	int rc = 0;

	if (!all)
		return -ENOMEM;
	for (unsigned page = 0; page < PAGES_MAX; page++) {
		json_t *req = json_pack("{s:s, s:i}", "StreamName", name, "Limit", 50);
		json_t *tags, *last;

		if (req && start &&
		    json_object_set_new(req, "ExclusiveStartTagKey", json_string(start)) != 0) {
			json_decref(req);
			req = NULL;
		}
		free(start);
		start = NULL;
		rc = api_call(a, "ListTagsForStream", req, &resp);
		if (rc < 0)
			break;
		tags = json_object_get(resp, "Tags");
		json_array_extend(all, tags);
		last = json_array_get(tags, json_array_size(tags) - 1);
		if (json_is_true(json_object_get(resp, "HasMoreTags")) && last)
			start = strdup(str_of(last, "Key"));
		json_decref(resp);
		resp = NULL;
		if (!start)
			break;
	}
	json_decref(resp);
	free(start);
	if (rc < 0) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return 0;
}

static void print_description(const json_t *s, const json_t *shards, const json_t *tags)
{
	const json_t *sh, *t;
	char iso[ISO_BUF];
	size_t i;

	printf("name         %s\n", str_of(s, "StreamName"));
	printf("arn          %s\n", str_of(s, "StreamARN"));
	printf("status       %s\n", str_of(s, "StreamStatus"));
	printf("mode         %s\n", str_of(json_object_get(s, "StreamModeDetails"), "StreamMode"));
	printf("retention    %" JSON_INTEGER_FORMAT " h\n",
	       json_integer_value(json_object_get(s, "RetentionPeriodHours")));
	printf("created      %s\n", sl_cli_iso_ms(ms_of(s, "StreamCreationTimestamp"), iso));
	printf("open shards  %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(s, "OpenShardCount")));
	printf("consumers    %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(s, "ConsumerCount")));
	printf("tags         %s", json_array_size(tags) ? "" : "none");
	json_array_foreach(tags, i, t)
	    printf("%s%s=%s", i ? ", " : "", str_of(t, "Key"), str_of(t, "Value"));
	printf("\nshards       %zu\n", json_array_size(shards));
	json_array_foreach(shards, i, sh)
	{
		const json_t *h = json_object_get(sh, "HashKeyRange");
		const json_t *q = json_object_get(sh, "SequenceNumberRange");
		const char *parent = str_of(sh, "ParentShardId");
		const char *end = str_of(q, "EndingSequenceNumber");

		printf("  %s  hash %s..%s  first seq %s%s%s%s%s\n", str_of(sh, "ShardId"),
		       str_of(h, "StartingHashKey"), str_of(h, "EndingHashKey"),
		       str_of(q, "StartingSequenceNumber"), parent[0] ? "  parent " : "", parent,
		       end[0] ? "  closed at seq " : "", end);
	}
}

static int one_name(const char *cmd, int argc, char **argv, const char **name, bool *force)
{
	*name = NULL;
	for (int i = 0; i < argc; i++) {
		if (force && strcmp(argv[i], "--force") == 0)
			*force = true;
		else if (argv[i][0] == '-' || *name)
			return sl_cli_bad_arg(
			    cmd, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
			    argv[i]);
		else
			*name = argv[i];
	}
	if (!*name)
		return sl_cli_bad_arg(cmd, "missing", "NAME");
	return need_text(cmd, "not UTF-8:", *name);
}

int sl_cli_stream_describe(struct cli *cli, int argc, char **argv)
{
	const char *name;
	json_t *s = NULL, *shards = NULL, *tags = NULL;
	struct api a;
	int rc = one_name("stream describe", argc, argv, &name, NULL);

	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "stream describe", &a);
	if (rc != EXIT_OK)
		return rc;
	s = summary(&a, name, &rc);
	if (s)
		rc = list_shards(&a, name, &shards);
	if (s && rc == 0)
		rc = list_tags(&a, name, &tags);
	api_close(&a);
	if (!s || rc < 0) {
		json_decref(s);
		json_decref(shards);
		return EXIT_FAIL;
	}
	if (cli->json)
		return sl_cli_json_print(json_pack("{s:o, s:o, s:o}", "StreamDescriptionSummary", s,
						   "Shards", shards, "Tags", tags));
	print_description(s, shards, tags);
	json_decref(s);
	json_decref(shards);
	json_decref(tags);
	return EXIT_OK;
}

/* ---- stream delete ------------------------------------------------------ */

int sl_cli_stream_delete(struct cli *cli, int argc, char **argv)
{
	const char *name;
	bool force = false;
	json_t *resp = NULL;
	struct api a;
	int rc = one_name("stream delete", argc, argv, &name, &force);

	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "stream delete", &a);
	if (rc != EXIT_OK)
		return rc;
	rc = api_call(&a, "DeleteStream",
		      json_pack("{s:s, s:b}", "StreamName", name, "EnforceConsumerDeletion", force),
		      &resp);
	json_decref(resp);
	api_close(&a);
	if (rc < 0)
		return EXIT_FAIL;
	if (cli->json)
		return sl_cli_json_print(json_pack("{s:s, s:b}", "StreamName", name, "Deleted", 1));
	printf("stream %s deleted\n", name);
	return EXIT_OK;
}

/* ---- put ---------------------------------------------------------------- */

/* All of stdin, at most DATA_BYTES_MAX bytes, into a fresh buffer. */
static int read_stdin(uint8_t **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb;

			if (cap > DATA_BYTES_MAX) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > DATA_BYTES_MAX) {
			free(buf);
			return -EFBIG;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

struct put_args {
	const char *stream, *key, *data, *hash_key;
};

static int parse_put(int argc, char **argv, struct put_args *p)
{
	const char *cmd = "put", **slot[] = {&p->stream, &p->key, &p->data};
	unsigned pos = 0;
	bool options_done = false;

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < argc; i++) {
		int m =
		    options_done ? 0 : opt_value(cmd, argc, argv, &i, "--hash-key", &p->hash_key);

		if (m < 0)
			return -m;
		if (m == 1)
			continue;
		if (!options_done && strcmp(argv[i], "--") == 0) {
			options_done = true;
		} else if (!options_done && argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
			return sl_cli_bad_arg(cmd, "unknown option", argv[i]);
		} else if (pos == 3) {
			return sl_cli_bad_arg(cmd, "unexpected argument", argv[i]);
		} else {
			*slot[pos++] = argv[i];
		}
	}
	if (pos < 2)
		return sl_cli_bad_arg(cmd, "missing", pos == 0 ? "STREAM" : "KEY");
	if (p->data && strcmp(p->data, "-") == 0)
		p->data = NULL;
	if (need_text(cmd, "not UTF-8:", p->stream) != EXIT_OK ||
	    need_text(cmd, "not UTF-8:", p->key) != EXIT_OK ||
	    (p->hash_key && need_text(cmd, "not UTF-8:", p->hash_key) != EXIT_OK))
		return EXIT_USAGE;
	return EXIT_OK;
}

/* The PutRecord request: data from the argument or stdin, in base64. */
static int put_request(const struct put_args *p, json_t **req)
{
	uint8_t *stdin_data = NULL;
	size_t len = 0;
	char *b64;
	int rc = 0;

	*req = NULL;
	if (p->data) {
		len = strlen(p->data);
	} else {
		rc = read_stdin(&stdin_data, &len);
		if (rc == -EFBIG)
			fprintf(stderr, "sluice put: more than %u MiB on standard input\n",
				DATA_BYTES_MAX >> 20);
		else if (rc < 0)
			fprintf(stderr, "sluice put: reading standard input: %s\n", strerror(-rc));
		if (rc < 0)
			return rc == -EFBIG ? EXIT_USAGE : EXIT_FAIL;
	}
	b64 = sl_kc_b64_encode(p->data ? (const void *)p->data : stdin_data, len);
	free(stdin_data);
	if (b64)
		*req = json_pack("{s:s, s:s, s:s}", "StreamName", p->stream, "PartitionKey", p->key,
				 "Data", b64);
	free(b64);
	if (*req && p->hash_key &&
	    json_object_set_new(*req, "ExplicitHashKey", json_string(p->hash_key)) != 0) {
		json_decref(*req);
		*req = NULL;
	}
	if (!*req) {
		fputs("sluice: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int sl_cli_put(struct cli *cli, int argc, char **argv)
{
	struct put_args p;
	json_t *req, *resp = NULL;
	struct api a;
	int rc = parse_put(argc, argv, &p);

	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "put", &a);
	if (rc != EXIT_OK)
		return rc;
	rc = put_request(&p, &req);
	if (rc == EXIT_OK)
		rc = api_call(&a, "PutRecord", req, &resp) < 0 ? EXIT_FAIL : EXIT_OK;
	api_close(&a);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json)
		return sl_cli_json_print(resp);
	printf("%s %s\n", str_of(resp, "ShardId"), str_of(resp, "SequenceNumber"));
	json_decref(resp);
	return EXIT_OK;
}

/* ---- get ---------------------------------------------------------------- */

/*
 * "2024-05-01T12:00:00[.fff](Z|+00:00)" or seconds since the epoch
 * ("1714564800[.5]") into seconds. false when neither.
 */
static bool parse_time(const char *s, double *out)
{
	struct tm tm;
	const char *rest;
	double frac = 0, scale = 0.1;
	char *end;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789.") == strlen(s)) {
		errno = 0;
		*out = strtod(s, &end);
		return errno == 0 && *end == '\0' && *out >= 0 && *out < 253402300800.0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return false;
	if (*rest == '.') {
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			frac += (*rest - '0') * scale;
	}
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return false;
	*out = (double)timegm(&tm) + frac;
	return *out >= 0;
}

struct get_args {
	const char *stream;
	const char *shard; /* NULL: every shard */
	struct from from;
	uint64_t limit;
};

/* "--from POSITION [ARG]" at argv[*i]. EXIT_OK or EXIT_USAGE (printed). */
static int parse_from(const char *cmd, int argc, char **argv, int *i, struct from *f, bool tail)
{
	const char *pos;

	if (*i + 1 >= argc)
		return sl_cli_bad_arg(cmd, "missing value after", argv[*i]);
	pos = argv[++*i];
	if (strcmp(pos, "trim-horizon") == 0) {
		f->kind = FROM_TRIM_HORIZON;
		return EXIT_OK;
	}
	if (strcmp(pos, "latest") == 0) {
		f->kind = FROM_LATEST;
		return EXIT_OK;
	}
	if (tail || (strcmp(pos, "at-seq") != 0 && strcmp(pos, "after-seq") != 0 &&
		     strcmp(pos, "at-time") != 0))
		return sl_cli_bad_arg(cmd, "unknown --from position", pos);
	if (*i + 1 >= argc)
		return sl_cli_bad_arg(cmd, "missing value after --from", pos);
	f->seq = argv[++*i];
	if (strcmp(pos, "at-time") == 0) {
		f->kind = FROM_AT_TIME;
		if (!parse_time(f->seq, &f->time_s))
			return sl_cli_bad_arg(
			    cmd, "not a time (ISO 8601 UTC or epoch seconds):", f->seq);
		return EXIT_OK;
	}
	f->kind = strcmp(pos, "at-seq") == 0 ? FROM_AT_SEQ : FROM_AFTER_SEQ;
	if (strspn(f->seq, "0123456789") != strlen(f->seq) || !f->seq[0] ||
	    strlen(f->seq) > SEQ_MAX)
		return sl_cli_bad_arg(cmd, "not a sequence number:", f->seq);
	return EXIT_OK;
}

static int parse_get(int argc, char **argv, struct get_args *g)
{
	const char *cmd = "get", *v;

	memset(g, 0, sizeof(*g));
	g->limit = GET_LIMIT_DEFAULT;
	for (int i = 0; i < argc; i++) {
		int m = opt_value(cmd, argc, argv, &i, "--shard", &g->shard);

		if (m == 0) {
			m = opt_value(cmd, argc, argv, &i, "--limit", &v);
			if (m == 1 && !parse_u64(v, 1, GET_LIMIT_MAX, &g->limit))
				return sl_cli_bad_arg(cmd, "--limit wants 1..1000000, not", v);
		}
		if (m < 0)
			return -m;
		if (m == 1) {
			continue;
		} else if (strcmp(argv[i], "--from") == 0) {
			int rc = parse_from(cmd, argc, argv, &i, &g->from, false);

			if (rc != EXIT_OK)
				return rc;
		} else if (argv[i][0] == '-' || g->stream) {
			return sl_cli_bad_arg(
			    cmd, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
			    argv[i]);
		} else {
			g->stream = argv[i];
		}
	}
	if (!g->stream)
		return sl_cli_bad_arg(cmd, "missing", "STREAM");
	if ((g->from.kind == FROM_AT_SEQ || g->from.kind == FROM_AFTER_SEQ) && !g->shard)
		return sl_cli_bad_arg(cmd, "a sequence number belongs to one shard: add",
				      "--shard ID");
	if (need_text(cmd, "not UTF-8:", g->stream) != EXIT_OK ||
	    (g->shard && need_text(cmd, "not UTF-8:", g->shard) != EXIT_OK))
		return EXIT_USAGE;
	return EXIT_OK;
}

/*
 * Print the records of one shard from g->from up to the newest, at most
 * *left of them (decremented). 0 or < 0 (printed).
 */
static int get_shard(struct api *a, const struct get_args *g, const char *shard, uint64_t *left)
{
	char *it = NULL;
	int rc = shard_iterator(a, g->stream, shard, &g->from, &it);

	for (unsigned calls = 0; rc == 0 && *left > 0 && calls < GET_CALLS_MAX; calls++) {
		uint64_t want = *left < GET_BATCH_MAX ? *left : GET_BATCH_MAX;
		json_t *resp = NULL;
		const char *next;
		long n;

		rc = api_call(
		    a, "GetRecords",
		    json_pack("{s:s, s:I}", "ShardIterator", it, "Limit", (json_int_t)want), &resp);
		if (rc < 0)
			break;
		n = print_records(a->cli, shard, resp, NULL);
		if (n < 0) {
			rc = (int)n;
		} else {
			*left -= (uint64_t)n < *left ? (uint64_t)n : *left;
			next = json_string_value(json_object_get(resp, "NextShardIterator"));
			free(it);
			it = next ? strdup(next) : NULL;
			if (!next || (n == 0 && json_integer_value(json_object_get(
						    resp, "MillisBehindLatest")) == 0)) {
				json_decref(resp);
				break;
			}
			if (!it)
				rc = -ENOMEM;
		}
		json_decref(resp);
	}
	free(it);
	return rc;
}

int sl_cli_get(struct cli *cli, int argc, char **argv)
{
	struct get_args g;
	json_t *shards = NULL, *sh;
	struct api a;
	uint64_t left;
	size_t i;
	int rc = parse_get(argc, argv, &g);

	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "get", &a);
	if (rc != EXIT_OK)
		return rc;
	left = g.limit;
	if (g.shard) {
		rc = get_shard(&a, &g, g.shard, &left);
	} else {
		rc = list_shards(&a, g.stream, &shards);
		json_array_foreach(shards, i, sh)
		{
			if (rc < 0 || left == 0)
				break;
			rc = get_shard(&a, &g, str_of(sh, "ShardId"), &left);
		}
		json_decref(shards);
	}
	api_close(&a);
	return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

/* ---- tail --------------------------------------------------------------- */

static volatile sig_atomic_t tail_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	tail_stop = 1;
}

struct tail_shard {
	char id[SHARD_ID_MAX + 1];
	char *iterator;             /* NULL: closed (no more records) */
	char last_seq[SEQ_MAX + 1]; /* "" until a record came */
};

struct tail {
	struct api a;
	const char *stream;
	struct from start;
	unsigned interval_ms;
	struct tail_shard *shards;
	size_t count, cap;
};

static bool tail_has(const struct tail *t, const char *id)
{
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->shards[i].id, id) == 0)
			return true;
	}
	return false;
}

/*
 * Add the shards not followed yet, each from `f`. 0 or < 0 (-EINTR: a
 * signal came; else printed).
 */
static int tail_add_shards(struct tail *t, const struct from *f)
{
	json_t *shards = NULL, *sh;
	size_t i;
	int rc = list_shards(&t->a, t->stream, &shards);

	json_array_foreach(shards, i, sh)
	{
		const char *id = str_of(sh, "ShardId");
		struct tail_shard *s;

		if (rc < 0)
			break;
		if (tail_has(t, id) || !id[0] || strlen(id) > SHARD_ID_MAX)
			continue;
		if (t->count == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 16;
			struct tail_shard *ns;

			if (cap > SHARDS_MAX) {
				rc = -E2BIG;
				break;
			}
			ns = realloc(t->shards, cap * sizeof(*ns));
			if (!ns) {
				rc = -ENOMEM;
				break;
			}
			t->shards = ns;
			t->cap = cap;
		}
		s = &t->shards[t->count];
		memset(s, 0, sizeof(*s));
		strcpy(s->id, id);
		rc = shard_iterator(&t->a, t->stream, id, f, &s->iterator);
		if (rc == 0)
			t->count++;
	}
	json_decref(shards);
	return rc;
}

/* A new iterator for s after ExpiredIteratorException: after its last record. */
static int tail_refresh(struct tail *t, struct tail_shard *s)
{
	struct from f = t->start;

	if (s->last_seq[0]) {
		f.kind = FROM_AFTER_SEQ;
		f.seq = s->last_seq;
	}
	free(s->iterator);
	s->iterator = NULL;
	return shard_iterator(&t->a, t->stream, s->id, &f, &s->iterator);
}

/* One GetRecords on s; returns records printed, or < 0. */
static long tail_poll(struct tail *t, struct tail_shard *s)
{
	json_t *resp = NULL;
	const char *next;
	long n;
	int rc = api_call_expect(
	    &t->a, "GetRecords",
	    json_pack("{s:s, s:i}", "ShardIterator", s->iterator, "Limit", TAIL_BATCH), &resp,
	    "ExpiredIteratorException");

	if (rc == -EAGAIN)
		return tail_refresh(t, s);
	if (rc < 0)
		return rc;
	n = print_records(t->a.cli, s->id, resp, s->last_seq);
	next = json_string_value(json_object_get(resp, "NextShardIterator"));
	free(s->iterator);
	s->iterator = next ? strdup(next) : NULL;
	if (next && !s->iterator)
		n = -ENOMEM;
	json_decref(resp);
	return n;
}

static int parse_tail(int argc, char **argv, struct tail *t)
{
	const char *cmd = "tail", *v;
	uint64_t ms;

	t->start.kind = FROM_LATEST;
	t->interval_ms = TAIL_INTERVAL_MS;
	for (int i = 0; i < argc; i++) {
		int m = opt_value(cmd, argc, argv, &i, "--interval", &v);

		if (m < 0)
			return -m;
		if (m == 1) {
			if (!parse_u64(v, 1, TAIL_INTERVAL_MAX_MS, &ms))
				return sl_cli_bad_arg(cmd, "--interval wants 1..60000 ms, not", v);
			t->interval_ms = (unsigned)ms;
		} else if (strcmp(argv[i], "--from") == 0) {
			int rc = parse_from(cmd, argc, argv, &i, &t->start, true);

			if (rc != EXIT_OK)
				return rc;
		} else if (argv[i][0] == '-' || t->stream) {
			return sl_cli_bad_arg(
			    cmd, argv[i][0] == '-' ? "unknown option" : "unexpected argument",
			    argv[i]);
		} else {
			t->stream = argv[i];
		}
	}
	if (!t->stream)
		return sl_cli_bad_arg(cmd, "missing", "STREAM");
	return need_text(cmd, "not UTF-8:", t->stream);
}

/* The loop: every open shard in turn, a pause when none had anything. */
static int tail_run(struct tail *t)
{
	const struct from horizon = {.kind = FROM_TRIM_HORIZON};
	unsigned since_list = 0;

	while (!tail_stop) {
		long got = 0;

		for (size_t i = 0; i < t->count && !tail_stop; i++) {
			long n = t->shards[i].iterator ? tail_poll(t, &t->shards[i]) : 0;

			if (n < 0)
				return (int)n;
			got += n;
		}
		if (fflush(stdout) != 0)
			return -EIO;
		if (got == 0 && !tail_stop) {
			sleep_ms(t->interval_ms);
			since_list += t->interval_ms;
		}
		/* Shards born since (resharding) are read from their start. */
		if (since_list >= TAIL_RELIST_MS && !tail_stop) {
			int rc = tail_add_shards(t, &horizon);

			if (rc < 0)
				return rc;
			since_list = 0;
		}
	}
	return 0;
}

int sl_cli_tail(struct cli *cli, int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};
	struct tail t;
	int rc;

	memset(&t, 0, sizeof(t));
	rc = parse_tail(argc, argv, &t);
	if (rc != EXIT_OK)
		return rc;
	rc = api_open(cli, "tail", &t.a);
	if (rc != EXIT_OK)
		return rc;
	/* No SA_RESTART: a signal ends the wait in poll or the client. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = tail_add_shards(&t, &t.start);
	if (rc == 0) {
		fprintf(stderr, "sluice: tailing %s (%zu shard%s); Ctrl-C to stop\n", t.stream,
			t.count, t.count == 1 ? "" : "s");
		rc = tail_run(&t);
	}
	for (size_t i = 0; i < t.count; i++)
		free(t.shards[i].iterator);
	free(t.shards);
	api_close(&t.a);
	if (rc == -EIO)
		fputs("sluice: error writing to standard output\n", stderr);
	return (rc == 0 || (rc == -EINTR && tail_stop)) ? EXIT_OK : EXIT_FAIL;
}
