/*
 * check_text_import.c - Prometheus text and OpenMetrics import.
 *
 * Golden cases: an input body, the options, and what must come out - the
 * status, the message (for bad input), and the whole store dumped one
 * sample per line as `{labels} value @t` (labels sorted, values as the
 * API prints them) plus the metadata as `# family type "help" "unit"`.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/text_import.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/buf.h"

#define NOW 1700000000000LL

static struct db *mem_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	ck_assert_msg(db != NULL, "db_open: %s", err.msg);
	return db;
}

/* Every sample and metadata entry of db as text (caller frees). */
static char *dump(struct db *db)
{
	struct buf b = BUF_INIT;
	struct ts_error err;
	struct series_set set;
	struct metadata_entry *md;
	struct querier *q = db_querier(db);
	size_t i, k, n;
	char *out;

	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, true, 0, &set, &err), 0);
	for (i = 0; i < set.n; i++) {
		for (k = 0; k < set.s[i].n; k++) {
			size_t j;

			buf_addch(&b, '{');
			for (j = 0; j < set.s[i].labels.n; j++)
				buf_printf(&b, "%s%s=\"%s\"", j ? "," : "",
					   set.s[i].labels.v[j].name, set.s[i].labels.v[j].value);
			buf_addstr(&b, "} ");
			buf_add_float(&b, set.s[i].v[k]);
			buf_printf(&b, " @%lld\n", (long long)set.s[i].t[k]);
		}
	}
	series_set_release(&set);
	querier_free(q);
	ck_assert_int_eq(db_metadata(db, NULL, 0, 0, &md, &n), 0);
	for (i = 0; i < n; i++)
		buf_printf(&b, "# %s %s \"%s\" \"%s\"\n", md[i].family, metric_type_name(md[i].type),
			   md[i].help, md[i].unit);
	free(md);
	ck_assert(buf_ok(&b));
	out = buf_detach(&b, NULL);
	return out ? out : strdup("");
}

/* Import body into a fresh db; check status, message and dump. */
static void golden(const char *body, const struct ti_opts *opts, int status, const char *msg,
		   const char *want)
{
	struct db *db = mem_db();
	struct ti_opts o = { .default_ms = NOW };
	struct ti_result res;
	char *got;

	if (opts)
		o = *opts;
	ti_import(db, body, strlen(body), &o, &res);
	ck_assert_msg(res.status == status, "status %d (%s), want %d, input:\n%s", res.status,
		      res.msg, status, body);
	if (msg)
		ck_assert_str_eq(res.msg, msg);
	else
		ck_assert_str_eq(res.msg, "");
	got = dump(db);
	ck_assert_msg(strcmp(got, want) == 0, "input:\n%s\ngot:\n%s\nwant:\n%s", body, got, want);
	free(got);
	db_close(db);
}

START_TEST(test_text_import_exposition_example)
{
	/* the example of Prometheus's format documentation */
	golden("# HELP http_requests_total The total number of HTTP requests.\n"
	       "# TYPE http_requests_total counter\n"
	       "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
	       "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
	       "\n"
	       "# Escaping in label values:\n"
	       "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
	       "\n"
	       "metric_without_timestamp_and_labels 12.47\n"
	       "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
	       "# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n"
	       "# TYPE rpc_duration_seconds summary\n"
	       "rpc_duration_seconds{quantile=\"0.01\"} 3102\n"
	       "rpc_duration_seconds_sum 1.7560473e+07\n"
	       "rpc_duration_seconds_count 2693\n",
	       NULL, 204, NULL,
	       "{__name__=\"http_requests_total\",code=\"200\",method=\"post\"} 1027 @1395066363000\n"
	       "{__name__=\"http_requests_total\",code=\"400\",method=\"post\"} 3 @1395066363000\n"
	       "{__name__=\"metric_without_timestamp_and_labels\"} 12.47 @1700000000000\n"
	       "{__name__=\"msdos_file_access_time_seconds\",error=\"Cannot find file:\n\"FILE.TXT\"\",path=\"C:\\DIR\\FILE.TXT\"} 1458255915 @1700000000000\n"
	       "{__name__=\"rpc_duration_seconds\",quantile=\"0.01\"} 3102 @1700000000000\n"
	       "{__name__=\"rpc_duration_seconds_count\"} 2693 @1700000000000\n"
	       "{__name__=\"rpc_duration_seconds_sum\"} 17560473 @1700000000000\n"
	       "{__name__=\"something_weird\",problem=\"division by zero\"} +Inf @-3982045\n"
	       "# http_requests_total counter \"The total number of HTTP requests.\" \"\"\n"
	       "# rpc_duration_seconds summary \"A summary of the RPC duration in seconds.\" \"\"\n");
}
END_TEST

