/*
 * bench_line_protocol.c - InfluxDB line-protocol ingestion speed next to
 * remote_write 1.0 on the same series, without HTTP.
 *
 * Shape of the load:
 *   - HOSTS hosts (default 100) of Telegraf's host metrics: 10 lines of 10
 *     fields each (cpu per core and total, mem, diskio per device, net,
 *     system), tags host, dc and the per-line device tag: 100 series per
 *     host, 10,000 by default
 *   - line protocol: requests of 1,000 lines (Telegraf's default
 *     metric_batch_size), millisecond timestamps, no db
 *   - remote_write 1.0: the same series as Prometheus would send them
 *     (`<measurement>_<field>` with the same tags, labels sorted), 2,000
 *     series entries per snappy-compressed request
 *   - one round = every series once, 10 s after the previous round
 *
 * What is measured: for each protocol, a fresh memory db; round 0 creates
 * the series (create_*), then rounds append until MAX_SECONDS of CPU time
 * went into lp_write / rw_write. samples per CPU-second = samples stored /
 * process CPU time (user + sys, getrusage) inside those calls: parsing,
 * name mapping, validation, series lookup, appending. Building the
 * requests happens before and is not counted.
 *
 * Usage: bench_line_protocol [HOSTS [MAX_SECONDS]]
 * Output: key=value lines.
 */
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ingest/line_protocol.h"
#include "ingest/remote_write.h"
#include "prometheus.pb-c.h"
#include "tsdb/db.h"
#include "util/buf.h"

#define LINES_PER_HOST 10
#define FIELDS 10
#define LP_BATCH 1000
#define RW_BATCH 2000
#define STEP_MS 10000
#define MAX_TAGS 4

/* One line of the load: a measurement, its tags and field names. */
struct bline {
	const char *meas;                /* measurement */
	const char *tagk[MAX_TAGS];      /* tag keys */
	char tagv[MAX_TAGS][32];         /* tag values */
	size_t ntags;                    /* number of tags */
	const char *const *fields;       /* FIELDS field names */
};

static const char *const cpu_f[FIELDS] = {
	"usage_user", "usage_system", "usage_idle", "usage_iowait", "usage_irq",
	"usage_softirq", "usage_steal", "usage_nice", "usage_guest", "usage_guest_nice",
};
static const char *const mem_f[FIELDS] = {
	"total", "available", "used", "free", "cached", "buffered", "active", "inactive",
	"used_percent", "available_percent",
};
static const char *const disk_f[FIELDS] = {
	"reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time", "io_time",
	"weighted_io_time", "iops_in_progress", "merged_reads",
};
static const char *const net_f[FIELDS] = {
	"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out",
	"drop_in", "drop_out", "tcp_inerrs", "udp_indatagrams",
};
static const char *const sys_f[FIELDS] = {
	"load1", "load5", "load15", "n_users", "n_cpus", "uptime", "n_procs", "n_threads",
	"ctx", "forks",
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("malloc");
		exit(1);
	}
	return p;
}

static void make_line(struct bline *l, size_t h, size_t k)
{
	static const char *const cpus[5] = { "cpu-total", "cpu0", "cpu1", "cpu2", "cpu3" };

	memset(l, 0, sizeof(*l));
	l->tagk[0] = "host";
	snprintf(l->tagv[0], sizeof(l->tagv[0]), "host%03zu", h);
	l->tagk[1] = "dc";
	snprintf(l->tagv[1], sizeof(l->tagv[1]), "dc%zu", h % 4);
	l->ntags = 2;
	if (k < 5) {
		l->meas = "cpu";
		l->fields = cpu_f;
		l->tagk[2] = "cpu";
		snprintf(l->tagv[2], sizeof(l->tagv[2]), "%s", cpus[k]);
		l->ntags = 3;
	} else if (k == 5) {
		l->meas = "mem";
		l->fields = mem_f;
	} else if (k < 8) {
		l->meas = "diskio";
		l->fields = disk_f;
		l->tagk[2] = "name";
		snprintf(l->tagv[2], sizeof(l->tagv[2]), "sd%c", (int)('a' + k - 6));
		l->ntags = 3;
	} else if (k == 8) {
		l->meas = "net";
		l->fields = net_f;
		l->tagk[2] = "interface";
		snprintf(l->tagv[2], sizeof(l->tagv[2]), "eth0");
		l->ntags = 3;
	} else {
		l->meas = "system";
		l->fields = sys_f;
	}
}

/* Value of sample i (series index) in round r: a few decimals. */
static double value(size_t i, unsigned r)
{
	return (double)((i * 7919) % 100000) / 100.0 + r * ((double)(i % 5) + 0.25);
}

