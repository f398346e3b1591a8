/*
 * size.h - sizes as users write them in options, URL parameters and
 * config files (--spool-max, --chunk-bytes, chunk_bytes=, max_payload).
 */
#ifndef FERRY_SIZE_H
#define FERRY_SIZE_H

#include <stdint.h>

/* A size: "25000000", "25MB" (decimal: kB MB GB TB, as influxd's
 * max-body-size), "1GiB" (binary: KiB MiB GiB TiB), and the single letters
 * k M G T binary ("64M").  A trailing "B" alone is bytes; spaces may come
 * before the unit.  0 and *out set, or FERRY_EUSAGE (no digits first,
 * an unknown unit, or more than 2^64 - 1 bytes). */
int ferry_size_parse(const char *s, uint64_t *out);

#endif
