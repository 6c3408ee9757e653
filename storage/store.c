/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage engine's front: open (metadata, shards, recovery, writer
 * assignment), streams created and deleted at run time, appends, lookups,
 * close. See store.h for the threads and ownership.
 *
 * Layout under the data directory:
 *   meta.db                          SQLite metadata (meta.c)
 *   shards/<stream_id>/<shard_id>/   one directory per shard
 *     <base counter, 20 digits>.seg  segment files (segment.h)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/fs.h>
#include <sluice/log.h>

#include "store_internal.h"

#define SUBSYS                "storage"
#define SHARDS_PER_WRITER_MAX 4096
#define RELEASE_WAIT_MS       5000

void sl_store_options_from_config(struct sl_store_options *o, const struct sl_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->data_dir = cfg->data_dir;
	o->writers = cfg->storage_writers;
	o->segment_bytes = (uint64_t)cfg->storage_segment_mb << 20;
	o->segment_age_ms = (uint64_t)cfg->storage_segment_age_s * 1000u;
	o->batch_bytes = cfg->storage_batch_kb << 10;
	o->linger_us = cfg->storage_linger_us;
	o->commits_inflight = cfg->storage_commits_inflight;
	o->prealloc_bytes = (uint64_t)cfg->storage_preallocate_mb << 20;
	o->ring_slots = cfg->storage_ring_slots;
	o->direct_io = cfg->storage_direct_io;
	o->tail_bytes = cfg->storage_tail_kb << 10;
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 2;
	while (p < v && p < SL_RING_SIZE_MAX)
		p <<= 1;
	return p;
}

/* ---- the shard table: (stream, shard) -> shard, open addressing ---- */

/* Marks a slot whose shard was deleted: lookups go past it, inserts reuse it. */
struct sl_shard sl_store_tombstone;
#define tombstone sl_store_tombstone

static uint64_t shard_key(uint32_t stream_id, uint32_t shard_id)
{
	return (uint64_t)stream_id << 32 | shard_id;
}

static uint32_t slot_of(const struct sl_store *st, uint64_t key)
{
	uint64_t h = key * UINT64_C(0x9E3779B97F4A7C15);
	return (uint32_t)(h >> 32) & (st->shard_cap - 1);
}

static struct sl_shard *table_find(const struct sl_store *st, uint32_t stream_id, uint32_t shard_id)
{
	uint64_t key = shard_key(stream_id, shard_id);
	for (uint32_t i = slot_of(st, key), n = 0; n < st->shard_cap;
	     i = (i + 1) & (st->shard_cap - 1), n++) {
		struct sl_shard *sh = st->shards[i];
		if (sh == NULL)
			return NULL;
		if (sh != &tombstone && shard_key(sh->stream_id, sh->shard_id) == key &&
		    !__atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE))
			return sh;
	}
	return NULL;
}

static int table_insert(struct sl_store *st, struct sl_shard *sh)
{
	if (st->shard_count * 2 >= st->shard_cap)
		return -ENOSPC;
	uint32_t i = slot_of(st, shard_key(sh->stream_id, sh->shard_id));
	while (st->shards[i] != NULL && st->shards[i] != &tombstone)
		i = (i + 1) & (st->shard_cap - 1);
	st->shards[i] = sh;
	st->shard_count++;
	return 0;
}

struct sl_shard *sl_store_shard(struct sl_store *st, uint32_t stream_id, uint32_t shard_id)
{
	pthread_rwlock_rdlock(&st->shards_lock);
	struct sl_shard *sh = table_find(st, stream_id, shard_id);
	pthread_rwlock_unlock(&st->shards_lock);
	return sh;
}

struct sl_meta *sl_store_meta(struct sl_store *st)
{
	return st->meta;
}

uint32_t sl_store_append_bytes_max(const struct sl_store *st)
{
	uint32_t align = st->opt.direct_io ? 4096u : SL_SEG_BATCH_ALIGN;
	return st->opt.batch_bytes - SL_SEG_HEADER_BYTES - SL_SEG_BATCH_HEADER_BYTES - align;
}

/* ---- shards ---- */

static void shard_destroy(struct sl_shard *sh)
{
	if (sh == NULL)
		return;
	if (sh->seg.fd >= 0)
		close(sh->seg.fd);
	if (sh->seg.roll_fd >= 0)
		close(sh->seg.roll_fd);
	if (sh->dirfd >= 0)
		close(sh->dirfd);
	sl_shard_views_fini(sh);
	sl_shard_buffers_fini(sh);
	sl_tail_fini(&sh->tail);
	free(sh->restored);
	sl_ring_destroy(sh->ring);
	pthread_mutex_destroy(&sh->read_lock);
	free(sh);
}

