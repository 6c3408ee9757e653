/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kinesis tags: AddTagsToStream, RemoveTagsFromStream, ListTagsForStream
 * (by stream name or ARN) and TagResource, UntagResource,
 * ListTagsForResource (by resource ARN; stream ARNs only until consumers
 * exist). Tags live in the metadata, at most SL_META_TAGS_MAX per stream.
 *
 * Rules, as Kinesis: a TagMap holds 1..200 entries, keys 1..128 and values
 * 0..256 characters (ValidationException); keys and values use Unicode
 * letters and digits, white space and _ . / = + - @ : (a '%' or anything
 * else is InvalidArgumentException); more than 50 tags on a stream is
 * InvalidArgumentException, nothing changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>

#include "kinesis_internal.h"

#define TAGMAP_MAX    200
#define TAG_KEYS_MAX  50
#define LIST_TAGS_MAX 50

/* "{k1=v1, k2=v2}" as Coral shows a map in a validation error, cut. */
static size_t map_show(json_t *tags, char *out, size_t cap)
{
	const char *key;
	json_t *v;
	size_t n = (size_t)snprintf(out, cap, "{");
	json_object_foreach(tags, key, v)
	{
		if (n >= cap)
			break;
		n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n > 1 ? ", " : "", key,
				      json_is_string(v) ? json_string_value(v) : "?");
	}
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "}");
	return n < cap ? n : cap - 1;
}

void kin_tags_check_map(struct kin_call *c, json_t *tags, const char *path)
{
	char shown[256];
	const char *key, *s;
	json_t *v;
	size_t count = json_object_size(tags), len;
	bool bad_key = false, bad_value = false;
	json_object_foreach(tags, key, v)
	{
		if (!kin_elem_str(c, v, &s, &len))
			return;
		size_t klen = strlen(key);
		bad_key = bad_key || klen < 1 || klen > SL_META_TAG_KEY_MAX;
		bad_value = bad_value || len > SL_META_TAG_VALUE_MAX;
	}
	size_t n = map_show(tags, shown, sizeof(shown));
	if (count < 1)
		kin_verr(c, path, shown, n, false,
			 "Member must have length greater than or equal to 1");
	if (count > TAGMAP_MAX)
		kin_verr(c, path, shown, n, false,
			 "Member must have length less than or equal to 200");
	if (bad_key)
		kin_verr(c, path, shown, n, false,
			 "Map keys must satisfy constraint: [Member must have length less than or "
			 "equal to 128, Member must have length greater than or equal to 1]");
	if (bad_value)
		kin_verr(c, path, shown, n, false,
			 "Map value must satisfy constraint: [Member must have length less than or "
			 "equal to 256, Member must have length greater than or equal to 0]");
}

/* 0: fine; 1: a character outside the set; 2: a '%'. */
static int tag_chars(const char *s)
{
	int worst = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(" _./=+-@:", *p) != NULL)
			continue; /* non-ASCII: Unicode letters (checked UTF-8 by jansson) */
		if (*p == '%')
			worst = worst > 2 ? worst : 2;
		else
			return 1;
	}
	return worst;
}

static bool chars_verdict(struct kin_call *c, int worst, const char *verb, const char *name)
{
	if (worst == 1) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Some tags contain invalid characters. Valid characters: Unicode "
			      "letters, digits, white space, _ . / = + - %% @ :.");
		return false;
	}
	if (worst == 2) {
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Failed to %s stream %s under account %s because some tags contained "
			      "illegal characters. The allowed characters are Unicode letters, "
			      "white-spaces, '_',',','/','=','+','-','@',':'.",
			      verb, name, c->k->account);
		return false;
	}
	return true;
}

bool kin_tags_check_chars(struct kin_call *c, json_t *tags, const char *verb, const char *name)
{
	const char *key;
	json_t *v;
	int worst = 0;
	json_object_foreach(tags, key, v)
	{
		int a = tag_chars(key), b = tag_chars(json_string_value(v));
		worst = a == 1 || b == 1 ? 1 : (a > worst ? a : (b > worst ? b : worst));
		if (worst == 1)
			break;
	}
	return chars_verdict(c, worst, verb, name);
}

