/*
 * check_block.c - on-disk blocks: write/read round trip, postings equal
 * to the head index's, CRC checks per section, tmp-dir cleanup and
 * corrupt blocks moved aside by the block store.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/compact.h"
#include "tsdb/index.h"
#include "tsdb/labels.h"
#include "tsdb/matcher.h"
#include "util/crc32c.h"

#define NSERIES 300

/* One generated series. */
struct gen {
	struct label lv[4]; /* labels, sorted */
	struct labels ls;   /* points at lv */
	int64_t *t;         /* timestamps */
	double *v;          /* values */
	size_t n;           /* samples */
};

static struct symtab *syms;
static struct gen gens[NSERIES];
static size_t ngens;

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *intern(const char *s)
{
	return symtab_intern(syms, s, strlen(s));
}

static int cmp_gen(const void *a, const void *b)
{
	return labels_cmp(&((const struct gen *)a)->ls, &((const struct gen *)b)->ls);
}

/* NSERIES distinct series of up to 400 samples (some with none). */
static void make_series(void)
{
	static const char *jobs[] = { "api", "db", "web", "cache" };
	char buf[64];

	syms = symtab_new();
	ngens = 0;
	for (size_t i = 0; i < NSERIES; i++) {
		struct gen *g = &gens[ngens++];
		int64_t t = 1700000000000LL + (int64_t)(rnd() % 100000);

		snprintf(buf, sizeof(buf), "metric_%zu", i % 17);
		g->lv[0].name = intern("__name__");
		g->lv[0].value = intern(buf);
		snprintf(buf, sizeof(buf), "host-%zu", i);
		g->lv[1].name = intern("instance");
		g->lv[1].value = intern(buf);
		g->lv[2].name = intern("job");
		g->lv[2].value = intern(jobs[i % 4]);
		g->ls.v = g->lv;
		g->ls.n = 3;
		if (i % 5 == 0) {
			g->lv[3].name = intern("zone");
			g->lv[3].value = intern(i % 2 ? "eu" : "us");
			g->ls.n = 4;
		}
		g->n = i % 50 == 7 ? 0 : rnd() % 400;
		g->t = malloc((g->n + 1) * sizeof(*g->t));
		g->v = malloc((g->n + 1) * sizeof(*g->v));
		for (size_t k = 0; k < g->n; k++) {
			uint64_t bits;

			t += 1 + (int64_t)(rnd() % 30000);
			g->t[k] = t;
			switch (rnd() % 4) {
			case 0:
				g->v[k] = (double)(rnd() % 1000) / 10.0;
				break;
			case 1:
				bits = 0x7ff0000000000002ULL; /* stale marker */
				memcpy(&g->v[k], &bits, sizeof(bits));
				break;
			default:
				g->v[k] = (double)k * 1.5;
			}
		}
	}
	qsort(gens, ngens, sizeof(gens[0]), cmp_gen);
	for (size_t i = 0; i < ngens; i++)
		gens[i].ls.v = gens[i].lv; /* the sort moved the arrays */
}

static void free_series(void)
{
	for (size_t i = 0; i < ngens; i++) {
		free(gens[i].t);
		free(gens[i].v);
	}
	symtab_free(syms);
	syms = NULL;
}

static void tmp_dir(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, cap, "%s/varve-block-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(out));
}

/* Write gens as a block into dir; returns its meta. */
static struct block_meta write_block(const char *dir)
{
	struct ts_error err;
	struct block_meta meta;
	struct block_writer *w = block_writer_new(dir, &err);

	ck_assert_msg(w != NULL, "writer: %s", err.msg);
	for (size_t i = 0; i < ngens; i++)
		ck_assert_int_eq(block_writer_add(w, &gens[i].ls, gens[i].t, gens[i].v, gens[i].n), 0);
	memset(&meta, 0, sizeof(meta));
	meta.min_time = 1700000000000LL;
	meta.max_time = 1700000000001LL;
	ck_assert_msg(block_writer_commit(w, &meta, &err) == 0, "commit: %s", err.msg);
	return meta;
}

