/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control plane's HTTP/1.1 server (see http.h): llhttp parses, the
 * control thread's event loop (evloop.h) drives non-blocking sockets.
 *
 * A connection reads into a fixed buffer (RBUF_BYTES) and runs llhttp over
 * it. Request line and header bytes are copied, as llhttp hands them over,
 * into the connection's header buffer (header_bytes_max) with their offsets
 * in a table of headers_max entries; the 431 bound is on the raw bytes fed
 * to llhttp since the previous request ended, enforced by never feeding it
 * more than what is left of that budget while headers are being parsed.
 * When the headers are complete, the exchange is allocated in one block:
 * the struct, the header array, the strings and, when Content-Length is
 * given (checked against body_bytes_max first: 413 before any body byte is
 * kept), the body. A chunked body grows in a buffer of its own, bounded as
 * it arrives. Then the exchange is queued on its connection, the only
 * per-request allocations being that block, a chunked body and the
 * response.
 *
 * llhttp pauses at the end of every request (on_message_complete returns
 * HPE_PAUSED), so the server decides between requests whether to go on:
 * not past pipeline_max exchanges waiting for their responses, not after a
 * request that closes the connection, not once stopping. While it may not
 * go on, the bytes already read stay in the buffer and the socket is not
 * read (EPOLLIN off), so a pipelining client is held back by TCP.
 *
 * Responses leave in request order: the connection's queue holds its
 * exchanges in the order their requests arrived, and the writer gathers
 * the heads of answered exchanges from the front (and a pending
 * "100 Continue" of the first unanswered one) into one sendmsg, stopping at
 * the first exchange not answered yet. EPOLLOUT is asked for only after a
 * short or refused write.
 *
 * An exchange outlives its connection until answered: when a connection
 * closes, its unanswered exchanges lose their connection pointer (and the
 * handler's eventual response is discarded), and the server keeps every
 * unanswered exchange on a list so that destroying the server detaches
 * them too.
 *
 * Re-entrancy: the handler runs, and may answer, while a connection is
 * being read. A connection is therefore only closed or freed in
 * conn_settle(), never from under its own event processing (in_io); paths
 * that want a connection closed set close_now and let settle do it.
 *
 * Timers: one per connection, aimed at whichever deadline applies: the
 * header timeout from the first byte of a request, the body timeout from
 * the end of its headers, the idle timeout while nothing is owed either
 * way, the idle timeout again while a write makes no progress, and the
 * lingering close (after the last response on a connection that closes,
 * the write side is shut and what the client still sends is read and
 * dropped for a while, so that a client still sending a body gets the 413
 * instead of a reset).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/error.h>
#include <sluice/evloop.h>
#include <sluice/http.h>
#include <sluice/log.h>

#include "http_internal.h"

#define SUBSYS "http"

#define RBUF_BYTES        (16u * 1024) /* read buffer per connection */
#define ACCEPT_BURST      32           /* accepts per listener event */
#define ACCEPT_PAUSE_MS   100          /* listener off after EMFILE and the like */
#define LINGER_MS         2000         /* lingering close, at most (and idle_timeout) */
#define LINGER_BYTES      (256u * 1024)
#define IOV_BATCH         32 /* iovecs per sendmsg */
#define ERROR_BODY_MAX    512
#define CHUNKED_BODY_MIN  4096
#define HEADER_BYTES_MIN  64
#define HEADERS_MAX_MAX   10000
#define PIPELINE_MAX_MAX  1024
#define HEADER_BYTES_MAXX (1u << 24)
#define BACKLOG           511

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
#define CONTINUE_LEN (sizeof(continue_line) - 1)

enum pstate {
	P_IDLE,    /* between requests */
	P_HEADERS, /* request line and headers */
	P_BODY,    /* headers complete, body arriving */
};

enum xstate {
	X_PARSING,  /* body still arriving; not seen by the handler */
	X_HANDLER,  /* with the handler */
	X_ANSWERED, /* response queued */
};

enum tkind {
	T_NONE,
	T_HEADER,
	T_BODY,
	T_IDLE,
	T_WRITE,
	T_LINGER,
};

struct hdr_off {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

struct conn;

struct sl_http_exchange {
	struct sl_http_server *srv;               /* NULL once the server is destroyed */
	struct conn *conn;                        /* NULL once the client has gone */
	struct sl_http_exchange *next;            /* the connection's queue */
	struct sl_http_exchange *u_prev, *u_next; /* the server's unanswered list */
	enum xstate state;
	bool keep_alive; /* the connection may carry another request after this one */
	bool head;       /* HEAD: the response goes without its body */
	bool cont;       /* a 100 Continue goes ahead of the response */
	bool said_close; /* the response says Connection: close */
	uint32_t cont_off;
	struct sl_http_request req;
	uint8_t *body_alloc; /* a chunked body, in a buffer of its own */
	size_t body_cap;     /* bytes the body may take, its NUL excluded */
	char *out;           /* response head, and for sl_http_respond the body */
	size_t out_len;      /* bytes in out */
	void *out_owned;     /* sl_http_respond_owned's body, sent after out */
	size_t out_owned_len;
	size_t out_off; /* bytes of out and out_owned sent */
	struct sl_http_header hdrs[];
};

struct conn {
	struct sl_http_server *srv;
	struct conn *prev, *next;
	int fd;
	uint32_t events; /* registered with the loop */
	llhttp_t parser;
	struct sl_ev_timer timer;
	enum tkind tkind;
	enum pstate pstate;
	bool in_io;     /* being processed: do not close or free */
	bool close_now; /* close at the next settle */
	bool no_more;   /* no further request: close once the queue is written */
	bool lingering;
	bool out_blocked; /* the last write was short: wait for EPOLLOUT */
	bool in_name;
	int err_status; /* set by a parser callback that refused the request */
	const char *err_why;
	uint64_t header_start_ms, body_start_ms, active_ms, write_ms;
	uint32_t header_raw; /* bytes fed to llhttp since the previous request ended */
	uint32_t hlen;       /* bytes in hbuf */
	uint32_t method_off, method_len, target_off, target_len;
	uint32_t nhdr;
	uint64_t trailer_bytes;
	uint32_t linger_bytes;
	struct sl_http_exchange *q_head, *q_tail;
	struct sl_http_exchange *parsing; /* q_tail while its body arrives */
	uint32_t q_count;                 /* queued exchanges, parsing excluded */
	uint32_t rpos, rlen;
	struct hdr_off *hdr; /* headers_max entries */
	char *hbuf;          /* header_bytes_max bytes */
	uint8_t rbuf[RBUF_BYTES];
};

struct sl_http_server {
	struct sl_evloop *loop;
	struct sl_http_limits lim;
	sl_http_handler_fn *handler;
	sl_http_error_fn *error_fmt;
	void *arg;
	llhttp_settings_t settings;
	int listen_fd;
	uint16_t port;
	bool stopping;
	struct sl_ev_timer accept_timer;
	struct conn *conns;
	uint32_t conn_count;
	struct sl_http_exchange *unanswered; /* with the handler, client gone or not */
	uint32_t unanswered_count;
	uint32_t out_pending; /* answered, not written yet, on open connections */
	struct sl_http_stats stats;
	int64_t date_s;
	char date[32];
};

static void conn_settle(struct conn *c);

/* ---- limits ---- */

void sl_http_limits_default(struct sl_http_limits *lim)
{
	*lim = (struct sl_http_limits){
	    .connections_max = 1024,
	    .header_bytes_max = 16 * 1024,
	    .headers_max = 100,
	    .body_bytes_max = 8 * 1024 * 1024,
	    .header_timeout_ms = 10000,
	    .body_timeout_ms = 30000,
	    .idle_timeout_ms = 60000,
	    .pipeline_max = 16,
	};
}

void sl_http_limits_from_config(struct sl_http_limits *lim, const struct sl_config *cfg)
{
	sl_http_limits_default(lim);
	lim->connections_max = cfg->api_connections_max;
	lim->header_bytes_max = cfg->api_header_kb_max * 1024;
	lim->body_bytes_max = (uint64_t)cfg->api_body_kb_max * 1024;
	lim->header_timeout_ms = cfg->api_header_timeout_ms;
	lim->body_timeout_ms = cfg->api_body_timeout_ms;
	lim->idle_timeout_ms = cfg->api_idle_timeout_ms;
}

static int limits_check(const struct sl_http_limits *l)
{
	if (l->connections_max < 1 || l->headers_max < 1 || l->headers_max > HEADERS_MAX_MAX)
		return -EINVAL;
	if (l->header_bytes_max < HEADER_BYTES_MIN || l->header_bytes_max > HEADER_BYTES_MAXX)
		return -EINVAL;
	if (l->body_bytes_max > (UINT64_C(1) << 40))
		return -EINVAL;
	if (l->header_timeout_ms < 1 || l->body_timeout_ms < 1 || l->idle_timeout_ms < 1)
		return -EINVAL;
	if (l->pipeline_max < 1 || l->pipeline_max > PIPELINE_MAX_MAX)
		return -EINVAL;
	return 0;
}

/* ---- requests ---- */

const char *sl_http_header_get(const struct sl_http_request *r, const char *name, size_t *len)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < r->header_count; i++) {
		const struct sl_http_header *h = &r->headers[i];
		if (h->name_len == n && strncasecmp(h->name, name, n) == 0) {
			*len = h->value_len;
			return h->value;
		}
	}
	*len = 0;
	return NULL;
}

