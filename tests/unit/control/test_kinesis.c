/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis API (control/kinesis*.c) driven through its dispatcher with
 * JSON bodies, against a real store in a temporary directory with a real
 * writer thread: the protocol checks in Kinesis's order (method, content
 * type, body, JSON, target, SigV4-shaped Authorization) and their
 * exceptions; every operation of SPEC §5 group 1 and each of its
 * validation errors, with Kinesis's exception names and message shapes;
 * PutRecord(s) answered only once durable, routed by MD5 or explicit hash
 * key as the shard map says, PutRecords grouped per shard with
 * consecutive sequence numbers in request order, the in-flight bound
 * answered ProvisionedThroughputExceeded (whole request or per entry);
 * shard iterators of every type, GetRecords paging, forged and expired
 * iterators, and iterators surviving a restart through the key file; the
 * JSON writer's escaping and the strict base64 decoder.
 */
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>

#include <sluice/kinesis.h>
#include <sluice/shardmap.h>
#include <sluice/store.h>

#include "../../../control/kinesis_internal.h"
#include "check.h"
#include "store_util.h"

#define ACCOUNT "123456789012"
#define AUTH                                                                                       \
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/kinesis/aws4_request, "        \
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abcdef0123"

struct reply {
	bool got;
	int status;
	char type[64];
	char rid[40];
	char id2[100];
	char ct[40];
	json_t *j; /* parsed body */
	char *raw;
};

static void on_reply(void *ctx, struct sl_kinesis_reply *r)
{
	struct reply *b = ctx;
	CHECK(!b->got); /* exactly once */
	b->got = true;
	b->status = r->status;
	snprintf(b->type, sizeof(b->type), "%s", r->error_type ? r->error_type : "");
	snprintf(b->rid, sizeof(b->rid), "%s", r->request_id);
	snprintf(b->id2, sizeof(b->id2), "%s", r->id2);
	snprintf(b->ct, sizeof(b->ct), "%s", r->content_type);
	b->raw = malloc(r->body_len + 1);
	memcpy(b->raw, r->body ? r->body : "", r->body_len);
	b->raw[r->body_len] = '\0';
	b->j = json_loadb(b->raw, r->body_len, 0, NULL);
	free(r->body);
}

static void reply_free(struct reply *b)
{
	json_decref(b->j);
	free(b->raw);
	memset(b, 0, sizeof(*b));
}

/* Run the loop's side of completions until the reply came (or 10 s). */
static void wait_reply(struct sl_kinesis *k, struct reply *b)
{
	for (int i = 0; i < 1000 && !b->got; i++) {
		struct pollfd p = {.fd = sl_kinesis_completion_fd(k), .events = POLLIN};
		poll(&p, 1, 10);
		sl_kinesis_poll(k);
	}
}

static struct sl_kinesis *K;

/* Dispatch a raw request; the reply is in *b. */
static void raw(struct sl_kinesis *k, struct reply *b, const char *method, const char *target,
		const char *ct, const char *auth, bool date, const char *body)
{
	struct sl_kinesis_request r = {
	    .method = method,
	    .method_len = strlen(method),
	    .target = target,
	    .target_len = target ? strlen(target) : 0,
	    .content_type = ct,
	    .content_type_len = ct ? strlen(ct) : 0,
	    .authorization = auth,
	    .authorization_len = auth ? strlen(auth) : 0,
	    .has_date = date,
	    .body = (const uint8_t *)body,
	    .body_len = body ? strlen(body) : 0,
	};
	memset(b, 0, sizeof(*b));
	sl_kinesis_dispatch(k, &r, on_reply, b);
}

