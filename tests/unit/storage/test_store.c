/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage engine end to end through its API, with a real writer thread
 * and io_uring, through the page cache and with O_DIRECT: appends are acked with consecutive
 * sequence numbers per shard; reads from every kind of position return exactly the acked bytes,
 * never past the visible watermark; segments roll by size and reads cross
 * them; a reopen (recovery) keeps everything and goes on numbering after
 * the last record; write and none durability modes ack; bounds give their
 * errors (-EMSGSIZE, -ENOENT, -ENOBUFS with no writer running); a deleted
 * stream's appends fail and its directory goes; retention: expired records
 * are never returned, expired sealed segments and the oldest over a size
 * cap are deleted, the newest segment never is; recovery reports
 * corruption in the middle of a log (the shard stays readable up to it,
 * takes no writes, and nothing is deleted) and removes a newest segment
 * whose header never became durable; reads by sequence number of the
 * newest records come from the tail cache (they still work with the
 * segment files gone), and older ones fall back to the files; the writer
 * saves each segment's sparse index (<base>.idx) when it seals it, equal
 * to the one a reader builds, so that reads and retention of a sealed
 * segment load it and read no batch header; the active segment has space
 * reserved past its last batch (storage.preallocate_mb), given back when
 * it is sealed by age, also when it was adopted from an earlier run; the
 * segment after one that filled up is reserved whole, header included.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/store.h>

#include "check.h"
#include "store_util.h"

/* For the index counter (index_scanned_batches) and the views. */
#include "../../../storage/store_internal.h"

#define APPENDS 600

static struct tu_append apps[APPENDS];

static struct sl_meta_stream make_stream(const char *name, enum sl_durability d)
{
	struct sl_meta_stream s = {0};
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.durability = d;
	s.retention_hours = 24;
	s.max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	return s;
}

/* Append APPENDS appends of 1..8 records round-robin over `shards`. */
static void append_all(struct sl_store *st, uint32_t stream, uint32_t shards, uint64_t tag0)
{
	for (uint32_t i = 0; i < APPENDS; i++) {
		tu_append_init(&apps[i], stream, i % shards, tag0 + i, (uint16_t)(i % 8 + 1));
		int rc;
		while ((rc = sl_store_append(st, &apps[i].app)) == -ENOBUFS)
			usleep(100);
		CHECK(rc == 0);
	}
	for (uint32_t i = 0; i < APPENDS; i++) {
		CHECK(tu_wait(&apps[i], 5000));
		CHECK(apps[i].app.status == SL_APPEND_OK);
	}
}

/* Per shard, appends' sequence numbers follow each other with no gap. */
static void check_consecutive(uint32_t shards)
{
	for (uint32_t s = 0; s < shards; s++) {
		sl_u128 expect = 0;
		bool first = true;
		for (uint32_t i = s; i < APPENDS; i += shards) {
			if (!first)
				CHECK(apps[i].app.first_seq == expect);
			first = false;
			expect = apps[i].app.first_seq + apps[i].app.record_count;
		}
	}
}

/* Read the whole shard and compare with the appends that went to it. */
static void check_read_back(struct sl_store *st, uint32_t stream, uint32_t shard, uint32_t shards)
{
	static struct sl_read_record recs[4096];
	static uint8_t buf[4 << 20];
	struct sl_shard *sh = sl_store_shard(st, stream, shard);
	sl_u128 next;
	CHECK(sh != NULL);
	int n =
	    sl_store_read(st, sh, SL_READ_TRIM_HORIZON, 0, 0, recs, 4096, buf, sizeof(buf), &next);
	uint32_t want = 0;
	for (uint32_t i = shard; i < APPENDS; i += shards)
		want += apps[i].app.record_count;
	CHECK_EQ_U64(n, want);
	int k = 0;
	for (uint32_t i = shard; i < APPENDS && k < n; i += shards) {
		for (uint16_t r = 0; r < apps[i].app.record_count && k < n; r++, k++) {
			const struct sl_record *rec = &apps[i].recs[r];
			CHECK(recs[k].seq == apps[i].app.first_seq + r);
			CHECK(recs[k].data_len == rec->data_len);
			CHECK(memcmp(buf + recs[k].data_off, rec->data, rec->data_len) == 0);
			CHECK(recs[k].key_len == rec->key_len);
			CHECK(memcmp(buf + recs[k].key_off, rec->key, rec->key_len) == 0);
		}
	}
	if (n > 0)
		CHECK(next == recs[n - 1].seq + 1);
}

