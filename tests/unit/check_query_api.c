/*
 * check_query_api.c - the parameters of /api/v1/query and query_range and
 * the parse_query endpoint, end to end over a real socket: a memory store,
 * the API and the HTTP server on 127.0.0.1:<ephemeral>, one request per
 * connection, answers parsed with jansson.
 *
 * TCases:
 *   params      - time as Unix seconds or RFC 3339, step as a duration or
 *                 float seconds, lookback_delta per query, limit on range
 *                 queries, the 11,000-points cap at its boundary, scalars
 *                 of range queries as a one-series matrix, NaN/Inf values,
 *                 GET and form POST alike, native-histogram and
 *                 experimental functions over float data
 *   limits      - --query.max-samples and --query.timeout (server
 *                 settings) and the timeout parameter, answered with
 *                 Prometheus's error types and codes
 *   parse_query - the syntax tree JSON and its parse errors
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "http/server.h"
#include "tsdb/db.h"
#include "tests/unit/http_client.h"

Suite *query_api_suite(void);

/* Base time of the fixture data (ms): 2023-11-14T22:13:20Z. */
#define T0 1700000000000LL

static struct db *db;
static struct api *api;
static struct http_server *srv;

/* up{instance="a"|"b"} every 15 s for 10 minutes from T0 (value = the
 * sample's index), odd{} holding NaN and +Inf, and 2000 series of
 * many{i} for the sample limit. */
static void fill_store(void)
{
	struct appender *a = db_appender(db);
	uint64_t ref;
	int i, k;

	ck_assert_ptr_nonnull(a);
	for (i = 0; i < 2; i++) {
		struct label l[] = { { "__name__", "up" }, { "instance", i ? "b" : "a" } };
		struct labels ls = { l, 2 };

		ref = 0;
		for (k = 0; k <= 40; k++)
			ck_assert_int_eq(appender_add(a, &ls, &ref, T0 + k * 15000LL, k), 0);
	}
	{
		struct label l[] = { { "__name__", "odd" } };
		struct labels ls = { l, 1 };

		ref = 0;
		ck_assert_int_eq(appender_add(a, &ls, &ref, T0, NAN), 0);
		ck_assert_int_eq(appender_add(a, &ls, &ref, T0 + 15000, INFINITY), 0);
	}
	for (i = 0; i < 2000; i++) {
		char v[16];
		struct label l[] = { { "__name__", "many" }, { "i", v } };
		struct labels ls = { l, 2 };

		snprintf(v, sizeof(v), "%d", i);
		ref = 0;
		for (k = 0; k < 40; k++)
			ck_assert_int_eq(appender_add(a, &ls, &ref, T0 + k * 15000LL, k), 0);
	}
	ck_assert_int_eq(appender_commit(a), 0);
}

/* Start a server with these engine settings over the shared store. */
static void start_server(const struct pql_opts *q)
{
	struct api_opts ao;
	struct ts_error err;

	memset(&ao, 0, sizeof(ao));
	ao.db = db;
	if (q)
		ao.query = *q;
	api = api_new(&ao);
	ck_assert_ptr_nonnull(api);
	srv = http_server_new(NULL);
	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(api_register(api, srv), 0);
	ck_assert_msg(http_server_start(srv, "127.0.0.1:0", &err) == 0, "start: %s", err.msg);
	test_port = http_server_port(srv);
}

static void stop_server(void)
{
	http_server_free(srv);
	api_free(api);
	srv = NULL;
	api = NULL;
}

static void setup(void)
{
	struct ts_error err;

	db = db_open(NULL, NULL, &err);
	ck_assert_msg(db != NULL, "db_open: %s", err.msg);
	fill_store();
	start_server(NULL);
}

static void teardown(void)
{
	stop_server();
	db_close(db);
	db = NULL;
}

/* ------------------------------------------------------------ client */

/* One request; returns the status, *body gets the malloc'd body. */
static int request(const char *method, const char *target, const char *form, char **body)
{
	struct reply r;
	int status;

	http_req(method, target, form ? "Content-Type: application/x-www-form-urlencoded\r\n" : NULL,
		 form, form ? strlen(form) : 0, 0, &r);
	status = r.status;
	*body = r.body; /* handed to the caller */
	r.body = NULL;
	reply_free(&r);
	return status;
}

/* GET target; checks the status and the "status" member; returns the
 * whole document (caller decrefs). */
