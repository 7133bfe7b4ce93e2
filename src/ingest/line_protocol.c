/*
 * line_protocol.c - parse InfluxDB line protocol and store its points; see
 * line_protocol.h for the syntax and the mapping.
 *
 * The parser works one line at a time and allocates nothing per line:
 *
 *   1. line end    memchr for '\n'; only when the line holds a '"' is it
 *                  walked byte by byte, since a string field may hold
 *                  newlines (a '"' right after a field's '=' opens a
 *                  string, a backslash takes the next byte with it)
 *   2. key         measurement and tags, unescaped into the scratch buffer
 *                  (one NUL-terminated string each; unescaping never
 *                  lengthens, so twice the line length always fits)
 *   3. fields      keys unescaped likewise; numbers converted in place
 *                  (exact fast path for up to 15 significant digits and
 *                  powers of ten up to 22, strtod otherwise), strings
 *                  scanned and dropped
 *   4. timestamp   an optional integer, checked but left in the request's
 *                  precision
 *
 * lp_write then maps each point onto label sets (line_protocol.h): the
 * tags are sanitised and sorted once per line with a slot for __name__,
 * and only that slot's value changes from field to field, so a line of n
 * fields costs one sort and n appender_add calls.
 *
 * Invariants:
 *   1. A bad line never stops the parse: the parser has always moved past
 *      it when it reports the error.
 *   2. Strings handed out (lp_point) live in the parser's scratch buffers
 *      until the next call; the body is never written.
 *   3. lp_result.msg names the first bad line; the counters cover all.
 */
#include "ingest/line_protocol.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/db.h"
#include "tsdb/labels.h"

/* Bytes of a bad line quoted in an error message before it is cut. */
#define MSG_LINE_MAX 200

int lp_precision_parse(const char *s, enum lp_precision *out)
{
	static const struct {
		const char *name;
		enum lp_precision p;
	} names[] = {
		{ "", LP_NS }, { "n", LP_NS }, { "ns", LP_NS }, { "u", LP_US }, { "us", LP_US },
		{ "ms", LP_MS }, { "s", LP_S }, { "m", LP_M }, { "h", LP_H },
	};
	size_t i;

	if (!s) {
		*out = LP_NS;
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].p;
			return 0;
		}
	}
	return TS_ERR_INVALID;
}

int64_t lp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ parser */

struct lp_parser {
	const char *buf;         /* the body, not owned */
	size_t len;              /* its length */
	size_t pos;              /* start of the next line */
	int line;                /* 1-based number of the line at pos */
	char *scratch;           /* unescaped strings of the current line */
	size_t scap;             /* its size */
	struct lp_tag *tags;     /* tags of the current line */
	size_t tcap;             /* capacity of tags */
	struct lp_field *fields; /* fields of the current line */
	size_t fcap;             /* capacity of fields */
};

struct lp_parser *lp_parser_new(const char *body, size_t len)
{
	struct lp_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->buf = body;
	p->len = body ? len : 0;
	p->line = 1;
	p->tcap = 16;
	p->fcap = 16;
	p->scap = 1024;
	p->tags = malloc(p->tcap * sizeof(*p->tags));
	p->fields = malloc(p->fcap * sizeof(*p->fields));
	p->scratch = malloc(p->scap);
	if (!p->tags || !p->fields || !p->scratch) {
		lp_parser_free(p);
		return NULL;
	}
	return p;
}

void lp_parser_free(struct lp_parser *p)
{
	if (!p)
		return;
	free(p->scratch);
	free(p->tags);
	free(p->fields);
	free(p);
}

/* Grow an array of elem-sized entries to hold one more than used. */
static bool grow(void **arr, size_t *cap, size_t used, size_t elem)
{
	size_t ncap;
	void *n;

	if (used < *cap)
		return true;
	ncap = *cap * 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return false;
	*arr = n;
	*cap = ncap;
	return true;
}

