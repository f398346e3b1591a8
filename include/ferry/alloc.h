/*
 * alloc.h - the allocator every part of ferry goes through.
 *
 * The library never aborts on out-of-memory: these return NULL and callers
 * turn that into FERRY_ENOMEM.  Tests call ferry_alloc_fail_after() to make
 * the n-th allocation from now fail (curl torture tests, sqlite faultsim).
 */
#ifndef FERRY_ALLOC_H
#define FERRY_ALLOC_H

#include <stddef.h>

void *ferry_malloc(size_t n);
void *ferry_calloc(size_t nmemb, size_t size);
void *ferry_realloc(void *p, size_t n);
void ferry_free(void *p);
char *ferry_strdup(const char *s);
char *ferry_strndup(const char *s, size_t n);
/* qsort()/bsearch() order of an array of C strings (char *): strcmp's. */
int ferry_strp_cmp(const void *a, const void *b);

/* Make allocation number n (1 = the next one) and all later ones fail;
 * n = 0 switches fault injection off.  Not thread-safe by design: tests
 * that use it run single-threaded. */
void ferry_alloc_fail_after(long n);

/* Grow-by-doubling helper: ensure *cap >= need for an array of elem-sized
 * items at *p; returns 0 or FERRY_ENOMEM (and leaves *p as it was). */
int ferry_array_grow(void **p, size_t *cap, size_t need, size_t elem);

#define FERRY_GROW(ptr, cap, need) \
	ferry_array_grow((void **)&(ptr), &(cap), (need), sizeof(*(ptr)))

#endif
