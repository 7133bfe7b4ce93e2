/*
 * check_api.c - the HTTP API end to end, in process: a memory store, the
 * API and the HTTP server on 127.0.0.1:<ephemeral>, spoken to over a real
 * socket by the small HTTP/1.1 client below (one request per connection),
 * JSON answers parsed with jansson.
 *
 * TCases:
 *   unit        - JSON writer, form and parameter parsing, no server
 *   http        - routing, 404, health, buildinfo, rules/alerts
 *   write       - remote_write answers (204, 400, 405, 413, 415), data
 *                 written before a bad request stays queryable, concurrent
 *                 writers and readers
 *   remote_read - SAMPLES and STREAMED_XOR_CHUNKS answers (frames, CRCs,
 *                 chunks decoded again), errors
 *   read        - series, labels, label values, metadata, /metrics, error
 *                 shapes and codes
 *   query       - query, query_range, format_query, query_exemplars (need
 *                 the PromQL engine)
 *   main        - the varve binary (from make check's top_builddir): flags,
 *                 data directory lock, signal stop
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/params.h"
#include "api/selfmetrics.h"
#include "http/json.h"
#include "http/server.h"
#include "prometheus.pb-c.h"
#include "tsdb/chunk_xor.h"
#include "tsdb/db.h"
#include "tests/unit/http_client.h"
#include "util/arena.h"

/* Body limit of the test server (small, to test 413 cheaply). */
#define TEST_MAX_BODY (1u << 20)
/* Base timestamp of the fixture data (ms). */
#define T0 1700000000000LL

/* ------------------------------------------------------------ fixture */

static struct db *db;
static struct selfmetrics *sm;
static struct api *api;
static struct http_server *srv;

static void server_setup(void)
{
	struct ts_error err;
	struct api_opts ao;
	struct http_server_opts so;

	db = db_open(NULL, NULL, &err);
	ck_assert_msg(db != NULL, "db_open: %s", err.msg);
	sm = selfmetrics_new();
	ck_assert_ptr_nonnull(sm);
	memset(&ao, 0, sizeof(ao));
	ao.db = db;
	ao.metrics = sm;
	ao.rw_max_decoded_bytes = 4u << 20;
	api = api_new(&ao);
	ck_assert_ptr_nonnull(api);
	memset(&so, 0, sizeof(so));
	so.max_body_bytes = TEST_MAX_BODY;
	so.threads = 2;
	so.observer = selfmetrics_observe_request;
	so.observer_ctx = sm;
	srv = http_server_new(&so);
	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(api_register(api, srv), 0);
	ck_assert_msg(http_server_start(srv, "127.0.0.1:0", &err) == 0, "start: %s", err.msg);
	test_port = http_server_port(srv);
	ck_assert_uint_ne(test_port, 0);
}

static void server_teardown(void)
{
	http_server_free(srv);
	api_free(api);
	db_close(db);
	selfmetrics_free(sm);
	srv = NULL;
	api = NULL;
	db = NULL;
	sm = NULL;
}

/* ------------------------------------------------------------ HTTP client */

static void http_get(const char *target, struct reply *r)
{
	http_req("GET", target, NULL, NULL, 0, 0, r);
}

static void http_post_form(const char *target, const char *form, struct reply *r)
{
	http_req("POST", target, "Content-Type: application/x-www-form-urlencoded\r\n", form,
		 strlen(form), 0, r);
}

/* Parse a JSON reply, checking status code and "status" field. */
static json_t *json_reply(const struct reply *r, int want_status)
{
	json_error_t je;
	json_t *j;

	ck_assert_msg(r->status == want_status, "status %d, want %d; body: %s", r->status,
		      want_status, r->body);
	j = json_loadb(r->body, r->body_len, 0, &je);
	ck_assert_msg(j != NULL, "bad JSON (%s): %s", je.text, r->body);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 want_status == 200 ? "success" : "error");
	return j;
}

/* GET target expecting success; returns the "data" member (a new ref). */
static json_t *get_data(const char *target)
{
	struct reply r;
	json_t *j, *d;

	http_get(target, &r);
	j = json_reply(&r, 200);
	d = json_incref(json_object_get(j, "data"));
	ck_assert_ptr_nonnull(d);
	json_decref(j);
	reply_free(&r);
	return d;
}

/* Expect an error answer with status, errorType and (when given) a
 * message containing want_msg. */
static void expect_error(const struct reply *r, int status, const char *type,
			 const char *want_msg)
{
	json_t *j = json_reply(r, status);
	const char *msg = json_string_value(json_object_get(j, "error"));

	ck_assert_str_eq(json_string_value(json_object_get(j, "errorType")), type);
	ck_assert_ptr_nonnull(msg);
	if (want_msg)
		ck_assert_msg(strstr(msg, want_msg) != NULL, "error %s lacks %s", msg, want_msg);
	ck_assert_ptr_null(json_object_get(j, "data"));
	json_decref(j);
}

/* Join a JSON array of strings with ',' for compact comparisons. */
static char *join_strings(const json_t *a)
{
	static char out[4096];
	size_t i, o = 0;

	out[0] = '\0';
	ck_assert(json_is_array(a));
	for (i = 0; i < json_array_size(a); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "",
				      json_string_value(json_array_get(a, i)));
	return out;
}

/* ------------------------------------------------------------ remote_write */

/* One sample of one series: name/value pairs (NULL-terminated), t, v. */
struct spec {
	const char *l[16];
	int64_t t;
	double v;
};

/* One metadata entry. */
struct mdspec {
	const char *family;
	int type;
	const char *help;
	const char *unit;
};

/* Encode and snappy-compress a WriteRequest; caller frees. */
static char *build_write(const struct spec *s, size_t n, const struct mdspec *md, size_t nmd,
			 size_t *out_len)
{
	Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
	Prometheus__TimeSeries *ts = calloc(n ? n : 1, sizeof(*ts));
	Prometheus__TimeSeries **tsp = calloc(n ? n : 1, sizeof(*tsp));
	Prometheus__Sample *smp = calloc(n ? n : 1, sizeof(*smp));
	Prometheus__Sample **smpp = calloc(n ? n : 1, sizeof(*smpp));
	Prometheus__Label *lab = calloc(n * 8 + 1, sizeof(*lab));
	Prometheus__Label **labp = calloc(n * 8 + 1, sizeof(*labp));
	Prometheus__MetricMetadata *m = calloc(nmd ? nmd : 1, sizeof(*m));
	Prometheus__MetricMetadata **mp = calloc(nmd ? nmd : 1, sizeof(*mp));
	size_t i, k, nl = 0, plen, clen;
	uint8_t *packed;
	char *comp;

	for (i = 0; i < n; i++) {
		Prometheus__TimeSeries init = PROMETHEUS__TIME_SERIES__INIT;
		Prometheus__Sample sinit = PROMETHEUS__SAMPLE__INIT;

		ts[i] = init;
		ts[i].labels = &labp[nl];
		for (k = 0; s[i].l[k]; k += 2) {
			Prometheus__Label linit = PROMETHEUS__LABEL__INIT;

			ck_assert_uint_lt(nl, n * 8);
			lab[nl] = linit;
			lab[nl].name = (char *)s[i].l[k];
			lab[nl].value = (char *)s[i].l[k + 1];
			labp[nl] = &lab[nl];
			nl++;
			ts[i].n_labels++;
		}
		smp[i] = sinit;
		smp[i].timestamp = s[i].t;
		smp[i].value = s[i].v;
		smpp[i] = &smp[i];
		ts[i].samples = &smpp[i];
		ts[i].n_samples = 1;
		tsp[i] = &ts[i];
	}
	for (i = 0; i < nmd; i++) {
		Prometheus__MetricMetadata minit = PROMETHEUS__METRIC_METADATA__INIT;

		m[i] = minit;
		m[i].metric_family_name = (char *)md[i].family;
		m[i].type = (Prometheus__MetricMetadata__MetricType)md[i].type;
		m[i].help = (char *)md[i].help;
		m[i].unit = (char *)md[i].unit;
		mp[i] = &m[i];
	}
	wr.timeseries = tsp;
	wr.n_timeseries = n;
	wr.metadata = mp;
	wr.n_metadata = nmd;
	plen = prometheus__write_request__get_packed_size(&wr);
	packed = malloc(plen ? plen : 1);
	prometheus__write_request__pack(&wr, packed);
	clen = snappy_max_compressed_length(plen);
	comp = malloc(clen);
	ck_assert_int_eq(snappy_compress((const char *)packed, plen, comp, &clen), SNAPPY_OK);
	*out_len = clen;
	free(packed);
	free(ts);
	free(tsp);
	free(smp);
	free(smpp);
	free(lab);
	free(labp);
	free(m);
	free(mp);
	return comp;
}