/* An operation with a JSON body (printf format); waits for the reply. */
__attribute__((format(printf, 4, 5))) static void op_on(struct sl_kinesis *k, struct reply *b,
							const char *op, const char *fmt, ...)
{
	static char body[8 << 20];
	char target[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	snprintf(target, sizeof(target), "Kinesis_20131202.%s", op);
	raw(k, b, "POST", target, "application/x-amz-json-1.1", AUTH, true, body);
	wait_reply(k, b);
	CHECK(b->got);
}

#define OP(b, op, ...) op_on(K, (b), (op), __VA_ARGS__)

static const char *jstr(json_t *j, const char *path)
{
	json_t *v = j;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *p = strtok_r(buf, ".", &save); p && v;
	     p = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
	return json_is_string(v) ? json_string_value(v) : "";
}

static json_t *jget(json_t *j, const char *path)
{
	json_t *v = j;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *p = strtok_r(buf, ".", &save); p && v;
	     p = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
	return v;
}

static long long jint(json_t *j, const char *path)
{
	json_t *v = jget(j, path);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int status_of(const char *exc)
{
	if (strcmp(exc, "InternalFailure") == 0)
		return 500;
	return strcmp(exc, "AccessDeniedException") == 0 ? 403 : 400;
}

/* Expect an exception whose message contains `part` (NULL: any). */
#define EXPECT_ERR(b, exc, part)                                                                   \
	do {                                                                                       \
		CHECK_STREQ((b)->type, (exc));                                                     \
		CHECK_STREQ(jstr((b)->j, "__type"), (exc));                                        \
		CHECK((b)->status == status_of(exc));                                              \
		if ((part) != NULL &&                                                              \
		    strstr(jstr((b)->j, "message"), (part) ? (part) : "") == NULL)                 \
			fprintf(stderr, "%s:%d: message was: %s\n", __FILE__, __LINE__,            \
				jstr((b)->j, "message"));                                          \
		CHECK((part) == NULL || strstr(jstr((b)->j, "message"), (part) ? (part) : ""));    \
	} while (0)

/* One request that must be refused with exception exc (message holding
 * part, or NULL), its reply released. */
#define REFUSED(b, exc, part, op, ...)                                                             \
	do {                                                                                       \
		OP(b, op, __VA_ARGS__);                                                            \
		EXPECT_ERR(b, exc, part);                                                          \
		reply_free(b);                                                                     \
	} while (0)

#define EXPECT_OK(b)                                                                               \
	do {                                                                                       \
		if ((b)->status != 200)                                                            \
			fprintf(stderr, "%s:%d: %d %s\n", __FILE__, __LINE__, (b)->status,         \
				(b)->raw);                                                         \
		CHECK((b)->status == 200);                                                         \
		CHECK((b)->type[0] == '\0');                                                       \
		CHECK(json_is_object((b)->j));                                                     \
	} while (0)

/* ---- pieces ---- */

static void test_base64_and_writer(void)
{
	uint8_t bytes[256], back[256];
	char enc[400];
	size_t n;
	char bad;
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)i;
	for (size_t len = 0; len <= 256; len += 37) {
		kin_b64_encode(bytes, len, enc);
		CHECK(kin_b64_check(enc, kin_b64_len(len), &n, &bad) == KIN_B64_OK);
		CHECK(n == len);
		kin_b64_decode(enc, kin_b64_len(len), back);
		CHECK(memcmp(back, bytes, len) == 0);
	}
	CHECK(kin_b64_check("abc", 3, &n, &bad) == KIN_B64_ELEN);
	CHECK(kin_b64_check("ab$d", 4, &n, &bad) == KIN_B64_ECHAR && bad == '$');
	CHECK(kin_b64_check("a=bc", 4, &n, &bad) == KIN_B64_ECHAR && bad == '=');
	CHECK(kin_b64_check("a===", 4, &n, &bad) == KIN_B64_ELAST);
	CHECK(kin_b64_check("YR==", 4, &n, &bad) == KIN_B64_ELAST); /* unused bits set */
	CHECK(kin_b64_check("YQ==", 4, &n, &bad) == KIN_B64_OK && n == 1);
	CHECK(kin_b64_check("", 0, &n, &bad) == KIN_B64_OK && n == 0);

	struct kjw w;
	kjw_init(&w, 8);
	kjw_obj_begin(&w);
	kjw_key(&w, "s");
	kjw_str(&w, "a\"b\\c\n\x01\xff\xc3\xa9", 10);
	kjw_key(&w, "t");
	kjw_ts_ms(&w, 1700000000123ull);
	kjw_key(&w, "u");
	kjw_u128(&w, SL_U128_MAX);
	kjw_key(&w, "a");
	kjw_arr_begin(&w);
	kjw_u64(&w, 1);
	kjw_bool(&w, false);
	kjw_arr_end(&w);
	kjw_obj_end(&w);
	CHECK(!w.oom);
	const char want[] =
	    "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\\ufffd\xc3\xa9\",\"t\":1700000000.123,"
	    "\"u\":\"340282366920938463463374607431768211455\",\"a\":[1,false]}";
	CHECK(w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0);
	json_t *j = json_loadb(w.buf, w.len, 0, NULL);
	CHECK(j != NULL); /* valid JSON, valid UTF-8 */
	json_decref(j);
	kjw_fini(&w);
}

/* ---- protocol ---- */

static void test_protocol(void)
{
	struct reply b, b2;
	const char *t = "Kinesis_20131202.ListStreams", *ct = "application/x-amz-json-1.1";
	raw(K, &b, "GET", t, ct, AUTH, true, "{}");
	CHECK(b.status == 403);
	EXPECT_ERR(&b, "AccessDeniedException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", t, "text/plain", AUTH, true, "{}");
	CHECK(b.status == 404 && strcmp(b.type, "UnknownOperationException") == 0);
	reply_free(&b);
	raw(K, &b, "POST", "nothing", "text/plain", AUTH, true, "{}");
	CHECK(b.status == 403 && strcmp(b.type, "AccessDeniedException") == 0);
	reply_free(&b);
	raw(K, &b, "POST", t, ct, AUTH, true, "");
	EXPECT_ERR(&b, "SerializationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", "Kinesis_20131202.Nope", ct, AUTH, true, "");
	EXPECT_ERR(&b, "UnknownOperationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", t, ct, AUTH, true, "{\"Limit\":");
	EXPECT_ERR(&b, "SerializationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", t, ct, AUTH, true, "[1]");
	EXPECT_ERR(&b, "SerializationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", "Kinesis_20131202.Nope", ct, AUTH, true, "{}");
	EXPECT_ERR(&b, "UnknownOperationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", "Firehose_20150804.ListStreams", ct, AUTH, true, "{}");
	EXPECT_ERR(&b, "UnknownOperationException", NULL);
	reply_free(&b);
	raw(K, &b, "POST", t, ct, NULL, true, "{}");
	EXPECT_ERR(&b, "MissingAuthenticationTokenException", "Missing Authentication Token");
	reply_free(&b);
	raw(K, &b, "POST", t, ct, "AWS4-HMAC-SHA256 Credential=a/20240101/r/kinesis/aws4_request",
	    true, "{}");
	EXPECT_ERR(&b, "IncompleteSignatureException",
		   "Authorization header requires 'Signature' parameter. Authorization header "
		   "requires 'SignedHeaders' parameter. Authorization=AWS4");
	reply_free(&b);
	raw(K, &b, "POST", t, ct, AUTH, false, "{}");
	EXPECT_ERR(&b, "IncompleteSignatureException", "'X-Amz-Date' or a 'Date' header");
	reply_free(&b);
	raw(K, &b, "POST", t, ct,
	    "AWS4-HMAC-SHA256 Credential=a/20240101/eu-west-1/s3/aws4_request, SignedHeaders=h, "
	    "Signature=s",
	    true, "{}");
	EXPECT_ERR(&b, "IncompleteSignatureException", "correct service: 'kinesis'");
	reply_free(&b);
	raw(K, &b, "POST", t, ct,
	    "AWS4-HMAC-SHA256 Credential=a/2024/eu-west-1/kinesis/aws4_request, SignedHeaders=h, "
	    "Signature=s",
	    true, "{}");
	EXPECT_ERR(&b, "IncompleteSignatureException", NULL);
	reply_free(&b);
	/* accepted: application/json, echoed; ids on every answer, all different */
	raw(K, &b, "POST", t, "application/json; charset=utf-8", AUTH, true, "{}");
	EXPECT_OK(&b);
	CHECK_STREQ(b.ct, "application/json");
	raw(K, &b2, "POST", t, ct, AUTH, true, "{}");
	EXPECT_OK(&b2);
	CHECK_STREQ(b2.ct, ct);
	CHECK(strlen(b.rid) == 36 && b.rid[14] == '4' && b.rid[8] == '-');
	CHECK(strcmp(b.rid, b2.rid) != 0);
	CHECK(strlen(b.id2) > 0 && strcmp(b.id2, b2.id2) != 0);
	reply_free(&b);
	reply_free(&b2);
}

/* ---- streams ---- */

static void test_create(void)
{
	struct reply b;
	OP(&b, "CreateStream", "{\"StreamName\":\"s1\",\"ShardCount\":2}");
	EXPECT_OK(&b);
	CHECK_STREQ(b.raw, "{}");
	reply_free(&b);
	REFUSED(&b, "ResourceInUseException", "Stream s1 under account " ACCOUNT " already exists.",
		"CreateStream", "{\"StreamName\":\"s1\",\"ShardCount\":2}");
	REFUSED(&b, "ValidationException",
		"1 validation error detected: Value 'a b' at 'streamName' failed to satisfy "
		"constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
		"CreateStream", "{\"StreamName\":\"a b\",\"ShardCount\":1}");
	REFUSED(&b, "ValidationException",
		"3 validation errors detected: Value '0' at 'shardCount' failed to satisfy "
		"constraint: Member must have value greater than or equal to 1; Value '' at "
		"'streamName' failed to satisfy constraint: Member must satisfy regular "
		"expression pattern",
		"CreateStream", "{\"StreamName\":\"\",\"ShardCount\":0}");
	char longname[130];
	memset(longname, 'x', 129);
	longname[129] = '\0';
	REFUSED(&b, "ValidationException", "Member must have length less than or equal to 128",
		"CreateStream", "{\"StreamName\":\"%s\",\"ShardCount\":1}", longname);
	REFUSED(&b, "ValidationException",
		"Value null at 'streamName' failed to satisfy constraint: Member must not be "
		"null",
		"CreateStream", "{\"ShardCount\":1}");
	REFUSED(&b, "SerializationException",
		"class java.lang.String can not be converted to an Integer", "CreateStream",
		"{\"StreamName\":\"x\",\"ShardCount\":\"2\"}");
	REFUSED(&b, "SerializationException",
		"class java.math.BigDecimal can not be converted to an String", "CreateStream",
		"{\"StreamName\":7}");
	REFUSED(&b, "ValidationException",
		"Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]", "CreateStream",
		"{\"StreamName\":\"x\",\"StreamModeDetails\":{\"StreamMode\":\"X\"}}");
	REFUSED(&b, "InvalidArgumentException", "ON_DEMAND", "CreateStream",
		"{\"StreamName\":\"x\",\"ShardCount\":2,\"StreamModeDetails\":{\"StreamMode\":"
		"\"ON_DEMAND\"}}");
	REFUSED(&b, "InvalidArgumentException", "ShardCount is required", "CreateStream",
		"{\"StreamName\":\"x\",\"StreamModeDetails\":{\"StreamMode\":"
		"\"PROVISIONED\"}}");
	REFUSED(&b, "LimitExceededException", "shard limit", "CreateStream",
		"{\"StreamName\":\"x\",\"ShardCount\":100}");
	/* no mode, no count: ON_DEMAND with 4 shards; tags at creation */
	OP(&b, "CreateStream", "{\"StreamName\":\"od\",\"Tags\":{\"team\":\"a\"}}");
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "DescribeStreamSummary", "{\"StreamName\":\"od\"}");
	EXPECT_OK(&b);
	CHECK(jint(b.j, "StreamDescriptionSummary.OpenShardCount") == 4);
	CHECK_STREQ(jstr(b.j, "StreamDescriptionSummary.StreamModeDetails.StreamMode"),
		    "ON_DEMAND");
	reply_free(&b);
	OP(&b, "ListTagsForStream", "{\"StreamName\":\"od\"}");
	EXPECT_OK(&b);
	CHECK_STREQ(jstr(b.j, "Tags.0.Key"), "team");
	reply_free(&b);
}

