/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis Data Streams API (AWS JSON 1.1, SPEC §5 group 1) over the
 * storage engine: stream management, tags, PutRecord(s), shard iterators
 * and GetRecords.
 *
 * The API object is transport-independent: sl_kinesis_dispatch() takes the
 * pieces of one request (method, X-Amz-Target, Content-Type,
 * Authorization, body) and answers through a reply callback, at once or
 * later: PutRecord(s) answer only once their records are durable (the
 * stream's durability mode). sl_kinesis_http_handler() adapts it to the
 * HTTP server (http.h).
 *
 * Threads: everything here runs on one thread, the control thread's loop
 * (metadata is single-threaded), except the appends' done callbacks, which
 * the shard writers run: they only push the finished append onto an MPSC
 * ring and signal an eventfd (sl_kinesis_completion_fd) that the loop
 * watches; sl_kinesis_poll() then answers the finished requests on the
 * loop thread.
 */
#ifndef SLUICE_KINESIS_H
#define SLUICE_KINESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/config.h>

struct sl_store;
struct sl_kinesis;
struct sl_http_exchange;
struct sl_http_request;
struct sl_http_header;

#define SL_KINESIS_ACCOUNT_ID_LEN 12
/* Appends in flight (PutRecord and each shard's part of a PutRecords). */
#define SL_KINESIS_INFLIGHT_MIN 16
#define SL_KINESIS_INFLIGHT_MAX (1u << 20)
/* Shard iterators and NextTokens stay valid this long (as Kinesis). */
#define SL_KINESIS_ITERATOR_TTL_MS 300000u
/* GetRecords: keys and data returned by one call (and any one record fits). */
#define SL_KINESIS_GET_BYTES_MAX   (10u << 20)
#define SL_KINESIS_GET_RECORDS_MAX 10000u
/* PutRecords: keys and data of one request. */
#define SL_KINESIS_PUT_BYTES_MAX (5u << 20)

struct sl_kinesis_options {
	struct sl_store *store;                         /* borrowed; outlives the API object */
	char account_id[SL_KINESIS_ACCOUNT_ID_LEN + 1]; /* 12 digits */
	uint32_t appends_inflight_max;                  /* beyond: ProvisionedThroughputExceeded */
	uint32_t shard_limit;                           /* open shards over all streams */
	/*
	 * Where the key that signs shard iterators and NextTokens is kept (read,
	 * or created 0600 with 32 random bytes), so iterators survive a
	 * restart. NULL or "": a random key for this process only (tests).
	 */
	const char *key_path;
};

/* Options from the configuration ([api] keys); key_path in the data dir.
 * path_buf (at least SL_CONFIG_PATH_MAX + 32 bytes) holds the key path. */
void sl_kinesis_options_from_config(struct sl_kinesis_options *o, const struct sl_config *cfg,
				    struct sl_store *store, char *path_buf, size_t path_cap);

/* 0 and *out, or -EINVAL (bad options), -ENOMEM, -errno (the key file). */
int sl_kinesis_create(const struct sl_kinesis_options *o, struct sl_kinesis **out);

/*
 * Free. Appends still in flight would call back into it, so when some are
 * (sl_kinesis_inflight() > 0) the object is left allocated on purpose and
 * the leak is logged. NULL: no-op.
 */
void sl_kinesis_destroy(struct sl_kinesis *k);

/* One request, as the transport received it. Every pointer is borrowed for
 * the duration of sl_kinesis_dispatch() only; a NULL field is absent. */
struct sl_kinesis_request {
	const char *method;
	size_t method_len;
	const char *target; /* X-Amz-Target: Kinesis_20131202.<Operation> */
	size_t target_len;
	const char *content_type;
	size_t content_type_len;
	const char *authorization;
	size_t authorization_len;
	bool has_date; /* an X-Amz-Date or Date header came with it */
	const uint8_t *body;
	size_t body_len;
};

/* One answer. */
struct sl_kinesis_reply {
	int status;               /* 200, 400, 403, 404, 500 */
	const char *content_type; /* static */
	const char *error_type;   /* NULL, or the exception (x-amzn-ErrorType) */
	const char *request_id;   /* a UUID (x-amzn-RequestId) */
	const char *id2;          /* x-amz-id-2 */
	void *body;               /* malloc'd JSON: the callee owns it */
	size_t body_len;
};

/* Called exactly once per dispatched request, on the loop thread; may be
 * called from inside sl_kinesis_dispatch(). The reply is valid for the
 * call; its body is the callee's to free. */
typedef void sl_kinesis_reply_fn(void *ctx, struct sl_kinesis_reply *reply);

void sl_kinesis_dispatch(struct sl_kinesis *k, const struct sl_kinesis_request *req,
			 sl_kinesis_reply_fn *fn, void *ctx);

/* The eventfd the loop watches for finished appends (EPOLLIN). */
int sl_kinesis_completion_fd(const struct sl_kinesis *k);

/* Answer the requests whose appends finished. Loop thread. Returns how many
 * appends it took (0: none). */
int sl_kinesis_poll(struct sl_kinesis *k);

/* Appends handed to storage and not finished yet. */
uint32_t sl_kinesis_inflight(const struct sl_kinesis *k);

/* Counters (loop thread only): requests, errors and record outcomes. */
struct sl_kinesis_stats {
	uint64_t requests;
	uint64_t errors;            /* answers that were an exception */
	uint64_t server_errors;     /* of which InternalFailure (500) */
	uint64_t records_put;       /* records acknowledged durable */
	uint64_t records_failed;    /* PutRecord(s) records refused or failed */
	uint64_t records_throttled; /* of which ProvisionedThroughputExceeded */
	uint64_t records_read;      /* records returned by GetRecords */
	uint64_t puts_scanned;      /* PutRecords bodies read without jansson */
};
void sl_kinesis_stats(const struct sl_kinesis *k, struct sl_kinesis_stats *out);

/* ---- HTTP adapter (kinesis_http.c) ---- */

/* sl_http_handler_fn for the Kinesis API; arg is the struct sl_kinesis. */
void sl_kinesis_http_handler(void *arg, struct sl_http_exchange *x,
			     const struct sl_http_request *req);

/* sl_http_error_fn: the server's own refusals (413, 408, ...) in the
 * Kinesis error shape. */
size_t sl_kinesis_http_error(void *arg, int status, const char *why, char *out, size_t cap,
			     const char **content_type, struct sl_http_header *extra,
			     unsigned *extra_count);

#endif /* SLUICE_KINESIS_H */
