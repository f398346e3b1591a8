/*
 * apply.c - carry out a rewrite plan: backup, atomic writes, rollback
 * script, test run and automatic restore.
 *
 * Order matters for "nothing lost": every touched file is copied into
 * <dir>/.ferry-backup-<recipe>-<UTC timestamp>/files/ (and fsynced) and
 * rollback.sh is written before the first file is replaced; each file is
 * replaced by rename(2) of a fsynced temp file, so a crash leaves either
 * the old or the new content, never a mix.  If writing fails half-way,
 * or the tests fail, the files written so far are restored from the
 * backup copies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/progress.h"
#include "rewrite_int.h"

#define RW_TEST_OUTPUT_CAP (1u << 20)

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char *d = ferry_strdup(path), *slash;
	int fd, rc = 0;

	if (!d)
		return -1;
	slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(d, ".");
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	ferry_free(d);
	return rc;
}

int rw_write_atomic(const char *path, const char *data, size_t len,
		    unsigned mode, struct ferry_error *err)
{
	struct ferry_buf tmp = FERRY_BUF_INIT;
	const char *slash = strrchr(path, '/');
	int fd = -1, rc = 0;

	/* the temp file lives beside the target so rename stays atomic */
	if (ferry_buf_addf(&tmp, "%.*s.%s.ferry-XXXXXX",
			   slash ? (int)(slash - path + 1) : 0, path,
			   slash ? slash + 1 : path)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	fd = mkstemp(tmp.buf);
	if (fd < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create a temporary file "
				     "beside '%s': %s", path, strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len) || fchmod(fd, mode) || fsync(fd)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s",
				     tmp.buf, strerror(errno));
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s",
				     tmp.buf, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp.buf, path)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot replace '%s': %s",
				     path, strerror(errno));
		goto out;
	}
	fsync_parent(path);
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp.len)
		unlink(tmp.buf);
	ferry_buf_release(&tmp);
	return rc;
}

/* mkdir -p of the directories leading to path (not path itself). */
static int mkdirs_for(const char *path)
{
	char *d = ferry_strdup(path), *p;

	if (!d)
		return -1;
	for (p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0755) && errno != EEXIST) {
			ferry_free(d);
			return -1;
		}
		*p = '/';
	}
	ferry_free(d);
	return 0;
}

/* Copy src to dst with src's mode and times (what `cp -p` does). */
static int copy_file(const char *src, const char *dst, struct ferry_error *err)
{
	struct ferry_buf data = FERRY_BUF_INIT;
	struct stat st;
	struct timespec ts[2];
	char chunk[65536];
	ssize_t n;
	int in = -1, out_fd = -1, rc = 0;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", src,
				     strerror(errno));
		goto out;
	}
	while ((n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					     src, strerror(errno));
			goto out;
		}
		if (ferry_buf_add(&data, chunk, (size_t)n)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (mkdirs_for(dst)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create the directory "
				     "of '%s': %s", dst, strerror(errno));
		goto out;
	}
	if ((rc = rw_write_atomic(dst, data.buf, data.len, st.st_mode & 07777, err)))
		goto out;
	out_fd = open(dst, O_RDONLY | O_CLOEXEC);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (out_fd >= 0)
		futimens(out_fd, ts);
out:
	if (in >= 0)
		close(in);
	if (out_fd >= 0)
		close(out_fd);
	ferry_buf_release(&data);
	return rc;
}

/* Single-quote s for /bin/sh. */
static int sh_quote(struct ferry_buf *b, const char *s)
{
	if (ferry_buf_addch(b, '\''))
		return FERRY_ENOMEM;
	for (; *s; s++) {
		if (*s == '\'' ? ferry_buf_addstr(b, "'\\''") : ferry_buf_addch(b, *s))
			return FERRY_ENOMEM;
	}
	return ferry_buf_addch(b, '\'');
}

static int rollback_script(const struct ferry_rewrite_plan *p,
			   const char *stamp, struct ferry_buf *sh)
{
	size_t i;

	if (ferry_buf_addf(sh,
		"#!/bin/sh\n"
		"# Written by ferry rewrite (recipe %s) at %s.\n"
		"# Restores the files it changed in the service directory above this\n"
		"# backup, byte for byte (cp -p keeps modes and times), and deletes\n"
		"# the files it created.  Safe to run more than once.\n"
		"set -eu\n"
		"backup=$(cd \"$(dirname \"$0\")\" && pwd)\n"
		"cd \"$backup/..\"\n", p->recipe->name, stamp))
		return FERRY_ENOMEM;
	for (i = 0; i < p->nfiles; i++) {
		struct ferry_buf q = FERRY_BUF_INIT;
		int rc;

		if (sh_quote(&q, p->files[i].path)) {
			ferry_buf_release(&q);
			return FERRY_ENOMEM;
		}
		if (p->files[i].created)
			rc = ferry_buf_addf(sh, "rm -f -- %s\n", q.buf);
		else
			rc = ferry_buf_addf(sh, "cp -p -- \"$backup/files/\"%s %s\n",
					    q.buf, q.buf);
		ferry_buf_release(&q);
		if (rc)
			return FERRY_ENOMEM;
	}
	if (ferry_buf_addf(sh, "echo \"ferry: restored %zu file(s) from $backup\"\n",
			   p->nfiles))
		return FERRY_ENOMEM;
	return 0;
}

