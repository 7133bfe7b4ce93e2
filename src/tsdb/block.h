/*
 * block.h - immutable on-disk blocks: write once, read through mmap.
 *
 * A block holds every sample of a set of series in a time range
 * [min_time, max_time) as a directory DATA_DIR/<id>/, id being a 26
 * character ULID (48-bit creation milliseconds, 80 random bits, Crockford
 * base32), so ids sort by creation time:
 *
 *   <id>/meta.json          range, stats, compaction level and sources
 *   <id>/index              symbols, series with chunk references,
 *                           label-value tables and postings
 *   <id>/chunks/000001 ...  chunk segment files (at most 512 MiB each)
 *
 * A block is written into <id>.tmp/, every file and directory fsynced,
 * then renamed to <id>/ (and the parent fsynced), so a crash leaves
 * either the whole block or a *.tmp directory that the next open removes.
 * block_open checks every section and chunk CRC before anything is
 * served; a block that fails is reported and moved aside by the caller.
 *
 * All integers are little-endian. uvarint is the LEB128 encoding of an
 * unsigned integer (7 bits per byte, low first, high bit = more); varint
 * is the zig-zag of a signed one written as uvarint.
 *
 * Chunk segment file chunks/NNNNNN:
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "VBCH"
 *   4      1    format version (1)
 *   5      3    zero
 *   8      ...  chunks, back to back, each:
 *                 uvarint  data length L
 *                 1        encoding (1 = XOR, chunk_xor.h)
 *                 L        chunk data
 *                 4        CRC32C of the encoding byte and the data
 *   The file ends exactly after the last chunk. A chunk is referenced by
 *   (segment number - 1, offset of its length field).
 *
 * Index file:
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "VBIX"
 *   4      1    format version (1)
 *   5      3    zero
 *   8      ...  four sections (symbols, series, labels, postings), each:
 *                 4  content length L
 *                 L  content
 *                 4  CRC32C of the content
 *   end-40 32   TOC: u64 file offset of the symbols, series, labels and
 *               postings sections (offset of their length field)
 *   end-8  4    CRC32C of the 32 TOC bytes
 *   end-4  4    magic "VBIT"
 *
 * Symbols content (every label name and value of the block, distinct,
 * in strcmp order, so symbol ids compare like their strings):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    count N
 *   4      4*N  offset of string i from the start of the content
 *   ...         strings, each NUL-terminated
 *
 * Series content (series sorted by labels_cmp; a series' number is its
 * position, postings refer to it):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    count N
 *   4      4*N  offset of series i's entry from the start of the content
 *   ...         entries, each:
 *                 uvarint  number of labels K
 *                 K times  uvarint name symbol, uvarint value symbol
 *                 uvarint  number of chunks C (time-ordered, disjoint)
 *                 C times  varint  min time: absolute for the first chunk,
 *                                  else minus the previous chunk's max time
 *                          uvarint max time - min time
 *                          uvarint segment number - 1
 *                          uvarint offset in the segment
 *
 * Labels content (the label-value tables):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    number of label names M
 *   4      12*M per name, in symbol order: u32 name symbol, u32 index of
 *               its first value entry, u32 number of values
 *   4+12M  8*V  value entries, per name in symbol order: u32 value symbol,
 *               u32 offset of its postings list in the postings content
 *
 * Postings content: lists back to back, each u32 count n followed by n
 * u32 series numbers in ascending order.
 *
 * Thread-safety: an open block is immutable; every read call may run
 * concurrently. A block is reference counted; the last block_unref of a
 * block marked with block_mark_deleted removes its directory.
 */
#ifndef VARVE_TSDB_BLOCK_H
#define VARVE_TSDB_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/index.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "util/error.h"

#define BLOCK_ID_LEN 26
#define BLOCK_MAX_SOURCES 400

struct arena;

/* What meta.json says about a block. */
struct block_meta {
	char id[BLOCK_ID_LEN + 1]; /* the block's ULID, NUL-terminated */
	int64_t min_time;          /* first millisecond covered (inclusive) */
	int64_t max_time;          /* end of the range (exclusive) */
	uint64_t num_series;       /* series in the block */
	uint64_t num_chunks;       /* chunks in the block */
	uint64_t num_samples;      /* samples in the block */
	int level;                 /* 1 for a block cut from the head, +1 per compaction */
	size_t nsources;           /* entries of sources */
	char sources[BLOCK_MAX_SOURCES][BLOCK_ID_LEN + 1]; /* level-1 blocks merged in */
};

