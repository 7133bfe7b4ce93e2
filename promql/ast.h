/*
 * ast.h - the PromQL syntax tree built by the parser (parser.h) and walked
 * by the engine and the printer.
 *
 * HOW TO WALK IT
 *
 *   Every node is a struct pql_node: `kind` says which member of the union
 *   `u` is valid, `type` is the value type the node evaluates to (scalar,
 *   string, vector, matrix; see enum pql_type in engine.h) and `pos` is the
 *   byte range of the node in the query text (for error messages and the
 *   "(line:col)" suffix of annotations; pql_pos_linecol converts).
 *
 *     kind                 member   children
 *     PQL_NODE_NUMBER      u.num    -
 *     PQL_NODE_STRING      u.str    -
 *     PQL_NODE_VECTOR      u.vs     -            (instant vector selector)
 *     PQL_NODE_MATRIX      u.ms     u.ms.vs      (a PQL_NODE_VECTOR)
 *     PQL_NODE_SUBQUERY    u.sq     u.sq.expr
 *     PQL_NODE_UNARY       u.un     u.un.expr
 *     PQL_NODE_BINARY      u.bin    u.bin.lhs, u.bin.rhs
 *     PQL_NODE_AGGREGATE   u.agg    u.agg.expr, u.agg.param (NULL unless
 *                                   topk/bottomk/quantile/count_values/
 *                                   limitk/limit_ratio)
 *     PQL_NODE_CALL        u.call   u.call.args[0..nargs)
 *     PQL_NODE_PAREN       u.paren  u.paren.expr
 *     PQL_NODE_DURATION    u.dur    only found in the *_expr fields below
 *
 *   Invariants the parser guarantees for a tree it returns (0 from
 *   pql_parse):
 *   1. Types are checked as Prometheus's parser does: function arguments
 *      have the declared types, binary operands are scalars or instant
 *      vectors, set operators have vectors on both sides, `bool` only on
 *      comparisons, aggregation params have the right type, etc.
 *   2. A unary minus/plus applied directly to a number literal is folded
 *      into the literal (`-1` is a NUMBER -1), as Prometheus does.
 *   3. `offset`, `@`, `anchored` and `smoothed` of a range selector are
 *      stored on its inner vector selector (u.ms.vs->u.vs), as in
 *      Prometheus; a subquery has its own offset/@ fields.
 *   4. Durations are in milliseconds. range_ms/step_ms/offset_ms are
 *      final when the source was a literal (ranges and steps of literals
 *      are >= 1 ms). When the matching *_expr field is non-NULL the
 *      source was a duration expression ([5m+1m], offset (2*step())):
 *      call pql_ast_resolve_durations() once per query, with the query's
 *      step and range, before evaluating. It fills the *_ms fields from
 *      the expressions and rejects ranges/steps that are not positive,
 *      as Prometheus's engine does (constant expressions already hold
 *      their value, but are only checked there).
 *   5. Every vector selector's matchers include the metric name as a
 *      `__name__` equality matcher when a name was written (`foo{a="b"}`
 *      gives two matchers: __name__="foo", a="b"), in source order with
 *      the name first.
 *   6. Binary u.bin.vm (vector matching) is meaningful only when both
 *      operands are instant vectors (it is zeroed otherwise); for set
 *      operators (and/or/unless) its card is PQL_CARD_MANY_TO_MANY.
 *   7. start(), end(), step(), range(), min_of(a, b), max_of(a, b) in an
 *      expression are PQL_NODE_CALLs (PQL_FN_START...); inside ranges and
 *      offsets step()/range()/min_of/max_of are PQL_NODE_DURATION ops.
 *      `@ start()` / `@ end()` are PQL_AT_START / PQL_AT_END.
 *
 *   Everything lives in the arena passed to pql_parse, except the
 *   compiled regexes inside the matchers (struct matcher from
 *   tsdb/matcher.h): call pql_ast_release(root) before freeing the arena.
 *   Trees are read-only for the engine apart from
 *   pql_ast_resolve_durations(); they are not thread-safe to resolve.
 *
 *   This header only grows: fields and enum values are added, never
 *   renamed or removed.
 */
#ifndef VARVE_PROMQL_AST_H
#define VARVE_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promql/engine.h" /* enum pql_type */
#include "tsdb/matcher.h"
#include "util/error.h"

struct pql_node;

/* Byte offsets [start, end) of a node in the query text. */
struct pql_posrange {
	size_t start; /* first byte */
	size_t end;   /* one past the last byte */
};

