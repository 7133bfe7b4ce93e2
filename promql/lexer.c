/*
 * lexer.c - PromQL tokenizer.
 *
 * The scanner mirrors the states of Prometheus's lexer so that the same
 * inputs fail with the same messages at the same positions:
 *
 *   statements   the default state; words are keywords or identifiers,
 *                numbers and durations, operators, strings, `#` comments
 *   braces       after `{`: identifiers (keywords are not recognised),
 *                strings, `=`, `!=`, `=~`, `!~`, `,` until `}`
 *   brackets     after `[`: numbers, durations, `+-*'/%^`, `:`, `,`,
 *                parentheses and the words step, range, min_of, max_of
 *
 * Numbers follow Go's literal syntax as Prometheus scans it: decimal, hex
 * (0x...), octal-looking (0755), exponents, `_` digit separators; the
 * parser converts them. A word followed by a duration unit is a DURATION.
 */
#include "promql/lexer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EOFCH (-1)

void pql_lexer_init(struct pql_lexer *l, const char *input, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->in = input;
	l->len = len;
}

/* ---------------------------------------------------------------- runes */

/* Decode one UTF-8 rune at s[0..n); *w gets its width. Invalid bytes give
 * 0xFFFD with width 1, as Go does. */
static int decode_rune(const unsigned char *s, size_t n, size_t *w)
{
	unsigned c = s[0];
	unsigned r;
	size_t need, i;

	if (c < 0x80) {
		*w = 1;
		return (int)c;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		r = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		r = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		r = c & 0x07;
	} else {
		*w = 1;
		return 0xFFFD;
	}
	if (n < need + 1) {
		*w = 1;
		return 0xFFFD;
	}
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*w = 1;
			return 0xFFFD;
		}
		r = (r << 6) | (s[i] & 0x3F);
	}
	if ((need == 2 && r < 0x800) || (need == 3 && (r < 0x10000 || r > 0x10FFFF)) ||
	    (r >= 0xD800 && r <= 0xDFFF)) {
		*w = 1;
		return 0xFFFD;
	}
	*w = need + 1;
	return (int)r;
}

/* Was the rune at s a real U+FFFD (3 bytes) rather than an invalid byte? */
static bool rune_error(const struct pql_lexer *l, size_t at, int r, size_t w)
{
	(void)l;
	(void)at;
	return r == 0xFFFD && w == 1;
}

static int next(struct pql_lexer *l)
{
	size_t w;
	int r;

	if (l->pos >= l->len) {
		l->width = 0;
		return EOFCH;
	}
	r = decode_rune((const unsigned char *)l->in + l->pos, l->len - l->pos, &w);
	l->width = w;
	l->pos += w;
	return r;
}

static void backup(struct pql_lexer *l)
{
	l->pos -= l->width;
}

static int peek(struct pql_lexer *l)
{
	size_t save = l->pos, sw = l->width;
	int r = next(l);

	l->pos = save;
	l->width = sw;
	return r;
}

static bool accept(struct pql_lexer *l, const char *valid)
{
	int r = next(l);

	if (r > 0 && r < 128 && strchr(valid, r))
		return true;
	backup(l);
	return false;
}

static bool is(struct pql_lexer *l, const char *valid)
{
	int r = peek(l);

	return r > 0 && r < 128 && strchr(valid, r) != NULL;
}

static void accept_run(struct pql_lexer *l, const char *valid)
{
	while (accept(l, valid))
		;
}

static bool is_space(int r)
{
	return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}

static bool is_digit(int r)
{
	return r >= '0' && r <= '9';
}

