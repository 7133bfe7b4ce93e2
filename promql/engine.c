/*
 * engine.c - the PromQL evaluator: entry points, per-query state,
 * selectors, subqueries and result assembly. Binary operators live in
 * binop.c, aggregations in aggregate.c, functions in functions.c; the
 * evaluation model is described in engine_int.h.
 *
 * Selector semantics (Prometheus 3.x):
 *   - instant selector at reference time r = (t or @) - offset: the newest
 *     sample in (r - lookback, r], absent when that sample is a stale marker;
 *   - range selector [d]: the samples in (r - d, r], stale markers dropped;
 *   - subquery [d:s]: the inner expression evaluated at the multiples of s
 *     inside (r_min - d, r_max], then windowed like a range selector.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql/engine.h"
#include "promql/engine_int.h"
#include "promql/parser.h"
#include "util/arena.h"

#define STALE_NAN_BITS 0x7ff0000000000002ULL

static bool is_stale_nan(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b == STALE_NAN_BITS;
}

const char *pql_type_name(enum pql_type t)
{
	switch (t) {
	case PQL_SCALAR: return "scalar";
	case PQL_STRING: return "string";
	case PQL_VECTOR: return "vector";
	case PQL_MATRIX: return "matrix";
	default: return "none";
	}
}

void pql_result_release(struct pql_result *r)
{
	if (!r)
		return;
	arena_free(r->arena);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ query state */