int kin_tags_store(struct kin_call *c, uint32_t stream_id, json_t *tags)
{
	const char *keys[TAGMAP_MAX], *values[TAGMAP_MAX], *key;
	json_t *v;
	unsigned n = 0;
	json_object_foreach(tags, key, v)
	{
		SL_ASSERT(n < TAGMAP_MAX); /* validated */
		keys[n] = key;
		values[n++] = json_string_value(v);
	}
	int rc = sl_meta_tags_set(sl_store_meta(c->k->store), stream_id, keys, values, n);
	if (rc == -ENOSPC) {
		struct sl_meta_stream s;
		sl_meta_stream_get_id(sl_store_meta(c->k->store), stream_id, &s);
		kin_reply_err(c, KX_INVALID_ARGUMENT,
			      "Failed to add tags to stream %s under account %s because a given "
			      "stream cannot have more than %u tags associated with it.",
			      s.name, c->k->account, SL_META_TAGS_MAX);
	} else if (rc != 0) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Storing the tags failed.");
	}
	return rc;
}

/* ---- the stream a tag operation names ---- */

/* ResourceARN: required, validated (errors gathered). */
static bool read_resource_arn(struct kin_call *c, const char **arn, size_t *len)
{
	bool has = kin_get_str(c, c->root, "ResourceARN", arn, len);
	kin_v_notnull(c, "resourceARN", has);
	if (has)
		kin_v_stream_arn(c, "resourceARN", *arn, *len, true);
	return has;
}

/* The stream a valid ResourceARN names; answers and returns false if none. */
static bool resource_stream(struct kin_call *c, const char *arn, size_t len,
			    struct sl_meta_stream *s)
{
	const char *name;
	size_t name_len;
	if (!kin_arn_stream(c, arn, len, &name, &name_len)) {
		kin_reply_err(c, KX_RESOURCE_NOT_FOUND, "Resource %.*s not found.", (int)len, arn);
		return false;
	}
	struct kin_stream_ref ref = {.name = name, .name_len = name_len};
	return kin_stream_resolve(c, &ref, s);
}

/* TagKeys: a list of 1..50 keys of 1..128 characters. */
static json_t *read_tag_keys(struct kin_call *c)
{
	json_t *list = NULL, *e;
	size_t i, len;
	const char *s;
	char path[48];
	bool has = kin_get_list(c, c->root, "TagKeys", &list);
	kin_v_notnull(c, "tagKeys", has);
	if (!has)
		return NULL;
	if (json_array_size(list) < 1 || json_array_size(list) > TAG_KEYS_MAX)
		kin_verr(c, "tagKeys", "[...]", 5, false,
			 json_array_size(list) < 1
			     ? "Member must have length greater than or equal to 1"
			     : "Member must have length less than or equal to 50");
	json_array_foreach(list, i, e)
	{
		if (!kin_elem_str(c, e, &s, &len))
			return NULL;
		snprintf(path, sizeof(path), "tagKeys.%zu.member", i + 1);
		kin_v_strlen(c, path, s, len, 1, SL_META_TAG_KEY_MAX);
	}
	return list;
}

static bool keys_chars(struct kin_call *c, json_t *keys, const char *name)
{
	size_t i;
	json_t *e;
	int worst = 0;
	json_array_foreach(keys, i, e)
	{
		int a = tag_chars(json_string_value(e));
		worst = a == 1 ? 1 : (a > worst ? a : worst);
	}
	return chars_verdict(c, worst, "remove tags from", name);
}

static void remove_tags(struct kin_call *c, struct sl_meta_stream *s, json_t *keys)
{
	const char *k[TAG_KEYS_MAX];
	size_t i;
	json_t *e;
	if (!keys_chars(c, keys, s->name))
		return;
	json_array_foreach(keys, i, e) k[i] = json_string_value(e);
	int rc = sl_meta_tags_remove(sl_store_meta(c->k->store), s->id, k,
				     (unsigned)json_array_size(keys));
	if (rc != 0) {
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Removing the tags failed.");
		return;
	}
	kin_reply_empty(c);
}

static json_t *read_tag_map(struct kin_call *c)
{
	json_t *tags = NULL;
	bool has = kin_get_map(c, c->root, "Tags", &tags);
	kin_v_notnull(c, "tags", has);
	if (has)
		kin_tags_check_map(c, tags, "tags");
	return tags;
}