#define RW_HEADERS                                                                         \
	"Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"              \
	"X-Prometheus-Remote-Write-Version: 0.1.0\r\n"

static void post_write(const void *body, size_t len, const char *headers, struct reply *r)
{
	http_req("POST", "/api/v1/write", headers ? headers : RW_HEADERS, body, len, 0, r);
}

static const struct spec fixture[] = {
	{ { "__name__", "up", "instance", "a", "job", "api", NULL }, T0, 1 },
	{ { "__name__", "up", "instance", "b", "job", "api", NULL }, T0, 0 },
	{ { "__name__", "up", "instance", "c", "job", "db", "my_label", "x", NULL }, T0, 1 },
	{ { "__name__", "http_requests_total", "code", "200", "job", "api", NULL }, T0, 10 },
	{ { "__name__", "http_requests_total", "code", "500", "job", "api", NULL }, T0, 2 },
};

static const struct mdspec fixture_md[] = {
	{ "up", PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGE, "Whether the target is up.", "" },
	{ "http_requests_total", PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER,
	  "Requests served.", "" },
};

/* Fixture: server plus the data above written through remote_write. */
static void data_setup(void)
{
	struct reply r;
	size_t len;
	char *body;

	server_setup();
	body = build_write(fixture, sizeof(fixture) / sizeof(fixture[0]), fixture_md,
			   sizeof(fixture_md) / sizeof(fixture_md[0]), &len);
	post_write(body, len, NULL, &r);
	ck_assert_msg(r.status == 204, "fixture write: %d %s", r.status, r.body);
	reply_free(&r);
	free(body);
}

/* ============================================================ unit */

START_TEST(test_api_json_writer)
{
	struct buf b = BUF_INIT;
	struct jw j;

	jw_init(&j, &b);
	jw_obj_begin(&j);
	jw_key(&j, "s");
	jw_str(&j, "a\"b\\c\n\x01\t");
	jw_key(&j, "bad");
	jw_strn(&j, "x\xff\xc3(y\xe2\x82\xac", 8);
	jw_key(&j, "a");
	jw_arr_begin(&j);
	jw_time_ms(&j, 1700000000123LL);
	jw_time_ms(&j, 1700000000000LL);
	jw_time_ms(&j, 1500);
	jw_time_ms(&j, -1500);
	jw_time_ms(&j, 1700000000100LL);
	jw_sample_value(&j, 1.5);
	jw_sample_value(&j, NAN);
	jw_sample_value(&j, -INFINITY);
	jw_int(&j, -3);
	jw_bool(&j, true);
	jw_null(&j);
	jw_arr_begin(&j);
	jw_arr_end(&j);
	jw_obj_begin(&j);
	jw_obj_end(&j);
	jw_arr_end(&j);
	jw_obj_end(&j);
	ck_assert(buf_ok(&b));
	ck_assert_str_eq(b.data,
			 "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\t\",\"bad\":\"x\\ufffd\\ufffd(y\xe2\x82\xac\","
			 "\"a\":[1700000000.123,1700000000,1.500,-1.500,1700000000.100,\"1.5\","
			 "\"NaN\",\"-Inf\",-3,true,null,[],{}]}");
	/* the output is valid JSON whatever the input bytes were */
	{
		json_error_t je;
		json_t *v = json_loads(b.data, 0, &je);

		ck_assert_msg(v != NULL, "%s", je.text);
		json_decref(v);
	}
	buf_release(&b);
}
END_TEST

/* The writer's fast path for sample values must print exactly what the
 * general formatter (buf_add_float) prints. */
START_TEST(test_api_json_values_match_formatter)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	struct jw j;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < 120000; i++) {
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 6) {
		case 0:
			v = (double)(int64_t)(x % 2000000000000000ULL) - 1e15;
			break;
		case 1:
			v = (double)(int64_t)(x % 100000000) / 100.0;
			break;
		case 2:
			v = (double)(x % 1000000) / 1000.0 + 1e9;
			break;
		case 3:
			memcpy(&v, &x, sizeof(v));
			break;
		case 4:
			v = (double)(x % 100000) * 1e-7;
			break;
		default:
			v = (double)(x % 1000) * 0.1 + 0.37;
			break;
		}
		buf_setlen(&a, 0);
		buf_setlen(&b, 0);
		jw_init(&j, &a);
		jw_sample_value(&j, v);
		buf_addch(&b, '"');
		buf_add_float(&b, v);
		buf_addch(&b, '"');
		ck_assert_msg(strcmp(a.data, b.data) == 0, "%.17g: writer %s, formatter %s", v,
			      a.data, b.data);
	}
	buf_release(&a);
	buf_release(&b);
}
END_TEST

