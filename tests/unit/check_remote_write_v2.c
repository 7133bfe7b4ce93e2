/*
 * check_remote_write_v2.c - remote_write 2.0 decoding and ingestion.
 *
 * Requests are written byte by byte with a small protobuf writer (so that
 * tests can send what no well-behaved encoder would: unpacked references,
 * out-of-range refs, the older created_timestamp field), checked against
 * protobuf-c's own unpack where they are meant to be valid, compressed
 * with snappy, written into a memory db with rw_write(RW_V2) and read
 * back through the querier, the metadata and the exemplar store.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/remote_write.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "prometheus.pb-c.h"
#include "write_v2.pb-c.h"

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* ------------------------------------------------------------ protobuf writer */

/* A message being written. */
struct pbw {
	uint8_t b[16384]; /* bytes */
	size_t n;         /* used */
};

static void pw_raw(struct pbw *w, const void *p, size_t n)
{
	ck_assert_uint_le(w->n + n, sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void pw_uvarint(struct pbw *w, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	pw_raw(w, tmp, n);
}

static void pw_tag(struct pbw *w, unsigned field, unsigned wt)
{
	pw_uvarint(w, (uint64_t)field << 3 | wt);
}

static void pw_varint(struct pbw *w, unsigned field, uint64_t v)
{
	pw_tag(w, field, 0);
	pw_uvarint(w, v);
}

static void pw_double(struct pbw *w, unsigned field, double v)
{
	uint64_t u;
	uint8_t le[8];
	int i;

	memcpy(&u, &v, 8);
	for (i = 0; i < 8; i++)
		le[i] = (uint8_t)(u >> (8 * i));
	pw_tag(w, field, 1);
	pw_raw(w, le, 8);
}

static void pw_bytes(struct pbw *w, unsigned field, const void *p, size_t n)
{
	pw_tag(w, field, 2);
	pw_uvarint(w, n);
	pw_raw(w, p, n);
}

static void pw_str(struct pbw *w, unsigned field, const char *s)
{
	pw_bytes(w, field, s, strlen(s));
}

static void pw_msg(struct pbw *w, unsigned field, const struct pbw *m)
{
	pw_bytes(w, field, m->b, m->n);
}

/* Repeated uint32 refs, packed or one tag each. */
static void pw_refs(struct pbw *w, unsigned field, const uint32_t *refs, size_t n, bool packed)
{
	struct pbw p = { .n = 0 };
	size_t i;

	if (!packed) {
		for (i = 0; i < n; i++)
			pw_varint(w, field, refs[i]);
		return;
	}
	for (i = 0; i < n; i++)
		pw_uvarint(&p, refs[i]);
	if (n)
		pw_msg(w, field, &p);
}

/* Sample{value, timestamp, start_timestamp (0: absent)}. */
static void pw_sample(struct pbw *ts, double v, int64_t t, int64_t st)
{
	struct pbw s = { .n = 0 };

	pw_double(&s, 1, v);
	pw_varint(&s, 2, (uint64_t)t);
	if (st)
		pw_varint(&s, 3, (uint64_t)st);
	pw_msg(ts, 2, &s);
}

/* Does protobuf-c accept w as a Request? */
static bool pbc_accepts(const struct pbw *w)
{
	struct arena *a = arena_new(0);
	ProtobufCAllocator pa;
	bool ok;

	ck_assert_ptr_nonnull(a);
	arena_protobuf_allocator(a, &pa);
	ok = io__prometheus__write__v2__request__unpack(&pa, w->n, w->b) != NULL;
	arena_free(a);
	return ok;
}

/* Compress raw[0..n) and write it as 2.0 into db. */
static void write_raw(struct db *db, const uint8_t *raw, size_t n, struct rw_result *res)
{
	size_t clen = snappy_max_compressed_length(n);
	char *body = malloc(clen);

	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(snappy_compress((const char *)raw, n, body, &clen), SNAPPY_OK);
	rw_write(db, RW_V2, (const uint8_t *)body, clen, NULL, res);
	free(body);
}

static void write_req(struct db *db, const struct pbw *w, struct rw_result *res)
{
	write_raw(db, w->b, w->n, res);
}

static struct db *mem_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	ck_assert_msg(db != NULL, "db_open: %s", err.msg);
	return db;
}

/* Samples of the series matching name="value" pairs (NULL-terminated);
 * asserts there is exactly one. Returns the count, copies into t/v. */
static size_t read_one(struct db *db, const char *const *eq, int64_t *t, double *v, size_t cap)
{
	struct matcher ms[8];
	struct ts_error err;
	struct series_set set;
	struct querier *q = db_querier(db);
	size_t nm = 0, n, i;

	while (eq[nm * 2]) {
		ck_assert_int_eq(matcher_init(&ms[nm], MATCHER_EQ, eq[nm * 2], eq[nm * 2 + 1], &err),
				 0);
		nm++;
	}
	ck_assert_int_eq(querier_select(q, ms, nm, INT64_MIN, INT64_MAX, true, 0, &set, &err), 0);
	ck_assert_uint_eq(set.n, 1);
	n = set.s[0].n;
	for (i = 0; i < n && i < cap; i++) {
		t[i] = set.s[0].t[i];
		v[i] = set.s[0].v[i];
	}
	series_set_release(&set);
	for (i = 0; i < nm; i++)
		matcher_release(&ms[i]);
	querier_free(q);
	return n;
}

static size_t count_series(struct db *db)
{
	struct ts_error err;
	struct series_set set;
	struct querier *q = db_querier(db);
	size_t n;

	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, false, 0, &set, &err), 0);
	n = set.n;
	series_set_release(&set);
	querier_free(q);
	return n;
}

