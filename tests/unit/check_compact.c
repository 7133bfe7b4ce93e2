/*
 * check_compact.c - the block store: compaction keeps every sample once,
 * retention by time and size drops the right blocks, the db persists its
 * head into blocks and reads them back merged with the head.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/chunks_disk.h"
#include "tsdb/compact.h"
#include "tsdb/db.h"

Suite *compact_suite(void);

static void tmp_dir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, cap, "%s/varve-compact-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(out));
}

/* Number of block directories in dir. */
static size_t count_blocks(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (block_is_id(e->d_name))
			n++;
	closedir(d);
	return n;
}

static void label_set(struct label *lv, struct labels *ls, char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "s%02d", i);
	lv[0].name = "__name__";
	lv[0].value = "m";
	lv[1].name = "series";
	lv[1].value = buf;
	ls->v = lv;
	ls->n = 2;
}

/*
 * Write a level-1 block over [mint, maxt) holding series s00..s(ns-1)
 * with samples at mint, mint+step, ... < maxt; value = t + vadd.
 */
static void write_range(const char *dir, int64_t mint, int64_t maxt, int64_t step, int ns,
			double vadd)
{
	struct ts_error err;
	struct block_writer *w = block_writer_new(dir, &err);
	struct block_meta meta;
	size_t cap = (size_t)((maxt - mint) / step + 1);
	int64_t *t = malloc(cap * sizeof(*t));
	double *v = malloc(cap * sizeof(*v));

	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < ns; i++) {
		struct label lv[2];
		struct labels ls;
		char buf[16];
		size_t n = 0;

		label_set(lv, &ls, buf, sizeof(buf), i);
		for (int64_t x = mint + i % 3; x < maxt; x += step) {
			t[n] = x;
			v[n++] = (double)x + vadd;
		}
		ck_assert_int_eq(block_writer_add(w, &ls, t, v, n), 0);
	}
	memset(&meta, 0, sizeof(meta));
	meta.min_time = mint;
	meta.max_time = maxt;
	meta.level = 1;
	ck_assert_msg(block_writer_commit(w, &meta, &err) == 0, "%s", err.msg);
	free(t);
	free(v);
}

START_TEST(test_compact_merge_keeps_every_sample_once)
{
	char dir[256];
	struct bstore_opts o = { .block_range = 1000, .retention_ms = 100000000 };
	struct ts_error err;
	struct bstore *bs;
	struct bsnap s;
	struct postings p = POSTINGS_INIT;
	int rc, rounds = 0;

	tmp_dir(dir, sizeof(dir));
	write_range(dir, 0, 1000, 7, 6, 0);
	write_range(dir, 1000, 2000, 7, 8, 0);
	write_range(dir, 2000, 3000, 7, 5, 0);
	/* late data persisted again over [1000, 2000): every 7th ms again (exact
	 * duplicates) plus extra series */
	write_range(dir, 1000, 2000, 7, 10, 0);
	/* the next window: not complete, must stay */
	write_range(dir, 3000, 4000, 7, 3, 0);
	bs = bstore_open(dir, &o, &err);
	ck_assert_ptr_nonnull(bs);
	while ((rc = bstore_compact(bs, 3500, &err)) == 1)
		rounds++;
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_int_eq(rounds, 2); /* the overlap, then the 3000 ms window */
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(block_meta(s.v[0])->min_time, 0);
	ck_assert_int_eq(block_meta(s.v[0])->max_time, 3000);
	ck_assert_int_ge(block_meta(s.v[0])->level, 2);
	ck_assert_uint_eq(block_meta(s.v[0])->nsources, 4);
	ck_assert_int_eq(block_select(s.v[0], NULL, 0, &p), 0);
	ck_assert_uint_eq(p.n, 10);
	for (size_t i = 0; i < p.n; i++) {
		int64_t *t;
		double *v;
		long n = block_series_samples(s.v[0], p.ids[i], INT64_MIN, INT64_MAX, &t, &v);
		struct labels ls;
		int idx;
		size_t k = 0;

		ck_assert_int_eq(block_series_labels(s.v[0], p.ids[i], NULL, &ls), 0);
		idx = atoi(labels_get(&ls, "series") + 1);
		free(ls.v);
		/* expected: the ranges this series was written in */
		for (int64_t lo = 0; lo < 3000; lo += 1000) {
			int ns = lo == 0 ? 6 : lo == 1000 ? 10 : 5;

			if (idx >= ns)
				continue;
			for (int64_t x = lo + idx % 3; x < lo + 1000; x += 7) {
				ck_assert_msg((size_t)n > k, "series %d: too few samples", idx);
				ck_assert_int_eq(t[k], x);
				ck_assert(v[k] == (double)x);
				k++;
			}
		}
		ck_assert_int_eq(n, (long)k);
		free(t);
		free(v);
	}
	postings_release(&p);
	bsnap_release(&s);
	ck_assert_uint_eq(count_blocks(dir), 2); /* inputs removed once unreferenced */
	bstore_free(bs);

	/* reopening finds the same two blocks */
	bs = bstore_open(dir, &o, &err);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	bsnap_release(&s);
	bstore_free(bs);
	block_rm_rf(dir);
}
END_TEST

