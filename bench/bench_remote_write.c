/*
 * bench_remote_write.c - remote_write 1.0 ingestion speed and memory per
 * series, the way Prometheus feeds a remote storage.
 *
 * Shape of the load:
 *   - SERIES series (default 10000) shaped like node-exporter targets:
 *     100 instances of 100 series each (node_cpu_seconds_total per cpu and
 *     mode, network and filesystem counters per device, plain gauges),
 *     8 to 10 labels each, label names sorted as Prometheus sends them
 *   - requests of BATCH series entries (default 2000) with one sample
 *     each, the way Prometheus's queue manager sends them
 *   - one round = every series once, 15 s after the previous round
 *
 * What is measured:
 *   1. round 0 creates the series: the resident memory before and after
 *      (/proc/self/statm, with freed heap returned first by malloc_trim)
 *      divided by SERIES gives rss_bytes_per_series; this includes each
 *      series' first head chunk and interned strings
 *   2. the following rounds append to existing series until MAX_SECONDS of
 *      CPU time went into rw_write: samples_per_cpu_second is samples over
 *      the process CPU time (user + sys, all threads, getrusage) spent
 *      inside rw_write, which covers snappy decoding, protobuf decoding,
 *      label validation, series lookup and the append itself. Building and
 *      compressing the requests happens outside the measured time.
 *
 * Usage: bench_remote_write [SERIES [BATCH [MAX_SECONDS]]]
 * Output: key=value lines, stable for scripts.
 */
#include <malloc.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ingest/remote_write.h"
#include "prometheus.pb-c.h"
#include "tsdb/db.h"

#define MAX_LABELS 12
#define SERIES_PER_INSTANCE 100
#define SCRAPE_MS 15000

/* One generated series: its protobuf message (reused every round). */
struct bseries {
	Prometheus__TimeSeries ts;       /* labels + one sample */
	Prometheus__Label lab[MAX_LABELS]; /* label storage */
	Prometheus__Label *labp[MAX_LABELS]; /* pointers for ts.labels */
	Prometheus__Sample sample;       /* the one sample */
	Prometheus__Sample *samplep;     /* pointer for ts.samples */
	double base;                     /* first value */
	double step;                     /* increase per round (0: gauge) */
};

static const char *const cpu_modes[8] = {
	"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
};
static const char *const gauges[24] = {
	"node_load1", "node_load5", "node_load15", "node_memory_MemFree_bytes",
	"node_memory_MemAvailable_bytes", "node_memory_Cached_bytes",
	"node_memory_Buffers_bytes", "node_memory_SwapFree_bytes",
	"node_procs_running", "node_procs_blocked", "node_context_switches_total",
	"node_intr_total", "node_forks_total", "node_boot_time_seconds",
	"node_time_seconds", "node_entropy_available_bits", "node_filefd_allocated",
	"node_sockstat_TCP_inuse", "node_sockstat_TCP_tw", "node_netstat_Tcp_CurrEstab",
	"node_vmstat_pgfault", "node_vmstat_pgmajfault", "node_disk_io_now",
	"up",
};
static const char *const netdev[3] = { "eth0", "eth1", "lo" };
static const char *const mounts[3][2] = {
	{ "/", "ext4" }, { "/boot", "vfat" }, { "/var/lib/data", "xfs" },
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		perror("strdup");
		exit(1);
	}
	return p;
}

/* Labels are added in any order and sorted by name at the end. */
static void add_label(struct bseries *b, const char *name, const char *value)
{
	Prometheus__Label *l = &b->lab[b->ts.n_labels];

	prometheus__label__init(l);
	l->name = xstrdup(name);
	l->value = xstrdup(value);
	b->labp[b->ts.n_labels] = l;
	b->ts.n_labels++;
}

static int label_ptr_cmp(const void *a, const void *b)
{
	const Prometheus__Label *x = *(Prometheus__Label *const *)a;
	const Prometheus__Label *y = *(Prometheus__Label *const *)b;

	return strcmp(x->name, y->name);
}

