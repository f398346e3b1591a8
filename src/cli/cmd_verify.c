/*
 * cmd_verify.c - `ferry verify SRC DST`: options, the run, the report.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/progress.h"
#include "ferry/verify.h"

static const char verify_usage[] =
	"usage: ferry verify [options] SRC DST\n"
	"\n"
	"Prove that DST holds exactly what SRC holds.  Both are read in the same\n"
	"key ranges (chunks); each row is put through the copy's conversion and\n"
	"hashed in one canonical encoding (a double by its bits, text by its bytes,\n"
	"timestamps by microseconds), and per chunk the row counts and hashes are\n"
	"compared.  Every differing table and key range is named with its first\n"
	"differing key and column.  Rows the copy rejects are counted, not\n"
	"differences.\n"
	"\n"
	"  SRC   sqlite:///abs/path.db or sqlite:rel/path.db, or a time-series\n"
	"        source as for 'ferry copy' (influx://, lp:, csv:)\n"
	"  DST   postgres://user:pw@host:port/db (anything libpq accepts), or\n"
	"        influx://host:port/DB: SRC is then a point source (influx://, lp:,\n"
	"        csv:), compared value by value in time windows (--chunk-time),\n"
	"        through --map FILE's points: rules when given\n"
	"\n"
	"options:\n"
	"  --map FILE.yaml      with a top-level tables: (a relational map): compare\n"
	"                       each target table with its source query, as rows\n"
	"  --schema NAME        target schema (default public)\n"
	"  --include GLOB       verify only matching tables (repeatable)\n"
	"  --exclude GLOB       leave matching tables out (repeatable)\n"
	"  --chunk-rows N       source rows per chunk (default 500000)\n"
	"  --sample PCT         check only PCT percent of each table's chunks\n"
	"                       (at least one), picked by --seed\n"
	"  --seed N             which chunks --sample picks (default 0)\n"
	"  -j, --jobs N         parallel workers (default: one per core)\n"
	"  --json               print the report as JSON on stdout (also on failure)\n"
	"  -q, --quiet          no progress and no report, only the differences\n"
	"  -v, --verbose        more diagnostics (repeat for debug)\n"
	"  --progress MODE      auto, bar, plain or none\n"
	"  -h, --help           this help\n"
	"\n"
	"exit codes: 0 equal, 1 different (or failed), 2 usage or configuration error\n";

enum {
	OPT_SCHEMA = 256, OPT_INCLUDE, OPT_EXCLUDE, OPT_CHUNK_ROWS, OPT_SAMPLE, OPT_SEED,
	OPT_PROGRESS
};

static void range_text(const struct ferry_verify_diff *d, char *out, size_t n)
{
	if (d->range)
		snprintf(out, n, "%s", d->range);
	else if (!d->keyed)
		snprintf(out, n, "all rows");
	else if (d->lo_open && d->hi_open)
		snprintf(out, n, "all keys");
	else if (d->lo_open)
		snprintf(out, n, "keys ..%lld", (long long)d->hi);
	else if (d->hi_open)
		snprintf(out, n, "keys %lld..", (long long)d->lo);
	else
		snprintf(out, n, "keys %lld..%lld", (long long)d->lo, (long long)d->hi);
}

/* The report; quiet leaves only the differences (the exit code says
 * "equal"). */
