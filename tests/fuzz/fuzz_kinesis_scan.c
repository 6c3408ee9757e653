/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the PutRecords fast path (control/kinesis_scan.c), pure.
 * The input is a request body. Invariants: no crash or sanitizer report
 * (the body sits in a buffer of exactly its size); when the scanner takes
 * the body, jansson and the typed getters read the same records from it
 * with no error (tests/helpers/kinesis_scan_diff.h); the scanner's output
 * stays within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>

#include <sluice/assert.h>

#include "kinesis_scan_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool agree;
	ksd_check((const char *)data, size, &agree);
	SL_ASSERT(agree);
	return 0;
}
