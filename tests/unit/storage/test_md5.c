/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Partition-key hashing: the 16-lane AVX-512 MD5 (md5x16.c) and the one-key
 * path (OpenSSL) against digests computed by Python's hashlib:
 *   python3 -c "import hashlib; print(hashlib.md5(b'alpha').hexdigest())"
 * and against each other for random keys of every length 1..256, in frames
 * that mix explicit hash keys (left alone) with keys of both paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/shardmap.h>

#include "check.h"

static sl_u128 from_hex(const char *h)
{
	sl_u128 v = 0;
	for (int i = 0; i < 32; i++) {
		char c = h[i];
		v = v << 4 | (sl_u128)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v;
}

struct known {
	const char *key;
	size_t len; /* 0: strlen */
	const char *md5;
};

int main(void)
{
	static char x55[56], y56[57], z64[65], w256[257], seq47[48];
	memset(x55, 'x', 55);
	memset(y56, 'y', 56);
	memset(z64, 'z', 64);
	memset(w256, 'w', 256);
	for (int i = 0; i < 47; i++)
		seq47[i] = (char)(i + 1);
	const struct known known[] = {
	    {"a", 0, "0cc175b9c0f1b6a831c399e269772661"},
	    {"alpha", 0, "2c1743a391305fbf367df8e4f069f9f9"},
	    {x55, 0, "04364420e25c512fd958a70738aa8f72"},
	    {y56, 0, "6c830a5d23df58dbe0171eb5639bf3e4"},
	    {z64, 0, "3ecc49f9d9d6c263b4f0de7fc3f38aed"},
	    {w256, 0, "c31abd92e53518252cd7aa9daf556a8a"},
	    {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-\xc3\xa9-\xf0\x9f\x99\x82", 0,
	     "aa86737aefefd8168a08e6dfe1f205cf"},
	    {seq47, 47, "12d07993502c2d4246d04eff37b1a2de"},
	};
	enum { NK = sizeof(known) / sizeof(known[0]) };
	struct sl_record recs[NK];
	for (unsigned i = 0; i < NK; i++) {
		size_t len = known[i].len ? known[i].len : strlen(known[i].key);
		recs[i] = (struct sl_record){.key = (const uint8_t *)known[i].key,
					     .key_len = (uint16_t)len};
		CHECK(sl_hash_partition_key(recs[i].key, len) == from_hex(known[i].md5));
	}
	sl_hash_partition_keys(recs, NK);
	for (unsigned i = 0; i < NK; i++)
		CHECK(recs[i].hash_key == from_hex(known[i].md5));

	/* Random frames: 1..500 records, every key length, some explicit. */
	static uint8_t keys[500][256];
	static struct sl_record r[500];
	srand(7);
	for (int round = 0; round < 200; round++) {
		unsigned n = 1 + (unsigned)rand() % 500;
		for (unsigned i = 0; i < n; i++) {
			uint16_t len = (uint16_t)(1 + (round + i) % 256);
			for (unsigned k = 0; k < len; k++)
				keys[i][k] = (uint8_t)rand();
			r[i] = (struct sl_record){.key = keys[i], .key_len = len};
			if (rand() % 7 == 0) {
				r[i].flags = SL_RECORD_F_EXPLICIT_HASH_KEY;
				r[i].hash_key = (sl_u128)i * 12345;
			}
		}
		sl_hash_partition_keys(r, n);
		unsigned bad = 0;
		for (unsigned i = 0; i < n; i++) {
			sl_u128 want = r[i].flags ? (sl_u128)i * 12345
						  : sl_hash_partition_key(keys[i], r[i].key_len);
			bad += r[i].hash_key != want;
		}
		CHECK(bad == 0);
	}
	return sl_check_finish("test_md5");
}
