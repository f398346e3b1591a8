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

/*
 * Settings every command shares, set by the global options before the
 * command (`ferry -q migrate up`) or by the same options after it
 * (`ferry migrate up -q`): one process runs one command, so they are
 * process-wide, like git's.
 */
struct cli_state {
	const char *cmd;  /* "copy", "migrate up": names usage errors */
	int quiet;        /* -q: no progress, no summary; errors still print */
	int json;         /* --json: exactly one JSON document on stdout */
};
extern struct cli_state cli;

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
int cmd_cutover(int argc, char **argv);

/*
 * Option parsing, one way for every command: getopt_long (so --opt=value,
 * --opt value and options after the operands all work) plus the options
 * every command takes, which cli_getopt() handles itself:
 *   -q/--quiet, -v/--verbose (repeatable), --json, and -h/--help, which it
 *   returns as 'h' for the command to print its own help.
 * Put CLI_COMMON_LONGOPTS in the command's table.  cli_getopt_begin()
 * starts a parse of argv (argv[0] is the command's name) and takes --json
 * up front, so that a usage error in any option is reported as JSON too.
 * cli_getopt() returns the next command-specific option, 'h', -1 after the
 * last option (operands are then argv[optind..argc)), or CLI_OPT_BAD when
 * an option is unknown, lacks its value or has one it takes none: the
 * usage error is already reported, the command returns FERRY_EXIT_USAGE.
 */
enum { CLI_OPT_JSON = 300, CLI_OPT_BAD = -2 };
#define CLI_COMMON_LONGOPTS						\
	{ "quiet", no_argument, NULL, 'q' },				\
	{ "verbose", no_argument, NULL, 'v' },			\
	{ "json", no_argument, NULL, CLI_OPT_JSON },			\
	{ "help", no_argument, NULL, 'h' }
struct option;
void cli_getopt_begin(const char *cmd, int argc, char **argv);
int cli_getopt(int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

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
/* Print a usage error with a hint to --help (with --json also the error
 * document, see cli_json_error); returns FERRY_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * With --json, the document of a command that failed before it had
 * anything else to say: {"command": cli.cmd, "exit_code": code,
 * "error": msg}.  Every JSON document ferry prints has "exit_code", and
 * "error" when it failed; a command that got further prints its own
 * object with those two members instead.  No-op without --json.
 */
void cli_json_error(int code, const char *msg);
/* Print a command's JSON document on stdout, indented, and drop it (root
 * may be NULL after an out-of-memory: then nothing is printed). */
typedef struct json_t json_t;
void cli_json_print(json_t *root);
/* The exit code of a library result: FERRY_EUSAGE is 2, other errors 1. */
int cli_exit_code(int rc);

#endif
