/*
 * backup.c - the safety copy taken before a run when a step asks for it
 * (MIGRATION_INFO backup_required) or the user passes --backup.
 *
 * Everything goes to <root>/.ferry/backups/<run-id>/:
 *   database.sqlite   sqlite3_backup of the SQLite target (consistent
 *                     even while other connections read)
 *   database.dump     pg_dump -Fc of the PostgreSQL target
 *   files/...         the project files; after the run only the files the
 *                     run changed or deleted are kept, so the summary can
 *                     list exactly what was touched
 * The summary prints the command that restores each part.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/hash.h"
#include "ferry/url.h"
#include "mig_int.h"

#define BACKUP_FILES_MAX ((off_t)512 * 1024 * 1024)

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

static int hash_file(const char *path, char out[33])
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc = mig_read_file(path, &b, NULL);

	if (rc == 0)
		ferry_hash128_hex(b.buf, b.len, out);
	ferry_buf_release(&b);
	return rc;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char chunk[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), outfd = -1, rc = -1;
	ssize_t n;
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", to);
	if ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		if (mkdirs(dir) < 0)
			goto out;
	}
	if (in < 0)
		goto out;
	outfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	if (outfd < 0)
		goto out;
	while ((n = read(in, chunk, sizeof(chunk))) > 0)
		if (write(outfd, chunk, (size_t)n) != n)
			goto out;
	rc = n < 0 ? -1 : 0;
out:
	if (in >= 0)
		close(in);
	if (outfd >= 0 && close(outfd) < 0)
		rc = -1;
	return rc;
}

/* Skip what is ours, the VCS, the migrations themselves and the database. */
static int excluded(struct ferry_migrator *m, const char *abs, const char *name)
{
	char real[PATH_MAX];

	if (!strcmp(name, ".ferry") || !strcmp(name, ".git") ||
	    !strcmp(name, "__pycache__") || !strncmp(name, ".ferry-backup-", 14))
		return 1;
	if (realpath(abs, real)) {
		char mreal[PATH_MAX];

		if (realpath(m->dir, mreal) && !strcmp(real, mreal))
			return 1;
		if (m->db && m->db->path) {
			char dreal[PATH_MAX];

			if (realpath(m->db->path, dreal) &&
			    !strncmp(real, dreal, strlen(dreal)))
				return 1;
		}
	}
	return 0;
}

static int walk(struct ferry_migrator *m, const char *rel,
		int (*fn)(struct ferry_migrator *, const char *, const char *,
			  const struct stat *, void *), void *ud)
{
	struct ferry_buf dpath = FERRY_BUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (ferry_buf_addf(&dpath, "%s%s%s", m->root, *rel ? "/" : "", rel) < 0)
		return FERRY_ENOMEM;
	if (!(d = opendir(dpath.buf))) {
		ferry_buf_release(&dpath);
		return FERRY_EIO;
	}
	while (rc == 0 && (de = readdir(d))) {
		struct ferry_buf abs = FERRY_BUF_INIT, r = FERRY_BUF_INIT;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ferry_buf_addf(&abs, "%s/%s", dpath.buf, de->d_name) < 0 ||
		    ferry_buf_addf(&r, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0)
			rc = FERRY_ENOMEM;
		else if (lstat(abs.buf, &st) == 0 && !excluded(m, abs.buf, de->d_name)) {
			if (S_ISDIR(st.st_mode))
				rc = walk(m, r.buf, fn, ud);
			else if (S_ISREG(st.st_mode))
				rc = fn(m, abs.buf, r.buf, &st, ud);
		}
		ferry_buf_release(&abs);
		ferry_buf_release(&r);
	}
	closedir(d);
	ferry_buf_release(&dpath);
	return rc;
}

