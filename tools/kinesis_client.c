/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sluice CLI's Kinesis client (kinesis_client.h): one blocking HTTP/1.1
 * connection, kept alive between calls and opened again when the server
 * has closed it; requests signed with SigV4; responses parsed by llhttp.
 *
 * A request is
 *   POST <path> HTTP/1.1
 *   Host, Content-Type: application/x-amz-json-1.1,
 *   X-Amz-Target: Kinesis_20131202.<op>, X-Amz-Date, [X-Amz-Security-Token],
 *   Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
 *   Content-Length, then the JSON body.
 * The signature follows the SigV4 recipe: canonical request (method, URI,
 * empty query, the signed headers lower-cased and sorted, their names, the
 * SHA-256 of the body) -> string to sign (algorithm, date, scope, hash of
 * the canonical request) -> HMAC chain from "AWS4" + secret over date,
 * region, service "kinesis" and "aws4_request".
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <llhttp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sluice/assert.h>

#include "kinesis_client.h"
#include "sl_build.h"

#define TARGET_PREFIX   "Kinesis_20131202."
#define CONTENT_TYPE    "application/x-amz-json-1.1"
#define SERVICE         "kinesis"
#define DEFAULT_REGION  "us-east-1"
#define DEFAULT_KEY_ID  "sluice"
#define DEFAULT_SECRET  "sluice"
#define KEY_ID_MAX      128
#define SECRET_MAX      128
#define TOKEN_MAX       4096
#define REGION_MAX      64
#define OP_MAX          64
#define HOST_HEADER_MAX 300
#define HEAD_MAX        (TOKEN_MAX + 2048) /* request line and headers */
#define RECV_CHUNK      65536
#define SHA256_HEX      65

struct sl_kc {
	struct sl_kc_options o;
	int fd;               /* -1: not connected */
	unsigned calls_on_fd; /* calls answered on this connection */
	char host_header[HOST_HEADER_MAX];
	char key_id[KEY_ID_MAX + 1];
	char secret[SECRET_MAX + 1];
	char region[REGION_MAX + 1];
	const char *token; /* from the environment, or NULL */

	llhttp_t parser;
	llhttp_settings_t settings;
	/* The response being parsed. */
	int status;
	bool complete;
	bool keep_alive;
	bool too_large;
	uint8_t *body;
	size_t body_len;
	size_t body_cap;
};

/* ---- time and errors ------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds left until `deadline`, at least 0. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

__attribute__((format(printf, 2, 3))) static void set_msg(struct sl_kc_error *err, const char *fmt,
							  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	for (char *p = err->message; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = ' ';
	}
}

/* ---- the connection -------------------------------------------------- */

static void disconnect(struct sl_kc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->calls_on_fd = 0;
}