static bool is_alpha(int r)
{
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

static bool is_alnum(int r)
{
	return is_alpha(r) || is_digit(r);
}

/* ---------------------------------------------------------------- quoting */

static void out_add(char *out, size_t cap, size_t *n, const char *s, size_t k)
{
	while (k-- > 0) {
		if (*n + 1 < cap)
			out[(*n)++] = *s;
		s++;
	}
	if (cap)
		out[*n < cap ? *n : cap - 1] = '\0';
}

static bool rune_printable(int r)
{
	if (r < 0x20 || r == 0x7F)
		return false;
	if (r >= 0x80 && r < 0xA0)
		return false;
	if (r == 0xAD)
		return false;
	return true;
}

/* Append the escaped form of rune r (w source bytes at src) in Go style. */
static void quote_rune_into(int r, const char *src, size_t w, bool invalid, char quote, char *out,
			    size_t cap, size_t *n)
{
	char tmp[16];

	if (invalid) {
		snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char)src[0]);
		out_add(out, cap, n, tmp, strlen(tmp));
		return;
	}
	if (r == quote || r == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)r;
		out_add(out, cap, n, tmp, 2);
		return;
	}
	if (rune_printable(r)) {
		out_add(out, cap, n, src, w);
		return;
	}
	switch (r) {
	case '\a': out_add(out, cap, n, "\\a", 2); return;
	case '\b': out_add(out, cap, n, "\\b", 2); return;
	case '\f': out_add(out, cap, n, "\\f", 2); return;
	case '\n': out_add(out, cap, n, "\\n", 2); return;
	case '\r': out_add(out, cap, n, "\\r", 2); return;
	case '\t': out_add(out, cap, n, "\\t", 2); return;
	case '\v': out_add(out, cap, n, "\\v", 2); return;
	}
	if (r < 0x80)
		snprintf(tmp, sizeof(tmp), "\\x%02x", r);
	else if (r < 0x10000)
		snprintf(tmp, sizeof(tmp), "\\u%04x", r);
	else
		snprintf(tmp, sizeof(tmp), "\\U%08x", r);
	out_add(out, cap, n, tmp, strlen(tmp));
}

void pql_go_quote(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0, i = 0, w;
	int r;

	if (cap)
		out[0] = '\0';
	out_add(out, cap, &n, "\"", 1);
	while (i < len) {
		r = decode_rune((const unsigned char *)s + i, len - i, &w);
		quote_rune_into(r, s + i, w, r == 0xFFFD && w == 1, '"', out, cap, &n);
		i += w;
	}
	out_add(out, cap, &n, "\"", 1);
}

/* %q of a rune: 'x' */
static void quote_rune(int r, char *out, size_t cap)
{
	char src[8];
	size_t n = 0, w;

	if (r == EOFCH || r < 0 || r > 0x10FFFF)
		r = 0xFFFD; /* Go quotes an invalid rune (end of input) as U+FFFD */
	w = 0;
	if (r < 0x80) {
		src[w++] = (char)r;
	} else if (r < 0x800) {
		src[w++] = (char)(0xC0 | (r >> 6));
		src[w++] = (char)(0x80 | (r & 0x3F));
	} else if (r < 0x10000) {
		src[w++] = (char)(0xE0 | (r >> 12));
		src[w++] = (char)(0x80 | ((r >> 6) & 0x3F));
		src[w++] = (char)(0x80 | (r & 0x3F));
	} else {
		src[w++] = (char)(0xF0 | (r >> 18));
		src[w++] = (char)(0x80 | ((r >> 12) & 0x3F));
		src[w++] = (char)(0x80 | ((r >> 6) & 0x3F));
		src[w++] = (char)(0x80 | (r & 0x3F));
	}
	if (cap)
		out[0] = '\0';
	out_add(out, cap, &n, "'", 1);
	quote_rune_into(r, src, w, false, '\'', out, cap, &n);
	out_add(out, cap, &n, "'", 1);
}

/* %#U of a rune: U+0041 'A' */
static void unicode_rune(int r, char *out, size_t cap)
{
	char q[16];

	if (rune_printable(r)) {
		quote_rune(r, q, sizeof(q));
		snprintf(out, cap, "U+%04X %s", (unsigned)r, q);
	} else {
		snprintf(out, cap, "U+%04X", (unsigned)r);
	}
}

/* ---------------------------------------------------------------- emitting */

static void emit(struct pql_lexer *l, struct pql_token *t, enum pql_tok type)
{
	t->type = type;
	t->pos = l->start;
	t->len = l->pos - l->start;
	t->msg = NULL;
	l->start = l->pos;
}