static uint64_t now_ms(const struct sl_http_server *s)
{
	return sl_evloop_now_ms(s->loop);
}

/* ---- responses ---- */

static const struct {
	int status;
	const char *text;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

/* The reason phrase (any text will do; clients read the code). */
static const char *reason(int status)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(reasons); i++) {
		if (reasons[i].status == status)
			return reasons[i].text;
	}
	return status < 300 ? "Success" : status < 500 ? "Client Error" : "Server Error";
}

/* IMF-fixdate of now, refreshed once a second; no locale involved. */
static const char *http_date(struct sl_http_server *s)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t sec = (int64_t)(sl_clock_wall_ns() / SL_NS_PER_S);
	if (sec == s->date_s)
		return s->date;
	time_t t = (time_t)sec;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(s->date, sizeof(s->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	s->date_s = sec;
	return s->date;
}

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The header a handler may add: a token name that is not ours, a clean value. */
static bool extra_ok(const struct sl_http_header *h)
{
	static const char *const ours[] = {"content-length", "connection", "date",
					   "transfer-encoding"};
	if (h->name_len == 0)
		return false;
	for (size_t i = 0; i < h->name_len; i++) {
		if (!is_tchar((unsigned char)h->name[i]))
			return false;
	}
	for (size_t i = 0; i < h->value_len; i++) {
		char ch = h->value[i];
		if (ch == '\r' || ch == '\n' || ch == '\0')
			return false;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(ours); i++) {
		if (h->name_len == strlen(ours[i]) &&
		    strncasecmp(h->name, ours[i], h->name_len) == 0)
			return false;
	}
	return true;
}

static char *put(char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

static char *put_str(char *p, const char *src)
{
	return put(p, src, strlen(src));
}

/*
 * A response head (and, when `copy` is given, `copy` bytes of body after
 * it) in one malloc'd buffer. *head_len gets the head's length. NULL: out
 * of memory.
 */
static char *format_response(struct sl_http_server *s, int status, const char *content_type,
			     const struct sl_http_header *extra, unsigned extra_count,
			     size_t body_len, bool keep_alive, const void *copy, size_t copy_len,
			     size_t *head_len)
{
	bool no_body = status == 204 || status == 304;
	const char *why = reason(status);
	const char *date = http_date(s);
	size_t cap = 16 + strlen(why) + 2;
	if (content_type != NULL)
		cap += 14 + strlen(content_type) + 2;
	for (unsigned i = 0; i < extra_count; i++)
		cap += extra[i].name_len + 2 + extra[i].value_len + 2;
	cap += 16 + 20 + 2 + 24 + 6 + strlen(date) + 2 + 2;
	char *buf = malloc(cap + copy_len);
	if (buf == NULL)
		return NULL;
	char num[24];
	char *p = buf;
	snprintf(num, sizeof(num), "HTTP/1.1 %03d ", status);
	p = put_str(p, num);
	p = put_str(p, why);
	p = put(p, "\r\n", 2);
	if (content_type != NULL) {
		p = put_str(p, "Content-Type: ");
		p = put_str(p, content_type);
		p = put(p, "\r\n", 2);
	}
	for (unsigned i = 0; i < extra_count; i++) {
		p = put(p, extra[i].name, extra[i].name_len);
		p = put(p, ": ", 2);
		p = put(p, extra[i].value, extra[i].value_len);
		p = put(p, "\r\n", 2);
	}
	if (!no_body) {
		snprintf(num, sizeof(num), "%zu", body_len);
		p = put_str(p, "Content-Length: ");
		p = put_str(p, num);
		p = put(p, "\r\n", 2);
	}
	p = put_str(p, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
	p = put_str(p, "Date: ");
	p = put_str(p, date);
	p = put(p, "\r\n\r\n", 4);
	SL_ASSERT((size_t)(p - buf) <= cap);
	*head_len = (size_t)(p - buf);
	if (copy_len > 0)
		memcpy(p, copy, copy_len);
	return buf;
}

/* The server's own error response, whole, malloc'd; NULL: out of memory. */
static char *format_error(struct sl_http_server *s, int status, const char *why, size_t *len)
{
	char body[ERROR_BODY_MAX];
	const char *ct = "text/plain; charset=utf-8";
	struct sl_http_header extra[2];
	unsigned extra_count = 0;
	size_t n;
	if (s->error_fmt != NULL) {
		n = s->error_fmt(s->arg, status, why, body, sizeof(body), &ct, extra, &extra_count);
		SL_ASSERT(n <= sizeof(body));
		SL_ASSERT(extra_count <= SL_ARRAY_SIZE(extra));
		for (unsigned i = 0; i < extra_count; i++)
			SL_ASSERT(extra_ok(&extra[i]));
	} else {
		int w = snprintf(body, sizeof(body), "%s: %s\n", reason(status), why);
		n = w < 0 ? 0 : (size_t)w < sizeof(body) ? (size_t)w : sizeof(body) - 1;
	}
	size_t head_len;
	char *out =
	    format_response(s, status, ct, extra, extra_count, n, false, body, n, &head_len);
	*len = head_len + n;
	return out;
}

/* ---- exchanges ---- */

static void exchange_free(struct sl_http_exchange *x)
{
	free(x->out);
	free(x->out_owned);
	free(x->body_alloc);
	free(x);
}

static void unanswered_link(struct sl_http_server *s, struct sl_http_exchange *x)
{
	x->u_prev = NULL;
	x->u_next = s->unanswered;
	if (s->unanswered != NULL)
		s->unanswered->u_prev = x;
	s->unanswered = x;
	s->unanswered_count++;
}

static void unanswered_unlink(struct sl_http_server *s, struct sl_http_exchange *x)
{
	if (x->u_prev != NULL)
		x->u_prev->u_next = x->u_next;
	else
		s->unanswered = x->u_next;
	if (x->u_next != NULL)
		x->u_next->u_prev = x->u_prev;
	x->u_prev = x->u_next = NULL;
	SL_ASSERT(s->unanswered_count > 0);
	s->unanswered_count--;
}

static void queue_append(struct conn *c, struct sl_http_exchange *x)
{
	x->next = NULL;
	if (c->q_tail != NULL)
		c->q_tail->next = x;
	else
		c->q_head = x;
	c->q_tail = x;
}

/* Drop the request whose body is arriving (it never reached the handler). */
static void drop_parsing(struct conn *c)
{
	struct sl_http_exchange *x = c->parsing;
	if (x == NULL)
		return;
	SL_ASSERT(c->q_tail == x);
	SL_ASSERT(x->state == X_PARSING);
	struct sl_http_exchange **pp = &c->q_head;
	while (*pp != x)
		pp = &(*pp)->next;
	*pp = NULL;
	c->q_tail = NULL;
	for (struct sl_http_exchange *y = c->q_head; y != NULL; y = y->next)
		c->q_tail = y;
	c->parsing = NULL;
	exchange_free(x);
}

/*
 * Refuse the request being parsed: its exchange goes, an error response
 * joins the queue behind the earlier ones, and the connection takes no
 * further request.
 */
static void conn_fail(struct conn *c, int status, const char *why)
{
	struct sl_http_server *s = c->srv;
	switch (status) {
	case 408:
		s->stats.timeouts++;
		break;
	case 413:
		s->stats.body_too_large++;
		break;
	case 431:
		s->stats.header_too_large++;
		break;
	default:
		s->stats.bad_request++;
		break;
	}
	bool cont_torn =
	    c->parsing != NULL && c->parsing->cont_off > 0 && c->parsing->cont_off < CONTINUE_LEN;
	drop_parsing(c);
	c->pstate = P_IDLE;
	c->no_more = true;
	c->rpos = c->rlen = 0;
	if (cont_torn) {
		/* Half a 100 Continue is on the wire: nothing can follow it. */
		c->close_now = true;
		return;
	}
	struct sl_http_exchange *x = calloc(1, sizeof(*x));
	size_t len = 0;
	char *out = x != NULL ? format_error(s, status, why, &len) : NULL;
	if (out == NULL) {
		free(x);
		c->close_now = true;
		return;
	}
	x->srv = s;
	x->conn = c;
	x->state = X_ANSWERED;
	x->said_close = true;
	x->out = out;
	x->out_len = len;
	queue_append(c, x);
	c->q_count++;
	s->out_pending++;
}

/* ---- parser callbacks ---- */

static struct conn *conn_of(llhttp_t *p)
{
	return p->data;
}

static int refuse(struct conn *c, int status, const char *why)
{
	c->err_status = status;
	c->err_why = why;
	return -1;
}

/* Keep request line and header bytes; the budget check bounds them. */
static void hbuf_put(struct conn *c, const char *at, size_t len)
{
	SL_ASSERT(len <= c->srv->lim.header_bytes_max - c->hlen);
	memcpy(c->hbuf + c->hlen, at, len);
	c->hlen += (uint32_t)len;
}

static int on_message_begin(llhttp_t *p)
{
	struct conn *c = conn_of(p);
	SL_ASSERT(c->parsing == NULL);
	c->pstate = P_HEADERS;
	c->hlen = 0;
	c->nhdr = 0;
	c->in_name = false;
	c->method_len = c->target_len = 0;
	c->method_off = c->target_off = 0;
	c->trailer_bytes = 0;
	return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->method_len == 0)
		c->method_off = c->hlen;
	hbuf_put(c, at, len);
	c->method_len += (uint32_t)len;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->target_len == 0)
		c->target_off = c->hlen;
	hbuf_put(c, at, len);
	c->target_len += (uint32_t)len;
	return 0;
}

/* Trailer fields of a chunked body count against the body limit. */
static int trailer_bytes(struct conn *c, size_t len)
{
	c->trailer_bytes += len;
	uint64_t body = c->parsing != NULL ? c->parsing->req.body_len : 0;
	if (body + c->trailer_bytes > c->srv->lim.body_bytes_max)
		return refuse(c, 413, "request body too large");
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->pstate == P_BODY)
		return trailer_bytes(c, len);
	if (!c->in_name) {
		if (c->nhdr == c->srv->lim.headers_max)
			return refuse(c, 431, "too many header fields");
		c->hdr[c->nhdr] = (struct hdr_off){.name_off = c->hlen};
		c->nhdr++;
		c->in_name = true;
	}
	hbuf_put(c, at, len);
	c->hdr[c->nhdr - 1].name_len += (uint32_t)len;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);
	if (c->pstate == P_BODY)
		return 0;
	SL_ASSERT(c->nhdr > 0);
	c->in_name = false;
	c->hdr[c->nhdr - 1].value_off = c->hlen;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	if (c->pstate == P_BODY)
		return trailer_bytes(c, len);
	SL_ASSERT(c->nhdr > 0);
	SL_ASSERT(!c->in_name);
	hbuf_put(c, at, len);
	c->hdr[c->nhdr - 1].value_len += (uint32_t)len;
	return 0;
}

