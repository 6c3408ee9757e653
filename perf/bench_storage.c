/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage benchmark: how fast the storage engine takes appends in fsync
 * mode (every ack means written and fdatasync'd), and how long a durable ack
 * takes, through the engine's own API: sl_store_open on a scratch directory
 * with the configuration defaults ([storage] keys), one stream in fsync
 * mode, one writer thread (sl_store_writer_run) and one producer (this
 * program's main thread; the machine this was written for has two cores).
 * perf/bench_storage.sh runs it beside fio, which measures the disk itself
 * in the same run, and turns its lines into perf/run.sh figures.
 *
 * Appends come from a preallocated pool of slots (the window: at most that
 * many appends are in flight). Each slot is one struct sl_append whose
 * records point into one preallocated data buffer; the append's record
 * count cycles over LO..HI (--append-records), its shard goes round-robin
 * over the stream's shards. The done callback (on the writer thread) puts
 * the slot back on a single-producer single-consumer free list and counts.
 *
 * Modes:
 *   throughput  closed loop: the producer appends whenever a slot is free.
 *               Records/s and payload MB/s (record data bytes, 10^6 B) of
 *               appends acked OK inside the measured window (by done time).
 *   latency     open loop: the producer paces appends to --rate records/s
 *               (sleeping on CLOCK_MONOTONIC deadlines between them).
 *   sweep       group commit: a closed-loop run finds the maximum for the
 *               given shape, then open-loop runs at --loads percent of it.
 *
 * Every run also measures, for appends enqueued inside the window, the
 * durable-ack latency (done time - enqueue time, CLOCK_MONOTONIC, taken
 * right before sl_store_append) in a log-linear histogram (32 linear
 * buckets per power of two: at most ~3% error, fixed memory), and counts
 * commits. A commit is counted when a done callback sees its shard's
 * visible watermark (sl_store_shard_status) at a value not seen before:
 * the writer publishes the watermark of a commit before it calls that
 * commit's done callbacks, on the same thread, so the number of distinct
 * watermarks seen is the number of group commits (fdatasyncs) that acked
 * something. A done callback that sees a watermark below its own records
 * is counted as an anomaly and reported.
 *
 * Each run opens a fresh store in DIR/store and removes it afterwards,
 * then syncfs()es the filesystem so that the removal's I/O (trims, on a
 * discard mount) lands between runs rather than inside the next one.
 *
 * Output: one line per run on stdout, tab-separated key=value pairs after
 * the word "run" (bench_storage.sh parses them); progress on stderr.
 *
 *   bench_storage throughput|latency|sweep --dir D [--record-bytes B]
 *       [--shards N] [--seconds S] [--warmup S] [--append-records LO[-HI]]
 *       [--window N] [--rate RECORDS_PER_S] [--loads P,P,...]
 *       [--batch-kb K] [--linger-us U] [--segment-mb M] [--preallocate-mb M]
 *       [--commits-inflight N]
 *       [--direct-io|--buffered]
 *
 * --batch-kb, --linger-us, --segment-mb, --preallocate-mb and
 * --commits-inflight override storage.batch_kb, storage.linger_us,
 * storage.segment_mb, storage.preallocate_mb and
 * storage.commits_inflight for the run (a segment size no run reaches
 * measures without segment rolls).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sluice/clock.h>
#include <sluice/config.h>
#include <sluice/record.h>
#include <sluice/store.h>

#define PROG          "bench_storage"
#define DATA_BYTES    (1u << 20)
#define KEY_BYTES     16u
#define HIST_SUB_BITS 5u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64u - HIST_SUB_BITS + 1u) * HIST_SUB)
#define LOADS_MAX     16
#define BACKOFF_NS    (20 * SL_NS_PER_US)
#define DRAIN_WAIT_S  60

struct opts {
	const char *mode;
	const char *dir;
	uint32_t record_bytes;
	uint32_t shards;
	double seconds;
	double warmup;
	uint32_t rec_lo, rec_hi;
	uint32_t window;
	double rate;
	double loads[LOADS_MAX];
	unsigned load_count;
	int batch_kb;         /* -1: the configuration default */
	int linger_us;        /* -1: the configuration default */
	int commits_inflight; /* -1: the configuration default */
	int segment_mb;       /* -1: the configuration default */
	int prealloc_mb;      /* -1: the configuration default */
	bool direct_io;
};

/* Log-linear histogram of nanoseconds; written by the writer thread only. */
struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t n[HIST_BUCKETS];
};

