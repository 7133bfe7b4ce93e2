/*
 * json.c - streaming JSON writer; see json.h.
 *
 * Escaping copies runs of bytes that need nothing (printable ASCII other
 * than '"' and '\\', and well-formed multi-byte UTF-8) in one buf_add, and
 * handles the rest byte by byte. UTF-8 is checked as in RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF; each offending
 * byte becomes one U+FFFD, like Go's encoding/json does.
 */
#include "http/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void jw_init(struct jw *j, struct buf *b)
{
	j->b = b;
	j->comma = 0;
	j->depth = 0;
	j->after_key = false;
}

/* Write the separator due before a value or key at the current level. */
static void jw_sep(struct jw *j)
{
	uint64_t bit;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth <= 0 || j->depth > JSON_MAX_DEPTH)
		return;
	bit = UINT64_C(1) << (j->depth - 1);
	if (j->comma & bit)
		buf_addch(j->b, ',');
	else
		j->comma |= bit;
}

static void jw_open(struct jw *j, char c)
{
	jw_sep(j);
	buf_addch(j->b, c);
	j->depth++;
	if (j->depth <= JSON_MAX_DEPTH)
		j->comma &= ~(UINT64_C(1) << (j->depth - 1));
}

static void jw_close(struct jw *j, char c)
{
	buf_addch(j->b, c);
	if (j->depth > 0)
		j->depth--;
	j->after_key = false;
}

void jw_obj_begin(struct jw *j)
{
	jw_open(j, '{');
}

void jw_obj_end(struct jw *j)
{
	jw_close(j, '}');
}

void jw_arr_begin(struct jw *j)
{
	jw_open(j, '[');
}

void jw_arr_end(struct jw *j)
{
	jw_close(j, ']');
}

/*
 * Length of the well-formed UTF-8 sequence starting at s (n bytes left),
 * or 0 when the bytes there are not one.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n >= 2 && (s[1] & 0xc0) == 0x80)
			return 2;
		return 0;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

void jw_escape(struct buf *b, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, l;
	unsigned char c;

	buf_grow(b, n + 2);
	buf_addch(b, '"');
	while (i < n) {
		c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80) {
			l = utf8_seq_len(s + i, n - i);
			if (l) {
				i += l;
				continue;
			}
		}
		/* flush the clean run before s[i] */
		if (i > run)
			buf_add(b, s + run, i - run);
		switch (c) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (c < 0x20) {
				char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

				buf_add(b, u, sizeof(u));
			} else {
				buf_add(b, "\\ufffd", 6); /* invalid UTF-8 byte */
			}
			break;
		}
		i++;
		run = i;
	}
	if (i > run)
		buf_add(b, s + run, i - run);
	buf_addch(b, '"');
}

void jw_key(struct jw *j, const char *k)
{
	jw_sep(j);
	jw_escape(j->b, k, strlen(k));
	buf_addch(j->b, ':');
	j->after_key = true;
}

void jw_str(struct jw *j, const char *s)
{
	jw_strn(j, s, strlen(s));
}

void jw_strn(struct jw *j, const char *s, size_t n)
{
	jw_sep(j);
	jw_escape(j->b, s, n);
}

void jw_int(struct jw *j, int64_t v)
{
	jw_sep(j);
	buf_printf(j->b, "%" PRId64, v);
}

void jw_uint(struct jw *j, uint64_t v)
{
	jw_sep(j);
	buf_printf(j->b, "%" PRIu64, v);
}

void jw_bool(struct jw *j, bool v)
{
	jw_sep(j);
	buf_addstr(j->b, v ? "true" : "false");
}

void jw_null(struct jw *j)
{
	jw_sep(j);
	buf_addstr(j->b, "null");
}

void jw_double(struct jw *j, double v)
{
	jw_sep(j);
	if (!isfinite(v)) {
		buf_addstr(j->b, "null");
		return;
	}
	buf_add_float(j->b, v);
}

/* Decimal digits of u, right-aligned ending at end; returns the start. */
static char *u64_digits(char *end, uint64_t u)
{
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return end;
}

static const double pow10_tab[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Shortest round-trip text of v in fixed notation, for the common case of
 * values with few decimals (counters, gauges like 0.25 or 1234.5): the
 * smallest d such that round(|v| * 10^d) / 10^d gives back exactly |v|.
 * Division by an exact power of ten is correctly rounded and n < 2^53 is
 * exact, so the check is exact and the digits of n with a point d places
 * from the right parse back to v; no shorter string does, since fewer
 * decimals were tried first. Covers 1e-4 <= |v| < 1e15, where Go's 'f'/'e'
 * choice (and buf_add_float's) is fixed notation. Returns false when the
 * value needs the general formatter.
 */
static bool add_fixed_fast(struct buf *b, double v)
{
	char tmp[48], *end = tmp + sizeof(tmp), *p;
	double a = fabs(v), scaled, n;
	uint64_t u;
	int d, k;

	if (!(a >= 1e-4 && a < 1e15))
		return false;
	for (d = 0; d <= 19; d++) {
		scaled = a * pow10_tab[d];
		if (scaled >= 9007199254740992.0) /* 2^53 */
			return false;
		n = nearbyint(scaled);
		if (n / pow10_tab[d] == a)
			break;
	}
	if (d > 19)
		return false;
	u = (uint64_t)n;
	p = u64_digits(end, u);
	if (d > 0) {
		/* pad to d+1 digits so there is a digit before the point */
		while (end - p < d + 1)
			*--p = '0';
		/* shift the integer part left by one to make room for '.' */
		k = (int)(end - p) - d;
		memmove(p - 1, p, (size_t)k);
		p--;
		p[k] = '.';
	}
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(end - p));
	return true;
}

void jw_sample_value(struct jw *j, double v)
{
	jw_sep(j);
	buf_addch(j->b, '"');
	if (!add_fixed_fast(j->b, v))
		buf_add_float(j->b, v);
	buf_addch(j->b, '"');
}

void jw_time_ms(struct jw *j, int64_t ms)
{
	char tmp[32], *end = tmp + sizeof(tmp), *p;
	uint64_t u;
	unsigned frac;

	jw_sep(j);
	/* negate in unsigned arithmetic so INT64_MIN is fine */
	u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	frac = (unsigned)(u % 1000);
	p = end;
	if (frac) {
		*--p = (char)('0' + frac % 10);
		*--p = (char)('0' + frac / 10 % 10);
		*--p = (char)('0' + frac / 100);
		*--p = '.';
	}
	p = u64_digits(p, u / 1000);
	if (ms < 0)
		*--p = '-';
	buf_add(j->b, p, (size_t)(end - p));
}

void jw_raw(struct jw *j, const char *text)
{
	jw_sep(j);
	buf_addstr(j->b, text);
}
