/*
 * pg_source.c - PostgreSQL as a source: the catalog of one schema from
 * pg_catalog (tables, columns with their exact types, primary keys,
 * UNIQUE constraints, indexes, foreign keys, identity and serial columns,
 * views) and how a table is cut into chunks.
 *
 * A table with a single-column integer primary key is read in ranges of
 * that key, like a SQLite rowid.  Any other table (a composite or text
 * key, or none) is read in ranges of its ctid, the row's physical
 * place (block, line), with a TID range scan: a batch key is then
 * block << 16 | line, and ferry copy says so in its warnings.  ctids move
 * when rows are updated, so such a table must not change while a copy
 * of it runs (a resumed copy compares pg_content_id's row hashes).  A
 * partitioned table without such a key is one chunk: its partitions'
 * ctids overlap.
 *
 * Types: every type the PostgreSQL target creates is read in its binary
 * send format and decoded into cells (wire/pgcopy.c).  A type ferry has
 * no decoder for (arrays, interval, inet, enums, ranges, ...) is read as
 * its text form into a text column, with a note naming table.column and
 * type, as pgloader does; --cast picks another type for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/pg_int.h"
#include "ferry/alloc.h"

int pg_type_of_oid(uint32_t oid)
{
	switch (oid) {
	case 16: return FERRY_T_BOOL;
	case 17: return FERRY_T_BYTES;
	case 20: return FERRY_T_INT64;
	case 21: return FERRY_T_INT16;
	case 23: return FERRY_T_INT32;
	case 25: case 1043: case 1042: case 19: return FERRY_T_TEXT;
	case 114: return FERRY_T_JSON;
	case 3802: return FERRY_T_JSONB;
	case 700: return FERRY_T_FLOAT32;
	case 701: return FERRY_T_FLOAT64;
	case 1082: return FERRY_T_DATE;
	case 1083: return FERRY_T_TIME;
	case 1114: return FERRY_T_TIMESTAMP;
	case 1184: return FERRY_T_TIMESTAMPTZ;
	case 1700: return FERRY_T_NUMERIC;
	case 2950: return FERRY_T_UUID;
	}
	return FERRY_T_UNKNOWN;
}

int pg_key_col(const struct ferry_table *t)
{
	size_t i;
	int k = -1, vis = 0, npk = 0;

	for (i = 0; i < t->ncols; i++) {
		const struct ferry_column *c = &t->cols[i];

		if (c->hidden)
			continue;
		if (c->pk_pos) {
			npk++;
			if (c->pk_pos == 1 && (c->type == FERRY_T_INT16 ||
					       c->type == FERRY_T_INT32 ||
					       c->type == FERRY_T_INT64))
				k = vis;
		}
		vis++;
	}
	return npk == 1 ? k : -1;
}

/* Is [p, p+n) the query parameter "schema=..."? */
static int is_schema_param(const char *p, size_t n)
{
	return n >= 7 && !strncmp(p, "schema=", 7);
}

int pg_conninfo(const ferry_url *url, struct ferry_buf *out, char **schema)
{
	const char *raw = url->raw, *q = strchr(raw, '?'), *p, *amp;
	const char *sv = ferry_url_param(url, "schema");
	int e = 0, first = 1;

	*schema = NULL;
	/* a key=value connection string, or a url without a query */
	if (!sv || !q || strncmp(url->scheme, "postgres", 8))
		return ferry_buf_addstr(out, raw);
	if (!(*schema = ferry_strdup(sv)))
		return FERRY_ENOMEM;
	e |= ferry_buf_add(out, raw, (size_t)(q - raw));
	for (p = q + 1; *p; p = *amp ? amp + 1 : amp) {
		amp = strchr(p, '&');
		if (!amp)
			amp = p + strlen(p);
		if (is_schema_param(p, (size_t)(amp - p)) || amp == p)
			continue;
		e |= ferry_buf_addch(out, first ? '?' : '&');
		e |= ferry_buf_add(out, p, (size_t)(amp - p));
		first = 0;
	}
	return e < 0 ? FERRY_ENOMEM : 0;
}

/* ---- columns ------------------------------------------------------------ */

/* Run catalog query q for schema ($1) into *out: 0, or the code of
 * the failure with err set (what: "cannot read the ...") and *out not
 * written.  Callers start their result at NULL: the compiler cannot see
 * that pg_fail's code is always negative, and a Release build
 * (-Werror=maybe-uninitialized) stops on a result it thinks unset. */
