/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Embedded value type: `struct buf b = BUF_INIT;` then buf_* calls, then
 * buf_release (or buf_detach to take the bytes). Growth failures set a
 * sticky `oom` flag instead of aborting; writers check buf_ok once at the
 * end, so formatting code stays linear.
 */
#ifndef VARVE_UTIL_BUF_H
#define VARVE_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data; /* len bytes plus a NUL; NULL until the first write */
	size_t len; /* bytes written */
	size_t cap; /* bytes allocated */
	bool oom;   /* an allocation failed; contents are truncated */
};

#define BUF_INIT { NULL, 0, 0, false }

/* Free the bytes and reset to BUF_INIT. */
void buf_release(struct buf *b);

/* Hand out the bytes (caller frees with free()); b is reset. Never NULL
 * unless out of memory. *len_out (may be NULL) gets the length. */
char *buf_detach(struct buf *b, size_t *len_out);

/* Make room for n more bytes; false (and oom set) on failure. */
bool buf_grow(struct buf *b, size_t n);

void buf_add(struct buf *b, const void *p, size_t n);
void buf_addstr(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Truncate to len (len <= b->len). */
void buf_setlen(struct buf *b, size_t len);

static inline bool buf_ok(const struct buf *b)
{
	return !b->oom;
}

/* Append a float as the shortest string that parses back to the same
 * double, the way Prometheus prints values: "NaN", "+Inf", "-Inf",
 * otherwise like Go's strconv.FormatFloat(v, 'f' or 'e', -1, 64). */
void buf_add_float(struct buf *b, double v);

#endif
