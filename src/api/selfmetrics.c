/*
 * selfmetrics.c - varve's own counters and their text exposition; see
 * selfmetrics.h.
 *
 * HTTP request counters form a small matrix [route][status code]. Rows and
 * columns are claimed on first use by a compare-and-swap on an empty slot
 * (route strings are copied first and freed again if another thread won
 * the slot), so counting a request is a scan of a few dozen pointers plus
 * one relaxed atomic add, with no lock. Slots are never released while the
 * object lives.
 */
#include "api/selfmetrics.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "ingest/remote_write.h"
#include "tsdb/db.h"

#ifndef VARVE_REVISION
#define VARVE_REVISION "unknown"
#endif

#define MAX_CODES 24

/* Upper bounds (seconds) of the request duration histogram's buckets. */
static const double duration_buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
					    1,     5,     10,   30,   60,  120 };
#define NBUCKETS (sizeof(duration_buckets) / sizeof(duration_buckets[0]))

struct selfmetrics {
	double start_time;                               /* process start, Unix seconds */
	_Atomic(char *) route[SELFMETRICS_MAX_ROUTES];   /* claimed route patterns (owned) */
	atomic_int code[MAX_CODES];                      /* claimed status codes, 0 = free */
	atomic_uint_fast64_t req[SELFMETRICS_MAX_ROUTES + 1][MAX_CODES]; /* last row: "other" */
	/* per route: requests at or below each bucket bound (not cumulative;
	 * summed at render time), the count above the last, and the sum of
	 * durations in nanoseconds */
	atomic_uint_fast64_t dur[SELFMETRICS_MAX_ROUTES + 1][NBUCKETS + 1];
	atomic_uint_fast64_t dur_sum_ns[SELFMETRICS_MAX_ROUTES + 1];
	atomic_uint_fast64_t rejected[RW_REASON__COUNT]; /* rejected samples by reason */
	atomic_uint_fast64_t exemplars;                  /* exemplars received */
	atomic_uint_fast64_t histograms;                 /* histogram samples received */
	atomic_uint_fast64_t metadata;                   /* metadata entries recorded */
};

struct selfmetrics *selfmetrics_new(void)
{
	struct selfmetrics *sm = calloc(1, sizeof(*sm));
	struct timeval tv;

	if (!sm)
		return NULL;
	gettimeofday(&tv, NULL);
	sm->start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	return sm;
}

void selfmetrics_free(struct selfmetrics *sm)
{
	size_t i;

	if (!sm)
		return;
	for (i = 0; i < SELFMETRICS_MAX_ROUTES; i++)
		free(atomic_load(&sm->route[i]));
	free(sm);
}

/* Row of route, claiming a free one; SELFMETRICS_MAX_ROUTES when full. */
static size_t route_slot(struct selfmetrics *sm, const char *route)
{
	size_t i;
	char *cur, *mine = NULL;

	for (i = 0; i < SELFMETRICS_MAX_ROUTES; i++) {
		cur = atomic_load_explicit(&sm->route[i], memory_order_acquire);
		if (cur) {
			if (strcmp(cur, route) == 0)
				break;
			continue;
		}
		if (!mine && !(mine = strdup(route)))
			return SELFMETRICS_MAX_ROUTES;
		cur = NULL;
		if (atomic_compare_exchange_strong(&sm->route[i], &cur, mine)) {
			mine = NULL;
			break;
		}
		if (strcmp(cur, route) == 0)
			break; /* someone else claimed it for the same route */
	}
	free(mine);
	return i;
}

/* Column of status code, claiming a free one; MAX_CODES when full. */
static size_t code_slot(struct selfmetrics *sm, int status)
{
	size_t i;
	int cur;

	for (i = 0; i < MAX_CODES; i++) {
		cur = atomic_load_explicit(&sm->code[i], memory_order_acquire);
		if (cur == status)
			return i;
		if (cur)
			continue;
		cur = 0;
		if (atomic_compare_exchange_strong(&sm->code[i], &cur, status) || cur == status)
			return i;
	}
	return MAX_CODES;
}

