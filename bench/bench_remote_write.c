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
 *   3. the same rounds again as remote_write 2.0 requests into a second
 *      db (v2_* keys): per request a symbols table holding each string
 *      once, label references, and per series the metadata (type and
 *      help) that a 2.0 sender attaches to every series
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
#include "write_v2.pb-c.h"
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

/* ------------------------------------------------------------ 2.0 */

typedef Io__Prometheus__Write__V2__TimeSeries V2Series;
typedef Io__Prometheus__Write__V2__Sample V2Sample;
typedef Io__Prometheus__Write__V2__Metadata V2Metadata;

/* The series [from, to) as one 2.0 request, built once; rounds only
 * change the sample of each series. */
struct v2batch {
	size_t from, to;       /* series of the batch */
	char **sym;            /* symbols table ("" first); strings owned by the series */
	size_t nsym;           /* entries used */
	char **help;           /* help texts made for the batch (malloc'd) */
	size_t nhelp;          /* their number */
	V2Series *ts;          /* one entry per series */
	V2Series **tsp;        /* pointers for the request */
	V2Sample *sample;      /* the one sample of each series */
	V2Sample **samplep;    /* pointers for ts[i].samples */
	V2Metadata *md;        /* metadata of each series */
	uint32_t *refs;        /* label references of all series */
};

#define SYMTAB_SLOTS (1u << 16)

/* Index of s in the batch's symbols table, added when new. */
static uint32_t v2_symbol(struct v2batch *vb, uint32_t *slots, const char *s)
{
	uint32_t h = 2166136261u;
	const char *p;

	for (p = s; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (h &= SYMTAB_SLOTS - 1;; h = (h + 1) & (SYMTAB_SLOTS - 1)) {
		if (slots[h] == 0) {
			slots[h] = (uint32_t)vb->nsym + 1;
			vb->sym[vb->nsym] = (char *)s;
			return (uint32_t)vb->nsym++;
		}
		if (strcmp(vb->sym[slots[h] - 1], s) == 0)
			return slots[h] - 1;
	}
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		perror("calloc");
		exit(1);
	}
	return p;
}

static void v2_build(struct v2batch *vb, struct bseries *ser, size_t from, size_t to)
{
	uint32_t *slots = xcalloc(SYMTAB_SLOTS, sizeof(*slots));
	size_t n = to - from, nl = 0, i, k, r = 0;

	for (i = from; i < to; i++)
		nl += ser[i].ts.n_labels;
	vb->from = from;
	vb->to = to;
	vb->sym = xcalloc(2 * nl + 2 * n + 1, sizeof(*vb->sym));
	vb->help = xcalloc(n, sizeof(*vb->help));
	vb->ts = xcalloc(n, sizeof(*vb->ts));
	vb->tsp = xcalloc(n, sizeof(*vb->tsp));
	vb->sample = xcalloc(n, sizeof(*vb->sample));
	vb->samplep = xcalloc(n, sizeof(*vb->samplep));
	vb->md = xcalloc(n, sizeof(*vb->md));
	vb->refs = xcalloc(2 * nl, sizeof(*vb->refs));
	v2_symbol(vb, slots, "");
	for (i = 0; i < n; i++) {
		struct bseries *b = &ser[from + i];
		V2Series *t = &vb->ts[i];
		const char *name = "";
		char help[128];

		io__prometheus__write__v2__time_series__init(t);
		io__prometheus__write__v2__sample__init(&vb->sample[i]);
		io__prometheus__write__v2__metadata__init(&vb->md[i]);
		t->labels_refs = vb->refs + r;
		for (k = 0; k < b->ts.n_labels; k++) {
			vb->refs[r++] = v2_symbol(vb, slots, b->lab[k].name);
			vb->refs[r++] = v2_symbol(vb, slots, b->lab[k].value);
			if (strcmp(b->lab[k].name, "__name__") == 0)
				name = b->lab[k].value;
		}
		t->n_labels_refs = 2 * b->ts.n_labels;
		vb->samplep[i] = &vb->sample[i];
		t->samples = &vb->samplep[i];
		t->n_samples = 1;
		vb->md[i].type = b->step > 0 ? IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_COUNTER
					     : IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_GAUGE;
		snprintf(help, sizeof(help), "Help text of %s.", name);
		vb->help[vb->nhelp] = strdup(help);
		if (!vb->help[vb->nhelp]) {
			perror("strdup");
			exit(1);
		}
		vb->md[i].help_ref = v2_symbol(vb, slots, vb->help[vb->nhelp]);
		if (vb->sym[vb->md[i].help_ref] == vb->help[vb->nhelp])
			vb->nhelp++;
		else
			free(vb->help[vb->nhelp]);
		t->metadata = &vb->md[i];
		vb->tsp[i] = t;
	}
	free(slots);
}

static void v2_free(struct v2batch *vb)
{
	size_t i;

	for (i = 0; i < vb->nhelp; i++)
		free(vb->help[i]);
	free(vb->help);
	free(vb->sym);
	free(vb->ts);
	free(vb->tsp);
	free(vb->sample);
	free(vb->samplep);
	free(vb->md);
	free(vb->refs);
}

