/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus text exposition of the counter registry (see expo.h): a
 * growing buffer filled from sl_counter_foreach_set's sums.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <sluice/counters.h>
#include <sluice/expo.h>

struct sl_expo_buf {
	char *p;
	size_t len, cap;
	int rc;
};

static struct {
	sl_expo_source_fn *fn;
	void *arg;
} sources[SL_EXPO_SOURCES_MAX];
static unsigned source_count;

int sl_expo_add_source(sl_expo_source_fn *fn, void *arg)
{
	if (source_count == SL_EXPO_SOURCES_MAX)
		return -ENOSPC;
	sources[source_count].fn = fn;
	sources[source_count++].arg = arg;
	return 0;
}

void sl_expo_clear_sources(void)
{
	source_count = 0;
}

__attribute__((format(printf, 2, 3))) static void put(struct sl_expo_buf *b, const char *fmt, ...)
{
	if (b->rc != 0)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->rc = -EINVAL;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->rc = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void sl_expo_set_begin(struct sl_expo_buf *b, const char *set)
{
	put(b, "# sluice-set %s\n", set);
}

void sl_expo_counter(struct sl_expo_buf *b, const char *set, const char *name, const char *help,
		     uint64_t value)
{
	put(b, "# HELP sluice_%s_%s_total %s\n", set, name, help);
	put(b, "# TYPE sluice_%s_%s_total counter\n", set, name);
	put(b, "sluice_%s_%s_total %" PRIu64 "\n", set, name, value);
}

static int one_set(const struct sl_counter_set *set, const uint64_t *sums, void *arg)
{
	struct sl_expo_buf *b = arg;
	/* A plain comment for readers that need the set of a series (set
	 * names may hold '_'); Prometheus ignores it. */
	sl_expo_set_begin(b, set->name);
	for (unsigned i = 0; i < set->count; i++)
		sl_expo_counter(b, set->name, set->defs[i].name, set->defs[i].help, sums[i]);
	return b->rc;
}

int sl_expo_prometheus(char **out, size_t *len)
{
	struct sl_expo_buf b = {.cap = 4096};
	b.p = malloc(b.cap);
	if (b.p == NULL)
		return -ENOMEM;
	b.p[0] = '\0';
	int rc = sl_counter_foreach_set(one_set, &b);
	for (unsigned i = 0; i < source_count && rc == 0; i++)
		sources[i].fn(sources[i].arg, &b);
	rc = rc ?: b.rc;
	if (rc != 0) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