static int catalog_query(ferry_conn *c, const char *q, const char *schema,
			 const char *what, PGresult **out, struct ferry_error *err)
{
	const char *params[1] = { schema };
	PGresult *res;
	int rc;

	pg_busy(c, 1);
	res = PQexecParams(c->pg, q, 1, NULL, params, NULL, NULL, 0);
	pg_busy(c, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*out = res;
		return 0;
	}
	rc = pg_fail(c->pg, res, err, what);
	PQclear(res);
	return rc;
}

static int describe_columns(ferry_conn *c, const char *schema, struct ferry_catalog *cat,
			    struct ferry_error *err)
{
	/* a domain is read as its base type (its binary form is the base's) */
	static const char q[] =
		"SELECT cl.relname, a.attname, "
		"  CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE a.atttypid END, "
		"  CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END, "
		"  a.attnotnull, format_type(a.atttypid, a.atttypmod), "
		"  pg_get_expr(d.adbin, d.adrelid), "
		"  a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE "
		"  'nextval(%', false), a.attgenerated <> '', "
		"  coalesce(array_position(pk.conkey, a.attnum), 0), "
		"  cl.relkind = 'p' "
		"FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace "
		"JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped "
		"JOIN pg_type ty ON ty.oid = a.atttypid "
		"LEFT JOIN pg_type bt ON bt.oid = ty.typbasetype "
		"LEFT JOIN pg_attrdef d ON d.adrelid = cl.oid AND d.adnum = a.attnum "
		"LEFT JOIN pg_constraint pk ON pk.conrelid = cl.oid AND pk.contype = 'p' "
		"WHERE n.nspname = $1 AND cl.relkind IN ('r', 'p') AND NOT cl.relispartition "
		"ORDER BY cl.relname, a.attnum";
	struct ferry_table *t = NULL;
	struct ferry_buf note = FERRY_BUF_INIT;
	PGresult *res = NULL;
	int i, n, rc = 0;

	if ((rc = catalog_query(c, q, schema, "cannot read the catalog", &res, err)) < 0)
		return rc;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		struct ferry_column *col;
		int32_t tm;

		if (!t || strcmp(t->name, PQgetvalue(res, i, 0))) {
			t = ferry_catalog_add_table(cat);
			if (!t || !(t->name = ferry_strdup(PQgetvalue(res, i, 0))))
				goto nomem;
			/* a partitioned table has no ctids of its own (see below) */
			t->without_rowid = PQgetvalue(res, i, 10)[0] == 't';
		}
		col = ferry_table_add_column(t);
		if (!col || !(col->name = ferry_strdup(PQgetvalue(res, i, 1))) ||
		    !(col->type_sql = ferry_strdup(PQgetvalue(res, i, 5))) ||
		    !(col->decl_type = ferry_strdup(PQgetvalue(res, i, 5))))
			goto nomem;
		col->type_oid = (uint32_t)strtoul(PQgetvalue(res, i, 2), NULL, 10);
		tm = (int32_t)strtol(PQgetvalue(res, i, 3), NULL, 10);
		col->notnull = PQgetvalue(res, i, 4)[0] == 't';
		col->type = pg_type_of_oid(col->type_oid);
		/* ferry's typmods: varchar(n) is n, numeric(p,s) is p << 16 | s
		 * (PostgreSQL adds 4 to both); a time's is its precision */
		col->typmod = -1;
		if (col->type == FERRY_T_TEXT || col->type == FERRY_T_NUMERIC)
			col->typmod = tm >= 4 ? tm - 4 : -1;
		else if (col->type == FERRY_T_TIMESTAMP || col->type == FERRY_T_TIMESTAMPTZ ||
			 col->type == FERRY_T_TIME)
			col->typmod = tm >= 0 && tm < 6 ? tm : -1;
		if (col->type == FERRY_T_TEXT && col->type_oid == 19)
			col->typmod = -1;  /* name */
		if (!PQgetisnull(res, i, 6) &&
		    !(col->default_sql = ferry_strdup(PQgetvalue(res, i, 6))))
			goto nomem;
		col->identity = PQgetvalue(res, i, 7)[0] == 't';
		col->hidden = PQgetvalue(res, i, 8)[0] == 't';
		col->pk_pos = atoi(PQgetvalue(res, i, 9));
		if (col->type == FERRY_T_UNKNOWN && !col->hidden) {
			/* read as its text form (postgres.c casts it) */
			col->type = FERRY_T_TEXT;
			ferry_buf_clear(&note);
			if (ferry_buf_addf(&note, "column '%s.%s' has type %s, which ferry does "
					   "not map: copied as its text form into a text column "
					   "(--cast '%s.%s=TYPE' to choose a type)", t->name,
					   col->name, col->type_sql, t->name, col->name) < 0 ||
			    ferry_catalog_add_note(cat, note.buf) < 0)
				goto nomem;
		}
	}
	goto out;
