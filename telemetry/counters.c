/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The registry behind per-thread counters (see <sluice/counters.h>).
 *
 * One mutex guards a list of registered sets. Each set entry holds the set's
 * live blocks, in creation order, and its retired totals: the values of the
 * blocks destroyed so far. A sum reads the retired totals and every live
 * block under the mutex, and a destroy folds and unlinks under the same
 * mutex, so a value is always counted exactly once and sums never go
 * backwards. Set entries are never freed: a set lives as long as the process,
 * and its retired totals with it.
 *
 * The mutex is error-checking, so a visitor that calls back into the
 * registry trips an assertion instead of deadlocking.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/counters.h>

struct set_entry {
	struct set_entry *next;
	const struct sl_counter_set *set;
	struct sl_counter_block *blocks; /* live, in creation order */
	unsigned block_count;
	uint64_t retired[]; /* set->count values */
};

static struct {
	pthread_mutex_t lock;
	struct set_entry *sets; /* in registration order */
	unsigned set_count;
} registry = {
    .lock = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP,
};

static void registry_lock(void)
{
	int rc = pthread_mutex_lock(&registry.lock);
	SL_ASSERT(rc != EDEADLK); /* a visitor called back into the registry */
	SL_ASSERT(rc == 0);
}

static void registry_unlock(void)
{
	int rc = pthread_mutex_unlock(&registry.lock);
	SL_ASSERT(rc == 0);
}

/* [a-z_][a-z0-9_]*, 1..SL_COUNTER_NAME_MAX characters. */
static bool name_valid(const char *s)
{
	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return false;
	size_t len = strnlen(s, SL_COUNTER_NAME_MAX + 1);
	if (len > SL_COUNTER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* Printable ASCII, 1..SL_COUNTER_OWNER_MAX characters. */
static bool owner_valid(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return false;
	size_t len = strnlen(s, SL_COUNTER_OWNER_MAX + 1);
	if (len > SL_COUNTER_OWNER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	}
	return true;
}

/* The rules of <sluice/counters.h>; at most SL_COUNTER_SET_MAX^2 / 2
 * comparisons, once per registration or create. */
static bool set_valid(const struct sl_counter_set *set)
{
	if (set == NULL || !name_valid(set->name) || set->defs == NULL)
		return false;
	if (set->count == 0 || set->count > SL_COUNTER_SET_MAX)
		return false;
	for (unsigned i = 0; i < set->count; i++) {
		const struct sl_counter_def *d = &set->defs[i];
		if (!name_valid(d->name) || d->help == NULL)
			return false;
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(set->defs[j].name, d->name) == 0)
				return false;
		}
	}
	return true;
}

static struct set_entry *entry_find_locked(const struct sl_counter_set *set)
{
	unsigned seen = 0;
	for (struct set_entry *e = registry.sets; e != NULL; e = e->next) {
		SL_ASSERT(++seen <= registry.set_count);
		if (e->set == set)
			return e;
	}
	return NULL;
}

/* The entry of a valid set, registering it if new. 0 or -EEXIST, -ENOSPC,
 * -ENOMEM with the registry unchanged. */
static int entry_get_locked(const struct sl_counter_set *set, struct set_entry **out)
{
	struct set_entry **tail = &registry.sets;
	unsigned seen = 0;

	for (struct set_entry *e = registry.sets; e != NULL; e = e->next) {
		SL_ASSERT(++seen <= registry.set_count);
		if (e->set == set) {
			*out = e;
			return 0;
		}
		if (strcmp(e->set->name, set->name) == 0)
			return -EEXIST;
		tail = &e->next;
	}
	SL_ASSERT(seen == registry.set_count);
	if (registry.set_count >= SL_COUNTER_SETS_MAX)
		return -ENOSPC;

	struct set_entry *e = calloc(1, sizeof(*e) + set->count * sizeof(e->retired[0]));
	if (e == NULL)
		return -ENOMEM;
	e->set = set;
	*tail = e;
	registry.set_count++;
	*out = e;
	return 0;
}

int sl_counter_set_register(const struct sl_counter_set *set)
{
	struct set_entry *e;

	if (!set_valid(set))
		return -EINVAL;
	registry_lock();
	int rc = entry_get_locked(set, &e);
	registry_unlock();
	return rc;
}

/* Links a new block at the tail of its set's list; 0, or -EEXIST for a
 * duplicate owner, -ENOSPC past SL_COUNTER_BLOCKS_MAX. */
