/*
 * wal.c - write-ahead log: segments, CRC32C frames, group commit, replay,
 * checkpoints. The format and the durability modes are in wal.h.
 *
 * Structure:
 *   wal
 *     lock                 guards fd, seg, seg_bytes, written, synced,
 *                          syncing, err and the counters
 *     cond                 broadcast when a sync ends or state changes
 *     fd, seg, seg_bytes   the segment being written and its size
 *     written, synced      log positions (bytes ever written by this
 *                          process): everything before `synced` is durable
 *     syncing              a thread is inside fdatasync (the group-commit
 *                          leader); nobody closes fd meanwhile
 *     logged[]             paged bitmap: series refs whose SERIES record is
 *                          in the log; pages are published with release
 *                          stores and never move, so readers need no lock
 *     syncer               periodic mode's thread
 *     ckpt_lock            one checkpoint at a time
 *
 * Group commit (batch mode): a committer writes its records under `lock`
 * (one write(2)), then waits in wal_sync until `synced` passes its
 * position. If no one is syncing it becomes the leader: it notes
 * `written`, drops the lock, calls fdatasync, retakes the lock, advances
 * `synced` and wakes everyone. Writers that arrived during that fdatasync
 * are covered by the next leader, one of themselves. So N concurrent
 * committers cost about two fdatasyncs, not N.
 *
 * Invariants:
 *   1. written >= synced; bytes before synced are on stable storage
 *      (batch and periodic modes).
 *   2. fd changes only with syncing == false and the lock held.
 *   3. Once err is set it stays set: no write or sync succeeds after a
 *      failure whose effect on disk is unknown.
 */
#define _GNU_SOURCE
#include "tsdb/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/log.h"

#define LOGGED_PAGE_BITS 16
#define LOGGED_PAGES ((size_t)1 << 14)
#define CKPT_PREFIX "checkpoint."
#define SMC_UNSET INT64_MIN /* series_mint not asked yet (a real INT64_MIN keeps all anyway) */
#define SAMPLE_MAX_BYTES 23 /* varint ref + svarint delta + 8 value bytes */

struct wal {
	char *dir;               /* the wal directory, owned */
	enum wal_sync mode;      /* durability mode */
	int64_t interval_ms;     /* periodic mode's sync interval */
	size_t seg_max;          /* segment size limit */

	pthread_mutex_t lock;    /* guards the fields below up to logged */
	pthread_cond_t cond;     /* sync ended / stop requested */
	int fd;                  /* segment being written, -1 before replay */
	uint32_t seg;            /* its number */
	uint32_t first_seg;      /* oldest segment on disk */
	size_t seg_bytes;        /* bytes in it */
	uint64_t written;        /* log position after the last write */
	uint64_t synced;         /* log position known durable */
	bool syncing;            /* a leader is in fdatasync */
	int err;                 /* sticky error (0: none) */
	bool stop;               /* ask the syncer to end */
	uint64_t nfsync;         /* fdatasync calls */
	uint64_t nwrites;        /* wal_write calls */

	uint64_t **logged;       /* LOGGED_PAGES page pointers (atomic) */

	pthread_t syncer;        /* periodic syncer */
	bool syncer_running;     /* syncer was started */
	pthread_mutex_t ckpt_lock; /* one checkpoint at a time */
};

/* ------------------------------------------------------------ encoding */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Decode a varint from [*p, end); false when truncated or too long. */
static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (*p >= end)
			return false;
		b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Start a record in out: reserve the header; returns its offset. */
static size_t rec_begin(struct buf *out)
{
	size_t at = out->len;
	static const uint8_t zero[WAL_HEADER];

	buf_add(out, zero, WAL_HEADER);
	return at;
}

/* Finish the record that starts at `at`: length, type, CRC. */
static void rec_end(struct buf *out, size_t at, enum wal_rec_type type)
{
	uint8_t *h;

	if (!buf_ok(out))
		return;
	h = (uint8_t *)out->data + at;
	put_u32(h, (uint32_t)(out->len - at - WAL_HEADER));
	h[8] = (uint8_t)type;
	put_u32(h + 4, crc32c(0, h + 8, out->len - at - 8));
}

static void add_varint(struct buf *out, uint64_t v)
{
	uint8_t tmp[10];

	buf_add(out, tmp, put_varint(tmp, v));
}

void wal_enc_series(struct buf *out, uint32_t ref, const struct labels *ls)
{
	size_t at = rec_begin(out);

	add_varint(out, ref);
	add_varint(out, ls->n);
	for (size_t i = 0; i < ls->n; i++) {
		size_t nl = strlen(ls->v[i].name), vl = strlen(ls->v[i].value);

		add_varint(out, nl);
		buf_add(out, ls->v[i].name, nl);
		add_varint(out, vl);
		buf_add(out, ls->v[i].value, vl);
	}
	rec_end(out, at, WAL_REC_SERIES);
}

