/*
 * ast_json.h - a PromQL syntax tree as the JSON document that
 * Prometheus's /api/v1/parse_query returns (the tree view of its UI).
 *
 * Every node becomes an object with a "type" member naming the node kind
 * (aggregation, binaryExpr, call, matrixSelector, subquery, numberLiteral,
 * parenExpr, stringLiteral, unaryExpr, vectorSelector) and members per
 * kind; keys are written in byte order, as Go's encoder sorts map keys.
 * The layout of each object is described in ast_json.c.
 */
#ifndef VARVE_PROMQL_AST_JSON_H
#define VARVE_PROMQL_AST_JSON_H

#include "promql/ast.h"
#include "util/buf.h"
#include "util/error.h"

/*
 * Append the JSON form of the tree n (NULL prints `null`) to b; check
 * buf_ok(b) afterwards. The tree is only read.
 */
void pql_node_json(const struct pql_node *n, struct buf *b);

/*
 * Parse query and render its tree as pql_node_json does. On success *out
 * is a NUL-terminated string the caller frees with free(). On failure
 * returns a negative enum ts_err with err filled as pql_parse does, and
 * *out is NULL.
 */
int pql_parse_json(const char *query, char **out, struct ts_error *err);

#endif