/*
 * End of the line starting at start: the index of its '\n' (or len), and
 * in *nl the number of newlines inside quoted strings before it.
 */
static size_t line_end(const struct lp_parser *p, size_t start, int *nl)
{
	const char *b = p->buf;
	const char *q = memchr(b + start, '\n', p->len - start);
	size_t end = q ? (size_t)(q - b) : p->len, i;
	bool fields = false, quoted = false;

	*nl = 0;
	if (!memchr(b + start, '"', end - start))
		return end;
	/* a '"' in the line: a string field may run past this newline */
	i = start;
	while (i < p->len && (b[i] == ' ' || b[i] == '\t'))
		i++;
	while (i < p->len) {
		char c = b[i];

		if (quoted) {
			if (c == '\\' && i + 1 < p->len) {
				if (b[i + 1] == '\n')
					(*nl)++;
				i += 2;
				continue;
			}
			if (c == '"')
				quoted = false;
			else if (c == '\n')
				(*nl)++;
			i++;
			continue;
		}
		if (c == '\n')
			break;
		if (c == '\\') {
			if (i + 1 < p->len && b[i + 1] == '\n')
				break; /* a backslash does not join lines outside strings */
			i += 2;
			continue;
		}
		if (!fields && c == ' ')
			fields = true;
		else if (fields && c == '=' && i + 1 < p->len && b[i + 1] == '"') {
			quoted = true;
			i += 2;
			continue;
		}
		i++;
	}
	return i < p->len ? i : p->len;
}

/* Powers of ten a double holds exactly. */
static const double pow10_exact[23] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * A float field value s[0..n): [-]digits[.digits][(e|E)[+|-]digits] with at
 * least one mantissa digit ("1.", ".5" allowed). NULL, or the reason.
 */
static const char *parse_float(const char *s, size_t n, double *out)
{
	size_t i = 0, sig = 0;
	uint64_t mant = 0;
	int exp10 = 0, e = 0, esign = 1;
	bool neg = false, digits = false, many = false;
	double v;

	if (i < n && s[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		digits = true;
		if (sig < 19) {
			mant = mant * 10 + (uint64_t)(s[i] - '0');
			if (mant)
				sig++;
		} else {
			many = true;
		}
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			digits = true;
			if (sig < 19) {
				mant = mant * 10 + (uint64_t)(s[i] - '0');
				if (mant)
					sig++;
				exp10--;
			} else {
				many = true;
			}
		}
	}
	if (!digits)
		return "invalid number";
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		bool edig = false;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-')) {
			esign = s[i] == '-' ? -1 : 1;
			i++;
		}
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			edig = true;
			if (e < 100000)
				e = e * 10 + (s[i] - '0');
		}
		if (!edig)
			return "invalid number";
	}
	if (i != n)
		return "invalid number";
	exp10 += esign * e;
	if (!many && mant < ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
		v = (double)mant;
		v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
	} else {
		char tmp[128], *heap = NULL, *c = tmp;

		if (n >= sizeof(tmp)) {
			heap = malloc(n + 1);
			if (!heap)
				return "out of memory";
			c = heap;
		}
		memcpy(c, s, n);
		c[n] = '\0';
		v = strtod(c, NULL);
		free(heap);
		neg = false; /* strtod read the sign */
	}
	if (isinf(v))
		return "invalid float";
	*out = neg ? -v : v;
	return NULL;
}

/* An integer field s[0..n) without its suffix: [-]digits (unsigned: no
 * sign). NULL, or the reason. */
static const char *parse_int(const char *s, size_t n, bool is_unsigned, double *out)
{
	size_t i = 0;
	uint64_t v = 0, limit;
	bool neg = false;

	if (i < n && s[i] == '-') {
		if (is_unsigned)
			return "invalid number";
		neg = true;
		i++;
	}
	if (i == n)
		return "invalid number";
	limit = is_unsigned ? UINT64_MAX : neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return "invalid number";
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return is_unsigned ? "unsigned integer out of range" : "integer out of range";
		v = v * 10 + d;
	}
	*out = neg ? -(double)v : (double)v;
	return NULL;
}

