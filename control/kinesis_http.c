/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis API on the HTTP server: a request's headers and body become
 * a struct sl_kinesis_request, and the API's answer becomes the response,
 * with x-amzn-RequestId, x-amz-id-2 and (for an exception)
 * x-amzn-ErrorType. The path is not looked at: Kinesis does not either.
 * The server's own refusals (400 unparsable, 408, 413, 431, 503) get the
 * same JSON error shape, so SDKs report them as errors they understand.
 */
#include <stdio.h>
#include <string.h>

#include <sluice/expo.h>
#include <sluice/http.h>

#include "kinesis_internal.h"

static void header(struct sl_http_header *h, const char *name, const char *value)
{
	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = strlen(value);
}

static void http_reply(void *ctx, struct sl_kinesis_reply *r)
{
	struct sl_http_exchange *x = ctx;
	struct sl_http_header h[3];
	unsigned n = 0;
	header(&h[n++], "x-amzn-RequestId", r->request_id);
	header(&h[n++], "x-amz-id-2", r->id2);
	if (r->error_type != NULL)
		header(&h[n++], "x-amzn-ErrorType", r->error_type);
	if (r->body != NULL)
		sl_http_respond_owned(x, r->status, r->content_type, h, n, r->body, r->body_len);
	else
		sl_http_respond(x, r->status, r->content_type, h, n, "", 0);
}

/* GET /metrics: every counter set in the Prometheus text format. */
static bool serve_metrics(struct sl_http_exchange *x, const struct sl_http_request *req)
{
	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0 || req->target_len < 8 ||
	    memcmp(req->target, "/metrics", 8) != 0 ||
	    (req->target_len > 8 && req->target[8] != '?'))
		return false;
	char *text;
	size_t len;
	if (sl_expo_prometheus(&text, &len) != 0)
		sl_http_respond(x, 500, "text/plain", NULL, 0, "out of memory\n", 14);
	else
		sl_http_respond_owned(x, 200, SL_EXPO_CONTENT_TYPE, NULL, 0, text, len);
	return true;
}

void sl_kinesis_http_handler(void *arg, struct sl_http_exchange *x,
			     const struct sl_http_request *req)
{
	struct sl_kinesis *k = arg;
	if (serve_metrics(x, req))
		return;
	struct sl_kinesis_request kr = {
	    .method = req->method,
	    .method_len = req->method_len,
	    .body = req->body,
	    .body_len = req->body_len,
	};
	size_t len;
	kr.target = sl_http_header_get(req, "x-amz-target", &kr.target_len);
	kr.content_type = sl_http_header_get(req, "content-type", &kr.content_type_len);
	kr.authorization = sl_http_header_get(req, "authorization", &kr.authorization_len);
	kr.has_date = sl_http_header_get(req, "x-amz-date", &len) != NULL ||
		      sl_http_header_get(req, "date", &len) != NULL;
	sl_kinesis_dispatch(k, &kr, http_reply, x);
}

/* The exception a refusal of the server's is reported as. */
static const char *refusal_type(int status)
{
	switch (status) {
	case 400:
		return "SerializationException";
	case 408:
		return "RequestTimeoutException";
	case 413:
		return "RequestEntityTooLargeException";
	case 431:
		return "RequestHeaderFieldsTooLargeException";
	case 503:
		return "ServiceUnavailableException";
	default:
		return "InternalFailure";
	}
}

size_t sl_kinesis_http_error(void *arg, int status, const char *why, char *out, size_t cap,
			     const char **content_type, struct sl_http_header *extra,
			     unsigned *extra_count)
{
	struct sl_kinesis *k = arg;
	const char *type = refusal_type(status);
	struct kjw w;
	kjw_init(&w, 256);
	kjw_obj_begin(&w);
	kjw_key(&w, "__type");
	kjw_cstr(&w, type);
	kjw_key(&w, "message");
	kjw_cstr(&w, why != NULL ? why : "");
	kjw_obj_end(&w);
	size_t n = w.oom || w.len > cap ? 0 : w.len;
	if (n > 0)
		memcpy(out, w.buf, n);
	kjw_fini(&w);
	kin_make_ids(k, k->http_rid, k->http_id2);
	*content_type = "application/x-amz-json-1.1";
	header(&extra[0], "x-amzn-RequestId", k->http_rid);
	header(&extra[1], "x-amzn-ErrorType", type);
	*extra_count = 2;
	return n;
}
