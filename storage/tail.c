/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tail cache: the newest committed batches of a shard, kept in memory
 * so that readers of recent records (consumers keeping up) are served from
 * memory, not from disk (segments are written with O_DIRECT and so are not
 * in the page cache).
 *
 * One writer (the shard's writer thread, after a commit completed and
 * before the visible watermark moves past it), any number of readers (under
 * the shard's read_lock, which orders readers among themselves only).
 * Batches go into a byte ring; an entry ring records where each batch sits.
 * Nothing blocks: a reader copies a batch out, then checks that the writer
 * has not started to overwrite those bytes or that entry meanwhile (the
 * writer announces the range it is about to write before writing it); if it
 * has, the read falls back to the segment files. The copy is then checked
 * like any batch read from disk (CRC and structure) before it is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>

#include "store_internal.h"

#define TAIL_ENTRIES 4096u

int sl_tail_init(struct sl_tail *t, uint32_t bytes)
{
	memset(t, 0, sizeof(*t));
	if (bytes == 0)
		return 0;
	uint64_t cap = 4096;
	while (cap < bytes)
		cap <<= 1;
	t->mem = aligned_alloc(64, cap);
	t->ents = calloc(TAIL_ENTRIES, sizeof(*t->ents));
	if (t->mem == NULL || t->ents == NULL) {
		sl_tail_fini(t);
		return -ENOMEM;
	}
	t->cap = cap;
	return 0;
}

void sl_tail_fini(struct sl_tail *t)
{
	free(t->mem);
	free(t->ents);
	memset(t, 0, sizeof(*t));
}

/* Copy len bytes at absolute position pos of the ring into out. */
static void ring_read(const struct sl_tail *t, uint64_t pos, uint8_t *out, uint32_t len)
{
	uint64_t at = pos & (t->cap - 1);
	uint64_t first = t->cap - at < len ? t->cap - at : len;
	memcpy(out, t->mem + at, first);
	memcpy(out + first, t->mem, len - first);
}

void sl_tail_push(struct sl_tail *t, uint64_t base_lo, uint32_t count, const uint8_t *batch,
		  uint32_t len)
{
	if (t->cap == 0 || len > t->cap / 4)
		return; /* readers of a batch this large go to disk */
	uint64_t pos = __atomic_load_n(&t->head, __ATOMIC_RELAXED);
	uint64_t k = __atomic_load_n(&t->ent_head, __ATOMIC_RELAXED);
	struct sl_tail_entry *e = &t->ents[k % TAIL_ENTRIES];
	/* Announce what is about to be overwritten: bytes up to pos + len and
	 * the entry slot k (it held entry k - TAIL_ENTRIES). */
	__atomic_store_n(&t->writing_to, pos + len, __ATOMIC_RELAXED);
	__atomic_store_n(&e->base_lo, UINT64_MAX, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	uint64_t at = pos & (t->cap - 1);
	uint64_t first = t->cap - at < len ? t->cap - at : len;
	memcpy(t->mem + at, batch, first);
	memcpy(t->mem, batch + first, len - first);
	__atomic_store_n(&e->pos, pos, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&e->count, count, __ATOMIC_RELAXED);
	__atomic_store_n(&e->base_lo, base_lo, __ATOMIC_RELEASE);
	__atomic_store_n(&t->head, pos + len, __ATOMIC_RELEASE);
	__atomic_store_n(&t->ent_head, k + 1, __ATOMIC_RELEASE);
}

int sl_tail_copy(const struct sl_tail *t, uint64_t lo, uint8_t *out, uint32_t out_cap,
		 uint32_t *len)
{
	if (t->cap == 0)
		return -ENOENT;
	uint64_t head = __atomic_load_n(&t->ent_head, __ATOMIC_ACQUIRE);
	uint64_t oldest = head > TAIL_ENTRIES ? head - TAIL_ENTRIES : 0;
	for (uint64_t k = head; k > oldest; k--) {
		const struct sl_tail_entry *e = &t->ents[(k - 1) % TAIL_ENTRIES];
		uint64_t base = __atomic_load_n(&e->base_lo, __ATOMIC_ACQUIRE);
		uint32_t count = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
		if (base == UINT64_MAX)
			return -ESTALE; /* being rewritten: older ones are gone too */
		if (base + count <= lo)
			return -ENOENT; /* newer than the newest cached batch */
		if (base > lo)
			continue;
		uint64_t pos = __atomic_load_n(&e->pos, __ATOMIC_RELAXED);
		uint32_t n = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
		if (n > out_cap)
			return -ENOBUFS;
		ring_read(t, pos, out, n);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/* Still intact: no byte of it targeted, and the entry unchanged. */
		if (__atomic_load_n(&t->writing_to, __ATOMIC_RELAXED) > pos + t->cap ||
		    __atomic_load_n(&e->base_lo, __ATOMIC_RELAXED) != base)
			return -ESTALE;
		*len = n;
		return 0;
	}
	return -ENOENT;
}
