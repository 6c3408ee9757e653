/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Retention: per stream, by age (retention_hours, 24..8760 as Kinesis) and
 * by size (retention_bytes per shard; 0 = no cap). Readers already skip
 * records older than the horizon, so an expired record is never returned
 * even before its segment goes; this file deletes the segments.
 *
 * A segment is deleted when it is sealed (not the newest of its shard) and
 * either its newest record is older than the horizon or the shard is over
 * its size cap (oldest first). The newest segment is never deleted: it
 * carries the shard's sequence counter across restarts.
 *
 * Runs on the control thread (sl_store_retention_tick), under each shard's
 * read_lock, so it never races a reader's view of the segment list; the
 * writer only ever appends to the newest segment, which is never touched.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "store_internal.h"

#define SUBSYS "storage"

/* Size of a segment file, 0 if it is gone. */
static uint64_t seg_size(const struct sl_shard *sh, uint64_t base_lo)
{
	char name[32];
	struct stat st;
	sl_seg_file_name(name, sizeof(name), sl_shard_seq(sh, base_lo));
	return fstatat(sh->dirfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

static int delete_segment(struct sl_shard *sh, uint64_t base_lo, const char *why)
{
	char name[32];
	sl_seg_file_name(name, sizeof(name), sl_shard_seq(sh, base_lo));
	if (unlinkat(sh->dirfd, name, 0) != 0 && errno != ENOENT) {
		int rc = sl_neg_errno();
		SL_ERR(SUBSYS, "stream %u shard %u: deleting %s/%s: %s", sh->stream_id,
		       sh->shard_id, sh->dir, name, sl_strerror(rc));
		return rc;
	}
	memcpy(name + strlen(name) - 3, "idx", 3); /* its index, if it has one */
	unlinkat(sh->dirfd, name, 0);
	name[strlen(name) - 3] = 's', name[strlen(name) - 2] = 'e', name[strlen(name) - 1] = 'g';
	SL_INFO(SUBSYS, "stream %u shard %u: deleted %s/%s (%s)", sh->stream_id, sh->shard_id,
		sh->dir, name, why);
	__atomic_sub_fetch(&sh->segments, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Apply retention to one shard. Returns segments deleted, or -errno. */
static int shard_retention(struct sl_shard *sh, uint64_t now_ms)
{
	uint64_t keep_ms =
	    (uint64_t)__atomic_load_n(&sh->retention_hours, __ATOMIC_RELAXED) * 3600000u;
	uint64_t horizon = now_ms > keep_ms ? now_ms - keep_ms : 0;
	uint64_t cap = __atomic_load_n(&sh->retention_bytes, __ATOMIC_RELAXED);
	int deleted = 0;

	pthread_mutex_lock(&sh->read_lock);
	int rc = sl_shard_views_refresh(sh);
	uint64_t total = 0;
	for (uint32_t i = 0; rc == 0 && i < sh->view_count; i++)
		total += seg_size(sh, sh->views[i].base_lo);
	/* Oldest first; never the newest. */
	for (uint32_t i = 0; rc == 0 && i + 1 < sh->view_count; i++) {
		struct seg_view *v = &sh->views[i];
		bool over = cap != 0 && total > cap;
		if (!over) {
			/* Its first arrival not expired: neither is its newest, nor
			 * any later segment's. One batch header tells; indexing the
			 * segment whole would read all of it (after O_DIRECT writes
			 * none of it is cached) on the control thread, stalling
			 * every API connection for as long, each time a shard rolls. */
			uint64_t first_ms;
			if (sl_shard_view_first_arrival(sh, v, &first_ms) == 0 &&
			    first_ms >= horizon)
				break;
			rc = sl_shard_view_index(sh, v, UINT64_MAX);
			if (rc != 0 || v->last_arrival_ms >= horizon)
				break;
		}
		uint64_t size = seg_size(sh, v->base_lo);
		rc = delete_segment(sh, v->base_lo, over ? "over the size cap" : "expired");
		if (rc == 0) {
			total -= size;
			deleted++;
		}
	}
	if (deleted > 0 && rc == 0)
		rc = sl_shard_views_refresh(sh);
	pthread_mutex_unlock(&sh->read_lock);
	return rc < 0 ? rc : deleted;
}

int sl_store_retention_tick(struct sl_store *st, uint64_t now_ms)
{
	int total = 0;
	pthread_rwlock_rdlock(&st->shards_lock);
	for (uint32_t i = 0; i < st->shard_cap; i++) {
		struct sl_shard *sh = st->shards[i];
		if (sh == NULL || sl_shard_is_tombstone(sh) ||
		    __atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE))
			continue;
		int rc = shard_retention(sh, now_ms);
		if (rc > 0)
			total += rc;
	}
	pthread_rwlock_unlock(&st->shards_lock);
	return total;
}