static void print_text(const struct ferry_verify_result *r, FILE *o, int quiet)
{
	size_t i, w = 5;

	if (quiet)
		goto diffs;
	for (i = 0; i < r->ntables; i++)
		if (strlen(r->tables[i].name) > w)
			w = strlen(r->tables[i].name);
	if (w > 40)
		w = 40;
	fprintf(o, "\n%-*s %9s %12s %12s %9s %9s\n", (int)w, "table", "chunks", "source",
		"target", "rejected", "differ");
	for (i = 0; i < r->ntables; i++) {
		const struct ferry_verify_table *t = &r->tables[i];
		char ck[48];

		if (t->missing) {
			fprintf(o, "%-*.*s %9s %12lld %12s %9s %9s\n", (int)w, (int)w, t->name,
				"-", (long long)t->src_rows, "missing", "-", "table");
			continue;
		}
		if (t->checked == t->chunks)
			snprintf(ck, sizeof(ck), "%lld", (long long)t->checked);
		else
			snprintf(ck, sizeof(ck), "%lld/%lld", (long long)t->checked,
				 (long long)t->chunks);
		fprintf(o, "%-*.*s %9s %12lld %12lld %9lld %9lld\n", (int)w, (int)w, t->name, ck,
			(long long)t->src_rows, (long long)t->dst_rows, (long long)t->rejected,
			(long long)t->differing);
	}
	fprintf(o, "%-*s %9lld %12lld %12lld %9lld %9lld\n", (int)w, "total",
		(long long)r->checked, (long long)r->src_rows, (long long)r->dst_rows,
		(long long)r->rejected, (long long)r->differing);
	if (r->checked < r->chunks)
		fprintf(o, "\nsampled %lld of %lld chunks\n", (long long)r->checked,
			(long long)r->chunks);
	if (r->rejected)
		fprintf(o, "\n%lld source rows are rejected at copy (not differences)\n",
			(long long)r->rejected);
diffs:
	for (i = 0; i < r->ndiffs; i++) {
		const struct ferry_verify_diff *d = &r->diffs[i];
		char rg[96];

		if (i == 0 && !quiet)
			fputc('\n', o);
		range_text(d, rg, sizeof(rg));
		if (d->table_missing) {
			fprintf(o, "differs: table '%s': %s\n", d->table, d->what);
			continue;
		}
		fprintf(o, "differs: table '%s' %s: source %lld rows, target %lld rows",
			d->table, rg, (long long)d->src_rows, (long long)d->dst_rows);
		if (d->row)
			fprintf(o, "; first difference: %s: %s", d->what, d->row);
		else if (d->has_key)
			fprintf(o, "; first difference at %s %lld: %s", d->keyed ? "key" : "row",
				(long long)d->key, d->what);
		else if (d->what)
			fprintf(o, "; %s", d->what);
		fputc('\n', o);
	}
	if (quiet)
		return;
	fprintf(o, "\n%s (%.2fs, %.0f rows/s)\n", r->equal ? "equal" : "DIFFERENT", r->seconds,
		r->seconds > 0 ? (double)(r->src_rows + r->dst_rows) / 2 / r->seconds : 0.0);
}

static json_t *range_json(int open, int64_t v)
{
	return open ? json_null() : json_integer(v);
}

