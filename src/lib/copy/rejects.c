/*
 * rejects.c - the reject file: one NDJSON line per row that could not be
 * copied exactly, with the table, key, column, reason and the original
 * value (base64), so nothing is lost silently and everything can be
 * replayed by hand.  The file is created on the first reject only, and
 * holds one job's rejects only: a run that starts its job over removes
 * the file an earlier run left (rej_start_over).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copy/copy_int.h"
#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"

int rej_init(struct rejects *r, const char *dir, const char *job)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->dir = ferry_strdup(dir);
	r->job = job ? ferry_strdup(job) : NULL;
	return r->dir && (!job || r->job) ? 0 : FERRY_ENOMEM;
}

void rej_release(struct rejects *r)
{
	if (r->f)
		fclose(r->f);
	if (r->spill)
		fclose(r->spill);
	ferry_free(r->dir);
	ferry_free(r->path);
	ferry_free(r->job);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* mkdir -p */
int rej_mkdir(const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

/* Whose reject file a directory holds: DIR/job, one line, written with
 * the file (rej_own).  Two jobs given one --rejects DIR would otherwise
 * remove each other's file when one starts over.  A directory of an
 * older ferry has none: its file is taken for this job's. */
#define REJ_OWNER "job"

void rej_own(const struct rejects *r)
{
	struct ferry_buf o = FERRY_BUF_INIT;
	FILE *f;

	if (r->job && ferry_buf_addf(&o, "%s/" REJ_OWNER, r->dir) == 0 &&
	    (f = fopen(o.buf, "w")) != NULL) {
		fprintf(f, "%s\n", r->job);
		fclose(f);
	}
	ferry_buf_release(&o);
}

/* DIR/rejects-OWNER.ndjson (a '/' in it as '_') into *was */
static int aside_name(const struct rejects *r, const char *owner, struct ferry_buf *was)
{
	size_t k, at;

	if (ferry_buf_addf(was, "%s/rejects-", r->dir) < 0)
		return -1;
	at = was->len;
	if (ferry_buf_addf(was, "%s.ndjson", owner) < 0)
		return -1;
	for (k = at; k < was->len; k++)
		if (was->buf[k] == '/')
			was->buf[k] = '_';
	return 0;
}

/* The job DIR/job names, into owner (n bytes); "" when none.  When it is
 * another job's than r's, its file is moved to DIR/rejects-OWNER.ndjson
 * (a warning) and DIR/job removed: 1; else 0. */
static int other_owner(struct rejects *r, char *owner, size_t n, struct strv *warnings)
{
	struct ferry_buf p = FERRY_BUF_INIT, o = FERRY_BUF_INIT, was = FERRY_BUF_INIT;
	size_t got = 0;
	FILE *f;
	int other = 0;

	owner[0] = '\0';
	if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) < 0 ||
	    ferry_buf_addf(&o, "%s/" REJ_OWNER, r->dir) < 0)
		goto out;
	if (r->job && (f = fopen(o.buf, "r")) != NULL) {
		got = fread(owner, 1, n - 1, f);
		fclose(f);
		while (got && owner[got - 1] == '\n')
			got--;
	}
	owner[got] = '\0';
	if (!got || !strcmp(owner, r->job) || aside_name(r, owner, &was) < 0)
		goto out;
	/* another job's: kept under its name */
	other = 1;
	if (rename(p.buf, was.buf) == 0)
		plan_strv_pushf(warnings, "'%s' held the rejects of job '%s': moved to '%s' "
				"(give each job its own --rejects DIR)", p.buf, owner, was.buf);
	else if (errno != ENOENT)
		plan_strv_pushf(warnings, "cannot move '%s', the reject file of job '%s': "
				"%s; its lines are not this run's rejects", p.buf, owner,
				strerror(errno));
	unlink(o.buf);   /* the next file here is this job's */
out:
	ferry_buf_release(&p);
	ferry_buf_release(&o);
	ferry_buf_release(&was);
	return other;
}

void rej_start_over(struct rejects *r, struct strv *warnings)
{
	struct ferry_buf p = FERRY_BUF_INIT;
	char owner[512];

	/* another job's file is moved aside; this job's earlier one goes */
	if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) == 0 &&
	    !other_owner(r, owner, sizeof(owner), warnings) && unlink(p.buf) < 0 &&
	    errno != ENOENT)
		plan_strv_pushf(warnings, "cannot remove '%s', the reject file of an earlier "
				"run: %s; its lines are not this run's rejects", p.buf,
				strerror(errno));
	ferry_buf_release(&p);
}

void rej_remove_file(struct rejects *r)
{
	struct ferry_buf p = FERRY_BUF_INIT;

	if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) == 0)
		unlink(p.buf);
	ferry_buf_release(&p);
}

int rej_sync(struct rejects *r, struct ferry_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->f && (fflush(r->f) != 0 || fdatasync(fileno(r->f)) < 0))
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s",
				     r->path, strerror(errno));
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Whether a line of rej_keep_done's file stays: one without a chunk, or
 * of a chunk done. */