static json_t *get_json(const char *target, int want_status)
{
	json_error_t je;
	char *body;
	int st = request("GET", target, NULL, &body);
	json_t *j;

	ck_assert_msg(st == want_status, "%s: status %d, want %d: %.300s", target, st,
		      want_status, body);
	j = json_loads(body, 0, &je);
	ck_assert_msg(j != NULL, "bad JSON (%s): %.300s", je.text, body);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 want_status == 200 ? "success" : "error");
	free(body);
	return j;
}

/* The "data" member of a successful GET (a new reference). */
static json_t *get_data(const char *target)
{
	json_t *j = get_json(target, 200), *d = json_incref(json_object_get(j, "data"));

	json_decref(j);
	return d;
}

/* Expect an error of this status and type whose text contains want. */
static void expect_error(const char *target, int status, const char *type, const char *want)
{
	json_t *j = get_json(target, status);
	const char *msg = json_string_value(json_object_get(j, "error"));

	ck_assert_str_eq(json_string_value(json_object_get(j, "errorType")), type);
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, want) != NULL, "%s: error \"%s\" lacks \"%s\"", target, msg,
		      want);
	json_decref(j);
}

/* Compact serialisation of a JSON value (caller frees). */
static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	ck_assert_ptr_nonnull(s);
	return s;
}

/* Two GETs answer the same data. */
static void same_data(const char *a, const char *b)
{
	json_t *da = get_data(a), *db_ = get_data(b);
	char *sa = dump(da), *sb = dump(db_);

	ck_assert_msg(strcmp(sa, sb) == 0, "%s\n  -> %s\n%s\n  -> %s", a, sa, b, sb);
	free(sa);
	free(sb);
	json_decref(da);
	json_decref(db_);
}

/* ============================================================ params */

START_TEST(test_query_api_time_forms)
{
	json_t *d, *v;

	/* Unix seconds, with and without fraction, and RFC 3339 */
	same_data("/api/v1/query?query=up&time=1700000060",
		  "/api/v1/query?query=up&time=2023-11-14T22:14:20Z");
	same_data("/api/v1/query?query=up&time=1700000060.5",
		  "/api/v1/query?query=up&time=2023-11-14T22:14:20.500Z");
	same_data("/api/v1/query?query=up&time=1700000060",
		  "/api/v1/query?query=up&time=2023-11-14T23:14:20%2B01:00");
	d = get_data("/api/v1/query?query=up%7Binstance%3D%22a%22%7D&time=2023-11-14T22:14:20Z");
	v = json_object_get(json_array_get(json_object_get(d, "result"), 0), "value");
	ck_assert(json_number_value(json_array_get(v, 0)) == 1700000060.0);
	ck_assert_str_eq(json_string_value(json_array_get(v, 1)), "4");
	json_decref(d);
	/* range bounds in both forms */
	same_data("/api/v1/query_range?query=up&start=1700000000&end=1700000120&step=60",
		  "/api/v1/query_range?query=up&start=2023-11-14T22:13:20Z"
		  "&end=2023-11-14T22:15:20.000Z&step=60");
	expect_error("/api/v1/query?query=up&time=2023-13-01T00:00:00Z", 400, "bad_data",
		     "invalid parameter \"time\"");
}
END_TEST

START_TEST(test_query_api_step_forms)
{
	json_t *d, *vals;

	same_data("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=30s",
		  "/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=30");
	same_data("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=1m30s",
		  "/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=90.0");
	/* a fractional step in seconds: 7.5 s gives 41 points over 300 s */
	d = get_data("/api/v1/query_range?query=up%7Binstance%3D%22a%22%7D&start=1700000000"
		     "&end=1700000300&step=7.5");
	vals = json_object_get(json_array_get(json_object_get(d, "result"), 0), "values");
	ck_assert_uint_eq(json_array_size(vals), 41);
	ck_assert(json_number_value(json_array_get(json_array_get(vals, 1), 0)) == 1700000007.5);
	json_decref(d);
	expect_error("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=abc", 400,
		     "bad_data", "invalid parameter \"step\"");
	expect_error("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=-5", 400,
		     "bad_data", "zero or negative query resolution step widths are not accepted");
}
END_TEST

