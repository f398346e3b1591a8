/*
 * cmd_rewrite.c - `ferry rewrite`: apply a recipe to a batch of service
 * directories, one plan -> backup -> write -> test -> (restore) cycle per
 * directory, then one summary (text or --json).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/buf.h"
#include "ferry/rewrite.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ferry rewrite --recipe <file|name> [options] <dir>...\n"
		"\n"
		"Rewrite Python service trees for a new dependency wherever it is\n"
		"declared (requirements*.txt, constraints*.txt, pyproject.toml: PEP 621,\n"
		"Poetry, PDM, Hatch; Pipfile, setup.cfg, setup.py, Home Assistant\n"
		"manifest.json, Dockerfile pip install lines), its imports and the\n"
		"call sites the recipe's codemods prove, as a reviewed, reversible and\n"
		"tested change.  Lock files that pin the old package are named with\n"
		"the command that regenerates them.\n"
		"\n"
		"options:\n"
		"  --recipe R              recipe file, or a built-in recipe name\n"
		"                          (built-in: asyncio-mqtt-to-aiomqtt,\n"
		"                          paho-mqtt-1-to-2 keeping the 1.x callbacks,\n"
		"                          paho-mqtt-1-to-2-callbacks-v2)\n"
		"  --dry-run               print a unified diff, change nothing; exit 1\n"
		"                          when anything would change, 0 when not\n"
		"  --test-cmd CMD          test command run in each directory after the\n"
		"                          rewrite (default: the recipe's)\n"
		"  --no-test               run no test command\n"
		"  --test-timeout SEC      kill the tests after SEC seconds (then restore)\n"
		"  --keep-on-test-failure  keep the rewrite when the tests fail\n"
		"  --allow-partial         write a directory even when declarations of\n"
		"                          the old package are left (a computed list in\n"
		"                          setup.py, a git dependency); without it such\n"
		"                          a directory fails and nothing is written\n"
		"  --json                  print the summary as JSON on stdout (also on failure)\n"
		"  -q, --quiet             only warnings and errors: no diffs, test output\n"
		"                          or summary\n"
		"  -v, --verbose           more diagnostics (repeat for debug)\n"
		"  -h, --help              this help\n"
		"\n"
		"Each changed directory gets .ferry-backup-<recipe>-<time>/ with the\n"
		"original files and rollback.sh.  A table over all directories ends\n"
		"the run (migrated, already migrated, skipped: not a service,\n"
		"failed: tests, failed: partial).\n"
		"\n"
		"exit codes: 0 done or nothing to do, 1 a directory failed (or left a\n"
		"declaration of the old package without --allow-partial), no directory\n"
		"is a service, or (--dry-run) changes are pending; 2 usage or recipe\n"
		"error\n");
}

struct opts {
	const char *recipe;
	int dry_run;
	const char *test_cmd;
	int no_test;
	double timeout;
	int keep;
	int json;
	int quiet;
	int allow_partial;
};

/* Print each line of text with a prefix; `path` is put before each. */
static void print_lines(const char *tag, const char *path, const char *text)
{
	const char *s = text, *e;

	while (*s) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		if (path)
			printf("%s %s: %.*s\n", tag, path, (int)(e - s), s);
		else
			printf("%s %.*s\n", tag, (int)(e - s), s);
		s = *e ? e + 1 : e;
	}
}

static json_t *lines_json(const char *text)
{
	json_t *a = json_array();
	const char *s = text, *e;

	while (a && *s) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		json_array_append_new(a, json_stringn(s, (size_t)(e - s)));
		s = *e ? e + 1 : e;
	}
	return a;
}

/* Last `n` lines of text. */
static const char *tail(const char *text, size_t len, int n)
{
	const char *p = text + len;

	if (len && p[-1] == '\n')
		p--;
	while (p > text) {
		if (p[-1] == '\n' && --n == 0)
			break;
		p--;
	}
	return p;
}

/* What happened to one directory: a row of the batch table. */
enum result {
	R_MIGRATED = 0,
	R_MIGRATED_PARTIAL,   /* --allow-partial: written, declarations left */
	R_PENDING,            /* --dry-run: changes to make */
	R_ALREADY,
	R_NOT_USED,
	R_NOT_SERVICE,
	R_FAIL_TESTS,
	R_FAIL_PARTIAL,
	R_FAILED,
	R_NRESULTS
};

