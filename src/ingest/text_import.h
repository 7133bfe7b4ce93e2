/*
 * text_import.h - import of Prometheus's text exposition format (0.0.4)
 * and OpenMetrics text into the store, without the HTTP.
 *
 * The HTTP layer (POST /api/v1/import/prometheus) hands over the body and
 * the options; ti_import parses it line by line, stores every good line
 * and answers with the HTTP status and a message naming the first bad
 * line. What is accepted, line by line:
 *
 *   name{label="value",...} value [timestamp] [# exemplar or comment]
 *   # HELP name text         kept as metadata (escapes \\ \n, and \")
 *   # TYPE name type         counter, gauge, histogram, gaugehistogram,
 *                            summary, info, stateset, unknown, untyped
 *   # UNIT name unit         (OpenMetrics) kept as metadata
 *   # EOF                    end of an OpenMetrics body; only empty lines
 *                            may follow
 *   # anything else          a comment, skipped
 *
 * Label values take the escapes \\, \" and \n; a backslash before any
 * other character is kept as it is, as Prometheus and VictoriaMetrics do.
 * Values are floats as Prometheus writes them, NaN, +Inf and -Inf
 * included. Lines end in \n, \r\n is accepted.
 *
 * Timestamps: a body is OpenMetrics when the caller says so (the
 * Content-Type) or when its last non-empty line is "# EOF"; there a
 * timestamp is in seconds with an optional fraction (kept to the
 * millisecond). Otherwise it is 0.0.4, where a timestamp is an integer in
 * milliseconds. A sample without one gets ti_opts.default_ms.
 *
 * OpenMetrics _created samples of counter, histogram, gaugehistogram and
 * summary families are skipped (counted in created_skipped), as Prometheus
 * 3 does without its created-timestamp feature; _total and every other
 * sample name is stored as written. Exemplars after " # " are skipped.
 *
 * Metadata: the family of a HELP, TYPE or UNIT line is its name as
 * written; one entry per run of such lines for a family goes to
 * db_set_metadata (type unknown when only HELP was given).
 *
 * Status: 204 when every line was stored; 400 when a line is malformed or
 * its series or sample is refused (invalid labels, out of order, a
 * different value at the same timestamp) - every good line is still
 * stored and the message names the first bad line; 500 when the storage
 * fails.
 */
#ifndef VARVE_INGEST_TEXT_IMPORT_H
#define VARVE_INGEST_TEXT_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/labels.h"

struct db;

/* Options of ti_import. */
struct ti_opts {
	int64_t default_ms;        /* timestamp (ms) of samples that carry none */
	const struct label *extra; /* labels added to every series, replacing
				    * labels of the same name (may be NULL) */
	size_t nextra;             /* number of extra labels */
	bool openmetrics;          /* the body is OpenMetrics (else detected) */
};

/* Outcome of ti_import. */
struct ti_result {
	int status;                /* HTTP status: 204, 400 or 500 */
	char msg[512];             /* "line N: reason: \"line text\"" when >= 400 */
	uint64_t lines;            /* lines read */
	uint64_t samples_written;  /* samples stored */
	uint64_t samples_rejected; /* sample lines refused (bad, or by storage) */
	uint64_t created_skipped;  /* OpenMetrics _created samples skipped */
	uint64_t metadata_written; /* metadata entries recorded */
	size_t first_bad_line;     /* 1-based number of the first bad line, 0: none */
};

/*
 * Parse body[0..len) (need not be NUL-terminated; only read) and store it
 * in db through one appender; fills res (cleared first). All temporary
 * memory is freed before returning. Thread-safe as far as db is.
 */
void ti_import(struct db *db, const char *body, size_t len, const struct ti_opts *opts,
	       struct ti_result *res);

#endif