void wal_enc_samples(struct buf *out, const struct wal_sample *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t at = rec_begin(out), start;
		int64_t base = s[i].t;
		uint8_t *p;

		if (!buf_grow(out, 8))
			return;
		put_u64((uint8_t *)out->data + out->len, (uint64_t)base);
		out->len += 8;
		start = out->len;
		for (; i < n && out->len - start + SAMPLE_MAX_BYTES <= WAL_REC_MAX - 8; i++) {
			if (!buf_grow(out, SAMPLE_MAX_BYTES))
				return;
			p = (uint8_t *)out->data + out->len;
			p += put_varint(p, s[i].ref);
			p += put_varint(p, zigzag((int64_t)((uint64_t)s[i].t - (uint64_t)base)));
			put_u64(p, s[i].v);
			p += 8;
			out->len = (size_t)(p - (uint8_t *)out->data);
		}
		out->data[out->len] = '\0';
		rec_end(out, at, WAL_REC_SAMPLES);
	}
}

void wal_enc_tombstones(struct buf *out, const struct wal_tombstone *t, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t at = rec_begin(out);

		for (; i < n && out->len - at < WAL_REC_MAX - 32; i++) {
			add_varint(out, t[i].ref);
			add_varint(out, zigzag(t[i].mint));
			add_varint(out, zigzag(t[i].maxt));
		}
		rec_end(out, at, WAL_REC_TOMBSTONES);
	}
}

/* ------------------------------------------------------------ decoding */

/* Scratch space for decoded records. */
struct dec {
	struct wal_sample *s;  /* samples */
	size_t scap;           /* allocated samples */
	struct wal_tombstone *t; /* tombstones */
	size_t tcap;           /* allocated tombstones */
	struct label *l;       /* labels of one series */
	size_t lcap;           /* allocated labels */
	char *str;             /* NUL-terminated copies of label strings */
	size_t strcap;         /* bytes allocated at str */
};

