/*
 * cutover.c - `ferry cutover prepare | advance | rollback | abort | status`:
 * a migration as one resumable state machine whose state lives in the new
 * database, so any machine can see and move it.
 *
 *   ferry.cutover_plan  one row: the old store (its URL whole: backfill and
 *                       verify read it; only the redacted form is shown),
 *                       layout or map (and the map's digest), strategy, the
 *                       step and since when, T0, the T0 the backfill ran
 *                       with, soak, switch command, final export, the gates
 *                       of the last advance, who made it and when
 *   ferry.cutover_log   (phase.c's) with step, action and gates added: one
 *                       row per prepare, advance (moved or refused),
 *                       rollback, abort; a row that moved the phase is the
 *                       row of that move
 *
 * Who moves: a command that changes the plan holds a session advisory
 * lock on the control connection for its whole run (a backfill included),
 * so a second operator is told at once that someone else is moving it, and
 * a kill -9 frees it with the connection.  Each move is one transaction:
 * the plan row (FOR UPDATE), the relays' phase, the log row and the NOTIFY.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/copy.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/url.h"
#include "model/value.h"
#include "relay/cutover_int.h"
#include "relay/store.h"

/* pg_try_advisory_lock key of a command moving the plan (not the DDL's) */
#define MOVE_LOCK_KEY "7378707290140276085"
#define MOVE_LOCK_WAIT_MS 3000   /* for a command that just ended to let it go */
#define WAIT_S 2

static const char *const step_names[FERRY_STEP_N] = {
	"prepare", "dual-write", "backfill", "validate", "switchover", "cleanup"
};
static const int step_phase[FERRY_STEP_N] = {
	FERRY_PHASE_OLD_ONLY, FERRY_PHASE_DUAL, FERRY_PHASE_DUAL, FERRY_PHASE_DUAL,
	FERRY_PHASE_NEW_PRIMARY, FERRY_PHASE_NEW_ONLY
};
static const char *const strategies[] = { "dual-write", "immediate", "gradual", "blue-green" };

const char *ferry_cutover_step_name(int step)
{
	return step >= 0 && step < FERRY_STEP_N ? step_names[step] : NULL;
}

int ferry_cutover_step_parse(const char *s, int *step)
{
	int i;

	for (i = 0; s && i < FERRY_STEP_N; i++)
		if (!strcmp(s, step_names[i])) {
			*step = i;
			return 0;
		}
	return FERRY_EUSAGE;
}

int ferry_cutover_step_phase(int step)
{
	return step >= 0 && step < FERRY_STEP_N ? step_phase[step] : -1;
}

/*
 * The relay phase of a step under a plan's strategy.  blue-green and
 * immediate never write both stores before the switch: the relays stay in
 * old-only through backfill and validate (their dual-write step is
 * skipped: T0 is the moment advance left prepare), and what was written
 * from T0 to the switch reaches the new store by the catch-up copy
 * (cutover_gates.c).  At the switch blue-green goes to new-primary (the
 * old store still written, warm for a rollback), immediate to new-only.
 */
int relay_cut_phase(const struct cut_plan *p, int step)
{
	if (step < 0 || step >= FERRY_STEP_N)
		return -1;
	if (RELAY_CUT_CATCHUP(p) && step < FERRY_STEP_SWITCHOVER)
		return FERRY_PHASE_OLD_ONLY;
	/* gradual: dual until the last wave moved (relay_cut_waves_set) */
	if (RELAY_CUT_GRADUAL(p) && step == FERRY_STEP_SWITCHOVER)
		return FERRY_PHASE_DUAL;
	if (!strcmp(p->strategy, "immediate") && step == FERRY_STEP_SWITCHOVER)
		return FERRY_PHASE_NEW_ONLY;
	return step_phase[step];
}

int ferry_cutover_strategy_check(const char *s)
{
	size_t i;

	for (i = 0; s && i < sizeof(strategies) / sizeof(strategies[0]); i++)
		if (!strcmp(s, strategies[i]))
			return 0;
	return FERRY_EUSAGE;
}

void ferry_cutover_opts_init(struct ferry_cutover_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->soak_s = -1;
	o->to_step = -1;
}

/* ---- the tables ------------------------------------------------------------- */

static const char plan_ddl[] =
	"CREATE TABLE IF NOT EXISTS ferry.cutover_plan ("
	" one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	" status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','aborted')),"
	" strategy text NOT NULL,"
	" step text NOT NULL,"
	" step_since timestamptz NOT NULL DEFAULT now(),"
	" old_url text NOT NULL,"
	" old_shown text NOT NULL,"
	" new_shown text NOT NULL,"
	" layout text, map text, map_digest text, tbl text, series_tag text, chunk_time text,"
	" keep_ns boolean NOT NULL DEFAULT false,"
	" soak_s double precision NOT NULL,"
	" switch_cmd text, final_export text,"
	" t0 timestamptz, backfill_t0 timestamptz,"
	" schema_note text,"
	" last_gates jsonb,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" created_by text NOT NULL DEFAULT '');"
	"ALTER TABLE ferry.cutover_plan ADD COLUMN IF NOT EXISTS queries jsonb,"
	" ADD COLUMN IF NOT EXISTS t1 timestamptz;"
	"ALTER TABLE ferry.cutover_log"
	" ADD COLUMN IF NOT EXISTS step text,"
	" ADD COLUMN IF NOT EXISTS action text,"
	" ADD COLUMN IF NOT EXISTS gates jsonb,"
	" ADD COLUMN IF NOT EXISTS note text;"
	/* automatic rollback (the relays read these in new-primary, and
	 * record what they did in auto_rollback) */
	"ALTER TABLE ferry.cutover_plan"
	" ADD COLUMN IF NOT EXISTS rollback_threshold double precision NOT NULL DEFAULT 0.05,"
	" ADD COLUMN IF NOT EXISTS rollback_window_s double precision NOT NULL DEFAULT 60,"
	" ADD COLUMN IF NOT EXISTS rollback_min_writes integer NOT NULL DEFAULT 20,"
	" ADD COLUMN IF NOT EXISTS auto_rollback jsonb,"
	/* the relays' live consistency samples in dual: 1 in this many writes */
	" ADD COLUMN IF NOT EXISTS sample_every integer NOT NULL DEFAULT 100";

/* us since 1970 <-> timestamptz, exactly (to_timestamp goes through a double) */
#define TS_OF(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 microsecond')"
#define US_OF(c) "(extract(epoch FROM " c ") * 1000000)::bigint"

static int run(PGconn *pg, const char *sql, const char *what, struct ferry_error *err)
{
	return relay_pg_exec(pg, sql, 0, NULL, NULL, what, err);
}

