/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging: levels, per-subsystem names and levels, rate limiting.
 *
 * A line is "<UTC time> <LEVEL> <subsystem>: <message>\n", formatted on the
 * caller's stack and written with one write(2), so lines from several
 * threads never interleave. Nothing is allocated.
 *
 * Never log on a poll core or per record: count instead, and let telemetry
 * report the counters. Where an operating error may repeat (a client sending
 * garbage), use SL_LOG_RL, which lets at most `burst` lines per second
 * through per call site and reports how many it held back.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdint.h>

enum sl_log_level {
	SL_LOG_ERROR = 0,
	SL_LOG_WARN = 1,
	SL_LOG_INFO = 2,
	SL_LOG_DEBUG = 3,
};

#define SL_LOG_SUBSYS_NAME_MAX 15
#define SL_LOG_SUBSYS_MAX      32
#define SL_LOG_LINE_MAX        1024

/* Parse "error" / "warn" / "info" / "debug". 0 or -EINVAL. */
int sl_log_level_parse(const char *s, enum sl_log_level *out);
const char *sl_log_level_name(enum sl_log_level level);

/*
 * Configure, at boot, before other threads run. `default_level` applies to
 * every subsystem; `overrides` is NULL, "" or a comma-separated list of
 * subsystem=level ("dpdk=debug,storage=warn"). Returns 0 or -EINVAL with
 * nothing changed (a bad level, a name too long, too many entries).
 */
int sl_log_configure(enum sl_log_level default_level, const char *overrides);

/* Whether sl_log_configure would take `overrides`: 0 or -EINVAL. Pure. */
int sl_log_check_overrides(const char *overrides);

/* Where lines go; stderr (2) by default. The fd is borrowed. */
void sl_log_set_fd(int fd);

/* Whether a line at `level` for `subsys` would be written. */
int sl_log_enabled(enum sl_log_level level, const char *subsys);

/* Format and write one line if enabled. Thread-safe. */
__attribute__((format(printf, 3, 4))) void sl_log(enum sl_log_level level, const char *subsys,
						  const char *fmt, ...);

/* Per-call-site state of SL_LOG_RL; zero-initialised. */
struct sl_log_ratelimit {
	uint64_t window_start_ns;
	uint32_t passed;
	uint32_t suppressed;
};

/*
 * Whether a rate-limited call site may log now (at most `burst` per second).
 * When a new window opens after suppressions, *held_back gets how many lines
 * the last window held back (else 0). Thread-safe (atomics).
 */
int sl_log_ratelimit_pass(struct sl_log_ratelimit *rl, uint32_t burst, uint32_t *held_back);

#define SL_LOG(level, subsys, ...) sl_log((level), (subsys), __VA_ARGS__)
#define SL_ERR(subsys, ...)        sl_log(SL_LOG_ERROR, (subsys), __VA_ARGS__)
#define SL_WARN(subsys, ...)       sl_log(SL_LOG_WARN, (subsys), __VA_ARGS__)
#define SL_INFO(subsys, ...)       sl_log(SL_LOG_INFO, (subsys), __VA_ARGS__)
#define SL_DEBUG(subsys, ...)      sl_log(SL_LOG_DEBUG, (subsys), __VA_ARGS__)

#define SL_LOG_RL_BURST 10

/* Rate-limited log: at most SL_LOG_RL_BURST lines per second per call site. */
#define SL_LOG_RL(level, subsys, ...)                                                              \
	do {                                                                                       \
		static struct sl_log_ratelimit sl_rl_;                                             \
		uint32_t sl_held_;                                                                 \
		if (sl_log_enabled((level), (subsys)) &&                                           \
		    sl_log_ratelimit_pass(&sl_rl_, SL_LOG_RL_BURST, &sl_held_)) {                  \
			if (sl_held_ > 0)                                                          \
				sl_log((level), (subsys), "%u similar lines held back", sl_held_); \
			sl_log((level), (subsys), __VA_ARGS__);                                    \
		}                                                                                  \
	} while (0)

#endif /* SLUICE_LOG_H */