START_TEST(test_api_params_time)
{
	struct ts_error err;
	int64_t ms;

	ck_assert_int_eq(param_parse_time("1700000000.123", &ms, &err), 0);
	ck_assert_int_eq(ms, 1700000000123LL);
	ck_assert_int_eq(param_parse_time("4", &ms, &err), 0);
	ck_assert_int_eq(ms, 4000);
	ck_assert_int_eq(param_parse_time("1.0006", &ms, &err), 0);
	ck_assert_int_eq(ms, 1001);
	ck_assert_int_eq(param_parse_time("2023-11-14T22:13:20Z", &ms, &err), 0);
	ck_assert_int_eq(ms, 1700000000000LL);
	ck_assert_int_eq(param_parse_time("2023-11-14T23:13:20.5+01:00", &ms, &err), 0);
	ck_assert_int_eq(ms, 1700000000500LL);
	ck_assert_int_eq(param_parse_time(PARAM_MIN_TIME_STR, &ms, &err), 0);
	ck_assert_int_eq(ms, PARAM_MIN_TIME_MS);
	ck_assert_int_eq(param_parse_time(PARAM_MAX_TIME_STR, &ms, &err), 0);
	ck_assert_int_eq(ms, PARAM_MAX_TIME_MS);
	ck_assert_int_eq(param_parse_time("abc", &ms, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "cannot parse \"abc\" to a valid timestamp");
	ck_assert_int_eq(param_parse_time("", &ms, &err), TS_ERR_INVALID);
	ck_assert_int_eq(param_parse_time("NaN", &ms, &err), TS_ERR_INVALID);
	ck_assert_int_eq(param_parse_time("2023-02-29T00:00:00Z", &ms, &err), TS_ERR_INVALID);
}
END_TEST

START_TEST(test_api_params_duration)
{
	struct ts_error err;
	int64_t ms;

	ck_assert_int_eq(param_parse_duration("15", &ms, &err), 0);
	ck_assert_int_eq(ms, 15000);
	ck_assert_int_eq(param_parse_duration("0.5", &ms, &err), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(param_parse_duration("1h30m", &ms, &err), 0);
	ck_assert_int_eq(ms, 5400000);
	ck_assert_int_eq(param_parse_duration("250ms", &ms, &err), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(param_parse_duration("1d2h3m4s5ms", &ms, &err), 0);
	ck_assert_int_eq(ms, 86400000 + 7200000 + 180000 + 4000 + 5);
	ck_assert_int_eq(param_parse_duration("1m1h", &ms, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "cannot parse \"1m1h\" to a valid duration");
	ck_assert_int_eq(param_parse_duration("", &ms, &err), TS_ERR_INVALID);
	ck_assert_int_eq(param_parse_duration("5x", &ms, &err), TS_ERR_INVALID);
	ck_assert_int_eq(param_parse_prom_duration("5m", &ms, &err), 0);
	ck_assert_int_eq(ms, 300000);
	ck_assert_int_eq(param_parse_prom_duration("2", &ms, &err), TS_ERR_INVALID);
	ck_assert_int_eq(param_parse_limit("40000", &ms, &err), 0);
	ck_assert_int_eq(ms, 40000);
	ck_assert_int_eq(param_parse_limit("-1", &ms, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "limit must be non-negative");
	ck_assert_int_eq(param_parse_limit("x", &ms, &err), TS_ERR_INVALID);
}
END_TEST

START_TEST(test_api_form_parse)
{
	struct arena *a = arena_new(0);
	struct http_param *p = NULL;
	size_t n = 0;
	const char *s = "match%5B%5D=up%7Bjob%3D%22a%22%7D&match[]=b+c&x=&flag&%zz=1";

	ck_assert_int_eq(http_parse_form(a, s, strlen(s), &p, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(p[0].name, "match[]");
	ck_assert_str_eq(p[0].value, "up{job=\"a\"}");
	ck_assert_str_eq(p[1].name, "match[]");
	ck_assert_str_eq(p[1].value, "b c");
	ck_assert_str_eq(p[2].name, "x");
	ck_assert_str_eq(p[2].value, "");
	ck_assert_str_eq(p[3].name, "flag");
	ck_assert_str_eq(p[4].name, "%zz");
	arena_free(a);
}
END_TEST

/* ============================================================ http */

START_TEST(test_api_not_found)
{
	struct reply r;

	http_get("/nope", &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
	http_get("/api/v1/label/job", &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
	http_get("/api/v1/status/flags", &r); /* success there would make Grafana say Thanos */
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_health)
{
	struct reply r;

	http_get("/-/healthy", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "healthy"));
	reply_free(&r);
	http_get("/-/ready", &r);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	http_req("HEAD", "/-/healthy", NULL, NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_cors)
{
	struct reply r;
	char v[128];

	http_req("GET", "/api/v1/labels", "Origin: http://grafana.example\r\n", NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(reply_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
	ck_assert_str_eq(v, "*");
	ck_assert(reply_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)));
	ck_assert_str_eq(v, "GET, POST, OPTIONS");
	reply_free(&r);

	/* no Origin, no CORS headers */
	http_get("/api/v1/labels", &r);
	ck_assert(!reply_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
	reply_free(&r);

	/* preflight on an endpoint and on any other API path */
	http_req("OPTIONS", "/api/v1/query", "Origin: http://x\r\n", NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert(reply_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)));
	reply_free(&r);
	http_req("OPTIONS", "/api/v1/anything/else", "Origin: http://x\r\n", NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 204);
	reply_free(&r);
	http_get("/api/v1/anything/else", &r);
	ck_assert_int_eq(r.status, 404);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_buildinfo)
{
	json_t *d = get_data("/api/v1/status/buildinfo");
	static const char *const keys[] = { "version", "revision", "branch", "buildUser",
					    "buildDate", "goVersion" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ck_assert_msg(json_is_string(json_object_get(d, keys[i])), "no %s", keys[i]);
	ck_assert_ptr_null(json_object_get(d, "features"));
	ck_assert_uint_eq(json_object_size(d), 6);
	json_decref(d);
}
END_TEST

/* A handler that takes its time (offloaded in the test below). */
static void slow_handler(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	usleep(800 * 1000);
	http_response_text(resp, 200, "text/plain", "slow\n");
}

static void fast_handler(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	http_response_text(resp, 200, "text/plain", "fast\n");
}

static void *slow_client(void *arg)
{
	struct reply *r = arg;

	http_get("/slow", r);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With one network thread, an offloaded slow handler must not hold up
 * other requests; stopping the server waits for it to answer. */
START_TEST(test_api_offload_does_not_block)
{
	struct http_server_opts so = { .threads = 1, .workers = 2 };
	struct http_server *s = http_server_new(&so);
	struct ts_error err;
	struct reply slow, fast;
	pthread_t th;
	double t0, dt;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(http_server_route(s, "/slow", HTTP_ROUTE_OFFLOAD, slow_handler, NULL), 0);
	ck_assert_int_eq(http_server_route(s, "/fast", 0, fast_handler, NULL), 0);
	ck_assert_msg(http_server_start(s, "127.0.0.1:0", &err) == 0, "%s", err.msg);
	test_port = http_server_port(s);

	memset(&slow, 0, sizeof(slow));
	ck_assert_int_eq(pthread_create(&th, NULL, slow_client, &slow), 0);
	usleep(100 * 1000); /* let the slow request reach its handler */
	t0 = now_s();
	http_get("/fast", &fast);
	dt = now_s() - t0;
	ck_assert_int_eq(fast.status, 200);
	ck_assert_msg(dt < 0.4, "fast request took %.3f s behind a slow one", dt);
	reply_free(&fast);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(slow.status, 200);
	ck_assert_str_eq(slow.body, "slow\n");
	reply_free(&slow);

	/* stop while a slow request runs: the answer still arrives */
	memset(&slow, 0, sizeof(slow));
	ck_assert_int_eq(pthread_create(&th, NULL, slow_client, &slow), 0);
	usleep(100 * 1000);
	http_server_stop(s);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(slow.status, 200);
	reply_free(&slow);
	http_server_free(s);
}
END_TEST

/* ============================================================ write */

START_TEST(test_api_write_ok)
{
	const struct spec s[] = {
		{ { "__name__", "w_ok", "k", "v", NULL }, T0, 3.5 },
	};
	struct reply r;
	size_t len;
	char *body = build_write(s, 1, NULL, 0, &len);
	json_t *d;

	post_write(body, len, NULL, &r);
	ck_assert_msg(r.status == 204, "%d %s", r.status, r.body);
	reply_free(&r);
	free(body);
	d = get_data("/api/v1/series?match[]=w_ok");
	ck_assert_uint_eq(json_array_size(d), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "k")), "v");
	json_decref(d);
}
END_TEST

START_TEST(test_api_write_methods)
{
	struct reply r;
	char allow[64];

	http_get("/api/v1/write", &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert(reply_header(&r, "Allow", allow, sizeof(allow)));
	ck_assert_str_eq(allow, "POST");
	reply_free(&r);

	/* an unknown proto= and a non-protobuf media type are 415 */
	post_write("x", 1,
		   "Content-Type: application/x-protobuf;proto=foo.Bar\r\n"
		   "Content-Encoding: snappy\r\n",
		   &r);
	ck_assert_int_eq(r.status, 415);
	reply_free(&r);
	post_write("x", 1, "Content-Type: application/json\r\nContent-Encoding: snappy\r\n", &r);
	ck_assert_int_eq(r.status, 415);
	reply_free(&r);
	post_write("x", 1, "Content-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\n",
		   &r);
	ck_assert_int_eq(r.status, 415);
	reply_free(&r);
}
END_TEST

/* remote_write 2.0 is negotiated by remote_write.c; until it decodes v2 it
 * must answer 415 (senders then fall back to 1.0), never 2xx without the
 * written-counts headers. */
START_TEST(test_api_write_v2_content_type)
{
	struct reply r;
	char v[32];

	post_write("x", 1,
		   "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request\r\n"
		   "Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 2.0.0\r\n",
		   &r);
	if (r.status == 415) {
		reply_free(&r);
		return;
	}
	/* once v2 is decoded: garbage is a 400 that carries the headers */
	ck_assert_int_eq(r.status, 400);
	ck_assert(reply_header(&r, "X-Prometheus-Remote-Write-Samples-Written", v, sizeof(v)));
	reply_free(&r);
}
END_TEST

START_TEST(test_api_write_bad_bodies)
{
	const struct spec bad_labels[] = {
		{ { "__name__", "bad", "0invalid", "x", NULL }, T0, 1 },
		{ { "__name__", "good_after_bad", NULL }, T0, 1 },
	};
	struct reply r;
	size_t len;
	char *body;
	json_t *d;
	char garbage[64];
	size_t glen = sizeof(garbage);

	/* corrupt snappy */
	post_write("\xff\xff\xff\xff\xff\x01garbage", 13, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_uint_gt(r.body_len, 0);
	reply_free(&r);

	/* valid snappy around bytes that are not a WriteRequest */
	ck_assert_int_eq(snappy_compress("\x0a\xff\xff\xff\xff\x0f\x01", 7, garbage, &glen),
			 SNAPPY_OK);
	post_write(garbage, glen, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);

	/* invalid labels: 400, the valid rest stored */
	body = build_write(bad_labels, 2, NULL, 0, &len);
	post_write(body, len, NULL, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	free(body);

	/* the fixture written before is untouched, the valid series stored */
	d = get_data("/api/v1/series?match[]=up");
	ck_assert_uint_eq(json_array_size(d), 3);
	json_decref(d);
	d = get_data("/api/v1/series?match[]=good_after_bad");
	ck_assert_uint_eq(json_array_size(d), 1);
	json_decref(d);
	d = get_data("/api/v1/series?match[]=bad");
	ck_assert_uint_eq(json_array_size(d), 0);
	json_decref(d);
}
END_TEST

START_TEST(test_api_write_oversize)
{
	struct reply r;
	char *big;
	json_t *d;

	/* announced too large: 413 before the body is read */
	http_req("POST", "/api/v1/write", RW_HEADERS, NULL, 0, TEST_MAX_BODY + 1, &r);
	ck_assert_int_eq(r.status, 413);
	ck_assert_ptr_nonnull(strstr(r.body, "the limit is 1048576 bytes"));
	reply_free(&r);

	/* sent in full over the limit */
	big = calloc(1, TEST_MAX_BODY + 10);
	post_write(big, TEST_MAX_BODY + 10, NULL, &r);
	ck_assert_int_eq(r.status, 413);
	reply_free(&r);
	free(big);

	/* the server still answers */
	d = get_data("/api/v1/labels");
	json_decref(d);
}
END_TEST

#define CONC_THREADS 4
#define CONC_REQUESTS 25

/* One writer thread: CONC_REQUESTS requests of one new series each. */
static void *conc_writer(void *arg)
{
	long id = (long)arg;
	char name[64], inst[32];
	struct reply r;
	size_t len;
	int i;
	long bad = 0;

	for (i = 0; i < CONC_REQUESTS; i++) {
		struct spec s[1] = { { { "__name__", name, "instance", inst, NULL }, T0 + i, i } };
		char *body;

		snprintf(name, sizeof(name), "conc_%ld", id);
		snprintf(inst, sizeof(inst), "i%d", i);
		body = build_write(s, 1, NULL, 0, &len);
		post_write(body, len, NULL, &r);
		if (r.status != 204)
			bad++;
		reply_free(&r);
		free(body);
		/* interleave reads with the writes */
		http_get("/api/v1/label/__name__/values", &r);
		if (r.status != 200)
			bad++;
		reply_free(&r);
	}
	return (void *)bad;
}

START_TEST(test_api_concurrent_requests)
{
	pthread_t th[CONC_THREADS];
	void *bad;
	long i;
	json_t *d;

	for (i = 0; i < CONC_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_writer, (void *)i), 0);
	for (i = 0; i < CONC_THREADS; i++) {
		ck_assert_int_eq(pthread_join(th[i], &bad), 0);
		ck_assert_int_eq((long)bad, 0);
	}
	d = get_data("/api/v1/series?match[]=%7B__name__%3D~%22conc_.*%22%7D");
	ck_assert_uint_eq(json_array_size(d), CONC_THREADS * CONC_REQUESTS);
	json_decref(d);
}
END_TEST

/* Send raw bytes as a request and read whatever comes back (maybe
 * nothing: the server may just close). */
static void send_raw(const char *data, size_t len)
{
	char tmp[4096];
	int fd = http_connect();

	http_send_all(fd, data, len);
	shutdown(fd, SHUT_WR);
	while (recv(fd, tmp, sizeof(tmp), 0) > 0)
		;
	close(fd);
}

/* Random garbage at every route: the server must keep answering (and,
 * under ASan, touch no memory it should not). */
START_TEST(test_api_garbage_requests)
{
	static const char *const paths[] = {
		"/api/v1/write", "/api/v1/read", "/api/v1/query", "/api/v1/query_range",
		"/api/v1/series", "/api/v1/labels", "/api/v1/label/", "/api/v1/metadata",
		"/api/v1/format_query", "/api/v1/query_exemplars", "/metrics", "/-/healthy", "/",
	};
	static const char alphabet[] = "%%%&&==+[]{}\"'~!,.aZ09_\x01\xff\xc3 ";
	uint64_t x = 0x2545f4914f6cdd1dULL;
	char req[8192], junk[1024];
	struct reply r;
	int i, n, k, jl;

	for (i = 0; i < 300; i++) {
		for (k = 0; k < (int)sizeof(junk) - 1; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[k] = alphabet[x % (sizeof(alphabet) - 1)];
		}
		jl = (int)(x % 600);
		junk[jl] = '\0';
		switch (i % 4) {
		case 0: /* junk query string */
			n = snprintf(req, sizeof(req),
				     "GET %s?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
				     paths[i % 13], junk);
			break;
		case 1: /* junk form body */
			n = snprintf(req, sizeof(req),
				     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				     "Content-Type: application/x-www-form-urlencoded\r\n"
				     "Content-Length: %d\r\n\r\n%s",
				     paths[i % 13], jl, junk);
			break;
		case 2: /* junk protobuf-ish body */
			n = snprintf(req, sizeof(req),
				     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
				     "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
				     "Content-Length: %d\r\n\r\n%s",
				     paths[i % 13], jl, junk);
			break;
		default: /* junk in the path */
			n = snprintf(req, sizeof(req),
				     "POST /api/v1/label/%.200s/values HTTP/1.1\r\nHost: x\r\n"
				     "Connection: close\r\nContent-Length: 5\r\n\r\nshort",
				     junk);
			break;
		}
		ck_assert_int_gt(n, 0);
		send_raw(req, (size_t)n < sizeof(req) ? (size_t)n : sizeof(req) - 1);
	}
	http_get("/-/healthy", &r);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	http_get("/api/v1/label/__name__/values", &r);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
}
END_TEST

/* ============================================================ remote_read */

/* Encode a ReadRequest with one query per matcher set; caller frees. */
static char *build_read(const char *const *names, const char *const *values,
			const int *types, size_t nm, int64_t start, int64_t end,
			const int *accepted, size_t nacc, size_t *out_len)
{
	Prometheus__ReadRequest rr = PROMETHEUS__READ_REQUEST__INIT;
	Prometheus__Query q = PROMETHEUS__QUERY__INIT, *qp = &q;
	Prometheus__LabelMatcher lm[8], *lmp[8];
	Prometheus__ReadRequest__ResponseType acc[4];
	size_t i, plen, clen;
	uint8_t *packed;
	char *comp;

	ck_assert_uint_le(nm, 8);
	ck_assert_uint_le(nacc, 4);
	for (i = 0; i < nm; i++) {
		prometheus__label_matcher__init(&lm[i]);
		lm[i].name = (char *)names[i];
		lm[i].value = (char *)values[i];
		lm[i].type = (Prometheus__LabelMatcher__Type)types[i];
		lmp[i] = &lm[i];
	}
	for (i = 0; i < nacc; i++)
		acc[i] = (Prometheus__ReadRequest__ResponseType)accepted[i];
	q.matchers = lmp;
	q.n_matchers = nm;
	q.start_timestamp_ms = start;
	q.end_timestamp_ms = end;
	rr.queries = &qp;
	rr.n_queries = 1;
	rr.accepted_response_types = acc;
	rr.n_accepted_response_types = nacc;
	plen = prometheus__read_request__get_packed_size(&rr);
	packed = malloc(plen ? plen : 1);
	prometheus__read_request__pack(&rr, packed);
	clen = snappy_max_compressed_length(plen);
	comp = malloc(clen);
	ck_assert_int_eq(snappy_compress((const char *)packed, plen, comp, &clen), SNAPPY_OK);
	free(packed);
	*out_len = clen;
	return comp;
}

static void post_read(const void *body, size_t len, struct reply *r)
{
	http_req("POST", "/api/v1/read",
		 "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
		 "X-Prometheus-Remote-Read-Version: 0.1.0\r\n",
		 body, len, 0, r);
}

/* Independent CRC-32C for checking frames (bitwise, no table). */
static uint32_t test_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

START_TEST(test_api_read_samples)
{
	static const char *const names[] = { "__name__" };
	static const char *const values[] = { "up" };
	static const int types[] = { PROMETHEUS__LABEL_MATCHER__TYPE__EQ };
	Prometheus__ReadResponse *rsp;
	struct reply r;
	size_t len, ulen;
	char *body = build_read(names, values, types, 1, T0 - 1000, T0 + 1000, NULL, 0, &len);
	char ct[128], ce[32], *raw;
	Prometheus__TimeSeries *ts;

	post_read(body, len, &r);
	free(body);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert(reply_header(&r, "Content-Type", ct, sizeof(ct)));
	ck_assert_str_eq(ct, "application/x-protobuf");
	ck_assert(reply_header(&r, "Content-Encoding", ce, sizeof(ce)));
	ck_assert_str_eq(ce, "snappy");
	ck_assert_int_eq(snappy_uncompressed_length(r.body, r.body_len, &ulen), SNAPPY_OK);
	raw = malloc(ulen + 1);
	ck_assert_int_eq(snappy_uncompress(r.body, r.body_len, raw, &ulen), SNAPPY_OK);
	rsp = prometheus__read_response__unpack(NULL, ulen, (uint8_t *)raw);
	ck_assert_ptr_nonnull(rsp);
	ck_assert_uint_eq(rsp->n_results, 1);
	ck_assert_uint_eq(rsp->results[0]->n_timeseries, 3);
	ts = rsp->results[0]->timeseries[1];
	ck_assert_uint_eq(ts->n_labels, 3);
	ck_assert_str_eq(ts->labels[0]->name, "__name__");
	ck_assert_str_eq(ts->labels[1]->value, "b");
	ck_assert_uint_eq(ts->n_samples, 1);
	ck_assert_int_eq(ts->samples[0]->timestamp, T0);
	ck_assert(ts->samples[0]->value == 0.0);
	prometheus__read_response__free_unpacked(rsp, NULL);
	free(raw);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_read_streamed)
{
	enum { N = 300 };
	static const char *const names[] = { "__name__", "k" };
	static const char *const values[] = { "rr_long", "v.*" };
	static const int types[] = { PROMETHEUS__LABEL_MATCHER__TYPE__EQ,
				     PROMETHEUS__LABEL_MATCHER__TYPE__RE };
	static const int accepted[] = { 7, PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS };
	struct spec *s = calloc(N, sizeof(*s));
	struct reply r;
	size_t len, pos = 0, nsamples = 0, i;
	char *body, ct[128];
	int64_t want_t = T0;

	for (i = 0; i < N; i++) {
		s[i].l[0] = "__name__";
		s[i].l[1] = "rr_long";
		s[i].l[2] = "k";
		s[i].l[3] = "v1";
		s[i].t = T0 + (int64_t)i * 15000;
		s[i].v = (double)i * 0.5;
	}
	body = build_write(s, N, NULL, 0, &len);
	post_write(body, len, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	reply_free(&r);
	free(body);
	free(s);

	body = build_read(names, values, types, 2, T0, T0 + N * 15000, accepted, 2, &len);
	post_read(body, len, &r);
	free(body);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert(reply_header(&r, "Content-Type", ct, sizeof(ct)));
	ck_assert_str_eq(ct, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
	while (pos < r.body_len) {
		const uint8_t *p = (const uint8_t *)r.body;
		uint64_t mlen = 0;
		int shift = 0;
		uint32_t crc;
		Prometheus__ChunkedReadResponse *m;
		size_t c;

		while (p[pos] & 0x80) {
			mlen |= (uint64_t)(p[pos++] & 0x7f) << shift;
			shift += 7;
		}
		mlen |= (uint64_t)p[pos++] << shift;
		ck_assert_uint_le(pos + 4 + mlen, r.body_len);
		crc = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
		      (uint32_t)p[pos + 2] << 8 | p[pos + 3];
		pos += 4;
		ck_assert_uint_eq(crc, test_crc32c(p + pos, mlen));
		m = prometheus__chunked_read_response__unpack(NULL, mlen, p + pos);
		ck_assert_ptr_nonnull(m);
		pos += mlen;
		ck_assert_int_eq(m->query_index, 0);
		ck_assert_uint_eq(m->n_chunked_series, 1);
		ck_assert_str_eq(m->chunked_series[0]->labels[0]->value, "rr_long");
		for (c = 0; c < m->chunked_series[0]->n_chunks; c++) {
			const Prometheus__Chunk *ch = m->chunked_series[0]->chunks[c];
			struct xor_iter it;
			int64_t t;
			double v;

			ck_assert_int_eq(ch->type, PROMETHEUS__CHUNK__ENCODING__XOR);
			ck_assert_uint_le(xor_chunk_num_samples(ch->data.data, ch->data.len), 120);
			ck_assert_int_eq(ch->min_time_ms, want_t);
			xor_iter_init(&it, ch->data.data, ch->data.len);
			while (xor_iter_next(&it, &t, &v) == 1) {
				ck_assert_int_eq(t, want_t);
				ck_assert(v == (double)nsamples * 0.5);
				want_t += 15000;
				nsamples++;
			}
			ck_assert(!it.err);
			ck_assert_int_eq(ch->max_time_ms, want_t - 15000);
		}
		prometheus__chunked_read_response__free_unpacked(m, NULL);
	}
	ck_assert_uint_eq(nsamples, N);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_read_errors)
{
	static const char *const names[] = { "__name__" };
	static const char *const bad_re[] = { "(" };
	static const int re[] = { PROMETHEUS__LABEL_MATCHER__TYPE__RE };
	static const int only_unknown[] = { 9 };
	struct reply r;
	size_t len;
	char *body;

	http_get("/api/v1/read", &r);
	ck_assert_int_eq(r.status, 405);
	reply_free(&r);

	post_read("\xff\xff\xff\xff\xff\x01garbage", 13, &r);
	ck_assert_int_eq(r.status, 400);
	ck_assert_uint_gt(r.body_len, 0);
	reply_free(&r);

	body = build_read(names, bad_re, re, 1, 0, 1, NULL, 0, &len);
	post_read(body, len, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	free(body);

	body = build_read(names, names, re, 1, 0, 1, only_unknown, 1, &len);
	post_read(body, len, &r);
	ck_assert_int_eq(r.status, 400);
	reply_free(&r);
	free(body);
}
END_TEST

/* ============================================================ read */

START_TEST(test_api_series)
{
	struct reply r;
	json_t *j, *d, *w;

	http_get("/api/v1/series", &r);
	expect_error(&r, 400, "bad_data", "no match[] parameter provided");
	reply_free(&r);

	d = get_data("/api/v1/series?match[]=up%7Bjob%3D%22api%22%7D");
	ck_assert_uint_eq(json_array_size(d), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "instance")),
			 "a");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "__name__")),
			 "up");
	json_decref(d);

	/* several match[] are a union, sorted and without duplicates */
	d = get_data("/api/v1/series?match[]=up&match[]=up%7Bjob%3D%22db%22%7D"
		     "&match[]=http_requests_total%7Bcode%3D%22500%22%7D");
	ck_assert_uint_eq(json_array_size(d), 4);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "__name__")),
			 "http_requests_total");
	json_decref(d);

	/* form POST */
	http_post_form("/api/v1/series", "match%5B%5D=%7B__name__%3D~%22up%7Chttp.*%22%7D", &r);
	j = json_reply(&r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "data")), 5);
	ck_assert_ptr_null(json_object_get(j, "warnings"));
	json_decref(j);
	reply_free(&r);

	/* limit truncates with a warning */
	http_get("/api/v1/series?match[]=up&limit=2", &r);
	j = json_reply(&r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "data")), 2);
	w = json_object_get(j, "warnings");
	ck_assert_uint_eq(json_array_size(w), 1);
	ck_assert_str_eq(json_string_value(json_array_get(w, 0)), "results truncated due to limit");
	json_decref(j);
	reply_free(&r);

	/* exactly at the limit: no warning */
	http_get("/api/v1/series?match[]=up&limit=3", &r);
	j = json_reply(&r, 200);
	ck_assert_ptr_null(json_object_get(j, "warnings"));
	json_decref(j);
	reply_free(&r);

	/* time range outside the data */
	d = get_data("/api/v1/series?match[]=up&start=1&end=2");
	ck_assert_uint_eq(json_array_size(d), 0);
	json_decref(d);
}
END_TEST

START_TEST(test_api_labels)
{
	struct reply r;
	json_t *j, *d;

	d = get_data("/api/v1/labels");
	ck_assert_str_eq(join_strings(d), "__name__,code,instance,job,my_label");
	json_decref(d);

	d = get_data("/api/v1/labels?match[]=http_requests_total");
	ck_assert_str_eq(join_strings(d), "__name__,code,job");
	json_decref(d);

	/* union of two match[] */
	http_post_form("/api/v1/labels",
		       "match[]=http_requests_total&match[]=up%7Bmy_label%3D%22x%22%7D", &r);
	j = json_reply(&r, 200);
	ck_assert_str_eq(join_strings(json_object_get(j, "data")),
			 "__name__,code,instance,job,my_label");
	json_decref(j);
	reply_free(&r);

	http_get("/api/v1/labels?limit=2", &r);
	j = json_reply(&r, 200);
	ck_assert_str_eq(join_strings(json_object_get(j, "data")), "__name__,code");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "warnings")), 1);
	json_decref(j);
	reply_free(&r);

	/* body and query string both give limit: the body's wins, as in Go */
	http_post_form("/api/v1/labels?limit=1&match[]=up", "limit=2", &r);
	j = json_reply(&r, 200);
	ck_assert_str_eq(join_strings(json_object_get(j, "data")), "__name__,instance");
	json_decref(j);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_label_values)
{
	struct reply r;
	json_t *j, *d;

	d = get_data("/api/v1/label/__name__/values");
	ck_assert_str_eq(join_strings(d), "http_requests_total,up");
	json_decref(d);

	d = get_data("/api/v1/label/instance/values");
	ck_assert_str_eq(join_strings(d), "a,b,c");
	json_decref(d);

	d = get_data("/api/v1/label/job/values?match[]=up%7Binstance%3D%22c%22%7D"
		     "&match[]=http_requests_total");
	ck_assert_str_eq(join_strings(d), "api,db");
	json_decref(d);

	/* U__ escaping: "U__my__label" is my_label */
	d = get_data("/api/v1/label/U__my__label/values");
	ck_assert_str_eq(join_strings(d), "x");
	json_decref(d);

	/* an absent label has no values: [] not null */
	d = get_data("/api/v1/label/nothere/values");
	ck_assert(json_is_array(d));
	ck_assert_uint_eq(json_array_size(d), 0);
	json_decref(d);

	http_get("/api/v1/label/instance/values?limit=1", &r);
	j = json_reply(&r, 200);
	ck_assert_str_eq(join_strings(json_object_get(j, "data")), "a");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)),
			 "results truncated due to limit");
	json_decref(j);
	reply_free(&r);

	http_get("/api/v1/label/job/values?match[]=%7Bjob%3D%22%22%7D", &r);
	expect_error(&r, 400, "bad_data", "match[] must contain at least one non-empty matcher");
	reply_free(&r);
}
END_TEST

