/*
 * functions.c - PromQL functions over instant vectors, scalars and range
 * vectors (float samples only).
 *
 * Range-vector functions take the window (ref - range, ref] of every
 * series at every step (rng_window) and fold it; instant-vector
 * functions map values step by step. Apart from last_over_time,
 * first_over_time, sort*, label_* and vector(), every function marks its
 * output for __name__ removal at the end of the query (delayed name
 * removal).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "promql/engine_int.h"
#include "util/buf.h"

static int eval_scalar(struct ev *ev, struct pql_node *n, double **out)
{
	struct val v;
	int rc = ev_eval(ev, n, &v);
	if (rc)
		return rc;
	*out = v.sc;
	return 0;
}

/* A copy of every series of in with empty value arrays. */
static struct vser *like(struct ev *ev, const struct val *in, bool drop_name)
{
	struct vser *o = vser_alloc(ev, in->n);
	if (!o)
		return NULL;
	for (size_t k = 0; k < in->n; k++) {
		o[k].ls = in->s[k].ls;
		o[k].drop_name = drop_name || in->s[k].drop_name;
	}
	return o;
}

static void set_vector(struct val *out, struct vser *s, size_t n)
{
	memset(out, 0, sizeof(*out));
	out->type = PQL_VECTOR;
	out->s = s;
	out->n = n;
}

/* ------------------------------------------------------------ math */

static double sgn(double v)
{
	return v < 0 ? -1 : v > 0 ? 1 : v;
}

static double rad(double v)
{
	return v * M_PI / 180;
}

static double deg(double v)
{
	return v * 180 / M_PI;
}

static double (*simple_fn(enum pql_func_id id))(double)
{
	switch (id) {
	case PQL_FN_ABS: return fabs;
	case PQL_FN_CEIL: return ceil;
	case PQL_FN_FLOOR: return floor;
	case PQL_FN_EXP: return exp;
	case PQL_FN_SQRT: return sqrt;
	case PQL_FN_LN: return log;
	case PQL_FN_LOG2: return log2;
	case PQL_FN_LOG10: return log10;
	case PQL_FN_SIN: return sin;
	case PQL_FN_COS: return cos;
	case PQL_FN_TAN: return tan;
	case PQL_FN_ASIN: return asin;
	case PQL_FN_ACOS: return acos;
	case PQL_FN_ATAN: return atan;
	case PQL_FN_SINH: return sinh;
	case PQL_FN_COSH: return cosh;
	case PQL_FN_TANH: return tanh;
	case PQL_FN_ASINH: return asinh;
	case PQL_FN_ACOSH: return acosh;
	case PQL_FN_ATANH: return atanh;
	case PQL_FN_SGN: return sgn;
	case PQL_FN_RAD: return rad;
	case PQL_FN_DEG: return deg;
	default: return NULL;
	}
}

static int fn_simple(struct ev *ev, const struct pql_call *c, double (*f)(double), struct val *out)
{
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	struct vser *o = like(ev, &in, true);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t k = 0; k < in.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (in.s[k].ok[i]) {
				o[k].v[i] = f(in.s[k].v[i]);
				o[k].ok[i] = 1;
			}
	set_vector(out, o, in.n);
	return 0;
}

static int fn_clamp(struct ev *ev, const struct pql_call *c, struct val *out)
{
	enum pql_func_id id = c->func->id;
	struct val in;
	double *lo = NULL, *hi = NULL;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	if (id == PQL_FN_CLAMP) {
		if ((rc = eval_scalar(ev, c->args[1], &lo)) || (rc = eval_scalar(ev, c->args[2], &hi)))
			return rc;
	} else if (id == PQL_FN_CLAMP_MIN) {
		if ((rc = eval_scalar(ev, c->args[1], &lo)))
			return rc;
	} else if ((rc = eval_scalar(ev, c->args[1], &hi))) {
		return rc;
	}
	struct vser *o = like(ev, &in, true);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t i = 0; i < ev->nsteps; i++) {
		double mn = lo ? lo[i] : -INFINITY, mx = hi ? hi[i] : INFINITY;
		if (mx < mn)
			continue;
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i]) {
				o[k].v[i] = fmax(mn, fmin(mx, in.s[k].v[i]));
				o[k].ok[i] = 1;
			}
	}
	set_vector(out, o, in.n);
	return 0;
}

static int fn_round(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct val in;
	double *to = NULL;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	if (c->nargs > 1 && (rc = eval_scalar(ev, c->args[1], &to)))
		return rc;
	struct vser *o = like(ev, &in, true);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t i = 0; i < ev->nsteps; i++) {
		double inv = 1.0 / (to ? to[i] : 1.0);
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i]) {
				o[k].v[i] = floor(in.s[k].v[i] * inv + 0.5) / inv;
				o[k].ok[i] = 1;
			}
	}
	set_vector(out, o, in.n);
	return 0;
}

/* ------------------------------------------------------------ dates */

static double date_part(enum pql_func_id id, double secs)
{
	time_t t = (time_t)(int64_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return NAN;
	switch (id) {
	case PQL_FN_DAY_OF_MONTH: return tm.tm_mday;
	case PQL_FN_DAY_OF_WEEK: return tm.tm_wday;
	case PQL_FN_DAY_OF_YEAR: return tm.tm_yday + 1;
	case PQL_FN_HOUR: return tm.tm_hour;
	case PQL_FN_MINUTE: return tm.tm_min;
	case PQL_FN_MONTH: return tm.tm_mon + 1;
	case PQL_FN_YEAR: return (double)tm.tm_year + 1900;
	case PQL_FN_DAYS_IN_MONTH: {
		static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		int y = tm.tm_year + 1900;
		int d = dm[tm.tm_mon];
		if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
			d = 29;
		return d;
	}
	default:
		return NAN;
	}
}

static int fn_date(struct ev *ev, const struct pql_call *c, struct val *out)
{
	enum pql_func_id id = c->func->id;
	if (c->nargs == 0) {
		struct vser *o = vser_alloc(ev, 1);
		if (!o)
			return ev_nomem(ev->q);
		for (size_t i = 0; i < ev->nsteps; i++) {
			int64_t ts = ev_ts(ev, i);
			int64_t secs = ts / 1000;
			o->v[i] = date_part(id, (double)secs);
			o->ok[i] = 1;
		}
		set_vector(out, o, 1);
		return 0;
	}
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	struct vser *o = like(ev, &in, true);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t k = 0; k < in.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (in.s[k].ok[i]) {
				o[k].v[i] = date_part(id, in.s[k].v[i]);
				o[k].ok[i] = 1;
			}
	set_vector(out, o, in.n);
	return 0;
}

/* ------------------------------------------------------------ misc vector functions */

static int fn_timestamp(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct pql_node *arg = pql_unparen(c->args[0]);
	struct val in;
	int rc;
	if (arg->kind == PQL_NODE_VECTOR) {
		if ((rc = ev_eval_timestamp_sel(ev, arg, &in)))
			return rc;
		for (size_t k = 0; k < in.n; k++)
			in.s[k].drop_name = true;
		*out = in;
		return 0;
	}
	if ((rc = ev_eval(ev, c->args[0], &in)))
		return rc;
	struct vser *o = like(ev, &in, true);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t k = 0; k < in.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (in.s[k].ok[i]) {
				o[k].v[i] = (double)ev_ts(ev, i) / 1000.0;
				o[k].ok[i] = 1;
			}
	set_vector(out, o, in.n);
	return 0;
}

static int fn_vector(struct ev *ev, const struct pql_call *c, struct val *out)
{
	double *sc;
	int rc = eval_scalar(ev, c->args[0], &sc);
	if (rc)
		return rc;
	struct vser *o = vser_alloc(ev, 1);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t i = 0; i < ev->nsteps; i++) {
		o->v[i] = sc[i];
		o->ok[i] = 1;
	}
	set_vector(out, o, 1);
	return 0;
}

static int fn_scalar(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	double *sc = scalar_alloc(ev);
	if (!sc)
		return ev_nomem(ev->q);
	for (size_t i = 0; i < ev->nsteps; i++) {
		size_t cnt = 0;
		double v = NAN;
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i]) {
				cnt++;
				v = in.s[k].v[i];
			}
		sc[i] = cnt == 1 ? v : NAN;
	}
	memset(out, 0, sizeof(*out));
	out->type = PQL_SCALAR;
	out->sc = sc;
	return 0;
}

/* sort/sort_desc ordering: ascending (or descending) with NaN last. */
static bool sort_before(double a, double b, bool desc)
{
	if (isnan(a))
		return false;
	if (isnan(b))
		return true;
	return desc ? a > b : a < b;
}

