/*
 * fuzz_promql_eval.c - the PromQL evaluator on random expressions over a
 * small fixed data set (a memory store built once per process).
 *
 * Input forms:
 *   - first byte 0x00: the rest drives a small grammar-based generator
 *     (every function of the table with arguments of its declared types,
 *     aggregations, binary operators with matching modifiers, range
 *     selectors, subqueries, offset and @), so random bytes mostly give
 *     valid queries;
 *   - anything else: the input itself is the query (cut at the first NUL).
 *
 * Each query is evaluated as an instant query and as a range query with
 * a sample limit and a deadline (so huge subqueries end quickly). Nothing
 * may crash or leak; results must keep the engine's invariants: every
 * range-query point lies on the step grid inside [start, end], points of
 * a series increase in time, and every instant-vector sample carries the
 * evaluation time. A violated invariant aborts. FUZZ_VERBOSE=1 in the
 * environment prints each query and what became of it.
 *
 * The data (times in ms, 1000 s of 15 s samples from t = 1 ms):
 *   fz_requests_total{job, instance}   counters, one with a reset
 *   fz_temp{room}                      gauges; one with a gap and a
 *                                      stale marker, one holding NaN/Inf
 *   fz_latency_bucket{le}              classic histogram buckets
 *   fz_info{version}                   constant 1
 */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "promql/ast.h"
#include "promql/engine.h"
#include "tsdb/db.h"
#include "util/buf.h"

#define FUZZ_MAX_QUERY 2048
#define DATA_END_MS 1000000
#define STALE_BITS 0x7ff0000000000002ULL

static struct db *db;

static void add_series(struct appender *a, const char *const *lv, size_t n, int kind)
{
	struct label l[4];
	struct labels ls = { l, n / 2 };
	uint64_t ref = 0, bits = STALE_BITS;
	double v = 0, stale;
	int64_t t;
	size_t i;

	memcpy(&stale, &bits, sizeof(stale));
	for (i = 0; i < n / 2; i++) {
		l[i].name = lv[2 * i];
		l[i].value = lv[2 * i + 1];
	}
	for (t = 1; t < DATA_END_MS; t += 15000) {
		switch (kind) {
		case 0: /* counter */
			v += (double)(t % 7) + 1;
			break;
		case 1: /* counter with a reset */
			v = t > 500000 && t < 530000 ? 2 : v + 3;
			break;
		case 2: /* gauge with a gap and a stale marker */
			if (t > 300000 && t < 420000)
				continue;
			v = t == 600001 ? stale : 20 + (double)((t / 15000) % 9) * 0.5;
			break;
		case 3: /* gauge with odd values */
			v = (t / 15000) % 11 == 3 ? NAN : (t / 15000) % 13 == 5 ? INFINITY : -1.5;
			break;
		default: /* histogram bucket kind-10 */
			v += (double)(kind - 9) * (double)(1 + (t / 15000) % 3);
			break;
		}
		if (appender_add(a, &ls, &ref, t, v))
			abort();
	}
}

static void setup(void)
{
	static const char *const les[] = { "0.1", "0.5", "1", "+Inf" };
	struct ts_error err;
	struct appender *a;
	size_t i;

	db = db_open(NULL, NULL, &err);
	if (db == NULL)
		abort();
	a = db_appender(db);
	if (a == NULL)
		abort();
	{
		const char *s1[] = { "__name__", "fz_requests_total", "instance", "a", "job", "x" };
		const char *s2[] = { "__name__", "fz_requests_total", "instance", "b", "job", "x" };
		const char *s3[] = { "__name__", "fz_requests_total", "instance", "a", "job", "y" };
		const char *g1[] = { "__name__", "fz_temp", "room", "hall" };
		const char *g2[] = { "__name__", "fz_temp", "room", "attic" };
		const char *g3[] = { "__name__", "fz_temp", "room", "odd" };
		const char *in[] = { "__name__", "fz_info", "version", "1.2" };

		add_series(a, s1, 6, 0);
		add_series(a, s2, 6, 1);
		add_series(a, s3, 6, 0);
		add_series(a, g1, 4, 2);
		add_series(a, g2, 4, 3);
		add_series(a, g3, 4, 3);
		add_series(a, in, 4, 0);
	}
	for (i = 0; i < 4; i++) {
		const char *h[] = { "__name__", "fz_latency_bucket", "le", les[i] };

		add_series(a, h, 4, 10 + (int)i);
	}
	if (appender_commit(a))
		abort();
}

/* ------------------------------------------------------------ generator */

struct gen {
	const uint8_t *p; /* next input byte */
	size_t n;         /* bytes left */
	struct buf *b;    /* query text */
};

static unsigned take(struct gen *g, unsigned mod)
{
	unsigned v;

	if (g->n == 0)
		return 0;
	v = *g->p++;
	g->n--;
	return mod ? v % mod : v;
}

