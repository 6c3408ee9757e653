/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kinesis stream management: CreateStream, DeleteStream, DescribeStream,
 * DescribeStreamSummary, ListStreams, ListShards, Increase/Decrease
 * StreamRetentionPeriod, DescribeLimits; and how a request names a stream
 * (StreamName, StreamARN, or both, which must agree).
 *
 * Streams live in the metadata (meta.h); creation and deletion go through
 * the store, which also builds the shard map the ingest paths route with.
 * Deviations from Kinesis, kept small on purpose:
 * - a stream is ACTIVE when CreateStream returns (Kinesis: CREATING for
 *   a few seconds), and gone when DeleteStream returns (DELETING first);
 * - ListShards' ShardFilter: closing times of shards are not kept yet
 *   (there is no resharding yet), so AT_LATEST lists the open shards and
 *   every other filter every shard after its starting point.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/log.h>

#include "kinesis_internal.h"

#define DESCRIBE_LIMIT_DEFAULT  100
#define LIST_STREAMS_DEFAULT    100
#define LIST_SHARDS_DEFAULT     1000
#define ON_DEMAND_SHARDS        4
#define ON_DEMAND_STREAMS_LIMIT 50
#define NEXT_TOKEN_MAX          1048576

/* enum sl_durability, as SluiceDurability spells it. */
static const char *const durability_names[] = {
    [SL_DURABILITY_FSYNC] = "fsync",
    [SL_DURABILITY_WRITE] = "write",
    [SL_DURABILITY_NONE] = "none",
};

static const char *const status_names[] = {
    [SL_STREAM_CREATING] = "CREATING",
    [SL_STREAM_ACTIVE] = "ACTIVE",
    [SL_STREAM_DELETING] = "DELETING",
    [SL_STREAM_UPDATING] = "UPDATING",
};

/* ---- naming a stream ---- */

void kin_shard_id_format(uint32_t id, char out[KIN_SHARD_ID_BUF])
{
	snprintf(out, KIN_SHARD_ID_BUF, "shardId-%012u", id);
}

bool kin_shard_id_parse(const char *s, size_t len, uint32_t *id)
{
	static const char prefix[] = "shardId-";
	if (len > sizeof(prefix) - 1 && memcmp(s, prefix, sizeof(prefix) - 1) == 0) {
		s += sizeof(prefix) - 1;
		len -= sizeof(prefix) - 1;
	}
	if (len == 0 || len > 12)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

void kin_arn_format(const struct kin_call *c, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "arn:aws:kinesis:%s:%s:stream/%s", c->region, c->k->account, name);
}

void kin_reply_no_stream(struct kin_call *c, const char *name, size_t len)
{
	kin_reply_err(c, KX_RESOURCE_NOT_FOUND, "Stream %.*s under account %s not found.", (int)len,
		      name, c->k->account);
}

/* The i-th ':'-separated field of an ARN. */
static bool arn_field(const char *s, size_t len, unsigned i, const char **f, size_t *flen)
{
	size_t start = 0;
	for (size_t p = 0, n = 0; p <= len; p++) {
		if (p < len && s[p] != ':')
			continue;
		if (n++ == i) {
			*f = s + start;
			*flen = p - start;
			return true;
		}
		start = p + 1;
	}
	return false;
}

bool kin_arn_stream(struct kin_call *c, const char *arn, size_t len, const char **name,
		    size_t *name_len)
{
	const char *region, *account, *res;
	size_t rlen, alen, reslen;
	if (!arn_field(arn, len, 3, &region, &rlen) || !arn_field(arn, len, 4, &account, &alen) ||
	    !arn_field(arn, len, 5, &res, &reslen))
		return false;
	reslen = len - (size_t)(res - arn); /* the resource may hold ':' */
	if (rlen != strlen(c->region) || memcmp(region, c->region, rlen) != 0)
		return false;
	if (alen != SL_KINESIS_ACCOUNT_ID_LEN || memcmp(account, c->k->account, alen) != 0)
		return false;
	if (reslen <= 7 || memcmp(res, "stream/", 7) != 0)
		return false;
	*name = res + 7;
	*name_len = reslen - 7;
	return kin_match_name(*name, *name_len) && *name_len <= SL_STREAM_NAME_MAX;
}

void kin_get_stream_ref(struct kin_call *c, struct kin_stream_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	kin_get_str(c, c->root, "StreamName", &ref->name, &ref->name_len);
	kin_get_str(c, c->root, "StreamARN", &ref->arn, &ref->arn_len);
	kin_stream_ref_check(c, ref);
}

void kin_stream_ref_check(struct kin_call *c, const struct kin_stream_ref *ref)
{
	if (ref->name != NULL)
		kin_v_stream_name(c, "streamName", ref->name, ref->name_len);
	if (ref->arn != NULL)
		kin_v_stream_arn(c, "streamARN", ref->arn, ref->arn_len, false);
}

