/*
 * check_engine.c - the PromQL engine's contract beyond the conformance
 * files: limits and their error codes, range-query type errors, result
 * ownership (the result outlives the store's querier), range results
 * sorted by labels, and annotations.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine.h"
#include "tsdb/db.h"

Suite *engine_suite(void);

/* A memory store with up{job="a|b|c", instance="0..n-1"} = i, every 15s
 * for 10 minutes. */
static struct db *make_db(int instances)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);
	ck_assert_ptr_nonnull(db);
	struct appender *a = db_appender(db);
	ck_assert_ptr_nonnull(a);
	static const char *const jobs[] = { "c", "a", "b" };
	for (int j = 0; j < 3; j++)
		for (int i = 0; i < instances; i++) {
			char inst[16];
			snprintf(inst, sizeof(inst), "%d", i);
			struct label l[] = { { "__name__", "up" }, { "instance", inst }, { "job", jobs[j] } };
			struct labels ls = { l, 3 };
			uint64_t ref = 0;
			for (int k = 0; k <= 40; k++)
				ck_assert_int_eq(appender_add(a, &ls, &ref, (int64_t)k * 15000, i), 0);
		}
	ck_assert_int_eq(appender_commit(a), 0);
	return db;
}

START_TEST(test_engine_instant_selector_and_lookback)
{
	struct db *db = make_db(2);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_instant(db, "up{job=\"a\"}", 600000, NULL, &r, &err), 0);
	ck_assert_int_eq(r.type, PQL_VECTOR);
	ck_assert_uint_eq(r.u.vector.n, 2);
	for (size_t i = 0; i < r.u.vector.n; i++)
		ck_assert_int_eq(r.u.vector.v[i].t, 600000);
	pql_result_release(&r);

	/* the newest sample is at 600s: gone after the 5m lookback */
	ck_assert_int_eq(pql_exec_instant(db, "up", 900000, NULL, &r, &err), 0);
	ck_assert_uint_eq(r.u.vector.n, 0);
	pql_result_release(&r);
	/* a shorter configured lookback */
	struct pql_opts o = { .lookback_ms = 10000 };
	ck_assert_int_eq(pql_exec_instant(db, "up", 620000, &o, &r, &err), 0);
	ck_assert_uint_eq(r.u.vector.n, 0);
	pql_result_release(&r);
	db_close(db);
}
END_TEST

START_TEST(test_engine_result_outlives_store)
{
	struct db *db = make_db(1);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_range(db, "up", 0, 600000, 60000, NULL, &r, &err), 0);
	db_close(db); /* every label string must live in the result's arena */
	ck_assert_int_eq(r.type, PQL_MATRIX);
	ck_assert_uint_eq(r.u.matrix.n, 3);
	/* sorted by labels: job a, b, c */
	ck_assert_str_eq(labels_get(&r.u.matrix.s[0].labels, "job"), "a");
	ck_assert_str_eq(labels_get(&r.u.matrix.s[1].labels, "job"), "b");
	ck_assert_str_eq(labels_get(&r.u.matrix.s[2].labels, "job"), "c");
	ck_assert_uint_eq(r.u.matrix.s[0].n, 11);
	ck_assert_int_eq(r.u.matrix.s[0].pts[10].t, 600000);
	pql_result_release(&r);
	pql_result_release(&r); /* safe on a zeroed result */
}
END_TEST

START_TEST(test_engine_scalar_and_string)
{
	struct db *db = make_db(1);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_instant(db, "1 + 2 * 3", 1000, NULL, &r, &err), 0);
	ck_assert_int_eq(r.type, PQL_SCALAR);
	ck_assert(r.u.scalar.v == 7);
	pql_result_release(&r);
	ck_assert_int_eq(pql_exec_instant(db, "\"hello\"", 1000, NULL, &r, &err), 0);
	ck_assert_int_eq(r.type, PQL_STRING);
	ck_assert_str_eq(r.u.string.s, "hello");
	pql_result_release(&r);
	/* a scalar range query is one series without labels */
	ck_assert_int_eq(pql_exec_range(db, "time()", 0, 120000, 60000, NULL, &r, &err), 0);
	ck_assert_uint_eq(r.u.matrix.n, 1);
	ck_assert_uint_eq(r.u.matrix.s[0].labels.n, 0);
	ck_assert_uint_eq(r.u.matrix.s[0].n, 3);
	ck_assert(r.u.matrix.s[0].pts[2].v == 120);
	pql_result_release(&r);
	db_close(db);
}
END_TEST

