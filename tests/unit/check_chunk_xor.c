/*
 * check_chunk_xor.c - tests for the XOR chunk codec (src/tsdb/chunk_xor.c).
 *
 * Golden vectors in tests/data/chunks/ (one .hex file each) pin the exact bytes; random
 * series check encode/decode round trips, resume and buffer-full
 * behaviour; truncated and corrupted chunks check the decoder's bounds.
 * Buffers handed to the decoder are malloc'd to their exact length so a
 * sanitizer build catches any read past the end.
 */
#include "tsdb/chunk_xor.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 400
#define BIG_CAP (MAX_SAMPLES * XOR_MAX_SAMPLE_BYTES + 2)

struct sample {
	int64_t t;     /* timestamp, ms */
	uint64_t bits; /* value bits */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static uint64_t dbits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double dval(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* Encode n samples one-shot into buf (cap BIG_CAP); returns the length. */
static size_t encode(const struct sample *s, int n, uint8_t *buf)
{
	struct xor_enc e;
	int i;

	xor_enc_init(&e, buf, BIG_CAP);
	for (i = 0; i < n; i++)
		ck_assert_msg(xor_enc_append(&e, s[i].t, dval(s[i].bits)), "append %d failed", i);
	ck_assert_uint_eq(e.num, (unsigned)n);
	return xor_enc_len(&e);
}

/* Decode from an exact-size heap copy and compare with s[0..n). */
static void expect_decode(const uint8_t *bytes, size_t len, const struct sample *s, int n)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct xor_iter it;
	int64_t t;
	double v;
	int i;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, bytes, len);
	ck_assert_uint_eq(xor_chunk_num_samples(copy, len), (unsigned)n);
	xor_iter_init(&it, copy, len);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(xor_iter_next(&it, &t, &v), 1);
		ck_assert_msg(t == s[i].t, "sample %d: t %lld want %lld", i, (long long)t,
			      (long long)s[i].t);
		ck_assert_msg(dbits(v) == s[i].bits, "sample %d: bits %016llx want %016llx", i,
			      (unsigned long long)dbits(v), (unsigned long long)s[i].bits);
	}
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 0);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 0);
	free(copy);
}

static void roundtrip(const struct sample *s, int n)
{
	static uint8_t buf[BIG_CAP];
	size_t len = encode(s, n, buf);

	expect_decode(buf, len, s, n);
}

/* ------------------------------------------------------------ golden vectors */

struct golden {
	struct sample s[256]; /* samples from 's' lines */
	int n;                /* number of samples */
	uint8_t bytes[4096];  /* chunk from 'c' lines */
	size_t len;           /* chunk length */
};

static void golden_load(const char *name, struct golden *g)
{
	char path[1024], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/chunks/%s", TEST_SRCDIR, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	memset(g, 0, sizeof(*g));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == 's') {
			long long t;
			unsigned long long bits;

			ck_assert_int_eq(sscanf(line + 1, "%lld %llx", &t, &bits), 2);
			ck_assert_int_lt(g->n, 256);
			g->s[g->n].t = t;
			g->s[g->n].bits = bits;
			g->n++;
		} else if (line[0] == 'c') {
			char *p = line + 1, *end;
			unsigned long b;

			for (;;) {
				b = strtoul(p, &end, 16);
				if (end == p)
					break;
				ck_assert_uint_lt(g->len, sizeof(g->bytes));
				g->bytes[g->len++] = (uint8_t)b;
				p = end;
			}
		}
	}
	fclose(f);
	ck_assert_int_gt(g->n, 0);
	ck_assert_uint_gt(g->len, 2);
}

static const char *golden_files[] = {
	"one_sample.hex", "regular_constant.hex", "dod_buckets.hex",
	"value_windows.hex", "negative_times.hex",
	/* captured from a real Prometheus, see the README there */
	"prom_self_1s.hex", "prom_counter_fast.hex", "prom_gauge_fast.hex",
	"prom_densest.hex",
};

START_TEST(test_chunk_xor_golden)
{
	static struct golden g;
	static uint8_t buf[BIG_CAP];
	size_t len;

	golden_load(golden_files[_i], &g);
	len = encode(g.s, g.n, buf);
	ck_assert_msg(len == g.len, "%s: length %zu want %zu", golden_files[_i], len, g.len);
	ck_assert_mem_eq(buf, g.bytes, len);
	expect_decode(g.bytes, g.len, g.s, g.n);
}
END_TEST