nomem:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_buf_release(&note);
	PQclear(res);
	return rc;
}

/* ---- indexes ------------------------------------------------------------ */

static int note_skip(struct ferry_catalog *cat, const char *what, const char *table,
		     const char *name, const char *why)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry_buf_addf(&b, "%s '%s' of table '%s' is not recreated: %s; "
				"recreate it on the target", what, name, table, why);

	if (rc == 0)
		rc = ferry_catalog_add_note(cat, b.buf);
	ferry_buf_release(&b);
	return rc < 0 ? FERRY_ENOMEM : 0;
}

/* Row i's part of x: its column, or (no column) its expression. */
static int index_row(struct ferry_index *x, const PGresult *res, int i)
{
	int is_col = !PQgetisnull(res, i, 7);
	char *s = ferry_strdup(PQgetvalue(res, i, is_col ? 7 : 8));

	if (!s)
		return FERRY_ENOMEM;
	return ferry_index_add_part(x, is_col ? s : NULL, is_col ? NULL : s,
				    PQgetvalue(res, i, 9)[0] == 't');
}

static int describe_indexes(ferry_conn *c, const char *schema, struct ferry_catalog *cat,
			    struct ferry_error *err)
{
	/* the primary key is the columns' pk_pos; indkey and indoption are
	 * int2vectors, subscripted from 0 */
	static const char q[] =
		"SELECT t.relname, i.relname, x.indisunique, coalesce(con.contype::text, ''), "
		"  am.amname, x.indnatts > x.indnkeyatts, pg_get_expr(x.indpred, x.indrelid, true), "
		"  a.attname, pg_get_indexdef(x.indexrelid, k.n, true), "
		"  (x.indoption[k.n - 1] & 1) = 1 "
		"FROM pg_index x "
		"JOIN pg_class t ON t.oid = x.indrelid "
		"JOIN pg_namespace ns ON ns.oid = t.relnamespace "
		"JOIN pg_class i ON i.oid = x.indexrelid "
		"JOIN pg_am am ON am.oid = i.relam "
		"LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid "
		"  AND con.conrelid = x.indrelid AND con.contype IN ('u', 'x', 'p') "
		"CROSS JOIN LATERAL generate_series(1, x.indnkeyatts::int) AS k(n) "
		"LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[k.n - 1] "
		"WHERE ns.nspname = $1 AND t.relkind IN ('r', 'p') AND NOT t.relispartition "
		"  AND NOT x.indisprimary "
		"ORDER BY t.relname, i.relname, k.n";
	struct ferry_index *x = NULL;
	struct ferry_table *t = NULL;
	const char *skipped = NULL;
	PGresult *res = NULL;
	int i, n, rc = 0;

	if ((rc = catalog_query(c, q, schema, "cannot read the indexes", &res, err)) < 0)
		return rc;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		const char *tn = PQgetvalue(res, i, 0), *in = PQgetvalue(res, i, 1);
		const char *why = NULL;

		if (skipped && !strcmp(skipped, in))
			continue;  /* the rest of an index already skipped */
		skipped = NULL;
		if (x && !strcmp(x->name, in) && t && !strcmp(t->name, tn)) {
			if (index_row(x, res, i) < 0)
				goto nomem;
			continue;
		}
		x = NULL;
		if (!(t = ferry_catalog_find(cat, tn)))
			continue;
		if (!strcmp(PQgetvalue(res, i, 3), "x"))
			why = "an exclusion constraint";
		else if (strcmp(PQgetvalue(res, i, 4), "btree"))
			why = PQgetvalue(res, i, 4);   /* gin, gist, brin, hash */
		else if (PQgetvalue(res, i, 5)[0] == 't')
			why = "it has INCLUDE columns";
		if (why) {
			char m[96];

			snprintf(m, sizeof(m), "%s%s", why, strchr(why, ' ') ? "" : " indexes are not copied");
			if (note_skip(cat, "index", tn, in, m) < 0)
				goto nomem;
			skipped = in;
			continue;
		}
		if (!(x = ferry_table_add_index(t)) || !(x->name = ferry_strdup(in)))
			goto nomem;
		x->unique = PQgetvalue(res, i, 2)[0] == 't';
		x->origin = !strcmp(PQgetvalue(res, i, 3), "u") ? 'u' : 'c';
		if (!PQgetisnull(res, i, 6) && !(x->where = ferry_strdup(PQgetvalue(res, i, 6))))
			goto nomem;
		if (index_row(x, res, i) < 0)
			goto nomem;
	}
	goto out;