static void test_describe(void)
{
	struct reply b;
	char arn[160];
	OP(&b, "DescribeStream", "{\"StreamName\":\"s1\"}");
	EXPECT_OK(&b);
	json_t *d = jget(b.j, "StreamDescription");
	CHECK_STREQ(jstr(d, "StreamName"), "s1");
	CHECK_STREQ(jstr(d, "StreamARN"), "arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/s1");
	CHECK_STREQ(jstr(d, "StreamStatus"), "ACTIVE");
	CHECK(json_array_size(jget(d, "Shards")) == 2);
	CHECK_STREQ(jstr(d, "Shards.0.ShardId"), "shardId-000000000000");
	CHECK_STREQ(jstr(d, "Shards.0.HashKeyRange.StartingHashKey"), "0");
	CHECK_STREQ(jstr(d, "Shards.0.HashKeyRange.EndingHashKey"),
		    "170141183460469231731687303715884105727");
	CHECK_STREQ(jstr(d, "Shards.1.HashKeyRange.StartingHashKey"),
		    "170141183460469231731687303715884105728");
	CHECK_STREQ(jstr(d, "Shards.1.HashKeyRange.EndingHashKey"),
		    "340282366920938463463374607431768211455");
	CHECK(strlen(jstr(d, "Shards.0.SequenceNumberRange.StartingSequenceNumber")) > 0);
	CHECK(json_is_false(jget(d, "HasMoreShards")));
	CHECK(jint(d, "RetentionPeriodHours") == 24);
	CHECK(json_is_real(jget(d, "StreamCreationTimestamp")));
	CHECK_STREQ(jstr(d, "EncryptionType"), "NONE");
	snprintf(arn, sizeof(arn), "%s", jstr(d, "StreamARN"));
	reply_free(&b);
	OP(&b, "DescribeStream", "{\"StreamName\":\"s1\",\"Limit\":1}");
	CHECK(json_array_size(jget(b.j, "StreamDescription.Shards")) == 1);
	CHECK(json_is_true(jget(b.j, "StreamDescription.HasMoreShards")));
	reply_free(&b);
	OP(&b, "DescribeStream",
	   "{\"StreamName\":\"s1\",\"ExclusiveStartShardId\":\"shardId-000000000000\"}");
	CHECK_STREQ(jstr(b.j, "StreamDescription.Shards.0.ShardId"), "shardId-000000000001");
	CHECK(json_array_size(jget(b.j, "StreamDescription.Shards")) == 1);
	reply_free(&b);
	REFUSED(&b, "ValidationException", "'limit'", "DescribeStream",
		"{\"StreamName\":\"s1\",\"Limit\":0}");
	OP(&b, "DescribeStream", "{\"StreamARN\":\"%s\"}", arn);
	EXPECT_OK(&b);
	CHECK_STREQ(jstr(b.j, "StreamDescription.StreamName"), "s1");
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException", "do not name the same stream", "DescribeStream",
		"{\"StreamARN\":\"%s\",\"StreamName\":\"od\"}", arn);
	REFUSED(&b, "InvalidArgumentException", "StreamName or StreamARN", "DescribeStream", "{}");
	REFUSED(&b, "ResourceNotFoundException", "Stream nope under account " ACCOUNT " not found.",
		"DescribeStream", "{\"StreamName\":\"nope\"}");
	OP(&b, "DescribeStream",
	   "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:" ACCOUNT ":stream/s1\"}");
	EXPECT_ERR(&b, "ResourceNotFoundException", NULL); /* another region */
	reply_free(&b);
	REFUSED(&b, "ValidationException", "'streamARN'", "DescribeStream",
		"{\"StreamARN\":\"arn:aws:kinesis:eu-west-1:12:stream/s1\"}");
	OP(&b, "DescribeStreamSummary", "{\"StreamName\":\"s1\"}");
	EXPECT_OK(&b);
	d = jget(b.j, "StreamDescriptionSummary");
	CHECK(jint(d, "OpenShardCount") == 2);
	CHECK(jint(d, "ConsumerCount") == 0);
	CHECK_STREQ(jstr(d, "StreamModeDetails.StreamMode"), "PROVISIONED");
	CHECK(jint(d, "MaxRecordSizeInKiB") == 1024);
	reply_free(&b);
}

static void test_list_streams(void)
{
	struct reply b;
	for (int i = 0; i < 3; i++) {
		OP(&b, "CreateStream", "{\"StreamName\":\"ls%d\",\"ShardCount\":1}", i);
		EXPECT_OK(&b);
		reply_free(&b);
	}
	OP(&b, "ListStreams", "{}");
	EXPECT_OK(&b);
	size_t all = json_array_size(jget(b.j, "StreamNames"));
	CHECK(all == 5); /* ls0..2, od, s1 */
	CHECK_STREQ(jstr(b.j, "StreamNames.0"), "ls0");
	CHECK_STREQ(jstr(b.j, "StreamSummaries.4.StreamName"), "s1");
	CHECK_STREQ(jstr(b.j, "StreamSummaries.4.StreamARN"),
		    "arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/s1");
	CHECK(json_is_false(jget(b.j, "HasMoreStreams")));
	CHECK(jget(b.j, "NextToken") == NULL);
	reply_free(&b);
	OP(&b, "ListStreams", "{\"Limit\":2}");
	CHECK(json_array_size(jget(b.j, "StreamNames")) == 2);
	CHECK(json_is_true(jget(b.j, "HasMoreStreams")));
	char tok[512];
	snprintf(tok, sizeof(tok), "%s", jstr(b.j, "NextToken"));
	CHECK(strlen(tok) > 0);
	reply_free(&b);
	OP(&b, "ListStreams", "{\"NextToken\":\"%s\"}", tok);
	EXPECT_OK(&b);
	CHECK_STREQ(jstr(b.j, "StreamNames.0"), "ls2");
	CHECK(json_array_size(jget(b.j, "StreamNames")) == 2);
	CHECK(json_is_true(jget(b.j, "HasMoreStreams")));
	reply_free(&b);
	OP(&b, "ListStreams", "{\"ExclusiveStartStreamName\":\"ls2\"}");
	CHECK_STREQ(jstr(b.j, "StreamNames.0"), "od");
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException", NULL, "ListStreams",
		"{\"NextToken\":\"%s\",\"ExclusiveStartStreamName\":\"a\"}", tok);
	tok[5] = tok[5] == 'A' ? 'B' : 'A';
	REFUSED(&b, "InvalidArgumentException", "Invalid NextToken", "ListStreams",
		"{\"NextToken\":\"%s\"}", tok);
	REFUSED(&b, "ValidationException", "less than or equal to 10000", "ListStreams",
		"{\"Limit\":10001}");
}

