/*
 * remote_read.c - POST /api/v1/read, Prometheus's remote_read protocol.
 *
 * Request: a snappy block holding a prometheus.ReadRequest (one or more
 * queries: matchers, [start, end] in ms, hints which are ignored). The
 * response type is the first entry of accepted_response_types that varve
 * speaks (SAMPLES when the list is empty):
 *
 *   SAMPLES              snappy(ReadResponse): per query, in query order,
 *                        the matching series with their raw samples in
 *                        [start, end] (stale markers included), labels and
 *                        series sorted. Content-Type application/x-protobuf,
 *                        Content-Encoding snappy.
 *   STREAMED_XOR_CHUNKS  a sequence of frames
 *                          uvarint(len) | CRC-32C(msg), 4 bytes big-endian | msg
 *                        each msg a ChunkedReadResponse with one series and
 *                        its query_index. The stored XOR chunks (Prometheus's
 *                        encoding, see tsdb/chunk_xor.h) are shipped as
 *                        they are when they lie inside [start, end]; a
 *                        chunk straddling a bound is re-encoded with only
 *                        the samples inside, as Prometheus trims them. A
 *                        series whose chunks exceed the frame budget
 *                        (--remote-read.max-bytes-in-frame, 1 MiB) is split
 *                        over several frames. Content-Type
 *                        application/x-streamed-protobuf;
 *                        proto=prometheus.ChunkedReadResponse.
 *
 * Both answers are built in memory and sent whole (libmicrohttpd then
 * writes them out). SAMPLES answers are capped at
 * --remote-read.sample-limit samples (Prometheus's 5e7 by default; 0 is
 * no limit); streamed answers are not, as in Prometheus.
 *
 * Errors are plain text as Prometheus's handler writes them: 400 for an
 * undecodable request, an unsupported response type, a bad matcher or the
 * sample limit; 500 when storage fails.
 */
#include <pthread.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "prometheus.pb-c.h"
#include "tsdb/chunk_xor.h"
#include "tsdb/db.h"
#include "util/arena.h"
#include "util/crc32c.h"

#define TEXT_TYPE "text/plain; charset=utf-8"
#define SAMPLES_TYPE "application/x-protobuf"
#define STREAM_TYPE "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

/* ------------------------------------------------------------ helpers */

