/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The storage engine through the fault-injecting I/O layer (SPEC §4): a
 * write or fsync error is never retried and never acked, the shard stops
 * taking writes (-EIO) and reports the error, and recovery decides what
 * survived; nothing acked is ever lost, and no acked sequence number is
 * reused. One stream, one shard, fsync durability; appends go one at a
 * time (each is one commit: one write linked to one fdatasync) unless a
 * case says otherwise. Cases, each in a fresh data directory:
 *
 * 1. write EIO at the 5th append's write; 2. fsync EIO at its fdatasync
 *    (the batch may survive on disk, it was still never acked); 3. ENOSPC
 *    at its write; 4. its write short (its half batch is a torn tail that
 *    recovery truncates). (The roll that makes the first segment does one
 *    write and two fdatasyncs before append 1: ROLL_*.) Each: appends 1..4 acked, append 5
 * INTERNAL, later appends -EIO, readers see only acked records; after a reopen without faults
 * appends 1..4 read back byte for byte and the next append follows the last acked record.
 * 5. ENOSPC on the open that creates the next segment at a roll (72 KiB
 *    segments, 8 KiB records): that append INTERNAL, the acked ones intact.
 *    Then each other step of a roll failing (the header's write, its
 *    fdatasync, the directory's): the first append INTERNAL, the shard
 *    stopped; after a reopen without faults the half-made segment is gone
 *    and the shard starts at its first sequence number. And a roll whose
 *    next step never gets queue room, its stream deleted: the append is
 *    answered STREAM_NOT_FOUND and the shard let go at once.
 * 6. A power cut at every byte offset t of the last batch: three good
 *    appends, then a reopen whose writer tears at t (torn_after_bytes = t:
 *    the writer's sl_io counts from its creation and the 4th batch is its
 *    first write). The 4th batch is one record of 16 data bytes, so its
 *    length L is small (96 bytes) and every t in [1, L] is run. For t < L
 *    the reopen truncates the torn tail back to the three-append size,
 *    appends 1..3 read back and the next sequence number follows append
 *    3; for t == L the 4th append is there. t == 0 (nothing of the 4th
 *    batch reached the file; 0 means "off" in the plan) is the reopen of
 *    the untouched three-append file, checked directly.
 * 7. Nothing acked is lost: appends in random groups (so group commit
 *    batches several) with write EIO at a random write N in [3, 30]; after
 *    a reopen every append whose done said OK reads back byte for byte.
 *    The seed is printed; SL_FAULT_SEED=<n> replays it.
 * 8. Commits in flight together (storage.commits_inflight 2, 64 KiB
 *    batches, a burst of 8 KiB appends, so full batches go out beside the
 *    commit in flight): fsync EIO at the second commit, its failure held
 *    until the third commit's write was queued (fsync_eio_hold_writes). The commit written
 *    beside it completes without error and is still never acked
 *    (commits_after_failed); acked appends come first and consecutive,
 *    every later one INTERNAL or -EIO; after a reopen without faults the
 *    shard takes writes and every acked append reads back.
 *
 * Each case runs in a child process: an engine that aborts or hangs
 * (over CASE_TIMEOUT_S) on a fault fails that case, and the others run.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <sluice/io.h>
#include <sluice/segment.h>
#include <sluice/store.h>

#include "check.h"
#include "store_util.h"

#define WAIT_MS  5000
#define FAULT_AT 5 /* cases 1-4: the 5th append's write or fsync fails */
/* I/O of the roll that makes the first segment, before append 1's commit:
 * its header write and the fdatasyncs of the file and the directory. */
#define ROLL_WRITES    1
#define ROLL_FSYNCS    2
#define RANDOM_APPENDS 160
#define RANDOM_ROUNDS  4
#define BIG_DATA       8192
#define BIG_APPENDS    16
#define CASE_TIMEOUT_S 300 /* a case that takes longer hangs */

static struct sl_read_record rrecs[4096];
static uint8_t rbuf[4 << 20];

/* The current case's directory, made (and removed) by the parent process,
 * so that a case that crashes leaves nothing behind. */
static char case_root[64];

/* One store in one data directory, its stream, and its writer thread. */
struct env {
	char dir[128];
	struct sl_store_options o;
	struct sl_io_fault_plan plan;
	struct sl_store *st;
	struct tu_writer w;
	uint32_t stream;
};

static struct sl_meta_stream make_stream(void)
{
	struct sl_meta_stream s = {0};
	snprintf(s.name, sizeof(s.name), "faults");
	s.durability = SL_DURABILITY_FSYNC;
	s.retention_hours = 24;
	s.max_record_bytes = SL_RECORD_SIZE_DEFAULT;
	return s;
}

static bool env_init(struct env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s/%s-XXXXXX", case_root, tag);
	if (mkdtemp(e->dir) == NULL)
		return false;
	tu_options(&e->o, e->dir);
	return true;
}

/* Open the store (with the fault plan, or none) and start its writer. */
static int env_open(struct env *e, const struct sl_io_fault_plan *plan)
{
	if (plan != NULL)
		e->plan = *plan;
	e->o.fault_plan = plan != NULL ? &e->plan : NULL;
	int rc = sl_store_open(&e->o, &e->st);
	if (rc != 0) {
		e->st = NULL;
		return rc;
	}
	tu_writer_start(&e->w, e->st, 0);
	return 0;
}

static void env_create_stream(struct env *e)
{
	struct sl_meta_stream s = make_stream();
	CHECK(sl_store_stream_create(e->st, &s, 1) == 0);
	e->stream = s.id;
}

/* env_open with plan, then the stream: false (a failed check said why)
 * when the store did not open. */
static bool env_start(struct env *e, const struct sl_io_fault_plan *plan)
{
	CHECK(env_open(e, plan) == 0);
	if (e->st == NULL)
		return false;
	env_create_stream(e);
	return true;
}

/* Stop the writer and close the store. */
static void env_close(struct env *e)
{
	if (e->st == NULL)
		return;
	CHECK(tu_writer_stop(&e->w) == 0);
	sl_store_close(e->st);
	e->st = NULL;
}

static void env_fini(struct env *e)
{
	env_close(e);
	tu_rmtree(e->dir);
}

/* Open the closed store again without faults (recovery runs). False, with
 * the environment finished, when it cannot be opened (a failed check). */
static bool env_reopen(struct env *e)
{
	CHECK(env_open(e, NULL) == 0);
	if (e->st != NULL)
		return true;
	env_fini(e);
	return false;
}

static struct sl_shard *env_shard(struct env *e)
{
	struct sl_shard *sh = sl_store_shard(e->st, e->stream, 0);
	CHECK(sh != NULL);
	return sh;
}

static struct sl_shard_status env_status(struct env *e)
{
	struct sl_shard_status ss;
	memset(&ss, 0, sizeof(ss));
	struct sl_shard *sh = env_shard(e);
	if (sh != NULL)
		sl_store_shard_status(sh, &ss);
	return ss;
}

/* Enqueue (retrying a full ring); -errno from sl_store_append, or 0. */
static int enqueue(struct env *e, struct tu_append *t)
{
	int rc;
	while ((rc = sl_store_append(e->st, &t->app)) == -ENOBUFS)
		usleep(100);
	return rc;
}

/* One append, waited for: its status (>= 0), -errno from sl_store_append,
 * or -ETIMEDOUT when done never came. */
static int append_one(struct env *e, struct tu_append *t)
{
	int rc = enqueue(e, t);
	if (rc != 0)
		return rc;
	int done = tu_wait(t, WAIT_MS);
	CHECK(done);
	return done ? t->app.status : -ETIMEDOUT;
}

/* The shard's error once the writer recorded it (it fails the batch's
 * appends first, then records the error), or 0 after ms. */
static int wait_error(struct env *e, int ms)
{
	for (int i = 0; i < ms * 10; i++) {
		int err = env_status(e).error;
		if (err != 0)
			return err;
		usleep(100);
	}
	return env_status(e).error;
}

/* Read the whole shard from TRIM_HORIZON into rrecs/rbuf. */
static int read_all(struct env *e)
{
	sl_u128 next;
	struct sl_shard *sh = env_shard(e);
	if (sh == NULL)
		return -ENOENT;
	int n = sl_store_read(e->st, sh, SL_READ_TRIM_HORIZON, 0, 0, rrecs, 4096, rbuf,
			      sizeof(rbuf), &next);
	CHECK(n >= 0);
	if (n > 0)
		CHECK(next == rrecs[n - 1].seq + 1);
	return n;
}

/* Whether every record of append a is among the n records read (which
 * start at rrecs[0].seq and are consecutive), byte for byte. */
static bool present(const struct tu_append *a, int n)
{
	if (n <= 0 || a->app.first_seq < rrecs[0].seq)
		return false;
	sl_u128 idx = a->app.first_seq - rrecs[0].seq;
	if (idx + a->app.record_count > (sl_u128)n)
		return false;
	for (uint16_t r = 0; r < a->app.record_count; r++) {
		const struct sl_read_record *rr = &rrecs[(size_t)idx + r];
		const struct sl_record *rec = &a->recs[r];
		if (rr->seq != a->app.first_seq + r || rr->data_len != rec->data_len ||
		    rr->key_len != rec->key_len ||
		    memcmp(rbuf + rr->data_off, rec->data, rec->data_len) != 0 ||
		    memcmp(rbuf + rr->key_off, rec->key, rec->key_len) != 0)
			return false;
	}
	return true;
}

/*
 * The shard's newest segment file: its size (-1 if there is none) and how
 * many segment files there are. Names are 20 digits, so the greatest name
 * is the newest.
 */
static off_t seg_size(const struct env *e, int *count)
{
	char path[256], newest[64] = "";
	snprintf(path, sizeof(path), "%s/shards/%u/0", e->dir, e->stream);
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".seg") != 0)
			continue;
		n++;
		if (strcmp(de->d_name, newest) > 0)
			snprintf(newest, sizeof(newest), "%s", de->d_name);
	}
	if (d != NULL)
		closedir(d);
	if (count != NULL)
		*count = n;
	if (n == 0)
		return -1;
	struct stat sb;
	snprintf(path, sizeof(path), "%s/shards/%u/0/%s", e->dir, e->stream, newest);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Bytes one record-only batch of these records takes on disk. */
