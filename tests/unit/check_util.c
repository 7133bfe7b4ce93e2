/*
 * check_util.c - tests for src/util: the arena allocator, the growable
 * buffer and buf_add_float, which must print sample values exactly like
 * Prometheus's JSON API (Go's strconv.AppendFloat(v, 'f', -1, 64), or
 * 'e' when |v| < 1e-6 or |v| >= 1e21; "NaN", "+Inf", "-Inf").
 */
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/gzip.h"

#include "prometheus.pb-c.h"

#include <check.h>
#include <math.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ arena */

START_TEST(test_util_arena_alignment)
{
	struct arena *a = arena_new(0);
	size_t sizes[] = { 1, 3, 7, 8, 13, 16, 31, 100, 1000, 4095, 5000, 20000 };
	size_t i, k;

	ck_assert_ptr_nonnull(a);
	for (k = 0; k < 50; k++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = arena_alloc(a, sizes[i]);

			ck_assert_ptr_nonnull(p);
			ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
			memset(p, 0xab, sizes[i]); /* whole range writable */
		}
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_no_overlap)
{
	/* fill each allocation with its own byte, then check none was
	 * overwritten by a later one (small, big and zero-sized mixed) */
	struct arena *a = arena_new(0);
	unsigned char *p[300];
	size_t n[300];
	size_t i, j;

	ck_assert_ptr_nonnull(a);
	for (i = 0; i < 300; i++) {
		n[i] = (i % 17 == 0) ? 70000 + i : (i % 5 == 0 ? 0 : i * 7 % 900);
		p[i] = arena_alloc(a, n[i]);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], (int)(i & 0xff), n[i]);
		for (j = 0; j < i; j++)
			if (n[i] == 0 && n[j] == 0)
				ck_assert_ptr_ne(p[i], p[j]); /* zero-size pointers unique */
	}
	for (i = 0; i < 300; i++)
		for (j = 0; j < n[i]; j++)
			if (p[i][j] != (i & 0xff))
				ck_abort_msg("allocation %zu overwritten at byte %zu", i, j);
	ck_assert_uint_ge(arena_used(a), 17 * 70000);
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_big)
{
	struct arena *a = arena_new(0);
	unsigned char *small1, *big, *small2;

	ck_assert_ptr_nonnull(a);
	small1 = arena_alloc(a, 10);
	big = arena_alloc(a, 8u << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 1, 8u << 20);
	small2 = arena_alloc(a, 10);
	ck_assert_ptr_nonnull(small1);
	ck_assert_ptr_nonnull(small2);
	/* small requests keep using the block they were served from */
	ck_assert_ptr_eq(small2, small1 + (10 + alignof(max_align_t) - 1) /
			 alignof(max_align_t) * alignof(max_align_t));
	ck_assert_uint_eq(big[(8u << 20) - 1], 1);
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_limit)
{
	struct arena *a = arena_new(1000);
	void *p;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(arena_alloc(a, 1001));
	p = arena_alloc(a, 900);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(arena_alloc(a, 200)); /* 900 + 200 > 1000 */
	ck_assert_ptr_nonnull(arena_alloc(a, 16));
	ck_assert_uint_le(arena_used(a), 1000);
	/* strings fail the same way */
	ck_assert_ptr_null(arena_printf(a, "%0500d", 1));
	/* after a reset the budget is back */
	arena_reset(a);
	ck_assert_uint_eq(arena_used(a), 0);
	ck_assert_ptr_nonnull(arena_alloc(a, 992));
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_overflow)
{
	struct arena *a = arena_new(0);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(arena_alloc(a, SIZE_MAX));
	ck_assert_ptr_null(arena_alloc(a, SIZE_MAX - 3));
	ck_assert_ptr_null(arena_calloc(a, SIZE_MAX / 2, 4));
	ck_assert_ptr_null(arena_calloc(a, 3, SIZE_MAX / 2));
	ck_assert_ptr_nonnull(arena_calloc(a, 0, 8));
	ck_assert_ptr_nonnull(arena_alloc(a, 1));
	arena_free(a);
	arena_free(NULL); /* no-op */
}
END_TEST

