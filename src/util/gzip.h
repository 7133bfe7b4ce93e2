/*
 * gzip.h - inflating compressed request bodies under a size limit.
 *
 * Line-protocol clients and text importers send `Content-Encoding: gzip`
 * bodies; the inflated size is bounded so that a small body cannot expand
 * into unbounded memory (a "zip bomb").
 */
#ifndef VARVE_UTIL_GZIP_H
#define VARVE_UTIL_GZIP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Inflate in[0..inlen) (gzip or zlib framing, concatenated gzip members
 * allowed) into a malloc'd buffer of at most max bytes. On success returns
 * 0 with *out (free with free(); NUL-terminated, the NUL not counted) and
 * *outlen set. Returns TS_ERR_LIMIT when the result would pass max,
 * TS_ERR_INVALID when the data is corrupt or truncated, TS_ERR_NOMEM when
 * out of memory; *out is then untouched.
 */
int gzip_inflate(const uint8_t *in, size_t inlen, size_t max, char **out, size_t *outlen);

#endif