/* Copy n bytes of hbuf at off into *pp, NUL after; the copy's start. */
static char *put_string(char **pp, const char *hbuf, uint32_t off, uint32_t n)
{
	char *start = *pp;
	memcpy(start, hbuf + off, n);
	start[n] = '\0';
	*pp = start + n + 1;
	return start;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The exchange block of the request whose headers just completed. */
static struct sl_http_exchange *exchange_new(struct conn *c, uint64_t inline_body)
{
	size_t hdrs = (size_t)c->nhdr * sizeof(struct sl_http_header);
	size_t strs = (size_t)c->hlen + 2 + 2 * (size_t)c->nhdr;
	size_t size = sizeof(struct sl_http_exchange) + hdrs + strs + inline_body;
	struct sl_http_exchange *x = malloc(size);
	if (x == NULL)
		return NULL;
	memset(x, 0, sizeof(*x));
	char *p = (char *)x->hdrs + hdrs;
	x->req.method = put_string(&p, c->hbuf, c->method_off, c->method_len);
	x->req.method_len = c->method_len;
	x->req.target = put_string(&p, c->hbuf, c->target_off, c->target_len);
	x->req.target_len = c->target_len;
	for (uint32_t i = 0; i < c->nhdr; i++) {
		const struct hdr_off *o = &c->hdr[i];
		struct sl_http_header *h = &x->hdrs[i];
		uint32_t voff = o->value_off, vlen = o->value_len;
		while (vlen > 0 && is_blank(c->hbuf[voff])) {
			voff++;
			vlen--;
		}
		while (vlen > 0 && is_blank(c->hbuf[voff + vlen - 1]))
			vlen--;
		h->name = put_string(&p, c->hbuf, o->name_off, o->name_len);
		h->name_len = o->name_len;
		h->value = put_string(&p, c->hbuf, voff, vlen);
		h->value_len = vlen;
	}
	x->req.headers = x->hdrs;
	x->req.header_count = c->nhdr;
	x->req.body = (const uint8_t *)"";
	SL_ASSERT((size_t)(p - (char *)x) <= size - inline_body);
	if (inline_body > 0)
		x->req.body = (const uint8_t *)p;
	return x;
}

static bool expects_continue(const struct sl_http_request *r)
{
	size_t n;
	const char *v = sl_http_header_get(r, "expect", &n);
	return v != NULL && n == 12 && strncasecmp(v, "100-continue", 12) == 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);
	struct sl_http_server *s = c->srv;
	SL_ASSERT(c->pstate == P_HEADERS);
	if (p->http_major != 1)
		return refuse(c, 505, "only HTTP/1.x is served here");
	bool has_len = (p->flags & F_CONTENT_LENGTH) != 0;
	bool chunked = (p->flags & F_CHUNKED) != 0;
	if (has_len && p->content_length > s->lim.body_bytes_max)
		return refuse(c, 413, "request body too large");
	uint64_t inline_body = has_len ? p->content_length + 1 : 0;
	struct sl_http_exchange *x = exchange_new(c, inline_body);
	if (x == NULL)
		return refuse(c, 503, "out of memory");
	x->srv = s;
	x->conn = c;
	x->state = X_PARSING;
	x->head = p->method == HTTP_HEAD;
	x->req.version_minor = p->http_minor;
	if (has_len) {
		x->body_cap = p->content_length;
		((uint8_t *)x->req.body)[0] = '\0';
	}
	x->cont = p->http_minor >= 1 && (chunked || (has_len && p->content_length > 0)) &&
		  expects_continue(&x->req);
	queue_append(c, x);
	c->parsing = x;
	c->pstate = P_BODY;
	c->body_start_ms = now_ms(s);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct conn *c = conn_of(p);
	struct sl_http_exchange *x = c->parsing;
	uint64_t max = c->srv->lim.body_bytes_max;
	SL_ASSERT(x != NULL);
	if (len > max - x->req.body_len)
		return refuse(c, 413, "request body too large");
	size_t need = x->req.body_len + len;
	if (need > x->body_cap) {
		/* Only a chunked body grows; Content-Length sized its room. */
		SL_ASSERT(x->body_alloc != NULL || x->req.body_len == 0);
		size_t cap = x->body_cap < CHUNKED_BODY_MIN ? CHUNKED_BODY_MIN : x->body_cap;
		while (cap < need)
			cap *= 2;
		if (cap > max)
			cap = (size_t)max;
		uint8_t *b = realloc(x->body_alloc, cap + 1);
		if (b == NULL)
			return refuse(c, 503, "out of memory");
		x->body_alloc = b;
		x->body_cap = cap;
		x->req.body = b;
	}
	uint8_t *body = (uint8_t *)x->req.body;
	memcpy(body + x->req.body_len, at, len);
	x->req.body_len += len;
	body[x->req.body_len] = '\0';
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

static void settings_init(llhttp_settings_t *st)
{
	llhttp_settings_init(st);
	st->on_message_begin = on_message_begin;
	st->on_method = on_method;
	st->on_url = on_url;
	st->on_header_field = on_header_field;
	st->on_header_field_complete = on_header_field_complete;
	st->on_header_value = on_header_value;
	st->on_headers_complete = on_headers_complete;
	st->on_body = on_body;
	st->on_message_complete = on_message_complete;
}

/* ---- the request path ---- */

static bool can_parse(const struct conn *c)
{
	return !c->no_more && !c->close_now && c->q_count < c->srv->lim.pipeline_max;
}

/* A whole request: to the handler. */
static void request_complete(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	struct sl_http_exchange *x = c->parsing;
	SL_ASSERT(x != NULL);
	SL_ASSERT(x->state == X_PARSING);
	c->parsing = NULL;
	c->pstate = P_IDLE;
	c->header_raw = 0;
	c->q_count++;
	c->active_ms = now_ms(s);
	x->keep_alive =
	    llhttp_should_keep_alive(&c->parser) && !llhttp_get_upgrade(&c->parser) && !s->stopping;
	if (!x->keep_alive)
		c->no_more = true;
	x->state = X_HANDLER;
	unanswered_link(s, x);
	s->stats.requests++;
	s->handler(s->arg, x, &x->req);
}

/* Why llhttp refused the bytes, for the 400's body: its static reason. */
static const char *bad_request_why(const llhttp_t *p, llhttp_errno_t e)
{
	const char *why = llhttp_get_error_reason(p);
	return why != NULL && why[0] != '\0' ? why : llhttp_errno_name(e);
}

/* Run llhttp over what was read, while requests may be taken. */
static void conn_parse(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	while (can_parse(c) && c->rpos < c->rlen) {
		const char *start = (const char *)c->rbuf + c->rpos;
		size_t feed = c->rlen - c->rpos;
		bool in_headers = c->pstate != P_BODY;
		if (in_headers) {
			if (c->header_raw == 0)
				c->header_start_ms = now_ms(s);
			uint32_t budget = s->lim.header_bytes_max - c->header_raw;
			if (budget == 0) {
				conn_fail(c, 431, "request line and headers too large");
				return;
			}
			if (feed > budget)
				feed = budget;
		}
		c->err_status = 0;
		llhttp_errno_t e = llhttp_execute(&c->parser, start, feed);
		size_t used = feed;
		if (e == HPE_PAUSED) {
			used = (size_t)(llhttp_get_error_pos(&c->parser) - start);
			SL_ASSERT(used <= feed);
			llhttp_resume(&c->parser);
		} else if (e != HPE_OK) {
			if (c->err_status != 0)
				conn_fail(c, c->err_status, c->err_why);
			else
				conn_fail(c, 400, bad_request_why(&c->parser, e));
			return;
		}
		if (in_headers)
			c->header_raw += (uint32_t)used;
		c->rpos += (uint32_t)used;
		if (e == HPE_PAUSED)
			request_complete(c);
	}
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
}

/* ---- the response path ---- */

/*
 * What may be sent now, in order, as iovecs (at most max): from the front
 * of the queue, each answered response's unsent bytes (its buffer, then
 * an owned body), and the 100 Continue of the first unanswered exchange.
 */
static int gather(struct conn *c, struct iovec *iov, int max)
{
	int n = 0;
	for (struct sl_http_exchange *x = c->q_head; x != NULL && n < max; x = x->next) {
		if (x->cont && x->cont_off < CONTINUE_LEN) {
			iov[n].iov_base = (char *)continue_line + x->cont_off;
			iov[n].iov_len = CONTINUE_LEN - x->cont_off;
			n++;
		}
		if (x->state != X_ANSWERED || n + 2 > max)
			break;
		SL_ASSERT(x->out_off < x->out_len + x->out_owned_len);
		if (x->out_off < x->out_len) {
			iov[n].iov_base = x->out + x->out_off;
			iov[n].iov_len = x->out_len - x->out_off;
			n++;
			if (x->out_owned_len > 0) {
				iov[n].iov_base = x->out_owned;
				iov[n].iov_len = x->out_owned_len;
				n++;
			}
		} else {
			iov[n].iov_base = (char *)x->out_owned + (x->out_off - x->out_len);
			iov[n].iov_len = x->out_len + x->out_owned_len - x->out_off;
			n++;
		}
	}
	return n;
}

/* A response went out whole. */
static void written(struct conn *c, struct sl_http_exchange *x)
{
	struct sl_http_server *s = c->srv;
	SL_ASSERT(c->q_head == x);
	c->q_head = x->next;
	if (c->q_head == NULL)
		c->q_tail = NULL;
	SL_ASSERT(c->q_count > 0);
	c->q_count--;
	SL_ASSERT(s->out_pending > 0);
	s->out_pending--;
	s->stats.responses++;
	if (x->said_close)
		c->no_more = true;
	exchange_free(x);
}

/* Account n bytes sent, in queue order. */
static void consume(struct conn *c, size_t n)
{
	while (n > 0) {
		struct sl_http_exchange *x = c->q_head;
		SL_ASSERT(x != NULL);
		if (x->cont && x->cont_off < CONTINUE_LEN) {
			size_t k = CONTINUE_LEN - x->cont_off;
			k = k < n ? k : n;
			x->cont_off += (uint32_t)k;
			n -= k;
			continue;
		}
		SL_ASSERT(x->state == X_ANSWERED);
		size_t total = x->out_len + x->out_owned_len;
		size_t k = total - x->out_off;
		k = k < n ? k : n;
		x->out_off += k;
		n -= k;
		if (x->out_off == total)
			written(c, x);
	}
}

static bool fatal_send_error(int err)
{
	return err != EAGAIN && err != EWOULDBLOCK && err != EINTR;
}

static void conn_flush(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	if (c->close_now || c->lingering)
		return;
	/* Each round sends what is gathered or stops; bounded by the queue. */
	for (unsigned round = 0; round <= s->lim.pipeline_max + 1; round++) {
		struct iovec iov[IOV_BATCH];
		int n = gather(c, iov, IOV_BATCH);
		if (n == 0) {
			c->out_blocked = false;
			return;
		}
		size_t want = 0;
		for (int i = 0; i < n; i++)
			want += iov[i].iov_len;
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (fatal_send_error(errno)) {
				c->close_now = true;
				return;
			}
			if (errno != EINTR) {
				/* The stall clock starts when writing first blocks. */
				if (!c->out_blocked)
					c->write_ms = now_ms(s);
				c->out_blocked = true;
				return;
			}
			continue;
		}
		c->write_ms = c->active_ms = now_ms(s);
		consume(c, (size_t)w);
		if ((size_t)w < want) {
			c->out_blocked = true;
			return;
		}
		c->out_blocked = false;
	}
	/* Out of rounds with more to send: EPOLLOUT brings us back. */
	struct iovec rest[IOV_BATCH];
	c->out_blocked = gather(c, rest, IOV_BATCH) > 0;
}