static uint32_t batch_len(const struct sl_record *recs, uint16_t n)
{
	size_t len = SL_SEG_BATCH_HEADER_BYTES;
	for (uint16_t i = 0; i < n; i++)
		len += sl_seg_record_bytes(&recs[i]);
	return (uint32_t)((len + SL_SEG_BATCH_ALIGN - 1) / SL_SEG_BATCH_ALIGN * SL_SEG_BATCH_ALIGN);
}

/* After reopen: the next append's first sequence number is `want`. */
static void check_next_seq(struct env *e, sl_u128 want, uint64_t tag)
{
	static struct tu_append next;
	tu_append_init(&next, e->stream, 0, tag, 1);
	CHECK(append_one(e, &next) == SL_APPEND_OK);
	CHECK(next.app.first_seq == want);
}

/* ---- cases 1-4: one failing write or fsync ---- */

enum fault_kind {
	F_WRITE_EIO,
	F_FSYNC_EIO,
	F_WRITE_ENOSPC,
	F_WRITE_SHORT,
};

static void case_one_fault(enum fault_kind kind)
{
	static const char *const names[] = {"write EIO", "fsync EIO", "write ENOSPC",
					    "short write"};
	struct sl_io_fault_plan plan = {0};
	int want_err = -EIO;
	switch (kind) {
	case F_WRITE_EIO:
		plan.write_eio_at = FAULT_AT + ROLL_WRITES;
		break;
	case F_FSYNC_EIO:
		plan.fsync_eio_at = FAULT_AT + ROLL_FSYNCS;
		break;
	case F_WRITE_ENOSPC:
		plan.write_enospc_at = FAULT_AT + ROLL_WRITES;
		want_err = -ENOSPC;
		break;
	case F_WRITE_SHORT:
		plan.write_short_at = FAULT_AT + ROLL_WRITES;
		break;
	}
	fprintf(stderr, "store_fault: %s at #%d\n", names[kind], FAULT_AT);
	uint64_t failed0 = tu_storage_counter("commit_failed");
	uint64_t internal0 = tu_storage_counter("appends_internal");

	static struct tu_append a[FAULT_AT + 1];
	struct env e;
	CHECK(env_init(&e, "fault"));
	if (!env_start(&e, &plan))
		return;

	/* Appends 1..4: acked, consecutive. */
	sl_u128 acked_end = 0;
	uint64_t acked_records = 0;
	for (int i = 0; i < FAULT_AT - 1; i++) {
		tu_append_init(&a[i], e.stream, 0, 100 + (uint64_t)i, (uint16_t)(i % 3 + 1));
		CHECK(append_one(&e, &a[i]) == SL_APPEND_OK);
		if (i > 0)
			CHECK(a[i].app.first_seq == acked_end);
		acked_end = a[i].app.first_seq + a[i].app.record_count;
		acked_records += a[i].app.record_count;
	}
	off_t size4 = seg_size(&e, NULL);
	CHECK(size4 > (off_t)SL_SEG_HEADER_BYTES);

	/* Append 5: its write or fsync fails; it is never acked. */
	struct tu_append *f = &a[FAULT_AT - 1];
	tu_append_init(f, e.stream, 0, 100 + FAULT_AT - 1, 2);
	uint32_t flen = batch_len(f->recs, 2);
	CHECK(append_one(&e, f) == SL_APPEND_INTERNAL);
	CHECK(wait_error(&e, WAIT_MS) == want_err);
	struct sl_shard_status ss = env_status(&e);
	CHECK(ss.error < 0);
	CHECK(ss.visible_seq == acked_end);

	/* The shard takes no more writes. */
	struct tu_append *later = &a[FAULT_AT];
	tu_append_init(later, e.stream, 0, 200, 1);
	CHECK(sl_store_append(e.st, &later->app) == -EIO);
	/* Counted: one failed commit, its one append answered INTERNAL. */
	CHECK_EQ_U64(tu_storage_counter("commit_failed") - failed0, 1);
	CHECK_EQ_U64(tu_storage_counter("appends_internal") - internal0, 1);

	/* Readers see the acked records only. */
	int n = read_all(&e);
	CHECK_EQ_U64(n, acked_records);
	for (int i = 0; i < FAULT_AT - 1; i++)
		CHECK(present(&a[i], n));

	/* What reached the file: nothing of the failed batch for an injected
	 * write error, half of it for a short write, all of it (not synced)
	 * when the fsync failed. */
	off_t size5 = seg_size(&e, NULL);
	if (kind == F_WRITE_SHORT)
		CHECK_EQ_U64(size5, (uint64_t)size4 + flen / 2);
	else if (kind == F_FSYNC_EIO)
		CHECK_EQ_U64(size5, (uint64_t)size4 + flen);
	else
		CHECK_EQ_U64(size5, size4);
	env_close(&e);

	/* Recovery without faults: the acked appends, byte for byte. */
	if (!env_reopen(&e))
		return;
	CHECK(env_status(&e).error == 0);
	n = read_all(&e);
	for (int i = 0; i < FAULT_AT - 1; i++)
		CHECK(present(&a[i], n));
	sl_u128 next = acked_end;
	if (kind == F_FSYNC_EIO && (uint64_t)n > acked_records) {
		/* The write had completed, so the batch may have survived:
		 * allowed (it was never acked), but then it is whole. */
		CHECK(present(f, n));
		CHECK_EQ_U64(n, acked_records + f->app.record_count);
		CHECK_EQ_U64(seg_size(&e, NULL), (uint64_t)size4 + flen);
		next = acked_end + f->app.record_count;
	} else {
		CHECK_EQ_U64(n, acked_records);
		CHECK(!present(f, n));
		/* A short write's half batch was a torn tail: truncated. */
		CHECK_EQ_U64(seg_size(&e, NULL), size4);
	}
	check_next_seq(&e, next, 300);
	env_fini(&e);
}

