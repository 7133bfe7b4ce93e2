/*
 * params.c - timestamps, durations and limits of API parameters; see
 * params.h.
 *
 * RFC 3339 is parsed by hand (not strptime) so that it is locale- and
 * time-zone-free: YYYY-MM-DD 'T' hh:mm:ss [.fraction] ('Z' | ±hh:mm),
 * converted with the proleptic Gregorian day count below.
 */
#include "api/params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* n decimal digits at *p into *out; advances *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool parse_rfc3339(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, oh, om, frac_ms = 0, nfrac = 0;
	int64_t secs, off = 0;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || *p++ != 'T' || !digits(&p, 2, &h) || *p++ != ':' ||
	    !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p)) {
			if (nfrac < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			nfrac++;
			p++;
		}
		if (nfrac > 9)
			return false;
		for (; nfrac < 3; nfrac++)
			frac_ms *= 10;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		p++;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		off = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (*p)
		return false;
	secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	       sec - off;
	*ms = secs * 1000 + frac_ms;
	return true;
}

int param_parse_time(const char *s, int64_t *ms, struct ts_error *err)
{
	char *end;
	double t, ip, fp;

	if (*s && !isspace((unsigned char)*s)) {
		errno = 0;
		t = strtod(s, &end);
		if (*end == '\0' && errno != ERANGE) {
			if (!isfinite(t))
				goto bad;
			/* whole seconds plus the fraction rounded to ms */
			fp = modf(t, &ip);
			if (ip <= (double)(PARAM_MIN_TIME_MS / 1000)) {
				*ms = PARAM_MIN_TIME_MS;
			} else if (ip >= (double)(PARAM_MAX_TIME_MS / 1000)) {
				*ms = PARAM_MAX_TIME_MS;
			} else {
				*ms = (int64_t)ip * 1000 + (int64_t)llround(fp * 1000);
			}
			return 0;
		}
	}
	if (parse_rfc3339(s, ms))
		return 0;
	if (strcmp(s, PARAM_MIN_TIME_STR) == 0) {
		*ms = PARAM_MIN_TIME_MS;
		return 0;
	}
	if (strcmp(s, PARAM_MAX_TIME_STR) == 0) {
		*ms = PARAM_MAX_TIME_MS;
		return 0;
	}
bad:
	return ts_error_set(err, TS_ERR_INVALID, "cannot parse \"%s\" to a valid timestamp", s);
}

int param_parse_prom_duration(const char *s, int64_t *ms, struct ts_error *err)
{
	/* units in the only order allowed, with their size in ms */
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{ "y", 365LL * 24 * 3600 * 1000 }, { "w", 7LL * 24 * 3600 * 1000 },
		{ "d", 24LL * 3600 * 1000 },       { "h", 3600LL * 1000 },
		{ "m", 60LL * 1000 },              { "s", 1000 },
		{ "ms", 1 },
	};
	const char *p = s;
	size_t next = 0, u;
	int64_t total = 0;

	if (!*s)
		return ts_error_set(err, TS_ERR_INVALID, "empty duration string");
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		uint64_t v = 0;
		const char *start = p;

		while (isdigit((unsigned char)*p)) {
			if (v > (uint64_t)INT64_MAX / 10)
				goto range;
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == start)
			goto bad;
		/* "ms" before "m" so that 5ms is not 5m + garbage */
		if (p[0] == 'm' && p[1] == 's')
			u = 6;
		else
			for (u = 0; u < 6; u++)
				if (*p == units[u].name[0])
					break;
		if (u == 6 && !(p[0] == 'm' && p[1] == 's'))
			goto bad;
		if (u < next)
			goto bad;
		next = u + 1;
		p += strlen(units[u].name);
		if (v > (uint64_t)(INT64_MAX / units[u].ms))
			goto range;
		if ((int64_t)v * units[u].ms > INT64_MAX - total)
			goto range;
		total += (int64_t)v * units[u].ms;
	}
	*ms = total;
	return 0;
bad:
	return ts_error_set(err, TS_ERR_INVALID, "not a valid duration string: \"%s\"", s);
range:
	return ts_error_set(err, TS_ERR_INVALID, "duration out of range");
}

int param_parse_duration(const char *s, int64_t *ms, struct ts_error *err)
{
	char *end;
	double d;

	if (*s && !isspace((unsigned char)*s)) {
		errno = 0;
		d = strtod(s, &end);
		if (*end == '\0') {
			/* Prometheus converts to int64 nanoseconds first */
			if (isnan(d) || d * 1e9 >= 9223372036854775807.0 ||
			    d * 1e9 <= -9223372036854775808.0)
				return ts_error_set(err, TS_ERR_INVALID,
						    "cannot parse \"%s\" to a valid duration. It overflows int64",
						    s);
			*ms = (int64_t)(d * 1000);
			return 0;
		}
	}
	if (param_parse_prom_duration(s, ms, NULL) == 0) {
		/* must also fit in int64 nanoseconds */
		if (*ms > INT64_MAX / 1000000)
			return ts_error_set(err, TS_ERR_INVALID,
					    "cannot parse \"%s\" to a valid duration", s);
		return 0;
	}
	return ts_error_set(err, TS_ERR_INVALID, "cannot parse \"%s\" to a valid duration", s);
}

int param_parse_limit(const char *s, int64_t *out, struct ts_error *err)
{
	const char *p = s;
	bool neg = false;
	uint64_t v = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		goto bad;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		if (v > (uint64_t)INT64_MAX / 10)
			return ts_error_set(err, TS_ERR_INVALID,
					    "strconv.Atoi: parsing \"%s\": value out of range", s);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return ts_error_set(err, TS_ERR_INVALID,
				    "strconv.Atoi: parsing \"%s\": value out of range", s);
	if (neg && v)
		return ts_error_set(err, TS_ERR_INVALID, "limit must be non-negative");
	*out = (int64_t)v;
	return 0;
bad:
	return ts_error_set(err, TS_ERR_INVALID, "strconv.Atoi: parsing \"%s\": invalid syntax", s);
}
