/*
 * step_rewrite.c - the `rewrite` step kind: NNNN_name.rewrite.yaml runs a
 * `ferry rewrite` recipe over the project root, through the rewrite
 * library's public API (plan, then apply with backup, atomic writes and a
 * rollback script).
 *
 * The file is either a whole recipe (the format of examples/recipes/) or a
 * short reference to one:
 *
 *   recipe: asyncio-mqtt-to-aiomqtt   # a built-in, or a path relative to
 *                                     # this file's directory
 *   test: ""                          # optional: overrides the recipe's
 *                                     # test command ("" runs none)
 *
 * Tests run only when the recipe names tests.command itself (or `test:`
 * is given): migrate never runs the rewrite module's default pytest.
 *
 * forward records where the rewrite's backup went in
 * <root>/.ferry/rewrite/<version>.backup ("backup <dir>" or "none" when
 * nothing changed), so backward in a later process restores the files
 * byte for byte from that backup, then deletes the backup.  The recipe is
 * never run in reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/rewrite.h"
#include "mig_int.h"

struct rw_src {
	ferry_recipe *recipe;
	struct ferry_buf test;  /* the test command to run, "" for none */
};

static void rw_src_release(struct rw_src *src)
{
	ferry_recipe_free(src->recipe);
	src->recipe = NULL;
	ferry_buf_release(&src->test);
}

/* Does a top-level `recipe:` key make this a reference file? */
static int is_reference(const char *text)
{
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, "recipe:", 7))
			return 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

/* Value of a `key: value` line: trimmed, unquoted, comment dropped. */
static int ref_value(const char *v, size_t n, struct ferry_buf *out)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	if (n && (*v == '"' || *v == '\'')) {
		const char *end = memchr(v + 1, *v, n - 1);

		if (!end)
			return -1;
		return ferry_buf_add(out, v + 1, (size_t)(end - v - 1)) < 0 ? -2 : 0;
	}
	{
		const char *hash = NULL;
		size_t i;

		for (i = 0; i < n; i++)
			if (v[i] == '#' && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
				hash = v + i;
				break;
			}
		if (hash)
			n = (size_t)(hash - v);
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	return ferry_buf_add(out, v, n) < 0 ? -2 : 0;
}

static int load_reference(const struct mig_step *s, const char *text,
			  struct rw_src *src, struct ferry_error *err)
{
	struct ferry_buf name = FERRY_BUF_INIT, path = FERRY_BUF_INIT;
	const char *line, *nl, *slash;
	int have_test = 0, rc = 0, lineno = 0;

	for (line = text; *line; line = nl ? nl + 1 : line + strlen(line)) {
		size_t len;
		struct ferry_buf *dst;
		const char *colon;

		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		lineno++;
		if (!len || line[0] == '#' || strspn(line, " \t\r") >= len)
			continue;
		colon = memchr(line, ':', len);
		if (colon && colon - line == 6 && !strncmp(line, "recipe", 6)) {
			dst = &name;
		} else if (colon && colon - line == 4 && !strncmp(line, "test", 4)) {
			dst = &src->test;
			have_test = 1;
		} else {
			rc = ferry_error_set(err, FERRY_EPARSE,
				"'%s':%d: expected 'recipe: NAME' or 'test: COMMAND'; a file with a top-level 'recipe:' key only names a recipe",
				s->path, lineno);
			goto out;
		}
		ferry_buf_clear(dst);
		if ((rc = ref_value(colon + 1, len - (size_t)(colon + 1 - line), dst)) < 0) {
			rc = rc == -1 ? ferry_error_set(err, FERRY_EPARSE,
						"'%s':%d: unterminated quote", s->path, lineno) :
					ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!name.len) {
		rc = ferry_error_set(err, FERRY_EPARSE, "'%s': 'recipe:' names no recipe",
				     s->path);
		goto out;
	}
	if (strchr(name.buf, '/') || strstr(name.buf, ".yaml") || strstr(name.buf, ".yml")) {
		slash = strrchr(s->path, '/');
		if (name.buf[0] == '/' || !slash)
			rc = ferry_buf_addstr(&path, name.buf);
		else
			rc = ferry_buf_addf(&path, "%.*s/%s", (int)(slash - s->path),
					    s->path, name.buf);
		if (rc < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		rc = ferry_recipe_load_file(path.buf, &src->recipe, err);
	} else {
		const char *builtin = ferry_recipe_builtin_text(name.buf);

		if (!builtin) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND,
				"'%s': no built-in recipe '%s'; see 'ferry rewrite --list' or give a path to a recipe file",
				s->path, name.buf);
			goto out;
		}
		rc = ferry_recipe_parse(builtin, strlen(builtin), name.buf,
					&src->recipe, err);
	}
	if (rc < 0) {
		ferry_error_prefix(err, "in '%s'", s->path);
		goto out;
	}
	if (!have_test && ferry_recipe_test_cmd_given(src->recipe) &&
	    ferry_buf_addstr(&src->test, ferry_recipe_test_cmd(src->recipe)) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_buf_release(&name);
	ferry_buf_release(&path);
	return rc;
}

/* Read the step file and its recipe; *text gets the normalized file. */
static int rw_open(const struct mig_step *s, struct rw_src *src,
		   struct ferry_buf *text, struct ferry_error *err)
{
	struct ferry_buf raw = FERRY_BUF_INIT;
	int rc;

