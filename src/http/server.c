/*
 * server.c - libmicrohttpd wiring; see server.h.
 *
 * Per-request state (struct req_state) is created in the URI log callback,
 * which libmicrohttpd calls once per request before anything else and whose
 * return value becomes the request's context pointer; it is freed in the
 * completion callback. Keeping the raw URI from that callback lets us
 * decode the query string ourselves ('+' as space, repeated keys kept in
 * order), which libmicrohttpd's own argument parsing does not do the way
 * HTML forms and Go's url package encode.
 *
 * The access handler runs in three phases for each request:
 *
 *   1. first call (no body yet): decode path and query, pick the route,
 *      check Content-Length against max_body_bytes (413 right away when
 *      over), note whether the body is form-encoded;
 *   2. body calls (*upload_data_size > 0): append to the body buffer, or
 *      drop the bytes once the body has gone over the limit;
 *   3. last call (*upload_data_size == 0 after phase 1): parse a form body
 *      into parameters, run the handler, queue its response.
 *
 * Threads: libmicrohttpd's internal thread pool with epoll, one thread per
 * CPU; each connection stays on one thread, so req_state needs no locks.
 * Handlers of HTTP_ROUTE_OFFLOAD routes run instead on a pool of worker
 * threads: phase 3 suspends the connection and queues the request; a
 * worker runs the handler, queues the response on the suspended
 * connection and resumes it. While suspended, libmicrohttpd does not touch
 * the connection, so the request state passes from network thread to
 * worker and back without further locking. The server counts offloaded
 * requests (inflight: queued or running; unfinished: not yet completed)
 * so that stopping can wait for them: libmicrohttpd must not be stopped
 * with suspended connections.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/arena.h"
#include "util/log.h"

#define DEFAULT_MAX_BODY (32u << 20)
#define CONN_MEMORY_LIMIT (256u << 10)

/* One entry of the routing table. */
struct route {
	char *path;         /* pattern, owned */
	size_t len;         /* strlen(path) */
	bool prefix;        /* match every path starting with path */
	bool offload;       /* run on the worker pool */
	bool offload_match; /* run on the worker pool when match[] is given */
	bool raw_body;      /* never parse the body as a form */
	http_handler_fn fn; /* handler */
	void *ctx;          /* handler's context */
};

struct req_state;

struct http_server {
	struct MHD_Daemon *daemon;   /* NULL when stopped */
	struct route *routes;        /* routing table, owned */
	size_t nroutes;              /* entries in routes */
	struct http_server_opts opts;/* settings with defaults filled in */
	uint16_t port;               /* bound port, 0 when stopped */

	/* worker pool for HTTP_ROUTE_OFFLOAD handlers; all guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t work;         /* signalled when a job is queued or on quit */
	pthread_cond_t idle;         /* signalled when inflight drops to 0 */
	struct req_state *qhead;     /* queued jobs, oldest first */
	struct req_state *qtail;
	size_t inflight;             /* jobs queued or running */
	size_t unfinished;           /* offloaded requests not yet completed */
	bool draining;               /* stopping: run new requests inline */
	bool quit;                   /* workers exit when the queue is empty */
	pthread_t *workers;          /* nworkers threads, NULL when not started */
	unsigned nworkers;
};

/* Per-request state, from the URI log callback to the completion callback. */
struct req_state {
	struct http_server *srv;    /* owning server */
	struct arena *arena;        /* request arena (also holds this struct's strings) */
	const char *uri;            /* raw request URI, in the arena; NULL if unknown */
	bool started;               /* phase 1 done */
	bool form;                  /* body is application/x-www-form-urlencoded */
	bool too_large;             /* body went over max_body_bytes */
	bool responded;             /* a response was queued early */
	bool offloaded;             /* handed to a worker; the worker answers */
	bool worker_failed;         /* the worker could not queue an answer */
	bool counted;               /* counted in srv->unfinished until completion */
	struct req_state *next;     /* worker queue link */
	struct timespec t0;         /* when the request line arrived (CLOCK_MONOTONIC) */
	const struct route *route;  /* matched route, NULL for 404 */
	struct buf body;            /* body bytes received so far */
	struct http_request req;    /* what the handler sees */
};

