/*
 * server.h - the HTTP server: libmicrohttpd wiring, routing, request
 * parameters and bodies, responses.
 *
 * Life cycle:
 *
 *	http_server_new -> http_server_route ... -> http_server_start
 *	    -> (requests served by a thread pool) -> http_server_stop
 *	    -> http_server_free
 *
 * A request reaches its handler once, after the whole body has arrived,
 * on one of the network threads, or for HTTP_ROUTE_OFFLOAD routes on a
 * worker thread while libmicrohttpd keeps the connection suspended. The handler reads a struct http_request
 * (method, path, headers, query and form parameters, raw body) and fills a
 * struct http_response; the server sends it. Everything a handler allocates
 * from req->arena lives until the response has been sent (the arena is
 * freed in libmicrohttpd's completion callback).
 *
 * Bodies: application/x-www-form-urlencoded bodies are parsed into the
 * parameter list, ahead of the query string's parameters as Go's
 * Request.Form orders them (so the first value of a name comes from the
 * body when both have it; repeated keys such as match[] keep their
 * order); other bodies are kept raw. A body
 * longer than the server's max_body_bytes is answered 413 without calling
 * the handler: at once when Content-Length announces it, otherwise by
 * discarding the rest as it arrives.
 */
#ifndef VARVE_HTTP_SERVER_H
#define VARVE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

struct arena;
struct http_server;

/* One query or form parameter, decoded. */
struct http_param {
	const char *name;  /* decoded name, in the request arena */
	const char *value; /* decoded value, in the request arena */
};

/* What a handler sees of a request. Every pointer lives in the request
 * arena (or in the server) until the response has been sent. */
struct http_request {
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* percent-decoded path, no query string */
	const char *route;        /* pattern of the matched route ("/api/v1/label/") */
	const char *rest;         /* path after the pattern for prefix routes, "" otherwise */
	struct http_param *params;/* form body parameters, then query parameters */
	size_t nparams;           /* number of params */
	const uint8_t *body;      /* raw body (NULL when none or form-encoded, unless
				   * the route has HTTP_ROUTE_RAW_BODY) */
	size_t body_len;          /* bytes at body */
	struct arena *arena;      /* per-request arena, freed after the response */
	void *conn;               /* the MHD connection (server.c only) */
};

#define HTTP_MAX_HEADERS 8

/* What a handler returns. Pre-set to 200, no content type, empty body. */
struct http_response {
	int status;                      /* HTTP status code */
	const char *content_type;        /* NULL: no Content-Type header */
	struct buf body;                 /* response body, sent and freed by the server */
	const char *hdr_name[HTTP_MAX_HEADERS];  /* extra headers (copied when sent) */
	const char *hdr_value[HTTP_MAX_HEADERS]; /* their values */
	size_t nhdr;                     /* number of extra headers */
};

/* A handler: fill resp from req. ctx is the pointer given at routing. */
typedef void (*http_handler_fn)(struct http_request *req, struct http_response *resp,
				void *ctx);

/* Called after each response is queued, from the serving thread: the
 * route pattern ("other" when no route matched), the status, and the
 * seconds from the request line to the queued response. */
typedef void (*http_observer_fn)(const char *route, int status, double seconds, void *ctx);

struct http_server_opts {
	size_t max_body_bytes; /* largest accepted request body (32 MiB when 0) */
	const char *max_body_hint; /* what sets that limit, named in 413 answers; may be NULL */
	unsigned threads;      /* network threads (number of online CPUs when 0) */
	unsigned workers;      /* threads for HTTP_ROUTE_OFFLOAD handlers (max(4, 2 * threads) when 0) */
	unsigned timeout_s;    /* idle connection timeout in seconds (120 when 0) */
	http_observer_fn observer; /* may be NULL */
	void *observer_ctx;    /* passed to observer */
};

/* A new stopped server; NULL when out of memory. opts may be NULL. */
struct http_server *http_server_new(const struct http_server_opts *opts);

/* Route flags. */
enum {
	HTTP_ROUTE_PREFIX = 1,  /* match every path starting with the pattern */
	HTTP_ROUTE_OFFLOAD = 2, /* run the handler on a worker thread (slow handlers) */
	HTTP_ROUTE_RAW_BODY = 4, /* keep the body raw even when it is form-encoded */
	HTTP_ROUTE_OFFLOAD_MATCH = 8, /* offload only requests with a match[] parameter */
};

/*
 * Route requests for path to fn. With HTTP_ROUTE_PREFIX, every path
 * starting with path matches and req->rest holds the remainder; otherwise
 * only the exact path. Exact routes win over prefix routes, longer
 * prefixes over shorter. With HTTP_ROUTE_OFFLOAD the handler runs on the
 * server's worker pool while the connection is suspended, so a long query
 * does not hold up the other connections of its network thread;
 * HTTP_ROUTE_OFFLOAD_MATCH does so only for requests that carry match[]
 * (label names and values without it come straight from the index, and
 * the hand-over to a worker would cost more than the answer). path is
 * copied. Call before http_server_start. Returns 0 or TS_ERR_NOMEM.
 */
int http_server_route(struct http_server *s, const char *path, unsigned flags,
		      http_handler_fn fn, void *ctx);

/*
 * Listen on addr ("HOST:PORT", "[V6]:PORT" or ":PORT" for every interface;
 * port 0 picks a free one) and start serving. Returns 0, or TS_ERR_INVALID
 * for a bad address or TS_ERR_IO when the socket cannot be bound, with err
 * filled.
 */
int http_server_start(struct http_server *s, const char *addr, struct ts_error *err);

/* True when addr has the form http_server_start accepts (syntax only: the
 * host is not resolved). */
bool http_server_addr_valid(const char *addr);

/* The port actually bound (useful after port 0); 0 when not started. */
uint16_t http_server_port(const struct http_server *s);

/* Stop accepting and serving; waits for handlers to finish. Idempotent. */
void http_server_stop(struct http_server *s);

/* Stop if needed and free. NULL is a no-op. */
void http_server_free(struct http_server *s);

/* --------------------------------------------------- request helpers */

/* Value of request header name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/* First value of parameter name, or NULL when absent. */
const char *http_request_param(const struct http_request *req, const char *name);

/* Number of values of parameter name; with out != NULL also stores up to
 * max of them in order. */
size_t http_request_params(const struct http_request *req, const char *name,
			   const char **out, size_t max);

/* Add a response header (name and value must live until the handler
 * returns; they are copied when the response is sent). Extra headers
 * beyond HTTP_MAX_HEADERS are dropped. */
void http_response_header(struct http_response *resp, const char *name, const char *value);

/* Set status, content type and a copy of text as the body. */
void http_response_text(struct http_response *resp, int status, const char *content_type,
			const char *text);

/*
 * Decode the percent-escapes of s[0..n) into a new NUL-terminated string in
 * arena a; with plus_space, '+' becomes ' ' (form and query encoding).
 * Malformed escapes are kept literally. NULL when out of memory.
 */
char *http_unescape(struct arena *a, const char *s, size_t n, bool plus_space);

/*
 * Parse an application/x-www-form-urlencoded string s[0..n) (also a query
 * string) and append its pairs to *params / *nparams (array reallocated in
 * arena a). Returns 0 or TS_ERR_NOMEM.
 */
int http_parse_form(struct arena *a, const char *s, size_t n, struct http_param **params,
		    size_t *nparams);

#endif