static const char *const metrics[] = {
	"fz_requests_total", "fz_temp", "fz_latency_bucket", "fz_info", "fz_nothing",
};
static const char *const labels_[] = { "job", "instance", "room", "le", "version", "__name__" };
static const char *const values[] = { "x", "a", "hall", ".*", "a|b", "", "0.5", "+Inf" };
static const char *const durs[] = { "1m", "5m", "30s", "2m", "15s", "1h", "90s" };
static const char *const nums[] = { "0", "1", "2", "0.5", "-1", "NaN", "Inf", "3", "1e3", "0.25" };
static const char *const binops[] = {
	"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=",
	"and", "or", "unless",
};
static const char *const aggs[] = {
	"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar",
	"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio",
};

static void gen_expr(struct gen *g, enum pql_type want, int depth);

static void gen_selector(struct gen *g)
{
	unsigned k = take(g, 4), i;

	buf_addstr(g->b, metrics[take(g, 5)]);
	if (k) {
		buf_addch(g->b, '{');
		for (i = 0; i < k - 1 && i < 2; i++) {
			static const char *const ops[] = { "=", "!=", "=~", "!~" };

			if (i)
				buf_addch(g->b, ',');
			buf_printf(g->b, "%s%s\"%s\"", labels_[take(g, 6)], ops[take(g, 4)],
				   values[take(g, 8)]);
		}
		buf_addch(g->b, '}');
	}
}

static void gen_modifiers(struct gen *g)
{
	unsigned m = take(g, 8);

	if (m == 1)
		buf_printf(g->b, " offset %s", durs[take(g, 7)]);
	else if (m == 2)
		buf_printf(g->b, " offset -%s", durs[take(g, 7)]);
	else if (m == 3)
		buf_printf(g->b, " @ %u", take(g, 0) * 4);
	else if (m == 4)
		buf_addstr(g->b, take(g, 2) ? " @ start()" : " @ end()");
}

static void gen_matrix(struct gen *g, int depth)
{
	if (depth > 0 && take(g, 4) == 0) {
		buf_addch(g->b, '(');
		gen_expr(g, PQL_VECTOR, depth - 1);
		buf_printf(g->b, ")[%s:%s]", durs[take(g, 7)], take(g, 2) ? durs[take(g, 7)] : "");
	} else {
		gen_selector(g);
		buf_printf(g->b, "[%s]", durs[take(g, 7)]);
	}
	gen_modifiers(g);
}

static void gen_call(struct gen *g, enum pql_type want, int depth)
{
	const struct pql_func *tab, *f = NULL;
	size_t n, i, nargs, tries;

	tab = pql_func_table(&n);
	for (tries = 0; tries < 8 && f == NULL; tries++) {
		const struct pql_func *c = &tab[take(g, 0) % n];

		if (c->ret == want)
			f = c;
	}
	if (f == NULL) {
		gen_expr(g, want, 0);
		return;
	}
	nargs = f->nargs;
	if (f->variadic != 0 && nargs > 0 && take(g, 2))
		nargs--; /* leave out the optional last argument */
	else if (f->variadic < 0 && take(g, 2))
		nargs++;
	buf_printf(g->b, "%s(", f->name);
	for (i = 0; i < nargs; i++) {
		enum pql_type t = pql_func_arg_type(f, i);

		if (i)
			buf_addch(g->b, ',');
		if (t == PQL_STRING)
			buf_printf(g->b, "\"%s\"", take(g, 3) == 0 ? "(.*)" : labels_[take(g, 6)]);
		else
			gen_expr(g, t, depth - 1);
	}
	buf_addch(g->b, ')');
}

