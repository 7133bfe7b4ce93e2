/*
 * influx.c - the InfluxDB-compatible endpoints: line protocol writes
 * (1.x /write, 2.x /api/v2/write), /ping for clients' health checks and a
 * minimal /query for the statements clients send before writing.
 *
 * A write goes:
 *
 *   1. method guard       POST only (405 otherwise)
 *   2. parameters         precision (1.x: n, ns, u, ms, s, m, h; 2.x: ns,
 *                         us, ms, s), db (1.x; becomes the `db` label,
 *                         see line_protocol.h); rp, u, p, org and bucket
 *                         are accepted and ignored
 *   3. body               Content-Encoding gzip is inflated into a buffer
 *                         capped at the remote_write decoded-size limit
 *                         (413 beyond it), identity taken as it is, any
 *                         other encoding 415
 *   4. lp_write           parse and store; 204, or 400 naming the first
 *                         bad line (the good lines are stored), 500
 *
 * Errors use InfluxDB's shapes: 1.x {"error":"..."}, 2.x
 * {"code":"invalid","message":"..."}. Every answer carries the
 * X-Influxdb-Version and X-Influxdb-Build headers clients look for.
 */
#include "api/api_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/selfmetrics.h"
#include "ingest/line_protocol.h"
#include "ingest/remote_write.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "util/gzip.h"

/* The InfluxDB version varve answers as (the last 1.x release line). */
#define INFLUX_VERSION "1.8.10"
#define JSON_TYPE "application/json"

static void influx_headers(struct http_response *resp)
{
	http_response_header(resp, "X-Influxdb-Version", INFLUX_VERSION);
	http_response_header(resp, "X-Influxdb-Build", "OSS");
}

/* Answer an error in the 1.x or 2.x shape. code2 is the 2.x "code". */
static void influx_error(struct http_response *resp, bool v2, int status, const char *code2,
			 const char *msg)
{
	struct jw j;

	buf_setlen(&resp->body, 0);
	jw_init(&j, &resp->body);
	jw_obj_begin(&j);
	if (v2) {
		jw_key(&j, "code");
		jw_str(&j, code2);
		jw_key(&j, "message");
	} else {
		jw_key(&j, "error");
	}
	jw_str(&j, msg);
	jw_obj_end(&j);
	buf_addch(&resp->body, '\n');
	resp->status = status;
	resp->content_type = JSON_TYPE;
}

void api_handle_influx_write(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	bool v2 = strcmp(req->route, "/api/v2/write") == 0 ||
		  strcmp(req->route, "/influx/api/v2/write") == 0;
	const char *prec = http_request_param(req, "precision");
	const char *enc = http_request_header(req, "Content-Encoding");
	const char *body = req->body ? (const char *)req->body : "";
	size_t len = req->body_len;
	struct lp_opts opts = { LP_NS, 0, NULL };
	struct lp_result res;
	char *inflated = NULL, *msg;

	influx_headers(resp);
	if (strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "POST");
		influx_error(resp, v2, 405, "method not allowed", "method not allowed: use POST");
		return;
	}
	if (lp_precision_parse(prec, &opts.precision) != 0 ||
	    (v2 && prec && (strcmp(prec, "n") == 0 || strcmp(prec, "u") == 0 ||
			    strcmp(prec, "m") == 0 || strcmp(prec, "h") == 0))) {
		msg = arena_printf(req->arena, "invalid precision \"%s\" (use %s)", prec,
				   v2 ? "ns, us, ms or s" : "n, u, ms, s, m or h");
		influx_error(resp, v2, 400, "invalid", msg ? msg : "invalid precision");
		return;
	}
	if (!v2)
		opts.db = http_request_param(req, "db");
	if (opts.db && !utf8_valid(opts.db, strlen(opts.db))) {
		influx_error(resp, v2, 400, "invalid", "invalid UTF-8 in parameter \"db\"");
		return;
	}
	opts.now_ms = lp_now_ms();

	if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		int st;

		if (strcasecmp(enc, "gzip") != 0) {
			msg = arena_printf(req->arena,
					   "unsupported content encoding \"%s\": use gzip or none",
					   enc);
			influx_error(resp, v2, 415, "unsupported media type",
				     msg ? msg : "unsupported content encoding");
			return;
		}
		st = gzip_inflate(req->body, req->body_len, api->rw_max_decoded_bytes, &inflated,
				  &len);
		if (st == TS_ERR_LIMIT) {
			msg = arena_printf(req->arena,
					   "decompressed body exceeds the limit of %zu bytes",
					   api->rw_max_decoded_bytes);
			influx_error(resp, v2, 413, "request too large",
				     msg ? msg : "body too large");
			return;
		}
		if (st) {
			influx_error(resp, v2, st == TS_ERR_INVALID ? 400 : 500,
				     st == TS_ERR_INVALID ? "invalid" : "internal error",
				     st == TS_ERR_INVALID ? "corrupt gzip body" : "out of memory");
			return;
		}
		body = inflated;
	}

	lp_write(api->db, body, len, &opts, &res);
	free(inflated);
	if (res.rejected) {
		/* the rejected-samples counter of /metrics, by reason */
		struct rw_result rr;

		memset(&rr, 0, sizeof(rr));
		rr.rejected[RW_REASON_OUT_OF_ORDER] = res.out_of_order;
		rr.rejected[RW_REASON_DUPLICATE] = res.duplicate;
		rr.rejected[RW_REASON_STORAGE] = res.rejected - res.out_of_order - res.duplicate;
		selfmetrics_add_write(api->metrics, &rr);
	}
	if (res.status == 204) {
		resp->status = 204;
		return;
	}
	influx_error(resp, v2, res.status, res.status == 400 ? "invalid" : "internal error",
		     res.msg[0] ? res.msg : "write failed");
}