/* Remove the backup's copy of file rel (n bytes) and the directories it
 * leaves empty up to files/; b is scratch.  -1 when out of memory. */
static int remove_backed_up(const char *bdir, const char *rel, int n, struct ferry_buf *b)
{
	char *s;

	ferry_buf_clear(b);
	if (ferry_buf_addf(b, "%s/files/%.*s", bdir, n, rel))
		return -1;
	unlink(b->buf);
	while ((s = strrchr(b->buf, '/')) && (size_t)(s - b->buf) > strlen(bdir) + 6) {
		*s = '\0';
		if (rmdir(b->buf))
			break;
	}
	return 0;
}

/* Remove the rest of a backup once its files are gone: files/, the
 * rollback script, the manifest and the directory itself; releases b. */
static void remove_backup_rest(const char *bdir, struct ferry_buf *b)
{
	static const char *const rest[] = { "files", "rollback.sh", "manifest.txt" };
	size_t i;

	for (i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
		ferry_buf_clear(b);
		if (ferry_buf_addf(b, "%s/%s", bdir, rest[i]))
			continue;
		if (i == 0)
			rmdir(b->buf);
		else
			unlink(b->buf);
	}
	rmdir(bdir);
	ferry_buf_release(b);
}

/* Remove the backup directory tree we created (only what we put there). */
static void remove_backup(const struct ferry_rewrite_plan *p, const char *bdir)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;

	for (i = 0; i < p->nfiles; i++)
		if (remove_backed_up(bdir, p->files[i].path, (int)strlen(p->files[i].path), &b) < 0)
			break;
	remove_backup_rest(bdir, &b);
}

/* Restore files [0, n) from the backup; every failure is reported. */
static int restore(const struct ferry_rewrite_plan *p, const char *bdir,
		   size_t n, struct ferry_error *err)
{
	struct ferry_buf src = FERRY_BUF_INIT, dst = FERRY_BUF_INIT;
	struct ferry_error e2 = FERRY_ERROR_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		ferry_buf_clear(&src);
		ferry_buf_clear(&dst);
		if (ferry_buf_addf(&src, "%s/files/%s", bdir, p->files[i].path) ||
		    ferry_buf_addf(&dst, "%s/%s", p->dir, p->files[i].path)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (p->files[i].created) {
			if (unlink(dst.buf) && errno != ENOENT && !rc)
				rc = ferry_error_set(err, FERRY_EIO, "cannot remove '%s': %s",
						     dst.buf, strerror(errno));
			continue;
		}
		if (copy_file(src.buf, dst.buf, &e2) && !rc) {
			rc = ferry_error_set(err, e2.code, "%s; run '%s/rollback.sh'",
					     e2.msg, bdir);
		}
	}
	ferry_buf_release(&src);
	ferry_buf_release(&dst);
	return rc;
}

/* Re-read a file and check it is still what the plan was made from. */
static int unchanged_since_plan(const struct ferry_rewrite_plan *p,
				const struct rw_file *f, const char *path,
				struct ferry_error *err)
{
	struct ferry_buf now = FERRY_BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	(void)p;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path,
				       strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (ferry_buf_add(&now, chunk, (size_t)n)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	if (n < 0 || now.len != f->old.len || memcmp(now.buf, f->old.buf, now.len))
		rc = ferry_error_set(err, FERRY_EABORT, "'%s' changed while ferry "
				     "was working on it; nothing was written, run "
				     "again", path);
out:
	close(fd);
	ferry_buf_release(&now);
	return rc;
}

int rw_run_cmd(const char *dir, const char *cmd, double timeout,
	       struct ferry_buf *out, int *status, int *timed_out,
	       struct ferry_error *err)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;
	double deadline = timeout > 0 ? ferry_now() + timeout : 0;
	int st = 0, exited = 0, rc = 0, eof = 0, e = 0;
	char chunk[4096];

