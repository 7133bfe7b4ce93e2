/*
 * db.c - the storage facade: appenders, queriers and metadata over the head.
 *
 * Structure:
 *   db
 *     head                    series, chunks, index, symbols (head.c)
 *     lock_fd                 open DIR/lock with an exclusive flock, so a
 *                             second process cannot use the same directory
 *     app_free                recycled appenders (their arrays are reused,
 *                             so a batch does not allocate once warm)
 *     metadata                families in insertion order plus a hash map
 *                             from the interned family name to its slot
 *     stats                   atomics updated once per commit
 *
 * Appender: samples are staged as (series, t, value bits) in order. At
 * add time a sample is checked against the newest sample of the series,
 * which is the last staged sample of that series in this appender if any
 * (found through a small map from series to the index of its last staged
 * sample, updated lazily whenever a run of samples of one series ends) or
 * else the series' newest stored sample. Commit appends the staged
 * samples under each series' lock in order, rechecking the order rules
 * (another appender may have committed to the same series meanwhile: such
 * samples are dropped). The ref cache holds series id + 1.
 *
 * Querier: the head only grows, so a querier is a handle on the db; the
 * index hands out copies of postings, series are resolved by id, samples
 * are decoded from copies of the chunks that overlap the range.
 */
#define _GNU_SOURCE /* asprintf */
#include "tsdb/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/chunk_xor.h"
#include "tsdb/compact.h"
#include "tsdb/head.h"
#include "tsdb/index.h"
#include "tsdb/tombstone.h"
#include "tsdb/wal.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/log.h"

#define APP_FREE_MAX 16
#define DEFAULT_BLOCK_RANGE (2 * 3600 * 1000LL)
#define BG_PERIOD_SEC 15

struct db;
static int bg_start(struct db *db);
static void bg_stop(struct db *db);
static void bg_kick(struct db *db);

/* One staged sample. */
struct staged {
	struct head_series *s; /* its series */
	int64_t t;             /* timestamp (ms) */
	uint64_t v;            /* value bits */
};

/* Map slot: series -> index of its last staged sample before the tail run. */
struct stage_slot {
	struct head_series *s; /* NULL = empty */
	size_t idx;            /* index into staged */
};

struct appender {
	struct db *db;          /* owner */
	struct staged *v;       /* staged samples, in add order */
	size_t n, cap;          /* used and allocated entries of v */
	struct stage_slot *map; /* open addressing, mcap slots */
	size_t mcap, mcount;    /* slots and used slots */
	struct head_series *tail_s; /* series of the current run of adds */
	size_t tail_idx;        /* its newest in-order staged sample, SIZE_MAX: none */
	size_t *oset;           /* (series, t) -> staged index + 1, built at the
				 * first out-of-order add; ocap slots (0: off) */
	size_t ocap, ocount;    /* slots and used slots of oset */
	struct buf wbuf;        /* WAL records of the commit */
	struct wal_sample *ws;  /* samples as logged, wscap allocated */
	size_t wscap;
	uint32_t *newrefs;      /* series whose SERIES record goes with the commit */
	size_t nnew, newcap;    /* used and allocated entries of newrefs */
	struct appender *next;  /* free-list link while recycled */
};

/* One metadata entry of a family (strings interned). */
struct md_ent {
	enum metric_type type; /* metric type */
	const char *help;      /* "" when unset */
	const char *unit;      /* "" when unset */
};

/* A metric family's metadata. */
struct md_family {
	const char *family; /* interned name */
	struct md_ent *e;   /* distinct entries in arrival order */
	size_t n, cap;      /* used and allocated entries */
};

struct db {
	struct head *head;          /* the in-memory head, owned */
	struct exemplars *ex;       /* exemplar ring, owned */
	struct wal *wal;            /* write-ahead log, owned; NULL for a memory db */
	struct tombstones *tomb;    /* deleted ranges by head series id, owned */
	char *dir;                  /* data directory or NULL, owned */
	int lock_fd;                /* DIR/lock with LOCK_EX held, or -1 */

	pthread_mutex_t app_lock;   /* guards app_free, napp_free */
	struct appender *app_free;  /* recycled appenders */
	size_t napp_free;           /* length of app_free */

	pthread_mutex_t md_lock;    /* guards the metadata fields */
	struct md_family *fam;      /* families, nfam used, famcap allocated */
	size_t nfam, famcap;
	size_t *fmap;               /* open addressing: family index + 1, 0 = empty */
	size_t fmapcap;             /* slots of fmap, power of two or 0 */

	uint64_t samples_appended;  /* atomic */
	uint64_t series_created;    /* atomic */
	int64_t min_time, max_time; /* atomic; INT64_MAX/INT64_MIN when empty */

	struct bstore *blocks;      /* on-disk blocks, owned; NULL when memory-only */
	int64_t block_range;        /* ms per level-1 block */
	pthread_rwlock_t trunc_lock;/* readers of head chunk bytes (rd) vs truncation (wr) */
	pthread_mutex_t work_lock;  /* one persistence/compaction pass at a time */
	pthread_mutex_t bg_lock;    /* guards bg_stopping and bg_pending */
	pthread_cond_t bg_cond;     /* wakes the background thread */
	pthread_t bg;               /* persistence, compaction, retention */
	bool bg_running;            /* bg was started */
	bool bg_stopping;           /* db_close asks bg to end */
	bool bg_pending;            /* atomic: work was requested */
};

/* ------------------------------------------------------------ open/close */

/* mkdir -p */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	int rc = 0;

	if (!p)
		return -1;
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = -1;
		*q = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

/* Replay state: WAL refs -> head series. */
struct replay {
	struct db *db;             /* the store being rebuilt */
	struct head_series **map;  /* by ref, NULL when unknown */
	size_t cap;                /* entries of map */
	uint64_t unknown;          /* samples of refs without a SERIES record */
	uint64_t rejected;         /* samples the head refused (duplicates) */
	int64_t mint, maxt;        /* time range of replayed samples */
};

static int replay_series(void *ctx, uint32_t ref, const struct labels *ls)
{
	struct replay *r = ctx;
	struct head_series *s;
	bool created;

	if (ref >= r->cap) {
		size_t ncap = r->cap ? r->cap : 1024;
		struct head_series **nm;

		while (ncap <= ref)
			ncap *= 2;
		nm = realloc(r->map, ncap * sizeof(*nm));
		if (!nm)
			return TS_ERR_NOMEM;
		memset(nm + r->cap, 0, (ncap - r->cap) * sizeof(*nm));
		r->map = nm;
		r->cap = ncap;
	}
	s = head_get_or_create_id(r->db->head, ls, labels_hash(ls), ref, &created);
	if (!s)
		return TS_ERR_NOMEM;
	if (created)
		__atomic_add_fetch(&r->db->series_created, 1, __ATOMIC_RELAXED);
	r->map[ref] = s;
	return 0;
}

static int replay_samples(void *ctx, const struct wal_sample *v, size_t n)
{
	struct replay *r = ctx;
	struct head *h = r->db->head;

	for (size_t i = 0; i < n; i++) {
		struct head_series *s = v[i].ref < r->cap ? r->map[v[i].ref] : NULL;
		int rc;

		if (!s) {
			r->unknown++;
			continue;
		}
		rc = head_series_append(h, s, v[i].t, v[i].v);
		if (rc == TS_ERR_NOMEM)
			return rc;
		if (rc != 0) {
			r->rejected += rc < 0;
			continue;
		}
		if (v[i].t < r->mint)
			r->mint = v[i].t;
		if (v[i].t > r->maxt)
			r->maxt = v[i].t;
	}
	return 0;
}

static int replay_tombstones(void *ctx, const struct wal_tombstone *t, size_t n)
{
	struct replay *r = ctx;

	for (size_t i = 0; i < n; i++) {
		struct head_series *s = t[i].ref < r->cap ? r->map[t[i].ref] : NULL;

		if (s && tomb_add(r->db->tomb, head_series_id(s), t[i].mint, t[i].maxt) < 0)
			return TS_ERR_NOMEM;
	}
	return 0;
}

/* For wal_checkpoint_ex: what the head still holds of a series stays logged. */
static int64_t ckpt_series_mint(void *ctx, uint32_t ref)
{
	struct db *db = ctx;
	struct head_series *s = head_series_by_id(db->head, ref);

	return s ? head_series_mint(db->head, s) : INT64_MAX;
}

