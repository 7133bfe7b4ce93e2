/*
 * fuzz_text_import.c - Prometheus text and OpenMetrics bodies into a
 * memory db.
 *
 * Every input is imported twice into fresh memory dbs: as it comes
 * (0.0.4, or OpenMetrics when it ends in "# EOF") and forced to
 * OpenMetrics, with an extra label. The run must not crash, trip a
 * sanitizer or leak; every answer must be 204 without rejected lines, or
 * 400/500 with a one-line message naming a line that exists, and the
 * counters must add up.
 */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/text_import.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"

static void run(const uint8_t *data, size_t size, bool om)
{
	static const struct label extra[] = { { "job", "fuzz" } };
	struct ti_opts opts = { .default_ms = 1700000000000LL, .extra = extra, .nextra = 1,
				.openmetrics = om };
	struct ts_error err;
	struct ti_result res;
	struct db *db = db_open(NULL, NULL, &err);

	if (!db)
		return;
	ti_import(db, (const char *)data, size, &opts, &res);
	if (res.samples_written + res.samples_rejected + res.created_skipped > res.lines)
		abort();
	switch (res.status) {
	case 204:
		if (res.samples_rejected || res.msg[0] || res.first_bad_line)
			abort();
		break;
	case 400:
		if (!res.first_bad_line || res.first_bad_line > res.lines)
			abort();
		/* fall through */
	case 500:
		if (!res.msg[0] || strchr(res.msg, '\n') ||
		    !utf8_valid(res.msg, strlen(res.msg)))
			abort();
		break;
	default:
		abort();
	}
	db_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}
