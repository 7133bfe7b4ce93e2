/*
 * head.h - the in-memory head: series, their chunks, and the index.
 *
 * The head maps label sets to series (a lock-striped hash table keyed by
 * labels_hash), gives each series a small monotonically assigned id,
 * indexes it in the postings index, and stores its samples as XOR chunks:
 * closed chunks of at most chunk_samples samples and one open chunk that
 * grows as samples arrive. Only db.c uses this header; everything above
 * tsdb/ goes through db.h.
 *
 * Samples of a series are appended in time order only: the rules are in
 * head_sample_order. Series are never removed while the head lives.
 */
#ifndef VARVE_TSDB_HEAD_H
#define VARVE_TSDB_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/index.h"
#include "tsdb/labels.h"
#include "util/error.h"

struct head;
struct head_series;

/* Options; zero means default. */
struct head_opts {
	size_t chunk_samples; /* samples per chunk before a cut (XOR_CHUNK_SAMPLES) */
	size_t stripes;       /* lock stripes of the series table, power of 2 (256) */
	int64_t block_range;  /* also cut at multiples of this (ms), so no chunk
			       * spans two blocks; 0: only by chunk_samples */
	const char *chunks_dir; /* completed chunks go to mmap'd files here
				 * (chunks_disk.h); NULL: they stay on the heap */
};

/* New empty head; NULL when out of memory. Free with head_free. */
struct head *head_new(const struct head_opts *opts);

/* Free the head, its series, chunks, index and symbols. NULL is a no-op. */
void head_free(struct head *h);

/* The head's symbol table and index (owned by the head). */
struct symtab *head_symtab(struct head *h);
struct index *head_index(struct head *h);

/*
 * The series with labels ls (sorted, valid; any strings) whose
 * labels_hash is hash, created (labels interned, indexed) when absent;
 * *created (may be NULL) tells which. NULL when out of memory. The
 * series lives until head_free.
 */
struct head_series *head_get_or_create(struct head *h, const struct labels *ls,
				       uint64_t hash, bool *created);

/* head_get_or_create_id: take any free id. */
#define HEAD_ID_ANY UINT32_MAX

/*
 * head_get_or_create, but a new series gets id want_id when that id is
 * free (later ids are handed out above it), else a fresh one: WAL replay
 * recreates series under their logged ids. An existing series keeps its
 * id. Not to be called concurrently with other creations.
 */
struct head_series *head_get_or_create_id(struct head *h, const struct labels *ls,
					  uint64_t hash, uint32_t want_id, bool *created);

/* The series with labels ls, or NULL. */
struct head_series *head_get(struct head *h, const struct labels *ls, uint64_t hash);

/* The series with this id, or NULL (not created yet). */
struct head_series *head_series_by_id(struct head *h, uint32_t id);

/* Number of series created so far (ids are below it). */
uint32_t head_num_series(struct head *h);

/* A series' id and its interned labels (valid until head_free). */
uint32_t head_series_id(const struct head_series *s);
const struct labels *head_series_labels(const struct head_series *s);

/*
 * Order rules for appending (t, vbits) after a newest sample (nt, nv);
 * have says whether there is one. Returns 0 (append), 1 (identical to the
 * newest: accept without storing), TS_ERR_OUT_OF_ORDER (t < nt) or
 * TS_ERR_DUPLICATE (t == nt, other bits).
 */
static inline int head_sample_order(bool have, int64_t nt, uint64_t nv, int64_t t,
				    uint64_t vbits)
{
	if (!have || t > nt)
		return 0;
	if (t < nt)
		return TS_ERR_OUT_OF_ORDER;
	return vbits == nv ? 1 : TS_ERR_DUPLICATE;
}

/* Lock/unlock a series for a run of head_series_append_locked calls.
 * Keep the section short: queries copy chunks under the same lock. */
void head_series_lock(struct head *h, struct head_series *s);
void head_series_unlock(struct head *h, struct head_series *s);

/* The newest sample of s: false when s has none. Needs the series lock. */
bool head_series_newest_locked(const struct head_series *s, int64_t *t, uint64_t *vbits);

