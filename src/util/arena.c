/*
 * arena.c - bump allocator; see arena.h.
 *
 * Layout: a singly linked list of blocks, newest first. Each block is
 * [struct block header][payload ...]; `used` counts payload bytes handed out.
 * Requests larger than a quarter of the default block size get a block of
 * their own, inserted behind the current one so the current block keeps
 * serving small requests.
 */
#include "util/arena.h"

#include <protobuf-c/protobuf-c.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 16384
#define ALIGN alignof(max_align_t)

struct block {
	struct block *next; /* older block */
	size_t size;        /* payload capacity */
	size_t used;        /* payload bytes handed out */
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct block *head; /* current block, NULL before the first allocation */
	size_t limit;       /* 0 = unlimited */
	size_t total;       /* payload bytes of all blocks */
	size_t used;        /* bytes handed out (sum of rounded requests) */
};

struct arena *arena_new(size_t limit)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (a)
		a->limit = limit;
	return a;
}

void arena_free(struct arena *a)
{
	struct block *b, *next;

	if (!a)
		return;
	for (b = a->head; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void arena_reset(struct arena *a)
{
	struct block *b, *next;

	if (!a || !a->head)
		return;
	/* keep the last (oldest) block, it is the one of default size */
	for (b = a->head; b->next; b = next) {
		next = b->next;
		a->total -= b->size;
		free(b);
	}
	b->used = 0;
	a->head = b;
	a->used = 0;
}

static struct block *block_new(size_t size)
{
	struct block *b = malloc(sizeof(*b) + size);

	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct block *b;
	size_t need;

	if (n > SIZE_MAX - ALIGN)
		return NULL;
	need = (n + ALIGN - 1) & ~(ALIGN - 1);
	if (need == 0)
		need = ALIGN;
	if (a->limit && (need > a->limit || a->used > a->limit - need))
		return NULL;
	b = a->head;
	if (b && b->size - b->used >= need) {
		void *p = b->data + b->used;

		b->used += need;
		a->used += need;
		return p;
	}
	if (need > ARENA_BLOCK / 4) {
		struct block *big = block_new(need);

		if (!big)
			return NULL;
		big->used = need;
		if (b) {
			big->next = b->next;
			b->next = big;
		} else {
			a->head = big;
		}
		a->total += need;
		a->used += need;
		return big->data;
	}
	b = block_new(ARENA_BLOCK);
	if (!b)
		return NULL;
	b->next = a->head;
	a->head = b;
	a->total += ARENA_BLOCK;
	b->used = need;
	a->used += need;
	return b->data;
}

void *arena_calloc(struct arena *a, size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = arena_alloc(a, nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_used(const struct arena *a)
{
	return a->used;
}

static void *pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void pb_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void arena_protobuf_allocator(struct arena *a, struct ProtobufCAllocator *pa)
{
	pa->alloc = pb_alloc;
	pa->free = pb_free;
	pa->allocator_data = a;
}
