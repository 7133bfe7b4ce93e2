/*
 * ast_json.c - the syntax tree as /api/v1/parse_query's JSON.
 *
 * One object per node, keys in byte order (Go sorts map keys):
 *
 *   aggregation     expr, grouping [names], op ("sum"...), param (node or
 *                   null), type, without (bool)
 *   binaryExpr      bool, lhs, matching, op ("+", "and"...), rhs, type;
 *                   matching is null unless both operands are instant
 *                   vectors, else {card ("one-to-one", "many-to-one",
 *                   "one-to-many", "many-to-many"), fillValues {lhs, rhs:
 *                   number or null}, include [names], labels [names], on}
 *   call            args [nodes], func {argTypes ["vector"...], name,
 *                   returnType, variadic (0, -1 or the number of optional
 *                   arguments)}, type
 *   matrixSelector  anchored, matchers, name, offset (ms), range (ms),
 *                   smoothed, startOrEnd ("start", "end" or null),
 *                   timestamp (ms of @ or null), type
 *   subquery        alignEvalTime (false), expr, offset, range, startOrEnd,
 *                   step (ms, 0 when not written), timestamp, type
 *   numberLiteral   type, val (a string in fixed notation, shortest digits;
 *                   "NaN", "+Inf", "-Inf")
 *   parenExpr       expr, type
 *   stringLiteral   type, val
 *   unaryExpr       expr, op ("-" or "+"), type
 *   vectorSelector  anchored, matchers, name, offset, smoothed, startOrEnd,
 *                   timestamp, type
 *
 * A matcher is {name, type ("=", "!=", "=~", "!~"), value}. Prometheus
 * adds the matcher of a metric name written before the braces after the
 * ones inside them; the parser keeps it first (ast.h invariant 5), so it
 * is moved last here. Strings are escaped as Prometheus's JSON encoder
 * does: <, > and & as \u003c \u003e \u0026, control characters other
 * than \n \r \t as \u00XX, U+2028/U+2029 escaped, invalid UTF-8 as
 * \ufffd. A fill value that is not finite (which Go cannot encode) is
 * written as null.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/ast_json.h"
#include "promql/parser.h"
#include "util/arena.h"

/* ---------------------------------------------------------------- scalars */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of s[0..n). */
static void add_str(struct buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, l;
	unsigned char c;

	buf_addch(b, '"');
	while (i < n) {
		c = s[i];
		if (c >= 0x80) {
			l = utf8_len(s + i, n - i);
			if (l == 0) {
				buf_addstr(b, "\\ufffd");
				i++;
			} else if (l == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
				   (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
				buf_addstr(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
				i += 3;
			} else {
				buf_add(b, s + i, l);
				i += l;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"': buf_addstr(b, "\\\""); continue;
		case '\\': buf_addstr(b, "\\\\"); continue;
		case '\n': buf_addstr(b, "\\n"); continue;
		case '\r': buf_addstr(b, "\\r"); continue;
		case '\t': buf_addstr(b, "\\t"); continue;
		default: break;
		}
		if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			buf_addstr(b, "\\u00");
			buf_addch(b, hex[c >> 4]);
			buf_addch(b, hex[c & 15]);
		} else {
			buf_addch(b, (char)c);
		}
	}
	buf_addch(b, '"');
}

static void add_cstr(struct buf *b, const char *s)
{
	add_str(b, s, strlen(s));
}

/* Shortest "%.Ne" text of v (finite, nonzero) that reads back as v. */
static void shortest_e(double v, char *tmp, size_t cap)
{
	int prec;

	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, cap, "%.*e", prec, v);
		if (strtod(tmp, NULL) == v)
			return;
	}
	snprintf(tmp, cap, "%.17e", v);
}