	*timed_out = 0;
	if (pipe2(pfd, O_CLOEXEC))
		return ferry_error_set(err, FERRY_EIO, "cannot create a pipe: %s",
				       strerror(errno));
	pid = fork();
	if (pid < 0) {
		rc = ferry_error_set(err, FERRY_ECHILD, "cannot fork: %s",
				     strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		if (chdir(dir)) {
			dprintf(2, "ferry: cannot enter '%s': %s\n", dir, strerror(errno));
			_exit(127);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		dprintf(2, "ferry: cannot run /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(pfd[1]);
	pfd[1] = -1;
	/* read until the shell exits (a daemon it left behind may keep the
	 * pipe open forever) or the deadline passes */
	while (!exited) {
		struct pollfd pl = { pfd[0], POLLIN, 0 };
		int ms = 200;

		if (deadline > 0) {
			double left = deadline - ferry_now();

			if (left <= 0) {
				*timed_out = 1;
				break;
			}
			if (left * 1000 < ms)
				ms = (int)(left * 1000) + 1;
		}
		if (!eof && poll(&pl, 1, ms) > 0) {
			ssize_t n = read(pfd[0], chunk, sizeof(chunk));

			if (n > 0) {
				if (out->len + (size_t)n <= RW_TEST_OUTPUT_CAP)
					e |= ferry_buf_add(out, chunk, (size_t)n);
			} else if (n == 0) {
				eof = 1;
			}
		} else if (eof) {
			struct timespec t = { 0, 20 * 1000 * 1000 };

			nanosleep(&t, NULL);
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			exited = 1;
	}
	if (*timed_out) {
		int i;

		kill(-pid, SIGTERM);
		for (i = 0; i < 20 && waitpid(pid, &st, WNOHANG) != pid; i++) {
			struct timespec t = { 0, 100 * 1000 * 1000 };

			nanosleep(&t, NULL);
		}
		kill(-pid, SIGKILL);
		if (i == 20)
			waitpid(pid, &st, 0);
	} else {
		/* drain what is left without blocking */
		int fl = fcntl(pfd[0], F_GETFL);
		ssize_t n;

		fcntl(pfd[0], F_SETFL, fl | O_NONBLOCK);
		while ((n = read(pfd[0], chunk, sizeof(chunk))) > 0)
			if (out->len + (size_t)n <= RW_TEST_OUTPUT_CAP)
				e |= ferry_buf_add(out, chunk, (size_t)n);
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) :
		  WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	if (e < 0) {  /* never shown cut as if whole; the status stands */
		ferry_buf_clear(out);
		if (ferry_buf_addstr(out, "(test output lost: out of memory)\n") < 0) {
			/* out stays sticky: its readers check ferry_buf_error() */
		}
	}
out:
	if (pfd[0] >= 0)

		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return rc;
}

/*
 * How many tests passed, from the runner's last summary: pytest's
 * "== 12 passed, 1 skipped in 0.31s ==" or unittest's "Ran 12 tests"
 * followed by "OK".  -1 when the output says neither.
 */
static long tests_passed(const struct ferry_buf *out)
{
	const char *s = out->buf, *p, *last = NULL;
	long n = -1;

	if (ferry_buf_error(out) || !out->len)
		return -1;
	for (p = s; (p = strstr(p, " passed")); p++)
		last = p;
	if (last) {
		const char *d = last;

		while (d > s && d[-1] >= '0' && d[-1] <= '9')
			d--;
		if (d < last)
			return strtol(d, NULL, 10);
	}
	for (p = s; (p = strstr(p, "\nRan ")); p++)
		last = p;
	if (last && !strncmp(last, "\nRan ", 5) &&
	    last[5] >= '0' && last[5] <= '9' && strstr(last, "\nOK"))
		n = strtol(last + 5, NULL, 10);
	return n;
}

void ferry_rewrite_result_release(struct ferry_rewrite_result *res)
{
	ferry_free(res->backup_dir);
	ferry_free(res->rollback);
	res->backup_dir = res->rollback = NULL;
	ferry_buf_release(&res->test_output);
}

int ferry_rewrite_apply(const ferry_rewrite_plan *p,
			const struct ferry_rewrite_opts *opts,
			struct ferry_rewrite_result *res,
			struct ferry_error *err)
{
	struct ferry_buf bdir = FERRY_BUF_INIT, path = FERRY_BUF_INIT;
	struct ferry_buf sh = FERRY_BUF_INIT, man = FERRY_BUF_INIT;
	struct ferry_error e2 = FERRY_ERROR_INIT;
	const char *cmd;
	char stamp[32], *absdir = NULL;
	time_t now = time(NULL);
	struct tm tm;
	size_t i, written = 0;
	int rc = 0, attempt;
	double timeout, t0;

	if (!p->nfiles)
		return 0;
	absdir = realpath(p->dir, NULL);
	if (!absdir) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot resolve '%s': %s",
				     p->dir, strerror(errno));
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (attempt = 0; ; attempt++) {
		ferry_buf_clear(&bdir);
		if (attempt ? ferry_buf_addf(&bdir, "%s/.ferry-backup-%s-%s-%d", absdir,
					     p->recipe->name, stamp, attempt) :
			      ferry_buf_addf(&bdir, "%s/.ferry-backup-%s-%s", absdir,
					     p->recipe->name, stamp)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!mkdir(bdir.buf, 0700))
			break;
		if (errno != EEXIST || attempt > 100) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot create the backup "
					     "directory '%s': %s; nothing was changed",
					     bdir.buf, strerror(errno));
			goto out;
		}
	}
	/* 1. backup copies, checked against what the plan read */
	for (i = 0; i < p->nfiles; i++) {
		const struct rw_file *f = &p->files[i];

		ferry_buf_clear(&path);
		if (ferry_buf_addf(&path, "%s/%s", absdir, f->path) ||
		    ferry_buf_addf(&man, "%c %s\n", f->created ? 'C' : 'M', f->path)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto fail_backup;
		}
		if (f->created)
			continue;
		if ((rc = unchanged_since_plan(p, f, path.buf, err)))
			goto fail_backup;
		ferry_buf_clear(&sh);
		if (ferry_buf_addf(&sh, "%s/files/%s", bdir.buf, f->path)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto fail_backup;
		}
		if ((rc = copy_file(path.buf, sh.buf, err))) {
			ferry_error_prefix(err, "cannot back up '%s', nothing was changed",
					   f->path);
			goto fail_backup;
		}
	}
	ferry_buf_clear(&sh);
	ferry_buf_clear(&path);
	if (rollback_script(p, stamp, &sh) ||
	    ferry_buf_addf(&path, "%s/rollback.sh", bdir.buf)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail_backup;
	}
	if ((rc = rw_write_atomic(path.buf, sh.buf, sh.len, 0755, err)))
		goto fail_backup;
	ferry_buf_clear(&path);
	if (ferry_buf_addf(&path, "%s/manifest.txt", bdir.buf)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail_backup;
	}
	if ((rc = rw_write_atomic(path.buf, man.buf, man.len, 0644, err)))
		goto fail_backup;
	res->backup_dir = ferry_strdup(bdir.buf);
	ferry_buf_clear(&path);
	res->rollback = ferry_buf_addf(&path, "%s/rollback.sh", bdir.buf) < 0 ? NULL :
			ferry_strdup(path.buf);

	if (!res->backup_dir || !res->rollback) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail_backup;
	}

	/* 2. the new files */
	for (i = 0; i < p->nfiles; i++) {
		const struct rw_file *f = &p->files[i];

		ferry_buf_clear(&path);
		if (ferry_buf_addf(&path, "%s/%s", absdir, f->path)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (f->created && mkdirs_for(path.buf)) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot create the "
					     "directory of '%s': %s", path.buf,
					     strerror(errno));
			break;
		}
		if ((rc = rw_write_atomic(path.buf, f->new_.buf, f->new_.len,
					  f->mode ? f->mode : 0644, err)))
			break;
		written = i + 1;
	}
	if (rc) {
		if (restore(p, bdir.buf, written, &e2))
			ferry_error_prefix(err, "%s; restoring failed too (%s)",
					   "writing failed", e2.msg);
		else
			ferry_error_prefix(err, "restored the %zu file(s) written "
					   "before the failure", written);
		goto out;
	}

