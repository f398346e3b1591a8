/*
 * test_generate.c - unit tests for src/lib/generate: the PRNG, determinism
 * of the event stream, per-entity time order, pattern intervals, row and
 * duration limits, entity naming, option parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/generate.h"
#include "generate/gen_int.h"

static const int64_t start_2024 = 1704067200LL * 1000000;

static ferry_gen *mkgen(int pattern, uint32_t entities, uint64_t rows, uint64_t seed)
{
	struct ferry_gen_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_gen *g = NULL;

	memset(&o, 0, sizeof(o));
	o.pattern = pattern;
	o.entities = entities;
	o.rows = rows;
	o.seed = seed;
	o.start_us = start_2024;
	assert_int_equal(ferry_gen_new(&g, &o, &err), 0);
	assert_non_null(g);
	return g;
}

static void rng_deterministic(void **state)
{
	struct gen_rng a, b, c;
	uint64_t sm = 1234567;
	int i, differ = 0;

	(void)state;
	/* splitmix64's published first output for seed 1234567 */
	assert_true(gen_splitmix64(&sm) == 6457827717110365317ULL);
	gen_rng_seed(&a, 42);
	gen_rng_seed(&b, 42);
	gen_rng_seed(&c, 43);
	for (i = 0; i < 10000; i++) {
		uint64_t x = gen_rng_next(&a);
		double d;
		int64_t r;

		assert_true(x == gen_rng_next(&b));
		differ += x != gen_rng_next(&c);
		d = gen_rng_double(&a);
		(void)gen_rng_double(&b);
		assert_true(d >= 0.0 && d < 1.0);
		r = gen_rng_range(&a, -3, 3);
		(void)gen_rng_range(&b, -3, 3);
		assert_true(r >= -3 && r <= 3);
	}
	assert_true(differ > 9990);
}

static void stream_deterministic(void **state)
{
	int p;

	(void)state;
	for (p = 0; p < FERRY_GEN_PATTERN_COUNT; p++) {
		ferry_gen *a = mkgen(p, 37, 20000, 7), *b = mkgen(p, 37, 20000, 7);
		ferry_gen *c = mkgen(p, 37, 20000, 8);
		struct ferry_gen_event ea, eb, ec;
		int n = 0, same_as_c = 0;

		while (ferry_gen_next(a, &ea)) {
			assert_int_equal(ferry_gen_next(b, &eb), 1);
			assert_int_equal(ferry_gen_next(c, &ec), 1);
			assert_int_equal(ea.entity, eb.entity);
			assert_true(ea.ts_us == eb.ts_us);
			assert_true(ea.tenths == eb.tenths);
			assert_int_equal(ea.brightness, eb.brightness);
			same_as_c += ea.ts_us == ec.ts_us && ea.entity == ec.entity;
			n++;
		}
		assert_int_equal(n, 20000);
		assert_int_equal(ferry_gen_next(b, &eb), 0);
		assert_true(same_as_c < 100);  /* another seed, another stream */
		ferry_gen_free(a);
		ferry_gen_free(b);
		ferry_gen_free(c);
	}
}

/* Per entity strictly increasing, globally non-decreasing, and every gap
 * within the bounds of the entity's pattern. */
static void stream_order_and_intervals(void **state)
{
	int p;

	(void)state;
	for (p = 0; p < FERRY_GEN_PATTERN_COUNT; p++) {
		uint32_t n = 40, i;
		ferry_gen *g = mkgen(p, n, 200000, 99);
		int64_t *last = calloc(n, sizeof(*last)), prev = INT64_MIN;
		uint64_t *count = calloc(n, sizeof(*count)), gaps = 0;
		struct ferry_gen_event ev;

		assert_non_null(last);
		assert_non_null(count);
		while (ferry_gen_next(g, &ev)) {
			const struct ferry_gen_entity *e = ferry_gen_entity(g, ev.entity);
			int64_t d;

			assert_true(ev.ts_us >= prev);
			assert_true(ev.ts_us > start_2024);
			prev = ev.ts_us;
			if (count[ev.entity]++) {
				d = ev.ts_us - last[ev.entity];
				assert_true(d > 0);
				gaps++;
				switch (e->pattern) {
				case FERRY_GEN_HIGH_FREQUENCY:
					assert_true(d >= FERRY_GEN_HF_MIN_US && d <= FERRY_GEN_HF_MAX_US);
					break;
				case FERRY_GEN_PERIODIC:
					assert_true(d >= FERRY_GEN_PERIODIC_MIN_US &&
						    d <= FERRY_GEN_PERIODIC_MAX_US);
					break;
				case FERRY_GEN_BURST:
					assert_true((d >= FERRY_GEN_BURST_STEP_MIN_US &&
						     d <= FERRY_GEN_BURST_STEP_MAX_US) ||
						    (d >= FERRY_GEN_BURST_IDLE_MIN_US &&
						     d <= FERRY_GEN_BURST_IDLE_MAX_US));
					break;
				case FERRY_GEN_SPARSE:
					assert_true(d >= FERRY_GEN_SPARSE_MIN_US &&
						    d <= FERRY_GEN_SPARSE_MAX_US);
					break;
				default:
					fail_msg("entity %u has pattern %d", ev.entity, e->pattern);
				}
			}
			last[ev.entity] = ev.ts_us;
			if (e->numeric) {
				assert_null(ev.state);
				if (e->kind == FERRY_GEN_HUMIDITY)
					assert_true(ev.tenths >= 0 && ev.tenths <= 1000);
				if (e->kind == FERRY_GEN_POWER)
					assert_true(ev.tenths >= 0);
			} else {
				assert_non_null(ev.state);
				assert_true(!strcmp(ev.state, ev.tenths ? "on" : "off"));
				if (e->kind != FERRY_GEN_LIGHT || !ev.tenths)
					assert_int_equal(ev.brightness, 0);
				else
					assert_true(ev.brightness >= 1 && ev.brightness <= 255);
			}
		}
		assert_true(gaps > 0);
		for (i = 0; i < n; i++)
			assert_true(count[i] > 0);  /* every entity reports */
		free(last);
		free(count);
		ferry_gen_free(g);
	}
}

