/*
 * relay.h - `ferry relay` and `ferry cutover` (module relay/, the live half
 * of a migration; see ../shared/DESIGN.md, "Relay and cutover").
 *
 * The relay is a drop-in InfluxDB write endpoint.  Every write is parsed and
 * checked as `ferry copy lp://` checks a file, written to the primary store
 * of the current phase and appended, fsync'd, to the spool of the
 * secondary store before the client gets its 204.  A replay thread feeds
 * the spool into the secondary in order; the PostgreSQL sink records the
 * spool position it committed in the same transaction as the rows, so a
 * replay after kill -9 never doubles a row.
 *
 * Ownership: every string in struct ferry_relay_opts is borrowed from the
 * caller, except those that ferry_relay_config_load() and
 * ferry_relay_env_load() set: those live in opts->owned and die with
 * ferry_relay_opts_release().
 */
#ifndef FERRY_RELAY_H
#define FERRY_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"
#include "ferry/tsmap.h"

/* The phases of a cutover, in order (ferry.cutover in the new database). */
enum ferry_phase {
	FERRY_PHASE_OLD_ONLY = 0,    /* old store only */
	FERRY_PHASE_DUAL,            /* old primary, new through the spool */
	FERRY_PHASE_NEW_PRIMARY,     /* new primary, old through the spool */
	FERRY_PHASE_NEW_ONLY         /* new store only */
};

/* "old-only", "dual", "new-primary", "new-only"; NULL for a bad value. */
const char *ferry_phase_name(int phase);
/* 0 and *phase set, or FERRY_EUSAGE. */
int ferry_phase_parse(const char *s, int *phase);

struct ferry_relay_opts {
	const char *listen;          /* HOST:PORT; default ":8086" (every address) */
	const char *old_url;         /* influx:// or postgres:// */
	const char *new_url;         /* postgres:// (or influx://) */
	const char *spool_dir;       /* required when a phase has a secondary */
	uint64_t spool_max;          /* bytes; 0 = 1 GiB */
	const char *phase;           /* first phase when ferry.cutover has none; NULL = dual */
	const char *cutover_db;      /* postgres:// URL of ferry.cutover (the phase);
				      * NULL = the PostgreSQL store (new, else old),
				      * none: the phase stays fixed */
	struct ferry_ts_opts ts;     /* layout, map, table, series_tag, keep_ns of the
				      * PostgreSQL rows: the same as `ferry copy` */
	size_t max_body;             /* bytes of a decoded body; 0 = 25,000,000 (influxd) */
	int threads;                 /* HTTP worker threads; 0 = 4 per core */
	const char *const *databases;/* databases /write accepts (NULL-terminated);
				      * NULL = the database of the influx:// URL, else
				      * "home_assistant" */
	const char *auth_user;       /* NULL: auth off, credentials ignored (influxd's
				      * default); else /write needs these */
	const char *auth_password;
	const char *devices_table;   /* /api/v1/telemetry: API keys to device ids, a
				      * table in the new database; NULL = "devices" */
	const char *devices_key_column;   /* NULL = "api_key" */
	const char *devices_id_column;    /* NULL = "device_id" */
	const char *telemetry_measurement;/* NULL = "telemetry" */
	int commit_window_us;        /* primary group commit window; 0 = 2000 */
	const char *mqtt_url;        /* mqtt[s]://[user[:pw]@]host[:port]; NULL: no MQTT */
	const char *mqtt_password;   /* when the URL has a user and no password
				      * (environment or file only: not in `ps`) */
	const char *mqtt_cafile;     /* mqtts://: CA file or directory; NULL: the system's */
	const char *mqtt_cert;       /* mqtts://: client certificate (PEM) */
	const char *mqtt_key;        /* mqtts://: its private key (PEM) */
	int mqtt_insecure;           /* mqtts://: check neither certificate nor host name */
	const char *mqtt_map;        /* the subscriptions (YAML) */
	const char *mqtt_client_id;  /* the broker keeps our session under it;
				      * NULL = "ferry-relay-" + host name */
	void *owned;                 /* strings the loaders allocated */
};

/* Is s a postgres:// (or postgresql://) URL?  1 or 0 (--cutover-db). */
int ferry_relay_is_pg_url(const char *s);

