/*
 * journal.c - the record of every attempt: one row per apply, revert,
 * failure, baseline, repair or accepted checksum, never updated, so the
 * history survives.  For a database target the rows live in its
 * ferry_migrations table (written in the same transaction as a
 * transactional step, so the journal can never disagree with the schema);
 * without a database they are JSON lines in <root>/.ferry/migrations.jsonl,
 * appended and fsync'ed.
 *
 * A step's state is decided by its newest row (see mig_outcome_state).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/progress.h"
#include "mig_int.h"
#include "model/value.h"

static const char pg_create[] =
	"CREATE TABLE IF NOT EXISTS ferry_migrations (\n"
	"  id bigserial PRIMARY KEY,\n"
	"  version text NOT NULL,\n"
	"  name text NOT NULL,\n"
	"  kind text NOT NULL,\n"
	"  checksum text NOT NULL,\n"
	"  applied_at timestamptz NOT NULL DEFAULT now(),\n"
	"  duration_ms double precision NOT NULL DEFAULT 0,\n"
	"  outcome text NOT NULL,\n"
	"  error text,\n"
	"  run_id text\n"
	")";
static const char sq_create[] =
	"CREATE TABLE IF NOT EXISTS ferry_migrations (\n"
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  version TEXT NOT NULL,\n"
	"  name TEXT NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  checksum TEXT NOT NULL,\n"
	"  applied_at TEXT NOT NULL,\n"
	"  duration_ms REAL NOT NULL DEFAULT 0,\n"
	"  outcome TEXT NOT NULL,\n"
	"  error TEXT,\n"
	"  run_id TEXT\n"
	")";
static const char pg_select[] =
	"SELECT id, version, name, kind, checksum,"
	" to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	" duration_ms, outcome, error, run_id FROM ferry_migrations ORDER BY id";
static const char sq_select[] =
	"SELECT id, version, name, kind, checksum, applied_at, duration_ms,"
	" outcome, error, run_id FROM ferry_migrations ORDER BY id";
static const char insert_sql[] =
	"INSERT INTO ferry_migrations (version, name, kind, checksum, applied_at,"
	" duration_ms, outcome, error, run_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

int mig_outcome_state(const char *o)
{
	if (!strcmp(o, "applied") || !strcmp(o, "baseline") ||
	    !strcmp(o, "accepted"))
		return MIG_APPLIED;
	if (!strcmp(o, "failed"))
		return MIG_FAILED;
	if (!strcmp(o, "dirty") || !strcmp(o, "revert_failed"))
		return MIG_DIRTY;
	return MIG_PENDING;  /* reverted, rolled_back, repaired */
}

void mig_now_iso(char out[32])
{
	/* whole seconds, so the fraction is never written:
	 * "2024-01-01T00:00:00Z" */
	val_format_timestamp(out, 32, (int64_t)time(NULL) * 1000000,
			     VAL_TS_T | VAL_TS_FRAC_OPT, "Z");
}

static void row_release(struct mig_jrow *r)
{
	ferry_free(r->version);
	ferry_free(r->name);
	ferry_free(r->kind);
	ferry_free(r->checksum);
	ferry_free(r->applied_at);
	ferry_free(r->outcome);
	ferry_free(r->error);
	ferry_free(r->run_id);
}

void mig_journal_release(struct ferry_migrator *m)
{
	size_t i;

	for (i = 0; i < m->nrows; i++)
		row_release(&m->rows[i]);
	ferry_free(m->rows);
	m->rows = NULL;
	m->nrows = m->rowcap = 0;
}

static char *dup_or_null(const char *s)
{
	return s ? ferry_strdup(s) : NULL;
}

/* vals: id version name kind checksum applied_at duration_ms outcome error run_id */
static int add_row(int nc, const char *const *v, void *ud)
{
	struct ferry_migrator *m = ud;
	struct mig_jrow *r;

	if (nc < 10 || FERRY_GROW(m->rows, m->rowcap, m->nrows + 1) < 0)
		return FERRY_ENOMEM;
	r = &m->rows[m->nrows];
	memset(r, 0, sizeof(*r));
	r->id = v[0] ? atol(v[0]) : 0;
	r->version = dup_or_null(v[1] ? v[1] : "");
	r->name = dup_or_null(v[2] ? v[2] : "");
	r->kind = dup_or_null(v[3] ? v[3] : "");
	r->checksum = dup_or_null(v[4] ? v[4] : "");
	r->applied_at = dup_or_null(v[5] ? v[5] : "");
	r->duration = v[6] ? atof(v[6]) / 1000.0 : 0;
	r->outcome = dup_or_null(v[7] ? v[7] : "");
	r->error = dup_or_null(v[8]);
	r->run_id = dup_or_null(v[9]);
	m->nrows++;
	if (!r->version || !r->name || !r->kind || !r->checksum ||
	    !r->applied_at || !r->outcome || (v[8] && !r->error) ||
	    (v[9] && !r->run_id))
		return FERRY_ENOMEM;
	return 0;
}

