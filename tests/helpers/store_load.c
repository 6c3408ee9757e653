/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store_load: the storage engine under load, for the kill -9 test
 * (tests/integration/test_crash.py). `run` appends records with contents
 * derived from a unique 64-bit record id, from two producer threads with
 * many appends in flight, and logs every acknowledged record to an ack
 * log, one line per record ("<shard> <seq> <id hex> <data len>"), the
 * lines of one append in one write(2) so that a kill leaves whole lines
 * (at most the last one cut short). `verify` opens the store (recovery
 * runs), reads every shard from the trim horizon, checks every stored
 * record's contents against its id and every complete ack log line
 * against what is stored, and prints per shard the sequence number after
 * the last stored record.
 *
 *   store_load run DIR ACKLOG [--shards N] [--seconds S] [--durability fsync|write]
 *                  [--rate APPENDS_PER_S]
 *   store_load verify DIR ACKLOG
 *
 * `run` goes on until it is killed, or for S seconds and then stops
 * cleanly. --rate paces the producers (0, the default: as fast as the
 * writer takes them) so that a test can bound how much it writes.
 * Exit status: 0 when all is well, 1 on a failure, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/meta.h>
#include <sluice/store.h>
#include <sluice/u128.h>

#include "store_util.h"

#define STREAM_NAME   "crash"
#define PRODUCERS     2
#define POOL          256  /* appends in flight per producer, at most */
#define RECS_MAX      8    /* records per append */
#define DATA_MAX      2000 /* bytes of data per record */
#define KEY_BYTES     24   /* "k" + 16 hex digits + NUL, rounded up */
#define LINE_BYTES    96   /* one ack log line, at most */
#define READ_RECS     4096
#define READ_BUF      (4u << 20)
#define MISMATCHES    10 /* printed, at most */
#define DRAIN_WAIT_MS 10000

/* The ack lines of one append go out in one write(2) of at most PIPE_BUF. */
#define ACK_WRITE_MAX (RECS_MAX * LINE_BYTES)
SL_STATIC_ASSERT(ACK_WRITE_MAX <= PIPE_BUF);

/* ---- record contents ---- */

static uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* The data of record `id` into out (DATA_MAX bytes); returns its length,
 * 1..DATA_MAX. The id leads when it fits. */
static uint32_t content(uint8_t *out, uint64_t id)
{
	uint64_t x = mix64(id) | 1;
	uint32_t len = (uint32_t)(x % DATA_MAX) + 1;
	for (uint32_t k = 0; k < len; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		out[k] = (uint8_t)(x >> 24);
	}
	memcpy(out, &id, len >= 8 ? 8 : len);
	return len;
}

static int key_of(char *out, size_t cap, uint64_t id)
{
	return snprintf(out, cap, "k%016llx", (unsigned long long)id);
}

/* ---- run ---- */

struct slot {
	struct sl_append app; /* first: done() gets &app */
	struct sl_record recs[RECS_MAX];
	uint64_t ids[RECS_MAX];
	char keys[RECS_MAX][KEY_BYTES];
	uint8_t data[RECS_MAX][DATA_MAX];
	int busy; /* atomic: 1 from enqueue until done() */
};

struct producer {
	pthread_t tid;
	unsigned index;
	uint64_t rng;
	struct slot *pool; /* POOL slots */
	int rc;            /* 0, or the errno an append was refused with */
	double rate;       /* appends per second; 0: no pacing */
};

static struct {
	struct sl_store *st;
	uint32_t stream_id;
	uint32_t shards;
	int ack_fd;
	uint64_t nonce;
	uint64_t counter;        /* atomic: the low half of the next id */
	int stop;                /* atomic */
	int failed;              /* atomic */
	uint64_t acked_appends;  /* atomic */
	uint64_t acked_records;  /* atomic */
	uint64_t not_ok[256];    /* atomic: done() statuses other than OK */
	uint64_t ack_write_errs; /* atomic */
} L;

static void ack_done(struct sl_append *a)
{
	struct slot *s = (struct slot *)a;
	if (a->status != SL_APPEND_OK) {
		__atomic_add_fetch(&L.not_ok[a->status], 1, __ATOMIC_RELAXED);
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
		return;
	}
	char buf[ACK_WRITE_MAX];
	char dec[SL_U128_DEC_BUF];
	size_t len = 0;
	for (uint16_t r = 0; r < a->record_count; r++) {
		sl_u128_to_dec(a->first_seq + r, dec);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %s %016llx %u\n",
					a->shard_id, dec, (unsigned long long)s->ids[r],
					s->recs[r].data_len);
	}
	ssize_t n = write(L.ack_fd, buf, len);
	if (n != (ssize_t)len)
		__atomic_add_fetch(&L.ack_write_errs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&L.acked_appends, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&L.acked_records, a->record_count, __ATOMIC_RELAXED);
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
}

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

