/*
 * gen_int.h - inside ferry generate: the PRNG, the generator's state and
 * the output writers' entry points.
 *
 * generate.c owns the event stream (entities, patterns, values, the merge
 * heap); gen_text.c writes line protocol and CSV; gen_sqlite.c writes the
 * flat table and the recorder schema.
 */
#ifndef FERRY_GEN_INT_H
#define FERRY_GEN_INT_H

#include <stdint.h>

#include "ferry/error.h"
#include "ferry/generate.h"
#include "ferry/progress.h"

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64.  Fixed
 * algorithms so generated data is identical on every platform. */
struct gen_rng {
	uint64_t s[4];
};

uint64_t gen_splitmix64(uint64_t *state);
void gen_rng_seed(struct gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(struct gen_rng *r);
/* uniform in [0, 1) with 53 random bits */
double gen_rng_double(struct gen_rng *r);
/* uniform integer in [lo, hi] */
int64_t gen_rng_range(struct gen_rng *r, int64_t lo, int64_t hi);

struct gen_entity {
	struct ferry_gen_entity pub;
	char *strings;        /* one allocation behind the pub strings */
	char *attrs_json;     /* flat-table attributes: unit, device class, name */
	int id_len, attrs_len;  /* strlen of entity_id, attrs_json */
	struct gen_rng rng;
	int64_t next_us;      /* time of its next event */
	int64_t tenths;       /* its next value (numeric) */
	int on;               /* its next state (on/off) */
	int brightness;
	int burst_left;       /* burst pattern: events left in this burst */
	double base;          /* power: mean watts; temperature/humidity: offset */
	int outdoor;
};

struct ferry_gen {
	struct ferry_gen_opts o;
	struct gen_entity *ents;
	uint32_t nents;
	uint32_t *heap;       /* entity indices, min-heap on (next_us, index) */
	uint64_t emitted;
	uint64_t limit;       /* rows, or UINT64_MAX with a duration */
	int64_t end_us;       /* INT64_MAX with a row count */
};

/* A writer's context, shared by the format back ends. */
struct gen_out {
	ferry_gen *g;
	const struct ferry_gen_opts *o;
	ferry_progress *progress;
	uint64_t rows;
	uint64_t bytes;
};

/* Each runs the whole stream into its format; 0 or FERRY_E* with err. */
int gen_write_lp(struct gen_out *w, struct ferry_error *err);
int gen_write_csv(struct gen_out *w, struct ferry_error *err);
int gen_write_sqlite(struct gen_out *w, struct ferry_error *err);
int gen_write_recorder(struct gen_out *w, struct ferry_error *err);

/* Decimal digits of v at p; returns the end.  No NUL. */
static inline char *gen_put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Tenths as a decimal with one fraction digit: 1234 -> "123.4" */
static inline char *gen_put_tenths(char *p, int64_t t)
{
	uint64_t u;

	if (t < 0) {
		*p++ = '-';
		u = (uint64_t)(-(t + 1)) + 1;
	} else {
		u = (uint64_t)t;
	}
	p = gen_put_u64(p, u / 10);
	*p++ = '.';
	*p++ = (char)('0' + u % 10);
	return p;
}

/* Rows between progress updates (and between checks in hot loops). */
#define GEN_PROGRESS_EVERY 65536

#endif