bool kin_ref_name(struct kin_call *c, const struct kin_stream_ref *ref, const char **name,
		  size_t *len)
{
	if (ref->name == NULL && ref->arn == NULL) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Either StreamName or StreamARN must be provided.");
		return false;
	}
	if (ref->arn == NULL) {
		*name = ref->name;
		*len = ref->name_len;
		return true;
	}
	if (!kin_arn_stream(c, ref->arn, ref->arn_len, name, len)) {
		kin_reply_err(c, KX_RESOURCE_NOT_FOUND, "StreamARN %.*s not found.",
			      (int)ref->arn_len, ref->arn);
		return false;
	}
	if (ref->name != NULL && (ref->name_len != *len || memcmp(ref->name, *name, *len) != 0)) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "StreamARN %.*s and StreamName %.*s do not name the same stream.",
			      (int)ref->arn_len, ref->arn, (int)ref->name_len, ref->name);
		return false;
	}
	return true;
}

bool kin_stream_resolve(struct kin_call *c, const struct kin_stream_ref *ref,
			struct sl_meta_stream *out)
{
	const char *name;
	size_t len;
	char z[SL_STREAM_NAME_MAX + 1];
	if (!kin_ref_name(c, ref, &name, &len))
		return false;
	SL_ASSERT(len <= SL_STREAM_NAME_MAX);
	memcpy(z, name, len);
	z[len] = '\0';
	int rc = sl_meta_stream_get(sl_store_meta(c->k->store), z, out);
	if (rc == -ENOENT) {
		kin_reply_no_stream(c, name, len);
		return false;
	}
	if (rc != 0) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the metadata failed.");
		return false;
	}
	return true;
}

/* ---- writing streams and shards ---- */

void kin_write_mode(struct kjw *w, enum sl_stream_mode mode)
{
	kjw_obj_begin(w);
	kjw_key(w, "StreamMode");
	kjw_cstr(w, mode == SL_STREAM_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED");
	kjw_obj_end(w);
}

static void write_shard_ref(struct kjw *w, const char *key, int64_t id)
{
	char sid[KIN_SHARD_ID_BUF];
	if (id < 0)
		return;
	kin_shard_id_format((uint32_t)id, sid);
	kjw_key(w, key);
	kjw_cstr(w, sid);
}

void kin_write_shard(struct kjw *w, const struct sl_meta_shard *sh)
{
	char sid[KIN_SHARD_ID_BUF];
	kin_shard_id_format(sh->shard_id, sid);
	kjw_obj_begin(w);
	kjw_key(w, "ShardId");
	kjw_cstr(w, sid);
	write_shard_ref(w, "ParentShardId", sh->parent_id);
	write_shard_ref(w, "AdjacentParentShardId", sh->adjacent_parent_id);
	kjw_key(w, "HashKeyRange");
	kjw_obj_begin(w);
	kjw_key(w, "StartingHashKey");
	kjw_u128(w, sh->start_hash);
	kjw_key(w, "EndingHashKey");
	kjw_u128(w, sh->end_hash);
	kjw_obj_end(w);
	kjw_key(w, "SequenceNumberRange");
	kjw_obj_begin(w);
	kjw_key(w, "StartingSequenceNumber");
	kjw_u128(w, sl_u128_make(sh->seq_prefix, 0));
	if (sh->closed) {
		kjw_key(w, "EndingSequenceNumber");
		kjw_u128(w, sh->end_seq);
	}
	kjw_obj_end(w);
	kjw_obj_end(w);
}

static void write_common(struct kin_call *c, struct kjw *w, const struct sl_meta_stream *s)
{
	char arn[KIN_ARN_MAX];
	kin_arn_format(c, s->name, arn, sizeof(arn));
	kjw_key(w, "StreamName");
	kjw_cstr(w, s->name);
	kjw_key(w, "StreamARN");
	kjw_cstr(w, arn);
	kjw_key(w, "StreamStatus");
	kjw_cstr(w, status_names[s->status]);
	kjw_key(w, "StreamModeDetails");
	kin_write_mode(w, s->mode);
	kjw_key(w, "RetentionPeriodHours");
	kjw_u64(w, s->retention_hours);
	/* A sluice extension (SDKs ignore members they do not know). */
	kjw_key(w, "SluiceDurability");
	kjw_cstr(w, durability_names[s->durability]);
	kjw_key(w, "StreamCreationTimestamp");
	kjw_ts_ms(w, s->created_ms);
	kjw_key(w, "EnhancedMonitoring");
	kjw_arr_begin(w);
	kjw_obj_begin(w);
	kjw_key(w, "ShardLevelMetrics");
	kjw_arr_begin(w);
	kjw_arr_end(w);
	kjw_obj_end(w);
	kjw_arr_end(w);
	kjw_key(w, "EncryptionType");
	kjw_cstr(w, "NONE");
}

/* ---- account-wide counts ---- */

struct totals {
	uint64_t open_shards;
	uint32_t on_demand;
};

static int add_totals(const struct sl_meta_stream *s, void *arg)
{
	struct totals *t = arg;
	t->open_shards += s->open_shard_count;
	t->on_demand += s->mode == SL_STREAM_ON_DEMAND;
	return 0;
}

static bool account_totals(struct kin_call *c, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	if (sl_meta_stream_list(sl_store_meta(c->k->store), NULL, UINT32_MAX, add_totals, t) == 0)
		return true;
	kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the metadata failed.");
	return false;
}

/* ---- CreateStream ---- */

struct create_args {
	enum sl_durability durability;
	const char *name;
	size_t name_len;
	int64_t shards;
	bool has_shards, has_mode;
	enum sl_stream_mode mode;
	int64_t max_kib;
	bool has_max_kib;
	json_t *tags;
};

static void create_mode(struct kin_call *c, struct create_args *a)
{
	json_t *md;
	const char *m;
	size_t mlen;
	if (!kin_get_obj(c, c->root, "StreamModeDetails", &md))
		return;
	a->has_mode = kin_get_str(c, md, "StreamMode", &m, &mlen);
	kin_v_notnull(c, "streamModeDetails.streamMode", a->has_mode);
	if (!a->has_mode)
		return;
	if (mlen == 9 && memcmp(m, "ON_DEMAND", 9) == 0)
		a->mode = SL_STREAM_ON_DEMAND;
	else if (mlen == 11 && memcmp(m, "PROVISIONED", 11) == 0)
		a->mode = SL_STREAM_PROVISIONED;
	else
		kin_verr(c, "streamModeDetails.streamMode", m, mlen, false,
			 "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]");
}

/*
 * SluiceDurability (a sluice extension; AWS SDKs never send it, the sluice
 * CLI and raw clients may): "fsync" (the default), "write" or "none", as
 * SPEC §4 defines them.
 */
static void create_durability(struct kin_call *c, struct create_args *a)
{
	const char *m;
	size_t len;
	a->durability = SL_DURABILITY_FSYNC;
	if (!kin_get_str(c, c->root, "SluiceDurability", &m, &len))
		return;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(durability_names); i++) {
		if (len == strlen(durability_names[i]) &&
		    memcmp(m, durability_names[i], len) == 0) {
			a->durability = (enum sl_durability)i;
			return;
		}
	}
	kin_verr(c, "sluiceDurability", m, len, false,
		 "Member must satisfy enum value set: [fsync, write, none]");
}

