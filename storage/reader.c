/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Readers: records of a shard from a position (a sequence number, an
 * arrival time, the trim horizon, latest), bounded by a record count and a
 * byte budget, never past the visible watermark, never older than the
 * stream's retention.
 *
 * Readers run on control threads and never touch writer state: the newest
 * batches come from the shard's tail cache (tail.c), the rest from the
 * segment files with pread, up to visible_lo, which the writer publishes
 * (release) only after the commit that holds those records completed. Each batch read is checked
 * again (CRC and structure): the pair of the check made before it was
 * written.
 *
 * Per shard, under read_lock, readers keep a view of each segment: an fd
 * and a sparse index (an entry per 64 KiB of batches: base, offset,
 * arrival times), built lazily by reading batch headers and extended as
 * the segment grows. A sealed segment's index is kept on disk beside it,
 * <base>.idx, loaded instead of a scan: the writer builds it as it
 * commits and writes it when it seals the segment (writer.c, roll); a
 * reader, or recovery collecting older dedupe entries, writes it the
 * first time it indexed a segment whole that has none (adopted by
 * recovery, or the writer's save failed). A missing or bad one is
 * rebuilt:
 *
 *   off size field (big-endian)
 *     0    4 magic            0x534C4958 "SLIX"
 *     4    2 version          1
 *     6    2 reserved         0
 *     8    4 entry_count      at most SL_IDX_ENTRIES_MAX
 *    12    4 reserved         0
 *    16    8 base_lo          the segment's base counter
 *    24    8 end_off          bytes of batches (the segment's size)
 *    32    8 end_lo           counter after its last record
 *    40    8 first_arrival_ms
 *    48    8 last_arrival_ms
 *    56    4 reserved         0
 *    60    4 crc32c           over bytes 0..59, then the entries
 *    64      entry_count x {base_lo 8, off 8, first_arrival_ms 8,
 *                           last_arrival_ms 8}
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/crc32c.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "store_internal.h"

#define SUBSYS "storage"

void sl_shard_views_fini(struct sl_shard *sh)
{
	for (uint32_t i = 0; i < sh->view_count; i++) {
		if (sh->views[i].fd >= 0)
			close(sh->views[i].fd);
		free(sh->views[i].idx);
	}
	free(sh->views);
	sh->views = NULL;
	sh->view_count = sh->view_cap = 0;
}

/* Bring the view list in line with the directory (new segments, deleted
 * ones). 0 or -errno. */
int sl_shard_views_refresh(struct sl_shard *sh)
{
	uint64_t *bases = NULL;
	int n = sl_shard_list_segments(sh, &bases);
	if (n < 0)
		return n;
	struct seg_view *nv = calloc((size_t)n + 1, sizeof(*nv));
	if (nv == NULL) {
		free(bases);
		return -ENOMEM;
	}
	uint32_t j = 0;
	for (int i = 0; i < n; i++) {
		while (j < sh->view_count && sh->views[j].base_lo < bases[i]) {
			if (sh->views[j].fd >= 0)
				close(sh->views[j].fd); /* deleted by retention */
			free(sh->views[j].idx);
			j++;
		}
		if (j < sh->view_count && sh->views[j].base_lo == bases[i]) {
			nv[i] = sh->views[j++];
		} else {
			nv[i] = (struct seg_view){.base_lo = bases[i],
						  .fd = -1,
						  .scanned = SL_SEG_HEADER_BYTES,
						  .last_lo = bases[i]};
		}
		nv[i].sealed = i + 1 < n;
	}
	for (; j < sh->view_count; j++) {
		if (sh->views[j].fd >= 0)
			close(sh->views[j].fd);
		free(sh->views[j].idx);
	}
	free(sh->views);
	free(bases);
	sh->views = nv;
	sh->view_count = (uint32_t)n;
	sh->view_cap = (uint32_t)n + 1;
	return 0;
}

static int view_open(struct sl_shard *sh, struct seg_view *v)
{
	if (v->fd >= 0)
		return 0;
	char name[32];
	sl_seg_file_name(name, sizeof(name), sl_shard_seq(sh, v->base_lo));
	v->fd = openat(sh->dirfd, name, O_RDONLY | O_CLOEXEC);
	return v->fd < 0 ? sl_neg_errno() : 0;
}

/*
 * Account one batch (base_lo, records, at off, len bytes, its arrival
 * times) that follows what v already covers, adding an index entry at the
 * first batch and then every SL_IDX_EVERY_BYTES of batches. Shared by the
 * reader's scan and the writer's commit (writer.c), so that both build the
 * same index. Never grows v->idx past idx_cap when grow is false. 0,
 * -ENOMEM (v unchanged), -ENOSPC (!grow and full; v unchanged).
 */
int sl_seg_index_note(struct seg_view *v, uint64_t base_lo, uint32_t records, uint64_t off,
		      uint32_t len, uint64_t first_ms, uint64_t last_ms, bool grow)
{
	SL_ASSERT(off == v->scanned);
	SL_ASSERT(base_lo == v->last_lo);
	if (v->idx_count == 0 || off - v->idx[v->idx_count - 1].off >= SL_IDX_EVERY_BYTES) {
		if (v->idx_count == v->idx_cap) {
			if (!grow)
				return -ENOSPC;
			uint32_t cap = v->idx_cap ? v->idx_cap * 2 : 64;
			struct idx_entry *n = realloc(v->idx, cap * sizeof(*n));
			if (n == NULL)
				return -ENOMEM;
			v->idx = n;
			v->idx_cap = cap;
		}
		v->idx[v->idx_count++] = (struct idx_entry){
		    .base_lo = base_lo,
		    .off = off,
		    .first_arrival_ms = first_ms,
		    .last_arrival_ms = last_ms,
		};
	}
	if (v->idx_count == 1 && off == SL_SEG_HEADER_BYTES)
		v->first_arrival_ms = first_ms;
	v->last_arrival_ms = last_ms;
	v->last_lo = base_lo + records;
	v->scanned = off + len;
	return 0;
}

#define IDX_MAGIC        0x534C4958u
#define IDX_VERSION      1
#define IDX_HEADER_BYTES 64u
#define IDX_ENTRY_BYTES  32u

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void idx_name(const struct sl_shard *sh, uint64_t base_lo, char *name, size_t cap)
{
	sl_seg_file_name(name, cap, sl_shard_seq(sh, base_lo));
	memcpy(name + strlen(name) - 3, "idx", 3); /* <20 digits>.seg -> .idx */
}

/* Load <base>.idx into the view. 0, or -ENOENT / -EBADMSG / -errno. */
static int idx_load(struct sl_shard *sh, struct seg_view *v)
{
	char name[32];
	struct stat st;
	idx_name(sh, v->base_lo, name, sizeof(name));
	int fd = openat(sh->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_neg_errno();
	int rc = -EBADMSG;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)IDX_HEADER_BYTES ||
	    st.st_size > (off_t)(IDX_HEADER_BYTES + (uint64_t)SL_IDX_ENTRIES_MAX * IDX_ENTRY_BYTES))
		goto out;
	buf = malloc((size_t)st.st_size);
	if (buf == NULL || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		goto out;
	uint32_t n = get32(buf + 8);
	if (get32(buf) != IDX_MAGIC || buf[4] != 0 || buf[5] != IDX_VERSION ||
	    (uint64_t)st.st_size != IDX_HEADER_BYTES + (uint64_t)n * IDX_ENTRY_BYTES || n == 0 ||
	    get64(buf + 16) != v->base_lo)
		goto out;
	uint32_t crc = sl_crc32c(buf, 60);
	crc = sl_crc32c_update(crc, buf + IDX_HEADER_BYTES, (size_t)n * IDX_ENTRY_BYTES);
	if (crc != get32(buf + 60))
		goto out;
	struct idx_entry *e = calloc(n, sizeof(*e));
	if (e == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = buf + IDX_HEADER_BYTES + (size_t)i * IDX_ENTRY_BYTES;
		e[i] = (struct idx_entry){get64(p), get64(p + 8), get64(p + 16), get64(p + 24)};
	}
	free(v->idx);
	v->idx = e;
	v->idx_count = v->idx_cap = n;
	v->scanned = get64(buf + 24);
	v->last_lo = get64(buf + 32);
	v->first_arrival_ms = get64(buf + 40);
	v->last_arrival_ms = get64(buf + 48);
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

#define IDX_CHUNK_ENTRIES 128u /* entries encoded per write: a stack buffer */

static void idx_entry_encode(uint8_t *p, const struct idx_entry *e)
{
	put64(p, e->base_lo);
	put64(p + 8, e->off);
	put64(p + 16, e->first_arrival_ms);
	put64(p + 24, e->last_arrival_ms);
}

/* The file's bytes to fd: header (with the CRC of it and of every entry,
 * so entries are encoded twice), then the entries in chunks. Allocates
 * nothing: the writer calls it. 0 or -errno. */
static int idx_write(int fd, const struct seg_view *v)
{
	uint8_t buf[IDX_CHUNK_ENTRIES * IDX_ENTRY_BYTES];
	SL_STATIC_ASSERT(sizeof(buf) >= IDX_HEADER_BYTES);
	memset(buf, 0, IDX_HEADER_BYTES);
	put32(buf, IDX_MAGIC);
	buf[5] = IDX_VERSION;
	put32(buf + 8, v->idx_count);
	put64(buf + 16, v->base_lo);
	put64(buf + 24, v->scanned);
	put64(buf + 32, v->last_lo);
	put64(buf + 40, v->first_arrival_ms);
	put64(buf + 48, v->last_arrival_ms);
	uint32_t crc = sl_crc32c(buf, 60);
	for (uint32_t i = 0; i < v->idx_count; i++) {
		uint8_t e[IDX_ENTRY_BYTES];
		idx_entry_encode(e, &v->idx[i]);
		crc = sl_crc32c_update(crc, e, sizeof(e));
	}
	put32(buf + 60, crc);
	if (pwrite(fd, buf, IDX_HEADER_BYTES, 0) != (ssize_t)IDX_HEADER_BYTES)
		return -EIO;
	for (uint32_t i = 0; i < v->idx_count; i += IDX_CHUNK_ENTRIES) {
		uint32_t n =
		    v->idx_count - i < IDX_CHUNK_ENTRIES ? v->idx_count - i : IDX_CHUNK_ENTRIES;
		for (uint32_t k = 0; k < n; k++)
			idx_entry_encode(buf + (size_t)k * IDX_ENTRY_BYTES, &v->idx[i + k]);
		size_t len = (size_t)n * IDX_ENTRY_BYTES;
		off_t off = (off_t)(IDX_HEADER_BYTES + (uint64_t)i * IDX_ENTRY_BYTES);
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			return -EIO;
	}
	return 0;
}

/* Write the view's index as <base>.idx (through a temporary name, so a
 * reader never sees half of one). 0 or -errno. Not synced: it can always
 * be rebuilt, and its CRC says whether it is whole. Readers (under
 * read_lock) and the writer at roll (writer.c, before the segment is
 * sealed, so never both for one segment) call it; tmp_suffix keeps their
 * temporary names apart all the same. */
int sl_seg_index_save(struct sl_shard *sh, const struct seg_view *v, const char *tmp_suffix)
{
	char name[32], tmp[48];
	SL_ASSERT(strlen(tmp_suffix) <= 8);
	if (v->idx_count == 0)
		return -ENODATA;
	idx_name(sh, v->base_lo, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s.%s", name, tmp_suffix);
	int rc = 0;
	int fd = openat(sh->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		rc = sl_neg_errno();
	else
		rc = idx_write(fd, v);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && renameat(sh->dirfd, tmp, sh->dirfd, name) != 0)
		rc = sl_neg_errno();
	if (rc != 0)
		unlinkat(sh->dirfd, tmp, 0);
	return rc;
}

/*
 * Extend a view's index over batches that are visible (below vis_lo).
 * Reads batch headers only. 0 or -errno (-EBADMSG: a header that should
 * be good is not).
 */
int sl_shard_view_index(struct sl_shard *sh, struct seg_view *v, uint64_t vis_lo)
{
	uint8_t hdr[SL_SEG_BATCH_HEADER_BYTES];
	struct sl_seg_batch b;
	int rc = view_open(sh, v);
	if (rc == 0 && v->sealed && !v->idx_tried) {
		v->idx_tried = true;
		v->idx_saved = idx_load(sh, v) == 0;
	}
	while (rc == 0 && v->last_lo < vis_lo) {
		ssize_t n = pread(v->fd, hdr, sizeof(hdr), (off_t)v->scanned);
		if (n != (ssize_t)sizeof(hdr)) {
			/* End of this segment: the rest is in the next. A sealed
			 * one is now indexed whole: keep its index on disk. */
			if (v->sealed && !v->idx_saved && n == 0)
				v->idx_saved = sl_seg_index_save(sh, v, "tmp") == 0;
			break;
		}
		if (sl_seg_batch_header_decode(hdr, sizeof(hdr), &b) != 0 ||
		    sl_u128_lo(b.base_seq) != v->last_lo)
			return -EBADMSG;
		if (sl_u128_lo(b.base_seq) + b.record_count > vis_lo)
			break;
		sh->index_scanned_batches++;
		rc = sl_seg_index_note(v, v->last_lo, b.record_count, v->scanned, b.batch_len,
				       b.first_arrival_ms, b.last_arrival_ms, true);
	}
	return rc;
}

/*
 * The arrival time of a view's first batch: a lower bound of every arrival
 * in the segment (a shard's arrival times never go back). From its index
 * when it has one, else from that batch's header alone, so that a caller
 * that needs only this bound does not read a whole segment.
 */
int sl_shard_view_first_arrival(struct sl_shard *sh, struct seg_view *v, uint64_t *ms)
{
	uint8_t hdr[SL_SEG_BATCH_HEADER_BYTES];
	struct sl_seg_batch b;
	if (v->idx_count > 0) {
		*ms = v->first_arrival_ms; /* set with the first entry, or by idx_load */
		return 0;
	}
	int rc = view_open(sh, v);
	if (rc != 0)
		return rc;
	ssize_t n = pread(v->fd, hdr, sizeof(hdr), (off_t)SL_SEG_HEADER_BYTES);
	if (n < 0)
		return sl_neg_errno();
	if (n != (ssize_t)sizeof(hdr))
		return -ENODATA;
	if (sl_seg_batch_header_decode(hdr, sizeof(hdr), &b) != 0 ||
	    sl_u128_lo(b.base_seq) != v->base_lo)
		return -EBADMSG;
	*ms = b.first_arrival_ms;
	return 0;
}

/* The view holding counter lo: the last whose base <= lo (or the first). */

static struct seg_view *view_for(struct sl_shard *sh, uint64_t lo)
{
	struct seg_view *best = NULL;
	for (uint32_t i = 0; i < sh->view_count; i++) {
		if (sh->views[i].base_lo <= lo || best == NULL)
			best = &sh->views[i];
		if (sh->views[i].base_lo > lo)
			break;
	}
	return best;
}

/* Offset of the indexed batch to start scanning from for lo. */
static uint64_t index_seek(const struct seg_view *v, uint64_t lo)
{
	uint64_t off = SL_SEG_HEADER_BYTES;
	for (uint32_t i = 0; i < v->idx_count && v->idx[i].base_lo <= lo; i++)
		off = v->idx[i].off;
	return off;
}

struct read_ctx {
	struct sl_shard *sh;
	uint64_t pos; /* next counter wanted */
	uint64_t vis_lo;
	uint64_t horizon_ms; /* records older than this have expired */
	uint64_t at_time_ms; /* AT_TIME: skip records before it */
	struct sl_read_record *recs;
	uint32_t max, count;
	uint8_t *buf;
	uint32_t buf_len, buf_used;
	uint8_t *batch; /* scratch for one batch */
	size_t batch_cap;
	bool full;
};

/* Copy the records of one checked batch from ctx->pos on. */
static void take_records(struct read_ctx *c, const uint8_t *batch, const struct sl_seg_batch *b)
{
	struct sl_seg_iter it;
	struct sl_seg_record r;
	sl_seg_iter_init(&it, batch, b);
	while (!c->full && sl_seg_iter_next(&it, &r) == 1) {
		uint64_t lo = sl_u128_lo(r.seq);
		if (lo < c->pos)
			continue;
		if (lo >= c->vis_lo || c->count == c->max) {
			c->full = true;
			break;
		}
		if (r.arrival_ms < c->horizon_ms || r.arrival_ms < c->at_time_ms) {
			c->pos = lo + 1;
			continue;
		}
		if ((uint64_t)c->buf_used + r.key_len + r.data_len > c->buf_len) {
			c->full = true;
			break;
		}
		struct sl_read_record *out = &c->recs[c->count++];
		out->seq = r.seq;
		out->arrival_ms = r.arrival_ms;
		out->key_off = c->buf_used;
		out->key_len = r.key_len;
		memcpy(c->buf + c->buf_used, r.key, r.key_len);
		c->buf_used += r.key_len;
		out->data_off = c->buf_used;
		out->data_len = r.data_len;
		memcpy(c->buf + c->buf_used, r.data, r.data_len);
		c->buf_used += r.data_len;
		c->pos = lo + 1;
	}
}

/* Grow the scratch batch buffer to at least n bytes. */
static int scratch(struct read_ctx *c, size_t n)
{
	if (n <= c->batch_cap)
		return 0;
	uint8_t *nb = realloc(c->batch, n);
	if (nb == NULL)
		return -ENOMEM;
	c->batch = nb;
	c->batch_cap = n;
	return 0;
}

/* Read one batch at off into the scratch buffer and check it. */
static int load_batch(struct read_ctx *c, struct seg_view *v, uint64_t off, struct sl_seg_batch *b)
{
	uint8_t hdr[SL_SEG_BATCH_HEADER_BYTES];
	if (pread(v->fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr))
		return -ENODATA;
	int rc = sl_seg_batch_header_decode(hdr, sizeof(hdr), b);
	if (rc != 0)
		return rc;
	if ((rc = scratch(c, b->batch_len)) != 0)
		return rc;
	ssize_t n = pread(v->fd, c->batch, b->batch_len, (off_t)off);
	if (n != (ssize_t)b->batch_len)
		return n < 0 ? sl_neg_errno() : -ENODATA;
	return sl_seg_batch_check(c->batch, b->batch_len, b);
}

/* Read from one view starting at c->pos. Returns 0 or -errno. */
static int read_view(struct read_ctx *c, struct seg_view *v)
{
	struct sl_seg_batch b;
	int rc = sl_shard_view_index(c->sh, v, c->vis_lo);
	if (rc != 0)
		return rc;
	uint64_t off = index_seek(v, c->pos);
	while (!c->full && off < v->scanned) {
		rc = load_batch(c, v, off, &b);
		if (rc != 0)
			return rc == -ENODATA ? 0 : rc;
		uint64_t base = sl_u128_lo(b.base_seq);
		bool wanted = base + b.record_count > c->pos &&
			      b.last_arrival_ms >= c->horizon_ms &&
			      b.last_arrival_ms >= c->at_time_ms;
		if (wanted)
			take_records(c, c->batch, &b);
		else if (base + b.record_count > c->pos)
			c->pos = base + b.record_count; /* expired or before the time */
		off += b.batch_len;
	}
	return 0;
}

/* Where a read starts, as a counter; -ERANGE for a foreign seq. */
static int start_pos(struct sl_shard *sh, enum sl_read_from from, sl_u128 seq, uint64_t vis_lo,
		     uint64_t *pos)
{
	switch (from) {
	case SL_READ_AT_SEQ:
	case SL_READ_AFTER_SEQ:
		if (sl_u128_hi(seq) != sh->seq_prefix)
			return -ERANGE;
		*pos = sl_u128_lo(seq) + (from == SL_READ_AFTER_SEQ ? 1 : 0);
		return 0;
	case SL_READ_LATEST:
		*pos = vis_lo;
		return 0;
	case SL_READ_AT_TIME:
	case SL_READ_TRIM_HORIZON:
		*pos = sh->view_count ? sh->views[0].base_lo : vis_lo;
		return 0;
	}
	return -EINVAL;
}

/*
 * Serve from the tail cache what it holds from c->pos on; stop at the
 * first batch it does not hold (or lost to the writer meanwhile), where
 * the segment files take over.
 */
static void read_tail(struct read_ctx *c)
{
	const struct sl_tail *t = &c->sh->tail;
	struct sl_seg_batch b;
	uint32_t len;
	if (t->cap == 0 || scratch(c, t->cap / 4) != 0)
		return;
	while (!c->full && c->pos < c->vis_lo) {
		if (sl_tail_copy(t, c->pos, c->batch, (uint32_t)c->batch_cap, &len) != 0 ||
		    sl_seg_batch_check(c->batch, len, &b) != 0)
			return;
		uint64_t end = sl_u128_lo(b.base_seq) + b.record_count;
		take_records(c, c->batch, &b);
		if (!c->full && c->pos < end)
			c->pos = end;
	}
}

static int read_locked(struct read_ctx *c, enum sl_read_from from, sl_u128 seq)
{
	struct sl_shard *sh = c->sh;
	int rc = 0;
	/* By sequence number, the newest records come from memory. */
	bool by_seq = from == SL_READ_AT_SEQ || from == SL_READ_AFTER_SEQ || from == SL_READ_LATEST;
	if (by_seq) {
		rc = start_pos(sh, from, seq, c->vis_lo, &c->pos);
		if (rc != 0)
			return rc;
		read_tail(c);
		if (c->full || c->pos >= c->vis_lo)
			return 0;
	}
	if (sh->view_count == 0 || sh->views[sh->view_count - 1].last_lo < c->vis_lo)
		rc = sl_shard_views_refresh(sh);
	if (rc == 0 && !by_seq)
		rc = start_pos(sh, from, seq, c->vis_lo, &c->pos);
	if (rc != 0 || sh->view_count == 0 || c->pos >= c->vis_lo)
		return rc;
	if (c->pos < sh->views[0].base_lo)
		c->pos = sh->views[0].base_lo; /* trimmed by retention */
	for (struct seg_view *v = view_for(sh, c->pos);
	     rc == 0 && !c->full && v < sh->views + sh->view_count && c->pos < c->vis_lo; v++) {
		rc = read_view(c, v);
		if (rc == -ENOENT) {
			rc = 0; /* deleted by retention under us: the next one goes on */
			continue;
		}
	}
	return rc;
}

int sl_store_read(struct sl_store *st, struct sl_shard *sh, enum sl_read_from from, sl_u128 seq,
		  uint64_t time_ms, struct sl_read_record *recs, uint32_t max_records, uint8_t *buf,
		  uint32_t buf_len, sl_u128 *next_seq)
{
	(void)st;
	if (sh == NULL)
		return -ENOENT;
	uint64_t now = sl_clock_wall_ms();
	uint64_t keep_ms =
	    (uint64_t)__atomic_load_n(&sh->retention_hours, __ATOMIC_RELAXED) * 3600000u;
	struct read_ctx c = {
	    .sh = sh,
	    .vis_lo = __atomic_load_n(&sh->visible_lo, __ATOMIC_ACQUIRE),
	    .horizon_ms = now > keep_ms ? now - keep_ms : 0,
	    .at_time_ms = from == SL_READ_AT_TIME ? time_ms : 0,
	    .recs = recs,
	    .max = max_records,
	    .buf = buf,
	    .buf_len = buf_len,
	};
	pthread_mutex_lock(&sh->read_lock);
	int rc = read_locked(&c, from, seq);
	pthread_mutex_unlock(&sh->read_lock);
	free(c.batch);
	if (rc != 0) {
		if (rc == -EBADMSG)
			SL_LOG_RL(SL_LOG_ERROR, SUBSYS,
				  "stream %u shard %u: a batch failed its check on read",
				  sh->stream_id, sh->shard_id);
		return rc;
	}
	*next_seq = sl_shard_seq(sh, c.pos);
	return (int)c.count;
}

void sl_store_shard_status(const struct sl_shard *sh, struct sl_shard_status *out)
{
	uint64_t vis = __atomic_load_n(&sh->visible_lo, __ATOMIC_ACQUIRE);
	out->visible_seq = sl_shard_seq(sh, vis);
	out->segments = __atomic_load_n(&sh->segments, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&sh->bytes_total, __ATOMIC_RELAXED);
	out->error = __atomic_load_n(&sh->error, __ATOMIC_ACQUIRE);
}
