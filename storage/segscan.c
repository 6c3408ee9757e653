/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Segment walking (see segscan.h): shared by recovery and the segment
 * inspector, so both judge a file by the same rules.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/segscan.h>

#define WINDOW_BYTES (1u << 20)

void sl_seg_scan_init(struct sl_seg_scan *s, sl_seg_pread_fn *pread, void *ctx, uint64_t size)
{
	memset(s, 0, sizeof(*s));
	s->pread = pread;
	s->ctx = ctx;
	s->size = size;
	s->off = SL_SEG_HEADER_BYTES;
}

void sl_seg_scan_fini(struct sl_seg_scan *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
}

static int grow(struct sl_seg_scan *s, size_t need)
{
	if (need <= s->cap)
		return 0;
	uint8_t *nb = realloc(s->buf, need);
	if (nb == NULL)
		return -ENOMEM;
	s->buf = nb;
	s->cap = need;
	return 0;
}

/* Read exactly len bytes at off into s->buf. */
static int read_exact(struct sl_seg_scan *s, size_t len, uint64_t off)
{
	int rc = grow(s, len);
	if (rc != 0)
		return rc;
	ssize_t n = s->pread(s->ctx, s->buf, len, off);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EAGAIN;
}

int sl_seg_scan_header(struct sl_seg_scan *s, struct sl_seg_header *h)
{
	if (s->size < SL_SEG_HEADER_BYTES)
		return -EAGAIN;
	int rc = read_exact(s, SL_SEG_HEADER_USED, 0);
	if (rc != 0)
		return rc;
	s->off = SL_SEG_HEADER_BYTES;
	return sl_seg_header_decode(s->buf, SL_SEG_HEADER_USED, h);
}

/* Read and check the batch at off without moving. */
static int batch_at(struct sl_seg_scan *s, uint64_t off, struct sl_seg_batch *b)
{
	if (off + SL_SEG_BATCH_HEADER_BYTES > s->size)
		return -EAGAIN;
	int rc = read_exact(s, SL_SEG_BATCH_HEADER_BYTES, off);
	rc = rc ?: sl_seg_batch_header_decode(s->buf, SL_SEG_BATCH_HEADER_BYTES, b);
	if (rc != 0)
		return rc;
	if (off + b->batch_len > s->size)
		return -EAGAIN;
	rc = read_exact(s, b->batch_len, off);
	return rc ?: sl_seg_batch_check(s->buf, b->batch_len, b);
}

int sl_seg_scan_next(struct sl_seg_scan *s, struct sl_seg_batch *b, const uint8_t **bytes)
{
	if (s->off >= s->size)
		return 1;
	int rc = batch_at(s, s->off, b);
	if (rc != 0)
		return rc;
	*bytes = s->buf;
	s->off += b->batch_len;
	return 0;
}

int64_t sl_seg_scan_find_valid(struct sl_seg_scan *s, uint64_t from)
{
	static const uint8_t magic[4] = {0x53, 0x4C, 0x42, 0x54}; /* "SLBT" */
	uint8_t *win = malloc(WINDOW_BYTES);
	struct sl_seg_batch b;
	int64_t found = 0;
	if (win == NULL)
		return -ENOMEM;
	uint64_t start = from + SL_SEG_BATCH_ALIGN;
	start -= start % SL_SEG_BATCH_ALIGN;
	for (; start < s->size && found == 0; start += WINDOW_BYTES) {
		ssize_t n = s->pread(s->ctx, win, WINDOW_BYTES, start);
		if (n <= 0) {
			found = n < 0 ? n : 0;
			break;
		}
		for (ssize_t i = 0; i + 4 <= n && found == 0; i += SL_SEG_BATCH_ALIGN) {
			if (memcmp(win + i, magic, 4) == 0 &&
			    batch_at(s, start + (uint64_t)i, &b) == 0)
				found = (int64_t)(start + (uint64_t)i);
		}
	}
	free(win);
	return found;
}

int sl_seg_scan_only_overlapped(struct sl_seg_scan *s, uint64_t from, sl_u128 after, unsigned max,
				unsigned *count)
{
	struct sl_seg_batch b;
	const uint8_t *bytes;
	uint64_t pos = from;
	unsigned n = 0;
	for (;;) {
		s->off = pos;
		int rc = sl_seg_scan_next(s, &b, &bytes);
		if (rc == 1)
			break;
		if (rc == 0) {
			if (!(b.flags & SL_SEG_BATCH_F_OVERLAPPED) || ++n > max ||
			    sl_u128_hi(b.base_seq) != sl_u128_hi(after) || b.base_seq <= after)
				return 0;
			pos = s->off;
			continue;
		}
		if (rc != -EAGAIN && rc != -EBADMSG)
			return rc;
		int64_t next = sl_seg_scan_find_valid(s, pos);
		if (next < 0)
			return (int)next;
		if (next == 0)
			break;
		pos = (uint64_t)next;
	}
	*count = n;
	return 1;
}