static void dec_release(struct dec *d)
{
	free(d->s);
	free(d->t);
	free(d->l);
	free(d->str);
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

/* Where a frame check failed. */
enum frame_state { FRAME_OK, FRAME_END, FRAME_TORN, FRAME_BAD };

/* Check the frame at data[off..len): on FRAME_OK *type, *pl, *pn. */
static enum frame_state frame_at(const uint8_t *data, size_t len, size_t off, uint8_t *type,
				 const uint8_t **pl, size_t *pn)
{
	uint32_t n;

	if (off == len)
		return FRAME_END;
	if (len - off < WAL_HEADER)
		return FRAME_TORN;
	n = get_u32(data + off);
	if (n > WAL_REC_MAX)
		return FRAME_BAD;
	if (len - off - WAL_HEADER < n)
		return FRAME_TORN;
	if (crc32c(0, data + off + 8, (size_t)n + 1) != get_u32(data + off + 4))
		return FRAME_BAD;
	*type = data[off + 8];
	if (*type < WAL_REC_SERIES || *type > WAL_REC_TOMBSTONES)
		return FRAME_BAD;
	*pl = data + off + WAL_HEADER;
	*pn = n;
	return FRAME_OK;
}

/* Hand one record's contents to ops. Returns 0, a callback's error, or
 * TS_ERR_CORRUPT when the payload does not parse. */
static int dec_record(struct dec *d, uint8_t type, const uint8_t *p, size_t n,
		      const struct wal_replay_ops *ops, void *ctx, struct wal_replay_stats *st)
{
	const uint8_t *end = p + n;
	uint64_t a, b, c;
	size_t k = 0;
	int rc;

	switch (type) {
	case WAL_REC_SERIES:
		while (p < end) {
			struct labels ls;
			size_t used = 0;
			const uint8_t *q;

			if (!get_varint(&p, end, &a) || !get_varint(&p, end, &b) || a > UINT32_MAX ||
			    b > (uint64_t)(end - p))
				return TS_ERR_CORRUPT;
			if (!grow((void **)&d->l, &d->lcap, b + 1, sizeof(*d->l)) ||
			    !grow((void **)&d->str, &d->strcap, (size_t)(end - p) + 2 * b + 1, 1))
				return TS_ERR_NOMEM;
			for (uint64_t i = 0; i < b; i++) {
				for (int w = 0; w < 2; w++) {
					if (!get_varint(&p, end, &c) || c > (uint64_t)(end - p))
						return TS_ERR_CORRUPT;
					q = p;
					p += c;
					memcpy(d->str + used, q, c);
					d->str[used + c] = '\0';
					if (w == 0)
						d->l[i].name = (const char *)(uintptr_t)used;
					else
						d->l[i].value = (const char *)(uintptr_t)used;
					used += c + 1;
				}
			}
			for (uint64_t i = 0; i < b; i++) {
				d->l[i].name = d->str + (uintptr_t)d->l[i].name;
				d->l[i].value = d->str + (uintptr_t)d->l[i].value;
			}
			ls.v = d->l;
			ls.n = b;
			st->series++;
			if (ops->series && (rc = ops->series(ctx, (uint32_t)a, &ls)) < 0)
				return rc;
		}
		return 0;
	case WAL_REC_SAMPLES: {
		int64_t base;

		if (n < 8)
			return TS_ERR_CORRUPT;
		base = (int64_t)get_u64(p);
		p += 8;
		/* at least 10 bytes per sample */
		if (!grow((void **)&d->s, &d->scap, n / 10 + 1, sizeof(*d->s)))
			return TS_ERR_NOMEM;
		while (p < end) {
			if (!get_varint(&p, end, &a) || !get_varint(&p, end, &b) || a > UINT32_MAX ||
			    end - p < 8 || k >= d->scap)
				return TS_ERR_CORRUPT;
			d->s[k].ref = (uint32_t)a;
			d->s[k].t = (int64_t)((uint64_t)base + (uint64_t)unzigzag(b));
			d->s[k].v = get_u64(p);
			p += 8;
			k++;
		}
		st->samples += k;
		if (ops->samples && k && (rc = ops->samples(ctx, d->s, k)) < 0)
			return rc;
		return 0;
	}
	case WAL_REC_TOMBSTONES:
		if (!grow((void **)&d->t, &d->tcap, n / 3 + 1, sizeof(*d->t)))
			return TS_ERR_NOMEM;
		while (p < end) {
			if (!get_varint(&p, end, &a) || !get_varint(&p, end, &b) ||
			    !get_varint(&p, end, &c) || a > UINT32_MAX || k >= d->tcap)
				return TS_ERR_CORRUPT;
			d->t[k].ref = (uint32_t)a;
			d->t[k].mint = unzigzag(b);
			d->t[k].maxt = unzigzag(c);
			k++;
		}
		st->tombstones += k;
		if (ops->tombstones && k && (rc = ops->tombstones(ctx, d->t, k)) < 0)
			return rc;
		return 0;
	default:
		return TS_ERR_CORRUPT;
	}
}

/* ------------------------------------------------------------ files */

static char *path_of(const struct wal *w, const char *name)
{
	size_t n = strlen(w->dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", w->dir, name);
	return p;
}

static void seg_name(char *out, size_t cap, uint32_t n)
{
	snprintf(out, cap, "%08" PRIu32, n);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return TS_ERR_IO;
	if (fsync(fd) < 0)
		rc = TS_ERR_IO;
	close(fd);
	return rc;
}

/* The files of the directory. */
struct listing {
	uint32_t *segs;  /* segment numbers, ascending */
	size_t nsegs;    /* how many */
	bool have_ckpt;  /* a checkpoint exists */
	uint32_t ckpt;   /* the newest checkpoint's number */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool parse_num(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (strlen(s) != 8)
		return false;
	for (int i = 0; i < 8; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = (uint32_t)v;
	return true;
}

/* List segments and checkpoints; removes leftover .tmp files and
 * checkpoints older than the newest. */
static int list_dir(struct wal *w, struct listing *l)
{
	DIR *d = opendir(w->dir);
	struct dirent *e;
	size_t cap = 0;
	uint32_t *old = NULL;
	size_t nold = 0, oldcap = 0;

	memset(l, 0, sizeof(*l));
	if (!d)
		return TS_ERR_IO;
	while ((e = readdir(d))) {
		uint32_t n;
		size_t len = strlen(e->d_name);

		if (parse_num(e->d_name, &n)) {
			if (!grow((void **)&l->segs, &cap, l->nsegs + 1, sizeof(*l->segs)))
				goto nomem;
			l->segs[l->nsegs++] = n;
		} else if (strncmp(e->d_name, CKPT_PREFIX, strlen(CKPT_PREFIX)) == 0) {
			char *p;

			if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
				p = path_of(w, e->d_name);
				if (p)
					unlink(p);
				free(p);
				continue;
			}
			if (!parse_num(e->d_name + strlen(CKPT_PREFIX), &n))
				continue;
			if (!grow((void **)&old, &oldcap, nold + 1, sizeof(*old)))
				goto nomem;
			old[nold++] = n;
			if (!l->have_ckpt || n > l->ckpt)
				l->ckpt = n;
			l->have_ckpt = true;
		}
	}
	closedir(d);
	for (size_t i = 0; i < nold; i++) {
		char name[32], *p;

		if (old[i] == l->ckpt)
			continue;
		snprintf(name, sizeof(name), CKPT_PREFIX "%08" PRIu32, old[i]);
		p = path_of(w, name);
		if (p)
			unlink(p);
		free(p);
	}
	free(old);
	if (l->nsegs > 1)
		qsort(l->segs, l->nsegs, sizeof(*l->segs), cmp_u32);
	return 0;
nomem:
	closedir(d);
	free(old);
	free(l->segs);
	l->segs = NULL;
	return TS_ERR_NOMEM;
}

/* A file mapped for reading. */
struct mapped {
	int fd;            /* open file */
	const uint8_t *p;  /* mapping, NULL when empty */
	size_t len;        /* file size */
};

static int map_file(const char *path, bool writable, struct mapped *m)
{
	struct stat st;

	m->p = NULL;
	m->len = 0;
	m->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &st) < 0)
		goto fail;
	m->len = (size_t)st.st_size;
	if (m->len) {
		void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, m->fd, 0);

		if (p == MAP_FAILED)
			goto fail;
		m->p = p;
	}
	return 0;
fail:
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	return TS_ERR_IO;
}

