/*
 * checkpoint.c - the job's memory, kept in the target itself (schema
 * "ferry"), so that a copy killed at any moment resumes exactly.
 *
 *   ferry.jobs      one row per job: fingerprint of source and options, state
 *   ferry.progress  one row per chunk (table + rowid range): pending or done,
 *                   with the rows read/written/rejected and a row hash
 *   ferry.steps     post-load statements (keys, indexes, foreign keys,
 *                   identities), and from the job's creation on the
 *                   restores of what a load into existing tables took off
 *                   (ck_takeoff); each marked done with its own effect, or
 *                   failed when the rows do not allow it (retried by a rerun)
 *   ferry.rejects   the reject lines of each chunk
 *
 * The invariant everything rests on: a chunk's rows, its "done" mark and
 * its reject lines commit in one target transaction, and so does each
 * post-load step with its mark.  A chunk is claimed with SELECT ... FOR
 * UPDATE SKIP LOCKED inside that same transaction, so a worker that dies
 * simply releases its chunk, and any number of processes on any number of
 * machines can share one job through PostgreSQL alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/registry.h"
#include "wire/sqltext.h"

static const char schema_sql[] =
	"CREATE SCHEMA IF NOT EXISTS ferry;"
	"CREATE TABLE IF NOT EXISTS ferry.jobs ("
	"  job text PRIMARY KEY,"
	"  source text NOT NULL,"
	"  target_schema text NOT NULL,"
	"  fingerprint text NOT NULL,"
	"  state text NOT NULL,"
	"  created_tables text[] NOT NULL DEFAULT '{}',"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE IF NOT EXISTS ferry.progress ("
	"  job text NOT NULL REFERENCES ferry.jobs ON DELETE CASCADE,"
	"  stream_no int NOT NULL,"
	"  stream text NOT NULL,"
	"  range_lo bigint NOT NULL,"
	"  range_hi bigint NOT NULL,"
	"  has_range boolean NOT NULL,"
	"  state text NOT NULL DEFAULT 'pending',"
	"  rows_read bigint, rows_written bigint, rows_rejected bigint, bytes bigint,"
	"  hash text,"
	"  worker text,"
	"  done_at timestamptz,"
	"  PRIMARY KEY (job, stream_no, range_lo));"
	/* ordered chunks (a table loaded in an index's order): their bounds.
	 * ALTER TABLE only when they are missing: it waits for every worker
	 * that holds a chunk, and every claim waits behind it */
	"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE "
	"  attrelid = 'ferry.progress'::regclass AND attname = 'key_hi' AND NOT attisdropped) THEN"
	"  ALTER TABLE ferry.progress ADD COLUMN IF NOT EXISTS key_lo text,"
	"    ADD COLUMN IF NOT EXISTS key_hi text;"
	"END IF; END $$;"
	"CREATE TABLE IF NOT EXISTS ferry.steps ("
	"  job text NOT NULL REFERENCES ferry.jobs ON DELETE CASCADE,"
	"  step int NOT NULL,"
	"  stage int NOT NULL,"
	"  sql text NOT NULL,"
	"  state text NOT NULL DEFAULT 'pending',"
	"  note text,"
	"  PRIMARY KEY (job, step));"
	/* a chunk's reject lines in pieces of about CK_REJ_PIECE bytes */
	"CREATE TABLE IF NOT EXISTS ferry.rejects ("
	"  job text NOT NULL REFERENCES ferry.jobs ON DELETE CASCADE,"
	"  stream_no int NOT NULL,"
	"  range_lo bigint NOT NULL,"
	"  piece int NOT NULL DEFAULT 0,"
	"  lines text NOT NULL,"
	"  PRIMARY KEY (job, stream_no, range_lo, piece));"
	/* made by a ferry before the pieces: one row a chunk, piece 0 */
	"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE "
	"  attrelid = 'ferry.rejects'::regclass AND attname = 'piece' AND NOT attisdropped) THEN"
	"  ALTER TABLE ferry.rejects ADD COLUMN piece int NOT NULL DEFAULT 0,"
	"    DROP CONSTRAINT rejects_pkey, ADD PRIMARY KEY (job, stream_no, range_lo, piece);"
	"END IF; END $$;";

int ck_setup(ferry_conn *dst, struct ferry_error *err)
{
	/* concurrent CREATE ... IF NOT EXISTS can still collide in the
	 * catalog; serialise first-time setup with an advisory lock */
	int rc = ferry_conn_ops_of(dst)->exec(dst,
		"SELECT pg_advisory_lock(7301161)", err);

	if (rc == 0)
		rc = ferry_conn_ops_of(dst)->exec(dst, schema_sql, err);
	ferry_conn_ops_of(dst)->exec(dst, "SELECT pg_advisory_unlock(7301161)", NULL);
	if (rc < 0)
		ferry_error_prefix(err, "cannot create the checkpoint schema 'ferry' in the target");
	return rc;
}

/* s as an SQL string literal, or NULL. */
static int literal_or_null(struct ferry_buf *sql, const char *s)
{
	int berr = 0;

	if (s)
		berr |= wire_sql_literal(sql, s);
	else
		berr |= ferry_buf_addstr(sql, "NULL");
	return berr;
}

