/*
 * db.h - the storage facade: everything above tsdb/ (ingest, api, promql)
 * writes through an appender and reads through a querier, and never sees
 * the head, the index or (later) blocks and the WAL directly.
 *
 *   write: db_appender -> appender_add ... -> appender_commit
 *   read:  db_querier  -> querier_select / label_names / label_values
 *
 * All calls are thread-safe; many appenders and queriers may be used at
 * once from different threads, each object by one thread at a time.
 */
#ifndef VARVE_TSDB_DB_H
#define VARVE_TSDB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/exemplars.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "util/error.h"

struct db;

/* Options; zero means "default". */
struct db_opts {
	size_t chunk_samples; /* samples per head chunk before a cut (120) */
	size_t stripes;       /* lock stripes of the series table (power of 2, 256) */
	int64_t block_duration_ms; /* time range of a block cut from the head (2h) */
	int64_t retention_ms;      /* blocks wholly older than this are dropped (15d) */
	uint64_t retention_bytes;  /* oldest blocks dropped above this size (0: off) */
	size_t max_exemplars; /* exemplars kept in memory, newest first (100000) */
	int wal_sync;         /* enum wal_sync: 0 batch (fsync before commit returns),
			       * 1 periodic, 2 none; see wal.h */
	int64_t wal_sync_interval_ms; /* periodic mode's fsync interval (1000) */
	size_t wal_segment_bytes;     /* WAL segment size limit (128 MiB) */
};

/*
 * Open the store in dir (created if missing), or a memory-only store when
 * dir is NULL. Returns NULL with err filled on failure. Close with db_close.
 */
struct db *db_open(const char *dir, const struct db_opts *opts, struct ts_error *err);

/* Stop background work, flush what must be flushed, free everything.
 * Every appender and querier must be gone. NULL is a no-op. */
void db_close(struct db *db);

/*
 * Do now what the background thread does (persist the head's oldest
 * block range when it spans more than 1.5 ranges, compact, apply
 * retention), for tests and tools. No-op for a memory-only store.
 */
void db_maintain(struct db *db);

/* Counters for /metrics and status endpoints. */
struct db_stats {
	uint64_t head_series;        /* series in the head */
	uint64_t head_chunks;        /* chunks in the head */
	uint64_t samples_appended;   /* samples committed since start */
	uint64_t series_created;     /* series created since start */
	int64_t min_time, max_time;  /* head time range (ms); INT64_MAX/MIN when empty */
	size_t symbols;              /* interned strings */
	size_t head_bytes;           /* approximate heap bytes of the head */
	uint64_t wal_fsyncs;         /* fdatasync calls on WAL segments */
	uint64_t wal_writes;         /* WAL writes (one per commit or delete) */
};
void db_stats(struct db *db, struct db_stats *out);

/* ------------------------------------------------------------- writing */

struct appender;

/* A new appender; NULL when out of memory. Ends with commit or rollback,
 * both of which free it. */
struct appender *db_appender(struct db *db);

/*
 * Stage one sample for the series with labels ls (sorted and valid, see
 * labels_validate; strings are copied/interned, ls need not outlive the
 * call). *ref caches the series between calls: pass a pointer to 0 the
 * first time for a label set, and the same pointer again for more samples
 * of that series to skip the lookup.
 *
 * Samples may come in any order: one older than the series' newest is
 * kept as an out-of-order sample and merged on read. Returns 0,
 * TS_ERR_DUPLICATE (a different value is stored or staged at the same
 * timestamp; the same value again is accepted and stored once) or
 * TS_ERR_NOMEM. A rejected sample does not affect the rest of the batch.
 */
int appender_add(struct appender *a, const struct labels *ls, uint64_t *ref,
		 int64_t t, double v);

/*
 * Log the staged samples in the WAL, make them visible, and return once
 * they are as durable as the WAL's sync mode promises (batch: fsynced,
 * sharing the fsync with concurrent commits). Frees a. Returns 0 or a
 * negative ts_err (then nothing may be acknowledged: TS_ERR_IO or
 * TS_ERR_STATE when the WAL failed and refuses writes until a restart).
 */
