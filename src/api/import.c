/*
 * import.c - POST /api/v1/import/prometheus: Prometheus text exposition
 * format and OpenMetrics text into the store (src/ingest/text_import.c
 * does the parsing), with the query parameters VictoriaMetrics gives the
 * endpoint of the same name:
 *
 *   extra_label=name=value   added to every imported series (repeatable;
 *                            replaces a label of the same name)
 *   timestamp=<time>         the time of samples without one (RFC 3339 or
 *                            Unix seconds, as the query API takes times);
 *                            the server's clock when absent
 *
 * The body may be gzip-compressed (Content-Encoding: gzip). A Content-Type
 * of application/openmetrics-text marks it as OpenMetrics; otherwise a
 * body whose last line is "# EOF" is taken as OpenMetrics.
 *
 * Answers: 204 when every line was stored; 400 naming the first bad line
 * (the good lines are stored) or a bad parameter; 405 for other methods;
 * 413 when the inflated body passes the limit of remote_write's decoded
 * bodies; 415 for other content encodings; 500 when storage fails.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <zlib.h>

#include "api/api_int.h"
#include "api/params.h"
#include "ingest/text_import.h"
#include "util/arena.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* Inflate a gzip (or zlib) body of at most max bytes into a malloc'd
 * buffer; 0, 400 (corrupt), 413 (too large) or 500 (out of memory). */
static int gunzip(const uint8_t *in, size_t inlen, size_t max, char **out, size_t *outlen)
{
	size_t cap = inlen * 4 + 1024, n = 0;
	char *buf;
	z_stream z;
	int rc = Z_OK;

	if (cap > max + 1)
		cap = max + 1;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
		return 500;
	buf = malloc(cap);
	if (!buf) {
		inflateEnd(&z);
		return 500;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	while (rc != Z_STREAM_END) {
		if (n == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb;

			if (n > max || ncap <= cap) {
				free(buf);
				inflateEnd(&z);
				return 413;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				inflateEnd(&z);
				return 500;
			}
			buf = nb;
			cap = ncap;
		}
		z.next_out = (Bytef *)buf + n;
		z.avail_out = (uInt)(cap - n);
		rc = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		if (rc == Z_STREAM_END && z.avail_in > 0) {
			/* concatenated gzip members */
			if (inflateReset(&z) != Z_OK)
				break;
			rc = Z_OK;
			continue;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && z.avail_out == 0)) {
			free(buf);
			inflateEnd(&z);
			return 400;
		}
	}
	inflateEnd(&z);
	if (n > max) {
		free(buf);
		return 413;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void answer(struct http_response *resp, int status, const char *msg)
{
	resp->status = status;
	resp->content_type = TEXT_PLAIN;
	buf_addstr(&resp->body, msg ? msg : "out of memory");
	buf_addch(&resp->body, '\n');
}

void api_handle_import_prometheus(struct http_request *req, struct http_response *resp,
				  void *ctx)
{
	struct api *api = ctx;
	const char *ctype = http_request_header(req, "Content-Type");
	const char *enc = http_request_header(req, "Content-Encoding");
	const char *ts = http_request_param(req, "timestamp");
	const char *body = req->body ? (const char *)req->body : "";
	struct ti_opts opts = { 0 };
	struct label *extra = NULL;
	struct ti_result res;
	struct ts_error err;
	char *inflated = NULL;
	size_t len = req->body_len, i;

	if (strcmp(req->method, "POST") != 0) {
		http_response_header(resp, "Allow", "POST");
		answer(resp, 405, "method not allowed: use POST");
		return;
	}
	opts.default_ms = now_ms();
	if (ts && *ts) {
		if (param_parse_time(ts, &opts.default_ms, &err) < 0) {
			answer(resp, 400, arena_printf(req->arena, "invalid parameter \"timestamp\": %s",
						       err.msg));
			return;
		}
	}
	for (i = 0; i < req->nparams; i++) {
		const char *eq;

		if (strcmp(req->params[i].name, "extra_label") != 0)
			continue;
		eq = strchr(req->params[i].value, '=');
		if (!eq || eq == req->params[i].value) {
			answer(resp, 400, arena_printf(req->arena,
						       "invalid extra_label \"%s\": expected name=value",
						       req->params[i].value));
			return;
		}
		if (!extra) {
			extra = arena_calloc(req->arena, req->nparams, sizeof(*extra));
			if (!extra) {
				answer(resp, 500, "out of memory");
				return;
			}
		}
		extra[opts.nextra].name = arena_strndup(req->arena, req->params[i].value,
							(size_t)(eq - req->params[i].value));
		extra[opts.nextra].value = eq + 1;
		if (!extra[opts.nextra].name) {
			answer(resp, 500, "out of memory");
			return;
		}
		opts.nextra++;
	}
	opts.extra = extra;
	if (ctype && strncasecmp(ctype, "application/openmetrics-text", 28) == 0)
		opts.openmetrics = true;

	if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		int st;

		if (strcasecmp(enc, "gzip") != 0) {
			answer(resp, 415, arena_printf(req->arena,
						       "unsupported content encoding \"%s\": use gzip or none",
						       enc));
			return;
		}
		st = gunzip(req->body, req->body_len, api->rw_max_decoded_bytes, &inflated, &len);
		if (st) {
			answer(resp, st, st == 400 ? "corrupt gzip body"
					 : st == 413 ? "decompressed body exceeds the limit"
					 : "out of memory");
			return;
		}
		body = inflated;
	}

	ti_import(api->db, body, len, &opts, &res);
	free(inflated);
	if (res.status == 204) {
		resp->status = 204;
		return;
	}
	answer(resp, res.status, res.msg[0] ? res.msg : "import failed");
}
