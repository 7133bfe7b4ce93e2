/* check_exemplars.c - the bounded exemplar ring and the chunk-level read
 * of the storage facade (querier_select_chunks) */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunk_xor.h"
#include "tsdb/db.h"
#include "tsdb/exemplars.h"

/* A label set from "name", "value", ... pairs (static storage). */
#define LS(...)                                                                   \
	((struct labels){ (struct label[]){ __VA_ARGS__ },                         \
			  sizeof((struct label[]){ __VA_ARGS__ }) / sizeof(struct label) })

static struct matcher eq(const char *name, const char *value)
{
	struct matcher m;
	struct ts_error err;

	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, name, value, &err), 0);
	return m;
}

START_TEST(test_exemplars_order_rules)
{
	struct exemplars *ex = exemplars_new(10);
	struct labels s = LS({ "__name__", "a" }, { "job", "x" });
	struct labels e1 = LS({ "trace_id", "t1" });
	struct labels e2 = LS({ "trace_id", "t2" });

	ck_assert_ptr_nonnull(ex);
	ck_assert_int_eq(exemplars_add(ex, &s, &e1, 1000, 1.5), 0);
	/* an exact repeat of the newest is accepted and not stored twice */
	ck_assert_int_eq(exemplars_add(ex, &s, &e1, 1000, 1.5), 0);
	ck_assert_uint_eq(exemplars_count(ex), 1);
	/* same time, other value; older: out of order */
	ck_assert_int_eq(exemplars_add(ex, &s, &e2, 1000, 2.5), TS_ERR_OUT_OF_ORDER);
	ck_assert_int_eq(exemplars_add(ex, &s, &e2, 999, 2.5), TS_ERR_OUT_OF_ORDER);
	ck_assert_int_eq(exemplars_add(ex, &s, &e2, 2000, 2.5), 0);
	ck_assert_uint_eq(exemplars_count(ex), 2);
	{
		/* 8 + 120 characters is the limit; one more is refused */
		char val[130];
		struct labels big = LS({ "trace_id", val });

		memset(val, 'x', 120);
		val[120] = '\0';
		ck_assert_int_eq(exemplars_add(ex, &s, &big, 3000, 1), 0);
		val[120] = 'x';
		val[121] = '\0';
		ck_assert_int_eq(exemplars_add(ex, &s, &big, 4000, 1), TS_ERR_INVALID);
		ck_assert_uint_eq(exemplars_count(ex), 3);
	}
	{
		/* characters, not bytes: 120 two-byte characters pass */
		char wide[250];
		struct labels big = LS({ "trace_id", wide });

		for (int i = 0; i < 120; i++)
			memcpy(wide + 2 * i, "\xc3\xa9", 2);
		wide[240] = '\0';
		ck_assert_int_eq(exemplars_add(ex, &s, &big, 5000, 1), 0);
		ck_assert_uint_eq(exemplars_count(ex), 4);
	}
	exemplars_free(ex);
	exemplars_free(NULL);
}
END_TEST

