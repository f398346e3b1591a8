/*
 * cutover_target.c - the new store at `ferry cutover prepare`: its
 * table made as ferry copy makes it (or its InfluxDB database), and the
 * rows an earlier plan left in the narrow table refused or, with
 * --truncate, emptied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/buf.h"
#include "ferry/copy.h"
#include "ferry/progress.h"
#include "relay/cutover_int.h"

/* The target schema, made as ferry copy makes it (narrow: the table the
 * relay also makes when missing); a note of what happened. */
void relay_cut_make_schema(PGconn *pg, const struct ferry_cutover_opts *o, struct ferry_buf *note)
{
	const char *t = o->ts.table ? o->ts.table : "telemetry_data";
	const char *p[1] = { t };
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_copy_opts co;
	PGresult *r = NULL;
	int rc, e = 0;

	if (o->new_url && !ferry_relay_is_pg_url(o->new_url)) {
		char msg[512];

		/* InfluxDB: the database (a relay writing it made it, maybe) */
		if (relay_cut_ifx_db(o->new_url, 1, msg, sizeof(msg)) < 0 ||
		    strstr(msg, "created"))
			e |= ferry_buf_addstr(note, msg);
		(void)e;
		return;
	}
	if ((o->ts.layout && strcmp(o->ts.layout, "narrow")) || o->ts.map)
		return;   /* wide: made point by point; a map: the user's tables */
	if (relay_pg_exec(pg, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, p, &r,
			  "cannot look for the target table", &err) < 0) {
		e |= ferry_buf_addstr(note, err.msg);
		(void)e;
		return;
	}
	rc = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (rc)
		return;
	ferry_copy_opts_init(&co);
	co.src = o->old_url;
	co.dst = o->db;
	co.job = "cutover-schema";
	co.schema_only = 1;
	co.progress_mode = FERRY_PROGRESS_QUIET;
	co.ts = o->ts;
	rc = ferry_copy_run(&co, &res, &err);
	/* a relay made it meanwhile: as good */
	if (rc < 0 && rc != FERRY_EEXIST)
		e |= ferry_buf_addf(note, "ferry copy --schema-only failed: %s", err.msg);
	(void)e;
	ferry_copy_result_free(res);
}

/*
 * The narrow table the backfill copies into holds no row at prepare: the
 * backfill copies every point before T0 into it, so a row there already
 * (an aborted plan's backfill and relays wrote it, a relay ran in dual
 * before any plan, a ferry copy loaded it) would be there twice (the
 * narrow layout keeps every row it is given) and the verify gate fail
 * on it.  ferry cannot tell its rows from others, so it empties the table
 * only when told (--truncate: the old store has every point ferry wrote
 * there); otherwise prepare is refused, naming the table.  In prepare's
 * transaction, before the plan and the relays' phase move: TRUNCATE
 * waits for the relays' writes under way, and a relay still in dual a
 * moment after it writes rows the seam finds (ferry.relay_spool.min_on_ns,
 * reset in the same transaction).  The wide layout (a table per
 * measurement whose key refuses a point twice), a map's tables and an
 * InfluxDB new store are left as they are.
 */
int relay_cut_leftover_rows(PGconn *pg, const struct ferry_cutover_opts *o, struct ferry_buf *note,
			    struct ferry_error *err)
{
	const char *t = o->ts.table ? o->ts.table : "telemetry_data";
	const char *p[1] = { t };
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *res = NULL;
	char *q = NULL, many[32];
	long long n;
	int rc = 0;

	if ((o->new_url && !ferry_relay_is_pg_url(o->new_url)) ||
	    (o->ts.layout && strcmp(o->ts.layout, "narrow")) || o->ts.map)
		return 0;
	if ((rc = relay_pg_exec(pg, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, p, &res,
				"cannot look for the target table", err)) < 0 ||
	    strcmp(PQgetvalue(res, 0, 0), "t"))
		goto out;
	PQclear(res);
	res = NULL;
	if (!(q = PQescapeIdentifier(pg, t, strlen(t))) ||
	    ferry_buf_addf(&sql, "SELECT count(*) FROM (SELECT FROM %s LIMIT 1000001) x", q) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = relay_pg_exec(pg, sql.buf, 0, NULL, &res, "cannot count the target table's rows",
				err)) < 0)
		goto out;
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(many, sizeof(many), "%s%lld", n > 1000000 ? "more than " : "",
		 n > 1000000 ? 1000000LL : n);
	if (!n)
		goto out;
	if (!o->truncate) {
		rc = ferry_error_set(err, FERRY_EEXIST, "table '%s' holds %s rows already: the "
				     "backfill copies every point before T0 into it, so they would be "
				     "there twice (the narrow layout keeps every row it is given) and "
				     "the verify gate would fail on them.  Rows ferry wrote (an aborted "
				     "cutover's backfill and relays, a relay that ran before any plan, "
				     "a ferry copy): prepare again with --truncate, which empties the "
				     "table (the old store has every point); other rows: give this plan "
				     "another --table", t, many);
		goto out;
	}
	ferry_buf_clear(&sql);
	if (ferry_buf_addf(&sql, "TRUNCATE %s", q) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = relay_pg_exec(pg, sql.buf, 0, NULL, NULL, "cannot empty the target table", err)) < 0)
		goto out;
	if (ferry_buf_addf(note, "table %s emptied of its %s rows (prepare --truncate)", t,
			   many) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	PQclear(res);
	PQfreemem(q);
	ferry_buf_release(&sql);
	return rc;
}