/* True when name is a block id (26 Crockford base32 characters). */
bool block_is_id(const char *name);

/* A fresh ULID into out (BLOCK_ID_LEN + 1 bytes). Thread-safe. */
void block_new_id(char *out);

/* Remove path and everything under it. Returns 0 or TS_ERR_IO. */
int block_rm_rf(const char *path);

/* ------------------------------------------------------------- reading */

struct block;

/*
 * Open the block directory dir: parse meta.json, mmap the index and the
 * chunk segments, check every CRC and bound. Returns NULL with err filled
 * (TS_ERR_CORRUPT for bad bytes, TS_ERR_IO, TS_ERR_NOMEM) on failure.
 * The block starts with one reference; drop it with block_unref.
 */
struct block *block_open(const char *dir, struct ts_error *err);

/* Take one more reference. */
void block_ref(struct block *b);

/* Drop a reference; the last one unmaps and frees (and removes the
 * directory when marked deleted). NULL is a no-op. */
void block_unref(struct block *b);

/* Remove the directory once the last reference is gone. */
void block_mark_deleted(struct block *b);

/* The block's meta (owned by the block) and directory path. */
const struct block_meta *block_meta(const struct block *b);
const char *block_dir(const struct block *b);

/* Bytes of the block's files on disk. */
uint64_t block_size(const struct block *b);

/* Number of series. */
uint32_t block_num_series(const struct block *b);

/*
 * Series numbers matching every matcher (all series when n == 0), into
 * out (initialised by the caller). Returns 0 or TS_ERR_NOMEM.
 */
int block_select(struct block *b, const struct matcher *ms, size_t n, struct postings *out);

/*
 * Labels of series number i: out->v is allocated from a (or malloc'd when
 * a is NULL; free out->v then), strings point into the block's mapping
 * and stay valid while the caller holds a reference.
 * Returns 0, TS_ERR_NOMEM or TS_ERR_CORRUPT.
 */
int block_series_labels(struct block *b, uint32_t i, struct arena *a, struct labels *out);

/*
 * Samples of series i in [mint, maxt], as head_series_samples: with t and
 * v NULL returns 1 when there is one, else 0; otherwise *t and *v get
 * malloc'd arrays (NULL when none) and the count is returned. Negative
 * ts_err on failure.
 */
long block_series_samples(struct block *b, uint32_t i, int64_t mint, int64_t maxt,
			  int64_t **t, double **v);

/*
 * Every label name of the block, sorted: *out is a malloc'd array of
 * strings in the mapping (free the array only). Returns 0 or NOMEM.
 */
int block_label_names(struct block *b, const char ***out, size_t *n);

/* Every value of label name, sorted; same ownership as above. */
int block_label_values(struct block *b, const char *name, const char ***out, size_t *n);

/* ------------------------------------------------------------- writing */

struct block_writer;

/*
 * Start a block in parent_dir/<new id>.tmp. Returns NULL with err filled
 * on failure. Finish with block_writer_commit or block_writer_abort.
 */
struct block_writer *block_writer_new(const char *parent_dir, struct ts_error *err);

/*
 * Add a series with its samples t[0..n), v[0..n) (timestamps strictly
 * increasing). Series must come in labels_cmp order, each once; a series
 * with n == 0 is skipped. Labels are copied. Returns 0 or a negative
 * ts_err (the writer is then only good for abort).
 */
int block_writer_add(struct block_writer *w, const struct labels *ls, const int64_t *t,
		     const double *v, size_t n);

/*
 * Write the index and meta.json, fsync, rename into place. meta gives the
 * range, level and sources (id and stats are filled in by the writer and
 * copied back into *meta). Frees w. Returns 0 or a negative ts_err with
 * err filled (the temporary directory is then removed). A block without
 * series is not written: returns TS_ERR_NOT_FOUND.
 */
int block_writer_commit(struct block_writer *w, struct block_meta *meta, struct ts_error *err);

/* Remove the temporary directory and free w. NULL is a no-op. */
void block_writer_abort(struct block_writer *w);

#endif