enum pql_node_kind {
	PQL_NODE_NUMBER = 1, /* number literal (or a duration literal like 5m) */
	PQL_NODE_STRING,     /* string literal */
	PQL_NODE_VECTOR,     /* instant vector selector */
	PQL_NODE_MATRIX,     /* range vector selector: selector[range] */
	PQL_NODE_SUBQUERY,   /* expr[range:step] */
	PQL_NODE_UNARY,      /* -expr, +expr */
	PQL_NODE_BINARY,     /* lhs op lhs */
	PQL_NODE_AGGREGATE,  /* sum by (x) (expr) */
	PQL_NODE_CALL,       /* function call */
	PQL_NODE_PAREN,      /* (expr) */
	PQL_NODE_DURATION,   /* duration arithmetic: [5m+1m], offset (2*3s) */
};

/* Binary operators (also the op of unary expressions: ADD or SUB). */
enum pql_binop {
	PQL_OP_ADD = 1, /* + */
	PQL_OP_SUB,     /* - */
	PQL_OP_MUL,     /* * */
	PQL_OP_DIV,     /* / */
	PQL_OP_MOD,     /* % */
	PQL_OP_POW,     /* ^ (right-associative) */
	PQL_OP_ATAN2,   /* atan2 */
	PQL_OP_EQLC,    /* == */
	PQL_OP_NEQ,     /* != */
	PQL_OP_GTR,     /* > */
	PQL_OP_LSS,     /* < */
	PQL_OP_GTE,     /* >= */
	PQL_OP_LTE,     /* <= */
	PQL_OP_AND,     /* and */
	PQL_OP_OR,      /* or */
	PQL_OP_UNLESS,  /* unless */
	PQL_OP_TRIM_UPPER, /* </ : native histograms, drop buckets above rhs */
	PQL_OP_TRIM_LOWER, /* >/ : native histograms, drop buckets below rhs */
};

/* Aggregation operators. */
enum pql_aggop {
	PQL_AGG_SUM = 1,
	PQL_AGG_AVG,
	PQL_AGG_COUNT,
	PQL_AGG_MIN,
	PQL_AGG_MAX,
	PQL_AGG_GROUP,
	PQL_AGG_STDDEV,
	PQL_AGG_STDVAR,
	PQL_AGG_TOPK,         /* param: scalar k */
	PQL_AGG_BOTTOMK,      /* param: scalar k */
	PQL_AGG_COUNT_VALUES, /* param: string label name */
	PQL_AGG_QUANTILE,     /* param: scalar phi */
	PQL_AGG_LIMITK,       /* param: scalar k (experimental) */
	PQL_AGG_LIMIT_RATIO,  /* param: scalar ratio (experimental) */
};

/* Vector matching cardinality of a binary operation between vectors. */
enum pql_card {
	PQL_CARD_ONE_TO_ONE = 0,
	PQL_CARD_MANY_TO_ONE,  /* group_left */
	PQL_CARD_ONE_TO_MANY,  /* group_right */
	PQL_CARD_MANY_TO_MANY, /* and, or, unless */
};

/* What an @ modifier says. */
enum pql_at {
	PQL_AT_NONE = 0, /* no @ */
	PQL_AT_TIME,     /* @ <number>: at_ms holds the time */
	PQL_AT_START,    /* @ start(): the query's start time */
	PQL_AT_END,      /* @ end(): the query's end time */
};

/* Operations of duration expressions (PQL_NODE_DURATION). */
enum pql_durop {
	PQL_DUR_ADD = 1, /* lhs + rhs */
	PQL_DUR_SUB,     /* lhs - rhs */
	PQL_DUR_MUL,     /* lhs * rhs */
	PQL_DUR_DIV,     /* lhs / rhs */
	PQL_DUR_MOD,     /* lhs % rhs */
	PQL_DUR_POW,     /* lhs ^ rhs */
	PQL_DUR_NEG,     /* -rhs (lhs NULL) */
	PQL_DUR_POS,     /* +rhs (lhs NULL) */
	PQL_DUR_STEP,    /* step(): the query step (no children) */
	PQL_DUR_RANGE,   /* range(): end - start of the query (no children) */
	PQL_DUR_MIN_OF,  /* min_of(lhs, rhs) */
	PQL_DUR_MAX_OF,  /* max_of(lhs, rhs) */
	PQL_DUR_PAREN,   /* (rhs) kept for printing (lhs NULL) */
};