/* Positions: AT_SEQ, AFTER_SEQ, LATEST, AT_TIME, limits. */
static void check_positions(struct sl_store *st, uint32_t stream)
{
	static struct sl_read_record recs[64];
	static uint8_t buf[1 << 20];
	struct sl_shard *sh = sl_store_shard(st, stream, 0);
	sl_u128 next, mid = apps[99].app.first_seq; /* append 99 went to shard 0 */
	int n = sl_store_read(st, sh, SL_READ_AT_SEQ, mid, 0, recs, 3, buf, sizeof(buf), &next);
	CHECK(n == 3);
	CHECK(recs[0].seq == mid);
	CHECK(next == mid + 3);
	n = sl_store_read(st, sh, SL_READ_AFTER_SEQ, mid, 0, recs, 1, buf, sizeof(buf), &next);
	CHECK(n == 1 && recs[0].seq == mid + 1);
	n = sl_store_read(st, sh, SL_READ_LATEST, 0, 0, recs, 64, buf, sizeof(buf), &next);
	CHECK(n == 0);
	struct sl_shard_status ss;
	sl_store_shard_status(sh, &ss);
	CHECK(next == ss.visible_seq);
	/* A byte budget smaller than one record's bytes returns nothing. */
	n = sl_store_read(st, sh, SL_READ_AT_SEQ, mid, 0, recs, 64, buf, 1, &next);
	CHECK(n == 0 && next == mid);
	/* A sequence number of another shard is refused. */
	sl_u128 other = apps[1].app.first_seq;
	CHECK(sl_store_read(st, sh, SL_READ_AT_SEQ, other, 0, recs, 1, buf, sizeof(buf), &next) ==
	      -ERANGE);
	/* AT_TIME in the future: nothing; at 0: from the start. */
	n = sl_store_read(st, sh, SL_READ_AT_TIME, 0, sl_clock_wall_ms() + 60000, recs, 64, buf,
			  sizeof(buf), &next);
	CHECK(n == 0);
	n = sl_store_read(st, sh, SL_READ_AT_TIME, 0, 1, recs, 1, buf, sizeof(buf), &next);
	CHECK(n == 1 && recs[0].seq == apps[0].app.first_seq);
}

/* Count files in dir ending in suffix; with corrupt, flip a byte in each. */
static int idx_files(const char *dir, bool corrupt)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 4, ".idx") != 0)
			continue;
		n++;
		if (corrupt) {
			char p[512];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			FILE *f = fopen(p, "r+b");
			if (f) {
				fseek(f, 70, SEEK_SET);
				int c = fgetc(f);
				fseek(f, 70, SEEK_SET);
				fputc(c ^ 0x40, f);
				fclose(f);
			}
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void test_basic_and_reopen(bool direct)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 72u << 10; /* rolls every few batches */
	o.batch_bytes = 64u << 10;
	o.direct_io = direct;
	o.tail_bytes = 64u << 10; /* reads by seq cross from the files into it */
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("orders", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 3) == 0);
	static const char *const names[] = {
	    "commits",           "commit_records",     "commit_failed",     "commit_us_le_250",
	    "commit_us_le_500",  "commit_us_le_1000",  "commit_us_le_2000", "commit_us_le_4000",
	    "commit_us_le_8000", "commit_us_le_16000", "commit_us_le_inf",  "rolls",
	    "appends_internal"};
	enum { N_COMMITS, N_RECORDS, N_FAILED, N_LE250, N_LE_INF = 10, N_ROLLS, N_INTERNAL, N_N };
	uint64_t before[N_N];
	for (unsigned i = 0; i < N_N; i++)
		before[i] = tu_storage_counter(names[i]);
	tu_writer_start(&w, st, 0);
	append_all(st, s.id, 3, 1000);
	/* The writer's "storage" counters: every record in a commit, every
	 * commit in the +Inf bucket and the buckets cumulative, a roll per
	 * segment made, no failure. */
	uint64_t d[N_N], records = 0;
	for (unsigned i = 0; i < N_N; i++)
		d[i] = tu_storage_counter(names[i]) - before[i];
	for (uint32_t i = 0; i < APPENDS; i++)
		records += apps[i].app.record_count;
	CHECK_EQ_U64(d[N_RECORDS], records);
	CHECK(d[N_COMMITS] >= 1 && d[N_COMMITS] <= APPENDS);
	CHECK_EQ_U64(d[N_LE_INF], d[N_COMMITS]);
	for (unsigned i = N_LE250; i < N_LE_INF; i++)
		CHECK(d[i] <= d[i + 1]);
	uint64_t segs = 0;
	for (uint32_t sh = 0; sh < 3; sh++) {
		struct sl_shard_status st3;
		sl_store_shard_status(sl_store_shard(st, s.id, sh), &st3);
		segs += st3.segments;
	}
	CHECK_EQ_U64(d[N_ROLLS], segs);
	CHECK_EQ_U64(d[N_FAILED], 0);
	CHECK_EQ_U64(d[N_INTERNAL], 0);
	check_consecutive(3);
	for (uint32_t sh = 0; sh < 3; sh++)
		check_read_back(st, s.id, sh, 3);
	check_positions(st, s.id);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	/* Recovery finds everything, and numbering goes on after it. */
	CHECK(sl_store_open(&o, &st) == 0);
	for (uint32_t sh = 0; sh < 3; sh++)
		check_read_back(st, s.id, sh, 3);
	sl_u128 last0 = apps[APPENDS - 3].app.first_seq + apps[APPENDS - 3].app.record_count;
	tu_writer_start(&w, st, 0);
	struct tu_append more;
	tu_append_init(&more, s.id, 0, 99, 2);
	CHECK(sl_store_append(st, &more.app) == 0);
	CHECK(tu_wait(&more, 5000) && more.app.status == SL_APPEND_OK);
	CHECK(more.app.first_seq == last0);
	CHECK(tu_writer_stop(&w) == 0);
	struct sl_shard_status ss;
	sl_store_shard_status(sl_store_shard(st, s.id, 0), &ss);
	CHECK(ss.segments > 1);
	CHECK(ss.error == 0);
	sl_store_shard_status(sl_store_shard(st, s.id, 1), &ss);
	sl_store_close(st);

	/* Reading sealed segments whole left their sparse index on disk; a
	 * damaged one is not trusted (reads stay right) and is rewritten. */
	char shard_dir[128];
	snprintf(shard_dir, sizeof(shard_dir), "%s/shards/%u/1", dir, s.id);
	int idx = idx_files(shard_dir, true);
	CHECK(idx >= 1);
	CHECK((uint64_t)idx == ss.segments - 1);
	CHECK(sl_store_open(&o, &st) == 0);
	check_read_back(st, s.id, 1, 3);
	sl_store_close(st);
	CHECK(idx_files(shard_dir, false) == idx);
	CHECK(sl_store_open(&o, &st) == 0);
	check_read_back(st, s.id, 1, 3);
	sl_store_close(st);
	tu_rmtree(dir);
}