void ferry_relay_opts_init(struct ferry_relay_opts *o);
void ferry_relay_opts_release(struct ferry_relay_opts *o);
/* Fill the options a YAML file sets (keys as the long options without
 * "--": listen, old, new, spool, spool-max, phase, cutover-db, layout, map, table,
 * series-tag, keep-ns, max-body, threads, databases (a list), auth
 * {user, password}, devices {table, key-column, id-column, measurement},
 * commit-window-us, mqtt, mqtt-map, mqtt-client-id, mqtt-password, mqtt-cafile,
 * mqtt-cert, mqtt-key, mqtt-insecure).  An unknown key is FERRY_EUSAGE naming it and the
 * line.  Only options still unset are filled: load the command line
 * first, then the environment, then the file. */
int ferry_relay_config_load(struct ferry_relay_opts *o, const char *path,
			    struct ferry_error *err);
/* The same from FERRY_RELAY_LISTEN, FERRY_RELAY_OLD, FERRY_RELAY_NEW,
 * FERRY_RELAY_SPOOL, ... (the key upper-cased, '-' as '_';
 * FERRY_RELAY_DATABASES comma-separated, FERRY_RELAY_AUTH_USER, ...). */
int ferry_relay_env_load(struct ferry_relay_opts *o, struct ferry_error *err);

/* Run the relay until SIGINT or SIGTERM (then drain: stop taking writes,
 * finish the ones in flight, leave the spool for the next start).
 * 0 after a clean stop, else a negative FERRY_E* with err set. */
int ferry_relay_run(const struct ferry_relay_opts *o, struct ferry_error *err);

/* What `ferry cutover status` prints. */
struct ferry_cutover_status {
	int phase;                   /* enum ferry_phase */
	char changed_at[40];         /* RFC 3339, "" when never changed */
	char changed_by[128];
	int64_t relays;              /* relays that reported in the last minute */
	int64_t spool_records;       /* what they have not replayed, summed */
	double replay_lag_s;         /* the largest of theirs */
};

/* Move the phase stored in the PostgreSQL database url to phase (creating
 * ferry.cutover when missing) and notify every relay; by is logged. */
int ferry_cutover_set_phase(const char *url, int phase, const char *by,
			    struct ferry_error *err);
int ferry_cutover_status(const char *url, struct ferry_cutover_status *out,
			 struct ferry_error *err);
/* Let go of relay id in ferry.relays of url: a relay that is not running
 * and will not run again (its machine gone), which the gates would wait
 * for: marked stopped, the records its spool held given up (*records:
 * how many it last reported), logged with by.  FERRY_ENOTFOUND for no
 * such relay, FERRY_EINVAL for one that reported in the last 30 s. */
int ferry_cutover_forget_relay(const char *url, const char *id, const char *by,
			       int64_t *records, struct ferry_error *err);

/* ---- ferry cutover: the gated state machine (cutover.c, cutover_gates.c) --
 *
 * One plan per new database (ferry.cutover_plan), moved step by step:
 *   prepare -> dual-write -> backfill -> validate -> switchover -> cleanup
 * Each step has exit gates (a table in cutover_gates.c); advance moves on
 * only when all of them pass, and every attempt is logged with its gates
 * in ferry.cutover_log.  A step sets the relays' phase:
 *   prepare old-only; dual-write, backfill, validate dual; switchover
 *   new-primary; cleanup new-only.  Strategy gradual switches waves of
 *   measurements or series in switchover, one per advance (each point by
 *   its wave's phase, ferry.cutover_waves).
 * Results come back as one JSON document (a string the caller frees with
 * ferry_free): the plan, the gates with their figures, the relays, the log. */
enum ferry_cutover_step {
	FERRY_STEP_PREPARE = 0,
	FERRY_STEP_DUAL_WRITE,
	FERRY_STEP_BACKFILL,
	FERRY_STEP_VALIDATE,
	FERRY_STEP_SWITCHOVER,
	FERRY_STEP_CLEANUP,
	FERRY_STEP_N
};

