/*
 * ast.c - the function table and helpers over the PromQL syntax tree.
 *
 * The function table lists every function of Prometheus 3.x's PromQL
 * (experimental ones flagged), sorted by name for binary search. The
 * duration helpers evaluate the duration expressions that may appear in
 * ranges, subquery steps and offsets ([5m+1m], offset (2*step())); they
 * work in float seconds like Prometheus and convert to milliseconds by
 * truncation at the end.
 */
#include "promql/ast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S PQL_SCALAR
#define V PQL_VECTOR
#define M PQL_MATRIX
#define T PQL_STRING

/* Sorted by name (strcmp order). */
static const struct pql_func funcs[] = {
	{ PQL_FN_ABS, "abs", { V }, 1, 0, V, false },
	{ PQL_FN_ABSENT, "absent", { V }, 1, 0, V, false },
	{ PQL_FN_ABSENT_OVER_TIME, "absent_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_ACOS, "acos", { V }, 1, 0, V, false },
	{ PQL_FN_ACOSH, "acosh", { V }, 1, 0, V, false },
	{ PQL_FN_ASIN, "asin", { V }, 1, 0, V, false },
	{ PQL_FN_ASINH, "asinh", { V }, 1, 0, V, false },
	{ PQL_FN_ATAN, "atan", { V }, 1, 0, V, false },
	{ PQL_FN_ATANH, "atanh", { V }, 1, 0, V, false },
	{ PQL_FN_AVG_OVER_TIME, "avg_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_CEIL, "ceil", { V }, 1, 0, V, false },
	{ PQL_FN_CHANGES, "changes", { M }, 1, 0, V, false },
	{ PQL_FN_CLAMP, "clamp", { V, S, S }, 3, 0, V, false },
	{ PQL_FN_CLAMP_MAX, "clamp_max", { V, S }, 2, 0, V, false },
	{ PQL_FN_CLAMP_MIN, "clamp_min", { V, S }, 2, 0, V, false },
	{ PQL_FN_COS, "cos", { V }, 1, 0, V, false },
	{ PQL_FN_COSH, "cosh", { V }, 1, 0, V, false },
	{ PQL_FN_COUNT_OVER_TIME, "count_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_DAY_OF_MONTH, "day_of_month", { V }, 1, 1, V, false },
	{ PQL_FN_DAY_OF_WEEK, "day_of_week", { V }, 1, 1, V, false },
	{ PQL_FN_DAY_OF_YEAR, "day_of_year", { V }, 1, 1, V, false },
	{ PQL_FN_DAYS_IN_MONTH, "days_in_month", { V }, 1, 1, V, false },
	{ PQL_FN_DEG, "deg", { V }, 1, 0, V, false },
	{ PQL_FN_DELTA, "delta", { M }, 1, 0, V, false },
	{ PQL_FN_DERIV, "deriv", { M }, 1, 0, V, false },
	{ PQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING, "double_exponential_smoothing", { M, S, S }, 3, 0, V, true },
	{ PQL_FN_END, "end", { 0 }, 0, 0, S, true },
	{ PQL_FN_EXP, "exp", { V }, 1, 0, V, false },
	{ PQL_FN_FIRST_OVER_TIME, "first_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_FLOOR, "floor", { V }, 1, 0, V, false },
	{ PQL_FN_HISTOGRAM_AVG, "histogram_avg", { V }, 1, 0, V, false },
	{ PQL_FN_HISTOGRAM_COUNT, "histogram_count", { V }, 1, 0, V, false },
	{ PQL_FN_HISTOGRAM_FRACTION, "histogram_fraction", { S, S, V }, 3, 0, V, false },
	{ PQL_FN_HISTOGRAM_QUANTILE, "histogram_quantile", { S, V }, 2, 0, V, false },
	{ PQL_FN_HISTOGRAM_QUANTILES, "histogram_quantiles", { V, T, S, S }, 4, 9, V, true },
	{ PQL_FN_HISTOGRAM_STDDEV, "histogram_stddev", { V }, 1, 0, V, false },
	{ PQL_FN_HISTOGRAM_STDVAR, "histogram_stdvar", { V }, 1, 0, V, false },
	{ PQL_FN_HISTOGRAM_SUM, "histogram_sum", { V }, 1, 0, V, false },
	{ PQL_FN_HOUR, "hour", { V }, 1, 1, V, false },
	{ PQL_FN_IDELTA, "idelta", { M }, 1, 0, V, false },
	{ PQL_FN_INCREASE, "increase", { M }, 1, 0, V, false },
	{ PQL_FN_INFO, "info", { V, V }, 2, 1, V, true },
	{ PQL_FN_INTEGRAL, "integral", { M, S }, 2, 1, V, true },
	{ PQL_FN_IRATE, "irate", { M }, 1, 0, V, false },
	{ PQL_FN_LABEL_JOIN, "label_join", { V, T, T, T }, 4, -1, V, false },
	{ PQL_FN_LABEL_REPLACE, "label_replace", { V, T, T, T, T }, 5, 0, V, false },
	{ PQL_FN_LAST_OVER_TIME, "last_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_LN, "ln", { V }, 1, 0, V, false },
	{ PQL_FN_LOG10, "log10", { V }, 1, 0, V, false },
	{ PQL_FN_LOG2, "log2", { V }, 1, 0, V, false },
	{ PQL_FN_MAD_OVER_TIME, "mad_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_MAX_OF, "max_of", { S, S }, 2, 0, S, false },
	{ PQL_FN_MAX_OVER_TIME, "max_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_MIN_OF, "min_of", { S, S }, 2, 0, S, false },
	{ PQL_FN_MIN_OVER_TIME, "min_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_MINUTE, "minute", { V }, 1, 1, V, false },
	{ PQL_FN_MONTH, "month", { V }, 1, 1, V, false },
	{ PQL_FN_PI, "pi", { 0 }, 0, 0, S, false },
	{ PQL_FN_PREDICT_LINEAR, "predict_linear", { M, S }, 2, 0, V, false },
	{ PQL_FN_PRESENT_OVER_TIME, "present_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_QUANTILE_OVER_TIME, "quantile_over_time", { S, M }, 2, 0, V, false },
	{ PQL_FN_RAD, "rad", { V }, 1, 0, V, false },
	{ PQL_FN_RANGE, "range", { 0 }, 0, 0, S, true },
	{ PQL_FN_RATE, "rate", { M }, 1, 0, V, false },
	{ PQL_FN_RESETS, "resets", { M }, 1, 0, V, false },
	{ PQL_FN_ROUND, "round", { V, S }, 2, 1, V, false },
	{ PQL_FN_SCALAR, "scalar", { V }, 1, 0, S, false },
	{ PQL_FN_SGN, "sgn", { V }, 1, 0, V, false },
	{ PQL_FN_SIN, "sin", { V }, 1, 0, V, false },
	{ PQL_FN_SINH, "sinh", { V }, 1, 0, V, false },
	{ PQL_FN_SORT, "sort", { V }, 1, 0, V, false },
	{ PQL_FN_SORT_BY_LABEL, "sort_by_label", { V, T }, 2, -1, V, true },
	{ PQL_FN_SORT_BY_LABEL_DESC, "sort_by_label_desc", { V, T }, 2, -1, V, true },
	{ PQL_FN_SORT_DESC, "sort_desc", { V }, 1, 0, V, false },
	{ PQL_FN_SQRT, "sqrt", { V }, 1, 0, V, false },
	{ PQL_FN_START, "start", { 0 }, 0, 0, S, true },
	{ PQL_FN_START_TIMESTAMP, "start_timestamp", { V }, 1, 0, V, true },
	{ PQL_FN_STDDEV_OVER_TIME, "stddev_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_STDVAR_OVER_TIME, "stdvar_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_STEP, "step", { 0 }, 0, 0, S, true },
	{ PQL_FN_SUM_OVER_TIME, "sum_over_time", { M }, 1, 0, V, false },
	{ PQL_FN_TAN, "tan", { V }, 1, 0, V, false },
	{ PQL_FN_TANH, "tanh", { V }, 1, 0, V, false },
	{ PQL_FN_TIME, "time", { 0 }, 0, 0, S, false },
	{ PQL_FN_TIMESTAMP, "timestamp", { V }, 1, 0, V, false },
	{ PQL_FN_TS_OF_FIRST_OVER_TIME, "ts_of_first_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_TS_OF_LAST_OVER_TIME, "ts_of_last_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_TS_OF_MAX_OVER_TIME, "ts_of_max_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_TS_OF_MIN_OVER_TIME, "ts_of_min_over_time", { M }, 1, 0, V, true },
	{ PQL_FN_VECTOR, "vector", { S }, 1, 0, V, false },
	{ PQL_FN_YEAR, "year", { V }, 1, 1, V, false },
};

#undef S
#undef V
#undef M
#undef T

#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

const struct pql_func *pql_func_table(size_t *n)
{
	*n = NFUNCS;
	return funcs;
}

const struct pql_func *pql_func_lookup(const char *name, size_t len)
{
	size_t lo = 0, hi = NFUNCS;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *fn = funcs[mid].name;
		int c = strncmp(name, fn, len);

		if (c == 0 && fn[len] != '\0')
			c = -1;
		if (c == 0)
			return &funcs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

enum pql_type pql_func_arg_type(const struct pql_func *f, size_t i)
{
	if (f->nargs == 0)
		return PQL_NONE;
	if (i >= f->nargs)
		return f->variadic != 0 ? f->arg_types[f->nargs - 1] : PQL_NONE;
	return f->arg_types[i];
}

/* ---------------------------------------------------------------- names */

const char *pql_binop_str(enum pql_binop op)
{
	switch (op) {
	case PQL_OP_ADD: return "+";
	case PQL_OP_SUB: return "-";
	case PQL_OP_MUL: return "*";
	case PQL_OP_DIV: return "/";
	case PQL_OP_MOD: return "%";
	case PQL_OP_POW: return "^";
	case PQL_OP_ATAN2: return "atan2";
	case PQL_OP_EQLC: return "==";
	case PQL_OP_NEQ: return "!=";
	case PQL_OP_GTR: return ">";
	case PQL_OP_LSS: return "<";
	case PQL_OP_GTE: return ">=";
	case PQL_OP_LTE: return "<=";
	case PQL_OP_AND: return "and";
	case PQL_OP_OR: return "or";
	case PQL_OP_UNLESS: return "unless";
	case PQL_OP_TRIM_UPPER: return "</";
	case PQL_OP_TRIM_LOWER: return ">/";
	}
	return "?";
}

const char *pql_aggop_str(enum pql_aggop op)
{
	switch (op) {
	case PQL_AGG_SUM: return "sum";
	case PQL_AGG_AVG: return "avg";
	case PQL_AGG_COUNT: return "count";
	case PQL_AGG_MIN: return "min";
	case PQL_AGG_MAX: return "max";
	case PQL_AGG_GROUP: return "group";
	case PQL_AGG_STDDEV: return "stddev";
	case PQL_AGG_STDVAR: return "stdvar";
	case PQL_AGG_TOPK: return "topk";
	case PQL_AGG_BOTTOMK: return "bottomk";
	case PQL_AGG_COUNT_VALUES: return "count_values";
	case PQL_AGG_QUANTILE: return "quantile";
	case PQL_AGG_LIMITK: return "limitk";
	case PQL_AGG_LIMIT_RATIO: return "limit_ratio";
	}
	return "?";
}

bool pql_binop_is_comparison(enum pql_binop op)
{
	return op == PQL_OP_EQLC || op == PQL_OP_NEQ || op == PQL_OP_GTR || op == PQL_OP_LSS ||
	       op == PQL_OP_GTE || op == PQL_OP_LTE;
}

bool pql_binop_is_set(enum pql_binop op)
{
	return op == PQL_OP_AND || op == PQL_OP_OR || op == PQL_OP_UNLESS;
}

/* ---------------------------------------------------------------- walking */

size_t pql_node_children(const struct pql_node *n, struct pql_node **kids, size_t cap)
{
	size_t k = 0, i;

#define ADD(x) do { if ((x) != NULL) { if (k < cap) kids[k] = (x); k++; } } while (0)
	if (n == NULL)
		return 0;
	switch (n->kind) {
	case PQL_NODE_MATRIX:
		ADD(n->u.ms.vs);
		break;
	case PQL_NODE_SUBQUERY:
		ADD(n->u.sq.expr);
		break;
	case PQL_NODE_UNARY:
		ADD(n->u.un.expr);
		break;
	case PQL_NODE_BINARY:
		ADD(n->u.bin.lhs);
		ADD(n->u.bin.rhs);
		break;
	case PQL_NODE_AGGREGATE:
		ADD(n->u.agg.expr);
		ADD(n->u.agg.param);
		break;
	case PQL_NODE_CALL:
		for (i = 0; i < n->u.call.nargs; i++)
			ADD(n->u.call.args[i]);
		break;
	case PQL_NODE_PAREN:
		ADD(n->u.paren.expr);
		break;
	default:
		break;
	}
#undef ADD
	return k;
}

struct pql_node *pql_unparen(struct pql_node *n)
{
	while (n != NULL && n->kind == PQL_NODE_PAREN)
		n = n->u.paren.expr;
	return n;
}

void pql_ast_release(struct pql_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	switch (n->kind) {
	case PQL_NODE_VECTOR:
		for (i = 0; i < n->u.vs.nmatchers; i++)
			matcher_release(&n->u.vs.matchers[i]);
		n->u.vs.nmatchers = 0;
		break;
	case PQL_NODE_MATRIX:
		pql_ast_release(n->u.ms.vs);
		break;
	case PQL_NODE_SUBQUERY:
		pql_ast_release(n->u.sq.expr);
		break;
	case PQL_NODE_UNARY:
		pql_ast_release(n->u.un.expr);
		break;
	case PQL_NODE_BINARY:
		pql_ast_release(n->u.bin.lhs);
		pql_ast_release(n->u.bin.rhs);
		break;
	case PQL_NODE_AGGREGATE:
		pql_ast_release(n->u.agg.expr);
		pql_ast_release(n->u.agg.param);
		break;
	case PQL_NODE_CALL:
		for (i = 0; i < n->u.call.nargs; i++)
			pql_ast_release(n->u.call.args[i]);
		break;
	case PQL_NODE_PAREN:
		pql_ast_release(n->u.paren.expr);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- durations */

bool pql_duration_is_const(const struct pql_node *d)
{
	if (d == NULL || d->kind == PQL_NODE_NUMBER)
		return true;
	if (d->kind != PQL_NODE_DURATION)
		return true;
	if (d->u.dur.op == PQL_DUR_STEP || d->u.dur.op == PQL_DUR_RANGE)
		return false;
	return pql_duration_is_const(d->u.dur.lhs) && pql_duration_is_const(d->u.dur.rhs);
}

int pql_duration_eval(const struct pql_node *d, int64_t step_ms, int64_t range_ms,
		      double *out, struct ts_error *err)
{
	double l = 0, r = 0;
	int rc;

	if (d == NULL)
		return ts_error_set(err, TS_ERR_INVALID, "missing duration");
	if (d->kind == PQL_NODE_NUMBER) {
		*out = d->u.num.val;
		return 0;
	}
	if (d->kind != PQL_NODE_DURATION)
		return ts_error_set(err, TS_ERR_INVALID, "unexpected node in duration expression");
	switch (d->u.dur.op) {
	case PQL_DUR_STEP:
		*out = (double)step_ms / 1000.0;
		return 0;
	case PQL_DUR_RANGE:
		*out = (double)range_ms / 1000.0;
		return 0;
	default:
		break;
	}
	if (d->u.dur.lhs != NULL) {
		rc = pql_duration_eval(d->u.dur.lhs, step_ms, range_ms, &l, err);
		if (rc)
			return rc;
	}
	if (d->u.dur.rhs != NULL) {
		rc = pql_duration_eval(d->u.dur.rhs, step_ms, range_ms, &r, err);
		if (rc)
			return rc;
	}
	switch (d->u.dur.op) {
	case PQL_DUR_ADD: *out = l + r; break;
	case PQL_DUR_SUB: *out = l - r; break;
	case PQL_DUR_MUL: *out = l * r; break;
	case PQL_DUR_DIV:
		if (r == 0)
			return ts_error_set(err, TS_ERR_INVALID, "division by zero");
		*out = l / r;
		break;
	case PQL_DUR_MOD:
		if (r == 0)
			return ts_error_set(err, TS_ERR_INVALID, "modulo by zero");
		*out = fmod(l, r);
		break;
	case PQL_DUR_POW: *out = pow(l, r); break;
	case PQL_DUR_NEG: *out = -r; break;
	case PQL_DUR_POS: *out = r; break;
	case PQL_DUR_PAREN: *out = r; break;
	case PQL_DUR_MIN_OF: *out = fmin(l, r); break;
	case PQL_DUR_MAX_OF: *out = fmax(l, r); break;
	default:
		return ts_error_set(err, TS_ERR_INVALID, "unknown duration operation");
	}
	return 0;
}

int64_t pql_secs_to_ms(double s)
{
	/* Truncation toward zero as Prometheus does, after a nudge that
	 * undoes binary rounding (1 + 8.001 is 9.000999... s, i.e. 9001 ms). */
	double v = s * 1000.0;

	v += v >= 0 ? 1e-6 : -1e-6;
	return (int64_t)v;
}

/* Seconds to ms the way the engine does (truncation), with range checks. */
static int secs_to_ms(double s, bool positive, int64_t *ms, struct ts_error *err)
{
	if (isnan(s) || s > 9223372036.854775 || s < -9223372036.854775)
		return ts_error_set(err, TS_ERR_INVALID, "duration is out of range");
	if (positive && s <= 0)
		return ts_error_set(err, TS_ERR_INVALID, "duration must be greater than 0");
	*ms = pql_secs_to_ms(s);
	if (positive && *ms <= 0)
		return ts_error_set(err, TS_ERR_INVALID, "duration must be greater than 0");
	return 0;
}

static int resolve_one(struct pql_node *e, bool positive, int64_t step_ms, int64_t range_ms,
		       int64_t *ms, struct ts_error *err)
{
	double s;
	int rc;

	if (e == NULL)
		return 0;
	rc = pql_duration_eval(e, step_ms, range_ms, &s, err);
	if (rc)
		return rc;
	return secs_to_ms(s, positive, ms, err);
}

int pql_ast_resolve_durations(struct pql_node *n, int64_t step_ms, int64_t range_ms,
			      struct ts_error *err)
{
	size_t i;
	int rc = 0;

	if (n == NULL)
		return 0;
	switch (n->kind) {
	case PQL_NODE_VECTOR:
		return resolve_one(n->u.vs.offset_expr, false, step_ms, range_ms,
				   &n->u.vs.offset_ms, err);
	case PQL_NODE_MATRIX:
		rc = resolve_one(n->u.ms.range_expr, true, step_ms, range_ms, &n->u.ms.range_ms, err);
		if (rc)
			return rc;
		return pql_ast_resolve_durations(n->u.ms.vs, step_ms, range_ms, err);
	case PQL_NODE_SUBQUERY:
		rc = resolve_one(n->u.sq.range_expr, true, step_ms, range_ms, &n->u.sq.range_ms, err);
		if (!rc)
			rc = resolve_one(n->u.sq.step_expr, true, step_ms, range_ms,
					 &n->u.sq.step_ms, err);
		if (!rc)
			rc = resolve_one(n->u.sq.offset_expr, false, step_ms, range_ms,
					 &n->u.sq.offset_ms, err);
		if (rc)
			return rc;
		return pql_ast_resolve_durations(n->u.sq.expr, step_ms, range_ms, err);
	case PQL_NODE_UNARY:
		return pql_ast_resolve_durations(n->u.un.expr, step_ms, range_ms, err);
	case PQL_NODE_BINARY:
		rc = pql_ast_resolve_durations(n->u.bin.lhs, step_ms, range_ms, err);
		if (rc)
			return rc;
		return pql_ast_resolve_durations(n->u.bin.rhs, step_ms, range_ms, err);
	case PQL_NODE_AGGREGATE:
		rc = pql_ast_resolve_durations(n->u.agg.expr, step_ms, range_ms, err);
		if (rc)
			return rc;
		return pql_ast_resolve_durations(n->u.agg.param, step_ms, range_ms, err);
	case PQL_NODE_CALL:
		for (i = 0; i < n->u.call.nargs && !rc; i++)
			rc = pql_ast_resolve_durations(n->u.call.args[i], step_ms, range_ms, err);
		return rc;
	case PQL_NODE_PAREN:
		return pql_ast_resolve_durations(n->u.paren.expr, step_ms, range_ms, err);
	default:
		return 0;
	}
}

void pql_pos_linecol(const char *query, size_t pos, int *line, int *col)
{
	size_t i, last_nl = (size_t)-1;
	int ln = 1;

	for (i = 0; i < pos && query[i] != '\0'; i++) {
		if (query[i] == '\n') {
			ln++;
			last_nl = i;
		}
	}
	*line = ln;
	*col = (int)(pos - (last_nl + 1)) + 1;
}
