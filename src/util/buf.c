/* buf.c - see buf.h */
#include "util/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

char *buf_detach(struct buf *b, size_t *len_out)
{
	char *p;

	if (!b->data)
		buf_grow(b, 1);
	p = b->data;
	if (len_out)
		*len_out = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
	return p;
}

bool buf_grow(struct buf *b, size_t n)
{
	size_t want;
	char *p;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	want = b->cap ? b->cap : 64;
	while (want < b->len + n + 1)
		want *= 2;
	p = realloc(b->data, want);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = want;
	b->data[b->len] = '\0';
	return true;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	if (!buf_grow(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addch(struct buf *b, char c)
{
	if (!buf_grow(b, 1))
		return;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_setlen(struct buf *b, size_t len)
{
	if (len <= b->len && b->data) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/*
 * Shortest round-trip: try %.{1..17}g until strtod gives v back, then
 * reshape into Go's 'f'/'e' choice: exponent form when exp < -4 || exp >= 21,
 * like strconv.FormatFloat(v, 'g'-ish) with Prometheus's
 * FormatFloat(f, 'f', -1, 64) for exp < 21.
 */
void buf_add_float(struct buf *b, double v)
{
	char tmp[40], digits[40];
	int prec, exp10, nd, i;
	char *e;

	if (isnan(v)) {
		buf_addstr(b, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_addstr(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == 0) {
		buf_addstr(b, signbit(v) ? "-0" : "0");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* tmp is [-]d[.ddd]e[+-]XX: collect digits and exponent */
	nd = 0;
	for (i = 0; tmp[i] && tmp[i] != 'e'; i++)
		if (tmp[i] >= '0' && tmp[i] <= '9')
			digits[nd++] = tmp[i];
	digits[nd] = '\0';
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	e = strchr(tmp, 'e');
	exp10 = atoi(e + 1);
	if (v < 0)
		buf_addch(b, '-');
	if (exp10 < -4 || exp10 >= 21) {
		/* d.ddde±XX, exponent at least two digits, like Go */
		buf_addch(b, digits[0]);
		if (nd > 1) {
			buf_addch(b, '.');
			buf_add(b, digits + 1, (size_t)nd - 1);
		}
		buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
		return;
	}
	if (exp10 < 0) {
		buf_addstr(b, "0.");
		for (i = 0; i < -exp10 - 1; i++)
			buf_addch(b, '0');
		buf_add(b, digits, (size_t)nd);
		return;
	}
	if (nd <= exp10 + 1) {
		buf_add(b, digits, (size_t)nd);
		for (i = nd; i <= exp10; i++)
			buf_addch(b, '0');
		return;
	}
	buf_add(b, digits, (size_t)exp10 + 1);
	buf_addch(b, '.');
	buf_add(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
}
