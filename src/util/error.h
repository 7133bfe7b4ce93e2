/*
 * error.h - the one error convention of varve.
 *
 * Fallible calls return int: 0 on success, a negative enum ts_err on failure.
 * Parsers and decoders of outside input also fill a caller-owned struct
 * ts_error with the position and a one-line message; the HTTP layer maps
 * the code to a status (see api/) and shows the message to the client.
 * Messages are lowercase, without a final period, failure first.
 */
#ifndef VARVE_UTIL_ERROR_H
#define VARVE_UTIL_ERROR_H

#include <stddef.h>

enum ts_err {
	TS_OK = 0,
	TS_ERR_NOMEM = -1,        /* allocation failed */
	TS_ERR_INVALID = -2,      /* input is malformed (bad request) */
	TS_ERR_IO = -3,           /* read/write/fsync failed */
	TS_ERR_CORRUPT = -4,      /* stored bytes failed a check */
	TS_ERR_LIMIT = -5,        /* a configured limit was exceeded */
	TS_ERR_OUT_OF_ORDER = -6, /* sample older than the series' newest */
	TS_ERR_DUPLICATE = -7,    /* same timestamp, different value */
	TS_ERR_NOT_FOUND = -8,    /* no such object */
	TS_ERR_EXEC = -9,         /* query evaluation failed (422) */
	TS_ERR_TIMEOUT = -10,     /* query ran past its deadline (503) */
	TS_ERR_CANCELED = -11,    /* query was canceled */
	TS_ERR_UNSUPPORTED = -12, /* valid input that varve does not handle */
	TS_ERR_STATE = -13,       /* object is in a sticky error state */
};

#define TS_ERROR_MSG_MAX 512

/* Details of a failure, filled by parsers and decoders. */
struct ts_error {
	int code;                   /* enum ts_err */
	size_t pos;                 /* byte offset into the input, 0-based */
	int line;                   /* 1-based line, 0 when not known */
	int col;                    /* 1-based column, 0 when not known */
	char msg[TS_ERROR_MSG_MAX]; /* one line, NUL-terminated */
};

/*
 * Fill err (which may be NULL) with code and a printf-style message; returns
 * code so that callers can write `return ts_error_set(err, ...)`.
 */
int ts_error_set(struct ts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, also recording the position. */
int ts_error_set_pos(struct ts_error *err, int code, size_t pos, int line, int col,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Reset err to "no error". err may be NULL. */
void ts_error_clear(struct ts_error *err);

/* Static lowercase name of an error code ("invalid input", ...). */
const char *ts_strerror(int code);

#endif
