/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bounded multi-producer single-consumer ring of ring.h, after Dmitry
 * Vyukov's bounded MPMC queue with the consumer side reduced to one thread.
 *
 * Every cell holds an item and a sequence number `seq`; positions are 64-bit
 * counters that only grow (2^64 enqueues at 10^9 per second take 584 years;
 * all comparisons are signed differences, safe across a wrap all the same),
 * and the cell for position p is cells[p & mask]. For a ring of `size` cells,
 * the cell of position p is
 *
 *   free for the producer of p       when seq == p
 *   published, for the consumer      when seq == p + 1
 *   taken, free for position p+size  when seq == p + size (written by the consumer)
 *
 * A producer claims position p by a CAS of enq_pos from p to p + 1 after it
 * has seen seq == p, writes the item, then publishes it with seq = p + 1. The
 * consumer takes cells in position order while seq == p + 1, and hands each
 * back with seq = p + size. A producer that sees seq < p finds the previous
 * lap's item still in the cell: the ring is full. Producers never read the
 * consumer's counter, nor the consumer theirs, so neither line bounces
 * between them; the cells carry all the synchronisation.
 *
 * Items must not be NULL (SL_ASSERT_HOT on both sides). The burst returns a
 * count, so a NULL could be carried, but no caller needs one, and forbidding it lets debug
 * builds catch a producer enqueueing a cleared pointer and a consumer taking
 * a cell whose item was never written. The ring stores pointers only: the
 * pointee passes from the producer to the consumer that dequeues it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sluice/assert.h>
#include <sluice/ring.h>

/*
 * Distance between fields written by different threads. Two 64-byte lines,
 * not one: x86's adjacent-line prefetcher fetches lines in pairs, and some
 * arm64 parts have 128-byte lines, so counters 64 bytes apart still contend.
 */
#define SL_RING_LINE_BYTES 128

/*
 * Lost claim races after which an enqueue gives up with -ENOBUFS. A CAS
 * failure, or a cell already claimed, means another producer enqueued, so the
 * ring as a whole progresses; the bound only keeps one unlucky producer from
 * retrying without end when the ring is that contended, and treating it as
 * full (the caller throttles) is the right answer then.
 */
#define SL_RING_ENQUEUE_TRIES_MAX 1024

SL_STATIC_ASSERT((SL_RING_SIZE_MAX & (SL_RING_SIZE_MAX - 1)) == 0);
SL_STATIC_ASSERT((SL_RING_LINE_BYTES & (SL_RING_LINE_BYTES - 1)) == 0);
/* A lock-based 64-bit atomic would make the ring block; refuse to build. */
SL_STATIC_ASSERT(__atomic_always_lock_free(sizeof(uint64_t), 0));

struct ring_cell {
	uint64_t seq;
	void *item;
};

struct sl_ring {
	/* Set at create, read-only afterwards: its line stays shared in every cache. */
	uint64_t mask;
	uint32_t size;

	/* Next position to claim; CASed by every producer. */
	_Alignas(SL_RING_LINE_BYTES) uint64_t enq_pos;

	/* Next position to take; written by the consumer only, read by sl_ring_count. */
	_Alignas(SL_RING_LINE_BYTES) uint64_t deq_pos;

	_Alignas(SL_RING_LINE_BYTES) struct ring_cell cells[];
};

