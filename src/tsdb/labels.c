/*
 * labels.c - comparing, hashing, validating and printing label sets.
 *
 * A label set is a plain array of (name, value) string pairs sorted by
 * name; see labels.h. The hash feeds every name and value to XXH3 followed
 * by a 0xff byte, a byte that never occurs in valid UTF-8, so the pair
 * boundaries are part of the hashed input: {a="bc"} hashes "a\xffbc\xff"
 * and {ab="c"} hashes "ab\xffc\xff".
 */
#include "tsdb/labels.h"

#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

int labels_cmp(const struct labels *a, const struct labels *b)
{
	size_t n = a->n < b->n ? a->n : b->n;

	for (size_t i = 0; i < n; i++) {
		int c;

		if (a->v[i].name != b->v[i].name) {
			c = strcmp(a->v[i].name, b->v[i].name);
			if (c)
				return c;
		}
		if (a->v[i].value != b->v[i].value) {
			c = strcmp(a->v[i].value, b->v[i].value);
			if (c)
				return c;
		}
	}
	if (a->n == b->n)
		return 0;
	return a->n < b->n ? -1 : 1;
}

bool labels_equal(const struct labels *a, const struct labels *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].name != b->v[i].name && strcmp(a->v[i].name, b->v[i].name))
			return false;
		if (a->v[i].value != b->v[i].value && strcmp(a->v[i].value, b->v[i].value))
			return false;
	}
	return true;
}

uint64_t labels_hash(const struct labels *ls)
{
	static const unsigned char sep = 0xff;
	XXH3_state_t st;
	char buf[1024];
	size_t len = 0;

	/* Small sets (the common case) are hashed in one shot from a stack
	 * buffer, which is much faster than the streaming interface. */
	for (size_t i = 0; i < ls->n; i++) {
		size_t nl = strlen(ls->v[i].name), vl = strlen(ls->v[i].value);

		if (len + nl + vl + 2 > sizeof(buf))
			goto stream;
		memcpy(buf + len, ls->v[i].name, nl);
		len += nl;
		buf[len++] = (char)sep;
		memcpy(buf + len, ls->v[i].value, vl);
		len += vl;
		buf[len++] = (char)sep;
	}
	return XXH3_64bits(buf, len);
stream:
	XXH3_64bits_reset(&st);
	for (size_t i = 0; i < ls->n; i++) {
		XXH3_64bits_update(&st, ls->v[i].name, strlen(ls->v[i].name));
		XXH3_64bits_update(&st, &sep, 1);
		XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value));
		XXH3_64bits_update(&st, &sep, 1);
	}
	return XXH3_64bits_digest(&st);
}

const char *labels_get(const struct labels *ls, const char *name)
{
	size_t lo = 0, hi = ls->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ls->v[mid].name, name);

		if (c == 0)
			return ls->v[mid].value;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void labels_sort(struct labels *ls)
{
	for (size_t i = 1; i < ls->n; i++) {
		struct label x = ls->v[i];
		size_t j = i;

		while (j > 0 && strcmp(ls->v[j - 1].name, x.name) > 0) {
			ls->v[j] = ls->v[j - 1];
			j--;
		}
		ls->v[j] = x;
	}
}

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool label_name_valid(const char *s, size_t len)
{
	if (len == 0 || !is_alpha_(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]))
			return false;
	return true;
}