/* The symbols used by most tests. */
enum {
	S_EMPTY, S_NAME, S_UP, S_JOB, S_NODE, S_INST, S_H1, S_H2, S_HELP, S_UNIT,
	S_TRACE, S_ABC, S_BUCKET, S_LE, S_INF, S__COUNT
};
static const char *const SYMS[S__COUNT] = {
	"", "__name__", "up", "job", "node", "instance", "h1:9100", "h2:9100",
	"Whether the target is up.", "seconds", "trace_id", "abc123",
	"lat_seconds_bucket", "le", "+Inf",
};

static void pw_symbols(struct pbw *req)
{
	size_t i;

	for (i = 0; i < S__COUNT; i++)
		pw_str(req, 4, SYMS[i]);
}

/* ------------------------------------------------------------ tests */

START_TEST(test_remote_write_v2_stores_and_reads_back)
{
	static const uint32_t r1[] = { S_NAME, S_UP, S_INST, S_H1, S_JOB, S_NODE };
	static const uint32_t r2[] = { S_NAME, S_UP, S_INST, S_H2, S_JOB, S_NODE };
	static const char *const q1[] = { "instance", "h1:9100", NULL };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;
	int64_t t[4];
	double v[4];
	int i;

	pw_symbols(&req);
	pw_refs(&ts, 1, r1, 6, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_sample(&ts, 0, 2000, 500); /* start timestamp accepted */
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, r2, 6, false); /* unpacked refs */
	pw_sample(&ts, 3.25, 1000, 0);
	pw_varint(&ts, 6, 100); /* created_timestamp, older senders */
	pw_msg(&req, 5, &ts);
	ck_assert(pbc_accepts(&req));

	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_str_eq(res.msg, "");
	ck_assert_uint_eq(res.series, 2);
	ck_assert_uint_eq(res.samples_written, 3);
	ck_assert_uint_eq(res.histograms_written, 0);
	for (i = 0; i < RW_REASON__COUNT; i++)
		ck_assert_uint_eq(res.rejected[i], 0);
	ck_assert_uint_eq(count_series(db), 2);
	ck_assert_uint_eq(read_one(db, q1, t, v, 4), 2);
	ck_assert_int_eq(t[0], 1000);
	ck_assert_int_eq(t[1], 2000);
	ck_assert_double_eq(v[0], 1);
	ck_assert_double_eq(v[1], 0);
	db_close(db);
}
END_TEST