struct slot {
	struct sl_append app;
	uint64_t enq_ns;
	uint32_t shard;
	struct sl_record *recs;
};

/* Per shard, touched by the writer thread only (in done callbacks). */
struct shard_ctx {
	struct sl_shard *sh;
	sl_u128 last_visible;
};

struct run {
	const struct opts *o;
	struct sl_store *st;
	uint32_t stream_id;
	struct shard_ctx *shards;
	struct slot *slots;
	uint32_t nslots;
	/* Free slots: the writer pushes (tail), the producer pops (head). */
	uint32_t *free_ring;
	uint32_t free_mask;
	uint64_t free_head;
	uint64_t free_tail; /* atomic */
	/* The measured window, set before the first append. */
	uint64_t win_start, win_end;
	/* Written by the writer thread only; read after the drain. */
	uint64_t acked_records, acked_appends, commits, failed, anomalies;
	struct hist hist;
};

struct result {
	double records_per_s;
	double payload_mbps;
	double disk_mbps;
	double commits_per_s;
	double records_per_commit;
	double appends_per_commit;
	double p50_us, p99_us, p999_us, max_us;
	uint64_t samples;
	double writer_cpu, producer_cpu, process_cpu;
	uint64_t stalls;
	uint64_t throttled;
	uint64_t failed;
	uint64_t anomalies;
};

static uint8_t *g_data;
static cpu_set_t g_cpus; /* the process's CPUs, before any pinning */
static bool g_cpus_ok;

/* ---- histogram ---- */

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1u);
	return (e - HIST_SUB_BITS + 1u) * HIST_SUB + sub;
}

/* The middle of bucket i (its low bound for the exact buckets). */
static double hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned g = i / HIST_SUB, sub = i % HIST_SUB;
	unsigned shift = g - 1u; /* e - HIST_SUB_BITS */
	double low = (double)((uint64_t)(HIST_SUB + sub) << shift);
	return low + (double)((uint64_t)1 << shift) / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->n[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

/* The value at quantile q (0..1): the bucket holding the ceil(q*count)th. */
static double hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return (double)h->max;
}

/* ---- slots ---- */

static void free_push(struct run *r, uint32_t idx)
{
	uint64_t t = r->free_tail; /* only this thread writes it */
	r->free_ring[t & r->free_mask] = idx;
	__atomic_store_n(&r->free_tail, t + 1, __ATOMIC_RELEASE);
}

static int free_pop(struct run *r, uint32_t *idx)
{
	if (r->free_head == __atomic_load_n(&r->free_tail, __ATOMIC_ACQUIRE))
		return -1;
	*idx = r->free_ring[r->free_head & r->free_mask];
	r->free_head++;
	return 0;
}

static uint32_t free_count(struct run *r)
{
	return (uint32_t)(__atomic_load_n(&r->free_tail, __ATOMIC_ACQUIRE) - r->free_head);
}

/* The done callback, on the writer thread. */
static void on_done(struct sl_append *a)
{
	struct slot *s = (struct slot *)a;
	struct run *r = a->owner;
	uint64_t now = sl_clock_mono_ns();

	if (a->status != SL_APPEND_OK) {
		r->failed++;
	} else {
		if (now >= r->win_start && now < r->win_end) {
			r->acked_records += a->record_count;
			r->acked_appends++;
		}
		if (s->enq_ns >= r->win_start && s->enq_ns < r->win_end)
			hist_add(&r->hist, now - s->enq_ns);
		struct shard_ctx *sc = &r->shards[s->shard];
		struct sl_shard_status ss;
		sl_store_shard_status(sc->sh, &ss);
		if (ss.visible_seq < a->first_seq + a->record_count)
			r->anomalies++;
		if (ss.visible_seq != sc->last_visible) {
			sc->last_visible = ss.visible_seq;
			if (now >= r->win_start && now < r->win_end)
				r->commits++;
		}
	}
	free_push(r, (uint32_t)(s - r->slots));
}

