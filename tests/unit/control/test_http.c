/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTTP/1.1 server (control/http.c) over real sockets on 127.0.0.1 and
 * an ephemeral port, with a test handler that answers at once, later (by
 * a timer) or when the test says so. The test is the client: non-blocking
 * sockets, running the server's loop while it waits. Checked:
 * - keep-alive (several requests on one connection), the response's
 *   Content-Length, Connection and Date, the request as the handler sees
 *   it (method, target, version, trimmed header values, body, each
 *   NUL-terminated), HEAD, respond_owned, a large response written in
 *   pieces (EPOLLOUT);
 * - pipelining: responses leave in request order although the handler
 *   answers out of order; no more than pipeline_max requests are handed
 *   over ahead of their responses;
 * - every limit at and just past its bound: header bytes and fields (431),
 *   Content-Length (413 before any body is sent: the handler never sees
 *   it), chunked bodies (413 as they arrive, received by a client still
 *   sending), connections (503 and close);
 * - timeouts: header (408), body (408), idle (close, no response), a
 *   client that reads nothing of a response (close);
 * - 100-continue, chunked bodies, HTTP/1.0 with and without keep-alive,
 *   Connection: close, malformed requests (400 + close, after the answers
 *   to the good requests ahead of them), the error formatter;
 * - a client that goes away before an async answer: the exchange says so,
 *   the answer is discarded and counted, nothing leaks (ASan);
 * - graceful stop: idle and half-received connections close, new ones are
 *   refused, pending answers still go out, then busy() is 0; answering
 *   after destroy is harmless;
 * - options refused, limits from the configuration.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/evloop.h>
#include <sluice/http.h>
#include <sluice/log.h>

#include "check.h"

static struct sl_evloop *loop;
static struct sl_http_server *srv;
static uint16_t port;

static uint64_t mono_ms(void)
{
	return sl_clock_mono_ns() / SL_NS_PER_MS;
}

/* ---- the test handler ---- */

#define HELD_MAX 16

static struct sl_http_exchange *held[HELD_MAX];
static unsigned held_count;
static unsigned handled;
static char seen[1024]; /* targets in the order the handler got them */
static int request_shape_errors;

struct later {
	struct sl_ev_timer t;
	struct sl_http_exchange *x;
	char body[128];
	size_t len;
};

static void answer_later(struct sl_evloop *l, void *arg)
{
	struct later *w = arg;
	sl_http_respond(w->x, 200, "text/plain", NULL, 0, w->body, w->len);
	free(w);
}

static bool starts(const struct sl_http_request *r, const char *prefix)
{
	size_t n = strlen(prefix);
	return r->target_len >= n && memcmp(r->target, prefix, n) == 0;
}

/* Every string of the request is NUL-terminated and inside its length. */
static void check_shape(const struct sl_http_request *r)
{
	bool ok = r->method[r->method_len] == '\0' && r->target[r->target_len] == '\0' &&
		  r->body != NULL && r->body[r->body_len] == '\0';
	for (unsigned i = 0; i < r->header_count; i++) {
		const struct sl_http_header *h = &r->headers[i];
		ok = ok && h->name[h->name_len] == '\0' && h->value[h->value_len] == '\0';
		if (h->value_len > 0)
			ok = ok && h->value[0] != ' ' && h->value[h->value_len - 1] != ' ';
	}
	if (!ok)
		request_shape_errors++;
}

