/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PutRecords fast path (control/kinesis_scan.c) against the path it
 * stands in for, jansson and the typed member access:
 * - the scanner takes the bodies SDKs send (compact, with blanks, members
 *   in any order, StreamARN, ExplicitHashKey, 500 records of 1 KiB) and
 *   declines what it must leave to jansson (each rule of its grammar);
 * - whenever it takes a body, jansson parses the same body and the
 *   getters find no error in the records and read exactly the same
 *   values (keys, hash keys, decoded data, stream members, sizes; the
 *   check is tests/helpers/kinesis_scan_diff.h, which the fuzz target
 *   kinesis_scan runs too): on the seeds and on 100 000 random mutations
 *   of them;
 * - end to end, every seed and 600 mutations are dispatched twice, with
 *   the fast path on and off, to a real store, and the answers agree
 *   (status, exception, message, per-entry shard, error, and sequence
 *   numbers relative to the first of each shard in the answer); the
 *   puts_scanned counter tells which way each went;
 * - the body is borrowed only during dispatch: scribbling over it before
 *   the records are durable changes nothing that is stored.
 */
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>

#include <sluice/kinesis.h>
#include <sluice/store.h>
#include <sluice/u128.h>

#include "kinesis_req.h"
#include "../../../control/kinesis_internal.h"
#include "check.h"
#include "kinesis_scan_diff.h"
#include "store_util.h"

#define ACCOUNT "123456789012"
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned scanned_count, shown;

/* The property (kinesis_scan_diff.h) on one body; whether it was taken. */
static bool differential(const char *body, size_t len)
{
	bool agree;
	bool took = ksd_check(body, len, &agree);
	scanned_count += took;
	CHECK(agree);
	if (!agree && shown++ < 5)
		fprintf(stderr, "  scanner and jansson differ on: %.*s\n",
			(int)(len < 300 ? len : 300), body);
	return took;
}

/* ---- bodies ---- */

static const char *const seeds[] = {
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"},"
    "{\"Data\":\"\",\"PartitionKey\":\"bb\",\"ExplicitHashKey\":\"12\"},"
    "{\"PartitionKey\":\"c\",\"Data\":\"AAECAwQF\"}]}",
    /* json.dumps' default separators, as botocore sends */
    "{\"StreamName\": \"sc\", \"Records\": [{\"Data\": \"aGVsbG8gd29ybGQ=\", "
    "\"PartitionKey\": \"pk-1\"}, {\"Data\": \"AA==\", \"PartitionKey\": \"pk-2\", "
    "\"ExplicitHashKey\": \"340282366920938463463374607431768211455\"}]}",
    " \r\n{ \"Records\" :\n\t[ { \"PartitionKey\" : \"x y\" , \"Data\" : \"+/+/\" } ] ,"
    " \"StreamName\" : \"sc\" }\n ",
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}],"
    "\"StreamARN\":\"arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/sc\"}",
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}],\"StreamName\":\"sc\","
    "\"StreamARN\":\"arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/sc\"}",
    /* a stream member the checks after the scan refuse */
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}],\"StreamName\":\"b@d\"}",
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}],\"StreamName\":\"\"}",
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}]}",
    "{\"Records\":[{\"Data\":\"Zm9v\",\"PartitionKey\":\"k\"}],\"StreamName\":\"nope\"}",
};