/* Open DIR/wal and replay it into the head. */
static int open_wal(struct db *db, const struct db_opts *opts, struct ts_error *err)
{
	static const struct wal_replay_ops ops = { replay_series, replay_samples,
						   replay_tombstones };
	struct wal_opts wo = { 0 };
	struct wal_replay_stats st;
	struct replay r = { db, NULL, 0, 0, 0, INT64_MAX, INT64_MIN };
	size_t len = strlen(db->dir) + sizeof("/wal");
	char *path = malloc(len);
	int rc;

	if (!path)
		return ts_error_set(err, TS_ERR_NOMEM, "cannot open storage: out of memory");
	snprintf(path, len, "%s/wal", db->dir);
	if (opts) {
		wo.sync = opts->wal_sync;
		wo.sync_interval_ms = opts->wal_sync_interval_ms;
		wo.segment_bytes = opts->wal_segment_bytes;
	}
	db->wal = wal_open(path, &wo, err);
	free(path);
	if (!db->wal)
		return err ? err->code : TS_ERR_IO;
	rc = wal_replay(db->wal, &ops, &r, &st);
	free(r.map);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot replay the write-ahead log: %s",
				    ts_strerror(rc));
	if (r.mint <= r.maxt) {
		db->min_time = r.mint;
		db->max_time = r.maxt;
	}
	log_msg(LOG_INFO, "write-ahead log replayed",
		"segments=%" PRIu64 " records=%" PRIu64 " series=%" PRIu32 " samples=%" PRIu64
		" unknown_series_samples=%" PRIu64 " bytes_cut=%" PRIu64 " files_cut=%" PRIu32,
		st.segments, st.records, head_num_series(db->head), st.samples, r.unknown,
		st.bytes_cut, st.files_cut);
	if (st.bytes_cut)
		log_msg(LOG_WARN, "write-ahead log was damaged: data after the damage is lost",
			"bytes_lost=%" PRIu64 " files=%" PRIu32, st.bytes_cut, st.files_cut);
	return 0;
}

struct db *db_open(const char *dir, const struct db_opts *opts, struct ts_error *err)
{
	struct head_opts ho = { 0 };
	struct db *db = calloc(1, sizeof(*db));
	char *lockpath = NULL;

	if (!db) {
		ts_error_set(err, TS_ERR_NOMEM, "cannot open storage: out of memory");
		return NULL;
	}
	db->lock_fd = -1;
	db->min_time = INT64_MAX;
	db->max_time = INT64_MIN;
	pthread_mutex_init(&db->app_lock, NULL);
	pthread_mutex_init(&db->md_lock, NULL);
	pthread_rwlock_init(&db->trunc_lock, NULL);
	pthread_mutex_init(&db->bg_lock, NULL);
	pthread_mutex_init(&db->work_lock, NULL);
	pthread_cond_init(&db->bg_cond, NULL);
	db->block_range = opts && opts->block_duration_ms > 0 ? opts->block_duration_ms
								: DEFAULT_BLOCK_RANGE;
	if (opts) {
		ho.chunk_samples = opts->chunk_samples;
		ho.stripes = opts->stripes;
	}
	if (dir) {
		struct stat st;
		size_t len = strlen(dir) + sizeof("/lock");

		db->dir = strdup(dir);
		lockpath = malloc(len);
		if (!db->dir || !lockpath) {
			ts_error_set(err, TS_ERR_NOMEM, "cannot open storage: out of memory");
			goto fail;
		}
		snprintf(lockpath, len, "%s/lock", dir);
		if (make_dirs(dir) < 0 || stat(dir, &st) < 0) {
			ts_error_set(err, TS_ERR_IO, "cannot create data directory %s: %s", dir,
				     strerror(errno));
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			ts_error_set(err, TS_ERR_IO, "cannot use data directory %s: %s", dir,
				     strerror(ENOTDIR));
			goto fail;
		}
		db->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (db->lock_fd < 0) {
			ts_error_set(err, TS_ERR_IO, "cannot open lock file %s: %s", lockpath,
				     strerror(errno));
			goto fail;
		}
		if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				ts_error_set(err, TS_ERR_STATE,
					     "data directory %s is in use by another process (lock file %s)",
					     dir, lockpath);
			else
				ts_error_set(err, TS_ERR_IO, "cannot lock %s: %s", lockpath,
					     strerror(errno));
			goto fail;
		}
	}
	if (dir) {
		struct bstore_opts bo = { 0 };

		bo.block_range = db->block_range;
		if (opts) {
			bo.retention_ms = opts->retention_ms;
			bo.retention_bytes = opts->retention_bytes;
		}
		db->blocks = bstore_open(dir, &bo, err);
		if (!db->blocks)
			goto fail;
	}
	/* completed head chunks live in mmap'd files, not on the heap */
	char *cdir = dir ? malloc(strlen(dir) + sizeof("/chunks_head")) : NULL;

	if (cdir) {
		sprintf(cdir, "%s/chunks_head", dir);
		ho.chunks_dir = cdir;
	}
	if (dir)
		ho.block_range = db->block_range; /* no head chunk spans two blocks */
	db->head = head_new(&ho);
	free(cdir);
	ho.chunks_dir = NULL;
	db->ex = exemplars_new(opts && opts->max_exemplars ? opts->max_exemplars
							   : DB_DEFAULT_MAX_EXEMPLARS);
	db->tomb = tomb_new();
	if (!db->head || !db->ex || !db->tomb) {
		ts_error_set(err, TS_ERR_NOMEM, "cannot open storage: out of memory");
		goto fail;
	}
	head_set_tombstones(db->head, db->tomb);
	if (dir && open_wal(db, opts, err) < 0)
		goto fail;
	if (db->blocks && bg_start(db) < 0) {
		ts_error_set(err, TS_ERR_NOMEM, "cannot start the block writer thread");
		goto fail;
	}
	free(lockpath);
	return db;
fail:
	free(lockpath);
	db_close(db);
	return NULL;
}

static void appender_free(struct appender *a)
{
	free(a->v);
	free(a->map);
	free(a->oset);
	free(a->ws);
	free(a->newrefs);
	buf_release(&a->wbuf);
	free(a);
}

void db_close(struct db *db)
{
	if (!db)
		return;
	bg_stop(db);
	while (db->app_free) {
		struct appender *a = db->app_free;

		db->app_free = a->next;
		appender_free(a);
	}
	for (size_t i = 0; i < db->nfam; i++)
		free(db->fam[i].e);
	free(db->fam);
	free(db->fmap);
	wal_close(db->wal);
	tomb_free(db->tomb);
	bstore_free(db->blocks);
	head_free(db->head);
	pthread_rwlock_destroy(&db->trunc_lock);
	pthread_mutex_destroy(&db->bg_lock);
	pthread_mutex_destroy(&db->work_lock);
	pthread_cond_destroy(&db->bg_cond);
	exemplars_free(db->ex);
	if (db->lock_fd >= 0)
		close(db->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&db->app_lock);
	pthread_mutex_destroy(&db->md_lock);
	free(db->dir);
	free(db);
}

void db_stats(struct db *db, struct db_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->head_series = head_num_series(db->head);
	out->head_chunks = head_num_chunks(db->head);
	out->samples_appended = __atomic_load_n(&db->samples_appended, __ATOMIC_RELAXED);
	out->series_created = __atomic_load_n(&db->series_created, __ATOMIC_RELAXED);
	out->min_time = __atomic_load_n(&db->min_time, __ATOMIC_RELAXED);
	out->max_time = __atomic_load_n(&db->max_time, __ATOMIC_RELAXED);
	out->symbols = symtab_count(head_symtab(db->head));
	out->head_bytes = head_bytes(db->head);
	if (db->wal) {
		struct wal_stats ws;

		wal_stats(db->wal, &ws);
		out->wal_fsyncs = ws.fsyncs;
		out->wal_writes = ws.writes;
	}
}

/* ------------------------------------------------------------ appender */

struct appender *db_appender(struct db *db)
{
	struct appender *a;

	pthread_mutex_lock(&db->app_lock);
	a = db->app_free;
	if (a) {
		db->app_free = a->next;
		db->napp_free--;
	}
	pthread_mutex_unlock(&db->app_lock);
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return NULL;
	}
	a->db = db;
	a->next = NULL;
	a->tail_s = NULL;
	a->tail_idx = SIZE_MAX;
	return a;
}

/* Reset a and put it on the free list (or free it). */
static void appender_recycle(struct appender *a)
{
	struct db *db = a->db;

	a->n = 0;
	if (a->mcount) {
		memset(a->map, 0, a->mcap * sizeof(*a->map));
		a->mcount = 0;
	}
	a->tail_s = NULL;
	a->tail_idx = SIZE_MAX;
	free(a->oset);
	a->oset = NULL;
	a->ocap = a->ocount = 0;
	a->nnew = 0;
	buf_setlen(&a->wbuf, 0);
	/* do not keep the arrays of an unusually large batch around */
	if (a->cap > (1u << 20) || a->mcap > (1u << 18) || a->wbuf.cap > (16u << 20)) {
		appender_free(a);
		return;
	}
	pthread_mutex_lock(&db->app_lock);
	if (db->napp_free < APP_FREE_MAX) {
		a->next = db->app_free;
		db->app_free = a;
		db->napp_free++;
		a = NULL;
	}
	pthread_mutex_unlock(&db->app_lock);
	if (a)
		appender_free(a);
}

