/*
 * aggregate.c - aggregation operators: sum avg count min max group stddev
 * stdvar quantile topk bottomk count_values.
 *
 * Input series are mapped once to groups (by the `by` labels, or all
 * labels but the `without` ones and __name__); then, step by step, every
 * present sample is folded into its group's state. Group output order is
 * the order of first appearance, as in Prometheus. Sums use Kahan-Neumaier
 * compensation and avg switches to an incremental mean when the running
 * sum would overflow, both as Prometheus does, so results agree to the
 * last bit on the conformance data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "promql/engine_int.h"

/* Kahan-Neumaier compensated add: returns the new sum, updates *c. */
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

/* NaN sorts first, like Prometheus's value heap ordering. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	if (isnan(x))
		return isnan(y) ? 0 : -1;
	if (isnan(y))
		return 1;
	return x < y ? -1 : x > y;
}

double pql_quantile(double q, double *vals, size_t n)
{
	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(vals, n, sizeof(double), cmp_double);
	double rank = q * (double)(n - 1);
	double lo = fmax(0, floor(rank));
	double hi = fmin((double)n - 1, lo + 1);
	double w = rank - floor(rank);
	return vals[(size_t)lo] * (1 - w) + vals[(size_t)hi] * w;
}

/* Per-group state at one step. */
struct group {
	bool seen;        /* has a sample at this step */
	double value;     /* running value */
	double mean;      /* running mean (avg, stddev) */
	double comp;      /* Kahan compensation */
	double count;     /* samples folded */
	bool incremental; /* avg switched to incremental mean */
	bool drop_name;   /* some input drops __name__ */
	double *heap;     /* quantile: collected values */
	size_t nheap;
};

/* Output labels of a group for series labels ls. */
static struct labels group_labels(struct qctx *q, const struct pql_aggregate *ag,
				  const struct labels *ls)
{
	if (ag->without) {
		struct labels t = lbl_del(q, ls, ag->grouping, ag->ngrouping);
		return lbl_drop_name(q, &t);
	}
	if (ag->ngrouping)
		return lbl_keep(q, ls, ag->grouping, ag->ngrouping);
	struct labels e = { NULL, 0 };
	return e;
}

/* Map every input series to a group index; *ngroups and labels out. */
static int make_groups(struct ev *ev, const struct pql_aggregate *ag, const struct val *in,
		       size_t **map, struct labels **glabels, size_t *ngroups)
{
	struct qctx *q = ev->q;
	struct vbuild b;
	*map = arena_alloc(q->a, (in->n ? in->n : 1) * sizeof(size_t));
	if (!*map)
		return ev_nomem(q);
	vb_init(&b, ev);
	for (size_t k = 0; k < in->n; k++) {
		struct labels gl = group_labels(q, ag, &in->s[k].ls);
		struct vser *s = vb_series(&b, &gl, false);
		if (!s) {
			free(b.tab);
			return ev_nomem(q);
		}
		(*map)[k] = (size_t)(s - b.s);
	}
	*ngroups = b.n;
	*glabels = arena_alloc(q->a, (b.n ? b.n : 1) * sizeof(struct labels));
	if (!*glabels) {
		free(b.tab);
		return ev_nomem(q);
	}
	for (size_t g = 0; g < b.n; g++)
		(*glabels)[g] = b.s[g].ls;
	free(b.tab);
	return 0;
}

/* ---- topk / bottomk: a replica of Go's container/heap and sort.Sort,
 * so that ties come out in the same order as in Prometheus. */

struct kheap {
	size_t *idx;  /* series indexes */
	double *v;    /* their values */
	size_t n;     /* elements */
	bool bottom;  /* bottomk: reverse ordering */
};

static bool kh_less(const struct kheap *h, size_t i, size_t j)
{
	double vi = h->v[i], vj = h->v[j];
	if (isnan(vi))
		return true;
	return h->bottom ? vi > vj : vi < vj;
}

static void kh_swap(struct kheap *h, size_t i, size_t j)
{
	size_t ti = h->idx[i];
	double tv = h->v[i];
	h->idx[i] = h->idx[j];
	h->v[i] = h->v[j];
	h->idx[j] = ti;
	h->v[j] = tv;
}

static void kh_up(struct kheap *h, size_t j)
{
	while (j > 0) {
		size_t i = (j - 1) / 2;
		if (!kh_less(h, j, i))
			break;
		kh_swap(h, i, j);
		j = i;
	}
}

