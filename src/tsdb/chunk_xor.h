/*
 * chunk_xor.h - Gorilla XOR chunks, byte-compatible with Prometheus's XOR
 * chunk encoding (tsdb/chunkenc/xor.go), so stored chunks can be shipped
 * as-is over remote_read and Prometheus's chunks decoded here.
 *
 * Layout (bytes, big-endian):
 *   OFFSET SIZE DESCRIPTION
 *   0      2    number of samples
 *   2      ...  bit stream, MSB first:
 *                 sample 0: timestamp as signed varint (zig-zag),
 *                           value as 64 raw bits
 *                 sample 1: timestamp delta as unsigned varint,
 *                           value XOR-encoded
 *                 sample n: timestamp delta-of-delta:
 *                             '0'                    dod == 0
 *                             '10'   + 14-bit signed
 *                             '110'  + 17-bit signed
 *                             '1110' + 20-bit signed
 *                             '1111' + 64-bit
 *                           value XOR with previous:
 *                             '0'  same value
 *                             '10' meaningful bits inside previous window
 *                             '11' + 5 bits leading zeros + 6 bits sigbits
 *                                  (64 written as 0) + sigbits bits
 * The stream is padded with zero bits to a whole byte. Value bits are kept
 * exactly (NaN payloads, stale markers). Prometheus releases whose bit
 * writer predates its rewrite (2.x up to at least 2.42) leave one more,
 * empty, byte behind a whole-byte write that ends on a byte boundary (the
 * first sample always does); current releases do not, and neither does
 * this encoder. The decoder reads both forms.
 *
 * Writers write into a caller-owned buffer and report "full" instead of
 * reallocating; the head grows buffers itself.
 */
#ifndef VARVE_TSDB_CHUNK_XOR_H
#define VARVE_TSDB_CHUNK_XOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most bytes one appended sample can add (worst case, rounded up). */
#define XOR_MAX_SAMPLE_BYTES 20
/* Samples per chunk at which the head cuts a new chunk, like Prometheus. */
#define XOR_CHUNK_SAMPLES 120

/* Encoder state; embedded value, no heap. */
struct xor_enc {
	uint8_t *buf;       /* caller's buffer; buf[0..1] hold the count */
	size_t cap;         /* bytes available at buf */
	size_t nbits;       /* bits written, including the 16-bit header */
	uint16_t num;       /* samples written */
	int64_t t;          /* last timestamp */
	int64_t tdelta;     /* last timestamp delta */
	uint64_t vbits;     /* last value's bits */
	uint8_t leading;    /* leading zeros of the last XOR window (0xff: none yet) */
	uint8_t trailing;   /* trailing zeros of the last XOR window */
};

/* Start an empty chunk in buf (cap >= 2). Writes the zero count. */
void xor_enc_init(struct xor_enc *e, uint8_t *buf, size_t cap);

/*
 * Continue appending to an existing chunk of len bytes at buf (cap >= len),
 * e.g. one read back from disk. Decodes it to restore the state. Returns
 * false when the bytes are not a valid chunk.
 */
bool xor_enc_resume(struct xor_enc *e, uint8_t *buf, size_t len, size_t cap);

/*
 * Append (t, v). Returns false, leaving e and the buffer unchanged, when
 * the sample may not fit in cap; the caller grows the buffer (copying
 * buf[0..xor_enc_len]), points e->buf/e->cap at it and retries.
 * Timestamps should not decrease; equal and smaller ones still encode.
 */
bool xor_enc_append(struct xor_enc *e, int64_t t, double v);

/* Bytes of the chunk so far (header plus bit stream, rounded up). */
static inline size_t xor_enc_len(const struct xor_enc *e)
{
	return (e->nbits + 7) / 8;
}

/* Decoder over chunk bytes; embedded value, no heap. */
struct xor_iter {
	const uint8_t *buf; /* chunk bytes */
	size_t nbits;       /* bits available */
	size_t pos;         /* next bit to read */
	uint16_t num;       /* samples in the chunk */
	uint16_t read;      /* samples decoded so far */
	int64_t t;          /* current timestamp */
	int64_t tdelta;     /* current delta */
	uint64_t vbits;     /* current value bits */
	uint8_t leading;    /* current XOR window */
	uint8_t trailing;
	bool err;           /* the bytes ran out or were malformed */
};

/* Start decoding chunk bytes buf[0..len). Never reads past len. */
void xor_iter_init(struct xor_iter *it, const uint8_t *buf, size_t len);

/* Next sample: 1 and *t, *v filled; 0 at the end; -1 when corrupt. */
int xor_iter_next(struct xor_iter *it, int64_t *t, double *v);

/* Number of samples recorded in a chunk's header (0 if len < 2). */
uint16_t xor_chunk_num_samples(const uint8_t *buf, size_t len);

#endif
