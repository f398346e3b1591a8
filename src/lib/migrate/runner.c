/*
 * runner.c - the commands of `ferry migrate`, on top of the other layers:
 * discover (what exists), journal (what ran), lock (who runs), steps (how
 * to run one), backup (how to get back).
 *
 * The invariant `up` keeps: when it returns, every step of the run is
 * either applied and journaled, or its effects are undone and the attempt
 * journaled as failed/rolled_back.  A transactional SQL step commits its
 * journal row in the same transaction as its SQL.  When undoing fails the
 * run stops right there (reverting older steps under a newer half-reverted
 * one could break them), the journal says where, and status says what to
 * do next.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/progress.h"
#include "mig_int.h"

static const char *const state_names[] = {
	[MIG_PENDING] = "pending",
	[MIG_APPLIED] = "applied",
	[MIG_FAILED] = "failed",
	[MIG_DIRTY] = "dirty",
};

static char *dup_opt(const char *s, const char *def)
{
	return ferry_strdup(s ? s : def);
}

int ferry_migrator_open(const struct ferry_migrate_opts *o,
			ferry_migrator **out, struct ferry_error *err)
{
	struct ferry_migrator *m = ferry_calloc(1, sizeof(*m));
	struct ferry_buf jf = FERRY_BUF_INIT;
	char stamp[24];
	time_t t = time(NULL);
	struct tm tm;
	int rc = 0;

	if (!m)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	m->lock.fd = -1;
	m->dir = dup_opt(o->dir, "migrations");
	m->root = dup_opt(o->root, ".");
	m->python = dup_opt(o->python, "python3");
	m->db_url = o->db_url && *o->db_url ? ferry_strdup(o->db_url) : NULL;
	m->to = o->to ? ferry_strdup(o->to) : NULL;
	m->test_cmd = o->test_cmd ? ferry_strdup(o->test_cmd) : NULL;
	m->restart_cmd = o->restart_cmd ? ferry_strdup(o->restart_cmd) : NULL;
	m->lock_timeout = o->lock_timeout > 0 ? o->lock_timeout : 60;
	m->backup = o->backup;
	m->dry_run = o->dry_run;
	m->count = o->count > 0 ? o->count : 1;
	m->out = o->out;
	m->stmt_lock_ms = o->statement_lock_timeout_ms > 0 ? o->statement_lock_timeout_ms : 0;
	pthread_mutex_init(&m->out_lock, NULL);
	if (!m->dir || !m->root || !m->python || (o->db_url && *o->db_url && !m->db_url) ||
	    (o->to && !m->to) || (o->test_cmd && !m->test_cmd) ||
	    (o->restart_cmd && !m->restart_cmd) ||
	    ferry_buf_addf(&jf, "%s/.ferry/migrations.jsonl", m->root) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	m->journal_file = ferry_buf_detach(&jf, NULL);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(m->run_id, sizeof(m->run_id), "%s-%ld", stamp, (long)getpid());
	if (m->db_url && (rc = mig_db_open(m->db_url, o->read_only, &m->db, err)) < 0)
		goto out;
	rc = mig_discover(m, err);
out:
	ferry_buf_release(&jf);
	if (rc < 0) {
		ferry_migrator_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void ferry_migrator_free(ferry_migrator *m)
{
	size_t i;

	if (!m)
		return;
	mig_watch_stop(m, NULL);
	mig_lock_release(m);
	mig_db_close(m->db);
	for (i = 0; i < m->nsteps; i++)
		mig_step_release(&m->steps[i]);
	ferry_free(m->steps);
	for (i = 0; i < m->nskipped; i++)
		ferry_free(m->skipped[i]);
	ferry_free(m->skipped);
	mig_journal_release(m);
	if (m->shim_path) {
		unlink(m->shim_path);
		ferry_free(m->shim_path);
	}
	ferry_free(m->dir);
	ferry_free(m->root);
	ferry_free(m->python);
	ferry_free(m->db_url);
	ferry_free(m->to);
	ferry_free(m->test_cmd);
	ferry_free(m->restart_cmd);
	ferry_free(m->journal_file);
	pthread_mutex_destroy(&m->out_lock);
	ferry_free(m);
}

/* ---- shared helpers -------------------------------------------------------- */

static void say(struct ferry_migrator *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct ferry_migrator *m, const char *fmt, ...)
{
	va_list ap;

	if (!m->out)
		return;
	pthread_mutex_lock(&m->out_lock);
	va_start(ap, fmt);
	vfprintf(m->out, fmt, ap);
	va_end(ap);
	fflush(m->out);
	/* "-> label ... " waits for its result on the same line */
	m->line_open = fmt[0] && fmt[strlen(fmt) - 1] != '\n';
	pthread_mutex_unlock(&m->out_lock);
}

/* A lock wait the watch says, from its thread: on a line of its own
 * under the step's, which then ends there (see say_result). */
static void say_wait(void *ud, const char *line)
{
	struct ferry_migrator *m = ud;

	if (!m->out)
		return;
	pthread_mutex_lock(&m->out_lock);
	fprintf(m->out, "%s   %s\n", m->line_open ? "\n" : "", line);
	fflush(m->out);
	m->line_cut |= m->line_open;
	m->line_open = 0;
	pthread_mutex_unlock(&m->out_lock);
}

/* A step's result ("ok 0.1s"): after the step's "-> label ... ", or the
 * label again when a wait cut that line. */
static void say_result(struct ferry_migrator *m, const struct mig_step *s, int forward,
		       const char *result, double dt)
{
	if (!m->out)
		return;
	pthread_mutex_lock(&m->out_lock);
	if (m->line_cut)
		fprintf(m->out, "%s %s ... ", forward ? "->" : "<-", s->label);
	fprintf(m->out, "%s %.1fs\n", result, dt);
	fflush(m->out);
	m->line_cut = m->line_open = 0;
	pthread_mutex_unlock(&m->out_lock);
}

/* Print a step's output indented, at most the last 20 lines; output
 * whose collecting ran out of memory is not shown as if whole. */
static void say_indented(struct ferry_migrator *m, const struct ferry_buf *out)
{
	const char *text = out->buf, *p = text + strlen(text);
	int lines = 0;

	if (!m->out)
		return;
	if (ferry_buf_error(out)) {
		fprintf(m->out, "     | (output lost: out of memory)\n");
		return;
	}
	if (!*text)
		return;
	while (p > text && lines <= 20)
		if (*--p == '\n' && p[1])
			lines++;
	if (p > text)
		p++;
	while (*p) {
		const char *e = strchr(p, '\n');
		int n = e ? (int)(e - p) : (int)strlen(p);

		fprintf(m->out, "     | %.*s\n", n, p);
		p += n + (e ? 1 : 0);
	}
}

