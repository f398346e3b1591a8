/*
 * phase.c - the cutover phase every relay follows, kept in the new
 * PostgreSQL database, and the relays' heartbeats.
 *
 *   ferry.cutover      one row: phase (CHECK: the four names), changed_at,
 *                      changed_by; changed_at is NULL until someone moved
 *                      the phase (a relay creating the row is no change)
 *   ferry.cutover_log  every set-phase: phase, previous, when, by whom
 *   ferry.relays       one row per relay: relay_id, listen, last_seen,
 *                      spool_records, replay_lag_s; the phase it follows
 *                      and since when (its clock: the moment it switched),
 *                      ready, spool_ok, and per store the writes and the
 *                      failed writes of the last RATE_WINDOW_S seconds
 *                      (`ferry cutover` computes its gates from them);
 *                      spool_id, and stopped_at once it ended (SIGTERM)
 *                      or a later process took its spool; let_go_at
 *                      when `ferry cutover forget-relay` let it go
 *
 * The tables are created under a transaction-scoped advisory lock, so two
 * relays starting at once against a fresh database do not trip over each
 * other's CREATE ... IF NOT EXISTS (which is not race-free in PostgreSQL:
 * the loser fails on pg_type's unique index), and the first phase goes in
 * with ON CONFLICT DO NOTHING, so an existing phase always wins.
 *
 * set-phase updates the row, logs it and NOTIFYs ferry_cutover in one
 * transaction: a relay woken by the notification reads the committed row.
 * The watcher LISTENs on a connection of its own and, because a NOTIFY is
 * lost while a relay is disconnected, re-reads the row every few seconds
 * and after every reconnect as well: the table is the truth, the
 * notification only the doorbell.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "relay/relay_int.h"
#include "relay/relay_pg.h"

/* pg_advisory_xact_lock key of the DDL: "ferrycut" in ASCII, apart from
 * the keys migrate and copy take */
#define CUTOVER_LOCK_KEY "7378707290140276084"
#define REREAD_MS 5000        /* the table is read at least this often */
#define RECONNECT_MS 500      /* between connection attempts while down */

/* ---- libpq helpers (relay_pg.h) ----------------------------------------------- */

int64_t relay_pg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CREATE ... IF NOT EXISTS says "already exists, skipping" every start:
 * nothing for the relay's log or the user's terminal */
static void no_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *relay_pg_connect(const char *url, struct ferry_error *err)
{
	/* the url expanded first, then our keywords override it */
	/* keepalives: a watcher blocked on a server that vanished from the
	 * network (no FIN, no RST) learns of it in about half a minute */
	const char *keys[] = { "dbname", "connect_timeout", "application_name", "keepalives",
			       "keepalives_idle", "keepalives_interval", "keepalives_count",
			       NULL };
	const char *vals[] = { url, "5", "ferry relay", "1", "10", "5", "3", NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);

	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		struct ferry_buf m = FERRY_BUF_INIT, where = FERRY_BUF_INIT;
		int e;

		e = ferry_url_redact(pg ? PQerrorMessage(pg) : "out of memory", &m);
		e |= ferry_url_redact(url, &where);
		ferry_buf_rtrim(&m);
		ferry_error_set(err, FERRY_ECONN, "cannot connect to PostgreSQL '%s': %s",
				e < 0 ? "?" : where.buf, e < 0 ? "out of memory" : m.buf);
		ferry_buf_release(&m);
		ferry_buf_release(&where);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, no_notices, NULL);
	/* what a cutover or a relay commits here (a phase, a step, a relay's
	 * row) is durable once it says so: with synchronous_commit off a
	 * crash took back a phase `set-phase` had reported, after the relays
	 * had already followed it */
	if (relay_pg_exec(pg, FERRY_PG_DURABLE_SQL, 0, NULL, NULL,
			  "cannot configure the session", err) < 0) {
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

int relay_pg_fail(PGconn *pg, PGresult *res, const char *what, struct ferry_error *err)
{
	const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	struct ferry_buf m = FERRY_BUF_INIT;
	int code = FERRY_ESQL, e;

	e = ferry_url_redact(prim ? prim : PQerrorMessage(pg), &m);
	ferry_buf_rtrim(&m);
	/* lost: the socket closed, or the server is going away (class 08,
	 * 57P01 admin shutdown, ...) */
	if (PQstatus(pg) == CONNECTION_BAD ||
	    (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))))
		code = FERRY_ECONN;
	ferry_error_set(err, code, "%s: %s", what,
			e < 0 ? "out of memory" : m.len ? m.buf : "unknown error");
	if (state)
		ferry_error_origin(err, "sqlstate %s", state);
	ferry_buf_release(&m);
	PQclear(res);
	return code;
}