/* Fill a slot with 1..RECS_MAX fresh records for a random shard. */
static void slot_fill(struct producer *p, struct slot *s)
{
	uint16_t n = (uint16_t)(rng_next(&p->rng) % RECS_MAX + 1);
	memset(&s->app, 0, sizeof(s->app));
	for (uint16_t r = 0; r < n; r++) {
		uint64_t id = L.nonce << 32 | __atomic_fetch_add(&L.counter, 1, __ATOMIC_RELAXED);
		int kl = key_of(s->keys[r], sizeof(s->keys[r]), id);
		s->ids[r] = id;
		s->recs[r] = (struct sl_record){
		    .key = (const uint8_t *)s->keys[r],
		    .key_len = (uint16_t)kl,
		    .data = s->data[r],
		    .data_len = content(s->data[r], id),
		};
	}
	s->app.stream_id = L.stream_id;
	s->app.shard_id = (uint32_t)(rng_next(&p->rng) % L.shards);
	s->app.records = s->recs;
	s->app.record_count = n;
	s->app.arrival_ms = sl_clock_wall_ms();
	s->app.done = ack_done;
	s->app.owner = p;
}

static struct slot *slot_free(struct producer *p, unsigned *cursor)
{
	for (unsigned k = 0; k < POOL; k++) {
		struct slot *s = &p->pool[(*cursor + k) % POOL];
		if (!__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE)) {
			*cursor = (*cursor + k + 1) % POOL;
			return s;
		}
	}
	return NULL;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	unsigned cursor = 0;
	uint64_t start_ns = sl_clock_mono_ns(), sent = 0;
	while (!__atomic_load_n(&L.stop, __ATOMIC_ACQUIRE)) {
		if (p->rate > 0 &&
		    (double)sent > (double)(sl_clock_mono_ns() - start_ns) * 1e-9 * p->rate) {
			usleep(200);
			continue;
		}
		struct slot *s = slot_free(p, &cursor);
		if (s == NULL) {
			usleep(100);
			continue;
		}
		slot_fill(p, s);
		__atomic_store_n(&s->busy, 1, __ATOMIC_RELEASE);
		int rc;
		while ((rc = sl_store_append(L.st, &s->app)) == -ENOBUFS &&
		       !__atomic_load_n(&L.stop, __ATOMIC_ACQUIRE))
			usleep(100);
		if (rc == 0) {
			sent++;
			continue;
		}
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
		if (rc == -ENOBUFS)
			break; /* stopping */
		fprintf(stderr, "store_load: producer %u: append refused: %s\n", p->index,
			sl_strerror(rc));
		p->rc = rc;
		__atomic_store_n(&L.failed, 1, __ATOMIC_RELEASE);
		break;
	}
	return NULL;
}

