/*
 * cmd_copy.c - `ferry copy SRC DST`: options, the run, the summary.
 */
#include <getopt.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/copy.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/registry.h"
#include "ferry/url.h"

static const char copy_usage[] =
	"usage: ferry copy [options] SRC DST\n"
	"\n"
	"Copy tables and rows from SRC to DST, translating the schema exactly:\n"
	"types that never lose a value, defaults, keys, indexes, foreign keys,\n"
	"identity sequences past the highest key.  Rows that cannot be copied\n"
	"exactly go to a reject file; every other row loads.\n"
	"\n"
	"  SRC   sqlite:///abs/path.db or sqlite:rel/path.db,\n"
	"        postgres://user:pw@host:port/db[?schema=NAME] (one schema, default\n"
	"        public; binary COPY in primary-key ranges, or ctid ranges),\n"
	"        influx://[user:pw@]host:8086/db[?rp=RP] (InfluxDB 1.x),\n"
	"        lp:///path (line protocol: a file, .gz, a directory, or lp:- for stdin),\n"
	"        csv:///path (IoTDB export-csv or CSV with a header; file or directory)\n"
	"  DST   postgres://user:pw@host:port/db (anything libpq accepts),\n"
	"        or sqlite:///path.db; from a point source (influx, lp, csv) also\n"
	"        influx://[user:pw@]host:8086/db[?rp=RP] (InfluxDB 1.x),\n"
	"        influx://host:8086/?org=ORG&bucket=B&token=T (InfluxDB 2.x),\n"
	"        lp:///path[?db=NAME] (a line-protocol file; lp:- for stdout)\n"
	"\n"
	"options:\n"
	"  --map FILE.yaml      with a top-level tables: (a relational map): reshape\n"
	"                       a SQLite or PostgreSQL source into other tables,\n"
	"                       each a source table or query (in the source's SQL)\n"
	"                       with column expressions, lookups\n"
	"                       and defaults (examples/maps/inverter-bridge/)\n"
	"  --schema NAME        target schema (default public)\n"
	"  --data-only          load into tables that already exist (matched by name)\n"
	"  --schema-only        create tables, keys and indexes, copy no rows\n"
	"  --include GLOB       copy only matching tables (repeatable)\n"
	"  --exclude GLOB       leave matching tables out (repeatable)\n"
	"  --cast T.C=TYPE      override the target type of one column (repeatable)\n"
	"  --create-db          create the target database if it does not exist\n"
	"                       (PostgreSQL; InfluxDB: also the URL's ?rp=)\n"
	"  --truncate           empty existing target tables, then load into them\n"
	"  --drop               drop and recreate target tables ferry created before\n"
	"  --force              with --drop: also drop tables ferry did not create\n"
	"  --views              create views too (when their SQL translates)\n"
	"  --rejects DIR        where rejected rows go (default ./ferry-rejects/<job>/)\n"
	"  --job NAME           job name (default: the source file name)\n"
	"  --batch-rows N       rows per batch (default 10000)\n"
	"  --chunk-rows N       rows per committed chunk (default 250000; the cut\n"
	"                       does not depend on -j, so a rerun resumes it)\n"
	"  -j, --jobs N|auto    parallel COPY streams (default auto: from the cores,\n"
	"                       whether the server is on this host, the tables;\n"
	"                       one stream first, more only while they add rows/s;\n"
	"                       the summary says what it chose and why)\n"
	"  --key-order          load every table in key ranges, in parallel; by\n"
	"                       default a table whose target gets an index led by a\n"
	"                       text column is loaded in that index's order (one\n"
	"                       stream), so PostgreSQL builds it from sorted rows\n"
	"  --maintenance-work-mem SIZE\n"
	"                       PostgreSQL's memory per index build, e.g. 256MB\n"
	"                       (default: the server's, raised to 64MB if lower)\n"
	"\n"
	"resuming and budgets (PostgreSQL targets keep the job in schema 'ferry'):\n"
	"  --restart            forget an earlier run of this job and start over\n"
	"  --worker             share the job with other ferry processes (any machine)\n"
	"  --snapshot           copy a SQLite source with the backup API first, so a\n"
	"                       running application cannot change it mid-copy\n"
	"  --max-errors N       abort when more than N rows are rejected\n"
	"  --max-error-rate R   abort when more than R (0..1) of the rows are rejected\n"
	"  --rollback-on-abort  on abort, remove every table and row the job wrote\n"
	"  --retries N          reconnect attempts after a lost connection (default 10)\n"
	"  --state PATH|URL     influx/lp targets: the file that records the done\n"
	"                       chunks (default: state-HASH.json in the rejects\n"
	"                       directory, one per target), or postgres://URL\n"
	"                       (tables in its schema ferry)\n"
	"  --json               print the summary as JSON on stdout (also on failure)\n"
	"  -q, --quiet          no progress and no summary, only warnings and errors\n"
	"  -v, --verbose        more diagnostics (repeat for debug)\n"
	"  --progress MODE      auto, bar, plain or none\n"
	"  -h, --help           this help\n"
	"\n"
	"exit codes: 0 all rows copied, 3 completed with rejected rows,\n"
	"            1 failed, 2 usage or configuration error\n";