static size_t ptr_slot(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static struct stage_slot *map_find(struct appender *a, const struct head_series *s)
{
	if (!a->mcap)
		return NULL;
	for (size_t j = ptr_slot(s, a->mcap); a->map[j].s; j = (j + 1) & (a->mcap - 1))
		if (a->map[j].s == s)
			return &a->map[j];
	return NULL;
}

static int map_set(struct appender *a, struct head_series *s, size_t idx)
{
	struct stage_slot *sl = map_find(a, s);
	size_t j;

	if (sl) {
		sl->idx = idx;
		return 0;
	}
	if ((a->mcount + 1) * 2 > a->mcap) {
		size_t ncap = a->mcap ? a->mcap * 2 : 64;
		struct stage_slot *nm = calloc(ncap, sizeof(*nm));

		if (!nm)
			return TS_ERR_NOMEM;
		for (size_t i = 0; i < a->mcap; i++) {
			if (!a->map[i].s)
				continue;
			j = ptr_slot(a->map[i].s, ncap);
			while (nm[j].s)
				j = (j + 1) & (ncap - 1);
			nm[j] = a->map[i];
		}
		free(a->map);
		a->map = nm;
		a->mcap = ncap;
	}
	j = ptr_slot(s, a->mcap);
	while (a->map[j].s)
		j = (j + 1) & (a->mcap - 1);
	a->map[j].s = s;
	a->map[j].idx = idx;
	a->mcount++;
	return 0;
}

/* Slot of (s, t) in a's oset. */
static size_t oset_slot(const struct head_series *s, int64_t t, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)s ^ ((uint64_t)t * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 31;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 29;
	return (size_t)x & (cap - 1);
}

/* Record staged sample idx in oset (growing it). */
static int oset_add(struct appender *a, size_t idx)
{
	size_t j;

	if ((a->ocount + 1) * 2 > a->ocap) { /* (re)build from every staged sample */
		size_t ncap = a->ocap ? a->ocap * 2 : 256, *no;

		while (ncap < (a->n + 1) * 2)
			ncap *= 2;
		no = calloc(ncap, sizeof(*no));
		if (!no)
			return TS_ERR_NOMEM;
		free(a->oset);
		a->oset = no;
		a->ocap = ncap;
		a->ocount = 0;
		for (size_t i = 0; i < a->n; i++) { /* every staged sample, idx included */
			if (i == idx)
				continue;
			for (j = oset_slot(a->v[i].s, a->v[i].t, ncap); no[j]; j = (j + 1) & (ncap - 1))
				;
			no[j] = i + 1;
			a->ocount++;
		}
	}
	for (j = oset_slot(a->v[idx].s, a->v[idx].t, a->ocap); a->oset[j];
	     j = (j + 1) & (a->ocap - 1))
		;
	a->oset[j] = idx + 1;
	a->ocount++;
	return 0;
}

/*
 * An out-of-order (t, vbits) for s: is t already stored or staged?
 * 1 (same value there), 0 (new), TS_ERR_DUPLICATE, or another error.
 */
static int ooo_check(struct appender *a, struct head_series *s, int64_t t, uint64_t vbits)
{
	struct head *h = a->db->head;
	uint64_t have;
	int rc;

	head_series_lock(h, s);
	rc = head_series_find_locked(h, s, t, &have);
	head_series_unlock(h, s);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return have == vbits ? 1 : TS_ERR_DUPLICATE;
	if (!a->ocap && a->n) {
		/* first out-of-order add: index what is staged so far */
		size_t n = a->n;

		a->n = n - 1;
		rc = oset_add(a, n - 1);
		a->n = n;
		if (rc < 0)
			return rc;
	}
	if (!a->ocap)
		return 0;
	for (size_t j = oset_slot(s, t, a->ocap); a->oset[j]; j = (j + 1) & (a->ocap - 1)) {
		const struct staged *st = &a->v[a->oset[j] - 1];

		if (st->s == s && st->t == t)
			return st->v == vbits ? 1 : TS_ERR_DUPLICATE;
	}
	return 0;
}

/* Stage (s, t, vbits); newest says it is the series' newest sample. */
static int stage(struct appender *a, struct head_series *s, int64_t t, uint64_t vbits,
		 bool newest)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		struct staged *nvv = realloc(a->v, ncap * sizeof(*nvv));

		if (!nvv)
			return TS_ERR_NOMEM;
		a->v = nvv;
		a->cap = ncap;
	}
	a->v[a->n].s = s;
	a->v[a->n].t = t;
	a->v[a->n].v = vbits;
	a->n++;
	if (a->ocap && oset_add(a, a->n - 1) < 0) {
		a->n--;
		return TS_ERR_NOMEM;
	}
	if (newest)
		a->tail_idx = a->n - 1;
	return 0;
}

int appender_add(struct appender *a, const struct labels *ls, uint64_t *ref, int64_t t,
		 double v)
{
	struct head *h = a->db->head;
	struct head_series *s = NULL;
	uint64_t vbits, nv;
	int64_t nt;
	bool have;
	int rc;

	if (ref && *ref)
		s = head_series_by_id(h, (uint32_t)(*ref - 1));
	if (!s) {
		bool created;

		s = head_get_or_create(h, ls, labels_hash(ls), &created);
		if (!s)
			return TS_ERR_NOMEM;
		if (created)
			__atomic_add_fetch(&a->db->series_created, 1, __ATOMIC_RELAXED);
		if (ref)
			*ref = (uint64_t)head_series_id(s) + 1;
	}
	memcpy(&vbits, &v, sizeof(vbits));

	/* a run of the previous series ends here: remember its newest */
	if (s != a->tail_s) {
		struct stage_slot *sl;

		if (a->tail_s && a->tail_idx != SIZE_MAX &&
		    map_set(a, a->tail_s, a->tail_idx) < 0)
			return TS_ERR_NOMEM;
		sl = map_find(a, s);
		a->tail_s = s;
		a->tail_idx = sl ? sl->idx : SIZE_MAX;
	}
	/* the newest sample: staged in this appender, or stored */
	if (a->tail_idx != SIZE_MAX) {
		have = true;
		nt = a->v[a->tail_idx].t;
		nv = a->v[a->tail_idx].v;
		rc = head_sample_order(have, nt, nv, t, vbits);
		if (rc == TS_ERR_OUT_OF_ORDER) {
			/* older than what is staged: maybe newer than what is stored */
			head_series_lock(h, s);
			have = head_series_newest_locked(s, &nt, &nv);
			head_series_unlock(h, s);
			rc = !have || t > nt ? 0 : head_sample_order(have, nt, nv, t, vbits);
			if (rc == 0)
				rc = TS_ERR_OUT_OF_ORDER; /* between stored and staged */
		}
	} else {
		head_series_lock(h, s);
		have = head_series_newest_locked(s, &nt, &nv);
		head_series_unlock(h, s);
		rc = head_sample_order(have, nt, nv, t, vbits);
	}
	if (rc == TS_ERR_OUT_OF_ORDER) {
		rc = ooo_check(a, s, t, vbits);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return 0; /* already there: accepted, stored once */
		return stage(a, s, t, vbits, false);
	}
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 0; /* same sample again: accepted, stored once */
	return stage(a, s, t, vbits, true);
}

