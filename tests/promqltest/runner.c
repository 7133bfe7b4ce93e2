/*
 * runner.c - runs Prometheus's promqltest `.test` files against the engine.
 *
 * Usage: runner [DIR]   (default: $PROMQL_TEST_DIR, else the directory
 * compiled in as PROMQL_TEST_DIR_DEFAULT). DIR holds the *.test files and
 * COVERAGE.tsv; a missing or empty DIR is a failure, never a pass.
 * PROMQL_TEST_FILE=x.test runs one file; PROMQL_TEST_ALL=1 also runs the
 * evals outside the plain set (to exercise the engine; failures expected);
 * PROMQL_SKIP_FILE overrides the skip list.
 *
 * Structure:
 *   1. COVERAGE.tsv selects the "plain" evals (data=float, no experimental
 *      flag); other evals are counted as out of scope and not run.
 *   2. skip.tsv (file, line, reason) lists plain evals we knowingly skip.
 *   3. Each file is read as a list of commands (FORMAT.md sections 1-6):
 *      `clear` reopens an empty memory store, `load` appends samples at
 *      k * interval ms, `eval` runs a query and compares the result.
 *   4. Instant evals also get the range-mode check of section 6.6: the
 *      same query as a range query over [t-1m, t+1m] step 1m must give a
 *      sorted matrix whose points at t equal the instant result.
 *
 * Output: failures per file with expression, expected and got, then the
 * line `N passed, N failed, N skipped`. Exit status 1 on any failure.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "promql/engine.h"
#include "promql/parser.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "util/buf.h"

#ifndef PROMQL_TEST_DIR_DEFAULT
#define PROMQL_TEST_DIR_DEFAULT "."
#endif
#ifndef PROMQL_SKIP_FILE_DEFAULT
#define PROMQL_SKIP_FILE_DEFAULT "skip.tsv"
#endif

#define STALE_BITS 0x7ff0000000000002ULL

static double stale_nan(void)
{
	double d;
	uint64_t b = STALE_BITS;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static bool is_stale(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b == STALE_BITS;
}

/* ------------------------------------------------------------ case lists */

/* One (file, line) key with an optional note (skip reason). */
struct case_key {
	char *file;   /* test file base name, malloc'd */
	int line;     /* 1-based line of the eval header */
	char *reason; /* skip reason, malloc'd; NULL for coverage entries */
	bool used;    /* matched an eval while running */
};

/* A growable list of case keys. */
struct case_list {
	struct case_key *v; /* the keys */
	size_t n, cap;      /* count and capacity */
};

static void case_list_add(struct case_list *l, const char *file, int line, const char *reason)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	l->v[l->n].file = strdup(file);
	l->v[l->n].line = line;
	l->v[l->n].reason = reason ? strdup(reason) : NULL;
	l->v[l->n].used = false;
	l->n++;
}

static struct case_key *case_list_find(struct case_list *l, const char *file, int line)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].line == line && strcmp(l->v[i].file, file) == 0)
			return &l->v[i];
	return NULL;
}

static void case_list_release(struct case_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].file);
		free(l->v[i].reason);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Split a tab-separated line into at most max fields (in place). */
static int split_tabs(char *s, char **f, int max)
{
	int n = 0;
	while (n < max) {
		f[n++] = s;
		char *t = strchr(s, '\t');
		if (!t)
			break;
		*t = '\0';
		s = t + 1;
	}
	return n;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* Read COVERAGE.tsv: the plain evals. Returns false when unreadable. */
static bool load_coverage(const char *dir, struct case_list *plain)
{
	char path[4096], line[4096];
	snprintf(path, sizeof(path), "%s/COVERAGE.tsv", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *fld[6];
		chomp(line);
		if (split_tabs(line, fld, 6) < 5 || strcmp(fld[0], "file") == 0)
			continue;
		if (strcmp(fld[3], "float") == 0 && strcmp(fld[4], "-") == 0)
			case_list_add(plain, fld[0], atoi(fld[1]), NULL);
	}
	fclose(f);
	return true;
}

/* Read skip.tsv: file, line, reason; '#' comments. Missing file = empty. */
static void load_skips(const char *path, struct case_list *skips)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *fld[3];
		chomp(line);
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (split_tabs(line, fld, 3) < 3)
			continue;
		case_list_add(skips, fld[0], atoi(fld[1]), fld[2]);
	}
	fclose(f);
}

/* ------------------------------------------------------------ lexing helpers */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Parse a duration (FORMAT.md section 2) from s[0..len). */
static bool parse_duration(const char *s, size_t len, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "y", 365LL * 86400000 }, { "w", 7LL * 86400000 }, { "d", 86400000 },
		{ "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	size_t i = 0;
	int next = 0;
	int64_t total = 0;
	if (len == 0)
		return false;
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return true;
	}
	while (i < len) {
		int64_t v = 0;
		size_t st = i;
		while (i < len && isdigit((unsigned char)s[i]))
			v = v * 10 + (s[i++] - '0');
		if (i == st || i == len)
			return false;
		int u = -1;
		/* "ms" must be tried before "m" */
		if (i + 1 < len && s[i] == 'm' && s[i + 1] == 's')
			u = 6;
		else
			for (int k = 0; k < 6; k++)
				if (s[i] == units[k].unit[0]) {
					u = k;
					break;
				}
		if (u < 0 || u < next)
			return false;
		i += strlen(units[u].unit);
		next = u + 1;
		total += v * units[u].ms;
	}
	*out = total;
	return true;
}

/*
 * Scan a float at p: sign, then Inf/NaN or digits[.digits][e[+-]digits].
 * Never reads hex. Returns the end or NULL.
 */
static const char *scan_number(const char *p, double *out)
{
	const char *s = p;
	char tmp[128];
	if (*p == '+' || *p == '-')
		p++;
	if (strncasecmp(p, "inf", 3) == 0) {
		p += 3;
	} else if (strncasecmp(p, "nan", 3) == 0) {
		p += 3;
	} else {
		bool dig = false;
		while (isdigit((unsigned char)*p)) {
			p++;
			dig = true;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				p++;
				dig = true;
			}
		}
		if (!dig)
			return NULL;
		if ((*p == 'e' || *p == 'E') &&
		    (isdigit((unsigned char)p[1]) ||
		     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
			p += 2;
			while (isdigit((unsigned char)*p))
				p++;
		}
	}
	if ((size_t)(p - s) >= sizeof(tmp))
		return NULL;
	memcpy(tmp, s, (size_t)(p - s));
	tmp[p - s] = '\0';
	*out = strtod(tmp, NULL);
	return p;
}

