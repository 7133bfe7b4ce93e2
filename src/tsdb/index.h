/*
 * index.h - the head's inverted index: postings lists and label tables.
 *
 * For every (label name, value) pair the index keeps the sorted list of
 * ids of the series carrying it (a "postings list"), and for every name
 * the set of its values. Matchers are resolved into one postings list:
 * `=` takes one list, `=~` the union of the lists whose value matches,
 * matchers that match the empty string subtract the series whose value
 * does not match, and the lists are intersected smallest first.
 *
 * Thread-safety: every call may run concurrently with every other.
 * Readers copy what they need under a read lock (copy-on-read) and work
 * on the copies, so a query holds a lock only while copying.
 */
#ifndef VARVE_TSDB_INDEX_H
#define VARVE_TSDB_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/labels.h"
#include "tsdb/matcher.h"

/* A sorted list of distinct series ids; embedded value. */
struct postings {
	uint32_t *ids; /* malloc'd, ascending; NULL when empty */
	size_t n;      /* number of ids */
	size_t cap;    /* allocated entries */
};

#define POSTINGS_INIT { NULL, 0, 0 }

/* Free the ids and reset p to POSTINGS_INIT. */
void postings_release(struct postings *p);

/* out = a ∩ b. out must be initialised (its old contents are released);
 * it may not alias a or b. Returns 0 or TS_ERR_NOMEM. */
int postings_intersect(const struct postings *a, const struct postings *b,
		       struct postings *out);

/* out = union of k lists. Same rules as postings_intersect. */
int postings_union(const struct postings *lists, size_t k, struct postings *out);

/* out = a \ b. Same rules as postings_intersect. */
int postings_subtract(const struct postings *a, const struct postings *b,
		      struct postings *out);

/*
 * Where postings come from, for postings_select: the head's index and each
 * block implement these over their own tables.
 */
struct postings_source_ops {
	/* out = union of the lists of m->name=v over every stored value v with
	 * matcher_matches(m, v) == want. */
	int (*values_matching)(void *src, const struct matcher *m, bool want,
			       struct postings *out);
	/* out = every series id. */
	int (*all)(void *src, struct postings *out);
};

/*
 * Series ids of src matching every matcher of ms[0..n) (all series when
 * n == 0), as DESIGN.md plans it: matchers that do not match "" are
 * intersected smallest first, those that do are subtracted, and a set
 * with no intersecting matcher starts from all series. out is initialised
 * by the caller. Returns 0 or TS_ERR_NOMEM.
 */
int postings_select(const struct postings_source_ops *ops, void *src,
		    const struct matcher *ms, size_t n, struct postings *out);

struct index;

/* New empty index; NULL when out of memory. Free with index_free. */
struct index *index_new(void);

/* Free the index. NULL is a no-op. */
void index_free(struct index *ix);

/*
 * Record series id with label set ls. The label strings must be interned
 * (they are kept by pointer and must outlive the index). Ids should be
 * added roughly in increasing order; a slightly late id is inserted in
 * place. Returns 0 or TS_ERR_NOMEM.
 */
int index_add(struct index *ix, uint32_t id, const struct labels *ls);

/* Copy of the postings list of name=value into out (empty when absent). */
int index_postings(struct index *ix, const char *name, const char *value,
		   struct postings *out);

/* Copy of the list of every series id. */
int index_all(struct index *ix, struct postings *out);

/*
 * Series ids matching every matcher of ms[0..n) (all series when n == 0),
 * written into out (initialised by the caller). Returns 0 or TS_ERR_NOMEM.
 */
int index_select(struct index *ix, const struct matcher *ms, size_t n,
		 struct postings *out);

/*
 * Every label name with at least one series, sorted. *out is a malloc'd
 * array of interned strings (free the array only). Returns 0 or NOMEM.
 */
int index_label_names(struct index *ix, const char ***out, size_t *n);

/* Every value of label `name`, sorted; same ownership as above. */
int index_label_values(struct index *ix, const char *name, const char ***out, size_t *n);

/* Approximate heap bytes held by the index. */
size_t index_bytes(struct index *ix);

#endif
