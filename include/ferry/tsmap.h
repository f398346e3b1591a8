/*
 * tsmap.h - options of the time-series sources (influx://, lp://, csv://)
 * and their mapping into tables: layout narrow (default) or wide, or a
 * map file into an existing table.
 *
 * The options travel as query parameters of the source URL, so every
 * connection a copy or verify opens (one per job, on any machine) reads
 * the same points into the same rows, and the resume fingerprint covers
 * them.  ferry_ts_url() (ferry/registry.h: only the registry knows which
 * stores are point sources) builds that URL.
 */
#ifndef FERRY_TSMAP_PUBLIC_H
#define FERRY_TSMAP_PUBLIC_H

#include "ferry/error.h"

struct ferry_ts_opts {
	const char *layout;      /* "narrow", "wide"; NULL = narrow (or map) */
	const char *map;         /* map file (YAML); implies the map layout */
	const char *table;       /* narrow table name (default telemetry_data) */
	const char *series_tag;  /* tag that names the series (default entity_id) */
	int keep_ns;             /* add time_ns bigint */
	const char *start, *end; /* RFC 3339 or ns since 1970 */
	const char *chunk_time;  /* InfluxDB time per chunk: 6h, 1d, ... */
	const char *chunk_bytes; /* files: bytes per chunk: 64M */
	const char *precision;   /* lp/csv integer timestamps: ns us ms s m h */
};

/* Is any option set? */
int ferry_ts_opts_set(const struct ferry_ts_opts *t);

#endif
