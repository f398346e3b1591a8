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

/* Time-series source options, shared by copy and verify: add
 * CLI_TS_LONGOPTS to the getopt_long table and let cli_ts_option() take
 * the codes it knows (returns 1 when it took one). */
struct ferry_ts_opts;
enum {
	CLI_TS_LAYOUT = 400, CLI_TS_MAP, CLI_TS_TABLE, CLI_TS_SERIES_TAG, CLI_TS_KEEP_NS,
	CLI_TS_START, CLI_TS_END, CLI_TS_CHUNK_TIME, CLI_TS_CHUNK_BYTES, CLI_TS_PRECISION
};
#define CLI_TS_LONGOPTS							\
	{ "layout", required_argument, NULL, CLI_TS_LAYOUT },		\
	{ "map", required_argument, NULL, CLI_TS_MAP },			\
	{ "table", required_argument, NULL, CLI_TS_TABLE },		\
	{ "series-tag", required_argument, NULL, CLI_TS_SERIES_TAG },	\
	{ "keep-ns", no_argument, NULL, CLI_TS_KEEP_NS },		\
	{ "start", required_argument, NULL, CLI_TS_START },		\
	{ "end", required_argument, NULL, CLI_TS_END },			\
	{ "chunk-time", required_argument, NULL, CLI_TS_CHUNK_TIME },	\
	{ "chunk-bytes", required_argument, NULL, CLI_TS_CHUNK_BYTES },	\
	{ "precision", required_argument, NULL, CLI_TS_PRECISION }
int cli_ts_option(int code, const char *arg, struct ferry_ts_opts *t);
/* The help text of those options. */
extern const char cli_ts_usage[];

/* --create-db: create the PostgreSQL database url names when it does not
 * exist (ferry_pg_create_database), saying so on out (may be NULL). */
int cli_create_db(const char *url, FILE *out, struct ferry_error *err);
/* Print "ferry: error: <msg>" (and the origin when set) to stderr. */
void cli_error(const struct ferry_error *err);
/* Print a usage error with a hint to --help; returns FERRY_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
