/*
 * store_pg.c - the PostgreSQL sink of the relay, and the relay_store_*
 * entry points of both sinks (an influx:// URL goes to store_influx.c).
 *
 * A write turns every line of its records into rows with the live mapper
 * of tsmap (tm_live_rows: the layout `ferry copy` uses), converts them with
 * copy's own transform (copy_live_convert), sends them with the
 * connector's COPY, stores the spool position, and commits: rows and
 * position in one transaction, so that a replay after a crash starts
 * exactly after what PostgreSQL has.
 *
 * Bad input must not hold good points hostage: when PostgreSQL refuses
 * the COPY for the data (SQLSTATE class 22 or 23: a value the column type
 * cannot take, a check or unique constraint of a map's table), the write
 * is redone record by record, and a record that fails point by point, each
 * under a savepoint, so only the refused points are left out.  A lost
 * server (class 08, 57P01..03, a closed socket: FERRY_ECONN from the
 * connector) rolls back and drops the connection; the next call
 * reconnects.
 *
 * --layout wide writes a table per measurement through a stage table
 * that merges rows by key (store_wide.c).
 *
 * Memory per call: the records (the caller's), one line table of them,
 * and one batch of at most LIVE_ROWS rows / LIVE_BYTES bytes.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/registry.h"
#include "relay/store_pg_int.h"

/* ------------------------------------------------------------ connection */

static void pg_drop(struct relay_pg *s)
{
	if (s->c)
		ferry_conn_close(s->c);
	s->c = NULL;
}

static const char *const spool_ddl[] = {
	"CREATE SCHEMA IF NOT EXISTS ferry",
	"CREATE TABLE IF NOT EXISTS ferry.relay_spool (spool_id text PRIMARY KEY, "
	"seq bigint NOT NULL, updated_at timestamptz)",
	RELAY_SPOOL_MIN_DDL,
	RELAY_LATE_DDL,
	"CREATE TABLE IF NOT EXISTS ferry.relay_seen (h text PRIMARY KEY, "
	"at timestamptz NOT NULL DEFAULT now())",
	"CREATE INDEX IF NOT EXISTS relay_seen_at_idx ON ferry.relay_seen (at)",
};
/* The newest objects of spool_ddl: when they are there, so is the rest,
 * and spool_ddl is not run.  Its ALTER TABLE takes relay_spool's ACCESS
 * EXCLUSIVE lock and its CREATE INDEX relay_seen's SHARE lock even when
 * nothing is missing; a relay's write holds relay_seen's ROW EXCLUSIVE
 * lock, then wants relay_spool's: a `ferry cutover advance` reading the
 * old store's points through this sink (the seam) deadlocked with the
 * relays that way.  When it must run, each statement is a transaction of
 * its own, holding one lock at a time. */
static const char spool_there[] =
	"SELECT 'y' WHERE to_regclass('ferry.relay_seen_at_idx') IS NOT NULL"
	" AND to_regclass('ferry.relay_late') IS NOT NULL"
	" AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ferry.relay_spool')"
	" AND attname = 'late_kept' AND NOT attisdropped)";

static int one_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	(void)vals;
	(void)err;
	*(int *)ud = ncols > 0;
	return 0;
}

static int spool_tables(struct relay_pg *s, struct ferry_error *err)
{
	size_t i;
	int there = 0, rc;

	if ((rc = s->ops->query(s->c, spool_there, NULL, 0, one_row, &there, err)) < 0 || there)
		return rc;
	for (i = 0; i < sizeof(spool_ddl) / sizeof(spool_ddl[0]) && rc == 0; i++)
		rc = s->ops->exec(s->c, spool_ddl[i], err);
	return rc;
}

/* Connected and planned, or FERRY_ECONN (the store is down) or another
 * error (the table cannot be made: a configuration problem). */