START_TEST(test_util_arena_reset_and_calloc)
{
	struct arena *a = arena_new(0);
	unsigned char *p, *q;
	int round;
	size_t i;

	ck_assert_ptr_nonnull(a);
	for (round = 0; round < 20; round++) {
		for (i = 0; i < 100; i++) {
			p = arena_alloc(a, 500);
			ck_assert_ptr_nonnull(p);
			memset(p, 0xff, 500);
		}
		p = arena_alloc(a, 100000);
		ck_assert_ptr_nonnull(p);
		memset(p, 0xff, 100000);
		arena_reset(a);
		ck_assert_uint_eq(arena_used(a), 0);
		/* reused memory is dirty: calloc must zero it */
		q = arena_calloc(a, 250, 2);
		ck_assert_ptr_nonnull(q);
		for (i = 0; i < 500; i++)
			ck_assert_uint_eq(q[i], 0);
	}
	arena_reset(a);
	arena_free(a);

	a = arena_new(0);
	arena_reset(a); /* reset of an empty arena */
	ck_assert_ptr_nonnull(arena_alloc(a, 8));
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_strings)
{
	struct arena *a = arena_new(0);
	char *s, big[3000];

	ck_assert_ptr_nonnull(a);
	s = arena_strdup(a, "hello");
	ck_assert_str_eq(s, "hello");
	s = arena_strndup(a, "hello world", 5);
	ck_assert_str_eq(s, "hello");
	s = arena_strndup(a, "a\0b", 3); /* embedded NUL is copied */
	ck_assert_int_eq(memcmp(s, "a\0b\0", 4), 0);
	s = arena_strdup(a, "");
	ck_assert_str_eq(s, "");
	s = arena_printf(a, "%s=%d/%.1f", "x", 42, 2.5);
	ck_assert_str_eq(s, "x=42/2.5");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = arena_printf(a, "<%s>", big);
	ck_assert_uint_eq(strlen(s), sizeof(big) + 1);
	ck_assert_int_eq(s[0], '<');
	ck_assert_int_eq(s[sizeof(big)], '>');
	arena_free(a);
}
END_TEST

START_TEST(test_util_arena_protobuf_allocator)
{
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT, *out;
	Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT, *tsp = &ts;
	Prometheus__Label l1 = PROMETHEUS__LABEL__INIT, l2 = PROMETHEUS__LABEL__INIT;
	Prometheus__Label *labels[2] = { &l1, &l2 };
	Prometheus__Sample s1 = PROMETHEUS__SAMPLE__INIT, *samples[1] = { &s1 };
	ProtobufCAllocator pa;
	struct arena *a = arena_new(0), *tiny = arena_new(64);
	uint8_t *wire;
	size_t len, before;

	ck_assert_ptr_nonnull(a);
	l1.name = "__name__";
	l1.value = "up";
	l2.name = "job";
	l2.value = "node";
	s1.value = 1.5;
	s1.timestamp = 1700000000000;
	ts.n_labels = 2;
	ts.labels = labels;
	ts.n_samples = 1;
	ts.samples = samples;
	req.n_timeseries = 1;
	req.timeseries = &tsp;
	len = prometheus__write_request__get_packed_size(&req);
	wire = malloc(len);
	ck_assert_ptr_nonnull(wire);
	prometheus__write_request__pack(&req, wire);

	arena_protobuf_allocator(a, &pa);
	before = arena_used(a);
	out = prometheus__write_request__unpack(&pa, len, wire);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_gt(arena_used(a), before);
	ck_assert_uint_eq(out->n_timeseries, 1);
	ck_assert_uint_eq(out->timeseries[0]->n_labels, 2);
	ck_assert_str_eq(out->timeseries[0]->labels[1]->value, "node");
	ck_assert(out->timeseries[0]->samples[0]->value == 1.5);
	ck_assert(out->timeseries[0]->samples[0]->timestamp == 1700000000000);
	/* free through the allocator is a no-op; the arena owns everything */
	prometheus__write_request__free_unpacked(out, &pa);
	arena_free(a);

	/* a limited arena makes unpack fail instead of growing */
	ck_assert_ptr_nonnull(tiny);
	arena_protobuf_allocator(tiny, &pa);
	ck_assert_ptr_null(prometheus__write_request__unpack(&pa, len, wire));
	arena_free(tiny);
	free(wire);
}
END_TEST

