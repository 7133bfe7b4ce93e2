/* check_wal.c - write-ahead log: framing, CRC, damaged tails, group commit,
 * replay through the db, checkpoints, out-of-order reads */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/chunk_xor.h"
#include "tsdb/db.h"
#include "tsdb/wal.h"
#include "util/crc32c.h"

/* A fresh temporary directory. */
static void tmp_dir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, cap, "%s/varve-wal-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(out));
}

static void rm_tree(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

static uint64_t bits(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

/* What a replay saw. */
struct seen {
	size_t nseries;          /* SERIES definitions */
	uint32_t refs[64];       /* their refs (first 64) */
	char names[64][32];      /* their __name__ values */
	size_t nsamples;         /* samples */
	struct wal_sample s[4096]; /* the first 4096 */
	size_t ntomb;            /* tombstones */
	struct wal_tombstone t[16]; /* the first 16 */
};

static int seen_series(void *ctx, uint32_t ref, const struct labels *ls)
{
	struct seen *s = ctx;

	if (s->nseries < 64) {
		s->refs[s->nseries] = ref;
		snprintf(s->names[s->nseries], sizeof(s->names[0]), "%s",
			 ls->n ? ls->v[0].value : "");
	}
	s->nseries++;
	return 0;
}

static int seen_samples(void *ctx, const struct wal_sample *v, size_t n)
{
	struct seen *s = ctx;

	for (size_t i = 0; i < n; i++, s->nsamples++)
		if (s->nsamples < 4096)
			s->s[s->nsamples] = v[i];
	return 0;
}

static int seen_tombstones(void *ctx, const struct wal_tombstone *t, size_t n)
{
	struct seen *s = ctx;

	for (size_t i = 0; i < n; i++, s->ntomb++)
		if (s->ntomb < 16)
			s->t[s->ntomb] = t[i];
	return 0;
}

static const struct wal_replay_ops seen_ops = { seen_series, seen_samples, seen_tombstones };

static struct wal *open_replayed(const char *dir, struct seen *s, struct wal_replay_stats *st)
{
	struct ts_error err;
	struct wal *w = wal_open(dir, NULL, &err);

	ck_assert_msg(w != NULL, "wal_open: %s", err.msg);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(wal_replay(w, &seen_ops, s, st), 0);
	return w;
}

/* Write one record set through w and sync it. */
static void put(struct wal *w, struct buf *b, const uint32_t *refs, size_t nrefs)
{
	uint64_t lsn;

	ck_assert(buf_ok(b));
	ck_assert_int_eq(wal_write(w, b->data, b->len, refs, nrefs, &lsn), 0);
	ck_assert_int_eq(wal_sync(w, lsn), 0);
	buf_setlen(b, 0);
}

static void seg_path(char *out, size_t cap, const char *dir, uint32_t n)
{
	snprintf(out, cap, "%s/%08u", dir, n);
}

static size_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

START_TEST(test_wal_crc32c)
{
	/* the check value of CRC-32C (Castagnoli) */
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	/* incremental equals one pass, at any split and alignment */
	{
		char data[100];
		uint32_t one;

		for (int i = 0; i < 100; i++)
			data[i] = (char)(i * 7 + 3);
		one = crc32c(0, data, 100);
		for (size_t k = 0; k <= 100; k++)
			ck_assert_uint_eq(crc32c(crc32c(0, data, k), data + k, 100 - k), one);
	}
}
END_TEST

START_TEST(test_wal_record_framing)
{
	struct label l[2] = { { "__name__", "up" }, { "job", "node" } };
	struct labels ls = { l, 2 };
	struct wal_sample smp[3] = { { 7, 1000, 1 }, { 7, -5, 2 }, { 9, INT64_MAX, 3 } };
	struct buf b = BUF_INIT;
	uint32_t len;

	wal_enc_series(&b, 7, &ls);
	ck_assert(buf_ok(&b));
	len = (uint32_t)(uint8_t)b.data[0] | (uint32_t)(uint8_t)b.data[1] << 8 |
	      (uint32_t)(uint8_t)b.data[2] << 16 | (uint32_t)(uint8_t)b.data[3] << 24;
	ck_assert_uint_eq(len + WAL_HEADER, b.len);
	ck_assert_int_eq(b.data[8], WAL_REC_SERIES);
	{
		uint32_t crc = (uint32_t)(uint8_t)b.data[4] | (uint32_t)(uint8_t)b.data[5] << 8 |
			       (uint32_t)(uint8_t)b.data[6] << 16 |
			       (uint32_t)(uint8_t)b.data[7] << 24;

		ck_assert_uint_eq(crc, crc32c(0, b.data + 8, len + 1));
	}
	buf_setlen(&b, 0);
	wal_enc_samples(&b, smp, 3);
	ck_assert_int_eq(b.data[8], WAL_REC_SAMPLES);
	buf_release(&b);
}
END_TEST

START_TEST(test_wal_replay_equals_written)
{
	struct label l[2] = { { "__name__", "a" }, { "job", "x" } };
	struct labels ls = { l, 2 };
	struct wal_tombstone tb = { 3, 10, 20 };
	struct wal_replay_stats st;
	struct buf b = BUF_INIT;
	struct seen *s = calloc(1, sizeof(*s));
	char dir[256];
	struct wal *w;
	uint32_t ref = 3;

	tmp_dir(dir, sizeof(dir));
	w = open_replayed(dir, s, &st);
	ck_assert_uint_eq(s->nseries + s->nsamples, 0);
	ck_assert(!wal_series_logged(w, 3));
	wal_enc_series(&b, 3, &ls);
	for (int i = 0; i < 1000; i++) {
		struct wal_sample x = { 3, (int64_t)i * 15000 - 7, bits(i * 0.5) };

		wal_enc_samples(&b, &x, 1);
	}
	put(w, &b, &ref, 1);
	ck_assert(wal_series_logged(w, 3));
	wal_enc_tombstones(&b, &tb, 1);
	put(w, &b, NULL, 0);
	wal_close(w);

	w = open_replayed(dir, s, &st);
	ck_assert_uint_eq(st.bytes_cut, 0);
	ck_assert_uint_eq(s->nseries, 1);
	ck_assert_uint_eq(s->refs[0], 3);
	ck_assert_str_eq(s->names[0], "a");
	ck_assert(wal_series_logged(w, 3));
	ck_assert_uint_eq(s->nsamples, 1000);
	for (int i = 0; i < 1000; i++) {
		ck_assert_uint_eq(s->s[i].ref, 3);
		ck_assert_int_eq(s->s[i].t, (int64_t)i * 15000 - 7);
		ck_assert_uint_eq(s->s[i].v, bits(i * 0.5));
	}
	ck_assert_uint_eq(s->ntomb, 1);
	ck_assert_int_eq(s->t[0].mint, 10);
	ck_assert_int_eq(s->t[0].maxt, 20);
	/* a reopened log writes into a fresh segment */
	{
		struct wal_stats ws;

		wal_stats(w, &ws);
		ck_assert_uint_eq(ws.segment, 1);
	}
	wal_close(w);
	buf_release(&b);
	free(s);
	rm_tree(dir);
}
END_TEST

/* A log with 5 records of 10 samples in segment 0; *last = offset of the
 * last record, *end = file size. */
static void five_records(const char *dir, size_t *last, size_t *end)
{
	struct label l[1] = { { "__name__", "m" } };
	struct labels ls = { l, 1 };
	struct buf b = BUF_INIT;
	struct wal_replay_stats st;
	struct seen *s = calloc(1, sizeof(*s));
	char p[300];
	struct wal *w = open_replayed(dir, s, &st);
	uint32_t ref = 1;

	wal_enc_series(&b, 1, &ls);
	put(w, &b, &ref, 1);
	for (int r = 0; r < 4; r++) {
		struct wal_sample x[10];

		for (int i = 0; i < 10; i++) {
			x[i].ref = 1;
			x[i].t = r * 10 + i;
			x[i].v = bits(r);
		}
		wal_enc_samples(&b, x, 10);
		seg_path(p, sizeof(p), dir, 0);
		if (r == 3)
			*last = file_size(p);
		put(w, &b, NULL, 0);
	}
	wal_close(w);
	seg_path(p, sizeof(p), dir, 0);
	*end = file_size(p);
	buf_release(&b);
	free(s);
}

START_TEST(test_wal_torn_tail_every_offset)
{
	char dir[256], p[300], *full;
	size_t last, end;
	int fd;

	tmp_dir(dir, sizeof(dir));
	five_records(dir, &last, &end);
	seg_path(p, sizeof(p), dir, 0);
	full = malloc(end);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, full, end), (ssize_t)end);
	close(fd);
	/* cut the last record at every byte: replay keeps the first four
	 * records, cuts the file back to them, and reports what went */
	for (size_t cut = last; cut < end; cut++) {
		struct wal_replay_stats st;
		struct seen *s = calloc(1, sizeof(*s));
		struct wal *w;
		char p1[300];

		rm_tree(dir);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_eq(write(fd, full, cut), (ssize_t)cut);
		close(fd);
		w = open_replayed(dir, s, &st);
		ck_assert_uint_eq(s->nseries, 1);
		ck_assert_uint_eq(s->nsamples, 30);
		ck_assert_uint_eq(st.bytes_cut, cut - last);
		ck_assert_uint_eq(st.files_cut, cut > last ? 1 : 0);
		wal_close(w);
		ck_assert_uint_eq(file_size(p), last);
		/* and the next start finds nothing to cut */
		w = open_replayed(dir, s, &st);
		ck_assert_uint_eq(st.bytes_cut, 0);
		ck_assert_uint_eq(s->nsamples, 30);
		wal_close(w);
		seg_path(p1, sizeof(p1), dir, 1);
		free(s);
	}
	free(full);
	rm_tree(dir);
}
END_TEST