static void gen_expr(struct gen *g, enum pql_type want, int depth)
{
	unsigned c;

	if (want == PQL_MATRIX) {
		gen_matrix(g, depth);
		return;
	}
	if (want == PQL_STRING) {
		buf_printf(g->b, "\"%s\"", values[take(g, 8)]);
		return;
	}
	if (want == PQL_SCALAR) {
		c = depth > 0 ? take(g, 5) : 0;
		if (c == 1) {
			buf_addstr(g->b, "scalar(");
			gen_expr(g, PQL_VECTOR, depth - 1);
			buf_addch(g->b, ')');
		} else if (c == 2) {
			gen_call(g, PQL_SCALAR, depth);
		} else if (c == 3) {
			gen_expr(g, PQL_SCALAR, depth - 1);
			buf_printf(g->b, " %s ", binops[take(g, 7)]);
			gen_expr(g, PQL_SCALAR, depth - 1);
		} else {
			buf_addstr(g->b, nums[take(g, 10)]);
		}
		return;
	}
	c = depth > 0 ? take(g, 7) : 0;
	switch (c) {
	case 1:
	case 2:
		gen_call(g, PQL_VECTOR, depth);
		return;
	case 3: {
		unsigned op = take(g, 14);

		buf_printf(g->b, "%s", aggs[op]);
		if (take(g, 2))
			buf_printf(g->b, " %s (%s)", take(g, 2) ? "by" : "without", labels_[take(g, 6)]);
		buf_addch(g->b, '(');
		if (op >= 8) {
			if (op == 11)
				buf_printf(g->b, "\"%s\"", labels_[take(g, 5)]);
			else
				gen_expr(g, PQL_SCALAR, depth - 1);
			buf_addch(g->b, ',');
		}
		gen_expr(g, PQL_VECTOR, depth - 1);
		buf_addch(g->b, ')');
		return;
	}
	case 4:
	case 5: {
		unsigned op = take(g, 16), m = take(g, 6);
		enum pql_type lt = take(g, 4) ? PQL_VECTOR : PQL_SCALAR;
		enum pql_type rt = lt == PQL_SCALAR || take(g, 4) ? PQL_VECTOR : PQL_SCALAR;

		buf_addch(g->b, '(');
		gen_expr(g, lt, depth - 1);
		buf_printf(g->b, ") %s ", binops[op]);
		if (op >= 7 && op <= 12 && take(g, 2))
			buf_addstr(g->b, "bool ");
		if (lt == PQL_VECTOR && rt == PQL_VECTOR) {
			if (m == 1 || m == 2)
				buf_printf(g->b, "%s (%s) ", m == 1 ? "on" : "ignoring",
					   labels_[take(g, 5)]);
			if (m == 2 && op < 13 && take(g, 2))
				buf_printf(g->b, "group_%s (%s) ", take(g, 2) ? "left" : "right",
					   labels_[take(g, 5)]);
		}
		buf_addch(g->b, '(');
		gen_expr(g, rt, depth - 1);
		buf_addch(g->b, ')');
		return;
	}
	case 6:
		buf_addch(g->b, '-');
		gen_expr(g, PQL_VECTOR, depth - 1);
		return;
	default:
		gen_selector(g);
		gen_modifiers(g);
		return;
	}
}

/* ------------------------------------------------------------ checks */

static void check_result(const struct pql_result *r, bool range, int64_t t0, int64_t t1,
			 int64_t step)
{
	size_t i, k;

	if (range) {
		if (r->type != PQL_MATRIX)
			abort();
		for (i = 0; i < r->u.matrix.n; i++) {
			const struct pql_series *s = &r->u.matrix.s[i];

			for (k = 0; k < s->n; k++) {
				int64_t t = s->pts[k].t;

				if (t < t0 || t > t1 || (t - t0) % step != 0 ||
				    (k > 0 && t <= s->pts[k - 1].t))
					abort();
			}
		}
		return;
	}
	if (r->type == PQL_VECTOR)
		for (i = 0; i < r->u.vector.n; i++)
			if (r->u.vector.v[i].t != t0)
				abort();
}

static void run(const char *q)
{
	struct pql_opts o = { .max_samples = 200000, .timeout_ms = 2000 };
	struct pql_result r;
	struct ts_error err;
	static const int64_t times[] = { 0, 123456, 600000, 1000000, 1500000 };
	int64_t t = times[strlen(q) % 5];

	bool verbose = getenv("FUZZ_VERBOSE") != NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = pql_exec_instant(db, q, t, &o, &r, &err);
	if (rc == 0)
		check_result(&r, false, t, t, 1);
	if (verbose)
		fprintf(stderr, "%s\n  instant: %s (%zu)\n", q, rc ? err.msg : pql_type_name(r.type),
			r.type == PQL_VECTOR ? r.u.vector.n : r.type == PQL_MATRIX ? r.u.matrix.n : 1);
	pql_result_release(&r);
	memset(&r, 0, sizeof(r));
	rc = pql_exec_range(db, q, 60000, 960000, 30000, &o, &r, &err);
	if (rc == 0)
		check_result(&r, true, 60000, 960000, 30000);
	if (verbose)
		fprintf(stderr, "  range: %s (%zu)\n", rc ? err.msg : pql_type_name(r.type),
			r.type == PQL_MATRIX ? r.u.matrix.n : 0);
	pql_result_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;

	if (db == NULL)
		setup();
	if (size > 0 && data[0] == 0) {
		struct gen g = { data + 1, size - 1, &b };

		gen_expr(&g, take(&g, 8) ? PQL_VECTOR : PQL_SCALAR, 4);
	} else {
		size_t n = size < FUZZ_MAX_QUERY ? size : FUZZ_MAX_QUERY;
		const uint8_t *z = memchr(data, 0, n);

		buf_add(&b, data, z ? (size_t)(z - data) : n);
	}
	if (buf_ok(&b) && b.data)
		run(b.data);
	else if (buf_ok(&b))
		run("");
	buf_release(&b);
	return 0;
}