void selfmetrics_observe_request(const char *route, int status, double seconds, void *ctx)
{
	struct selfmetrics *sm = ctx;
	size_t r, c, b;

	if (!sm)
		return;
	r = route_slot(sm, route);
	c = code_slot(sm, status);
	if (c < MAX_CODES)
		atomic_fetch_add_explicit(&sm->req[r][c], 1, memory_order_relaxed);
	if (!(seconds >= 0))
		seconds = 0;
	for (b = 0; b < NBUCKETS && seconds > duration_buckets[b]; b++)
		;
	atomic_fetch_add_explicit(&sm->dur[r][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sm->dur_sum_ns[r],
				  (uint_fast64_t)(seconds < 1e9 ? seconds * 1e9 : 1e18),
				  memory_order_relaxed);
}

void selfmetrics_add_write(struct selfmetrics *sm, const struct rw_result *res)
{
	size_t i;

	if (!sm || !res)
		return;
	for (i = 0; i < RW_REASON__COUNT; i++)
		if (res->rejected[i])
			atomic_fetch_add_explicit(&sm->rejected[i], res->rejected[i],
						  memory_order_relaxed);
	atomic_fetch_add_explicit(&sm->exemplars, res->exemplars, memory_order_relaxed);
	atomic_fetch_add_explicit(&sm->histograms,
				  res->histograms_written + res->rejected[RW_REASON_HISTOGRAM],
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&sm->metadata, res->metadata_written, memory_order_relaxed);
}

/* HELP and TYPE lines of a family. */
static void family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Append a label value escaped for the text format (\\, \", \n). */
static void label_value(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_addch(out, '\\');
		if (*v == '\n') {
			buf_addstr(out, "\\n");
			continue;
		}
		buf_addch(out, *v);
	}
}

/* Resident and virtual memory from /proc/self/statm; false if unknown. */
static bool proc_memory(double *rss, double *vsize)
{
	unsigned long long pages, res;
	long pagesize = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "%llu %llu", &pages, &res);
	fclose(f);
	if (n != 2 || pagesize <= 0)
		return false;
	*vsize = (double)pages * (double)pagesize;
	*rss = (double)res * (double)pagesize;
	return true;
}

/* Open file descriptors, or -1 when /proc is not there. */
static long proc_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream's own descriptor */
}

