/*
 * check_promql_parse.c - the PromQL lexer, parser and printer.
 *
 * Golden data under tests/data/promql/:
 *   valid/<name>.promql       must parse; if <name>.formatted exists
 *                             pql_format must produce exactly its text
 *                             (without the final newline)
 *   invalid/<case>/input      must fail with the message in
 *   invalid/<case>/error      (without the final newline)
 *   lists/conformance_exprs.txt  one query a line, each must parse
 * plus hand-written cases for precedence, associativity, matchers,
 * numbers, durations, escapes, positions, functions and limits.
 */
#include <check.h>
#include <dirent.h>
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

/* ---------------------------------------------------------------- helpers */

struct parsed {
	struct arena *a;
	struct pql_node *root;
	struct ts_error err;
	int rc;
};

static void parse(struct parsed *p, const char *q)
{
	p->a = arena_new(0);
	ck_assert_ptr_nonnull(p->a);
	p->root = NULL;
	p->rc = pql_parse(q, p->a, &p->root, &p->err);
}

static void parsed_free(struct parsed *p)
{
	pql_ast_release(p->root);
	arena_free(p->a);
	p->a = NULL;
	p->root = NULL;
}

/* Parse q, which must succeed, and return the root. */
static struct pql_node *must(struct parsed *p, const char *q)
{
	parse(p, q);
	ck_assert_msg(p->rc == 0, "parse of [%s] failed: %s", q, p->err.msg);
	ck_assert_ptr_nonnull(p->root);
	return p->root;
}

/* The error message for q, which must fail. */
static void must_fail(const char *q, const char *msg)
{
	struct parsed p;

	parse(&p, q);
	ck_assert_msg(p.rc != 0, "parse of [%s] succeeded", q);
	ck_assert_ptr_null(p.root);
	ck_assert_str_eq(p.err.msg, msg);
	parsed_free(&p);
}

/* Printed form of q. */
static char *fmt(const char *q)
{
	char *out = NULL;
	struct ts_error err;
	int rc = pql_format(q, &out, &err);

	ck_assert_msg(rc == 0, "format of [%s] failed: %s", q, err.msg);
	return out;
}

/* A compact structural dump: (op lhs rhs), numbers, names. */
static void dump(const struct pql_node *n, struct buf *b)
{
	size_t i;

	switch (n->kind) {
	case PQL_NODE_NUMBER:
		buf_add_float(b, n->u.num.val);
		break;
	case PQL_NODE_STRING:
		buf_printf(b, "\"%s\"", n->u.str.val);
		break;
	case PQL_NODE_VECTOR:
		buf_addstr(b, n->u.vs.name ? n->u.vs.name : "{}");
		break;
	case PQL_NODE_MATRIX:
		dump(n->u.ms.vs, b);
		buf_printf(b, "[%lld]", (long long)n->u.ms.range_ms);
		break;
	case PQL_NODE_SUBQUERY:
		dump(n->u.sq.expr, b);
		buf_printf(b, "[%lld:%lld]", (long long)n->u.sq.range_ms, (long long)n->u.sq.step_ms);
		break;
	case PQL_NODE_UNARY:
		buf_printf(b, "(u%s ", pql_binop_str(n->u.un.op));
		dump(n->u.un.expr, b);
		buf_addch(b, ')');
		break;
	case PQL_NODE_BINARY:
		buf_printf(b, "(%s ", pql_binop_str(n->u.bin.op));
		dump(n->u.bin.lhs, b);
		buf_addch(b, ' ');
		dump(n->u.bin.rhs, b);
		buf_addch(b, ')');
		break;
	case PQL_NODE_AGGREGATE:
		buf_printf(b, "(%s ", pql_aggop_str(n->u.agg.op));
		if (n->u.agg.param) {
			dump(n->u.agg.param, b);
			buf_addch(b, ' ');
		}
		dump(n->u.agg.expr, b);
		buf_addch(b, ')');
		break;
	case PQL_NODE_CALL:
		buf_printf(b, "(%s", n->u.call.func->name);
		for (i = 0; i < n->u.call.nargs; i++) {
			buf_addch(b, ' ');
			dump(n->u.call.args[i], b);
		}
		buf_addch(b, ')');
		break;
	case PQL_NODE_PAREN:
		buf_addstr(b, "(p ");
		dump(n->u.paren.expr, b);
		buf_addch(b, ')');
		break;
	case PQL_NODE_DURATION:
		buf_addstr(b, "<dur>");
		break;
	}
}

static void check_tree(const char *q, const char *want)
{
	struct parsed p;
	struct buf b = BUF_INIT;

	dump(must(&p, q), &b);
	ck_assert_msg(strcmp(b.data, want) == 0, "[%s]: got %s want %s", q, b.data, want);
	buf_release(&b);
	parsed_free(&p);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (b.data == NULL)
		buf_addstr(&b, "");
	if (len)
		*len = b.len;
	return buf_detach(&b, NULL);
}

