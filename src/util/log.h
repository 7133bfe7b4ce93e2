/*
 * log.h - one-line structured log records on stderr.
 *
 * Each record is a single line in logfmt:
 *
 *	ts=2026-11-22T00:03:13.123Z level=info msg="listening" addr=:9201
 *
 * The message is quoted and escaped; the key=value tail is formatted by the
 * caller (printf-style) and must quote values containing spaces itself
 * (log_quote helps). A whole line goes out in one write, so lines from
 * several threads never interleave.
 */
#ifndef VARVE_UTIL_LOG_H
#define VARVE_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3,
};

/* Records below level are dropped (default LOG_INFO). */
void log_set_level(enum log_level level);

/* True when records of level are written (to skip building costly ones). */
bool log_enabled(enum log_level level);

/*
 * Write a record: msg is the human message (any text, quoted for you);
 * kv_fmt (may be NULL) is a printf format for the " key=value ..." part,
 * written after msg with one separating space.
 */
void log_msg(enum log_level level, const char *msg, const char *kv_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Quote s for a logfmt value into out (size cap): `"..."` with `"` and `\`
 * escaped and control bytes shown as \n, \t or \xNN. Truncates to fit;
 * returns out.
 */
char *log_quote(const char *s, char *out, size_t cap);

#endif
