/*
 * head.c - series table and chunk storage of the in-memory head.
 *
 * Structure:
 *   head
 *     stripe[nstripes]        series table shards, chosen by labels_hash
 *       mutex                 guards the shard's slots
 *       slot[cap]             open addressing of struct head_series *,
 *                             probed by hash >> 16; at most 3/4 full
 *     page[id >> PAGE_BITS]   id -> series, in pages that never move;
 *                             page pointers and slots are published with
 *                             release stores, read with acquire loads
 *     slock[id & mask]        series data locks (one lock per many series)
 *     symtab, index           interned strings, postings
 *
 *   head_series (one malloc: struct + its label array)
 *     lset, hash, id          identity
 *     chunks[nchunks]         closed chunks: exact-size byte arrays with
 *                             their [mint, maxt]; immutable once closed
 *     enc + open buffer       the open chunk, grown by realloc when
 *                             xor_enc_append reports it full
 *     last_t, last_v          newest sample (last_t == INT64_MIN: none)
 *
 * Invariants:
 *   1. A series is published in page[] before it is indexed and before
 *      it enters the table, so every id a query gets from the index
 *      resolves.
 *   2. A closed chunk's bytes never change and are freed only by
 *      head_free, so readers decode them without a lock; the open chunk
 *      is copied under the series lock.
 *   3. Samples in a series are strictly increasing in time.
 */
#include "tsdb/head.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunk_xor.h"
#include "tsdb/chunks_disk.h"
#include "tsdb/head_ooo.h"
#include "tsdb/tombstone.h"

#define PAGE_BITS 14
#define PAGE_SIZE ((size_t)1 << PAGE_BITS)
#define MAX_PAGES ((size_t)1 << 16)
#define SERIES_LOCKS 4096
#define OPEN_CHUNK_MIN 48

/* A closed chunk. */
struct hchunk {
	int64_t mint;  /* first sample's timestamp */
	int64_t maxt;  /* last sample's timestamp */
	uint8_t *data; /* exactly len bytes of XOR chunk, owned */
	size_t len;    /* bytes at data */
};

struct head_series {
	struct labels lset;    /* interned labels; v points at labels[] */
	uint64_t hash;         /* labels_hash(lset) */
	uint32_t id;           /* index of this series in page[] */
	uint32_t nchunks;      /* closed chunks */
	uint32_t chunks_cap;   /* allocated entries of chunks */
	struct hchunk *chunks; /* closed chunks, oldest first, owned */
	struct xor_enc enc;    /* open chunk encoder; enc.buf owned, NULL before a sample */
	int64_t open_mint;     /* first timestamp of the open chunk */
	int64_t last_t;        /* newest timestamp, INT64_MIN when none */
	uint64_t last_v;       /* newest value bits */
	struct ooo *ooo;       /* out-of-order samples (head_ooo.h), NULL when none */
	struct label labels[]; /* lset.n labels */
};

/* One shard of the series table. */
struct hstripe {
	pthread_mutex_t lock;      /* guards slot, cap, count */
	struct head_series **slot; /* cap slots, NULL = empty */
	size_t cap;                /* power of two or 0 */
	size_t count;              /* series in this shard */
} __attribute__((aligned(64)));

struct head {
	size_t chunk_samples;            /* cut threshold */
	size_t nstripes;                 /* power of two */
	struct hstripe *stripe;          /* series table shards */
	pthread_mutex_t slock[SERIES_LOCKS]; /* series data locks, by id */
	pthread_mutex_t page_lock;       /* serialises page allocation */
	struct head_series **page[MAX_PAGES]; /* id -> series pages */
	uint32_t next_id;                /* next id to hand out (atomic) */
	uint32_t nseries;                /* series fully created (atomic) */
	uint64_t nchunks;                /* closed + open chunks (atomic) */
	size_t bytes;                    /* series + chunk bytes (atomic) */
	struct symtab *syms;             /* interned strings, owned */
	struct index *ix;                /* postings, owned */
	struct cdisk *disk;              /* files of closed chunks, owned; NULL: heap */
	int64_t block_range;             /* cut at multiples of this (ms); 0: off */
	struct tombstones *tomb;         /* deleted ranges by series id, not owned; may be NULL */
};

static void add_bytes(struct head *h, long delta)
{
	__atomic_add_fetch(&h->bytes, (size_t)delta, __ATOMIC_RELAXED);
}