START_TEST(test_wal_corrupt_middle_record)
{
	char dir[256], p[300];
	size_t last, end;
	struct wal_replay_stats st;
	struct seen *s = calloc(1, sizeof(*s));
	struct wal *w;
	int fd;
	char c;

	tmp_dir(dir, sizeof(dir));
	five_records(dir, &last, &end);
	seg_path(p, sizeof(p), dir, 0);
	/* flip a payload byte of the third record (second sample batch) */
	{
		size_t rec = (end - last);            /* every batch record has one size */
		size_t third = last - 2 * rec + 20;   /* inside the second batch */

		fd = open(p, O_RDWR);
		ck_assert_int_eq(pread(fd, &c, 1, (off_t)third), 1);
		c ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)third), 1);
		close(fd);
		w = open_replayed(dir, s, &st);
		ck_assert_uint_eq(s->nseries, 1);
		ck_assert_uint_eq(s->nsamples, 10); /* the first batch only */
		ck_assert_uint_eq(st.bytes_cut, end - (last - 2 * rec));
		wal_close(w);
		ck_assert_uint_eq(file_size(p), last - 2 * rec);
	}
	free(s);
	rm_tree(dir);
}
END_TEST

#define GC_THREADS 4
#define GC_COMMITS 100

/* One group-commit writer. */
struct gc_arg {
	struct wal *w; /* shared log */
	int idx;       /* thread number */
	int errors;    /* failed writes or syncs */
};