static void mixed_has_every_pattern(void **state)
{
	ferry_gen *g = mkgen(FERRY_GEN_MIXED, 50, 1, 1);
	int seen[FERRY_GEN_PATTERN_COUNT] = { 0 }, kinds[FERRY_GEN_KIND_COUNT] = { 0 };
	uint32_t i, j;

	(void)state;
	for (i = 0; i < ferry_gen_entity_count(g); i++) {
		const struct ferry_gen_entity *e = ferry_gen_entity(g, i);

		seen[e->pattern]++;
		kinds[e->kind]++;
		assert_non_null(strchr(e->entity_id, '.'));
		assert_true(!strncmp(e->entity_id, e->domain, strlen(e->domain)));
		assert_string_equal(e->entity_id + strlen(e->domain) + 1, e->object_id);
		assert_true(e->numeric == (e->unit != NULL));
		for (j = 0; j < i; j++)
			assert_string_not_equal(e->entity_id, ferry_gen_entity(g, j)->entity_id);
	}
	for (i = 0; i < FERRY_GEN_MIXED; i++)
		assert_true(seen[i] > 0);
	for (i = 0; i < FERRY_GEN_KIND_COUNT; i++)
		assert_true(kinds[i] > 0);
	assert_string_equal(ferry_gen_entity(g, 0)->entity_id, "sensor.living_room_power");
	assert_string_equal(ferry_gen_entity(g, 0)->unit, "W");
	ferry_gen_free(g);
}

static void duration_limit(void **state)
{
	struct ferry_gen_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_gen_event ev;
	ferry_gen *g = NULL;
	uint64_t n = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.pattern = FERRY_GEN_HIGH_FREQUENCY;
	o.entities = 10;
	o.start_us = start_2024;
	o.duration_us = 3600LL * 1000000;
	assert_int_equal(ferry_gen_new(&g, &o, &err), 0);
	while (ferry_gen_next(g, &ev)) {
		assert_true(ev.ts_us < o.start_us + o.duration_us);
		n++;
	}
	/* 10 entities every 1-5 s (mean 3 s) for an hour: about 12000 */
	assert_true(n > 9000 && n < 15000);
	ferry_gen_free(g);
}

static void parsing(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(ferry_gen_parse_duration("30d", &v), 0);
	assert_true(v == 30LL * 86400 * 1000000);
	assert_int_equal(ferry_gen_parse_duration("90m", &v), 0);
	assert_true(v == 90LL * 60 * 1000000);
	assert_int_equal(ferry_gen_parse_duration("45", &v), 0);
	assert_true(v == 45LL * 1000000);
	assert_int_equal(ferry_gen_parse_duration("1.5h", &v), 0);
	assert_true(v == 5400LL * 1000000);
	assert_true(ferry_gen_parse_duration("3x", &v) < 0);
	assert_true(ferry_gen_parse_duration("-1d", &v) < 0);
	assert_true(ferry_gen_parse_duration("", &v) < 0);
	assert_int_equal(ferry_gen_parse_time("2024-01-01T00:00:00Z", &v), 0);
	assert_true(v == start_2024);
	assert_int_equal(ferry_gen_parse_time("2024-01-01", &v), 0);
	assert_true(v == start_2024);
	assert_int_equal(ferry_gen_parse_time("2024-01-01T01:00:00.25+01:00", &v), 0);
	assert_true(v == start_2024 + 250000);
	assert_int_equal(ferry_gen_parse_time("1704067200", &v), 0);
	assert_true(v == start_2024);
	assert_true(ferry_gen_parse_time("2024-13-01", &v) < 0);
	assert_true(ferry_gen_parse_time("yesterday", &v) < 0);
	assert_int_equal(ferry_gen_pattern_parse("burst"), FERRY_GEN_BURST);
	assert_int_equal(ferry_gen_pattern_parse("bursty"), -1);
	assert_int_equal(ferry_gen_format_parse("recorder"), FERRY_GEN_RECORDER);
	assert_string_equal(ferry_gen_format_name(FERRY_GEN_LP), "lp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rng_deterministic),
		cmocka_unit_test(stream_deterministic),
		cmocka_unit_test(stream_order_and_intervals),
		cmocka_unit_test(mixed_has_every_pattern),
		cmocka_unit_test(duration_limit),
		cmocka_unit_test(parsing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
