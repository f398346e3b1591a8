/*
 * cmd_cutover.c - `ferry cutover`: the gated migration from the old store
 * to the new one (prepare, advance, rollback, abort, status), and
 * set-phase, the relays' phase by hand.  The plan and the phase live in
 * the new PostgreSQL database (see ferry/relay.h); this file parses the
 * options and prints what the library's JSON document says.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/alloc.h"
#include "ferry/generate.h"
#include "ferry/progress.h"
#include "ferry/relay.h"
#include "ferry/tsmap.h"

static const char cutover_usage[] =
	"usage: ferry cutover prepare --db URL --old URL [--new URL]\n"
	"                     [--layout L | --map FILE]\n"
	"                     [--chunk-time T] [--strategy S] [--soak DURATION]\n"
	"                     [--switch-cmd CMD] [--final-export FILE] [--by NAME]\n"
	"                     [--query NAME=SQL]... [--queries FILE]\n"
	"                     [--rollback-threshold PCT] [--rollback-window DURATION]\n"
	"                     [--rollback-min-writes N] [--sample-every N]\n"
	"                     [--wave [NAME:]SEL[,SEL...]]... [--waves SPEC] [--truncate]\n"
	"       ferry cutover advance --db URL [--wait [--timeout DURATION]] [--max-errors N]\n"
	"                             [--chunk-time T] [--progress MODE] [--by NAME]\n"
	"       ferry cutover rollback --db URL [--to STEP] [--by NAME]\n"
	"       ferry cutover abort --db URL [--by NAME]\n"
	"       ferry cutover status --db URL [--json]\n"
	"       ferry cutover set-phase PHASE --db URL [--by NAME]\n"
	"       ferry cutover forget-relay RELAY_ID --db URL [--by NAME]\n"
	"\n"
	"Move a live migration from the old store to the new one, step by step,\n"
	"each step let out by gates.  The plan lives in the new database (--db),\n"
	"so any machine can see and move it; every `ferry relay` writing to that\n"
	"database follows the phase of the step within a second:\n"
	"  prepare     old-only     plan recorded, target schema made; gates: schema,\n"
	"                           relays-ready, spool-writable\n"
	"  dual-write  dual         the relays write both stores; gate: relays-dual\n"
	"                           (T0: when the last relay began dual-writing)\n"
	"  backfill    dual         gate: backfill (ferry copy OLD NEW of everything\n"
	"                           before T0, job cutover-backfill; resumable)\n"
	"  validate    dual         gates: spool-drained (lag < 5 s), error-rate-old,\n"
	"                           error-rate-new (< 1% in 5 min), verify (equal\n"
	"                           before T0), query-latency (p95 < 100 ms on the\n"
	"                           new store, the old store's beside it),\n"
	"                           live-consistency (points the relays sampled in\n"
	"                           dual read back from both stores: under 0.1%\n"
	"                           differ)\n"
	"  switchover  new-primary  --switch-cmd runs; gates: relays-new-primary,\n"
	"                           error-rate-new, spool-drained, soak; automatic\n"
	"                           rollback: when the new store's failed writes pass\n"
	"                           --rollback-threshold, a relay moves the cutover\n"
	"                           back to validate (dual) and logs why\n"
	"  cleanup     new-only     the old store is left untouched (--final-export)\n"
	"\n"
	"commands:\n"
	"  prepare     record the plan and check the prepare gates\n"
	"  advance     check the current step's gates; move to the next step when\n"
	"              all pass (exit 3 with the failing gates otherwise)\n"
	"  rollback    one step back (or --to STEP); not after cleanup\n"
	"  abort       back to old-only, the plan marked aborted\n"
	"  status      the step, each gate with its figure, the relays, T0, the log\n"
	"  forget-relay  let go of a relay that will not run again (the gates wait\n"
	"              for a silent one until it runs again, and for the records a\n"
	"              stopped one left in its spool): marked stopped, its records\n"
	"              given up\n"
	"  set-phase   move the relays' phase by hand (old-only, dual, new-primary,\n"
	"              new-only), outside any plan\n"
	"\n"
	"options:\n"
	"  --db URL             the new PostgreSQL database (default: $DATABASE_URL)\n"
	"  --old URL            prepare: the old store (influx://...)\n"
	"  --new URL            prepare: the new store, when it is not --db: an\n"
	"                       InfluxDB database (influx://HOST:PORT/DB, made when\n"
	"                       missing) the backfill copies into (through --map's\n"
	"                       points: rules) and the verify reads; the plan stays\n"
	"                       in --db (what the relays follow)\n"
	"  --layout L, --map FILE, --table NAME, --series-tag TAG, --keep-ns\n"
	"                       prepare: the PostgreSQL rows, as for ferry copy and\n"
	"                       ferry relay (default: narrow)\n"
	"  --chunk-time T       prepare: InfluxDB time per chunk of the backfill and\n"
	"                       the verify (6h, 1d), as for ferry copy; advance:\n"
	"                       change it (when the backfill's plan refuses it)\n"
	"  --truncate           prepare: empty the narrow table when it holds rows\n"
	"                       (an aborted cutover's: the backfill would write them\n"
	"                       twice, so prepare refuses it otherwise)\n"
	"  --strategy S         prepare: dual-write (default, the steps above);\n"
	"                       blue-green: no dual-write step, the relays stay\n"
	"                       old-only until switchover (new-primary), where a\n"
	"                       catch-up copies T0 to the switch; immediate: the\n"
	"                       same, but the switch goes to new-only, no soak, no\n"
	"                       way back; gradual: as dual-write up to validate,\n"
	"                       then switchover moves the waves (--wave) to\n"
	"                       new-primary one per advance, each with its gates\n"
	"                       (relays-waves, wave-error-rate, spool-drained,\n"
	"                       soak, wave-verify of the next wave); rollback\n"
	"                       takes the last wave switched back to dual\n"
	"  --soak DURATION      prepare: switchover -> cleanup waits this long (30m,\n"
	"                       1h, 2d; default 1h)\n"
	"  --switch-cmd CMD     prepare: run with sh -c after the switchover (e.g. to\n"
	"                       restart readers on the new store)\n"
	"  --final-export FILE  prepare: at cleanup, export the old store to lp://FILE\n"
	"  --query NAME=SQL     prepare: a query the query-latency gate times on the\n"
	"                       new store (repeat it); the narrow layout has three of\n"
	"                       its own (latest-per-device, device-last-24h,\n"
	"                       hourly-avg-week)\n"
	"  --queries FILE       prepare: YAML, NAME: {sql: ..., influxql: ...}; the\n"
	"                       influxql one is timed on the old store beside it\n"
	"  --rollback-threshold PCT\n"
	"                       prepare: in switchover, the relays roll back to\n"
	"                       validate (dual) when this share of their writes to\n"
	"                       the new store fails (5%, 0.05; default 5%)\n"
	"  --rollback-window DURATION\n"
	"                       prepare: ... over this window (default 60s, at most 1h)\n"
	"  --rollback-min-writes N\n"
	"                       prepare: ... once a relay wrote at least N times in it\n"
	"                       (default 20)\n"
	"  --sample-every N     prepare: in dual each relay keeps 1 in N writes (at\n"
	"                       most 60 a minute) for the live-consistency gate\n"
	"                       (default 100)\n"
	"  --wave [NAME:]SEL[,SEL...]\n"
	"                       prepare, gradual: one wave, in order (repeat it); SEL\n"
	"                       is a measurement glob (W, kW*) or TAG=GLOB\n"
	"                       (entity_id=sensor.kitchen_*); a point is in the\n"
	"                       first wave it matches, the points of none in the\n"
	"                       last wave, 'rest'\n"
	"  --waves SPEC         prepare, gradual: the waves in one argument,\n"
	"                       separated by ';' ('power: W,kWh; climate: °C')\n"
	"  --wait               advance: re-check the gates every 2 s until they pass\n"
	"  --timeout DURATION   advance --wait: give up after this long\n"
	"  --progress MODE      advance: backfill and verify progress: auto, bar,\n"
	"                       plain, none\n"
	"  --max-errors N       advance: the backfill and catch-up gates pass with up\n"
	"                       to N rejected rows (rows the new store cannot hold,\n"
	"                       listed in the rejects file the gate names; default 0)\n"
	"  --to STEP            rollback: to this step (default: one back)\n"
	"  --by NAME            who did it, kept in ferry.cutover_log (default: $USER)\n"
	"  --json               one JSON document on stdout\n"
	"  -q, --quiet          print nothing on success\n"
	"  -v, --verbose        more diagnostics (repeat for debug)\n"
	"  -h, --help           this help\n"
	"\n"
	"exit codes: 0 ok, 1 failed (database unreachable, no plan, another\n"
	"ferry cutover is moving it, the switch command failed), 2 usage error,\n"
	"3 advance refused: a gate does not pass\n";

enum {
	OPT_DB = 256, OPT_BY, OPT_OLD, OPT_NEW, OPT_STRATEGY, OPT_SOAK, OPT_SWITCH_CMD,
	OPT_FINAL_EXPORT, OPT_WAIT, OPT_TIMEOUT, OPT_PROGRESS, OPT_TO, OPT_QUERY, OPT_QUERIES,
	OPT_RB_THRESHOLD, OPT_RB_WINDOW, OPT_RB_MIN, OPT_SAMPLE_EVERY, OPT_WAVE, OPT_WAVES,
	OPT_MAX_ERRORS, OPT_TRUNCATE
};

enum { SUB_SET, SUB_STATUS, SUB_PREPARE, SUB_ADVANCE, SUB_ROLLBACK, SUB_ABORT, SUB_FORGET,
       SUB_N };
static const char *const subs[SUB_N] = {
	"set-phase", "status", "prepare", "advance", "rollback", "abort", "forget-relay"
};

/* Which command takes which option (the rest is a usage error). */
static int takes(int sub, int opt)
{
	switch (opt) {
	case OPT_DB: return 1;
	case OPT_BY: return sub != SUB_STATUS;
	case OPT_OLD: case OPT_NEW: case OPT_STRATEGY: case OPT_SOAK: case OPT_SWITCH_CMD:
	case OPT_FINAL_EXPORT: case OPT_QUERY: case OPT_QUERIES: case OPT_RB_THRESHOLD:
	case OPT_RB_WINDOW: case OPT_RB_MIN: case OPT_SAMPLE_EVERY: case OPT_WAVE: case OPT_WAVES:
	case CLI_TS_LAYOUT:
	case CLI_TS_MAP: case CLI_TS_TABLE:
	case CLI_TS_SERIES_TAG: case CLI_TS_KEEP_NS: case OPT_TRUNCATE:
		return sub == SUB_PREPARE;
	case CLI_TS_CHUNK_TIME:
		return sub == SUB_PREPARE || sub == SUB_ADVANCE;
	case OPT_WAIT: case OPT_TIMEOUT: case OPT_PROGRESS: case OPT_MAX_ERRORS:
		return sub == SUB_ADVANCE;
	case OPT_TO: return sub == SUB_ROLLBACK;
	default: return 0;
	}
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void print_gates(json_t *gates)
{
	size_t i;
	json_t *g;

	json_array_foreach(gates, i, g)
		printf("  %-7s %-20s %s\n", str(g, "state"), str(g, "name"), str(g, "figure"));
}

/* status in text: the plan, its gates, the relays, the last of the log */
static void print_plan(json_t *d)
{
	json_t *relays = json_object_get(d, "relays"), *log = json_object_get(d, "log"), *v;
	size_t i, n = json_array_size(log);

	printf("cutover:     %s, strategy %s\n", str(d, "status"), str(d, "strategy"));
	printf("step:        %s since %s (relays: %s)\n", str(d, "step"), str(d, "step_since"),
	       str(d, "phase"));
	printf("old:         %s\n", str(d, "old"));
	printf("new:         %s\n", str(d, "new"));
	printf("T0:          %s\n", *str(d, "t0") ? str(d, "t0") : "not yet (dual-write)");
	if (*str(d, "schema_note"))
		printf("schema:      %s\n", str(d, "schema_note"));
	if (json_is_number(json_object_get(d, "rollback_threshold")))
		printf("rollback:    automatic at %g%% failed writes to the new store over %g s "
		       "(at least %lld writes)\n",
		       json_number_value(json_object_get(d, "rollback_threshold")) * 100,
		       json_number_value(json_object_get(d, "rollback_window_seconds")),
		       (long long)json_integer_value(json_object_get(d, "rollback_min_writes")));
	if (json_is_number(json_object_get(d, "sample_every")))
		printf("samples:     1 in %lld writes in dual (live-consistency)\n",
		       (long long)json_integer_value(json_object_get(d, "sample_every")));
	if (json_is_object(json_object_get(d, "auto_rollback"))) {
		json_t *a = json_object_get(d, "auto_rollback");

		printf("rolled back: automatically at %s by relay %s: %s\n", str(a, "at"),
		       str(a, "by"), str(a, "why"));
	}
	if (json_array_size(json_object_get(d, "waves"))) {
		printf("waves:\n");
		json_array_foreach(json_object_get(d, "waves"), i, v) {
			json_t *m = json_object_get(v, "match"), *x;
			size_t k;

			printf("  %lld %-12s %-11s", (long long)json_integer_value(
			       json_object_get(v, "wave")), str(v, "name"), str(v, "phase"));
			if (*str(v, "since"))
				printf(" since %s", str(v, "since"));
			printf("  ");
			json_array_foreach(m, k, x)
				printf("%s%s", k ? ", " : "", json_string_value(x));
			printf("%s\n", json_array_size(m) ? "" : "(every point of no other wave)");
		}
	}
	if (json_array_size(json_object_get(d, "gates"))) {
		printf("gates of %s:\n", str(d, "step"));
		print_gates(json_object_get(d, "gates"));
	}
	printf("relays (last hour):\n");
	json_array_foreach(relays, i, v) {
		/* a number in the JSON (it was read as a string: "? s ago") */
		json_t *seen = json_object_get(v, "seen_seconds_ago");
		char ago[32] = "?";

		if (json_is_number(seen))
			snprintf(ago, sizeof(ago), "%.0f", json_number_value(seen));
		printf("  %s  %s%s%s%s%s, %s s ago, ready %s, spool %s, lag %.1f s\n",
		       str(v, "relay_id"), str(v, "phase"), *str(v, "waves") ? " (waves " : "",
		       str(v, "waves"), *str(v, "waves") ? ")" : "",
		       json_is_true(json_object_get(v, "live")) ? "" :
		       json_is_string(json_object_get(v, "stopped_at")) ? " (stopped)" :
		       " (not live)", ago,
		       json_is_true(json_object_get(v, "ready")) ? "yes" : "no",
		       json_is_true(json_object_get(v, "spool_ok")) ? "ok" : "not writable",
		       json_number_value(json_object_get(v, "replay_lag_seconds")));
	}
	if (!json_array_size(relays))
		printf("  none\n");
	printf("log:\n");
	for (i = n > 10 ? n - 10 : 0; i < n; i++) {
		v = json_array_get(log, i);
		printf("  %s  %-16s %-11s %s by %s%s%s\n", str(v, "at"),
		       *str(v, "action") ? str(v, "action") : "set-phase",
		       *str(v, "step") ? str(v, "step") : "-", str(v, "phase"), str(v, "by"),
		       *str(v, "note") ? ": " : "", str(v, "note"));
	}
}

static int run_status(const char *db, const char *cmdname)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_cutover_status st;
	char *doc = NULL;
	json_t *d = NULL;
	int rc;

	if ((rc = ferry_cutover_status(db, &st, &err)) < 0 ||
	    (rc = ferry_cutover_report(db, &doc, &err)) < 0) {
		cli_error(&err);
		cli_json_error(cli_exit_code(rc), err.msg);
		return cli_exit_code(rc);
	}
	d = doc ? json_loads(doc, 0, NULL) : NULL;
	ferry_free(doc);
	if (cli.json) {
		json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I, s:f, s:i}",
				      "command", cmdname, "phase", ferry_phase_name(st.phase),
				      "changed_at", st.changed_at[0] ? st.changed_at : NULL,
				      "changed_by", st.changed_by, "relays", (json_int_t)st.relays,
				      "spool_records", (json_int_t)st.spool_records,
				      "replay_lag_seconds", st.replay_lag_s,
				      "exit_code", FERRY_EXIT_OK);

		if (o && d)
			json_object_set(o, "cutover", d);
		cli_json_print(o);
	} else if (!cli.quiet) {
		printf("phase:       %s\n", ferry_phase_name(st.phase));
		if (st.changed_at[0])
			printf("changed:     %s by %s\n", st.changed_at,
			       st.changed_by[0] ? st.changed_by : "unknown");
		else
			printf("changed:     never (the first relay set it)\n");
		printf("relays:      %lld reported in the last minute\n", (long long)st.relays);
		printf("spool:       %lld records not yet replayed\n", (long long)st.spool_records);
		printf("replay lag:  %.1f s\n", st.replay_lag_s);
		if (d)
			print_plan(d);
		else
			printf("cutover:     none planned (ferry cutover prepare)\n");
	}
	json_decref(d);
	return FERRY_EXIT_OK;
}

