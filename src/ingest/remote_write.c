/*
 * remote_write.c - decode remote_write 1.0 requests and store them; see
 * remote_write.h for the contract.
 *
 * One call of rw_write runs these steps, each failing with its own status:
 *
 *   1. snappy header   the decoded length, checked against the limit
 *                      before anything of that size is allocated (413);
 *                      an unreadable header is a corrupt body (400)
 *   2. arena           one per call, capped at RW_MEMORY_FACTOR times the
 *                      decoded length; holds the decoded bytes, everything
 *                      protobuf-c unpacks, and the label scratch array
 *   3. snappy block    decompressed into the arena (400 when corrupt)
 *   4. protobuf-c      prometheus.WriteRequest unpacked through the arena
 *                      allocator (400 when malformed, 413 when it needs
 *                      more memory than the cap)
 *   5. store           per series entry: copy the label pointers into the
 *                      scratch array, labels_validate (sorts; a bad series
 *                      is skipped and counted), then every sample through
 *                      one appender with the series ref cached across the
 *                      entry's samples; metadata to db_set_metadata
 *   6. commit          one appender_commit for the whole request (500 if
 *                      it fails), then the arena is freed in one go
 *
 * Invariants:
 *   1. Nothing is allocated per sample: the only mallocs are the arena's
 *      blocks, whose number grows with the request's bytes, not with
 *      anything the db does.
 *   2. res->msg names the first problem only; the counters cover all.
 *   3. The status is the worst outcome seen: 500 over 400 over 204.
 */
#include "ingest/remote_write.h"

#include <inttypes.h>
#include <protobuf-c/protobuf-c.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "prometheus.pb-c.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/arena.h"
#include "util/error.h"

#define MEDIA_PROTOBUF "application/x-protobuf"
#define PROTO_V1 "prometheus.WriteRequest"
#define PROTO_V2 "io.prometheus.write.v2.Request"

/* Bytes of a label set shown in an error message before it is cut. */
#define MSG_LABELS_MAX 320

const char *rw_reason_name(enum rw_reason r)
{
	switch (r) {
	case RW_REASON_INVALID_LABELS:
		return "invalid_labels";
	case RW_REASON_OUT_OF_ORDER:
		return "out_of_order";
	case RW_REASON_DUPLICATE:
		return "duplicate";
	case RW_REASON_HISTOGRAM:
		return "histogram";
	case RW_REASON_STORAGE:
		return "storage";
	default:
		return "unknown";
	}
}

/* ------------------------------------------------------------ messages */

/* A fixed-size string being written; stops (with "...") when full. */
struct sbuf {
	char *p;     /* destination, always NUL-terminated */
	size_t len;  /* bytes written */
	size_t cap;  /* size of p, at least 4 */
	bool full;   /* output was cut */
};

static void sb_init(struct sbuf *sb, char *p, size_t cap)
{
	sb->p = p;
	sb->len = 0;
	sb->cap = cap;
	sb->full = false;
	p[0] = '\0';
}

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->full)
		return;
	if (n > sb->cap - 4 - sb->len) {
		/* keep room for "..." and the NUL */
		size_t room = sb->cap - 4 - sb->len;

		memcpy(sb->p + sb->len, s, room);
		memcpy(sb->p + sb->len + room, "...", 4);
		sb->len += room + 3;
		sb->full = true;
		return;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

/* Length of the valid UTF-8 sequence at p (a NUL-terminated string), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return utf8_valid((const char *)p, n) ? n : 0;
}

/*
 * Append s so that the message stays one line of valid UTF-8: control
 * bytes and invalid UTF-8 as \xNN, and with quote set, quotes and
 * backslashes escaped (for strings shown inside quotes).
 */
static void sb_add_clean(struct sbuf *sb, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	char tmp[8];

	while (*p && !sb->full) {
		size_t n;

		if (quote && (*p == '"' || *p == '\\')) {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			sb_add(sb, tmp, 2);
			p++;
		} else if (*p == '\n') {
			sb_add(sb, "\\n", 2);
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) {
			const unsigned char *q = p;

			while (*q >= 0x20 && *q < 0x7f && !(quote && (*q == '"' || *q == '\\')))
				q++;
			sb_add(sb, (const char *)p, (size_t)(q - p));
			p = q;
		} else if (*p >= 0x80 && (n = utf8_seq(p)) > 0) {
			sb_add(sb, (const char *)p, n);
			p += n;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
			sb_add(sb, tmp, 4);
			p++;
		}
	}
}

/* Append a label set as Prometheus prints it: {a="b", c="d"}. */
static void sb_add_labels(struct sbuf *sb, const struct label *v, size_t n)
{
	size_t i;

	sb_add(sb, "{", 1);
	for (i = 0; i < n; i++) {
		if (i)
			sb_add(sb, ", ", 2);
		sb_add_clean(sb, v[i].name, false);
		sb_add(sb, "=\"", 2);
		sb_add_clean(sb, v[i].value, true);
		sb_add(sb, "\"", 1);
	}
	sb_add(sb, "}", 1);
}

/* Drop a UTF-8 sequence that truncation left incomplete at the end of s. */
static void cut_utf8(char *s)
{
	size_t len = strlen(s), i = len, back = 0;

	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0 && utf8_seq((unsigned char *)s + i - 1) == 0)
		s[i - 1] = '\0';
}