START_TEST(test_api_metadata)
{
	json_t *d, *e;

	d = get_data("/api/v1/metadata");
	ck_assert_uint_eq(json_object_size(d), 2);
	e = json_array_get(json_object_get(d, "up"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "gauge");
	ck_assert_str_eq(json_string_value(json_object_get(e, "help")), "Whether the target is up.");
	ck_assert_str_eq(json_string_value(json_object_get(e, "unit")), "");
	e = json_array_get(json_object_get(d, "http_requests_total"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "counter");
	json_decref(d);

	d = get_data("/api/v1/metadata?metric=up");
	ck_assert_uint_eq(json_object_size(d), 1);
	json_decref(d);

	d = get_data("/api/v1/metadata?limit=1");
	ck_assert_uint_eq(json_object_size(d), 1);
	json_decref(d);

	d = get_data("/api/v1/metadata?limit=0");
	ck_assert_uint_eq(json_object_size(d), 0);
	json_decref(d);
}
END_TEST

START_TEST(test_api_status_tsdb)
{
	json_t *d, *l, *e;

	d = get_data("/api/v1/status/tsdb");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "headStats"),
							    "numSeries")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "headStats"),
							    "numLabelPairs")), 10);
	l = json_object_get(d, "seriesCountByMetricName");
	ck_assert_uint_eq(json_array_size(l), 2);
	e = json_array_get(l, 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "up");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "value")), 3);
	l = json_object_get(d, "labelValueCountByLabelName");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 0), "name")),
			 "instance");
	l = json_object_get(d, "seriesCountByLabelValuePair");
	e = json_array_get(l, 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "job=api");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "value")), 4);
	ck_assert(json_is_array(json_object_get(d, "memoryInBytesByLabelName")));
	json_decref(d);

	d = get_data("/api/v1/status/tsdb?limit=1");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "seriesCountByLabelValuePair")), 1);
	json_decref(d);
}
END_TEST

