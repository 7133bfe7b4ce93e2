/*
 * exemplars.c - GET/POST /api/v1/query_exemplars.
 *
 * Parameters as Prometheus takes them: `query` (any PromQL expression;
 * every vector selector in it contributes its matchers, one set per
 * selector), `start` and `end` (float seconds or RFC 3339; absent means
 * unbounded). Grafana's data source sends start and end in milliseconds
 * at start-up; a plain number of at least 1e11 (year 5138 as seconds) is
 * therefore taken as milliseconds, so such calls find the exemplars held
 * instead of an empty far-future window.
 *
 * Answer: [{seriesLabels:{...}, exemplars:[{labels:{...}, value:"1.5",
 * timestamp: 1700000000.123}]}], series sorted by labels, exemplars in
 * time order, from the bounded ring of tsdb/exemplars.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/params.h"
#include "promql/parser.h"
#include "tsdb/db.h"
#include "util/arena.h"

/* Plain numbers at least this large are milliseconds (see the file comment). */
#define MS_THRESHOLD 1e11

/* Vector selectors of an expression, gathered for the exemplar lookup. */
struct selectors {
	const struct matcher **sets; /* matchers of each selector */
	size_t *n;                   /* their counts */
	size_t count, cap;           /* used and allocated entries */
};

/* Add the selectors under node to sel; false when out of memory. */
static bool collect(struct arena *a, const struct pql_node *node, struct selectors *sel)
{
	size_t i;

	if (!node)
		return true;
	switch (node->kind) {
	case PQL_NODE_VECTOR:
		if (sel->count == sel->cap) {
			size_t ncap = sel->cap ? sel->cap * 2 : 8;
			const struct matcher **s = arena_calloc(a, ncap, sizeof(*s));
			size_t *n = arena_calloc(a, ncap, sizeof(*n));

			if (!s || !n)
				return false;
			if (sel->count) {
				memcpy(s, sel->sets, sel->count * sizeof(*s));
				memcpy(n, sel->n, sel->count * sizeof(*n));
			}
			sel->sets = s;
			sel->n = n;
			sel->cap = ncap;
		}
		sel->sets[sel->count] = node->u.vs.matchers;
		sel->n[sel->count] = node->u.vs.nmatchers;
		sel->count++;
		return true;
	case PQL_NODE_MATRIX:
		return collect(a, node->u.ms.vs, sel);
	case PQL_NODE_SUBQUERY:
		return collect(a, node->u.sq.expr, sel);
	case PQL_NODE_UNARY:
		return collect(a, node->u.un.expr, sel);
	case PQL_NODE_BINARY:
		return collect(a, node->u.bin.lhs, sel) && collect(a, node->u.bin.rhs, sel);
	case PQL_NODE_AGGREGATE:
		return collect(a, node->u.agg.expr, sel) && collect(a, node->u.agg.param, sel);
	case PQL_NODE_CALL:
		for (i = 0; i < node->u.call.nargs; i++)
			if (!collect(a, node->u.call.args[i], sel))
				return false;
		return true;
	case PQL_NODE_PAREN:
		return collect(a, node->u.paren.expr, sel);
	default:
		return true;
	}
}

/* A start/end parameter: milliseconds for large plain numbers, else as
 * every other API time. False when answered (bad value). */
static bool exemplar_time(struct http_request *req, struct http_response *resp,
			  const char *name, int64_t def, int64_t *ms)
{
	const char *v = http_request_param(req, name);
	char *end;
	double d;

	if (v && *v) {
		d = strtod(v, &end);
		if (*end == '\0' && isfinite(d) && fabs(d) >= MS_THRESHOLD && fabs(d) < 9e18) {
			*ms = (int64_t)d;
			return true;
		}
	}
	return api_time_param(req, resp, name, def, true, ms);
}

/* Write a label set as a JSON object. */
static void labels_json(struct jw *j, const struct labels *ls)
{
	size_t i;

	jw_obj_begin(j);
	for (i = 0; i < ls->n; i++) {
		jw_key(j, ls->v[i].name);
		jw_str(j, ls->v[i].value);
	}
	jw_obj_end(j);
}

void api_handle_exemplars(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	struct pql_node *root = NULL;
	struct selectors sel = { NULL, NULL, 0, 0 };
	struct exemplar_set set = { NULL, 0, NULL };
	struct querier *q = NULL;
	struct ts_error err;
	const char *query;
	int64_t start, end;
	size_t i, k;
	struct jw j;
	int rc;

	if (!api_method_ok(req, resp, true))
		return;
	if (!exemplar_time(req, resp, "start", PARAM_MIN_TIME_MS, &start) ||
	    !exemplar_time(req, resp, "end", PARAM_MAX_TIME_MS, &end))
		return;
	if (end < start) {
		api_error(resp, API_ERR_BAD_DATA, "end timestamp must not be before start timestamp");
		return;
	}
	query = http_request_param(req, "query");
	ts_error_clear(&err);
	rc = pql_parse(query ? query : "", req->arena, &root, &err);
	if (rc) {
		api_error(resp, api_errtype_of(rc), "%s", err.msg[0] ? err.msg : ts_strerror(rc));
		return;
	}
	if (!collect(req->arena, root, &sel)) {
		api_error(resp, API_ERR_INTERNAL, "out of memory");
		goto out;
	}
	api_success_begin(resp, &j);
	jw_arr_begin(&j);
	if (sel.count) {
		q = db_querier(api->db);
		if (!q) {
			api_error(resp, API_ERR_INTERNAL, "out of memory");
			goto out;
		}
		rc = querier_exemplars(q, (const struct matcher *const *)sel.sets, sel.n, sel.count,
				       start, end, &set, &err);
		if (rc) {
			api_error(resp, API_ERR_INTERNAL, "%s", err.msg);
			goto out;
		}
	}
	for (i = 0; i < set.n; i++) {
		const struct series_exemplars *se = &set.s[i];

		jw_obj_begin(&j);
		jw_key(&j, "seriesLabels");
		labels_json(&j, &se->series);
		jw_key(&j, "exemplars");
		jw_arr_begin(&j);
		for (k = 0; k < se->n; k++) {
			jw_obj_begin(&j);
			jw_key(&j, "labels");
			labels_json(&j, &se->e[k].labels);
			jw_key(&j, "value");
			jw_sample_value(&j, se->e[k].v);
			jw_key(&j, "timestamp");
			jw_time_ms(&j, se->e[k].t);
			jw_obj_end(&j);
		}
		jw_arr_end(&j);
		jw_obj_end(&j);
	}
	jw_arr_end(&j);
	api_success_end(resp, &j, NULL, 0, NULL, 0);
out:
	exemplar_set_release(&set);
	querier_free(q);
	pql_ast_release(root);
}
