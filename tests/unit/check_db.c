/* check_db.c - the storage facade: lock file, appender, querier, metadata */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/db.h"

static struct db *mem_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	ck_assert_ptr_nonnull(db);
	return db;
}

/* A temporary directory path (not created) under TMPDIR or /tmp. */
static void tmp_path(char *out, size_t cap)
{
	const char *base = getenv("TMPDIR");
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "%s/varve-db-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(out, cap, "%s/data/sub", tmpl);
}

static void rm_tree(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_db_lock_file_second_process)
{
	char dir[300], lockf[320], top[300];
	struct ts_error err;
	struct db *db;
	struct stat st;
	int pipefd[2], status;
	pid_t pid;
	char buf[TS_ERROR_MSG_MAX + 8] = { 0 };
	ssize_t got;

	tmp_path(dir, sizeof(dir));
	db = db_open(dir, NULL, &err);
	ck_assert_msg(db != NULL, "open: %s", err.msg);
	snprintf(lockf, sizeof(lockf), "%s/lock", dir);
	ck_assert_int_eq(stat(lockf, &st), 0);

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* a real second process */
		struct ts_error e2;
		struct db *d2;

		close(pipefd[0]);
		ts_error_clear(&e2);
		d2 = db_open(dir, NULL, &e2);
		if (d2) {
			(void)!write(pipefd[1], "OPENED", 6);
			_exit(1);
		}
		(void)!write(pipefd[1], &e2.code, sizeof(e2.code));
		(void)!write(pipefd[1], e2.msg, strlen(e2.msg));
		_exit(0);
	}
	close(pipefd[1]);
	got = 0;
	for (;;) { /* until the child closes its end */
		ssize_t r = read(pipefd[0], buf + got, sizeof(buf) - 1 - (size_t)got);

		if (r <= 0)
			break;
		got += r;
	}
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d %.*s", status,
		      (int)(got > 0 ? got : 0), buf);
	ck_assert_int_gt(got, (ssize_t)sizeof(int));
	int code;
	memcpy(&code, buf, sizeof(code));
	ck_assert_int_eq(code, TS_ERR_STATE);
	char want[700];
	snprintf(want, sizeof(want),
		 "data directory %s is in use by another process (lock file %s)", dir, lockf);
	ck_assert_str_eq(buf + sizeof(int), want);

	/* after close the directory can be opened again, also by another process */
	db_close(db);
	pid = fork();
	if (pid == 0) {
		struct db *d2 = db_open(dir, NULL, NULL);

		if (!d2)
			_exit(1);
		db_close(d2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* a path that is a file cannot be a data directory */
	snprintf(top, sizeof(top), "%s", dir);
	*strrchr(top, '/') = '\0';
	*strrchr(top, '/') = '\0';
	ck_assert_ptr_null(db_open(lockf, NULL, &err));
	ck_assert_int_eq(err.code, TS_ERR_IO);
	rm_tree(top);
}
END_TEST

static int add(struct appender *a, const char *name, const char *job, int64_t t, double v)
{
	struct label l[2] = { { "__name__", name }, { "job", job } };
	struct labels ls = { l, job ? 2 : 1 };
	uint64_t ref = 0;

	return appender_add(a, &ls, &ref, t, v);
}

static size_t count_series(struct db *db, int64_t mint, int64_t maxt)
{
	struct querier *q = db_querier(db);
	struct series_set set;
	size_t n;

	ck_assert_int_eq(querier_select(q, NULL, 0, mint, maxt, true, 0, &set, NULL), 0);
	n = set.n;
	series_set_release(&set);
	querier_free(q);
	return n;
}

START_TEST(test_db_commit_rollback_visibility)
{
	struct db *db = mem_db();
	struct appender *a = db_appender(db), *b;
	struct db_stats st;

	ck_assert_int_eq(add(a, "up", "x", 1000, 1), 0);
	ck_assert_int_eq(add(a, "up", "y", 1000, 1), 0);
	/* staged samples are invisible */
	ck_assert_uint_eq(count_series(db, INT64_MIN, INT64_MAX), 0);
	ck_assert_int_eq(appender_commit(a), 0);
	ck_assert_uint_eq(count_series(db, INT64_MIN, INT64_MAX), 2);

	b = db_appender(db);
	ck_assert_int_eq(add(b, "up", "z", 2000, 1), 0);
	ck_assert_int_eq(add(b, "up", "x", 2000, 2), 0);
	appender_rollback(b);
	/* rolled back: z has no samples, x has only the first one */
	ck_assert_uint_eq(count_series(db, INT64_MIN, INT64_MAX), 2);
	ck_assert_uint_eq(count_series(db, 1500, INT64_MAX), 0);
	appender_rollback(NULL);

	db_stats(db, &st);
	ck_assert_uint_eq(st.samples_appended, 2);
	ck_assert_uint_eq(st.series_created, 3);
	ck_assert_uint_eq(st.head_series, 3);
	ck_assert_int_eq(st.min_time, 1000);
	ck_assert_int_eq(st.max_time, 1000);
	ck_assert_uint_ge(st.symbols, 5);
	ck_assert_uint_gt(st.head_bytes, 0);
	db_close(db);
	db_close(NULL);
}
END_TEST

START_TEST(test_db_appender_order_rules)
{
	struct db *db = mem_db();
	struct appender *a = db_appender(db);
	struct label l[2] = { { "__name__", "m" }, { "job", "j" } };
	struct labels ls = { l, 2 };
	struct querier *q;
	struct series_set set;
	uint64_t ref = 0;

	ck_assert_int_eq(appender_add(a, &ls, &ref, 100, 1.0), 0);
	ck_assert_uint_ne(ref, 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 200, 2.0), 0);
	/* against what is staged in this appender: older samples are kept */
	ck_assert_int_eq(appender_add(a, &ls, &ref, 150, 9.0), 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 150, 8.0), TS_ERR_DUPLICATE);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 150, 9.0), 0); /* same: accepted once */
	ck_assert_int_eq(appender_add(a, &ls, &ref, 200, 9.0), TS_ERR_DUPLICATE);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 200, 2.0), 0); /* same: accepted once */
	/* interleave another series, then come back (map path) */
	ck_assert_int_eq(add(a, "other", "j", 50, 1), 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 199, 1.0), 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 100, 5.0), TS_ERR_DUPLICATE);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 300, 3.0), 0);
	ck_assert_int_eq(appender_commit(a), 0);

	/* against what is stored */
	a = db_appender(db);
	ref = 0;
	ck_assert_int_eq(appender_add(a, &ls, &ref, 250, 1.0), 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 150, 1.0), TS_ERR_DUPLICATE);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 199, 1.0), 0); /* same as stored */
	ck_assert_int_eq(appender_add(a, &ls, &ref, 300, 1.0), TS_ERR_DUPLICATE);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 300, 3.0), 0);
	ck_assert_int_eq(appender_add(a, &ls, &ref, 400, 4.0), 0);
	ck_assert_int_eq(appender_commit(a), 0);

	q = db_querier(db);
	struct matcher m;
	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "__name__", "m", NULL), 0);
	ck_assert_int_eq(querier_select(q, &m, 1, INT64_MIN, INT64_MAX, true, 0, &set, NULL), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.s[0].n, 7);
	ck_assert_int_eq(set.s[0].t[0], 100);
	ck_assert_int_eq(set.s[0].t[1], 150);
	ck_assert(set.s[0].v[1] == 9.0);
	ck_assert_int_eq(set.s[0].t[2], 199);
	ck_assert_int_eq(set.s[0].t[3], 200);
	ck_assert_int_eq(set.s[0].t[4], 250);
	ck_assert_int_eq(set.s[0].t[5], 300);
	ck_assert_int_eq(set.s[0].t[6], 400);
	ck_assert(set.s[0].v[6] == 4.0);
	series_set_release(&set);
	matcher_release(&m);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_db_ref_cache)
{
	struct db *db = mem_db();
	struct appender *a = db_appender(db);
	struct label l[2] = { { "__name__", "m" }, { "job", "j" } };
	struct label other[2] = { { "__name__", "m" }, { "job", "k" } };
	struct labels ls = { l, 2 }, lo = { other, 2 };
	uint64_t ref = 0, ref2 = 0;

	ck_assert_int_eq(appender_add(a, &ls, &ref, 1, 1), 0);
	ck_assert_int_eq(appender_add(a, &lo, &ref2, 1, 1), 0);
	ck_assert_uint_ne(ref, ref2);
	/* a cached ref is used as is: the labels argument is not looked at */
	ck_assert_int_eq(appender_add(a, &lo, &ref, 2, 1), 0);
	ck_assert_int_eq(appender_commit(a), 0);
	ck_assert_uint_eq(count_series(db, 2, 2), 1);
	struct querier *q = db_querier(db);
	struct series_set set;
	ck_assert_int_eq(querier_select(q, NULL, 0, 2, 2, false, 0, &set, NULL), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_str_eq(set.s[0].labels.v[1].value, "j");
	ck_assert_ptr_null(set.s[0].t);
	ck_assert_uint_eq(set.s[0].n, 0);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

/* 30 series: m{job in a,b,c, inst 0..9}, samples at 10*i for series i .. +100 */
static struct db *query_db(void)
{
	struct db *db = mem_db();
	struct appender *a = db_appender(db);
	static const char *const jobs[] = { "a", "b", "c" };
	char inst[8];

	for (int i = 0; i < 30; i++) {
		struct label l[3] = { { "__name__", i % 2 ? "m" : "n" },
				      { "inst", inst },
				      { "job", jobs[i % 3] } };
		struct labels ls = { l, 3 };
		uint64_t ref = 0;

		snprintf(inst, sizeof(inst), "%d", i / 3);
		for (int k = 0; k <= 10; k++)
			ck_assert_int_eq(appender_add(a, &ls, &ref, i * 10 + k * 10, k), 0);
	}
	ck_assert_int_eq(appender_commit(a), 0);
	return db;
}

START_TEST(test_db_querier_select)
{
	struct db *db = query_db();
	struct querier *q = db_querier(db);
	struct series_set set;
	struct matcher ms[2];
	struct ts_error err;

	ck_assert_int_eq(matcher_init(&ms[0], MATCHER_EQ, "__name__", "m", &err), 0);
	ck_assert_int_eq(matcher_init(&ms[1], MATCHER_RE, "job", "a|b", &err), 0);

	ck_assert_int_eq(querier_select(q, ms, 2, INT64_MIN, INT64_MAX, true, 0, &set, &err), 0);
	/* odd i with job a or b: i % 3 in {0,1}: 1,3,7,9,13,15,19,21,25,27 */
	ck_assert_uint_eq(set.n, 10);
	for (size_t i = 1; i < set.n; i++)
		ck_assert_int_lt(labels_cmp(&set.s[i - 1].labels, &set.s[i].labels), 0);
	for (size_t i = 0; i < set.n; i++) {
		ck_assert_str_eq(labels_get(&set.s[i].labels, "__name__"), "m");
		ck_assert_uint_eq(set.s[i].n, 11);
	}
	series_set_release(&set);

	/* time range: series i has samples every 10 in [10i, 10i+100]; [250, 260]
	 * hits i in 15..26, of which the odd ones are m: 15,17,19,21,23,25 */
	ck_assert_int_eq(querier_select(q, ms, 1, 250, 260, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 6);
	for (size_t i = 0; i < set.n; i++) {
		ck_assert_uint_ge(set.s[i].n, 1);
		ck_assert_uint_le(set.s[i].n, 2);
		for (size_t k = 0; k < set.s[i].n; k++) {
			ck_assert_int_ge(set.s[i].t[k], 250);
			ck_assert_int_le(set.s[i].t[k], 260);
		}
	}
	series_set_release(&set);

	/* limit: the first series in label order */
	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, false, 4, &set, &err), 0);
	ck_assert_uint_eq(set.n, 4);
	ck_assert_str_eq(labels_get(&set.s[0].labels, "__name__"), "m");
	ck_assert_str_eq(labels_get(&set.s[0].labels, "inst"), "0");
	ck_assert_str_eq(labels_get(&set.s[0].labels, "job"), "b");
	ck_assert_str_eq(labels_get(&set.s[1].labels, "inst"), "1");
	series_set_release(&set);

	/* nothing in range, empty matcher result */
	ck_assert_int_eq(querier_select(q, NULL, 0, 1000, 2000, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 0);
	ck_assert_int_eq(querier_select(q, ms, 2, 5, 1, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 0);
	matcher_release(&ms[1]);
	ck_assert_int_eq(matcher_init(&ms[1], MATCHER_EQ, "job", "zzz", &err), 0);
	ck_assert_int_eq(querier_select(q, ms, 2, INT64_MIN, INT64_MAX, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 0);
	series_set_release(&set);

	matcher_release(&ms[0]);
	matcher_release(&ms[1]);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_db_querier_labels)
{
	struct db *db = query_db();
	struct querier *q = db_querier(db);
	struct strvec sv;
	struct matcher m;
	struct ts_error err;

	ck_assert_int_eq(querier_label_names(q, NULL, 0, INT64_MIN, INT64_MAX, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 3);
	ck_assert_str_eq(sv.v[0], "__name__");
	ck_assert_str_eq(sv.v[1], "inst");
	ck_assert_str_eq(sv.v[2], "job");
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_names(q, NULL, 0, INT64_MIN, INT64_MAX, 2, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 2);
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_names(q, NULL, 0, 5000, 6000, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 0);
	strvec_release(&sv);

	ck_assert_int_eq(querier_label_values(q, "inst", NULL, 0, INT64_MIN, INT64_MAX, 0, &sv,
					      &err), 0);
	ck_assert_uint_eq(sv.n, 10);
	ck_assert_str_eq(sv.v[0], "0");
	ck_assert_str_eq(sv.v[1], "1");
	ck_assert_str_eq(sv.v[9], "9");
	strvec_release(&sv);
	/* time range: [0, 5] has only series 0 (inst 0) */
	ck_assert_int_eq(querier_label_values(q, "inst", NULL, 0, 0, 5, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 1);
	ck_assert_str_eq(sv.v[0], "0");
	strvec_release(&sv);
	/* with matchers and a limit */
	ck_assert_int_eq(matcher_init(&m, MATCHER_EQ, "job", "c", &err), 0);
	ck_assert_int_eq(querier_label_values(q, "__name__", &m, 1, INT64_MIN, INT64_MAX, 0, &sv,
					      &err), 0);
	ck_assert_uint_eq(sv.n, 2);
	ck_assert_str_eq(sv.v[0], "m");
	ck_assert_str_eq(sv.v[1], "n");
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_values(q, "inst", &m, 1, INT64_MIN, INT64_MAX, 3, &sv,
					      &err), 0);
	ck_assert_uint_eq(sv.n, 3);
	ck_assert_str_eq(sv.v[2], "2");
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_names(q, &m, 1, INT64_MIN, INT64_MAX, 0, &sv, &err), 0);
	ck_assert_uint_eq(sv.n, 3);
	strvec_release(&sv);
	ck_assert_int_eq(querier_label_values(q, "nope", NULL, 0, INT64_MIN, INT64_MAX, 0, &sv,
					      &err), 0);
	ck_assert_uint_eq(sv.n, 0);
	strvec_release(&sv);
	matcher_release(&m);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_db_metadata_limits)
{
	struct db *db = mem_db();
	struct metadata_entry *md;
	size_t n;

	ck_assert_int_eq(db_set_metadata(db, "zeta", METRIC_GAUGE, "z help", ""), 0);
	ck_assert_int_eq(db_set_metadata(db, "alpha", METRIC_COUNTER, "a help", "seconds"), 0);
	ck_assert_int_eq(db_set_metadata(db, "alpha", METRIC_COUNTER, "a help", "seconds"), 0);
	ck_assert_int_eq(db_set_metadata(db, "alpha", METRIC_COUNTER, "other help", "seconds"), 0);
	ck_assert_int_eq(db_set_metadata(db, "mid", METRIC_SUMMARY, NULL, NULL), 0);

	ck_assert_int_eq(db_metadata(db, NULL, 0, 0, &md, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(md[0].family, "alpha");
	ck_assert_str_eq(md[0].help, "a help");
	ck_assert_str_eq(md[0].unit, "seconds");
	ck_assert_int_eq(md[0].type, METRIC_COUNTER);
	ck_assert_str_eq(md[1].family, "alpha");
	ck_assert_str_eq(md[1].help, "other help");
	ck_assert_str_eq(md[2].family, "mid");
	ck_assert_str_eq(md[2].help, "");
	ck_assert_str_eq(md[3].family, "zeta");
	free(md);

	ck_assert_int_eq(db_metadata(db, NULL, 2, 0, &md, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(md[2].family, "mid");
	free(md);
	ck_assert_int_eq(db_metadata(db, NULL, 0, 1, &md, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(md[1].family, "mid");
	free(md);
	ck_assert_int_eq(db_metadata(db, "alpha", 0, 0, &md, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(md);
	ck_assert_int_eq(db_metadata(db, "nope", 0, 0, &md, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(md);

	ck_assert_str_eq(metric_type_name(METRIC_UNKNOWN), "unknown");
	ck_assert_str_eq(metric_type_name(METRIC_COUNTER), "counter");
	ck_assert_str_eq(metric_type_name(METRIC_GAUGEHISTOGRAM), "gaugehistogram");
	ck_assert_str_eq(metric_type_name(METRIC_STATESET), "stateset");
	db_close(db);
}
END_TEST

#define CT_THREADS 4
#define CT_SERIES 500
#define CT_BATCHES 40

struct ct_arg {
	struct db *db;
	int idx;
	int errors;
};

/* Each writer owns CT_SERIES series and commits one sample per series per
 * batch; all writers also touch one shared series (racing on it). */
static void *ct_writer(void *p)
{
	struct ct_arg *a = p;
	char job[16];

	for (int b = 0; b < CT_BATCHES; b++) {
		struct appender *ap = db_appender(a->db);

		for (int i = 0; i < CT_SERIES; i++) {
			struct label l[2] = { { "__name__", "w" }, { "job", job } };
			struct labels ls = { l, 2 };
			uint64_t ref = 0;

			snprintf(job, sizeof(job), "t%d-%d", a->idx, i);
			if (appender_add(ap, &ls, &ref, b * 1000, b) != 0)
				a->errors++;
		}
		struct label s[2] = { { "__name__", "shared" }, { "job", "x" } };
		struct labels ls = { s, 2 };
		uint64_t ref = 0;
		int rc = appender_add(ap, &ls, &ref, b * 1000 + a->idx, b);

		if (rc != 0 && rc != TS_ERR_OUT_OF_ORDER)
			a->errors++;
		if (appender_commit(ap) != 0)
			a->errors++;
	}
	return NULL;
}

static void *ct_reader(void *p)
{
	struct ct_arg *a = p;
	struct matcher m;

	matcher_init(&m, MATCHER_RE, "job", "t1-.*", NULL);
	for (int r = 0; r < 30; r++) {
		struct querier *q = db_querier(a->db);
		struct series_set set;

		if (querier_select(q, &m, 1, INT64_MIN, INT64_MAX, true, 0, &set, NULL) != 0)
			a->errors++;
		for (size_t i = 0; i < set.n; i++)
			for (size_t k = 0; k < set.s[i].n; k++)
				if (set.s[i].t[k] != (int64_t)k * 1000)
					a->errors++;
		series_set_release(&set);
		querier_free(q);
	}
	matcher_release(&m);
	return NULL;
}

START_TEST(test_db_concurrent_appenders_and_queriers)
{
	struct db *db = mem_db();
	struct ct_arg args[CT_THREADS + 1];
	pthread_t th[CT_THREADS + 1];
	struct db_stats st;

	for (int i = 0; i <= CT_THREADS; i++) {
		args[i].db = db;
		args[i].idx = i;
		args[i].errors = 0;
		pthread_create(&th[i], NULL, i < CT_THREADS ? ct_writer : ct_reader, &args[i]);
	}
	for (int i = 0; i <= CT_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].errors, 0);
	}
	db_stats(db, &st);
	ck_assert_uint_eq(st.head_series, CT_THREADS * CT_SERIES + 1);
	ck_assert_uint_eq(count_series(db, INT64_MIN, INT64_MAX), CT_THREADS * CT_SERIES + 1);
	ck_assert_uint_ge(st.samples_appended, CT_THREADS * CT_SERIES * CT_BATCHES + 1);
	ck_assert_uint_le(st.samples_appended,
			  CT_THREADS * CT_SERIES * CT_BATCHES + CT_THREADS * CT_BATCHES);
	ck_assert_int_eq(st.min_time, 0);
	ck_assert_int_ge(st.max_time, (CT_BATCHES - 1) * 1000);

	/* every owned series holds exactly its samples; shared is increasing */
	struct querier *q = db_querier(db);
	struct series_set set;
	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, true, 0, &set, NULL), 0);
	for (size_t i = 0; i < set.n; i++) {
		if (strcmp(labels_get(&set.s[i].labels, "__name__"), "shared") == 0) {
			for (size_t k = 1; k < set.s[i].n; k++)
				ck_assert_int_lt(set.s[i].t[k - 1], set.s[i].t[k]);
			continue;
		}
		ck_assert_uint_eq(set.s[i].n, CT_BATCHES);
	}
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

#define BIG 100000

START_TEST(test_db_label_values_100k_fast)
{
	struct db *db = mem_db();
	struct appender *a = db_appender(db);
	struct querier *q;
	struct strvec sv;
	char id[16];
	struct timespec t0, t1;
	double ms_taken;

	for (int i = 0; i < BIG; i++) {
		struct label l[3] = { { "__name__", "m" }, { "id", id }, { "job", "j" } };
		struct labels ls = { l, 3 };
		uint64_t ref = 0;

		snprintf(id, sizeof(id), "%07d", (i * 7919) % BIG);
		ck_assert_int_eq(appender_add(a, &ls, &ref, 1000 + i % 10, 1), 0);
	}
	ck_assert_int_eq(appender_commit(a), 0);
	q = db_querier(db);
	/* first call sorts, later ones reuse the sorted table */
	ck_assert_int_eq(querier_label_values(q, "id", NULL, 0, INT64_MIN, INT64_MAX, 0, &sv,
					      NULL), 0);
	strvec_release(&sv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < 10; r++) {
		ck_assert_int_eq(querier_label_values(q, "id", NULL, 0, 0, INT64_MAX, 0, &sv,
						      NULL), 0);
		ck_assert_uint_eq(sv.n, BIG);
		ck_assert_str_eq(sv.v[0], "0000000");
		ck_assert_str_eq(sv.v[BIG - 1], "0099999");
		strvec_release(&sv);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms_taken = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10;
	fprintf(stderr, "label_values over %d series: %.2f ms\n", BIG, ms_taken);
	ck_assert_double_lt(ms_taken, 50); /* generous for sanitizer builds */
	querier_free(q);
	db_close(db);
}
END_TEST

Suite *db_suite(void);

Suite *db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_db_lock_file_second_process);
	tcase_add_test(tc, test_db_commit_rollback_visibility);
	tcase_add_test(tc, test_db_appender_order_rules);
	tcase_add_test(tc, test_db_ref_cache);
	tcase_add_test(tc, test_db_querier_select);
	tcase_add_test(tc, test_db_querier_labels);
	tcase_add_test(tc, test_db_metadata_limits);
	tcase_add_test(tc, test_db_concurrent_appenders_and_queriers);
	tcase_add_test(tc, test_db_label_values_100k_fast);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(db_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