static void rollback_tx(PGconn *pg)
{
	if (PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
		PQclear(PQexec(pg, "ROLLBACK"));
}

/* Inside a transaction: every table of the cutover. */
static int tables(PGconn *pg, struct ferry_error *err)
{
	int rc;

	if ((rc = relay_phase_tables(pg, FERRY_PHASE_OLD_ONLY, NULL, err)) < 0 ||
	    (rc = run(pg, plan_ddl, "cannot create ferry.cutover_plan", err)) < 0)
		return rc;
	/* prepare --new (NULL: the plan's database is the new store) */
	return run(pg, "ALTER TABLE ferry.cutover_plan ADD COLUMN IF NOT EXISTS new_url text",
		   "cannot add ferry.cutover_plan.new_url", err);
}

/* Connect and take the move lock: FERRY_ELOCKED naming the holder when
 * another command has it. */
static PGconn *connect_locked(const char *db, struct ferry_error *err)
{
	struct timespec pause = { 0, 50000000 };
	PGresult *res = NULL;
	PGconn *pg;
	int64_t t0;

	if (!db || !*db) {
		ferry_error_set(err, FERRY_EUSAGE, "no database: give --db URL (the new "
				"PostgreSQL database)");
		return NULL;
	}
	if (!(pg = relay_pg_connect(db, err)))
		return NULL;
	/* a command that just ended may still hold it: its backend ends after
	 * the client has gone (seen under load: the next command refused) */
	for (t0 = relay_pg_now_ms();; nanosleep(&pause, NULL)) {
		PQclear(res);
		res = NULL;
		if (relay_pg_exec(pg, "SELECT pg_try_advisory_lock(" MOVE_LOCK_KEY ")", 0, NULL,
				  &res, "cannot lock the cutover", err) < 0)
			goto fail;
		if (!strcmp(PQgetvalue(res, 0, 0), "t") ||
		    relay_pg_now_ms() - t0 >= MOVE_LOCK_WAIT_MS)
			break;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		res = NULL;
		if (relay_pg_exec(pg, "SELECT coalesce(string_agg(a.pid || ' (' ||"
				  " coalesce(nullif(a.client_addr::text, ''), 'local') || ', since ' ||"
				  " to_char(a.backend_start AT TIME ZONE 'UTC', 'HH24:MI:SS') || ' UTC)',"
				  " ', '), '?') FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
				  " WHERE l.locktype = 'advisory' AND l.granted AND"
				  " ((l.classid::bigint << 32) | l.objid::bigint) = " MOVE_LOCK_KEY,
				  0, NULL, &res, "cannot lock the cutover", err) < 0)
			goto fail;
		ferry_error_set(err, FERRY_ELOCKED, "another ferry cutover command is moving this "
				"cutover right now (PostgreSQL backend %s): wait for it to finish "
				"and look at ferry cutover status", PQgetvalue(res, 0, 0));
		goto fail;
	}
	PQclear(res);
	return pg;
fail:
	PQclear(res);
	PQfinish(pg);
	return NULL;
}

/* ---- the plan ------------------------------------------------------------------ */

static void plan_release(struct cut_plan *p)
{
	ferry_free(p->old_url);
	ferry_free(p->new_url);
	ferry_free(p->layout);
	ferry_free(p->map);
	ferry_free(p->table);
	ferry_free(p->series_tag);
	ferry_free(p->switch_cmd);
	ferry_free(p->final_export);
	ferry_free(p->chunk_time);
	ferry_free(p->queries);
	memset(p, 0, sizeof(*p));
}

static char *col(PGresult *res, int c)
{
	return PQgetisnull(res, 0, c) ? NULL : ferry_strdup(PQgetvalue(res, 0, c));
}

/* The plan's new store, when prepare --new named one (a plan of an older
 * ferry has no column: its new store is the plan's database). */
static int plan_read_new(PGconn *pg, struct cut_plan *p, struct ferry_error *err)
{
	PGresult *res = NULL;
	int rc;

	if ((rc = relay_pg_exec(pg, "SELECT to_jsonb(p) ->> 'new_url' FROM ferry.cutover_plan p",
				0, NULL, &res, "cannot read ferry.cutover_plan", err)) < 0)
		return rc;
	p->new_url = PQntuples(res) == 1 ? col(res, 0) : NULL;
	PQclear(res);
	return 0;
}

/* Read the plan (FOR UPDATE inside a transaction when lock); *last the
 * gates of the last advance (json, or NULL).  FERRY_ENOTFOUND when none. */
static int plan_read(PGconn *pg, int lock, struct cut_plan *p, json_t **last,
		     struct ferry_error *err)
{
	PGresult *res = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if (last)
		*last = NULL;
	if ((rc = relay_pg_exec(pg, "SELECT to_regclass('ferry.cutover_plan') IS NOT NULL", 0,
				NULL, &res, "cannot look for ferry.cutover_plan", err)) < 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		return ferry_error_set(err, FERRY_ENOTFOUND, "no cutover is planned in this "
				       "database: run ferry cutover prepare");
	}
	PQclear(res);
	res = NULL;
	if ((rc = relay_pg_exec(pg, lock ?
				"SELECT status, strategy, step, extract(epoch FROM now() - step_since),"
				" old_url, layout, map, tbl, series_tag, keep_ns, soak_s, switch_cmd,"
				" final_export, " US_OF("t0") ", " US_OF("backfill_t0") ","
				" last_gates::text, chunk_time, queries::text, " US_OF("t1") " FROM ferry.cutover_plan FOR UPDATE" :
				"SELECT status, strategy, step, extract(epoch FROM now() - step_since),"
				" old_url, layout, map, tbl, series_tag, keep_ns, soak_s, switch_cmd,"
				" final_export, " US_OF("t0") ", " US_OF("backfill_t0") ","
				" last_gates::text, chunk_time, queries::text, " US_OF("t1") " FROM ferry.cutover_plan",
				0, NULL, &res, "cannot read ferry.cutover_plan", err)) < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return ferry_error_set(err, FERRY_ENOTFOUND, "no cutover is planned in this "
				       "database: run ferry cutover prepare");
	}
	snprintf(p->status, sizeof(p->status), "%s", PQgetvalue(res, 0, 0));
	snprintf(p->strategy, sizeof(p->strategy), "%s", PQgetvalue(res, 0, 1));
	if (ferry_cutover_step_parse(PQgetvalue(res, 0, 2), &p->step) < 0) {
		rc = ferry_error_set(err, FERRY_ESQL, "ferry.cutover_plan holds an unknown step "
				     "'%s'", PQgetvalue(res, 0, 2));
		PQclear(res);
		return rc;
	}
	p->step_age_s = strtod(PQgetvalue(res, 0, 3), NULL);
	p->old_url = col(res, 4);
	p->layout = col(res, 5);
	p->map = col(res, 6);
	p->table = col(res, 7);
	p->series_tag = col(res, 8);
	p->keep_ns = !strcmp(PQgetvalue(res, 0, 9), "t");
	p->soak_s = strtod(PQgetvalue(res, 0, 10), NULL);
	p->switch_cmd = col(res, 11);
	p->final_export = col(res, 12);
	p->t0_us = PQgetisnull(res, 0, 13) ? 0 : strtoll(PQgetvalue(res, 0, 13), NULL, 10);
	p->backfill_t0_us = PQgetisnull(res, 0, 14) ? 0 :
			    strtoll(PQgetvalue(res, 0, 14), NULL, 10);
	p->chunk_time = col(res, 16);
	p->queries = col(res, 17);
	p->t1_us = PQgetisnull(res, 0, 18) ? 0 : strtoll(PQgetvalue(res, 0, 18), NULL, 10);
	if (last && !PQgetisnull(res, 0, 15))
		*last = json_loads(PQgetvalue(res, 0, 15), 0, NULL);
	PQclear(res);
	if (!p->old_url)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return plan_read_new(pg, p, err);
}

/* ---- the log ------------------------------------------------------------------- */

/* Inside the move's transaction: move the relays to phase (when it
 * differs from the stored one; phase -1: leave it) and log the event in
 * that same row. */
static int log_event(PGconn *pg, const char *by, int phase, const char *step,
		     const char *action, json_t *gates, const char *note,
		     struct ferry_error *err)
{
	char *g = gates ? json_dumps(gates, JSON_COMPACT) : NULL;
	const char *p[5] = { step, action, g, note, by ? by : "" };  /* $5: INSERT only */
	const char *ph[1] = { ferry_phase_name(phase) };
	PGresult *res = NULL;
	int rc, same;

	if (phase < 0) {
		same = 1;
	} else {
		if ((rc = relay_pg_exec(pg, "SELECT phase = $1 FROM ferry.cutover", 1, ph, &res,
					"cannot read ferry.cutover", err)) < 0)
			goto out;
		same = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
		res = NULL;
	}
	if (!same) {
		if ((rc = relay_phase_set_tx(pg, phase, by, err)) < 0)
			goto out;
		rc = relay_pg_exec(pg, "UPDATE ferry.cutover_log SET step = $1, action = $2,"
				   " gates = $3::jsonb, note = $4 WHERE id ="
				   " currval(pg_get_serial_sequence('ferry.cutover_log', 'id'))",
				   4, p, NULL,
				   "cannot log in ferry.cutover_log", err);
	} else {
		rc = relay_pg_exec(pg, "INSERT INTO ferry.cutover_log (phase, previous, changed_by,"
				   " step, action, gates, note) SELECT phase, phase, $5, $1, $2,"
				   " $3::jsonb, $4 FROM ferry.cutover", 5, p, NULL,
				   "cannot log in ferry.cutover_log", err);
	}
out:
	free(g);
	return rc;
}

/* ---- the document ------------------------------------------------------------- */

static json_t *query_json(PGconn *pg, const char *sql, struct ferry_error *err)
{
	PGresult *res = NULL;
	json_t *j;

	if (relay_pg_exec(pg, sql, 0, NULL, &res, "cannot read the cutover", err) < 0)
		return NULL;
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!j)
		ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return j;
}