struct head *head_new(const struct head_opts *opts)
{
	struct head *h = calloc(1, sizeof(*h));
	size_t ns = opts && opts->stripes ? opts->stripes : 256;

	if (!h)
		return NULL;
	while (ns & (ns - 1)) /* round down to a power of two */
		ns &= ns - 1;
	h->nstripes = ns;
	h->chunk_samples = opts && opts->chunk_samples ? opts->chunk_samples : XOR_CHUNK_SAMPLES;
	if (h->chunk_samples > 65535)
		h->chunk_samples = 65535;
	h->stripe = calloc(ns, sizeof(*h->stripe));
	h->syms = symtab_new();
	h->ix = index_new();
	h->block_range = opts && opts->block_range > 0 ? opts->block_range : 0;
	if (opts && opts->chunks_dir) {
		struct ts_error e;

		h->disk = cdisk_open(opts->chunks_dir, &e); /* NULL: chunks stay on the heap */
	}
	if (!h->stripe || !h->syms || !h->ix) {
		free(h->stripe);
		symtab_free(h->syms);
		index_free(h->ix);
		free(h);
		return NULL;
	}
	for (size_t i = 0; i < ns; i++)
		pthread_mutex_init(&h->stripe[i].lock, NULL);
	for (size_t i = 0; i < SERIES_LOCKS; i++)
		pthread_mutex_init(&h->slock[i], NULL);
	pthread_mutex_init(&h->page_lock, NULL);
	return h;
}

/* Free closed chunk bytes wherever they live; true when they were heap. */
static bool chunk_data_free(struct head *h, uint8_t *data, size_t len)
{
	if (h->disk && cdisk_owns(h->disk, data)) {
		cdisk_release(h->disk, data, len);
		return false;
	}
	free(data);
	return true;
}

static void series_free(struct head *h, struct head_series *s)
{
	for (uint32_t i = 0; i < s->nchunks; i++)
		chunk_data_free(h, s->chunks[i].data, s->chunks[i].len);
	free(s->chunks);
	free(s->enc.buf);
	ooo_free(s->ooo);
	free(s);
}

void head_free(struct head *h)
{
	if (!h)
		return;
	for (size_t p = 0; p < MAX_PAGES; p++) {
		if (!h->page[p])
			continue;
		for (size_t i = 0; i < PAGE_SIZE; i++)
			if (h->page[p][i])
				series_free(h, h->page[p][i]);
		free(h->page[p]);
	}
	for (size_t i = 0; i < h->nstripes; i++) {
		free(h->stripe[i].slot);
		pthread_mutex_destroy(&h->stripe[i].lock);
	}
	for (size_t i = 0; i < SERIES_LOCKS; i++)
		pthread_mutex_destroy(&h->slock[i]);
	pthread_mutex_destroy(&h->page_lock);
	free(h->stripe);
	index_free(h->ix);
	symtab_free(h->syms);
	cdisk_free(h->disk);
	free(h);
}

struct symtab *head_symtab(struct head *h)
{
	return h->syms;
}

struct index *head_index(struct head *h)
{
	return h->ix;
}

uint32_t head_num_series(struct head *h)
{
	return __atomic_load_n(&h->nseries, __ATOMIC_ACQUIRE);
}

uint64_t head_num_chunks(struct head *h)
{
	return __atomic_load_n(&h->nchunks, __ATOMIC_RELAXED);
}

size_t head_bytes(struct head *h)
{
	return __atomic_load_n(&h->bytes, __ATOMIC_RELAXED) + index_bytes(h->ix) +
	       symtab_bytes(h->syms) + sizeof(*h) + h->nstripes * sizeof(*h->stripe);
}

uint32_t head_series_id(const struct head_series *s)
{
	return s->id;
}

const struct labels *head_series_labels(const struct head_series *s)
{
	return &s->lset;
}

struct head_series *head_series_by_id(struct head *h, uint32_t id)
{
	struct head_series **pg;

