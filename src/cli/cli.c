/*
 * cli.c - what the subcommands share: one option parser with the options
 * every command takes (-q, -v, --json, -h), usage errors and error
 * documents, option values that mean the same in every command
 * (--progress), repeatable string options.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "ferry/tsmap.h"
#include "ferry/progress.h"

struct cli_state cli = { "", 0, 0 };

void cli_error(const struct ferry_error *err)
{
	if (err->origin[0])
		fprintf(stderr, "ferry: error: %s (%s)\n", err->msg, err->origin);
	else
		fprintf(stderr, "ferry: error: %s\n", err->msg[0] ? err->msg :
			ferry_strerror(err->code));
}

void cli_json_print(json_t *root)
{
	char *s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

	if (s)
		puts(s);
	free(s);
	json_decref(root);
}

void cli_json_error(int code, const char *msg)
{
	json_t *root;

	if (!cli.json)
		return;
	root = json_pack("{s:s, s:i, s:s}", "command", cli.cmd, "exit_code", code,
			 "error", msg);
	cli_json_print(root);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ferry %s: %s\nsee 'ferry %s --help'\n", cmd, msg, cmd);
	cli_json_error(FERRY_EXIT_USAGE, msg);
	return FERRY_EXIT_USAGE;
}

int cli_exit_code(int rc)
{
	return rc == 0 ? FERRY_EXIT_OK : rc == FERRY_EUSAGE ? FERRY_EXIT_USAGE :
	       FERRY_EXIT_FAILED;
}

void cli_getopt_begin(const char *cmd, int argc, char **argv)
{
	int i;

	cli.cmd = cmd;
	/* --json anywhere (before a "--") makes even an error in an earlier
	 * option come out as JSON */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			cli.json = 1;
	optind = 0;  /* glibc: start afresh, whatever parsed before */
	opterr = 0;  /* our messages, not getopt's */
}

/* Is name (up to '=' or NUL) a long option that takes no value? */
static int takes_no_value(const struct option *longopts, const char *name)
{
	size_t n = strcspn(name, "=");

	for (; longopts->name; longopts++)
		if (strlen(longopts->name) == n && !strncmp(longopts->name, name, n))
			return longopts->has_arg == no_argument;
	return 0;
}

int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	char opts[64];
	const char *arg;
	int c;

	/* ':' first: a missing value is told apart from an unknown option */
	snprintf(opts, sizeof(opts), ":qv%s", shortopts);
	for (;;) {
		c = getopt_long(argc, argv, opts, longopts, NULL);
		arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
		switch (c) {
		case 'q':
			cli.quiet = 1;
			continue;
		case 'v':
			ferry_log_set_level(ferry_log_get_level() + 1);
			continue;
		case CLI_OPT_JSON:
			cli.json = 1;
			continue;
		case ':':
			if (arg[0] == '-' && arg[1] == '-')
				cli_usage(cli.cmd, "option '%s' needs a value", arg);
			else
				cli_usage(cli.cmd, "option '-%c' needs a value", optopt);
			return CLI_OPT_BAD;
		case '?':
			if (arg[0] == '-' && arg[1] == '-' && strchr(arg, '=') &&
			    takes_no_value(longopts, arg + 2))
				cli_usage(cli.cmd, "option '%.*s' takes no value",
					  (int)strcspn(arg, "="), arg);
			else if (optopt == 0 && arg[0] == '-' && arg[1] == '-')
				/* getopt sets optopt only for short options (and
				 * long ones given a value): inside "-xq" optind
				 * has not moved on and arg is the element before */
				cli_usage(cli.cmd, "unknown option '%s'", arg);
			else
				cli_usage(cli.cmd, "unknown option '-%c'", optopt);
			return CLI_OPT_BAD;
		default:
			return c;
		}
	}
}

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
	"  --map FILE.yaml      points: rules map the points first (new measurement,\n"
	"                       tags, fields, casts); target:/columns: load into an\n"
	"                       existing table as the map file says (tables: is\n"
	"                       a relational map, for SQLite sources: see above)\n"
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