/* One request body. */
struct body {
	char *data;  /* malloc'd bytes */
	size_t len;  /* length */
};

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Line-protocol bodies of round r. */
static struct body *lp_round(const struct bline *lines, size_t nlines, unsigned r, int64_t t0,
			     size_t *nbodies)
{
	struct body *out = xmalloc((nlines / LP_BATCH + 1) * sizeof(*out));
	struct buf b = BUF_INIT;
	size_t i, k, n = 0;

	for (i = 0; i < nlines; i++) {
		const struct bline *l = &lines[i];

		buf_addstr(&b, l->meas);
		for (k = 0; k < l->ntags; k++)
			buf_printf(&b, ",%s=%s", l->tagk[k], l->tagv[k]);
		for (k = 0; k < FIELDS; k++) {
			buf_addch(&b, k ? ',' : ' ');
			buf_addstr(&b, l->fields[k]);
			buf_addch(&b, '=');
			buf_add_float(&b, value(i * FIELDS + k, r));
		}
		buf_printf(&b, " %lld\n", (long long)(t0 + (int64_t)r * STEP_MS));
		if ((i + 1) % LP_BATCH == 0 || i + 1 == nlines) {
			if (!buf_ok(&b)) {
				perror("buf");
				exit(1);
			}
			out[n].data = buf_detach(&b, &out[n].len);
			n++;
		}
	}
	*nbodies = n;
	return out;
}

/* One remote_write series: labels and its sample. */
struct rseries {
	Prometheus__TimeSeries ts;            /* the entry */
	Prometheus__Label lab[MAX_TAGS + 1];  /* labels */
	Prometheus__Label *labp[MAX_TAGS + 1]; /* sorted pointers */
	Prometheus__Sample sample;            /* the sample */
	Prometheus__Sample *samplep;          /* pointer for ts.samples */
	char name[64];                        /* __name__ value */
};

static int label_ptr_cmp(const void *a, const void *b)
{
	return strcmp((*(Prometheus__Label *const *)a)->name,
		      (*(Prometheus__Label *const *)b)->name);
}

static struct rseries *rw_series(const struct bline *lines, size_t nlines)
{
	struct rseries *s = xmalloc(nlines * FIELDS * sizeof(*s));
	size_t i, f, k;

	for (i = 0; i < nlines; i++) {
		for (f = 0; f < FIELDS; f++) {
			struct rseries *x = &s[i * FIELDS + f];

			prometheus__time_series__init(&x->ts);
			prometheus__sample__init(&x->sample);
			snprintf(x->name, sizeof(x->name), "%s_%s", lines[i].meas,
				 lines[i].fields[f]);
			prometheus__label__init(&x->lab[0]);
			x->lab[0].name = "__name__";
			x->lab[0].value = x->name;
			for (k = 0; k < lines[i].ntags; k++) {
				prometheus__label__init(&x->lab[k + 1]);
				x->lab[k + 1].name = (char *)lines[i].tagk[k];
				x->lab[k + 1].value = (char *)lines[i].tagv[k];
			}
			for (k = 0; k <= lines[i].ntags; k++)
				x->labp[k] = &x->lab[k];
			qsort(x->labp, lines[i].ntags + 1, sizeof(x->labp[0]), label_ptr_cmp);
			x->ts.labels = x->labp;
			x->ts.n_labels = lines[i].ntags + 1;
			x->samplep = &x->sample;
			x->ts.samples = &x->samplep;
			x->ts.n_samples = 1;
		}
	}
	return s;
}

/* remote_write bodies of round r. */
static struct body *rw_round(struct rseries *s, size_t n, unsigned r, int64_t t0,
			     size_t *nbodies)
{
	struct body *out = xmalloc((n / RW_BATCH + 1) * sizeof(*out));
	Prometheus__TimeSeries **tsv = xmalloc(RW_BATCH * sizeof(*tsv));
	size_t from, i, nb = 0;

	for (from = 0; from < n; from += RW_BATCH) {
		Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
		size_t to = from + RW_BATCH < n ? from + RW_BATCH : n, len, clen;
		uint8_t *pb;

		for (i = from; i < to; i++) {
			s[i].sample.timestamp = t0 + (int64_t)r * STEP_MS;
			s[i].sample.value = value(i, r);
			tsv[i - from] = &s[i].ts;
		}
		req.timeseries = tsv;
		req.n_timeseries = to - from;
		len = prometheus__write_request__get_packed_size(&req);
		pb = xmalloc(len);
		prometheus__write_request__pack(&req, pb);
		clen = snappy_max_compressed_length(len);
		out[nb].data = xmalloc(clen);
		if (snappy_compress((const char *)pb, len, out[nb].data, &clen) != SNAPPY_OK) {
			fprintf(stderr, "snappy_compress failed\n");
			exit(1);
		}
		out[nb].len = clen;
		free(pb);
		nb++;
	}
	free(tsv);
	*nbodies = nb;
	return out;
}