struct first_value {
	struct ferry_buf *out;
	int isnull, seen;
};

static int take_first(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct first_value *f = ud;

	if (f->seen++ || ncols < 1 || !vals[0])
		return 0;
	f->isnull = 0;
	ferry_buf_clear(f->out);
	if (ferry_buf_addstr(f->out, vals[0]) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

int copy_query_value(ferry_conn *c, const char *sql, const char *const *params, int n,
		     struct ferry_buf *out, int *isnull, struct ferry_error *err)
{
	struct first_value f = { out, 1, 0 };
	int rc = ferry_conn_ops_of(c)->query(c, sql, params, n, take_first, &f, err);

	if (rc == 0 && isnull)
		*isnull = f.isnull;
	return rc;
}

/*
 * The statements below are built with a run of adds whose results are
 * or-ed into berr: negative when one failed (the buffer is sticky, so
 * the text is cut).  Such a statement never runs; it is out of memory.
 */
static int sql_exec(ferry_conn *c, const struct ferry_buf *sql, int berr,
		    struct ferry_error *err)
{
	if (berr < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return ferry_conn_ops_of(c)->exec(c, sql->buf, err);
}

static int q1(ferry_conn *c, struct ferry_buf *sql, int berr, struct ferry_buf *out,
	      int *isnull, struct ferry_error *err)
{
	if (berr < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return copy_query_value(c, sql->buf, NULL, 0, out, isnull, err);
}

static int push_first(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	if (ncols < 1 || !vals[0])
		return 0;
	if (plan_strv_push(ud, ferry_strdup(vals[0])) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* The first column of every row (NULLs left out), in order, onto out. */
static int q_list(ferry_conn *c, const char *sql, const char *job, struct strv *out,
		  struct ferry_error *err)
{
	const char *v[1] = { job };

	return ferry_conn_ops_of(c)->query(c, sql, v, 1, push_first, out, err);
}

/* A count(*) query's number (0 when it fails). */
static int q_count(ferry_conn *c, struct ferry_buf *sql, int berr, int64_t *n,
		   struct ferry_error *err)
{
	struct ferry_buf out = FERRY_BUF_INIT;
	int isnull = 1, rc;

	rc = q1(c, sql, berr, &out, &isnull, err);
	*n = rc == 0 && !isnull ? strtoll(out.buf, NULL, 10) : 0;
	ferry_buf_release(&out);
	return rc;
}

struct job_row {
	int exists;
	struct ferry_buf *state, *fingerprint;
};

static int take_job(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct job_row *j = ud;

	if (j->exists++ || ncols < 2)
		return 0;
	ferry_buf_clear(j->state);
	ferry_buf_clear(j->fingerprint);
	if (ferry_buf_addstr(j->state, vals[0] ? vals[0] : "") < 0 ||
	    ferry_buf_addstr(j->fingerprint, vals[1] ? vals[1] : "") < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

int ck_job_get(ferry_conn *dst, const char *job, int *exists, struct ferry_buf *state,
	       struct ferry_buf *fingerprint, struct ferry_error *err)
{
	struct job_row j = { 0, state, fingerprint };
	const char *v[1] = { job };
	int rc;

	rc = ferry_conn_ops_of(dst)->query(dst, "SELECT state, fingerprint FROM ferry.jobs "
					   "WHERE job = $1", v, 1, take_job, &j, err);
	*exists = rc == 0 && j.exists;
	return rc;
}

/* created: the target tables this job created (a second call in the
 * creating transaction updates them) */
int ck_job_create(ferry_conn *dst, const char *job, const char *source,
		  const char *schema, const char *fingerprint,
		  const struct strv *created, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	size_t i;
	int rc;

	berr |= ferry_buf_addstr(&sql, "INSERT INTO ferry.jobs (job, source, target_schema, fingerprint, "
			 "state, created_tables) VALUES (");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addstr(&sql, ", ");
	berr |= wire_sql_literal(&sql, source);
	berr |= ferry_buf_addstr(&sql, ", ");
	berr |= wire_sql_literal(&sql, schema);
	berr |= ferry_buf_addstr(&sql, ", ");
	berr |= wire_sql_literal(&sql, fingerprint);
	berr |= ferry_buf_addstr(&sql, ", 'loading', ARRAY[");
	for (i = 0; i < created->n; i++) {
		if (i)
			berr |= ferry_buf_addstr(&sql, ", ");
		berr |= wire_sql_literal(&sql, created->v[i]);
	}
	/* again in the same transaction: the tables it created since */
	berr |= ferry_buf_addstr(&sql, "]::text[]) ON CONFLICT (job) DO UPDATE SET created_tables = "
			 "EXCLUDED.created_tables");
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	return rc;
}

int ck_job_set_state(ferry_conn *dst, const char *job, const char *state,
		     struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "UPDATE ferry.jobs SET updated_at = now(), state = ");
	berr |= wire_sql_literal(&sql, state);
	berr |= ferry_buf_addstr(&sql, " WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	return rc;
}

/* Tables the job created (for --restart and --rollback-on-abort). */
int ck_job_created_tables(ferry_conn *dst, const char *job, struct strv *out,
			  struct ferry_error *err)
{
	/* in the order they were created: --restart drops them in it */
	return q_list(dst, "SELECT t FROM ferry.jobs, unnest(created_tables) WITH ORDINALITY "
		      "AS u(t, n) WHERE job = $1 ORDER BY n", job, out, err);
}

int ck_job_delete(ferry_conn *dst, const char *job, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "DELETE FROM ferry.jobs WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	return rc;
}

/* Insert the chunk list (one statement per 500 chunks). */
int ck_chunks_insert(ferry_conn *dst, const char *job, const struct chunk_spec *ck,
		     size_t n, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (sql.len == 0)
			berr |= ferry_buf_addstr(&sql, "INSERT INTO ferry.progress (job, stream_no, stream, "
					 "range_lo, range_hi, has_range, key_lo, key_hi) VALUES ");
		else
			berr |= ferry_buf_addstr(&sql, ", ");
		berr |= ferry_buf_addch(&sql, '(');
		berr |= wire_sql_literal(&sql, job);
		berr |= ferry_buf_addf(&sql, ", %d, ", ck[i].tp->index);
		berr |= wire_sql_literal(&sql, ck[i].tp->src->name);
		berr |= ferry_buf_addf(&sql, ", %lld, %lld, %s, ", (long long)ck[i].lo, (long long)ck[i].hi,
			       ck[i].has_range ? "true" : "false");
		berr |= literal_or_null(&sql, ck[i].key_lo);
		berr |= ferry_buf_addstr(&sql, ", ");
		berr |= literal_or_null(&sql, ck[i].key_hi);
		berr |= ferry_buf_addch(&sql, ')');
		if ((i + 1) % 500 == 0 || i + 1 == n) {
			rc = sql_exec(dst, &sql, berr, err);
			ferry_buf_clear(&sql);
		}
	}
	ferry_buf_release(&sql);
	return rc;
}

/* The condition on ferry.progress p of a chunk a worker may take (with
 * FOR UPDATE SKIP LOCKED: and that no worker holds): pending and, in an
 * ordered stream, the first pending one. */
static int claimable(struct ferry_buf *sql, const char *job)
{
	int berr = 0;

	berr |= ferry_buf_addstr(sql, "p.job = ");
	berr |= wire_sql_literal(sql, job);
	berr |= ferry_buf_addstr(sql, " AND p.state = 'pending' AND (p.key_lo IS NULL OR NOT EXISTS ("
			 "SELECT 1 FROM ferry.progress q WHERE q.job = p.job AND "
			 "q.stream_no = p.stream_no AND q.state = 'pending' AND "
			 "q.range_lo < p.range_lo))");
	return berr;
}

/*
 * Inside an open transaction: lock one pending chunk of the job, skipping
 * chunks other workers hold.  *found = 0 when none is left unlocked.  The
 * chunks of an ordered table (bounds set) go one after the other, so the
 * rows land in the target in that order: only the first pending one of
 * such a table can be taken.  gate (NULL: none) is more SQL on p that a
 * chunk must pass: a relational map's load order (relmap.h).
 */
int ck_claim(ferry_conn *dst, const char *job, const char *gate, int *found, int *stream_no,
	     int64_t *lo, int64_t *hi, int *has_range, char **key_lo, char **key_hi,
	     struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	int isnull = 1, rc;

	*found = 0;
	*key_lo = *key_hi = NULL;
	berr |= ferry_buf_addstr(&sql, "SELECT stream_no || ' ' || range_lo || ' ' || range_hi || ' ' || "
			 "has_range::int || ' ' || coalesce(key_lo, '-') || ' ' || "
			 "coalesce(key_hi, '-') FROM ferry.progress p WHERE ");
	berr |= claimable(&sql, job);
	if (gate) {
		berr |= ferry_buf_addstr(&sql, " AND ");
		berr |= ferry_buf_addstr(&sql, gate);
	}
	berr |= ferry_buf_addstr(&sql, " ORDER BY stream_no, range_lo LIMIT 1 FOR UPDATE SKIP LOCKED");
	rc = q1(dst, &sql, berr, &out, &isnull, err);
	if (rc == 0 && !isnull) {
		long long a, b;
		int s, h, n = 0;

		if (sscanf(out.buf, "%d %lld %lld %d %n", &s, &a, &b, &h, &n) == 4 && n > 0) {
			char *k1 = out.buf + n, *k2 = strchr(k1, ' ');

			if (!k2)
				goto bad;
			*k2++ = '\0';
			if ((strcmp(k1, "-") && !(*key_lo = ferry_strdup(k1))) ||
			    (strcmp(k2, "-") && !(*key_hi = ferry_strdup(k2)))) {
				ferry_free(*key_lo);
				*key_lo = NULL;
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			*found = 1;
			*stream_no = s;
			*lo = a;
			*hi = b;
			*has_range = h;
			goto out;
		}
bad:
		rc = ferry_error_set(err, FERRY_EINVAL,
			"checkpoint table of job '%s' has a chunk ferry cannot read (%.80s); "
			"rerun with --restart", job, out.buf);
	}
out:
	ferry_buf_release(&sql);
	ferry_buf_release(&out);
	return rc;
}

struct rej_insert {
	ferry_conn *dst;
	const char *job;
	int stream_no;
	int64_t lo;
	int piece;
};

static int insert_piece(void *ud, const char *lines, size_t n, struct ferry_error *err)
{
	struct rej_insert *ri = ud;
	char stream[16], lo[24], piece[16];
	/* lines ends at a NUL: a piece is whole lines, a reject line has none */
	const char *v[5] = { ri->job, stream, lo, piece, lines };

	(void)n;
	snprintf(stream, sizeof(stream), "%d", ri->stream_no);
	snprintf(lo, sizeof(lo), "%lld", (long long)ri->lo);
	snprintf(piece, sizeof(piece), "%d", ri->piece++);
	return ferry_conn_ops_of(ri->dst)->query(ri->dst, "INSERT INTO ferry.rejects (job, "
						 "stream_no, range_lo, piece, lines) VALUES ($1, "
						 "$2::int, $3::bigint, $4::int, $5)", v, 5, NULL,
						 NULL, err);
}

/* Inside the chunk's transaction: mark it done and keep its rejects, in
 * pieces of CK_REJ_PIECE bytes (one literal of them all could pass
 * PostgreSQL's 1 GB a value, and held the chunk's lines twice over). */
int ck_chunk_done(ferry_conn *dst, const char *job, int stream_no, int64_t lo,
		  const struct chunk_stats *cs, uint64_t hash, const char *worker,
		  struct rejects *rejects, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct rej_insert ri = { dst, job, stream_no, lo, 0 };
	int rc;

	berr |= ferry_buf_addf(&sql, "UPDATE ferry.progress SET state = 'done', rows_read = %lld, "
		       "rows_written = %lld, rows_rejected = %lld, bytes = %llu, "
		       "hash = '%016llx', done_at = now(), worker = ",
		       (long long)cs->read, (long long)cs->written, (long long)cs->rejected,
		       (unsigned long long)cs->bytes, (unsigned long long)hash);
	berr |= wire_sql_literal(&sql, worker);
	berr |= ferry_buf_addstr(&sql, " WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND stream_no = %d AND range_lo = %lld", stream_no, (long long)lo);
	/* a chunk copied again (its commit lost) has no lines left, but say
	 * so: the pieces below are all of them (in the same round trip) */
	berr |= ferry_buf_addstr(&sql, "; DELETE FROM ferry.rejects WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND stream_no = %d AND range_lo = %lld", stream_no,
			       (long long)lo);
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	if (rc == 0 && rejects && rejects->count)
		rc = rej_chunk_pieces(rejects, CK_REJ_PIECE, insert_piece, &ri, err);
	return rc;
}

/* Number of chunks not done yet (locked ones included). */
int ck_pending(ferry_conn *dst, const char *job, int64_t *n, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "SELECT count(*) FROM ferry.progress WHERE state <> 'done' AND job = ");
	berr |= wire_sql_literal(&sql, job);
	rc = q_count(dst, &sql, berr, n, err);
	ferry_buf_release(&sql);
	return rc;
}

/* Number of chunks a worker could take now and no worker holds. */
int ck_unheld(ferry_conn *dst, const char *job, int64_t *n, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "SELECT count(*) FROM (SELECT 1 FROM ferry.progress p WHERE ");
	berr |= claimable(&sql, job);
	berr |= ferry_buf_addstr(&sql, " FOR UPDATE SKIP LOCKED) c");
	rc = q_count(dst, &sql, berr, n, err);
	ferry_buf_release(&sql);
	return rc;
}

/* Per-stream totals over all runs of the job: "read written rejected bytes". */
int ck_stream_totals(ferry_conn *dst, const char *job, int stream_no,
		     struct chunk_stats *cs, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	int isnull = 1, rc;

	memset(cs, 0, sizeof(*cs));
	berr |= ferry_buf_addstr(&sql, "SELECT coalesce(sum(rows_read), 0) || ' ' || coalesce(sum(rows_written), 0) "
			 "|| ' ' || coalesce(sum(rows_rejected), 0) || ' ' || coalesce(sum(bytes), 0) "
			 "FROM ferry.progress WHERE state = 'done' AND job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND stream_no = %d", stream_no);
	rc = q1(dst, &sql, berr, &out, &isnull, err);
	if (rc == 0 && !isnull) {
		long long a, b, c;
		unsigned long long d;

		if (sscanf(out.buf, "%lld %lld %lld %llu", &a, &b, &c, &d) == 4) {
			cs->read = a;
			cs->written = b;
			cs->rejected = c;
			cs->bytes = d;
		}
	}
	ferry_buf_release(&sql);
	ferry_buf_release(&out);
	return rc;
}

struct rej_page {
	const char *path;
	FILE *f;            /* made at the first line: no reject, no file */
	int64_t lines;
	int rows;
	char last[3][24];   /* stream_no, range_lo, piece of the last row */
};

static int take_rej_piece(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct rej_page *pg = ud;
	size_t n, i;
	int k;

	if (ncols < 4 || !vals[3])
		return 0;
	n = strlen(vals[3]);
	if (!pg->f && !(pg->f = fopen(pg->path, "w")))
		return ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s; "
				       "choose another place with --rejects DIR", pg->path,
				       strerror(errno));
	if (fwrite(vals[3], 1, n, pg->f) != n)
		return ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s",
				       pg->path, strerror(errno));
	for (i = 0; i < n; i++)
		pg->lines += vals[3][i] == '\n';
	for (k = 0; k < 3; k++)
		snprintf(pg->last[k], sizeof(pg->last[k]), "%s", vals[k] ? vals[k] : "0");
	pg->rows++;
	return 0;
}

/* Regenerate the reject file from the committed reject lines, in chunk
 * order (so it is the same however many workers ran, and however often
 * the job was interrupted).  *count = number of lines.  A page at a time:
 * the pieces after the last one written, while the pieces before one in
 * the page come to less than CK_REJ_PAGE bytes (so at least one), and a
 * job of millions of rejects is never in memory, nor in one PostgreSQL
 * value (string_agg of them all failed past 1 GB). */
int ck_write_rejects(ferry_conn *dst, const char *job, const char *path,
		     int64_t *count, struct ferry_error *err)
{
	static const char page_sql[] =
		"SELECT stream_no, range_lo, piece, lines FROM ("
		"  SELECT stream_no, range_lo, piece, lines, sum(octet_length(lines)) OVER "
		"    (ORDER BY stream_no, range_lo, piece) - octet_length(lines) AS before "
		"  FROM ferry.rejects WHERE job = $1 "
		"    AND (stream_no, range_lo, piece) > ($2::int, $3::bigint, $4::int)) p "
		"WHERE before < $5::bigint ORDER BY stream_no, range_lo, piece";
	struct ferry_buf tmp = FERRY_BUF_INIT;
	struct rej_page pg;
	const char *v[5];
	char page[24];
	int rc;

	*count = 0;
	memset(&pg, 0, sizeof(pg));
	/* written beside it, then renamed: a page that fails leaves the
	 * file of the run before whole; named by the process, since workers
	 * of one job (--worker) share the directory and each writes it */
	if (ferry_buf_addf(&tmp, "%s.%ld.tmp", path, (long)getpid()) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pg.path = tmp.buf;
	snprintf(pg.last[0], sizeof(pg.last[0]), "-1");
	snprintf(pg.last[1], sizeof(pg.last[1]), "%lld", (long long)INT64_MIN);
	snprintf(pg.last[2], sizeof(pg.last[2]), "-1");
	snprintf(page, sizeof(page), "%lu", (unsigned long)CK_REJ_PAGE);
	do {
		pg.rows = 0;
		v[0] = job;
		v[1] = pg.last[0];
		v[2] = pg.last[1];
		v[3] = pg.last[2];
		v[4] = page;
		rc = ferry_conn_ops_of(dst)->query(dst, page_sql, v, 5, take_rej_piece, &pg, err);
	} while (rc == 0 && pg.rows > 0);
	if (pg.f && fclose(pg.f) != 0 && rc == 0)
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s",
				     tmp.buf, strerror(errno));
	if (pg.f && rc == 0 && rename(tmp.buf, path) < 0)
		rc = ferry_error_set(err, FERRY_EIO, "cannot rename '%s' to '%s': %s", tmp.buf,
				     path, strerror(errno));
	if (pg.f && rc < 0)
		unlink(tmp.buf);
	ferry_buf_release(&tmp);
	*count = rc < 0 ? 0 : pg.lines;
	return rc;
}

/* ---- post-load steps ---------------------------------------------------- */

int ck_steps_insert(ferry_conn *dst, const char *job, const struct strv *stmts,
		    const int *stages, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	size_t i;
	int rc = 0, isnull = 1;

	/* only once per job: a resumed run keeps the recorded steps (the
	 * restores recorded with the job, numbered from STEP_RESTORE_BASE,
	 * are not these) */
	berr |= ferry_buf_addstr(&sql, "SELECT count(*) FROM ferry.steps WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND step < %d", STEP_RESTORE_BASE);
	rc = q1(dst, &sql, berr, &out, &isnull, err);
	if (rc < 0 || (!isnull && strcmp(out.buf, "0")))
		goto out;
	/* one statement: a run killed while recording the steps leaves all
	 * of them or none (with one INSERT each, a resumed run found some,
	 * took them for all and never built the rest) */
	if (stmts->n == 0)
		goto out;
	ferry_buf_clear(&sql);
	berr |= ferry_buf_addstr(&sql, "INSERT INTO ferry.steps (job, step, stage, sql) VALUES ");
	for (i = 0; i < stmts->n; i++) {
		berr |= ferry_buf_addstr(&sql, i ? ", (" : "(");
		berr |= wire_sql_literal(&sql, job);
		berr |= ferry_buf_addf(&sql, ", %zu, %d, ", i, stages[i]);
		berr |= wire_sql_literal(&sql, stmts->v[i]);
		berr |= ferry_buf_addch(&sql, ')');
	}
	berr |= ferry_buf_addstr(&sql, " ON CONFLICT DO NOTHING");
	rc = sql_exec(dst, &sql, berr, err);
out:
	ferry_buf_release(&sql);
	ferry_buf_release(&out);
	return rc;
}

/* Inside an open transaction: lock one pending step of the lowest stage
 * that still has pending steps; *found = 0 when that stage's remaining
 * steps are all held by others (or none are left), *wait = 1 when steps
 * of a later stage wait for them. */
int ck_step_claim(ferry_conn *dst, const char *job, int max_stage, int *found,
		  int *wait, int *step, int *stage, struct ferry_buf *stmt,
		  struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	int isnull = 1, rc;
	char *sp;

	*found = 0;
	*wait = 0;
	/* the lowest pending stage once (an uncorrelated subquery: a
	 * correlated one ran per row, 5 ms a claim at 400 steps) */
	berr |= ferry_buf_addstr(&sql, "SELECT s.step || ' ' || s.stage || ' ' || s.sql FROM ferry.steps s "
			 "WHERE s.job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND s.state = 'pending' AND s.stage <= %d AND s.stage = "
		       "(SELECT min(stage) FROM ferry.steps WHERE job = ", max_stage);
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addstr(&sql, " AND state = 'pending') ORDER BY s.step LIMIT 1 FOR UPDATE SKIP LOCKED");
	rc = q1(dst, &sql, berr, &out, &isnull, err);
	if (rc == 0 && !isnull && (sp = strchr(out.buf, ' ')) != NULL &&
	    (sp = strchr(sp + 1, ' ')) != NULL) {
		*found = 1;
		sscanf(out.buf, "%d %d", step, stage);
		ferry_buf_clear(stmt);
		if (ferry_buf_addstr(stmt, sp + 1) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	} else if (rc == 0) {
		int64_t later = 0;

		/* only steps of a later stage are worth waiting for: those
		 * of this one are held by others, who finish them and claim
		 * again (a step committed since the claim can make this 0
		 * while the next stage's steps became claimable: they are
		 * then left to the workers still running) */
		ferry_buf_clear(&sql);
		berr |= ferry_buf_addf(&sql, "SELECT count(*) FROM ferry.steps WHERE state = 'pending' AND "
			       "stage <= %d AND stage > (SELECT min(stage) FROM ferry.steps WHERE "
			       "state = 'pending' AND job = ", max_stage);
		berr |= wire_sql_literal(&sql, job);
		berr |= ferry_buf_addstr(&sql, ") AND job = ");
		berr |= wire_sql_literal(&sql, job);
		rc = q_count(dst, &sql, berr, &later, err);
		*wait = rc == 0 && later > 0;
	}
	ferry_buf_release(&sql);
	ferry_buf_release(&out);
	return rc;
}

/* Number of pending steps of stages up to max_stage. */
int ck_steps_pending(ferry_conn *dst, const char *job, int max_stage, int64_t *n,
		     struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addf(&sql, "SELECT count(*) FROM ferry.steps WHERE state = 'pending' AND "
			       "stage <= %d AND job = ", max_stage);
	berr |= wire_sql_literal(&sql, job);
	rc = q_count(dst, &sql, berr, n, err);
	ferry_buf_release(&sql);
	return rc;
}

/* Mark a step 'done' or 'failed', with its note, in the step's own
 * transaction. */
static int step_mark(ferry_conn *dst, const char *job, int step, const char *state,
		     const char *note, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addf(&sql, "UPDATE ferry.steps SET state = '%s', note = ", state);
	berr |= literal_or_null(&sql, note);
	berr |= ferry_buf_addstr(&sql, " WHERE job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addf(&sql, " AND step = %d", step);
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	return rc;
}

int ck_step_done(ferry_conn *dst, const char *job, int step, const char *note,
		 struct ferry_error *err)
{
	return step_mark(dst, job, step, "done", note, err);
}

/* Notes (warnings) left by steps, in step order, one per line. */
int ck_step_notes(ferry_conn *dst, const char *job, struct strv *out,
		  struct ferry_error *err)
{
	return q_list(dst, "SELECT note FROM ferry.steps WHERE note IS NOT NULL AND "
		      "state = 'done' AND job = $1 ORDER BY step", job, out, err);
}

/* Inside the step's transaction: a step that cannot be done (a key the
 * rows violate) is failed, not done; the job cannot end "done" with it. */
int ck_step_fail(ferry_conn *dst, const char *job, int step, const char *note,
		 struct ferry_error *err)
{
	return step_mark(dst, job, step, "failed", note, err);
}

/* A rerun tries the failed steps again (the rows may have been fixed). */
int ck_steps_retry(ferry_conn *dst, const char *job, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "UPDATE ferry.steps SET state = 'pending', note = NULL "
			 "WHERE state = 'failed' AND job = ");
	berr |= wire_sql_literal(&sql, job);
	rc = sql_exec(dst, &sql, berr, err);
	ferry_buf_release(&sql);
	return rc;
}

/*
 * Keys, unique indexes and foreign keys the rows do not allow, and what
 * the load took off and cannot put back: the copy is not the source, so
 * the job fails (FERRY_ESQL, exit 1) naming them and stays unfinished.
 */
int ck_steps_check(ferry_conn *dst, const char *job, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf all = FERRY_BUF_INIT;
	struct strv notes = { 0 };
	size_t i;
	int rc;

	rc = q_list(dst, "SELECT note FROM ferry.steps WHERE note IS NOT NULL AND "
		    "state = 'failed' AND job = $1 ORDER BY step", job, &notes, err);
	if (rc < 0 || !notes.n)
		goto out;
	for (i = 0; i < notes.n; i++)
		berr |= ferry_buf_addf(&all, "\n  %s", notes.v[i]);
	if (berr < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = ferry_error_set(err, FERRY_ESQL,
		"%zu key%s or constraint%s of the target cannot be built from the rows copied:%s\n"
		"the rows stay, the job is not done.  Keys SQLite holds apart can collide in one "
		"PostgreSQL type (the integer 1 and the text '1' of an untyped column are both "
		"'1' in text): fix the rows in the target and rerun the same command to build "
		"them, or fix them in the source and rerun with --restart",
		notes.n, notes.n == 1 ? "" : "s", notes.n == 1 ? "" : "s", all.buf);
out:
	plan_strv_release(&notes);
	ferry_buf_release(&all);
	return rc;
}

/*
 * Inside the transaction that creates the job: take the foreign keys off
 * that point from or to the tables in `tables` (qualified names, loaded
 * into as they are), and the plain indexes of the tables in `empty` (ones
 * the load fills from nothing), recording the statements that put each
 * back as steps of the job.  Rows then load in any order, chunks side by
 * side; the steps run after the load like ferry's own key builds, and
 * since the drops and the records commit together a run killed at any
 * moment leaves a job whose rerun puts them back.
 *
 * Foreign keys come back as they were defined (pg_get_constraintdef: a
 * NOT VALID one stays so, the others are validated, and one_step adds a
 * violated one NOT VALID with a note, as for ferry's own).  Indexes that
 * hold a key (primary, unique or exclusion constraints) stay: they check
 * the rows as they come and foreign keys need them.  Partitions' own
 * constraints and indexes belong to their parent's and stay too.
 */
/* A row (count, text). */
struct count_text {
	int64_t n;
	struct ferry_buf *text;
};

static int take_count_text(void *ud, int ncols, const char *const *vals,
			   struct ferry_error *err)
{
	struct count_text *ct = ud;

	if (ncols < 2)
		return 0;
	ct->n = vals[0] ? strtoll(vals[0], NULL, 10) : 0;
	if (vals[1] && ferry_buf_addstr(ct->text, vals[1]) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

int ck_takeoff(ferry_conn *dst, const char *job, const struct strv *tables,
	       const struct strv *empty, int64_t *nfks, int64_t *nidx, struct ferry_error *err)
{
	int berr = 0;
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct ferry_buf arr = FERRY_BUF_INIT, sel = FERRY_BUF_INIT, sql = FERRY_BUF_INIT,
			 out = FERRY_BUF_INIT;
	int rc = 0, pass;

	*nfks = *nidx = 0;
	for (pass = 0; pass < 2 && rc == 0; pass++) {
		const struct strv *list = pass == 0 ? tables : empty;
		size_t i;

		if (!list->n)
			continue;
		ferry_buf_clear(&arr);
		berr |= ferry_buf_addstr(&arr, "(SELECT to_regclass(x) FROM unnest(ARRAY[");
		for (i = 0; i < list->n; i++) {
			if (i)
				berr |= ferry_buf_addstr(&arr, ", ");
			berr |= wire_sql_literal(&arr, list->v[i]);
		}
		berr |= ferry_buf_addstr(&arr, "]::text[]) x)");
		/* what to take off: (o, rel, name, def): a foreign key's table and
		 * name, or an index's own qualified name; def puts it back */
		ferry_buf_clear(&sel);
		if (pass == 0)
			berr |= ferry_buf_addf(&sel, "SELECT c.oid AS o, format('%%I.%%I', n.nspname, r.relname) "
				       "AS rel, c.conname AS name, format('ALTER TABLE %%I.%%I ADD "
				       "CONSTRAINT %%I %%s', n.nspname, r.relname, c.conname, "
				       "pg_get_constraintdef(c.oid)) AS def FROM pg_constraint c "
				       "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON "
				       "n.oid = r.relnamespace WHERE c.contype = 'f' AND c.conparentid = 0 "
				       "AND (c.conrelid IN %s OR c.confrelid IN %s)", arr.buf, arr.buf);
		else
			berr |= ferry_buf_addf(&sel, "SELECT i.indexrelid AS o, format('%%I.%%I', n.nspname, "
				       "x.relname) AS rel, x.relname AS name, "
				       "pg_get_indexdef(i.indexrelid) AS def FROM pg_index i "
				       "JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON "
				       "t.oid = i.indrelid JOIN pg_namespace n ON n.oid = x.relnamespace "
				       "WHERE i.indrelid IN %s AND t.relkind = 'r' AND i.indisvalid AND "
				       "NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = "
				       "i.indexrelid AND k.contype IN ('p', 'u', 'x')) AND NOT EXISTS "
				       "(SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)",
				       arr.buf);
		/* the drops, before anything changes */
		ferry_buf_clear(&sql);
		berr |= ferry_buf_addf(&sql, "SELECT count(*), coalesce(string_agg(%s, '; '), '') "
			       "FROM (%s) d",
			       pass == 0 ? "format('ALTER TABLE %s DROP CONSTRAINT %I', rel, name)"
					 : "format('DROP INDEX %s', rel)",
			       sel.buf);
		{
			struct count_text ct = { 0, &out };

			ferry_buf_clear(&out);
			if (berr < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			else
				rc = ops->query(dst, sql.buf, NULL, 0, take_count_text, &ct, err);
			if (rc < 0)
				break;
			if (pass == 0)
				*nfks = ct.n;
			else
				*nidx = ct.n;
		}
		if (!out.len)
			continue;
		/* record the restores, then drop */
		ferry_buf_clear(&sql);
		berr |= ferry_buf_addstr(&sql, "INSERT INTO ferry.steps (job, step, stage, sql) SELECT ");
		berr |= wire_sql_literal(&sql, job);
		berr |= ferry_buf_addf(&sql, ", (SELECT coalesce(max(step), %d) FROM ferry.steps WHERE job = ",
			       STEP_RESTORE_BASE - 1);
		berr |= wire_sql_literal(&sql, job);
		berr |= ferry_buf_addf(&sql, " AND step >= %d) + row_number() OVER (ORDER BY o), %d, def "
			       "FROM (%s) d", STEP_RESTORE_BASE, pass == 0 ? STAGE_FKEYS : STAGE_KEYS,
			       sel.buf);
		if ((rc = sql_exec(dst, &sql, berr, err)) < 0)
			break;
		rc = ops->exec(dst, out.buf, err);
	}
	if (rc < 0)
		ferry_error_prefix(err, "cannot take the foreign keys and indexes off the target "
				   "tables for the load");
	ferry_buf_release(&arr);
	ferry_buf_release(&sel);
	ferry_buf_release(&sql);
	ferry_buf_release(&out);
	return rc;
}

/*
 * Inside forget_job's transaction (--restart, --rollback-on-abort): put
 * back what the job took off for its load (ck_takeoff) and has not put
 * back yet, before the record of it goes with the job.  A foreign key the
 * remaining rows violate comes back NOT VALID, with a warning.
 */
int ck_restores_run(ferry_conn *dst, const char *job, struct strv *warnings,
		    struct ferry_error *err)
{
	int berr = 0;
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct ferry_buf sql = FERRY_BUF_INIT, nv = FERRY_BUF_INIT;
	struct strv todo = { 0 };
	size_t i;
	int rc = 0;

	berr |= ferry_buf_addf(&sql, "SELECT sql FROM ferry.steps WHERE state <> 'done' AND job = $1 "
		       "AND step >= %d ORDER BY stage, step", STEP_RESTORE_BASE);
	if (berr < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (rc < 0 || (rc = q_list(dst, sql.buf, job, &todo, err)) < 0)
		goto out;
	for (i = 0; i < todo.n && rc == 0; i++) {
		struct ferry_error e = FERRY_ERROR_INIT;

		if ((rc = ops->exec(dst, "SAVEPOINT ferry_restore", err)) < 0)
			break;
		if (ops->exec(dst, todo.v[i], &e) == 0)
			continue;
		ops->exec(dst, "ROLLBACK TO SAVEPOINT ferry_restore", NULL);
		ferry_buf_clear(&nv);
		/* a statement cut short by a failed add never runs */
		if (ferry_buf_addf(&nv, "%s NOT VALID", todo.v[i]) == 0 &&
		    strstr(todo.v[i], " FOREIGN KEY ") && ops->exec(dst, nv.buf, NULL) == 0) {
			plan_strv_pushf(warnings, "foreign key added NOT VALID because existing rows "
				   "violate it: %.200s", todo.v[i]);
			continue;
		}
		*err = e;
		ferry_error_prefix(err, "cannot put back '%.200s', which job '%s' took off for its "
				   "load; the job is kept: fix the cause and rerun", todo.v[i], job);
		rc = e.code ? e.code : FERRY_ESQL;
	}
out:
	plan_strv_release(&todo);
	ferry_buf_release(&sql);
	ferry_buf_release(&nv);
	return rc;
}

/* How many failed steps of the job contain text (a step may begin with a SET LOCAL). */
int ck_steps_failed_like(ferry_conn *dst, const char *job, const char *prefix, int64_t *n,
			 struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc;

	berr |= ferry_buf_addstr(&sql, "SELECT count(*) FROM ferry.steps WHERE state = 'failed' AND job = ");
	berr |= wire_sql_literal(&sql, job);
	berr |= ferry_buf_addstr(&sql, " AND strpos(sql, ");
	berr |= wire_sql_literal(&sql, prefix);
	berr |= ferry_buf_addstr(&sql, ") > 0");
	rc = q_count(dst, &sql, berr, n, err);
	ferry_buf_release(&sql);
	return rc;
}