static void fail(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	char msg[TS_ERROR_MSG_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_setlen(&resp->body, 0);
	buf_addstr(&resp->body, msg);
	buf_addch(&resp->body, '\n');
	resp->status = status;
	resp->content_type = TEXT_TYPE;
	resp->nhdr = 0;
}

/* Label array of a series as protobuf messages, in the arena. */
static Prometheus__Label **pb_labels(struct arena *a, const struct labels *ls)
{
	Prometheus__Label *l = arena_alloc(a, (ls->n ? ls->n : 1) * sizeof(*l));
	Prometheus__Label **lp = arena_alloc(a, (ls->n ? ls->n : 1) * sizeof(*lp));
	size_t i;

	if (!l || !lp)
		return NULL;
	for (i = 0; i < ls->n; i++) {
		prometheus__label__init(&l[i]);
		l[i].name = (char *)ls->v[i].name;
		l[i].value = (char *)ls->v[i].value;
		lp[i] = &l[i];
	}
	return lp;
}

/* Compile the matchers of one query into ms; 0, or a negative ts_err with
 * err filled (and nothing left to release) when one is bad. */
static int query_matchers(const Prometheus__Query *q, struct matcher *ms, struct ts_error *err)
{
	size_t i;
	int rc;

	for (i = 0; i < q->n_matchers; i++) {
		const Prometheus__LabelMatcher *lm = q->matchers[i];
		enum matcher_type t;

		switch (lm->type) {
		case PROMETHEUS__LABEL_MATCHER__TYPE__EQ:
			t = MATCHER_EQ;
			break;
		case PROMETHEUS__LABEL_MATCHER__TYPE__NEQ:
			t = MATCHER_NEQ;
			break;
		case PROMETHEUS__LABEL_MATCHER__TYPE__RE:
			t = MATCHER_RE;
			break;
		case PROMETHEUS__LABEL_MATCHER__TYPE__NRE:
			t = MATCHER_NRE;
			break;
		default:
			rc = ts_error_set(err, TS_ERR_INVALID, "unknown label matcher type %d",
					  (int)lm->type);
			goto bad;
		}
		rc = matcher_init(&ms[i], t, lm->name ? lm->name : "", lm->value ? lm->value : "",
				  err);
		if (rc)
			goto bad;
	}
	return 0;
bad:
	while (i--)
		matcher_release(&ms[i]);
	return rc;
}

/* Append one frame (uvarint length, CRC-32C, message) for msg to out. */
static bool append_frame(struct buf *out, const Prometheus__ChunkedReadResponse *msg)
{
	size_t len = prometheus__chunked_read_response__get_packed_size(msg), at;
	uint8_t hdr[16];
	size_t h = 0;
	uint64_t v = len;
	uint32_t crc;

	while (v >= 0x80) {
		hdr[h++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	hdr[h++] = (uint8_t)v;
	if (!buf_grow(out, h + 4 + len))
		return false;
	buf_add(out, hdr, h);
	at = out->len + 4;
	buf_add(out, "\0\0\0\0", 4); /* CRC goes here */
	prometheus__chunked_read_response__pack(msg, (uint8_t *)out->data + at);
	crc = crc32c(0, out->data + at, len);
	out->data[at - 4] = (char)(crc >> 24);
	out->data[at - 3] = (char)(crc >> 16);
	out->data[at - 2] = (char)(crc >> 8);
	out->data[at - 1] = (char)crc;
	out->len = at + len;
	out->data[out->len] = '\0';
	return true;
}

/*
 * Re-encode the samples of chunk c that fall in [mint, maxt] into a new
 * chunk in the arena (the boundary chunks of a range, as Prometheus trims
 * them). *out gets data NULL when no sample is left. False when out of
 * memory or the stored chunk is corrupt.
 */
static bool trim_chunk(struct arena *a, const struct series_chunk *c, int64_t mint,
		       int64_t maxt, Prometheus__Chunk *out)
{
	size_t cap = 2 + (size_t)XOR_CHUNK_SAMPLES * 2 * XOR_MAX_SAMPLE_BYTES + 8;
	struct xor_iter it;
	struct xor_enc e;
	int64_t t, first = 0, last = 0;
	size_t n = 0;
	uint8_t *mem;
	double v;
	int rc;

	out->data.data = NULL;
	out->data.len = 0;
	/* a chunk holds at most 65535 samples: bound the buffer by its count */
	if (c->len >= 2)
		cap = 2 + (size_t)(((unsigned)c->data[0] << 8) | c->data[1]) * XOR_MAX_SAMPLE_BYTES + 8;
	mem = arena_alloc(a, cap);
	if (!mem)
		return false;
	xor_enc_init(&e, mem, cap);
	xor_iter_init(&it, c->data, c->len);
	while ((rc = xor_iter_next(&it, &t, &v)) == 1) {
		if (t > maxt)
			break;
		if (t < mint)
			continue;
		if (!xor_enc_append(&e, t, v))
			return false; /* cap is the worst case: cannot happen */
		if (!n++)
			first = t;
		last = t;
	}
	if (rc < 0)
		return false;
	if (!n)
		return true;
	out->min_time_ms = first;
	out->max_time_ms = last;
	out->data.data = mem;
	out->data.len = xor_enc_len(&e);
	return true;
}

/*
 * Frames for one series: its stored chunks, shipped as they are when they
 * lie inside [mint, maxt] and re-encoded to the samples inside it when
 * they straddle a bound, grouped so that each frame's chunk bytes stay
 * under max_frame (a single larger chunk gets a frame of its own).
 * Chunk messages and trimmed chunks come from the arena a; stored chunk
 * bytes are referenced, not copied.
 */
static bool stream_series(struct arena *a, struct buf *out, int64_t query_index,
			  const struct chunk_series *s, int64_t mint, int64_t maxt,
			  size_t max_frame)
{
	Prometheus__ChunkedSeries cs = PROMETHEUS__CHUNKED_SERIES__INIT;
	Prometheus__ChunkedReadResponse msg = PROMETHEUS__CHUNKED_READ_RESPONSE__INIT;
	Prometheus__ChunkedSeries *csp = &cs;
	Prometheus__Chunk *ch = arena_alloc(a, (s->n ? s->n : 1) * sizeof(*ch));
	Prometheus__Chunk **chp = arena_alloc(a, (s->n ? s->n : 1) * sizeof(*chp));
	size_t nchunks = 0, i, first, frame_bytes;

	if (!ch || !chp)
		return false;
	cs.labels = pb_labels(a, &s->labels);
	if (!cs.labels)
		return false;
	cs.n_labels = s->labels.n;
	for (i = 0; i < s->n; i++) {
		const struct series_chunk *c = &s->c[i];
		Prometheus__Chunk *pc = &ch[nchunks];

		prometheus__chunk__init(pc);
		pc->type = PROMETHEUS__CHUNK__ENCODING__XOR;
		if (c->mint >= mint && c->maxt <= maxt) {
			pc->min_time_ms = c->mint;
			pc->max_time_ms = c->maxt;
			pc->data.data = (uint8_t *)c->data;
			pc->data.len = c->len;
		} else if (!trim_chunk(a, c, mint, maxt, pc)) {
			return false;
		}
		if (pc->data.data) {
			chp[nchunks] = pc;
			nchunks++;
		}
	}
	msg.query_index = query_index;
	msg.chunked_series = &csp;
	msg.n_chunked_series = 1;
	for (first = 0; first < nchunks;) {
		frame_bytes = 0;
		for (i = first; i < nchunks; i++) {
			if (i > first && frame_bytes + chp[i]->data.len > max_frame)
				break;
			frame_bytes += chp[i]->data.len;
		}
		cs.chunks = &chp[first];
		cs.n_chunks = i - first;
		if (!append_frame(out, &msg))
			return false;
		first = i;
	}
	return true;
}

/* The STREAMED_XOR_CHUNKS answer: every query's series, in query order. */
static void answer_streamed(struct api *api, struct http_request *req,
			    struct http_response *resp, const Prometheus__ReadRequest *rr)
{
	struct chunk_set set = { NULL, 0 };
	struct querier *q = db_querier(api->db);
	struct ts_error err;
	size_t i, k;
	int rc;

	if (!q) {
		fail(resp, 500, "out of memory");
		return;
	}
	for (i = 0; i < rr->n_queries; i++) {
		const Prometheus__Query *pq = rr->queries[i];
		struct matcher *ms = arena_calloc(req->arena, pq->n_matchers ? pq->n_matchers : 1,
						  sizeof(*ms));

		ts_error_clear(&err);
		if (!ms) {
			fail(resp, 500, "out of memory");
			goto out;
		}
		rc = query_matchers(pq, ms, &err);
		if (rc) {
			fail(resp, 400, "invalid matcher in query %zu: %s", i, err.msg);
			goto out;
		}
		rc = querier_select_chunks(q, ms, pq->n_matchers, pq->start_timestamp_ms,
					   pq->end_timestamp_ms, &set, &err);
		for (k = 0; k < pq->n_matchers; k++)
			matcher_release(&ms[k]);
		if (rc) {
			fail(resp, rc == TS_ERR_INVALID ? 400 : 500, "reading query %zu: %s", i,
			     err.msg[0] ? err.msg : ts_strerror(rc));
			goto out;
		}
		for (k = 0; k < set.n; k++)
			if (!stream_series(req->arena, &resp->body, (int64_t)i, &set.s[k],
					   pq->start_timestamp_ms, pq->end_timestamp_ms,
					   api->rr_max_frame_bytes)) {
				fail(resp, 500, "out of memory or corrupt chunk in query %zu", i);
				goto out;
			}
		chunk_set_release(&set);
	}
	resp->status = 200;
	resp->content_type = STREAM_TYPE;
out:
	chunk_set_release(&set);
	querier_free(q);
}

/* ------------------------------------------------------------ handler */

void api_handle_read(struct http_request *req, struct http_response *resp, void *ctx)
{
	struct api *api = ctx;
	Prometheus__ReadRequest *rr = NULL;
	Prometheus__ReadResponse rsp = PROMETHEUS__READ_RESPONSE__INIT;
	ProtobufCAllocator alloc;
	struct series_set *sets = NULL;
	struct querier *q = NULL;
	struct ts_error err;
	size_t raw_len = 0, i, k, nsets = 0;
	uint64_t total = 0, limit;
	bool streamed = false, found;
	char *raw;
	int rc;

	if (strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "POST");
		http_response_text(resp, 405, TEXT_TYPE, "method not allowed: use POST\n");
		return;
	}
	limit = api->rr_sample_limit;

	/* decode: snappy block, then the protobuf message, both in the arena */
	if (!req->body ||
	    snappy_uncompressed_length((const char *)req->body, req->body_len, &raw_len) !=
		    SNAPPY_OK) {
		fail(resp, 400, "cannot decode read request: corrupt snappy block");
		return;
	}
	if (raw_len > api->rw_max_decoded_bytes) {
		fail(resp, 413,
		     "read request of %zu bytes decoded exceeds the limit of %zu, set by --remote-write.max-decoded-bytes",
		     raw_len, api->rw_max_decoded_bytes);
		return;
	}
	raw = arena_alloc(req->arena, raw_len ? raw_len : 1);
	if (!raw) {
		fail(resp, 500, "out of memory");
		return;
	}
	if (snappy_uncompress((const char *)req->body, req->body_len, raw, &raw_len) !=
	    SNAPPY_OK) {
		fail(resp, 400, "cannot decode read request: corrupt snappy block");
		return;
	}
	arena_protobuf_allocator(req->arena, &alloc);
	rr = prometheus__read_request__unpack(&alloc, raw_len, (const uint8_t *)raw);
	if (!rr) {
		fail(resp, 400, "cannot decode read request: not a prometheus.ReadRequest");
		return;
	}

	/* response type: the first one we speak, SAMPLES when none listed */
	found = rr->n_accepted_response_types == 0;
	for (i = 0; i < rr->n_accepted_response_types && !found; i++) {
		if (rr->accepted_response_types[i] ==
		    PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES) {
			found = true;
		} else if (rr->accepted_response_types[i] ==
			   PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS) {
			found = true;
			streamed = true;
		}
	}
	if (!found) {
		fail(resp, 400,
		     "server does not support any of the requested response types; supported: SAMPLES, STREAMED_XOR_CHUNKS");
		return;
	}

	if (streamed) {
		answer_streamed(api, req, resp, rr);
		goto out;
	}
	sets = calloc(rr->n_queries ? rr->n_queries : 1, sizeof(*sets));
	q = db_querier(api->db);
	if (!sets || !q) {
		fail(resp, 500, "out of memory");
		goto out;
	}
	for (i = 0; i < rr->n_queries; i++) {
		const Prometheus__Query *pq = rr->queries[i];
		struct matcher *ms = arena_calloc(req->arena, pq->n_matchers ? pq->n_matchers : 1,
						  sizeof(*ms));

		ts_error_clear(&err);
		if (!ms) {
			fail(resp, 500, "out of memory");
			goto out;
		}
		rc = query_matchers(pq, ms, &err);
		if (rc) {
			fail(resp, 400, "invalid matcher in query %zu: %s", i, err.msg);
			goto out;
		}
		rc = querier_select(q, ms, pq->n_matchers, pq->start_timestamp_ms,
				    pq->end_timestamp_ms, true, 0, &sets[i], &err);
		for (k = 0; k < pq->n_matchers; k++)
			matcher_release(&ms[k]);
		if (rc) {
			fail(resp, rc == TS_ERR_INVALID ? 400 : 500, "reading query %zu: %s", i,
			     err.msg[0] ? err.msg : ts_strerror(rc));
			goto out;
		}
		nsets++;
		for (k = 0; k < sets[i].n; k++)
			total += sets[i].s[k].n;
		if (limit && total > limit) {
			fail(resp, 400,
			     "exceeded sample limit (%llu), set by --remote-read.sample-limit",
			     (unsigned long long)limit);
			goto out;
		}
	}

	/* SAMPLES: one QueryResult per query */
	rsp.n_results = nsets;
	rsp.results = arena_calloc(req->arena, nsets ? nsets : 1, sizeof(*rsp.results));
	if (!rsp.results) {
		fail(resp, 500, "out of memory");
		goto out;
	}
	for (i = 0; i < nsets; i++) {
		Prometheus__QueryResult *qr = arena_alloc(req->arena, sizeof(*qr));
		size_t ns = sets[i].n;

		if (!qr)
			goto oom;
		prometheus__query_result__init(qr);
		qr->n_timeseries = ns;
		qr->timeseries = arena_alloc(req->arena, (ns ? ns : 1) * sizeof(*qr->timeseries));
		if (!qr->timeseries)
			goto oom;
		for (k = 0; k < ns; k++) {
			const struct series *s = &sets[i].s[k];
			Prometheus__TimeSeries *ts = arena_alloc(req->arena, sizeof(*ts));
			Prometheus__Sample *smp = arena_alloc(req->arena, (s->n ? s->n : 1) * sizeof(*smp));
			Prometheus__Sample **smpp =
				arena_alloc(req->arena, (s->n ? s->n : 1) * sizeof(*smpp));
			size_t m;

			if (!ts || !smp || !smpp)
				goto oom;
			prometheus__time_series__init(ts);
			ts->labels = pb_labels(req->arena, &s->labels);
			if (!ts->labels)
				goto oom;
			ts->n_labels = s->labels.n;
			for (m = 0; m < s->n; m++) {
				prometheus__sample__init(&smp[m]);
				smp[m].timestamp = s->t[m];
				smp[m].value = s->v[m];
				smpp[m] = &smp[m];
			}
			ts->samples = smpp;
			ts->n_samples = s->n;
			qr->timeseries[k] = ts;
		}
		rsp.results[i] = qr;
	}
	{
		size_t plen = prometheus__read_response__get_packed_size(&rsp);
		uint8_t *packed = malloc(plen ? plen : 1);
		size_t clen = snappy_max_compressed_length(plen);

		if (!packed || !buf_grow(&resp->body, clen)) {
			free(packed);
			goto oom;
		}
		prometheus__read_response__pack(&rsp, packed);
		if (snappy_compress((const char *)packed, plen, resp->body.data, &clen) !=
		    SNAPPY_OK) {
			free(packed);
			goto oom;
		}
		free(packed);
		resp->body.len = clen;
		resp->body.data[clen] = '\0';
	}
	resp->status = 200;
	resp->content_type = SAMPLES_TYPE;
	http_response_header(resp, "Content-Encoding", "snappy");
	goto out;
oom:
	fail(resp, 500, "out of memory");
out:
	for (i = 0; i < nsets; i++)
		series_set_release(&sets[i]);
	free(sets);
	querier_free(q);
	if (rr)
		prometheus__read_request__free_unpacked(rr, &alloc);
}
