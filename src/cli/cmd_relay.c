/*
 * cmd_relay.c - `ferry relay`: the options (command line, then
 * FERRY_RELAY_* variables, then a YAML file: each fills only what the one
 * before left unset), then ferry_relay_run() until SIGINT/SIGTERM.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "ferry/alloc.h"
#include "ferry/log.h"
#include "ferry/relay.h"
#include "ferry/size.h"
#include "ferry/tsmap.h"

static const char relay_usage[] =
	"usage: ferry relay --old URL --new URL --spool DIR [options]\n"
	"\n"
	"An InfluxDB write endpoint (/write, /api/v2/write, /api/v1/telemetry)\n"
	"in front of the old store and the new one: each write goes to the\n"
	"primary store of the current phase and, fsync'd, to the spool of the\n"
	"other before the client gets its 204; the spool is replayed into the\n"
	"secondary in order.  The phase lives in ferry.cutover of the new\n"
	"database (or of --cutover-db URL); move it with `ferry cutover\n"
	"set-phase`.\n"
	"A status page (phase, cutover step and gates, rates, latency, spool)\n"
	"is served at / of --listen; its data as JSON at /api/status.\n"
	"\n"
	"options:\n"
	"  --listen HOST:PORT   where to take writes (default :8086, every address)\n"
	"  --old URL            the old store: influx://HOST:PORT/DB or postgres://\n"
	"  --new URL            the new store: postgres://... (or influx://)\n"
	"  --spool DIR          the spool of the secondary store's writes\n"
	"  --spool-max SIZE     cap of unreplayed spool bytes (default 1GiB); when\n"
	"                       full the relay answers 503 and never drops data\n"
	"  --phase P            first phase when the database has none: old-only,\n"
	"                       dual (default), new-primary, new-only\n"
	"  --layout L           PostgreSQL rows: narrow (default) or wide (a table\n"
	"                       per measurement, grown as tags and fields arrive)\n"
	"  --map FILE           a map file: points: rules map the points first\n"
	"                       (an InfluxDB new store writes the mapped points,\n"
	"                       into its URL's database);\n"
	"                       target:/columns: rows into an existing table\n"
	"  --table T            the narrow table (default telemetry_data)\n"
	"  --series-tag T       the tag that names a series (default entity_id)\n"
	"  --keep-ns            keep nanosecond timestamps in a time_ns column\n"
	"  --max-body SIZE      largest decoded body (default 25MB, as influxd)\n"
	"  --threads N          HTTP worker threads (default 4 per core)\n"
	"  --db NAME            a database /write accepts (repeatable; default the\n"
	"                       database of the influx:// URL)\n"
	"  --cutover-db URL     the PostgreSQL database that holds the cutover phase\n"
	"                       (ferry.cutover) when neither store is PostgreSQL\n"
	"                       (default: the PostgreSQL store; with none the\n"
	"                       phase stays --phase)\n"
	"  --auth USER:PASS     require these credentials (default: auth off,\n"
	"                       credentials ignored, as influxd)\n"
	"  --mqtt URL           also subscribe to an MQTT broker:\n"
	"                       mqtt://[USER[:PASS]@]HOST[:PORT] (port 1883) or\n"
	"                       mqtts://... (TLS, port 8883); a QoS 1/2 message\n"
	"                       is acknowledged after the ack rule holds; the\n"
	"                       password may come from $FERRY_RELAY_MQTT_PASSWORD\n"
	"  --mqtt-map FILE      the subscriptions and how messages become points\n"
	"                       (YAML; examples/mqtt/)\n"
	"  --mqtt-client-id ID  the broker keeps our session under this id\n"
	"                       (default ferry-relay-HOSTNAME)\n"
	"  --mqtt-cafile FILE   mqtts://: the CA certificates (PEM file or\n"
	"                       directory) the broker's certificate must chain\n"
	"                       to (default: the system's CA store)\n"
	"  --mqtt-cert FILE     mqtts://: a client certificate (PEM), for brokers\n"
	"  --mqtt-key FILE      that require one, and its private key\n"
	"  --mqtt-insecure      mqtts://: check neither the broker's certificate\n"
	"                       nor its host name (testing only: warned at start)\n"
	"  --config FILE        a YAML file of these options (keys as the long\n"
	"                       options: listen, old, ..., databases: [..],\n"
	"                       auth: {user, password}, devices: {table,\n"
	"                       key-column, id-column, measurement},\n"
	"                       commit-window-us, mqtt, mqtt-map,\n"
	"                       mqtt-client-id, mqtt-password, mqtt-cafile,\n"
	"                       mqtt-cert, mqtt-key, mqtt-insecure); default\n"
	"                       $FERRY_RELAY_CONFIG\n"
	"  --json               print the final status (after a stop) as JSON\n"
	"  -q, --quiet          log warnings and errors only (default: one line\n"
	"                       per event: start, phase, a store down or back)\n"
	"  -v, --verbose        more diagnostics (repeat for debug)\n"
	"  -h, --help           this help\n"
	"\n"
	"Every option can also come from the environment: FERRY_RELAY_ and the\n"
	"key in upper case with '_' for '-' and '.' (FERRY_RELAY_SPOOL_MAX,\n"
	"FERRY_RELAY_DATABASES=a,b, FERRY_RELAY_AUTH_USER).  The command line\n"
	"wins over the environment, the environment over the file.\n"
	"Sizes: 25000000, 25MB (decimal), 1GiB or 64M (binary).\n"
	"\n"
	"exit codes: 0 stopped cleanly (SIGINT, SIGTERM), 1 failed, 2 usage or\n"
	"configuration error\n";

enum {
	OPT_LISTEN = 256, OPT_OLD, OPT_NEW, OPT_SPOOL, OPT_SPOOL_MAX, OPT_PHASE,
	OPT_MAX_BODY, OPT_THREADS, OPT_DB, OPT_CUTOVER_DB, OPT_AUTH, OPT_CONFIG, OPT_MQTT,
	OPT_MQTT_MAP, OPT_MQTT_CLIENT_ID, OPT_MQTT_CAFILE, OPT_MQTT_CERT, OPT_MQTT_KEY,
	OPT_MQTT_INSECURE
};

int cmd_relay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "old", required_argument, NULL, OPT_OLD },
		{ "new", required_argument, NULL, OPT_NEW },
		{ "spool", required_argument, NULL, OPT_SPOOL },
		{ "spool-max", required_argument, NULL, OPT_SPOOL_MAX },
		{ "phase", required_argument, NULL, OPT_PHASE },
		{ "layout", required_argument, NULL, CLI_TS_LAYOUT },
		{ "map", required_argument, NULL, CLI_TS_MAP },
		{ "table", required_argument, NULL, CLI_TS_TABLE },
		{ "series-tag", required_argument, NULL, CLI_TS_SERIES_TAG },
		{ "keep-ns", no_argument, NULL, CLI_TS_KEEP_NS },
		{ "max-body", required_argument, NULL, OPT_MAX_BODY },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "db", required_argument, NULL, OPT_DB },
		{ "cutover-db", required_argument, NULL, OPT_CUTOVER_DB },
		{ "auth", required_argument, NULL, OPT_AUTH },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "mqtt", required_argument, NULL, OPT_MQTT },
		{ "mqtt-map", required_argument, NULL, OPT_MQTT_MAP },
		{ "mqtt-client-id", required_argument, NULL, OPT_MQTT_CLIENT_ID },
		{ "mqtt-cafile", required_argument, NULL, OPT_MQTT_CAFILE },
		{ "mqtt-cert", required_argument, NULL, OPT_MQTT_CERT },
		{ "mqtt-key", required_argument, NULL, OPT_MQTT_KEY },
		{ "mqtt-insecure", no_argument, NULL, OPT_MQTT_INSECURE },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct cli_strlist dbs = { NULL, 0 };
	const char *config = getenv("FERRY_RELAY_CONFIG");
	char *auth = NULL, *colon;
	uint64_t v;
	int c, rc, phase, ret = FERRY_EXIT_USAGE;

	ferry_relay_opts_init(&o);
	cli_getopt_begin("relay", argc, argv);
	while ((c = cli_getopt(argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case CLI_OPT_BAD: goto out;
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_OLD: o.old_url = optarg; break;
		case OPT_NEW: o.new_url = optarg; break;
		case OPT_SPOOL: o.spool_dir = optarg; break;
		case OPT_SPOOL_MAX:
			if (ferry_size_parse(optarg, &v) < 0 || !v) {
				cli_usage("relay", "invalid --spool-max '%s': use e.g. 1GiB, 500MB, "
					  "1048576", optarg);
				goto out;
			}
			o.spool_max = v;
			break;
		case OPT_PHASE:
			if (ferry_phase_parse(optarg, &phase) < 0) {
				cli_usage("relay", "unknown --phase '%s': use old-only, dual, "
					  "new-primary or new-only", optarg);
				goto out;
			}
			o.phase = optarg;
			break;
		case CLI_TS_LAYOUT:
			if (strcmp(optarg, "narrow") && strcmp(optarg, "wide")) {
				cli_usage("relay", "unknown --layout '%s': use narrow or wide "
					  "(or --map FILE)", optarg);
				goto out;
			}
			/* fall through */
		case CLI_TS_MAP:
		case CLI_TS_TABLE:
		case CLI_TS_SERIES_TAG:
		case CLI_TS_KEEP_NS:
			cli_ts_option(c, optarg, &o.ts);
			break;
		case OPT_MAX_BODY:
			if (ferry_size_parse(optarg, &v) < 0 || !v || v > SIZE_MAX) {
				cli_usage("relay", "invalid --max-body '%s': use e.g. 25MB, 25000000",
					  optarg);
				goto out;
			}
			o.max_body = (size_t)v;
			break;
		case OPT_THREADS: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (!*optarg || *end || n <= 0 || n > 4096) {
				cli_usage("relay", "invalid --threads '%s' (1..4096)", optarg);
				goto out;
			}
			o.threads = (int)n;
			break;
		}
		case OPT_CUTOVER_DB:
			if (o.cutover_db) {
				cli_usage("relay", "--cutover-db given twice ('%s', '%s'): the "
					  "phase lives in one database", o.cutover_db, optarg);
				goto out;
			}
			if (!ferry_relay_is_pg_url(optarg)) {
				cli_usage("relay", "invalid --cutover-db '%s': give the postgres:// "
					  "URL of the database that holds the phase", optarg);
				goto out;
			}
			o.cutover_db = optarg;
			break;
		case OPT_DB:
			if (ferry_relay_is_pg_url(optarg)) {
				cli_usage("relay", "--db '%s' names a database /write accepts; the "
					  "database of the cutover phase is --cutover-db URL", optarg);
				goto out;
			}
			if (!*optarg || cli_strlist_push(&dbs, optarg) < 0) {
				cli_usage("relay", "invalid --db '%s'", optarg);
				goto out;
			}
			break;
		case OPT_AUTH:
			ferry_free(auth);
			if (!(auth = ferry_strdup(optarg)) || !(colon = strchr(auth, ':')) ||
			    colon == auth) {
				cli_usage("relay", "invalid --auth: give USER:PASSWORD");
				goto out;
			}
			*colon = '\0';
			o.auth_user = auth;
			o.auth_password = colon + 1;
			break;
		case OPT_CONFIG: config = optarg; break;
		case OPT_MQTT: o.mqtt_url = optarg; break;
		case OPT_MQTT_MAP: o.mqtt_map = optarg; break;
		case OPT_MQTT_CLIENT_ID: o.mqtt_client_id = optarg; break;
		case OPT_MQTT_CAFILE: o.mqtt_cafile = optarg; break;
		case OPT_MQTT_CERT: o.mqtt_cert = optarg; break;
		case OPT_MQTT_KEY: o.mqtt_key = optarg; break;
		case OPT_MQTT_INSECURE: o.mqtt_insecure = 1; break;
		case 'h':
			fputs(relay_usage, stdout);
			ret = FERRY_EXIT_OK;
			goto out;
		default:
			cli_usage("relay", "unknown option");
			goto out;
		}
	}
	if (optind < argc) {
		cli_usage("relay", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (dbs.n)
		o.databases = dbs.v;
	/* the command line is in o: the environment, then the file, fill the rest */
	if ((rc = ferry_relay_env_load(&o, &err)) < 0 ||
	    (config && *config && (rc = ferry_relay_config_load(&o, config, &err)) < 0))
		goto fail;
	if (!o.old_url && !o.new_url) {
		cli_usage("relay", "no stores: give --old URL and --new URL");
		goto out;
	}
	if (o.old_url && o.new_url && !o.spool_dir) {
		cli_usage("relay", "no spool: give --spool DIR (the secondary store's writes "
			  "wait there while it is down)");
		goto out;
	}
	/* a service logs one line per event (start, phase, a store down or
	 * back, dead letters); -q keeps warnings and errors only */
	if (!cli.quiet && ferry_log_get_level() < FERRY_LOG_INFO)
		ferry_log_set_level(FERRY_LOG_INFO);
	if ((rc = ferry_relay_run(&o, &err)) < 0)
		goto fail;
	if (cli.json)
		cli_json_print(json_pack("{s:s, s:i}", "command", "relay", "exit_code",
					 FERRY_EXIT_OK));
	ret = FERRY_EXIT_OK;
	goto out;
fail:
	cli_error(&err);
	ret = cli_exit_code(rc);
	cli_json_error(ret, err.msg);
out:
	ferry_relay_opts_release(&o);
	free(dbs.v);
	ferry_free(auth);
	return ret;
}