/* A golden request: bytes as a 2.0 sender puts them on the wire. */
START_TEST(test_remote_write_v2_golden_bytes)
{
	/* symbols "", "__name__", "m", "a", "b"; one series {__name__="m",
	 * a="b"} (refs packed: 1 2 3 4) with Sample{value=2.5, timestamp=7}
	 * and Sample{value=-1, timestamp=8, start_timestamp=3} */
	static const uint8_t raw[] =
		"\x22\x00" "\x22\x08__name__" "\x22\x01m" "\x22\x01" "a" "\x22\x01" "b"
		"\x2a\x22"
		"\x0a\x04\x01\x02\x03\x04"
		"\x12\x0b\x09\x00\x00\x00\x00\x00\x00\x04\x40\x10\x07"
		"\x12\x0d\x09\x00\x00\x00\x00\x00\x00\xf0\xbf\x10\x08\x18\x03";
	static const char *const q[] = { "__name__", "m", "a", "b", NULL };
	struct db *db = mem_db();
	struct rw_result res;
	int64_t t[2];
	double v[2];

	write_raw(db, raw, sizeof(raw) - 1, &res);
	ck_assert_msg(res.status == 204, "%d %s", res.status, res.msg);
	ck_assert_uint_eq(res.samples_written, 2);
	ck_assert_uint_eq(read_one(db, q, t, v, 2), 2);
	ck_assert_int_eq(t[0], 7);
	ck_assert_double_eq(v[0], 2.5);
	ck_assert_int_eq(t[1], 8);
	ck_assert_double_eq(v[1], -1);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_symbols0_not_empty)
{
	static const uint32_t r[] = { 1, 2 };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;

	pw_str(&req, 4, "x");
	pw_str(&req, 4, "__name__");
	pw_str(&req, 4, "up");
	pw_refs(&ts, 1, r, 2, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "symbols[0]") != NULL, "%s", res.msg);
	ck_assert_uint_eq(res.samples_written, 0);
	ck_assert_uint_eq(res.rejected[RW_REASON_INVALID_LABELS], 1);
	ck_assert_uint_eq(count_series(db), 0);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_bad_refs_reject_series)
{
	static const uint32_t good[] = { S_NAME, S_UP, S_JOB, S_NODE };
	static const uint32_t far[] = { S_NAME, S_UP, S_JOB, 99 };
	static const uint32_t odd[] = { S_NAME, S_UP, S_JOB };
	static const uint32_t huge[] = { S_NAME, UINT32_MAX };
	static const char *const q[] = { "job", "node", NULL };
	struct pbw req = { .n = 0 }, ts = { .n = 0 }, md = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;
	int64_t t[2];
	double v[2];

	pw_symbols(&req);
	pw_refs(&ts, 1, far, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, good, 4, true);
	pw_sample(&ts, 2, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, odd, 3, false);
	pw_sample(&ts, 3, 1000, 0);
	pw_sample(&ts, 3, 2000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, huge, 2, true);
	pw_sample(&ts, 4, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, good, 4, true); /* metadata unit ref out of range */
	pw_sample(&ts, 5, 3000, 0);
	pw_varint(&md, 1, 2);
	pw_varint(&md, 4, 1000);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	ck_assert(pbc_accepts(&req));

	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strcmp(res.msg, "series 0: label reference out of range (99 of 15 symbols)") == 0,
		      "%s", res.msg);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(res.rejected[RW_REASON_INVALID_LABELS], 5);
	ck_assert_uint_eq(count_series(db), 1);
	ck_assert_uint_eq(read_one(db, q, t, v, 2), 1);
	ck_assert_double_eq(v[0], 2);
	db_close(db);

	/* each problem alone names itself */
	db = mem_db();
	req.n = 0;
	ts.n = 0;
	pw_symbols(&req);
	pw_refs(&ts, 1, odd, 3, true);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "series 0: odd number of label references");
	req.n = 0;
	ts.n = 0;
	md.n = 0;
	pw_symbols(&req);
	pw_refs(&ts, 1, good, 4, true);
	pw_varint(&md, 3, 15);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "metadata help reference 15 out of range") != NULL, "%s",
		      res.msg);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_nul_symbol)
{
	static const uint32_t r[] = { 1, 2, 3, 4 };
	static const uint32_t ok[] = { 1, 2 };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;

	pw_str(&req, 4, "");
	pw_str(&req, 4, "__name__");
	pw_str(&req, 4, "m");
	pw_str(&req, 4, "k");
	pw_bytes(&req, 4, "a\0b", 3);
	pw_refs(&ts, 1, r, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, ok, 2, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "NUL") != NULL, "%s", res.msg);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(count_series(db), 1);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_invalid_labels)
{
	static const uint32_t noname[] = { S_JOB, S_NODE };
	static const uint32_t dup[] = { S_NAME, S_UP, S_JOB, S_NODE, S_JOB, S_H1 };
	static const uint32_t badname[] = { S_NAME, S_UP, S_INF, S_NODE };
	static const uint32_t empty_value[] = { S_NAME, S_UP, S_JOB, S_EMPTY };
	static const char *const q[] = { "__name__", "up", NULL };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;
	int64_t t[1];
	double v[1];

	pw_symbols(&req);
	pw_refs(&ts, 1, noname, 2, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, dup, 6, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, badname, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, empty_value, 4, true); /* empty value: label absent */
	pw_sample(&ts, 7, 1000, 0);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strncmp(res.msg, "series 0 {job=\"node\"}: ", 23) == 0, "%s", res.msg);
	ck_assert_uint_eq(res.rejected[RW_REASON_INVALID_LABELS], 3);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(read_one(db, q, t, v, 1), 1);
	ck_assert_double_eq(v[0], 7);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_metadata)
{
	static const uint32_t up[] = { S_NAME, S_UP, S_JOB, S_NODE };
	static const uint32_t up2[] = { S_NAME, S_UP, S_JOB, S_H1 };
	static const uint32_t bucket[] = { S_NAME, S_BUCKET, S_LE, S_INF };
	struct pbw req = { .n = 0 }, ts = { .n = 0 }, md = { .n = 0 };
	struct metadata_entry *e;
	struct db *db = mem_db();
	struct rw_result res;
	size_t n;

	pw_symbols(&req);
	pw_varint(&md, 1, 2); /* gauge */
	pw_varint(&md, 3, S_HELP);
	pw_refs(&ts, 1, up, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, up2, 4, true); /* same family again: kept once */
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	md.n = 0;
	pw_varint(&md, 1, 3); /* histogram */
	pw_varint(&md, 3, S_HELP);
	pw_varint(&md, 4, S_UNIT);
	pw_refs(&ts, 1, bucket, 4, true);
	pw_sample(&ts, 4, 1000, 0);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	md.n = 0;
	pw_varint(&md, 1, 0); /* nothing set: no entry */
	pw_refs(&ts, 1, up, 4, true);
	pw_sample(&ts, 2, 2000, 0);
	pw_msg(&ts, 5, &md);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_msg(res.status == 204, "%d %s", res.status, res.msg);
	ck_assert_uint_eq(res.metadata_written, 2);

	ck_assert_int_eq(db_metadata(db, NULL, 0, 0, &e, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[0].family, "lat_seconds");
	ck_assert_int_eq(e[0].type, METRIC_HISTOGRAM);
	ck_assert_str_eq(e[0].help, "Whether the target is up.");
	ck_assert_str_eq(e[0].unit, "seconds");
	ck_assert_str_eq(e[1].family, "up");
	ck_assert_int_eq(e[1].type, METRIC_GAUGE);
	ck_assert_str_eq(e[1].help, "Whether the target is up.");
	ck_assert_str_eq(e[1].unit, "");
	free(e);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_exemplars)
{
	static const uint32_t up[] = { S_NAME, S_UP, S_JOB, S_NODE };
	static const uint32_t exl[] = { S_TRACE, S_ABC };
	static const uint32_t badex[] = { S_TRACE, 77 };
	struct pbw req = { .n = 0 }, ts = { .n = 0 }, ex = { .n = 0 };
	struct exemplar_set set;
	struct ts_error err;
	struct querier *q;
	struct db *db = mem_db();
	struct rw_result res;

	pw_symbols(&req);
	pw_refs(&ts, 1, up, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_refs(&ex, 1, exl, 2, false);
	pw_double(&ex, 2, 0.5);
	pw_varint(&ex, 3, 900);
	pw_msg(&ts, 4, &ex);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_msg(res.status == 204, "%d %s", res.status, res.msg);
	ck_assert_uint_eq(res.exemplars, 1);
	ck_assert_uint_eq(res.exemplars_written, 1);

	q = db_querier(db);
	ck_assert_int_eq(querier_exemplars(q, NULL, NULL, 0, 0, 2000, &set, &err), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.s[0].n, 1);
	ck_assert_str_eq(labels_get(&set.s[0].e[0].labels, "trace_id"), "abc123");
	ck_assert_double_eq(set.s[0].e[0].v, 0.5);
	ck_assert_int_eq(set.s[0].e[0].t, 900);
	exemplar_set_release(&set);
	querier_free(q);

	/* an exemplar with a bad ref is dropped with 400, the sample kept */
	ts.n = 0;
	ex.n = 0;
	req.n = 0;
	pw_symbols(&req);
	pw_refs(&ts, 1, up, 4, true);
	pw_sample(&ts, 2, 2000, 0);
	pw_refs(&ex, 1, badex, 2, true);
	pw_msg(&ts, 4, &ex);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "exemplar 0: label reference out of range") != NULL, "%s",
		      res.msg);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(res.exemplars_written, 0);

	/* an exemplar older than the series' newest: 400 */
	ts.n = 0;
	ex.n = 0;
	req.n = 0;
	pw_symbols(&req);
	pw_refs(&ts, 1, up, 4, true);
	pw_refs(&ex, 1, exl, 2, true);
	pw_double(&ex, 2, 0.25);
	pw_varint(&ex, 3, 100);
	pw_msg(&ts, 4, &ex);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "out of order exemplar") != NULL, "%s", res.msg);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_histograms_rejected)
{
	static const uint32_t nh[] = { S_NAME, S_UP, S_JOB, S_NODE };
	static const uint32_t fl[] = { S_NAME, S_UP, S_JOB, S_H1 };
	struct pbw req = { .n = 0 }, ts = { .n = 0 }, h = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;

	pw_symbols(&req);
	pw_varint(&h, 1, 3);      /* count_int */
	pw_double(&h, 3, 1.5);    /* sum */
	pw_varint(&h, 15, 1000);  /* timestamp */
	pw_varint(&h, 17, 500);   /* start_timestamp */
	pw_refs(&ts, 1, nh, 4, true);
	pw_msg(&ts, 3, &h);
	pw_msg(&ts, 3, &h);
	pw_msg(&req, 5, &ts);
	ts.n = 0;
	pw_refs(&ts, 1, fl, 4, true);
	pw_sample(&ts, 1, 1000, 0);
	pw_msg(&req, 5, &ts);
	ck_assert(pbc_accepts(&req));
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "native histograms are not supported") != NULL &&
		      strstr(res.msg, "job=\"node\"") != NULL, "%s", res.msg);
	ck_assert_uint_eq(res.rejected[RW_REASON_HISTOGRAM], 2);
	ck_assert_uint_eq(res.histograms_written, 0);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(count_series(db), 1);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_special_values)
{
	static const uint32_t r[] = { S_NAME, S_UP };
	static const char *const q[] = { "__name__", "up", NULL };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *db = mem_db();
	struct rw_result res;
	uint64_t stale = STALE_NAN_BITS, bits;
	double sv, v[4];
	int64_t t[4];

	memcpy(&sv, &stale, 8);
	pw_symbols(&req);
	pw_refs(&ts, 1, r, 2, true);
	pw_sample(&ts, INFINITY, 1000, 0);
	pw_sample(&ts, -INFINITY, 2000, 0);
	pw_sample(&ts, NAN, 3000, 0);
	pw_sample(&ts, sv, 4000, 0);
	pw_msg(&req, 5, &ts);
	write_req(db, &req, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(read_one(db, q, t, v, 4), 4);
	ck_assert(isinf(v[0]) && v[0] > 0);
	ck_assert(isinf(v[1]) && v[1] < 0);
	ck_assert(isnan(v[2]));
	memcpy(&bits, &v[3], 8);
	ck_assert_uint_eq(bits, STALE_NAN_BITS);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_v2_malformed)
{
	static const struct {
		const char *raw;
		size_t len;
	} cases[] = {
#define C(s) { s, sizeof(s) - 1 }
		C("\x22\x05" "ab"),              /* symbol past the end */
		C("\x2a\x03\x0a\x05\x01"),       /* refs past the end */
		C("\x22"),                       /* tag without value */
		C("\x20\x01"),                   /* symbols as varint */
		C("\x2a\x02\x12\x05"),           /* sample past the end */
		C("\x2a\x03\x12\x01\x09"),       /* sample value cut */
		C("\x2a\x04\x2a\x02\x08\x80"),   /* metadata type varint cut */
#undef C
	};
	struct db *db = mem_db();
	struct rw_result res;
	struct pbw w;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(w.b, cases[i].raw, cases[i].len);
		w.n = cases[i].len;
		ck_assert_msg(!pbc_accepts(&w), "case %zu accepted by protobuf-c", i);
		write_raw(db, (const uint8_t *)cases[i].raw, cases[i].len, &res);
		ck_assert_msg(res.status == 400, "case %zu: %d %s", i, res.status, res.msg);
		ck_assert_str_eq(res.msg, "cannot decode protobuf io.prometheus.write.v2.Request");
	}
	/* not snappy at all */
	rw_write(db, RW_V2, (const uint8_t *)"\xff\xff\xff", 3, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	/* empty request: fine, nothing written */
	write_raw(db, (const uint8_t *)"", 0, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, 0);
	ck_assert_uint_eq(count_series(db), 0);
	db_close(db);
}
END_TEST

/* The same series sent as 1.0 and as 2.0 end up the same. */
START_TEST(test_remote_write_v2_same_as_v1)
{
	Prometheus__WriteRequest v1 = PROMETHEUS__WRITE_REQUEST__INIT;
	Prometheus__TimeSeries ts1 = PROMETHEUS__TIME_SERIES__INIT, *tsp = &ts1;
	Prometheus__Label l[3], *lp[3];
	Prometheus__Sample s[2], *sp[2];
	static const uint32_t r[] = { S_NAME, S_UP, S_INST, S_H1, S_JOB, S_NODE };
	static const char *const q[] = { "job", "node", NULL };
	struct pbw req = { .n = 0 }, ts = { .n = 0 };
	struct db *a = mem_db(), *b = mem_db();
	struct rw_result res;
	uint8_t raw[512];
	size_t n, clen, i;
	char comp[1024];
	int64_t ta[2], tb[2];
	double va[2], vb[2];

	for (i = 0; i < 3; i++) {
		prometheus__label__init(&l[i]);
		l[i].name = (char *)SYMS[r[2 * i]];
		l[i].value = (char *)SYMS[r[2 * i + 1]];
		lp[i] = &l[i];
	}
	for (i = 0; i < 2; i++) {
		prometheus__sample__init(&s[i]);
		s[i].timestamp = 1000 * (int64_t)(i + 1);
		s[i].value = 0.1 * (double)(i + 1);
		sp[i] = &s[i];
	}
	ts1.n_labels = 3;
	ts1.labels = lp;
	ts1.n_samples = 2;
	ts1.samples = sp;
	v1.n_timeseries = 1;
	v1.timeseries = &tsp;
	n = prometheus__write_request__pack(&v1, raw);
	clen = sizeof(comp);
	ck_assert_int_eq(snappy_compress((const char *)raw, n, comp, &clen), SNAPPY_OK);
	rw_write(a, RW_V1, (const uint8_t *)comp, clen, NULL, &res);
	ck_assert_int_eq(res.status, 204);

	pw_symbols(&req);
	pw_refs(&ts, 1, r, 6, true);
	pw_sample(&ts, 0.1, 1000, 0);
	pw_sample(&ts, 0.2, 2000, 0);
	pw_msg(&req, 5, &ts);
	write_req(b, &req, &res);
	ck_assert_int_eq(res.status, 204);

	ck_assert_uint_eq(read_one(a, q, ta, va, 2), 2);
	ck_assert_uint_eq(read_one(b, q, tb, vb, 2), 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(ta[i], tb[i]);
		ck_assert(memcmp(&va[i], &vb[i], 8) == 0);
	}
	db_close(a);
	db_close(b);
}
END_TEST

START_TEST(test_remote_write_v2_many_series)
{
	struct pbw *req = calloc(1, sizeof(*req) * 8);
	struct db *db = mem_db();
	struct rw_result res;
	char name[32];
	size_t i;

	ck_assert_ptr_nonnull(req);
	pw_str(req, 4, "");
	pw_str(req, 4, "__name__");
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "metric_%zu", i);
		pw_str(req, 4, name);
	}
	for (i = 0; i < 200; i++) {
		struct pbw ts = { .n = 0 };
		uint32_t r[2] = { 1, (uint32_t)(2 + i) };

		pw_refs(&ts, 1, r, 2, true);
		pw_sample(&ts, (double)i, 1000, 0);
		pw_msg(req, 5, &ts);
	}
	write_raw(db, req->b, req->n, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, 200);
	ck_assert_uint_eq(count_series(db), 200);
	free(req);
	db_close(db);
}
END_TEST

