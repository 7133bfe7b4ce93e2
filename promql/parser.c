/*
 * parser.c - recursive-descent / precedence-climbing PromQL parser.
 *
 * Two phases, like Prometheus:
 *
 *   1. Syntax. A Pratt loop over binary operators (precedence, lowest
 *      first: or; and unless; == != < <= > >=; + -; * / % atan2; ^ which
 *      is right-associative). Unary +/- binds like `*` but its operand
 *      takes `^` and postfix modifiers (`-a^b` is `-(a^b)`). Postfix
 *      modifiers bind tightest: `[range]`, `[range:step]`, `offset d`,
 *      `@ t`, `anchored`, `smoothed`. Errors found while building nodes
 *      (unknown function, range on a non-selector, bad duration...) stop
 *      the parse at once: Prometheus reports only its first error.
 *   2. Types. A walk over the finished tree in Prometheus's order that
 *      checks operand, argument and parameter types, vector matching and
 *      selectors (check_node).
 *
 * Syntax errors read "unexpected <token>[ in <context>][, expected <what>]"
 * with the context of the innermost construct that has one; any error
 * inside the parentheses of an aggregation without a closer context is
 * reported "in aggregation", as Prometheus's grammar does.
 */
#include "promql/parser.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/lexer.h"
#include "tsdb/labels.h"
#include "util/arena.h"

#define MAX_LA 3

/* A selector node made during the parse (to release its matchers when
 * the parse fails half-way). */
struct sel_link {
	struct pql_node *n;
	struct sel_link *next;
};

struct parser {
	const char *in;             /* query text */
	size_t len;                 /* its length */
	struct pql_lexer lx;        /* tokenizer */
	struct pql_token la[MAX_LA];/* lookahead tokens */
	int nla;                    /* how many are buffered */
	struct arena *a;            /* where nodes go */
	struct pql_parse_opts o;    /* settings */
	size_t last_closing;        /* end of the last ) ] } number or duration */
	int depth;                  /* current nesting */
	int agg_ctx;                /* > 0 inside an aggregation body */
	bool failed;                /* an error was recorded */
	int code;                   /* its ts_err code */
	size_t err_pos;             /* its position */
	char msg[TS_ERROR_MSG_MAX]; /* its message (without position) */
	struct sel_link *sels;      /* selectors made so far */
};

/* ---------------------------------------------------------------- errors */

