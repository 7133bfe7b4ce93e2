/*
 * api.c - routes and handlers of the HTTP API except PromQL (query.c):
 * remote_write, series, labels, label values, metadata, status, health,
 * self-metrics. See api.h for the list.
 *
 * Every JSON handler follows one shape:
 *
 *   1. method guard (GET/HEAD, and POST where Prometheus allows it);
 *   2. parameters, each failure answered bad_data with Prometheus's text
 *      (`invalid parameter "start": ...`);
 *   3. one querier for the whole request, one call per match[] set, the
 *      union sorted and deduplicated, the limit applied by asking storage
 *      for limit+1 so a truncation can be reported as a warning
 *      ("results truncated due to limit") as Prometheus does;
 *   4. the document written with the streaming JSON writer.
 *
 * Matchers in match[] are parsed by the PromQL parser's selector entry
 * point (pql_parse_selector) into the request arena; their compiled
 * regexes are released before the handler returns.
 */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "api/params.h"
#include "api/selfmetrics.h"
#include "config.h"
#include "ingest/remote_write.h"
#include "promql/parser.h"
#include "tsdb/db.h"
#include "util/arena.h"

#ifndef VARVE_REVISION
#define VARVE_REVISION "unknown"
#endif

#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"

/* The Prometheus version whose HTTP API varve's answers follow, reported
 * by status/buildinfo (see handle_buildinfo). */
#define API_PROMETHEUS_VERSION "2.53.0"

/* ------------------------------------------------------------ responses */

static const struct {
	const char *name;
	int status;
} errtypes[] = {
	[API_ERR_BAD_DATA] = { "bad_data", 400 },
	[API_ERR_EXEC] = { "execution", 422 },
	[API_ERR_CANCELED] = { "canceled", 499 },
	[API_ERR_TIMEOUT] = { "timeout", 503 },
	[API_ERR_INTERNAL] = { "internal", 500 },
	[API_ERR_NOT_FOUND] = { "not_found", 404 },
	[API_ERR_UNAVAILABLE] = { "unavailable", 503 },
};

void api_error(struct http_response *resp, enum api_errtype type, const char *fmt, ...)
{
	struct jw j;
	struct buf msg = BUF_INIT;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && buf_grow(&msg, (size_t)n)) {
		va_start(ap, fmt);
		vsnprintf(msg.data, (size_t)n + 1, fmt, ap);
		va_end(ap);
		msg.len = (size_t)n;
	}
	buf_setlen(&resp->body, 0);
	jw_init(&j, &resp->body);
	jw_obj_begin(&j);
	jw_key(&j, "status");
	jw_str(&j, "error");
	jw_key(&j, "errorType");
	jw_str(&j, errtypes[type].name);
	jw_key(&j, "error");
	jw_strn(&j, msg.data ? msg.data : "", msg.len);
	jw_obj_end(&j);
	buf_release(&msg);
	resp->status = errtypes[type].status;
	resp->content_type = JSON_TYPE;
}

enum api_errtype api_errtype_of(int code)
{
	switch (code) {
	case TS_ERR_INVALID:
	case TS_ERR_UNSUPPORTED: /* valid PromQL varve does not evaluate: a clear 400 */
		return API_ERR_BAD_DATA;
	case TS_ERR_EXEC:
	case TS_ERR_LIMIT:
		return API_ERR_EXEC;
	case TS_ERR_TIMEOUT:
		return API_ERR_TIMEOUT;
	case TS_ERR_CANCELED:
		return API_ERR_CANCELED;
	case TS_ERR_NOT_FOUND:
		return API_ERR_NOT_FOUND;
	default:
		return API_ERR_INTERNAL;
	}
}

void api_success_begin(struct http_response *resp, struct jw *j)
{
	buf_setlen(&resp->body, 0);
	jw_init(j, &resp->body);
	jw_obj_begin(j);
	jw_key(j, "status");
	jw_str(j, "success");
	jw_key(j, "data");
}

/* Annotations shown per kind, as Prometheus's API caps them. */
#define MAX_ANNOTATIONS 10

/*
 * Write key: [v...] when n > 0, at most MAX_ANNOTATIONS entries and then
 * "<k> more <kind> annotations omitted" for the rest.
 */
static void annotations(struct jw *j, const char *key, const char *kind,
			const char *const *v, size_t n)
{
	size_t i;
	char more[80];

	if (!n)
		return;
	jw_key(j, key);
	jw_arr_begin(j);
	for (i = 0; i < n && i < MAX_ANNOTATIONS; i++)
		jw_str(j, v[i]);
	if (n > MAX_ANNOTATIONS) {
		snprintf(more, sizeof(more), "%zu more %s annotations omitted",
			 n - MAX_ANNOTATIONS, kind);
		jw_str(j, more);
	}
	jw_arr_end(j);
}

