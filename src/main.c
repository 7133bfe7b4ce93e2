/*
 * main.c - the varve server: flags, start-up, signals, orderly stop.
 *
 * Start-up order: parse flags -> open the store (takes its lock, so a
 * second instance on the same directory fails here) -> build the API and
 * the HTTP server -> listen. SIGINT and SIGTERM are blocked in every thread
 * (the mask is set before the server's threads start) and collected by
 * the main thread with sigwait, which then stops the server (waiting for
 * running requests), closes the store and exits 0.
 *
 * Exit codes: 0 after a signal-driven stop, 1 when start-up fails, 2 for
 * bad flags.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/params.h"
#include "api/selfmetrics.h"
#include "config.h"
#include "http/server.h"
#include "ingest/influx_udp.h"
#include "ingest/remote_write.h"
#include "tsdb/db.h"
#include "util/log.h"

/* Settings from the command line. */
struct config {
	const char *listen;        /* --listen */
	const char *data_dir;      /* --data-dir */
	size_t rw_max_decoded;     /* --remote-write.max-decoded-bytes */
	size_t rr_max_frame;       /* --remote-read.max-bytes-in-frame */
	uint64_t rr_sample_limit;  /* --remote-read.sample-limit (UINT64_MAX: none) */
	size_t max_exemplars;      /* --storage.exemplars.max */
	int64_t lookback_ms;       /* --query.lookback-delta */
	int64_t timeout_ms;        /* --query.timeout */
	int64_t max_samples;       /* --query.max-samples */
	enum log_level log_level;  /* --log.level */
	unsigned http_workers;     /* --http.workers (0: default) */
	int wal_sync;              /* --wal-sync: 0 batch, 1 periodic, 2 none */
	int64_t wal_sync_interval_ms; /* --wal-sync-interval */
	int64_t block_ms;          /* --storage.block-duration */
	int64_t retention_ms;      /* --retention.time */
	uint64_t retention_bytes;  /* --retention.size (0: off) */
	bool admin_api;            /* --enable-admin-api */
	const char *influx_udp;    /* --influx-udp-listen (NULL: off) */
};

/* One command-line flag: name, placeholder and default for --help. */
static const struct flag_doc {
	const char *name;
	const char *arg;
	const char *def;
	const char *help;
} flags[] = {
	{ "listen", "ADDR", ":9201", "address to serve HTTP on: HOST:PORT, [V6]:PORT or :PORT (all interfaces)" },
	{ "data-dir", "DIR", "./data", "directory of the store (created if missing; locked while running)" },
	{ "remote-write.max-decoded-bytes", "BYTES", "33554432", "largest remote_write body after snappy decoding (also caps raw request bodies); suffixes KiB, MiB, GiB" },
	{ "remote-read.max-bytes-in-frame", "BYTES", "1048576", "chunk bytes per frame of a streamed remote_read answer before a series is split over frames; suffixes KiB, MiB, GiB" },
	{ "remote-read.sample-limit", "N", "50000000", "most samples one remote_read request may return as SAMPLES (0: no limit); streamed answers are not limited" },
	{ "query.lookback-delta", "DURATION", "5m", "how far back PromQL looks for the latest sample of a series" },
	{ "query.timeout", "DURATION", "2m", "longest a query may run before it fails with a timeout error" },
	{ "query.max-samples", "N", "50000000", "most samples a single query may load at once" },
	{ "http.workers", "N", "max(4, 2 x CPUs)", "threads that run queries, series/label lookups and remote read/write, so slow requests do not hold up others" },
	{ "influx-udp-listen", "ADDR", "off", "also take InfluxDB line protocol over UDP on HOST:PORT (nanosecond timestamps)" },
	{ "wal-sync", "MODE", "batch", "when a write is acknowledged: batch (after its WAL record is fsynced, concurrent writers sharing one fsync), periodic (before; fsync every --wal-sync-interval), none (before; never fsynced)" },
	{ "wal-sync-interval", "DURATION", "1s", "fsync interval of --wal-sync=periodic" },
	{ "retention.time", "DURATION", "15d", "blocks wholly older than this (behind the newest sample) are deleted" },
	{ "retention.size", "BYTES", "0", "the oldest blocks are deleted while blocks take more than this (KiB/MiB/GiB suffixes, at most 1 TiB; 0: no limit)" },
	{ "storage.exemplars.max", "N", "100000", "exemplars kept in memory for query_exemplars, over all series (the oldest are dropped first)" },
	{ "storage.block-duration", "DURATION", "2h", "time range of a block cut from the head (for tests; compaction merges up to 10% of retention)" },
	{ "enable-admin-api", NULL, NULL, "serve /api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot}" },
	{ "log.level", "LEVEL", "info", "least severe log level written: debug, info, warn, error" },
	{ "help", NULL, NULL, "show this help and exit" },
	{ "version", NULL, NULL, "show the version and exit" },
};