static int load_file(struct ferry_migrator *m, struct ferry_error *err)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	char *line, *save = NULL;
	int lineno = 0, rc;

	if (access(m->journal_file, F_OK) != 0)
		return 0;
	m->journal_exists = 1;
	if ((rc = mig_read_file(m->journal_file, &text, err)) < 0)
		return rc;
	for (line = strtok_r(text.buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *o;
		char id[24], dur[32];
		const char *v[10];

		lineno++;
		if (!*line)
			continue;
		o = json_loads(line, 0, &jerr);
		if (!o || !json_is_object(o)) {
			json_decref(o);
			rc = ferry_error_set(err, FERRY_EPARSE,
				"journal '%s' is damaged at line %d: %s; fix or remove that line",
				m->journal_file, lineno, jerr.text);
			ferry_error_origin(err, "%s:%d", m->journal_file, lineno);
			goto out;
		}
		snprintf(id, sizeof(id), "%d", lineno);
		snprintf(dur, sizeof(dur), "%.3f",
			 json_number_value(json_object_get(o, "duration_ms")));
		v[0] = id;
		v[1] = json_string_value(json_object_get(o, "version"));
		v[2] = json_string_value(json_object_get(o, "name"));
		v[3] = json_string_value(json_object_get(o, "kind"));
		v[4] = json_string_value(json_object_get(o, "checksum"));
		v[5] = json_string_value(json_object_get(o, "applied_at"));
		v[6] = dur;
		v[7] = json_string_value(json_object_get(o, "outcome"));
		v[8] = json_string_value(json_object_get(o, "error"));
		v[9] = json_string_value(json_object_get(o, "run_id"));
		rc = add_row(10, v, m);
		json_decref(o);
		if (rc < 0) {
			ferry_error_set(err, rc, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	ferry_buf_release(&text);
	return rc;
}

int mig_journal_load(struct ferry_migrator *m, int create,
		     struct ferry_error *err)
{
	static const char no_step[] = "; no step ran";
	double t0 = ferry_now();
	int rc, exists = 0;

	mig_journal_release(m);
	if (!m->db)
		return load_file(m, err);
	if ((rc = mig_db_table_exists(m->db, "ferry_migrations", &exists, err)) < 0)
		return rc;
	if (!exists && create) {
		rc = mig_db_exec(m->db, mig_db_untyped(m->db) ? sq_create :
				 pg_create, err);
		/* another session creating it too, not yet committed */
		if (rc < 0 && !mig_lock_timeout_explain(m, "creating the journal table "
							"'ferry_migrations'", no_step, t0, err))
			ferry_error_prefix(err, "cannot create the journal table ferry_migrations");
		if (rc < 0)
			return rc;
		exists = 1;
	}
	m->journal_exists = exists;
	if (!exists)
		return 0;
	rc = mig_db_query(m->db, mig_db_untyped(m->db) ? sq_select : pg_select,
			  add_row, m, err);
	if (rc == FERRY_ENOMEM)
		ferry_error_set(err, rc, "out of memory");
	/* a LOCK TABLE, an ALTER or a VACUUM FULL of it in an open transaction */
	else if (rc < 0)
		mig_lock_timeout_explain(m, "reading the journal table 'ferry_migrations'",
					 no_step, t0, err);
	return rc;
}

static int append_file(struct ferry_migrator *m, const char *line,
		       struct ferry_error *err)
{
	struct ferry_buf dir = FERRY_BUF_INIT;
	size_t len = strlen(line);
	int fd = -1, rc = 0;

	if (ferry_buf_addf(&dir, "%s/.ferry", m->root) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (mkdir(dir.buf, 0777) < 0 && errno != EEXIST) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create '%s': %s",
				     dir.buf, strerror(errno));
		goto out;
	}
	fd = open(m->journal_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, line, len) != (ssize_t)len || fsync(fd) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write journal '%s': %s",
				     m->journal_file, strerror(errno));
		goto out;
	}
	m->journal_exists = 1;
out:
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&dir);
	return rc;
}

int mig_journal_add(struct ferry_migrator *m, const struct mig_step *s,
		    const char *outcome, double duration, const char *error,
		    const char *checksum, struct ferry_error *err)
{
	char now[32], dur[32];
	const char *v[9];
	int rc;

	mig_now_iso(now);
	snprintf(dur, sizeof(dur), "%.3f", duration * 1000.0);
	v[0] = s->version;
	v[1] = s->name;
	v[2] = mig_ops[s->kind]->name;
	v[3] = checksum ? checksum : s->checksum;
	v[4] = now;
	v[5] = dur;
	v[6] = outcome;
	v[7] = error;
	v[8] = m->run_id;
	if (m->db) {
		/* the row (and a step's transaction it commits with) survives
		 * a crash of the server once migrate has said "ok": a server
		 * whose commits are asynchronous (synchronous_commit off, as
		 * on many a Raspberry Pi) could take back an applied step
		 * whose effects outside the database stay */
		rc = mig_db_durable(m->db, err);
		if (rc == 0)
			rc = mig_db_execp(m->db, insert_sql, 9, v, err);
		if (rc < 0)
			ferry_error_prefix(err, "cannot write the journal row for '%s'",
					   s->label);
		return rc;
	} else {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:s?,s:s}",
			"version", v[0], "name", v[1], "kind", v[2],
			"checksum", v[3], "applied_at", v[4],
			"duration_ms", duration * 1000.0, "outcome", v[6],
			"error", v[7], "run_id", v[8]);
		char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
		struct ferry_buf l = FERRY_BUF_INIT;

		json_decref(o);
		if (!line || ferry_buf_addf(&l, "%s\n", line) < 0) {
			free(line);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		free(line);
		rc = append_file(m, l.buf, err);
		ferry_buf_release(&l);
		return rc;
	}
}

void mig_journal_apply_states(struct ferry_migrator *m)
{
	size_t i, j;

	for (i = 0; i < m->nsteps; i++) {
		struct mig_step *s = &m->steps[i];

		s->last = s->applied = NULL;
		s->state = MIG_PENDING;
		for (j = 0; j < m->nrows; j++) {
			const struct mig_jrow *r = &m->rows[j];

			if (strcmp(r->version, s->version))
				continue;
			s->last = r;
			if (mig_outcome_state(r->outcome) == MIG_APPLIED)
				s->applied = r;
		}
		if (s->last)
			s->state = mig_outcome_state(s->last->outcome);
	}
}
