/*
 * influx_udp.h - InfluxDB line protocol over UDP.
 *
 * One thread reads datagrams (each holds one or more lines, nanosecond
 * timestamps as InfluxDB's UDP service expects by default) and stores each
 * datagram through lp_write, with no `db` label. Bad lines are counted and
 * logged (at most one message a second); UDP has no answer to give.
 *
 *	influx_udp_start -> (datagrams stored) -> influx_udp_stop
 */
#ifndef VARVE_INGEST_INFLUX_UDP_H
#define VARVE_INGEST_INFLUX_UDP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct db;
struct influx_udp;

/* Counters of a listener. */
struct influx_udp_stats {
	uint64_t datagrams;       /* datagrams received */
	uint64_t samples_written; /* samples stored */
	uint64_t bad_lines;       /* lines that did not parse or map */
	uint64_t rejected;        /* samples the store refused */
};

/*
 * Bind addr ("HOST:PORT", "[V6]:PORT" or ":PORT"; port 0 picks a free one)
 * and start the reader thread storing into db (which must outlive the
 * listener). Returns NULL with err filled when the address is bad or
 * cannot be bound, or memory runs out.
 */
struct influx_udp *influx_udp_start(struct db *db, const char *addr, struct ts_error *err);

/* The bound port. */
uint16_t influx_udp_port(const struct influx_udp *u);

/* Counters so far (thread-safe). */
void influx_udp_stats(struct influx_udp *u, struct influx_udp_stats *out);

/* Stop the thread (waits for the datagram being stored), close the socket
 * and free u. NULL is a no-op. */
void influx_udp_stop(struct influx_udp *u);

#endif