static const char *const result_text[R_NRESULTS] = {
	"migrated", "migrated, partial", "changes pending", "already migrated",
	"not used", "skipped: not a service", "failed: tests",
	"failed: partial", "failed"
};

/* JSON names of the results (stable, for scripts). */
static const char *const result_json[R_NRESULTS] = {
	"migrated", "migrated-partial", "pending", "already-migrated",
	"not-used", "not-a-service", "failed-tests", "failed-partial", "failed"
};

struct row {
	const char *dir;
	int result;
	size_t nfiles;
	long tests;           /* tests passed, -1 unknown, -2 none ran */
	double seconds;
	char *why;            /* first partial declaration or error, or NULL */
	int pending;
};

/* The first line of text, copied. */
static char *first_line(const char *text)
{
	const char *e = strchr(text, '\n');
	size_t n = e ? (size_t)(e - text) : strlen(text);
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, text, n);
		d[n] = '\0';
	}
	return d;
}

/* Lock files: "[LOCK] path pins the old package: run 'cmd'". */
static void print_locks(const char *dir, const char *locks)
{
	const char *s = locks, *e, *tab;

	while (*s) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		tab = memchr(s, '\t', (size_t)(e - s));
		if (tab)
			printf("[LOCK] %s%s%.*s pins the old package: regenerate it "
			       "with '%.*s'\n", dir ? dir : "", dir ? "/" : "",
			       (int)(tab - s), s, (int)(e - tab - 1), tab + 1);
		s = *e ? e + 1 : e;
	}
}

static json_t *locks_json(const char *locks)
{
	json_t *a = json_array();
	const char *s = locks, *e, *tab;

	while (a && *s) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		tab = memchr(s, '\t', (size_t)(e - s));
		if (tab)
			json_array_append_new(a, json_pack("{s:s%,s:s%}", "file", s,
				(size_t)(tab - s), "command", tab + 1, (size_t)(e - tab - 1)));
		s = *e ? e + 1 : e;
	}
	return a;
}

