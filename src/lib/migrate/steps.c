/*
 * steps.c - what each kind of migration step does, as one ops table per
 * kind (sql, exec, python, rewrite), the way git's ref backends are
 * tables.  The runner never looks at a step's kind; a new kind is one
 * more table (rewrite recipes live in step_rewrite.c).
 *
 * Child processes (exec and Python steps, --test-cmd, --restart-cmd) get
 * their stdout and stderr collected into one buffer the runner shows on
 * failure, and Python steps report their result as JSON on fd 3 so a
 * migration that prints to stdout cannot confuse it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "mig_int.h"

#define CHILD_OUTPUT_MAX (1024 * 1024)

/* The Python side: import the migration file, call one function, report. */
static const char python_shim[] =
	"import importlib.util, json, os, sys, traceback\n"
	"from pathlib import Path\n"
	"\n"
	"def _jsonable(v):\n"
	"    try:\n"
	"        json.dumps(v)\n"
	"        return v\n"
	"    except Exception:\n"
	"        return str(v)\n"
	"\n"
	"def main():\n"
	"    action, path, root = sys.argv[1], sys.argv[2], sys.argv[3]\n"
	"    out = os.fdopen(3, 'w')\n"
	"    res = {'ok': False}\n"
	"    try:\n"
	"        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))\n"
	"        spec = importlib.util.spec_from_file_location('ferry_migration_step', path)\n"
	"        mod = importlib.util.module_from_spec(spec)\n"
	"        spec.loader.exec_module(mod)\n"
	"        info = getattr(mod, 'MIGRATION_INFO', None)\n"
	"        if isinstance(info, dict):\n"
	"            res['info'] = {str(k): _jsonable(v) for k, v in info.items()}\n"
	"        if action == 'info':\n"
	"            res['ok'] = True\n"
	"        else:\n"
	"            name = 'migrate_forward' if action == 'forward' else 'migrate_backward'\n"
	"            fn = getattr(mod, name, None)\n"
	"            if fn is None:\n"
	"                res['error'] = name + ' is not defined'\n"
	"            else:\n"
	"                r = fn(Path(root))\n"
	"                res['ok'] = r is not False\n"
	"                if r is False:\n"
	"                    res['error'] = name + ' returned False'\n"
	"    except BaseException as e:\n"
	"        traceback.print_exc()\n"
	"        res['error'] = '%s: %s' % (type(e).__name__, e)\n"
	"    out.write(json.dumps(res))\n"
	"    out.flush()\n"
	"    sys.exit(0 if res['ok'] else 1)\n"
	"\n"
	"main()\n";

static void drain(int *fd, struct ferry_buf *b)
{
	char chunk[4096];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n > 0) {
		if (b && b->len + (size_t)n <= CHILD_OUTPUT_MAX &&
		    ferry_buf_add(b, chunk, (size_t)n) < 0) {
			/* b stays sticky: the runner says the output was lost */
		}
		return;


	}
	if (n < 0 && errno == EINTR)
		return;
	close(*fd);
	*fd = -1;
}

int mig_run_child(struct ferry_migrator *m, char *const argv[],
		  struct ferry_buf *output, struct ferry_buf *result,
		  struct ferry_error *err)
{
	return mig_run_child_env(m, argv, NULL, output, result, err);
}

int mig_run_child_env(struct ferry_migrator *m, char *const argv[],
		      const char *const env[], struct ferry_buf *output,
		      struct ferry_buf *result, struct ferry_error *err)
{
	int outp[2] = { -1, -1 }, resp[2] = { -1, -1 }, status = 0, rc = 0;
	pid_t pid;