START_TEST(test_exemplars_ring_drops_oldest)
{
	struct exemplars *ex = exemplars_new(4);
	struct labels s = LS({ "__name__", "a" });
	struct labels e = LS({ "trace_id", "t" });
	struct exemplar_set set;
	int64_t t;

	for (t = 1; t <= 10; t++)
		ck_assert_int_eq(exemplars_add(ex, &s, &e, t, (double)t), 0);
	ck_assert_uint_eq(exemplars_count(ex), 4);
	ck_assert_int_eq(exemplars_select(ex, NULL, NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.s[0].n, 4);
	for (t = 0; t < 4; t++) {
		ck_assert_int_eq(set.s[0].e[t].t, 7 + t);
		ck_assert(set.s[0].e[t].v == (double)(7 + t));
	}
	exemplar_set_release(&set);
	ck_assert_ptr_null(set.mem);
	exemplars_free(ex);
}
END_TEST

START_TEST(test_exemplars_select_groups_and_matches)
{
	struct db *db = db_open(NULL, NULL, &(struct ts_error){ 0 });
	struct labels a = LS({ "__name__", "req" }, { "code", "200" });
	struct labels b = LS({ "__name__", "req" }, { "code", "500" });
	struct labels c = LS({ "__name__", "other" });
	struct labels e = LS({ "span_id", "s" }, { "trace_id", "abc" });
	struct matcher m1[2], m2[1];
	const struct matcher *sets[2] = { m1, m2 };
	size_t nms[2] = { 2, 1 };
	struct exemplar_set set;
	struct querier *q;
	struct ts_error err;

	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(db_add_exemplar(db, &b, &e, 3000, 3), 0);
	ck_assert_int_eq(db_add_exemplar(db, &a, &e, 1000, 1), 0);
	ck_assert_int_eq(db_add_exemplar(db, &c, &e, 1500, 9), 0);
	ck_assert_int_eq(db_add_exemplar(db, &a, &e, 2000, 2), 0);
	q = db_querier(db);

	/* {__name__="req", code="200"} or {__name__="other"}, in [1000, 1999] */
	m1[0] = eq("__name__", "req");
	m1[1] = eq("code", "200");
	m2[0] = eq("__name__", "other");
	ck_assert_int_eq(querier_exemplars(q, sets, nms, 2, 1000, 1999, &set, &err), 0);
	ck_assert_uint_eq(set.n, 2);
	/* series sorted by labels: other < req */
	ck_assert_str_eq(set.s[0].series.v[0].value, "other");
	ck_assert_uint_eq(set.s[0].n, 1);
	ck_assert_str_eq(set.s[1].series.v[1].value, "200");
	ck_assert_uint_eq(set.s[1].n, 1);
	ck_assert_int_eq(set.s[1].e[0].t, 1000);
	ck_assert_uint_eq(set.s[1].e[0].labels.n, 2);
	ck_assert_str_eq(set.s[1].e[0].labels.v[1].value, "abc");
	exemplar_set_release(&set);

	/* every series, whole time: req{200} has two, in time order */
	ck_assert_int_eq(querier_exemplars(q, NULL, NULL, 0, INT64_MIN, INT64_MAX, &set, &err),
			 0);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_uint_eq(set.s[1].n, 2);
	ck_assert_int_eq(set.s[1].e[0].t, 1000);
	ck_assert_int_eq(set.s[1].e[1].t, 2000);
	exemplar_set_release(&set);

	matcher_release(&m1[0]);
	matcher_release(&m1[1]);
	matcher_release(&m2[0]);
	querier_free(q);
	db_close(db);
}
END_TEST

/* Decode a chunk into t/v; returns the number of samples. */
static size_t decode(const struct series_chunk *c, int64_t *t, double *v, size_t cap)
{
	struct xor_iter it;
	size_t n = 0;

	xor_iter_init(&it, c->data, c->len);
	while (n < cap && xor_iter_next(&it, &t[n], &v[n]) == 1)
		n++;
	return n;
}

START_TEST(test_exemplars_select_chunks_whole_stored_chunks)
{
	struct db_opts o = { .chunk_samples = 120 };
	struct db *db = db_open(NULL, &o, &(struct ts_error){ 0 });
	struct labels s = LS({ "__name__", "m" }, { "job", "j" });
	struct labels other = LS({ "__name__", "n" });
	struct appender *app = db_appender(db);
	struct matcher m = eq("__name__", "m");
	struct chunk_set set;
	struct querier *q;
	struct ts_error err;
	uint64_t ref = 0, ref2 = 0;
	int64_t t[200];
	double v[200];
	size_t i, n;

	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(appender_add(app, &s, &ref, (int64_t)i * 1000, (double)i), 0);
		ck_assert_int_eq(appender_add(app, &other, &ref2, (int64_t)i * 1000, 1), 0);
	}
	ck_assert_int_eq(appender_commit(app), 0);
	q = db_querier(db);

	/* the whole range: three stored chunks, 120 + 120 + the open 60 */
	ck_assert_int_eq(querier_select_chunks(q, &m, 1, INT64_MIN, INT64_MAX, &set, &err), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.s[0].n, 3);
	ck_assert_int_eq(set.s[0].c[0].mint, 0);
	ck_assert_int_eq(set.s[0].c[0].maxt, 119000);
	ck_assert_int_eq(set.s[0].c[2].mint, 240000);
	ck_assert_int_eq(set.s[0].c[2].maxt, 299000);
	n = decode(&set.s[0].c[1], t, v, 200);
	ck_assert_uint_eq(n, 120);
	ck_assert_int_eq(t[0], 120000);
	ck_assert(v[119] == 239.0);
	ck_assert_uint_eq(decode(&set.s[0].c[2], t, v, 200), 60);
	chunk_set_release(&set);
	ck_assert_uint_eq(set.n, 0);

	/* a range inside the second chunk: that chunk only, whole */
	ck_assert_int_eq(querier_select_chunks(q, &m, 1, 130000, 131000, &set, &err), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.s[0].n, 1);
	ck_assert_int_eq(set.s[0].c[0].mint, 120000);
	chunk_set_release(&set);

	/* nothing in range: no series */
	ck_assert_int_eq(querier_select_chunks(q, &m, 1, 400000, 500000, &set, &err), 0);
	ck_assert_uint_eq(set.n, 0);
	chunk_set_release(&set);

	matcher_release(&m);
	querier_free(q);
	db_close(db);
}
END_TEST

Suite *exemplars_suite(void);

Suite *exemplars_suite(void)
{
	Suite *s = suite_create("exemplars");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_exemplars_order_rules);
	tcase_add_test(tc, test_exemplars_ring_drops_oldest);
	tcase_add_test(tc, test_exemplars_select_groups_and_matches);
	tcase_add_test(tc, test_exemplars_select_chunks_whole_stored_chunks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(exemplars_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