static void unmap_file(struct mapped *m)
{
	if (m->p)
		munmap((void *)(uintptr_t)m->p, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->p = NULL;
}

/* ------------------------------------------------------------ open/close */

static void *syncer_main(void *arg);

struct wal *wal_open(const char *dir, const struct wal_opts *opts, struct ts_error *err)
{
	struct wal *w = calloc(1, sizeof(*w));

	if (!w)
		goto nomem;
	w->fd = -1;
	w->mode = opts ? opts->sync : WAL_SYNC_BATCH;
	w->interval_ms = opts && opts->sync_interval_ms > 0 ? opts->sync_interval_ms : 1000;
	w->seg_max = opts && opts->segment_bytes ? opts->segment_bytes : WAL_SEGMENT_BYTES;
	if (w->seg_max < WAL_REC_MAX + WAL_HEADER)
		w->seg_max = WAL_REC_MAX + WAL_HEADER;
	w->dir = strdup(dir);
	w->logged = calloc(LOGGED_PAGES, sizeof(*w->logged));
	if (!w->dir || !w->logged)
		goto nomem;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->ckpt_lock, NULL);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ts_error_set(err, TS_ERR_IO, "cannot create wal directory %s: %s", dir,
			     strerror(errno));
		wal_close(w);
		return NULL;
	}
	return w;
nomem:
	if (w) {
		free(w->dir);
		free(w->logged);
		free(w);
	}
	ts_error_set(err, TS_ERR_NOMEM, "cannot open wal: out of memory");
	return NULL;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	if (w->syncer_running) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->syncer, NULL);
	}
	if (w->fd >= 0) {
		if (!w->err && w->written > w->synced)
			fdatasync(w->fd);
		close(w->fd);
	}
	if (w->logged) {
		for (size_t i = 0; i < LOGGED_PAGES; i++)
			free(w->logged[i]);
		free(w->logged);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->ckpt_lock);
	}
	free(w->dir);
	free(w);
}

/* ------------------------------------------------------------ logged bitmap */

bool wal_series_logged(struct wal *w, uint32_t ref)
{
	size_t pg = ref >> LOGGED_PAGE_BITS;
	uint64_t *p;

	if (pg >= LOGGED_PAGES)
		return false;
	p = __atomic_load_n(&w->logged[pg], __ATOMIC_ACQUIRE);
	if (!p)
		return false;
	return (__atomic_load_n(&p[(ref & ((1u << LOGGED_PAGE_BITS) - 1)) >> 6],
				__ATOMIC_RELAXED) >> (ref & 63)) & 1;
}

