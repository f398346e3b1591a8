/*
 * points_state.c - the done chunks of a copy into a point store
 * (InfluxDB or a line-protocol file), which has no transactions to keep
 * them in: a small append-only log beside the rejects (or --state PATH).
 *
 *   {"ferry_points_state":1,"fingerprint":"FP","chunks":N}
 *   {"done":CHUNK,"offset":OFFSET}
 *   ...
 *
 * (JSON lines, so the default name state.json tells no lie.)
 *
 * The header is written to a temporary file, fsync'd and renamed over the
 * old log, so a log is never half a header; each "done" line is appended
 * and fsync'd before the chunk counts as done.  A line cut short by a
 * crash is dropped (the file truncated to the last whole line) when the
 * log is opened again: its chunk is copied again, which InfluxDB takes
 * as the same points.  OFFSET is the lp:// target's size after the chunk
 * (0 for InfluxDB).
 *
 * --state postgres://...: the same in two tables of schema ferry (as the
 * row copy keeps its jobs there), ferry.point_jobs (job, fingerprint,
 * chunks) and ferry.point_chunks (job, chunk, byte_offset); each chunk's
 * row is committed before the chunk counts as done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy/copy_int.h"
#include "copy/points_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/registry.h"

#define PST_HEAD "{\"ferry_points_state\":1,\"fingerprint\":\"%s\",\"chunks\":%zu}\n"
#define PST_HEAD_SCAN "{\"ferry_points_state\":1,\"fingerprint\":\"%63[^\\\"]\",\"chunks\":%zu}"
#define PST_DONE "{\"done\":%zu,\"offset\":%llu}\n"
#define PST_DONE_SCAN "{\"done\":%llu,\"offset\":%llu}"

int copy_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A new log with only the header: temp + fsync + rename. */
static int create_log(struct pstate *s, struct ferry_error *err)
{
	struct ferry_buf tmp = FERRY_BUF_INIT, hdr = FERRY_BUF_INIT;
	int fd = -1, rc = 0;

	if (ferry_buf_addf(&tmp, "%s.tmp", s->path) < 0 ||
	    ferry_buf_addf(&hdr, PST_HEAD, s->fp, s->nchunks) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || copy_write_all(fd, hdr.buf, hdr.len) < 0 || fsync(fd) < 0 ||
	    rename(tmp.buf, s->path) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the state file '%s': %s; "
				     "choose another place with --state PATH", s->path,
				     strerror(errno));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&tmp);
	ferry_buf_release(&hdr);
	return rc;
}

/* Read the log at s->path: 1 when there is none, 0 when read (the done
 * chunks set; *fp_ok whether its fingerprint is s->fp), else FERRY_E*. */
static int read_log(struct pstate *s, int *fp_ok, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	char *line, *nl;
	size_t keep = 0, n;
	char fp[64];
	int rc;

	*fp_ok = 0;
	rc = ferry_buf_read_file(&b, s->path);
	if (rc < 0 && errno == ENOENT) {
		ferry_buf_release(&b);
		return 1;
	}
	if (rc < 0) {
		ferry_buf_release(&b);
		return ferry_error_set(err, FERRY_EIO, "cannot read the state file '%s': %s",
				       s->path, strerror(errno));
	}
	line = b.buf;
	nl = b.len ? memchr(line, '\n', b.len) : NULL;
	if (!nl || sscanf(line, PST_HEAD_SCAN, fp, &n) != 2) {
		ferry_buf_release(&b);
		return ferry_error_set(err, FERRY_EUSAGE,
				       "'%s' is not a ferry state file: give another --state PATH, "
				       "or remove it to start over", s->path);
	}
	*fp_ok = !strcmp(fp, s->fp) && n == s->nchunks;
	keep = (size_t)(nl + 1 - b.buf);
	for (line = nl + 1; *fp_ok && line < b.buf + b.len; line = nl + 1) {
		unsigned long long ck, off;

		nl = memchr(line, '\n', (size_t)(b.buf + b.len - line));
		if (!nl)
			break;  /* cut short by a crash: the chunk is not done */
		*nl = '\0';
		if (sscanf(line, PST_DONE_SCAN, &ck, &off) != 2 || ck >= s->nchunks) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"state file '%s': line '%s' is not a done chunk of this job; "
				"rerun with --restart to start over", s->path, line);
			ferry_buf_release(&b);
			return rc;
		}
		s->done[ck] = 1;
		s->ndone++;
		if (off > s->offset)
			s->offset = off;
		keep = (size_t)(nl + 1 - b.buf);
	}
	if (*fp_ok && keep < b.len && truncate(s->path, (off_t)keep) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot truncate the state file '%s': %s",
				     s->path, strerror(errno));
		ferry_buf_release(&b);
		return rc;
	}
	ferry_buf_release(&b);
	return 0;
}

/* ---- a state in PostgreSQL ------------------------------------------ */

static const char pg_schema_sql[] =
	"CREATE SCHEMA IF NOT EXISTS ferry;"
	"CREATE TABLE IF NOT EXISTS ferry.point_jobs ("
	"  job text PRIMARY KEY,"
	"  fingerprint text NOT NULL,"
	"  chunks bigint NOT NULL,"
	"  created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE IF NOT EXISTS ferry.point_chunks ("
	"  job text NOT NULL REFERENCES ferry.point_jobs ON DELETE CASCADE,"
	"  chunk bigint NOT NULL,"
	"  byte_offset bigint NOT NULL,"
	"  done_at timestamptz NOT NULL DEFAULT now(),"
	"  PRIMARY KEY (job, chunk));";