/* strconv.FormatFloat(v, 'f', -1, 64) as a JSON string. */
static void add_number_literal(struct buf *b, double v)
{
	char tmp[64], digits[32];
	int exp10, nd = 0, i;
	char *p, *e;

	buf_addch(b, '"');
	if (isnan(v)) {
		buf_addstr(b, "NaN");
	} else if (isinf(v)) {
		buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		buf_addstr(b, signbit(v) ? "-0" : "0");
	} else {
		shortest_e(v, tmp, sizeof(tmp));
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
		/* digits d0 d1 ... with the point after position exp10 */
		if (exp10 < 0) {
			buf_addstr(b, "0.");
			for (i = 0; i < -exp10 - 1; i++)
				buf_addch(b, '0');
			buf_add(b, digits, (size_t)nd);
		} else {
			for (i = 0; i <= exp10 || i < nd; i++) {
				if (i == exp10 + 1)
					buf_addch(b, '.');
				buf_addch(b, i < nd ? digits[i] : '0');
			}
		}
	}
	buf_addch(b, '"');
}

/* A float64 as Go's JSON encoder writes it; non-finite values as null. */
static void add_json_float(struct buf *b, double v)
{
	char tmp[64];
	double a = fabs(v);
	char *e;

	if (!isfinite(v)) {
		buf_addstr(b, "null");
		return;
	}
	if (a != 0 && (a < 1e-6 || a >= 1e21)) {
		shortest_e(v, tmp, sizeof(tmp));
		/* C writes e-07 where Go's encoder writes e-7 */
		e = strchr(tmp, 'e');
		if (e && (e[1] == '-' || e[1] == '+') && e[2] == '0' && e[3])
			memmove(e + 2, e + 3, strlen(e + 3) + 1);
		buf_addstr(b, tmp);
		return;
	}
	/* fixed notation: reuse the literal writer without its quotes */
	{
		struct buf t = BUF_INIT;

		add_number_literal(&t, v);
		if (buf_ok(&t) && t.len >= 2)
			buf_add(b, t.data + 1, t.len - 2);
		else
			b->oom = true;
		buf_release(&t);
	}
}

static void add_bool(struct buf *b, bool v)
{
	buf_addstr(b, v ? "true" : "false");
}

static void add_key(struct buf *b, const char *k)
{
	buf_addch(b, ',');
	add_cstr(b, k);
	buf_addch(b, ':');
}

/* The first key of an object (no comma). */
static void add_first_key(struct buf *b, const char *k)
{
	buf_addch(b, '{');
	add_cstr(b, k);
	buf_addch(b, ':');
}

static void add_names(struct buf *b, const char *const *v, size_t n)
{
	size_t i;

	buf_addch(b, '[');
	for (i = 0; i < n; i++) {
		if (i)
			buf_addch(b, ',');
		add_cstr(b, v[i]);
	}
	buf_addch(b, ']');
}

static const char *type_str(enum pql_type t)
{
	switch (t) {
	case PQL_SCALAR: return "scalar";
	case PQL_STRING: return "string";
	case PQL_VECTOR: return "vector";
	case PQL_MATRIX: return "matrix";
	case PQL_NONE: break;
	}
	return "none";
}

static const char *card_str(enum pql_card c)
{
	switch (c) {
	case PQL_CARD_ONE_TO_ONE: return "one-to-one";
	case PQL_CARD_MANY_TO_ONE: return "many-to-one";
	case PQL_CARD_ONE_TO_MANY: return "one-to-many";
	case PQL_CARD_MANY_TO_MANY: return "many-to-many";
	}
	return "one-to-one";
}

static const char *matcher_str(enum matcher_type t)
{
	switch (t) {
	case MATCHER_EQ: return "=";
	case MATCHER_NEQ: return "!=";
	case MATCHER_RE: return "=~";
	case MATCHER_NRE: return "!~";
	}
	return "=";
}

/* ---------------------------------------------------------------- nodes */

static void add_matcher(struct buf *b, const struct matcher *m)
{
	add_first_key(b, "name");
	add_cstr(b, m->name);
	add_key(b, "type");
	add_cstr(b, matcher_str(m->type));
	add_key(b, "value");
	add_cstr(b, m->value);
	buf_addch(b, '}');
}

