/*
 * params.h - parsing of the HTTP API's parameter values: timestamps,
 * durations and limits, with Prometheus's accepted forms and error texts.
 *
 *   time:     Unix seconds as a float ("1700000000.123", rounded to the
 *             millisecond) or RFC 3339 ("2023-11-14T22:13:20.123Z",
 *             truncated to the millisecond); also the two strings
 *             Prometheus's clients send for "no bound"
 *             (PARAM_MIN_TIME_STR, PARAM_MAX_TIME_STR).
 *   duration: float seconds ("15", "0.5") or Prometheus's duration syntax
 *             ("1h30m", "5m", "250ms"; units y w d h m s ms, each at most
 *             once and in that order).
 *
 * Results are int64 milliseconds. Errors fill a struct ts_error with
 * TS_ERR_INVALID and Prometheus's wording ("cannot parse \"x\" to a valid
 * timestamp"); callers prefix `invalid parameter "name": `.
 */
#ifndef VARVE_API_PARAMS_H
#define VARVE_API_PARAMS_H

#include <stdint.h>

#include "util/error.h"

/* The default start and end of optional time ranges (milliseconds), the
 * same instants Prometheus's API uses. */
#define PARAM_MIN_TIME_MS (-9223309901257974000LL)
#define PARAM_MAX_TIME_MS 9223309901257974999LL

/* Their RFC 3339 spellings, which clients send back to mean "unbounded". */
#define PARAM_MIN_TIME_STR "-292273086-05-16T16:47:06Z"
#define PARAM_MAX_TIME_STR "292277025-08-18T07:12:54.999999999Z"

/* Parse a timestamp (see above) into *ms. */
int param_parse_time(const char *s, int64_t *ms, struct ts_error *err);

/* Parse an API duration: float seconds or Prometheus syntax, into *ms
 * (sub-millisecond parts are truncated; *ms may be 0 or negative for float
 * input, callers check). */
int param_parse_duration(const char *s, int64_t *ms, struct ts_error *err);

/* Parse Prometheus duration syntax only ("5m", "1h30m", "0"), as used by
 * command-line flags, into *ms. */
int param_parse_prom_duration(const char *s, int64_t *ms, struct ts_error *err);

/*
 * Parse a non-negative decimal integer limit ("" is not accepted: callers
 * treat a missing parameter as 0 = no limit). Errors: `strconv.Atoi:
 * parsing "x": invalid syntax` style text for garbage, "limit must be
 * non-negative" for negatives.
 */
int param_parse_limit(const char *s, int64_t *out, struct ts_error *err);

#endif