/* ---- case 5: ENOSPC creating the next segment at a roll ---- */

struct big_append {
	struct tu_append t; /* first: done() casts the sl_append back */
	uint8_t big[BIG_DATA];
};

static void case_roll_enospc(void)
{
	fprintf(stderr, "store_fault: open ENOSPC at roll\n");
	static struct big_append b[BIG_APPENDS];
	/* The first O_CREAT open makes the first segment; the second is the
	 * roll's. */
	struct sl_io_fault_plan plan = {.open_enospc_at = 2};
	struct env e;
	CHECK(env_init(&e, "fault-roll"));
	e.o.batch_bytes = 64u << 10;
	e.o.segment_bytes = 72u << 10;
	if (!env_start(&e, &plan))
		return;

	/* The append that rolls: the first whose batch would take the
	 * segment past segment_bytes (writer.c need_roll). */
	uint64_t size = SL_SEG_HEADER_BYTES;
	int roll_at = -1;
	for (int i = 0; i < BIG_APPENDS; i++) {
		struct tu_append *t = &b[i].t;
		tu_append_init(t, e.stream, 0, 500 + (uint64_t)i, 1);
		for (uint32_t k = 0; k < BIG_DATA; k++)
			b[i].big[k] = (uint8_t)(k * 131 + (uint32_t)i * 7 + 1);
		t->recs[0].data = b[i].big;
		t->recs[0].data_len = BIG_DATA;
		uint32_t len = batch_len(t->recs, 1);
		if (roll_at < 0 && size > SL_SEG_HEADER_BYTES && size + len > e.o.segment_bytes)
			roll_at = i;
		size += len;
	}
	CHECK(roll_at > 1 && roll_at < BIG_APPENDS - 1);
	if (roll_at <= 1 || roll_at >= BIG_APPENDS - 1) {
		env_fini(&e);
		return;
	}

	sl_u128 acked_end = 0;
	uint64_t acked_records = 0;
	for (int i = 0; i < roll_at; i++) {
		CHECK(append_one(&e, &b[i].t) == SL_APPEND_OK);
		acked_end = b[i].t.app.first_seq + 1;
		acked_records++;
	}
	int segs = 0;
	off_t size_before = seg_size(&e, &segs);
	CHECK(segs == 1);
	CHECK(append_one(&e, &b[roll_at].t) == SL_APPEND_INTERNAL);
	CHECK(wait_error(&e, WAIT_MS) == -ENOSPC);
	CHECK(env_status(&e).visible_seq == acked_end);
	CHECK(sl_store_append(e.st, &b[roll_at + 1].t.app) == -EIO);
	int n = read_all(&e);
	CHECK_EQ_U64(n, acked_records);
	CHECK_EQ_U64(seg_size(&e, &segs), size_before);
	CHECK(segs == 1); /* the failed open created nothing */
	env_close(&e);

	if (!env_reopen(&e))
		return;
	CHECK(env_status(&e).error == 0);
	n = read_all(&e);
	CHECK_EQ_U64(n, acked_records);
	for (int i = 0; i < roll_at; i++)
		CHECK(present(&b[i].t, n));
	CHECK(!present(&b[roll_at].t, n));
	/* The same append again rolls, now for real. */
	tu_append_init(&b[roll_at + 1].t, e.stream, 0, 600, 1);
	b[roll_at + 1].t.recs[0].data = b[roll_at + 1].big;
	b[roll_at + 1].t.recs[0].data_len = BIG_DATA;
	CHECK(append_one(&e, &b[roll_at + 1].t) == SL_APPEND_OK);
	CHECK(b[roll_at + 1].t.app.first_seq == acked_end);
	seg_size(&e, &segs);
	CHECK(segs == 2);
	env_fini(&e);
}