static int take_chunk(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct pstate *s = ud;
	unsigned long long ck, off;

	(void)err;
	if (ncols < 2 || !vals[0] || !vals[1])
		return 0;
	ck = strtoull(vals[0], NULL, 10);
	off = strtoull(vals[1], NULL, 10);
	if (ck < s->nchunks && !s->done[ck]) {
		s->done[ck] = 1;
		s->ndone++;
	}
	if (off > s->offset)
		s->offset = off;
	return 0;
}

static int pg_open(struct pstate *s, int restart, const char *job, struct ferry_error *err)
{
	const struct ferry_conn_ops *ops;
	struct ferry_buf fp = FERRY_BUF_INIT;
	char n[32];
	const char *v[3] = { s->key, s->fp, n };
	int rc, isnull = 1;

	if ((rc = ferry_conn_open(s->path, 0, &s->pg, err)) < 0) {
		ferry_error_prefix(err, "cannot open the --state database");
		return rc;
	}
	ops = ferry_conn_ops_of(s->pg);
	snprintf(n, sizeof(n), "%zu", s->nchunks);
	if ((rc = ops->exec(s->pg, pg_schema_sql, err)) < 0)
		goto out;
	if (restart && (rc = ops->query(s->pg, "DELETE FROM ferry.point_jobs WHERE job = $1", v,
					1, NULL, NULL, err)) < 0)
		goto out;
	if ((rc = copy_query_value(s->pg, "SELECT fingerprint || ' ' || chunks FROM "
				   "ferry.point_jobs WHERE job = $1", v, 1, &fp, &isnull, err)) < 0)
		goto out;
	if (isnull) {
		rc = ops->query(s->pg, "INSERT INTO ferry.point_jobs (job, fingerprint, chunks) "
				"VALUES ($1, $2, $3::bigint)", v, 3, NULL, NULL, err);
		goto out;
	}
	{
		char want[64];

		snprintf(want, sizeof(want), "%s %zu", s->fp, s->nchunks);
		if (strcmp(fp.buf, want)) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"job '%s' in the target was started with another source state or "
				"other options (the source changed, a table, type or option differs, "
				"or another version of ferry started it); rerun with --restart to "
				"start it over, or give this copy another --job name (--state table "
				"ferry.point_jobs)", job);
			goto out;
		}
	}
	rc = ops->query(s->pg, "SELECT chunk, byte_offset FROM ferry.point_chunks WHERE job = $1",
			v, 1, take_chunk, s, err);
	s->resumed = rc == 0 && s->ndone > 0;
out:
	if (rc < 0 && rc != FERRY_EUSAGE)
		ferry_error_prefix(err, "--state database");
	ferry_buf_release(&fp);
	return rc;
}

static int pg_mark(struct pstate *s, size_t chunk, uint64_t offset, struct ferry_error *err)
{
	char c[32], o[32];
	const char *v[3] = { s->key, c, o };

	snprintf(c, sizeof(c), "%zu", chunk);
	snprintf(o, sizeof(o), "%llu", (unsigned long long)offset);
	return ferry_conn_ops_of(s->pg)->query(s->pg,
		"INSERT INTO ferry.point_chunks (job, chunk, byte_offset) VALUES ($1, $2::bigint, "
		"$3::bigint) ON CONFLICT (job, chunk) DO UPDATE SET byte_offset = EXCLUDED.byte_offset, "
		"done_at = now()", v, 3, NULL, NULL, err);
}

/* ---- either ----------------------------------------------------------- */

int copy_pst_open(struct pstate *s, const char *path, const char *fp, size_t nchunks,
		  int restart, const char *job, struct ferry_error *err)
{
	int rc, fp_ok = 0;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->fp, sizeof(s->fp), "%s", fp);
	s->nchunks = nchunks;
	s->path = ferry_strdup(path);
	s->done = ferry_calloc(nchunks ? nchunks : 1, 1);
	if (!s->path || !s->done)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (ferry_conn_url_caps(path) & FERRY_CAP_CHECKPOINT) {
		if (!(s->key = ferry_strdup(job)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		return pg_open(s, restart, job, err);
	}
	rc = restart ? 1 : read_log(s, &fp_ok, err);
	if (rc < 0)
		return rc;
	if (rc == 0 && !fp_ok)
		return ferry_error_set(err, FERRY_EUSAGE,
			"job '%s' in the target was started with another source state or other "
			"options (the source changed, a table, type or option differs, or another "
			"version of ferry started it); rerun with --restart to start it over, "
			"or give this copy another --job name (state file '%s')", job, path);
	if (rc == 1) {
		memset(s->done, 0, nchunks);
		s->ndone = 0;
		s->offset = 0;
		if ((rc = create_log(s, err)) < 0)
			return rc;
	} else {
		s->resumed = s->ndone > 0;
	}
	s->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (s->fd < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open the state file '%s': %s",
				       path, strerror(errno));
	return 0;
}

int copy_pst_mark(struct pstate *s, size_t chunk, uint64_t offset, struct ferry_error *err)
{
	char line[96];
	int n, rc = 0;

	n = snprintf(line, sizeof(line), PST_DONE, chunk, (unsigned long long)offset);
	pthread_mutex_lock(&s->lock);
	if (s->pg) {
		rc = pg_mark(s, chunk, offset, err);
		if (rc == 0) {
			s->done[chunk] = 1;
			s->ndone++;
			if (offset > s->offset)
				s->offset = offset;
		}
	} else if (copy_write_all(s->fd, line, (size_t)n) < 0 || fsync(s->fd) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the state file '%s': %s",
				     s->path, strerror(errno));
	} else {
		s->done[chunk] = 1;
		s->ndone++;
		if (offset > s->offset)
			s->offset = offset;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void copy_pst_close(struct pstate *s)
{
	if (s->fd >= 0)
		close(s->fd);
	ferry_conn_close(s->pg);
	ferry_free(s->key);
	ferry_free(s->path);
	ferry_free(s->done);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