/* Bodies the scanner must decline (jansson's path answers them). */
static const char *const declined[] = {
    "",
    "[]",
    "{}",
    "{\"StreamName\":\"sc\"}",
    "{\"StreamName\":\"sc\",\"Records\":[]}",
    "{\"StreamName\":\"sc\",\"Records\":null}",
    "{\"StreamName\":\"sc\",\"Records\":{}}",
    "{\"StreamName\":null,\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":1,\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\","
    "\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}],"
    "\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}],\"X\":1}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\",\"X\":\"\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"Data\":\"YQ==\","
    "\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\","
    "\"PartitionKey\":\"b\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\","
    "\"ExplicitHashKey\":\"1\",\"ExplicitHashKey\":\"2\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":null}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":null,\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YR==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ=\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"Y\\u0051==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"\\u0061\"}]}",
    "{\"StreamName\":\"s\\u0063\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{\"Stream\\u004eame\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"\xc3\xa9\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\","
    "\"ExplicitHashKey\":\"01\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\","
    "\"ExplicitHashKey\":\"\"}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\","
    "\"ExplicitHashKey\":12}]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"},]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}],}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]} x",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}\v",
    "{\"StreamName\":\"sc\",\"Records\":[[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]]}",
    "{\"StreamName\":\"sc\",\"Records\":[\"x\"]}",
    "{\"StreamName\":\"sc\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\tb\"}]}",
    "{\"StreamName\":\"s\x7f\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"}]}",
    "{'StreamName':'sc','Records':[{'Data':'YQ==','PartitionKey':'a'}]}",
};

/* A PutRecords body of n records of size bytes each (random), into out. */
static size_t big_body(char *out, size_t cap, uint32_t n, size_t size)
{
	uint8_t *raw = malloc(size ? size : 1);
	char *enc = malloc(kin_b64_len(size) + 1);
	size_t len = (size_t)snprintf(out, cap, "{\"StreamName\":\"sc\",\"Records\":[");
	for (uint32_t i = 0; i < n; i++) {
		for (size_t j = 0; j < size; j++)
			raw[j] = (uint8_t)rnd();
		kin_b64_encode(raw, size, enc);
		enc[kin_b64_len(size)] = '\0';
		len += (size_t)snprintf(out + len, cap - len,
					"%s{\"Data\":\"%s\",\"PartitionKey\":\"pk-%016llx\"}",
					i ? "," : "", enc, (unsigned long long)rnd());
	}
	len += (size_t)snprintf(out + len, cap - len, "]}");
	SL_ASSERT(len < cap);
	free(raw);
	free(enc);
	return len;
}

/* One random edit of body (len) into out; the new length. */
static size_t mutate(const char *body, size_t len, char *out)
{
	static const char *const bits[] = {
	    "\"",
	    "\\",
	    " ",
	    "\n",
	    ",",
	    ":",
	    "{",
	    "}",
	    "[",
	    "]",
	    "null",
	    "1",
	    "=",
	    "A",
	    "/",
	    "+",
	    "\t",
	    "\\u0041",
	    "\xc3\xa9",
	    "\x80",
	    "\x01",
	    "\"Data\":\"YQ==\",",
	    "\"PartitionKey\":\"z\",",
	    "\"ExplicitHashKey\":\"7\",",
	    "\"StreamName\":\"sc\",",
	};
	size_t pos = len ? rnd() % (len + 1) : 0, n;
	switch (rnd() % 4) {
	case 0: /* replace a byte */
		memcpy(out, body, len);
		if (len > 0)
			out[pos % len] = bits[rnd() % SL_ARRAY_SIZE(bits)][0];
		return len;
	case 1: { /* insert a piece */
		const char *b = bits[rnd() % SL_ARRAY_SIZE(bits)];
		n = strlen(b);
		memcpy(out, body, pos);
		memcpy(out + pos, b, n);
		memcpy(out + pos + n, body + pos, len - pos);
		return len + n;
	}
	case 2: /* delete 1..4 bytes */
		n = 1 + rnd() % 4;
		if (pos + n > len)
			n = len - pos;
		memcpy(out, body, pos);
		memcpy(out + pos, body + pos + n, len - pos - n);
		return len - n;
	default: /* a byte as any value */
		memcpy(out, body, len);
		if (len > 0)
			out[pos % len] = (char)rnd();
		return len;
	}
}

/* ---- end to end ---- */

struct reply {
	bool got;
	int status;
	char type[64];
	char *raw;
	size_t raw_len;
	json_t *j;
};

static struct sl_kinesis *K;

