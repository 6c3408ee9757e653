/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bounded lock-free ring of pointers: many producers, one consumer (the
 * shard writer that owns it). Ingest threads (RX lcores, the API thread)
 * enqueue struct sl_append pointers; the writer dequeues them in bursts.
 *
 * Capacity is a power of two fixed at create time (no allocation after);
 * a full ring refuses the enqueue (the caller answers THROTTLED and counts
 * it). Order: items of one producer come out in the order it put them in.
 * Each cell carries a sequence number (Vyukov's bounded queue), so a
 * producer stalled mid-enqueue delays only what comes after it, and never
 * exposes a half-written slot.
 */
#ifndef SLUICE_RING_H
#define SLUICE_RING_H

#include <stdint.h>

#define SL_RING_SIZE_MAX (1u << 24)

struct sl_ring;

/*
 * A ring of `size` slots (a power of two, 2..SL_RING_SIZE_MAX). Returns
 * NULL on -EINVAL or -ENOMEM.
 */
struct sl_ring *sl_ring_create(uint32_t size);
void sl_ring_destroy(struct sl_ring *r); /* NULL: no-op */

/* Any thread. 0, or -ENOBUFS when full (nothing enqueued). */
int sl_ring_enqueue(struct sl_ring *r, void *item);

/* The owning consumer thread only: up to n items into out; returns how many. */
uint32_t sl_ring_dequeue_burst(struct sl_ring *r, void **out, uint32_t n);

/* Approximate number of items queued (for stats). */
uint32_t sl_ring_count(const struct sl_ring *r);
uint32_t sl_ring_capacity(const struct sl_ring *r);

#endif /* SLUICE_RING_H */
