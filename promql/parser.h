/*
 * parser.h - PromQL text to syntax tree (ast.h), with Prometheus 3.x's
 * grammar, type checks and error messages.
 *
 * Errors are reported the way Prometheus prints its first parse error:
 * err->msg is "<line>:<col>: parse error: <text>" (e.g.
 * "1:15: parse error: unexpected <op:+>"), err->pos/line/col hold the
 * position, err->code is TS_ERR_INVALID (TS_ERR_NOMEM when the arena ran
 * out, TS_ERR_LIMIT when the nesting depth limit was hit).
 */
#ifndef VARVE_PROMQL_PARSER_H
#define VARVE_PROMQL_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "promql/ast.h"
#include "tsdb/matcher.h"
#include "util/error.h"

struct arena;

/* Deepest syntax tree the parser accepts (nesting of parentheses, calls,
 * operands of chained operators...); deeper input is TS_ERR_LIMIT. */
#define PQL_MAX_DEPTH 1000

/* Parser settings; a zeroed struct means the defaults (all features on). */
struct pql_parse_opts {
	bool no_experimental;  /* reject experimental functions and limitk/limit_ratio */
	bool no_duration_expr; /* reject duration expressions ([5m+1m]) */
	bool no_extended_range;/* reject `anchored` / `smoothed` */
	bool no_fill;          /* reject fill()/fill_left()/fill_right() */
	size_t max_depth;      /* nesting limit, 0: PQL_MAX_DEPTH */
};

/*
 * Parse a PromQL expression. Nodes and strings are allocated in a; on
 * success *out is the root (call pql_ast_release(*out) before freeing the
 * arena). On failure returns a negative enum ts_err with err filled, *out
 * is NULL and nothing needs releasing. input is NUL-terminated.
 */
int pql_parse(const char *input, struct arena *a, struct pql_node **out,
	      struct ts_error *err);

/* pql_parse with settings (opts may be NULL). */
int pql_parse_opts(const char *input, const struct pql_parse_opts *opts, struct arena *a,
		   struct pql_node **out, struct ts_error *err);

/*
 * Parse a series selector as used by match[] in the HTTP API
 * (`foo{a="b"}`, `{__name__=~"x.*"}`, `{"my.metric"}`): no range, offset
 * or @. On success *out is an array of *n matchers allocated in a (the
 * metric name, if any, first as __name__="..."); release their regexes
 * with pql_matchers_release(*out, *n). Errors as pql_parse.
 */
int pql_parse_selector(const char *input, struct arena *a, struct matcher **out, size_t *n,
		       struct ts_error *err);

/* matcher_release on each of m[0..n). */
void pql_matchers_release(struct matcher *m, size_t n);

#endif
