/*
 * lock.c - one `ferry migrate` run at a time per target.
 *
 * A database: the store's lock (ops->lock, FERRY_CAP_LOCK) polled until
 * the timeout.  On PostgreSQL a session-level advisory lock, not a
 * transaction-level one, because steps marked no-transaction (CREATE
 * INDEX CONCURRENTLY) run outside any transaction and the lock must span
 * the whole run; on SQLite flock() on <db>.ferry-lock (see sqlite.c).
 * Either dies with the connection or the process, so a killed run never
 * leaves a stale lock.
 *
 * Project-only: flock() on <root>/.ferry/lock, the same kind of lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/connector.h"
#include "ferry/hash.h"
#include "ferry/progress.h"
#include "mig_int.h"

static void nap(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

int mig_lock_acquire(struct ferry_migrator *m, struct ferry_error *err)
{
	double deadline = ferry_now() + m->lock_timeout;
	struct ferry_buf path = FERRY_BUF_INIT;
	int got = 0, said = 0, rc = 0;

	m->lock.key = (int64_t)(ferry_hash64("ferry migrate", 13) >> 1);
	if (m->db && (m->db->ops->caps & FERRY_CAP_LOCK)) {
		for (;;) {
			if ((rc = m->db->ops->lock(m->db->c, m->lock.key, &got, err)) < 0 || got)
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
		if (rc < 0)
			ferry_error_prefix(err, "cannot take the migration lock on '%s'",
					   m->db->redacted);
		else
			m->lock.held = 1;
		return rc;
	}
	if (m->db)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"cannot lock '%s' against concurrent migrate runs: the store has no locks",
			m->db->redacted);
	if ((rc = ferry_buf_addf(&path, "%s/.ferry", m->root)) == 0) {
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
	if (m->lock.held && m->db) {
		m->db->ops->unlock(m->db->c, m->lock.key, NULL);
		m->lock.held = 0;
	}
	if (m->lock.fd >= 0) {
		flock(m->lock.fd, LOCK_UN);
		close(m->lock.fd);
		m->lock.fd = -1;
	}
}