START_TEST(test_query_api_lookback_delta)
{
	json_t *d;

	/* the newest sample is at T0+600s; at T0+660s the default 5m lookback
	 * still sees it, a 30s one does not, a 2m one does */
	d = get_data("/api/v1/query?query=up&time=1700000660");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 2);
	json_decref(d);
	d = get_data("/api/v1/query?query=up&time=1700000660&lookback_delta=30s");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 0);
	json_decref(d);
	d = get_data("/api/v1/query?query=up&time=1700000660&lookback_delta=120");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 2);
	json_decref(d);
	/* it applies to range queries too: the last point is at T0+630s */
	d = get_data("/api/v1/query_range?query=up%7Binstance%3D%22a%22%7D&start=1700000600"
		     "&end=1700000900&step=30&lookback_delta=31s");
	ck_assert_uint_eq(json_array_size(json_object_get(
				  json_array_get(json_object_get(d, "result"), 0), "values")),
			  2);
	json_decref(d);
	expect_error("/api/v1/query?query=up&lookback_delta=soon", 400, "bad_data",
		     "error parsing lookback delta duration");
}
END_TEST

START_TEST(test_query_api_range_limit)
{
	json_t *j;

	j = get_json("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=60"
		     "&limit=1",
		     200);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "data"), "result")),
			  1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)),
			 "results truncated due to limit");
	json_decref(j);
	/* a limit at the series count truncates nothing */
	j = get_json("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=60"
		     "&limit=2",
		     200);
	ck_assert_ptr_null(json_object_get(j, "warnings"));
	json_decref(j);
	expect_error("/api/v1/query_range?query=up&start=1700000000&end=1700000300&step=60"
		     "&limit=-1",
		     400, "bad_data", "invalid parameter \"limit\"");
}
END_TEST

START_TEST(test_query_api_points_cap)
{
	json_t *d;

	/* (end - start) / step may be 11000 (11001 points), not more */
	d = get_data("/api/v1/query_range?query=1&start=0&end=11000&step=1");
	ck_assert_uint_eq(json_array_size(json_object_get(
				  json_array_get(json_object_get(d, "result"), 0), "values")),
			  11001);
	json_decref(d);
	expect_error("/api/v1/query_range?query=1&start=0&end=11001&step=1", 400, "bad_data",
		     "exceeded maximum resolution of 11,000 points per timeseries. Try "
		     "decreasing the query resolution (?step=XX)");
	expect_error("/api/v1/query_range?query=1&start=0&end=1100.2&step=0.1", 400, "bad_data",
		     "exceeded maximum resolution of 11,000 points per timeseries");
}
END_TEST

START_TEST(test_query_api_scalar_range)
{
	json_t *d, *res, *s;

	d = get_data("/api/v1/query_range?query=time()%2B1&start=1700000000&end=1700000060"
		     "&step=30");
	ck_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "matrix");
	res = json_object_get(d, "result");
	ck_assert_uint_eq(json_array_size(res), 1);
	s = json_array_get(res, 0);
	ck_assert_uint_eq(json_object_size(json_object_get(s, "metric")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(s, "values")), 3);
	ck_assert_str_eq(json_string_value(json_array_get(
				 json_array_get(json_object_get(s, "values"), 2), 1)),
			 "1700000061");
	json_decref(d);
	/* a string is not allowed in a range query */
	expect_error("/api/v1/query_range?query=%22x%22&start=1700000000&end=1700000060&step=30",
		     400, "bad_data", "invalid expression type \"string\" for range query");
}
END_TEST

START_TEST(test_query_api_special_values)
{
	json_t *d, *vals;
	char *s;

	d = get_data("/api/v1/query_range?query=odd&start=1700000000&end=1700000015&step=15");
	vals = json_object_get(json_array_get(json_object_get(d, "result"), 0), "values");
	s = dump(vals);
	ck_assert_str_eq(s, "[[1700000000,\"NaN\"],[1700000015,\"+Inf\"]]");
	free(s);
	json_decref(d);
	d = get_data("/api/v1/query?query=-odd&time=1700000015");
	s = dump(json_object_get(json_array_get(json_object_get(d, "result"), 0), "value"));
	ck_assert_str_eq(s, "[1700000015,\"-Inf\"]");
	free(s);
	json_decref(d);
}
END_TEST

START_TEST(test_query_api_post_equals_get)
{
	char *get_body, *post_body;

	ck_assert_int_eq(request("GET",
				 "/api/v1/query_range?query=rate(up%5B1m%5D)&start=1700000000"
				 "&end=1700000300&step=60",
				 NULL, &get_body),
			 200);
	ck_assert_int_eq(request("POST", "/api/v1/query_range",
				 "query=rate(up%5B1m%5D)&start=1700000000&end=1700000300&step=60",
				 &post_body),
			 200);
	ck_assert_str_eq(get_body, post_body);
	free(get_body);
	free(post_body);
}
END_TEST

/* Constructs beyond varve's float storage: native-histogram functions
 * answer nothing over float data (as Prometheus does), start timestamps
 * are a clear bad_data error; experimental functions are enabled. */