START_TEST(test_api_bad_params)
{
	struct reply r;

	http_get("/api/v1/series?match[]=up&start=abc", &r);
	expect_error(&r, 400, "bad_data",
		     "invalid parameter \"start\": Invalid time value for 'start': cannot parse "
		     "\"abc\" to a valid timestamp");
	reply_free(&r);

	http_get("/api/v1/labels?limit=-1", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"limit\": limit must be non-negative");
	reply_free(&r);

	http_get("/api/v1/series?match[]=up%7B", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"match[]\": ");
	reply_free(&r);

	http_get("/api/v1/metadata?limit=x", &r);
	expect_error(&r, 400, "bad_data", "limit must be a number");
	reply_free(&r);

	http_get("/api/v1/query_range?query=up&start=10&end=5&step=1", &r);
	expect_error(&r, 400, "bad_data", "end timestamp must not be before start time");
	reply_free(&r);

	http_get("/api/v1/query_range?query=up&start=0&end=100&step=0", &r);
	expect_error(&r, 400, "bad_data", "zero or negative query resolution step widths");
	reply_free(&r);

	http_get("/api/v1/query_range?query=up&start=0&end=100000&step=1", &r);
	expect_error(&r, 400, "bad_data", "exceeded maximum resolution of 11,000 points");
	reply_free(&r);

	http_get("/api/v1/query_range?query=up&end=100&step=1", &r);
	expect_error(&r, 400, "bad_data",
		     "invalid parameter \"start\": cannot parse \"\" to a valid timestamp");
	reply_free(&r);

	http_get("/api/v1/query?query=up&time=yesterday", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"time\"");
	reply_free(&r);

	http_get("/api/v1/query?query=up&timeout=soon", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"timeout\"");
	reply_free(&r);

	http_req("DELETE", "/api/v1/labels", NULL, NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 405);
	reply_free(&r);

	http_req("POST", "/api/v1/metadata", NULL, NULL, 0, 0, &r);
	ck_assert_int_eq(r.status, 405);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_metrics)
{
	struct reply r;

	http_get("/-/healthy", &r);
	reply_free(&r);
	http_get("/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head, "text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE varve_samples_ingested_total counter\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nvarve_samples_ingested_total 5\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nvarve_series_created_total 5\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nvarve_head_series 5\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "varve_rejected_samples_total{reason=\"out_of_order\"} 0\n"));
	ck_assert_ptr_nonnull(
		strstr(r.body, "varve_http_requests_total{handler=\"/api/v1/write\",code=\"204\"} 1\n"));
	ck_assert_ptr_nonnull(
		strstr(r.body, "varve_http_requests_total{handler=\"/-/healthy\",code=\"200\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "varve_build_info{version=\""));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE varve_http_request_duration_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(
		r.body, "varve_http_request_duration_seconds_bucket{handler=\"/-/healthy\",le=\"+Inf\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
		r.body, "varve_http_request_duration_seconds_count{handler=\"/api/v1/write\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nprocess_resident_memory_bytes "));
	ck_assert_ptr_nonnull(strstr(r.body, "\nprocess_start_time_seconds "));
	/* every family has HELP and TYPE */
	{
		const char *p = r.body;
		int helps = 0, types = 0;

		while ((p = strstr(p, "# HELP "))) {
			helps++;
			p++;
		}
		p = r.body;
		while ((p = strstr(p, "# TYPE "))) {
			types++;
			p++;
		}
		ck_assert_int_eq(helps, types);
		ck_assert_int_ge(helps, 10);
	}
	reply_free(&r);
}
END_TEST

