/*
 * binop.c - binary operators: arithmetic, comparisons (with and without
 * `bool`), atan2 and the set operators and/or/unless, between scalars and
 * instant vectors, with vector matching (on/ignoring, group_left/right).
 *
 * Vector/vector operations work step by step, like Prometheus: at each
 * step the right-hand ("one") side is indexed by matching signature and
 * each left-hand sample looks up its partner. Signatures are computed once
 * per series. group_right is handled by swapping the sides and swapping
 * the operands back when computing the value.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine_int.h"

static bool is_cmp(enum pql_binop op)
{
	return pql_binop_is_comparison(op);
}

/* Arithmetic and atan2 change the meaning of a metric (Prometheus's
 * changesMetricSchema). */
static bool changes_schema(enum pql_binop op)
{
	switch (op) {
	case PQL_OP_ADD: case PQL_OP_SUB: case PQL_OP_MUL: case PQL_OP_DIV:
	case PQL_OP_MOD: case PQL_OP_POW: case PQL_OP_ATAN2:
		return true;
	default:
		return false;
	}
}

/* Value of lhs op rhs; *keep says whether a comparison holds. */
static double elem_op(enum pql_binop op, double l, double r, bool *keep)
{
	*keep = true;
	switch (op) {
	case PQL_OP_ADD: return l + r;
	case PQL_OP_SUB: return l - r;
	case PQL_OP_MUL: return l * r;
	case PQL_OP_DIV: return l / r;
	case PQL_OP_POW: return pow(l, r);
	case PQL_OP_MOD: return fmod(l, r);
	case PQL_OP_ATAN2: return atan2(l, r);
	case PQL_OP_EQLC: *keep = l == r; return l;
	case PQL_OP_NEQ: *keep = l != r; return l;
	case PQL_OP_GTR: *keep = l > r; return l;
	case PQL_OP_LSS: *keep = l < r; return l;
	case PQL_OP_GTE: *keep = l >= r; return l;
	case PQL_OP_LTE: *keep = l <= r; return l;
	default: *keep = false; return 0;
	}
}

static int scalar_scalar(struct ev *ev, const struct pql_binary *b, struct val *l, struct val *r,
			 struct val *out)
{
	memset(out, 0, sizeof(*out));
	out->type = PQL_SCALAR;
	out->sc = l->sc;
	for (size_t i = 0; i < ev->nsteps; i++) {
		bool keep;
		double v = elem_op(b->op, l->sc[i], r->sc[i], &keep);
		out->sc[i] = is_cmp(b->op) ? (keep ? 1 : 0) : v;
	}
	return 0;
}

static int vector_scalar(struct ev *ev, const struct pql_binary *b, struct val *vec, double *sc,
			 bool swap, struct val *out)
{
	struct vser *o = vser_alloc(ev, vec->n);
	if (!o)
		return ev_nomem(ev->q);
	for (size_t k = 0; k < vec->n; k++) {
		const struct vser *s = &vec->s[k];
		o[k].ls = s->ls;
		o[k].drop_name = s->drop_name || changes_schema(b->op) || b->return_bool;
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (!s->ok[i])
				continue;
			double lv = s->v[i], rv = sc[i];
			bool keep;
			if (swap) {
				lv = sc[i];
				rv = s->v[i];
			}
			double v = elem_op(b->op, lv, rv, &keep);
			if (is_cmp(b->op) && swap)
				v = rv;
			if (b->return_bool) {
				v = keep ? 1 : 0;
				keep = true;
			}
			if (!keep)
				continue;
			o[k].v[i] = v;
			o[k].ok[i] = 1;
		}
	}
	memset(out, 0, sizeof(*out));
	out->type = PQL_VECTOR;
	out->s = o;
	out->n = vec->n;
	return 0;
}

/* Signatures of every series of v for matching vm. */
static uint64_t *signatures(struct ev *ev, const struct val *v, const struct pql_vector_matching *vm)
{
	uint64_t *sig = arena_alloc(ev->q->a, (v->n ? v->n : 1) * sizeof(uint64_t));
	if (!sig)
		return NULL;
	for (size_t k = 0; k < v->n; k++)
		sig[k] = lbl_sig(&v->s[k].ls, vm->on, vm->labels, vm->nlabels, true);
	return sig;
}

/*
 * A small open-addressing map from signature to a long, cleared in O(1)
 * per step by bumping a generation: a slot is in use when its generation
 * is the current one.
 */
struct sigmap {
	uint64_t *key; /* signatures */
	long *val;     /* values */
	uint32_t *gen; /* generation of each slot */
	uint32_t cur;  /* current generation (>= 1) */
	size_t cap;    /* power of two */
};

