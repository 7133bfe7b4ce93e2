/*
 * wal.h - the write-ahead log: what the head holds, as records on disk,
 * so that an acknowledged write survives a crash.
 *
 * Directory DATA_DIR/wal/ holds numbered segment files and at most one
 * checkpoint:
 *
 *   wal/00000000, 00000001, ...  segments, 8 decimal digits, at most
 *                                segment_bytes each (128 MiB by default);
 *                                only the newest is written
 *   wal/checkpoint.NNNNNNNN      the folded contents of every segment up
 *                                to NNNNNNNN (same record format); written
 *                                as checkpoint.NNNNNNNN.tmp and renamed
 *
 * A process never appends to a segment it did not create: after replay
 * writing starts in a fresh segment, so a torn tail is never followed by
 * new records.
 *
 * Record frame (every integer little-endian):
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     payload length L (bytes after this 9-byte header)
 *   4       4     CRC32C (Castagnoli) of bytes 8 .. 9+L (type + payload)
 *   8       1     record type (enum wal_rec_type)
 *   9       L     payload
 *
 * A record never spans segments. L is at most WAL_REC_MAX. A frame whose
 * header or payload runs past the end of the file, whose CRC does not
 * match, or whose type is unknown ends the segment: replay cuts the file
 * back to the end of the last good record and logs how many bytes went.
 *
 * Payloads (varint = unsigned LEB128 as in protobuf; svarint = zigzag):
 *
 *   WAL_REC_SERIES: one or more series definitions
 *     varint ref, varint nlabels, nlabels x (varint len, name bytes,
 *     varint len, value bytes); labels sorted by name
 *
 *   WAL_REC_SAMPLES: a batch of samples
 *     OFFSET  SIZE  DESCRIPTION
 *     0       8     base timestamp (ms, int64)
 *     8       ...   per sample: varint ref, svarint (t - base), 8 bytes
 *                   of IEEE-754 value bits (stale markers kept exactly)
 *
 *   WAL_REC_TOMBSTONES: deleted time ranges of series
 *     per entry: varint ref, svarint mint, svarint maxt (inclusive, ms)
 *
 * A series' ref is its head id. Within one process lifetime the SERIES
 * record of a ref precedes every SAMPLES/TOMBSTONES record naming it, and
 * replay recreates each series under the same id, so refs stay stable
 * across restarts.
 *
 * Durability (enum wal_sync):
 *   WAL_SYNC_BATCH     wal_commit returns after fdatasync of the bytes;
 *                      concurrent committers share one fdatasync (group
 *                      commit: the first waiter syncs everything written
 *                      so far, the others sleep on a condition variable
 *                      and return when a sync covering them completes)
 *   WAL_SYNC_PERIODIC  bytes reach the kernel before wal_commit returns;
 *                      a background thread fdatasyncs every sync_interval
 *   WAL_SYNC_NONE      bytes reach the kernel before wal_commit returns;
 *                      never fdatasynced except at segment end and close
 *
 * After a failed write or sync the log is in a sticky error state: every
 * later write fails with TS_ERR_STATE until the store is reopened.
 */
#ifndef VARVE_TSDB_WAL_H
#define VARVE_TSDB_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/labels.h"
#include "util/buf.h"
#include "util/error.h"

#define WAL_SEGMENT_BYTES ((size_t)128 << 20)
#define WAL_REC_MAX ((size_t)1 << 20)
#define WAL_HEADER 9

enum wal_rec_type {
	WAL_REC_SERIES = 1,
	WAL_REC_SAMPLES = 2,
	WAL_REC_TOMBSTONES = 3,
};

enum wal_sync {
	WAL_SYNC_BATCH = 0,
	WAL_SYNC_PERIODIC = 1,
	WAL_SYNC_NONE = 2,
};

/* Options; zero means default. */
struct wal_opts {
	enum wal_sync sync;        /* durability mode (batch) */
	int64_t sync_interval_ms;  /* periodic mode's fsync interval (1000) */
	size_t segment_bytes;      /* segment size limit (WAL_SEGMENT_BYTES) */
};

/* One sample as logged. */
struct wal_sample {
	uint32_t ref; /* series ref (head id) */
	int64_t t;    /* timestamp (ms) */
	uint64_t v;   /* value bits */
};

/* One deleted range of a series. */
struct wal_tombstone {
	uint32_t ref;       /* series ref */
	int64_t mint, maxt; /* inclusive range (ms) */
};

/* Counters of a replay, for the start-up log. */
struct wal_replay_stats {
	uint64_t records;       /* good records read */
	uint64_t series;        /* series definitions */
	uint64_t samples;       /* samples handed to the callback */
	uint64_t tombstones;    /* tombstone entries */
	uint64_t segments;      /* segment files read (checkpoint included) */
	uint64_t bytes_cut;     /* bytes dropped from torn or corrupt tails */
	uint32_t files_cut;     /* files that were cut back */
};

/* What replay hands over, record by record, in log order. Any callback
 * may be NULL. A negative return stops the replay with that error. */
struct wal_replay_ops {
	int (*series)(void *ctx, uint32_t ref, const struct labels *ls);
	int (*samples)(void *ctx, const struct wal_sample *s, size_t n);
	int (*tombstones)(void *ctx, const struct wal_tombstone *t, size_t n);
};