/* The plan, the gates, the relays and the log as one document. */
static int doc_build(PGconn *pg, json_t *gates, const char *note, char **out,
		     struct ferry_error *err)
{
	json_t *doc, *relays = NULL, *log = NULL;
	int rc = FERRY_ENOMEM;

	*out = NULL;
	if (!(doc = query_json(pg, "SELECT row_to_json(p) FROM (SELECT status, strategy, step,"
			       " " RELAY_PG_RFC("step_since") " AS step_since,"
			       " (SELECT phase FROM ferry.cutover) AS phase,"
			       " old_shown AS old, new_shown AS new, layout, map, map_digest,"
			       " tbl AS table, series_tag, keep_ns, chunk_time, " RELAY_PG_RFC("t0") " AS t0,"
			       " soak_s AS soak_seconds, switch_cmd, final_export, schema_note,"
			       " " RELAY_PG_RFC("created_at") " AS created_at, created_by,"
			       /* through to_jsonb: status reads a plan made by a ferry
				* before these columns without adding them */
			       " to_jsonb(cp) -> 'rollback_threshold' AS rollback_threshold,"
			       " to_jsonb(cp) -> 'rollback_window_s' AS rollback_window_seconds,"
			       " to_jsonb(cp) -> 'rollback_min_writes' AS rollback_min_writes,"
			       " to_jsonb(cp) -> 'sample_every' AS sample_every,"
			       " to_jsonb(cp) -> 'auto_rollback' AS auto_rollback"
			       " FROM ferry.cutover_plan cp) p", err)) ||
	    !(relays = query_json(pg, "SELECT coalesce(json_agg(r ORDER BY relay_id), '[]')"
				  " FROM (SELECT relay_id, listen, phase,"
				  " " RELAY_PG_RFC("phase_since") " AS phase_since,"
				  " round(extract(epoch FROM now() - last_seen)::numeric, 1)"
				  "  AS seen_seconds_ago,"
				  " " CUT_LIVE("x") " AS live,"
				  " to_jsonb(x) -> 'stopped_at' AS stopped_at,"
				  " ready, spool_ok, spool_records, replay_lag_s AS replay_lag_seconds,"
				  " old_writes, old_errors, new_writes, new_errors,"
				  " to_jsonb(x) -> 'waves' AS waves, to_jsonb(x) -> 'wave_writes' AS"
				  " wave_writes, to_jsonb(x) -> 'wave_errors' AS wave_errors,"
				  " window_s AS window_seconds FROM ferry.relays x"
				  /* and those silent without stopping, however long:
				   * they hold the phase gates */
				  " WHERE last_seen > now() - interval '1 hour'"
				  " OR to_jsonb(x) ->> 'stopped_at' IS NULL) r", err)) ||
	    !(log = query_json(pg, "SELECT coalesce(json_agg(l ORDER BY id), '[]') FROM"
			       " (SELECT id, " RELAY_PG_RFC("changed_at") " AS at, changed_by AS by, action,"
			       " step, previous, phase, gates, note FROM ferry.cutover_log"
			       " ORDER BY id DESC LIMIT 100) l", err))) {
		rc = err && err->code ? err->code : FERRY_ENOMEM;
		goto out;
	}
	/* gradual: the waves with their phases (a plan of another strategy
	 * has none; a database of an older ferry no table) */
	{
		PGresult *r = NULL;
		json_t *w;

		if (relay_pg_exec(pg, "SELECT to_regclass('ferry.cutover_waves') IS NOT NULL", 0,
				  NULL, &r, "cannot look for ferry.cutover_waves", err) < 0)
			goto out;
		rc = !strcmp(PQgetvalue(r, 0, 0), "t");
		PQclear(r);
		if (rc && !(w = query_json(pg, "SELECT coalesce(json_agg(json_build_object("
					   "'wave', n, 'name', name, 'match', match, 'phase', phase,"
					   " 'since', " RELAY_PG_RFC("since") ", 'changed_by', changed_by)"
					   " ORDER BY n), '[]') FROM ferry.cutover_waves", err))) {
			rc = err && err->code ? err->code : FERRY_ENOMEM;
			goto out;
		}
		if (rc && json_array_size(w) && json_object_set_new(doc, "waves", w) < 0)
			rc = FERRY_ENOMEM;
		else if (rc && !json_array_size(w))
			json_decref(w);
		if (rc == FERRY_ENOMEM)
			goto out;
		rc = FERRY_ENOMEM;
	}
	if (json_object_set_new(doc, "gates", gates ? json_incref(gates) : json_array()) < 0 ||
	    json_object_set(doc, "relays", relays) < 0 || json_object_set(doc, "log", log) < 0 ||
	    (note && json_object_set_new(doc, "note", json_string(note)) < 0))
		goto out;
	if ((*out = json_dumps(doc, JSON_INDENT(2))))
		rc = 0;
out:
	if (rc == FERRY_ENOMEM && (!err || !err->code))
		ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	json_decref(doc);
	json_decref(relays);
	json_decref(log);
	return rc;
}

static void ctx_init(struct cut_ctx *c, PGconn *pg, const struct ferry_cutover_opts *o,
		     const char *db, struct cut_plan *plan, int work)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	memset(c, 0, sizeof(*c));
	c->pg = pg;
	c->o = o;
	c->db = db;
	c->plan = plan;
	c->work = work;
	/* a failed read leaves no waves: the wave gates then do not apply,
	 * and the move refuses (see wave_move) */
	if (relay_cut_waves_read(c, &err) < 0)
		ferry_warn("cutover: %s", err.msg);
}

/* ---- prepare -------------------------------------------------------------------- */