static struct block *open_block(const char *dir, const char *id)
{
	char path[600];
	struct ts_error err;
	struct block *b;

	snprintf(path, sizeof(path), "%s/%s", dir, id);
	b = block_open(path, &err);
	ck_assert_msg(b != NULL, "open: %s", err.msg);
	return b;
}

START_TEST(test_block_roundtrip)
{
	char dir[256];
	struct block_meta meta;
	struct block *b;
	struct postings p = POSTINGS_INIT;
	size_t k = 0, nsamples = 0;

	make_series();
	tmp_dir(dir, sizeof(dir));
	meta = write_block(dir);
	b = open_block(dir, meta.id);
	ck_assert(block_is_id(meta.id));
	ck_assert_int_eq(block_select(b, NULL, 0, &p), 0);
	for (size_t i = 0; i < ngens; i++) {
		struct labels ls;
		int64_t *t;
		double *v;
		long n;

		if (gens[i].n == 0)
			continue;
		nsamples += gens[i].n;
		ck_assert_uint_lt(k, p.n);
		ck_assert_int_eq(block_series_labels(b, p.ids[k], NULL, &ls), 0);
		ck_assert_msg(labels_equal(&ls, &gens[i].ls), "series %zu labels differ", i);
		free(ls.v);
		n = block_series_samples(b, p.ids[k], INT64_MIN, INT64_MAX, &t, &v);
		ck_assert_int_eq(n, (long)gens[i].n);
		ck_assert(memcmp(t, gens[i].t, (size_t)n * sizeof(*t)) == 0);
		ck_assert(memcmp(v, gens[i].v, (size_t)n * sizeof(*v)) == 0);
		free(t);
		free(v);
		/* a sub-range: exactly the samples inside */
		n = block_series_samples(b, p.ids[k], gens[i].t[gens[i].n / 3],
					 gens[i].t[gens[i].n / 2], &t, &v);
		ck_assert_int_eq(n, (long)(gens[i].n / 2 - gens[i].n / 3 + 1));
		ck_assert(t[0] == gens[i].t[gens[i].n / 3]);
		free(t);
		free(v);
		ck_assert_int_eq(block_series_samples(b, p.ids[k], gens[i].t[0] - 10,
						      gens[i].t[0] - 1, NULL, NULL), 0);
		ck_assert_int_eq(block_series_samples(b, p.ids[k], gens[i].t[0],
						      gens[i].t[0], NULL, NULL), 1);
		k++;
	}
	ck_assert_uint_eq(k, p.n);
	ck_assert_uint_eq(block_meta(b)->num_series, k);
	ck_assert_uint_eq(block_meta(b)->num_samples, nsamples);
	ck_assert_int_eq(block_meta(b)->level, 1);
	ck_assert_uint_eq(block_meta(b)->nsources, 1);
	postings_release(&p);
	block_mark_deleted(b);
	block_unref(b);
	ck_assert_int_eq(rmdir(dir), 0); /* the block directory went with it */
	free_series();
}
END_TEST

/* Labels of the ids in p (head: by series number in gens; block: read). */
static void check_same(struct block *b, const struct postings *hp, const struct postings *bp,
		       const char *what)
{
	ck_assert_msg(hp->n == bp->n, "%s: head %zu series, block %zu", what, hp->n, bp->n);
	for (size_t i = 0; i < hp->n; i++) {
		struct labels ls;

		ck_assert_int_eq(block_series_labels(b, bp->ids[i], NULL, &ls), 0);
		ck_assert_msg(labels_equal(&ls, &gens[hp->ids[i]].ls), "%s: series %zu differs",
			      what, i);
		free(ls.v);
	}
}