/* Function identifiers, one per entry of the function table. */
enum pql_func_id {
	PQL_FN_ABS = 1,
	PQL_FN_ABSENT,
	PQL_FN_ABSENT_OVER_TIME,
	PQL_FN_ACOS,
	PQL_FN_ACOSH,
	PQL_FN_ASIN,
	PQL_FN_ASINH,
	PQL_FN_ATAN,
	PQL_FN_ATANH,
	PQL_FN_AVG_OVER_TIME,
	PQL_FN_CEIL,
	PQL_FN_CHANGES,
	PQL_FN_CLAMP,
	PQL_FN_CLAMP_MAX,
	PQL_FN_CLAMP_MIN,
	PQL_FN_COS,
	PQL_FN_COSH,
	PQL_FN_COUNT_OVER_TIME,
	PQL_FN_DAYS_IN_MONTH,
	PQL_FN_DAY_OF_MONTH,
	PQL_FN_DAY_OF_WEEK,
	PQL_FN_DAY_OF_YEAR,
	PQL_FN_DEG,
	PQL_FN_DELTA,
	PQL_FN_DERIV,
	PQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING, /* experimental */
	PQL_FN_END,                          /* experimental: end() */
	PQL_FN_EXP,
	PQL_FN_FIRST_OVER_TIME,              /* experimental */
	PQL_FN_FLOOR,
	PQL_FN_HISTOGRAM_AVG,
	PQL_FN_HISTOGRAM_COUNT,
	PQL_FN_HISTOGRAM_FRACTION,
	PQL_FN_HISTOGRAM_QUANTILE,
	PQL_FN_HISTOGRAM_QUANTILES,          /* experimental */
	PQL_FN_HISTOGRAM_STDDEV,
	PQL_FN_HISTOGRAM_STDVAR,
	PQL_FN_HISTOGRAM_SUM,
	PQL_FN_HOUR,
	PQL_FN_IDELTA,
	PQL_FN_INCREASE,
	PQL_FN_INFO,                         /* experimental */
	PQL_FN_INTEGRAL,                     /* experimental */
	PQL_FN_IRATE,
	PQL_FN_LABEL_JOIN,
	PQL_FN_LABEL_REPLACE,
	PQL_FN_LAST_OVER_TIME,
	PQL_FN_LN,
	PQL_FN_LOG10,
	PQL_FN_LOG2,
	PQL_FN_MAD_OVER_TIME,                /* experimental */
	PQL_FN_MAX_OVER_TIME,
	PQL_FN_MIN_OVER_TIME,
	PQL_FN_MINUTE,
	PQL_FN_MONTH,
	PQL_FN_PI,
	PQL_FN_PREDICT_LINEAR,
	PQL_FN_PRESENT_OVER_TIME,
	PQL_FN_QUANTILE_OVER_TIME,
	PQL_FN_RAD,
	PQL_FN_RANGE,                        /* experimental: range() */
	PQL_FN_RATE,
	PQL_FN_RESETS,
	PQL_FN_ROUND,
	PQL_FN_SCALAR,
	PQL_FN_SGN,
	PQL_FN_SIN,
	PQL_FN_SINH,
	PQL_FN_SORT,
	PQL_FN_SORT_BY_LABEL,                /* experimental */
	PQL_FN_SORT_BY_LABEL_DESC,           /* experimental */
	PQL_FN_SORT_DESC,
	PQL_FN_SQRT,
	PQL_FN_START,                        /* experimental: start() */
	PQL_FN_START_TIMESTAMP,              /* experimental */
	PQL_FN_STEP,                         /* experimental: step() */
	PQL_FN_STDDEV_OVER_TIME,
	PQL_FN_STDVAR_OVER_TIME,
	PQL_FN_SUM_OVER_TIME,
	PQL_FN_TAN,
	PQL_FN_TANH,
	PQL_FN_TIME,
	PQL_FN_TIMESTAMP,
	PQL_FN_TS_OF_FIRST_OVER_TIME,        /* experimental */
	PQL_FN_TS_OF_LAST_OVER_TIME,         /* experimental */
	PQL_FN_TS_OF_MAX_OVER_TIME,          /* experimental */
	PQL_FN_TS_OF_MIN_OVER_TIME,          /* experimental */
	PQL_FN_VECTOR,
	PQL_FN_YEAR,
	PQL_FN_MIN_OF,                       /* min_of(scalar, scalar) */
	PQL_FN_MAX_OF,                       /* max_of(scalar, scalar) */
};

#define PQL_FUNC_MAX_ARGTYPES 5