static void on_reply(void *ctx, struct sl_kinesis_reply *r)
{
	struct reply *b = ctx;
	CHECK(!b->got);
	b->got = true;
	b->status = r->status;
	snprintf(b->type, sizeof(b->type), "%s", r->error_type ? r->error_type : "");
	b->raw = malloc(r->body_len + 1);
	memcpy(b->raw, r->body ? r->body : "", r->body_len);
	b->raw[r->body_len] = '\0';
	b->raw_len = r->body_len;
	b->j = json_loadb(b->raw, r->body_len, 0, NULL);
	free(r->body);
}

static void reply_free(struct reply *b)
{
	json_decref(b->j);
	free(b->raw);
	memset(b, 0, sizeof(*b));
}

static void send_op(const char *op, char *body, size_t len, struct reply *b, bool scribble)
{
	char target[64];
	snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
	struct sl_kinesis_request r = tk_request(target, (const uint8_t *)body, len);
	memset(b, 0, sizeof(*b));
	sl_kinesis_dispatch(K, &r, on_reply, b);
	if (scribble)
		memset(body, 'X', len); /* borrowed only until dispatch returned */
	for (int i = 0; i < 1000 && !b->got; i++) {
		struct pollfd p = {.fd = sl_kinesis_completion_fd(K), .events = POLLIN};
		poll(&p, 1, 10);
		sl_kinesis_poll(K);
	}
	CHECK(b->got);
}

static void op(const char *name, const char *body, struct reply *b)
{
	char *copy = strdup(body);
	send_op(name, copy, strlen(copy), b, false);
	free(copy);
}

/* The sequence number of entry i relative to the first entry of the same
 * shard in the answer (both answers wrote the same records in order). */
static bool seq_rel(json_t *recs, size_t i, sl_u128 *rel)
{
	json_t *e = json_array_get(recs, i), *s = json_object_get(e, "SequenceNumber");
	const char *shard = json_string_value(json_object_get(e, "ShardId"));
	sl_u128 v, first = 0;
	if (s == NULL)
		return false;
	if (sl_u128_from_dec(json_string_value(s), json_string_length(s), &v) != 0)
		return false;
	for (size_t j = 0; j <= i; j++) {
		json_t *f = json_array_get(recs, j);
		const char *fs = json_string_value(json_object_get(f, "ShardId"));
		json_t *fq = json_object_get(f, "SequenceNumber");
		if (fs != NULL && shard != NULL && strcmp(fs, shard) == 0 && fq != NULL) {
			if (sl_u128_from_dec(json_string_value(fq), json_string_length(fq),
					     &first) != 0)
				return false;
			break;
		}
	}
	*rel = v - first;
	return true;
}

static bool same_member(json_t *a, json_t *b, const char *name)
{
	json_t *x = json_object_get(a, name), *y = json_object_get(b, name);
	return (x == NULL && y == NULL) || (x != NULL && y != NULL && json_equal(x, y));
}

static bool answers_agree(const struct reply *a, const struct reply *b)
{
	if (a->status != b->status || strcmp(a->type, b->type) != 0)
		return false;
	if (a->status != 200)
		return a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0;
	if (!same_member(a->j, b->j, "FailedRecordCount") ||
	    !same_member(a->j, b->j, "EncryptionType"))
		return false;
	json_t *ra = json_object_get(a->j, "Records"), *rb = json_object_get(b->j, "Records");
	if (json_array_size(ra) != json_array_size(rb) || json_array_size(ra) == 0)
		return false;
	for (size_t i = 0; i < json_array_size(ra); i++) {
		json_t *x = json_array_get(ra, i), *y = json_array_get(rb, i);
		sl_u128 sx = 0, sy = 0;
		bool hx = seq_rel(ra, i, &sx), hy = seq_rel(rb, i, &sy);
		if (!same_member(x, y, "ShardId") || !same_member(x, y, "ErrorCode") ||
		    !same_member(x, y, "ErrorMessage") || hx != hy || sx != sy)
			return false;
	}
	return true;
}

/* Dispatch body with the fast path on, then off; the answers must agree,
 * and the counter says whether the scanner took it. */