/* Allocate a shard and make its directory. The caller recovers it. */
static int shard_create(struct sl_store *st, const struct sl_meta_stream *s,
			const struct sl_meta_shard *m, struct sl_shard **out)
{
	struct sl_shard *sh = calloc(1, sizeof(*sh));
	int rc;
	if (sh == NULL)
		return -ENOMEM;
	sh->st = st;
	sh->stream_id = m->stream_id;
	sh->shard_id = m->shard_id;
	sh->seq_prefix = m->seq_prefix;
	sh->durability = s->durability;
	sh->retention_hours = s->retention_hours;
	sh->retention_bytes = s->retention_bytes;
	sh->seg.fd = -1;
	sh->seg.roll_fd = -1;
	sh->dirfd = -1;
	pthread_mutex_init(&sh->read_lock, NULL);
	snprintf(sh->dir, sizeof(sh->dir), "%s/shards/%u/%u", st->data_dir, m->stream_id,
		 m->shard_id);
	rc = sl_mkdirs(sh->dir, 0750);
	if (rc == 0) {
		sh->dirfd = open(sh->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = sh->dirfd < 0 ? sl_neg_errno() : 0;
	}
	if (rc == 0) {
		sh->ring = sl_ring_create(round_pow2(st->opt.ring_slots));
		rc = sh->ring == NULL ? -ENOMEM : 0;
	}
	if (rc == 0)
		rc = sl_shard_buffers_init(sh, st->opt.batch_bytes);
	if (rc == 0)
		rc = sl_tail_init(&sh->tail, st->opt.tail_bytes);
	if (rc != 0) {
		SL_ERR(SUBSYS, "stream %u shard %u: %s: %s", m->stream_id, m->shard_id, sh->dir,
		       sl_strerror(rc));
		shard_destroy(sh);
		return rc;
	}
	*out = sh;
	return 0;
}

/* Put a recovered shard in the table and give it to a writer: directly
 * before the writers run, through the writer's mailbox after. */
static int shard_adopt(struct sl_store *st, struct sl_shard *sh, bool running)
{
	pthread_rwlock_wrlock(&st->shards_lock);
	int rc = table_insert(st, sh);
	unsigned wi = (unsigned)(st->shard_count % st->opt.writers);
	pthread_rwlock_unlock(&st->shards_lock);
	if (rc != 0)
		return rc;
	struct writer *w = &st->writers[wi];
	sh->writer = wi;
	if (!running) {
		if (w->shard_count == SHARDS_PER_WRITER_MAX)
			return -ENOSPC;
		w->shards[w->shard_count++] = sh;
		return 0;
	}
	rc = sl_ring_enqueue(w->mailbox, sh);
	if (rc == 0)
		sl_writer_wake(w);
	return rc;
}

struct open_ctx {
	struct sl_store *st;
	struct sl_io *io;
	const struct sl_meta_stream *stream;
	int rc;
};

static int open_shard(const struct sl_meta_shard *m, void *arg)
{
	struct open_ctx *c = arg;
	struct sl_shard *sh;
	int rc = shard_create(c->st, c->stream, m, &sh);
	if (rc != 0)
		return c->rc = rc;
	rc = sl_shard_recover(sh, c->io);
	if (rc != 0 && rc != -EUCLEAN) {
		shard_destroy(sh);
		return c->rc = rc;
	}
	if (rc == -EUCLEAN && c->rc == 0)
		c->rc = rc; /* reported; the shard stays, read-only */
	rc = shard_adopt(c->st, sh, false);
	if (rc != 0) {
		shard_destroy(sh);
		return c->rc = rc;
	}
	return 0;
}

/* Copy of a stream row: the list callback's pointer lives only for the call. */
struct stream_list {
	struct sl_meta_stream *v;
	uint32_t n, cap;
};

static int collect_stream(const struct sl_meta_stream *s, void *arg)
{
	struct stream_list *l = arg;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		struct sl_meta_stream *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = *s;
	return 0;
}

static int open_streams(struct sl_store *st)
{
	struct stream_list l = {0};
	struct sl_io *io = NULL;
	int rc = sl_meta_stream_list(st->meta, NULL, UINT32_MAX, collect_stream, &l);
	if (rc == 0 && l.n > 0)
		rc = sl_io_uring_create(8, &io);
	for (uint32_t i = 0; rc == 0 && i < l.n; i++) {
		struct open_ctx c = {.st = st, .io = io, .stream = &l.v[i]};
		rc = sl_meta_shard_list(st->meta, l.v[i].id, open_shard, &c);
		rc = rc ?: c.rc;
		if (rc == -EUCLEAN)
			rc = 0; /* logged; that shard refuses writes, the others go on */
		if (rc == 0 && l.v[i].status == SL_STREAM_CREATING)
			rc = sl_meta_stream_set_status(st->meta, l.v[i].id, SL_STREAM_ACTIVE);
	}
	sl_io_destroy(io);
	free(l.v);
	return rc;
}

/* Whether the data directory's filesystem takes O_DIRECT (tmpfs does not). */
static bool direct_io_works(const char *dir)
{
	char path[SL_STORE_DIR_MAX + 32];
	snprintf(path, sizeof(path), "%s/.direct-io-probe", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	void *block = aligned_alloc(4096, 4096);
	bool ok = block != NULL;
	if (ok) {
		memset(block, 0, 4096);
		ok = pwrite(fd, block, 4096, 0) == 4096;
	}
	free(block);
	close(fd);
	unlink(path);
	return ok;
}

static int writers_init(struct sl_store *st)
{
	for (unsigned i = 0; i < st->opt.writers; i++) {
		struct writer *w = &st->writers[i];
		w->st = st;
		w->index = i;
		w->shards = calloc(SHARDS_PER_WRITER_MAX, sizeof(*w->shards));
		w->mailbox = sl_ring_create(SL_STORE_MAILBOX_SLOTS);
		w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->shards == NULL || w->mailbox == NULL || w->wake_fd < 0)
			return -ENOMEM;
	}
	return 0;
}

static int options_check(const struct sl_store_options *o)
{
	if (o->writers == 0 || o->writers > SL_STORE_WRITERS_MAX)
		return -EINVAL;
	if (o->batch_bytes < (64u << 10) || o->batch_bytes > SL_SEG_BATCH_BYTES_MAX)
		return -EINVAL;
	if (o->segment_bytes < o->batch_bytes + SL_SEG_HEADER_BYTES || o->segment_age_ms == 0)
		return -EINVAL;
	if (o->commits_inflight > SL_STORE_COMMITS_MAX) /* 0: 1 */
		return -EINVAL;
	return strlen(o->data_dir) < SL_STORE_DATA_DIR_MAX ? 0 : -ENAMETOOLONG;
}

int sl_store_open(const struct sl_store_options *o, struct sl_store **out)
{
	char path[SL_STORE_DIR_MAX];
	int rc = options_check(o);
	if (rc != 0)
		return rc;
	rc = sl_counter_set_register(&sl_store_counters);
	if (rc != 0)
		return rc;
	struct sl_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->opt = *o;
	snprintf(st->data_dir, sizeof(st->data_dir), "%s", o->data_dir);
	st->opt.data_dir = st->data_dir;
	for (unsigned i = 0; i < SL_STORE_WRITERS_MAX; i++)
		st->writers[i].wake_fd = -1;
	pthread_rwlock_init(&st->shards_lock, NULL);
	st->qsbr = sl_qsbr_create();
	st->shard_cap = SL_STORE_SHARDS_MAX * 2;
	st->shards = calloc(st->shard_cap, sizeof(*st->shards));
	rc = st->shards == NULL || st->qsbr == NULL ? -ENOMEM : writers_init(st);
	snprintf(path, sizeof(path), "%s/shards", st->data_dir);
	rc = rc ?: sl_mkdirs(path, 0750);
	if (rc == 0 && st->opt.direct_io && !direct_io_works(path)) {
		SL_WARN(SUBSYS,
			"%s does not take O_DIRECT: writing segments through the page cache", path);
		st->opt.direct_io = false;
	}
	snprintf(path, sizeof(path), "%s/meta.db", st->data_dir);
	rc = rc ?: sl_meta_open(path, &st->meta);
	rc = rc ?: open_streams(st);
	rc = rc ?: sl_shardmap_publish(st);
	if (rc != 0) {
		SL_ERR(SUBSYS, "opening the store in %s: %s", st->data_dir, sl_strerror(rc));
		sl_store_close(st);
		return rc;
	}
	SL_INFO(SUBSYS,
		"store open: %u shard(s), %u writer(s), batch %u KiB x %u per shard (%u commit(s) "
		"in flight), segment %llu KiB%s",
		st->shard_count, st->opt.writers, st->opt.batch_bytes >> 10,
		(st->opt.commits_inflight ? st->opt.commits_inflight : 1) + 1,
		st->opt.commits_inflight ? st->opt.commits_inflight : 1,
		(unsigned long long)(st->opt.segment_bytes >> 10),
		st->opt.direct_io ? ", O_DIRECT" : "");
	*out = st;
	return 0;
}

void sl_store_close(struct sl_store *st)
{
	if (st == NULL)
		return;
	for (uint32_t i = 0; i < st->shard_cap && st->shards; i++) {
		if (st->shards[i] != &tombstone)
			shard_destroy(st->shards[i]);
	}
	for (unsigned i = 0; i < SL_STORE_WRITERS_MAX; i++) {
		struct writer *w = &st->writers[i];
		sl_io_destroy(w->io);
		sl_ring_destroy(w->mailbox);
		free(w->shards);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
	}
	sl_meta_close(st->meta);
	free(st->map);
	sl_qsbr_destroy(st->qsbr);
	free(st->shards);
	pthread_rwlock_destroy(&st->shards_lock);
	free(st);
}

bool sl_store_stopping(const struct sl_store *st)
{
	return __atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE) != 0;
}