static int pg_ready(struct relay_pg *s, struct ferry_error *err)
{
	int rc;

	if (s->c)
		return 0;
	if ((rc = ferry_conn_open(s->url, 0, &s->c, err)) < 0) {
		s->c = NULL;
		return rc;
	}
	s->ops = ferry_conn_ops_of(s->c);
	/* acknowledged means durable: a commit returns once its WAL is
	 * flushed, whatever the server's default (a server set to
	 * synchronous_commit = off would lose acknowledged points, and the
	 * spool position with them, in a crash) */
	if ((rc = s->ops->exec(s->c, "SET synchronous_commit = on", err)) < 0)
		goto fail;
	if (!s->spool_made) {
		if ((rc = spool_tables(s, err)) < 0)
			goto fail;
		s->spool_made = 1;
	}
	/* wide: each table is made when its first point comes (wide_sync) */
	if (!s->plan && !s->wide &&
	    (rc = copy_live_open(s->c, s->cat, NULL, s->must_exist, &s->plan, err)) < 0)
		goto fail;
	return 0;
fail:
	pg_drop(s);
	return rc;
}

static int pg_open(const char *url, const struct ferry_ts_opts *ts, struct relay_pg **out,
		   struct ferry_error *err)
{
	struct relay_pg *s = ferry_calloc(1, sizeof(*s));
	const char *const *names;
	struct ferry_error e = FERRY_ERROR_INIT;
	int rc;

