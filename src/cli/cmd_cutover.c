/*
 * cmd_cutover.c - `ferry cutover set-phase PHASE --db URL` and `ferry
 * cutover status --db URL`: move the phase every `ferry relay` follows by
 * hand, and see where a cutover stands.  The phase lives in ferry.cutover
 * of the new PostgreSQL database; the relays hear of a change through
 * NOTIFY within a second (see ferry/relay.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/relay.h"

static const char cutover_usage[] =
	"usage: ferry cutover set-phase PHASE --db URL [--by NAME]\n"
	"       ferry cutover status --db URL [--json]\n"
	"\n"
	"Move a live migration between its phases by hand, or show where it\n"
	"stands.  Every `ferry relay` writing to the database follows a change\n"
	"within a second.  The phases, in order:\n"
	"  old-only      writes go to the old store only\n"
	"  dual          the old store is primary, the new one gets every write\n"
	"                through the relay's spool\n"
	"  new-primary   the new store is primary, the old one follows\n"
	"  new-only      writes go to the new store only\n"
	"Any move is allowed (going back is how a cutover is rolled back).\n"
	"\n"
	"options:\n"
	"  --db URL        the new PostgreSQL database (default: $DATABASE_URL)\n"
	"  --by NAME       who moved the phase, kept in ferry.cutover_log\n"
	"                  (default: $USER)\n"
	"  --json          one JSON document on stdout\n"
	"  -q, --quiet     print nothing on success\n"
	"  -v, --verbose   more diagnostics (repeat for debug)\n"
	"  -h, --help      this help\n"
	"\n"
	"exit codes: 0 ok, 1 failed (database unreachable, no cutover yet),\n"
	"2 usage error (an unknown phase)\n";

enum { OPT_DB = 256, OPT_BY };

int cmd_cutover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "by", required_argument, NULL, OPT_BY },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char cmdname[32];
	struct ferry_error err = FERRY_ERROR_INIT;
	const char *db = getenv("DATABASE_URL"), *by = getenv("USER"), *sub;
	int c, rc, set, phase = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(cutover_usage, argc < 2 ? stderr : stdout);
		if (argc < 2) {
			cli_getopt_begin("cutover", argc, argv);
			cli_json_error(FERRY_EXIT_USAGE, "no cutover command: use set-phase or status");
		}
		return argc < 2 ? FERRY_EXIT_USAGE : FERRY_EXIT_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "set-phase") && strcmp(sub, "status")) {
		cli_getopt_begin("cutover", argc, argv);
		return cli_usage("cutover", "'%s' is not a cutover command: use set-phase or status",
				 sub);
	}
	set = !strcmp(sub, "set-phase");
	snprintf(cmdname, sizeof(cmdname), "cutover %s", sub);
	/* argv[1], the subcommand, stands where getopt expects the name */
	cli_getopt_begin(cmdname, argc - 1, argv + 1);
	while ((c = cli_getopt(argc - 1, argv + 1, "h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD: return FERRY_EXIT_USAGE;
		case OPT_DB: db = optarg; break;
		case OPT_BY:
			if (!set)
				return cli_usage(cmdname, "option '--by' is not for '%s'", cmdname);
			by = optarg;
			break;
		case 'h':
			fputs(cutover_usage, stdout);
			return FERRY_EXIT_OK;
		default:
			return cli_usage(cmdname, "unknown option");
		}
	}
	argc--;
	argv++;
	if (set) {
		if (optind >= argc)
			return cli_usage(cmdname, "no phase: give old-only, dual, new-primary or "
					 "new-only");
		if (ferry_phase_parse(argv[optind], &phase) < 0)
			return cli_usage(cmdname, "unknown phase '%s': use old-only, dual, "
					 "new-primary or new-only", argv[optind]);
		optind++;
	}
	if (optind < argc)
		return cli_usage(cmdname, "unexpected argument '%s'", argv[optind]);
	if (!db || !*db)
		return cli_usage(cmdname, "no database: give --db URL (the new PostgreSQL "
				 "database) or set DATABASE_URL");
	if (set) {
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
	} else {
		struct ferry_cutover_status st;

		if ((rc = ferry_cutover_status(db, &st, &err)) < 0)
			goto fail;
		if (cli.json) {
			cli_json_print(json_pack("{s:s, s:s, s:s?, s:s, s:I, s:I, s:f, s:i}",
						 "command", cmdname,
						 "phase", ferry_phase_name(st.phase),
						 "changed_at", st.changed_at[0] ? st.changed_at : NULL,
						 "changed_by", st.changed_by,
						 "relays", (json_int_t)st.relays,
						 "spool_records", (json_int_t)st.spool_records,
						 "replay_lag_seconds", st.replay_lag_s,
						 "exit_code", FERRY_EXIT_OK));
		} else if (!cli.quiet) {
			printf("phase:       %s\n", ferry_phase_name(st.phase));
			if (st.changed_at[0])
				printf("changed:     %s by %s\n", st.changed_at,
				       st.changed_by[0] ? st.changed_by : "unknown");
			else
				printf("changed:     never (the first relay set it)\n");
			printf("relays:      %lld reported in the last minute\n",
			       (long long)st.relays);
			printf("spool:       %lld records not yet replayed\n",
			       (long long)st.spool_records);
			printf("replay lag:  %.1f s\n", st.replay_lag_s);
		}
		return FERRY_EXIT_OK;
	}
fail:
	cli_error(&err);
	cli_json_error(cli_exit_code(rc), err.msg);
	return cli_exit_code(rc);
}
