/*
 * bench_wal.c - what the write-ahead log costs on the write path.
 *
 * THREADS writers (default 1, 4 and 16 in turn) each commit batches of
 * BATCH samples (2000, one sample for each of 2000 series of its own, like
 * a remote_write request) for SECONDS of wall time into one store:
 *
 *   memory    no data directory, no WAL (the ceiling)
 *   none      WAL written, never fsynced
 *   periodic  WAL fsynced every second
 *   batch     every commit waits for an fsync covering it (group commit)
 *
 * Reported per mode and thread count: samples_per_second (wall),
 * commits, and for WAL modes fsyncs and commits_per_fsync (how many
 * commits shared one fsync). After the 16-thread `none` run the store is
 * opened again: replay_samples_per_second is how fast a start reads its
 * WAL back into the head. The data directory is a temporary directory
 * under TMPDIR (or /tmp), removed afterwards; the fsync cost depends on
 * that file system.
 *
 * Usage: bench_wal [SECONDS [BATCH]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/db.h"
#include "tsdb/wal.h"

#define MAX_THREADS 16

/* One writer. */
struct writer {
	struct db *db;       /* shared store */
	int idx;             /* writer number */
	size_t batch;        /* samples per commit */
	double seconds;      /* run time */
	uint64_t samples;    /* committed samples */
	uint64_t commits;    /* commits */
	int errors;          /* failed calls */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *p)
{
	struct writer *w = p;
	uint64_t *refs = calloc(w->batch, sizeof(*refs));
	double end = now() + w->seconds;
	char inst[32], id[32];
	struct label l[3] = { { "__name__", "bench_wal" }, { "instance", inst }, { "n", id } };
	struct labels ls = { l, 3 };
	int64_t t = 1700000000000LL;

	snprintf(inst, sizeof(inst), "w%d", w->idx);
	while (now() < end) {
		struct appender *a = db_appender(w->db);

		for (size_t i = 0; i < w->batch; i++) {
			snprintf(id, sizeof(id), "%zu", i);
			if (appender_add(a, &ls, &refs[i], t, (double)(t / 1000 + (int64_t)i)) < 0)
				w->errors++;
		}
		if (appender_commit(a) < 0)
			w->errors++;
		w->samples += w->batch;
		w->commits++;
		t += 15000;
	}
	free(refs);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "memory", "none", "periodic", "batch" };
	static const int threads[] = { 1, 4, 16 };
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	size_t batch = argc > 2 ? (size_t)atol(argv[2]) : 2000;
	const char *base = getenv("TMPDIR");

	for (size_t m = 0; m < 4; m++) {
		for (size_t k = 0; k < 3; k++) {
			struct writer w[MAX_THREADS];
			pthread_t th[MAX_THREADS];
			struct db_opts o;
			struct ts_error err;
			char dir[256], cmd[300];
			struct db *db;
			uint64_t samples = 0, commits = 0;
			int errors = 0;
			double t0, wall;

			memset(&o, 0, sizeof(o));
			o.wal_sync = m == 1 ? WAL_SYNC_NONE : m == 2 ? WAL_SYNC_PERIODIC : WAL_SYNC_BATCH;
			snprintf(dir, sizeof(dir), "%s/varve-bench-wal-XXXXXX", base ? base : "/tmp");
			if (!mkdtemp(dir)) {
				perror("mkdtemp");
				return 1;
			}
			db = db_open(m == 0 ? NULL : dir, &o, &err);
			if (!db) {
				fprintf(stderr, "bench_wal: %s\n", err.msg);
				return 1;
			}
			t0 = now();
			for (int i = 0; i < threads[k]; i++) {
				w[i] = (struct writer){ db, i, batch, seconds, 0, 0, 0 };
				pthread_create(&th[i], NULL, run, &w[i]);
			}
			for (int i = 0; i < threads[k]; i++) {
				pthread_join(th[i], NULL);
				samples += w[i].samples;
				commits += w[i].commits;
				errors += w[i].errors;
			}
			wall = now() - t0;
			printf("mode=%s threads=%d samples_per_second=%.0f commits=%llu", modes[m],
			       threads[k], (double)samples / wall, (unsigned long long)commits);
			if (m > 0) {
				struct db_stats st;

				db_stats(db, &st);
				printf(" fsyncs=%llu commits_per_fsync=%.1f",
				       (unsigned long long)st.wal_fsyncs,
				       st.wal_fsyncs ? (double)st.wal_writes / (double)st.wal_fsyncs : 0.0);
			}
			db_close(db);
			printf(" errors=%d\n", errors);
			if (m == 1 && k == 2) {
				/* the biggest log of the run: how fast a start reads it */
				t0 = now();
				db = db_open(dir, &o, &err);
				wall = now() - t0;
				if (!db) {
					fprintf(stderr, "bench_wal: %s\n", err.msg);
					return 1;
				}
				db_close(db);
				printf("replay_samples=%llu replay_seconds=%.3f "
				       "replay_samples_per_second=%.0f\n",
				       (unsigned long long)samples, wall, (double)samples / wall);
			}
			fflush(stdout);
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			if (system(cmd) != 0)
				fprintf(stderr, "bench_wal: cannot remove %s\n", dir);
		}
	}
	return 0;
}