static void atomic_min(int64_t *p, int64_t v)
{
	int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v < cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void atomic_max(int64_t *p, int64_t v)
{
	int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * Write a's staged samples (and new series) to the WAL; *lsn for wal_sync.
 * Everything staged is logged, also a sample that loses a race with a
 * concurrent commit of another value at its timestamp (dropped when
 * applied): replay applies the log in order, so such a pair may resolve
 * the other way after a restart. Both writers were answered 204 anyway.
 */
static int log_staged(struct appender *a, uint64_t *lsn)
{
	struct wal *w = a->db->wal;
	struct head *h = a->db->head;
	size_t k = 0;

	if (a->wscap < a->n) {
		struct wal_sample *nw = realloc(a->ws, a->n * sizeof(*nw));

		if (!nw)
			return TS_ERR_NOMEM;
		a->ws = nw;
		a->wscap = a->n;
	}
	a->nnew = 0;
	for (size_t i = 0; i < a->n; i++) {
		uint32_t id = head_series_id(a->v[i].s);

		a->ws[i].ref = id;
		a->ws[i].t = a->v[i].t;
		a->ws[i].v = a->v[i].v;
		if ((a->nnew && a->newrefs[a->nnew - 1] == id) || wal_series_logged(w, id))
			continue;
		if (a->nnew == a->newcap) {
			size_t ncap = a->newcap ? a->newcap * 2 : 64;
			uint32_t *nr = realloc(a->newrefs, ncap * sizeof(*nr));

			if (!nr)
				return TS_ERR_NOMEM;
			a->newrefs = nr;
			a->newcap = ncap;
		}
		a->newrefs[a->nnew++] = id;
	}
	if (a->nnew > 1) {
		qsort(a->newrefs, a->nnew, sizeof(*a->newrefs), cmp_u32);
		for (size_t i = 0; i < a->nnew; i++)
			if (!k || a->newrefs[k - 1] != a->newrefs[i])
				a->newrefs[k++] = a->newrefs[i];
		a->nnew = k;
	}
	buf_setlen(&a->wbuf, 0);
	for (size_t i = 0; i < a->nnew; i++)
		wal_enc_series(&a->wbuf, a->newrefs[i],
			       head_series_labels(head_series_by_id(h, a->newrefs[i])));
	wal_enc_samples(&a->wbuf, a->ws, a->n);
	if (!buf_ok(&a->wbuf))
		return TS_ERR_NOMEM;
	return wal_write(w, a->wbuf.data, a->wbuf.len, a->newrefs, a->nnew, lsn);
}

int appender_commit(struct appender *a)
{
	struct head *h = a->db->head;
	struct head_series *locked = NULL;
	int64_t mint = INT64_MAX, maxt = INT64_MIN;
	uint64_t stored = 0, lsn = 0;
	int rc = 0;

	if (a->db->wal && a->n) {
		/* logged before it is visible; acknowledged once durable */
		rc = log_staged(a, &lsn);
		if (rc < 0) {
			appender_recycle(a);
			return rc;
		}
	}

	for (size_t i = 0; i < a->n; i++) {
		struct staged *st = &a->v[i];
		int r;

		if (st->s != locked) {
			if (locked)
				head_series_unlock(h, locked);
			locked = st->s;
			head_series_lock(h, locked);
		}
		r = head_series_append_locked(h, st->s, st->t, st->v);
		if (r == 0) {
			stored++;
			if (st->t < mint)
				mint = st->t;
			if (st->t > maxt)
				maxt = st->t;
		} else if (r == TS_ERR_NOMEM) {
			rc = TS_ERR_NOMEM;
		}
		/* a conflict here means another appender won the race: dropped */
	}
	if (locked)
		head_series_unlock(h, locked);
	if (a->db->wal && lsn) {
		int r = wal_sync(a->db->wal, lsn);

		if (r < 0)
			rc = r;
	}
	if (stored) {
		__atomic_add_fetch(&a->db->samples_appended, stored, __ATOMIC_RELAXED);
		atomic_min(&a->db->min_time, mint);
		atomic_max(&a->db->max_time, maxt);
		if (a->db->blocks &&
		    maxt - __atomic_load_n(&a->db->min_time, __ATOMIC_RELAXED) >
			    a->db->block_range / 2 * 3)
			bg_kick(a->db);
	}
	appender_recycle(a);
	return rc;
}

void appender_rollback(struct appender *a)
{
	if (a)
		appender_recycle(a);
}

/* ------------------------------------------------------------ deletes, snapshots */

static int select_raw(struct querier *q, const struct matcher *ms, size_t nms, int64_t mint,
		      int64_t maxt, bool with_samples, size_t limit, struct series_set *out,
		      struct ts_error *err);
static int drop_deleted(struct db *db, struct series_set *set, bool with_samples, size_t limit);

int db_delete_series(struct db *db, const struct matcher *ms, size_t nms, int64_t mint,
		     int64_t maxt, struct ts_error *err)
{
	struct head *h = db->head;
	struct series_set set = { NULL, 0 };
	struct wal_tombstone *tv = NULL;
	struct querier *q;
	uint32_t *refs = NULL;
	struct buf b = BUF_INIT;
	size_t nt = 0, nr = 0;
	uint64_t lsn = 0;
	int rc;

	if (mint > maxt)
		return 0;
	/* every series with samples in range, in the head or in blocks */
	q = db_querier(db);
	if (!q)
		return ts_error_set(err, TS_ERR_NOMEM, "cannot delete series: out of memory");
	rc = select_raw(q, ms, nms, mint, maxt, true, 0, &set, err);
	if (rc < 0) {
		querier_free(q);
		return rc;
	}
	rc = drop_deleted(db, &set, false, 0); /* what is deleted already needs nothing */
	if (rc < 0)
		goto out;
	tv = malloc((set.n ? set.n : 1) * sizeof(*tv));
	refs = malloc((set.n ? set.n : 1) * sizeof(*refs));
	if (!tv || !refs) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < set.n; i++) {
		/* a series only blocks hold gets a head entry to carry its ref */
		struct head_series *s = head_get_or_create(h, &set.s[i].labels,
							   labels_hash(&set.s[i].labels), NULL);
		uint32_t id;

		if (!s) {
			rc = TS_ERR_NOMEM;
			goto out;
		}
		id = head_series_id(s);
		tv[nt].ref = id;
		tv[nt].mint = mint;
		tv[nt].maxt = maxt;
		nt++;
		if (db->wal && !wal_series_logged(db->wal, id)) {
			refs[nr++] = id;
			wal_enc_series(&b, id, head_series_labels(s));
		}
	}
	if (!nt)
		goto out;
	if (db->wal) {
		/* logged (and synced) before it takes effect */
		wal_enc_tombstones(&b, tv, nt);
		rc = buf_ok(&b) ? wal_write(db->wal, b.data, b.len, refs, nr, &lsn) : TS_ERR_NOMEM;
		if (rc == 0)
			rc = wal_sync(db->wal, lsn);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < nt && rc == 0; i++)
		rc = tomb_add(db->tomb, tv[i].ref, mint, maxt);
	if (rc == 0 && db->blocks) {
		/* blocks are rewritten without the deleted samples, so the
		 * tombstones only matter while samples are in the head/WAL */
		pthread_mutex_lock(&db->work_lock);
		rc = bstore_delete(db->blocks, ms, nms, mint, maxt, err);
		pthread_mutex_unlock(&db->work_lock);
	}
out:
	series_set_release(&set);
	querier_free(q);
	free(tv);
	free(refs);
	buf_release(&b);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot delete series: %s", ts_strerror(rc));
	return 0;
}

int db_clean_tombstones(struct db *db, struct ts_error *err)
{
	/* Head samples under tombstones are hidden on read and dropped when
	 * the head is persisted; nothing to rewrite here yet. */
	(void)db;
	(void)err;
	return 0;
}

/* Hard-link the tree src into dst (created). */
static int link_tree(const char *src, const char *dst)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (mkdir(dst, 0755) < 0)
		return TS_ERR_IO;
	d = opendir(src);
	if (!d)
		return TS_ERR_IO;
	while (rc == 0 && (e = readdir(d))) {
		char *a = NULL, *b = NULL;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&a, "%s/%s", src, e->d_name) < 0)
			a = NULL;
		if (asprintf(&b, "%s/%s", dst, e->d_name) < 0)
			b = NULL;
		if (!a || !b)
			rc = TS_ERR_NOMEM;
		else if (lstat(a, &st) < 0)
			rc = TS_ERR_IO;
		else if (S_ISDIR(st.st_mode))
			rc = link_tree(a, b);
		else if (S_ISREG(st.st_mode) && link(a, b) < 0)
			rc = TS_ERR_IO;
		free(a);
		free(b);
	}
	closedir(d);
	return rc;
}

int db_snapshot(struct db *db, bool skip_head, char *name, size_t cap, struct ts_error *err)
{
	char *snaps = NULL, *dst = NULL;
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	uint64_t rnd;
	DIR *d = NULL;
	struct dirent *e;
	int rc = 0;

	if (!db->dir)
		return ts_error_set(err, TS_ERR_UNSUPPORTED,
				    "cannot snapshot: the store has no data directory");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	rnd = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)getpid() ^
	      (uint64_t)rand() << 16;
	rnd *= 0x9e3779b97f4a7c15ULL;
	snprintf(name, cap, "%s-%016" PRIx64, stamp, (uint64_t)(rnd & 0x7fffffffffffffffULL));
	if (asprintf(&snaps, "%s/snapshots", db->dir) < 0)
		snaps = NULL;
	if (!snaps || asprintf(&dst, "%s/%s", snaps, name) < 0) {
		free(snaps);
		return ts_error_set(err, TS_ERR_NOMEM, "cannot snapshot: out of memory");
	}
	if ((mkdir(snaps, 0755) < 0 && errno != EEXIST) || mkdir(dst, 0755) < 0) {
		rc = ts_error_set(err, TS_ERR_IO, "cannot create snapshot directory %s: %s", dst,
				  strerror(errno));
		goto out;
	}
	/* every block: a directory with a meta.json, not a temporary one */
	d = opendir(db->dir);
	if (!d) {
		rc = ts_error_set(err, TS_ERR_IO, "cannot read %s: %s", db->dir, strerror(errno));
		goto out;
	}
	while (rc == 0 && (e = readdir(d))) {
		char *meta = NULL, *from = NULL, *to = NULL;
		size_t len = strlen(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' || strcmp(e->d_name, "wal") == 0 ||
		    strcmp(e->d_name, "snapshots") == 0 ||
		    (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0))
			continue;
		if (asprintf(&meta, "%s/%s/meta.json", db->dir, e->d_name) < 0)
			meta = NULL;
		if (meta && stat(meta, &st) == 0 && S_ISREG(st.st_mode)) {
			if (asprintf(&from, "%s/%s", db->dir, e->d_name) < 0)
				from = NULL;
			if (asprintf(&to, "%s/%s", dst, e->d_name) < 0)
				to = NULL;
			rc = from && to ? link_tree(from, to) : TS_ERR_NOMEM;
			if (rc < 0)
				ts_error_set(err, rc, "cannot link block %s into the snapshot: %s",
					     e->d_name, rc == TS_ERR_IO ? strerror(errno) : ts_strerror(rc));
		}
		free(meta);
		free(from);
		free(to);
	}
	if (rc == 0 && !skip_head && db->wal) {
		/* the head as its log: the snapshot opens as a data directory */
		char *w = NULL;

		if (asprintf(&w, "%s/wal", dst) < 0)
			w = NULL;
		rc = w ? wal_snapshot(db->wal, w) : TS_ERR_NOMEM;
		if (rc < 0)
			ts_error_set(err, rc, "cannot link the write-ahead log into the snapshot: %s",
				     ts_strerror(rc));
		free(w);
	}
out:
	if (d)
		closedir(d);
	free(snaps);
	free(dst);
	return rc;
}

/* ------------------------------------------------------------ metadata */

