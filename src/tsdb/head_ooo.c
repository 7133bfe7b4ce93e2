/*
 * head_ooo.c - out-of-order samples of one head series (see head_ooo.h).
 *
 * Structure:
 *   ooo
 *     t[], v[]        sorted buffer of at most OOO_CUT_SAMPLES samples
 *     chunk[]         XOR chunks cut from full buffers, each sorted, with
 *                     [mint, maxt]; they may overlap each other
 *
 * Invariant: a timestamp occurs at most once across buffer and chunks.
 */
#include "tsdb/head_ooo.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunk_xor.h"
#include "util/error.h"

/* A chunk cut from the buffer. */
struct ochunk {
	int64_t mint, maxt; /* time range */
	uint8_t *data;      /* XOR bytes, owned */
	size_t len;         /* bytes at data */
};

struct ooo {
	int64_t t[OOO_CUT_SAMPLES];  /* buffer timestamps, ascending */
	uint64_t v[OOO_CUT_SAMPLES]; /* buffer value bits */
	uint32_t n;                  /* samples in the buffer */
	uint32_t nchunks;            /* cut chunks */
	uint32_t cap;                /* allocated entries of chunk */
	struct ochunk *chunk;        /* cut chunks, in cut order */
	size_t total;                /* samples in buffer and chunks */
	uint64_t ver;                /* inserts so far (ooo_version) */
};

