/*
 * cmd_generate.c - `ferry generate`: realistic Home-Assistant-like
 * telemetry for tests and benchmarks (options, the run, the summary).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/generate.h"
#include "ferry/progress.h"

static const char generate_usage[] =
	"usage: ferry generate [options] -o PATH\n"
	"\n"
	"Write realistic Home-Assistant-like telemetry: N entities named like\n"
	"HA's (sensor.kitchen_power, binary_sensor.hallway_motion, light.office)\n"
	"with units and device classes, reporting in time order.  The same\n"
	"options and seed always give byte-identical output.\n"
	"\n"
	"options:\n"
	"  --entities N       number of entities (default 50)\n"
	"  --rows N           stop after N rows (default 100000)\n"
	"  --duration D       or: stop after D of simulated time (30d, 12h, 90m, 45s)\n"
	"  --pattern P        high-frequency  every 1-5 s (power meters)\n"
	"                     periodic        every 30-60 s (temperature, humidity:\n"
	"                                     a daily sine plus noise)\n"
	"                     burst           idle 5-60 min, then 20-200 events\n"
	"                                     0.1-1 s apart (appliances, motion)\n"
	"                     sparse          1 min to 4 h apart (motion, plugs, lights)\n"
	"                     mixed           all of these across entities (default)\n"
	"  --seed S           PRNG seed (default 1)\n"
	"  --start TIME       first possible timestamp, ISO-8601 or epoch seconds\n"
	"                     (default 2024-01-01T00:00:00Z)\n"
	"  --format F         sqlite    flat table: id, entity_id, ts (epoch s),\n"
	"                               value, state, attributes (JSON) (default)\n"
	"                     recorder  Home Assistant recorder schema (states,\n"
	"                               states_meta, state_attributes, statistics...)\n"
	"                     lp        InfluxDB line protocol as HA's integration writes it\n"
	"                     csv       time,entity_id,value,state\n"
	"  --table NAME       table name for --format sqlite (default telemetry)\n"
	"  -o, --output PATH  output file (replaced); '-' = stdout for lp and csv\n"
	"  --json             print the summary as JSON on stdout (also on failure)\n"
	"  -q, --quiet        no progress and no summary\n"
	"  -v, --verbose      more diagnostics (repeat for debug)\n"
	"  --progress MODE    auto, bar, plain or none\n"
	"  -h, --help         this help\n"
	"\n"
	"exit codes: 0 written, 1 failed, 2 usage error\n";

enum {
	OPT_ENTITIES = 256, OPT_ROWS, OPT_DURATION, OPT_PATTERN, OPT_SEED, OPT_START,
	OPT_FORMAT, OPT_TABLE, OPT_PROGRESS
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static void print_json(const struct ferry_gen_opts *o, const struct ferry_gen_result *r)
{
	json_t *root = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:i}",
				 "path", o->path, "format", ferry_gen_format_name(o->format),
				 "pattern", ferry_gen_pattern_name(o->pattern),
				 "rows", (json_int_t)r->rows, "bytes", (json_int_t)r->bytes,
				 "seconds", r->seconds, "exit_code", FERRY_EXIT_OK);

	cli_json_print(root);
}

int cmd_generate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "entities", required_argument, NULL, OPT_ENTITIES },
		{ "rows", required_argument, NULL, OPT_ROWS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "start", required_argument, NULL, OPT_START },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "output", required_argument, NULL, 'o' },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ferry_gen_opts o;
	struct ferry_gen_result res;
	struct ferry_error err = FERRY_ERROR_INIT;
	uint64_t v;
	int c, rc;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.pattern = FERRY_GEN_MIXED;
	o.format = FERRY_GEN_SQLITE;
	o.seed = 1;
	o.start_us = 1704067200LL * 1000000;  /* 2024-01-01T00:00:00Z */
	o.progress_mode = FERRY_PROGRESS_AUTO;
	cli_getopt_begin("generate", argc, argv);
	while ((c = cli_getopt(argc, argv, "o:h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD: return FERRY_EXIT_USAGE;
		case OPT_ENTITIES:
			if (parse_u64(optarg, 10000000, &v) < 0)
				return cli_usage("generate", "invalid --entities '%s' (1..10000000)",
						 optarg);
			o.entities = (uint32_t)v;
			break;
		case OPT_ROWS:
			if (parse_u64(optarg, UINT64_MAX / 2, &v) < 0)
				return cli_usage("generate", "invalid --rows '%s'", optarg);
			o.rows = v;
			break;
		case OPT_DURATION:
			if (ferry_gen_parse_duration(optarg, &o.duration_us) < 0)
				return cli_usage("generate",
						 "invalid --duration '%s' (e.g. 30d, 12h, 90m, 45s)",
						 optarg);
			break;
		case OPT_PATTERN:
			o.pattern = ferry_gen_pattern_parse(optarg);
			if (o.pattern < 0)
				return cli_usage("generate", "unknown --pattern '%s'", optarg);
			break;
		case OPT_SEED: {
			char *end;

			o.seed = strtoull(optarg, &end, 0);
			if (!*optarg || *end)
				return cli_usage("generate", "invalid --seed '%s'", optarg);
			break;
		}
		case OPT_START:
			if (ferry_gen_parse_time(optarg, &o.start_us) < 0)
				return cli_usage("generate",
						 "invalid --start '%s' (e.g. 2024-01-01T00:00:00Z)",
						 optarg);
			break;
		case OPT_FORMAT:
			o.format = ferry_gen_format_parse(optarg);
			if (o.format < 0)
				return cli_usage("generate", "unknown --format '%s'", optarg);
			break;
		case OPT_TABLE: o.table = optarg; break;
		case 'o': o.path = optarg; break;
		case OPT_PROGRESS:
			if (cli_progress_mode(optarg, &o.progress_mode) < 0)
				return cli_usage("generate", "invalid --progress '%s': use auto, bar, plain or none",
						 optarg);
			break;
		case 'h':
			fputs(generate_usage, stdout);
			return FERRY_EXIT_OK;
		default:
			return cli_usage("generate", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage("generate", "unexpected argument '%s'", argv[optind]);
	if (!o.path)
		return cli_usage("generate", "no output; give -o PATH (or -o - for stdout)");
	if (o.rows && o.duration_us)
		return cli_usage("generate", "give --rows or --duration, not both");
	if (o.table && o.format != FERRY_GEN_SQLITE)
		return cli_usage("generate", "--table only applies to --format sqlite");
	if (cli.json && !strcmp(o.path, "-"))
		return cli_usage("generate", "--json needs -o PATH: stdout carries the data");
	o.progress_out = stderr;
	if (cli.quiet)
		o.progress_mode = FERRY_PROGRESS_QUIET;
	rc = ferry_generate(&o, &res, &err);
	if (rc < 0) {
		cli_error(&err);
		cli_json_error(cli_exit_code(rc), err.msg);
		return cli_exit_code(rc);
	}
	if (cli.json)
		print_json(&o, &res);
	else if (!cli.quiet)
		fprintf(stderr, "generated %llu rows (%s, %s) in %.2fs: %.0f rows/s, %.1f MB\n",
			(unsigned long long)res.rows, ferry_gen_format_name(o.format),
			ferry_gen_pattern_name(o.pattern), res.seconds,
			res.seconds > 0 ? (double)res.rows / res.seconds : 0.0,
			(double)res.bytes / 1e6);
	return FERRY_EXIT_OK;
}