static void both_ways(const char *body, size_t len)
{
	struct reply a, b;
	struct sl_kinesis_stats s0, s1;
	char *copy = malloc(len ? len : 1);
	memcpy(copy, body, len);
	sl_kinesis_stats(K, &s0);
	K->scan_off = false;
	send_op("PutRecords", copy, len, &a, false);
	sl_kinesis_stats(K, &s1);
	bool took = s1.puts_scanned == s0.puts_scanned + 1;
	CHECK(s1.puts_scanned - s0.puts_scanned <= 1);
	memcpy(copy, body, len);
	K->scan_off = true;
	send_op("PutRecords", copy, len, &b, false);
	K->scan_off = false;
	sl_kinesis_stats(K, &s0);
	CHECK(s0.puts_scanned == s1.puts_scanned);
	bool agree = answers_agree(&a, &b);
	CHECK(agree);
	if (!agree && shown++ < 5)
		fprintf(stderr, "  answers differ (%s) for %.*s:\n    %s\n    %s\n",
			took ? "scanned" : "both jansson", (int)(len < 300 ? len : 300), body,
			a.raw, b.raw);
	/* the counter matches the pure scanner's verdict */
	uint8_t *buf = malloc(len ? len : 1);
	struct kin_scan_put sp;
	CHECK(took == kin_scan_put_records(copy, len, ksd_recs, buf, &sp));
	free(buf);
	reply_free(&a);
	reply_free(&b);
	free(copy);
}

/* ---- the tests ---- */

static void test_seeds_and_declined(void)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(seeds); i++) {
		bool took = differential(seeds[i], strlen(seeds[i]));
		CHECK(took); /* the shapes SDKs send */
		if (!took)
			fprintf(stderr, "  seed %zu declined\n", i);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(declined); i++) {
		bool took = differential(declined[i], strlen(declined[i]));
		CHECK(!took);
		if (took)
			fprintf(stderr, "  taken but must not be: %s\n", declined[i]);
	}
	/* 500 records of 1 KiB: taken; 501: declined; 1 of 1 MiB: taken */
	size_t cap = 8u << 20;
	char *body = malloc(cap);
	size_t len = big_body(body, cap, 500, 1024);
	CHECK(differential(body, len));
	len = big_body(body, cap, 501, 10);
	CHECK(!differential(body, len));
	len = big_body(body, cap, 1, 1u << 20);
	CHECK(differential(body, len));
	free(body);
}

static void test_mutations(void)
{
	char out[4096];
	unsigned took = 0;
	for (int iter = 0; iter < 100000; iter++) {
		const char *seed = seeds[rnd() % SL_ARRAY_SIZE(seeds)];
		size_t len = strlen(seed);
		char a[4096];
		memcpy(a, seed, len);
		/* one to three edits */
		int edits = 1 + (int)(rnd() % 3);
		for (int e = 0; e < edits && len < sizeof(a) - 64; e++) {
			len = mutate(a, len, out);
			memcpy(a, out, len);
		}
		took += differential(a, len);
	}
	fprintf(stderr, "mutations: the scanner took %u of 100000\n", took);
	CHECK(took > 1000); /* some edits keep the shape (blanks, reordered pieces) */
}

static void test_end_to_end(void)
{
	struct reply b;
	op("CreateStream", "{\"StreamName\":\"sc\",\"ShardCount\":3}", &b);
	CHECK(b.status == 200);
	reply_free(&b);
	op("CreateStream", "{\"StreamName\":\"one\",\"ShardCount\":1}", &b);
	CHECK(b.status == 200);
	reply_free(&b);
	for (size_t i = 0; i < SL_ARRAY_SIZE(seeds); i++)
		both_ways(seeds[i], strlen(seeds[i]));
	for (size_t i = 0; i < SL_ARRAY_SIZE(declined); i++)
		both_ways(declined[i], strlen(declined[i]));
	size_t cap = 8u << 20;
	char *big = malloc(cap);
	size_t len = big_body(big, cap, 500, 1024);
	both_ways(big, len);
	len = big_body(big, cap, 501, 10);
	both_ways(big, len);
	free(big);
	char a[4096], out[4096];
	for (int iter = 0; iter < 600; iter++) {
		const char *seed = seeds[rnd() % SL_ARRAY_SIZE(seeds)];
		len = strlen(seed);
		memcpy(a, seed, len);
		len = mutate(a, len, out);
		both_ways(out, len);
	}
}

