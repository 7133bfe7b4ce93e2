/*
 * fuzz_remote_write_v2.c - remote_write 2.0 bodies into a memory db.
 *
 * Every input is tried twice, like fuzz_remote_write: as the request body
 * itself (the snappy decoder and its limits) and snappy-compressed first,
 * so that the bytes reach the 2.0 decoder and the storing path as an
 * io.prometheus.write.v2.Request. A fresh memory db per input; the run
 * must not crash, trip a sanitizer or leak, every answer must be one of
 * the statuses rw_write documents, the counters must add up, and the
 * second run must call a body malformed exactly when protobuf-c's own
 * unpack refuses it.
 */
#include "tests/fuzz/fuzz.h"

#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/remote_write.h"
#include "tsdb/db.h"
#include "util/arena.h"
#include "write_v2.pb-c.h"

/* Small enough to reach the 413 path with fuzzed snappy headers. */
#define FUZZ_MAX_DECODED ((size_t)1 << 20)

#define MSG_MALFORMED "cannot decode protobuf io.prometheus.write.v2.Request"

static void check_result(const struct rw_result *res)
{
	uint64_t rejected = 0;
	int i;

	for (i = 0; i < RW_REASON__COUNT; i++)
		rejected += res->rejected[i];
	if (res->exemplars_written > res->exemplars || res->histograms_written)
		abort();
	switch (res->status) {
	case 204:
		if (rejected || res->msg[0])
			abort();
		break;
	case 400:
	case 413:
	case 415:
	case 500:
		if (!res->msg[0] || memchr(res->msg, '\n', strlen(res->msg)))
			abort();
		break;
	default:
		abort();
	}
}

static void run(const uint8_t *body, size_t len, struct rw_result *out)
{
	struct rw_opts opts = { .max_decoded_bytes = FUZZ_MAX_DECODED };
	struct ts_error err;
	struct rw_result res;
	struct db *db = db_open(NULL, NULL, &err);

	if (!db)
		return;
	rw_write(db, RW_V2, body, len, &opts, &res);
	check_result(&res);
	db_close(db);
	*out = res;
}

/* Does protobuf-c accept data as a 2.0 Request? */
static bool protobuf_c_accepts(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(0);
	ProtobufCAllocator pa;
	bool ok;

	if (!a)
		abort();
	arena_protobuf_allocator(a, &pa);
	ok = io__prometheus__write__v2__request__unpack(&pa, size, data) != NULL;
	arena_free(a);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rw_result res;
	size_t clen;
	char *comp;

	run(data, size, &res);

	if (size > FUZZ_MAX_DECODED)
		return 0;
	clen = snappy_max_compressed_length(size);
	comp = malloc(clen);
	if (!comp)
		return 0;
	if (snappy_compress((const char *)data, size, comp, &clen) == SNAPPY_OK) {
		bool rejected;

		run((const uint8_t *)comp, clen, &res);
		rejected = res.status == 400 && strcmp(res.msg, MSG_MALFORMED) == 0;
		/* 413/500 mean memory ran out before a verdict */
		if (res.status != 413 && res.status != 500 &&
		    rejected == protobuf_c_accepts(data, size))
			abort();
	}
	free(comp);
	return 0;
}