int appender_commit(struct appender *a);

/* Drop every staged sample; frees a. NULL is a no-op. */
void appender_rollback(struct appender *a);

/* ------------------------------------------------------------ metadata */

enum metric_type {
	METRIC_UNKNOWN = 0,
	METRIC_COUNTER = 1,
	METRIC_GAUGE = 2,
	METRIC_HISTOGRAM = 3,
	METRIC_GAUGEHISTOGRAM = 4,
	METRIC_SUMMARY = 5,
	METRIC_INFO = 6,
	METRIC_STATESET = 7,
};

/* "counter", "gauge", ... as Prometheus's API spells them ("unknown" for 0). */
const char *metric_type_name(enum metric_type t);

/* Record metadata of a metric family (strings copied). Identical entries
 * are kept once; a family may have several distinct entries. */
int db_set_metadata(struct db *db, const char *family, enum metric_type type,
		    const char *help, const char *unit);

struct metadata_entry {
	const char *family;    /* metric family name */
	enum metric_type type;
	const char *help;      /* "" when unset */
	const char *unit;      /* "" when unset */
};

/*
 * Metadata sorted by family; metric != NULL restricts to that family.
 * limit bounds the number of families (0: all), limit_per_metric the
 * entries per family (0: all). *out is a malloc'd array (free with free());
 * the strings stay valid until db_close.
 */
int db_metadata(struct db *db, const char *metric, size_t limit, size_t limit_per_metric,
		struct metadata_entry **out, size_t *n);

/* ------------------------------------------------------- deletes, snapshots */

/*
 * Delete the samples in [mint, maxt] of every head series matching ms
 * (nms may be 0: all): a tombstone per series, logged in the WAL before
 * it takes effect, so that queries, series and label lookups no longer
 * see those samples (a series left without samples disappears). Returns
 * 0 or a negative ts_err (err filled).
 */
int db_delete_series(struct db *db, const struct matcher *ms, size_t nms, int64_t mint,
		     int64_t maxt, struct ts_error *err);

/* Reclaim what deleted samples occupy (head tombstones stay in effect
 * until the head is persisted). Returns 0 or a negative ts_err. */
int db_clean_tombstones(struct db *db, struct ts_error *err);

/*
 * Hard-link every block into DIR/snapshots/<name>/ and, unless
 * skip_head, the write-ahead log into its wal/ (so the snapshot opens
 * as a data directory with everything acknowledged so far). name gets
 * "<UTC time>-<16 hex digits>" as Prometheus names snapshots. Returns 0
 * or a negative ts_err (TS_ERR_UNSUPPORTED for a memory-only store).
 */
int db_snapshot(struct db *db, bool skip_head, char *name, size_t cap, struct ts_error *err);

/* ------------------------------------------------------------- reading */

struct querier;

/* A read view of the store; series created later may or may not show.
 * NULL when out of memory. Free with querier_free. */
struct querier *db_querier(struct db *db);
void querier_free(struct querier *q);

/* One selected series. */
struct series {
	struct labels labels; /* interned strings, valid while the querier lives */
	int64_t *t;           /* sample timestamps (ms), ascending; NULL when n == 0 */
	double *v;            /* sample values, exact bits (stale markers kept) */
	size_t n;             /* samples in [mint, maxt] */
};

/* Result of querier_select; release with series_set_release. */
struct series_set {
	struct series *s; /* sorted by labels_cmp */
	size_t n;         /* number of series */
};

/*
 * Series matching every matcher (nms may be 0: all series) that have at
 * least one sample in [mint, maxt] (inclusive), sorted by labels.
 * with_samples copies their samples in [mint, maxt]; otherwise t/v are NULL
 * and n is 0. limit > 0 stops after that many series (the set is then the
 * first `limit` in label order). Returns 0 or a negative ts_err.
 */