static int fn_sort(struct ev *ev, struct pql_node *n, const struct pql_call *c, struct val *out)
{
	bool desc = c->func->id == PQL_FN_SORT_DESC;
	int rc = ev_eval(ev, c->args[0], out);
	if (rc)
		return rc;
	if (ev->q->is_range) {
		ev_warn(ev->q, n, "sort is ineffective for range queries since results are always ordered by labels");
		return 0;
	}
	if (ev->nsteps != 1)
		return 0;
	/* keep only present series, then a stable insertion sort */
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++)
		if (out->s[i].ok[0])
			out->s[k++] = out->s[i];
	out->n = k;
	for (size_t i = 1; i < out->n; i++) {
		struct vser t = out->s[i];
		size_t j = i;
		while (j > 0 && sort_before(t.v[0], out->s[j - 1].v[0], desc)) {
			out->s[j] = out->s[j - 1];
			j--;
		}
		out->s[j] = t;
	}
	return 0;
}

/* Labels a absent()/absent_over_time() result carries. */
static struct labels absent_labels(struct qctx *q, struct pql_node *arg)
{
	struct labels out = { NULL, 0 };
	arg = pql_unparen(arg);
	if (arg->kind == PQL_NODE_MATRIX)
		arg = arg->u.ms.vs;
	if (arg->kind != PQL_NODE_VECTOR)
		return out;
	const struct pql_vector_sel *vs = &arg->u.vs;
	const char **seen = arena_alloc(q->a, (vs->nmatchers + 1) * sizeof(char *));
	size_t nseen = 0;
	if (!seen)
		return out;
	for (size_t i = 0; i < vs->nmatchers; i++) {
		const struct matcher *m = &vs->matchers[i];
		if (strcmp(m->name, LABEL_NAME) == 0)
			continue;
		if (m->type == MATCHER_EQ && !lbl_in(m->name, seen, nseen)) {
			out = lbl_set(q, &out, m->name, m->value);
			seen[nseen++] = m->name;
		} else {
			out = lbl_set(q, &out, m->name, NULL);
		}
	}
	return out;
}

static int fn_absent(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	struct vser *o = vser_alloc(ev, 1);
	if (!o)
		return ev_nomem(ev->q);
	o->ls = absent_labels(ev->q, c->args[0]);
	o->drop_name = true;
	for (size_t i = 0; i < ev->nsteps; i++) {
		bool any = false;
		for (size_t k = 0; k < in.n && !any; k++)
			any = in.s[k].ok[i];
		if (!any) {
			o->v[i] = 1;
			o->ok[i] = 1;
		}
	}
	set_vector(out, o, 1);
	return 0;
}

/* ------------------------------------------------------------ label_replace / label_join */

/* Go regexp.Expand of template with the match in src (ovector). */
static char *expand(pcre2_code *re, const char *tmpl, const char *src,
		    PCRE2_SIZE *ov, int ngroups)
{
	size_t cap = strlen(tmpl) + strlen(src) * 4 + 16, n = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
#define PUT(p, len)                                                                 \
	do {                                                                        \
		size_t l_ = (len);                                                  \
		if (n + l_ + 1 > cap) {                                             \
			cap = (n + l_ + 1) * 2;                                     \
			char *t_ = realloc(out, cap);                               \
			if (!t_) {                                                  \
				free(out);                                          \
				return NULL;                                        \
			}                                                           \
			out = t_;                                                   \
		}                                                                   \
		memcpy(out + n, (p), l_);                                           \
		n += l_;                                                            \
	} while (0)
	for (const char *p = tmpl; *p;) {
		if (*p != '$') {
			PUT(p, 1);
			p++;
			continue;
		}
		if (p[1] == '$') {
			PUT("$", 1);
			p += 2;
			continue;
		}
		const char *s = p + 1;
		bool brace = false;
		if (*s == '{') {
			brace = true;
			s++;
		}
		const char *e = s;
		while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
		       *e == '_')
			e++;
		if (e == s || (brace && *e != '}')) {
			PUT("$", 1);
			p++;
			continue;
		}
		char name[256];
		size_t nl = (size_t)(e - s) < sizeof(name) - 1 ? (size_t)(e - s) : sizeof(name) - 1;
		memcpy(name, s, nl);
		name[nl] = '\0';
		p = brace ? e + 1 : e;
		long num = -1;
		bool digits = true;
		for (size_t i = 0; i < nl; i++)
			if (name[i] < '0' || name[i] > '9')
				digits = false;
		if (digits && nl < 9)
			num = atol(name);
		if (!digits) {
			int gn = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
			if (gn > 0)
				num = gn;
		}
		if (num >= 0 && num < ngroups && ov[2 * num] != PCRE2_UNSET)
			PUT(src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
	}
#undef PUT
	out[n] = '\0';
	return out;
}

static bool label_name_ok(const char *s)
{
	return *s && utf8_valid(s, strlen(s));
}

static int fn_label_replace(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	const char *dst = pql_unparen(c->args[1])->u.str.val;
	const char *repl = pql_unparen(c->args[2])->u.str.val;
	const char *src = pql_unparen(c->args[3])->u.str.val;
	const char *restr = pql_unparen(c->args[4])->u.str.val;
	char *pat = arena_printf(q->a, "^(?s:%s)$", restr);
	int ec;
	PCRE2_SIZE eo;
	if (!pat)
		return ev_nomem(q);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
				       &ec, &eo, NULL);
	if (!re)
		return ev_fail(q, TS_ERR_EXEC, "invalid regular expression in label_replace(): %s", restr);
	if (!label_name_ok(dst)) {
		pcre2_code_free(re);
		return ev_fail(q, TS_ERR_EXEC, "invalid destination label name in label_replace(): %s", dst);
	}
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc) {
		pcre2_code_free(re);
		return rc;
	}
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	struct vbuild b;
	vb_init(&b, ev);
	for (size_t k = 0; k < in.n && !rc; k++) {
		struct labels ls = in.s[k].ls;
		bool drop = in.s[k].drop_name;
		const char *sv = labels_get(&ls, src);
		if (!sv)
			sv = "";
		int m = pcre2_match(re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, md, NULL);
		if (m > 0) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
			char *res = expand(re, repl, sv, ov, m);
			if (!res) {
				rc = ev_nomem(q);
				break;
			}
			const char *val = arena_strdup(q->a, res);
			free(res);
			ls = lbl_set(q, &ls, dst, val);
			if (strcmp(dst, LABEL_NAME) == 0)
				drop = false;
		}
		long idx = -1;
		for (size_t i = 0; i < ev->nsteps && !rc; i++)
			if (in.s[k].ok[i])
				rc = vb_add_cached(&b, &idx, &ls, drop, i, in.s[k].v[i]);
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	vb_finish(&b, out);
	return rc;
}

static int fn_label_join(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	const char *dst = pql_unparen(c->args[1])->u.str.val;
	const char *sep = pql_unparen(c->args[2])->u.str.val;
	for (size_t i = 3; i < c->nargs; i++) {
		const char *s = pql_unparen(c->args[i])->u.str.val;
		if (!label_name_ok(s))
			return ev_fail(q, TS_ERR_EXEC, "invalid source label name in label_join(): %s", s);
	}
	if (!label_name_ok(dst))
		return ev_fail(q, TS_ERR_EXEC, "invalid destination label name in label_join(): %s", dst);
	struct val in;
	int rc = ev_eval(ev, c->args[0], &in);
	if (rc)
		return rc;
	struct vbuild b;
	vb_init(&b, ev);
	for (size_t k = 0; k < in.n && !rc; k++) {
		struct buf_s {
			char *p;
			size_t n, cap;
		} sb = { NULL, 0, 0 };
		for (size_t i = 3; i < c->nargs; i++) {
			const char *v = labels_get(&in.s[k].ls, pql_unparen(c->args[i])->u.str.val);
			const char *parts[2] = { i > 3 ? sep : "", v ? v : "" };
			for (int j = 0; j < 2; j++) {
				size_t l = strlen(parts[j]);
				if (sb.n + l + 1 > sb.cap) {
					sb.cap = (sb.n + l + 1) * 2;
					char *t = realloc(sb.p, sb.cap);
					if (!t) {
						free(sb.p);
						return ev_nomem(q);
					}
					sb.p = t;
				}
				memcpy(sb.p + sb.n, parts[j], l);
				sb.n += l;
			}
		}
		const char *val = arena_strndup(q->a, sb.p ? sb.p : "", sb.n);
		free(sb.p);
		struct labels ls = lbl_set(q, &in.s[k].ls, dst, val);
		bool drop = strcmp(dst, LABEL_NAME) == 0 ? false : in.s[k].drop_name;
		long idx = -1;
		for (size_t i = 0; i < ev->nsteps && !rc; i++)
			if (in.s[k].ok[i])
				rc = vb_add_cached(&b, &idx, &ls, drop, i, in.s[k].v[i]);
	}
	vb_finish(&b, out);
	return rc;
}

