/*
 * remote_write_v2.c - decode remote_write 2.0 requests
 * (io.prometheus.write.v2.Request) and store them; see remote_write.h for
 * the contract. remote_write.c does what both versions share (snappy,
 * limits, the arena, the status) and calls rw_v2_write for the body.
 *
 * A 2.0 request carries every string once, in the symbols table; series,
 * exemplars and metadata point into it with indexes ("refs"):
 *
 *   symbols    [0] ""  [1] "__name__"  [2] "up"  [3] "job"  [4] "node" ...
 *   series     labels_refs = 1,2, 3,4      ->  {__name__="up", job="node"}
 *              metadata    = type, help_ref, unit_ref
 *              samples, histograms, exemplars (labels_refs pairs as well)
 *
 * Steps of rw_v2_write:
 *   1. unpack    the whole Request by protobuf-c through the request arena
 *                (strings are copied once each, as symbols, so the generic
 *                unpack costs little here); malformed -> DEC_MALFORMED
 *   2. symbols   symbols[0] must be "" (else 400, nothing stored); a
 *                symbol holding a NUL byte, which protobuf-c's C strings
 *                would cut short, is found by walking the request's top
 *                level once and makes every series using it invalid
 *   3. store     per series: labels_refs resolved (an odd count or a ref
 *                past the table rejects the series), labels_validate, the
 *                samples through one appender with the series ref cached,
 *                the histograms rejected (400, counted), the exemplars
 *                resolved and kept (db_add_exemplar), the metadata recorded once per
 *                distinct (name, type, help, unit) of the request
 *   4. commit    one appender_commit (500 and nothing counted as written
 *                if it fails)
 *
 * Start timestamps are accepted in both places senders put them - the
 * older TimeSeries.created_timestamp (field 6) and Sample.start_timestamp
 * (field 3) - and not stored: varve has no created-timestamp samples.
 *
 * Metadata: the family a series' metadata is recorded under is its
 * __name__, without the _bucket, _sum and _count suffixes for the
 * histogram and gauge-histogram types and _sum and _count for summaries,
 * so that a classic histogram's series share one family as in 1.0
 * metadata. Entries with nothing set (type unspecified, no help, no unit)
 * are skipped.
 */
#include <inttypes.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ingest/remote_write.h"
#include "ingest/remote_write_int.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "util/error.h"
#include "write_v2.pb-c.h"

typedef Io__Prometheus__Write__V2__Request V2Request;
typedef Io__Prometheus__Write__V2__TimeSeries V2Series;
typedef Io__Prometheus__Write__V2__Exemplar V2Exemplar;
typedef Io__Prometheus__Write__V2__Metadata V2Metadata;

/* Longest metric family name kept for metadata (longer names are cut
 * nowhere: their metadata is skipped). */
#define FAMILY_MAX 1024

/* State of storing one request. */
struct v2_store {
	struct db *db;          /* the store */
	struct appender *app;   /* the request's appender */
	struct arena *arena;    /* scratch memory */
	const V2Request *req;   /* the unpacked request */
	const bool *nul_sym;    /* symbols holding a NUL byte; NULL: none do */
	struct label *lv;       /* label scratch array, in the arena */
	size_t lcap;            /* its capacity */
	struct rw_result *res;  /* counters and status */
	struct md_seen *seen;   /* metadata recorded by this request (a hash
				 * set in the arena), NULL until the first */
	size_t seen_mask;       /* its capacity - 1 (a power of two minus one) */
};

/* One metadata entry recorded by the request: the series' name (a symbol,
 * so equal names are the same pointer), its type and refs. */
struct md_seen {
	const char *name;       /* __name__ value; NULL: empty slot */
	int type;               /* metric type */
	uint32_t help_ref;      /* help symbol */
	uint32_t unit_ref;      /* unit symbol */
};

/*
 * Mark the symbols holding a NUL byte. req was unpacked from buf[0..len),
 * so the walk cannot fail; field 4 entries are the symbols in order.
 * Returns the array (in the arena) or NULL when no symbol holds a NUL;
 * sets *nomem when the array cannot be allocated.
 */