void api_success_end(struct http_response *resp, struct jw *j, const char *const *warnings,
		     size_t nwarnings, const char *const *infos, size_t ninfos)
{
	annotations(j, "warnings", "warning", warnings, nwarnings);
	annotations(j, "infos", "info", infos, ninfos);
	jw_obj_end(j);
	resp->status = 200;
	resp->content_type = JSON_TYPE;
}

/*
 * CORS headers on /api/v1 answers to browsers (requests with Origin), as
 * Prometheus sends them with its default --web.cors.origin='.*'.
 */
static void cors(struct http_request *req, struct http_response *resp)
{
	if (strncmp(req->path, "/api/v1/", 8) != 0 || !http_request_header(req, "Origin"))
		return;
	http_response_header(resp, "Access-Control-Allow-Headers",
			     "Accept, Authorization, Content-Type, Origin");
	http_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
	http_response_header(resp, "Access-Control-Expose-Headers", "Date");
	http_response_header(resp, "Vary", "Origin");
	http_response_header(resp, "Access-Control-Allow-Origin", "*");
}

bool api_method_ok(struct http_request *req, struct http_response *resp, bool allow_post)
{
	cors(req, resp);
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ||
	    (allow_post && strcmp(req->method, "POST") == 0))
		return true;
	if (strcmp(req->method, "OPTIONS") == 0) {
		/* a CORS preflight (or a plain OPTIONS): no content */
		resp->status = 204;
		return false;
	}
	http_response_header(resp, "Allow", allow_post ? "GET, HEAD, POST" : "GET, HEAD");
	http_response_text(resp, 405, TEXT_TYPE, "method not allowed\n");
	return false;
}

bool api_time_param(struct http_request *req, struct http_response *resp, const char *name,
		    int64_t def, bool wrap, int64_t *ms)
{
	const char *v = http_request_param(req, name);
	struct ts_error err;

	if (!v || !*v) {
		*ms = def;
		return true;
	}
	if (param_parse_time(v, ms, &err) == 0)
		return true;
	if (wrap)
		api_error(resp, API_ERR_BAD_DATA,
			  "invalid parameter \"%s\": Invalid time value for '%s': %s", name, name,
			  err.msg);
	else
		api_error(resp, API_ERR_BAD_DATA, "invalid parameter \"%s\": %s", name, err.msg);
	return false;
}

bool api_limit_param(struct http_request *req, struct http_response *resp, size_t *limit)
{
	const char *v = http_request_param(req, "limit");
	struct ts_error err;
	int64_t l;

	*limit = 0;
	if (!v || !*v)
		return true;
	if (param_parse_limit(v, &l, &err)) {
		api_error(resp, API_ERR_BAD_DATA, "invalid parameter \"limit\": %s", err.msg);
		return false;
	}
	*limit = (size_t)l;
	return true;
}

/* ------------------------------------------------------------ match[] */

/* The matcher sets of all match[] parameters. */
struct match_sets {
	struct matcher **m; /* m[i]: matchers of set i, in the request arena */
	size_t *n;          /* n[i]: their count */
	size_t count;       /* number of sets */
};

static void match_sets_release(struct match_sets *ms)
{
	size_t i;

	for (i = 0; i < ms->count; i++)
		pql_matchers_release(ms->m[i], ms->n[i]);
	ms->count = 0;
}

/*
 * Parse every match[] of req. Errors are answered as bad_data; with
 * param_prefix the message starts `invalid parameter "match[]": ` as on
 * /series. Returns false when answered.
 */
