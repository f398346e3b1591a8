/*
 * pg_watch.c - who holds the lock a statement of ferry waits for.
 *
 * A statement that waits on a lock another session holds (an open psql
 * transaction, an application writing to the table, a migration queued
 * behind either) makes ferry sit silent; this file lets it say so.
 *
 * Every connection postgres.c opens is on a list of this process's live
 * connections with its backend pid and the start of the statement it
 * runs, if any (pg_busy: an atomic store per statement, the whole of a
 * COPY counting as one).  A watch (ops->watch_start; one per database in
 * a process) is a thread that looks at that list every WATCH_TICK
 * seconds.  Only while one of the connections to its database has been
 * in one statement for look_after seconds does it ask the server, on a
 * connection of its own opened then, whether any of them waits for a
 * lock: one light query on pg_stat_activity every WATCH_POLL seconds at
 * most.  Only when one does does it read pg_locks and pg_blocking_pids
 * for the waiting ones and describe what they wait for and who holds it.
 * A wait of FERRY_WATCH_SAY seconds is said once per holder (its
 * transaction, and the lock), from the watch's thread.  A holder that is
 * one of this process's own connections (an index build waiting for
 * another build of the same copy) is not the user's to end: it is only
 * logged at -vv.
 *
 * What it saw last of each waiting backend, said or not, is kept for
 * watch_seen: a lock timeout may end a wait before it is said, and the
 * error then still names the holder.
 *
 * The watched connections are never touched: the statements and
 * transactions of copy and migrate go on as they would; and a watch that
 * cannot connect or ask (no connection slot left on the server) is only
 * quiet, it never fails the command.  Its questions run with a 5 s
 * statement_timeout and its connect with a 5 s connect_timeout, which is
 * as long as stopping a watch can wait for one in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connectors/pg_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "ferry/progress.h"

#define WATCH_POLL 2.0    /* seconds between two questions at most */
#define WATCH_TICK 0.5    /* the thread's wake-ups, at most this far apart */
#define WATCH_RETRY 30.0  /* after a failed connect */

struct seen {
	int pid;          /* a waiting backend of this process */
	unsigned pass;    /* the look that saw it last */
	double at;        /* then (ferry_now()) */
	char *what;       /* what it waited for then, and who held it */
};

struct said {
	char *key;        /* the holder's pid and transaction start, the lock */
	char *what;
	double waited;    /* the longest wait seen, in seconds */
	int own;          /* the holder is a connection of this process */
};

struct ferry_watch {
	struct ferry_watch *next;   /* on the list of watches (live_lock) */
	char *db_key;
	char *conninfo;
	void (*say)(void *ud, const char *line);
	void *ud;
	char *advice;
	double look_after, poll, tick;
	PGconn *pg;                 /* the watch's own, opened when needed */
	double next_connect, next_look;
	unsigned pass;
	pthread_t thread;
	pthread_mutex_t lock;       /* stop, seen, said */
	pthread_cond_t wake;
	int stop;
	struct seen *seen;
	size_t nseen, seencap;
	struct said *said;
	size_t nsaid, saidcap;
};

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ferry_conn *live;
static struct ferry_watch *watches;

/* ---- the live connections ------------------------------------------------ */

void pg_live_add(ferry_conn *c)
{
	struct ferry_buf k = FERRY_BUF_INIT;
	const char *host = PQhost(c->pg), *port = PQport(c->pg), *db = PQdb(c->pg);

	/* a database is its server as libpq reached it (host or socket
	 * directory, port) and its name: a watch names what is locked from
	 * its own database's catalog */
	if (ferry_buf_addf(&k, "%s:%s/%s", host ? host : "", port ? port : "",
			   db ? db : "") < 0) {
		ferry_buf_release(&k);
		return;
	}
	c->db_key = ferry_buf_detach(&k, NULL);
	c->pid = PQbackendPID(c->pg);
	atomic_store(&c->busy_us, 0);
	pthread_mutex_lock(&live_lock);
	c->live_prev = NULL;
	c->live_next = live;
	if (live)
		live->live_prev = c;
	live = c;
	pthread_mutex_unlock(&live_lock);
}