/* Go-style quoted string at p ('"', '\'' or '`'); result in arena. */
static const char *scan_string(struct arena *a, const char *p, const char **out)
{
	char q = *p++;
	struct buf b = BUF_INIT;
	if (q == '`') {
		const char *e = strchr(p, '`');
		if (!e)
			return NULL;
		*out = arena_strndup(a, p, (size_t)(e - p));
		return e + 1;
	}
	while (*p && *p != q) {
		if (*p != '\\') {
			buf_addch(&b, *p++);
			continue;
		}
		p++;
		unsigned long cp = 0;
		int nhex = 0;
		switch (*p) {
		case 'n': buf_addch(&b, '\n'); p++; break;
		case 't': buf_addch(&b, '\t'); p++; break;
		case 'r': buf_addch(&b, '\r'); p++; break;
		case 'a': buf_addch(&b, '\a'); p++; break;
		case 'b': buf_addch(&b, '\b'); p++; break;
		case 'f': buf_addch(&b, '\f'); p++; break;
		case 'v': buf_addch(&b, '\v'); p++; break;
		case '\\': case '"': case '\'': buf_addch(&b, *p++); break;
		case 'x': nhex = 2; break;
		case 'u': nhex = 4; break;
		case 'U': nhex = 8; break;
		default:
			if (*p >= '0' && *p <= '7') {
				for (int k = 0; k < 3 && *p >= '0' && *p <= '7'; k++)
					cp = cp * 8 + (unsigned long)(*p++ - '0');
				buf_addch(&b, (char)cp);
			} else {
				buf_release(&b);
				return NULL;
			}
		}
		if (nhex) {
			bool byte = *p == 'x';
			p++;
			for (int k = 0; k < nhex; k++, p++) {
				int c = *p;
				if (!isxdigit(c)) {
					buf_release(&b);
					return NULL;
				}
				cp = cp * 16 + (unsigned long)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
			}
			if (byte) {
				buf_addch(&b, (char)cp);
			} else if (cp < 0x80) {
				buf_addch(&b, (char)cp);
			} else if (cp < 0x800) {
				buf_addch(&b, (char)(0xc0 | (cp >> 6)));
				buf_addch(&b, (char)(0x80 | (cp & 0x3f)));
			} else if (cp < 0x10000) {
				buf_addch(&b, (char)(0xe0 | (cp >> 12)));
				buf_addch(&b, (char)(0x80 | ((cp >> 6) & 0x3f)));
				buf_addch(&b, (char)(0x80 | (cp & 0x3f)));
			} else {
				buf_addch(&b, (char)(0xf0 | (cp >> 18)));
				buf_addch(&b, (char)(0x80 | ((cp >> 12) & 0x3f)));
				buf_addch(&b, (char)(0x80 | ((cp >> 6) & 0x3f)));
				buf_addch(&b, (char)(0x80 | (cp & 0x3f)));
			}
		}
	}
	if (*p != q) {
		buf_release(&b);
		return NULL;
	}
	*out = arena_strndup(a, b.data ? b.data : "", b.len);
	buf_release(&b);
	return p + 1;
}

static bool ident_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static bool ident_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

/*
 * Series notation: name, name{...}, {...}; labels in arena. Returns the
 * end of the metric or NULL.
 */
static const char *scan_metric(struct arena *a, const char *p, struct labels *out)
{
	struct label tmp[64];
	size_t n = 0;
	if (ident_start((unsigned char)*p)) {
		const char *s = p;
		while (ident_char((unsigned char)*p))
			p++;
		tmp[n].name = LABEL_NAME;
		tmp[n++].value = arena_strndup(a, s, (size_t)(p - s));
	}
	if (*p == '{') {
		p++;
		for (;;) {
			const char *name, *val;
			p = skip_ws(p);
			if (*p == '}') {
				p++;
				break;
			}
			if (*p == '"' || *p == '\'' || *p == '`') {
				p = scan_string(a, p, &name);
				if (!p)
					return NULL;
			} else if (ident_start((unsigned char)*p)) {
				const char *s = p;
				while (ident_char((unsigned char)*p))
					p++;
				name = arena_strndup(a, s, (size_t)(p - s));
			} else {
				return NULL;
			}
			p = skip_ws(p);
			if (*p == '=') {
				p = skip_ws(p + 1);
				if (*p != '"' && *p != '\'' && *p != '`')
					return NULL;
				p = scan_string(a, p, &val);
				if (!p)
					return NULL;
			} else {
				val = name; /* a quoted metric name alone */
				name = LABEL_NAME;
			}
			if (n == 64)
				return NULL;
			tmp[n].name = name;
			tmp[n].value = val;
			if (*val) /* an empty value means the label is absent */
				n++;
			p = skip_ws(p);
			if (*p == ',')
				p++;
			else if (*p != '}')
				return NULL;
		}
	}
	out->n = n;
	out->v = arena_calloc(a, n ? n : 1, sizeof(struct label));
	memcpy(out->v, tmp, n * sizeof(struct label));
	labels_sort(out);
	return p;
}

/* An expanded value sequence. */
struct values {
	double *v;     /* values; only meaningful where present[i] */
	bool *present; /* false for "_" slots */
	size_t n;      /* number of slots */
	bool hist;     /* a histogram literal occurred */
};

static void values_push(struct arena *a, struct values *vs, size_t *cap, double v, bool present)
{
	if (vs->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		double *nv = arena_alloc(a, nc * sizeof(double));
		bool *np = arena_alloc(a, nc * sizeof(bool));
		if (vs->n) {
			memcpy(nv, vs->v, vs->n * sizeof(double));
			memcpy(np, vs->present, vs->n * sizeof(bool));
		}
		vs->v = nv;
		vs->present = np;
		*cap = nc;
	}
	vs->v[vs->n] = v;
	vs->present[vs->n++] = present;
}

/* Skip a `{{ ... }}` literal; returns the end. */
static const char *skip_hist(const char *p)
{
	const char *e = strstr(p, "}}");
	return e ? e + 2 : NULL;
}

static const char *scan_count(const char *p, long *k)
{
	if (*p != 'x' || !isdigit((unsigned char)p[1]))
		return NULL;
	char *end;
	*k = strtol(p + 1, &end, 10);
	return end;
}