static bool sigmap_init(struct sigmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < n * 2 + 2)
		m->cap *= 2;
	m->key = malloc(m->cap * sizeof(*m->key));
	m->val = malloc(m->cap * sizeof(*m->val));
	m->gen = calloc(m->cap, sizeof(*m->gen));
	m->cur = 1;
	if (!m->key || !m->val || !m->gen) {
		free(m->key);
		free(m->val);
		free(m->gen);
		return false;
	}
	return true;
}

static void sigmap_clear(struct sigmap *m)
{
	if (++m->cur == 0) { /* wrapped: really clear */
		memset(m->gen, 0, m->cap * sizeof(*m->gen));
		m->cur = 1;
	}
}

/* The slot for k, inserted when missing (*found says which). */
static long *sigmap_slot(struct sigmap *m, uint64_t k, bool *found)
{
	size_t h = (size_t)(k ^ (k >> 29)) & (m->cap - 1);
	while (m->gen[h] == m->cur) {
		if (m->key[h] == k) {
			*found = true;
			return &m->val[h];
		}
		h = (h + 1) & (m->cap - 1);
	}
	*found = false;
	m->key[h] = k;
	m->gen[h] = m->cur;
	m->val[h] = 0;
	return &m->val[h];
}

/* The value slot for k, or NULL. */
static long *sigmap_get(struct sigmap *m, uint64_t k)
{
	size_t h = (size_t)(k ^ (k >> 29)) & (m->cap - 1);
	while (m->gen[h] == m->cur) {
		if (m->key[h] == k)
			return &m->val[h];
		h = (h + 1) & (m->cap - 1);
	}
	return NULL;
}

static void sigmap_free(struct sigmap *m)
{
	free(m->key);
	free(m->val);
	free(m->gen);
}

static bool sigmap_has(struct sigmap *m, uint64_t k)
{
	return sigmap_get(m, k) != NULL;
}

static int set_op(struct ev *ev, const struct pql_binary *b, struct val *l, struct val *r,
		  struct val *out)
{
	struct qctx *q = ev->q;
	uint64_t *ls = signatures(ev, l, &b->vm), *rs = signatures(ev, r, &b->vm);
	struct sigmap m;
	struct vbuild vb;
	int rc = 0;
	bool found;
	long *li = arena_alloc(q->a, (l->n + 1) * sizeof(long));
	long *ri = arena_alloc(q->a, (r->n + 1) * sizeof(long));
	if (!ls || !rs || !li || !ri || !sigmap_init(&m, l->n + r->n))
		return ev_nomem(q);
	for (size_t k = 0; k < l->n; k++)
		li[k] = -1;
	for (size_t k = 0; k < r->n; k++)
		ri[k] = -1;
	vb_init(&vb, ev);
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		sigmap_clear(&m);
		if (b->op == PQL_OP_OR) {
			for (size_t k = 0; k < l->n && !rc; k++) {
				if (!l->s[k].ok[i])
					continue;
				*sigmap_slot(&m, ls[k], &found) = 1;
				rc = vb_add_cached(&vb, &li[k], &l->s[k].ls, l->s[k].drop_name, i,
						   l->s[k].v[i]);
			}
			for (size_t k = 0; k < r->n && !rc; k++) {
				if (!r->s[k].ok[i] || sigmap_has(&m, rs[k]))
					continue;
				rc = vb_add_cached(&vb, &ri[k], &r->s[k].ls, r->s[k].drop_name, i,
						   r->s[k].v[i]);
			}
			continue;
		}
		for (size_t k = 0; k < r->n; k++)
			if (r->s[k].ok[i])
				*sigmap_slot(&m, rs[k], &found) = 1;
		for (size_t k = 0; k < l->n && !rc; k++) {
			if (!l->s[k].ok[i])
				continue;
			bool has = sigmap_has(&m, ls[k]);
			if (b->op == PQL_OP_AND ? has : !has)
				rc = vb_add_cached(&vb, &li[k], &l->s[k].ls, l->s[k].drop_name, i,
						   l->s[k].v[i]);
		}
	}
	sigmap_free(&m);
	vb_finish(&vb, out);
	return rc;
}

static void fmt_labels_go(const struct labels *ls, char *buf, size_t cap)
{
	size_t n = 0;
	n += (size_t)snprintf(buf + n, cap - n, "{");
	for (size_t i = 0; i < ls->n && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s=\"%s\"", i ? ", " : "", ls->v[i].name,
				      ls->v[i].value);
	if (n < cap)
		snprintf(buf + n, cap - n, "}");
}

static struct labels match_labels(struct qctx *q, const struct labels *ls,
				  const struct pql_vector_matching *vm)
{
	if (vm->on)
		return lbl_keep(q, ls, vm->labels, vm->nlabels);
	struct labels t = lbl_del(q, ls, vm->labels, vm->nlabels);
	return lbl_drop_name(q, &t);
}

