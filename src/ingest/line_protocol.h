/*
 * line_protocol.h - InfluxDB line protocol: a parser of the whole syntax
 * and the mapping of its points onto varve's series, without the HTTP.
 *
 * Syntax, one point per line (lines end at a newline outside a quoted
 * string field; a CR before the newline is dropped; blank lines and lines
 * whose first non-blank byte is '#' are skipped):
 *
 *	measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 *   - measurement: `\,` and `\ ` are escapes; tag keys, tag values and
 *     field keys: `\,`, `\=` and `\ `; any other backslash is kept as is
 *   - field values: float (1, -1.5, 1., .5, 1e3, -1.5E-3), integer 12i,
 *     unsigned 12u, boolean t T true True TRUE f F false False FALSE,
 *     string "..." with `\"` and `\\` escapes (may span lines)
 *   - timestamp: an integer in the request's precision (ns by default);
 *     absent means the server's time, truncated to the precision
 *
 * Mapping onto series (lp_write):
 *   - every numeric or boolean field becomes one sample of the series
 *     `measurement_field{tags}`; a field named `value` gives `measurement`
 *     alone; integers, unsigned integers and booleans (1/0) become floats;
 *     string fields are skipped and counted
 *   - names are sanitised: in metric names every byte (or UTF-8 sequence)
 *     outside [a-zA-Z0-9_:] becomes '_', in label names outside
 *     [a-zA-Z0-9_]; a name starting with a digit gets a leading '_'
 *   - a tag whose key is `__name__` is dropped (the metric name wins)
 *   - lp_opts.db, when set, is added as the label `db` unless the point
 *     has a tag `db` already (what VictoriaMetrics does with ?db=)
 *   - timestamps become milliseconds (rounded down)
 *
 * Errors: a bad line is skipped and counted, the rest is still stored; the
 * first bad line is named in lp_result.msg as InfluxDB words it:
 * `unable to parse '<line>': <reason> (line N)`.
 */
#ifndef VARVE_INGEST_LINE_PROTOCOL_H
#define VARVE_INGEST_LINE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct db;

/* Unit of the timestamps of a request. */
enum lp_precision {
	LP_NS = 0, /* nanoseconds (default) */
	LP_US,     /* microseconds */
	LP_MS,     /* milliseconds */
	LP_S,      /* seconds */
	LP_M,      /* minutes (InfluxDB 1.x) */
	LP_H,      /* hours (InfluxDB 1.x) */
};

/*
 * Parse a precision parameter: NULL or "" -> LP_NS; "n", "ns", "u", "us",
 * "ms", "s", "m", "h". Returns 0, or TS_ERR_INVALID for anything else.
 */
int lp_precision_parse(const char *s, enum lp_precision *out);

/* Type of a parsed field. */
enum lp_type {
	LP_FLOAT,    /* 1.5 */
	LP_INTEGER,  /* 12i */
	LP_UNSIGNED, /* 12u */
	LP_BOOLEAN,  /* true / false (value 1 / 0) */
	LP_STRING,   /* "..." (value 0; the text is not kept) */
};

/* One field of a parsed point. */
struct lp_field {
	const char *key;   /* unescaped key, NUL-terminated, in the parser */
	double value;      /* numeric value (see enum lp_type) */
	enum lp_type type; /* what the value was written as */
};

/* One tag of a parsed point. */
struct lp_tag {
	const char *key;   /* unescaped key, in the parser */
	const char *value; /* unescaped value, in the parser, never empty */
};

/* One parsed line; every pointer is valid until the next lp_parser call. */
struct lp_point {
	const char *measurement; /* unescaped, never empty */
	struct lp_tag *tags;     /* tags as written (not sorted) */
	size_t ntags;            /* number of tags */
	struct lp_field *fields; /* fields as written, at least one */
	size_t nfields;          /* number of fields */
	bool has_time;           /* a timestamp was written */
	int64_t time;            /* the timestamp in the request's precision */
	int line;                /* 1-based line number of the point */
	const char *text;        /* the line as written (not NUL-terminated) */
	size_t text_len;         /* its length, without newline and CR */
};

struct lp_parser;

/* A parser over body[0..len) (only read; must outlive the parser). NULL
 * when out of memory. Free with lp_parser_free. */
struct lp_parser *lp_parser_new(const char *body, size_t len);

/* NULL is a no-op. */
void lp_parser_free(struct lp_parser *p);

/*
 * Parse the next point into *pt. Returns 1 for a point, 0 at the end of
 * the body, TS_ERR_INVALID for a bad line (err names it: code, line,
 * pos = byte offset of the line, msg `unable to parse '<line>': <reason>`;
 * the parser has moved past it, so the caller may go on), TS_ERR_NOMEM.
 * Duplicate tag keys are not checked here (lp_write checks them after
 * sanitising the names).
 */
int lp_parser_next(struct lp_parser *p, struct lp_point *pt, struct ts_error *err);

/* Options of lp_write. */
struct lp_opts {
	enum lp_precision precision; /* unit of the timestamps */
	int64_t now_ms;              /* time of points without a timestamp (ms) */
	const char *db;              /* value of the `db` label; NULL or "": none */
};

/* Outcome of lp_write. */
struct lp_result {
	int status;               /* 204, 400 (bad lines or rejected samples), 500 */
	char msg[TS_ERROR_MSG_MAX]; /* first problem of the worst kind, "" when 204 */
	uint64_t points;          /* lines parsed into points */
	uint64_t bad_lines;       /* lines that did not parse */
	uint64_t samples_written; /* samples stored */
	uint64_t strings_skipped; /* string fields skipped */
	uint64_t rejected;        /* samples not stored, all reasons */
	uint64_t out_of_order;    /* of which older than their series' newest sample */
	uint64_t duplicate;       /* of which another value at a stored timestamp */
};

/*
 * Parse body[0..len) and store every sample in db through one appender;
 * see the top of this file. body is only read. Always fills res (cleared
 * first). Thread-safe as far as db is.
 */
void lp_write(struct db *db, const char *body, size_t len, const struct lp_opts *opts,
	      struct lp_result *res);

/* Current time in milliseconds (CLOCK_REALTIME), for lp_opts.now_ms. */
int64_t lp_now_ms(void);

#endif