	if ((rc = mig_read_file(s->path, &raw, err)) < 0)
		goto out;
	if ((rc = mig_normalize(raw.buf, raw.len, text)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (is_reference(text->buf)) {
		rc = load_reference(s, text->buf, src, err);
	} else {
		rc = ferry_recipe_parse(text->buf, text->len, s->path,
					&src->recipe, err);
		if (rc == 0 && ferry_recipe_test_cmd_given(src->recipe) &&
		    ferry_buf_addstr(&src->test, ferry_recipe_test_cmd(src->recipe)) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
out:
	if (rc < 0)
		rw_src_release(src);
	ferry_buf_release(&raw);
	return rc;
}

static int rewrite_load(struct ferry_migrator *m, struct mig_step *s,
			struct ferry_error *err)
{
	struct rw_src src = { NULL, FERRY_BUF_INIT };
	struct ferry_buf text = FERRY_BUF_INIT;
	int rc;

	(void)m;
	if ((rc = rw_open(s, &src, &text, err)) == 0)
		ferry_hash128_hex(text.buf, text.len, s->checksum);
	rw_src_release(&src);
	ferry_buf_release(&text);
	return rc;
}

/* <root>/.ferry/rewrite/<version, '/' -> '__'>.backup */
static int state_path(const struct ferry_migrator *m, const struct mig_step *s,
		      struct ferry_buf *out)
{
	const char *v;

	if (ferry_buf_addf(out, "%s/.ferry/rewrite/", m->root) < 0)
		return FERRY_ENOMEM;
	for (v = s->version; *v; v++)
		if ((*v == '/' ? ferry_buf_addstr(out, "__") : ferry_buf_addch(out, *v)) < 0)
			return FERRY_ENOMEM;
	return ferry_buf_addstr(out, ".backup") < 0 ? FERRY_ENOMEM : 0;
}

static int state_write(const struct ferry_migrator *m, const struct mig_step *s,
		       const char *backup_dir, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT, tmp = FERRY_BUF_INIT;
	struct ferry_buf body = FERRY_BUF_INIT;
	int fd = -1, rc = 0;

	if (state_path(m, s, &path) < 0 || ferry_buf_addf(&tmp, "%s.tmp", path.buf) < 0 ||
	    (backup_dir ? ferry_buf_addf(&body, "backup %s\n", backup_dir) :
			  ferry_buf_addstr(&body, "none\n")) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	{
		struct ferry_buf d = FERRY_BUF_INIT;

		if (ferry_buf_addf(&d, "%s/.ferry", m->root) == 0) {
			mkdir(d.buf, 0777);
			if (ferry_buf_addstr(&d, "/rewrite") == 0)
				mkdir(d.buf, 0777);
		}
		ferry_buf_release(&d);
	}
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, body.buf, body.len) != (ssize_t)body.len ||
	    fsync(fd) < 0 || close(fd) < 0 || (fd = -1, rename(tmp.buf, path.buf) < 0)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s",
				     path.buf, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		unlink(tmp.buf);
		goto out;
	}
out:
	ferry_buf_release(&path);
	ferry_buf_release(&tmp);
	ferry_buf_release(&body);
	return rc;
}

/*
 * Read the state: *backup gets the directory ("" when forward changed
 * nothing).  FERRY_ENOTFOUND when forward left no record.
 */
static int state_read(const struct ferry_migrator *m, const struct mig_step *s,
		      struct ferry_buf *path, struct ferry_buf *backup)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc;

	if (state_path(m, s, path) < 0)
		return FERRY_ENOMEM;
	if ((rc = mig_read_file(path->buf, &b, NULL)) < 0) {
		rc = access(path->buf, F_OK) < 0 ? FERRY_ENOTFOUND : FERRY_EIO;
		goto out;
	}
	ferry_buf_rtrim(&b);
	if (!strncmp(b.buf, "backup ", 7) && b.len > 7)
		rc = ferry_buf_addstr(backup, b.buf + 7) < 0 ? FERRY_ENOMEM : 0;
	else if (strcmp(b.buf, "none"))
		rc = FERRY_EPARSE;
out:
	ferry_buf_release(&b);
	return rc;
}

static int rewrite_forward(struct ferry_migrator *m, struct mig_step *s,
			   struct ferry_buf *output, struct ferry_error *err)
{
	struct rw_src src = { NULL, FERRY_BUF_INIT };
	struct ferry_buf text = FERRY_BUF_INIT;
	struct ferry_rewrite_result res = FERRY_REWRITE_RESULT_INIT;
	struct ferry_rewrite_opts opts;
	struct ferry_error e2 = FERRY_ERROR_INIT;
	ferry_rewrite_plan *plan = NULL;
	size_t i, n;
	int rc, e = 0;

	if ((rc = rw_open(s, &src, &text, err)) < 0)
		goto record;

	if ((rc = ferry_rewrite_plan_dir(src.recipe, m->root, &plan, err)) < 0) {
		ferry_error_prefix(err, "'%s' forward failed", s->label);
		goto record;
	}
	n = ferry_rewrite_plan_nfiles(plan);
	e |= ferry_buf_addstr(output, ferry_rewrite_plan_warnings(plan));
	if (*ferry_rewrite_plan_partial(plan)) {
		/* a half migration is no migration: write nothing */
		const char *left = ferry_rewrite_plan_partial(plan);

		e |= ferry_buf_addstr(output, left);
		rc = ferry_error_set(err, FERRY_EABORT, "'%s' forward failed: a "
				     "declaration of the old package would be left "
				     "(%.*s); nothing was written", s->label,
				     (int)strcspn(left, "\n"), left);
		goto record;
	}
	if (!n) {
		e |= ferry_buf_addf(output, "recipe '%s': nothing to change (%s)\n",
				    ferry_recipe_name(src.recipe),
				    ferry_rewrite_plan_state(plan) == FERRY_RW_MIGRATED ?
				    "already migrated" : "not used here");
		if (e < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto record;
	}
	for (i = 0; i < n; i++)
		e |= ferry_buf_addf(output, "%s: %s\n", ferry_rewrite_plan_file(plan, i),
				    ferry_rewrite_plan_file_notes(plan, i));
	if (e < 0) {  /* nothing changed yet: fail before touching a file */
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto record;
	}
	memset(&opts, 0, sizeof(opts));
	opts.test_cmd = src.test.buf;
	rc = ferry_rewrite_apply(plan, &opts, &res, err);
	if (res.test_output.len &&
	    ferry_buf_add(output, res.test_output.buf, res.test_output.len) < 0) {
		/* the files are rewritten: no reason to fail the step; output
		 * shows only after a failure, and the runner says it was lost */
	}
	if (rc < 0)
		ferry_error_prefix(err, "'%s' forward failed%s", s->label,
				   res.restored ? " (files restored)" : "");
record:
	/* a record even after a failure: backward must know what to undo */
	if (rc != FERRY_ENOMEM &&
	    state_write(m, s, res.backup_dir, rc < 0 ? &e2 : err) < 0 && rc == 0) {
		/* without the record `down` could not undo it: undo it now */
		rc = err->code;
		if (res.backup_dir && ferry_rewrite_restore(res.backup_dir, 1, &e2) < 0)
			ferry_error_prefix(err, "restoring '%s' failed too (%s)",
					   res.backup_dir, e2.msg);
	}
	ferry_rewrite_plan_free(plan);
	rw_src_release(&src);
	ferry_buf_release(&text);
	ferry_rewrite_result_release(&res);
	return rc;
}

static int rewrite_backward(struct ferry_migrator *m, struct mig_step *s,
			    struct ferry_buf *output, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT, backup = FERRY_BUF_INIT;
	int rc = state_read(m, s, &path, &backup);

	if (rc == FERRY_ENOTFOUND) {
		rc = ferry_error_set(err, rc,
			"'%s' backward: no record of the rewrite's backup ('%s' is missing); restore the files with rollback.sh of the newest '%s/.ferry-backup-*' directory, then run 'ferry migrate repair'",
			s->label, path.buf, m->root);
		goto out;
	}
	if (rc < 0) {
		rc = ferry_error_set(err, rc, "'%s' backward: cannot read '%s': %s; look for the backup in '%s/.ferry-backup-*'",
				     s->label, path.buf, ferry_strerror(rc), m->root);
		goto out;
	}
	if (backup.len) {
		if ((rc = ferry_rewrite_restore(backup.buf, 1, err)) < 0) {
			ferry_error_prefix(err, "'%s' backward failed", s->label);
			goto out;
		}
		if (ferry_buf_addf(output, "restored the files from '%s'\n", backup.buf) < 0) {
			/* the files are restored: no reason to fail; output shows
			 * only after a failure, and the runner says it was lost */
		}

	}
	if (unlink(path.buf) < 0 && errno != ENOENT)
		rc = ferry_error_set(err, FERRY_EIO, "cannot remove '%s': %s",
				     path.buf, strerror(errno));
out:
	ferry_buf_release(&path);
	ferry_buf_release(&backup);
	return rc;
}

static int rewrite_run(struct ferry_migrator *m, struct mig_step *s, int forward,
		       struct ferry_buf *output, struct ferry_error *err)
{
	return forward ? rewrite_forward(m, s, output, err) :
			 rewrite_backward(m, s, output, err);
}

/* plan / --dry-run: the rewrite's own dry run, as a unified diff. */
static int rewrite_describe(struct ferry_migrator *m, const struct mig_step *s,
			    int forward, struct ferry_buf *out)
{
	struct rw_src src = { NULL, FERRY_BUF_INIT };
	struct ferry_buf text = FERRY_BUF_INIT, path = FERRY_BUF_INIT;
	struct ferry_buf backup = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_rewrite_plan *plan = NULL;
	int rc = 0;

	if (!forward) {
		rc = state_read(m, s, &path, &backup);
		if (rc == 0 && backup.len)
			rc = ferry_buf_addf(out, "restore the files from '%s'\n", backup.buf);
		else if (rc == 0)
			rc = ferry_buf_addstr(out, "nothing to restore: the rewrite changed no file\n");
		else
			rc = ferry_buf_addf(out, "restore the files from the backup recorded in '%s'\n",
					    path.buf);
		goto out;
	}
	if (rw_open(s, &src, &text, &err) < 0 ||
	    ferry_rewrite_plan_dir(src.recipe, m->root, &plan, &err) < 0) {
		rc = ferry_buf_addf(out, "error: %s\n", err.msg);
		goto out;
	}
	if ((rc = ferry_buf_addf(out, "rewrite %s with recipe '%s'%s%s%s\n", m->root,
				 ferry_recipe_name(src.recipe),
				 src.test.len ? ", then test: " : "",
				 src.test.buf, ferry_rewrite_plan_nfiles(plan) ? "" :
				 ferry_rewrite_plan_state(plan) == FERRY_RW_MIGRATED ?
				 " (already migrated: nothing to change)" :
				 " (not used here: nothing to change)")) < 0 ||
	    (rc = ferry_buf_addstr(out, ferry_rewrite_plan_warnings(plan))) < 0)
		goto out;
	rc = ferry_rewrite_plan_diff(plan, out);
out:
	ferry_rewrite_plan_free(plan);
	rw_src_release(&src);
	ferry_buf_release(&text);
	ferry_buf_release(&path);
	ferry_buf_release(&backup);
	return rc;
}

static int rw_never(const struct mig_step *s)
{
	(void)s;
	return 0;
}

static int rw_always(const struct mig_step *s)
{
	(void)s;
	return 1;
}

const struct mig_step_ops mig_rewrite_ops = {
	.name = "rewrite",
	.supported = 1,
	.load = rewrite_load,
	.transactional = rw_never,
	.has_down = rw_always,
	.run = rewrite_run,
	.describe = rewrite_describe,
};