int ferry_cutover_prepare(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err)
{
	struct ferry_buf oldr = FERRY_BUF_INIT, newr = FERRY_BUF_INIT, note = FERRY_BUF_INIT;
	const char *strategy = o->strategy ? o->strategy : "dual-write";
	char digest[33] = "", soak[32], rb[4][32], *queries = NULL, *waves = NULL;
	struct cut_plan plan;
	struct cut_ctx c;
	json_t *gates = NULL;
	PGresult *res = NULL;
	PGconn *pg;
	int rc;

	*json = NULL;
	memset(&plan, 0, sizeof(plan));
	memset(&c, 0, sizeof(c));
	if (!o->old_url || !*o->old_url)
		return ferry_error_set(err, FERRY_EUSAGE, "ferry cutover prepare needs --old URL "
				       "(the store the clients write to today)");
	if (ferry_cutover_strategy_check(strategy) < 0)
		return ferry_error_set(err, FERRY_EUSAGE, "unknown strategy '%s': use dual-write, "
				       "immediate, gradual or blue-green", strategy);
	/* PostgreSQL keeps 63 bytes of a name: a copy makes a longer table
	 * under a shortened one (name_hash), which the gates, the seam and
	 * the relays' writes would not find by this name */
	if (o->ts.table && strlen(o->ts.table) > 63)
		return ferry_error_set(err, FERRY_EUSAGE, "--table '%s' is %zu bytes: PostgreSQL "
				       "keeps 63 bytes of a table name; give a shorter one",
				       o->ts.table, strlen(o->ts.table));
	if (strcmp(strategy, "gradual") && (o->nwaves || o->waves_spec))
		return ferry_error_set(err, FERRY_EUSAGE, "--wave and --waves are for --strategy "
				       "gradual (strategy %s switches every point at once)", strategy);
	if (o->new_url && ferry_relay_is_pg_url(o->new_url) && o->db &&
	    strcmp(o->new_url, o->db))
		return ferry_error_set(err, FERRY_EUSAGE, "--new is a PostgreSQL database other than "
				       "--db: the gates read the new tables where the plan lives; "
				       "give the new database as --db (and leave --new out)");
	if (o->new_url && !ferry_relay_is_pg_url(o->new_url) &&
	    strncasecmp(o->new_url, "influx:", 7))
		return ferry_error_set(err, FERRY_EUSAGE, "--new '%s' is not a new store ferry "
				       "cutover moves to: give influx://HOST:PORT/DB or leave it "
				       "out (the new store is then --db)", o->new_url);
	if (o->new_url && !ferry_relay_is_pg_url(o->new_url) && o->ts.layout)
		return ferry_error_set(err, FERRY_EUSAGE, "--layout is for a PostgreSQL new store; "
				       "an InfluxDB one (--new %s) takes points as they are, or "
				       "through --map's points: rules", o->new_url);
	/* these strategies catch up [T0, switch) from the old store after the
	 * switch, beside what the relays write to the new one since: the
	 * narrow layout's exact duplicates are removed, but the wide layout's
	 * primary key refuses a key written twice (and merges of its fields
	 * would need the order of the writes) */
	if (o->ts.layout && !strcmp(o->ts.layout, "wide") &&
	    (!strcmp(strategy, "blue-green") || !strcmp(strategy, "immediate")))
		return ferry_error_set(err, FERRY_EUSAGE, "--layout wide needs --strategy "
				       "dual-write or gradual: %s copies the points written "
				       "between T0 and the switch after it, beside the relays' "
				       "own since, and the wide layout's primary key refuses a "
				       "key written twice; use the narrow layout (the default)",
				       strategy);
	if (!strcmp(strategy, "gradual") && (rc = relay_cut_waves_parse(o, &waves, err)) < 0)
		return rc;
	if ((rc = relay_cut_queries(o, &queries, err)) < 0) {
		free(waves);
		return rc;
	}
	if (o->ts.map) {
		ferry_hash_stream *h = ferry_hash_stream_new();

		if (!h) {
			free(queries);
			free(waves);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		if (ferry_hash_stream_file(h, o->ts.map) < 0) {
			ferry_hash_stream_free(h);
			free(queries);
			free(waves);
			return ferry_error_set(err, FERRY_EUSAGE, "cannot read map file '%s'",
					       o->ts.map);
		}
		ferry_hash_stream_hex(h, digest);
		ferry_hash_stream_free(h);
	}
	if (!(pg = connect_locked(o->db, err))) {
		free(queries);
		free(waves);
		return err->code ? err->code : FERRY_ECONN;
	}
	if (ferry_url_redact(o->old_url, &oldr) < 0 ||
	    ferry_url_redact(o->new_url ? o->new_url : o->db, &newr) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(soak, sizeof(soak), "%.3f", o->soak_s < 0 ? 3600.0 : o->soak_s);
	snprintf(rb[0], sizeof(rb[0]), "%.6f", o->rollback_threshold > 0 ? o->rollback_threshold :
		 0.05);
	snprintf(rb[1], sizeof(rb[1]), "%.3f", o->rollback_window_s > 0 ? o->rollback_window_s :
		 60.0);
	snprintf(rb[2], sizeof(rb[2]), "%d", o->rollback_min_writes > 0 ? o->rollback_min_writes :
		 20);
	snprintf(rb[3], sizeof(rb[3]), "%d", o->sample_every > 0 ? o->sample_every : 100);
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 || (rc = tables(pg, err)) < 0 ||
	    (rc = relay_pg_exec(pg, "SELECT step, status FROM ferry.cutover_plan FOR UPDATE", 0,
				NULL, &res, "cannot read ferry.cutover_plan", err)) < 0)
		goto out;
	if (PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 1), "active") &&
	    strcmp(PQgetvalue(res, 0, 0), "prepare")) {
		rc = ferry_error_set(err, FERRY_EEXIST, "a cutover is under way here (step %s): "
				     "go on with ferry cutover advance, or ferry cutover abort it "
				     "before planning a new one", PQgetvalue(res, 0, 0));
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((rc = relay_cut_leftover_rows(pg, o, &note, err)) < 0)
		goto out;
	{
		const char *p[20] = { strategy, o->old_url, oldr.buf, newr.buf, o->ts.layout,
				      o->ts.map, o->ts.map ? digest : NULL, o->ts.table,
				      o->ts.series_tag, o->ts.keep_ns ? "t" : "f", soak,
				      o->switch_cmd, o->final_export, o->by ? o->by : "",
				      o->ts.chunk_time, queries, rb[0], rb[1], rb[2], rb[3] };

		/* a new plan forgets the old one's T0s: its backfill starts over */
		if ((rc = relay_pg_exec(pg, "INSERT INTO ferry.cutover_plan (status, strategy, step,"
					" old_url, old_shown, new_shown, layout, map, map_digest, tbl,"
					" series_tag, keep_ns, soak_s, switch_cmd, final_export,"
					" created_by, chunk_time, queries, rollback_threshold,"
					" rollback_window_s, rollback_min_writes, sample_every)"
					" VALUES ('active', $1, 'prepare', $2, $3, $4, $5, $6, $7, $8, $9,"
					" $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18, $19, $20)"
					" ON CONFLICT (one) DO UPDATE SET status = 'active',"
					" strategy = $1, step = 'prepare', step_since = now(),"
					" old_url = $2, old_shown = $3, new_shown = $4, layout = $5,"
					" map = $6, map_digest = $7, tbl = $8, series_tag = $9,"
					" keep_ns = $10, soak_s = $11, switch_cmd = $12,"
					" final_export = $13, t0 = NULL, backfill_t0 = NULL, t1 = NULL,"
					" schema_note = NULL, last_gates = NULL, created_at = now(),"
					" created_by = $14, chunk_time = $15, queries = $16::jsonb,"
					" rollback_threshold = $17, rollback_window_s = $18,"
					" rollback_min_writes = $19, auto_rollback = NULL,"
					" sample_every = $20", 20, p, NULL,
					"cannot record the plan in ferry.cutover_plan", err)) < 0 ||
		    /* a new plan's consistency is its own relays' samples */
		    (rc = run(pg, "DELETE FROM ferry.cutover_samples",
			      "cannot empty ferry.cutover_samples", err)) < 0 ||
		    /* and its seam the rows its relays replay from now on */
		    (rc = run(pg, "DO $$ BEGIN IF to_regclass('ferry.relay_spool') IS NOT NULL"
			      " THEN EXECUTE '" RELAY_SPOOL_MIN_DDL "';"
			      " UPDATE ferry.relay_spool SET min_ns = NULL, min_on_ns = NULL,"
			      " late_kept = NULL; END IF;"
			      " IF to_regclass('ferry.relay_late') IS NOT NULL"
			      " THEN DELETE FROM ferry.relay_late; END IF; END $$",
			      "cannot empty ferry.relay_spool.min_ns", err)) < 0)
			goto out;
	}
	{
		const char *p[1] = { o->new_url && strcmp(o->new_url, o->db) ? o->new_url : NULL };

		if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET new_url = $1", 1, p, NULL,
					"cannot record the new store in ferry.cutover_plan", err)) < 0 ||
		    /* gradual: the waves, all dual; another strategy: none */
		    (rc = relay_cut_waves_store(pg, waves, o->by, err)) < 0)
			goto out;
	}
	if ((rc = log_event(pg, o->by, FERRY_PHASE_OLD_ONLY, "prepare", "prepare", NULL,
			    note.len ? note.buf : NULL, err)) < 0 ||
	    (rc = run(pg, "COMMIT", "cannot commit the plan", err)) < 0)
		goto out;
	relay_cut_make_schema(pg, o, &note);
	if (note.len) {
		const char *p[1] = { note.buf };

		if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET schema_note = $1", 1, p,
					NULL, "cannot record the schema", err)) < 0)
			goto out;
	}
	/* the prepare gates, for the record and the operator */
	if ((rc = plan_read(pg, 0, &plan, NULL, err)) < 0)
		goto out;
	ctx_init(&c, pg, o, o->db, &plan, 0);
	if (!(gates = json_array()) || (rc = relay_cut_gates_eval(&c, gates, o->out)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	{
		char *g = json_dumps(gates, JSON_COMPACT);
		const char *p[1] = { g };

		rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET last_gates = $1::jsonb", 1, p,
				   NULL, "cannot record the gates", err);
		free(g);
		if (rc < 0)
			goto out;
	}
	rc = doc_build(pg, gates, note.len ? note.buf : NULL, json, err);
out:
	if (rc < 0)
		rollback_tx(pg);
	PQclear(res);
	json_decref(gates);
	plan_release(&plan);
	ferry_buf_release(&oldr);
	ferry_buf_release(&newr);
	ferry_buf_release(&note);
	free(queries);
	free(waves);
	relay_cut_waves_release(&c.waves);
	PQfinish(pg);
	return rc;
}

