/*
 * compact.c - the block list, head persistence, compaction, retention.
 *
 * Structure:
 *   bstore
 *     lock          guards v/n/cap (the list) and nothing else
 *     v[n]          open blocks sorted by min_time, one reference each
 *
 * Every change to the list builds the new block (or decides what to drop)
 * without the lock, then swaps under it; dropped blocks are marked
 * deleted and their list reference is released, so the directory goes
 * when the last snapshot does.
 *
 * Invariants:
 *   1. A block in the list has passed block_open's checks.
 *   2. Data is never in no block and not in the head: the head is
 *      truncated only after the block holding its samples is in the list,
 *      and merged inputs leave the list in the same swap that adds the
 *      merged block.
 */
#define _GNU_SOURCE /* asprintf */
#include "tsdb/compact.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/arena.h"
#include "util/log.h"

#define DAY_MS (24LL * 3600 * 1000)
#define MAX_COMPACT_RANGE (31 * DAY_MS)

struct bstore {
	char *dir;                /* data directory, owned */
	struct bstore_opts opts;  /* with defaults filled in */
	pthread_mutex_t lock;     /* guards v, n, cap */
	struct block **v;         /* blocks sorted by min_time */
	size_t n, cap;            /* used and allocated */
};

size_t samples_merge(const int64_t *ta, const double *va, size_t na, const int64_t *tb,
		     const double *vb, size_t nb, int64_t *tout, double *vout)
{
	size_t i = 0, j = 0, k = 0;

	while (i < na || j < nb) {
		if (j >= nb || (i < na && ta[i] <= tb[j])) {
			if (j < nb && tb[j] == ta[i])
				j++; /* same timestamp: a wins */
			tout[k] = ta[i];
			vout[k++] = va[i++];
		} else {
			tout[k] = tb[j];
			vout[k++] = vb[j++];
		}
	}
	return k;
}