START_TEST(test_engine_range_query_type_errors)
{
	struct db *db = make_db(1);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_range(db, "up[5m]", 0, 60000, 15000, NULL, &r, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector");
	ck_assert_int_eq(pql_exec_range(db, "\"x\"", 0, 60000, 15000, NULL, &r, &err), TS_ERR_INVALID);
	ck_assert_int_eq(pql_exec_range(db, "up", 0, 60000, 0, NULL, &r, &err), TS_ERR_INVALID);
	ck_assert_int_eq(pql_exec_range(db, "up", 60000, 0, 1000, NULL, &r, &err), TS_ERR_INVALID);
	/* parse errors are TS_ERR_INVALID with a position */
	ck_assert_int_eq(pql_exec_instant(db, "sum(", 0, NULL, &r, &err), TS_ERR_INVALID);
	ck_assert_ptr_null(r.arena);
	db_close(db);
}
END_TEST

START_TEST(test_engine_sample_limit)
{
	struct db *db = make_db(10);
	struct pql_result r;
	struct ts_error err;
	struct pql_opts o = { .max_samples = 100 };

	/* 30 series x 41 steps = 1230 points > 100 */
	ck_assert_int_eq(pql_exec_range(db, "up", 0, 600000, 15000, &o, &r, &err), TS_ERR_LIMIT);
	ck_assert_str_eq(err.msg, "query processing would load too many samples into memory in query execution");
	ck_assert_ptr_null(r.arena);
	/* the same query fits a bigger budget */
	o.max_samples = 2000;
	ck_assert_int_eq(pql_exec_range(db, "up", 0, 600000, 15000, &o, &r, &err), 0);
	pql_result_release(&r);
	/* aggregation releases its input: 30 x 41 loaded, then 41 kept */
	ck_assert_int_eq(pql_exec_range(db, "sum(up)", 0, 600000, 15000, &o, &r, &err), 0);
	ck_assert_uint_eq(r.u.matrix.n, 1);
	pql_result_release(&r);
	db_close(db);
}
END_TEST

START_TEST(test_engine_timeout)
{
	struct db *db = make_db(20);
	struct pql_result r;
	struct ts_error err;
	struct pql_opts o = { .timeout_ms = 1, .max_samples = 1000000000 };
	int rc = 0;

	/* a heavy query: 60 series over ~11k steps, many times over */
	for (int i = 0; i < 50 && rc == 0; i++) {
		rc = pql_exec_range(db,
				    "sum(rate(up[5m])) + sum(avg_over_time(up[10m])) + count(up > 1)",
				    0, 11000000, 1000, &o, &r, &err);
		if (rc == 0)
			pql_result_release(&r);
	}
	ck_assert_int_eq(rc, TS_ERR_TIMEOUT);
	ck_assert_str_eq(err.msg, "query timed out in expression evaluation");
	db_close(db);
}
END_TEST

START_TEST(test_engine_exec_errors)
{
	struct db *db = make_db(1);
	struct pql_result r;
	struct ts_error err;

	/* many-to-many: the same labels on both sides after ignoring job */
	ck_assert_int_eq(pql_exec_instant(db, "up + ignoring(job) up", 600000, NULL, &r, &err),
			 TS_ERR_EXEC);
	ck_assert(strstr(err.msg, "many-to-many matching not allowed") != NULL);
	ck_assert_int_eq(pql_exec_instant(db, "label_replace(up, \"x\", \"y\", \"job\", \"(\")",
					  600000, NULL, &r, &err),
			 TS_ERR_EXEC);
	ck_assert_str_eq(err.msg, "invalid regular expression in label_replace(): (");
	/* dropping the name makes the three series collide */
	ck_assert_int_eq(pql_exec_instant(db, "label_replace(rate(up[5m]), \"job\", \"\", \"\", \"\")",
					  600000, NULL, &r, &err),
			 TS_ERR_EXEC);
	ck_assert_str_eq(err.msg, "vector cannot contain metrics with the same labelset");
	db_close(db);
}
END_TEST

START_TEST(test_engine_annotations)
{
	struct db *db = make_db(1);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_instant(db, "rate(up[5m])", 600000, NULL, &r, &err), 0);
	ck_assert_uint_eq(r.nwarnings, 0);
	ck_assert_uint_eq(r.ninfos, 1);
	ck_assert_str_eq(r.infos[0],
			 "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)");
	pql_result_release(&r);
	ck_assert_int_eq(pql_exec_instant(db, "quantile(1.5, up)", 600000, NULL, &r, &err), 0);
	ck_assert_uint_eq(r.nwarnings, 1);
	ck_assert_str_eq(r.warnings[0],
			 "PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)");
	ck_assert(isinf(r.u.vector.v[0].v));
	pql_result_release(&r);
	db_close(db);
}
END_TEST

START_TEST(test_engine_topk_order_and_delayed_name)
{
	struct db *db = make_db(4);
	struct pql_result r;
	struct ts_error err;

	ck_assert_int_eq(pql_exec_instant(db, "topk(3, up{job=\"a\"})", 600000, NULL, &r, &err), 0);
	ck_assert_uint_eq(r.u.vector.n, 3);
	ck_assert(r.u.vector.v[0].v == 3 && r.u.vector.v[1].v == 2 && r.u.vector.v[2].v == 1);
	pql_result_release(&r);
	/* the name is kept through label_replace onto __name__ */
	ck_assert_int_eq(pql_exec_instant(db,
					  "label_replace(abs(up{job=\"a\",instance=\"1\"}), \"__name__\", \"x_$1\", \"__name__\", \"(.+)\")",
					  600000, NULL, &r, &err),
			 0);
	ck_assert_uint_eq(r.u.vector.n, 1);
	ck_assert_str_eq(labels_get(&r.u.vector.v[0].labels, "__name__"), "x_up");
	pql_result_release(&r);
	ck_assert_int_eq(pql_exec_instant(db, "abs(up{job=\"a\",instance=\"1\"})", 600000, NULL, &r, &err), 0);
	ck_assert_ptr_null(labels_get(&r.u.vector.v[0].labels, "__name__"));
	pql_result_release(&r);
	db_close(db);
}
END_TEST

Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_engine_instant_selector_and_lookback);
	tcase_add_test(tc, test_engine_result_outlives_store);
	tcase_add_test(tc, test_engine_scalar_and_string);
	tcase_add_test(tc, test_engine_range_query_type_errors);
	tcase_add_test(tc, test_engine_sample_limit);
	tcase_add_test(tc, test_engine_timeout);
	tcase_add_test(tc, test_engine_exec_errors);
	tcase_add_test(tc, test_engine_annotations);
	tcase_add_test(tc, test_engine_topk_order_and_delayed_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
