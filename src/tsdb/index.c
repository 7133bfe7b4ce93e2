/*
 * index.c - postings lists and label tables of the head.
 *
 * Structure:
 *   index
 *     shard[IX_SHARDS]          chosen by the XXH3 hash of the label name
 *       rwlock                  readers copy under the read lock,
 *                               index_add takes the write lock
 *       name table              open addressing of struct lname *
 *         lname                 one label name
 *           value table         open addressing of struct pentry, inline:
 *                               {value, ids (inline when <= 2), n, cap}
 *           vals[]              every value once: vals[0..nsorted) sorted,
 *                               vals[nsorted..nvals) appended since the
 *                               last sort (merged in on demand)
 *     all                       every series id, under its own lock
 *
 * Invariants:
 *   1. Every postings list is strictly ascending. Ids arrive roughly in
 *      order (they are handed out by an atomic counter, but two creators
 *      may race), so an insert walks back from the end and usually
 *      appends.
 *   2. Names and values are interned strings owned by the symtab; the
 *      index never frees them. Values are never removed, so a value seen
 *      under one lock is still there under the next.
 *   3. A list of capacity <= 2 lives inside its entry (most values of
 *      high-cardinality labels carry one series), larger ones on the heap.
 *
 * Matcher resolution (index_select): a matcher m selects the series whose
 * value v (""  when the label is absent) satisfies m. When m("") is false
 * that is the union of the lists of the values matching m, intersected
 * with the rest; when m("") is true it is every series minus the union of
 * the lists of the values not matching m. `=`/`!=` and literal alternations
 * look their lists up directly; regexes with a literal prefix scan only
 * the prefix's range of the sorted value table; other regexes are run
 * over a copy of the value table outside the lock.
 */
#include "tsdb/index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define IX_SHARDS 16

/* One (name, value) postings list, stored inside the value table. */
struct pentry {
	const char *value; /* interned value; NULL marks an empty slot */
	union {
		uint32_t *ids;     /* heap list when cap > 2 */
		uint32_t small[2]; /* inline list when cap <= 2 */
	} u;
	uint32_t n;   /* ids in the list */
	uint32_t cap; /* capacity; 2 means inline */
};

/* One label name with its values. */
struct lname {
	const char *name;   /* interned name */
	uint64_t hash;      /* XXH3 of name */
	struct pentry *tab; /* value table, cap slots */
	size_t cap;         /* power of two */
	size_t count;       /* values in tab */
	const char **vals;  /* every value; see the file comment */
	size_t nvals;       /* entries in vals */
	size_t nsorted;     /* sorted prefix of vals */
	size_t vcap;        /* allocated entries of vals */
	size_t heap_ids;    /* bytes of heap postings lists */
};

/* One lock shard of names. */
struct ix_shard {
	pthread_rwlock_t lock; /* guards everything below and the lnames */
	struct lname **tab;    /* name table, cap slots, NULL = empty */
	size_t cap;            /* power of two or 0 */
	size_t count;          /* names in tab */
} __attribute__((aligned(64)));

struct index {
	struct ix_shard shard[IX_SHARDS]; /* names by hash */
	pthread_mutex_t all_lock;         /* guards all */
	struct postings all;              /* every series id */
};

static uint64_t str_hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static inline uint32_t *pe_ids(struct pentry *pe)
{
	return pe->cap <= 2 ? pe->u.small : pe->u.ids;
}

/* ------------------------------------------------------------ postings ops */

void postings_release(struct postings *p)
{
	free(p->ids);
	p->ids = NULL;
	p->n = 0;
	p->cap = 0;
}

/* Make out an empty list with room for n ids. */
static int post_reserve(struct postings *out, size_t n)
{
	postings_release(out);
	if (n == 0)
		return 0;
	out->ids = malloc(n * sizeof(uint32_t));
	if (!out->ids)
		return TS_ERR_NOMEM;
	out->cap = n;
	return 0;
}

