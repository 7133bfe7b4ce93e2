/* check_head.c - series table, append rules, chunks and memory per series */
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/head.h"

static uint64_t bits(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static struct head_series *series(struct head *h, const char *name, const char *job)
{
	struct label l[2] = { { "__name__", name }, { "job", job } };
	struct labels ls = { l, 2 };
	struct head_series *s = head_get_or_create(h, &ls, labels_hash(&ls), NULL);

	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(test_head_series_identity)
{
	struct head *h = head_new(NULL);
	char name[] = "up", job[] = "api";
	struct label l[2] = { { "__name__", name }, { "job", job } };
	struct labels ls = { l, 2 };
	struct head_series *a, *b, *c;
	bool created;

	a = head_get_or_create(h, &ls, labels_hash(&ls), &created);
	ck_assert(created);
	b = head_get_or_create(h, &ls, labels_hash(&ls), &created);
	ck_assert(!created);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_eq(head_get(h, &ls, labels_hash(&ls)), a);
	c = series(h, "up", "db");
	ck_assert_ptr_ne(a, c);
	ck_assert_uint_eq(head_series_id(a), 0);
	ck_assert_uint_eq(head_series_id(c), 1);
	ck_assert_ptr_eq(head_series_by_id(h, 1), c);
	ck_assert_ptr_null(head_series_by_id(h, 2));
	/* labels are interned copies: shared name pointers, not the caller's */
	ck_assert_ptr_ne(head_series_labels(a)->v[0].value, name);
	ck_assert_ptr_eq(head_series_labels(a)->v[0].value, head_series_labels(c)->v[0].value);
	ck_assert_str_eq(head_series_labels(a)->v[1].value, "api");
	/* a lookup with a's hash but other labels (a collision) finds nothing */
	uint64_t ha = labels_hash(&ls);
	l[1].value = "other";
	ck_assert_ptr_null(head_get(h, &ls, ha));
	ck_assert_ptr_nonnull(head_get_or_create(h, &ls, ha, &created));
	ck_assert(created);
	l[1].value = "api";
	ck_assert_ptr_eq(head_get(h, &ls, ha), a);
	head_free(h);
	head_free(NULL);
}
END_TEST

START_TEST(test_head_append_order_rules)
{
	struct head *h = head_new(NULL);
	struct head_series *s = series(h, "up", "a");
	int64_t *t;
	double *v;
	long n;

	ck_assert_int_eq(head_series_append(h, s, 1000, bits(1.0)), 0);
	ck_assert_int_eq(head_series_append(h, s, 2000, bits(2.0)), 0);
	/* older samples go to the out-of-order store */
	ck_assert_int_eq(head_series_append(h, s, 1500, bits(3.0)), 0);
	ck_assert_int_eq(head_series_append(h, s, 1500, bits(3.5)), TS_ERR_DUPLICATE);
	ck_assert_int_eq(head_series_append(h, s, 1000, bits(9.0)), TS_ERR_DUPLICATE);
	ck_assert_int_eq(head_series_append(h, s, 1000, bits(1.0)), 1);
	ck_assert_int_eq(head_series_append(h, s, 2000, bits(2.5)), TS_ERR_DUPLICATE);
	ck_assert_int_eq(head_series_append(h, s, 2000, bits(2.0)), 1); /* same: not stored */
	ck_assert_int_eq(head_series_append(h, s, -5, bits(2.0)), 0);
	ck_assert_int_eq(head_series_append(h, s, 3000, bits(-0.0)), 0);
	/* -0.0 and 0.0 differ in bits: a duplicate, not the same sample */
	ck_assert_int_eq(head_series_append(h, s, 3000, bits(0.0)), TS_ERR_DUPLICATE);

	n = head_series_samples(h, s, INT64_MIN, INT64_MAX, &t, &v);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(t[0], -5);
	ck_assert_int_eq(t[1], 1000);
	ck_assert_int_eq(t[2], 1500);
	ck_assert_int_eq(t[3], 2000);
	ck_assert_int_eq(t[4], 3000);
	ck_assert(v[0] == 2.0 && v[1] == 1.0 && v[2] == 3.0 && v[3] == 2.0);
	ck_assert_uint_eq(bits(v[4]), bits(-0.0));
	free(t);
	free(v);

	/* a first sample may have any timestamp, negative too */
	s = series(h, "up", "b");
	ck_assert_int_eq(head_series_append(h, s, -100, bits(1.0)), 0);
	head_free(h);
}
END_TEST

START_TEST(test_head_chunk_cut_at_120)
{
	struct head *h = head_new(NULL);
	struct head_series *s = series(h, "m", "a");
	int64_t *t;
	double *v;
	long n;

	for (int i = 0; i < 120; i++)
		ck_assert_int_eq(head_series_append(h, s, i * 15000, bits(i * 1.5)), 0);
	ck_assert_uint_eq(head_num_chunks(h), 1);
	ck_assert_int_eq(head_series_append(h, s, 120 * 15000, bits(0.5)), 0);
	ck_assert_uint_eq(head_num_chunks(h), 2);
	for (int i = 121; i < 240; i++)
		ck_assert_int_eq(head_series_append(h, s, i * 15000, bits(i * 1.5)), 0);
	ck_assert_uint_eq(head_num_chunks(h), 2);
	ck_assert_int_eq(head_series_append(h, s, 240 * 15000, bits(7.0)), 0);
	ck_assert_uint_eq(head_num_chunks(h), 3);

	n = head_series_samples(h, s, INT64_MIN, INT64_MAX, &t, &v);
	ck_assert_int_eq(n, 241);
	for (int i = 0; i < 241; i++)
		ck_assert_int_eq(t[i], i * 15000);
	ck_assert(v[119] == 119 * 1.5 && v[120] == 0.5 && v[240] == 7.0);
	free(t);
	free(v);

	/* a range inside the middle chunk, and one across the boundaries */
	n = head_series_samples(h, s, 130 * 15000, 135 * 15000, &t, &v);
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(t[0], 130 * 15000);
	free(t);
	free(v);
	n = head_series_samples(h, s, 119 * 15000 - 1, 240 * 15000, &t, &v);
	ck_assert_int_eq(n, 122);
	ck_assert_int_eq(t[0], 119 * 15000);
	ck_assert_int_eq(t[121], 240 * 15000);
	free(t);
	free(v);
	/* count-only presence checks, incl. a gap between samples */
	ck_assert_int_eq(head_series_samples(h, s, 15001, 29999, NULL, NULL), 0);
	ck_assert_int_eq(head_series_samples(h, s, 15001, 30000, NULL, NULL), 1);
	ck_assert_int_eq(head_series_samples(h, s, 240 * 15000 + 1, INT64_MAX, NULL, NULL), 0);
	ck_assert_int_eq(head_series_samples(h, s, INT64_MIN, -1, NULL, NULL), 0);
	ck_assert_int_eq(head_series_samples(h, s, 5, 4, NULL, NULL), 0);
	ck_assert_int_eq(head_series_samples(h, s, 5, 4, &t, &v), 0);
	ck_assert_ptr_null(t);
	head_free(h);
}
END_TEST

START_TEST(test_head_chunk_samples_option)
{
	struct head_opts o = { .chunk_samples = 10 };
	struct head *h = head_new(&o);
	struct head_series *s = series(h, "m", "a");

	for (int i = 0; i < 25; i++)
		ck_assert_int_eq(head_series_append(h, s, i, bits(i)), 0);
	ck_assert_uint_eq(head_num_chunks(h), 3);
	head_free(h);
}
END_TEST

START_TEST(test_head_stale_marker_bits)
{
	struct head *h = head_new(NULL);
	struct head_series *s = series(h, "m", "a");
	const uint64_t stale = 0x7ff0000000000002ULL, qnan = 0x7ff8000000000001ULL;
	int64_t *t;
	double *v;

	ck_assert_int_eq(head_series_append(h, s, 1, bits(1.0)), 0);
	ck_assert_int_eq(head_series_append(h, s, 2, stale), 0);
	ck_assert_int_eq(head_series_append(h, s, 3, qnan), 0);
	ck_assert_int_eq(head_series_append(h, s, 4, bits(INFINITY)), 0);
	/* same NaN bits again: the same sample, not a duplicate */
	ck_assert_int_eq(head_series_append(h, s, 4, bits(INFINITY)), 1);
	ck_assert_int_eq(head_series_append(h, s, 5, stale), 0);
	ck_assert_int_eq(head_series_append(h, s, 5, stale), 1);
	ck_assert_int_eq(head_series_append(h, s, 5, qnan), TS_ERR_DUPLICATE);
	ck_assert_int_eq(head_series_samples(h, s, 0, 10, &t, &v), 5);
	ck_assert_uint_eq(bits(v[1]), stale);
	ck_assert_uint_eq(bits(v[2]), qnan);
	ck_assert(isinf(v[3]));
	ck_assert_uint_eq(bits(v[4]), stale);
	free(t);
	free(v);
	head_free(h);
}
END_TEST

#define THREADS 4
#define TSERIES 1000
#define TSAMPLES 300

struct thr {
	struct head *h;
	int idx;
	struct head_series *seen[TSERIES];
	int errors;
};

static void *append_thread(void *p)
{
	struct thr *a = p;
	char job[16];

	/* every thread resolves every series (racing creations) ... */
	for (int i = 0; i < TSERIES; i++) {
		struct label l[2] = { { "__name__", "c" }, { "job", job } };
		struct labels ls = { l, 2 };

		snprintf(job, sizeof(job), "j%d", i);
		a->seen[i] = head_get_or_create(a->h, &ls, labels_hash(&ls), NULL);
		if (!a->seen[i])
			a->errors++;
	}
	/* ... and appends to its quarter, interleaving series */
	for (int k = 0; k < TSAMPLES; k++)
		for (int i = a->idx; i < TSERIES; i += THREADS)
			if (head_series_append(a->h, a->seen[i], k * 1000, bits(k + i)) != 0)
				a->errors++;
	return NULL;
}

static void *read_thread(void *p)
{
	struct thr *a = p;

	/* concurrent reader: whatever it sees must be a sorted prefix */
	for (int r = 0; r < 200; r++) {
		for (uint32_t id = 0; id < head_num_series(a->h); id += 37) {
			struct head_series *s = head_series_by_id(a->h, id);
			int64_t *t;
			double *v;
			long n;

			if (!s)
				continue;
			n = head_series_samples(a->h, s, INT64_MIN, INT64_MAX, &t, &v);
			for (long k = 0; k < n; k++)
				if (t[k] != k * 1000)
					a->errors++;
			if (n > 0) {
				free(t);
				free(v);
			}
		}
	}
	return NULL;
}

START_TEST(test_head_concurrent_appends)
{
	struct head *h = head_new(NULL);
	struct thr args[THREADS + 1];
	pthread_t th[THREADS + 1];

	for (int i = 0; i <= THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].h = h;
		args[i].idx = i;
		pthread_create(&th[i], NULL, i < THREADS ? append_thread : read_thread, &args[i]);
	}
	for (int i = 0; i <= THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].errors, 0);
	}
	ck_assert_uint_eq(head_num_series(h), TSERIES);
	for (int i = 0; i < TSERIES; i++) {
		int64_t *t;
		double *v;

		for (int k = 1; k < THREADS; k++)
			ck_assert_ptr_eq(args[0].seen[i], args[k].seen[i]);
		ck_assert_int_eq(head_series_samples(h, args[0].seen[i], INT64_MIN, INT64_MAX,
						     &t, &v), TSAMPLES);
		for (int k = 0; k < TSAMPLES; k++) {
			ck_assert_int_eq(t[k], k * 1000);
			ck_assert(v[k] == k + i);
		}
		free(t);
		free(v);
	}
	/* 300 samples = 3 chunks per series */
	ck_assert_uint_eq(head_num_chunks(h), TSERIES * 3);
	head_free(h);
}
END_TEST