static void usage(FILE *out)
{
	size_t i;
	char left[64];

	fprintf(out, "usage: varve [flags]\n\n"
		     "Prometheus-compatible remote storage and PromQL query service.\n\nflags:\n");
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (flags[i].arg)
			snprintf(left, sizeof(left), "--%s=%s", flags[i].name, flags[i].arg);
		else
			snprintf(left, sizeof(left), "--%s", flags[i].name);
		fprintf(out, "  %-42s %s", left, flags[i].help);
		if (flags[i].def)
			fprintf(out, " (default %s)", flags[i].def);
		fputc('\n', out);
	}
}

static void bad_flag(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void bad_flag(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "varve: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n");
	usage(stderr);
	exit(2);
}

/* Byte size: digits with an optional KiB/MiB/GiB (or KB/MB/GB, B) suffix. */
static bool parse_bytes(const char *s, size_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = { { "", 0 },     { "B", 0 },    { "KiB", 10 }, { "KB", 10 },
		      { "MiB", 20 }, { "MB", 20 },  { "GiB", 30 }, { "GB", 30 } };
	unsigned long long v;
	char *end;
	size_t i;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) == 0) {
			/* at most 1 TiB, which keeps size arithmetic far from overflow */
			if (v == 0 || v > ((uint64_t)1 << 40) >> units[i].shift)
				return false;
			*out = (size_t)(v << units[i].shift);
			return true;
		}
	}
	return false;
}

static void apply_flag(struct config *c, const char *name, const char *val)
{
	struct ts_error err;
	char *end;
	long long n;

	if (strcmp(name, "listen") == 0) {
		if (!http_server_addr_valid(val))
			bad_flag("invalid --listen %s: want HOST:PORT, [V6]:PORT or :PORT", val);
		c->listen = val;
	} else if (strcmp(name, "data-dir") == 0) {
		if (!*val)
			bad_flag("--data-dir must not be empty");
		c->data_dir = val;
	} else if (strcmp(name, "remote-write.max-decoded-bytes") == 0) {
		if (!parse_bytes(val, &c->rw_max_decoded))
			bad_flag("invalid --remote-write.max-decoded-bytes %s", val);
	} else if (strcmp(name, "remote-read.max-bytes-in-frame") == 0) {
		if (!parse_bytes(val, &c->rr_max_frame) || c->rr_max_frame == 0)
			bad_flag("invalid --remote-read.max-bytes-in-frame %s", val);
	} else if (strcmp(name, "remote-read.sample-limit") == 0) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || *end || end == val || n < 0)
			bad_flag("invalid --remote-read.sample-limit %s: want a non-negative integer",
				 val);
		c->rr_sample_limit = n ? (uint64_t)n : UINT64_MAX;
	} else if (strcmp(name, "query.lookback-delta") == 0) {
		if (param_parse_prom_duration(val, &c->lookback_ms, &err) || c->lookback_ms <= 0)
			bad_flag("invalid --query.lookback-delta %s: %s", val,
				 c->lookback_ms <= 0 ? "must be positive" : err.msg);
	} else if (strcmp(name, "query.timeout") == 0) {
		if (param_parse_prom_duration(val, &c->timeout_ms, &err) || c->timeout_ms <= 0)
			bad_flag("invalid --query.timeout %s: %s", val,
				 c->timeout_ms <= 0 ? "must be positive" : err.msg);
	} else if (strcmp(name, "query.max-samples") == 0) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || *end || end == val || n <= 0)
			bad_flag("invalid --query.max-samples %s: want a positive integer", val);
		c->max_samples = n;
	} else if (strcmp(name, "http.workers") == 0) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || *end || end == val || n <= 0 || n > 1024)
			bad_flag("invalid --http.workers %s: want 1 to 1024", val);
		c->http_workers = (unsigned)n;
	} else if (strcmp(name, "influx-udp-listen") == 0) {
		if (!http_server_addr_valid(val))
			bad_flag("invalid --influx-udp-listen %s: want HOST:PORT, [V6]:PORT or :PORT",
				 val);
		c->influx_udp = val;
	} else if (strcmp(name, "wal-sync") == 0) {
		if (strcmp(val, "batch") == 0)
			c->wal_sync = 0;
		else if (strcmp(val, "periodic") == 0)
			c->wal_sync = 1;
		else if (strcmp(val, "none") == 0)
			c->wal_sync = 2;
		else
			bad_flag("invalid --wal-sync %s: want batch, periodic or none", val);
	} else if (strcmp(name, "storage.exemplars.max") == 0) {
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || *end || end == val || n <= 0 || n > 100000000)
			bad_flag("invalid --storage.exemplars.max %s: want 1 to 100000000", val);
		c->max_exemplars = (size_t)n;
	} else if (strcmp(name, "storage.block-duration") == 0) {
		if (param_parse_prom_duration(val, &c->block_ms, &err) || c->block_ms <= 0)
			bad_flag("invalid --storage.block-duration %s: %s", val,
				 c->block_ms <= 0 ? "must be positive" : err.msg);
	} else if (strcmp(name, "retention.time") == 0) {
		if (param_parse_prom_duration(val, &c->retention_ms, &err) || c->retention_ms <= 0)
			bad_flag("invalid --retention.time %s: %s", val,
				 c->retention_ms <= 0 ? "must be positive" : err.msg);
	} else if (strcmp(name, "retention.size") == 0) {
		size_t b = 0;

		if (strcmp(val, "0") != 0 && !parse_bytes(val, &b))
			bad_flag("invalid --retention.size %s: want bytes with an optional KiB/MiB/GiB suffix", val);
		c->retention_bytes = b;
	} else if (strcmp(name, "wal-sync-interval") == 0) {
		if (param_parse_prom_duration(val, &c->wal_sync_interval_ms, &err) ||
		    c->wal_sync_interval_ms <= 0)
			bad_flag("invalid --wal-sync-interval %s: %s", val,
				 c->wal_sync_interval_ms <= 0 ? "must be positive" : err.msg);
	} else if (strcmp(name, "log.level") == 0) {
		static const char *const levels[] = { "debug", "info", "warn", "error" };
		size_t i;

		for (i = 0; i < 4; i++)
			if (strcmp(val, levels[i]) == 0)
				break;
		if (i == 4)
			bad_flag("invalid --log.level %s", val);
		c->log_level = (enum log_level)i;
	} else {
		bad_flag("unknown flag --%s", name);
	}
}