static const bool *find_nul_symbols(struct arena *arena, const uint8_t *buf, size_t len,
				    size_t nsym, bool *nomem)
{
	const uint8_t *p = buf, *end = buf + len;
	bool *bad = NULL;
	size_t idx = 0;

	*nomem = false;
	while (p < end) {
		uint32_t field;
		unsigned wt;
		size_t n;

		if (!rw_get_tag(&p, end, &field, &wt))
			break;
		if (field != 4 || wt != WT_LEN) {
			if (!rw_skip_field(&p, end, wt))
				break;
			continue;
		}
		if (!rw_get_len(&p, end, &n))
			break;
		if (n && memchr(p, 0, n) && idx < nsym) {
			if (!bad) {
				bad = arena_calloc(arena, nsym, sizeof(*bad));
				if (!bad) {
					*nomem = true;
					return NULL;
				}
			}
			bad[idx] = true;
		}
		idx++;
		p += n;
	}
	return bad;
}

/* Room for n labels in the scratch array; false when out of memory. */
static bool reserve_labels(struct v2_store *st, size_t n)
{
	size_t cap = st->lcap ? st->lcap : 32;
	struct label *lv;

	if (n <= st->lcap)
		return true;
	while (cap < n)
		cap *= 2;
	lv = arena_alloc(st->arena, cap * sizeof(*lv));
	if (!lv)
		return false;
	st->lv = lv;
	st->lcap = cap;
	return true;
}

/*
 * Resolve refs[0..n) (name, value pairs) into st->lv. Returns NULL, or a
 * static reason when they cannot be resolved; *bad_ref is the offending
 * ref for the out-of-range and NUL cases.
 */
static const char *resolve_refs(struct v2_store *st, const uint32_t *refs, size_t n,
				uint32_t *bad_ref)
{
	const V2Request *req = st->req;
	size_t i;

	if (n % 2)
		return "odd number of label references";
	for (i = 0; i < n; i++) {
		if (refs[i] >= req->n_symbols) {
			*bad_ref = refs[i];
			return "label reference out of range";
		}
		if (st->nul_sym && st->nul_sym[refs[i]]) {
			*bad_ref = refs[i];
			return "label reference to a symbol holding a NUL byte";
		}
	}
	for (i = 0; i < n / 2; i++) {
		st->lv[i].name = req->symbols[refs[2 * i]];
		st->lv[i].value = req->symbols[refs[2 * i + 1]];
	}
	return NULL;
}

/* Count series si's samples and histograms as rejected for invalid labels
 * and record the first such problem: "series <si>: <why>". */
static void reject_series(struct v2_store *st, size_t si, const V2Series *ts, const char *why,
			  const struct label *lv, size_t nl)
{
	struct rw_result *res = st->res;
	char tail[TS_ERROR_MSG_MAX], head[64];
	struct rw_sbuf sb;

	res->rejected[RW_REASON_INVALID_LABELS] += (uint64_t)ts->n_samples + ts->n_histograms;
	res->exemplars += ts->n_exemplars;
	if (res->status >= 400)
		return;
	rw_sb_init(&sb, tail, sizeof(tail));
	rw_sb_add(&sb, ": ", 2);
	rw_sb_add_clean(&sb, why, false);
	snprintf(head, sizeof(head), "series %zu ", si);
	if (lv)
		rw_set_series_problem(res, 400, head, lv, nl, tail);
	else
		rw_set_problem(res, 400, "series %zu%s", si, tail);
}

/* The metadata family of metric name for type t (see the file comment);
 * false when it does not fit. */
static bool family_of(const char *name, int t, char *out, size_t cap)
{
	static const char *const hist[] = { "_bucket", "_sum", "_count", NULL };
	static const char *const summ[] = { "_sum", "_count", NULL };
	const char *const *sfx = NULL;
	size_t n = strlen(name);

	if (n >= cap)
		return false;
	memcpy(out, name, n + 1);
	if (t == METRIC_HISTOGRAM || t == METRIC_GAUGEHISTOGRAM)
		sfx = hist;
	else if (t == METRIC_SUMMARY)
		sfx = summ;
	for (; sfx && *sfx; sfx++) {
		size_t k = strlen(*sfx);

		if (n > k && strcmp(name + n - k, *sfx) == 0) {
			out[n - k] = '\0';
			break;
		}
	}
	return true;
}