static int snap_one(struct ferry_migrator *m, const char *abs, const char *rel,
		    const struct stat *st, void *ud)
{
	struct mig_backup *b = ud;
	struct ferry_buf to = FERRY_BUF_INIT;
	int rc = 0;

	b->snap_bytes += st->st_size;
	if (b->snap_bytes > BACKUP_FILES_MAX)
		return FERRY_ETOOBIG;
	if (FERRY_GROW(b->snap_rel, b->snapcap, b->nsnap + 1) < 0 ||
	    FERRY_GROW(b->snap_hash, b->hashcap, b->nsnap + 1) < 0 ||
	    !(b->snap_rel[b->nsnap] = ferry_strdup(rel)))
		return FERRY_ENOMEM;
	if (hash_file(abs, b->snap_hash[b->nsnap]) < 0)
		b->snap_hash[b->nsnap][0] = '\0';
	b->nsnap++;
	if (ferry_buf_addf(&to, "%s/%s", b->files_dir, rel) < 0)
		return FERRY_ENOMEM;
	if (copy_file(abs, to.buf, st->st_mode) < 0)
		rc = FERRY_EIO;
	ferry_buf_release(&to);
	return rc;
}

/* Append v as a libpq conninfo value: single-quoted, ' and \ escaped. */
static int conninfo_add(struct ferry_buf *out, const char *k, const char *v)
{
	if (ferry_buf_addf(out, "%s%s='", out->len ? " " : "", k) < 0)
		return FERRY_ENOMEM;
	for (; *v; v++)
		if (((*v == '\'' || *v == '\\') && ferry_buf_addch(out, '\\') < 0) ||
		    ferry_buf_addch(out, *v) < 0)
			return FERRY_ENOMEM;
	return ferry_buf_addch(out, '\'') < 0 ? FERRY_ENOMEM : 0;
}

/*
 * Split a PostgreSQL URL into a libpq conninfo without the password (for
 * a child's command line, which every user can read in ps) and the
 * password (for the child's PGPASSWORD; *password is NULL when none).
 */
int mig_pg_conninfo(const char *url, struct ferry_buf *conninfo,
		    char **password, struct ferry_error *err)
{
	ferry_url *u = NULL;
	char port[16], *pw = NULL;
	size_t i;
	int rc;

	if ((rc = ferry_url_parse(url, &u, err)) < 0)
		goto out;
	pw = u->password ? ferry_strdup(u->password) : NULL;
	if (u->password && !pw)
		goto oom;
	if (u->host && *u->host && conninfo_add(conninfo, "host", u->host) < 0)
		goto oom;
	snprintf(port, sizeof(port), "%d", u->port);
	if (u->port && conninfo_add(conninfo, "port", port) < 0)
		goto oom;
	if (u->user && *u->user && conninfo_add(conninfo, "user", u->user) < 0)
		goto oom;
	if (u->path && *u->path && conninfo_add(conninfo, "dbname", u->path) < 0)
		goto oom;
	for (i = 0; i < u->nparams; i++) {
		const char *k = u->params[i].key;

		if (!strcmp(k, "password")) {
			ferry_free(pw);
			if (!(pw = ferry_strdup(u->params[i].value)))
				goto oom;
			continue;
		}
		if (conninfo_add(conninfo, k, u->params[i].value) < 0)
			goto oom;
	}
	*password = pw;
	pw = NULL;
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_free(pw);
	ferry_url_free(u);
	return rc;
}