static void parse_flags(struct config *c, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *val;
		char name[64];
		size_t nl, f;

		if (strncmp(a, "--", 2) != 0 || !a[2])
			bad_flag("unexpected argument %s", a);
		a += 2;
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name))
			bad_flag("unknown flag --%s", a);
		memcpy(name, a, nl);
		name[nl] = '\0';
		if (strcmp(name, "help") == 0 || strcmp(name, "h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(name, "version") == 0) {
			printf("varve %s\n", PACKAGE_VERSION);
			exit(0);
		}
		if (strcmp(name, "enable-admin-api") == 0) {
			if (eq)
				bad_flag("flag --%s takes no value", name);
			c->admin_api = true;
			continue;
		}
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (flags[f].arg && strcmp(flags[f].name, name) == 0)
				break;
		if (f == sizeof(flags) / sizeof(flags[0]))
			bad_flag("unknown flag --%s", name);
		if (eq) {
			val = eq + 1;
		} else {
			/* "--flag value" form */
			if (i + 1 >= argc)
				bad_flag("flag --%s needs a value", name);
			val = argv[++i];
		}
		apply_flag(c, name, val);
	}
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.listen = ":9201",
		.data_dir = "./data",
		.rw_max_decoded = RW_DEFAULT_MAX_DECODED_BYTES,
		.lookback_ms = 5 * 60 * 1000,
		.timeout_ms = 2 * 60 * 1000,
		.max_samples = 50000000,
		.log_level = LOG_INFO,
		.wal_sync_interval_ms = 1000,
	};
	struct http_server_opts sopts;
	struct api_opts aopts;
	struct db_opts dopts;
	struct selfmetrics *sm = NULL;
	struct http_server *srv = NULL;
	struct influx_udp *udp = NULL;
	struct api *api = NULL;
	struct db *db = NULL;
	struct ts_error err;
	char q1[512], q2[512];
	sigset_t sigs;
	int sig = 0, rc = 1;

	parse_flags(&cfg, argc, argv);
	log_set_level(cfg.log_level);

	/* block the stop signals before any thread exists, so that every
	 * thread inherits the mask and only sigwait below sees them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_msg(LOG_INFO, "starting varve", "version=%s listen=%s data_dir=%s", PACKAGE_VERSION,
		log_quote(cfg.listen, q1, sizeof(q1)), log_quote(cfg.data_dir, q2, sizeof(q2)));

	ts_error_clear(&err);
	memset(&dopts, 0, sizeof(dopts));
	dopts.wal_sync = cfg.wal_sync;
	dopts.wal_sync_interval_ms = cfg.wal_sync_interval_ms;
	dopts.block_duration_ms = cfg.block_ms;
	dopts.retention_ms = cfg.retention_ms;
	dopts.retention_bytes = cfg.retention_bytes;
	dopts.max_exemplars = cfg.max_exemplars;
	db = db_open(cfg.data_dir, &dopts, &err);
	if (!db) {
		log_msg(LOG_ERROR, "cannot open data directory", "data_dir=%s err=%s",
			log_quote(cfg.data_dir, q1, sizeof(q1)),
			log_quote(err.msg[0] ? err.msg : ts_strerror(err.code), q2, sizeof(q2)));
		return 1;
	}
	log_msg(LOG_INFO, "data directory opened", "data_dir=%s",
		log_quote(cfg.data_dir, q1, sizeof(q1)));

	sm = selfmetrics_new();
	memset(&aopts, 0, sizeof(aopts));
	aopts.db = db;
	aopts.query.lookback_ms = cfg.lookback_ms;
	aopts.query.timeout_ms = cfg.timeout_ms;
	aopts.query.max_samples = cfg.max_samples;
	aopts.rw_max_decoded_bytes = cfg.rw_max_decoded;
	aopts.rr_max_frame_bytes = cfg.rr_max_frame;
	aopts.rr_sample_limit = cfg.rr_sample_limit;
	aopts.metrics = sm;
	aopts.admin = cfg.admin_api;
	api = sm ? api_new(&aopts) : NULL;
	memset(&sopts, 0, sizeof(sopts));
	/* a snappy block can be a little larger than what it decodes to
	 * (incompressible input): leave room so the decoder, not the HTTP
	 * layer, has the last word on remote_write bodies */
	sopts.max_body_bytes = cfg.rw_max_decoded + cfg.rw_max_decoded / 6 + 1024;
	sopts.workers = cfg.http_workers;
	sopts.max_body_hint = "--remote-write.max-decoded-bytes (plus room for snappy overhead)";
	sopts.observer = selfmetrics_observe_request;
	sopts.observer_ctx = sm;
	srv = api ? http_server_new(&sopts) : NULL;
	if (!srv || api_register(api, srv)) {
		log_msg(LOG_ERROR, "cannot start: out of memory", NULL);
		goto out;
	}
	ts_error_clear(&err);
	if (http_server_start(srv, cfg.listen, &err)) {
		log_msg(LOG_ERROR, "cannot listen", "listen=%s err=%s",
			log_quote(cfg.listen, q1, sizeof(q1)), log_quote(err.msg, q2, sizeof(q2)));
		goto out;
	}
	log_msg(LOG_INFO, "listening", "listen=%s port=%u", log_quote(cfg.listen, q1, sizeof(q1)),
		(unsigned)http_server_port(srv));

	if (cfg.influx_udp) {
		ts_error_clear(&err);
		udp = influx_udp_start(db, cfg.influx_udp, &err);
		if (!udp) {
			log_msg(LOG_ERROR, "cannot listen for influx udp", "listen=%s err=%s",
				log_quote(cfg.influx_udp, q1, sizeof(q1)),
				log_quote(err.msg, q2, sizeof(q2)));
			goto out;
		}
		log_msg(LOG_INFO, "listening for influx line protocol over udp",
			"listen=%s port=%u", log_quote(cfg.influx_udp, q1, sizeof(q1)),
			(unsigned)influx_udp_port(udp));
	}

	while (sigwait(&sigs, &sig) != 0)
		;
	log_msg(LOG_INFO, "stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
out:
	influx_udp_stop(udp);
	http_server_stop(srv);
	http_server_free(srv);
	api_free(api);
	db_close(db);
	selfmetrics_free(sm);
	if (rc == 0)
		log_msg(LOG_INFO, "stopped", NULL);
	return rc;
}