static int run_dir(const ferry_recipe *r, const struct opts *o, const char *dir,
		   json_t *jdirs, struct row *row)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_rewrite_result res = FERRY_REWRITE_RESULT_INIT;
	struct ferry_rewrite_opts ao;
	struct ferry_buf diff = FERRY_BUF_INIT;
	ferry_rewrite_plan *plan = NULL;
	json_t *jd = json_object(), *jfiles = json_array();
	const char *status = "ok", *tag, *partial = "";
	size_t i;
	int rc = 0, failed = 0;
	/* text lines, unless JSON or -q (which keeps only the warnings) */
	int talk = !o->json && !o->quiet;

	row->dir = dir;
	row->tests = -2;
	json_object_set_new(jd, "dir", json_string(dir));
	if (talk)
		printf("== %s ==\n", dir);
	if ((rc = ferry_rewrite_plan_dir(r, dir, &plan, &err))) {
		/* a directory that is no service is skipped, not failed */
		if (rc == FERRY_ENOTFOUND &&
		    strstr(err.msg, "does not look like a service")) {
			status = "skipped";
			row->result = R_NOT_SERVICE;
			if (!o->json)
				printf("[SKIP] %s\n", err.msg);
		} else {
			status = "failed";
			failed = 1;
			row->result = R_FAILED;
			if (talk)
				printf("[FAIL] %s\n", err.msg);
			cli_error(&err);
		}
		row->why = strdup(err.msg);
		json_object_set_new(jd, "error", json_string(err.msg));
		goto out;
	}
	partial = ferry_rewrite_plan_partial(plan);
	if (*partial && !o->json)
		print_lines("[PARTIAL]", talk ? NULL : dir, partial);
	if (*partial)
		row->why = first_line(partial);
	if (ferry_rewrite_plan_state(plan) != FERRY_RW_CHANGES && !*partial) {
		int mig = ferry_rewrite_plan_state(plan) == FERRY_RW_MIGRATED;

		status = mig ? "already-migrated" : "not-used";
		row->result = mig ? R_ALREADY : R_NOT_USED;
		if (talk)
			printf("[SKIP] %s\n", mig ? "already migrated, nothing to do" :
			       "the recipe's packages and modules are not used here");
		goto warnings;
	}
	if (ferry_rewrite_plan_diff(plan, &diff)) {
		fprintf(stderr, "ferry: error: out of memory\n");
		failed = 1;
		row->result = R_FAILED;
		goto out;
	}
	json_object_set_new(jd, "diff", json_stringn(diff.buf, diff.len));
	if (talk)
		fwrite(diff.buf, 1, diff.len, stdout);
	if (*partial && !o->allow_partial) {
		/* never half migrated: write nothing, say what is left */
		failed = 1;
		status = "failed";
		row->result = R_FAIL_PARTIAL;
		ferry_error_set(&err, FERRY_EABORT, "'%s': declarations of the old "
				"package would be left behind (see [PARTIAL]); nothing "
				"was written: change them by hand, or pass "
				"--allow-partial to write the rest", dir);
		rc = FERRY_EABORT;
		tag = "[TODO]";
	} else if (o->dry_run) {
		status = "pending";
		row->result = R_PENDING;
		row->pending = 1;
		tag = "[DRY]";
	} else {
		ao.test_cmd = o->no_test ? "" : o->test_cmd;
		ao.test_timeout = o->timeout;
		ao.keep_on_test_failure = o->keep;
		fflush(stdout);
		rc = ferry_rewrite_apply(plan, &ao, &res, &err);
		row->result = *partial ? R_MIGRATED_PARTIAL : R_MIGRATED;
		if (rc) {
			failed = 1;
			status = res.restored ? "restored" : "failed";
			row->result = res.tests_run ? R_FAIL_TESTS : R_FAILED;
		}
		tag = res.restored ? "[UNDONE]" : (rc && !res.tests_run) ? "[FAIL]" :
		      *partial ? "[PARTIAL]" : "[OK]";
	}
	row->nfiles = ferry_rewrite_plan_nfiles(plan);
	for (i = 0; i < ferry_rewrite_plan_nfiles(plan); i++) {
		const char *f = ferry_rewrite_plan_file(plan, i);
		const char *notes = ferry_rewrite_plan_file_notes(plan, i);
		json_t *jf = json_object();

		if (talk)
			print_lines(tag, f, notes);
		json_object_set_new(jf, "file", json_string(f));
		json_object_set_new(jf, "changes", lines_json(notes));
		json_array_append_new(jfiles, jf);
	}
	if (res.tests_run) {
		json_t *jt = json_object();
		const char *cmd = o->test_cmd ? o->test_cmd : ferry_recipe_test_cmd(r);
		int passed = !res.test_timed_out && !res.test_status;

		row->tests = passed ? res.tests_passed : -2;
		row->seconds = res.test_seconds;
		json_object_set_new(jt, "command", json_string(cmd));
		json_object_set_new(jt, "exit_status", json_integer(res.test_status));
		json_object_set_new(jt, "timed_out", json_boolean(res.test_timed_out));
		json_object_set_new(jt, "seconds", json_real(res.test_seconds));
		json_object_set_new(jt, "passed", json_boolean(passed));
		json_object_set_new(jt, "count", res.tests_passed >= 0 ?
				    json_integer(res.tests_passed) : json_null());
		json_object_set_new(jd, "tests", jt);
		if (talk) {
			if (passed && res.tests_passed >= 0)
				printf("[OK] tests passed: %ld test%s, %s (%.1f s)\n",
				       res.tests_passed, res.tests_passed == 1 ? "" : "s",
				       cmd, res.test_seconds);
			else if (passed)
				printf("[OK] tests passed: %s (%.1f s)\n", cmd,
				       res.test_seconds);
			else
				fprintf(stderr, "---- test output (last lines) ----\n%s\n"
					"----\n", tail(res.test_output.buf,
						       res.test_output.len, 30));
		}
	}
	if (rc) {
		if (talk)
			printf("[FAIL] %s%s\n", err.msg, res.restored ?
			       "; restored the original files" : "");
		cli_error(&err);
		json_object_set_new(jd, "error", json_string(err.msg));
		if (!row->why)
			row->why = strdup(err.msg);
	}
	json_object_set_new(jd, "restored", json_boolean(res.restored));
	if (res.backup_dir) {
		json_object_set_new(jd, "backup", json_string(res.backup_dir));
		json_object_set_new(jd, "rollback", json_string(res.rollback));
		if (talk)
			printf("[OK] backup: %s (undo: %s)\n", res.backup_dir,
			       res.rollback);
	}
