/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the HTTP/1.1 server's request path (control/http.c) over
 * any bytes, as a client would send them on one connection: a socketpair
 * end is adopted by a server (sl_http_server_adopt, http_internal.h), the
 * input goes in through the other end in pieces while the loop runs.
 *
 * The first input byte picks how: the piece size (1, 7, 61 bytes or all
 * at once), whether the handler answers at once or holds answers until the
 * input is in, and whether held answers come before or after the client
 * goes. Limits are small so that every refusal is within reach.
 *
 * Invariants: no crash or sanitizer report; what the server wrote parses
 * as a sequence of HTTP/1.1 responses (llhttp in response mode); once
 * every answer is given and the client has gone, the server holds no
 * connection and owes nothing (busy 0), and every exchange was freed
 * (LeakSanitizer at exit).
 */
#include <errno.h>
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/evloop.h>
#include <sluice/http.h>
#include <sluice/log.h>

#include "../../control/http_internal.h"

#define HELD_MAX 64
#define OUT_MAX  (1u << 20)

static struct sl_evloop *loop;
static struct sl_http_server *srv;
static struct sl_http_exchange *held[HELD_MAX];
static unsigned held_count;
static bool hold_mode;
static uint8_t out[OUT_MAX];
static size_t out_len;
static bool out_truncated;

static void answer(struct sl_http_exchange *x, const struct sl_http_request *r)
{
	/* HEAD responses carry no body: give none, so the length is right. */
	bool head = r != NULL && r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
	if (r == NULL || head)
		sl_http_respond(x, 200, "text/plain", NULL, 0, NULL, 0);
	else
		sl_http_respond(x, 200, "text/plain", NULL, 0, r->target, r->target_len);
}

static void handler(void *arg, struct sl_http_exchange *x, const struct sl_http_request *r)
{
	SL_ASSERT(r->method[r->method_len] == '\0');
	SL_ASSERT(r->target[r->target_len] == '\0');
	SL_ASSERT(r->body[r->body_len] == '\0');
	SL_ASSERT(r->body_len <= 1024);
	SL_ASSERT(r->header_count <= 8);
	if (hold_mode && held_count < HELD_MAX &&
	    !(r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0)) {
		held[held_count++] = x;
		return;
	}
	answer(x, r);
}

static void setup(void)
{
	sl_log_configure(SL_LOG_ERROR, NULL);
	SL_ASSERT(sl_evloop_create(&loop) == 0);
	struct sl_http_server_options o = {.host = "127.0.0.1", .handler = handler};
	sl_http_limits_default(&o.limits);
	o.limits.header_bytes_max = 512;
	o.limits.headers_max = 8;
	o.limits.body_bytes_max = 1024;
	o.limits.pipeline_max = 4;
	o.limits.connections_max = 4;
	SL_ASSERT(sl_http_server_create(loop, &o, &srv) == 0);
}

static void drain(int fd)
{
	for (int i = 0; i < 64; i++) {
		uint8_t sink[4096];
		uint8_t *dst = out_len < OUT_MAX ? out + out_len : sink;
		size_t cap = out_len < OUT_MAX ? OUT_MAX - out_len : sizeof(sink);
		ssize_t n = recv(fd, dst, cap, MSG_DONTWAIT);
		if (n <= 0)
			return;
		if (dst == sink)
			out_truncated = true;
		else
			out_len += (size_t)n;
	}
}

static void spin(int fd, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		sl_evloop_run_once(loop, 0);
		if (fd >= 0)
			drain(fd);
	}
}

static void answer_held(void)
{
	unsigned n = held_count;
	held_count = 0;
	for (unsigned i = 0; i < n; i++)
		answer(held[i], NULL);
}

/* Whatever the server wrote must be well-formed responses, back to back. */
static void check_output(void)
{
	if (out_len == 0 || out_truncated)
		return;
	llhttp_t p;
	llhttp_settings_t st;
	llhttp_settings_init(&st);
	llhttp_init(&p, HTTP_RESPONSE, &st);
	llhttp_errno_t e = llhttp_execute(&p, (const char *)out, out_len);
	SL_ASSERT(e == HPE_OK);
	SL_ASSERT(out_len < 9 || memcmp(out, "HTTP/1.1 ", 9) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[4] = {1, 7, 61, SIZE_MAX};
	if (srv == NULL)
		setup();
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	size_t piece = pieces[mode & 3];
	hold_mode = (mode & 4) != 0;
	bool answer_after_gone = (mode & 8) != 0;
	held_count = 0;
	out_len = 0;
	out_truncated = false;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	SL_ASSERT(sl_http_server_adopt(srv, sv[0]) == 0);

	size_t off = 0;
	int stuck = 0;
	while (off < size && stuck < 8) {
		size_t n = size - off < piece ? size - off : piece;
		ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			stuck = 0;
		} else if (w < 0 && errno == EAGAIN) {
			stuck++; /* the server stopped reading: pipeline full or closing */
			if (hold_mode && !answer_after_gone)
				answer_held();
		} else {
			break; /* the server closed */
		}
		spin(sv[1], 1);
	}
	spin(sv[1], 4);
	/* Answers given while the client is there may free room for more. */
	for (int round = 0; round < 16 && held_count > 0 && !answer_after_gone; round++) {
		answer_held();
		spin(sv[1], 4);
	}
	check_output();

	close(sv[1]);
	struct sl_http_stats st;
	for (int i = 0; i < 64; i++) {
		spin(-1, 1);
		sl_http_server_stats(srv, &st);
		if (st.connections_open == 0)
			break;
	}
	SL_ASSERT(st.connections_open == 0);
	answer_held(); /* to a client gone: discarded */
	SL_ASSERT(sl_http_server_busy(srv) == 0);
	return 0;
}