/* ---- case 6: a torn last batch at every byte offset ---- */

#define TORN_GOOD 3

struct torn_run {
	struct tu_append good[TORN_GOOD];
	struct tu_append last;
	sl_u128 end3;    /* the sequence number after append 3 */
	uint64_t count3; /* records of appends 1..3 */
	off_t size3;     /* the segment after appends 1..3 */
};

/* A fresh directory with appends 1..3 acked, the store closed. */
static bool torn_prepare(struct env *e, struct torn_run *r)
{
	if (!env_init(e, "fault-torn"))
		return false;
	CHECK(env_open(e, NULL) == 0);
	if (e->st == NULL)
		return false;
	env_create_stream(e);
	r->count3 = 0;
	for (int i = 0; i < TORN_GOOD; i++) {
		tu_append_init(&r->good[i], e->stream, 0, 1 + (uint64_t)i, (uint16_t)(i + 1));
		CHECK(append_one(e, &r->good[i]) == SL_APPEND_OK);
		r->count3 += r->good[i].app.record_count;
	}
	r->end3 = r->good[TORN_GOOD - 1].app.first_seq + r->good[TORN_GOOD - 1].app.record_count;
	r->size3 = seg_size(e, NULL);
	env_close(e);
	return true;
}

/* The 4th append: one record of 16 data bytes. */
static void torn_last_init(struct env *e, struct torn_run *r)
{
	tu_append_init(&r->last, e->stream, 0, 4, 1);
	r->last.recs[0].data_len = 16;
}

