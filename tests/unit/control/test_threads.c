/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Daemon threads: each gets its "sl-<role>-<index>" name (seen by the
 * kernel in /proc/self/task/<tid>/comm), stops when asked and in the
 * reverse of the start order; a thread that returns on its own wakes the
 * exit fd and is reported with its result; a thread that ignores its stop
 * fd makes stop_all report -ETIMEDOUT instead of hanging; the group has a
 * bound.
 */
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/threads.h>

#include "check.h"

static int stop_order[8];
static int stop_seen;
static int names_found;

struct arg {
	int id;
	int result;
};

static int wait_then_record(void *p, int stop_fd)
{
	struct arg *a = p;
	struct pollfd pfd = {.fd = stop_fd, .events = POLLIN};
	while (poll(&pfd, 1, -1) <= 0)
		;
	int slot = __atomic_fetch_add(&stop_seen, 1, __ATOMIC_SEQ_CST);
	if (slot < (int)SL_ARRAY_SIZE(stop_order))
		stop_order[slot] = a->id;
	return a->result;
}

static int return_now(void *p, int stop_fd)
{
	(void)stop_fd;
	return ((struct arg *)p)->result;
}

static int ignore_stop(void *p, int stop_fd)
{
	(void)stop_fd;
	(void)p;
	sleep(2);
	return 0;
}

/* Count threads of this process whose comm starts with prefix. */
static int count_named(const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, prefix, strlen(prefix)) == 0)
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static void test_order(void)
{
	struct sl_threads *t = sl_threads_create();
	struct arg args[4] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
	CHECK(t != NULL);
	CHECK(sl_threads_start(t, "writer", 0, wait_then_record, &args[0], NULL) == 0);
	CHECK(sl_threads_start(t, "writer", 1, wait_then_record, &args[1], NULL) == 0);
	CHECK(sl_threads_start(t, "control", 0, wait_then_record, &args[2], NULL) == 0);
	CHECK(sl_threads_start(t, "rx", 0, wait_then_record, &args[3], NULL) == 0);
	CHECK(sl_threads_count(t) == 4);
	usleep(20000);
	names_found = count_named("sl-writer-");
	CHECK(names_found == 2);
	CHECK(count_named("sl-control-0") == 1);
	char name[SL_THREAD_NAME_MAX + 1];
	int res;
	CHECK(sl_threads_early_exit(t, name, &res) == -ENOENT);
	CHECK(sl_threads_stop_all(t, 1000) == 0);
	CHECK(stop_seen == 4);
	CHECK(stop_order[0] == 3 && stop_order[1] == 2 && stop_order[2] == 1 && stop_order[3] == 0);
	CHECK(sl_threads_count(t) == 0);
	CHECK(count_named("sl-") == 0);
	sl_threads_destroy(t);
	sl_threads_destroy(NULL);
}

static void test_early_exit(void)
{
	struct sl_threads *t = sl_threads_create();
	struct arg ok = {0, 0}, bad = {1, -EIO};
	CHECK(sl_threads_start(t, "writer", 0, wait_then_record, &ok, NULL) == 0);
	CHECK(sl_threads_start(t, "writer", 1, return_now, &bad, NULL) == 0);
	struct pollfd p = {.fd = sl_threads_exit_fd(t), .events = POLLIN};
	CHECK(poll(&p, 1, 2000) == 1);
	char name[SL_THREAD_NAME_MAX + 1];
	int res = 0;
	CHECK(sl_threads_early_exit(t, name, &res) == 0);
	CHECK_STREQ(name, "sl-writer-1");
	CHECK(res == -EIO);
	CHECK(sl_threads_stop_all(t, 1000) == -EIO);
	sl_threads_destroy(t);
}

static void test_timeout_and_bound(void)
{
	struct sl_threads *t = sl_threads_create();
	struct arg a = {0, 0};
	CHECK(sl_threads_start(t, "stuck", 0, ignore_stop, &a, NULL) == 0);
	CHECK(sl_threads_stop_all(t, 100) == -ETIMEDOUT);
	sl_threads_destroy(t);
	sleep(2); /* let the detached thread finish before the process checks leaks */

	t = sl_threads_create();
	unsigned started = 0;
	int rc;
	while ((rc = sl_threads_start(t, "w", started, wait_then_record, &a, NULL)) == 0)
		started++;
	CHECK(rc == -E2BIG);
	CHECK(started == SL_THREADS_MAX);
	stop_seen = 0;
	CHECK(sl_threads_stop_all(t, 1000) == 0);
	sl_threads_destroy(t);
}

int main(void)
{
	test_order();
	test_early_exit();
	test_timeout_and_bound();
	return sl_check_finish("threads");
}