/* ---- advance ------------------------------------------------------------------- */

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0)
		;
}

static double mono_s(void)
{
	return (double)relay_pg_now_ms() / 1000.0;
}

/* Run the switch command (sh -c) after the relays went to new-primary. */
#define SOAK_AGAIN "the switch command ran now, so the soak starts again: advance once " \
	"it passed to move to cleanup"

static int has_switch_cmd(const struct cut_plan *p)
{
	return p->switch_cmd && *p->switch_cmd;
}

static int switch_cmd(const char *cmd, struct ferry_buf *note)
{
	int st = system(cmd), e = 0;

	if (st == 0)
		return 0;
	if (st < 0)
		e |= ferry_buf_addf(note, "the switch command could not be started");
	else if (WIFEXITED(st))
		e |= ferry_buf_addf(note, "the switch command exited with %d", WEXITSTATUS(st));
	else
		e |= ferry_buf_addf(note, "the switch command was killed by signal %d",
				    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	(void)e;
	return -1;
}

/* The old store, whole, into lp://FILE: what the user keeps when the old
 * store is switched off. */
static void final_export(const struct cut_plan *p, struct ferry_buf *note)
{
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_copy_opts co;
	struct ferry_buf dst = FERRY_BUF_INIT;
	int e = 0;

	e |= ferry_buf_addf(&dst, "lp://%s", p->final_export);
	ferry_copy_opts_init(&co);
	co.src = p->old_url;
	co.dst = dst.buf;
	co.job = "cutover-final-export";
	co.progress_mode = FERRY_PROGRESS_QUIET;
	relay_cut_plan_ts(p, &co.ts);
	if (e < 0 || ferry_copy_run(&co, &res, &err) < 0)
		e |= ferry_buf_addf(note, "the final export to %s was not written: %s",
				    p->final_export, e < 0 ? "out of memory" : err.msg);
	else
		e |= ferry_buf_addf(note, "final export of the old store written to %s",
				    p->final_export);
	(void)e;
	ferry_copy_result_free(res);
	ferry_buf_release(&dst);
}

/*
 * gradual, in switchover, inside the move's transaction: the next wave to
 * new-primary (dir > 0) or the last one switched back to dual (dir < 0).
 * The step stays; its step_since is the move, so the soak counts from
 * the last wave.  The last wave's move puts the one phase in new-primary
 * too (every point is then there), the first one back leaves it dual.
 * note: what moved, for the operator.
 */
static int wave_move(PGconn *pg, const struct ferry_cutover_opts *o, const struct cut_ctx *c,
		     json_t *gates, int dir, char *note, size_t nn, struct ferry_error *err)
{
	const struct cut_waves *w = &c->waves;
	int k = w->k + (dir > 0 ? 1 : -1), moved = dir > 0 ? k : k + 1, rc;
	PGresult *res = NULL;

	if (k < 0 || k > w->n || moved < 1)
		return ferry_error_set(err, FERRY_EINVAL, "no wave to move %s (%d of %d in "
				       "new-primary)", dir > 0 ? "forward" : "back", w->k, w->n);
	if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET step_since = now(),"
				" last_gates = NULL WHERE step = 'switchover' AND status = 'active'"
				" RETURNING 1", 0, NULL, &res, "cannot move the plan", err)) < 0)
		return rc;
	rc = PQntuples(res);
	PQclear(res);
	if (rc != 1)
		return ferry_error_set(err, FERRY_EINVAL, "the cutover moved while its gates were "
				       "checked (a relay's automatic rollback, or ferry cutover "
				       "abort): see ferry cutover status");
	snprintf(note, nn, "wave %d (%s) to %s: %d of %d waves in new-primary", moved,
		 w->name[moved - 1], dir > 0 ? "new-primary" : "dual", k, w->n);
	if ((rc = relay_cut_waves_set(pg, k, o->by, err)) < 0)
		return rc;
	return log_event(pg, o->by, k == w->n ? FERRY_PHASE_NEW_PRIMARY : FERRY_PHASE_DUAL,
			 "switchover", dir > 0 ? "advance-wave" : "rollback-wave", gates, note, err);
}

/*
 * The switch command's runs are logged: "switch-cmd-start" before it runs
 * (in the move's own transaction when the move starts it), then
 * "switch-cmd" or "switch-cmd-failed".  A start with no end after it is an
 * advance killed while the command ran; the advance to cleanup runs it
 * again first (switch_cmd_pending).  A plan switched by a ferry that
 * logged no start counts as done: its command is not run twice.
 */
static int log_switch_start(PGconn *pg, const struct ferry_cutover_opts *o,
			    struct ferry_error *err)
{
	return log_event(pg, o->by, -1, "switchover", "switch-cmd-start", NULL,
			 "the switch command starts", err);
}

/* Run the plan's switch command and log how it ended (the start logged
 * already); a failure is the advance's error. */
static int run_switch_cmd(PGconn *pg, const struct ferry_cutover_opts *o,
			  const struct cut_plan *plan, struct ferry_buf *note,
			  struct ferry_error *err)
{
	struct ferry_error e2 = FERRY_ERROR_INIT;
	int failed = switch_cmd(plan->switch_cmd, note) < 0;

	if (run(pg, "BEGIN", "cannot begin", &e2) == 0 &&
	    log_event(pg, o->by, -1, "switchover", failed ? "switch-cmd-failed" : "switch-cmd",
		      NULL, failed ? note->buf : "the switch command ran", &e2) == 0)
		run(pg, "COMMIT", "cannot commit", &e2);
	rollback_tx(pg);
	if (failed)
		return ferry_error_set(err, FERRY_ECHILD, "%s: the relays are in %s; fix it and "
				       "advance again (it runs the command before cleanup)%s",
				       note->buf, ferry_phase_name(relay_cut_phase(plan,
				       FERRY_STEP_SWITCHOVER)), strcmp(plan->strategy, "immediate") ?
				       ", or ferry cutover rollback goes back to dual" : "");
	return 0;
}