/* Set status and message unless a problem of at least that status is
 * already recorded (the first problem of the worst kind wins). */
static void set_problem(struct rw_result *res, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_problem(struct rw_result *res, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (res->status >= status)
		return;
	res->status = status;
	va_start(ap, fmt);
	n = vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		res->msg[0] = '\0';
	else if ((size_t)n >= sizeof(res->msg))
		cut_utf8(res->msg);
}

/* Like set_problem with the message "<what> <labels><tail>". */
static void set_series_problem(struct rw_result *res, int status, const char *what,
			       const struct label *v, size_t n, const char *tail)
{
	char lbuf[MSG_LABELS_MAX];
	struct sbuf sb;

	if (res->status >= status)
		return;
	sb_init(&sb, lbuf, sizeof(lbuf));
	sb_add_labels(&sb, v, n);
	set_problem(res, status, "%s%s%s", what, lbuf, tail);
}

/* ------------------------------------------------------------ negotiation */

static void clear_result(struct rw_result *res)
{
	memset(res, 0, sizeof(*res));
}

/* s[0..n) with spaces and tabs removed at both ends. */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Copy of s[0..n) for a message, cut and escaped. */
static const char *msg_str(char *out, size_t cap, const char *s, size_t n)
{
	char tmp[200];
	struct sbuf sb;

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	sb_init(&sb, out, cap);
	sb_add_clean(&sb, tmp, true);
	return out;
}

enum rw_version rw_negotiate(const char *content_type, const char *content_encoding,
			     struct rw_result *res)
{
	enum rw_version v = RW_V1;
	char shown[128];

	clear_result(res);
	if (content_encoding) {
		const char *e = content_encoding;
		size_t n = strlen(e);

		trim(&e, &n);
		if (n && !token_eq(e, n, "snappy")) {
			set_problem(res, 415,
				    "unsupported content encoding \"%s\": only snappy is accepted",
				    msg_str(shown, sizeof(shown), e, n));
			return RW_VNONE;
		}
	}
	if (content_type) {
		const char *s = content_type, *semi = strchr(s, ';');
		size_t n = semi ? (size_t)(semi - s) : strlen(s);

		trim(&s, &n);
		if (n == 0 && !semi)
			goto ok; /* empty header: treated as absent */
		if (!token_eq(s, n, MEDIA_PROTOBUF)) {
			set_problem(res, 415,
				    "unsupported content type \"%s\": expected " MEDIA_PROTOBUF,
				    msg_str(shown, sizeof(shown), content_type,
					    strlen(content_type)));
			return RW_VNONE;
		}
		/* parameters: name=value;...; only proto matters */
		while (semi) {
			const char *p = semi + 1, *eq, *val;
			size_t pn, vn;

			semi = strchr(p, ';');
			pn = semi ? (size_t)(semi - p) : strlen(p);
			eq = memchr(p, '=', pn);
			if (!eq)
				continue;
			val = eq + 1;
			vn = pn - (size_t)(val - p);
			pn = (size_t)(eq - p);
			trim(&p, &pn);
			trim(&val, &vn);
			if (!token_eq(p, pn, "proto"))
				continue;
			if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
				val++;
				vn -= 2;
			}
			if (vn == strlen(PROTO_V1) && memcmp(val, PROTO_V1, vn) == 0) {
				v = RW_V1;
			} else if (vn == strlen(PROTO_V2) && memcmp(val, PROTO_V2, vn) == 0) {
				set_problem(res, 415,
					    "remote write 2.0 (proto=" PROTO_V2
					    ") is not supported yet: send proto=" PROTO_V1);
				return RW_VNONE;
			} else {
				set_problem(res, 415,
					    "unsupported protobuf message \"%s\": expected proto="
					    PROTO_V1, msg_str(shown, sizeof(shown), val, vn));
				return RW_VNONE;
			}
		}
	}
ok:
	res->status = 204;
	return v;
}

