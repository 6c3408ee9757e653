/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Exposition of every registered counter set in the Prometheus text format
 * (version 0.0.4): `GET /metrics` on the API port, and what `sluice stats`
 * reads. Each counter is one series, `sluice_<set>_<counter>_total`, the sum
 * over every thread's block, with its help text. Each set's series follow a
 * comment line `# sluice-set NAME` (Prometheus ignores it; `sluice stats`
 * uses it to group them). Any thread; takes the
 * counter registry's mutex, so not for poll loops.
 */
#ifndef SLUICE_EXPO_H
#define SLUICE_EXPO_H

#include <stddef.h>
#include <stdint.h>

/* The content type of the output. */
#define SL_EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The output being built, for sources (below). */
struct sl_expo_buf;

/* Append one counter series as a set of its own would show it:
 * HELP, TYPE and `sluice_<set>_<name>_total value`. */
void sl_expo_counter(struct sl_expo_buf *b, const char *set, const char *name, const char *help,
		     uint64_t value);
/* Append the `# sluice-set NAME` line that starts a set. */
void sl_expo_set_begin(struct sl_expo_buf *b, const char *set);

/*
 * A source of figures that are not counter blocks (a NIC's own counters,
 * read from the driver when rendered). Called by sl_expo_prometheus on the
 * rendering thread after the counter sets. Sources are added at boot,
 * before any thread renders (not thread-safe); at most SL_EXPO_SOURCES_MAX.
 */
#define SL_EXPO_SOURCES_MAX 8
typedef void sl_expo_source_fn(void *arg, struct sl_expo_buf *b);
int sl_expo_add_source(sl_expo_source_fn *fn, void *arg); /* 0 or -ENOSPC */
void sl_expo_clear_sources(void);                         /* at shutdown */

/*
 * Render into a malloc'd buffer (*out, NUL-terminated, *len bytes without
 * the NUL). Returns 0, or -ENOMEM. The caller frees *out.
 */
int sl_expo_prometheus(char **out, size_t *len);

#endif /* SLUICE_EXPO_H */
