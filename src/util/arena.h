/*
 * arena.h - a bump allocator for per-request temporaries.
 *
 * Memory comes from a list of blocks; arena_alloc never frees, arena_free
 * releases every block at once. One arena serves one HTTP request (decoded
 * protobuf, parsed PromQL, JSON scratch) and is freed when the request
 * completes. Not thread-safe: one owner at a time.
 *
 * An optional byte limit makes allocation fail (return NULL) instead of
 * growing past it, so a request cannot take unbounded memory.
 */
#ifndef VARVE_UTIL_ARENA_H
#define VARVE_UTIL_ARENA_H

#include <stddef.h>

struct arena;
struct ProtobufCAllocator;

/*
 * New empty arena; limit is the most bytes it may hold in all (0: no limit).
 * Returns NULL when out of memory. Free with arena_free.
 */
struct arena *arena_new(size_t limit);

/* Release every allocation and the arena itself. NULL is a no-op. */
void arena_free(struct arena *a);

/* Forget every allocation but keep the first block for reuse. */
void arena_reset(struct arena *a);

/*
 * n bytes aligned to max_align_t, valid until arena_free/arena_reset.
 * Returns NULL when out of memory or over the limit. n == 0 gives a
 * valid unique pointer.
 */
void *arena_alloc(struct arena *a, size_t n);

/* arena_alloc of zeroed memory for nmemb * size bytes (overflow-checked). */
void *arena_calloc(struct arena *a, size_t nmemb, size_t size);

/* Copy of s[0..len) plus a NUL, in the arena. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Copy of a NUL-terminated string, in the arena. */
char *arena_strdup(struct arena *a, const char *s);

/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Bytes handed out so far (for limits and metrics). */
size_t arena_used(const struct arena *a);

/*
 * Fill pa so that protobuf-c allocates from a (its free is a no-op).
 * pa must not outlive a.
 */
void arena_protobuf_allocator(struct arena *a, struct ProtobufCAllocator *pa);

#endif
