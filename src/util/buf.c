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
 * Is there a prec-digit decimal that parses back to a? The correctly
 * rounded one (%.*e) is the closest; when it fails, the closest on the
 * other side of a (one unit in the last place away) may still be inside
 * the lopsided rounding interval above a power of two, so it is tried
 * too. Any shorter round-tripping decimal padded with zeros is a prec-digit
 * one, so the answer is monotone in prec. On success *m and *q hold the
 * digits as an integer and the exponent (a ~ m * 10^q). glibc's strtod
 * rounds correctly, so "parses back" is exact.
 */
static bool digits_fit(double a, int prec, unsigned long long *m, int *q)
{
	char tmp[48], *e;
	unsigned long long cand;
	int i, delta;

	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, a);
	e = strchr(tmp, 'e');
	*m = 0;
	for (i = 0; tmp + i < e; i++)
		if (tmp[i] >= '0' && tmp[i] <= '9')
			*m = *m * 10 + (unsigned long long)(tmp[i] - '0');
	*q = atoi(e + 1) - (prec - 1);
	if (strtod(tmp, NULL) == a)
		return true;
	for (delta = 1; delta >= -1; delta -= 2) {
		cand = *m + (unsigned long long)(long long)delta;
		if (cand == 0)
			continue;
		snprintf(tmp, sizeof(tmp), "%llue%d", cand, *q);
		if (strtod(tmp, NULL) == a) {
			*m = cand;
			return true;
		}
	}
	return false;
}

/*
 * Shortest decimal digits of a (finite, > 0) that parse back to a, the
 * closest to a among those (binary search on the digit count, 17 always
 * suffices). Fills digits (no trailing zeros, NUL-terminated) and the
 * decimal exponent of the first digit.
 */
static void shortest_digits(double a, char digits[24], int *exp10)
{
	unsigned long long m;
	int lo = 1, hi = 17, mid, q, nd;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (digits_fit(a, mid, &m, &q))
			hi = mid;
		else
			lo = mid + 1;
	}
	digits_fit(a, lo, &m, &q);
	nd = snprintf(digits, 24, "%llu", m);
	*exp10 = q + nd - 1;
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
}

/*
 * Prometheus's JSON sample values: strconv.FormatFloat(v, 'f', -1, 64),
 * except 'e' (d.ddde±XX, at least two exponent digits) when
 * |v| < 1e-6 or |v| >= 1e21; "NaN", "+Inf", "-Inf"; "-0" for negative zero.
 */
void buf_add_float(struct buf *b, double v)
{
	char digits[24];
	int exp10, nd, i;
	double a = fabs(v);

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
	if (v < 0)
		buf_addch(b, '-');
	if (a < 9007199254740992.0 && a == (double)(uint64_t)a) {
		/* integers below 2^53 are exact: their digits are the answer */
		buf_printf(b, "%llu", (unsigned long long)a);
		return;
	}
	shortest_digits(a, digits, &exp10);
	nd = (int)strlen(digits);
	if (a < 1e-6 || a >= 1e21) {
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
