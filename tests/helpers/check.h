/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal unit-test harness: CHECK() records a failure with file and line
 * and carries on, so one run reports every broken expectation; main returns
 * sl_check_finish(), which prints a summary and gives the exit status meson
 * reads (0 pass, 1 fail; a test that must skip returns 77 itself).
 */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned sl_check_count;
static unsigned sl_check_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		sl_check_count++;                                                                  \
		if (!(cond)) {                                                                     \
			sl_check_failed++;                                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                         \
	do {                                                                                       \
		uint64_t ca_ = (uint64_t)(a), cb_ = (uint64_t)(b);                                 \
		sl_check_count++;                                                                  \
		if (ca_ != cb_) {                                                                  \
			sl_check_failed++;                                                         \
			fprintf(stderr,                                                            \
				"%s:%d: CHECK failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64       \
				")\n",                                                             \
				__FILE__, __LINE__, #a, #b, ca_, cb_);                             \
		}                                                                                  \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *ca_ = (a), *cb_ = (b);                                                 \
		sl_check_count++;                                                                  \
		if (strcmp(ca_, cb_) != 0) {                                                       \
			sl_check_failed++;                                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",      \
				__FILE__, __LINE__, #a, #b, ca_, cb_);                             \
		}                                                                                  \
	} while (0)

/*
 * Run fn in a forked child with its stderr captured into err (cap bytes,
 * NUL-terminated); returns the child's wait status (-1 if pipe failed).
 * For tests that an assertion aborts.
 */
static inline int sl_check_run_child(void (*fn)(void), char *err, size_t cap)
{
	int p[2], status = 0;
	size_t n = 0;
	ssize_t got;
	if (pipe(p) != 0)
		return -1;
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (n + 1 < cap && (got = read(p[0], err + n, cap - 1 - n)) > 0)
		n += (size_t)got;
	err[n] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return status;
}

static inline int sl_check_finish(const char *name)
{
	fprintf(stderr, "%s: %u checks, %u failed\n", name, sl_check_count, sl_check_failed);
	return sl_check_failed == 0 && sl_check_count > 0 ? 0 : 1;
}

#endif /* SLUICE_TEST_CHECK_H */