/* A boolean field s[0..n). */
static const char *parse_bool(const char *s, size_t n, double *out)
{
	static const char *const truths[] = { "t", "T", "true", "True", "TRUE" };
	static const char *const lies[] = { "f", "F", "false", "False", "FALSE" };
	size_t i;

	for (i = 0; i < 5; i++) {
		if (strlen(truths[i]) == n && memcmp(s, truths[i], n) == 0) {
			*out = 1;
			return NULL;
		}
		if (strlen(lies[i]) == n && memcmp(s, lies[i], n) == 0) {
			*out = 0;
			return NULL;
		}
	}
	return "invalid boolean";
}

/* Is c one of the bytes a backslash escapes in keys (esc_eq: also '=')? */
static inline bool escapable(char c, bool esc_eq)
{
	return c == ',' || c == ' ' || (esc_eq && c == '=');
}

/*
 * Parse the line b[s..e) into pt; strings go to p->scratch (which has room
 * for 2 * (e - s) + 2 bytes). Returns NULL or the reason it is bad.
 */
static const char *parse_line(struct lp_parser *p, const char *b, size_t s, size_t e,
			      struct lp_point *pt)
{
	char *w = p->scratch;
	size_t i = s, ntags = 0, nfields = 0;
	char c;

	/* measurement */
	if (b[i] == ',')
		return "missing measurement";
	pt->measurement = w;
	for (;;) {
		if (i >= e)
			return "missing fields";
		c = b[i];
		if (c == '\\' && i + 1 < e && escapable(b[i + 1], false)) {
			*w++ = b[i + 1];
			i += 2;
			continue;
		}
		if (c == ',' || c == ' ')
			break;
		*w++ = c;
		i++;
	}
	*w++ = '\0';

	/* tags */
	while (b[i] == ',') {
		struct lp_tag *t;

		i++;
		if (i >= e || b[i] == ' ' || b[i] == ',' || b[i] == '=')
			return "missing tag key";
		if (!grow((void **)&p->tags, &p->tcap, ntags, sizeof(*p->tags)))
			return "out of memory";
		t = &p->tags[ntags++];
		t->key = w;
		for (;;) {
			if (i >= e)
				return "missing tag value";
			c = b[i];
			if (c == '\\' && i + 1 < e && escapable(b[i + 1], true)) {
				*w++ = b[i + 1];
				i += 2;
				continue;
			}
			if (c == '=')
				break;
			if (c == ',' || c == ' ')
				return "missing tag value";
			*w++ = c;
			i++;
		}
		*w++ = '\0';
		i++;
		if (i >= e || b[i] == ',' || b[i] == ' ')
			return "missing tag value";
		t->value = w;
		for (;;) {
			if (i >= e)
				return "missing fields";
			c = b[i];
			if (c == '\\' && i + 1 < e && escapable(b[i + 1], true)) {
				*w++ = b[i + 1];
				i += 2;
				continue;
			}
			if (c == ',' || c == ' ')
				break;
			if (c == '=')
				return "invalid tag format";
			*w++ = c;
			i++;
		}
		*w++ = '\0';
	}