int relay_pg_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
		  PGresult **out, const char *what, struct ferry_error *err)
{
	PGresult *res = nparams ? PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
				: PQexec(pg, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return relay_pg_fail(pg, res, what, err);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

static int run(PGconn *pg, const char *sql, const char *what, struct ferry_error *err)
{
	return relay_pg_exec(pg, sql, 0, NULL, NULL, what, err);
}

/* ---- the tables ------------------------------------------------------------ */

static const char ddl[] =
	"CREATE SCHEMA IF NOT EXISTS ferry;"
	"CREATE TABLE IF NOT EXISTS ferry.cutover ("
	" one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	" phase text NOT NULL CHECK (phase IN ('old-only','dual','new-primary','new-only')),"
	" changed_at timestamptz,"
	" changed_by text NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS ferry.cutover_log ("
	" id bigserial PRIMARY KEY,"
	" phase text NOT NULL,"
	" previous text,"
	" changed_at timestamptz NOT NULL DEFAULT now(),"
	" changed_by text NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS ferry.relays ("
	" relay_id text PRIMARY KEY,"
	" listen text,"
	" last_seen timestamptz NOT NULL DEFAULT now(),"
	" spool_records bigint NOT NULL DEFAULT 0,"
	" replay_lag_s double precision NOT NULL DEFAULT 0);"
	/* added by the cutover state machine: a table made by an older relay
	 * gets them too */
	"ALTER TABLE ferry.relays"
	" ADD COLUMN IF NOT EXISTS phase text,"
	" ADD COLUMN IF NOT EXISTS phase_since timestamptz,"
	" ADD COLUMN IF NOT EXISTS ready boolean,"
	" ADD COLUMN IF NOT EXISTS spool_ok boolean,"
	" ADD COLUMN IF NOT EXISTS window_s double precision,"
	" ADD COLUMN IF NOT EXISTS old_writes bigint,"
	" ADD COLUMN IF NOT EXISTS old_errors bigint,"
	" ADD COLUMN IF NOT EXISTS new_writes bigint,"
	" ADD COLUMN IF NOT EXISTS new_errors bigint;"
	/* points the relays wrote in dual, read back from both stores by the
	 * live consistency gate once the spool replayed them (seq) */
	"CREATE TABLE IF NOT EXISTS ferry.cutover_samples ("
	" id bigserial PRIMARY KEY,"
	" relay_id text NOT NULL,"
	" spool_id text NOT NULL,"
	" seq bigint NOT NULL,"
	" db text NOT NULL,"
	" measurement text NOT NULL,"
	" time_ns bigint NOT NULL,"
	" line text NOT NULL,"
	" sampled_at timestamptz NOT NULL);"
	/* a gradual cutover's waves (cutover_waves.c): in switchover each
	 * relay writes a point by the phase of its wave */
	"CREATE TABLE IF NOT EXISTS ferry.cutover_waves ("
	" n integer PRIMARY KEY,"
	" name text NOT NULL,"
	" match jsonb NOT NULL,"
	" phase text NOT NULL DEFAULT 'dual' CHECK (phase IN ('dual','new-primary')),"
	" since timestamptz,"
	" changed_by text NOT NULL DEFAULT '');"
	"ALTER TABLE ferry.relays"
	" ADD COLUMN IF NOT EXISTS waves text,"
	" ADD COLUMN IF NOT EXISTS wave_writes bigint[],"
	" ADD COLUMN IF NOT EXISTS wave_errors bigint[],"
	/* a relay that ended, or whose spool a later process took, says so:
	 * the cutover holds for one that went silent without it */
	" ADD COLUMN IF NOT EXISTS spool_id text,"
	" ADD COLUMN IF NOT EXISTS stopped_at timestamptz,"
	/* when `ferry cutover forget-relay` let it go (a stop of its own
	 * leaves it NULL: a container's relay restarts with the same id) */
	" ADD COLUMN IF NOT EXISTS let_go_at timestamptz";

/* ddl's last column: when it is there, ddl ran whole (one transaction)
 * and is not run again.  Its ALTER TABLEs take ACCESS EXCLUSIVE locks even
 * when nothing is missing, held to the caller's commit, so every relay's
 * heartbeat waited behind a `cutover prepare`, and a relay's transaction
 * holding one of them and wanting another could deadlock with it.  Keep
 * the newest column last in ddl, and named here. */
#define DDL_DONE \
	"SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid =" \
	" to_regclass('ferry.relays') AND attname = 'let_go_at' AND NOT attisdropped)"

/* Inside the caller's transaction: the tables, and the row with initial
 * unless a phase is already stored. */
int relay_phase_tables(PGconn *pg, int initial, int *inserted, struct ferry_error *err)
{
	const char *p[1] = { ferry_phase_name(initial) };
	PGresult *res = NULL;
	int rc, done;

	if ((rc = run(pg, "SELECT pg_advisory_xact_lock(" CUTOVER_LOCK_KEY ")",
		      "cannot lock ferry.cutover", err)) < 0 ||
	    (rc = relay_pg_exec(pg, DDL_DONE, 0, NULL, &res, "cannot look for ferry.relays",
				err)) < 0)
		return rc;
	done = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	res = NULL;
	if ((!done && (rc = run(pg, ddl, "cannot create ferry.cutover", err)) < 0) ||
	    (rc = relay_pg_exec(pg, "INSERT INTO ferry.cutover (phase) VALUES ($1) "
				"ON CONFLICT DO NOTHING", 1, p, &res,
				"cannot store the first phase in ferry.cutover", err)) < 0)
		return rc;
	if (inserted)
		*inserted = !strcmp(PQcmdTuples(res), "1");
	PQclear(res);
	return 0;
}

static int read_phase(PGconn *pg, int *phase, struct ferry_error *err)
{
	PGresult *res = NULL;
	int rc;

	if ((rc = relay_pg_exec(pg, "SELECT phase FROM ferry.cutover", 0, NULL, &res,
				"cannot read ferry.cutover", err)) < 0)
		return rc;
	if (PQntuples(res) != 1 || ferry_phase_parse(PQgetvalue(res, 0, 0), phase) < 0)
		rc = ferry_error_set(err, FERRY_ESQL,
				     "ferry.cutover holds no phase: run ferry cutover set-phase");
	PQclear(res);
	return rc;
}

static void rollback(PGconn *pg)
{
	if (PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
		PQclear(PQexec(pg, "ROLLBACK"));
}

/* ---- the watcher ------------------------------------------------------------ */

/* A heartbeat's counters as they were then: the windowed rates are the
 * difference between the newest and the oldest sample of the window. */
struct beat_sample {
	int64_t ms;                       /* relay_pg_now_ms() */
	uint64_t writes[2], errors[2];    /* cumulative, RELAY_OLD/RELAY_NEW */
	uint64_t ww[RELAY_MAX_WAVES], we[RELAY_MAX_WAVES];   /* per wave */
};
#define NSAMPLES 128                      /* > RATE_WINDOW_S / heartbeat period */

struct relay_phase {
	char *url;
	PGconn *pg;            /* NULL while down */
	_Atomic int phase;
	struct relay_rb_limits lim;   /* read with a new-primary phase */
	int64_t read_ms;       /* when the table was last read */
	int64_t tried_ms;      /* the last connection attempt */
	struct beat_sample ring[NSAMPLES];
	size_t nring, head;    /* head: the oldest sample */
	/* gradual: the waves as last read (what they were read from, to see
	 * a change), handed to the relay by relay_phase_waves */
	struct ferry_buf waves_key;
	struct relay_waves *waves;
	int waves_changed;
	int waves_np;          /* a wave is in new-primary */
};

/* The waves of a gradual plan in switchover (none otherwise: the relay
 * follows the one phase).  A read that fails keeps the last ones. */
static void read_waves(struct relay_phase *w, PGconn *pg)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf key = FERRY_BUF_INIT;
	struct relay_waves *ws = NULL;
	PGresult *res = NULL;
	int i, n, np = 0, e = 0;

	if (relay_pg_exec(pg, "SELECT w.name, w.match::text, w.phase FROM ferry.cutover_waves w,"
			  " ferry.cutover_plan p WHERE p.status = 'active' AND p.strategy = 'gradual'"
			  " AND p.step = 'switchover' ORDER BY w.n", 0, NULL, &res,
			  "cannot read ferry.cutover_waves", &err) < 0) {
		/* no plan table yet: no waves */
		if (PQstatus(pg) == CONNECTION_OK && err.code != FERRY_ECONN)
			ferry_debug("relay: %s", err.msg);
		return;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		e |= ferry_buf_addf(&key, "%s\x1f%s\x1f%s\x1e", PQgetvalue(res, i, 0),
				    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	if (e < 0 || (w->waves_key.len == key.len &&
		      (!key.len || !memcmp(w->waves_key.buf, key.buf, key.len)))) {
		PQclear(res);
		ferry_buf_release(&key);
		return;
	}
	if (n && !(ws = ferry_calloc(1, sizeof(*ws))))
		goto out;
	for (i = 0; i < n; i++) {
		int ph = FERRY_PHASE_DUAL;

		ferry_phase_parse(PQgetvalue(res, i, 2), &ph);
		np |= ph == FERRY_PHASE_NEW_PRIMARY;
		if (relay_waves_add(ws, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), ph) < 0) {
			ferry_warn("relay: cannot take wave '%s' of ferry.cutover_waves: its "
				   "selectors are not a JSON array of strings (or more than %d "
				   "waves)", PQgetvalue(res, i, 0), RELAY_MAX_WAVES);
			relay_waves_free(ws);
			goto out;
		}
	}
	relay_waves_free(w->waves);
	w->waves = ws;
	w->waves_np = np;
	w->waves_changed = 1;
	ferry_buf_release(&w->waves_key);
	w->waves_key = key;
	key.buf = NULL;
out:
	PQclear(res);
	ferry_buf_release(&key);
}

int relay_phase_waves(struct relay_phase *w, struct relay_waves **out)
{
	*out = NULL;
	if (!w->waves_changed)
		return 0;
	w->waves_changed = 0;
	*out = w->waves;
	w->waves = NULL;
	/* the caller has them now; the key stays, so the same rows are no
	 * change */
	return 1;
}

/* The automatic rollback's limits, when the phase read is new-primary
 * and a plan is in switchover; off otherwise (no plan: set-phase by hand,
 * or a plan made by a ferry without them).  Never an error of the read:
 * the phase matters more. */
static void read_limits(struct relay_phase *w, PGconn *pg, int phase)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	PGresult *res = NULL;

	memset(&w->lim, 0, sizeof(w->lim));
	if (phase != FERRY_PHASE_NEW_PRIMARY && phase != FERRY_PHASE_DUAL)
		return;
	if (relay_pg_exec(pg, "SELECT to_regclass('ferry.cutover_plan') IS NOT NULL", 0, NULL,
			  &res, "cannot look for ferry.cutover_plan", &err) < 0)
		goto fail;
	if (strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		return;
	}
	PQclear(res);
	res = NULL;
	if (relay_pg_exec(pg, "SELECT step, rollback_threshold, rollback_window_s,"
			  " rollback_min_writes, sample_every FROM ferry.cutover_plan"
			  " WHERE status = 'active'", 0, NULL, &res,
			  "cannot read the rollback limits of ferry.cutover_plan", &err) < 0)
		goto fail;
	/* gradual: the phase stays dual while a wave of it is in new-primary */
	if (PQntuples(res) == 1 && (phase == FERRY_PHASE_NEW_PRIMARY || w->waves_np) &&
	    !strcmp(PQgetvalue(res, 0, 0), "switchover")) {
		w->lim.on = 1;
		w->lim.threshold = strtod(PQgetvalue(res, 0, 1), NULL);
		w->lim.window_s = strtod(PQgetvalue(res, 0, 2), NULL);
		w->lim.min_writes = atoi(PQgetvalue(res, 0, 3));
	}
	/* dual while the plan is in a step of dual: the live consistency
	 * gate's samples */
	if (PQntuples(res) == 1 && phase == FERRY_PHASE_DUAL &&
	    (!strcmp(PQgetvalue(res, 0, 0), "dual-write") ||
	     !strcmp(PQgetvalue(res, 0, 0), "backfill") ||
	     !strcmp(PQgetvalue(res, 0, 0), "validate")))
		w->lim.sample_every = atoi(PQgetvalue(res, 0, 4));
	PQclear(res);
	return;
fail:
	ferry_debug("relay: no automatic rollback: %s", err.msg);
}

void relay_phase_limits(const struct relay_phase *w, struct relay_rb_limits *out)
{
	*out = w->lim;
}

/* Connect, (create,) LISTEN, read: the watcher's connection from nothing.
 * LISTEN comes before the read, so a change between the two is not lost. */
static int attach(struct relay_phase *w, int create, int initial, struct ferry_error *err)
{
	PGconn *pg;
	int rc, ph;

	w->tried_ms = relay_pg_now_ms();
	if (!(pg = relay_pg_connect(w->url, err)))
		return FERRY_ECONN;
	if (create) {
		if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 ||
		    (rc = relay_phase_tables(pg, initial, NULL, err)) < 0 ||
		    (rc = run(pg, "COMMIT", "cannot commit ferry.cutover", err)) < 0)
			goto fail;
	}
	if ((rc = run(pg, "LISTEN ferry_cutover", "cannot LISTEN ferry_cutover", err)) < 0 ||
	    (rc = read_phase(pg, &ph, err)) < 0)
		goto fail;
	read_waves(w, pg);
	read_limits(w, pg, ph);
	atomic_store(&w->phase, ph);
	w->read_ms = relay_pg_now_ms();
	w->pg = pg;
	return 0;
fail:
	PQfinish(pg);
	return rc;
}

int relay_phase_open(const char *pg_url, int initial, struct relay_phase **out,
		     struct ferry_error *err)
{
	struct relay_phase *w;
	int rc;

	if (!ferry_phase_name(initial))
		return ferry_error_set(err, FERRY_EINVAL, "invalid first phase %d", initial);
	if (!(w = ferry_calloc(1, sizeof(*w))) || !(w->url = ferry_strdup(pg_url))) {
		ferry_free(w);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	atomic_init(&w->phase, initial);
	if ((rc = attach(w, 1, initial, err)) < 0) {
		relay_phase_close(w);
		return rc;
	}
	*out = w;
	return 0;
}

void relay_phase_close(struct relay_phase *w)
{
	if (!w)
		return;
	PQfinish(w->pg);
	relay_waves_free(w->waves);
	ferry_buf_release(&w->waves_key);
	ferry_free(w->url);
	ferry_free(w);
}

int relay_phase_get(const struct relay_phase *w)
{
	return atomic_load(&((struct relay_phase *)w)->phase);
}

static void drop(struct relay_phase *w)
{
	PQfinish(w->pg);
	w->pg = NULL;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Re-read the table; 1 when the phase moved. */
static int reread(struct relay_phase *w, struct ferry_error *err)
{
	int ph, rc;

	if ((rc = read_phase(w->pg, &ph, err)) < 0) {
		if (rc == FERRY_ECONN || PQstatus(w->pg) != CONNECTION_OK)
			drop(w);
		return rc;
	}
	w->read_ms = relay_pg_now_ms();
	read_waves(w, w->pg);
	read_limits(w, w->pg, ph);
	if (ph == atomic_load(&w->phase))
		return 0;
	atomic_store(&w->phase, ph);
	return 1;
}

int relay_phase_poll(struct relay_phase *w, int ms, struct ferry_error *err)
{
	int64_t deadline = relay_pg_now_ms() + (ms > 0 ? ms : 0);
	int rc = 0;

	for (;;) {
		int64_t now = relay_pg_now_ms(), wait;
		int notified = 0, sock;
		PGnotify *n;

		if (!w->pg) {
			/* down: try again every RECONNECT_MS until the deadline;
			 * the phase is kept meanwhile */
			int prev = atomic_load(&w->phase);

			if (now - w->tried_ms >= RECONNECT_MS) {
				if (attach(w, 0, prev, err) == 0)
					return atomic_load(&w->phase) != prev;
				now = relay_pg_now_ms();
			}
			if (now >= deadline) {
				if (!err || err->code != FERRY_ECONN)
					ferry_error_set(err, FERRY_ECONN,
							"no connection to ferry.cutover: "
							"keeping phase %s", ferry_phase_name(prev));
				return FERRY_ECONN;
			}
			wait = w->tried_ms + RECONNECT_MS - now;
			sleep_ms(wait < deadline - now ? wait : deadline - now);
			continue;
		}
		/* notifications that arrived during another statement are
		 * already buffered: look before waiting */
		while ((n = PQnotifies(w->pg)) != NULL) {
			notified = 1;
			PQfreemem(n);
		}
		if (notified || now - w->read_ms >= REREAD_MS) {
			rc = reread(w, err);
			if (rc == 1 || (rc < 0 && w->pg))
				return rc;   /* changed, or a statement failed */
			continue;            /* unchanged, or lost: reconnect */
		}
		if (now >= deadline)
			return 0;
		wait = deadline - now;
		if (w->read_ms + REREAD_MS - now < wait)
			wait = w->read_ms + REREAD_MS - now;
		sock = PQsocket(w->pg);
		if (sock < 0) {
			drop(w);
			continue;
		}
		{
			/* poll(), not select(): a reconnect in a busy relay may get
			 * a descriptor above FD_SETSIZE */
			struct pollfd pfd = { sock, POLLIN, 0 };
			int got = poll(&pfd, 1, (int)wait);

			if (got < 0 && errno != EINTR) {
				drop(w);
				continue;
			}
			if (got > 0 &&
			    (!PQconsumeInput(w->pg) || PQstatus(w->pg) != CONNECTION_OK)) {
				/* the server went away (restart, crash) */
				relay_pg_fail(w->pg, NULL, "lost the connection to ferry.cutover",
					      err);
				drop(w);
				continue;
			}
		}
	}
}

/* Keep b's counters; drop the samples older than the window, but keep
 * one at or before its start, so the difference spans the whole window. */
static void ring_push(struct relay_phase *w, const struct relay_beat *b, int64_t now)
{
	struct beat_sample *sm;

	while (w->nring >= 2) {
		const struct beat_sample *next = &w->ring[(w->head + 1) % NSAMPLES];

		if (now - next->ms < (int64_t)RATE_WINDOW_S * 1000 && w->nring < NSAMPLES)
			break;
		w->head = (w->head + 1) % NSAMPLES;
		w->nring--;
	}
	sm = &w->ring[(w->head + w->nring) % NSAMPLES];
	sm->ms = now;
	memcpy(sm->writes, b->writes, sizeof(sm->writes));
	memcpy(sm->errors, b->errors, sizeof(sm->errors));
	memcpy(sm->ww, b->wave_writes, sizeof(sm->ww));
	memcpy(sm->we, b->wave_errors, sizeof(sm->we));
	w->nring++;
}

int relay_phase_report(struct relay_phase *w, const struct relay_beat *b,
		       struct ferry_error *err)
{
	char rec[32], lag[48], since[32], win[32], n[4][32];
	struct ferry_buf wa[2] = { FERRY_BUF_INIT, FERRY_BUF_INIT };
	const char *p[17];
	size_t k;
	int e = 0;
	const struct beat_sample *o;
	PGresult *res = NULL;
	int64_t now = relay_pg_now_ms();
	int rc, i;

	if (!w->pg)
		return ferry_error_set(err, FERRY_ECONN,
				       "cannot report to ferry.relays: no connection");
	ring_push(w, b, now);
	o = &w->ring[w->head];
	snprintf(rec, sizeof(rec), "%llu", (unsigned long long)b->spool_records);
	snprintf(lag, sizeof(lag), "%.6f", b->lag_s);
	snprintf(since, sizeof(since), "%lld", (long long)b->phase_since_us);
	snprintf(win, sizeof(win), "%.3f", (double)(now - o->ms) / 1000.0);
	/* a counter below the sample's: the relay restarted in between, which
	 * a new process (new metrics) cannot do: keep it simple, count from 0 */
	for (i = 0; i < 2; i++) {
		snprintf(n[2 * i], sizeof(n[0]), "%llu", (unsigned long long)
			 (b->writes[i] >= o->writes[i] ? b->writes[i] - o->writes[i] : b->writes[i]));
		snprintf(n[2 * i + 1], sizeof(n[0]), "%llu", (unsigned long long)
			 (b->errors[i] >= o->errors[i] ? b->errors[i] - o->errors[i] : b->errors[i]));
	}
	p[0] = b->relay_id;
	p[1] = b->listen ? b->listen : "";
	p[2] = rec;
	p[3] = lag;
	p[4] = ferry_phase_name(b->phase);
	p[5] = since;
	p[6] = b->ready ? "t" : "f";
	p[7] = b->spool_ok ? "t" : "f";
	p[8] = win;
	p[9] = n[0];
	p[10] = n[1];
	p[11] = n[2];
	p[12] = n[3];
	/* the waves' counts of the window, as the stores' above */
	for (i = 0; i < 2; i++) {
		const uint64_t *cur = i ? b->wave_errors : b->wave_writes;
		const uint64_t *old = i ? o->we : o->ww;

		e |= ferry_buf_addstr(&wa[i], "{");
		for (k = 0; k < b->nwaves && k < RELAY_MAX_WAVES; k++)
			e |= ferry_buf_addf(&wa[i], "%s%llu", k ? "," : "", (unsigned long long)
					    (cur[k] >= old[k] ? cur[k] - old[k] : cur[k]));
		e |= ferry_buf_addstr(&wa[i], "}");
	}
	if (e < 0) {
		ferry_buf_release(&wa[0]);
		ferry_buf_release(&wa[1]);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	p[13] = b->waves && *b->waves ? b->waves : NULL;
	p[14] = b->nwaves ? wa[0].buf : NULL;
	p[15] = b->nwaves ? wa[1].buf : NULL;
	p[16] = b->spool_id;
	/* one relay per spool on a host (flock'd): a row of another process
	 * of this host on it is a relay that ended without saying so (kill
	 * -9; relay_id is host:pid:spool).  The same spool id on another host
	 * is a copy of the directory (a cloned card), left alone. */
	/* prev: this relay's row before the report.  Its let_go_at set
	 * means `ferry cutover forget-relay` let it go while it could not
	 * report; the report counts it again, and the log says what that
	 * let-go may have cost.  (Its stopped_at alone is an earlier process
	 * with the same id that stopped: a container restarted.)  lgone: an
	 * earlier process on this spool let go so (this one is it, started
	 * again), said once (its let_go_at is cleared). */
	rc = relay_pg_exec(w->pg,
			   "WITH prev AS (SELECT let_go_at, last_seen FROM ferry.relays"
			   " WHERE relay_id = $1),"
			   " lgone AS (SELECT relay_id, let_go_at, last_seen FROM ferry.relays"
			   " WHERE spool_id = $17 AND relay_id <> $1 AND let_go_at IS NOT NULL"
			   " AND split_part(relay_id, ':', 1) = split_part($1, ':', 1)),"
			   " gone AS (UPDATE ferry.relays SET stopped_at = coalesce(stopped_at, now()),"
			   " let_go_at = NULL WHERE spool_id = $17 AND relay_id <> $1"
			   " AND (stopped_at IS NULL OR let_go_at IS NOT NULL)"
			   " AND split_part(relay_id, ':', 1) = split_part($1, ':', 1))"
			   " INSERT INTO ferry.relays (relay_id, listen, last_seen, spool_records,"
			   " replay_lag_s, phase, phase_since, ready, spool_ok, window_s,"
			   " old_writes, old_errors, new_writes, new_errors, waves, wave_writes,"
			   " wave_errors, spool_id)"
			   " VALUES ($1, $2, now(), $3, $4, $5,"
			   " timestamptz 'epoch' + $6::bigint * interval '1 microsecond',"
			   " $7, $8, $9, $10, $11, $12, $13, $14, $15::bigint[], $16::bigint[], $17)"
			   " ON CONFLICT (relay_id) DO UPDATE SET listen = EXCLUDED.listen,"
			   " spool_id = EXCLUDED.spool_id, stopped_at = NULL, let_go_at = NULL,"
			   " last_seen = now(), spool_records = EXCLUDED.spool_records,"
			   " replay_lag_s = EXCLUDED.replay_lag_s, phase = EXCLUDED.phase,"
			   " phase_since = EXCLUDED.phase_since, ready = EXCLUDED.ready,"
			   " spool_ok = EXCLUDED.spool_ok, window_s = EXCLUDED.window_s,"
			   " old_writes = EXCLUDED.old_writes, old_errors = EXCLUDED.old_errors,"
			   " new_writes = EXCLUDED.new_writes, new_errors = EXCLUDED.new_errors,"
			   " waves = EXCLUDED.waves, wave_writes = EXCLUDED.wave_writes,"
			   " wave_errors = EXCLUDED.wave_errors"
			   " RETURNING (SELECT " RELAY_PG_RFC("let_go_at") " FROM prev),"
			   " (SELECT " RELAY_PG_RFC("last_seen") " FROM prev),"
			   " (SELECT string_agg(relay_id || ' (let go at ' || "
			   RELAY_PG_RFC("let_go_at") " || ', last report ' || "
			   RELAY_PG_RFC("last_seen") " || ')', ', ') FROM lgone),"
			   " (SELECT " RELAY_PG_RFC("min(last_seen)") " FROM lgone)",
			   17, p, &res, "cannot report to ferry.relays", err);
	ferry_buf_release(&wa[0]);
	ferry_buf_release(&wa[1]);
	if (rc == 0 && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		ferry_log(FERRY_LOG_ERROR, "relay: %s was let go at %s (ferry cutover "
			  "forget-relay) while it could not report (last report %s); it "
			  "reports again and the cutover's gates count it from now on, but "
			  "writes it acknowledged meanwhile in a phase the cutover had left "
			  "may be in one store only: compare them with ferry verify OLD NEW "
			  "--start %s", b->relay_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			  PQgetvalue(res, 0, 1));
	if (rc == 0 && PQntuples(res) == 1 && !PQgetisnull(res, 0, 2))
		ferry_log(FERRY_LOG_ERROR, "relay: the relay this one replaces on its spool, "
			  "%s, was let go by ferry cutover forget-relay while it could not "
			  "report: writes it acknowledged then in a phase the cutover had left "
			  "may be in one store only: compare them with ferry verify OLD NEW "
			  "--start %s", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	PQclear(res);
	if (rc == FERRY_ECONN)
		drop(w);
	return rc;
}

int relay_phase_stopped(struct relay_phase *w, const char *relay_id, uint64_t spool_records,
			struct ferry_error *err)
{
	char rec[32];
	const char *p[2] = { relay_id, rec };

	if (!w->pg)
		return ferry_error_set(err, FERRY_ECONN,
				       "cannot report to ferry.relays: no connection");
	snprintf(rec, sizeof(rec), "%llu", (unsigned long long)spool_records);
	return relay_pg_exec(w->pg, "UPDATE ferry.relays SET stopped_at = now(), last_seen ="
			     " now(), spool_records = $2 WHERE relay_id = $1", 2, p, NULL,
			     "cannot report to ferry.relays", err);
}

/* ---- automatic rollback ------------------------------------------------------ */

int relay_phase_rollback(struct relay_phase *w, const char *by, const char *why,
			 const char *figures, int64_t decided_us, int *moved,
			 struct ferry_error *err)
{
	char dec[32];
	const char *p[4] = { by, why, figures, dec };
	PGresult *res = NULL;
	int rc;

	*moved = 0;
	if (!w->pg)
		return ferry_error_set(err, FERRY_ECONN, "cannot record the automatic rollback: "
				       "no connection to ferry.cutover");
	snprintf(dec, sizeof(dec), "%lld", (long long)decided_us);
	/* the plan row first, as every ferry cutover command takes it: one
	 * relay wins, the others find the step moved */
	if ((rc = run(w->pg, "BEGIN", "cannot begin", err)) < 0 ||
	    (rc = relay_pg_exec(w->pg, "SELECT p.status = 'active' AND p.step = 'switchover' AND"
				" (c.phase = 'new-primary' OR (p.strategy = 'gradual' AND EXISTS"
				" (SELECT 1 FROM ferry.cutover_waves WHERE phase = 'new-primary')))"
				" FROM ferry.cutover_plan p, ferry.cutover c"
				" FOR UPDATE OF p", 0, NULL, &res,
				"cannot read ferry.cutover_plan", err)) < 0)
		goto out;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t")) {
		rc = run(w->pg, "COMMIT", "cannot commit", err);
		goto out;
	}
	if ((rc = relay_pg_exec(w->pg, "UPDATE ferry.cutover_plan SET step = 'validate',"
				" step_since = now(), last_gates = NULL, auto_rollback ="
				" jsonb_build_object('at', " RELAY_PG_RFC("now()") ", 'decided_at',"
				"  " RELAY_PG_RFC("(timestamptz 'epoch' + $4::bigint * interval '1 microsecond')") ","
				"  'by', $1::text, 'why', $2::text, 'figures', $3::jsonb)",
				4, p, NULL, "cannot roll the plan back", err)) < 0 ||
	    /* gradual: every wave back to dual with the plan (the waves
	     * matter in switchover only; validate starts from none) */
	    (rc = run(w->pg, "UPDATE ferry.cutover_waves SET phase = 'dual', since = now(),"
		      " changed_by = 'auto-rollback' WHERE phase <> 'dual'",
		      "cannot roll the waves back", err)) < 0 ||
	    (rc = relay_phase_set_tx(w->pg, FERRY_PHASE_DUAL, by, err)) < 0 ||
	    (rc = relay_pg_exec(w->pg, "UPDATE ferry.cutover_log SET step = 'validate',"
				" action = 'auto-rollback', note = $1, gates = $2::jsonb WHERE id ="
				" currval(pg_get_serial_sequence('ferry.cutover_log', 'id'))", 2, p + 1,
				NULL,
				"cannot log the automatic rollback", err)) < 0 ||
	    (rc = run(w->pg, "COMMIT", "cannot commit the automatic rollback", err)) < 0)
		goto out;
	*moved = 1;
	atomic_store(&w->phase, FERRY_PHASE_DUAL);
	memset(&w->lim, 0, sizeof(w->lim));
out:
	/* the relay dropped its waves when it decided: the next read hands
	 * it whatever is stored then, even rows equal to the last ones */
	ferry_buf_clear(&w->waves_key);
	w->waves_np = 0;
	PQclear(res);
	if (rc < 0) {
		rollback(w->pg);
		if (rc == FERRY_ECONN || PQstatus(w->pg) != CONNECTION_OK)
			drop(w);
	}
	return rc;
}

int relay_phase_samples(struct relay_phase *w, const char *relay_id, const char *spool_id,
			const struct relay_sample *s, size_t n, struct ferry_error *err)
{
	char seq[32], t[32], at[32];
	size_t i;
	int rc;

	if (!w->pg)
		return ferry_error_set(err, FERRY_ECONN, "cannot record samples: no connection");
	if ((rc = run(w->pg, "BEGIN", "cannot begin", err)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const char *p[8] = { relay_id, spool_id, seq, s[i].db, s[i].measurement, t,
				     s[i].line, at };

		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)s[i].seq);
		snprintf(t, sizeof(t), "%lld", (long long)s[i].time_ns);
		snprintf(at, sizeof(at), "%lld", (long long)s[i].sampled_us);
		if ((rc = relay_pg_exec(w->pg, "INSERT INTO ferry.cutover_samples (relay_id,"
					" spool_id, seq, db, measurement, time_ns, line, sampled_at)"
					" VALUES ($1, $2, $3, $4, $5, $6, $7, timestamptz 'epoch' +"
					" $8::bigint * interval '1 microsecond')", 8, p, NULL,
					"cannot record a sample in ferry.cutover_samples", err)) < 0)
			goto out;
	}
	/* the gate reads the latest 500: keep a bounded tail, not a day's */
	if ((rc = run(w->pg, "DELETE FROM ferry.cutover_samples WHERE id <"
		      " (SELECT max(id) - 10000 FROM ferry.cutover_samples)",
		      "cannot prune ferry.cutover_samples", err)) < 0)
		goto out;
	rc = run(w->pg, "COMMIT", "cannot commit the samples", err);
out:
	if (rc < 0) {
		rollback(w->pg);
		if (rc == FERRY_ECONN || PQstatus(w->pg) != CONNECTION_OK)
			drop(w);
	}
	return rc;
}

/* ---- ferry cutover set-phase / status --------------------------------------- */

int relay_phase_set_tx(PGconn *pg, int phase, const char *by, struct ferry_error *err)
{
	const char *name = ferry_phase_name(phase);
	const char *p[3] = { name, by ? by : "", NULL };
	PGresult *res = NULL;
	char prev[32] = "";
	int rc, created = 0;

	if (!name)
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid phase %d: use old-only, dual, new-primary or "
				       "new-only", phase);
	if ((rc = relay_phase_tables(pg, phase, &created, err)) < 0 ||
	    (rc = relay_pg_exec(pg, "SELECT phase FROM ferry.cutover FOR UPDATE", 0, NULL,
				&res, "cannot read ferry.cutover", err)) < 0)
		return rc;
	/* previous: NULL when this very call made the row */
	if (!created && PQntuples(res) == 1) {
		snprintf(prev, sizeof(prev), "%s", PQgetvalue(res, 0, 0));
		p[2] = prev;
	}
	PQclear(res);
	if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover SET phase = $1, changed_at = now(),"
				" changed_by = $2", 2, p, NULL,
				"cannot set the phase in ferry.cutover", err)) < 0 ||
	    (rc = relay_pg_exec(pg, "INSERT INTO ferry.cutover_log (phase, changed_by, previous)"
				" VALUES ($1, $2, $3)", 3, p, NULL,
				"cannot log the phase in ferry.cutover_log", err)) < 0 ||
	    (rc = relay_pg_exec(pg, "SELECT pg_notify('ferry_cutover', $1)", 1, p, NULL,
				"cannot notify the relays", err)) < 0)
		return rc;
	return 0;
}