static void handler(void *arg, struct sl_http_exchange *x, const struct sl_http_request *r)
{
	handled++;
	check_shape(r);
	size_t used = strlen(seen);
	snprintf(seen + used, sizeof(seen) - used, "%.*s;", (int)r->target_len, r->target);
	if (starts(r, "/echo")) {
		/* "METHOD TARGET 1.x\n" then the body. */
		size_t cap = 64 + r->method_len + r->target_len + r->body_len;
		char *b = malloc(cap);
		int n = snprintf(b, cap, "%.*s %.*s 1.%u\n", (int)r->method_len, r->method,
				 (int)r->target_len, r->target, r->version_minor);
		memcpy(b + n, r->body, r->body_len);
		struct sl_http_header extra = {"X-Seq", 5, "7", 1};
		sl_http_respond(x, 200, "text/plain", &extra, 1, b, (size_t)n + r->body_len);
		free(b);
	} else if (starts(r, "/later/")) {
		struct later *w = calloc(1, sizeof(*w));
		w->x = x;
		w->len = (size_t)snprintf(w->body, sizeof(w->body), "%s", r->target);
		sl_evloop_timer_arm(loop, &w->t, strtoull(r->target + 7, NULL, 10), answer_later,
				    w);
	} else if (starts(r, "/hold")) {
		if (held_count < HELD_MAX)
			held[held_count++] = x;
		else
			sl_http_respond(x, 500, NULL, NULL, 0, NULL, 0);
	} else if (starts(r, "/big/")) {
		size_t n = strtoull(r->target + 5, NULL, 10);
		uint8_t *b = malloc(n);
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)(i * 7 + i / 251);
		sl_http_respond_owned(x, 200, "application/octet-stream", NULL, 0, b, n);
	} else if (starts(r, "/hdr")) {
		size_t n;
		const char *v = sl_http_header_get(r, "x-test", &n);
		if (v == NULL)
			sl_http_respond(x, 404, NULL, NULL, 0, "none", 4);
		else
			sl_http_respond(x, 200, NULL, NULL, 0, v, n);
	} else if (starts(r, "/nocontent")) {
		sl_http_respond(x, 204, NULL, NULL, 0, NULL, 0);
	} else {
		sl_http_respond(x, 404, "text/plain", NULL, 0, "not found", 9);
	}
}

static void release_held(unsigned i, const char *body)
{
	CHECK(i < held_count);
	if (i < held_count && held[i] != NULL) {
		sl_http_respond(held[i], 200, "text/plain", NULL, 0, body, strlen(body));
		held[i] = NULL;
	}
}

static size_t error_fmt(void *arg, int status, const char *why, char *out, size_t cap,
			const char **content_type, struct sl_http_header *extra,
			unsigned *extra_count)
{
	*content_type = "application/x-amz-json-1.1";
	extra[0] = (struct sl_http_header){"x-amzn-ErrorType", 16, "Http", 4};
	*extra_count = 1;
	int n = snprintf(out, cap, "{\"status\":%d}", status);
	return (size_t)n < cap ? (size_t)n : cap;
}

/* ---- the server ---- */

static void small_limits(struct sl_http_limits *lim)
{
	sl_http_limits_default(lim);
	lim->header_bytes_max = 256;
	lim->headers_max = 4;
	lim->body_bytes_max = 100;
	lim->header_timeout_ms = 2000;
	lim->body_timeout_ms = 2000;
	lim->idle_timeout_ms = 5000;
	lim->pipeline_max = 4;
	lim->connections_max = 8;
}

static void server_start(const struct sl_http_limits *lim, sl_http_error_fn *efmt)
{
	struct sl_http_server_options o = {
	    .host = "127.0.0.1",
	    .port = 0,
	    .limits = *lim,
	    .handler = handler,
	    .error_fmt = efmt,
	};
	held_count = 0;
	handled = 0;
	seen[0] = '\0';
	int rc = sl_http_server_create(loop, &o, &srv);
	CHECK_EQ_U64(rc, 0);
	port = sl_http_server_port(srv);
	CHECK(port != 0);
}

static struct sl_http_stats stats(void)
{
	struct sl_http_stats st;
	sl_http_server_stats(srv, &st);
	return st;
}

static void pump(int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	do {
		sl_evloop_run_once(loop, 5);
	} while (mono_ms() < end);
}

static bool pump_until_open(uint64_t want, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	for (;;) {
		struct sl_http_stats st = stats();
		if (st.connections_open == want)
			return true;
		if (mono_ms() >= end)
			return false;
		sl_evloop_run_once(loop, 5);
	}
}

static bool pump_until_handled(unsigned want, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	while (handled < want && mono_ms() < end)
		sl_evloop_run_once(loop, 5);
	return handled == want;
}

static void server_end(void)
{
	for (unsigned i = 0; i < held_count; i++) {
		if (held[i] != NULL)
			release_held(i, "late");
	}
	pump(20);
	sl_http_server_destroy(srv);
	srv = NULL;
}

/* ---- the client ---- */

#define CLI_BUF (8u << 20)

struct cli {
	int fd;
	char *buf;
	size_t len;
	bool eof;
};

struct resp {
	int status;
	char head[2048];
	char *body;
	size_t body_len;
};

