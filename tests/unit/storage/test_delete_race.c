/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deleting a stream while a registered reader thread appends to it through
 * the shard map: every append the store accepted must complete (done is
 * called), none may be freed unanswered with the shard. Regression test for
 * an append that passed the `removed` check just before the delete set it
 * and reached the ring after the writer had let go of the shard.
 */
#include <pthread.h>
#include <sluice/shardmap.h>
#include <sluice/store.h>
#include "check.h"
#include "store_util.h"

#define POOL 2048
#define RECS 4000
static struct sl_append pool[POOL];
static struct sl_record recs[RECS];
static uint8_t data[64];
static uint64_t done_count, accepted;
static int pending[POOL];
static uint64_t last_ok_i, total_i;
static void on_done(struct sl_append *a)
{
	__atomic_store_n(&pending[a - pool], 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&done_count, 1, __ATOMIC_ACQ_REL);
}

struct targ {
	struct sl_store *st;
	int go;
};
static void *appender(void *p)
{
	struct targ *t = p;
	struct sl_qsbr_reader *r = sl_qsbr_register(sl_store_qsbr(t->st));
	__atomic_store_n(&t->go, 1, __ATOMIC_SEQ_CST);
	for (uint64_t i = 0;; i++) {
		/* a poll loop: re-load the map after every quiescent state */
		const struct sl_shardmap_stream *s =
		    sl_shardmap_stream(sl_store_shardmap(t->st), "d", 1);
		if (s == NULL)
			break;
		const struct sl_shardmap_shard *sh = &s->shards[0];
		struct sl_append *a = &pool[i % POOL];
		if (__atomic_load_n(&pending[i % POOL], __ATOMIC_ACQUIRE))
			abort();
		memset(a, 0, sizeof(*a));
		a->stream_id = s->id;
		a->shard_id = sh->shard_id;
		a->records = recs;
		a->record_count = RECS;
		a->arrival_ms = sl_clock_wall_ms();
		a->done = on_done;
		pending[i % POOL] = 1;
		int rc = sl_store_append_shard(t->st, sh->shard, a);
		if (rc != 0)
			pending[i % POOL] = 0;
		if (rc == 0) {
			last_ok_i = i;
			__atomic_add_fetch(&accepted, 1, __ATOMIC_ACQ_REL);
		}
		total_i = i;
		sl_qsbr_quiescent(r);
		if (rc == -ENOENT)
			break;
		if (rc == -ENOBUFS)
			sched_yield();
		/* keep the pool from wrapping over a pending append */
		while (__atomic_load_n(&accepted, __ATOMIC_ACQUIRE) -
			   __atomic_load_n(&done_count, __ATOMIC_ACQUIRE) >
		       POOL / 2) {
			sl_qsbr_quiescent(r);
			sched_yield();
		}
	}
	sl_qsbr_unregister(r);
	return NULL;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 100;
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	for (int i = 0; i < RECS; i++)
		recs[i] =
		    (struct sl_record){.key = data, .key_len = 1, .data = data, .data_len = 8};
	CHECK(tu_tmpdir(dir, sizeof(dir), "race") != NULL);
	tu_options(&o, dir);
	o.ring_slots = 4096;
	CHECK(sl_store_open(&o, &st) == 0);
	tu_writer_start(&w, st, 0);
	uint64_t lost_total = 0;
	for (int it = 0; it < iters; it++) {
		struct sl_meta_stream m = {0};
		snprintf(m.name, sizeof(m.name), "d");
		m.retention_hours = 24;
		m.max_record_bytes = 1 << 20;
		m.durability = SL_DURABILITY_NONE;
		CHECK(sl_store_stream_create(st, &m, 1) == 0);
		struct targ t = {.st = st};
		pthread_t tid;
		pthread_create(&tid, NULL, appender, &t);
		while (!__atomic_load_n(&t.go, __ATOMIC_SEQ_CST))
			sched_yield();
		usleep((unsigned)(rand() % 3000));
		CHECK(sl_store_stream_delete(st, m.id) == 0);
		pthread_join(tid, NULL);
		for (int k = 0;
		     k < 1000 && __atomic_load_n(&done_count, __ATOMIC_ACQUIRE) < accepted; k++)
			usleep(1000);
		uint64_t lost = accepted - done_count;
		if (lost) {
			fprintf(stderr, "iteration %d: %llu accepted appends never completed\n", it,
				(unsigned long long)lost);
			lost_total += lost;
			for (int k = 0; k < POOL; k++)
				if (pending[k])
					fprintf(stderr,
						"  slot %d pending; last accepted %llu, last tried "
						"%llu\n",
						k, (unsigned long long)last_ok_i,
						(unsigned long long)total_i);
		}
		memset(pending, 0, sizeof(pending));
		accepted = done_count = 0;
	}
	fprintf(stderr, "lost total %llu over %d iterations\n", (unsigned long long)lost_total,
		iters);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
	CHECK(lost_total == 0);
	return sl_check_finish("test_delete_race");
}
