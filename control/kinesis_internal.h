/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Kinesis API's internals, shared by kinesis.c (object, protocol,
 * dispatch, replies, completions), kinesis_json.c (the JSON writer, typed
 * member access with Kinesis's SerializationException and
 * ValidationException rules), kinesis_b64.c (base64), kinesis_scan.c (the
 * PutRecords fast path), kinesis_streams.c, kinesis_tags.c and
 * kinesis_records.c (the operations). Not a public header.
 *
 * Kinesis exception names live here, in one table (kinesis.c).
 */
#ifndef SLUICE_KINESIS_INTERNAL_H
#define SLUICE_KINESIS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <sluice/kinesis.h>
#include <sluice/meta.h>
#include <sluice/record.h>
#include <sluice/ring.h>
#include <sluice/shardmap.h>
#include <sluice/store.h>
#include <sluice/u128.h>

/* ---- exceptions ---- */

enum kin_exc {
	KX_NONE = 0,
	KX_ACCESS_DENIED,
	KX_EXPIRED_ITERATOR,
	KX_EXPIRED_NEXT_TOKEN,
	KX_INCOMPLETE_SIGNATURE,
	KX_INTERNAL_FAILURE,
	KX_INVALID_ARGUMENT,
	KX_LIMIT_EXCEEDED,
	KX_MISSING_AUTH,
	KX_PROVISIONED_THROUGHPUT,
	KX_RESOURCE_IN_USE,
	KX_RESOURCE_NOT_FOUND,
	KX_SERIALIZATION,
	KX_UNKNOWN_OPERATION,
	KX_VALIDATION,
	KX__COUNT
};

/* The exception's name ("InvalidArgumentException"); its HTTP status. */
const char *kin_exc_name(enum kin_exc e);
int kin_exc_status(enum kin_exc e);

#define KIN_MSG_MAX      2048 /* an error message, cut beyond */
#define KIN_REGION_MAX   32
#define KIN_ARN_MAX      (64 + KIN_REGION_MAX + SL_STREAM_NAME_MAX)
#define KIN_SHARD_ID_BUF 24 /* "shardId-" + 12 digits + NUL (ids up to 2^32) */
#define KIN_VERRS_MAX    10 /* validation errors listed, as Coral */

/* ---- the JSON writer (kinesis_json.c) ---- */

#define KJW_DEPTH_MAX 8

struct kjw {
	char *buf;
	size_t len, cap;
	bool oom; /* an allocation failed: the output is unusable */
	bool after_key;
	unsigned depth;
	uint32_t count[KJW_DEPTH_MAX];
};

void kjw_init(struct kjw *w, size_t reserve);
void kjw_fini(struct kjw *w);
void kjw_obj_begin(struct kjw *w);
void kjw_obj_end(struct kjw *w);
void kjw_arr_begin(struct kjw *w);
void kjw_arr_end(struct kjw *w);
void kjw_key(struct kjw *w, const char *key);
void kjw_str(struct kjw *w, const char *s, size_t len); /* escaped; bad UTF-8 as U+FFFD */
void kjw_cstr(struct kjw *w, const char *s);
/* A string that needs no escaping (printable ASCII without '"' or '\\',
 * asserted in debug builds): copied between quotes as it is. */
void kjw_str_plain(struct kjw *w, const char *s, size_t len);
void kjw_u64(struct kjw *w, uint64_t v);
void kjw_bool(struct kjw *w, bool v);
void kjw_u128(struct kjw *w, sl_u128 v);          /* as a decimal string */
void kjw_ts_ms(struct kjw *w, uint64_t epoch_ms); /* epoch seconds, 3 decimals */
void kjw_b64(struct kjw *w, const uint8_t *p, size_t len);
/* Bytes kjw_str may write for len input bytes, quotes included. */
static inline size_t kjw_str_bound(size_t len)
{
	return 2 + len * 6;
}

/* ---- base64 (kinesis_b64.c) ---- */

static inline size_t kin_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}
/* Encode n bytes into out (kin_b64_len(n) bytes, no NUL). */
void kin_b64_encode(const uint8_t *in, size_t n, char *out);

enum kin_b64_err {
	KIN_B64_OK = 0,
	KIN_B64_ELEN = 1,  /* length not a multiple of 4 */
	KIN_B64_ECHAR = 2, /* a character outside [A-Za-z0-9+/], or '=' inside */
	KIN_B64_ELAST = 3, /* bad padding or non-zero unused bits at the end */
};
/* Bytes that n characters of base64 decode to, at most. */
static inline size_t kin_b64_decoded_max(size_t n)
{
	return n / 4 * 3;
}
/*
 * Check and decode in one pass, strictly as Kinesis checks a Blob (rules
 * at the top of kinesis_b64.c). OK: *out_len bytes written to out, and
 * nothing beyond them. ECHAR: *bad is the offending character. On an
 * error out's content is undefined, but never more than
 * kin_b64_decoded_max(n) bytes are written. out NULL: check only.
 */
