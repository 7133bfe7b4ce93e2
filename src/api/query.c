/*
 * query.c - the PromQL endpoints of the HTTP API: query, query_range,
 * format_query, parse_query (query_exemplars is exemplars.c).
 *
 * Parameters and error texts follow Prometheus's API; evaluation is the
 * engine's (promql/engine.h). Engine errors map to error types as
 * api_errtype_of says, with parse errors (TS_ERR_INVALID) prefixed
 * `invalid parameter "query": ` the way Prometheus reports them.
 *
 * Result JSON:
 *   vector  [{"metric":{...},"value":[<t>,"<v>"]}, ...]
 *   matrix  [{"metric":{...},"values":[[<t>,"<v>"], ...]}, ...]
 *   scalar  [<t>,"<v>"]
 *   string  [<t>,"<s>"]
 * with <t> in seconds (jw_time_ms) and <v> via jw_sample_value.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "api/api_int.h"
#include "api/params.h"
#include "promql/ast_json.h"
#include "promql/engine.h"
#include "promql/parser.h"
#include "util/arena.h"

/* Points per series a range query may ask for, as in Prometheus. */
#define MAX_POINTS_PER_SERIES 11000

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void jw_metric(struct jw *j, const struct labels *ls)
{
	size_t i;

	jw_key(j, "metric");
	jw_obj_begin(j);
	for (i = 0; i < ls->n; i++) {
		jw_key(j, ls->v[i].name);
		jw_str(j, ls->v[i].value);
	}
	jw_obj_end(j);
}

static void jw_point(struct jw *j, int64_t t, double v)
{
	jw_arr_begin(j);
	jw_time_ms(j, t);
	jw_sample_value(j, v);
	jw_arr_end(j);
}

/* Write the "data" object of a successful query. */
static void write_result(struct jw *j, const struct pql_result *r)
{
	size_t i, k;

	jw_obj_begin(j);
	jw_key(j, "resultType");
	jw_str(j, pql_type_name(r->type));
	jw_key(j, "result");
	switch (r->type) {
	case PQL_SCALAR:
		jw_point(j, r->u.scalar.t, r->u.scalar.v);
		break;
	case PQL_STRING:
		jw_arr_begin(j);
		jw_time_ms(j, r->u.string.t);
		jw_str(j, r->u.string.s ? r->u.string.s : "");
		jw_arr_end(j);
		break;
	case PQL_VECTOR:
		jw_arr_begin(j);
		for (i = 0; i < r->u.vector.n; i++) {
			const struct pql_sample *s = &r->u.vector.v[i];

			jw_obj_begin(j);
			jw_metric(j, &s->labels);
			jw_key(j, "value");
			jw_point(j, s->t, s->v);
			jw_obj_end(j);
		}
		jw_arr_end(j);
		break;
	case PQL_MATRIX:
		jw_arr_begin(j);
		for (i = 0; i < r->u.matrix.n; i++) {
			const struct pql_series *s = &r->u.matrix.s[i];

			jw_obj_begin(j);
			jw_metric(j, &s->labels);
			jw_key(j, "values");
			jw_arr_begin(j);
			for (k = 0; k < s->n; k++)
				jw_point(j, s->pts[k].t, s->pts[k].v);
			jw_arr_end(j);
			jw_obj_end(j);
		}
		jw_arr_end(j);
		break;
	default:
		jw_null(j);
		break;
	}
	jw_obj_end(j);
}

/*
 * Engine options for this request: the server's, narrowed by the timeout
 * parameter and overridden by lookback_delta. False when answered.
 */
static bool query_opts(struct api *api, struct http_request *req, struct http_response *resp,
		       struct pql_opts *o)
{
	const char *v;
	struct ts_error err;
	int64_t ms;

	*o = api->query;
	v = http_request_param(req, "timeout");
	if (v && *v) {
		if (param_parse_duration(v, &ms, &err)) {
			api_error(resp, API_ERR_BAD_DATA, "invalid parameter \"timeout\": %s",
				  err.msg);
			return false;
		}
		if (ms <= 0)
			ms = 1;
		if (!o->timeout_ms || ms < o->timeout_ms)
			o->timeout_ms = ms;
	}
	v = http_request_param(req, "lookback_delta");
	if (v && *v) {
		if (param_parse_duration(v, &ms, &err)) {
			api_error(resp, API_ERR_BAD_DATA,
				  "error parsing lookback delta duration: %s", err.msg);
			return false;
		}
		if (ms > 0)
			o->lookback_ms = ms;
	}
	return true;
}

/*
 * Answer an engine failure. Limit and deadline errors keep Prometheus's
 * text and add which limit was hit and what sets it (o may be NULL).
 */
static void engine_error(struct http_response *resp, int rc, const struct ts_error *err,
			 const struct pql_opts *o)
{
	const char *msg = err->msg[0] ? err->msg : ts_strerror(rc);
	enum api_errtype t = api_errtype_of(rc);

	if (t == API_ERR_BAD_DATA)
		api_error(resp, t, "invalid parameter \"query\": %s", msg);
	else if (rc == TS_ERR_LIMIT && o && o->max_samples > 0)
		api_error(resp, t, "%s (limit %lld samples, set by --query.max-samples)", msg,
			  (long long)o->max_samples);
	else if (rc == TS_ERR_TIMEOUT && o && o->timeout_ms > 0)
		api_error(resp, t, "%s (deadline %lld ms, set by --query.timeout or the timeout parameter)",
			  msg, (long long)o->timeout_ms);
	else
		api_error(resp, t, "%s", msg);
}