/* Wait until every slot of every producer is done. 0, or -ETIMEDOUT. */
static int wait_drained(struct producer *pr)
{
	for (int ms = 0; ms < DRAIN_WAIT_MS; ms++) {
		bool busy = false;
		for (unsigned i = 0; i < PRODUCERS && !busy; i++)
			for (unsigned k = 0; k < POOL && !busy; k++)
				busy = __atomic_load_n(&pr[i].pool[k].busy, __ATOMIC_ACQUIRE);
		if (!busy)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static void store_options(struct sl_store_options *o, const char *dir)
{
	tu_options(o, dir);
	o->segment_bytes = 1u << 20; /* rolls every few batches */
	o->batch_bytes = 256u << 10;
}

/* Find the stream, or create it with `shards` shards and `durability`. */
static int stream_open(struct sl_store *st, uint32_t shards, enum sl_durability durability,
		       bool create, struct sl_meta_stream *s)
{
	int rc = sl_meta_stream_get(sl_store_meta(st), STREAM_NAME, s);
	if (rc != -ENOENT || !create)
		return rc;
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", STREAM_NAME);
	s->durability = durability;
	s->retention_hours = 24;
	s->max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	return sl_store_stream_create(st, s, shards);
}

struct run_args {
	const char *dir, *acklog;
	uint32_t shards;
	double seconds; /* 0: until killed */
	double rate;    /* appends per second, all producers; 0: no pacing */
	enum sl_durability durability;
};

static int cmd_run(const struct run_args *a)
{
	struct sl_store_options o;
	struct sl_meta_stream s;
	struct tu_writer w;
	static struct producer pr[PRODUCERS];
	uint32_t nonce;
	int rc;

	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		fprintf(stderr, "store_load: getrandom: %s\n", sl_strerror(sl_neg_errno()));
		return 1;
	}
	L.nonce = nonce;
	L.ack_fd = open(a->acklog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (L.ack_fd < 0) {
		fprintf(stderr, "store_load: %s: %s\n", a->acklog, sl_strerror(sl_neg_errno()));
		return 1;
	}
	store_options(&o, a->dir);
	rc = sl_store_open(&o, &L.st);
	if (rc != 0) {
		fprintf(stderr, "store_load: opening the store in %s: %s\n", a->dir,
			sl_strerror(rc));
		return 1;
	}
	rc = stream_open(L.st, a->shards, a->durability, true, &s);
	if (rc == 0 && s.durability != a->durability) {
		fprintf(stderr, "store_load: stream %s exists with another durability mode\n",
			STREAM_NAME);
		sl_store_close(L.st);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "store_load: stream %s: %s\n", STREAM_NAME, sl_strerror(rc));
		sl_store_close(L.st);
		return 1;
	}
	L.stream_id = s.id;
	L.shards = s.open_shard_count;
	printf("run: nonce %08x, stream %u, %u shards, durability %s\n", nonce, s.id, L.shards,
	       s.durability == SL_DURABILITY_FSYNC ? "fsync" : "write");
	fflush(stdout);

	tu_writer_start(&w, L.st, 0);
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pr[i].index = i;
		pr[i].rate = a->rate / PRODUCERS;
		pr[i].rng = mix64((uint64_t)nonce << 8 | i) | 1;
		pr[i].pool = calloc(POOL, sizeof(*pr[i].pool));
		if (pr[i].pool == NULL) {
			fprintf(stderr, "store_load: out of memory\n");
			return 1;
		}
		pthread_create(&pr[i].tid, NULL, producer_main, &pr[i]);
	}

	uint64_t end_ns = sl_clock_mono_ns() + (uint64_t)(a->seconds * 1e9);
	while (!__atomic_load_n(&L.failed, __ATOMIC_ACQUIRE) &&
	       (a->seconds == 0 || sl_clock_mono_ns() < end_ns))
		usleep(10000);

	/* A clean stop: no more appends, the ones in flight done, then the
	 * writer drains and returns. */
	__atomic_store_n(&L.stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_join(pr[i].tid, NULL);
	int drained = wait_drained(pr);
	sl_store_stop_appends(L.st);
	int wrc = tu_writer_stop(&w);
	sl_store_close(L.st);
	close(L.ack_fd);

	uint64_t not_ok = 0;
	for (unsigned i = 0; i < 256; i++) {
		if (L.not_ok[i] != 0)
			printf("run: %llu append(s) done with status %u\n",
			       (unsigned long long)L.not_ok[i], i);
		not_ok += L.not_ok[i];
	}
	printf("run: acked %llu appends, %llu records; %llu not OK; %llu ack log write "
	       "errors\n",
	       (unsigned long long)L.acked_appends, (unsigned long long)L.acked_records,
	       (unsigned long long)not_ok, (unsigned long long)L.ack_write_errs);
	if (drained != 0)
		fprintf(stderr, "store_load: appends still in flight after %d ms\n", DRAIN_WAIT_MS);
	if (wrc != 0)
		fprintf(stderr, "store_load: writer: %s\n", sl_strerror(wrc));
	bool ok = !L.failed && not_ok == 0 && L.ack_write_errs == 0 && drained == 0 && wrc == 0;
	for (unsigned i = 0; i < PRODUCERS; i++)
		free(pr[i].pool);
	return ok ? 0 : 1;
}

/* ---- verify ---- */

struct stored {
	uint64_t id;
	uint32_t len;
	bool ok; /* key and data are those of id */
};

struct shard_log {
	sl_u128 base; /* the first stored record's seq */
	sl_u128 next; /* the seq after the last stored record */
	struct stored *v;
	uint64_t n, cap;
};

static uint64_t mismatches;

__attribute__((format(printf, 1, 2))) static void mismatch(const char *fmt, ...)
{
	if (mismatches++ < MISMATCHES) {
		va_list ap;
		va_start(ap, fmt);
		fputs("MISMATCH: ", stdout);
		vprintf(fmt, ap);
		fputc('\n', stdout);
		va_end(ap);
	}
}

/* Whether a stored record's key and data are those its key names. */
static bool record_intact(const uint8_t *key, uint32_t key_len, const uint8_t *data,
			  uint32_t data_len, uint64_t *id)
{
	char k[KEY_BYTES];
	static uint8_t want[DATA_MAX];
	if (key_len != 17 || key[0] != 'k')
		return false;
	memcpy(k, key + 1, 16);
	k[16] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(k, &end, 16);
	if (errno != 0 || *end != '\0')
		return false;
	*id = v;
	uint32_t len = content(want, v);
	return len == data_len && memcmp(want, data, len) == 0;
}

static int read_shard(struct sl_store *st, uint32_t stream_id, uint32_t shard, struct shard_log *l)
{
	static struct sl_read_record recs[READ_RECS];
	static uint8_t buf[READ_BUF];
	struct sl_shard *sh = sl_store_shard(st, stream_id, shard);
	struct sl_shard_status ss;
	char d1[SL_U128_DEC_BUF], d2[SL_U128_DEC_BUF];
	if (sh == NULL) {
		mismatch("shard %u: not found", shard);
		return -ENOENT;
	}
	sl_store_shard_status(sh, &ss);
	if (ss.error != 0)
		mismatch("shard %u: failed at open: %s", shard, sl_strerror(ss.error));
	enum sl_read_from from = SL_READ_TRIM_HORIZON;
	sl_u128 pos = 0, next;
	for (;;) {
		int n =
		    sl_store_read(st, sh, from, pos, 0, recs, READ_RECS, buf, sizeof(buf), &next);
		if (n < 0) {
			mismatch("shard %u: read: %s", shard, sl_strerror(n));
			return n;
		}
		if (l->n == 0 && n > 0)
			l->base = recs[0].seq;
		for (int i = 0; i < n; i++) {
			const struct sl_read_record *r = &recs[i];
			if (r->seq != l->base + l->n) {
				sl_u128_to_dec(r->seq, d1);
				sl_u128_to_dec(l->base + l->n, d2);
				mismatch("shard %u: stored seq %s where %s was due", shard, d1, d2);
				return -EBADMSG;
			}
			if (l->n == l->cap) {
				uint64_t cap = l->cap ? l->cap * 2 : 4096;
				struct stored *nv = realloc(l->v, cap * sizeof(*nv));
				if (nv == NULL)
					return -ENOMEM;
				l->v = nv;
				l->cap = cap;
			}
			struct stored *e = &l->v[l->n++];
			e->id = 0;
			e->len = r->data_len;
			e->ok = record_intact(buf + r->key_off, r->key_len, buf + r->data_off,
					      r->data_len, &e->id);
			if (!e->ok) {
				sl_u128_to_dec(r->seq, d1);
				mismatch("shard %u seq %s: stored record is not intact (key %.*s, "
					 "%u bytes)",
					 shard, d1, (int)(r->key_len < 32 ? r->key_len : 32),
					 (const char *)buf + r->key_off, r->data_len);
			}
		}
		if (n == 0) {
			l->next = next;
			return 0;
		}
		from = SL_READ_AT_SEQ;
		pos = next;
	}
}

/* Check one complete ack log line against the stored records. */
static void check_line(const char *line, uint64_t lineno, struct shard_log *logs, uint32_t shards)
{
	unsigned shard, len;
	char seqs[64];
	unsigned long long id;
	char tail;
	sl_u128 seq;
	if (sscanf(line, "%u %63s %llx %u%c", &shard, seqs, &id, &len, &tail) != 5 ||
	    tail != '\n' || sl_u128_from_dec(seqs, strlen(seqs), &seq) != 0) {
		mismatch("ack log line %llu malformed: %s", (unsigned long long)lineno, line);
		return;
	}
	if (shard >= shards) {
		mismatch("ack log line %llu: shard %u does not exist", (unsigned long long)lineno,
			 shard);
		return;
	}
	const struct shard_log *l = &logs[shard];
	if (l->n == 0 || seq < l->base || seq - l->base >= l->n) {
		mismatch("shard %u seq %s (record %016llx, %u bytes): acked, not stored", shard,
			 seqs, id, len);
		return;
	}
	const struct stored *e = &l->v[(uint64_t)(seq - l->base)];
	if (e->id != id || e->len != len || !e->ok)
		mismatch("shard %u seq %s: acked record %016llx of %u bytes, stored %016llx of "
			 "%u bytes%s",
			 shard, seqs, id, len, (unsigned long long)e->id, e->len,
			 e->ok ? "" : " (not intact)");
}

static int cmd_verify(const char *dir, const char *acklog)
{
	struct sl_store_options o;
	struct sl_store *st;
	struct sl_meta_stream s;
	struct shard_log *logs = NULL;
	uint32_t shards = 0;
	uint64_t stored = 0, acked = 0, partial = 0;
	char dec[SL_U128_DEC_BUF];

	FILE *f = fopen(acklog, "re");
	if (f == NULL && errno != ENOENT) {
		fprintf(stderr, "store_load: %s: %s\n", acklog, sl_strerror(sl_neg_errno()));
		return 1;
	}
	store_options(&o, dir);
	int rc = sl_store_open(&o, &st);
	if (rc != 0) {
		fprintf(stderr, "store_load: opening the store in %s: %s\n", dir, sl_strerror(rc));
		return 1;
	}
	rc = stream_open(st, 0, SL_DURABILITY_FSYNC, false, &s);
	if (rc != 0 && rc != -ENOENT) {
		fprintf(stderr, "store_load: stream %s: %s\n", STREAM_NAME, sl_strerror(rc));
		sl_store_close(st);
		return 1;
	}
	if (rc == 0) {
		shards = s.open_shard_count;
		logs = calloc(shards ? shards : 1, sizeof(*logs));
		if (logs == NULL)
			return 1;
		for (uint32_t i = 0; i < shards; i++) {
			if (read_shard(st, s.id, i, &logs[i]) == -ENOMEM) {
				fprintf(stderr, "store_load: out of memory\n");
				return 1;
			}
			stored += logs[i].n;
		}
	}
	sl_store_close(st);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while (f != NULL && (len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] != '\n') {
			partial++; /* the last line, cut short by the kill */
			break;
		}
		check_line(line, acked + 1, logs, shards);
		acked++;
	}
	free(line);
	if (f != NULL)
		fclose(f);

	printf("verified %llu acked records, %llu stored, %u shards\n", (unsigned long long)acked,
	       (unsigned long long)stored, shards);
	for (uint32_t i = 0; i < shards; i++) {
		sl_u128_to_dec(logs[i].next, dec);
		printf("shard %u next_seq %s\n", i, dec);
		free(logs[i].v);
	}
	if (partial)
		printf("ignored a partial last ack log line\n");
	free(logs);
	if (mismatches > 0) {
		printf("FAILED: %llu mismatch(es)%s\n", (unsigned long long)mismatches,
		       mismatches > MISMATCHES ? " (the first ones above)" : "");
		return 1;
	}
	return 0;
}

