/*
 * engine_int.h - internals shared by the evaluator's files (engine.c,
 * binop.c, aggregate.c, functions.c). Not for use outside promql/.
 *
 * EVALUATION MODEL
 *
 *   A query runs over a timeline of nsteps evaluation times
 *   t_i = start + i*step (an instant query is one step). Every
 *   instant-vector expression evaluates to a set of series, each holding a
 *   dense array of nsteps values plus a presence flag per step; scalars
 *   are one value per step. So each node is evaluated once for all steps,
 *   series by series, instead of once per step.
 *
 *   Range-vector arguments (selector[d], subquery) are evaluated to the
 *   raw samples of each series covering every window the steps need; a
 *   function over them slides a window (ref_i - d, ref_i] per step, where
 *   ref_i = (t_i or the @ time) - offset.
 *
 *   Invariants:
 *   1. Everything a query allocates lives in the query arena, which
 *      becomes the result's arena (freed by pql_result_release).
 *   2. Label sets inside the evaluator may point at querier-interned
 *      strings; result conversion copies them into the arena.
 *   3. A series flagged drop_name keeps its __name__ until the end of the
 *      query (delayed name removal, as Prometheus 3 with the feature on);
 *      the final conversion drops it, then rejects duplicate label sets.
 *   4. Errors are returned as negative ts_err codes with q->err filled;
 *      the first error wins and every caller returns it unchanged.
 */
#ifndef VARVE_PROMQL_ENGINE_INT_H
#define VARVE_PROMQL_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promql/ast.h"
#include "promql/engine.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "util/error.h"

/* Per-query state shared by every evaluator of the query. */
struct qctx {
	struct arena *a;          /* query arena (becomes the result's) */
	struct querier *qr;       /* storage view */
	const char *query;        /* query text (annotation positions) */
	struct ts_error *err;     /* where errors go */
	struct pql_opts opts;     /* settings with defaults filled */
	int64_t qstart, qend;     /* query start/end (for @ start()/end()) */
	bool is_range;            /* a range query (not an instant one) */
	int64_t qstep;            /* query step (ms), 0 for an instant query */
	int64_t deadline_ns;      /* monotonic deadline */
	int64_t samples;          /* samples counted against max_samples */
	unsigned tick;            /* calls since the last clock check */
	const char **warns;       /* warning annotations */
	size_t nwarns, capwarns;
	const char **infos;       /* info annotations */
	size_t ninfos, capinfos;
	struct series_set *sets;  /* raw samples that range vectors point into;
				   * released when the consuming call returns */
	size_t nsets, capsets;
};

/* One evaluation timeline: t_i = start + i*step for i < nsteps. */
struct ev {
	struct qctx *q;  /* query state */
	int64_t start;   /* first step (ms) */
	int64_t end;     /* last step (ms) */
	int64_t step;    /* step (ms, >= 1) */
	size_t nsteps;   /* number of steps */
};

static inline int64_t ev_ts(const struct ev *ev, size_t i)
{
	return ev->start + (int64_t)i * ev->step;
}

/* A series of an instant-vector value over the timeline. */
struct vser {
	struct labels ls; /* labels (sorted) */
	double *v;        /* nsteps values */
	uint8_t *ok;      /* nsteps presence flags */
	bool drop_name;   /* drop __name__ at the end (invariant 3) */
};

/* A series of raw samples (range-vector input), stale markers removed. */
struct rser {
	struct labels ls; /* labels */
	int64_t *t;       /* timestamps, ascending */
	double *v;        /* values */
	size_t n;         /* sample count */
	bool drop_name;   /* from a subquery whose series drop __name__ */
};

/* A range-vector argument: samples plus how windows are placed. */
struct rng {
	struct rser *s;   /* series */
	size_t n;         /* series count */
	int64_t range;    /* window length (ms) */
	int64_t offset;   /* offset (ms) */
	bool at;          /* @ given: every window ends at at_ms - offset */
	int64_t at_ms;    /* the @ time */
	bool anchored;    /* `anchored`: windows reach lookback further back */
	bool smoothed;    /* `smoothed`: and lookback further forward */
	int64_t ext_left; /* extra window length before (ref - range) */
	int64_t ext_right;/* extra window length after ref */
};

