/*
 * bench_block_query.c - querier_select over persisted blocks against the
 * same data in the head.
 *
 * SERIES node-exporter-like series get 2 h of samples STEP seconds apart
 * twice: into a memory-only store (everything stays in the head) and into
 * a store in DIR with a 30 min block range, where all but the newest
 * 45 min end up in blocks (db_maintain, which also compacts them). Then
 * the first hour is selected from both, every series with its samples,
 * and once with a matcher on one of 25 metric names; the best of 5 runs
 * is reported. Label values over the hour come from the blocks' label
 * tables in the second store.
 *
 * Usage: bench_block_query DIR [SERIES [STEP_SECONDS]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/db.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(struct db *db, size_t nser, int64_t t0, int64_t step, int64_t rounds)
{
	static const char *modes[] = { "user", "system", "idle", "iowait" };
	char inst[32], name[40], cpu[8];
	uint64_t *refs = calloc(nser, sizeof(*refs));

	for (int64_t r = 0; r < rounds; r++) {
		struct appender *a = db_appender(db);

		for (size_t i = 0; i < nser; i++) {
			struct label l[6];
			struct labels ls = { l, 6 };

			snprintf(inst, sizeof(inst), "10.0.%zu.%zu:9100", i / 100 / 250, i / 100 % 250);
			snprintf(name, sizeof(name), "node_metric_%zu_total", i % 100 / 4);
			snprintf(cpu, sizeof(cpu), "%zu", i % 4);
			l[0] = (struct label){ "__name__", name };
			l[1] = (struct label){ "cpu", cpu };
			l[2] = (struct label){ "instance", inst };
			l[3] = (struct label){ "job", "node" };
			l[4] = (struct label){ "mode", modes[i % 4] };
			l[5] = (struct label){ "team", "platform" };
			if (appender_add(a, &ls, &refs[i], t0 + r * step,
					 (double)(r * 25 + (int64_t)i % 97) / 4.0) < 0)
				exit(1);
		}
		if (appender_commit(a) < 0)
			exit(1);
	}
	free(refs);
}

/* Best of 5: seconds for one select; *nsamples gets the samples seen. */
static double time_select(struct db *db, const struct matcher *ms, size_t nms, int64_t mint,
			  int64_t maxt, size_t *nseries, size_t *nsamples)
{
	double best = 1e9;

	for (int k = 0; k < 5; k++) {
		struct querier *q = db_querier(db);
		struct series_set set;
		struct ts_error err;
		double t = now();

		if (querier_select(q, ms, nms, mint, maxt, true, 0, &set, &err) < 0) {
			fprintf(stderr, "select: %s\n", err.msg);
			exit(1);
		}
		t = now() - t;
		if (t < best)
			best = t;
		*nseries = set.n;
		*nsamples = 0;
		for (size_t i = 0; i < set.n; i++)
			*nsamples += set.s[i].n;
		series_set_release(&set);
		querier_free(q);
	}
	return best;
}

static double time_values(struct db *db, int64_t mint, int64_t maxt, size_t *n)
{
	double best = 1e9;

	for (int k = 0; k < 5; k++) {
		struct querier *q = db_querier(db);
		struct strvec sv;
		struct ts_error err;
		double t = now();

		if (querier_label_values(q, "instance", NULL, 0, mint, maxt, 0, &sv, &err) < 0)
			exit(1);
		t = now() - t;
		if (t < best)
			best = t;
		*n = sv.n;
		strvec_release(&sv);
		querier_free(q);
	}
	return best;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : NULL;
	size_t nser = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	int64_t step = (argc > 3 ? strtoll(argv[3], NULL, 10) : 15) * 1000;
	int64_t t0 = 1700000000000 / 1800000 * 1800000, rounds = 2 * 3600 * 1000 / step;
	int64_t mint = t0, maxt = t0 + 3600 * 1000 - 1;
	struct db_opts o;
	struct ts_error err;
	struct db *mem, *disk;
	struct matcher m;
	size_t ns1, nsm1, ns2, nsm2, nv1, nv2;
	double a, b;

	if (!dir) {
		fprintf(stderr, "usage: %s DIR [SERIES [STEP_SECONDS]]\n", argv[0]);
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.wal_sync = 2;
	o.block_duration_ms = 30 * 60 * 1000;
	mem = db_open(NULL, NULL, &err);
	disk = db_open(dir, &o, &err);
	if (!mem || !disk) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		return 1;
	}
	fill(mem, nser, t0, step, rounds);
	fill(disk, nser, t0, step, rounds);
	db_maintain(disk);
	printf("series=%zu\nsamples_per_series=%lld\n", nser, (long long)rounds);
	a = time_select(mem, NULL, 0, mint, maxt, &ns1, &nsm1);
	b = time_select(disk, NULL, 0, mint, maxt, &ns2, &nsm2);
	printf("select_all_1h_head_seconds=%.4f\nselect_all_1h_blocks_seconds=%.4f\n", a, b);
	printf("select_all_1h_samples_head=%zu\nselect_all_1h_samples_blocks=%zu\n", nsm1, nsm2);
	printf("select_all_blocks_over_head=%.2f\n", b / a);
	if (matcher_init(&m, MATCHER_EQ, "__name__", "node_metric_7_total", &err) < 0)
		return 1;
	a = time_select(mem, &m, 1, mint, maxt, &ns1, &nsm1);
	b = time_select(disk, &m, 1, mint, maxt, &ns2, &nsm2);
	printf("select_one_name_head_seconds=%.5f\nselect_one_name_blocks_seconds=%.5f\n", a, b);
	printf("select_one_name_series=%zu/%zu\n", ns1, ns2);
	printf("select_one_name_blocks_over_head=%.2f\n", b / a);
	matcher_release(&m);
	a = time_values(mem, mint, maxt, &nv1);
	b = time_values(disk, mint, maxt, &nv2);
	printf("label_values_head_seconds=%.5f\nlabel_values_blocks_seconds=%.5f\n", a, b);
	printf("label_values_count=%zu/%zu\n", nv1, nv2);
	db_close(mem);
	db_close(disk);
	return 0;
}