const char *metric_type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER: return "counter";
	case METRIC_GAUGE: return "gauge";
	case METRIC_HISTOGRAM: return "histogram";
	case METRIC_GAUGEHISTOGRAM: return "gaugehistogram";
	case METRIC_SUMMARY: return "summary";
	case METRIC_INFO: return "info";
	case METRIC_STATESET: return "stateset";
	case METRIC_UNKNOWN:
	default: return "unknown";
	}
}

/* Slot of family (interned) in fmap; md_lock held. */
static size_t *fmap_slot(struct db *db, const char *family)
{
	for (size_t j = ptr_slot(family, db->fmapcap);; j = (j + 1) & (db->fmapcap - 1))
		if (!db->fmap[j] || db->fam[db->fmap[j] - 1].family == family)
			return &db->fmap[j];
}

static int fmap_grow(struct db *db)
{
	size_t ncap = db->fmapcap ? db->fmapcap * 2 : 64;
	size_t *nm = calloc(ncap, sizeof(*nm)), *old = db->fmap;

	if (!nm)
		return TS_ERR_NOMEM;
	db->fmap = nm;
	db->fmapcap = ncap;
	for (size_t i = 0; i < db->nfam; i++)
		*fmap_slot(db, db->fam[i].family) = i + 1;
	free(old);
	return 0;
}

int db_set_metadata(struct db *db, const char *family, enum metric_type type,
		    const char *help, const char *unit)
{
	struct symtab *st = head_symtab(db->head);
	const char *f, *hp, *u;
	struct md_family *mf;
	size_t *slot;
	int rc = 0;

	help = help ? help : "";
	unit = unit ? unit : "";
	f = symtab_intern(st, family, strlen(family));
	hp = symtab_intern(st, help, strlen(help));
	u = symtab_intern(st, unit, strlen(unit));
	if (!f || !hp || !u)
		return TS_ERR_NOMEM;
	pthread_mutex_lock(&db->md_lock);
	if ((db->nfam + 1) * 2 > db->fmapcap && fmap_grow(db) < 0) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	slot = fmap_slot(db, f);
	if (!*slot) {
		if (db->nfam == db->famcap) {
			size_t ncap = db->famcap ? db->famcap * 2 : 64;
			struct md_family *nf = realloc(db->fam, ncap * sizeof(*nf));

			if (!nf) {
				rc = TS_ERR_NOMEM;
				goto out;
			}
			db->fam = nf;
			db->famcap = ncap;
		}
		memset(&db->fam[db->nfam], 0, sizeof(db->fam[0]));
		db->fam[db->nfam].family = f;
		*slot = ++db->nfam;
	}
	mf = &db->fam[*slot - 1];
	for (size_t i = 0; i < mf->n; i++)
		if (mf->e[i].type == type && mf->e[i].help == hp && mf->e[i].unit == u)
			goto out; /* already known */
	if (mf->n == mf->cap) {
		size_t ncap = mf->cap ? mf->cap * 2 : 1;
		struct md_ent *ne = realloc(mf->e, ncap * sizeof(*ne));

		if (!ne) {
			rc = TS_ERR_NOMEM;
			goto out;
		}
		mf->e = ne;
		mf->cap = ncap;
	}
	mf->e[mf->n].type = type;
	mf->e[mf->n].help = hp;
	mf->e[mf->n].unit = u;
	mf->n++;
out:
	pthread_mutex_unlock(&db->md_lock);
	return rc;
}

static int cmp_family(const void *a, const void *b)
{
	const struct md_family *x = *(const struct md_family *const *)a;
	const struct md_family *y = *(const struct md_family *const *)b;

	return strcmp(x->family, y->family);
}

int db_metadata(struct db *db, const char *metric, size_t limit, size_t limit_per_metric,
		struct metadata_entry **out, size_t *n)
{
	struct md_family **fs = NULL;
	struct metadata_entry *res = NULL;
	size_t nf = 0, total = 0, w = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&db->md_lock);
	if (db->nfam == 0)
		goto out;
	fs = malloc(db->nfam * sizeof(*fs));
	if (!fs) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < db->nfam; i++)
		if (!metric || strcmp(db->fam[i].family, metric) == 0)
			fs[nf++] = &db->fam[i];
	qsort(fs, nf, sizeof(*fs), cmp_family);
	if (limit && nf > limit)
		nf = limit;
	for (size_t i = 0; i < nf; i++)
		total += limit_per_metric && fs[i]->n > limit_per_metric ? limit_per_metric
									  : fs[i]->n;
	if (total == 0)
		goto out;
	res = malloc(total * sizeof(*res));
	if (!res) {
		rc = TS_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nf; i++) {
		size_t k = fs[i]->n;

		if (limit_per_metric && k > limit_per_metric)
			k = limit_per_metric;
		for (size_t j = 0; j < k; j++) {
			res[w].family = fs[i]->family;
			res[w].type = fs[i]->e[j].type;
			res[w].help = fs[i]->e[j].help;
			res[w].unit = fs[i]->e[j].unit;
			w++;
		}
	}
	*out = res;
	*n = w;
out:
	pthread_mutex_unlock(&db->md_lock);
	free(fs);
	return rc;
}

/* ------------------------------------------------------------ querier */

struct querier {
	struct db *db;        /* the store read */
	struct bsnap blocks;  /* blocks referenced for the querier's life */
	struct arena *arena;  /* labels of block series handed out, or NULL */
};

struct querier *db_querier(struct db *db)
{
	struct querier *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->db = db;
	if (db->blocks && bstore_snapshot(db->blocks, &q->blocks) < 0) {
		free(q);
		return NULL;
	}
	return q;
}

void querier_free(struct querier *q)
{
	if (!q)
		return;
	bsnap_release(&q->blocks);
	arena_free(q->arena);
	free(q);
}

/* Does [mint, maxt] cover every sample in the head? */
static bool covers_head(struct db *db, int64_t mint, int64_t maxt)
{
	int64_t lo = __atomic_load_n(&db->min_time, __ATOMIC_RELAXED);
	int64_t hi = __atomic_load_n(&db->max_time, __ATOMIC_RELAXED);

	if (!tomb_empty(db->tomb))
		return false; /* deleted series must not show in whole-index answers */
	if (lo > hi) /* empty */
		return true;
	return mint <= lo && maxt >= hi;
}

/*
 * Series matching ms with a sample in [mint, maxt], unsorted: *out is a
 * malloc'd array of *n series (NULL when none).
 */
static int select_series(struct querier *q, const struct matcher *ms, size_t nms,
			 int64_t mint, int64_t maxt, struct head_series ***out, size_t *n)
{
	struct head *h = q->db->head;
	struct postings p = POSTINGS_INIT;
	struct head_series **v = NULL;
	size_t k = 0;
	bool all_time = covers_head(q->db, mint, maxt);
	int rc;

	*out = NULL;
	*n = 0;
	rc = index_select(head_index(h), ms, nms, &p);
	if (rc < 0)
		return rc;
	if (p.n) {
		v = malloc(p.n * sizeof(*v));
		if (!v) {
			postings_release(&p);
			return TS_ERR_NOMEM;
		}
	}
	for (size_t i = 0; i < p.n; i++) {
		struct head_series *s = head_series_by_id(h, p.ids[i]);
		long r;

		if (!s)
			continue;
		r = head_series_samples(h, s, all_time ? INT64_MIN : mint,
					all_time ? INT64_MAX : maxt, NULL, NULL);
		if (r < 0) {
			free(v);
			postings_release(&p);
			return (int)r;
		}
		if (r > 0)
			v[k++] = s;
	}
	postings_release(&p);
	*out = v;
	*n = k;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct head_series *x = *(const struct head_series *const *)a;
	const struct head_series *y = *(const struct head_series *const *)b;

	return labels_cmp(head_series_labels(x), head_series_labels(y));
}

void series_set_release(struct series_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->s[i].t);
		free(set->s[i].v);
	}
	free(set->s);
	set->s = NULL;
	set->n = 0;
}

static int head_select(struct querier *q, const struct matcher *ms, size_t nms, int64_t mint,
		       int64_t maxt, bool with_samples, size_t limit, struct series_set *out,
		       struct ts_error *err)
{
	struct head *h = q->db->head;
	struct head_series **v;
	size_t n;
	int rc;

	out->s = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	rc = select_series(q, ms, nms, mint, maxt, &v, &n);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot select series: %s", ts_strerror(rc));
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_series);
	if (limit && n > limit)
		n = limit;
	if (n) {
		out->s = calloc(n, sizeof(*out->s));
		if (!out->s) {
			free(v);
			return ts_error_set(err, TS_ERR_NOMEM, "cannot select series: out of memory");
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct series *o = &out->s[i];

		o->labels = *head_series_labels(v[i]);
		out->n++;
		if (!with_samples)
			continue;
		long r = head_series_samples(h, v[i], mint, maxt, &o->t, &o->v);

		if (r < 0) {
			free(v);
			series_set_release(out);
			return ts_error_set(err, (int)r, "cannot read samples: %s", ts_strerror((int)r));
		}
		o->n = (size_t)r;
	}
	free(v);
	return 0;
}

void chunk_set_release(struct chunk_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->s[i].c);
		free(set->s[i].mem);
	}
	free(set->s);
	set->s = NULL;
	set->n = 0;
}

static int head_select_chunks(struct querier *q, const struct matcher *ms, size_t nms,
			      int64_t mint, int64_t maxt, struct chunk_set *out,
			      struct ts_error *err)
{
	struct head *h = q->db->head;
	struct head_series **v;
	size_t n, k = 0;
	int rc;

