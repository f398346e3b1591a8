/*
 * sqlite_describe.c - the SQLite connector's catalog (ops->describe):
 * tables, columns, keys, indexes and foreign keys from SQLite's pragmas,
 * and what the pragmas do not expose (WITHOUT ROWID, AUTOINCREMENT,
 * STRICT, index expressions and WHERE clauses, CHECK constraints) from the
 * stored CREATE statements with a small tokenizer.
 */
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/conn_int.h"
#include "connectors/sqlite_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "ferry/model.h"
#include "wire/sqltext.h"

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? ferry_strdup((const char *)s) : NULL;
}

/* ---- a tiny SQL tokenizer for CREATE statements ----------------------- */

/* Skip whitespace and comments; return the next position. */
static const char *skip_ws(const char *p)
{
	for (;;) {
		const char *e;

		while (isspace((unsigned char)*p))
			p++;
		if ((e = wire_sql_comment(p)) == p)
			return p;
		p = e;
	}
}

/* Skip one token (quoted identifier/string, word, or one char). */
static const char *skip_token(const char *p)
{
	const char *e = wire_sql_quoted(p);

	if (e != p)
		return e;
	if (isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80) {
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
		       (unsigned char)*p >= 0x80)
			p++;
		return p;
	}
	return *p ? p + 1 : p;
}

static int word_is(const char *p, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - p) == n && !strncasecmp(p, w, n);
}

/* Does the statement contain keyword w as a token (outside parens when
 * top_only)?  Used for WITHOUT ROWID, STRICT and AUTOINCREMENT. */
static int has_keyword(const char *sql, const char *w, int after_body)
{
	const char *p = sql;
	int depth = 0, seen_body = 0;

	while (*(p = skip_ws(p))) {
		const char *e = skip_token(p);

		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			seen_body = 1;
		else if (word_is(p, e, w) && (!after_body || (seen_body && depth == 0)))
			return 1;
		p = e;
	}
	return 0;
}

/* Split "CREATE [UNIQUE] INDEX x ON t (part, part) WHERE expr" into its
 * parts and predicate.  Returns 0 or FERRY_ENOMEM. */
static int split_index_sql(const char *sql, char ***parts, size_t *nparts,
			   char **where)
{
	const char *p = sql, *start = NULL;
	size_t cap = 0;
	int depth = 0;

	*parts = NULL;
	*nparts = 0;
	*where = NULL;
	while (*(p = skip_ws(p))) {
		const char *e = skip_token(p);

		if (*p == '(') {
			if (depth++ == 0) {
				start = e;
				p = e;
				continue;
			}
		} else if ((*p == ',' || *p == ')') && depth == 1) {
			if (FERRY_GROW(*parts, cap, *nparts + 1) < 0)
				return FERRY_ENOMEM;
			(*parts)[*nparts] = ferry_strndup(start, (size_t)(p - start));
			if (!(*parts)[*nparts])
				return FERRY_ENOMEM;
			(*nparts)++;
			start = e;
			if (*p == ')')
				depth--;
			p = e;
			continue;
		} else if (*p == ')') {
			depth--;
		} else if (depth == 0 && *nparts && word_is(p, e, "WHERE")) {
			*where = ferry_strdup(skip_ws(e));
			return *where ? 0 : FERRY_ENOMEM;
		}
		p = e;
	}
	return 0;
}

/* Trim a part and drop a trailing ASC/DESC and COLLATE x. */
static char *clean_part(const char *s, int *desc)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	const char *p = s, *last_end = s;

	*desc = 0;
	while (*(p = skip_ws(p))) {
		const char *e = skip_token(p);

		if (word_is(p, e, "DESC")) {
			*desc = 1;
			break;
		}
		if (word_is(p, e, "ASC") || word_is(p, e, "COLLATE"))
			break;
		last_end = e;
		p = e;
	}
	if (ferry_buf_add(&b, skip_ws(s), (size_t)(last_end - skip_ws(s))) < 0) {
		ferry_buf_release(&b);
		return NULL;
	}
	return ferry_buf_detach(&b, NULL);
}

/* ---- describe ---------------------------------------------------------- */

