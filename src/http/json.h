/*
 * json.h - a small streaming JSON writer (jw_*) into a struct buf.
 *
 * API responses are written front to back with these calls instead of
 * building a document tree first: no allocation per value, one growing
 * buffer per response. The writer keeps one bit per open container saying
 * whether a comma is due, so callers never deal with separators:
 *
 *	struct jw j;
 *	jw_init(&j, &b);
 *	jw_obj_begin(&j);
 *	jw_key(&j, "status"); jw_str(&j, "success");
 *	jw_key(&j, "data"); jw_arr_begin(&j); ... jw_arr_end(&j);
 *	jw_obj_end(&j);
 *
 * Invariants:
 *  1. Strings are escaped as JSON requires (quote, backslash, every byte
 *     below 0x20); bytes that are not valid UTF-8 become U+FFFD, so the
 *     output is always valid UTF-8 whatever the input.
 *  2. Sample values are JSON strings ("1.5", "NaN", "+Inf") and timestamps
 *     are numbers in seconds with at most three decimals, as Prometheus's
 *     HTTP API writes them.
 *  3. Nesting deeper than JSON_MAX_DEPTH is a programming error; the writer
 *     then stops tracking commas (output stays well-formed in practice
 *     because API documents are shallow).
 *
 * Memory failures are recorded in the buffer (buf_ok) and checked once.
 */
#ifndef VARVE_HTTP_JSON_H
#define VARVE_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define JSON_MAX_DEPTH 64

/* Writer state; embedded value, no release needed (the buffer is the
 * caller's). */
struct jw {
	struct buf *b;     /* output, not owned */
	uint64_t comma;    /* bit d set: container at depth d has a member */
	int depth;         /* open containers */
	bool after_key;    /* a key was just written: next value needs no comma */
};

/* Start writing into b (appends after what b holds). */
void jw_init(struct jw *j, struct buf *b);

void jw_obj_begin(struct jw *j);
void jw_obj_end(struct jw *j);
void jw_arr_begin(struct jw *j);
void jw_arr_end(struct jw *j);

/* An object key (escaped); the next call writes its value. */
void jw_key(struct jw *j, const char *k);

/* String values: NUL-terminated, or n bytes (may hold NULs, escaped). */
void jw_str(struct jw *j, const char *s);
void jw_strn(struct jw *j, const char *s, size_t n);

void jw_int(struct jw *j, int64_t v);
void jw_uint(struct jw *j, uint64_t v);
void jw_bool(struct jw *j, bool v);
void jw_null(struct jw *j);

/* A float as a bare JSON number (shortest round-trip); NaN and infinities,
 * which JSON cannot hold, are written as null. */
void jw_double(struct jw *j, double v);

/* A sample value the way Prometheus writes it: a JSON string holding the
 * shortest round-trip form, "NaN", "+Inf" or "-Inf". */
void jw_sample_value(struct jw *j, double v);

/* A timestamp given in milliseconds, written as seconds:
 * 1700000000123 -> 1700000000.123, 1700000000000 -> 1700000000,
 * 1500 -> 1.500 (always three decimals when there is a fraction). */
void jw_time_ms(struct jw *j, int64_t ms);

/* Pre-formatted JSON text, written as one value. */
void jw_raw(struct jw *j, const char *text);

/*
 * Append s[0..n) to b as a quoted, escaped JSON string (invariant 1).
 * Exposed for code that writes JSON without a struct jw.
 */
void jw_escape(struct buf *b, const char *s, size_t n);

#endif