/* Wait for `events` on c->fd until the deadline: 0, -ETIMEDOUT, -EINTR or -errno. */
static int wait_fd(struct sl_kc *c, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	int n = poll(&p, 1, left_ms(deadline));

	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

/* One address: a non-blocking connect bounded by the deadline. */
static int connect_one(struct sl_kc *c, const struct addrinfo *ai, uint64_t deadline)
{
	int one = 1, soerr = 0, rc;
	socklen_t len = sizeof(soerr);

	c->fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		rc = -errno;
		disconnect(c);
		return rc;
	}
	rc = wait_fd(c, POLLOUT, deadline);
	if (rc == 0 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		rc = -errno;
	if (rc == 0 && soerr != 0)
		rc = -soerr;
	if (rc < 0)
		disconnect(c);
	return rc;
}

/* Connect to the endpoint, trying each address in turn. 0 or -errno, err set. */
static int do_connect(struct sl_kc *c, struct sl_kc_error *err)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	uint64_t deadline = now_ms() + c->o.connect_timeout_ms;
	char port[8];
	int rc = -EHOSTUNREACH, gai;

	snprintf(port, sizeof(port), "%u", c->o.port);
	gai = getaddrinfo(c->o.host, port, &hints, &res);
	if (gai != 0) {
		set_msg(err, "cannot resolve %s: %s", c->o.host, gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(c, ai, deadline);
		if (rc == 0 || rc == -EINTR)
			break;
	}
	freeaddrinfo(res);
	if (rc == -ETIMEDOUT)
		set_msg(err, "cannot connect to %s: no answer within %u ms", c->o.url,
			c->o.connect_timeout_ms);
	else if (rc < 0)
		set_msg(err, "cannot connect to %s: %s", c->o.url, strerror(-rc));
	return rc;
}

/* Send all of p[0..n) before the deadline. 0 or -errno. */
static int send_all(struct sl_kc *c, const void *p, size_t n, uint64_t deadline)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		int rc;

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		rc = wait_fd(c, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the response parser --------------------------------------------- */

static int on_message_begin(llhttp_t *p)
{
	struct sl_kc *c = p->data;

	c->status = 0;
	c->body_len = 0;
	c->complete = false;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct sl_kc *c = p->data;

	c->status = llhttp_get_status_code(p);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct sl_kc *c = p->data;
	size_t cap;
	uint8_t *nb;

	if (len > SL_KC_RESPONSE_BYTES_MAX - c->body_len) {
		c->too_large = true;
		llhttp_set_error_reason(p, "response body too large");
		return HPE_USER;
	}
	if (c->body_len + len > c->body_cap) {
		cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len)
			cap *= 2;
		if (cap > SL_KC_RESPONSE_BYTES_MAX)
			cap = SL_KC_RESPONSE_BYTES_MAX;
		nb = realloc(c->body, cap);
		if (!nb) {
			llhttp_set_error_reason(p, "out of memory");
			return HPE_USER;
		}
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct sl_kc *c = p->data;

	/* A 1xx is not the answer: wait for the next message. */
	if (c->status >= 100 && c->status < 200)
		return 0;
	c->complete = true;
	c->keep_alive = llhttp_should_keep_alive(p) != 0;
	return HPE_PAUSED;
}

/*
 * Read one response before the deadline. 0 with c->status and c->body, or
 * -errno with err set. *got_bytes says whether any byte came (a reused
 * connection the server had closed yields none).
 */
static int read_response(struct sl_kc *c, uint64_t deadline, bool *got_bytes,
			 struct sl_kc_error *err)
{
	char buf[RECV_CHUNK];

	llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
	c->parser.data = c;
	c->complete = false;
	c->too_large = false;
	*got_bytes = false;
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		llhttp_errno_t e;
		int rc;

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			rc = wait_fd(c, POLLIN, deadline);
			if (rc == -ETIMEDOUT)
				set_msg(err, "%s: no response within %u ms", c->o.url,
					c->o.request_timeout_ms);
			else if (rc < 0)
				set_msg(err, "%s: %s", c->o.url, strerror(-rc));
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0) {
			set_msg(err, "%s: %s", c->o.url, strerror(errno));
			return -errno;
		}
		if (n == 0) {
			(void)llhttp_finish(&c->parser);
			if (c->complete)
				return 0;
			set_msg(err, "%s closed the connection %s", c->o.url,
				*got_bytes ? "in the middle of a response" : "without answering");
			return -ECONNRESET;
		}
		*got_bytes = true;
		e = llhttp_execute(&c->parser, buf, (size_t)n);
		if (e == HPE_PAUSED && c->complete) {
			/* Bytes after the response: not ours to guess at. */
			if (llhttp_get_error_pos(&c->parser) < buf + n)
				c->keep_alive = false;
			return 0;
		}
		if (e != HPE_OK) {
			set_msg(err, "%s: malformed HTTP response (%s)", c->o.url,
				c->too_large ? "body over 32 MiB"
					     : llhttp_get_error_reason(&c->parser));
			return c->too_large ? -EFBIG : -EPROTO;
		}
	}
}

/* ---- SigV4 ----------------------------------------------------------- */

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Lower-case hex SHA-256 of p[0..n) into out (SHA256_HEX bytes). */
static int sha256_hex(const void *p, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		return -EIO;
	to_hex(md, md_len, out);
	return 0;
}

/* out = HMAC-SHA256(key, msg); 32 bytes. */
static int hmac256(const void *key, size_t key_len, const char *msg, unsigned char *out)
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		  &len) ||
	    len != 32)
		return -EIO;
	return 0;
}

