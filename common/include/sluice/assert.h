/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Assertions. Programmer errors are assertions; operating errors (bad input,
 * ENOSPC, EIO) are handled and counted, never asserted.
 *
 * SL_ASSERT(c)        always on, in every build: control, recovery, segment
 *                     roll, index code. State invariants, split compound
 *                     conditions, assert what must and what must not be.
 * SL_ASSERT_HOT(c)    per-packet / per-record code: on when the build defines
 *                     SL_HOT_ASSERTS (debug and CI builds), compiled out (but
 *                     still type-checked, never evaluated) otherwise.
 * SL_STATIC_ASSERT(c) compile time: on-disk and on-wire struct sizes, and
 *                     relations between constants.
 *
 * A failed assertion prints file, line, function and the expression to
 * stderr in one write and aborts (SIGABRT), so a core dump or a test harness
 * sees it.
 */
#ifndef SLUICE_ASSERT_H
#define SLUICE_ASSERT_H

#include <stdbool.h>

#ifdef __cplusplus
#error "sluice headers are C only"
#endif

/* Never returns. Called by the macros; not for direct use. */
__attribute__((noreturn, cold)) void sl_assert_fail(const char *expr, const char *file, int line,
						    const char *func);

#define SL_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define SL_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (SL_UNLIKELY(!(cond)))                                                          \
			sl_assert_fail(#cond, __FILE__, __LINE__, __func__);                       \
	} while (0)

#ifdef SL_HOT_ASSERTS
#define SL_ASSERT_HOT_ENABLED 1
#define SL_ASSERT_HOT(cond)   SL_ASSERT(cond)
#else
#define SL_ASSERT_HOT_ENABLED 0
/* sizeof keeps the expression type-checked without evaluating it. */
#define SL_ASSERT_HOT(cond)   ((void)sizeof(!(cond)))
#endif

#define SL_STATIC_ASSERT(cond) _Static_assert(cond, #cond)

/* Marks a point that must not be reached. */
#define SL_UNREACHABLE() sl_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* SLUICE_ASSERT_H */