/* A function of the language: a row of the static function table. */
struct pql_func {
	enum pql_func_id id;                              /* identifier */
	const char *name;                                 /* as written in queries */
	enum pql_type arg_types[PQL_FUNC_MAX_ARGTYPES];   /* declared argument types */
	size_t nargs;                                     /* entries used in arg_types */
	int variadic;  /* 0: exactly nargs args; n > 0: the last declared
			* argument is optional and up to n more of its type
			* may follow (nargs-1 .. nargs-1+n args); -1: the
			* last one may repeat without limit (nargs-1 or more) */
	enum pql_type ret;                                /* return type */
	bool experimental;                                /* behind the experimental flag */
};

/* The function named name[0..len), or NULL. Static storage. */
const struct pql_func *pql_func_lookup(const char *name, size_t len);

/* The table itself: *n gets the number of entries (sorted by name). */
const struct pql_func *pql_func_table(size_t *n);

/* Type of the i-th actual argument of a call to f (handles variadics). */
enum pql_type pql_func_arg_type(const struct pql_func *f, size_t i);

/* ---------------------------------------------------------------- nodes */

struct pql_number {
	double val;    /* value; durations in seconds (5m is 300) */
	bool duration; /* written as a duration (5m, 1h30m): print as one */
};

struct pql_string {
	const char *val; /* unescaped value, NUL-terminated, in the arena */
	size_t len;      /* length (the value may contain NUL bytes) */
};

struct pql_vector_sel {
	const char *name;          /* metric name written before `{` or as a
				    * lone quoted string inside it; NULL if none */
	struct matcher *matchers;  /* nmatchers matchers (regexes owned: see
				    * pql_ast_release), array in the arena */
	size_t nmatchers;          /* number of matchers */
	int64_t offset_ms;         /* offset as written (negative allowed), 0 if none */
	struct pql_node *offset_expr; /* duration expression of the offset, or NULL
				       * when it was a plain literal/absent */
	enum pql_at at;            /* @ modifier kind */
	int64_t at_ms;             /* @ time in ms when at == PQL_AT_TIME */
	bool anchored;             /* `anchored` range modifier */
	bool smoothed;             /* `smoothed` range modifier */
	bool bypass_empty_check;   /* second argument of info(): exempt from the
				    * "at least one non-empty matcher" rule */
	struct pql_posrange name_pos; /* where the metric name was written (or
				       * {0,0} when none) */
};

struct pql_matrix_sel {
	struct pql_node *vs;       /* the PQL_NODE_VECTOR selector */
	int64_t range_ms;          /* range in ms */
	struct pql_node *range_expr; /* duration expression, or NULL for a literal */
};

struct pql_subquery {
	struct pql_node *expr;     /* the inner expression (instant vector) */
	int64_t range_ms;          /* range in ms */
	struct pql_node *range_expr; /* or NULL */
	int64_t step_ms;           /* step in ms; 0 means the default step */
	struct pql_node *step_expr;  /* or NULL */
	int64_t offset_ms;         /* offset as written, 0 if none */
	struct pql_node *offset_expr; /* or NULL */
	enum pql_at at;            /* @ modifier kind */
	int64_t at_ms;             /* @ time in ms when at == PQL_AT_TIME */
};

struct pql_unary {
	enum pql_binop op;         /* PQL_OP_SUB or PQL_OP_ADD */
	struct pql_node *expr;     /* operand */
};

struct pql_vector_matching {
	enum pql_card card;        /* cardinality */
	bool on;                   /* on(...) given (else ignoring(...) or nothing) */
	const char **labels;       /* on/ignoring labels, nlabels of them */
	size_t nlabels;
	const char **include;      /* group_left/group_right labels, ninclude of them */
	size_t ninclude;
	bool has_fill_left;        /* fill(v) or fill_left(v) given */
	double fill_left;          /* value for a missing left-hand sample */
	bool has_fill_right;       /* fill(v) or fill_right(v) given */
	double fill_right;         /* value for a missing right-hand sample */
	bool explicit_matching;    /* on(...) or ignoring(...) was written */
};

struct pql_binary {
	enum pql_binop op;         /* operator */
	struct pql_node *lhs;      /* left operand */
	struct pql_node *rhs;      /* right operand */
	bool return_bool;          /* `bool` modifier on a comparison */
	struct pql_vector_matching vm; /* see invariant 6 */
};

