/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis API object: the AWS JSON 1.1 protocol (SPEC §5), dispatch to
 * the operations, answers, and the completion path of PutRecord(s).
 *
 * A request is checked in the order Kinesis checks it (its answers were
 * matched against the service by kinesalite's authors, and we keep them):
 *   1. the method: anything but POST is AccessDeniedException (403);
 *   2. the Content-Type: application/x-amz-json-1.1 or application/json,
 *      else UnknownOperationException (404), or AccessDeniedException (403)
 *      when X-Amz-Target does not even name a service and an operation;
 *   3. an empty body: SerializationException (a known operation) or
 *      UnknownOperationException;
 *   4. the body must be a JSON object: SerializationException;
 *   5. X-Amz-Target must be Kinesis_20131202.<a known operation>:
 *      UnknownOperationException;
 *   6. a SigV4-shaped Authorization header: none is
 *      MissingAuthenticationTokenException, an incomplete one (a missing
 *      Credential, Signature or SignedHeaders, no X-Amz-Date/Date, a
 *      credential scope that is not <key>/<date>/<region>/kinesis/
 *      aws4_request) IncompleteSignatureException. The signature is not
 *      verified yet (SPEC §8: later). The scope's region is the region of
 *      the ARNs we show.
 *   7. the operation: member types (SerializationException), model
 *      constraints (ValidationException), then its own rules.
 * A PutRecords body of the shape SDKs send is read by a scanner of its own
 * instead of jansson (kinesis_scan.c: the same values, none of jansson's
 * copies); any other body takes the path above.
 * Every answer carries x-amzn-RequestId (a UUID) and x-amz-id-2.
 *
 * Completions: an append's done() runs on its shard's writer thread. It
 * pushes the append onto done_ring (MPSC, sized for every append that may
 * be in flight, so the push cannot fail) and writes done_fd unless a write
 * is already pending; the loop reads done_fd and calls sl_kinesis_poll(),
 * which finishes, on the loop thread, each request whose last append came
 * back. Appends in flight are bounded by appends_inflight_max; past it a
 * request is answered ProvisionedThroughputExceededException.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "kinesis_internal.h"

#define SUBSYS         "kinesis"
#define SERVICE        "Kinesis_20131202"
#define CT_JSON11      "application/x-amz-json-1.1"
#define CT_JSON        "application/json"
#define BODY_MAX       (16u << 20) /* the HTTP layer's bound is lower */
#define AUTH_ALGORITHM "AWS4-HMAC-SHA256"
#define KEY_BYTES      32

/* ---- exceptions: the one table of their names ---- */

static const struct {
	const char *name;
	int status;
} exceptions[KX__COUNT] = {
    [KX_NONE] = {"", 200},
    [KX_ACCESS_DENIED] = {"AccessDeniedException", 403},
    [KX_EXPIRED_ITERATOR] = {"ExpiredIteratorException", 400},
    [KX_EXPIRED_NEXT_TOKEN] = {"ExpiredNextTokenException", 400},
    [KX_INCOMPLETE_SIGNATURE] = {"IncompleteSignatureException", 400},
    [KX_INTERNAL_FAILURE] = {"InternalFailure", 500},
    [KX_INVALID_ARGUMENT] = {"InvalidArgumentException", 400},
    [KX_LIMIT_EXCEEDED] = {"LimitExceededException", 400},
    [KX_MISSING_AUTH] = {"MissingAuthenticationTokenException", 400},
    [KX_PROVISIONED_THROUGHPUT] = {"ProvisionedThroughputExceededException", 400},
    [KX_RESOURCE_IN_USE] = {"ResourceInUseException", 400},
    [KX_RESOURCE_NOT_FOUND] = {"ResourceNotFoundException", 400},
    [KX_SERIALIZATION] = {"SerializationException", 400},
    [KX_UNKNOWN_OPERATION] = {"UnknownOperationException", 400},
    [KX_VALIDATION] = {"ValidationException", 400},
};

const char *kin_exc_name(enum kin_exc e)
{
	SL_ASSERT(e > KX_NONE && e < KX__COUNT);
	return exceptions[e].name;
}

int kin_exc_status(enum kin_exc e)
{
	SL_ASSERT(e > KX_NONE && e < KX__COUNT);
	return exceptions[e].status;
}

/* ---- operations, by name ---- */

static const struct {
	const char *name;
	kin_op_fn *fn;
} ops[] = {
    {"AddTagsToStream", kin_op_add_tags_to_stream},
    {"CreateStream", kin_op_create_stream},
    {"DecreaseStreamRetentionPeriod", kin_op_decrease_retention},
    {"DeleteStream", kin_op_delete_stream},
    {"DescribeLimits", kin_op_describe_limits},
    {"DescribeStream", kin_op_describe_stream},
    {"DescribeStreamSummary", kin_op_describe_stream_summary},
    {"GetRecords", kin_op_get_records},
    {"GetShardIterator", kin_op_get_shard_iterator},
    {"IncreaseStreamRetentionPeriod", kin_op_increase_retention},
    {"ListShards", kin_op_list_shards},
    {"ListStreams", kin_op_list_streams},
    {"ListTagsForResource", kin_op_list_tags_for_resource},
    {"ListTagsForStream", kin_op_list_tags_for_stream},
    {"PutRecord", kin_op_put_record},
    {"PutRecords", kin_op_put_records},
    {"RemoveTagsFromStream", kin_op_remove_tags_from_stream},
    {"TagResource", kin_op_tag_resource},
    {"UntagResource", kin_op_untag_resource},
};

static int op_find(const char *name, size_t len)
{
	for (unsigned i = 0; i < SL_ARRAY_SIZE(ops); i++) {
		if (strlen(ops[i].name) == len && memcmp(ops[i].name, name, len) == 0)
			return (int)i;
	}
	return -1;
}

uint64_t kin_now_ms(void)
{
	return sl_clock_wall_ms();
}

/* ---- request ids: xoshiro256** seeded from getrandom ---- */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void kin_make_ids(struct sl_kinesis *k, char request_id[37], char id2[100])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[72];
	for (size_t i = 0; i < sizeof(b); i += 8) {
		uint64_t v = rng_next(k->rng);
		memcpy(b + i, &v, 8);
	}
	/* UUID version 4, variant 10xx */
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
	char *o = request_id;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
	SL_STATIC_ASSERT((72 + 2) / 3 * 4 < 100);
	kin_b64_encode(b, sizeof(b), id2);
	id2[kin_b64_len(sizeof(b))] = '\0';
}

