/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus exposition: every counter of every registered set appears
 * once, with HELP and TYPE, carrying the sum over the threads' blocks.
 */
#include <stdlib.h>
#include <string.h>

#include <sluice/counters.h>
#include <sluice/expo.h>

#include "check.h"

static const struct sl_counter_def defs[] = {
    {"alpha", "the first one"},
    {"beta", "the second one"},
};
static const struct sl_counter_set set = {.name = "exptest", .defs = defs, .count = 2};

/* The value of series `name` in text, or -1 when absent or repeated. */
static long long series(const char *text, const char *name)
{
	long long v = -1;
	size_t n = strlen(name);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, n) == 0 && l[n] == ' ') {
			if (v != -1)
				return -1;
			v = atoll(l + n + 1);
		}
	}
	return v;
}

int main(void)
{
	struct sl_counter_block *a = sl_counter_block_create(&set, "t0");
	struct sl_counter_block *b = sl_counter_block_create(&set, "t1");
	CHECK(a != NULL && b != NULL);
	sl_counter_add(a, 0, 5);
	sl_counter_add(b, 0, 7);
	sl_counter_add(b, 1, 3);
	char *text = NULL;
	size_t len = 0;
	CHECK(sl_expo_prometheus(&text, &len) == 0);
	CHECK(text != NULL && strlen(text) == len);
	CHECK(series(text, "sluice_exptest_alpha_total") == 12);
	CHECK(series(text, "sluice_exptest_beta_total") == 3);
	CHECK(strstr(text, "# HELP sluice_exptest_alpha_total the first one\n") != NULL);
	CHECK(strstr(text, "# TYPE sluice_exptest_beta_total counter\n") != NULL);
	free(text);
	/* A destroyed block's counts stay in the sum. */
	sl_counter_block_destroy(a);
	CHECK(sl_expo_prometheus(&text, &len) == 0);
	CHECK(series(text, "sluice_exptest_alpha_total") == 12);
	free(text);
	sl_counter_block_destroy(b);
	return sl_check_finish("test_expo");
}
