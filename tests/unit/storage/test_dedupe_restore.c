/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery's dedupe entries across segment rolls (storage/recovery.c):
 * what sl_store_dedupe_foreach hands the ingest path after a reopen when
 * the newest segment holds only a few of a shard's entries.
 *
 * - Rolled: entries over three segments, the newest holding only the last
 *   few, all come back, in log order; the same when the older segments'
 *   <base>.idx are missing or damaged (recovery rebuilds them from batch
 *   headers, byte for byte the writer's); a damaged batch at the end of
 *   the previous segment leaves only the newest segment's entries, and
 *   the shard still opens and takes writes.
 * - Ring: more than SL_STORE_DEDUPE_RESTORE entries before the roll: the
 *   newest SL_STORE_DEDUPE_RESTORE of the shard, oldest first.
 * - Bounds: at most SL_STORE_DEDUPE_OLDER_SEGS older segments; a segment
 *   without an index is indexed from at most SL_STORE_DEDUPE_OLDER_HEADERS
 *   batch headers (exactly that many: restored; one more: not); at most
 *   SL_STORE_DEDUPE_OLDER_BYTES of batches are read (the entries come
 *   from the newest ones).
 *
 * The first three run the real writer; the header and byte bounds use
 * segment files written here with the segment builder.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <sluice/segscan.h>
#include <sluice/store.h>

#include "check.h"
#include "store_util.h"

/* The bounds, and the shard's sequence prefix. */
#include "../../../storage/store_internal.h"

#define APPS_MAX 12000
#define DATA_LEN 64
#define SEGS_MAX 64

/* An append of one record. */
struct app1 {
	struct sl_append app; /* first: done() gets it */
	struct sl_record rec;
	uint8_t data[DATA_LEN];
	char key[16];
	int done; /* atomic */
};

static struct app1 apps[APPS_MAX];
static uint32_t app_count;

/* What sl_store_dedupe_foreach handed out. */
static struct sl_seg_dedupe got[SL_STORE_DEDUPE_RESTORE + 1];
static uint32_t got_count;

static void app1_done(struct sl_append *a)
{
	struct app1 *t = (struct app1 *)a;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
}

/* Queue an append to shard 0 (producer 0: anonymous, no entry). */
static void put(struct sl_store *st, uint32_t stream, uint64_t producer, uint64_t batch_seq)
{
	CHECK(app_count < APPS_MAX);
	if (app_count >= APPS_MAX)
		return;
	struct app1 *a = &apps[app_count++];
	memset(a, 0, sizeof(*a));
	int kl = snprintf(a->key, sizeof(a->key), "k%u", app_count);
	memset(a->data, (int)app_count, sizeof(a->data));
	a->rec = (struct sl_record){
	    .key = (const uint8_t *)a->key,
	    .key_len = (uint16_t)kl,
	    .data = a->data,
	    .data_len = sizeof(a->data),
	};
	a->app = (struct sl_append){
	    .producer_id = producer,
	    .batch_seq = batch_seq,
	    .arrival_ms = sl_clock_wall_ms(),
	    .stream_id = stream,
	    .records = &a->rec,
	    .record_count = 1,
	    .entry_count = producer != 0 ? 1 : 0,
	    .done = app1_done,
	};
	int rc;
	while ((rc = sl_store_append(st, &a->app)) == -ENOBUFS)
		usleep(100);
	CHECK(rc == 0);
}

/* Wait for the appends from `from` on; each must be stored. */
static void wait_from(uint32_t from)
{
	for (uint32_t i = from; i < app_count; i++) {
		int ok = 0;
		for (int t = 0; t < 50000 && !ok; t++) {
			ok = __atomic_load_n(&apps[i].done, __ATOMIC_ACQUIRE);
			if (!ok)
				usleep(100);
		}
		CHECK(ok && apps[i].app.status == SL_APPEND_OK);
	}
}

static int collect(uint32_t stream, uint32_t shard, const struct sl_seg_dedupe *e, void *arg)
{
	(void)stream;
	(void)arg;
	CHECK(shard == 0);
	CHECK(got_count < SL_STORE_DEDUPE_RESTORE);
	if (got_count < SL_STORE_DEDUPE_RESTORE)
		got[got_count++] = *e;
	return 0;
}

/* Reopen the store and collect what recovery restored into got[]. */
static struct sl_store *reopen(const struct sl_store_options *o)
{
	struct sl_store *st = NULL;
	CHECK(sl_store_open(o, &st) == 0);
	got_count = 0;
	if (st != NULL)
		CHECK(sl_store_dedupe_foreach(st, collect, NULL) == 0);
	return st;
}

/* got[] is exactly the entries of the appends with producers among
 * apps[from, to), in log order. */
static void check_got_apps(uint32_t from, uint32_t to)
{
	uint32_t k = 0;
	for (uint32_t i = from; i < to; i++) {
		const struct sl_append *a = &apps[i].app;
		if (a->producer_id == 0)
			continue;
		CHECK(k < got_count);
		if (k >= got_count)
			return;
		CHECK_EQ_U64(got[k].producer_id, a->producer_id);
		CHECK_EQ_U64(got[k].batch_seq, a->batch_seq);
		CHECK(got[k].first_seq == a->first_seq);
		CHECK(got[k].record_count == 1);
		CHECK(got[k].entry_index == 0 && got[k].entry_count == 1);
		k++;
	}
	CHECK_EQ_U64(got_count, k);
}

/* The first of apps[0, app_count) whose entry counts among the newest n
 * with a producer (0 if fewer). */
static uint32_t newest_entries_from(uint32_t n)
{
	uint32_t i = app_count;
	while (i > 0 && n > 0) {
		i--;
		if (apps[i].app.producer_id != 0)
			n--;
	}
	return i;
}

/* Appends are one shard's, queued in order: their sequence numbers rise. */
static void check_log_order(void)
{
	for (uint32_t i = 1; i < app_count; i++)
		CHECK(apps[i].app.first_seq == apps[i - 1].app.first_seq + 1);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The shard directory's files ending in suffix, sorted (counters are
 * zero-padded, so also by counter). */
static int list_files(const char *dir, const char *suffix, char names[][32])
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	size_t sl = strlen(suffix);
	while (d != NULL && (e = readdir(d)) != NULL && n < SEGS_MAX) {
		size_t l = strlen(e->d_name);
		if (l == 20 + sl && strcmp(e->d_name + 20, suffix) == 0)
			snprintf(names[n++], 32, "%s", e->d_name);
	}
	if (d != NULL)
		closedir(d);
	qsort(names, (size_t)n, 32, cmp_name);
	return n;
}