void pg_live_remove(ferry_conn *c)
{
	if (!c->db_key)
		return;
	pthread_mutex_lock(&live_lock);
	if (c->live_prev)
		c->live_prev->live_next = c->live_next;
	else
		live = c->live_next;
	if (c->live_next)
		c->live_next->live_prev = c->live_prev;
	pthread_mutex_unlock(&live_lock);
	ferry_free(c->db_key);
	c->db_key = NULL;
}

void pg_busy(ferry_conn *c, int on)
{
	atomic_store_explicit(&c->busy_us, on ? (int64_t)(ferry_now() * 1e6) : 0,
			      memory_order_relaxed);
}

/*
 * The pids of this process's connections to w's database, as a text[]
 * literal in pids; returns 1 when one of them has been in its statement
 * for look_after seconds, 0 when none has, or FERRY_ENOMEM.
 */
static int our_pids(struct ferry_watch *w, double now, struct ferry_buf *pids)
{
	struct ferry_conn *c;
	int busy = 0, e = 0;
	char n[16];

	pthread_mutex_lock(&live_lock);
	for (c = live; c; c = c->live_next) {
		int64_t b;

		if (strcmp(c->db_key, w->db_key))
			continue;
		b = atomic_load_explicit(&c->busy_us, memory_order_relaxed);
		if (b && now - (double)b / 1e6 >= w->look_after)
			busy = 1;
		snprintf(n, sizeof(n), "%d", c->pid);
		e |= ferry_pg_array_add(pids, n, strlen(n));
	}
	pthread_mutex_unlock(&live_lock);
	e |= ferry_pg_array_end(pids);
	return e < 0 ? FERRY_ENOMEM : busy;
}

/* ---- describing a wait ----------------------------------------------------- */

/* "45 s", "3 min", "5 h", "2 d": how long a holder has been as it is. */
static int add_span(struct ferry_buf *b, double s)
{
	if (s < 120)
		return ferry_buf_addf(b, "%lld s", (long long)(s < 0 ? 0 : s));
	if (s < 7200)
		return ferry_buf_addf(b, "%lld min", (long long)(s / 60));
	if (s < 172800)
		return ferry_buf_addf(b, "%lld h", (long long)(s / 3600));
	return ferry_buf_addf(b, "%lld d", (long long)(s / 86400));
}

static const char *skip_space(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			p = e ? e + 2 : p + strlen(p);
		} else {
			return p;
		}
	}
}

/* The next word of q at *pp (letters and '_'), upper-cased into w. */
static size_t next_word(const char **pp, char *w, size_t n)
{
	const char *p = skip_space(*pp);
	size_t k = 0;

	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') {
		if (k + 1 < n)
			w[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		p++;
	}
	w[k] = '\0';
	*pp = p;
	return k;
}

/*
 * The command of a statement's text as PostgreSQL's command tags name it
 * ("COPY", "CREATE INDEX", "ALTER TABLE", "LOCK TABLE") into out, or ""
 * when the text holds more than one statement (a migration's script, of
 * which pg_stat_activity shows the whole: its first command would
 * mislead) or none.
 */
static void command_of(const char *q, char *out, size_t n)
{
	static const char *const skip[] = { "UNIQUE", "OR", "REPLACE", "TEMP", "TEMPORARY",
					    "UNLOGGED", "GLOBAL", "LOCAL", NULL };
	const char *p = q, *semi;
	char w[32];
	size_t i;
	int quoted = 0;

	out[0] = '\0';
	for (semi = q; *semi && (quoted || *semi != ';'); semi++)
		if (*semi == '\'')
			quoted = !quoted;
	if (*semi == ';' && *skip_space(semi + 1))
		return;
	if (!next_word(&p, w, sizeof(w)))
		return;
	snprintf(out, n, "%s", w);
	if (strcmp(w, "CREATE") && strcmp(w, "ALTER") && strcmp(w, "DROP")) {
		if (!strcmp(w, "LOCK"))
			snprintf(out, n, "LOCK TABLE");
		return;
	}
	while (next_word(&p, w, sizeof(w))) {
		for (i = 0; skip[i] && strcmp(skip[i], w); i++)
			;
		if (skip[i])
			continue;
		if (strlen(out) + 1 + strlen(w) < n) {
			strcat(out, " ");
			strcat(out, w);
		}
		if (strcmp(w, "MATERIALIZED"))
			break;
	}
}

