/*
 * cmd_migrate.c - `ferry migrate`: versioned up/down migrations with
 * locks, checksums and rollback.  Parses the subcommand and its options,
 * then calls the migrate library (include/ferry/migrate.h); all the work
 * and all the human output happen there.  With --json the progress lines
 * go to stderr and stdout carries exactly one JSON document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ferry/buf.h"
#include "ferry/migrate.h"

struct sub {
	const char *name;
	const char *usage;
	const char *help;
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
	"  --json              print one JSON document on stdout (progress goes to stderr)\n"
	"  -h, --help          this help\n"
	"\n"
	"exit codes: 0 done or up to date, 1 failed, 2 usage or configuration error\n";

static const struct sub subs[] = {
	{ "status", "ferry migrate status [options]",
	  "Show every migration: applied, pending, drifted (file changed since it\n"
	  "was applied), failed or dirty, with dates, and what to do next.\n" },
	{ "plan", "ferry migrate plan [--to V] [--backup] [options]",
	  "Print the exact ordered steps and SQL 'up' would run, lint warnings\n"
	  "(DROP TABLE, DROP COLUMN, TRUNCATE without a backup) and the rollback plan.\n" },
	{ "up", "ferry migrate up [--to V] [--dry-run] [--backup] [--create-db] [--test-cmd CMD] [--restart-cmd CMD] [options]",
	  "Apply pending migrations in order under a lock.  On failure the failing\n"
	  "step is rolled back and every step applied in this run is reverted; a\n"
	  "step that cannot be undone (no transaction) stays half-applied and stops\n"
	  "it there.  Either way ferry prints the target's state and what to do.\n"
	  "  --to V             stop after version V (0003, v0.2.0, or a folder step)\n"
	  "  --create-db        create the PostgreSQL database first if it does not exist\n"
	  "  --dry-run          same as 'plan': change nothing\n"
	  "  --backup           back up the database and project files first\n"
	  "  --test-cmd CMD     run CMD (sh -c) after the migrations; failure rolls back\n"
	  "  --restart-cmd CMD  run CMD for each service that requires a restart ($1)\n" },
	{ "down", "ferry migrate down [N | --to V] [--dry-run] [options]",
	  "Revert the last N applied migrations (default 1), or all after version V\n"
	  "(--to 0 reverts everything).\n" },
	{ "new", "ferry migrate new NAME [--sql | --exec | --python] [--dir DIR]",
	  "Create the next numbered migration: NNNN_name.sql with up/down sections\n"
	  "(default), an executable NNNN_name.sh, or a Python NNNN_name.py.\n" },
	{ "baseline", "ferry migrate baseline V [options]",
	  "Adopt an existing database: record every migration up to V as applied\n"
	  "without running it.\n" },
	{ "repair", "ferry migrate repair [--as-applied] [options]",
	  "Resolve a failed run after fixing it by hand: a half-applied step is\n"
	  "recorded as not applied (or applied with --as-applied), a failed revert\n"
	  "as still applied, failed attempts are cleared, drifted checksums accepted.\n" },
	{ "validate", "ferry migrate validate [--accept] [options]",
	  "Compare applied migrations with their files (CRLF and BOM differences do\n"
	  "not count).  --accept records the current files as intended.\n" },
	{ NULL, NULL, NULL }
};

static void usage(FILE *out)
{
	const struct sub *s;

	fprintf(out, "usage: ferry migrate <command> [options]\n\ncommands:\n");
	for (s = subs; s->name; s++)
		fprintf(out, "  %s\n", s->usage);
	fprintf(out, "%s", common_help);
}

static int is_opt(const char *arg, const char *name, int argc, char **argv,
		  int *i, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n))
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	if (arg[n])
		return 0;
	if (*i + 1 >= argc) {
		*val = NULL;
		return 1;
	}
	*val = argv[++*i];
	return 1;
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

int cmd_migrate(int argc, char **argv)
{
	struct ferry_migrate_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf json = FERRY_BUF_INIT;
	const struct sub *sub;
	const char *positional = NULL, *val;
	ferry_migrator *m = NULL;
	int i, as_json = 0, accept = 0, as_applied = 0, kind = FERRY_MIGRATE_SQL;
	int create_db = 0;
	int rc;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? FERRY_EXIT_USAGE : FERRY_EXIT_OK;
	}
	for (sub = subs; sub->name; sub++)
		if (!strcmp(sub->name, argv[1]))
			break;
	if (!sub->name)
		return cli_usage("migrate", "'%s' is not a migrate command", argv[1]);
	o.db_url = getenv("DATABASE_URL");
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: %s\n\n%s%s", sub->usage, sub->help, common_help);
			return FERRY_EXIT_OK;
		} else if (!strcmp(a, "--json")) {
			as_json = 1;
		} else if (!strcmp(a, "--dry-run")) {
			o.dry_run = 1;
		} else if (!strcmp(a, "--backup")) {
			o.backup = 1;
		} else if (!strcmp(a, "--accept")) {
			accept = 1;
		} else if (!strcmp(a, "--create-db")) {
			create_db = 1;
		} else if (!strcmp(a, "--as-applied")) {
			as_applied = 1;
		} else if (!strcmp(a, "--sql")) {
			kind = FERRY_MIGRATE_SQL;
		} else if (!strcmp(a, "--exec")) {
			kind = FERRY_MIGRATE_EXEC;
		} else if (!strcmp(a, "--python")) {
			kind = FERRY_MIGRATE_PYTHON;
		} else if (is_opt(a, "--db", argc, argv, &i, &val) ||
			   is_opt(a, "--dir", argc, argv, &i, &val) ||
			   is_opt(a, "--root", argc, argv, &i, &val) ||
			   is_opt(a, "--to", argc, argv, &i, &val) ||
			   is_opt(a, "--test-cmd", argc, argv, &i, &val) ||
			   is_opt(a, "--restart-cmd", argc, argv, &i, &val) ||
			   is_opt(a, "--lock-timeout", argc, argv, &i, &val) ||
			   is_opt(a, "--python-bin", argc, argv, &i, &val)) {
			if (!val)
				return cli_usage("migrate", "option '%s' needs a value", a);
			if (!strncmp(a, "--db", 4) && (a[4] == '\0' || a[4] == '='))
				o.db_url = val;
			else if (!strncmp(a, "--dir", 5))
				o.dir = val;
			else if (!strncmp(a, "--root", 6))
				o.root = val;
			else if (!strncmp(a, "--to", 4))
				o.to = val;
			else if (!strncmp(a, "--test-cmd", 10))
				o.test_cmd = val;
			else if (!strncmp(a, "--restart-cmd", 13))
				o.restart_cmd = val;
			else if (!strncmp(a, "--python-bin", 12))
				o.python = val;
			else {
				char *end;

				o.lock_timeout = strtod(val, &end);
				if (*end || o.lock_timeout <= 0)
					return cli_usage("migrate", "--lock-timeout wants seconds > 0, not '%s'", val);
			}
		} else if (a[0] == '-' && a[1]) {
			return cli_usage("migrate", "unknown option '%s' for 'migrate %s'",
					 a, sub->name);
		} else if (!positional) {
			positional = a;
		} else {
			return cli_usage("migrate", "unexpected argument '%s'", a);
		}
	}
	if (!strcmp(sub->name, "new")) {
		if (!positional)
			return cli_usage("migrate", "'migrate new' needs a NAME");
		rc = ferry_migrate_new(o.dir ? o.dir : "migrations", positional, kind,
				       &json, &err);
		if (rc == 0)
			printf(as_json ? "{\"created\": \"%.*s\"}\n" : "created %.*s\n",
			       (int)(json.len ? json.len - 1 : 0), json.buf);
		goto out;
	}
	if (!strcmp(sub->name, "baseline") && !positional)
		return cli_usage("migrate", "'migrate baseline' needs the version to adopt, e.g. 'baseline 0004'");
	if (!strcmp(sub->name, "down") && positional) {
		char *end;
		long n = strtol(positional, &end, 10);

		if (*end || n <= 0)
			return cli_usage("migrate", "'migrate down' takes a count > 0, not '%s'",
					 positional);
		if (o.to)
			return cli_usage("migrate", "'migrate down' takes N or --to V, not both");
		o.count = (int)n;
	} else if (positional && strcmp(sub->name, "baseline")) {
		return cli_usage("migrate", "unexpected argument '%s'", positional);
	}
	o.out = as_json ? stderr : stdout;
	/* commands that change nothing must not create a SQLite file either */
	o.read_only = !strcmp(sub->name, "status") || !strcmp(sub->name, "plan") ||
		      (!strcmp(sub->name, "validate") && !accept) || o.dry_run;
	if (create_db && (strcmp(sub->name, "up") || o.dry_run))
		return cli_usage("migrate", "--create-db is for 'migrate up' (without --dry-run)");
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
	if (as_json)
		fputs(json.buf, stdout);
out:
	if (rc < 0)
		cli_error(&err);
	ferry_migrator_free(m);
	ferry_buf_release(&json);
	return exit_code(rc);
}