/* Mark ref logged; w->lock held (serialises page allocation). */
static void mark_logged(struct wal *w, uint32_t ref)
{
	size_t pg = ref >> LOGGED_PAGE_BITS;
	uint64_t *p;

	if (pg >= LOGGED_PAGES)
		return;
	p = w->logged[pg];
	if (!p) {
		p = calloc((1u << LOGGED_PAGE_BITS) / 64, sizeof(*p));
		if (!p)
			return; /* stays "not logged": written again, harmless */
		__atomic_store_n(&w->logged[pg], p, __ATOMIC_RELEASE);
	}
	__atomic_or_fetch(&p[(ref & ((1u << LOGGED_PAGE_BITS) - 1)) >> 6], (uint64_t)1 << (ref & 63),
			  __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ replay */

/* Replay-side series callback wrapper: marks refs logged. */
struct replay_ctx {
	struct wal *w;                    /* the log */
	const struct wal_replay_ops *ops; /* caller's callbacks */
	void *ctx;                        /* caller's context */
};

static int replay_series(void *p, uint32_t ref, const struct labels *ls)
{
	struct replay_ctx *rc = p;

	pthread_mutex_lock(&rc->w->lock);
	mark_logged(rc->w, ref);
	pthread_mutex_unlock(&rc->w->lock);
	return rc->ops->series ? rc->ops->series(rc->ctx, ref, ls) : 0;
}

static int replay_samples(void *p, const struct wal_sample *v, size_t n)
{
	struct replay_ctx *rc = p;

	return rc->ops->samples ? rc->ops->samples(rc->ctx, v, n) : 0;
}

static int replay_tombstones(void *p, const struct wal_tombstone *t, size_t n)
{
	struct replay_ctx *rc = p;

	return rc->ops->tombstones ? rc->ops->tombstones(rc->ctx, t, n) : 0;
}

/*
 * Read one file; cut it back at the first bad record when cut is true.
 * Returns 0 or a callback's error.
 */
static int replay_file(struct wal *w, const char *name, bool cut, struct dec *d,
		       const struct wal_replay_ops *ops, void *ctx, struct wal_replay_stats *st)
{
	char *path = path_of(w, name);
	struct mapped m;
	size_t off = 0;
	int rc = 0;
	enum frame_state fs = FRAME_END;

	if (!path)
		return TS_ERR_NOMEM;
	if (map_file(path, cut, &m) < 0) {
		char q[256];

		log_msg(LOG_WARN, "cannot read wal file, skipped", "file=%s err=%s",
			log_quote(path, q, sizeof(q)), strerror(errno));
		free(path);
		return 0;
	}
	st->segments++;
	for (;;) {
		uint8_t type = 0;
		const uint8_t *pl = NULL;
		size_t pn = 0;

		fs = frame_at(m.p, m.len, off, &type, &pl, &pn);
		if (fs != FRAME_OK)
			break;
		rc = dec_record(d, type, pl, pn, ops, ctx, st);
		if (rc == TS_ERR_CORRUPT) {
			fs = FRAME_BAD;
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		st->records++;
		off += WAL_HEADER + pn;
	}
	if (rc == 0 && fs != FRAME_END) {
		char q[256];

		log_msg(LOG_WARN, "wal file has a torn or corrupt tail, cut back to the last good record",
			"file=%s kind=%s good_bytes=%zu bytes_dropped=%zu", log_quote(path, q, sizeof(q)),
			fs == FRAME_TORN ? "torn" : "corrupt", off, m.len - off);
		st->bytes_cut += m.len - off;
		st->files_cut++;
		if (cut && (ftruncate(m.fd, (off_t)off) < 0 || fsync(m.fd) < 0))
			log_msg(LOG_WARN, "cannot cut wal file", "file=%s err=%s",
				log_quote(path, q, sizeof(q)), strerror(errno));
	}
	unmap_file(&m);
	free(path);
	return rc;
}

/* Open segment n for appending (created). w->lock held or no writers. */
static int open_segment(struct wal *w, uint32_t n)
{
	char name[16], *path;
	int fd;

	seg_name(name, sizeof(name), n);
	path = path_of(w, name);
	if (!path)
		return TS_ERR_NOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return TS_ERR_IO;
	if (fsync_dir(w->dir) < 0) {
		close(fd);
		return TS_ERR_IO;
	}
	w->fd = fd;
	w->seg = n;
	w->seg_bytes = 0;
	return 0;
}

int wal_replay(struct wal *w, const struct wal_replay_ops *ops, void *ctx,
	       struct wal_replay_stats *st)
{
	static const struct wal_replay_ops none = { NULL, NULL, NULL };
	struct wal_replay_stats dummy;
	struct replay_ctx rctx;
	struct wal_replay_ops wrapped;
	struct listing l;
	struct dec d = { 0 };
	uint32_t next = 0;
	int rc;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!ops)
		ops = &none;
	rctx.w = w;
	rctx.ops = ops;
	rctx.ctx = ctx;
	wrapped.series = replay_series;
	wrapped.samples = replay_samples;
	wrapped.tombstones = replay_tombstones;
	rc = list_dir(w, &l);
	if (rc < 0)
		return rc;
	if (l.have_ckpt) {
		char name[32];

		snprintf(name, sizeof(name), CKPT_PREFIX "%08" PRIu32, l.ckpt);
		rc = replay_file(w, name, true, &d, &wrapped, &rctx, st);
		next = l.ckpt + 1;
	}
	w->first_seg = UINT32_MAX;
	for (size_t i = 0; i < l.nsegs && rc == 0; i++) {
		char name[16], *path;
		struct stat sb;

		seg_name(name, sizeof(name), l.segs[i]);
		path = path_of(w, name);
		if (!path) {
			rc = TS_ERR_NOMEM;
			break;
		}
		if (l.have_ckpt && l.segs[i] <= l.ckpt) {
			/* folded into the checkpoint; its deletion was interrupted */
			unlink(path);
			free(path);
			continue;
		}
		rc = replay_file(w, name, true, &d, &wrapped, &rctx, st);
		if (stat(path, &sb) == 0 && sb.st_size == 0)
			unlink(path);
		else if (l.segs[i] < w->first_seg)
			w->first_seg = l.segs[i];
		free(path);
		if (l.segs[i] >= next)
			next = l.segs[i] + 1;
	}
	free(l.segs);
	dec_release(&d);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w->lock);
	rc = open_segment(w, next);
	if (w->first_seg == UINT32_MAX)
		w->first_seg = next;
	pthread_mutex_unlock(&w->lock);
	if (rc < 0)
		return rc;
	if (w->mode == WAL_SYNC_PERIODIC && !w->syncer_running) {
		if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0)
			return TS_ERR_NOMEM;
		w->syncer_running = true;
	}
	return 0;
}