	/* fields (b[i] is the space after the key) */
	while (i < e && b[i] == ' ')
		i++;
	if (i >= e)
		return "missing fields";
	for (;;) {
		struct lp_field *f;
		const char *why;
		size_t v0;

		if (b[i] == '=')
			return "missing field key";
		if (!grow((void **)&p->fields, &p->fcap, nfields, sizeof(*p->fields)))
			return "out of memory";
		f = &p->fields[nfields++];
		f->key = w;
		for (;;) {
			if (i >= e)
				return "invalid field format";
			c = b[i];
			if (c == '\\' && i + 1 < e && escapable(b[i + 1], true)) {
				*w++ = b[i + 1];
				i += 2;
				continue;
			}
			if (c == '=')
				break;
			if (c == ',' || c == ' ')
				return "invalid field format";
			*w++ = c;
			i++;
		}
		*w++ = '\0';
		i++;
		if (i >= e || b[i] == ',' || b[i] == ' ')
			return "missing field value";
		v0 = i;
		if (b[i] == '"') {
			/* string: skipped, escapes \" and \\ */
			for (i++;; i++) {
				if (i >= e)
					return "unbalanced quotes";
				if (b[i] == '\\' && i + 1 < e && (b[i + 1] == '"' || b[i + 1] == '\\'))
					i++;
				else if (b[i] == '"')
					break;
			}
			i++;
			f->type = LP_STRING;
			f->value = 0;
			if (i < e && b[i] != ',' && b[i] != ' ')
				return "invalid field format";
		} else {
			size_t n;

			while (i < e && b[i] != ',' && b[i] != ' ')
				i++;
			n = i - v0;
			c = b[v0];
			if ((c >= '0' && c <= '9') || c == '-' || c == '.') {
				char last = b[i - 1];

				if (n > 1 && (last == 'i' || last == 'u')) {
					f->type = last == 'i' ? LP_INTEGER : LP_UNSIGNED;
					why = parse_int(b + v0, n - 1, last == 'u', &f->value);
				} else {
					f->type = LP_FLOAT;
					why = parse_float(b + v0, n, &f->value);
				}
			} else {
				f->type = LP_BOOLEAN;
				why = parse_bool(b + v0, n, &f->value);
			}
			if (why)
				return why;
		}
		if (i >= e || b[i] == ' ')
			break;
		i++; /* ',' */
		if (i >= e || b[i] == ' ')
			return "missing field key";
	}

	/* timestamp */
	pt->has_time = false;
	while (i < e && b[i] == ' ')
		i++;
	if (i < e) {
		uint64_t v = 0, limit = (uint64_t)INT64_MAX;
		bool neg = false;

		if (b[i] == '-') {
			neg = true;
			limit++;
			i++;
		}
		if (i >= e || b[i] < '0' || b[i] > '9')
			return "bad timestamp";
		for (; i < e && b[i] >= '0' && b[i] <= '9'; i++) {
			unsigned d = (unsigned)(b[i] - '0');

			if (v > (limit - d) / 10)
				return "bad timestamp";
			v = v * 10 + d;
		}
		while (i < e && b[i] == ' ')
			i++;
		if (i < e)
			return "bad timestamp";
		pt->has_time = true;
		pt->time = neg ? (int64_t)(0 - v) : (int64_t)v;
	}
	pt->tags = p->tags;
	pt->ntags = ntags;
	pt->fields = p->fields;
	pt->nfields = nfields;
	return NULL;
}

/*
 * Append s[0..n) to out (cap bytes, NUL-terminated) so that it stays one
 * line of valid UTF-8: control bytes and invalid UTF-8 as \xNN; cut with
 * "..." after max bytes.
 */
static void add_clean(char *out, size_t cap, const char *s, size_t n, size_t max)
{
	size_t len = strlen(out), i = 0;

	while (i < n && len + 8 < cap) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= max) {
			memcpy(out + len, "...", 4);
			return;
		}
		if (ch >= 0x20 && ch < 0x7f) {
			out[len++] = (char)ch;
			i++;
		} else if (ch >= 0x80) {
			size_t k = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;

			if (k > 1 && i + k <= n && utf8_valid(s + i, k)) {
				memcpy(out + len, s + i, k);
				len += k;
				i += k;
			} else {
				len += (size_t)snprintf(out + len, cap - len, "\\x%02x", ch);
				i++;
			}
		} else {
			len += (size_t)snprintf(out + len, cap - len, "\\x%02x", ch);
			i++;
		}
	}
	out[len] = '\0';
}