/* ---- the writer thread ---- */

struct writer {
	struct sl_store *st;
	int stop_fd;
	int rc;
	pthread_t tid;
};

static void *writer_main(void *p)
{
	struct writer *w = p;
	w->rc = sl_store_writer_run(w->st, 0, w->stop_fd);
	return NULL;
}

/* ---- helpers ---- */

/*
 * As sluiced lays threads out (docs/ARCHITECTURE.md): the producer, like an
 * RX lcore, on the last CPU; the writer on the others. With one CPU, or
 * SL_BENCH_NO_PIN set, nothing is pinned. The CPUs are the process's own,
 * read once before the first run pinned this thread: a sweep's later runs
 * would otherwise see only the producer's CPU and leave their writer on
 * it too.
 */
static void pin_threads(pthread_t writer)
{
	cpu_set_t all = g_cpus, prod, rest;
	if (getenv("SL_BENCH_NO_PIN") != NULL || !g_cpus_ok || CPU_COUNT(&all) < 2)
		return;
	int last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			last = c;
	CPU_ZERO(&prod);
	CPU_SET(last, &prod);
	rest = all;
	CPU_CLR(last, &rest);
	pthread_setaffinity_np(pthread_self(), sizeof(prod), &prod);
	pthread_setaffinity_np(writer, sizeof(rest), &rest);
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / SL_NS_PER_S),
			      .tv_nsec = (long)(ns % SL_NS_PER_S)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * SL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

static uint64_t disk_bytes(const struct run *r)
{
	uint64_t sum = 0;
	for (uint32_t i = 0; i < r->o->shards; i++) {
		struct sl_shard_status ss;
		sl_store_shard_status(r->shards[i].sh, &ss);
		sum += ss.bytes;
	}
	return sum;
}

struct snap {
	uint64_t t, writer, producer, process, bytes;
};

static void take_snap(const struct run *r, clockid_t wclk, struct snap *s)
{
	s->t = sl_clock_mono_ns();
	s->writer = cpu_ns(wclk);
	s->producer = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	s->process = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	s->bytes = disk_bytes(r);
}

/*
 * One run on a fresh store in `dir`: closed loop when rate is 0, else
 * paced to rate records/s. Fills *res. 0, or -1 (reported on stderr).
 */
