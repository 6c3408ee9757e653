/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-thread counters: what every drop counter and stat in the appliance
 * uses, so that sent = stored + counted drops, exactly.
 *
 * A subsystem declares a counter set statically (names and help text). Each
 * thread that counts (an RX lcore, a writer) gets its own block of values at
 * boot and is the only writer of it: sl_counter_add() is a relaxed load and a
 * relaxed store on the thread's own cache lines, with no lock and no atomic
 * read-modify-write. Readers on any thread (the control plane, exposition)
 * sum the live blocks of a set plus the set's retired totals, which hold what
 * destroyed blocks had counted, so a sum never goes backwards.
 *
 * Every block is listed in a process-wide registry under a mutex. Creating
 * and destroying blocks allocate and lock, so they belong to boot and
 * shutdown, never to a poll loop. A set is registered by its first block, or
 * earlier by sl_counter_set_register() so that its counters read 0 from boot.
 */
#ifndef SLUICE_COUNTERS_H
#define SLUICE_COUNTERS_H

#include <stdint.h>

#include <sluice/assert.h>

#define SL_COUNTER_SET_MAX          256  /* counters in one set */
#define SL_COUNTER_NAME_MAX         63   /* set and counter names, without NUL */
#define SL_COUNTER_OWNER_MAX        31   /* owner names, without NUL */
#define SL_COUNTER_SETS_MAX         64   /* sets in the registry */
#define SL_COUNTER_BLOCKS_MAX       1024 /* live blocks of one set */
#define SL_COUNTER_CACHE_LINE_BYTES 64

SL_STATIC_ASSERT((SL_COUNTER_CACHE_LINE_BYTES & (SL_COUNTER_CACHE_LINE_BYTES - 1)) == 0);
SL_STATIC_ASSERT(SL_COUNTER_SET_MAX <= UINT16_MAX);

/*
 * One counter. `name` is Prometheus-style snake_case, [a-z_][a-z0-9_]*, at
 * most SL_COUNTER_NAME_MAX characters, unique in its set; `help` is one line
 * of text for the exposition. Both are static strings.
 */
struct sl_counter_def {
	const char *name;
	const char *help;
};

/*
 * A subsystem's counters, declared `static const` and never changed: the
 * registry keeps the pointer, and the pointer is the set's identity. `name`
 * follows the same rules as a counter name and is unique among registered
 * sets; `count` is 1..SL_COUNTER_SET_MAX, the length of `defs`.
 */
struct sl_counter_set {
	const char *name;
	const struct sl_counter_def *defs;
	unsigned count;
};

/*
 * One thread's values for one set. Defined here only so the hot-path
 * functions can be inlined: every field is private to counters.c. The
 * header fields are written only at create and destroy; `values` starts on
 * its own cache line and the allocation is padded to whole lines, so no
 * other thread's writes share a line with them.
 */
struct sl_counter_block {
	const struct sl_counter_set *set;
	struct sl_counter_block *next;
	unsigned count;
	char owner[SL_COUNTER_OWNER_MAX + 1];
	_Alignas(SL_COUNTER_CACHE_LINE_BYTES) uint64_t values[];
};

/*
 * Register `set` without creating a block, so that sums and the exposition
 * show its counters (at 0) before any thread counts. Idempotent. Boot time,
 * any thread. Returns 0; -EINVAL if the set breaks the rules above;
 * -EEXIST if another set with the same name is registered; -ENOSPC past
 * SL_COUNTER_SETS_MAX sets; -ENOMEM. The set is borrowed for the life of
 * the process.
 */
int sl_counter_set_register(const struct sl_counter_set *set);

/*
 * Create the block through which the thread named `owner` counts into `set`,
 * with every value 0, and register it (and the set, if new). Boot time, any
 * thread, before the owner starts counting; never on a poll core once it
 * runs. `owner` ("rx-lcore-3", "writer-0") is copied: printable ASCII,
 * 1..SL_COUNTER_OWNER_MAX characters, unique among the set's live blocks.
 * `set` is borrowed for the life of the process.
 *
 * Returns the block, owned by the caller until sl_counter_block_destroy(),
 * or NULL: out of memory, a bad set or owner, a duplicate owner, a set name
 * clash, or past SL_COUNTER_SETS_MAX / SL_COUNTER_BLOCKS_MAX.
 */
