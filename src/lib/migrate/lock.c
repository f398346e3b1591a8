/*
 * lock.c - one `ferry migrate` run at a time per target.
 *
 * PostgreSQL: a session-level advisory lock (pg_try_advisory_lock polled
 * until the timeout).  Session level, not transaction level, because
 * steps marked no-transaction (CREATE INDEX CONCURRENTLY) run outside any
 * transaction and the lock must span the whole run.  It dies with the
 * connection, so a killed run never leaves a stale lock.
 *
 * SQLite and project-only: flock() on a lock file (<db>.ferry-lock or
 * <root>/.ferry/lock), a real cross-process lock the kernel drops when
 * the process dies.  SQLite's own locks cannot serve: they end with each
 * transaction, and a run is many transactions.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/hash.h"
#include "ferry/progress.h"
#include "mig_int.h"

static void nap(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int pg_try(struct ferry_migrator *m, int *got, struct ferry_error *err)
{
	char key[32];
	const char *v[1] = { key };
	PGresult *res;
	int rc = 0;

	snprintf(key, sizeof(key), "%lld", (long long)m->lock.key);
	res = PQexecParams(m->db->pg, "SELECT pg_try_advisory_lock($1::bigint)",
			   1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = ferry_error_set(err, FERRY_ESQL, "cannot take the migration lock: %s",
				     PQresultErrorMessage(res));
	else
		*got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

int mig_lock_acquire(struct ferry_migrator *m, struct ferry_error *err)
{
	double deadline = ferry_now() + m->lock_timeout;
	struct ferry_buf path = FERRY_BUF_INIT;
	int got = 0, said = 0, rc = 0;

	m->lock.key = (int64_t)(ferry_hash64("ferry migrate", 13) >> 1);
	if (m->db && m->db->kind == MIG_DB_PG) {
		for (;;) {
			if ((rc = pg_try(m, &got, err)) < 0 || got)
				break;
			if (!said && m->out) {
				fprintf(m->out, "waiting for the migration lock on '%s' (another run holds it)\n",
					m->db->redacted);
				said = 1;
			}
			if (ferry_now() >= deadline)
				break;
			nap();
		}
		if (rc == 0 && !got)
			rc = ferry_error_set(err, FERRY_ELOCKED,
				"another 'ferry migrate' run holds the lock on '%s'; wait for it to finish or raise --lock-timeout",
				m->db->redacted);
		if (rc == 0)
			m->lock.pg_held = 1;
		return rc;
	}
	if (m->db)
		rc = ferry_buf_addf(&path, "%s.ferry-lock", m->db->path);
	else if ((rc = ferry_buf_addf(&path, "%s/.ferry", m->root)) == 0) {
		if (mkdir(path.buf, 0777) < 0 && errno != EEXIST) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot create '%s': %s",
					     path.buf, strerror(errno));
			goto out;
		}
		rc = ferry_buf_addstr(&path, "/lock");
	}
	if (rc < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	m->lock.fd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (m->lock.fd < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot open lock file '%s': %s",
				     path.buf, strerror(errno));
		goto out;
	}
	for (;;) {
		if (flock(m->lock.fd, LOCK_EX | LOCK_NB) == 0) {
			got = 1;
			break;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot lock '%s': %s",
					     path.buf, strerror(errno));
			goto out;
		}
		if (!said && m->out) {
			fprintf(m->out, "waiting for the migration lock '%s' (another run holds it)\n",
				path.buf);
			said = 1;
		}
		if (ferry_now() >= deadline)
			break;
		nap();
	}
	if (!got)
		rc = ferry_error_set(err, FERRY_ELOCKED,
			"another 'ferry migrate' run holds the lock '%s'; wait for it to finish or raise --lock-timeout",
			path.buf);
out:
	if (rc < 0 && m->lock.fd >= 0) {
		close(m->lock.fd);
		m->lock.fd = -1;
	}
	ferry_buf_release(&path);
	return rc;
}

void mig_lock_release(struct ferry_migrator *m)
{
	if (m->lock.pg_held && m->db && m->db->pg) {
		char key[32];
		const char *v[1] = { key };

		snprintf(key, sizeof(key), "%lld", (long long)m->lock.key);
		PQclear(PQexecParams(m->db->pg,
				     "SELECT pg_advisory_unlock($1::bigint)", 1,
				     NULL, v, NULL, NULL, 0));
		m->lock.pg_held = 0;
	}
	if (m->lock.fd >= 0) {
		flock(m->lock.fd, LOCK_UN);
		close(m->lock.fd);
		m->lock.fd = -1;
	}
}