START_TEST(test_query_api_histogram_and_experimental)
{
	json_t *d;

	d = get_data("/api/v1/query?query=histogram_count(up)&time=1700000100");
	ck_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "vector");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 0);
	json_decref(d);
	d = get_data("/api/v1/query?query=histogram_avg(up)%20or%20histogram_sum(up)&time=1700000100");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 0);
	json_decref(d);
	expect_error("/api/v1/query?query=start_timestamp(up)&time=1700000100", 400, "bad_data",
		     "start_timestamp is not supported");
	d = get_data("/api/v1/query?query=limitk(1,up)&time=1700000100");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "result")), 1);
	json_decref(d);
	/* anchored/smoothed with other functions: an execution error */
	expect_error("/api/v1/query?query=deriv(up%5B1m%5D%20anchored)&time=1700000100", 422,
		     "execution", "anchored modifier can only be used with: changes, delta, "
		     "increase, rate, resets - not with deriv");
	expect_error("/api/v1/query?query=double_exponential_smoothing(up%5B1m%5D%20smoothed,"
		     "0.5,0.5)&time=1700000100",
		     422, "execution", "smoothed modifier can only be used with: delta, increase, "
		     "rate - not with double_exponential_smoothing");
	d = get_data("/api/v1/query?query=min_of(2,max_of(-1,1))&time=1700000100");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "result"), 1)), "1");
	json_decref(d);
}
END_TEST

/* ============================================================ limits */

START_TEST(test_query_api_max_samples)
{
	struct pql_opts o = { .max_samples = 1000 };

	stop_server();
	start_server(&o);
	/* 2000 series at one step: more than 1000 samples at once */
	expect_error("/api/v1/query?query=many&time=1700000100", 422, "execution",
		     "query processing would load too many samples into memory in query "
		     "execution");
	expect_error("/api/v1/query_range?query=sum(many)&start=1700000000&end=1700000300&step=15",
		     422, "execution", "--query.max-samples");
	/* small queries still answer */
	json_decref(get_data("/api/v1/query?query=up&time=1700000100"));
}
END_TEST

/* A query heavy enough to run past a 1 ms deadline on any machine. */
#define HEAVY_RANGE                                                                          \
	"/api/v1/query_range?query=count(count_over_time(many%5B10m:1s%5D))&start=1700000000" \
	"&end=1700000600&step=15"

START_TEST(test_query_api_server_timeout)
{
	struct pql_opts o = { .timeout_ms = 1 };

	stop_server();
	start_server(&o);
	expect_error(HEAVY_RANGE, 503, "timeout", "query timed out in expression evaluation");
}
END_TEST

START_TEST(test_query_api_timeout_param)
{
	expect_error(HEAVY_RANGE "&timeout=0.001", 503, "timeout",
		     "query timed out in expression evaluation");
	/* a generous timeout changes nothing */
	same_data("/api/v1/query?query=up&time=1700000100&timeout=1m",
		  "/api/v1/query?query=up&time=1700000100");
}
END_TEST

/* ============================================================ parse_query */

