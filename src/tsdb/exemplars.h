/*
 * exemplars.h - a bounded in-memory store of exemplars (trace references
 * attached to samples), kept in a ring as Prometheus's circular exemplar
 * storage does: the newest `capacity` exemplars over all series, the
 * oldest overwritten first. Only db.c uses this header; everything above
 * tsdb/ goes through db_add_exemplar and querier_exemplars in db.h.
 */
#ifndef VARVE_TSDB_EXEMPLARS_H
#define VARVE_TSDB_EXEMPLARS_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb/labels.h"
#include "tsdb/matcher.h"

struct exemplars;

/* One exemplar as handed out by exemplars_select. */
struct exemplar {
	struct labels labels; /* the exemplar's own labels (trace_id, ...) */
	double v;             /* its value */
	int64_t t;            /* its time (ms) */
};

/* The exemplars of one series. */
struct series_exemplars {
	struct labels series; /* the series' labels */
	struct exemplar *e;   /* its exemplars, oldest first */
	size_t n;             /* how many */
};

/* A query's answer; every pointer in it points into mem. */
struct exemplar_set {
	struct series_exemplars *s; /* series sorted by labels */
	size_t n;                   /* number of series */
	void *mem;                  /* one malloc'd block owning everything */
};

/* Free what a set owns and empty it. NULL is a no-op. */
void exemplar_set_release(struct exemplar_set *set);

/* A new empty store holding at most capacity exemplars (capacity > 0);
 * NULL when out of memory. Free with exemplars_free. */
struct exemplars *exemplars_new(size_t capacity);

/* Free the store and every exemplar in it. NULL is a no-op. */
void exemplars_free(struct exemplars *ex);

/* Most UTF-8 characters of an exemplar's label names and values together
 * (OpenMetrics's limit, which Prometheus enforces). */
#define EXEMPLAR_MAX_LABEL_RUNES 128

/*
 * Add an exemplar (labels ex, value v, time t in ms) of the series with
 * labels series (sorted, valid). Strings are copied. Returns 0 (stored,
 * or silently ignored when it repeats the series' newest exemplar
 * exactly), TS_ERR_OUT_OF_ORDER (not newer than the series' newest
 * exemplar), TS_ERR_INVALID (labels over EXEMPLAR_MAX_LABEL_RUNES) or
 * TS_ERR_NOMEM. Thread-safe.
 */
int exemplars_add(struct exemplars *ex, const struct labels *series, const struct labels *exl,
		  int64_t t, double v);

/*
 * Exemplars of series matching every matcher of one of the nsets sets
 * (sets[i] has nms[i] matchers) with t in [mint, maxt], grouped by series
 * (sorted by labels), each group's exemplars in time order. out is
 * filled with copies the caller owns: release with exemplar_set_release.
 * Returns 0 or TS_ERR_NOMEM. Thread-safe.
 */
int exemplars_select(struct exemplars *ex, const struct matcher *const *sets,
		     const size_t *nms, size_t nsets, int64_t mint, int64_t maxt,
		     struct exemplar_set *out);

/* Number of exemplars held. */
size_t exemplars_count(struct exemplars *ex);

#endif
