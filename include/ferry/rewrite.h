/*
 * rewrite.h - recipe-driven dependency and import migrations across
 * Python service trees (`ferry rewrite`).
 *
 * Pipeline: a recipe (YAML) says which requirement lines to replace or
 * add, which Python modules to rename and which API uses to warn about.
 * ferry_rewrite_plan_dir() reads one service directory and computes the
 * new content of every file the recipe touches, without writing anything.
 * ferry_rewrite_apply() then backs the touched files up, writes them
 * atomically, writes a rollback script, runs the test command and
 * restores the backup when the tests fail.
 *
 * Ownership: every handle (ferry_recipe, ferry_rewrite_plan) is owned by
 * the caller that created it and freed with its _free function.  Strings
 * returned by accessors belong to the handle and die with it.  A plan
 * keeps a pointer to its recipe: free the plan before the recipe.  Text
 * produced into a struct ferry_buf is appended; the caller owns the buffer.
 */
#ifndef FERRY_REWRITE_H
#define FERRY_REWRITE_H

#include <stddef.h>

#include "ferry/buf.h"
#include "ferry/error.h"

typedef struct ferry_recipe ferry_recipe;
typedef struct ferry_rewrite_plan ferry_rewrite_plan;

/* ---- recipes ---------------------------------------------------------- */

/* Parse a recipe from YAML text; origin names it in error messages. */
int ferry_recipe_parse(const char *text, size_t len, const char *origin,
		       ferry_recipe **out, struct ferry_error *err);
/* Parse a recipe file. */
int ferry_recipe_load_file(const char *path, ferry_recipe **out,
			   struct ferry_error *err);
/*
 * Resolve --recipe: an existing file path is loaded, otherwise a built-in
 * recipe of that name (FERRY_ENOTFOUND when neither exists).
 */
int ferry_recipe_load(const char *name_or_path, ferry_recipe **out,
		      struct ferry_error *err);
void ferry_recipe_free(ferry_recipe *r);

const char *ferry_recipe_name(const ferry_recipe *r);
/* Default test command of the recipe ("" when none). */
const char *ferry_recipe_test_cmd(const ferry_recipe *r);
/* 1 when the recipe names its test command itself (tests.command). */
int ferry_recipe_test_cmd_given(const ferry_recipe *r);

/* YAML text of a built-in recipe, or NULL; names lists them (NULL-ended). */
const char *ferry_recipe_builtin_text(const char *name);
const char *const *ferry_recipe_builtin_names(void);

/* ---- building blocks (public so they can be tested and reused) --------- */

/* pip's name normalization (PEP 503): lower-case, runs of -_. -> "-". */
int ferry_pip_normalize(const char *name, size_t n, struct ferry_buf *out);

/* Kinds of requirement files. */
enum ferry_req_kind {
	FERRY_REQ_TXT = 0,   /* requirements*.txt, constraints*.txt */
	FERRY_REQ_PYPROJECT, /* pyproject.toml: PEP 621, Poetry, PDM, Hatch */
	FERRY_REQ_PIPFILE,   /* Pipfile [packages], [dev-packages] */
	FERRY_REQ_SETUP_CFG, /* setup.cfg install_requires, extras_require */
	FERRY_REQ_SETUP_PY,  /* literal lists of setup.py */
	FERRY_REQ_MANIFEST,  /* Home Assistant manifest.json "requirements" */
	FERRY_REQ_DOCKERFILE /* `pip install` lines of Dockerfiles */
};

/*
 * The declaration format of a path relative to a service directory by
 * its name (pyproject.toml, Pipfile, setup.cfg, setup.py,
 * custom_components/<x>/manifest.json, Dockerfile, *.Dockerfile,
 * Dockerfile.*, Containerfile), FERRY_REQ_TXT for requirements*.txt and
 * constraints*.txt, -1 for anything else.
 */
int ferry_rewrite_req_kind(const char *path);

/*
 * Rewrite one requirements file (text of len bytes) with the recipe's
 * requirement rules into out.  notes receives one line per change
 * ("asyncio-mqtt -> aiomqtt==2.4.0") and one per warning prefixed with
 * "warning: <line>: "; either may be NULL.  *changed is set to 1 when out
 * differs from the input.  A declaration of a replaced package the
 * format's reader cannot rewrite safely (a computed list in setup.py, a
 * git dependency in Poetry) is a "partial: <line>: " note and leaves the
 * whole file unchanged; a hash pin to regenerate is a "lock: <command>"
 * note.  Input that is not the format (invalid TOML or JSON, an unknown
 * Pipfile section) is FERRY_EPARSE with "line N: ..." and writes nothing.
 */
int ferry_rewrite_requirements(const ferry_recipe *r, int kind,
			       const char *text, size_t len,
			       struct ferry_buf *out, struct ferry_buf *notes,
			       int *changed, struct ferry_error *err);

/*
 * Rewrite one Python source with the recipe's module renames: only NAME
 * tokens in import statements and attribute chains, never inside strings,
 * comments or longer identifiers.  notes as above, warnings carry the
 * line number.  The text must be valid UTF-8 (FERRY_EPARSE otherwise).
 */
int ferry_rewrite_python(const ferry_recipe *r, const char *text, size_t len,
			 struct ferry_buf *out, struct ferry_buf *notes,
			 int *changed, struct ferry_error *err);

