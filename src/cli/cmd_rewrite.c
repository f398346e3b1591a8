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
		"Rewrite Python service trees for a new dependency: requirement\n"
		"files, pyproject.toml arrays, imports and the call sites the\n"
		"recipe's codemods prove, as a reviewed, reversible and tested\n"
		"change.\n"
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
		"  --json                  print the summary as JSON on stdout (also on failure)\n"
		"  -q, --quiet             only warnings and errors: no diffs, test output\n"
		"                          or summary\n"
		"  -v, --verbose           more diagnostics (repeat for debug)\n"
		"  -h, --help              this help\n"
		"\n"
		"Each changed directory gets .ferry-backup-<recipe>-<time>/ with the\n"
		"original files and rollback.sh.\n"
		"\n"
		"exit codes: 0 done or nothing to do, 1 a directory failed or\n"
		"(--dry-run) changes are pending, 2 usage or recipe error\n");
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

static int run_dir(const ferry_recipe *r, const struct opts *o, const char *dir,
		   json_t *jdirs, int *pending)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_rewrite_result res = FERRY_REWRITE_RESULT_INIT;
	struct ferry_rewrite_opts ao;
	struct ferry_buf diff = FERRY_BUF_INIT;
	ferry_rewrite_plan *plan = NULL;
	json_t *jd = json_object(), *jfiles = json_array();
	const char *status = "ok", *tag;
	size_t i;
	int rc = 0, failed = 0;
	/* text lines, unless JSON or -q (which keeps only the warnings) */
	int talk = !o->json && !o->quiet;

	json_object_set_new(jd, "dir", json_string(dir));
	if (talk)
		printf("== %s ==\n", dir);
	if ((rc = ferry_rewrite_plan_dir(r, dir, &plan, &err))) {
		status = "failed";
		failed = 1;
		if (talk)
			printf("[FAIL] %s\n", err.msg);
		cli_error(&err);
		json_object_set_new(jd, "error", json_string(err.msg));
		goto out;
	}
	if (ferry_rewrite_plan_state(plan) != FERRY_RW_CHANGES) {
		int mig = ferry_rewrite_plan_state(plan) == FERRY_RW_MIGRATED;

		status = mig ? "already-migrated" : "not-used";
		if (talk)
			printf("[SKIP] %s\n", mig ? "already migrated, nothing to do" :
			       "the recipe's packages and modules are not used here");
		goto warnings;
	}
	if (ferry_rewrite_plan_diff(plan, &diff)) {
		fprintf(stderr, "ferry: error: out of memory\n");
		failed = 1;
		goto out;
	}
	json_object_set_new(jd, "diff", json_stringn(diff.buf, diff.len));
	if (talk)
		fwrite(diff.buf, 1, diff.len, stdout);
	if (o->dry_run) {
		status = "pending";
		*pending = 1;
	} else {
		ao.test_cmd = o->no_test ? "" : o->test_cmd;
		ao.test_timeout = o->timeout;
		ao.keep_on_test_failure = o->keep;
		fflush(stdout);
		rc = ferry_rewrite_apply(plan, &ao, &res, &err);
		if (rc) {
			failed = 1;
			status = res.restored ? "restored" : "failed";
		}
	}
	tag = o->dry_run ? "[DRY]" : res.restored ? "[UNDONE]" :
	      (rc && !res.tests_run) ? "[FAIL]" : "[OK]";
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

		json_object_set_new(jt, "command", json_string(cmd));
		json_object_set_new(jt, "exit_status", json_integer(res.test_status));
		json_object_set_new(jt, "timed_out", json_boolean(res.test_timed_out));
		json_object_set_new(jt, "seconds", json_real(res.test_seconds));
		json_object_set_new(jt, "passed", json_boolean(!res.test_timed_out &&
							     !res.test_status));
		json_object_set_new(jd, "tests", jt);
		if (talk) {
			if (!res.test_timed_out && !res.test_status)
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
	if (talk)
		print_lines("[WARN]", NULL, ferry_rewrite_plan_warnings(plan));
	else if (!o->json)  /* -q: no header names the directory */
		print_lines("[WARN]", dir, ferry_rewrite_plan_warnings(plan));
	json_object_set_new(jd, "warnings",
			    lines_json(ferry_rewrite_plan_warnings(plan)));
out:
	json_object_set_new(jd, "status", json_string(status));
	json_object_set_new(jd, "files", jfiles);
	json_array_append_new(jdirs, jd);
	ferry_rewrite_result_release(&res);
	ferry_rewrite_plan_free(plan);
	ferry_buf_release(&diff);
	return failed;
}

enum { OPT_RECIPE = 256, OPT_DRY_RUN, OPT_TEST_CMD, OPT_NO_TEST, OPT_TEST_TIMEOUT, OPT_KEEP };

int cmd_rewrite(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recipe", required_argument, NULL, OPT_RECIPE },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "test-cmd", required_argument, NULL, OPT_TEST_CMD },
		{ "no-test", no_argument, NULL, OPT_NO_TEST },
		{ "test-timeout", required_argument, NULL, OPT_TEST_TIMEOUT },
		{ "keep-on-test-failure", no_argument, NULL, OPT_KEEP },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;
	json_t *root = NULL, *jdirs = NULL;
	int c, i, ndirs, failed = 0, pending = 0, ret;
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
	for (i = 0; i < ndirs; i++) {
		failed += run_dir(r, &o, dirs[i], jdirs, &pending);
		if (!o.json)
			fflush(stdout);
	}
	ret = failed || pending ? FERRY_EXIT_FAILED : FERRY_EXIT_OK;
	if (o.json) {
		json_object_set_new(root, "recipe", json_string(ferry_recipe_name(r)));
		json_object_set_new(root, "dry_run", json_boolean(o.dry_run));
		json_object_set_new(root, "directories", jdirs);
		jdirs = NULL;
		json_object_set_new(root, "failed", json_integer(failed));
		json_object_set_new(root, "pending", json_boolean(pending));
		json_object_set_new(root, "exit_code", json_integer(ret));
		if (failed)  /* every exit 1 says why */
			json_object_set_new(root, "error", json_sprintf(
				"%d of %d director%s failed", failed, ndirs,
				ndirs == 1 ? "y" : "ies"));
		else if (pending)
			json_object_set_new(root, "error", json_string(
				"changes are pending (--dry-run changed nothing)"));
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (!o.quiet) {
		printf("%d director%s, %d failed%s\n", ndirs, ndirs == 1 ? "y" : "ies",
		       failed, o.dry_run ? (pending ? ", changes pending" :
					   ", nothing to change") : "");
	}
	json_decref(jdirs);
	json_decref(root);
	ferry_recipe_free(r);
	return ret;
}