/* Result labels of a vector/vector operation (Prometheus's resultMetric). */
static struct labels result_labels(struct qctx *q, const struct pql_binary *b,
				   const struct labels *l, const struct labels *r)
{
	static const char *const meta[] = { LABEL_NAME, "__type__", "__unit__" };
	const struct pql_vector_matching *vm = &b->vm;
	struct labels out = *l;
	if (changes_schema(b->op))
		out = lbl_del(q, &out, meta, 3);
	if (vm->card == PQL_CARD_ONE_TO_ONE) {
		if (vm->on)
			out = lbl_keep(q, &out, vm->labels, vm->nlabels);
		else
			out = lbl_del(q, &out, vm->labels, vm->nlabels);
	}
	for (size_t i = 0; i < vm->ninclude; i++) {
		const char *v = labels_get(r, vm->include[i]);
		out = lbl_set(q, &out, vm->include[i], v);
	}
	return out;
}

/* State of one vector/vector operation. */
struct vv {
	struct ev *ev;                   /* timeline */
	const struct pql_binary *b;      /* the operation */
	bool swapped;                    /* group_right: sides swapped */
	struct sigmap matched, dups;     /* per-step matching bookkeeping */
	struct vbuild vb;                /* output */
	/* per left series, the last partner and what it produced, so that
	 * steady pairs cost no label work */
	long *partner;                   /* right index, -2 fill, -3 none yet */
	struct labels *metric;           /* result labels for that partner */
	uint64_t *mhash;                 /* their hash */
	long *oidx;                      /* output series index, -1 unknown */
};

/*
 * Apply the operator to one matched pair (Prometheus's doBinOp). k is the
 * left series index (or -1 for a fill_left pair), partner the right one.
 */