START_TEST(test_compact_retention_drops_the_right_blocks)
{
	char dir[256];
	struct bstore_opts o = { .block_range = 1000, .retention_ms = 1500 };
	struct ts_error err;
	struct bstore *bs;
	struct bsnap s;
	uint64_t bytes;
	size_t nb;

	tmp_dir(dir, sizeof(dir));
	write_range(dir, 0, 1000, 10, 4, 0);
	write_range(dir, 1000, 2000, 10, 4, 0);
	write_range(dir, 2000, 3000, 10, 4, 0);
	write_range(dir, 3000, 4000, 10, 4, 0);
	bs = bstore_open(dir, &o, &err);
	ck_assert_ptr_nonnull(bs);
	/* newest 3200: blocks ending at or before 1700 go */
	ck_assert_uint_eq(bstore_retention(bs, 3200), 1);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_int_eq(block_meta(s.v[0])->min_time, 1000);
	bsnap_release(&s);
	ck_assert_uint_eq(count_blocks(dir), 3);
	bstore_free(bs);

	/* by size: room for two blocks keeps the newest two */
	o.retention_ms = 100000000;
	bs = bstore_open(dir, &o, &err);
	bstore_stats(bs, &nb, &bytes, NULL);
	ck_assert_uint_eq(nb, 3);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	o.retention_bytes = bytes - block_size(s.v[0]);
	bsnap_release(&s);
	bstore_free(bs);
	bs = bstore_open(dir, &o, &err);
	ck_assert_uint_eq(bstore_retention(bs, 4000), 1);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(block_meta(s.v[0])->min_time, 2000);
	ck_assert_int_eq(block_meta(s.v[1])->min_time, 3000);
	bsnap_release(&s);
	bstore_free(bs);
	ck_assert_uint_eq(count_blocks(dir), 2);
	block_rm_rf(dir);
}
END_TEST

START_TEST(test_compact_samples_merge)
{
	int64_t ta[] = { 1, 3, 5 }, tb[] = { 2, 3, 6 }, to[6];
	double va[] = { 10, 30, 50 }, vb[] = { 20, 31, 60 }, vo[6];
	size_t n = samples_merge(ta, va, 3, tb, vb, 3, to, vo);

	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(to[2], 3);
	ck_assert(vo[2] == 30); /* a wins */
	ck_assert_int_eq(to[4], 6);
}
END_TEST

/* Append every sample of 20 series at t = 0, 10, ..., < end. */
static void fill(struct db *db, int64_t start, int64_t end)
{
	struct appender *a = db_appender(db);

	for (int i = 0; i < 20; i++) {
		struct label lv[2];
		struct labels ls;
		char buf[16];
		uint64_t ref = 0;

		label_set(lv, &ls, buf, sizeof(buf), i);
		for (int64_t t = start; t < end; t += 10)
			ck_assert_int_eq(appender_add(a, &ls, &ref, t, (double)(t * 2 + i)), 0);
	}
	ck_assert_int_eq(appender_commit(a), 0);
}