	out->s = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	rc = select_series(q, ms, nms, mint, maxt, &v, &n);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot select series: %s", ts_strerror(rc));
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_series);
	if (n) {
		out->s = calloc(n, sizeof(*out->s));
		if (!out->s) {
			free(v);
			return ts_error_set(err, TS_ERR_NOMEM, "cannot select chunks: out of memory");
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct head_chunk *hc;
		long r = head_series_chunks(h, v[i], mint, maxt, &hc);

		if (r < 0) {
			free(v);
			chunk_set_release(out);
			return ts_error_set(err, (int)r, "cannot read chunks: %s", ts_strerror((int)r));
		}
		if (r == 0)
			continue;
		out->s[k].c = malloc((size_t)r * sizeof(*out->s[k].c));
		if (!out->s[k].c) {
			free(hc);
			free(v);
			chunk_set_release(out);
			return ts_error_set(err, TS_ERR_NOMEM, "cannot select chunks: out of memory");
		}
		for (long c = 0; c < r; c++)
			out->s[k].c[c] = (struct series_chunk){ hc[c].mint, hc[c].maxt, hc[c].data,
								hc[c].len };
		out->s[k].labels = *head_series_labels(v[i]);
		out->s[k].n = (size_t)r;
		out->s[k].mem = hc;
		k++;
		out->n = k;
	}
	free(v);
	return 0;
}

void strvec_release(struct strvec *sv)
{
	if (!sv)
		return;
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A set of interned string pointers, then sorted by content. */
struct ptrset {
	const char **slot; /* open addressing, cap slots */
	size_t cap, n;     /* slots and entries */
};

static int ptrset_add(struct ptrset *ps, const char *p)
{
	size_t j;

	if ((ps->n + 1) * 2 > ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 64;
		const char **ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return TS_ERR_NOMEM;
		for (size_t i = 0; i < ps->cap; i++) {
			if (!ps->slot[i])
				continue;
			j = ptr_slot(ps->slot[i], ncap);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = ps->slot[i];
		}
		free(ps->slot);
		ps->slot = ns;
		ps->cap = ncap;
	}
	for (j = ptr_slot(p, ps->cap); ps->slot[j]; j = (j + 1) & (ps->cap - 1))
		if (ps->slot[j] == p)
			return 0;
	ps->slot[j] = p;
	ps->n++;
	return 0;
}

/* Move the set into a sorted strvec with at most limit entries. */
static int ptrset_detach(struct ptrset *ps, size_t limit, struct strvec *out)
{
	size_t w = 0;

	out->v = NULL;
	out->n = 0;
	if (ps->n) {
		out->v = malloc(ps->n * sizeof(*out->v));
		if (!out->v) {
			free(ps->slot);
			return TS_ERR_NOMEM;
		}
		for (size_t i = 0; i < ps->cap; i++)
			if (ps->slot[i])
				out->v[w++] = ps->slot[i];
		qsort(out->v, w, sizeof(*out->v), cmp_strp);
	}
	free(ps->slot);
	out->n = limit && w > limit ? limit : w;
	return 0;
}

/* Take a sorted array from the index into out, applying limit. */
static void take_sorted(const char **v, size_t n, size_t limit, struct strvec *out)
{
	out->v = v;
	out->n = limit && n > limit ? limit : n;
}

static int head_label_names(struct querier *q, const struct matcher *ms, size_t nms,
			    int64_t mint, int64_t maxt, size_t limit, struct strvec *out,
			    struct ts_error *err)
{
	struct ptrset ps = { 0 };
	struct head_series **v;
	size_t n;
	int rc;

	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	if (nms == 0 && covers_head(q->db, mint, maxt)) {
		const char **names;

		rc = index_label_names(head_index(q->db->head), &names, &n);
		if (rc < 0)
			return ts_error_set(err, rc, "cannot list label names: %s", ts_strerror(rc));
		take_sorted(names, n, limit, out);
		return 0;
	}
	rc = select_series(q, ms, nms, mint, maxt, &v, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct labels *ls = head_series_labels(v[i]);

		for (size_t j = 0; j < ls->n && rc == 0; j++)
			rc = ptrset_add(&ps, ls->v[j].name);
	}
	free(v);
	if (rc == 0)
		rc = ptrset_detach(&ps, limit, out);
	else
		free(ps.slot);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot list label names: %s", ts_strerror(rc));
	return 0;
}

static int head_label_values(struct querier *q, const char *name, const struct matcher *ms,
			     size_t nms, int64_t mint, int64_t maxt, size_t limit,
			     struct strvec *out, struct ts_error *err)
{
	struct ptrset ps = { 0 };
	struct head_series **v;
	size_t n;
	int rc;

	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	if (nms == 0 && covers_head(q->db, mint, maxt)) {
		const char **vals;

		rc = index_label_values(head_index(q->db->head), name, &vals, &n);
		if (rc < 0)
			return ts_error_set(err, rc, "cannot list label values: %s", ts_strerror(rc));
		take_sorted(vals, n, limit, out);
		return 0;
	}
	rc = select_series(q, ms, nms, mint, maxt, &v, &n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *val = labels_get(head_series_labels(v[i]), name);

		if (val)
			rc = ptrset_add(&ps, val);
	}
	free(v);
	if (rc == 0)
		rc = ptrset_detach(&ps, limit, out);
	else
		free(ps.slot);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot list label values: %s", ts_strerror(rc));
	return 0;
}

/* ------------------------------------------------------------ exemplars */

int db_add_exemplar(struct db *db, const struct labels *series, const struct labels *exl,
		    int64_t t, double v)
{
	return exemplars_add(db->ex, series, exl, t, v);
}

int querier_exemplars(struct querier *q, const struct matcher *const *sets, const size_t *nms,
		      size_t nsets, int64_t mint, int64_t maxt, struct exemplar_set *out,
		      struct ts_error *err)
{
	int rc = exemplars_select(q->db->ex, sets, nms, nsets, mint, maxt, out);

	if (rc < 0)
		return ts_error_set(err, rc, "cannot read exemplars: %s", ts_strerror(rc));
	return 0;
}

/* ------------------------------------------------------------ blocks */

/*
 * Background work: when the head spans more than 1.5 block ranges, its
 * oldest whole range is written as a block and dropped from the head
 * (bstore_persist_head), then blocks are compacted and retention applied.
 * Appenders kick the thread when the span passes the threshold; otherwise
 * it wakes every BG_PERIOD_SEC seconds.
 */
/* The oldest timestamp the head holds (INT64_MAX: none). */
static int64_t head_oldest(struct db *db)
{
	uint32_t n = head_num_series(db->head);
	int64_t lo = INT64_MAX;

	for (uint32_t id = 0; id < n; id++) {
		struct head_series *s = head_series_by_id(db->head, id);
		int64_t m = s ? head_series_mint(db->head, s) : INT64_MAX;

		if (m < lo)
			lo = m;
	}
	return lo;
}

static void persist_head(struct db *db)
{
	int64_t R = db->block_range;

	for (;;) {
		int64_t lo = __atomic_load_n(&db->min_time, __ATOMIC_RELAXED);
		int64_t hi = __atomic_load_n(&db->max_time, __ATOMIC_RELAXED);
		int64_t a, b;
		struct ts_error err;
		bool written;
		int rc;
		uint32_t wal_seg = 0;
		bool cut;

		if (lo > hi || hi - lo <= R / 2 * 3)
			return;
		/* start at the oldest sample really there: no WAL cut and no
		 * checkpoint for every empty range of a gap (backfill) */
		a = head_oldest(db);
		if (a == INT64_MAX)
			return;
		if (a > lo) {
			atomic_max(&db->min_time, a);
			continue;
		}
		a = lo >= 0 ? lo / R * R : -((-lo + R - 1) / R) * R;
		b = a + R;
		ts_error_clear(&err);
		/* records written from here on stay in the WAL */
		cut = db->wal && wal_cut(db->wal, &wal_seg) == 0;
		rc = bstore_persist_head(db->blocks, db->head, a, b, &db->trunc_lock, &written, &err);
		if (rc < 0) {
			char q[600];

			log_msg(LOG_ERROR, "cannot persist the head into a block; will retry",
				"err=%s", log_quote(err.msg, q, sizeof(q)));
			return;
		}
		atomic_max(&db->min_time, b);
		if (cut && written && (rc = wal_checkpoint_ex(db->wal, wal_seg, b, NULL, ckpt_series_mint, db)) < 0)
			log_msg(LOG_WARN, "cannot checkpoint the WAL after persisting a block",
				"err=\"%s\"", ts_strerror(rc));
		if (__atomic_load_n(&db->bg_stopping, __ATOMIC_RELAXED))
			return;
	}
}

static void bg_work(struct db *db)
{
	struct ts_error err;
	int64_t horizon, newest, bmax;
	int rc;

	pthread_mutex_lock(&db->work_lock);
	persist_head(db);
	bstore_stats(db->blocks, NULL, NULL, &bmax);
	horizon = __atomic_load_n(&db->min_time, __ATOMIC_RELAXED);
	if (horizon > __atomic_load_n(&db->max_time, __ATOMIC_RELAXED))
		horizon = bmax; /* empty head: everything before the newest block is done */
	do {
		ts_error_clear(&err);
		rc = bstore_compact(db->blocks, horizon, &err);
		if (rc < 0) {
			char q[600];

			log_msg(LOG_ERROR, "cannot compact blocks; will retry", "err=%s",
				log_quote(err.msg, q, sizeof(q)));
		}
	} while (rc == 1 && !__atomic_load_n(&db->bg_stopping, __ATOMIC_RELAXED));
	newest = __atomic_load_n(&db->max_time, __ATOMIC_RELAXED);
	if (bmax > newest)
		newest = bmax;
	bstore_retention(db->blocks, newest);
	pthread_mutex_unlock(&db->work_lock);
}

static void *bg_main(void *arg)
{
	struct db *db = arg;

	pthread_mutex_lock(&db->bg_lock);
	while (!db->bg_stopping) {
		if (!__atomic_load_n(&db->bg_pending, __ATOMIC_RELAXED)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += BG_PERIOD_SEC;
			pthread_cond_timedwait(&db->bg_cond, &db->bg_lock, &ts);
		}
		if (db->bg_stopping)
			break;
		__atomic_store_n(&db->bg_pending, false, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&db->bg_lock);
		bg_work(db);
		pthread_mutex_lock(&db->bg_lock);
	}
	pthread_mutex_unlock(&db->bg_lock);
	return NULL;
}

static int bg_start(struct db *db)
{
	__atomic_store_n(&db->bg_pending, true, __ATOMIC_RELAXED);
	if (pthread_create(&db->bg, NULL, bg_main, db) != 0)
		return TS_ERR_NOMEM;
	db->bg_running = true;
	return 0;
}

static void bg_stop(struct db *db)
{
	if (!db->bg_running)
		return;
	pthread_mutex_lock(&db->bg_lock);
	__atomic_store_n(&db->bg_stopping, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&db->bg_cond);
	pthread_mutex_unlock(&db->bg_lock);
	pthread_join(db->bg, NULL);
	db->bg_running = false;
}

static void bg_kick(struct db *db)
{
	if (__atomic_load_n(&db->bg_pending, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&db->bg_lock);
	__atomic_store_n(&db->bg_pending, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&db->bg_cond);
	pthread_mutex_unlock(&db->bg_lock);
}

void db_maintain(struct db *db)
{
	if (db->blocks)
		bg_work(db);
}

/* Blocks of q overlapping [mint, maxt] into v (room for q->blocks.n). */
static size_t blocks_in(struct querier *q, int64_t mint, int64_t maxt, struct block **v)
{
	size_t k = 0;

	for (size_t i = 0; i < q->blocks.n; i++) {
		const struct block_meta *m = block_meta(q->blocks.v[i]);

		if (m->min_time <= maxt && m->max_time > mint) {
			if (v)
				v[k] = q->blocks.v[i];
			k++;
		}
	}
	return k;
}

/* A selected series with its source order (head first, then blocks). */
struct sel_ent {
	struct series s; /* labels and samples */
	size_t ord;      /* source order, for a stable sort */
};

static int cmp_sel_ent(const void *a, const void *b)
{
	const struct sel_ent *x = a, *y = b;
	int c = labels_cmp(&x->s.labels, &y->s.labels);

	if (c)
		return c;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Append a series to a growable sel_ent array. */
static int sel_push(struct sel_ent **v, size_t *n, size_t *cap, const struct series *s)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct sel_ent *nv = realloc(*v, ncap * sizeof(*nv));

		if (!nv)
			return TS_ERR_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n].s = *s;
	(*v)[*n].ord = *n;
	(*n)++;
	return 0;
}

/* Series of block b matching ms with samples in [mint, maxt], pushed. */
static int block_part(struct querier *q, struct block *b, const struct matcher *ms, size_t nms,
		      int64_t mint, int64_t maxt, bool with_samples, struct sel_ent **v,
		      size_t *n, size_t *cap)
{
	struct postings p = POSTINGS_INIT;
	int rc = block_select(b, ms, nms, &p);

	if (rc < 0)
		return rc;
	if (!q->arena && !(q->arena = arena_new(0))) {
		postings_release(&p);
		return TS_ERR_NOMEM;
	}
	for (size_t i = 0; i < p.n && rc == 0; i++) {
		struct series s = { { NULL, 0 }, NULL, NULL, 0 };
		long r = block_series_samples(b, p.ids[i], mint, maxt, with_samples ? &s.t : NULL,
					      with_samples ? &s.v : NULL);

		if (r <= 0) {
			rc = (int)r;
			continue;
		}
		s.n = with_samples ? (size_t)r : 0;
		rc = block_series_labels(b, p.ids[i], q->arena, &s.labels);
		if (rc == 0)
			rc = sel_push(v, n, cap, &s);
		if (rc < 0) {
			free(s.t);
			free(s.v);
		}
	}
	postings_release(&p);
	return rc;
}

static int select_raw(struct querier *q, const struct matcher *ms, size_t nms, int64_t mint,
		      int64_t maxt, bool with_samples, size_t limit, struct series_set *out,
		      struct ts_error *err)
{
	struct block **bl = NULL;
	struct sel_ent *v = NULL;
	size_t nb, n = 0, cap = 0, w = 0;
	int rc;

	out->s = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	nb = blocks_in(q, mint, maxt, NULL);
	pthread_rwlock_rdlock(&q->db->trunc_lock);
	rc = head_select(q, ms, nms, mint, maxt, with_samples, nb ? 0 : limit, out, err);
	pthread_rwlock_unlock(&q->db->trunc_lock);
	if (rc < 0 || nb == 0)
		return rc;
	bl = malloc(nb * sizeof(*bl));
	if (!bl) {
		rc = TS_ERR_NOMEM;
		goto fail;
	}
	blocks_in(q, mint, maxt, bl);
	for (size_t i = 0; i < out->n; i++)
		if ((rc = sel_push(&v, &n, &cap, &out->s[i])) < 0)
			goto fail;
	free(out->s);
	out->s = NULL;
	out->n = 0;
	for (size_t i = 0; i < nb; i++)
		if ((rc = block_part(q, bl[i], ms, nms, mint, maxt, with_samples, &v, &n, &cap)) < 0)
			goto fail;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_sel_ent);
	/* merge runs of one label set: earlier sources win a shared timestamp */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		for (; j < n && labels_equal(&v[j].s.labels, &v[i].s.labels); j++) {
			struct series *a = &v[i].s, *b = &v[j].s;

			if (with_samples && b->n) {
				int64_t *mt = malloc((a->n + b->n) * sizeof(*mt));
				double *mv = malloc((a->n + b->n) * sizeof(*mv));

				if (!mt || !mv) {
					free(mt);
					free(mv);
					rc = TS_ERR_NOMEM;
					goto fail;
				}
				a->n = samples_merge(a->t, a->v, a->n, b->t, b->v, b->n, mt, mv);
				free(a->t);
				free(a->v);
				a->t = mt;
				a->v = mv;
			}
			free(b->t);
			free(b->v);
			b->t = NULL;
			b->v = NULL;
			b->n = 0;
		}
		v[w++] = v[i];
		i = j;
	}
	n = w;
	if (limit && n > limit) {
		for (size_t i = limit; i < n; i++) {
			free(v[i].s.t);
			free(v[i].s.v);
		}
		n = limit;
	}
	if (n) {
		out->s = malloc(n * sizeof(*out->s));
		if (!out->s) {
			rc = TS_ERR_NOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			out->s[i] = v[i].s;
		out->n = n;
	}
	free(v);
	free(bl);
	return 0;
fail:
	for (size_t i = 0; i < n; i++) {
		free(v[i].s.t);
		free(v[i].s.v);
	}
	free(v);
	free(bl);
	series_set_release(out);
	return ts_error_set(err, rc, "cannot select series: %s", ts_strerror(rc));
}