/* First index i >= lo with a[i] >= x (galloping then binary search). */
static size_t gallop(const uint32_t *a, size_t n, size_t lo, uint32_t x)
{
	size_t step = 1, hi = lo;

	while (hi < n && a[hi] < x) {
		lo = hi + 1;
		hi += step;
		step *= 2;
	}
	if (hi > n)
		hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int postings_intersect(const struct postings *a, const struct postings *b,
		       struct postings *out)
{
	size_t i = 0, j = 0, w = 0;

	if (a->n > b->n) {
		const struct postings *t = a;

		a = b;
		b = t;
	}
	if (post_reserve(out, a->n) < 0)
		return TS_ERR_NOMEM;
	if (b->n > 16 * a->n) {
		for (i = 0; i < a->n && j < b->n; i++) {
			j = gallop(b->ids, b->n, j, a->ids[i]);
			if (j < b->n && b->ids[j] == a->ids[i])
				out->ids[w++] = a->ids[i];
		}
	} else {
		while (i < a->n && j < b->n) {
			if (a->ids[i] < b->ids[j]) {
				i++;
			} else if (a->ids[i] > b->ids[j]) {
				j++;
			} else {
				out->ids[w++] = a->ids[i];
				i++;
				j++;
			}
		}
	}
	out->n = w;
	return 0;
}

int postings_subtract(const struct postings *a, const struct postings *b,
		      struct postings *out)
{
	size_t j = 0, w = 0;

	if (post_reserve(out, a->n) < 0)
		return TS_ERR_NOMEM;
	for (size_t i = 0; i < a->n; i++) {
		if (b->n > 16 * a->n)
			j = gallop(b->ids, b->n, j, a->ids[i]);
		else
			while (j < b->n && b->ids[j] < a->ids[i])
				j++;
		if (j < b->n && b->ids[j] == a->ids[i])
			continue;
		out->ids[w++] = a->ids[i];
	}
	out->n = w;
	return 0;
}

/* LSD radix sort of n ids using tmp (n entries) as scratch. */
static void radix_sort(uint32_t *v, uint32_t *tmp, size_t n)
{
	for (int shift = 0; shift < 32; shift += 8) {
		size_t cnt[257] = { 0 };

		for (size_t i = 0; i < n; i++)
			cnt[((v[i] >> shift) & 0xff) + 1]++;
		if (cnt[1] == n) /* every key byte is 0: nothing to move */
			continue;
		for (int k = 0; k < 256; k++)
			cnt[k + 1] += cnt[k];
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(v[i] >> shift) & 0xff]++] = v[i];
		memcpy(v, tmp, n * sizeof(*v));
	}
}

int postings_union(const struct postings *lists, size_t k, struct postings *out)
{
	size_t total = 0, w = 0;
	uint32_t *tmp;

	for (size_t i = 0; i < k; i++)
		total += lists[i].n;
	if (post_reserve(out, total) < 0)
		return TS_ERR_NOMEM;
	if (total == 0)
		return 0;
	if (k == 1) {
		memcpy(out->ids, lists[0].ids, total * sizeof(uint32_t));
		out->n = total;
		return 0;
	}
	if (k == 2) {
		const struct postings *a = &lists[0], *b = &lists[1];
		size_t i = 0, j = 0;

		while (i < a->n && j < b->n) {
			if (a->ids[i] < b->ids[j]) {
				out->ids[w++] = a->ids[i++];
			} else if (a->ids[i] > b->ids[j]) {
				out->ids[w++] = b->ids[j++];
			} else {
				out->ids[w++] = a->ids[i++];
				j++;
			}
		}
		while (i < a->n)
			out->ids[w++] = a->ids[i++];
		while (j < b->n)
			out->ids[w++] = b->ids[j++];
		out->n = w;
		return 0;
	}
	/* many lists: concatenate, radix sort, drop duplicates */
	tmp = malloc(total * sizeof(uint32_t));
	if (!tmp) {
		postings_release(out);
		return TS_ERR_NOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		if (lists[i].n)
			memcpy(out->ids + w, lists[i].ids, lists[i].n * sizeof(uint32_t));
		w += lists[i].n;
	}
	radix_sort(out->ids, tmp, total);
	free(tmp);
	w = 0;
	for (size_t i = 0; i < total; i++)
		if (w == 0 || out->ids[w - 1] != out->ids[i])
			out->ids[w++] = out->ids[i];
	out->n = w;
	return 0;
}