static void test_modes_and_bounds(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	o.ring_slots = 64;
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream sw = make_stream("w", SL_DURABILITY_WRITE);
	struct sl_meta_stream sn = make_stream("n", SL_DURABILITY_NONE);
	CHECK(sl_store_stream_create(st, &sw, 1) == 0);
	CHECK(sl_store_stream_create(st, &sn, 1) == 0);

	/* No writer yet: the ring fills and says so. */
	static struct tu_append fill[65];
	int rc = 0, queued = 0;
	for (int i = 0; i < 65 && rc == 0; i++) {
		tu_append_init(&fill[i], sw.id, 0, (uint64_t)i, 1);
		rc = sl_store_append(st, &fill[i].app);
		queued += rc == 0;
	}
	CHECK(rc == -ENOBUFS);
	CHECK(queued == 64);
	tu_writer_start(&w, st, 0);
	for (int i = 0; i < queued; i++)
		CHECK(tu_wait(&fill[i], 5000) && fill[i].app.status == SL_APPEND_OK);

	struct tu_append a;
	tu_append_init(&a, sn.id, 0, 7, 3);
	CHECK(sl_store_append(st, &a.app) == 0);
	CHECK(tu_wait(&a, 5000) && a.app.status == SL_APPEND_OK);

	tu_append_init(&a, sn.id, 5, 7, 1);
	CHECK(sl_store_append(st, &a.app) == -ENOENT);
	static uint8_t big[300 << 10];
	tu_append_init(&a, sn.id, 0, 7, 1);
	a.recs[0].data = big;
	a.recs[0].data_len = sizeof(big);
	CHECK(sl_store_append(st, &a.app) == -EMSGSIZE);

	/* Delete: appends are refused, the directory is gone. */
	char path[256];
	struct stat stt;
	snprintf(path, sizeof(path), "%s/shards/%u", dir, sn.id);
	CHECK(stat(path, &stt) == 0);
	CHECK(sl_store_stream_delete(st, sn.id) == 0);
	CHECK(stat(path, &stt) != 0);
	tu_append_init(&a, sn.id, 0, 7, 1);
	CHECK(sl_store_append(st, &a.app) == -ENOENT);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* Append n appends of 8 records to shard 0 with the given arrival time. */
static void append_at(struct sl_store *st, uint32_t stream, uint32_t n, uint64_t tag0,
		      uint64_t arrival_ms)
{
	for (uint32_t i = 0; i < n; i++) {
		tu_append_init(&apps[i], stream, 0, tag0 + i, 8);
		apps[i].app.arrival_ms = arrival_ms;
		int rc;
		while ((rc = sl_store_append(st, &apps[i].app)) == -ENOBUFS)
			usleep(100);
		CHECK(rc == 0);
	}
	for (uint32_t i = 0; i < n; i++)
		CHECK(tu_wait(&apps[i], 5000) && apps[i].app.status == SL_APPEND_OK);
}

static uint64_t count_records(struct sl_store *st, uint32_t stream, sl_u128 *first)
{
	static struct sl_read_record recs[8192];
	static uint8_t buf[8 << 20];
	sl_u128 next;
	int n = sl_store_read(st, sl_store_shard(st, stream, 0), SL_READ_TRIM_HORIZON, 0, 0, recs,
			      8192, buf, sizeof(buf), &next);
	CHECK(n >= 0);
	if (n > 0 && first)
		*first = recs[0].seq;
	return n > 0 ? (uint64_t)n : 0;
}

/* Batch headers the shard's readers have read to build indexes. */
static uint64_t scanned_batches(struct sl_shard *sh)
{
	pthread_mutex_lock(&sh->read_lock);
	uint64_t n = sh->index_scanned_batches;
	pthread_mutex_unlock(&sh->read_lock);
	return n;
}

/* Forget what readers know of the shard's segments (as after a restart). */
static void forget_views(struct sl_shard *sh)
{
	pthread_mutex_lock(&sh->read_lock);
	sl_shard_views_fini(sh);
	pthread_mutex_unlock(&sh->read_lock);
}

static void test_retention(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	struct sl_shard_status ss;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	o.batch_bytes = 64u << 10;
	o.segment_bytes = 72u << 10;
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("aging", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	tu_writer_start(&w, st, 0);
	uint64_t now = sl_clock_wall_ms();
	append_at(st, s.id, 150, 1, now - 48 * 3600 * 1000ull); /* expired (24 h) */
	append_at(st, s.id, 100, 5000, now);
	sl_u128 first_fresh = apps[0].app.first_seq;
	/* Before any deletion, expired records are already not returned. */
	sl_u128 first = 0;
	CHECK_EQ_U64(count_records(st, s.id, &first), 800);
	CHECK(first == first_fresh);
	sl_store_shard_status(sl_store_shard(st, s.id, 0), &ss);
	uint64_t before = ss.segments;
	CHECK(before > 3);
	int deleted = sl_store_retention_tick(st, sl_clock_wall_ms());
	CHECK(deleted > 0);
	sl_store_shard_status(sl_store_shard(st, s.id, 0), &ss);
	CHECK_EQ_U64(ss.segments, before - (uint64_t)deleted);
	CHECK_EQ_U64(count_records(st, s.id, &first), 800);
	CHECK(first == first_fresh);
	/* Nothing more to do; and a longer retention keeps what is left. */
	CHECK(sl_store_retention_tick(st, sl_clock_wall_ms()) == 0);
	CHECK(sl_store_stream_set_retention(st, s.id, 8760) == 0);
	CHECK(sl_store_retention_tick(st, sl_clock_wall_ms()) == 0);

	/* Size cap: the oldest sealed segments go until the shard fits. */
	struct sl_meta_stream c = make_stream("capped", SL_DURABILITY_FSYNC);
	c.retention_bytes = 150u << 10;
	CHECK(sl_store_stream_create(st, &c, 1) == 0);
	append_at(st, c.id, 250, 9000, now);
	CHECK(sl_store_retention_tick(st, sl_clock_wall_ms()) > 0);
	sl_store_shard_status(sl_store_shard(st, c.id, 0), &ss);
	CHECK(ss.segments >= 1 && ss.segments <= 3);
	CHECK(count_records(st, c.id, NULL) > 0);

	/* Sealed segments whose first record is not expired are kept without
	 * being read whole (on the control thread, at every roll): no index
	 * is built for them, so none is saved beside them. */
	struct sl_meta_stream f = make_stream("fresh", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &f, 1) == 0);
	append_at(st, f.id, 250, 9000, now);
	sl_store_shard_status(sl_store_shard(st, f.id, 0), &ss);
	CHECK(ss.segments > 2);
	uint64_t scans = scanned_batches(sl_store_shard(st, f.id, 0));
	CHECK(sl_store_retention_tick(st, sl_clock_wall_ms()) == 0);
	CHECK_EQ_U64(scanned_batches(sl_store_shard(st, f.id, 0)), scans);
	sl_store_shard_status(sl_store_shard(st, f.id, 0), &ss);
	CHECK(ss.segments > 2);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/*
 * The writer saves a segment's index when it rolls: a read of an old
 * record and retention of a partly expired segment load it and read no
 * batch header; it is, byte for byte, the index a reader builds by
 * scanning the segment when there is none.
 */
static void test_writer_index(void)
{
	static struct sl_read_record recs[4];
	static uint8_t buf[64 << 10];
	static uint8_t wbytes[64 << 10], rbytes[64 << 10];
	char dir[64], path[256], name[32];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	struct sl_shard_status ss;
	sl_u128 next;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 1u << 20;
	o.batch_bytes = 64u << 10;
	o.segment_age_ms = 300; /* the last append rolls by age */
	o.tail_bytes = 0;       /* every read comes from the files */
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("indexed", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	struct sl_shard *sh = sl_store_shard(st, s.id, 0);
	tu_writer_start(&w, st, 0);
	uint64_t now = sl_clock_wall_ms();
	append_at(st, s.id, 150, 1, now - 48 * 3600 * 1000ull); /* expired (24 h) */
	sl_u128 base = apps[0].app.first_seq;
	append_at(st, s.id, 150, 5000, now);
	sl_u128 first_fresh = apps[0].app.first_seq;
	usleep(400 * 1000);
	append_at(st, s.id, 1, 9000, now);
	sl_store_shard_status(sh, &ss);
	CHECK_EQ_U64(ss.segments, 2);

	/* The sealed segment's index is there, with several entries. */
	sl_seg_file_name(name, sizeof(name), base);
	snprintf(path, sizeof(path), "%s/shards/%u/0/%.*sidx", dir, s.id, (int)strlen(name) - 3,
		 name);
	size_t wlen = tu_file_bytes(path, wbytes, sizeof(wbytes));
	CHECK(wlen > 64);
	uint32_t entries = (uint32_t)wbytes[8] << 24 | (uint32_t)wbytes[9] << 16 |
			   (uint32_t)wbytes[10] << 8 | wbytes[11];
	CHECK(entries >= 2);
	CHECK_EQ_U64(wlen, 64 + (uint64_t)entries * 32);

	/* A read of an old record loads it: no batch header is read. */
	forget_views(sh);
	uint64_t scans = scanned_batches(sh);
	int n = sl_store_read(st, sh, SL_READ_AT_TIME, 0, 1, recs, 1, buf, sizeof(buf), &next);
	CHECK(n == 1 && recs[0].seq == first_fresh);
	CHECK_EQ_U64(scanned_batches(sh), scans);

	/* Retention of the partly expired segment loads it too, and keeps it. */
	forget_views(sh);
	CHECK(sl_store_retention_tick(st, sl_clock_wall_ms()) == 0);
	CHECK_EQ_U64(scanned_batches(sh), scans);
	sl_store_shard_status(sh, &ss);
	CHECK_EQ_U64(ss.segments, 2);

	/* Without it, a reader scans the segment and saves the same bytes. */
	CHECK(unlink(path) == 0);
	forget_views(sh);
	CHECK_EQ_U64(count_records(st, s.id, NULL), 151 * 8);
	CHECK(scanned_batches(sh) > scans);
	size_t rlen = tu_file_bytes(path, rbytes, sizeof(rbytes));
	CHECK_EQ_U64(rlen, wlen);
	CHECK(memcmp(rbytes, wbytes, wlen) == 0);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

struct seen {
	struct sl_seg_dedupe e[16];
	uint32_t shard[16];
	int n;
};

static int collect_dedupe(uint32_t stream, uint32_t shard, const struct sl_seg_dedupe *e, void *arg)
{
	struct seen *s = arg;
	(void)stream;
	if (s->n < 16) {
		s->shard[s->n] = shard;
		s->e[s->n++] = *e;
	}
	return 0;
}

/* Dedupe entries written with appends come back from recovery. */
static void test_dedupe_restore(void)
{
	char dir[64];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	struct seen seen = {0};
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("dedupe", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 2) == 0);
	tu_writer_start(&w, st, 0);
	for (uint32_t i = 0; i < 3; i++) {
		tu_append_init(&apps[i], s.id, i % 2, 40 + i, (uint16_t)(i + 1));
		apps[i].app.producer_id = 77;
		apps[i].app.batch_seq = 100 + i;
		apps[i].app.entry_index = 0;
		apps[i].app.entry_count = 1;
		CHECK(sl_store_append(st, &apps[i].app) == 0);
		CHECK(tu_wait(&apps[i], 5000) && apps[i].app.status == SL_APPEND_OK);
	}
	tu_append_init(&apps[3], s.id, 0, 50, 1); /* anonymous: no entry */
	CHECK(sl_store_append(st, &apps[3].app) == 0);
	CHECK(tu_wait(&apps[3], 5000));
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	CHECK(sl_store_open(&o, &st) == 0);
	CHECK(sl_store_dedupe_foreach(st, collect_dedupe, &seen) == 0);
	CHECK(seen.n == 3);
	for (int k = 0; k < seen.n; k++) {
		uint32_t i = (uint32_t)(seen.e[k].batch_seq - 100);
		CHECK(i < 3);
		if (i >= 3)
			continue;
		CHECK(seen.e[k].producer_id == 77);
		CHECK(seen.shard[k] == i % 2);
		CHECK(seen.e[k].first_seq == apps[i].app.first_seq);
		CHECK(seen.e[k].record_count == i + 1);
		CHECK(seen.e[k].entry_count == 1 && seen.e[k].entry_index == 0);
	}
	sl_store_close(st);
	tu_rmtree(dir);
}

/* The shard's newest .seg file name in dir, into out. */
static int newest_seg(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	out[0] = '\0';
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l == 24 && strcmp(e->d_name + 20, ".seg") == 0 && strcmp(e->d_name, out) > 0) {
			snprintf(out, cap, "%s", e->d_name);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void test_recovery_judgement(void)
{
	char dir[64], shard_dir[128], name[64], path[256];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	struct sl_shard_status ss;
	struct stat before, after;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("judged", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	tu_writer_start(&w, st, 0);
	for (uint32_t i = 0; i < 3; i++) { /* one append, one commit, one batch each */
		tu_append_init(&apps[i], s.id, 0, 70 + i, 2);
		CHECK(sl_store_append(st, &apps[i].app) == 0);
		CHECK(tu_wait(&apps[i], 5000) && apps[i].app.status == SL_APPEND_OK);
	}
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	/* Flip a byte of the second batch's data: valid data follows it. */
	snprintf(shard_dir, sizeof(shard_dir), "%s/shards/%u/0", dir, s.id);
	CHECK(newest_seg(shard_dir, name, sizeof(name)) == 1);
	snprintf(path, sizeof(path), "%s/%s", shard_dir, name);
	CHECK(stat(path, &before) == 0);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (f) {
		/* Batch 1 starts at 4096 and is short; batch 2 follows within
		 * the next 200 bytes: corrupt its last data byte region. */
		uint8_t hdr[64];
		fseek(f, 4096 + 8, SEEK_SET);
		CHECK(fread(hdr, 1, 4, f) == 4);
		uint32_t len1 = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
		long at = 4096 + (long)len1 + 64 + 11 + 2; /* inside batch 2's first record */
		fseek(f, at, SEEK_SET);
		int c = fgetc(f);
		fseek(f, at, SEEK_SET);
		fputc(c ^ 0x01, f);
		fclose(f);
	}
	CHECK(sl_store_open(&o, &st) == 0); /* the store opens; that shard is judged */
	struct sl_shard *sh = sl_store_shard(st, s.id, 0);
	sl_store_shard_status(sh, &ss);
	CHECK(ss.error == -EUCLEAN);
	CHECK(ss.visible_seq == apps[0].app.first_seq + 2); /* readable up to batch 2 */
	static struct sl_read_record recs[16];
	static uint8_t buf[1 << 16];
	sl_u128 next;
	CHECK(sl_store_read(st, sh, SL_READ_TRIM_HORIZON, 0, 0, recs, 16, buf, sizeof(buf),
			    &next) == 2);
	tu_append_init(&apps[5], s.id, 0, 99, 1);
	CHECK(sl_store_append(st, &apps[5].app) == -EIO);
	sl_store_close(st);
	CHECK(stat(path, &after) == 0);
	CHECK(after.st_size == before.st_size); /* nothing truncated or deleted */

	/* A newest segment whose header never became durable is removed. */
	snprintf(path, sizeof(path), "%s/%020llu.seg", shard_dir, 999999ull);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		fputs("torn", f);
		fclose(f);
	}
	CHECK(sl_store_open(&o, &st) == 0);
	CHECK(stat(path, &after) != 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

static void unlink_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".seg") == NULL)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

static void test_tail_cache(void)
{
	char dir[64], shard_dir[128];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	static struct sl_read_record recs[256];
	static uint8_t buf[1 << 20];
	sl_u128 next;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	o.tail_bytes = 16u << 10; /* small: the oldest batches fall out */
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("tail", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	tu_writer_start(&w, st, 0);
	for (uint32_t i = 0; i < 200; i++) { /* one commit each */
		tu_append_init(&apps[i], s.id, 0, 300 + i, 2);
		CHECK(sl_store_append(st, &apps[i].app) == 0);
		CHECK(tu_wait(&apps[i], 5000) && apps[i].app.status == SL_APPEND_OK);
	}
	struct sl_shard *sh = sl_store_shard(st, s.id, 0);
	/* Take the files away (before any read opened them): the newest
	 * records still read, from memory. */
	snprintf(shard_dir, sizeof(shard_dir), "%s/shards/%u/0", dir, s.id);
	unlink_segments(shard_dir);
	sl_u128 from = apps[190].app.first_seq;
	int n = sl_store_read(st, sh, SL_READ_AT_SEQ, from, 0, recs, 256, buf, sizeof(buf), &next);
	CHECK(n == 20);
	for (int k = 0; k < n && k < 20; k++) {
		const struct tu_append *a = &apps[190 + k / 2];
		CHECK(recs[k].seq == from + (sl_u128)k);
		CHECK(recs[k].data_len == a->recs[k % 2].data_len);
		CHECK(memcmp(buf + recs[k].data_off, a->recs[k % 2].data, recs[k].data_len) == 0);
	}
	CHECK(next == from + 20);
	/* The oldest ones were pushed out of the 64 KiB cache: no file, no read. */
	n = sl_store_read(st, sh, SL_READ_AT_SEQ, apps[0].app.first_seq, 0, recs, 256, buf,
			  sizeof(buf), &next);
	CHECK(n == 0);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* Recovery removes index files a crash left under their temporary names,
 * and nothing else. */
static void test_tmp_index_cleanup(void)
{
	char dir[64], shard_dir[256], path[320];
	struct sl_store_options o;
	struct sl_store *st;
	CHECK(tu_tmpdir(dir, sizeof(dir), "store") != NULL);
	tu_options(&o, dir);
	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_meta_stream s = make_stream("tmpidx", SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(st, &s, 1) == 0);
	sl_store_close(st);
	snprintf(shard_dir, sizeof(shard_dir), "%s/shards/%u/0", dir, s.id);
	const char *names[] = {"00000000000000000000.idx.tmp", "00000000000000000000.idx.wtmp",
			       "notes.txt"};
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", shard_dir, names[i]);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f != NULL)
			fclose(f);
	}
	CHECK(sl_store_open(&o, &st) == 0);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", shard_dir, names[i]);
		CHECK((access(path, F_OK) == 0) == (i == 2));
	}
	sl_store_close(st);
	tu_rmtree(dir);
}

static unsigned seg_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		n += l == 24 && strcmp(e->d_name + 20, ".seg") == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/* Bytes allocated to a file, and its size. */
static uint64_t allocated(const char *dir, const char *name, uint64_t *size)
{
	char path[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(stat(path, &sb) == 0);
	*size = (uint64_t)sb.st_size;
	return (uint64_t)sb.st_blocks * 512;
}

/* Open the store with options o, create stream `name` with one fsync
 * shard, start the writer; its shard directory into shard_dir. */
static uint32_t start_one_shard(const struct sl_store_options *o, const char *name,
				struct sl_store **st, struct tu_writer *w, char *shard_dir,
				size_t cap)
{
	CHECK(sl_store_open(o, st) == 0);
	struct sl_meta_stream s = make_stream(name, SL_DURABILITY_FSYNC);
	CHECK(sl_store_stream_create(*st, &s, 1) == 0);
	snprintf(shard_dir, cap, "%s/shards/%u/0", o->data_dir, s.id);
	tu_writer_start(w, *st, 0);
	return s.id;
}

/*
 * storage.preallocate_mb: the active segment has space reserved past its
 * last batch (its size is still the end of that batch), and a segment
 * sealed by age gives the reserve back; so does one adopted from an
 * earlier run. Records read back across both segments.
 */
static void test_preallocate(void)
{
	char dir[64], shard_dir[160], first[32], second[32];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	uint64_t size, size2;
	CHECK(tu_tmpdir(dir, sizeof(dir), "prealloc") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 8u << 20;
	o.batch_bytes = 64u << 10;
	o.prealloc_bytes = 1u << 20;
	struct sl_meta_stream s = {
	    .id = start_one_shard(&o, "prealloc", &st, &w, shard_dir, sizeof(shard_dir))};
	append_at(st, s.id, 40, 1000, sl_clock_wall_ms());
	CHECK(newest_seg(shard_dir, first, sizeof(first)) >= 1);
	CHECK_EQ_U64(seg_count(shard_dir), 1);
	uint64_t alloc = allocated(shard_dir, first, &size);
	CHECK(size > SL_SEG_HEADER_BYTES && size < (256u << 10));
	CHECK(alloc >= size + (512u << 10)); /* at least half the reserve ahead */
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	/* Reopened with segments that roll by age at once: the adopted one
	 * is sealed at the next commit and its reserve freed. */
	o.segment_age_ms = 1;
	CHECK(sl_store_open(&o, &st) == 0);
	tu_writer_start(&w, st, 0);
	usleep(2000);
	append_at(st, s.id, 1, 2000, sl_clock_wall_ms());
	CHECK(newest_seg(shard_dir, second, sizeof(second)) >= 1);
	CHECK_EQ_U64(seg_count(shard_dir), 2);
	CHECK(strcmp(first, second) < 0);
	alloc = allocated(shard_dir, first, &size2);
	CHECK_EQ_U64(size2, size);
	CHECK(alloc < size + (64u << 10));
	alloc = allocated(shard_dir, second, &size2);
	CHECK(alloc >= size2 + (512u << 10));
	CHECK_EQ_U64(count_records(st, s.id, NULL), 40 * 8 + 8);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/* The physical byte address of the file's byte off (FIEMAP); 0 when the
 * filesystem does not say (tmpfs) or it is a hole. */
static uint64_t physical_at(const char *path, uint64_t off)
{
	union {
		struct fiemap fm;
		uint8_t raw[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
	} u;
	memset(&u, 0, sizeof(u));
	u.fm.fm_start = off;
	u.fm.fm_length = 1;
	u.fm.fm_extent_count = 1;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	int rc = ioctl(fd, FS_IOC_FIEMAP, &u.fm);
	close(fd);
	if (rc != 0 || u.fm.fm_mapped_extents != 1)
		return 0;
	const struct fiemap_extent *e = &u.fm.fm_extents[0];
	return off >= e->fe_logical ? e->fe_physical + (off - e->fe_logical) : 0;
}

/*
 * A shard whose segment filled up (rolled by size) gets its next segment
 * reserved whole at the roll, from offset 0: the header's block lies in
 * the same run as the space after it (few extents, kept in the inode).
 * A new shard's first segment gets storage.preallocate_mb only.
 */
static void test_preallocate_whole(void)
{
	char dir[64], shard_dir[160], first[32], second[32], path[256];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	uint64_t size;
	CHECK(tu_tmpdir(dir, sizeof(dir), "prealloc-whole") != NULL);
	tu_options(&o, dir);
	o.segment_bytes = 1u << 20;
	o.batch_bytes = 64u << 10;
	o.prealloc_bytes = 256u << 10;
	struct sl_meta_stream s = {
	    .id = start_one_shard(&o, "prealloc-whole", &st, &w, shard_dir, sizeof(shard_dir))};
	append_at(st, s.id, 8, 1000, sl_clock_wall_ms());
	CHECK(newest_seg(shard_dir, first, sizeof(first)) >= 1);
	uint64_t alloc = allocated(shard_dir, first, &size);
	CHECK(alloc >= size + (128u << 10) && alloc <= size + (256u << 10) + 4096);
	uint64_t tag = 2000;
	for (int i = 0; i < 64 && seg_count(shard_dir) < 2; i++, tag += 50)
		append_at(st, s.id, 50, tag, sl_clock_wall_ms());
	CHECK_EQ_U64(seg_count(shard_dir), 2);
	CHECK(newest_seg(shard_dir, second, sizeof(second)) >= 1);
	alloc = allocated(shard_dir, second, &size);
	CHECK(size < (1u << 20) - (300u << 10)); /* a chunk could not reach the end */
	CHECK(alloc >= (1u << 20));
	snprintf(path, sizeof(path), "%s/%s", shard_dir, second);
	uint64_t p0 = physical_at(path, 0), p1 = physical_at(path, 4096);
	if (p0 != 0 || p1 != 0)
		CHECK_EQ_U64(p1, p0 + 4096);
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);
	tu_rmtree(dir);
}

/*
 * Commits in flight together (storage.commits_inflight): a bad batch
 * followed only by batches flagged OVERLAPPED, at most
 * SL_STORE_COMMITS_MAX - 1 of them, is a torn tail (truncated, the shard
 * writable, the next record follows the last good batch); one more, or one
 * unflagged batch among them, is corruption in the middle (-EUCLEAN,
 * nothing truncated). The file is edited in memory: batch `bad` gets a
 * flipped data byte, every batch after it the flag.
 */
static void overlapped_case(unsigned batches, unsigned bad, bool flag_last, bool want_torn)
{
	char dir[64], shard_dir[128], name[64], path[256];
	static uint8_t file[1 << 20];
	uint64_t offs[16];
	struct sl_store_options o;
	struct sl_store *st;
	struct tu_writer w;
	struct sl_shard_status ss;
	SL_ASSERT(batches <= SL_ARRAY_SIZE(offs) && bad < batches);
	CHECK(tu_tmpdir(dir, sizeof(dir), "overlap") != NULL);
	tu_options(&o, dir);
	struct sl_meta_stream s = {
	    .id = start_one_shard(&o, "overlap", &st, &w, shard_dir, sizeof(shard_dir))};
	for (uint32_t i = 0; i < batches; i++) { /* one append, one commit, one batch each */
		tu_append_init(&apps[i], s.id, 0, 300 + i, 2);
		CHECK(sl_store_append(st, &apps[i].app) == 0);
		CHECK(tu_wait(&apps[i], 5000) && apps[i].app.status == SL_APPEND_OK);
	}
	CHECK(tu_writer_stop(&w) == 0);
	sl_store_close(st);

	CHECK(newest_seg(shard_dir, name, sizeof(name)) == 1);
	snprintf(path, sizeof(path), "%s/%s", shard_dir, name);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	ssize_t size = pread(fd, file, sizeof(file), 0);
	CHECK(size > 0 && (size_t)size < sizeof(file));
	uint64_t off = SL_SEG_HEADER_BYTES;
	for (unsigned i = 0; i < batches; i++) {
		struct sl_seg_batch b;
		CHECK(sl_seg_batch_check(file + off, (size_t)size - off, &b) == 0);
		CHECK_EQ_U64(b.flags, 0);
		offs[i] = off;
		off += b.batch_len;
	}
	CHECK_EQ_U64(off, (uint64_t)size);
	for (unsigned i = bad + 1; i < batches; i++) {
		if (i + 1 == batches && !flag_last)
			break;
		size_t len = (i + 1 < batches ? offs[i + 1] : (uint64_t)size) - offs[i];
		CHECK(sl_seg_batch_set_flags(file + offs[i], len, SL_SEG_BATCH_F_OVERLAPPED) == 0);
	}
	file[offs[bad] + SL_SEG_BATCH_HEADER_BYTES + SL_SEG_RECORD_HEADER_BYTES] ^= 0x01;
	CHECK(pwrite(fd, file, (size_t)size, 0) == size);
	close(fd);

	CHECK(sl_store_open(&o, &st) == 0);
	struct sl_shard *sh = sl_store_shard(st, s.id, 0);
	sl_store_shard_status(sh, &ss);
	struct stat sb;
	CHECK(stat(path, &sb) == 0);
	CHECK_EQ_U64(ss.visible_seq, apps[0].app.first_seq + 2 * bad);
	if (want_torn) {
		CHECK_EQ_U64(ss.error, 0);
		CHECK_EQ_U64((uint64_t)sb.st_size, offs[bad]);
		tu_writer_start(&w, st, 0);
		tu_append_init(&apps[batches], s.id, 0, 399, 1);
		CHECK(sl_store_append(st, &apps[batches].app) == 0);
		CHECK(tu_wait(&apps[batches], 5000) && apps[batches].app.status == SL_APPEND_OK);
		CHECK_EQ_U64(apps[batches].app.first_seq, apps[0].app.first_seq + 2 * bad);
		CHECK(tu_writer_stop(&w) == 0);
	} else {
		CHECK_EQ_U64(ss.error, -EUCLEAN);
		CHECK_EQ_U64((uint64_t)sb.st_size, (uint64_t)size); /* nothing truncated */
	}
	sl_store_close(st);
	tu_rmtree(dir);
}

static void test_recovery_overlapped(void)
{
	overlapped_case(3, 1, true, true);   /* one flagged batch after the bad one */
	overlapped_case(6, 2, true, true);   /* three: the most in flight behind one */
	overlapped_case(7, 2, true, false);  /* four: more than can be in flight */
	overlapped_case(5, 2, false, false); /* the last one unflagged */
	overlapped_case(4, 3, true, true);   /* the bad batch last: a plain torn tail */
}

int main(void)
{
	test_preallocate();
	test_preallocate_whole();
	test_tmp_index_cleanup();
	test_tail_cache();
	test_recovery_judgement();
	test_recovery_overlapped();
	test_dedupe_restore();
	test_retention();
	test_writer_index();
	test_basic_and_reopen(false);
	test_basic_and_reopen(true);
	test_modes_and_bounds();
	return sl_check_finish("store");
}
