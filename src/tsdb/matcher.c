/*
 * matcher.c - label matchers with PCRE2 behind RE2-like semantics.
 *
 * Regex matchers are compiled once with PCRE2_ANCHORED | PCRE2_ENDANCHORED
 * (Prometheus anchors every regex at both ends), PCRE2_DOTALL (`.` matches
 * a newline, as Prometheus's `(?s:...)` wrapper does), PCRE2_DOLLAR_ENDONLY
 * (RE2's `$` without multi-line mode means end of text) and PCRE2_UTF;
 * they are JIT-compiled when PCRE2 supports it on this machine. Without
 * PCRE2_UCP, `\d`, `\w`, `\s` and `\b` are ASCII-only as in RE2.
 *
 * RE2 rejects a few constructs that PCRE2 accepts: backreferences,
 * look-around, atomic groups, possessive quantifiers, recursion, `\K`,
 * `(*VERB)`s, branch-reset groups and repetition counts over 1000. They
 * are rejected here too with an
 * "error parsing regexp" message, so a query is never answered with
 * semantics Prometheus would not have. Other RE2 syntax (`(?P<name>)`,
 * `\pL`, `\Q..\E`, `[[:alpha:]]`, `(?i)`) means the same in PCRE2.
 *
 * Fast paths, decided at init by looking at the source:
 *   `.*`                 everything (kind RE_ALL)
 *   `.+`                 any non-empty value (RE_NONEMPTY)
 *   `a|b|c`, `(a|b)`     a sorted set of literal values (RE_SET),
 *                        matched by binary search; a lone literal is a
 *                        one-element set
 *   `foo.*`              literal prefix (RE_PREFIX)
 *   anything else        PCRE2 (RE_GENERIC), after a literal-prefix check
 *                        when the regex starts with one
 *
 * Matching is thread-safe: the compiled code is read-only and each thread
 * matches with its own pcre2_match_data, created on first use and freed at
 * thread exit through a pthread key destructor.
 */
#include "tsdb/matcher.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum re_kind {
	RE_GENERIC = 0,  /* run PCRE2 */
	RE_ALL = 1,      /* `.*` */
	RE_NONEMPTY = 2, /* `.+` */
	RE_SET = 3,      /* alternation of literals */
	RE_PREFIX = 4,   /* literal followed by `.*` */
};

struct matcher_re {
	enum re_kind kind;  /* which fast path applies */
	pcre2_code *code;   /* compiled regex (always, for the generic path) */
	char **set;         /* RE_SET: sorted distinct literals, owned */
	size_t nset;        /* RE_SET: number of literals */
	char *prefix;       /* literal prefix of every match, or NULL; owned */
	size_t prefix_len;  /* strlen(prefix) */
	bool matches_empty; /* does the regex match ""? */
};

/* ------------------------------------------------------------ per-thread match data */

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_destroy(void *p)
{
	pcre2_match_data_free(p);
}

static void md_key_init(void)
{
	pthread_key_create(&md_key, md_destroy);
}

/* This thread's match data (one ovector pair is enough: we only need
 * "matched or not"; a too-small ovector still reports a match). */
static pcre2_match_data *thread_match_data(void)
{
	pcre2_match_data *md;

	pthread_once(&md_once, md_key_init);
	md = pthread_getspecific(md_key);
	if (!md) {
		md = pcre2_match_data_create(1, NULL);
		if (md)
			pthread_setspecific(md_key, md);
	}
	return md;
}

/* ------------------------------------------------------------ source analysis */

