/*
 * alloc.c - allocation wrappers with fault injection for tests.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/error.h"

static long fail_countdown;  /* 0 = off; otherwise fail when it reaches 1 */

static int should_fail(void)
{
	if (fail_countdown == 0)
		return 0;
	if (fail_countdown == 1)
		return 1;  /* stays failing until reset */
	fail_countdown--;
	return 0;
}

void ferry_alloc_fail_after(long n)
{
	fail_countdown = n < 0 ? 0 : n;
}

void *ferry_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *ferry_calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *ferry_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void ferry_free(void *p)
{
	free(p);
}

char *ferry_strndup(const char *s, size_t n)
{
	char *d = ferry_malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *ferry_strdup(const char *s)
{
	return s ? ferry_strndup(s, strlen(s)) : NULL;
}

int ferry_strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ferry_array_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > ((size_t)-1) / 2 / elem)
			return FERRY_ENOMEM;
		ncap *= 2;
	}
	np = ferry_realloc(*p, ncap * elem);
	if (!np)
		return FERRY_ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}
