/*
 * selfmetrics.h - varve's own metrics, rendered in Prometheus's text
 * exposition format (version 0.0.4) on /metrics.
 *
 * Counters that the request path bumps are relaxed atomics, so writers
 * never lock. Storage figures (series, samples appended) are read from
 * db_stats at render time rather than counted twice.
 *
 * Families:
 *   varve_build_info{version,revision}            gauge, 1
 *   varve_samples_ingested_total                  counter (db_stats)
 *   varve_series_created_total                    counter (db_stats)
 *   varve_head_series, varve_head_chunks          gauges  (db_stats)
 *   varve_symbols, varve_head_bytes               gauges  (db_stats)
 *   varve_remote_write_exemplars_total            counter
 *   varve_remote_write_histograms_total           counter (received, not stored)
 *   varve_remote_write_metadata_total             counter
 *   varve_rejected_samples_total{reason}          counter
 *   varve_http_requests_total{handler,code}       counter (handler = route pattern)
 *   varve_http_request_duration_seconds{handler}  histogram
 *   process_start_time_seconds, process_resident_memory_bytes,
 *   process_virtual_memory_bytes, process_cpu_seconds_total, process_open_fds
 */
#ifndef VARVE_API_SELFMETRICS_H
#define VARVE_API_SELFMETRICS_H

#include <stdint.h>

#include "util/buf.h"

struct db;
struct rw_result;
struct selfmetrics;

/* New counters, all zero; the process start time is taken now. NULL when
 * out of memory. Free with selfmetrics_free. */
struct selfmetrics *selfmetrics_new(void);

/* NULL is a no-op. */
void selfmetrics_free(struct selfmetrics *sm);

/*
 * Count one answered HTTP request and its duration. Matches
 * http_observer_fn, so it can be
 * the server's observer with sm as context. route is the route pattern;
 * at most SELFMETRICS_MAX_ROUTES distinct patterns are kept (others count
 * under "other"). Thread-safe.
 */
#define SELFMETRICS_MAX_ROUTES 48
void selfmetrics_observe_request(const char *route, int status, double seconds, void *sm);

/* Add the counts of one remote_write request. Thread-safe. */
void selfmetrics_add_write(struct selfmetrics *sm, const struct rw_result *res);

/* Append every family to out; db may be NULL (storage families omitted). */
void selfmetrics_render(struct selfmetrics *sm, struct db *db, struct buf *out);

#endif
