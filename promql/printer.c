/*
 * printer.c - syntax tree back to PromQL text, the way Prometheus's
 * String() methods print it (format_query, re-serialised queries).
 *
 * Canonical forms: binary operators with one space on each side and
 * modifiers as ` bool`, ` on (a, b)`, ` group_left (c)`; aggregations as
 * `sum by (a) (x)` / `topk(3, x)`; selectors as `name{a="b",c=~"d"}` with
 * matchers sorted as strings and the name matcher folded into the name;
 * selector modifiers in the order `[range]`, anchored/smoothed, `@ t`,
 * `offset d`; numbers in shortest fixed notation (`1e3` is `1000`),
 * duration literals and ranges as Prometheus durations (`1h30m`), strings
 * double-quoted with Go escapes.
 *
 * pql_format (format_query) prints like Prometheus's Pretty(0): the same
 * text when it fits in 100 columns, otherwise aggregations, calls,
 * parentheses and binary operators are split over lines, two spaces of
 * indent per level.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/ast.h"
#include "promql/engine.h"
#include "promql/lexer.h"
#include "promql/parser.h"
#include "util/arena.h"
#include "util/buf.h"

/* ---------------------------------------------------------------- numbers */

/* strconv.FormatFloat(v, 'f', -1, 64): shortest digits, fixed notation. */
static void add_float_fixed(struct buf *b, double v)
{
	char tmp[64], digits[32];
	int prec, exp10, nd = 0, i;
	char *e, *p;

	if (isnan(v)) {
		buf_addstr(b, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		buf_addstr(b, signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* tmp: [-]d[.ddd]e[+-]xx */
	p = tmp;
	if (*p == '-') {
		buf_addch(b, '-');
		p++;
	}
	e = strchr(p, 'e');
	exp10 = atoi(e + 1);
	for (; p < e; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	/* value = 0.d1d2... * 10^(exp10+1) */
	if (exp10 < 0) {
		buf_addstr(b, "0.");
		for (i = 0; i < -exp10 - 1; i++)
			buf_addch(b, '0');
		buf_add(b, digits, (size_t)nd);
		return;
	}
	for (i = 0; i <= exp10; i++)
		buf_addch(b, i < nd ? digits[i] : '0');
	if (nd > exp10 + 1) {
		buf_addch(b, '.');
		buf_add(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
	}
}

/* model.Duration(ms).String() */
static void add_duration_ms(struct buf *b, int64_t ms)
{
	static const struct {
		const char *u;
		int64_t mult;
		bool exact;
	} units[] = {
		{ "y", 1000LL * 60 * 60 * 24 * 365, true },
		{ "w", 1000LL * 60 * 60 * 24 * 7, true },
		{ "d", 1000LL * 60 * 60 * 24, false },
		{ "h", 1000LL * 60 * 60, false },
		{ "m", 1000LL * 60, false },
		{ "s", 1000LL, false },
		{ "ms", 1, false },
	};
	size_t i;

	if (ms == 0) {
		buf_addstr(b, "0s");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t v;

		if (units[i].exact && ms % units[i].mult != 0)
			continue;
		v = ms / units[i].mult;
		if (v > 0) {
			buf_printf(b, "%lld%s", (long long)v, units[i].u);
			ms -= v * units[i].mult;
		}
	}
}

/* A duration literal in seconds, as model.Duration(v*1e9), but computed
 * in milliseconds so that binary rounding cannot lose one (Prometheus
 * prints 8001ms as 8s: 8.001e9 ns is 8000999999.99...). */
static void add_duration_secs(struct buf *b, double secs)
{
	if (secs < 0) {
		buf_addch(b, '-');
		secs = -secs;
	}
	if (secs >= 9223372036.854775)
		add_duration_ms(b, INT64_MAX / 1000000);
	else
		add_duration_ms(b, pql_secs_to_ms(secs));
}

/* ---------------------------------------------------------------- strings */

/* strconv.Quote */
static void add_quoted(struct buf *b, const char *s, size_t n)
{
	char stackq[512];
	char *q = stackq;
	size_t cap = n * 10 + 3;

	if (cap > sizeof(stackq)) {
		q = malloc(cap);
		if (q == NULL) {
			b->oom = true;
			return;
		}
	} else {
		cap = sizeof(stackq);
	}
	pql_go_quote(s, n, q, cap);
	buf_addstr(b, q);
	if (q != stackq)
		free(q);
}

/* [a-zA-Z_][a-zA-Z0-9_]* : printed bare in matchers */
static bool legacy_label(const char *s)
{
	size_t i;

	if (*s == '\0')
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (i > 0 && c >= '0' && c <= '9'))
			continue;
		return false;
	}
	return true;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* : printed bare in grouping lists */
static bool legacy_metric(const char *s)
{
	size_t i;

	if (*s == '\0')
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (i > 0 && c >= '0' && c <= '9'))
			continue;
		return false;
	}
	return true;
}

static void add_grouping(struct buf *b, const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			buf_addstr(b, ", ");
		if (legacy_metric(v[i]))
			buf_addstr(b, v[i]);
		else
			add_quoted(b, v[i], strlen(v[i]));
	}
}

/* ---------------------------------------------------------------- nodes */

void pql_node_print(const struct pql_node *n, struct buf *b);

static void print_duration_expr(const struct pql_node *d, struct buf *b)
{
	if (d->kind == PQL_NODE_NUMBER) {
		pql_node_print(d, b);
		return;
	}
	switch (d->u.dur.op) {
	case PQL_DUR_STEP:
		buf_addstr(b, "step()");
		return;
	case PQL_DUR_RANGE:
		buf_addstr(b, "range()");
		return;
	case PQL_DUR_MIN_OF:
	case PQL_DUR_MAX_OF:
		buf_addstr(b, d->u.dur.op == PQL_DUR_MIN_OF ? "min_of(" : "max_of(");
		print_duration_expr(d->u.dur.lhs, b);
		buf_addstr(b, ", ");
		print_duration_expr(d->u.dur.rhs, b);
		buf_addch(b, ')');
		return;
	case PQL_DUR_PAREN:
		buf_addch(b, '(');
		print_duration_expr(d->u.dur.rhs, b);
		buf_addch(b, ')');
		return;
	case PQL_DUR_NEG:
		buf_addch(b, '-');
		print_duration_expr(d->u.dur.rhs, b);
		return;
	case PQL_DUR_POS:
		print_duration_expr(d->u.dur.rhs, b);
		return;
	default:
		break;
	}
	print_duration_expr(d->u.dur.lhs, b);
	buf_addch(b, ' ');
	switch (d->u.dur.op) {
	case PQL_DUR_ADD: buf_addch(b, '+'); break;
	case PQL_DUR_SUB: buf_addch(b, '-'); break;
	case PQL_DUR_MUL: buf_addch(b, '*'); break;
	case PQL_DUR_DIV: buf_addch(b, '/'); break;
	case PQL_DUR_MOD: buf_addch(b, '%'); break;
	default: buf_addch(b, '^'); break;
	}
	buf_addch(b, ' ');
	print_duration_expr(d->u.dur.rhs, b);
}

static void print_at(struct buf *b, enum pql_at at, int64_t at_ms)
{
	switch (at) {
	case PQL_AT_TIME: {
		long long ms = (long long)at_ms;
		const char *sign = ms < 0 ? "-" : "";
		unsigned long long a = ms < 0 ? 0ULL - (unsigned long long)ms : (unsigned long long)ms;

		buf_printf(b, " @ %s%llu.%03llu", sign, a / 1000, a % 1000);
		break;
	}
	case PQL_AT_START:
		buf_addstr(b, " @ start()");
		break;
	case PQL_AT_END:
		buf_addstr(b, " @ end()");
		break;
	default:
		break;
	}
}

static void print_offset(struct buf *b, int64_t ms, const struct pql_node *expr)
{
	if (expr != NULL) {
		buf_addstr(b, " offset ");
		print_duration_expr(expr, b);
	} else if (ms > 0) {
		buf_addstr(b, " offset ");
		add_duration_ms(b, ms);
	} else if (ms < 0) {
		buf_addstr(b, " offset -");
		add_duration_ms(b, -ms);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The selector without modifiers: name{sorted matchers}. */
static void print_selector_base(const struct pql_vector_sel *vs, struct buf *b)
{
	struct buf tmp = BUF_INIT;
	char **strs;
	size_t i, k = 0;

	strs = calloc(vs->nmatchers ? vs->nmatchers : 1, sizeof(*strs));
	if (strs == NULL) {
		b->oom = true;
		return;
	}
	for (i = 0; i < vs->nmatchers; i++) {
		const struct matcher *m = &vs->matchers[i];
		static const char *ops[] = { "=", "!=", "=~", "!~" };

		if (vs->name && strcmp(m->name, LABEL_NAME) == 0 && m->type == MATCHER_EQ &&
		    strcmp(m->value, vs->name) == 0 && m->value[0] != '\0')
			continue;
		buf_setlen(&tmp, 0);
		if (legacy_label(m->name))
			buf_addstr(&tmp, m->name);
		else
			add_quoted(&tmp, m->name, strlen(m->name));
		buf_addstr(&tmp, ops[m->type]);
		add_quoted(&tmp, m->value, strlen(m->value));
		strs[k] = buf_detach(&tmp, NULL);
		if (strs[k] == NULL) {
			b->oom = true;
			break;
		}
		k++;
	}
	buf_release(&tmp);
	qsort(strs, k, sizeof(*strs), cmp_str);
	if (vs->name)
		buf_addstr(b, vs->name);
	/* Prometheus prints nothing for an empty nameless selector (only the
	 * second argument of info() can be one); `{}` keeps it parseable */
	if (k || vs->name == NULL) {
		buf_addch(b, '{');
		for (i = 0; i < k; i++) {
			if (i)
				buf_addch(b, ',');
			buf_addstr(b, strs[i]);
		}
		buf_addch(b, '}');
	}
	for (i = 0; i < k; i++)
		free(strs[i]);
	free(strs);
}

static void print_vector(const struct pql_node *n, struct buf *b)
{
	const struct pql_vector_sel *vs = &n->u.vs;

	print_selector_base(vs, b);
	print_at(b, vs->at, vs->at_ms);
	if (vs->anchored)
		buf_addstr(b, " anchored");
	else if (vs->smoothed)
		buf_addstr(b, " smoothed");
	print_offset(b, vs->offset_ms, vs->offset_expr);
}

static void print_matrix(const struct pql_node *n, struct buf *b)
{
	const struct pql_vector_sel *vs = &n->u.ms.vs->u.vs;

	print_selector_base(vs, b);
	buf_addch(b, '[');
	if (n->u.ms.range_expr)
		print_duration_expr(n->u.ms.range_expr, b);
	else
		add_duration_ms(b, n->u.ms.range_ms);
	buf_addch(b, ']');
	if (vs->anchored)
		buf_addstr(b, " anchored");
	else if (vs->smoothed)
		buf_addstr(b, " smoothed");
	print_at(b, vs->at, vs->at_ms);
	print_offset(b, vs->offset_ms, vs->offset_expr);
}

static void print_subquery(const struct pql_node *n, struct buf *b)
{
	const struct pql_subquery *sq = &n->u.sq;

	pql_node_print(sq->expr, b);
	buf_addch(b, '[');
	if (sq->range_expr)
		print_duration_expr(sq->range_expr, b);
	else
		add_duration_ms(b, sq->range_ms);
	buf_addch(b, ':');
	if (sq->step_expr)
		print_duration_expr(sq->step_expr, b);
	else if (sq->step_ms != 0)
		add_duration_ms(b, sq->step_ms);
	buf_addch(b, ']');
	print_at(b, sq->at, sq->at_ms);
	print_offset(b, sq->offset_ms, sq->offset_expr);
}

static void print_matching(const struct pql_binary *bin, struct buf *b);

static void print_binary(const struct pql_node *n, struct buf *b)
{
	const struct pql_binary *bin = &n->u.bin;

	pql_node_print(bin->lhs, b);
	buf_addch(b, ' ');
	buf_addstr(b, pql_binop_str(bin->op));
	if (bin->return_bool)
		buf_addstr(b, " bool");
	print_matching(bin, b);
	buf_addch(b, ' ');
	pql_node_print(bin->rhs, b);
}

/* ` on (a) group_left (b) fill(v)` after the operator */
static void print_matching(const struct pql_binary *bin, struct buf *b)
{
	const struct pql_vector_matching *vm = &bin->vm;

	if (vm->nlabels > 0 || vm->on) {
		/* Prometheus joins these unquoted; quoting keeps UTF-8 names
		 * parseable */
		buf_addstr(b, vm->on ? " on (" : " ignoring (");
		add_grouping(b, vm->labels, vm->nlabels);
		buf_addch(b, ')');
		if (vm->card == PQL_CARD_MANY_TO_ONE || vm->card == PQL_CARD_ONE_TO_MANY) {
			buf_addstr(b, vm->card == PQL_CARD_MANY_TO_ONE ? " group_left (" :
									 " group_right (");
			add_grouping(b, vm->include, vm->ninclude);
			buf_addch(b, ')');
		}
	}
	if (vm->has_fill_left && vm->has_fill_right &&
	    (vm->fill_left == vm->fill_right ||
	     (isnan(vm->fill_left) && isnan(vm->fill_right)))) {
		buf_addstr(b, " fill(");
		add_float_fixed(b, vm->fill_left);
		buf_addch(b, ')');
	} else {
		if (vm->has_fill_left) {
			buf_addstr(b, " fill_left(");
			add_float_fixed(b, vm->fill_left);
			buf_addch(b, ')');
		}
		if (vm->has_fill_right) {
			buf_addstr(b, " fill_right(");
			add_float_fixed(b, vm->fill_right);
			buf_addch(b, ')');
		}
	}
}

static bool agg_has_param(enum pql_aggop op)
{
	return op == PQL_AGG_TOPK || op == PQL_AGG_BOTTOMK || op == PQL_AGG_COUNT_VALUES ||
	       op == PQL_AGG_QUANTILE || op == PQL_AGG_LIMITK || op == PQL_AGG_LIMIT_RATIO;
}

static void print_aggregate(const struct pql_node *n, struct buf *b)
{
	const struct pql_aggregate *agg = &n->u.agg;

	buf_addstr(b, pql_aggop_str(agg->op));
	if (agg->without) {
		buf_addstr(b, " without (");
		add_grouping(b, agg->grouping, agg->ngrouping);
		buf_addstr(b, ") ");
	} else if (agg->ngrouping > 0) {
		buf_addstr(b, " by (");
		add_grouping(b, agg->grouping, agg->ngrouping);
		buf_addstr(b, ") ");
	}
	buf_addch(b, '(');
	if (agg_has_param(agg->op) && agg->param) {
		pql_node_print(agg->param, b);
		buf_addstr(b, ", ");
	}
	pql_node_print(agg->expr, b);
	buf_addch(b, ')');
}

void pql_node_print(const struct pql_node *n, struct buf *b)
{
	size_t i;

	if (n == NULL)
		return;
	switch (n->kind) {
	case PQL_NODE_NUMBER:
		if (n->u.num.duration)
			add_duration_secs(b, n->u.num.val);
		else
			add_float_fixed(b, n->u.num.val);
		break;
	case PQL_NODE_STRING:
		add_quoted(b, n->u.str.val, n->u.str.len);
		break;
	case PQL_NODE_VECTOR:
		print_vector(n, b);
		break;
	case PQL_NODE_MATRIX:
		print_matrix(n, b);
		break;
	case PQL_NODE_SUBQUERY:
		print_subquery(n, b);
		break;
	case PQL_NODE_UNARY:
		buf_addstr(b, pql_binop_str(n->u.un.op));
		pql_node_print(n->u.un.expr, b);
		break;
	case PQL_NODE_BINARY:
		print_binary(n, b);
		break;
	case PQL_NODE_AGGREGATE:
		print_aggregate(n, b);
		break;
	case PQL_NODE_CALL:
		buf_addstr(b, n->u.call.func->name);
		buf_addch(b, '(');
		for (i = 0; i < n->u.call.nargs; i++) {
			if (i)
				buf_addstr(b, ", ");
			pql_node_print(n->u.call.args[i], b);
		}
		buf_addch(b, ')');
		break;
	case PQL_NODE_PAREN:
		buf_addch(b, '(');
		pql_node_print(n->u.paren.expr, b);
		buf_addch(b, ')');
		break;
	case PQL_NODE_DURATION:
		print_duration_expr(n, b);
		break;
	}
}

/* ---------------------------------------------------------------- pretty */

#define PRETTY_MAX_LINE 100

static void add_indent(struct buf *b, int level)
{
	int i;

	for (i = 0; i < level; i++)
		buf_addstr(b, "  ");
}

/* Does n print longer than a line? (Prometheus's needsSplit) */
static bool needs_split(const struct pql_node *n, size_t width)
{
	struct buf t = BUF_INIT;
	bool split;

	pql_node_print(n, &t);
	split = t.len > width;
	buf_release(&t);
	return split;
}

void pql_node_pretty_width(const struct pql_node *n, int level, size_t width, struct buf *b)
{
	size_t i, start;

	if (n == NULL)
		return;
	switch (n->kind) {
	case PQL_NODE_AGGREGATE: {
		const struct pql_aggregate *agg = &n->u.agg;

		add_indent(b, level);
		if (!needs_split(n, width)) {
			pql_node_print(n, b);
			return;
		}
		buf_addstr(b, pql_aggop_str(agg->op));
		if (agg->without || agg->ngrouping > 0) {
			buf_addstr(b, agg->without ? " without (" : " by (");
			add_grouping(b, agg->grouping, agg->ngrouping);
			buf_addstr(b, ") ");
		}
		buf_addstr(b, "(\n");
		if (agg_has_param(agg->op) && agg->param) {
			pql_node_pretty_width(agg->param, level + 1, width, b);
			buf_addstr(b, ",\n");
		}
		pql_node_pretty_width(agg->expr, level + 1, width, b);
		buf_addch(b, '\n');
		add_indent(b, level);
		buf_addch(b, ')');
		return;
	}
	case PQL_NODE_BINARY:
		if (!needs_split(n, width)) {
			add_indent(b, level);
			pql_node_print(n, b);
			return;
		}
		pql_node_pretty_width(n->u.bin.lhs, level + 1, width, b);
		buf_addch(b, '\n');
		add_indent(b, level);
		buf_addstr(b, pql_binop_str(n->u.bin.op));
		if (n->u.bin.return_bool)
			buf_addstr(b, " bool");
		print_matching(&n->u.bin, b);
		buf_addch(b, '\n');
		pql_node_pretty_width(n->u.bin.rhs, level + 1, width, b);
		return;
	case PQL_NODE_CALL:
		add_indent(b, level);
		if (!needs_split(n, width)) {
			pql_node_print(n, b);
			return;
		}
		buf_addstr(b, n->u.call.func->name);
		buf_addstr(b, "(\n");
		for (i = 0; i < n->u.call.nargs; i++) {
			if (i)
				buf_addstr(b, ",\n");
			pql_node_pretty_width(n->u.call.args[i], level + 1, width, b);
		}
		buf_addch(b, '\n');
		add_indent(b, level);
		buf_addch(b, ')');
		return;
	case PQL_NODE_PAREN:
		add_indent(b, level);
		if (!needs_split(n, width)) {
			pql_node_print(n, b);
			return;
		}
		buf_addstr(b, "(\n");
		pql_node_pretty_width(n->u.paren.expr, level + 1, width, b);
		buf_addch(b, '\n');
		add_indent(b, level);
		buf_addch(b, ')');
		return;
	case PQL_NODE_SUBQUERY:
		/* as in Prometheus, an unsplit subquery gets no indent */
		if (!needs_split(n, width)) {
			pql_node_print(n, b);
			return;
		}
		pql_node_pretty_width(n->u.sq.expr, level, width, b);
		start = b->len;
		pql_node_print(n, b);
		{
			/* keep only the [range:step] @ offset suffix */
			struct buf e = BUF_INIT;

			pql_node_print(n->u.sq.expr, &e);
			if (b->len - start >= e.len) {
				memmove(b->data + start, b->data + start + e.len, b->len - start - e.len);
				buf_setlen(b, b->len - e.len);
			}
			buf_release(&e);
		}
		return;
	case PQL_NODE_UNARY: {
		struct buf c = BUF_INIT;
		const char *p;

		pql_node_pretty_width(n->u.un.expr, level, width, &c);
		p = c.data ? c.data : "";
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		add_indent(b, level);
		buf_addstr(b, pql_binop_str(n->u.un.op));
		buf_addstr(b, p);
		/* TrimSpace also trims the end; children never end in space */
		if (!buf_ok(&c))
			b->oom = true;
		buf_release(&c);
		return;
	}
	default:
		add_indent(b, level);
		pql_node_print(n, b);
		return;
	}
}

void pql_node_pretty(const struct pql_node *n, int level, struct buf *b)
{
	pql_node_pretty_width(n, level, PRETTY_MAX_LINE, b);
}

int pql_format(const char *query, char **out, struct ts_error *err)
{
	struct arena *a = arena_new(0);
	struct pql_node *root = NULL;
	struct buf b = BUF_INIT;
	int rc;

	*out = NULL;
	if (a == NULL)
		return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
	rc = pql_parse(query, a, &root, err);
	if (rc == 0) {
		pql_node_pretty(root, 0, &b);
		if (!buf_ok(&b)) {
			rc = ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		} else {
			*out = buf_detach(&b, NULL);
			if (*out == NULL)
				rc = ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		}
	}
	buf_release(&b);
	pql_ast_release(root);
	arena_free(a);
	return rc;
}