/* A value of any type. */
struct val {
	enum pql_type type;  /* PQL_SCALAR, PQL_STRING, PQL_VECTOR, PQL_MATRIX */
	double *sc;          /* scalar: nsteps values */
	const char *str;     /* string */
	struct vser *s;      /* vector: series */
	size_t n;            /* vector: series count */
	struct rng m;        /* matrix (instant queries only) */
};

/* Builds an output vector, merging by label set across steps. */
struct vbuild {
	struct ev *ev;     /* timeline */
	struct vser *s;    /* series so far, in insertion order */
	size_t n, cap;
	uint32_t *tab;     /* hash table of index+1, 0 = empty */
	size_t tabcap;     /* power of two */
};

/* ---- engine.c */
int ev_fail(struct qctx *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ev_nomem(struct qctx *q);
/* Annotations; text without the "PromQL warning: " prefix; pos = the node. */
void ev_warn(struct qctx *q, const struct pql_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ev_info(struct qctx *q, const struct pql_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ev_check(struct qctx *q);                 /* deadline check */
int ev_count(struct qctx *q, int64_t n);      /* add samples; limit check */
int ev_eval(struct ev *ev, struct pql_node *n, struct val *out);
int ev_range_arg(struct ev *ev, struct pql_node *n, struct rng *out);
/* Window [lo, hi) of series s for step i: samples in
 * (ref - range - ext_left, ref + ext_right]. */
void rng_window(const struct ev *ev, const struct rng *r, const struct rser *s, size_t i,
		size_t *lo, size_t *hi);

/*
 * rng_window for steps visited in increasing order: lo and hi hold the
 * previous window (start with both 0) and only move forward.
 */
void rng_window_next(const struct ev *ev, const struct rng *r, const struct rser *s, size_t i,
		     size_t *lo, size_t *hi);

/* Reference time (window end before extensions) of step i. */
static inline int64_t rng_ref(const struct ev *ev, const struct rng *r, size_t i)
{
	return (r->at ? r->at_ms : ev_ts(ev, i)) - r->offset;
}

void vb_init(struct vbuild *b, struct ev *ev);
/* Add value v at step for labels ls (copied by reference). */
int vb_add(struct vbuild *b, const struct labels *ls, bool drop_name, size_t step, double v);
/* vb_add for a caller that keeps feeding the same labels: *idx caches
 * the output series (start it at -1). */
int vb_add_cached(struct vbuild *b, long *idx, const struct labels *ls, bool drop_name, size_t step,
		  double v);
/* Series for labels ls (created empty when new); NULL on OOM. */
struct vser *vb_series(struct vbuild *b, const struct labels *ls, bool drop_name);
void vb_finish(struct vbuild *b, struct val *out);

struct vser *vser_alloc(struct ev *ev, size_t n);
double *scalar_alloc(struct ev *ev);

/* Label set helpers; results in the query arena. */
struct labels lbl_copy(struct qctx *q, const struct labels *ls, size_t extra);
struct labels lbl_drop_name(struct qctx *q, const struct labels *ls);
struct labels lbl_del(struct qctx *q, const struct labels *ls, const char *const *names, size_t n);
struct labels lbl_keep(struct qctx *q, const struct labels *ls, const char *const *names, size_t n);
/* Set (value non-empty) or delete (value "" or NULL) one label. */
struct labels lbl_set(struct qctx *q, const struct labels *ls, const char *name, const char *value);
bool lbl_in(const char *name, const char *const *names, size_t n);
/* Stable signature of ls restricted to (on) or without (!on) names. */
uint64_t lbl_sig(const struct labels *ls, bool on, const char *const *names, size_t n, bool drop_metric_name);

/* ---- binop.c */
int ev_binary(struct ev *ev, struct pql_node *n, struct val *out);

/* ---- aggregate.c */
int ev_aggregate(struct ev *ev, struct pql_node *n, struct val *out);

/* ---- functions.c */
int ev_call(struct ev *ev, struct pql_node *n, struct val *out);

/* Go's %g (shortest representation) of v into buf. */
void pql_fmt_g(double v, char *buf, size_t cap);

/* Instant vector selector giving sample timestamps (s) as values. */
int ev_eval_timestamp_sel(struct ev *ev, struct pql_node *n, struct val *out);

/* Quantile of sorted-or-not values (Prometheus's linear interpolation);
 * vals is reordered. */
double pql_quantile(double q, double *vals, size_t n);

#endif