/* 1 when the last run of the switch command since the last switch (the
 * move to switchover, or a gradual plan's wave moves) started and did not
 * end well, 0 if not, or an error. */
static int switch_cmd_pending(PGconn *pg, struct ferry_error *err)
{
	PGresult *res = NULL;
	int rc;

	if ((rc = relay_pg_exec(pg, "SELECT action <> 'switch-cmd' FROM ferry.cutover_log"
				" WHERE action IN ('switch-cmd-start', 'switch-cmd',"
				" 'switch-cmd-failed') AND id > (SELECT coalesce(max(id), 0)"
				" FROM ferry.cutover_log WHERE step = 'switchover'"
				" AND action IN ('advance', 'advance-wave'))"
				" ORDER BY id DESC LIMIT 1", 0, NULL, &res,
				"cannot read ferry.cutover_log", err)) < 0)
		return rc;
	rc = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return rc;
}

/* The step an advance moves the plan to: the next one, but blue-green and
 * immediate have no dual-write step (no dual phase: T0 is the move). */
static int next_step(const struct cut_plan *plan)
{
	if (plan->step + 1 == FERRY_STEP_DUAL_WRITE && RELAY_CUT_CATCHUP(plan))
		return FERRY_STEP_BACKFILL;
	return plan->step + 1;
}

/*
 * advance --chunk-time T: the plan's --chunk-time (the backfill's and the
 * verify's InfluxDB chunks) changed, logged, before the gates run.  The
 * one thing of a plan an advance changes: the backfill's plan of a
 * measurement whose points span years at a small one is refused, and
 * only another one helps.  A backfill job with chunks done under the old
 * one and not complete cannot resume under another: refused then, when
 * the new store is PostgreSQL (an InfluxDB one starts the job over).
 */
static int set_chunk_time(PGconn *pg, const struct ferry_cutover_opts *o,
			  struct ferry_error *err)
{
	const char *p[1] = { o->ts.chunk_time };
	struct cut_plan plan;
	PGresult *res = NULL;
	char note[160];
	int64_t ns;
	int rc;

	memset(&plan, 0, sizeof(plan));
	if (val_parse_duration(o->ts.chunk_time, &ns) < 0)
		return ferry_error_set(err, FERRY_EUSAGE, "invalid --chunk-time '%s': use e.g. 6h, "
				       "1d, 2w", o->ts.chunk_time);
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 ||
	    (rc = plan_read(pg, 1, &plan, NULL, err)) < 0)
		goto out;
	if (strcmp(plan.status, "active") || plan.step == FERRY_STEP_CLEANUP)
		goto out;   /* the advance says why it moves nothing */
	if ((!plan.new_url || ferry_relay_is_pg_url(plan.new_url)) && plan.backfill_t0_us) {
		if ((rc = relay_pg_exec(pg, "SELECT to_regclass('ferry.progress') IS NOT NULL", 0,
					NULL, &res, "cannot look for ferry.progress", err)) < 0)
			goto out;
		if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
			PQclear(res);
			res = NULL;
			if ((rc = relay_pg_exec(pg, "SELECT EXISTS (SELECT FROM ferry.jobs j JOIN"
						" ferry.progress g USING (job) WHERE j.job ="
						" 'cutover-backfill' AND j.state <> 'done' AND"
						" g.state = 'done')", 0, NULL, &res,
						"cannot read the backfill job", err)) < 0)
				goto out;
		}
		if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "--chunk-time: the backfill job "
					     "cutover-backfill has chunks done with --chunk-time %s and "
					     "resumes only with it; advance without --chunk-time",
					     plan.chunk_time && *plan.chunk_time ? plan.chunk_time :
					     "(none)");
			goto out;
		}
	}
	snprintf(note, sizeof(note), "--chunk-time %s, was %s", o->ts.chunk_time,
		 plan.chunk_time && *plan.chunk_time ? plan.chunk_time : "none");
	if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET chunk_time = $1", 1, p, NULL,
				"cannot record the plan's --chunk-time", err)) < 0 ||
	    (rc = log_event(pg, o->by, -1, ferry_cutover_step_name(plan.step), "chunk-time",
			    NULL, note, err)) < 0)
		goto out;
	rc = run(pg, "COMMIT", "cannot commit", err);
	if (rc == 0 && o->out)
		fprintf(o->out, "the plan's %s\n", note);
out:
	rollback_tx(pg);
	PQclear(res);
	plan_release(&plan);
	return rc;
}