static bool kh_down(struct kheap *h, size_t i0, size_t n)
{
	size_t i = i0;
	for (;;) {
		size_t j1 = 2 * i + 1;
		if (j1 >= n)
			break;
		size_t j = j1;
		if (j1 + 1 < n && kh_less(h, j1 + 1, j1))
			j = j1 + 1;
		if (!kh_less(h, j, i))
			break;
		kh_swap(h, i, j);
		i = j;
	}
	return i > i0;
}

/* sort.Sort(sort.Reverse(h)): insertion sort for small n, as Go does. */
static void kh_sort_reverse(struct kheap *h)
{
	for (size_t i = 1; i < h->n; i++)
		for (size_t j = i; j > 0 && kh_less(h, j - 1, j); j--)
			kh_swap(h, j, j - 1);
}

static int agg_topk(struct ev *ev, struct pql_node *n, const struct val *in, const double *param,
		    struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_aggregate *ag = &n->u.agg;
	size_t *map, ng;
	struct labels *gl;
	int rc = make_groups(ev, ag, in, &map, &gl, &ng);
	if (rc)
		return rc;
	double maxp = -INFINITY;
	for (size_t i = 0; i < ev->nsteps; i++) {
		/* a NaN makes Prometheus's max NaN: it never short-cuts */
		if (isnan(param[i]))
			return ev_fail(q, TS_ERR_EXEC, "Parameter value is NaN");
		if (param[i] > maxp)
			maxp = param[i];
	}
	struct vbuild b;
	vb_init(&b, ev);
	if (maxp < 1) {
		vb_finish(&b, out);
		return 0;
	}
	for (size_t i = 0; i < ev->nsteps; i++) {
		char num[64];
		pql_fmt_g(param[i], num, sizeof(num));
		if (param[i] >= 9.2233720368547758e18)
			return ev_fail(q, TS_ERR_EXEC, "Scalar value %s overflows int64", num);
		if (param[i] <= -9.2233720368547758e18)
			return ev_fail(q, TS_ERR_EXEC, "Scalar value %s underflows int64", num);
	}
	struct kheap *hs = arena_calloc(q->a, ng ? ng : 1, sizeof(*hs));
	if (!hs)
		return ev_nomem(q);
	for (size_t g = 0; g < ng; g++) {
		hs[g].idx = arena_alloc(q->a, (in->n + 1) * sizeof(size_t));
		hs[g].v = arena_alloc(q->a, (in->n + 1) * sizeof(double));
		hs[g].bottom = ag->op == PQL_AGG_BOTTOMK;
		if (!hs[g].idx || !hs[g].v)
			return ev_nomem(q);
	}
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		int64_t k = (int64_t)param[i];
		if (k > (int64_t)in->n)
			k = (int64_t)in->n;
		if (k < 1)
			continue;
		for (size_t g = 0; g < ng; g++)
			hs[g].n = 0;
		for (size_t s = 0; s < in->n; s++) {
			if (!in->s[s].ok[i])
				continue;
			struct kheap *h = &hs[map[s]];
			double v = in->s[s].v[i];
			if ((int64_t)h->n < k) {
				h->idx[h->n] = s;
				h->v[h->n] = v;
				h->n++;
				kh_up(h, h->n - 1);
			} else if ((h->bottom ? h->v[0] > v : h->v[0] < v) ||
				   (isnan(h->v[0]) && !isnan(v))) {
				h->idx[0] = s;
				h->v[0] = v;
				if (k > 1 && !kh_down(h, 0, h->n))
					kh_up(h, 0);
			}
		}
		for (size_t g = 0; g < ng && !rc; g++) {
			struct kheap *h = &hs[g];
			if (h->n > 1)
				kh_sort_reverse(h);
			for (size_t j = 0; j < h->n && !rc; j++) {
				const struct vser *s = &in->s[h->idx[j]];
				rc = vb_add(&b, &s->ls, s->drop_name, i, h->v[j]);
			}
		}
	}
	vb_finish(&b, out);
	return rc;
}

