/*
 * http_client.h - a minimal HTTP/1.1 client for the unit suites that talk
 * to the server over a real socket on 127.0.0.1: one request per
 * connection (Connection: close), the whole answer read into memory.
 * Every failure is a Check assertion, so callers need no error paths.
 */
#ifndef VARVE_TESTS_HTTP_CLIENT_H
#define VARVE_TESTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Port on 127.0.0.1 that requests go to; set by the suite. */
extern uint16_t test_port;

/* One answer; release with reply_free. */
struct reply {
	int status;      /* HTTP status */
	char *head;      /* status line and headers, NUL-terminated */
	char *body;      /* body, NUL-terminated */
	size_t body_len; /* bytes of body */
};

/* A connected socket to 127.0.0.1:test_port (close it when done). */
int http_connect(void);

/* Send all of p[0..n); stops quietly when the server closes early (as it
 * does after answering 413), so the caller can read the answer. */
void http_send_all(int fd, const void *p, size_t n);

/* Free what a reply holds and zero it. */
void reply_free(struct reply *r);

/* Copy the value of header name (first occurrence, case-insensitive) into
 * out (cap bytes); false when absent. */
bool reply_header(const struct reply *r, const char *name, char *out, size_t cap);

/*
 * One request: method and target, extra_headers ("\r\n"-terminated lines
 * or NULL), body[0..len). With fake_length != 0 that Content-Length is
 * announced but no body is sent. Fills *r (release with reply_free).
 */
void http_req(const char *method, const char *target, const char *extra_headers,
	      const void *body, size_t len, size_t fake_length, struct reply *r);

#endif