static const char *target_name(struct ferry_migrator *m)
{
	return m->db ? m->db->redacted : m->journal_file;
}

static json_t *new_report(struct ferry_migrator *m, const char *command)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "command", command,
			 "target", target_name(m), "dir", m->dir, "root", m->root,
			 "run_id", m->run_id);
}

static int emit(json_t *report, int rc, struct ferry_error *err,
		struct ferry_buf *json)
{
	char *s;

	if (!report)
		return rc;
	json_object_set_new(report, "ok", json_boolean(rc == 0));
	if (rc < 0)
		json_object_set_new(report, "error", json_string(err->msg));
	if (json && (s = json_dumps(report, JSON_INDENT(2)))) {
		if (ferry_buf_addf(json, "%s\n", s) < 0 && rc >= 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		free(s);
	}
	json_decref(report);
	return rc;
}

static int is_drifted(const struct mig_step *s)
{
	return (s->state == MIG_APPLIED || s->state == MIG_DIRTY) && s->applied &&
	       strcmp(s->applied->checksum, s->checksum);
}

static int has_step(struct ferry_migrator *m, const char *version)
{
	size_t i;

	for (i = 0; i < m->nsteps; i++)
		if (!strcmp(m->steps[i].version, version))
			return 1;
	return 0;
}

/* Is row r the newest row of its version (and that version has no file)? */
static int is_missing(struct ferry_migrator *m, size_t r)
{
	size_t j;

	if (has_step(m, m->rows[r].version) ||
	    mig_outcome_state(m->rows[r].outcome) != MIG_APPLIED)
		return 0;
	for (j = r + 1; j < m->nrows; j++)
		if (!strcmp(m->rows[j].version, m->rows[r].version))
			return 0;
	return 1;
}

/* Does the --to target (or baseline version) cover step s? */
static int covers(struct ferry_migrator *m, const char *target,
		  const struct mig_step *s)
{
	size_t i;

	for (i = 0; i < m->nsteps; i++)
		if (!strcmp(m->steps[i].version, target) ||
		    !strcmp(m->steps[i].label, target))
			return mig_step_cmp(s, &m->steps[i]) <= 0;
	return mig_target_covers(target, s);
}

/* A --to or baseline version must name something that exists. */
static int target_known(struct ferry_migrator *m, const char *target)
{
	size_t i;
	char *end;
	unsigned long long n = strtoull(target, &end, 10);

	for (i = 0; i < m->nsteps; i++) {
		const struct mig_step *s = &m->steps[i];

		if (!strcmp(s->version, target) || !strcmp(s->label, target) ||
		    (s->group == 0 && !*end && end != target && s->num == n) ||
		    (s->group == 1 && (!mig_semver_cmp(s->to_ver, target) ||
				       !mig_semver_cmp(s->from_ver, target))))
			return 1;
	}
	return 0;
}

/*
 * Before any step: the run's lock (lock), the journal read (and made,
 * create).  Reading the journal table waits on another session's lock on
 * it as a step's statement does: the watch says it, and
 * --statement-lock-timeout ends it (mig_journal_load says what waited).
 */
static int prepare(struct ferry_migrator *m, int lock, int create,
		   struct ferry_error *err)
{
	int rc;

	if (lock || m->stmt_lock_ms) {
		mig_watch_start(m, say_wait);
		if ((rc = mig_lock_timeout_apply(m, err)) < 0)
			return rc;
	}
	if (lock && (rc = mig_lock_acquire(m, err)) < 0)
		return rc;
	if ((rc = mig_journal_load(m, create, err)) < 0)
		return rc;
	mig_journal_apply_states(m);
	return 0;
}

static int check_blocked(struct ferry_migrator *m, int allow_revert_failed,
			 struct ferry_error *err)
{
	size_t i;

	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (s->state != MIG_DIRTY)
			continue;
		if (allow_revert_failed && !strcmp(s->last->outcome, "revert_failed"))
			continue;
		return ferry_error_set(err, FERRY_EABORT,
			"'%s' is %s since %s (%s); fix it by hand, then run 'ferry migrate repair'",
			s->label, !strcmp(s->last->outcome, "dirty") ?
			"half-applied" : "still applied after a failed revert",
			s->last->applied_at, s->last->error ? s->last->error : "no error recorded");
	}
	for (i = 0; i < m->nsteps; i++)
		if (is_drifted(&m->steps[i]))
			return ferry_error_set(err, FERRY_EDRIFT,
				"'%s' changed after it was applied (checksum %.12s, now %.12s); restore the file, or run 'ferry migrate validate --accept' if the change is intended",
				m->steps[i].label, m->steps[i].applied->checksum,
				m->steps[i].checksum);
	return 0;
}

static json_t *step_json(const struct mig_step *s)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "version", s->version,
			      "name", s->name, "label", s->label,
			      "kind", mig_ops[s->kind]->name, "checksum", s->checksum,
			      "transaction", mig_ops[s->kind]->transactional(s));

	if (o && s->description)
		json_object_set_new(o, "description", json_string(s->description));
	return o;
}

/* ---- status ----------------------------------------------------------------- */

int ferry_migrate_status(ferry_migrator *m, struct ferry_buf *json,
			 struct ferry_error *err)
{
	json_t *report = new_report(m, "status"), *list = json_array();
	int counts[4] = { 0 }, drifted = 0, missing = 0, width = 24, rc;
	size_t i;

	if (!report || !list) {
		json_decref(list);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(report, "migrations", list);
	if ((rc = prepare(m, 0, 0, err)) < 0)
		goto out;
	say(m, "target: %s\nmigrations: %s (%zu)\n\n", target_name(m), m->dir,
	    m->nsteps);
	for (i = 0; i < m->nsteps; i++)
		if ((int)strlen(m->steps[i].label) > width)
			width = (int)strlen(m->steps[i].label);
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];
		const char *state = state_names[s->state];
		const struct mig_jrow *r = s->applied ? s->applied : s->last;
		json_t *o = step_json(s);