static void test_list_shards(void)
{
	struct reply b;
	OP(&b, "ListShards", "{\"StreamName\":\"od\"}");
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Shards")) == 4);
	CHECK(jget(b.j, "NextToken") == NULL);
	reply_free(&b);
	OP(&b, "ListShards", "{\"StreamName\":\"od\",\"MaxResults\":3}");
	CHECK(json_array_size(jget(b.j, "Shards")) == 3);
	char tok[512];
	snprintf(tok, sizeof(tok), "%s", jstr(b.j, "NextToken"));
	reply_free(&b);
	OP(&b, "ListShards", "{\"NextToken\":\"%s\"}", tok);
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Shards")) == 1);
	CHECK_STREQ(jstr(b.j, "Shards.0.ShardId"), "shardId-000000000003");
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException",
		"NextToken and StreamName cannot be provided together.", "ListShards",
		"{\"NextToken\":\"%s\",\"StreamName\":\"od\"}", tok);
	REFUSED(&b, "InvalidArgumentException",
		"NextToken and ExclusiveStartShardId cannot be provided together.", "ListShards",
		"{\"NextToken\":\"%s\",\"ExclusiveStartShardId\":\"shardId-1\"}", tok);
	REFUSED(&b, "InvalidArgumentException", "Either NextToken or StreamName", "ListShards",
		"{}");
	OP(&b, "ListShards",
	   "{\"StreamName\":\"od\",\"ExclusiveStartShardId\":\"shardId-000000000001\"}");
	CHECK(json_array_size(jget(b.j, "Shards")) == 2);
	reply_free(&b);
	OP(&b, "ListShards",
	   "{\"StreamName\":\"od\",\"ShardFilter\":{\"Type\":\"AFTER_SHARD_ID\","
	   "\"ShardId\":\"shardId-000000000002\"}}");
	CHECK(json_array_size(jget(b.j, "Shards")) == 1);
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException", "requires a ShardId", "ListShards",
		"{\"StreamName\":\"od\",\"ShardFilter\":{\"Type\":\"AFTER_SHARD_ID\"}}");
	REFUSED(&b, "InvalidArgumentException", "requires a Timestamp", "ListShards",
		"{\"StreamName\":\"od\",\"ShardFilter\":{\"Type\":\"AT_TIMESTAMP\"}}");
	OP(&b, "ListShards", "{\"StreamName\":\"od\",\"ShardFilter\":{\"Type\":\"AT_LATEST\"}}");
	CHECK(json_array_size(jget(b.j, "Shards")) == 4);
	reply_free(&b);
	REFUSED(&b, "ValidationException", "'shardFilter.type'", "ListShards",
		"{\"StreamName\":\"od\",\"ShardFilter\":{\"Type\":\"SOMETIME\"}}");
	REFUSED(&b, "ResourceNotFoundException", NULL, "ListShards",
		"{\"StreamName\":\"od\",\"StreamCreationTimestamp\":1000}");
}

/* ---- records ---- */

static char *b64(const void *p, size_t n)
{
	char *out = malloc(kin_b64_len(n) + 1);
	kin_b64_encode(p, n, out);
	out[kin_b64_len(n)] = '\0';
	return out;
}

/* The shard the map routes a key of stream to. */
static uint32_t expected_shard(struct sl_store *st, const char *stream, const char *key)
{
	const struct sl_shardmap *m = sl_store_shardmap(st);
	const struct sl_shardmap_stream *s = sl_shardmap_stream(m, stream, strlen(stream));
	sl_u128 h = sl_hash_partition_key((const uint8_t *)key, strlen(key));
	return sl_shardmap_route(s, h)->shard_id;
}

static sl_u128 dec(const char *s)
{
	sl_u128 v = 0;
	CHECK(sl_u128_from_dec(s, strlen(s), &v) == 0);
	return v;
}

static void test_put_record(struct sl_store *st)
{
	struct reply b;
	char sid[32], prev[64] = "";
	for (int i = 0; i < 6; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key-%d", i);
		OP(&b, "PutRecord",
		   "{\"StreamName\":\"s1\",\"PartitionKey\":\"%s\",\"Data\":\"aGk=\"}", key);
		EXPECT_OK(&b);
		kin_shard_id_format(expected_shard(st, "s1", key), sid);
		CHECK_STREQ(jstr(b.j, "ShardId"), sid);
		CHECK_STREQ(jstr(b.j, "EncryptionType"), "NONE");
		if (prev[0] && strcmp(sid, "shardId-000000000000") == 0 &&
		    sl_u128_hi(dec(prev)) == sl_u128_hi(dec(jstr(b.j, "SequenceNumber"))))
			CHECK(dec(jstr(b.j, "SequenceNumber")) == dec(prev) + 1);
		if (strcmp(sid, "shardId-000000000000") == 0)
			snprintf(prev, sizeof(prev), "%s", jstr(b.j, "SequenceNumber"));
		reply_free(&b);
	}
	OP(&b, "PutRecord",
	   "{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\",\"ExplicitHashKey\":"
	   "\"0\"}");
	EXPECT_OK(&b);
	CHECK_STREQ(jstr(b.j, "ShardId"), "shardId-000000000000");
	reply_free(&b);
	OP(&b, "PutRecord",
	   "{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\",\"ExplicitHashKey\":"
	   "\"340282366920938463463374607431768211455\"}");
	CHECK_STREQ(jstr(b.j, "ShardId"), "shardId-000000000001");
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException", "Invalid ExplicitHashKey", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\",\"ExplicitHashKey\":"
		"\"340282366920938463463374607431768211456\"}");
	REFUSED(&b, "ValidationException", "'explicitHashKey'", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\","
		"\"ExplicitHashKey\":\"01\"}");
	REFUSED(&b, "SerializationException", "multiple of 4 bytes but found: 3", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"aGk\"}");
	REFUSED(&b, "SerializationException", "Invalid Base64 character: '*'", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"a*k=\"}");
	REFUSED(&b, "ValidationException",
		"Value '' at 'partitionKey' failed to satisfy constraint: Member must have "
		"length greater than or equal to 1",
		"PutRecord", "{\"StreamName\":\"s1\",\"PartitionKey\":\"\",\"Data\":\"\"}");
	REFUSED(&b, "ValidationException",
		"2 validation errors detected: Value null at 'partitionKey'", "PutRecord",
		"{\"StreamName\":\"s1\"}");
	REFUSED(&b, "ValidationException", "'sequenceNumberForOrdering'", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\","
		"\"SequenceNumberForOrdering\":\"x\"}");
	REFUSED(&b, "InvalidArgumentException", "ExclusiveMinimumSequenceNumber", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\","
		"\"SequenceNumberForOrdering\":\"9%060d\"}",
		0);
	REFUSED(&b, "ResourceNotFoundException", "Stream zz under account", "PutRecord",
		"{\"StreamName\":\"zz\",\"PartitionKey\":\"k\",\"Data\":\"\"}");
	/* one byte over the stream's 1 MiB */
	size_t big = (1u << 20) + 1;
	uint8_t *raw_data = calloc(1, big);
	char *enc = b64(raw_data, big);
	REFUSED(&b, "ValidationException",
		"Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data'",
		"PutRecord", "{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"%s\"}", enc);
	free(enc);
	enc = b64(raw_data, big - 1); /* fits alone, not with its key */
	REFUSED(&b, "InvalidArgumentException", "maximum record size", "PutRecord",
		"{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"%s\"}", enc);
	free(enc);
	free(raw_data);
}