/* rcvbuf: the client's receive buffer (0: the kernel's default). */
static void cli_open_rcvbuf(struct cli *c, int rcvbuf)
{
	memset(c, 0, sizeof(*c));
	c->buf = malloc(CLI_BUF);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rcvbuf > 0)
		CHECK(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Blocking connect: the kernel completes it from the backlog. */
	CHECK(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

static void cli_open(struct cli *c)
{
	cli_open_rcvbuf(c, 0);
}

static void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

/* Send all of it, running the server while the socket is full. */
static bool cli_send_n(struct cli *c, const void *data, size_t n)
{
	const char *p = data;
	uint64_t end = mono_ms() + 10000;
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return false;
		if (mono_ms() > end)
			return false;
		sl_evloop_run_once(loop, 5);
	}
	return true;
}

static bool cli_send(struct cli *c, const char *s)
{
	return cli_send_n(c, s, strlen(s));
}

/* Read what is there; false when nothing came. */
static bool cli_fill(struct cli *c)
{
	if (c->eof || c->len == CLI_BUF)
		return false;
	ssize_t n = recv(c->fd, c->buf + c->len, CLI_BUF - c->len, 0);
	if (n > 0) {
		c->len += (size_t)n;
		return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		c->eof = true;
	return false;
}

static const char *find_head_end(const char *b, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++) {
		if (memcmp(b + i, "\r\n\r\n", 4) == 0)
			return b + i + 4;
	}
	return NULL;
}

/* Value of header `name` in a response head, in out (cap); NULL if absent. */
static const char *head_value(const char *head, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t len = strcspn(v, "\r");
			len = len < cap - 1 ? len : cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return out;
		}
	}
	return NULL;
}

/*
 * One response (a 100 Continue counts as one) within ms: 1, 0 at EOF with
 * no whole response, -1 on timeout. `head_only`: a HEAD response.
 */
static int cli_response_ex(struct cli *c, struct resp *r, int ms, bool head_only)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *he = find_head_end(c->buf, c->len);
		if (he != NULL) {
			size_t hlen = (size_t)(he - c->buf);
			char v[64];
			size_t blen = 0;
			int status = atoi(c->buf + 9);
			if (status >= 200 && !head_only &&
			    head_value(c->buf, "Content-Length", v, sizeof(v)) != NULL)
				blen = strtoull(v, NULL, 10);
			if (hlen + blen <= c->len) {
				r->status = status;
				size_t keep =
				    hlen < sizeof(r->head) - 1 ? hlen : sizeof(r->head) - 1;
				memcpy(r->head, c->buf, keep);
				r->head[keep] = '\0';
				r->body = malloc(blen + 1);
				memcpy(r->body, he, blen);
				r->body[blen] = '\0';
				r->body_len = blen;
				memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
				c->len -= hlen + blen;
				return 1;
			}
		}
		if (cli_fill(c))
			continue;
		if (c->eof)
			return 0;
		if (mono_ms() >= end)
			return -1;
		sl_evloop_run_once(loop, 5);
	}
}