START_TEST(test_block_postings_equal_head)
{
	static const struct {
		enum matcher_type type;
		const char *name, *value;
	} cases[] = {
		{ MATCHER_EQ, "job", "api" },       { MATCHER_EQ, "job", "nope" },
		{ MATCHER_NEQ, "job", "db" },       { MATCHER_RE, "instance", "host-1.*" },
		{ MATCHER_NRE, "zone", "eu|us" },   { MATCHER_EQ, "zone", "" },
		{ MATCHER_NEQ, "zone", "" },        { MATCHER_RE, "__name__", "metric_(1|3)" },
		{ MATCHER_RE, "missing", ".*" },    { MATCHER_EQ, "missing", "x" },
	};
	char dir[256];
	struct block_meta meta;
	struct block *b;
	struct index *ix = index_new();
	const char **hn, **bn;
	size_t nh, nbn;

	make_series();
	/* the head-equivalent index holds only series with samples, by position */
	for (size_t i = 0; i < ngens; i++)
		if (gens[i].n)
			ck_assert_int_eq(index_add(ix, (uint32_t)i, &gens[i].ls), 0);
	tmp_dir(dir, sizeof(dir));
	meta = write_block(dir);
	b = open_block(dir, meta.id);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct matcher m[2];
		struct postings hp = POSTINGS_INIT, bp = POSTINGS_INIT;
		struct ts_error err;

		ck_assert_int_eq(matcher_init(&m[0], cases[c].type, cases[c].name, cases[c].value,
					      &err), 0);
		ck_assert_int_eq(matcher_init(&m[1], MATCHER_NEQ, "job", "web", &err), 0);
		for (size_t k = 1; k <= 2; k++) {
			ck_assert_int_eq(index_select(ix, m, k, &hp), 0);
			ck_assert_int_eq(block_select(b, m, k, &bp), 0);
			check_same(b, &hp, &bp, cases[c].value);
		}
		postings_release(&hp);
		postings_release(&bp);
		matcher_release(&m[0]);
		matcher_release(&m[1]);
	}
	ck_assert_int_eq(index_label_names(ix, &hn, &nh), 0);
	ck_assert_int_eq(block_label_names(b, &bn, &nbn), 0);
	ck_assert_uint_eq(nh, nbn);
	for (size_t i = 0; i < nh; i++)
		ck_assert_str_eq(hn[i], bn[i]);
	free(hn);
	free(bn);
	ck_assert_int_eq(index_label_values(ix, "instance", &hn, &nh), 0);
	ck_assert_int_eq(block_label_values(b, "instance", &bn, &nbn), 0);
	ck_assert_uint_eq(nh, nbn);
	for (size_t i = 0; i < nh; i++)
		ck_assert_str_eq(hn[i], bn[i]);
	free(hn);
	free(bn);
	ck_assert_int_eq(block_label_values(b, "missing", &bn, &nbn), 0);
	ck_assert_uint_eq(nbn, 0);
	index_free(ix);
	block_mark_deleted(b);
	block_unref(b);
	rmdir(dir);
	free_series();
}
END_TEST

static void flip(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static long file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (long)st.st_size;
}