/* Drop one trailing newline. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '\n')
		s[n - 1] = '\0';
}

/* ---------------------------------------------------------------- golden data */

START_TEST(test_promql_parse_golden_valid)
{
	char dir[1024], path[1400];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/data/promql/valid", TEST_SRCDIR);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char *q, *want, *got, *again;
		struct parsed p;

		if (len < 8 || strcmp(e->d_name + len - 7, ".promql") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		q = read_file(path, NULL);
		ck_assert_ptr_nonnull(q);
		parse(&p, q);
		ck_assert_msg(p.rc == 0, "%s: %s", e->d_name, p.err.msg);
		parsed_free(&p);
		got = fmt(q);
		/* the printed form parses and prints the same again */
		again = fmt(got);
		ck_assert_msg(strcmp(got, again) == 0, "%s: not stable: [%s] then [%s]", e->d_name,
			      got, again);
		snprintf(path, sizeof(path), "%s/%.*s.formatted", dir, (int)(len - 7), e->d_name);
		want = read_file(path, NULL);
		if (want != NULL) {
			chomp(want);
			ck_assert_msg(strcmp(got, want) == 0, "%s: printed [%s] want [%s]", e->d_name,
				      got, want);
			free(want);
		}
		free(again);
		free(got);
		free(q);
		n++;
	}
	closedir(d);
	ck_assert_int_gt(n, 100);
}
END_TEST

START_TEST(test_promql_parse_golden_invalid)
{
	char dir[1024], path[1400];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/data/promql/invalid", TEST_SRCDIR);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char *q, *want;
		struct parsed p;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/input", dir, e->d_name);
		q = read_file(path, NULL);
		ck_assert_msg(q != NULL, "%s: no input", e->d_name);
		snprintf(path, sizeof(path), "%s/%s/error", dir, e->d_name);
		want = read_file(path, NULL);
		ck_assert_msg(want != NULL, "%s: no error file", e->d_name);
		chomp(want);
		parse(&p, q);
		ck_assert_msg(p.rc != 0, "%s: [%s] parsed", e->d_name, q);
		ck_assert_msg(strcmp(p.err.msg, want) == 0, "%s: got [%s] want [%s]", e->d_name,
			      p.err.msg, want);
		ck_assert_int_eq(p.err.code, TS_ERR_INVALID);
		parsed_free(&p);
		free(q);
		free(want);
		n++;
	}
	closedir(d);
	ck_assert_int_gt(n, 100);
}
END_TEST

/* ---------------------------------------------------------------- structure */

START_TEST(test_promql_parse_precedence)
{
	check_tree("1 + 2 * 3 ^ 2 ^ 2", "(+ 1 (* 2 (^ 3 (^ 2 2))))");
	check_tree("1 * 2 + 3", "(+ (* 1 2) 3)");
	check_tree("a or b and c unless d", "(or a (unless (and b c) d))");
	check_tree("a + b > bool c * d", "(> (+ a b) (* c d))");
	check_tree("a == b or c != d and e", "(or (== a b) (and (!= c d) e))");
	check_tree("a atan2 b + c", "(+ (atan2 a b) c)");
	check_tree("a / b % c", "(% (/ a b) c)");
	check_tree("-1^2", "(u- (^ 1 2))");
	check_tree("-1*2", "(* -1 2)");
	check_tree("-a ^ b", "(u- (^ a b))");
	check_tree("-a * b", "(* (u- a) b)");
	check_tree("+1 + -2 * 1", "(+ 1 (* -2 1))");
	check_tree("2 ^ -1 ^ 2", "(^ 2 (u- (^ 1 2)))");
	check_tree("- - 1", "1");
	check_tree("a + b offset 1m", "(+ a b)");
	check_tree("a ^ b @ 10", "(^ a b)");
	check_tree("h </ 1 + 2", "(+ (</ h 1) 2)");
}
END_TEST

START_TEST(test_promql_parse_associativity)
{
	check_tree("1 - 2 - 3", "(- (- 1 2) 3)");
	check_tree("1 / 2 / 3", "(/ (/ 1 2) 3)");
	check_tree("2 ^ 3 ^ 2", "(^ 2 (^ 3 2))");
	check_tree("a or b or c", "(or (or a b) c)");
	check_tree("(1 - 2) - 3", "(- (p (- 1 2)) 3)");
	check_tree("1 - (2 - 3)", "(- 1 (p (- 2 3)))");
}
END_TEST