/* The columns of WATCH_DETAIL. */
enum {
	D_PID, D_WAITED, D_QUERY, D_LOCKTYPE, D_RELKIND, D_NSP, D_REL, D_RELID, D_XID,
	D_OBJID, D_BPID, D_OURS, D_APP, D_USER, D_ADDR, D_STATE, D_BTYPE, D_FOR,
	D_XSTART, D_BWAITS
};

/*
 * One row per waiting backend of ours (w, $1) and holder of what it
 * waits for (pg_blocking_pids: the sessions whose locks conflict, and
 * those queued ahead of it for a conflicting one).  The lock is named
 * from this database's catalog; a row lock by the tuple lock its waiter
 * holds.  waitstart (PostgreSQL 14) read through to_jsonb, so an older
 * server gives the statement's start instead.  Holder 0 is a prepared
 * transaction.
 */
static const char watch_detail[] =
	"SELECT w.pid,"
	" extract(epoch FROM now() - coalesce((to_jsonb(l) ->> 'waitstart')::timestamptz,"
	"   w.query_start, now()))::float8,"
	" w.query, l.locktype, c.relkind, n.nspname, c.relname,"
	" coalesce(l.relation, tl.relation), l.transactionid, l.objid,"
	" bp.pid, bp.pid = ANY($2::int[]),"
	" b.application_name, b.usename, host(b.client_addr), b.state, b.backend_type,"
	" extract(epoch FROM now() - b.state_change)::float8, b.xact_start,"
	" CASE WHEN b.wait_event_type = 'Lock' THEN (pg_blocking_pids(b.pid))[1] END"
	" FROM pg_stat_activity w"
	" JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted"
	" LEFT JOIN LATERAL (SELECT t.relation FROM pg_locks t WHERE t.pid = w.pid"
	"   AND t.locktype = 'tuple' LIMIT 1) tl ON true"
	" LEFT JOIN pg_class c ON c.oid = coalesce(l.relation, tl.relation)"
	"   AND l.database IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))"
	" LEFT JOIN pg_namespace n ON n.oid = c.relnamespace"
	" CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)"
	" LEFT JOIN pg_stat_activity b ON b.pid = bp.pid"
	" WHERE w.pid = ANY($1::int[]) ORDER BY w.pid";

/* Which of our backends wait for a lock now: the light question. */
static const char watch_light[] =
	"SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND wait_event_type = 'Lock'";

static const char *col(PGresult *res, int r, int k)
{
	return PQgetisnull(res, r, k) ? NULL : PQgetvalue(res, r, k);
}

static const char *kind_name(const char *relkind)
{
	switch (relkind ? relkind[0] : 0) {
	case 'r': case 'p': return "table";
	case 'i': case 'I': return "index";
	case 'S': return "sequence";
	case 'v': return "view";
	case 'm': return "materialized view";
	case 'f': return "foreign table";
	case 't': return "TOAST table";
	default: return "relation";
	}
}