nomem:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	PQclear(res);
	return rc;
}

/* ---- foreign keys ------------------------------------------------------- */

static const char *fk_action(char a)
{
	switch (a) {
	case 'r': return "RESTRICT";
	case 'c': return "CASCADE";
	case 'n': return "SET NULL";
	case 'd': return "SET DEFAULT";
	}
	return "NO ACTION";
}

/* Row i's column pair (from, to) onto f. */
static int fk_column(struct ferry_fk *f, const PGresult *res, int i)
{
	char *to = ferry_strdup(PQgetvalue(res, i, 8));

	if (!to)
		return FERRY_ENOMEM;
	return ferry_fk_add_column(f, ferry_strdup(PQgetvalue(res, i, 7)), to);
}

static int describe_fks(ferry_conn *c, const char *schema, struct ferry_catalog *cat,
			struct ferry_error *err)
{
	static const char q[] =
		"SELECT t.relname, con.conname, r.relname, rn.nspname = $1, con.confupdtype, "
		"  con.confdeltype, con.condeferrable, fa.attname, ta.attname "
		"FROM pg_constraint con "
		"JOIN pg_class t ON t.oid = con.conrelid "
		"JOIN pg_namespace ns ON ns.oid = t.relnamespace "
		"JOIN pg_class r ON r.oid = con.confrelid "
		"JOIN pg_namespace rn ON rn.oid = r.relnamespace "
		"CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(f, p, o) "
		"JOIN pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = k.f "
		"JOIN pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.p "
		"WHERE con.contype = 'f' AND ns.nspname = $1 AND NOT t.relispartition "
		"  AND con.conparentid = 0 "
		"ORDER BY t.relname, con.conname, k.o";
	struct ferry_table *t = NULL;
	struct ferry_fk *f = NULL;
	char *cur = NULL, *skipped = NULL;
	PGresult *res = NULL;
	int i, n, rc = 0;

	if ((rc = catalog_query(c, q, schema, "cannot read the foreign keys", &res, err)) < 0)
		return rc;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		const char *tn = PQgetvalue(res, i, 0), *cn = PQgetvalue(res, i, 1);

		if (skipped && !strcmp(skipped, cn))
			continue;
		if (f && cur && !strcmp(cur, cn) && !strcmp(t->name, tn)) {
			if (fk_column(f, res, i) < 0)
				goto nomem;
			continue;
		}
		f = NULL;
		cur = NULL;
		skipped = NULL;
		if (!(t = ferry_catalog_find(cat, tn)))
			continue;
		if (PQgetvalue(res, i, 3)[0] != 't') {
			if (note_skip(cat, "foreign key", tn, cn, "it references a table of another schema") < 0)
				goto nomem;
			skipped = (char *)cn;
			continue;
		}
		if (!(f = ferry_table_add_fk(t)) ||
		    !(f->ref_table = ferry_strdup(PQgetvalue(res, i, 2))) ||
		    !(f->on_update = ferry_strdup(fk_action(PQgetvalue(res, i, 4)[0]))) ||
		    !(f->on_delete = ferry_strdup(fk_action(PQgetvalue(res, i, 5)[0]))))
			goto nomem;
		f->deferrable = PQgetvalue(res, i, 6)[0] == 't';
		if (fk_column(f, res, i) < 0)
			goto nomem;
		cur = (char *)cn;
	}
	goto out;
nomem:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	PQclear(res);
	return rc;
}

/* ---- views -------------------------------------------------------------- */

static int describe_views(ferry_conn *c, const char *schema, struct ferry_catalog *cat,
			  struct ferry_error *err)
{
	static const char q[] =
		"SELECT viewname, definition FROM pg_views WHERE schemaname = $1 ORDER BY viewname";
	PGresult *res = NULL;
	int i, n, rc = 0;

	if ((rc = catalog_query(c, q, schema, "cannot read the views", &res, err)) < 0)
		return rc;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		struct ferry_view *v = ferry_catalog_add_view(cat);
		struct ferry_buf b = FERRY_BUF_INIT;
		size_t len;

