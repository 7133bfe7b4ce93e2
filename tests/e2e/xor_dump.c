/*
 * xor_dump.c - decode and re-encode XOR chunks given as hex, for the
 * end-to-end check against chunks a real Prometheus serves.
 *
 * Input: one chunk per line on stdin, as hex digits (whitespace ignored).
 * Output: one line per input line,
 *   ok <reencoded-hex> <n> <t>:<value-bits-hex> ...
 * where <reencoded-hex> is what varve's encoder writes for the decoded
 * samples and each sample is a decimal ms timestamp and the 16 hex digits
 * of the value's bits; or
 *   corrupt <samples decoded before the error>
 *   badhex
 * Exit status 0 unless reading stdin fails or memory runs out.
 */
#include "tsdb/chunk_xor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse hex in line into a new buffer; -1 on bad input, -2 out of memory. */
static long parse_hex(const char *line, uint8_t **out)
{
	size_t n = strlen(line), len = 0;
	uint8_t *b = malloc(n / 2 + 1);
	int hi = -1, d;

	if (!b)
		return -2;
	for (; *line; line++) {
		if (*line == ' ' || *line == '\t' || *line == '\n' || *line == '\r')
			continue;
		d = hexval((unsigned char)*line);
		if (d < 0) {
			free(b);
			return -1;
		}
		if (hi < 0) {
			hi = d;
		} else {
			b[len++] = (uint8_t)(hi << 4 | d);
			hi = -1;
		}
	}
	if (hi >= 0) {
		free(b);
		return -1;
	}
	*out = b;
	return (long)len;
}

static void dump(const uint8_t *chunk, size_t len)
{
	uint16_t num = xor_chunk_num_samples(chunk, len);
	size_t cap = 2 + (size_t)num * XOR_MAX_SAMPLE_BYTES, i;
	uint8_t *re = malloc(cap);
	int64_t *ts = malloc(sizeof(*ts) * (num ? num : 1));
	uint64_t *vs = malloc(sizeof(*vs) * (num ? num : 1));
	struct xor_iter it;
	struct xor_enc e;
	int n = 0, rc;
	int64_t t;
	double v;

	if (!re || !ts || !vs) {
		fprintf(stderr, "xor_dump: out of memory\n");
		exit(2);
	}
	xor_iter_init(&it, chunk, len);
	while ((rc = xor_iter_next(&it, &t, &v)) == 1) {
		ts[n] = t;
		memcpy(&vs[n], &v, sizeof(v));
		n++;
	}
	if (rc < 0) {
		printf("corrupt %d\n", n);
		goto out;
	}
	xor_enc_init(&e, re, cap);
	for (i = 0; i < (size_t)n; i++) {
		memcpy(&v, &vs[i], sizeof(v));
		if (!xor_enc_append(&e, ts[i], v)) {
			printf("corrupt %d (re-encoding overflowed)\n", n);
			goto out;
		}
	}
	printf("ok ");
	for (i = 0; i < xor_enc_len(&e); i++)
		printf("%02x", re[i]);
	printf(" %d", n);
	for (i = 0; i < (size_t)n; i++)
		printf(" %" PRId64 ":%016" PRIx64, ts[i], vs[i]);
	printf("\n");
out:
	free(re);
	free(ts);
	free(vs);
}

int main(void)
{
	char *line = NULL;
	size_t lcap = 0;
	uint8_t *chunk;
	long len;

	while (getline(&line, &lcap, stdin) != -1) {
		len = parse_hex(line, &chunk);
		if (len == -2) {
			fprintf(stderr, "xor_dump: out of memory\n");
			return 2;
		}
		if (len < 0) {
			printf("badhex\n");
			continue;
		}
		dump(chunk, (size_t)len);
		free(chunk);
	}
	free(line);
	if (ferror(stdin)) {
		perror("xor_dump: stdin");
		return 2;
	}
	return 0;
}
