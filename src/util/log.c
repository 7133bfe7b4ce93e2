/*
 * log.c - logfmt lines on stderr; see log.h.
 *
 * The line is assembled in a stack buffer (truncated at LOG_LINE_MAX) and
 * written with one write(2), which the kernel keeps whole for pipes and
 * terminals at this size.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static atomic_int log_level = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_level);
}

char *log_quote(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	unsigned char c;

	if (cap < 3) {
		if (cap)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (; *s; s++) {
		char esc[5];
		size_t n;

		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
			n = 2;
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n + 2 > cap)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void log_msg(enum log_level level, const char *msg, const char *kv_fmt, ...)
{
	char line[LOG_LINE_MAX], q[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if ((int)level < atomic_load(&log_level))
		return;
	if ((unsigned)level > LOG_ERROR)
		level = LOG_ERROR;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	r = snprintf(line, sizeof(line),
		     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s msg=%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level],
		     log_quote(msg, q, sizeof(q)));
	n = r < 0 ? 0 : (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (kv_fmt && *kv_fmt && n < sizeof(line) - 3) {
		line[n++] = ' ';
		va_start(ap, kv_fmt);
		r = vsnprintf(line + n, sizeof(line) - n - 1, kv_fmt, ap);
		va_end(ap);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}
