/*
 * cli.c - small pieces the subcommands share: option values that mean the
 * same in every command (--progress), repeatable string options, sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ferry/connector.h"
#include "ferry/url.h"
#include "ferry/tsmap.h"
#include "ferry/progress.h"

int cli_progress_mode(const char *arg, int *mode)
{
	static const struct { const char *name; int mode; } modes[] = {
		{ "auto", FERRY_PROGRESS_AUTO }, { "bar", FERRY_PROGRESS_BAR },
		{ "plain", FERRY_PROGRESS_PLAIN }, { "none", FERRY_PROGRESS_QUIET },
	};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(arg, modes[i].name)) {
			*mode = modes[i].mode;
			return 0;
		}
	return -1;
}

int cli_strlist_push(struct cli_strlist *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 2) * sizeof(*v));

	if (!v)
		return -1;
	v[l->n++] = s;
	v[l->n] = NULL;
	l->v = v;
	return 0;
}

int cli_src_dst(const char *cmd, int argc, char **argv, int optind_,
		const char **src, const char **dst)
{
	if (argc - optind_ != 2)
		return cli_usage(cmd, "expected SRC and DST, got %d argument%s",
				 argc - optind_, argc - optind_ == 1 ? "" : "s");
	*src = argv[optind_];
	*dst = argv[optind_ + 1];
	return 0;
}

const char cli_ts_usage[] =
	"time-series sources (influx:, lp:, csv:):\n"
	"  --layout narrow|wide  narrow (default): one telemetry_data row per field;\n"
	"                       wide: a table per measurement, a column per tag/field\n"
	"  --map FILE.yaml      load into an existing table as the map file says\n"
	"  --table NAME         name of the narrow table (default telemetry_data)\n"
	"  --series-tag TAG     tag that names a series (default entity_id when a\n"
	"                       point has it, else the measurement and all its tags)\n"
	"  --keep-ns            add time_ns bigint with the exact nanoseconds\n"
	"  --start T, --end T   only points with start <= time < end (RFC 3339, or\n"
	"                       nanoseconds since 1970)\n"
	"  --chunk-time D       InfluxDB time per chunk: 6h, 1d, 2w (default: about\n"
	"                       250k-500k points per chunk)\n"
	"  --chunk-bytes N      files: bytes per chunk (default 64M)\n"
	"  --precision P        unit of integer timestamps in files: ns, us, ms, s\n"
	"                       (default ns for lp:, ms for csv: as IoTDB writes them)\n";

int cli_ts_option(int code, const char *arg, struct ferry_ts_opts *t)
{
	switch (code) {
	case CLI_TS_LAYOUT: t->layout = arg; return 1;
	case CLI_TS_MAP: t->map = arg; return 1;
	case CLI_TS_TABLE: t->table = arg; return 1;
	case CLI_TS_SERIES_TAG: t->series_tag = arg; return 1;
	case CLI_TS_KEEP_NS: t->keep_ns = 1; return 1;
	case CLI_TS_START: t->start = arg; return 1;
	case CLI_TS_END: t->end = arg; return 1;
	case CLI_TS_CHUNK_TIME: t->chunk_time = arg; return 1;
	case CLI_TS_CHUNK_BYTES: t->chunk_bytes = arg; return 1;
	case CLI_TS_PRECISION: t->precision = arg; return 1;
	}
	return 0;
}

int cli_create_db(const char *url, FILE *out, struct ferry_error *err)
{
	struct ferry_buf red = FERRY_BUF_INIT;
	int created = 0, rc;

	if ((rc = ferry_pg_create_database(url, &created, err)) == 0 && created && out) {
		ferry_url_redact(url, &red);
		fprintf(out, "created database for '%s'\n", red.buf);
		ferry_buf_release(&red);
	}
	return rc;
}
