/*
 * api_int.h - internals shared by the API's source files (api.c: write,
 * metadata-style endpoints, status; query.c: PromQL endpoints).
 */
#ifndef VARVE_API_API_INT_H
#define VARVE_API_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "http/json.h"
#include "http/server.h"
#include "tsdb/matcher.h"

struct api {
	struct db *db;               /* the store, not owned */
	struct pql_opts query;       /* engine defaults from the command line */
	size_t rw_max_decoded_bytes; /* remote_write decoded body limit */
	size_t rr_max_frame_bytes;   /* remote_read chunk bytes per frame */
	uint64_t rr_sample_limit;    /* remote_read SAMPLES cap, 0: none */
	struct selfmetrics *metrics; /* counters, not owned; may be NULL */
	double start_time;           /* api_new time, Unix seconds (runtimeinfo) */
	bool admin;                  /* --enable-admin-api: serve admin.c's endpoints */
};

/* Prometheus's error types (the "errorType" field). */
enum api_errtype {
	API_ERR_BAD_DATA,    /* 400 */
	API_ERR_EXEC,        /* 422 */
	API_ERR_CANCELED,    /* 499 */
	API_ERR_TIMEOUT,     /* 503 */
	API_ERR_INTERNAL,    /* 500 */
	API_ERR_NOT_FOUND,   /* 404 */
	API_ERR_UNAVAILABLE, /* 503 */
};

/* Answer the error JSON with the type's status code; msg is printf-style. */
void api_error(struct http_response *resp, enum api_errtype type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The error type for a negative ts_err code (TS_ERR_INVALID and
 * TS_ERR_UNSUPPORTED -> bad_data,
 * EXEC/LIMIT -> execution, TIMEOUT -> timeout, CANCELED -> canceled,
 * NOT_FOUND -> not_found, anything else -> internal). */
enum api_errtype api_errtype_of(int code);

/* Start a success document in resp->body: `{"status":"success","data":`;
 * the caller writes the data value next with j. */
void api_success_begin(struct http_response *resp, struct jw *j);

/* Close the document opened by api_success_begin, adding "warnings" and
 * "infos" arrays when they are non-empty (ten of each at most, then a
 * count of those left out, as Prometheus does); sets status 200 and JSON
 * content type. */
void api_success_end(struct http_response *resp, struct jw *j, const char *const *warnings,
		     size_t nwarnings, const char *const *infos, size_t ninfos);

/* Method guard: true when req->method is GET or HEAD, or POST when
 * allow_post; adds CORS headers for browser requests to /api/v1. Answers
 * OPTIONS with 204 and anything else with 405 and an Allow header, and
 * then returns false. */
bool api_method_ok(struct http_request *req, struct http_response *resp, bool allow_post);

/*
 * Parse time parameter name into *ms (def when absent or empty). On a bad
 * value answers bad_data `invalid parameter "name": ...` and returns false.
 * With wrap, the message carries Prometheus's extra
 * "Invalid time value for 'name': " as its optional-time endpoints do.
 */
bool api_time_param(struct http_request *req, struct http_response *resp, const char *name,
		    int64_t def, bool wrap, int64_t *ms);

/* The limit parameter: 0 when absent; false (answered bad_data
 * `invalid parameter "limit": ...`) when malformed. */
bool api_limit_param(struct http_request *req, struct http_response *resp, size_t *limit);

/* Warning added when a limit cut a result short, as Prometheus words it. */
#define API_TRUNCATED_WARNING "results truncated due to limit"

/* Query endpoints (query.c). ctx is the struct api. */
void api_handle_query(struct http_request *req, struct http_response *resp, void *ctx);
void api_handle_query_range(struct http_request *req, struct http_response *resp, void *ctx);
void api_handle_format_query(struct http_request *req, struct http_response *resp, void *ctx);
void api_handle_parse_query(struct http_request *req, struct http_response *resp, void *ctx);
/* query_exemplars from the exemplar store (exemplars.c) */
void api_handle_exemplars(struct http_request *req, struct http_response *resp, void *ctx);

/* InfluxDB endpoints (influx.c): /write and /api/v2/write, /ping, /query.
 * ctx is the struct api. */
void api_handle_influx_write(struct http_request *req, struct http_response *resp, void *ctx);
void api_handle_influx_ping(struct http_request *req, struct http_response *resp, void *ctx);
void api_handle_influx_query(struct http_request *req, struct http_response *resp, void *ctx);

/* POST /api/v1/import/prometheus (import.c): text exposition format and
 * OpenMetrics text. ctx is the struct api. */
void api_handle_import_prometheus(struct http_request *req, struct http_response *resp,
				  void *ctx);

/* /api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot} (admin.c).
 * ctx is the struct api. */
void api_handle_admin_delete_series(struct http_request *req, struct http_response *resp,
				    void *ctx);
void api_handle_admin_clean_tombstones(struct http_request *req, struct http_response *resp,
				       void *ctx);
void api_handle_admin_snapshot(struct http_request *req, struct http_response *resp, void *ctx);

/* POST /api/v1/read (remote_read.c). ctx is the struct api. */
void api_handle_read(struct http_request *req, struct http_response *resp, void *ctx);

#endif