static int describe_indexes(struct ferry_conn *c, struct ferry_table *t,
			    struct ferry_error *err)
{
	sqlite3_stmt *il = NULL, *ix = NULL, *sq = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT name, \"unique\", origin, partial "
			       "FROM pragma_index_list(?1) ORDER BY seq DESC", -1, &il,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT cid, name, \"desc\" FROM "
			       "pragma_index_xinfo(?1) WHERE key ORDER BY seqno", -1,
			       &ix, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT sql FROM sqlite_schema WHERE "
			       "type = 'index' AND name = ?1", -1, &sq, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read indexes");
		goto out;
	}
	sqlite3_bind_text(il, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(il) == SQLITE_ROW) {
		const char *origin = (const char *)sqlite3_column_text(il, 2);
		struct ferry_index *x;
		char **parts = NULL, *where = NULL;
		size_t nparts = 0, i;

		if (origin && !strcmp(origin, "pk"))
			continue;  /* the primary key comes from pk_pos */
		x = ferry_table_add_index(t);
		if (!x || !(x->name = col_dup(il, 0))) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		x->unique = sqlite3_column_int(il, 1);
		x->origin = origin ? origin[0] : 'c';
		sqlite3_bind_text(sq, 1, x->name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(sq) == SQLITE_ROW && sqlite3_column_text(sq, 0)) {
			x->sql = col_dup(sq, 0);
			if (split_index_sql(x->sql, &parts, &nparts, &where) < 0) {
				rc = FERRY_ENOMEM;
				goto out;
			}
			x->where = where;
		}
		sqlite3_reset(sq);
		sqlite3_bind_text(ix, 1, x->name, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(ix) == SQLITE_ROW) {
			size_t k = x->nparts;
			char *col = NULL, *expr = NULL;

			if (sqlite3_column_int(ix, 0) >= 0) {
				col = col_dup(ix, 1);
			} else if (k < nparts) {
				int d;

				expr = clean_part(parts[k], &d);
			} else {
				expr = ferry_strdup("rowid");
			}
			if ((rc = ferry_index_add_part(x, col, expr, sqlite3_column_int(ix, 2))) < 0)
				break;
		}
		sqlite3_reset(ix);
		for (i = 0; i < nparts; i++)
			ferry_free(parts[i]);
		ferry_free(parts);
		if (rc < 0)
			goto out;
	}

out:
	sqlite3_finalize(il);
	sqlite3_finalize(ix);
	sqlite3_finalize(sq);
	return rc;
}

static int describe_fks(struct ferry_conn *c, struct ferry_table *t,
			struct ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	struct ferry_fk *fk = NULL;
	int last_id = -1, rc = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT id, \"table\", \"from\", \"to\", "
			       "on_update, on_delete FROM pragma_foreign_key_list(?1) "
			       "ORDER BY id, seq", -1, &st, NULL) != SQLITE_OK)
		return sq_err(c, err, FERRY_ESQL, "cannot read foreign keys");
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0);

		if (id != last_id) {
			fk = ferry_table_add_fk(t);
			if (!fk) {
				rc = FERRY_ENOMEM;
				goto out;
			}
			fk->ref_table = col_dup(st, 1);
			fk->on_update = col_dup(st, 4);
			fk->on_delete = col_dup(st, 5);
			last_id = id;
		}
		if ((rc = ferry_fk_add_column(fk, col_dup(st, 2), col_dup(st, 3))) < 0)
			goto out;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static int describe_table(struct ferry_conn *c, struct ferry_table *t,
			  struct ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, npk = 0, pk_col = -1;

	if (sqlite3_prepare_v2(c->db, "SELECT name, type, \"notnull\", dflt_value, pk, "
			       "hidden FROM pragma_table_xinfo(?1) ORDER BY cid", -1,
			       &st, NULL) != SQLITE_OK)
		return sq_err(c, err, FERRY_ESQL, "cannot read columns");
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct ferry_column *col = ferry_table_add_column(t);

		if (!col) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		col->name = col_dup(st, 0);
		col->decl_type = col_dup(st, 1);
		if (!col->decl_type)
			col->decl_type = ferry_strdup("");
		col->notnull = sqlite3_column_int(st, 2);
		col->default_sql = col_dup(st, 3);
		col->pk_pos = sqlite3_column_int(st, 4);
		col->hidden = sqlite3_column_int(st, 5);
		if (!col->name || !col->decl_type) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		if (col->pk_pos) {
			npk++;
			pk_col = (int)t->ncols - 1;
		}
	}
	t->without_rowid = t->sql && has_keyword(t->sql, "WITHOUT", 1);
	t->autoincrement = t->sql && has_keyword(t->sql, "AUTOINCREMENT", 0);
	/* ANY in a STRICT table has no affinity: each value keeps the type it
	 * was stored with, as in a column declared without a type (elsewhere
	 * ANY means NUMERIC affinity and stays as declared) */
	if (t->sql && has_keyword(t->sql, "STRICT", 1)) {
		size_t i;

		for (i = 0; i < t->ncols; i++)
			if (!strcasecmp(t->cols[i].decl_type, "ANY"))
				t->cols[i].decl_type[0] = '\0';
	}
	if (!t->without_rowid && npk == 1 &&
	    !strcasecmp(t->cols[pk_col].decl_type, "INTEGER"))
		t->rowid_alias = pk_col;
	if ((rc = describe_indexes(c, t, err)) < 0 || (rc = describe_fks(c, t, err)) < 0)
		goto out;