static void add_tags(struct kin_call *c, struct sl_meta_stream *s, json_t *tags)
{
	if (!kin_tags_check_chars(c, tags, "add tags to", s->name))
		return;
	if (kin_tags_store(c, s->id, tags) == 0)
		kin_reply_empty(c);
}

void kin_op_add_tags_to_stream(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	kin_get_stream_ref(c, &ref);
	json_t *tags = read_tag_map(c);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	add_tags(c, &s, tags);
}

void kin_op_tag_resource(struct kin_call *c)
{
	struct sl_meta_stream s;
	const char *arn = NULL;
	size_t len = 0;
	json_t *tags = read_tag_map(c);
	read_resource_arn(c, &arn, &len);
	if (kin_reply_gathered(c) || !resource_stream(c, arn, len, &s))
		return;
	add_tags(c, &s, tags);
}

void kin_op_remove_tags_from_stream(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	kin_get_stream_ref(c, &ref);
	json_t *keys = read_tag_keys(c);
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	remove_tags(c, &s, keys);
}

void kin_op_untag_resource(struct kin_call *c)
{
	struct sl_meta_stream s;
	const char *arn = NULL;
	size_t len = 0;
	json_t *keys = read_tag_keys(c);
	read_resource_arn(c, &arn, &len);
	if (kin_reply_gathered(c) || !resource_stream(c, arn, len, &s))
		return;
	remove_tags(c, &s, keys);
}

/* ---- listing ---- */

struct tag_list {
	struct kjw *w;
	const char *after; /* exclusive start key, or NULL */
	uint32_t limit, count;
	bool more;
};

static int list_tag(const char *key, const char *value, void *arg)
{
	struct tag_list *l = arg;
	if (l->after != NULL && strcmp(key, l->after) <= 0)
		return 0;
	if (l->count == l->limit) {
		l->more = true;
		return 1;
	}
	kjw_obj_begin(l->w);
	kjw_key(l->w, "Key");
	kjw_cstr(l->w, key);
	kjw_key(l->w, "Value");
	kjw_cstr(l->w, value);
	kjw_obj_end(l->w);
	l->count++;
	return 0;
}

/* {"Tags":[...]} (and HasMoreTags for ListTagsForStream). */
static void list_tags(struct kin_call *c, const struct sl_meta_stream *s, struct tag_list *l,
		      bool has_more_field)
{
	struct kjw w;
	kjw_init(&w, 1024);
	l->w = &w;
	kjw_obj_begin(&w);
	kjw_key(&w, "Tags");
	kjw_arr_begin(&w);
	int rc = sl_meta_tags_list(sl_store_meta(c->k->store), s->id, list_tag, l);
	kjw_arr_end(&w);
	if (has_more_field) {
		kjw_key(&w, "HasMoreTags");
		kjw_bool(&w, l->more);
	}
	kjw_obj_end(&w);
	if (rc < 0) {
		kjw_fini(&w);
		kin_reply_err(c, KX_INTERNAL_FAILURE, "Reading the tags failed.");
		return;
	}
	kin_reply_ok(c, &w);
}

void kin_op_list_tags_for_stream(struct kin_call *c)
{
	struct kin_stream_ref ref;
	struct sl_meta_stream s;
	struct tag_list l = {.limit = LIST_TAGS_MAX};
	const char *after;
	size_t after_len;
	int64_t limit;
	kin_get_stream_ref(c, &ref);
	if (kin_get_str(c, c->root, "ExclusiveStartTagKey", &after, &after_len)) {
		kin_v_strlen(c, "exclusiveStartTagKey", after, after_len, 1, SL_META_TAG_KEY_MAX);
		l.after = after;
	}
	if (kin_get_int(c, c->root, "Limit", &limit)) {
		kin_v_range(c, "limit", limit, 1, LIST_TAGS_MAX);
		l.limit = (uint32_t)(limit < 1 ? 1 : limit);
	}
	if (kin_reply_gathered(c) || !kin_stream_resolve(c, &ref, &s))
		return;
	list_tags(c, &s, &l, true);
}

void kin_op_list_tags_for_resource(struct kin_call *c)
{
	struct sl_meta_stream s;
	struct tag_list l = {.limit = SL_META_TAGS_MAX};
	const char *arn = NULL;
	size_t len = 0;
	read_resource_arn(c, &arn, &len);
	if (kin_reply_gathered(c) || !resource_stream(c, arn, len, &s))
		return;
	list_tags(c, &s, &l, false);
}