/* Go's strconv.FormatFloat(v, 'f', -1, 64). */
static void format_float_f(double v, char *buf, size_t cap)
{
	char tmp[64];
	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	int p;
	for (p = 0; p < 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* tmp = [-]d.ddde[+-]XX: rebuild as fixed notation */
	char digits[32];
	size_t nd = 0;
	const char *s = tmp;
	bool neg = *s == '-';
	if (neg)
		s++;
	for (; *s && *s != 'e'; s++)
		if (*s != '.')
			digits[nd++] = *s;
	int exp = atoi(s + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	size_t o = 0;
	if (neg)
		buf[o++] = '-';
	int point = exp + 1; /* digits before the decimal point */
	if (point <= 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (int i = 0; i < -point && o < cap - 2; i++)
			buf[o++] = '0';
		for (size_t i = 0; i < nd && o < cap - 1; i++)
			buf[o++] = digits[i];
	} else {
		for (int i = 0; i < point && o < cap - 2; i++)
			buf[o++] = (size_t)i < nd ? digits[i] : '0';
		if ((size_t)point < nd) {
			buf[o++] = '.';
			for (size_t i = (size_t)point; i < nd && o < cap - 1; i++)
				buf[o++] = digits[i];
		}
	}
	buf[o] = '\0';
}

static int agg_count_values(struct ev *ev, struct pql_node *n, const struct val *in,
			    const char *label, struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_aggregate *ag = &n->u.agg;
	if (!*label || !utf8_valid(label, strlen(label))) {
		/* quoted the way Go's %q shows it: invalid bytes as \xNN */
		char quoted[256];
		size_t o = 0;
		for (const unsigned char *p = (const unsigned char *)label; *p && o + 5 < sizeof(quoted); p++) {
			if (*p == '"' || *p == '\\') {
				quoted[o++] = '\\';
				quoted[o++] = (char)*p;
			} else if (*p < 0x20 || *p >= 0x7f) {
				o += (size_t)snprintf(quoted + o, sizeof(quoted) - o, "\\x%02x", *p);
			} else {
				quoted[o++] = (char)*p;
			}
		}
		quoted[o] = '\0';
		return ev_fail(q, TS_ERR_EXEC, "invalid label name \"%s\"", quoted);
	}
	const char **grouping = (const char **)ag->grouping;
	size_t ngrouping = ag->ngrouping;
	if (!ag->without) {
		grouping = arena_alloc(q->a, (ngrouping + 1) * sizeof(char *));
		if (!grouping)
			return ev_nomem(q);
		if (ngrouping)
			memcpy(grouping, ag->grouping, ngrouping * sizeof(char *));
		grouping[ngrouping++] = label;
	}
	struct pql_aggregate tmp = *ag;
	tmp.grouping = grouping;
	tmp.ngrouping = ngrouping;
	struct vbuild b;
	int rc = 0;
	vb_init(&b, ev);
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		for (size_t s = 0; s < in->n && !rc; s++) {
			char num[64];
			if (!in->s[s].ok[i])
				continue;
			format_float_f(in->s[s].v[i], num, sizeof(num));
			const char *val = arena_strdup(q->a, num);
			struct labels m = lbl_set(q, &in->s[s].ls, label, val);
			struct labels g = group_labels(q, &tmp, &m);
			struct vser *o = vb_series(&b, &g, false);
			if (!o || !val) {
				rc = ev_nomem(q);
				break;
			}
			if (!o->ok[i]) {
				o->ok[i] = 1;
				o->v[i] = 0;
			}
			o->v[i] += 1;
		}
	}
	vb_finish(&b, out);
	return rc;
}

/*
 * Prometheus's labels.Hash() for the default (string) label layout:
 * XXH64 over every name and value, each preceded by its varint length.
 */
static uint64_t prom_labels_hash(const struct labels *ls)
{
	XXH64_state_t *st = XXH64_createState();
	uint64_t h;
	if (!st)
		return 0;
	XXH64_reset(st, 0);
	for (size_t i = 0; i < ls->n; i++) {
		const char *parts[2] = { ls->v[i].name, ls->v[i].value };
		for (int j = 0; j < 2; j++) {
			unsigned char vb[10];
			size_t len = strlen(parts[j]), nb = 0;
			do {
				vb[nb] = (unsigned char)(len & 0x7f);
				len >>= 7;
				if (len)
					vb[nb] |= 0x80;
				nb++;
			} while (len);
			XXH64_update(st, vb, nb);
			XXH64_update(st, parts[j], strlen(parts[j]));
		}
	}
	h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

/* limitk: the first k series of each group; limit_ratio: a stable
 * hash-based sample of about |r| of the series. */
static int agg_limit(struct ev *ev, struct pql_node *n, const struct val *in, const double *param,
		     struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_aggregate *ag = &n->u.agg;
	bool ratio = ag->op == PQL_AGG_LIMIT_RATIO;
	size_t *map, ng;
	struct labels *gl;
	int rc = make_groups(ev, ag, in, &map, &gl, &ng);
	if (rc)
		return rc;
	double mx = -INFINITY, mn = INFINITY;
	for (size_t i = 0; i < ev->nsteps; i++) {
		mx = fmax(mx, param[i]);
		mn = fmin(mn, param[i]);
	}
	struct vbuild b;
	for (size_t i = 0; i < ev->nsteps; i++)
		if (isnan(param[i]))
			return ev_fail(q, TS_ERR_EXEC, ratio ? "Ratio value is NaN" : "Parameter value is NaN");
	vb_init(&b, ev);
	if (ratio ? (mx == 0 && mn == 0) : mx < 1) {
		vb_finish(&b, out);
		return 0;
	}
	if (ratio) {
		char a[64], c[64];
		if (mx > 1) {
			pql_fmt_g(mx, a, sizeof(a));
			pql_fmt_g(1.0, c, sizeof(c));
			ev_warn(q, ag->param, "ratio value should be between -1 and 1, got %s, capping to %s", a, c);
		}
		if (mn < -1) {
			pql_fmt_g(mn, a, sizeof(a));
			pql_fmt_g(-1.0, c, sizeof(c));
			ev_warn(q, ag->param, "ratio value should be between -1 and 1, got %s, capping to %s", a, c);
		}
	}
	double *offs = NULL;
	if (ratio) {
		offs = arena_alloc(q->a, (in->n ? in->n : 1) * sizeof(double));
		if (!offs)
			return ev_nomem(q);
		for (size_t s = 0; s < in->n; s++)
			offs[s] = (double)prom_labels_hash(&in->s[s].ls) / 18446744073709551615.0;
	}
	size_t *cnt = arena_alloc(q->a, (ng ? ng : 1) * sizeof(size_t));
	if (!cnt)
		return ev_nomem(q);
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		int64_t k = (int64_t)param[i];
		double r = param[i] < -1 ? -1 : param[i] > 1 ? 1 : param[i];
		if (!ratio && k > (int64_t)in->n)
			k = (int64_t)in->n;
		if (ratio ? r == 0 : k < 1)
			continue;
		memset(cnt, 0, ng * sizeof(size_t));
		for (size_t s = 0; s < in->n && !rc; s++) {
			if (!in->s[s].ok[i])
				continue;
			if (ratio) {
				if (!((r >= 0 && offs[s] < r) || (r < 0 && offs[s] >= 1.0 + r)))
					continue;
			} else if ((int64_t)cnt[map[s]] >= k) {
				continue;
			}
			cnt[map[s]]++;
			rc = vb_add(&b, &in->s[s].ls, in->s[s].drop_name, i, in->s[s].v[i]);
		}
	}
	vb_finish(&b, out);
	return rc;
}

int ev_aggregate(struct ev *ev, struct pql_node *n, struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_aggregate *ag = &n->u.agg;
	struct val in, pv;
	int rc;
	memset(&pv, 0, sizeof(pv));
	if (ag->param && (rc = ev_eval(ev, ag->param, &pv)))
		return rc;
	if ((rc = ev_eval(ev, ag->expr, &in)))
		return rc;
	if (ag->op == PQL_AGG_COUNT_VALUES)
		return agg_count_values(ev, n, &in, pv.str, out);
	if (ag->op == PQL_AGG_TOPK || ag->op == PQL_AGG_BOTTOMK)
		return agg_topk(ev, n, &in, pv.sc, out);
	if (ag->op == PQL_AGG_LIMITK || ag->op == PQL_AGG_LIMIT_RATIO)
		return agg_limit(ev, n, &in, pv.sc, out);
	if (ag->op == PQL_AGG_QUANTILE) {
		double mx = -INFINITY, mn = INFINITY;
		bool nan = false;
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (isnan(pv.sc[i]))
				nan = true;
			mx = fmax(mx, pv.sc[i]);
			mn = fmin(mn, pv.sc[i]);
		}
		char b[64];
		if (nan)
			ev_warn(q, ag->param, "quantile value should be between 0 and 1, got NaN");
		if (mx > 1) {
			pql_fmt_g(mx, b, sizeof(b));
			ev_warn(q, ag->param, "quantile value should be between 0 and 1, got %s", b);
		}
		if (mn < 0) {
			pql_fmt_g(mn, b, sizeof(b));
			ev_warn(q, ag->param, "quantile value should be between 0 and 1, got %s", b);
		}
	}
	size_t *map, ng;
	struct labels *gl;
	if ((rc = make_groups(ev, ag, &in, &map, &gl, &ng)))
		return rc;
	struct vser *o = vser_alloc(ev, ng);
	struct group *gs = arena_calloc(q->a, ng ? ng : 1, sizeof(*gs));
	if (!o || !gs)
		return ev_nomem(q);
	if (ag->op == PQL_AGG_QUANTILE)
		for (size_t g = 0; g < ng; g++)
			if (!(gs[g].heap = arena_alloc(q->a, (in.n + 1) * sizeof(double))))
				return ev_nomem(q);
	for (size_t g = 0; g < ng; g++)
		o[g].ls = gl[g];
	for (size_t i = 0; i < ev->nsteps; i++) {
		if ((rc = ev_check(q)))
			return rc;
		for (size_t g = 0; g < ng; g++)
			gs[g].seen = false;
		for (size_t s = 0; s < in.n; s++) {
			if (!in.s[s].ok[i])
				continue;
			double f = in.s[s].v[i];
			struct group *g = &gs[map[s]];
			if (!g->seen) {
				double *heap = g->heap;
				memset(g, 0, sizeof(*g));
				g->heap = heap;
				g->seen = true;
				g->value = f;
				g->mean = f;
				g->count = 1;
				g->drop_name = in.s[s].drop_name;
				switch (ag->op) {
				case PQL_AGG_STDDEV:
				case PQL_AGG_STDVAR:
					g->value = (isnan(f) || isinf(f)) ? NAN : 0;
					break;
				case PQL_AGG_QUANTILE:
					g->heap[0] = f;
					g->nheap = 1;
					break;
				case PQL_AGG_GROUP:
					g->value = 1;
					break;
				default:
					break;
				}
				continue;
			}
			if (in.s[s].drop_name)
				g->drop_name = true;
			switch (ag->op) {
			case PQL_AGG_SUM:
				g->value = kahan_inc(f, g->value, &g->comp);
				break;
			case PQL_AGG_AVG:
				g->count++;
				if (!g->incremental) {
					double c = g->comp;
					double nv = kahan_inc(f, g->value, &c);
					if (!isinf(nv)) {
						g->value = nv;
						g->comp = c;
						break;
					}
					g->incremental = true;
					g->mean = g->value / (g->count - 1);
					g->comp /= g->count - 1;
				}
				{
					double qq = (g->count - 1) / g->count;
					double c = qq * g->comp;
					g->mean = kahan_inc(f / g->count, qq * g->mean, &c);
					g->comp = c;
				}
				break;
			case PQL_AGG_GROUP:
				break;
			case PQL_AGG_MAX:
				if (g->value < f || isnan(g->value))
					g->value = f;
				break;
			case PQL_AGG_MIN:
				if (g->value > f || isnan(g->value))
					g->value = f;
				break;
			case PQL_AGG_COUNT:
				g->count++;
				break;
			case PQL_AGG_STDDEV:
			case PQL_AGG_STDVAR: {
				g->count++;
				double delta = f - g->mean;
				g->mean += delta / g->count;
				g->value += delta * (f - g->mean);
				break;
			}
			case PQL_AGG_QUANTILE:
				g->heap[g->nheap++] = f;
				break;
			default:
				break;
			}
		}
		for (size_t gi = 0; gi < ng; gi++) {
			struct group *g = &gs[gi];
			double v = g->value;
			if (!g->seen)
				continue;
			switch (ag->op) {
			case PQL_AGG_AVG:
				v = g->incremental ? g->mean + g->comp
						   : g->value / g->count + g->comp / g->count;
				break;
			case PQL_AGG_COUNT:
				v = g->count;
				break;
			case PQL_AGG_STDVAR:
				v = g->value / g->count;
				break;
			case PQL_AGG_STDDEV:
				v = sqrt(g->value / g->count);
				break;
			case PQL_AGG_QUANTILE:
				v = pql_quantile(pv.sc[i], g->heap, g->nheap);
				break;
			case PQL_AGG_SUM:
				v = g->value + g->comp;
				break;
			default:
				break;
			}
			o[gi].v[i] = v;
			o[gi].ok[i] = 1;
			if (g->drop_name)
				o[gi].drop_name = true;
		}
	}
	memset(out, 0, sizeof(*out));
	out->type = PQL_VECTOR;
	out->s = o;
	out->n = ng;
	return 0;
}