static bool create_read(struct kin_call *c, struct create_args *a)
{
	memset(a, 0, sizeof(*a));
	create_durability(c, a);
	a->has_shards = kin_get_int(c, c->root, "ShardCount", &a->shards);
	if (a->has_shards)
		kin_v_range(c, "shardCount", a->shards, 1, INT32_MAX);
	bool has_name = kin_get_str(c, c->root, "StreamName", &a->name, &a->name_len);
	kin_v_notnull(c, "streamName", has_name);
	if (has_name)
		kin_v_stream_name(c, "streamName", a->name, a->name_len);
	create_mode(c, a);
	if (kin_get_map(c, c->root, "Tags", &a->tags))
		kin_tags_check_map(c, a->tags, "tags");
	a->has_max_kib = kin_get_int(c, c->root, "MaxRecordSizeInKiB", &a->max_kib);
	if (a->has_max_kib)
		kin_v_range(c, "maxRecordSizeInKiB", a->max_kib, 1024, 10240);
	int64_t warm;
	if (kin_get_int(c, c->root, "WarmThroughputMiBps", &warm))
		kin_v_range(c, "warmThroughputMiBps", warm, 0, INT32_MAX);
	return !kin_reply_gathered(c);
}

/* Shard count and limits; answers and returns false when refused. */
static bool create_shards(struct kin_call *c, struct create_args *a, uint32_t *shards)
{
	struct totals t;
	if (a->has_mode && a->mode == SL_STREAM_ON_DEMAND && a->has_shards) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "ShardCount must not be given for a stream in ON_DEMAND mode.");
		return false;
	}
	if (a->has_mode && a->mode == SL_STREAM_PROVISIONED && !a->has_shards) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "ShardCount is required for a stream in PROVISIONED mode.");
		return false;
	}
	if (!a->has_mode)
		a->mode = a->has_shards ? SL_STREAM_PROVISIONED : SL_STREAM_ON_DEMAND;
	*shards = a->has_shards ? (uint32_t)a->shards : ON_DEMAND_SHARDS;
	if (!account_totals(c, &t))
		return false;
	if (a->mode == SL_STREAM_ON_DEMAND && t.on_demand >= ON_DEMAND_STREAMS_LIMIT) {
		kin_reply_err(c, KX_LIMIT_EXCEEDED,
			      "This request would exceed the limit of %u ON_DEMAND streams for "
			      "the account %s in %s.",
			      ON_DEMAND_STREAMS_LIMIT, c->k->account, c->region);
		return false;
	}
	if (*shards > SL_SHARDS_PER_STREAM_MAX || t.open_shards + *shards > c->k->shard_limit) {
		kin_reply_err(c, KX_LIMIT_EXCEEDED,
			      "This request would exceed the shard limit for the account %s in %s. "
			      "Current limit of shards is %u (at most %u in one stream), number of "
			      "shards across all streams is %llu and requested shard count is %u.",
			      c->k->account, c->region, c->k->shard_limit, SL_SHARDS_PER_STREAM_MAX,
			      (unsigned long long)t.open_shards, *shards);
		return false;
	}
	return true;
}

