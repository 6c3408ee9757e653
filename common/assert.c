/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The failure path of SL_ASSERT: one line to stderr, formatted on the stack
 * and written with a single write(2) so it survives a crashing process and
 * does not interleave with other threads' output, then abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sluice/assert.h>

void sl_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "sluice: assertion failed: %s (%s:%d, %s)\n", expr, file,
			 line, func);
	if (n > 0) {
		size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
		ssize_t w = write(STDERR_FILENO, buf, len);
		(void)w;
	}
	abort();
}