static bool match_param(struct http_request *req, struct http_response *resp,
			bool param_prefix, struct match_sets *out)
{
	const char *pre = param_prefix ? "invalid parameter \"match[]\": " : "";
	size_t total = http_request_params(req, "match[]", NULL, 0), i, k;
	const char **vals;
	struct ts_error err;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!total)
		return true;
	vals = arena_calloc(req->arena, total, sizeof(*vals));
	out->m = arena_calloc(req->arena, total, sizeof(*out->m));
	out->n = arena_calloc(req->arena, total, sizeof(*out->n));
	if (!vals || !out->m || !out->n) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		return false;
	}
	http_request_params(req, "match[]", vals, total);
	for (i = 0; i < total; i++) {
		bool nonempty = false;

		ts_error_clear(&err);
		rc = pql_parse_selector(vals[i], req->arena, &out->m[i], &out->n[i], &err);
		if (rc) {
			match_sets_release(out);
			api_error(resp, api_errtype_of(rc) == API_ERR_INTERNAL ? API_ERR_INTERNAL
									      : API_ERR_BAD_DATA,
				  "%s%s", pre, err.msg);
			return false;
		}
		out->count++;
		for (k = 0; k < out->n[i]; k++)
			if (!matcher_matches_empty(&out->m[i][k]))
				nonempty = true;
		if (!nonempty) {
			match_sets_release(out);
			api_error(resp, API_ERR_BAD_DATA,
				  "%smatch[] must contain at least one non-empty matcher", pre);
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ remote_write */

static void handle_write(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct rw_opts opts = { .max_decoded_bytes = api->rw_max_decoded_bytes };
	struct rw_result res;
	enum rw_version v;

	if (strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "POST");
		http_response_text(resp, 405, TEXT_TYPE, "method not allowed: use POST\n");
		return;
	}
	memset(&res, 0, sizeof(res));
	v = rw_negotiate(http_request_header(req, "Content-Type"),
			 http_request_header(req, "Content-Encoding"), &res);
	if (v != RW_VNONE)
		rw_write(api->db, v, req->body ? req->body : (const uint8_t *)"", req->body_len,
			 &opts, &res);
	selfmetrics_add_write(api->metrics, &res);
	resp->status = res.status ? res.status : 500;
	if (resp->status >= 300) {
		resp->content_type = TEXT_TYPE;
		buf_addstr(&resp->body, res.msg[0] ? res.msg : "remote write failed");
		buf_addch(&resp->body, '\n');
	}
	/* what was written, on every answer as Prometheus's 2.0 receiver
	 * does; 0 on answers to 1.0 requests, which do not count */
	if (v != RW_V2)
		res.samples_written = res.histograms_written = res.exemplars_written = 0;
	http_response_header(resp, "X-Prometheus-Remote-Write-Samples-Written",
			     arena_printf(req->arena, "%llu",
					  (unsigned long long)res.samples_written));
	http_response_header(resp, "X-Prometheus-Remote-Write-Histograms-Written",
			     arena_printf(req->arena, "%llu",
					  (unsigned long long)res.histograms_written));
	http_response_header(resp, "X-Prometheus-Remote-Write-Exemplars-Written",
			     arena_printf(req->arena, "%llu",
					  (unsigned long long)res.exemplars_written));
}

/* ------------------------------------------------------------ series */

static int labels_ptr_cmp(const void *a, const void *b)
{
	return labels_cmp(*(const struct labels *const *)a, *(const struct labels *const *)b);
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Write a label set as a JSON object {"name":"value",...}. */
static void jw_labels(struct jw *j, const struct labels *ls)
{
	size_t i;

	jw_obj_begin(j);
	for (i = 0; i < ls->n; i++) {
		jw_key(j, ls->v[i].name);
		jw_str(j, ls->v[i].value);
	}
	jw_obj_end(j);
}

static void handle_series(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct match_sets ms;
	struct series_set *sets = NULL;
	const struct labels **all = NULL;
	struct querier *q = NULL;
	struct ts_error err;
	size_t limit, i, k, n = 0, total = 0, out = 0;
	int64_t start, end;
	const char *warn = API_TRUNCATED_WARNING;
	bool truncated = false;
	struct jw j;
	int rc;

	if (!api_method_ok(req, resp, true))
		return;
	if (!http_request_params(req, "match[]", NULL, 0)) {
		api_error(resp, API_ERR_BAD_DATA, "no match[] parameter provided");
		return;
	}
	if (!api_limit_param(req, resp, &limit) ||
	    !api_time_param(req, resp, "start", PARAM_MIN_TIME_MS, true, &start) ||
	    !api_time_param(req, resp, "end", PARAM_MAX_TIME_MS, true, &end) ||
	    !match_param(req, resp, true, &ms))
		return;
	sets = calloc(ms.count, sizeof(*sets));
	q = db_querier(api->db);
	if (!sets || !q) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < ms.count; i++) {
		ts_error_clear(&err);
		rc = querier_select(q, ms.m[i], ms.n[i], start, end, false, limit ? limit + 1 : 0,
				    &sets[i], &err);
		if (rc) {
			api_error(resp, api_errtype_of(rc) == API_ERR_BAD_DATA ? API_ERR_BAD_DATA
									       : API_ERR_EXEC,
				  "%s", err.msg[0] ? err.msg : ts_strerror(rc));
			goto out;
		}
		n++;
		total += sets[i].n;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < sets[i].n; k++)
			all[out++] = &sets[i].s[k].labels;
	if (n > 1) {
		qsort(all, out, sizeof(*all), labels_ptr_cmp);
		for (i = 0, k = 0; i < out; i++)
			if (k == 0 || !labels_equal(all[k - 1], all[i]))
				all[k++] = all[i];
		out = k;
	}
	if (limit && out > limit) {
		out = limit;
		truncated = true;
	}
	api_success_begin(resp, &j);
	jw_arr_begin(&j);
	for (i = 0; i < out; i++)
		jw_labels(&j, all[i]);
	jw_arr_end(&j);
	api_success_end(resp, &j, &warn, truncated ? 1 : 0, NULL, 0);
out:
	free(all);
	for (i = 0; i < n; i++)
		series_set_release(&sets[i]);
	free(sets);
	querier_free(q);
	match_sets_release(&ms);
}

/* ------------------------------------------------------------ labels and values */

/*
 * Undo Prometheus's U__ value escaping of label names in paths: after the
 * "U__" prefix, "__" is "_" and "_<hex>_" is the code point <hex>; other
 * bytes stand for themselves. Returns name unchanged when it is not a
 * well-formed escape (as Prometheus does), the decoded copy (arena)
 * otherwise.
 */
static const char *unescape_label_name(struct arena *a, const char *name)
{
	const char *p;
	char *out, *o;

	if (strncmp(name, "U__", 3) != 0)
		return name;
	p = name + 3;
	out = arena_alloc(a, strlen(p) * 4 + 1);
	if (!out)
		return name;
	o = out;
	while (*p) {
		unsigned long cp = 0;
		int nd = 0;

		if (*p != '_') {
			*o++ = *p++;
			continue;
		}
		p++;
		if (*p == '_') {
			*o++ = '_';
			p++;
			continue;
		}
		while (*p && *p != '_') {
			int c = (unsigned char)*p, d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return name;
			if (++nd > 6)
				return name;
			cp = cp * 16 + (unsigned long)d;
			p++;
		}
		if (*p != '_' || nd == 0)
			return name;
		p++;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return name;
		/* UTF-8 encode */
		if (cp < 0x80) {
			*o++ = (char)cp;
		} else if (cp < 0x800) {
			*o++ = (char)(0xc0 | (cp >> 6));
			*o++ = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			*o++ = (char)(0xe0 | (cp >> 12));
			*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*o++ = (char)(0x80 | (cp & 0x3f));
		} else {
			*o++ = (char)(0xf0 | (cp >> 18));
			*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
			*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*o++ = (char)(0x80 | (cp & 0x3f));
		}
	}
	*o = '\0';
	return out;
}

/*
 * Shared body of /labels and /label/<name>/values: name NULL lists label
 * names, otherwise the values of label name.
 */
static void labels_or_values(struct api *api, struct http_request *req,
			     struct http_response *resp, const char *name)
{
	struct match_sets ms;
	struct strvec *vecs = NULL;
	const char **all = NULL;
	struct querier *q = NULL;
	struct ts_error err;
	size_t limit, i, k, nsets, n = 0, total = 0, out = 0;
	int64_t start, end;
	const char *warn = API_TRUNCATED_WARNING;
	bool truncated = false;
	struct jw j;
	int rc;

	if (!api_limit_param(req, resp, &limit) ||
	    !api_time_param(req, resp, "start", PARAM_MIN_TIME_MS, true, &start) ||
	    !api_time_param(req, resp, "end", PARAM_MAX_TIME_MS, true, &end) ||
	    !match_param(req, resp, false, &ms))
		return;
	nsets = ms.count ? ms.count : 1;
	vecs = calloc(nsets, sizeof(*vecs));
	q = db_querier(api->db);
	if (!vecs || !q) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < nsets; i++) {
		const struct matcher *m = ms.count ? ms.m[i] : NULL;
		size_t nm = ms.count ? ms.n[i] : 0;
		size_t hint = limit ? limit + 1 : 0;

		ts_error_clear(&err);
		if (name)
			rc = querier_label_values(q, name, m, nm, start, end, hint, &vecs[i], &err);
		else
			rc = querier_label_names(q, m, nm, start, end, hint, &vecs[i], &err);
		if (rc) {
			api_error(resp, api_errtype_of(rc) == API_ERR_BAD_DATA ? API_ERR_BAD_DATA
									       : API_ERR_EXEC,
				  "%s", err.msg[0] ? err.msg : ts_strerror(rc));
			goto out;
		}
		n++;
		total += vecs[i].n;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < vecs[i].n; k++)
			all[out++] = vecs[i].v[k];
	if (n > 1) {
		qsort(all, out, sizeof(*all), str_ptr_cmp);
		for (i = 0, k = 0; i < out; i++)
			if (k == 0 || strcmp(all[k - 1], all[i]) != 0)
				all[k++] = all[i];
		out = k;
	}
	if (limit && out > limit) {
		out = limit;
		truncated = true;
	}
	api_success_begin(resp, &j);
	jw_arr_begin(&j);
	for (i = 0; i < out; i++)
		jw_str(&j, all[i]);
	jw_arr_end(&j);
	api_success_end(resp, &j, &warn, truncated ? 1 : 0, NULL, 0);
out:
	free(all);
	for (i = 0; i < n; i++)
		strvec_release(&vecs[i]);
	free(vecs);
	querier_free(q);
	match_sets_release(&ms);
}

