/*
 * fuzz_promql_parse.c - PromQL parser and printer hardening.
 *
 * The input is taken as a query (a copy with a terminating NUL, cut at
 * the first NUL byte). Whatever it is, parsing must return without
 * crashing; a failure must come with a "<line>:<col>: parse error: "
 * message. When it parses, both printed forms (String() and the narrow
 * multi-line Pretty() of format_query) must parse again into the same
 * tree. Trees are compared modulo unary plus: like Prometheus, the
 * printer writes an infinite literal as "+Inf", which re-parses as a
 * unary plus when it is the left operand of `^`; the value is the same.
 * The series selector entry point must never crash on the input either.
 */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/ast.h"
#include "promql/engine.h"
#include "promql/parser.h"
#include "util/arena.h"
#include "util/buf.h"

#define FUZZ_MAX_QUERY 4096

static char *print_tree(const struct pql_node *n)
{
	struct buf b = BUF_INIT;

	pql_node_print(n, &b);
	if (!buf_ok(&b)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static bool num_eq(double a, double b)
{
	if (a != a && b != b)
		return true;
	return memcmp(&a, &b, sizeof(a)) == 0 || a == b;
}

static const struct pql_node *skip_plus(const struct pql_node *n)
{
	while (n != NULL && n->kind == PQL_NODE_UNARY && n->u.un.op == PQL_OP_ADD)
		n = n->u.un.expr;
	return n;
}

static bool tree_eq(const struct pql_node *a, const struct pql_node *b);

static bool sel_eq(const struct pql_vector_sel *a, const struct pql_vector_sel *b)
{
	uint64_t used = 0;
	size_t i;

	if ((a->name == NULL) != (b->name == NULL) || (a->name && strcmp(a->name, b->name)))
		return false;
	if (a->nmatchers != b->nmatchers || a->offset_ms != b->offset_ms || a->at != b->at ||
	    a->at_ms != b->at_ms || a->anchored != b->anchored || a->smoothed != b->smoothed ||
	    !tree_eq(a->offset_expr, b->offset_expr))
		return false;
	/* the printer sorts matchers: compare them as multisets */
	for (i = 0; i < a->nmatchers && i < 64; i++) {
		size_t j;
		bool found = false;

		for (j = 0; j < b->nmatchers && !found; j++) {
			if (used & (1ULL << (j & 63)))
				continue;
			if (a->matchers[i].type == b->matchers[j].type &&
			    !strcmp(a->matchers[i].name, b->matchers[j].name) &&
			    !strcmp(a->matchers[i].value, b->matchers[j].value)) {
				used |= 1ULL << (j & 63);
				found = true;
			}
		}
		if (!found)
			return false;
	}
	return true;
}

static bool strs_eq(const char **a, size_t na, const char **b, size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool tree_eq(const struct pql_node *a, const struct pql_node *b)
{
	size_t i;

	a = skip_plus(a);
	b = skip_plus(b);
	if (a == NULL || b == NULL)
		return a == b;
	if (a->kind != b->kind || a->type != b->type)
		return false;
	switch (a->kind) {
	case PQL_NODE_NUMBER:
		return num_eq(a->u.num.val, b->u.num.val);
	case PQL_NODE_STRING:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.val, b->u.str.val, a->u.str.len) == 0;
	case PQL_NODE_VECTOR:
		return sel_eq(&a->u.vs, &b->u.vs);
	case PQL_NODE_MATRIX:
		return a->u.ms.range_ms == b->u.ms.range_ms &&
		       tree_eq(a->u.ms.range_expr, b->u.ms.range_expr) &&
		       tree_eq(a->u.ms.vs, b->u.ms.vs);
	case PQL_NODE_SUBQUERY:
		return a->u.sq.range_ms == b->u.sq.range_ms && a->u.sq.step_ms == b->u.sq.step_ms &&
		       a->u.sq.offset_ms == b->u.sq.offset_ms && a->u.sq.at == b->u.sq.at &&
		       a->u.sq.at_ms == b->u.sq.at_ms &&
		       tree_eq(a->u.sq.range_expr, b->u.sq.range_expr) &&
		       tree_eq(a->u.sq.step_expr, b->u.sq.step_expr) &&
		       tree_eq(a->u.sq.offset_expr, b->u.sq.offset_expr) &&
		       tree_eq(a->u.sq.expr, b->u.sq.expr);
	case PQL_NODE_UNARY:
		return a->u.un.op == b->u.un.op && tree_eq(a->u.un.expr, b->u.un.expr);
	case PQL_NODE_BINARY: {
		const struct pql_vector_matching *x = &a->u.bin.vm, *y = &b->u.bin.vm;

		return a->u.bin.op == b->u.bin.op && a->u.bin.return_bool == b->u.bin.return_bool &&
		       x->card == y->card && x->on == y->on &&
		       strs_eq(x->labels, x->nlabels, y->labels, y->nlabels) &&
		       strs_eq(x->include, x->ninclude, y->include, y->ninclude) &&
		       x->has_fill_left == y->has_fill_left &&
		       x->has_fill_right == y->has_fill_right &&
		       (!x->has_fill_left || num_eq(x->fill_left, y->fill_left)) &&
		       (!x->has_fill_right || num_eq(x->fill_right, y->fill_right)) &&
		       tree_eq(a->u.bin.lhs, b->u.bin.lhs) && tree_eq(a->u.bin.rhs, b->u.bin.rhs);
	}
	case PQL_NODE_AGGREGATE:
		return a->u.agg.op == b->u.agg.op && a->u.agg.without == b->u.agg.without &&
		       strs_eq(a->u.agg.grouping, a->u.agg.ngrouping, b->u.agg.grouping,
			       b->u.agg.ngrouping) &&
		       tree_eq(a->u.agg.param, b->u.agg.param) &&
		       tree_eq(a->u.agg.expr, b->u.agg.expr);
	case PQL_NODE_CALL:
		if (a->u.call.func != b->u.call.func || a->u.call.nargs != b->u.call.nargs)
			return false;
		for (i = 0; i < a->u.call.nargs; i++)
			if (!tree_eq(a->u.call.args[i], b->u.call.args[i]))
				return false;
		return true;
	case PQL_NODE_PAREN:
		return tree_eq(a->u.paren.expr, b->u.paren.expr);
	case PQL_NODE_DURATION:
		return a->u.dur.op == b->u.dur.op && tree_eq(a->u.dur.lhs, b->u.dur.lhs) &&
		       tree_eq(a->u.dur.rhs, b->u.dur.rhs);
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	struct pql_node *root = NULL, *again = NULL;
	struct ts_error err;
	struct matcher *m;
	size_t n;
	char *q, *p1;

	if (size > FUZZ_MAX_QUERY)
		size = FUZZ_MAX_QUERY;
	q = malloc(size + 1);
	if (q == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	a = arena_new(0);
	if (a == NULL) {
		free(q);
		return 0;
	}
	if (pql_parse(q, a, &root, &err) != 0) {
		if (err.code == TS_ERR_INVALID && strstr(err.msg, ": parse error: ") == NULL)
			abort();
		goto selector;
	}
	if (root == NULL)
		abort();
	p1 = print_tree(root);
	if (p1 == NULL)
		abort();
	if (pql_parse(p1, a, &again, &err) != 0) {
		fprintf(stderr, "printed form does not parse:\n  in:  %s\n  out: %s\n  err: %s\n", q,
			p1, err.msg);
		abort();
	}
	if (!tree_eq(root, again)) {
		fprintf(stderr, "printed form changes the query:\n  in:  %s\n  out: %s\n", q, p1);
		abort();
	}
	pql_ast_release(again);
	free(p1);
	{
		struct buf pb = BUF_INIT;
		struct pql_node *third = NULL;

		pql_node_pretty_width(root, 0, 12, &pb);
		if (!buf_ok(&pb) || pql_parse(pb.data, a, &third, &err) != 0) {
			fprintf(stderr, "pretty form does not parse:\n%s\n%s\n", pb.data, err.msg);
			abort();
		}
		if (!tree_eq(root, third)) {
			fprintf(stderr, "pretty form changes the query:\n  in: %s\n%s\n", q, pb.data);
			abort();
		}
		pql_ast_release(third);
		buf_release(&pb);
	}
	pql_ast_release(root);
selector:
	if (pql_parse_selector(q, a, &m, &n, &err) == 0)
		pql_matchers_release(m, n);
	arena_free(a);
	free(q);
	return 0;
}