static bool is_meta(char c)
{
	return strchr("\\.+*?()|[]{}^$", c) != NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * Read one literal character at s[*i] (a plain character or an escaped
 * punctuation character) into *c. Returns false when s[*i] starts
 * anything else.
 */
static bool take_literal(const char *s, size_t *i, char *c)
{
	if (s[*i] == '\0')
		return false;
	if (s[*i] == '\\') {
		char e = s[*i + 1];

		if (e == '\0' || is_alnum(e) || (unsigned char)e >= 0x80)
			return false;
		*c = e;
		*i += 2;
		return true;
	}
	if (is_meta(s[*i]))
		return false;
	*c = s[*i];
	*i += 1;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_set(char **set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(set[i]);
	free(set);
}

/*
 * If src is an alternation of literals, optionally inside one group
 * `(...)` or `(?:...)`, build the sorted distinct set. Returns 1 when it
 * is one (set filled), 0 when not, TS_ERR_NOMEM.
 */
static int parse_set(const char *src, char ***set_out, size_t *n_out)
{
	size_t len = strlen(src), start = 0, end = len, i;
	size_t nalt = 1, k = 0;
	char **set;
	char *cur;

	if (len >= 2 && src[0] == '(' && src[len - 1] == ')') {
		start = (len >= 4 && src[1] == '?' && src[2] == ':') ? 3 : 1;
		end = len - 1;
		if (start > end)
			return 0;
	}
	/* validate and count alternatives */
	for (i = start; i < end;) {
		char c;

		if (src[i] == '|') {
			nalt++;
			i++;
			continue;
		}
		if (!take_literal(src, &i, &c))
			return 0;
	}
	if (i != end)
		return 0;
	set = calloc(nalt, sizeof(*set));
	cur = malloc(end - start + 1);
	if (!set || !cur) {
		free(set);
		free(cur);
		return TS_ERR_NOMEM;
	}
	for (i = start;;) {
		size_t w = 0;
		char c;

		while (i < end && src[i] != '|' && take_literal(src, &i, &c))
			cur[w++] = c;
		cur[w] = '\0';
		set[k] = strdup(cur);
		if (!set[k]) {
			free(cur);
			free_set(set, k);
			return TS_ERR_NOMEM;
		}
		k++;
		if (i >= end)
			break;
		i++; /* the '|' */
	}
	free(cur);
	qsort(set, k, sizeof(*set), cmp_str);
	/* dedupe */
	size_t w = 0;
	for (i = 0; i < k; i++) {
		if (w > 0 && strcmp(set[w - 1], set[i]) == 0) {
			free(set[i]);
			continue;
		}
		set[w++] = set[i];
	}
	*set_out = set;
	*n_out = w;
	return 1;
}

/* Does src have a `|` outside every group and character class? */
static bool has_top_level_alt(const char *s)
{
	int depth = 0;
	bool in_class = false;

	for (size_t i = 0; s[i]; i++) {
		char c = s[i];

		if (c == '\\') {
			if (s[i + 1])
				i++;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
			continue;
		}
		if (c == '[') {
			in_class = true;
			/* a ']' right after '[' or '[^' is literal */
			if (s[i + 1] == '^')
				i++;
			if (s[i + 1] == ']')
				i++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			depth--;
		} else if (c == '|' && depth == 0) {
			return true;
		}
	}
	return false;
}

/*
 * The literal prefix every match of src starts with (malloc'd, possibly
 * ""), and whether src is exactly that prefix followed by `.*`.
 */
static char *literal_prefix(const char *src, bool *exact)
{
	size_t i = 0, w = 0;
	char *p = malloc(strlen(src) + 1);
	char c;

	*exact = false;
	if (!p)
		return NULL;
	if (has_top_level_alt(src)) {
		p[0] = '\0';
		return p;
	}
	while (take_literal(src, &i, &c))
		p[w++] = c;
	/* a quantifier that allows zero repetitions makes the last literal
	 * (a whole UTF-8 character) optional */
	if (w > 0 && (src[i] == '*' || src[i] == '?' || src[i] == '{')) {
		while (w > 0 && ((unsigned char)p[w - 1] & 0xc0) == 0x80)
			w--;
		if (w > 0)
			w--;
	} else if (w > 0 && strcmp(src + i, ".*") == 0) {
		*exact = true;
	}
	p[w] = '\0';
	return p;
}

/*
 * Reject constructs RE2 does not have. Returns the offending offset or -1.
 */
static long unsupported_syntax(const char *s, const char **what)
{
	bool in_class = false;

	for (size_t i = 0; s[i]; i++) {
		char c = s[i];

		if (c == '\\') {
			char e = s[i + 1];

			if (!in_class && ((e >= '1' && e <= '9') || e == 'g' || e == 'k' || e == 'K' ||
					  e == 'R' || e == 'X' || e == 'G' || e == 'Z')) {
				*what = "unsupported escape sequence";
				return (long)i;
			}
			if (e)
				i++;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
			continue;
		}
		if (c == '[') {
			in_class = true;
			if (s[i + 1] == '^')
				i++;
			if (s[i + 1] == ']')
				i++;
			continue;
		}
		if (c == '(' && s[i + 1] == '*') {
			*what = "unsupported verb";
			return (long)i;
		}
		if (c == '(' && s[i + 1] == '?') {
			const char *r = s + i + 2;

			if (*r == '=' || *r == '!' || (*r == '<' && (r[1] == '=' || r[1] == '!'))) {
				*what = "unsupported look-around";
				return (long)i;
			}
			if (*r == '>' || *r == '|' || *r == 'R' || *r == '&' || *r == '(' ||
			    (*r >= '0' && *r <= '9') || *r == '+' || *r == '#' ||
			    (*r == 'P' && (r[1] == '=' || r[1] == '>'))) {
				*what = "unsupported group syntax";
				return (long)i;
			}
		}
		if (c == '{' && s[i + 1] >= '0' && s[i + 1] <= '9') {
			/* RE2 caps repetition counts at 1000 */
			char *end;
			unsigned long lo = strtoul(s + i + 1, &end, 10), hi = lo;

			if (end != s + i + 1 && *end == ',')
				hi = end[1] == '}' ? 0 : strtoul(end + 1, &end, 10);
			if (end != s + i + 1 && (*end == '}' || *end == ',') &&
			    (lo > 1000 || hi > 1000)) {
				*what = "invalid repeat count";
				return (long)i;
			}
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') && s[i + 1] == '+') {
			*what = "unsupported possessive quantifier";
			return (long)i + 1;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ lifecycle */

static void re_free(struct matcher_re *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	free_set(re->set, re->nset);
	free(re->prefix);
	free(re);
}

static bool pcre_matches(const struct matcher_re *re, const char *value, size_t len)
{
	pcre2_match_data *md = thread_match_data();
	int rc;

	if (!md)
		return false;
	rc = pcre2_match(re->code, (PCRE2_SPTR)value, len, 0, 0, md, NULL);
	return rc >= 0;
}

static int re_compile(struct matcher_re **out, const char *src, struct ts_error *err)
{
	struct matcher_re *re = calloc(1, sizeof(*re));
	uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL |
			PCRE2_DOLLAR_ENDONLY | PCRE2_UTF;
	const char *what = NULL;
	long bad;
	int errcode, rc;
	PCRE2_SIZE erroff;
	bool exact;

#ifdef PCRE2_MATCH_INVALID_UTF
	opts |= PCRE2_MATCH_INVALID_UTF;
#endif
	if (!re)
		return TS_ERR_NOMEM;
	bad = unsupported_syntax(src, &what);
	if (bad >= 0) {
		re_free(re);
		return ts_error_set(err, TS_ERR_INVALID,
				    "error parsing regexp: %s at offset %ld: `%s`", what, bad, src);
	}
	re->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts, &errcode,
				 &erroff, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[256];

		re_free(re);
		if (errcode == PCRE2_ERROR_NOMEMORY)
			return TS_ERR_NOMEM;
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return ts_error_set(err, TS_ERR_INVALID,
				    "error parsing regexp: %s at offset %zu: `%s`", (char *)msg,
				    (size_t)erroff, src);
	}
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* interpreter otherwise */

	if (strcmp(src, ".*") == 0) {
		re->kind = RE_ALL;
	} else if (strcmp(src, ".+") == 0) {
		re->kind = RE_NONEMPTY;
	} else {
		rc = parse_set(src, &re->set, &re->nset);
		if (rc < 0) {
			re_free(re);
			return rc;
		}
		if (rc == 1)
			re->kind = RE_SET;
	}
	if (re->kind == RE_GENERIC) {
		re->prefix = literal_prefix(src, &exact);
		if (!re->prefix) {
			re_free(re);
			return TS_ERR_NOMEM;
		}
		re->prefix_len = strlen(re->prefix);
		if (exact)
			re->kind = RE_PREFIX;
		if (re->prefix_len == 0) {
			free(re->prefix);
			re->prefix = NULL;
		}
	}
	re->matches_empty = pcre_matches(re, "", 0);
	*out = re;
	return 0;
}

int matcher_init(struct matcher *m, enum matcher_type type, const char *name,
		 const char *value, struct ts_error *err)
{
	int rc;

	memset(m, 0, sizeof(*m));
	if (type < MATCHER_EQ || type > MATCHER_NRE)
		return ts_error_set(err, TS_ERR_INVALID, "invalid matcher type %d", (int)type);
	m->type = type;
	m->name = strdup(name);
	m->value = strdup(value);
	if (!m->name || !m->value) {
		matcher_release(m);
		return TS_ERR_NOMEM;
	}
	if (type == MATCHER_RE || type == MATCHER_NRE) {
		rc = re_compile(&m->re, value, err);
		if (rc < 0) {
			matcher_release(m);
			return rc;
		}
	}
	return 0;
}

void matcher_release(struct matcher *m)
{
	free(m->name);
	free(m->value);
	re_free(m->re);
	m->name = NULL;
	m->value = NULL;
	m->re = NULL;
}

/* ------------------------------------------------------------ matching */

static bool set_contains(const struct matcher_re *re, const char *value)
{
	size_t lo = 0, hi = re->nset;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(re->set[mid], value);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool re_matches(const struct matcher_re *re, const char *value)
{
	switch (re->kind) {
	case RE_ALL:
		return true;
	case RE_NONEMPTY:
		return value[0] != '\0';
	case RE_SET:
		return set_contains(re, value);
	case RE_PREFIX:
		return strncmp(value, re->prefix, re->prefix_len) == 0;
	case RE_GENERIC:
	default:
		if (re->prefix && strncmp(value, re->prefix, re->prefix_len) != 0)
			return false;
		return pcre_matches(re, value, strlen(value));
	}
}

bool matcher_matches(const struct matcher *m, const char *value)
{
	switch (m->type) {
	case MATCHER_EQ:
		return strcmp(m->value, value) == 0;
	case MATCHER_NEQ:
		return strcmp(m->value, value) != 0;
	case MATCHER_RE:
		return re_matches(m->re, value);
	case MATCHER_NRE:
		return !re_matches(m->re, value);
	}
	return false;
}

bool matcher_matches_empty(const struct matcher *m)
{
	switch (m->type) {
	case MATCHER_EQ:
		return m->value[0] == '\0';
	case MATCHER_NEQ:
		return m->value[0] != '\0';
	case MATCHER_RE:
		return m->re->matches_empty;
	case MATCHER_NRE:
		return !m->re->matches_empty;
	}
	return false;
}

const char *const *matcher_set_values(const struct matcher *m, size_t *n)
{
	if (!m->re || m->re->kind != RE_SET) {
		*n = 0;
		return NULL;
	}
	*n = m->re->nset;
	return (const char *const *)m->re->set;
}

const char *matcher_prefix(const struct matcher *m)
{
	if (!m->re)
		return NULL;
	return m->re->prefix;
}