START_TEST(test_text_import_escapes)
{
	/* every escape of a label value, and what is kept as it is */
	golden("m{a=\"back\\\\slash\"} 1\n"
	       "m{a=\"quo\\\"te\"} 2\n"
	       "m{a=\"new\\nline\"} 3\n"
	       "m{a=\"tab\\tkept\"} 4\n"
	       "m{a=\"end\\\\\"} 5\n"
	       "m{a=\"utf8 \xc3\xa9\xe2\x82\xac\"} 6\n"
	       "m{a=\"hash # and , and } inside\"} 7\n",
	       NULL, 204, NULL,
	       "{__name__=\"m\",a=\"back\\slash\"} 1 @1700000000000\n"
	       "{__name__=\"m\",a=\"end\\\"} 5 @1700000000000\n"
	       "{__name__=\"m\",a=\"hash # and , and } inside\"} 7 @1700000000000\n"
	       "{__name__=\"m\",a=\"new\nline\"} 3 @1700000000000\n"
	       "{__name__=\"m\",a=\"quo\"te\"} 2 @1700000000000\n"
	       "{__name__=\"m\",a=\"tab\\tkept\"} 4 @1700000000000\n"
	       "{__name__=\"m\",a=\"utf8 \xc3\xa9\xe2\x82\xac\"} 6 @1700000000000\n");
	/* HELP escapes: \\ and \n (and \" as OpenMetrics writes it) */
	golden("# HELP h a \\\\ b \\n c \\\" d \\t e\nh 1\n", NULL, 204, NULL,
	       "{__name__=\"h\"} 1 @1700000000000\n"
	       "# h unknown \"a \\ b \n c \" d \\t e\" \"\"\n");
}
END_TEST

START_TEST(test_text_import_values)
{
	golden("v{k=\"nan\"} NaN 1\n"
	       "v{k=\"pinf\"} +Inf 1\n"
	       "v{k=\"ninf\"} -Inf 1\n"
	       "v{k=\"inf\"} Inf 1\n"
	       "v{k=\"exp\"} -1.5e-3 1\n"
	       "v{k=\"int\"} 42 1\n"
	       "v{k=\"zero\"} -0 1\n",
	       NULL, 204, NULL,
	       "{__name__=\"v\",k=\"exp\"} -0.0015 @1\n"
	       "{__name__=\"v\",k=\"inf\"} +Inf @1\n"
	       "{__name__=\"v\",k=\"int\"} 42 @1\n"
	       "{__name__=\"v\",k=\"nan\"} NaN @1\n"
	       "{__name__=\"v\",k=\"ninf\"} -Inf @1\n"
	       "{__name__=\"v\",k=\"pinf\"} +Inf @1\n"
	       "{__name__=\"v\",k=\"zero\"} -0 @1\n");
}
END_TEST

START_TEST(test_text_import_whitespace_and_syntax)
{
	golden("  spaced   {  a = \"1\" , b=\"2\" , }   5   7  \r\n"
	       "\ttabbed\t9\t8\n"
	       "noblank{a=\"x\"}6 9\n"
	       "empty{} 1 10\n"
	       "ex_total 3 11 # {trace_id=\"abc\"} 1.0\n"
	       "# a comment\n"
	       "#\n"
	       "colon:name 2 12\n",
	       NULL, 204, NULL,
	       "{__name__=\"colon:name\"} 2 @12\n"
	       "{__name__=\"empty\"} 1 @10\n"
	       "{__name__=\"ex_total\"} 3 @11\n"
	       "{__name__=\"noblank\",a=\"x\"} 6 @9\n"
	       "{__name__=\"spaced\",a=\"1\",b=\"2\"} 5 @7\n"
	       "{__name__=\"tabbed\"} 9 @8\n");
}
END_TEST