/*
 * The Authorization header value for a request of `op` with `body`, at
 * `amz_date` ("YYYYMMDDTHHMMSSZ"). 0 or -EIO / -ENOSPC.
 */
static int sign(const struct sl_kc *c, const char *op, const char *body, size_t body_len,
		const char *amz_date, char *auth, size_t auth_cap)
{
	char body_hash[SHA256_HEX], creq_hash[SHA256_HEX], sig_hex[SHA256_HEX];
	char date[9], scope[128], key_seed[SECRET_MAX + 5];
	unsigned char k[32];
	const char *signed_headers = c->token ? "content-type;host;x-amz-date;"
						"x-amz-security-token;x-amz-target"
					      : "content-type;host;x-amz-date;x-amz-target";
	char *creq = NULL, *sts = NULL;
	int rc = -EIO, n;

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, c->region, SERVICE);
	if (sha256_hex(body, body_len, body_hash) != 0)
		return -EIO;
	n = asprintf(
	    &creq,
	    "POST\n%s\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\n%s%s%sx-amz-target:%s%s\n"
	    "\n%s\n%s",
	    c->o.path[0] ? c->o.path : "/", CONTENT_TYPE, c->host_header, amz_date,
	    c->token ? "x-amz-security-token:" : "", c->token ? c->token : "", c->token ? "\n" : "",
	    TARGET_PREFIX, op, signed_headers, body_hash);
	if (n < 0)
		return -ENOMEM;
	if (sha256_hex(creq, (size_t)n, creq_hash) != 0)
		goto out;
	if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash) < 0) {
		sts = NULL;
		rc = -ENOMEM;
		goto out;
	}
	snprintf(key_seed, sizeof(key_seed), "AWS4%s", c->secret);
	if (hmac256(key_seed, strlen(key_seed), date, k) != 0 ||
	    hmac256(k, sizeof(k), c->region, k) != 0 || hmac256(k, sizeof(k), SERVICE, k) != 0 ||
	    hmac256(k, sizeof(k), "aws4_request", k) != 0 || hmac256(k, sizeof(k), sts, k) != 0)
		goto out;
	to_hex(k, sizeof(k), sig_hex);
	n = snprintf(auth, auth_cap,
		     "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", c->key_id,
		     scope, signed_headers, sig_hex);
	rc = (n < 0 || (size_t)n >= auth_cap) ? -ENOSPC : 0;
out:
	OPENSSL_cleanse(key_seed, sizeof(key_seed));
	OPENSSL_cleanse(k, sizeof(k));
	free(creq);
	free(sts);
	return rc;
}

/* ---- calls ----------------------------------------------------------- */

