/*
 * chunks_disk.h - completed head chunks kept in mmap'd files instead of
 * the heap, so that the head's memory grows with its active series, not
 * with the samples it holds.
 *
 * The files DIR/000001, DIR/000002 ... are fixed-size segments
 * (CDISK_SEG_BYTES), written with pwrite and read through one read-only
 * shared mapping each: the bytes live in the page cache, which the kernel
 * writes back and evicts as it needs (they count towards the process's
 * resident set only while recently read). A chunk never spans segments.
 * The files hold nothing that is not also in the WAL: they are deleted
 * when the head is freed and when the next head opens the directory.
 *
 * Layout of a segment: chunk bytes back to back, exactly as handed to
 * cdisk_put (Prometheus XOR encoding, chunk_xor.h); no header, the head
 * keeps every chunk's offset and length in memory.
 *
 * Thread-safety: cdisk_put and cdisk_release may be called from any
 * thread; a pointer handed out stays valid until it is released.
 */
#ifndef VARVE_TSDB_CHUNKS_DISK_H
#define VARVE_TSDB_CHUNKS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define CDISK_SEG_BYTES ((size_t)64 << 20)

struct cdisk;

/* Use dir (created if missing; files left in it are deleted). NULL with
 * err filled on failure. Free with cdisk_free. */
struct cdisk *cdisk_open(const char *dir, struct ts_error *err);

/* Unmap and delete every segment, free d. NULL is a no-op. */
void cdisk_free(struct cdisk *d);

/*
 * Copy data[0..len) into a segment. Returns a pointer to the copy in a
 * read-only mapping, valid until cdisk_release of it or cdisk_free; NULL
 * when the copy could not be made (the caller keeps its heap copy).
 */
const uint8_t *cdisk_put(struct cdisk *d, const uint8_t *data, size_t len);

/* True when p was handed out by cdisk_put of d. */
bool cdisk_owns(struct cdisk *d, const uint8_t *p);

/*
 * The len bytes at p (from cdisk_put) are no longer needed. A segment
 * that is no longer written and whose every chunk was released is unmapped
 * and deleted: the caller must make sure nobody reads p any more.
 */
void cdisk_release(struct cdisk *d, const uint8_t *p, size_t len);

/* Drop the mapped pages from the process's resident set (they stay in
 * the page cache and fault back in when read). */
void cdisk_drop_resident(struct cdisk *d);

/* Segments currently mapped and their live bytes. */
void cdisk_stats(struct cdisk *d, size_t *segments, size_t *live_bytes);

#endif