/* ------------------------------------------------------------ helpers */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_unescape(struct arena *a, const char *s, size_t n, bool plus_space)
{
	char *out = arena_alloc(a, n + 1);
	size_t i, o = 0;
	int h, l;

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else if (plus_space && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

int http_parse_form(struct arena *a, const char *s, size_t n, struct http_param **params,
		    size_t *nparams)
{
	size_t i = 0, count = 0, j, k;
	struct http_param *np;

	/* count the pairs first so the array grows once */
	for (j = 0; j < n; j++)
		if (s[j] == '&')
			count++;
	count++;
	np = arena_alloc(a, (*nparams + count) * sizeof(*np));
	if (!np)
		return TS_ERR_NOMEM;
	if (*nparams)
		memcpy(np, *params, *nparams * sizeof(*np));
	*params = np;
	while (i < n) {
		const char *eq;
		size_t end;

		for (end = i; end < n && s[end] != '&'; end++)
			;
		if (end > i) {
			eq = memchr(s + i, '=', end - i);
			k = eq ? (size_t)(eq - s) : end;
			np[*nparams].name = http_unescape(a, s + i, k - i, true);
			np[*nparams].value = eq ? http_unescape(a, eq + 1, end - k - 1, true)
						: http_unescape(a, "", 0, false);
			if (!np[*nparams].name || !np[*nparams].value)
				return TS_ERR_NOMEM;
			(*nparams)++;
		}
		i = end + 1;
	}
	return 0;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	if (!req->conn)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_param(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

size_t http_request_params(const struct http_request *req, const char *name,
			   const char **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < req->nparams; i++) {
		if (strcmp(req->params[i].name, name) != 0)
			continue;
		if (out && n < max)
			out[n] = req->params[i].value;
		n++;
	}
	return n;
}

void http_response_header(struct http_response *resp, const char *name, const char *value)
{
	if (resp->nhdr >= HTTP_MAX_HEADERS)
		return;
	resp->hdr_name[resp->nhdr] = name;
	resp->hdr_value[resp->nhdr] = value;
	resp->nhdr++;
}

void http_response_text(struct http_response *resp, int status, const char *content_type,
			const char *text)
{
	resp->status = status;
	resp->content_type = content_type;
	buf_setlen(&resp->body, 0);
	buf_addstr(&resp->body, text);
}

/* ------------------------------------------------------------ routing */

int http_server_route(struct http_server *s, const char *path, unsigned flags,
		      http_handler_fn fn, void *ctx)
{
	struct route *nr = realloc(s->routes, (s->nroutes + 1) * sizeof(*nr));

	if (!nr)
		return TS_ERR_NOMEM;
	s->routes = nr;
	nr[s->nroutes].path = strdup(path);
	if (!nr[s->nroutes].path)
		return TS_ERR_NOMEM;
	nr[s->nroutes].len = strlen(path);
	nr[s->nroutes].prefix = (flags & HTTP_ROUTE_PREFIX) != 0;
	nr[s->nroutes].offload = (flags & HTTP_ROUTE_OFFLOAD) != 0;
	nr[s->nroutes].offload_match = (flags & HTTP_ROUTE_OFFLOAD_MATCH) != 0;
	nr[s->nroutes].raw_body = (flags & HTTP_ROUTE_RAW_BODY) != 0;
	nr[s->nroutes].fn = fn;
	nr[s->nroutes].ctx = ctx;
	s->nroutes++;
	return 0;
}

/* The route for path: an exact match, else the longest matching prefix. */
static const struct route *route_find(const struct http_server *s, const char *path)
{
	const struct route *best = NULL;
	size_t i;

	for (i = 0; i < s->nroutes; i++) {
		const struct route *r = &s->routes[i];

		if (!r->prefix) {
			if (strcmp(r->path, path) == 0)
				return r;
		} else if (strncmp(r->path, path, r->len) == 0 && (!best || r->len > best->len)) {
			best = r;
		}
	}
	return best;
}

/* --------------------------------------------------- MHD callbacks */

static struct req_state *req_state_new(struct http_server *srv, const char *uri)
{
	struct arena *a = arena_new(0);
	struct req_state *st;

	if (!a)
		return NULL;
	st = arena_calloc(a, 1, sizeof(*st));
	if (!st) {
		arena_free(a);
		return NULL;
	}
	st->srv = srv;
	st->arena = a;
	clock_gettime(CLOCK_MONOTONIC, &st->t0);
	st->uri = uri ? arena_strdup(a, uri) : NULL;
	st->body = (struct buf)BUF_INIT;
	return st;
}

static void req_state_free(struct req_state *st)
{
	if (!st)
		return;
	buf_release(&st->body);
	arena_free(st->arena); /* st itself lives in the arena */
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	return req_state_new(cls, uri);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct req_state *st = *req_cls;

	(void)conn;
	(void)toe;
	if (st && st->counted) {
		pthread_mutex_lock(&srv->lock);
		if (--srv->unfinished == 0)
			pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
	req_state_free(st);
	*req_cls = NULL;
}

/*
 * Log a 5xx answer: the server or the store failed, which an operator
 * wants to see. The first line of the body says why.
 */
static void log_failure(const struct req_state *st, int status, const char *body, size_t len)
{
	char path[256], why[256], line[200];
	size_t n = 0;

	while (body && n < len && n < sizeof(line) - 1 && body[n] != '\n') {
		line[n] = body[n];
		n++;
	}
	line[n] = '\0';
	log_msg(LOG_ERROR, "request failed", "method=%s path=%s status=%d err=%s",
		st->req.method ? st->req.method : "?",
		log_quote(st->req.path ? st->req.path : "?", path, sizeof(path)), status,
		log_quote(line, why, sizeof(why)));
}

/* Seconds since the request began. */
static double elapsed(const struct req_state *st)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - st->t0.tv_sec) + (double)(now.tv_nsec - st->t0.tv_nsec) / 1e9;
}

/* One debug line per answered request: method, path, status, size, time. */
static void log_request(const struct req_state *st, int status, size_t len, double secs)
{
	char path[256];

	log_msg(LOG_DEBUG, "request", "method=%s path=%s status=%d bytes=%zu duration_ms=%.3f",
		st->req.method ? st->req.method : "?",
		log_quote(st->req.path ? st->req.path : "?", path, sizeof(path)), status, len,
		secs * 1e3);
}

/* Bodies shorter than this are sent as they are even to gzip clients. */
#define GZIP_MIN_BYTES 1024

/*
 * Does the client accept gzip? True when one comma-separated entry of
 * Accept-Encoding is "gzip" (any case) or "*", without "q=0".
 */
static bool accepts_gzip(const struct http_request *req)
{
	const char *p = http_request_header(req, "Accept-Encoding");

	while (p && *p) {
		size_t n, k;

		p += strspn(p, " \t,");
		n = strcspn(p, ",; \t");
		if ((n == 4 && strncasecmp(p, "gzip", 4) == 0) || (n == 1 && *p == '*')) {
			const char *q = p + n;

			q += strspn(q, " \t");
			if (*q != ';')
				return true;
			q++;
			q += strspn(q, " \t");
			/* "q=0", "q=0.", "q=0.000": refused */
			k = strncmp(q, "q=0", 3) == 0 ? 3 + strspn(q + 3, ".0") : 0;
			if (!k || (q[k] != '\0' && q[k] != ',' && q[k] != ' '))
				return true;
		}
		p = strchr(p, ',');
	}
	return false;
}

/*
 * gzip body[0..*len) into a new malloc'd buffer (fast compression level:
 * API answers are large and repetitive); NULL when zlib or memory fails,
 * and the caller then sends the body as it is.
 */
static char *gzip_body(const char *body, size_t *len)
{
	z_stream z;
	uLong cap;
	char *out;
	int rc;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper instead of zlib's */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&z, (uLong)*len);
	out = malloc(cap ? cap : 1);
	if (!out) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)body;
	z.avail_in = (uInt)*len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*len = (size_t)z.total_out;
	deflateEnd(&z);
	return out;
}

/* Should resp go out gzipped? Text and JSON only, never a body that
 * already has a Content-Encoding (remote_read's snappy). */
static bool want_gzip(const struct req_state *st, const struct http_response *resp,
		      size_t len)
{
	size_t i;

	if (len < GZIP_MIN_BYTES || len > UINT_MAX || !resp->content_type)
		return false;
	if (strncmp(resp->content_type, "application/json", 16) != 0 &&
	    strncmp(resp->content_type, "text/", 5) != 0)
		return false;
	for (i = 0; i < resp->nhdr; i++)
		if (strcasecmp(resp->hdr_name[i], "Content-Encoding") == 0)
			return false;
	return accepts_gzip(&st->req);
}

/* Queue resp on conn and report it to the observer. Frees resp's body. */
static enum MHD_Result send_response(struct req_state *st, struct MHD_Connection *conn,
				     struct http_response *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len, i;
	double secs;
	char *data;
	bool gz;

	if (!buf_ok(&resp->body)) {
		buf_release(&resp->body);
		resp->status = 500;
		resp->content_type = "text/plain; charset=utf-8";
		resp->nhdr = 0;
		buf_addstr(&resp->body, "out of memory\n");
	}
	data = buf_detach(&resp->body, &len);
	if (resp->status >= 500)
		log_failure(st, resp->status, data, len);
	gz = data && want_gzip(st, resp, len);
	if (gz) {
		size_t zlen = len;
		char *z = gzip_body(data, &zlen);

		if (z) {
			free(data);
			data = z;
			len = zlen;
		} else {
			gz = false;
		}
	}
	if (!data)
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return MHD_NO;
	}
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (i = 0; i < resp->nhdr; i++)
		MHD_add_response_header(r, resp->hdr_name[i], resp->hdr_value[i]);
	if (gz)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (resp->content_type && (strncmp(resp->content_type, "application/json", 16) == 0 ||
				   strncmp(resp->content_type, "text/", 5) == 0))
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	secs = elapsed(st);
	if (log_enabled(LOG_DEBUG))
		log_request(st, resp->status, len, secs);
	if (st->srv->opts.observer)
		st->srv->opts.observer(st->route ? st->route->path : "other", resp->status, secs,
				       st->srv->opts.observer_ctx);
	return ret;
}