	/* 3. the tests */
	cmd = opts && opts->test_cmd ? opts->test_cmd : ferry_recipe_test_cmd(p->recipe);
	timeout = opts && opts->test_timeout > 0 ? opts->test_timeout :
		  p->recipe->test_timeout;
	if (!cmd[0])
		goto out;
	res->tests_run = 1;
	t0 = ferry_now();
	if ((rc = rw_run_cmd(absdir, cmd, timeout, &res->test_output,
			     &res->test_status, &res->test_timed_out, err)))
		goto out;
	res->test_seconds = ferry_now() - t0;
	res->tests_passed = tests_passed(&res->test_output);
	if (!res->test_timed_out && res->test_status == 0)
		goto out;
	if (res->test_timed_out)
		rc = ferry_error_set(err, FERRY_ETIMEOUT, "tests timed out after %.0f s "
				     "(%s)", timeout, cmd);
	else
		rc = ferry_error_set(err, FERRY_ECHILD, "tests failed with exit status "
				     "%d (%s)", res->test_status, cmd);
	if (opts && opts->keep_on_test_failure) {
		ferry_error_prefix(err, "kept the rewrite (--keep-on-test-failure); "
				   "undo it with '%s'", res->rollback);
		goto out;
	}
	if (restore(p, bdir.buf, p->nfiles, &e2)) {
		ferry_error_prefix(err, "restoring the backup failed (%s)", e2.msg);
		goto out;
	}
	res->restored = 1;
	remove_backup(p, bdir.buf);
	ferry_free(res->backup_dir);
	ferry_free(res->rollback);
	res->backup_dir = res->rollback = NULL;
	goto out;

fail_backup:
	/* nothing was written yet: drop the partial backup */
	remove_backup(p, bdir.buf);
	ferry_free(res->backup_dir);
	ferry_free(res->rollback);
	res->backup_dir = res->rollback = NULL;
out:
	free(absdir);  /* from realpath(3): libc memory */
	ferry_buf_release(&bdir);
	ferry_buf_release(&path);
	ferry_buf_release(&sh);
	ferry_buf_release(&man);
	return rc;
}