static int cli_response(struct cli *c, struct resp *r, int ms)
{
	return cli_response_ex(c, r, ms, false);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* The server closed: EOF (or a reset) within ms, with no bytes first. */
static bool cli_wait_eof(struct cli *c, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	size_t had = c->len;
	while (!c->eof && mono_ms() < end) {
		if (!cli_fill(c))
			sl_evloop_run_once(loop, 5);
	}
	return c->eof && c->len == had;
}

static bool has_header(const struct resp *r, const char *name, const char *value)
{
	char v[256];
	return head_value(r->head, name, v, sizeof(v)) != NULL && strcmp(v, value) == 0;
}

/* ---- tests ---- */

static void test_keepalive(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	server_start(&lim, NULL);
	cli_open(&c);

	CHECK(cli_send(&c, "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_STREQ(r.body, "GET /echo?a=1 1.1\n");
	CHECK(has_header(&r, "Content-Length", "18"));
	CHECK(has_header(&r, "Connection", "keep-alive"));
	CHECK(has_header(&r, "Content-Type", "text/plain"));
	CHECK(has_header(&r, "X-Seq", "7"));
	char date[64];
	CHECK(head_value(r.head, "Date", date, sizeof(date)) != NULL);
	CHECK(strlen(date) == 29 && strcmp(date + 25, " GMT") == 0);
	resp_free(&r);

	/* Same connection: a POST with a body, header values trimmed. */
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Test:   padded  \r\n"
			   "Content-Length: 5\r\n\r\nhello"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "POST /echo 1.1\nhello");
	resp_free(&r);
	CHECK(cli_send(&c, "GET /hdr HTTP/1.1\r\nX-Test:   padded \t \r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "padded");
	resp_free(&r);

	/* HEAD: the length of the body that would be, no body. */
	CHECK(cli_send(&c, "HEAD /echo HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response_ex(&c, &r, 2000, true), 1);
	CHECK(has_header(&r, "Content-Length", "15"));
	resp_free(&r);
	/* 204: no Content-Length, no body. */
	CHECK(cli_send(&c, "GET /nocontent HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 204);
	CHECK(strstr(r.head, "Content-Length") == NULL);
	resp_free(&r);
	/* Nothing stray after those responses. */
	pump(20);
	cli_fill(&c);
	CHECK_EQ_U64(c.len, 0);

	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.connections_accepted, 1);
	CHECK_EQ_U64(st.connections_open, 1);
	CHECK_EQ_U64(st.requests, 5);
	CHECK_EQ_U64(st.responses, 5);
	CHECK_EQ_U64(request_shape_errors, 0);
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	cli_close(&c);
	CHECK(pump_until_open(0, 2000));
	server_end();
}

static void test_pipelining_order(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	server_start(&lim, NULL);
	cli_open(&c);
	/* The handler answers the third first, then the second, then the first. */
	CHECK(cli_send(&c, "GET /later/120 HTTP/1.1\r\n\r\n"
			   "GET /later/40 HTTP/1.1\r\n\r\n"
			   "GET /echo HTTP/1.1\r\n\r\n"));
	CHECK(pump_until_handled(3, 2000));
	CHECK_STREQ(seen, "/later/120;/later/40;/echo;");
	/* The answer to /echo is ready, but it must wait for the other two. */
	pump(20);
	cli_fill(&c);
	CHECK_EQ_U64(c.len, 0);
	CHECK_EQ_U64(sl_http_server_busy(srv), 3);
	const char *want[3] = {"/later/120", "/later/40", "GET /echo 1.1\n"};
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(cli_response(&c, &r, 3000), 1);
		CHECK_STREQ(r.body, want[i]);
		resp_free(&r);
	}
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	cli_close(&c);
	server_end();
}

static void test_pipeline_bound(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	lim.pipeline_max = 2;
	server_start(&lim, NULL);
	cli_open(&c);
	CHECK(cli_send(&c, "GET /hold/1 HTTP/1.1\r\n\r\nGET /hold/2 HTTP/1.1\r\n\r\n"
			   "GET /hold/3 HTTP/1.1\r\n\r\nGET /hold/4 HTTP/1.1\r\n\r\n"));
	pump(50);
	/* Two handed over; the others wait, unparsed, until there is room. */
	CHECK_EQ_U64(handled, 2);
	release_held(1, "two");
	pump(30);
	/* Answer 2 cannot leave before answer 1, so no room yet. */
	CHECK_EQ_U64(handled, 2);
	release_held(0, "one");
	CHECK(pump_until_handled(4, 2000));
	release_held(3, "four");
	release_held(2, "three");
	const char *want[4] = {"one", "two", "three", "four"};
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
		CHECK_STREQ(r.body, want[i]);
		resp_free(&r);
	}
	CHECK_STREQ(seen, "/hold/1;/hold/2;/hold/3;/hold/4;");
	cli_close(&c);
	server_end();
}

/* A GET whose request line and headers are exactly `total` bytes. */
static size_t request_of_size(char *out, size_t total)
{
	const char *a = "GET /echo HTTP/1.1\r\nX-Pad: ";
	size_t fixed = strlen(a) + 4;
	size_t pad = total - fixed;
	memcpy(out, a, strlen(a));
	memset(out + strlen(a), 'p', pad);
	memcpy(out + strlen(a) + pad, "\r\n\r\n", 4);
	return total;
}

static void test_header_limits(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	char req[1024];
	small_limits(&lim);
	server_start(&lim, NULL);

	/* Exactly header_bytes_max: served; over it by one byte: 431, close. */
	cli_open(&c);
	CHECK(cli_send_n(&c, req, request_of_size(req, 256)));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	CHECK(cli_send_n(&c, req, request_of_size(req, 257)));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 431);
	CHECK(has_header(&r, "Connection", "close"));
	CHECK(strstr(r.body, "too large") != NULL);
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);

	/* Header fields: 4 served, 5 refused. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 431);
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);

	/* Headers that never end: 431 once the budget is spent, not later. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\n"));
	for (int i = 0; i < 30; i++)
		CHECK(cli_send(&c, "X-Long: aaaaaaaaaa\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 431);
	resp_free(&r);
	cli_close(&c);

	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.header_too_large, 3);
	CHECK_EQ_U64(handled, 2);
	server_end();
}

static void test_body_limits(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	char body[256];
	small_limits(&lim);
	server_start(&lim, NULL);
	memset(body, 'b', sizeof(body));

	/* At the bound: served. */
	cli_open(&c);
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
	CHECK(cli_send_n(&c, body, 100));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	CHECK_EQ_U64(r.body_len, strlen("POST /echo 1.1\n") + 100);
	resp_free(&r);
	/* One past it: 413 from the headers alone, no body sent. */
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 413);
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);
	CHECK_EQ_U64(handled, 1);

	/* A huge Content-Length: the same, nothing allocated for it. */
	cli_open(&c);
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 413);
	resp_free(&r);
	cli_close(&c);

	/* Chunked: 60 + 40 served; 60 + 41 refused while the client still sends. */
	cli_open(&c);
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
	CHECK(cli_send(&c, "3c\r\n"));
	CHECK(cli_send_n(&c, body, 60));
	CHECK(cli_send(&c, "\r\n28\r\n"));
	CHECK(cli_send_n(&c, body, 40));
	CHECK(cli_send(&c, "\r\n0\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	CHECK_EQ_U64(r.body_len, strlen("POST /echo 1.1\n") + 100);
	resp_free(&r);
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n"));
	CHECK(cli_send_n(&c, body, 60));
	CHECK(cli_send(&c, "\r\n29\r\n"));
	CHECK(cli_send_n(&c, body, 41));
	/* The client goes on sending; the lingering close lets it read the 413. */
	for (int i = 0; i < 20; i++)
		CHECK(cli_send_n(&c, body, 200));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 413);
	resp_free(&r);
	cli_close(&c);

	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.body_too_large, 3);
	CHECK_EQ_U64(handled, 2);
	server_end();
}