/* Reopen without faults and check the state after the cut. */
static void torn_verify(struct env *e, struct torn_run *r, bool last_kept, uint32_t t)
{
	unsigned failed0 = sl_check_failed;
	CHECK(env_open(e, NULL) == 0);
	if (e->st == NULL)
		return;
	CHECK(env_status(e).error == 0);
	int n = read_all(e);
	bool ok = true;
	for (int i = 0; i < TORN_GOOD; i++)
		ok = ok && present(&r->good[i], n);
	CHECK(ok);
	uint32_t l = batch_len(r->last.recs, 1);
	if (last_kept) {
		CHECK_EQ_U64(n, r->count3 + 1);
		CHECK(present(&r->last, n));
		CHECK_EQ_U64(seg_size(e, NULL), (uint64_t)r->size3 + l);
		check_next_seq(e, r->end3 + 1, 900);
	} else {
		CHECK_EQ_U64(n, r->count3);
		CHECK_EQ_U64(seg_size(e, NULL), r->size3);
		check_next_seq(e, r->end3, 900);
	}
	if (sl_check_failed != failed0)
		fprintf(stderr, "store_fault: torn at byte %u of the last batch\n", t);
}

static void case_torn(void)
{
	static struct torn_run r;
	struct env e;

	/* The 4th batch's length L, measured once in a scratch run. */
	bool prepared = torn_prepare(&e, &r);
	CHECK(prepared);
	CHECK(r.size3 > (off_t)SL_SEG_HEADER_BYTES);
	if (!prepared || r.size3 <= (off_t)SL_SEG_HEADER_BYTES) {
		env_fini(&e);
		return;
	}
	if (!env_reopen(&e))
		return;
	torn_last_init(&e, &r);
	CHECK(append_one(&e, &r.last) == SL_APPEND_OK);
	uint64_t len = (uint64_t)seg_size(&e, NULL) - (uint64_t)r.size3;
	CHECK_EQ_U64(len, batch_len(r.last.recs, 1));
	off_t size3 = r.size3;
	env_fini(&e);
	fprintf(stderr, "store_fault: torn last batch at each of its %llu byte offsets\n",
		(unsigned long long)len);
	if (len == 0 || len > 4096)
		return;

	/* t == 0: nothing of the 4th batch reached the file. */
	prepared = torn_prepare(&e, &r);
	CHECK(prepared);
	CHECK_EQ_U64(r.size3, size3);
	if (prepared)
		torn_verify(&e, &r, false, 0);
	env_fini(&e);

	for (uint32_t t = 1; t <= len; t++) {
		if (!torn_prepare(&e, &r)) {
			CHECK(0);
			env_fini(&e);
			continue;
		}
		CHECK_EQ_U64(r.size3, size3);
		/* The writer's sl_io is new: the 4th batch is its first write
		 * (no roll: the segment is far from full). */
		struct sl_io_fault_plan plan = {.torn_after_bytes = t};
		CHECK(env_open(&e, &plan) == 0);
		if (e.st == NULL) {
			env_fini(&e);
			continue;
		}
		torn_last_init(&e, &r);
		/* Its done may say OK (torn reports success: a power cut
		 * after which nothing is durable); it is not counted as acked. */
		int st = append_one(&e, &r.last);
		CHECK(st >= 0);
		env_close(&e);
		CHECK_EQ_U64(seg_size(&e, NULL), (uint64_t)size3 + t);
		torn_verify(&e, &r, t == len, t);
		env_fini(&e);
	}
}