static void respond(struct sl_http_exchange *x, int status, const char *content_type,
		    const struct sl_http_header *extra, unsigned extra_count, const void *body,
		    size_t body_len, void *owned)
{
	SL_ASSERT(x->state == X_HANDLER);
	SL_ASSERT(status >= 200);
	SL_ASSERT(status <= 599);
	SL_ASSERT(body_len == 0 || body != NULL);
	SL_ASSERT(extra_count == 0 || extra != NULL);
	SL_ASSERT(!((status == 204 || status == 304) && body_len > 0));
	for (unsigned i = 0; i < extra_count; i++)
		SL_ASSERT(extra_ok(&extra[i]));
	struct sl_http_server *s = x->srv;
	struct conn *c = x->conn;
	if (s != NULL)
		unanswered_unlink(s, x);
	if (c == NULL) {
		if (s != NULL)
			s->stats.responses_discarded++;
		free(owned);
		exchange_free(x);
		return;
	}
	/* The last response of a connection that takes no more says so. */
	bool keep = x->keep_alive && !(c->no_more && x->next == NULL);
	bool send_body = !x->head;
	size_t head_len;
	char *out = format_response(s, status, content_type, extra, extra_count, body_len, keep,
				    owned == NULL && send_body ? body : NULL,
				    owned == NULL && send_body ? body_len : 0, &head_len);
	if (out == NULL) {
		/* Out of memory: the client cannot get this answer; hang up. */
		free(owned);
		x->state = X_ANSWERED;
		x->out = NULL;
		s->out_pending++;
		c->close_now = true;
		if (!c->in_io)
			conn_settle(c);
		return;
	}
	x->out = out;
	x->out_len = head_len + (owned == NULL && send_body ? body_len : 0);
	if (owned != NULL && send_body) {
		x->out_owned = owned;
		x->out_owned_len = body_len;
	} else {
		free(owned);
	}
	free(x->body_alloc); /* the request body is not needed any more */
	x->body_alloc = NULL;
	x->said_close = !keep;
	x->state = X_ANSWERED;
	s->out_pending++;
	if (!c->in_io)
		conn_settle(c);
}

