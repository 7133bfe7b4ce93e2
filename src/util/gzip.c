/*
 * gzip.c - see gzip.h.
 *
 * The output buffer starts at a guess (4x the input, capped at max + 1) and
 * doubles up to max + 1 bytes: one byte past the limit is enough to tell
 * "exactly max" from "too large" without inflating further.
 */
#include "util/gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/error.h"

int gzip_inflate(const uint8_t *in, size_t inlen, size_t max, char **out, size_t *outlen)
{
	size_t cap = inlen * 4 + 4096, len = 0, fed = 0;
	char *buf;
	z_stream z;
	int rc, status = 0;

	if (cap > max + 1)
		cap = max + 1;
	memset(&z, 0, sizeof(z));
	/* 32 + MAX_WBITS: detect gzip or zlib framing from the header */
	if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
		return TS_ERR_NOMEM;
	buf = malloc(cap + 1);
	if (!buf) {
		inflateEnd(&z);
		return TS_ERR_NOMEM;
	}
	for (;;) {
		size_t room;

		if (len == cap) {
			size_t ncap = cap > max / 2 ? max + 1 : cap * 2;
			char *nb;

			if (cap > max) {
				status = TS_ERR_LIMIT;
				break;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				status = TS_ERR_NOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		if (z.avail_in == 0 && fed < inlen) {
			size_t left = inlen - fed;

			z.next_in = (Bytef *)(uintptr_t)(in + fed);
			z.avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
			fed += z.avail_in;
		}
		room = cap - len;
		if (room > UINT32_MAX)
			room = UINT32_MAX;
		z.next_out = (Bytef *)buf + len;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		len += room - z.avail_out;
		if (len > max) {
			status = TS_ERR_LIMIT;
			break;
		}
		if (rc == Z_STREAM_END) {
			if (z.avail_in == 0 && fed == inlen)
				break;
			/* another gzip member follows, as some senders write */
			if (inflateReset(&z) != Z_OK) {
				status = TS_ERR_INVALID;
				break;
			}
			continue;
		}
		if (rc == Z_BUF_ERROR && z.avail_out > 0) {
			status = TS_ERR_INVALID; /* input ended inside the stream */
			break;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			status = rc == Z_MEM_ERROR ? TS_ERR_NOMEM : TS_ERR_INVALID;
			break;
		}
	}
	inflateEnd(&z);
	if (status) {
		free(buf);
		return status;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}