struct wal;

/*
 * Open (creating when missing) the log in directory dir (DATA_DIR/wal).
 * Nothing is read or written yet: call wal_replay once, then write.
 * NULL with err filled on failure. Free with wal_close.
 */
struct wal *wal_open(const char *dir, const struct wal_opts *opts, struct ts_error *err);

/* Sync and close the current segment, stop the periodic syncer, free w.
 * NULL is a no-op. */
void wal_close(struct wal *w);

/*
 * Read the checkpoint and then every later segment in order, calling ops
 * for each good record. A torn or corrupt record ends its file (segment
 * or checkpoint): the file is truncated there (reported in st and the log), and replay goes on with
 * the next file. Then opens a fresh segment for writing. Returns 0, or a
 * negative ts_err from a callback or from I/O on the directory.
 */
int wal_replay(struct wal *w, const struct wal_replay_ops *ops, void *ctx,
	       struct wal_replay_stats *st);

/* ------------------------------------------------------------ encoding */

/* Append framed records to out (a caller-owned buf; check buf_ok). Large
 * inputs are split into several records of at most WAL_REC_MAX bytes. */
void wal_enc_series(struct buf *out, uint32_t ref, const struct labels *ls);
void wal_enc_samples(struct buf *out, const struct wal_sample *s, size_t n);
void wal_enc_tombstones(struct buf *out, const struct wal_tombstone *t, size_t n);

/* ------------------------------------------------------------ writing */

/* Whether a SERIES record for ref was written by this process (or read
 * by replay). Lock-free; a false answer may be stale (write it again:
 * a repeated definition is harmless). */
bool wal_series_logged(struct wal *w, uint32_t ref);

/*
 * Write the framed records data[0..len) (whole records, as wal_enc_*
 * makes them) to the current segment, starting the next segment first
 * when they would not fit. refs[0..nrefs) are the series whose SERIES
 * records are in data: they count as logged once this returns. *lsn gets
 * the log position just past the data, for wal_sync. The bytes reach the
 * kernel before this returns. Returns 0, TS_ERR_IO (the log becomes
 * sticky-failed) or TS_ERR_STATE.
 */
int wal_write(struct wal *w, const void *data, size_t len, const uint32_t *refs,
	      size_t nrefs, uint64_t *lsn);

/*
 * Wait until every byte before lsn is as durable as the sync mode
 * promises: in batch mode fdatasynced (group commit), otherwise returns
 * at once. Returns 0, TS_ERR_IO or TS_ERR_STATE.
 */
int wal_sync(struct wal *w, uint64_t lsn);

/* Counters for tests and /metrics. */
struct wal_stats {
	uint64_t fsyncs;        /* fdatasync calls on segments */
	uint64_t writes;        /* wal_write calls that wrote bytes */
	uint64_t bytes;         /* bytes written */
	uint32_t first_segment; /* oldest segment on disk */
	uint32_t segment;       /* segment being written */
};
void wal_stats(struct wal *w, struct wal_stats *out);

/* ------------------------------------------------------------ checkpoint */

/*
 * Close the current segment (fdatasync) and start the next one. *seg gets
 * the number of the segment just closed: every record written before the
 * call is in a segment <= *seg. Returns 0 or a negative ts_err.
 *
 * Block persistence calls this BEFORE it snapshots the head for a block,
 * and wal_checkpoint(w, seg, ...) once the block is safely on disk, so
 * that records written meanwhile are never folded away.
 */
int wal_cut(struct wal *w, uint32_t *seg);

/*
 * Fold every segment numbered <= upto (and the previous checkpoint) into
 * checkpoint.<upto>, keeping:
 *   - SERIES records whose ref keep(ctx, ref) accepts (keep == NULL keeps
 *     all); keep must accept every series still in the head;
 *   - samples with t >= mint_kept of kept series (older ones are in
 *     persisted blocks);
 *   - tombstones of kept series (all of them: a delete may cover data
 *     that was in blocks already);
 * then delete those segments and any older checkpoint. Writers go on
 * meanwhile (they use segments > upto). On failure nothing is deleted and
 * the old files stay valid. Returns 0 or a negative ts_err.
 */
int wal_checkpoint(struct wal *w, uint32_t upto, int64_t mint_kept,
		   bool (*keep)(void *ctx, uint32_t ref), void *ctx);

/*
 * wal_checkpoint, but a sample older than mint_kept is still kept when it
 * is not older than series_mint(ctx, ref): the oldest timestamp the head
 * still holds for that series (INT64_MAX when the head holds nothing of
 * it). Samples that arrived late, below a block that was already
 * persisted, stay in the head and so must stay in the log. series_mint
 * is called at most once per series; NULL behaves as wal_checkpoint.
 */
int wal_checkpoint_ex(struct wal *w, uint32_t upto, int64_t mint_kept,
		      bool (*keep)(void *ctx, uint32_t ref),
		      int64_t (*series_mint)(void *ctx, uint32_t ref), void *ctx);

/*
 * Close the current segment and hard-link the checkpoint and every closed
 * segment into directory dst (created; must not exist and must be on the
 * same file system), so that dst is a WAL of everything written before
 * the call. Not concurrent with wal_checkpoint. Returns 0 or a negative
 * ts_err.
 */
int wal_snapshot(struct wal *w, const char *dst);

#endif