/* ---- answers ---- */

static void call_free(struct kin_call *c)
{
	if (c->async_free != NULL)
		c->async_free(c->async);
	json_decref(c->root);
	free(c);
}

static void finish(struct kin_call *c, int status, enum kin_exc e, char *body, size_t len)
{
	struct sl_kinesis_reply r = {
	    .status = status,
	    .content_type = c->content_type ? c->content_type : CT_JSON11,
	    .error_type = e != KX_NONE ? kin_exc_name(e) : NULL,
	    .request_id = c->request_id,
	    .id2 = c->id2,
	    .body = body,
	    .body_len = len,
	};
	SL_ASSERT(c->pending == 0);
	if (e != KX_NONE) {
		c->k->stats.errors++;
		if (status >= 500)
			c->k->stats.server_errors++;
	}
	c->reply_fn(c->reply_ctx, &r);
	call_free(c);
}

/* The error body, with the exception's usual status or another one. */
static void finish_err_status(struct kin_call *c, enum kin_exc e, int status, const char *msg)
{
	struct kjw w;
	kjw_init(&w, 64 + kjw_str_bound(strlen(msg)));
	kjw_obj_begin(&w);
	kjw_key(&w, "__type");
	kjw_cstr(&w, kin_exc_name(e));
	kjw_key(&w, "message");
	kjw_cstr(&w, msg);
	kjw_obj_end(&w);
	if (w.oom) {
		kjw_fini(&w);
		finish(c, status, e, NULL, 0);
		return;
	}
	finish(c, status, e, w.buf, w.len);
}

static void finish_err(struct kin_call *c, enum kin_exc e, const char *msg)
{
	finish_err_status(c, e, kin_exc_status(e), msg);
}