warnings:
	if (talk) {
		print_locks(NULL, ferry_rewrite_plan_locks(plan));
		print_lines("[WARN]", NULL, ferry_rewrite_plan_warnings(plan));
	} else if (!o->json) {  /* -q: no header names the directory */
		print_locks(dir, ferry_rewrite_plan_locks(plan));
		print_lines("[WARN]", dir, ferry_rewrite_plan_warnings(plan));
	}
	json_object_set_new(jd, "warnings",
			    lines_json(ferry_rewrite_plan_warnings(plan)));
	json_object_set_new(jd, "partial", lines_json(partial));
	json_object_set_new(jd, "locks", locks_json(ferry_rewrite_plan_locks(plan)));
out:
	/* the same keys for every directory, also one that failed early */
	if (!json_object_get(jd, "warnings"))
		json_object_set_new(jd, "warnings", json_array());
	if (!json_object_get(jd, "partial"))
		json_object_set_new(jd, "partial", json_array());
	if (!json_object_get(jd, "locks"))
		json_object_set_new(jd, "locks", json_array());
	json_object_set_new(jd, "status", json_string(status));
	json_object_set_new(jd, "result", json_string(result_json[row->result]));
	json_object_set_new(jd, "files", jfiles);
	json_array_append_new(jdirs, jd);
	ferry_rewrite_result_release(&res);
	ferry_rewrite_plan_free(plan);
	ferry_buf_release(&diff);
	return failed;
}

/* The batch table: one row per directory, then the counts. */
static void print_table(const struct row *rows, int n, int *count)
{
	int w = 9, i, k, first = 1;

	for (i = 0; i < n; i++)
		if ((int)strlen(rows[i].dir) > w)
			w = (int)strlen(rows[i].dir);
	if (w > 48)
		w = 48;
	printf("\n%-*s  %-22s  %5s  %s\n", w, "directory", "result", "files", "tests");
	for (i = 0; i < n; i++) {
		const struct row *x = &rows[i];
		char tests[64];

		if (x->tests >= 0)
			snprintf(tests, sizeof(tests), "%ld passed (%.1f s)", x->tests,
				 x->seconds);
		else if (x->tests == -1)
			snprintf(tests, sizeof(tests), "passed (%.1f s)", x->seconds);
		else
			snprintf(tests, sizeof(tests), "-");
		if (x->result == R_FAIL_TESTS)
			snprintf(tests, sizeof(tests), "failed (%.1f s)", x->seconds);
		printf("%-*s  %-22s  %5zu  %s\n", w, x->dir, result_text[x->result],
		       x->nfiles, tests);
		if (x->why && x->result != R_MIGRATED && x->result != R_PENDING &&
		    x->result != R_ALREADY && x->result != R_NOT_USED)
			printf("%-*s    %s\n", w, "", x->why);
	}
	printf("%d director%s:", n, n == 1 ? "y" : "ies");
	for (k = 0; k < R_NRESULTS; k++)
		if (count[k]) {
			printf("%s %d %s", first ? "" : ",", count[k], result_text[k]);
			first = 0;
		}
	putchar('\n');
}

enum { OPT_RECIPE = 256, OPT_DRY_RUN, OPT_TEST_CMD, OPT_NO_TEST, OPT_TEST_TIMEOUT, OPT_KEEP,
       OPT_ALLOW_PARTIAL };