/*
 * Unified diff of a -> b with `context` lines of context, in the format of
 * `diff -u` (with "\ No newline at end of file" markers), headed by
 * "--- label_a" / "+++ label_b".  Appends nothing when a equals b.
 */
int ferry_diff_unified(const char *label_a, const char *a, size_t alen,
		       const char *label_b, const char *b, size_t blen,
		       int context, struct ferry_buf *out);

/* ---- planning and applying --------------------------------------------- */

enum ferry_rewrite_state {
	FERRY_RW_CHANGES = 0,     /* files would change */
	FERRY_RW_MIGRATED,        /* already migrated: nothing to do */
	FERRY_RW_UNUSED           /* the recipe's packages are not used here */
};

/*
 * Check that dir looks like a service (the recipe's `service` section),
 * read every file the recipe scans and compute the rewrite.  Nothing is
 * written.  Unreadable, binary or non-UTF-8 files that mention a renamed
 * module fail the whole plan (FERRY_EIO / FERRY_EPARSE), naming the file.
 */
int ferry_rewrite_plan_dir(const ferry_recipe *r, const char *dir,
			   ferry_rewrite_plan **out, struct ferry_error *err);
void ferry_rewrite_plan_free(ferry_rewrite_plan *p);

int ferry_rewrite_plan_state(const ferry_rewrite_plan *p);
const char *ferry_rewrite_plan_dir_path(const ferry_rewrite_plan *p);

/* Changed files, in scan order. */
size_t ferry_rewrite_plan_nfiles(const ferry_rewrite_plan *p);
/* Path relative to the service directory. */
const char *ferry_rewrite_plan_file(const ferry_rewrite_plan *p, size_t i);
/* Change notes of file i, one per line ("asyncio-mqtt -> aiomqtt==2.4.0"). */
const char *ferry_rewrite_plan_file_notes(const ferry_rewrite_plan *p,
					  size_t i);

/* Warnings over all scanned files, one per line: "path:line: message". */
const char *ferry_rewrite_plan_warnings(const ferry_rewrite_plan *p);

/*
 * Declarations of a replaced package the rewrite leaves behind, one per
 * line: "path:line: message".  Empty when the migration is complete.
 */
const char *ferry_rewrite_plan_partial(const ferry_rewrite_plan *p);
/*
 * Lock files (poetry.lock, Pipfile.lock, pdm.lock, uv.lock) and hashed
 * requirement files that pin a replaced package, one per line:
 * "path\tcommand that regenerates it".
 */
const char *ferry_rewrite_plan_locks(const ferry_rewrite_plan *p);

/* Unified diff of every changed file, labelled "<dir>/<path>". */
int ferry_rewrite_plan_diff(const ferry_rewrite_plan *p,
			    struct ferry_buf *out);

struct ferry_rewrite_opts {
	const char *test_cmd;       /* NULL: the recipe's; "": run no tests */
	double test_timeout;        /* seconds, <= 0: none */
	int keep_on_test_failure;   /* do not restore when the tests fail */
};

/* What ferry_rewrite_apply() did; release with ferry_rewrite_result_release. */
struct ferry_rewrite_result {
	char *backup_dir;     /* absolute path of the backup, NULL if removed */
	char *rollback;       /* absolute path of rollback.sh, NULL if removed */
	int tests_run;        /* a test command ran */
	int test_status;      /* its exit status (128+signal when killed) */
	int test_timed_out;
	double test_seconds;
	int restored;         /* the backup was restored automatically */
	struct ferry_buf test_output;  /* combined stdout+stderr (capped) */
	long tests_passed;    /* "N passed" (pytest) / "Ran N tests" + OK, -1: unknown */
};

#define FERRY_REWRITE_RESULT_INIT { NULL, NULL, 0, 0, 0, 0, 0, FERRY_BUF_INIT, -1 }

/*
 * Apply a plan with changes: back up the touched files to
 * <dir>/.ferry-backup-<recipe>-<timestamp>/files/, write
 * <backup>/rollback.sh, write the new files atomically (temp file, fsync,
 * rename), run the test command (/bin/sh -c in dir, own process group,
 * killed on timeout) and restore the backup when it fails.  Returns 0 when
 * the files were written and the tests passed; FERRY_ECHILD /
 * FERRY_ETIMEOUT when the tests failed (res says whether the backup was
 * restored); other codes when writing failed, in which case every file
 * already written has been restored.
 */
int ferry_rewrite_apply(const ferry_rewrite_plan *p,
			const struct ferry_rewrite_opts *opts,
			struct ferry_rewrite_result *res,
			struct ferry_error *err);
void ferry_rewrite_result_release(struct ferry_rewrite_result *res);

/*
 * Undo an applied rewrite from its backup directory (res.backup_dir of
 * ferry_rewrite_apply, possibly in an earlier process): every file listed
 * as modified in <backup_dir>/manifest.txt is copied back byte for byte
 * (mode and times kept) into the service directory above backup_dir, and
 * every file listed as created is deleted.  Safe to run more than once.
 * With remove, the backup is deleted once every file was restored (else
 * it is kept).  Returns FERRY_ENOTFOUND when backup_dir holds no manifest.
 */
int ferry_rewrite_restore(const char *backup_dir, int remove,
			  struct ferry_error *err);

#endif