START_TEST(test_promql_parse_matchers)
{
	struct parsed p;
	struct pql_node *n = must(&p, "foo{a=\"1\", b!=\"2\", c=~\"3.*\", d!~'4|5', \"e.f\"=`6`}");
	const struct pql_vector_sel *vs = &n->u.vs;

	ck_assert_int_eq(n->kind, PQL_NODE_VECTOR);
	ck_assert_str_eq(vs->name, "foo");
	ck_assert_uint_eq(vs->nmatchers, 6);
	ck_assert_str_eq(vs->matchers[0].name, "__name__");
	ck_assert_str_eq(vs->matchers[0].value, "foo");
	ck_assert_int_eq(vs->matchers[0].type, MATCHER_EQ);
	ck_assert_str_eq(vs->matchers[1].name, "a");
	ck_assert_int_eq(vs->matchers[1].type, MATCHER_EQ);
	ck_assert_int_eq(vs->matchers[2].type, MATCHER_NEQ);
	ck_assert_int_eq(vs->matchers[3].type, MATCHER_RE);
	ck_assert(matcher_matches(&vs->matchers[3], "3abc"));
	ck_assert(!matcher_matches(&vs->matchers[3], "x3"));
	ck_assert_int_eq(vs->matchers[4].type, MATCHER_NRE);
	ck_assert(!matcher_matches(&vs->matchers[4], "5"));
	ck_assert_str_eq(vs->matchers[5].name, "e.f");
	ck_assert_str_eq(vs->matchers[5].value, "6");
	ck_assert_uint_eq(n->pos.start, 0);
	ck_assert_uint_eq(n->pos.end, strlen("foo{a=\"1\", b!=\"2\", c=~\"3.*\", d!~'4|5', \"e.f\"=`6`}"));
	parsed_free(&p);

	/* a lone quoted name inside braces is a __name__ matcher, no name */
	n = must(&p, "{\"my.metric\", x=\"y\"}");
	ck_assert_ptr_null(n->u.vs.name);
	ck_assert_uint_eq(n->u.vs.nmatchers, 2);
	ck_assert_str_eq(n->u.vs.matchers[0].name, "__name__");
	ck_assert_str_eq(n->u.vs.matchers[0].value, "my.metric");
	parsed_free(&p);

	/* keywords are plain label names inside braces */
	n = must(&p, "x{by=\"1\", offset=\"2\", sum=\"3\"}");
	ck_assert_uint_eq(n->u.vs.nmatchers, 4);
	parsed_free(&p);

	/* a bad regex is a parse error */
	parse(&p, "foo{a=~\"(\"}");
	ck_assert_int_ne(p.rc, 0);
	ck_assert(strncmp(p.err.msg, "1:5: parse error: ", 18) == 0);
	parsed_free(&p);
}
END_TEST

START_TEST(test_promql_parse_numbers)
{
	static const struct {
		const char *q;
		double v;
	} cases[] = {
		{ "1", 1 }, { ".5", 0.5 }, { "5.", 5 }, { "123.4567", 123.4567 }, { "5e-3", 0.005 },
		{ "5E3", 5000 }, { "0xc", 12 }, { "0XFF", 255 }, { "0755", 493 }, { "08", 8 },
		{ "-0755", -493 }, { "+5.5e-3", 0.0055 }, { "1_000", 1000 }, { "0x_1f", 31 },
		{ "Inf", INFINITY }, { "+inf", INFINITY }, { "-INF", -INFINITY },
		{ "99999999999999999999", 1e20 }, { "5m", 300 }, { "1h30m", 5400 },
		{ "2d", 172800 }, { "1w", 604800 }, { "1y", 31536000 }, { "150ms", 0.15 },
	};
	size_t i;
	struct parsed p;
	struct pql_node *n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = must(&p, cases[i].q);
		ck_assert_msg(n->kind == PQL_NODE_NUMBER, "%s", cases[i].q);
		ck_assert_msg(n->u.num.val == cases[i].v, "%s: %g", cases[i].q, n->u.num.val);
		ck_assert_int_eq(n->type, PQL_SCALAR);
		parsed_free(&p);
	}
	n = must(&p, "NaN");
	ck_assert(isnan(n->u.num.val));
	parsed_free(&p);
	n = must(&p, "1h30m");
	ck_assert(n->u.num.duration);
	parsed_free(&p);
	must_fail("1.5m", "1:1: parse error: unknown unit \".\" in duration \"1.5m\"");
	must_fail("0x1p3", "1:1: parse error: bad number or duration syntax: \"0x1\"");
	must_fail("1e", "1:1: parse error: bad number or duration syntax: \"1e\"");
}
END_TEST