/* ------------------------------------------------------------ random round trips */

static const uint64_t special_bits[] = {
	0x7ff8000000000001u, /* NaN as Prometheus writes it */
	0x7ff0000000000002u, /* stale marker */
	0x7ff8000000000000u, /* quiet NaN */
	0xfff8000000000000u, /* negative NaN */
	0x7ff4000000000abcu, /* signalling NaN with payload */
	0x7ff0000000000000u, /* +Inf */
	0xfff0000000000000u, /* -Inf */
	0x8000000000000000u, /* -0.0 */
	0x0000000000000000u, /* 0.0 */
	0x0000000000000001u, /* smallest subnormal */
	0x7fefffffffffffffu, /* largest finite */
	0xffffffffffffffffu,
};

/* A timestamp delta of one of several shapes. */
static int64_t random_delta(int shape)
{
	switch (shape) {
	case 0:
		return 15000; /* regular */
	case 1:
		return 15000 + (int64_t)(rng() % 21) - 10; /* jitter */
	case 2:
		return (int64_t)(rng() % 3) - 1; /* equal and negative */
	case 3:
		return (int64_t)(rng() % 2000000) - 1000000; /* all small buckets */
	case 4:
		return (int64_t)(rng() >> 2) - (INT64_C(1) << 61); /* 64-bit dods */
	default:
		switch (rng() % 5) {
		case 0:
			return 0;
		case 1:
			return (int64_t)(rng() % 16384);
		case 2:
			return -(int64_t)(rng() % 300000);
		case 3:
			return (int64_t)(rng() % 2000000);
		default:
			return (int64_t)(rng() >> 20);
		}
	}
}

/* A value of one of several shapes, given the previous value's bits. */
static uint64_t random_value(int shape, uint64_t prev)
{
	unsigned lz, tz;
	uint64_t m;

	switch (shape) {
	case 0:
		return rng(); /* any bits, NaNs included */
	case 1:
		return dbits((double)(int64_t)(rng() % 100000)); /* counters, gauges */
	case 2:
		return special_bits[rng() % (sizeof(special_bits) / sizeof(special_bits[0]))];
	case 3:
		return rng() % 4 ? prev : rng(); /* mostly repeats */
	case 4:
		/* XOR with the previous of any leading/trailing zero pattern */
		lz = (unsigned)(rng() % 64);
		tz = (unsigned)(rng() % (64 - lz));
		m = (~UINT64_C(0) >> lz) & (~UINT64_C(0) << tz);
		m &= rng() | (UINT64_C(1) << (63 - lz)) | (UINT64_C(1) << tz);
		return prev ^ m;
	default:
		return dbits(dval(prev) + (double)(rng() % 7)); /* slow counter */
	}
}

static int random_series(struct sample *s, int n, int tshape, int vshape)
{
	int64_t t = (int64_t)(rng() % 4000000000000u) - 1000000000000;
	uint64_t v = dbits(1.0);
	int i;

	if (tshape == 4 && rng() % 2)
		t = (int64_t)rng(); /* anywhere, incl. near the extremes */
	for (i = 0; i < n; i++) {
		s[i].t = t;
		s[i].bits = v;
		t = (int64_t)((uint64_t)t + (uint64_t)random_delta(tshape));
		v = random_value(vshape, v);
	}
	return n;
}

START_TEST(test_chunk_xor_random_roundtrip)
{
	static struct sample s[MAX_SAMPLES];
	int tshape, vshape, round, n;

	rng_state += (uint64_t)_i * 0x100000001b3u;
	for (tshape = 0; tshape < 6; tshape++)
		for (vshape = 0; vshape < 6; vshape++)
			for (round = 0; round < 8; round++) {
				n = 1 + (int)(rng() % MAX_SAMPLES);
				if (round == 0)
					n = 1 + round;
				random_series(s, n, tshape, vshape);
				roundtrip(s, n);
			}
}
END_TEST

