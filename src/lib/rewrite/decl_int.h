/*
 * decl_int.h - what the declaration readers share: the one PEP 508
 * requirement parser and the per-file rewrite state of requirements.c,
 * and the small TOML reader of decl_toml.c.
 *
 * requirements.c owns requirements*.txt and the edit/add/drop logic;
 * decl_toml.c pyproject.toml (PEP 621, Poetry, PDM, Hatch) and Pipfile;
 * decl_other.c setup.cfg, setup.py, manifest.json and Dockerfiles.  Each
 * reader finds the requirements of its format and hands every one to
 * rw_rq_handle_req() (or rw_rq_keyed() for `name = spec` tables), so a
 * name is normalized and a rule applied the same way in every format.
 */
#ifndef FERRY_REWRITE_DECL_INT_H
#define FERRY_REWRITE_DECL_INT_H

#include "rewrite_int.h"

/*
 * Spans of one PEP 508 requirement inside s[0..n): the name, the end of
 * the extras, the version specifier (or @ url) and the marker.  Stops at a
 * comment (" #"), an option (" --hash") or a trailing backslash.
 */
struct rw_req {
	size_t name_b, name_e;
	size_t spec_b, spec_e;      /* spec_b is after the extras */
	size_t marker_b, marker_e;  /* marker_b at ';', equal when none */
	size_t end;                 /* end of the requirement proper */
	int has_comment;
};

/* 0 and the spans when s[0..n) starts with a requirement, else -1. */
int rw_req_parse(const char *s, size_t n, struct rw_req *r);
const struct rw_replace *rw_find_replace(const struct ferry_recipe *rc,
					 const char *norm);

/* How an added sibling is written next to the entry that triggers it. */
enum rw_layout {
	RW_LAY_LINE = 0,  /* a line of its own: requirements.txt, setup.cfg */
	RW_LAY_ARRAY,     /* an element of a TOML/JSON/Python list */
	RW_LAY_KEYED,     /* `name = "spec"` in a Poetry or Pipfile table */
	RW_LAY_WORD       /* a word of a `pip install` command line */
};

/* One requirement found in the file. */
struct rw_found {
	char *norm;          /* normalized name, after the rewrite */
	char *orig_norm;     /* as found */
	size_t line_b;       /* start of its (logical) line or string */
	size_t after;        /* where an added sibling goes */
	int line;            /* 1-based line */
	char *marker;        /* "; ..." or "" (keyed: ", markers = ..." or "") */
	char *indent;        /* indentation of the line / array element */
	char *eol;           /* line ending after it ("\n", "\r\n" or "") */
	int layout;          /* enum rw_layout */
	int no_comment;      /* the format has no trailing comments */
	int in_string;       /* element of an array */
	int inline_array;    /* array on one line */
	int last_in_array;   /* no ',' after it */
	size_t comma_at;     /* where to put a ',' when last */
	char quote;          /* quote character (0: none) */
	int poetry;          /* keyed: Poetry syntax (else Pipfile) */
	int table_form;      /* [tool.poetry.dependencies.<pkg>]: no sibling
				lines can follow it, it is never dropped */
	char *spec;          /* its specifier text, for pin warnings */
	int deleted;
	size_t edit_b, edit_e;  /* its edits in rq.edits */
};

struct rw_rq {
	const struct ferry_recipe *r;
	const char *s;
	size_t n;
	int kind;            /* enum ferry_req_kind */
	struct rw_edits edits;
	struct rw_found *found;
	size_t nfound, capfound;
	struct ferry_buf *notes;
	struct ferry_buf tmp;
	int hold;            /* a declaration cannot be rewritten: edit nothing */
	size_t line_pos;     /* rw_rq_line's cache: line_no is the line there */
	int line_no;
	/* pyproject: the open [tool.poetry.dependencies.<pkg>] table */
	struct {
		const struct rw_replace *rule;  /* NULL: none or not replaced */
		char *table;
		size_t body;                    /* start of its first key line */
		int line;
		int has_version, source;
	} sub;
};

int rw_ws(char c);                 /* blank or tab */
size_t rw_skip_ws(const char *s, size_t n, size_t i);
int rw_line_of(const char *s, size_t off);
/* The same for q->s, linear over a reader's forward walk. */
int rw_rq_line(struct rw_rq *q, size_t off);
struct rw_found *rw_rq_add_found(struct rw_rq *q);
/* Change note ("asyncio-mqtt -> aiomqtt==2.4.0"). */
int rw_rq_note(struct rw_rq *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Warning at a line ("warning: N: ..."). */
int rw_rq_warn(struct rw_rq *q, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * A declaration of a replaced package this reader cannot rewrite safely
 * ("partial: N: ..."): the run is partial, and the file keeps its bytes
 * (q->hold) so that it is never half edited.
 */
int rw_rq_partial(struct rw_rq *q, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A lock file or hash pin to regenerate: "lock: <command>". */
int rw_rq_lock(struct rw_rq *q, const char *command);

/*
 * Rewrite one requirement at s[base .. base+len) (a requirements line or
 * the inside of a string) and record what was found (*fout, NULL when it
 * is no requirement).
 */
int rw_rq_handle_req(struct rw_rq *q, size_t base, size_t len, int in_string,
		     struct rw_found **fout);
/* The list of strings opening at s[open] ('['); *end after its ']'. */
int rw_rq_array(struct rw_rq *q, size_t open, size_t *end);
/*
 * One `name = value` entry of a Poetry (poetry) or Pipfile table: key
 * s[kb, ke) (with its quotes) on 1-based line, value s[vb, ve) (a string,
 * an inline table or an array).
 */
int rw_rq_keyed(struct rw_rq *q, size_t kb, size_t ke, size_t vb, size_t ve,
		int line, int poetry);

/*
 * A recipe pin ("==2.4.0", "" for any) as the version string of a keyed
 * table: Poetry writes an exact version bare ("2.4.0"), Pipfile keeps
 * PEP 440; both write "*" for any version.
 */
int rw_keyed_spec(const char *pin, int poetry, struct ferry_buf *out);

/* ---- TOML (decl_toml.c) ------------------------------------------------ */

/* Index after the string at s[i] (a quote); n when unterminated. */
size_t rw_toml_skip_string(const char *s, size_t n, size_t i);
/* Index after the value at s[i] (scalar, string, array, inline table). */
size_t rw_toml_skip_value(const char *s, size_t n, size_t i);

/*
 * Check that s is TOML this reader understands: keys, tables, strings,
 * arrays and inline tables well formed, no table or key defined twice.
 * FERRY_EPARSE with "line N: ..." otherwise.
 */
int rw_toml_check(const char *s, size_t n, struct ferry_error *err);

/* The command that regenerates a lock file (poetry.lock, ...), or NULL. */
const char *rw_lock_command(const char *path);

/* The readers, one per format (q->s holds the text). */
int rw_decl_pyproject(struct rw_rq *q, struct ferry_error *err);
int rw_decl_pipfile(struct rw_rq *q, struct ferry_error *err);
int rw_decl_setup_cfg(struct rw_rq *q, struct ferry_error *err);
int rw_decl_setup_py(struct rw_rq *q, struct ferry_error *err);
int rw_decl_manifest(struct rw_rq *q, struct ferry_error *err);
int rw_decl_dockerfile(struct rw_rq *q, struct ferry_error *err);

#endif