/* Parse a value sequence (FORMAT.md 3.2/3.3). Returns false on error. */
static bool parse_values(struct arena *a, const char *p, struct values *vs)
{
	size_t cap = 0;
	memset(vs, 0, sizeof(*vs));
	for (;;) {
		p = skip_ws(p);
		if (!*p)
			return true;
		long k = 0;
		if (p[0] == '{' && p[1] == '{') {
			vs->hist = true;
			p = skip_hist(p);
			if (!p)
				return false;
			if ((*p == '+' || *p == '-') && p[1] == '{') {
				p = skip_hist(p + 1);
				if (!p)
					return false;
			}
			if (*p == 'x') {
				p = scan_count(p, &k);
				if (!p)
					return false;
			}
			for (long i = 0; i <= k; i++)
				values_push(a, vs, &cap, NAN, false);
		} else if (*p == '_') {
			p++;
			if (*p == 'x') {
				p = scan_count(p, &k);
				if (!p)
					return false;
			}
			for (long i = 0; i <= k; i++)
				values_push(a, vs, &cap, 0, false);
		} else if (strncmp(p, "stale", 5) == 0) {
			p += 5;
			values_push(a, vs, &cap, stale_nan(), true);
		} else {
			double v, d = 0;
			p = scan_number(p, &v);
			if (!p)
				return false;
			if (*p == '+' || *p == '-') {
				bool neg = *p == '-';
				p = scan_number(p + 1, &d);
				if (!p)
					return false;
				if (neg)
					d = -d;
				p = scan_count(p, &k);
				if (!p)
					return false;
			} else if (*p == 'x') {
				p = scan_count(p, &k);
				if (!p)
					return false;
			}
			for (long i = 0; i <= k; i++) {
				values_push(a, vs, &cap, v, true);
				v += d;
			}
		}
		if (*p && *p != ' ' && *p != '\t')
			return false;
	}
}

/* ------------------------------------------------------------ test file model */

enum expect_match { MATCH_ANY = 0, MATCH_MSG, MATCH_REGEX };

/* An `expect warn|info [msg:|regex:]` line. */
struct annot_expect {
	enum expect_match how; /* how text is compared */
	const char *text;      /* the msg or regex */
};

/* An expected series. */
struct exp_series {
	struct labels ls;  /* label set */
	struct values vals;/* expected values */
	int line;          /* line in the file */
};

/* One eval command. */
struct eval_case {
	int line;                /* header line */
	const char *expr;        /* the query */
	bool range;              /* range query */
	int64_t t;               /* instant time (ms) */
	int64_t start, end, step;/* range parameters (ms) */
	bool fail;               /* expect fail */
	struct annot_expect fail_msg;
	struct annot_expect warn[16], info[16];
	int nwarn, ninfo;        /* expect warn/info lines */
	bool any_warn, any_info; /* deprecated eval_warn / eval_info */
	bool no_warn, no_info;   /* expect no_warn / no_info */
	bool ordered;            /* expect ordered */
	bool rv;                 /* expect range vector */
	int64_t rv_from, rv_to, rv_step;
	bool is_string;          /* expect string */
	const char *string;      /* its text */
	bool is_scalar;          /* bare-number expectation */
	double scalar;           /* its value */
	struct exp_series *series; /* expected series */
	size_t nseries;
	bool hist;               /* a histogram literal occurred */
	const char *note;        /* which extra check this is, for reports */
};

/* Per-file run state. */
struct run {
	const char *file;     /* base name */
	struct db *db;        /* current store */
	struct pql_opts opts; /* engine settings of FORMAT.md section 7 */
	struct buf out;       /* failure report of this file */
	int passed, failed, skipped, out_of_scope;
	bool all;             /* run every eval, not only the plain ones */
};

static void failf(struct run *r, const struct eval_case *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void failf(struct run *r, const struct eval_case *c, const char *fmt, ...)
{
	char msg[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_printf(&r->out, "  %s:%d: %s%s%s\n    %s\n", r->file, c->line, c->expr,
		   c->note ? "  " : "", c->note ? c->note : "", msg);
}

static void fmt_labels(struct buf *b, const struct labels *ls)
{
	char tmp[4096];
	if (ls->n == 0) {
		buf_addstr(b, "{}");
		return;
	}
	size_t n = labels_format(ls, tmp, sizeof(tmp));
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	buf_add(b, tmp, n);
}

static void fmt_float(struct buf *b, double v)
{
	if (is_stale(v))
		buf_addstr(b, "stale");
	else
		buf_add_float(b, v);
}

/* Queries executed, for the summary. */
static long queries_run;

/* Prometheus's almost.Equal with epsilon 1e-6. */
static bool float_eq(double a, double b)
{
	if (is_stale(a) || is_stale(b))
		return is_stale(a) && is_stale(b);
	if (isnan(a) && isnan(b))
		return true;
	if (a == b)
		return true;
	double s = fabs(a) + fabs(b), d = fabs(a - b);
	if (a == 0 || b == 0 || s < DBL_MIN)
		return d < 1e-6 * DBL_MIN;
	return d / fmin(s, DBL_MAX) < 1e-6;
}

static bool regex_match(const char *re, const char *s)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
	if (!c)
		return false;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
	int rc = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(c);
	return rc >= 0;
}

static bool annot_matches(const struct annot_expect *e, const char *s)
{
	switch (e->how) {
	case MATCH_ANY: return true;
	case MATCH_MSG: return strcmp(e->text, s) == 0;
	case MATCH_REGEX: return regex_match(e->text, s);
	}
	return false;
}

/* Check one annotation kind; returns false (and reports) on mismatch. */
static bool check_annots(struct run *r, const struct eval_case *c, const char *kind,
			 const struct annot_expect *ex, int nex, bool any, bool none,
			 const char **got, size_t ngot)
{
	if (none && ngot) {
		failf(r, c, "expected no %s annotation, got \"%s\"", kind, got[0]);
		return false;
	}
	if (any && !ngot) {
		failf(r, c, "expected a %s annotation, got none", kind);
		return false;
	}
	if (nex == 0)
		return true;
	for (int i = 0; i < nex; i++) {
		bool hit = false;
		for (size_t j = 0; j < ngot && !hit; j++)
			hit = annot_matches(&ex[i], got[j]);
		if (!hit) {
			failf(r, c, "expected %s annotation matching \"%s\", got %zu others%s%s", kind,
			      ex[i].text ? ex[i].text : "(any)", ngot, ngot ? ": " : "",
			      ngot ? got[0] : "");
			return false;
		}
	}
	for (size_t j = 0; j < ngot; j++) {
		bool hit = false;
		for (int i = 0; i < nex && !hit; i++)
			hit = annot_matches(&ex[i], got[j]);
		if (!hit) {
			failf(r, c, "unexpected %s annotation \"%s\"", kind, got[j]);
			return false;
		}
	}
	return true;
}

/* Latest expected series with these labels (a repeated set replaces). */
static const struct exp_series *find_expected(const struct eval_case *c, const struct labels *ls)
{
	for (size_t i = c->nseries; i-- > 0;)
		if (labels_equal(&c->series[i].ls, ls))
			return &c->series[i];
	return NULL;
}

static size_t distinct_expected(const struct eval_case *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nseries; i++)
		if (find_expected(c, &c->series[i].ls) == &c->series[i])
			n++;
	return n;
}

