/*
 * labels.h - label sets and the symbol table that interns their strings.
 *
 * A label set is an array of (name, value) pairs sorted by name, with no
 * duplicate names and no empty values; `__name__` is the metric name.
 * Inside the store every name and value is interned once in a symtab, so
 * label sets held by the head point at shared, immutable strings that live
 * as long as the symtab. Label sets built by callers (decoders, PromQL) may
 * point anywhere; they are interned when a series is created.
 */
#ifndef VARVE_TSDB_LABELS_H
#define VARVE_TSDB_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define LABEL_NAME "__name__"

/* One label; strings are NUL-terminated. */
struct label {
	const char *name;  /* label name */
	const char *value; /* label value, never empty inside the store */
};

/* A label set: n labels at v, sorted by name (strcmp order). */
struct labels {
	struct label *v; /* the labels; ownership documented by whoever hands it out */
	size_t n;        /* number of labels */
};

/* Compare two label sets the way Prometheus sorts them: pairwise by name,
 * then value; a prefix sorts first. Returns <0, 0, >0. */
int labels_cmp(const struct labels *a, const struct labels *b);

/* True when both sets hold the same pairs. */
bool labels_equal(const struct labels *a, const struct labels *b);

/* 64-bit XXH3 hash of a sorted label set (names and values with
 * separators, so {a="bc"} and {ab="c"} differ). Stable across runs. */
uint64_t labels_hash(const struct labels *ls);

/* Value of label `name`, or NULL when absent. Binary search. */
const char *labels_get(const struct labels *ls, const char *name);

/* Sort ls->v by name in place (stable, insertion sort for small sets). */
void labels_sort(struct labels *ls);

/* True when s[0..len) matches [a-zA-Z_][a-zA-Z0-9_]*. */
bool label_name_valid(const char *s, size_t len);

/* True when s[0..len) matches [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool metric_name_valid(const char *s, size_t len);

/* True when s[0..len) is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

/*
 * Check a label set for storage: sorts it if needed, then requires a
 * non-empty `__name__`, valid label names, UTF-8 values, no duplicate names
 * and no empty values (an empty value is dropped: it means "absent").
 * On failure fills err with a one-line reason naming the label and returns
 * TS_ERR_INVALID. ls->v is modified in place (sorted, empties removed).
 */
int labels_validate(struct labels *ls, struct ts_error *err);

/* Append `{a="b", c="d"}` form (name first as `name{...}`) to a buffer of
 * size cap; returns the length it needed (like snprintf). */
size_t labels_format(const struct labels *ls, char *out, size_t cap);

/* ------------------------------------------------------------- symtab */

struct symtab;

/* New empty symbol table; NULL when out of memory. Free with symtab_free. */
struct symtab *symtab_new(void);

/* Free the table and every interned string. NULL is a no-op. */
void symtab_free(struct symtab *st);

/*
 * The interned copy of s[0..len): a NUL-terminated string owned by st,
 * valid until symtab_free, identical pointer for identical strings.
 * Thread-safe. NULL when out of memory.
 */
const char *symtab_intern(struct symtab *st, const char *s, size_t len);

/* Number of distinct strings interned, and bytes they take. */
size_t symtab_count(struct symtab *st);
size_t symtab_bytes(struct symtab *st);

#endif