int ferry_cutover_advance(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err)
{
	struct ferry_buf note = FERRY_BUF_INIT;
	struct cut_plan plan;
	struct cut_ctx c;
	json_t *gates = NULL;
	double t_start = mono_s();
	PGconn *pg;
	int rc, pass, from, to, wave = 0, all = 0;
	char *g = NULL, wnote[256] = "";

	*json = NULL;
	memset(&plan, 0, sizeof(plan));
	memset(&c, 0, sizeof(c));
	if (!(pg = connect_locked(o->db, err)))
		return err->code ? err->code : FERRY_ECONN;
	if (o->ts.chunk_time && (rc = set_chunk_time(pg, o, err)) < 0)
		goto out;
	for (;;) {
		relay_cut_waves_release(&c.waves);
		plan_release(&plan);
		if ((rc = plan_read(pg, 0, &plan, NULL, err)) < 0)
			goto out;
		if (strcmp(plan.status, "active")) {
			rc = ferry_error_set(err, FERRY_EINVAL, "the cutover was aborted: plan a new "
					     "one with ferry cutover prepare");
			goto out;
		}
		if (plan.step == FERRY_STEP_CLEANUP) {
			rc = doc_build(pg, NULL, "nothing to advance: cleanup is the last step, the "
				       "cutover is complete", json, err);
			goto out;
		}
		ctx_init(&c, pg, o, o->db, &plan, 1);
		json_decref(gates);
		if (RELAY_CUT_GRADUAL(&plan) && plan.step == FERRY_STEP_SWITCHOVER && !c.waves.n) {
			rc = ferry_error_set(err, FERRY_ESQL, "the gradual plan has no waves in "
					     "ferry.cutover_waves: abort it and prepare again");
			goto out;
		}
		wave = RELAY_CUT_GRADUAL(&plan) && plan.step == FERRY_STEP_SWITCHOVER &&
		       relay_cut_waves_left(&c);
		if (o->out && wave)
			fprintf(o->out, "switchover, wave %d (%s) -> new-primary: gates\n",
				c.waves.k + 1, c.waves.name[c.waves.k]);
		else if (o->out)
			fprintf(o->out, "%s -> %s: gates\n", ferry_cutover_step_name(plan.step),
				ferry_cutover_step_name(next_step(&plan)));
		if (!(gates = json_array()) || (pass = relay_cut_gates_eval(&c, gates, o->out)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (pass || !o->wait || (o->timeout_s > 0 && mono_s() - t_start >= o->timeout_s))
			break;
		sleep_s(WAIT_S);
	}
	from = plan.step;
	to = next_step(&plan);
	/* to cleanup (not reversible) only once the switch command ran: one
	 * an advance was killed in, or one that failed, runs now, and the
	 * soak starts again (the readers only now moved) */
	if (pass && from == FERRY_STEP_SWITCHOVER && !wave && has_switch_cmd(&plan)) {
		if ((rc = switch_cmd_pending(pg, err)) < 0)
			goto out;
		if (rc) {
			if (o->out)
				fprintf(o->out, "the switch command did not run to its end (an "
					"advance was interrupted, or it failed): running it now\n");
			if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 ||
			    (rc = log_switch_start(pg, o, err)) < 0 ||
			    (rc = run(pg, "COMMIT", "cannot commit", err)) < 0 ||
			    (rc = run_switch_cmd(pg, o, &plan, &note, err)) < 0 ||
			    (rc = run(pg, "UPDATE ferry.cutover_plan SET step_since = now(),"
				      " last_gates = NULL WHERE step = 'switchover' AND"
				      " status = 'active'", "cannot restart the soak", err)) < 0)
				goto out;
			if (o->out)
				fprintf(o->out, "%s\n", SOAK_AGAIN);
			rc = doc_build(pg, gates, SOAK_AGAIN, json, err);
			if (rc == 0)
				rc = FERRY_CUTOVER_REFUSED;
			goto out;
		}
		rc = 0;
	}
	if (!(g = json_dumps(gates, JSON_COMPACT))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0)
		goto out;
	if (!pass) {
		const char *p[1] = { g };

		if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET last_gates = $1::jsonb",
					1, p, NULL, "cannot record the gates", err)) < 0 ||
		    (rc = log_event(pg, o->by, -1, ferry_cutover_step_name(from),
				    "advance-refused", gates, NULL, err)) < 0 ||
		    (rc = run(pg, "COMMIT", "cannot commit", err)) < 0)
			goto out;
		rc = doc_build(pg, gates, "the gates do not all pass: the cutover stays where "
			       "it is", json, err);
		if (rc == 0)
			rc = FERRY_CUTOVER_REFUSED;
		goto out;
	}
	if (wave) {
		all = c.waves.k + 1 == c.waves.n;
		if ((rc = wave_move(pg, o, &c, gates, 1, wnote, sizeof(wnote), err)) < 0 ||
		    (all && has_switch_cmd(&plan) &&
		     (rc = log_switch_start(pg, o, err)) < 0) ||
		    (rc = run(pg, "COMMIT", "cannot commit the wave", err)) < 0)
			goto out;
		if (o->out)
			fprintf(o->out, "moved %s; the relays are in %s\n", wnote,
				all ? "new-primary" : "dual for the others");
		to = from;
		goto moved;
	}
	{
		char t0[32];
		const char *p[4] = { ferry_cutover_step_name(to), NULL, NULL,
				     ferry_cutover_step_name(from) };
		PGresult *res = NULL;

		snprintf(t0, sizeof(t0), "%" PRId64, c.t0_us);
		/* T0: when the last relay began dual-writing (the dual-write
		 * gate), unless kept through a rollback */
		p[1] = from == FERRY_STEP_DUAL_WRITE ? t0 : NULL;
		p[2] = from == FERRY_STEP_DUAL_WRITE ? "t" : "f";
		/* without a dual phase, T0 is this move: the relays write the
		 * old store only until the switch, and the catch-up copies
		 * from T0 on */
		if (to == FERRY_STEP_BACKFILL && from == FERRY_STEP_PREPARE)
			p[2] = "n";
		/* the step it was at when the gates ran, or nothing: a relay may
		 * have rolled the switchover back meanwhile (automatic rollback
		 * takes the plan row, not the operators' lock) */
		if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET step = $1,"
					" step_since = now(), last_gates = NULL,"
					" t0 = CASE WHEN $3 = 'n' THEN now()"
					" WHEN $3 = 't' AND t0 IS NULL THEN " TS_OF("$2") " ELSE t0 END"
					" WHERE step = $4 AND status = 'active' RETURNING 1",
					4, p, &res, "cannot move the plan", err)) < 0)
			goto out;
		if (PQntuples(res) != 1) {
			PQclear(res);
			rollback_tx(pg);
			rc = ferry_error_set(err, FERRY_EINVAL, "the cutover moved while its gates "
					     "were checked (a relay's automatic rollback, or ferry "
					     "cutover abort): see ferry cutover status");
			goto out;
		}
		PQclear(res);
		/* gradual: the first wave switches with the step, the others
		 * stay dual; back before switchover every wave is dual */
		if (RELAY_CUT_GRADUAL(&plan) && to == FERRY_STEP_SWITCHOVER && c.waves.n) {
			snprintf(wnote, sizeof(wnote), "wave 1 (%s) to new-primary: 1 of %d waves "
				 "in new-primary", c.waves.name[0], c.waves.n);
			rc = relay_cut_waves_set(pg, 1, o->by, err);
		} else if (RELAY_CUT_GRADUAL(&plan)) {
			rc = relay_cut_waves_set(pg, 0, o->by, err);
		}
		if (rc < 0 ||
		    (rc = log_event(pg, o->by, relay_cut_phase(&plan, to),
				    ferry_cutover_step_name(to), "advance", gates,
				    *wnote ? wnote : NULL, err)) < 0 ||
		    (to == FERRY_STEP_SWITCHOVER && !RELAY_CUT_GRADUAL(&plan) &&
		     has_switch_cmd(&plan) &&
		     (rc = log_switch_start(pg, o, err)) < 0) ||
		    (rc = run(pg, "COMMIT", "cannot commit the step", err)) < 0)
			goto out;
	}
	if (o->out)
		fprintf(o->out, "moved to %s: the relays are in %s%s%s\n",
			ferry_cutover_step_name(to), ferry_phase_name(relay_cut_phase(&plan, to)),
			*wnote ? "; " : "", wnote);
	all = to == FERRY_STEP_SWITCHOVER && !RELAY_CUT_GRADUAL(&plan);
moved:
	/* blue-green, immediate: the points of [T0, switch) before the
	 * readers move (the switchover's catch-up gate runs it again if
	 * this one did not finish) */
	if (to == FERRY_STEP_SWITCHOVER && RELAY_CUT_CATCHUP(&plan)) {
		plan_release(&plan);
		if ((rc = plan_read(pg, 0, &plan, NULL, err)) < 0)
			goto out;
		relay_cut_waves_release(&c.waves);
		ctx_init(&c, pg, o, o->db, &plan, 1);
		if (relay_cut_catchup_now(&c, o->out) < 0 &&
		    ferry_buf_addstr(&note, "the catch-up did not finish: advance runs it "
				     "again") < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* after the commit: the relays already follow the new phase (gradual:
	 * once every wave switched) */
	if (all && has_switch_cmd(&plan) &&
	    (rc = run_switch_cmd(pg, o, &plan, &note, err)) < 0)
		goto out;
	if (to == FERRY_STEP_CLEANUP && plan.final_export && *plan.final_export) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		final_export(&plan, &note);
		if (run(pg, "BEGIN", "cannot begin", &e2) == 0 &&
		    log_event(pg, o->by, -1, "cleanup", "final-export", NULL,
			      note.buf, &e2) == 0)
			run(pg, "COMMIT", "cannot commit", &e2);
		rollback_tx(pg);
	}
	rc = doc_build(pg, gates, note.len ? note.buf : NULL, json, err);
out:
	if (rc < 0)
		rollback_tx(pg);
	free(g);
	json_decref(gates);
	relay_cut_waves_release(&c.waves);
	plan_release(&plan);
	ferry_buf_release(&note);
	PQfinish(pg);
	return rc;
}

/* ---- rollback, abort ---------------------------------------------------------- */

static int move_back(const struct ferry_cutover_opts *o, int abort_, char **json,
		     struct ferry_error *err)
{
	struct cut_plan plan;
	struct cut_ctx c;
	PGconn *pg;
	int rc, to;
	char wnote[256] = "";