/* ------------------------------------------------------------ buf */

START_TEST(test_util_buf_growth)
{
	struct buf b = BUF_INIT;
	size_t i;

	ck_assert(buf_ok(&b));
	for (i = 0; i < 100000; i++)
		buf_addch(&b, (char)('a' + i % 26));
	buf_addstr(&b, "END");
	buf_add(&b, "xyz", 2);
	ck_assert(buf_ok(&b));
	ck_assert_uint_eq(b.len, 100005);
	ck_assert_uint_ge(b.cap, b.len + 1);
	ck_assert_int_eq(b.data[b.len], '\0');
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(b.data[i], 'a' + i % 26);
	ck_assert_str_eq(b.data + 100000, "ENDxy");
	buf_setlen(&b, 3);
	ck_assert_str_eq(b.data, "abc");
	buf_setlen(&b, 10); /* longer than len: ignored */
	ck_assert_uint_eq(b.len, 3);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	buf_release(&b); /* twice is fine */
}
END_TEST

START_TEST(test_util_buf_printf)
{
	struct buf b = BUF_INIT;
	char big[1000];

	buf_printf(&b, "%d-%s", 7, "x");
	ck_assert_str_eq(b.data, "7-x");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big); /* larger than the first allocation */
	ck_assert_uint_eq(b.len, 3 + 2 + 999);
	ck_assert_int_eq(b.data[b.len - 1], ']');
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_printf(&b, "%s", "");
	ck_assert_uint_eq(b.len, 1004);
	buf_release(&b);
}
END_TEST

START_TEST(test_util_buf_detach)
{
	struct buf b = BUF_INIT;
	size_t len = 99;
	char *p;

	p = buf_detach(&b, &len); /* empty: still a string */
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "");
	ck_assert_uint_eq(len, 0);
	free(p);

	buf_addstr(&b, "hello");
	p = buf_detach(&b, &len);
	ck_assert_str_eq(p, "hello");
	ck_assert_uint_eq(len, 5);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	buf_addstr(&b, "again"); /* reusable after detach */
	ck_assert_str_eq(b.data, "again");
	free(p);
	p = buf_detach(&b, NULL);
	ck_assert_str_eq(p, "again");
	free(p);
}
END_TEST

START_TEST(test_util_buf_oom_sticky)
{
	struct buf b = BUF_INIT;

	buf_addstr(&b, "ok");
	ck_assert(!buf_grow(&b, SIZE_MAX / 2));
	ck_assert(!buf_ok(&b));
	buf_addstr(&b, "more"); /* ignored once oom */
	buf_addch(&b, 'x');
	buf_printf(&b, "%d", 5);
	ck_assert_uint_eq(b.len, 2);
	ck_assert_str_eq(b.data, "ok");
	buf_release(&b);
	ck_assert(buf_ok(&b));
}
END_TEST

/* ------------------------------------------------------------ buf_add_float */