static void handle_labels(struct http_request *req, struct http_response *resp, void *ctx)
{
	if (!api_method_ok(req, resp, true))
		return;
	labels_or_values(ctx, req, resp, NULL);
}

/* /api/v1/label/<name>/values: req->rest is "<name>/values". */
static void handle_label_values(struct http_request *req, struct http_response *resp,
				void *ctx)
{
	static const char suffix[] = "/values";
	size_t rl = strlen(req->rest), nl;
	const char *name;
	char *raw;

	if (rl <= sizeof(suffix) - 1 || strcmp(req->rest + rl - (sizeof(suffix) - 1), suffix) ||
	    memchr(req->rest, '/', rl - (sizeof(suffix) - 1))) {
		http_response_text(resp, 404, TEXT_TYPE, "404 page not found\n");
		return;
	}
	if (!api_method_ok(req, resp, false))
		return;
	nl = rl - (sizeof(suffix) - 1);
	raw = arena_strndup(req->arena, req->rest, nl);
	if (!raw) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		return;
	}
	name = unescape_label_name(req->arena, raw);
	if (!*name || !utf8_valid(name, strlen(name))) {
		api_error(resp, API_ERR_BAD_DATA, "invalid label name: \"%s\"", name);
		return;
	}
	labels_or_values(ctx, req, resp, name);
}