/*
 * Answer a result (or its failure) and release it. limit > 0 keeps the
 * first limit series of a vector or matrix and adds Prometheus's
 * truncation warning (scalars and strings are not affected).
 */
static void answer(struct http_request *req, struct http_response *resp, int rc,
		   struct pql_result *res, const struct ts_error *err, size_t limit,
		   const struct pql_opts *o)
{
	const char **warnings = res->warnings;
	size_t nwarnings = res->nwarnings, *n = NULL;
	struct jw j;

	if (rc) {
		engine_error(resp, rc, err, o);
		pql_result_release(res);
		return;
	}
	if (res->type == PQL_VECTOR)
		n = &res->u.vector.n;
	else if (res->type == PQL_MATRIX)
		n = &res->u.matrix.n;
	if (limit && n && *n > limit) {
		*n = limit;
		warnings = arena_alloc(req->arena, (nwarnings + 1) * sizeof(*warnings));
		if (!warnings) {
			api_error(resp, API_ERR_INTERNAL, "out of memory");
			pql_result_release(res);
			return;
		}
		if (nwarnings)
			memcpy(warnings, res->warnings, nwarnings * sizeof(*warnings));
		warnings[nwarnings++] = API_TRUNCATED_WARNING;
	}
	api_success_begin(resp, &j);
	write_result(&j, res);
	api_success_end(resp, &j, warnings, nwarnings, res->infos, res->ninfos);
	pql_result_release(res);
}

static const char *query_text(struct http_request *req)
{
	const char *q = http_request_param(req, "query");

	return q ? q : "";
}

void api_handle_query(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct pql_result res;
	struct pql_opts o;
	struct ts_error err;
	size_t limit;
	int64_t t;
	int rc;

	if (!api_method_ok(req, resp, true))
		return;
	if (!api_time_param(req, resp, "time", now_ms(), true, &t) ||
	    !query_opts(api, req, resp, &o) || !api_limit_param(req, resp, &limit))
		return;
	memset(&res, 0, sizeof(res));
	ts_error_clear(&err);
	rc = pql_exec_instant(api->db, query_text(req), t, &o, &res, &err);
	answer(req, resp, rc, &res, &err, limit, &o);
}

/* A required time of query_range: `invalid parameter "start": cannot
 * parse "" to a valid timestamp` when absent, as Prometheus says. */
static bool required_time(struct http_request *req, struct http_response *resp,
			  const char *name, int64_t *ms)
{
	const char *v = http_request_param(req, name);
	struct ts_error err;

	if (param_parse_time(v ? v : "", ms, &err) == 0)
		return true;
	api_error(resp, API_ERR_BAD_DATA, "invalid parameter \"%s\": %s", name, err.msg);
	return false;
}

void api_handle_query_range(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct pql_result res;
	struct pql_opts o;
	struct ts_error err;
	const char *sv;
	int64_t start, end, step;
	size_t limit;
	int rc;

	if (!api_method_ok(req, resp, true))
		return;
	if (!required_time(req, resp, "start", &start) || !required_time(req, resp, "end", &end))
		return;
	if (end < start) {
		api_error(resp, API_ERR_BAD_DATA,
			  "invalid parameter \"end\": end timestamp must not be before start time");
		return;
	}
	sv = http_request_param(req, "step");
	if (param_parse_duration(sv ? sv : "", &step, &err)) {
		api_error(resp, API_ERR_BAD_DATA, "invalid parameter \"step\": %s", err.msg);
		return;
	}
	if (step <= 0) {
		api_error(resp, API_ERR_BAD_DATA,
			  "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer");
		return;
	}
	/* (end - start) may overflow int64 for extreme bounds: compare in
	 * unsigned arithmetic */
	if (((uint64_t)end - (uint64_t)start) / (uint64_t)step > MAX_POINTS_PER_SERIES) {
		api_error(resp, API_ERR_BAD_DATA,
			  "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
		return;
	}
	if (!query_opts(api, req, resp, &o) || !api_limit_param(req, resp, &limit))
		return;
	memset(&res, 0, sizeof(res));
	ts_error_clear(&err);
	rc = pql_exec_range(api->db, query_text(req), start, end, step, &o, &res, &err);
	answer(req, resp, rc, &res, &err, limit, &o);
}

void api_handle_format_query(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct ts_error err;
	struct jw j;
	char *out = NULL;
	int rc;

	(void)ctx;
	if (!api_method_ok(req, resp, true))
		return;
	ts_error_clear(&err);
	rc = pql_format(query_text(req), &out, &err);
	if (rc) {
		engine_error(resp, rc, &err, NULL);
		return;
	}
	api_success_begin(resp, &j);
	jw_str(&j, out ? out : "");
	api_success_end(resp, &j, NULL, 0, NULL, 0);
	free(out);
}

/* The query's syntax tree as JSON (promql/ast_json.h), as Prometheus's
 * parse_query answers; parse errors as for format_query. */
void api_handle_parse_query(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct ts_error err;
	struct jw j;
	char *out = NULL;
	int rc;

	(void)ctx;
	if (!api_method_ok(req, resp, true))
		return;
	ts_error_clear(&err);
	rc = pql_parse_json(query_text(req), &out, &err);
	if (rc) {
		engine_error(resp, rc, &err, NULL);
		return;
	}
	api_success_begin(resp, &j);
	jw_raw(&j, out);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
	free(out);
}