START_TEST(test_chunk_xor_special_values)
{
	struct sample s[32];
	size_t i, n = sizeof(special_bits) / sizeof(special_bits[0]);

	/* each special value after each other one, and repeated */
	for (i = 0; i < n; i++) {
		size_t j, k = 0;

		for (j = 0; j < n; j++) {
			s[k].t = (int64_t)k * 1000;
			s[k++].bits = special_bits[i];
			s[k].t = (int64_t)k * 1000;
			s[k++].bits = special_bits[j];
		}
		roundtrip(s, (int)k);
	}
}
END_TEST

START_TEST(test_chunk_xor_every_window)
{
	/* every (leading, trailing) zero pattern of the XOR, opened fresh and
	 * then followed by a reuse and by a narrower and wider window */
	static struct sample s[8];
	unsigned lz, tz;

	for (lz = 0; lz < 64; lz++)
		for (tz = 0; tz < 64 - lz; tz++) {
			uint64_t m = (~UINT64_C(0) >> lz) & (~UINT64_C(0) << tz);
			uint64_t hi = UINT64_C(1) << (63 - lz), lo = UINT64_C(1) << tz;
			int i;

			s[0].bits = 0x4059000000000000u;
			s[1].bits = s[0].bits ^ (hi | lo);
			s[2].bits = s[1].bits ^ (m & 0x5555555555555555u ? m & 0x5555555555555555u : m);
			s[3].bits = s[2].bits ^ hi;
			s[4].bits = s[3].bits ^ lo;
			s[5].bits = s[4].bits ^ UINT64_C(1);
			s[6].bits = s[5].bits ^ (UINT64_C(1) << 63);
			s[7].bits = s[6].bits ^ m;
			for (i = 0; i < 8; i++)
				s[i].t = 1000 * i;
			roundtrip(s, 8);
		}
}
END_TEST

START_TEST(test_chunk_xor_dod_bucket_edges)
{
	/* dod -> bits the timestamp takes; -2^(n-1) belongs to the next bucket */
	static const struct {
		int64_t dod;
		unsigned bits;
	} cases[] = {
		{ 0, 1 }, { 1, 16 }, { -1, 16 }, { 8191, 16 }, { -8191, 16 },
		{ 8192, 16 }, { -8192, 20 }, { 8193, 20 }, { 65536, 20 },
		{ -65535, 20 }, { -65536, 24 }, { 65537, 24 }, { 524288, 24 },
		{ -524287, 24 }, { -524288, 68 }, { 524289, 68 },
		{ INT64_C(1) << 40, 68 }, { -(INT64_C(1) << 40), 68 },
	};
	static uint8_t buf[BIG_CAP];
	struct sample s[3];
	struct xor_enc e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s[0].t = 0;
		s[1].t = 1000;
		s[2].t = 2000 + cases[i].dod;
		s[0].bits = s[1].bits = s[2].bits = dbits(42.0);
		xor_enc_init(&e, buf, BIG_CAP);
		ck_assert(xor_enc_append(&e, s[0].t, 42.0));
		ck_assert(xor_enc_append(&e, s[1].t, 42.0));
		ck_assert_uint_eq(e.nbits, 16 + 8 + 64 + 16 + 1);
		ck_assert(xor_enc_append(&e, s[2].t, 42.0));
		ck_assert_msg(e.nbits == 16 + 8 + 64 + 16 + 1 + cases[i].bits + 1,
			      "dod %lld took %zu bits", (long long)cases[i].dod,
			      e.nbits - (16 + 8 + 64 + 16 + 1 + 1));
		expect_decode(buf, xor_enc_len(&e), s, 3);
	}
}
END_TEST

START_TEST(test_chunk_xor_extreme_timestamps)
{
	struct sample s[6] = {
		{ INT64_MIN, 0 }, { INT64_MAX, 1 }, { INT64_MIN, 2 },
		{ 0, 3 }, { INT64_MAX, 4 }, { INT64_MAX, 5 },
	};

	roundtrip(s, 6);
	s[0].t = INT64_MAX;
	s[1].t = INT64_MIN;
	roundtrip(s, 6);
}
END_TEST

/* ------------------------------------------------------------ resume */