static size_t file_bytes(const char *dir, const char *name, uint8_t *buf, size_t cap)
{
	char path[512];
	snprintf(path, sizeof(path), "%.255s/%.31s", dir, name);
	return tu_file_bytes(path, buf, cap);
}

/* Flip one bit of the byte at off in dir/name. */
static void flip(const char *dir, const char *name, long off)
{
	char path[512];
	snprintf(path, sizeof(path), "%.255s/%.31s", dir, name);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fseek(f, off, SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x10, f);
	fclose(f);
}

static ssize_t plain_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	return pread(*(int *)ctx, buf, len, (off_t)off);
}

/* The offset of the last batch of segment dir/name. */
static uint64_t last_batch(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;
	struct sl_seg_scan ss;
	struct sl_seg_batch b;
	const uint8_t *bytes;
	uint64_t last = 0;
	snprintf(path, sizeof(path), "%.255s/%.31s", dir, name);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && fstat(fd, &sb) == 0);
	sl_seg_scan_init(&ss, plain_pread, &fd, (uint64_t)sb.st_size);
	for (uint64_t off = ss.off; sl_seg_scan_next(&ss, &b, &bytes) == 0; off = ss.off)
		last = off;
	sl_seg_scan_fini(&ss);
	close(fd);
	return last;
}

static struct sl_meta_stream make_stream(const char *name)
{
	struct sl_meta_stream s = {0};
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.durability = SL_DURABILITY_FSYNC;
	s.retention_hours = 24;
	s.max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	return s;
}

static uint64_t segments(struct sl_store *st, uint32_t stream)
{
	struct sl_shard_status ss;
	sl_store_shard_status(sl_store_shard(st, stream, 0), &ss);
	return ss.segments;
}

/* Reopen: every entry appended comes back, and the two sealed segments'
 * indexes are (again) the bytes the writer saved. */