/*
 * Whether s (locked by the caller) holds a sample at t: 1 with its value
 * bits in *vbits, 0 when not, TS_ERR_CORRUPT. Looks in the in-order
 * chunks and the out-of-order samples.
 */
int head_series_find_locked(struct head *h, struct head_series *s, int64_t t,
			    uint64_t *vbits);

/*
 * Add (t, value bits) to s, which the caller has locked. A sample newer
 * than the newest is appended to the in-order chunks (a new chunk is cut
 * when the open one holds chunk_samples samples); an older one goes to
 * the series' out-of-order store (head_ooo.h). Returns 0 (stored), 1 (the
 * same sample is already stored: nothing done), TS_ERR_DUPLICATE (another
 * value is stored at t) or TS_ERR_NOMEM (nothing stored).
 */
int head_series_append_locked(struct head *h, struct head_series *s, int64_t t,
			      uint64_t vbits);

/* head_series_append_locked under the series lock. */
int head_series_append(struct head *h, struct head_series *s, int64_t t, uint64_t vbits);

/*
 * Samples of s in [mint, maxt]. With t and v NULL only counts whether
 * there is one (returns 1 at the first one found, 0 when none). Otherwise
 * *t and *v get malloc'd arrays (free both; NULL when none) and the
 * return value is their length. Negative ts_err on failure (NOMEM,
 * CORRUPT). The series lock is held only to copy the open chunk.
 */
long head_series_samples(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			 int64_t **t, double **v);

/* A copy of one chunk of a series, as head_series_chunks hands it out. */
struct head_chunk {
	int64_t mint;        /* first sample's timestamp */
	int64_t maxt;        /* last sample's timestamp */
	const uint8_t *data; /* XOR chunk bytes (Prometheus's encoding) */
	size_t len;          /* bytes at data */
};

/*
 * Copies of the chunks of s (closed ones and the open one) that overlap
 * [mint, maxt], oldest first, whole (samples outside the range
 * included). *out gets one malloc'd block holding the array and the bytes
 * (free it with free(); NULL when none). Returns the number of chunks or
 * TS_ERR_NOMEM. The series lock is held while copying.
 */
long head_series_chunks(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			struct head_chunk **out);

/*
 * Truncation after a block was persisted. head_series_trunc_mark records,
 * under the series lock, what of s lies entirely before `before` right
 * now (leading closed chunks, and the open chunk when its newest sample
 * is older); the caller then copies those samples into a block, and
 * head_series_truncate drops exactly what was marked (an open chunk that
 * grew meanwhile is kept). Truncation frees chunk bytes that
 * head_series_samples and head_series_chunks may be decoding without the
 * series lock: the caller must exclude every such reader meanwhile.
 */
struct head_trunc_mark {
	uint32_t nclosed;  /* leading closed chunks to drop */
	uint16_t open_num; /* samples of the open chunk when marked */
	bool open;         /* the open chunk may be dropped */
	int64_t before;    /* the bound marked against */
	uint64_t ooo_ver;  /* out-of-order inserts when marked: if none came
			    * since, out-of-order samples before `before`
			    * (copied with the rest) are dropped too */
};
void head_series_trunc_mark(struct head *h, struct head_series *s, int64_t before,
			    struct head_trunc_mark *m);

/* Drop what m marked. Returns true when s has no chunk left. */
bool head_series_truncate(struct head *h, struct head_series *s,
			  const struct head_trunc_mark *m);

/* Let the pages of closed chunks in files (head_opts.chunks_dir) go from
 * the resident set, e.g. after a block was persisted. */
void head_drop_resident(struct head *h);

/* Counters. */
uint64_t head_num_chunks(struct head *h);

struct tombstones;

/*
 * Deleted ranges (tombstone.h, keyed by series id) that
 * head_series_samples honours from now on: samples inside them are not
 * returned and do not count. t is not owned; NULL turns this off.
 */
void head_set_tombstones(struct head *h, struct tombstones *t);

/* The oldest timestamp s holds (in-order or out-of-order), INT64_MAX
 * when it holds nothing. Takes the series lock. */
int64_t head_series_mint(struct head *h, struct head_series *s);

/* Approximate heap bytes of series, chunks, index and symbols. */
size_t head_bytes(struct head *h);

#endif