static void fmt_expected(struct buf *b, const struct eval_case *c)
{
	if (c->is_scalar) {
		buf_addstr(b, "scalar ");
		buf_add_float(b, c->scalar);
		return;
	}
	if (c->nseries == 0)
		buf_addstr(b, "(empty)");
	for (size_t i = 0; i < c->nseries; i++) {
		buf_addstr(b, i ? "; " : "");
		fmt_labels(b, &c->series[i].ls);
		for (size_t k = 0; k < c->series[i].vals.n; k++) {
			buf_addch(b, ' ');
			if (c->series[i].vals.present[k])
				fmt_float(b, c->series[i].vals.v[k]);
			else
				buf_addch(b, '_');
		}
	}
}

static void fmt_result(struct buf *b, const struct pql_result *res)
{
	switch (res->type) {
	case PQL_SCALAR:
		buf_addstr(b, "scalar ");
		buf_add_float(b, res->u.scalar.v);
		break;
	case PQL_STRING:
		buf_printf(b, "string \"%s\"", res->u.string.s);
		break;
	case PQL_VECTOR:
		if (!res->u.vector.n)
			buf_addstr(b, "(empty vector)");
		for (size_t i = 0; i < res->u.vector.n; i++) {
			buf_addstr(b, i ? "; " : "");
			fmt_labels(b, &res->u.vector.v[i].labels);
			buf_addch(b, ' ');
			fmt_float(b, res->u.vector.v[i].v);
		}
		break;
	case PQL_MATRIX:
		if (!res->u.matrix.n)
			buf_addstr(b, "(empty matrix)");
		for (size_t i = 0; i < res->u.matrix.n; i++) {
			const struct pql_series *s = &res->u.matrix.s[i];
			buf_addstr(b, i ? "; " : "");
			fmt_labels(b, &s->labels);
			for (size_t k = 0; k < s->n; k++) {
				buf_printf(b, " %" PRId64 ":", s->pts[k].t);
				fmt_float(b, s->pts[k].v);
			}
		}
		break;
	default:
		buf_addstr(b, "(none)");
	}
}

static void fail_values(struct run *r, const struct eval_case *c, const char *why,
			const struct pql_result *res)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s\n    expected: ", why);
	fmt_expected(&b, c);
	buf_addstr(&b, "\n    got:      ");
	fmt_result(&b, res);
	failf(r, c, "%s", b.data);
	buf_release(&b);
}

/* Compare an instant vector (pairs of labels/values) with the expectation. */
static bool compare_vector(struct run *r, const struct eval_case *c, const struct pql_sample *v,
			   size_t n, const struct pql_result *res, const char *mode)
{
	char why[512];
	for (size_t i = 0; i < n; i++) {
		const struct exp_series *e = find_expected(c, &v[i].labels);
		if (!e) {
			snprintf(why, sizeof(why), "%sunexpected series in result", mode);
			fail_values(r, c, why, res);
			return false;
		}
		if (e->vals.n != 1 || !e->vals.present[0] || !float_eq(e->vals.v[0], v[i].v)) {
			snprintf(why, sizeof(why), "%svalue mismatch", mode);
			fail_values(r, c, why, res);
			return false;
		}
		if (c->ordered && !*mode && (i >= c->nseries || !labels_equal(&c->series[i].ls, &v[i].labels))) {
			snprintf(why, sizeof(why), "%sresult order differs from expectation", mode);
			fail_values(r, c, why, res);
			return false;
		}
	}
	if (n != distinct_expected(c)) {
		snprintf(why, sizeof(why), "%sexpected %zu series, got %zu", mode, distinct_expected(c), n);
		fail_values(r, c, why, res);
		return false;
	}
	return true;
}

static bool matrix_sorted(const struct pql_result *res)
{
	for (size_t i = 1; i < res->u.matrix.n; i++)
		if (labels_cmp(&res->u.matrix.s[i - 1].labels, &res->u.matrix.s[i].labels) >= 0)
			return false;
	return true;
}

/* Compare a matrix with expected series whose slot i sits at start+i*step. */
static bool compare_matrix(struct run *r, const struct eval_case *c, const struct pql_result *res,
			   int64_t start, int64_t end, int64_t step)
{
	char why[512];
	if (!matrix_sorted(res)) {
		fail_values(r, c, "matrix is not sorted by labels", res);
		return false;
	}
	for (size_t i = 0; i < res->u.matrix.n; i++) {
		const struct pql_series *s = &res->u.matrix.s[i];
		const struct exp_series *e = find_expected(c, &s->labels);
		if (!e) {
			fail_values(r, c, "unexpected series in result", res);
			return false;
		}
		size_t k = 0;
		for (size_t j = 0; j < e->vals.n; j++) {
			int64_t t = start + (int64_t)j * step;
			if (t > end) {
				fail_values(r, c, "expectation has more points than steps", res);
				return false;
			}
			if (!e->vals.present[j])
				continue;
			if (k >= s->n || s->pts[k].t != t || !float_eq(s->pts[k].v, e->vals.v[j])) {
				snprintf(why, sizeof(why), "point mismatch at t=%" PRId64 " in series %zu", t, i);
				fail_values(r, c, why, res);
				return false;
			}
			k++;
		}
		if (k != s->n) {
			fail_values(r, c, "result series has extra points", res);
			return false;
		}
	}
	if (res->u.matrix.n != distinct_expected(c)) {
		snprintf(why, sizeof(why), "expected %zu series, got %zu", distinct_expected(c),
			 res->u.matrix.n);
		fail_values(r, c, why, res);
		return false;
	}
	return true;
}