static void failv(struct parser *p, int code, size_t pos, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void failv(struct parser *p, int code, size_t pos, const char *fmt, va_list ap)
{
	if (p->failed)
		return;
	p->failed = true;
	p->code = code;
	p->err_pos = pos;
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
}

static void fail(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	failv(p, TS_ERR_INVALID, pos, fmt, ap);
	va_end(ap);
}

static void fail_nomem(struct parser *p)
{
	if (p->failed)
		return;
	p->failed = true;
	p->code = TS_ERR_NOMEM;
	p->err_pos = 0;
	snprintf(p->msg, sizeof(p->msg), "out of memory");
}

/* "unexpected <tok>[ in <ctx>][, expected <exp>]"; lexer errors win. */
static void unexpected(struct parser *p, const struct pql_token *t, const char *ctx,
		       const char *expected)
{
	char desc[256];

	if (p->failed)
		return;
	if (t->type == PQL_T_ERROR) {
		fail(p, t->pos, "%s", t->msg);
		return;
	}
	if (ctx == NULL && p->agg_ctx > 0)
		ctx = "aggregation";
	pql_tok_describe(p->in, t, desc, sizeof(desc));
	fail(p, t->pos, "unexpected %s%s%s%s%s", desc, ctx ? " in " : "", ctx ? ctx : "",
	     expected ? ", expected " : "", expected ? expected : "");
}

/* ---------------------------------------------------------------- tokens */

static const struct pql_token *peek_n(struct parser *p, int n)
{
	while (p->nla <= n) {
		pql_lexer_next(&p->lx, &p->la[p->nla]);
		p->nla++;
	}
	return &p->la[n];
}

static const struct pql_token *peek(struct parser *p)
{
	return peek_n(p, 0);
}

static struct pql_token advance(struct parser *p)
{
	struct pql_token t = *peek(p);

	memmove(&p->la[0], &p->la[1], sizeof(p->la[0]) * (size_t)(p->nla - 1));
	p->nla--;
	switch (t.type) {
	case PQL_T_RIGHT_BRACE:
	case PQL_T_RIGHT_PAREN:
	case PQL_T_RIGHT_BRACKET:
	case PQL_T_DURATION:
	case PQL_T_NUMBER:
		p->last_closing = t.pos + t.len;
		break;
	default:
		break;
	}
	return t;
}

static bool at(struct parser *p, enum pql_tok type)
{
	return peek(p)->type == type;
}

/* Consume a token of the given type or fail with unexpected(ctx, exp). */
static bool expect(struct parser *p, enum pql_tok type, const char *ctx, const char *exp,
		   struct pql_token *out)
{
	if (!at(p, type)) {
		unexpected(p, peek(p), ctx, exp);
		return false;
	}
	if (out)
		*out = advance(p);
	else
		advance(p);
	return true;
}

static bool tok_ieq(const char *in, const struct pql_token *t, const char *word)
{
	size_t i;

	for (i = 0; i < t->len; i++) {
		char c = in[t->pos + i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (word[i] == '\0' || c != word[i])
			return false;
	}
	return word[t->len] == '\0';
}

/* ---------------------------------------------------------------- nodes */

static struct pql_node *new_node(struct parser *p, enum pql_node_kind kind, size_t start,
				 size_t end)
{
	struct pql_node *n = arena_calloc(p->a, 1, sizeof(*n));

	if (n == NULL) {
		fail_nomem(p);
		return NULL;
	}
	n->kind = kind;
	n->pos.start = start;
	n->pos.end = end;
	return n;
}

static char *dup_text(struct parser *p, const char *s, size_t n)
{
	char *d = arena_strndup(p->a, s, n);

	if (d == NULL)
		fail_nomem(p);
	return d;
}

/* Prometheus's DocumentedType names. */
static const char *doc_type(enum pql_type t)
{
	switch (t) {
	case PQL_VECTOR: return "instant vector";
	case PQL_MATRIX: return "range vector";
	case PQL_SCALAR: return "scalar";
	case PQL_STRING: return "string";
	default: return "none";
	}
}

/* ValueType.String() names. */
static const char *val_type(enum pql_type t)
{
	switch (t) {
	case PQL_VECTOR: return "vector";
	case PQL_MATRIX: return "matrix";
	case PQL_SCALAR: return "scalar";
	case PQL_STRING: return "string";
	default: return "none";
	}
}

/* ---------------------------------------------------------------- literals */

/* Go's strconv.ParseInt(s, 0, 64) then ParseFloat fallback. */
static bool parse_number(struct parser *p, const struct pql_token *t, double *out)
{
	char buf[512], q[600];
	const char *s = p->in + t->pos;
	size_t n = t->len, i, k = 0;
	char *end;

	if (tok_ieq(p->in, t, "inf")) {
		*out = INFINITY;
		return true;
	}
	if (tok_ieq(p->in, t, "nan")) {
		*out = NAN;
		return true;
	}
	for (i = 0; i < n && k + 1 < sizeof(buf); i++)
		if (s[i] != '_')
			buf[k++] = s[i];
	buf[k] = '\0';
	errno = 0;
	if (k > 1 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		unsigned long long v = strtoull(buf + 2, &end, 16);

		if (*end == '\0' && errno == 0 && k > 2 && v <= (unsigned long long)INT64_MAX) {
			*out = (double)v;
			return true;
		}
		pql_go_quote(s, n, q, sizeof(q));
		fail(p, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: invalid syntax", q);
		return false;
	}
	if (k > 1 && buf[0] == '0') {
		bool octal = true;

		for (i = 1; i < k; i++)
			if (buf[i] < '0' || buf[i] > '7')
				octal = false;
		if (octal) {
			unsigned long long v = strtoull(buf + 1, &end, 8);

			if (errno == 0 && v <= (unsigned long long)INT64_MAX) {
				*out = (double)v;
				return true;
			}
		}
	}
	errno = 0;
	*out = strtod(buf, &end);
	if (*end != '\0' || k == 0) {
		pql_go_quote(s, n, q, sizeof(q));
		fail(p, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: invalid syntax", q);
		return false;
	}
	if (errno == ERANGE && isinf(*out)) {
		pql_go_quote(s, n, q, sizeof(q));
		fail(p, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: value out of range", q);
		return false;
	}
	return true;
}

/* Prometheus's model.ParseDuration, in milliseconds... as float seconds. */
static bool parse_duration(struct parser *p, const struct pql_token *t, double *secs)
{
	static const struct {
		const char *u;
		uint64_t ms;
	} units[] = {
		{ "y", 365ULL * 24 * 3600 * 1000 }, { "w", 7ULL * 24 * 3600 * 1000 },
		{ "d", 24ULL * 3600 * 1000 }, { "h", 3600ULL * 1000 }, { "m", 60ULL * 1000 },
		{ "s", 1000 }, { "ms", 1 },
	};
	const char *s = p->in + t->pos;
	size_t n = t->len, i = 0;
	uint64_t total_ms = 0;
	int last_unit = -1;
	char q[300], uq[300];

	pql_go_quote(s, n, q, sizeof(q));
	if (n == 1 && s[0] == '0') {
		*secs = 0;
		return true;
	}
	while (i < n) {
		uint64_t v = 0;
		size_t d0 = i, u0;
		int u;
		bool over = false;

		if (s[i] < '0' || s[i] > '9')
			goto bad;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				over = true;
			v = v * 10 + (uint64_t)(s[i] - '0');
			i++;
		}
		if (over || i - d0 > 19)
			goto bad;
		u0 = i;
		while (i < n && (s[i] < '0' || s[i] > '9'))
			i++;
		if (i == u0)
			goto bad;
		for (u = 0; u < (int)(sizeof(units) / sizeof(units[0])); u++)
			if (strlen(units[u].u) == i - u0 && memcmp(units[u].u, s + u0, i - u0) == 0)
				break;
		if (u == (int)(sizeof(units) / sizeof(units[0]))) {
			pql_go_quote(s + u0, i - u0, uq, sizeof(uq));
			fail(p, t->pos, "unknown unit %s in duration %s", uq, q);
			return false;
		}
		if (u <= last_unit)
			goto bad;
		last_unit = u;
		/* time.Duration is int64 nanoseconds */
		if (v > (UINT64_MAX / 1000000ULL) / units[u].ms ||
		    v * units[u].ms > (uint64_t)INT64_MAX / 1000000ULL) {
			fail(p, t->pos, "duration out of range");
			return false;
		}
		total_ms += v * units[u].ms;
		if (total_ms > (uint64_t)INT64_MAX / 1000000ULL) {
			fail(p, t->pos, "duration out of range");
			return false;
		}
	}
	*secs = (double)total_ms / 1000.0;
	return true;
bad:
	fail(p, t->pos, "not a valid duration string: %s", q);
	return false;
}

/* Unquote a STRING token (Go semantics; the lexer validated escapes). */
static char *unquote(struct parser *p, const struct pql_token *t, size_t *outlen)
{
	const char *s = p->in + t->pos;
	size_t n = t->len, i, k = 0;
	char quote = s[0];
	char *d = arena_alloc(p->a, n + 1);

	if (d == NULL) {
		fail_nomem(p);
		return NULL;
	}
	if (quote == '`') {
		for (i = 1; i + 1 < n; i++)
			if (s[i] != '\r')
				d[k++] = s[i];
		d[k] = '\0';
		*outlen = k;
		return d;
	}
	for (i = 1; i + 1 < n; i++) {
		unsigned long v;
		int digits, base, j;
		char c = s[i];

		if (c != '\\') {
			d[k++] = c;
			continue;
		}
		c = s[++i];
		switch (c) {
		case 'a': d[k++] = '\a'; continue;
		case 'b': d[k++] = '\b'; continue;
		case 'f': d[k++] = '\f'; continue;
		case 'n': d[k++] = '\n'; continue;
		case 'r': d[k++] = '\r'; continue;
		case 't': d[k++] = '\t'; continue;
		case 'v': d[k++] = '\v'; continue;
		case '\\': d[k++] = '\\'; continue;
		case '\'': d[k++] = '\''; continue;
		case '"': d[k++] = '"'; continue;
		case 'x': digits = 2; base = 16; i++; break;
		case 'u': digits = 4; base = 16; i++; break;
		case 'U': digits = 8; base = 16; i++; break;
		default: digits = 3; base = 8; break;
		}
		v = 0;
		for (j = 0; j < digits && i < n; j++, i++) {
			char h = s[i];
			int dv = (h >= '0' && h <= '9') ? h - '0' :
				 (h >= 'a' && h <= 'f') ? h - 'a' + 10 :
				 (h >= 'A' && h <= 'F') ? h - 'A' + 10 : 0;

			v = v * (unsigned long)base + (unsigned long)dv;
		}
		i--;
		if (c == 'x' || (base == 8)) {
			d[k++] = (char)v; /* a raw byte */
		} else if (v < 0x80) {
			d[k++] = (char)v;
		} else if (v < 0x800) {
			d[k++] = (char)(0xC0 | (v >> 6));
			d[k++] = (char)(0x80 | (v & 0x3F));
		} else if (v < 0x10000) {
			d[k++] = (char)(0xE0 | (v >> 12));
			d[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
			d[k++] = (char)(0x80 | (v & 0x3F));
		} else {
			d[k++] = (char)(0xF0 | (v >> 18));
			d[k++] = (char)(0x80 | ((v >> 12) & 0x3F));
			d[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
			d[k++] = (char)(0x80 | (v & 0x3F));
		}
	}
	d[k] = '\0';
	*outlen = k;
	return d;
}

/* ---------------------------------------------------------------- expressions */

enum {
	PREC_NONE = 0,
	PREC_OR = 1,
	PREC_AND = 2,
	PREC_CMP = 3,
	PREC_ADD = 4,
	PREC_MUL = 5,
	PREC_POW = 6,
};

static int binop_prec(enum pql_tok t, enum pql_binop *op)
{
	switch (t) {
	case PQL_T_LOR: *op = PQL_OP_OR; return PREC_OR;
	case PQL_T_LAND: *op = PQL_OP_AND; return PREC_AND;
	case PQL_T_LUNLESS: *op = PQL_OP_UNLESS; return PREC_AND;
	case PQL_T_EQLC: *op = PQL_OP_EQLC; return PREC_CMP;
	case PQL_T_NEQ: *op = PQL_OP_NEQ; return PREC_CMP;
	case PQL_T_LSS: *op = PQL_OP_LSS; return PREC_CMP;
	case PQL_T_LTE: *op = PQL_OP_LTE; return PREC_CMP;
	case PQL_T_GTR: *op = PQL_OP_GTR; return PREC_CMP;
	case PQL_T_GTE: *op = PQL_OP_GTE; return PREC_CMP;
	case PQL_T_ADD: *op = PQL_OP_ADD; return PREC_ADD;
	case PQL_T_SUB: *op = PQL_OP_SUB; return PREC_ADD;
	case PQL_T_MUL: *op = PQL_OP_MUL; return PREC_MUL;
	case PQL_T_DIV: *op = PQL_OP_DIV; return PREC_MUL;
	case PQL_T_MOD: *op = PQL_OP_MOD; return PREC_MUL;
	case PQL_T_ATAN2: *op = PQL_OP_ATAN2; return PREC_MUL;
	case PQL_T_TRIM_UPPER: *op = PQL_OP_TRIM_UPPER; return PREC_MUL;
	case PQL_T_TRIM_LOWER: *op = PQL_OP_TRIM_LOWER; return PREC_MUL;
	case PQL_T_POW: *op = PQL_OP_POW; return PREC_POW;
	default: return PREC_NONE;
	}
}

static struct pql_node *parse_expr(struct parser *p, int min_prec);
static struct pql_node *parse_duration_expr(struct parser *p, int min_prec, const char *ctx,
					    const char *exp);

static bool enter(struct parser *p, size_t pos)
{
	size_t max = p->o.max_depth ? p->o.max_depth : PQL_MAX_DEPTH;

	if ((size_t)++p->depth > max) {
		if (!p->failed) {
			p->failed = true;
			p->code = TS_ERR_LIMIT;
			p->err_pos = pos;
			snprintf(p->msg, sizeof(p->msg),
				 "query is nested too deeply (more than %zu levels)", max);
		}
		return false;
	}
	return true;
}

static void leave(struct parser *p)
{
	p->depth--;
}

/* Tokens that Prometheus accepts as a label name in grouping lists. */
static bool maybe_label(enum pql_tok t)
{
	if (t == PQL_T_IDENTIFIER || t == PQL_T_METRIC_IDENTIFIER)
		return true;
	/* Prometheus's list leaves out `without` */
	if (t == PQL_T_WITHOUT)
		return false;
	if (pql_tok_is_aggregator(t) || pql_tok_is_keyword(t))
		return true;
	switch (t) {
	case PQL_T_LAND:
	case PQL_T_LOR:
	case PQL_T_LUNLESS:
	case PQL_T_ATAN2:
	case PQL_T_START:
	case PQL_T_END:
	case PQL_T_STEP:
	case PQL_T_RANGE:
		return true;
	default:
		return false;
	}
}

/* Tokens that may be a metric name at the start of an expression. */
static bool metric_identifier(enum pql_tok t)
{
	if (t == PQL_T_IDENTIFIER || t == PQL_T_METRIC_IDENTIFIER)
		return true;
	if (pql_tok_is_aggregator(t))
		return true;
	switch (t) {
	case PQL_T_BY:
	case PQL_T_WITHOUT:
	case PQL_T_LAND:
	case PQL_T_LOR:
	case PQL_T_LUNLESS:
	case PQL_T_OFFSET:
	case PQL_T_START:
	case PQL_T_END:
	case PQL_T_STEP:
	case PQL_T_RANGE:
	case PQL_T_ANCHORED:
	case PQL_T_SMOOTHED:
	case PQL_T_FILL:
	case PQL_T_FILL_LEFT:
	case PQL_T_FILL_RIGHT:
		return true;
	default:
		return false;
	}
}

/*
 * grouping_labels: "(" [label {"," label} [","]] ")". Labels are
 * keywords/identifiers or quoted strings.
 */
static bool parse_grouping(struct parser *p, const char ***out, size_t *nout)
{
	const char **v = NULL;
	size_t n = 0, cap = 0;
	struct pql_token t;

	if (!at(p, PQL_T_LEFT_PAREN)) {
		unexpected(p, peek(p), "grouping opts", "\"(\"");
		return false;
	}
	advance(p);
	for (;;) {
		const char *name;
		size_t nlen;

		if (at(p, PQL_T_RIGHT_PAREN)) {
			advance(p);
			break;
		}
		t = *peek(p);
		if (maybe_label(t.type)) {
			advance(p);
			name = dup_text(p, p->in + t.pos, t.len);
			nlen = t.len;
			if (name == NULL)
				return false;
			if (!utf8_valid(name, nlen) || nlen == 0) {
				char q[300];

				pql_go_quote(name, nlen, q, sizeof(q));
				fail(p, t.pos, "invalid label name for grouping: %s", q);
				return false;
			}
		} else if (t.type == PQL_T_STRING) {
			advance(p);
			name = unquote(p, &t, &nlen);
			if (name == NULL)
				return false;
			if (nlen == 0 || !utf8_valid(name, nlen) || strlen(name) != nlen) {
				char q[300];

				pql_go_quote(name, nlen, q, sizeof(q));
				fail(p, t.pos, "invalid label name for grouping: %s", q);
				return false;
			}
		} else {
			unexpected(p, &t, "grouping opts", "label");
			return false;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			const char **nv = arena_alloc(p->a, ncap * sizeof(*nv));

			if (nv == NULL) {
				fail_nomem(p);
				return false;
			}
			if (n)
				memcpy(nv, v, n * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		v[n++] = name;
		if (at(p, PQL_T_COMMA)) {
			advance(p);
			continue;
		}
		if (at(p, PQL_T_RIGHT_PAREN)) {
			advance(p);
			break;
		}
		unexpected(p, peek(p), "grouping opts", "\",\" or \")\"");
		return false;
	}
	*out = v;
	*nout = n;
	return true;
}

/* ------------------------------------------------ selectors */

struct mlist {
	struct matcher *v;
	size_t n, cap;
};

static void mlist_release(struct mlist *ml)
{
	size_t i;

	for (i = 0; i < ml->n; i++)
		matcher_release(&ml->v[i]);
	free(ml->v);
	ml->v = NULL;
	ml->n = ml->cap = 0;
}

static bool mlist_add(struct parser *p, struct mlist *ml, enum matcher_type type,
		      const char *name, const char *value, size_t err_pos)
{
	struct ts_error e;
	int rc;

	if (ml->n == ml->cap) {
		size_t ncap = ml->cap ? ml->cap * 2 : 4;
		struct matcher *nv = realloc(ml->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			fail_nomem(p);
			return false;
		}
		ml->v = nv;
		ml->cap = ncap;
	}
	ts_error_clear(&e);
	rc = matcher_init(&ml->v[ml->n], type, name, value, &e);
	if (rc == TS_ERR_NOMEM) {
		fail_nomem(p);
		return false;
	}
	if (rc) {
		fail(p, err_pos, "%s", e.msg[0] ? e.msg : "invalid matcher");
		return false;
	}
	ml->n++;
	return true;
}

/* label_matchers: "{" [matcher {"," matcher} [","]] "}" */
static bool parse_label_matchers(struct parser *p, struct mlist *ml, size_t *end)
{
	struct pql_token t, op, val;

	advance(p); /* { */
	for (;;) {
		const char *name;
		size_t nlen, vlen;
		char *value;
		enum matcher_type mt;

		t = *peek(p);
		if (t.type == PQL_T_RIGHT_BRACE) {
			advance(p);
			break;
		}
		if (t.type == PQL_T_IDENTIFIER) {
			advance(p);
			name = dup_text(p, p->in + t.pos, t.len);
			if (name == NULL)
				return false;
		} else if (t.type == PQL_T_STRING) {
			advance(p);
			name = unquote(p, &t, &nlen);
			if (name == NULL)
				return false;
		} else {
			unexpected(p, &t, "label matching", "identifier or \"}\"");
			return false;
		}
		op = *peek(p);
		switch (op.type) {
		case PQL_T_EQL: mt = MATCHER_EQ; break;
		case PQL_T_NEQ: mt = MATCHER_NEQ; break;
		case PQL_T_EQL_REGEX: mt = MATCHER_RE; break;
		case PQL_T_NEQ_REGEX: mt = MATCHER_NRE; break;
		default:
			if (t.type == PQL_T_STRING &&
			    (op.type == PQL_T_COMMA || op.type == PQL_T_RIGHT_BRACE)) {
				/* a lone quoted metric name */
				if (!mlist_add(p, ml, MATCHER_EQ, LABEL_NAME, name, t.pos))
					return false;
				goto next;
			}
			if (t.type == PQL_T_STRING)
				unexpected(p, &op, "label matching", "\",\" or \"}\"");
			else
				unexpected(p, &op, "label matching", "label matching operator");
			return false;
		}
		advance(p);
		if (!at(p, PQL_T_STRING)) {
			unexpected(p, peek(p), "label matching", "string");
			return false;
		}
		val = advance(p);
		value = unquote(p, &val, &vlen);
		if (value == NULL)
			return false;
		if (!mlist_add(p, ml, mt, name, value, t.pos))
			return false;
next:
		if (at(p, PQL_T_COMMA)) {
			advance(p);
			continue;
		}
		if (at(p, PQL_T_RIGHT_BRACE)) {
			advance(p);
			break;
		}
		unexpected(p, peek(p), "label matching", "\",\" or \"}\"");
		return false;
	}
	*end = p->last_closing;
	return true;
}

/* A vector selector; name_tok is the metric name token or NULL. */
static struct pql_node *parse_vector_selector(struct parser *p, const struct pql_token *name_tok)
{
	struct mlist ml = { NULL, 0, 0 };
	struct pql_node *n;
	struct sel_link *link;
	size_t start, end;
	const char *name = NULL;

	start = name_tok ? name_tok->pos : peek(p)->pos;
	end = name_tok ? name_tok->pos + name_tok->len : start;
	if (at(p, PQL_T_LEFT_BRACE)) {
		if (!parse_label_matchers(p, &ml, &end))
			goto fail;
	}
	if (name_tok) {
		name = dup_text(p, p->in + name_tok->pos, name_tok->len);
		if (name == NULL)
			goto fail;
		/* Prometheus appends the name matcher after the braces' ones;
		 * we keep it first (ast.h invariant 5). */
		if (!mlist_add(p, &ml, MATCHER_EQ, LABEL_NAME, name, name_tok->pos))
			goto fail;
		if (ml.n > 1) {
			struct matcher m = ml.v[ml.n - 1];

			memmove(&ml.v[1], &ml.v[0], (ml.n - 1) * sizeof(ml.v[0]));
			ml.v[0] = m;
		}
	}
	n = new_node(p, PQL_NODE_VECTOR, start, end);
	link = arena_alloc(p->a, sizeof(*link));
	if (n == NULL || link == NULL) {
		fail_nomem(p);
		goto fail;
	}
	n->type = PQL_VECTOR;
	n->u.vs.name = name;
	if (name_tok) {
		n->u.vs.name_pos.start = name_tok->pos;
		n->u.vs.name_pos.end = name_tok->pos + name_tok->len;
	}
	n->u.vs.nmatchers = ml.n;
	n->u.vs.matchers = arena_alloc(p->a, (ml.n ? ml.n : 1) * sizeof(struct matcher));
	if (n->u.vs.matchers == NULL) {
		fail_nomem(p);
		goto fail;
	}
	if (ml.n)
		memcpy(n->u.vs.matchers, ml.v, ml.n * sizeof(struct matcher));
	free(ml.v);
	link->n = n;
	link->next = p->sels;
	p->sels = link;
	return n;
fail:
	mlist_release(&ml);
	return NULL;
}

/* ------------------------------------------------ durations */

static struct pql_node *new_dur(struct parser *p, enum pql_durop op, struct pql_node *l,
				struct pql_node *r, size_t start, size_t end)
{
	struct pql_node *n = new_node(p, PQL_NODE_DURATION, start, end);

	if (n == NULL)
		return NULL;
	n->type = PQL_SCALAR;
	n->u.dur.op = op;
	n->u.dur.lhs = l;
	n->u.dur.rhs = r;
	return n;
}

static bool dur_literal_ok(struct parser *p, struct pql_node *nl, size_t pos)
{
	double v = nl->u.num.val;

	if (isnan(v) || v > 9223372036.854775807 || v < -9223372036.854775808) {
		fail(p, pos, "duration out of range");
		return false;
	}
	return true;
}

/* NUMBER or DURATION token to a number node. */
static struct pql_node *number_node(struct parser *p, const struct pql_token *t)
{
	struct pql_node *n = new_node(p, PQL_NODE_NUMBER, t->pos, t->pos + t->len);
	double v;

	if (n == NULL)
		return NULL;
	n->type = PQL_SCALAR;
	if (t->type == PQL_T_DURATION) {
		if (!parse_duration(p, t, &v))
			return NULL;
		n->u.num.duration = true;
	} else if (!parse_number(p, t, &v)) {
		return NULL;
	}
	n->u.num.val = v;
	return n;
}

/* step() / range() / min_of(a, b) / max_of(a, b) after the keyword. */
static struct pql_node *parse_dur_call(struct parser *p, const struct pql_token *kw,
				       enum pql_durop op, const char *ctx, const char *exp)
{
	struct pql_node *l, *r;

	if (!expect(p, PQL_T_LEFT_PAREN, ctx, exp, NULL))
		return NULL;
	if (op == PQL_DUR_STEP || op == PQL_DUR_RANGE) {
		if (!expect(p, PQL_T_RIGHT_PAREN, ctx, exp, NULL))
			return NULL;
		return new_dur(p, op, NULL, NULL, kw->pos, p->last_closing);
	}
	l = parse_duration_expr(p, 0, ctx, exp);
	if (l == NULL || !expect(p, PQL_T_COMMA, ctx, exp, NULL))
		return NULL;
	r = parse_duration_expr(p, 0, ctx, exp);
	if (r == NULL || !expect(p, PQL_T_RIGHT_PAREN, ctx, exp, NULL))
		return NULL;
	return new_dur(p, op, l, r, kw->pos, p->last_closing);
}

static bool is_min_max_of(struct parser *p, const struct pql_token *t, enum pql_durop *op)
{
	/* min(a, b) / max(a, b) are the older spellings */
	if ((t->type == PQL_T_MIN || t->type == PQL_T_MAX) &&
	    peek_n(p, 1)->type == PQL_T_LEFT_PAREN) {
		*op = t->type == PQL_T_MIN ? PQL_DUR_MIN_OF : PQL_DUR_MAX_OF;
		return true;
	}
	if (t->type == PQL_T_MIN_OF ||
	    (t->type == PQL_T_IDENTIFIER && tok_ieq(p->in, t, "min_of"))) {
		*op = PQL_DUR_MIN_OF;
		return true;
	}
	if (t->type == PQL_T_MAX_OF ||
	    (t->type == PQL_T_IDENTIFIER && tok_ieq(p->in, t, "max_of"))) {
		*op = PQL_DUR_MAX_OF;
		return true;
	}
	return false;
}

/* A duration primary: literal, (expr), step(), range(), min_of/max_of. */
static struct pql_node *parse_dur_primary(struct parser *p, const char *ctx, const char *exp)
{
	struct pql_token t = *peek(p);
	struct pql_node *n;
	enum pql_durop op;

	switch (t.type) {
	case PQL_T_NUMBER:
	case PQL_T_DURATION:
		advance(p);
		n = number_node(p, &t);
		if (n == NULL || !dur_literal_ok(p, n, t.pos))
			return NULL;
		return n;
	case PQL_T_LEFT_PAREN:
		advance(p);
		n = parse_duration_expr(p, 0, ctx, exp);
		if (n == NULL || !expect(p, PQL_T_RIGHT_PAREN, ctx, exp, NULL))
			return NULL;
		if (n->kind == PQL_NODE_NUMBER)
			return n; /* Prometheus drops parens around a literal */
		if (n->kind == PQL_NODE_DURATION && n->u.dur.op == PQL_DUR_PAREN)
			return n; /* and prints ((x)) as (x) */
		return new_dur(p, PQL_DUR_PAREN, NULL, n, t.pos, p->last_closing);
	case PQL_T_STEP:
		advance(p);
		return parse_dur_call(p, &t, PQL_DUR_STEP, ctx, exp);
	case PQL_T_RANGE:
		advance(p);
		return parse_dur_call(p, &t, PQL_DUR_RANGE, ctx, exp);
	default:
		if (is_min_max_of(p, &t, &op)) {
			advance(p);
			return parse_dur_call(p, &t, op, ctx, exp);
		}
		unexpected(p, &t, ctx, exp);
		return NULL;
	}
}

/* Apply a unary sign to a duration operand (numbers fold). */
static struct pql_node *dur_unary(struct parser *p, const struct pql_token *sign,
				  struct pql_node *e)
{
	if (e->kind == PQL_NODE_NUMBER) {
		if (sign->type == PQL_T_SUB)
			e->u.num.val = -e->u.num.val;
		e->pos.start = sign->pos;
		if (!dur_literal_ok(p, e, sign->pos))
			return NULL;
		return e;
	}
	if (sign->type == PQL_T_SUB)
		return new_dur(p, PQL_DUR_NEG, NULL, e, sign->pos, e->pos.end);
	return e;
}

static int dur_prec(enum pql_tok t, enum pql_durop *op)
{
	switch (t) {
	case PQL_T_ADD: *op = PQL_DUR_ADD; return PREC_ADD;
	case PQL_T_SUB: *op = PQL_DUR_SUB; return PREC_ADD;
	case PQL_T_MUL: *op = PQL_DUR_MUL; return PREC_MUL;
	case PQL_T_DIV: *op = PQL_DUR_DIV; return PREC_MUL;
	case PQL_T_MOD: *op = PQL_DUR_MOD; return PREC_MUL;
	case PQL_T_POW: *op = PQL_DUR_POW; return PREC_POW;
	default: return PREC_NONE;
	}
}

/* Full duration arithmetic (inside brackets or parentheses). */
static struct pql_node *parse_duration_expr(struct parser *p, int min_prec, const char *ctx,
					    const char *exp)
{
	struct pql_node *lhs;

	if (!enter(p, peek(p)->pos))
		return NULL;
	if (at(p, PQL_T_ADD) || at(p, PQL_T_SUB)) {
		struct pql_token sign = advance(p);
		struct pql_node *e = parse_duration_expr(p, PREC_POW, ctx, exp);

		lhs = e ? dur_unary(p, &sign, e) : NULL;
	} else {
		lhs = parse_dur_primary(p, ctx, exp);
	}
	while (lhs != NULL) {
		enum pql_durop op;
		struct pql_token t = *peek(p);
		int prec = dur_prec(t.type, &op);
		struct pql_node *rhs;

		if (prec == PREC_NONE || prec < min_prec)
			break;
		advance(p);
		rhs = parse_duration_expr(p, op == PQL_DUR_POW ? prec : prec + 1, ctx, exp);
		if (rhs == NULL) {
			lhs = NULL;
			break;
		}
		if ((op == PQL_DUR_DIV || op == PQL_DUR_MOD) && rhs->kind == PQL_NODE_NUMBER &&
		    rhs->u.num.val == 0) {
			fail(p, t.pos, op == PQL_DUR_DIV ? "division by zero" : "modulo by zero");
			lhs = NULL;
			break;
		}
		if (p->o.no_duration_expr) {
			fail(p, lhs->pos.start, "experimental duration expression is not enabled");
			lhs = NULL;
			break;
		}
		lhs = new_dur(p, op, lhs, rhs, lhs->pos.start, rhs->pos.end);
	}
	leave(p);
	return lhs;
}

/*
 * Offset operand: a signed literal, step(), range(), min_of/max_of(...),
 * or a parenthesised duration expression; following operators belong to
 * the enclosing expression (`foo offset 1m + 1` is `(foo offset 1m) + 1`).
 */
static struct pql_node *parse_offset_operand(struct parser *p)
{
	static const char *ctx = "offset";
	static const char *exp = "number, duration, step(), or range()";
	struct pql_token sign = { PQL_T_EOF, 0, 0, NULL };
	struct pql_token t;
	struct pql_node *e;
	enum pql_durop op;

	if (at(p, PQL_T_ADD) || at(p, PQL_T_SUB))
		sign = advance(p);
	t = *peek(p);
	if (t.type == PQL_T_NUMBER || t.type == PQL_T_DURATION || t.type == PQL_T_STEP ||
	    t.type == PQL_T_RANGE || t.type == PQL_T_LEFT_PAREN || is_min_max_of(p, &t, &op)) {
		e = parse_dur_primary(p, ctx, exp);
	} else {
		unexpected(p, &t, ctx, exp);
		return NULL;
	}
	if (e == NULL)
		return NULL;
	if (sign.type != PQL_T_EOF)
		e = dur_unary(p, &sign, e);
	return e;
}

/* Seconds of a literal duration to ms: truncated like Prometheus (which
 * rounds to ns first), immune to binary rounding. */
static int64_t lit_ms(double secs)
{
	if (secs >= 9223372036.854775)
		return INT64_MAX / 1000000;
	if (secs <= -9223372036.854775)
		return INT64_MIN / 1000000;
	return pql_secs_to_ms(secs);
}

/*
 * Resolve a duration operand into (ms, expr): a literal fills ms; a
 * constant expression fills both; one using step()/range() leaves ms 0
 * for pql_ast_resolve_durations.
 */
static bool dur_value(struct parser *p, struct pql_node *d, bool positive, int64_t *ms,
		      struct pql_node **expr)
{
	double s;
	struct ts_error e;

	*expr = NULL;
	if (d->kind == PQL_NODE_NUMBER) {
		if (positive && d->u.num.val <= 0) {
			fail(p, d->pos.start, "duration must be greater than 0");
			return false;
		}
		*ms = lit_ms(d->u.num.val);
		/* below a millisecond a range or step would be 0: the engine
		 * works in ms (Prometheus truncates the same way) */
		if (positive && *ms <= 0) {
			fail(p, d->pos.start, "duration must be greater than 0");
			return false;
		}
		return true;
	}
	*expr = d;
	*ms = 0;
	(void)positive;
	/* Expressions are checked when the engine resolves them
	 * (pql_ast_resolve_durations), as Prometheus does; a constant one
	 * gets its value now so that printing and simple users need not. */
	if (!pql_duration_is_const(d))
		return true;
	ts_error_clear(&e);
	if (pql_duration_eval(d, 0, 0, &s, &e) || isnan(s) || s > 9223372036.854775 ||
	    s < -9223372036.854775)
		return true;
	*ms = pql_secs_to_ms(s);
	return true;
}

/* ------------------------------------------------ postfix modifiers */

static struct pql_node *apply_range(struct parser *p, struct pql_node *e,
				    const struct pql_token *lb)
{
	struct pql_node *range, *step = NULL, *n;
	struct pql_token rb;
	bool subquery = false;

	range = parse_duration_expr(p, 0, "subquery or range selector",
				    "number, duration, step(), or range()");
	if (range == NULL)
		return NULL;
	if (at(p, PQL_T_COLON)) {
		advance(p);
		subquery = true;
		if (!at(p, PQL_T_RIGHT_BRACKET)) {
			step = parse_duration_expr(p, 0, "subquery selector",
						   "number, duration, step(), range(), or \"]\"");
			if (step == NULL)
				return NULL;
			if (!expect(p, PQL_T_RIGHT_BRACKET, "subquery selector", "\"]\"", &rb))
				return NULL;
		} else {
			rb = advance(p);
		}
	} else if (!expect(p, PQL_T_RIGHT_BRACKET, "subquery or range", "\":\" or \"]\"", &rb)) {
		return NULL;
	}
	if (!subquery) {
		const char *msg = NULL;

		if (e->kind != PQL_NODE_VECTOR)
			msg = "ranges only allowed for vector selectors";
		else if (e->u.vs.offset_ms != 0 || e->u.vs.offset_expr != NULL)
			msg = "no offset modifiers allowed before range";
		else if (e->u.vs.at != PQL_AT_NONE)
			msg = "no @ modifiers allowed before range";
		if (msg) {
			fail(p, lb->pos, "%s", msg);
			return NULL;
		}
		n = new_node(p, PQL_NODE_MATRIX, e->pos.start, rb.pos + 1);
		if (n == NULL)
			return NULL;
		n->type = PQL_MATRIX;
		n->u.ms.vs = e;
		if (!dur_value(p, range, true, &n->u.ms.range_ms, &n->u.ms.range_expr))
			return NULL;
		return n;
	}
	n = new_node(p, PQL_NODE_SUBQUERY, e->pos.start, rb.pos + 1);
	if (n == NULL)
		return NULL;
	n->type = PQL_MATRIX;
	n->u.sq.expr = e;
	if (!dur_value(p, range, true, &n->u.sq.range_ms, &n->u.sq.range_expr))
		return NULL;
	if (step && !dur_value(p, step, true, &n->u.sq.step_ms, &n->u.sq.step_expr))
		return NULL;
	return n;
}

static bool apply_offset(struct parser *p, struct pql_node *e, struct pql_node *d)
{
	int64_t *ms;
	struct pql_node **expr;
	size_t *endp;

	switch (e->kind) {
	case PQL_NODE_VECTOR:
		ms = &e->u.vs.offset_ms;
		expr = &e->u.vs.offset_expr;
		endp = &e->pos.end;
		break;
	case PQL_NODE_MATRIX:
		ms = &e->u.ms.vs->u.vs.offset_ms;
		expr = &e->u.ms.vs->u.vs.offset_expr;
		endp = &e->pos.end;
		break;
	case PQL_NODE_SUBQUERY:
		ms = &e->u.sq.offset_ms;
		expr = &e->u.sq.offset_expr;
		endp = &e->pos.end;
		break;
	default:
		fail(p, e->pos.start, "offset modifier must be preceded by an instant vector "
		     "selector or range vector selector or a subquery");
		return false;
	}
	if (*ms != 0 || *expr != NULL) {
		fail(p, e->pos.start, "offset may not be set multiple times");
		return false;
	}
	if (!dur_value(p, d, false, ms, expr))
		return false;
	*endp = p->last_closing;
	return true;
}

static bool at_vars(struct parser *p, struct pql_node *e, enum pql_at **atp, int64_t **msp)
{
	switch (e->kind) {
	case PQL_NODE_VECTOR:
		*atp = &e->u.vs.at;
		*msp = &e->u.vs.at_ms;
		break;
	case PQL_NODE_MATRIX:
		*atp = &e->u.ms.vs->u.vs.at;
		*msp = &e->u.ms.vs->u.vs.at_ms;
		break;
	case PQL_NODE_SUBQUERY:
		*atp = &e->u.sq.at;
		*msp = &e->u.sq.at_ms;
		break;
	default:
		fail(p, e->pos.start, "@ modifier must be preceded by an instant vector selector "
		     "or range vector selector or a subquery");
		return false;
	}
	if (**atp != PQL_AT_NONE) {
		fail(p, e->pos.start, "@ <timestamp> may not be set multiple times");
		return false;
	}
	return true;
}

static bool apply_at(struct parser *p, struct pql_node *e)
{
	static const char *ctx = "@";
	static const char *exp = "timestamp";
	struct pql_token t = *peek(p);
	enum pql_at *atp;
	int64_t *msp;

	if (t.type == PQL_T_START || t.type == PQL_T_END) {
		advance(p);
		if (!expect(p, PQL_T_LEFT_PAREN, ctx, exp, NULL) ||
		    !expect(p, PQL_T_RIGHT_PAREN, ctx, exp, NULL))
			return false;
		if (!at_vars(p, e, &atp, &msp))
			return false;
		*atp = t.type == PQL_T_START ? PQL_AT_START : PQL_AT_END;
		e->pos.end = p->last_closing;
		return true;
	} else {
		bool neg = false;
		double v;

		if (t.type == PQL_T_ADD || t.type == PQL_T_SUB) {
			neg = t.type == PQL_T_SUB;
			advance(p);
			t = *peek(p);
		}
		if (t.type == PQL_T_NUMBER) {
			advance(p);
			if (!parse_number(p, &t, &v))
				return false;
		} else if (t.type == PQL_T_DURATION) {
			advance(p);
			if (!parse_duration(p, &t, &v))
				return false;
		} else {
			unexpected(p, &t, ctx, exp);
			return false;
		}
		if (neg)
			v = -v;
		if (isinf(v) || isnan(v) || v >= 9223372036854775807.0 ||
		    v <= -9223372036854775808.0) {
			char fbuf[400];

			snprintf(fbuf, sizeof(fbuf), "%f", v);
			fail(p, e->pos.start, "timestamp out of bounds for @ modifier: %s",
			     isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : fbuf);
			return false;
		}
		if (!at_vars(p, e, &atp, &msp))
			return false;
		*atp = PQL_AT_TIME;
		{
			double ms = round(v * 1000.0);

			if (ms >= 9.2233720368547758e18)
				*msp = INT64_MAX;
			else if (ms <= -9.2233720368547758e18)
				*msp = INT64_MIN;
			else
				*msp = (int64_t)ms;
		}
		e->pos.end = p->last_closing;
		return true;
	}
}

static bool apply_anchor(struct parser *p, struct pql_node *e, bool anchored)
{
	const char *what = anchored ? "anchored" : "smoothed";
	struct pql_node *vs;

	if (p->o.no_extended_range) {
		fail(p, e->pos.start, "%s modifier is experimental and not enabled", what);
		return false;
	}
	switch (e->kind) {
	case PQL_NODE_VECTOR:
		vs = e;
		break;
	case PQL_NODE_MATRIX:
		vs = e->u.ms.vs;
		break;
	case PQL_NODE_SUBQUERY:
		fail(p, e->pos.start, "%s modifier is not supported for subqueries", what);
		return false;
	default:
		fail(p, e->pos.start, "%s modifier not implemented", what);
		return false;
	}
	if (anchored)
		vs->u.vs.anchored = true;
	else
		vs->u.vs.smoothed = true;
	if (vs->u.vs.anchored && vs->u.vs.smoothed) {
		fail(p, e->pos.start, "anchored and smoothed modifiers cannot be used together");
		return false;
	}
	return true;
}

static struct pql_node *parse_postfix(struct parser *p, struct pql_node *e)
{
	while (e != NULL && !p->failed) {
		struct pql_token t = *peek(p);

		switch (t.type) {
		case PQL_T_LEFT_BRACKET:
			advance(p);
			e = apply_range(p, e, &t);
			break;
		case PQL_T_OFFSET: {
			struct pql_node *d;

			advance(p);
			d = parse_offset_operand(p);
			if (d == NULL || !apply_offset(p, e, d))
				return NULL;
			break;
		}
		case PQL_T_AT:
			advance(p);
			if (!apply_at(p, e))
				return NULL;
			break;
		case PQL_T_ANCHORED:
		case PQL_T_SMOOTHED:
			advance(p);
			if (!apply_anchor(p, e, t.type == PQL_T_ANCHORED))
				return NULL;
			break;
		default:
			return e;
		}
	}
	return p->failed ? NULL : e;
}

/* ------------------------------------------------ calls and aggregations */

/* "(" [expr {"," expr}] ")" into a node list. */
static bool parse_call_args(struct parser *p, struct pql_node ***out, size_t *nout)
{
	struct pql_node **v = NULL, *e;
	size_t n = 0, cap = 0;

	advance(p); /* ( */
	if (at(p, PQL_T_RIGHT_PAREN)) {
		advance(p);
		*out = NULL;
		*nout = 0;
		return true;
	}
	for (;;) {
		e = parse_expr(p, 0);
		if (e == NULL)
			return false;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct pql_node **nv = arena_alloc(p->a, ncap * sizeof(*nv));

			if (nv == NULL) {
				fail_nomem(p);
				return false;
			}
			if (n)
				memcpy(nv, v, n * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		v[n++] = e;
		if (at(p, PQL_T_COMMA)) {
			struct pql_token c = advance(p);

			if (at(p, PQL_T_RIGHT_PAREN)) {
				fail(p, c.pos, "trailing commas not allowed in function call args");
				return false;
			}
			continue;
		}
		if (at(p, PQL_T_RIGHT_PAREN)) {
			advance(p);
			break;
		}
		unexpected(p, peek(p), NULL, NULL);
		return false;
	}
	*out = v;
	*nout = n;
	return true;
}

static struct pql_node *parse_call(struct parser *p, const struct pql_token *name)
{
	const struct pql_func *f = pql_func_lookup(p->in + name->pos, name->len);
	struct pql_node *n;
	struct pql_node **args;
	size_t nargs;

	if (f == NULL || (f->experimental && p->o.no_experimental)) {
		char q[300];

		/* Prometheus reports this once the call is complete; a syntax
		 * error inside the arguments comes first. */
		if (!parse_call_args(p, &args, &nargs))
			return NULL;
		pql_go_quote(p->in + name->pos, name->len, q, sizeof(q));
		if (f == NULL)
			fail(p, name->pos, "unknown function with name %s", q);
		else
			fail(p, name->pos, "function %s is not enabled", q);
		return NULL;
	}
	if (!parse_call_args(p, &args, &nargs))
		return NULL;
	n = new_node(p, PQL_NODE_CALL, name->pos, p->last_closing);
	if (n == NULL)
		return NULL;
	n->type = f->ret;
	n->u.call.func = f;
	n->u.call.args = args;
	n->u.call.nargs = nargs;
	return n;
}

static enum pql_aggop agg_op(enum pql_tok t)
{
	switch (t) {
	case PQL_T_AVG: return PQL_AGG_AVG;
	case PQL_T_BOTTOMK: return PQL_AGG_BOTTOMK;
	case PQL_T_COUNT: return PQL_AGG_COUNT;
	case PQL_T_COUNT_VALUES: return PQL_AGG_COUNT_VALUES;
	case PQL_T_GROUP: return PQL_AGG_GROUP;
	case PQL_T_MAX: return PQL_AGG_MAX;
	case PQL_T_MIN: return PQL_AGG_MIN;
	case PQL_T_QUANTILE: return PQL_AGG_QUANTILE;
	case PQL_T_STDDEV: return PQL_AGG_STDDEV;
	case PQL_T_STDVAR: return PQL_AGG_STDVAR;
	case PQL_T_SUM: return PQL_AGG_SUM;
	case PQL_T_TOPK: return PQL_AGG_TOPK;
	case PQL_T_LIMITK: return PQL_AGG_LIMITK;
	default: return PQL_AGG_LIMIT_RATIO;
	}
}

static bool agg_has_param(enum pql_aggop op)
{
	return op == PQL_AGG_TOPK || op == PQL_AGG_BOTTOMK || op == PQL_AGG_COUNT_VALUES ||
	       op == PQL_AGG_QUANTILE || op == PQL_AGG_LIMITK || op == PQL_AGG_LIMIT_RATIO;
}

static bool parse_agg_modifier(struct parser *p, struct pql_node *n)
{
	struct pql_token t = advance(p);

	p->agg_ctx--; /* grouping errors have their own context */
	if (!parse_grouping(p, &n->u.agg.grouping, &n->u.agg.ngrouping)) {
		p->agg_ctx++;
		return false;
	}
	p->agg_ctx++;
	if (t.type == PQL_T_WITHOUT)
		n->u.agg.without = true;
	else
		n->u.agg.by = true;
	return true;
}

static struct pql_node *parse_aggregate(struct parser *p, const struct pql_token *op_tok)
{
	struct pql_node *n = new_node(p, PQL_NODE_AGGREGATE, op_tok->pos, op_tok->pos);
	struct pql_node **args = NULL;
	size_t nargs = 0, want;
	bool ok = true, modifier_first = false;

	if (n == NULL)
		return NULL;
	n->type = PQL_VECTOR;
	n->u.agg.op = agg_op(op_tok->type);
	p->agg_ctx++;
	if (at(p, PQL_T_BY) || at(p, PQL_T_WITHOUT)) {
		modifier_first = true;
		ok = parse_agg_modifier(p, n);
	}
	if (ok && !at(p, PQL_T_LEFT_PAREN)) {
		unexpected(p, peek(p), NULL, NULL);
		ok = false;
	}
	if (ok)
		ok = parse_call_args(p, &args, &nargs);
	if (ok && !modifier_first && (at(p, PQL_T_BY) || at(p, PQL_T_WITHOUT)))
		ok = parse_agg_modifier(p, n);
	p->agg_ctx--;
	if (!ok)
		return NULL;
	n->pos.end = p->last_closing;
	if (nargs == 0) {
		fail(p, n->pos.start, "no arguments for aggregate expression provided");
		return NULL;
	}
	want = 1;
	if (agg_has_param(n->u.agg.op)) {
		if (p->o.no_experimental &&
		    (n->u.agg.op == PQL_AGG_LIMITK || n->u.agg.op == PQL_AGG_LIMIT_RATIO)) {
			fail(p, n->pos.start, "%s() is experimental and must be enabled with "
			     "--enable-feature=promql-experimental-functions",
			     pql_aggop_str(n->u.agg.op));
			return NULL;
		}
		want = 2;
		n->u.agg.param = args[0];
	}
	if (nargs != want) {
		fail(p, n->pos.start, "wrong number of arguments for aggregate expression provided, "
		     "expected %zu, got %zu", want, nargs);
		return NULL;
	}
	n->u.agg.expr = args[want - 1];
	return n;
}

/* ------------------------------------------------ primaries */

static struct pql_node *parse_primary(struct parser *p)
{
	struct pql_token t = *peek(p);
	struct pql_node *n;

	switch (t.type) {
	case PQL_T_NUMBER:
	case PQL_T_DURATION:
		advance(p);
		return number_node(p, &t);
	case PQL_T_STRING: {
		size_t len;
		char *s;

		advance(p);
		s = unquote(p, &t, &len);
		if (s == NULL)
			return NULL;
		n = new_node(p, PQL_NODE_STRING, t.pos, t.pos + t.len);
		if (n == NULL)
			return NULL;
		n->type = PQL_STRING;
		n->u.str.val = s;
		n->u.str.len = len;
		return n;
	}
	case PQL_T_LEFT_PAREN: {
		struct pql_node *inner;

		advance(p);
		inner = parse_expr(p, 0);
		if (inner == NULL)
			return NULL;
		if (!at(p, PQL_T_RIGHT_PAREN)) {
			unexpected(p, peek(p), NULL, NULL);
			return NULL;
		}
		advance(p);
		n = new_node(p, PQL_NODE_PAREN, t.pos, p->last_closing);
		if (n == NULL)
			return NULL;
		n->type = inner->type;
		n->u.paren.expr = inner;
		return n;
	}
	case PQL_T_LEFT_BRACE:
		return parse_vector_selector(p, NULL);
	default:
		break;
	}
	if (pql_tok_is_aggregator(t.type)) {
		const struct pql_token *nx = peek_n(p, 1);

		/* otherwise it is a metric name (`sum`, `sum{a="b"}`) */
		if (nx->type == PQL_T_LEFT_PAREN || nx->type == PQL_T_BY ||
		    nx->type == PQL_T_WITHOUT) {
			advance(p);
			return parse_aggregate(p, &t);
		}
	}
	/* start() end() step() range() are experimental functions; without
	 * them the words are metric names, as in Prometheus */
	if (t.type == PQL_T_IDENTIFIER ||
	    (!p->o.no_experimental && (t.type == PQL_T_START || t.type == PQL_T_END ||
				       t.type == PQL_T_STEP || t.type == PQL_T_RANGE))) {
		if (peek_n(p, 1)->type == PQL_T_LEFT_PAREN) {
			advance(p);
			return parse_call(p, &t);
		}
	}
	if (metric_identifier(t.type)) {
		advance(p);
		return parse_vector_selector(p, &t);
	}
	unexpected(p, &t, NULL, NULL);
	return NULL;
}

/* ------------------------------------------------ binary operators */

static bool parse_fill_value(struct parser *p, double *v)
{
	static const char *ctx = "fill modifier";
	static const char *exp = "number";
	bool neg = false;
	struct pql_token t;

	if (!expect(p, PQL_T_LEFT_PAREN, ctx, "\"(\"", NULL))
		return false;
	if (at(p, PQL_T_ADD) || at(p, PQL_T_SUB))
		neg = advance(p).type == PQL_T_SUB;
	t = *peek(p);
	if (t.type != PQL_T_NUMBER) {
		unexpected(p, &t, ctx, exp);
		return false;
	}
	advance(p);
	if (!parse_number(p, &t, v))
		return false;
	if (neg)
		*v = -*v;
	return expect(p, PQL_T_RIGHT_PAREN, ctx, "\")\"", NULL);
}

/* bool, on/ignoring(...), group_left/right[(...)], fill*(v) */
static bool parse_bin_modifiers(struct parser *p, struct pql_binary *b, size_t op_pos)
{
	struct pql_vector_matching *vm = &b->vm;
	bool any_fill = false;

	if (at(p, PQL_T_BOOL)) {
		advance(p);
		b->return_bool = true;
	}
	if (at(p, PQL_T_ON) || at(p, PQL_T_IGNORING)) {
		vm->on = advance(p).type == PQL_T_ON;
		vm->explicit_matching = true;
		if (!parse_grouping(p, &vm->labels, &vm->nlabels))
			return false;
		if (at(p, PQL_T_GROUP_LEFT) || at(p, PQL_T_GROUP_RIGHT)) {
			vm->card = advance(p).type == PQL_T_GROUP_LEFT ? PQL_CARD_MANY_TO_ONE :
									PQL_CARD_ONE_TO_MANY;
			if (at(p, PQL_T_LEFT_PAREN) &&
			    !parse_grouping(p, &vm->include, &vm->ninclude))
				return false;
		}
	}
	for (;;) {
		struct pql_token t = *peek(p);
		double v;

		if (t.type != PQL_T_FILL && t.type != PQL_T_FILL_LEFT && t.type != PQL_T_FILL_RIGHT)
			break;
		/* `a + fill` is a selector named fill on the right-hand side */
		if (peek_n(p, 1)->type != PQL_T_LEFT_PAREN)
			break;
		if ((t.type == PQL_T_FILL && any_fill) ||
		    (t.type == PQL_T_FILL_LEFT && vm->has_fill_left) ||
		    (t.type == PQL_T_FILL_RIGHT && vm->has_fill_right)) {
			unexpected(p, &t, NULL, NULL);
			return false;
		}
		advance(p);
		if (!parse_fill_value(p, &v))
			return false;
		if (p->o.no_fill) {
			fail(p, op_pos, "binop fill modifiers are experimental and not enabled");
			return false;
		}
		any_fill = true;
		if (t.type != PQL_T_FILL_RIGHT) {
			vm->has_fill_left = true;
			vm->fill_left = v;
		}
		if (t.type != PQL_T_FILL_LEFT) {
			vm->has_fill_right = true;
			vm->fill_right = v;
		}
	}
	return true;
}

static struct pql_node *parse_unary(struct parser *p)
{
	struct pql_token t = *peek(p);
	struct pql_node *e, *n;

	if (t.type != PQL_T_ADD && t.type != PQL_T_SUB)
		return parse_postfix(p, parse_primary(p));
	advance(p);
	e = parse_expr(p, PREC_POW);
	if (e == NULL)
		return NULL;
	if (e->kind == PQL_NODE_NUMBER) {
		if (t.type == PQL_T_SUB)
			e->u.num.val = -e->u.num.val;
		e->pos.start = t.pos;
		return e;
	}
	n = new_node(p, PQL_NODE_UNARY, t.pos, e->pos.end);
	if (n == NULL)
		return NULL;
	n->type = e->type;
	n->u.un.op = t.type == PQL_T_SUB ? PQL_OP_SUB : PQL_OP_ADD;
	n->u.un.expr = e;
	return n;
}

static struct pql_node *parse_expr(struct parser *p, int min_prec)
{
	struct pql_node *lhs;

	if (!enter(p, peek(p)->pos))
		return NULL;
	lhs = parse_unary(p);
	while (lhs != NULL && !p->failed) {
		enum pql_binop op;
		struct pql_token t = *peek(p);
		int prec = binop_prec(t.type, &op);
		struct pql_node *n, *rhs;

		if (prec == PREC_NONE || prec < min_prec)
			break;
		advance(p);
		n = new_node(p, PQL_NODE_BINARY, lhs->pos.start, lhs->pos.end);
		if (n == NULL) {
			lhs = NULL;
			break;
		}
		n->u.bin.op = op;
		n->u.bin.lhs = lhs;
		if (!parse_bin_modifiers(p, &n->u.bin, t.pos)) {
			lhs = NULL;
			break;
		}
		rhs = parse_expr(p, op == PQL_OP_POW ? prec : prec + 1);
		if (rhs == NULL) {
			lhs = NULL;
			break;
		}
		n->u.bin.rhs = rhs;
		n->pos.end = rhs->pos.end;
		n->type = (lhs->type == PQL_SCALAR && rhs->type == PQL_SCALAR) ? PQL_SCALAR :
										 PQL_VECTOR;
		lhs = n;
	}
	leave(p);
	return p->failed ? NULL : lhs;
}

/* ---------------------------------------------------------------- type checks */

static bool is_space_ch(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Start of the operator of a binary node (first non-space after LHS). */
static size_t op_start(struct parser *p, const struct pql_node *n)
{
	size_t s = n->u.bin.lhs->pos.end;

	while (s < p->len && is_space_ch(p->in[s]))
		s++;
	return s;
}

static enum pql_type check_node(struct parser *p, struct pql_node *n);

static void expect_type(struct parser *p, struct pql_node *n, enum pql_type want,
			const char *ctx)
{
	enum pql_type t = check_node(p, n);

	if (t != want)
		fail(p, n->pos.start, "expected type %s in %s, got %s", doc_type(want), ctx,
		     doc_type(t));
}

static void check_call(struct parser *p, struct pql_node *n)
{
	const struct pql_func *f = n->u.call.func;
	size_t nargs = f->nargs, i;
	char q[300];

	pql_go_quote(f->name, strlen(f->name), q, sizeof(q));
	if (f->variadic == 0) {
		if (nargs != n->u.call.nargs)
			fail(p, n->pos.start, "expected %zu argument(s) in call to %s, got %zu", nargs,
			     q, n->u.call.nargs);
	} else {
		size_t na = nargs - 1;

		if (na > n->u.call.nargs)
			fail(p, n->pos.start, "expected at least %zu argument(s) in call to %s, got %zu",
			     na, q, n->u.call.nargs);
		else if (f->variadic > 0 && na + (size_t)f->variadic < n->u.call.nargs)
			fail(p, n->pos.start, "expected at most %zu argument(s) in call to %s, got %zu",
			     na + (size_t)f->variadic, q, n->u.call.nargs);
	}
	if (f->id == PQL_FN_INFO && n->u.call.nargs > 1) {
		struct pql_node *a1 = n->u.call.args[1];

		if (a1->type != PQL_VECTOR)
			fail(p, n->pos.start, "expected type %s in call to function %s, got %s",
			     doc_type(PQL_VECTOR), q, doc_type(a1->type));
		if (a1->kind == PQL_NODE_VECTOR && a1->u.vs.name != NULL)
			fail(p, a1->pos.start, "expected label selectors only, got vector selector instead");
		else if (a1->kind == PQL_NODE_VECTOR)
			a1->u.vs.bypass_empty_check = true;
		else
			fail(p, a1->pos.start, "expected label selectors only");
	}
	for (i = 0; i < n->u.call.nargs; i++) {
		struct pql_node *arg = n->u.call.args[i];
		enum pql_type want, got;

		if (i >= nargs && f->variadic == 0)
			break;
		want = f->arg_types[i < nargs ? i : nargs - 1];
		got = check_node(p, arg);
		if (got != want)
			fail(p, arg->pos.start, "expected type %s in call to function %s, got %s",
			     doc_type(want), q, doc_type(got));
	}
	/* which functions take anchored / smoothed ranges is checked when
	 * evaluating, as Prometheus's engine does (an execution error, not
	 * a parse error) */
}

static void check_binary(struct parser *p, struct pql_node *n)
{
	struct pql_binary *b = &n->u.bin;
	struct pql_vector_matching *vm = &b->vm;
	enum pql_type lt = check_node(p, b->lhs);
	enum pql_type rt = check_node(p, b->rhs);
	bool cmp = pql_binop_is_comparison(b->op), set = pql_binop_is_set(b->op);
	bool fill = vm->has_fill_left || vm->has_fill_right;
	size_t i, j;

	if (b->return_bool && !cmp)
		fail(p, op_start(p, n), "bool modifier can only be used on comparison operators");
	if (cmp && !b->return_bool && lt == PQL_SCALAR && rt == PQL_SCALAR)
		fail(p, op_start(p, n), "comparisons between scalars must use BOOL modifier");
	if (set && vm->card == PQL_CARD_ONE_TO_ONE)
		vm->card = PQL_CARD_MANY_TO_MANY;
	if (vm->on) {
		for (i = 0; i < vm->nlabels; i++)
			for (j = 0; j < vm->ninclude; j++)
				if (strcmp(vm->labels[i], vm->include[j]) == 0) {
					char q[300];

					pql_go_quote(vm->labels[i], strlen(vm->labels[i]), q,
						     sizeof(q));
					fail(p, op_start(p, n), "label %s must not occur in ON and "
					     "GROUP clause at once", q);
				}
	}
	if (lt != PQL_SCALAR && lt != PQL_VECTOR)
		fail(p, b->lhs->pos.start,
		     "binary expression must contain only scalar and instant vector types");
	if (rt != PQL_SCALAR && rt != PQL_VECTOR)
		fail(p, b->rhs->pos.start,
		     "binary expression must contain only scalar and instant vector types");
	if (lt != PQL_VECTOR || rt != PQL_VECTOR) {
		if (vm->nlabels > 0)
			fail(p, n->pos.start, "vector matching only allowed between instant vectors");
		if (fill)
			fail(p, n->pos.start,
			     "filling in missing series only allowed between instant vectors");
		/* as Prometheus drops VectorMatching here */
		memset(vm, 0, sizeof(*vm));
	} else if (set) {
		if (vm->card == PQL_CARD_ONE_TO_MANY || vm->card == PQL_CARD_MANY_TO_ONE)
			fail(p, n->pos.start, "no grouping allowed for \"%s\" operation",
			     pql_binop_str(b->op));
		if (vm->card != PQL_CARD_MANY_TO_MANY)
			fail(p, n->pos.start, "set operations must always be many-to-many");
		if (fill)
			fail(p, n->pos.start, "filling in missing series not allowed for set operators");
	}
	if ((lt == PQL_SCALAR || rt == PQL_SCALAR) && set)
		fail(p, n->pos.start, "set operator \"%s\" not allowed in binary scalar expression",
		     pql_binop_str(b->op));
}

static void check_selector(struct parser *p, struct pql_node *n)
{
	struct pql_vector_sel *vs = &n->u.vs;
	size_t i;

	if (vs->name != NULL) {
		/* matcher 0 is the name itself */
		for (i = 1; i < vs->nmatchers; i++) {
			if (strcmp(vs->matchers[i].name, LABEL_NAME) == 0) {
				char q1[300], q2[300];

				pql_go_quote(vs->name, strlen(vs->name), q1, sizeof(q1));
				pql_go_quote(vs->matchers[i].value, strlen(vs->matchers[i].value), q2,
					     sizeof(q2));
				fail(p, n->pos.start, "metric name must not be set twice: %s or %s", q1,
				     q2);
			}
		}
		return;
	}
	if (!vs->bypass_empty_check) {
		bool non_empty = false;

		for (i = 0; i < vs->nmatchers; i++)
			if (!matcher_matches_empty(&vs->matchers[i]))
				non_empty = true;
		if (!non_empty)
			fail(p, n->pos.start, "vector selector must contain at least one non-empty matcher");
	}
}

static enum pql_type check_node(struct parser *p, struct pql_node *n)
{
	enum pql_type t;

	if (n == NULL)
		return PQL_NONE;
	t = n->type;
	/* the tree's depth bounds every later recursive walk */
	if (!enter(p, n->pos.start))
		return t;
	switch (n->kind) {
	case PQL_NODE_AGGREGATE:
		expect_type(p, n->u.agg.expr, PQL_VECTOR, "aggregation expression");
		if (n->u.agg.op == PQL_AGG_TOPK || n->u.agg.op == PQL_AGG_BOTTOMK ||
		    n->u.agg.op == PQL_AGG_QUANTILE || n->u.agg.op == PQL_AGG_LIMITK ||
		    n->u.agg.op == PQL_AGG_LIMIT_RATIO)
			expect_type(p, n->u.agg.param, PQL_SCALAR, "aggregation parameter");
		if (n->u.agg.op == PQL_AGG_COUNT_VALUES)
			expect_type(p, n->u.agg.param, PQL_STRING, "aggregation parameter");
		break;
	case PQL_NODE_BINARY:
		check_binary(p, n);
		break;
	case PQL_NODE_CALL:
		check_call(p, n);
		break;
	case PQL_NODE_PAREN:
		check_node(p, n->u.paren.expr);
		break;
	case PQL_NODE_UNARY: {
		enum pql_type et = check_node(p, n->u.un.expr);

		if (et != PQL_SCALAR && et != PQL_VECTOR)
			fail(p, n->pos.start, "unary expression only allowed on expressions of type "
			     "scalar or instant vector, got \"%s\"", doc_type(et));
		break;
	}
	case PQL_NODE_SUBQUERY: {
		enum pql_type et = check_node(p, n->u.sq.expr);

		if (et != PQL_VECTOR)
			fail(p, n->pos.start, "subquery is only allowed on instant vector, got %s "
			     "instead", val_type(et));
		break;
	}
	case PQL_NODE_MATRIX:
		check_node(p, n->u.ms.vs);
		break;
	case PQL_NODE_VECTOR:
		check_selector(p, n);
		break;
	default:
		break;
	}
	leave(p);
	return t;
}

/* ---------------------------------------------------------------- entry points */

static void parser_init(struct parser *p, const char *input, const struct pql_parse_opts *o,
			struct arena *a)
{
	memset(p, 0, sizeof(*p));
	p->in = input;
	p->len = strlen(input);
	p->a = a;
	if (o)
		p->o = *o;
	pql_lexer_init(&p->lx, input, p->len);
}

static int parser_error(struct parser *p, struct ts_error *err)
{
	struct sel_link *l;
	int line, col;

	for (l = p->sels; l != NULL; l = l->next)
		pql_ast_release(l->n);
	p->sels = NULL;
	if (p->code == TS_ERR_NOMEM)
		return ts_error_set(err, TS_ERR_NOMEM, "out of memory");
	pql_pos_linecol(p->in, p->err_pos, &line, &col);
	return ts_error_set_pos(err, p->code, p->err_pos, line, col, "%d:%d: parse error: %s", line,
				col, p->msg);
}

int pql_parse_opts(const char *input, const struct pql_parse_opts *opts, struct arena *a,
		   struct pql_node **out, struct ts_error *err)
{
	struct parser p;
	struct pql_node *root;

	*out = NULL;
	ts_error_clear(err);
	parser_init(&p, input, opts, a);
	if (at(&p, PQL_T_EOF)) {
		fail(&p, 0, "no expression found in input");
		return parser_error(&p, err);
	}
	root = parse_expr(&p, 0);
	if (root != NULL && !at(&p, PQL_T_EOF))
		unexpected(&p, peek(&p), NULL, NULL);
	if (!p.failed)
		check_node(&p, root);
	if (p.failed)
		return parser_error(&p, err);
	*out = root;
	return 0;
}

int pql_parse(const char *input, struct arena *a, struct pql_node **out, struct ts_error *err)
{
	return pql_parse_opts(input, NULL, a, out, err);
}

int pql_parse_selector(const char *input, struct arena *a, struct matcher **out, size_t *n,
		       struct ts_error *err)
{
	struct parser p;
	struct pql_node *vs = NULL;
	struct pql_token t;

	*out = NULL;
	*n = 0;
	ts_error_clear(err);
	parser_init(&p, input, NULL, a);
	t = *peek(&p);
	if (t.type == PQL_T_LEFT_BRACE) {
		vs = parse_vector_selector(&p, NULL);
	} else if (metric_identifier(t.type)) {
		advance(&p);
		vs = parse_vector_selector(&p, &t);
	} else {
		unexpected(&p, &t, NULL, NULL);
	}
	if (vs != NULL && !at(&p, PQL_T_EOF))
		unexpected(&p, peek(&p), NULL, NULL);
	if (p.failed)
		return parser_error(&p, err);
	*out = vs->u.vs.matchers;
	*n = vs->u.vs.nmatchers;
	return 0;
}

void pql_matchers_release(struct matcher *m, size_t n)
{
	size_t i;

	for (i = 0; m != NULL && i < n; i++)
		matcher_release(&m[i]);
}