static void test_put_records(struct sl_store *st)
{
	struct reply b;
	char body[4096];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"StreamName\":\"s1\",\"Records\":[");
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "%s{\"PartitionKey\":\"pk%d\",\"Data\":\"AA==\"}",
				      i ? "," : "", i);
	snprintf(body + n, sizeof(body) - n, "]}");
	OP(&b, "PutRecords", "%s", body);
	EXPECT_OK(&b);
	CHECK(jint(b.j, "FailedRecordCount") == 0);
	CHECK(json_array_size(jget(b.j, "Records")) == 8);
	sl_u128 last[2] = {0, 0};
	for (int i = 0; i < 8; i++) {
		char key[16], path[64], sid[32];
		snprintf(key, sizeof(key), "pk%d", i);
		uint32_t shard = expected_shard(st, "s1", key);
		kin_shard_id_format(shard, sid);
		snprintf(path, sizeof(path), "Records.%d.ShardId", i);
		CHECK_STREQ(jstr(b.j, path), sid);
		snprintf(path, sizeof(path), "Records.%d.SequenceNumber", i);
		sl_u128 seq = dec(jstr(b.j, path));
		/* one append per shard: consecutive, in request order */
		if (last[shard] != 0)
			CHECK(seq == last[shard] + 1);
		last[shard] = seq;
	}
	reply_free(&b);
	REFUSED(&b, "ValidationException", "greater than or equal to 1", "PutRecords",
		"{\"StreamName\":\"s1\",\"Records\":[]}");
	n = (size_t)snprintf(body, sizeof(body), "{\"StreamName\":\"s1\",\"Records\":[");
	REFUSED(&b, "ValidationException",
		"Value null at 'records.2.member.partitionKey' failed to satisfy constraint: "
		"Member must not be null",
		"PutRecords",
		"{\"StreamName\":\"s1\",\"Records\":[{\"PartitionKey\":\"a\",\"Data\":\"\"},"
		"{\"Data\":\"\"}]}");
	REFUSED(&b, "SerializationException", NULL, "PutRecords",
		"{\"StreamName\":\"s1\",\"Records\":[1]}");
	REFUSED(&b, "SerializationException", "Start of structure or map", "PutRecords",
		"{\"StreamName\":\"s1\",\"Records\":{}}");
	/* 501 entries */
	char *many = malloc(501 * 40 + 100);
	n = (size_t)sprintf(many, "{\"StreamName\":\"s1\",\"Records\":[");
	for (int i = 0; i < 501; i++)
		n += (size_t)sprintf(many + n, "%s{\"PartitionKey\":\"k\",\"Data\":\"\"}",
				     i ? "," : "");
	sprintf(many + n, "]}");
	REFUSED(&b, "ValidationException", "less than or equal to 500", "PutRecords", "%s", many);
	free(many);
	/* six records of 1000000 bytes: more than 5 MiB in all */
	uint8_t *zero = calloc(1, 1000000);
	char *enc = b64(zero, 1000000);
	many = malloc(6 * (strlen(enc) + 64) + 100);
	n = (size_t)sprintf(many, "{\"StreamName\":\"s1\",\"Records\":[");
	for (int i = 0; i < 6; i++)
		n += (size_t)sprintf(many + n, "%s{\"PartitionKey\":\"k%d\",\"Data\":\"%s\"}",
				     i ? "," : "", i, enc);
	sprintf(many + n, "]}");
	REFUSED(&b, "InvalidArgumentException", "5 MB", "PutRecords", "%s", many);
	/* five of them all to one shard: more than one append holds, still in order */
	n = (size_t)sprintf(many, "{\"StreamName\":\"s1\",\"Records\":[");
	for (int i = 0; i < 5; i++)
		n += (size_t)sprintf(many + n, "%s{\"PartitionKey\":\"same\",\"Data\":\"%s\"}",
				     i ? "," : "", enc);
	sprintf(many + n, "]}");
	OP(&b, "PutRecords", "%s", many);
	EXPECT_OK(&b);
	CHECK(jint(b.j, "FailedRecordCount") == 0);
	for (int i = 1; i < 5; i++) {
		char p0[48], p1[48];
		snprintf(p0, sizeof(p0), "Records.%d.SequenceNumber", i - 1);
		snprintf(p1, sizeof(p1), "Records.%d.SequenceNumber", i);
		CHECK(dec(jstr(b.j, p1)) > dec(jstr(b.j, p0)));
	}
	reply_free(&b);
	free(many);
	free(enc);
	free(zero);
}

/* Read a shard from TRIM_HORIZON to the end: records in *out (a JSON array). */
static json_t *read_all(const char *stream, const char *shard, int limit)
{
	struct reply b;
	json_t *all = json_array();
	OP(&b, "GetShardIterator",
	   "{\"StreamName\":\"%s\",\"ShardId\":\"%s\",\"ShardIteratorType\":\"TRIM_HORIZON\"}",
	   stream, shard);
	EXPECT_OK(&b);
	char it[600];
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	CHECK(strlen(it) > 0 && strlen(it) <= 512);
	reply_free(&b);
	for (int round = 0; round < 1000; round++) {
		OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\",\"Limit\":%d}", it, limit);
		EXPECT_OK(&b);
		json_t *recs = jget(b.j, "Records");
		CHECK(json_array_size(recs) <= (size_t)limit);
		json_array_extend(all, recs);
		bool done = json_array_size(recs) == 0;
		CHECK(jget(b.j, "MillisBehindLatest") != NULL);
		snprintf(it, sizeof(it), "%s", jstr(b.j, "NextShardIterator"));
		reply_free(&b);
		if (done)
			break;
	}
	return all;
}