static void errorf(struct pql_lexer *l, struct pql_token *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errorf(struct pql_lexer *l, struct pql_token *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	va_end(ap);
	t->type = PQL_T_ERROR;
	t->pos = l->start;
	t->len = 0;
	t->msg = l->msg;
	l->done = true;
}

/* ---------------------------------------------------------------- keywords */

struct kw {
	const char *word;
	enum pql_tok tok;
};

static const struct kw keywords[] = {
	{ "and", PQL_T_LAND },
	{ "or", PQL_T_LOR },
	{ "unless", PQL_T_LUNLESS },
	{ "atan2", PQL_T_ATAN2 },
	{ "sum", PQL_T_SUM },
	{ "avg", PQL_T_AVG },
	{ "count", PQL_T_COUNT },
	{ "min", PQL_T_MIN },
	{ "max", PQL_T_MAX },
	{ "group", PQL_T_GROUP },
	{ "stddev", PQL_T_STDDEV },
	{ "stdvar", PQL_T_STDVAR },
	{ "topk", PQL_T_TOPK },
	{ "bottomk", PQL_T_BOTTOMK },
	{ "count_values", PQL_T_COUNT_VALUES },
	{ "quantile", PQL_T_QUANTILE },
	{ "limitk", PQL_T_LIMITK },
	{ "limit_ratio", PQL_T_LIMIT_RATIO },
	{ "offset", PQL_T_OFFSET },
	{ "smoothed", PQL_T_SMOOTHED },
	{ "anchored", PQL_T_ANCHORED },
	{ "by", PQL_T_BY },
	{ "without", PQL_T_WITHOUT },
	{ "on", PQL_T_ON },
	{ "ignoring", PQL_T_IGNORING },
	{ "group_left", PQL_T_GROUP_LEFT },
	{ "group_right", PQL_T_GROUP_RIGHT },
	{ "bool", PQL_T_BOOL },
	{ "fill", PQL_T_FILL },
	{ "fill_left", PQL_T_FILL_LEFT },
	{ "fill_right", PQL_T_FILL_RIGHT },
	{ "start", PQL_T_START },
	{ "end", PQL_T_END },
	{ "step", PQL_T_STEP },
	{ "range", PQL_T_RANGE },
	{ "inf", PQL_T_NUMBER },
	{ "nan", PQL_T_NUMBER },
};

static bool word_ieq(const char *a, size_t n, const char *kw)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (kw[i] == '\0' || c != kw[i])
			return false;
	}
	return kw[n] == '\0';
}

static enum pql_tok keyword(const char *w, size_t n, bool *found)
{
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (word_ieq(w, n, keywords[i].word)) {
			*found = true;
			return keywords[i].tok;
		}
	}
	*found = false;
	return PQL_T_IDENTIFIER;
}

/* ---------------------------------------------------------------- numbers */

/* Scan a number of any Go-ish format; the result is not necessarily
 * valid (the parser checks). False when it is malformed. */
static bool scan_number(struct pql_lexer *l)
{
	size_t initial = l->pos;
	const char *digits = "0123456789";
	bool hex = false, dot = false, expo = false;
	char set[40];
	int r;

	if (accept(l, "0") && accept(l, "xX")) {
		accept(l, "_");
		digits = "0123456789abcdefABCDEF";
		hex = true;
	}
	snprintf(set, sizeof(set), "%s._eE", digits);
	accept(l, ".");
	accept(l, digits);
	while (is(l, set)) {
		if (is(l, ".") && dot) {
			accept(l, ".");
			return false;
		}
		if (is(l, "eE") && expo) {
			accept(l, "eE");
			return false;
		}
		if (accept(l, ".")) {
			dot = true;
			if (accept(l, "_."))
				return false;
			if (hex)
				return false;
			continue;
		}
		if (accept(l, "eE")) {
			expo = true;
			accept(l, "+-");
			if (accept(l, "._eE") || peek(l) == EOFCH)
				return false;
			continue;
		}
		if (accept(l, "_")) {
			if (accept(l, "._eE") || peek(l) == EOFCH)
				return false;
			continue;
		}
		accept_run(l, digits);
	}
	if (l->pos == initial)
		return false;
	r = peek(l);
	return !is_alnum(r);
}

static bool accept_remaining_duration(struct pql_lexer *l)
{
	if (!accept(l, "smhdwy"))
		return false;
	accept(l, "s");
	while (accept(l, "0123456789")) {
		while (accept(l, "0123456789"))
			;
		if (!accept(l, "smhdw"))
			return false;
		accept(l, "s");
	}
	return !is_alnum(next(l));
}