void kin_op_create_stream(struct kin_call *c)
{
	struct create_args a;
	uint32_t shards;
	if (!create_read(c, &a))
		return;
	struct sl_meta_stream s = {
	    .durability = a.durability,
	    .retention_hours = SL_META_RETENTION_H_MIN,
	    .max_record_bytes = a.has_max_kib ? (uint32_t)a.max_kib << 10 : SL_RECORD_SIZE_DEFAULT,
	};
	memcpy(s.name, a.name, a.name_len);
	if (a.tags != NULL && !kin_tags_check_chars(c, a.tags, "add tags to", s.name))
		return;
	if (!create_shards(c, &a, &shards))
		return;
	s.mode = a.mode;
	int rc = sl_store_stream_create(c->k->store, &s, shards);
	if (rc == -EEXIST) {
		kin_reply_err(c, KX_RESOURCE_IN_USE, "Stream %s under account %s already exists.",
			      s.name, c->k->account);
		return;
	}
	if (rc == -ENOSPC) {
		kin_reply_err(c, KX_LIMIT_EXCEEDED, "The appliance holds no more shards.");
		return;
	}
	if (rc != 0) {
		SL_ERR("kinesis", "CreateStream %s: %s", s.name, strerror(-rc));
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Creating the stream failed.");
		return;
	}
	if (a.tags != NULL && kin_tags_store(c, s.id, a.tags) != 0)
		return;
	kin_reply_empty(c);
}

/* ---- DeleteStream ---- */

void kin_op_delete_stream(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	bool enforce;
	kin_get_stream_ref(c, &ref);
	kin_get_bool(c, c->root, "EnforceConsumerDeletion", &enforce);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	/* No consumers exist yet, so EnforceConsumerDeletion changes nothing. */
	int rc = sl_store_stream_delete(c->k->store, s.id);
	if (rc == -ENOENT) {
		kin_reply_no_stream(c, s.name, strlen(s.name));
		return;
	}
	if (rc != 0) {
		SL_ERR("kinesis", "DeleteStream %s: %s", s.name, strerror(-rc));
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Deleting the stream failed.");
		return;
	}
	kin_reply_empty(c);
}

/* ---- DescribeStream ---- */

struct shard_page {
	struct kjw *w;
	const char *after; /* exclusive start shard id, or NULL */
	size_t after_len;
	uint32_t limit, count;
	bool more;
	bool open_only;
	uint32_t last_id;
};

/* Whether a[0..alen) sorts after b[0..blen), bytewise. */
static bool str_after(const char *a, size_t alen, const char *b, size_t blen)
{
	int cmp = memcmp(a, b, alen < blen ? alen : blen);
	return cmp > 0 || (cmp == 0 && alen > blen);
}

/* Whether the formatted id of sh sorts after the caller's start (shard ids
 * are fixed-width, so this is their numeric order). */
static bool shard_after(const struct sl_meta_shard *sh, const char *after, size_t after_len)
{
	char sid[KIN_SHARD_ID_BUF];
	if (after == NULL)
		return true;
	kin_shard_id_format(sh->shard_id, sid);
	return str_after(sid, strlen(sid), after, after_len);
}

static int page_shard(const struct sl_meta_shard *sh, void *arg)
{
	struct shard_page *p = arg;
	if (!shard_after(sh, p->after, p->after_len) || (p->open_only && sh->closed))
		return 0;
	if (p->count == p->limit) {
		p->more = true;
		return 1; /* stop */
	}
	kin_write_shard(p->w, sh);
	p->count++;
	p->last_id = sh->shard_id;
	return 0;
}