static enum MHD_Result send_simple(struct req_state *st, struct MHD_Connection *conn,
				   int status, const char *text)
{
	struct http_response resp = { .status = status, .body = BUF_INIT };

	http_response_text(&resp, status, "text/plain; charset=utf-8", text);
	return send_response(st, conn, &resp);
}

/* 413, naming the limit (and the setting behind it when known). */
static enum MHD_Result send_too_large(struct req_state *st, struct MHD_Connection *conn)
{
	const struct http_server_opts *o = &st->srv->opts;
	char *msg = arena_printf(st->arena, "request body too large: the limit is %zu bytes%s%s\n",
				 o->max_body_bytes, o->max_body_hint ? ", set by " : "",
				 o->max_body_hint ? o->max_body_hint : "");

	return send_simple(st, conn, 413, msg ? msg : "request body too large\n");
}

static bool is_form(const char *ct)
{
	static const char form[] = "application/x-www-form-urlencoded";

	return ct && strncasecmp(ct, form, sizeof(form) - 1) == 0 &&
	       (ct[sizeof(form) - 1] == '\0' || ct[sizeof(form) - 1] == ';' ||
		ct[sizeof(form) - 1] == ' ');
}

/* Phase 1: decode the request line, pick the route, check the body size. */
static enum MHD_Result req_begin(struct req_state *st, struct MHD_Connection *conn,
				 const char *url, const char *method)
{
	const char *uri = st->uri ? st->uri : url;
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	const char *cl;
	struct http_request *req = &st->req;

	st->started = true;
	req->method = method;
	req->conn = conn;
	req->arena = st->arena;
	req->path = http_unescape(st->arena, uri, plen, false);
	if (!req->path)
		return MHD_NO;
	if (q && http_parse_form(st->arena, q + 1, strlen(q + 1), &req->params, &req->nparams))
		return MHD_NO;
	st->route = route_find(st->srv, req->path);
	req->route = st->route ? st->route->path : "other";
	req->rest = st->route && st->route->prefix ? req->path + st->route->len : "";
	st->form = !(st->route && st->route->raw_body) &&
		   is_form(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_TYPE));

	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno || end == cl || n > st->srv->opts.max_body_bytes) {
			st->too_large = true;
			st->responded = true;
			return send_too_large(st, conn);
		}
		if (n)
			buf_grow(&st->body, (size_t)n);
	}
	return MHD_YES;
}

