/*
 * remote_write.c - decode remote_write 1.0 requests and store them, and
 * the steps both versions share; see remote_write.h for the contract.
 * Steps 4 to 6 of a 2.0 request are in remote_write_v2.c.
 *
 * One call of rw_write runs these steps, each failing with its own status:
 *
 *   1. snappy header   the decoded length, checked against the limit
 *                      before anything of that size is allocated (413);
 *                      an unreadable header is a corrupt body (400)
 *   2. arena           one per call, capped at RW_MEMORY_FACTOR (2.0:
 *                      RW_V2_MEMORY_FACTOR) times the
 *                      decoded length; holds the decoded bytes, the index
 *                      the decoder builds, what protobuf-c unpacks, and
 *                      the label scratch array
 *   3. snappy block    decompressed into the arena (400 when corrupt)
 *   4. protobuf        the whole WriteRequest decoded before anything is
 *                      stored (400 when malformed, 413 when it needs more
 *                      memory than the cap): series, labels and samples by
 *                      hand into arrays that point into the decoded bytes,
 *                      exemplars, histograms and metadata by protobuf-c
 *                      through the arena allocator (see "decoding")
 *   5. store           per series entry: terminate its label strings in
 *                      place, point the scratch label array at them,
 *                      labels_validate (sorts; a bad series is skipped and
 *                      counted), then every sample through one appender
 *                      with the series ref cached across the entry's
 *                      samples; metadata to db_set_metadata
 *   6. commit          one appender_commit for the whole request (500 if
 *                      it fails), then the arena is freed in one go
 *
 * Invariants:
 *   1. Nothing is allocated per sample: this module's only mallocs are
 *      the arena's blocks, whose number grows with the request's bytes.
 *   2. Nothing is stored unless the whole request decodes.
 *   3. res->msg names the first problem only; the counters cover all.
 *   4. The status is the worst outcome seen: 500 over 400 over 204.
 */
#include "ingest/remote_write.h"
#include "ingest/remote_write_int.h"

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

void rw_sb_init(struct rw_sbuf *sb, char *p, size_t cap)
{
	sb->p = p;
	sb->len = 0;
	sb->cap = cap;
	sb->full = false;
	p[0] = '\0';
}

void rw_sb_add(struct rw_sbuf *sb, const char *s, size_t n)
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
void rw_sb_add_clean(struct rw_sbuf *sb, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	char tmp[8];

	while (*p && !sb->full) {
		size_t n;

		if (quote && (*p == '"' || *p == '\\')) {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			rw_sb_add(sb, tmp, 2);
			p++;
		} else if (*p == '\n') {
			rw_sb_add(sb, "\\n", 2);
			p++;
		} else if (*p >= 0x20 && *p < 0x7f) {
			const unsigned char *q = p;

			while (*q >= 0x20 && *q < 0x7f && !(quote && (*q == '"' || *q == '\\')))
				q++;
			rw_sb_add(sb, (const char *)p, (size_t)(q - p));
			p = q;
		} else if (*p >= 0x80 && (n = utf8_seq(p)) > 0) {
			rw_sb_add(sb, (const char *)p, n);
			p += n;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
			rw_sb_add(sb, tmp, 4);
			p++;
		}
	}
}

/* Append a label set as Prometheus prints it: {a="b", c="d"}. */
void rw_sb_add_labels(struct rw_sbuf *sb, const struct label *v, size_t n)
{
	size_t i;

	rw_sb_add(sb, "{", 1);
	for (i = 0; i < n; i++) {
		if (i)
			rw_sb_add(sb, ", ", 2);
		rw_sb_add_clean(sb, v[i].name, false);
		rw_sb_add(sb, "=\"", 2);
		rw_sb_add_clean(sb, v[i].value, true);
		rw_sb_add(sb, "\"", 1);
	}
	rw_sb_add(sb, "}", 1);
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

void rw_set_problem(struct rw_result *res, int status, const char *fmt, ...)
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

/* Like rw_set_problem with the message "<what> <labels><tail>". */
void rw_set_series_problem(struct rw_result *res, int status, const char *what,
			       const struct label *v, size_t n, const char *tail)
{
	char lbuf[MSG_LABELS_MAX];
	struct rw_sbuf sb;

	if (res->status >= status)
		return;
	rw_sb_init(&sb, lbuf, sizeof(lbuf));
	rw_sb_add_labels(&sb, v, n);
	rw_set_problem(res, status, "%s%s%s", what, lbuf, tail);
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
	struct rw_sbuf sb;

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	rw_sb_init(&sb, out, cap);
	rw_sb_add_clean(&sb, tmp, true);
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
			rw_set_problem(res, 415,
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
			rw_set_problem(res, 415,
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
				v = RW_V2;
			} else {
				rw_set_problem(res, 415,
					    "unsupported protobuf message \"%s\": expected proto="
					    PROTO_V1 " or proto=" PROTO_V2,
					    msg_str(shown, sizeof(shown), val, vn));
				return RW_VNONE;
			}
		}
	}
ok:
	res->status = 204;
	return v;
}

