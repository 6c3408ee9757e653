/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A well-formed Kinesis request for tests and fuzz targets that drive
 * sl_kinesis_dispatch() directly: POST, the JSON 1.1 content type, a
 * SigV4-shaped Authorization header and a date. Header-only.
 */
#ifndef SLUICE_TEST_KINESIS_REQ_H
#define SLUICE_TEST_KINESIS_REQ_H

#include <string.h>

#include <sluice/kinesis.h>

#define TK_AUTH                                                                                    \
	"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, "               \
	"SignedHeaders=host, Signature=00"

/* target (e.g. "Kinesis_20131202.PutRecords") and body are borrowed. */
static inline struct sl_kinesis_request tk_request(const char *target, const uint8_t *body,
						   size_t len)
{
	return (struct sl_kinesis_request){
	    .method = "POST",
	    .method_len = 4,
	    .target = target,
	    .target_len = strlen(target),
	    .content_type = "application/x-amz-json-1.1",
	    .content_type_len = 26,
	    .authorization = TK_AUTH,
	    .authorization_len = sizeof(TK_AUTH) - 1,
	    .has_date = true,
	    .body = body,
	    .body_len = len,
	};
}

#endif /* SLUICE_TEST_KINESIS_REQ_H */