int ev_fail(struct qctx *q, int code, const char *fmt, ...)
{
	va_list ap;
	if (q->err && q->err->code == 0) {
		q->err->code = code;
		va_start(ap, fmt);
		vsnprintf(q->err->msg, sizeof(q->err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

int ev_nomem(struct qctx *q)
{
	return ev_fail(q, TS_ERR_NOMEM, "out of memory");
}

static void annot_add(struct qctx *q, bool warn, const struct pql_node *n, const char *fmt,
		      va_list ap)
{
	char text[1024];
	int line = 1, col = 1;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (n)
		pql_pos_linecol(q->query, n->pos.start, &line, &col);
	char *s = arena_printf(q->a, "PromQL %s: %s (%d:%d)", warn ? "warning" : "info", text,
			       line, col);
	if (!s)
		return;
	const char ***list = warn ? &q->warns : &q->infos;
	size_t *cnt = warn ? &q->nwarns : &q->ninfos;
	size_t *cap = warn ? &q->capwarns : &q->capinfos;
	for (size_t i = 0; i < *cnt; i++)
		if (strcmp((*list)[i], s) == 0)
			return;
	if (*cnt == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		const char **nl = arena_alloc(q->a, nc * sizeof(*nl));
		if (!nl)
			return;
		if (*cnt)
			memcpy(nl, *list, *cnt * sizeof(*nl));
		*list = nl;
		*cap = nc;
	}
	(*list)[(*cnt)++] = s;
}

void ev_warn(struct qctx *q, const struct pql_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	annot_add(q, true, n, fmt, ap);
	va_end(ap);
}

void ev_info(struct qctx *q, const struct pql_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	annot_add(q, false, n, fmt, ap);
	va_end(ap);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int ev_check(struct qctx *q)
{
	if (++q->tick < 64)
		return 0;
	q->tick = 0;
	if (now_ns() > q->deadline_ns)
		return ev_fail(q, TS_ERR_TIMEOUT, "query timed out in expression evaluation");
	return 0;
}

int ev_count(struct qctx *q, int64_t n)
{
	q->samples += n;
	if (q->samples > q->opts.max_samples)
		return ev_fail(q, TS_ERR_LIMIT,
			       "query processing would load too many samples into memory in query execution");
	return 0;
}

void pql_fmt_g(double v, char *buf, size_t cap)
{
	char tmp[64];
	int p;
	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (p = 0; p < 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	int exp = atoi(strchr(tmp, 'e') + 1);
	if (exp < -4 || exp >= 6) {
		/* Go: mantissa digits, then e+XX with at least two digits */
		char *e = strchr(tmp, 'e');
		*e = '\0';
		snprintf(buf, cap, "%se%c%02d", tmp, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return;
	}
	snprintf(buf, cap, "%.*f", p - exp > 0 ? p - exp : 0, v);
}

/* ------------------------------------------------------------ labels */

struct labels lbl_copy(struct qctx *q, const struct labels *ls, size_t extra)
{
	struct labels out = { NULL, 0 };
	out.v = arena_alloc(q->a, (ls->n + extra + 1) * sizeof(struct label));
	if (!out.v)
		return out;
	if (ls->n)
		memcpy(out.v, ls->v, ls->n * sizeof(struct label));
	out.n = ls->n;
	return out;
}

bool lbl_in(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

struct labels lbl_del(struct qctx *q, const struct labels *ls, const char *const *names, size_t n)
{
	struct labels out = lbl_copy(q, ls, 0);
	size_t k = 0;
	if (!out.v)
		return out;
	for (size_t i = 0; i < ls->n; i++)
		if (!lbl_in(ls->v[i].name, names, n))
			out.v[k++] = ls->v[i];
	out.n = k;
	return out;
}

struct labels lbl_keep(struct qctx *q, const struct labels *ls, const char *const *names, size_t n)
{
	struct labels out = lbl_copy(q, ls, 0);
	size_t k = 0;
	if (!out.v)
		return out;
	for (size_t i = 0; i < ls->n; i++)
		if (lbl_in(ls->v[i].name, names, n))
			out.v[k++] = ls->v[i];
	out.n = k;
	return out;
}

struct labels lbl_drop_name(struct qctx *q, const struct labels *ls)
{
	static const char *const nm[] = { LABEL_NAME };
	if (!labels_get(ls, LABEL_NAME))
		return *ls;
	return lbl_del(q, ls, nm, 1);
}

struct labels lbl_set(struct qctx *q, const struct labels *ls, const char *name, const char *value)
{
	struct labels out = lbl_copy(q, ls, 1);
	size_t i, k = 0;
	bool done = false;
	if (!out.v)
		return out;
	for (i = 0; i < ls->n; i++) {
		int c = strcmp(ls->v[i].name, name);
		if (c < 0) {
			out.v[k++] = ls->v[i];
			continue;
		}
		if (!done && value && *value) {
			out.v[k].name = name;
			out.v[k++].value = value;
		}
		done = true;
		if (c > 0)
			out.v[k++] = ls->v[i];
	}
	if (!done && value && *value) {
		out.v[k].name = name;
		out.v[k++].value = value;
	}
	out.n = k;
	return out;
}

/* 64-bit FNV-1a over bytes. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	h ^= 0xff;
	h *= 1099511628211ULL;
	return h;
}

uint64_t lbl_sig(const struct labels *ls, bool on, const char *const *names, size_t n,
		 bool drop_metric_name)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < ls->n; i++) {
		bool in = lbl_in(ls->v[i].name, names, n);
		if (on ? !in : in)
			continue;
		if (!on && drop_metric_name && strcmp(ls->v[i].name, LABEL_NAME) == 0)
			continue;
		h = fnv(h, ls->v[i].name);
		h = fnv(h, ls->v[i].value);
	}
	return h;
}

/* ------------------------------------------------------------ values */

struct vser *vser_alloc(struct ev *ev, size_t n)
{
	struct vser *s = arena_calloc(ev->q->a, n ? n : 1, sizeof(*s));
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[i].v = arena_alloc(ev->q->a, ev->nsteps * sizeof(double));
		s[i].ok = arena_calloc(ev->q->a, ev->nsteps, 1);
		if (!s[i].v || !s[i].ok)
			return NULL;
	}
	return s;
}

double *scalar_alloc(struct ev *ev)
{
	return arena_calloc(ev->q->a, ev->nsteps, sizeof(double));
}

void vb_init(struct vbuild *b, struct ev *ev)
{
	memset(b, 0, sizeof(*b));
	b->ev = ev;
}

static bool vb_rehash(struct vbuild *b, size_t cap)
{
	uint32_t *t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	for (size_t i = 0; i < b->n; i++) {
		size_t h = (size_t)labels_hash(&b->s[i].ls) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = (uint32_t)i + 1;
	}
	free(b->tab);
	b->tab = t;
	b->tabcap = cap;
	return true;
}

struct vser *vb_series(struct vbuild *b, const struct labels *ls, bool drop_name)
{
	struct qctx *q = b->ev->q;
	if ((b->n + 1) * 2 > b->tabcap && !vb_rehash(b, b->tabcap ? b->tabcap * 2 : 16))
		return NULL;
	size_t h = (size_t)labels_hash(ls) & (b->tabcap - 1);
	while (b->tab[h]) {
		struct vser *s = &b->s[b->tab[h] - 1];
		if (labels_equal(&s->ls, ls))
			return s;
		h = (h + 1) & (b->tabcap - 1);
	}
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 8;
		struct vser *ns = arena_alloc(q->a, nc * sizeof(*ns));
		if (!ns)
			return NULL;
		if (b->n)
			memcpy(ns, b->s, b->n * sizeof(*ns));
		b->s = ns;
		b->cap = nc;
	}
	struct vser *s = &b->s[b->n];
	s->ls = *ls;
	s->drop_name = drop_name;
	s->v = arena_alloc(q->a, b->ev->nsteps * sizeof(double));
	s->ok = arena_calloc(q->a, b->ev->nsteps, 1);
	if (!s->v || !s->ok)
		return NULL;
	b->tab[h] = (uint32_t)b->n + 1;
	b->n++;
	return s;
}

int vb_add(struct vbuild *b, const struct labels *ls, bool drop_name, size_t step, double v)
{
	struct vser *s = vb_series(b, ls, drop_name);
	if (!s)
		return ev_nomem(b->ev->q);
	if (s->ok[step])
		return ev_fail(b->ev->q, TS_ERR_EXEC, "vector cannot contain metrics with the same labelset");
	s->ok[step] = 1;
	s->v[step] = v;
	return 0;
}

int vb_add_cached(struct vbuild *b, long *idx, const struct labels *ls, bool drop_name, size_t step,
		  double v)
{
	struct vser *s;
	if (*idx >= 0) {
		s = &b->s[*idx];
	} else {
		s = vb_series(b, ls, drop_name);
		if (!s)
			return ev_nomem(b->ev->q);
		*idx = s - b->s;
	}
	if (s->ok[step])
		return ev_fail(b->ev->q, TS_ERR_EXEC, "vector cannot contain metrics with the same labelset");
	s->ok[step] = 1;
	s->v[step] = v;
	return 0;
}

void vb_finish(struct vbuild *b, struct val *out)
{
	memset(out, 0, sizeof(*out));
	out->type = PQL_VECTOR;
	out->s = b->s;
	out->n = b->n;
	free(b->tab);
	b->tab = NULL;
}

/* ------------------------------------------------------------ selectors */

/*
 * Series and samples of a selector in [mint, maxt] into *set, which the
 * caller releases as soon as it has copied what it needs (labels stay
 * valid while the querier lives).
 */
static int select_series(struct qctx *q, const struct pql_vector_sel *vs, int64_t mint, int64_t maxt,
			 struct series_set *set)
{
	struct ts_error err;
	memset(set, 0, sizeof(*set));
	memset(&err, 0, sizeof(err));
	int rc = querier_select(q->qr, vs->matchers, vs->nmatchers, mint, maxt, true, 0, set, &err);
	if (rc)
		return ev_fail(q, rc, "%s", err.msg[0] ? err.msg : ts_strerror(rc));
	return 0;
}

static int64_t sel_at(const struct qctx *q, enum pql_at at, int64_t at_ms)
{
	switch (at) {
	case PQL_AT_START: return q->qstart;
	case PQL_AT_END: return q->qend;
	default: return at_ms;
	}
}

static int vector_sel_steps(struct ev *ev, const struct pql_vector_sel *vs,
			    const struct series_set *set, bool want_ts, struct val *out);

/*
 * A `smoothed` instant selector: the value at each reference time is
 * interpolated between the samples around it (within the lookback on
 * either side), or the last sample when none follows. Stale markers are
 * ignored. *count gets the number of points set in o.
 */
static int smooth_series(struct ev *ev, const struct series *s, bool at, int64_t atv, int64_t off,
			 int64_t lb, struct vser *o, size_t *count)
{
	size_t cnt = 0, n = 0;
	int64_t *t = malloc((s->n ? s->n : 1) * sizeof(int64_t));
	double *v = malloc((s->n ? s->n : 1) * sizeof(double));
	if (!t || !v) {
		free(t);
		free(v);
		return ev_nomem(ev->q);
	}
	for (size_t j = 0; j < s->n; j++)
		if (!is_stale_nan(s->v[j])) {
			t[n] = s->t[j];
			v[n++] = s->v[j];
		}
	for (size_t i = 0; i < ev->nsteps; i++) {
		int64_t ref = (at ? atv : ev_ts(ev, i)) - off;
		size_t a = 0, b = n;
		while (a < b) { /* first sample at or after ref */
			size_t m = (a + b) / 2;
			if (t[m] >= ref)
				b = m;
			else
				a = m + 1;
		}
		bool has_next = a < n && t[a] <= ref + lb;
		bool has_prev = a > 0 && t[a - 1] > ref - lb;
		double val;
		if (has_next && t[a] == ref) {
			val = v[a];
		} else if (has_prev && has_next) {
			val = v[a - 1] + (v[a] - v[a - 1]) * (double)(ref - t[a - 1]) /
						 (double)(t[a] - t[a - 1]);
		} else if (has_prev) {
			val = v[a - 1];
		} else {
			continue;
		}
		o->v[i] = val;
		o->ok[i] = 1;
		cnt++;
	}
	free(t);
	free(v);
	*count = cnt;
	return 0;
}

/*
 * Instant vector selector over the timeline. want_ts gives the sample
 * timestamps (seconds) as values, for timestamp().
 */
static int eval_vector_sel(struct ev *ev, struct pql_node *n, bool want_ts, struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_vector_sel *vs = &n->u.vs;
	bool at = vs->at != PQL_AT_NONE;
	int64_t atv = at ? sel_at(q, vs->at, vs->at_ms) : 0;
	int64_t minref = (at ? atv : ev->start) - vs->offset_ms;
	int64_t maxref = (at ? atv : ev->end) - vs->offset_ms;
	int64_t lb = q->opts.lookback_ms;
	struct series_set sset;
	int rc = select_series(q, vs, minref - lb + 1, maxref + (vs->smoothed ? lb : 0), &sset);
	if (rc)
		return rc;
	rc = vector_sel_steps(ev, vs, &sset, want_ts, out);
	series_set_release(&sset);
	return rc;
}

/* The steps of an instant selector from its selected samples. */
static int vector_sel_steps(struct ev *ev, const struct pql_vector_sel *vs,
			    const struct series_set *set, bool want_ts, struct val *out)
{
	struct qctx *q = ev->q;
	bool at = vs->at != PQL_AT_NONE;
	int64_t atv = at ? sel_at(q, vs->at, vs->at_ms) : 0;
	int64_t lb = q->opts.lookback_ms;
	int rc;
	struct vser *out_s = vser_alloc(ev, set->n);
	if (!out_s)
		return ev_nomem(q);
	size_t k = 0;
	for (size_t si = 0; si < set->n; si++) {
		const struct series *s = &set->s[si];
		struct vser *o = &out_s[k];
		size_t j = 0, cnt = 0;
		if ((rc = ev_check(q)))
			return rc;
		if (vs->smoothed) {
			if ((rc = smooth_series(ev, s, at, atv, vs->offset_ms, lb, o, &cnt)))
				return rc;
			goto counted;
		}
		for (size_t i = 0; i < ev->nsteps; i++) {
			int64_t ref = (at ? atv : ev_ts(ev, i)) - vs->offset_ms;
			/* j: first sample with t > ref (refs never decrease) */
			while (j < s->n && s->t[j] <= ref)
				j++;
			if (j == 0)
				continue;
			if (s->t[j - 1] <= ref - lb || is_stale_nan(s->v[j - 1]))
				continue;
			o->v[i] = want_ts ? (double)s->t[j - 1] / 1000.0 : s->v[j - 1];
			o->ok[i] = 1;
			cnt++;
		}
counted:
		if (!cnt)
			continue;
		if ((rc = ev_count(q, (int64_t)cnt)))
			return rc;
		o->ls = s->labels;
		o->drop_name = false;
		k++;
	}
	memset(out, 0, sizeof(*out));
	out->type = PQL_VECTOR;
	out->s = out_s;
	out->n = k;
	return 0;
}

void rng_window(const struct ev *ev, const struct rng *r, const struct rser *s, size_t i,
		size_t *lo, size_t *hi)
{
	int64_t ref = rng_ref(ev, r, i) + r->ext_right;
	int64_t from = rng_ref(ev, r, i) - r->range - r->ext_left; /* exclusive */
	size_t a = 0, b = s->n;
	while (a < b) { /* first t > from */
		size_t m = (a + b) / 2;
		if (s->t[m] > from)
			b = m;
		else
			a = m + 1;
	}
	*lo = a;
	b = s->n;
	while (a < b) { /* first t > ref */
		size_t m = (a + b) / 2;
		if (s->t[m] > ref)
			b = m;
		else
			a = m + 1;
	}
	*hi = a;
}

void rng_window_next(const struct ev *ev, const struct rng *r, const struct rser *s, size_t i,
		     size_t *lo, size_t *hi)
{
	if (r->at || i == 0) {
		rng_window(ev, r, s, i, lo, hi);
		return;
	}
	int64_t to = rng_ref(ev, r, i) + r->ext_right;
	int64_t from = rng_ref(ev, r, i) - r->range - r->ext_left;
	size_t a = *lo, b = *hi;
	while (a < s->n && s->t[a] <= from)
		a++;
	if (b < a)
		b = a;
	while (b < s->n && s->t[b] <= to)
		b++;
	*lo = a;
	*hi = b;
}

static int range_from_matrix_sel(struct ev *ev, struct pql_node *n, struct rng *out)
{
	struct qctx *q = ev->q;
	struct pql_node *vn = n->u.ms.vs;
	const struct pql_vector_sel *vs = &vn->u.vs;
	memset(out, 0, sizeof(*out));
	out->range = n->u.ms.range_ms;
	out->offset = vs->offset_ms;
	out->at = vs->at != PQL_AT_NONE;
	out->at_ms = out->at ? sel_at(q, vs->at, vs->at_ms) : 0;
	out->anchored = vs->anchored;
	out->smoothed = vs->smoothed;
	if (vs->anchored || vs->smoothed)
		out->ext_left = q->opts.lookback_ms;
	if (vs->smoothed)
		out->ext_right = q->opts.lookback_ms;
	int64_t minref = (out->at ? out->at_ms : ev->start) - out->offset;
	int64_t maxref = (out->at ? out->at_ms : ev->end) - out->offset;
	if (q->nsets == q->capsets) {
		size_t nc = q->capsets ? q->capsets * 2 : 8;
		struct series_set *ns = realloc(q->sets, nc * sizeof(*ns));
		if (!ns)
			return ev_nomem(q);
		q->sets = ns;
		q->capsets = nc;
	}
	struct series_set *set = &q->sets[q->nsets];
	int rc = select_series(q, vs, minref - out->range - out->ext_left + 1, maxref + out->ext_right,
			       set);
	if (rc)
		return rc;
	q->nsets++;
	out->s = arena_calloc(q->a, set->n ? set->n : 1, sizeof(struct rser));
	if (!out->s)
		return ev_nomem(q);
	/* the range points into the selected arrays, stale markers squeezed out */
	for (size_t si = 0; si < set->n; si++) {
		struct series *s = &set->s[si];
		struct rser *r = &out->s[out->n];
		size_t k = 0;
		for (size_t j = 0; j < s->n; j++) {
			if (is_stale_nan(s->v[j]))
				continue;
			s->t[k] = s->t[j];
			s->v[k++] = s->v[j];
		}
		r->t = s->t;
		r->v = s->v;
		r->n = k;
		r->ls = s->labels;
		out->n++;
	}
	return 0;
}

/* Release the series sets selected since mark. */
static void release_sets(struct qctx *q, size_t mark)
{
	while (q->nsets > mark)
		series_set_release(&q->sets[--q->nsets]);
}

static int range_from_subquery(struct ev *ev, struct pql_node *n, struct rng *out)
{
	struct qctx *q = ev->q;
	const struct pql_subquery *sq = &n->u.sq;
	memset(out, 0, sizeof(*out));
	out->range = sq->range_ms;
	out->offset = sq->offset_ms;
	out->at = sq->at != PQL_AT_NONE;
	out->at_ms = out->at ? sel_at(q, sq->at, sq->at_ms) : 0;
	int64_t minref = (out->at ? out->at_ms : ev->start) - out->offset;
	int64_t maxref = (out->at ? out->at_ms : ev->end) - out->offset;
	int64_t step = sq->step_ms > 0 ? sq->step_ms : q->opts.subquery_step_ms;
	struct ev inner = *ev;
	int64_t lo = minref - out->range;
	inner.step = step;
	inner.start = step * (lo / step);
	if (inner.start <= lo)
		inner.start += step;
	inner.end = maxref;
	if (inner.end < inner.start) {
		out->s = arena_alloc(q->a, sizeof(struct rser));
		return out->s ? 0 : ev_nomem(q);
	}
	if ((inner.end - inner.start) / step >= q->opts.max_samples)
		return ev_fail(q, TS_ERR_LIMIT,
			       "query processing would load too many samples into memory in query execution");
	inner.nsteps = (size_t)((inner.end - inner.start) / step) + 1;
	inner.end = inner.start + (int64_t)(inner.nsteps - 1) * step;
	struct val v;
	int rc = ev_eval(&inner, sq->expr, &v);
	if (rc)
		return rc;
	if (v.type == PQL_SCALAR) {
		struct vser *s = vser_alloc(&inner, 1);
		if (!s)
			return ev_nomem(q);
		for (size_t i = 0; i < inner.nsteps; i++) {
			s->v[i] = v.sc[i];
			s->ok[i] = 1;
		}
		v.type = PQL_VECTOR;
		v.s = s;
		v.n = 1;
	}
	out->s = arena_calloc(q->a, v.n ? v.n : 1, sizeof(struct rser));
	if (!out->s)
		return ev_nomem(q);
	for (size_t si = 0; si < v.n; si++) {
		struct rser *r = &out->s[si];
		r->t = arena_alloc(q->a, inner.nsteps * sizeof(int64_t));
		r->v = arena_alloc(q->a, inner.nsteps * sizeof(double));
		if (!r->t || !r->v)
			return ev_nomem(q);
		for (size_t i = 0; i < inner.nsteps; i++) {
			if (!v.s[si].ok[i])
				continue;
			r->t[r->n] = ev_ts(&inner, i);
			r->v[r->n++] = v.s[si].v[i];
		}
		r->ls = v.s[si].ls;
		r->drop_name = v.s[si].drop_name;
	}
	out->n = v.n;
	return 0;
}

int ev_range_arg(struct ev *ev, struct pql_node *n, struct rng *out)
{
	n = pql_unparen(n);
	if (n->kind == PQL_NODE_MATRIX)
		return range_from_matrix_sel(ev, n, out);
	if (n->kind == PQL_NODE_SUBQUERY)
		return range_from_subquery(ev, n, out);
	return ev_fail(ev->q, TS_ERR_EXEC, "expected a range vector argument");
}

int ev_eval_timestamp_sel(struct ev *ev, struct pql_node *n, struct val *out)
{
	return eval_vector_sel(ev, n, true, out);
}

static size_t val_points(const struct ev *ev, const struct val *v)
{
	size_t n = 0;
	if (v->type == PQL_SCALAR)
		return ev->nsteps;
	if (v->type != PQL_VECTOR)
		return 0;
	for (size_t k = 0; k < v->n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			n += v->s[k].ok[i];
	return n;
}

int ev_eval(struct ev *ev, struct pql_node *n, struct val *out)
{
	struct qctx *q = ev->q;
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = ev_check(q)))
		return rc;
	switch (n->kind) {
	case PQL_NODE_NUMBER:
		out->type = PQL_SCALAR;
		out->sc = scalar_alloc(ev);
		if (!out->sc)
			return ev_nomem(q);
		for (size_t i = 0; i < ev->nsteps; i++)
			out->sc[i] = n->u.num.val;
		return 0;
	case PQL_NODE_STRING:
		out->type = PQL_STRING;
		out->str = n->u.str.val;
		return 0;
	case PQL_NODE_PAREN:
		return ev_eval(ev, n->u.paren.expr, out);
	case PQL_NODE_UNARY:
		if ((rc = ev_eval(ev, n->u.un.expr, out)))
			return rc;
		if (n->u.un.op != PQL_OP_SUB)
			return 0;
		if (out->type == PQL_SCALAR) {
			for (size_t i = 0; i < ev->nsteps; i++)
				out->sc[i] = -out->sc[i];
			return 0;
		}
		for (size_t k = 0; k < out->n; k++) {
			out->s[k].drop_name = true;
			for (size_t i = 0; i < ev->nsteps; i++)
				out->s[k].v[i] = -out->s[k].v[i];
		}
		return 0;
	case PQL_NODE_VECTOR:
		return eval_vector_sel(ev, n, false, out);
	case PQL_NODE_MATRIX:
	case PQL_NODE_SUBQUERY:
		out->type = PQL_MATRIX;
		return ev_range_arg(ev, n, &out->m);
	case PQL_NODE_BINARY:
	case PQL_NODE_AGGREGATE:
	case PQL_NODE_CALL: {
		/* Like Prometheus, the inputs of an operation stop counting
		 * against the sample limit once its result exists. */
		int64_t before = q->samples;
		size_t mark = q->nsets;
		if (n->kind == PQL_NODE_BINARY)
			rc = ev_binary(ev, n, out);
		else if (n->kind == PQL_NODE_AGGREGATE)
			rc = ev_aggregate(ev, n, out);
		else
			rc = ev_call(ev, n, out);
		release_sets(q, mark); /* range arguments are consumed */
		if (rc)
			return rc;
		q->samples = before;
		return ev_count(q, (int64_t)val_points(ev, out));
	}
	default:
		return ev_fail(q, TS_ERR_UNSUPPORTED, "unsupported expression");
	}
}

/* ------------------------------------------------------------ results */

static const char *dup_str(struct qctx *q, const char *s)
{
	return arena_strdup(q->a, s);
}

/* Copy labels into the arena, dropping __name__ when asked. */
static int finish_labels(struct qctx *q, const struct labels *in, bool drop_name, struct labels *out)
{
	out->v = arena_alloc(q->a, (in->n ? in->n : 1) * sizeof(struct label));
	out->n = 0;
	if (!out->v)
		return ev_nomem(q);
	for (size_t i = 0; i < in->n; i++) {
		if (drop_name && (strcmp(in->v[i].name, LABEL_NAME) == 0 ||
				  strcmp(in->v[i].name, "__type__") == 0 ||
				  strcmp(in->v[i].name, "__unit__") == 0))
			continue;
		out->v[out->n].name = dup_str(q, in->v[i].name);
		out->v[out->n].value = dup_str(q, in->v[i].value);
		if (!out->v[out->n].name || !out->v[out->n].value)
			return ev_nomem(q);
		out->n++;
	}
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	return labels_cmp(&((const struct pql_series *)a)->labels, &((const struct pql_series *)b)->labels);
}

static int cmp_point(const void *a, const void *b)
{
	int64_t x = ((const struct pql_point *)a)->t, y = ((const struct pql_point *)b)->t;
	return x < y ? -1 : x > y;
}

/* Sort a matrix by labels, merging series whose label sets became equal. */
static int matrix_sort_merge(struct qctx *q, struct pql_series *s, size_t *n)
{
	qsort(s, *n, sizeof(*s), cmp_series);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (k && labels_equal(&s[k - 1].labels, &s[i].labels)) {
			struct pql_series *d = &s[k - 1];
			struct pql_point *p = arena_alloc(q->a, (d->n + s[i].n) * sizeof(*p));
			if (!p)
				return ev_nomem(q);
			memcpy(p, d->pts, d->n * sizeof(*p));
			memcpy(p + d->n, s[i].pts, s[i].n * sizeof(*p));
			d->pts = p;
			d->n += s[i].n;
			qsort(d->pts, d->n, sizeof(*p), cmp_point);
			for (size_t j = 1; j < d->n; j++)
				if (d->pts[j].t == d->pts[j - 1].t)
					return ev_fail(q, TS_ERR_EXEC,
						       "vector cannot contain metrics with the same labelset");
			continue;
		}
		s[k++] = s[i];
	}
	*n = k;
	return 0;
}

/*
 * Samples of an anchored/smoothed range at [mint, maxt]: a point at mint
 * (the last sample at or before it, or interpolated when smoothed), the
 * samples strictly inside, and a point at maxt. Returns the count.
 */
static size_t extend_floats(const int64_t *t, const double *v, size_t n, int64_t mint,
			    int64_t maxt, bool smoothed, struct pql_point *out)
{
	size_t last = n - 1, first, a = 0, b = last;
	while (a < b) { /* first index < last with t > mint */
		size_t m = (a + b) / 2;
		if (t[m] > mint)
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
			if (t[m] >= maxt)
				b = m;
			else
				a = m + 1;
		}
		last = a;
	}
	if (t[last] <= mint)
		return 0;
	double left = v[first], right = v[last];
	if (smoothed && t[first] < mint && first + 1 < n)
		left = v[first] + (v[first + 1] - v[first]) * (double)(mint - t[first]) /
					  (double)(t[first + 1] - t[first]);
	if (smoothed && last > 0 && t[last] > maxt)
		right = v[last - 1] + (v[last] - v[last - 1]) * (double)(maxt - t[last - 1]) /
					     (double)(t[last] - t[last - 1]);
	if (t[first] <= mint)
		first++;
	if (t[last] >= maxt && last > 0)
		last--;
	else if (t[last] >= maxt)
		first = last + 1;
	size_t k = 0;
	out[k].t = mint;
	out[k++].v = left;
	for (size_t j = first; j <= last && j < n; j++) {
		out[k].t = t[j];
		out[k++].v = v[j];
	}
	out[k].t = maxt;
	out[k++].v = right;
	return k;
}

static int matrix_result(struct ev *ev, const struct rng *m, struct pql_result *res)
{
	struct qctx *q = ev->q;
	struct pql_series *out = arena_calloc(q->a, m->n ? m->n : 1, sizeof(*out));
	size_t k = 0;
	int rc;
	if (!out)
		return ev_nomem(q);
	for (size_t si = 0; si < m->n; si++) {
		size_t lo, hi;
		rng_window(ev, m, &m->s[si], 0, &lo, &hi);
		if (hi == lo)
			continue;
		if (m->anchored || m->smoothed) {
			if ((rc = finish_labels(q, &m->s[si].ls, m->s[si].drop_name, &out[k].labels)))
				return rc;
			out[k].pts = arena_alloc(q->a, (hi - lo + 2) * sizeof(struct pql_point));
			if (!out[k].pts)
				return ev_nomem(q);
			out[k].n = extend_floats(m->s[si].t + lo, m->s[si].v + lo, hi - lo,
						 rng_ref(ev, m, 0) - m->range, rng_ref(ev, m, 0),
						 m->smoothed, out[k].pts);
			if (out[k].n)
				k++;
			continue;
		}
		if ((rc = finish_labels(q, &m->s[si].ls, m->s[si].drop_name, &out[k].labels)))
			return rc;
		out[k].pts = arena_alloc(q->a, (hi - lo) * sizeof(struct pql_point));
		if (!out[k].pts)
			return ev_nomem(q);
		for (size_t j = lo; j < hi; j++) {
			out[k].pts[j - lo].t = m->s[si].t[j];
			out[k].pts[j - lo].v = m->s[si].v[j];
		}
		out[k].n = hi - lo;
		k++;
	}
	if ((rc = matrix_sort_merge(q, out, &k)))
		return rc;
	res->type = PQL_MATRIX;
	res->u.matrix.s = out;
	res->u.matrix.n = k;
	return 0;
}

static int build_result(struct ev *ev, const struct val *v, bool range, struct pql_result *res)
{
	struct qctx *q = ev->q;
	int rc;
	if (v->type == PQL_STRING) {
		res->type = PQL_STRING;
		res->u.string.t = ev->start;
		res->u.string.s = dup_str(q, v->str);
		return res->u.string.s ? 0 : ev_nomem(q);
	}
	if (v->type == PQL_MATRIX)
		return matrix_result(ev, &v->m, res);
	if (!range && v->type == PQL_SCALAR) {
		res->type = PQL_SCALAR;
		res->u.scalar.t = ev->start;
		res->u.scalar.v = v->sc[0];
		return 0;
	}
	if (!range) {
		struct pql_sample *o = arena_calloc(q->a, v->n ? v->n : 1, sizeof(*o));
		size_t k = 0;
		if (!o)
			return ev_nomem(q);
		for (size_t i = 0; i < v->n; i++) {
			if (!v->s[i].ok[0])
				continue;
			if ((rc = finish_labels(q, &v->s[i].ls, v->s[i].drop_name, &o[k].labels)))
				return rc;
			o[k].t = ev->start;
			o[k].v = v->s[i].v[0];
			k++;
		}
		/* duplicates after dropping names */
		if (k > 1) {
			struct vbuild b;
			vb_init(&b, ev);
			for (size_t i = 0; i < k; i++) {
				struct vser *s = vb_series(&b, &o[i].labels, false);
				if (!s) {
					free(b.tab);
					return ev_nomem(q);
				}
				if (s->ok[0]) {
					free(b.tab);
					return ev_fail(q, TS_ERR_EXEC,
						       "vector cannot contain metrics with the same labelset");
				}
				s->ok[0] = 1;
			}
			free(b.tab);
		}
		res->type = PQL_VECTOR;
		res->u.vector.v = o;
		res->u.vector.n = k;
		return 0;
	}
	/* range query: a matrix */
	size_t ns = v->type == PQL_SCALAR ? 1 : v->n;
	struct pql_series *out = arena_calloc(q->a, ns ? ns : 1, sizeof(*out));
	size_t k = 0;
	if (!out)
		return ev_nomem(q);
	for (size_t si = 0; si < ns; si++) {
		size_t cnt = 0;
		if (v->type == PQL_SCALAR) {
			out[k].labels.v = NULL;
			out[k].labels.n = 0;
			cnt = ev->nsteps;
		} else {
			for (size_t i = 0; i < ev->nsteps; i++)
				cnt += v->s[si].ok[i];
			if (!cnt)
				continue;
			if ((rc = finish_labels(q, &v->s[si].ls, v->s[si].drop_name, &out[k].labels)))
				return rc;
		}
		out[k].pts = arena_alloc(q->a, cnt * sizeof(struct pql_point));
		if (!out[k].pts)
			return ev_nomem(q);
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (v->type == PQL_SCALAR) {
				out[k].pts[out[k].n].t = ev_ts(ev, i);
				out[k].pts[out[k].n++].v = v->sc[i];
			} else if (v->s[si].ok[i]) {
				out[k].pts[out[k].n].t = ev_ts(ev, i);
				out[k].pts[out[k].n++].v = v->s[si].v[i];
			}
		}
		k++;
	}
	if ((rc = matrix_sort_merge(q, out, &k)))
		return rc;
	res->type = PQL_MATRIX;
	res->u.matrix.s = out;
	res->u.matrix.n = k;
	return 0;
}

/* ------------------------------------------------------------ entry points */

static const char *type_desc(enum pql_type t)
{
	switch (t) {
	case PQL_SCALAR: return "scalar";
	case PQL_STRING: return "string";
	case PQL_VECTOR: return "instant vector";
	case PQL_MATRIX: return "range vector";
	default: return "none";
	}
}

static int exec(struct db *db, const char *query, int64_t start, int64_t end, int64_t step,
		bool range, const struct pql_opts *opts, struct pql_result *out, struct ts_error *err)
{
	struct qctx q;
	struct ts_error lerr;
	struct pql_node *root = NULL;
	int rc;
	if (!err)
		err = &lerr;
	ts_error_clear(err);
	memset(out, 0, sizeof(*out));
	memset(&q, 0, sizeof(q));
	q.err = err;
	q.query = query;
	if (opts)
		q.opts = *opts;
	if (q.opts.lookback_ms <= 0)
		q.opts.lookback_ms = 300000;
	if (q.opts.max_samples <= 0)
		q.opts.max_samples = 50000000;
	if (q.opts.timeout_ms <= 0)
		q.opts.timeout_ms = 120000;
	if (q.opts.subquery_step_ms <= 0)
		q.opts.subquery_step_ms = 60000;
	q.deadline_ns = now_ns() + q.opts.timeout_ms * 1000000LL;
	q.qstart = start;
	q.is_range = range;
	q.qstep = range ? step : 0;
	q.qend = end;
	q.a = arena_new(0);
	if (!q.a)
		return ts_error_set(err, TS_ERR_NOMEM, "out of memory");

	rc = pql_parse(query, q.a, &root, err);
	if (rc)
		goto fail;
	if (range && root->type != PQL_SCALAR && root->type != PQL_VECTOR) {
		rc = ts_error_set(err, TS_ERR_INVALID,
				  "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
				  type_desc(root->type));
		goto fail;
	}
	rc = pql_ast_resolve_durations(root, range ? step : 0, range ? end - start : 0, err);
	if (rc)
		goto fail;
	q.qr = db_querier(db);
	if (!q.qr) {
		rc = ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (range && (end - start) / step >= q.opts.max_samples) {
		rc = ts_error_set(err, TS_ERR_LIMIT,
				  "query processing would load too many samples into memory in query execution");
		goto fail;
	}
	struct ev ev = { &q, start, end, range ? step : 1, 0 };
	ev.nsteps = range ? (size_t)((end - start) / step) + 1 : 1;
	struct val v;
	rc = ev_eval(&ev, root, &v);
	if (!rc)
		rc = build_result(&ev, &v, range, out);
	if (rc)
		goto fail;
	out->warnings = q.warns;
	out->nwarnings = q.nwarns;
	out->infos = q.infos;
	out->ninfos = q.ninfos;
	out->arena = q.a;
	release_sets(&q, 0);
	free(q.sets);
	querier_free(q.qr);
	pql_ast_release(root);
	return 0;
fail:
	if (err->code == 0)
		ts_error_set(err, rc, "%s", ts_strerror(rc));
	release_sets(&q, 0);
	free(q.sets);
	querier_free(q.qr);
	pql_ast_release(root);
	arena_free(q.a);
	memset(out, 0, sizeof(*out));
	return rc;
}

int pql_exec_instant(struct db *db, const char *query, int64_t t_ms, const struct pql_opts *opts,
		     struct pql_result *out, struct ts_error *err)
{
	return exec(db, query, t_ms, t_ms, 1, false, opts, out, err);
}

int pql_exec_range(struct db *db, const char *query, int64_t start_ms, int64_t end_ms,
		   int64_t step_ms, const struct pql_opts *opts, struct pql_result *out,
		   struct ts_error *err)
{
	if (step_ms <= 0 || end_ms < start_ms) {
		memset(out, 0, sizeof(*out));
		return ts_error_set(err, TS_ERR_INVALID, "%s",
				    step_ms <= 0 ? "zero or negative query resolution step widths are not accepted. Try a positive integer"
						 : "end timestamp must not be before start time");
	}
	return exec(db, query, start_ms, end_ms, step_ms, true, opts, out, err);
}