/* ---- case 7: nothing acked is lost ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void case_random(uint64_t seed)
{
	static struct tu_append ap[RANDOM_APPENDS];
	static int rcs[RANDOM_APPENDS];
	/* splitmix64 of the seed: neighbouring seeds start far apart. */
	uint64_t rng = seed + UINT64_C(0x9E3779B97F4A7C15);
	rng = (rng ^ (rng >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	rng = (rng ^ (rng >> 27)) * UINT64_C(0x94D049BB133111EB);
	rng ^= rng >> 31;
	rng = rng ? rng : 1;
	struct sl_io_fault_plan plan = {.write_eio_at = 3 + rng_next(&rng) % 28};
	fprintf(stderr, "store_fault: random: seed %llu, write EIO at write %llu\n",
		(unsigned long long)seed, (unsigned long long)plan.write_eio_at);
	struct env e;
	CHECK(env_init(&e, "fault-rand"));
	if (!env_start(&e, &plan))
		return;

	/* Groups of 1..4 appends in flight together: each group is at least
	 * one commit, so the fault is reached. */
	for (int i = 0; i < RANDOM_APPENDS;) {
		int g = 1 + (int)(rng_next(&rng) % 4), j0 = i;
		for (; i < RANDOM_APPENDS && i < j0 + g; i++) {
			tu_append_init(&ap[i], e.stream, 0, 10000 + (uint64_t)i,
				       (uint16_t)(1 + rng_next(&rng) % 8));
			rcs[i] = enqueue(&e, &ap[i]);
			CHECK(rcs[i] == 0 || rcs[i] == -EIO);
		}
		for (int j = j0; j < i; j++) {
			if (rcs[j] == 0)
				CHECK(tu_wait(&ap[j], WAIT_MS));
		}
	}

	/* OK appends come first, consecutive; every other append failed. */
	int ok = 0, failed = 0;
	sl_u128 end = 0;
	uint64_t ok_records = 0;
	for (int i = 0; i < RANDOM_APPENDS; i++) {
		bool is_ok = rcs[i] == 0 && __atomic_load_n(&ap[i].done, __ATOMIC_ACQUIRE) &&
			     ap[i].app.status == SL_APPEND_OK;
		if (is_ok) {
			CHECK(failed == 0);
			if (ok > 0)
				CHECK(ap[i].app.first_seq == end);
			end = ap[i].app.first_seq + ap[i].app.record_count;
			ok_records += ap[i].app.record_count;
			ok++;
		} else {
			CHECK(rcs[i] == -EIO || ap[i].app.status == SL_APPEND_INTERNAL);
			failed++;
		}
	}
	/* Each write before the failing one is the first roll's header or a
	 * commit of at least one append. */
	CHECK((uint64_t)ok >= plan.write_eio_at - 1 - ROLL_WRITES);
	CHECK(failed > 0);
	CHECK(wait_error(&e, WAIT_MS) == -EIO);
	env_close(&e);

	if (!env_reopen(&e))
		return;
	int n = read_all(&e);
	CHECK_EQ_U64(n, ok_records);
	for (int i = 0; i < ok; i++)
		CHECK(present(&ap[i], n));
	if (ok > 0)
		check_next_seq(&e, end, 99999);
	env_fini(&e);
}

/* ---- case 8: a failed commit with a younger one in flight ---- */

#define BURST_APPENDS 64

static void case_overlapped(void)
{
	static struct big_append b[BURST_APPENDS];
	static int rcs[BURST_APPENDS];
	fprintf(stderr, "store_fault: fsync EIO with commits in flight together\n");
	/* fdatasyncs: the roll's two, commit 1's, then commit 2's. */
	/* Its failure waits until one more write was queued: the commit
	 * after it is in flight beside it, whatever the timing. */
	struct sl_io_fault_plan plan = {.fsync_eio_at = ROLL_FSYNCS + 2,
					.fsync_eio_hold_writes = 1};
	struct env e;
	CHECK(env_init(&e, "fault-overlap"));
	e.o.batch_bytes = 64u << 10;
	e.o.commits_inflight = 2;
	if (!env_start(&e, &plan))
		return;
	for (int i = 0; i < BURST_APPENDS; i++) {
		struct tu_append *t = &b[i].t;
		tu_append_init(t, e.stream, 0, 700 + (uint64_t)i, 1);
		for (uint32_t k = 0; k < BIG_DATA; k++)
			b[i].big[k] = (uint8_t)(i * 13 + k);
		t->recs[0].data = b[i].big;
		t->recs[0].data_len = BIG_DATA;
		rcs[i] = enqueue(&e, t);
		CHECK(rcs[i] == 0 || rcs[i] == -EIO);
	}
	int ok = 0, failed = 0;
	sl_u128 end = 0;
	for (int i = 0; i < BURST_APPENDS; i++) {
		if (rcs[i] == 0)
			CHECK(tu_wait(&b[i].t, WAIT_MS));
		const struct sl_append *a = &b[i].t.app;
		if (rcs[i] == 0 && a->status == SL_APPEND_OK) {
			CHECK(failed == 0);
			CHECK(ok == 0 || a->first_seq == end);
			end = a->first_seq + a->record_count;
			ok++;
		} else {
			CHECK(rcs[i] == -EIO || a->status == SL_APPEND_INTERNAL);
			failed++;
		}
	}
	CHECK(ok > 0 && failed > 0);
	CHECK(wait_error(&e, WAIT_MS) == -EIO);
	CHECK(tu_storage_counter("commits_overlapped") >= 1);
	CHECK_EQ_U64(tu_storage_counter("commit_failed"), 1);
	CHECK(tu_storage_counter("commits_after_failed") >= 1);
	env_close(&e);

	if (!env_reopen(&e))
		return;
	CHECK_EQ_U64(env_status(&e).error, 0);
	int n = read_all(&e);
	CHECK(n >= ok); /* the failed commit's batch may be there: never acked */
	for (int i = 0; i < ok; i++)
		CHECK(present(&b[i].t, n));
	if (n > 0)
		check_next_seq(&e, rrecs[n - 1].seq + 1, 799);
	env_fini(&e);
}

static void run_overlapped(uint64_t arg)
{
	(void)arg;
	case_overlapped();
}

static uint64_t pick_seed(void)
{
	const char *s = getenv("SL_FAULT_SEED");
	if (s != NULL && *s != '\0')
		return strtoull(s, NULL, 10);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
}

/* ---- each case in its own process ---- */

static void run_write_eio(uint64_t arg)
{
	(void)arg;
	case_one_fault(F_WRITE_EIO);
}

static void run_fsync_eio(uint64_t arg)
{
	(void)arg;
	case_one_fault(F_FSYNC_EIO);
}

static void run_write_enospc(uint64_t arg)
{
	(void)arg;
	case_one_fault(F_WRITE_ENOSPC);
}

static void run_write_short(uint64_t arg)
{
	(void)arg;
	case_one_fault(F_WRITE_SHORT);
}

static void run_roll_enospc(uint64_t arg)
{
	(void)arg;
	case_roll_enospc();
}

/*
 * Case 5, a roll whose next step never gets queue room (busy_from: the
 * roll's openat is the 1st queueing call, its header write the 2nd): the
 * append waits; deleting the stream answers it STREAM_NOT_FOUND and the
 * writer lets the shard go at once, the roll dropped (not after the
 * delete's 5 s wait, with the shard kept in memory).
 */
static void run_roll_stuck(uint64_t arg)
{
	(void)arg;
	fprintf(stderr, "store_fault: roll without queue room, stream deleted\n");
	struct sl_io_fault_plan plan = {.busy_from = 2};
	static struct tu_append a;
	struct env e;
	CHECK(env_init(&e, "fault-roll-busy"));
	if (!env_start(&e, &plan))
		return;
	tu_append_init(&a, e.stream, 0, 800, 1);
	CHECK(sl_store_append(e.st, &a.app) == 0);
	CHECK(!tu_wait(&a, 200)); /* behind the roll */
	uint64_t t0 = sl_clock_mono_ns();
	CHECK(sl_store_stream_delete(e.st, e.stream) == 0);
	CHECK(sl_clock_mono_ns() - t0 < 2 * SL_NS_PER_S);
	CHECK(sl_store_shard(e.st, e.stream, 0) == NULL);
	CHECK(tu_wait(&a, WAIT_MS));
	CHECK(a.app.status == SL_APPEND_STREAM_NOT_FOUND);
	env_fini(&e);
}

/* Case 5, the other steps: arg 0 the header's write, 1 the file's
 * fdatasync, 2 the directory's. */
static void run_roll_step(uint64_t arg)
{
	static const char *const names[] = {"header write EIO", "file fdatasync EIO",
					    "directory fdatasync EIO"};
	struct sl_io_fault_plan plan = {0};
	if (arg == 0)
		plan.write_eio_at = 1;
	else
		plan.fsync_eio_at = arg;
	fprintf(stderr, "store_fault: roll: %s\n", names[arg]);
	static struct tu_append a[3];
	struct env e;
	CHECK(env_init(&e, "fault-roll-step"));
	if (!env_start(&e, &plan))
		return;
	sl_u128 first = env_status(&e).visible_seq; /* the shard's first seq */
	tu_append_init(&a[0], e.stream, 0, 700, 2);
	CHECK(append_one(&e, &a[0]) == SL_APPEND_INTERNAL);
	CHECK(wait_error(&e, WAIT_MS) == -EIO);
	CHECK(env_status(&e).visible_seq == first);
	tu_append_init(&a[1], e.stream, 0, 701, 1);
	CHECK(sl_store_append(e.st, &a[1].app) == -EIO);
	CHECK_EQ_U64(read_all(&e), 0);
	env_close(&e);

	/* The segment whose header never became durable (or whose entry may
	 * not be) holds no batch: recovery removes or keeps it empty, and the
	 * shard starts at its first sequence number. */
	if (!env_reopen(&e))
		return;
	CHECK(env_status(&e).error == 0);
	CHECK_EQ_U64(read_all(&e), 0);
	CHECK(env_status(&e).visible_seq == first);
	tu_append_init(&a[2], e.stream, 0, 702, 1);
	CHECK(append_one(&e, &a[2]) == SL_APPEND_OK);
	CHECK(a[2].app.first_seq == first);
	int n = read_all(&e);
	CHECK_EQ_U64(n, 1);
	CHECK(present(&a[2], n));
	int count = 0;
	CHECK(seg_size(&e, &count) > (off_t)SL_SEG_HEADER_BYTES);
	CHECK_EQ_U64(count, 1);
	env_fini(&e);
}

static void run_torn(uint64_t arg)
{
	(void)arg;
	case_torn();
}

/*
 * Run one case in a child process, so that an engine that aborts (an
 * assertion) or hangs (CASE_TIMEOUT_S) on a fault fails that case and the
 * others still run. The child reports its own checks; here it is one.
 */
static void run_case(const char *name, void (*fn)(uint64_t), uint64_t arg)
{
	CHECK(tu_tmpdir(case_root, sizeof(case_root), "fault") != NULL);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid < 0) {
		tu_rmtree(case_root);
		return;
	}
	if (pid == 0) {
		sl_check_count = 0; /* the child counts its own */
		sl_check_failed = 0;
		alarm(CASE_TIMEOUT_S);
		fn(arg);
		char tag[64];
		snprintf(tag, sizeof(tag), "store_fault: %s", name);
		exit(sl_check_finish(tag));
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "store_fault: %s: killed by signal %d (%s)\n", name,
			WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? "hung" : strsignal(WTERMSIG(status)));
	else if (!ok)
		fprintf(stderr, "store_fault: %s: failed (exit %d)\n", name, WEXITSTATUS(status));
	CHECK(ok);
	tu_rmtree(case_root);
}

int main(void)
{
	run_case("write EIO", run_write_eio, 0);
	run_case("fsync EIO", run_fsync_eio, 0);
	run_case("write ENOSPC", run_write_enospc, 0);
	run_case("short write", run_write_short, 0);
	run_case("open ENOSPC at roll", run_roll_enospc, 0);
	for (uint64_t step = 0; step < 3; step++)
		run_case("roll step fails", run_roll_step, step);
	run_case("roll without queue room", run_roll_stuck, 0);
	run_case("torn tail", run_torn, 0);
	run_case("fsync EIO with commits in flight together", run_overlapped, 0);
	uint64_t seed = pick_seed();
	for (uint64_t i = 0; i < RANDOM_ROUNDS; i++)
		run_case("random write EIO", case_random, seed + i);
	return sl_check_finish("store_fault");
}