	if ((id >> PAGE_BITS) >= MAX_PAGES)
		return NULL;
	pg = __atomic_load_n(&h->page[id >> PAGE_BITS], __ATOMIC_ACQUIRE);
	if (!pg)
		return NULL;
	return __atomic_load_n(&pg[id & (PAGE_SIZE - 1)], __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ series table */

static struct hstripe *stripe_of(struct head *h, uint64_t hash)
{
	return &h->stripe[hash & (h->nstripes - 1)];
}

/* Look ls up in a locked stripe. */
static struct head_series *stripe_find(struct hstripe *sp, const struct labels *ls,
				       uint64_t hash)
{
	if (!sp->cap)
		return NULL;
	for (size_t j = (hash >> 16) & (sp->cap - 1); sp->slot[j]; j = (j + 1) & (sp->cap - 1)) {
		struct head_series *s = sp->slot[j];

		if (s->hash == hash && labels_equal(&s->lset, ls))
			return s;
	}
	return NULL;
}

/* Make room for one more series in a locked stripe. */
static bool stripe_reserve(struct head *h, struct hstripe *sp)
{
	size_t ncap;
	struct head_series **ns;

	if ((sp->count + 1) * 4 <= sp->cap * 3)
		return true;
	ncap = sp->cap ? sp->cap * 2 : 16;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return false;
	for (size_t i = 0; i < sp->cap; i++) {
		struct head_series *s = sp->slot[i];
		size_t j;

		if (!s)
			continue;
		j = (s->hash >> 16) & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = s;
	}
	free(sp->slot);
	add_bytes(h, (long)((ncap - sp->cap) * sizeof(*ns)));
	sp->slot = ns;
	sp->cap = ncap;
	return true;
}

/* Store s at its id, allocating the page when needed. */
static bool publish(struct head *h, struct head_series *s)
{
	size_t p = s->id >> PAGE_BITS;
	struct head_series **pg;

	if (p >= MAX_PAGES)
		return false;
	pg = __atomic_load_n(&h->page[p], __ATOMIC_ACQUIRE);
	if (!pg) {
		pthread_mutex_lock(&h->page_lock);
		pg = h->page[p];
		if (!pg) {
			pg = calloc(PAGE_SIZE, sizeof(*pg));
			if (pg) {
				add_bytes(h, (long)(PAGE_SIZE * sizeof(*pg)));
				__atomic_store_n(&h->page[p], pg, __ATOMIC_RELEASE);
			}
		}
		pthread_mutex_unlock(&h->page_lock);
		if (!pg)
			return false;
	}
	__atomic_store_n(&pg[s->id & (PAGE_SIZE - 1)], s, __ATOMIC_RELEASE);
	return true;
}

/* A new series for ls with interned labels, or NULL. */
static struct head_series *series_new(struct head *h, const struct labels *ls,
				      uint64_t hash)
{
	struct head_series *s = calloc(1, sizeof(*s) + ls->n * sizeof(struct label));

	if (!s)
		return NULL;
	for (size_t i = 0; i < ls->n; i++) {
		s->labels[i].name = symtab_intern(h->syms, ls->v[i].name, strlen(ls->v[i].name));
		s->labels[i].value =
			symtab_intern(h->syms, ls->v[i].value, strlen(ls->v[i].value));
		if (!s->labels[i].name || !s->labels[i].value) {
			free(s);
			return NULL;
		}
	}
	s->lset.v = s->labels;
	s->lset.n = ls->n;
	s->hash = hash;
	s->last_t = INT64_MIN;
	return s;
}

struct head_series *head_get(struct head *h, const struct labels *ls, uint64_t hash)
{
	struct hstripe *sp = stripe_of(h, hash);
	struct head_series *s;

	pthread_mutex_lock(&sp->lock);
	s = stripe_find(sp, ls, hash);
	pthread_mutex_unlock(&sp->lock);
	return s;
}

struct head_series *head_get_or_create(struct head *h, const struct labels *ls,
				       uint64_t hash, bool *created)
{
	return head_get_or_create_id(h, ls, hash, HEAD_ID_ANY, created);
}

/* Claim id want (when free) for a new series, or the next fresh id. */
static uint32_t claim_id(struct head *h, uint32_t want)
{
	uint32_t cur;

	if (want == HEAD_ID_ANY || (want >> PAGE_BITS) >= MAX_PAGES ||
	    head_series_by_id(h, want))
		return __atomic_fetch_add(&h->next_id, 1, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&h->next_id, __ATOMIC_RELAXED);
	while (cur <= want &&
	       !__atomic_compare_exchange_n(&h->next_id, &cur, want + 1, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	return want;
}

struct head_series *head_get_or_create_id(struct head *h, const struct labels *ls,
					  uint64_t hash, uint32_t want_id, bool *created)
{
	struct hstripe *sp = stripe_of(h, hash);
	struct head_series *s;
	size_t j;

	if (created)
		*created = false;
	pthread_mutex_lock(&sp->lock);
	s = stripe_find(sp, ls, hash);
	if (s)
		goto out;
	if (!stripe_reserve(h, sp))
		goto out;
	s = series_new(h, ls, hash);
	if (!s)
		goto out;
	s->id = claim_id(h, want_id);
	if (!publish(h, s)) {
		free(s);
		s = NULL;
		goto out;
	}
	if (index_add(h->ix, s->id, &s->lset) < 0) {
		/* stays published (ids are never reused) but unreachable by
		 * label lookup; the caller sees NOMEM */
		s = NULL;
		goto out;
	}
	j = (hash >> 16) & (sp->cap - 1);
	while (sp->slot[j])
		j = (j + 1) & (sp->cap - 1);
	sp->slot[j] = s;
	sp->count++;
	add_bytes(h, (long)(sizeof(*s) + ls->n * sizeof(struct label)));
	__atomic_add_fetch(&h->nseries, 1, __ATOMIC_RELEASE);
	if (created)
		*created = true;
out:
	pthread_mutex_unlock(&sp->lock);
	return s;
}

/* ------------------------------------------------------------ appending */

static pthread_mutex_t *series_lock(struct head *h, const struct head_series *s)
{
	return &h->slock[s->id & (SERIES_LOCKS - 1)];
}

void head_series_lock(struct head *h, struct head_series *s)
{
	pthread_mutex_lock(series_lock(h, s));
}

void head_series_unlock(struct head *h, struct head_series *s)
{
	pthread_mutex_unlock(series_lock(h, s));
}

bool head_series_newest_locked(const struct head_series *s, int64_t *t, uint64_t *vbits)
{
	*t = s->last_t;
	*vbits = s->last_v;
	return s->enc.buf != NULL || s->nchunks > 0;
}

/* Close the open chunk: shrink it to its exact size and move it to chunks. */
static int cut_chunk(struct head *h, struct head_series *s)
{
	size_t len = xor_enc_len(&s->enc);
	uint8_t *data;

	if (s->nchunks == s->chunks_cap) {
		uint32_t ncap = s->chunks_cap ? s->chunks_cap * 2 : 2;
		struct hchunk *nc = realloc(s->chunks, ncap * sizeof(*nc));

		if (!nc)
			return TS_ERR_NOMEM;
		add_bytes(h, (long)((ncap - s->chunks_cap) * sizeof(*nc)));
		s->chunks = nc;
		s->chunks_cap = ncap;
	}
	/* a closed chunk never changes: off the heap when there are files */
	data = h->disk ? (uint8_t *)cdisk_put(h->disk, s->enc.buf, len) : NULL;
	if (data) {
		free(s->enc.buf);
		add_bytes(h, -(long)s->enc.cap);
	} else {
		data = realloc(s->enc.buf, len);
		if (!data)
			data = s->enc.buf;
		add_bytes(h, (long)len - (long)s->enc.cap);
	}
	s->chunks[s->nchunks].mint = s->open_mint;
	s->chunks[s->nchunks].maxt = s->last_t;
	s->chunks[s->nchunks].data = data;
	s->chunks[s->nchunks].len = len;
	s->nchunks++;
	s->enc.buf = NULL;
	s->enc.cap = 0;
	return 0;
}

/* Do a and b (a <= b) lie in different block ranges? */
static bool crosses_block(const struct head *h, int64_t a, int64_t b)
{
	int64_t r = h->block_range;

	if (!r)
		return false;
	a = a >= 0 ? a / r : -((-a + r - 1) / r);
	b = b >= 0 ? b / r : -((-b + r - 1) / r);
	return a != b;
}

/* Start an open chunk at t. */
static int open_chunk(struct head *h, struct head_series *s, int64_t t)
{
	uint8_t *buf = malloc(OPEN_CHUNK_MIN);

	if (!buf)
		return TS_ERR_NOMEM;
	xor_enc_init(&s->enc, buf, OPEN_CHUNK_MIN);
	s->open_mint = t;
	add_bytes(h, OPEN_CHUNK_MIN);
	__atomic_add_fetch(&h->nchunks, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Look t up in one XOR chunk: 1 (found, *vbits), 0, TS_ERR_CORRUPT. */
static int chunk_find(const uint8_t *data, size_t len, int64_t t, uint64_t *vbits)
{
	struct xor_iter it;
	int64_t ct;
	double cv;
	int rc;

	xor_iter_init(&it, data, len);
	while ((rc = xor_iter_next(&it, &ct, &cv)) == 1 && ct <= t) {
		if (ct == t) {
			memcpy(vbits, &cv, sizeof(*vbits));
			return 1;
		}
	}
	return rc < 0 ? TS_ERR_CORRUPT : 0;
}

int head_series_find_locked(struct head *h, struct head_series *s, int64_t t,
			    uint64_t *vbits)
{
	size_t lo = 0, hi = s->nchunks;

	(void)h;
	if (s->enc.buf && s->enc.num > 0 && t >= s->open_mint && t <= s->last_t) {
		int rc = chunk_find(s->enc.buf, xor_enc_len(&s->enc), t, vbits);

		return rc != 0 ? rc : ooo_find(s->ooo, t, vbits);
	}
	while (lo < hi) { /* first closed chunk with maxt >= t */
		size_t mid = lo + (hi - lo) / 2;

		if (s->chunks[mid].maxt < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->nchunks && s->chunks[lo].mint <= t) {
		int rc = chunk_find(s->chunks[lo].data, s->chunks[lo].len, t, vbits);

		if (rc != 0)
			return rc;
	}
	return ooo_find(s->ooo, t, vbits);
}

/* Store an out-of-order (t, vbits) of locked s: as append_locked. */
static int append_ooo(struct head *h, struct head_series *s, int64_t t, uint64_t vbits)
{
	uint64_t have;
	long bytes = 0;
	int rc = head_series_find_locked(h, s, t, &have);

	if (rc < 0)
		return rc;
	if (rc == 1)
		return have == vbits ? 1 : TS_ERR_DUPLICATE;
	rc = ooo_insert(&s->ooo, t, vbits, &bytes);
	add_bytes(h, bytes);
	return rc;
}

int head_series_append_locked(struct head *h, struct head_series *s, int64_t t,
			      uint64_t vbits)
{
	bool have = s->enc.buf != NULL || s->nchunks > 0;
	int rc = head_sample_order(have, s->last_t, s->last_v, t, vbits);
	double v;

	if (rc == TS_ERR_OUT_OF_ORDER)
		return append_ooo(h, s, t, vbits);
	if (rc != 0)
		return rc;
	if (s->enc.buf && (s->enc.num >= h->chunk_samples || crosses_block(h, s->open_mint, t)) &&
	    cut_chunk(h, s) < 0)
		return TS_ERR_NOMEM;
	if (!s->enc.buf && open_chunk(h, s, t) < 0)
		return TS_ERR_NOMEM;
	memcpy(&v, &vbits, sizeof(v));
	while (!xor_enc_append(&s->enc, t, v)) {
		/* grow by a quarter (at least 32 bytes): a few reallocs per
		 * chunk, little slack in the open chunk of every series */
		size_t ncap = s->enc.cap + s->enc.cap / 4;
		uint8_t *nb;

		if (ncap < s->enc.cap + 32)
			ncap = s->enc.cap + 32;
		nb = realloc(s->enc.buf, ncap);
		if (!nb)
			return TS_ERR_NOMEM;
		add_bytes(h, (long)(ncap - s->enc.cap));
		s->enc.buf = nb;
		s->enc.cap = ncap;
	}
	s->last_t = t;
	s->last_v = vbits;
	return 0;
}

int head_series_append(struct head *h, struct head_series *s, int64_t t, uint64_t vbits)
{
	int rc;

	head_series_lock(h, s);
	rc = head_series_append_locked(h, s, t, vbits);
	head_series_unlock(h, s);
	return rc;
}

/* ------------------------------------------------------------ reading */

/* A chunk to decode: closed chunk bytes in place, or the open chunk copy. */
struct chunk_ref {
	const uint8_t *data; /* chunk bytes */
	size_t len;          /* bytes */
	int64_t mint, maxt;  /* time range */
};

#define REFS_INLINE 16

static long merged_chunks(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			  struct head_chunk **out);

long head_series_chunks(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			struct head_chunk **out)
{
	size_t lo = 0, hi, n = 0, bytes = 0, i;
	bool open_in;
	struct head_chunk *v;
	uint8_t *p;

	*out = NULL;
	if (mint > maxt)
		return 0;
	head_series_lock(h, s);
	if (ooo_count(s->ooo) || !tomb_empty(h->tomb)) {
		/* out-of-order samples or deletes: the stored chunks are not
		 * what a reader must see; hand out the merged samples instead */
		head_series_unlock(h, s);
		return merged_chunks(h, s, mint, maxt, out);
	}
	hi = s->nchunks;
	while (lo < hi) { /* first closed chunk with maxt >= mint */
		size_t mid = lo + (hi - lo) / 2;

		if (s->chunks[mid].maxt < mint)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < s->nchunks && s->chunks[i].mint <= maxt; i++) {
		n++;
		bytes += s->chunks[i].len;
	}
	open_in = s->enc.buf && s->enc.num > 0 && s->open_mint <= maxt && s->last_t >= mint;
	if (open_in) {
		n++;
		bytes += xor_enc_len(&s->enc);
	}
	if (!n) {
		head_series_unlock(h, s);
		return 0;
	}
	v = malloc(n * sizeof(*v) + bytes);
	if (!v) {
		head_series_unlock(h, s);
		return TS_ERR_NOMEM;
	}
	p = (uint8_t *)(v + n);
	n = 0;
	for (i = lo; i < s->nchunks && s->chunks[i].mint <= maxt; i++, n++) {
		memcpy(p, s->chunks[i].data, s->chunks[i].len);
		v[n] = (struct head_chunk){ s->chunks[i].mint, s->chunks[i].maxt, p,
					    s->chunks[i].len };
		p += s->chunks[i].len;
	}
	if (open_in) {
		size_t len = xor_enc_len(&s->enc);

		memcpy(p, s->enc.buf, len);
		v[n++] = (struct head_chunk){ s->open_mint, s->last_t, p, len };
	}
	head_series_unlock(h, s);
	*out = v;
	return (long)n;
}

/* head_series_samples over the in-order chunks only. */
static long inorder_samples(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			    int64_t **tout, double **vout)
{
	struct chunk_ref inl[REFS_INLINE], *refs = inl;
	uint8_t *open_copy = NULL;
	size_t nref = 0, total = 0, lo, hi;
	bool count_only = !tout;
	int64_t *ts = NULL;
	double *vs = NULL;
	long n = 0;

	if (tout) {
		*tout = NULL;
		*vout = NULL;
	}
	if (mint > maxt)
		return 0;
	head_series_lock(h, s);
	/* first closed chunk with maxt >= mint */
	lo = 0;
	hi = s->nchunks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->chunks[mid].maxt < mint)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->nchunks && s->chunks[i].mint <= maxt; i++)
		nref++;
	if (s->enc.buf && s->enc.num > 0 && s->open_mint <= maxt && s->last_t >= mint)
		nref++;
	if (nref > REFS_INLINE) {
		refs = malloc(nref * sizeof(*refs));
		if (!refs) {
			head_series_unlock(h, s);
			return TS_ERR_NOMEM;
		}
	}
	nref = 0;
	for (size_t i = lo; i < s->nchunks && s->chunks[i].mint <= maxt; i++) {
		refs[nref].data = s->chunks[i].data;
		refs[nref].len = s->chunks[i].len;
		refs[nref].mint = s->chunks[i].mint;
		refs[nref].maxt = s->chunks[i].maxt;
		nref++;
	}
	if (s->enc.buf && s->enc.num > 0 && s->open_mint <= maxt && s->last_t >= mint) {
		size_t len = xor_enc_len(&s->enc);

		refs[nref].mint = s->open_mint;
		refs[nref].maxt = s->last_t;
		if (count_only && s->open_mint >= mint && s->last_t <= maxt) {
			refs[nref].data = NULL; /* fully inside: no need to decode */
			refs[nref].len = 0;
		} else {
			open_copy = malloc(len);
			if (!open_copy) {
				head_series_unlock(h, s);
				n = TS_ERR_NOMEM;
				goto out;
			}
			memcpy(open_copy, s->enc.buf, len);
			refs[nref].data = open_copy;
			refs[nref].len = len;
		}
		nref++;
	}
	head_series_unlock(h, s);

	if (count_only) {
		for (size_t i = 0; i < nref; i++) {
			struct xor_iter it;
			int64_t t;
			double v;
			int rc;

			/* a chunk inside the range has a sample in it */
			if (refs[i].mint >= mint && refs[i].maxt <= maxt) {
				n = 1;
				goto out;
			}
			xor_iter_init(&it, refs[i].data, refs[i].len);
			while ((rc = xor_iter_next(&it, &t, &v)) == 1) {
				if (t > maxt)
					break;
				if (t >= mint) {
					n = 1;
					goto out;
				}
			}
			if (rc < 0) {
				n = TS_ERR_CORRUPT;
				goto out;
			}
		}
		goto out;
	}

	for (size_t i = 0; i < nref; i++)
		total += xor_chunk_num_samples(refs[i].data, refs[i].len);
	if (total == 0)
		goto out;
	ts = malloc(total * sizeof(*ts));
	vs = malloc(total * sizeof(*vs));
	if (!ts || !vs) {
		n = TS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nref; i++) {
		struct xor_iter it;
		int64_t t;
		double v;
		int rc;

		xor_iter_init(&it, refs[i].data, refs[i].len);
		while ((rc = xor_iter_next(&it, &t, &v)) == 1 && (size_t)n < total) {
			if (t > maxt)
				break;
			if (t >= mint) {
				ts[n] = t;
				vs[n] = v;
				n++;
			}
		}
		if (rc < 0) {
			n = TS_ERR_CORRUPT;
			goto out;
		}
	}
out:
	if (refs != inl)
		free(refs);
	free(open_copy);
	if (n > 0 && !count_only) {
		*tout = ts;
		*vout = vs;
	} else {
		free(ts);
		free(vs);
	}
	return n;
}

/* head_series_samples before tombstones: in-order and out-of-order merged. */
static long merged_samples(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			   int64_t **tout, double **vout)
{
	long n = inorder_samples(h, s, mint, maxt, tout, vout), k;
	int64_t *ot = NULL, *mt = NULL;
	double *ov = NULL, *mv = NULL;
	size_t cap;

	if (n < 0 || (n > 0 && !tout) || mint > maxt)
		return n;
	head_series_lock(h, s);
	cap = ooo_count(s->ooo);
	if (!cap) {
		head_series_unlock(h, s);
		return n;
	}
	ot = malloc(cap * sizeof(*ot));
	ov = malloc(cap * sizeof(*ov));
	k = ot && ov ? ooo_collect(s->ooo, mint, maxt, ot, ov) : TS_ERR_NOMEM;
	head_series_unlock(h, s);
	if (k <= 0 || !tout) {
		free(ot);
		free(ov);
		return k < 0 ? k : (k > 0 ? 1 : n);
	}
	if (n == 0) {
		*tout = ot;
		*vout = ov;
		return k;
	}
	/* merge the in-order run with the out-of-order one */
	mt = malloc((size_t)(n + k) * sizeof(*mt));
	mv = malloc((size_t)(n + k) * sizeof(*mv));
	if (!mt || !mv) {
		free(mt);
		free(mv);
		free(ot);
		free(ov);
		free(*tout);
		free(*vout);
		*tout = NULL;
		*vout = NULL;
		return TS_ERR_NOMEM;
	}
	{
		long i = 0, j = 0, w = 0;

		while (i < n || j < k) {
			if (j >= k || (i < n && (*tout)[i] <= ot[j])) {
				if (j < k && (*tout)[i] == ot[j])
					j++; /* never stored twice; keep the in-order one */
				mt[w] = (*tout)[i];
				mv[w++] = (*vout)[i++];
			} else {
				mt[w] = ot[j];
				mv[w++] = ov[j++];
			}
		}
		n = w;
	}
	free(ot);
	free(ov);
	free(*tout);
	free(*vout);
	*tout = mt;
	*vout = mv;
	return n;
}

/* ------------------------------------------------------------ truncation */

void head_series_trunc_mark(struct head *h, struct head_series *s, int64_t before,
			    struct head_trunc_mark *m)
{
	uint32_t k = 0;

	head_series_lock(h, s);
	while (k < s->nchunks && s->chunks[k].maxt < before)
		k++;
	m->nclosed = k;
	m->open = k == s->nchunks && s->enc.buf && s->last_t < before;
	m->open_num = s->enc.buf ? s->enc.num : 0;
	m->before = before;
	m->ooo_ver = ooo_version(s->ooo);
	head_series_unlock(h, s);
}

bool head_series_truncate(struct head *h, struct head_series *s,
			  const struct head_trunc_mark *m)
{
	uint32_t k = m->nclosed;
	long freed = 0;
	bool empty;

	head_series_lock(h, s);
	if (k > s->nchunks)
		k = s->nchunks;
	for (uint32_t i = 0; i < k; i++) {
		if (chunk_data_free(h, s->chunks[i].data, s->chunks[i].len))
			freed += (long)s->chunks[i].len;
	}
	if (k) {
		memmove(s->chunks, s->chunks + k, (s->nchunks - k) * sizeof(*s->chunks));
		s->nchunks -= k;
	}
	if (m->open && s->nchunks == 0 && s->enc.buf && s->enc.num == m->open_num) {
		freed += (long)s->enc.cap;
		free(s->enc.buf);
		s->enc.buf = NULL;
		s->enc.cap = 0;
		s->enc.num = 0;
		k++;
	}
	if (s->nchunks == 0 && s->chunks_cap > 4) {
		freed += (long)(s->chunks_cap * sizeof(*s->chunks));
		free(s->chunks);
		s->chunks = NULL;
		s->chunks_cap = 0;
	}
	if (s->ooo && ooo_version(s->ooo) == m->ooo_ver)
		freed += ooo_drop_before(s->ooo, m->before);
	empty = s->nchunks == 0 && !s->enc.buf;
	head_series_unlock(h, s);
	if (freed)
		add_bytes(h, -freed);
	if (k)
		__atomic_sub_fetch(&h->nchunks, k, __ATOMIC_RELAXED);
	return empty;
}

void head_set_tombstones(struct head *h, struct tombstones *t)
{
	h->tomb = t;
}

long head_series_samples(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			 int64_t **tout, double **vout)
{
	struct tomb_range *r = NULL;
	int64_t *t = NULL;
	double *v = NULL;
	long nr, n;

	if (tomb_empty(h->tomb) || (nr = tomb_get(h->tomb, s->id, &r)) == 0)
		return merged_samples(h, s, mint, maxt, tout, vout);
	if (tout) {
		*tout = NULL;
		*vout = NULL;
	}
	if (nr < 0)
		return nr;
	/* deleted ranges: read everything in range, then drop what they cover */
	n = merged_samples(h, s, mint, maxt, &t, &v);
	if (n > 0)
		n = (long)tomb_filter(r, (size_t)nr, t, v, (size_t)n);
	free(r);
	if (n <= 0 || !tout) {
		free(t);
		free(v);
		return n > 0 ? 1 : n;
	}
	*tout = t;
	*vout = v;
	return n;
}


void head_drop_resident(struct head *h)
{
	if (h->disk)
		cdisk_drop_resident(h->disk);
}

int64_t head_series_mint(struct head *h, struct head_series *s)
{
	int64_t lo = INT64_MAX, omin, omax;

	head_series_lock(h, s);
	if (s->nchunks)
		lo = s->chunks[0].mint;
	else if (s->enc.buf && s->enc.num > 0)
		lo = s->open_mint;
	if (ooo_range(s->ooo, &omin, &omax) && omin < lo)
		lo = omin;
	head_series_unlock(h, s);
	return lo;
}

/*
 * head_series_chunks for a series whose chunks alone are not the truth:
 * its samples in [mint, maxt] (out-of-order ones merged, deleted ones
 * left out) encoded into fresh XOR chunks of at most chunk_samples.
 */
static long merged_chunks(struct head *h, struct head_series *s, int64_t mint, int64_t maxt,
			  struct head_chunk **out)
{
	int64_t *t = NULL;
	double *v = NULL;
	long n = head_series_samples(h, s, mint, maxt, &t, &v);
	size_t per = h->chunk_samples, nc, bytes;
	struct head_chunk *c;
	uint8_t *p;

	*out = NULL;
	if (n <= 0)
		return n;
	nc = ((size_t)n + per - 1) / per;
	bytes = nc * (16 + per * XOR_MAX_SAMPLE_BYTES);
	c = malloc(nc * sizeof(*c) + bytes);
	if (!c) {
		free(t);
		free(v);
		return TS_ERR_NOMEM;
	}
	p = (uint8_t *)(c + nc);
	for (size_t k = 0; k < nc; k++) {
		size_t from = k * per, to = from + per < (size_t)n ? from + per : (size_t)n;
		struct xor_enc e;

		xor_enc_init(&e, p, 16 + per * XOR_MAX_SAMPLE_BYTES);
		for (size_t i = from; i < to; i++)
			xor_enc_append(&e, t[i], v[i]);
		c[k].mint = t[from];
		c[k].maxt = t[to - 1];
		c[k].data = p;
		c[k].len = xor_enc_len(&e);
		p += c[k].len;
	}
	free(t);
	free(v);
	*out = c;
	return (long)nc;
}