static int line_kept(const char *line, int (*done)(void *ud, int64_t chunk), void *ud)
{
	long long ck;

	return sscanf(line, "{\"chunk\":%lld,", &ck) != 1 || done(ud, ck);
}

int rej_keep_done(struct rejects *r, int (*done)(void *ud, int64_t chunk), void *ud,
		  struct strv *warnings, struct ferry_error *err)
{
	struct ferry_buf p = FERRY_BUF_INIT, t = FERRY_BUF_INIT, line = FERRY_BUF_INIT;
	struct ferry_buf mine = FERRY_BUF_INIT;
	FILE *in = NULL, *out = NULL;
	char owner[512];
	int c, rc = 0;

	if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) < 0 ||
	    ferry_buf_addf(&t, "%s/rejects.ndjson.tmp", r->dir) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* another job's file here (a job run since, into this DIR): moved
	 * aside, and this job's own, if it was moved aside by that one,
	 * taken back */
	if (other_owner(r, owner, sizeof(owner), warnings)) {
		if (aside_name(r, r->job, &mine) == 0 && rename(mine.buf, p.buf) == 0) {
			plan_strv_pushf(warnings, "took back this job's rejects from '%s'", mine.buf);
			rej_own(r);
		}
	}
	if (!(in = fopen(p.buf, "r")))
		goto out;   /* none yet */
	if (!(out = fopen(t.buf, "w"))) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s", t.buf, strerror(errno));
		goto out;
	}
	/* a line at a time; one cut short by a kill (no newline) goes */
	while (rc == 0 && (c = fgetc(in)) != EOF) {
		if (ferry_buf_addch(&line, (char)c) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (c != '\n')
			continue;
		if (line_kept(line.buf, done, ud) && fwrite(line.buf, 1, line.len, out) != line.len)
			rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s", t.buf,
					     strerror(errno));
		ferry_buf_clear(&line);
	}
	/* a last line without its newline: a kill cuts only a chunk's not
	 * yet done (the file is on disk before a chunk is recorded), so one
	 * of a done chunk is whole (an editor left the newline off) */
	if (rc == 0 && line.len && line_kept(line.buf, done, ud) &&
	    (ferry_buf_addch(&line, '\n') < 0 || fwrite(line.buf, 1, line.len, out) != line.len))
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s", t.buf, strerror(errno));
	if (rc == 0 && (ferror(in) || fflush(out) != 0 || fdatasync(fileno(out)) < 0))
		rc = ferry_error_set(err, FERRY_EIO, "cannot rewrite the reject file '%s': %s",
				     p.buf, strerror(errno));
	if (fclose(out) != 0 && rc == 0)
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s", t.buf, strerror(errno));
	out = NULL;
	if (rc == 0 && rename(t.buf, p.buf) < 0)
		rc = ferry_error_set(err, FERRY_EIO, "cannot rewrite the reject file '%s': %s",
				     p.buf, strerror(errno));
out:
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	if (rc < 0)
		unlink(t.buf);
	ferry_buf_release(&p);
	ferry_buf_release(&t);
	ferry_buf_release(&line);
	ferry_buf_release(&mine);
	return rc;
}

/* The lines in mem to the end of spill (made on first use). */
static int spill_mem(struct rejects *r, struct ferry_error *err)
{
	int fd;

	if (!r->spill) {
		if ((fd = copy_temp_fd("ferry-rejects", err)) < 0)
			return fd;
		if (!(r->spill = fdopen(fd, "w+"))) {
			close(fd);
			return ferry_error_set(err, FERRY_EIO, "cannot open a temporary file: %s",
					       strerror(errno));
		}
	}
	if (fwrite(r->mem->buf, 1, r->mem->len, r->spill) != r->mem->len)
		return ferry_error_set(err, FERRY_EIO, "cannot write a chunk's reject lines to "
				       "a temporary file: %s", strerror(errno));
	ferry_buf_clear(r->mem);
	return 0;
}

int rej_chunk_reset(struct rejects *r, struct ferry_error *err)
{
	ferry_buf_clear(r->mem);
	r->count = 0;
	if (r->spill && (fflush(r->spill) != 0 || ftruncate(fileno(r->spill), 0) < 0 ||
			 fseek(r->spill, 0, SEEK_SET) < 0))
		return ferry_error_set(err, FERRY_EIO, "cannot empty a temporary file: %s",
				       strerror(errno));
	return 0;
}

/* Add s[0..n) (whole lines) to piece, handing it on once it holds max. */
static int piece_add(struct ferry_buf *piece, const char *s, size_t n, size_t max,
		     int (*fn)(void *, const char *, size_t, struct ferry_error *), void *ud,
		     struct ferry_error *err)
{
	int rc;