/* ------------------------------------------------------------ metadata */

/* An integer parameter of /metadata: def when absent; false (answered
 * "<name> must be a number") when malformed. Negative means no limit. */
static bool metadata_int(struct http_request *req, struct http_response *resp,
			 const char *name, long long *out)
{
	const char *v = http_request_param(req, name);
	char *end;

	*out = -1;
	if (!v || !*v)
		return true;
	*out = strtoll(v, &end, 10);
	if (*end || end == v) {
		api_error(resp, API_ERR_BAD_DATA, "%s must be a number", name);
		return false;
	}
	return true;
}

static void handle_metadata(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct metadata_entry *md = NULL;
	const char *metric;
	long long limit, per;
	size_t n = 0, i;
	struct jw j;
	int rc;

	if (!api_method_ok(req, resp, false))
		return;
	if (!metadata_int(req, resp, "limit", &limit) ||
	    !metadata_int(req, resp, "limit_per_metric", &per))
		return;
	metric = http_request_param(req, "metric");
	if (metric && !*metric)
		metric = NULL;
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	if (limit != 0) {
		rc = db_metadata(api->db, metric, limit > 0 ? (size_t)limit : 0,
				 per > 0 ? (size_t)per : 0, &md, &n);
		if (rc) {
			api_error(resp, API_ERR_INTERNAL, "reading metadata: %s", ts_strerror(rc));
			return;
		}
		for (i = 0; i < n; i++) {
			if (i == 0 || strcmp(md[i - 1].family, md[i].family) != 0) {
				if (i)
					jw_arr_end(&j);
				jw_key(&j, md[i].family);
				jw_arr_begin(&j);
			}
			jw_obj_begin(&j);
			jw_key(&j, "type");
			jw_str(&j, metric_type_name(md[i].type));
			jw_key(&j, "help");
			jw_str(&j, md[i].help ? md[i].help : "");
			jw_key(&j, "unit");
			jw_str(&j, md[i].unit ? md[i].unit : "");
			jw_obj_end(&j);
		}
		if (n)
			jw_arr_end(&j);
		free(md);
	}
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}

/* ------------------------------------------------------------ status, health */

/* "20261122-00:03:13" from the compiler's __DATE__ and __TIME__. */
static void build_date(char *out, size_t cap)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *d = __DATE__; /* "Nov 22 2026" */
	const char *m = strstr(months, (char[4]){ d[0], d[1], d[2], '\0' });
	int mon = m ? (int)(m - months) / 3 + 1 : 0;

	snprintf(out, cap, "%.4s%02d%02d-%s", d + 7, mon, atoi(d + 4), __TIME__);
}

static void handle_buildinfo(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct jw j;
	char date[32];

	(void)ctx;
	if (!api_method_ok(req, resp, false))
		return;
	build_date(date, sizeof(date));
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	/* Grafana reads "version" as a Prometheus version and turns features
	 * on by it (the labels API with match[] from 2.24.0): report the
	 * Prometheus API level varve answers like, and varve's own version
	 * as the branch */
	jw_key(&j, "version");
	jw_str(&j, API_PROMETHEUS_VERSION);
	jw_key(&j, "revision");
	jw_str(&j, VARVE_REVISION);
	jw_key(&j, "branch");
	jw_str(&j, "varve-" PACKAGE_VERSION);
	jw_key(&j, "buildUser");
	jw_str(&j, "unknown");
	jw_key(&j, "buildDate");
	jw_str(&j, date);
	jw_key(&j, "goVersion");
	jw_str(&j, "none (C11, cc " __VERSION__ ")");
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}

