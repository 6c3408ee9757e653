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

/* Run fn in a child with stderr captured; return its wait status. */
static int run_child(void (*fn)(void), char *err, size_t cap)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(p[0], err + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = '\0';
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	return status;
}

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

	int st = run_child(assert_false, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "answer == 42") != NULL);
	CHECK(strstr(err, "test_assert.c") != NULL);
	CHECK(strstr(err, "assert_false") != NULL);

	st = run_child(assert_true, err, sizeof(err));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(err[0] == '\0');

	st = run_child(unreachable, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "unreachable") != NULL);

	evaluations = 0;
	SL_ASSERT(touch() == 1);
	CHECK(evaluations == 1);

	evaluations = 0;
	SL_ASSERT_HOT(touch() > 0);
	st = run_child(assert_hot_false, err, sizeof(err));
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