/* Compare an instant query's result. */
static bool compare_instant(struct run *r, const struct eval_case *c, const struct pql_result *res)
{
	if (c->is_scalar) {
		if (res->type != PQL_SCALAR || !float_eq(res->u.scalar.v, c->scalar)) {
			fail_values(r, c, "scalar mismatch", res);
			return false;
		}
		return true;
	}
	if (c->is_string) {
		if (res->type != PQL_STRING || strcmp(res->u.string.s, c->string) != 0) {
			fail_values(r, c, "string mismatch", res);
			return false;
		}
		return true;
	}
	if (c->rv) {
		if (res->type != PQL_MATRIX) {
			fail_values(r, c, "expected a range vector", res);
			return false;
		}
		return compare_matrix(r, c, res, c->rv_from, c->rv_to, c->rv_step);
	}
	if (res->type != PQL_VECTOR) {
		fail_values(r, c, "expected an instant vector", res);
		return false;
	}
	return compare_vector(r, c, res->u.vector.v, res->u.vector.n, res, "");
}

/* Section 6.6.1: the instant query as a range query over [t-1m, t+1m]. */
static bool range_mode_check(struct run *r, const struct eval_case *c, const struct pql_result *inst)
{
	struct pql_result res;
	struct ts_error err;
	bool ok = true;
	memset(&res, 0, sizeof(res));
	queries_run++;
	int rc = pql_exec_range(r->db, c->expr, c->t - 60000, c->t + 60000, 60000, &r->opts, &res, &err);
	if (rc) {
		failf(r, c, "range-mode check: range query failed: %s", err.msg);
		return false;
	}
	if (res.type != PQL_MATRIX || !matrix_sorted(&res)) {
		fail_values(r, c, "range-mode check: result is not a sorted matrix", &res);
		pql_result_release(&res);
		return false;
	}
	if (c->ordered) {
		pql_result_release(&res);
		return true;
	}
	if (inst->type == PQL_SCALAR) {
		bool found = false;
		for (size_t i = 0; i < res.u.matrix.n && !found; i++)
			for (size_t k = 0; k < res.u.matrix.s[i].n; k++)
				if (res.u.matrix.s[i].pts[k].t == c->t) {
					found = true;
					if (!float_eq(res.u.matrix.s[i].pts[k].v, c->scalar)) {
						fail_values(r, c, "range-mode check: scalar mismatch", &res);
						ok = false;
					}
				}
		if (!found) {
			fail_values(r, c, "range-mode check: no scalar point at t", &res);
			ok = false;
		}
	} else {
		struct pql_sample *v = calloc(res.u.matrix.n + 1, sizeof(*v));
		size_t n = 0;
		for (size_t i = 0; i < res.u.matrix.n; i++)
			for (size_t k = 0; k < res.u.matrix.s[i].n; k++)
				if (res.u.matrix.s[i].pts[k].t == c->t) {
					v[n].labels = res.u.matrix.s[i].labels;
					v[n].t = c->t;
					v[n++].v = res.u.matrix.s[i].pts[k].v;
				}
		ok = compare_vector(r, c, v, n, &res, "range-mode check: ");
		free(v);
	}
	pql_result_release(&res);
	return ok;
}

static bool mentions_any(const char *expr, const char *const *names)
{
	for (int i = 0; names[i]; i++) {
		const char *p = expr;
		size_t n = strlen(names[i]);
		while ((p = strstr(p, names[i]))) {
			const char *q = skip_ws(p + n);
			if (*q == '(' && (p == expr || !ident_char((unsigned char)p[-1])))
				return true;
			p += n;
		}
	}
	return false;
}

/* Run one eval; returns true when it passed. */
static bool run_eval(struct run *r, const struct eval_case *c)
{
	struct pql_result res;
	struct ts_error err;
	int rc;
	memset(&res, 0, sizeof(res));
	memset(&err, 0, sizeof(err));
	queries_run++;
	if (c->range)
		rc = pql_exec_range(r->db, c->expr, c->start, c->end, c->step, &r->opts, &res, &err);
	else
		rc = pql_exec_instant(r->db, c->expr, c->t, &r->opts, &res, &err);
	if (rc) {
		if (!c->fail) {
			failf(r, c, "unexpected error (%s): %s", ts_strerror(rc), err.msg);
			return false;
		}
		if (c->fail_msg.how != MATCH_ANY && !annot_matches(&c->fail_msg, err.msg)) {
			failf(r, c, "error \"%s\" does not match expected \"%s\"", err.msg, c->fail_msg.text);
			return false;
		}
		return true;
	}
	bool ok = false;
	if (c->fail) {
		fail_values(r, c, "expected the query to fail", &res);
		goto out;
	}
	if (!check_annots(r, c, "warn", c->warn, c->nwarn, c->any_warn, c->no_warn,
			  res.warnings, res.nwarnings) ||
	    !check_annots(r, c, "info", c->info, c->ninfo, c->any_info, c->no_info, res.infos,
			  res.ninfos))
		goto out;
	if (c->range) {
		if (res.type != PQL_MATRIX) {
			fail_values(r, c, "range query did not return a matrix", &res);
			goto out;
		}
		ok = compare_matrix(r, c, &res, c->start, c->end, c->step);
		goto out;
	}
	if (!compare_instant(r, c, &res))
		goto out;
	static const char *const no_range_check[] = { "start", "end", "range", "step", NULL };
	if (!c->rv && !c->is_string && !mentions_any(c->expr, no_range_check))
		ok = range_mode_check(r, c, &res);
	else
		ok = true;
out:
	pql_result_release(&res);
	return ok;
}

/* ------------------------------------------------------------ @-modifier check */

/* Functions whose result depends on the evaluation time itself. */
static const char *const at_unsafe[] = {
	"time", "timestamp", "predict_linear", "day_of_month", "day_of_week", "day_of_year",
	"days_in_month", "hour", "minute", "month", "year", "start", "end", "range", "step", NULL,
};

/* Insertion points (byte offsets) for " @ t", collected from the tree. */
struct at_points {
	size_t v[256]; /* offsets */
	size_t n;      /* count */
	bool unsafe;   /* a time-dependent function occurs */
};