static int cmp_block(const void *a, const void *b)
{
	const struct block_meta *x = block_meta(*(struct block *const *)a);
	const struct block_meta *y = block_meta(*(struct block *const *)b);

	if (x->min_time != y->min_time)
		return x->min_time < y->min_time ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Append b (reference moves in) to the list; lock held. */
static int list_add(struct bstore *bs, struct block *b)
{
	if (bs->n == bs->cap) {
		size_t ncap = bs->cap ? bs->cap * 2 : 16;
		struct block **nv = realloc(bs->v, ncap * sizeof(*nv));

		if (!nv)
			return TS_ERR_NOMEM;
		bs->v = nv;
		bs->cap = ncap;
	}
	bs->v[bs->n++] = b;
	qsort(bs->v, bs->n, sizeof(*bs->v), cmp_block);
	return 0;
}

/* Remove b from the list, mark it deleted and drop the list's reference;
 * lock held. */
static void list_drop(struct bstore *bs, struct block *b)
{
	for (size_t i = 0; i < bs->n; i++) {
		if (bs->v[i] != b)
			continue;
		memmove(&bs->v[i], &bs->v[i + 1], (bs->n - i - 1) * sizeof(*bs->v));
		bs->n--;
		block_mark_deleted(b);
		block_unref(b);
		return;
	}
}

static bool has_source(const struct block_meta *m, const char *id)
{
	for (size_t i = 0; i < m->nsources; i++)
		if (strcmp(m->sources[i], id) == 0)
			return true;
	return false;
}

/* Is x wholly contained in a higher-level block y, or in a newer rewrite
 * of itself (same level and sources, see bstore_delete)? */
static bool superseded(const struct block_meta *x, const struct block_meta *y)
{
	if (y->level < x->level || x->nsources == 0)
		return false;
	if (y->level == x->level &&
	    (x->nsources != y->nsources || strcmp(y->id, x->id) <= 0))
		return false;
	for (size_t i = 0; i < x->nsources; i++)
		if (!has_source(y, x->sources[i]))
			return false;
	return true;
}

static void move_aside(const char *dir, const char *name, const char *path,
		       const struct ts_error *e)
{
	char *cdir = NULL, *dest = NULL, q1[256], q2[512];

	if (asprintf(&cdir, "%s/corrupted", dir) < 0)
		return;
	if (asprintf(&dest, "%s/%s", cdir, name) < 0) {
		free(cdir);
		return;
	}
	mkdir(cdir, 0755);
	block_rm_rf(dest);
	if (rename(path, dest) < 0)
		log_msg(LOG_ERROR, "cannot move a corrupt block aside", "block=%s err=%s",
			log_quote(path, q1, sizeof(q1)), log_quote(strerror(errno), q2, sizeof(q2)));
	else
		log_msg(LOG_ERROR, "block failed its checks and was moved aside; its data is not served",
			"block=%s moved_to=%s err=%s", name, log_quote(dest, q1, sizeof(q1)),
			log_quote(e->msg, q2, sizeof(q2)));
	free(cdir);
	free(dest);
}

struct bstore *bstore_open(const char *dir, const struct bstore_opts *opts,
			   struct ts_error *err)
{
	struct bstore *bs = calloc(1, sizeof(*bs));
	DIR *d = NULL;
	struct dirent *e;
	char q[512];

	if (!bs || !(bs->dir = strdup(dir))) {
		free(bs);
		ts_error_set(err, TS_ERR_NOMEM, "cannot open blocks: out of memory");
		return NULL;
	}
	pthread_mutex_init(&bs->lock, NULL);
	if (opts)
		bs->opts = *opts;
	if (bs->opts.block_range <= 0)
		bs->opts.block_range = 2 * 3600 * 1000;
	if (bs->opts.retention_ms <= 0)
		bs->opts.retention_ms = 15 * DAY_MS;
	d = opendir(dir);
	if (!d) {
		ts_error_set(err, TS_ERR_IO, "cannot read data directory %s: %s", dir,
			     strerror(errno));
		goto fail;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char *path;

		if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0 &&
		    (l == BLOCK_ID_LEN + 4)) {
			if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
				continue;
			block_rm_rf(path);
			log_msg(LOG_WARN, "removed a block left half-written by an earlier run",
				"dir=%s", log_quote(path, q, sizeof(q)));
			free(path);
			continue;
		}
		if (!block_is_id(e->d_name))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			continue;
		struct ts_error be;
		struct block *b;

		ts_error_clear(&be);
		b = block_open(path, &be);
		if (!b) {
			if (be.code == TS_ERR_NOMEM) {
				free(path);
				ts_error_set(err, TS_ERR_NOMEM, "cannot open blocks: out of memory");
				goto fail;
			}
			move_aside(dir, e->d_name, path, &be);
		} else if (list_add(bs, b) < 0) {
			block_unref(b);
			free(path);
			ts_error_set(err, TS_ERR_NOMEM, "cannot open blocks: out of memory");
			goto fail;
		}
		free(path);
	}
	closedir(d);
	d = NULL;
	/* inputs of a merge that a crash left behind */
	for (size_t i = 0; i < bs->n;) {
		bool gone = false;

		for (size_t j = 0; j < bs->n && !gone; j++)
			if (j != i && superseded(block_meta(bs->v[i]), block_meta(bs->v[j])))
				gone = true;
		if (!gone) {
			i++;
			continue;
		}
		log_msg(LOG_INFO, "removed a block already merged into another", "block=%s",
			block_meta(bs->v[i])->id);
		list_drop(bs, bs->v[i]);
	}
	return bs;
fail:
	if (d)
		closedir(d);
	bstore_free(bs);
	return NULL;
}

void bstore_free(struct bstore *bs)
{
	if (!bs)
		return;
	for (size_t i = 0; i < bs->n; i++)
		block_unref(bs->v[i]);
	free(bs->v);
	pthread_mutex_destroy(&bs->lock);
	free(bs->dir);
	free(bs);
}

int bstore_snapshot(struct bstore *bs, struct bsnap *out)
{
	out->v = NULL;
	out->n = 0;
	pthread_mutex_lock(&bs->lock);
	if (bs->n) {
		out->v = malloc(bs->n * sizeof(*out->v));
		if (!out->v) {
			pthread_mutex_unlock(&bs->lock);
			return TS_ERR_NOMEM;
		}
		for (size_t i = 0; i < bs->n; i++) {
			block_ref(bs->v[i]);
			out->v[i] = bs->v[i];
		}
		out->n = bs->n;
	}
	pthread_mutex_unlock(&bs->lock);
	return 0;
}

