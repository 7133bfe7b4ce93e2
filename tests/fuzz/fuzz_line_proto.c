/*
 * fuzz_line_proto.c - InfluxDB line protocol into a memory db.
 *
 * Each input is parsed point by point with lp_parser (checking what every
 * point promises: non-empty measurement, at least one field, non-empty tag
 * values, error messages of one line that name a line number), then
 * written with lp_write in every precision: the run must not crash, trip a
 * sanitizer or leak, every status must be one lp_write documents, and the
 * counters must agree with the parser's count of points and bad lines.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "ingest/line_protocol.h"
#include "tsdb/db.h"

static void check_parse(const char *data, size_t size, uint64_t *points, uint64_t *bad)
{
	struct lp_parser *p = lp_parser_new(data, size);
	struct lp_point pt;
	struct ts_error err;
	int rc, last_line = 0;
	size_t i;

	*points = *bad = 0;
	if (!p)
		return;
	while ((rc = lp_parser_next(p, &pt, &err)) != 0) {
		if (rc < 0) {
			if (rc != TS_ERR_INVALID || !err.msg[0] || strchr(err.msg, '\n') ||
			    strncmp(err.msg, "unable to parse '", 17) != 0 || err.line <= last_line)
				abort();
			last_line = err.line;
			(*bad)++;
			continue;
		}
		if (!pt.measurement[0] || pt.nfields == 0 || pt.line <= last_line)
			abort();
		last_line = pt.line;
		for (i = 0; i < pt.ntags; i++)
			if (!pt.tags[i].key[0] || !pt.tags[i].value[0])
				abort();
		for (i = 0; i < pt.nfields; i++)
			if (!pt.fields[i].key[0])
				abort();
		(*points)++;
	}
	lp_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum lp_precision precs[] = { LP_NS, LP_US, LP_MS, LP_S, LP_M, LP_H };
	uint64_t points, bad;
	size_t k;

	check_parse((const char *)data, size, &points, &bad);
	for (k = 0; k < sizeof(precs) / sizeof(precs[0]); k++) {
		struct lp_opts o = { precs[k], 1700000000123, k & 1 ? "fuzzdb" : NULL };
		struct lp_result res;
		struct ts_error err;
		struct db *db = db_open(NULL, NULL, &err);

		if (!db)
			return 0;
		lp_write(db, (const char *)data, size, &o, &res);
		switch (res.status) {
		case 204:
			if (res.msg[0] || res.bad_lines || res.rejected)
				abort();
			break;
		case 400:
		case 500:
			if (!res.msg[0] || strchr(res.msg, '\n'))
				abort();
			break;
		default:
			abort();
		}
		/* the parser's verdicts, plus points that did not map */
		if (res.status != 500 &&
		    (res.points != points || res.bad_lines < bad || res.bad_lines > bad + points))
			abort();
		db_close(db);
	}
	return 0;
}