int querier_select_chunks(struct querier *q, const struct matcher *ms, size_t nms,
			  int64_t mint, int64_t maxt, struct chunk_set *out,
			  struct ts_error *err)
{
	struct series_set set;
	int rc;

	out->s = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	if (blocks_in(q, mint, maxt, NULL) == 0) {
		pthread_rwlock_rdlock(&q->db->trunc_lock);
		rc = head_select_chunks(q, ms, nms, mint, maxt, out, err);
		pthread_rwlock_unlock(&q->db->trunc_lock);
		return rc;
	}
	/* blocks involved: merge samples, then cut them into fresh chunks */
	rc = querier_select(q, ms, nms, mint, maxt, true, 0, &set, err);
	if (rc < 0)
		return rc;
	if (set.n && !(out->s = calloc(set.n, sizeof(*out->s)))) {
		rc = TS_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < set.n; i++) {
		struct chunk_series *cs = &out->s[i];
		size_t nch = (set.s[i].n + XOR_CHUNK_SAMPLES - 1) / XOR_CHUNK_SAMPLES, k = 0;
		size_t room = 2 + XOR_CHUNK_SAMPLES * XOR_MAX_SAMPLE_BYTES + 16;
		uint8_t *mem;

		out->n++;
		cs->labels = set.s[i].labels;
		if (nch == 0)
			continue;
		cs->c = malloc(nch * sizeof(*cs->c));
		cs->mem = mem = malloc(nch * room);
		if (!cs->c || !mem) {
			rc = TS_ERR_NOMEM;
			goto fail;
		}
		for (size_t s0 = 0; s0 < set.s[i].n; k++) {
			struct xor_enc e;
			size_t j = s0;

			xor_enc_init(&e, mem + k * room, room);
			while (j < set.s[i].n && j - s0 < XOR_CHUNK_SAMPLES &&
			       xor_enc_append(&e, set.s[i].t[j], set.s[i].v[j]))
				j++;
			cs->c[k].mint = set.s[i].t[s0];
			cs->c[k].maxt = set.s[i].t[j - 1];
			cs->c[k].data = mem + k * room;
			cs->c[k].len = xor_enc_len(&e);
			s0 = j;
		}
		cs->n = k;
	}
	series_set_release(&set);
	return 0;
fail:
	series_set_release(&set);
	chunk_set_release(out);
	return ts_error_set(err, rc, "cannot select chunks: %s", ts_strerror(rc));
}

