/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which allocator serves malloc in this process. The daemon and the tools
 * link jemalloc (sanitizer builds use the sanitizer's); operators and tests
 * see it in `sluiced --version` and `sluice version`.
 */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H

#include <stddef.h>

/*
 * "jemalloc <version>" when jemalloc is linked into the process, else
 * "system". Writes at most cap bytes (NUL included) and returns buf.
 */
const char *sl_allocator_describe(char *buf, size_t cap);

#endif /* SLUICE_ALLOC_H */
