/*
 * compact.h - the set of on-disk blocks: opening them, persisting the
 * head into them, compaction and retention.
 *
 * A bstore owns the blocks of a data directory as a list sorted by
 * min_time. Readers take a snapshot (a reference on every block), so a
 * block that compaction or retention drops stays mapped until the last
 * snapshot holding it is released, and only then is its directory
 * removed. Changes to the list are short swaps under the store's mutex;
 * writing a block happens outside it.
 *
 * Levels: a block cut from the head has level 1 and spans one block
 * range R. Compaction merges the blocks inside one aligned window of R*3,
 * R*9, ... (smallest first) once the window lies wholly before the
 * horizon (no more data expected there), as long as the window is at most
 * 10% of the retention and at most 31 days. Overlapping blocks (late data
 * persisted twice) are merged the same way. The merged block's sources
 * name every level-1 block it contains; at open, a block whose sources
 * another, higher-level block contains (a crash between writing the
 * merged block and deleting its inputs) is deleted.
 */
#ifndef VARVE_TSDB_COMPACT_H
#define VARVE_TSDB_COMPACT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/block.h"
#include "tsdb/head.h"
#include "util/error.h"

/* Options; zero means default. */
struct bstore_opts {
	int64_t block_range;      /* ms per level-1 block (2h) */
	int64_t retention_ms;     /* drop blocks wholly older than this (15d) */
	uint64_t retention_bytes; /* drop oldest blocks above this size (0: off) */
};

struct bstore;

/*
 * Open the blocks of dir: remove leftover *.tmp directories and blocks
 * superseded by a compacted one, move blocks that fail their checks to
 * dir/corrupted/<id>/ (logged). Returns NULL with err filled only when
 * out of memory or the directory cannot be read.
 */
struct bstore *bstore_open(const char *dir, const struct bstore_opts *opts,
			   struct ts_error *err);

/* Release the list (blocks go when their last snapshot goes). NULL: no-op. */
void bstore_free(struct bstore *bs);

/* A referenced copy of the block list, sorted by min_time. */
struct bsnap {
	struct block **v; /* malloc'd array, one reference per block */
	size_t n;         /* number of blocks */
};

/* Snapshot the list into out. Returns 0 or TS_ERR_NOMEM. */
int bstore_snapshot(struct bstore *bs, struct bsnap *out);

/* Drop the references and the array. */
void bsnap_release(struct bsnap *s);

/* Block count, total bytes, newest max_time (INT64_MIN when none). */
void bstore_stats(struct bstore *bs, size_t *nblocks, uint64_t *bytes, int64_t *max_time);

/* The effective block range (ms). */
int64_t bstore_block_range(const struct bstore *bs);

/*
 * Persist every sample of the head in [mint, maxt) as a level-1 block
 * and drop the persisted chunks from the head. The head is read without
 * blocking writers; the new block is published and the head truncated
 * while excl is write-locked (readers of head chunks hold it for
 * reading). *written tells whether a block was written (false: nothing
 * in range). Returns 0 or a negative ts_err with err filled.
 */
int bstore_persist_head(struct bstore *bs, struct head *h, int64_t mint, int64_t maxt,
			pthread_rwlock_t *excl, bool *written, struct ts_error *err);

/*
 * One compaction step: merge the first group of blocks the plan finds
 * before horizon (ms). Returns 1 when a group was merged, 0 when there
 * is nothing to do, or a negative ts_err with err filled.
 */
int bstore_compact(struct bstore *bs, int64_t horizon, struct ts_error *err);

/*
 * Drop blocks wholly older than newest - retention_ms, then the oldest
 * ones while the total exceeds retention_bytes. Returns blocks dropped.
 */
size_t bstore_retention(struct bstore *bs, int64_t newest);

/*
 * Delete the samples in [mint, maxt] (inclusive) of every series matching
 * ms from the blocks: each block holding such samples is rewritten
 * without them (same level and sources, a new id) and swapped in; the old
 * one goes when its last reader does, and a crash in between leaves both,
 * of which open keeps the newer. Call with compaction excluded. Returns 0
 * or a negative ts_err with err filled.
 */
int bstore_delete(struct bstore *bs, const struct matcher *ms, size_t nms, int64_t mint,
		  int64_t maxt, struct ts_error *err);

/*
 * Merge two sample arrays sorted by time into out (room for na + nb);
 * a timestamp in both keeps a's sample. Returns the merged count.
 */
size_t samples_merge(const int64_t *ta, const double *va, size_t na, const int64_t *tb,
		     const double *vb, size_t nb, int64_t *tout, double *vout);

#endif