START_TEST(test_query_api_parse_query)
{
	json_t *d;
	char *s;

	d = get_data("/api/v1/parse_query?query=sum%20by(job)(rate(foo%7Ba%3D%22b%22%7D%5B5m%5D))");
	s = dump(d);
	ck_assert_str_eq(
		s, "{\"expr\":{\"args\":[{\"anchored\":false,\"matchers\":[{\"name\":\"a\",\"type\":"
		   "\"=\",\"value\":\"b\"},{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"foo\"}],"
		   "\"name\":\"foo\",\"offset\":0,\"range\":300000,\"smoothed\":false,\"startOrEnd\":"
		   "null,\"timestamp\":null,\"type\":\"matrixSelector\"}],\"func\":{\"argTypes\":"
		   "[\"matrix\"],\"name\":\"rate\",\"returnType\":\"vector\",\"variadic\":0},\"type\":"
		   "\"call\"},\"grouping\":[\"job\"],\"op\":\"sum\",\"param\":null,\"type\":"
		   "\"aggregation\",\"without\":false}");
	free(s);
	json_decref(d);

	/* scalars: no matching; numbers in fixed notation */
	d = get_data("/api/v1/parse_query?query=-1e-7%20%2B%202");
	s = dump(d);
	ck_assert_str_eq(s, "{\"bool\":false,\"lhs\":{\"type\":\"numberLiteral\",\"val\":"
			    "\"-0.0000001\"},\"matching\":null,\"op\":\"+\",\"rhs\":{\"type\":"
			    "\"numberLiteral\",\"val\":\"2\"},\"type\":\"binaryExpr\"}");
	free(s);
	json_decref(d);

	/* vector matching, @, offset, subquery, string and paren nodes */
	d = get_data("/api/v1/parse_query?query=a%20%3E%20bool%20on(x)%20group_left(y)%20"
		     "(b%20offset%20-1m%20%40%20end())");
	s = dump(json_object_get(d, "matching"));
	ck_assert_str_eq(s, "{\"card\":\"many-to-one\",\"fillValues\":{\"lhs\":null,\"rhs\":null},"
			    "\"include\":[\"y\"],\"labels\":[\"x\"],\"on\":true}");
	free(s);
	ck_assert(json_is_true(json_object_get(d, "bool")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "rhs"), "type")),
			 "parenExpr");
	s = dump(json_object_get(json_object_get(d, "rhs"), "expr"));
	ck_assert_str_eq(s, "{\"anchored\":false,\"matchers\":[{\"name\":\"__name__\",\"type\":"
			    "\"=\",\"value\":\"b\"}],\"name\":\"b\",\"offset\":-60000,\"smoothed\":"
			    "false,\"startOrEnd\":\"end\",\"timestamp\":null,\"type\":"
			    "\"vectorSelector\"}");
	free(s);
	json_decref(d);

	d = get_data("/api/v1/parse_query?query=max_over_time(x%5B5m:30s%5D%20%40%20100)%20and%20"
		     "label_replace(y,%22a%22,%22%241%22,%22b%22,%22(.*)%22)");
	s = dump(json_object_get(json_object_get(d, "matching"), "card"));
	ck_assert_str_eq(s, "\"many-to-many\"");
	free(s);
	s = dump(json_array_get(json_object_get(json_object_get(d, "lhs"), "args"), 0));
	ck_assert_str_eq(s, "{\"alignEvalTime\":false,\"expr\":{\"anchored\":false,\"matchers\":"
			    "[{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"x\"}],\"name\":"
			    "\"x\",\"offset\":0,\"smoothed\":false,\"startOrEnd\":null,"
			    "\"timestamp\":null,\"type\":\"vectorSelector\"},\"offset\":0,"
			    "\"range\":300000,\"startOrEnd\":null,\"step\":30000,\"timestamp\":"
			    "100000,\"type\":\"subquery\"}");
	free(s);
	s = dump(json_object_get(json_object_get(json_object_get(d, "rhs"), "func"), "argTypes"));
	ck_assert_str_eq(s, "[\"vector\",\"string\",\"string\",\"string\",\"string\"]");
	free(s);
	s = dump(json_array_get(json_object_get(json_object_get(d, "rhs"), "args"), 2));
	ck_assert_str_eq(s, "{\"type\":\"stringLiteral\",\"val\":\"$1\"}");
	free(s);
	json_decref(d);

	expect_error("/api/v1/parse_query?query=sum(", 400, "bad_data",
		     "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis");
}
END_TEST

START_TEST(test_query_api_parse_query_escapes)
{
	char *body;

	/* Prometheus's encoder escapes <, > and & */
	ck_assert_int_eq(request("POST", "/api/v1/parse_query", "query=x%3C%22%26%22", &body),
			 400);
	free(body);
	ck_assert_int_eq(request("POST", "/api/v1/parse_query", "query=x%3Cbool%201", &body), 200);
	ck_assert_ptr_nonnull(strstr(body, "\"op\":\"\\u003c\""));
	free(body);
}
END_TEST

Suite *query_api_suite(void)
{
	Suite *s = suite_create("query_api");
	TCase *tc;

	tc = tcase_create("params");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_query_api_time_forms);
	tcase_add_test(tc, test_query_api_step_forms);
	tcase_add_test(tc, test_query_api_lookback_delta);
	tcase_add_test(tc, test_query_api_range_limit);
	tcase_add_test(tc, test_query_api_points_cap);
	tcase_add_test(tc, test_query_api_scalar_range);
	tcase_add_test(tc, test_query_api_special_values);
	tcase_add_test(tc, test_query_api_post_equals_get);
	tcase_add_test(tc, test_query_api_histogram_and_experimental);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_query_api_max_samples);
	tcase_add_test(tc, test_query_api_server_timeout);
	tcase_add_test(tc, test_query_api_timeout_param);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_query");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_query_api_parse_query);
	tcase_add_test(tc, test_query_api_parse_query_escapes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(query_api_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