static void test_get_records(void)
{
	struct reply b;
	OP(&b, "CreateStream", "{\"StreamName\":\"rd\",\"ShardCount\":1}");
	reply_free(&b);
	uint8_t bytes[256];
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)i;
	char *enc = b64(bytes, sizeof(bytes));
	char seqs[5][64];
	for (int i = 0; i < 5; i++) {
		OP(&b, "PutRecord",
		   "{\"StreamName\":\"rd\",\"PartitionKey\":\"k\\\"\\u00e9%d\",\"Data\":\"%s\"}", i,
		   enc);
		EXPECT_OK(&b);
		snprintf(seqs[i], sizeof(seqs[i]), "%s", jstr(b.j, "SequenceNumber"));
		reply_free(&b);
	}
	json_t *all = read_all("rd", "shardId-000000000000", 2);
	CHECK(json_array_size(all) == 5);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *r = json_array_get(all, i);
		char key[32];
		snprintf(key, sizeof(key), "k\"\xc3\xa9%d", (int)i);
		CHECK_STREQ(jstr(r, "SequenceNumber"), seqs[i]);
		CHECK_STREQ(jstr(r, "Data"), enc);
		CHECK_STREQ(jstr(r, "PartitionKey"), key);
		double ts = json_real_value(jget(r, "ApproximateArrivalTimestamp"));
		CHECK(ts > 1.6e9 && ts < (double)kin_now_ms() / 1000.0 + 1);
	}
	json_decref(all);
	/* AT / AFTER a sequence number */
	OP(&b, "GetShardIterator",
	   "{\"StreamName\":\"rd\",\"ShardId\":\"shardId-000000000000\",\"ShardIteratorType\":"
	   "\"AFTER_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"%s\"}",
	   seqs[2]);
	EXPECT_OK(&b);
	char it[600];
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Records")) == 2);
	CHECK_STREQ(jstr(b.j, "Records.0.SequenceNumber"), seqs[3]);
	CHECK(jint(b.j, "MillisBehindLatest") == 0);
	reply_free(&b);
	OP(&b, "GetShardIterator",
	   "{\"StreamName\":\"rd\",\"ShardId\":\"0\",\"ShardIteratorType\":"
	   "\"AT_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"%s\"}",
	   seqs[4]);
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	CHECK(json_array_size(jget(b.j, "Records")) == 1);
	CHECK_STREQ(jstr(b.j, "Records.0.SequenceNumber"), seqs[4]);
	reply_free(&b);
	/* LATEST: only what comes after */
	OP(&b, "GetShardIterator",
	   "{\"StreamName\":\"rd\",\"ShardId\":\"shardId-000000000000\","
	   "\"ShardIteratorType\":\"LATEST\"}");
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	CHECK(json_array_size(jget(b.j, "Records")) == 0);
	snprintf(it, sizeof(it), "%s", jstr(b.j, "NextShardIterator"));
	reply_free(&b);
	OP(&b, "PutRecord", "{\"StreamName\":\"rd\",\"PartitionKey\":\"new\",\"Data\":\"bmV3\"}");
	reply_free(&b);
	OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	CHECK(json_array_size(jget(b.j, "Records")) == 1);
	CHECK_STREQ(jstr(b.j, "Records.0.PartitionKey"), "new");
	reply_free(&b);
	/* AT_TIMESTAMP: from a time before everything, and from now on */
	OP(&b, "GetShardIterator",
	   "{\"StreamName\":\"rd\",\"ShardId\":\"shardId-000000000000\","
	   "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":1000.5}");
	EXPECT_OK(&b);
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	OP(&b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	CHECK(json_array_size(jget(b.j, "Records")) == 6);
	reply_free(&b);
	free(enc);
}

static void test_iterator_errors(void)
{
	struct reply b;
	const char *s0 = "\"StreamName\":\"rd\",\"ShardId\":\"shardId-000000000000\"";
	REFUSED(&b, "InvalidArgumentException",
		"Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber.",
		"GetShardIterator", "{%s,\"ShardIteratorType\":\"AT_SEQUENCE_NUMBER\"}", s0);
	REFUSED(&b, "InvalidArgumentException", "Request specified LATEST and also a",
		"GetShardIterator",
		"{%s,\"ShardIteratorType\":\"LATEST\",\"StartingSequenceNumber\":\"1\"}", s0);
	REFUSED(&b, "InvalidArgumentException", "no timestamp parameter", "GetShardIterator",
		"{%s,\"ShardIteratorType\":\"AT_TIMESTAMP\"}", s0);
	REFUSED(&b, "InvalidArgumentException", "cannot be greater than", "GetShardIterator",
		"{%s,\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":%llu}", s0,
		(unsigned long long)(kin_now_ms() / 1000 + 3600));
	REFUSED(&b, "ValidationException", "'shardIteratorType'", "GetShardIterator",
		"{%s,\"ShardIteratorType\":\"SOON\"}", s0);
	REFUSED(&b, "ResourceNotFoundException",
		"Shard shardId-000000000009 in stream rd under account " ACCOUNT " does not exist",
		"GetShardIterator",
		"{\"StreamName\":\"rd\",\"ShardId\":\"shardId-000000000009\",\"ShardIteratorType\":"
		"\"LATEST\"}");
	REFUSED(&b, "ValidationException", "'shardId'", "GetShardIterator",
		"{\"StreamName\":\"rd\",\"ShardId\":\"a/b\",\"ShardIteratorType\":\"LATEST\"}");
	/* a sequence number of s1's shard 1 on rd's shard 0 */
	OP(&b, "PutRecord",
	   "{\"StreamName\":\"s1\",\"PartitionKey\":\"k\",\"Data\":\"\",\"ExplicitHashKey\":"
	   "\"340282366920938463463374607431768211455\"}");
	char other[64];
	snprintf(other, sizeof(other), "%s", jstr(b.j, "SequenceNumber"));
	reply_free(&b);
	REFUSED(
	    &b, "InvalidArgumentException",
	    "It encodes shardId-000000000001, while it was used in a call to a shard with "
	    "shardId-000000000000",
	    "GetShardIterator",
	    "{%s,\"ShardIteratorType\":\"AT_SEQUENCE_NUMBER\",\"StartingSequenceNumber\":\"%s\"}",
	    s0, other);
	/* GetRecords: forged, mangled, expired, too long, stream mismatch */
	OP(&b, "GetShardIterator", "{%s,\"ShardIteratorType\":\"TRIM_HORIZON\"}", s0);
	char it[600];
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	it[10] = it[10] == 'A' ? 'B' : 'A';
	REFUSED(&b, "InvalidArgumentException", "Invalid ShardIterator.", "GetRecords",
		"{\"ShardIterator\":\"%s\"}", it);
	REFUSED(&b, "InvalidArgumentException", "Invalid ShardIterator.", "GetRecords",
		"{\"ShardIterator\":\"not base64!\"}");
	char longit[600];
	memset(longit, 'A', 513);
	longit[513] = '\0';
	REFUSED(&b, "ValidationException", "less than or equal to 512", "GetRecords",
		"{\"ShardIterator\":\"%s\"}", longit);
	REFUSED(&b, "ValidationException", "'limit'", "GetRecords",
		"{\"ShardIterator\":\"AAAA\",\"Limit\":0}");
	struct sl_meta_stream s;
	CHECK(sl_meta_stream_get(sl_store_meta(K->store), "rd", &s) == 0);
	struct kin_token t = {.kind = KIN_TOK_ITERATOR,
			      .from = SL_READ_TRIM_HORIZON,
			      .stream_id = s.id,
			      .created_ms = kin_now_ms() - SL_KINESIS_ITERATOR_TTL_MS - 1000};
	char tok[KIN_TOKEN_B64_MAX + 1];
	kin_token_encode(K, &t, tok);
	REFUSED(&b, "ExpiredIteratorException",
		"which is further in the future than the tolerated delay of 300000 "
		"milliseconds.",
		"GetRecords", "{\"ShardIterator\":\"%s\"}", tok);
	t.created_ms = kin_now_ms();
	kin_token_encode(K, &t, tok);
	REFUSED(&b, "InvalidArgumentException", "is not the stream of the ShardIterator",
		"GetRecords",
		"{\"ShardIterator\":\"%s\",\"StreamARN\":\"arn:aws:kinesis:eu-west-1:" ACCOUNT
		":stream/s1\"}",
		tok);
	t.stream_id = 99999;
	kin_token_encode(K, &t, tok);
	REFUSED(&b, "ResourceNotFoundException", NULL, "GetRecords", "{\"ShardIterator\":\"%s\"}",
		tok);
}

