/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Clocks. Monotonic time measures intervals and deadlines (it never jumps);
 * wall time stamps records (arrival time, as Kinesis reports it) and logs.
 * Both are vDSO clock_gettime calls: cheap enough per burst, not per record.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SL_NS_PER_US UINT64_C(1000)
#define SL_NS_PER_MS UINT64_C(1000000)
#define SL_NS_PER_S  UINT64_C(1000000000)

/* Nanoseconds on CLOCK_MONOTONIC: for intervals and deadlines only. */
static inline uint64_t sl_clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds since the Unix epoch on CLOCK_REALTIME: may jump. */
static inline uint64_t sl_clock_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Milliseconds since the Unix epoch: the unit of record arrival times. */
static inline uint64_t sl_clock_wall_ms(void)
{
	return sl_clock_wall_ns() / SL_NS_PER_MS;
}

#endif /* SLUICE_CLOCK_H */
