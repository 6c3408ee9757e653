/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The assertion macros: SL_ASSERT passes silently when true and evaluates
 * its expression exactly once; when false it aborts (SIGABRT) after one
 * line on stderr naming the expression, file and function. SL_ASSERT_HOT
 * does the same when SL_HOT_ASSERTS is on and never evaluates its
 * expression when off. SL_STATIC_ASSERT holds at compile time (and a
 * false one is refused by the compiler: checked by compiling a snippet).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sluice/assert.h>

#include "check.h"

SL_STATIC_ASSERT(sizeof(uint32_t) == 4);

static int evaluations;
static int touch(void)
{
	return ++evaluations;
}

static void assert_false(void)
{
	int answer = 41;
	SL_ASSERT(answer == 42);
}

static void assert_true(void)
{
	SL_ASSERT(1 + 1 == 2);
}

static void assert_hot_false(void)
{
	SL_ASSERT_HOT(evaluations < 0);
}

static void unreachable(void)
{
	SL_UNREACHABLE();
}

int main(void)
{
	char err[1024];

	int st = sl_check_run_child(assert_false, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "answer == 42") != NULL);
	CHECK(strstr(err, "test_assert.c") != NULL);
	CHECK(strstr(err, "assert_false") != NULL);

	st = sl_check_run_child(assert_true, err, sizeof(err));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(err[0] == '\0');

	st = sl_check_run_child(unreachable, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "unreachable") != NULL);

	evaluations = 0;
	SL_ASSERT(touch() == 1);
	CHECK(evaluations == 1);

	evaluations = 0;
	SL_ASSERT_HOT(touch() > 0);
	st = sl_check_run_child(assert_hot_false, err, sizeof(err));
#ifdef SL_HOT_ASSERTS
	CHECK(SL_ASSERT_HOT_ENABLED == 1);
	CHECK(evaluations == 1);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "evaluations < 0") != NULL);
#else
	CHECK(SL_ASSERT_HOT_ENABLED == 0);
	CHECK(evaluations == 0); /* compiled out: never evaluated */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif

	/* A false SL_STATIC_ASSERT must not compile, a true one must. */
	const char *cc = getenv("SL_TEST_CC");
	const char *src = getenv("SL_SOURCE_ROOT");
	if (cc && src) {
		char cmd[2048];
		const char *snip[] = {"SL_STATIC_ASSERT(sizeof(char) == 2);",
				      "SL_STATIC_ASSERT(sizeof(char) == 1);"};
		for (int i = 0; i < 2; i++) {
			snprintf(cmd, sizeof(cmd),
				 "printf '#include <sluice/assert.h>\\n%s\\n' | %s -std=gnu11 "
				 "-fsyntax-only -I%s/common/include -x c - 2>/dev/null",
				 snip[i], cc, src);
			int rc = system(cmd);
			CHECK(i == 0 ? rc != 0 : rc == 0);
		}
	} else {
		fprintf(stderr,
			"test_assert: SL_TEST_CC unset: static-assert compile check skipped\n");
	}
	return sl_check_finish("assert");
}