static void lex_number_or_duration(struct pql_lexer *l, struct pql_token *t)
{
	char q[300];

	if (scan_number(l)) {
		emit(l, t, PQL_T_NUMBER);
		return;
	}
	if (accept_remaining_duration(l)) {
		backup(l);
		emit(l, t, PQL_T_DURATION);
		return;
	}
	pql_go_quote(l->in + l->start, l->pos - l->start, q, sizeof(q));
	errorf(l, t, "bad number or duration syntax: %s", q);
}

/* ---------------------------------------------------------------- strings */

static int digit_val(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 16;
}

/* After a backslash inside a quoted string; false after an error. */
static bool lex_escape(struct pql_lexer *l, struct pql_token *t, int quote)
{
	int n, ch = next(l);
	unsigned base, maxv, x = 0;
	char u[40];

	switch (ch) {
	case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
		return true;
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		n = 3; base = 8; maxv = 255;
		break;
	case 'x':
		ch = next(l);
		n = 2; base = 16; maxv = 255;
		break;
	case 'u':
		ch = next(l);
		n = 4; base = 16; maxv = 0x10FFFF;
		break;
	case 'U':
		ch = next(l);
		n = 8; base = 16; maxv = 0x10FFFF;
		break;
	case EOFCH:
		errorf(l, t, "escape sequence not terminated");
		return false;
	default:
		if (ch == quote)
			return true;
		unicode_rune(ch, u, sizeof(u));
		errorf(l, t, "unknown escape sequence %s", u);
		return false;
	}
	while (n > 0) {
		unsigned d = (unsigned)digit_val(ch);

		if (d >= base) {
			if (ch == EOFCH) {
				errorf(l, t, "escape sequence not terminated");
				return false;
			}
			unicode_rune(ch, u, sizeof(u));
			errorf(l, t, "illegal character %s in escape sequence", u);
			return false;
		}
		x = x * base + d;
		n--;
		if (n > 0)
			ch = next(l);
	}
	if (x > maxv || (x >= 0xD800 && x < 0xE000)) {
		errorf(l, t, "escape sequence is an invalid Unicode code point");
		return false;
	}
	return true;
}

static void lex_string(struct pql_lexer *l, struct pql_token *t, int quote)
{
	for (;;) {
		size_t at = l->pos;
		int r = next(l);

		if (r == '\\') {
			if (!lex_escape(l, t, quote))
				return;
			continue;
		}
		if (r != EOFCH && rune_error(l, at, r, l->width)) {
			errorf(l, t, "invalid UTF-8 rune");
			return;
		}
		if (r == EOFCH || r == '\n') {
			errorf(l, t, "unterminated quoted string");
			return;
		}
		if (r == quote)
			break;
	}
	emit(l, t, PQL_T_STRING);
}

static void lex_raw_string(struct pql_lexer *l, struct pql_token *t)
{
	for (;;) {
		size_t at = l->pos;
		int r = next(l);

		if (r != EOFCH && rune_error(l, at, r, l->width)) {
			errorf(l, t, "invalid UTF-8 rune");
			return;
		}
		if (r == EOFCH) {
			errorf(l, t, "unterminated raw string");
			return;
		}
		if (r == '`')
			break;
	}
	emit(l, t, PQL_T_STRING);
}

/* ---------------------------------------------------------------- words */

static void lex_keyword_or_identifier(struct pql_lexer *l, struct pql_token *t)
{
	bool found, colon = false;
	enum pql_tok kw;
	int r;

	for (;;) {
		r = next(l);
		if (is_alnum(r) || r == ':') {
			if (r == ':')
				colon = true;
			continue;
		}
		backup(l);
		break;
	}
	kw = keyword(l->in + l->start, l->pos - l->start, &found);
	if (found)
		emit(l, t, kw);
	else
		emit(l, t, colon ? PQL_T_METRIC_IDENTIFIER : PQL_T_IDENTIFIER);
}