static void free_bodies(struct body *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(b[i].data);
	free(b);
}

/* Results of one protocol. */
struct result {
	double create_rate;  /* samples per CPU-second, round 0 */
	double rate;         /* samples per CPU-second, later rounds */
	double bytes;        /* request bytes per sample */
	unsigned rounds;     /* append rounds run */
};

static struct db *new_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	if (!db) {
		fprintf(stderr, "db_open: %s\n", err.msg);
		exit(1);
	}
	return db;
}

static void run_lp(const struct bline *lines, size_t nlines, double max_s, struct result *res)
{
	struct db *db = new_db();
	int64_t t0 = 1700000000000;
	double spent = 0, c;
	uint64_t samples = 0;
	unsigned r;

	memset(res, 0, sizeof(*res));
	for (r = 0; r == 0 || spent < max_s; r++) {
		size_t nb, i, bytes = 0;
		struct body *b = lp_round(lines, nlines, r, t0, &nb);
		uint64_t got = 0;

		c = cpu_now();
		for (i = 0; i < nb; i++) {
			struct lp_opts o = { LP_MS, 0, NULL };
			struct lp_result lr;

			lp_write(db, b[i].data, b[i].len, &o, &lr);
			if (lr.status != 204) {
				fprintf(stderr, "lp_write: %d %s\n", lr.status, lr.msg);
				exit(1);
			}
			got += lr.samples_written;
			bytes += b[i].len;
		}
		c = cpu_now() - c;
		free_bodies(b, nb);
		if (r == 0) {
			res->create_rate = (double)got / c;
			res->bytes = (double)bytes / (double)got;
		} else {
			spent += c;
			samples += got;
		}
	}
	res->rounds = r - 1;
	res->rate = (double)samples / spent;
	db_close(db);
}

static void run_rw(const struct bline *lines, size_t nlines, double max_s, struct result *res)
{
	struct rseries *s = rw_series(lines, nlines);
	size_t n = nlines * FIELDS;
	struct db *db = new_db();
	int64_t t0 = 1700000000000;
	double spent = 0, c;
	uint64_t samples = 0;
	unsigned r;

	memset(res, 0, sizeof(*res));
	for (r = 0; r == 0 || spent < max_s; r++) {
		size_t nb, i, bytes = 0;
		struct body *b = rw_round(s, n, r, t0, &nb);
		uint64_t got = 0;

		c = cpu_now();
		for (i = 0; i < nb; i++) {
			struct rw_result rr;

			rw_write(db, RW_V1, (const uint8_t *)b[i].data, b[i].len, NULL, &rr);
			if (rr.status != 204) {
				fprintf(stderr, "rw_write: %d %s\n", rr.status, rr.msg);
				exit(1);
			}
			got += rr.samples_written;
			bytes += b[i].len;
		}
		c = cpu_now() - c;
		free_bodies(b, nb);
		if (r == 0) {
			res->create_rate = (double)got / c;
			res->bytes = (double)bytes / (double)got;
		} else {
			spent += c;
			samples += got;
		}
	}
	res->rounds = r - 1;
	res->rate = (double)samples / spent;
	db_close(db);
	free(s);
}

int main(int argc, char **argv)
{
	size_t hosts = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
	double max_s = argc > 2 ? atof(argv[2]) : 3.0;
	size_t nlines = hosts * LINES_PER_HOST, i;
	struct bline *lines;
	struct result lp, rw;

	if (!hosts || max_s <= 0) {
		fprintf(stderr, "usage: bench_line_protocol [HOSTS [MAX_SECONDS]]\n");
		return 2;
	}
	lines = xmalloc(nlines * sizeof(*lines));
	for (i = 0; i < nlines; i++)
		make_line(&lines[i], i / LINES_PER_HOST, i % LINES_PER_HOST);
	run_lp(lines, nlines, max_s, &lp);
	run_rw(lines, nlines, max_s, &rw);
	printf("series=%zu\n", nlines * FIELDS);
	printf("line_protocol_rounds=%u\n", lp.rounds);
	printf("line_protocol_bytes_per_sample=%.1f\n", lp.bytes);
	printf("line_protocol_create_samples_per_cpu_second=%.0f\n", lp.create_rate);
	printf("line_protocol_samples_per_cpu_second=%.0f\n", lp.rate);
	printf("remote_write_1_rounds=%u\n", rw.rounds);
	printf("remote_write_1_snappy_bytes_per_sample=%.1f\n", rw.bytes);
	printf("remote_write_1_create_samples_per_cpu_second=%.0f\n", rw.create_rate);
	printf("remote_write_1_samples_per_cpu_second=%.0f\n", rw.rate);
	printf("line_protocol_vs_remote_write_1=%.2f\n", lp.rate / rw.rate);
	free(lines);
	return 0;
}
