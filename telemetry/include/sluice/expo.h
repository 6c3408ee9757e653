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

/* The content type of the output. */
#define SL_EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Render into a malloc'd buffer (*out, NUL-terminated, *len bytes without
 * the NUL). Returns 0, or -ENOMEM. The caller frees *out.
 */
int sl_expo_prometheus(char **out, size_t *len);

#endif /* SLUICE_EXPO_H */