/* Insert id into a heap postings list keeping it sorted. */
static int post_insert(struct postings *p, uint32_t id)
{
	size_t pos;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		uint32_t *nids = realloc(p->ids, ncap * sizeof(uint32_t));

		if (!nids)
			return TS_ERR_NOMEM;
		p->ids = nids;
		p->cap = ncap;
	}
	pos = p->n;
	while (pos > 0 && p->ids[pos - 1] > id)
		pos--;
	if (pos > 0 && p->ids[pos - 1] == id)
		return 0;
	memmove(p->ids + pos + 1, p->ids + pos, (p->n - pos) * sizeof(uint32_t));
	p->ids[pos] = id;
	p->n++;
	return 0;
}

/* ------------------------------------------------------------ tables */

struct index *index_new(void)
{
	struct index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	for (size_t i = 0; i < IX_SHARDS; i++)
		pthread_rwlock_init(&ix->shard[i].lock, NULL);
	pthread_mutex_init(&ix->all_lock, NULL);
	return ix;
}

static void lname_free(struct lname *ln)
{
	for (size_t i = 0; i < ln->cap; i++)
		if (ln->tab[i].value && ln->tab[i].cap > 2)
			free(ln->tab[i].u.ids);
	free(ln->tab);
	free(ln->vals);
	free(ln);
}

void index_free(struct index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < IX_SHARDS; i++) {
		struct ix_shard *sh = &ix->shard[i];

		for (size_t j = 0; j < sh->cap; j++)
			if (sh->tab[j])
				lname_free(sh->tab[j]);
		free(sh->tab);
		pthread_rwlock_destroy(&sh->lock);
	}
	postings_release(&ix->all);
	pthread_mutex_destroy(&ix->all_lock);
	free(ix);
}

static struct ix_shard *shard_of(struct index *ix, uint64_t h)
{
	return &ix->shard[h & (IX_SHARDS - 1)];
}

static struct lname *find_name(struct ix_shard *sh, const char *name, uint64_t h)
{
	if (!sh->cap)
		return NULL;
	for (size_t j = (h >> 4) & (sh->cap - 1); sh->tab[j]; j = (j + 1) & (sh->cap - 1)) {
		struct lname *ln = sh->tab[j];

		if (ln->hash == h && (ln->name == name || strcmp(ln->name, name) == 0))
			return ln;
	}
	return NULL;
}

static struct lname *add_name(struct ix_shard *sh, const char *name, uint64_t h)
{
	struct lname *ln;
	size_t j;

	if ((sh->count + 1) * 2 > sh->cap) {
		size_t ncap = sh->cap ? sh->cap * 2 : 16;
		struct lname **nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t i = 0; i < sh->cap; i++) {
			if (!sh->tab[i])
				continue;
			j = (sh->tab[i]->hash >> 4) & (ncap - 1);
			while (nt[j])
				j = (j + 1) & (ncap - 1);
			nt[j] = sh->tab[i];
		}
		free(sh->tab);
		sh->tab = nt;
		sh->cap = ncap;
	}
	ln = calloc(1, sizeof(*ln));
	if (!ln)
		return NULL;
	ln->name = name;
	ln->hash = h;
	j = (h >> 4) & (sh->cap - 1);
	while (sh->tab[j])
		j = (j + 1) & (sh->cap - 1);
	sh->tab[j] = ln;
	sh->count++;
	return ln;
}

static struct pentry *find_value(struct lname *ln, const char *value, uint64_t vh)
{
	if (!ln->cap)
		return NULL;
	for (size_t j = vh & (ln->cap - 1); ln->tab[j].value; j = (j + 1) & (ln->cap - 1)) {
		const char *v = ln->tab[j].value;

		if (v == value || strcmp(v, value) == 0)
			return &ln->tab[j];
	}
	return NULL;
}