/* A copy of params[0..n) with room for extra more entries, in a. */
static struct http_param *arena_realloc_params(struct arena *a, struct http_param *params,
					       size_t n, size_t extra)
{
	struct http_param *np = arena_alloc(a, (n + extra) * sizeof(*np));

	if (np && n)
		memcpy(np, params, n * sizeof(*np));
	return np;
}

/* Run the route's handler and queue its answer (any thread). */
static enum MHD_Result run_handler(struct req_state *st, struct MHD_Connection *conn)
{
	struct http_response resp = { .status = 200, .body = BUF_INIT };

	st->route->fn(&st->req, &resp, st->route->ctx);
	return send_response(st, conn, &resp);
}

/*
 * Hand st to the worker pool: suspend the connection (so libmicrohttpd
 * leaves it alone), queue the job. False when the server is draining; the
 * caller then runs the handler itself.
 */
static bool offload(struct req_state *st, struct MHD_Connection *conn)
{
	struct http_server *srv = st->srv;

	pthread_mutex_lock(&srv->lock);
	if (srv->draining || !srv->workers) {
		pthread_mutex_unlock(&srv->lock);
		return false;
	}
	st->offloaded = true;
	st->counted = true;
	srv->unfinished++;
	MHD_suspend_connection(conn);
	st->next = NULL;
	if (srv->qtail)
		srv->qtail->next = st;
	else
		srv->qhead = st;
	srv->qtail = st;
	srv->inflight++;
	pthread_cond_signal(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	return true;
}

/*
 * A worker: take a job, run its handler, queue the answer on the still
 * suspended connection, resume it. After MHD_resume_connection the
 * request may complete (and its state be freed) at any moment, so nothing
 * of it is touched afterwards.
 */
static void *worker_main(void *arg)
{
	struct http_server *srv = arg;
	struct MHD_Connection *conn;
	struct req_state *st;

	for (;;) {
		pthread_mutex_lock(&srv->lock);
		while (!srv->qhead && !srv->quit)
			pthread_cond_wait(&srv->work, &srv->lock);
		st = srv->qhead;
		if (!st) {
			pthread_mutex_unlock(&srv->lock);
			return NULL;
		}
		srv->qhead = st->next;
		if (!srv->qhead)
			srv->qtail = NULL;
		pthread_mutex_unlock(&srv->lock);

		conn = st->req.conn;
		if (run_handler(st, conn) != MHD_YES) {
			/* could not queue an answer: resuming with none makes
			 * libmicrohttpd call the access handler again, which
			 * closes the connection */
			st->offloaded = false;
			st->worker_failed = true;
		}
		MHD_resume_connection(conn);

		pthread_mutex_lock(&srv->lock);
		if (--srv->inflight == 0)
			pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
}

/* Phase 3: run the handler (or 404) and queue its answer. */
static enum MHD_Result req_finish(struct req_state *st, struct MHD_Connection *conn)
{
	struct http_request *req = &st->req;

	if (st->too_large)
		return send_too_large(st, conn);
	if (!buf_ok(&st->body))
		return send_simple(st, conn, 500, "out of memory\n");
	if (st->form) {
		/* body parameters first, then the query string's, as Go's
		 * Request.Form orders them (FormValue prefers the body) */
		struct http_param *all = NULL;
		size_t nall = 0;

		if (http_parse_form(st->arena, st->body.data ? st->body.data : "", st->body.len,
				    &all, &nall) ||
		    (req->nparams && !(all = arena_realloc_params(st->arena, all, nall,
								   req->nparams))))
			return send_simple(st, conn, 500, "out of memory\n");
		if (req->nparams)
			memcpy(all + nall, req->params, req->nparams * sizeof(*all));
		req->params = all;
		req->nparams += nall;
	} else if (st->body.len) {
		req->body = (const uint8_t *)st->body.data;
		req->body_len = st->body.len;
	}
	if (!st->route)
		return send_simple(st, conn, 404, "404 page not found\n");
	if ((st->route->offload ||
	     (st->route->offload_match && http_request_param(req, "match[]"))) &&
	    offload(st, conn))
		return MHD_YES;
	return run_handler(st, conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct req_state *st = *req_cls;

	(void)version;
	if (st && st->offloaded)
		return MHD_YES; /* a worker owns the request until it resumes it */
	if (st && st->worker_failed)
		return MHD_NO; /* a worker could not queue an answer: close */
	if (!st) {
		/* the URI callback could not allocate; try once more */
		st = req_state_new(cls, NULL);
		if (!st)
			return MHD_NO;
		*req_cls = st;
	}
	if (!st->started)
		return req_begin(st, conn, url, method);
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (st->responded || st->too_large)
			return MHD_YES;
		if (n > st->srv->opts.max_body_bytes - st->body.len) {
			st->too_large = true;
			buf_release(&st->body);
			return MHD_YES;
		}
		buf_add(&st->body, upload_data, n);
		return MHD_YES;
	}
	if (st->responded)
		return MHD_YES;
	return req_finish(st, conn);
}

/* ------------------------------------------------------------ lifecycle */

struct http_server *http_server_new(const struct http_server_opts *opts)
{
	struct http_server *s = calloc(1, sizeof(*s));
	long ncpu;

	if (!s)
		return NULL;
	if (opts)
		s->opts = *opts;
	if (!s->opts.max_body_bytes)
		s->opts.max_body_bytes = DEFAULT_MAX_BODY;
	if (!s->opts.threads) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		s->opts.threads = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (!s->opts.timeout_s)
		s->opts.timeout_s = 120;
	if (!s->opts.workers)
		s->opts.workers = s->opts.threads * 2 > 4 ? s->opts.threads * 2 : 4;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	return s;
}

/* Start the worker pool (if any route offloads). Returns 0 or TS_ERR_NOMEM. */
static int workers_start(struct http_server *s)
{
	size_t i;
	bool any = false;

	for (i = 0; i < s->nroutes; i++)
		any |= s->routes[i].offload;
	if (!any)
		return 0;
	s->workers = calloc(s->opts.workers, sizeof(*s->workers));
	if (!s->workers)
		return TS_ERR_NOMEM;
	s->quit = false;
	s->draining = false;
	for (s->nworkers = 0; s->nworkers < s->opts.workers; s->nworkers++)
		if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s) != 0)
			break;
	if (!s->nworkers) {
		free(s->workers);
		s->workers = NULL;
		return TS_ERR_NOMEM;
	}
	return 0;
}