enum kin_b64_err kin_b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t *out_len,
				       char *bad);
/* Check only; *out_len gets the decoded length, *bad as above. */
enum kin_b64_err kin_b64_check(const char *in, size_t n, size_t *out_len, char *bad);
/* Decode input kin_b64_check accepted into out (asserted). */
void kin_b64_decode(const char *in, size_t n, uint8_t *out);

/* Decoders, in order; the best the CPU runs is used (chosen at first use). */
enum kin_b64_impl {
	KIN_B64_IMPL_SCALAR = 0, /* a 256-entry table, a quad at a time */
	KIN_B64_IMPL_AVX2 = 1,   /* 32 characters a block */
	KIN_B64_IMPL_AVX512 = 2, /* AVX-512 VBMI, 64 characters a block */
};
enum kin_b64_impl kin_b64_impl_best(void);
/* Use impl from now on (tests): 0, or -ENOTSUP when the CPU lacks it.
 * Not thread-safe: call before decoding starts. */
int kin_b64_impl_set(enum kin_b64_impl impl);

/* ---- the PutRecords fast path (kinesis_scan.c) ---- */

#define KIN_DATA_MAX_MODEL 10485760 /* the Data member's bound in the API model */

/* One record of a scanned body: offsets into the scan's buffer. */
struct kin_scan_record {
	uint32_t data_off, data_len; /* Data, decoded */
	uint32_t key_off, key_len;   /* PartitionKey, copied */
	uint32_t ehk_off, ehk_len;   /* ExplicitHashKey, copied, when has_ehk */
	bool has_ehk;
};

struct kin_scan_put {
	const char *stream_name; /* spans of the body, NULL when absent */
	const char *stream_arn;
	size_t stream_name_len, stream_arn_len;
	uint32_t count; /* records */
	size_t bytes;   /* Data and PartitionKey bytes (the 5 MB rule) */
	size_t used;    /* bytes of the buffer used */
};

/*
 * Scan a PutRecords body of the shape SDKs send (the grammar is at the top
 * of kinesis_scan.c). true: the body is that shape and its records hold no
 * type or validation error; recs[0..count) and out describe it, and buf
 * holds the decoded data and copied keys. false: anything else; nothing
 * was answered and the body must go through jansson. recs has room for
 * SL_FRAME_RECORDS_MAX, buf for len bytes (enough: the body spends at
 * least as many bytes on each string as it decodes or copies to). Pure.
 */
bool kin_scan_put_records(const char *body, size_t len, struct kin_scan_record *recs, uint8_t *buf,
			  struct kin_scan_put *out);

/* ---- a call: one request from dispatch to reply ---- */

struct kin_call;
typedef void kin_op_fn(struct kin_call *c);

struct kin_call {
	struct sl_kinesis *k;
	const char *op; /* operation name, static */
	json_t *root;   /* the request's JSON object (owned) */
	char region[KIN_REGION_MAX + 1];
	char request_id[37];
	char id2[100];
	const char *content_type; /* of the reply, static */
	sl_kinesis_reply_fn *reply_fn;
	void *reply_ctx;
	/* validation errors gathered for one ValidationException */
	unsigned verr_count;
	size_t vmsg_len;
	char vmsg[KIN_MSG_MAX];
	/* type error (SerializationException), the first one */
	bool serr;
	char smsg[512];
	/* PutRecord(s) in flight: the operation's state, freed with the call */
	void *async;
	void (*async_done)(struct kin_call *c);
	void (*async_free)(void *async);
	uint32_t pending; /* appends not finished */
};

/* Answer with a body (taken: w is finished) and free the call. */
void kin_reply_ok(struct kin_call *c, struct kjw *w);
/* Answer an empty success ({}) and free the call. */
void kin_reply_empty(struct kin_call *c);
/* Answer an exception and free the call. */
__attribute__((format(printf, 3, 4))) void kin_reply_err(struct kin_call *c, enum kin_exc e,
							 const char *fmt, ...);
/* If a type or validation error was gathered, answer it and return true. */
bool kin_reply_gathered(struct kin_call *c);

/* ---- typed member access (kinesis_json.c) ----
 *
 * Each getter looks up `member` in obj (NULL: absent, as is JSON null)
 * and checks its JSON type the way Coral's deserializer does: a mismatch
 * records the first SerializationException of the call (c->serr) and the
 * getter reports the member absent. Returns true when present and usable.
 */