/* ---- retention, tags, limits, delete ---- */

static void test_retention(void)
{
	struct reply b;
	OP(&b, "IncreaseStreamRetentionPeriod",
	   "{\"StreamName\":\"s1\",\"RetentionPeriodHours\":48}");
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "DescribeStreamSummary", "{\"StreamName\":\"s1\"}");
	CHECK(jint(b.j, "StreamDescriptionSummary.RetentionPeriodHours") == 48);
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException",
		"Requested retention period (24 hours) for stream s1 can not be shorter than "
		"existing retention period (48 hours). Use DecreaseRetentionPeriod API.",
		"IncreaseStreamRetentionPeriod",
		"{\"StreamName\":\"s1\",\"RetentionPeriodHours\":24}");
	REFUSED(&b, "InvalidArgumentException", "can not be longer than existing",
		"DecreaseStreamRetentionPeriod",
		"{\"StreamName\":\"s1\",\"RetentionPeriodHours\":72}");
	REFUSED(&b, "InvalidArgumentException",
		"Maximum allowed retention period is 8760 hours. Requested retention period "
		"(8761 hours) is too long.",
		"IncreaseStreamRetentionPeriod",
		"{\"StreamName\":\"s1\",\"RetentionPeriodHours\":8761}");
	REFUSED(&b, "InvalidArgumentException", "is too short.", "DecreaseStreamRetentionPeriod",
		"{\"StreamName\":\"s1\",\"RetentionPeriodHours\":23}");
	OP(&b, "DecreaseStreamRetentionPeriod",
	   "{\"StreamName\":\"s1\",\"RetentionPeriodHours\":24}");
	EXPECT_OK(&b);
	reply_free(&b);
	REFUSED(&b, "ValidationException", "Value null at 'retentionPeriodHours'",
		"DecreaseStreamRetentionPeriod", "{\"StreamName\":\"s1\"}");
	REFUSED(&b, "SerializationException", "java.lang.Boolean", "IncreaseStreamRetentionPeriod",
		"{\"StreamName\":\"s1\",\"RetentionPeriodHours\":true}");
}

static void test_tags(void)
{
	struct reply b;
	const char *arn = "arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/s1";
	OP(&b, "AddTagsToStream",
	   "{\"StreamName\":\"s1\",\"Tags\":{\"b\":\"2\",\"a\":\"1\",\"c\":\"\"}}");
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "ListTagsForStream", "{\"StreamName\":\"s1\"}");
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Tags")) == 3);
	CHECK_STREQ(jstr(b.j, "Tags.0.Key"), "a");
	CHECK_STREQ(jstr(b.j, "Tags.1.Value"), "2");
	CHECK(json_is_false(jget(b.j, "HasMoreTags")));
	reply_free(&b);
	OP(&b, "ListTagsForStream",
	   "{\"StreamName\":\"s1\",\"Limit\":1,\"ExclusiveStartTagKey\":\"a\"}");
	CHECK(json_array_size(jget(b.j, "Tags")) == 1);
	CHECK_STREQ(jstr(b.j, "Tags.0.Key"), "b");
	CHECK(json_is_true(jget(b.j, "HasMoreTags")));
	reply_free(&b);
	OP(&b, "RemoveTagsFromStream", "{\"StreamName\":\"s1\",\"TagKeys\":[\"a\",\"zz\"]}");
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "ListTagsForResource", "{\"ResourceARN\":\"%s\"}", arn);
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Tags")) == 2);
	CHECK_STREQ(jstr(b.j, "Tags.0.Key"), "b");
	reply_free(&b);
	OP(&b, "TagResource", "{\"ResourceARN\":\"%s\",\"Tags\":{\"d\":\"4\"}}", arn);
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "UntagResource", "{\"ResourceARN\":\"%s\",\"TagKeys\":[\"b\",\"c\"]}", arn);
	EXPECT_OK(&b);
	reply_free(&b);
	OP(&b, "ListTagsForResource", "{\"ResourceARN\":\"%s\"}", arn);
	CHECK(json_array_size(jget(b.j, "Tags")) == 1);
	CHECK_STREQ(jstr(b.j, "Tags.0.Key"), "d");
	reply_free(&b);
	REFUSED(&b, "InvalidArgumentException", "Some tags contain invalid characters.",
		"AddTagsToStream", "{\"StreamName\":\"s1\",\"Tags\":{\"a\":\"x#y\"}}");
	REFUSED(&b, "InvalidArgumentException", "contained illegal characters", "AddTagsToStream",
		"{\"StreamName\":\"s1\",\"Tags\":{\"a\":\"50%%\"}}");
	REFUSED(&b, "ValidationException", "at 'tags'", "AddTagsToStream",
		"{\"StreamName\":\"s1\",\"Tags\":{}}");
	REFUSED(&b, "ValidationException", "Value null at 'tags'", "AddTagsToStream",
		"{\"StreamName\":\"s1\"}");
	char key[140];
	memset(key, 'k', 129);
	key[129] = '\0';
	REFUSED(&b, "ValidationException", "Map keys must satisfy constraint", "AddTagsToStream",
		"{\"StreamName\":\"s1\",\"Tags\":{\"%s\":\"v\"}}", key);
	REFUSED(&b, "SerializationException", NULL, "AddTagsToStream",
		"{\"StreamName\":\"s1\",\"Tags\":{\"k\":1}}");
	/* 50 at most on a stream: 49 more fit beside "d", one more does not */
	char body[8192];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"StreamName\":\"s1\",\"Tags\":{");
	for (int i = 0; i < 50; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"t%02d\":\"v\"", i ? "," : "",
				      i);
	snprintf(body + n, sizeof(body) - n, "}}");
	REFUSED(&b, "InvalidArgumentException", "cannot have more than 50 tags", "AddTagsToStream",
		"%s", body);
	OP(&b, "ListTagsForStream", "{\"StreamName\":\"s1\"}");
	CHECK(json_array_size(jget(b.j, "Tags")) == 1); /* nothing changed */
	reply_free(&b);
	char keys[1024];
	n = (size_t)snprintf(keys, sizeof(keys), "[");
	for (int i = 0; i < 51; i++)
		n += (size_t)snprintf(keys + n, sizeof(keys) - n, "%s\"k\"", i ? "," : "");
	snprintf(keys + n, sizeof(keys) - n, "]");
	REFUSED(&b, "ValidationException", "'tagKeys'", "RemoveTagsFromStream",
		"{\"StreamName\":\"s1\",\"TagKeys\":%s}", keys);
	REFUSED(&b, "ValidationException", "'resourceARN'", "TagResource",
		"{\"ResourceARN\":\"nope\",\"Tags\":{\"d\":\"4\"}}");
	REFUSED(&b, "ResourceNotFoundException", NULL, "ListTagsForResource",
		"{\"ResourceARN\":\"arn:aws:kinesis:eu-west-1:" ACCOUNT ":stream/gone\"}");
}