void kin_op_describe_stream(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	struct shard_page p = {.limit = DESCRIBE_LIMIT_DEFAULT};
	int64_t limit;
	kin_get_stream_ref(c, &ref);
	if (kin_get_int(c, c->root, "Limit", &limit)) {
		kin_v_range(c, "limit", limit, 1, 10000);
		p.limit = (uint32_t)(limit < 1 ? 1 : limit);
	}
	if (kin_get_str(c, c->root, "ExclusiveStartShardId", &p.after, &p.after_len))
		kin_v_shard_id(c, "exclusiveStartShardId", p.after, p.after_len);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	struct kjw w;
	kjw_init(&w, 1024);
	p.w = &w;
	kjw_obj_begin(&w);
	kjw_key(&w, "StreamDescription");
	kjw_obj_begin(&w);
	write_common(c, &w, &s);
	kjw_key(&w, "Shards");
	kjw_arr_begin(&w);
	int rc = sl_meta_shard_list(sl_store_meta(c->k->store), s.id, page_shard, &p);
	kjw_arr_end(&w);
	kjw_key(&w, "HasMoreShards");
	kjw_bool(&w, p.more);
	kjw_obj_end(&w);
	kjw_obj_end(&w);
	if (rc < 0) {
		kjw_fini(&w);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the metadata failed.");
		return;
	}
	kin_reply_ok(c, &w);
}

void kin_op_describe_stream_summary(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	kin_get_stream_ref(c, &ref);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	struct kjw w;
	kjw_init(&w, 1024);
	kjw_obj_begin(&w);
	kjw_key(&w, "StreamDescriptionSummary");
	kjw_obj_begin(&w);
	write_common(c, &w, &s);
	kjw_key(&w, "OpenShardCount");
	kjw_u64(&w, s.open_shard_count);
	kjw_key(&w, "ConsumerCount");
	kjw_u64(&w, 0);
	kjw_key(&w, "MaxRecordSizeInKiB");
	kjw_u64(&w, s.max_record_bytes >> 10);
	kjw_obj_end(&w);
	kjw_obj_end(&w);
	kin_reply_ok(c, &w);
}

/* ---- ListStreams ---- */

struct stream_rows {
	struct sl_meta_stream *v;
	uint32_t n, cap;
};

static int take_stream(const struct sl_meta_stream *s, void *arg)
{
	struct stream_rows *r = arg;
	SL_ASSERT(r->n < r->cap);
	r->v[r->n++] = *s;
	return 0;
}

static void write_streams(struct kin_call *c, struct kjw *w, const struct stream_rows *r,
			  uint32_t limit)
{
	char arn[KIN_ARN_MAX];
	uint32_t shown = r->n < limit ? r->n : limit;
	kjw_key(w, "StreamNames");
	kjw_arr_begin(w);
	for (uint32_t i = 0; i < shown; i++)
		kjw_cstr(w, r->v[i].name);
	kjw_arr_end(w);
	kjw_key(w, "HasMoreStreams");
	kjw_bool(w, r->n > limit);
	kjw_key(w, "StreamSummaries");
	kjw_arr_begin(w);
	for (uint32_t i = 0; i < shown; i++) {
		kin_arn_format(c, r->v[i].name, arn, sizeof(arn));
		kjw_obj_begin(w);
		kjw_key(w, "StreamName");
		kjw_cstr(w, r->v[i].name);
		kjw_key(w, "StreamARN");
		kjw_cstr(w, arn);
		kjw_key(w, "StreamStatus");
		kjw_cstr(w, status_names[r->v[i].status]);
		kjw_key(w, "StreamModeDetails");
		kin_write_mode(w, r->v[i].mode);
		kjw_key(w, "StreamCreationTimestamp");
		kjw_ts_ms(w, r->v[i].created_ms);
		kjw_obj_end(w);
	}
	kjw_arr_end(w);
}

static void write_list_token(struct kin_call *c, struct kjw *w, const struct sl_meta_stream *last,
			     uint32_t limit)
{
	struct kin_token t = {.kind = KIN_TOK_LIST_STREAMS,
			      .created_ms = kin_now_ms(),
			      .aux = limit,
			      .name_len = (uint32_t)strlen(last->name)};
	char tok[KIN_TOKEN_B64_MAX + 1];
	memcpy(t.name, last->name, t.name_len + 1);
	size_t n = kin_token_encode(c->k, &t, tok);
	kjw_key(w, "NextToken");
	kjw_str(w, tok, n);
}

