/*
 * cmd_migrate.c - `ferry migrate`: versioned up/down migrations with
 * locks, checksums and rollback.  Parses the subcommand and its options,
 * then calls the migrate library (include/ferry/migrate.h); all the work
 * and all the human output happen there.  With --json the progress lines
 * go to stderr and stdout carries exactly one JSON document.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/buf.h"
#include "ferry/generate.h"
#include "ferry/log.h"
#include "ferry/migrate.h"

enum {
	OPT_DB = 256, OPT_DIR, OPT_ROOT, OPT_TO, OPT_TEST_CMD, OPT_RESTART_CMD,
	OPT_LOCK_TIMEOUT, OPT_PYTHON_BIN, OPT_DRY_RUN, OPT_BACKUP, OPT_ACCEPT,
	OPT_AS_APPLIED, OPT_SQL, OPT_EXEC, OPT_PYTHON, OPT_CREATE_DB, OPT_STMT_LOCK_TIMEOUT
};

/* The options a subcommand takes, as bits of (code - OPT_DB): one its
 * help does not list is a usage error, not silently ignored.  --dir and
 * the options every command takes go everywhere. */
#define O(code) (1u << ((code) - OPT_DB))
#define O_DB (O(OPT_DB) | O(OPT_ROOT) | O(OPT_LOCK_TIMEOUT) | O(OPT_PYTHON_BIN))

/* up and down; a wait on another session's lock is said after 5 s
 * whether or not this is given */
#define STMT_LOCK_HELP \
	"  --statement-lock-timeout DURATION\n" \
	"                     a statement that waits this long for a lock another\n" \
	"                     session holds (500ms, 5s, 1m) fails its step, which\n" \
	"                     rolls the run back, or the set-up before the first\n" \
	"                     step (journal, --backup), which runs none\n" \
	"                     (default: it waits)\n"

struct sub {
	const char *name;
	const char *usage;
	const char *help;
	unsigned opts;
};

static const char common_help[] =
	"\n"
	"common options:\n"
	"  --db URL            database to migrate (default: $DATABASE_URL; none =\n"
	"                      project-only, journal in ROOT/.ferry/migrations.jsonl)\n"
	"  --dir DIR           migrations tree (default ./migrations)\n"
	"  --root DIR          project root handed to executable and Python steps (default .)\n"
	"  --lock-timeout SEC  how long to wait for another run's lock (default 60)\n"
	"  --python-bin PATH   interpreter for Python steps (default python3)\n"
	"  --json              print one JSON document on stdout, also on failure\n"
	"                      (progress goes to stderr)\n"
	"  -q, --quiet         no progress and no summary, only errors\n"
	"  -v, --verbose       more diagnostics (repeat for debug)\n"
	"  -h, --help          this help\n"
	"\n"
	"exit codes: 0 done or up to date, 1 failed, 2 usage or configuration error\n";