static struct pentry *add_value(struct lname *ln, const char *value, uint64_t vh)
{
	size_t j;

	if ((ln->count + 1) * 4 > ln->cap * 3) {
		size_t ncap = ln->cap ? ln->cap * 2 : 4;
		struct pentry *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t i = 0; i < ln->cap; i++) {
			if (!ln->tab[i].value)
				continue;
			j = str_hash(ln->tab[i].value) & (ncap - 1);
			while (nt[j].value)
				j = (j + 1) & (ncap - 1);
			nt[j] = ln->tab[i];
		}
		free(ln->tab);
		ln->tab = nt;
		ln->cap = ncap;
	}
	if (ln->nvals == ln->vcap) {
		size_t ncap = ln->vcap ? ln->vcap * 2 : 4;
		const char **nv = realloc(ln->vals, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		ln->vals = nv;
		ln->vcap = ncap;
	}
	ln->vals[ln->nvals++] = value;
	j = vh & (ln->cap - 1);
	while (ln->tab[j].value)
		j = (j + 1) & (ln->cap - 1);
	ln->tab[j].value = value;
	ln->tab[j].n = 0;
	ln->tab[j].cap = 2;
	ln->count++;
	return &ln->tab[j];
}

/* Insert id into an entry's list, keeping it sorted. */
static int pe_insert(struct lname *ln, struct pentry *pe, uint32_t id)
{
	uint32_t *ids;
	size_t pos;

	if (pe->n == pe->cap) {
		uint32_t ncap = pe->cap * 2;
		uint32_t *nids;

		if (pe->cap <= 2) {
			nids = malloc(ncap * sizeof(uint32_t));
			if (!nids)
				return TS_ERR_NOMEM;
			memcpy(nids, pe->u.small, pe->n * sizeof(uint32_t));
		} else {
			nids = realloc(pe->u.ids, ncap * sizeof(uint32_t));
			if (!nids)
				return TS_ERR_NOMEM;
			ln->heap_ids -= pe->cap * sizeof(uint32_t);
		}
		ln->heap_ids += ncap * sizeof(uint32_t);
		pe->u.ids = nids;
		pe->cap = ncap;
	}
	ids = pe_ids(pe);
	pos = pe->n;
	while (pos > 0 && ids[pos - 1] > id)
		pos--;
	if (pos > 0 && ids[pos - 1] == id)
		return 0;
	memmove(ids + pos + 1, ids + pos, (pe->n - pos) * sizeof(uint32_t));
	ids[pos] = id;
	pe->n++;
	return 0;
}

int index_add(struct index *ix, uint32_t id, const struct labels *ls)
{
	int rc = 0;

	for (size_t i = 0; i < ls->n && rc == 0; i++) {
		const char *name = ls->v[i].name, *value = ls->v[i].value;
		uint64_t h = str_hash(name), vh = str_hash(value);
		struct ix_shard *sh = shard_of(ix, h);
		struct lname *ln;
		struct pentry *pe;

		pthread_rwlock_wrlock(&sh->lock);
		ln = find_name(sh, name, h);
		if (!ln)
			ln = add_name(sh, name, h);
		pe = ln ? find_value(ln, value, vh) : NULL;
		if (ln && !pe)
			pe = add_value(ln, value, vh);
		rc = pe ? pe_insert(ln, pe, id) : TS_ERR_NOMEM;
		pthread_rwlock_unlock(&sh->lock);
	}
	if (rc == 0) {
		pthread_mutex_lock(&ix->all_lock);
		rc = post_insert(&ix->all, id);
		pthread_mutex_unlock(&ix->all_lock);
	}
	return rc;
}

/* ------------------------------------------------------------ reading */

/* Copy n ids into out (initialised). */
static int post_copy(struct postings *out, const uint32_t *ids, size_t n)
{
	if (post_reserve(out, n) < 0)
		return TS_ERR_NOMEM;
	if (n)
		memcpy(out->ids, ids, n * sizeof(uint32_t));
	out->n = n;
	return 0;
}