static void print_json(const struct ferry_verify_result *r, const struct ferry_error *err,
		       int status)
{
	json_t *root = json_object(), *tables = json_array(), *diffs = json_array();
	size_t i;

	for (i = 0; r && i < r->ntables; i++) {
		const struct ferry_verify_table *t = &r->tables[i];

		json_array_append_new(tables, json_pack("{s:s, s:s?, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
			"table", t->name, "target", t->target, "missing", t->missing,
			"keyed", t->keyed, "chunks", (json_int_t)t->chunks,
			"checked", (json_int_t)t->checked, "source_rows", (json_int_t)t->src_rows,
			"target_rows", (json_int_t)t->dst_rows, "rejected", (json_int_t)t->rejected,
			"differing_chunks", (json_int_t)t->differing));
	}
	for (i = 0; r && i < r->ndiffs; i++) {
		const struct ferry_verify_diff *d = &r->diffs[i];
		json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:s?, s:s?}", "table", d->table,
				      "keyed", d->keyed, "source_rows", (json_int_t)d->src_rows,
				      "target_rows", (json_int_t)d->dst_rows, "what", d->what,
				      "column", d->column);

		json_object_set_new(o, "lo", d->keyed ? range_json(d->lo_open, d->lo) : json_null());
		json_object_set_new(o, "hi", d->keyed ? range_json(d->hi_open, d->hi) : json_null());
		json_object_set_new(o, "first_key", d->has_key ? json_integer(d->key) : json_null());
		json_object_set_new(o, "first_row", d->row ? json_string(d->row) : json_null());
		if (d->range)
			json_object_set_new(o, "range", json_string(d->range));
		json_array_append_new(diffs, o);
	}
	json_object_set_new(root, "equal", json_boolean(status == FERRY_EXIT_OK));
	json_object_set_new(root, "exit_code", json_integer(status));
	json_object_set_new(root, "tables", tables);
	json_object_set_new(root, "differences", diffs);
	if (r) {
		json_object_set_new(root, "chunks", json_integer(r->chunks));
		json_object_set_new(root, "checked", json_integer(r->checked));
		json_object_set_new(root, "source_rows", json_integer(r->src_rows));
		json_object_set_new(root, "target_rows", json_integer(r->dst_rows));
		json_object_set_new(root, "rejected", json_integer(r->rejected));
		json_object_set_new(root, "seconds", json_real(r->seconds));
	}
	if (err && err->code)
		json_object_set_new(root, "error", json_string(err->msg));
	else if (status != FERRY_EXIT_OK && r)  /* every exit 1 says why */
		json_object_set_new(root, "error", json_sprintf(
			"the target differs from the source: %lld differing chunk%s",
			(long long)r->differing, r->differing == 1 ? "" : "s"));
	cli_json_print(root);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "schema", required_argument, NULL, OPT_SCHEMA },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS },
		{ "sample", required_argument, NULL, OPT_SAMPLE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "jobs", required_argument, NULL, 'j' },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		CLI_COMMON_LONGOPTS,
		CLI_TS_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ferry_verify_opts o;
	struct ferry_verify_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct cli_strlist inc = { 0 }, exc = { 0 };
	int c, status, rc;

	memset(&o, 0, sizeof(o));
	o.progress_mode = FERRY_PROGRESS_AUTO;
	cli_getopt_begin("verify", argc, argv);
	while ((c = cli_getopt(argc, argv, "hj:", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD: return FERRY_EXIT_USAGE;
		case OPT_SCHEMA: o.schema = optarg; break;
		case OPT_INCLUDE: cli_strlist_push(&inc, optarg); break;
		case OPT_EXCLUDE: cli_strlist_push(&exc, optarg); break;
		case 'j':
		case OPT_CHUNK_ROWS:
		case OPT_SEED: {
			char *end;
			long long v = strtoll(optarg, &end, 10);

			if (*end || !*optarg || v < 0 || (v == 0 && c != OPT_SEED))
				return cli_usage("verify", "invalid number '%s'", optarg);
			if (c == 'j')
				o.jobs = v > 64 ? 64 : (int)v;
			else if (c == OPT_CHUNK_ROWS)
				o.chunk_rows = v;
			else
				o.seed = (uint64_t)v;
			break;
		}
		case OPT_SAMPLE: {
			char *end;
			double v = strtod(optarg, &end);

			if (*end || !*optarg || !(v > 0 && v <= 100))
				return cli_usage("verify", "invalid --sample '%s': expected a "
						 "percentage above 0 and at most 100", optarg);
			o.sample_pct = v;
			break;
		}
		case OPT_PROGRESS:
			if (cli_progress_mode(optarg, &o.progress_mode) < 0)
				return cli_usage("verify", "invalid --progress '%s': use auto, bar, plain or none",
						 optarg);
			break;
		case 'h':
			fputs(verify_usage, stdout);
			fputs("\n", stdout);
			fputs(cli_ts_usage, stdout);
			fputs("  (give verify the same source options as the copy)\n", stdout);
			return FERRY_EXIT_OK;
		default:
			if (cli_ts_option(c, optarg, &o.ts))
				break;
			return cli_usage("verify", "unknown option");
		}
	}
	if ((rc = cli_src_dst("verify", argc, argv, optind, &o.src, &o.dst)) != 0)
		return rc;
	o.include = inc.v;
	o.exclude = exc.v;
	o.progress_out = stderr;
	if (cli.quiet)
		o.progress_mode = FERRY_PROGRESS_QUIET;
	rc = ferry_verify_run(&o, &res, &err);
	if (rc == FERRY_EUSAGE)
		status = FERRY_EXIT_USAGE;
	else if (rc < 0 || !res->equal)
		status = FERRY_EXIT_FAILED;
	else
		status = FERRY_EXIT_OK;
	if (cli.json)
		print_json(res, &err, status);
	else if (res && rc == 0)
		print_text(res, stdout, cli.quiet);
	if (rc < 0)
		cli_error(&err);
	ferry_verify_result_free(res);
	free(inc.v);
	free(exc.v);
	return status;
}