static const struct sub subs[] = {
	{ "status", "ferry migrate status [options]",
	  "Show every migration: applied, pending, drifted (file changed since it\n"
	  "was applied), failed or dirty, with dates, and what to do next.\n",
	  O_DB },
	{ "plan", "ferry migrate plan [--to V] [--backup] [options]",
	  "Print the exact ordered steps and SQL 'up' would run, lint warnings\n"
	  "(DROP TABLE, DROP COLUMN, TRUNCATE without a backup) and the rollback plan.\n",
	  O_DB | O(OPT_TO) | O(OPT_BACKUP) },
	{ "up", "ferry migrate up [--to V] [--dry-run] [--backup] [--create-db] [--test-cmd CMD] [--restart-cmd CMD] [--statement-lock-timeout D] [options]",
	  "Apply pending migrations in order under a lock.  On failure the failing\n"
	  "step is rolled back and every step applied in this run is reverted; a\n"
	  "step that cannot be undone (no transaction) stays half-applied and stops\n"
	  "it there.  Either way ferry prints the target's state and what to do.\n"
	  "  --to V             stop after version V (0003, v0.2.0, or a folder step)\n"
	  "  --create-db        create the PostgreSQL database first if it does not exist\n"
	  "  --dry-run          same as 'plan': change nothing\n"
	  "  --backup           back up the database and project files first\n"
	  "  --test-cmd CMD     run CMD (sh -c) after the migrations; failure rolls back\n"
	  "  --restart-cmd CMD  run CMD for each service that requires a restart ($1)\n"
	  STMT_LOCK_HELP,
	  O_DB | O(OPT_TO) | O(OPT_DRY_RUN) | O(OPT_BACKUP) | O(OPT_CREATE_DB) |
	  O(OPT_TEST_CMD) | O(OPT_RESTART_CMD) | O(OPT_STMT_LOCK_TIMEOUT) },
	{ "down", "ferry migrate down [N | --to V] [--dry-run] [--statement-lock-timeout D] [options]",
	  "Revert the last N applied migrations (default 1), or all after version V\n"
	  "(--to 0 reverts everything).\n"
	  STMT_LOCK_HELP,
	  O_DB | O(OPT_TO) | O(OPT_DRY_RUN) | O(OPT_STMT_LOCK_TIMEOUT) },
	{ "new", "ferry migrate new NAME [--sql | --exec | --python] [--dir DIR]",
	  "Create the next numbered migration: NNNN_name.sql with up/down sections\n"
	  "(default), an executable NNNN_name.sh, or a Python NNNN_name.py.\n",
	  O(OPT_SQL) | O(OPT_EXEC) | O(OPT_PYTHON) },
	{ "baseline", "ferry migrate baseline V [options]",
	  "Adopt an existing database: record every migration up to V as applied\n"
	  "without running it.\n",
	  O_DB },
	{ "repair", "ferry migrate repair [--as-applied] [options]",
	  "Resolve a failed run after fixing it by hand: a half-applied step is\n"
	  "recorded as not applied (or applied with --as-applied), a failed revert\n"
	  "as still applied, failed attempts are cleared, drifted checksums accepted.\n",
	  O_DB | O(OPT_AS_APPLIED) },
	{ "validate", "ferry migrate validate [--accept] [options]",
	  "Compare applied migrations with their files (CRLF and BOM differences do\n"
	  "not count).  --accept records the current files as intended.\n",
	  O_DB | O(OPT_ACCEPT) },
	{ NULL, NULL, NULL, 0 }
};

static void usage(FILE *out)
{
	const struct sub *s;

	fprintf(out, "usage: ferry migrate <command> [options]\n\ncommands:\n");
	for (s = subs; s->name; s++)
		fprintf(out, "  %s\n", s->usage);
	fprintf(out, "%s", common_help);
}

static int exit_code(int rc)
{
	switch (rc) {
	case 0:
		return FERRY_EXIT_OK;
	case FERRY_EUSAGE:
	case FERRY_EPARSE:
	case FERRY_ENOTFOUND:
	case FERRY_EEXIST:
		return FERRY_EXIT_USAGE;
	default:
		return FERRY_EXIT_FAILED;
	}
}

/* The library's JSON document with the exit code added (every ferry
 * document has one); the error document when the library wrote none. */
