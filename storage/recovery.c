/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recovery of one shard at start (main thread, before the writers run).
 *
 * Segments are listed from the shard's directory and ordered by base
 * sequence number. Older segments get their header checked; the newest is
 * scanned batch by batch, each batch's CRC and structure checked, and each
 * batch's base sequence number must follow the previous one.
 *
 * Where the scan stops on a bad or incomplete batch, the question is
 * whether anything valid follows: a valid batch further on means the log
 * is corrupt in the middle — that is reported with the file and offset,
 * nothing is deleted or skipped, the shard stays readable up to the bad
 * batch and takes no writes (-EUCLEAN). Nothing valid after it means a torn
 * tail — the last commit did not complete, so nothing there was acked — and
 * the file is truncated there (ftruncate + fdatasync) and the writer goes
 * on from there. So is a bad batch followed only by batches flagged
 * OVERLAPPED (at most SL_SEG_OVERLAPPED_MAX, later records): younger
 * commits that were in flight with the one that did not complete, at a
 * crash or its failed write; acks go in order, so none of them was acked.
 * A newest segment whose header never became durable holds no batch (the
 * header is synced before the first batch is written) and is removed.
 *
 * Dedupe entries (the ingest path's duplicate table after a restart): the
 * newest segment's are kept as it is scanned; when they do not fill the
 * shard's ring (SL_STORE_DEDUPE_RESTORE), the rest comes from the ends of
 * older segments, newest first, each found through its sparse index
 * (<base>.idx, or rebuilt from batch headers and saved as a reader would)
 * and read backwards one index window (about 64 KiB of batches) at a time,
 * each window walked forward and every batch checked whole. The work has
 * bounds (SL_STORE_DEDUPE_OLDER_*: segments, bytes of batches, headers),
 * so recovery never reads a whole sealed segment. A missing or damaged
 * index, segment or batch there is logged and ends the collection; it
 * never fails recovery. Entries reach the ring oldest first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <sluice/segscan.h>

#include "store_internal.h"

#define SUBSYS   "storage"
#define SEGS_MAX (1u << 20)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* "<20 digits>.seg" → its number. */
static bool seg_name_parse(const char *name, uint64_t *out)
{
	if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * The shard's segment bases in ascending order, into a malloc'd array.
 * Returns the count or -errno.
 */
int sl_shard_list_segments(const struct sl_shard *sh, uint64_t **out)
{
	DIR *d = opendir(sh->dir);
	if (d == NULL)
		return sl_neg_errno();
	uint64_t *v = NULL;
	uint32_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t base;
		if (!seg_name_parse(e->d_name, &base))
			continue;
		if (n == cap) {
			uint32_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = ncap <= SEGS_MAX ? realloc(v, ncap * sizeof(*v)) : NULL;
			if (nv == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = base;
	}
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	return (int)n;
}

struct scan {
	struct sl_shard *sh;
	struct sl_io *io;
	int fd;
	char name[32];
	uint64_t size;
	uint64_t next_lo;
	uint64_t last_arrival_ms;
};

static ssize_t scan_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct scan *s = ctx;
	return s->io->ops->pread(s->io, s->fd, buf, len, off);
}

static int truncate_tail(struct scan *s, uint64_t off)
{
	SL_WARN(SUBSYS,
		"stream %u shard %u: %s/%s: torn tail at offset %llu (%llu bytes of an "
		"incomplete commit) truncated",
		s->sh->stream_id, s->sh->shard_id, s->sh->dir, s->name, (unsigned long long)off,
		(unsigned long long)(s->size - off));
	int rc = s->io->ops->ftruncate(s->io, s->fd, off);
	rc = rc ?: s->io->ops->fdatasync(s->io, s->fd);
	s->size = off;
	return rc;
}

/* Whether batch b is the next one of this shard's log. */
static bool follows(const struct scan *s, const struct sl_seg_batch *b)
{
	return sl_u128_hi(b->base_seq) == s->sh->seq_prefix &&
	       sl_u128_lo(b->base_seq) == s->next_lo;
}

/* A bad batch at off: a torn tail (truncate) or corruption (report). */
static int judge(struct scan *s, struct sl_seg_scan *ss, uint64_t off, int why)
{
	int64_t later = sl_seg_scan_find_valid(ss, off);
	if (later < 0)
		return (int)later;
	if (later == 0)
		return truncate_tail(s, off);
	/* With several commits in flight (storage.commits_inflight), a
	 * younger one can reach the disk while an older one does not: a
	 * power cut, or the older one's failed write. None of them was acked
	 * (acks go in order, each after its own fdatasync): a bad batch
	 * followed only by such batches (OVERLAPPED) is a torn tail too. */
	unsigned younger = 0;
	int in_flight = sl_seg_scan_only_overlapped(
	    ss, (uint64_t)later, sl_shard_seq(s->sh, s->next_lo), SL_SEG_OVERLAPPED_MAX, &younger);
	if (in_flight < 0)
		return in_flight;
	if (in_flight) {
		SL_WARN(SUBSYS,
			"stream %u shard %u: %s/%s: bad batch at offset %llu followed only by %u "
			"batch(es) written while it was in flight (from offset %llu): commits "
			"never acked",
			s->sh->stream_id, s->sh->shard_id, s->sh->dir, s->name,
			(unsigned long long)off, younger, (unsigned long long)later);
		return truncate_tail(s, off);
	}
	SL_ERR(SUBSYS,
	       "stream %u shard %u: %s/%s: corrupt batch at offset %llu (%s), valid data "
	       "follows at offset %llu: the shard is readable up to the bad batch and takes "
	       "no writes; nothing was deleted",
	       s->sh->stream_id, s->sh->shard_id, s->sh->dir, s->name, (unsigned long long)off,
	       why == -EAGAIN ? "incomplete" : "bad CRC, structure or sequence",
	       (unsigned long long)later);
	s->size = off;
	return -EUCLEAN;
}

/*
 * Remember the batch's dedupe entries, the newest SL_STORE_DEDUPE_RESTORE
 * of the shard in a ring, for the ingest path to rebuild its table from.
 */
static void keep_dedupe(struct sl_shard *sh, const uint8_t *bytes, const struct sl_seg_batch *b)
{
	if (b->dedupe_count == 0)
		return;
	if (sh->restored == NULL) {
		sh->restored = calloc(SL_STORE_DEDUPE_RESTORE, sizeof(*sh->restored));
		if (sh->restored == NULL)
			return; /* dedupe memory is lost, not data: logged by the caller */
	}
	for (uint16_t i = 0; i < b->dedupe_count; i++) {
		sl_seg_batch_dedupe(bytes, b, i, &sh->restored[sh->restored_next]);
		sh->restored_next = (sh->restored_next + 1) % SL_STORE_DEDUPE_RESTORE;
		if (sh->restored_count < SL_STORE_DEDUPE_RESTORE)
			sh->restored_count++;
	}
}

/* Scan the batches of the newest segment from SL_SEG_HEADER_BYTES on. */
static int scan_batches(struct scan *s)
{
	struct sl_seg_scan ss;
	struct sl_seg_batch b;
	const uint8_t *bytes;
	int rc;
	sl_seg_scan_init(&ss, scan_pread, s, s->size);
	for (;;) {
		uint64_t off = ss.off;
		rc = sl_seg_scan_next(&ss, &b, &bytes);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc == 0 && !follows(s, &b))
			rc = -EBADMSG;
		if (rc == -EAGAIN || rc == -EBADMSG) {
			rc = judge(s, &ss, off, rc);
			break;
		}
		if (rc != 0)
			break;
		s->next_lo += b.record_count;
		keep_dedupe(s->sh, bytes, &b);
		if (b.last_arrival_ms > s->last_arrival_ms)
			s->last_arrival_ms = b.last_arrival_ms;
	}
	sl_seg_scan_fini(&ss);
	return rc;
}

/* Open segment `base` and check its header. -EBADMSG when it is bad. */
static int open_segment(struct scan *s, uint64_t base, struct sl_seg_header *h)
{
	struct stat st;
	uint8_t hdr[SL_SEG_HEADER_USED];
	sl_seg_file_name(s->name, sizeof(s->name), sl_shard_seq(s->sh, base));
	s->fd = s->io->ops->open(s->io, s->sh->dirfd, s->name, O_RDWR, 0);
	if (s->fd < 0)
		return s->fd;
	if (fstat(s->fd, &st) != 0)
		return sl_neg_errno();
	s->size = (uint64_t)st.st_size;
	ssize_t n = s->io->ops->pread(s->io, s->fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return (int)n;
	int rc = sl_seg_header_decode(hdr, (size_t)n, h);
	if (rc == 0 &&
	    (h->stream_id != s->sh->stream_id || h->shard_id != s->sh->shard_id ||
	     sl_u128_hi(h->base_seq) != s->sh->seq_prefix || sl_u128_lo(h->base_seq) != base))
		rc = -EBADMSG;
	return rc == 0 ? 0 : -EBADMSG;
}

static void close_scan_fd(struct scan *s)
{
	if (s->fd >= 0)
		s->io->ops->close(s->io, s->fd);
	s->fd = -1;
}

/* A newest segment with a bad header and no batch: its creation was cut
 * short, it holds nothing; remove it. */
static int drop_unborn(struct scan *s)
{
	SL_WARN(SUBSYS, "stream %u shard %u: %s/%s: header never became durable; removed",
		s->sh->stream_id, s->sh->shard_id, s->sh->dir, s->name);
	close_scan_fd(s);
	int rc = s->io->ops->unlink(s->io, s->sh->dirfd, s->name);
	return rc ?: s->io->ops->fdatasync(s->io, s->sh->dirfd);
}

/* Check older segments' headers: a bad one is corruption in the middle. */
static int check_older(struct scan *s, const uint64_t *bases, int n)
{
	struct sl_seg_header h;
	for (int i = 0; i < n; i++) {
		int rc = open_segment(s, bases[i], &h);
		close_scan_fd(s);
		if (rc == -EBADMSG) {
			SL_ERR(SUBSYS, "stream %u shard %u: %s/%s: bad segment header at offset 0",
			       s->sh->stream_id, s->sh->shard_id, s->sh->dir, s->name);
			return -EUCLEAN;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Reopen the newest segment for the writer and record where it ends. */
static int adopt_active(struct scan *s, uint64_t base, const struct sl_seg_header *h)
{
	struct sl_shard *sh = s->sh;
	close_scan_fd(s);
	int flags = O_WRONLY | (sh->st->opt.direct_io ? O_DIRECT : 0);
	int fd = s->io->ops->open(s->io, sh->dirfd, s->name, flags, 0);
	if (fd < 0)
		return fd;
	sh->seg.fd = fd;
	sh->seg.base_lo = base;
	sh->seg.size = s->size;
	sh->seg.created_ms = h->created_ms;
	return 0;
}

/* Indexes a crash left half-written under their temporary names (recovery
 * only: at run time the writer and readers write them). */
static void remove_tmp_indexes(const struct sl_shard *sh)
{
	DIR *d = opendir(sh->dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if ((len > 8 && strcmp(e->d_name + len - 8, ".idx.tmp") == 0) ||
		    (len > 9 && strcmp(e->d_name + len - 9, ".idx.wtmp") == 0))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d != NULL)
		closedir(d);
}

/* ---- dedupe entries from older segments ---- */

/* One shard's collection from its older segments (see the top). */
struct older {
	struct sl_shard *sh;
	struct sl_io *io;
	int fd;        /* the segment being read */
	char name[32]; /* its file name, for the log */
	/* Collected entries, room slots filled from the back: the newest is
	 * out[room - 1], the oldest out[room - got]. */
	struct sl_seg_dedupe *out;
	uint32_t room, got;
	/* One window's newest entries: a ring of room - got slots. */
	struct sl_seg_dedupe *win;
	uint32_t win_count, win_next;
	uint64_t bytes_left;
	uint32_t headers_left;
	bool read_any; /* a window was read (the first one ignores bytes_left) */
};

static ssize_t older_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct older *o = ctx;
	return o->io->ops->pread(o->io, o->fd, buf, len, off);
}

/* Whether batch b is the shard's and starts at counter lo. */
static bool batch_starts(const struct sl_shard *sh, const struct sl_seg_batch *b, uint64_t lo)
{
	return sl_u128_hi(b->base_seq) == sh->seq_prefix && sl_u128_lo(b->base_seq) == lo;
}

/*
 * Build v's sparse index from its batch headers (64 bytes each, read at
 * the offsets the headers chain to), by the reader's rules, until the
 * batches reach next_lo, where the next segment starts. At most
 * o->headers_left headers. 0, -E2BIG (that bound), -EAGAIN (the file ends
 * first), -EBADMSG (a header is bad or does not follow), -ENOMEM, -errno.
 */
static int index_from_headers(struct older *o, struct seg_view *v, uint64_t next_lo)
{
	uint8_t hdr[SL_SEG_BATCH_HEADER_BYTES];
	struct sl_seg_batch b;
	SL_ASSERT(v->last_lo < next_lo);
	while (v->last_lo != next_lo) {
		if (o->headers_left == 0)
			return -E2BIG;
		o->headers_left--;
		ssize_t n = o->io->ops->pread(o->io, v->fd, hdr, sizeof(hdr), v->scanned);
		if (n < 0)
			return (int)n;
		if (n != (ssize_t)sizeof(hdr))
			return -EAGAIN;
		if (sl_seg_batch_header_decode(hdr, sizeof(hdr), &b) != 0 ||
		    !batch_starts(o->sh, &b, v->last_lo) || b.record_count > next_lo - v->last_lo)
			return -EBADMSG;
		int rc = sl_seg_index_note(v, v->last_lo, b.record_count, v->scanned, b.batch_len,
					   b.first_arrival_ms, b.last_arrival_ms, true);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * Open sealed segment v (base v->base_lo, followed by the segment that
 * starts at next_lo) and get its sparse index: <base>.idx when it loads
 * and ends at next_lo, else built from the batch headers (and then saved,
 * as a reader saves an index it built). v->fd is open unless the open
 * failed. 0 or -errno (index_from_headers' errors).
 */
static int older_index(struct older *o, struct seg_view *v, uint64_t next_lo)
{
	struct sl_shard *sh = o->sh;
	/* Below counter 0 there is nothing to index: this only opens the
	 * segment and loads <base>.idx, a bounded read, never a scan. No
	 * reader runs yet; the lock is the function's contract. */
	pthread_mutex_lock(&sh->read_lock);
	int rc = sl_shard_view_index(sh, v, 0);
	pthread_mutex_unlock(&sh->read_lock);
	if (rc != 0)
		return rc;
	if (v->idx_saved && v->idx_count > 0 && v->last_lo == next_lo)
		return 0;
	SL_INFO(SUBSYS,
		"stream %u shard %u: %s/%s: no usable sparse index (missing, damaged, or not "
		"ending at %llu); rebuilding it from batch headers for the dedupe entries",
		sh->stream_id, sh->shard_id, sh->dir, o->name, (unsigned long long)next_lo);
	free(v->idx);
	v->idx = NULL;
	v->idx_count = v->idx_cap = 0;
	v->scanned = SL_SEG_HEADER_BYTES;
	v->last_lo = v->base_lo;
	v->first_arrival_ms = v->last_arrival_ms = 0;
	rc = index_from_headers(o, v, next_lo);
	if (rc == 0)
		v->idx_saved = sl_seg_index_save(sh, v, "tmp") == 0; /* a reader's would do */
	return rc;
}

/*
 * Read window j of v's index whole: the batches from entry j to entry
 * j + 1 (or the segment's end), each checked, each following the last;
 * their dedupe entries into o->win, the newest room - got kept. 0 or
 * -errno (-EBADMSG: a batch fails its check, does not follow, or the
 * window does not end where the index says).
 */
static int older_window(struct older *o, const struct seg_view *v, uint32_t j)
{
	bool last = j + 1 == v->idx_count;
	uint64_t to = last ? v->scanned : v->idx[j + 1].off;
	uint64_t lo = v->idx[j].base_lo;
	uint64_t end_lo = last ? v->last_lo : v->idx[j + 1].base_lo;
	uint32_t want = o->room - o->got;
	struct sl_seg_scan ss;
	struct sl_seg_batch b;
	const uint8_t *bytes;
	int rc;
	SL_ASSERT(want > 0);
	o->win_count = o->win_next = 0;
	sl_seg_scan_init(&ss, older_pread, o, to);
	ss.off = v->idx[j].off;
	while ((rc = sl_seg_scan_next(&ss, &b, &bytes)) == 0) {
		if (!batch_starts(o->sh, &b, lo)) {
			rc = -EBADMSG;
			break;
		}
		lo += b.record_count;
		for (uint16_t i = 0; i < b.dedupe_count; i++) {
			sl_seg_batch_dedupe(bytes, &b, i, &o->win[o->win_next]);
			o->win_next = (o->win_next + 1) % want;
			if (o->win_count < want)
				o->win_count++;
		}
	}
	sl_seg_scan_fini(&ss);
	if (rc == 1)
		rc = lo == end_lo ? 0 : -EBADMSG;
	return rc;
}

/* Put the window's entries, oldest first, in front of those collected. */
static void older_take_window(struct older *o)
{
	uint32_t want = o->room - o->got;
	uint32_t start = o->win_count < want ? 0 : o->win_next;
	uint32_t at = o->room - o->got - o->win_count;
	SL_ASSERT(o->win_count <= want);
	for (uint32_t k = 0; k < o->win_count; k++)
		o->out[at + k] = o->win[(start + k) % want];
	o->got += o->win_count;
}

/*
 * Collect the entries of sealed segment `base` (followed by the segment
 * that starts at next_lo), its last window first. 0: all of it was taken,
 * go on to the older one; 1: a bound was reached or the ring is full;
 * -errno: it could not be read (logged; what came before is kept).
 */
static int older_segment(struct older *o, uint64_t base, uint64_t next_lo)
{
	struct seg_view v = {.base_lo = base,
			     .fd = -1,
			     .sealed = true,
			     .scanned = SL_SEG_HEADER_BYTES,
			     .last_lo = base};
	struct sl_shard *sh = o->sh;
	uint64_t at = SL_SEG_HEADER_BYTES;
	sl_seg_file_name(o->name, sizeof(o->name), sl_shard_seq(sh, base));
	int rc = older_index(o, &v, next_lo);
	o->fd = v.fd;
	for (uint32_t j = v.idx_count; rc == 0 && j-- > 0;) {
		uint64_t from = v.idx[j].off;
		uint64_t to = j + 1 == v.idx_count ? v.scanned : v.idx[j + 1].off;
		at = from;
		if (from < SL_SEG_HEADER_BYTES || to <= from) {
			rc = -EBADMSG;
			break;
		}
		if (o->got == o->room || (o->read_any && to - from > o->bytes_left)) {
			rc = 1;
			break;
		}
		o->bytes_left -= to - from < o->bytes_left ? to - from : o->bytes_left;
		o->read_any = true;
		rc = older_window(o, &v, j);
		if (rc == 0)
			older_take_window(o);
	}
	if (rc == -E2BIG)
		SL_WARN(SUBSYS,
			"stream %u shard %u: %s/%s: more than %u batch headers to read without "
			"an index; its dedupe entries and older ones are not restored",
			sh->stream_id, sh->shard_id, sh->dir, o->name,
			SL_STORE_DEDUPE_OLDER_HEADERS);
	else if (rc < 0)
		SL_WARN(SUBSYS,
			"stream %u shard %u: %s/%s: dedupe entries from offset %llu back, and of "
			"older segments, not restored: %s",
			sh->stream_id, sh->shard_id, sh->dir, o->name, (unsigned long long)at,
			rc == -EAGAIN ? "a batch or the file is cut short" : sl_strerror(rc));
	if (v.fd >= 0)
		close(v.fd); /* opened by the reader's code, with openat */
	o->fd = -1;
	free(v.idx);
	return rc;
}

/* Put k entries (oldest first) in front of the ring's, which has not
 * wrapped: the ring stays oldest first. */
static void prepend_dedupe(struct sl_shard *sh, const struct sl_seg_dedupe *e, uint32_t k)
{
	if (k == 0)
		return;
	SL_ASSERT(sh->restored_count < SL_STORE_DEDUPE_RESTORE);
	SL_ASSERT(sh->restored_next == sh->restored_count);
	SL_ASSERT(k <= SL_STORE_DEDUPE_RESTORE - sh->restored_count);
	if (sh->restored == NULL) {
		sh->restored = calloc(SL_STORE_DEDUPE_RESTORE, sizeof(*sh->restored));
		if (sh->restored == NULL) {
			SL_WARN(SUBSYS, "stream %u shard %u: dedupe entries not restored: %s",
				sh->stream_id, sh->shard_id, sl_strerror(-ENOMEM));
			return;
		}
	}
	memmove(sh->restored + k, sh->restored, sh->restored_count * sizeof(*sh->restored));
	memcpy(sh->restored, e, k * sizeof(*e));
	sh->restored_count += k;
	sh->restored_next = sh->restored_count % SL_STORE_DEDUPE_RESTORE;
}

/*
 * When the newest segment (bases[n - 1]) left room in the dedupe ring,
 * fill it from the older segments, newest first, within the bounds. Never
 * fails: what cannot be read is logged and left out.
 */
static void restore_older_dedupe(struct sl_shard *sh, struct sl_io *io, const uint64_t *bases,
				 int n)
{
	if (n < 2 || sh->restored_count >= SL_STORE_DEDUPE_RESTORE)
		return;
	struct older o = {
	    .sh = sh,
	    .io = io,
	    .fd = -1,
	    .room = SL_STORE_DEDUPE_RESTORE - sh->restored_count,
	    .bytes_left = SL_STORE_DEDUPE_OLDER_BYTES,
	    .headers_left = SL_STORE_DEDUPE_OLDER_HEADERS,
	};
	o.out = calloc(o.room, sizeof(*o.out));
	o.win = calloc(o.room, sizeof(*o.win));
	int segs = 0;
	if (o.out == NULL || o.win == NULL) {
		SL_WARN(SUBSYS,
			"stream %u shard %u: dedupe entries of older segments not "
			"restored: %s",
			sh->stream_id, sh->shard_id, sl_strerror(-ENOMEM));
	} else {
		for (int i = n - 2; i >= 0 && segs < SL_STORE_DEDUPE_OLDER_SEGS && o.got < o.room;
		     i--) {
			segs++;
			if (older_segment(&o, bases[i], bases[i + 1]) != 0)
				break;
		}
		prepend_dedupe(sh, o.out + (o.room - o.got), o.got);
	}
	SL_DEBUG(SUBSYS,
		 "stream %u shard %u: %u dedupe entries from %d older segment(s), %llu bytes",
		 sh->stream_id, sh->shard_id, o.got, segs,
		 (unsigned long long)(SL_STORE_DEDUPE_OLDER_BYTES - o.bytes_left));
	free(o.out);
	free(o.win);
}

int sl_shard_recover(struct sl_shard *sh, struct sl_io *io)
{
	remove_tmp_indexes(sh);
	struct scan s = {.sh = sh, .io = io, .fd = -1};
	struct sl_seg_header h;
	uint64_t *bases = NULL;
	int n = sl_shard_list_segments(sh, &bases);
	int rc = n < 0 ? n : 0;

	sh->seg.fd = -1;
	while (rc == 0 && n > 0) {
		rc = open_segment(&s, bases[n - 1], &h);
		if (rc == -EBADMSG && s.size < SL_SEG_HEADER_BYTES + SL_SEG_BATCH_HEADER_BYTES) {
			rc = drop_unborn(&s);
			n--;
			continue;
		}
		if (rc == -EBADMSG) {
			SL_ERR(SUBSYS, "stream %u shard %u: %s/%s: bad segment header at offset 0",
			       sh->stream_id, sh->shard_id, sh->dir, s.name);
			rc = -EUCLEAN;
		}
		break;
	}
	if (rc == 0 && n > 0) {
		s.next_lo = bases[n - 1];
		rc = check_older(&s, bases, n - 1);
		if (rc == 0)
			rc = open_segment(&s, bases[n - 1], &h);
		if (rc == 0)
			rc = scan_batches(&s);
		if (rc == 0 || rc == -EUCLEAN) {
			int rc2 = adopt_active(&s, bases[n - 1], &h);
			rc = rc ?: rc2;
		}
		__atomic_store_n(&sh->segments, (uint64_t)n, __ATOMIC_RELAXED);
		if (rc == 0)
			restore_older_dedupe(sh, io, bases, n);
	}
	sh->next_lo = s.next_lo;
	sh->last_arrival_ms = s.last_arrival_ms;
	__atomic_store_n(&sh->visible_lo, s.next_lo, __ATOMIC_RELEASE);
	if (rc == -EUCLEAN)
		__atomic_store_n(&sh->error, rc, __ATOMIC_RELEASE);
	close_scan_fd(&s);
	free(bases);
	return rc;
}