/* "a lock on table 'states' (COPY)": what row r's backend waits for. */
static int add_target(struct ferry_buf *b, PGresult *res, int r)
{
	const char *type = col(res, r, D_LOCKTYPE), *rel = col(res, r, D_REL);
	const char *nsp = col(res, r, D_NSP), *q = col(res, r, D_QUERY);
	char tag[64];
	int e = 0;

	if (!type)
		type = "?";
	if (rel && (!strcmp(type, "relation") || !strcmp(type, "tuple") ||
		    !strcmp(type, "transactionid"))) {
		e |= ferry_buf_addf(b, "a %s on %s '", strcmp(type, "relation") ? "row lock" : "lock",
				    strcmp(type, "relation") ? "table" : kind_name(col(res, r, D_RELKIND)));
		if (nsp && strcmp(nsp, "public"))
			e |= ferry_buf_addf(b, "%s.", nsp);
		e |= ferry_buf_addf(b, "%s'", rel);
	} else if (!strcmp(type, "relation")) {
		e |= ferry_buf_addf(b, "a lock on relation %s", col(res, r, D_RELID) ?
				    col(res, r, D_RELID) : "?");
	} else if (!strcmp(type, "transactionid") && col(res, r, D_XID)) {
		e |= ferry_buf_addf(b, "a row lock (transaction %s)", col(res, r, D_XID));
	} else if (!strcmp(type, "advisory")) {
		e |= ferry_buf_addf(b, "advisory lock %s", col(res, r, D_OBJID) ?
				    col(res, r, D_OBJID) : "?");
	} else {
		e |= ferry_buf_addf(b, "a lock (%s)", type);
	}
	command_of(q ? q : "", tag, sizeof(tag));
	if (tag[0])
		e |= ferry_buf_addf(b, " (%s)", tag);
	return e;
}

/* "pid 4242 (application 'psql', user 'ha', 127.0.0.1, idle in
 * transaction for 3 min)": who holds it, as far as this role may see. */
static int add_holder(struct ferry_buf *b, PGresult *res, int r)
{
	const char *bpid = col(res, r, D_BPID), *app = col(res, r, D_APP);
	const char *user = col(res, r, D_USER), *addr = col(res, r, D_ADDR);
	const char *state = col(res, r, D_STATE), *btype = col(res, r, D_BTYPE);
	const char *dur = col(res, r, D_FOR), *behind = col(res, r, D_BWAITS);
	double s = dur ? strtod(dur, NULL) : 0;
	int e = 0, n = 0;

	if (!bpid || !strcmp(bpid, "0"))
		return ferry_buf_addstr(b, "a prepared transaction (pg_prepared_xacts; "
					"COMMIT PREPARED or ROLLBACK PREPARED ends it)");
	e |= ferry_buf_addf(b, "pid %s (", bpid);
	if (app && *app)
		e |= ferry_buf_addf(b, "%sapplication '%s'", n++ ? ", " : "", app);
	else if (btype && strcmp(btype, "client backend"))
		e |= ferry_buf_addf(b, "%s%s", n++ ? ", " : "", btype);
	else if (btype)
		e |= ferry_buf_addf(b, "%sno application name", n++ ? ", " : "");
	if (user)
		e |= ferry_buf_addf(b, "%suser '%s'", n++ ? ", " : "", user);
	if (addr)
		e |= ferry_buf_addf(b, "%s%s", n++ ? ", " : "", addr);
	else if (state && btype && !strcmp(btype, "client backend"))
		e |= ferry_buf_addf(b, "%slocal", n++ ? ", " : "");
	if (state && !strncmp(state, "idle in transaction", 19)) {
		e |= ferry_buf_addf(b, "%s%s for ", n++ ? ", " : "", state);
		e |= add_span(b, s);
	} else if (state && !strcmp(state, "active") && behind) {
		e |= ferry_buf_addf(b, "%swaiting itself for a lock held by pid %s", n++ ? ", " : "",
				    behind);
	} else if (state && !strcmp(state, "active")) {
		e |= ferry_buf_addf(b, "%srunning a statement for ", n++ ? ", " : "");
		e |= add_span(b, s);
	} else if (state && !strcmp(state, "idle")) {
		e |= ferry_buf_addf(b, "%sidle for ", n++ ? ", " : "");
		e |= add_span(b, s);
	} else if (state) {
		e |= ferry_buf_addf(b, "%s%s", n++ ? ", " : "", state);
	}
	if (!n)  /* gone since, or hidden from this role */
		return ferry_buf_setlen(b, b->len - 2) | e;
	return e | ferry_buf_addch(b, ')');
}

/* ---- the watch's thread ------------------------------------------------------ */

/* Remember what pid waits for in this look; a second holder of the same
 * wait is added to the first. */