/* Fill err for a bad line text[0..n) at line `line`, offset pos. */
static int line_error(struct ts_error *err, const char *text, size_t n, int line, size_t pos,
		      const char *why)
{
	char msg[TS_ERROR_MSG_MAX];

	if (!err)
		return TS_ERR_INVALID;
	strcpy(msg, "unable to parse '");
	add_clean(msg, sizeof(msg) - 80, text, n, MSG_LINE_MAX);
	snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "': %s (line %d)", why, line);
	return ts_error_set_pos(err, TS_ERR_INVALID, pos, line, 1, "%s", msg);
}

int lp_parser_next(struct lp_parser *p, struct lp_point *pt, struct ts_error *err)
{
	while (p->pos < p->len) {
		const char *b = p->buf;
		size_t start = p->pos, end, s, e;
		int line = p->line, nl;
		const char *why;

		end = line_end(p, start, &nl);
		p->pos = end + 1;
		p->line += 1 + nl;
		e = end;
		if (e > start && b[e - 1] == '\r')
			e--;
		s = start;
		while (s < e && (b[s] == ' ' || b[s] == '\t'))
			s++;
		if (s == e || b[s] == '#')
			continue;
		if (2 * (e - s) + 2 > p->scap) {
			size_t cap = p->scap;
			char *n;

			while (2 * (e - s) + 2 > cap)
				cap *= 2;
			n = realloc(p->scratch, cap);
			if (!n)
				return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
			p->scratch = n;
			p->scap = cap;
		}
		pt->line = line;
		pt->text = b + s;
		pt->text_len = e - s;
		why = parse_line(p, b, s, e, pt);
		if (!why)
			return 1;
		if (strcmp(why, "out of memory") == 0)
			return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		return line_error(err, b + s, e - s, line, s, why);
	}
	return 0;
}

/* ------------------------------------------------------------ mapping */

/*
 * Write the sanitised form of s into w (room for 2 * strlen(s) + 2):
 * bytes outside [a-zA-Z0-9_] (and ':' when colon) become '_', a valid UTF-8
 * sequence one '_'; with lead, a leading digit gets a '_' before it.
 * Returns the end of what was written (not terminated).
 */
static char *sanitize(char *w, const char *s, bool colon, bool lead)
{
	const unsigned char *u = (const unsigned char *)s;

	if (lead && *u >= '0' && *u <= '9')
		*w++ = '_';
	while (*u) {
		unsigned char c = *u;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || (colon && c == ':')) {
			*w++ = (char)c;
			u++;
		} else if (c >= 0xc2) {
			size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2, j;

			for (j = 1; j < k && u[j]; j++)
				;
			*w++ = '_';
			u += j == k && utf8_valid((const char *)u, k) ? k : 1;
		} else {
			*w++ = '_';
			u++;
		}
	}
	return w;
}