static void print_json(const struct ferry_buf *doc, int code, const struct ferry_error *err)
{
	json_t *root = doc->len ? json_loads(doc->buf, 0, NULL) : NULL;

	if (!root) {
		cli_json_error(code, err->msg[0] ? err->msg : ferry_strerror(code));
		return;
	}
	json_object_set_new(root, "exit_code", json_integer(code));
	if (code && !json_object_get(root, "error") && err->msg[0])
		json_object_set_new(root, "error", json_string(err->msg));
	cli_json_print(root);
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "to", required_argument, NULL, OPT_TO },
		{ "test-cmd", required_argument, NULL, OPT_TEST_CMD },
		{ "restart-cmd", required_argument, NULL, OPT_RESTART_CMD },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "python-bin", required_argument, NULL, OPT_PYTHON_BIN },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "backup", no_argument, NULL, OPT_BACKUP },
		{ "accept", no_argument, NULL, OPT_ACCEPT },
		{ "as-applied", no_argument, NULL, OPT_AS_APPLIED },
		{ "create-db", no_argument, NULL, OPT_CREATE_DB },
		{ "statement-lock-timeout", required_argument, NULL, OPT_STMT_LOCK_TIMEOUT },
		{ "sql", no_argument, NULL, OPT_SQL },
		{ "exec", no_argument, NULL, OPT_EXEC },
		{ "python", no_argument, NULL, OPT_PYTHON },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char cmdname[32];
	struct ferry_migrate_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf json = FERRY_BUF_INIT;
	const struct sub *sub;
	const char *positional = NULL;
	ferry_migrator *m = NULL;
	int c, accept = 0, as_applied = 0, create_db = 0, kind = FERRY_MIGRATE_SQL;
	int rc;

	memset(&o, 0, sizeof(o));
	/* `ferry migrate -q up` as well as `ferry -q migrate up` and
	 * `ferry migrate up -q`: the shared options may precede the subcommand */
	while (argc > 1 && (!strcmp(argv[1], "--quiet") || !strcmp(argv[1], "--verbose") ||
			    !strcmp(argv[1], "--json") ||
			    (argv[1][0] == '-' && argv[1][1] &&
			     strspn(argv[1] + 1, "qv") == strlen(argv[1] + 1)))) {
		const char *p;

		if (!strcmp(argv[1], "--quiet"))
			cli.quiet = 1;
		else if (!strcmp(argv[1], "--verbose"))
			ferry_log_set_level(ferry_log_get_level() + 1);
		else if (!strcmp(argv[1], "--json"))
			cli.json = 1;
		else    /* -q, -v and clusters of them (-vv) */
			for (p = argv[1] + 1; *p; p++)
				if (*p == 'v')
					ferry_log_set_level(ferry_log_get_level() + 1);
				else
					cli.quiet = 1;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? FERRY_EXIT_USAGE : FERRY_EXIT_OK;
	}
	for (sub = subs; sub->name; sub++)
		if (!strcmp(sub->name, argv[1]))
			break;
	if (!sub->name) {
		cli_getopt_begin("migrate", argc, argv);
		return cli_usage("migrate", "'%s' is not a migrate command", argv[1]);
	}
	snprintf(cmdname, sizeof(cmdname), "migrate %s", sub->name);
	o.db_url = getenv("DATABASE_URL");
	/* argv[1], the subcommand, stands where getopt expects the name */
	cli_getopt_begin(cmdname, argc - 1, argv + 1);
	while ((c = cli_getopt(argc - 1, argv + 1, "h", longopts)) != -1) {
		if (c >= OPT_DB && c <= OPT_STMT_LOCK_TIMEOUT && c != OPT_DIR && !(sub->opts & O(c))) {
			const struct option *lo = longopts;

			while (lo->val != c)
				lo++;
			return cli_usage(cmdname, "option '--%s' is not for '%s'", lo->name,
					 cmdname);
		}
		switch (c) {
		case CLI_OPT_BAD:
			return FERRY_EXIT_USAGE;
		case 'h':
			printf("usage: %s\n\n%s%s", sub->usage, sub->help, common_help);
			return FERRY_EXIT_OK;
		case OPT_DB: o.db_url = optarg; break;
		case OPT_DIR: o.dir = optarg; break;
		case OPT_ROOT: o.root = optarg; break;
		case OPT_TO: o.to = optarg; break;
		case OPT_TEST_CMD: o.test_cmd = optarg; break;
		case OPT_RESTART_CMD: o.restart_cmd = optarg; break;
		case OPT_PYTHON_BIN: o.python = optarg; break;
		case OPT_LOCK_TIMEOUT: {
			char *end;

			o.lock_timeout = strtod(optarg, &end);
			if (!*optarg || *end || o.lock_timeout <= 0)
				return cli_usage(cmdname, "--lock-timeout wants seconds > 0, not '%s'",
						 optarg);
			break;
		}
		case OPT_STMT_LOCK_TIMEOUT: {
			int64_t us;

			/* whole milliseconds, as PostgreSQL takes lock_timeout;
			 * under 1 ms would be 0, which means no timeout */
			if (ferry_gen_parse_duration(optarg, &us) < 0 || us <= 0 ||
			    us > (int64_t)2147483647 * 1000)
				return cli_usage(cmdname, "--statement-lock-timeout wants a duration "
						 "such as 500ms, 5s or 2m (at most 24 days), not '%s'",
						 optarg);
			o.statement_lock_timeout_ms = (us + 999) / 1000;
			break;
		}
		case OPT_DRY_RUN: o.dry_run = 1; break;
		case OPT_BACKUP: o.backup = 1; break;
		case OPT_ACCEPT: accept = 1; break;
		case OPT_AS_APPLIED: as_applied = 1; break;
		case OPT_CREATE_DB: create_db = 1; break;
		case OPT_SQL: kind = FERRY_MIGRATE_SQL; break;
		case OPT_EXEC: kind = FERRY_MIGRATE_EXEC; break;
		case OPT_PYTHON: kind = FERRY_MIGRATE_PYTHON; break;
		default:
			return cli_usage(cmdname, "unknown option");
		}
	}
	if (optind + 1 < argc - 1)
		return cli_usage(cmdname, "unexpected argument '%s'", argv[1 + optind + 1]);
	if (optind < argc - 1)
		positional = argv[1 + optind];
	if (!strcmp(sub->name, "new")) {
		if (!positional)
			return cli_usage(cmdname, "'migrate new' needs a NAME");
		rc = ferry_migrate_new(o.dir ? o.dir : "migrations", positional, kind,
				       &json, &err);
		if (rc == 0 && cli.json)
			printf("{\"created\": \"%.*s\", \"exit_code\": 0}\n",
			       (int)(json.len ? json.len - 1 : 0), json.buf);
		else if (rc == 0 && !cli.quiet)
			printf("created %.*s\n", (int)(json.len ? json.len - 1 : 0), json.buf);
		ferry_buf_clear(&json);
		goto out;
	}
	if (!strcmp(sub->name, "baseline") && !positional)
		return cli_usage(cmdname, "'migrate baseline' needs the version to adopt, e.g. 'baseline 0004'");
	if (!strcmp(sub->name, "down") && positional) {
		char *end;
		long n = strtol(positional, &end, 10);

		if (*end || n <= 0)
			return cli_usage(cmdname, "'migrate down' takes a count > 0, not '%s'",
					 positional);
		if (o.to)
			return cli_usage(cmdname, "'migrate down' takes N or --to V, not both");
		o.count = (int)n;
	} else if (positional && strcmp(sub->name, "baseline")) {
		return cli_usage(cmdname, "unexpected argument '%s'", positional);
	}
	/* human lines go to stdout, or beside the JSON document to stderr;
	 * -q leaves only the errors */
	o.out = cli.quiet ? NULL : cli.json ? stderr : stdout;
	/* commands that change nothing must not create a SQLite file either */
	o.read_only = !strcmp(sub->name, "status") || !strcmp(sub->name, "plan") ||
		      (!strcmp(sub->name, "validate") && !accept) || o.dry_run;
	if (create_db && (strcmp(sub->name, "up") || o.dry_run))
		return cli_usage(cmdname, "--create-db is for 'migrate up' (without --dry-run)");
	if (create_db && o.db_url && *o.db_url &&
	    (rc = cli_create_db(o.db_url, o.out, &err)) < 0)
		goto out;
	if ((rc = ferry_migrator_open(&o, &m, &err)) < 0)
		goto out;
	if (!strcmp(sub->name, "status"))
		rc = ferry_migrate_status(m, &json, &err);
	else if (!strcmp(sub->name, "plan"))
		rc = ferry_migrate_plan(m, &json, &err);
	else if (!strcmp(sub->name, "up"))
		rc = ferry_migrate_up(m, &json, &err);
	else if (!strcmp(sub->name, "down"))
		rc = ferry_migrate_down(m, &json, &err);
	else if (!strcmp(sub->name, "baseline"))
		rc = ferry_migrate_baseline(m, positional, &json, &err);
	else if (!strcmp(sub->name, "repair"))
		rc = ferry_migrate_repair(m, as_applied, &json, &err);
	else
		rc = ferry_migrate_validate(m, accept, &json, &err);
out:
	if (rc < 0)
		cli_error(&err);
	if (cli.json && (rc < 0 || json.len))
		print_json(&json, exit_code(rc), &err);
	ferry_migrator_free(m);
	ferry_buf_release(&json);
	return exit_code(rc);
}