void api_handle_influx_ping(struct http_request *req, struct http_response *resp, void *ctx)
{
	const char *verbose = http_request_param(req, "verbose");

	(void)ctx;
	influx_headers(resp);
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
	    strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "GET, HEAD, POST");
		influx_error(resp, false, 405, "method not allowed", "method not allowed");
		return;
	}
	if (verbose && (strcmp(verbose, "true") == 0 || strcmp(verbose, "1") == 0)) {
		resp->status = 200;
		resp->content_type = JSON_TYPE;
		buf_addstr(&resp->body, "{\"version\":\"" INFLUX_VERSION "\"}\n");
		return;
	}
	resp->status = 204;
}

/* Does statement s[0..n) start with the words of kw (case-insensitive,
 * any run of blanks between words)? */
static bool stmt_is(const char *s, size_t n, const char *kw)
{
	size_t i = 0;

	while (*kw) {
		if (*kw == ' ') {
			if (i >= n || !isspace((unsigned char)s[i]))
				return false;
			while (i < n && isspace((unsigned char)s[i]))
				i++;
			kw++;
			continue;
		}
		if (i >= n || tolower((unsigned char)s[i]) != *kw)
			return false;
		i++;
		kw++;
	}
	return i == n || isspace((unsigned char)s[i]) || s[i] == ';';
}

/* SHOW DATABASES: the values of the `db` label. */
static void show_databases(struct api *api, struct jw *j)
{
	struct querier *q = db_querier(api->db);
	struct strvec dbs = { NULL, 0 };
	struct ts_error err;
	size_t i;

	if (q)
		querier_label_values(q, "db", NULL, 0, INT64_MIN, INT64_MAX, 0, &dbs, &err);
	jw_key(j, "series");
	jw_arr_begin(j);
	jw_obj_begin(j);
	jw_key(j, "name");
	jw_str(j, "databases");
	jw_key(j, "columns");
	jw_arr_begin(j);
	jw_str(j, "name");
	jw_arr_end(j);
	jw_key(j, "values");
	jw_arr_begin(j);
	for (i = 0; i < dbs.n; i++) {
		jw_arr_begin(j);
		jw_str(j, dbs.v[i]);
		jw_arr_end(j);
	}
	jw_arr_end(j);
	jw_obj_end(j);
	jw_arr_end(j);
	strvec_release(&dbs);
	querier_free(q);
}

void api_handle_influx_query(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	const char *q = http_request_param(req, "q"), *s;
	struct jw j;
	int id = 0;

	influx_headers(resp);
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "GET, POST");
		influx_error(resp, false, 405, "method not allowed", "method not allowed");
		return;
	}
	if (!q || !*q) {
		influx_error(resp, false, 400, "invalid", "missing required parameter \"q\"");
		return;
	}
	jw_init(&j, &resp->body);
	jw_obj_begin(&j);
	jw_key(&j, "results");
	jw_arr_begin(&j);
	for (s = q; *s;) {
		const char *e = strchr(s, ';');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		if (n) {
			jw_obj_begin(&j);
			jw_key(&j, "statement_id");
			jw_int(&j, id++);
			if (stmt_is(s, n, "show databases")) {
				show_databases(api, &j);
			} else if (!stmt_is(s, n, "create database") &&
				   !stmt_is(s, n, "create retention policy") &&
				   !stmt_is(s, n, "alter retention policy")) {
				jw_key(&j, "error");
				jw_str(&j, "varve does not evaluate InfluxQL: query with PromQL on "
					   "/api/v1/query");
			}
			jw_obj_end(&j);
		}
		s += n;
		if (*s == ';')
			s++;
	}
	jw_arr_end(&j);
	jw_obj_end(&j);
	buf_addch(&resp->body, '\n');
	resp->status = 200;
	resp->content_type = JSON_TYPE;
}