/* Sort v[0..n) by content, drop repeats, apply limit, into out. */
static void strs_finish(const char **v, size_t n, size_t limit, struct strvec *out)
{
	size_t w = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_strp);
	for (size_t i = 0; i < n; i++)
		if (w == 0 || strcmp(v[w - 1], v[i]) != 0)
			v[w++] = v[i];
	out->v = v;
	out->n = limit && w > limit ? limit : w;
	if (w == 0) {
		free(v);
		out->v = NULL;
	}
}

/* Append src[0..k) to a growable string array. */
static int strs_add(const char ***v, size_t *n, size_t *cap, const char *const *src, size_t k)
{
	if (*n + k > *cap) {
		size_t ncap = *cap ? *cap : 64;
		const char **nv;

		while (ncap < *n + k)
			ncap *= 2;
		nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv)
			return TS_ERR_NOMEM;
		*v = nv;
		*cap = ncap;
	}
	memcpy(*v + *n, src, k * sizeof(*src));
	*n += k;
	return 0;
}

/* Label names (name == NULL) or values of name from the blocks of q. */
static int blocks_labels(struct querier *q, const char *name, const struct matcher *ms,
			 size_t nms, int64_t mint, int64_t maxt, size_t limit, struct strvec *out)
{
	size_t nb = blocks_in(q, mint, maxt, NULL), n = out->n, cap = out->n;
	struct block **bl = malloc((nb ? nb : 1) * sizeof(*bl));
	const char **v = out->v;
	int rc = 0;

	out->v = NULL;
	out->n = 0;
	if (!bl) {
		free(v);
		return TS_ERR_NOMEM;
	}
	blocks_in(q, mint, maxt, bl);
	for (size_t i = 0; i < nb && rc == 0; i++) {
		struct sel_ent *sv = NULL;
		size_t sn = 0, scap = 0;
		const char **lv;
		size_t ln;

		if (nms == 0) {
			rc = name ? block_label_values(bl[i], name, &lv, &ln)
				  : block_label_names(bl[i], &lv, &ln);
			if (rc == 0)
				rc = strs_add(&v, &n, &cap, lv, ln);
			free(lv);
			continue;
		}
		rc = block_part(q, bl[i], ms, nms, mint, maxt, false, &sv, &sn, &scap);
		for (size_t j = 0; j < sn && rc == 0; j++) {
			const struct labels *ls = &sv[j].s.labels;

			if (name) {
				const char *val = labels_get(ls, name);

				if (val)
					rc = strs_add(&v, &n, &cap, &val, 1);
			} else {
				for (size_t k = 0; k < ls->n && rc == 0; k++)
					rc = strs_add(&v, &n, &cap, &ls->v[k].name, 1);
			}
		}
		free(sv);
	}
	free(bl);
	if (rc < 0) {
		free(v);
		return rc;
	}
	strs_finish(v, n, limit, out);
	return 0;
}

static int label_names_raw(struct querier *q, const struct matcher *ms, size_t nms,
			   int64_t mint, int64_t maxt, size_t limit, struct strvec *out,
			   struct ts_error *err)
{
	size_t nb;
	int rc;

	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	nb = blocks_in(q, mint, maxt, NULL);
	pthread_rwlock_rdlock(&q->db->trunc_lock);
	rc = head_label_names(q, ms, nms, mint, maxt, nb ? 0 : limit, out, err);
	pthread_rwlock_unlock(&q->db->trunc_lock);
	if (rc < 0 || nb == 0)
		return rc;
	rc = blocks_labels(q, NULL, ms, nms, mint, maxt, limit, out);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot list label names: %s", ts_strerror(rc));
	return 0;
}

static int label_values_raw(struct querier *q, const char *name, const struct matcher *ms,
			    size_t nms, int64_t mint, int64_t maxt, size_t limit,
			    struct strvec *out, struct ts_error *err)
{
	size_t nb;
	int rc;

	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	nb = blocks_in(q, mint, maxt, NULL);
	pthread_rwlock_rdlock(&q->db->trunc_lock);
	rc = head_label_values(q, name, ms, nms, mint, maxt, nb ? 0 : limit, out, err);
	pthread_rwlock_unlock(&q->db->trunc_lock);
	if (rc < 0 || nb == 0)
		return rc;
	rc = blocks_labels(q, name, ms, nms, mint, maxt, limit, out);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot list label values: %s", ts_strerror(rc));
	return 0;
}

/* ------------------------------------------------------------ tombstones on read */

/*
 * With tombstones, every read goes through the samples: head samples are
 * filtered by head_series_samples, block samples here, by the ranges of
 * the head series with the same labels (a delete creates one when only
 * blocks hold the series).
 */

/* Drop deleted samples of set's series, then series left empty; keep the
 * samples only when with_samples; cut to limit. */
static int drop_deleted(struct db *db, struct series_set *set, bool with_samples, size_t limit)
{
	size_t w = 0;

	for (size_t i = 0; i < set->n; i++) {
		struct series *o = &set->s[i];
		struct head_series *hs = head_get(db->head, &o->labels, labels_hash(&o->labels));
		struct tomb_range *r = NULL;
		long nr = hs ? tomb_get(db->tomb, head_series_id(hs), &r) : 0;

		if (nr < 0)
			return (int)nr;
		if (nr > 0)
			o->n = tomb_filter(r, (size_t)nr, o->t, o->v, o->n);
		free(r);
		if (!o->n || (limit && w >= limit)) {
			free(o->t);
			free(o->v);
			continue;
		}
		if (!with_samples) {
			free(o->t);
			free(o->v);
			o->t = NULL;
			o->v = NULL;
			o->n = 0;
		}
		set->s[w++] = *o;
	}
	set->n = w;
	return 0;
}

int querier_select(struct querier *q, const struct matcher *ms, size_t nms, int64_t mint,
		   int64_t maxt, bool with_samples, size_t limit, struct series_set *out,
		   struct ts_error *err)
{
	int rc;

	if (tomb_empty(q->db->tomb))
		return select_raw(q, ms, nms, mint, maxt, with_samples, limit, out, err);
	rc = select_raw(q, ms, nms, mint, maxt, true, 0, out, err);
	if (rc < 0)
		return rc;
	rc = drop_deleted(q->db, out, with_samples, limit);
	if (rc < 0) {
		series_set_release(out);
		return ts_error_set(err, rc, "cannot select series: %s", ts_strerror(rc));
	}
	return 0;
}

/* Label names (name == NULL) or values of name over what is not deleted. */
static int labels_undeleted(struct querier *q, const char *name, const struct matcher *ms,
			    size_t nms, int64_t mint, int64_t maxt, size_t limit,
			    struct strvec *out, struct ts_error *err)
{
	struct series_set set;
	struct ptrset ps = { 0 };
	int rc = querier_select(q, ms, nms, mint, maxt, false, 0, &set, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < set.n && rc == 0; i++) {
		const struct labels *ls = &set.s[i].labels;

		if (!name) {
			for (size_t j = 0; j < ls->n && rc == 0; j++)
				rc = ptrset_add(&ps, ls->v[j].name);
		} else {
			const char *val = labels_get(ls, name);

			if (val)
				rc = ptrset_add(&ps, val);
		}
	}
	series_set_release(&set);
	if (rc == 0)
		rc = ptrset_detach(&ps, limit, out);
	else
		free(ps.slot);
	if (rc < 0)
		return ts_error_set(err, rc, "cannot list labels: %s", ts_strerror(rc));
	return 0;
}

int querier_label_names(struct querier *q, const struct matcher *ms, size_t nms,
			int64_t mint, int64_t maxt, size_t limit, struct strvec *out,
			struct ts_error *err)
{
	if (tomb_empty(q->db->tomb))
		return label_names_raw(q, ms, nms, mint, maxt, limit, out, err);
	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	return labels_undeleted(q, NULL, ms, nms, mint, maxt, limit, out, err);
}

int querier_label_values(struct querier *q, const char *name, const struct matcher *ms,
			 size_t nms, int64_t mint, int64_t maxt, size_t limit,
			 struct strvec *out, struct ts_error *err)
{
	if (tomb_empty(q->db->tomb))
		return label_values_raw(q, name, ms, nms, mint, maxt, limit, out, err);
	out->v = NULL;
	out->n = 0;
	if (mint > maxt)
		return 0;
	return labels_undeleted(q, name, ms, nms, mint, maxt, limit, out, err);
}
