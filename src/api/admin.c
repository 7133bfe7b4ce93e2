/*
 * admin.c - Prometheus's TSDB admin endpoints, served only with
 * --enable-admin-api (otherwise 503 "admin APIs disabled", as Prometheus
 * answers without --web.enable-admin-api):
 *
 *   POST|PUT /api/v1/admin/tsdb/delete_series   match[] (required), start,
 *                                               end; 204 on success
 *   POST|PUT /api/v1/admin/tsdb/clean_tombstones 204
 *   POST|PUT /api/v1/admin/tsdb/snapshot        skip_head (bool); answers
 *                                               {"status":"success",
 *                                                "data":{"name":...}}
 *
 * Storage does the work (db_delete_series, db_clean_tombstones,
 * db_snapshot); this file only maps parameters and errors.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "promql/parser.h"
#include "tsdb/db.h"
#include "util/arena.h"

/* Method and switch guard shared by the three endpoints. */
static bool admin_ok(struct api *api, struct http_request *req, struct http_response *resp)
{
	if (strcmp(req->method, "OPTIONS") == 0) {
		resp->status = 204;
		return false;
	}
	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0) {
		http_response_header(resp, "Allow", "POST, PUT");
		http_response_text(resp, 405, "text/plain; charset=utf-8", "method not allowed\n");
		return false;
	}
	if (!api->admin) {
		api_error(resp, API_ERR_UNAVAILABLE, "admin APIs disabled");
		return false;
	}
	return true;
}

void api_handle_admin_delete_series(struct http_request *req, struct http_response *resp,
				    void *ctx)
{
	struct api *api = ctx;
	size_t total = http_request_params(req, "match[]", NULL, 0);
	const char **vals;
	int64_t start, end;
	struct ts_error err;

	if (!admin_ok(api, req, resp))
		return;
	if (!total) {
		api_error(resp, API_ERR_BAD_DATA, "no match[] parameter provided");
		return;
	}
	if (!api_time_param(req, resp, "start", INT64_MIN, false, &start) ||
	    !api_time_param(req, resp, "end", INT64_MAX, false, &end))
		return;
	vals = arena_calloc(req->arena, total, sizeof(*vals));
	if (!vals) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		return;
	}
	http_request_params(req, "match[]", vals, total);
	for (size_t i = 0; i < total; i++) {
		struct matcher *m = NULL;
		size_t n = 0;
		int rc;

		ts_error_clear(&err);
		rc = pql_parse_selector(vals[i], req->arena, &m, &n, &err);
		if (rc) {
			api_error(resp, API_ERR_BAD_DATA, "%s", err.msg);
			return;
		}
		ts_error_clear(&err);
		rc = db_delete_series(api->db, m, n, start, end, &err);
		pql_matchers_release(m, n);
		if (rc) {
			api_error(resp, API_ERR_INTERNAL, "%s", err.msg);
			return;
		}
	}
	resp->status = 204;
}

void api_handle_admin_clean_tombstones(struct http_request *req, struct http_response *resp,
				       void *ctx)
{
	struct api *api = ctx;
	struct ts_error err;

	if (!admin_ok(api, req, resp))
		return;
	ts_error_clear(&err);
	if (db_clean_tombstones(api->db, &err)) {
		api_error(resp, API_ERR_INTERNAL, "%s", err.msg);
		return;
	}
	resp->status = 204;
}

/* Go's strconv.ParseBool. */
static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

void api_handle_admin_snapshot(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	const char *sh = http_request_param(req, "skip_head");
	bool skip_head = false;
	char name[64];
	struct ts_error err;
	struct jw j;

	if (!admin_ok(api, req, resp))
		return;
	if (sh && *sh && !parse_bool(sh, &skip_head)) {
		api_error(resp, API_ERR_BAD_DATA,
			  "unable to parse boolean 'skip_head' argument: strconv.ParseBool: "
			  "parsing \"%s\": invalid syntax", sh);
		return;
	}
	ts_error_clear(&err);
	if (db_snapshot(api->db, skip_head, name, sizeof(name), &err)) {
		api_error(resp, API_ERR_INTERNAL, "create snapshot: %s", err.msg);
		return;
	}
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	jw_key(&j, "name");
	jw_str(&j, name);
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}