int querier_select(struct querier *q, const struct matcher *ms, size_t nms,
		   int64_t mint, int64_t maxt, bool with_samples, size_t limit,
		   struct series_set *out, struct ts_error *err);

/* Free the arrays of a series set. Labels are not freed (interned). */
void series_set_release(struct series_set *set);

/* A sorted list of distinct interned strings; release with strvec_release. */
struct strvec {
	const char **v; /* malloc'd array of interned strings */
	size_t n;
};
void strvec_release(struct strvec *sv);

/*
 * Label names present on series matching ms (all series when nms == 0)
 * with samples in [mint, maxt], sorted, at most limit (0: all).
 */
int querier_label_names(struct querier *q, const struct matcher *ms, size_t nms,
			int64_t mint, int64_t maxt, size_t limit, struct strvec *out,
			struct ts_error *err);

/* Values of label `name` on series matching ms, sorted, at most limit. */
int querier_label_values(struct querier *q, const char *name, const struct matcher *ms,
			 size_t nms, int64_t mint, int64_t maxt, size_t limit,
			 struct strvec *out, struct ts_error *err);

/* ------------------------------------------------------------- chunks */

/* One stored chunk of a series, copied. */
struct series_chunk {
	int64_t mint;        /* first sample's timestamp (ms) */
	int64_t maxt;        /* last sample's timestamp (ms) */
	const uint8_t *data; /* XOR chunk bytes, Prometheus's encoding (chunk_xor.h) */
	size_t len;          /* bytes at data */
};

/* A series and its chunks. */
struct chunk_series {
	struct labels labels;   /* interned strings, valid while the querier lives */
	struct series_chunk *c; /* chunks in time order (malloc'd array) */
	size_t n;               /* number of chunks */
	void *mem;              /* malloc'd block owning the chunk bytes */
};

/* Result of querier_select_chunks; release with chunk_set_release. */
struct chunk_set {
	struct chunk_series *s; /* sorted by labels_cmp */
	size_t n;               /* number of series */
};

/*
 * Series matching every matcher (as querier_select) with a sample in
 * [mint, maxt], each with copies of its stored chunks that overlap the
 * range, whole: a chunk may hold samples outside [mint, maxt] (callers
 * that must not show them re-encode those chunks, see remote_read.c).
 * Head chunks only for now, the open one included; on-disk blocks will
 * add theirs here in time order. Returns 0 or a negative ts_err.
 */
int querier_select_chunks(struct querier *q, const struct matcher *ms, size_t nms,
			  int64_t mint, int64_t maxt, struct chunk_set *out,
			  struct ts_error *err);

/* Free what a chunk set owns (labels are interned). NULL is a no-op. */
void chunk_set_release(struct chunk_set *set);

/* ---------------------------------------------------------- exemplars */

/* Default of db_opts.max_exemplars, Prometheus's default exemplar storage. */
#define DB_DEFAULT_MAX_EXEMPLARS 100000

/*
 * Keep an exemplar (labels exl, value v, time t ms) of the series with
 * labels series (sorted, valid; strings copied) in the bounded in-memory
 * ring. Returns 0 (also for an exact repeat of the series' newest
 * exemplar, which is not stored twice), TS_ERR_OUT_OF_ORDER (not newer
 * than the series' newest exemplar) or TS_ERR_NOMEM.
 */
int db_add_exemplar(struct db *db, const struct labels *series, const struct labels *exl,
		    int64_t t, double v);

/*
 * Exemplars in [mint, maxt] of series matching one of the nsets matcher
 * sets (sets[i] has nms[i] matchers; nsets 0 means every series), grouped
 * by series. out is owned by the caller: exemplar_set_release.
 */
int querier_exemplars(struct querier *q, const struct matcher *const *sets, const size_t *nms,
		      size_t nsets, int64_t mint, int64_t maxt, struct exemplar_set *out,
		      struct ts_error *err);

#endif
