/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of the WAL's records, the
 * block files' sections and remote_read's stream frames (Go's
 * crc32.Checksum with the Castagnoli table).
 */
#ifndef VARVE_UTIL_CRC32C_H
#define VARVE_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C of p[0..n), continuing from crc (0 to start), so that
 * crc32c(crc32c(0, a, k), a + k, n - k) == crc32c(0, a, n). Thread-safe.
 */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