static void test_continue_chunked(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	server_start(&lim, NULL);
	cli_open(&c);

	/* 100 Continue first, the body only then. */
	CHECK(cli_send(&c,
		       "PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 100);
	CHECK(strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
	resp_free(&r);
	CHECK(cli_send(&c, "12345"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	CHECK_STREQ(r.body, "PUT /echo 1.1\n12345");
	resp_free(&r);

	/* Pipelined behind a slow answer: the 100 waits its turn too. */
	CHECK(cli_send(&c,
		       "GET /later/80 HTTP/1.1\r\n\r\n"
		       "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "/later/80");
	resp_free(&r);
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 100);
	resp_free(&r);
	CHECK(cli_send(&c, "ok"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "POST /echo 1.1\nok");
	resp_free(&r);

	/* A chunked body arriving in pieces, with a trailer. */
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
	pump(10);
	CHECK(cli_send(&c, "lo\r\n6\r\n wor"));
	pump(10);
	CHECK(cli_send(&c, "ld\r\n0\r\nX-Trailer: t\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "POST /echo 1.1\nhello world");
	resp_free(&r);

	/* Too large with Expect: 413, and no 100 ahead of it. */
	CHECK(cli_send(
	    &c, "PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 413);
	resp_free(&r);
	cli_close(&c);
	server_end();
}

static void test_http10_close(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	server_start(&lim, NULL);

	/* HTTP/1.0: one request, Connection: close, then the server closes. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.0\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_STREQ(r.body, "GET /echo 1.0\n");
	CHECK(has_header(&r, "Connection", "close"));
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);

	/* HTTP/1.0 asking for keep-alive gets it. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK(has_header(&r, "Connection", "keep-alive"));
	resp_free(&r);
	CHECK(cli_send(&c, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	cli_close(&c);

	/* HTTP/1.1 Connection: close; what is pipelined after it is not served. */
	cli_open(&c);
	unsigned before = handled;
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n"
			   "GET /echo/not HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK(has_header(&r, "Connection", "close"));
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	CHECK_EQ_U64(handled, before + 1);
	cli_close(&c);
	CHECK(pump_until_open(0, 3000));
	server_end();
}

static void test_malformed(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);

	/* Default error body: plain text. */
	server_start(&lim, NULL);
	cli_open(&c);
	CHECK(cli_send(&c, "GARBAGE\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 400);
	CHECK(has_header(&r, "Connection", "close"));
	CHECK(strncmp(r.body, "Bad Request: ", 13) == 0);
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);
	server_end();

	/* With a formatter; a good request ahead is answered first. */
	server_start(&lim, error_fmt);
	const char *bad[] = {
	    "GET /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	    "GET /echo HTTP/1.1\r\nBad Header\r\n\r\n",
	    "GET /echo HTTP/9.1\r\n\r\n",
	    "GET /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		cli_open(&c);
		CHECK(cli_send(&c, "GET /later/30 HTTP/1.1\r\n\r\n"));
		CHECK(cli_send(&c, bad[i]));
		CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
		CHECK_EQ_U64(r.status, 200);
		CHECK_STREQ(r.body, "/later/30");
		resp_free(&r);
		CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
		CHECK(r.status == 400 || r.status == 505);
		CHECK(has_header(&r, "Content-Type", "application/x-amz-json-1.1"));
		CHECK(has_header(&r, "x-amzn-ErrorType", "Http"));
		char want[32];
		snprintf(want, sizeof(want), "{\"status\":%d}", r.status);
		CHECK_STREQ(r.body, want);
		resp_free(&r);
		CHECK(cli_wait_eof(&c, 3000));
		cli_close(&c);
	}
	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.bad_request, SL_ARRAY_SIZE(bad));
	CHECK_EQ_U64(handled, SL_ARRAY_SIZE(bad));
	server_end();
}

static void test_timeouts(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	lim.header_timeout_ms = 100;
	lim.body_timeout_ms = 150;
	lim.idle_timeout_ms = 200;
	server_start(&lim, NULL);

	/* Headers that stop coming: 408 after the header timeout. */
	cli_open(&c);
	uint64_t t0 = mono_ms();
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\nHost: x\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 3000), 1);
	uint64_t took = mono_ms() - t0;
	CHECK_EQ_U64(r.status, 408);
	CHECK(took >= 100);
	CHECK(took < 1000);
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);

	/* A body that stops coming: 408 after the body timeout. */
	cli_open(&c);
	t0 = mono_ms();
	CHECK(cli_send(&c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
	CHECK_EQ_U64(cli_response(&c, &r, 3000), 1);
	took = mono_ms() - t0;
	CHECK_EQ_U64(r.status, 408);
	CHECK(took >= 150);
	resp_free(&r);
	cli_close(&c);

	/* Idle after a response: closed, nothing sent. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	resp_free(&r);
	t0 = mono_ms();
	CHECK(cli_wait_eof(&c, 3000));
	CHECK(mono_ms() - t0 >= 150);
	cli_close(&c);

	/* A connection that never sends a byte: the idle timeout too. */
	cli_open(&c);
	CHECK(cli_wait_eof(&c, 3000));
	cli_close(&c);

	/* A handler that takes its time is not the client's fault: no timeout. */
	cli_open(&c);
	CHECK(cli_send(&c, "GET /later/400 HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 3000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	cli_close(&c);

	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.timeouts, 2);
	CHECK_EQ_U64(st.idle_closes, 2);
	CHECK(pump_until_open(0, 2000));
	server_end();
}

static void test_big_response_and_stall(void)
{
	struct sl_http_limits lim;
	struct cli c;
	struct resp r;
	small_limits(&lim);
	lim.idle_timeout_ms = 300;
	server_start(&lim, NULL);

	/* Larger than the socket buffers: written in pieces as the client reads. */
	cli_open_rcvbuf(&c, 64 * 1024);
	size_t n = 6u << 20;
	char req[64];
	snprintf(req, sizeof(req), "GET /big/%zu HTTP/1.1\r\n\r\n", n);
	CHECK(cli_send(&c, req));
	pump(50);
	CHECK_EQ_U64(sl_http_server_busy(srv), 1); /* blocked mid-response */
	CHECK_EQ_U64(cli_response(&c, &r, 5000), 1);
	CHECK_EQ_U64(r.body_len, n);
	size_t bad = 0;
	for (size_t i = 0; i < r.body_len; i++)
		bad += (uint8_t)r.body[i] != (uint8_t)(i * 7 + i / 251);
	CHECK_EQ_U64(bad, 0);
	resp_free(&r);
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	/* Still usable. */
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	cli_close(&c);

	/* A client that reads nothing: closed after the idle timeout, response dropped. */
	cli_open_rcvbuf(&c, 64 * 1024);
	CHECK(cli_send(&c, req));
	pump(50);
	CHECK_EQ_U64(sl_http_server_busy(srv), 1);
	CHECK(pump_until_open(0, 3000));
	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.timeouts, 1);
	CHECK_EQ_U64(st.responses_discarded, 1);
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	cli_close(&c);
	server_end();
}

static void test_client_gone(void)
{
	struct sl_http_limits lim;
	struct cli c;
	small_limits(&lim);
	server_start(&lim, NULL);
	cli_open(&c);
	CHECK(cli_send(&c, "POST /hold HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
	CHECK(pump_until_handled(1, 2000));
	CHECK(!sl_http_exchange_gone(held[0]));
	cli_close(&c);
	CHECK(pump_until_open(0, 2000));
	CHECK(sl_http_exchange_gone(held[0]));
	CHECK_EQ_U64(sl_http_server_busy(srv), 1);
	release_held(0, "too late");
	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.responses_discarded, 1);
	CHECK_EQ_U64(st.responses, 0);
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);

	/* Gone with a request half sent and another pipelined: nothing left over. */
	cli_open(&c);
	CHECK(cli_send(
	    &c, "GET /hold HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 9\r\n\r\nab"));
	CHECK(pump_until_handled(2, 2000));
	cli_close(&c);
	CHECK(pump_until_open(0, 2000));
	release_held(1, "late");
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	server_end();
}

static void test_connection_bound(void)
{
	struct sl_http_limits lim;
	struct cli a, b, c;
	struct resp r;
	small_limits(&lim);
	lim.connections_max = 2;
	server_start(&lim, error_fmt);
	cli_open(&a);
	cli_open(&b);
	CHECK(pump_until_open(2, 2000));
	cli_open(&c);
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 503);
	CHECK(has_header(&r, "Connection", "close"));
	CHECK_STREQ(r.body, "{\"status\":503}");
	resp_free(&r);
	CHECK(cli_wait_eof(&c, 2000));
	cli_close(&c);
	struct sl_http_stats st = stats();
	CHECK_EQ_U64(st.connections_refused, 1);
	CHECK_EQ_U64(st.connections_open, 2);
	/* The two accepted work; once one goes, a new one is taken. */
	CHECK(cli_send(&a, "GET /echo HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&a, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	cli_close(&b);
	CHECK(pump_until_open(1, 2000));
	cli_open(&c);
	CHECK(cli_send(&c, "GET /echo HTTP/1.1\r\n\r\n"));
	CHECK_EQ_U64(cli_response(&c, &r, 2000), 1);
	CHECK_EQ_U64(r.status, 200);
	resp_free(&r);
	cli_close(&a);
	cli_close(&c);
	server_end();
}

static void test_graceful_stop(void)
{
	struct sl_http_limits lim;
	struct cli busy, idle, half;
	struct resp r;
	small_limits(&lim);
	server_start(&lim, NULL);
	cli_open(&busy);
	cli_open(&idle);
	cli_open(&half);
	CHECK(cli_send(&busy, "GET /echo HTTP/1.1\r\n\r\nGET /hold HTTP/1.1\r\n\r\n"));
	CHECK(cli_send(&half, "POST /echo HTTP/1.1\r\nContent-Length: 50\r\n\r\nabc"));
	CHECK(pump_until_handled(2, 2000));
	CHECK(pump_until_open(3, 2000));
	CHECK_EQ_U64(cli_response(&busy, &r, 2000), 1);
	CHECK_STREQ(r.body, "GET /echo 1.1\n");
	resp_free(&r);
	CHECK_EQ_U64(sl_http_server_busy(srv), 1); /* /hold */

	sl_http_server_stop_accepting(srv);
	/* Idle and half-received connections close now, without a response. */
	CHECK(cli_wait_eof(&idle, 2000));
	CHECK(cli_wait_eof(&half, 2000));
	CHECK(pump_until_open(1, 2000));
	/* Nobody listens any more. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0);
	close(fd);

	CHECK_EQ_U64(sl_http_server_busy(srv), 1);
	release_held(0, "held");
	CHECK_EQ_U64(cli_response(&busy, &r, 2000), 1);
	CHECK_STREQ(r.body, "held");
	/* The last answer of a stopping server's connection says it closes. */
	CHECK(has_header(&r, "Connection", "close"));
	resp_free(&r);
	CHECK(cli_wait_eof(&busy, 3000));
	CHECK_EQ_U64(sl_http_server_busy(srv), 0);
	CHECK(pump_until_open(0, 3000));
	cli_close(&busy);
	cli_close(&idle);
	cli_close(&half);
	CHECK_EQ_U64(handled, 2);
	server_end();

	/* Destroy with an answer pending: answering afterwards is harmless. */
	server_start(&lim, NULL);
	cli_open(&busy);
	CHECK(cli_send(&busy, "GET /hold HTTP/1.1\r\n\r\n"));
	CHECK(pump_until_handled(1, 2000));
	struct sl_http_exchange *x = held[0];
	held_count = 0;
	sl_http_server_destroy(srv);
	srv = NULL;
	CHECK(sl_http_exchange_gone(x));
	sl_http_respond(x, 200, NULL, NULL, 0, "x", 1);
	CHECK(cli_wait_eof(&busy, 2000));
	cli_close(&busy);
	sl_http_server_destroy(NULL);
}

static void test_options(void)
{
	struct sl_http_limits lim;
	struct sl_http_server *s = NULL;
	sl_http_limits_default(&lim);
	CHECK_EQ_U64(lim.connections_max, 1024);
	CHECK_EQ_U64(lim.header_bytes_max, 16384);
	CHECK_EQ_U64(lim.headers_max, 100);
	CHECK_EQ_U64(lim.body_bytes_max, 8u << 20);
	CHECK_EQ_U64(lim.pipeline_max, 16);
	struct sl_http_server_options o = {.host = "127.0.0.1", .limits = lim, .handler = handler};
	o.limits.header_bytes_max = 63;
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), (uint64_t)-EINVAL);
	o.limits = lim;
	o.limits.pipeline_max = 0;
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), (uint64_t)-EINVAL);
	o.limits = lim;
	o.host = "not-an-address";
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), (uint64_t)-EINVAL);
	o.host = "127.0.0.1";
	o.handler = NULL;
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), (uint64_t)-EINVAL);
	CHECK(s == NULL);

	/* "localhost" is the IPv4 loopback. */
	o.handler = handler;
	o.host = "localhost";
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), 0);
	sl_http_server_destroy(s);

	/* Two servers cannot share a port. */
	server_start(&lim, NULL);
	o.host = "127.0.0.1";
	o.port = port;
	CHECK_EQ_U64(sl_http_server_create(loop, &o, &s), (uint64_t)-EADDRINUSE);
	server_end();

	static struct sl_config cfg;
	struct sl_config_error err;
	sl_config_defaults(&cfg);
	sl_http_limits_from_config(&lim, &cfg);
	struct sl_http_limits def;
	sl_http_limits_default(&def);
	/* Field by field: the struct has padding that memcmp would read. */
	CHECK_EQ_U64(lim.connections_max, def.connections_max);
	CHECK_EQ_U64(lim.header_bytes_max, def.header_bytes_max);
	CHECK_EQ_U64(lim.headers_max, def.headers_max);
	CHECK_EQ_U64(lim.body_bytes_max, def.body_bytes_max);
	CHECK_EQ_U64(lim.header_timeout_ms, def.header_timeout_ms);
	CHECK_EQ_U64(lim.body_timeout_ms, def.body_timeout_ms);
	CHECK_EQ_U64(lim.idle_timeout_ms, def.idle_timeout_ms);
	CHECK_EQ_U64(lim.pipeline_max, def.pipeline_max);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.body_kb_max", "16", &err), 0);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.header_kb_max", "2", &err), 0);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.connections_max", "3", &err), 0);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.header_timeout_ms", "11", &err), 0);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.body_timeout_ms", "12", &err), 0);
	CHECK_EQ_U64(sl_config_set(&cfg, "api.idle_timeout_ms", "13", &err), 0);
	sl_http_limits_from_config(&lim, &cfg);
	CHECK_EQ_U64(lim.body_bytes_max, 16384);
	CHECK_EQ_U64(lim.header_bytes_max, 2048);
	CHECK_EQ_U64(lim.connections_max, 3);
	CHECK_EQ_U64(lim.header_timeout_ms, 11);
	CHECK_EQ_U64(lim.body_timeout_ms, 12);
	CHECK_EQ_U64(lim.idle_timeout_ms, 13);
	CHECK_EQ_U64(lim.headers_max, def.headers_max);
	CHECK_EQ_U64(lim.pipeline_max, def.pipeline_max);
}

int main(void)
{
	sl_log_configure(SL_LOG_WARN, NULL);
	CHECK_EQ_U64(sl_evloop_create(&loop), 0);
	test_keepalive();
	test_pipelining_order();
	test_pipeline_bound();
	test_header_limits();
	test_body_limits();
	test_continue_chunked();
	test_http10_close();
	test_malformed();
	test_timeouts();
	test_big_response_and_stall();
	test_client_gone();
	test_connection_bound();
	test_graceful_stop();
	test_options();
	/* Every timer and fd went with its server. */
	sl_evloop_destroy(loop);
	return sl_check_finish("test_http");
}
