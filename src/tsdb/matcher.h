/*
 * matcher.h - label matchers: =, !=, =~, !~.
 *
 * Regexes use RE2 syntax as Prometheus does, compiled with PCRE2 (JIT when
 * available) and fully anchored: `a.*` matches "abc" but not "xabc". As in
 * Prometheus, `.` also matches a newline. A label that is absent from a
 * series matches as the empty string, so `{foo=""}` selects series without
 * `foo` and `{foo!=""}` series that have it.
 */
#ifndef VARVE_TSDB_MATCHER_H
#define VARVE_TSDB_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum matcher_type {
	MATCHER_EQ = 0,  /* name="value" */
	MATCHER_NEQ = 1, /* name!="value" */
	MATCHER_RE = 2,  /* name=~"regex" */
	MATCHER_NRE = 3, /* name!~"regex" */
};

struct matcher_re; /* compiled regex and fast-path data (matcher.c) */

/* A matcher; initialise with matcher_init, release with matcher_release. */
struct matcher {
	enum matcher_type type; /* kind of match */
	char *name;             /* label name, owned (malloc) */
	char *value;            /* literal value or regex source, owned (malloc) */
	struct matcher_re *re;  /* compiled regex for RE/NRE, owned; NULL otherwise */
};

/*
 * Initialise m by copying name and value; compiles the regex for RE/NRE.
 * Returns 0, TS_ERR_INVALID with err filled for a bad regex, or
 * TS_ERR_NOMEM. On failure m holds nothing to release.
 */
int matcher_init(struct matcher *m, enum matcher_type type, const char *name,
		 const char *value, struct ts_error *err);

/* Free what matcher_init allocated. Safe on a zeroed matcher. */
void matcher_release(struct matcher *m);

/* Does the label value (NUL-terminated, "" when absent) satisfy m?
 * Thread-safe: many threads may match with one matcher at once. */
bool matcher_matches(const struct matcher *m, const char *value);

/* matcher_matches(m, "") computed once at init. */
bool matcher_matches_empty(const struct matcher *m);

/*
 * For RE and NRE matchers whose regex is a plain alternation of literals
 * ("a|b|c", also "(a|b)" or a lone literal), the distinct literals in
 * strcmp order; *n gets their count. NULL otherwise. Owned by m.
 */
const char *const *matcher_set_values(const struct matcher *m, size_t *n);

/* For RE and NRE matchers, a non-empty literal prefix every match of the
 * regex starts with (for `foo.*`, also `foo[0-9]+`), or NULL. */
const char *matcher_prefix(const struct matcher *m);

#endif