void sl_store_stop_appends(struct sl_store *st)
{
	__atomic_store_n(&st->stopping, 1, __ATOMIC_RELEASE);
}

/* ---- streams (control thread) ---- */

struct create_ctx {
	struct sl_store *st;
	const struct sl_meta_stream *stream;
	int rc;
};

static int create_shard(const struct sl_meta_shard *m, void *arg)
{
	struct create_ctx *c = arg;
	struct sl_shard *sh;
	int rc = shard_create(c->st, c->stream, m, &sh);
	if (rc == 0) {
		rc = shard_adopt(c->st, sh, true);
		if (rc != 0)
			shard_destroy(sh);
	}
	return c->rc = rc;
}

int sl_store_stream_create(struct sl_store *st, struct sl_meta_stream *s, uint32_t shards)
{
	int rc = sl_meta_stream_create(st->meta, s, shards, sl_clock_wall_ms());
	if (rc != 0)
		return rc;
	struct create_ctx c = {.st = st, .stream = s};
	rc = sl_meta_shard_list(st->meta, s->id, create_shard, &c);
	rc = rc ?: c.rc;
	if (rc == 0) {
		rc = sl_meta_stream_set_status(st->meta, s->id, SL_STREAM_ACTIVE);
		s->status = SL_STREAM_ACTIVE;
	}
	/* Ingest doors see the stream from the next snapshot on. */
	int prc = sl_shardmap_publish(st);
	return rc ?: prc;
}

