/*
 * msgpack.h - a MessagePack decoder (prefix mp_): pure, no I/O, no
 * allocation.  It reads one value at a time from a byte range, so a caller
 * can walk a streamed answer without building a tree and can tell "the
 * input ends inside this value" (MP_TRUNC: wait for more bytes) from "this
 * is not MessagePack" (MP_BAD).  The InfluxDB source reads its /query
 * answers with it (tsmap/sources/influx/answer.c); fuzzed through
 * tests/fuzz/fuzz_influx_msgpack.c.
 *
 * Ownership: a struct mp_val's s points into the caller's input and dies
 * with it.
 */
#ifndef FERRY_WIRE_MSGPACK_H
#define FERRY_WIRE_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

enum mp_type { MP_NIL, MP_BOOL, MP_INT, MP_UINT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY,
	       MP_MAP, MP_EXT };
#define MP_TRUNC 1   /* the input ends inside the value */
#define MP_BAD 2     /* not MessagePack (the never-used byte 0xc1) */

struct mp_val {
	enum mp_type t;
	union {
		int64_t i;     /* MP_INT (fits int64) */
		uint64_t u;    /* MP_UINT (> INT64_MAX) */
		double f;
		int b;
		uint32_t n;    /* MP_ARRAY elements, MP_MAP pairs */
	} v;
	const char *s;         /* MP_STR/MP_BIN/MP_EXT payload */
	size_t len;
};

/* Decode the value at *pp: a scalar whole, an array or map only its header
 * (the elements follow).  0 and *pp advanced, or MP_TRUNC / MP_BAD. */
int mp_next(const unsigned char **pp, const unsigned char *end, struct mp_val *v);
/* Skip one whole value (iteratively: no recursion on hostile nesting). */
int mp_skip(const unsigned char **pp, const unsigned char *end);
/* Is k the string s? */
int mp_key_is(const struct mp_val *k, const char *s);

#endif