START_TEST(test_promql_parse_strings)
{
	struct parsed p;
	struct pql_node *n;

	n = must(&p, "\"a\\tb\\x41\\101\\u00e9\\U0001F600\\\\\\\"\"");
	ck_assert_int_eq(n->kind, PQL_NODE_STRING);
	ck_assert_str_eq(n->u.str.val, "a\tbAA\xc3\xa9\xf0\x9f\x98\x80\\\"");
	parsed_free(&p);
	n = must(&p, "'it\\'s'");
	ck_assert_str_eq(n->u.str.val, "it's");
	parsed_free(&p);
	n = must(&p, "`raw\\n\"x\"`");
	ck_assert_str_eq(n->u.str.val, "raw\\n\"x\"");
	parsed_free(&p);
	/* a NUL escape keeps its length */
	n = must(&p, "\"a\\x00b\"");
	ck_assert_uint_eq(n->u.str.len, 3);
	parsed_free(&p);
	must_fail("'a\\\"'", "1:1: parse error: unknown escape sequence U+0022 '\"'");
	must_fail("\"\\u12\"", "1:1: parse error: illegal character U+0022 '\"' in escape sequence");
	must_fail("\"\\ud800\"", "1:1: parse error: escape sequence is an invalid Unicode code point");
	must_fail("\"abc", "1:1: parse error: unterminated quoted string");
	must_fail("\"a\nb\"", "1:1: parse error: unterminated quoted string");
}
END_TEST