/* Record a series' metadata (refs already checked). */
static void store_metadata(struct v2_store *st, const struct labels *ls, const V2Metadata *m)
{
	const char *name = labels_get(ls, "__name__");
	char family[FAMILY_MAX];
	int t = (int)m->type;
	uint64_t h;

	if (t < METRIC_UNKNOWN || t > METRIC_STATESET)
		t = METRIC_UNKNOWN;
	if (!name || (t == METRIC_UNKNOWN && !m->help_ref && !m->unit_ref))
		return;
	/* Prometheus repeats a family's metadata on each of its series: record
	 * each distinct (name, type, help, unit) of a request once */
	if (!st->seen) {
		size_t cap = 16;

		while (cap < 2 * st->req->n_timeseries)
			cap *= 2;
		st->seen = arena_calloc(st->arena, cap, sizeof(*st->seen));
		if (!st->seen)
			return; /* metadata is best effort */
		st->seen_mask = cap - 1;
	}
	h = ((uintptr_t)name >> 3) * 0x9e3779b97f4a7c15ull ^ (uint64_t)t << 56 ^
	    (uint64_t)m->help_ref * 0xff51afd7ed558ccdull ^ m->unit_ref;
	for (h &= st->seen_mask;; h = (h + 1) & st->seen_mask) {
		struct md_seen *e = &st->seen[h];

		if (!e->name) {
			e->name = name;
			e->type = t;
			e->help_ref = m->help_ref;
			e->unit_ref = m->unit_ref;
			break;
		}
		if (e->name == name && e->type == t && e->help_ref == m->help_ref &&
		    e->unit_ref == m->unit_ref)
			return;
	}
	if (!family_of(name, t, family, sizeof(family)))
		return;
	if (db_set_metadata(st->db, family, (enum metric_type)t, st->req->symbols[m->help_ref],
			    st->req->symbols[m->unit_ref]) == 0)
		st->res->metadata_written++;
}

/*
 * Store a series' exemplars (the series' labels ls passed validation).
 * An exemplar whose label refs do not resolve is dropped, and so is one
 * older than the series' newest exemplar; both make the answer 400, as
 * Prometheus's 2.0 receiver answers out-of-order exemplars. An exact
 * repeat of the newest one counts as written but is kept once.
 */
static void store_exemplars(struct v2_store *st, const V2Series *ts, const struct labels *ls)
{
	struct rw_result *res = st->res;
	size_t i;

	for (i = 0; i < ts->n_exemplars; i++) {
		const V2Exemplar *e = ts->exemplars[i];
		struct label *save = st->lv;
		struct labels exl;
		uint32_t bad = 0;
		const char *why;
		int rc;

		res->exemplars++;
		if (!reserve_labels(st, ls->n + e->n_labels_refs / 2 + 1)) {
			rw_set_problem(res, 500, "out of memory");
			return;
		}
		/* resolve behind the series' labels, which stay where ls points */
		save = st->lv;
		st->lv = save + ls->n;
		why = resolve_refs(st, e->labels_refs, e->n_labels_refs, &bad);
		exl.v = st->lv;
		exl.n = e->n_labels_refs / 2;
		st->lv = save;
		if (why) {
			char tail[128];

			snprintf(tail, sizeof(tail), ": exemplar %zu: %s (%" PRIu32 " of %zu symbols)",
				 i, why, bad, st->req->n_symbols);
			rw_set_series_problem(res, 400, "invalid exemplar for series ", ls->v, ls->n,
					      tail);
			continue;
		}
		labels_sort(&exl);
		rc = db_add_exemplar(st->db, ls, &exl, e->timestamp, e->value);
		if (rc == 0) {
			res->exemplars_written++;
		} else if (rc == TS_ERR_OUT_OF_ORDER) {
			rw_set_series_problem(res, 400, "out of order exemplar for series ", ls->v,
					      ls->n, "");
		} else if (res->status < 500) {
			char tail[64];

			snprintf(tail, sizeof(tail), ": %s", ts_strerror(rc));
			rw_set_series_problem(res, 500, "cannot store exemplar for series ", ls->v,
					      ls->n, tail);
		}
	}
}