static void *gc_writer(void *p)
{
	struct gc_arg *a = p;
	struct buf b = BUF_INIT;

	for (int i = 0; i < GC_COMMITS; i++) {
		struct wal_sample x = { (uint32_t)a->idx, i, bits(i) };
		uint64_t lsn;

		buf_setlen(&b, 0);
		wal_enc_samples(&b, &x, 1);
		if (wal_write(a->w, b.data, b.len, NULL, 0, &lsn) < 0 || wal_sync(a->w, lsn) < 0)
			a->errors++;
	}
	buf_release(&b);
	return NULL;
}

START_TEST(test_wal_group_commit)
{
	struct gc_arg args[GC_THREADS];
	pthread_t th[GC_THREADS];
	struct wal_replay_stats st;
	struct wal_stats ws;
	struct seen *s = calloc(1, sizeof(*s));
	char dir[256];
	struct wal *w;
	int per[GC_THREADS] = { 0 };

	tmp_dir(dir, sizeof(dir));
	w = open_replayed(dir, s, &st);
	for (int i = 0; i < GC_THREADS; i++) {
		args[i].w = w;
		args[i].idx = i;
		args[i].errors = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, gc_writer, &args[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].errors, 0);
	}
	wal_stats(w, &ws);
	ck_assert_uint_eq(ws.writes, GC_THREADS * GC_COMMITS);
	/* every commit returned after a sync covering it, and they shared */
	ck_assert_uint_ge(ws.fsyncs, 1);
	ck_assert_msg(ws.fsyncs < GC_THREADS * GC_COMMITS, "%llu fsyncs for %d commits",
		      (unsigned long long)ws.fsyncs, GC_THREADS * GC_COMMITS);
	fprintf(stderr, "group commit: %llu fsyncs for %d commits from %d threads\n",
		(unsigned long long)ws.fsyncs, GC_THREADS * GC_COMMITS, GC_THREADS);
	wal_close(w);
	w = open_replayed(dir, s, &st);
	ck_assert_uint_eq(s->nsamples, GC_THREADS * GC_COMMITS);
	/* each writer's samples in its own order */
	for (size_t i = 0; i < s->nsamples; i++) {
		ck_assert_int_eq(s->s[i].t, per[s->s[i].ref]);
		per[s->s[i].ref]++;
	}
	wal_close(w);
	free(s);
	rm_tree(dir);
}
END_TEST

