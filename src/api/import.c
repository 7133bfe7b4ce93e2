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

#include "api/api_int.h"
#include "api/params.h"
#include "ingest/text_import.h"
#include "util/arena.h"
#include "util/gzip.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

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
		st = gzip_inflate(req->body, req->body_len, api->rw_max_decoded_bytes, &inflated,
				  &len);
		if (st) {
			answer(resp, st == TS_ERR_INVALID ? 400 : st == TS_ERR_LIMIT ? 413 : 500,
			       st == TS_ERR_INVALID ? "corrupt gzip body"
			       : st == TS_ERR_LIMIT ? "decompressed body exceeds the limit"
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