static void add_matchers(struct buf *b, const struct pql_vector_sel *vs)
{
	size_t i, first = vs->name && vs->nmatchers ? 1 : 0;
	bool sep = false;

	buf_addch(b, '[');
	for (i = first; i < vs->nmatchers; i++) {
		if (sep)
			buf_addch(b, ',');
		add_matcher(b, &vs->matchers[i]);
		sep = true;
	}
	if (first) {
		if (sep)
			buf_addch(b, ',');
		add_matcher(b, &vs->matchers[0]);
	}
	buf_addch(b, ']');
}

/* The "startOrEnd" value of an @ modifier. */
static void add_start_or_end(struct buf *b, enum pql_at at)
{
	add_key(b, "startOrEnd");
	if (at == PQL_AT_START)
		add_cstr(b, "start");
	else if (at == PQL_AT_END)
		add_cstr(b, "end");
	else
		buf_addstr(b, "null");
}

/* The "timestamp" value of an @ modifier. */
static void add_timestamp(struct buf *b, enum pql_at at, int64_t at_ms)
{
	add_key(b, "timestamp");
	if (at == PQL_AT_TIME)
		buf_printf(b, "%lld", (long long)at_ms);
	else
		buf_addstr(b, "null");
}

/* A vector selector, or a matrix one when range_ms >= 0. */
static void add_selector(struct buf *b, const struct pql_vector_sel *vs, int64_t range_ms)
{
	add_first_key(b, "anchored");
	add_bool(b, vs->anchored);
	add_key(b, "matchers");
	add_matchers(b, vs);
	add_key(b, "name");
	add_cstr(b, vs->name ? vs->name : "");
	add_key(b, "offset");
	buf_printf(b, "%lld", (long long)vs->offset_ms);
	if (range_ms >= 0) {
		add_key(b, "range");
		buf_printf(b, "%lld", (long long)range_ms);
	}
	add_key(b, "smoothed");
	add_bool(b, vs->smoothed);
	add_start_or_end(b, vs->at);
	add_timestamp(b, vs->at, vs->at_ms);
	add_key(b, "type");
	add_cstr(b, range_ms >= 0 ? "matrixSelector" : "vectorSelector");
	buf_addch(b, '}');
}

static void add_matching(struct buf *b, const struct pql_binary *bin)
{
	const struct pql_vector_matching *vm = &bin->vm;

	add_first_key(b, "card");
	add_cstr(b, card_str(vm->card));
	add_key(b, "fillValues");
	add_first_key(b, "lhs");
	if (vm->has_fill_left)
		add_json_float(b, vm->fill_left);
	else
		buf_addstr(b, "null");
	add_key(b, "rhs");
	if (vm->has_fill_right)
		add_json_float(b, vm->fill_right);
	else
		buf_addstr(b, "null");
	buf_addch(b, '}');
	add_key(b, "include");
	add_names(b, vm->include, vm->ninclude);
	add_key(b, "labels");
	add_names(b, vm->labels, vm->nlabels);
	add_key(b, "on");
	add_bool(b, vm->on);
	buf_addch(b, '}');
}

static void add_call(struct buf *b, const struct pql_node *n)
{
	const struct pql_func *f = n->u.call.func;
	size_t i;

	add_first_key(b, "args");
	buf_addch(b, '[');
	for (i = 0; i < n->u.call.nargs; i++) {
		if (i)
			buf_addch(b, ',');
		pql_node_json(n->u.call.args[i], b);
	}
	buf_addch(b, ']');
	add_key(b, "func");
	add_first_key(b, "argTypes");
	buf_addch(b, '[');
	for (i = 0; i < f->nargs; i++) {
		if (i)
			buf_addch(b, ',');
		add_cstr(b, type_str(f->arg_types[i]));
	}
	buf_addch(b, ']');
	add_key(b, "name");
	add_cstr(b, f->name);
	add_key(b, "returnType");
	add_cstr(b, type_str(f->ret));
	add_key(b, "variadic");
	buf_printf(b, "%d", f->variadic);
	buf_addch(b, '}');
	add_key(b, "type");
	add_cstr(b, "call");
	buf_addch(b, '}');
}

