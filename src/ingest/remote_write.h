/*
 * remote_write.h - Prometheus remote_write receiver, without the HTTP.
 *
 * The HTTP layer hands over the request headers and the raw body; this
 * module picks the protocol version (rw_negotiate), then decodes the body
 * and stores it (rw_write), and answers with the HTTP status and a one-line
 * message plus counters for /metrics. Both remote_write 1.0
 * (prometheus.WriteRequest, remote_write.c) and 2.0
 * (io.prometheus.write.v2.Request, remote_write_v2.c) are decoded.
 *
 * What is stored, and what the status says (as the remote-write spec
 * describes partial writes and Prometheus's 2.0 receiver answers them;
 * Prometheus's 1.0 receiver also answers 400 for out-of-order and
 * conflicting samples, but drops the whole request, and stores around
 * invalid series without saying so):
 *   204  every series and sample was stored
 *   400  the body is not snappy or not a WriteRequest (nothing stored); or
 *        some series or samples were rejected (invalid labels, out of
 *        order, duplicate timestamp with another value, native histograms,
 *        and for 2.0 label references past the symbols table) - the valid
 *        rest of the request is still stored, and senders do not retry a
 *        400; for 2.0 also a symbols table whose first entry is not ""
 *        (nothing stored)
 *   413  the decoded body would exceed rw_opts.max_decoded_bytes (checked
 *        from the snappy header before anything of that size is
 *        allocated), or decoding it would pass the memory cap below
 *   415  unknown media type, proto= or content encoding
 *   500  the storage failed (senders retry; re-sent samples with the same
 *        value are accepted as exact duplicates, so a retry is harmless)
 */
#ifndef VARVE_INGEST_REMOTE_WRITE_H
#define VARVE_INGEST_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct db;

/* Protocol version of a request. */
enum rw_version {
	RW_VNONE = 0, /* not acceptable (see rw_result.status) */
	RW_V1 = 1,    /* prometheus.WriteRequest */
	RW_V2 = 2,    /* io.prometheus.write.v2.Request */
};

/* Why samples were rejected (a label of a /metrics counter). */
enum rw_reason {
	RW_REASON_INVALID_LABELS, /* series failed labels_validate */
	RW_REASON_OUT_OF_ORDER,   /* older than the series' newest sample */
	RW_REASON_DUPLICATE,      /* same timestamp, different value */
	RW_REASON_HISTOGRAM,      /* native histograms are not stored */
	RW_REASON_STORAGE,        /* appender failed */
	RW_REASON__COUNT
};

/* Static name of a reason: "invalid_labels", "out_of_order", "duplicate",
 * "histogram", "storage"; "unknown" for anything else. */
const char *rw_reason_name(enum rw_reason r);

/* Default of rw_opts.max_decoded_bytes. */
#define RW_DEFAULT_MAX_DECODED_BYTES ((size_t)32 << 20)

/*
 * Decoding a WriteRequest takes more memory than its bytes: an index entry
 * per label and sample (strings stay in the decoded bytes), and protobuf-c
 * structures for exemplars, histograms and metadata. The arena of a
 * request is capped at RW_MEMORY_FACTOR times the decoded size (plus
 * 1 MiB); a body that needs more answers 413. Prometheus-shaped requests
 * need about 3 times their size; only degenerate ones (thousands of empty
 * labels) come near the cap.
 *
 * A 2.0 request is denser - every string is sent once, a label is two
 * one- or two-byte references - while protobuf-c unpacks each series and
 * sample into structures of their own: Prometheus-shaped 2.0 requests
 * need 8 to 11 times their size, so their cap is RW_V2_MEMORY_FACTOR.
 */
#define RW_MEMORY_FACTOR 8
#define RW_V2_MEMORY_FACTOR 16

/* Options of rw_write; zero fields mean the default. */
struct rw_opts {
	size_t max_decoded_bytes; /* 413 above this (default 32 MiB when 0) */
};

/* Outcome of rw_negotiate and rw_write. */
struct rw_result {
	int status;                /* HTTP status to answer: 204, 400, 413, 415, 500 */
	char msg[512];             /* one-line reason when status >= 400, "" otherwise */
	uint64_t series;           /* series entries in the request */
	uint64_t samples_written;  /* samples stored */
	uint64_t exemplars_written; /* exemplars stored (0 while exemplars are not kept) */
	uint64_t histograms_written; /* native histogram samples stored (always 0) */
	uint64_t metadata_written; /* metadata entries recorded */
	uint64_t rejected[RW_REASON__COUNT]; /* samples rejected, by reason */
	uint64_t exemplars;        /* exemplars received */
};

/*
 * Pick the protocol from the request headers (either may be NULL):
 * Content-Type absent, empty or "application/x-protobuf" (parameters other
 * than proto= ignored; media type and parameter names case-insensitive)
 * -> RW_V1; proto=prometheus.WriteRequest -> RW_V1;
 * proto=io.prometheus.write.v2.Request -> RW_V2 (message names exact, as
 * protobuf spells them); anything else -> 415; Content-Encoding other than
 * "snappy" (any case) or empty -> 415.
 * Returns the version (res->status 204, msg ""), or RW_VNONE with
 * res->status and res->msg set. res is cleared first.
 */
enum rw_version rw_negotiate(const char *content_type, const char *content_encoding,
			     struct rw_result *res);

/*
 * Decode a snappy-compressed body of version v and store it in db; see
 * the top of this file for what is stored and which status results.
 * body[0..len) is only read; opts may be NULL (defaults). Always fills res
 * (cleared first). All temporary memory is freed before returning.
 * Thread-safe as far as db is (one appender per call).
 */
void rw_write(struct db *db, enum rw_version v, const uint8_t *body, size_t len,
	      const struct rw_opts *opts, struct rw_result *res);

#endif
