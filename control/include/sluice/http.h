/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP server of the control plane (Kinesis API, later /metrics and the
 * dashboard): HTTP/1.1 parsed by llhttp, on the control thread's event loop
 * (evloop.h). Keep-alive and pipelining (responses leave in request order),
 * a bound on connections, limits on header and body sizes checked before
 * anything is buffered past them, header/body/idle timeouts so that a slow
 * client holds nothing for long, and a graceful stop.
 *
 * The handler sees a whole request as a struct sl_http_request and answers
 * it through its struct sl_http_exchange, at once or later (after the
 * records are durable), always on the loop thread. The exchange shape does
 * not depend on HTTP/1.1, so that h2c streams can feed the same handlers.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/evloop.h>

struct sl_config;
struct sl_http_server;
struct sl_http_exchange;

struct sl_http_limits {
	uint32_t connections_max;   /* accepted beyond this: 503 and close */
	uint32_t header_bytes_max;  /* request line + headers: 431 */
	uint32_t headers_max;       /* header fields: 431 */
	uint64_t body_bytes_max;    /* Content-Length above it: 413 before reading */
	uint32_t header_timeout_ms; /* from the first byte to the end of headers: 408 */
	uint32_t body_timeout_ms;   /* from the end of headers to the end of body: 408 */
	uint32_t idle_timeout_ms;   /* keep-alive connection with nothing pending: close;
				     * also a client that takes none of a pending response
				     * for this long: close */
	uint32_t pipeline_max;      /* requests parsed ahead of their responses per connection */
};

/* Defaults: 1024 connections, 16 KiB of headers, 100 fields, 8 MiB bodies
 * (a 5 MiB PutRecords body in base64 and JSON), 10 s / 30 s / 60 s, 16. */
void sl_http_limits_default(struct sl_http_limits *lim);
/* The defaults, with the [api] keys of the configuration applied. */
void sl_http_limits_from_config(struct sl_http_limits *lim, const struct sl_config *cfg);

struct sl_http_header {
	const char *name; /* as sent; compare without case */
	size_t name_len;
	const char *value; /* leading and trailing blanks trimmed */
	size_t value_len;
};

/*
 * One whole request; every pointer is valid until the exchange is answered.
 * Method, target, header names and values are each followed by a NUL byte
 * (not counted in their lengths), and so is the body (never NULL: "" when
 * the request has none).
 */
struct sl_http_request {
	const char *method;
	size_t method_len;
	const char *target; /* request-target, e.g. "/" */
	size_t target_len;
	const struct sl_http_header *headers;
	unsigned header_count;
	const uint8_t *body;
	size_t body_len;
	uint8_t version_minor; /* HTTP/1.<minor> */
};

/* The value of the first header `name` (any case), or NULL; *len set. */
const char *sl_http_header_get(const struct sl_http_request *r, const char *name, size_t *len);

/*
 * Called on the loop thread for each whole request. It must eventually call
 * sl_http_respond() on x exactly once, now or later on the loop thread. It
 * may call anything of this header (sl_http_server_destroy excepted).
 */
typedef void sl_http_handler_fn(void *arg, struct sl_http_exchange *x,
				const struct sl_http_request *req);

/*
 * Format the body of an error the server answers by itself (400 malformed,
 * 408, 413, 431, 503): the API puts its own error shape there. Writes at
 * most cap bytes of body into out, sets *content_type (static), and may add
 * up to 2 extra headers; returns the body length. NULL: plain text.
 */
typedef size_t sl_http_error_fn(void *arg, int status, const char *why, char *out, size_t cap,
				const char **content_type, struct sl_http_header *extra,
				unsigned *extra_count);

struct sl_http_server_options {
	const char *host; /* numeric IPv4 or IPv6 */
	uint16_t port;    /* 0: an ephemeral port (tests); see sl_http_server_port */
	struct sl_http_limits limits;
	sl_http_handler_fn *handler;
	sl_http_error_fn *error_fmt;
	void *arg; /* for handler and error_fmt */
};

/*
 * Listen and start serving on l. 0 and *out, or -errno (logged): -EINVAL
 * for a bad address or a limit out of range (each must be at least 1,
 * header_bytes_max at least 64; body_bytes_max may be 0), else what the
 * socket calls said. "localhost" is taken as 127.0.0.1.
 */
int sl_http_server_create(struct sl_evloop *l, const struct sl_http_server_options *o,
			  struct sl_http_server **out);
uint16_t sl_http_server_port(const struct sl_http_server *s);

/*
 * Graceful stop, step 1: close the listener, answer nothing new (requests
 * already parsed still get their responses, then their connection closes;
 * a request still arriving is dropped), close idle connections.
 */
void sl_http_server_stop_accepting(struct sl_http_server *s);
/* Requests handed to the handler and not yet answered, plus responses not
 * yet written out. The daemon runs the loop until this is 0 (or a timeout). */
unsigned sl_http_server_busy(const struct sl_http_server *s);
/* Close everything; exchanges not answered yet are dropped. NULL: no-op. */
void sl_http_server_destroy(struct sl_http_server *s);

/*
 * Answer x: status (200..599), Content-Type (NULL: none), extra headers
 * (borrowed, copied; names are tokens, values hold no CR, LF or NUL, and
 * none of Content-Length, Connection, Date, Transfer-Encoding: asserted),
 * body (copied; not sent for HEAD; must be empty for 204 and 304).
 * Content-Length, Connection and Date are added here. Responses leave in
 * request order; if the client has gone, the response is discarded (and
 * counted) and x is freed all the same. x is invalid afterwards.
 */
void sl_http_respond(struct sl_http_exchange *x, int status, const char *content_type,
		     const struct sl_http_header *extra, unsigned extra_count, const void *body,
		     size_t body_len);
/* The same, taking ownership of body (malloc'd), freed once written. */
void sl_http_respond_owned(struct sl_http_exchange *x, int status, const char *content_type,
			   const struct sl_http_header *extra, unsigned extra_count, void *body,
			   size_t body_len);

/*
 * Whether the client of x has gone (the answer will be discarded): it
 * closed or reset the connection, or half-closed it (a client that shuts
 * down its sending side while an answer is pending is taken as gone).
 */
bool sl_http_exchange_gone(const struct sl_http_exchange *x);

/*
 * Server-wide counters (connections, requests, each refusal) for stats.
 * requests: handed to the handler; responses: written out whole, the
 * server's own errors included; responses_discarded: dropped because the
 * client had gone; timeouts: 408s sent plus clients that stalled a write;
 * idle_closes: keep-alive connections closed for idleness.
 */
struct sl_http_stats {
	uint64_t connections_accepted, connections_refused, connections_open;
	uint64_t requests, responses, responses_discarded;
	uint64_t bad_request, header_too_large, body_too_large, timeouts, idle_closes;
};
void sl_http_server_stats(const struct sl_http_server *s, struct sl_http_stats *out);

#endif /* SLUICE_HTTP_H */