void bsnap_release(struct bsnap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		block_unref(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void bstore_stats(struct bstore *bs, size_t *nblocks, uint64_t *bytes, int64_t *max_time)
{
	uint64_t total = 0;
	int64_t mx = INT64_MIN;

	pthread_mutex_lock(&bs->lock);
	for (size_t i = 0; i < bs->n; i++) {
		total += block_size(bs->v[i]);
		if (block_meta(bs->v[i])->max_time > mx)
			mx = block_meta(bs->v[i])->max_time;
	}
	if (nblocks)
		*nblocks = bs->n;
	pthread_mutex_unlock(&bs->lock);
	if (bytes)
		*bytes = total;
	if (max_time)
		*max_time = mx;
}

int64_t bstore_block_range(const struct bstore *bs)
{
	return bs->opts.block_range;
}

/* Open the block just written and add it to the list. */
static int publish_block(struct bstore *bs, const char *id, struct block **out,
			 struct ts_error *err)
{
	char *path;
	struct block *b;

	if (asprintf(&path, "%s/%s", bs->dir, id) < 0)
		return ts_error_set(err, TS_ERR_NOMEM, "cannot open new block: out of memory");
	b = block_open(path, err);
	free(path);
	if (!b)
		return err ? err->code : TS_ERR_IO;
	*out = b;
	return 0;
}

static int cmp_hseries(const void *a, const void *b)
{
	return labels_cmp(head_series_labels(*(struct head_series *const *)a),
			  head_series_labels(*(struct head_series *const *)b));
}

int bstore_persist_head(struct bstore *bs, struct head *h, int64_t mint, int64_t maxt,
			pthread_rwlock_t *excl, bool *written, struct ts_error *err)
{
	uint32_t n = head_num_series(h);
	struct head_trunc_mark *marks = calloc(n ? n : 1, sizeof(*marks));
	struct head_series **sel = malloc((n ? n : 1) * sizeof(*sel));
	struct block_writer *w = NULL;
	struct block *b = NULL;
	struct block_meta meta;
	size_t k = 0;
	int rc = 0;

	*written = false;
	memset(&meta, 0, sizeof(meta));
	if (!marks || !sel) {
		rc = ts_error_set(err, TS_ERR_NOMEM, "cannot persist head: out of memory");
		goto out;
	}
	for (uint32_t id = 0; id < n; id++) {
		struct head_series *s = head_series_by_id(h, id);
		long r;

		if (!s)
			continue;
		head_series_trunc_mark(h, s, maxt, &marks[id]);
		/* from the start: a marked chunk may hold samples that came
		 * late, below mint, and out-of-order samples below mint are
		 * dropped with the rest; the writer lowers meta.min_time */
		r = head_series_samples(h, s, INT64_MIN, maxt - 1, NULL, NULL);
		if (r < 0) {
			rc = ts_error_set(err, (int)r, "cannot persist head: %s", ts_strerror((int)r));
			goto out;
		}
		if (r > 0)
			sel[k++] = s;
	}
	qsort(sel, k, sizeof(*sel), cmp_hseries);
	if (k) {
		w = block_writer_new(bs->dir, err);
		if (!w) {
			rc = err ? err->code : TS_ERR_IO;
			goto out;
		}
	}
	for (size_t i = 0; i < k; i++) {
		int64_t *t;
		double *v;
		long r = head_series_samples(h, sel[i], INT64_MIN, maxt - 1, &t, &v);

		if (r < 0) {
			rc = ts_error_set(err, (int)r, "cannot persist head: %s", ts_strerror((int)r));
			goto out;
		}
		rc = block_writer_add(w, head_series_labels(sel[i]), t, v, (size_t)r);
		free(t);
		free(v);
		if (rc < 0) {
			ts_error_set(err, rc, "cannot write block: %s", ts_strerror(rc));
			goto out;
		}
	}
	if (w) {
		meta.min_time = mint;
		meta.max_time = maxt;
		meta.level = 1;
		rc = block_writer_commit(w, &meta, err);
		w = NULL;
		if (rc == TS_ERR_NOT_FOUND)
			rc = 0;
		else if (rc < 0)
			goto out;
		else if ((rc = publish_block(bs, meta.id, &b, err)) < 0)
			goto out;
	}
	pthread_rwlock_wrlock(excl);
	if (b) {
		pthread_mutex_lock(&bs->lock);
		rc = list_add(bs, b);
		pthread_mutex_unlock(&bs->lock);
		if (rc < 0) {
			pthread_rwlock_unlock(excl);
			ts_error_set(err, rc, "cannot persist head: out of memory");
			goto out;
		}
		*written = true;
		b = NULL;
	}
	for (uint32_t id = 0; id < n; id++) {
		struct head_series *s = head_series_by_id(h, id);

		if (s)
			head_series_truncate(h, s, &marks[id]);
	}
	pthread_rwlock_unlock(excl);
	head_drop_resident(h); /* reading the head faulted its chunk files in */
	if (*written)
		log_msg(LOG_INFO, "persisted head block", "block=%s mint=%lld maxt=%lld series=%llu samples=%llu",
			meta.id, (long long)meta.min_time, (long long)meta.max_time,
			(unsigned long long)meta.num_series, (unsigned long long)meta.num_samples);
out:
	if (b) {
		block_mark_deleted(b);
		block_unref(b);
	}
	block_writer_abort(w);
	free(marks);
	free(sel);
	return rc;
}

/* One series of a block being merged. */
struct ment {
	struct labels ls; /* labels in the block's mapping */
	uint32_t blk;     /* index of its block in the group */
	uint32_t idx;     /* series number in that block */
};

static int cmp_ment(const void *a, const void *b)
{
	const struct ment *x = a, *y = b;
	int c = labels_cmp(&x->ls, &y->ls);

	if (c)
		return c;
	return x->blk < y->blk ? -1 : x->blk > y->blk;
}

/* Samples to leave out while merging (bstore_delete). */
struct del_spec {
	const struct matcher *ms; /* series selection */
	size_t nms;               /* number of matchers */
	int64_t mint, maxt;       /* deleted range, inclusive */
};

static bool series_matches(const struct labels *ls, const struct matcher *ms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = labels_get(ls, ms[i].name);

		if (!matcher_matches(&ms[i], v ? v : ""))
			return false;
	}
	return true;
}

/* Drop samples of t/v[0..n) inside [mint, maxt]; returns the new count. */
static size_t cut_range(int64_t *t, double *v, size_t n, int64_t mint, int64_t maxt)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (t[i] < mint || t[i] > maxt) {
			t[w] = t[i];
			v[w++] = v[i];
		}
	return w;
}