		if (is_drifted(s)) {
			state = "drifted";
			drifted++;
		}
		counts[s->state]++;
		say(m, "  %-8s %-*s  %-6s", state, width, s->label, mig_ops[s->kind]->name);
		if (r && s->state != MIG_PENDING)
			say(m, " %s %.1fs", s->last->applied_at, s->last->duration);
		else if (s->last)
			say(m, " (%s %s)", s->last->outcome, s->last->applied_at);
		say(m, "\n");
		if ((s->state == MIG_FAILED || s->state == MIG_DIRTY) &&
		    s->last->error)
			say(m, "           error: %s\n", s->last->error);
		json_object_set_new(o, "state", json_string(state));
		json_object_set_new(o, "applied_at", r && s->state != MIG_PENDING ?
				    json_string(s->last->applied_at) : json_null());
		if (s->last) {
			json_object_set_new(o, "last_outcome", json_string(s->last->outcome));
			json_object_set_new(o, "duration", json_real(s->last->duration));
			if (s->last->error)
				json_object_set_new(o, "error", json_string(s->last->error));
		}
		if (s->applied && strcmp(s->applied->checksum, s->checksum))
			json_object_set_new(o, "applied_checksum",
					    json_string(s->applied->checksum));
		json_array_append_new(list, o);
	}
	for (i = 0; i < m->nrows; i++)
		if (is_missing(m, i)) {
			missing++;
			say(m, "  %-8s %-*s  %-6s %s (file is gone)\n", "missing",
			    width, m->rows[i].version, m->rows[i].kind, m->rows[i].applied_at);
			json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}",
				"version", m->rows[i].version, "name", m->rows[i].name,
				"state", "missing", "applied_at", m->rows[i].applied_at));
		}
	for (i = 0; i < m->nskipped; i++)
		say(m, "  skipped  %s\n", m->skipped[i]);
	say(m, "\n%d applied, %d pending, %d drifted, %d failed, %d dirty%s\n",
	    counts[MIG_APPLIED] + counts[MIG_DIRTY] - drifted, counts[MIG_PENDING],
	    drifted, counts[MIG_FAILED], counts[MIG_DIRTY],
	    missing ? ", some applied migrations have no file" : "");
	json_object_set_new(report, "counts", json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}",
		"applied", counts[MIG_APPLIED] + counts[MIG_DIRTY] - drifted,
		"pending", counts[MIG_PENDING], "drifted", drifted,
		"failed", counts[MIG_FAILED], "dirty", counts[MIG_DIRTY],
		"missing", missing));
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (s->state == MIG_DIRTY && !strcmp(s->last->outcome, "dirty"))
			say(m, "hint: '%s' was left half-applied; undo its changes by hand and run 'ferry migrate repair' (or finish them and run 'ferry migrate repair --as-applied')\n",
			    s->label);
		else if (s->state == MIG_DIRTY)
			say(m, "hint: reverting '%s' failed and it is still applied; fix the cause and run 'ferry migrate down', or keep it with 'ferry migrate repair'\n",
			    s->label);
	}
	if (drifted)
		say(m, "hint: applied files changed; restore them, or run 'ferry migrate validate --accept' if the change is intended\n");
	if (counts[MIG_PENDING] + counts[MIG_FAILED])
		say(m, "hint: run 'ferry migrate plan' to see what 'ferry migrate up' would do\n");
out:
	return emit(report, rc, err, json);
}

/* ---- plan --------------------------------------------------------------------- */

