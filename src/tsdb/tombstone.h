/*
 * tombstone.h - deleted time ranges of series, by head series ref.
 *
 * delete_series records, for every matching series, an inclusive
 * [mint, maxt] range whose samples must no longer be returned. The
 * ranges are logged in the WAL (WAL_REC_TOMBSTONES) and kept here, per
 * series ref, merged when they overlap or touch; queriers drop samples
 * inside them. Every call is thread-safe (one rwlock).
 */
#ifndef VARVE_TSDB_TOMBSTONE_H
#define VARVE_TSDB_TOMBSTONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One deleted range, inclusive (ms). */
struct tomb_range {
	int64_t mint, maxt;
};

struct tombstones;

/* New empty set; NULL when out of memory. Free with tomb_free. */
struct tombstones *tomb_new(void);

/* Free t. NULL is a no-op. */
void tomb_free(struct tombstones *t);

/* Add [mint, maxt] for ref (merged with its other ranges). 0 or NOMEM. */
int tomb_add(struct tombstones *t, uint32_t ref, int64_t mint, int64_t maxt);

/* True when no range is recorded (lock-free read of a counter). */
bool tomb_empty(struct tombstones *t);

/*
 * Copy the ranges of ref (ascending, disjoint) into a malloc'd *out (free
 * it); returns their number (0: none, *out NULL) or TS_ERR_NOMEM.
 */
long tomb_get(struct tombstones *t, uint32_t ref, struct tomb_range **out);

/* Drop samples inside ranges from the sorted arrays t[0..n), v[0..n) in
 * place; returns the new length. */
size_t tomb_filter(const struct tomb_range *r, size_t nr, int64_t *t, double *v, size_t n);

/* Number of refs with ranges. */
size_t tomb_count(struct tombstones *t);

#endif