/* ------------------------------------------------------------ decoding */

void *rw_pb_alloc_fn(void *data, size_t size)
{
	struct rw_pb_alloc *pa = data;
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

void rw_pb_free_fn(void *data, void *p)
{
	struct rw_pb_alloc *pa = data;

	pa->inner.free(pa->inner.allocator_data, p);
}

/*
 * The hot part of a WriteRequest - TimeSeries, Label, Sample - is decoded
 * by hand below, because protobuf-c's generic unpack (one allocation and a
 * copy per label string, descriptor lookups per field) costs several times
 * more than everything else on the write path. Exemplars, histograms and
 * metadata, which are rare and not stored (or stored once), go through
 * protobuf-c itself, so their validation is protobuf-c's.
 *
 * The decoder accepts exactly the wire format protobuf-c 1.4 accepts for
 * these messages (checked against it by the fuzz target):
 *   - a tag is a varint of at most 5 bytes; a first byte of 0x00-0x07
 *     (field 0) and the wire types 3, 4 (groups), 6 and 7 are errors; a
 *     field 0 spelt in more bytes is an unknown field, as in protobuf-c
 *   - varints take at most 10 bytes (excess high bits are dropped),
 *     length prefixes at most 5 and must fit in what is left
 *   - a known field with another wire type than its own is an error;
 *     unknown fields are skipped; a repeated scalar field seen twice keeps
 *     the last value
 *
 * Strings are not copied: a label's name and value point into the
 * decompressed buffer and are NUL-terminated in place once the whole
 * request has been decoded. Every string is followed by a tag, a length
 * or the end of the buffer (allocated one byte longer), never by the bytes
 * of another string, so the terminators only overwrite bytes that were
 * already read. A NUL byte inside a string would cut it short: such a
 * series is rejected with the invalid labels.
 */
/* A label as decoded: pointers into the buffer, lengths. */
struct dlabel {
	const char *name;  /* name bytes (not yet terminated) */
	const char *value; /* value bytes (not yet terminated) */
	uint32_t nlen;     /* name length */
	uint32_t vlen;     /* value length */
};

/* One sample as decoded. */
struct dsample {
	int64_t t; /* timestamp, ms */
	double v;  /* value, bits as sent */
};

/* An exemplar of a series entry, unpacked by protobuf-c; a list in the arena. */
struct dexemplar {
	const Prometheus__Exemplar *e; /* the exemplar */
	struct dexemplar *next;        /* the entry's next exemplar, in request order */
};

/* One TimeSeries entry: ranges of the label and sample arrays. */
struct dseries {
	size_t label0;      /* first label in dreq.labels */
	size_t sample0;     /* first sample in dreq.samples */
	uint32_t nlabels;   /* labels */
	uint32_t nsamples;  /* samples */
	uint32_t nexemplars; /* exemplars, listed at ex */
	struct dexemplar *ex, *ex_last; /* first and last exemplar, NULL when none */
	uint32_t nhistograms; /* native histograms (validated, not kept) */
};

/* A decoded WriteRequest; every array lives in the request arena. */
struct dreq {
	struct dseries *series;  /* series entries in request order */
	size_t nseries, cseries; /* used, capacity */
	struct dlabel *labels;   /* labels of all series */
	size_t nlabels, clabels; /* used, capacity */
	struct dsample *samples; /* samples of all series */
	size_t nsamples, csamples; /* used, capacity */
	Prometheus__MetricMetadata **md; /* metadata, unpacked by protobuf-c */
	size_t nmd, cmd;         /* used, capacity */
	struct rw_pb_alloc *pa;     /* the request arena, with failure flags */
	ProtobufCAllocator *pb;  /* the same for protobuf-c */
};

/* Make room for one more element of an arena array (doubling). */
static bool grow(struct dreq *d, void **arr, size_t *cap, size_t used, size_t elem)
{
	size_t ncap;
	void *n;

	if (used < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / elem / 2) {
		d->pa->over_limit = true;
		return false;
	}
	n = rw_pb_alloc_fn(d->pa, ncap * elem);
	if (!n)
		return false;
	if (used)
		memcpy(n, *arr, used * elem);
	*arr = n;
	*cap = ncap;
	return true;
}

static enum dec_status dec_label(struct dreq *d, const uint8_t *p, const uint8_t *end)
{
	struct dlabel *l;

	if (!grow(d, (void **)&d->labels, &d->clabels, d->nlabels, sizeof(*d->labels)))
		return DEC_NOMEM;
	l = &d->labels[d->nlabels++];
	l->name = l->value = "";
	l->nlen = l->vlen = 0;
	while (p < end) {
		uint32_t field;
		unsigned wt;
		size_t n;

		if (!rw_get_tag(&p, end, &field, &wt))
			return DEC_MALFORMED;
		if (field == 1 || field == 2) {
			if (wt != WT_LEN || !rw_get_len(&p, end, &n))
				return DEC_MALFORMED;
			if (field == 1) {
				l->name = (const char *)p;
				l->nlen = (uint32_t)n;
			} else {
				l->value = (const char *)p;
				l->vlen = (uint32_t)n;
			}
			p += n;
		} else if (!rw_skip_field(&p, end, wt)) {
			return DEC_MALFORMED;
		}
	}
	return DEC_OK;
}

static enum dec_status dec_sample(struct dreq *d, const uint8_t *p, const uint8_t *end)
{
	struct dsample *s;

	if (!grow(d, (void **)&d->samples, &d->csamples, d->nsamples, sizeof(*d->samples)))
		return DEC_NOMEM;
	s = &d->samples[d->nsamples++];
	s->t = 0;
	s->v = 0;
	while (p < end) {
		uint32_t field;
		unsigned wt;
		uint64_t u;

		if (!rw_get_tag(&p, end, &field, &wt))
			return DEC_MALFORMED;
		if (field == 1) {
			if (wt != WT_I64 || end - p < 8)
				return DEC_MALFORMED;
			u = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
			    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
			    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
			memcpy(&s->v, &u, 8);
			p += 8;
		} else if (field == 2) {
			if (wt != WT_VARINT || !rw_get_varint(&p, end, &u))
				return DEC_MALFORMED;
			s->t = (int64_t)u;
		} else if (!rw_skip_field(&p, end, wt)) {
			return DEC_MALFORMED;
		}
	}
	return DEC_OK;
}

static enum dec_status dec_series(struct dreq *d, const uint8_t *p, const uint8_t *end)
{
	struct dseries *ts;
	size_t idx;
	enum dec_status rc;

	if (!grow(d, (void **)&d->series, &d->cseries, d->nseries, sizeof(*d->series)))
		return DEC_NOMEM;
	idx = d->nseries++;
	ts = &d->series[idx];
	memset(ts, 0, sizeof(*ts));
	ts->label0 = d->nlabels;
	ts->sample0 = d->nsamples;
	while (p < end) {
		uint32_t field;
		unsigned wt;
		size_t n;

		if (!rw_get_tag(&p, end, &field, &wt))
			return DEC_MALFORMED;
		if (field < 1 || field > 4) {
			if (!rw_skip_field(&p, end, wt))
				return DEC_MALFORMED;
			continue;
		}
		if (wt != WT_LEN || !rw_get_len(&p, end, &n))
			return DEC_MALFORMED;
		switch (field) {
		case 1:
			rc = dec_label(d, p, p + n);
			if (rc != DEC_OK)
				return rc;
			break;
		case 2:
			rc = dec_sample(d, p, p + n);
			if (rc != DEC_OK)
				return rc;
			break;
		case 3: {
			struct dexemplar *de = d->pb->alloc(d->pb->allocator_data, sizeof(*de));

			if (!de)
				return DEC_MALFORMED; /* out of memory: the caller knows */
			de->e = prometheus__exemplar__unpack(d->pb, n, p);
			if (!de->e)
				return DEC_MALFORMED; /* or out of memory: the caller knows */
			de->next = NULL;
			if (ts->ex_last)
				ts->ex_last->next = de;
			else
				ts->ex = de;
			ts->ex_last = de;
			ts->nexemplars++;
			break;
		}
		case 4:
			if (!prometheus__histogram__unpack(d->pb, n, p))
				return DEC_MALFORMED;
			d->series[idx].nhistograms++;
			break;
		}
		p += n;
	}
	/* labels and samples of one entry are contiguous: nested messages of
	 * this entry are the only ones decoded in between */
	ts = &d->series[idx];
	ts->nlabels = (uint32_t)(d->nlabels - ts->label0);
	ts->nsamples = (uint32_t)(d->nsamples - ts->sample0);
	return DEC_OK;
}

/* Decode a WriteRequest of len bytes at buf (which has one spare byte
 * behind it for a terminator). */
static enum dec_status dec_request(struct dreq *d, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;
	enum dec_status rc;

	/* room for a Prometheus-shaped request without regrowing: about
	 * 200 bytes per series entry of 9 labels and one sample */
	d->cseries = len / 160 + 16;
	d->clabels = len / 20 + 16;
	d->csamples = len / 160 + 16;
	d->series = rw_pb_alloc_fn(d->pa, d->cseries * sizeof(*d->series));
	d->labels = rw_pb_alloc_fn(d->pa, d->clabels * sizeof(*d->labels));
	d->samples = rw_pb_alloc_fn(d->pa, d->csamples * sizeof(*d->samples));
	if (!d->series || !d->labels || !d->samples)
		return DEC_NOMEM;

	while (p < end) {
		uint32_t field;
		unsigned wt;
		size_t n;

		if (!rw_get_tag(&p, end, &field, &wt))
			return DEC_MALFORMED;
		if (field == 1 || field == 3) {
			if (wt != WT_LEN || !rw_get_len(&p, end, &n))
				return DEC_MALFORMED;
			if (field == 1) {
				rc = dec_series(d, p, p + n);
				if (rc != DEC_OK)
					return rc;
			} else {
				Prometheus__MetricMetadata *m;

				if (!grow(d, (void **)&d->md, &d->cmd, d->nmd, sizeof(*d->md)))
					return DEC_NOMEM;
				m = prometheus__metric_metadata__unpack(d->pb, n, p);
				if (!m)
					return DEC_MALFORMED;
				d->md[d->nmd++] = m;
			}
			p += n;
		} else if (!rw_skip_field(&p, end, wt)) {
			return DEC_MALFORMED;
		}
	}
	return DEC_OK;
}

/* ------------------------------------------------------------ storing */

static enum metric_type metric_type_of(Prometheus__MetricMetadata__MetricType t)
{
	if ((int)t >= METRIC_UNKNOWN && (int)t <= METRIC_STATESET)
		return (enum metric_type)t;
	return METRIC_UNKNOWN;
}

/* State of storing one request. */
struct rw_store {
	struct appender *app;  /* the request's appender */
	struct db *db;         /* the store (exemplars go straight to it) */
	struct arena *arena;   /* scratch memory */
	struct label *lv;      /* label scratch array, in the arena */
	size_t lcap;           /* its capacity */
	struct rw_result *res; /* counters and status */
};

/* Reject a series whose labels failed validation; dl are its labels as
 * sent (already terminated), why the reason. */
static void reject_labels(struct rw_store *st, const struct dseries *ts,
			  const struct dlabel *dl, const char *why)
{
	struct rw_result *res = st->res;
	char tail[TS_ERROR_MSG_MAX];
	struct rw_sbuf sb;
	size_t i;

	res->rejected[RW_REASON_INVALID_LABELS] += (uint64_t)ts->nsamples + ts->nhistograms;
	if (res->status >= 400)
		return;
	/* the reason may quote raw bytes of the label */
	rw_sb_init(&sb, tail, sizeof(tail));
	rw_sb_add(&sb, ": ", 2);
	rw_sb_add_clean(&sb, why, false);
	/* validation sorted the working copy: show the labels as sent */
	for (i = 0; i < ts->nlabels; i++) {
		st->lv[i].name = dl[i].name;
		st->lv[i].value = dl[i].value;
	}
	rw_set_series_problem(res, 400, "series ", st->lv, ts->nlabels, tail);
}

/*
 * Keep the exemplars of a series entry whose labels ls passed validation.
 * As Prometheus's receiver does, an exemplar older than the series'
 * newest one is dropped without failing the request; a repeat of the
 * newest is not stored twice.
 */
static void store_exemplars(struct rw_store *st, const struct dseries *ts,
			    const struct labels *ls)
{
	const struct dexemplar *de;

	for (de = ts->ex; de; de = de->next) {
		const Prometheus__Exemplar *e = de->e;
		struct label *el = arena_alloc(st->arena,
					       (e->n_labels ? e->n_labels : 1) * sizeof(*el));
		struct labels exl = { el, e->n_labels };
		size_t i;

		if (!el)
			return;
		for (i = 0; i < e->n_labels; i++) {
			el[i].name = e->labels[i]->name ? e->labels[i]->name : "";
			el[i].value = e->labels[i]->value ? e->labels[i]->value : "";
		}
		/* v1 reports no written counts: exemplars_written stays 0 */
		(void)db_add_exemplar(st->db, ls, &exl, e->timestamp, e->value);
	}
}

/* Store one series entry's samples and exemplars; reject its histograms. */
static void store_series(struct rw_store *st, const struct dreq *d, const struct dseries *ts)
{
	const struct dlabel *dl = d->labels + ts->label0;
	const struct dsample *ds = d->samples + ts->sample0;
	struct rw_result *res = st->res;
	struct ts_error err;
	struct labels ls;
	uint64_t ref = 0;
	bool nul = false;
	size_t i;

	res->exemplars += ts->nexemplars;
	if (ts->nlabels > st->lcap) {
		size_t cap = st->lcap ? st->lcap : 32;
		struct label *lv;

		while (cap < ts->nlabels)
			cap *= 2;
		lv = arena_alloc(st->arena, cap * sizeof(*lv));
		if (!lv) {
			res->rejected[RW_REASON_STORAGE] += ts->nsamples;
			rw_set_problem(res, 500, "out of memory");
			return;
		}
		st->lv = lv;
		st->lcap = cap;
	}
	/* terminate in place (see the decoder's comment) */
	for (i = 0; i < ts->nlabels; i++) {
		char *n = (char *)dl[i].name, *v = (char *)dl[i].value;

		if (dl[i].nlen) {
			nul |= memchr(n, 0, dl[i].nlen) != NULL;
			n[dl[i].nlen] = '\0';
		}
		if (dl[i].vlen) {
			nul |= memchr(v, 0, dl[i].vlen) != NULL;
			v[dl[i].vlen] = '\0';
		}
		st->lv[i].name = n;
		st->lv[i].value = v;
	}
	if (nul) {
		reject_labels(st, ts, dl, "label name or value holds a NUL byte");
		return;
	}
	ls.v = st->lv;
	ls.n = ts->nlabels;
	err.code = 0; /* ts_error_clear would zero 512 bytes per series */
	err.msg[0] = '\0';
	if (labels_validate(&ls, &err) < 0) {
		reject_labels(st, ts, dl, err.msg[0] ? err.msg : "invalid label set");
		return;
	}
	if (ts->ex)
		store_exemplars(st, ts, &ls);
	if (ts->nhistograms) {
		res->rejected[RW_REASON_HISTOGRAM] += ts->nhistograms;
		rw_set_series_problem(res, 400, "native histograms are not supported, series ",
				   ls.v, ls.n, "");
	}
	for (i = 0; i < ts->nsamples; i++) {
		int rc = appender_add(st->app, &ls, &ref, ds[i].t, ds[i].v);

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
}

static void store_request(struct db *db, struct arena *arena, const struct dreq *d,
			  struct rw_result *res)
{
	struct rw_store st = { 0 };
	size_t i;
	int rc;

	res->series = d->nseries;
	st.arena = arena;
	st.res = res;
	st.db = db;
	st.app = db_appender(db);
	if (!st.app) {
		rw_set_problem(res, 500, "cannot create appender: out of memory");
		return;
	}
	for (i = 0; i < d->nseries; i++)
		store_series(&st, d, &d->series[i]);

	for (i = 0; i < d->nmd; i++) {
		const Prometheus__MetricMetadata *m = d->md[i];

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
		rw_set_problem(res, 500, "cannot commit samples: %s", ts_strerror(rc));
	}
}

void rw_write(struct db *db, enum rw_version v, const uint8_t *body, size_t len,
	      const struct rw_opts *opts, struct rw_result *res)
{
	size_t max = RW_DEFAULT_MAX_DECODED_BYTES, dlen, outlen, limit;
	struct arena *arena = NULL;
	ProtobufCAllocator alloc;
	struct rw_pb_alloc pa;
	struct dreq d;
	enum dec_status rc;
	char *dec;

	clear_result(res);
	if (opts && opts->max_decoded_bytes)
		max = opts->max_decoded_bytes;
	if (v != RW_V1 && v != RW_V2) {
		rw_set_problem(res, 415, "unsupported remote write protocol");
		return;
	}

	/* 1. the decoded length, before allocating anything of that size */
	if (!body || len == 0 ||
	    snappy_uncompressed_length((const char *)body, len, &dlen) != SNAPPY_OK) {
		rw_set_problem(res, 400, "corrupt snappy body: cannot read the decoded length");
		return;
	}
	if (dlen > max) {
		rw_set_problem(res, 413,
			    "decoded body of %zu bytes exceeds the limit of %zu bytes", dlen, max);
		return;
	}

	/* 2. the arena, capped; one spare byte behind the body for the
	 * terminator of a string that ends the buffer */
	limit = ((size_t)1 << 20) +
		dlen * ((v == RW_V2 ? RW_V2_MEMORY_FACTOR : RW_MEMORY_FACTOR) + 1);
	arena = arena_new(limit);
	dec = arena ? arena_alloc(arena, dlen + 1) : NULL;
	if (!dec) {
		rw_set_problem(res, 500, "out of memory decoding %zu bytes", dlen);
		goto out;
	}

	/* 3. snappy */
	outlen = dlen;
	if (snappy_uncompress((const char *)body, len, dec, &outlen) != SNAPPY_OK ||
	    outlen != dlen) {
		rw_set_problem(res, 400, "corrupt snappy body");
		goto out;
	}
	dec[dlen] = '\0';

	/* 4. protobuf */
	arena_protobuf_allocator(arena, &pa.inner);
	pa.arena = arena;
	pa.limit = limit;
	pa.over_limit = false;
	pa.nomem = false;
	alloc.alloc = rw_pb_alloc_fn;
	alloc.free = rw_pb_free_fn;
	alloc.allocator_data = &pa;
	if (v == RW_V2) {
		/* 4., 5., 6. for 2.0 (remote_write_v2.c) */
		rc = rw_v2_write(db, arena, &alloc, (const uint8_t *)dec, dlen, res);
	} else {
		memset(&d, 0, sizeof(d));
		d.pa = &pa;
		d.pb = &alloc;
		rc = dec_request(&d, (const uint8_t *)dec, dlen);
	}
	if (rc != DEC_OK) {
		if (pa.over_limit)
			rw_set_problem(res, 413,
				    "decoding the request needs more than %zu bytes of memory",
				    limit);
		else if (pa.nomem || rc == DEC_NOMEM)
			rw_set_problem(res, 500, "out of memory decoding the request");
		else if (v == RW_V2)
			rw_set_problem(res, 400, "cannot decode protobuf " PROTO_V2);
		else
			rw_set_problem(res, 400, "cannot decode protobuf WriteRequest");
		goto out;
	}

	/* 5., 6. */
	if (v == RW_V1)
		store_request(db, arena, &d, res);
	if (res->status == 0)
		res->status = 204;
out:
	arena_free(arena);
}
