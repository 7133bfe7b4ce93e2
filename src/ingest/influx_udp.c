/*
 * influx_udp.c - the UDP line-protocol listener; see influx_udp.h.
 *
 * The reader thread polls two descriptors: the socket and the read end of
 * a pipe. influx_udp_stop writes one byte into the pipe, which wakes the
 * poll, and the thread returns; then the socket is closed. A datagram is
 * read into a 64 KiB buffer (the largest UDP payload) and stored with one
 * lp_write call, so a datagram is the unit of storing, like a request.
 */
#include "ingest/influx_udp.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ingest/line_protocol.h"
#include "util/log.h"

#define DGRAM_MAX 65536

struct influx_udp {
	struct db *db;         /* the store, not owned */
	int fd;                /* the bound socket */
	int wake[2];           /* pipe: a byte in wake[1] stops the thread */
	pthread_t thread;      /* the reader */
	uint16_t port;         /* bound port */
	char *buf;             /* datagram buffer, DGRAM_MAX bytes */
	time_t last_log;       /* when a bad datagram was last logged */
	struct influx_udp_stats st; /* counters, updated with atomics */
};

/* Split "host:port", "[v6]:port" or ":port" (host may come back empty). */
static bool split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *p, *colon;
	size_t hlen;

	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':')
			return false;
		hlen = (size_t)(rb - addr - 1);
		if (hlen >= hcap)
			return false;
		memcpy(host, addr + 1, hlen);
		p = rb + 2;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - addr);
		if (hlen >= hcap || memchr(addr, ':', hlen))
			return false;
		memcpy(host, addr, hlen);
		p = colon + 1;
	}
	host[hlen] = '\0';
	if (!*p || strlen(p) >= pcap || strspn(p, "0123456789") != strlen(p) || atol(p) > 65535)
		return false;
	strcpy(port, p);
	return true;
}

static void store_datagram(struct influx_udp *u, size_t n)
{
	struct lp_opts opts = { LP_NS, lp_now_ms(), NULL };
	struct lp_result res;

	lp_write(u->db, u->buf, n, &opts, &res);
	__atomic_add_fetch(&u->st.datagrams, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&u->st.samples_written, res.samples_written, __ATOMIC_RELAXED);
	__atomic_add_fetch(&u->st.bad_lines, res.bad_lines, __ATOMIC_RELAXED);
	__atomic_add_fetch(&u->st.rejected, res.rejected, __ATOMIC_RELAXED);
	if (res.status != 204) {
		time_t now = time(NULL);

		if (now != u->last_log) {
			char q[600];

			u->last_log = now;
			log_msg(LOG_WARN, "bad influx udp datagram", "err=%s",
				log_quote(res.msg, q, sizeof(q)));
		}
	}
}

static void *reader(void *arg)
{
	struct influx_udp *u = arg;
	struct pollfd pf[2];

	pf[0].fd = u->fd;
	pf[0].events = POLLIN;
	pf[1].fd = u->wake[0];
	pf[1].events = POLLIN;
	for (;;) {
		ssize_t n;

		pf[0].revents = pf[1].revents = 0;
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERROR, "influx udp poll failed", "err=%s", strerror(errno));
			break;
		}
		if (pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		n = recv(u->fd, u->buf, DGRAM_MAX, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			log_msg(LOG_ERROR, "influx udp read failed", "err=%s", strerror(errno));
			continue;
		}
		store_datagram(u, (size_t)n);
	}
	return NULL;
}

struct influx_udp *influx_udp_start(struct db *db, const char *addr, struct ts_error *err)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	struct influx_udp *u;
	int rc;

	if (!split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		ts_error_set(err, TS_ERR_INVALID, "invalid address \"%s\": want HOST:PORT", addr);
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	u->db = db;
	u->fd = u->wake[0] = u->wake[1] = -1;
	u->buf = malloc(DGRAM_MAX);
	if (!u->buf) {
		ts_error_set(err, TS_ERR_NOMEM, "out of memory");
		goto fail;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	hints.ai_family = AF_UNSPEC;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc) {
		ts_error_set(err, TS_ERR_INVALID, "cannot resolve \"%s\": %s", addr,
			     gai_strerror(rc));
		goto fail;
	}
	u->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || bind(u->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ts_error_set(err, TS_ERR_IO, "cannot bind udp %s: %s", addr, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	ai = NULL;
	if (getsockname(u->fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			u->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			u->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	{
		/* room for bursts while a datagram is being stored */
		int sz = 8 << 20;

		setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (pipe(u->wake) < 0) {
		u->wake[0] = u->wake[1] = -1;
		ts_error_set(err, TS_ERR_IO, "cannot create pipe: %s", strerror(errno));
		goto fail;
	}
	rc = pthread_create(&u->thread, NULL, reader, u);
	if (rc) {
		ts_error_set(err, TS_ERR_NOMEM, "cannot start thread: %s", strerror(rc));
		goto fail;
	}
	return u;
fail:
	if (ai)
		freeaddrinfo(ai);
	if (u->fd >= 0)
		close(u->fd);
	if (u->wake[0] >= 0) {
		close(u->wake[0]);
		close(u->wake[1]);
	}
	free(u->buf);
	free(u);
	return NULL;
}

uint16_t influx_udp_port(const struct influx_udp *u)
{
	return u ? u->port : 0;
}

void influx_udp_stats(struct influx_udp *u, struct influx_udp_stats *out)
{
	out->datagrams = __atomic_load_n(&u->st.datagrams, __ATOMIC_RELAXED);
	out->samples_written = __atomic_load_n(&u->st.samples_written, __ATOMIC_RELAXED);
	out->bad_lines = __atomic_load_n(&u->st.bad_lines, __ATOMIC_RELAXED);
	out->rejected = __atomic_load_n(&u->st.rejected, __ATOMIC_RELAXED);
}

void influx_udp_stop(struct influx_udp *u)
{
	char c = 1;

	if (!u)
		return;
	while (write(u->wake[1], &c, 1) < 0 && errno == EINTR)
		;
	pthread_join(u->thread, NULL);
	close(u->fd);
	close(u->wake[0]);
	close(u->wake[1]);
	free(u->buf);
	free(u);
}
