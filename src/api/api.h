/*
 * api.h - the Prometheus HTTP API of varve, mounted on an http_server.
 *
 * Endpoints (Prometheus's parameters, JSON shapes, status codes):
 *
 *   POST /api/v1/write                remote_write 1.0 and 2.0
 *   POST /api/v1/read                 remote_read (SAMPLES, STREAMED_XOR_CHUNKS)
 *   GET|POST /api/v1/query            instant query (limit= caps series, as in Prometheus 3)
 *   GET|POST /api/v1/query_range      range query
 *   GET|POST /api/v1/format_query     canonical query text
 *   GET|POST /api/v1/parse_query      the query's syntax tree as JSON
 *   GET|POST /api/v1/series           series matching match[]
 *   GET|POST /api/v1/labels           label names
 *   GET /api/v1/label/<name>/values   label values (U__ escaping accepted)
 *   GET /api/v1/metadata              metric metadata
 *   GET /api/v1/status/buildinfo      build information
 *   GET /api/v1/status/tsdb           head and cardinality statistics
 *   GET /api/v1/status/runtimeinfo    process facts in Prometheus's shape
 *   GET /api/v1/rules, alerts, targets  empty (varve has no rules or scrapes)
 *   GET|POST /api/v1/query_exemplars  exemplars kept from remote_write (exemplars.c)
 *   OPTIONS /api/v1/...               CORS preflight (204)
 *   POST /write, /api/v2/write        InfluxDB line protocol 1.x and 2.x (influx.c;
 *                                     also under /influx/), InfluxDB's error shapes
 *   GET|HEAD /ping, GET|POST /query   InfluxDB health check, SHOW/CREATE DATABASE
 *   POST|PUT /api/v1/admin/tsdb/delete_series, clean_tombstones, snapshot
 *                                     with --enable-admin-api (admin.c)
 *   GET /-/healthy, /-/ready          liveness and readiness
 *   GET /metrics                      self-metrics, text exposition format
 *
 * Errors on /api/v1 are {"status":"error","errorType":...,"error":...}
 * with bad_data 400, execution 422, canceled 499, timeout 503, internal
 * 500, not_found 404 (Prometheus's mapping); remote_write answers plain
 * text as Prometheus's receiver does.
 */
#ifndef VARVE_API_API_H
#define VARVE_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "promql/engine.h"

struct db;
struct http_server;
struct api;
struct selfmetrics;

/* Defaults of the remote_read limits, Prometheus's
 * --storage.remote.read-max-bytes-in-frame and read-sample-limit. */
#define API_DEFAULT_RR_MAX_FRAME_BYTES (1u << 20)
#define API_DEFAULT_RR_SAMPLE_LIMIT 50000000u

struct api_opts {
	struct db *db;                  /* the store, not owned; required */
	struct pql_opts query;          /* engine settings (zero: defaults) */
	size_t rw_max_decoded_bytes;    /* remote_write decoded size limit (32 MiB when 0) */
	size_t rr_max_frame_bytes;      /* remote_read chunk bytes per frame (1 MiB when 0) */
	uint64_t rr_sample_limit;       /* remote_read SAMPLES cap (API_DEFAULT_RR_SAMPLE_LIMIT
					 * when 0; UINT64_MAX for none) */
	struct selfmetrics *metrics;    /* counters to update and render, not owned; may be NULL */
	bool admin;                     /* serve /api/v1/admin/tsdb/... (--enable-admin-api) */
};

/* A new API bound to opts->db; NULL when out of memory. Free with api_free
 * after the server that routes to it has stopped. */
struct api *api_new(const struct api_opts *opts);

/* Install every route of the API on s (before http_server_start).
 * Returns 0 or TS_ERR_NOMEM. */
int api_register(struct api *a, struct http_server *s);

/* Free a. NULL is a no-op. */
void api_free(struct api *a);

#endif