/* Every series has exactly the samples of [mint, maxt] on the 10 ms grid. */
static void check_all(struct db *db, int64_t mint, int64_t maxt, int64_t data_end)
{
	struct querier *q = db_querier(db);
	struct series_set set;
	struct ts_error err;
	struct strvec sv;

	ck_assert_int_eq(querier_select(q, NULL, 0, mint, maxt, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 20);
	for (size_t i = 0; i < set.n; i++) {
		size_t k = 0;
		int idx = atoi(labels_get(&set.s[i].labels, "series") + 1);

		ck_assert_int_eq(idx, (int)i);
		for (int64_t t = (mint + 9) / 10 * 10; t <= maxt && t < data_end; t += 10) {
			ck_assert_msg(k < set.s[i].n, "series %zu: missing t=%lld", i, (long long)t);
			ck_assert_int_eq(set.s[i].t[k], t);
			ck_assert(set.s[i].v[k] == (double)(t * 2 + idx));
			k++;
		}
		ck_assert_uint_eq(set.s[i].n, k);
	}
	series_set_release(&set);
	ck_assert_int_eq(querier_select(q, NULL, 0, mint, maxt, false, 3, &set, &err), 0);
	ck_assert_uint_eq(set.n, 3);
	series_set_release(&set);
	ck_assert_int_eq(querier_label_values(q, "series", NULL, 0, mint, maxt, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 20);
	ck_assert_str_eq(sv.v[0], "s00");
	ck_assert_str_eq(sv.v[19], "s19");
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_names(q, NULL, 0, mint, maxt, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 2);
	strvec_release(&sv);
	querier_free(q);
}

START_TEST(test_compact_db_persists_head)
{
	char dir[256];
	struct db_opts o = { .block_duration_ms = 1000 };
	struct ts_error err;
	struct db_stats st;
	struct db *db;
	uint64_t chunks_before;

	tmp_dir(dir, sizeof(dir));
	db = db_open(dir, &o, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	fill(db, 0, 4000);
	fill(db, 4000, 10000);
	db_stats(db, &st);
	chunks_before = st.head_chunks;
	db_maintain(db);
	db_stats(db, &st);
	ck_assert_uint_lt(st.head_chunks, chunks_before);
	ck_assert_uint_ge(count_blocks(dir), 1);
	check_all(db, 0, 20000, 10000);
	check_all(db, 995, 3005, 10000);
	check_all(db, 8000, 9999, 10000);
	db_close(db);

	/* what went into blocks survives a restart */
	db = db_open(dir, &o, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	check_all(db, 0, 7999, 10000);
	db_close(db);
	block_rm_rf(dir);
}
END_TEST

START_TEST(test_compact_head_chunks_in_files)
{
	char dir[256], sub[300];
	struct ts_error err;
	struct cdisk *d;
	const uint8_t *p[3];
	uint8_t big[4096];
	size_t segs, live;

	tmp_dir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/chunks_head", dir);
	d = cdisk_open(sub, &err);
	ck_assert_ptr_nonnull(d);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	p[0] = cdisk_put(d, big, 100);
	p[1] = cdisk_put(d, big + 100, 200);
	ck_assert_ptr_nonnull(p[0]);
	ck_assert_ptr_nonnull(p[1]);
	ck_assert(memcmp(p[0], big, 100) == 0);
	ck_assert(memcmp(p[1], big + 100, 200) == 0);
	ck_assert(cdisk_owns(d, p[1]));
	ck_assert(!cdisk_owns(d, big));
	cdisk_stats(d, &segs, &live);
	ck_assert_uint_eq(segs, 1);
	ck_assert_uint_eq(live, 300);
	p[2] = cdisk_put(d, big, 1);
	ck_assert_ptr_nonnull(p[2]);
	cdisk_release(d, p[0], 100);
	cdisk_release(d, p[1], 200);
	cdisk_stats(d, &segs, &live);
	ck_assert_uint_eq(live, 1);
	cdisk_drop_resident(d);
	ck_assert(memcmp(p[2], big, 1) == 0); /* faults back in */
	cdisk_free(d);
	d = cdisk_open(sub, &err); /* files of an earlier head are deleted */
	ck_assert_ptr_nonnull(d);
	cdisk_stats(d, &segs, &live);
	ck_assert_uint_eq(segs, 0);
	cdisk_free(d);
	block_rm_rf(dir);
}
END_TEST

START_TEST(test_compact_db_chunks_off_heap)
{
	char dir[256], seg[300];
	struct db_opts o = { .block_duration_ms = 100000000 };
	struct ts_error err;
	struct db_stats disk_st, mem_st;
	struct db *db, *mem;

	tmp_dir(dir, sizeof(dir));
	db = db_open(dir, &o, &err);
	ck_assert_msg(db != NULL, "%s", err.msg);
	mem = db_open(NULL, NULL, &err);
	fill(db, 0, 20000);
	fill(mem, 0, 20000);
	db_stats(db, &disk_st);
	db_stats(mem, &mem_st);
	snprintf(seg, sizeof(seg), "%s/chunks_head/000001", dir);
	ck_assert_msg(access(seg, F_OK) == 0, "no head chunk file");
	/* 20 series x 2000 samples: the closed chunks are off the heap */
	ck_assert_uint_lt(disk_st.head_bytes + 20 * 2000, mem_st.head_bytes);
	check_all(db, 0, 20000, 20000);
	db_close(mem);
	db_close(db);
	block_rm_rf(dir);
}
END_TEST

START_TEST(test_compact_delete_rewrites_blocks)
{
	char dir[256], cmd[900], saved[300];
	struct bstore_opts o = { .block_range = 1000, .retention_ms = 100000000 };
	struct ts_error err;
	struct matcher m;
	struct bstore *bs;
	struct bsnap s;
	char old_id[BLOCK_ID_LEN + 1];

	tmp_dir(dir, sizeof(dir));
	write_range(dir, 0, 1000, 10, 6, 0);
	write_range(dir, 1000, 2000, 10, 6, 0);
	bs = bstore_open(dir, &o, &err);
	ck_assert_ptr_nonnull(bs);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	memcpy(old_id, block_meta(s.v[0])->id, sizeof(old_id));
	/* keep a copy of the first block as a crash would leave it */
	snprintf(saved, sizeof(saved), "%s.saved", dir);
	snprintf(cmd, sizeof(cmd), "cp -r '%s/%s' '%s'", dir, old_id, saved);
	ck_assert_int_eq(system(cmd), 0);
	bsnap_release(&s);
	ck_assert_int_eq(matcher_init(&m, MATCHER_RE, "series", "s0[12]", &err), 0);
	ck_assert_msg(bstore_delete(bs, &m, 1, 500, 1499, &err) == 0, "%s", err.msg);
	matcher_release(&m);
	bstore_free(bs);
	ck_assert_uint_eq(count_blocks(dir), 2);
	/* the crash leftover comes back: the rewrite wins at open */
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s/%s'", saved, dir, old_id);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_uint_eq(count_blocks(dir), 3);
	bs = bstore_open(dir, &o, &err);
	ck_assert_uint_eq(count_blocks(dir), 2);
	ck_assert_int_eq(bstore_snapshot(bs, &s), 0);
	ck_assert_uint_eq(s.n, 2);
	for (size_t b = 0; b < s.n; b++) {
		struct postings p = POSTINGS_INIT;

		ck_assert_str_ne(block_meta(s.v[b])->id, old_id);
		ck_assert_int_eq(block_meta(s.v[b])->level, 1);
		ck_assert_int_eq(block_select(s.v[b], NULL, 0, &p), 0);
		ck_assert_uint_eq(p.n, 6);
		for (size_t i = 0; i < p.n; i++) {
			struct labels ls;
			int64_t *t;
			double *v;
			long n = block_series_samples(s.v[b], p.ids[i], INT64_MIN, INT64_MAX, &t, &v);
			int idx;
			long want = 0;

			ck_assert_int_eq(block_series_labels(s.v[b], p.ids[i], NULL, &ls), 0);
			idx = atoi(labels_get(&ls, "series") + 1);
			free(ls.v);
			for (int64_t x = (int64_t)b * 1000 + idx % 3; x < (int64_t)(b + 1) * 1000; x += 10)
				if (!(idx == 1 || idx == 2) || x < 500 || x > 1499)
					want++;
			ck_assert_msg(n == want, "block %zu series %d: %ld samples, want %ld", b, idx,
				      n, want);
			for (long k = 0; k < n; k++)
				ck_assert(!((idx == 1 || idx == 2) && t[k] >= 500 && t[k] <= 1499));
			free(t);
			free(v);
		}
		postings_release(&p);
	}
	bsnap_release(&s);
	bstore_free(bs);
	block_rm_rf(dir);
}
END_TEST

Suite *compact_suite(void)
{
	Suite *s = suite_create("compact");
	TCase *tc = tcase_create("compact");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_compact_samples_merge);
	tcase_add_test(tc, test_compact_merge_keeps_every_sample_once);
	tcase_add_test(tc, test_compact_retention_drops_the_right_blocks);
	tcase_add_test(tc, test_compact_db_persists_head);
	tcase_add_test(tc, test_compact_head_chunks_in_files);
	tcase_add_test(tc, test_compact_db_chunks_off_heap);
	tcase_add_test(tc, test_compact_delete_rewrites_blocks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compact_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
