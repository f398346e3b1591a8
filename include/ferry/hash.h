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
/* The same with a seed: a hash of several pieces, each seeded with the
 * hash of the ones before, without gathering them. */
uint64_t ferry_hash64_seed(const void *data, size_t n, uint64_t seed);
/* 32 lower-case hex digits of the 128-bit XXH3 hash into out[33]. */
void ferry_hash128_hex(const void *data, size_t n, char out[33]);

/* The same 128-bit hash over data given in pieces (a file's contents):
 * ferry_hash_stream_new() (NULL when out of memory), any number of
 * updates, then ferry_hash_stream_hex() to read it; free when done
 * (free(NULL) does nothing). */
typedef struct ferry_hash_stream ferry_hash_stream;

ferry_hash_stream *ferry_hash_stream_new(void);
void ferry_hash_stream_update(ferry_hash_stream *s, const void *data, size_t n);
void ferry_hash_stream_hex(const ferry_hash_stream *s, char out[33]);
void ferry_hash_stream_free(ferry_hash_stream *s);

/* Add the bytes of the file at path to s; 0, or -1 with errno set. */
int ferry_hash_stream_file(ferry_hash_stream *s, const char *path);

#endif