/* Inside brackets: step, range, min_of, max_of. False if the word is none. */
static bool scan_duration_keyword(struct pql_lexer *l, struct pql_token *t)
{
	size_t n;
	const char *w;

	while (is_alpha(peek(l)))
		next(l);
	w = l->in + l->start;
	n = l->pos - l->start;
	if (word_ieq(w, n, "step")) {
		emit(l, t, PQL_T_STEP);
	} else if (word_ieq(w, n, "range")) {
		emit(l, t, PQL_T_RANGE);
	} else if (word_ieq(w, n, "min_of")) {
		emit(l, t, PQL_T_MIN_OF);
	} else if (word_ieq(w, n, "max_of")) {
		emit(l, t, PQL_T_MAX_OF);
	} else if (word_ieq(w, n, "min")) {
		emit(l, t, PQL_T_MIN); /* older spelling of min_of */
	} else if (word_ieq(w, n, "max")) {
		emit(l, t, PQL_T_MAX);
	} else {
		return false;
	}
	l->got_duration = true;
	return true;
}

static void skip_spaces(struct pql_lexer *l)
{
	while (is_space(peek(l)))
		next(l);
	l->start = l->pos;
}

/* ---------------------------------------------------------------- states */

static void lex_inside_braces(struct pql_lexer *l, struct pql_token *t)
{
	char q[16];
	int r;

	for (;;) {
		if (l->pos < l->len && l->in[l->pos] == '#') {
			while (l->pos < l->len && l->in[l->pos] != '\n' && l->in[l->pos] != '\r')
				l->pos++;
			l->start = l->pos;
			continue;
		}
		r = next(l);
		if (r == EOFCH) {
			errorf(l, t, "unexpected end of input inside braces");
			return;
		}
		if (is_space(r)) {
			skip_spaces(l);
			continue;
		}
		break;
	}
	if (is_alpha(r)) {
		while (is_alnum(peek(l)))
			next(l);
		emit(l, t, PQL_T_IDENTIFIER);
		return;
	}
	switch (r) {
	case ',':
		emit(l, t, PQL_T_COMMA);
		return;
	case '"':
	case '\'':
		lex_string(l, t, r);
		return;
	case '`':
		lex_raw_string(l, t);
		return;
	case '=':
		if (next(l) == '~') {
			emit(l, t, PQL_T_EQL_REGEX);
			return;
		}
		backup(l);
		emit(l, t, PQL_T_EQL);
		return;
	case '!': {
		int nr = next(l);

		if (nr == '~') {
			emit(l, t, PQL_T_NEQ_REGEX);
		} else if (nr == '=') {
			emit(l, t, PQL_T_NEQ);
		} else {
			quote_rune(nr, q, sizeof(q));
			errorf(l, t, "unexpected character after '!' inside braces: %s", q);
		}
		return;
	}
	case '{':
		errorf(l, t, "unexpected left brace '{'");
		return;
	case '}':
		emit(l, t, PQL_T_RIGHT_BRACE);
		l->brace_open = false;
		return;
	default:
		quote_rune(r, q, sizeof(q));
		errorf(l, t, "unexpected character inside braces: %s", q);
		return;
	}
}

/*
 * Inside brackets, until the first number: Prometheus's duration-expression
 * state. Operators and parentheses keep the state; a number leaves it.
 */
static void lex_duration_first(struct pql_lexer *l, struct pql_token *t)
{
	char q[16];
	int r;

	for (;;) {
		r = next(l);
		if (!is_space(r))
			break;
		skip_spaces(l);
	}
	switch (r) {
	case EOFCH:
		errorf(l, t, "unexpected end of input in duration expression");
		return;
	case ']':
		emit(l, t, PQL_T_RIGHT_BRACKET);
		l->bracket_open = false;
		l->got_colon = false;
		l->dur_first = false;
		return;
	case ':':
		emit(l, t, PQL_T_COLON);
		if (!l->got_duration) {
			errorf(l, t, "unexpected colon before duration in duration expression");
			return;
		}
		if (l->got_colon) {
			errorf(l, t, "unexpected repeated colon in duration expression");
			return;
		}
		l->got_colon = true;
		return;
	case '(':
		emit(l, t, PQL_T_LEFT_PAREN);
		l->paren_depth++;
		return;
	case ')':
		emit(l, t, PQL_T_RIGHT_PAREN);
		l->paren_depth--;
		if (l->paren_depth < 0)
			errorf(l, t, "unexpected right parenthesis ')'");
		return;
	case '+': emit(l, t, PQL_T_ADD); return;
	case '-': emit(l, t, PQL_T_SUB); return;
	case '*': emit(l, t, PQL_T_MUL); return;
	case '/': emit(l, t, PQL_T_DIV); return;
	case '%': emit(l, t, PQL_T_MOD); return;
	case '^': emit(l, t, PQL_T_POW); return;
	case ',': emit(l, t, PQL_T_COMMA); return;
	}
	if (is_alpha(r)) {
		if (scan_duration_keyword(l, t))
			return;
		quote_rune(r, q, sizeof(q));
		errorf(l, t, "unexpected character in duration expression: %s", q);
		return;
	}
	if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
		backup(l);
		l->got_duration = true;
		l->dur_first = false;
		lex_number_or_duration(l, t);
		return;
	}
	quote_rune(r, q, sizeof(q));
	errorf(l, t, "unexpected character in duration expression: %s", q);
}

