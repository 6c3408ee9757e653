/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test helpers around the storage engine: a temporary data directory,
 * a writer thread with its stop eventfd, appends with a completion
 * counter, deterministic record contents. Header-only; for tests.
 */
#ifndef SLUICE_TEST_STORE_UTIL_H
#define SLUICE_TEST_STORE_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/counters.h>
#include <sluice/store.h>

static int tu_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

/* The process-wide sum of the "storage" counter `name` (UINT64_MAX if
 * there is no such counter). */
static inline uint64_t tu_storage_counter(const char *name)
{
	uint64_t v[SL_COUNTER_SET_MAX];
	const struct sl_counter_set *set = &sl_store_counters;
	if (sl_counter_sum(set, v, set->count) != 0)
		return UINT64_MAX;
	for (unsigned i = 0; i < set->count; i++)
		if (strcmp(set->defs[i].name, name) == 0)
			return v[i];
	return UINT64_MAX;
}

/* The bytes of a file (at most cap), or 0. */
static inline size_t tu_file_bytes(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* rm -rf dir */
static inline void tu_rmtree(const char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /tmp into buf. */
static inline const char *tu_tmpdir(char *buf, size_t cap, const char *tag)
{
	snprintf(buf, cap, "/tmp/sluice-%s-XXXXXX", tag);
	return mkdtemp(buf);
}

static inline void tu_options(struct sl_store_options *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->data_dir = dir;
	o->writers = 1;
	o->segment_bytes = 64u << 20;
	o->segment_age_ms = 3600u * 1000u;
	o->batch_bytes = 256u << 10;
	o->linger_us = 0;
	o->commits_inflight = 2; /* the configuration default */
	o->ring_slots = 1024;
}

struct tu_writer {
	struct sl_store *st;
	unsigned index;
	int stop_fd;
	int rc;
	pthread_t tid;
};

static void *tu_writer_main(void *p)
{
	struct tu_writer *w = p;
	w->rc = sl_store_writer_run(w->st, w->index, w->stop_fd);
	return NULL;
}

static inline void tu_writer_start(struct tu_writer *w, struct sl_store *st, unsigned index)
{
	w->st = st;
	w->index = index;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_create(&w->tid, NULL, tu_writer_main, w);
}

static inline int tu_writer_stop(struct tu_writer *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->stop_fd, &one, sizeof(one));
	(void)n;
	pthread_join(w->tid, NULL);
	close(w->stop_fd);
	return w->rc;
}

/* An append with its records and a completion flag the test waits on. */
struct tu_append {
	struct sl_append app;
	struct sl_record recs[8];
	uint8_t data[8][256];
	char key[8][16];
	int done; /* atomic */
};

static void tu_append_done(struct sl_append *a)
{
	struct tu_append *t = (struct tu_append *)a;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
}

/* Record contents derived from (tag, i): the same bytes can be rebuilt
 * to check what is read back. Returns the data length. */
static inline uint32_t tu_fill(uint8_t *data, uint64_t tag, uint32_t i)
{
	uint32_t len = (uint32_t)((tag * 31 + i * 7) % 200) + 1;
	uint64_t x = tag * UINT64_C(0x9E3779B97F4A7C15) + i;
	for (uint32_t k = 0; k < len; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[k] = (uint8_t)x;
	}
	memcpy(data, &tag, len >= 8 ? 8 : len); /* the tag leads when it fits */
	return len;
}

/* Build an append of n records (n <= 8) for (stream, shard), tagged tag. */
static inline void tu_append_init(struct tu_append *t, uint32_t stream, uint32_t shard,
				  uint64_t tag, uint16_t n)
{
	memset(&t->app, 0, sizeof(t->app));
	for (uint16_t i = 0; i < n; i++) {
		int kl = snprintf(t->key[i], sizeof(t->key[i]), "k%llu", (unsigned long long)tag);
		t->recs[i] = (struct sl_record){
		    .key = (const uint8_t *)t->key[i],
		    .key_len = (uint16_t)kl,
		    .data = t->data[i],
		    .data_len = tu_fill(t->data[i], tag, i),
		};
	}
	t->app.stream_id = stream;
	t->app.shard_id = shard;
	t->app.records = t->recs;
	t->app.record_count = n;
	t->app.arrival_ms = sl_clock_wall_ms();
	t->app.done = tu_append_done;
	t->done = 0;
}

/* Wait until the append is done (or ms passes). 1 when done. */
static inline int tu_wait(struct tu_append *t, int ms)
{
	for (int i = 0; i < ms * 10; i++) {
		if (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
			return 1;
		usleep(100);
	}
	return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE);
}

#endif /* SLUICE_TEST_STORE_UTIL_H */