/* Scribble over the body once dispatch returned: what is stored is what
 * was sent. */
static void test_borrowed_body(void)
{
	char body[512];
	struct reply b;
	int n = snprintf(body, sizeof(body),
			 "{\"StreamName\":\"one\",\"Records\":[{\"Data\":\"c2NyaWJibGU=\","
			 "\"PartitionKey\":\"key-one\"},{\"PartitionKey\":\"key-two\","
			 "\"ExplicitHashKey\":\"99\",\"Data\":\"AAEC\"}]}");
	struct sl_kinesis_stats s0, s1;
	sl_kinesis_stats(K, &s0);
	op("GetShardIterator",
	   "{\"StreamName\":\"one\",\"ShardId\":\"shardId-000000000000\","
	   "\"ShardIteratorType\":\"LATEST\"}",
	   &b);
	char it[600];
	snprintf(it, sizeof(it), "%s", json_string_value(json_object_get(b.j, "ShardIterator")));
	reply_free(&b);
	send_op("PutRecords", body, (size_t)n, &b, true);
	sl_kinesis_stats(K, &s1);
	CHECK(s1.puts_scanned == s0.puts_scanned + 1);
	CHECK(b.status == 200);
	reply_free(&b);
	char req[800];
	snprintf(req, sizeof(req), "{\"ShardIterator\":\"%s\"}", it);
	op("GetRecords", req, &b);
	json_t *recs = json_object_get(b.j, "Records");
	CHECK(json_array_size(recs) == 2);
	const char *k0 =
	    json_string_value(json_object_get(json_array_get(recs, 0), "PartitionKey"));
	const char *k1 =
	    json_string_value(json_object_get(json_array_get(recs, 1), "PartitionKey"));
	const char *d0 = json_string_value(json_object_get(json_array_get(recs, 0), "Data"));
	const char *d1 = json_string_value(json_object_get(json_array_get(recs, 1), "Data"));
	CHECK(k0 && strcmp(k0, "key-one") == 0);
	CHECK(k1 && strcmp(k1, "key-two") == 0);
	CHECK(d0 && strcmp(d0, "c2NyaWJibGU=") == 0);
	CHECK(d1 && strcmp(d1, "AAEC") == 0);
	reply_free(&b);
}

int main(void)
{
	char dir[256], path[300];
	struct sl_store_options so;
	struct sl_store *st;
	struct tu_writer w;
	test_seeds_and_declined();
	test_mutations();
	fprintf(stderr, "pure differential: %u bodies taken\n", scanned_count);

	CHECK(tu_tmpdir(dir, sizeof(dir), "kscan") != NULL);
	snprintf(path, sizeof(path), "%s/main", dir);
	tu_options(&so, path);
	so.batch_bytes = 4u << 20;
	CHECK(sl_store_open(&so, &st) == 0);
	tu_writer_start(&w, st, 0);
	struct sl_kinesis_options ko = {
	    .store = st, .account_id = ACCOUNT, .appends_inflight_max = 256, .shard_limit = 20};
	CHECK(sl_kinesis_create(&ko, &K) == 0);
	test_end_to_end();
	test_borrowed_body();
	struct sl_kinesis_stats ks;
	sl_kinesis_stats(K, &ks);
	fprintf(stderr, "end to end: %llu bodies scanned\n", (unsigned long long)ks.puts_scanned);
	CHECK(ks.puts_scanned > SL_ARRAY_SIZE(seeds));
	CHECK(ks.server_errors == 0);
	sl_kinesis_destroy(K);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
	return sl_check_finish("test_kinesis_scan");
}
