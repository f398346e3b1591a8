/*
 * rewrite_int.h - the insides of the rewrite module: recipe and plan
 * structs and the helpers the layers share (tokenizer, glob, UTF-8).
 *
 * Layers: recipe.c (YAML -> struct ferry_recipe), requirements.c,
 * decl_toml.c and decl_other.c (dependency declarations, decl_int.h),
 * pytoken.c (Python tokens and the module rename), diff.c (unified
 * diff), plan.c (walk a service tree into a plan), apply.c (backup,
 * atomic write, rollback script, tests).
 */
#ifndef FERRY_REWRITE_INT_H
#define FERRY_REWRITE_INT_H

#include <stddef.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/rewrite.h"

struct rw_strlist {
	char **v;
	size_t n;
	size_t cap;
};

/* Replace package `from` by `to` pinned with `pin` ("==2.4.0"). */
struct rw_replace {
	char *from;
	char *from_norm;
	char *to;
	char *to_norm;
	char *pin;
	char *comment;   /* NULL: none */
};

/* Add `package``pin` after the line of `when` when it is absent. */
struct rw_add {
	char *package;
	char *norm;
	char *pin;
	char *when;
	char *when_norm;
	char *comment;
};

/* Rename dotted module `from` to `to` (both dotted, same or other depth). */
struct rw_module {
	char *from;
	char *to;
};

/* Warn at every code match of one of the token patterns. */
struct rw_warning {
	struct rw_strlist match;
	char *message;
};

/*
 * A codemod (python.codemods in a recipe), applied on tokens only where
 * the file's imports prove the target (codemod.c):
 *  RW_CM_CALL    calls of `target` (dotted import path of a class or
 *                function): keyword renames and/or an inserted argument;
 *  RW_CM_ATTR    the module attribute `target` renamed to `to`;
 *  RW_CM_METHOD  `.name` of `target` (Class.method) renamed to `to` on
 *                variables bound only to calls of the class.
 */
enum rw_cm_kind { RW_CM_CALL = 1, RW_CM_ATTR, RW_CM_METHOD };

struct rw_codemod {
	int kind;
	char *target;
	struct rw_strlist kw_from;     /* RW_CM_CALL: keyword renames */
	struct rw_strlist kw_to;
	int insert_pos;                /* -1: no insertion */
	char *insert_value;            /* template: {module:Name} spelled per file */
	struct rw_strlist insert_unless;  /* names that mean "already there" */
	char *to;                      /* RW_CM_ATTR / RW_CM_METHOD */
};

struct ferry_recipe {
	char *name;
	char *description;
	struct rw_strlist service_any;
	struct rw_strlist service_all;
	struct rw_strlist req_files;
	struct rw_replace *replace;
	size_t nreplace;
	struct rw_add *add;
	size_t nadd;
	struct rw_strlist py_files;
	struct rw_module *modules;
	size_t nmodules;
	struct rw_warning *warnings;
	size_t nwarnings;
	struct rw_codemod *codemods;
	size_t ncodemods;
	char *test_cmd;
	int test_cmd_given;   /* tests.command was in the recipe */
	double test_timeout;
};

struct rw_file {
	char *path;          /* relative to the service directory */
	struct ferry_buf old;
	struct ferry_buf new_;
	int created;         /* did not exist before the rewrite */
	unsigned mode;       /* st_mode & 07777 of the original */
	struct ferry_buf notes;
};

struct ferry_rewrite_plan {
	const struct ferry_recipe *recipe;
	char *dir;           /* as given */
	int state;
	struct rw_file *files;
	size_t nfiles;
	size_t cap;
	struct ferry_buf warnings;
	struct ferry_buf partial;  /* "path:line: message": declarations left */
	struct ferry_buf locks;    /* "path\tcommand": lock files to regenerate */
};

int rw_strlist_push(struct rw_strlist *l, const char *s);
void rw_strlist_release(struct rw_strlist *l);

/* Glob with `*`, `?`, `[...]` inside one path segment and a `**` segment
 * for any number of directories: src/STARSTAR/x.py matches src/x.py and
 * src/a/b/x.py. */
int rw_glob_match(const char *pattern, const char *path);

/* 0 when s is valid UTF-8, else -1 with the 1-based line of the bad byte. */
int rw_utf8_check(const char *s, size_t n, int *bad_line);

/* ---- Python tokens ---------------------------------------------------- */

enum pyt_kind {
	PYT_NAME = 1,
	PYT_NUMBER,
	PYT_STRING,    /* any prefix, single or triple quoted, f-strings whole */
	PYT_OP,
	PYT_COMMENT,
	PYT_NEWLINE,   /* ends a logical line */
	PYT_NL         /* newline inside brackets or on a blank line */
};

struct pyt_token {
	int kind;
	size_t off;
	size_t len;
	int line;      /* 1-based line of the first byte */
	int depth;     /* bracket depth before the token */
};

struct pyt_tokens {
	struct pyt_token *v;
	size_t n;
	size_t cap;
};

/* Tokenize Python source; FERRY_EPARSE for unterminated strings. */
int rw_pyt_tokenize(const char *s, size_t n, struct pyt_tokens *out,
		 struct ferry_error *err);
void rw_pyt_tokens_release(struct pyt_tokens *t);
/* Indexes of the tokens that are neither NL nor COMMENT (*n of them);
 * NULL when out of memory.  Caller frees. */
size_t *rw_pyt_significant(const struct pyt_tokens *t, size_t *n);

/* ---- codemods (codemod.c) ------------------------------------------- */

/*
 * Apply the recipe's codemods to Python source text into out (appended).
 * notes gets "codemod ..." summary lines and "warning: N: ..." lines for
 * what the tokens cannot prove; *used is set when the file imports a
 * module a codemod targets.  The text must already be valid UTF-8.
 */
int rw_codemod_python(const struct ferry_recipe *r, const char *text,
		      size_t len, struct ferry_buf *out, struct ferry_buf *notes,
		      int *used, struct ferry_error *err);
/* Does text name the top-level module of a codemod target (plan filter)? */
int rw_codemod_mentions(const struct ferry_recipe *r, const char *text,
			size_t len);
/* Parse and free python.codemods entries (recipe.c keeps the YAML). */
void rw_codemod_release(struct rw_codemod *c);

/* ---- edit lists: replace [off, off+len) by text, applied in one pass -- */

struct rw_edit {
	size_t off;
	size_t len;
	char *text;
	size_t seq;    /* insertion order: ties at one offset keep it */
};

struct rw_edits {
	struct rw_edit *v;
	size_t n;
	size_t cap;
};

int rw_edits_add(struct rw_edits *e, size_t off, size_t len,
		 const char *text, size_t tlen);
/* Apply the (non-overlapping) edits to src into out. */
int rw_edits_apply(struct rw_edits *e, const char *src, size_t n,
		   struct ferry_buf *out);
void rw_edits_release(struct rw_edits *e);

/* ---- apply helpers ---------------------------------------------------- */

/* Write data to path atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory) with the given mode. */
int rw_write_atomic(const char *path, const char *data, size_t len,
		    unsigned mode, struct ferry_error *err);

/* Run cmd with /bin/sh -c in dir in its own process group; kill the group
 * after timeout seconds (<= 0: none).  Output (stdout+stderr) goes to out. */
int rw_run_cmd(const char *dir, const char *cmd, double timeout,
	       struct ferry_buf *out, int *status, int *timed_out,
	       struct ferry_error *err);

/* Plan building (used by plan.c and tests). */
struct rw_file *rw_plan_add_file(struct ferry_rewrite_plan *p,
				 const char *path);

#endif