/* Series i of the node-exporter-like set. */
static void make_series(struct bseries *b, size_t i)
{
	size_t inst = i / SERIES_PER_INSTANCE, k = i % SERIES_PER_INSTANCE;
	char buf[64];

	prometheus__time_series__init(&b->ts);
	b->ts.labels = b->labp;
	prometheus__sample__init(&b->sample);
	b->samplep = &b->sample;
	b->ts.samples = &b->samplep;
	b->ts.n_samples = 1;

	snprintf(buf, sizeof(buf), "10.%zu.%zu.%zu:9100", inst / 65536 % 256,
		 inst / 256 % 256, inst % 256);
	add_label(b, "instance", buf);
	add_label(b, "job", "node");
	add_label(b, "cluster", "prod-eu-1");
	add_label(b, "env", "production");
	add_label(b, "region", "eu-west-1");
	snprintf(buf, sizeof(buf), "eu-west-1%c", (int)('a' + inst % 3));
	add_label(b, "zone", buf);
	if (k < 64) {
		add_label(b, "__name__", "node_cpu_seconds_total");
		snprintf(buf, sizeof(buf), "%zu", k / 8);
		add_label(b, "cpu", buf);
		add_label(b, "mode", cpu_modes[k % 8]);
		b->base = 1000.0 + (double)(i % 977) * 13.37;
		b->step = (k % 8 == 0) ? 14.71 : 0.13 * (double)(k % 8);
	} else if (k < 70) {
		add_label(b, "__name__", (k - 64) % 2 ? "node_network_transmit_bytes_total"
						      : "node_network_receive_bytes_total");
		add_label(b, "device", netdev[(k - 64) / 2]);
		b->base = 1e9 + (double)i * 4096;
		b->step = 1234567;
	} else if (k < 76) {
		add_label(b, "__name__", (k - 70) % 2 ? "node_filesystem_size_bytes"
						      : "node_filesystem_avail_bytes");
		add_label(b, "device", (k - 70) / 2 == 1 ? "/dev/sda1" : "/dev/sda2");
		add_label(b, "fstype", mounts[(k - 70) / 2][1]);
		add_label(b, "mountpoint", mounts[(k - 70) / 2][0]);
		b->base = 5.0e10 + (double)(i % 1000) * 1048576;
		b->step = 0;
	} else {
		add_label(b, "__name__", gauges[k - 76]);
		b->base = (double)(i % 100) * 0.25;
		b->step = (k % 2) ? 3 : 0;
	}
	qsort(b->labp, b->ts.n_labels, sizeof(b->labp[0]), label_ptr_cmp);
}

static void free_series(struct bseries *b)
{
	size_t i;

	for (i = 0; i < b->ts.n_labels; i++) {
		free(b->lab[i].name);
		free(b->lab[i].value);
	}
}

/* A snappy-compressed WriteRequest of series [from, to) at round r. */
struct body {
	char *data;  /* malloc'd snappy block */
	size_t len;  /* its length */
};

static void build_body(struct bseries *ser, size_t from, size_t to, unsigned r,
		       int64_t t0, Prometheus__TimeSeries **tsv, uint8_t **pb, size_t *pbcap,
		       struct body *out)
{
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
	size_t i, n, clen;

