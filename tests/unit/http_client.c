/* http_client.c - see http_client.h */
#include "tests/unit/http_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

uint16_t test_port;

void reply_free(struct reply *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* Header value (first occurrence, case-insensitive name) copied to out. */
bool reply_header(const struct reply *r, const char *name, char *out, size_t cap)
{
	const char *p = r->head;
	size_t nl = strlen(name);

	while ((p = strchr(p, '\n'))) {
		p++;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e;

			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			if (!e)
				e = v + strlen(v);
			snprintf(out, cap, "%.*s", (int)(e - v), v);
			return true;
		}
	}
	return false;
}

int http_connect(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(test_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void http_send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* server closed early (413): read what it said */
		c += w;
		n -= (size_t)w;
	}
}

/* Read the whole answer (the server closes: we send Connection: close). */
static void read_reply(int fd, struct reply *r)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap), *sep;
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	for (;;) {
		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	ck_assert_msg(sep != NULL, "no header end in reply: %s", buf);
	r->head = strndup(buf, (size_t)(sep - buf));
	r->body_len = len - (size_t)(sep + 4 - buf);
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, sep + 4, r->body_len);
	r->body[r->body_len] = '\0';
	ck_assert_int_eq(sscanf(buf, "HTTP/1.%*d %d", &r->status), 1);
	free(buf);
}

/*
 * One request. extra_headers: "\r\n"-terminated lines or NULL. With
 * fake_length != 0 that Content-Length is announced but no body is sent.
 */
void http_req(const char *method, const char *target, const char *extra_headers,
		     const void *body, size_t len, size_t fake_length, struct reply *r)
{
	char head[4096 + 2048];
	int fd = http_connect(), n;

	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
		     "Content-Length: %zu\r\n\r\n",
		     method, target, extra_headers ? extra_headers : "",
		     fake_length ? fake_length : len);
	ck_assert_int_lt(n, (int)sizeof(head));
	http_send_all(fd, head, (size_t)n);
	if (body && len && !fake_length)
		http_send_all(fd, body, len);
	read_reply(fd, r);
	close(fd);
}