/* Where a listing starts, from NextToken or ExclusiveStartStreamName. */
static bool list_start(struct kin_call *c, const char *tok, size_t tok_len, const char *after,
		       size_t after_len, char start[SL_STREAM_NAME_MAX + 1], uint32_t *page)
{
	struct kin_token t;
	start[0] = '\0';
	if (tok != NULL && after != NULL) {
		kin_reply_err(
		    c, KX_INVALID_ARGUMENT,
		    "NextToken and ExclusiveStartStreamName cannot be provided together.");
		return false;
	}
	if (after != NULL) {
		memcpy(start, after, after_len);
		start[after_len] = '\0';
		return true;
	}
	if (tok == NULL)
		return true;
	if (!kin_token_decode(c->k, tok, tok_len, &t) || t.kind != KIN_TOK_LIST_STREAMS) {
		kin_reply_err(c, KX_INVALID_ARGUMENT, "Invalid NextToken.");
		return false;
	}
	if (kin_now_ms() - t.created_ms > SL_KINESIS_ITERATOR_TTL_MS) {
		kin_reply_err(c, KX_EXPIRED_NEXT_TOKEN, "The NextToken has expired.");
		return false;
	}
	memcpy(start, t.name, t.name_len + 1);
	if (*page == 0) /* no Limit: the page size the listing started with */
		*page = t.aux >= 1 && t.aux <= 10000 ? t.aux : LIST_STREAMS_DEFAULT;
	return true;
}

void kin_op_list_streams(struct kin_call *c)
{
	int64_t limit = 0;
	uint32_t page = 0;
	const char *after = NULL, *tok = NULL;
	size_t after_len = 0, tok_len = 0;
	char start[SL_STREAM_NAME_MAX + 1];
	if (kin_get_int(c, c->root, "Limit", &limit)) {
		kin_v_range(c, "limit", limit, 1, 10000);
		page = (uint32_t)(limit < 1 ? 1 : limit);
	}
	if (kin_get_str(c, c->root, "ExclusiveStartStreamName", &after, &after_len))
		kin_v_stream_name(c, "exclusiveStartStreamName", after, after_len);
	if (kin_get_str(c, c->root, "NextToken", &tok, &tok_len))
		kin_v_strlen(c, "nextToken", tok, tok_len, 1, NEXT_TOKEN_MAX);
	if (kin_reply_gathered(c) || !list_start(c, tok, tok_len, after, after_len, start, &page))
		return;
	limit = page ? page : LIST_STREAMS_DEFAULT;
	struct stream_rows r = {.cap = (uint32_t)limit + 1};
	r.v = malloc(r.cap * sizeof(*r.v));
	if (r.v == NULL) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Out of memory.");
		return;
	}
	int rc = sl_meta_stream_list(sl_store_meta(c->k->store), start[0] ? start : NULL, r.cap,
				     take_stream, &r);
	if (rc != 0) {
		free(r.v);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the metadata failed.");
		return;
	}
	struct kjw w;
	kjw_init(&w, 256 + (size_t)r.n * 400);
	kjw_obj_begin(&w);
	write_streams(c, &w, &r, (uint32_t)limit);
	if (r.n > (uint32_t)limit)
		write_list_token(c, &w, &r.v[limit - 1], (uint32_t)limit);
	kjw_obj_end(&w);
	free(r.v);
	kin_reply_ok(c, &w);
}

/* ---- ListShards ---- */

enum shard_filter {
	SF_NONE = 0,
	SF_AFTER_SHARD_ID,
	SF_AT_TRIM_HORIZON,
	SF_FROM_TRIM_HORIZON,
	SF_AT_LATEST,
	SF_AT_TIMESTAMP,
	SF_FROM_TIMESTAMP,
};

static const char *const filter_names[] = {
    [SF_AFTER_SHARD_ID] = "AFTER_SHARD_ID",       [SF_AT_TRIM_HORIZON] = "AT_TRIM_HORIZON",
    [SF_FROM_TRIM_HORIZON] = "FROM_TRIM_HORIZON", [SF_AT_LATEST] = "AT_LATEST",
    [SF_AT_TIMESTAMP] = "AT_TIMESTAMP",           [SF_FROM_TIMESTAMP] = "FROM_TIMESTAMP",
};

struct list_shards_args {
	struct kin_stream_ref ref;
	const char *tok, *after, *filter_shard;
	size_t tok_len, after_len, filter_shard_len;
	int64_t max, created_ms, filter_ms;
	bool has_max, has_created, has_filter_ms;
	enum shard_filter filter;
};

