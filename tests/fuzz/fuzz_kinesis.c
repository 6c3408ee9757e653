/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the Kinesis API's JSON handlers (control/kinesis*.c), over
 * a real store in a temporary directory with a writer thread, created at
 * the first input (a stream "f" of two shards is there from the start).
 * An input is "<Operation>\n<body>": the operation goes into X-Amz-Target,
 * the body is dispatched as is with a valid content type and
 * Authorization. Invariants: no crash or sanitizer report; exactly one
 * answer per request (PutRecord(s) after their appends complete); its
 * status is 200, 400, 403 or 404, never a 500 (InternalFailure is a bug
 * here: the store is healthy); its body is a JSON object, and an error's
 * __type is the x-amzn-ErrorType it came with; nothing stays in flight.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sluice/assert.h>
#include <sluice/kinesis.h>
#include <sluice/store.h>

#include "kinesis_req.h"
#include "store_util.h"

#define OP_MAX 64

static struct {
	char dir[256];
	struct sl_store *st;
	struct sl_kinesis *k;
	struct tu_writer w;
	bool up;
} F;

struct answer {
	int count;
	int status;
	char type[64];
	json_t *j;
};

static void on_reply(void *ctx, struct sl_kinesis_reply *r)
{
	struct answer *a = ctx;
	a->count++;
	a->status = r->status;
	snprintf(a->type, sizeof(a->type), "%s", r->error_type ? r->error_type : "");
	a->j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	free(r->body);
}

static void dispatch(const char *target, const uint8_t *body, size_t len, struct answer *a)
{
	struct sl_kinesis_request r = tk_request(target, body, len);
	memset(a, 0, sizeof(*a));
	sl_kinesis_dispatch(F.k, &r, on_reply, a);
	for (int i = 0; i < 10000 && a->count == 0; i++) {
		struct pollfd p = {.fd = sl_kinesis_completion_fd(F.k), .events = POLLIN};
		poll(&p, 1, 1);
		sl_kinesis_poll(F.k);
	}
}

static void teardown(void)
{
	if (!F.up)
		return;
	sl_kinesis_destroy(F.k);
	sl_store_stop_appends(F.st);
	tu_writer_stop(&F.w);
	sl_store_close(F.st);
	tu_rmtree(F.dir);
	F.up = false;
}

static void setup(void)
{
	struct sl_store_options so;
	struct answer a;
	SL_ASSERT(tu_tmpdir(F.dir, sizeof(F.dir), "fuzz-kinesis") != NULL);
	tu_options(&so, F.dir);
	so.segment_bytes = 8u << 20;
	SL_ASSERT(sl_store_open(&so, &F.st) == 0);
	tu_writer_start(&F.w, F.st, 0);
	struct sl_kinesis_options ko = {.store = F.st,
					.account_id = "000000000000",
					.appends_inflight_max = 64,
					.shard_limit = 64};
	SL_ASSERT(sl_kinesis_create(&ko, &F.k) == 0);
	F.up = true;
	atexit(teardown);
	static const char create[] = "{\"StreamName\":\"f\",\"ShardCount\":2}";
	dispatch("Kinesis_20131202.CreateStream", (const uint8_t *)create, sizeof(create) - 1, &a);
	SL_ASSERT(a.count == 1 && a.status == 200);
	json_decref(a.j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char target[OP_MAX + 32] = "Kinesis_20131202.";
	struct answer a;
	if (!F.up)
		setup();
	const uint8_t *nl = memchr(data, '\n', size < OP_MAX ? size : OP_MAX);
	size_t op_len = nl != NULL ? (size_t)(nl - data) : 0;
	memcpy(target + strlen(target), data, op_len);
	target[strlen("Kinesis_20131202.") + op_len] = '\0';
	const uint8_t *body = nl != NULL ? nl + 1 : data;
	size_t body_len = size - (size_t)(body - data);
	dispatch(target, body, body_len, &a);
	SL_ASSERT(a.count == 1);
	SL_ASSERT(a.status == 200 || a.status == 400 || a.status == 403 || a.status == 404);
	SL_ASSERT(json_is_object(a.j));
	if (a.status != 200) {
		const char *type = json_string_value(json_object_get(a.j, "__type"));
		SL_ASSERT(type != NULL && strcmp(type, a.type) == 0);
	} else {
		SL_ASSERT(a.type[0] == '\0');
	}
	SL_ASSERT(sl_kinesis_inflight(F.k) == 0);
	json_decref(a.j);
	return 0;
}
