/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC-32C (Castagnoli), as iSCSI (RFC 3720) and Linux crc32c: reflected
 * polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF.
 * The check value of "123456789" is 0xE3069283. Every SLW1 frame and ack
 * and every batch on disk carries one.
 *
 * sl_crc32c() runs ISA-L's crc32_iscsi (AVX-512/PCLMUL folding or the SSE4.2
 * instruction, chosen by ISA-L for the CPU). Our own SSE4.2 and slicing-by-8
 * implementations are exported for tests and benchmarks, which hold all
 * three to the same value for every input.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32C of buf[0..len). Pure; buf is borrowed. */
uint32_t sl_crc32c(const void *buf, size_t len);

/*
 * Continue a CRC over more bytes: sl_crc32c_update(sl_crc32c(a), b) equals
 * sl_crc32c(a || b). Start from 0 for an empty prefix.
 */
uint32_t sl_crc32c_update(uint32_t crc, const void *buf, size_t len);

/* The two implementations, for tests and benchmarks. */
uint32_t sl_crc32c_update_sw(uint32_t crc, const void *buf, size_t len);
uint32_t sl_crc32c_update_hw(uint32_t crc, const void *buf, size_t len);

/* True when the CPU has SSE4.2, so sl_crc32c_update_hw() may be called. */
bool sl_crc32c_hw_available(void);

#endif /* SLUICE_CRC32C_H */
