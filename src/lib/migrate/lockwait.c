/*
 * lockwait.c - a migration step and the locks of other sessions.
 *
 * An ALTER TABLE queued behind a long transaction (an application's
 * open transaction, a psql session left idle in one) waits for it, and
 * every later query on that table queues behind the ALTER: the classic
 * outage of a migration.  While a step's statement waits on a lock the
 * connector's lock watch (ops->watch_start) names who holds it, under the
 * step's line; --statement-lock-timeout makes the statement give up
 * instead (ops->lock_timeout: PostgreSQL's lock_timeout), so the step
 * fails and is rolled back like any failed step, with an error naming
 * the step and, when the watch saw them, the lock and its holder.  The
 * set-up before the first step (reading or creating the journal table,
 * --backup's pg_dump) is under the same watch and timeout: a lock on the
 * journal table would otherwise hang the run before any step.
 */
#include <stdio.h>
#include <string.h>

#include "ferry/log.h"
#include "mig_int.h"

void mig_timeout_text(int64_t ms, char *out, size_t n)
{
	if (ms % 1000 == 0)
		snprintf(out, n, "%lld s", (long long)(ms / 1000));
	else if (ms < 1000)
		snprintf(out, n, "%lld ms", (long long)ms);
	else
		snprintf(out, n, "%.1f s", (double)ms / 1000.0);
}

void mig_watch_start(struct ferry_migrator *m, void (*say)(void *m, const char *line))
{
	struct ferry_watch_opts o = { .say = say, .ud = m };
	struct ferry_error err = FERRY_ERROR_INIT;
	char advice[256], t[32];

	if (m->watch_tried || !m->db || !m->db->ops->watch_start)
		return;
	m->watch_tried = 1;
	if (m->stmt_lock_ms) {
		mig_timeout_text(m->stmt_lock_ms, t, sizeof(t));
		snprintf(advice, sizeof(advice), "migrate gives up at --statement-lock-timeout %s "
			 "unless that session ends first", t);
		/* look early enough to name the holder in the error of a
		 * timeout shorter than the wait that is said */
		o.look_after = (double)m->stmt_lock_ms / 4000.0;
	} else {
		snprintf(advice, sizeof(advice), "end that session or migrate waits on, and "
			 "queries on that table may queue behind it; ferry goes on when it is "
			 "released (--statement-lock-timeout gives up instead)");
	}
	o.advice = advice;
	if (m->db->ops->watch_start(m->db->c, &o, &m->watch, &err) < 0)
		ferry_debug("no lock watch: %s", err.msg);
}

void mig_watch_stop(struct ferry_migrator *m, json_t *report)
{
	struct ferry_buf said = FERRY_BUF_INIT;
	json_t *warn;
	char *line, *save = NULL;

	if (!m->watch)
		return;
	m->db->ops->watch_stop(m->watch, &said);
	m->watch = NULL;
	m->watch_tried = 0;
	if (!said.len || !report || !(warn = json_array())) {
		ferry_buf_release(&said);
		return;
	}
	for (line = strtok_r(said.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(warn, json_string(line));
	json_object_set_new(report, "warnings", warn);
	ferry_buf_release(&said);
}

int mig_lock_timeout_apply(struct ferry_migrator *m, struct ferry_error *err)
{
	if (!m->stmt_lock_ms || !m->db || !m->db->ops->lock_timeout)
		return 0;
	return m->db->ops->lock_timeout(m->db->c, m->stmt_lock_ms, err);
}

int mig_lock_timeout_explain(struct ferry_migrator *m, const char *who, const char *tail,
			     double t0, struct ferry_error *err)
{
	struct ferry_buf what = FERRY_BUF_INIT;
	struct ferry_error first = *err;
	char t[32];
	int seen = 1;

	/* FERRY_ETIMEOUT: the connector's word for a lock wait that
	 * lock_timeout ended */
	if (!m->stmt_lock_ms || err->code != FERRY_ETIMEOUT || !m->db)
		return 0;
	mig_timeout_text(m->stmt_lock_ms, t, sizeof(t));
	if (m->watch && m->db->ops->watch_seen)
		seen = m->db->ops->watch_seen(m->watch, m->db->c, t0, &what);
	if (seen == 0 && !ferry_buf_error(&what))
		ferry_error_set(err, first.code, "%s waited %s (--statement-lock-timeout) for %s "
				"and gave up: end that session or wait for it to finish%s",
				who, t, what.buf, tail);
	else
		ferry_error_set(err, first.code, "%s waited %s (--statement-lock-timeout) for a "
				"lock another session holds and gave up (pg_stat_activity and "
				"pg_locks show who holds it): %s%s", who, t, first.msg, tail);
	if (first.origin[0])
		ferry_error_origin(err, "%s", first.origin);
	ferry_buf_release(&what);
	return 1;
}