bool kin_get_str(struct kin_call *c, json_t *obj, const char *member, const char **s, size_t *len);
bool kin_get_int(struct kin_call *c, json_t *obj, const char *member, int64_t *v);
bool kin_get_bool(struct kin_call *c, json_t *obj, const char *member, bool *v);
/* A timestamp: epoch seconds (integer or fraction) into milliseconds. */
bool kin_get_ts(struct kin_call *c, json_t *obj, const char *member, int64_t *ms);
bool kin_get_obj(struct kin_call *c, json_t *obj, const char *member, json_t **out);
bool kin_get_list(struct kin_call *c, json_t *obj, const char *member, json_t **out);
bool kin_get_map(struct kin_call *c, json_t *obj, const char *member, json_t **out);
/* A Blob: checked as base64 (a type error when it is not); *len decoded. */
bool kin_get_blob(struct kin_call *c, json_t *obj, const char *member, const char **b64,
		  size_t *b64_len, size_t *len);
/* A list element that must be a structure / string (a type error if not). */
bool kin_elem_obj(struct kin_call *c, json_t *v);
bool kin_elem_str(struct kin_call *c, json_t *v, const char **s, size_t *len);

/* ---- validation (ValidationException, Coral's wording) ----
 *
 * path is the member's name with a lower-case first letter, as Kinesis
 * prints it ("streamName", "records.3.member.partitionKey").
 */
void kin_verr(struct kin_call *c, const char *path, const char *value, size_t value_len,
	      bool value_null, const char *constraint);
void kin_v_notnull(struct kin_call *c, const char *path, bool present);
/* String length and pattern checks for a present string. */
void kin_v_strlen(struct kin_call *c, const char *path, const char *s, size_t len, size_t min,
		  size_t max);
void kin_v_blobmax(struct kin_call *c, const char *path, size_t len, size_t max);
void kin_v_range(struct kin_call *c, const char *path, int64_t v, int64_t min, int64_t max);
void kin_v_pattern(struct kin_call *c, const char *path, const char *s, size_t len, bool ok,
		   const char *pattern);
/* Checks of the shapes Kinesis uses again and again. */
#define KIN_PAT_NAME "[a-zA-Z0-9_.-]+"
#define KIN_PAT_SEQ  "0|([1-9]\\d{0,128})"
#define KIN_PAT_HASH "0|([1-9]\\d{0,38})"
#define KIN_PAT_ARN  "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
#define KIN_PAT_RARN "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"
bool kin_match_name(const char *s, size_t len);
bool kin_match_digits(const char *s, size_t len, size_t max_after_first); /* 0|[1-9]\d{0,N} */
void kin_v_stream_name(struct kin_call *c, const char *path, const char *s, size_t len);
void kin_v_shard_id(struct kin_call *c, const char *path, const char *s, size_t len);
void kin_v_stream_arn(struct kin_call *c, const char *path, const char *s, size_t len,
		      bool resource);

/* ---- the API object ---- */

struct sl_kinesis {
	struct sl_store *store;
	char account[SL_KINESIS_ACCOUNT_ID_LEN + 1];
	uint32_t inflight_max;
	uint32_t shard_limit;
	uint8_t key[32]; /* signs iterators and NextTokens */
	uint64_t rng[4]; /* request ids */
	/* completions: writer threads -> loop */
	struct sl_ring *done_ring;
	int done_fd;
	int done_signalled; /* atomic: an eventfd write is pending */
	uint32_t inflight;
	/* GetRecords scratch, allocated once */
	struct sl_read_record *rrecs;
	uint8_t *rbuf;
	/* PutRecords fast path scratch: SL_FRAME_RECORDS_MAX records */
	struct kin_scan_record *scan_recs;
	bool scan_off; /* tests: every PutRecords body through jansson */
	struct sl_kinesis_stats stats;
	char http_rid[37]; /* the HTTP server's own refusals (kinesis_http.c) */
	char http_id2[100];
};

/* ---- stream addressing (kinesis_streams.c) ---- */

/* StreamName / StreamARN of a request, validated. */
struct kin_stream_ref {
	const char *name;
	size_t name_len;
	const char *arn;
	size_t arn_len;
};

/* Read and validate StreamName and StreamARN (both optional in the model). */
void kin_get_stream_ref(struct kin_call *c, struct kin_stream_ref *ref);
/* Validate the members ref holds (kin_get_stream_ref's checks). */
void kin_stream_ref_check(struct kin_call *c, const struct kin_stream_ref *ref);
/* The name the reference means (StreamName, or the name in StreamARN);
 * answers (InvalidArgument, ResourceNotFound) and returns false if none. */
bool kin_ref_name(struct kin_call *c, const struct kin_stream_ref *ref, const char **name,
		  size_t *len);