/* Every error: the message names the line, the good lines are stored. */
START_TEST(test_text_import_errors)
{
	static const struct {
		const char *line;
		const char *msg;
	} cases[] = {
		{ "{a=\"b\"} 1", "line 2: missing metric name: \"{a=\\\"b\\\"} 1\"" },
		{ "9bad 1", "line 2: invalid metric name: \"9bad 1\"" },
		{ "bad-name 1", "line 2: invalid metric name: \"bad-name 1\"" },
		{ "m", "line 2: missing value: \"m\"" },
		{ "m{a=\"b\"}", "line 2: missing value: \"m{a=\\\"b\\\"}\"" },
		{ "m{a=\"b\"} ", "line 2: missing value: \"m{a=\\\"b\\\"} \"" },
		{ "m x", "line 2: invalid value: \"m x\"" },
		{ "m 1.5.5", "line 2: invalid value: \"m 1.5.5\"" },
		{ "m nan(0x1)", "line 2: invalid value: \"m nan(0x1)\"" },
		{ "m 1 1.5", "line 2: invalid timestamp (integer milliseconds expected): \"m 1 1.5\"" },
		{ "m 1 abc", "line 2: invalid timestamp (integer milliseconds expected): \"m 1 abc\"" },
		{ "m 1 99999999999999999999",
		  "line 2: invalid timestamp (integer milliseconds expected): \"m 1 99999999999999999999\"" },
		{ "m 1 2 3", "line 2: unexpected text after the timestamp: \"m 1 2 3\"" },
		{ "m{a} 1", "line 2: expected \"=\" after label name: \"m{a} 1\"" },
		{ "m{a=b} 1", "line 2: expected a quoted label value: \"m{a=b} 1\"" },
		{ "m{a=\"b} 1", "line 2: label value without closing quote: \"m{a=\\\"b} 1\"" },
		{ "m{a=\"b\" c=\"d\"} 1",
		  "line 2: expected \",\" or \"}\" after label value: \"m{a=\\\"b\\\" c=\\\"d\\\"} 1\"" },
		{ "m{1a=\"b\"} 1", "line 2: invalid label name: \"m{1a=\\\"b\\\"} 1\"" },
		{ "m{a:b=\"c\"} 1", "line 2: invalid label name: \"m{a:b=\\\"c\\\"} 1\"" },
		{ "m{,} 1", "line 2: invalid label name: \"m{,} 1\"" },
		{ "m{a=\"1\",a=\"2\"} 1", NULL },        /* duplicate label (labels_validate) */
		{ "m{a=\"\\xff\"} 1", NULL },             /* not the escape of a byte: kept */
		{ "m{a=\"\xff\"} 1", NULL },              /* invalid UTF-8 (labels_validate) */
		{ "# TYPE m bogus", "line 2: unknown metric type: \"# TYPE m bogus\"" },
		{ "# TYPE", "line 2: missing metric name after # TYPE: \"# TYPE\"" },
		{ "# HELP 0m x", "line 2: invalid metric name in # HELP: \"# HELP 0m x\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct db *db = mem_db();
		struct ti_opts o = { .default_ms = NOW };
		struct ti_result res;
		char body[256];
		char *got;

		snprintf(body, sizeof(body), "good_before 1 5\n%s\ngood_after 2 5\n", cases[i].line);
		ti_import(db, body, strlen(body), &o, &res);
		if (i == 21) {
			/* "\x" is kept as it is: the line is fine */
			ck_assert_int_eq(res.status, 204);
			db_close(db);
			continue;
		}
		ck_assert_msg(res.status == 400, "case %zu: status %d", i, res.status);
		ck_assert_uint_eq(res.first_bad_line, 2);
		if (cases[i].msg)
			ck_assert_str_eq(res.msg, cases[i].msg);
		else
			ck_assert_msg(strncmp(res.msg, "line 2: ", 8) == 0, "case %zu: %s", i,
				      res.msg);
		got = dump(db);
		ck_assert_msg(strcmp(got,
				     "{__name__=\"good_after\"} 2 @5\n"
				     "{__name__=\"good_before\"} 1 @5\n") == 0,
			      "case %zu: %s", i, got);
		free(got);
		db_close(db);
	}
}
END_TEST

START_TEST(test_text_import_first_bad_line_named)
{
	struct db *db = mem_db();
	struct ti_opts o = { .default_ms = NOW };
	struct ti_result res;
	const char *body = "a 1\nb x\nc 3\nd y\n";

	ti_import(db, body, strlen(body), &o, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "line 2: invalid value: \"b x\"");
	ck_assert_uint_eq(res.samples_written, 2);
	ck_assert_uint_eq(res.samples_rejected, 2);
	ck_assert_uint_eq(res.lines, 4);
	db_close(db);
}
END_TEST

START_TEST(test_text_import_openmetrics)
{
	/* OpenMetrics: seconds timestamps, UNIT, _created skipped, EOF */
	golden("# TYPE acme_http_router_request_seconds summary\n"
	       "# UNIT acme_http_router_request_seconds seconds\n"
	       "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n"
	       "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32 1520879607.789\n"
	       "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0 1520879607.789\n"
	       "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n"
	       "# TYPE foo counter\n"
	       "foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n"
	       "foo_created 1520872607.123\n"
	       "# TYPE g gauge\n"
	       "g_created 5 1\n"
	       "# EOF\n",
	       NULL, 204, NULL,
	       "{__name__=\"acme_http_router_request_seconds_count\",method=\"GET\",path=\"/api/v1\"} 807283 @1520879607789\n"
	       "{__name__=\"acme_http_router_request_seconds_sum\",method=\"GET\",path=\"/api/v1\"} 9036.32 @1520879607789\n"
	       "{__name__=\"foo_total\"} 17 @1520879607789\n"
	       "{__name__=\"g_created\"} 5 @1000\n"
	       "# acme_http_router_request_seconds summary \"Latency though all of ACME's HTTP request router.\" \"seconds\"\n"
	       "# foo counter \"\" \"\"\n"
	       "# g gauge \"\" \"\"\n");
	/* content after # EOF */
	golden("a 1 1\n# EOF\nb 2 2\n\n", NULL, 400, "line 3: content after # EOF: \"b 2 2\"",
	       "{__name__=\"a\"} 1 @1\n");
}
END_TEST

START_TEST(test_text_import_openmetrics_by_option)
{
	struct ti_opts o = { .default_ms = NOW, .openmetrics = true };

	golden("m 1 1.5\n", &o, 204, NULL, "{__name__=\"m\"} 1 @1500\n");
	o.openmetrics = false;
	golden("m 1 1500\n", &o, 204, NULL, "{__name__=\"m\"} 1 @1500\n");
}
END_TEST

START_TEST(test_text_import_extra_labels)
{
	static const struct label extra[] = { { "job", "imported" }, { "env", "test" } };
	struct ti_opts o = { .default_ms = NOW, .extra = extra, .nextra = 2 };

	golden("m{job=\"orig\",a=\"b\"} 1 5\nn 2 5\n", &o, 204, NULL,
	       "{__name__=\"m\",a=\"b\",env=\"test\",job=\"imported\"} 1 @5\n"
	       "{__name__=\"n\",env=\"test\",job=\"imported\"} 2 @5\n");
}
END_TEST

START_TEST(test_text_import_metadata)
{
	/* HELP and TYPE of a family make one entry; a new family flushes */
	golden("# HELP a Help of a.\n# TYPE a gauge\na 1 1\n"
	       "# TYPE b untyped\nb 2 1\n"
	       "# HELP c Only help.\n"
	       "# TYPE d stateset\n# TYPE e info\n# TYPE f gaugehistogram\n# TYPE g histogram\n",
	       NULL, 204, NULL,
	       "{__name__=\"a\"} 1 @1\n"
	       "{__name__=\"b\"} 2 @1\n"
	       "# a gauge \"Help of a.\" \"\"\n"
	       "# b unknown \"\" \"\"\n"
	       "# c unknown \"Only help.\" \"\"\n"
	       "# d stateset \"\" \"\"\n"
	       "# e info \"\" \"\"\n"
	       "# f gaugehistogram \"\" \"\"\n"
	       "# g histogram \"\" \"\"\n");
}
END_TEST

START_TEST(test_text_import_storage_answers)
{
	/* out of order and conflicting samples: 400, the rest stored */
	struct db *db = mem_db();
	struct ti_opts o = { .default_ms = NOW };
	struct ti_result res;
	const char *first = "m 1 2000\n";
	const char *second = "m 2 2000\nm 3 3000\n";

	ti_import(db, first, strlen(first), &o, &res);
	ck_assert_int_eq(res.status, 204);
	ti_import(db, second, strlen(second), &o, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "line 1: duplicate sample for timestamp: \"m 2 2000\"");
	ck_assert_uint_eq(res.samples_written, 1);
	db_close(db);
}
END_TEST

START_TEST(test_text_import_empty_and_odd_bodies)
{
	struct db *db = mem_db();
	struct ti_result res;

	ti_import(db, "", 0, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	ti_import(db, NULL, 0, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	ti_import(db, "\n\n\r\n", 4, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	ti_import(db, "m 1 1\nn\0 2 1\n", 14, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "NUL") != NULL, "%s", res.msg);
	ck_assert_uint_eq(res.samples_written, 1);
	/* no final newline */
	ti_import(db, "last 5 7", 8, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, 1);
	db_close(db);
}
END_TEST

Suite *text_import_suite(void);

Suite *text_import_suite(void)
{
	Suite *s = suite_create("text_import");
	TCase *tc = tcase_create("text_import");

	tcase_add_test(tc, test_text_import_exposition_example);
	tcase_add_test(tc, test_text_import_escapes);
	tcase_add_test(tc, test_text_import_values);
	tcase_add_test(tc, test_text_import_whitespace_and_syntax);
	tcase_add_test(tc, test_text_import_errors);
	tcase_add_test(tc, test_text_import_first_bad_line_named);
	tcase_add_test(tc, test_text_import_openmetrics);
	tcase_add_test(tc, test_text_import_openmetrics_by_option);
	tcase_add_test(tc, test_text_import_extra_labels);
	tcase_add_test(tc, test_text_import_metadata);
	tcase_add_test(tc, test_text_import_storage_answers);
	tcase_add_test(tc, test_text_import_empty_and_odd_bodies);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(text_import_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
