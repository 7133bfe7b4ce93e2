/*
 * head_ooo.h - out-of-order samples of one head series.
 *
 * A series' samples older than its newest one go here instead of into
 * its in-order chunks: a small sorted buffer of (t, value bits) that is
 * cut into an XOR chunk once it holds OOO_CUT_SAMPLES samples. Chunks are
 * each sorted but may overlap one another and the in-order chunks; the
 * head merges everything on read (head_series_samples). A timestamp is
 * stored at most once per series: the head checks every place before
 * inserting (ooo_find), so there are no duplicates to resolve on read.
 *
 * Only head.c uses this header; the caller holds the series lock for
 * every call.
 */
#ifndef VARVE_TSDB_HEAD_OOO_H
#define VARVE_TSDB_HEAD_OOO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OOO_CUT_SAMPLES 120

struct ooo;

/*
 * Insert (t, vbits) into *op (allocated on first use); t must not be
 * stored yet. *bytes gets the change in heap bytes. Returns 0 or
 * TS_ERR_NOMEM (nothing stored).
 */
int ooo_insert(struct ooo **op, int64_t t, uint64_t vbits, long *bytes);

/* 1 and *vbits when t is stored in o, 0 when not, TS_ERR_CORRUPT. o may
 * be NULL. */
int ooo_find(const struct ooo *o, int64_t t, uint64_t *vbits);

/* Number of samples in o (NULL: 0). */
size_t ooo_count(const struct ooo *o);

/*
 * Copy the samples of o in [mint, maxt] into t[], v[] (room for
 * ooo_count(o)), ascending. Returns how many, TS_ERR_CORRUPT or
 * TS_ERR_NOMEM.
 */
long ooo_collect(const struct ooo *o, int64_t mint, int64_t maxt, int64_t *t, double *v);

/* Time range of o; false when empty or NULL. */
bool ooo_range(const struct ooo *o, int64_t *mint, int64_t *maxt);

/* Number of inserts into o so far (0 for NULL): unchanged means no
 * sample arrived in between. */
uint64_t ooo_version(const struct ooo *o);

/* Drop the samples older than before that were persisted: the buffer's
 * and whole chunks' (a chunk reaching before stays whole). Returns the
 * heap bytes released. o may be NULL. */
long ooo_drop_before(struct ooo *o, int64_t before);

/* Free o. NULL is a no-op. Returns the heap bytes released. */
size_t ooo_free(struct ooo *o);

#endif