static int run_one(const struct opts *o, const char *dir, double rate, struct result *res)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sl_config cfg;
	struct sl_store_options so;
	struct writer w = {.stop_fd = -1};
	int ret = -1, rc;

	if (r == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	r->o = o;
	memset(res, 0, sizeof(*res));
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": mkdir %s: %s\n", dir, strerror(errno));
		free(r);
		return -1;
	}
	sl_config_defaults(&cfg);
	sl_store_options_from_config(&so, &cfg);
	so.data_dir = dir;
	so.writers = 1;
	if (o->batch_kb >= 0)
		so.batch_bytes = (uint32_t)o->batch_kb << 10;
	if (o->linger_us >= 0)
		so.linger_us = (uint32_t)o->linger_us;
	if (o->commits_inflight >= 0)
		so.commits_inflight = (uint32_t)o->commits_inflight;
	if (o->segment_mb >= 0)
		so.segment_bytes = (uint64_t)o->segment_mb << 20;
	if (o->prealloc_mb >= 0)
		so.prealloc_bytes = (uint64_t)o->prealloc_mb << 20;
	so.direct_io = o->direct_io;
	/* Every slot can sit on one shard's ring without THROTTLED. */
	while (so.ring_slots < o->window && so.ring_slots < (1u << 20))
		so.ring_slots <<= 1;
	rc = sl_store_open(&so, &r->st);
	if (rc != 0) {
		fprintf(stderr, PROG ": sl_store_open %s: %s\n", dir, strerror(-rc));
		goto out_rm;
	}
	struct sl_meta_stream ms = {0};
	snprintf(ms.name, sizeof(ms.name), "bench");
	ms.durability = SL_DURABILITY_FSYNC;
	ms.retention_hours = 24;
	ms.max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	rc = sl_store_stream_create(r->st, &ms, o->shards);
	if (rc != 0) {
		fprintf(stderr, PROG ": stream create (%u shards): %s\n", o->shards, strerror(-rc));
		goto out_close;
	}
	r->stream_id = ms.id;

	r->shards = calloc(o->shards, sizeof(*r->shards));
	r->nslots = o->window;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	struct sl_record *recs = calloc((size_t)r->nslots * o->rec_hi, sizeof(*recs));
	char *keys = calloc((size_t)o->shards, KEY_BYTES);
	uint32_t ring = 1;
	while (ring < r->nslots)
		ring <<= 1;
	r->free_ring = calloc(ring, sizeof(*r->free_ring));
	r->free_mask = ring - 1;
	if (r->shards == NULL || r->slots == NULL || recs == NULL || keys == NULL ||
	    r->free_ring == NULL) {
		fprintf(stderr, PROG ": out of memory for %u slots\n", r->nslots);
		free(recs);
		free(keys);
		goto out_close;
	}
	for (uint32_t i = 0; i < o->shards; i++) {
		r->shards[i].sh = sl_store_shard(r->st, r->stream_id, i);
		snprintf(keys + (size_t)i * KEY_BYTES, KEY_BYTES, "key-%u", i);
		if (r->shards[i].sh == NULL) {
			fprintf(stderr, PROG ": shard %u not found after create\n", i);
			free(recs);
			free(keys);
			goto out_close;
		}
	}
	/* Records point into g_data at spread offsets; keys are per shard. */
	uint32_t spread = DATA_BYTES - o->record_bytes;
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];
		s->recs = recs + (size_t)i * o->rec_hi;
		for (uint32_t k = 0; k < o->rec_hi; k++) {
			uint32_t off = (uint32_t)(((uint64_t)i * o->rec_hi + k) * 4099u % spread);
			s->recs[k] = (struct sl_record){
			    .data = g_data + off,
			    .data_len = o->record_bytes,
			    .hash_key = ((sl_u128)i << 64) | k,
			};
		}
		s->app.owner = r;
		s->app.done = on_done;
		s->app.stream_id = r->stream_id;
		s->app.records = s->recs;
		r->free_ring[i] = i;
	}
	r->free_tail = r->nslots;

	w.st = r->st;
	w.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w.stop_fd < 0 || pthread_create(&w.tid, NULL, writer_main, &w) != 0) {
		fprintf(stderr, PROG ": cannot start the writer thread\n");
		free(recs);
		free(keys);
		goto out_close;
	}
	clockid_t wclk;
	if (pthread_getcpuclockid(w.tid, &wclk) != 0)
		wclk = CLOCK_THREAD_CPUTIME_ID;
	pin_threads(w.tid);

	uint64_t t0 = sl_clock_mono_ns();
	r->win_start = t0 + (uint64_t)(o->warmup * 1e9);
	r->win_end = r->win_start + (uint64_t)(o->seconds * 1e9);
	double per_record_ns = rate > 0 ? 1e9 / rate : 0;
	double next_due = (double)t0;
	uint32_t shard = 0, nrec = o->rec_lo;
	struct snap s0 = {0}, s1 = {0};
	bool in_window = false;
	uint64_t stalls = 0, throttled = 0;
	uint32_t lost = 0;

	for (;;) {
		uint64_t now = sl_clock_mono_ns();
		if (!in_window && now >= r->win_start) {
			take_snap(r, wclk, &s0);
			in_window = true;
		}
		if (now >= r->win_end)
			break;
		if (rate > 0 && (double)now < next_due) {
			uint64_t due = (uint64_t)next_due;
			sleep_until(due < r->win_end ? due : r->win_end);
			continue;
		}
		uint32_t idx;
		if (free_pop(r, &idx) != 0) {
			stalls++;
			sleep_until(now + BACKOFF_NS);
			continue;
		}
		struct slot *s = &r->slots[idx];
		s->shard = shard;
		s->app.shard_id = shard;
		s->app.record_count = (uint16_t)nrec;
		for (uint32_t k = 0; k < nrec; k++) {
			s->recs[k].key = (const uint8_t *)keys + (size_t)shard * KEY_BYTES;
			s->recs[k].key_len = (uint16_t)strlen(keys + (size_t)shard * KEY_BYTES);
		}
		s->app.arrival_ms = sl_clock_wall_ms();
		s->app.status = 0;
		s->enq_ns = sl_clock_mono_ns();
		while ((rc = sl_store_append(r->st, &s->app)) == -ENOBUFS) {
			throttled++;
			sleep_until(sl_clock_mono_ns() + BACKOFF_NS);
			s->enq_ns = sl_clock_mono_ns();
		}
		if (rc != 0) {
			fprintf(stderr, PROG ": sl_store_append: %s\n", strerror(-rc));
			lost = 1; /* not done; only the writer pushes free slots */
			break;
		}
		next_due += per_record_ns * nrec;
		shard = shard + 1 == o->shards ? 0 : shard + 1;
		nrec = nrec == o->rec_hi ? o->rec_lo : nrec + 1;
	}
	take_snap(r, wclk, &s1);

	/* Drain: every slot comes back before anything is read. */
	uint64_t deadline = sl_clock_mono_ns() + DRAIN_WAIT_S * SL_NS_PER_S;
	while (free_count(r) + lost != r->nslots && sl_clock_mono_ns() < deadline)
		sleep_until(sl_clock_mono_ns() + 100 * SL_NS_PER_US);
	bool drained = free_count(r) + lost == r->nslots;
	uint64_t one = 1;
	if (write(w.stop_fd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, PROG ": cannot signal the writer to stop\n");
	pthread_join(w.tid, NULL);
	if (!drained) {
		fprintf(stderr, PROG ": %u appends were never acked within %d s\n",
			r->nslots - lost - free_count(r), DRAIN_WAIT_S);
	} else if (lost != 0) {
		/* reported above */
	} else if (w.rc != 0) {
		fprintf(stderr, PROG ": writer: %s\n", strerror(-w.rc));
	} else if (!in_window) {
		fprintf(stderr, PROG ": the window never started\n");
	} else {
		double secs = (double)(r->win_end - r->win_start) / 1e9;
		double wall = (double)(s1.t - s0.t);
		res->records_per_s = (double)r->acked_records / secs;
		res->payload_mbps = res->records_per_s * o->record_bytes / 1e6;
		res->disk_mbps = (double)(s1.bytes - s0.bytes) / (wall / 1e9) / 1e6;
		res->commits_per_s = (double)r->commits / secs;
		res->records_per_commit =
		    r->commits ? (double)r->acked_records / (double)r->commits : 0;
		res->appends_per_commit =
		    r->commits ? (double)r->acked_appends / (double)r->commits : 0;
		res->p50_us = hist_quantile(&r->hist, 0.50) / 1e3;
		res->p99_us = hist_quantile(&r->hist, 0.99) / 1e3;
		res->p999_us = hist_quantile(&r->hist, 0.999) / 1e3;
		res->max_us = (double)r->hist.max / 1e3;
		res->samples = r->hist.count;
		res->writer_cpu = (double)(s1.writer - s0.writer) / wall;
		res->producer_cpu = (double)(s1.producer - s0.producer) / wall;
		res->process_cpu = (double)(s1.process - s0.process) / wall;
		res->stalls = stalls;
		res->throttled = throttled;
		res->failed = r->failed;
		res->anomalies = r->anomalies;
		ret = r->failed || r->anomalies ? -1 : 0;
		if (ret != 0)
			fprintf(stderr,
				PROG ": %" PRIu64 " appends failed, %" PRIu64 " anomalies\n",
				r->failed, r->anomalies);
	}
	free(recs);
	free(keys);
out_close:
	if (w.stop_fd >= 0)
		close(w.stop_fd);
	sl_store_close(r->st);
out_rm:
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	/* Let the removal (and, on a discard mount, its trims) reach the disk
	 * now rather than during the next run. */
	int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		syncfs(dfd);
		close(dfd);
	}
	free(r->free_ring);
	free(r->slots);
	free(r->shards);
	free(r);
	return ret;
}