static int vv_pair(struct vv *x, size_t i, long k, long partner, const struct labels *lls, double fl,
		   bool ldrop, const struct labels *rls, double fr, uint64_t sig)
{
	struct qctx *q = x->ev->q;
	const struct pql_binary *b = x->b;
	bool keep, found;
	struct labels metric;
	uint64_t mh;
	if (x->swapped) {
		double t = fl;
		fl = fr;
		fr = t;
	}
	double v = elem_op(b->op, fl, fr, &keep);
	if (b->return_bool)
		v = keep ? 1 : 0;
	if (k >= 0 && x->partner[k] == partner) {
		metric = x->metric[k];
		mh = x->mhash[k];
	} else {
		metric = result_labels(q, b, lls, rls);
		if (!metric.v)
			return ev_nomem(q);
		mh = labels_hash(&metric);
		if (k >= 0) {
			x->partner[k] = partner;
			x->metric[k] = metric;
			x->mhash[k] = mh;
			x->oidx[k] = -1;
		}
	}
	long *ms = sigmap_slot(&x->matched, sig, &found);
	if (b->vm.card == PQL_CARD_ONE_TO_ONE) {
		if (found)
			return ev_fail(q, TS_ERR_EXEC,
				       "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
		*ms = 1;
	} else {
		*ms = 1;
		sigmap_slot(&x->dups, mh ^ (sig * 0x9e3779b97f4a7c15ULL), &found);
		if (found)
			return ev_fail(q, TS_ERR_EXEC,
				       "multiple matches for labels: grouping labels must ensure unique matches");
	}
	if (!keep && !b->return_bool)
		return 0;
	bool drop = b->return_bool || (!changes_schema(b->op) && ldrop);
	if (k >= 0 && x->oidx[k] >= 0) {
		struct vser *o = &x->vb.s[x->oidx[k]];
		if (o->ok[i])
			return ev_fail(q, TS_ERR_EXEC, "vector cannot contain metrics with the same labelset");
		o->ok[i] = 1;
		o->v[i] = v;
		return 0;
	}
	struct vser *o = vb_series(&x->vb, &metric, drop);
	if (!o)
		return ev_nomem(q);
	if (k >= 0)
		x->oidx[k] = o - x->vb.s;
	if (o->ok[i])
		return ev_fail(q, TS_ERR_EXEC, "vector cannot contain metrics with the same labelset");
	o->ok[i] = 1;
	o->v[i] = v;
	return 0;
}

static int vector_vector(struct ev *ev, const struct pql_binary *b, struct val *l, struct val *r,
			 struct val *out)
{
	struct qctx *q = ev->q;
	const struct pql_vector_matching *vm = &b->vm;
	struct vv x;
	memset(&x, 0, sizeof(x));
	x.ev = ev;
	x.b = b;
	x.swapped = vm->card == PQL_CARD_ONE_TO_MANY;
	if (x.swapped) {
		struct val *t = l;
		l = r;
		r = t;
	}
	uint64_t *ls = signatures(ev, l, vm), *rs = signatures(ev, r, vm);
	size_t nl = l->n ? l->n : 1;
	x.partner = arena_alloc(q->a, nl * sizeof(long));
	x.metric = arena_alloc(q->a, nl * sizeof(struct labels));
	x.mhash = arena_alloc(q->a, nl * sizeof(uint64_t));
	x.oidx = arena_alloc(q->a, nl * sizeof(long));
	struct sigmap rmap;
	int rc = 0;
	if (!ls || !rs || !x.partner || !x.metric || !x.mhash || !x.oidx)
		return ev_nomem(q);
	for (size_t k = 0; k < l->n; k++)
		x.partner[k] = -3;
	if (!sigmap_init(&rmap, r->n))
		return ev_nomem(q);
	if (!sigmap_init(&x.matched, l->n + r->n)) {
		sigmap_free(&rmap);
		return ev_nomem(q);
	}
	if (!sigmap_init(&x.dups, l->n + r->n)) {
		sigmap_free(&rmap);
		sigmap_free(&x.matched);
		return ev_nomem(q);
	}
	vb_init(&x.vb, ev);
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		bool found;
		if ((rc = ev_check(q)))
			break;
		sigmap_clear(&rmap);
		sigmap_clear(&x.matched);
		sigmap_clear(&x.dups);
		for (size_t k = 0; k < r->n; k++) {
			if (!r->s[k].ok[i])
				continue;
			long *sl = sigmap_slot(&rmap, rs[k], &found);
			if (found) {
				char a[512], bb[512], m[512];
				struct labels ml = match_labels(q, &r->s[k].ls, vm);
				/* the two series in label order, for a stable message */
				const struct labels *p1 = &r->s[k].ls, *p2 = &r->s[*sl].ls;
				if (labels_cmp(p1, p2) > 0) {
					const struct labels *t = p1;
					p1 = p2;
					p2 = t;
				}
				fmt_labels_go(&ml, m, sizeof(m));
				fmt_labels_go(p1, a, sizeof(a));
				fmt_labels_go(p2, bb, sizeof(bb));
				rc = ev_fail(q, TS_ERR_EXEC,
					     "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
					     m, x.swapped ? "left" : "right", a, bb);
				break;
			}
			*sl = (long)k;
		}
		for (size_t k = 0; k < l->n && !rc; k++) {
			const struct vser *L = &l->s[k];
			if (!L->ok[i])
				continue;
			long *sl = sigmap_get(&rmap, ls[k]);
			if (!sl) {
				if (!vm->has_fill_right)
					continue;
				struct labels fill_ls = match_labels(q, &L->ls, vm);
				rc = vv_pair(&x, i, (long)k, -2, &L->ls, L->v[i], L->drop_name, &fill_ls,
					     vm->fill_right, ls[k]);
				continue;
			}
			const struct vser *R = &r->s[*sl];
			rc = vv_pair(&x, i, (long)k, *sl, &L->ls, L->v[i], L->drop_name, &R->ls, R->v[i],
				     ls[k]);
		}
		if (vm->has_fill_left)
			for (size_t k = 0; k < r->n && !rc; k++) {
				const struct vser *R = &r->s[k];
				if (!R->ok[i] || sigmap_has(&x.matched, rs[k]))
					continue;
				struct labels fill_ls = match_labels(q, &R->ls, vm);
				rc = vv_pair(&x, i, -1, (long)k, &fill_ls, vm->fill_left, false, &R->ls,
					     R->v[i], rs[k]);
			}
	}
	vb_finish(&x.vb, out);
	sigmap_free(&x.dups);
	sigmap_free(&rmap);
	sigmap_free(&x.matched);
	return rc;
}

int ev_binary(struct ev *ev, struct pql_node *n, struct val *out)
{
	const struct pql_binary *b = &n->u.bin;
	struct val l, r;
	int rc;
	if ((rc = ev_eval(ev, b->lhs, &l)) || (rc = ev_eval(ev, b->rhs, &r)))
		return rc;
	if (l.type == PQL_SCALAR && r.type == PQL_SCALAR)
		return scalar_scalar(ev, b, &l, &r, out);
	if (l.type == PQL_VECTOR && r.type == PQL_SCALAR)
		return vector_scalar(ev, b, &l, r.sc, false, out);
	if (l.type == PQL_SCALAR && r.type == PQL_VECTOR)
		return vector_scalar(ev, b, &r, l.sc, true, out);
	if (l.type == PQL_VECTOR && r.type == PQL_VECTOR) {
		if (pql_binop_is_set(b->op))
			return set_op(ev, b, &l, &r, out);
		return vector_vector(ev, b, &l, &r, out);
	}
	return ev_fail(ev->q, TS_ERR_EXEC, "invalid operand types for binary operator");
}
