/*
 * symtab.c - the symbol table: every label name and value interned once.
 *
 * Structure:
 *   symtab
 *     stripe[SYMTAB_STRIPES]        chosen by the low bits of the XXH3 hash
 *       mutex                       guards everything in the stripe
 *       slot[cap]                   open addressing, linear probing;
 *                                   {hash, string} with string NULL = empty
 *       slab list                   strings are copied into slabs of
 *                                   1 KiB doubling up to 64 KiB; a string
 *                                   larger than 16 KiB gets its own slab
 *
 * Invariants:
 *   1. An interned string never moves and is never freed before
 *      symtab_free, so callers may keep the pointer (labels hold them).
 *   2. A string lives in exactly one stripe: the one its hash selects.
 *   3. A stripe's table is at most 3/4 full; it doubles beyond that.
 */
#include "tsdb/labels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SYMTAB_STRIPES 64
#define SYMTAB_SLAB 65536
#define SYMTAB_SLAB_MIN 1024

/* One table slot. */
struct sym_slot {
	uint64_t hash;   /* XXH3 of the string */
	const char *str; /* interned string, NULL when the slot is empty */
};

/* A block of string storage; strings are packed after the header. */
struct sym_slab {
	struct sym_slab *next; /* older slab */
	size_t used;           /* bytes used in data */
	size_t cap;            /* bytes available in data */
	char data[];           /* the strings, each NUL-terminated */
};

/* One lock stripe. */
struct sym_stripe {
	pthread_mutex_t lock;  /* guards the fields below */
	struct sym_slot *slot; /* table of cap slots */
	size_t cap;            /* power of two, or 0 before the first insert */
	size_t count;          /* strings in this stripe */
	size_t bytes;          /* bytes of string data (with NULs) */
	struct sym_slab *slab; /* newest slab first */
} __attribute__((aligned(64)));

struct symtab {
	struct sym_stripe stripe[SYMTAB_STRIPES]; /* the stripes */
};

struct symtab *symtab_new(void)
{
	struct symtab *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	for (size_t i = 0; i < SYMTAB_STRIPES; i++)
		pthread_mutex_init(&st->stripe[i].lock, NULL);
	return st;
}

void symtab_free(struct symtab *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < SYMTAB_STRIPES; i++) {
		struct sym_stripe *sp = &st->stripe[i];
		struct sym_slab *sl = sp->slab;

		while (sl) {
			struct sym_slab *next = sl->next;

			free(sl);
			sl = next;
		}
		free(sp->slot);
		pthread_mutex_destroy(&sp->lock);
	}
	free(st);
}

/* Double the stripe's table (or create it). False when out of memory. */
static bool stripe_grow(struct sym_stripe *sp)
{
	size_t ncap = sp->cap ? sp->cap * 2 : 64;
	struct sym_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return false;
	for (size_t i = 0; i < sp->cap; i++) {
		struct sym_slot *o = &sp->slot[i];
		size_t j;

		if (!o->str)
			continue;
		j = (o->hash >> 8) & (ncap - 1);
		while (ns[j].str)
			j = (j + 1) & (ncap - 1);
		ns[j] = *o;
	}
	free(sp->slot);
	sp->slot = ns;
	sp->cap = ncap;
	return true;
}

/* Copy s[0..len) plus a NUL into the stripe's slabs. */
static char *stripe_store(struct sym_stripe *sp, const char *s, size_t len)
{
	size_t need = len + 1;
	struct sym_slab *sl = sp->slab;
	char *p;

	if (!sl || sl->cap - sl->used < need) {
		/* slabs start small and double up to SYMTAB_SLAB, so 64 stripes
		 * of a small table do not pin megabytes */
		bool priv = need > SYMTAB_SLAB / 4;
		size_t cap = sl ? (sl->cap + sizeof(*sl)) * 2 : SYMTAB_SLAB_MIN;
		struct sym_slab *ns;

		if (cap > SYMTAB_SLAB)
			cap = SYMTAB_SLAB;
		cap -= sizeof(*sl);
		if (priv)
			cap = need;
		else if (cap < need)
			cap = need * 2;
		ns = malloc(sizeof(*ns) + cap);
		if (!ns)
			return NULL;
		ns->used = 0;
		ns->cap = cap;
		if (priv && sl) {
			/* a private slab for a big string: keep the current one in front */
			ns->next = sl->next;
			sl->next = ns;
		} else {
			ns->next = sl;
			sp->slab = ns;
		}
		sl = ns;
	}
	p = sl->data + sl->used;
	memcpy(p, s, len);
	p[len] = '\0';
	sl->used += need;
	return p;
}

const char *symtab_intern(struct symtab *st, const char *s, size_t len)
{
	uint64_t h = XXH3_64bits(s, len);
	struct sym_stripe *sp = &st->stripe[h & (SYMTAB_STRIPES - 1)];
	const char *res = NULL;
	size_t j;

	pthread_mutex_lock(&sp->lock);
	if (sp->cap) {
		j = (h >> 8) & (sp->cap - 1);
		for (; sp->slot[j].str; j = (j + 1) & (sp->cap - 1)) {
			const char *c = sp->slot[j].str;

			if (sp->slot[j].hash == h && strncmp(c, s, len) == 0 && c[len] == '\0') {
				res = c;
				goto out;
			}
		}
	}
	if ((sp->count + 1) * 4 > sp->cap * 3 && !stripe_grow(sp))
		goto out;
	res = stripe_store(sp, s, len);
	if (!res)
		goto out;
	j = (h >> 8) & (sp->cap - 1);
	while (sp->slot[j].str)
		j = (j + 1) & (sp->cap - 1);
	sp->slot[j].hash = h;
	sp->slot[j].str = res;
	sp->count++;
	sp->bytes += len + 1;
out:
	pthread_mutex_unlock(&sp->lock);
	return res;
}

size_t symtab_count(struct symtab *st)
{
	size_t n = 0;

	for (size_t i = 0; i < SYMTAB_STRIPES; i++) {
		pthread_mutex_lock(&st->stripe[i].lock);
		n += st->stripe[i].count;
		pthread_mutex_unlock(&st->stripe[i].lock);
	}
	return n;
}

size_t symtab_bytes(struct symtab *st)
{
	size_t n = 0;

	for (size_t i = 0; i < SYMTAB_STRIPES; i++) {
		pthread_mutex_lock(&st->stripe[i].lock);
		n += st->stripe[i].bytes + st->stripe[i].cap * sizeof(struct sym_slot);
		pthread_mutex_unlock(&st->stripe[i].lock);
	}
	return n;
}