/* Dense 2.0 requests (one label, one sample per series) weigh far more
 * unpacked than their bytes: they must still fit under the memory cap. */
START_TEST(test_remote_write_v2_dense_request_fits)
{
	size_t nser = 60000, cap = nser * 32 + 1024, n = 0, i;
	uint8_t *raw = malloc(cap);
	struct db *db = mem_db();
	struct rw_result res;

	ck_assert_ptr_nonnull(raw);
	memcpy(raw, "\x22\x00\x22\x08__name__\x22\x01m", 15);
	n = 15;
	for (i = 0; i < nser; i++) {
		/* TimeSeries{labels_refs=[1,2], samples=[{value=1, timestamp=i}]} */
		static const uint8_t head[] = { 0x2a, 0, 0x0a, 0x02, 0x01, 0x02, 0x12, 0 };
		struct pbw ts = { .n = 0 };

		pw_double(&ts, 1, 1);
		pw_varint(&ts, 2, 1000000 + i);
		memcpy(raw + n, head, sizeof(head));
		raw[n + 1] = (uint8_t)(6 + ts.n);
		raw[n + 7] = (uint8_t)ts.n;
		n += sizeof(head);
		memcpy(raw + n, ts.b, ts.n);
		n += ts.n;
	}
	write_raw(db, raw, n, &res);
	ck_assert_msg(res.status == 204, "%d %s", res.status, res.msg);
	ck_assert_uint_eq(res.samples_written, nser);
	free(raw);
	db_close(db);
}
END_TEST

Suite *remote_write_v2_suite(void);

Suite *remote_write_v2_suite(void)
{
	Suite *s = suite_create("remote_write_v2");
	TCase *tc = tcase_create("v2");

	tcase_add_test(tc, test_remote_write_v2_stores_and_reads_back);
	tcase_add_test(tc, test_remote_write_v2_golden_bytes);
	tcase_add_test(tc, test_remote_write_v2_symbols0_not_empty);
	tcase_add_test(tc, test_remote_write_v2_bad_refs_reject_series);
	tcase_add_test(tc, test_remote_write_v2_nul_symbol);
	tcase_add_test(tc, test_remote_write_v2_invalid_labels);
	tcase_add_test(tc, test_remote_write_v2_metadata);
	tcase_add_test(tc, test_remote_write_v2_exemplars);
	tcase_add_test(tc, test_remote_write_v2_histograms_rejected);
	tcase_add_test(tc, test_remote_write_v2_special_values);
	tcase_add_test(tc, test_remote_write_v2_malformed);
	tcase_add_test(tc, test_remote_write_v2_same_as_v1);
	tcase_add_test(tc, test_remote_write_v2_many_series);
	tcase_add_test(tc, test_remote_write_v2_dense_request_fits);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(remote_write_v2_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