START_TEST(test_chunk_xor_resume_equals_one_shot)
{
	static struct sample s[150];
	static uint8_t full[BIG_CAP], part[BIG_CAP];
	int vshape, tshape, k, i;
	size_t full_len;

	for (vshape = 0; vshape < 6; vshape++) {
		tshape = vshape % 6;
		random_series(s, 150, tshape, vshape);
		/* equal values at the start: no window opened before resuming */
		if (vshape == 3)
			for (i = 1; i < 5; i++)
				s[i].bits = s[0].bits;
		full_len = encode(s, 150, full);

		for (k = 0; k <= 150; k += (k < 8 ? 1 : 13)) {
			struct xor_enc e;
			size_t len;

			len = encode(s, k, part);
			memset(part + len, 0xa5, sizeof(part) - len); /* garbage after */
			ck_assert(xor_enc_resume(&e, part, len, sizeof(part)));
			ck_assert_uint_eq(e.num, (unsigned)k);
			for (i = k; i < 150; i++)
				ck_assert(xor_enc_append(&e, s[i].t, dval(s[i].bits)));
			ck_assert_uint_eq(xor_enc_len(&e), full_len);
			ck_assert_mem_eq(part, full, full_len);
		}
	}
}
END_TEST

/* Older Prometheus writers end some chunks with one extra empty byte (see
 * chunk_xor.h); such a chunk decodes to the same samples. */
START_TEST(test_chunk_xor_old_writer_trailing_byte)
{
	static const int64_t ts[] = { 1000, 16000, 31000 };
	static const double vs[] = { 1.0, 2.5, -7.25 };
	uint8_t buf[64];
	struct xor_enc e;
	struct xor_iter it;
	size_t len, n;
	int64_t t;
	double v;

	for (n = 1; n <= 3; n++) {
		xor_enc_init(&e, buf, sizeof(buf));
		for (size_t i = 0; i < n; i++)
			ck_assert(xor_enc_append(&e, ts[i], vs[i]));
		len = xor_enc_len(&e);
		buf[len] = 0; /* the old writer's empty byte */
		xor_iter_init(&it, buf, len + 1);
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(xor_iter_next(&it, &t, &v), 1);
			ck_assert_int_eq(t, ts[i]);
			ck_assert(v == vs[i]);
		}
		ck_assert_int_eq(xor_iter_next(&it, &t, &v), 0);
	}
}
END_TEST

START_TEST(test_chunk_xor_resume_rejects_bad)
{
	uint8_t buf[64];
	struct xor_enc e;

	memset(buf, 0, sizeof(buf));
	ck_assert(!xor_enc_resume(&e, buf, 1, sizeof(buf)));
	ck_assert(!xor_enc_resume(&e, buf, 10, 5)); /* cap < len */
	buf[1] = 3; /* claims 3 samples, has 2 bytes */
	ck_assert(!xor_enc_resume(&e, buf, 2, sizeof(buf)));
	buf[1] = 0;
	ck_assert(xor_enc_resume(&e, buf, 2, sizeof(buf)));
	ck_assert_uint_eq(e.num, 0);
	ck_assert(xor_enc_append(&e, 1000, 1.0));
	ck_assert_uint_eq(xor_enc_len(&e), 12);
	ck_assert_uint_eq(buf[2], 0xd0);
}
END_TEST

/* A chunk whose first window-less value is a reuse ('10' + 64 bits), as a
 * reference appender reopened after one sample writes it. */