/*
 * Merge group g[0..n) into a new block; *out gets it (one reference), or
 * NULL when nothing is left. With del, the deleted samples are left out
 * and the block keeps the level and sources of its single input (a
 * rewrite, which supersedes the input at the next open).
 */
static int merge_blocks(struct bstore *bs, struct block **g, size_t n,
			const struct del_spec *del, struct block **out, struct ts_error *err)
{
	struct arena *a = arena_new(0);
	struct ment *ents = NULL;
	struct block_writer *w = NULL;
	struct block_meta meta;
	size_t ne = 0, total = 0;
	int rc = 0;

	memset(&meta, 0, sizeof(meta));
	meta.min_time = INT64_MAX;
	meta.max_time = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		const struct block_meta *m = block_meta(g[i]);

		total += block_num_series(g[i]);
		if (m->min_time < meta.min_time)
			meta.min_time = m->min_time;
		if (m->max_time > meta.max_time)
			meta.max_time = m->max_time;
		if (m->level + (del ? 0 : 1) > meta.level)
			meta.level = m->level + (del ? 0 : 1);
		for (size_t j = 0; j < m->nsources; j++)
			if (!has_source(&meta, m->sources[j]) && meta.nsources < BLOCK_MAX_SOURCES)
				memcpy(meta.sources[meta.nsources++], m->sources[j], BLOCK_ID_LEN + 1);
	}
	ents = malloc((total ? total : 1) * sizeof(*ents));
	if (!a || !ents) {
		rc = ts_error_set(err, TS_ERR_NOMEM, "cannot compact: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < block_num_series(g[i]); j++) {
			rc = block_series_labels(g[i], j, a, &ents[ne].ls);
			if (rc < 0) {
				ts_error_set(err, rc, "cannot compact block %s: %s",
					     block_meta(g[i])->id, ts_strerror(rc));
				goto out;
			}
			ents[ne].blk = (uint32_t)i;
			ents[ne].idx = j;
			ne++;
		}
	qsort(ents, ne, sizeof(*ents), cmp_ment);
	w = block_writer_new(bs->dir, err);
	if (!w) {
		rc = err ? err->code : TS_ERR_IO;
		goto out;
	}
	/* Deletes reach blocks through bstore_delete, which rewrites them;
	 * the head's tombstones keep hiding samples that are still only in
	 * the head or the WAL. */
	for (size_t i = 0; i < ne;) {
		int64_t *t = NULL, *t2, *mt;
		double *v = NULL, *v2, *mv;
		long r = block_series_samples(g[ents[i].blk], ents[i].idx, INT64_MIN, INT64_MAX, &t, &v);
		size_t cnt = r > 0 ? (size_t)r : 0, j = i + 1;

		if (r < 0) {
			rc = ts_error_set(err, (int)r, "cannot compact block %s: %s",
					  block_meta(g[ents[i].blk])->id, ts_strerror((int)r));
			goto out;
		}
		for (; j < ne && labels_equal(&ents[j].ls, &ents[i].ls); j++) {
			r = block_series_samples(g[ents[j].blk], ents[j].idx, INT64_MIN, INT64_MAX,
						 &t2, &v2);
			if (r < 0) {
				free(t);
				free(v);
				rc = ts_error_set(err, (int)r, "cannot compact: %s", ts_strerror((int)r));
				goto out;
			}
			if (r == 0)
				continue;
			mt = malloc((cnt + (size_t)r) * sizeof(*mt));
			mv = malloc((cnt + (size_t)r) * sizeof(*mv));
			if (!mt || !mv) {
				free(mt);
				free(mv);
				free(t);
				free(v);
				free(t2);
				free(v2);
				rc = ts_error_set(err, TS_ERR_NOMEM, "cannot compact: out of memory");
				goto out;
			}
			cnt = samples_merge(t, v, cnt, t2, v2, (size_t)r, mt, mv);
			free(t);
			free(v);
			free(t2);
			free(v2);
			t = mt;
			v = mv;
		}
		if (del && cnt && series_matches(&ents[i].ls, del->ms, del->nms))
			cnt = cut_range(t, v, cnt, del->mint, del->maxt);
		rc = block_writer_add(w, &ents[i].ls, t, v, cnt);
		free(t);
		free(v);
		if (rc < 0) {
			ts_error_set(err, rc, "cannot compact: %s", ts_strerror(rc));
			goto out;
		}
		i = j;
	}
	rc = block_writer_commit(w, &meta, err);
	w = NULL;
	if (rc == TS_ERR_NOT_FOUND) {
		*out = NULL;
		rc = 0;
	} else if (rc == 0) {
		rc = publish_block(bs, meta.id, out, err);
	}
out:
	block_writer_abort(w);
	free(ents);
	arena_free(a);
	return rc;
}