/* ============================================================ query */

START_TEST(test_api_query_scalar)
{
	json_t *d, *res;

	/* Grafana's "Save & test" */
	d = get_data("/api/v1/query?query=1%2B1&time=4");
	ck_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "scalar");
	res = json_object_get(d, "result");
	ck_assert_uint_eq(json_array_size(res), 2);
	ck_assert(json_number_value(json_array_get(res, 0)) == 4.0);
	ck_assert_str_eq(json_string_value(json_array_get(res, 1)), "2");
	json_decref(d);
}
END_TEST

START_TEST(test_api_query_vector)
{
	struct reply r;
	json_t *j, *d, *res, *v;

	http_post_form("/api/v1/query", "query=up%7Bjob%3D%22api%22%7D&time=1700000010.5", &r);
	j = json_reply(&r, 200);
	d = json_object_get(j, "data");
	ck_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "vector");
	res = json_object_get(d, "result");
	ck_assert_uint_eq(json_array_size(res), 2);
	v = json_object_get(json_array_get(res, 0), "value");
	ck_assert(fabs(json_number_value(json_array_get(v, 0)) - 1700000010.5) < 1e-6);
	ck_assert_str_eq(json_string_value(json_array_get(v, 1)), "1");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(json_array_get(res, 0), "metric"), "instance")),
			 "a");
	ck_assert_ptr_null(json_object_get(j, "warnings"));
	json_decref(j);
	reply_free(&r);
	/* the timestamp is printed with three decimals, like Prometheus */
	http_get("/api/v1/query?query=up%7Binstance%3D%22a%22%7D&time=1700000010.5", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "[1700000010.500,\"1\"]"));
	reply_free(&r);
}
END_TEST

