/*
 * remote_write_int.h - what remote_write.c (1.0 and the shared steps) and
 * remote_write_v2.c (2.0) share: the message helpers, the arena allocator
 * handed to protobuf-c, and the protobuf wire primitives of the hand
 * decoder. Not for use outside src/ingest.
 */
#ifndef VARVE_INGEST_REMOTE_WRITE_INT_H
#define VARVE_INGEST_REMOTE_WRITE_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/remote_write.h"
#include "tsdb/labels.h"
#include "util/arena.h"

struct db;

/* ------------------------------------------------------------ messages */

/* A fixed-size string being written; stops (with "...") when full. */
struct rw_sbuf {
	char *p;     /* destination, always NUL-terminated */
	size_t len;  /* bytes written */
	size_t cap;  /* size of p, at least 4 */
	bool full;   /* output was cut */
};

/* Start writing into p[0..cap) (cap at least 4). */
void rw_sb_init(struct rw_sbuf *sb, char *p, size_t cap);

/* Append s[0..n) as it is. */
void rw_sb_add(struct rw_sbuf *sb, const char *s, size_t n);

/* Append the NUL-terminated s so that the message stays one line of valid
 * UTF-8 (control bytes and invalid UTF-8 as \xNN); with quote set, quotes
 * and backslashes are escaped too. */
void rw_sb_add_clean(struct rw_sbuf *sb, const char *s, bool quote);

/* Append a label set as Prometheus prints it: {a="b", c="d"}. */
void rw_sb_add_labels(struct rw_sbuf *sb, const struct label *v, size_t n);

/* Set status and message unless a problem of at least that status is
 * already recorded (the first problem of the worst kind wins). */
void rw_set_problem(struct rw_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like rw_set_problem with the message "<what><labels><tail>". */
void rw_set_series_problem(struct rw_result *res, int status, const char *what,
			   const struct label *v, size_t n, const char *tail);

/* ------------------------------------------------------------ decoding */

/* protobuf-c allocator over the request arena that tells a hit of the
 * arena's cap apart from a failed malloc. */
struct rw_pb_alloc {
	ProtobufCAllocator inner; /* arena_protobuf_allocator of the arena */
	struct arena *arena;      /* the request arena */
	size_t limit;             /* its cap */
	bool over_limit;          /* an allocation failed because of the cap */
	bool nomem;               /* an allocation failed below the cap */
};

/* ProtobufCAllocator callbacks; data is a struct rw_pb_alloc. */
void *rw_pb_alloc_fn(void *data, size_t size);
void rw_pb_free_fn(void *data, void *p);

/* Wire types of the protobuf encoding. */
enum {
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
	WT_I32 = 5,
};

/* Outcome of decoding a request. */
enum dec_status {
	DEC_OK = 0,
	DEC_MALFORMED = -1, /* not a valid request message */
	DEC_NOMEM = -2,     /* an allocation failed (see struct rw_pb_alloc) */
};

/* Read a varint of at most 10 bytes at *p (< end); false when it does not
 * end in time. */
static inline bool rw_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	const uint8_t *q = *p;
	uint64_t v = 0;
	unsigned shift;

	if (q < end && *q < 0x80) {
		*out = *q;
		*p = q + 1;
		return true;
	}
	for (shift = 0; shift < 70 && q < end; shift += 7) {
		uint8_t b = *q++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			*out = v;
			*p = q;
			return true;
		}
	}
	return false;
}

/* Read a field tag; false for malformed tags, a first byte without field
 * bits (field 0 written in one byte) and group or undefined wire types. */
static inline bool rw_get_tag(const uint8_t **p, const uint8_t *end, uint32_t *field,
			   unsigned *wt)
{
	const uint8_t *q = *p;
	uint64_t v = 0;
	unsigned i;

	if (q >= end || (*q & 0xf8) == 0)
		return false;
	if (*q < 0x80) {
		v = *q;
		*p = q + 1;
	} else {
		for (i = 0;; i++) {
			uint8_t b;

			if (i == 5 || q >= end)
				return false;
			b = *q++;
			v |= (uint64_t)(b & 0x7f) << (7 * i);
			if (b < 0x80)
				break;
		}
		*p = q;
	}
	*wt = (unsigned)(v & 7);
	*field = (uint32_t)(v >> 3);
	return *wt == WT_VARINT || *wt == WT_I64 || *wt == WT_LEN || *wt == WT_I32;
}

/* Read a length prefix (at most 5 bytes) and check that the data fits. */
static inline bool rw_get_len(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *q = *p;
	uint64_t v = 0;
	unsigned i;

	if (q < end && *q < 0x80) {
		v = *q++;
	} else {
		for (i = 0;; i++) {
			uint8_t b;

			if (i == 5 || q >= end)
				return false;
			b = *q++;
			v |= (uint64_t)(b & 0x7f) << (7 * i);
			if (b < 0x80)
				break;
		}
	}
	if (v > (uint64_t)(end - q))
		return false;
	*len = (size_t)v;
	*p = q;
	return true;
}

/* Skip the value of an unknown field of wire type wt. */
static inline bool rw_skip_field(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t v;
	size_t n;

	switch (wt) {
	case WT_VARINT:
		return rw_get_varint(p, end, &v);
	case WT_I64:
		if (end - *p < 8)
			return false;
		*p += 8;
		return true;
	case WT_LEN:
		if (!rw_get_len(p, end, &n))
			return false;
		*p += n;
		return true;
	case WT_I32:
		if (end - *p < 4)
			return false;
		*p += 4;
		return true;
	default:
		return false;
	}
}

/*
 * Decode a remote_write 2.0 Request of len bytes at buf (decompressed, in
 * the request arena, with one spare byte behind it) through protobuf-c
 * with allocator pb, then store it in db; fills res (counters, status and
 * message of rejected series) like the 1.0 path. Returns DEC_OK once the
 * request decoded (whatever storing gave), or DEC_MALFORMED / DEC_NOMEM
 * with nothing stored. Defined in remote_write_v2.c.
 */
enum dec_status rw_v2_write(struct db *db, struct arena *arena, ProtobufCAllocator *pb,
			    const uint8_t *buf, size_t len, struct rw_result *res);

#endif