/* /api/v1/targets: varve scrapes nothing; the empty shape Prometheus gives. */
static void handle_targets(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct jw j;

	(void)ctx;
	if (!api_method_ok(req, resp, false))
		return;
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	jw_key(&j, "activeTargets");
	jw_arr_begin(&j);
	jw_arr_end(&j);
	jw_key(&j, "droppedTargets");
	jw_arr_begin(&j);
	jw_arr_end(&j);
	jw_key(&j, "droppedTargetCounts");
	jw_obj_begin(&j);
	jw_obj_end(&j);
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}

/* RFC 3339 UTC text of Unix seconds t (with milliseconds). */
static void rfc3339(char *out, size_t cap, double t)
{
	time_t sec = (time_t)t;
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)((t - (double)sec) * 1000));
}

/* Threads of this process (for "goroutineCount"), 0 when unknown. */
static long thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* /api/v1/status/runtimeinfo in Prometheus's shape; the Go runtime fields
 * carry the nearest C facts (threads, CPUs) or are empty. */
static void handle_runtimeinfo(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	char start[128], cwd[4096];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct jw j;

	if (!api_method_ok(req, resp, false))
		return;
	rfc3339(start, sizeof(start), api->start_time);
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	jw_key(&j, "startTime");
	jw_str(&j, start);
	jw_key(&j, "CWD");
	jw_str(&j, cwd);
	jw_key(&j, "reloadConfigSuccess");
	jw_bool(&j, true);
	jw_key(&j, "lastConfigTime");
	jw_str(&j, start);
	jw_key(&j, "corruptionCount");
	jw_int(&j, 0);
	jw_key(&j, "goroutineCount");
	jw_int(&j, thread_count());
	jw_key(&j, "GOMAXPROCS");
	jw_int(&j, ncpu > 0 ? ncpu : 1);
	jw_key(&j, "GOGC");
	jw_str(&j, "");
	jw_key(&j, "GODEBUG");
	jw_str(&j, "");
	jw_key(&j, "storageRetention");
	jw_str(&j, "unlimited");
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}

/* /api/v1/rules and /api/v1/alerts: varve evaluates no rules, so both are
 * empty, in the shapes Grafana reads at data source start. */
static void handle_rules(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct jw j;

	(void)ctx;
	if (!api_method_ok(req, resp, false))
		return;
	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	jw_key(&j, strcmp(req->route, "/api/v1/alerts") == 0 ? "alerts" : "groups");
	jw_arr_begin(&j);
	jw_arr_end(&j);
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
}

/* Any other /api/v1/ path: OPTIONS is answered (CORS preflight, as
 * Prometheus does for every API path), the rest is 404. */
static void handle_api_other(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)ctx;
	if (strcmp(req->method, "OPTIONS") == 0) {
		cors(req, resp);
		resp->status = 204;
		return;
	}
	http_response_text(resp, 404, TEXT_TYPE, "404 page not found\n");
}

static void handle_healthy(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)ctx;
	if (!api_method_ok(req, resp, false))
		return;
	http_response_text(resp, 200, TEXT_TYPE, "varve is healthy.\n");
}

static void handle_ready(struct http_request *req, struct http_response *resp, void *ctx)
{
	(void)ctx;
	if (!api_method_ok(req, resp, false))
		return;
	http_response_text(resp, 200, TEXT_TYPE, "varve is ready.\n");
}

static void handle_metrics(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;

	if (!api_method_ok(req, resp, false))
		return;
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	selfmetrics_render(api->metrics, api->db, &resp->body);
}

/* ------------------------------------------------------------ status/tsdb */

/* One entry of a top-N list. */
struct stat_entry {
	const char *name;  /* label name, metric name or "name=value" (arena) */
	uint64_t value;    /* the count or size */
};

