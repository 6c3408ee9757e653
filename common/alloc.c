/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sl_allocator_describe: a weak reference to jemalloc's mallctl tells
 * whether jemalloc is in the process without making common/ depend on it.
 */
#include <stdio.h>

#include <sluice/alloc.h>

/* jemalloc's control interface; NULL when jemalloc is not linked. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

const char *sl_allocator_describe(char *buf, size_t cap)
{
	const char *version = NULL;
	size_t len = sizeof(version);

	if (mallctl == NULL)
		snprintf(buf, cap, "system");
	else if (mallctl("version", &version, &len, NULL, 0) == 0 && version != NULL)
		snprintf(buf, cap, "jemalloc %s", version);
	else
		snprintf(buf, cap, "jemalloc (version unknown)");
	return buf;
}
