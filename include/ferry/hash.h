/*
 * hash.h - hashes ferry uses: short stable identifiers (name shortening,
 * job ids) and content checksums (migrations, verify).  All are XXH3
 * (libxxhash), stable across machines and releases.
 */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ferry_hash64(const void *data, size_t n);
/* 32 lower-case hex digits of the 128-bit XXH3 hash into out[33]. */
void ferry_hash128_hex(const void *data, size_t n, char out[33]);

#endif