static int collect_pending(struct ferry_migrator *m, struct mig_step ***out,
			   size_t *n, struct ferry_error *err)
{
	struct mig_step **v = NULL;
	size_t cnt = 0, cap = 0, i;

	if (m->to && !target_known(m, m->to))
		return ferry_error_set(err, FERRY_EUSAGE,
			"--to '%s' matches no migration; see 'ferry migrate status' for versions",
			m->to);
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (s->state == MIG_APPLIED || s->state == MIG_DIRTY)
			continue;
		if (m->to && !covers(m, m->to, s))
			continue;
		if (FERRY_GROW(v, cap, cnt + 1) < 0) {
			ferry_free(v);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		v[cnt++] = s;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int plan_print(struct ferry_migrator *m, struct mig_step **v, size_t n,
		      int forward, json_t *report, struct ferry_error *err)
{
	json_t *steps = json_array(), *rollback = json_array();
	int backup = m->backup, rc = 0, nlint = 0;
	size_t i;

	json_object_set_new(report, "steps", steps);
	json_object_set_new(report, forward ? "rollback" : "reapply", rollback);
	for (i = 0; forward && i < n; i++) {
		if ((rc = mig_step_info(m, v[i], err)) < 0)
			return rc;
		backup |= v[i]->backup_required;
	}
	if (!n) {
		say(m, "nothing to %s on %s\n", forward ? "apply" : "revert",
		    target_name(m));
		return 0;
	}
	say(m, "plan: %zu step%s to %s on %s\n\n", n, n == 1 ? "" : "s",
	    forward ? "apply" : "revert", target_name(m));
	for (i = 0; i < n; i++) {
		struct mig_step *s = v[i];
		struct ferry_buf d = FERRY_BUF_INIT, lint = FERRY_BUF_INIT;
		json_t *o = step_json(s);
		const char *p;

		say(m, "%zu. %s (%s%s)%s%s%s\n", i + 1, s->label,
		    mig_ops[s->kind]->name, mig_ops[s->kind]->transactional(s) ?
		    ", in a transaction" : ", no transaction",
		    s->description ? " - " : "", s->description ? s->description : "",
		    s->backup_required ? " [backup required]" : "");
		if (!forward && !mig_ops[s->kind]->has_down(s))
			say(m, "   error: no down migration; this step cannot be reverted\n");
		mig_ops[s->kind]->describe(m, s, forward, &d);
		for (p = d.buf; *p; ) {
			const char *e = strchr(p, '\n');
			int len = e ? (int)(e - p) : (int)strlen(p);

			say(m, "   %.*s\n", len, p);
			p += len + (e ? 1 : 0);
		}
		json_object_set_new(o, "run", json_string(d.buf));
		if (forward && s->kind == MIG_SQL && mig_sql_lint(s->up_sql, &lint) > 0) {
			for (p = lint.buf; *p; ) {
				const char *e = strchr(p, '\n');
				int len = e ? (int)(e - p) : (int)strlen(p);

				say(m, "   %s: %.*s\n", backup ? "note" : "warning", len, p);
				p += len + (e ? 1 : 0);
				nlint++;
			}
			json_object_set_new(o, "lint", json_string(lint.buf));
		}
		if (s->restart)
			json_object_set(o, "requires_restart", s->restart);
		json_array_append_new(steps, o);
		ferry_buf_release(&d);
		ferry_buf_release(&lint);
	}
	if (forward) {
		say(m, "\nbackup: %s\n", backup ? (m->db ?
		    "the database and the project files, before the first step" :
		    "the project files, before the first step") : "none (pass --backup to take one)");
		say(m, "\nrollback plan (runs on failure, newest first):\n");
		for (i = n; i-- > 0; ) {
			struct mig_step *s = v[i];
			struct ferry_buf d = FERRY_BUF_INIT;
			const char *p;

			say(m, "%zu. %s\n", i + 1, s->label);
			if ((mig_ops[s->kind]->has_down(s) ? mig_ops[s->kind]->describe(m, s, 0, &d) :
			     ferry_buf_addstr(&d, "-- no down migration: cannot be reverted automatically\n")) < 0 ||
			    ferry_buf_error(&d)) {
				ferry_buf_release(&d);
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			for (p = d.buf; *p; ) {
				const char *e = strchr(p, '\n');
				int len = e ? (int)(e - p) : (int)strlen(p);

				say(m, "   %.*s\n", len, p);
				p += len + (e ? 1 : 0);
			}
			json_array_append_new(rollback, json_pack("{s:s,s:s,s:b}",
				"label", s->label, "run", d.buf,
				"revertible", mig_ops[s->kind]->has_down(s)));
			ferry_buf_release(&d);
		}
		if (nlint && !backup)
			say(m, "\nwarning: %d destructive statement%s and no backup; pass --backup to take one\n",
			    nlint, nlint == 1 ? "" : "s");
	}
	json_object_set_new(report, "backup", json_boolean(backup));
	json_object_set_new(report, "lint_warnings", json_integer(nlint));
	return 0;
}

int ferry_migrate_plan(ferry_migrator *m, struct ferry_buf *json,
		       struct ferry_error *err)
{
	json_t *report = new_report(m, "plan");
	struct mig_step **v = NULL;
	struct ferry_error block = FERRY_ERROR_INIT;
	size_t n = 0;
	int rc;

	if (!report)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = prepare(m, 0, 0, err)) < 0 ||
	    (rc = collect_pending(m, &v, &n, err)) < 0)
		goto out;
	if ((rc = plan_print(m, v, n, 1, report, err)) < 0)
		goto out;
	if (check_blocked(m, 0, &block) < 0) {
		say(m, "\nup is blocked: %s\n", block.msg);
		json_object_set_new(report, "blocked", json_string(block.msg));
	}
out:
	ferry_free(v);
	return emit(report, rc, err, json);
}

/* ---- running steps ---------------------------------------------------------- */

/* "statement 3 of 4 failed after statements 1-2 took effect" */
static int add_partial(struct ferry_buf *b, const struct mig_partial *p)
{
	int e = 0;

	if (p->total && p->done >= p->total)  /* the journal row failed */
		return ferry_buf_addf(b, "all %zu statements took effect, then journaling the step failed",
				      p->done);
	e |= ferry_buf_addf(b, "statement %zu", p->done + 1);
	if (p->total)
		e |= ferry_buf_addf(b, " of %zu", p->total);
	if (p->done == 1)
		e |= ferry_buf_addstr(b, " failed after statement 1 took effect");
	else
		e |= ferry_buf_addf(b, " failed after statements 1-%zu took effect", p->done);
	return e;
}

/*
 * Run one step in one direction and journal the attempt.  ok_outcome is
 * "applied", "reverted" or "rolled_back".  On failure the step's own
 * effects are undone where possible: a transaction is rolled back; a
 * failed forward exec/python step gets its backward called.
 */
static int run_step(struct ferry_migrator *m, struct mig_step *s, int forward,
		    const char *ok_outcome, json_t *steps,
		    const char **fail_outcome, struct ferry_error *err)
{
	const struct mig_step_ops *ops = mig_ops[s->kind];
	struct ferry_buf output = FERRY_BUF_INIT;
	struct ferry_error jerr = FERRY_ERROR_INIT;
	int tx = m->db && ops->transactional(s), clean = 0, rc;
	double t0 = ferry_now(), dt;
	const char *outcome = "failed";

	memset(&m->partial, 0, sizeof(m->partial));
	mig_watch_start(m, say_wait);
	say(m, "%s %s ... ", forward ? "->" : "<-", s->label);
	if ((rc = mig_lock_timeout_apply(m, err)) < 0 ||
	    (tx && (rc = mig_db_exec(m->db, "BEGIN", err)) < 0))
		goto out;
	rc = ops->run(m, s, forward, &output, err);
	dt = ferry_now() - t0;
	if (rc == 0) {
		rc = mig_journal_add(m, s, ok_outcome, dt, NULL, NULL, err);
		if (rc == 0 && tx)
			rc = mig_db_exec(m->db, "COMMIT", err);
		if (rc == 0) {
			say_result(m, s, forward, "ok", dt);
			outcome = ok_outcome;
			goto out;
		}
	}
	{
		struct ferry_buf who = FERRY_BUF_INIT;

		if (ferry_buf_addf(&who, "'%s'", s->label) == 0)
			mig_lock_timeout_explain(m, who.buf, "", t0, err);
		ferry_buf_release(&who);
	}
	say_result(m, s, forward, "FAILED", dt);
	say(m, "   error: %s\n", err->msg);
	say_indented(m, &output);
	if (tx) {
		clean = mig_db_exec(m->db, "ROLLBACK", &jerr) == 0;
	} else if (s->kind == MIG_SQL) {
		/* outside a transaction what ran stays; when nothing ran (no
		 * database, or the first statement failed) nothing changed */
		clean = m->partial.done == 0 && !m->partial.leftover;
		if (m->partial.done) {
			struct ferry_buf b = FERRY_BUF_INIT;

			add_partial(&b, &m->partial);
			say(m, "   %s and stay%s: this step runs without a transaction\n",
			    b.buf, m->partial.done == 1 ? "s" : "");
			ferry_buf_release(&b);
		}
		if (m->partial.leftover)
			say(m, "   the failed CONCURRENTLY statement leaves an invalid index behind\n");
	} else if (forward) {
		struct ferry_buf o2 = FERRY_BUF_INIT;

		say(m, "   undoing the failed step with backward ... ");
		clean = ops->run(m, s, 0, &o2, &jerr) == 0;
		say(m, clean ? "ok\n" : "FAILED: %s\n", jerr.msg);
		if (!clean)
			say_indented(m, &o2);
		ferry_buf_release(&o2);
	}
	outcome = forward ? (clean ? "failed" : "dirty") :
			    (clean ? "revert_failed" : "dirty");
	if (mig_journal_add(m, s, outcome, dt, err->msg, NULL, &jerr) < 0)
		say(m, "   error: %s; the journal does not record this failure\n",
		    jerr.msg);
out:
	if (rc < 0 && fail_outcome)
		*fail_outcome = outcome;
	if (steps)
		json_array_append_new(steps, json_pack("{s:s,s:s,s:s,s:s,s:f,s:s?}",
			"label", s->label, "version", s->version,
			"direction", forward ? "up" : "down", "outcome",
			rc == 0 ? ok_outcome : outcome, "duration", ferry_now() - t0,
			"error", rc == 0 ? NULL : err->msg));
	ferry_buf_release(&output);
	return rc;
}

/* Revert done[0..n) newest first.  Returns the number left applied. */
static size_t rollback(struct ferry_migrator *m, struct mig_step **done,
		       size_t n, json_t *steps)
{
	struct ferry_error rerr = FERRY_ERROR_INIT;

	if (n)
		say(m, "rolling back %zu step%s applied in this run\n", n,
		    n == 1 ? "" : "s");
	while (n > 0) {
		struct mig_step *s = done[n - 1];

		if (!mig_ops[s->kind]->has_down(s)) {
			say(m, "<- %s ... cannot revert: no down migration\n", s->label);
			ferry_error_set(&rerr, FERRY_EUNSUPPORTED, "no down migration");
			mig_journal_add(m, s, "revert_failed", 0,
				"rollback: no down migration", NULL, &rerr);
			break;
		}
		if (run_step(m, s, 0, "rolled_back", steps, NULL, &rerr) < 0)
			break;
		n--;
	}
	if (n)
		say(m, "rollback stopped at '%s': %zu step%s of this run still applied; see 'ferry migrate status'\n",
		    done[n - 1]->label, n, n == 1 ? "" : "s");
	return n;
}

static void print_backup(struct ferry_migrator *m, struct mig_backup *b,
			 json_t *report)
{
	json_t *files = json_array();
	size_t i;

	if (!b->files_dir && !b->db_file) {
		json_decref(files);
		return;
	}
	say(m, "\nbackup:\n");
	if (b->db_file)
		say(m, "  database: %s\n    restore: %s\n", b->db_file, b->db_restore);
	if (b->files_dir) {
		say(m, "  files: %s (%zu changed)\n", b->files_dir, b->nfiles);
		for (i = 0; i < b->nfiles; i++) {
			say(m, "    %s\n", b->files[i]);
			json_array_append_new(files, json_string(b->files[i]));
		}
		if (b->nfiles)
			say(m, "    restore: cp -a '%s/.' '%s/'\n", b->files_dir, m->root);
	}
	json_object_set_new(report, "backup", json_pack("{s:s?,s:s?,s:s?,s:o}",
		"database", b->db_file, "restore", b->db_restore,
		"files_dir", b->files_dir, "files", files));
}

static int add_labels(struct ferry_buf *b, json_t *arr, struct mig_step **v,
		      size_t n)
{
	size_t i;
	int e = 0;

	for (i = 0; i < n; i++) {
		e |= ferry_buf_addf(b, "%s%s", i ? ", " : "", v[i]->label);
		json_array_append_new(arr, json_string(v[i]->label));
	}
	return e;
}

/*
 * After a failed `up`, say exactly where the target stands, on the output
 * and in the report (key "state"), and put the one-line summary with what
 * to do next in err (which holds the first error).  failed is the step that
 * failed (NULL: the test command did), dirty whether it stays half-applied;
 * done[0..ndone) were applied in this run and done[0..left) still are;
 * rest[0..nrest) never ran.
 */
static void report_failure(struct ferry_migrator *m, json_t *report,
			   struct mig_step *failed, int dirty,
			   struct mig_step **done, size_t ndone, size_t left,
			   struct mig_step **rest, size_t nrest,
			   struct ferry_error *err)
{
	struct ferry_buf kept = FERRY_BUF_INIT, back = FERRY_BUF_INIT,
			 notrun = FERRY_BUF_INIT, how = FERRY_BUF_INIT,
			 next = FERRY_BUF_INIT, msg = FERRY_BUF_INIT;
	json_t *state = json_object(), *jkept = json_array(), *jback = json_array(),
	       *jnot = json_array();
	int e = 0;

	e |= add_labels(&kept, jkept, done, left);
	e |= add_labels(&back, jback, done + left, ndone - left);
	e |= add_labels(&notrun, jnot, rest, nrest);
	if (failed && dirty) {
		if (failed->kind == MIG_SQL && m->partial.done) {
			e |= add_partial(&how, &m->partial);
			e |= ferry_buf_addstr(&how, "; it runs without a transaction, so they stay");
		} else if (failed->kind == MIG_SQL) {
			e |= ferry_buf_addstr(&how, "its CONCURRENTLY statement failed and left an invalid index behind");
		} else {
			e |= ferry_buf_addstr(&how, "it failed and undoing it with its backward call failed too");
		}
	}
	if (e < 0)
		goto nomem;
	say(m, "\nstate of %s now:\n", target_name(m));
	if (left)
		say(m, "  applied in this run, not rolled back: %s\n", kept.buf);
	if (ndone - left)
		say(m, "  applied in this run, then rolled back: %s\n", back.buf);
	if (failed)
		say(m, "  %s: %s\n", dirty ? "half-applied (journal: dirty)" :
		    "failed and undone (journal: failed)", failed->label);
	if (failed && dirty)
		say(m, "    %s\n", how.buf);
	if (nrest)
		say(m, "  not run: %s\n", notrun.buf);
	if (failed && dirty) {
		e |= ferry_buf_addf(&next,
			"undo what '%s' did by hand and run 'ferry migrate repair' (or complete it and run 'ferry migrate repair --as-applied'), then 'ferry migrate up' again",
			failed->label);
		e |= ferry_buf_addf(&msg, "%s; '%s' is half-applied (%s)%s%s%s: %s",
			err->msg, failed->label, how.buf,
			left ? "; nothing was rolled back, still applied from this run: " : "",
			kept.buf, left ? "" : "; nothing else in this run had been applied",
			next.buf);
	} else if (left) {
		e |= ferry_buf_addf(&next, "run 'ferry migrate status' for what to do");
		e |= ferry_buf_addf(&msg, "%s; rollback stopped at '%s' with %zu step%s still applied (%s): %s",
			err->msg, done[left - 1]->label, left, left == 1 ? "" : "s",
			kept.buf, next.buf);
	} else {
		e |= ferry_buf_addf(&next, "fix the cause and run 'ferry migrate up' again");
		e |= ferry_buf_addf(&msg, "%s; %zu applied step%s rolled back, the target is as before",
			err->msg, ndone, ndone == 1 ? "" : "s");
	}
	if (e < 0)
		goto nomem;
	say(m, "next: %s\n", next.buf);
	ferry_error_set(err, err->code, "%s", msg.buf);
	json_object_set_new(state, "failed_step", failed ? json_string(failed->label) : json_null());
	json_object_set_new(state, "failed_step_outcome", failed ?
			    json_string(dirty ? "dirty" : "failed") : json_null());
	if (failed && dirty) {
		json_object_set_new(state, "half_applied", json_string(how.buf));
		if (failed->kind == MIG_SQL)
			json_object_set_new(state, "statements_done",
					    json_integer((json_int_t)m->partial.done));
	}
	json_object_set_new(state, "still_applied", jkept);
	json_object_set_new(state, "rolled_back", jback);
	json_object_set_new(state, "not_run", jnot);
	json_object_set_new(state, "as_before", json_boolean(!dirty && !left));
	json_object_set_new(state, "next", json_string(next.buf));
	json_object_set_new(report, "state", state);
	goto out;
nomem:
	/* no partial state lists: the first error's code stays, its text
	 * says what is known */
	say(m, "\nstate of %s now: unknown (out of memory while listing it)\n", target_name(m));
	ferry_error_set(err, err->code, "out of memory while describing a failed run; run 'ferry migrate status'");
	json_decref(state);
	json_decref(jkept);
	json_decref(jback);
	json_decref(jnot);
out:
	ferry_buf_release(&kept);
	ferry_buf_release(&back);
	ferry_buf_release(&notrun);
	ferry_buf_release(&how);
	ferry_buf_release(&next);
	ferry_buf_release(&msg);
}

int ferry_migrate_up(ferry_migrator *m, struct ferry_buf *json,
		     struct ferry_error *err)
{
	json_t *report = new_report(m, "up"), *steps = json_array();
	json_t *restart = json_array();
	struct mig_step **v = NULL, **done = NULL, *failed = NULL;
	struct mig_backup bk;
	const char *fail_outcome = NULL;
	size_t n = 0, ndone = 0, i;
	int rc, backup = m->backup;
	double t0 = ferry_now();

	memset(&bk, 0, sizeof(bk));
	if (!report || !steps || !restart) {
		json_decref(steps);
		json_decref(restart);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (m->dry_run) {
		json_decref(steps);
		json_decref(restart);
		json_object_set_new(report, "dry_run", json_true());
		if ((rc = prepare(m, 0, 0, err)) < 0 ||
		    (rc = collect_pending(m, &v, &n, err)) < 0 ||
		    (rc = plan_print(m, v, n, 1, report, err)) < 0)
			goto out;
		rc = check_blocked(m, 0, err);
		goto out;
	}
	json_object_set_new(report, "steps", steps);
	json_object_set_new(report, "requires_restart", restart);
	if ((rc = prepare(m, 1, 1, err)) < 0 || (rc = check_blocked(m, 0, err)) < 0 ||
	    (rc = collect_pending(m, &v, &n, err)) < 0)
		goto out;
	/* refuse before running anything rather than half-way through */
	for (i = 0; i < n && !m->db; i++)
		if (v[i]->kind == MIG_SQL) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"'%s' is a SQL step but no database was given, so nothing was run; pass --db URL or set DATABASE_URL",
				v[i]->label);
			goto out;
		}
	if (!n) {
		say(m, "already up to date on %s (%zu migration%s applied)\n",
		    target_name(m), m->nsteps, m->nsteps == 1 ? "" : "s");
		goto out;
	}
	if (!(done = ferry_calloc(n, sizeof(*done)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = mig_step_info(m, v[i], err)) < 0)
			goto out;
		backup |= v[i]->backup_required;
	}
	if (backup && (rc = mig_backup_take(m, &bk, err)) < 0)
		goto out;
	for (i = 0; i < n && !backup; i++) {
		struct ferry_buf lint = FERRY_BUF_INIT;

		if (v[i]->kind == MIG_SQL && mig_sql_lint(v[i]->up_sql, &lint) > 0) {
			ferry_buf_rtrim(&lint);
			say(m, "warning: %s: %s\n", v[i]->label, lint.buf);
		}
		ferry_buf_release(&lint);
	}
	say(m, "applying %zu migration%s to %s\n", n, n == 1 ? "" : "s",
	    target_name(m));
	for (i = 0; i < n; i++) {
		if ((rc = run_step(m, v[i], 1, "applied", steps, &fail_outcome, err)) < 0) {
			failed = v[i];
			break;
		}
		done[ndone++] = v[i];
	}
	if (rc == 0 && m->test_cmd) {
		struct ferry_buf output = FERRY_BUF_INIT;

		say(m, "-> test: %s ... ", m->test_cmd);
		rc = mig_shell(m, m->test_cmd, NULL, &output, err);
		say(m, rc == 0 ? "ok\n" : "FAILED\n");
		if (rc < 0)
			say_indented(m, &output);
		ferry_buf_release(&output);
		if (rc < 0)
			ferry_error_prefix(err, "the test command failed after the migrations");
	}
	if (rc < 0) {
		struct ferry_error first = *err;
		int dirty = failed && fail_outcome && !strcmp(fail_outcome, "dirty");
		/* a half-applied step could not be undone: stop right there, as
		 * when a revert fails (reverting older steps under it could
		 * break them or it), and leave the fix to the user */
		size_t left = dirty ? ndone : rollback(m, done, ndone, steps);

		*err = first;
		report_failure(m, report, failed, dirty, done, ndone, left,
			       v + i + (failed != NULL), n - i - (failed != NULL), err);
		if (first.origin[0])
			ferry_error_origin(err, "%s", first.origin);
		json_object_set_new(report, "left_applied", json_integer((json_int_t)left));
	}
	if (backup) {
		struct ferry_error berr = FERRY_ERROR_INIT;

		if (mig_backup_finish(m, &bk, &berr) < 0)
			say(m, "warning: %s\n", berr.msg);
		print_backup(m, &bk, report);
	}
	if (rc < 0)
		goto out;
	for (i = 0; i < ndone; i++) {
		size_t k, j;
		json_t *svc;

		json_array_foreach(done[i]->restart, k, svc) {
			int seen = 0;

			for (j = 0; j < json_array_size(restart); j++)
				seen |= json_equal(json_array_get(restart, j), svc);
			if (!seen && json_is_string(svc))
				json_array_append(restart, svc);
		}
	}
	say(m, "\n%zu migration%s applied in %.1fs\n", ndone, ndone == 1 ? "" : "s",
	    ferry_now() - t0);
	if (json_array_size(restart)) {
		size_t k;
		json_t *svc;

		say(m, "restart required:");
		json_array_foreach(restart, k, svc)
			say(m, " %s", json_string_value(svc));
		say(m, "\n");
		json_array_foreach(restart, k, svc) {
			struct ferry_buf output = FERRY_BUF_INIT;

			if (!m->restart_cmd)
				break;
			say(m, "-> restart %s ... ", json_string_value(svc));
			rc = mig_shell(m, m->restart_cmd, json_string_value(svc),
				       &output, err);
			say(m, rc == 0 ? "ok\n" : "FAILED\n");
			if (rc < 0) {
				say_indented(m, &output);
				ferry_error_prefix(err, "migrations applied, but restarting '%s' failed",
						   json_string_value(svc));
			}
			ferry_buf_release(&output);
			if (rc < 0)
				break;
		}
		if (!m->restart_cmd)
			say(m, "hint: restart them now, or pass --restart-cmd to have ferry do it\n");
	}
out:
	mig_watch_stop(m, report);
	mig_backup_release(&bk);
	ferry_free(v);
	ferry_free(done);
	mig_lock_release(m);
	return emit(report, rc, err, json);
}