static void read_filter(struct kin_call *c, struct list_shards_args *a)
{
	json_t *f;
	const char *type;
	size_t tlen;
	if (!kin_get_obj(c, c->root, "ShardFilter", &f))
		return;
	bool has_type = kin_get_str(c, f, "Type", &type, &tlen);
	kin_v_notnull(c, "shardFilter.type", has_type);
	for (unsigned i = 1; has_type && i < SL_ARRAY_SIZE(filter_names); i++) {
		if (strlen(filter_names[i]) == tlen && memcmp(filter_names[i], type, tlen) == 0)
			a->filter = (enum shard_filter)i;
	}
	if (has_type && a->filter == SF_NONE)
		kin_verr(c, "shardFilter.type", type, tlen, false,
			 "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, "
			 "FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]");
	if (kin_get_str(c, f, "ShardId", &a->filter_shard, &a->filter_shard_len))
		kin_v_shard_id(c, "shardFilter.shardId", a->filter_shard, a->filter_shard_len);
	a->has_filter_ms = kin_get_ts(c, f, "Timestamp", &a->filter_ms);
}

static bool list_shards_read(struct kin_call *c, struct list_shards_args *a)
{
	memset(a, 0, sizeof(*a));
	kin_get_stream_ref(c, &a->ref);
	if (kin_get_str(c, c->root, "NextToken", &a->tok, &a->tok_len))
		kin_v_strlen(c, "nextToken", a->tok, a->tok_len, 1, NEXT_TOKEN_MAX);
	if (kin_get_str(c, c->root, "ExclusiveStartShardId", &a->after, &a->after_len))
		kin_v_shard_id(c, "exclusiveStartShardId", a->after, a->after_len);
	a->has_max = kin_get_int(c, c->root, "MaxResults", &a->max);
	if (a->has_max)
		kin_v_range(c, "maxResults", a->max, 1, 10000);
	a->has_created = kin_get_ts(c, c->root, "StreamCreationTimestamp", &a->created_ms);
	read_filter(c, a);
	return !kin_reply_gathered(c);
}

/* The filter's own rules (InvalidArgumentException). */
static bool filter_check(struct kin_call *c, const struct list_shards_args *a)
{
	bool wants_shard = a->filter == SF_AFTER_SHARD_ID;
	bool wants_time = a->filter == SF_AT_TIMESTAMP || a->filter == SF_FROM_TIMESTAMP;
	if (a->filter == SF_NONE)
		return true;
	if (wants_shard != (a->filter_shard != NULL)) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      wants_shard ? "ShardFilter of type AFTER_SHARD_ID requires a ShardId."
					  : "ShardFilter.ShardId is only valid with type "
					    "AFTER_SHARD_ID.");
		return false;
	}
	if (wants_time != a->has_filter_ms) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      wants_time ? "ShardFilter of type %s requires a Timestamp."
					 : "ShardFilter.Timestamp is only valid with type %s.",
			      wants_time ? filter_names[a->filter]
					 : "AT_TIMESTAMP or FROM_TIMESTAMP");
		return false;
	}
	return true;
}

/* With a NextToken: the stream and the place the token carries. */
static bool list_shards_token(struct kin_call *c, struct list_shards_args *a,
			      struct sl_meta_stream *s, struct kin_token *t)
{
	const char *other = a->ref.name != NULL  ? "StreamName"
			    : a->ref.arn != NULL ? "StreamARN"
			    : a->after != NULL   ? "ExclusiveStartShardId"
			    : a->has_created     ? "StreamCreationTimestamp"
						 : NULL;
	if (other != NULL) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "NextToken and %s cannot be provided together.", other);
		return false;
	}
	if (!kin_token_decode(c->k, a->tok, a->tok_len, t) || t->kind != KIN_TOK_LIST_SHARDS) {
		kin_reply_err(c, KX_INVALID_ARGUMENT, "Invalid NextToken.");
		return false;
	}
	if (kin_now_ms() - t->created_ms > SL_KINESIS_ITERATOR_TTL_MS) {
		kin_reply_err(c, KX_EXPIRED_NEXT_TOKEN, "The NextToken has expired.");
		return false;
	}
	int rc = sl_meta_stream_get_id(sl_store_meta(c->k->store), t->stream_id, s);
	if (rc != 0) {
		kin_reply_err(c, KX_RESOURCE_NOT_FOUND, "The stream of the NextToken was deleted.");
		return false;
	}
	a->filter = (enum shard_filter)t->from;
	if (!a->has_max)
		a->max = t->aux;
	return true;
}

static bool list_shards_stream(struct kin_call *c, struct list_shards_args *a,
			       struct sl_meta_stream *s, struct kin_token *t)
{
	if (a->tok != NULL)
		return list_shards_token(c, a, s, t);
	if (a->ref.name == NULL && a->ref.arn == NULL) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Either NextToken or StreamName should be provided.");
		return false;
	}
	if (!filter_check(c, a) || !kin_stream_resolve(c, &a->ref, s))
		return false;
	if (a->has_created && a->created_ms / 1000 != (int64_t)(s->created_ms / 1000)) {
		kin_reply_no_stream(c, s->name, strlen(s->name));
		return false;
	}
	return true;
}