void kin_reply_err(struct kin_call *c, enum kin_exc e, const char *fmt, ...)
{
	char msg[KIN_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	finish_err(c, e, msg);
}

void kin_reply_ok(struct kin_call *c, struct kjw *w)
{
	SL_ASSERT(w->depth == 0);
	if (w->oom) {
		kjw_fini(w);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory building the response.");
		return;
	}
	finish(c, 200, KX_NONE, w->buf, w->len);
}

void kin_reply_empty(struct kin_call *c)
{
	struct kjw w;
	kjw_init(&w, 16);
	kjw_obj_begin(&w);
	kjw_obj_end(&w);
	kin_reply_ok(c, &w);
}

bool kin_reply_gathered(struct kin_call *c)
{
	if (c->serr) {
		finish_err(c, KX_SERIALIZATION, c->smsg);
		return true;
	}
	if (c->verr_count == 0)
		return false;
	kin_reply_err(c, KX_VALIDATION, "%u validation error%s detected: %s", c->verr_count,
		      c->verr_count > 1 ? "s" : "", c->vmsg);
	return true;
}

/* ---- the protocol ---- */

static bool span_eq(const char *s, size_t len, const char *lit)
{
	return s != NULL && strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The media type without parameters or blanks: "application/json; x" */
static const char *media_type(const struct sl_kinesis_request *req, size_t *len)
{
	const char *s = req->content_type;
	size_t n = s != NULL ? req->content_type_len : 0;
	const char *semi = n ? memchr(s, ';', n) : NULL;
	if (semi != NULL)
		n = (size_t)(semi - s);
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

struct target {
	bool service_ok;
	bool has_parts; /* "A.B" with both parts */
	int op;         /* index into ops, or -1 */
};

static struct target parse_target(const struct sl_kinesis_request *req)
{
	struct target t = {.op = -1};
	const char *s = req->target;
	size_t n = s != NULL ? req->target_len : 0;
	const char *dot = n ? memchr(s, '.', n) : NULL;
	if (dot == NULL)
		return t;
	size_t svc_len = (size_t)(dot - s), op_len = n - svc_len - 1;
	t.has_parts = svc_len > 0 && op_len > 0;
	t.service_ok = span_eq(s, svc_len, SERVICE);
	t.op = op_find(dot + 1, op_len);
	return t;
}

/* One "Key=Value" of the Authorization header. */
static bool auth_param(const char *h, size_t n, const char *key, const char **v, size_t *vlen)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < n;) {
		while (i < n && (h[i] == ',' || h[i] == ' '))
			i++;
		size_t start = i;
		while (i < n && h[i] != ',' && h[i] != ' ')
			i++;
		if (i - start > klen && memcmp(h + start, key, klen) == 0 &&
		    h[start + klen] == '=') {
			*v = h + start + klen + 1;
			*vlen = i - start - klen - 1;
			return *vlen > 0;
		}
	}
	return false;
}

static bool region_ok(const char *s, size_t len)
{
	if (len == 0 || len > KIN_REGION_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool ok =
		    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* <key>/<yyyymmdd>/<region>/kinesis/aws4_request: the region into c. */
static bool check_scope(struct kin_call *c, const char *cred, size_t n)
{
	const char *part[6];
	size_t len[6], count = 0, start = 0;
	for (size_t i = 0; i <= n && count < 6; i++) {
		if (i == n || cred[i] == '/') {
			part[count] = cred + start;
			len[count++] = i - start;
			start = i + 1;
		}
	}
	if (count != 5 || len[0] == 0 || len[1] != 8) {
		kin_reply_err(c, KX_INCOMPLETE_SIGNATURE,
			      "Credential should be scoped to a valid region, service and date: "
			      "'%.*s'.",
			      (int)(n < 256 ? n : 256), cred);
		return false;
	}
	if (!span_eq(part[4], len[4], "aws4_request")) {
		kin_reply_err(
		    c, KX_INCOMPLETE_SIGNATURE,
		    "Credential should be scoped with a valid terminator: 'aws4_request', "
		    "not '%.*s'.",
		    (int)(len[4] < 64 ? len[4] : 64), part[4]);
		return false;
	}
	if (!span_eq(part[3], len[3], "kinesis")) {
		kin_reply_err(c, KX_INCOMPLETE_SIGNATURE,
			      "Credential should be scoped to correct service: 'kinesis'.");
		return false;
	}
	if (!region_ok(part[2], len[2])) {
		kin_reply_err(c, KX_INCOMPLETE_SIGNATURE,
			      "Credential should be scoped to a valid region.");
		return false;
	}
	memcpy(c->region, part[2], len[2]);
	c->region[len[2]] = '\0';
	return true;
}

/* Step 6: the Authorization header's shape. Answers and returns false. */
static bool check_auth(struct kin_call *c, const struct sl_kinesis_request *req)
{
	const char *h = req->authorization, *v;
	size_t n = h != NULL ? req->authorization_len : 0, vlen;
	char msg[KIN_MSG_MAX] = "";
	size_t used = 0;
	static const char *const params[] = {"Credential", "Signature", "SignedHeaders"};
	if (n == 0) {
		kin_reply_err(c, KX_MISSING_AUTH, "Missing Authentication Token");
		return false;
	}
	size_t alg_len = 0;
	while (alg_len < n && h[alg_len] != ' ')
		alg_len++;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(params); i++) {
		if (!auth_param(h + alg_len, n - alg_len, params[i], &v, &vlen))
			used += (size_t)snprintf(msg + used, sizeof(msg) - used,
						 "Authorization header requires '%s' parameter. ",
						 params[i]);
	}
	if (!req->has_date && used < sizeof(msg))
		used += (size_t)snprintf(msg + used, sizeof(msg) - used,
					 "Authorization header requires existence of either a "
					 "'X-Amz-Date' or a 'Date' header. ");
	if (used > 0) {
		kin_reply_err(c, KX_INCOMPLETE_SIGNATURE, "%sAuthorization=%.*s", msg,
			      (int)(n < 512 ? n : 512), h);
		return false;
	}
	if (!span_eq(h, alg_len, AUTH_ALGORITHM)) {
		kin_reply_err(c, KX_INCOMPLETE_SIGNATURE, "Unsupported AWS 'algorithm': '%.*s'.",
			      (int)(alg_len < 64 ? alg_len : 64), h);
		return false;
	}
	auth_param(h + alg_len, n - alg_len, "Credential", &v, &vlen);
	return check_scope(c, v, vlen);
}

static struct kin_call *call_new(struct sl_kinesis *k, sl_kinesis_reply_fn *fn, void *ctx)
{
	struct kin_call *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->k = k;
	c->reply_fn = fn;
	c->reply_ctx = ctx;
	c->content_type = CT_JSON11;
	kin_make_ids(k, c->request_id, c->id2);
	return c;
}

/* Steps 1-5; true when the request names a known operation in JSON. */
static bool check_protocol(struct kin_call *c, const struct sl_kinesis_request *req,
			   const struct target *t)
{
	size_t ct_len;
	const char *ct = media_type(req, &ct_len);
	bool ct_ok = span_eq(ct, ct_len, CT_JSON11) || span_eq(ct, ct_len, CT_JSON);
	bool op_ok = t->service_ok && t->op >= 0;
	if (!span_eq(req->method, req->method_len, "POST")) {
		kin_reply_err(c, KX_ACCESS_DENIED,
			      "Unable to determine service/operation name to be authorized");
		return false;
	}
	if (!ct_ok) {
		if (!t->has_parts)
			kin_reply_err(
			    c, KX_ACCESS_DENIED,
			    "Unable to determine service/operation name to be authorized");
		else /* not a protocol we speak: 404, as Kinesis */
			finish_err_status(c, KX_UNKNOWN_OPERATION, 404, "");
		return false;
	}
	if (span_eq(ct, ct_len, CT_JSON))
		c->content_type = CT_JSON;
	if (req->body_len == 0) {
		finish_err(c, op_ok ? KX_SERIALIZATION : KX_UNKNOWN_OPERATION,
			   op_ok ? "The request body is empty." : "");
		return false;
	}
	if (req->body_len > BODY_MAX) {
		kin_reply_err(c, KX_SERIALIZATION, "The request body is larger than %u bytes.",
			      BODY_MAX);
		return false;
	}
	/* PutRecords in the shape SDKs send skips jansson (kinesis_scan.c) */
	if (op_ok && ops[t->op].fn == kin_op_put_records && !c->k->scan_off &&
	    kin_put_records_scan(c, req->body, req->body_len))
		return true;
	json_error_t jerr;
	c->root = json_loadb((const char *)req->body, req->body_len, 0, &jerr);
	if (c->root == NULL || !json_is_object(c->root)) {
		kin_reply_err(c, KX_SERIALIZATION, "%s",
			      c->root == NULL ? jerr.text : "Expected a JSON object.");
		return false;
	}
	if (!op_ok) {
		finish_err(c, KX_UNKNOWN_OPERATION, "");
		return false;
	}
	return true;
}

void sl_kinesis_dispatch(struct sl_kinesis *k, const struct sl_kinesis_request *req,
			 sl_kinesis_reply_fn *fn, void *ctx)
{
	k->stats.requests++;
	struct kin_call *c = call_new(k, fn, ctx);
	if (c == NULL) {
		/* No memory for even the call: answer a bare 500. */
		struct sl_kinesis_reply r = {.status = 500,
					     .content_type = CT_JSON11,
					     .error_type = kin_exc_name(KX_INTERNAL_FAILURE),
					     .request_id = "00000000-0000-4000-8000-000000000000",
					     .id2 = ""};
		k->stats.errors++;
		k->stats.server_errors++;
		fn(ctx, &r);
		return;
	}
	struct target t = parse_target(req);
	if (!check_protocol(c, req, &t) || !check_auth(c, req))
		return;
	c->op = ops[t.op].name;
	ops[t.op].fn(c);
}

/* ---- appends and their completions ---- */

static void append_done(struct sl_append *app)
{
	struct kin_call *c = app->owner;
	struct sl_kinesis *k = c->k;
	int rc = sl_ring_enqueue(k->done_ring, app);
	SL_ASSERT(rc == 0); /* sized for every append in flight */
	if (__atomic_exchange_n(&k->done_signalled, 1, __ATOMIC_SEQ_CST) == 0) {
		uint64_t one = 1;
		ssize_t n = write(k->done_fd, &one, sizeof(one));
		SL_ASSERT(n == (ssize_t)sizeof(one));
	}
}

int kin_append(struct kin_call *c, struct sl_shard *sh, struct sl_append *app)
{
	struct sl_kinesis *k = c->k;
	if (k->inflight >= k->inflight_max)
		return -ENOBUFS;
	app->done = append_done;
	app->owner = c;
	int rc = sl_store_append_shard(k->store, sh, app);
	if (rc != 0)
		return rc;
	k->inflight++;
	c->pending++;
	return 0;
}

int sl_kinesis_poll(struct sl_kinesis *k)
{
	uint64_t v;
	void *burst[64];
	int taken = 0;
	ssize_t n = read(k->done_fd, &v, sizeof(v));
	(void)n; /* EAGAIN: nothing signalled, the ring may still hold some */
	__atomic_store_n(&k->done_signalled, 0, __ATOMIC_SEQ_CST);
	for (uint32_t round = 0; round <= k->inflight_max / 64; round++) {
		uint32_t got = sl_ring_dequeue_burst(k->done_ring, burst, 64);
		for (uint32_t i = 0; i < got; i++) {
			struct sl_append *app = burst[i];
			struct kin_call *c = app->owner;
			SL_ASSERT(k->inflight > 0);
			SL_ASSERT(c->pending > 0);
			k->inflight--;
			if (--c->pending == 0)
				c->async_done(c);
		}
		taken += (int)got;
		if (got < 64)
			break;
	}
	return taken;
}

int sl_kinesis_completion_fd(const struct sl_kinesis *k)
{
	return k->done_fd;
}

uint32_t sl_kinesis_inflight(const struct sl_kinesis *k)
{
	return k->inflight;
}

void sl_kinesis_stats(const struct sl_kinesis *k, struct sl_kinesis_stats *out)
{
	*out = k->stats;
}

/* ---- life cycle ---- */

void sl_kinesis_options_from_config(struct sl_kinesis_options *o, const struct sl_config *cfg,
				    struct sl_store *store, char *path_buf, size_t path_cap)
{
	memset(o, 0, sizeof(*o));
	o->store = store;
	size_t n = strnlen(cfg->api_account_id, sizeof(cfg->api_account_id));
	n = n < sizeof(o->account_id) - 1 ? n : sizeof(o->account_id) - 1;
	memcpy(o->account_id, cfg->api_account_id, n); /* validated: 12 digits */
	o->account_id[n] = '\0';
	o->appends_inflight_max = cfg->api_appends_inflight_max;
	o->shard_limit = cfg->api_shard_limit;
	snprintf(path_buf, path_cap, "%s/api.key", cfg->data_dir);
	o->key_path = path_buf;
}

/* Read the key, or make one (written aside, fsync'd, renamed into place). */
static int load_key(const char *path, uint8_t key[KEY_BYTES])
{
	char tmp[SL_CONFIG_PATH_MAX + 64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, key, KEY_BYTES);
		close(fd);
		if (n == KEY_BYTES)
			return 0;
		SL_WARN(SUBSYS, "%s: short or unreadable key: making a new one", path);
	} else if (errno != ENOENT) {
		return sl_neg_errno();
	}
	if (getrandom(key, KEY_BYTES, 0) != KEY_BYTES)
		return -EIO;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return sl_neg_errno();
	int rc = write(fd, key, KEY_BYTES) == KEY_BYTES && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = sl_neg_errno();
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static bool account_ok(const char *s)
{
	if (strlen(s) != SL_KINESIS_ACCOUNT_ID_LEN)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
	}
	return true;
}

static int options_check(const struct sl_kinesis_options *o)
{
	if (o->store == NULL || !account_ok(o->account_id))
		return -EINVAL;
	if (o->appends_inflight_max < SL_KINESIS_INFLIGHT_MIN ||
	    o->appends_inflight_max > SL_KINESIS_INFLIGHT_MAX || o->shard_limit == 0)
		return -EINVAL;
	return 0;
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 2;
	while (p < v)
		p <<= 1;
	return p;
}

int sl_kinesis_create(const struct sl_kinesis_options *o, struct sl_kinesis **out)
{
	int rc = options_check(o);
	if (rc != 0)
		return rc;
	struct sl_kinesis *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->store = o->store;
	memcpy(k->account, o->account_id, sizeof(k->account));
	k->inflight_max = o->appends_inflight_max;
	k->shard_limit = o->shard_limit;
	k->done_fd = -1;
	if (getrandom(k->rng, sizeof(k->rng), 0) != (ssize_t)sizeof(k->rng))
		rc = -EIO;
	if (rc == 0 && o->key_path != NULL && o->key_path[0] != '\0')
		rc = load_key(o->key_path, k->key);
	else if (rc == 0 && getrandom(k->key, KEY_BYTES, 0) != KEY_BYTES)
		rc = -EIO;
	if (rc == 0) {
		k->done_ring = sl_ring_create(pow2_at_least(k->inflight_max));
		k->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		k->rrecs = calloc(SL_KINESIS_GET_RECORDS_MAX, sizeof(*k->rrecs));
		k->rbuf = malloc(SL_KINESIS_GET_BYTES_MAX);
		k->scan_recs = calloc(SL_FRAME_RECORDS_MAX, sizeof(*k->scan_recs));
		if (k->done_ring == NULL || k->rrecs == NULL || k->rbuf == NULL ||
		    k->scan_recs == NULL)
			rc = -ENOMEM;
		else if (k->done_fd < 0)
			rc = sl_neg_errno();
	}
	if (rc != 0) {
		SL_ERR(SUBSYS, "starting the Kinesis API: %s", sl_strerror(rc));
		sl_kinesis_destroy(k);
		return rc;
	}
	*out = k;
	return 0;
}

void sl_kinesis_destroy(struct sl_kinesis *k)
{
	if (k == NULL)
		return;
	if (k->inflight > 0) {
		SL_ERR(SUBSYS, "%u append(s) still in flight: the API's state is kept, not freed",
		       k->inflight);
		return;
	}
	sl_ring_destroy(k->done_ring);
	if (k->done_fd >= 0)
		close(k->done_fd);
	free(k->rrecs);
	free(k->rbuf);
	free(k->scan_recs);
	free(k);
}