START_TEST(test_chunk_xor_reuse_without_window)
{
	static const uint8_t bytes[] = {
		0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x8f, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	static const struct sample s[] = { { 0, 0 }, { 1, 0x3ff0000000000000u } };
	uint8_t buf[64];
	struct xor_enc e;

	expect_decode(bytes, sizeof(bytes), s, 2);
	/* resuming it keeps the 0/0 window as the reference would */
	memcpy(buf, bytes, sizeof(bytes));
	ck_assert(xor_enc_resume(&e, buf, sizeof(bytes), sizeof(buf)));
	ck_assert_uint_eq(e.leading, 0);
	ck_assert_uint_eq(e.trailing, 0);
}
END_TEST

/* ------------------------------------------------------------ buffer full */

static void expect_same_enc(const struct xor_enc *a, const struct xor_enc *b)
{
	ck_assert_ptr_eq(a->buf, b->buf);
	ck_assert_uint_eq(a->cap, b->cap);
	ck_assert_uint_eq(a->nbits, b->nbits);
	ck_assert_uint_eq(a->num, b->num);
	ck_assert(a->t == b->t);
	ck_assert(a->tdelta == b->tdelta);
	ck_assert(a->vbits == b->vbits);
	ck_assert_uint_eq(a->leading, b->leading);
	ck_assert_uint_eq(a->trailing, b->trailing);
}

START_TEST(test_chunk_xor_buffer_full)
{
	static struct sample s[200];
	static uint8_t ref[BIG_CAP], saved_buf[BIG_CAP];
	size_t lens[201];
	struct xor_enc e, saved;
	uint8_t *buf;
	size_t cap;
	int i, shape;

	for (shape = 0; shape < 6; shape++) {
		random_series(s, 200, shape, shape);
		/* lengths of the one-shot chunk after each sample */
		xor_enc_init(&e, ref, BIG_CAP);
		lens[0] = xor_enc_len(&e);
		for (i = 0; i < 200; i++) {
			ck_assert(xor_enc_append(&e, s[i].t, dval(s[i].bits)));
			lens[i + 1] = xor_enc_len(&e);
			ck_assert_uint_le(lens[i + 1] - lens[i], XOR_MAX_SAMPLE_BYTES);
		}

		/* grow one byte at a time on failure: the fit test must be exact */
		cap = 2;
		buf = malloc(cap);
		ck_assert_ptr_nonnull(buf);
		xor_enc_init(&e, buf, cap);
		for (i = 0; i < 200; i++) {
			for (;;) {
				saved = e;
				memcpy(saved_buf, buf, cap);
				if (xor_enc_append(&e, s[i].t, dval(s[i].bits)))
					break;
				/* it really did not fit, and nothing changed */
				ck_assert_uint_lt(cap, lens[i + 1]);
				expect_same_enc(&e, &saved);
				ck_assert_mem_eq(buf, saved_buf, cap);
				buf = realloc(buf, cap + 1);
				ck_assert_ptr_nonnull(buf);
				cap++;
				e.buf = buf;
				e.cap = cap;
			}
			ck_assert_uint_eq(cap, lens[i + 1]);
		}
		ck_assert_uint_eq(xor_enc_len(&e), lens[200]);
		ck_assert_mem_eq(buf, ref, lens[200]);
		free(buf);
	}
}
END_TEST

START_TEST(test_chunk_xor_cap_too_small_first)
{
	uint8_t buf[12];
	struct xor_enc e;

	xor_enc_init(&e, buf, 11);
	ck_assert(!xor_enc_append(&e, 1000, 1.0)); /* needs 12 bytes */
	ck_assert_uint_eq(e.num, 0);
	ck_assert_uint_eq(xor_enc_len(&e), 2);
	e.cap = 12;
	ck_assert(xor_enc_append(&e, 1000, 1.0));
	ck_assert_uint_eq(xor_enc_len(&e), 12);
}
END_TEST

START_TEST(test_chunk_xor_count_cap)
{
	/* the 16-bit count: sample 65536 is refused even with room left */
	size_t cap = 64 + 65535 / 4 + 1024;
	uint8_t *buf = malloc(cap);
	struct xor_enc e;
	struct xor_iter it;
	int64_t t;
	double v;
	long i, n = 0;

	ck_assert_ptr_nonnull(buf);
	xor_enc_init(&e, buf, cap);
	for (i = 0; i < 65535; i++)
		ck_assert(xor_enc_append(&e, i * 1000, 7.0));
	ck_assert_uint_eq(xor_chunk_num_samples(buf, xor_enc_len(&e)), 65535);
	ck_assert(!xor_enc_append(&e, i * 1000, 7.0));
	ck_assert_uint_eq(e.num, 65535);
	xor_iter_init(&it, buf, xor_enc_len(&e));
	while (xor_iter_next(&it, &t, &v) == 1) {
		ck_assert(t == n * 1000 && v == 7.0);
		n++;
	}
	ck_assert_int_eq(n, 65535);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------ hostile bytes */

START_TEST(test_chunk_xor_truncated)
{
	static struct sample s[120];
	static uint8_t full[BIG_CAP];
	int shape;

	for (shape = 0; shape < 6; shape++) {
		size_t len, cut;

		random_series(s, 120, shape, shape);
		len = encode(s, 120, full);
		for (cut = 0; cut < len; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);
			struct xor_iter it;
			int64_t t;
			double v;
			int rc, n = 0;

			memcpy(p, full, cut);
			xor_iter_init(&it, p, cut);
			while ((rc = xor_iter_next(&it, &t, &v)) == 1) {
				ck_assert_int_eq(t, s[n].t);
				ck_assert(dbits(v) == s[n].bits);
				n++;
			}
			/* the last byte always holds sample bits: cutting loses data */
			ck_assert_int_eq(rc, -1);
			ck_assert_int_lt(n, 120);
			ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
			free(p);
		}
	}
}
END_TEST

START_TEST(test_chunk_xor_corrupt)
{
	static struct sample s[120];
	static uint8_t full[BIG_CAP];
	int round;

	for (round = 0; round < 3000; round++) {
		size_t len, k;
		uint8_t *p;
		struct xor_iter it;
		int64_t t;
		double v;
		int rc, n = 0;

		random_series(s, 1 + (int)(rng() % 120), (int)(rng() % 6), (int)(rng() % 6));
		len = encode(s, 1 + (int)(rng() % 120), full);
		p = malloc(len);
		memcpy(p, full, len);
		if (round % 3 == 0) {
			for (k = 0; k < len; k++)
				p[k] = (uint8_t)rng();
		} else {
			for (k = 0; k < 1 + rng() % 4; k++)
				p[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
		}
		xor_iter_init(&it, p, len);
		while ((rc = xor_iter_next(&it, &t, &v)) == 1)
			n++;
		ck_assert(rc == 0 || rc == -1);
		ck_assert_int_le(n, xor_chunk_num_samples(p, len));
		if (rc == 0)
			ck_assert_int_eq(n, xor_chunk_num_samples(p, len));
		free(p);
	}
}
END_TEST

START_TEST(test_chunk_xor_malformed_fields)
{
	/* t0 varint longer than 10 bytes */
	static const uint8_t long_varint[] = {
		0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	/* 10th varint byte above 1 overflows 64 bits */
	static const uint8_t overflow_varint[] = {
		0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x02, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	/* new window of 31 leading zeros and 63 significant bits: > 64 */
	static const uint8_t bad_window[] = {
		0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8,
	};
	/* the largest valid 10-byte varint is accepted: t0 = INT64_MIN */
	static const uint8_t max_varint[] = {
		0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x01, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct xor_iter it;
	int64_t t;
	double v;

	xor_iter_init(&it, long_varint, sizeof(long_varint));
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
	xor_iter_init(&it, overflow_varint, sizeof(overflow_varint));
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
	xor_iter_init(&it, bad_window, sizeof(bad_window));
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 1);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
	xor_iter_init(&it, max_varint, sizeof(max_varint));
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 1);
	ck_assert(t == INT64_MIN);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 0);
	/* empty and one-byte inputs */
	xor_iter_init(&it, max_varint, 0);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
	xor_iter_init(&it, max_varint, 1);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), -1);
	ck_assert_uint_eq(xor_chunk_num_samples(max_varint, 1), 0);
	/* zero samples: clean end */
	xor_iter_init(&it, (const uint8_t *)"\0\0", 2);
	ck_assert_int_eq(xor_iter_next(&it, &t, &v), 0);
}
END_TEST

