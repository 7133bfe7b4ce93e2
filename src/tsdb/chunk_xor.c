/*
 * chunk_xor.c - Gorilla XOR chunk encoder and decoder; see chunk_xor.h for
 * the byte layout.
 *
 * Bit stream. Bits are numbered from the start of the chunk (the 16 count
 * bits included); bit i lives in byte i/8 at mask 0x80 >> (i%8), so the
 * stream reads MSB first. Invariants the writer keeps:
 *   1. bits at positions >= nbits inside the last partial byte are zero,
 *      so the chunk is always zero-padded and can be shipped as-is;
 *   2. bytes at or beyond xor_enc_len() are never read (the caller's
 *      buffer may hold garbage there);
 *   3. nothing is written unless the whole sample fits in cap: the size of
 *      a sample is computed exactly before any bit is stored.
 * put_bits() merges the kept head of the partial byte and up to 32 new
 * bits in a 64-bit accumulator and stores it bytewise; wider writes are
 * split in two halves. get_bits() does the mirror image and refuses to
 * cross the end of the input.
 *
 * Numbers:
 *   - sample 0's timestamp is a zig-zag varint ((t << 1) ^ (t >> 63)),
 *     sample 1's delta an unsigned LEB128 varint of (uint64)(t1 - t0);
 *     both are whole bytes but are written through the bit writer.
 *   - delta-of-delta buckets hold n-bit two's complement values in the
 *     asymmetric range [-(2^(n-1) - 1), 2^(n-1)]: the reader treats raw
 *     values above 2^(n-1) as negative. Anything else takes 64 bits.
 *   - value windows: leading zeros are clamped to 31 (5 bits); a window
 *     is reused when one exists and the new XOR has at least as many
 *     leading and trailing zeros; 64 significant bits are written as 0.
 *
 * Timestamp arithmetic is done in uint64_t so that wrapping deltas (huge
 * jumps, decreasing timestamps) are defined behaviour and match the
 * two's complement results of the reference encoder.
 *
 * Resume rebuilds the state by decoding. A chunk in which no window was
 * opened yet resumes with "no window", exactly like the one-shot encoder,
 * so resume-then-append writes the same bytes as appending all at once.
 * (Prometheus's re-opened appender starts from a 0/0 window instead and
 * may then write '10' + 64 bits; the decoder reads that as a reuse of the
 * full window, as Prometheus's does.) The 16-bit count caps a chunk at
 * 65535 samples: append refuses the next one whatever the capacity.
 */
#include "tsdb/chunk_xor.h"

#include <string.h>

/* Window marker meaning "no leading/trailing window opened yet". */
#define XOR_NO_WINDOW 0xff