int index_postings(struct index *ix, const char *name, const char *value,
		   struct postings *out)
{
	uint64_t h = str_hash(name);
	struct ix_shard *sh = shard_of(ix, h);
	struct lname *ln;
	struct pentry *pe = NULL;
	int rc;

	pthread_rwlock_rdlock(&sh->lock);
	ln = find_name(sh, name, h);
	if (ln)
		pe = find_value(ln, value, str_hash(value));
	rc = pe ? post_copy(out, pe_ids(pe), pe->n) : post_reserve(out, 0);
	pthread_rwlock_unlock(&sh->lock);
	return rc;
}

int index_all(struct index *ix, struct postings *out)
{
	int rc;

	pthread_mutex_lock(&ix->all_lock);
	rc = post_copy(out, ix->all.ids, ix->all.n);
	pthread_mutex_unlock(&ix->all_lock);
	return rc;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Merge the unsorted tail of ln->vals into the sorted head. Needs the
 * shard's write lock. */
static int lname_sort_values(struct lname *ln)
{
	size_t ns = ln->nsorted, nt = ln->nvals - ns, i = 0, j = ns, w = 0;
	const char **tmp;

	if (nt == 0)
		return 0;
	qsort(ln->vals + ns, nt, sizeof(*ln->vals), cmp_strp);
	if (ns == 0) {
		ln->nsorted = ln->nvals;
		return 0;
	}
	tmp = malloc(ln->nvals * sizeof(*tmp));
	if (!tmp)
		return TS_ERR_NOMEM;
	while (i < ns && j < ln->nvals)
		tmp[w++] = strcmp(ln->vals[i], ln->vals[j]) <= 0 ? ln->vals[i++] : ln->vals[j++];
	while (i < ns)
		tmp[w++] = ln->vals[i++];
	while (j < ln->nvals)
		tmp[w++] = ln->vals[j++];
	memcpy(ln->vals, tmp, w * sizeof(*tmp));
	free(tmp);
	ln->nsorted = ln->nvals;
	return 0;
}

/*
 * Lock the shard of name and find it, with the value table sorted when
 * want_sorted. Returns the lname (NULL when absent) with the shard locked
 * (read or write; unlock with pthread_rwlock_unlock in both cases).
 */
static struct lname *lock_name(struct index *ix, const char *name, bool want_sorted,
			       struct ix_shard **sh_out, int *rc)
{
	uint64_t h = str_hash(name);
	struct ix_shard *sh = shard_of(ix, h);
	struct lname *ln;

	*sh_out = sh;
	*rc = 0;
	pthread_rwlock_rdlock(&sh->lock);
	ln = find_name(sh, name, h);
	if (!ln || !want_sorted || ln->nsorted == ln->nvals)
		return ln;
	pthread_rwlock_unlock(&sh->lock);
	pthread_rwlock_wrlock(&sh->lock);
	ln = find_name(sh, name, h);
	if (ln)
		*rc = lname_sort_values(ln);
	return ln;
}

int index_label_values(struct index *ix, const char *name, const char ***out, size_t *n)
{
	struct ix_shard *sh;
	struct lname *ln;
	int rc;

	*out = NULL;
	*n = 0;
	ln = lock_name(ix, name, true, &sh, &rc);
	if (ln && rc == 0 && ln->nvals) {
		*out = malloc(ln->nvals * sizeof(**out));
		if (*out) {
			memcpy(*out, ln->vals, ln->nvals * sizeof(**out));
			*n = ln->nvals;
		} else {
			rc = TS_ERR_NOMEM;
		}
	}
	pthread_rwlock_unlock(&sh->lock);
	return rc;
}

int index_label_names(struct index *ix, const char ***out, size_t *n)
{
	const char **v = NULL;
	size_t k = 0, cap = 0;

	for (size_t i = 0; i < IX_SHARDS; i++) {
		struct ix_shard *sh = &ix->shard[i];

		pthread_rwlock_rdlock(&sh->lock);
		for (size_t j = 0; j < sh->cap; j++) {
			if (!sh->tab[j] || sh->tab[j]->count == 0)
				continue;
			if (k == cap) {
				size_t ncap = cap ? cap * 2 : 32;
				const char **nv = realloc(v, ncap * sizeof(*nv));

				if (!nv) {
					pthread_rwlock_unlock(&sh->lock);
					free(v);
					return TS_ERR_NOMEM;
				}
				v = nv;
				cap = ncap;
			}
			v[k++] = sh->tab[j]->name;
		}
		pthread_rwlock_unlock(&sh->lock);
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_strp);
	*out = v;
	*n = k;
	return 0;
}

/* Union of the lists of the given values of ln (absent values skipped).
 * Called with the shard locked. */
static int union_values(struct lname *ln, const char *const *vals, size_t nv,
			struct postings *out)
{
	struct postings *views;
	size_t k = 0;
	int rc;

	if (!ln || nv == 0)
		return post_reserve(out, 0);
	views = malloc(nv * sizeof(*views));
	if (!views)
		return TS_ERR_NOMEM;
	for (size_t i = 0; i < nv; i++) {
		struct pentry *pe = find_value(ln, vals[i], str_hash(vals[i]));

		if (pe && pe->n) {
			views[k].ids = pe_ids(pe);
			views[k].n = pe->n;
			views[k].cap = pe->n;
			k++;
		}
	}
	rc = postings_union(views, k, out);
	free(views);
	return rc;
}

/* Does a regex matcher's literal prefix bound the values we look for? */
static const char *usable_prefix(const struct matcher *m, bool want)
{
	if ((m->type == MATCHER_RE && want) || (m->type == MATCHER_NRE && !want))
		return matcher_prefix(m);
	return NULL;
}

/* out = union of the lists of name=v over every v with matches(m, v) == want. */
static int values_matching(struct index *ix, const struct matcher *m, bool want,
			   struct postings *out)
{
	const char *const *lookup = NULL;
	const char *one[1];
	const char *prefix;
	const char **cand = NULL;
	size_t nlookup = 0, ncand = 0, nmatch = 0;
	struct ix_shard *sh;
	struct lname *ln;
	int rc;

	if ((m->type == MATCHER_EQ && want) || (m->type == MATCHER_NEQ && !want)) {
		one[0] = m->value;
		lookup = one;
		nlookup = 1;
	} else if ((m->type == MATCHER_RE && want) || (m->type == MATCHER_NRE && !want)) {
		lookup = matcher_set_values(m, &nlookup);
	}
	if (lookup) {
		ln = lock_name(ix, m->name, false, &sh, &rc);
		rc = union_values(ln, lookup, nlookup, out);
		pthread_rwlock_unlock(&sh->lock);
		return rc;
	}

	/* copy the candidate values (a prefix range when there is a prefix) */
	prefix = usable_prefix(m, want);
	ln = lock_name(ix, m->name, prefix != NULL, &sh, &rc);
	if (ln && rc == 0) {
		size_t lo = 0, hi = ln->nvals;

		if (prefix) {
			size_t plen = strlen(prefix), a = 0, b = ln->nvals;

			while (a < b) { /* first value >= prefix */
				size_t mid = a + (b - a) / 2;

				if (strcmp(ln->vals[mid], prefix) < 0)
					a = mid + 1;
				else
					b = mid;
			}
			lo = a;
			hi = lo;
			while (hi < ln->nvals && strncmp(ln->vals[hi], prefix, plen) == 0)
				hi++;
		}
		ncand = hi - lo;
		cand = malloc((ncand ? ncand : 1) * sizeof(*cand));
		if (!cand)
			rc = TS_ERR_NOMEM;
		else if (ncand)
			memcpy(cand, ln->vals + lo, ncand * sizeof(*cand));
	}
	pthread_rwlock_unlock(&sh->lock);
	if (rc < 0 || !ln) {
		free(cand);
		return rc < 0 ? rc : post_reserve(out, 0);
	}

	/* run the matcher without holding the lock */
	for (size_t i = 0; i < ncand; i++)
		if (matcher_matches(m, cand[i]) == want)
			cand[nmatch++] = cand[i];

	ln = lock_name(ix, m->name, false, &sh, &rc);
	rc = union_values(ln, cand, nmatch, out);
	pthread_rwlock_unlock(&sh->lock);
	free(cand);
	return rc;
}

static int cmp_post_len(const void *a, const void *b)
{
	const struct postings *x = a, *y = b;

	return x->n < y->n ? -1 : x->n > y->n;
}

int postings_select(const struct postings_source_ops *ops, void *src,
		    const struct matcher *ms, size_t n, struct postings *out)
{
	struct postings *inter, *sub, tmp = POSTINGS_INIT;
	size_t ni = 0, ns = 0;
	int rc = 0;

	inter = calloc(n + 1, sizeof(*inter));
	sub = calloc(n + 1, sizeof(*sub));
	if (!inter || !sub) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct matcher *m = &ms[i];

		if (m->type == MATCHER_RE && strcmp(m->value, ".*") == 0)
			continue; /* matches every series */
		if (!matcher_matches_empty(m)) {
			rc = ops->values_matching(src, m, true, &inter[ni++]);
			if (rc == 0 && inter[ni - 1].n == 0)
				break; /* nothing can match */
		} else {
			rc = ops->values_matching(src, m, false, &sub[ns++]);
		}
		if (rc < 0)
			goto out;
	}
	if (ni == 0)
		rc = ops->all(src, &inter[ni++]);
	if (rc < 0)
		goto out;
	qsort(inter, ni, sizeof(*inter), cmp_post_len);
	for (size_t i = 1; i < ni && inter[0].n; i++) {
		rc = postings_intersect(&inter[0], &inter[i], &tmp);
		if (rc < 0)
			goto out;
		postings_release(&inter[0]);
		inter[0] = tmp;
		tmp = (struct postings)POSTINGS_INIT;
	}
	for (size_t i = 0; i < ns && inter[0].n; i++) {
		if (sub[i].n == 0)
			continue;
		rc = postings_subtract(&inter[0], &sub[i], &tmp);
		if (rc < 0)
			goto out;
		postings_release(&inter[0]);
		inter[0] = tmp;
		tmp = (struct postings)POSTINGS_INIT;
	}
	postings_release(out);
	*out = inter[0];
	inter[0] = (struct postings)POSTINGS_INIT;
out:
	for (size_t i = 0; inter && i < ni; i++)
		postings_release(&inter[i]);
	for (size_t i = 0; sub && i < ns; i++)
		postings_release(&sub[i]);
	free(inter);
	free(sub);
	return rc;
}