struct sl_ring *sl_ring_create(uint32_t size)
{
	/* errno tells the caller which of EINVAL and ENOMEM the NULL means. */
	if (size < 2 || size > SL_RING_SIZE_MAX || (size & (size - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}

	/* aligned_alloc wants a multiple of the alignment; round up. */
	size_t bytes = sizeof(struct sl_ring) + (size_t)size * sizeof(struct ring_cell);
	bytes = (bytes + SL_RING_LINE_BYTES - 1) & ~(size_t)(SL_RING_LINE_BYTES - 1);
	struct sl_ring *r = aligned_alloc(SL_RING_LINE_BYTES, bytes);
	if (r == NULL)
		return NULL; /* errno is ENOMEM */

	r->mask = size - 1;
	r->size = size;
	/*
	 * Relaxed: nobody else sees the ring yet. Whoever hands it to the
	 * producers and the consumer (thread creation, a release store)
	 * publishes these stores with it.
	 */
	__atomic_store_n(&r->enq_pos, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->deq_pos, 0, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < size; i++) {
		__atomic_store_n(&r->cells[i].seq, i, __ATOMIC_RELAXED);
		r->cells[i].item = NULL;
	}
	return r;
}

void sl_ring_destroy(struct sl_ring *r)
{
	free(r);
}

/*
 * Claim a position for one enqueue: its cell, with *pos set, or NULL when the
 * ring is full or SL_RING_ENQUEUE_TRIES_MAX claims were lost to other
 * producers.
 */
static struct ring_cell *claim(struct sl_ring *r, uint64_t *pos_out)
{
	/* Relaxed: only a guess at the free position; the cell's seq decides. */
	uint64_t pos = __atomic_load_n(&r->enq_pos, __ATOMIC_RELAXED);

	for (uint32_t tries = 0; tries < SL_RING_ENQUEUE_TRIES_MAX; tries++) {
		struct ring_cell *cell = &r->cells[pos & r->mask];
		/*
		 * Acquire: pairs with the consumer's release of this cell, so its
		 * read of the previous lap's item happens before our write of
		 * the new one.
		 */
		uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - pos);

		if (diff < 0)
			return NULL; /* the previous lap's item is still here: full */
		if (diff > 0) {
			/* Another producer took pos already; look again. */
			pos = __atomic_load_n(&r->enq_pos, __ATOMIC_RELAXED);
			continue;
		}
		/*
		 * Relaxed: the CAS only has to make the claim exclusive, which
		 * the single modification order of enq_pos does; no data is
		 * published through enq_pos. Strong, not weak, so a failure
		 * always means another producer claimed pos (a spurious failure
		 * would spend a try for nothing); on failure pos is reloaded.
		 */
		if (__atomic_compare_exchange_n(&r->enq_pos, &pos, pos + 1, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			*pos_out = pos;
			return cell;
		}
	}
	return NULL;
}

int sl_ring_enqueue(struct sl_ring *r, void *item)
{
	SL_ASSERT_HOT(r != NULL);
	SL_ASSERT_HOT(item != NULL);

	uint64_t pos;
	struct ring_cell *cell = claim(r, &pos);
	if (cell == NULL)
		return -ENOBUFS;

	/* Plain store: the cell is ours until the seq store below publishes it. */
	cell->item = item;
	/* Release: the consumer's acquire of seq == pos + 1 then sees the item. */
	__atomic_store_n(&cell->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

uint32_t sl_ring_dequeue_burst(struct sl_ring *r, void **out, uint32_t n)
{
	SL_ASSERT_HOT(r != NULL);
	SL_ASSERT_HOT(n == 0 || out != NULL);

	/* Relaxed: only this thread writes deq_pos, so it reads its own last store. */
	uint64_t pos = __atomic_load_n(&r->deq_pos, __ATOMIC_RELAXED);
	uint32_t taken = 0;

	while (taken < n) {
		struct ring_cell *cell = &r->cells[pos & r->mask];
		/* Acquire: pairs with the producer's release, making its item visible. */
		uint64_t seq = __atomic_load_n(&cell->seq, __ATOMIC_ACQUIRE);

		/* Empty, or claimed but not yet published: stop here, keep order. */
		if ((int64_t)(seq - (pos + 1)) < 0)
			break;
		/* Producers cannot lap the consumer: they wait for our hand-back. */
		SL_ASSERT_HOT(seq == pos + 1);

		out[taken] = cell->item;
		SL_ASSERT_HOT(out[taken] != NULL);
		taken++;
		/*
		 * Release: hands the cell to the producer of pos + size; our read
		 * of the item above happens before its acquire and overwrite.
		 */
		__atomic_store_n(&cell->seq, pos + r->size, __ATOMIC_RELEASE);
		pos++;
	}
	/* Relaxed: read by this thread and by sl_ring_count, which is approximate. */
	if (taken > 0)
		__atomic_store_n(&r->deq_pos, pos, __ATOMIC_RELAXED);
	return taken;
}

uint32_t sl_ring_count(const struct sl_ring *r)
{
	SL_ASSERT_HOT(r != NULL);

	/*
	 * Relaxed: a statistic. The two loads are not one snapshot, and
	 * enq_pos counts claims not yet published while deq_pos trails the
	 * cells the consumer has already handed back, so clamp to 0..size.
	 */
	uint64_t deq = __atomic_load_n(&r->deq_pos, __ATOMIC_RELAXED);
	uint64_t enq = __atomic_load_n(&r->enq_pos, __ATOMIC_RELAXED);
	int64_t count = (int64_t)(enq - deq);

	if (count < 0)
		return 0;
	if (count > (int64_t)r->size)
		return r->size;
	return (uint32_t)count;
}

uint32_t sl_ring_capacity(const struct sl_ring *r)
{
	SL_ASSERT_HOT(r != NULL);
	return r->size;
}