static int stat_cmp(const void *a, const void *b)
{
	const struct stat_entry *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Write key: [{"name":..,"value":..}] with the top limit entries. */
static void stat_list(struct jw *j, const char *key, struct stat_entry *v, size_t n,
		      size_t limit)
{
	size_t i;

	qsort(v, n, sizeof(*v), stat_cmp);
	jw_key(j, key);
	jw_arr_begin(j);
	for (i = 0; i < n && i < limit; i++) {
		jw_obj_begin(j);
		jw_key(j, "name");
		jw_str(j, v[i].name);
		jw_key(j, "value");
		jw_uint(j, v[i].value);
		jw_obj_end(j);
	}
	jw_arr_end(j);
}

/* Series matching name=value (counted through the querier's postings). */
static int count_series(struct querier *q, const char *name, const char *value, uint64_t *n)
{
	struct matcher m;
	struct series_set set;
	struct ts_error err;
	int rc;

	rc = matcher_init(&m, MATCHER_EQ, name, value, &err);
	if (rc)
		return rc;
	rc = querier_select(q, &m, 1, PARAM_MIN_TIME_MS, PARAM_MAX_TIME_MS, false, 0, &set, &err);
	matcher_release(&m);
	if (rc)
		return rc;
	*n = set.n;
	series_set_release(&set);
	return 0;
}

/*
 * /api/v1/status/tsdb: head statistics and the top `limit` (10) entries
 * of series per metric name, values per label name, bytes of values per
 * label name and series per label pair, in Prometheus's shape. Computed
 * from the querier on each call (one postings lookup per label pair).
 */
static void handle_status_tsdb(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct db_stats st;
	struct strvec names = { NULL, 0 };
	struct strvec *values = NULL;
	struct stat_entry *by_metric = NULL, *vcount = NULL, *vbytes = NULL, *pairs = NULL;
	size_t nmetric = 0, npairs = 0, total_pairs = 0, limit = 10, i, k;
	struct querier *q = NULL;
	struct ts_error err;
	const char *lv;
	struct jw j;
	int rc = 0;

	if (!api_method_ok(req, resp, false))
		return;
	lv = http_request_param(req, "limit");
	if (lv && *lv) {
		char *end;
		long long l = strtoll(lv, &end, 10);

		if (*end || l <= 0) {
			api_error(resp, API_ERR_BAD_DATA, "limit must be a positive number");
			return;
		}
		limit = (size_t)l;
	}
	memset(&st, 0, sizeof(st));
	db_stats(api->db, &st);
	q = db_querier(api->db);
	if (!q)
		goto oom;
	ts_error_clear(&err);
	rc = querier_label_names(q, NULL, 0, PARAM_MIN_TIME_MS, PARAM_MAX_TIME_MS, 0, &names, &err);
	if (rc)
		goto fail;
	values = calloc(names.n ? names.n : 1, sizeof(*values));
	vcount = calloc(names.n ? names.n : 1, sizeof(*vcount));
	vbytes = calloc(names.n ? names.n : 1, sizeof(*vbytes));
	if (!values || !vcount || !vbytes)
		goto oom;
	for (i = 0; i < names.n; i++) {
		uint64_t bytes = 0;

		rc = querier_label_values(q, names.v[i], NULL, 0, PARAM_MIN_TIME_MS,
					  PARAM_MAX_TIME_MS, 0, &values[i], &err);
		if (rc)
			goto fail;
		for (k = 0; k < values[i].n; k++)
			bytes += strlen(values[i].v[k]);
		vcount[i] = (struct stat_entry){ names.v[i], values[i].n };
		vbytes[i] = (struct stat_entry){ names.v[i], bytes };
		total_pairs += values[i].n;
	}
	pairs = calloc(total_pairs ? total_pairs : 1, sizeof(*pairs));
	by_metric = calloc(total_pairs ? total_pairs : 1, sizeof(*by_metric));
	if (!pairs || !by_metric)
		goto oom;
	for (i = 0; i < names.n; i++) {
		bool is_name = strcmp(names.v[i], LABEL_NAME) == 0;

		for (k = 0; k < values[i].n; k++) {
			uint64_t n = 0;
			char *pair;

			rc = count_series(q, names.v[i], values[i].v[k], &n);
			if (rc)
				goto fail;
			pair = arena_printf(req->arena, "%s=%s", names.v[i], values[i].v[k]);
			if (!pair)
				goto oom;
			pairs[npairs++] = (struct stat_entry){ pair, n };
			if (is_name)
				by_metric[nmetric++] = (struct stat_entry){ values[i].v[k], n };
		}
	}

	api_success_begin(resp, &j);
	jw_obj_begin(&j);
	jw_key(&j, "headStats");
	jw_obj_begin(&j);
	jw_key(&j, "numSeries");
	jw_uint(&j, st.head_series);
	jw_key(&j, "numLabelPairs");
	jw_uint(&j, total_pairs);
	jw_key(&j, "chunkCount");
	jw_uint(&j, st.head_chunks);
	jw_key(&j, "minTime");
	jw_int(&j, st.head_series ? st.min_time : 0);
	jw_key(&j, "maxTime");
	jw_int(&j, st.head_series ? st.max_time : 0);
	jw_obj_end(&j);
	stat_list(&j, "seriesCountByMetricName", by_metric, nmetric, limit);
	stat_list(&j, "labelValueCountByLabelName", vcount, names.n, limit);
	stat_list(&j, "memoryInBytesByLabelName", vbytes, names.n, limit);
	stat_list(&j, "seriesCountByLabelValuePair", pairs, npairs, limit);
	jw_obj_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
	goto out;
oom:
	api_error(resp, API_ERR_INTERNAL, "out of memory");
	goto out;
fail:
	api_error(resp, api_errtype_of(rc) == API_ERR_BAD_DATA ? API_ERR_BAD_DATA : API_ERR_EXEC,
		  "%s", err.msg[0] ? err.msg : ts_strerror(rc));
out:
	if (values)
		for (i = 0; i < names.n; i++)
			strvec_release(&values[i]);
	free(values);
	strvec_release(&names);
	free(vcount);
	free(vbytes);
	free(pairs);
	free(by_metric);
	querier_free(q);
}

/* ------------------------------------------------------------ lifecycle */

struct api *api_new(const struct api_opts *opts)
{
	struct timeval tv;
	struct api *a;

	if (!opts || !opts->db)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->db = opts->db;
	a->query = opts->query;
	a->rw_max_decoded_bytes = opts->rw_max_decoded_bytes ? opts->rw_max_decoded_bytes
							     : RW_DEFAULT_MAX_DECODED_BYTES;
	a->rr_max_frame_bytes = opts->rr_max_frame_bytes ? opts->rr_max_frame_bytes
							 : API_DEFAULT_RR_MAX_FRAME_BYTES;
	a->rr_sample_limit = !opts->rr_sample_limit ? API_DEFAULT_RR_SAMPLE_LIMIT
			     : opts->rr_sample_limit == UINT64_MAX ? 0 : opts->rr_sample_limit;
	a->metrics = opts->metrics;
	a->admin = opts->admin;
	gettimeofday(&tv, NULL);
	a->start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	return a;
}

void api_free(struct api *a)
{
	free(a);
}

int api_register(struct api *a, struct http_server *s)
{
	/* slow handlers (queries, series and label scans, remote read and
	 * write, which waits for storage) run on the worker pool; label names
	 * and values only when match[] makes them a scan */
	enum { P = HTTP_ROUTE_PREFIX, O = HTTP_ROUTE_OFFLOAD, M = HTTP_ROUTE_OFFLOAD_MATCH };
	static const struct {
		const char *path;
		unsigned flags;
		http_handler_fn fn;
	} routes[] = {
		{ "/api/v1/write", O, handle_write },
		{ "/api/v1/import/prometheus", O | HTTP_ROUTE_RAW_BODY, api_handle_import_prometheus },
		{ "/api/v1/read", O, api_handle_read },
		{ "/api/v1/query", O, api_handle_query },
		{ "/api/v1/query_range", O, api_handle_query_range },
		{ "/api/v1/format_query", 0, api_handle_format_query },
		{ "/api/v1/parse_query", 0, api_handle_parse_query },
		{ "/api/v1/query_exemplars", 0, api_handle_exemplars },
		{ "/api/v1/series", O, handle_series },
		{ "/api/v1/labels", M, handle_labels },
		{ "/api/v1/label/", P | M, handle_label_values },
		{ "/api/v1/metadata", 0, handle_metadata },
		{ "/api/v1/status/buildinfo", 0, handle_buildinfo },
		{ "/api/v1/status/tsdb", O, handle_status_tsdb },
		{ "/api/v1/status/runtimeinfo", 0, handle_runtimeinfo },
		{ "/api/v1/targets", 0, handle_targets },
		{ "/api/v1/rules", 0, handle_rules },
		{ "/api/v1/alerts", 0, handle_rules },
		{ "/api/v1/admin/tsdb/delete_series", O, api_handle_admin_delete_series },
		{ "/api/v1/admin/tsdb/clean_tombstones", O, api_handle_admin_clean_tombstones },
		{ "/api/v1/admin/tsdb/snapshot", O, api_handle_admin_snapshot },
		{ "/api/v1/", P, handle_api_other },
		{ "/write", O | HTTP_ROUTE_RAW_BODY, api_handle_influx_write },
		{ "/api/v2/write", O | HTTP_ROUTE_RAW_BODY, api_handle_influx_write },
		{ "/influx/write", O | HTTP_ROUTE_RAW_BODY, api_handle_influx_write },
		{ "/influx/api/v2/write", O | HTTP_ROUTE_RAW_BODY, api_handle_influx_write },
		{ "/ping", 0, api_handle_influx_ping },
		{ "/query", O, api_handle_influx_query },
		{ "/-/healthy", 0, handle_healthy },
		{ "/-/ready", 0, handle_ready },
		{ "/metrics", 0, handle_metrics },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		rc = http_server_route(s, routes[i].path, routes[i].flags, routes[i].fn, a);
		if (rc)
			return rc;
	}
	return 0;
}
