/*
 * lexer.h - PromQL tokenizer (internal to the parser and its tests).
 *
 * A pull lexer with the same states as Prometheus's: outside braces words
 * may be keywords (case-insensitive), inside `{...}` every word is an
 * identifier and `=~`/`!~` are matcher operators, inside `[...]` only
 * numbers, durations, arithmetic and step()/range()/min_of()/max_of()
 * are allowed. Comments (`#` to end of line) are skipped. After an ERROR
 * token the lexer returns EOF forever.
 */
#ifndef VARVE_PROMQL_LEXER_H
#define VARVE_PROMQL_LEXER_H

#include <stdbool.h>
#include <stddef.h>

enum pql_tok {
	PQL_T_EOF = 0,
	PQL_T_ERROR,
	PQL_T_IDENTIFIER,        /* foo */
	PQL_T_METRIC_IDENTIFIER, /* foo:bar (contains a colon) */
	PQL_T_NUMBER,            /* 1, 0x1f, 1e3, Inf, NaN */
	PQL_T_DURATION,          /* 5m, 1h30m */
	PQL_T_STRING,            /* "...", '...', `...` (text includes quotes) */
	PQL_T_LEFT_PAREN,
	PQL_T_RIGHT_PAREN,
	PQL_T_LEFT_BRACE,
	PQL_T_RIGHT_BRACE,
	PQL_T_LEFT_BRACKET,
	PQL_T_RIGHT_BRACKET,
	PQL_T_COMMA,
	PQL_T_EQL,               /* = */
	PQL_T_COLON,
	/* operators */
	PQL_T_OPS_START,
	PQL_T_ADD,
	PQL_T_SUB,
	PQL_T_MUL,
	PQL_T_DIV,
	PQL_T_MOD,
	PQL_T_POW,
	PQL_T_EQLC,              /* == */
	PQL_T_NEQ,               /* != */
	PQL_T_LSS,
	PQL_T_LTE,
	PQL_T_GTR,
	PQL_T_GTE,
	PQL_T_EQL_REGEX,         /* =~ */
	PQL_T_NEQ_REGEX,         /* !~ */
	PQL_T_LAND,
	PQL_T_LOR,
	PQL_T_LUNLESS,
	PQL_T_ATAN2,
	PQL_T_AT,                /* @ */
	PQL_T_TRIM_UPPER,        /* </ */
	PQL_T_TRIM_LOWER,        /* >/ */
	PQL_T_OPS_END,
	/* aggregators */
	PQL_T_AGGS_START,
	PQL_T_AVG,
	PQL_T_BOTTOMK,
	PQL_T_COUNT,
	PQL_T_COUNT_VALUES,
	PQL_T_GROUP,
	PQL_T_MAX,
	PQL_T_MIN,
	PQL_T_QUANTILE,
	PQL_T_STDDEV,
	PQL_T_STDVAR,
	PQL_T_SUM,
	PQL_T_TOPK,
	PQL_T_LIMITK,
	PQL_T_LIMIT_RATIO,
	PQL_T_AGGS_END,
	/* keywords */
	PQL_T_KW_START,
	PQL_T_BOOL,
	PQL_T_BY,
	PQL_T_GROUP_LEFT,
	PQL_T_GROUP_RIGHT,
	PQL_T_IGNORING,
	PQL_T_OFFSET,
	PQL_T_SMOOTHED,
	PQL_T_ANCHORED,
	PQL_T_ON,
	PQL_T_WITHOUT,
	PQL_T_FILL,
	PQL_T_FILL_LEFT,
	PQL_T_FILL_RIGHT,
	PQL_T_KW_END,
	/* preprocessors (shown quoted in errors, not as <kw>) */
	PQL_T_START,
	PQL_T_END,
	PQL_T_STEP,
	PQL_T_RANGE,
	PQL_T_MIN_OF,            /* only inside brackets */
	PQL_T_MAX_OF,            /* only inside brackets */
};

/* A token: input[pos .. pos+len). ERROR tokens carry a message instead. */
struct pql_token {
	enum pql_tok type; /* kind */
	size_t pos;        /* byte offset of the first character */
	size_t len;        /* length of the text */
	const char *msg;   /* ERROR: the message (valid until the next error) */
};

struct pql_lexer {
	const char *in;     /* input */
	size_t len;         /* input length */
	size_t pos;         /* scan position */
	size_t start;       /* start of the token being scanned */
	size_t width;       /* byte width of the last rune read */
	int paren_depth;    /* open ( */
	bool brace_open;    /* inside { } */
	bool bracket_open;  /* inside [ ] */
	bool got_colon;     /* saw : inside [ ] */
	bool got_duration;  /* saw a duration inside [ ] */
	bool dur_first;     /* the next token is the first after [ or ( in [ ] */
	bool done;          /* EOF or ERROR returned */
	char msg[256];      /* last error message */
};

/* Start scanning input[0..len). */
void pql_lexer_init(struct pql_lexer *l, const char *input, size_t len);

/* Scan the next token into t (comments skipped). */
void pql_lexer_next(struct pql_lexer *l, struct pql_token *t);

/* True for tokens Prometheus calls operators / aggregators / keywords. */
bool pql_tok_is_operator(enum pql_tok t);
bool pql_tok_is_aggregator(enum pql_tok t);
bool pql_tok_is_keyword(enum pql_tok t);

/*
 * Describe a token the way Prometheus's error messages do
 * (`<op:+>`, `identifier "foo"`, `end of input`, `"("`) into out[0..cap).
 */
void pql_tok_describe(const char *input, const struct pql_token *t, char *out, size_t cap);

/* Append Go's %q quoting of s[0..n) to out (NUL-terminated, truncating). */
void pql_go_quote(const char *s, size_t n, char *out, size_t cap);

#endif