/* Remove a directory tree (shards/<stream>), depth two at most. */
static void remove_tree(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char child[SL_STORE_DIR_MAX + 256];
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(child))
			continue; /* not one of ours: our names are short */
		if (depth > 0 && e->d_type == DT_DIR)
			remove_tree(child, depth - 1);
		else
			unlink(child);
	}
	if (d != NULL)
		closedir(d);
	rmdir(path);
}

/* Wait until the shard's writer has let go of it. */
static void wait_released(struct sl_shard *sh)
{
	for (int i = 0; i < RELEASE_WAIT_MS && !__atomic_load_n(&sh->released, __ATOMIC_ACQUIRE);
	     i++) {
		struct writer *w = &sh->st->writers[sh->writer];
		sl_writer_wake(w);
		usleep(1000);
	}
}

int sl_store_stream_delete(struct sl_store *st, uint32_t stream_id)
{
	char path[SL_STORE_DIR_MAX];
	int rc = sl_meta_stream_set_status(st->meta, stream_id, SL_STREAM_DELETING);
	if (rc != 0)
		return rc;
	pthread_rwlock_wrlock(&st->shards_lock);
	for (uint32_t i = 0; i < st->shard_cap; i++) {
		struct sl_shard *sh = st->shards[i];
		if (sh != NULL && sh != &tombstone && sh->stream_id == stream_id)
			__atomic_store_n(&sh->removed, true, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&st->shards_lock);
	/* A snapshot without the stream; once published, the grace period
	 * means no ingest thread still holds one of its shards. */
	bool grace = sl_shardmap_publish(st) == 0;
	for (uint32_t i = 0; i < st->shard_cap; i++) {
		struct sl_shard *sh = st->shards[i];
		if (sh == NULL || sh == &tombstone || sh->stream_id != stream_id)
			continue;
		wait_released(sh);
		if (!grace) {
			SL_ERR(SUBSYS, "stream %u shard %u: readers may hold it; kept in memory",
			       sh->stream_id, sh->shard_id);
			continue;
		}
		if (!__atomic_load_n(&sh->released, __ATOMIC_ACQUIRE)) {
			SL_ERR(SUBSYS, "stream %u shard %u: writer did not let go; kept in memory",
			       sh->stream_id, sh->shard_id);
			continue;
		}
		/* An append that passed the `removed` check just before it was
		 * set may have reached the ring after the writer let go: the
		 * grace period is over, so nothing more can come; answer what
		 * is there rather than free it unanswered. */
		void *left[64];
		uint32_t n;
		while ((n = sl_ring_dequeue_burst(sh->ring, left, SL_ARRAY_SIZE(left))) > 0) {
			for (uint32_t k = 0; k < n; k++) {
				struct sl_append *a = left[k];
				a->status = SL_APPEND_STREAM_NOT_FOUND;
				a->done(a);
			}
		}
		pthread_rwlock_wrlock(&st->shards_lock);
		st->shards[i] = &tombstone;
		st->shard_count--;
		pthread_rwlock_unlock(&st->shards_lock);
		shard_destroy(sh);
	}
	snprintf(path, sizeof(path), "%s/shards/%u", st->data_dir, stream_id);
	remove_tree(path, 2);
	return sl_meta_stream_delete(st->meta, stream_id);
}

/* ---- appends (any thread) ---- */

int sl_store_append(struct sl_store *st, struct sl_append *app)
{
	SL_ASSERT_HOT(app->record_count > 0 && app->done != NULL);
	if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
		return -ESHUTDOWN;
	struct sl_shard *sh = sl_store_shard(st, app->stream_id, app->shard_id);
	if (sh == NULL)
		return -ENOENT;
	return sl_store_append_shard(st, sh, app);
}

int sl_store_append_shard(struct sl_store *st, struct sl_shard *sh, struct sl_append *app)
{
	SL_ASSERT_HOT(app->record_count > 0 && app->done != NULL);
	SL_ASSERT_HOT(app->stream_id == sh->stream_id && app->shard_id == sh->shard_id);
	if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
		return -ESHUTDOWN;
	if (__atomic_load_n(&sh->removed, __ATOMIC_ACQUIRE))
		return -ENOENT;
	if (__atomic_load_n(&sh->error, __ATOMIC_ACQUIRE) != 0)
		return -EIO;
	size_t bytes = app->producer_id != 0 ? SL_SEG_DEDUPE_BYTES : 0;
	for (uint16_t i = 0; i < app->record_count; i++)
		bytes += sl_seg_record_bytes(&app->records[i]);
	if (bytes > sl_store_append_bytes_max(st))
		return -EMSGSIZE;
	int rc = sl_ring_enqueue(sh->ring, app);
	if (rc != 0)
		return rc;
	sl_writer_wake(&st->writers[sh->writer]);
	return 0;
}

int sl_store_stream_set_retention(struct sl_store *st, uint32_t stream_id, uint32_t hours)
{
	int rc = sl_meta_stream_set_retention(st->meta, stream_id, hours);
	if (rc != 0)
		return rc;
	pthread_rwlock_rdlock(&st->shards_lock);
	for (uint32_t i = 0; i < st->shard_cap; i++) {
		struct sl_shard *sh = st->shards[i];
		if (sh != NULL && sh != &tombstone && sh->stream_id == stream_id)
			__atomic_store_n(&sh->retention_hours, hours, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&st->shards_lock);
	return 0;
}

int sl_store_dedupe_foreach(struct sl_store *st, sl_store_dedupe_fn *fn, void *arg)
{
	int rc = 0;
	pthread_rwlock_rdlock(&st->shards_lock);
	for (uint32_t i = 0; i < st->shard_cap && rc == 0; i++) {
		const struct sl_shard *sh = st->shards[i];
		if (sh == NULL || sh == &tombstone || sh->restored == NULL)
			continue;
		/* Oldest first: the ring's next slot is its oldest once full. */
		uint32_t start =
		    sh->restored_count < SL_STORE_DEDUPE_RESTORE ? 0 : sh->restored_next;
		for (uint32_t k = 0; k < sh->restored_count && rc == 0; k++) {
			const struct sl_seg_dedupe *e =
			    &sh->restored[(start + k) % SL_STORE_DEDUPE_RESTORE];
			rc = fn(sh->stream_id, sh->shard_id, e, arg);
		}
	}
	pthread_rwlock_unlock(&st->shards_lock);
	return rc;
}
