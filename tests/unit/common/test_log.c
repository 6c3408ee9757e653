/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: level names parse and print; per-subsystem overrides win over
 * the default level and bad override lists change nothing; a line has the
 * shape "<ISO time>Z <LEVEL> <subsys>: <message>\n" and is written whole,
 * also when cut to SL_LOG_LINE_MAX; SL_LOG_RL lets SL_LOG_RL_BURST lines a
 * second through per call site and then reports how many it held back.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sluice/log.h>

#include "check.h"

static int pipe_rd, pipe_wr;

/* Read what the log wrote so far (non-blocking pipe). */
static size_t drain(char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(pipe_rd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_levels(void)
{
	enum sl_log_level l;
	CHECK(sl_log_level_parse("debug", &l) == 0 && l == SL_LOG_DEBUG);
	CHECK(sl_log_level_parse("error", &l) == 0 && l == SL_LOG_ERROR);
	CHECK(sl_log_level_parse("DEBUG", &l) == -EINVAL);
	CHECK(sl_log_level_parse("", &l) == -EINVAL);
	CHECK_STREQ(sl_log_level_name(SL_LOG_WARN), "warn");

	CHECK(sl_log_configure(SL_LOG_WARN, "dpdk=debug,storage=error") == 0);
	CHECK(sl_log_enabled(SL_LOG_DEBUG, "dpdk"));
	CHECK(sl_log_enabled(SL_LOG_WARN, "api"));
	CHECK(!sl_log_enabled(SL_LOG_INFO, "api"));
	CHECK(!sl_log_enabled(SL_LOG_WARN, "storage"));
	CHECK(sl_log_enabled(SL_LOG_ERROR, "storage"));

	/* Refused lists leave the previous configuration in place. */
	CHECK(sl_log_configure(SL_LOG_INFO, "dpdk=loud") == -EINVAL);
	CHECK(sl_log_configure(SL_LOG_INFO, "=debug") == -EINVAL);
	CHECK(sl_log_configure(SL_LOG_INFO, "nolevel") == -EINVAL);
	CHECK(sl_log_configure(SL_LOG_INFO, "averyveryverylongname=debug") == -EINVAL);
	CHECK(sl_log_enabled(SL_LOG_DEBUG, "dpdk"));
	CHECK(!sl_log_enabled(SL_LOG_INFO, "api"));
}

static void test_format(void)
{
	char buf[8192];
	CHECK(sl_log_configure(SL_LOG_INFO, "") == 0);
	drain(buf, sizeof(buf));
	sl_log(SL_LOG_INFO, "unit", "hello %d", 42);
	sl_log(SL_LOG_DEBUG, "unit", "not shown");
	drain(buf, sizeof(buf));
	regex_t re;
	CHECK(regcomp(&re,
		      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z INFO  "
		      "unit: hello 42\n$",
		      REG_EXTENDED) == 0);
	CHECK(regexec(&re, buf, 0, NULL, 0) == 0);
	regfree(&re);

	char big[SL_LOG_LINE_MAX * 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	SL_WARN("unit", "%s", big);
	size_t n = drain(buf, sizeof(buf));
	CHECK(n == SL_LOG_LINE_MAX - 1);
	CHECK(count_lines(buf) == 1 && buf[n - 1] == '\n');
}

static void emit_rl(int i)
{
	SL_LOG_RL(SL_LOG_WARN, "unit", "bad packet %d", i);
}

static void test_ratelimit(void)
{
	char buf[16384];
	drain(buf, sizeof(buf));
	for (int i = 0; i < 100; i++)
		emit_rl(i);
	drain(buf, sizeof(buf));
	CHECK(count_lines(buf) == SL_LOG_RL_BURST);
	CHECK(strstr(buf, "bad packet 0\n") != NULL);
	CHECK(strstr(buf, "bad packet 10\n") == NULL);

	struct timespec ts = {.tv_sec = 1, .tv_nsec = 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	emit_rl(100);
	drain(buf, sizeof(buf));
	CHECK(strstr(buf, "90 similar lines held back") != NULL);
	CHECK(strstr(buf, "bad packet 100\n") != NULL);
	CHECK(count_lines(buf) == 2);

	/* A disabled level costs no window slot. */
	struct sl_log_ratelimit rl = {0};
	uint32_t held;
	for (uint32_t i = 0; i < 3; i++)
		CHECK(sl_log_ratelimit_pass(&rl, 3, &held) == 1);
	CHECK(sl_log_ratelimit_pass(&rl, 3, &held) == 0);
	CHECK(rl.suppressed == 1);
}

int main(void)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK) != 0)
		return 1;
	pipe_rd = p[0];
	pipe_wr = p[1];
	fcntl(pipe_wr, F_SETPIPE_SZ, 1 << 20);
	sl_log_set_fd(pipe_wr);
	test_levels();
	test_format();
	test_ratelimit();
	sl_log_set_fd(STDERR_FILENO);
	return sl_check_finish("log");
}