/* Request line and headers for `op` into head. Length, or < 0. */
static int build_head(const struct sl_kc *c, const char *op, const char *body, size_t body_len,
		      char *head, size_t cap)
{
	char amz_date[20], auth[512];
	time_t t = time(NULL);
	struct tm tm;
	int n;

	if (!gmtime_r(&t, &tm) || strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EIO;
	n = sign(c, op, body, body_len, amz_date, auth, sizeof(auth));
	if (n < 0)
		return n;
	n = snprintf(head, cap,
		     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice/%s\r\n"
		     "Content-Type: %s\r\nX-Amz-Target: %s%s\r\nX-Amz-Date: %s\r\n"
		     "%s%s%sAuthorization: %s\r\nContent-Length: %zu\r\n\r\n",
		     c->o.path[0] ? c->o.path : "/", c->host_header, SL_VERSION, CONTENT_TYPE,
		     TARGET_PREFIX, op, amz_date, c->token ? "X-Amz-Security-Token: " : "",
		     c->token ? c->token : "", c->token ? "\r\n" : "", auth, body_len);
	return (n < 0 || (size_t)n >= cap) ? -ENOSPC : n;
}

/*
 * One exchange on the current connection (opened if need be). *retry is
 * set when a reused connection turned out closed before any answer, so the
 * caller may try once more on a fresh one.
 */
static int exchange(struct sl_kc *c, const char *head, size_t head_len, const char *body,
		    size_t body_len, bool *retry, struct sl_kc_error *err)
{
	uint64_t deadline;
	bool reused = c->fd >= 0, got = false;
	int rc;

	*retry = false;
	if (c->fd < 0) {
		rc = do_connect(c, err);
		if (rc < 0)
			return rc;
	}
	deadline = now_ms() + c->o.request_timeout_ms;
	rc = send_all(c, head, head_len, deadline);
	if (rc == 0)
		rc = send_all(c, body, body_len, deadline);
	if (rc < 0) {
		*retry = reused && (rc == -EPIPE || rc == -ECONNRESET);
		set_msg(err, "%s: %s", c->o.url,
			rc == -ETIMEDOUT ? "request not accepted in time" : strerror(-rc));
		disconnect(c);
		return rc;
	}
	rc = read_response(c, deadline, &got, err);
	if (rc < 0) {
		*retry = reused && !got && (rc == -ECONNRESET);
		disconnect(c);
		return rc;
	}
	c->calls_on_fd++;
	if (!c->keep_alive)
		disconnect(c);
	return 0;
}

/* Turn an error response into err: its __type (after any '#') and message. */
static void parse_error(struct sl_kc *c, struct sl_kc_error *err)
{
	json_t *doc = json_loadb((const char *)c->body, c->body_len, 0, NULL);
	const char *type = json_string_value(json_object_get(doc, "__type"));
	const char *msg = json_string_value(json_object_get(doc, "message"));
	const char *hash;

	if (!msg)
		msg = json_string_value(json_object_get(doc, "Message"));
	if (type) {
		hash = strrchr(type, '#');
		snprintf(err->type, sizeof(err->type), "%s", hash ? hash + 1 : type);
		set_msg(err, "%s", msg ? msg : "");
	} else {
		snprintf(err->type, sizeof(err->type), "HTTP %d", c->status);
		set_msg(err, "%.*s", (int)(c->body_len < 200 ? c->body_len : 200),
			(const char *)c->body);
	}
	json_decref(doc);
}

int sl_kc_call(struct sl_kc *c, const char *op, json_t *req, json_t **resp, struct sl_kc_error *err)
{
	char *body = NULL, *head = NULL;
	size_t body_len;
	json_error_t jerr;
	bool retry = false;
	int rc, head_len;

	SL_ASSERT(c != NULL);
	SL_ASSERT(strlen(op) < OP_MAX);
	memset(err, 0, sizeof(*err));
	*resp = NULL;
	body = json_dumps(req, JSON_COMPACT);
	head = malloc(HEAD_MAX);
	if (!body || !head) {
		set_msg(err, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	body_len = strlen(body);
	if (body_len > SL_KC_REQUEST_BYTES_MAX) {
		set_msg(err, "request of %zu bytes is over the %u-byte bound", body_len,
			SL_KC_REQUEST_BYTES_MAX);
		rc = -EFBIG;
		goto out;
	}
	for (unsigned attempt = 0; attempt < 2; attempt++) {
		head_len = build_head(c, op, body, body_len, head, HEAD_MAX);
		if (head_len < 0) {
			set_msg(err, "cannot sign the request");
			rc = head_len;
			goto out;
		}
		rc = exchange(c, head, (size_t)head_len, body, body_len, &retry, err);
		if (rc == 0 || !retry)
			break;
	}
	if (rc < 0)
		goto out;
	err->status = c->status;
	if (c->status != 200) {
		parse_error(c, err);
		rc = -EREMOTEIO;
		goto out;
	}
	*resp = json_loadb((const char *)c->body, c->body_len, 0, &jerr);
	if (!*resp || !json_is_object(*resp)) {
		json_decref(*resp);
		*resp = NULL;
		set_msg(err, "%s: the response is not a JSON object (%s)", c->o.url, jerr.text);
		rc = -EPROTO;
	}
out:
	free(head);
	free(body);
	return rc;
}

int sl_kc_get(struct sl_kc *c, const char *path, char **body, size_t *len, struct sl_kc_error *err)
{
	char head[1024];
	bool retry = false;
	int rc = 0;

	memset(err, 0, sizeof(*err));
	*body = NULL;
	int n = snprintf(head, sizeof(head),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice/%s\r\n\r\n", path,
			 c->host_header, SL_VERSION);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		set_msg(err, "path too long");
		return -ENAMETOOLONG;
	}
	for (unsigned attempt = 0; attempt < 2; attempt++) {
		rc = exchange(c, head, (size_t)n, "", 0, &retry, err);
		if (rc == 0 || !retry)
			break;
	}
	if (rc < 0)
		return rc;
	err->status = c->status;
	if (c->status != 200) {
		set_msg(err, "%s%s: HTTP status %d", c->o.url, path, c->status);
		return -EREMOTEIO;
	}
	*body = malloc(c->body_len + 1);
	if (*body == NULL) {
		set_msg(err, "out of memory");
		return -ENOMEM;
	}
	memcpy(*body, c->body, c->body_len);
	(*body)[c->body_len] = '\0';
	*len = c->body_len;
	return 0;
}

/* ---- setup ----------------------------------------------------------- */

/* Copy the environment variable `name` (or `def`) into out[cap]; -EINVAL if too long. */
static int env_copy(const char *name, const char *alt, const char *def, char *out, size_t cap)
{
	const char *v = getenv(name);

	if ((!v || !v[0]) && alt)
		v = getenv(alt);
	if (!v || !v[0])
		v = def;
	if (strnlen(v, cap) >= cap)
		return -EINVAL;
	strcpy(out, v);
	return 0;
}

int sl_kc_create(const struct sl_kc_options *o, struct sl_kc **out)
{
	struct sl_kc *c = calloc(1, sizeof(*c));
	bool v6;
	int n;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->o = *o;
	c->fd = -1;
	c->token = getenv("AWS_SESSION_TOKEN");
	if (c->token && (!c->token[0] || strnlen(c->token, TOKEN_MAX + 1) > TOKEN_MAX))
		c->token = NULL;
	if (env_copy("AWS_ACCESS_KEY_ID", NULL, DEFAULT_KEY_ID, c->key_id, sizeof(c->key_id)) ||
	    env_copy("AWS_SECRET_ACCESS_KEY", NULL, DEFAULT_SECRET, c->secret, sizeof(c->secret)) ||
	    env_copy("AWS_REGION", "AWS_DEFAULT_REGION", DEFAULT_REGION, c->region,
		     sizeof(c->region))) {
		free(c);
		return -EINVAL;
	}
	v6 = strchr(o->host, ':') != NULL;
	n = snprintf(c->host_header, sizeof(c->host_header), "%s%s%s:%u", v6 ? "[" : "", o->host,
		     v6 ? "]" : "", o->port);
	SL_ASSERT(n > 0 && (size_t)n < sizeof(c->host_header));
	llhttp_settings_init(&c->settings);
	c->settings.on_message_begin = on_message_begin;
	c->settings.on_headers_complete = on_headers_complete;
	c->settings.on_body = on_body;
	c->settings.on_message_complete = on_message_complete;
	*out = c;
	return 0;
}

void sl_kc_destroy(struct sl_kc *c)
{
	if (!c)
		return;
	disconnect(c);
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	free(c->body);
	free(c);
}

/* ---- base64 ---------------------------------------------------------- */

char *sl_kc_b64_encode(const void *p, size_t n)
{
	size_t out_len = 4 * ((n + 2) / 3);
	char *out;

	if (n > SL_KC_REQUEST_BYTES_MAX)
		return NULL;
	out = malloc(out_len + 1);
	if (!out)
		return NULL;
	if (EVP_EncodeBlock((unsigned char *)out, p, (int)n) != (int)out_len) {
		free(out);
		return NULL;
	}
	return out;
}

int sl_kc_b64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
	size_t pad = 0;
	uint8_t *buf;
	int n;

	*out = NULL;
	*out_len = 0;
	if (len % 4 != 0 || len > SL_KC_RESPONSE_BYTES_MAX)
		return -EINVAL;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	buf = malloc(len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	n = len ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : 0;
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = (size_t)n - pad;
	return 0;
}