static void at_walk(struct pql_node *n, struct at_points *ap)
{
	struct pql_node *kids[64];
	switch (n->kind) {
	case PQL_NODE_VECTOR:
		if (n->u.vs.at == PQL_AT_NONE && ap->n < 256)
			ap->v[ap->n++] = n->pos.end;
		return;
	case PQL_NODE_MATRIX:
		if (n->u.ms.vs->u.vs.at == PQL_AT_NONE && ap->n < 256)
			ap->v[ap->n++] = n->pos.end;
		return;
	case PQL_NODE_SUBQUERY:
		/* the subquery gets @; nothing inside it changes */
		if (n->u.sq.at == PQL_AT_NONE && ap->n < 256)
			ap->v[ap->n++] = n->pos.end;
		return;
	case PQL_NODE_CALL:
		for (int i = 0; at_unsafe[i]; i++)
			if (strcmp(n->u.call.func->name, at_unsafe[i]) == 0)
				ap->unsafe = true;
		break;
	default:
		break;
	}
	size_t k = pql_node_children(n, kids, 64);
	for (size_t i = 0; i < k && i < 64; i++)
		at_walk(kids[i], ap);
}

static int cmp_size_desc(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * expr with "@ <t seconds>" added to every selector and subquery that has
 * none (FORMAT.md 6.6.2), malloc'd; NULL when the check does not apply.
 */
static char *at_variant(const char *expr, int64_t t_ms)
{
	struct arena *a = arena_new(0);
	struct pql_node *root = NULL;
	struct ts_error err;
	struct at_points ap;
	char *out = NULL;
	memset(&ap, 0, sizeof(ap));
	if (!a)
		return NULL;
	if (pql_parse(expr, a, &root, &err) != 0)
		goto done;
	at_walk(root, &ap);
	if (ap.unsafe)
		goto done;
	qsort(ap.v, ap.n, sizeof(size_t), cmp_size_desc);
	char at[64];
	snprintf(at, sizeof(at), " @ %s%" PRId64 ".%03" PRId64, t_ms < 0 ? "-" : "",
		 (t_ms < 0 ? -t_ms : t_ms) / 1000, (t_ms < 0 ? -t_ms : t_ms) % 1000);
	struct buf b = BUF_INIT;
	buf_addstr(&b, expr);
	for (size_t i = 0; i < ap.n; i++) {
		size_t pos = ap.v[i], len = b.len;
		buf_addstr(&b, at); /* grow, then shift the tail right */
		memmove(b.data + pos + strlen(at), b.data + pos, len - pos);
		memcpy(b.data + pos, at, strlen(at));
	}
	out = buf_detach(&b, NULL);
done:
	pql_ast_release(root);
	arena_free(a);
	return out;
}

/* The instant eval, then its @-modifier variants at other times. */
static bool run_instant_with_at(struct run *r, const struct eval_case *c)
{
	if (!run_eval(r, c))
		return false;
	char *expr = at_variant(c->expr, c->t);
	if (!expr)
		return true;
	int64_t times[5];
	size_t nt;
	if (c->t == 0) {
		times[0] = -1000;
		times[1] = 0;
		times[2] = 1000;
		nt = 3;
	} else {
		times[0] = -10 * c->t;
		times[1] = 0;
		times[2] = c->t / 5;
		times[3] = c->t;
		times[4] = 10 * c->t;
		nt = 5;
	}
	bool ok = true;
	for (size_t i = 0; i < nt && ok; i++) {
		char note[96];
		struct eval_case v = *c;
		snprintf(note, sizeof(note), "[@-modifier check, evaluated at %" PRId64 "ms]", times[i]);
		v.expr = expr;
		v.t = times[i];
		v.note = note;
		ok = run_eval(r, &v);
	}
	free(expr);
	return ok;
}

/* ------------------------------------------------------------ commands */

/* A series staged by a load block. */
struct load_series {
	struct labels ls;   /* label set (block arena) */
	struct values vals; /* values */
};

static int do_load(struct run *r, char **lines, int first, int last, int64_t interval)
{
	struct arena *a = arena_new(0);
	struct load_series *ss = calloc((size_t)(last - first) + 1, sizeof(*ss));
	size_t n = 0;
	int rc = 0;
	for (int i = first; i < last; i++) {
		struct labels ls;
		const char *p = scan_metric(a, lines[i], &ls);
		if (!p || (*p != ' ' && *p != '\t')) {
			/* "@st" start-timestamp lines and anything unparsable */
			if (p && strncmp(p, "@st", 3) == 0)
				continue;
			fprintf(stderr, "%s:%d: bad series line: %s\n", r->file, i + 1, lines[i]);
			rc = -1;
			continue;
		}
		struct values vs;
		if (!parse_values(a, p, &vs)) {
			fprintf(stderr, "%s:%d: bad value sequence: %s\n", r->file, i + 1, lines[i]);
			rc = -1;
			continue;
		}
		size_t k;
		for (k = 0; k < n; k++)
			if (labels_equal(&ss[k].ls, &ls))
				break;
		ss[k].ls = ls;
		ss[k].vals = vs;
		if (k == n)
			n++;
	}
	struct appender *app = db_appender(r->db);
	for (size_t k = 0; k < n && app; k++) {
		uint64_t ref = 0;
		struct ts_error err;
		struct labels ls = ss[k].ls;
		if (labels_validate(&ls, &err) != 0) {
			/* a series without a name: store it anyway is impossible */
			fprintf(stderr, "%s: cannot load series: %s\n", r->file, err.msg);
			continue;
		}
		for (size_t j = 0; j < ss[k].vals.n; j++) {
			if (!ss[k].vals.present[j])
				continue;
			int arc = appender_add(app, &ls, &ref, (int64_t)j * interval, ss[k].vals.v[j]);
			if (arc)
				fprintf(stderr, "%s: append failed: %s\n", r->file, ts_strerror(arc));
		}
	}
	if (app && appender_commit(app) != 0)
		rc = -1;
	free(ss);
	arena_free(a);
	return rc;
}

/* Is s a bare number (Go ParseInt base 0, then ParseFloat)? */
static bool parse_scalar_line(const char *s, double *out)
{
	char *end;
	errno = 0;
	long long iv = strtoll(s, &end, 0);
	if (end != s && *end == '\0' && errno == 0) {
		*out = (double)iv;
		return true;
	}
	double d = strtod(s, &end);
	if (end != s && *end == '\0') {
		*out = d;
		return true;
	}
	return false;
}

static bool parse_expect_text(struct arena *a, const char *rest, struct annot_expect *e)
{
	rest = skip_ws(rest);
	e->how = MATCH_ANY;
	e->text = NULL;
	if (!*rest)
		return true;
	if (strncmp(rest, "msg:", 4) == 0)
		e->how = MATCH_MSG;
	else if (strncmp(rest, "regex:", 6) == 0)
		e->how = MATCH_REGEX;
	else
		return false;
	const char *t = skip_ws(strchr(rest, ':') + 1);
	size_t len = strlen(t);
	while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	e->text = arena_strndup(a, t, len);
	return true;
}

/* Take the next whitespace-delimited word of *p into buf. */
static bool next_word(const char **p, char *word, size_t cap)
{
	const char *s = skip_ws(*p);
	size_t n = 0;
	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	if (!n || n >= cap)
		return false;
	memcpy(word, s, n);
	word[n] = '\0';
	*p = s + n;
	return true;
}

/*
 * Parse an eval block: header line and body lines [first+1, *end).
 * Returns false on a syntax error. *end is set to the line after the block.
 */
static bool parse_eval(struct arena *a, char **lines, int nlines, int first, int *end,
		       struct eval_case *c)
{
	const char *p = lines[first];
	char word[256];
	memset(c, 0, sizeof(*c));
	c->line = first + 1;
	next_word(&p, word, sizeof(word));
	if (strcmp(word, "eval_fail") == 0)
		c->fail = true;
	else if (strcmp(word, "eval_warn") == 0)
		c->any_warn = true;
	else if (strcmp(word, "eval_info") == 0)
		c->any_info = true;
	else if (strcmp(word, "eval_ordered") == 0)
		c->ordered = true;
	else if (strcmp(word, "eval") != 0)
		return false;
	if (!next_word(&p, word, sizeof(word)))
		return false;
	if (strcmp(word, "instant") == 0) {
		if (!next_word(&p, word, sizeof(word)) || strcmp(word, "at") != 0)
			return false;
		if (!next_word(&p, word, sizeof(word)) || !parse_duration(word, strlen(word), &c->t))
			return false;
	} else if (strcmp(word, "range") == 0) {
		c->range = true;
		if (!next_word(&p, word, sizeof(word)) || strcmp(word, "from") != 0 ||
		    !next_word(&p, word, sizeof(word)) || !parse_duration(word, strlen(word), &c->start) ||
		    !next_word(&p, word, sizeof(word)) || strcmp(word, "to") != 0 ||
		    !next_word(&p, word, sizeof(word)) || !parse_duration(word, strlen(word), &c->end) ||
		    !next_word(&p, word, sizeof(word)) || strcmp(word, "step") != 0 ||
		    !next_word(&p, word, sizeof(word)) || !parse_duration(word, strlen(word), &c->step))
			return false;
		if (c->end < c->start || c->step <= 0)
			return false;
	} else {
		return false;
	}
	c->expr = arena_strdup(a, skip_ws(p));
	if (!*c->expr)
		return false;

	size_t cap = 0;
	int i;
	for (i = first + 1; i < nlines && lines[i][0]; i++) {
		const char *l = lines[i];
		double d;
		if (strncmp(l, "expect ", 7) == 0 || strcmp(l, "expect") == 0) {
			const char *q = l + 6;
			if (!next_word(&q, word, sizeof(word)))
				return false;
			if (strcmp(word, "fail") == 0) {
				c->fail = true;
				if (!parse_expect_text(a, q, &c->fail_msg))
					return false;
			} else if (strcmp(word, "warn") == 0) {
				if (c->nwarn == 16 || !parse_expect_text(a, q, &c->warn[c->nwarn++]))
					return false;
			} else if (strcmp(word, "info") == 0) {
				if (c->ninfo == 16 || !parse_expect_text(a, q, &c->info[c->ninfo++]))
					return false;
			} else if (strcmp(word, "no_warn") == 0) {
				c->no_warn = true;
			} else if (strcmp(word, "no_info") == 0) {
				c->no_info = true;
			} else if (strcmp(word, "ordered") == 0) {
				c->ordered = true;
			} else if (strcmp(word, "string") == 0) {
				q = skip_ws(q);
				c->is_string = true;
				if (!scan_string(a, q, &c->string))
					return false;
			} else if (strcmp(word, "range") == 0) {
				c->rv = true;
				if (!next_word(&q, word, sizeof(word)) || strcmp(word, "vector") != 0 ||
				    !next_word(&q, word, sizeof(word)) || strcmp(word, "from") != 0 ||
				    !next_word(&q, word, sizeof(word)) ||
				    !parse_duration(word, strlen(word), &c->rv_from) ||
				    !next_word(&q, word, sizeof(word)) || strcmp(word, "to") != 0 ||
				    !next_word(&q, word, sizeof(word)) ||
				    !parse_duration(word, strlen(word), &c->rv_to) ||
				    !next_word(&q, word, sizeof(word)) || strcmp(word, "step") != 0 ||
				    !next_word(&q, word, sizeof(word)) ||
				    !parse_duration(word, strlen(word), &c->rv_step))
					return false;
			} else {
				return false;
			}
			continue;
		}
		if (strncmp(l, "expected_fail_message", 21) == 0) {
			c->fail_msg.how = MATCH_MSG;
			c->fail_msg.text = arena_strdup(a, skip_ws(l + 21));
			continue;
		}
		if (strncmp(l, "expected_fail_regexp", 20) == 0) {
			c->fail_msg.how = MATCH_REGEX;
			c->fail_msg.text = arena_strdup(a, skip_ws(l + 20));
			continue;
		}
		if (parse_scalar_line(l, &d)) {
			c->is_scalar = true;
			c->scalar = d;
			i++;
			break;
		}
		struct exp_series es;
		memset(&es, 0, sizeof(es));
		const char *q = scan_metric(a, l, &es.ls);
		if (!q || !parse_values(a, q, &es.vals))
			return false;
		es.line = i + 1;
		if (es.vals.hist)
			c->hist = true;
		if (c->nseries == cap) {
			cap = cap ? cap * 2 : 8;
			struct exp_series *nv = arena_alloc(a, cap * sizeof(*nv));
			if (c->nseries)
				memcpy(nv, c->series, c->nseries * sizeof(*nv));
			c->series = nv;
		}
		c->series[c->nseries++] = es;
	}
	*end = i;
	return true;
}

/* Read a file into trimmed lines, comments blanked. */
static char **read_lines(const char *path, int *nlines, char **blob)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc((size_t)sz + 1);
	if (fread(data, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(data);
		return NULL;
	}
	fclose(f);
	data[sz] = '\0';
	int cap = 1024, n = 0;
	char **lines = malloc((size_t)cap * sizeof(char *));
	char *p = data;
	for (;;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		char *s = p;
		while (*s == ' ' || *s == '\t')
			s++;
		size_t len = strlen(s);
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
			s[--len] = '\0';
		if (*s == '#')
			*s = '\0';
		if (n == cap) {
			cap *= 2;
			lines = realloc(lines, (size_t)cap * sizeof(char *));
		}
		lines[n++] = s;
		if (!nl)
			break;
		p = nl + 1;
	}
	*nlines = n;
	*blob = data;
	return lines;
}

static int run_file(struct run *r, const char *path, struct case_list *plain,
		    struct case_list *skips)
{
	int nlines;
	char *blob;
	char **lines = read_lines(path, &nlines, &blob);
	struct ts_error err;
	int rc = 0;
	if (!lines) {
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	r->db = db_open(NULL, NULL, &err);
	if (!r->db) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		free(lines);
		free(blob);
		return -1;
	}
	for (int i = 0; i < nlines;) {
		if (!lines[i][0]) {
			i++;
			continue;
		}
		if (strcasecmp(lines[i], "clear") == 0) {
			db_close(r->db);
			r->db = db_open(NULL, NULL, &err);
			if (!r->db) {
				rc = -1;
				break;
			}
			i++;
			continue;
		}
		if (strncasecmp(lines[i], "load", 4) == 0) {
			const char *p = lines[i] + 4;
			if (strncmp(p, "_with_nhcb", 10) == 0)
				p += 10;
			char word[64];
			int64_t interval;
			int j = i + 1;
			while (j < nlines && lines[j][0])
				j++;
			if (!next_word(&p, word, sizeof(word)) ||
			    !parse_duration(word, strlen(word), &interval)) {
				fprintf(stderr, "%s:%d: bad load header\n", r->file, i + 1);
				rc = -1;
			} else if (do_load(r, lines, i + 1, j, interval) != 0) {
				rc = -1;
			}
			i = j;
			continue;
		}
		if (strncasecmp(lines[i], "eval", 4) == 0) {
			struct arena *a = arena_new(0);
			struct eval_case c;
			int end = i + 1;
			if (!parse_eval(a, lines, nlines, i, &end, &c)) {
				fprintf(stderr, "%s:%d: cannot parse eval block\n", r->file, i + 1);
				while (end < nlines && lines[end][0])
					end++;
				r->failed++;
				buf_printf(&r->out, "  %s:%d: eval block does not parse\n", r->file, i + 1);
			} else if (!case_list_find(plain, r->file, c.line) && !r->all) {
				r->out_of_scope++;
			} else {
				struct case_key *sk = case_list_find(skips, r->file, c.line);
				if (sk) {
					sk->used = true;
					r->skipped++;
				} else if (c.range ? run_eval(r, &c) : run_instant_with_at(r, &c)) {
					r->passed++;
				} else {
					r->failed++;
				}
			}
			arena_free(a);
			i = end;
			continue;
		}
		fprintf(stderr, "%s:%d: unknown command: %s\n", r->file, i + 1, lines[i]);
		rc = -1;
		while (i < nlines && lines[i][0])
			i++;
	}
	db_close(r->db);
	r->db = NULL;
	free(lines);
	free(blob);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("PROMQL_TEST_DIR");
	const char *skip_path = getenv("PROMQL_SKIP_FILE");
	if (argc > 1)
		dir = argv[1];
	if (!dir || !*dir)
		dir = PROMQL_TEST_DIR_DEFAULT;
	if (!skip_path || !*skip_path)
		skip_path = PROMQL_SKIP_FILE_DEFAULT;

	struct case_list plain = { 0 }, skips = { 0 };
	if (!load_coverage(dir, &plain)) {
		fprintf(stderr, "FATAL: cannot read %s/COVERAGE.tsv: the conformance directory is "
				"missing (set PROMQL_TEST_DIR)\n", dir);
		return 1;
	}
	load_skips(skip_path, &skips);

	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "FATAL: cannot open %s\n", dir);
		return 1;
	}
	char **names = NULL;
	size_t nnames = 0;
	struct dirent *de;
	const char *only = getenv("PROMQL_TEST_FILE");
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".test") == 0 &&
		    (!only || strcmp(only, de->d_name) == 0)) {
			names = realloc(names, (nnames + 1) * sizeof(*names));
			names[nnames++] = strdup(de->d_name);
		}
	}
	closedir(d);
	if (nnames == 0) {
		fprintf(stderr, "FATAL: no .test files in %s\n", dir);
		return 1;
	}
	qsort(names, nnames, sizeof(*names), cmp_str);

	int passed = 0, failed = 0, skipped = 0, oos = 0, errors = 0;
	for (size_t i = 0; i < nnames; i++) {
		char path[4096];
		struct run r;
		memset(&r, 0, sizeof(r));
		r.file = names[i];
		r.opts.lookback_ms = 300000;
		r.opts.max_samples = 10000;
		r.opts.subquery_step_ms = 60000;
		r.opts.timeout_ms = 120000;
		r.all = getenv("PROMQL_TEST_ALL") != NULL;
		r.out = (struct buf)BUF_INIT;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (run_file(&r, path, &plain, &skips) != 0)
			errors++;
		printf("%-28s %4d passed, %4d failed, %4d skipped, %4d not plain\n", names[i],
		       r.passed, r.failed, r.skipped, r.out_of_scope);
		if (r.out.len)
			fputs(r.out.data, stdout);
		buf_release(&r.out);
		passed += r.passed;
		failed += r.failed;
		skipped += r.skipped;
		oos += r.out_of_scope;
		free(names[i]);
	}
	free(names);
	for (size_t i = 0; i < skips.n; i++)
		if (!skips.v[i].used && (!getenv("PROMQL_TEST_FILE") ||
					 strcmp(skips.v[i].file, getenv("PROMQL_TEST_FILE")) == 0))
			printf("note: skip.tsv entry %s:%d matched no plain eval\n", skips.v[i].file,
			       skips.v[i].line);
	if (errors)
		printf("%d file(s) had load/parse errors\n", errors);
	printf("(%d evals outside the plain float set per COVERAGE.tsv were not run; "
	       "%ld queries executed, counting range-mode and @-modifier re-checks)\n", oos,
	       queries_run);
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	case_list_release(&plain);
	case_list_release(&skips);
	return failed || errors ? 1 : 0;
}