static int seen_set(struct ferry_watch *w, int pid, const char *target, const char *holder,
		    double now)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct seen *s = NULL;
	size_t i;
	int e = 0;

	for (i = 0; i < w->nseen && !s; i++)
		if (w->seen[i].pid == pid)
			s = &w->seen[i];
	if (!s) {
		if (FERRY_GROW(w->seen, w->seencap, w->nseen + 1) < 0)
			return FERRY_ENOMEM;
		s = &w->seen[w->nseen++];
		memset(s, 0, sizeof(*s));
		s->pid = pid;
	}
	if (s->pass == w->pass && s->what)
		e |= ferry_buf_addf(&b, "%s, and by %s", s->what, holder);
	else
		e |= ferry_buf_addf(&b, "%s held by %s", target, holder);
	if (e < 0) {
		ferry_buf_release(&b);
		return FERRY_ENOMEM;
	}
	ferry_free(s->what);
	s->what = ferry_buf_detach(&b, NULL);
	s->pass = w->pass;
	s->at = now;
	return 0;
}

/* Go through the rows of watch_detail: remember, and say what is new. */
static void tell(struct ferry_watch *w, PGresult *res, double now)
{
	struct ferry_buf target = FERRY_BUF_INIT, holder = FERRY_BUF_INIT,
			 key = FERRY_BUF_INIT, line = FERRY_BUF_INIT;
	int r;

	w->pass++;
	for (r = 0; r < PQntuples(res); r++) {
		double waited = strtod(PQgetvalue(res, r, D_WAITED), NULL);
		int own = col(res, r, D_OURS) && !strcmp(col(res, r, D_OURS), "t");
		struct said *s = NULL;
		size_t i;
		int e = 0, say = 0;

		ferry_buf_clear(&target);
		ferry_buf_clear(&holder);
		ferry_buf_clear(&key);
		ferry_buf_clear(&line);
		e |= add_target(&target, res, r);
		e |= add_holder(&holder, res, r);
		e |= ferry_buf_addf(&key, "%s|%s|%s|%s|%s", col(res, r, D_BPID) ? col(res, r, D_BPID) : "",
				    col(res, r, D_XSTART) ? col(res, r, D_XSTART) : "",
				    PQgetvalue(res, r, D_LOCKTYPE), PQgetvalue(res, r, D_RELID),
				    PQgetvalue(res, r, D_XID));
		e |= ferry_buf_addf(&line, "%s held by %s", target.buf, holder.buf);
		if (e < 0)
			continue;
		pthread_mutex_lock(&w->lock);
		if (!own && seen_set(w, atoi(PQgetvalue(res, r, D_PID)), target.buf, holder.buf,
				     now) < 0)
			e = FERRY_ENOMEM;
		for (i = 0; i < w->nsaid && !s; i++)
			if (!strcmp(w->said[i].key, key.buf))
				s = &w->said[i];
		if (s && waited > s->waited)
			s->waited = waited;
		else if (!s && waited >= FERRY_WATCH_SAY && e == 0 &&
			 FERRY_GROW(w->said, w->saidcap, w->nsaid + 1) == 0) {
			s = &w->said[w->nsaid];
			s->key = ferry_strdup(key.buf);
			s->what = ferry_strdup(line.buf);
			s->waited = waited;
			s->own = own;
			if (s->key && s->what) {
				w->nsaid++;
				say = 1;
			} else {
				ferry_free(s->key);
				ferry_free(s->what);
			}
		}
		pthread_mutex_unlock(&w->lock);
		/* a wait not said yet is looked at again when it is due */
		if (!s && waited < FERRY_WATCH_SAY && now + FERRY_WATCH_SAY - waited < w->next_look)
			w->next_look = now + FERRY_WATCH_SAY - waited + 0.05;
		if (say && own)
			ferry_debug("lock watch: pid %s waits for %s, of this process",
				    PQgetvalue(res, r, D_PID), line.buf);
		else if (say && ferry_buf_addf(&line, ": %s", w->advice) == 0) {
			struct ferry_buf msg = FERRY_BUF_INIT;

			if (ferry_buf_addf(&msg, "waiting %lld s for %s", (long long)waited,
					   line.buf) == 0)
				w->say(w->ud, msg.buf);
			ferry_buf_release(&msg);
		}
	}
	ferry_buf_release(&target);
	ferry_buf_release(&holder);
	ferry_buf_release(&key);
	ferry_buf_release(&line);
}