Suite *chunk_xor_suite(void);

Suite *chunk_xor_suite(void)
{
	Suite *s = suite_create("chunk_xor");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_add_loop_test(tc, test_chunk_xor_golden, 0,
			    (int)(sizeof(golden_files) / sizeof(golden_files[0])));
	tcase_add_test(tc, test_chunk_xor_reuse_without_window);
	tcase_add_test(tc, test_chunk_xor_malformed_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_chunk_xor_random_roundtrip, 0, 4);
	tcase_add_test(tc, test_chunk_xor_special_values);
	tcase_add_test(tc, test_chunk_xor_every_window);
	tcase_add_test(tc, test_chunk_xor_extreme_timestamps);
	tcase_add_test(tc, test_chunk_xor_dod_bucket_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("append");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_chunk_xor_resume_equals_one_shot);
	tcase_add_test(tc, test_chunk_xor_resume_rejects_bad);
	tcase_add_test(tc, test_chunk_xor_old_writer_trailing_byte);
	tcase_add_test(tc, test_chunk_xor_buffer_full);
	tcase_add_test(tc, test_chunk_xor_cap_too_small_first);
	tcase_add_test(tc, test_chunk_xor_count_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_chunk_xor_truncated);
	tcase_add_test(tc, test_chunk_xor_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chunk_xor_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
