/*
 * text_import.c - parse Prometheus and OpenMetrics text and store it; see
 * text_import.h for the format accepted and the answers.
 *
 * One pass over the body, one line at a time:
 *
 *   line ──┬─ empty                         skipped
 *          ├─ "# HELP|TYPE|UNIT name ..."   metadata of the current family
 *          │                                (a new name flushes the old one)
 *          ├─ "# EOF"                       end; only empty lines may follow
 *          ├─ "# ..."                       comment, skipped
 *          └─ sample                        name, labels, value, timestamp
 *                                           parsed into the scratch buffer,
 *                                           extra labels merged,
 *                                           labels_validate, appender_add
 *
 * Invariants:
 *   1. The body is only read: every string of a line (name, unescaped
 *      label values) is copied into one scratch buffer sized for the line
 *      before parsing it (unescaping never grows a string), and the label
 *      array is sized for the line too, so nothing moves while a line's
 *      labels point into them.
 *   2. A bad line never stops the import: it is counted, the first one is
 *      named in the message, and the next line is parsed.
 *   3. Everything goes through one appender, committed once at the end.
 */
#include "ingest/text_import.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/remote_write_int.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/error.h"

/* Bytes of the offending line quoted in a message. */
#define MSG_LINE_MAX 120

/* Longest value or timestamp token. */
#define TOKEN_MAX 64

/* Prometheus's NaN (Go's math.NaN()), not the C library's. */
#define NORMAL_NAN_BITS UINT64_C(0x7ff8000000000001)