/* ---- down --------------------------------------------------------------------- */

int ferry_migrate_down(ferry_migrator *m, struct ferry_buf *json,
		       struct ferry_error *err)
{
	json_t *report = new_report(m, "down"), *steps = NULL;
	const char *fail_outcome = NULL;
	struct mig_step **v = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	if (!report)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = prepare(m, !m->dry_run, 0, err)) < 0)
		goto out;
	if (!m->dry_run && (rc = check_blocked(m, 1, err)) < 0)
		goto out;
	if (m->to && !target_known(m, m->to) && strspn(m->to, "0") != strlen(m->to)) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"--to '%s' matches no migration; use a version from 'ferry migrate status' or 0 for all",
			m->to);
		goto out;
	}
	/* newest applied first */
	for (i = m->nsteps; i-- > 0; ) {
		struct mig_step *s = &m->steps[i];
		int applied = s->state == MIG_APPLIED ||
			      (s->state == MIG_DIRTY && !strcmp(s->last->outcome, "revert_failed"));

		if (!applied)
			continue;
		if (m->to ? covers(m, m->to, s) : n >= (size_t)m->count)
			break;
		if (FERRY_GROW(v, cap, n + 1) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		v[n++] = s;
	}
	if (m->dry_run) {
		json_object_set_new(report, "dry_run", json_true());
		rc = plan_print(m, v, n, 0, report, err);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (!mig_ops[v[i]->kind]->has_down(v[i])) {
			rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
				"'%s' has no down migration, nothing was reverted; revert it by hand and run 'ferry migrate repair', or stop before it with --to",
				v[i]->label);
			goto out;
		}
	steps = json_array();
	json_object_set_new(report, "steps", steps);
	if (!n) {
		say(m, "nothing to revert on %s\n", target_name(m));
		goto out;
	}
	say(m, "reverting %zu migration%s on %s\n", n, n == 1 ? "" : "s",
	    target_name(m));
	for (i = 0; i < n; i++)
		if ((rc = run_step(m, v[i], 0, "reverted", steps, &fail_outcome, err)) < 0) {
			struct ferry_buf how = FERRY_BUF_INIT;
			int e = 0;

			/* say whether the failed revert changed anything */
			if (fail_outcome && !strcmp(fail_outcome, "dirty")) {
				if (v[i]->kind == MIG_SQL && m->partial.done)
					e |= add_partial(&how, &m->partial);
				e |= ferry_buf_addf(&how, "%s'%s' is half-reverted (journal: dirty): revert the rest by hand, then run 'ferry migrate repair'",
					       how.len ? "; " : "", v[i]->label);
			} else {
				e |= ferry_buf_addf(&how, "'%s' is unchanged and still applied", v[i]->label);
			}
			{
				struct ferry_error first = *err;

				ferry_error_set(err, rc, "reverting stopped at '%s' (%zu of %zu reverted): %s; %s",
						v[i]->label, i, n, first.msg,
						e < 0 ? "out of memory" : how.buf);
				if (first.origin[0])
					ferry_error_origin(err, "%s", first.origin);
			}
			ferry_buf_release(&how);
			goto out;
		}
	say(m, "\n%zu migration%s reverted\n", n, n == 1 ? "" : "s");
out:
	mig_watch_stop(m, report);
	ferry_free(v);
	mig_lock_release(m);
	return emit(report, rc, err, json);
}