static void reopen_same_idx(const struct sl_store_options *o, const char *sdir, char idxs[][32],
			    uint8_t idx_before[2][64 << 10], const size_t idx_len[2])
{
	static uint8_t idx_after[64 << 10];
	struct sl_store *st = reopen(o);
	check_got_apps(0, app_count);
	sl_store_close(st);
	for (int i = 0; i < 2; i++) {
		size_t n = file_bytes(sdir, idxs[i], idx_after, sizeof(idx_after));
		CHECK(n == idx_len[i] && memcmp(idx_after, idx_before[i], n) == 0);
	}
}

/*
 * Entries over three segments, the newest holding the last few: all come
 * back in log order, also without or with damaged indexes; a damaged
 * batch at the end of the previous segment stops the collection there.
 */
static void test_rolled(void)
{
	static uint8_t idx_before[2][64 << 10];
	size_t idx_len[2];
	char dir[64], sdir[256], segs[SEGS_MAX][32], idxs[SEGS_MAX][32];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	uint64_t bseq[3] = {0};
	CHECK(tu_tmpdir(dir, sizeof(dir), "dedupe") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 72u << 10; /* rolls every few dozen appends */
	o.batch_bytes = 64u << 10;
	app_count = 0;
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("rolled");
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	snprintf(sdir, sizeof(sdir), "%s/shards/%u/0", dir, s.id);
	tu_writer_start(&w, st, 0);
	/* Two producers and anonymous appends, until the third segment. */
	for (int round = 0; round < 200 && segments(st, s.id) < 3; round++) {
		uint32_t from = app_count;
		for (uint32_t i = 0; i < 16; i++) {
			uint64_t p = (app_count % 3 == 2) ? 0 : 1 + app_count % 3;
			put(st, s.id, p, p ? ++bseq[p] : 0);
		}
		wait_from(from);
	}
	uint32_t from = app_count;
	put(st, s.id, 1, ++bseq[1]);
	put(st, s.id, 2, ++bseq[2]);
	wait_from(from);
	CHECK_EQ_U64(segments(st, s.id), 3);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	check_log_order();

	/* The newest segment holds a few of the entries, the others the rest. */
	CHECK(list_files(sdir, ".seg", segs) == 3);
	uint64_t newest_lo = strtoull(segs[2], NULL, 10);
	uint32_t first_newest = 0;
	while (first_newest < app_count && sl_u128_lo(apps[first_newest].app.first_seq) < newest_lo)
		first_newest++;
	uint32_t total = 0, in_newest = 0;
	for (uint32_t i = 0; i < app_count; i++) {
		total += apps[i].app.producer_id != 0;
		in_newest += i >= first_newest && apps[i].app.producer_id != 0;
	}
	CHECK(in_newest >= 2 && in_newest * 4 < total);
	CHECK(total < SL_STORE_DEDUPE_RESTORE);

	/* All of them come back, oldest first. */
	st = reopen(&o);
	check_got_apps(0, app_count);
	sl_store_close(st);

	/* Without the sealed segments' indexes: rebuilt, the same entries,
	 * and the indexes are back, the writer's bytes. */
	CHECK(list_files(sdir, ".idx", idxs) == 2);
	for (int i = 0; i < 2; i++) {
		idx_len[i] = file_bytes(sdir, idxs[i], idx_before[i], sizeof(idx_before[i]));
		CHECK(idx_len[i] > 64);
		char path[512];
		snprintf(path, sizeof(path), "%.255s/%.31s", sdir, idxs[i]);
		CHECK(unlink(path) == 0);
	}
	reopen_same_idx(&o, sdir, idxs, idx_before, idx_len);

	/* Damaged indexes (an entry's bit): the same, and rewritten whole. */
	for (int i = 0; i < 2; i++)
		flip(sdir, idxs[i], 64 + 9);
	reopen_same_idx(&o, sdir, idxs, idx_before, idx_len);

	/* A damaged batch at the end of the previous segment: only the
	 * newest segment's entries; the store opens and the shard writes. */
	flip(sdir, segs[1], (long)last_batch(sdir, segs[1]) + SL_SEG_BATCH_HEADER_BYTES + 2);
	st = reopen(&o);
	check_got_apps(first_newest, app_count);
	struct sl_shard_status ss;
	sl_store_shard_status(sl_store_shard(st, s.id, 0), &ss);
	CHECK(ss.error == 0);
	tu_writer_start(&w, st, 0);
	from = app_count;
	put(st, s.id, 1, ++bseq[1]);
	wait_from(from);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* More entries before the roll than the ring holds: the newest ones. */
static void test_ring_full(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	uint64_t bseq = 0;
	CHECK(tu_tmpdir(dir, sizeof(dir), "dedupe") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 1u << 20;
	o.batch_bytes = 64u << 10;
	app_count = 0;
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("full");
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	tu_writer_start(&w, st, 0);
	while (app_count + 256 <= APPS_MAX - 3 && segments(st, s.id) < 2) {
		uint32_t from = app_count;
		for (uint32_t i = 0; i < 256; i++)
			put(st, s.id, 7, ++bseq);
		wait_from(from);
	}
	uint32_t from = app_count;
	for (uint32_t i = 0; i < 3; i++)
		put(st, s.id, 7, ++bseq);
	wait_from(from);
	CHECK_EQ_U64(segments(st, s.id), 2);
	CHECK(app_count > SL_STORE_DEDUPE_RESTORE + 256);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	check_log_order();

	st = reopen(&o);
	CHECK_EQ_U64(got_count, SL_STORE_DEDUPE_RESTORE);
	check_got_apps(newest_entries_from(SL_STORE_DEDUPE_RESTORE), app_count);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* One append per segment: the newest and SL_STORE_DEDUPE_OLDER_SEGS older. */
static void test_segment_bound(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	const uint32_t n = SL_STORE_DEDUPE_OLDER_SEGS + 4;
	CHECK(tu_tmpdir(dir, sizeof(dir), "dedupe") != NULL);
	tu_options(&o, dir);
	o.batch_bytes = 64u << 10;
	o.segment_age_ms = 1; /* each append after a pause rolls */
	app_count = 0;
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("many");
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	tu_writer_start(&w, st, 0);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t from = app_count;
		put(st, s.id, 3, 1000 + i);
		wait_from(from);
		usleep(5000);
	}
	CHECK_EQ_U64(segments(st, s.id), n);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	st = reopen(&o);
	check_got_apps(n - 1 - SL_STORE_DEDUPE_OLDER_SEGS, n);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* ---- segment files written here ---- */

struct synth {
	char dir[64], sdir[256];
	struct sl_store_options o;
	uint32_t stream_id;
	uint64_t prefix;
};

/* A store with one empty shard, closed: segment files go in s->sdir. */
static void synth_init(struct synth *s, const char *name)
{
	struct sl_store *st;
	CHECK(tu_tmpdir(s->dir, sizeof(s->dir), "dedupe") != NULL);
	tu_options(&s->o, s->dir);
	CHECK(sl_store_open(&s->o, &st) == 0);
	struct sl_meta_stream m = make_stream(name);
	CHECK(sl_store_stream_create(st, &m, 1) == 0);
	s->stream_id = m.id;
	s->prefix = sl_store_shard(st, m.id, 0)->seq_prefix;
	sl_store_close(st);
	snprintf(s->sdir, sizeof(s->sdir), "%s/shards/%u/0", s->dir, m.id);
}

/*
 * Write segment `base`: `batches` batches of one record (data_len bytes)
 * and one dedupe entry each, (producer, bseq0 + i), as the writer lays
 * them out without O_DIRECT. No index.
 */
static void synth_segment(const struct synth *s, uint64_t base, uint32_t batches, uint32_t data_len,
			  uint64_t producer, uint64_t bseq0)
{
	static uint8_t buf[SL_SEG_HEADER_BYTES + 8192], data[4096];
	char name[32], path[320];
	uint64_t now = sl_clock_wall_ms();
	CHECK(data_len <= sizeof(data));
	sl_seg_file_name(name, sizeof(name), sl_u128_make(s->prefix, base));
	snprintf(path, sizeof(path), "%.255s/%.31s", s->sdir, name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	struct sl_seg_header h = {
	    .stream_id = s->stream_id,
	    .base_seq = sl_u128_make(s->prefix, base),
	    .created_ms = now,
	};
	sl_seg_header_encode(buf, &h);
	CHECK(fwrite(buf, 1, SL_SEG_HEADER_BYTES, f) == SL_SEG_HEADER_BYTES);
	for (uint32_t i = 0; i < batches; i++) {
		struct sl_seg_builder b;
		struct sl_record r = {.key = (const uint8_t *)"k", .key_len = 1, .data = data};
		struct sl_seg_dedupe d = {
		    .producer_id = producer,
		    .batch_seq = bseq0 + i,
		    .first_seq = sl_u128_make(s->prefix, base + i),
		    .record_count = 1,
		    .entry_count = 1,
		};
		memset(data, (int)i, data_len);
		r.data_len = data_len;
		sl_seg_batch_begin(&b, buf, sizeof(buf), d.first_seq, now);
		CHECK(sl_seg_batch_add_record(&b, &r, now) == 0);
		CHECK(sl_seg_batch_add_dedupe(&b, &d) == 0);
		size_t len = sl_seg_batch_finish(&b, SL_SEG_BATCH_ALIGN);
		CHECK(fwrite(buf, 1, len, f) == len);
	}
	CHECK(fclose(f) == 0);
}

/* got[] is entries (producer, bseq0 + i) for i in [from, to). */
static void check_got_synth(uint32_t at, uint64_t producer, uint64_t bseq0, uint32_t from,
			    uint32_t to)
{
	for (uint32_t i = from; i < to; i++, at++) {
		CHECK(at < got_count);
		if (at >= got_count)
			return;
		CHECK_EQ_U64(got[at].producer_id, producer);
		CHECK_EQ_U64(got[at].batch_seq, bseq0 + i);
	}
}

/*
 * An older segment without an index of `a_batches` batches, then a newest
 * one of two: with at most SL_STORE_DEDUPE_OLDER_HEADERS batches the older
 * one's entries come back (the newest of them, up to the ring); with more,
 * none do, and recovery still succeeds.
 */
static void header_bound_case(uint32_t a_batches)
{
	struct synth s;
	char idxs[SEGS_MAX][32];
	synth_init(&s, "headers");
	synth_segment(&s, 0, a_batches, 8, 11, 1);
	synth_segment(&s, a_batches, 2, 8, 12, 1);
	struct sl_store *st = reopen(&s.o);
	bool within = a_batches <= SL_STORE_DEDUPE_OLDER_HEADERS;
	uint32_t from_a = 0;
	if (within && a_batches + 2 > SL_STORE_DEDUPE_RESTORE)
		from_a = a_batches + 2 - SL_STORE_DEDUPE_RESTORE;
	uint32_t n_a = within ? a_batches - from_a : 0;
	CHECK_EQ_U64(got_count, n_a + 2);
	check_got_synth(0, 11, 1, from_a, from_a + n_a);
	check_got_synth(n_a, 12, 1, 0, 2);
	/* The index recovery built was saved; none without one. */
	CHECK(list_files(s.sdir, ".idx", idxs) == (within ? 1 : 0));
	sl_store_close(st);
	tu_rmtree(s.dir);
}

/*
 * 14 MB of batches in an older segment, a newest one of one batch: the
 * entries of at most SL_STORE_DEDUPE_OLDER_BYTES of the older segment's
 * newest batches come back (no more than an index window short of it).
 */
static void test_byte_bound(void)
{
	const uint32_t data_len = 4000, a_batches = 3500;
	const uint32_t batch_len = (SL_SEG_BATCH_HEADER_BYTES + SL_SEG_RECORD_HEADER_BYTES + 1 +
				    data_len + SL_SEG_DEDUPE_BYTES + 7) &
				   ~7u;
	struct synth s;
	synth_init(&s, "bytes");
	synth_segment(&s, 0, a_batches, data_len, 21, 1);
	synth_segment(&s, a_batches, 1, 8, 22, 1);
	struct sl_store *st = reopen(&s.o);
	CHECK(got_count >= 1);
	uint32_t n_a = got_count - 1;
	CHECK((uint64_t)a_batches * batch_len > SL_STORE_DEDUPE_OLDER_BYTES + (4u << 20));
	CHECK((uint64_t)n_a * batch_len <= SL_STORE_DEDUPE_OLDER_BYTES);
	CHECK((uint64_t)n_a * batch_len + SL_IDX_EVERY_BYTES + batch_len >
	      SL_STORE_DEDUPE_OLDER_BYTES);
	check_got_synth(0, 21, 1, a_batches - n_a, a_batches);
	check_got_synth(n_a, 22, 1, 0, 1);
	sl_store_close(st);
	tu_rmtree(s.dir);
}

int main(void)
{
	test_rolled();
	test_ring_full();
	test_segment_bound();
	header_bound_case(100);
	header_bound_case(SL_STORE_DEDUPE_OLDER_HEADERS);
	header_bound_case(SL_STORE_DEDUPE_OLDER_HEADERS + 1);
	test_byte_bound();
	return sl_check_finish("dedupe_restore");
}