static void print_result(const struct opts *o, const char *mode, double load_pct, double rate,
			 const struct result *res)
{
	printf("run\tmode=%s\trecord_bytes=%u\tshards=%u\tappend_records=%u-%u\twindow=%u\t"
	       "load_pct=%.0f\toffered_rps=%.0f\trecords_per_s=%.0f\tpayload_mbps=%.1f\t"
	       "disk_mbps=%.1f\tcommits_per_s=%.0f\trecords_per_commit=%.1f\t"
	       "appends_per_commit=%.1f\tp50_us=%.1f\tp99_us=%.1f\tp999_us=%.1f\tmax_us=%.1f\t"
	       "samples=%" PRIu64 "\twriter_cpu=%.2f\tproducer_cpu=%.2f\tprocess_cpu=%.2f\t"
	       "stalls=%" PRIu64 "\tthrottled=%" PRIu64 "\n",
	       mode, o->record_bytes, o->shards, o->rec_lo, o->rec_hi, o->window, load_pct, rate,
	       res->records_per_s, res->payload_mbps, res->disk_mbps, res->commits_per_s,
	       res->records_per_commit, res->appends_per_commit, res->p50_us, res->p99_us,
	       res->p999_us, res->max_us, res->samples, res->writer_cpu, res->producer_cpu,
	       res->process_cpu, res->stalls, res->throttled);
	fflush(stdout);
	fprintf(stderr,
		PROG ": %-10s %5u B x %2u shards, %3.0f%% of max: %10.0f rec/s %8.1f MB/s, "
		     "%6.1f rec/commit, p50 %.0f p99 %.0f p99.9 %.0f us, cpu writer %.2f "
		     "producer %.2f process %.2f\n",
		mode, o->record_bytes, o->shards, load_pct, res->records_per_s, res->payload_mbps,
		res->records_per_commit, res->p50_us, res->p99_us, res->p999_us, res->writer_cpu,
		res->producer_cpu, res->process_cpu);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " throughput|latency|sweep --dir D [--record-bytes B]\n"
		   "         [--shards N] [--seconds S] [--warmup S] [--append-records LO[-HI]]\n"
		   "         [--window N] [--rate RECORDS_PER_S] [--loads P,P,...]\n"
		   "         [--batch-kb K] [--linger-us U] [--segment-mb M] [--preallocate-mb M]\n"
		   "         [--commits-inflight N]\n"
		   "         [--direct-io|--buffered]\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_double(const char *s, double lo, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo))
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){
	    .record_bytes = 1024,
	    .shards = 1,
	    .seconds = 3,
	    .warmup = 0.5,
	    .rec_lo = 16,
	    .rec_hi = 16,
	    .window = 2048,
	    .batch_kb = -1,
	    .linger_us = -1,
	    .commits_inflight = -1,
	    .segment_mb = -1,
	    .prealloc_mb = -1,
	};
	if (argc < 2)
		return -1;
	o->mode = argv[1];
	o->direct_io = true; /* the engine's default (storage.direct_io) */
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint32_t u;
		int bad = 0;
		if (strcmp(a, "--direct-io") == 0 || strcmp(a, "--buffered") == 0) {
			o->direct_io = strcmp(a, "--direct-io") == 0;
			continue;
		}
		if (v == NULL)
			return -1;
		i++;
		if (strcmp(a, "--dir") == 0) {
			o->dir = v;
		} else if (strcmp(a, "--record-bytes") == 0) {
			bad = parse_u32(v, 1, 256u << 10, &o->record_bytes);
		} else if (strcmp(a, "--shards") == 0) {
			bad = parse_u32(v, 1, SL_SHARDS_PER_STREAM_MAX, &o->shards);
		} else if (strcmp(a, "--seconds") == 0) {
			bad = parse_double(v, 0.01, &o->seconds);
		} else if (strcmp(a, "--warmup") == 0) {
			bad = parse_double(v, 0, &o->warmup);
		} else if (strcmp(a, "--window") == 0) {
			bad = parse_u32(v, 1, 1u << 20, &o->window);
		} else if (strcmp(a, "--rate") == 0) {
			bad = parse_double(v, 1, &o->rate);
		} else if (strcmp(a, "--batch-kb") == 0) {
			bad = parse_u32(v, 64, 65536, &u);
			o->batch_kb = (int)u;
		} else if (strcmp(a, "--linger-us") == 0) {
			bad = parse_u32(v, 0, 100000, &u);
			o->linger_us = (int)u;
		} else if (strcmp(a, "--commits-inflight") == 0) {
			bad = parse_u32(v, 1, 4, &u); /* storage.commits_inflight's range */
			o->commits_inflight = (int)u;
		} else if (strcmp(a, "--preallocate-mb") == 0) {
			bad = parse_u32(v, 0, 65536, &u); /* storage.preallocate_mb's range */
			o->prealloc_mb = (int)u;
		} else if (strcmp(a, "--segment-mb") == 0) {
			bad = parse_u32(v, 4, 65536, &u); /* storage.segment_mb's range */
			o->segment_mb = (int)u;
		} else if (strcmp(a, "--append-records") == 0) {
			char lo[16];
			const char *dash = strchr(v, '-');
			size_t n = dash ? (size_t)(dash - v) : strlen(v);
			if (n == 0 || n >= sizeof(lo))
				return -1;
			memcpy(lo, v, n);
			lo[n] = '\0';
			bad = parse_u32(lo, 1, SL_FRAME_RECORDS_MAX, &o->rec_lo);
			o->rec_hi = o->rec_lo;
			if (!bad && dash)
				bad = parse_u32(dash + 1, o->rec_lo, SL_FRAME_RECORDS_MAX,
						&o->rec_hi);
		} else if (strcmp(a, "--loads") == 0) {
			char buf[256], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", v);
			o->load_count = 0;
			for (char *t = strtok_r(buf, ",", &save); t && !bad;
			     t = strtok_r(NULL, ",", &save)) {
				if (o->load_count == LOADS_MAX)
					return -1;
				bad = parse_double(t, 0.1, &o->loads[o->load_count++]);
			}
		} else {
			return -1;
		}
		if (bad) {
			fprintf(stderr, PROG ": bad value for %s: %s\n", a, v);
			return -1;
		}
	}
	if (o->dir == NULL)
		return -1;
	if (o->record_bytes >= DATA_BYTES)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct result res;
	char dir[4096];

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	/* Deadlines to the microsecond: the default 50 us slack would pace
	 * the latency runs in lumps. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	g_cpus_ok = sched_getaffinity(0, sizeof(g_cpus), &g_cpus) == 0;
	g_data = malloc(DATA_BYTES);
	if (g_data == NULL)
		return 1;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (uint32_t i = 0; i < DATA_BYTES; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		g_data[i] = (uint8_t)x;
	}
	if (mkdir(o.dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": mkdir %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/store", o.dir);

	int rc = 0;
	if (strcmp(o.mode, "throughput") == 0) {
		rc = run_one(&o, dir, 0, &res);
		if (rc == 0)
			print_result(&o, "throughput", 100, 0, &res);
	} else if (strcmp(o.mode, "latency") == 0) {
		if (o.rate <= 0) {
			fprintf(stderr, PROG ": latency needs --rate\n");
			return 2;
		}
		rc = run_one(&o, dir, o.rate, &res);
		if (rc == 0)
			print_result(&o, "latency", 0, o.rate, &res);
	} else if (strcmp(o.mode, "sweep") == 0) {
		if (o.load_count == 0) {
			static const double def[] = {10, 30, 50, 70, 90};
			memcpy(o.loads, def, sizeof(def));
			o.load_count = 5;
		}
		rc = run_one(&o, dir, 0, &res);
		if (rc == 0)
			print_result(&o, "sweep", 100, 0, &res);
		double max = res.records_per_s;
		for (unsigned i = 0; rc == 0 && i < o.load_count; i++) {
			double rate = max * o.loads[i] / 100.0;
			rc = run_one(&o, dir, rate, &res);
			if (rc == 0)
				print_result(&o, "sweep", o.loads[i], rate, &res);
		}
	} else {
		usage(stderr);
		return 2;
	}
	free(g_data);
	return rc == 0 ? 0 : 1;
}