out:
	sqlite3_finalize(st);
	return rc;
}

/* What SQLite enforces on t that the copy does not carry over: CHECK
 * constraints (SQLite's expressions, not PostgreSQL's) and collations
 * other than BINARY (PostgreSQL compares the column byte by byte, so a
 * UNIQUE key on a NOCASE column takes 'Ab' beside 'ab'), told as notes. */
static int note_lost(struct ferry_conn *c, struct ferry_catalog *cat, const struct ferry_table *t)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	if (t->sql && has_keyword(t->sql, "CHECK", 0)) {
		rc = ferry_buf_addf(&b, "table '%s' has CHECK constraints: they are not copied "
				    "(SQLite's expressions are not PostgreSQL's); add them to the "
				    "target table if it needs them", t->name);
		if (rc == 0)
			rc = ferry_catalog_add_note(cat, b.buf);
	}
	for (i = 0; i < t->ncols && rc == 0; i++) {
		const char *coll = NULL;

		if (t->cols[i].hidden ||
		    sqlite3_table_column_metadata(c->db, NULL, t->name, t->cols[i].name, NULL,
						  &coll, NULL, NULL, NULL) != SQLITE_OK ||
		    !coll || !strcasecmp(coll, "BINARY"))
			continue;
		ferry_buf_clear(&b);
		rc = ferry_buf_addf(&b, "column '%s.%s' is COLLATE %s in SQLite: PostgreSQL "
				    "compares its values byte by byte (a UNIQUE key or index on it "
				    "takes values SQLite's %s calls equal)", t->name,
				    t->cols[i].name, coll, coll);
		if (rc == 0)
			rc = ferry_catalog_add_note(cat, b.buf);
	}
	ferry_buf_release(&b);
	return rc < 0 ? FERRY_ENOMEM : 0;
}

int sq_describe(ferry_conn *c, const char *schema, struct ferry_catalog **out,
		struct ferry_error *err)
{
	struct ferry_catalog *cat = ferry_catalog_new();
	sqlite3_stmt *st = NULL, *seq = NULL;
	int rc = 0, has_seq;

	if (!cat)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(c->db, "SELECT type, name, sql FROM sqlite_schema "
			       "WHERE type IN ('table', 'view') AND name NOT LIKE "
			       "'sqlite\\_%' ESCAPE '\\' ORDER BY rowid", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read the sqlite schema");
		goto out;
	}
	has_seq = sqlite3_prepare_v2(c->db, "SELECT seq FROM sqlite_sequence WHERE "
				     "name = ?1", -1, &seq, NULL) == SQLITE_OK;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 2);

		if (!strcmp(type, "view")) {
			struct ferry_view *v = ferry_catalog_add_view(cat);

			if (!v || !(v->name = col_dup(st, 1)) || !(v->sql = col_dup(st, 2))) {
				rc = FERRY_ENOMEM;
				goto out;
			}
			continue;
		}
		if (sql && !strncasecmp(skip_ws(sql), "CREATE VIRTUAL", 14)) {
			ferry_warn("skipping virtual table '%s': its module cannot be copied",
				   (const char *)sqlite3_column_text(st, 1));
			continue;
		}
		{
			struct ferry_table *t = ferry_catalog_add_table(cat);

			if (!t || !(t->name = col_dup(st, 1))) {
				rc = FERRY_ENOMEM;
				goto out;
			}
			t->sql = col_dup(st, 2);
			if ((rc = describe_table(c, t, err)) < 0) {
				ferry_error_prefix(err, "cannot describe table '%s'", t->name);
				goto out;
			}
			if ((rc = note_lost(c, cat, t)) < 0)
				goto out;
			if (has_seq) {
				sqlite3_bind_text(seq, 1, t->name, -1, SQLITE_STATIC);
				if (sqlite3_step(seq) == SQLITE_ROW)
					t->seq = sqlite3_column_int64(seq, 0);
				sqlite3_reset(seq);
			}
		}
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(seq);
	if (rc < 0) {
		if (rc == FERRY_ENOMEM)
			ferry_error_set(err, rc, "out of memory");
		ferry_catalog_free(cat);
		return rc;
	}
	*out = cat;
	return 0;
}
