/*
 * check_remote_write.c - remote_write 1.0 decoding and ingestion.
 *
 * Requests are built with protobuf-c and snappy_compress the way a
 * Prometheus sender builds them, written into a memory db with rw_write,
 * and read back through querier_select.
 */
#include <check.h>
#include <inttypes.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ingest/remote_write.h"
#include "prometheus.pb-c.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/* ------------------------------------------------------------ request builder */

/* A series to put in a request: NULL-terminated name, value, name, value... */
struct tseries {
	const char *const *labels; /* name/value pairs, NULL-terminated */
	size_t nsamples;           /* samples in t/v */
	const int64_t *t;          /* timestamps */
	const double *v;           /* values */
	size_t nhist;              /* native histograms to add (timestamps t[0]...) */
	size_t nexemplars;         /* exemplars to add */
};

/* Protobuf bytes of a WriteRequest; free with free(). */
static uint8_t *pack_request(const struct tseries *ts, size_t n,
			     Prometheus__MetricMetadata **md, size_t nmd, size_t *len)
{
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
	Prometheus__TimeSeries **tsv = calloc(n + 1, sizeof(*tsv));
	uint8_t *out;
	size_t i, k;

	ck_assert_ptr_nonnull(tsv);
	for (i = 0; i < n; i++) {
		Prometheus__TimeSeries *t = calloc(1, sizeof(*t));
		size_t nl = 0;

		prometheus__time_series__init(t);
		while (ts[i].labels[nl * 2])
			nl++;
		t->n_labels = nl;
		t->labels = calloc(nl + 1, sizeof(*t->labels));
		for (k = 0; k < nl; k++) {
			Prometheus__Label *l = calloc(1, sizeof(*l));

			prometheus__label__init(l);
			l->name = (char *)ts[i].labels[k * 2];
			l->value = (char *)ts[i].labels[k * 2 + 1];
			t->labels[k] = l;
		}
		t->n_samples = ts[i].nsamples;
		t->samples = calloc(ts[i].nsamples + 1, sizeof(*t->samples));
		for (k = 0; k < ts[i].nsamples; k++) {
			Prometheus__Sample *s = calloc(1, sizeof(*s));

			prometheus__sample__init(s);
			s->timestamp = ts[i].t[k];
			s->value = ts[i].v[k];
			t->samples[k] = s;
		}
		t->n_histograms = ts[i].nhist;
		t->histograms = calloc(ts[i].nhist + 1, sizeof(*t->histograms));
		for (k = 0; k < ts[i].nhist; k++) {
			Prometheus__Histogram *h = calloc(1, sizeof(*h));

			prometheus__histogram__init(h);
			h->count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
			h->count_int = 3;
			h->sum = 1.5;
			h->timestamp = 1000 + (int64_t)k;
			t->histograms[k] = h;
		}
		t->n_exemplars = ts[i].nexemplars;
		t->exemplars = calloc(ts[i].nexemplars + 1, sizeof(*t->exemplars));
		for (k = 0; k < ts[i].nexemplars; k++) {
			Prometheus__Exemplar *e = calloc(1, sizeof(*e));

			prometheus__exemplar__init(e);
			e->value = 1;
			e->timestamp = 1000;
			t->exemplars[k] = e;
		}
		tsv[i] = t;
	}
	req.n_timeseries = n;
	req.timeseries = tsv;
	req.n_metadata = nmd;
	req.metadata = md;
	*len = prometheus__write_request__get_packed_size(&req);
	out = malloc(*len + 1);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(prometheus__write_request__pack(&req, out), *len);
	for (i = 0; i < n; i++) {
		Prometheus__TimeSeries *t = tsv[i];

		for (k = 0; k < t->n_labels; k++)
			free(t->labels[k]);
		for (k = 0; k < t->n_samples; k++)
			free(t->samples[k]);
		for (k = 0; k < t->n_histograms; k++)
			free(t->histograms[k]);
		for (k = 0; k < t->n_exemplars; k++)
			free(t->exemplars[k]);
		free(t->labels);
		free(t->samples);
		free(t->histograms);
		free(t->exemplars);
		free(t);
	}
	free(tsv);
	return out;
}

/* snappy block of raw[0..len); free with free(). */
static uint8_t *snappy_of(const uint8_t *raw, size_t len, size_t *out_len)
{
	size_t cap = snappy_max_compressed_length(len);
	char *out = malloc(cap);

	ck_assert_ptr_nonnull(out);
	*out_len = cap;
	ck_assert_int_eq(snappy_compress((const char *)raw, len, out, out_len), SNAPPY_OK);
	return (uint8_t *)out;
}