/* True when s (NUL-terminated) needs no sanitising as a label name. */
static bool label_name_ok(const char *s)
{
	const char *c = s;

	if (*c >= '0' && *c <= '9')
		return false;
	for (; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

/* True when s is valid UTF-8 (ASCII fast path). */
static bool value_ok(const char *s)
{
	const char *c = s;

	for (; *c; c++)
		if ((unsigned char)*c >= 0x80)
			return utf8_valid(s, strlen(s));
	return true;
}

/* Milliseconds of timestamp t in precision prec; false when the
 * nanosecond value would not fit in int64 (InfluxDB's range). */
static bool to_ms(int64_t t, enum lp_precision prec, int64_t *ms)
{
	static const int64_t ns_per[] = {
		[LP_NS] = 1, [LP_US] = 1000, [LP_MS] = 1000000, [LP_S] = 1000000000,
		[LP_M] = INT64_C(60000000000), [LP_H] = INT64_C(3600000000000),
	};
	int64_t ns, q;

	if (__builtin_mul_overflow(t, ns_per[prec], &ns))
		return false;
	if (prec >= LP_MS) {
		*ms = t * (ns_per[prec] / 1000000);
		return true;
	}
	q = ns / 1000000;
	if (ns % 1000000 < 0)
		q--;
	*ms = q;
	return true;
}

/* State of one lp_write call. */
struct lp_store {
	struct appender *app;    /* the request's appender */
	struct label *lv;        /* label scratch array */
	size_t lcap;             /* its capacity */
	char *names;             /* sanitised names of the current line */
	size_t ncap;             /* its size */
	struct lp_result *res;   /* counters and status */
	const struct lp_opts *o; /* options */
};

static void set_problem(struct lp_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record a problem unless one of at least that status is recorded. */
static void set_problem(struct lp_result *res, int status, const char *fmt, ...)
{
	va_list ap;

	if (res->status >= status)
		return;
	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

/* A point that parsed but cannot be mapped: counted as a bad line. */
static void bad_point(struct lp_store *st, const struct lp_point *pt, const char *why)
{
	struct ts_error err;

	st->res->bad_lines++;
	if (st->res->status >= 400)
		return;
	line_error(&err, pt->text, pt->text_len, pt->line, 0, why);
	set_problem(st->res, 400, "%s", err.msg);
}

/* Append the samples of one point. */
static void store_point(struct lp_store *st, const struct lp_point *pt)
{
	const struct lp_opts *o = st->o;
	struct lp_result *res = st->res;
	size_t need, nl = 0, i, slot = 0, mlen;
	char *w, *mname, *name;
	bool have_db = false;
	struct labels ls;
	int64_t t;

	/* room: sanitising never lengthens a name but for a lead '_', so the
	 * tag keys, the measurement and one metric name fit in 6 lines */
	need = 6 * pt->text_len + 64;
	if (need > st->ncap) {
		char *n = realloc(st->names, need);

		if (!n)
			goto nomem;
		st->names = n;
		st->ncap = need;
	}
	if (pt->ntags + 2 > st->lcap) {
		size_t cap = st->lcap ? st->lcap : 32;
		struct label *n;

		while (cap < pt->ntags + 2)
			cap *= 2;
		n = realloc(st->lv, cap * sizeof(*n));
		if (!n)
			goto nomem;
		st->lv = n;
		st->lcap = cap;
	}

	if (pt->has_time) {
		if (!to_ms(pt->time, o->precision, &t)) {
			bad_point(st, pt, "time outside range");
			return;
		}
	} else {
		t = o->now_ms;
	}

	w = st->names;
	for (i = 0; i < pt->ntags; i++) {
		const char *k = pt->tags[i].key;

		if (!label_name_ok(k)) {
			char *s = w;

			w = sanitize(w, k, false, true);
			*w++ = '\0';
			k = s;
		}
		if (strcmp(k, LABEL_NAME) == 0)
			continue;
		if (!value_ok(pt->tags[i].value)) {
			bad_point(st, pt, "invalid UTF-8 in tag value");
			return;
		}
		if (k[0] == 'd' && k[1] == 'b' && k[2] == '\0')
			have_db = true;
		st->lv[nl].name = k;
		st->lv[nl].value = pt->tags[i].value;
		nl++;
	}
	if (o->db && o->db[0] && !have_db) {
		st->lv[nl].name = "db";
		st->lv[nl].value = o->db;
		nl++;
	}
	st->lv[nl].name = LABEL_NAME;
	st->lv[nl].value = "";
	nl++;
	ls.v = st->lv;
	ls.n = nl;
	labels_sort(&ls);
	for (i = 0; i < nl; i++) {
		if (i && strcmp(ls.v[i - 1].name, ls.v[i].name) == 0) {
			bad_point(st, pt, "duplicate tags");
			return;
		}
		if (strcmp(ls.v[i].name, LABEL_NAME) == 0)
			slot = i;
	}

	/* metric name prefix: the sanitised measurement */
	mname = w;
	w = sanitize(w, pt->measurement, true, true);
	mlen = (size_t)(w - mname);
	name = w + 1;
	for (i = 0; i < pt->nfields; i++) {
		const struct lp_field *f = &pt->fields[i];
		uint64_t ref = 0;
		int rc;

		if (f->type == LP_STRING) {
			res->strings_skipped++;
			continue;
		}
		if (strcmp(f->key, "value") == 0) {
			memcpy(name, mname, mlen);
			name[mlen] = '\0';
		} else {
			char *e;

			memcpy(name, mname, mlen);
			name[mlen] = '_';
			e = sanitize(name + mlen + 1, f->key, true, false);
			*e = '\0';
		}
		ls.v[slot].value = name;
		rc = appender_add(st->app, &ls, &ref, t, f->value);
		if (rc == 0) {
			res->samples_written++;
			continue;
		}
		res->rejected++;
		if (rc == TS_ERR_OUT_OF_ORDER)
			res->out_of_order++;
		else if (rc == TS_ERR_DUPLICATE)
			res->duplicate++;
		if (rc == TS_ERR_OUT_OF_ORDER || rc == TS_ERR_DUPLICATE) {
			char lbuf[300];

			labels_format(&ls, lbuf, sizeof(lbuf));
			set_problem(res, 400, "partial write: %s sample for series %s (line %d)",
				    rc == TS_ERR_OUT_OF_ORDER ? "out of order" : "duplicate",
				    lbuf, pt->line);
		} else {
			set_problem(res, 500, "cannot append sample: %s", ts_strerror(rc));
		}
	}
	return;
nomem:
	res->rejected += pt->nfields;
	set_problem(res, 500, "out of memory");
}

void lp_write(struct db *db, const char *body, size_t len, const struct lp_opts *opts,
	      struct lp_result *res)
{
	struct lp_opts o = { LP_NS, 0, NULL };
	struct lp_store st = { 0 };
	struct lp_parser *p = NULL;
	struct lp_point pt;
	struct ts_error err;
	int rc;

	memset(res, 0, sizeof(*res));
	if (opts)
		o = *opts;
	/* lines without a timestamp: the server's time in the precision */
	if (o.precision == LP_S)
		o.now_ms -= o.now_ms % 1000;
	else if (o.precision == LP_M)
		o.now_ms -= o.now_ms % 60000;
	else if (o.precision == LP_H)
		o.now_ms -= o.now_ms % 3600000;
	st.res = res;
	st.o = &o;
	p = lp_parser_new(body, len);
	st.app = p ? db_appender(db) : NULL;
	if (!st.app) {
		set_problem(res, 500, "out of memory");
		goto out;
	}
	for (;;) {
		err.code = 0;
		err.msg[0] = '\0';
		rc = lp_parser_next(p, &pt, &err);
		if (rc == 0)
			break;
		if (rc == 1) {
			res->points++;
			store_point(&st, &pt);
			continue;
		}
		if (rc == TS_ERR_NOMEM) {
			set_problem(res, 500, "out of memory");
			break;
		}
		res->bad_lines++;
		set_problem(res, 400, "%s", err.msg);
	}
	rc = appender_commit(st.app);
	if (rc < 0) {
		res->rejected += res->samples_written;
		res->samples_written = 0;
		res->status = 0;
		set_problem(res, 500, "cannot commit samples: %s", ts_strerror(rc));
	}
out:
	if (res->status == 400 && res->bad_lines > 1) {
		size_t l = strlen(res->msg);

		snprintf(res->msg + l, sizeof(res->msg) - l, "; %llu bad lines in all",
			 (unsigned long long)res->bad_lines);
	}
	if (res->status == 0)
		res->status = 204;
	lp_parser_free(p);
	free(st.lv);
	free(st.names);
}