/* Tell the workers to exit once the queue is empty and join them. */
static void workers_stop(struct http_server *s)
{
	unsigned i;

	if (!s->workers)
		return;
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
}

/*
 * Split addr into host (may be empty) and port. Accepts "host:port",
 * "[v6]:port" and ":port". Returns false when malformed.
 */
static bool split_addr(const char *addr, char *host, size_t hcap, unsigned *port)
{
	const char *colon, *p;
	size_t hlen;
	char *end;
	unsigned long v;

	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':')
			return false;
		hlen = (size_t)(rb - addr - 1);
		if (hlen >= hcap)
			return false;
		memcpy(host, addr + 1, hlen);
		host[hlen] = '\0';
		p = rb + 2;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - addr);
		if (hlen >= hcap || memchr(addr, ':', hlen))
			return false;
		memcpy(host, addr, hlen);
		host[hlen] = '\0';
		p = colon + 1;
	}
	if (!*p)
		return false;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (errno || *end || v > 65535 || *p == '-' || *p == '+')
		return false;
	*port = (unsigned)v;
	return true;
}

bool http_server_addr_valid(const char *addr)
{
	char host[256];
	unsigned port;

	return split_addr(addr, host, sizeof(host), &port);
}

/* libmicrohttpd's own complaints (bind failures, broken connections), as
 * warn lines of our log. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
							 va_list ap)
{
	char msg[512], *nl;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	nl = strchr(msg, '\n');
	if (nl)
		*nl = '\0';
	log_msg(LOG_WARN, msg, "component=http");
}

static struct MHD_Daemon *start_daemon(struct http_server *s, unsigned flags, unsigned port,
				       const struct sockaddr *sa)
{
	struct MHD_OptionItem o[10];
	size_t n = 0;

	/* the logger first, so that option errors reach it too */
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
	if (sa)
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)sa };
	if (s->opts.threads > 1)
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
						  (intptr_t)s->opts.threads, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					  (intptr_t)CONN_MEMORY_LIMIT, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					  (intptr_t)s->opts.timeout_s, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
				MHD_OPTION_ARRAY, o, MHD_OPTION_END);
}