/* Blocks of s (sorted) to merge next, as indices into idx; returns count. */
static size_t plan(struct bstore *bs, const struct bsnap *s, int64_t horizon, size_t *idx)
{
	int64_t R = bs->opts.block_range;
	int64_t maxr = bs->opts.retention_ms / 10;

	if (maxr > MAX_COMPACT_RANGE)
		maxr = MAX_COMPACT_RANGE;
	/* overlapping blocks first */
	for (size_t i = 0; i + 1 < s->n; i++) {
		int64_t end = block_meta(s->v[i])->max_time;
		size_t k = 0;

		idx[k++] = i;
		for (size_t j = i + 1; j < s->n && block_meta(s->v[j])->min_time < end; j++) {
			idx[k++] = j;
			if (block_meta(s->v[j])->max_time > end)
				end = block_meta(s->v[j])->max_time;
		}
		if (k > 1)
			return k;
	}
	for (int64_t W = R * 3; W <= maxr; W *= 3) {
		for (size_t i = 0; i < s->n;) {
			const struct block_meta *m = block_meta(s->v[i]);
			int64_t win = m->min_time >= 0 ? m->min_time / W : -((-m->min_time + W - 1) / W);
			int64_t ws = win * W, we = ws + W;
			size_t k = 0, j = i;

			for (; j < s->n && block_meta(s->v[j])->min_time < we; j++) {
				const struct block_meta *mj = block_meta(s->v[j]);

				if (mj->max_time <= we && mj->max_time - mj->min_time < W)
					idx[k++] = j;
			}
			if (k > 1 && we <= horizon)
				return k;
			i = j > i ? j : i + 1;
		}
	}
	return 0;
}

