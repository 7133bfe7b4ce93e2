/*
 * bench_head_rss.c - resident memory per series of a store with a data
 * directory while hours of samples flow in: does memory follow the
 * number of active series or the volume of data?
 *
 * Load: SERIES node-exporter-like series (8 labels), one sample each per
 * round, rounds STEP seconds apart in sample time, HOURS of sample time
 * in all, committed in batches of 2000 series. The WAL runs with
 * wal_sync=none (this measures memory, not fsync); the head is persisted
 * into blocks as in the server (block range 2h, db_maintain after the
 * last round).
 *
 * Output (key=value): resident memory (VmRSS, and its anonymous part
 * RssAnon, which excludes file pages of mapped blocks and chunk files
 * that the kernel may drop at will) per series after the first round and
 * after the last, and the head's own heap estimate.
 *
 * Usage: bench_head_rss DIR [SERIES [HOURS [STEP_SECONDS]]]
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/db.h"

/* VmRSS and RssAnon of this process in bytes. */
static void rss(size_t *all, size_t *anon)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*all = *anon = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;

		if (sscanf(line, "VmRSS: %lu", &kb) == 1)
			*all = kb * 1024;
		else if (sscanf(line, "RssAnon: %lu", &kb) == 1)
			*anon = kb * 1024;
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "user", "system", "idle", "iowait" };
	const char *dir = argc > 1 ? argv[1] : NULL;
	size_t nser = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	double hours = argc > 3 ? strtod(argv[3], NULL) : 3;
	int64_t step = (argc > 4 ? strtoll(argv[4], NULL, 10) : 15) * 1000;
	int64_t t0 = 1700000000000, rounds;
	struct db_opts o;
	struct ts_error err;
	struct db_stats st;
	struct db *db;
	struct labels *ls;
	struct label *lv;
	uint64_t *refs;
	double *val;
	char *names;
	size_t a0, n0, a1, n1, a2, n2;

	if (!dir || !nser || hours <= 0 || step <= 0) {
		fprintf(stderr, "usage: %s DIR [SERIES [HOURS [STEP_SECONDS]]]\n", argv[0]);
		return 2;
	}
	rounds = (int64_t)(hours * 3600 * 1000) / step;
	memset(&o, 0, sizeof(o));
	o.wal_sync = 2;
	db = db_open(dir, &o, &err);
	if (!db) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		return 1;
	}
	ls = calloc(nser, sizeof(*ls));
	lv = calloc(nser * 8, sizeof(*lv));
	refs = calloc(nser, sizeof(*refs));
	val = calloc(nser, sizeof(*val));
	names = calloc(nser, 3 * 32);
	if (!ls || !lv || !refs || !val || !names)
		return 1;
	for (size_t i = 0; i < nser; i++) {
		char *inst = names + i * 96, *name = inst + 32, *cpu = inst + 64;
		struct label *l = lv + i * 8;

		snprintf(inst, 32, "10.0.%zu.%zu:9100", i / 100 / 250, i / 100 % 250);
		snprintf(name, 32, "node_metric_%zu_total", i % 100 / 4);
		snprintf(cpu, 32, "%zu", i % 4);
		l[0] = (struct label){ "__name__", name };
		l[1] = (struct label){ "cpu", cpu };
		l[2] = (struct label){ "datacenter", "eu-west-1" };
		l[3] = (struct label){ "env", "production" };
		l[4] = (struct label){ "instance", inst };
		l[5] = (struct label){ "job", "node" };
		l[6] = (struct label){ "mode", modes[i % 4] };
		l[7] = (struct label){ "team", "platform" };
		ls[i].v = l;
		ls[i].n = 8;
		val[i] = (double)(i % 1000) * 12.5;
	}
	malloc_trim(0);
	rss(&a0, &n0);
	for (int64_t r = 0; r < rounds; r++) {
		int64_t t = t0 + r * step;

		for (size_t b = 0; b < nser; b += 2000) {
			struct appender *ap = db_appender(db);

			for (size_t i = b; i < nser && i < b + 2000; i++) {
				/* counters with two decimals, as CPU seconds are */
				val[i] += (double)((i * 7 + (size_t)r * 13) % 1500) / 100.0;
				if (appender_add(ap, &ls[i], &refs[i], t, val[i]) < 0)
					return 1;
			}
			if (appender_commit(ap) < 0)
				return 1;
		}
		if (r == 0) {
			malloc_trim(0);
			rss(&a1, &n1);
		}
	}
	db_maintain(db);
	malloc_trim(0);
	rss(&a2, &n2);
	db_stats(db, &st);
	printf("series=%zu\n", nser);
	printf("samples_per_series=%lld\n", (long long)rounds);
	printf("rss_bytes_per_series_first_round=%.0f\n", (double)(a1 - a0) / (double)nser);
	printf("rss_anon_bytes_per_series_first_round=%.0f\n", (double)(n1 - n0) / (double)nser);
	printf("rss_bytes_per_series_end=%.0f\n", (double)(a2 - a0) / (double)nser);
	printf("rss_anon_bytes_per_series_end=%.0f\n", (double)(n2 - n0) / (double)nser);
	printf("head_heap_bytes_per_series_end=%.0f\n", (double)st.head_bytes / (double)nser);
	printf("head_chunks_end=%llu\n", (unsigned long long)st.head_chunks);
	db_close(db);
	return 0;
}