/* ------------------------------------------------------------ histogram_quantile (classic) */

struct bucket {
	double upper; /* le */
	double count; /* cumulative count */
};

static int cmp_bucket(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->upper, y = ((const struct bucket *)b)->upper;
	return x < y ? -1 : x > y;
}

static double bucket_quantile(double q, struct bucket *b, size_t n, bool *forced)
{
	*forced = false;
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(b, n, sizeof(*b), cmp_bucket);
	if (!isinf(b[n - 1].upper) || b[n - 1].upper < 0)
		return NAN;
	/* coalesce equal bounds */
	size_t k = 0;
	for (size_t i = 1; i < n; i++) {
		if (b[i].upper == b[k].upper)
			b[k].count += b[i].count;
		else
			b[++k] = b[i];
	}
	n = k + 1;
	/* ignore tiny relative differences, then force monotonicity */
	double prev = b[0].count;
	for (size_t i = 1; i < n; i++) {
		double cur = b[i].count;
		if (cur == prev)
			continue;
		double sum = fabs(prev) + fabs(cur), d = fabs(prev - cur);
		bool tiny = (prev == 0 || cur == 0 || sum < 2.2250738585072014e-308)
				    ? d < 1e-12 * 2.2250738585072014e-308
				    : d / fmin(sum, 1.7976931348623157e308) < 1e-12;
		if (tiny) {
			b[i].count = prev;
			continue;
		}
		if (cur < prev) {
			b[i].count = prev;
			*forced = true;
			continue;
		}
		prev = cur;
	}
	if (n < 2)
		return NAN;
	double obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	double rank = q * obs;
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (b[m].count >= rank)
			hi = m;
		else
			lo = m + 1;
	}
	size_t i = lo;
	if (i == n - 1)
		return b[n - 2].upper;
	if (i == 0 && b[0].upper <= 0)
		return b[0].upper;
	double start = 0, end = b[i].upper, count = b[i].count;
	if (i > 0) {
		start = b[i - 1].upper;
		count -= b[i - 1].count;
		rank -= b[i - 1].count;
	}
	return start + (end - start) * (rank / count);
}

/*
 * Share of a bucket (bl, bu] below x: linear inside a finite bucket; an
 * infinite bucket puts its observations at its finite edge.
 */
static double frac_in(double bl, double bu, double x)
{
	if (isinf(bl))
		return 1;
	if (isinf(bu))
		return 0;
	return (x - bl) / (bu - bl);
}

/* Fraction of the observations in (lower, upper] of classic buckets. */
static double bucket_fraction(double lower, double upper, struct bucket *b, size_t n)
{
	if (n == 0 || isnan(lower) || isnan(upper))
		return NAN;
	qsort(b, n, sizeof(*b), cmp_bucket);
	if (!isinf(b[n - 1].upper) || b[n - 1].upper < 0)
		return NAN;
	size_t k = 0;
	for (size_t i = 1; i < n; i++) {
		if (b[i].upper == b[k].upper)
			b[k].count += b[i].count;
		else
			b[++k] = b[i];
	}
	n = k + 1;
	double mx = b[0].count;
	for (size_t i = 1; i < n; i++) {
		if (b[i].count < mx)
			b[i].count = mx;
		else
			mx = b[i].count;
	}
	double total = b[n - 1].count;
	if (total == 0)
		return NAN;
	if (lower >= upper)
		return 0;
	double rank = 0, lo_rank = 0, up_rank = 0;
	bool lo_set = false, up_set = false;
	for (size_t i = 0; i < n; i++) {
		double bl = i == 0 ? (b[0].upper > 0 ? 0 : -INFINITY) : b[i - 1].upper;
		double bu = b[i].upper;
		double cnt = b[i].count - (i ? b[i - 1].count : 0);
		if (!lo_set && bl >= lower) {
			lo_rank = rank;
			lo_set = true;
		}
		if (!up_set && bl >= upper) {
			up_rank = rank;
			up_set = true;
		}
		if (lo_set && up_set)
			break;
		if (!lo_set && bl < lower && bu > lower) {
			lo_rank = rank + cnt * frac_in(bl, bu, lower);
			lo_set = true;
		}
		if (!up_set && bl < upper && bu > upper) {
			up_rank = rank + cnt * frac_in(bl, bu, upper);
			up_set = true;
		}
		if (lo_set && up_set)
			break;
		rank += cnt;
	}
	if (!lo_set || lo_rank > total)
		lo_rank = total;
	if (!up_set || up_rank > total)
		up_rank = total;
	return (up_rank - lo_rank) / total;
}

static bool parse_le(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

static int fn_histogram_quantile(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	double *qs, *upper = NULL;
	struct val in;
	int rc;
	static const char *const le[] = { "le" };
	bool frac = c->func->id == PQL_FN_HISTOGRAM_FRACTION;
	struct pql_node *varg = c->args[frac ? 2 : 1];
	if ((rc = eval_scalar(ev, c->args[0], &qs)) ||
	    (frac && (rc = eval_scalar(ev, c->args[1], &upper))) || (rc = ev_eval(ev, varg, &in)))
		return rc;
	/* group series by labels without le */
	struct vbuild groups;
	vb_init(&groups, ev);
	size_t *gi = arena_alloc(q->a, (in.n ? in.n : 1) * sizeof(size_t));
	double *ub = arena_alloc(q->a, (in.n ? in.n : 1) * sizeof(double));
	bool *valid = arena_alloc(q->a, (in.n ? in.n : 1) * sizeof(bool));
	if (!gi || !ub || !valid)
		return ev_nomem(q);
	for (size_t k = 0; k < in.n; k++) {
		const char *lv = labels_get(&in.s[k].ls, "le");
		valid[k] = parse_le(lv, &ub[k]);
		if (!valid[k])
			continue;
		struct labels gl = lbl_del(q, &in.s[k].ls, le, 1);
		struct vser *g = vb_series(&groups, &gl, true);
		if (!g) {
			free(groups.tab);
			return ev_nomem(q);
		}
		gi[k] = (size_t)(g - groups.s);
	}
	size_t ng = groups.n;
	struct labels *gls = arena_alloc(q->a, (ng ? ng : 1) * sizeof(struct labels));
	struct bucket *bk = arena_alloc(q->a, (in.n ? in.n : 1) * sizeof(struct bucket));
	size_t *cnt = arena_alloc(q->a, (ng ? ng : 1) * sizeof(size_t));
	size_t *off = arena_alloc(q->a, (ng + 1) * sizeof(size_t));
	struct bucket *tmp = arena_alloc(q->a, (in.n ? in.n : 1) * sizeof(struct bucket));
	if (!gls || !bk || !cnt || !off || !tmp) {
		free(groups.tab);
		return ev_nomem(q);
	}
	for (size_t g = 0; g < ng; g++)
		gls[g] = groups.s[g].ls;
	free(groups.tab);
	struct vser *o = vser_alloc(ev, ng);
	if (!o)
		return ev_nomem(q);
	for (size_t g = 0; g < ng; g++) {
		o[g].ls = gls[g];
		o[g].drop_name = true;
	}
	for (size_t i = 0; i < ev->nsteps; i++) {
		double qv = qs[i];
		if (!frac && (isnan(qv) || qv < 0 || qv > 1)) {
			char b[64];
			pql_fmt_g(qv, b, sizeof(b));
			ev_warn(q, c->args[0], "quantile value should be between 0 and 1, got %s", b);
		}
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i] && !valid[k]) {
				const char *lv = labels_get(&in.s[k].ls, "le");
				const char *nm = labels_get(&in.s[k].ls, LABEL_NAME);
				ev_warn(q, varg,
					"bucket label \"le\" is missing or has a malformed value of \"%s\" for metric name \"%s\"",
					lv ? lv : "", nm ? nm : "");
			}
		memset(cnt, 0, ng * sizeof(size_t));
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i] && valid[k])
				cnt[gi[k]]++;
		off[0] = 0;
		for (size_t g = 0; g < ng; g++)
			off[g + 1] = off[g] + cnt[g];
		memset(cnt, 0, ng * sizeof(size_t));
		for (size_t k = 0; k < in.n; k++)
			if (in.s[k].ok[i] && valid[k]) {
				size_t g = gi[k];
				bk[off[g] + cnt[g]].upper = ub[k];
				bk[off[g] + cnt[g]].count = in.s[k].v[i];
				cnt[g]++;
			}
		for (size_t g = 0; g < ng; g++) {
			if (!cnt[g])
				continue;
			bool forced;
			memcpy(tmp, bk + off[g], cnt[g] * sizeof(*tmp));
			if (frac) {
				o[g].v[i] = bucket_fraction(qv, upper[i], tmp, cnt[g]);
				o[g].ok[i] = 1;
				continue;
			}
			o[g].v[i] = bucket_quantile(qv, tmp, cnt[g], &forced);
			o[g].ok[i] = 1;
			if (forced) {
				const char *nm = labels_get(&o[g].ls, LABEL_NAME);
				ev_info(q, varg,
					"input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%s\"",
					nm ? nm : "");
			}
		}
	}
	set_vector(out, o, ng);
	return 0;
}