/* Build, compress and write a request; returns nothing, fills res. */
static void write_series(struct db *db, const struct tseries *ts, size_t n,
			 Prometheus__MetricMetadata **md, size_t nmd, struct rw_result *res)
{
	size_t plen, clen;
	uint8_t *pb = pack_request(ts, n, md, nmd, &plen);
	uint8_t *body = snappy_of(pb, plen, &clen);

	rw_write(db, RW_V1, body, clen, NULL, res);
	free(pb);
	free(body);
}

static struct db *mem_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	ck_assert_msg(db != NULL, "db_open: %s", err.msg);
	return db;
}

/* Select every series with samples into *set (with a querier in *qp, both
 * for the caller to free); returns the index of the one named name, or
 * SIZE_MAX when there is none. */
static size_t read_series(struct db *db, const char *name, struct series_set *set,
			  struct querier **qp)
{
	struct ts_error err;
	struct querier *q = db_querier(db);
	size_t i, found = SIZE_MAX;

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, true, 0, set, &err), 0);
	for (i = 0; i < set->n; i++) {
		const char *n = labels_get(&set->s[i].labels, LABEL_NAME);

		if (n && strcmp(n, name) == 0) {
			ck_assert_msg(found == SIZE_MAX, "two series named %s", name);
			found = i;
		}
	}
	*qp = q;
	return found;
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

static const int64_t T3[] = { 1000, 2000, 3000 };
static const double V3[] = { 1.5, 2.5, -3 };

/* ------------------------------------------------------------ tests */