static int duration(const char *cmd, const char *opt, const char *s, double *out)
{
	int64_t us;

	if (ferry_gen_parse_duration(s, &us) < 0 || us < 0)
		return cli_usage(cmd, "%s '%s' is not a duration: use e.g. 30s, 90m, 1h, 2d",
				 opt, s);
	*out = (double)us / 1e6;
	return 0;
}

/* "5%" or "0.05": a share in (0, 1]. */
static int share(const char *cmd, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end != s && *end == '%' && !end[1])
		v /= 100;
	else if (end == s || *end)
		v = -1;
	if (!(v > 0 && v <= 1))
		return cli_usage(cmd, "--rollback-threshold '%s' is not a share: give a "
				 "percentage above 0 and up to 100 (5%%) or a fraction (0.05)", s);
	*out = v;
	return 0;
}

/* A repeated option's argument appended to *v (argc bounds how many
 * there can be: the array is made that long at the first). */
static int push_arg(const char ***v, size_t *n, int argc, const char *arg)
{
	if (!*v && !(*v = ferry_calloc((size_t)argc, sizeof(**v)))) {
		fprintf(stderr, "ferry: out of memory\n");
		return -1;
	}
	(*v)[(*n)++] = arg;
	return 0;
}

int cmd_cutover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "by", required_argument, NULL, OPT_BY },
		{ "old", required_argument, NULL, OPT_OLD },
		{ "new", required_argument, NULL, OPT_NEW },
		{ "strategy", required_argument, NULL, OPT_STRATEGY },
		{ "soak", required_argument, NULL, OPT_SOAK },
		{ "switch-cmd", required_argument, NULL, OPT_SWITCH_CMD },
		{ "final-export", required_argument, NULL, OPT_FINAL_EXPORT },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "to", required_argument, NULL, OPT_TO },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "queries", required_argument, NULL, OPT_QUERIES },
		{ "rollback-threshold", required_argument, NULL, OPT_RB_THRESHOLD },
		{ "rollback-window", required_argument, NULL, OPT_RB_WINDOW },
		{ "rollback-min-writes", required_argument, NULL, OPT_RB_MIN },
		{ "sample-every", required_argument, NULL, OPT_SAMPLE_EVERY },
		{ "wave", required_argument, NULL, OPT_WAVE },
		{ "waves", required_argument, NULL, OPT_WAVES },
		{ "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
		{ "truncate", no_argument, NULL, OPT_TRUNCATE },
		/* the rows' options of ferry copy, not its time window: the
		 * backfill's window is the plan's (before T0) */
		{ "layout", required_argument, NULL, CLI_TS_LAYOUT },
		{ "map", required_argument, NULL, CLI_TS_MAP },
		{ "table", required_argument, NULL, CLI_TS_TABLE },
		{ "series-tag", required_argument, NULL, CLI_TS_SERIES_TAG },
		{ "keep-ns", no_argument, NULL, CLI_TS_KEEP_NS },
		{ "chunk-time", required_argument, NULL, CLI_TS_CHUNK_TIME },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char cmdname[32];
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_cutover_opts o;
	const char *db = getenv("DATABASE_URL"), *by = getenv("USER"), *sub;
	char *doc = NULL;
	static const char **queries;   /* --query, kept to the exit */
	static const char **waves;     /* --wave, the same */
	const char *relay_id = NULL;
	int c, rc, s, phase = 0, step;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cutover_usage, argc < 2 ? stderr : stdout);
		if (argc < 2) {
			cli_getopt_begin("cutover", argc, argv);
			cli_json_error(FERRY_EXIT_USAGE, "no cutover command: use prepare, advance, "
				       "rollback, abort, status, set-phase or forget-relay");
		}
		return argc < 2 ? FERRY_EXIT_USAGE : FERRY_EXIT_OK;
	}
	sub = argv[1];
	for (s = 0; s < SUB_N && strcmp(sub, subs[s]); s++)
		;
	if (s == SUB_N) {
		cli_getopt_begin("cutover", argc, argv);
		return cli_usage("cutover", "'%s' is not a cutover command: use prepare, advance, "
				 "rollback, abort, status, set-phase or forget-relay", sub);
	}
	ferry_cutover_opts_init(&o);
	snprintf(cmdname, sizeof(cmdname), "cutover %s", sub);
	/* argv[1], the subcommand, stands where getopt expects the name */
	cli_getopt_begin(cmdname, argc - 1, argv + 1);
	while ((c = cli_getopt(argc - 1, argv + 1, "h", longopts)) != -1) {
		if (c == CLI_OPT_BAD)
			return FERRY_EXIT_USAGE;
		if (c == 'h') {
			fputs(cutover_usage, stdout);
			return FERRY_EXIT_OK;
		}
		if (!takes(s, c)) {
			const struct option *lo;

			for (lo = longopts; lo->name && lo->val != c; lo++)
				;
			return cli_usage(cmdname, "option '--%s' is not for '%s'",
					 lo->name ? lo->name : "?", cmdname);
		}
		switch (c) {
		case OPT_DB: db = optarg; break;
		case OPT_BY: by = optarg; break;
		case OPT_OLD: o.old_url = optarg; break;
		case OPT_NEW: o.new_url = optarg; break;
		case OPT_STRATEGY:
			if (ferry_cutover_strategy_check(optarg) < 0)
				return cli_usage(cmdname, "unknown strategy '%s': use dual-write, "
						 "immediate, gradual or blue-green", optarg);
			o.strategy = optarg;
			break;
		case OPT_SOAK:
			if (duration(cmdname, "--soak", optarg, &o.soak_s))
				return FERRY_EXIT_USAGE;
			break;
		case OPT_SWITCH_CMD: o.switch_cmd = optarg; break;
		case OPT_RB_THRESHOLD:
			if (share(cmdname, optarg, &o.rollback_threshold))
				return FERRY_EXIT_USAGE;
			break;
		case OPT_RB_WINDOW:
			if (duration(cmdname, "--rollback-window", optarg, &o.rollback_window_s))
				return FERRY_EXIT_USAGE;
			if (o.rollback_window_s < 1 || o.rollback_window_s > 3600)
				return cli_usage(cmdname, "--rollback-window '%s' is out of range: "
						 "give 1s to 1h", optarg);
			break;
		case OPT_RB_MIN: case OPT_SAMPLE_EVERY: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end || n < 1 || n > 1000000)
				return cli_usage(cmdname, "--%s '%s' is not a count from 1 to "
						 "1000000", c == OPT_RB_MIN ? "rollback-min-writes" :
						 "sample-every", optarg);
			if (c == OPT_RB_MIN)
				o.rollback_min_writes = (int)n;
			else
				o.sample_every = (int)n;
			break;
		}
		case OPT_FINAL_EXPORT: o.final_export = optarg; break;
		case OPT_QUERY:
			if (!strchr(optarg, '=') || *optarg == '=')
				return cli_usage(cmdname, "--query '%s': give NAME=SQL", optarg);
			if (push_arg(&queries, &o.nqueries, argc, optarg) < 0)
				return FERRY_EXIT_FAILED;
			o.queries = queries;
			break;
		case OPT_QUERIES: o.queries_file = optarg; break;
		case OPT_WAVE:
			if (push_arg(&waves, &o.nwaves, argc, optarg) < 0)
				return FERRY_EXIT_FAILED;
			o.waves = waves;
			break;
		case OPT_WAVES: o.waves_spec = optarg; break;
		case OPT_WAIT: o.wait = 1; break;
		case OPT_TRUNCATE: o.truncate = 1; break;
		case OPT_MAX_ERRORS: {
			char *end;
			long long n = strtoll(optarg, &end, 10);

			if (end == optarg || *end || n < 0)
				return cli_usage(cmdname, "--max-errors '%s' is not a count of 0 or "
						 "more", optarg);
			o.max_errors = n;
			break;
		}
		case OPT_TIMEOUT:
			if (duration(cmdname, "--timeout", optarg, &o.timeout_s))
				return FERRY_EXIT_USAGE;
			break;
		case OPT_PROGRESS:
			if (cli_progress_mode(optarg, &o.progress_mode) < 0)
				return cli_usage(cmdname, "unknown progress mode '%s': use auto, bar, "
						 "plain or none", optarg);
			break;
		case OPT_TO:
			if (ferry_cutover_step_parse(optarg, &step) < 0)
				return cli_usage(cmdname, "unknown step '%s': use prepare, dual-write, "
						 "backfill, validate or switchover", optarg);
			o.to_step = step;
			break;
		default:
			if (cli_ts_option(c, optarg, &o.ts))
				break;
			return cli_usage(cmdname, "unknown option");
		}
	}
	argc--;
	argv++;
	if (s == SUB_SET) {
		if (optind >= argc)
			return cli_usage(cmdname, "no phase: give old-only, dual, new-primary or "
					 "new-only");
		if (ferry_phase_parse(argv[optind], &phase) < 0)
			return cli_usage(cmdname, "unknown phase '%s': use old-only, dual, "
					 "new-primary or new-only", argv[optind]);
		optind++;
	}
	if (s == SUB_FORGET) {
		if (optind >= argc)
			return cli_usage(cmdname, "no relay: give its id (ferry cutover status "
					 "lists them)");
		relay_id = argv[optind++];
	}
	if (optind < argc)
		return cli_usage(cmdname, "unexpected argument '%s'", argv[optind]);
	if (!db || !*db)
		return cli_usage(cmdname, "no database: give --db URL (the new PostgreSQL "
				 "database) or set DATABASE_URL");
	if (o.ts.layout && o.ts.map)
		return cli_usage(cmdname, "--layout and --map exclude each other");
	if (o.timeout_s > 0 && !o.wait)
		return cli_usage(cmdname, "--timeout is for --wait");
	if (s == SUB_PREPARE && !o.old_url)
		return cli_usage(cmdname, "no old store: give --old URL (the store the clients "
				 "write to today)");
	if (s == SUB_STATUS)
		return run_status(db, cmdname);
	if (s == SUB_SET) {
		rc = ferry_cutover_set_phase(db, phase, by && *by ? by : "unknown", &err);
		if (rc < 0)
			goto fail;
		if (cli.json)
			cli_json_print(json_pack("{s:s, s:s, s:i}", "command", cmdname, "phase",
						 ferry_phase_name(phase), "exit_code",
						 FERRY_EXIT_OK));
		else if (!cli.quiet)
			printf("phase is now %s\n", ferry_phase_name(phase));
		return FERRY_EXIT_OK;
	}
	if (s == SUB_FORGET) {
		int64_t records;

		rc = ferry_cutover_forget_relay(db, relay_id, by && *by ? by : "unknown", &records,
						&err);
		if (rc < 0)
			goto fail;
		if (cli.json)
			cli_json_print(json_pack("{s:s, s:s, s:I, s:i}", "command", cmdname,
						 "relay_id", relay_id, "records_given_up",
						 (json_int_t)records, "exit_code", FERRY_EXIT_OK));
		else if (!cli.quiet)
			printf("relay %s let go: the gates no longer wait for it; %" PRId64
			       " spool records given up\n", relay_id, records);
		return FERRY_EXIT_OK;
	}
	o.db = db;
	o.by = by && *by ? by : "unknown";
	o.out = cli.json || cli.quiet ? NULL : stdout;
	if (cli.quiet || cli.json)
		o.progress_mode = o.progress_mode ? o.progress_mode : FERRY_PROGRESS_QUIET;
	switch (s) {
	case SUB_PREPARE: rc = ferry_cutover_prepare(&o, &doc, &err); break;
	case SUB_ADVANCE: rc = ferry_cutover_advance(&o, &doc, &err); break;
	case SUB_ROLLBACK: rc = ferry_cutover_rollback(&o, &doc, &err); break;
	default: rc = ferry_cutover_abort(&o, &doc, &err); break;
	}
	if (rc < 0)
		goto fail;
	{
		int code = rc == FERRY_CUTOVER_REFUSED ? FERRY_EXIT_REJECTS : FERRY_EXIT_OK;
		json_t *d = doc ? json_loads(doc, 0, NULL) : NULL;

		ferry_free(doc);
		if (cli.json) {
			json_t *out = json_pack("{s:s, s:i}", "command", cmdname, "exit_code", code);

			if (out && d)
				json_object_update(out, d);
			cli_json_print(out);
		} else if (rc == FERRY_CUTOVER_REFUSED) {
			fprintf(stderr, "ferry: advance refused: the cutover stays at %s until every "
				"gate passes\n", str(d, "step"));
		} else if (!cli.quiet) {
			if (*str(d, "note"))
				printf("%s\n", str(d, "note"));
			if (s == SUB_PREPARE) {
				printf("planned: %s -> %s, strategy %s; the relays are in %s\n",
				       str(d, "old"), str(d, "new"), str(d, "strategy"),
				       str(d, "phase"));
			}
		}
		json_decref(d);
		return code;
	}
fail:
	ferry_free(doc);
	cli_error(&err);
	cli_json_error(cli_exit_code(rc), err.msg);
	return cli_exit_code(rc);
}