static bool keep_odd(void *ctx, uint32_t ref)
{
	(void)ctx;
	return ref & 1;
}

START_TEST(test_wal_checkpoint)
{
	struct wal_replay_stats st;
	struct buf b = BUF_INIT;
	struct seen *s = calloc(1, sizeof(*s));
	char dir[256], p[300];
	struct wal *w;
	uint32_t seg;

	tmp_dir(dir, sizeof(dir));
	w = open_replayed(dir, s, &st);
	for (uint32_t r = 1; r <= 4; r++) {
		char name[8];
		struct label l[1] = { { "__name__", name } };
		struct labels ls = { l, 1 };
		struct wal_sample x[2] = { { r, 100, bits(1) }, { r, 300, bits(3) } };
		struct wal_tombstone t[2] = { { r, 0, 150 }, { r, 250, 400 } };

		snprintf(name, sizeof(name), "s%u", r);
		wal_enc_series(&b, r, &ls);
		wal_enc_samples(&b, x, 2);
		wal_enc_tombstones(&b, t, 2);
		put(w, &b, &r, 1);
	}
	ck_assert_int_eq(wal_cut(w, &seg), 0);
	ck_assert_uint_eq(seg, 0);
	/* written after the cut: stays in segment 1, untouched */
	{
		struct wal_sample x = { 2, 50, bits(9) };

		wal_enc_samples(&b, &x, 1);
		put(w, &b, NULL, 0);
	}
	ck_assert_int_eq(wal_checkpoint(w, 1, 0, NULL, NULL), TS_ERR_INVALID); /* open one */
	ck_assert_int_eq(wal_checkpoint(w, seg, 200, keep_odd, NULL), 0);
	seg_path(p, sizeof(p), dir, 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	wal_close(w);

	w = open_replayed(dir, s, &st);
	ck_assert_uint_eq(s->nseries, 2); /* refs 1 and 3 */
	ck_assert_uint_eq(s->refs[0], 1);
	ck_assert_uint_eq(s->refs[1], 3);
	ck_assert_uint_eq(s->nsamples, 3); /* t=300 of 1 and 3, then the late one */
	ck_assert_int_eq(s->s[0].t, 300);
	ck_assert_int_eq(s->s[2].t, 50);
	ck_assert_uint_eq(s->ntomb, 4); /* both ranges of 1 and 3, older ones too */
	ck_assert_int_eq(s->t[0].mint, 0);
	ck_assert_int_eq(s->t[1].mint, 250);
	ck_assert_uint_eq(s->t[2].ref, 3);
	wal_close(w);
	buf_release(&b);
	free(s);
	rm_tree(dir);
}
END_TEST

/* Samples of series name in [mint, maxt] through a fresh querier. */
static size_t read_all(struct db *db, const char *name, int64_t *t, double *v, size_t cap)
{
	struct querier *q = db_querier(db);
	struct series_set set;
	struct matcher m;
	size_t n = 0;

	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "__name__", name, NULL), 0);
	ck_assert_int_eq(querier_select(q, &m, 1, INT64_MIN, INT64_MAX, true, 0, &set, NULL), 0);
	if (set.n) {
		ck_assert_uint_eq(set.n, 1);
		n = set.s[0].n;
		ck_assert_uint_le(n, cap);
		memcpy(t, set.s[0].t, n * sizeof(*t));
		memcpy(v, set.s[0].v, n * sizeof(*v));
	}
	series_set_release(&set);
	matcher_release(&m);
	querier_free(q);
	return n;
}