int cmd_rewrite(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recipe", required_argument, NULL, OPT_RECIPE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "test-cmd", required_argument, NULL, OPT_TEST_CMD },
		{ "no-test", no_argument, NULL, OPT_NO_TEST },
		{ "test-timeout", required_argument, NULL, OPT_TEST_TIMEOUT },
		{ "keep-on-test-failure", no_argument, NULL, OPT_KEEP },
		{ "allow-partial", no_argument, NULL, OPT_ALLOW_PARTIAL },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;
	json_t *root = NULL, *jdirs = NULL;
	int c, i, ndirs, failed = 0, pending = 0, ret;
	int count[R_NRESULTS] = { 0 };
	struct row *rows;
	char **dirs;

	memset(&o, 0, sizeof(o));
	cli_getopt_begin("rewrite", argc, argv);
	while ((c = cli_getopt(argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD:
			return FERRY_EXIT_USAGE;
		case 'h':
			usage(stdout);
			return FERRY_EXIT_OK;
		case OPT_RECIPE: o.recipe = optarg; break;
		case OPT_TEST_CMD: o.test_cmd = optarg; break;
		case OPT_TEST_TIMEOUT: {
			char *end;

			o.timeout = strtod(optarg, &end);
			if (end == optarg || *end || o.timeout <= 0)
				return cli_usage("rewrite", "--test-timeout needs a positive "
						 "number of seconds, not '%s'", optarg);
			break;
		}
		case OPT_DRY_RUN: o.dry_run = 1; break;
		case OPT_NO_TEST: o.no_test = 1; break;
		case OPT_KEEP: o.keep = 1; break;
		case OPT_ALLOW_PARTIAL: o.allow_partial = 1; break;
		default:
			return cli_usage("rewrite", "unknown option");
		}
	}
	o.json = cli.json;
	o.quiet = cli.quiet;
	dirs = argv + optind;
	ndirs = argc - optind;
	if (!o.recipe)
		return cli_usage("rewrite", "--recipe is required");
	if (!ndirs)
		return cli_usage("rewrite", "no service directory given");
	if (ferry_recipe_load(o.recipe, &r, &err)) {
		cli_error(&err);
		cli_json_error(FERRY_EXIT_USAGE, err.msg);
		return FERRY_EXIT_USAGE;
	}
	root = json_object();
	jdirs = json_array();
	rows = calloc((size_t)ndirs, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "ferry: error: out of memory\n");
		ferry_recipe_free(r);
		json_decref(root);
		json_decref(jdirs);
		return FERRY_EXIT_FAILED;
	}
	for (i = 0; i < ndirs; i++) {
		failed += run_dir(r, &o, dirs[i], jdirs, &rows[i]);
		pending |= rows[i].pending;
		count[rows[i].result]++;
		if (!o.json)
			fflush(stdout);
	}
	/* every directory skipped as no service: the wrong directories */
	if (count[R_NOT_SERVICE] == ndirs)
		failed = ndirs;
	ret = failed || pending ? FERRY_EXIT_FAILED : FERRY_EXIT_OK;
	if (o.json) {
		json_t *sum = json_object();

		for (i = 0; i < R_NRESULTS; i++)
			json_object_set_new(sum, result_json[i], json_integer(count[i]));
		json_object_set_new(root, "recipe", json_string(ferry_recipe_name(r)));
		json_object_set_new(root, "dry_run", json_boolean(o.dry_run));
		json_object_set_new(root, "allow_partial", json_boolean(o.allow_partial));
		json_object_set_new(root, "directories", jdirs);
		jdirs = NULL;
		json_object_set_new(root, "summary", sum);
		json_object_set_new(root, "failed", json_integer(failed));
		json_object_set_new(root, "pending", json_boolean(pending));
		json_object_set_new(root, "exit_code", json_integer(ret));
		if (count[R_NOT_SERVICE] == ndirs)
			json_object_set_new(root, "error", json_string(
				"no directory looks like a service; pass the service "
				"directories, not their parent"));
		else if (failed)  /* every exit 1 says why */
			json_object_set_new(root, "error", json_sprintf(
				"%d of %d director%s failed", failed, ndirs,
				ndirs == 1 ? "y" : "ies"));
		else if (pending)
			json_object_set_new(root, "error", json_string(
				"changes are pending (--dry-run changed nothing)"));
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		if (!o.quiet)
			print_table(rows, ndirs, count);
		if (count[R_NOT_SERVICE] == ndirs)
			fprintf(stderr, "ferry: error: no directory looks like a service; "
				"pass the service directories, not their parent\n");
	}
	for (i = 0; i < ndirs; i++)
		free(rows[i].why);
	free(rows);
	json_decref(jdirs);
	json_decref(root);
	ferry_recipe_free(r);
	return ret;
}