	if (pipe2(outp, O_CLOEXEC) < 0 || (result && pipe2(resp, O_CLOEXEC) < 0)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create a pipe: %s",
				     strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = ferry_error_set(err, FERRY_ECHILD, "cannot start '%s': %s",
				     argv[0], strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(outp[1], 1);
		dup2(outp[1], 2);
		if (result)
			dup2(resp[1], 3);
		if (m->db)
			setenv("DATABASE_URL", m->db->url, 1);
		setenv("FERRY_PROJECT_ROOT", m->root, 1);
		setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
		for (; env && env[0]; env += 2)
			setenv(env[0], env[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(outp[1]);
	outp[1] = -1;
	if (result) {
		close(resp[1]);
		resp[1] = -1;
	}
	while (outp[0] >= 0 || resp[0] >= 0) {
		struct pollfd pf[2];
		int n = 0, io = -1, ir = -1;

		if (outp[0] >= 0) {
			pf[n].fd = outp[0];
			pf[n].events = POLLIN;
			io = n++;
		}
		if (resp[0] >= 0) {
			pf[n].fd = resp[0];
			pf[n].events = POLLIN;
			ir = n++;
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (io >= 0 && pf[io].revents)
			drain(&outp[0], output);
		if (ir >= 0 && pf[ir].revents)
			drain(&resp[0], result);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (WIFEXITED(status))
		rc = ferry_error_set(err, FERRY_ECHILD, "'%s' exited with status %d",
				     argv[0], WEXITSTATUS(status));
	else
		rc = ferry_error_set(err, FERRY_ECHILD, "'%s' was killed by signal %d",
				     argv[0], WTERMSIG(status));
out:
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (resp[0] >= 0)
		close(resp[0]);
	if (resp[1] >= 0)
		close(resp[1]);
	return rc;
}

int mig_shell(struct ferry_migrator *m, const char *cmd, const char *arg,
	      struct ferry_buf *output, struct ferry_error *err)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, "sh", (char *)arg, NULL };
	struct ferry_error cerr = FERRY_ERROR_INIT;
	int rc = mig_run_child(m, argv, output, NULL, &cerr);

	if (rc < 0)
		ferry_error_set(err, rc, "command '%s' failed: %s", cmd,
				strchr(cerr.msg, ' ') ? strchr(cerr.msg, ' ') + 1 : cerr.msg);
	return rc;
}

/* ---- sql ---------------------------------------------------------------- */

static int load_sql_file(const char *path, char **up, char **down, int *no_tx,
			 struct ferry_error *err)
{
	struct ferry_buf raw = FERRY_BUF_INIT, norm = FERRY_BUF_INIT;
	int rc;

	if ((rc = mig_read_file(path, &raw, err)) < 0)
		goto out;
	if ((rc = mig_normalize(raw.buf, raw.len, &norm)) < 0) {
		ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = mig_split_sections(norm.buf, up, down, no_tx, err)) < 0)
		ferry_error_prefix(err, "in '%s'", path);
out:
	ferry_buf_release(&raw);
	ferry_buf_release(&norm);
	return rc;
}

static int sql_load(struct ferry_migrator *m, struct mig_step *s,
		    struct ferry_error *err)
{
	struct ferry_buf all = FERRY_BUF_INIT;
	int ntx = 0, rc;

	if ((rc = load_sql_file(s->path, &s->up_sql, &s->down_sql, &s->no_tx,
				err)) < 0)
		return rc;
	if (s->down_path) {
		char *dd = NULL;

		ferry_free(s->down_sql);
		s->down_sql = NULL;
		if ((rc = load_sql_file(s->down_path, &s->down_sql, &dd, &ntx,
					err)) < 0)
			return rc;
		ferry_free(dd);
		s->no_tx |= ntx;
	}
	/* the checksum covers both directions: a changed down file is drift too */
	if (ferry_buf_addstr(&all, s->up_sql) < 0 ||
	    ferry_buf_add(&all, "\0down\0", 6) < 0 ||
	    ferry_buf_addstr(&all, s->down_sql ? s->down_sql : "") < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		ferry_hash128_hex(all.buf, all.len, s->checksum);
	ferry_buf_release(&all);
	return rc;
}

static int sql_transactional(const struct mig_step *s)
{
	return !s->no_tx;
}

static int sql_has_down(const struct mig_step *s)
{
	return s->down_sql != NULL;
}

static int sql_run(struct ferry_migrator *m, struct mig_step *s, int forward,
		   struct ferry_buf *output, struct ferry_error *err)
{
	const char *sql = forward ? s->up_sql : s->down_sql;

	if (!m->db)
		return ferry_error_set(err, FERRY_EUSAGE,
			"'%s' is a SQL step but no database was given; pass --db URL or set DATABASE_URL",
			s->label);
	if (!sql)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"'%s' has no down migration; revert it by hand, then run 'ferry migrate repair'",
			s->label);
	return s->no_tx ? mig_db_exec_each(m->db, sql, &m->partial, err) :
			  mig_db_exec(m->db, sql, err);
}

static int sql_describe(struct ferry_migrator *m, const struct mig_step *s,
			int forward, struct ferry_buf *out)
{
	const char *sql = forward ? s->up_sql : s->down_sql;
	struct ferry_buf t = FERRY_BUF_INIT;
	int rc;

	if (!sql)
		return ferry_buf_addstr(out, "-- no down migration: cannot be reverted\n");
	if ((rc = ferry_buf_addstr(&t, sql)) < 0)
		return rc;
	ferry_buf_rtrim(&t);
	while (t.len && (t.buf[0] == '\n'))
		memmove(t.buf, t.buf + 1, t.len--);
	rc = ferry_buf_addf(out, "%s\n", t.buf);
	ferry_buf_release(&t);
	return rc;
}

/* ---- exec and python: files with code ------------------------------------ */

static int file_load(struct ferry_migrator *m, struct mig_step *s,
		     struct ferry_error *err)
{
	struct ferry_buf raw = FERRY_BUF_INIT, norm = FERRY_BUF_INIT;
	int rc;

	if ((rc = mig_read_file(s->path, &raw, err)) == 0) {
		if (mig_normalize(raw.buf, raw.len, &norm) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			ferry_hash128_hex(norm.buf, norm.len, s->checksum);
	}
	ferry_buf_release(&raw);
	ferry_buf_release(&norm);
	return rc;
}

static int never(const struct mig_step *s)
{
	return 0;
}

static int always(const struct mig_step *s)
{
	return 1;
}

static int exec_run(struct ferry_migrator *m, struct mig_step *s, int forward,
		    struct ferry_buf *output, struct ferry_error *err)
{
	char *abs = realpath(s->path, NULL);
	char *argv[] = { abs ? abs : s->path, forward ? "forward" : "backward",
			 m->root, NULL };
	struct ferry_error cerr = FERRY_ERROR_INIT;
	int rc = mig_run_child(m, argv, output, NULL, &cerr);

	if (rc < 0)
		ferry_error_set(err, rc, "'%s %s' failed: %s", s->label, argv[1],
				strchr(cerr.msg, ' ') ? strchr(cerr.msg, ' ') + 1 : cerr.msg);
	free(abs);
	return rc;
}

static int exec_describe(struct ferry_migrator *m, const struct mig_step *s,
			 int forward, struct ferry_buf *out)
{
	return ferry_buf_addf(out, "run: %s %s %s\n", s->path,
			      forward ? "forward" : "backward", m->root);
}

static int shim_file(struct ferry_migrator *m, struct ferry_error *err)
{
	const char *tmp = getenv("TMPDIR");
	struct ferry_buf p = FERRY_BUF_INIT;
	size_t len = sizeof(python_shim) - 1;
	int fd, rc = 0;

	if (m->shim_path)
		return 0;
	if (ferry_buf_addf(&p, "%s/ferry-shim-XXXXXX.py", tmp && *tmp ? tmp : "/tmp") < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	fd = mkstemps(p.buf, 3);
	if (fd < 0 || write(fd, python_shim, len) != (ssize_t)len) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the Python shim '%s': %s",
				     p.buf, strerror(errno));
		if (fd >= 0)
			unlink(p.buf);
	} else {
		m->shim_path = ferry_buf_detach(&p, NULL);
	}
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&p);
	return rc;
}

/* Run the shim; *res gets the parsed JSON result (caller decrefs). */
static int python_call(struct ferry_migrator *m, struct mig_step *s,
		       const char *action, struct ferry_buf *output,
		       json_t **res, struct ferry_error *err)
{
	struct ferry_buf result = FERRY_BUF_INIT;
	struct ferry_error cerr = FERRY_ERROR_INIT;
	char *abs = NULL;
	json_t *j = NULL;
	int rc;

	if ((rc = shim_file(m, err)) < 0)
		return rc;
	abs = realpath(s->path, NULL);
	{
		char *argv[] = { m->python, m->shim_path, (char *)action,
				 abs ? abs : s->path, m->root, NULL };

		rc = mig_run_child(m, argv, output, &result, &cerr);
	}
	/* a result cut by out of memory is no result */
	j = result.len && !ferry_buf_error(&result) ? json_loads(result.buf, 0, NULL) : NULL;
	if (j && !json_is_true(json_object_get(j, "ok"))) {
		const char *e = json_string_value(json_object_get(j, "error"));

		rc = ferry_error_set(err, FERRY_ECHILD, "'%s' %s failed: %s",
				     s->label, action, e ? e : "unknown error");
	} else if (!j) {
		rc = ferry_error_set(err, FERRY_ECHILD,
			"'%s' %s failed: %s gave no result (%s); check that '%s' runs",
			s->label, action, m->python,
			ferry_buf_error(&result) ? "out of memory" : rc < 0 ? cerr.msg : "no output",

			m->python);
	}
	free(abs);
	ferry_buf_release(&result);
	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	*res = j;
	return 0;
}

static int python_info(struct ferry_migrator *m, struct mig_step *s,
		       struct ferry_error *err)
{
	struct ferry_buf output = FERRY_BUF_INIT;
	json_t *res = NULL, *info, *v;
	int rc;

	if ((rc = python_call(m, s, "info", &output, &res, err)) < 0) {
		if (output.len)
			ferry_error_prefix(err, "%s\n", output.buf);
		goto out;
	}
	info = json_object_get(res, "info");
	if (!json_is_object(info))
		goto out;
	if ((v = json_object_get(info, "description")) && json_is_string(v))
		s->description = ferry_strdup(json_string_value(v));
	s->backup_required = json_is_true(json_object_get(info, "backup_required"));
	v = json_object_get(info, "breaking_changes");
	s->breaking = json_is_true(v) || (json_is_array(v) && json_array_size(v)) ||
		      (json_is_string(v) && *json_string_value(v));
	v = json_object_get(info, "estimated_duration_seconds");
	s->est_seconds = json_is_number(v) ? json_number_value(v) : 0;
	v = json_object_get(info, "requires_restart");
	if (json_is_true(v))
		s->restart = json_pack("[s]", "all");
	else if (json_is_string(v) && *json_string_value(v))
		s->restart = json_pack("[s]", json_string_value(v));
	else if (json_is_array(v) && json_array_size(v))
		s->restart = json_incref(v);
out:
	json_decref(res);
	ferry_buf_release(&output);
	return rc;
}

static int python_run(struct ferry_migrator *m, struct mig_step *s, int forward,
		      struct ferry_buf *output, struct ferry_error *err)
{
	json_t *res = NULL;
	int rc = python_call(m, s, forward ? "forward" : "backward", output,
			     &res, err);

	json_decref(res);
	return rc;
}

static int python_describe(struct ferry_migrator *m, const struct mig_step *s,
			   int forward, struct ferry_buf *out)
{
	return ferry_buf_addf(out, "%s: %s(Path('%s')) from %s\n", m->python,
			      forward ? "migrate_forward" : "migrate_backward",
			      m->root, s->path);
}

static const struct mig_step_ops sql_ops = {
	.name = "sql",
	.supported = 1,
	.load = sql_load,
	.transactional = sql_transactional,
	.has_down = sql_has_down,
	.run = sql_run,
	.describe = sql_describe,
};

static const struct mig_step_ops exec_ops = {
	.name = "exec",
	.supported = 1,
	.load = file_load,
	.transactional = never,
	.has_down = always,
	.run = exec_run,
	.describe = exec_describe,
};

static const struct mig_step_ops python_ops = {
	.name = "python",
	.supported = 1,
	.load = file_load,
	.info = python_info,
	.transactional = never,
	.has_down = always,
	.run = python_run,
	.describe = python_describe,
};

const struct mig_step_ops *const mig_ops[MIG_NKINDS] = {
	[MIG_SQL] = &sql_ops,
	[MIG_EXEC] = &exec_ops,
	[MIG_PYTHON] = &python_ops,
	[MIG_REWRITE] = &mig_rewrite_ops,
};

int mig_step_info(struct ferry_migrator *m, struct mig_step *s,
		  struct ferry_error *err)
{
	int rc = 0;

	if (s->info_loaded)
		return 0;
	if (mig_ops[s->kind]->info)
		rc = mig_ops[s->kind]->info(m, s, err);
	if (rc == 0)
		s->info_loaded = 1;
	return rc;
}