static int ix_values_matching(void *src, const struct matcher *m, bool want,
			      struct postings *out)
{
	return values_matching(src, m, want, out);
}

static int ix_all(void *src, struct postings *out)
{
	return index_all(src, out);
}

static const struct postings_source_ops index_source_ops = {
	.values_matching = ix_values_matching,
	.all = ix_all,
};

int index_select(struct index *ix, const struct matcher *ms, size_t n,
		 struct postings *out)
{
	return postings_select(&index_source_ops, ix, ms, n, out);
}

size_t index_bytes(struct index *ix)
{
	size_t b = sizeof(*ix);

	for (size_t i = 0; i < IX_SHARDS; i++) {
		struct ix_shard *sh = &ix->shard[i];

		pthread_rwlock_rdlock(&sh->lock);
		b += sh->cap * sizeof(*sh->tab);
		for (size_t j = 0; j < sh->cap; j++) {
			struct lname *ln = sh->tab[j];

			if (!ln)
				continue;
			b += sizeof(*ln) + ln->cap * sizeof(*ln->tab) +
			     ln->vcap * sizeof(*ln->vals) + ln->heap_ids;
		}
		pthread_rwlock_unlock(&sh->lock);
	}
	pthread_mutex_lock(&ix->all_lock);
	b += ix->all.cap * sizeof(uint32_t);
	pthread_mutex_unlock(&ix->all_lock);
	return b;
}