void pql_node_json(const struct pql_node *n, struct buf *b)
{
	if (n == NULL) {
		buf_addstr(b, "null");
		return;
	}
	switch (n->kind) {
	case PQL_NODE_AGGREGATE:
		add_first_key(b, "expr");
		pql_node_json(n->u.agg.expr, b);
		add_key(b, "grouping");
		add_names(b, n->u.agg.grouping, n->u.agg.ngrouping);
		add_key(b, "op");
		add_cstr(b, pql_aggop_str(n->u.agg.op));
		add_key(b, "param");
		pql_node_json(n->u.agg.param, b);
		add_key(b, "type");
		add_cstr(b, "aggregation");
		add_key(b, "without");
		add_bool(b, n->u.agg.without);
		buf_addch(b, '}');
		return;
	case PQL_NODE_BINARY:
		add_first_key(b, "bool");
		add_bool(b, n->u.bin.return_bool);
		add_key(b, "lhs");
		pql_node_json(n->u.bin.lhs, b);
		add_key(b, "matching");
		if (n->u.bin.lhs->type == PQL_VECTOR && n->u.bin.rhs->type == PQL_VECTOR)
			add_matching(b, &n->u.bin);
		else
			buf_addstr(b, "null");
		add_key(b, "op");
		add_cstr(b, pql_binop_str(n->u.bin.op));
		add_key(b, "rhs");
		pql_node_json(n->u.bin.rhs, b);
		add_key(b, "type");
		add_cstr(b, "binaryExpr");
		buf_addch(b, '}');
		return;
	case PQL_NODE_CALL:
		add_call(b, n);
		return;
	case PQL_NODE_MATRIX:
		add_selector(b, &n->u.ms.vs->u.vs, n->u.ms.range_ms);
		return;
	case PQL_NODE_SUBQUERY:
		add_first_key(b, "alignEvalTime");
		add_bool(b, false);
		add_key(b, "expr");
		pql_node_json(n->u.sq.expr, b);
		add_key(b, "offset");
		buf_printf(b, "%lld", (long long)n->u.sq.offset_ms);
		add_key(b, "range");
		buf_printf(b, "%lld", (long long)n->u.sq.range_ms);
		add_start_or_end(b, n->u.sq.at);
		add_key(b, "step");
		buf_printf(b, "%lld", (long long)n->u.sq.step_ms);
		add_timestamp(b, n->u.sq.at, n->u.sq.at_ms);
		add_key(b, "type");
		add_cstr(b, "subquery");
		buf_addch(b, '}');
		return;
	case PQL_NODE_NUMBER:
		add_first_key(b, "type");
		add_cstr(b, "numberLiteral");
		add_key(b, "val");
		add_number_literal(b, n->u.num.val);
		buf_addch(b, '}');
		return;
	case PQL_NODE_PAREN:
		add_first_key(b, "expr");
		pql_node_json(n->u.paren.expr, b);
		add_key(b, "type");
		add_cstr(b, "parenExpr");
		buf_addch(b, '}');
		return;
	case PQL_NODE_STRING:
		add_first_key(b, "type");
		add_cstr(b, "stringLiteral");
		add_key(b, "val");
		add_str(b, n->u.str.val, n->u.str.len);
		buf_addch(b, '}');
		return;
	case PQL_NODE_UNARY:
		add_first_key(b, "expr");
		pql_node_json(n->u.un.expr, b);
		add_key(b, "op");
		add_cstr(b, pql_binop_str(n->u.un.op));
		add_key(b, "type");
		add_cstr(b, "unaryExpr");
		buf_addch(b, '}');
		return;
	case PQL_NODE_VECTOR:
		add_selector(b, &n->u.vs, -1);
		return;
	case PQL_NODE_DURATION:
		break;
	}
	/* duration expressions only hang off *_expr fields, never here */
	buf_addstr(b, "null");
}

int pql_parse_json(const char *query, char **out, struct ts_error *err)
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
		pql_node_json(root, &b);
		if (buf_ok(&b))
			*out = buf_detach(&b, NULL);
		if (*out == NULL)
			rc = ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		pql_ast_release(root);
	}
	buf_release(&b);
	arena_free(a);
	return rc;
}
