/*
 * exemplars.c - the bounded exemplar ring; see exemplars.h.
 *
 * Structure:
 *   ring[cap]    records in arrival order; `next` is the slot written
 *                next, so once the ring is full ring[next] is the oldest.
 *                Each record owns one malloc'd block holding the label
 *                arrays and strings of its series and its exemplar.
 *   newest       open-addressing map from the series' labels_hash to the
 *                time and value of its newest exemplar, for the order
 *                rules; it keeps an entry per series ever seen (series
 *                count, not exemplar count, bounds it).
 *
 * Invariants:
 *   1. Per series, records are appended in strictly increasing time, so
 *      ring order is time order within a series.
 *   2. One mutex guards everything; select copies what it returns, so a
 *      record may be overwritten as soon as the lock is released.
 */
#include "tsdb/exemplars.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One stored exemplar. */
struct rec {
	struct labels series; /* series labels, in mem */
	struct labels ex;     /* exemplar labels, in mem */
	int64_t t;            /* time (ms) */
	double v;             /* value */
	uint64_t seq;         /* arrival number, for stable ordering */
	void *mem;            /* owned block; NULL = empty slot */
};

/* Newest exemplar of a series. */
struct newest {
	uint64_t hash;  /* labels_hash of the series; 0 = empty slot */
	int64_t t;      /* its time */
	uint64_t vbits; /* its value bits */
};

struct exemplars {
	pthread_mutex_t lock; /* guards every field below */
	struct rec *ring;     /* cap records */
	size_t cap;           /* capacity */
	size_t next;          /* slot written next */
	size_t count;         /* records held (<= cap) */
	uint64_t seq;         /* arrivals so far */
	struct newest *map;   /* mcap slots, power of two */
	size_t mcap, mcount;  /* slots and used slots */
};

struct exemplars *exemplars_new(size_t capacity)
{
	struct exemplars *ex;

	if (!capacity)
		return NULL;
	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return NULL;
	ex->ring = calloc(capacity, sizeof(*ex->ring));
	ex->mcap = 1024;
	ex->map = calloc(ex->mcap, sizeof(*ex->map));
	if (!ex->ring || !ex->map) {
		free(ex->ring);
		free(ex->map);
		free(ex);
		return NULL;
	}
	ex->cap = capacity;
	pthread_mutex_init(&ex->lock, NULL);
	return ex;
}

void exemplars_free(struct exemplars *ex)
{
	size_t i;

	if (!ex)
		return;
	for (i = 0; i < ex->cap; i++)
		free(ex->ring[i].mem);
	free(ex->ring);
	free(ex->map);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
}

size_t exemplars_count(struct exemplars *ex)
{
	size_t n;

	pthread_mutex_lock(&ex->lock);
	n = ex->count;
	pthread_mutex_unlock(&ex->lock);
	return n;
}

/* The map slot of hash (found or empty); the map is never full. */
static struct newest *map_slot(struct newest *map, size_t mcap, uint64_t hash)
{
	size_t i = (size_t)hash & (mcap - 1);

	while (map[i].hash && map[i].hash != hash)
		i = (i + 1) & (mcap - 1);
	return &map[i];
}

/* Double the map when half full. */
static int map_grow(struct exemplars *ex)
{
	struct newest *n;
	size_t ncap = ex->mcap * 2, i;

	if (ex->mcount * 2 < ex->mcap)
		return 0;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return TS_ERR_NOMEM;
	for (i = 0; i < ex->mcap; i++)
		if (ex->map[i].hash)
			*map_slot(n, ncap, ex->map[i].hash) = ex->map[i];
	free(ex->map);
	ex->map = n;
	ex->mcap = ncap;
	return 0;
}

/* Bytes to copy a label set: the array and its strings. */
static size_t labels_size(const struct labels *ls, size_t *strbytes)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		*strbytes += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
	return ls->n * sizeof(struct label);
}

/* Copy src into dst using *arr for the array and *str for the strings. */
static void labels_copy(struct labels *dst, const struct labels *src, struct label **arr,
			char **str)
{
	size_t i, n;

	dst->v = *arr;
	dst->n = src->n;
	for (i = 0; i < src->n; i++) {
		n = strlen(src->v[i].name) + 1;
		memcpy(*str, src->v[i].name, n);
		dst->v[i].name = *str;
		*str += n;
		n = strlen(src->v[i].value) + 1;
		memcpy(*str, src->v[i].value, n);
		dst->v[i].value = *str;
		*str += n;
	}
	*arr += src->n;
}

