/*
 * block.c - writing and reading immutable blocks (format in block.h).
 *
 * Writer: chunks go to the segment file as series arrive (the samples of
 * a series are cut into XOR chunks of XOR_CHUNK_SAMPLES samples); labels
 * are interned in the writer's own symtab and the chunk metas kept in
 * memory. Commit numbers the symbols in strcmp order, so symbol ids
 * compare like their strings and the (name, value, series) triples of the
 * postings sort as plain integers, then writes the index and meta.json,
 * fsyncs and renames.
 *
 * Reader: the index and the segments are mapped read-only. Open checks
 * every CRC and that every symbol offset lies inside its section, so a
 * symbol id below the count always yields a NUL-terminated string inside
 * the mapping; everything else (series entries, postings, chunk
 * references) is bounds-checked as it is decoded, so bad bytes give
 * TS_ERR_CORRUPT, never a read outside the mapping.
 */
#define _GNU_SOURCE /* asprintf */
#include "tsdb/block.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/chunk_xor.h"
#include "util/arena.h"
#include "util/crc32c.h"

#define SEG_MAX_BYTES ((uint64_t)512 << 20)
#define SEG_HEADER 8
#define ENC_XOR 1
#define TOC_BYTES 40
#define NSECT 4
#define WBUF_BYTES (1 << 20)

enum { SECT_SYMBOLS = 0, SECT_SERIES = 1, SECT_LABELS = 2, SECT_POSTINGS = 3 };

/* ------------------------------------------------------------ helpers */

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

bool block_is_id(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (i >= BLOCK_ID_LEN || !strchr(b32, name[i]))
			return false;
	return i == BLOCK_ID_LEN;
}

void block_new_id(char *out)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t ms, r1, r2, x;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	x = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)ts.tv_nsec * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)getpid() << 32;
	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	r1 = x ^ (x >> 29);
	r2 = r1 * 0xff51afd7ed558ccdULL ^ __atomic_load_n(&counter, __ATOMIC_RELAXED);
	/* 10 characters of time (50 bits, top 2 zero), 16 of randomness */
	for (i = 9; i >= 0; i--, ms >>= 5)
		out[i] = b32[ms & 31];
	for (i = 0; i < 16; i++) {
		uint64_t *src = i < 8 ? &r1 : &r2;

		out[10 + i] = b32[*src & 31];
		*src >>= 5;
	}
	out[BLOCK_ID_LEN] = '\0';
}