/* First buffer index with t[i] >= t. */
static uint32_t lower(const struct ooo *o, int64_t t)
{
	uint32_t lo = 0, hi = o->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (o->t[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Encode the full buffer as a chunk and empty it. */
static int cut(struct ooo *o, long *bytes)
{
	size_t cap = 16 + (size_t)o->n * XOR_MAX_SAMPLE_BYTES;
	uint8_t *buf = malloc(cap), *shr;
	struct xor_enc e;

	if (!buf)
		return TS_ERR_NOMEM;
	if (o->nchunks == o->cap) {
		uint32_t ncap = o->cap ? o->cap * 2 : 2;
		struct ochunk *nc = realloc(o->chunk, ncap * sizeof(*nc));

		if (!nc) {
			free(buf);
			return TS_ERR_NOMEM;
		}
		*bytes += (long)((ncap - o->cap) * sizeof(*nc));
		o->chunk = nc;
		o->cap = ncap;
	}
	xor_enc_init(&e, buf, cap);
	for (uint32_t i = 0; i < o->n; i++) {
		double d;

		memcpy(&d, &o->v[i], sizeof(d));
		if (!xor_enc_append(&e, o->t[i], d)) {
			free(buf);
			return TS_ERR_NOMEM;
		}
	}
	shr = realloc(buf, xor_enc_len(&e));
	if (shr)
		buf = shr;
	o->chunk[o->nchunks].mint = o->t[0];
	o->chunk[o->nchunks].maxt = o->t[o->n - 1];
	o->chunk[o->nchunks].data = buf;
	o->chunk[o->nchunks].len = xor_enc_len(&e);
	*bytes += (long)xor_enc_len(&e);
	o->nchunks++;
	o->n = 0;
	return 0;
}

int ooo_insert(struct ooo **op, int64_t t, uint64_t vbits, long *bytes)
{
	struct ooo *o = *op;
	uint32_t i;

	*bytes = 0;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return TS_ERR_NOMEM;
		*bytes += (long)sizeof(*o);
		*op = o;
	}
	if (o->n == OOO_CUT_SAMPLES && cut(o, bytes) < 0)
		return TS_ERR_NOMEM;
	i = lower(o, t);
	memmove(&o->t[i + 1], &o->t[i], (o->n - i) * sizeof(o->t[0]));
	memmove(&o->v[i + 1], &o->v[i], (o->n - i) * sizeof(o->v[0]));
	o->t[i] = t;
	o->v[i] = vbits;
	o->n++;
	o->total++;
	o->ver++;
	return 0;
}

uint64_t ooo_version(const struct ooo *o)
{
	return o ? o->ver : 0;
}

long ooo_drop_before(struct ooo *o, int64_t before)
{
	long freed = 0;
	uint32_t w = 0, k = 0;

	if (!o)
		return 0;
	for (uint32_t c = 0; c < o->nchunks; c++) {
		struct ochunk *ch = &o->chunk[c];

		if (ch->maxt >= before) {
			o->chunk[w++] = *ch; /* partly newer: kept whole (never returned twice) */
			continue;
		}
		o->total -= xor_chunk_num_samples(ch->data, ch->len);
		freed += (long)ch->len;
		free(ch->data);
	}
	o->nchunks = w;
	while (k < o->n && o->t[k] < before)
		k++;
	if (k) {
		memmove(o->t, o->t + k, (o->n - k) * sizeof(o->t[0]));
		memmove(o->v, o->v + k, (o->n - k) * sizeof(o->v[0]));
		o->n -= k;
		o->total -= k;
	}
	return freed;
}

int ooo_find(const struct ooo *o, int64_t t, uint64_t *vbits)
{
	uint32_t i;

	if (!o)
		return 0;
	i = lower(o, t);
	if (i < o->n && o->t[i] == t) {
		*vbits = o->v[i];
		return 1;
	}
	for (uint32_t c = 0; c < o->nchunks; c++) {
		struct xor_iter it;
		int64_t ct;
		double cv;
		int rc;

		if (t < o->chunk[c].mint || t > o->chunk[c].maxt)
			continue;
		xor_iter_init(&it, o->chunk[c].data, o->chunk[c].len);
		while ((rc = xor_iter_next(&it, &ct, &cv)) == 1 && ct <= t) {
			if (ct == t) {
				memcpy(vbits, &cv, sizeof(*vbits));
				return 1;
			}
		}
		if (rc < 0)
			return TS_ERR_CORRUPT;
	}
	return 0;
}

size_t ooo_count(const struct ooo *o)
{
	return o ? o->total : 0;
}

bool ooo_range(const struct ooo *o, int64_t *mint, int64_t *maxt)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	if (!o || !o->total)
		return false;
	if (o->n) {
		lo = o->t[0];
		hi = o->t[o->n - 1];
	}
	for (uint32_t c = 0; c < o->nchunks; c++) {
		if (o->chunk[c].mint < lo)
			lo = o->chunk[c].mint;
		if (o->chunk[c].maxt > hi)
			hi = o->chunk[c].maxt;
	}
	*mint = lo;
	*maxt = hi;
	return true;
}

/* A sample while sorting. */
struct pair {
	int64_t t; /* timestamp */
	double v;  /* value */
};

static int cmp_pair(const void *a, const void *b)
{
	int64_t x = ((const struct pair *)a)->t, y = ((const struct pair *)b)->t;

	return x < y ? -1 : x > y;
}

long ooo_collect(const struct ooo *o, int64_t mint, int64_t maxt, int64_t *t, double *v)
{
	long n = 0;
	bool sorted = true;

	if (!o)
		return 0;
	for (uint32_t c = 0; c < o->nchunks; c++) {
		struct xor_iter it;
		int64_t ct;
		double cv;
		int rc;

		if (o->chunk[c].maxt < mint || o->chunk[c].mint > maxt)
			continue;
		xor_iter_init(&it, o->chunk[c].data, o->chunk[c].len);
		while ((rc = xor_iter_next(&it, &ct, &cv)) == 1 && ct <= maxt) {
			if (ct < mint)
				continue;
			if (n && t[n - 1] > ct)
				sorted = false;
			t[n] = ct;
			v[n] = cv;
			n++;
		}
		if (rc < 0)
			return TS_ERR_CORRUPT;
	}
	for (uint32_t i = lower(o, mint); i < o->n && o->t[i] <= maxt; i++) {
		if (n && t[n - 1] > o->t[i])
			sorted = false;
		t[n] = o->t[i];
		memcpy(&v[n], &o->v[i], sizeof(v[n]));
		n++;
	}
	if (!sorted) {
		/* chunks overlap: sort the pieces together */
		struct pair *p = malloc((size_t)n * sizeof(*p));

		if (!p)
			return TS_ERR_NOMEM;
		for (long i = 0; i < n; i++) {
			p[i].t = t[i];
			p[i].v = v[i];
		}
		qsort(p, (size_t)n, sizeof(*p), cmp_pair);
		for (long i = 0; i < n; i++) {
			t[i] = p[i].t;
			v[i] = p[i].v;
		}
		free(p);
	}
	return n;
}

size_t ooo_free(struct ooo *o)
{
	size_t b;

	if (!o)
		return 0;
	b = sizeof(*o) + o->cap * sizeof(*o->chunk);
	for (uint32_t c = 0; c < o->nchunks; c++) {
		b += o->chunk[c].len;
		free(o->chunk[c].data);
	}
	free(o->chunk);
	free(o);
	return b;
}
