/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks on the record and batch types of <sluice/record.h> that every ingest
 * door shares, so the SLW1 path and the Kinesis API accept the same names.
 */
#include <stdbool.h>
#include <stddef.h>

#include <sluice/record.h>

/* [a-zA-Z0-9_.-], by explicit ranges: the C locale must not matter. */
static bool name_char_ok(char c)
{
	if (c >= 'a' && c <= 'z')
		return true;
	if (c >= 'A' && c <= 'Z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	return c == '_' || c == '.' || c == '-';
}

bool sl_stream_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > SL_STREAM_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(name[i]))
			return false;
	}
	return true;
}