struct pql_aggregate {
	enum pql_aggop op;         /* operator */
	struct pql_node *expr;     /* the aggregated instant vector */
	struct pql_node *param;    /* parameter (k, phi, label) or NULL */
	const char **grouping;     /* by/without labels, ngrouping of them */
	size_t ngrouping;
	bool without;              /* `without` (else `by` or nothing) */
	bool by;                   /* `by` was written (even if empty) */
};

struct pql_call {
	const struct pql_func *func; /* the function (static table) */
	struct pql_node **args;    /* nargs arguments */
	size_t nargs;
};

struct pql_paren {
	struct pql_node *expr;     /* the parenthesised expression */
};

struct pql_duration {
	enum pql_durop op;         /* operation */
	struct pql_node *lhs;      /* left operand or NULL (see enum pql_durop) */
	struct pql_node *rhs;      /* right operand or NULL */
};

/* A node of the tree; `kind` selects the member of u. */
struct pql_node {
	enum pql_node_kind kind;   /* which member of u is valid */
	enum pql_type type;        /* value type the node evaluates to */
	struct pql_posrange pos;   /* byte range in the query text */
	union {
		struct pql_number num;
		struct pql_string str;
		struct pql_vector_sel vs;
		struct pql_matrix_sel ms;
		struct pql_subquery sq;
		struct pql_unary un;
		struct pql_binary bin;
		struct pql_aggregate agg;
		struct pql_call call;
		struct pql_paren paren;
		struct pql_duration dur;
	} u;
};

/* ---------------------------------------------------------------- helpers */

/*
 * Release what the tree owns outside its arena (matchers' compiled
 * regexes and strings). Call once before freeing the arena; NULL is a
 * no-op. The tree must not be used for matching afterwards.
 */
void pql_ast_release(struct pql_node *root);

/*
 * Store the direct children of n (NULL ones skipped; duration
 * expressions not included) into kids[0..cap) and return how many n has
 * (which may exceed cap).
 */
size_t pql_node_children(const struct pql_node *n, struct pql_node **kids, size_t cap);

/* n with any number of PQL_NODE_PAREN wrappers removed. */
struct pql_node *pql_unparen(struct pql_node *n);

/* "+", "==", "and", "atan2", ... */
const char *pql_binop_str(enum pql_binop op);

/* "sum", "count_values", ... */
const char *pql_aggop_str(enum pql_aggop op);

/* True for ==, !=, >, <, >=, <=. */
bool pql_binop_is_comparison(enum pql_binop op);

/* True for and, or, unless. */
bool pql_binop_is_set(enum pql_binop op);

/* True when a duration expression does not use step() or range(). */
bool pql_duration_is_const(const struct pql_node *d);

/*
 * Evaluate a duration expression (PQL_NODE_DURATION or PQL_NODE_NUMBER)
 * to seconds, with step() = step_ms and range() = range_ms. Returns 0, or
 * TS_ERR_INVALID with err filled (division by zero, out of range).
 */
int pql_duration_eval(const struct pql_node *d, int64_t step_ms, int64_t range_ms,
		      double *out_seconds, struct ts_error *err);

/* Seconds (a duration expression's value) to milliseconds, truncating
 * toward zero like Prometheus but immune to binary rounding (9.001 s is
 * 9001 ms). No range check. */
int64_t pql_secs_to_ms(double seconds);

/*
 * Recompute every range_ms/step_ms/offset_ms of the tree whose *_expr
 * is set, with step() = step_ms (0 for an instant query) and range() =
 * range_ms (end - start, 0 for an instant query). Returns 0 or
 * TS_ERR_INVALID with err filled (e.g. a range that is not positive).
 */
int pql_ast_resolve_durations(struct pql_node *root, int64_t step_ms, int64_t range_ms,
			      struct ts_error *err);

/*
 * 1-based line and column (in bytes, like Prometheus) of byte offset pos
 * in query.
 */
void pql_pos_linecol(const char *query, size_t pos, int *line, int *col);

struct buf;

/*
 * Append n printed as Prometheus's String() does (the canonical form used
 * by format_query) to b (util/buf.h); check buf_ok(b) afterwards.
 * Implemented in printer.c.
 */
void pql_node_print(const struct pql_node *n, struct buf *b);

/*
 * Append n as Prometheus's Pretty(level) prints it (what format_query
 * returns): pql_node_print's text if it fits in 100 columns, otherwise
 * split over indented lines. Implemented in printer.c.
 */
void pql_node_pretty(const struct pql_node *n, int level, struct buf *b);

/* pql_node_pretty with another line width than 100 (for tests). */
void pql_node_pretty_width(const struct pql_node *n, int level, size_t width, struct buf *b);

#endif
