/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the configuration parser. Any bytes as an INI text; then,
 * when the first line is a comment "; section.key=value", that as a
 * command-line override (a comment, so the text still loads); then
 * validation and formatting. Invariants: no crash, no sanitizer report, an
 * error always comes with a message, and an accepted configuration formats
 * to a text that parses back to the same text (a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/config.h>

static char text1[1 << 16], text2[1 << 16];

static void try_override(struct sl_config *cfg, const uint8_t *data, size_t size)
{
	/* "; section.key=value" on the input's first line, if any. */
	char line[512];
	size_t n = 0;
	if (size < 2 || data[0] != ';' || data[1] != ' ')
		return;
	for (size_t i = 2; i < size && n + 1 < sizeof(line) && data[i] != '\n'; i++)
		line[n++] = (char)data[i];
	line[n] = '\0';
	char *eq = strchr(line, '=');
	if (eq == NULL || strlen(line) != n)
		return;
	*eq = '\0';
	struct sl_config_error err = {{0}};
	if (sl_config_set(cfg, line, eq + 1, &err) != 0)
		SL_ASSERT(err.msg[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_config cfg, again;
	struct sl_config_error err = {{0}};

	sl_config_defaults(&cfg);
	if (sl_config_load_string(&cfg, (const char *)data, size, "fuzz", &err) != 0) {
		SL_ASSERT(err.msg[0] != '\0');
		return 0;
	}
	try_override(&cfg, data, size);
	err.msg[0] = '\0';
	if (sl_config_validate(&cfg, &err) != 0)
		SL_ASSERT(err.msg[0] != '\0');

	size_t len = sl_config_format(&cfg, true, text1, sizeof(text1));
	SL_ASSERT(len < sizeof(text1));
	sl_config_defaults(&again);
	int rc = sl_config_load_string(&again, text1, len, "formatted", &err);
	SL_ASSERT(rc == 0);
	size_t len2 = sl_config_format(&again, true, text2, sizeof(text2));
	SL_ASSERT(len2 == len);
	SL_ASSERT(memcmp(text1, text2, len) == 0);
	return 0;
}