		/* "CREATE VIEW x AS <definition>", without its ';' */
		if (!v || !(v->name = ferry_strdup(PQgetvalue(res, i, 0))) ||
		    ferry_buf_addstr(&b, "CREATE VIEW v AS ") < 0 ||
		    ferry_buf_addstr(&b, PQgetvalue(res, i, 1)) < 0) {
			ferry_buf_release(&b);
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		len = b.len;
		while (len && (b.buf[len - 1] == ';' || b.buf[len - 1] == '\n' || b.buf[len - 1] == ' '))
			b.buf[--len] = '\0';
		b.len = len;
		v->sql = ferry_buf_detach(&b, NULL);
	}
out:
	PQclear(res);
	return rc;
}

/* ---- the catalog -------------------------------------------------------- */

int pg_describe(ferry_conn *c, const char *schema, struct ferry_catalog **out,
		struct ferry_error *err)
{
	struct ferry_catalog *cat = ferry_catalog_new();
	struct ferry_buf note = FERRY_BUF_INIT;
	size_t i, k;
	int rc;

	if (!schema)
		schema = c->schema ? c->schema : "public";
	if (cat)
		cat->exact_names = 1;
	if (!cat)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = describe_columns(c, schema, cat, err)) < 0 ||
	    (rc = describe_indexes(c, schema, cat, err)) < 0 ||
	    (rc = describe_fks(c, schema, cat, err)) < 0 ||
	    (rc = describe_views(c, schema, cat, err)) < 0)
		goto out;
	/* a single-column integer primary key is the table's rowid: ranges of
	 * it are its chunks; any other table is cut in ctid ranges */
	for (i = 0; i < cat->ntables && rc == 0; i++) {
		struct ferry_table *t = &cat->tables[i];
		int kc = pg_key_col(t), vis = 0;

		t->rowid_alias = -1;
		for (k = 0; kc >= 0 && k < t->ncols; k++) {
			if (t->cols[k].hidden)
				continue;
			if (vis++ == kc)
				t->rowid_alias = (int)k;
		}
		if (kc >= 0) {
			t->without_rowid = 0;
			continue;
		}
		ferry_buf_clear(&note);
		if (t->without_rowid) {  /* partitioned: one chunk */
			if (ferry_buf_addf(&note, "table '%s' is partitioned and has no single-column "
					   "integer primary key: read as one chunk", t->name) < 0 ||
			    ferry_catalog_add_note(cat, note.buf) < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		if (!(t->key_label = ferry_strdup("ctid"))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (ferry_buf_addf(&note, "table '%s' has no single-column integer primary key: "
				   "read in ctid ranges (its rows must not change until the copy "
				   "is done); rejects name a row by ctid, block * 65536 + line",
				   t->name) < 0 || ferry_catalog_add_note(cat, note.buf) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
out:
	ferry_buf_release(&note);
	if (rc < 0) {
		ferry_catalog_free(cat);
		return rc;
	}
	*out = cat;
	return 0;
}

/* ---- the content a resumed copy compares ---------------------------------- */

/*
 * Per table of the schema, in name order: its row count and the sum of
 * a 64-bit hash of each row's text (hashtextextended), read on the
 * server: an UPDATE that keeps the counts and key ranges (which the
 * job's fingerprint holds) still changes it.  One pass over the rows,
 * as the SQLite source's page hash is one over its file.
 */
int pg_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err)
{
	static const char q[] =
		"SELECT cl.relname FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace "
		"WHERE n.nspname = $1 AND cl.relkind IN ('r', 'p') AND NOT cl.relispartition "
		"ORDER BY cl.relname";
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *res = NULL, *tr;
	int i, rc, e = 0;

	if ((rc = catalog_query(c, q, c->schema ? c->schema : "public",
				"cannot read the tables", &res, err)) < 0)
		return rc;
	for (i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *tn = PQgetvalue(res, i, 0);

		ferry_buf_clear(&sql);
		e = ferry_buf_addstr(&sql, "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM ");
		e |= conn_quote_dq(tn, &sql);
		e |= ferry_buf_addstr(&sql, " t");
		if (e < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		pg_busy(c, 1);
		tr = PQexec(c->pg, sql.buf);
		pg_busy(c, 0);
		if (PQresultStatus(tr) != PGRES_TUPLES_OK || PQntuples(tr) != 1) {
			rc = pg_fail(c->pg, tr, err, "cannot hash the rows");
			ferry_error_prefix(err, "table '%s'", tn);
		} else if (ferry_buf_addf(out, "%s:%s:%s\n", tn, PQgetvalue(tr, 0, 0),
					  PQgetvalue(tr, 0, 1)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		PQclear(tr);
	}
	PQclear(res);
	ferry_buf_release(&sql);
	return rc;
}
