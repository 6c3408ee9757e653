/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the segment walk that recovery and `sluice segment verify`
 * run (storage/segscan.c), over any bytes as a segment file read through a
 * pread callback. Recovery's decision rests on it: the walk stops at the
 * first bad or incomplete batch, and sl_seg_scan_find_valid says whether
 * anything valid follows (corruption in the middle) or not (a torn tail to
 * truncate). Invariants: no crash or sanitizer report; the walk ends (it
 * moves forward on every good batch); a stop is at an offset inside the
 * file; a valid batch "found after" lies after the stop, inside the file,
 * and walking from it succeeds; the check for batches written beside a
 * failed commit (sl_seg_scan_only_overlapped) ends with 0 or 1 and counts
 * within its bound.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <sluice/assert.h>
#include <sluice/segscan.h>

struct mem {
	const uint8_t *data;
	size_t size;
};

static ssize_t mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = ctx;
	if (off >= m->size)
		return 0;
	size_t n = m->size - (size_t)off < len ? m->size - (size_t)off : len;
	memcpy(buf, m->data + off, n);
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem m = {.data = data, .size = size};
	struct sl_seg_scan s;
	struct sl_seg_header h;
	struct sl_seg_batch b;
	const uint8_t *bytes;
	int rc;

	sl_seg_scan_init(&s, mem_pread, &m, size);
	(void)sl_seg_scan_header(&s, &h);
	s.off = SL_SEG_HEADER_BYTES; /* walk the batches whatever the header said */
	for (unsigned steps = 0;; steps++) {
		uint64_t before = s.off;
		rc = sl_seg_scan_next(&s, &b, &bytes);
		if (rc != 0)
			break;
		SL_ASSERT(s.off > before);
		SL_ASSERT(s.off <= size);
		SL_ASSERT(steps < size); /* every step moves at least 8 bytes */
	}
	if (rc == -EAGAIN || rc == -EBADMSG) {
		uint64_t stop = s.off;
		SL_ASSERT(stop < size);
		int64_t later = sl_seg_scan_find_valid(&s, stop);
		SL_ASSERT(later >= 0);
		if (later > 0) {
			SL_ASSERT((uint64_t)later > stop);
			SL_ASSERT((uint64_t)later < size);
			s.off = (uint64_t)later;
			SL_ASSERT(sl_seg_scan_next(&s, &b, &bytes) == 0);
			/* Recovery's rule for commits in flight together: it
			 * ends, and counts no more than it was allowed. */
			unsigned n = 0;
			int only = sl_seg_scan_only_overlapped(&s, (uint64_t)later, 0,
							       SL_SEG_OVERLAPPED_MAX, &n);
			SL_ASSERT(only == 0 || only == 1);
			SL_ASSERT(only == 0 || n <= SL_SEG_OVERLAPPED_MAX);
		}
	} else {
		SL_ASSERT(rc == 1);
	}
	sl_seg_scan_fini(&s);
	return 0;
}
