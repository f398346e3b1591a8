/*
 * verify_int.h - internals of ferry verify: the canonical row encoding
 * both sides are hashed in, and the order-independent chunk digest.
 */
#ifndef FERRY_VERIFY_INT_H
#define FERRY_VERIFY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"

/* A chunk digest: row count, sum (mod 2^64) and xor of row hashes.  The
 * sum and xor together make it independent of row order while a row
 * that appears twice (xor cancels) still changes the sum. */
struct vf_sum {
	uint64_t rows, sum, xor;
};

static inline void vf_sum_add(struct vf_sum *s, uint64_t h)
{
	s->rows++;
	s->sum += h;
	s->xor ^= h;
}

static inline int vf_sum_eq(const struct vf_sum *a, const struct vf_sum *b)
{
	return a->rows == b->rows && a->sum == b->sum && a->xor == b->xor;
}

/*
 * Append the canonical encoding of one cell of column type `type`
 * (enum ferry_type; typmod as in the copy plan) to out: one kind byte,
 * then nothing for NULL, 8 big-endian bytes for INT, the 8 IEEE-754 bytes
 * for REAL (so -0.0 != 0.0; every NaN is one pattern), a 4-byte length
 * and the bytes for TEXT/BLOB.  numeric text is first put in the form
 * PostgreSQL prints for the column's scale, jsonb text in the canonical
 * JSON form of vf_canon_json.  Returns 0 or FERRY_ENOMEM.
 */
int vf_cell_encode(const struct ferry_batch *b, const struct ferry_cell *c,
		   int type, int32_t typmod, struct ferry_buf *out);

/* Hash of row r's canonical encoding (scratch is reused per call). */
int vf_row_hash(const struct ferry_batch *b, size_t r, const int *types,
		const int32_t *typmods, struct ferry_buf *scratch, uint64_t *h);

/* Decimal text ("-1.50e1", "007") as PostgreSQL's numeric prints it for
 * a column with typmod ("-15.0", "7"); -1 when s is not a number. */
int vf_canon_numeric(const char *s, size_t n, int32_t typmod, struct ferry_buf *out);

/* JSON text in a canonical form jsonb also reaches: no insignificant
 * whitespace differences, object keys sorted (length, then bytes) with
 * the last of duplicate keys kept, strings unescaped and re-escaped
 * minimally, numbers as numeric prints them.  -1 when s is not JSON. */
int vf_canon_json(const char *s, size_t n, struct ferry_buf *out);

/* --sample (verify.c): each chunk gets a score, a hash of the seed and
 * what names the chunk; the want with the smallest scores are checked,
 * so the same seed picks the same chunks. */
struct vf_pick {
	uint64_t score;
	size_t idx;
};
int vf_pick_cmp(const void *a, const void *b);
/* How many of n chunks --sample pct checks: pct percent rounded up, at
 * least one. */
size_t vf_sample_want(size_t n, double pct);

/* ferry verify into InfluxDB (points.c): ferry_verify_run() hands over
 * when the target is influx://.  The same contract. */
struct ferry_verify_opts;
struct ferry_verify_result;
int vf_points_run(const struct ferry_verify_opts *o, struct ferry_verify_result **out,
		  struct ferry_error *err);

#endif
