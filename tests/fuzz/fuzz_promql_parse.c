/*
 * fuzz_promql_parse.c - PromQL parser and printer hardening.
 *
 * The input is taken as a query (a copy with a terminating NUL, cut at
 * the first NUL byte). Whatever it is, parsing must return without
 * crashing; a failure must come with a "<line>:<col>: parse error: "
 * message. When it parses, printing it (Prometheus's canonical form)
 * must give text that parses again and prints the same; the multi-line
 * format_query form (pretty, narrow lines to force splitting) must parse
 * back to the same tree print too. The series selector entry point must
 * never crash on the same input either.
 */
#include "tests/fuzz/fuzz.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a;
	struct pql_node *root = NULL, *again = NULL;
	struct ts_error err;
	struct matcher *m;
	size_t n;
	char *q, *p1, *p2;

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
	p2 = print_tree(again);
	if (p2 == NULL || strcmp(p1, p2) != 0) {
		fprintf(stderr, "printing is not stable:\n  %s\n  %s\n", p1, p2 ? p2 : "(null)");
		abort();
	}
	free(p2);
	{
		struct buf pb = BUF_INIT;
		struct pql_node *third = NULL;
		char *p3;

		pql_node_pretty_width(root, 0, 12, &pb);
		if (!buf_ok(&pb) || pql_parse(pb.data, a, &third, &err) != 0) {
			fprintf(stderr, "pretty form does not parse:\n%s\n%s\n", pb.data, err.msg);
			abort();
		}
		p3 = print_tree(third);
		if (p3 == NULL || strcmp(p1, p3) != 0) {
			fprintf(stderr, "pretty form changes the query:\n  %s\n  %s\n", p1,
				p3 ? p3 : "(null)");
			abort();
		}
		free(p3);
		pql_ast_release(third);
		buf_release(&pb);
	}
	free(p1);
	pql_ast_release(again);
	pql_ast_release(root);
selector:
	if (pql_parse_selector(q, a, &m, &n, &err) == 0)
		pql_matchers_release(m, n);
	arena_free(a);
	free(q);
	return 0;
}