int bstore_compact(struct bstore *bs, int64_t horizon, struct ts_error *err)
{
	struct bsnap s;
	struct block **g = NULL, *nb = NULL;
	size_t *idx = NULL, k;
	int rc;

	rc = bstore_snapshot(bs, &s);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot compact: out of memory");
	if (s.n < 2) {
		bsnap_release(&s);
		return 0;
	}
	idx = malloc(s.n * sizeof(*idx));
	g = malloc(s.n * sizeof(*g));
	if (!idx || !g) {
		rc = ts_error_set(err, TS_ERR_NOMEM, "cannot compact: out of memory");
		goto out;
	}
	k = plan(bs, &s, horizon, idx);
	if (k < 2) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		g[i] = s.v[idx[i]];
	rc = merge_blocks(bs, g, k, NULL, &nb, err);
	if (rc < 0)
		goto out;
	pthread_mutex_lock(&bs->lock);
	if (nb && list_add(bs, nb) < 0) {
		pthread_mutex_unlock(&bs->lock);
		block_mark_deleted(nb);
		block_unref(nb);
		rc = ts_error_set(err, TS_ERR_NOMEM, "cannot compact: out of memory");
		goto out;
	}
	for (size_t i = 0; i < k; i++)
		list_drop(bs, g[i]);
	pthread_mutex_unlock(&bs->lock);
	log_msg(LOG_INFO, "compacted blocks", "inputs=%zu block=%s", k,
		nb ? block_meta(nb)->id : "none");
	rc = 1;
out:
	free(idx);
	free(g);
	bsnap_release(&s);
	return rc;
}

size_t bstore_retention(struct bstore *bs, int64_t newest)
{
	size_t dropped = 0;
	uint64_t total = 0;

	pthread_mutex_lock(&bs->lock);
	for (size_t i = 0; i < bs->n;) {
		const struct block_meta *m = block_meta(bs->v[i]);

		if (newest != INT64_MIN && m->max_time <= newest - bs->opts.retention_ms) {
			log_msg(LOG_INFO, "dropped a block past the retention time", "block=%s", m->id);
			list_drop(bs, bs->v[i]);
			dropped++;
			continue;
		}
		total += block_size(bs->v[i]);
		i++;
	}
	while (bs->opts.retention_bytes && total > bs->opts.retention_bytes && bs->n > 0) {
		struct block *b = bs->v[0];

		total -= block_size(b);
		log_msg(LOG_INFO, "dropped a block past the retention size", "block=%s",
			block_meta(b)->id);
		list_drop(bs, b);
		dropped++;
	}
	pthread_mutex_unlock(&bs->lock);
	return dropped;
}

/* Has block b a series matching ms with a sample in [mint, maxt]? */
static int block_has(struct block *b, const struct matcher *ms, size_t nms, int64_t mint,
		     int64_t maxt)
{
	struct postings p = POSTINGS_INIT;
	int rc = block_select(b, ms, nms, &p);

	for (size_t i = 0; rc == 0 && i < p.n; i++) {
		long r = block_series_samples(b, p.ids[i], mint, maxt, NULL, NULL);

		if (r != 0)
			rc = r < 0 ? (int)r : 1;
	}
	postings_release(&p);
	return rc;
}

int bstore_delete(struct bstore *bs, const struct matcher *ms, size_t nms, int64_t mint,
		  int64_t maxt, struct ts_error *err)
{
	struct del_spec del = { ms, nms, mint, maxt };
	struct bsnap s;
	int rc = bstore_snapshot(bs, &s);

	if (rc < 0)
		return ts_error_set(err, rc, "cannot delete from blocks: out of memory");
	for (size_t i = 0; i < s.n && rc >= 0; i++) {
		const struct block_meta *m = block_meta(s.v[i]);
		struct block *nb = NULL;

		if (m->min_time > maxt || m->max_time <= mint)
			continue;
		rc = block_has(s.v[i], ms, nms, mint, maxt);
		if (rc < 0) {
			ts_error_set(err, rc, "cannot delete from block %s: %s", m->id,
				     ts_strerror(rc));
			break;
		}
		if (rc == 0)
			continue;
		rc = merge_blocks(bs, &s.v[i], 1, &del, &nb, err);
		if (rc < 0)
			break;
		pthread_mutex_lock(&bs->lock);
		if (nb && list_add(bs, nb) < 0) {
			pthread_mutex_unlock(&bs->lock);
			block_mark_deleted(nb);
			block_unref(nb);
			rc = ts_error_set(err, TS_ERR_NOMEM, "cannot delete from blocks: out of memory");
			break;
		}
		list_drop(bs, s.v[i]);
		pthread_mutex_unlock(&bs->lock);
		log_msg(LOG_INFO, "rewrote a block without deleted samples", "block=%s new=%s",
			m->id, nb ? block_meta(nb)->id : "none");
	}
	bsnap_release(&s);
	return rc < 0 ? rc : 0;
}
