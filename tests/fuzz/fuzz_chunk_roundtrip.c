/*
 * fuzz_chunk_roundtrip.c - XOR chunk codec round trip and decoder hardening.
 *
 * The input is read two ways:
 *
 * 1. As a sample program. Each sample starts with a control byte c:
 *      c & 3        timestamp delta: 0 repeat the previous delta,
 *                   1 one signed byte, 2 two bytes (signed, LE),
 *                   3 eight bytes (LE, any int64)
 *      (c >> 2) & 3 value: 0 repeat, 1 XOR one byte into the previous
 *                   bits at byte position (c >> 4) & 7, 2 eight raw bytes
 *                   (LE bit pattern: NaN payloads, stale markers), 3 a
 *                   two-byte integer as a double
 *    The samples are encoded into a buffer that starts tiny and grows by a
 *    few bytes whenever append reports "full" (which must leave the
 *    encoder unchanged), then re-encoded by resuming a copy of the first
 *    half; both must give the same bytes, and decoding must give back
 *    exactly the timestamps and value bits. Any difference aborts.
 * 2. As chunk bytes: the iterator must stop with 0 or -1 without reading
 *    past the end (the copy is exactly sized for the sanitizers), and if
 *    resume accepts them, one more sample must append and decode.
 */
#include "tests/fuzz/fuzz.h"
#include "tsdb/chunk_xor.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_SAMPLES 2000

struct fsample {
	int64_t t;     /* timestamp */
	uint64_t bits; /* value bits */
};

static uint64_t take_le(const uint8_t **p, const uint8_t *end, unsigned n)
{
	uint64_t x = 0;
	unsigned i;

	for (i = 0; i < n && *p < end; i++, (*p)++)
		x |= (uint64_t)**p << (8 * i);
	return x;
}

static double from_bits(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static uint64_t to_bits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static size_t parse_samples(const uint8_t *data, size_t size, struct fsample *s)
{
	const uint8_t *p = data, *end = data + size;
	uint64_t t = 0, delta = 0, bits = 0;
	size_t n = 0;
	uint8_t c;

	while (p < end && n < FUZZ_MAX_SAMPLES) {
		c = *p++;
		switch (c & 3) {
		case 1:
			delta = (uint64_t)(int64_t)(int8_t)take_le(&p, end, 1);
			break;
		case 2:
			delta = (uint64_t)(int64_t)(int16_t)take_le(&p, end, 2);
			break;
		case 3:
			delta = take_le(&p, end, 8);
			break;
		default:
			break;
		}
		switch ((c >> 2) & 3) {
		case 1:
			bits ^= take_le(&p, end, 1) << (8 * ((c >> 4) & 7));
			break;
		case 2:
			bits = take_le(&p, end, 8);
			break;
		case 3:
			bits = to_bits((double)(int16_t)take_le(&p, end, 2));
			break;
		default:
			break;
		}
		if (n > 0)
			t += delta;
		else
			t = delta;
		s[n].t = (int64_t)t;
		s[n].bits = bits;
		n++;
	}
	return n;
}

static void same_or_abort(bool ok)
{
	if (!ok)
		abort();
}

/* Encode with a growing buffer; returns the buffer (caller frees). */
static uint8_t *encode_growing(const struct fsample *s, size_t n, size_t *len)
{
	size_t cap = 2;
	uint8_t *buf = malloc(cap), *nb;
	struct xor_enc e, before;
	size_t i;

	same_or_abort(buf != NULL);
	xor_enc_init(&e, buf, cap);
	for (i = 0; i < n; i++) {
		before = e;
		while (!xor_enc_append(&e, s[i].t, from_bits(s[i].bits))) {
			same_or_abort(e.nbits == before.nbits && e.num == before.num &&
				      e.t == before.t && e.vbits == before.vbits);
			same_or_abort(cap < xor_enc_len(&e) + XOR_MAX_SAMPLE_BYTES);
			cap += 1 + (i % 7);
			nb = realloc(buf, cap);
			same_or_abort(nb != NULL);
			buf = nb;
			e.buf = buf;
			e.cap = cap;
		}
	}
	same_or_abort(e.num == n);
	*len = xor_enc_len(&e);
	return buf;
}

static void check_decode(const uint8_t *buf, size_t len, const struct fsample *s, size_t n)
{
	struct xor_iter it;
	int64_t t;
	double v;
	size_t i;

	xor_iter_init(&it, buf, len);
	for (i = 0; i < n; i++) {
		same_or_abort(xor_iter_next(&it, &t, &v) == 1);
		same_or_abort(t == s[i].t && to_bits(v) == s[i].bits);
	}
	same_or_abort(xor_iter_next(&it, &t, &v) == 0);
}

static void roundtrip(const uint8_t *data, size_t size)
{
	struct fsample *s = calloc(FUZZ_MAX_SAMPLES, sizeof(*s));
	uint8_t *one, *two, *h;
	size_t n, len, half_len, i, half, cap;
	struct xor_enc e;

	same_or_abort(s != NULL);
	n = parse_samples(data, size, s);
	one = encode_growing(s, n, &len);
	check_decode(one, len, s, n);

	/* resume after the first half, into a buffer with garbage after it */
	half = n / 2;
	cap = 2 + n * XOR_MAX_SAMPLE_BYTES;
	h = encode_growing(s, half, &half_len);
	two = malloc(cap);
	same_or_abort(two != NULL);
	memset(two, 0xa5, cap);
	memcpy(two, h, half_len);
	free(h);
	same_or_abort(xor_enc_resume(&e, two, half_len, cap));
	for (i = half; i < n; i++)
		same_or_abort(xor_enc_append(&e, s[i].t, from_bits(s[i].bits)));
	same_or_abort(xor_enc_len(&e) == len && memcmp(one, two, len) == 0);
	free(one);
	free(two);
	free(s);
}

static void hostile(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1), *grown;
	struct xor_iter it;
	struct xor_enc e;
	uint16_t n = 0;
	int64_t t;
	double v;
	int rc;

	same_or_abort(copy != NULL);
	memcpy(copy, data, size);
	xor_iter_init(&it, copy, size);
	while ((rc = xor_iter_next(&it, &t, &v)) == 1)
		n++;
	same_or_abort(rc == 0 || rc == -1);
	same_or_abort(n <= xor_chunk_num_samples(copy, size));
	free(copy);

	if (rc != 0 || n == UINT16_MAX)
		return;
	/* accepted bytes: resume, add a sample, and it must still decode */
	grown = malloc(size + XOR_MAX_SAMPLE_BYTES);
	same_or_abort(grown != NULL);
	memcpy(grown, data, size);
	same_or_abort(xor_enc_resume(&e, grown, size, size + XOR_MAX_SAMPLE_BYTES));
	same_or_abort(xor_enc_append(&e, 42, 0.5));
	xor_iter_init(&it, grown, xor_enc_len(&e));
	n = 0;
	while ((rc = xor_iter_next(&it, &t, &v)) == 1)
		n++;
	same_or_abort(rc == 0 && n == e.num && t == 42 && v == 0.5);
	free(grown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	roundtrip(data, size);
	hostile(data, size);
	return 0;
}