/* ------------------------------------------------------------ decoding */

/* protobuf-c allocator over the request arena that tells a hit of the
 * arena's cap apart from a failed malloc. */
struct pb_alloc {
	ProtobufCAllocator inner; /* arena_protobuf_allocator of the arena */
	struct arena *arena;      /* the request arena */
	size_t limit;             /* its cap */
	bool over_limit;          /* an allocation failed because of the cap */
	bool nomem;               /* an allocation failed below the cap */
};

static void *pb_alloc_fn(void *data, size_t size)
{
	struct pb_alloc *pa = data;
	void *p = pa->inner.alloc(pa->inner.allocator_data, size);

	if (!p) {
		/* arena_alloc rounds up to its alignment: allow for that */
		if (size > pa->limit || arena_used(pa->arena) + size + 64 > pa->limit)
			pa->over_limit = true;
		else
			pa->nomem = true;
	}
	return p;
}

static void pb_free_fn(void *data, void *p)
{
	struct pb_alloc *pa = data;

	pa->inner.free(pa->inner.allocator_data, p);
}

static enum metric_type metric_type_of(Prometheus__MetricMetadata__MetricType t)
{
	if ((int)t >= METRIC_UNKNOWN && (int)t <= METRIC_STATESET)
		return (enum metric_type)t;
	return METRIC_UNKNOWN;
}

/* State of storing one request. */
struct rw_store {
	struct appender *app; /* the request's appender */
	struct arena *arena;  /* scratch memory */
	struct label *lv;     /* label scratch array, in the arena */
	size_t lcap;          /* its capacity */
	struct rw_result *res; /* counters and status */
};

/* Store one series entry's samples; reject its histograms. */
static void store_series(struct rw_store *st, const Prometheus__TimeSeries *ts)
{
	struct rw_result *res = st->res;
	struct ts_error err;
	struct labels ls;
	uint64_t ref = 0;
	size_t i;

	if (ts->n_labels > st->lcap) {
		size_t cap = st->lcap ? st->lcap : 16;
		struct label *lv;

		while (cap < ts->n_labels)
			cap *= 2;
		lv = arena_alloc(st->arena, cap * sizeof(*lv));
		if (!lv) {
			res->rejected[RW_REASON_STORAGE] += ts->n_samples;
			set_problem(res, 500, "out of memory");
			return;
		}
		st->lv = lv;
		st->lcap = cap;
	}
	for (i = 0; i < ts->n_labels; i++) {
		st->lv[i].name = ts->labels[i]->name;
		st->lv[i].value = ts->labels[i]->value;
	}
	ls.v = st->lv;
	ls.n = ts->n_labels;
	res->exemplars += ts->n_exemplars;

	ts_error_clear(&err);
	if (labels_validate(&ls, &err) < 0) {
		char tail[TS_ERROR_MSG_MAX];
		struct sbuf sb;

		res->rejected[RW_REASON_INVALID_LABELS] += ts->n_samples + ts->n_histograms;
		if (res->status < 400) {
			/* the reason may quote raw bytes of the label */
			sb_init(&sb, tail, sizeof(tail));
			sb_add(&sb, ": ", 2);
			sb_add_clean(&sb, err.msg[0] ? err.msg : "invalid label set", false);
			/* show the labels as sent, not as validation left them */
			for (i = 0; i < ts->n_labels; i++) {
				st->lv[i].name = ts->labels[i]->name;
				st->lv[i].value = ts->labels[i]->value;
			}
			set_series_problem(res, 400, "series ", st->lv, ts->n_labels, tail);
		}
		return;
	}
	if (ts->n_histograms) {
		res->rejected[RW_REASON_HISTOGRAM] += ts->n_histograms;
		set_series_problem(res, 400, "native histograms are not supported, series ",
				   ls.v, ls.n, "");
	}
	for (i = 0; i < ts->n_samples; i++) {
		const Prometheus__Sample *s = ts->samples[i];
		int rc = appender_add(st->app, &ls, &ref, s->timestamp, s->value);

		switch (rc) {
		case 0:
			res->samples_written++;
			break;
		case TS_ERR_OUT_OF_ORDER:
			res->rejected[RW_REASON_OUT_OF_ORDER]++;
			set_series_problem(res, 400, "out of order sample for series ",
					   ls.v, ls.n, "");
			break;
		case TS_ERR_DUPLICATE:
			res->rejected[RW_REASON_DUPLICATE]++;
			set_series_problem(res, 400,
					   "duplicate sample for timestamp for series ",
					   ls.v, ls.n, "");
			break;
		default:
			res->rejected[RW_REASON_STORAGE]++;
			if (res->status < 500) {
				char tail[64];

				snprintf(tail, sizeof(tail), ": %s", ts_strerror(rc));
				set_series_problem(res, 500, "cannot append sample for series ",
						   ls.v, ls.n, tail);
			}
			break;
		}
	}
}

