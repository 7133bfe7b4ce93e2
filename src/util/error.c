/* error.c - see error.h */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void fill(struct ts_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int ts_error_set(struct ts_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->pos = 0;
	err->line = 0;
	err->col = 0;
	va_start(ap, fmt);
	fill(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int ts_error_set_pos(struct ts_error *err, int code, size_t pos, int line, int col,
		     const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->pos = pos;
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	fill(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void ts_error_clear(struct ts_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

const char *ts_strerror(int code)
{
	switch (code) {
	case TS_OK: return "success";
	case TS_ERR_NOMEM: return "out of memory";
	case TS_ERR_INVALID: return "invalid input";
	case TS_ERR_IO: return "i/o error";
	case TS_ERR_CORRUPT: return "corrupt data";
	case TS_ERR_LIMIT: return "limit exceeded";
	case TS_ERR_OUT_OF_ORDER: return "out of order sample";
	case TS_ERR_DUPLICATE: return "duplicate sample for timestamp";
	case TS_ERR_NOT_FOUND: return "not found";
	case TS_ERR_EXEC: return "execution error";
	case TS_ERR_TIMEOUT: return "timeout";
	case TS_ERR_CANCELED: return "canceled";
	case TS_ERR_UNSUPPORTED: return "unsupported";
	case TS_ERR_STATE: return "storage is in an error state";
	}
	return "unknown error";
}
