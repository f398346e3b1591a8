/*
 * hash.c - XXH3 wrappers (libxxhash).
 */
#include <stdio.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ferry/hash.h"

uint64_t ferry_hash64(const void *data, size_t n)
{
	return XXH3_64bits(data, n);
}

void ferry_hash128_hex(const void *data, size_t n, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(data, n);

	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}