/* ------------------------------------------------------------ writing */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return TS_ERR_IO;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Close the current segment durably and open the next; lock held. */
static int rotate(struct wal *w)
{
	while (w->syncing)
		pthread_cond_wait(&w->cond, &w->lock);
	if (w->err)
		return TS_ERR_STATE;
	if (fdatasync(w->fd) < 0) {
		w->err = TS_ERR_IO;
		return TS_ERR_IO;
	}
	w->nfsync++;
	close(w->fd);
	w->fd = -1;
	w->synced = w->written;
	pthread_cond_broadcast(&w->cond);
	if (open_segment(w, w->seg + 1) < 0) {
		w->err = TS_ERR_IO;
		return TS_ERR_IO;
	}
	return 0;
}

int wal_write(struct wal *w, const void *data, size_t len, const uint32_t *refs,
	      size_t nrefs, uint64_t *lsn)
{
	int rc = 0;

	pthread_mutex_lock(&w->lock);
	if (w->err || w->fd < 0) {
		rc = TS_ERR_STATE;
		goto out;
	}
	if (w->seg_bytes > 0 && w->seg_bytes + len > w->seg_max) {
		rc = rotate(w);
		if (rc < 0)
			goto out;
	}
	if (len) {
		rc = write_all(w->fd, data, len);
		if (rc < 0) {
			char q[256];

			w->err = TS_ERR_IO;
			log_msg(LOG_ERROR, "cannot write wal, writes refused until restart",
				"dir=%s err=%s", log_quote(w->dir, q, sizeof(q)), strerror(errno));
			goto out;
		}
		w->seg_bytes += len;
		w->written += len;
		w->nwrites++;
	}
	for (size_t i = 0; i < nrefs; i++)
		mark_logged(w, refs[i]);
out:
	if (lsn)
		*lsn = w->written;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Sync everything written so far, as leader; lock held, syncing false. */
static void lead_sync(struct wal *w)
{
	uint64_t target = w->written;
	int fd = w->fd, r;

	w->syncing = true;
	pthread_mutex_unlock(&w->lock);
	r = fdatasync(fd);
	pthread_mutex_lock(&w->lock);
	w->syncing = false;
	w->nfsync++;
	if (r < 0) {
		char q[256];

		w->err = TS_ERR_IO;
		log_msg(LOG_ERROR, "cannot sync wal, writes refused until restart", "dir=%s err=%s",
			log_quote(w->dir, q, sizeof(q)), strerror(errno));
	} else if (target > w->synced) {
		w->synced = target;
	}
	pthread_cond_broadcast(&w->cond);
}

int wal_sync(struct wal *w, uint64_t lsn)
{
	int rc = 0;

	if (w->mode != WAL_SYNC_BATCH) {
		pthread_mutex_lock(&w->lock);
		rc = w->err ? TS_ERR_STATE : 0;
		pthread_mutex_unlock(&w->lock);
		return rc;
	}
	pthread_mutex_lock(&w->lock);
	while (w->synced < lsn && !w->err) {
		if (!w->syncing)
			lead_sync(w);
		else
			pthread_cond_wait(&w->cond, &w->lock);
	}
	if (w->synced < lsn)
		rc = w->err == TS_ERR_IO ? TS_ERR_IO : TS_ERR_STATE;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void *syncer_main(void *arg)
{
	struct wal *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += w->interval_ms / 1000;
		ts.tv_nsec += (w->interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		if (w->stop)
			break;
		if (!w->err && !w->syncing && w->fd >= 0 && w->written > w->synced)
			lead_sync(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void wal_stats(struct wal *w, struct wal_stats *out)
{
	pthread_mutex_lock(&w->lock);
	out->fsyncs = w->nfsync;
	out->writes = w->nwrites;
	out->bytes = w->written;
	out->first_segment = w->first_seg;
	out->segment = w->seg;
	pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------ checkpoint */

int wal_cut(struct wal *w, uint32_t *seg)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	if (w->err || w->fd < 0) {
		rc = TS_ERR_STATE;
	} else {
		*seg = w->seg;
		rc = rotate(w);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* State of one checkpoint fold. */
struct ckpt {
	struct wal *w;                        /* the log */
	bool (*keep)(void *ctx, uint32_t ref); /* series filter */
	void *kctx;                           /* its context */
	int64_t mint;                         /* samples older are dropped... */
	int64_t (*smint)(void *ctx, uint32_t ref); /* ...unless this series' bound
						    * (cached in smc) lets them stay */
	int64_t *smc;                         /* smint results by ref, smc_unset: not asked */
	size_t smcap;                         /* entries at smc */
	int fd;                               /* the .tmp file */
	struct buf out;                       /* pending output */
	uint64_t **kept;                      /* paged bitmap of kept refs */
	struct wal_sample *s;                 /* filtered samples */
	size_t scap;                          /* allocated at s */
	struct wal_tombstone *t;              /* filtered tombstones */
	size_t tcap;                          /* allocated at t */
};

static bool kept_has(struct ckpt *c, uint32_t ref)
{
	size_t pg = ref >> LOGGED_PAGE_BITS;

	return pg < LOGGED_PAGES && c->kept[pg] &&
	       (c->kept[pg][(ref & ((1u << LOGGED_PAGE_BITS) - 1)) >> 6] >> (ref & 63)) & 1;
}

static int kept_set(struct ckpt *c, uint32_t ref)
{
	size_t pg = ref >> LOGGED_PAGE_BITS;

	if (pg >= LOGGED_PAGES)
		return TS_ERR_CORRUPT;
	if (!c->kept[pg]) {
		c->kept[pg] = calloc((1u << LOGGED_PAGE_BITS) / 64, sizeof(uint64_t));
		if (!c->kept[pg])
			return TS_ERR_NOMEM;
	}
	c->kept[pg][(ref & ((1u << LOGGED_PAGE_BITS) - 1)) >> 6] |= (uint64_t)1 << (ref & 63);
	return 0;
}

static int ckpt_flush(struct ckpt *c, bool force)
{
	if (!buf_ok(&c->out))
		return TS_ERR_NOMEM;
	if (!force && c->out.len < ((size_t)1 << 20))
		return 0;
	if (write_all(c->fd, (const uint8_t *)c->out.data, c->out.len) < 0)
		return TS_ERR_IO;
	buf_setlen(&c->out, 0);
	return 0;
}

static int ckpt_series(void *p, uint32_t ref, const struct labels *ls)
{
	struct ckpt *c = p;
	int rc;

	if (c->keep && !c->keep(c->kctx, ref))
		return 0;
	rc = kept_set(c, ref);
	if (rc < 0)
		return rc;
	wal_enc_series(&c->out, ref, ls);
	return ckpt_flush(c, false);
}

static int ckpt_samples(void *p, const struct wal_sample *s, size_t n)
{
	struct ckpt *c = p;
	size_t k = 0;

	if (!grow((void **)&c->s, &c->scap, n, sizeof(*c->s)))
		return TS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!kept_has(c, s[i].ref))
			continue;
		if (s[i].t < c->mint) {
			int64_t b;

			if (!c->smint)
				continue;
			if (s[i].ref >= c->smcap) {
				size_t old = c->smcap;

				if (!grow((void **)&c->smc, &c->smcap, (size_t)s[i].ref + 1,
					  sizeof(*c->smc)))
					return TS_ERR_NOMEM;
				for (size_t j = old; j < c->smcap; j++)
					c->smc[j] = SMC_UNSET;
			}
			if (c->smc[s[i].ref] == SMC_UNSET) {
				b = c->smint(c->kctx, s[i].ref);
				c->smc[s[i].ref] = b == SMC_UNSET ? SMC_UNSET + 1 : b;
			}
			if (s[i].t < c->smc[s[i].ref])
				continue; /* persisted */
		}
		c->s[k++] = s[i];
	}
	if (k)
		wal_enc_samples(&c->out, c->s, k);
	return ckpt_flush(c, false);
}

static int ckpt_tombstones(void *p, const struct wal_tombstone *t, size_t n)
{
	struct ckpt *c = p;
	size_t k = 0;

	if (!grow((void **)&c->t, &c->tcap, n, sizeof(*c->t)))
		return TS_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (kept_has(c, t[i].ref)) /* all: they may cover blocks too */
			c->t[k++] = t[i];
	if (k)
		wal_enc_tombstones(&c->out, c->t, k);
	return ckpt_flush(c, false);
}

int wal_checkpoint(struct wal *w, uint32_t upto, int64_t mint_kept,
		   bool (*keep)(void *ctx, uint32_t ref), void *ctx)
{
	return wal_checkpoint_ex(w, upto, mint_kept, keep, NULL, ctx);
}

int wal_checkpoint_ex(struct wal *w, uint32_t upto, int64_t mint_kept,
		      bool (*keep)(void *ctx, uint32_t ref),
		      int64_t (*series_mint)(void *ctx, uint32_t ref), void *ctx)
{
	static const struct wal_replay_ops ops = { ckpt_series, ckpt_samples, ckpt_tombstones };
	struct wal_replay_stats st;
	struct ckpt c;
	struct listing l;
	struct dec d = { 0 };
	char name[32], tmpname[40], *tmp = NULL, *final = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.w = w;
	c.keep = keep;
	c.kctx = ctx;
	c.mint = mint_kept;
	c.smint = series_mint;
	c.fd = -1;
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&w->ckpt_lock);
	pthread_mutex_lock(&w->lock);
	rc = upto >= w->seg ? TS_ERR_INVALID : 0; /* the open segment is never folded */
	pthread_mutex_unlock(&w->lock);
	if (rc < 0)
		goto out;
	rc = list_dir(w, &l);
	if (rc < 0)
		goto out;
	c.kept = calloc(LOGGED_PAGES, sizeof(*c.kept));
	snprintf(name, sizeof(name), CKPT_PREFIX "%08" PRIu32, upto);
	snprintf(tmpname, sizeof(tmpname), "%s.tmp", name);
	tmp = path_of(w, tmpname);
	final = path_of(w, name);
	if (!c.kept || !tmp || !final) {
		rc = TS_ERR_NOMEM;
		goto out_list;
	}
	c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c.fd < 0) {
		rc = TS_ERR_IO;
		goto out_list;
	}
	if (l.have_ckpt) {
		char old[32];

		snprintf(old, sizeof(old), CKPT_PREFIX "%08" PRIu32, l.ckpt);
		rc = replay_file(w, old, false, &d, &ops, &c, &st);
	}
	for (size_t i = 0; i < l.nsegs && rc == 0; i++) {
		char sn[16];

		if (l.segs[i] > upto)
			break;
		if (l.have_ckpt && l.segs[i] <= l.ckpt)
			continue;
		seg_name(sn, sizeof(sn), l.segs[i]);
		rc = replay_file(w, sn, false, &d, &ops, &c, &st);
	}
	if (rc == 0)
		rc = ckpt_flush(&c, true);
	if (rc == 0 && fsync(c.fd) < 0)
		rc = TS_ERR_IO;
	close(c.fd);
	c.fd = -1;
	if (rc == 0 && rename(tmp, final) < 0)
		rc = TS_ERR_IO;
	if (rc == 0)
		rc = fsync_dir(w->dir);
	if (rc < 0) {
		unlink(tmp);
		goto out_list;
	}
	/* the checkpoint is in place: what it folded can go */
	for (size_t i = 0; i < l.nsegs && l.segs[i] <= upto; i++) {
		char sn[16], *p;

		seg_name(sn, sizeof(sn), l.segs[i]);
		p = path_of(w, sn);
		if (p)
			unlink(p);
		free(p);
	}
	if (l.have_ckpt && l.ckpt != upto) {
		char old[32], *p;

		snprintf(old, sizeof(old), CKPT_PREFIX "%08" PRIu32, l.ckpt);
		p = path_of(w, old);
		if (p)
			unlink(p);
		free(p);
	}
	fsync_dir(w->dir);
	pthread_mutex_lock(&w->lock);
	w->first_seg = upto + 1;
	pthread_mutex_unlock(&w->lock);
out_list:
	free(l.segs);
out:
	if (c.kept) {
		for (size_t i = 0; i < LOGGED_PAGES; i++)
			free(c.kept[i]);
		free(c.kept);
	}
	free(c.s);
	free(c.t);
	free(c.smc);
	buf_release(&c.out);
	dec_release(&d);
	free(tmp);
	free(final);
	pthread_mutex_unlock(&w->ckpt_lock);
	return rc;
}

int wal_snapshot(struct wal *w, const char *dst)
{
	struct listing l;
	uint32_t seg;
	int rc;

	pthread_mutex_lock(&w->ckpt_lock);
	rc = wal_cut(w, &seg);
	if (rc == 0)
		rc = list_dir(w, &l);
	if (rc < 0)
		goto out;
	if (mkdir(dst, 0755) < 0) {
		rc = TS_ERR_IO;
		goto out_list;
	}
	for (size_t i = 0; i <= l.nsegs && rc == 0; i++) {
		char name[32], *from, *to;
		size_t n = strlen(dst) + sizeof(name) + 2;

		if (i == l.nsegs) {
			if (!l.have_ckpt)
				break;
			snprintf(name, sizeof(name), CKPT_PREFIX "%08" PRIu32, l.ckpt);
		} else {
			if (l.segs[i] > seg || (l.have_ckpt && l.segs[i] <= l.ckpt))
				continue;
			seg_name(name, sizeof(name), l.segs[i]);
		}
		from = path_of(w, name);
		to = malloc(n);
		if (!from || !to) {
			rc = TS_ERR_NOMEM;
		} else {
			snprintf(to, n, "%s/%s", dst, name);
			if (link(from, to) < 0)
				rc = TS_ERR_IO;
		}
		free(from);
		free(to);
	}
	if (rc == 0)
		rc = fsync_dir(dst);
out_list:
	free(l.segs);
out:
	pthread_mutex_unlock(&w->ckpt_lock);
	return rc;
}
