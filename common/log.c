/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging (see log.h): a default level, per-subsystem overrides set once at
 * boot, one write(2) per line, and per-call-site rate limiting.
 *
 * Configuration happens on the main thread before other threads start, so
 * the tables are read without locks afterwards. The output fd is an atomic
 * so tests can redirect it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

struct subsys_level {
	char name[SL_LOG_SUBSYS_NAME_MAX + 1];
	enum sl_log_level level;
};

static enum sl_log_level default_level = SL_LOG_INFO;
/* The most verbose level of any override: a fast first filter. */
static enum sl_log_level max_level = SL_LOG_INFO;
static struct subsys_level overrides[SL_LOG_SUBSYS_MAX];
static unsigned override_count;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

int sl_log_level_parse(const char *s, enum sl_log_level *out)
{
	for (unsigned i = 0; i < SL_ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum sl_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sl_log_level_name(enum sl_log_level level)
{
	SL_ASSERT((unsigned)level < SL_ARRAY_SIZE(level_names));
	return level_names[level];
}

/* Parse "name=level" of `len` bytes into *e. */
static int parse_override(const char *s, size_t len, struct subsys_level *e)
{
	const char *eq = memchr(s, '=', len);
	if (eq == NULL || eq == s)
		return -EINVAL;
	size_t name_len = (size_t)(eq - s);
	size_t level_len = len - name_len - 1;
	if (name_len > SL_LOG_SUBSYS_NAME_MAX || level_len == 0 || level_len > 5)
		return -EINVAL;
	char level[6];
	memcpy(level, eq + 1, level_len);
	level[level_len] = '\0';
	memcpy(e->name, s, name_len);
	e->name[name_len] = '\0';
	return sl_log_level_parse(level, &e->level);
}

/* Parse a whole override list into parsed[]; 0 or -EINVAL. */
static int parse_overrides(const char *list, struct subsys_level *parsed, unsigned *count)
{
	*count = 0;
	while (list != NULL && *list != '\0') {
		const char *comma = strchr(list, ',');
		size_t len = comma ? (size_t)(comma - list) : strlen(list);
		if (*count == SL_LOG_SUBSYS_MAX)
			return -EINVAL;
		if (parse_override(list, len, &parsed[*count]) != 0)
			return -EINVAL;
		(*count)++;
		list = comma ? comma + 1 : NULL;
	}
	return 0;
}

int sl_log_check_overrides(const char *list)
{
	struct subsys_level parsed[SL_LOG_SUBSYS_MAX];
	unsigned count;
	return parse_overrides(list, parsed, &count);
}

int sl_log_configure(enum sl_log_level level, const char *list)
{
	struct subsys_level parsed[SL_LOG_SUBSYS_MAX];
	unsigned count = 0;

	if ((unsigned)level >= SL_ARRAY_SIZE(level_names))
		return -EINVAL;
	if (parse_overrides(list, parsed, &count) != 0)
		return -EINVAL;

	enum sl_log_level max = level;
	for (unsigned i = 0; i < count; i++)
		max = parsed[i].level > max ? parsed[i].level : max;
	memcpy(overrides, parsed, count * sizeof(parsed[0]));
	override_count = count;
	default_level = level;
	max_level = max;
	return 0;
}

void sl_log_set_fd(int fd)
{
	__atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

int sl_log_enabled(enum sl_log_level level, const char *subsys)
{
	if (level > max_level)
		return 0;
	for (unsigned i = 0; i < override_count; i++) {
		if (strcmp(overrides[i].name, subsys) == 0)
			return level <= overrides[i].level;
	}
	return level <= default_level;
}

/* "2026-11-26T01:41:00.123Z" into buf (at least 25 bytes). */
static size_t format_time(char *buf, size_t cap)
{
	uint64_t ns = sl_clock_wall_ns();
	time_t secs = (time_t)(ns / SL_NS_PER_S);
	unsigned ms = (unsigned)(ns % SL_NS_PER_S / SL_NS_PER_MS);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, cap - n, ".%03uZ", ms);
	return n + (m > 0 ? (size_t)m : 0);
}

void sl_log(enum sl_log_level level, const char *subsys, const char *fmt, ...)
{
	char line[SL_LOG_LINE_MAX];
	va_list ap;

	if (!sl_log_enabled(level, subsys))
		return;
	size_t n = format_time(line, sizeof(line));
	int m = snprintf(line + n, sizeof(line) - n, " %s %s: ", level_tags[level], subsys);
	n += m > 0 ? (size_t)m : 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n += m > 0 ? (size_t)m : 0;
	/* A cut line keeps its newline: a log never runs lines together. */
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), line, n);
	(void)w;
}

int sl_log_ratelimit_pass(struct sl_log_ratelimit *rl, uint32_t burst, uint32_t *held_back)
{
	uint64_t now = sl_clock_mono_ns();
	uint64_t start = __atomic_load_n(&rl->window_start_ns, __ATOMIC_RELAXED);

	*held_back = 0;
	if (start == 0 || now - start >= SL_NS_PER_S) {
		/* One thread opens the new window and reports the old one. */
		if (__atomic_compare_exchange_n(&rl->window_start_ns, &start, now, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			*held_back = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&rl->passed, 1, __ATOMIC_RELAXED);
			return 1;
		}
	}
	if (__atomic_add_fetch(&rl->passed, 1, __ATOMIC_RELAXED) <= burst)
		return 1;
	__atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return 0;
}
