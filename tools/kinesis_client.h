/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small blocking client for the Kinesis JSON API (the sluice CLI's):
 * HTTP/1.1 over one kept-alive TCP connection, responses parsed by llhttp,
 * bodies as jansson objects, each request signed with AWS Signature
 * Version 4 (HMAC-SHA256 from OpenSSL's libcrypto). Credentials come from
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and the
 * region from AWS_REGION / AWS_DEFAULT_REGION, with defaults when unset
 * (sluice does not check signatures yet; the shape is what AWS clients send).
 *
 * Every wait is bounded: the connect by connect_timeout_ms, a whole request
 * (send and response) by request_timeout_ms. A response body is bounded by
 * SL_KC_RESPONSE_BYTES_MAX and a request body by SL_KC_REQUEST_BYTES_MAX.
 * One thread uses a client at a time.
 */
#ifndef SLUICE_TOOLS_KINESIS_CLIENT_H
#define SLUICE_TOOLS_KINESIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SL_KC_RESPONSE_BYTES_MAX (32u << 20) /* GetRecords: 10 MiB of data in base64 */
#define SL_KC_REQUEST_BYTES_MAX  (16u << 20) /* PutRecords: 5 MiB in base64, JSON */
#define SL_KC_TYPE_MAX           128
#define SL_KC_MESSAGE_MAX        512

struct sl_kc_options {
	const char *url;  /* for messages; borrowed */
	const char *host; /* name or numeric address, IPv6 without brackets; borrowed */
	uint16_t port;
	const char *path; /* "" or starting with '/'; borrowed */
	unsigned connect_timeout_ms;
	unsigned request_timeout_ms;
};

/* Why a call failed. */
struct sl_kc_error {
	int status;                      /* HTTP status, 0 when no response came */
	char type[SL_KC_TYPE_MAX];       /* the Kinesis exception name; "" for transport */
	char message[SL_KC_MESSAGE_MAX]; /* one line, printable */
};

struct sl_kc;

/* 0 and *out, or -ENOMEM / -EINVAL (credentials or region too long). */
int sl_kc_create(const struct sl_kc_options *o, struct sl_kc **out);
/* Close the connection and free. NULL: no-op. */
void sl_kc_destroy(struct sl_kc *c);

/*
 * Call operation `op` (e.g. "ListStreams") with the request object `req`
 * (borrowed). Returns 0 with *resp (the response object, owned by the
 * caller); -EREMOTEIO when the server answered with an error (err->type is
 * its exception name, err->message its message); -EINTR when a signal
 * interrupted a wait; another negative errno when no valid answer came
 * (err->message says what happened, naming the endpoint).
 */
int sl_kc_call(struct sl_kc *c, const char *op, json_t *req, json_t **resp,
	       struct sl_kc_error *err);

/*
 * GET path (e.g. "/metrics") on the same connection: 0 and the body in a
 * fresh NUL-terminated buffer (*body, *len; the caller frees it), or <0
 * with err filled (a status other than 200 is -EREMOTEIO).
 */
int sl_kc_get(struct sl_kc *c, const char *path, char **body, size_t *len, struct sl_kc_error *err);

/* Base64 of p[0..n) in a fresh NUL-terminated string, or NULL (no memory). */
char *sl_kc_b64_encode(const void *p, size_t n);
/* Decode standard base64 (padded) into a fresh buffer: 0, or -EINVAL / -ENOMEM. */
int sl_kc_b64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

#endif /* SLUICE_TOOLS_KINESIS_CLIENT_H */