	if (ferry_buf_add(piece, s, n) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (piece->len < max)
		return 0;
	rc = fn(ud, piece->buf, piece->len, err);
	ferry_buf_clear(piece);
	return rc;
}

int rej_chunk_pieces(struct rejects *r, size_t piece_max,
		     int (*fn)(void *ud, const char *piece, size_t n, struct ferry_error *err),
		     void *ud, struct ferry_error *err)
{
	struct ferry_buf piece = FERRY_BUF_INIT;
	char part[65536];
	size_t n;
	int rc = 0;

	if (r->spill) {
		if (fflush(r->spill) != 0 || fseek(r->spill, 0, SEEK_SET) < 0)
			rc = ferry_error_set(err, FERRY_EIO, "cannot read a temporary file: %s",
					     strerror(errno));
		/* a line at a time, or a part of a long one: handed on only
		 * after a line's end */
		while (rc == 0 && fgets(part, sizeof(part), r->spill)) {
			n = strlen(part);   /* reject lines are JSON: no NUL */
			rc = piece_add(&piece, part, n, part[n - 1] == '\n' ? piece_max : SIZE_MAX,
				       fn, ud, err);
		}
		if (rc == 0 && ferror(r->spill))
			rc = ferry_error_set(err, FERRY_EIO, "cannot read a temporary file: %s",
					     strerror(errno));
	}
	if (rc == 0 && r->mem->len)
		rc = piece_add(&piece, r->mem->buf, r->mem->len, 0, fn, ud, err);
	else if (rc == 0 && piece.len)
		rc = fn(ud, piece.buf, piece.len, err);
	ferry_buf_release(&piece);
	return rc;
}

/* s[0..n) to the end of the file (made on first use); r->lock held. */
static int file_add(struct rejects *r, const char *s, size_t n, struct ferry_error *err)
{
	if (!r->f) {
		struct ferry_buf p = FERRY_BUF_INIT;

		if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) < 0) {
			ferry_buf_release(&p);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		if (rej_mkdir(r->dir) < 0 || !(r->f = fopen(p.buf, "a"))) {
			int rc = ferry_error_set(err, FERRY_EIO,
				"cannot write the reject file '%s': %s; choose another place with --rejects DIR",
				p.buf, strerror(errno));

			ferry_buf_release(&p);
			return rc;
		}
		r->path = ferry_buf_detach(&p, NULL);
		rej_own(r);
	}
	if (fwrite(s, 1, n, r->f) != n)
		return ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s",
				       r->path, strerror(errno));
	return 0;
}

int rej_add(struct rejects *r, const char *table, const char *key_json,
	    const char *column, const char *reason, int vkind,
	    const void *value, size_t n, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf line = FERRY_BUF_INIT;
	int rc = 0;

	if (!r)
		return 0;   /* a second read of rows already accounted for */
	if (r->tag_chunk)   /* first, for rej_keep_done to read */
		berr |= ferry_buf_addf(&line, "{\"chunk\":%lld,\"table\":", (long long)r->chunk);
	else
		berr |= ferry_buf_addstr(&line, "{\"table\":");
	berr |= ferry_buf_addjson(&line, table, strlen(table));
	berr |= ferry_buf_addstr(&line, ",\"key\":");
	berr |= ferry_buf_addstr(&line, key_json);
	berr |= ferry_buf_addstr(&line, ",\"column\":");
	berr |= ferry_buf_addjson(&line, column, strlen(column));
	berr |= ferry_buf_addstr(&line, ",\"reason\":");
	berr |= ferry_buf_addjson(&line, reason, strlen(reason));
	berr |= ferry_buf_addstr(&line, ",\"storage_class\":\"");
	berr |= ferry_buf_addstr(&line, ferry_vkind_name(vkind));
	berr |= ferry_buf_addstr(&line, "\",\"value_base64\":");
	if (value) {
		berr |= ferry_buf_addch(&line, '"');
		berr |= ferry_buf_addbase64(&line, value, n);
		berr |= ferry_buf_addch(&line, '"');
	} else {
		berr |= ferry_buf_addstr(&line, "null");
	}
	berr |= ferry_buf_addstr(&line, "}\n");
	if (berr < 0) {  /* a line cut short is never written */
		ferry_buf_release(&line);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&r->lock);  /* a chunk's reader and its worker both add */
	if (r->mem) {
		if (r->mem_max && r->mem->len && r->mem->len + line.len > r->mem_max &&
		    (rc = spill_mem(r, err)) < 0)
			goto out;
		rc = ferry_buf_add(r->mem, line.buf, line.len);
		if (rc < 0)
			ferry_error_set(err, rc, "out of memory");
		else
			r->count++;
		goto out;
	}
	if ((rc = file_add(r, line.buf, line.len, err)) == 0)
		r->count++;
out:
	pthread_mutex_unlock(&r->lock);
	ferry_buf_release(&line);
	return rc;
}

int rej_add_lines(struct rejects *r, const char *lines, size_t n, struct ferry_error *err)
{
	size_t i;
	int rc;

	pthread_mutex_lock(&r->lock);
	if (r->mem)
		rc = ferry_buf_add(r->mem, lines, n) < 0 ?
		     ferry_error_set(err, FERRY_ENOMEM, "out of memory") : 0;
	else
		rc = file_add(r, lines, n, err);
	if (rc == 0)
		for (i = 0; i < n; i++)
			r->count += lines[i] == '\n';
	pthread_mutex_unlock(&r->lock);
	return rc;
}
