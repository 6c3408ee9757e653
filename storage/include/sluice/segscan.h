/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Walking a segment file batch by batch: recovery (through the I/O layer)
 * and the operator's `sluice segment verify|dump` (plain pread) share it.
 * The caller supplies how to read; the scanner checks each batch whole
 * (sl_seg_batch_check) and says where and why a walk stopped.
 *
 * Not thread-safe; one scanner per walk. The buffer grows to the largest
 * batch met (at most SL_SEG_BATCH_BYTES_MAX); sl_seg_scan_fini frees it.
 */
#ifndef SLUICE_SEGSCAN_H
#define SLUICE_SEGSCAN_H

#include <stdint.h>
#include <sys/types.h>

#include <sluice/segment.h>

/* Read up to len bytes at off; bytes read, or -errno. */
typedef ssize_t sl_seg_pread_fn(void *ctx, void *buf, size_t len, uint64_t off);

struct sl_seg_scan {
	sl_seg_pread_fn *pread;
	void *ctx;
	uint64_t size; /* file size */
	uint64_t off;  /* offset of the next batch */
	uint8_t *buf;
	size_t cap;
};

void sl_seg_scan_init(struct sl_seg_scan *s, sl_seg_pread_fn *pread, void *ctx, uint64_t size);
void sl_seg_scan_fini(struct sl_seg_scan *s);

/*
 * Read and check the segment header at offset 0 and position the scan
 * after it. 0, -EBADMSG, -EPROTO, -EAGAIN (file shorter than a header).
 */
int sl_seg_scan_header(struct sl_seg_scan *s, struct sl_seg_header *h);

/*
 * The batch at s->off: 0 with *b and *bytes (valid until the next call)
 * and s->off moved past it; 1 at the clean end of the file; -EAGAIN (the
 * file ends inside it), -EBADMSG (corrupt), other -errno from pread. On an
 * error s->off stays at the batch.
 */
int sl_seg_scan_next(struct sl_seg_scan *s, struct sl_seg_batch *b, const uint8_t **bytes);

/*
 * The offset of the first valid batch after `from` (searched at 8-byte
 * steps), 0 if there is none, or -errno. Tells a torn tail (nothing valid
 * follows) from corruption in the middle of a log.
 */
int64_t sl_seg_scan_find_valid(struct sl_seg_scan *s, uint64_t from);

/*
 * Whether the valid batches from `from` (a valid one) to the end of the
 * file are all flagged OVERLAPPED, hold records after `after` with its high
 * 64 bits, and number at most `max`: commits that were in flight beside a
 * failed one before them, never acked (docs/formats/segment.md). 1 (and
 * *count), 0, or -errno. Moves s->off.
 */
int sl_seg_scan_only_overlapped(struct sl_seg_scan *s, uint64_t from, sl_u128 after, unsigned max,
				unsigned *count);

#endif /* SLUICE_SEGSCAN_H */