static void test_limits_and_delete(void)
{
	struct reply b;
	OP(&b, "DescribeLimits", "{}");
	EXPECT_OK(&b);
	CHECK(jint(b.j, "ShardLimit") == 20);
	CHECK(jint(b.j, "OpenShardCount") == 2 + 4 + 3 + 1); /* s1, od, ls0..2, rd */
	CHECK(jint(b.j, "OnDemandStreamCount") == 1);
	CHECK(jint(b.j, "OnDemandStreamCountLimit") == 50);
	reply_free(&b);
	OP(&b, "DeleteStream", "{\"StreamName\":\"ls1\",\"EnforceConsumerDeletion\":true}");
	EXPECT_OK(&b);
	reply_free(&b);
	REFUSED(&b, "ResourceNotFoundException", NULL, "DescribeStream",
		"{\"StreamName\":\"ls1\"}");
	REFUSED(&b, "ResourceNotFoundException", NULL, "DeleteStream", "{\"StreamName\":\"ls1\"}");
	REFUSED(&b, "SerializationException", NULL, "DeleteStream",
		"{\"StreamName\":\"ls1\",\"EnforceConsumerDeletion\":\"yes\"}");
	OP(&b, "DescribeLimits", "{}");
	CHECK(jint(b.j, "OpenShardCount") == 9);
	reply_free(&b);
}

/* ---- the in-flight bound, with no writer running ---- */

static void test_inflight(const char *dir)
{
	struct sl_store_options so;
	struct sl_store *st;
	struct sl_kinesis *k;
	struct tu_writer w;
	static struct reply pend[16];
	struct reply b;
	char path[512];
	snprintf(path, sizeof(path), "%s/inflight", dir);
	tu_options(&so, path);
	CHECK(sl_store_open(&so, &st) == 0);
	struct sl_kinesis_options ko = {
	    .store = st, .account_id = ACCOUNT, .appends_inflight_max = 16, .shard_limit = 10};
	CHECK(sl_kinesis_create(&ko, &k) == 0);
	op_on(k, &b, "CreateStream", "{\"StreamName\":\"t\",\"ShardCount\":2}");
	EXPECT_OK(&b);
	reply_free(&b);
	/* 16 appends wait for a writer that is not there: no answer yet */
	for (int i = 0; i < 16; i++) {
		raw(k, &pend[i], "POST", "Kinesis_20131202.PutRecord", "application/x-amz-json-1.1",
		    AUTH, true, "{\"StreamName\":\"t\",\"PartitionKey\":\"a\",\"Data\":\"\"}");
		CHECK(!pend[i].got);
	}
	CHECK(sl_kinesis_inflight(k) == 16);
	op_on(k, &b, "PutRecord", "{\"StreamName\":\"t\",\"PartitionKey\":\"a\",\"Data\":\"\"}");
	EXPECT_ERR(&b, "ProvisionedThroughputExceededException", "Rate exceeded for shard");
	reply_free(&b);
	op_on(k, &b, "PutRecords",
	      "{\"StreamName\":\"t\",\"Records\":[{\"PartitionKey\":\"a\",\"Data\":\"\"}]}");
	EXPECT_OK(&b);
	CHECK(jint(b.j, "FailedRecordCount") == 1);
	CHECK_STREQ(jstr(b.j, "Records.0.ErrorCode"), "ProvisionedThroughputExceededException");
	CHECK(strstr(jstr(b.j, "Records.0.ErrorMessage"), "Rate exceeded") != NULL);
	reply_free(&b);
	/* the writer comes: every pending request is answered, durable */
	tu_writer_start(&w, st, 0);
	for (int i = 0; i < 16; i++) {
		wait_reply(k, &pend[i]);
		EXPECT_OK(&pend[i]);
		reply_free(&pend[i]);
	}
	CHECK(sl_kinesis_inflight(k) == 0);
	struct sl_kinesis_stats ks;
	sl_kinesis_stats(k, &ks);
	CHECK(ks.records_put == 16);
	CHECK(ks.records_throttled == 2);
	CHECK(ks.records_failed == 2);
	sl_kinesis_destroy(k);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
}

/* ---- iterators survive a restart through the key file ---- */

static void test_key_file(struct sl_store *st, const char *dir)
{
	struct sl_kinesis *k1, *k2, *k3;
	struct reply b;
	char key_path[512], other[512];
	snprintf(key_path, sizeof(key_path), "%s/api.key", dir);
	snprintf(other, sizeof(other), "%s/other.key", dir);
	struct sl_kinesis_options ko = {.store = st,
					.account_id = ACCOUNT,
					.appends_inflight_max = 64,
					.shard_limit = 20,
					.key_path = key_path};
	CHECK(sl_kinesis_create(&ko, &k1) == 0);
	op_on(k1, &b, "GetShardIterator",
	      "{\"StreamName\":\"rd\",\"ShardId\":\"0\","
	      "\"ShardIteratorType\":\"TRIM_HORIZON\"}");
	char it[600];
	snprintf(it, sizeof(it), "%s", jstr(b.j, "ShardIterator"));
	reply_free(&b);
	sl_kinesis_destroy(k1);
	CHECK(sl_kinesis_create(&ko, &k2) == 0);
	op_on(k2, &b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	EXPECT_OK(&b);
	CHECK(json_array_size(jget(b.j, "Records")) > 0);
	reply_free(&b);
	sl_kinesis_destroy(k2);
	ko.key_path = other;
	CHECK(sl_kinesis_create(&ko, &k3) == 0);
	op_on(k3, &b, "GetRecords", "{\"ShardIterator\":\"%s\"}", it);
	EXPECT_ERR(&b, "InvalidArgumentException", "Invalid ShardIterator.");
	reply_free(&b);
	sl_kinesis_destroy(k3);
	/* bad options */
	ko.account_id[3] = 'x';
	CHECK(sl_kinesis_create(&ko, &k3) == -EINVAL);
}

int main(void)
{
	char dir[256], path[300];
	struct sl_store_options so;
	struct sl_store *st;
	struct tu_writer w;
	CHECK(tu_tmpdir(dir, sizeof(dir), "kinesis") != NULL);
	snprintf(path, sizeof(path), "%s/main", dir);
	tu_options(&so, path);
	so.batch_bytes = 4u << 20; /* a 1 MiB record fits, as with the default batch_kb */
	CHECK(sl_store_open(&so, &st) == 0);
	tu_writer_start(&w, st, 0);
	struct sl_kinesis_options ko = {
	    .store = st, .account_id = ACCOUNT, .appends_inflight_max = 256, .shard_limit = 20};
	CHECK(sl_kinesis_create(&ko, &K) == 0);

	test_base64_and_writer();
	test_protocol();
	test_create();
	test_describe();
	test_list_streams();
	test_list_shards();
	test_put_record(st);
	test_put_records(st);
	test_get_records();
	test_iterator_errors();
	test_retention();
	test_tags();
	test_limits_and_delete();
	test_key_file(st, dir);
	struct sl_kinesis_stats ks;
	sl_kinesis_stats(K, &ks);
	CHECK(ks.requests > 100);
	CHECK(ks.errors > 50 && ks.errors < ks.requests);
	CHECK(ks.server_errors == 0);
	CHECK(ks.records_read > 0);
	sl_kinesis_destroy(K);
	sl_store_stop_appends(st);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	test_inflight(dir);
	tu_rmtree(dir);
	return sl_check_finish("test_kinesis");
}