static int prepare(struct ferry_watch *w, const char *name, const char *sql, int n)
{
	PGresult *res = PQprepare(w->pg, name, sql, n, NULL);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc < 0) {
		struct ferry_error e = FERRY_ERROR_INIT;

		pg_fail(w->pg, res, &e, "lock watch: cannot prepare its questions");
		ferry_debug("%s", e.msg);
	}
	PQclear(res);
	return rc;
}

/* The watch's own connection; quiet and tried again later on failure. */
static int watch_connect(struct ferry_watch *w, double now)
{
	/* the url first: the keywords after it override its own */
	const char *keys[] = { "dbname", "application_name", "connect_timeout", NULL };
	const char *vals[] = { w->conninfo, "ferry lock watch", "5", NULL };

	if (now < w->next_connect)
		return -1;
	w->pg = PQconnectdbParams(keys, vals, 1);
	if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) {
		struct ferry_error e = FERRY_ERROR_INIT;

		pg_fail(w->pg, NULL, &e, "lock watch: cannot connect");
		ferry_debug("%s (tried again in %.0f s)", e.msg, WATCH_RETRY);
		PQfinish(w->pg);
		w->pg = NULL;
		w->next_connect = now + WATCH_RETRY;
		return -1;
	}
	/* its questions never wait long themselves, and are planned once:
	 * the light one every WATCH_POLL s is then 0.1 ms of the server's
	 * time (0.6 ms parsed and planned each time) */
	PQclear(PQexec(w->pg, "SET statement_timeout = '5s'; SET lock_timeout = '1s'; "
		       "SET client_min_messages = warning"));
	if (prepare(w, "ferry_watch_light", watch_light, 1) < 0 ||
	    prepare(w, "ferry_watch_detail", watch_detail, 2) < 0) {
		PQfinish(w->pg);
		w->pg = NULL;
		w->next_connect = now + WATCH_RETRY;
		return -1;
	}
	ferry_debug("lock watch: a statement has run %.1f s, watching from pid %d",
		    w->look_after, PQbackendPID(w->pg));
	return 0;
}