/* Round r of batch vb as a snappy-compressed 2.0 request. */
static void v2_body(struct v2batch *vb, struct bseries *ser, unsigned r, int64_t t0,
		    uint8_t **pb, size_t *pbcap, struct body *out)
{
	Io__Prometheus__Write__V2__Request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
	size_t i, n, clen;

	for (i = vb->from; i < vb->to; i++) {
		vb->sample[i - vb->from].timestamp =
			t0 + (int64_t)r * SCRAPE_MS + (int64_t)(i % 1000);
		vb->sample[i - vb->from].value = ser[i].base + ser[i].step * r;
	}
	req.n_symbols = vb->nsym;
	req.symbols = vb->sym;
	req.n_timeseries = vb->to - vb->from;
	req.timeseries = vb->tsp;
	n = io__prometheus__write__v2__request__get_packed_size(&req);
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
	io__prometheus__write__v2__request__pack(&req, *pb);
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
		      size_t *pbcap, double *cpu, uint64_t *samples, uint64_t *bytes,
		      struct v2batch *vbs)
{
	struct rw_result res;
	struct body b;
	size_t from;

	for (from = 0; from < nser; from += batch) {
		size_t to = from + batch < nser ? from + batch : nser;
		double c0;

		if (vbs)
			v2_body(&vbs[from / batch], ser, r, t0, pb, pbcap, &b);
		else
			build_body(ser, from, to, r, t0, tsv, pb, pbcap, &b);
		c0 = cpu_seconds();
		rw_write(db, vbs ? RW_V2 : RW_V1, (const uint8_t *)b.data, b.len, NULL, &res);
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
	double cpu0 = 0, cpu = 0, w0, wall, v1_rate;
	struct v2batch *vbs;
	size_t nb;
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
	run_round(db, ser, nser, batch, 0, t0, tsv, &pb, &pbcap, &cpu0, &samples0, &bytes0,
		  NULL);
	malloc_trim(0);
	rss1 = rss_bytes();

	/* 2. appends to existing series */
	w0 = wall_seconds();
	for (r = 1; cpu < max_cpu && r < 100000; r++)
		run_round(db, ser, nser, batch, r, t0, tsv, &pb, &pbcap, &cpu, &samples, &bytes,
			  NULL);
	wall = wall_seconds() - w0;

	printf("series=%zu\n", nser);
	printf("batch=%zu\n", batch);
	printf("rounds=%u\n", r - 1);
	printf("samples=%llu\n", (unsigned long long)samples);
	printf("cpu_seconds=%.3f\n", cpu);
	printf("wall_seconds_incl_request_building=%.3f\n", wall);
	printf("snappy_bytes_per_sample=%.1f\n", samples ? (double)bytes / (double)samples : 0);
	printf("create_samples_per_cpu_second=%.0f\n", cpu0 > 0 ? (double)samples0 / cpu0 : 0);
	v1_rate = cpu > 0 ? (double)samples / cpu : 0;
	printf("samples_per_cpu_second=%.0f\n", v1_rate);
	printf("rss_bytes_per_series=%.0f\n",
	       rss1 > rss0 ? (double)(rss1 - rss0) / (double)nser : 0);

	db_close(db);

	/* 3. the same load as 2.0 requests, into a fresh db */
	nb = (nser + batch - 1) / batch;
	vbs = xcalloc(nb, sizeof(*vbs));
	for (i = 0; i < nb; i++)
		v2_build(&vbs[i], ser, i * batch, (i + 1) * batch < nser ? (i + 1) * batch : nser);
	db = db_open(NULL, NULL, &err);
	if (!db) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		return 1;
	}
	cpu0 = cpu = 0;
	samples0 = samples = bytes = bytes0 = 0;
	run_round(db, ser, nser, batch, 0, t0, tsv, &pb, &pbcap, &cpu0, &samples0, &bytes0, vbs);
	for (r = 1; cpu < max_cpu && r < 100000; r++)
		run_round(db, ser, nser, batch, r, t0, tsv, &pb, &pbcap, &cpu, &samples, &bytes,
			  vbs);
	printf("v2_rounds=%u\n", r - 1);
	printf("v2_samples=%llu\n", (unsigned long long)samples);
	printf("v2_cpu_seconds=%.3f\n", cpu);
	printf("v2_snappy_bytes_per_sample=%.1f\n",
	       samples ? (double)bytes / (double)samples : 0);
	printf("v2_create_samples_per_cpu_second=%.0f\n",
	       cpu0 > 0 ? (double)samples0 / cpu0 : 0);
	printf("v2_samples_per_cpu_second=%.0f\n", cpu > 0 ? (double)samples / cpu : 0);
	printf("v2_to_v1_speed=%.2f\n", cpu > 0 && v1_rate > 0 ? (double)samples / cpu / v1_rate : 0);
	db_close(db);
	for (i = 0; i < nb; i++)
		v2_free(&vbs[i]);
	free(vbs);

	for (i = 0; i < nser; i++)
		free_series(&ser[i]);
	free(ser);
	free(tsv);
	free(pb);
	return 0;
}