static int db_backup(struct ferry_migrator *m, struct mig_backup *b,
		     const char *dir, struct ferry_error *err)
{
	struct ferry_buf file = FERRY_BUF_INIT, cmd = FERRY_BUF_INIT;
	int rc = 0;

	if ((m->db->ops->caps & FERRY_CAP_SNAPSHOT) && m->db->path) {
		/* the store's online backup: one consistent state (SQLite) */
		struct ferry_buf url = FERRY_BUF_INIT;
		struct ferry_error e = FERRY_ERROR_INIT;

		if (ferry_buf_addf(&file, "%s/database.sqlite", dir) < 0 ||
		    ferry_buf_addf(&cmd, "cp '%s' '%s'", file.buf, m->db->path) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		rc = m->db->ops->snapshot(m->db->c, file.buf, &url, &e);
		ferry_buf_release(&url);
		if (rc < 0) {
			rc = ferry_error_set(err, e.code,
				"cannot back up '%s' to '%s': %s; free disk space or run without --backup",
				m->db->path, file.buf, e.msg);
			goto out;
		}
	} else {
		/* the password goes through the child's environment, never argv;
		 * pg_dump locks every table before it reads one: behind another
		 * session's lock it gives up at --statement-lock-timeout too */
		char *argv[] = { "pg_dump", "-Fc", "-f", NULL, "-d", NULL, NULL, NULL };
		struct ferry_buf output = FERRY_BUF_INIT, ci = FERRY_BUF_INIT;
		char *pw = NULL, wait[48];
		const char *env[3] = { NULL, NULL, NULL };

		if ((rc = mig_pg_conninfo(m->db->url, &ci, &pw, err)) < 0) {
			ferry_error_prefix(err, "cannot back up '%s'", m->db->redacted);
			goto out;
		}
		if (pw) {
			env[0] = "PGPASSWORD";
			env[1] = pw;
		}
		if (ferry_buf_addf(&file, "%s/database.dump", dir) < 0 ||
		    ferry_buf_addf(&cmd, "pg_restore --clean --if-exists -d '%s' '%s'",
				   m->db->redacted, file.buf) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ferry_free(pw);
			ferry_buf_release(&ci);
			goto out;
		}
		argv[3] = file.buf;
		argv[5] = ci.buf;
		if (m->stmt_lock_ms) {
			snprintf(wait, sizeof(wait), "--lock-wait-timeout=%lld",
				 (long long)m->stmt_lock_ms);
			argv[6] = wait;
		}
		rc = mig_run_child_env(m, argv, env[0] ? env : NULL, &output, NULL, err);
		if (pw) {
			memset(pw, 0, strlen(pw));
			ferry_free(pw);
		}
		ferry_buf_release(&ci);
		if (rc < 0) {
			struct ferry_buf red = FERRY_BUF_INIT;
			const char *q = NULL;

			ferry_url_redact(output.buf, &red);
			ferry_buf_rtrim(&red);
			/* --lock-wait-timeout ends its LOCK TABLE as a statement
			 * timeout: "canceling statement due to statement timeout",
			 * then "Query was: LOCK TABLE public.rooms IN ..." */
			if (m->stmt_lock_ms && strstr(red.buf, "canceling statement due to"))
				q = strstr(red.buf, "Query was: LOCK TABLE ");
			if (q) {
				char t[32];

				q += strlen("Query was: ");
				mig_timeout_text(m->stmt_lock_ms, t, sizeof(t));
				ferry_error_set(err, FERRY_ETIMEOUT,
					"cannot back up '%s': pg_dump waited %s (--statement-lock-timeout) "
					"for a lock another session holds and gave up (%.*s): end that "
					"session or wait for it to finish (pg_stat_activity and pg_locks "
					"show who holds it); no step ran", m->db->redacted, t,
					(int)strcspn(q, "\n"), q);
			} else {
				ferry_error_set(err, FERRY_EIO,
					"cannot back up '%s' with pg_dump: %s; install pg_dump or run "
					"without --backup", m->db->redacted, red.len ? red.buf : err->msg);
			}
			ferry_buf_release(&red);
		}
		ferry_buf_release(&output);
		if (rc < 0)
			goto out;
	}
	b->db_file = ferry_buf_detach(&file, NULL);
	b->db_restore = ferry_buf_detach(&cmd, NULL);
out:
	ferry_buf_release(&file);
	ferry_buf_release(&cmd);
	return rc;
}

int mig_backup_take(struct ferry_migrator *m, struct mig_backup *b,
		    struct ferry_error *err)
{
	struct ferry_buf dir = FERRY_BUF_INIT, files = FERRY_BUF_INIT;
	int rc;

	if (ferry_buf_addf(&dir, "%s/.ferry/backups/%s", m->root, m->run_id) < 0 ||
	    ferry_buf_addf(&files, "%s/files", dir.buf) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (mkdirs(files.buf) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create backup directory '%s': %s",
				     files.buf, strerror(errno));
		goto out;
	}
	if (m->db && (rc = db_backup(m, b, dir.buf, err)) < 0) {
		/* no backup: nothing of one left behind (pg_dump made its
		 * file before it gave up on a lock) */
		struct ferry_buf f = FERRY_BUF_INIT;

		if (ferry_buf_addf(&f, "%s/database.dump", dir.buf) == 0)
			unlink(f.buf);
		ferry_buf_release(&f);
		rmdir(files.buf);
		rmdir(dir.buf);
		goto out;
	}
	b->files_dir = ferry_buf_detach(&files, NULL);
	rc = walk(m, "", snap_one, b);
	if (rc == FERRY_ETOOBIG)
		rc = ferry_error_set(err, rc,
			"project root '%s' holds more than %lld MB of files to back up; point --root at the project itself",
			m->root, (long long)(BACKUP_FILES_MAX >> 20));
	else if (rc < 0)
		rc = ferry_error_set(err, rc, "cannot back up the files under '%s': %s",
				     m->root, ferry_strerror(rc));
out:
	ferry_buf_release(&dir);
	ferry_buf_release(&files);
	return rc;
}

static int note_file(struct mig_backup *b, const char *rel, const char *suffix)
{
	struct ferry_buf s = FERRY_BUF_INIT;

	if (ferry_buf_addf(&s, "%s%s", rel, suffix) < 0 ||
	    FERRY_GROW(b->files, b->filescap, b->nfiles + 1) < 0) {
		ferry_buf_release(&s);
		return FERRY_ENOMEM;
	}
	b->files[b->nfiles++] = ferry_buf_detach(&s, NULL);
	return 0;
}

static int find_new(struct ferry_migrator *m, const char *abs, const char *rel,
		    const struct stat *st, void *ud)
{
	struct mig_backup *b = ud;
	size_t i;

	for (i = 0; i < b->nsnap; i++)
		if (!strcmp(b->snap_rel[i], rel))
			return 0;
	return note_file(b, rel, " (created)");
}

int mig_backup_finish(struct ferry_migrator *m, struct mig_backup *b,
		      struct ferry_error *err)
{
	size_t i;
	int rc = 0;

	if (!b->files_dir)
		return 0;
	for (i = 0; i < b->nsnap && rc == 0; i++) {
		struct ferry_buf abs = FERRY_BUF_INIT, copy = FERRY_BUF_INIT;
		char now[33];

		if (ferry_buf_addf(&abs, "%s/%s", m->root, b->snap_rel[i]) < 0 ||
		    ferry_buf_addf(&copy, "%s/%s", b->files_dir, b->snap_rel[i]) < 0)
			rc = FERRY_ENOMEM;
		else if (hash_file(abs.buf, now) < 0)
			rc = note_file(b, b->snap_rel[i], " (deleted)");
		else if (strcmp(now, b->snap_hash[i]))
			rc = note_file(b, b->snap_rel[i], "");
		else
			unlink(copy.buf);  /* untouched: the original is the backup */
		ferry_buf_release(&abs);
		ferry_buf_release(&copy);
	}
	if (rc == 0)
		rc = walk(m, "", find_new, b);
	if (rc < 0)
		return ferry_error_set(err, rc, "cannot compare the project files with the backup: %s",
				       ferry_strerror(rc));
	return 0;
}

void mig_backup_release(struct mig_backup *b)
{
	size_t i;

	for (i = 0; i < b->nfiles; i++)
		ferry_free(b->files[i]);
	ferry_free(b->files);
	ferry_free(b->db_file);
	ferry_free(b->db_restore);
	ferry_free(b->files_dir);
	for (i = 0; i < b->nsnap; i++)
		ferry_free(b->snap_rel[i]);
	ferry_free(b->snap_rel);
	ferry_free(b->snap_hash);
	memset(b, 0, sizeof(*b));
}
