/*
 * tombstone.c - deleted ranges per series ref (see tombstone.h).
 *
 * Structure: open addressing on the ref (slot = ref + 1, 0 empty) with a
 * malloc'd, sorted, disjoint range array per entry. Tombstones are rare,
 * so one rwlock guards it all.
 */
#include "tsdb/tombstone.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* The ranges of one series. */
struct tomb_ent {
	uint32_t key;          /* ref + 1; 0: empty slot */
	uint32_t n;            /* ranges */
	struct tomb_range *r;  /* ascending, disjoint, owned */
};

struct tombstones {
	pthread_rwlock_t lock; /* guards everything below */
	struct tomb_ent *slot; /* cap slots */
	size_t cap, count;     /* slots (power of two or 0) and used slots */
	size_t nonempty;       /* count, readable without the lock (atomic) */
};

struct tombstones *tomb_new(void)
{
	struct tombstones *t = calloc(1, sizeof(*t));

	if (t)
		pthread_rwlock_init(&t->lock, NULL);
	return t;
}

void tomb_free(struct tombstones *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slot[i].r);
	free(t->slot);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static size_t slot_of(uint32_t key, size_t cap)
{
	uint64_t x = key * 0x9e3779b97f4a7c15ULL;

	return (size_t)(x >> 32) & (cap - 1);
}

/* The entry of ref, or NULL; lock held. */
static struct tomb_ent *find(struct tombstones *t, uint32_t ref)
{
	if (!t->cap)
		return NULL;
	for (size_t j = slot_of(ref + 1, t->cap); t->slot[j].key; j = (j + 1) & (t->cap - 1))
		if (t->slot[j].key == ref + 1)
			return &t->slot[j];
	return NULL;
}

static int grow(struct tombstones *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	struct tomb_ent *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return TS_ERR_NOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->slot[i].key)
			continue;
		for (j = slot_of(t->slot[i].key, ncap); ns[j].key; j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

int tomb_add(struct tombstones *t, uint32_t ref, int64_t mint, int64_t maxt)
{
	struct tomb_ent *e;
	struct tomb_range *nr;
	uint32_t w = 0;
	int rc = 0;

	if (mint > maxt || ref == UINT32_MAX)
		return 0;
	pthread_rwlock_wrlock(&t->lock);
	e = find(t, ref);
	if (!e) {
		size_t j;

		if ((t->count + 1) * 2 > t->cap && grow(t) < 0) {
			rc = TS_ERR_NOMEM;
			goto out;
		}
		for (j = slot_of(ref + 1, t->cap); t->slot[j].key; j = (j + 1) & (t->cap - 1))
			;
		e = &t->slot[j];
		e->key = ref + 1;
		t->count++;
		__atomic_store_n(&t->nonempty, t->count, __ATOMIC_RELEASE);
	}
	nr = malloc((e->n + 1) * sizeof(*nr));
	if (!nr) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	/* insert in order, then merge what overlaps or touches */
	{
		uint32_t i = 0;

		while (i < e->n && e->r[i].mint < mint)
			nr[w++] = e->r[i++];
		nr[w].mint = mint;
		nr[w++].maxt = maxt;
		while (i < e->n)
			nr[w++] = e->r[i++];
		i = 0;
		for (uint32_t k = 1; k < w; k++) {
			if (nr[k].mint <= nr[i].maxt ||
			    (nr[i].maxt != INT64_MAX && nr[k].mint == nr[i].maxt + 1)) {
				if (nr[k].maxt > nr[i].maxt)
					nr[i].maxt = nr[k].maxt;
			} else {
				nr[++i] = nr[k];
			}
		}
		w = i + 1;
	}
	free(e->r);
	e->r = nr;
	e->n = w;
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

bool tomb_empty(struct tombstones *t)
{
	return !t || __atomic_load_n(&t->nonempty, __ATOMIC_ACQUIRE) == 0;
}

size_t tomb_count(struct tombstones *t)
{
	return t ? __atomic_load_n(&t->nonempty, __ATOMIC_ACQUIRE) : 0;
}

long tomb_get(struct tombstones *t, uint32_t ref, struct tomb_range **out)
{
	struct tomb_ent *e;
	long n = 0;

	*out = NULL;
	if (tomb_empty(t))
		return 0;
	pthread_rwlock_rdlock(&t->lock);
	e = find(t, ref);
	if (e && e->n) {
		*out = malloc(e->n * sizeof(**out));
		if (*out) {
			memcpy(*out, e->r, e->n * sizeof(**out));
			n = e->n;
		} else {
			n = TS_ERR_NOMEM;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

size_t tomb_filter(const struct tomb_range *r, size_t nr, int64_t *t, double *v, size_t n)
{
	size_t w = 0, k = 0;

	for (size_t i = 0; i < n; i++) {
		while (k < nr && r[k].maxt < t[i])
			k++;
		if (k < nr && r[k].mint <= t[i])
			continue; /* deleted */
		t[w] = t[i];
		if (v)
			v[w] = v[i];
		w++;
	}
	return w;
}