	for (i = from; i < to; i++) {
		ser[i].sample.timestamp = t0 + (int64_t)r * SCRAPE_MS + (int64_t)(i % 1000);
		ser[i].sample.value = ser[i].base + ser[i].step * r;
		tsv[i - from] = &ser[i].ts;
	}
	req.n_timeseries = to - from;
	req.timeseries = tsv;
	n = prometheus__write_request__get_packed_size(&req);
	if (n > *pbcap) {
		*pbcap = n * 2;
		free(*pb);
		*pb = malloc(*pbcap);
	}
	clen = snappy_max_compressed_length(n);
	out->data = malloc(clen);
	if (!*pb || !out->data) {
		perror("malloc");
		exit(1);
	}
	prometheus__write_request__pack(&req, *pb);
	if (snappy_compress((const char *)*pb, n, out->data, &clen) != SNAPPY_OK) {
		fprintf(stderr, "snappy_compress failed\n");
		exit(1);
	}
	out->len = clen;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* Build and write one round; adds the CPU seconds spent in rw_write to
 * *cpu and the samples stored to *samples. */
static void run_round(struct db *db, struct bseries *ser, size_t nser, size_t batch,
		      unsigned r, int64_t t0, Prometheus__TimeSeries **tsv, uint8_t **pb,
		      size_t *pbcap, double *cpu, uint64_t *samples, uint64_t *bytes)
{
	struct rw_result res;
	struct body b;
	size_t from;

	for (from = 0; from < nser; from += batch) {
		size_t to = from + batch < nser ? from + batch : nser;
		double c0;

		build_body(ser, from, to, r, t0, tsv, pb, pbcap, &b);
		c0 = cpu_seconds();
		rw_write(db, RW_V1, (const uint8_t *)b.data, b.len, NULL, &res);
		*cpu += cpu_seconds() - c0;
		*bytes += b.len;
		free(b.data);
		if (res.status != 204) {
			fprintf(stderr, "round %u: status %d: %s\n", r, res.status, res.msg);
			exit(1);
		}
		*samples += res.samples_written;
	}
}

int main(int argc, char **argv)
{
	size_t nser = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
	double max_cpu = argc > 3 ? strtod(argv[3], NULL) : 4.0;
	int64_t t0 = 1700000000000;
	struct bseries *ser;
	Prometheus__TimeSeries **tsv;
	uint8_t *pb = NULL;
	size_t pbcap = 0, i, rss0, rss1;
	double cpu0 = 0, cpu = 0, w0, wall;
	uint64_t samples0 = 0, samples = 0, bytes = 0, bytes0 = 0;
	struct ts_error err;
	struct db *db;
	unsigned r;

	if (nser == 0 || batch == 0) {
		fprintf(stderr, "usage: %s [SERIES [BATCH [MAX_SECONDS]]]\n", argv[0]);
		return 2;
	}
	ser = calloc(nser, sizeof(*ser));
	tsv = calloc(batch, sizeof(*tsv));
	if (!ser || !tsv) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < nser; i++)
		make_series(&ser[i], i);
	db = db_open(NULL, NULL, &err);
	if (!db) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		return 1;
	}

	/* 1. series creation */
	malloc_trim(0);
	rss0 = rss_bytes();
	run_round(db, ser, nser, batch, 0, t0, tsv, &pb, &pbcap, &cpu0, &samples0, &bytes0);
	malloc_trim(0);
	rss1 = rss_bytes();

	/* 2. appends to existing series */
	w0 = wall_seconds();
	for (r = 1; cpu < max_cpu && r < 100000; r++)
		run_round(db, ser, nser, batch, r, t0, tsv, &pb, &pbcap, &cpu, &samples, &bytes);
	wall = wall_seconds() - w0;

	printf("series=%zu\n", nser);
	printf("batch=%zu\n", batch);
	printf("rounds=%u\n", r - 1);
	printf("samples=%llu\n", (unsigned long long)samples);
	printf("cpu_seconds=%.3f\n", cpu);
	printf("wall_seconds_incl_request_building=%.3f\n", wall);
	printf("snappy_bytes_per_sample=%.1f\n", samples ? (double)bytes / (double)samples : 0);
	printf("create_samples_per_cpu_second=%.0f\n", cpu0 > 0 ? (double)samples0 / cpu0 : 0);
	printf("samples_per_cpu_second=%.0f\n", cpu > 0 ? (double)samples / cpu : 0);
	printf("rss_bytes_per_series=%.0f\n",
	       rss1 > rss0 ? (double)(rss1 - rss0) / (double)nser : 0);

	db_close(db);
	for (i = 0; i < nser; i++)
		free_series(&ser[i]);
	free(ser);
	free(tsv);
	free(pb);
	return 0;
}