static uint64_t bits_of(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

/* UTF-8 code points in s (continuation bytes not counted). */
static size_t runes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

int exemplars_add(struct exemplars *ex, const struct labels *series, const struct labels *exl,
		  int64_t t, double v)
{
	uint64_t hash = labels_hash(series), vb = bits_of(v);
	size_t strbytes = 0, arrbytes;
	struct newest *nw;
	struct label *arr;
	struct rec *r;
	char *str;
	void *mem;
	int rc = 0;

	for (size_t i = 0, total = 0; i < exl->n; i++) {
		total += runes(exl->v[i].name) + runes(exl->v[i].value);
		if (total > EXEMPLAR_MAX_LABEL_RUNES)
			return TS_ERR_INVALID;
	}
	if (!hash)
		hash = 1; /* 0 marks an empty map slot */
	arrbytes = labels_size(series, &strbytes) + labels_size(exl, &strbytes);
	mem = malloc(arrbytes + strbytes + 1);
	if (!mem)
		return TS_ERR_NOMEM;
	arr = mem;
	str = (char *)mem + arrbytes;

	pthread_mutex_lock(&ex->lock);
	if (map_grow(ex) < 0) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	nw = map_slot(ex->map, ex->mcap, hash);
	if (nw->hash) {
		if (t == nw->t && vb == nw->vbits)
			goto out; /* a repeat of the newest: ignored, as Prometheus does */
		if (t <= nw->t) {
			rc = TS_ERR_OUT_OF_ORDER;
			goto out;
		}
	} else {
		nw->hash = hash;
		ex->mcount++;
	}
	nw->t = t;
	nw->vbits = vb;
	r = &ex->ring[ex->next];
	free(r->mem);
	r->mem = mem;
	mem = NULL;
	labels_copy(&r->series, series, &arr, &str);
	labels_copy(&r->ex, exl, &arr, &str);
	r->t = t;
	r->v = v;
	r->seq = ex->seq++;
	ex->next = (ex->next + 1) % ex->cap;
	if (ex->count < ex->cap)
		ex->count++;
out:
	pthread_mutex_unlock(&ex->lock);
	free(mem);
	return rc;
}

/* Does the series match every matcher of one of the sets? */
static bool rec_matches(const struct rec *r, const struct matcher *const *sets,
			const size_t *nms, size_t nsets)
{
	size_t i, k;

	if (!nsets)
		return true;
	for (i = 0; i < nsets; i++) {
		for (k = 0; k < nms[i]; k++) {
			const char *v = labels_get(&r->series, sets[i][k].name);

			if (!matcher_matches(&sets[i][k], v ? v : ""))
				break;
		}
		if (k == nms[i])
			return true;
	}
	return false;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a;
	const struct rec *y = *(const struct rec *const *)b;
	int c = labels_cmp(&x->series, &y->series);

	if (c)
		return c;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void exemplar_set_release(struct exemplar_set *set)
{
	if (!set)
		return;
	free(set->mem);
	set->mem = NULL;
	set->s = NULL;
	set->n = 0;
}

int exemplars_select(struct exemplars *ex, const struct matcher *const *sets,
		     const size_t *nms, size_t nsets, int64_t mint, int64_t maxt,
		     struct exemplar_set *out)
{
	const struct rec **hit = NULL;
	size_t nhit = 0, ngroups = 0, strbytes = 0, arrbytes = 0, i, g, e;
	struct series_exemplars *sv;
	struct exemplar *ev;
	struct label *arr;
	char *str, *mem;
	int rc = 0;

	out->s = NULL;
	out->n = 0;
	out->mem = NULL;
	pthread_mutex_lock(&ex->lock);
	if (!ex->count)
		goto out;
	hit = malloc(ex->count * sizeof(*hit));
	if (!hit) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ex->cap; i++) {
		const struct rec *r = &ex->ring[i];

		if (r->mem && r->t >= mint && r->t <= maxt && rec_matches(r, sets, nms, nsets))
			hit[nhit++] = r;
	}
	if (!nhit)
		goto out;
	qsort(hit, nhit, sizeof(*hit), rec_cmp);
	for (i = 0; i < nhit; i++) {
		if (i == 0 || labels_cmp(&hit[i - 1]->series, &hit[i]->series) != 0) {
			ngroups++;
			arrbytes += labels_size(&hit[i]->series, &strbytes);
		}
		arrbytes += labels_size(&hit[i]->ex, &strbytes);
	}
	mem = malloc(ngroups * sizeof(*sv) + nhit * sizeof(*ev) + arrbytes + strbytes + 1);
	if (!mem) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	sv = (struct series_exemplars *)mem;
	ev = (struct exemplar *)(mem + ngroups * sizeof(*sv));
	arr = (struct label *)(mem + ngroups * sizeof(*sv) + nhit * sizeof(*ev));
	str = mem + ngroups * sizeof(*sv) + nhit * sizeof(*ev) + arrbytes;
	for (i = 0, g = 0, e = 0; i < nhit; i++) {
		if (i == 0 || labels_cmp(&hit[i - 1]->series, &hit[i]->series) != 0) {
			labels_copy(&sv[g].series, &hit[i]->series, &arr, &str);
			sv[g].e = &ev[e];
			sv[g].n = 0;
			g++;
		}
		labels_copy(&ev[e].labels, &hit[i]->ex, &arr, &str);
		ev[e].t = hit[i]->t;
		ev[e].v = hit[i]->v;
		sv[g - 1].n++;
		e++;
	}
	out->s = sv;
	out->n = ngroups;
	out->mem = mem;
out:
	pthread_mutex_unlock(&ex->lock);
	free(hit);
	return rc;
}