/* ---- baseline, repair, validate ------------------------------------------------ */

int ferry_migrate_baseline(ferry_migrator *m, const char *version,
			   struct ferry_buf *json, struct ferry_error *err)
{
	json_t *report = new_report(m, "baseline"), *list = json_array();
	size_t i;
	int rc;

	if (!report || !list) {
		json_decref(list);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(report, "baselined", list);
	if (!target_known(m, version)) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"version '%s' matches no migration; see 'ferry migrate status' for versions",
			version);
		goto out;
	}
	if ((rc = prepare(m, 1, 1, err)) < 0)
		goto out;
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (!covers(m, version, s) || s->state == MIG_APPLIED)
			continue;
		if ((rc = mig_journal_add(m, s, "baseline", 0, NULL, NULL, err)) < 0)
			goto out;
		say(m, "baseline %s\n", s->label);
		json_array_append_new(list, json_string(s->label));
	}
	say(m, "%zu migration%s marked as applied without running them\n",
	    json_array_size(list), json_array_size(list) == 1 ? "" : "s");
out:
	mig_lock_release(m);
	return emit(report, rc, err, json);
}

int ferry_migrate_repair(ferry_migrator *m, int as_applied,
			 struct ferry_buf *json, struct ferry_error *err)
{
	json_t *report = new_report(m, "repair"), *list = json_array();
	size_t i;
	int rc;