#define MSERIES 20000

START_TEST(test_head_bytes_per_series)
{
	static const char *const envs[] = { "prod", "staging", "dev" };
	static const char *const metrics[] = {
		"http_requests_total", "process_cpu_seconds_total", "node_memory_MemFree_bytes",
		"http_request_duration_seconds_bucket",
	};
	struct head *h;
	struct head_series **ss = malloc(MSERIES * sizeof(*ss));
	char inst[32], pod[48], le[16], path[32];
	size_t before_heap, bytes;
	struct mallinfo2 m0, m1;
	double heap_per;

	m0 = mallinfo2();
	h = head_new(NULL);
	before_heap = head_bytes(h);
	for (int i = 0; i < MSERIES; i++) {
		/* ~10 labels of typical size */
		struct label l[10] = {
			{ "__name__", metrics[i % 4] },
			{ "app", "checkout-service" },
			{ "cluster", "eu-west-1-prod" },
			{ "env", envs[i % 3] },
			{ "instance", inst },
			{ "job", "kubernetes-pods" },
			{ "le", le },
			{ "namespace", "shop" },
			{ "path", path },
			{ "pod", pod },
		};
		struct labels ls = { l, 10 };

		snprintf(inst, sizeof(inst), "10.1.%d.%d:9090", (i / 50) % 256, i % 250);
		snprintf(pod, sizeof(pod), "checkout-service-7d9f8b6c4-%05d", i / 20);
		snprintf(le, sizeof(le), "%g", 0.005 * (1 << (i % 10)));
		snprintf(path, sizeof(path), "/api/v1/item/%d", i % 40);
		ss[i] = head_get_or_create(h, &ls, labels_hash(&ls), NULL);
		ck_assert_ptr_nonnull(ss[i]);
	}
	/* half an open chunk of realistic values per series (scrape every 15s) */
	for (int k = 0; k < 60; k++)
		for (int i = 0; i < MSERIES; i++) {
			double v = (i % 2) ? 1000.0 + k * 3.25 * (i % 7) : 12345.678 + k;

			ck_assert_int_eq(head_series_append(h, ss[i], 1700000000000 + k * 15000 +
							    (k % 3), bits(v)), 0);
		}
	bytes = head_bytes(h) - before_heap;
	m1 = mallinfo2();
	heap_per = (double)((m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd)) / MSERIES;
	fprintf(stderr, "head: %.0f bytes/series accounted, %.0f bytes/series malloc'd "
		"(%d series, 10 labels, 60 samples each)\n",
		(double)bytes / MSERIES, heap_per, MSERIES);
	ck_assert_uint_lt(bytes / MSERIES, 1024);
	/* mallinfo2 reports nothing useful under sanitizers: only check when sane */
	if (heap_per > 100)
		ck_assert_double_lt(heap_per, 1024);
	head_free(h);
	free(ss);
}
END_TEST

Suite *head_suite(void);

Suite *head_suite(void)
{
	Suite *s = suite_create("head");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_head_series_identity);
	tcase_add_test(tc, test_head_append_order_rules);
	tcase_add_test(tc, test_head_chunk_cut_at_120);
	tcase_add_test(tc, test_head_chunk_samples_option);
	tcase_add_test(tc, test_head_stale_marker_bits);
	tcase_add_test(tc, test_head_concurrent_appends);
	tcase_add_test(tc, test_head_bytes_per_series);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(head_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