static void store_request(struct db *db, struct arena *arena,
			  const Prometheus__WriteRequest *req, struct rw_result *res)
{
	struct rw_store st = { 0 };
	size_t i;
	int rc;

	res->series = req->n_timeseries;
	st.arena = arena;
	st.res = res;
	st.app = db_appender(db);
	if (!st.app) {
		set_problem(res, 500, "cannot create appender: out of memory");
		return;
	}
	for (i = 0; i < req->n_timeseries; i++)
		store_series(&st, req->timeseries[i]);

	for (i = 0; i < req->n_metadata; i++) {
		const Prometheus__MetricMetadata *m = req->metadata[i];

		if (!m->metric_family_name[0])
			continue;
		if (db_set_metadata(db, m->metric_family_name, metric_type_of(m->type),
				    m->help, m->unit) == 0)
			res->metadata_written++;
	}

	rc = appender_commit(st.app);
	if (rc < 0) {
		res->rejected[RW_REASON_STORAGE] += res->samples_written;
		res->samples_written = 0;
		res->status = 0; /* the commit failure is the message */
		set_problem(res, 500, "cannot commit samples: %s", ts_strerror(rc));
	}
}

void rw_write(struct db *db, enum rw_version v, const uint8_t *body, size_t len,
	      const struct rw_opts *opts, struct rw_result *res)
{
	size_t max = RW_DEFAULT_MAX_DECODED_BYTES, dlen, outlen, limit;
	struct arena *arena = NULL;
	struct pb_alloc pa;
	Prometheus__WriteRequest *req;
	char *dec;

	clear_result(res);
	if (opts && opts->max_decoded_bytes)
		max = opts->max_decoded_bytes;
	if (v != RW_V1) {
		set_problem(res, 415, v == RW_V2
				? "remote write 2.0 is not supported yet"
				: "unsupported remote write protocol");
		return;
	}

	/* 1. the decoded length, before allocating anything of that size */
	if (!body || len == 0 ||
	    snappy_uncompressed_length((const char *)body, len, &dlen) != SNAPPY_OK) {
		set_problem(res, 400, "corrupt snappy body: cannot read the decoded length");
		return;
	}
	if (dlen > max) {
		set_problem(res, 413,
			    "decoded body of %zu bytes exceeds the limit of %zu bytes", dlen, max);
		return;
	}

	/* 2. the arena, capped */
	limit = ((size_t)1 << 20) + dlen * (RW_MEMORY_FACTOR + 1);
	arena = arena_new(limit);
	dec = arena ? arena_alloc(arena, dlen) : NULL;
	if (!dec) {
		set_problem(res, 500, "out of memory decoding %zu bytes", dlen);
		goto out;
	}

	/* 3. snappy */
	outlen = dlen;
	if (snappy_uncompress((const char *)body, len, dec, &outlen) != SNAPPY_OK ||
	    outlen != dlen) {
		set_problem(res, 400, "corrupt snappy body");
		goto out;
	}

	/* 4. protobuf */
	arena_protobuf_allocator(arena, &pa.inner);
	pa.arena = arena;
	pa.limit = limit;
	pa.over_limit = false;
	pa.nomem = false;
	{
		ProtobufCAllocator alloc = { pb_alloc_fn, pb_free_fn, &pa };

		req = prometheus__write_request__unpack(&alloc, dlen, (const uint8_t *)dec);
	}
	if (!req) {
		if (pa.over_limit)
			set_problem(res, 413,
				    "decoding the request needs more than %zu bytes of memory",
				    limit);
		else if (pa.nomem)
			set_problem(res, 500, "out of memory decoding the request");
		else
			set_problem(res, 400, "cannot decode protobuf WriteRequest");
		goto out;
	}

	/* 5., 6. */
	store_request(db, arena, req, res);
	if (res->status == 0)
		res->status = 204;
out:
	arena_free(arena);
}
