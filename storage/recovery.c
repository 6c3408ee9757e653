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
 * on from there. A newest segment whose header never became durable holds
 * no batch (the header is synced before the first batch is written) and is
 * removed.
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