int block_rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : TS_ERR_IO;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? TS_ERR_IO : 0;
	d = opendir(path);
	if (!d)
		return TS_ERR_IO;
	while ((e = readdir(d))) {
		char *sub;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&sub, "%s/%s", path, e->d_name) < 0) {
			rc = TS_ERR_NOMEM;
			break;
		}
		if (block_rm_rf(sub) < 0)
			rc = TS_ERR_IO;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) < 0)
		rc = TS_ERR_IO;
	return rc;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return TS_ERR_IO;
	if (fsync(fd) < 0)
		rc = TS_ERR_IO;
	close(fd);
	return rc;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t put_varint(uint8_t *p, int64_t v)
{
	return put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* Bounds-checked reader over mapped bytes. */
struct rd {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* end of the readable range */
	bool err;           /* ran out or malformed */
};

static uint64_t rd_uvarint(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			break;
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->err = true;
	return 0;
}

static int64_t rd_varint(struct rd *r)
{
	uint64_t u = rd_uvarint(r);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ------------------------------------------------------------ writer */

/* A growable byte buffer for index sections. */
struct bbuf {
	uint8_t *p;     /* bytes */
	size_t n, cap;  /* used and allocated */
};

static bool bb_reserve(struct bbuf *b, size_t more)
{
	if (b->n + more <= b->cap)
		return true;
	size_t ncap = b->cap ? b->cap : 4096;

	while (ncap < b->n + more)
		ncap *= 2;
	uint8_t *np = realloc(b->p, ncap);

	if (!np)
		return false;
	b->p = np;
	b->cap = ncap;
	return true;
}

static bool bb_put(struct bbuf *b, const void *src, size_t len)
{
	if (!bb_reserve(b, len))
		return false;
	memcpy(b->p + b->n, src, len);
	b->n += len;
	return true;
}

static bool bb_u32(struct bbuf *b, uint32_t v)
{
	uint8_t t[4];

	put32(t, v);
	return bb_put(b, t, 4);
}

static bool bb_uvarint(struct bbuf *b, uint64_t v)
{
	uint8_t t[10];

	return bb_put(b, t, put_uvarint(t, v));
}

static bool bb_varint(struct bbuf *b, int64_t v)
{
	uint8_t t[10];

	return bb_put(b, t, put_varint(t, v));
}

/* A chunk written by the writer. */
struct wchunk {
	int64_t mint, maxt; /* sample range */
	uint32_t seg;       /* segment number - 1 */
	uint32_t off;       /* offset in the segment */
};

/* A series written by the writer. */
struct wseries {
	struct label *lv;     /* interned labels (malloc'd array) */
	size_t nl;            /* number of labels */
	size_t chunk0;        /* first chunk in chunks */
	size_t nchunks;       /* chunks of the series */
};

struct block_writer {
	char *parent;             /* data directory, owned */
	char *tmpdir;             /* parent/<id>.tmp, owned */
	char id[BLOCK_ID_LEN + 1];/* the new block's id */
	struct symtab *syms;      /* interned label strings */
	struct wseries *series;   /* series in order */
	size_t nseries, scap;     /* used and allocated */
	struct wchunk *chunks;    /* chunk metas of every series */
	size_t nchunks, ccap;     /* used and allocated */
	uint64_t nsamples;        /* samples written */
	int64_t mint, maxt;       /* sample range seen */
	int seg_fd;               /* open segment file or -1 */
	uint32_t nsegs;           /* segments opened so far */
	uint64_t seg_off;         /* bytes in the open segment */
	uint8_t *wbuf;            /* write buffer of the open segment */
	size_t wlen;              /* bytes pending in wbuf */
	bool failed;              /* a write failed: only abort remains */
};

static int flush_wbuf(struct block_writer *w)
{
	size_t done = 0;

	while (done < w->wlen) {
		ssize_t r = write(w->seg_fd, w->wbuf + done, w->wlen - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return TS_ERR_IO;
		}
		done += (size_t)r;
	}
	w->wlen = 0;
	return 0;
}

static int close_segment(struct block_writer *w)
{
	int rc = 0;

	if (w->seg_fd < 0)
		return 0;
	if (flush_wbuf(w) < 0 || fsync(w->seg_fd) < 0)
		rc = TS_ERR_IO;
	if (close(w->seg_fd) < 0)
		rc = TS_ERR_IO;
	w->seg_fd = -1;
	return rc;
}

static int open_segment(struct block_writer *w)
{
	char path[PATH_MAX];
	static const uint8_t hdr[SEG_HEADER] = { 'V', 'B', 'C', 'H', 1, 0, 0, 0 };

	if (close_segment(w) < 0)
		return TS_ERR_IO;
	w->nsegs++;
	snprintf(path, sizeof(path), "%s/chunks/%06u", w->tmpdir, w->nsegs);
	w->seg_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->seg_fd < 0)
		return TS_ERR_IO;
	memcpy(w->wbuf, hdr, SEG_HEADER);
	w->wlen = SEG_HEADER;
	w->seg_off = SEG_HEADER;
	return 0;
}

struct block_writer *block_writer_new(const char *parent_dir, struct ts_error *err)
{
	struct block_writer *w = calloc(1, sizeof(*w));
	char path[PATH_MAX];

	if (!w) {
		ts_error_set(err, TS_ERR_NOMEM, "cannot write block: out of memory");
		return NULL;
	}
	w->seg_fd = -1;
	w->mint = INT64_MAX;
	w->maxt = INT64_MIN;
	block_new_id(w->id);
	w->parent = strdup(parent_dir);
	w->syms = symtab_new();
	w->wbuf = malloc(WBUF_BYTES);
	if (!w->parent || !w->syms || !w->wbuf ||
	    asprintf(&w->tmpdir, "%s/%s.tmp", parent_dir, w->id) < 0) {
		w->tmpdir = NULL;
		ts_error_set(err, TS_ERR_NOMEM, "cannot write block: out of memory");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/chunks", w->tmpdir);
	if (mkdir(w->tmpdir, 0755) < 0 || mkdir(path, 0755) < 0) {
		ts_error_set(err, TS_ERR_IO, "cannot create block directory %s: %s", w->tmpdir,
			     strerror(errno));
		goto fail;
	}
	return w;
fail:
	block_writer_abort(w);
	return NULL;
}

static void writer_free(struct block_writer *w)
{
	if (w->seg_fd >= 0)
		close(w->seg_fd);
	for (size_t i = 0; i < w->nseries; i++)
		free(w->series[i].lv);
	free(w->series);
	free(w->chunks);
	symtab_free(w->syms);
	free(w->wbuf);
	free(w->parent);
	free(w->tmpdir);
	free(w);
}

void block_writer_abort(struct block_writer *w)
{
	if (!w)
		return;
	if (w->seg_fd >= 0) {
		close(w->seg_fd);
		w->seg_fd = -1;
	}
	if (w->tmpdir)
		block_rm_rf(w->tmpdir);
	writer_free(w);
}

/* Write one XOR chunk (data[0..len)) and record its meta. */
static int write_chunk(struct block_writer *w, const uint8_t *data, size_t len, int64_t mint,
		       int64_t maxt)
{
	uint8_t hdr[11];
	size_t hl = put_uvarint(hdr, len);
	size_t total = hl + 1 + len + 4;
	uint32_t crc;
	uint8_t enc = ENC_XOR, c4[4];

	hdr[hl++] = enc;
	if (w->seg_fd < 0 || w->seg_off + total > SEG_MAX_BYTES) {
		if (open_segment(w) < 0)
			return TS_ERR_IO;
	}
	if (w->nchunks == w->ccap) {
		size_t ncap = w->ccap ? w->ccap * 2 : 1024;
		struct wchunk *nc = realloc(w->chunks, ncap * sizeof(*nc));

		if (!nc)
			return TS_ERR_NOMEM;
		w->chunks = nc;
		w->ccap = ncap;
	}
	w->chunks[w->nchunks].mint = mint;
	w->chunks[w->nchunks].maxt = maxt;
	w->chunks[w->nchunks].seg = w->nsegs - 1;
	w->chunks[w->nchunks].off = (uint32_t)w->seg_off;
	w->nchunks++;
	crc = crc32c(0, &enc, 1);
	crc = crc32c(crc, data, len);
	put32(c4, crc);
	if (w->wlen + total > WBUF_BYTES && flush_wbuf(w) < 0)
		return TS_ERR_IO;
	if (total > WBUF_BYTES)
		return TS_ERR_INVALID;
	memcpy(w->wbuf + w->wlen, hdr, hl);
	memcpy(w->wbuf + w->wlen + hl, data, len);
	memcpy(w->wbuf + w->wlen + hl + len, c4, 4);
	w->wlen += total;
	w->seg_off += total;
	return 0;
}

int block_writer_add(struct block_writer *w, const struct labels *ls, const int64_t *t,
		     const double *v, size_t n)
{
	uint8_t buf[2 + XOR_CHUNK_SAMPLES * XOR_MAX_SAMPLE_BYTES + 16];
	struct wseries *s;
	int rc;

	if (w->failed)
		return TS_ERR_STATE;
	if (n == 0)
		return 0;
	if (w->nseries == w->scap) {
		size_t ncap = w->scap ? w->scap * 2 : 1024;
		struct wseries *ns = realloc(w->series, ncap * sizeof(*ns));

		if (!ns)
			return TS_ERR_NOMEM;
		w->series = ns;
		w->scap = ncap;
	}
	s = &w->series[w->nseries];
	s->lv = malloc((ls->n ? ls->n : 1) * sizeof(*s->lv));
	if (!s->lv)
		return TS_ERR_NOMEM;
	s->nl = ls->n;
	for (size_t i = 0; i < ls->n; i++) {
		s->lv[i].name = symtab_intern(w->syms, ls->v[i].name, strlen(ls->v[i].name));
		s->lv[i].value = symtab_intern(w->syms, ls->v[i].value, strlen(ls->v[i].value));
		if (!s->lv[i].name || !s->lv[i].value) {
			free(s->lv);
			return TS_ERR_NOMEM;
		}
	}
	s->chunk0 = w->nchunks;
	s->nchunks = 0;
	w->nseries++;
	for (size_t i = 0; i < n;) {
		struct xor_enc e;
		size_t j = i;

		xor_enc_init(&e, buf, sizeof(buf));
		while (j < n && j - i < XOR_CHUNK_SAMPLES && xor_enc_append(&e, t[j], v[j]))
			j++;
		rc = write_chunk(w, buf, xor_enc_len(&e), t[i], t[j - 1]);
		if (rc < 0) {
			w->failed = true;
			return rc;
		}
		s->nchunks++;
		i = j;
	}
	w->nsamples += n;
	if (t[0] < w->mint)
		w->mint = t[0];
	if (t[n - 1] > w->maxt)
		w->maxt = t[n - 1];
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pointer -> symbol id map (open addressing). */
struct symmap {
	const char **key; /* interned string, NULL = empty */
	uint32_t *id;     /* its symbol id */
	size_t cap;       /* power of two */
};

static size_t ptr_hash(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static uint32_t symmap_get(const struct symmap *m, const char *s)
{
	for (size_t j = ptr_hash(s, m->cap);; j = (j + 1) & (m->cap - 1))
		if (m->key[j] == s)
			return m->id[j];
}

/* A (name, value, series) triple of symbol ids for the postings. */
struct triple {
	uint32_t name, value, series;
};

static int cmp_triple(const void *a, const void *b)
{
	const struct triple *x = a, *y = b;

	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->series < y->series ? -1 : x->series > y->series;
}

/* Write a whole buffer to path and fsync it. */
static int write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;

	if (fd < 0)
		return TS_ERR_IO;
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = TS_ERR_IO;
			break;
		}
		p += r;
		n -= (size_t)r;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = TS_ERR_IO;
	if (close(fd) < 0)
		rc = TS_ERR_IO;
	return rc;
}

/* Append a section (length, content, CRC) to the index buffer. */
static bool put_section(struct bbuf *ix, const struct bbuf *c, uint64_t *off)
{
	*off = ix->n;
	return bb_u32(ix, (uint32_t)c->n) && bb_put(ix, c->p, c->n) &&
	       bb_u32(ix, crc32c(0, c->p, c->n));
}

static int write_meta(const char *path, const struct block_meta *m)
{
	json_t *root, *src;
	char *text;
	int rc;

	src = json_array();
	for (size_t i = 0; src && i < m->nsources; i++)
		json_array_append_new(src, json_string(m->sources[i]));
	root = json_pack("{s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:i, s:o}, s:i}", "ulid", m->id,
			 "minTime", (json_int_t)m->min_time, "maxTime", (json_int_t)m->max_time,
			 "stats", "numSamples", (json_int_t)m->num_samples, "numSeries",
			 (json_int_t)m->num_series, "numChunks", (json_int_t)m->num_chunks,
			 "compaction", "level", m->level, "sources", src, "version", 1);
	if (!root)
		return TS_ERR_NOMEM;
	text = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (!text)
		return TS_ERR_NOMEM;
	rc = write_file(path, (const uint8_t *)text, strlen(text));
	free(text);
	return rc;
}

/* Build the index bytes of w into ix. */
static int build_index(struct block_writer *w, struct bbuf *ix)
{
	struct bbuf sym = { 0 }, ser = { 0 }, lab = { 0 }, post = { 0 };
	const char **strs = NULL;
	struct symmap map = { 0 };
	struct triple *tr = NULL;
	size_t nstr = 0, ntr = 0, nuniq = 0, nnames = 0;
	uint64_t toc[NSECT];
	uint32_t *voff = NULL;
	uint8_t tocb[TOC_BYTES];
	int rc = TS_ERR_NOMEM;
	static const uint8_t hdr[8] = { 'V', 'B', 'I', 'X', 1, 0, 0, 0 };

	for (size_t i = 0; i < w->nseries; i++)
		ntr += w->series[i].nl;
	strs = malloc((2 * ntr + 1) * sizeof(*strs));
	tr = malloc((ntr + 1) * sizeof(*tr));
	if (!strs || !tr)
		goto out;
	for (size_t i = 0; i < w->nseries; i++)
		for (size_t j = 0; j < w->series[i].nl; j++) {
			strs[nstr++] = w->series[i].lv[j].name;
			strs[nstr++] = w->series[i].lv[j].value;
		}
	qsort(strs, nstr, sizeof(*strs), cmp_strp);
	for (size_t i = 0; i < nstr; i++)
		if (nuniq == 0 || strs[nuniq - 1] != strs[i])
			strs[nuniq++] = strs[i];
	/* symbol map */
	map.cap = 16;
	while (map.cap < nuniq * 2)
		map.cap *= 2;
	map.key = calloc(map.cap, sizeof(*map.key));
	map.id = calloc(map.cap, sizeof(*map.id));
	if (!map.key || !map.id)
		goto out;
	for (size_t i = 0; i < nuniq; i++) {
		size_t j = ptr_hash(strs[i], map.cap);

		while (map.key[j])
			j = (j + 1) & (map.cap - 1);
		map.key[j] = strs[i];
		map.id[j] = (uint32_t)i;
	}
	/* symbols */
	{
		uint32_t off = 4 + 4 * (uint32_t)nuniq;

		if (!bb_u32(&sym, (uint32_t)nuniq))
			goto out;
		for (size_t i = 0; i < nuniq; i++) {
			if (!bb_u32(&sym, off))
				goto out;
			off += (uint32_t)strlen(strs[i]) + 1;
		}
		for (size_t i = 0; i < nuniq; i++)
			if (!bb_put(&sym, strs[i], strlen(strs[i]) + 1))
				goto out;
	}
	/* series */
	if (!bb_u32(&ser, (uint32_t)w->nseries) || !bb_reserve(&ser, 4 * w->nseries))
		goto out;
	ser.n += 4 * w->nseries;
	ntr = 0;
	for (size_t i = 0; i < w->nseries; i++) {
		const struct wseries *s = &w->series[i];
		int64_t prev = 0;

		put32(ser.p + 4 + 4 * i, (uint32_t)ser.n);
		if (!bb_uvarint(&ser, s->nl))
			goto out;
		for (size_t j = 0; j < s->nl; j++) {
			uint32_t n = symmap_get(&map, s->lv[j].name);
			uint32_t v = symmap_get(&map, s->lv[j].value);

			if (!bb_uvarint(&ser, n) || !bb_uvarint(&ser, v))
				goto out;
			tr[ntr].name = n;
			tr[ntr].value = v;
			tr[ntr].series = (uint32_t)i;
			ntr++;
		}
		if (!bb_uvarint(&ser, s->nchunks))
			goto out;
		for (size_t k = 0; k < s->nchunks; k++) {
			const struct wchunk *c = &w->chunks[s->chunk0 + k];

			if (!bb_varint(&ser, k == 0 ? c->mint : c->mint - prev) ||
			    !bb_uvarint(&ser, (uint64_t)(c->maxt - c->mint)) ||
			    !bb_uvarint(&ser, c->seg) || !bb_uvarint(&ser, c->off))
				goto out;
			prev = c->maxt;
		}
	}
	/* postings and label tables */
	qsort(tr, ntr, sizeof(*tr), cmp_triple);
	for (size_t i = 0; i < ntr; i++)
		if (i == 0 || tr[i].name != tr[i - 1].name)
			nnames++;
	if (!bb_u32(&lab, (uint32_t)nnames) || !bb_reserve(&lab, 12 * nnames))
		goto out;
	lab.n += 12 * nnames;
	{
		size_t ni = 0, nvals = 0;

		for (size_t i = 0; i < ntr;) {
			size_t j = i;
			uint32_t poff = (uint32_t)post.n;

			while (j < ntr && tr[j].name == tr[i].name && tr[j].value == tr[i].value)
				j++;
			if (!bb_u32(&post, (uint32_t)(j - i)))
				goto out;
			for (size_t k = i; k < j; k++)
				if (!bb_u32(&post, tr[k].series))
					goto out;
			if (i == 0 || tr[i].name != tr[i - 1].name) {
				put32(lab.p + 4 + 12 * ni, tr[i].name);
				put32(lab.p + 8 + 12 * ni, (uint32_t)nvals);
				put32(lab.p + 12 + 12 * ni, 0);
				ni++;
			}
			put32(lab.p + 12 + 12 * (ni - 1), get32(lab.p + 12 + 12 * (ni - 1)) + 1);
			if (!bb_u32(&lab, tr[i].value) || !bb_u32(&lab, poff))
				goto out;
			nvals++;
			i = j;
		}
	}
	if (!bb_put(ix, hdr, sizeof(hdr)) || !put_section(ix, &sym, &toc[SECT_SYMBOLS]) ||
	    !put_section(ix, &ser, &toc[SECT_SERIES]) ||
	    !put_section(ix, &lab, &toc[SECT_LABELS]) ||
	    !put_section(ix, &post, &toc[SECT_POSTINGS]))
		goto out;
	for (int i = 0; i < NSECT; i++)
		put64(tocb + 8 * i, toc[i]);
	put32(tocb + 32, crc32c(0, tocb, 32));
	memcpy(tocb + 36, "VBIT", 4);
	if (!bb_put(ix, tocb, TOC_BYTES))
		goto out;
	if (ix->n > UINT32_MAX) {
		rc = TS_ERR_LIMIT;
		goto out;
	}
	rc = 0;
out:
	free(voff);
	free(strs);
	free(tr);
	free(map.key);
	free(map.id);
	free(sym.p);
	free(ser.p);
	free(lab.p);
	free(post.p);
	return rc;
}

int block_writer_commit(struct block_writer *w, struct block_meta *meta, struct ts_error *err)
{
	struct bbuf ix = { 0 };
	char path[PATH_MAX], final[PATH_MAX];
	int rc;

	if (w->failed) {
		rc = ts_error_set(err, TS_ERR_STATE, "cannot write block: an earlier write failed");
		goto fail;
	}
	if (w->nseries == 0) {
		rc = TS_ERR_NOT_FOUND;
		goto fail;
	}
	if (close_segment(w) < 0) {
		rc = ts_error_set(err, TS_ERR_IO, "cannot write chunks of block %s: %s", w->id,
				  strerror(errno));
		goto fail;
	}
	rc = build_index(w, &ix);
	if (rc < 0) {
		ts_error_set(err, rc, "cannot build index of block %s: %s", w->id, ts_strerror(rc));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/index", w->tmpdir);
	rc = write_file(path, ix.p, ix.n);
	free(ix.p);
	ix.p = NULL;
	if (rc < 0) {
		ts_error_set(err, rc, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	memcpy(meta->id, w->id, sizeof(meta->id));
	meta->num_series = w->nseries;
	meta->num_chunks = w->nchunks;
	meta->num_samples = w->nsamples;
	if (meta->min_time > w->mint)
		meta->min_time = w->mint;
	if (meta->max_time <= w->maxt)
		meta->max_time = w->maxt + 1;
	if (meta->level < 1)
		meta->level = 1;
	if (meta->nsources == 0) {
		meta->nsources = 1;
		memcpy(meta->sources[0], w->id, sizeof(meta->sources[0]));
	}
	snprintf(path, sizeof(path), "%s/meta.json", w->tmpdir);
	rc = write_meta(path, meta);
	if (rc < 0) {
		ts_error_set(err, rc, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/chunks", w->tmpdir);
	if (fsync_path(path) < 0 || fsync_path(w->tmpdir) < 0) {
		rc = ts_error_set(err, TS_ERR_IO, "cannot sync block %s: %s", w->tmpdir,
				  strerror(errno));
		goto fail;
	}
	snprintf(final, sizeof(final), "%s/%s", w->parent, w->id);
	if (rename(w->tmpdir, final) < 0 || fsync_path(w->parent) < 0) {
		rc = ts_error_set(err, TS_ERR_IO, "cannot move block into place at %s: %s", final,
				  strerror(errno));
		goto fail;
	}
	writer_free(w);
	return 0;
fail:
	free(ix.p);
	block_writer_abort(w);
	return rc;
}

/* ------------------------------------------------------------ reader */

/* A mapped file. */
struct mapping {
	const uint8_t *p; /* bytes, NULL when empty */
	size_t len;       /* length */
};

struct block {
	int refs;                   /* references (atomic) */
	bool deleted;               /* remove the directory on the last unref */
	char *dir;                  /* block directory, owned */
	struct block_meta meta;     /* from meta.json */
	struct mapping ix;          /* the index file */
	const uint8_t *sect[NSECT]; /* content of each section */
	uint32_t sect_len[NSECT];   /* content lengths */
	uint32_t nsyms;             /* symbols */
	uint32_t nseries;           /* series */
	uint32_t nnames;            /* label names */
	uint32_t nvals;             /* value entries */
	struct mapping *segs;       /* chunk segments */
	uint32_t nsegs;             /* number of segments */
	uint64_t bytes;             /* file bytes on disk */
};

static int map_file(const char *path, struct mapping *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	m->p = NULL;
	m->len = 0;
	if (fd < 0)
		return TS_ERR_IO;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return TS_ERR_IO;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return TS_ERR_IO;
	m->p = p;
	m->len = (size_t)st.st_size;
	return 0;
}

static void unmap(struct mapping *m)
{
	if (m->p)
		munmap((void *)m->p, m->len);
	m->p = NULL;
	m->len = 0;
}

static const char *sym_str(const struct block *b, uint32_t id)
{
	return (const char *)b->sect[SECT_SYMBOLS] + get32(b->sect[SECT_SYMBOLS] + 4 + 4 * (size_t)id);
}

static int read_meta(struct block *b, struct ts_error *err)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *root, *src = NULL;
	json_int_t mint, maxt, ns = 0, nc = 0, nsa = 0;
	const char *id;
	int level = 0, version = 0;

	snprintf(path, sizeof(path), "%s/meta.json", b->dir);
	root = json_load_file(path, 0, &je);
	if (!root)
		return ts_error_set(err, TS_ERR_CORRUPT, "cannot read %s: %s", path, je.text);
	if (json_unpack_ex(root, &je, 0, "{s:s, s:I, s:I, s?{s?I, s?I, s?I}, s:{s:i, s?o}, s:i}",
			   "ulid", &id, "minTime", &mint, "maxTime", &maxt, "stats",
			   "numSamples", &nsa, "numSeries", &ns, "numChunks", &nc, "compaction",
			   "level", &level, "sources", &src, "version", &version) < 0 ||
	    version != 1 || !block_is_id(id) || mint >= maxt || level < 1) {
		json_decref(root);
		return ts_error_set(err, TS_ERR_CORRUPT, "cannot read %s: bad or missing fields",
				    path);
	}
	memcpy(b->meta.id, id, BLOCK_ID_LEN + 1);
	b->meta.min_time = mint;
	b->meta.max_time = maxt;
	b->meta.num_samples = (uint64_t)nsa;
	b->meta.num_series = (uint64_t)ns;
	b->meta.num_chunks = (uint64_t)nc;
	b->meta.level = level;
	for (size_t i = 0; json_is_array(src) && i < json_array_size(src); i++) {
		const char *s = json_string_value(json_array_get(src, i));

		if (s && block_is_id(s) && b->meta.nsources < BLOCK_MAX_SOURCES)
			memcpy(b->meta.sources[b->meta.nsources++], s, BLOCK_ID_LEN + 1);
	}
	json_decref(root);
	return 0;
}

static int check_index(struct block *b, struct ts_error *err)
{
	const uint8_t *p = b->ix.p, *toc;
	size_t len = b->ix.len;

	if (len < 8 + TOC_BYTES || memcmp(p, "VBIX\1", 5) != 0)
		return ts_error_set(err, TS_ERR_CORRUPT, "block %s: index has a bad header",
				    b->meta.id);
	toc = p + len - TOC_BYTES;
	if (memcmp(toc + 36, "VBIT", 4) != 0 || get32(toc + 32) != crc32c(0, toc, 32))
		return ts_error_set(err, TS_ERR_CORRUPT, "block %s: index TOC fails its CRC",
				    b->meta.id);
	for (int i = 0; i < NSECT; i++) {
		uint64_t off = get64(toc + 8 * i);
		uint32_t l;

		if (off < 8 || off + 8 > len - TOC_BYTES)
			return ts_error_set(err, TS_ERR_CORRUPT,
					    "block %s: index section %d out of bounds", b->meta.id, i);
		l = get32(p + off);
		if ((uint64_t)l + 8 + off > len - TOC_BYTES)
			return ts_error_set(err, TS_ERR_CORRUPT,
					    "block %s: index section %d out of bounds", b->meta.id, i);
		if (get32(p + off + 4 + l) != crc32c(0, p + off + 4, l))
			return ts_error_set(err, TS_ERR_CORRUPT,
					    "block %s: index section %d fails its CRC", b->meta.id, i);
		b->sect[i] = p + off + 4;
		b->sect_len[i] = l;
	}
	/* symbols: every offset inside, the last string terminated */
	if (b->sect_len[SECT_SYMBOLS] < 4)
		goto bad;
	b->nsyms = get32(b->sect[SECT_SYMBOLS]);
	if ((uint64_t)b->nsyms * 4 + 4 > b->sect_len[SECT_SYMBOLS])
		goto bad;
	if (b->nsyms && b->sect[SECT_SYMBOLS][b->sect_len[SECT_SYMBOLS] - 1] != '\0')
		goto bad;
	for (uint32_t i = 0; i < b->nsyms; i++) {
		uint32_t o = get32(b->sect[SECT_SYMBOLS] + 4 + 4 * (size_t)i);

		if (o < 4 + 4 * (uint64_t)b->nsyms || o >= b->sect_len[SECT_SYMBOLS])
			goto bad;
	}
	if (b->sect_len[SECT_SERIES] < 4)
		goto bad;
	b->nseries = get32(b->sect[SECT_SERIES]);
	if ((uint64_t)b->nseries * 4 + 4 > b->sect_len[SECT_SERIES])
		goto bad;
	if (b->sect_len[SECT_LABELS] < 4)
		goto bad;
	b->nnames = get32(b->sect[SECT_LABELS]);
	if ((uint64_t)b->nnames * 12 + 4 > b->sect_len[SECT_LABELS])
		goto bad;
	b->nvals = (uint32_t)((b->sect_len[SECT_LABELS] - 4 - 12 * (uint64_t)b->nnames) / 8);
	for (uint32_t i = 0; i < b->nnames; i++) {
		const uint8_t *e = b->sect[SECT_LABELS] + 4 + 12 * (size_t)i;

		if (get32(e) >= b->nsyms || (uint64_t)get32(e + 4) + get32(e + 8) > b->nvals)
			goto bad;
	}
	for (uint32_t i = 0; i < b->nvals; i++) {
		const uint8_t *e = b->sect[SECT_LABELS] + 4 + 12 * (size_t)b->nnames + 8 * (size_t)i;
		uint32_t po = get32(e + 4);

		if (get32(e) >= b->nsyms || (uint64_t)po + 4 > b->sect_len[SECT_POSTINGS] ||
		    (uint64_t)po + 4 + 4 * (uint64_t)get32(b->sect[SECT_POSTINGS] + po) >
			    b->sect_len[SECT_POSTINGS])
			goto bad;
	}
	return 0;
bad:
	return ts_error_set(err, TS_ERR_CORRUPT, "block %s: index structure is inconsistent",
			    b->meta.id);
}

static int check_segment(struct block *b, uint32_t k, struct ts_error *err)
{
	const struct mapping *m = &b->segs[k];
	struct rd r;

	if (m->len < SEG_HEADER || memcmp(m->p, "VBCH\1", 5) != 0)
		return ts_error_set(err, TS_ERR_CORRUPT, "block %s: chunk segment %06u has a bad header",
				    b->meta.id, k + 1);
	r.p = m->p + SEG_HEADER;
	r.end = m->p + m->len;
	r.err = false;
	while (r.p < r.end) {
		const uint8_t *start = r.p;
		uint64_t l = rd_uvarint(&r);

		if (r.err || l + 5 > (uint64_t)(r.end - r.p) || *r.p != ENC_XOR ||
		    get32(r.p + 1 + l) != crc32c(0, r.p, l + 1))
			return ts_error_set(err, TS_ERR_CORRUPT,
					    "block %s: chunk at %zu of segment %06u fails its check",
					    b->meta.id, (size_t)(start - m->p), k + 1);
		r.p += l + 5;
	}
	return 0;
}

struct block *block_open(const char *dir, struct ts_error *err)
{
	struct block *b = calloc(1, sizeof(*b));
	char path[PATH_MAX];
	int rc;

	if (!b || !(b->dir = strdup(dir))) {
		free(b);
		ts_error_set(err, TS_ERR_NOMEM, "cannot open block %s: out of memory", dir);
		return NULL;
	}
	b->refs = 1;
	rc = read_meta(b, err);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/index", dir);
	rc = map_file(path, &b->ix);
	if (rc < 0) {
		rc = ts_error_set(err, errno == ENOENT ? TS_ERR_CORRUPT : TS_ERR_IO,
				  "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	b->bytes = b->ix.len;
	rc = check_index(b, err);
	if (rc < 0)
		goto fail;
	for (;;) {
		struct mapping m;
		struct stat st;
		void *ns;

		snprintf(path, sizeof(path), "%s/chunks/%06u", dir, b->nsegs + 1);
		if (stat(path, &st) < 0)
			break;
		rc = map_file(path, &m);
		if (rc < 0) {
			ts_error_set(err, rc, "cannot open %s: %s", path, strerror(errno));
			goto fail;
		}
		ns = realloc(b->segs, (b->nsegs + 1) * sizeof(*b->segs));
		if (!ns) {
			unmap(&m);
			rc = ts_error_set(err, TS_ERR_NOMEM, "cannot open block %s: out of memory", dir);
			goto fail;
		}
		b->segs = ns;
		b->segs[b->nsegs++] = m;
		b->bytes += m.len;
		rc = check_segment(b, b->nsegs - 1, err);
		if (rc < 0)
			goto fail;
		/* the check read every page: let them go from this process's
		 * resident set (they stay in the page cache) */
		if (m.p)
			madvise((void *)m.p, m.len, MADV_DONTNEED);
	}
	if (b->nsegs == 0 && b->nseries > 0) {
		rc = ts_error_set(err, TS_ERR_CORRUPT, "block %s: chunk segments are missing", dir);
		goto fail;
	}
	return b;
fail:
	b->refs = 1;
	block_unref(b);
	return NULL;
}

void block_ref(struct block *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void block_mark_deleted(struct block *b)
{
	__atomic_store_n(&b->deleted, true, __ATOMIC_RELEASE);
}

void block_unref(struct block *b)
{
	if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	unmap(&b->ix);
	for (uint32_t i = 0; i < b->nsegs; i++)
		unmap(&b->segs[i]);
	free(b->segs);
	if (__atomic_load_n(&b->deleted, __ATOMIC_ACQUIRE))
		block_rm_rf(b->dir);
	free(b->dir);
	free(b);
}

const struct block_meta *block_meta(const struct block *b)
{
	return &b->meta;
}

const char *block_dir(const struct block *b)
{
	return b->dir;
}

uint64_t block_size(const struct block *b)
{
	return b->bytes;
}

uint32_t block_num_series(const struct block *b)
{
	return b->nseries;
}

/* Name entry of name, or NULL. */
static const uint8_t *find_name(const struct block *b, const char *name)
{
	uint32_t lo = 0, hi = b->nnames;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const uint8_t *e = b->sect[SECT_LABELS] + 4 + 12 * (size_t)mid;
		int c = strcmp(sym_str(b, get32(e)), name);

		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const uint8_t *value_entry(const struct block *b, uint32_t k)
{
	return b->sect[SECT_LABELS] + 4 + 12 * (size_t)b->nnames + 8 * (size_t)k;
}

/* Copy the postings list at offset po into out (appending). */
static int read_postings(const struct block *b, uint32_t po, struct postings *out)
{
	const uint8_t *p = b->sect[SECT_POSTINGS] + po;
	uint32_t n = get32(p);

	out->ids = malloc((n ? n : 1) * sizeof(*out->ids));
	if (!out->ids)
		return TS_ERR_NOMEM;
	out->cap = n ? n : 1;
	out->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = get32(p + 4 + 4 * (size_t)i);

		if (id >= b->nseries || (out->n && id <= out->ids[out->n - 1])) {
			free(out->ids);
			*out = (struct postings)POSTINGS_INIT;
			return TS_ERR_CORRUPT;
		}
		out->ids[out->n++] = id;
	}
	return 0;
}

/* Union of the postings of values of m's name that match m (positive)
 * or do not (negative). */
static int values_matching(struct block *b, const struct matcher *m, bool positive,
			   struct postings *out)
{
	const uint8_t *ne = find_name(b, m->name);
	struct postings *lists = NULL;
	uint32_t first, nv;
	size_t k = 0;
	int rc = 0;

	*out = (struct postings)POSTINGS_INIT;
	if (!ne)
		return 0;
	first = get32(ne + 4);
	nv = get32(ne + 8);
	if ((m->type == MATCHER_EQ && positive) || (m->type == MATCHER_NEQ && !positive)) {
		uint32_t lo = 0, hi = nv;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			const uint8_t *ve = value_entry(b, first + mid);
			int c = strcmp(sym_str(b, get32(ve)), m->value);

			if (c == 0)
				return read_postings(b, get32(ve + 4), out);
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return 0;
	}
	lists = calloc(nv ? nv : 1, sizeof(*lists));
	if (!lists)
		return TS_ERR_NOMEM;
	for (uint32_t i = 0; i < nv && rc == 0; i++) {
		const uint8_t *ve = value_entry(b, first + i);

		if (matcher_matches(m, sym_str(b, get32(ve))) == positive)
			rc = read_postings(b, get32(ve + 4), &lists[k++]);
	}
	if (rc == 0) {
		if (k == 1) {
			*out = lists[0];
			lists[0] = (struct postings)POSTINGS_INIT;
		} else if (k > 1) {
			rc = postings_union(lists, k, out);
		}
	}
	for (size_t i = 0; i < k; i++)
		postings_release(&lists[i]);
	free(lists);
	return rc;
}

static int all_postings(struct block *b, struct postings *out)
{
	out->ids = malloc((b->nseries ? b->nseries : 1) * sizeof(*out->ids));
	if (!out->ids)
		return TS_ERR_NOMEM;
	out->cap = b->nseries ? b->nseries : 1;
	for (uint32_t i = 0; i < b->nseries; i++)
		out->ids[i] = i;
	out->n = b->nseries;
	return 0;
}

static int blk_values_matching(void *src, const struct matcher *m, bool want,
			       struct postings *out)
{
	return values_matching(src, m, want, out);
}

static int blk_all(void *src, struct postings *out)
{
	return all_postings(src, out);
}

static const struct postings_source_ops block_source_ops = {
	.values_matching = blk_values_matching,
	.all = blk_all,
};

int block_select(struct block *b, const struct matcher *ms, size_t n, struct postings *out)
{
	return postings_select(&block_source_ops, b, ms, n, out);
}

/* A reader positioned at series i's entry, or err set. */
static struct rd series_rd(const struct block *b, uint32_t i)
{
	struct rd r = { NULL, NULL, true };
	uint32_t off;

	if (i >= b->nseries)
		return r;
	off = get32(b->sect[SECT_SERIES] + 4 + 4 * (size_t)i);
	if (off >= b->sect_len[SECT_SERIES])
		return r;
	r.p = b->sect[SECT_SERIES] + off;
	r.end = b->sect[SECT_SERIES] + b->sect_len[SECT_SERIES];
	r.err = false;
	return r;
}

int block_series_labels(struct block *b, uint32_t i, struct arena *a, struct labels *out)
{
	struct rd r = series_rd(b, i);
	uint64_t k;

	out->v = NULL;
	out->n = 0;
	k = rd_uvarint(&r);
	if (r.err || k > 1024)
		return TS_ERR_CORRUPT;
	out->v = a ? arena_alloc(a, (k ? k : 1) * sizeof(*out->v))
		   : malloc((k ? k : 1) * sizeof(*out->v));
	if (!out->v)
		return TS_ERR_NOMEM;
	for (uint64_t j = 0; j < k; j++) {
		uint64_t n = rd_uvarint(&r), v = rd_uvarint(&r);

		if (r.err || n >= b->nsyms || v >= b->nsyms) {
			if (!a)
				free(out->v);
			out->v = NULL;
			return TS_ERR_CORRUPT;
		}
		out->v[j].name = sym_str(b, (uint32_t)n);
		out->v[j].value = sym_str(b, (uint32_t)v);
	}
	out->n = (size_t)k;
	return 0;
}

/* A chunk reference decoded from a series entry. */
struct cref {
	int64_t mint, maxt;  /* sample range */
	const uint8_t *data; /* chunk bytes in the mapping */
	size_t len;          /* bytes */
};

/* Resolve (seg, off) into data/len. */
static int chunk_at(const struct block *b, uint64_t seg, uint64_t off, struct cref *c)
{
	struct rd r;
	uint64_t l;

	if (seg >= b->nsegs || off < SEG_HEADER || off >= b->segs[seg].len)
		return TS_ERR_CORRUPT;
	r.p = b->segs[seg].p + off;
	r.end = b->segs[seg].p + b->segs[seg].len;
	r.err = false;
	l = rd_uvarint(&r);
	if (r.err || l + 5 > (uint64_t)(r.end - r.p))
		return TS_ERR_CORRUPT;
	c->data = r.p + 1;
	c->len = (size_t)l;
	return 0;
}

long block_series_samples(struct block *b, uint32_t i, int64_t mint, int64_t maxt,
			  int64_t **tout, double **vout)
{
	struct rd r = series_rd(b, i);
	struct cref inl[16], *refs = inl;
	uint64_t k, nc;
	size_t nref = 0, cap = 16, total = 0;
	int64_t prev = 0, *ts = NULL;
	double *vs = NULL;
	long n = 0;

	if (tout) {
		*tout = NULL;
		*vout = NULL;
	}
	k = rd_uvarint(&r);
	for (uint64_t j = 0; j < k && !r.err; j++) {
		rd_uvarint(&r);
		rd_uvarint(&r);
	}
	nc = rd_uvarint(&r);
	if (r.err)
		return TS_ERR_CORRUPT;
	for (uint64_t j = 0; j < nc; j++) {
		struct cref c;
		int64_t d = rd_varint(&r);
		uint64_t span = rd_uvarint(&r), seg = rd_uvarint(&r), off = rd_uvarint(&r);

		if (r.err) {
			n = TS_ERR_CORRUPT;
			goto out;
		}
		c.mint = j == 0 ? d : prev + d;
		c.maxt = c.mint + (int64_t)span;
		prev = c.maxt;
		if (c.mint > maxt)
			break;
		if (c.maxt < mint)
			continue;
		if (!tout && c.mint >= mint && c.maxt <= maxt) {
			n = 1;
			goto out;
		}
		if (chunk_at(b, seg, off, &c) < 0) {
			n = TS_ERR_CORRUPT;
			goto out;
		}
		if (nref == cap) {
			struct cref *nr = malloc(cap * 2 * sizeof(*nr));

			if (!nr) {
				n = TS_ERR_NOMEM;
				goto out;
			}
			memcpy(nr, refs, nref * sizeof(*nr));
			if (refs != inl)
				free(refs);
			refs = nr;
			cap *= 2;
		}
		refs[nref++] = c;
		total += xor_chunk_num_samples(c.data, c.len);
	}
	if (total == 0)
		goto out;
	if (tout) {
		ts = malloc(total * sizeof(*ts));
		vs = malloc(total * sizeof(*vs));
		if (!ts || !vs) {
			n = TS_ERR_NOMEM;
			goto out;
		}
	}
	for (size_t j = 0; j < nref; j++) {
		struct xor_iter it;
		int64_t t;
		double v;
		int rc;

		xor_iter_init(&it, refs[j].data, refs[j].len);
		while ((rc = xor_iter_next(&it, &t, &v)) == 1) {
			if (t > maxt)
				break;
			if (t < mint)
				continue;
			if (!tout) {
				n = 1;
				goto out;
			}
			if ((size_t)n >= total) {
				rc = -1;
				break;
			}
			ts[n] = t;
			vs[n] = v;
			n++;
		}
		if (rc < 0) {
			n = TS_ERR_CORRUPT;
			goto out;
		}
	}
out:
	if (refs != inl)
		free(refs);
	if (n > 0 && tout) {
		*tout = ts;
		*vout = vs;
	} else {
		free(ts);
		free(vs);
	}
	return n;
}

int block_label_names(struct block *b, const char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (b->nnames == 0)
		return 0;
	*out = malloc(b->nnames * sizeof(**out));
	if (!*out)
		return TS_ERR_NOMEM;
	for (uint32_t i = 0; i < b->nnames; i++)
		(*out)[i] = sym_str(b, get32(b->sect[SECT_LABELS] + 4 + 12 * (size_t)i));
	*n = b->nnames;
	return 0;
}

int block_label_values(struct block *b, const char *name, const char ***out, size_t *n)
{
	const uint8_t *ne = find_name(b, name);
	uint32_t first, nv;

	*out = NULL;
	*n = 0;
	if (!ne)
		return 0;
	first = get32(ne + 4);
	nv = get32(ne + 8);
	if (nv == 0)
		return 0;
	*out = malloc(nv * sizeof(**out));
	if (!*out)
		return TS_ERR_NOMEM;
	for (uint32_t i = 0; i < nv; i++)
		(*out)[i] = sym_str(b, get32(value_entry(b, first + i)));
	*n = nv;
	return 0;
}