void kin_op_list_shards(struct kin_call *c)
{
	struct list_shards_args a;
	struct sl_meta_stream s;
	struct kin_token t = {0};
	char start[KIN_SHARD_ID_BUF];
	if (!list_shards_read(c, &a) || !list_shards_stream(c, &a, &s, &t))
		return;
	struct kjw w;
	struct shard_page p = {.w = &w,
			       .limit = a.has_max || a.tok ? (uint32_t)a.max : LIST_SHARDS_DEFAULT};
	p.open_only = a.filter == SF_AT_LATEST;
	if (a.tok != NULL) {
		kin_shard_id_format(t.shard_id, start);
		p.after = start;
		p.after_len = strlen(start);
	} else {
		p.after = a.after;
		p.after_len = a.after_len;
		if (a.filter == SF_AFTER_SHARD_ID &&
		    (p.after == NULL ||
		     str_after(a.filter_shard, a.filter_shard_len, p.after, p.after_len))) {
			p.after = a.filter_shard;
			p.after_len = a.filter_shard_len;
		}
	}
	kjw_init(&w, 1024);
	kjw_obj_begin(&w);
	kjw_key(&w, "Shards");
	kjw_arr_begin(&w);
	int rc = sl_meta_shard_list(sl_store_meta(c->k->store), s.id, page_shard, &p);
	kjw_arr_end(&w);
	if (p.more) {
		struct kin_token nt = {.kind = KIN_TOK_LIST_SHARDS,
				       .from = (uint8_t)a.filter,
				       .stream_id = s.id,
				       .shard_id = p.last_id,
				       .created_ms = kin_now_ms(),
				       .aux = p.limit};
		char tok[KIN_TOKEN_B64_MAX + 1];
		size_t n = kin_token_encode(c->k, &nt, tok);
		kjw_key(&w, "NextToken");
		kjw_str(&w, tok, n);
	}
	kjw_obj_end(&w);
	if (rc < 0) {
		kjw_fini(&w);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the metadata failed.");
		return;
	}
	kin_reply_ok(c, &w);
}

/* ---- retention ---- */

static void retention(struct kin_call *c, bool increase)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	int64_t hours = 0;
	kin_get_stream_ref(c, &ref);
	bool has = kin_get_int(c, c->root, "RetentionPeriodHours", &hours);
	kin_v_notnull(c, "retentionPeriodHours", has);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	if (hours < SL_META_RETENTION_H_MIN) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Minimum allowed retention period is %u hours. Requested retention "
			      "period (%lld hours) is too short.",
			      SL_META_RETENTION_H_MIN, (long long)hours);
		return;
	}
	if (hours > SL_META_RETENTION_H_MAX) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Maximum allowed retention period is %u hours. Requested retention "
			      "period (%lld hours) is too long.",
			      SL_META_RETENTION_H_MAX, (long long)hours);
		return;
	}
	if (increase ? hours < s.retention_hours : hours > s.retention_hours) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Requested retention period (%lld hours) for stream %s can not be "
			      "%s than existing retention period (%u hours). Use %s API.",
			      (long long)hours, s.name, increase ? "shorter" : "longer",
			      s.retention_hours,
			      increase ? "DecreaseRetentionPeriod" : "IncreaseRetentionPeriod");
		return;
	}
	if (s.status != SL_STREAM_ACTIVE) {
		kin_reply_err(c, KX_RESOURCE_IN_USE, "Stream %s under account %s is not ACTIVE.",
			      s.name, c->k->account);
		return;
	}
	int rc = sl_store_stream_set_retention(c->k->store, s.id, (uint32_t)hours);
	if (rc != 0) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Changing the retention period failed.");
		return;
	}
	kin_reply_empty(c);
}

void kin_op_increase_retention(struct kin_call *c)
{
	retention(c, true);
}

void kin_op_decrease_retention(struct kin_call *c)
{
	retention(c, false);
}

/* ---- DescribeLimits ---- */

void kin_op_describe_limits(struct kin_call *c)
{
	struct totals t;
	if (!account_totals(c, &t))
		return;
	struct kjw w;
	kjw_init(&w, 256);
	kjw_obj_begin(&w);
	kjw_key(&w, "ShardLimit");
	kjw_u64(&w, c->k->shard_limit);
	kjw_key(&w, "OpenShardCount");
	kjw_u64(&w, t.open_shards);
	kjw_key(&w, "OnDemandStreamCount");
	kjw_u64(&w, t.on_demand);
	kjw_key(&w, "OnDemandStreamCountLimit");
	kjw_u64(&w, ON_DEMAND_STREAMS_LIMIT);
	kjw_obj_end(&w);
	kin_reply_ok(c, &w);
}