START_TEST(test_api_query_range)
{
	json_t *d, *res, *vals;

	d = get_data("/api/v1/query_range?query=http_requests_total&start=1700000000"
		     "&end=1700000060&step=30s");
	ck_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "matrix");
	res = json_object_get(d, "result");
	ck_assert_uint_eq(json_array_size(res), 2);
	vals = json_object_get(json_array_get(res, 0), "values");
	ck_assert_uint_eq(json_array_size(vals), 3);
	ck_assert_str_eq(json_string_value(json_array_get(json_array_get(vals, 2), 1)), "10");
	json_decref(d);
}
END_TEST

START_TEST(test_api_query_errors)
{
	struct reply r;

	http_get("/api/v1/query?query=sum(", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"query\": ");
	reply_free(&r);

	http_get("/api/v1/query_range?query=up%5B5m%5D&start=0&end=10&step=1", &r);
	expect_error(&r, 400, "bad_data", NULL);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_format_query)
{
	json_t *d = get_data("/api/v1/format_query?query=sum(foo)by(job)");

	ck_assert(json_is_string(d));
	ck_assert_str_eq(json_string_value(d), "sum by (job) (foo)");
	json_decref(d);
}
END_TEST

START_TEST(test_api_query_warnings)
{
	struct reply r;
	json_t *j, *w;

	http_get("/api/v1/query?query=quantile(2,up)&time=1700000000", &r);
	j = json_reply(&r, 200);
	w = json_object_get(j, "warnings");
	ck_assert_uint_eq(json_array_size(w), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(w, 0)),
				     "quantile value should be between 0 and 1"));
	ck_assert_ptr_null(json_object_get(j, "infos"));
	json_decref(j);
	reply_free(&r);
}
END_TEST

START_TEST(test_api_query_limit)
{
	struct reply r;
	json_t *j;

	http_get("/api/v1/query?query=up&time=1700000000&limit=2", &r);
	j = json_reply(&r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "data"), "result")),
			  2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)),
			 "results truncated due to limit");
	json_decref(j);
	reply_free(&r);

	http_get("/api/v1/query_range?query=up&start=1700000000&end=1700000060&step=60&limit=5",
		 &r);
	j = json_reply(&r, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "data"), "result")),
			  3);
	ck_assert_ptr_null(json_object_get(j, "warnings"));
	json_decref(j);
	reply_free(&r);

	http_get("/api/v1/query?query=up&limit=x", &r);
	expect_error(&r, 400, "bad_data", "invalid parameter \"limit\"");
	reply_free(&r);
}
END_TEST

/* A query over the engine's sample limit: 422 execution, naming the
 * limit and its flag. */
START_TEST(test_api_query_sample_limit)
{
	struct api_opts ao = { .db = db };
	struct http_server *s2;
	struct api *a2;
	struct ts_error err;
	struct reply r;
	uint16_t saved = test_port;

	ao.query.max_samples = 2;
	a2 = api_new(&ao);
	s2 = http_server_new(NULL);
	ck_assert_ptr_nonnull(a2);
	ck_assert_ptr_nonnull(s2);
	ck_assert_int_eq(api_register(a2, s2), 0);
	ck_assert_msg(http_server_start(s2, "127.0.0.1:0", &err) == 0, "%s", err.msg);
	test_port = http_server_port(s2);
	http_get("/api/v1/query?query=up&time=1700000000", &r);
	expect_error(&r, 422, "execution", "set by --query.max-samples");
	reply_free(&r);
	test_port = saved;
	http_server_free(s2);
	api_free(a2);
}
END_TEST

START_TEST(test_api_query_exemplars)
{
	struct reply r;
	json_t *d;

	/* Grafana's start-up call, with millisecond times */
	d = get_data("/api/v1/query_exemplars?query=test&start=1700000000000&end=1700000060000");
	ck_assert(json_is_array(d));
	ck_assert_uint_eq(json_array_size(d), 0);
	json_decref(d);
	http_get("/api/v1/query_exemplars?query=sum(", &r);
	expect_error(&r, 400, "bad_data", "parse error");
	reply_free(&r);
}
END_TEST

START_TEST(test_api_rules_alerts)
{
	json_t *d;

	d = get_data("/api/v1/rules");
	ck_assert(json_is_array(json_object_get(d, "groups")));
	json_decref(d);
	d = get_data("/api/v1/alerts");
	ck_assert(json_is_array(json_object_get(d, "alerts")));
	json_decref(d);
	d = get_data("/api/v1/targets");
	ck_assert(json_is_array(json_object_get(d, "activeTargets")));
	json_decref(d);
	d = get_data("/api/v1/status/runtimeinfo");
	ck_assert(json_is_string(json_object_get(d, "startTime")));
	ck_assert(json_integer_value(json_object_get(d, "GOMAXPROCS")) >= 1);
	json_decref(d);
}
END_TEST

/* ============================================================ main */

/* Path of the varve binary (top_builddir from make check), or NULL. */
static const char *varve_path(void)
{
	static char path[4096];
	const char *top = getenv("top_builddir");

	if (!top)
		return NULL;
	snprintf(path, sizeof(path), "%s/varve", top);
	ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
	return path;
}

/* A running varve: pid and the read end of its stderr. */
struct proc {
	pid_t pid;
	int err_fd;
};

static void proc_start(struct proc *p, char *const argv[])
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	p->err_fd = fds[0];
}