bool metric_name_valid(const char *s, size_t len)
{
	if (len == 0 || !(is_alpha_(s[0]) || s[0] == ':'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != ':')
			return false;
	return true;
}

bool utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

/* Index of the first label whose name equals its predecessor's in a sorted
 * set, 0 when there is none. */
static size_t first_dup(const struct labels *ls)
{
	for (size_t i = 1; i < ls->n; i++)
		if (strcmp(ls->v[i - 1].name, ls->v[i].name) == 0)
			return i;
	return 0;
}

/*
 * One pass over the set does what the checks need, in the order their
 * errors are reported for each label (sorted order): name syntax, duplicate,
 * UTF-8 of the value, metric name syntax. Sortedness and the first
 * duplicate come from a single strcmp per adjacent pair beforehand; names
 * are checked without a separate strlen and values take an ASCII fast path,
 * since this runs once per series entry of every remote_write request.
 */
int labels_validate(struct labels *ls, struct ts_error *err)
{
	bool have_name = false, have_empty = false;
	size_t dup_at = 0, w = 0;

	for (size_t i = 1; i < ls->n; i++) {
		int c = strcmp(ls->v[i - 1].name, ls->v[i].name);

		if (c > 0) {
			labels_sort(ls);
			dup_at = first_dup(ls);
			break;
		}
		if (c == 0 && !dup_at)
			dup_at = i;
	}

	for (size_t i = 0; i < ls->n; i++) {
		const struct label *l = &ls->v[i];
		const char *p = l->name;

		if (!is_alpha_(*p))
			goto bad_name;
		for (p++; *p; p++)
			if (!is_alpha_(*p) && !is_digit(*p))
				goto bad_name;
		if (i == dup_at && i > 0)
			return ts_error_set(err, TS_ERR_INVALID, "duplicate label name \"%s\"",
					    l->name);
		for (p = l->value; (unsigned char)*p - 1u < 0x7fu; p++)
			;
		if (*p && !utf8_valid(p, strlen(p)))
			return ts_error_set(err, TS_ERR_INVALID,
					    "invalid UTF-8 in value of label \"%s\"", l->name);
		if (l->value[0] == '\0') {
			have_empty = true;
			continue;
		}
		if (l->name[0] == '_' && l->name[1] == '_' && strcmp(l->name, LABEL_NAME) == 0) {
			size_t vl = strlen(l->value);

			if (!metric_name_valid(l->value, vl))
				return ts_error_set(err, TS_ERR_INVALID,
						    "invalid metric name \"%.*s\"",
						    (int)(vl > 128 ? 128 : vl), l->value);
			have_name = true;
		}
		continue;
bad_name:
		return ts_error_set(err, TS_ERR_INVALID, "invalid label name \"%.*s\"",
				    (int)(strlen(l->name) > 128 ? 128 : strlen(l->name)), l->name);
	}
	if (!have_name)
		return ts_error_set(err, TS_ERR_INVALID, "missing metric name");
	if (have_empty) {
		/* drop empty values: they mean "label absent" */
		for (size_t i = 0; i < ls->n; i++)
			if (ls->v[i].value[0] != '\0')
				ls->v[w++] = ls->v[i];
		ls->n = w;
	}
	return 0;
}

/* Append s to out as a double-quoted string with Go-style escapes. */
static size_t put_quoted(const char *s, char *out, size_t cap, size_t pos)
{
#define PUT(c) do { if (pos < cap) out[pos] = (c); pos++; } while (0)
	PUT('"');
	for (; *s; s++) {
		switch (*s) {
		case '"': PUT('\\'); PUT('"'); break;
		case '\\': PUT('\\'); PUT('\\'); break;
		case '\n': PUT('\\'); PUT('n'); break;
		default: PUT(*s); break;
		}
	}
	PUT('"');
#undef PUT
	return pos;
}

/* Append s to out unquoted. */
static size_t put_str(const char *s, char *out, size_t cap, size_t pos)
{
	for (; *s; s++, pos++)
		if (pos < cap)
			out[pos] = *s;
	return pos;
}

size_t labels_format(const struct labels *ls, char *out, size_t cap)
{
	const char *name = labels_get(ls, LABEL_NAME);
	size_t pos = 0;
	bool first = true;

#define PUTS(str) pos = put_str((str), out, cap, pos)
	if (name)
		PUTS(name);
	PUTS("{");
	for (size_t i = 0; i < ls->n; i++) {
		if (strcmp(ls->v[i].name, LABEL_NAME) == 0)
			continue;
		if (!first)
			PUTS(", ");
		first = false;
		PUTS(ls->v[i].name);
		PUTS("=");
		pos = put_quoted(ls->v[i].value, out, cap, pos);
	}
	PUTS("}");
#undef PUTS
	if (cap > 0)
		out[pos < cap ? pos : cap - 1] = '\0';
	return pos;
}