/* "prepare", "dual-write", ...; NULL for a bad value. */
const char *ferry_cutover_step_name(int step);
/* 0 and *step set, or FERRY_EUSAGE. */
int ferry_cutover_step_parse(const char *s, int *step);
/* The relay phase of a step (enum ferry_phase). */
int ferry_cutover_step_phase(int step);
/* "dual-write", "immediate", "gradual", "blue-green": 0, or FERRY_EUSAGE. */
int ferry_cutover_strategy_check(const char *s);

/* advance: the gates did not all pass (not an error: the plan is unchanged) */
#define FERRY_CUTOVER_REFUSED 1

struct ferry_cutover_opts {
	const char *db;              /* the new PostgreSQL: the plan lives there */
	const char *by;              /* who, for the log; NULL = "unknown" */
	/* prepare */
	const char *old_url;         /* the old store (kept whole: backfill and
				      * verify read it; printed without password) */
	const char *new_url;         /* the new store the backfill, the verify and
				      * the schema gate write and read: influx://
				      * or postgres://; NULL = db */
	struct ferry_ts_opts ts;     /* layout, map, table, series_tag, keep_ns;
				      * chunk_time for the backfill and verify */
	const char *strategy;        /* NULL = dual-write */
	double soak_s;               /* switchover -> cleanup; < 0 = 3600 */
	const char *switch_cmd;      /* run (sh -c) after switchover; NULL none */
	const char *final_export;    /* cleanup: old store -> lp://FILE; NULL none */
	const char *const *queries;  /* NAME=SQL, timed by the query-latency gate */
	size_t nqueries;
	const char *queries_file;    /* YAML: NAME: {sql: .., influxql: ..}; NULL none */
	/* automatic rollback: in switchover (new-primary) the relays move the
	 * cutover back to validate (dual) when the new store's failed writes
	 * over the window reach the threshold, counted once they wrote at
	 * least min_writes in it; 0 = the defaults 5%, 60 s, 20 */
	double rollback_threshold;   /* a fraction: 0.05 */
	double rollback_window_s;
	int rollback_min_writes;
	/* live consistency: in dual the relays sample 1 in this many writes
	 * (at most 60 a minute each); 0 = 100 */
	int sample_every;
	/* gradual: the waves in order, each "[NAME:]SEL[,SEL...]" (SEL a
	 * measurement glob or TAG=GLOB); waves_spec the same separated by
	 * ';'; the points of no wave are the last wave, "rest" */
	const char *const *waves;
	size_t nwaves;
	const char *waves_spec;
	int truncate;                /* empty the narrow table when it holds rows
				      * (else prepare refuses: the backfill would
				      * write them twice) */
	/* advance */
	int wait;                    /* re-check every 2 s until the gates pass */
	int64_t max_errors;          /* the backfill and catch-up gates pass with
				      * at most this many rejected rows (rows the
				      * new store cannot hold, in the rejects
				      * file the figure names); 0: none */
	double timeout_s;            /* with wait; <= 0: no limit */
	int progress_mode;           /* backfill and verify progress */
	FILE *progress_out;          /* NULL = stderr */
	FILE *out;                   /* gate lines as they are evaluated; NULL none */
	/* rollback */
	int to_step;                 /* -1: one step back */
};

void ferry_cutover_opts_init(struct ferry_cutover_opts *o);
/* Record the plan (step prepare, relays to old-only), create the target
 * schema as ferry copy does, evaluate the prepare gates.  A plan already
 * past prepare is FERRY_EEXIST (abort it first). */
int ferry_cutover_prepare(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err);
/* Evaluate the current step's exit gates and move to the next step when
 * they pass: 0 moved, FERRY_CUTOVER_REFUSED, or a negative FERRY_E*
 * (FERRY_ELOCKED: another ferry cutover is moving this plan). */
int ferry_cutover_advance(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err);
/* One step back (or to o->to_step); refused after cleanup. */
int ferry_cutover_rollback(const struct ferry_cutover_opts *o, char **json,
			   struct ferry_error *err);
/* Back to old-only, the plan marked aborted. */
int ferry_cutover_abort(const struct ferry_cutover_opts *o, char **json,
			struct ferry_error *err);
/* The plan, the current step's gates (those that do work show their last
 * result), the relays, the log; *json NULL when no plan is recorded. */
int ferry_cutover_report(const char *db, char **json, struct ferry_error *err);

#endif