int ferry_cutover_set_phase(const char *url, int phase, const char *by,
			    struct ferry_error *err)
{
	PGconn *pg;
	int rc;

	if (!ferry_phase_name(phase))
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid phase %d: use old-only, dual, new-primary or "
				       "new-only", phase);
	if (!(pg = relay_pg_connect(url, err)))
		return FERRY_ECONN;
	/* one transaction: the row, its log line and the notification are
	 * seen together or not at all (NOTIFY is delivered at commit) */
	if ((rc = run(pg, "BEGIN", "cannot begin", err)) < 0 ||
	    (rc = relay_phase_set_tx(pg, phase, by, err)) < 0 ||
	    (rc = run(pg, "COMMIT", "cannot commit the phase", err)) < 0)
		rollback(pg);
	PQfinish(pg);
	return rc;
}

int ferry_cutover_status(const char *url, struct ferry_cutover_status *out,
			 struct ferry_error *err)
{
	PGresult *res = NULL;
	PGconn *pg;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(pg = relay_pg_connect(url, err)))
		return FERRY_ECONN;
	if ((rc = relay_pg_exec(pg, "SELECT to_regclass('ferry.cutover') IS NOT NULL, "
				"to_regclass('ferry.relays') IS NOT NULL", 0, NULL, &res,
				"cannot look for ferry.cutover", err)) < 0)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t")) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
				     "no cutover in this database (ferry.cutover is missing): "
				     "start ferry relay or run ferry cutover set-phase");
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((rc = relay_pg_exec(pg,
				"SELECT phase, coalesce(" RELAY_PG_RFC("changed_at") ", ''), changed_by,"
				" r.n, r.rec, r.lag FROM ferry.cutover,"
				" (SELECT count(*) AS n, coalesce(sum(spool_records), 0) AS rec,"
				"  coalesce(max(replay_lag_s), 0) AS lag FROM ferry.relays"
				"  WHERE last_seen > now() - interval '1 minute') r",
				0, NULL, &res, "cannot read ferry.cutover", err)) < 0)
		goto out;
	if (PQntuples(res) != 1 || ferry_phase_parse(PQgetvalue(res, 0, 0), &out->phase) < 0) {
		rc = ferry_error_set(err, FERRY_ESQL,
				     "ferry.cutover holds no phase: run ferry cutover set-phase");
		goto out;
	}
	snprintf(out->changed_at, sizeof(out->changed_at), "%s", PQgetvalue(res, 0, 1));
	snprintf(out->changed_by, sizeof(out->changed_by), "%s", PQgetvalue(res, 0, 2));
	out->relays = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	out->spool_records = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	out->replay_lag_s = strtod(PQgetvalue(res, 0, 5), NULL);
out:
	PQclear(res);
	PQfinish(pg);
	return rc;
}