static int block_link_locked(struct set_entry *e, struct sl_counter_block *b)
{
	struct sl_counter_block **tail = &e->blocks;
	unsigned seen = 0;

	for (struct sl_counter_block *o = e->blocks; o != NULL; o = o->next) {
		SL_ASSERT(++seen <= e->block_count);
		SL_ASSERT(o != b);
		if (strcmp(o->owner, b->owner) == 0)
			return -EEXIST;
		tail = &o->next;
	}
	SL_ASSERT(seen == e->block_count);
	if (e->block_count >= SL_COUNTER_BLOCKS_MAX)
		return -ENOSPC;
	*tail = b;
	e->block_count++;
	return 0;
}

struct sl_counter_block *sl_counter_block_create(const struct sl_counter_set *set,
						 const char *owner)
{
	struct set_entry *e;

	if (!set_valid(set) || !owner_valid(owner))
		return NULL;

	/* Whole cache lines, so the values share a line with no other object. */
	size_t size = sizeof(struct sl_counter_block) + set->count * sizeof(uint64_t);
	size_t line_bytes = SL_COUNTER_CACHE_LINE_BYTES;
	size = (size + line_bytes - 1) & ~(line_bytes - 1);
	struct sl_counter_block *b = aligned_alloc(SL_COUNTER_CACHE_LINE_BYTES, size);
	if (b == NULL)
		return NULL;
	memset(b, 0, size);
	b->set = set;
	b->count = set->count;
	memcpy(b->owner, owner, strlen(owner) + 1);

	registry_lock();
	int rc = entry_get_locked(set, &e);
	if (rc == 0)
		rc = block_link_locked(e, b);
	registry_unlock();
	if (rc < 0)
		goto err_free;
	return b;

err_free:
	free(b);
	return NULL;
}

void sl_counter_block_destroy(struct sl_counter_block *b)
{
	if (b == NULL)
		return;

	registry_lock();
	struct set_entry *e = entry_find_locked(b->set);
	SL_ASSERT(e != NULL); /* a block's set is registered by its create */
	SL_ASSERT(b->count == e->set->count);

	struct sl_counter_block **link = &e->blocks;
	unsigned seen = 0;
	while (*link != b) {
		SL_ASSERT(*link != NULL); /* not live: destroyed twice? */
		SL_ASSERT(++seen <= e->block_count);
		link = &(*link)->next;
	}
	*link = b->next;
	SL_ASSERT(e->block_count > 0);
	e->block_count--;

	for (unsigned i = 0; i < b->count; i++)
		e->retired[i] += __atomic_load_n(&b->values[i], __ATOMIC_RELAXED);
	registry_unlock();

	free(b);
}

/* out[0..count) = retired totals + every live block. */
static void entry_sum_locked(const struct set_entry *e, uint64_t *out)
{
	unsigned count = e->set->count;
	unsigned seen = 0;

	memcpy(out, e->retired, count * sizeof(out[0]));
	for (const struct sl_counter_block *b = e->blocks; b != NULL; b = b->next) {
		SL_ASSERT(++seen <= e->block_count);
		SL_ASSERT(b->count == count);
		for (unsigned i = 0; i < count; i++)
			out[i] += __atomic_load_n(&b->values[i], __ATOMIC_RELAXED);
	}
}

int sl_counter_sum(const struct sl_counter_set *set, uint64_t *out, unsigned n)
{
	if (set == NULL || out == NULL || n != set->count)
		return -EINVAL;
	if (n == 0 || n > SL_COUNTER_SET_MAX)
		return -EINVAL;

	registry_lock();
	const struct set_entry *e = entry_find_locked(set);
	if (e != NULL)
		entry_sum_locked(e, out);
	else
		memset(out, 0, n * sizeof(out[0]));
	registry_unlock();
	return 0;
}

int sl_counter_foreach_block(const struct sl_counter_set *set, sl_counter_block_visit_fn *fn,
			     void *arg)
{
	int rc = 0;
	unsigned seen = 0;

	if (set == NULL || fn == NULL)
		return -EINVAL;

	registry_lock();
	const struct set_entry *e = entry_find_locked(set);
	if (e == NULL)
		goto out_unlock;
	for (const struct sl_counter_block *b = e->blocks; b != NULL; b = b->next) {
		SL_ASSERT(++seen <= e->block_count);
		rc = fn(b, b->owner, arg);
		if (rc != 0)
			break;
	}
out_unlock:
	registry_unlock();
	return rc;
}

int sl_counter_foreach_set(sl_counter_set_visit_fn *fn, void *arg)
{
	uint64_t sums[SL_COUNTER_SET_MAX];
	int rc = 0;
	unsigned seen = 0;

	if (fn == NULL)
		return -EINVAL;

	registry_lock();
	for (const struct set_entry *e = registry.sets; e != NULL; e = e->next) {
		SL_ASSERT(++seen <= registry.set_count);
		entry_sum_locked(e, sums);
		rc = fn(e->set, sums, arg);
		if (rc != 0)
			break;
	}
	registry_unlock();
	return rc;
}