static uint64_t rd64(const char *path, long off)
{
	int fd = open(path, O_RDONLY);
	unsigned char b[8];
	uint64_t v = 0;

	ck_assert_int_eq(pread(fd, b, 8, off), 8);
	close(fd);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

START_TEST(test_block_crc_each_section)
{
	char dir[256], path[600], ipath[700], cpath[700];
	struct block_meta meta;
	long isz, offs[8];
	size_t noffs = 0;

	make_series();
	tmp_dir(dir, sizeof(dir));
	meta = write_block(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, meta.id);
	snprintf(ipath, sizeof(ipath), "%s/index", path);
	snprintf(cpath, sizeof(cpath), "%s/chunks/000001", path);
	isz = file_size(ipath);
	/* a byte inside each of the four sections, the TOC and the header */
	for (int s = 0; s < 4; s++) {
		uint64_t so = rd64(ipath, isz - 40 + 8 * s);
		uint64_t next = s < 3 ? rd64(ipath, isz - 40 + 8 * (s + 1)) : (uint64_t)(isz - 40);

		offs[noffs++] = (long)(so + (next - so) / 2);
	}
	offs[noffs++] = isz - 30;
	offs[noffs++] = 2;
	for (size_t i = 0; i < noffs; i++) {
		struct ts_error err;
		struct block *b;

		flip(ipath, offs[i]);
		b = block_open(path, &err);
		ck_assert_msg(b == NULL, "flip at %ld of the index went unnoticed", offs[i]);
		ck_assert_int_eq(err.code, TS_ERR_CORRUPT);
		flip(ipath, offs[i]);
		b = block_open(path, &err);
		ck_assert_msg(b != NULL, "restored: %s", err.msg);
		block_unref(b);
	}
	/* chunk segment: the header, the middle, the last byte */
	{
		long csz = file_size(cpath), co[3] = { 1, csz / 2, csz - 1 };

		for (int i = 0; i < 3; i++) {
			struct ts_error err;

			flip(cpath, co[i]);
			ck_assert_msg(block_open(path, &err) == NULL, "flip at %ld of chunks", co[i]);
			ck_assert_int_eq(err.code, TS_ERR_CORRUPT);
			flip(cpath, co[i]);
		}
		/* truncated segment */
		ck_assert_int_eq(truncate(cpath, csz - 3), 0);
		{
			struct ts_error err;

			ck_assert(block_open(path, &err) == NULL);
		}
	}
	block_rm_rf(dir);
	free_series();
}
END_TEST

static bool exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

START_TEST(test_block_store_cleanup)
{
	char dir[256], p[800], tmpb[700];
	struct block_meta good, bad;
	struct bstore *bs;
	struct bsnap snap;
	struct ts_error err;
	char fake_id[BLOCK_ID_LEN + 1];

	make_series();
	tmp_dir(dir, sizeof(dir));
	good = write_block(dir);
	bad = write_block(dir);
	/* corrupt the second block's postings */
	snprintf(p, sizeof(p), "%s/%s/index", dir, bad.id);
	flip(p, file_size(p) - 48);
	/* a half-written block */
	block_new_id(fake_id);
	snprintf(tmpb, sizeof(tmpb), "%s/%s.tmp", dir, fake_id);
	ck_assert_int_eq(mkdir(tmpb, 0755), 0);
	snprintf(p, sizeof(p), "%s/index", tmpb);
	fclose(fopen(p, "w"));

	bs = bstore_open(dir, NULL, &err);
	ck_assert_msg(bs != NULL, "%s", err.msg);
	ck_assert(!exists(tmpb));
	snprintf(p, sizeof(p), "%s/corrupted/%s/meta.json", dir, bad.id);
	ck_assert_msg(exists(p), "corrupt block not moved aside");
	snprintf(p, sizeof(p), "%s/%s", dir, bad.id);
	ck_assert(!exists(p));
	ck_assert_int_eq(bstore_snapshot(bs, &snap), 0);
	ck_assert_uint_eq(snap.n, 1);
	ck_assert_str_eq(block_meta(snap.v[0])->id, good.id);
	bsnap_release(&snap);
	bstore_free(bs);
	block_rm_rf(dir);
	free_series();
}
END_TEST

START_TEST(test_block_crc32c_known)
{
	/* the check value of CRC-32C */
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	ck_assert(block_is_id("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
	ck_assert(!block_is_id("01ARZ3NDEKTSV4RRFFQ69G5FA"));
	ck_assert(!block_is_id("01ARZ3NDEKTSV4RRFFQ69G5FAU")); /* U is not Crockford */
}
END_TEST

Suite *block_suite(void);

Suite *block_suite(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("block");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_block_crc32c_known);
	tcase_add_test(tc, test_block_roundtrip);
	tcase_add_test(tc, test_block_postings_equal_head);
	tcase_add_test(tc, test_block_crc_each_section);
	tcase_add_test(tc, test_block_store_cleanup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(block_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