/* ------------------------------------------------------------ experimental functions */

/* Natural order: digit runs compare as numbers, the rest bytewise. */
static bool nat_less(const char *a, const char *b)
{
	while (*a && *b) {
		bool da = *a >= '0' && *a <= '9', db = *b >= '0' && *b <= '9';
		const char *ea = a, *eb = b;
		while (*ea && ((*ea >= '0' && *ea <= '9') == da))
			ea++;
		while (*eb && ((*eb >= '0' && *eb <= '9') == db))
			eb++;
		size_t la = (size_t)(ea - a), lb = (size_t)(eb - b);
		if (la != lb || memcmp(a, b, la) != 0) {
			if (da && db) {
				/* compare numerically: strip zeros, then length, then digits */
				while (la > 1 && *a == '0') {
					a++;
					la--;
				}
				while (lb > 1 && *b == '0') {
					b++;
					lb--;
				}
				if (la != lb)
					return la < lb;
				int cmp = memcmp(a, b, la);
				if (cmp != 0)
					return cmp < 0;
			} else {
				size_t m = la < lb ? la : lb;
				int cmp = memcmp(a, b, m);
				if (cmp != 0)
					return cmp < 0;
				return la < lb;
			}
		}
		a = ea;
		b = eb;
	}
	return *a == '\0' && *b != '\0';
}

static int fn_sort_by_label(struct ev *ev, struct pql_node *n, const struct pql_call *c,
			    struct val *out)
{
	bool desc = c->func->id == PQL_FN_SORT_BY_LABEL_DESC;
	int rc = ev_eval(ev, c->args[0], out);
	if (rc)
		return rc;
	if (ev->q->is_range) {
		ev_warn(ev->q, n, "sort is ineffective for range queries since results are always ordered by labels");
		return 0;
	}
	if (ev->nsteps != 1)
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++)
		if (out->s[i].ok[0])
			out->s[k++] = out->s[i];
	out->n = k;
	for (size_t i = 1; i < out->n; i++) {
		struct vser t = out->s[i];
		size_t j = i;
		while (j > 0) {
			const struct vser *p = &out->s[j - 1];
			int cmp = 0;
			for (size_t a = 1; a < c->nargs && !cmp; a++) {
				const char *name = pql_unparen(c->args[a])->u.str.val;
				const char *x = labels_get(&t.ls, name), *y = labels_get(&p->ls, name);
				x = x ? x : "";
				y = y ? y : "";
				if (strcmp(x, y) == 0)
					continue;
				cmp = nat_less(x, y) ? -1 : 1;
			}
			if (!cmp)
				cmp = labels_cmp(&t.ls, &p->ls);
			if (desc)
				cmp = -cmp;
			if (cmp >= 0)
				break;
			out->s[j] = out->s[j - 1];
			j--;
		}
		out->s[j] = t;
	}
	return 0;
}