static inline uint64_t f64_bits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static inline double f64_from_bits(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static inline unsigned clz64(uint64_t x)
{
	return (unsigned)__builtin_clzll(x); /* x != 0 */
}

static inline unsigned ctz64(uint64_t x)
{
	return (unsigned)__builtin_ctzll(x); /* x != 0 */
}

/* Bytes of the unsigned LEB128 form of x. */
static inline unsigned uvarint_len(uint64_t x)
{
	unsigned n = 1;

	while (x >= 0x80) {
		x >>= 7;
		n++;
	}
	return n;
}

/*
 * Store the low n bits of v (1 <= n <= 32, higher bits of v zero) at bit
 * position pos of buf. Keeps invariant 1: the rest of the last byte
 * touched is zero.
 */
static inline void put_bits32(uint8_t *buf, size_t pos, uint64_t v, unsigned n)
{
	size_t i = pos >> 3;
	unsigned used = (unsigned)(pos & 7);
	unsigned nbytes = (used + n + 7) >> 3;
	uint64_t acc = 0;
	unsigned k;

	if (used)
		acc = (uint64_t)(buf[i] & (uint8_t)(0xff << (8 - used))) << 56;
	acc |= v << (64 - used - n);
	for (k = 0; k < nbytes; k++)
		buf[i + k] = (uint8_t)(acc >> (56 - 8 * k));
}

/* Store the low n bits of v (1 <= n <= 64) at *pos and advance it. */
static inline void put_bits(uint8_t *buf, size_t *pos, uint64_t v, unsigned n)
{
	if (n > 32) {
		put_bits32(buf, *pos, v >> 32, n - 32);
		put_bits32(buf, *pos + n - 32, v & 0xffffffffu, 32);
	} else {
		put_bits32(buf, *pos, v & ((UINT64_C(1) << n) - 1), n);
	}
	*pos += n;
}

/* Write x as LEB128 bytes through the bit writer. */
static void put_uvarint(uint8_t *buf, size_t *pos, uint64_t x)
{
	while (x >= 0x80) {
		put_bits(buf, pos, (x & 0x7f) | 0x80, 8);
		x >>= 7;
	}
	put_bits(buf, pos, x, 8);
}

void xor_enc_init(struct xor_enc *e, uint8_t *buf, size_t cap)
{
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
	e->nbits = 16;
	e->leading = XOR_NO_WINDOW;
	if (cap >= 2)
		buf[0] = buf[1] = 0;
}

/* How a value will be written; filled by plan_value. */
struct vplan {
	uint64_t x;        /* XOR with the previous value */
	unsigned leading;  /* leading zeros (clamped to 31) of a new window */
	unsigned trailing; /* trailing zeros of a new window */
	int kind;          /* 0 same, 1 reuse window, 2 new window */
	unsigned bits;     /* total bits the value takes */
};

static inline void plan_value(const struct xor_enc *e, uint64_t vbits, struct vplan *p)
{
	p->x = vbits ^ e->vbits;
	if (p->x == 0) {
		p->kind = 0;
		p->bits = 1;
		return;
	}
	p->leading = clz64(p->x);
	p->trailing = ctz64(p->x);
	if (p->leading > 31)
		p->leading = 31;
	if (e->leading != XOR_NO_WINDOW && p->leading >= e->leading &&
	    p->trailing >= e->trailing) {
		p->kind = 1;
		p->bits = 2 + 64 - e->leading - e->trailing;
	} else {
		p->kind = 2;
		p->bits = 2 + 5 + 6 + 64 - p->leading - p->trailing;
	}
}

static inline void write_value(struct xor_enc *e, const struct vplan *p, size_t *pos)
{
	unsigned sig;

	switch (p->kind) {
	case 0:
		put_bits(e->buf, pos, 0, 1);
		break;
	case 1:
		put_bits(e->buf, pos, 2, 2);
		put_bits(e->buf, pos, p->x >> e->trailing, 64 - e->leading - e->trailing);
		break;
	default:
		sig = 64 - p->leading - p->trailing;
		/* '11' + 5 bits leading + 6 bits sigbits (64 wraps to 0) */
		put_bits(e->buf, pos, (UINT64_C(3) << 11) | (p->leading << 6) | (sig & 63), 13);
		put_bits(e->buf, pos, p->x >> p->trailing, sig);
		e->leading = (uint8_t)p->leading;
		e->trailing = (uint8_t)p->trailing;
		break;
	}
}

/* dod fits the n-bit bucket: -(2^(n-1) - 1) <= dod <= 2^(n-1). */
static inline bool dod_fits(int64_t dod, unsigned n)
{
	int64_t half = INT64_C(1) << (n - 1);

	return dod >= -(half - 1) && dod <= half;
}

bool xor_enc_append(struct xor_enc *e, int64_t t, double v)
{
	uint64_t vbits = f64_bits(v);
	uint64_t tdelta = 0, zz;
	int64_t dod = 0;
	unsigned tbits;
	struct vplan p;
	size_t pos;

	if (e->num == UINT16_MAX)
		return false;
	if (e->num == 0) {
		zz = ((uint64_t)t << 1) ^ (uint64_t)(t >> 63);
		tbits = 8 * uvarint_len(zz);
		if ((e->nbits + tbits + 64 + 7) / 8 > e->cap)
			return false;
		pos = e->nbits;
		put_uvarint(e->buf, &pos, zz);
		put_bits(e->buf, &pos, vbits, 64);
	} else {
		tdelta = (uint64_t)t - (uint64_t)e->t;
		plan_value(e, vbits, &p);
		if (e->num == 1) {
			tbits = 8 * uvarint_len(tdelta);
		} else {
			dod = (int64_t)(tdelta - (uint64_t)e->tdelta);
			if (dod == 0)
				tbits = 1;
			else if (dod_fits(dod, 14))
				tbits = 2 + 14;
			else if (dod_fits(dod, 17))
				tbits = 3 + 17;
			else if (dod_fits(dod, 20))
				tbits = 4 + 20;
			else
				tbits = 4 + 64;
		}
		if ((e->nbits + tbits + p.bits + 7) / 8 > e->cap)
			return false;
		pos = e->nbits;
		if (e->num == 1) {
			put_uvarint(e->buf, &pos, tdelta);
		} else {
			switch (tbits) {
			case 1:
				put_bits(e->buf, &pos, 0, 1);
				break;
			case 16:
				put_bits(e->buf, &pos, (UINT64_C(2) << 14) | ((uint64_t)dod & 0x3fff), 16);
				break;
			case 20:
				put_bits(e->buf, &pos, (UINT64_C(6) << 17) | ((uint64_t)dod & 0x1ffff), 20);
				break;
			case 24:
				put_bits(e->buf, &pos, (UINT64_C(14) << 20) | ((uint64_t)dod & 0xfffff), 24);
				break;
			default:
				put_bits(e->buf, &pos, 15, 4);
				put_bits(e->buf, &pos, (uint64_t)dod, 64);
				break;
			}
		}
		write_value(e, &p, &pos);
	}
	e->nbits = pos;
	e->num++;
	e->buf[0] = (uint8_t)(e->num >> 8);
	e->buf[1] = (uint8_t)e->num;
	e->t = t;
	e->tdelta = (int64_t)tdelta;
	e->vbits = vbits;
	return true;
}

bool xor_enc_resume(struct xor_enc *e, uint8_t *buf, size_t len, size_t cap)
{
	struct xor_iter it;
	int64_t t;
	double v;
	int rc;

	if (len < 2 || cap < len)
		return false;
	xor_iter_init(&it, buf, len);
	while ((rc = xor_iter_next(&it, &t, &v)) == 1)
		;
	if (rc < 0)
		return false;
	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->cap = cap;
	e->nbits = it.pos;
	e->num = it.num;
	e->t = it.t;
	e->tdelta = it.tdelta;
	e->vbits = it.vbits;
	e->leading = it.leading;
	e->trailing = it.trailing;
	/* clear stale padding so invariant 1 holds for the partial byte */
	if (e->nbits & 7)
		buf[e->nbits >> 3] &= (uint8_t)(0xff << (8 - (e->nbits & 7)));
	return true;
}

uint16_t xor_chunk_num_samples(const uint8_t *buf, size_t len)
{
	if (len < 2)
		return 0;
	return (uint16_t)((buf[0] << 8) | buf[1]);
}

void xor_iter_init(struct xor_iter *it, const uint8_t *buf, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->buf = buf;
	it->nbits = len * 8;
	it->pos = 16;
	it->leading = XOR_NO_WINDOW;
	if (len < 2) {
		it->err = true;
		return;
	}
	it->num = xor_chunk_num_samples(buf, len);
}

/* Read n bits (1 <= n <= 32) at it->pos; caller checked the bounds. */
static inline uint64_t get_bits32(const struct xor_iter *it, size_t pos, unsigned n)
{
	size_t i = pos >> 3;
	unsigned off = (unsigned)(pos & 7);
	unsigned nbytes = (off + n + 7) >> 3;
	uint64_t acc = 0;
	unsigned k;

	for (k = 0; k < nbytes; k++)
		acc = (acc << 8) | it->buf[i + k];
	acc >>= nbytes * 8 - off - n;
	return acc & ((UINT64_C(1) << n) - 1);
}

/* Read n bits (1 <= n <= 64); false (and err set) if they run past len. */
static inline bool get_bits(struct xor_iter *it, unsigned n, uint64_t *out)
{
	if (n > it->nbits - it->pos) {
		it->err = true;
		return false;
	}
	if (n > 32)
		*out = (get_bits32(it, it->pos, n - 32) << 32) |
		       get_bits32(it, it->pos + n - 32, 32);
	else
		*out = get_bits32(it, it->pos, n);
	it->pos += n;
	return true;
}

/* LEB128 through the bit reader; at most 10 bytes, no 64-bit overflow. */
static bool get_uvarint(struct xor_iter *it, uint64_t *out)
{
	uint64_t x = 0, b;
	unsigned shift = 0, i;

	for (i = 0; i < 10; i++) {
		if (!get_bits(it, 8, &b))
			return false;
		if (i == 9 && b > 1)
			break;
		x |= (b & 0x7f) << shift;
		if (b < 0x80) {
			*out = x;
			return true;
		}
		shift += 7;
	}
	it->err = true;
	return false;
}

static bool read_value(struct xor_iter *it)
{
	uint64_t b, bits;
	unsigned lead, sig;

	if (!get_bits(it, 1, &b))
		return false;
	if (b == 0)
		return true;
	if (!get_bits(it, 1, &b))
		return false;
	if (b == 0) {
		/* reuse; a window never opened reads as the full 64 bits */
		if (it->leading == XOR_NO_WINDOW) {
			it->leading = 0;
			it->trailing = 0;
		}
	} else {
		if (!get_bits(it, 11, &b))
			return false;
		lead = (unsigned)(b >> 6);
		sig = (unsigned)(b & 63);
		if (sig == 0)
			sig = 64;
		if (lead + sig > 64) {
			it->err = true;
			return false;
		}
		it->leading = (uint8_t)lead;
		it->trailing = (uint8_t)(64 - lead - sig);
	}
	sig = 64 - it->leading - it->trailing;
	if (!get_bits(it, sig, &bits))
		return false;
	it->vbits ^= bits << it->trailing;
	return true;
}

int xor_iter_next(struct xor_iter *it, int64_t *t, double *v)
{
	uint64_t u, tdelta;
	int64_t dod;
	unsigned sz;

	if (it->err)
		return -1;
	if (it->read == it->num)
		return 0;
	if (it->read == 0) {
		if (!get_uvarint(it, &u) || !get_bits(it, 64, &it->vbits))
			return -1;
		it->t = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	} else {
		if (it->read == 1) {
			if (!get_uvarint(it, &tdelta))
				return -1;
		} else {
			sz = 0;
			if (!get_bits(it, 1, &u))
				return -1;
			if (u) {
				if (!get_bits(it, 1, &u))
					return -1;
				sz = 14;
				if (u) {
					if (!get_bits(it, 1, &u))
						return -1;
					sz = 17;
					if (u) {
						if (!get_bits(it, 1, &u))
							return -1;
						sz = u ? 64 : 20;
					}
				}
			}
			dod = 0;
			if (sz == 64) {
				if (!get_bits(it, 64, &u))
					return -1;
				dod = (int64_t)u;
			} else if (sz) {
				if (!get_bits(it, sz, &u))
					return -1;
				if (u > (UINT64_C(1) << (sz - 1)))
					u -= UINT64_C(1) << sz;
				dod = (int64_t)u;
			}
			tdelta = (uint64_t)it->tdelta + (uint64_t)dod;
		}
		if (!read_value(it))
			return -1;
		it->tdelta = (int64_t)tdelta;
		it->t = (int64_t)((uint64_t)it->t + tdelta);
	}
	it->read++;
	*t = it->t;
	*v = f64_from_bits(it->vbits);
	return 1;
}