/* Store series si of the request. */
static void store_series(struct v2_store *st, size_t si)
{
	const V2Series *ts = st->req->timeseries[si];
	struct rw_result *res = st->res;
	const V2Metadata *m = ts->metadata;
	struct ts_error err;
	struct labels ls;
	uint64_t ref = 0;
	uint32_t bad = 0;
	const char *why;
	size_t i;

	if (!reserve_labels(st, ts->n_labels_refs / 2 + 1)) {
		res->rejected[RW_REASON_STORAGE] += ts->n_samples;
		rw_set_problem(res, 500, "out of memory");
		return;
	}
	why = resolve_refs(st, ts->labels_refs, ts->n_labels_refs, &bad);
	if (why) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%s (%" PRIu32 " of %zu symbols)", why, bad,
			 st->req->n_symbols);
		reject_series(st, si, ts, ts->n_labels_refs % 2 ? why : msg, NULL, 0);
		return;
	}
	if (m && (m->help_ref >= st->req->n_symbols || m->unit_ref >= st->req->n_symbols)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "metadata %s reference %" PRIu32
			 " out of range (%zu symbols)",
			 m->help_ref >= st->req->n_symbols ? "help" : "unit",
			 m->help_ref >= st->req->n_symbols ? m->help_ref : m->unit_ref,
			 st->req->n_symbols);
		reject_series(st, si, ts, msg, st->lv, ts->n_labels_refs / 2);
		return;
	}
	ls.v = st->lv;
	ls.n = ts->n_labels_refs / 2;
	err.code = 0;
	err.msg[0] = '\0';
	if (labels_validate(&ls, &err) < 0) {
		/* validation sorted the working copy: show the labels as sent */
		resolve_refs(st, ts->labels_refs, ts->n_labels_refs, &bad);
		reject_series(st, si, ts, err.msg[0] ? err.msg : "invalid label set", st->lv,
			      ts->n_labels_refs / 2);
		return;
	}
	if (ts->n_histograms) {
		res->rejected[RW_REASON_HISTOGRAM] += ts->n_histograms;
		rw_set_series_problem(res, 400,
				      "native histograms are not supported (samples of other "
				      "series are stored), series ", ls.v, ls.n, "");
	}
	for (i = 0; i < ts->n_samples; i++) {
		const Io__Prometheus__Write__V2__Sample *s = ts->samples[i];
		int rc = appender_add(st->app, &ls, &ref, s->timestamp, s->value);

		if (rc == 0) {
			res->samples_written++;
			continue;
		}
		switch (rc) {
		case TS_ERR_OUT_OF_ORDER:
			res->rejected[RW_REASON_OUT_OF_ORDER]++;
			rw_set_series_problem(res, 400, "out of order sample for series ",
					      ls.v, ls.n, "");
			break;
		case TS_ERR_DUPLICATE:
			res->rejected[RW_REASON_DUPLICATE]++;
			rw_set_series_problem(res, 400,
					      "duplicate sample for timestamp for series ",
					      ls.v, ls.n, "");
			break;
		default:
			res->rejected[RW_REASON_STORAGE]++;
			if (res->status < 500) {
				char tail[64];

				snprintf(tail, sizeof(tail), ": %s", ts_strerror(rc));
				rw_set_series_problem(res, 500, "cannot append sample for series ",
						      ls.v, ls.n, tail);
			}
			break;
		}
	}
	store_exemplars(st, ts, &ls);
	if (m)
		store_metadata(st, &ls, m);
}

enum dec_status rw_v2_write(struct db *db, struct arena *arena, ProtobufCAllocator *pb,
			    const uint8_t *buf, size_t len, struct rw_result *res)
{
	struct v2_store st;
	V2Request *req;
	bool nomem;
	size_t i;
	int rc;

	/* 1. */
	req = io__prometheus__write__v2__request__unpack(pb, len, buf);
	if (!req)
		return DEC_MALFORMED;

	/* 2. */
	memset(&st, 0, sizeof(st));
	st.nul_sym = find_nul_symbols(arena, buf, len, req->n_symbols, &nomem);
	if (nomem)
		return DEC_NOMEM;
	res->series = req->n_timeseries;
	if (req->n_symbols && req->symbols[0][0] != '\0') {
		char shown[80];
		struct rw_sbuf sb;

		rw_sb_init(&sb, shown, sizeof(shown));
		rw_sb_add_clean(&sb, req->symbols[0], true);
		rw_set_problem(res, 400, "symbols[0] must be the empty string, got \"%s\"",
			       shown);
		for (i = 0; i < req->n_timeseries; i++)
			res->rejected[RW_REASON_INVALID_LABELS] +=
				req->timeseries[i]->n_samples + req->timeseries[i]->n_histograms;
		return DEC_OK;
	}

	/* 3. */
	st.db = db;
	st.arena = arena;
	st.req = req;
	st.res = res;
	st.app = db_appender(db);
	if (!st.app) {
		rw_set_problem(res, 500, "cannot create appender: out of memory");
		return DEC_OK;
	}
	for (i = 0; i < req->n_timeseries; i++)
		store_series(&st, i);

	/* 4. */
	rc = appender_commit(st.app);
	if (rc < 0) {
		res->rejected[RW_REASON_STORAGE] += res->samples_written;
		res->samples_written = 0;
		res->exemplars_written = 0;
		res->status = 0; /* the commit failure is the message */
		rw_set_problem(res, 500, "cannot commit samples: %s", ts_strerror(rc));
	}
	return DEC_OK;
}