/*
 * The stream the reference names, from the metadata. On failure answers
 * the request (InvalidArgument for neither or both-disagreeing,
 * ResourceNotFound) and returns false.
 */
bool kin_stream_resolve(struct kin_call *c, const struct kin_stream_ref *ref,
			struct sl_meta_stream *out);
/* The stream name an ARN names when it is one of ours (account, region). */
bool kin_arn_stream(struct kin_call *c, const char *arn, size_t len, const char **name,
		    size_t *name_len);
void kin_arn_format(const struct kin_call *c, const char *name, char *out, size_t cap);
void kin_shard_id_format(uint32_t id, char out[KIN_SHARD_ID_BUF]);
/* Parse "shardId-000000000001" (or the bare number). */
bool kin_shard_id_parse(const char *s, size_t len, uint32_t *id);
/* A "Stream X under account Y not found." answer. */
void kin_reply_no_stream(struct kin_call *c, const char *name, size_t len);
/* Write a shard the way DescribeStream and ListShards show it. */
void kin_write_shard(struct kjw *w, const struct sl_meta_shard *sh);
void kin_write_mode(struct kjw *w, enum sl_stream_mode mode);

/* ---- tags (kinesis_tags.c), also used by CreateStream ---- */

/* Validate a TagMap member (count, key and value lengths). */
void kin_tags_check_map(struct kin_call *c, json_t *tags, const char *path);
/* Kinesis's character rules for tag keys and values; answers and returns
 * false when broken. verb: "add tags to". */
bool kin_tags_check_chars(struct kin_call *c, json_t *tags, const char *verb, const char *name);
/* Store the tags; answers (LimitExceeded, InternalFailure) and returns
 * -errno on failure. */
int kin_tags_store(struct kin_call *c, uint32_t stream_id, json_t *tags);

/* ---- signed tokens: shard iterators and NextTokens (kinesis_records.c) ---- */

#define KIN_TOKEN_B64_MAX 264

enum kin_token_kind {
	KIN_TOK_ITERATOR = 1,
	KIN_TOK_LIST_SHARDS = 2,
	KIN_TOK_LIST_STREAMS = 3,
};

struct kin_token {
	uint8_t kind;
	uint8_t from; /* iterators: enum sl_read_from */
	uint32_t stream_id;
	uint32_t shard_id;
	uint64_t created_ms;
	uint64_t time_ms; /* AT_TIMESTAMP */
	sl_u128 seq;
	uint32_t aux; /* ListShards: the page size; ListStreams: the limit */
	uint32_t name_len;
	char name[SL_STREAM_NAME_MAX + 1]; /* ListStreams: the last name */
};

/* Encode (signed, base64) into out, NUL-terminated; returns the length. */
size_t kin_token_encode(const struct sl_kinesis *k, const struct kin_token *t,
			char out[KIN_TOKEN_B64_MAX + 1]);
/* Decode and verify. false when malformed or forged. */
bool kin_token_decode(const struct sl_kinesis *k, const char *s, size_t len, struct kin_token *t);

/* ---- operations ---- */

kin_op_fn kin_op_create_stream, kin_op_delete_stream, kin_op_describe_stream,
    kin_op_describe_stream_summary, kin_op_list_streams, kin_op_list_shards,
    kin_op_increase_retention, kin_op_decrease_retention, kin_op_describe_limits;
kin_op_fn kin_op_add_tags_to_stream, kin_op_remove_tags_from_stream, kin_op_list_tags_for_stream,
    kin_op_tag_resource, kin_op_untag_resource, kin_op_list_tags_for_resource;
kin_op_fn kin_op_put_record, kin_op_put_records, kin_op_get_shard_iterator, kin_op_get_records;

/*
 * kinesis.c, before parsing a PutRecords body with jansson: the fast path
 * (kinesis_scan.c). true: the body was scanned, c->async holds the
 * request's records and kin_op_put_records finishes it (c->root stays
 * NULL); false: not the shape the scanner takes, parse it as usual.
 */
bool kin_put_records_scan(struct kin_call *c, const uint8_t *body, size_t len);

/* kinesis.c: hand an append to storage on behalf of c (counts it in
 * flight); 0 or the store's -errno (-ENOBUFS also when the in-flight bound
 * is reached). */
int kin_append(struct kin_call *c, struct sl_shard *sh, struct sl_append *app);

/* A request id (UUID v4) and an x-amz-id-2 value. Loop thread. */
void kin_make_ids(struct sl_kinesis *k, char request_id[37], char id2[100]);

/* Milliseconds, wall clock (arrival times, iterator ages). */
uint64_t kin_now_ms(void);

#endif /* SLUICE_KINESIS_INTERNAL_H */
