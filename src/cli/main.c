/*
 * main.c - the ferry command: global options and the one command table.
 * Each subcommand lives in cmd_<name>.c (git's builtin/ layout).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ferry/log.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "dev"
#endif

static const struct cli_command commands[] = {
	{ "copy", cmd_copy, "copy tables and rows from one store to another" },
	{ "generate", cmd_generate, "write realistic Home-Assistant-like telemetry" },
	{ "verify", cmd_verify, "prove the target holds exactly what the source holds" },
	{ "rewrite", cmd_rewrite, "rewrite service trees for a new dependency (recipes)" },
	{ "migrate", cmd_migrate, "versioned up/down migrations with locks, checksums and rollback" },
	{ "cutover", cmd_cutover, "move a live migration between phases; show its status" },
	{ NULL, NULL, NULL }
};

static void usage(FILE *out)
{
	const struct cli_command *c;

	fprintf(out,
		"usage: ferry [-v | -q] [--json] <command> [<args>]\n"
		"\n"
		"Move IoT and home-automation data, schemas and dependencies to\n"
		"their next home without losing a reading.\n"
		"\n"
		"commands:\n");
	for (c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out,
		"\n"
		"global options (also accepted after the command):\n"
		"  -v, --verbose   more diagnostics (repeat for debug)\n"
		"  -q, --quiet     no progress and no summary; errors still print\n"
		"  --json          one JSON document on stdout, with \"exit_code\", and\n"
		"                  \"error\" when the command failed\n"
		"  --version       print the version\n"
		"  -h, --help      this help; 'ferry <command> --help' for a command\n"
		"\n"
		"exit codes: 0 ok, 1 failed (or differences found), 2 usage or\n"
		"configuration error, 3 completed with rejected rows\n");
}

/* The JSON document of a usage error before any command ran, when --json
 * is anywhere on the line; returns FERRY_EXIT_USAGE. */
static int not_ferry(int argc, char **argv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int not_ferry(int argc, char **argv, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	cli_getopt_begin("ferry", argc, argv);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_json_error(FERRY_EXIT_USAGE, msg);
	return FERRY_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct cli_command *c;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return FERRY_EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("ferry %s\n", FERRY_VERSION);
			return FERRY_EXIT_OK;
		} else if (!strcmp(argv[i], "--verbose")) {
			ferry_log_set_level(ferry_log_get_level() + 1);
		} else if (!strcmp(argv[i], "--quiet")) {
			cli.quiet = 1;
		} else if (argv[i][1] && strspn(argv[i] + 1, "qv") == strlen(argv[i] + 1)) {
			/* -v, -q and clusters of them (-vv), as after the command */
			const char *p;

			for (p = argv[i] + 1; *p; p++)
				if (*p == 'v')
					ferry_log_set_level(ferry_log_get_level() + 1);
				else
					cli.quiet = 1;
		} else if (!strcmp(argv[i], "--json")) {
			cli.json = 1;
		} else {
			fprintf(stderr, "ferry: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return not_ferry(argc, argv, "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return FERRY_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 < argc) {
			char *hargv[] = { argv[i + 1], "--help", NULL };

			for (c = commands; c->name; c++)
				if (!strcmp(c->name, argv[i + 1]))
					return c->fn(2, hargv);
			fprintf(stderr, "ferry: '%s' is not a ferry command; see 'ferry --help'\n",
				argv[i + 1]);
			return not_ferry(argc, argv, "'%s' is not a ferry command", argv[i + 1]);
		}
		usage(stdout);
		return FERRY_EXIT_OK;
	}
	for (c = commands; c->name; c++)
		if (!strcmp(c->name, argv[i]))
			return c->fn(argc - i, argv + i);
	fprintf(stderr, "ferry: '%s' is not a ferry command; see 'ferry --help'\n",
		argv[i]);
	return not_ferry(argc, argv, "'%s' is not a ferry command", argv[i]);
}