struct sl_counter_block *sl_counter_block_create(const struct sl_counter_set *set,
						 const char *owner);

/*
 * Fold the block's values into its set's retired totals, unregister it and
 * free it, in one step under the registry lock, so that no sum misses or
 * double-counts them. Called by the owning thread, or by another thread once
 * the owner has stopped counting (after joining it): the block must not be
 * written during or after this call. NULL is a no-op.
 */
void sl_counter_block_destroy(struct sl_counter_block *b);

/*
 * Add `n` to counter `idx` of the block. Hot path: only the block's owning
 * thread calls it (the single writer), so a relaxed load and a relaxed store
 * suffice; the atomics keep a concurrent reader from seeing a torn value.
 * `idx` < the set's count is checked by SL_ASSERT_HOT.
 */
static inline void sl_counter_add(struct sl_counter_block *b, unsigned idx, uint64_t n)
{
	SL_ASSERT_HOT(idx < b->count);
	uint64_t v = __atomic_load_n(&b->values[idx], __ATOMIC_RELAXED);
	__atomic_store_n(&b->values[idx], v + n, __ATOMIC_RELAXED);
}

/* sl_counter_add(b, idx, 1). Hot path, owning thread only. */
static inline void sl_counter_inc(struct sl_counter_block *b, unsigned idx)
{
	sl_counter_add(b, idx, 1);
}

/*
 * Current value of counter `idx` of one block (`idx` < the set's count).
 * Any thread, lock-free, while the block is live; the value never decreases.
 */
static inline uint64_t sl_counter_block_get(const struct sl_counter_block *b, unsigned idx)
{
	SL_ASSERT_HOT(idx < b->count);
	return __atomic_load_n(&b->values[idx], __ATOMIC_RELAXED);
}

/*
 * Sum counter by counter over every live block of `set` and its retired
 * totals into `out[0..n)`. Control plane, any thread; takes the registry
 * lock, so each counter's sum never decreases from one call to the next. A
 * set never registered sums to zeros. Returns 0, or -EINVAL (NULL
 * arguments, or `n` != set->count) with `out` untouched.
 */
int sl_counter_sum(const struct sl_counter_set *set, uint64_t *out, unsigned n);

/*
 * Visitor of sl_counter_foreach_block(): one live block of the set and its
 * owner's name. The block and name are borrowed for the call; read values
 * with sl_counter_block_get(). Return 0 to go on, anything else to stop.
 */
typedef int sl_counter_block_visit_fn(const struct sl_counter_block *b, const char *owner,
				      void *arg);

/*
 * Call `fn` on each live block of `set`, in creation order (per-thread
 * stats). Control plane, any thread. The registry lock is held throughout:
 * `fn` must not call the other sl_counter_* functions except
 * sl_counter_block_get() (doing so is caught by an assertion, not a hang).
 * Returns 0 after visiting every block (none for a set never registered),
 * the first non-zero value `fn` returned, or -EINVAL for NULL arguments.
 */
int sl_counter_foreach_block(const struct sl_counter_set *set, sl_counter_block_visit_fn *fn,
			     void *arg);

/*
 * Visitor of sl_counter_foreach_set(): one registered set and its sums
 * (`set->count` values, as sl_counter_sum() gives them), both borrowed for
 * the call. Return 0 to go on, anything else to stop.
 */
typedef int sl_counter_set_visit_fn(const struct sl_counter_set *set, const uint64_t *sums,
				    void *arg);

/*
 * Call `fn` on each registered set, in registration order, with its sums:
 * what the exposition walks, since it cannot include the subsystems that
 * declare the sets. Control plane, any thread; same lock rule as
 * sl_counter_foreach_block(). Returns 0, the first non-zero value `fn`
 * returned, or -EINVAL if `fn` is NULL.
 */
int sl_counter_foreach_set(sl_counter_set_visit_fn *fn, void *arg);

#endif /* SLUICE_COUNTERS_H */
