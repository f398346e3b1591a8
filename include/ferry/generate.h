/*
 * generate.h - ferry generate: realistic Home-Assistant-like telemetry for
 * tests and benchmarks.
 *
 * A generator is a deterministic stream of events (entity, time, value or
 * on/off state) merged in time order across N entities, each following one
 * reporting pattern.  The same options and seed always give the same
 * stream, on every machine: the only randomness is ferry's own PRNG
 * (xoshiro256** seeded through splitmix64), never rand().  Memory is
 * O(entities), never O(rows).
 *
 * ferry_generate() drives a generator into one output format (a flat SQLite
 * table, a Home Assistant recorder database, InfluxDB line protocol, CSV).
 * ferry_gen_new()/ferry_gen_next() expose the stream itself.
 *
 * Ownership: options are the caller's and only read during the call that
 * takes them (strings are copied).  Entity records and the strings in an
 * event belong to the generator and live until ferry_gen_free().
 */
#ifndef FERRY_GENERATE_H
#define FERRY_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"

enum ferry_gen_pattern {
	FERRY_GEN_HIGH_FREQUENCY = 0, /* every 1-5 s (power meters) */
	FERRY_GEN_PERIODIC,           /* every 30-60 s (temperature, humidity) */
	FERRY_GEN_BURST,              /* idle 5-60 min, then 20-200 events 0.1-1 s apart */
	FERRY_GEN_SPARSE,             /* 1 min to 4 h apart (motion, plugs, lights) */
	FERRY_GEN_MIXED,              /* a home: each entity gets one of the above */
	FERRY_GEN_PATTERN_COUNT
};

enum ferry_gen_format {
	FERRY_GEN_SQLITE = 0,  /* flat telemetry table */
	FERRY_GEN_RECORDER,    /* Home Assistant recorder schema */
	FERRY_GEN_LP,          /* InfluxDB line protocol as HA's integration writes it */
	FERRY_GEN_CSV,         /* time,entity_id,value,state */
	FERRY_GEN_FORMAT_COUNT
};

enum ferry_gen_kind {
	FERRY_GEN_POWER = 0,   /* sensor.<room>_power, W */
	FERRY_GEN_TEMPERATURE, /* sensor.<room>_temperature, °C */
	FERRY_GEN_HUMIDITY,    /* sensor.<room>_humidity, % */
	FERRY_GEN_MOTION,      /* binary_sensor.<room>_motion, on/off */
	FERRY_GEN_PLUG,        /* switch.<room>_plug, on/off */
	FERRY_GEN_LIGHT,       /* light.<room>, on/off (+ brightness) */
	FERRY_GEN_KIND_COUNT
};

/* Pattern interval bounds in microseconds (the unit tests hold them). */
#define FERRY_GEN_HF_MIN_US        1000000LL
#define FERRY_GEN_HF_MAX_US        5000000LL
#define FERRY_GEN_PERIODIC_MIN_US  30000000LL
#define FERRY_GEN_PERIODIC_MAX_US  60000000LL
#define FERRY_GEN_BURST_STEP_MIN_US  100000LL
#define FERRY_GEN_BURST_STEP_MAX_US  1000000LL
#define FERRY_GEN_BURST_IDLE_MIN_US  300000000LL
#define FERRY_GEN_BURST_IDLE_MAX_US  3600000000LL
#define FERRY_GEN_SPARSE_MIN_US    60000000LL
#define FERRY_GEN_SPARSE_MAX_US    14400000000LL

struct ferry_gen_opts {
	uint32_t entities;     /* 0 = 50 */
	uint64_t rows;         /* stop after this many events; 0 = use duration */
	int64_t duration_us;   /* with rows == 0: stop at start + duration;
	                          both 0 = 100000 rows */
	int pattern;           /* enum ferry_gen_pattern */
	uint64_t seed;
	int64_t start_us;      /* Unix epoch microseconds; events come after it */
	/* ferry_generate() only: */
	int format;            /* enum ferry_gen_format */
	const char *table;     /* sqlite table name, NULL = "telemetry" */
	const char *path;      /* output file (replaced); "-" = stdout (lp, csv) */
	int progress_mode;     /* enum ferry_progress_mode */
	FILE *progress_out;    /* NULL = stderr */
};

struct ferry_gen_entity {
	const char *entity_id;      /* "sensor.kitchen_power" */
	const char *domain;         /* "sensor" */
	const char *object_id;      /* "kitchen_power" */
	const char *friendly_name;  /* "Kitchen Power" */
	const char *unit;           /* "W", "°C", "%" or NULL */
	const char *device_class;   /* "power", "motion", ... or NULL */
	int kind;                   /* enum ferry_gen_kind */
	int pattern;                /* never FERRY_GEN_MIXED */
	int numeric;                /* 1: value, 0: on/off state */
};

struct ferry_gen_event {
	uint32_t entity;       /* index into the entities */
	int64_t ts_us;         /* Unix epoch microseconds */
	int64_t tenths;        /* numeric value * 10 (numeric entities) */
	const char *state;     /* "on"/"off" (on/off entities), else NULL */
	int brightness;        /* lights that are on: 1..255, else 0 */
};

typedef struct ferry_gen ferry_gen;

/* Create a generator.  Returns 0, or FERRY_EINVAL/FERRY_ENOMEM with err. */
int ferry_gen_new(ferry_gen **out, const struct ferry_gen_opts *opts,
		  struct ferry_error *err);
/* Next event in time order (ties by entity index): 1 = *ev filled, 0 = the
 * stream ended (row count or duration reached). */
int ferry_gen_next(ferry_gen *g, struct ferry_gen_event *ev);
uint32_t ferry_gen_entity_count(const ferry_gen *g);
const struct ferry_gen_entity *ferry_gen_entity(const ferry_gen *g, uint32_t i);
void ferry_gen_free(ferry_gen *g);

struct ferry_gen_result {
	uint64_t rows;
	uint64_t bytes;        /* bytes written (text formats) or file size */
	double seconds;
};

/* Generate into opts->format at opts->path.  Files are written under a
 * temporary name and renamed on success, so a failed run leaves no partial
 * output.  Returns 0 or a negative FERRY_E* with err filled. */
int ferry_generate(const struct ferry_gen_opts *opts, struct ferry_gen_result *res,
		   struct ferry_error *err);

/* Names <-> enums; parse functions return -1 for an unknown name. */
const char *ferry_gen_pattern_name(int pattern);
int ferry_gen_pattern_parse(const char *s);
const char *ferry_gen_format_name(int format);
int ferry_gen_format_parse(const char *s);
/* "30d", "12h", "90m", "45s", "2w", a plain number is seconds. */
int ferry_gen_parse_duration(const char *s, int64_t *us);
/* "2024-01-01", "2024-01-01T00:00:00[.ffffff][Z|+hh:mm]" or epoch seconds. */
int ferry_gen_parse_time(const char *s, int64_t *us);

#endif