/* ---- arguments ---- */

static int usage(void)
{
	fprintf(stderr, "usage: store_load run DIR ACKLOG [--shards N] [--seconds S] "
			"[--durability fsync|write] [--rate APPENDS_PER_S]\n"
			"       store_load verify DIR ACKLOG\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "verify") == 0)
		return argc == 4 ? cmd_verify(argv[2], argv[3]) : usage();
	if (strcmp(argv[1], "run") != 0)
		return usage();
	struct run_args a = {.dir = argv[2], .acklog = argv[3], .shards = 4};
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		const char *v = argv[i + 1];
		char *end;
		if (strcmp(argv[i], "--shards") == 0) {
			unsigned long n = strtoul(v, &end, 10);
			if (*end != '\0' || n == 0 || n > 64)
				return usage();
			a.shards = (uint32_t)n;
		} else if (strcmp(argv[i], "--seconds") == 0) {
			a.seconds = strtod(v, &end);
			if (*end != '\0' || !(a.seconds > 0))
				return usage();
		} else if (strcmp(argv[i], "--rate") == 0) {
			a.rate = strtod(v, &end);
			if (*end != '\0' || !(a.rate >= 0))
				return usage();
		} else if (strcmp(argv[i], "--durability") == 0) {
			if (strcmp(v, "fsync") == 0)
				a.durability = SL_DURABILITY_FSYNC;
			else if (strcmp(v, "write") == 0)
				a.durability = SL_DURABILITY_WRITE;
			else
				return usage();
		} else {
			return usage();
		}
	}
	return cmd_run(&a);
}