START_TEST(test_remote_write_stores_and_reads_back)
{
	static const char *const a[] = { "__name__", "up", "job", "node", "instance", "h:9100", NULL };
	static const char *const b[] = { "__name__", "temp", "job", "x", NULL };
	struct tseries ts[] = {
		{ a, 3, T3, V3, 0, 0 },
		{ b, 1, T3, V3, 0, 0 },
	};
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	write_series(db, ts, 2, NULL, 0, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_str_eq(res.msg, "");
	ck_assert_uint_eq(res.series, 2);
	ck_assert_uint_eq(res.samples_written, 4);
	for (i = 0; i < RW_REASON__COUNT; i++)
		ck_assert_uint_eq(res.rejected[i], 0);

	i = read_series(db, "up", &set, &q);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].labels.n, 3);
	ck_assert_str_eq(labels_get(&set.s[i].labels, "job"), "node");
	ck_assert_str_eq(labels_get(&set.s[i].labels, "instance"), "h:9100");
	ck_assert_uint_eq(set.s[i].n, 3);
	ck_assert_int_eq(set.s[i].t[0], 1000);
	ck_assert_int_eq(set.s[i].t[2], 3000);
	ck_assert_double_eq(set.s[i].v[0], 1.5);
	ck_assert_double_eq(set.s[i].v[2], -3);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_sorts_labels)
{
	static const char *const a[] = { "zone", "z1", "job", "j", "__name__", "m", "a", "1", NULL };
	struct tseries ts[] = { { a, 1, T3, V3, 0, 0 } };
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	const struct labels *ls;
	size_t i;

	write_series(db, ts, 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, 1);
	i = read_series(db, "m", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ls = &set.s[i].labels;
	ck_assert_uint_eq(ls->n, 4);
	ck_assert_str_eq(ls->v[0].name, "__name__");
	ck_assert_str_eq(ls->v[1].name, "a");
	ck_assert_str_eq(ls->v[2].name, "job");
	ck_assert_str_eq(ls->v[3].name, "zone");
	ck_assert_str_eq(ls->v[3].value, "z1");
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_invalid_series_skipped)
{
	static const char *const bad_name[] = { "__name__", "x", "0bad", "v", NULL };
	static const char *const good1[] = { "__name__", "ok1", "job", "a", NULL };
	static const char *const dup_name[] = { "__name__", "y", "job", "a", "job", "b", NULL };
	static const char *const no_name[] = { "job", "a", NULL };
	static const char *const bad_utf8[] = { "__name__", "z", "v", "a\xff\xfe", NULL };
	static const char *const good2[] = { "__name__", "ok2", NULL };
	struct tseries ts[] = {
		{ bad_name, 3, T3, V3, 0, 0 },
		{ good1, 3, T3, V3, 0, 0 },
		{ dup_name, 2, T3, V3, 0, 0 },
		{ no_name, 1, T3, V3, 0, 0 },
		{ bad_utf8, 1, T3, V3, 0, 0 },
		{ good2, 2, T3, V3, 0, 0 },
	};
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	write_series(db, ts, 6, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "series {__name__=\"x\", 0bad=\"v\"}: invalid label name \"0bad\"");
	ck_assert_uint_eq(res.series, 6);
	ck_assert_uint_eq(res.samples_written, 5);
	ck_assert_uint_eq(res.rejected[RW_REASON_INVALID_LABELS], 3 + 2 + 1 + 1);
	ck_assert_uint_eq(count_series(db), 2);

	i = read_series(db, "ok1", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].n, 3);
	series_set_release(&set);
	querier_free(q);
	i = read_series(db, "ok2", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].n, 2);
	series_set_release(&set);
	querier_free(q);

	/* each kind of problem alone, for its message */
	write_series(db, &ts[2], 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "duplicate label name \"job\"") != NULL, "%s", res.msg);
	write_series(db, &ts[3], 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strncmp(res.msg, "series {job=\"a\"}: ", 18) == 0, "%s", res.msg);
	write_series(db, &ts[4], 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	/* the message itself stays valid UTF-8 */
	ck_assert_msg(strstr(res.msg, "v=\"a\\xff\\xfe\"") != NULL, "%s", res.msg);
	ck_assert(utf8_valid(res.msg, strlen(res.msg)));
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_message_escaped_and_cut)
{
	char longv[2000];
	const char *lab[] = { "__name__", "q", "a", "x\"y\\z\nw", "b", longv, "0c", "d", NULL };
	struct tseries ts[] = { { lab, 1, T3, V3, 0, 0 } };
	struct db *db = mem_db();
	struct rw_result res;
	size_t i;

	/* multi-byte characters so a cut can land inside one */
	for (i = 0; i + 2 < sizeof(longv); i += 2)
		memcpy(longv + i, "\xc3\xa9", 2);
	longv[i] = '\0';
	write_series(db, ts, 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "a=\"x\\\"y\\\\z\\nw\"") != NULL, "%s", res.msg);
	ck_assert_ptr_null(strchr(res.msg, '\n'));
	ck_assert(strlen(res.msg) < sizeof(res.msg));
	ck_assert(utf8_valid(res.msg, strlen(res.msg)));
	ck_assert_msg(strstr(res.msg, "...") != NULL, "%s", res.msg);
	ck_assert_msg(strstr(res.msg, "invalid label name \"0c\"") != NULL, "%s", res.msg);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_truncated_snappy)
{
	static const char *const a[] = { "__name__", "up", "job", "node", NULL };
	struct tseries ts[] = { { a, 3, T3, V3, 0, 0 } };
	struct db *db = mem_db();
	struct rw_result res;
	size_t plen, clen;
	uint8_t *pb = pack_request(ts, 1, NULL, 0, &plen);
	uint8_t *body = snappy_of(pb, plen, &clen);

	rw_write(db, RW_V1, body, clen / 2, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "snappy") != NULL, "%s", res.msg);
	rw_write(db, RW_V1, body, 0, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	rw_write(db, RW_V1, NULL, 0, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_uint_eq(count_series(db), 0);
	free(pb);
	free(body);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_corrupt_snappy)
{
	/* decoded length 100, then a copy whose offset reaches before the start */
	static const uint8_t bad_copy[] = { 0x64, 0x01, 0x05, 0x00, 0x00 };
	/* a length varint that never ends */
	static const uint8_t bad_len[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	/* a literal longer than the input */
	static const uint8_t bad_lit[] = { 0x10, 0x3c, 'a', 'b' };
	struct db *db = mem_db();
	struct rw_result res;

	rw_write(db, RW_V1, bad_copy, sizeof(bad_copy), NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "corrupt snappy body");
	rw_write(db, RW_V1, bad_len, sizeof(bad_len), NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "corrupt snappy body") == res.msg, "%s", res.msg);
	rw_write(db, RW_V1, bad_lit, sizeof(bad_lit), NULL, &res);
	ck_assert_int_eq(res.status, 400);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_garbage_protobuf)
{
	/* field 1 as a length-delimited TimeSeries running past the end, then
	 * a wire type that does not exist */
	static const uint8_t g1[] = { 0x0a, 0x7f, 0x01 };
	static const uint8_t g2[] = { 0x0f, 0xff, 0xff, 0xff };
	struct db *db = mem_db();
	struct rw_result res;
	size_t clen;
	uint8_t *body = snappy_of(g1, sizeof(g1), &clen);

	rw_write(db, RW_V1, body, clen, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "cannot decode protobuf WriteRequest");
	free(body);
	body = snappy_of(g2, sizeof(g2), &clen);
	rw_write(db, RW_V1, body, clen, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "cannot decode protobuf WriteRequest");
	free(body);
	ck_assert_uint_eq(count_series(db), 0);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_empty_request)
{
	struct db *db = mem_db();
	struct rw_result res;
	size_t clen;
	uint8_t *body = snappy_of((const uint8_t *)"", 0, &clen);

	rw_write(db, RW_V1, body, clen, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.series, 0);
	free(body);
	db_close(db);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
/* Virtual memory of this process in bytes. */
static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * 4096;
}
#endif

START_TEST(test_remote_write_oversize)
{
	static const char *const a[] = { "__name__", "up", "job", "node", NULL };
	struct tseries ts[] = { { a, 3, T3, V3, 0, 0 } };
	/* a snappy header claiming 4 GiB - 1, and nothing behind it */
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
	struct rw_opts opts = { .max_decoded_bytes = 16 };
	struct db *db = mem_db();
	struct rw_result res;
	size_t plen, clen;
	uint8_t *pb = pack_request(ts, 1, NULL, 0, &plen);
	uint8_t *body = snappy_of(pb, plen, &clen);
	struct rlimit old = { 0 }, lim = { 0 };
	bool limited = false;

	ck_assert_uint_gt(plen, 16);
	rw_write(db, RW_V1, body, clen, &opts, &res);
	ck_assert_int_eq(res.status, 413);
	ck_assert_msg(strstr(res.msg, "limit of 16 bytes") != NULL, "%s", res.msg);
	ck_assert_uint_eq(count_series(db), 0);

	/* just at the limit is fine */
	opts.max_decoded_bytes = plen;
	rw_write(db, RW_V1, body, clen, &opts, &res);
	ck_assert_int_eq(res.status, 204);

	/*
	 * The default limit (32 MiB) against a 4 GiB claim: with the address
	 * space capped well below the claim, a decoder that allocated before
	 * checking would fail with 500 (or die) instead of answering 413.
	 * AddressSanitizer reserves huge shadow mappings, so no cap under it.
	 */
#ifndef UNDER_ASAN
	if (getrlimit(RLIMIT_AS, &old) == 0 && vm_size() > 0) {
		lim = old;
		lim.rlim_cur = vm_size() + ((rlim_t)512 << 20);
		if (old.rlim_cur == RLIM_INFINITY || lim.rlim_cur < old.rlim_cur)
			limited = setrlimit(RLIMIT_AS, &lim) == 0;
	}
#endif
	rw_write(db, RW_V1, huge, sizeof(huge), NULL, &res);
	if (limited)
		setrlimit(RLIMIT_AS, &old);
	ck_assert_int_eq(res.status, 413);
	ck_assert_msg(strstr(res.msg, "4294967295 bytes exceeds the limit of 33554432 bytes") != NULL,
		      "%s", res.msg);
	(void)lim;
	free(pb);
	free(body);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_negotiate)
{
	struct rw_result res;

	ck_assert_int_eq(rw_negotiate(NULL, NULL, &res), RW_V1);
	ck_assert_int_eq(res.status, 204);
	ck_assert_int_eq(rw_negotiate("", "", &res), RW_V1);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf", "snappy", &res), RW_V1);
	ck_assert_int_eq(rw_negotiate("Application/X-Protobuf", "Snappy", &res), RW_V1);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf;proto=prometheus.WriteRequest",
				      "snappy", &res), RW_V1);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf; charset=utf-8 ; proto=\"prometheus.WriteRequest\"",
				      NULL, &res), RW_V1);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf; foo", NULL, &res), RW_V1);

	ck_assert_int_eq(rw_negotiate("application/x-protobuf;proto=io.prometheus.write.v2.Request",
				      "snappy", &res), RW_V2);
	ck_assert_int_eq(res.status, 204);
	ck_assert_int_eq(rw_negotiate("Application/X-Protobuf ; Proto=\"io.prometheus.write.v2.Request\"",
				      NULL, &res), RW_V2);
	/* the message name is case-sensitive, as protobuf names are */
	ck_assert_int_eq(rw_negotiate("application/x-protobuf;proto=io.prometheus.write.v2.request",
				      NULL, &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf;proto=io.prometheus.write.v2.Request",
				      "gzip", &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf;proto=foo.Bar", NULL, &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_msg(strstr(res.msg, "foo.Bar") != NULL, "%s", res.msg);
	ck_assert_int_eq(rw_negotiate("text/plain", NULL, &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_msg(strstr(res.msg, "text/plain") != NULL, "%s", res.msg);
	ck_assert_int_eq(rw_negotiate("application/x-protobufx", NULL, &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_int_eq(rw_negotiate(NULL, "gzip", &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);
	ck_assert_msg(strstr(res.msg, "gzip") != NULL, "%s", res.msg);
	ck_assert_int_eq(rw_negotiate("application/x-protobuf", "snappy, gzip", &res), RW_VNONE);
	ck_assert_int_eq(res.status, 415);

	/* rw_write refuses what it cannot decode */
	rw_write(NULL, RW_VNONE, (const uint8_t *)"\0", 1, NULL, &res);
	ck_assert_int_eq(res.status, 415);
}
END_TEST

START_TEST(test_remote_write_metadata_kept)
{
	Prometheus__MetricMetadata m1 = PROMETHEUS__METRIC_METADATA__INIT;
	Prometheus__MetricMetadata m2 = PROMETHEUS__METRIC_METADATA__INIT;
	Prometheus__MetricMetadata m3 = PROMETHEUS__METRIC_METADATA__INIT;
	Prometheus__MetricMetadata *md[] = { &m1, &m2, &m3 };
	struct metadata_entry *out = NULL;
	struct db *db = mem_db();
	struct rw_result res;
	size_t n = 0;

	m1.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
	m1.metric_family_name = "http_requests_total";
	m1.help = "Requests served.";
	m2.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGE;
	m2.metric_family_name = "temp_celsius";
	m2.help = "Temperature.";
	m2.unit = "celsius";
	m3.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGE; /* no family: skipped */
	write_series(db, NULL, 0, md, 3, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.metadata_written, 2);

	ck_assert_int_eq(db_metadata(db, "http_requests_total", 0, 0, &out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0].type, METRIC_COUNTER);
	ck_assert_str_eq(out[0].help, "Requests served.");
	ck_assert_str_eq(out[0].unit, "");
	free(out);
	ck_assert_int_eq(db_metadata(db, "temp_celsius", 0, 0, &out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0].type, METRIC_GAUGE);
	ck_assert_str_eq(out[0].unit, "celsius");
	free(out);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_stale_marker_bits)
{
	static const char *const a[] = { "__name__", "gone", NULL };
	static const int64_t t[] = { 1000, 2000 };
	uint64_t bits = STALE_NAN_BITS, got;
	double v[2] = { 7, 0 };
	struct tseries ts[] = { { a, 2, t, v, 0, 0 } };
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	memcpy(&v[1], &bits, sizeof(bits));
	write_series(db, ts, 1, NULL, 0, &res);
	ck_assert_int_eq(res.status, 204);
	i = read_series(db, "gone", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].n, 2);
	memcpy(&got, &set.s[i].v[1], sizeof(got));
	ck_assert_uint_eq(got, STALE_NAN_BITS);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_out_of_order_and_duplicate)
{
	static const char *const a[] = { "__name__", "c", "job", "j", NULL };
	static const char *const b[] = { "__name__", "d", NULL };
	static const int64_t t_new[] = { 5000 };
	static const int64_t t_old[] = { 4000 };
	static const double v1[] = { 1 };
	static const double v2[] = { 2 };
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	{
		struct tseries ts[] = { { a, 1, t_new, v1, 0, 0 } };

		write_series(db, ts, 1, NULL, 0, &res);
		ck_assert_int_eq(res.status, 204);
	}
	{
		/* older sample for a (kept: out-of-order writes are accepted),
		 * a new series b after it */
		struct tseries ts[] = { { a, 1, t_old, v1, 0, 0 }, { b, 1, t_old, v1, 0, 0 } };

		write_series(db, ts, 2, NULL, 0, &res);
		ck_assert_int_eq(res.status, 204);
		ck_assert_uint_eq(res.rejected[RW_REASON_OUT_OF_ORDER], 0);
		ck_assert_uint_eq(res.samples_written, 2);
	}
	{
		/* same timestamp, other value */
		struct tseries ts[] = { { a, 1, t_new, v2, 0, 0 } };

		write_series(db, ts, 1, NULL, 0, &res);
		ck_assert_int_eq(res.status, 400);
		ck_assert_msg(strstr(res.msg, "duplicate sample") == res.msg, "%s", res.msg);
		ck_assert_uint_eq(res.rejected[RW_REASON_DUPLICATE], 1);
	}
	{
		/* same timestamp, same value: a harmless retry */
		struct tseries ts[] = { { a, 1, t_new, v1, 0, 0 } };

		write_series(db, ts, 1, NULL, 0, &res);
		ck_assert_int_eq(res.status, 204);
	}
	i = read_series(db, "c", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].n, 2);
	ck_assert_int_eq(set.s[i].t[0], 4000);
	ck_assert_int_eq(set.s[i].t[1], 5000);
	ck_assert_double_eq(set.s[i].v[1], 1);
	series_set_release(&set);
	querier_free(q);
	i = read_series(db, "d", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_conflicts_within_one_request)
{
	/* Prometheus sends one sample per entry, so one series shows up in
	 * several entries of a request */
	static const char *const a[] = { "__name__", "c", NULL };
	static const int64_t t5[] = { 5000 }, t4[] = { 4000 }, t6[] = { 6000 };
	static const double v1[] = { 1 }, v2[] = { 2 }, v3[] = { 3 };
	struct tseries ts[] = {
		{ a, 1, t5, v1, 0, 0 },
		{ a, 1, t4, v1, 0, 0 }, /* out of order: kept */
		{ a, 1, t5, v2, 0, 0 }, /* duplicate, other value */
		{ a, 1, t5, v1, 0, 0 }, /* duplicate, same value: accepted */
		{ a, 1, t6, v3, 0, 0 },
	};
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	write_series(db, ts, 5, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "duplicate sample") == res.msg, "%s", res.msg);
	ck_assert_uint_eq(res.series, 5);
	ck_assert_uint_eq(res.rejected[RW_REASON_OUT_OF_ORDER], 0);
	ck_assert_uint_eq(res.rejected[RW_REASON_DUPLICATE], 1);
	ck_assert_uint_eq(res.samples_written, 4);
	i = read_series(db, "c", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_uint_eq(set.s[i].n, 3);
	ck_assert_int_eq(set.s[i].t[0], 4000);
	ck_assert_int_eq(set.s[i].t[1], 5000);
	ck_assert_double_eq(set.s[i].v[1], 1);
	ck_assert_int_eq(set.s[i].t[2], 6000);
	ck_assert_double_eq(set.s[i].v[2], 3);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_histograms_rejected)
{
	static const char *const a[] = { "__name__", "h", NULL };
	static const char *const b[] = { "__name__", "f", NULL };
	struct tseries ts[] = { { a, 1, T3, V3, 2, 0 }, { b, 2, T3, V3, 0, 3 } };
	struct db *db = mem_db();
	struct rw_result res;

	write_series(db, ts, 2, NULL, 0, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "native histograms are not supported, series {__name__=\"h\"}");
	ck_assert_uint_eq(res.rejected[RW_REASON_HISTOGRAM], 2);
	ck_assert_uint_eq(res.histograms_written, 0);
	ck_assert_uint_eq(res.samples_written, 3);
	ck_assert_uint_eq(res.exemplars, 3);
	ck_assert_uint_eq(res.exemplars_written, 0);
	ck_assert_uint_eq(count_series(db), 2);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_reason_names)
{
	ck_assert_str_eq(rw_reason_name(RW_REASON_INVALID_LABELS), "invalid_labels");
	ck_assert_str_eq(rw_reason_name(RW_REASON_OUT_OF_ORDER), "out_of_order");
	ck_assert_str_eq(rw_reason_name(RW_REASON_DUPLICATE), "duplicate");
	ck_assert_str_eq(rw_reason_name(RW_REASON_HISTOGRAM), "histogram");
	ck_assert_str_eq(rw_reason_name(RW_REASON_STORAGE), "storage");
	ck_assert_str_eq(rw_reason_name(RW_REASON__COUNT), "unknown");
}
END_TEST

START_TEST(test_remote_write_many_series_one_request)
{
	enum { N = 3000 };
	static char names[N][16], vals[N][16];
	static const char *labs[N][5];
	static struct tseries ts[N];
	static const int64_t t1[] = { 42 };
	static const double v1[] = { 0.5 };
	struct db *db = mem_db();
	struct rw_result res;
	size_t i;

	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "m%zu", i % 7);
		snprintf(vals[i], sizeof(vals[i]), "i%zu", i);
		labs[i][0] = "__name__";
		labs[i][1] = names[i];
		labs[i][2] = "instance";
		labs[i][3] = vals[i];
		labs[i][4] = NULL;
		ts[i] = (struct tseries){ labs[i], 1, t1, v1, 0, 0 };
	}
	write_series(db, ts, N, NULL, 0, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, N);
	ck_assert_uint_eq(count_series(db), N);
	db_close(db);
}
END_TEST

/* Raw protobuf bytes written as a request: did rw_write decode them? */
static bool decodes(struct db *db, const char *raw, size_t len, struct rw_result *res)
{
	size_t clen;
	uint8_t *body = snappy_of((const uint8_t *)raw, len, &clen);

	rw_write(db, RW_V1, body, clen, NULL, res);
	free(body);
	return !(res->status == 400 &&
		 strcmp(res->msg, "cannot decode protobuf WriteRequest") == 0);
}

START_TEST(test_remote_write_decoder_matches_protobuf_c)
{
	/* edge cases of the wire format, each as protobuf-c 1.4 judges it */
	static const struct {
		const char *name;
		const char *raw;
		size_t len;
	} cases[] = {
#define C(n, s) { n, s, sizeof(s) - 1 }
		C("empty", ""),
		C("field 0 in one byte", "\x00\x00"),
		C("field 0 in two bytes, then a varint", "\x80\x00\x7d"),
		C("field 0 in two bytes, no value", "\x80\x00"),
		C("wire type 6", "\x26"),
		C("wire type 7", "\x27"),
		C("group", "\x23\x24"),
		C("unknown fixed32", "\x25\x01\x02\x03\x04"),
		C("unknown fixed32 cut", "\x25\x01\x02"),
		C("unknown fixed64", "\x21\x01\x02\x03\x04\x05\x06\x07\x08"),
		C("reserved field 2", "\x12\x03" "abc"),
		C("timeseries as varint", "\x08\x01"),
		C("timeseries as fixed32", "\x0d\x01\x02\x03\x04"),
		C("label name as varint", "\x0a\x04\x0a\x02\x08\x01"),
		C("sample timestamp as fixed64", "\x0a\x0b\x12\x09\x11\x01\x00\x00\x00\x00\x00\x00\x00"),
		C("sample value as varint", "\x0a\x04\x12\x02\x09\x01"),
		C("sample value cut", "\x0a\x06\x12\x04\x09\x01\x02\x03"),
		C("10-byte varint", "\x0a\x0d\x12\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
		C("11-byte varint", "\x0a\x0e\x12\x0c\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
		C("6-byte tag", "\x8a\x80\x80\x80\x80\x00"),
		C("5-byte tag", "\xfa\xff\xff\xff\x7f\x00"),
		C("6-byte length", "\x0a\x80\x80\x80\x80\x80\x00"),
		C("5-byte length", "\x0a\x80\x80\x80\x80\x00"),
		C("length past the end", "\x0a\x05\x0a\x01"),
		C("length beyond 32 bits", "\x0a\x82\x80\x80\x80\x10\x0a\x00"),
		C("label given twice", "\x0a\x0a\x0a\x08\x0a\x01\x61\x0a\x01\x62\x12\x00"),
		C("metadata type as length", "\x1a\x02\x0a\x00"),
		C("metadata type as fixed32", "\x1a\x05\x0d\x01\x02\x03\x04"),
		C("histogram garbage", "\x0a\x04\x22\x02\x08\xff"),
		C("histogram empty", "\x0a\x02\x22\x00"),
		C("exemplar garbage", "\x0a\x04\x1a\x02\x12\x05"),
		C("exemplar empty", "\x0a\x02\x1a\x00"),
		C("unknown field in series and label", "\x0a\x08\x28\x01\x0a\x04\x18\x05\x0a\x00"),
#undef C
	};
	struct db *db = mem_db();
	struct rw_result res;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena *a = arena_new(0);
		ProtobufCAllocator pa;
		bool want;

		arena_protobuf_allocator(a, &pa);
		want = prometheus__write_request__unpack(&pa, cases[i].len,
							 (const uint8_t *)cases[i].raw) != NULL;
		arena_free(a);
		ck_assert_msg(decodes(db, cases[i].raw, cases[i].len, &res) == want,
			      "%s: protobuf-c %s it, rw_write answered %d %s", cases[i].name,
			      want ? "accepts" : "rejects", res.status, res.msg);
	}
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_nul_in_label_rejected)
{
	/* {__name__="a\0b"} with one sample, then {__name__="ok"} */
	static const char raw[] =
		"\x0a\x1e"
		"\x0a\x0f\x0a\x08__name__\x12\x03" "a\x00" "b"
		"\x12\x0b\x09\x00\x00\x00\x00\x00\x00\xf0\x3f\x10\x01"
		"\x0a\x1d"
		"\x0a\x0e\x0a\x08__name__\x12\x02ok"
		"\x12\x0b\x09\x00\x00\x00\x00\x00\x00\xf0\x3f\x10\x01";
	struct db *db = mem_db();
	struct rw_result res;

	ck_assert(decodes(db, raw, sizeof(raw) - 1, &res));
	ck_assert_int_eq(res.status, 400);
	ck_assert_msg(strstr(res.msg, "NUL byte") != NULL, "%s", res.msg);
	ck_assert_uint_eq(res.rejected[RW_REASON_INVALID_LABELS], 1);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_uint_eq(count_series(db), 1);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_fields_in_any_order)
{
	/* samples before labels, the value after the timestamp, a label's
	 * value before its name, and an unknown field in every message */
	static const char raw[] =
		"\x0a\x31"
		"\x12\x0e\x10\xe8\x07\x09\x00\x00\x00\x00\x00\x00\x04\x40\x30\x01"
		"\x0a\x0c\x12\x03" "abc" "\x0a\x03job\x38\x02"
		"\x0a\x0f\x12\x03" "cpu" "\x0a\x08__name__"
		"\x28\x07";
	struct db *db = mem_db();
	struct rw_result res;
	struct series_set set;
	struct querier *q;
	size_t i;

	ck_assert(decodes(db, raw, sizeof(raw) - 1, &res));
	ck_assert_msg(res.status == 204, "%d %s", res.status, res.msg);
	i = read_series(db, "cpu", &set, &q);
	ck_assert_uint_ne(i, SIZE_MAX);
	ck_assert_str_eq(labels_get(&set.s[i].labels, "job"), "abc");
	ck_assert_uint_eq(set.s[i].n, 1);
	ck_assert_int_eq(set.s[i].t[0], 1000);
	ck_assert_double_eq(set.s[i].v[0], 2.5);
	series_set_release(&set);
	querier_free(q);
	db_close(db);
}
END_TEST

START_TEST(test_remote_write_memory_cap)
{
	/* one series of 200,000 empty labels: 400 KB on the wire, but an
	 * index entry of 24 bytes per label, more than the arena may hold */
	enum { NL = 200000 };
	size_t len = 6 + 2 * (size_t)NL, inner = 2 * (size_t)NL, i;
	char *raw = malloc(len);
	struct db *db = mem_db();
	struct rw_result res;
	uint8_t *body;
	size_t clen;

	ck_assert_ptr_nonnull(raw);
	raw[0] = 0x0a;
	/* inner length as a 3-byte varint, padded to the 5 bytes reserved */
	raw[1] = (char)(0x80 | (inner & 0x7f));
	raw[2] = (char)(0x80 | ((inner >> 7) & 0x7f));
	raw[3] = (char)(0x80 | ((inner >> 14) & 0x7f));
	raw[4] = (char)(0x80 | ((inner >> 21) & 0x7f));
	raw[5] = (char)((inner >> 28) & 0x7f);
	for (i = 0; i < NL; i++) {
		raw[6 + 2 * i] = 0x0a;
		raw[7 + 2 * i] = 0x00;
	}
	body = snappy_of((const uint8_t *)raw, len, &clen);
	rw_write(db, RW_V1, body, clen, NULL, &res);
	ck_assert_int_eq(res.status, 413);
	ck_assert_msg(strstr(res.msg, "bytes of memory") != NULL, "%s", res.msg);
	ck_assert_uint_eq(count_series(db), 0);
	free(body);
	free(raw);
	db_close(db);
}
END_TEST

Suite *remote_write_suite(void);

Suite *remote_write_suite(void)
{
	Suite *s = suite_create("remote_write");
	TCase *tc = tcase_create("v1");

	tcase_add_test(tc, test_remote_write_stores_and_reads_back);
	tcase_add_test(tc, test_remote_write_sorts_labels);
	tcase_add_test(tc, test_remote_write_invalid_series_skipped);
	tcase_add_test(tc, test_remote_write_message_escaped_and_cut);
	tcase_add_test(tc, test_remote_write_truncated_snappy);
	tcase_add_test(tc, test_remote_write_corrupt_snappy);
	tcase_add_test(tc, test_remote_write_garbage_protobuf);
	tcase_add_test(tc, test_remote_write_empty_request);
	tcase_add_test(tc, test_remote_write_oversize);
	tcase_add_test(tc, test_remote_write_negotiate);
	tcase_add_test(tc, test_remote_write_metadata_kept);
	tcase_add_test(tc, test_remote_write_stale_marker_bits);
	tcase_add_test(tc, test_remote_write_out_of_order_and_duplicate);
	tcase_add_test(tc, test_remote_write_conflicts_within_one_request);
	tcase_add_test(tc, test_remote_write_histograms_rejected);
	tcase_add_test(tc, test_remote_write_reason_names);
	tcase_add_test(tc, test_remote_write_many_series_one_request);
	tcase_add_test(tc, test_remote_write_decoder_matches_protobuf_c);
	tcase_add_test(tc, test_remote_write_nul_in_label_rejected);
	tcase_add_test(tc, test_remote_write_fields_in_any_order);
	tcase_add_test(tc, test_remote_write_memory_cap);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(remote_write_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
