/*
 * waits.c - a copy or a verify that waits on a lock says so.
 *
 * A table locked by another session (Home Assistant's recorder still
 * writing, a psql transaction left open, a LOCK TABLE, a migration's
 * ALTER TABLE) holds a COPY, a TRUNCATE or an index build until it is
 * released, and the progress line just stops.  The connector's lock
 * watch (ops->watch_start) names the session that holds it; this file
 * starts one for each of the run's databases, puts what it says on the
 * progress output (above the bar, or as a plain line; a warning when no
 * progress is shown), and turns each wait it said into a warning of the
 * run once it ends (the summary, and "warnings" in --json).
 */
#include <string.h>

#include "copy/planner.h"
#include "ferry/log.h"

static void say_wait(void *ud, const char *line)
{
	struct copy_watch *cw = ud;

	if (cw->quiet)
		ferry_warn("%s", line);
	else
		ferry_progress_note(cw->progress, line);
}

void copy_watch_start(struct copy_watch *cw, ferry_conn *a, ferry_conn *b,
		      ferry_progress *progress, int quiet)
{
	struct ferry_watch_opts o = {
		.say = say_wait,
		.ud = cw,
		.advice = "end that session or it waits on; ferry goes on when it is released",
	};
	ferry_conn *conns[2] = { a, b };
	struct ferry_error err = FERRY_ERROR_INIT;
	int i;

	memset(cw, 0, sizeof(*cw));
	cw->progress = progress;
	cw->quiet = quiet;
	for (i = 0; i < 2; i++) {
		const struct ferry_conn_ops *ops = conns[i] ? ferry_conn_ops_of(conns[i]) : NULL;

		/* 1: the same database as a's, watched already */
		if (!ops || !ops->watch_start)
			continue;
		if (ops->watch_start(conns[i], &o, &cw->w[i], &err) < 0)
			ferry_debug("no lock watch: %s", err.msg);
		else if (cw->w[i])
			cw->ops[i] = ops;
	}
}

void copy_watch_stop(struct copy_watch *cw, struct strv *warnings)
{
	struct ferry_buf said = FERRY_BUF_INIT;
	char *line, *save = NULL;
	int i;

	for (i = 0; i < 2; i++) {
		if (cw->w[i])
			cw->ops[i]->watch_stop(cw->w[i], &said);
		cw->w[i] = NULL;
	}
	for (line = strtok_r(said.buf, "\n", &save); warnings && line;
	     line = strtok_r(NULL, "\n", &save))
		plan_strv_pushf(warnings, "%s", line);
	ferry_buf_release(&said);
}