/* State of one import. */
struct ti_state {
	struct db *db;            /* the store */
	struct appender *app;     /* the import's appender */
	const struct ti_opts *opts; /* the caller's options */
	struct ti_result *res;    /* counters and status */
	bool om;                  /* OpenMetrics body */
	bool eof;                 /* "# EOF" seen */
	size_t lineno;            /* 1-based number of the current line */
	const char *line;         /* the current line (for messages) */
	size_t line_len;          /* its length */
	char *scratch;            /* strings of the current line (malloc'd) */
	size_t scap;              /* its size */
	size_t sused;             /* bytes used in it */
	struct label *lv;         /* labels of the current line (malloc'd) */
	size_t lcap;              /* its capacity */
	char *fam;                /* current metadata family (malloc'd), NULL: none */
	int fam_type;             /* its TYPE (-1: none seen) */
	char *fam_help;           /* its HELP (malloc'd), NULL: none */
	char *fam_unit;           /* its UNIT (malloc'd), NULL: none */
	bool nomem;               /* an allocation failed */
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* Record a bad line: counted by the caller; the first one is named. */
static void bad_line(struct ti_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad_line(struct ti_state *st, const char *fmt, ...)
{
	struct ti_result *res = st->res;
	char why[200], text[MSG_LINE_MAX + 1], shown[240], clean[200];
	struct rw_sbuf sb;
	size_t n = st->line_len < MSG_LINE_MAX ? st->line_len : MSG_LINE_MAX;
	va_list ap;

	if (res->first_bad_line)
		return;
	res->first_bad_line = st->lineno;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* the reason may quote raw bytes (labels_validate's messages) */
	rw_sb_init(&sb, clean, sizeof(clean));
	rw_sb_add_clean(&sb, why, false);
	memcpy(text, st->line, n);
	text[n] = '\0';
	rw_sb_init(&sb, shown, sizeof(shown));
	rw_sb_add_clean(&sb, text, true);
	if (st->line_len > MSG_LINE_MAX)
		rw_sb_add(&sb, "...", 3);
	if (res->status < 400) {
		res->status = 400;
		snprintf(res->msg, sizeof(res->msg), "line %zu: %.199s: \"%.239s\"", st->lineno,
			 clean, shown);
	}
}

/* A storage failure: 500, and its message wins over a bad line's. */
static void storage_failure(struct ti_state *st, const char *what, int rc)
{
	struct ti_result *res = st->res;

	if (res->status >= 500)
		return;
	res->status = 500;
	snprintf(res->msg, sizeof(res->msg), "line %zu: %s: %s", st->lineno, what,
		 ts_strerror(rc));
}

/* ------------------------------------------------------------ metadata */

static char *dup_n(struct ti_state *st, const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p) {
		st->nomem = true;
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Record the current family's metadata, if it has any, and forget it. */
static void flush_family(struct ti_state *st)
{
	int rc;

	if (st->fam && (st->fam_type >= 0 || st->fam_help || st->fam_unit)) {
		rc = db_set_metadata(st->db, st->fam,
				     st->fam_type >= 0 ? (enum metric_type)st->fam_type
						       : METRIC_UNKNOWN,
				     st->fam_help ? st->fam_help : "",
				     st->fam_unit ? st->fam_unit : "");
		if (rc == 0)
			st->res->metadata_written++;
		else
			storage_failure(st, "cannot record metadata", rc);
	}
	free(st->fam);
	free(st->fam_help);
	free(st->fam_unit);
	st->fam = st->fam_help = st->fam_unit = NULL;
	st->fam_type = -1;
}

/* Copy of s[0..n) with \\, \n and \" unescaped (others kept). */
static char *unescape_help(struct ti_state *st, const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;

	if (!out) {
		st->nomem = true;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n &&
		    (s[i + 1] == '\\' || s[i + 1] == 'n' || s[i + 1] == '"')) {
			*o++ = s[i + 1] == 'n' ? '\n' : s[i + 1];
			i++;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int type_of(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum metric_type t;
	} types[] = {
		{ "counter", METRIC_COUNTER },
		{ "gauge", METRIC_GAUGE },
		{ "histogram", METRIC_HISTOGRAM },
		{ "gaugehistogram", METRIC_GAUGEHISTOGRAM },
		{ "summary", METRIC_SUMMARY },
		{ "info", METRIC_INFO },
		{ "stateset", METRIC_STATESET },
		{ "unknown", METRIC_UNKNOWN },
		{ "untyped", METRIC_UNKNOWN },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == n && memcmp(types[i].name, s, n) == 0)
			return (int)types[i].t;
	return -1;
}

/* A comment line p[0..n) (starting with '#'); false when it is bad. */
static bool do_comment(struct ti_state *st, const char *p, size_t n)
{
	const char *end = p + n, *kw, *name, *rest;
	size_t kwn, namen;
	int kind; /* 0 HELP, 1 TYPE, 2 UNIT */

	p++;
	while (p < end && is_ws(*p))
		p++;
	kw = p;
	while (p < end && !is_ws(*p))
		p++;
	kwn = (size_t)(p - kw);
	if (kwn == 3 && memcmp(kw, "EOF", 3) == 0) {
		while (p < end && is_ws(*p))
			p++;
		if (p == end) {
			st->eof = true;
			return true;
		}
		return true; /* "# EOF something": a comment */
	}
	if (kwn == 4 && memcmp(kw, "HELP", 4) == 0)
		kind = 0;
	else if (kwn == 4 && memcmp(kw, "TYPE", 4) == 0)
		kind = 1;
	else if (kwn == 4 && memcmp(kw, "UNIT", 4) == 0)
		kind = 2;
	else
		return true; /* a comment */
	if (p == end || !is_ws(*p)) {
		bad_line(st, "missing metric name after # %.4s", kw);
		return false;
	}
	while (p < end && is_ws(*p))
		p++;
	name = p;
	while (p < end && !is_ws(*p))
		p++;
	namen = (size_t)(p - name);
	if (!metric_name_valid(name, namen)) {
		bad_line(st, "invalid metric name in # %.4s", kw);
		return false;
	}
	if (p < end)
		p++; /* the one separator before the text */
	rest = p;
	if (kind == 1) {
		size_t tn;
		int t;

		while (rest < end && is_ws(*rest))
			rest++;
		tn = (size_t)(end - rest);
		while (tn && is_ws(rest[tn - 1]))
			tn--;
		t = type_of(rest, tn);
		if (t < 0) {
			bad_line(st, "unknown metric type");
			return false;
		}
		if (!st->fam || strlen(st->fam) != namen || memcmp(st->fam, name, namen)) {
			flush_family(st);
			st->fam = dup_n(st, name, namen);
		}
		st->fam_type = t;
		return true;
	}
	if (!st->fam || strlen(st->fam) != namen || memcmp(st->fam, name, namen)) {
		flush_family(st);
		st->fam = dup_n(st, name, namen);
	}
	if (kind == 0) {
		free(st->fam_help);
		st->fam_help = unescape_help(st, rest, (size_t)(end - rest));
	} else {
		size_t un = (size_t)(end - rest);

		while (un && is_ws(rest[un - 1]))
			un--;
		free(st->fam_unit);
		st->fam_unit = dup_n(st, rest, un);
	}
	return true;
}

/* ------------------------------------------------------------ samples */

/* Copy s[0..n) into the scratch buffer, NUL-terminated. */
static const char *scratch_str(struct ti_state *st, const char *s, size_t n)
{
	char *out = st->scratch + st->sused;

	memcpy(out, s, n);
	out[n] = '\0';
	st->sused += n + 1;
	return out;
}

/* Parse a float token; false when it is not one. */
static bool parse_value(const char *s, size_t n, double *out)
{
	char tmp[TOKEN_MAX + 1], *end;
	double v;

	if (n == 0 || n > TOKEN_MAX || memchr(s, '(', n))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (end != tmp + n)
		return false;
	if (isnan(v)) {
		uint64_t bits = NORMAL_NAN_BITS;

		memcpy(&v, &bits, sizeof(v));
	}
	*out = v;
	return true;
}

/* Parse a timestamp token into ms: integer ms (0.0.4) or float seconds
 * (OpenMetrics); false when it is not one. */
static bool parse_ts(const struct ti_state *st, const char *s, size_t n, int64_t *ms)
{
	char tmp[TOKEN_MAX + 1], *end;

	if (n == 0 || n > TOKEN_MAX)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	if (st->om) {
		double v;

		if (memchr(s, '(', n))
			return false;
		v = strtod(tmp, &end);
		if (end != tmp + n || !isfinite(v) || fabs(v) > 9.0e15)
			return false;
		*ms = (int64_t)llround(v * 1000.0);
		return true;
	}
	if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return false;
	*ms = (int64_t)strtoll(tmp, &end, 10);
	return end == tmp + n && errno != ERANGE;
}

/* Read a quoted label value at *pp (at the opening quote) into the
 * scratch buffer with its escapes resolved; NULL when it does not end. */
static const char *label_value(struct ti_state *st, const char **pp, const char *end)
{
	const char *p = *pp + 1;
	char *out = st->scratch + st->sused, *o = out;

	while (p < end && *p != '"') {
		if (*p == '\\' && p + 1 < end) {
			if (p[1] == '\\' || p[1] == '"' || p[1] == 'n') {
				*o++ = p[1] == 'n' ? '\n' : p[1];
				p += 2;
				continue;
			}
			*o++ = *p++; /* kept as it is, with what follows */
			*o++ = *p++;
			continue;
		}
		*o++ = *p++;
	}
	if (p == end)
		return NULL;
	*o = '\0';
	st->sused += (size_t)(o - out) + 1;
	*pp = p + 1;
	return out;
}

/* Make the scratch buffer and label array big enough for a line of n
 * bytes; false when out of memory. */
static bool reserve_line(struct ti_state *st, size_t n)
{
	size_t need = 2 * n + 16, lneed = n / 2 + 2 + st->opts->nextra;

	if (need > st->scap) {
		char *p = realloc(st->scratch, need);

		if (!p)
			return false;
		st->scratch = p;
		st->scap = need;
	}
	if (lneed > st->lcap) {
		struct label *l = realloc(st->lv, lneed * sizeof(*l));

		if (!l)
			return false;
		st->lv = l;
		st->lcap = lneed;
	}
	st->sused = 0;
	return true;
}

/* Is name the _created sample of the current family of a type that has
 * one in OpenMetrics? */
static bool is_created(const struct ti_state *st, const char *name, size_t n)
{
	size_t fn;

	if (!st->om || !st->fam)
		return false;
	if (st->fam_type != METRIC_COUNTER && st->fam_type != METRIC_HISTOGRAM &&
	    st->fam_type != METRIC_GAUGEHISTOGRAM && st->fam_type != METRIC_SUMMARY)
		return false;
	fn = strlen(st->fam);
	return n == fn + 8 && memcmp(name, st->fam, fn) == 0 &&
	       memcmp(name + fn, "_created", 8) == 0;
}

/* A sample line p[0..n); false when it is bad (already reported). */
static bool do_sample(struct ti_state *st, const char *p, size_t n)
{
	const char *end = p + n, *name, *tok;
	struct ts_error err;
	struct labels ls;
	size_t namen, nl = 0, i, k;
	uint64_t ref = 0;
	bool sep;
	int64_t t;
	double v;
	int rc;

	if (!reserve_line(st, n)) {
		st->nomem = true;
		return false;
	}
	name = p;
	if (p == end || !name_start(*p)) {
		bad_line(st, *p == '{' ? "missing metric name" : "invalid metric name");
		return false;
	}
	while (p < end && name_char(*p))
		p++;
	namen = (size_t)(p - name);
	if (is_created(st, name, namen)) {
		st->res->created_skipped++;
		return true;
	}
	st->lv[nl].name = LABEL_NAME;
	st->lv[nl++].value = scratch_str(st, name, namen);
	tok = p;
	while (p < end && is_ws(*p))
		p++;
	sep = p > tok; /* whitespace after the name */
	if (p < end && *p == '{') {
		p++;
		for (;;) {
			const char *ln, *val;
			size_t lnn;

			while (p < end && is_ws(*p))
				p++;
			if (p < end && *p == '}')
				break;
			ln = p;
			if (p == end || !(name_start(*p) && *p != ':')) {
				bad_line(st, "invalid label name");
				return false;
			}
			while (p < end && name_char(*p) && *p != ':')
				p++;
			if (p < end && *p == ':') {
				bad_line(st, "invalid label name");
				return false;
			}
			lnn = (size_t)(p - ln);
			while (p < end && is_ws(*p))
				p++;
			if (p == end || *p != '=') {
				bad_line(st, "expected \"=\" after label name");
				return false;
			}
			p++;
			while (p < end && is_ws(*p))
				p++;
			if (p == end || *p != '"') {
				bad_line(st, "expected a quoted label value");
				return false;
			}
			st->lv[nl].name = scratch_str(st, ln, lnn);
			val = label_value(st, &p, end);
			if (!val) {
				bad_line(st, "label value without closing quote");
				return false;
			}
			st->lv[nl++].value = val;
			while (p < end && is_ws(*p))
				p++;
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			if (p < end && *p == '}')
				break;
			bad_line(st, "expected \",\" or \"}\" after label value");
			return false;
		}
		p++; /* '}' */
		sep = true;
	}
	if (p == end || !sep) {
		bad_line(st, p == end ? "missing value" : "invalid metric name");
		return false;
	}
	while (p < end && is_ws(*p))
		p++;
	tok = p;
	while (p < end && !is_ws(*p))
		p++;
	if (tok == p) {
		bad_line(st, "missing value");
		return false;
	}
	if (!parse_value(tok, (size_t)(p - tok), &v)) {
		bad_line(st, "invalid value");
		return false;
	}
	while (p < end && is_ws(*p))
		p++;
	t = st->opts->default_ms;
	if (p < end && *p != '#') {
		tok = p;
		while (p < end && !is_ws(*p))
			p++;
		if (!parse_ts(st, tok, (size_t)(p - tok), &t)) {
			bad_line(st, st->om ? "invalid timestamp (seconds expected)"
					    : "invalid timestamp (integer milliseconds expected)");
			return false;
		}
		while (p < end && is_ws(*p))
			p++;
		if (p < end && *p != '#') {
			bad_line(st, "unexpected text after the timestamp");
			return false;
		}
	}

	/* extra labels replace the line's labels of the same name */
	for (k = 0; k < st->opts->nextra; k++) {
		const struct label *x = &st->opts->extra[k];

		for (i = 0; i < nl; i++)
			if (strcmp(st->lv[i].name, x->name) == 0)
				break;
		if (i < nl)
			st->lv[i].value = x->value;
		else
			st->lv[nl++] = *x;
	}
	ls.v = st->lv;
	ls.n = nl;
	err.code = 0;
	err.msg[0] = '\0';
	if (labels_validate(&ls, &err) < 0) {
		bad_line(st, "%s", err.msg[0] ? err.msg : "invalid label set");
		return false;
	}
	rc = appender_add(st->app, &ls, &ref, t, v);
	if (rc == 0) {
		st->res->samples_written++;
		return true;
	}
	if (rc == TS_ERR_OUT_OF_ORDER) {
		bad_line(st, "out of order sample");
	} else if (rc == TS_ERR_DUPLICATE) {
		bad_line(st, "duplicate sample for timestamp");
	} else {
		storage_failure(st, "cannot append sample", rc);
		return false;
	}
	return false;
}

/* ------------------------------------------------------------ the body */

/* Is the last non-empty line of body "# EOF"? */
static bool ends_with_eof(const char *body, size_t len)
{
	size_t e = len, s;

	while (e && (body[e - 1] == '\n' || body[e - 1] == '\r' || is_ws(body[e - 1])))
		e--;
	s = e;
	while (s && body[s - 1] != '\n')
		s--;
	while (s < e && is_ws(body[s]))
		s++;
	return e - s == 5 && memcmp(body + s, "# EOF", 5) == 0;
}

void ti_import(struct db *db, const char *body, size_t len, const struct ti_opts *opts,
	       struct ti_result *res)
{
	static const struct ti_opts defaults;
	struct ti_state st;
	size_t pos = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&st, 0, sizeof(st));
	st.db = db;
	st.opts = opts ? opts : &defaults;
	st.res = res;
	st.fam_type = -1;
	st.om = st.opts->openmetrics || (body && ends_with_eof(body, len));
	st.app = db_appender(db);
	if (!st.app) {
		res->status = 500;
		snprintf(res->msg, sizeof(res->msg), "cannot create appender: out of memory");
		return;
	}
	while (body && pos < len && !st.nomem) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (body + pos)) : len - pos;
		const char *p = body + pos;

		pos += n + 1;
		st.lineno++;
		res->lines++;
		if (n && p[n - 1] == '\r')
			n--;
		st.line = p;
		st.line_len = n;
		while (n && is_ws(*p)) {
			p++;
			n--;
		}
		if (n == 0)
			continue;
		if (memchr(p, '\0', n)) {
			bad_line(&st, "line holds a NUL byte");
			res->samples_rejected++;
			continue;
		}
		if (st.eof) {
			bad_line(&st, "content after # EOF");
			res->samples_rejected++;
			continue;
		}
		if (*p == '#') {
			do_comment(&st, p, n);
			continue;
		}
		if (!do_sample(&st, p, n))
			res->samples_rejected++;
	}
	flush_family(&st);
	if (st.nomem && res->status < 500) {
		res->status = 500;
		snprintf(res->msg, sizeof(res->msg), "line %zu: out of memory", st.lineno);
	}
	rc = appender_commit(st.app);
	if (rc < 0) {
		res->samples_rejected += res->samples_written;
		res->samples_written = 0;
		res->status = 500;
		snprintf(res->msg, sizeof(res->msg), "cannot commit samples: %s", ts_strerror(rc));
	}
	free(st.scratch);
	free(st.lv);
	if (res->status == 0)
		res->status = 204;
}