static void look(struct ferry_watch *w)
{
	struct ferry_buf pids = FERRY_BUF_INIT, waiting = FERRY_BUF_INIT;
	double now = ferry_now();
	const char *params[2];
	PGresult *res = NULL;
	int r, e = 0;

	if (now < w->next_look || our_pids(w, now, &pids) <= 0)
		goto out;
	w->next_look = now + w->poll;
	if (!w->pg && watch_connect(w, now) < 0)
		goto out;
	params[0] = pids.buf;
	res = PQexecPrepared(w->pg, "ferry_watch_light", 1, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto failed;
	if (PQntuples(res) == 0)
		goto out;
	for (r = 0; r < PQntuples(res); r++)
		e |= ferry_pg_array_add(&waiting, PQgetvalue(res, r, 0),
					strlen(PQgetvalue(res, r, 0)));
	if ((e | ferry_pg_array_end(&waiting)) < 0)
		goto out;
	PQclear(res);
	params[0] = waiting.buf;
	params[1] = pids.buf;
	res = PQexecPrepared(w->pg, "ferry_watch_detail", 2, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto failed;
	tell(w, res, now);
	goto out;
failed:
	{
		struct ferry_error err = FERRY_ERROR_INIT;

		pg_fail(w->pg, res, &err, "lock watch: cannot ask the server");
		ferry_debug("%s", err.msg);
		if (PQstatus(w->pg) != CONNECTION_OK) {  /* a restart: connect again */
			PQfinish(w->pg);
			w->pg = NULL;
		}
	}
out:
	PQclear(res);
	ferry_buf_release(&pids);
	ferry_buf_release(&waiting);
}

static void *watch_main(void *arg)
{
	struct ferry_watch *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		long long ns;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (long long)ts.tv_nsec + (long long)(w->tick * 1e9);
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		look(w);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- the ops ------------------------------------------------------------------- */

static void watch_free(struct ferry_watch *w)
{
	size_t i;

	PQfinish(w->pg);
	for (i = 0; i < w->nseen; i++)
		ferry_free(w->seen[i].what);
	for (i = 0; i < w->nsaid; i++) {
		ferry_free(w->said[i].key);
		ferry_free(w->said[i].what);
	}
	ferry_free(w->seen);
	ferry_free(w->said);
	ferry_free(w->db_key);
	ferry_free(w->conninfo);
	ferry_free(w->advice);
	ferry_free(w);
}

int pg_watch_start(ferry_conn *c, const struct ferry_watch_opts *o, ferry_watch **out,
		   struct ferry_error *err)
{
	struct ferry_buf ci = FERRY_BUF_INIT;
	struct ferry_watch *w, *x;
	pthread_condattr_t ca;
	char *schema = NULL;
	int rc;

	*out = NULL;
	w = ferry_calloc(1, sizeof(*w));
	if (!w || !c->db_key || pg_conninfo(c->base.url, &ci, &schema) < 0 ||
	    !(w->conninfo = ferry_buf_detach(&ci, NULL)) || !(w->db_key = ferry_strdup(c->db_key)) ||
	    !(w->advice = ferry_strdup(o->advice ? o->advice : ""))) {
		ferry_buf_release(&ci);
		ferry_free(schema);
		if (w)
			watch_free(w);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	ferry_free(schema);
	w->say = o->say;
	w->ud = o->ud;
	w->look_after = o->look_after > 0 && o->look_after < FERRY_WATCH_SAY ?
			o->look_after : FERRY_WATCH_SAY;
	if (w->look_after < 0.1)
		w->look_after = 0.1;
	w->poll = w->look_after < WATCH_POLL ? w->look_after : WATCH_POLL;
	w->tick = w->poll / 2 < WATCH_TICK ? w->poll / 2 : WATCH_TICK;
	pthread_mutex_lock(&live_lock);
	for (x = watches; x && strcmp(x->db_key, w->db_key); x = x->next)
		;
	if (!x) {
		w->next = watches;
		watches = w;
	}
	pthread_mutex_unlock(&live_lock);
	if (x) {
		watch_free(w);
		return 1;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&w->thread, NULL, watch_main, w)) != 0) {
		pthread_mutex_lock(&live_lock);
		for (x = watches; x && x->next != w; x = x->next)
			;
		if (x)
			x->next = w->next;
		else
			watches = w->next;
		pthread_mutex_unlock(&live_lock);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		watch_free(w);
		return ferry_error_set(err, FERRY_EIO, "cannot start the lock watch: %s",
				       strerror(rc));
	}
	*out = w;
	return 0;
}

int pg_watch_seen(ferry_watch *w, const ferry_conn *c, double since, struct ferry_buf *out)
{
	size_t i;
	int rc = 1;

	if (!w)
		return 1;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->nseen && rc == 1; i++)
		if (w->seen[i].pid == c->pid && w->seen[i].at >= since)
			rc = ferry_buf_addstr(out, w->seen[i].what) < 0 ? FERRY_ENOMEM : 0;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void pg_watch_stop(ferry_watch *w, struct ferry_buf *said)
{
	struct ferry_watch *x;
	size_t i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_lock(&live_lock);
	for (x = watches; x && x->next != w; x = x->next)
		;
	if (x)
		x->next = w->next;
	else if (watches == w)
		watches = w->next;
	pthread_mutex_unlock(&live_lock);
	/* said's sticky error tells the caller of a line that did not fit */
	for (i = 0; said && i < w->nsaid; i++)
		if (!w->said[i].own && ferry_buf_addf(said, "waited at least %lld s for %s\n",
						      (long long)w->said[i].waited,
						      w->said[i].what) < 0)
			break;
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	watch_free(w);
}