void sl_http_respond(struct sl_http_exchange *x, int status, const char *content_type,
		     const struct sl_http_header *extra, unsigned extra_count, const void *body,
		     size_t body_len)
{
	respond(x, status, content_type, extra, extra_count, body, body_len, NULL);
}

void sl_http_respond_owned(struct sl_http_exchange *x, int status, const char *content_type,
			   const struct sl_http_header *extra, unsigned extra_count, void *body,
			   size_t body_len)
{
	if (body == NULL || body_len == 0) {
		free(body);
		respond(x, status, content_type, extra, extra_count, NULL, 0, NULL);
		return;
	}
	respond(x, status, content_type, extra, extra_count, body, body_len, body);
}

bool sl_http_exchange_gone(const struct sl_http_exchange *x)
{
	return x->conn == NULL;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	SL_ASSERT(!c->in_io);
	sl_evloop_del(s->loop, c->fd);
	close(c->fd);
	sl_evloop_timer_cancel(s->loop, &c->timer);
	struct sl_http_exchange *x = c->q_head;
	while (x != NULL) {
		struct sl_http_exchange *next = x->next;
		x->next = NULL;
		switch (x->state) {
		case X_PARSING:
			exchange_free(x);
			break;
		case X_HANDLER:
			x->conn = NULL;
			break; /* freed when answered */
		case X_ANSWERED:
			SL_ASSERT(s->out_pending > 0);
			s->out_pending--;
			s->stats.responses_discarded++;
			exchange_free(x);
			break;
		}
		x = next;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	SL_ASSERT(s->conn_count > 0);
	s->conn_count--;
	s->stats.connections_open--;
	free(c);
}

static void conn_timeout(struct sl_evloop *l, void *arg);

static void timer_aim(struct conn *c, enum tkind kind, uint64_t due)
{
	struct sl_http_server *s = c->srv;
	if (kind == T_NONE) {
		sl_evloop_timer_cancel(s->loop, &c->timer);
		c->tkind = T_NONE;
		return;
	}
	if (c->tkind == kind && sl_evloop_timer_armed(&c->timer) && c->timer.due_ms == due)
		return;
	uint64_t now = now_ms(s);
	sl_evloop_timer_arm(s->loop, &c->timer, due > now ? due - now : 0, conn_timeout, c);
	c->tkind = kind;
}

/* Aim the connection's timer at the deadline its state calls for. */
static void conn_timer_update(struct conn *c)
{
	const struct sl_http_limits *lim = &c->srv->lim;
	if (c->lingering)
		return; /* aimed when the lingering began */
	if (c->out_blocked) {
		timer_aim(c, T_WRITE, c->write_ms + lim->idle_timeout_ms);
		return;
	}
	if (!(c->events & EPOLLIN)) {
		timer_aim(c, T_NONE, 0);
		return;
	}
	if (c->pstate == P_BODY)
		timer_aim(c, T_BODY, c->body_start_ms + lim->body_timeout_ms);
	else if (c->pstate == P_HEADERS || c->header_raw > 0)
		timer_aim(c, T_HEADER, c->header_start_ms + lim->header_timeout_ms);
	else if (c->q_head == NULL)
		timer_aim(c, T_IDLE, c->active_ms + lim->idle_timeout_ms);
	else
		timer_aim(c, T_NONE, 0); /* the server owes an answer */
}

static void linger_begin(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	c->lingering = true;
	c->rpos = c->rlen = 0;
	if (shutdown(c->fd, SHUT_WR) != 0) {
		c->close_now = true;
		return;
	}
	uint32_t ms = s->lim.idle_timeout_ms < LINGER_MS ? s->lim.idle_timeout_ms : LINGER_MS;
	sl_evloop_timer_arm(s->loop, &c->timer, ms, conn_timeout, c);
	c->tkind = T_LINGER;
}

/* Settled state: close, or the events and the deadline that fit. */
static void conn_finish(struct conn *c)
{
	struct sl_http_server *s = c->srv;
	if (!c->close_now && !c->lingering && c->no_more && c->q_head == NULL)
		linger_begin(c);
	if (c->close_now) {
		conn_close(c);
		return;
	}
	uint32_t ev;
	if (c->lingering) {
		ev = EPOLLIN | EPOLLRDHUP;
	} else {
		ev = EPOLLRDHUP;
		if (can_parse(c) && c->rpos == c->rlen)
			ev |= EPOLLIN;
		if (c->out_blocked)
			ev |= EPOLLOUT;
	}
	if (ev != c->events) {
		if (sl_evloop_mod(s->loop, c->fd, ev) != 0) {
			conn_close(c);
			return;
		}
		c->events = ev;
	}
	conn_timer_update(c);
}

/*
 * Bring the connection up to date: write what may go, parse what was read
 * while requests may be taken (handlers answering at once free queue room
 * for more), then close it or set its events and timer. May free c.
 */
static void conn_settle(struct conn *c)
{
	SL_ASSERT(!c->in_io);
	c->in_io = true;
	/* Every round but the last parses at least one byte of rbuf. */
	for (uint32_t round = 0;; round++) {
		SL_ASSERT(round <= RBUF_BYTES + 1);
		conn_flush(c);
		if (c->close_now || !can_parse(c) || c->rpos == c->rlen)
			break;
		uint32_t before = c->rpos;
		conn_parse(c);
		if (c->rpos == before && c->rlen != 0)
			break;
	}
	c->in_io = false;
	conn_finish(c);
}

static void conn_read(struct conn *c)
{
	SL_ASSERT(c->rpos == 0);
	SL_ASSERT(c->rlen == 0);
	ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
	if (n > 0) {
		c->rlen = (uint32_t)n;
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		c->close_now = true; /* the client has gone, or half-closed: gone */
}

static void linger_read(struct conn *c)
{
	ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
	if (n > 0) {
		c->linger_bytes += (uint32_t)n;
		if (c->linger_bytes > LINGER_BYTES)
			c->close_now = true;
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		c->close_now = true;
}

static void conn_event(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	struct conn *c = arg;
	SL_ASSERT(c->fd == fd);
	SL_ASSERT(!c->in_io);
	c->in_io = true;
	if (revents & EPOLLERR) {
		c->close_now = true;
	} else if (c->lingering) {
		if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
			linger_read(c);
	} else {
		/* EPOLLOUT needs nothing here: conn_settle writes. */
		if ((revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && (c->events & EPOLLIN))
			conn_read(c);
		else if (revents & (EPOLLHUP | EPOLLRDHUP))
			c->close_now = true; /* gone while we were not reading */
	}
	c->in_io = false;
	conn_settle(c);
}

static void conn_timeout(struct sl_evloop *l, void *arg)
{
	struct conn *c = arg;
	struct sl_http_server *s = c->srv;
	enum tkind kind = c->tkind;
	c->tkind = T_NONE;
	switch (kind) {
	case T_HEADER:
		conn_fail(c, 408, "request header timeout");
		break;
	case T_BODY:
		conn_fail(c, 408, "request body timeout");
		break;
	case T_IDLE:
		s->stats.idle_closes++;
		c->close_now = true;
		break;
	case T_WRITE:
		s->stats.timeouts++;
		c->close_now = true;
		break;
	case T_LINGER:
		c->close_now = true;
		break;
	case T_NONE:
		SL_UNREACHABLE();
	}
	conn_settle(c);
}

/* Past the bound: a 503 sent once, without waiting, and close. */
static void refuse_fd(struct sl_http_server *s, int fd)
{
	s->stats.connections_refused++;
	size_t len;
	char *out = format_error(s, 503, "too many connections", &len);
	if (out != NULL) {
		ssize_t n = send(fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		free(out);
	}
	shutdown(fd, SHUT_WR);
	/* Take what the client sent already, so close does not reset. */
	char sink[4096];
	for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static int conn_create(struct sl_http_server *s, int fd)
{
	size_t hdr = (size_t)s->lim.headers_max * sizeof(struct hdr_off);
	struct conn *c = calloc(1, sizeof(*c) + hdr + s->lim.header_bytes_max);
	if (c == NULL)
		return -ENOMEM;
	c->srv = s;
	c->fd = fd;
	c->hdr = (struct hdr_off *)(c + 1);
	c->hbuf = (char *)c->hdr + hdr;
	llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
	c->parser.data = c;
	c->events = EPOLLIN | EPOLLRDHUP;
	int rc = sl_evloop_add(s->loop, fd, c->events, conn_event, c);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->active_ms = now_ms(s);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->conn_count++;
	s->stats.connections_accepted++;
	s->stats.connections_open++;
	conn_timer_update(c);
	return 0;
}

int sl_http_server_adopt(struct sl_http_server *s, int fd)
{
	int fl = 1;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		int rc = sl_neg_errno();
		close(fd);
		return rc;
	}
	if (s->conn_count >= s->lim.connections_max) {
		refuse_fd(s, fd);
		return 0;
	}
	/* TCP only; other families refuse it, harmlessly. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &fl, sizeof(fl));
	int rc = conn_create(s, fd);
	if (rc != 0) {
		refuse_fd(s, fd);
		return rc;
	}
	return 0;
}

/* ---- listener ---- */

static void on_accept(struct sl_evloop *l, int fd, uint32_t revents, void *arg);

static void accept_resume(struct sl_evloop *l, void *arg)
{
	struct sl_http_server *s = arg;
	if (s->listen_fd >= 0)
		sl_evloop_mod(l, s->listen_fd, EPOLLIN);
}

static void on_accept(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	struct sl_http_server *s = arg;
	for (int i = 0; i < ACCEPT_BURST && s->listen_fd >= 0; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (err == EINTR || err == ECONNABORTED || err == EPROTO)
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable; rest. */
			SL_LOG_RL(SL_LOG_WARN, SUBSYS, "accept: %s; pausing %d ms",
				  sl_strerror(err), ACCEPT_PAUSE_MS);
			sl_evloop_mod(l, fd, 0);
			sl_evloop_timer_arm(l, &s->accept_timer, ACCEPT_PAUSE_MS, accept_resume, s);
			return;
		}
		int rc = sl_http_server_adopt(s, cfd);
		if (rc != 0)
			SL_LOG_RL(SL_LOG_WARN, SUBSYS, "connection refused: %s", sl_strerror(rc));
	}
}

static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static int listen_on(struct sl_http_server *s, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, rc;
	if (parse_addr(host, port, &ss, &len) != 0) {
		SL_ERR(SUBSYS, "listen address '%s' is not a numeric IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = sl_neg_errno();
		goto err;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		rc = sl_neg_errno();
		goto err_close;
	}
	s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	s->listen_fd = fd;
	return 0;

err_close:
	close(fd);
err:
	SL_ERR(SUBSYS, "listen on %s port %u: %s", host, port, sl_strerror(rc));
	return rc;
}

static void warn_fd_limit(const struct sl_http_limits *lim)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)lim->connections_max + 64)
		SL_WARN(SUBSYS,
			"%u connections allowed but only %llu file descriptors: accept will "
			"fail (and pause) before the bound; raise RLIMIT_NOFILE",
			lim->connections_max, (unsigned long long)rl.rlim_cur);
}

int sl_http_server_create(struct sl_evloop *l, const struct sl_http_server_options *o,
			  struct sl_http_server **out)
{
	int rc = limits_check(&o->limits);
	if (rc != 0 || o->handler == NULL || o->host == NULL) {
		SL_ERR(SUBSYS, "server options out of range");
		return -EINVAL;
	}
	struct sl_http_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->loop = l;
	s->lim = o->limits;
	s->handler = o->handler;
	s->error_fmt = o->error_fmt;
	s->arg = o->arg;
	s->listen_fd = -1;
	s->date_s = -1;
	settings_init(&s->settings);
	rc = sl_evloop_timer_reserve(l, s->lim.connections_max + 1);
	if (rc != 0)
		goto err_free;
	rc = listen_on(s, o->host, o->port);
	if (rc != 0)
		goto err_free;
	rc = sl_evloop_add(l, s->listen_fd, EPOLLIN, on_accept, s);
	if (rc != 0)
		goto err_close;
	warn_fd_limit(&s->lim);
	SL_INFO(SUBSYS, "listening on %s port %u", o->host, s->port);
	*out = s;
	return 0;

err_close:
	close(s->listen_fd);
err_free:
	free(s);
	return rc;
}

uint16_t sl_http_server_port(const struct sl_http_server *s)
{
	return s->port;
}

static void close_listener(struct sl_http_server *s)
{
	if (s->listen_fd < 0)
		return;
	sl_evloop_del(s->loop, s->listen_fd);
	close(s->listen_fd);
	s->listen_fd = -1;
	sl_evloop_timer_cancel(s->loop, &s->accept_timer);
}

void sl_http_server_stop_accepting(struct sl_http_server *s)
{
	close_listener(s);
	s->stopping = true;
	struct conn *c = s->conns;
	while (c != NULL) {
		/* Settling c only closes c: no handler runs (nothing is parsed). */
		struct conn *next = c->next;
		drop_parsing(c);
		c->pstate = P_IDLE;
		c->no_more = true;
		if (c->q_head == NULL && !c->lingering)
			c->close_now = true;
		if (!c->in_io)
			conn_settle(c);
		c = next;
	}
}

unsigned sl_http_server_busy(const struct sl_http_server *s)
{
	return s->unanswered_count + s->out_pending;
}

void sl_http_server_stats(const struct sl_http_server *s, struct sl_http_stats *out)
{
	*out = s->stats;
}

void sl_http_server_destroy(struct sl_http_server *s)
{
	if (s == NULL)
		return;
	close_listener(s);
	while (s->conns != NULL) {
		SL_ASSERT(!s->conns->in_io); /* not from a handler */
		conn_close(s->conns);
	}
	/* Unanswered exchanges stay valid for their handlers, detached. */
	struct sl_http_exchange *x = s->unanswered;
	while (x != NULL) {
		struct sl_http_exchange *next = x->u_next;
		x->srv = NULL;
		x->u_prev = x->u_next = NULL;
		x = next;
	}
	free(s);
}