/* Read p's output until a line contains want (or EOF); the text so far is
 * left in out. True when found. */
static bool proc_wait_for(struct proc *p, const char *want, char *out, size_t cap)
{
	size_t len = strlen(out);
	ssize_t n;

	while (!strstr(out, want) && len + 1 < cap) {
		n = read(p->err_fd, out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
	}
	return strstr(out, want) != NULL;
}

/* Exit status of p once it ends. */
static int proc_exit_code(struct proc *p)
{
	int st = 0;

	ck_assert_int_eq(waitpid(p->pid, &st, 0), p->pid);
	close(p->err_fd);
	ck_assert_msg(WIFEXITED(st), "varve did not exit normally (status %d)", st);
	return WEXITSTATUS(st);
}

START_TEST(test_api_main_flags)
{
	const char *bin = varve_path();
	char out[16384] = "";
	struct proc p;

	if (!bin)
		return;
	{
		char *argv[] = { (char *)bin, "--help", NULL };

		proc_start(&p, argv);
		proc_wait_for(&p, "\x01", out, sizeof(out));
		ck_assert_int_eq(proc_exit_code(&p), 0);
		ck_assert_ptr_nonnull(strstr(out, "--listen=ADDR"));
		ck_assert_ptr_nonnull(strstr(out, "(default :9201)"));
		ck_assert_ptr_nonnull(strstr(out, "--data-dir=DIR"));
		ck_assert_ptr_nonnull(strstr(out, "(default ./data)"));
		ck_assert_ptr_nonnull(strstr(out, "--remote-write.max-decoded-bytes=BYTES"));
		ck_assert_ptr_nonnull(strstr(out, "--query.lookback-delta=DURATION"));
		ck_assert_ptr_nonnull(strstr(out, "(default 5m)"));
		ck_assert_ptr_nonnull(strstr(out, "--query.timeout=DURATION"));
		ck_assert_ptr_nonnull(strstr(out, "(default 2m)"));
		ck_assert_ptr_nonnull(strstr(out, "--query.max-samples=N"));
		ck_assert_ptr_nonnull(strstr(out, "(default 50000000)"));
		ck_assert_ptr_nonnull(strstr(out, "--http.workers=N"));
		ck_assert_ptr_nonnull(strstr(out, "--log.level=LEVEL"));
		ck_assert_ptr_nonnull(strstr(out, "--version"));
	}
	{
		char *argv[] = { (char *)bin, "--version", NULL };

		out[0] = '\0';
		proc_start(&p, argv);
		proc_wait_for(&p, "\x01", out, sizeof(out));
		ck_assert_int_eq(proc_exit_code(&p), 0);
		ck_assert_ptr_nonnull(strstr(out, "varve "));
	}
	{
		char *argv[] = { (char *)bin, "--no-such-flag", NULL };

		out[0] = '\0';
		proc_start(&p, argv);
		proc_wait_for(&p, "\x01", out, sizeof(out));
		ck_assert_int_eq(proc_exit_code(&p), 2);
		ck_assert_ptr_nonnull(strstr(out, "unknown flag --no-such-flag"));
		ck_assert_ptr_nonnull(strstr(out, "usage:"));
	}
	{
		char *argv[] = { (char *)bin, "--query.timeout=soon", NULL };

		out[0] = '\0';
		proc_start(&p, argv);
		proc_wait_for(&p, "\x01", out, sizeof(out));
		ck_assert_int_eq(proc_exit_code(&p), 2);
	}
}
END_TEST

START_TEST(test_api_main_lock_and_signal)
{
	const char *bin = varve_path();
	char dir[] = "/tmp/varve-check-api-XXXXXX", ddflag[128], out[16384] = "",
	     out2[16384] = "";
	struct proc p, p2;
	const char *ps;
	struct reply r;

	if (!bin)
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ddflag, sizeof(ddflag), "--data-dir=%s/data", dir);
	{
		char *argv[] = { (char *)bin, "--listen=127.0.0.1:0", ddflag, NULL };

		proc_start(&p, argv);
		ck_assert_msg(proc_wait_for(&p, "msg=\"listening\"", out, sizeof(out)),
			      "no listening line: %s", out);
		ck_assert_ptr_nonnull(strstr(out, "level=info"));
		ck_assert_ptr_nonnull(strstr(out, dir));
		proc_wait_for(&p, "\n", out, sizeof(out));
		ps = strstr(strstr(out, "msg=\"listening\""), "port=");
		ck_assert_ptr_nonnull(ps);
		test_port = (uint16_t)atoi(ps + 5);
		ck_assert_uint_ne(test_port, 0);
	}
	http_get("/-/ready", &r);
	ck_assert_int_eq(r.status, 200);
	reply_free(&r);
	{
		/* a second instance on the same directory fails with the lock */
		char *argv[] = { (char *)bin, "--listen=127.0.0.1:0", ddflag, NULL };

		proc_start(&p2, argv);
		proc_wait_for(&p2, "\x01", out2, sizeof(out2));
		ck_assert_int_eq(proc_exit_code(&p2), 1);
		ck_assert_msg(strstr(out2, "level=error") && strstr(out2, "in use"),
			      "second instance said: %s", out2);
	}
	ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
	proc_wait_for(&p, "msg=\"stopped\"", out, sizeof(out));
	ck_assert_int_eq(proc_exit_code(&p), 0);
	ck_assert_ptr_nonnull(strstr(out, "msg=\"stopped\""));
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

/* ============================================================ suite */

Suite *api_suite(void);

Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("unit");
	tcase_set_timeout(tc, 60); /* the formatter comparison is slow under sanitizers */
	tcase_add_test(tc, test_api_json_writer);
	tcase_add_test(tc, test_api_json_values_match_formatter);
	tcase_add_test(tc, test_api_params_time);
	tcase_add_test(tc, test_api_params_duration);
	tcase_add_test(tc, test_api_form_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("http");
	tcase_add_checked_fixture(tc, server_setup, server_teardown);
	tcase_add_test(tc, test_api_not_found);
	tcase_add_test(tc, test_api_health);
	tcase_add_test(tc, test_api_buildinfo);
	tcase_add_test(tc, test_api_cors);
	tcase_add_test(tc, test_api_rules_alerts);
	tcase_add_test(tc, test_api_offload_does_not_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, data_setup, server_teardown);
	tcase_add_test(tc, test_api_write_ok);
	tcase_add_test(tc, test_api_write_methods);
	tcase_add_test(tc, test_api_write_v2_content_type);
	tcase_add_test(tc, test_api_write_bad_bodies);
	tcase_add_test(tc, test_api_write_oversize);
	tcase_add_test(tc, test_api_concurrent_requests);
	tcase_add_test(tc, test_api_garbage_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("remote_read");
	tcase_add_checked_fixture(tc, data_setup, server_teardown);
	tcase_add_test(tc, test_api_read_samples);
	tcase_add_test(tc, test_api_read_streamed);
	tcase_add_test(tc, test_api_read_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, data_setup, server_teardown);
	tcase_add_test(tc, test_api_series);
	tcase_add_test(tc, test_api_labels);
	tcase_add_test(tc, test_api_label_values);
	tcase_add_test(tc, test_api_metadata);
	tcase_add_test(tc, test_api_status_tsdb);
	tcase_add_test(tc, test_api_bad_params);
	tcase_add_test(tc, test_api_metrics);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_checked_fixture(tc, data_setup, server_teardown);
	tcase_add_test(tc, test_api_query_scalar);
	tcase_add_test(tc, test_api_query_vector);
	tcase_add_test(tc, test_api_query_range);
	tcase_add_test(tc, test_api_query_errors);
	tcase_add_test(tc, test_api_format_query);
	tcase_add_test(tc, test_api_query_exemplars);
	tcase_add_test(tc, test_api_query_limit);
	tcase_add_test(tc, test_api_query_sample_limit);
	tcase_add_test(tc, test_api_query_warnings);
	suite_add_tcase(s, tc);

	tc = tcase_create("main");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_api_main_flags);
	tcase_add_test(tc, test_api_main_lock_and_signal);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