static uint64_t u64_of(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double of_u64(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* Expected strings are what Go's strconv.AppendFloat gives with the
 * format Prometheus picks; each was cross-checked with an independent
 * shortest-repr implementation. */
static const struct {
	uint64_t bits; /* the double */
	const char *want;
} float_cases[] = {
	{ 0x3ff0000000000000u, "1" },
	{ 0xbff0000000000000u, "-1" },
	{ 0x0000000000000000u, "0" },
	{ 0x8000000000000000u, "-0" },
	{ 0x7ff8000000000001u, "NaN" },
	{ 0x7ff0000000000002u, "NaN" }, /* stale marker */
	{ 0xfff8000000000000u, "NaN" },
	{ 0x7ff0000000000000u, "+Inf" },
	{ 0xfff0000000000000u, "-Inf" },
	{ 0x3fb999999999999au, "0.1" },
	{ 0x3fd3333333333333u, "0.3" },
	{ 0x3fd3333333333334u, "0.30000000000000004" }, /* 0.1 + 0.2 */
	{ 0x419d6f34547df3b6u, "123456789.123" },
	{ 0x3e7ad7f29abcaf48u, "1e-07" },
	{ 0x3eb0c6f7a0b5ed8du, "0.000001" },         /* 1e-6: still 'f' */
	{ 0x3eb0c6f7a0b5ed8cu, "9.999999999999997e-07" },
	{ 0x3ee4f8b588e368f1u, "0.00001" },
	{ 0x3f1a36e2eb1c432du, "0.0001" },
	{ 0x3eb4000000000000u, "0.0000011920928955078125" },
	{ 0x444b1ae4d6e2ef50u, "1e+21" },
	{ 0x444b1ae4d6e2ef4fu, "999999999999999900000" }, /* just below 1e21 */
	{ 0x4415af1d78b58c40u, "100000000000000000000" },
	{ 0x44b52d02c7e14af6u, "1e+23" },
	{ 0x0000000000000001u, "5e-324" },
	{ 0x8000000000000001u, "-5e-324" },
	{ 0x0000000000000003u, "1.5e-323" },
	{ 0x7fefffffffffffffu, "1.7976931348623157e+308" },
	{ 0x0010000000000000u, "2.2250738585072014e-308" },
	{ 0x4340000000000000u, "9007199254740992" },
	{ 0x4340000000000001u, "9007199254740994" },
	{ 0x43e0000000000000u, "9223372036854776000" }, /* 2^63 */
	{ 0x4059000000000000u, "100" },
	{ 0xc0c81c8000000000u, "-12345" },
	{ 0x3fe0000000000000u, "0.5" },
	{ 0x400921fb54442d18u, "3.141592653589793" },
	{ 0x3fd5555555555555u, "0.3333333333333333" },
	{ 0x3fd1111111111111u, "0.26666666666666666" },
	/* powers of two, where the rounding interval is lopsided */
	{ 0x6c50000000000000u, "5.386379163185535e+213" },
	{ 0xa910000000000000u, "-6.653062250012736e-111" },
	{ 0x3f00000000000000u, "0.000030517578125" },
	{ 0x44a0000000000000u, "3.777893186295716e+22" },
	{ 0x3f00000000000007u, "0.00003051757812500005" },
};

START_TEST(test_util_buf_add_float)
{
	size_t i;

	for (i = 0; i < sizeof(float_cases) / sizeof(float_cases[0]); i++) {
		struct buf b = BUF_INIT;

		buf_addstr(&b, "<");
		buf_add_float(&b, of_u64(float_cases[i].bits));
		ck_assert_msg(strcmp(b.data + 1, float_cases[i].want) == 0,
			      "%016llx: got %s want %s", (unsigned long long)float_cases[i].bits,
			      b.data + 1, float_cases[i].want);
		buf_release(&b);
	}
}
END_TEST

/* Every finite value must parse back to the same bits, in plain 'f' or
 * 'e' form: at most 17 significant digits, so 25 characters at most
 * ("-0.000001" plus 16 more digits). Shortness is pinned by the table. */
START_TEST(test_util_buf_add_float_roundtrip)
{
	uint64_t x = 88172645463325252u;
	int i;

	for (i = 0; i < 20000; i++) {
		struct buf b = BUF_INIT;
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = of_u64(i % 2 ? x : u64_of((double)(x % 100000000) / 1000.0));
		if (!isfinite(v))
			continue;
		buf_add_float(&b, v);
		ck_assert(buf_ok(&b));
		ck_assert_msg(u64_of(strtod(b.data, NULL)) == u64_of(v), "%s does not parse back",
			      b.data);
		ck_assert_ptr_null(strchr(b.data, 'E'));
		ck_assert_uint_le(strlen(b.data), 25);
		buf_release(&b);
	}
}
END_TEST

START_TEST(test_util_error_helpers)
{
	struct ts_error err;

	ck_assert_int_eq(ts_error_set(&err, TS_ERR_INVALID, "bad %s", "thing"), TS_ERR_INVALID);
	ck_assert_int_eq(err.code, TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "bad thing");
	ck_assert_int_eq(ts_error_set_pos(&err, TS_ERR_CORRUPT, 12, 3, 4, "x"), TS_ERR_CORRUPT);
	ck_assert_uint_eq(err.pos, 12);
	ck_assert_int_eq(err.line, 3);
	ck_assert_int_eq(err.col, 4);
	ts_error_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_int_eq(ts_error_set(NULL, TS_ERR_IO, "ignored"), TS_ERR_IO);
	ts_error_clear(NULL);
	ck_assert_ptr_nonnull(ts_strerror(TS_ERR_NOMEM));
	ck_assert_ptr_nonnull(ts_strerror(12345));
}
END_TEST

/* ------------------------------------------------------------ gzip */

/* gzip-compress in[0..n) into out (cap bytes); returns the length. */
static size_t gz(const void *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = z.total_out;
	deflateEnd(&z);
	return n;
}

START_TEST(test_util_gzip_round_trip_and_limit)
{
	static uint8_t plain[100000], packed[200000];
	size_t plen, olen;
	char *out;

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)("cpu,host=a usage=1.5 1\n"[i % 24]);
	plen = gz(plain, sizeof(plain), packed, sizeof(packed));
	ck_assert_uint_lt(plen, sizeof(plain) / 10);

	/* exactly the limit is fine; the buffer grows from its first guess */
	ck_assert_int_eq(gzip_inflate(packed, plen, sizeof(plain), &out, &olen), 0);
	ck_assert_uint_eq(olen, sizeof(plain));
	ck_assert_mem_eq(out, plain, sizeof(plain));
	ck_assert_int_eq(out[olen], '\0');
	free(out);

	/* one byte more than the limit is refused */
	out = NULL;
	ck_assert_int_eq(gzip_inflate(packed, plen, sizeof(plain) - 1, &out, &olen),
			 TS_ERR_LIMIT);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_util_gzip_members_corrupt_truncated)
{
	uint8_t packed[4096], bad[4096];
	size_t a, b, olen;
	char *out = NULL;

	/* two concatenated members inflate to both texts */
	a = gz("hello ", 6, packed, sizeof(packed));
	b = gz("world", 5, packed + a, sizeof(packed) - a);
	ck_assert_int_eq(gzip_inflate(packed, a + b, 1024, &out, &olen), 0);
	ck_assert_uint_eq(olen, 11);
	ck_assert_str_eq(out, "hello world");
	free(out);
	out = NULL;

	/* cut anywhere inside the stream: corrupt, never success */
	for (size_t cut = 1; cut < a; cut++)
		ck_assert_int_eq(gzip_inflate(packed, cut, 1024, &out, &olen), TS_ERR_INVALID);
	ck_assert_ptr_null(out);

	/* not gzip at all */
	memset(bad, 'x', 64);
	ck_assert_int_eq(gzip_inflate(bad, 64, 1024, &out, &olen), TS_ERR_INVALID);
	ck_assert_ptr_null(out);
}
END_TEST

Suite *util_suite(void);

Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc;

	tc = tcase_create("arena");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_util_arena_alignment);
	tcase_add_test(tc, test_util_arena_no_overlap);
	tcase_add_test(tc, test_util_arena_big);
	tcase_add_test(tc, test_util_arena_limit);
	tcase_add_test(tc, test_util_arena_overflow);
	tcase_add_test(tc, test_util_arena_reset_and_calloc);
	tcase_add_test(tc, test_util_arena_strings);
	tcase_add_test(tc, test_util_arena_protobuf_allocator);
	suite_add_tcase(s, tc);

	tc = tcase_create("buf");
	tcase_add_test(tc, test_util_buf_growth);
	tcase_add_test(tc, test_util_buf_printf);
	tcase_add_test(tc, test_util_buf_detach);
	tcase_add_test(tc, test_util_buf_oom_sticky);
	suite_add_tcase(s, tc);

	tc = tcase_create("float");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_util_buf_add_float);
	tcase_add_test(tc, test_util_buf_add_float_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("error");
	tcase_add_test(tc, test_util_error_helpers);
	tcase_add_test(tc, test_util_gzip_round_trip_and_limit);
	tcase_add_test(tc, test_util_gzip_members_corrupt_truncated);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