static int fn_des(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	double *sf, *tf;
	struct rng r;
	int rc;
	if ((rc = eval_scalar(ev, c->args[1], &sf)) || (rc = eval_scalar(ev, c->args[2], &tf)) ||
	    (rc = ev_range_arg(ev, c->args[0], &r)))
		return rc;
	if (r.anchored)
		return ev_fail(q, TS_ERR_EXEC,
			       "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with %s",
			       c->func->name);
	if (r.smoothed)
		return ev_fail(q, TS_ERR_EXEC,
			       "smoothed modifier can only be used with: delta, increase, rate - not with %s",
			       c->func->name);
	struct vser *o = vser_alloc(ev, r.n);
	if (!o)
		return ev_nomem(q);
	for (size_t k = 0; k < r.n; k++) {
		o[k].ls = r.s[k].ls;
		o[k].drop_name = true;
		for (size_t i = 0; i < ev->nsteps; i++) {
			size_t lo, hi;
			rng_window(ev, &r, &r.s[k], i, &lo, &hi);
			if (hi - lo < 2)
				continue;
			if (sf[i] <= 0 || sf[i] >= 1)
				return ev_fail(q, TS_ERR_EXEC,
					       "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf[i]);
			if (tf[i] <= 0 || tf[i] >= 1)
				return ev_fail(q, TS_ERR_EXEC,
					       "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf[i]);
			const double *v = r.s[k].v + lo;
			size_t l = hi - lo;
			double s0 = 0, s1 = v[0], b = v[1] - v[0];
			for (size_t j = 1; j < l; j++) {
				double x = sf[i] * v[j];
				if (j - 1 != 0)
					b = tf[i] * (s1 - s0) + (1 - tf[i]) * b;
				double y = (1 - sf[i]) * (s1 + b);
				s0 = s1;
				s1 = x + y;
			}
			o[k].v[i] = s1;
			o[k].ok[i] = 1;
		}
	}
	set_vector(out, o, r.n);
	return 0;
}

/* labels.FormatOpenMetricsFloat: a float that always looks like one. */
static void fmt_om_float(double v, char *buf, size_t cap)
{
	pql_fmt_g(v, buf, cap);
	if (!strpbrk(buf, ".eIN") && strlen(buf) + 3 < cap)
		strcat(buf, ".0");
}

static int fn_histogram_quantiles(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	const char *label = pql_unparen(c->args[1])->u.str.val;
	struct vbuild b;
	int rc = 0;
	vb_init(&b, ev);
	for (size_t a = 2; a < c->nargs && !rc; a++) {
		/* one histogram_quantile per quantile argument, then relabel */
		struct pql_call one = *c;
		struct pql_node *args[2] = { c->args[a], c->args[0] };
		struct pql_func fn = *c->func;
		struct val part;
		fn.id = PQL_FN_HISTOGRAM_QUANTILE;
		one.func = &fn;
		one.args = args;
		one.nargs = 2;
		if ((rc = fn_histogram_quantile(ev, &one, &part)))
			break;
		double *qs;
		if ((rc = eval_scalar(ev, c->args[a], &qs)))
			break;
		for (size_t k = 0; k < part.n && !rc; k++)
			for (size_t i = 0; i < ev->nsteps && !rc; i++) {
				char num[64];
				if (!part.s[k].ok[i])
					continue;
				fmt_om_float(qs[i], num, sizeof(num));
				const char *val = arena_strdup(q->a, num);
				struct labels ls = lbl_set(q, &part.s[k].ls, label, val);
				rc = vb_add(&b, &ls, true, i, part.s[k].v[i]);
			}
	}
	vb_finish(&b, out);
	return rc;
}

/* ------------------------------------------------------------ range-vector functions */

static double kahan_inc(double inc, double sum, double *c)
{
	double t = sum + inc;
	if (isinf(t))
		*c = 0;
	else if (fabs(sum) >= fabs(inc))
		*c += (sum - t) + inc;
	else
		*c += (inc - t) + sum;
	return t;
}

/* Prometheus's extrapolatedRate over t[lo..hi), v[lo..hi). */
static bool extrapolated_rate(const int64_t *t, const double *v, size_t n, int64_t range_start,
			      int64_t range_end, int64_t range, bool counter, bool is_rate, double *out)
{
	if (n < 2)
		return false;
	double result = v[n - 1] - v[0];
	if (counter)
		for (size_t i = 1; i < n; i++)
			if (v[i] < v[i - 1])
				result += v[i - 1];
	double to_start = (double)(t[0] - range_start) / 1000;
	double to_end = (double)(range_end - t[n - 1]) / 1000;
	double sampled = (double)(t[n - 1] - t[0]) / 1000;
	double avg = sampled / (double)(n - 1);
	double thr = avg * 1.1;
	if (to_start >= thr)
		to_start = avg / 2;
	if (counter) {
		double to_zero = to_start;
		if (result > 0 && v[0] >= 0)
			to_zero = sampled * (v[0] / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	if (to_end >= thr)
		to_end = avg / 2;
	double factor = (sampled + to_start + to_end) / sampled;
	if (is_rate)
		factor /= (double)range / 1000;
	*out = result * factor;
	return true;
}

/* Prometheus's extendedRate (anchored/smoothed rate, increase, delta). */
static bool extended_rate(const int64_t *t, const double *v, size_t n, int64_t range_start,
			  int64_t range_end, int64_t range, bool smoothed, bool counter, bool is_rate,
			  double *out)
{
	size_t last = n - 1, first, a = 0, b = last;
	while (a < b) {
		size_t m = (a + b) / 2;
		if (t[m] > range_start)
			b = m;
		else
			a = m + 1;
	}
	first = a > 0 ? a - 1 : 0;
	if (smoothed) {
		a = 0;
		b = last;
		while (a < b) {
			size_t m = (a + b) / 2;
			if (t[m] >= range_end)
				b = m;
			else
				a = m + 1;
		}
		last = a;
	}
	/* no data inside the range: only before it, or only after it */
	if (t[last] <= range_start || t[first] > range_end)
		return false;
	double left = v[first], right = v[last];
	if (smoothed && t[first] < range_start && first + 1 < n) {
		double y1 = v[first], y2 = v[first + 1];
		if (counter && y2 < y1)
			y1 = 0;
		left = y1 + (y2 - y1) * (double)(range_start - t[first]) / (double)(t[first + 1] - t[first]);
	}
	if (smoothed && last > 0 && t[last] > range_end) {
		double y1 = v[last - 1], y2 = v[last];
		if (counter && y2 < y1)
			y1 = 0;
		right = y1 + (y2 - y1) * (double)(range_end - t[last - 1]) / (double)(t[last] - t[last - 1]);
	}
	double result = right - left;
	if (counter) {
		long f = (long)first, l = (long)last;
		if (t[f] <= range_start)
			f++;
		if (t[l] >= range_end)
			l--;
		double corr = 0, prev = left;
		for (long j = f; j <= l; j++) {
			if (v[j] < prev)
				corr += prev;
			prev = v[j];
		}
		if (right < prev)
			corr += prev;
		result += corr;
	}
	if (is_rate)
		result /= (double)range / 1000;
	*out = result;
	return true;
}

/* Least squares slope and intercept at intercept_t. */
static void linreg(const int64_t *t, const double *v, size_t n, int64_t intercept_t, double *slope,
		   double *intercept)
{
	double nn = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
	double init = v[0];
	bool constant = true;
	for (size_t i = 0; i < n; i++) {
		if (constant && i > 0 && v[i] != init)
			constant = false;
		nn += 1;
		double x = (double)(t[i] - intercept_t) / 1e3;
		sx = kahan_inc(x, sx, &cx);
		sy = kahan_inc(v[i], sy, &cy);
		sxy = kahan_inc(x * v[i], sxy, &cxy);
		sx2 = kahan_inc(x * x, sx2, &cx2);
	}
	if (constant) {
		if (isinf(init)) {
			*slope = NAN;
			*intercept = NAN;
		} else {
			*slope = 0;
			*intercept = init;
		}
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	double cov = sxy - sx * sy / nn;
	double var = sx2 - sx * sx / nn;
	*slope = cov / var;
	*intercept = sy / nn - *slope * sx / nn;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int fn_range(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	enum pql_func_id id = c->func->id;
	size_t mi = 0;
	double *param = NULL;
	int rc;
	/* the range argument: quantile_over_time(q, m) has it second */
	if (id == PQL_FN_QUANTILE_OVER_TIME) {
		mi = 1;
		if ((rc = eval_scalar(ev, c->args[0], &param)))
			return rc;
	} else if (id == PQL_FN_PREDICT_LINEAR) {
		if ((rc = eval_scalar(ev, c->args[1], &param)))
			return rc;
	}
	struct rng r;
	if ((rc = ev_range_arg(ev, c->args[mi], &r)))
		return rc;
	if (r.anchored && id != PQL_FN_RESETS && id != PQL_FN_CHANGES && id != PQL_FN_RATE &&
	    id != PQL_FN_INCREASE && id != PQL_FN_DELTA)
		return ev_fail(q, TS_ERR_EXEC,
			       "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with %s",
			       c->func->name);
	if (r.smoothed && id != PQL_FN_RATE && id != PQL_FN_INCREASE && id != PQL_FN_DELTA)
		return ev_fail(q, TS_ERR_EXEC,
			       "smoothed modifier can only be used with: delta, increase, rate - not with %s",
			       c->func->name);
	if (id == PQL_FN_QUANTILE_OVER_TIME)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (isnan(param[i]) || param[i] < 0 || param[i] > 1) {
				char b[64];
				pql_fmt_g(param[i], b, sizeof(b));
				ev_warn(q, c->args[0], "quantile value should be between 0 and 1, got %s", b);
			}
	if (id == PQL_FN_ABSENT_OVER_TIME) {
		struct vser *o = vser_alloc(ev, 1);
		if (!o)
			return ev_nomem(q);
		o->ls = absent_labels(q, c->args[0]);
		o->drop_name = true;
		for (size_t i = 0; i < ev->nsteps; i++) {
			bool any = false;
			for (size_t k = 0; k < r.n && !any; k++) {
				size_t lo, hi;
				rng_window(ev, &r, &r.s[k], i, &lo, &hi);
				any = hi > lo;
			}
			if (!any) {
				o->v[i] = 1;
				o->ok[i] = 1;
			}
		}
		set_vector(out, o, 1);
		return 0;
	}
	bool keep_name = id == PQL_FN_LAST_OVER_TIME || id == PQL_FN_FIRST_OVER_TIME;
	struct vser *o = vser_alloc(ev, r.n);
	double *scratch = NULL;
	size_t scratch_n = 0;
	if (!o)
		return ev_nomem(q);
	for (size_t k = 0; k < r.n; k++) {
		const struct rser *s = &r.s[k];
		size_t produced = 0;
		o[k].ls = s->ls;
		o[k].drop_name = !keep_name || s->drop_name;
		if ((rc = ev_check(q)))
			break;
		size_t lo = 0, hi = 0;
		for (size_t i = 0; i < ev->nsteps; i++) {
			rng_window_next(ev, &r, s, i, &lo, &hi);
			size_t cnt = hi - lo;
			const int64_t *t = s->t + lo;
			const double *v = s->v + lo;
			int64_t ref = (r.at ? r.at_ms : ev_ts(ev, i)) - r.offset;
			double res = 0;
			bool ok = cnt > 0;
			if (!ok)
				continue;
			switch (id) {
			case PQL_FN_RATE:
			case PQL_FN_INCREASE:
			case PQL_FN_DELTA:
				if (r.anchored || r.smoothed) {
					ok = extended_rate(t, v, cnt, ref - r.range, ref, r.range, r.smoothed,
							   id != PQL_FN_DELTA, id == PQL_FN_RATE, &res);
					break;
				}
				ok = extrapolated_rate(t, v, cnt, ref - r.range, ref, r.range,
						       id != PQL_FN_DELTA, id == PQL_FN_RATE, &res);
				break;
			case PQL_FN_IRATE:
			case PQL_FN_IDELTA: {
				if (cnt < 2) {
					ok = false;
					break;
				}
				double a = v[cnt - 2], b = v[cnt - 1];
				int64_t dt = t[cnt - 1] - t[cnt - 2];
				if (dt == 0) {
					ok = false;
					break;
				}
				res = b;
				if (id == PQL_FN_IDELTA || !(b < a))
					res = b - a;
				if (id == PQL_FN_IRATE)
					res /= (double)dt / 1000;
				break;
			}
			case PQL_FN_DERIV: {
				double sl, ic;
				if (cnt < 2) {
					ok = false;
					break;
				}
				linreg(t, v, cnt, t[0], &sl, &ic);
				res = sl;
				break;
			}
			case PQL_FN_PREDICT_LINEAR: {
				double sl, ic;
				if (cnt < 2) {
					ok = false;
					break;
				}
				linreg(t, v, cnt, ev_ts(ev, i), &sl, &ic);
				res = sl * param[i] + ic;
				break;
			}
			case PQL_FN_CHANGES:
			case PQL_FN_RESETS:
				if (r.anchored) {
					/* start from the last sample at or before the range start */
					if (t[cnt - 1] <= ref - r.range) {
						ok = false;
						break;
					}
					size_t f = 0;
					while (f + 1 < cnt - 1 + 1 && f < cnt - 1 && t[f] <= ref - r.range)
						f++;
					f = f > 0 ? f - 1 : 0;
					t += f;
					v += f;
					cnt -= f;
				}
				if (id == PQL_FN_RESETS) {
					for (size_t j = 1; j < cnt; j++)
						if (v[j] < v[j - 1])
							res++;
					break;
				}
				for (size_t j = 1; j < cnt; j++)
					if (v[j] != v[j - 1] && !(isnan(v[j]) && isnan(v[j - 1])))
						res++;
				break;
			case PQL_FN_AVG_OVER_TIME: {
				double sum = v[0], count = 1, mean = 0, kc = 0;
				bool incr = false;
				for (size_t j = 1; j < cnt; j++) {
					count = (double)j + 1;
					if (!incr) {
						double c2 = kc;
						double ns = kahan_inc(v[j], sum, &c2);
						if (!isinf(ns)) {
							sum = ns;
							kc = c2;
							continue;
						}
						incr = true;
						mean = sum / (count - 1);
						kc /= count - 1;
					}
					double qq = (count - 1) / count;
					double c3 = qq * kc;
					mean = kahan_inc(v[j] / count, qq * mean, &c3);
					kc = c3;
				}
				res = incr ? mean + kc : sum / count + kc / count;
				break;
			}
			case PQL_FN_SUM_OVER_TIME: {
				double sum = 0, kc = 0;
				for (size_t j = 0; j < cnt; j++)
					sum = kahan_inc(v[j], sum, &kc);
				res = isinf(sum) ? sum : sum + kc;
				break;
			}
			case PQL_FN_COUNT_OVER_TIME:
				res = (double)cnt;
				break;
			case PQL_FN_PRESENT_OVER_TIME:
				res = 1;
				break;
			case PQL_FN_LAST_OVER_TIME:
				res = v[cnt - 1];
				break;
			case PQL_FN_FIRST_OVER_TIME:
				res = v[0];
				break;
			case PQL_FN_TS_OF_LAST_OVER_TIME:
				res = (double)t[cnt - 1] / 1000;
				break;
			case PQL_FN_TS_OF_FIRST_OVER_TIME:
				res = (double)t[0] / 1000;
				break;
			case PQL_FN_MAX_OVER_TIME:
			case PQL_FN_MIN_OVER_TIME:
			case PQL_FN_TS_OF_MAX_OVER_TIME:
			case PQL_FN_TS_OF_MIN_OVER_TIME: {
				bool mx = id == PQL_FN_MAX_OVER_TIME || id == PQL_FN_TS_OF_MAX_OVER_TIME;
				bool tsof = id == PQL_FN_TS_OF_MAX_OVER_TIME || id == PQL_FN_TS_OF_MIN_OVER_TIME;
				double best = v[0];
				int64_t bt = t[0];
				for (size_t j = 0; j < cnt; j++) {
					bool take = isnan(best) ||
						    (tsof ? (mx ? v[j] >= best : v[j] <= best)
							  : (mx ? v[j] > best : v[j] < best));
					if (take) {
						best = v[j];
						bt = t[j];
					}
				}
				res = tsof ? (double)bt / 1000 : best;
				break;
			}
			case PQL_FN_STDDEV_OVER_TIME:
			case PQL_FN_STDVAR_OVER_TIME: {
				double count = 0, mean = 0, cm = 0, aux = 0, ca = 0;
				for (size_t j = 0; j < cnt; j++) {
					count++;
					double delta = v[j] - (mean + cm);
					mean = kahan_inc(delta / count, mean, &cm);
					aux = kahan_inc(delta * (v[j] - (mean + cm)), aux, &ca);
				}
				res = (aux + ca) / count;
				if (id == PQL_FN_STDDEV_OVER_TIME)
					res = sqrt(res);
				break;
			}
			case PQL_FN_QUANTILE_OVER_TIME:
			case PQL_FN_MAD_OVER_TIME:
				if (scratch_n < cnt) {
					scratch = arena_alloc(q->a, cnt * sizeof(double));
					if (!scratch)
						return ev_nomem(q);
					scratch_n = cnt;
				}
				memcpy(scratch, v, cnt * sizeof(double));
				if (id == PQL_FN_QUANTILE_OVER_TIME) {
					res = pql_quantile(param[i], scratch, cnt);
				} else {
					bool nan = false;
					for (size_t j = 0; j < cnt; j++)
						nan = nan || isnan(v[j]);
					if (nan) {
						res = NAN;
						break;
					}
					double med = pql_quantile(0.5, scratch, cnt);
					for (size_t j = 0; j < cnt; j++)
						scratch[j] = fabs(v[j] - med);
					res = pql_quantile(0.5, scratch, cnt);
				}
				break;
			default:
				return ev_fail(q, TS_ERR_UNSUPPORTED, "function %s is not supported",
					       c->func->name);
			}
			if (!ok)
				continue;
			o[k].v[i] = res;
			o[k].ok[i] = 1;
			produced++;
		}
		if (rc)
			break;
		if (produced && (id == PQL_FN_RATE || id == PQL_FN_INCREASE)) {
			const char *nm = labels_get(&s->ls, LABEL_NAME);
			if (nm && !has_suffix(nm, "_total") && !has_suffix(nm, "_sum") &&
			    !has_suffix(nm, "_count") && !has_suffix(nm, "_bucket"))
				ev_info(q, c->args[0],
					"metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"%s\"",
					nm);
		}
		if ((rc = ev_count(q, (int64_t)produced)))
			break;
		{
			/* the biggest window of this series is held at once */
			size_t wlo, whi, most = 0;
			for (size_t i = 0; i < ev->nsteps; i += ev->nsteps > 1 ? ev->nsteps - 1 : 1) {
				rng_window(ev, &r, s, i, &wlo, &whi);
				if (whi - wlo > most)
					most = whi - wlo;
			}
			if ((rc = ev_count(q, (int64_t)most)))
				break;
			q->samples -= (int64_t)most;
		}
	}
	if (rc)
		return rc;
	set_vector(out, o, r.n);
	return 0;
}

/* ------------------------------------------------------------ info() */

static const char *const info_id_labels[] = { "instance", "job" };

static bool stale(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b == 0x7ff0000000000002ULL;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's regexp.QuoteMeta into b. */
static void quote_meta(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s))
			buf_addch(b, '\\');
		buf_addch(b, *s);
	}
}

/* Identity of an info series (or a base series) for one info metric name. */
static uint64_t info_sig(const char *name, const struct labels *ls)
{
	struct label l[3];
	struct labels k = { l, 0 };
	l[k.n].name = LABEL_NAME;
	l[k.n++].value = name;
	for (int i = 0; i < 2; i++) {
		const char *v = labels_get(ls, info_id_labels[i]);
		if (v) {
			l[k.n].name = info_id_labels[i];
			l[k.n++].value = v;
		}
	}
	labels_sort(&k);
	return lbl_sig(&k, false, NULL, 0, false);
}

static bool all_match(const struct matcher *const *ms, size_t n, const char *v)
{
	for (size_t i = 0; i < n; i++)
		if (!matcher_matches(ms[i], v))
			return false;
	return true;
}

/* Where the base argument reads its samples: an @ time or the step
 * time, minus the offsets on the way to its first selector. */
struct info_ref {
	bool at;        /* pinned by an @ */
	int64_t at_ms;  /* the @ time */
	int64_t offset; /* total offset (ms) */
};

static bool info_ref_find(struct qctx *q, struct pql_node *n, struct info_ref *r)
{
	struct pql_node *kids[16];
	switch (n->kind) {
	case PQL_NODE_VECTOR:
		if (n->u.vs.at != PQL_AT_NONE) {
			r->at = true;
			r->at_ms = n->u.vs.at == PQL_AT_START ? q->qstart
				   : n->u.vs.at == PQL_AT_END ? q->qend : n->u.vs.at_ms;
			r->offset = n->u.vs.offset_ms;
		} else {
			r->offset += n->u.vs.offset_ms;
		}
		return true;
	case PQL_NODE_SUBQUERY: {
		struct info_ref save = *r;
		if (n->u.sq.at != PQL_AT_NONE) {
			r->at = true;
			r->at_ms = n->u.sq.at == PQL_AT_START ? q->qstart
				   : n->u.sq.at == PQL_AT_END ? q->qend : n->u.sq.at_ms;
			r->offset = n->u.sq.offset_ms;
		} else {
			r->offset += n->u.sq.offset_ms;
		}
		if (info_ref_find(q, n->u.sq.expr, r))
			return true;
		*r = save;
		return false;
	}
	default:
		break;
	}
	size_t k = pql_node_children(n, kids, 16);
	for (size_t i = 0; i < k && i < 16; i++)
		if (info_ref_find(q, kids[i], r))
			return true;
	return false;
}

/*
 * info(v [, {selector}]): add the data labels of matching info series
 * (target_info by default) that share instance/job with each series.
 */
static int fn_info(struct ev *ev, const struct pql_call *c, struct val *out)
{
	struct qctx *q = ev->q;
	struct val base;
	int rc = ev_eval(ev, c->args[0], &base);
	if (rc)
		return rc;
	const struct pql_vector_sel *sel = c->nargs > 1 ? &pql_unparen(c->args[1])->u.vs : NULL;
	struct info_ref rt = { false, 0, 0 };
	info_ref_find(ev->q, c->args[0], &rt);
	size_t nsel = sel ? sel->nmatchers : 0;
	/* name matchers pick info metrics; the others are data label matchers */
	const struct matcher **namem = arena_alloc(q->a, (nsel + 1) * sizeof(*namem));
	const struct matcher **datam = arena_alloc(q->a, (nsel + 1) * sizeof(*datam));
	size_t nname = 0, ndata = 0;
	if (!namem || !datam)
		return ev_nomem(q);
	for (size_t i = 0; i < nsel; i++) {
		if (strcmp(sel->matchers[i].name, LABEL_NAME) == 0)
			namem[nname++] = &sel->matchers[i];
		else
			datam[ndata++] = &sel->matchers[i];
	}
	/* without a positive __name__ matcher the info metrics are target_info,
	 * or every *_info metric when only negative ones were given */
	bool positive = false;
	for (size_t i = 0; i < nname; i++)
		positive = positive || namem[i]->type == MATCHER_EQ || namem[i]->type == MATCHER_RE;
	struct matcher deflt;
	memset(&deflt, 0, sizeof(deflt));
	bool use_default = !positive;
	if (use_default) {
		rc = nname ? matcher_init(&deflt, MATCHER_RE, LABEL_NAME, ".+_info", NULL)
			   : matcher_init(&deflt, MATCHER_EQ, LABEL_NAME, "target_info", NULL);
		if (rc)
			return ev_nomem(q);
		namem[nname++] = &deflt;
	}
	/* do not enrich info series themselves */
	bool *ignore = arena_calloc(q->a, base.n ? base.n : 1, sizeof(bool));
	if (!ignore) {
		matcher_release(&deflt);
		return ev_nomem(q);
	}
	for (size_t k = 0; k < base.n; k++) {
		const char *nm = labels_get(&base.s[k].ls, LABEL_NAME);
		ignore[k] = all_match(namem, nname, nm ? nm : "");
	}
	/* select info series whose identifying labels occur in the base:
	 * the distinct values of each, sorted, as a regex alternation */
	struct buf res[2] = { BUF_INIT, BUF_INIT };
	bool have[2] = { false, false };
	const char **vals = arena_alloc(q->a, (base.n ? base.n : 1) * sizeof(char *));
	if (!vals) {
		matcher_release(&deflt);
		return ev_nomem(q);
	}
	for (int li = 0; li < 2; li++) {
		size_t nv = 0;
		for (size_t k = 0; k < base.n; k++) {
			const char *v = labels_get(&base.s[k].ls, info_id_labels[li]);
			if (!ignore[k] && v)
				vals[nv++] = v;
		}
		qsort(vals, nv, sizeof(char *), cmp_cstr);
		for (size_t k = 0; k < nv; k++) {
			if (k && strcmp(vals[k], vals[k - 1]) == 0)
				continue;
			if (have[li])
				buf_addch(&res[li], '|');
			quote_meta(&res[li], vals[k]);
			have[li] = true;
		}
	}
	struct series_set set;
	memset(&set, 0, sizeof(set));
	bool fetched = false;
	if (have[0] || have[1]) {
		struct matcher ms[64];
		struct matcher idm[2];
		size_t nm = 0, nid = 0;
		memset(idm, 0, sizeof(idm));
		if (use_default)
			ms[nm++] = deflt;
		for (int li = 0; li < 2 && !rc; li++) {
			if (!have[li])
				continue;
			struct ts_error err;
			rc = matcher_init(&idm[nid], MATCHER_RE, info_id_labels[li], res[li].data, &err);
			if (!rc)
				ms[nm++] = idm[nid++];
		}
		for (size_t i = 0; i < nsel && nm < 64; i++)
			ms[nm++] = sel->matchers[i];
		if (!rc) {
			/* the first selector's @ and offset place the lookup window */
			int64_t lb = q->opts.lookback_ms;
			struct ts_error err;
			memset(&err, 0, sizeof(err));
			int64_t lo = (rt.at ? rt.at_ms : ev->start) - rt.offset;
			int64_t hi = (rt.at ? rt.at_ms : ev->end) - rt.offset;
			rc = querier_select(q->qr, ms, nm, lo - lb + 1, hi, true, 0, &set, &err);
			if (rc)
				rc = ev_fail(q, rc, "%s", err.msg);
			else
				fetched = true;
		}
		for (size_t i = 0; i < nid; i++)
			matcher_release(&idm[i]);
	}
	buf_release(&res[0]);
	buf_release(&res[1]);
	matcher_release(&deflt);
	if (rc) {
		if (fetched)
			series_set_release(&set);
		return rc;
	}
	/* per info series: its newest sample time at every step (lookback),
	 * looked up at the reference time of the base selector */
	size_t ni = fetched ? set.n : 0;
	int64_t **its = arena_calloc(q->a, ni ? ni : 1, sizeof(int64_t *));
	uint64_t **bsig = arena_calloc(q->a, base.n ? base.n : 1, sizeof(uint64_t *));
	const char **names = arena_calloc(q->a, ni ? ni : 1, sizeof(char *));
	uint64_t *isig = arena_calloc(q->a, ni ? ni : 1, sizeof(uint64_t));
	size_t nnames = 0;
	if (!its || !bsig || !names || !isig) {
		if (fetched)
			series_set_release(&set);
		return ev_nomem(q);
	}
	for (size_t s = 0; s < ni; s++) {
		const struct series *se = &set.s[s];
		const char *nm = labels_get(&se->labels, LABEL_NAME);
		nm = nm ? nm : "";
		isig[s] = info_sig(nm, &se->labels);
		if (!lbl_in(nm, names, nnames))
			names[nnames++] = arena_strdup(q->a, nm);
		its[s] = arena_alloc(q->a, ev->nsteps * sizeof(int64_t));
		if (!its[s] || !names[nnames - 1]) {
			series_set_release(&set);
			return ev_nomem(q);
		}
		for (size_t i = 0; i < ev->nsteps; i++) {
			int64_t ref = (rt.at ? rt.at_ms : ev_ts(ev, i)) - rt.offset;
			size_t j = 0;
			its[s][i] = INT64_MIN;
			while (j < se->n && se->t[j] <= ref)
				j++;
			if (j > 0 && se->t[j - 1] > ref - q->opts.lookback_ms && !stale(se->v[j - 1]))
				its[s][i] = se->t[j - 1];
		}
	}
	for (size_t k = 0; k < base.n; k++) {
		bsig[k] = arena_alloc(q->a, (nnames ? nnames : 1) * sizeof(uint64_t));
		if (!bsig[k]) {
			if (fetched)
				series_set_release(&set);
			return ev_nomem(q);
		}
		for (size_t m = 0; m < nnames; m++)
			bsig[k][m] = info_sig(names[m], &base.s[k].ls);
	}
	struct vbuild b;
	vb_init(&b, ev);
	long *pick = arena_alloc(q->a, (ni ? ni : 1) * sizeof(long));
	for (size_t i = 0; i < ev->nsteps && !rc && pick; i++) {
		/* the newest info series per identity at this step */
		size_t np = 0;
		for (size_t s = 0; s < ni && !rc; s++) {
			if (its[s][i] == INT64_MIN)
				continue;
			size_t p;
			for (p = 0; p < np; p++)
				if (isig[pick[p]] == isig[s])
					break;
			if (p == np) {
				pick[np++] = (long)s;
				continue;
			}
			int64_t old = its[pick[p]][i], now = its[s][i];
			if (now > old) {
				pick[p] = (long)s;
			} else if (now == old) {
				char x[1024], y[1024];
				labels_format(&set.s[pick[p]].labels, x, sizeof(x));
				labels_format(&set.s[s].labels, y, sizeof(y));
				rc = ev_fail(q, TS_ERR_EXEC,
					     "found duplicate series for info metric: existing %s @ %lld, new %s @ %lld",
					     x, (long long)old, y, (long long)now);
			}
		}
		for (size_t k = 0; k < base.n && !rc; k++) {
			const struct vser *bs = &base.s[k];
			if (!bs->ok[i])
				continue;
			if (ignore[k]) {
				rc = vb_add(&b, &bs->ls, bs->drop_name, i, bs->v[i]);
				continue;
			}
			struct labels add = { NULL, 0 };
			size_t seen = 0;
			for (size_t m = 0; m < nnames && !rc; m++) {
				const struct series *is = NULL;
				for (size_t p = 0; p < np; p++)
					if (isig[pick[p]] == bsig[k][m]) {
						is = &set.s[pick[p]];
						break;
					}
				if (!is)
					continue;
				seen++;
				for (size_t li = 0; li < is->labels.n; li++) {
					const struct label *l = &is->labels.v[li];
					if (strcmp(l->name, LABEL_NAME) == 0)
						continue;
					bool listed = false;
					for (size_t d = 0; d < ndata; d++)
						listed = listed || strcmp(datam[d]->name, l->name) == 0;
					if (ndata && !listed)
						continue;
					const char *have_v = labels_get(&add, l->name);
					if (have_v && strcmp(have_v, l->value) != 0) {
						rc = ev_fail(q, TS_ERR_EXEC, "conflicting label: %s", l->name);
						break;
					}
					if (labels_get(&bs->ls, l->name))
						continue;
					add = lbl_set(q, &add, l->name, l->value);
				}
			}
			if (rc)
				break;
			if (!seen) {
				bool all_empty = true;
				for (size_t d = 0; d < ndata; d++)
					all_empty = all_empty && matcher_matches(datam[d], "");
				if (!all_empty)
					continue;
			}
			struct labels ls = bs->ls;
			for (size_t a = 0; a < add.n; a++)
				ls = lbl_set(q, &ls, add.v[a].name, add.v[a].value);
			rc = vb_add(&b, &ls, bs->drop_name, i, bs->v[i]);
		}
	}
	if (fetched)
		series_set_release(&set);
	vb_finish(&b, out);
	if (!pick && !rc)
		return ev_nomem(q);
	return rc;
}

int ev_call(struct ev *ev, struct pql_node *n, struct val *out)
{
	const struct pql_call *c = &n->u.call;
	enum pql_func_id id = c->func->id;
	double (*f)(double) = simple_fn(id);
	if (f)
		return fn_simple(ev, c, f, out);
	switch (id) {
	case PQL_FN_CLAMP:
	case PQL_FN_CLAMP_MIN:
	case PQL_FN_CLAMP_MAX:
		return fn_clamp(ev, c, out);
	case PQL_FN_ROUND:
		return fn_round(ev, c, out);
	case PQL_FN_DAY_OF_MONTH:
	case PQL_FN_DAY_OF_WEEK:
	case PQL_FN_DAY_OF_YEAR:
	case PQL_FN_DAYS_IN_MONTH:
	case PQL_FN_HOUR:
	case PQL_FN_MINUTE:
	case PQL_FN_MONTH:
	case PQL_FN_YEAR:
		return fn_date(ev, c, out);
	case PQL_FN_TIME:
	case PQL_FN_PI: {
		memset(out, 0, sizeof(*out));
		out->type = PQL_SCALAR;
		out->sc = scalar_alloc(ev);
		if (!out->sc)
			return ev_nomem(ev->q);
		for (size_t i = 0; i < ev->nsteps; i++)
			out->sc[i] = id == PQL_FN_PI ? M_PI : (double)ev_ts(ev, i) / 1000.0;
		return 0;
	}
	case PQL_FN_MIN_OF:
	case PQL_FN_MAX_OF: {
		/* Go's math.Min/Max: NaN wins, -0 is below +0 */
		double *a = NULL, *b = NULL;
		int rc;
		if ((rc = eval_scalar(ev, c->args[0], &a)) || (rc = eval_scalar(ev, c->args[1], &b)))
			return rc;
		memset(out, 0, sizeof(*out));
		out->type = PQL_SCALAR;
		out->sc = scalar_alloc(ev);
		if (!out->sc)
			return ev_nomem(ev->q);
		for (size_t i = 0; i < ev->nsteps; i++) {
			double x = a[i], y = b[i];
			if (isnan(x) || isnan(y))
				out->sc[i] = NAN;
			else if (x == y)
				out->sc[i] = (signbit(x) != 0) == (id == PQL_FN_MIN_OF) ? x : y;
			else
				out->sc[i] = (x < y) == (id == PQL_FN_MIN_OF) ? x : y;
		}
		return 0;
	}
	case PQL_FN_START:
	case PQL_FN_END:
	case PQL_FN_RANGE:
	case PQL_FN_STEP: {
		struct qctx *q = ev->q;
		double v = id == PQL_FN_START ? (double)q->qstart / 1000
			   : id == PQL_FN_END ? (double)q->qend / 1000
			   : id == PQL_FN_RANGE ? (double)(q->qend - q->qstart) / 1000
						: (double)q->qstep / 1000;
		memset(out, 0, sizeof(*out));
		out->type = PQL_SCALAR;
		out->sc = scalar_alloc(ev);
		if (!out->sc)
			return ev_nomem(q);
		for (size_t i = 0; i < ev->nsteps; i++)
			out->sc[i] = v;
		return 0;
	}
	case PQL_FN_SORT_BY_LABEL:
	case PQL_FN_SORT_BY_LABEL_DESC:
		return fn_sort_by_label(ev, n, c, out);
	case PQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING:
		return fn_des(ev, c, out);
	case PQL_FN_HISTOGRAM_QUANTILES:
		return fn_histogram_quantiles(ev, c, out);
	case PQL_FN_INFO:
		return fn_info(ev, c, out);
	case PQL_FN_HISTOGRAM_COUNT:
	case PQL_FN_HISTOGRAM_SUM:
	case PQL_FN_HISTOGRAM_AVG:
	case PQL_FN_HISTOGRAM_STDDEV:
	case PQL_FN_HISTOGRAM_STDVAR: {
		/* these read native histogram samples only; the store holds
		 * floats, so (as in Prometheus on float data) nothing comes out */
		struct val in;
		int rc = ev_eval(ev, c->args[0], &in);
		if (rc)
			return rc;
		set_vector(out, NULL, 0);
		return 0;
	}
	case PQL_FN_TIMESTAMP:
		return fn_timestamp(ev, c, out);
	case PQL_FN_VECTOR:
		return fn_vector(ev, c, out);
	case PQL_FN_SCALAR:
		return fn_scalar(ev, c, out);
	case PQL_FN_SORT:
	case PQL_FN_SORT_DESC:
		return fn_sort(ev, n, c, out);
	case PQL_FN_ABSENT:
		return fn_absent(ev, c, out);
	case PQL_FN_LABEL_REPLACE:
		return fn_label_replace(ev, c, out);
	case PQL_FN_LABEL_JOIN:
		return fn_label_join(ev, c, out);
	case PQL_FN_HISTOGRAM_QUANTILE:
	case PQL_FN_HISTOGRAM_FRACTION:
		return fn_histogram_quantile(ev, c, out);
	case PQL_FN_RATE:
	case PQL_FN_INCREASE:
	case PQL_FN_DELTA:
	case PQL_FN_IRATE:
	case PQL_FN_IDELTA:
	case PQL_FN_DERIV:
	case PQL_FN_PREDICT_LINEAR:
	case PQL_FN_CHANGES:
	case PQL_FN_RESETS:
	case PQL_FN_AVG_OVER_TIME:
	case PQL_FN_SUM_OVER_TIME:
	case PQL_FN_COUNT_OVER_TIME:
	case PQL_FN_PRESENT_OVER_TIME:
	case PQL_FN_LAST_OVER_TIME:
	case PQL_FN_FIRST_OVER_TIME:
	case PQL_FN_MAX_OVER_TIME:
	case PQL_FN_MIN_OVER_TIME:
	case PQL_FN_STDDEV_OVER_TIME:
	case PQL_FN_STDVAR_OVER_TIME:
	case PQL_FN_QUANTILE_OVER_TIME:
	case PQL_FN_ABSENT_OVER_TIME:
	case PQL_FN_MAD_OVER_TIME:
	case PQL_FN_TS_OF_FIRST_OVER_TIME:
	case PQL_FN_TS_OF_LAST_OVER_TIME:
	case PQL_FN_TS_OF_MAX_OVER_TIME:
	case PQL_FN_TS_OF_MIN_OVER_TIME:
		return fn_range(ev, c, out);
	default:
		return ev_fail(ev->q, TS_ERR_UNSUPPORTED, "function %s is not supported",
			       c->func->name);
	}
}