int http_server_start(struct http_server *s, const char *addr, struct ts_error *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	const union MHD_DaemonInfo *info;
	struct addrinfo hints, *res = NULL;
	char host[256], portstr[8];
	unsigned port;
	int rc;

	if (s->daemon)
		return ts_error_set(err, TS_ERR_STATE, "server already started");
	if (!split_addr(addr, host, sizeof(host), &port))
		return ts_error_set(err, TS_ERR_INVALID,
				    "invalid listen address %s: want HOST:PORT or :PORT", addr);
	if (workers_start(s))
		return ts_error_set(err, TS_ERR_NOMEM, "cannot start worker threads");
	errno = 0;
	if (!host[0]) {
		/* all interfaces: IPv6 with IPv4 mapped, else IPv4 only */
		s->daemon = start_daemon(s, flags | MHD_USE_DUAL_STACK, port, NULL);
		if (!s->daemon)
			s->daemon = start_daemon(s, flags, port, NULL);
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
		snprintf(portstr, sizeof(portstr), "%u", port);
		rc = getaddrinfo(host, portstr, &hints, &res);
		if (rc != 0 || !res) {
			workers_stop(s);
			return ts_error_set(err, TS_ERR_INVALID, "cannot resolve listen host %s: %s",
					    host, gai_strerror(rc));
		}
		s->daemon = start_daemon(s, flags | (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
					 port, res->ai_addr);
		freeaddrinfo(res);
	}
	if (!s->daemon) {
		int e = errno;

		workers_stop(s);
		return ts_error_set(err, TS_ERR_IO, "cannot listen on %s: %s", addr,
				    e ? strerror(e) : "address in use or not available");
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : (uint16_t)port;
	return 0;
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_stop(struct http_server *s)
{
	if (!s || !s->daemon)
		return;
	/* new requests run inline from now on; wait until every offloaded
	 * one has been answered and its connection resumed, since
	 * libmicrohttpd must not be stopped with suspended connections */
	pthread_mutex_lock(&s->lock);
	s->draining = true;
	while (s->inflight)
		pthread_cond_wait(&s->idle, &s->lock);
	/* and give their answers a few seconds to go out */
	if (s->unfinished) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		while (s->unfinished &&
		       pthread_cond_timedwait(&s->idle, &s->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
	s->port = 0;
	workers_stop(s);
}

void http_server_free(struct http_server *s)
{
	size_t i;

	if (!s)
		return;
	http_server_stop(s);
	for (i = 0; i < s->nroutes; i++)
		free(s->routes[i].path);
	free(s->routes);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s);
}