void pql_lexer_next(struct pql_lexer *l, struct pql_token *t)
{
	char q[16], q2[16];
	int r;

	if (l->done) {
		t->type = PQL_T_EOF;
		t->pos = l->len;
		t->len = 0;
		t->msg = NULL;
		return;
	}
	if (l->brace_open) {
		lex_inside_braces(l, t);
		return;
	}
	for (;;) {
		if (l->pos < l->len && l->in[l->pos] == '#' && !l->dur_first) {
			while (l->pos < l->len && l->in[l->pos] != '\n' && l->in[l->pos] != '\r')
				l->pos++;
			l->start = l->pos;
			continue;
		}
		if (l->pos < l->len && is_space((unsigned char)l->in[l->pos])) {
			skip_spaces(l);
			continue;
		}
		break;
	}
	if (l->bracket_open && l->dur_first) {
		lex_duration_first(l, t);
		return;
	}
	r = next(l);
	if (r == EOFCH) {
		if (l->paren_depth != 0) {
			errorf(l, t, "unclosed left parenthesis");
			return;
		}
		if (l->bracket_open) {
			errorf(l, t, "unclosed left bracket");
			return;
		}
		emit(l, t, PQL_T_EOF);
		l->done = true;
		return;
	}
	switch (r) {
	case ',':
		emit(l, t, PQL_T_COMMA);
		return;
	case '*':
		emit(l, t, PQL_T_MUL);
		return;
	case '/':
		emit(l, t, PQL_T_DIV);
		return;
	case '%':
		emit(l, t, PQL_T_MOD);
		return;
	case '+':
		emit(l, t, PQL_T_ADD);
		return;
	case '-':
		emit(l, t, PQL_T_SUB);
		return;
	case '^':
		emit(l, t, PQL_T_POW);
		return;
	case '=': {
		int n = peek(l);

		if (n == '=') {
			next(l);
			emit(l, t, PQL_T_EQLC);
		} else if (n == '~') {
			quote_rune(n, q, sizeof(q));
			errorf(l, t, "unexpected character after '=': %s", q);
		} else {
			emit(l, t, PQL_T_EQL);
		}
		return;
	}
	case '!': {
		int n = next(l);

		if (n != '=') {
			quote_rune(n, q, sizeof(q));
			errorf(l, t, "unexpected character after '!': %s", q);
			return;
		}
		emit(l, t, PQL_T_NEQ);
		return;
	}
	case '<':
		if (peek(l) == '=') {
			next(l);
			emit(l, t, PQL_T_LTE);
		} else if (peek(l) == '/') {
			next(l);
			emit(l, t, PQL_T_TRIM_UPPER);
		} else {
			emit(l, t, PQL_T_LSS);
		}
		return;
	case '>':
		if (peek(l) == '=') {
			next(l);
			emit(l, t, PQL_T_GTE);
		} else if (peek(l) == '/') {
			next(l);
			emit(l, t, PQL_T_TRIM_LOWER);
		} else {
			emit(l, t, PQL_T_GTR);
		}
		return;
	case '"':
	case '\'':
		lex_string(l, t, r);
		return;
	case '`':
		lex_raw_string(l, t);
		return;
	case '(':
		emit(l, t, PQL_T_LEFT_PAREN);
		l->paren_depth++;
		return;
	case ')':
		emit(l, t, PQL_T_RIGHT_PAREN);
		l->paren_depth--;
		if (l->paren_depth < 0)
			errorf(l, t, "unexpected right parenthesis ')'");
		return;
	case '{':
		emit(l, t, PQL_T_LEFT_BRACE);
		l->brace_open = true;
		return;
	case '[':
		if (l->bracket_open) {
			errorf(l, t, "unexpected left bracket '['");
			return;
		}
		l->got_colon = false;
		l->got_duration = false;
		emit(l, t, PQL_T_LEFT_BRACKET);
		l->bracket_open = true;
		l->dur_first = true;
		return;
	case ']':
		if (!l->bracket_open) {
			errorf(l, t, "unexpected right bracket ']'");
			return;
		}
		emit(l, t, PQL_T_RIGHT_BRACKET);
		l->bracket_open = false;
		l->got_colon = false;
		return;
	case '@':
		emit(l, t, PQL_T_AT);
		return;
	}
	if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
		backup(l);
		if (l->bracket_open)
			l->got_duration = true;
		lex_number_or_duration(l, t);
		return;
	}
	if (is_alpha(r) || r == ':') {
		if (!l->bracket_open) {
			backup(l);
			lex_keyword_or_identifier(l, t);
			return;
		}
		if (r == ':') {
			if (l->got_colon) {
				errorf(l, t, "unexpected colon ':'");
				return;
			}
			emit(l, t, PQL_T_COLON);
			l->got_colon = true;
			return;
		}
		if (scan_duration_keyword(l, t))
			return;
		quote_rune(r, q, sizeof(q));
		quote_rune(':', q2, sizeof(q2));
		errorf(l, t, "unexpected character: %s, expected %s", q, q2);
		return;
	}
	quote_rune(r, q, sizeof(q));
	errorf(l, t, "unexpected character: %s", q);
}