/* Samples of series name decoded from querier_select_chunks (remote_read's
 * chunk path), in chunk order. */
static size_t read_chunks(struct db *db, const char *name, int64_t *t, double *v, size_t cap)
{
	struct querier *q = db_querier(db);
	struct chunk_set set;
	struct matcher m;
	size_t n = 0;

	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "__name__", name, NULL), 0);
	ck_assert_int_eq(querier_select_chunks(q, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
	ck_assert_uint_le(set.n, 1);
	for (size_t s = 0; s < set.n; s++)
		for (size_t c = 0; c < set.s[s].n; c++) {
			struct xor_iter it;

			xor_iter_init(&it, set.s[s].c[c].data, set.s[s].c[c].len);
			while (n < cap && xor_iter_next(&it, &t[n], &v[n]) == 1)
				n++;
		}
	chunk_set_release(&set);
	matcher_release(&m);
	querier_free(q);
	return n;
}

static int add1(struct db *db, const char *name, int64_t t, double v)
{
	struct label l[1] = { { "__name__", name } };
	struct labels ls = { l, 1 };
	struct appender *a = db_appender(db);
	int rc = appender_add(a, &ls, NULL, t, v);

	if (rc < 0) {
		appender_rollback(a);
		return rc;
	}
	return appender_commit(a);
}

START_TEST(test_wal_db_restart_with_out_of_order)
{
	char dir[256];
	struct ts_error err;
	struct db *db;
	int64_t t[600];
	double v[600];
	size_t n;

	tmp_dir(dir, sizeof(dir));
	db = db_open(dir, NULL, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	/* in order, then backwards (out of order), then interleaved */
	for (int i = 100; i < 300; i++)
		ck_assert_int_eq(add1(db, "m", i * 10, i), 0);
	for (int i = 99; i >= 0; i--)
		ck_assert_int_eq(add1(db, "m", i * 10, i), 0);
	for (int i = 0; i < 300; i++)
		ck_assert_int_eq(add1(db, "m", i * 10 + 5, -i), 0);
	/* exact repeat: accepted; other value: rejected */
	ck_assert_int_eq(add1(db, "m", 505, -50), 0);
	ck_assert_int_eq(add1(db, "m", 505, 1), TS_ERR_DUPLICATE);
	ck_assert_int_eq(add1(db, "m", 10, 7), TS_ERR_DUPLICATE);
	/* backfill of a new series, newest first */
	for (int i = 50; i > 0; i--)
		ck_assert_int_eq(add1(db, "old", (int64_t)i * 1000 - 86400000LL * 3, i), 0);
	n = read_all(db, "m", t, v, 600);
	ck_assert_uint_eq(n, 600);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(t[i], (int64_t)i * 5);
		ck_assert(v[i] == (i % 2 ? -(double)(i / 2) : (double)(i / 2)));
	}
	/* remote_read's chunk path sees the merged samples too */
	n = read_chunks(db, "m", t, v, 600);
	ck_assert_uint_eq(n, 600);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(t[i], (int64_t)i * 5);
	db_close(db);

	db = db_open(dir, NULL, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	n = read_all(db, "m", t, v, 600);
	ck_assert_uint_eq(n, 600);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(t[i], (int64_t)i * 5);
		ck_assert(v[i] == (i % 2 ? -(double)(i / 2) : (double)(i / 2)));
	}
	n = read_all(db, "old", t, v, 600);
	ck_assert_uint_eq(n, 50);
	ck_assert_int_eq(t[0], 1000 - 86400000LL * 3);
	/* the duplicate rules hold after replay, and new series get new ids */
	ck_assert_int_eq(add1(db, "m", 505, 1), TS_ERR_DUPLICATE);
	ck_assert_int_eq(add1(db, "new", 1, 1), 0);
	db_close(db);

	db = db_open(dir, NULL, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	ck_assert_uint_eq(read_all(db, "new", t, v, 600), 1);
	ck_assert_uint_eq(read_all(db, "m", t, v, 600), 600);
	ck_assert_uint_eq(read_all(db, "old", t, v, 600), 50);
	db_close(db);
	rm_tree(dir);
}
END_TEST

START_TEST(test_wal_tombstones_hide_and_survive)
{
	char dir[256];
	struct ts_error err;
	struct db *db;
	struct matcher m;
	int64_t t[100];
	double v[100];

	tmp_dir(dir, sizeof(dir));
	db = db_open(dir, NULL, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(add1(db, "keep", i * 10, i), 0);
		ck_assert_int_eq(add1(db, "gone", i * 10, i), 0);
	}
	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "__name__", "keep", NULL), 0);
	ck_assert_int_eq(db_delete_series(db, &m, 1, 100, 199, &err), 0);
	ck_assert_int_eq(db_delete_series(db, &m, 1, 150, 250, &err), 0); /* overlaps */
	matcher_release(&m);
	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "__name__", "gone", NULL), 0);
	ck_assert_int_eq(db_delete_series(db, &m, 1, INT64_MIN, INT64_MAX, &err), 0);
	matcher_release(&m);
	for (int round = 0; round < 2; round++) {
		struct querier *q = db_querier(db);
		struct strvec sv;
		size_t n = read_all(db, "keep", t, v, 100);

		ck_assert_uint_eq(n, 50 - 16); /* 100..250 held 16 samples */
		ck_assert_int_eq(t[9], 90);
		ck_assert_int_eq(t[10], 260);
		ck_assert_uint_eq(read_all(db, "gone", t, v, 100), 0);
		ck_assert_int_eq(querier_label_values(q, "__name__", NULL, 0, INT64_MIN, INT64_MAX,
						      0, &sv, &err), 0);
		ck_assert_uint_eq(sv.n, 1);
		ck_assert_str_eq(sv.v[0], "keep");
		strvec_release(&sv);
		querier_free(q);
		/* written again into the deleted range: hidden too (as Prometheus's
		 * head does until compaction) - and after a restart */
		db_close(db);
		db = db_open(dir, NULL, &err);
		ck_assert_msg(db != NULL, "%s", err.msg);
	}
	db_close(db);
	rm_tree(dir);
}
END_TEST

static Suite *wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_wal_crc32c);
	tcase_add_test(tc, test_wal_record_framing);
	tcase_add_test(tc, test_wal_replay_equals_written);
	tcase_add_test(tc, test_wal_torn_tail_every_offset);
	tcase_add_test(tc, test_wal_corrupt_middle_record);
	tcase_add_test(tc, test_wal_group_commit);
	tcase_add_test(tc, test_wal_checkpoint);
	tcase_add_test(tc, test_wal_db_restart_with_out_of_order);
	tcase_add_test(tc, test_wal_tombstones_hide_and_survive);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int failed;
	SRunner *sr = srunner_create(wal_suite());

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