	*json = NULL;
	memset(&plan, 0, sizeof(plan));
	memset(&c, 0, sizeof(c));
	if (!(pg = connect_locked(o->db, err)))
		return err->code ? err->code : FERRY_ECONN;
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 ||
	    (rc = plan_read(pg, 1, &plan, NULL, err)) < 0)
		goto out;
	ctx_init(&c, pg, o, o->db, &plan, 0);
	if (strcmp(plan.status, "active")) {
		rc = ferry_error_set(err, FERRY_EINVAL, "the cutover was aborted already");
		goto out;
	}
	if (plan.step == FERRY_STEP_CLEANUP) {
		rc = ferry_error_set(err, FERRY_EINVAL, "the cutover is past cleanup, which is not "
				     "reversible: the relays write only the new store (ferry cutover "
				     "set-phase moves them by hand)");
		goto out;
	}
	to = abort_ ? FERRY_STEP_PREPARE : o->to_step >= 0 ? o->to_step : plan.step - 1;
	if (to == FERRY_STEP_DUAL_WRITE && RELAY_CUT_CATCHUP(&plan))
		to = FERRY_STEP_PREPARE;   /* it has no dual-write step */
	if (!abort_ && !strcmp(plan.strategy, "immediate") && plan.step == FERRY_STEP_SWITCHOVER) {
		rc = ferry_error_set(err, FERRY_EINVAL, "strategy immediate has no way back after "
				     "the switch: the relays write only the new store (new-only), so "
				     "the old store misses what came since; blue-green keeps it warm");
		goto out;
	}
	if (!abort_ && plan.step == FERRY_STEP_PREPARE) {
		rc = ferry_error_set(err, FERRY_EINVAL, "nothing to roll back: the cutover is at "
				     "prepare (ferry cutover abort drops the plan)");
		goto out;
	}
	/* gradual, a wave or more switched after the first: one back is
	 * the last wave switched back to dual, the step stays */
	if (!abort_ && o->to_step < 0 && plan.step == FERRY_STEP_SWITCHOVER &&
	    RELAY_CUT_GRADUAL(&plan) && c.waves.k > 1) {
		if ((rc = wave_move(pg, o, &c, NULL, -1, wnote, sizeof(wnote), err)) < 0 ||
		    (rc = run(pg, "COMMIT", "cannot commit", err)) < 0)
			goto out;
		if (o->out)
			fprintf(o->out, "rolled back %s; the relays are in dual for the others\n",
				wnote);
		rc = doc_build(pg, NULL, NULL, json, err);
		goto out;
	}
	if (!abort_ && to >= plan.step) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "cannot roll back to %s: the cutover is at "
				     "%s; give an earlier step", ferry_cutover_step_name(to),
				     ferry_cutover_step_name(plan.step));
		goto out;
	}
	{
		const char *p[2] = { ferry_cutover_step_name(to), abort_ ? "aborted" : "active" };

		/* T0 stays while the relays write both stores (dual and
		 * new-primary both do); back at prepare they stopped, and the
		 * way forward finds a later one */
		if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_plan SET step = $1, status = $2,"
					" step_since = now(), last_gates = NULL,"
					" t0 = CASE WHEN $1 = 'prepare' THEN NULL ELSE t0 END,"
					" t1 = CASE WHEN $1 IN ('switchover', 'cleanup') THEN t1 END", 2, p,
					NULL, "cannot move the plan", err)) < 0 ||
		    /* gradual: before switchover every wave is dual */
		    (RELAY_CUT_GRADUAL(&plan) &&
		     (rc = relay_cut_waves_set(pg, 0, o->by, err)) < 0) ||
		    (rc = log_event(pg, o->by, relay_cut_phase(&plan, to),
				    ferry_cutover_step_name(to), abort_ ? "abort" : "rollback", NULL,
				    NULL, err)) < 0 ||
		    (rc = run(pg, "COMMIT", "cannot commit", err)) < 0)
			goto out;
	}
	if (o->out && abort_ && plan.step == to)   /* aborted where it began */
		fprintf(o->out, "aborted at %s: the relays are in %s%s\n",
			ferry_cutover_step_name(to), ferry_phase_name(relay_cut_phase(&plan, to)),
			"; the new store keeps what the plan wrote to it (a new plan: "
			"prepare --truncate empties its table, the old store has every point)");
	else if (o->out)
		fprintf(o->out, "%s %s to %s: the relays are in %s%s\n",
			abort_ ? "aborted: back" : "rolled back", ferry_cutover_step_name(plan.step),
			ferry_cutover_step_name(to), ferry_phase_name(relay_cut_phase(&plan, to)),
			abort_ ? "; the new store keeps what the plan wrote to it (a new plan: "
			"prepare --truncate empties its table, the old store has every point)" :
			"");
	rc = doc_build(pg, NULL, NULL, json, err);
out:
	if (rc < 0)
		rollback_tx(pg);
	relay_cut_waves_release(&c.waves);
	plan_release(&plan);
	PQfinish(pg);
	return rc;
}

int ferry_cutover_rollback(const struct ferry_cutover_opts *o, char **json,
			   struct ferry_error *err)
{
	return move_back(o, 0, json, err);
}

int ferry_cutover_abort(const struct ferry_cutover_opts *o, char **json,
			struct ferry_error *err)
{
	return move_back(o, 1, json, err);
}

/* ---- forget-relay ------------------------------------------------------------- */

int ferry_cutover_forget_relay(const char *url, const char *id, const char *by,
			       int64_t *records, struct ferry_error *err)
{
	const char *p[1] = { id };
	char note[512];
	PGresult *res = NULL;
	PGconn *pg;
	int rc;

	*records = 0;
	if (!(pg = connect_locked(url, err)))
		return err->code ? err->code : FERRY_ECONN;
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 || (rc = tables(pg, err)) < 0 ||
	    (rc = relay_pg_exec(pg, "SELECT spool_records, " CUT_LIVE("r") ","
				" round(extract(epoch FROM now() - last_seen))"
				" FROM ferry.relays r WHERE relay_id = $1 FOR UPDATE", 1, p, &res,
				"cannot read ferry.relays", err)) < 0)
		goto out;
	if (PQntuples(res) != 1) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "no relay '%s' in ferry.relays "
				     "(ferry cutover status lists them)", id);
		goto out;
	}
	if (!strcmp(PQgetvalue(res, 0, 1), "t")) {
		rc = ferry_error_set(err, FERRY_EINVAL, "relay '%s' reported %s s ago: it is "
				     "running; stop it (SIGTERM) instead", id, PQgetvalue(res, 0, 2));
		goto out;
	}
	*records = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(note, sizeof(note), "relay %s let go; %" PRId64 " spool records given up",
		 id, *records);
	if ((rc = relay_pg_exec(pg, "UPDATE ferry.relays SET stopped_at = coalesce(stopped_at,"
				" now()), let_go_at = now(), spool_records = 0 WHERE relay_id = $1",
				1, p, NULL,
				"cannot update ferry.relays", err)) < 0 ||
	    (rc = log_event(pg, by, -1, "", "forget-relay", NULL, note, err)) < 0)
		goto out;
	rc = run(pg, "COMMIT", "cannot commit", err);
out:
	PQclear(res);
	rollback_tx(pg);
	PQfinish(pg);
	return rc;
}

/* ---- status ------------------------------------------------------------------- */

int ferry_cutover_report(const char *db, char **json, struct ferry_error *err)
{
	struct cut_plan plan;
	struct cut_ctx c;
	json_t *gates = NULL, *last = NULL;
	PGconn *pg;
	int rc;

	*json = NULL;
	memset(&c, 0, sizeof(c));
	if (!(pg = relay_pg_connect(db, err)))
		return FERRY_ECONN;
	rc = plan_read(pg, 0, &plan, &last, err);
	if (rc == FERRY_ENOTFOUND) {
		ferry_error_clear(err);
		PQfinish(pg);
		return 0;
	}
	if (rc < 0)
		goto out;
	ctx_init(&c, pg, NULL, db, &plan, 0);
	c.last = last;
	if (!(gates = json_array())) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (!strcmp(plan.status, "active") && plan.step != FERRY_STEP_CLEANUP &&
	    relay_cut_gates_eval(&c, gates, NULL) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = doc_build(pg, gates, NULL, json, err);
out:
	json_decref(gates);
	json_decref(last);
	relay_cut_waves_release(&c.waves);
	plan_release(&plan);
	PQfinish(pg);
	return rc;
}