/* ---------------------------------------------------------------- describing */

bool pql_tok_is_operator(enum pql_tok t)
{
	return t > PQL_T_OPS_START && t < PQL_T_OPS_END;
}

bool pql_tok_is_aggregator(enum pql_tok t)
{
	return t > PQL_T_AGGS_START && t < PQL_T_AGGS_END;
}

bool pql_tok_is_keyword(enum pql_tok t)
{
	return t > PQL_T_KW_START && t < PQL_T_KW_END;
}

void pql_tok_describe(const char *input, const struct pql_token *t, char *out, size_t cap)
{
	const char *s = input + t->pos;
	size_t n = t->len;
	char q[200];

	switch (t->type) {
	case PQL_T_EOF:
		snprintf(out, cap, "end of input");
		return;
	case PQL_T_ERROR:
		snprintf(out, cap, "%s", t->msg ? t->msg : "error");
		return;
	case PQL_T_IDENTIFIER:
		pql_go_quote(s, n, q, sizeof(q));
		snprintf(out, cap, "identifier %s", q);
		return;
	case PQL_T_METRIC_IDENTIFIER:
		pql_go_quote(s, n, q, sizeof(q));
		snprintf(out, cap, "metric identifier %s", q);
		return;
	default:
		break;
	}
	if (pql_tok_is_keyword(t->type)) {
		snprintf(out, cap, "<%.*s>", (int)n, s);
		return;
	}
	if (pql_tok_is_operator(t->type)) {
		snprintf(out, cap, "<op:%.*s>", (int)n, s);
		return;
	}
	if (pql_tok_is_aggregator(t->type)) {
		snprintf(out, cap, "<aggr:%.*s>", (int)n, s);
		return;
	}
	if (t->type == PQL_T_NUMBER || t->type == PQL_T_DURATION || t->type == PQL_T_STRING) {
		const char *kind = t->type == PQL_T_NUMBER ? "number" :
				   t->type == PQL_T_DURATION ? "duration" : "string";

		if (n > 10) {
			/* %.10q: the first ten runes, quoted, then "..." */
			size_t k = 0, runes = 0, w;

			while (k < n && runes < 10) {
				decode_rune((const unsigned char *)s + k, n - k, &w);
				k += w;
				runes++;
			}
			pql_go_quote(s, k, q, sizeof(q));
			snprintf(out, cap, "%s %s...", kind, q);
		} else {
			pql_go_quote(s, n, q, sizeof(q));
			snprintf(out, cap, "%s %s", kind, q);
		}
		return;
	}
	/* punctuation and preprocessors: the text, quoted */
	pql_go_quote(s, n, q, sizeof(q));
	snprintf(out, cap, "%s", q);
}
