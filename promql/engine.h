/*
 * engine.h - the PromQL engine's entry points: parse and evaluate a query
 * against the store, with Prometheus 3.x float semantics.
 *
 * The engine reads data only through tsdb/db.h's querier. Every value in a
 * result (labels included) lives in the result's arena and is freed by
 * pql_result_release.
 */
#ifndef VARVE_PROMQL_ENGINE_H
#define VARVE_PROMQL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/db.h"
#include "util/error.h"

struct arena;

/* Engine settings; zero means default. */
struct pql_opts {
	int64_t lookback_ms;     /* staleness lookback (300000) */
	int64_t max_samples;     /* most samples loaded at once (50000000) */
	int64_t timeout_ms;      /* per-query deadline (120000) */
	int64_t subquery_step_ms;/* default subquery step when [r:] (60000) */
};

enum pql_type {
	PQL_NONE = 0,
	PQL_SCALAR,
	PQL_STRING,
	PQL_VECTOR,
	PQL_MATRIX,
};

/* "scalar", "string", "vector", "matrix" as the HTTP API spells them. */
const char *pql_type_name(enum pql_type t);

struct pql_point {
	int64_t t; /* ms */
	double v;
};

/* An element of an instant vector. */
struct pql_sample {
	struct labels labels; /* sorted; strings in the result arena or interned */
	int64_t t;            /* ms */
	double v;
};

/* A series of a range vector / matrix. */
struct pql_series {
	struct labels labels;
	struct pql_point *pts; /* ascending by t */
	size_t n;
};

/* A query's answer. */
struct pql_result {
	enum pql_type type;
	union {
		struct pql_point scalar;                         /* PQL_SCALAR */
		struct { int64_t t; const char *s; } string;     /* PQL_STRING */
		struct { struct pql_sample *v; size_t n; } vector;/* PQL_VECTOR */
		struct { struct pql_series *s; size_t n; } matrix;/* PQL_MATRIX */
	} u;
	const char **warnings; /* annotation texts ("PromQL warning: ..."), nwarnings of them */
	size_t nwarnings;
	const char **infos;    /* ("PromQL info: ..."), ninfos of them */
	size_t ninfos;
	struct arena *arena;   /* owns everything above */
};

/* Free everything a result holds; safe on a zeroed result. */
void pql_result_release(struct pql_result *r);

/*
 * Evaluate query at time t_ms. Parse errors give TS_ERR_INVALID with
 * err->msg like Prometheus's ("1:5: parse error: ..."); evaluation errors
 * TS_ERR_EXEC; the samples limit TS_ERR_LIMIT; the deadline TS_ERR_TIMEOUT.
 * On success *out holds the result (vector, scalar, string, or matrix for
 * a range-vector expression).
 */
int pql_exec_instant(struct db *db, const char *query, int64_t t_ms,
		     const struct pql_opts *opts, struct pql_result *out, struct ts_error *err);

/*
 * Evaluate query at start, start+step, ... <= end (ms, step > 0); the
 * result is always a matrix (a scalar expression gives one series with no
 * labels). Errors as pql_exec_instant; a range-vector expression is
 * TS_ERR_INVALID as in Prometheus.
 */
int pql_exec_range(struct db *db, const char *query, int64_t start_ms, int64_t end_ms,
		   int64_t step_ms, const struct pql_opts *opts, struct pql_result *out,
		   struct ts_error *err);

/* Parse and re-print query in Prometheus's canonical form (format_query).
 * *out is malloc'd. */
int pql_format(const char *query, char **out, struct ts_error *err);

#endif