static void render_process(struct selfmetrics *sm, struct buf *out)
{
	struct rusage ru;
	double rss, vsize;
	long fds;

	family(out, "process_start_time_seconds", "gauge",
	       "Start time of the process since unix epoch in seconds.");
	buf_printf(out, "process_start_time_seconds %.3f\n", sm->start_time);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		family(out, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		buf_printf(out, "process_cpu_seconds_total %.6f\n",
			   (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	}
	if (proc_memory(&rss, &vsize)) {
		family(out, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes.");
		buf_printf(out, "process_resident_memory_bytes %.0f\n", rss);
		family(out, "process_virtual_memory_bytes", "gauge",
		       "Virtual memory size in bytes.");
		buf_printf(out, "process_virtual_memory_bytes %.0f\n", vsize);
	}
	fds = proc_open_fds();
	if (fds >= 0) {
		family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
		buf_printf(out, "process_open_fds %ld\n", fds);
	}
}

static void render_storage(struct db *db, struct buf *out)
{
	struct db_stats st;

	memset(&st, 0, sizeof(st));
	db_stats(db, &st);
	family(out, "varve_samples_ingested_total", "counter",
	       "Samples committed to storage since start.");
	buf_printf(out, "varve_samples_ingested_total %llu\n",
		   (unsigned long long)st.samples_appended);
	family(out, "varve_series_created_total", "counter",
	       "Series created in the head since start.");
	buf_printf(out, "varve_series_created_total %llu\n",
		   (unsigned long long)st.series_created);
	family(out, "varve_head_series", "gauge", "Series in the head.");
	buf_printf(out, "varve_head_series %llu\n", (unsigned long long)st.head_series);
	family(out, "varve_head_chunks", "gauge", "Chunks in the head.");
	buf_printf(out, "varve_head_chunks %llu\n", (unsigned long long)st.head_chunks);
	family(out, "varve_symbols", "gauge", "Interned label names and values.");
	buf_printf(out, "varve_symbols %zu\n", st.symbols);
	family(out, "varve_head_bytes", "gauge", "Approximate heap bytes held by the head.");
	buf_printf(out, "varve_head_bytes %zu\n", st.head_bytes);
}

static void render_http(struct selfmetrics *sm, struct buf *out)
{
	size_t r, c;
	int code;
	char *route;
	uint64_t v;

	family(out, "varve_http_requests_total", "counter",
	       "HTTP requests answered, by route pattern and status code.");
	for (r = 0; r <= SELFMETRICS_MAX_ROUTES; r++) {
		route = r < SELFMETRICS_MAX_ROUTES ? atomic_load(&sm->route[r]) : NULL;
		if (r < SELFMETRICS_MAX_ROUTES && !route)
			continue;
		for (c = 0; c < MAX_CODES; c++) {
			code = atomic_load(&sm->code[c]);
			v = atomic_load_explicit(&sm->req[r][c], memory_order_relaxed);
			if (!code || !v)
				continue;
			buf_addstr(out, "varve_http_requests_total{handler=\"");
			label_value(out, route ? route : "other");
			buf_printf(out, "\",code=\"%d\"} %llu\n", code, (unsigned long long)v);
		}
	}
}

static void render_durations(struct selfmetrics *sm, struct buf *out)
{
	size_t r, b;
	char *route;
	uint64_t cum, n;

	family(out, "varve_http_request_duration_seconds", "histogram",
	       "Time from request line to queued response, by route pattern.");
	for (r = 0; r <= SELFMETRICS_MAX_ROUTES; r++) {
		const char *name;

		route = r < SELFMETRICS_MAX_ROUTES ? atomic_load(&sm->route[r]) : NULL;
		if (r < SELFMETRICS_MAX_ROUTES && !route)
			continue;
		name = route ? route : "other";
		cum = 0;
		for (b = 0; b <= NBUCKETS; b++)
			cum += atomic_load_explicit(&sm->dur[r][b], memory_order_relaxed);
		if (!cum)
			continue;
		cum = 0;
		for (b = 0; b <= NBUCKETS; b++) {
			n = atomic_load_explicit(&sm->dur[r][b], memory_order_relaxed);
			cum += n;
			buf_addstr(out, "varve_http_request_duration_seconds_bucket{handler=\"");
			label_value(out, name);
			if (b < NBUCKETS) {
				buf_addstr(out, "\",le=\"");
				buf_add_float(out, duration_buckets[b]);
				buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
			} else {
				buf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
			}
		}
		buf_addstr(out, "varve_http_request_duration_seconds_sum{handler=\"");
		label_value(out, name);
		buf_printf(out, "\"} %.9f\n",
			   (double)atomic_load_explicit(&sm->dur_sum_ns[r], memory_order_relaxed) /
				   1e9);
		buf_addstr(out, "varve_http_request_duration_seconds_count{handler=\"");
		label_value(out, name);
		buf_printf(out, "\"} %llu\n", (unsigned long long)cum);
	}
}

void selfmetrics_render(struct selfmetrics *sm, struct db *db, struct buf *out)
{
	size_t i;

	family(out, "varve_build_info", "gauge", "Build information of varve; always 1.");
	buf_addstr(out, "varve_build_info{version=\"");
	label_value(out, PACKAGE_VERSION);
	buf_addstr(out, "\",revision=\"");
	label_value(out, VARVE_REVISION);
	buf_addstr(out, "\"} 1\n");
	if (db)
		render_storage(db, out);
	if (!sm)
		return;
	family(out, "varve_rejected_samples_total", "counter",
	       "Samples received but not stored, by reason.");
	for (i = 0; i < RW_REASON__COUNT; i++)
		buf_printf(out, "varve_rejected_samples_total{reason=\"%s\"} %llu\n",
			   rw_reason_name((enum rw_reason)i),
			   (unsigned long long)atomic_load(&sm->rejected[i]));
	family(out, "varve_remote_write_exemplars_total", "counter",
	       "Exemplars received over remote_write.");
	buf_printf(out, "varve_remote_write_exemplars_total %llu\n",
		   (unsigned long long)atomic_load(&sm->exemplars));
	family(out, "varve_remote_write_histograms_total", "counter",
	       "Native histogram samples received over remote_write.");
	buf_printf(out, "varve_remote_write_histograms_total %llu\n",
		   (unsigned long long)atomic_load(&sm->histograms));
	family(out, "varve_remote_write_metadata_total", "counter",
	       "Metric metadata entries recorded from remote_write.");
	buf_printf(out, "varve_remote_write_metadata_total %llu\n",
		   (unsigned long long)atomic_load(&sm->metadata));
	render_http(sm, out);
	render_durations(sm, out);
	render_process(sm, out);
}
