/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks sl_stream_name_valid() from common/record.c: every allowed class
 * ([a-z], [A-Z], [0-9], '_', '.', '-') alone and together; lengths 1 and
 * SL_STREAM_NAME_MAX pass, 0 and SL_STREAM_NAME_MAX + 1 fail; each forbidden
 * class (space, '/', ':', the non-ASCII byte 0xC3, a NUL inside) fails
 * wherever it sits; all 256 byte values one at a time; and that only `len`
 * bytes are read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sluice/record.h>

#include "check.h"

static bool valid_str(const char *s)
{
	return sl_stream_name_valid(s, strlen(s));
}

static void test_allowed_classes(void)
{
	CHECK(valid_str("abcdefghijklmnopqrstuvwxyz"));
	CHECK(valid_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
	CHECK(valid_str("0123456789"));
	CHECK(valid_str("_"));
	CHECK(valid_str("."));
	CHECK(valid_str("-"));
	CHECK(valid_str("orders-2024_v1.eu"));
	CHECK(valid_str("a"));
	CHECK(valid_str("Z"));
	CHECK(valid_str("0"));
}

static void test_lengths(void)
{
	char name[SL_STREAM_NAME_MAX + 1];

	memset(name, 'x', sizeof(name));
	CHECK(!sl_stream_name_valid(name, 0));
	CHECK(!sl_stream_name_valid(NULL, 0));
	CHECK(sl_stream_name_valid(name, 1));
	CHECK(sl_stream_name_valid(name, SL_STREAM_NAME_MAX));
	CHECK(!sl_stream_name_valid(name, SL_STREAM_NAME_MAX + 1));
	CHECK(!sl_stream_name_valid(name, SIZE_MAX));
}

/* Put `bad` at the start, middle and end of an otherwise valid name. */
static void check_forbidden(char bad)
{
	char name[] = "stream-name";
	size_t len = sizeof(name) - 1;
	size_t spots[] = {0, len / 2, len - 1};

	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		char copy[sizeof(name)];

		memcpy(copy, name, sizeof(name));
		copy[spots[i]] = bad;
		CHECK(!sl_stream_name_valid(copy, len));
	}
}

static void test_forbidden_classes(void)
{
	check_forbidden(' ');
	check_forbidden('/');
	check_forbidden(':');
	check_forbidden((char)0xC3);
	check_forbidden('\0');
	check_forbidden('\t');
	check_forbidden('\n');
	check_forbidden((char)0x7F);
	check_forbidden((char)0xFF);
	CHECK(!valid_str("caf\xC3\xA9"));
	CHECK(!sl_stream_name_valid("ab\0cd", 5));
	CHECK(!valid_str("a b"));
	CHECK(!valid_str("a/b"));
	CHECK(!valid_str("a:b"));
}

/* One byte at a time, every value: valid exactly for the allowed set. */
static void test_every_byte(void)
{
	for (unsigned b = 0; b < 256; b++) {
		char c = (char)b;
		bool want = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
			    (b >= '0' && b <= '9') || b == '_' || b == '.' || b == '-';

		CHECK(sl_stream_name_valid(&c, 1) == want);
	}
}

/* The name is not NUL-terminated: bytes past `len` must not count. */
static void test_len_bounds_read(void)
{
	CHECK(sl_stream_name_valid("abc/def", 3));
	CHECK(!sl_stream_name_valid("abc/def", 4));
}

int main(void)
{
	test_allowed_classes();
	test_lengths();
	test_forbidden_classes();
	test_every_byte();
	test_len_bounds_read();
	return sl_check_finish("test_record");
}