/* Delete what ferry_rewrite_apply put in a backup (manifest man). */
static void remove_backup_dir(const char *bdir, const char *man)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	const char *line, *nl;

	for (line = man; *line; line = nl ? nl + 1 : line + strlen(line)) {
		int len;

		nl = strchr(line, '\n');
		len = nl ? (int)(nl - line) : (int)strlen(line);
		if (len < 3 || line[0] != 'M')
			continue;
		if (remove_backed_up(bdir, line + 2, len - 2, &b) < 0)
			break;
	}
	remove_backup_rest(bdir, &b);
}

int ferry_rewrite_restore(const char *backup_dir, int remove,
			  struct ferry_error *err)
{
	struct ferry_buf man = FERRY_BUF_INIT, src = FERRY_BUF_INIT;
	struct ferry_buf dst = FERRY_BUF_INIT, dir = FERRY_BUF_INIT;
	struct ferry_error e2 = FERRY_ERROR_INIT;
	const char *slash, *line, *nl;
	char chunk[65536];
	ssize_t n;
	int fd = -1, rc = 0;

	slash = strrchr(backup_dir, '/');
	if (!slash || ferry_buf_add(&dir, backup_dir,
				    slash == backup_dir ? 1 : (size_t)(slash - backup_dir)) ||
	    ferry_buf_addf(&src, "%s/manifest.txt", backup_dir)) {
		rc = ferry_error_set(err, slash ? FERRY_ENOMEM : FERRY_EINVAL,
				     "cannot use '%s' as a rewrite backup: %s",
				     backup_dir, slash ? "out of memory" : "not an absolute path");
		goto out;
	}
	fd = open(src.buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = ferry_error_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EIO,
				     "cannot read '%s': %s", src.buf, strerror(errno));
		goto out;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					     src.buf, strerror(errno));
			goto out;
		}
		if (ferry_buf_add(&man, chunk, (size_t)n)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (line = man.buf; *line; line = nl ? nl + 1 : line + strlen(line)) {
		int len;

		nl = strchr(line, '\n');
		len = nl ? (int)(nl - line) : (int)strlen(line);
		if (len < 3 || (line[0] != 'M' && line[0] != 'C') || line[1] != ' ') {
			if (len && !rc)
				rc = ferry_error_set(err, FERRY_EPARSE,
						     "'%s/manifest.txt': bad line '%.*s'",
						     backup_dir, len, line);
			continue;
		}
		ferry_buf_clear(&src);
		ferry_buf_clear(&dst);
		if (ferry_buf_addf(&src, "%s/files/%.*s", backup_dir, len - 2, line + 2) ||
		    ferry_buf_addf(&dst, "%s/%.*s", dir.buf, len - 2, line + 2)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (line[0] == 'C') {
			if (unlink(dst.buf) && errno != ENOENT && !rc)
				rc = ferry_error_set(err, FERRY_EIO, "cannot remove '%s': %s",
						     dst.buf, strerror(errno));
		} else if (copy_file(src.buf, dst.buf, &e2) && !rc) {
			rc = ferry_error_set(err, e2.code, "%s; run '%s/rollback.sh'",
					     e2.msg, backup_dir);
		}
	}
	if (rc == 0 && remove)
		remove_backup_dir(backup_dir, man.buf);
out:
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&man);
	ferry_buf_release(&src);
	ferry_buf_release(&dst);
	ferry_buf_release(&dir);
	return rc;
}