	if (!report || !list) {
		json_decref(list);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(report, "repaired", list);
	if ((rc = prepare(m, 1, 1, err)) < 0)
		goto out;
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];
		const char *outcome = NULL, *what = NULL;

		if (s->state == MIG_DIRTY && !strcmp(s->last->outcome, "dirty")) {
			outcome = as_applied ? "accepted" : "repaired";
			what = as_applied ? "half-applied, now recorded as applied" :
					    "half-applied, now recorded as not applied";
		} else if (s->state == MIG_DIRTY) {
			outcome = "accepted";
			what = "revert had failed, recorded as still applied";
		} else if (s->state == MIG_FAILED) {
			outcome = "repaired";
			what = "failed attempt cleared, pending again";
		} else if (is_drifted(s)) {
			outcome = "accepted";
			what = "changed file accepted";
		}
		if (!outcome)
			continue;
		if ((rc = mig_journal_add(m, s, outcome, 0, NULL, NULL, err)) < 0)
			goto out;
		say(m, "repaired %s: %s\n", s->label, what);
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "label",
			s->label, "outcome", outcome, "what", what));
	}
	if (!json_array_size(list))
		say(m, "nothing to repair\n");
out:
	mig_lock_release(m);
	return emit(report, rc, err, json);
}

int ferry_migrate_validate(ferry_migrator *m, int accept,
			   struct ferry_buf *json, struct ferry_error *err)
{
	json_t *report = new_report(m, "validate"), *list = json_array();
	size_t i, ndrift = 0, nok = 0;
	int rc;