	if (!s || !(s->url = ferry_strdup(url))) {
		ferry_free(s);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	lp_scratch_init(&s->scratch);
	ferry_buf_init(&s->seen, 0);
	pthread_mutex_init(&s->lock, NULL);
	if ((rc = tm_live_open(ts, &s->live, err)) < 0)
		goto fail;
	s->wide = tm_live_wide(s->live);
	if (!s->wide && (rc = tm_live_catalog(s->live, &s->cat, err)) < 0)
		goto fail;
	s->must_exist = tm_live_user_table(s->live);
	if (tm_live_pmap(s->live) && tm_pmap_run_new(tm_live_pmap(s->live), &s->run) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	/* wide: the batch is as wide as the table being written (wide_batch) */
	if (ferry_batch_init(&s->b, s->wide ? 1 : tm_live_columns(s->live, &names, NULL),
			     LIVE_ROWS) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	/* a server that is down now is not an error: the first write connects */
	if ((rc = pg_ready(s, &e)) < 0 && rc != FERRY_ECONN) {
		ferry_error_set(err, rc, "%s", e.msg);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	*out = NULL;
	if (s) {
		ferry_catalog_free(s->cat);
		tm_pmap_run_free(s->run);
		tm_live_close(s->live);
		ferry_batch_release(&s->b);
		lp_scratch_release(&s->scratch);
		pg_drop(s);
		pthread_mutex_destroy(&s->lock);
		ferry_free(s->url);
		ferry_free(s);
	}
	return rc;
}

static void pg_close(struct relay_pg *s)
{
	if (!s)
		return;
	pg_drop(s);
	relay_pgsink_wide_release(s);
	copy_live_close(s->plan);
	ferry_catalog_free(s->cat);
	tm_pmap_run_free(s->run);
	tm_live_close(s->live);
	ferry_batch_release(&s->b);
	lp_scratch_release(&s->scratch);
	ferry_free(s->lines);
	ferry_free(s->olines);
	ferry_buf_release(&s->mapped);
	ferry_buf_release(&s->seen);
	pthread_mutex_destroy(&s->lock);
	ferry_free(s->url);
	ferry_free(s);
}

/* ------------------------------------------------------------ lines */

static int line_add(struct relay_pg *s, const struct line *l)
{
	if (s->nlines == s->lcap) {
		size_t cap = s->lcap ? s->lcap * 2 : 256;
		struct line *nl = ferry_realloc(s->lines, cap * sizeof(*nl));

		if (!nl)
			return FERRY_ENOMEM;
		s->lines = nl;
		s->lcap = cap;
	}
	s->lines[s->nlines++] = *l;
	return 0;
}


/* A mapped point: its line (nanosecond timestamp) in s->mapped. */
static int map_out(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct relay_pg *s = ud;
	struct lp_point lp;
	struct line l = s->olines[s->cur];
	int rc;

	memset(&lp, 0, sizeof(lp));
	lp.measurement = p->measurement;
	lp.tags = (struct lp_tag *)p->tags;
	lp.ntags = p->ntags;
	lp.fields = (struct lp_field *)p->fields;
	lp.nfields = p->nfields;
	lp.has_ts = 1;
	lp.ts = p->time_ns;
	l.moff = s->mapped.len;
	l.mapped = 1;
	if ((rc = lp_point_write(&s->mapped, &lp)) == FERRY_ENOMEM)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	l.n = s->mapped.len - l.moff;
	if (rc < 0) {   /* a name line protocol cannot hold */
		s->mapped.len = l.moff;
		l.mapped = 0;
		if (line_add(s, &l) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		relay_pgsink_refuse(s, s->nlines - 1, "the point map made a point line protocol cannot "
		       "write (an empty name)");
		s->lines[s->nlines - 1].keep = 1;
		return 0;
	}
	return line_add(s, &l) < 0 ? ferry_error_set(err, FERRY_ENOMEM, "out of memory") : 0;
}

/* Through the point map: each client line becomes the lines of the points
 * its point maps to (none when dropped); a point the map refuses is
 * refused with the map's reason, as a copy rejects it. */
static int lines_map(struct relay_pg *s, struct ferry_error *err)
{
	size_t i, emitted;
	struct line *t;
	int rc;

	t = s->olines;
	s->olines = s->lines;
	s->lines = t;
	i = s->olcap;
	s->olcap = s->lcap;
	s->lcap = i;
	s->nolines = s->nlines;
	s->nlines = 0;
	ferry_buf_clear(&s->mapped);
	for (s->cur = 0; s->cur < s->nolines; s->cur++) {
		const struct line *l = &s->olines[s->cur];
		const char *why = NULL;
		struct tm_point tp;
		char mwhy[320];

		if (lp_parse_line(l->p, l->n, &s->pt, &s->scratch, &why) != LP_POINT ||
		    !s->pt.has_ts) {
			if (line_add(s, l) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		memset(&tp, 0, sizeof(tp));
		tp.measurement = s->pt.measurement;
		tp.tags = s->pt.tags;
		tp.ntags = s->pt.ntags;
		tp.fields = s->pt.fields;
		tp.nfields = s->pt.nfields;
		tp.time_ns = s->pt.ts;
		rc = tm_pmap_apply(s->run, &tp, map_out, s, &emitted, mwhy, sizeof(mwhy), err);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			if (line_add(s, l) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			relay_pgsink_refuse(s, s->nlines - 1, mwhy);
			s->lines[s->nlines - 1].keep = 1;
		}
	}
	/* the buffer has stopped moving */
	for (i = 0; i < s->nlines; i++)
		if (s->lines[i].mapped)
			s->lines[i].p = s->mapped.buf + s->lines[i].moff;
	return 0;
}

static int lines_make(struct relay_pg *s, struct relay_rec *recs, size_t n,
		      struct ferry_error *err)
{
	size_t r;

	s->nlines = 0;
	for (r = 0; r < n; r++) {
		/* by lp_next_line: a newline inside a string field value is
		 * part of its line (cut there, the line's rest was a point of
		 * its own, whatever the string said) */
		struct lp_cursor cur = LP_CURSOR_INIT;
		const char *line;
		size_t len;
		uint64_t lineno;

		while (lp_next_line(recs[r].lp, recs[r].n, &cur, 1, &line, &len, &lineno))
			if (len && line_add(s, &(struct line){ line, len, r, 0, 0, 0, 0, 0 }) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return s->run ? lines_map(s, err) : 0;
}

/* The first reason of a record's refusals is its why. */
void relay_pgsink_refuse(struct relay_pg *s, size_t line, const char *reason)
{
	struct line *l = &s->lines[line];
	struct relay_rec *rec = &s->recs[l->rec];

	if (l->bad == LINE_SEEN)
		return;
	if (!l->bad && !rec->why[0])
		snprintf(rec->why, sizeof(rec->why), "%.255s", reason);
	l->bad = 1;
}

static int map_reject(void *ud, int64_t key, const char *column, const char *reason,
		      const void *raw, size_t n, struct ferry_error *err)
{
	(void)column, (void)raw, (void)n, (void)err;
	relay_pgsink_refuse(ud, (size_t)key, reason);
	return 0;
}

static int conv_reject(void *ud, size_t row, const char *column, const char *reason,
		       struct ferry_error *err)
{
	struct relay_pg *s = ud;
	char why[256];

	(void)err;
	snprintf(why, sizeof(why), "column '%.60s': %.180s", column, reason);
	relay_pgsink_refuse(s, (size_t)s->b.keys[row], why);
	return 0;
}

/* ------------------------------------------------------------ writing */

static int flush(struct relay_pg *s, struct copy_live *plan, ferry_writer *w,
		 struct ferry_error *err)
{
	int rc;

	if (!s->b.nrows)
		return 0;
	if ((rc = copy_live_convert(plan, &s->b, conv_reject, s, err)) < 0)
		return rc;
	if (s->b.nrows > s->b.nskipped && (rc = s->ops->write_batch(w, &s->b, err)) < 0)
		return rc;
	ferry_batch_clear(&s->b);
	return 0;
}

/* Line i's point: 0, or 1 when it is none (the lines were checked: a
 * line that parses to no point is a blank or a comment). */
int relay_pgsink_line_point(struct relay_pg *s, size_t i, struct tm_point *tp)
{
	struct line *l = &s->lines[i];
	const char *why = NULL;

	if (lp_parse_line(l->p, l->n, &s->pt, &s->scratch, &why) != LP_POINT || !s->pt.has_ts)
		return 1;
	memset(tp, 0, sizeof(*tp));
	tp->measurement = s->pt.measurement;
	tp->tags = s->pt.tags;
	tp->ntags = s->pt.ntags;
	tp->fields = s->pt.fields;
	tp->nfields = s->pt.nfields;
	tp->time_ns = s->pt.ts;   /* relay_points: nanoseconds */
	tp->key = (int64_t)i;
	return 0;
}

/* COPY the rows of the lines [lo, hi) of table ti (those not refused
 * yet) with plan's spec to w. */
int relay_pgsink_copy_lines(struct relay_pg *s, struct copy_live *plan, ferry_writer *w, size_t ti,
			    size_t lo, size_t hi, struct ferry_error *err)
{
	size_t i;
	int rc = 0;

	for (i = lo; i < hi && rc == 0; i++) {
		struct line *l = &s->lines[i];
		struct tm_point tp;

		if (l->bad || l->table != ti || relay_pgsink_line_point(s, i, &tp))
			continue;
		if (s->b.nrows + tp.nfields > s->b.cap || s->b.arena.len > LIVE_BYTES)
			rc = flush(s, plan, w, err);
		if (rc == 0)
			rc = s->wide ? tm_live_rows_at(s->live, ti, &tp, &s->b, map_reject, s, err)
				     : tm_live_rows(s->live, &tp, &s->b, map_reject, s, err);
	}
	if (rc == 0)
		rc = flush(s, plan, w, err);
	return rc;
}

/* COPY the rows of lines [lo, hi) (those not refused yet). */
static int write_lines(struct relay_pg *s, size_t lo, size_t hi, struct ferry_error *err)
{
	struct ferry_write_spec spec;
	ferry_writer *w = NULL;
	int rc;

	if (s->wide)
		return relay_pgsink_write_wide(s, lo, hi, err);
	ferry_batch_clear(&s->b);
	copy_live_spec(s->plan, &spec);
	if ((rc = s->ops->write_open(s->c, &spec, &w, err)) < 0)
		return rc;
	rc = relay_pgsink_copy_lines(s, s->plan, w, 0, lo, hi, err);
	if (rc < 0) {
		s->ops->write_close(w, 0, NULL);
		ferry_batch_clear(&s->b);
		return rc;
	}
	return s->ops->write_close(w, 1, err);
}

/* A refusal of the data, not of the store: class 22 (data exception), 23
 * (integrity constraint violation), or 54000 (a value too long for an
 * index row: a huge series tag). */
static int is_data_error(const struct ferry_error *e)
{
	const char *st = strstr(e->origin, "sqlstate ");

	return e->code == FERRY_ESQL && st && (!strncmp(st + 9, "22", 2) ||
					       !strncmp(st + 9, "23", 2) ||
					       !strncmp(st + 9, "54000", 5));
}

static int savepoint(struct relay_pg *s, const char *verb, struct ferry_error *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "%s relay_sp", verb);
	return s->ops->exec(s->c, sql, err);
}

/* Lines [lo, hi) under a savepoint: 0 written, 1 refused for the data
 * (rolled back, e set), or a negative code. */
static int try_lines(struct relay_pg *s, size_t lo, size_t hi, struct ferry_error *e,
		     struct ferry_error *err)
{
	size_t i;
	int rc;

	for (i = lo; i < hi; i++)   /* marks of an earlier try are redone */
		if (s->lines[i].bad != LINE_SEEN && !s->lines[i].keep)
			s->lines[i].bad = 0;
	if ((rc = savepoint(s, "SAVEPOINT", err)) < 0)
		return rc;
	ferry_error_clear(e);
	if ((rc = write_lines(s, lo, hi, e)) == 0)
		return savepoint(s, "RELEASE SAVEPOINT", err);
	if (!is_data_error(e)) {
		ferry_error_set(err, rc, "%s", e->msg);
		ferry_error_origin(err, "%s", e->origin);
		return rc;
	}
	if ((rc = savepoint(s, "ROLLBACK TO SAVEPOINT", err)) < 0)
		return rc;
	return 1;
}

/* After PostgreSQL refused the write for its data: record by record, and
 * a refused record point by point. */
static int redo(struct relay_pg *s, size_t nrecs, struct ferry_error *err)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	size_t r, lo = 0, hi, i;
	int rc = 0;

	for (r = 0; r < nrecs && rc >= 0; r++) {
		for (hi = lo; hi < s->nlines && s->lines[hi].rec == r; hi++)
			;
		if (hi > lo && (rc = try_lines(s, lo, hi, &e, err)) == 1) {
			for (i = lo; i < hi && rc >= 0; i++) {
				rc = try_lines(s, i, i + 1, &e, err);
				if (rc == 1) {
					relay_pgsink_refuse(s, i, e.msg);
					rc = 0;
				}
			}
		}
		lo = hi;
	}
	return rc < 0 ? rc : 0;
}

/* The minute of t (ns since 1970), rounded down. */
static int64_t minute_of(int64_t t)
{
	const int64_t m = INT64_C(60000000000);

	return t / m - (t % m < 0);
}

/* The spool's position, in the transaction of the rows it replayed, with
 * the earliest time of those rows (min_ns), of those stamped at most
 * RELAY_SEAM_S before now (min_on_ns; RELAY_SPOOL_MIN_DDL) and the
 * minutes of those stamped earlier (RELAY_LATE_DDL). */
static int store_position(struct relay_pg *s, const char *spool_id, uint64_t seq,
			  struct ferry_error *err)
{
	struct ferry_buf lm = FERRY_BUF_INIT, lt = FERRY_BUF_INIT, wm = FERRY_BUF_INIT;
	char v[32], m[32], mall[32];
	const char *params[6] = { spool_id, v, NULL, NULL, NULL, NULL };
	int64_t min = INT64_MAX, all = INT64_MAX, t, late = INT64_MIN, was = INT64_MIN;
	struct timespec now;
	size_t i;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec > RELAY_SEAM_S)
		late = ((int64_t)now.tv_sec - RELAY_SEAM_S) * 1000000000;
	for (i = 0; i < s->nlines && rc == 0; i++) {
		struct tm_point tp;
		int64_t mi;

		if (s->lines[i].bad || lp_line_ts(s->lines[i].p, s->lines[i].n, &t) < 0)
			continue;
		if (t < all)
			all = t;
		if (t >= late) {
			if (t < min)
				min = t;
			continue;
		}
		if (relay_pgsink_line_point(s, i, &tp))
			continue;
		mi = minute_of(t);
		/* a late batch is mostly one measurement's consecutive minutes */
		if (mi == was && tp.measurement.n == wm.len &&
		    !memcmp(tp.measurement.p, wm.buf, wm.len))
			continue;
		if ((rc = ferry_pg_array_add(&lm, tp.measurement.p, tp.measurement.n)) == 0)
			rc = ferry_buf_addf(&lt, "%s%" PRId64, lt.len ? "," : "{", mi);
		was = mi;
		ferry_buf_clear(&wm);
		if (rc == 0)
			rc = ferry_buf_add(&wm, tp.measurement.p, tp.measurement.n);
	}
	if (rc == 0 && lm.len && (rc = ferry_pg_array_end(&lm)) == 0)
		rc = ferry_buf_addch(&lt, '}');
	if (rc < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(v, sizeof(v), "%" PRIu64, seq);
	snprintf(m, sizeof(m), "%" PRId64, min);
	snprintf(mall, sizeof(mall), "%" PRId64, all);
	if (min != INT64_MAX)
		params[2] = m;
	if (lm.len) {
		params[3] = lm.buf;
		params[4] = lt.buf;
	}
	if (all != INT64_MAX)
		params[5] = mall;
	/* late_kept stays false once an older relay wrote min_ns since
	 * prepare without recording its late minutes */
	rc = s->ops->query(s->c,
		"WITH late AS (INSERT INTO ferry.relay_late (measurement, minute)"
		" SELECT DISTINCT m, mi FROM unnest($4::text[], $5::bigint[]) AS u(m, mi)"
		" ORDER BY m, mi ON CONFLICT DO NOTHING)"   /* in one order: two relays
							     * deadlocked taking them */
		" INSERT INTO ferry.relay_spool (spool_id, seq, updated_at, min_ns, min_on_ns,"
		" late_kept) VALUES ($1, $2, now(), $6::bigint, $3::bigint, true)"
		" ON CONFLICT (spool_id) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now(),"
		" min_ns = least(ferry.relay_spool.min_ns, EXCLUDED.min_ns),"
		" min_on_ns = least(ferry.relay_spool.min_on_ns, EXCLUDED.min_on_ns),"
		" late_kept = coalesce(ferry.relay_spool.late_kept,"
		" ferry.relay_spool.min_ns IS NULL)",
		params, 6, NULL, NULL, err);
out:
	ferry_buf_release(&lm);
	ferry_buf_release(&lt);
	ferry_buf_release(&wm);
	return rc;
}

/*
 * A write seen before is not written again.  A client that did not get its
 * 204 (the relay was killed after the primary and the spool had the write,
 * or the answer was lost) sends the same batch again; InfluxDB keeps one
 * point per series and time, and the narrow table, which keeps every
 * row, would hold it twice.  So each record's identity (a 128-bit hash of
 * its database, retention policy and lines: a retried batch is the same
 * bytes, and a point without a timestamp was given one at its first
 * arrival) goes into ferry.relay_seen in the write's transaction; a record
 * whose identity is there already is left out.  Shared by every relay on
 * the database, so a retry that reaches another relay is caught too, and
 * kept SEEN_KEEP.
 */
static int seen_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct relay_pg *s = ud;
	char *hex = s->seen.buf;
	size_t r, i;

	(void)err;
	if (ncols < 1 || !vals[0])
		return 0;
	/* identity r is at r * 33 of "h0,h1,...": the first record with
	 * this identity is new, its lines are written */
	for (r = 0; r * 33 < s->seen.len; r++)
		if (!memcmp(hex + r * 33, vals[0], 32)) {
			for (i = 0; i < s->nlines; i++)
				if (s->lines[i].rec == r && s->lines[i].bad == LINE_SEEN)
					s->lines[i].bad = 0;
			break;
		}
	return 0;
}

static int seen_mark(struct relay_pg *s, const struct relay_rec *recs, size_t n,
		     struct ferry_error *err)
{
	const char *params[1];
	size_t r, i;
	int rc;

	/* the wide layout merges a point into its key's row: a retried batch
	 * written again changes nothing, and the same bytes written after
	 * another value of the point are the point's new value (v=1, v=2,
	 * v=1 leaves InfluxDB at 1), not a retry to leave out */
	if (s->wide)
		return 0;
	ferry_buf_clear(&s->seen);
	for (r = 0; r < n; r++) {
		char h[33], id[33 + 33];
		ferry_hash_stream *hs = ferry_hash_stream_new();

		if (!hs)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		ferry_hash_stream_update(hs, recs[r].db, strlen(recs[r].db) + 1);
		ferry_hash_stream_update(hs, recs[r].rp, strlen(recs[r].rp) + 1);
		ferry_hash_stream_update(hs, recs[r].lp, recs[r].n);
		ferry_hash_stream_hex(hs, h);
		ferry_hash_stream_free(hs);
		snprintf(id, sizeof(id), "%s%s", r ? "," : "", h);
		if (ferry_buf_addstr(&s->seen, id) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* every line is a retry's until the server says its record is new */
	for (i = 0; i < s->nlines; i++)
		if (!s->lines[i].bad)
			s->lines[i].bad = LINE_SEEN;
	params[0] = s->seen.buf;
	rc = s->ops->query(s->c,
		"INSERT INTO ferry.relay_seen (h) SELECT unnest(string_to_array($1, ',')) "
		"ON CONFLICT (h) DO NOTHING RETURNING h", params, 1, seen_row, s, err);
	if (rc == 0 && ++s->writes >= SEEN_PRUNE_EVERY) {
		s->writes = 0;
		rc = s->ops->exec(s->c, "DELETE FROM ferry.relay_seen WHERE at < now() - "
				  "interval '" SEEN_KEEP "'", err);
	}
	return rc;
}

static int pg_write(struct relay_pg *s, struct relay_rec *recs, size_t n,
		    const char *spool_id, struct ferry_error *err)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	uint64_t seq = 0;
	size_t i, li;
	int rc, in_txn = 0, had;

	for (i = 0; i < n; i++) {
		recs[i].nbad = 0;
		recs[i].why[0] = '\0';
		if (recs[i].seq > seq)
			seq = recs[i].seq;
	}
	s->recs = recs;
	if ((rc = lines_make(s, recs, n, err)) < 0)
		goto out;
	had = s->c != NULL;
	if ((rc = pg_ready(s, err)) < 0)
		goto out;
	if (s->wide && (rc = relay_pgsink_wide_route(s, err)) < 0)
		goto out;
	/* a connection that died while idle (the server restarted since the
	 * last write) fails at BEGIN, before anything was sent: connect again
	 * once, rather than fail a write that a live server can take */
	if ((rc = s->ops->begin(s->c, err)) == FERRY_ECONN && had) {
		pg_drop(s);
		if ((rc = pg_ready(s, err)) == 0)
			rc = s->ops->begin(s->c, err);
	}
	if (rc < 0)
		goto out;
	in_txn = 1;
	if ((rc = seen_mark(s, recs, n, err)) < 0)
		goto out;
	if ((rc = write_lines(s, 0, s->nlines, &e)) < 0) {
		if (!is_data_error(&e)) {
			ferry_error_set(err, rc, "%s", e.msg);
			ferry_error_origin(err, "%s", e.origin);
			goto out;
		}
		/* the whole transaction is aborted: again, piece by piece */
		s->ops->rollback(s->c, NULL);
		in_txn = 0;
		/* a record keeps its why when it is a refusal of the layout
		 * (before the transaction: the first of the record's) */
		for (i = 0, li = 0; i < n; i++) {
			int keep = 0;

			for (; li < s->nlines && s->lines[li].rec == i; li++)
				keep |= s->lines[li].keep;
			if (!keep)
				recs[i].why[0] = '\0';
		}
		if ((rc = s->ops->begin(s->c, err)) < 0)
			goto out;
		in_txn = 1;
		for (i = 0; i < s->nlines; i++)   /* the rollback forgot them */
			if (s->lines[i].bad == LINE_SEEN)
				s->lines[i].bad = 0;
		if ((rc = seen_mark(s, recs, n, err)) < 0)
			goto out;
		if ((rc = redo(s, n, err)) < 0)
			goto out;
	}
	if (spool_id && (rc = store_position(s, spool_id, seq, err)) < 0)
		goto out;
	rc = s->ops->commit(s->c, err);
	in_txn = 0;
	if (rc < 0)
		goto out;
	for (i = 0; i < s->nlines; i++) {
		struct line *l = &s->lines[i];
		struct relay_rec *rec = &recs[l->rec];

		if (l->bad != 1)
			continue;
		rec->nbad++;
		if (rec->bad && (ferry_buf_add(rec->bad, l->p, l->n) < 0 ||
				 ferry_buf_addch(rec->bad, '\n') < 0))
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
out:
	if (in_txn && s->c)
		s->ops->rollback(s->c, NULL);
	if (rc == FERRY_ECONN)
		pg_drop(s);   /* the next call connects again */
	if (rc < 0)
		for (i = 0; i < n; i++)
			recs[i].nbad = 0;
	s->recs = NULL;
	return rc;
}

struct pos_ctx {
	uint64_t seq;
};

static int pos_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	(void)err;
	if (ncols > 0 && vals[0])
		((struct pos_ctx *)ud)->seq = strtoull(vals[0], NULL, 10);
	return 0;
}

static int pg_position(struct relay_pg *s, const char *spool_id, uint64_t *seq,
		       struct ferry_error *err)
{
	struct pos_ctx pc = { 0 };
	const char *params[1] = { spool_id };
	int rc;

	*seq = 0;
	if ((rc = pg_ready(s, err)) < 0)
		return rc;
	rc = s->ops->query(s->c, "SELECT seq FROM ferry.relay_spool WHERE spool_id = $1",
			   params, 1, pos_row, &pc, err);
	if (rc == FERRY_ECONN)
		pg_drop(s);
	if (rc == 0)
		*seq = pc.seq;
	return rc;
}

static int pg_ping(struct relay_pg *s)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	int rc = FERRY_ECONN, tries;

	/* twice: an idle connection the server dropped says nothing of now */
	for (tries = 0; tries < 2 && rc == FERRY_ECONN; tries++) {
		if (pg_ready(s, &e) < 0)
			return 0;
		if ((rc = s->ops->query(s->c, "SELECT 1", NULL, 0, NULL, NULL, &e)) == FERRY_ECONN)
			pg_drop(s);
	}
	return rc == 0;
}

/* ------------------------------------------------------------ entry points */

static int is_influx(const char *url)
{
	return !strncmp(url, "influx://", 9) || !strncmp(url, "influxs://", 10);
}

int relay_store_open(const char *url, int which, const struct ferry_ts_opts *ts,
		     struct relay_store **out, struct ferry_error *err)
{
	struct relay_store *s = ferry_calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (is_influx(url))
		rc = relay_ifx_open(url, which == RELAY_NEW, ts ? ts->map : NULL, &s->ifx, err);
	else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
		rc = pg_open(url, ts, &s->pg, err);
	else
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "the relay cannot write to this store: give a postgres:// or "
				     "influx:// URL");
	if (rc < 0) {
		ferry_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void relay_store_close(struct relay_store *s)
{
	if (!s)
		return;
	relay_ifx_close(s->ifx);
	pg_close(s->pg);
	ferry_free(s);
}

const char *relay_store_kind(const struct relay_store *s)
{
	return s->ifx ? "influx" : "postgres";
}

int relay_store_write(struct relay_store *s, struct relay_rec *recs, size_t n,
		      const char *spool_id, struct ferry_error *err)
{
	int rc;

	if (s->ifx)
		return relay_ifx_write(s->ifx, recs, n, err);
	if (!n)
		return 0;
	pthread_mutex_lock(&s->pg->lock);
	rc = pg_write(s->pg, recs, n, spool_id, err);
	pthread_mutex_unlock(&s->pg->lock);
	return rc;
}

int relay_store_position(struct relay_store *s, const char *spool_id, uint64_t *seq,
			 struct ferry_error *err)
{
	int rc;

	if (s->ifx) {
		*seq = 0;
		return 0;
	}
	pthread_mutex_lock(&s->pg->lock);
	rc = pg_position(s->pg, spool_id, seq, err);
	pthread_mutex_unlock(&s->pg->lock);
	return rc;
}

int relay_store_ping(struct relay_store *s)
{
	int up;

	if (s->ifx)
		return relay_ifx_ping(s->ifx);
	pthread_mutex_lock(&s->pg->lock);
	up = pg_ping(s->pg);
	pthread_mutex_unlock(&s->pg->lock);
	return up;
}

int relay_store_has_db(struct relay_store *s, const char *db, struct ferry_error *err)
{
	if (!s->ifx)
		return 1;   /* PostgreSQL takes every database's points into one table */
	return relay_ifx_has_db(s->ifx, db, err);
}

int relay_influx_query(struct relay_store *s, const struct relay_query *q,
		       struct relay_answer *ans, struct ferry_error *err)
{
	if (!s->ifx)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
				       "/query needs an InfluxDB store: PostgreSQL cannot answer InfluxQL");
	return relay_ifx_query(s->ifx, q, ans, err);
}
