/*
 * content.c - the hash of the source's content that a resumed copy job
 * checks (ops->content_id: SQLite hashes every page of the file and its
 * WAL, PostgreSQL counts and hashes every table's rows).
 *
 * It reads the whole source, and so do the row counts of the plan
 * (plan_chunks: SQLite's count(*) of each table reads every page of it).
 * Both are CPU work on the client before the first row moves, with the
 * target idle.  copy_content_start runs the hash on a connection of its
 * own in a thread while the plan counts on the main one; prepare_job
 * takes the result.  Measured on 2 cores, a 730 MB SQLite table of 5M
 * wide rows: the hash 0.19 s, the count 0.17-0.25 s, one after the other
 * in the schema phase (0.44 s).
 *
 * A source whose opening reads its catalog or scans files (a time-series
 * source, FERRY_CAP_CHUNKS) is hashed inline: a second open would cost
 * more than it saves.
 */
#include <pthread.h>
#include <string.h>

#include "copy/run_int.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/registry.h"

/*
 * The source's content as the 32 hex digits of its hash, or "-" when the
 * source cannot say (InfluxDB; with --schema-only no row is copied).
 * The plan's fingerprint sees row counts and key ranges, which an UPDATE
 * or a same-size edit keeps; a resumed job must refuse those too, or the
 * target ends up with the old version of the rows copied before and the
 * new version of the rest.  Whole content rather than per chunk: a chunk
 * still pending when the job stopped has no hash of what the first run
 * would have copied, and an edit there mixes versions as well.  One extra
 * pass over the bytes when a job starts and when it resumes (see the
 * connectors' content_id).
 */
static int content_of(const struct ferry_conn_ops *ops, ferry_conn *c, int schema_only,
		      char out[33], struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	double t0 = ferry_now();
	int rc = 1;

	strcpy(out, "-");
	if (ops->content_id && !schema_only)
		rc = ops->content_id(c, &b, err);
	ferry_debug("source content hashed in %.3f s", ferry_now() - t0);
	if (rc < 0)
		ferry_error_prefix(err, COPY_CONTENT_FAIL);
	else if (rc == 0)
		ferry_hash128_hex(b.buf, b.len, out);
	ferry_buf_release(&b);
	return rc < 0 ? rc : 0;
}

static void *content_main(void *arg)
{
	struct run *r = arg;
	struct copy_content *t = &r->content;

	t->rc = content_of(r->sops, t->conn, 0, t->out, &t->err);
	return NULL;
}

void copy_content_start(struct run *r)
{
	struct copy_content *t = &r->content;
	struct ferry_error e = FERRY_ERROR_INIT;

	if (t->started || !r->ckpt || r->o->schema_only || !r->sops->content_id ||
	    (r->sops->caps & FERRY_CAP_CHUNKS))
		return;
	/* no second connection or no thread: prepare_job hashes inline */
	if (ferry_conn_open(r->src_url, FERRY_OPEN_READONLY, &t->conn, &e) < 0) {
		ferry_debug("source content hashed inline: %s", e.msg);
		t->conn = NULL;
		return;
	}
	if (pthread_create(&t->thread, NULL, content_main, r) != 0) {
		ferry_conn_close(t->conn);
		t->conn = NULL;
		return;
	}
	t->started = 1;
}

/* Wait for the thread, if one runs; its connection closes. */
void copy_content_stop(struct run *r)
{
	struct copy_content *t = &r->content;

	if (!t->started)
		return;
	pthread_join(t->thread, NULL);
	t->started = 0;
	t->joined = 1;
	ferry_conn_close(t->conn);
	t->conn = NULL;
}

int copy_content_get(struct run *r, char out[33], struct ferry_error *err)
{
	struct copy_content *t = &r->content;

	copy_content_stop(r);
	if (!t->joined)
		return content_of(r->sops, r->src, r->o->schema_only, out, err);
	if (t->rc < 0) {
		*err = t->err;
		return t->rc;
	}
	memcpy(out, t->out, 33);
	return 0;
}