enum {
	OPT_SCHEMA = 256, OPT_DATA_ONLY, OPT_SCHEMA_ONLY, OPT_INCLUDE, OPT_EXCLUDE,
	OPT_CAST, OPT_TRUNCATE, OPT_DROP, OPT_FORCE, OPT_VIEWS, OPT_REJECTS, OPT_JOB,
	OPT_BATCH_ROWS, OPT_CHUNK_ROWS, OPT_JOBS, OPT_RESTART, OPT_WORKER,
	OPT_SNAPSHOT, OPT_MAX_ERRORS, OPT_MAX_ERROR_RATE, OPT_ROLLBACK, OPT_RETRIES, OPT_PROGRESS,
	OPT_KEY_ORDER, OPT_MWM, OPT_CREATE_DB, OPT_STATE
};

static void human(uint64_t b, char *out, size_t n)
{
	const char *u[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* Does the copy write its points to stdout (lp:-)?  Then the summary
 * goes to stderr. */
static int to_stdout(const char *dst)
{
	size_t n = strlen(dst);

	return (ferry_conn_url_caps(dst) & FERRY_CAP_FILE) && n > 2 && !strcmp(dst + n - 2, ":-");
}

/* The summary; quiet leaves only what asks for action (renames,
 * warnings, the rejects file). */
static void print_text(const struct ferry_copy_result *r, FILE *o, int quiet)
{
	size_t i, w = 5;
	char hb[32];

	if (quiet)
		goto notes;
	for (i = 0; i < r->ntables; i++)
		if (strlen(r->tables[i].name) > w)
			w = strlen(r->tables[i].name);
	if (w > 40)
		w = 40;
	fprintf(o, "\n%-*s %12s %12s %9s %10s %8s\n", (int)w, "table", "read", "written",
		"rejected", "bytes", "time");
	for (i = 0; i < r->ntables; i++) {
		const struct ferry_copy_table_stats *t = &r->tables[i];

		human(t->bytes, hb, sizeof(hb));
		fprintf(o, "%-*.*s %12lld %12lld %9lld %10s %7.2fs\n", (int)w, (int)w, t->name,
			(long long)t->read, (long long)t->written, (long long)t->rejected, hb,
			t->seconds);
	}
	human(r->bytes, hb, sizeof(hb));
	fprintf(o, "%-*s %12lld %12lld %9lld %10s %7.2fs\n", (int)w, "total",
		(long long)r->read, (long long)r->written, (long long)r->rejected, hb,
		r->total_seconds);
	if (r->resumed && r->totals_of_run)
		fprintf(o, "(job '%s' resumed: the totals count this run; what earlier runs "
			"wrote is not counted again)\n", r->job);
	else if (r->resumed)
		fprintf(o, "(job '%s' resumed: totals include the rows earlier runs committed)\n",
			r->job);
	for (i = 0; i < r->ntables; i++)
		if (r->tables[i].order)
			fprintf(o, "%s: loaded in the order of index %s (one stream)\n",
				r->tables[i].name, r->tables[i].order);
	if (r->ndecisions) {
		fprintf(o, "\ndecided:\n");
		for (i = 0; i < r->ndecisions; i++)
			fprintf(o, "  %s\n", r->decisions[i]);
	}
	fprintf(o, "\nphases:");
	for (i = 0; i < FERRY_PHASE_COUNT; i++)
		fprintf(o, " %s %.2fs", ferry_copy_phase_name((int)i), r->phase_seconds[i]);
	if (r->phase_seconds[FERRY_PHASE_DATA] > 0 && r->written_run > 0)
		fprintf(o, "\nrate: %.0f rows/s during the data phase%s",
			(double)r->written_run / r->phase_seconds[FERRY_PHASE_DATA],
			r->written_run < r->written ? " (the rows this run wrote)" : "");
	fputc('\n', o);
notes:
	if (r->nrenames) {
		fprintf(o, "\nrenamed (names PostgreSQL cannot take):\n");
		for (i = 0; i < r->nrenames; i++)
			fprintf(o, "  %s\n", r->renames[i]);
	}
	if (r->nwarnings) {
		fprintf(o, "\nwarnings:\n");
		for (i = 0; i < r->nwarnings; i++)
			fprintf(o, "  %s\n", r->warnings[i]);
	}
	if (r->rejects_path && r->rejected)
		fprintf(o, "\n%lld rows rejected: see %s\n", (long long)r->rejected,
			r->rejects_path);
}

static void print_json(const struct ferry_copy_result *r, const struct ferry_error *err,
		       int status)
{
	json_t *root = json_object(), *tables = json_array(), *phases = json_object(),
	       *warn = json_array(), *ren = json_array();
	size_t i;

	for (i = 0; i < r->ntables; i++) {
		const struct ferry_copy_table_stats *t = &r->tables[i];

		json_array_append_new(tables, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f}",
			"table", t->name, "target", t->target ? t->target : "",
			"read", (json_int_t)t->read, "written", (json_int_t)t->written,
			"rejected", (json_int_t)t->rejected, "bytes", (json_int_t)t->bytes,
			"seconds", t->seconds));
		json_object_set_new(json_array_get(tables, json_array_size(tables) - 1), "order",
				    t->order ? json_string(t->order) : json_null());
		if (t->dropped)
			json_object_set_new(json_array_get(tables, json_array_size(tables) - 1),
					    "dropped", json_integer(t->dropped));
	}
	for (i = 0; i < FERRY_PHASE_COUNT; i++)
		json_object_set_new(phases, ferry_copy_phase_name((int)i),
				    json_real(r->phase_seconds[i]));
	for (i = 0; i < r->nwarnings; i++)
		json_array_append_new(warn, json_string(r->warnings[i]));
	for (i = 0; i < r->nrenames; i++)
		json_array_append_new(ren, json_string(r->renames[i]));
	json_object_set_new(root, "status", json_string(status == FERRY_EXIT_OK ? "ok" :
		status == FERRY_EXIT_REJECTS ? "rejects" : "failed"));
	json_object_set_new(root, "exit_code", json_integer(status));
	json_object_set_new(root, "job", json_string(r->job ? r->job : ""));
	json_object_set_new(root, "resumed", json_boolean(r->resumed));
	json_object_set_new(root, "tables", tables);
	json_object_set_new(root, "read", json_integer(r->read));
	json_object_set_new(root, "written", json_integer(r->written));
	json_object_set_new(root, "written_this_run", json_integer(r->written_run));
	json_object_set_new(root, "rejected", json_integer(r->rejected));
	json_object_set_new(root, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(root, "seconds", json_real(r->total_seconds));
	json_object_set_new(root, "phases", phases);
	json_object_set_new(root, "warnings", warn);
	json_object_set_new(root, "renames", ren);
	{
		json_t *dec = json_array();

		for (i = 0; i < r->ndecisions; i++)
			json_array_append_new(dec, json_string(r->decisions[i]));
		json_object_set_new(root, "decided", dec);
	}
	json_object_set_new(root, "rejects_file", r->rejects_path ?
			    json_string(r->rejects_path) : json_null());
	if (err && err->code)
		json_object_set_new(root, "error", json_string(err->msg));
	cli_json_print(root);
}

int cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "schema", required_argument, NULL, OPT_SCHEMA },
		{ "data-only", no_argument, NULL, OPT_DATA_ONLY },
		{ "schema-only", no_argument, NULL, OPT_SCHEMA_ONLY },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "cast", required_argument, NULL, OPT_CAST },
		{ "truncate", no_argument, NULL, OPT_TRUNCATE },
		{ "drop", no_argument, NULL, OPT_DROP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "views", no_argument, NULL, OPT_VIEWS },
		{ "rejects", required_argument, NULL, OPT_REJECTS },
		{ "job", required_argument, NULL, OPT_JOB },
		{ "batch-rows", required_argument, NULL, OPT_BATCH_ROWS },
		{ "chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS },
		{ "jobs", required_argument, NULL, 'j' },
		{ "key-order", no_argument, NULL, OPT_KEY_ORDER },
		{ "maintenance-work-mem", required_argument, NULL, OPT_MWM },
		{ "restart", no_argument, NULL, OPT_RESTART },
		{ "worker", no_argument, NULL, OPT_WORKER },
		{ "snapshot", no_argument, NULL, OPT_SNAPSHOT },
		{ "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
		{ "max-error-rate", required_argument, NULL, OPT_MAX_ERROR_RATE },
		{ "rollback-on-abort", no_argument, NULL, OPT_ROLLBACK },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "create-db", no_argument, NULL, OPT_CREATE_DB },
		{ "state", required_argument, NULL, OPT_STATE },
		CLI_COMMON_LONGOPTS,
		CLI_TS_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ferry_copy_opts o;
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct cli_strlist inc = { 0 }, exc = { 0 }, casts = { 0 };
	int c, create_db = 0, status, rc;

	ferry_copy_opts_init(&o);
	o.progress_mode = FERRY_PROGRESS_AUTO;
#ifdef M_ARENA_MAX
	/*
	 * glibc gives threads their own malloc arenas (up to 8 per core),
	 * and each keeps what its threads freed.  A copy starts a reader
	 * thread per chunk, so batches land in ever more arenas: appdb with
	 * two streams peaked at 70-97 MB from one run to the next, 64 MB in
	 * every run with one arena per core, at the same speed.  Before any
	 * thread starts.
	 */
	{
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		mallopt(M_ARENA_MAX, cores < 2 ? 2 : (int)cores);
	}
#endif
	cli_getopt_begin("copy", argc, argv);
	while ((c = cli_getopt(argc, argv, "hj:", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD: return FERRY_EXIT_USAGE;
		case OPT_SCHEMA: o.schema = optarg; break;
		case OPT_DATA_ONLY: o.data_only = 1; break;
		case OPT_SCHEMA_ONLY: o.schema_only = 1; break;
		case OPT_INCLUDE: cli_strlist_push(&inc, optarg); break;
		case OPT_EXCLUDE: cli_strlist_push(&exc, optarg); break;
		case OPT_CAST: cli_strlist_push(&casts, optarg); break;
		case OPT_TRUNCATE: o.truncate = 1; break;
		case OPT_DROP: o.drop = 1; break;
		case OPT_FORCE: o.force = 1; break;
		case OPT_VIEWS: o.views = 1; break;
		case OPT_REJECTS: o.rejects_dir = optarg; break;
		case OPT_JOB: o.job = optarg; break;
		case OPT_KEY_ORDER:
			o.key_order = 1;
			break;
		case OPT_MWM: {
			/* digits and one of PostgreSQL's memory units: it goes
			 * into a SET statement */
			const char *p = optarg;
			size_t nd = strspn(p, "0123456789");

			if (nd == 0 || (p[nd] && strcmp(p + nd, "kB") && strcmp(p + nd, "MB") &&
					strcmp(p + nd, "GB") && strcmp(p + nd, "TB")))
				return cli_usage("copy", "invalid size '%s': expected a number with "
						 "kB, MB, GB or TB (e.g. 256MB)", optarg);
			o.maintenance_work_mem = optarg;
			break;
		}
		case 'j':
		case OPT_BATCH_ROWS:
		case OPT_CHUNK_ROWS: {
			char *end;
			long long v;

			if (c == 'j' && !strcmp(optarg, "auto")) {
				o.jobs = 0;
				break;
			}
			v = strtoll(optarg, &end, 10);

			if (*end || v <= 0)
				return cli_usage("copy", "invalid number '%s'", optarg);
			if (c == 'j')
				o.jobs = v > 64 ? 64 : (int)v;
			else if (c == OPT_BATCH_ROWS)
				o.batch_rows = (size_t)v;
			else
				o.chunk_rows = v;
			break;
		}
		case OPT_CREATE_DB: create_db = 1; break;
		case OPT_STATE: o.state = optarg; break;
		case OPT_RESTART: o.restart = 1; break;
		case OPT_WORKER: break;  /* every run can share its job; kept for scripts */
		case OPT_SNAPSHOT: o.snapshot = 1; break;
		case OPT_ROLLBACK: o.rollback_on_abort = 1; break;
		case OPT_MAX_ERRORS:
		case OPT_RETRIES: {
			char *end;
			long long v = strtoll(optarg, &end, 10);

			if (*end || v < 0)
				return cli_usage("copy", "invalid number '%s'", optarg);
			if (c == OPT_MAX_ERRORS)
				o.max_errors = v;
			else
				o.retries = (int)v;
			break;
		}
		case OPT_MAX_ERROR_RATE: {
			char *end;
			double v = strtod(optarg, &end);

			if (*end || !(v >= 0 && v <= 1))
				return cli_usage("copy", "invalid rate '%s': expected 0..1", optarg);
			o.max_error_rate = v;
			break;
		}
		case OPT_PROGRESS:
			if (cli_progress_mode(optarg, &o.progress_mode) < 0)
				return cli_usage("copy", "invalid --progress '%s': use auto, bar, plain or none",
						 optarg);
			break;
		case 'h':
			fputs(copy_usage, stdout);
			fputs("\n", stdout);
			fputs(cli_ts_usage, stdout);
			return FERRY_EXIT_OK;
		default:
			if (cli_ts_option(c, optarg, &o.ts))
				break;
			return cli_usage("copy", "unknown option");
		}
	}
	if ((rc = cli_src_dst("copy", argc, argv, optind, &o.src, &o.dst)) != 0)
		return rc;
	o.include = inc.v;
	o.exclude = exc.v;
	o.casts = casts.v;
	o.progress_out = stderr;
	if (cli.quiet)
		o.progress_mode = FERRY_PROGRESS_QUIET;
	/* a point store target (InfluxDB) makes its database in the copy */
	o.create_db = create_db;
	if (ferry_conn_url_caps(o.dst) & FERRY_CAP_POINTS)
		create_db = 0;
	if (create_db && (rc = cli_create_db(o.dst, cli.quiet ? NULL : stderr, &err)) < 0) {
		status = cli_exit_code(rc);
		if (cli.json)
			cli_json_error(status, err.msg);
		cli_error(&err);
		goto out;
	}
	rc = ferry_copy_run(&o, &res, &err);
	/* FERRY_EEXIST: a table already there, or one --drop may not drop: a
	 * mistake to fix before running again (exit 2, as the README says;
	 * the cutover tells it from other failures by its code) */
	if (rc == FERRY_EEXIST)
		status = FERRY_EXIT_USAGE;
	else if (rc < 0)
		status = cli_exit_code(rc);
	else
		status = res->rejected ? FERRY_EXIT_REJECTS : FERRY_EXIT_OK;
	if (cli.json && res)
		print_json(res, &err, status);
	else if (cli.json)
		cli_json_error(status, err.msg);
	else if (res && (rc == 0 || res->read))
		print_text(res, to_stdout(o.dst) ? stderr : stdout, cli.quiet);
	if (rc < 0)
		cli_error(&err);
	/* a stop: where the rejects are, those that stopped it too (the
	 * error budget's, which rolled back with their chunk) */
	if (rc < 0 && !cli.json && res && res->rejects_path)
		fprintf(stderr, "ferry: the rejected rows so far: see %s\n", res->rejects_path);
out:
	ferry_copy_result_free(res);
	free(inc.v);
	free(exc.v);
	free(casts.v);
	return status;
}