	if (!report || !list) {
		json_decref(list);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(report, "drifted", list);
	if ((rc = prepare(m, accept, 0, err)) < 0)
		goto out;
	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		if (!is_drifted(s)) {
			nok += s->state == MIG_APPLIED;
			continue;
		}
		ndrift++;
		say(m, "drifted  %s: applied with checksum %s, file now %s\n",
		    s->label, s->applied->checksum, s->checksum);
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "label",
			s->label, "applied_checksum", s->applied->checksum,
			"checksum", s->checksum));
		if (accept) {
			if ((rc = mig_journal_add(m, s, "accepted", 0, NULL, NULL, err)) < 0)
				goto out;
			say(m, "accepted %s\n", s->label);
		}
	}
	for (i = 0; i < m->nrows; i++)
		if (is_missing(m, i))
			say(m, "missing  %s: applied, but its file is gone\n",
			    m->rows[i].version);
	say(m, "%zu applied migration%s match their files, %zu drifted%s\n", nok,
	    nok == 1 ? "" : "s", ndrift, ndrift && accept ? " (accepted)" : "");
	if (ndrift && !accept)
		rc = ferry_error_set(err, FERRY_EDRIFT,
			"%zu applied migration%s changed; restore the file%s, or run 'ferry migrate validate --accept' if the change is intended",
			ndrift, ndrift == 1 ? "" : "s", ndrift == 1 ? "" : "s");
out:
	mig_lock_release(m);
	return emit(report, rc, err, json);
}

/* ---- new ------------------------------------------------------------------------ */

static const char sql_template[] =
	"-- migrate:up\n"
	"\n"
	"\n"
	"-- migrate:down\n"
	"\n";

static const char exec_template[] =
	"#!/bin/sh\n"
	"# ferry migration step: called as '$0 forward ROOT' or '$0 backward ROOT'.\n"
	"# Exit 0 on success.  DATABASE_URL is set when migrating a database.\n"
	"set -eu\n"
	"root=\"$2\"\n"
	"case \"$1\" in\n"
	"forward)\n"
	"\t;;\n"
	"backward)\n"
	"\t;;\n"
	"*)\n"
	"\techo \"usage: $0 forward|backward ROOT\" >&2\n"
	"\texit 2\n"
	"\t;;\n"
	"esac\n";

static const char python_template[] =
	"\"\"\"%s\"\"\"\n"
	"from pathlib import Path\n"
	"\n"
	"MIGRATION_INFO = {\n"
	"    \"version_from\": \"\",\n"
	"    \"version_to\": \"\",\n"
	"    \"description\": \"%s\",\n"
	"    \"breaking_changes\": [],\n"
	"    \"estimated_duration_seconds\": 1,\n"
	"    \"requires_restart\": False,\n"
	"    \"backup_required\": False,\n"
	"}\n"
	"\n"
	"\n"
	"def migrate_forward(project_root: Path) -> bool:\n"
	"    return True\n"
	"\n"
	"\n"
	"def migrate_backward(project_root: Path) -> bool:\n"
	"    return True\n";

int ferry_migrate_new(const char *dir, const char *name, int kind,
		      struct ferry_buf *created, struct ferry_error *err)
{
	struct ferry_buf clean = FERRY_BUF_INIT, path = FERRY_BUF_INIT,
			 body = FERRY_BUF_INIT;
	struct dirent *de;
	uint64_t max = 0;
	DIR *d;
	const char *p;
	int fd = -1, rc = 0, width = 4, e = 0;

	for (p = name; *p; p++)
		e |= ferry_buf_addch(&clean, isalnum((unsigned char)*p) ?
				     tolower((unsigned char)*p) : '_');
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (!clean.len) {

		rc = ferry_error_set(err, FERRY_EUSAGE, "the migration needs a name, e.g. 'ferry migrate new add_rooms'");
		goto out;
	}
	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create '%s': %s", dir,
				     strerror(errno));
		goto out;
	}
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			uint64_t num;
			char *nm = NULL;
			const char *ext;

			if (mig_parse_filename(de->d_name, &num, &nm, &ext) == 0) {
				if (num > max)
					max = num;
				width = (int)strspn(de->d_name, "0123456789");
			}
			ferry_free(nm);
		}
		closedir(d);
	}
	if (max >= 10000000000ull) {
		/* dbmate-style timestamps: keep the scheme */
		char stamp[20];
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		rc = ferry_buf_addf(&path, "%s/%s_%s", dir, stamp, clean.buf);
	} else {
		rc = ferry_buf_addf(&path, "%s/%0*llu_%s", dir, width < 4 ? 4 : width,
				    (unsigned long long)max + 1, clean.buf);
	}
	if (rc == 0 && kind == FERRY_MIGRATE_SQL)
		rc = ferry_buf_addstr(&path, ".sql") | ferry_buf_addstr(&body, sql_template);
	else if (rc == 0 && kind == FERRY_MIGRATE_EXEC)
		rc = ferry_buf_addstr(&path, ".sh") | ferry_buf_addstr(&body, exec_template);
	else if (rc == 0)
		rc = ferry_buf_addstr(&path, ".py") |
		     ferry_buf_addf(&body, python_template, name, name);
	if (rc < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  kind == FERRY_MIGRATE_EXEC ? 0755 : 0644);
	if (fd < 0 || write(fd, body.buf, body.len) != (ssize_t)body.len) {
		rc = ferry_error_set(err, errno == EEXIST ? FERRY_EEXIST : FERRY_EIO,
				     "cannot create '%s': %s", path.buf, strerror(errno));
		goto out;
	}
	if (kind == FERRY_MIGRATE_EXEC)
		fchmod(fd, 0755);
	rc = ferry_buf_addf(created, "%s\n", path.buf);
out:
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&clean);
	ferry_buf_release(&path);
	ferry_buf_release(&body);
	return rc;
}
