/*
 * cli.h - what the subcommands share: exit codes, the command table entry
 * and small output helpers.  Subcommands use only the public API.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdio.h>

#include "ferry/error.h"

/* Exit codes (documented in README.md). */
enum {
	FERRY_EXIT_OK = 0,        /* everything done */
	FERRY_EXIT_FAILED = 1,    /* failed, or verify/dry-run found differences */
	FERRY_EXIT_USAGE = 2,     /* usage or configuration error */
	FERRY_EXIT_REJECTS = 3    /* completed, some rows rejected */
};

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

int cmd_copy(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_rewrite(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* --progress auto|bar|plain|none -> enum ferry_progress_mode; -1 when
 * arg is none of them (the caller reports a usage error). */
int cli_progress_mode(const char *arg, int *mode);

/* A repeatable string option: NULL-terminated array of borrowed strings
 * (argv's), grown per push; free(l->v) when done. */
struct cli_strlist {
	const char **v;
	size_t n;
};

int cli_strlist_push(struct cli_strlist *l, const char *s);

/* The two positional endpoints after the options; a usage error (its
 * exit code returned) unless there are exactly two. */
int cli_src_dst(const char *cmd, int argc, char **argv, int optind_,
		const char **src, const char **dst);

/* Print "ferry: error: <msg>" (and the origin when set) to stderr. */
void cli_error(const struct ferry_error *err);
/* Print a usage error with a hint to --help; returns FERRY_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