START_TEST(test_promql_parse_durations)
{
	struct parsed p;
	struct pql_node *n;
	struct ts_error err;

	n = must(&p, "foo[5m] offset -1h30m");
	ck_assert_int_eq(n->kind, PQL_NODE_MATRIX);
	ck_assert_int_eq(n->u.ms.range_ms, 300000);
	ck_assert_ptr_null(n->u.ms.range_expr);
	ck_assert_int_eq(n->u.ms.vs->u.vs.offset_ms, -5400000);
	parsed_free(&p);

	n = must(&p, "foo[1m+30s:10s*3] offset (2*3s)");
	ck_assert_int_eq(n->kind, PQL_NODE_SUBQUERY);
	ck_assert_int_eq(n->u.sq.range_ms, 90000);
	ck_assert_int_eq(n->u.sq.step_ms, 30000);
	ck_assert_int_eq(n->u.sq.offset_ms, 6000);
	ck_assert_ptr_nonnull(n->u.sq.range_expr);
	ck_assert(pql_duration_is_const(n->u.sq.range_expr));
	parsed_free(&p);

	/* step() and range() are resolved per query */
	n = must(&p, "count_over_time(foo[step()+1ms])");
	ck_assert(!pql_duration_is_const(n->u.call.args[0]->u.ms.range_expr));
	ck_assert_int_eq(pql_ast_resolve_durations(n, 10000, 0, &err), 0);
	ck_assert_int_eq(n->u.call.args[0]->u.ms.range_ms, 10001);
	ck_assert_int_eq(pql_ast_resolve_durations(n, 0, 0, &err), 0);
	ck_assert_int_eq(n->u.call.args[0]->u.ms.range_ms, 1);
	parsed_free(&p);

	n = must(&p, "foo offset -min_of(step(), 1s) + 8000");
	ck_assert_int_eq(n->kind, PQL_NODE_BINARY);
	ck_assert_int_eq(pql_ast_resolve_durations(n, 5000, 0, &err), 0);
	ck_assert_int_eq(n->u.bin.lhs->u.vs.offset_ms, -1000);
	parsed_free(&p);

	n = must(&p, "foo offset max_of(range(), 2s)");
	ck_assert_int_eq(pql_ast_resolve_durations(n, 0, 10000, &err), 0);
	ck_assert_int_eq(n->u.vs.offset_ms, 10000);
	parsed_free(&p);

	/* a range that resolves to <= 0 fails at resolution */
	n = must(&p, "foo[step()-10s]");
	ck_assert_int_eq(pql_ast_resolve_durations(n, 5000, 0, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "duration must be greater than 0");
	parsed_free(&p);

	/* offset binds a bare literal: (foo offset 2) ^ 2 */
	check_tree("foo offset 2 ^ 2", "(^ foo 2)");
	check_tree("foo offset -2 * 2", "(* foo 2)");
	n = must(&p, "foo offset (-2 * 2)");
	ck_assert_int_eq(n->u.vs.offset_ms, -4000);
	parsed_free(&p);
	n = must(&p, "foo @ 3.3335");
	ck_assert_int_eq(n->u.vs.at, PQL_AT_TIME);
	ck_assert_int_eq(n->u.vs.at_ms, 3334);
	parsed_free(&p);
	must_fail("foo[0s]", "1:5: parse error: duration must be greater than 0");
	must_fail("foo[5m:0s]", "1:8: parse error: duration must be greater than 0");
}
END_TEST

START_TEST(test_promql_parse_positions)
{
	struct parsed p;
	struct pql_node *n;
	int line, col;

	n = must(&p, "sum by (a) (rate(foo{x=\"y\"}[5m] offset 1m))");
	ck_assert_uint_eq(n->pos.start, 0);
	ck_assert_uint_eq(n->pos.end, 43);
	n = n->u.agg.expr;
	ck_assert_uint_eq(n->pos.start, 12);
	ck_assert_uint_eq(n->pos.end, 42);
	n = n->u.call.args[0];
	ck_assert_uint_eq(n->pos.start, 17);
	ck_assert_uint_eq(n->pos.end, 41);
	ck_assert_uint_eq(n->u.ms.vs->pos.start, 17);
	ck_assert_uint_eq(n->u.ms.vs->pos.end, 27);
	parsed_free(&p);

	n = must(&p, " -foo");
	ck_assert_uint_eq(n->pos.start, 1);
	ck_assert_uint_eq(n->u.un.expr->pos.start, 2);
	parsed_free(&p);

	/* line/column count bytes after the last newline, 1-based */
	pql_pos_linecol("ab\ncd\nef", 7, &line, &col);
	ck_assert_int_eq(line, 3);
	ck_assert_int_eq(col, 2);
	must_fail("sum(\n  foo\n) + bar baz", "3:9: parse error: unexpected identifier \"baz\"");
	parse(&p, "foo +\n  *");
	ck_assert_int_eq(p.err.line, 2);
	ck_assert_int_eq(p.err.col, 3);
	ck_assert_uint_eq(p.err.pos, 8);
	parsed_free(&p);
}
END_TEST

START_TEST(test_promql_parse_binary_modifiers)
{
	struct parsed p;
	struct pql_node *n;

	n = must(&p, "a * on(x, \"y.z\") group_left(w) b");
	ck_assert_int_eq(n->u.bin.vm.card, PQL_CARD_MANY_TO_ONE);
	ck_assert(n->u.bin.vm.on);
	ck_assert_uint_eq(n->u.bin.vm.nlabels, 2);
	ck_assert_str_eq(n->u.bin.vm.labels[1], "y.z");
	ck_assert_uint_eq(n->u.bin.vm.ninclude, 1);
	ck_assert_str_eq(n->u.bin.vm.include[0], "w");
	parsed_free(&p);

	n = must(&p, "a > bool ignoring(x) group_right b");
	ck_assert(n->u.bin.return_bool);
	ck_assert(!n->u.bin.vm.on);
	ck_assert_int_eq(n->u.bin.vm.card, PQL_CARD_ONE_TO_MANY);
	parsed_free(&p);

	n = must(&p, "a and b");
	ck_assert_int_eq(n->u.bin.vm.card, PQL_CARD_MANY_TO_MANY);
	parsed_free(&p);

	n = must(&p, "a + fill_left(1) fill_right(-Inf) b");
	ck_assert(n->u.bin.vm.has_fill_left && n->u.bin.vm.fill_left == 1);
	ck_assert(n->u.bin.vm.has_fill_right && isinf(n->u.bin.vm.fill_right));
	parsed_free(&p);

	/* `fill` without parentheses is a metric name */
	n = must(&p, "a + fill");
	ck_assert_str_eq(n->u.bin.rhs->u.vs.name, "fill");
	parsed_free(&p);

	/* scalar operands drop the matching */
	n = must(&p, "1 + on() 2");
	ck_assert_int_eq(n->type, PQL_SCALAR);
	ck_assert(!n->u.bin.vm.on);
	parsed_free(&p);

	must_fail("1 + fill(0) foo", "1:1: parse error: filling in missing series only allowed "
		  "between instant vectors");
	must_fail("a and fill(0) b", "1:1: parse error: filling in missing series not allowed for set "
		  "operators");
	must_fail("a > on(x) group_left(x) b", "1:3: parse error: label \"x\" must not occur in ON and "
		  "GROUP clause at once");
}
END_TEST

START_TEST(test_promql_parse_aggregations)
{
	struct parsed p;
	struct pql_node *n;

	n = must(&p, "topk by (a) (3, foo)");
	ck_assert_int_eq(n->u.agg.op, PQL_AGG_TOPK);
	ck_assert(n->u.agg.by);
	ck_assert_int_eq(n->u.agg.param->kind, PQL_NODE_NUMBER);
	parsed_free(&p);
	n = must(&p, "count_values without (a) (\"v\", foo)");
	ck_assert(n->u.agg.without);
	ck_assert_int_eq(n->u.agg.param->kind, PQL_NODE_STRING);
	parsed_free(&p);
	n = must(&p, "limit_ratio(0.5, foo) + limitk(2, bar)");
	ck_assert_int_eq(n->u.bin.lhs->u.agg.op, PQL_AGG_LIMIT_RATIO);
	ck_assert_int_eq(n->u.bin.rhs->u.agg.op, PQL_AGG_LIMITK);
	parsed_free(&p);
	n = must(&p, "quantile(0.9, foo) by (le)");
	ck_assert_uint_eq(n->u.agg.ngrouping, 1);
	parsed_free(&p);
	must_fail("sum(foo, bar)", "1:1: parse error: wrong number of arguments for aggregate "
		  "expression provided, expected 1, got 2");
	must_fail("sum(foo[5m])", "1:5: parse error: expected type instant vector in aggregation "
		  "expression, got range vector");
	must_fail("sum by (\"\") (foo)", "1:9: parse error: invalid label name for grouping: \"\"");
}
END_TEST

START_TEST(test_promql_parse_functions)
{
	size_t n, i;
	const struct pql_func *t = pql_func_table(&n);
	struct parsed p;
	struct pql_node *node;
	struct pql_parse_opts o = { 0 };

	ck_assert_uint_gt(n, 80);
	for (i = 0; i < n; i++) {
		if (i > 0)
			ck_assert_msg(strcmp(t[i - 1].name, t[i].name) < 0, "%s", t[i].name);
		ck_assert_ptr_eq(pql_func_lookup(t[i].name, strlen(t[i].name)), &t[i]);
	}
	ck_assert_ptr_null(pql_func_lookup("nope", 4));
	ck_assert_ptr_null(pql_func_lookup("rat", 3));
	ck_assert_int_eq(pql_func_lookup("rate", 4)->id, PQL_FN_RATE);
	ck_assert(pql_func_lookup("mad_over_time", 13)->experimental);
	ck_assert_int_eq(pql_func_arg_type(pql_func_lookup("label_join", 10), 7), PQL_STRING);
	ck_assert_int_eq(pql_func_arg_type(pql_func_lookup("round", 5), 1), PQL_SCALAR);

	node = must(&p, "label_join(up, \"a\", \",\", \"b\", \"c\", \"d\")");
	ck_assert_uint_eq(node->u.call.nargs, 6);
	parsed_free(&p);
	node = must(&p, "day_of_week()");
	ck_assert_uint_eq(node->u.call.nargs, 0);
	parsed_free(&p);
	node = must(&p, "step() + start() - end() * range()");
	ck_assert_int_eq(node->type, PQL_SCALAR);
	parsed_free(&p);
	node = must(&p, "min_of(3, 5)");
	ck_assert_int_eq(node->u.call.func->id, PQL_FN_MIN_OF);
	parsed_free(&p);

	must_fail("label_replace(up, \"a\")", "1:1: parse error: expected 5 argument(s) in call to "
		  "\"label_replace\", got 2");
	must_fail("label_join(up)", "1:1: parse error: expected at least 3 argument(s) in call to "
		  "\"label_join\", got 1");
	must_fail("round(up, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to "
		  "\"round\", got 3");
	must_fail("abs(\"x\")", "1:5: parse error: expected type instant vector in call to function "
		  "\"abs\", got string");
	/* which functions take anchored/smoothed ranges is an evaluation
	 * error, as in Prometheus: it parses */
	node = must(&p, "deriv(foo[1m] anchored)");
	ck_assert_int_eq(node->u.call.func->id, PQL_FN_DERIV);
	parsed_free(&p);

	/* experimental functions can be switched off */
	o.no_experimental = true;
	p.a = arena_new(0);
	p.rc = pql_parse_opts("mad_over_time(x[1m])", &o, p.a, &p.root, &p.err);
	ck_assert_int_ne(p.rc, 0);
	ck_assert_str_eq(p.err.msg, "1:1: parse error: function \"mad_over_time\" is not enabled");
	arena_free(p.a);
	p.a = arena_new(0);
	p.rc = pql_parse_opts("start()", &o, p.a, &p.root, &p.err);
	ck_assert_str_eq(p.err.msg, "1:6: parse error: unexpected \"(\"");
	arena_free(p.a);
}
END_TEST

START_TEST(test_promql_parse_selector_api)
{
	struct arena *a = arena_new(0);
	struct matcher *m;
	size_t n;
	struct ts_error err;

	ck_assert_int_eq(pql_parse_selector("up{job=~\"a|b\", x!=\"\"}", a, &m, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(m[0].name, "__name__");
	ck_assert_str_eq(m[0].value, "up");
	ck_assert(matcher_matches(&m[1], "b"));
	pql_matchers_release(m, n);

	ck_assert_int_eq(pql_parse_selector("{\"a.b\"}", a, &m, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	pql_matchers_release(m, n);

	ck_assert_int_eq(pql_parse_selector("{}", a, &m, &n, &err), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(pql_parse_selector("up[5m]", a, &m, &n, &err), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "1:3: parse error: unexpected \"[\"");
	ck_assert_int_eq(pql_parse_selector("rate(up)", a, &m, &n, &err), TS_ERR_INVALID);
	ck_assert_int_eq(pql_parse_selector("", a, &m, &n, &err), TS_ERR_INVALID);
	arena_free(a);
}
END_TEST

START_TEST(test_promql_parse_depth_limit)
{
	struct buf b = BUF_INIT;
	struct parsed p;
	int i;

	for (i = 0; i < 5000; i++)
		buf_addch(&b, '(');
	buf_addch(&b, '1');
	for (i = 0; i < 5000; i++)
		buf_addch(&b, ')');
	parse(&p, b.data);
	ck_assert_int_eq(p.rc, TS_ERR_LIMIT);
	ck_assert(strstr(p.err.msg, "nested too deeply") != NULL);
	parsed_free(&p);
	buf_release(&b);

	/* a long flat chain is deep as a tree too */
	buf_addstr(&b, "a");
	for (i = 0; i < 3000; i++)
		buf_addstr(&b, " + a");
	parse(&p, b.data);
	ck_assert_int_eq(p.rc, TS_ERR_LIMIT);
	parsed_free(&p);
	buf_release(&b);

	/* but a hundred levels are fine */
	for (i = 0; i < 100; i++)
		buf_addstr(&b, "abs(");
	buf_addstr(&b, "x");
	for (i = 0; i < 100; i++)
		buf_addch(&b, ')');
	must(&p, b.data);
	parsed_free(&p);
	buf_release(&b);
}
END_TEST

START_TEST(test_promql_parse_nomem)
{
	struct arena *a = arena_new(256);
	struct pql_node *root = NULL;
	struct ts_error err;
	int rc;

	rc = pql_parse("sum by (a, b, c) (rate(foo{x=\"1\", y=~\"2|3\"}[5m])) / "
		       "on(a) group_left count(bar)", a, &root, &err);
	ck_assert_int_eq(rc, TS_ERR_NOMEM);
	ck_assert_ptr_null(root);
	arena_free(a);
}
END_TEST

START_TEST(test_promql_parse_lexer_tokens)
{
	struct pql_lexer l;
	struct pql_token t;
	const char *q = "sum:rate{a=~\"x\"} offset 5m # c\n>= bool </ @";
	static const enum pql_tok want[] = { PQL_T_METRIC_IDENTIFIER, PQL_T_LEFT_BRACE,
		PQL_T_IDENTIFIER, PQL_T_EQL_REGEX, PQL_T_STRING, PQL_T_RIGHT_BRACE, PQL_T_OFFSET,
		PQL_T_DURATION, PQL_T_GTE, PQL_T_BOOL, PQL_T_TRIM_UPPER, PQL_T_AT, PQL_T_EOF };
	size_t i;
	char desc[64];

	pql_lexer_init(&l, q, strlen(q));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		pql_lexer_next(&l, &t);
		ck_assert_msg(t.type == want[i], "token %zu: %d", i, t.type);
	}
	t.type = PQL_T_AGGS_START + 1;
	t.pos = 0;
	t.len = 3;
	pql_tok_describe("avg", &t, desc, sizeof(desc));
	ck_assert_str_eq(desc, "<aggr:avg>");
	t.type = PQL_T_STRING;
	t.len = 14;
	pql_tok_describe("\"abcdefghijkl\"", &t, desc, sizeof(desc));
	ck_assert_str_eq(desc, "string \"\\\"abcdefghi\"...");
}
END_TEST

START_TEST(test_promql_parse_pretty)
{
	/* Prometheus's Pretty() with a 10-column line, from its own tests */
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "sum(foo)",
		  "sum(foo)" },
		{ "sum by() (task:errors:rate10s{job=\"s\"})",
		  "sum(\n  task:errors:rate10s{job=\"s\"}\n)" },
		{ "sum without(job,foo) (task:errors:rate10s{job=\"s\"})",
		  "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)" },
		{ "sum (task:errors:rate10s{job=\"s\"}) by(job,foo)",
		  "sum by (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)" },
		{ "topk(10, ask:errors:rate10s{job=\"s\"})",
		  "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)" },
		{ "sum by(job,foo) # Comment 1.\n(sum by(job,foo) ( # Comment 2.\ntask:errors:rate10s{job=\"s\"}))",
		  "sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)" },
		{ "a+b",
		  "a + b" },
		{ "a == bool 1",
		  "  a\n== bool\n  1" },
		{ "a + ignoring(job) b",
		  "  a\n+ ignoring (job)\n  b" },
		{ "foo_1 + foo_2 + foo_3",
		  "    foo_1\n  +\n    foo_2\n+\n  foo_3" },
		{ "foo + baar + foo_3",
		  "  foo + baar\n+\n  foo_3" },
		{ "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right foo_4",
		  "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    foo_3\n+ on (instance) group_right ()\n  foo_4" },
		{ "rate(long_vector_selector[10m:1m] @ start() offset 1m)",
		  "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)" },
		{ "histogram_quantile(0.9, rate(foo[1m]))",
		  "histogram_quantile(\n  0.9,\n  rate(\n    foo[1m]\n  )\n)" },
		{ "max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
		  "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n  )[1m:] @ start() offset 1m\n)" },
		{ "label_replace(up{job=\"api-server\",service=\"a:c\"}, \"foo\", \"$1\", \"service\", \"(.*):.*\")",
		  "label_replace(\n  up{job=\"api-server\",service=\"a:c\"},\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)" },
		{ "((_foo_long_))",
		  "(\n  (\n    _foo_long_\n  )\n)" },
		{ "(((foo_long)))",
		  "(\n  (\n    (foo_long)\n  )\n)" },
		{ "vector_selector @ start()",
		  "vector_selector @ start()" },
		{ "(foo_long + bar_long + bar_2_long)",
		  "(\n      foo_long\n    +\n      bar_long\n  +\n    bar_2_long\n)" },
		{ "(1111 + 2222)",
		  "(\n    1111\n  +\n    2222\n)" },
		{ "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)",
		  "  (\n        node_timex_offset_seconds\n      >\n        0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      >=\n        0\n  )\nor\n  (\n        node_timex_offset_seconds\n      <\n        -0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      <=\n        0\n  )" },
		{ "-vector_selector",
		  "-vector_selector" },
		{ "(-vector_selector)",
		  "(\n  -vector_selector\n)" },
		{ "-histogram_quantile(0.9, -rate(foo[1m] @ start()))",
		  "-histogram_quantile(\n  0.9,\n  -rate(\n    foo[1m] @ start()\n  )\n)" },
		{ "rate(foo[-5m+35m])",
		  "rate(\n  foo[-5m + 35m]\n)" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed p;
		struct buf b = BUF_INIT;

		pql_node_pretty_width(must(&p, cases[i].in), 0, 10, &b);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "[%s]:\n%s\nwant\n%s", cases[i].in,
			      b.data, cases[i].out);
		buf_release(&b);
		parsed_free(&p);
	}
}
END_TEST

START_TEST(test_promql_parse_feature_flags)
{
	static const struct {
		struct pql_parse_opts o;
		const char *q, *msg;
	} cases[] = {
		{ { .no_duration_expr = true }, "foo[5m+1m]",
		  "1:5: parse error: experimental duration expression is not enabled" },
		{ { .no_extended_range = true }, "rate(foo[5m] anchored)",
		  "1:6: parse error: anchored modifier is experimental and not enabled" },
		{ { .no_fill = true }, "a + fill(0) b",
		  "1:3: parse error: binop fill modifiers are experimental and not enabled" },
		{ { .no_experimental = true }, "limitk(1, foo)",
		  "1:1: parse error: limitk() is experimental and must be enabled with "
		  "--enable-feature=promql-experimental-functions" },
		{ { .max_depth = 3 }, "abs(abs(abs(abs(x))))",
		  "1:13: parse error: query is nested too deeply (more than 3 levels)" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena *a = arena_new(0);
		struct pql_node *root = NULL;
		struct ts_error err;
		int rc = pql_parse_opts(cases[i].q, &cases[i].o, a, &root, &err);

		ck_assert_msg(rc != 0, "[%s] parsed", cases[i].q);
		ck_assert_str_eq(err.msg, cases[i].msg);
		ck_assert_ptr_null(root);
		/* and with the defaults it parses */
		ck_assert_int_eq(pql_parse(cases[i].q, a, &root, &err), 0);
		pql_ast_release(root);
		arena_free(a);
	}
}
END_TEST

START_TEST(test_promql_parse_conformance_list)
{
	char path[1200], *data, *line, *save = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/tests/data/promql/lists/conformance_exprs.txt", TEST_SRCDIR);
	data = read_file(path, NULL);
	ck_assert_ptr_nonnull(data);
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		struct parsed p;
		char *once, *twice;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		parse(&p, line);
		ck_assert_msg(p.rc == 0, "[%s]: %s", line, p.err.msg);
		parsed_free(&p);
		once = fmt(line);
		twice = fmt(once);
		ck_assert_msg(strcmp(once, twice) == 0, "[%s] prints [%s] then [%s]", line, once, twice);
		free(once);
		free(twice);
		n++;
	}
	free(data);
	ck_assert_int_gt(n, 1500);
}
END_TEST

Suite *promql_parse_suite(void);

Suite *promql_parse_suite(void)
{
	Suite *s = suite_create("promql_parse");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_promql_parse_golden_valid);
	tcase_add_test(tc, test_promql_parse_golden_invalid);
	tcase_add_test(tc, test_promql_parse_conformance_list);
	tcase_add_test(tc, test_promql_parse_precedence);
	tcase_add_test(tc, test_promql_parse_associativity);
	tcase_add_test(tc, test_promql_parse_matchers);
	tcase_add_test(tc, test_promql_parse_numbers);
	tcase_add_test(tc, test_promql_parse_strings);
	tcase_add_test(tc, test_promql_parse_durations);
	tcase_add_test(tc, test_promql_parse_positions);
	tcase_add_test(tc, test_promql_parse_binary_modifiers);
	tcase_add_test(tc, test_promql_parse_aggregations);
	tcase_add_test(tc, test_promql_parse_functions);
	tcase_add_test(tc, test_promql_parse_selector_api);
	tcase_add_test(tc, test_promql_parse_depth_limit);
	tcase_add_test(tc, test_promql_parse_nomem);
	tcase_add_test(tc, test_promql_parse_lexer_tokens);
	tcase_add_test(tc, test_promql_parse_pretty);
	tcase_add_test(tc, test_promql_parse_feature_flags);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(promql_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
