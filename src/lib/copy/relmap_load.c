/*
 * relmap_load.c - a relational map file (`tables:`) into struct relmap.
 *
 *   tables:
 *     TARGET_TABLE:
 *       from: SOURCE_TABLE | "SELECT ..."   # in the source's SQL
 *       key: EXPR            # integer: chunks and resume (default rowid/PK)
 *       where: EXPR
 *       columns: {COLUMN: EXPR | {expr: EXPR, type: TYPE}}
 *       lookup: {COLUMN: {from: EXPR, in: TABLE.COLUMN, get: COLUMN}}
 *       default: {COLUMN: VALUE}
 *
 * Every mistake is FERRY_EUSAGE naming the file and line.
 */
#include <ctype.h>
#include <string.h>

#include "copy/relmap.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "tsmap/tsmap.h"
#include "wire/sqltext.h"

static int nomem(struct tm_mapfile *c)
{
	return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
}

/* A scalar's text into *out; anything else is a mistake. */
static int scalar(struct tm_mapfile *c, struct fy_node *n, const char *what, char **out)
{
	if (!n || fy_node_get_type(n) != FYNT_SCALAR)
		return tm_yaml_bad(c, n, "%s must be a text", what);
	if (!(*out = wire_yaml_str(n)))
		return nomem(c);
	if (!**out)
		return tm_yaml_bad(c, n, "%s is empty", what);
	return 0;
}

/* Does the text start with SELECT or WITH (a query, not a table name)? */
static int is_query(const char *s)
{
	while (isspace((unsigned char)*s) || *s == '(')
		s++;
	return !strncasecmp(s, "select", 6) || !strncasecmp(s, "with", 4) ||
	       !strncasecmp(s, "values", 6);
}

static int add_col(struct tm_mapfile *c, struct relmap_table *t, size_t *cap,
		   struct fy_node *k, struct relmap_col **out)
{
	struct relmap_col *col;
	size_t i;
	char *name = NULL;
	int rc;

	if ((rc = scalar(c, k, "a column name", &name)) < 0) {
		ferry_free(name);
		return rc;
	}
	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name)) {
			ferry_free(name);
			return tm_yaml_bad(c, k, "column '%s' of table '%s' is given twice "
					   "(line %d)", t->cols[i].name, t->name, t->cols[i].line);
		}
	if (FERRY_GROW(t->cols, *cap, t->ncols + 1) < 0) {
		ferry_free(name);
		return nomem(c);
	}
	col = &t->cols[t->ncols++];
	memset(col, 0, sizeof(*col));
	col->name = name;
	col->line = wire_yaml_line(k);
	col->lookup = -1;
	*out = col;
	return 0;
}

static int parse_columns(struct tm_mapfile *c, struct relmap_table *t, size_t *cap,
			 struct fy_node *n)
{
	struct fy_node_pair *p;
	void *it = NULL;
	int rc;

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return tm_yaml_bad(c, n, "columns: must map target columns to source expressions");
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		struct fy_node *v = fy_node_pair_value(p), *e;
		struct relmap_col *col;

		if ((rc = add_col(c, t, cap, fy_node_pair_key(p), &col)) < 0)
			return rc;
		if (v && fy_node_get_type(v) == FYNT_MAPPING) {
			struct fy_node_pair *q;
			void *it2 = NULL;

			while ((q = fy_node_mapping_iterate(v, &it2)) != NULL) {
				struct fy_node *k = fy_node_pair_key(q);

				e = fy_node_pair_value(q);
				if (wire_yaml_key_is(k, "expr"))
					rc = scalar(c, e, "expr:", &col->expr);
				else if (wire_yaml_key_is(k, "type"))
					rc = scalar(c, e, "type:", &col->type);
				else
					rc = tm_yaml_bad(c, k, "unknown key in column '%s' (expected "
							 "expr: and type:)", col->name);
				if (rc < 0)
					return rc;
			}
			if (!col->expr)
				return tm_yaml_bad(c, v, "column '%s' has no expr:", col->name);
		} else if ((rc = scalar(c, v, "a column's source expression", &col->expr)) < 0) {
			return rc;
		}
	}
	return 0;
}

static int parse_lookups(struct tm_mapfile *c, struct relmap_table *t, size_t *cap,
			 struct fy_node *n)
{
	struct fy_node_pair *p;
	void *it = NULL;
	size_t lcap = 0;
	int rc;

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return tm_yaml_bad(c, n, "lookup: must map target columns to {from:, in:, get:}");
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		struct fy_node *v = fy_node_pair_value(p);
		struct fy_node_pair *q;
		struct relmap_lookup *lk;
		struct relmap_col *col;
		char *in = NULL, *dot;
		void *it2 = NULL;

		if ((rc = add_col(c, t, cap, fy_node_pair_key(p), &col)) < 0)
			return rc;
		if (!v || fy_node_get_type(v) != FYNT_MAPPING)
			return tm_yaml_bad(c, v ? v : fy_node_pair_key(p), "lookup of column '%s' must "
					   "be {from: EXPR, in: TABLE.COLUMN, get: COLUMN}", col->name);
		if (FERRY_GROW(t->lookups, lcap, t->nlookups + 1) < 0)
			return nomem(c);
		lk = &t->lookups[t->nlookups];
		memset(lk, 0, sizeof(*lk));
		col->lookup = (int)t->nlookups++;
		lk->line = col->line;
		while ((q = fy_node_mapping_iterate(v, &it2)) != NULL) {
			struct fy_node *k = fy_node_pair_key(q), *e = fy_node_pair_value(q);

			if (wire_yaml_key_is(k, "from"))
				rc = scalar(c, e, "from:", &col->expr);
			else if (wire_yaml_key_is(k, "in"))
				rc = scalar(c, e, "in:", &in);
			else if (wire_yaml_key_is(k, "get"))
				rc = scalar(c, e, "get:", &lk->get);
			else if (wire_yaml_key_is(k, "type"))
				rc = scalar(c, e, "type:", &col->type);
			else
				rc = tm_yaml_bad(c, k, "unknown key in the lookup of column '%s' "
						 "(expected from:, in:, get:, type:)", col->name);
			if (rc < 0) {
				ferry_free(in);
				return rc;
			}
		}
		if (!col->expr || !in) {
			ferry_free(in);
			return tm_yaml_bad(c, v, "lookup of column '%s' needs from: (the source value) "
					   "and in: (TABLE.COLUMN of the target holding it)", col->name);
		}
		if (!(dot = strchr(in, '.')) || dot == in || !dot[1]) {
			rc = tm_yaml_bad(c, v, "lookup of column '%s': in: '%s' must be TABLE.COLUMN",
					 col->name, in);
			ferry_free(in);
			return rc;
		}
		*dot = '\0';
		lk->table = ferry_strdup(in);
		lk->match = ferry_strdup(dot + 1);
		ferry_free(in);
		if (!lk->table || !lk->match)
			return nomem(c);
	}
	return 0;
}

/* default: COLUMN: VALUE -> the expression of a literal in the source's
 * SQL ('text' for any scalar: the target column's type converts it). */
static int parse_defaults(struct tm_mapfile *c, struct relmap_table *t, size_t *cap,
			  struct fy_node *n)
{
	struct fy_node_pair *p;
	void *it = NULL;
	int rc;

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return tm_yaml_bad(c, n, "default: must map target columns to values");
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		struct fy_node *v = fy_node_pair_value(p);
		struct relmap_col *col;
		struct ferry_buf b = FERRY_BUF_INIT;
		char *s;

		if ((rc = add_col(c, t, cap, fy_node_pair_key(p), &col)) < 0)
			return rc;
		if (!v || (fy_node_get_type(v) == FYNT_SCALAR && fy_node_get_scalar_length(v) == 0) ||
		    (fy_node_get_type(v) == FYNT_SCALAR && fy_node_get_style(v) == FYNS_PLAIN &&
		     (!strcmp(fy_node_get_scalar0(v), "~") || !strcmp(fy_node_get_scalar0(v), "null")))) {
			if (!(col->expr = ferry_strdup("NULL")))
				return nomem(c);
			continue;
		}
		if (fy_node_get_type(v) != FYNT_SCALAR)
			return tm_yaml_bad(c, v, "default of column '%s' must be a value", col->name);
		if (!(s = wire_yaml_str(v)))
			return nomem(c);
		rc = wire_sql_literal(&b, s);
		ferry_free(s);
		if (rc < 0 || !(col->expr = ferry_buf_detach(&b, NULL))) {
			ferry_buf_release(&b);
			return nomem(c);
		}
	}
	return 0;
}

static int parse_table(struct tm_mapfile *c, struct relmap_table *t, struct fy_node *k,
		       struct fy_node *v)
{
	struct fy_node_pair *p;
	void *it = NULL;
	size_t cap = 0;
	int rc;

	if ((rc = scalar(c, k, "a target table name", &t->name)) < 0)
		return rc;
	t->line = wire_yaml_line(k);
	t->path = c->path;
	if (!v || fy_node_get_type(v) != FYNT_MAPPING)
		return tm_yaml_bad(c, v ? v : k, "table '%s' must be a mapping with from: and "
				   "columns:", t->name);
	while ((p = fy_node_mapping_iterate(v, &it)) != NULL) {
		struct fy_node *key = fy_node_pair_key(p), *e = fy_node_pair_value(p);

		if (!e)
			return tm_yaml_bad(c, key, "no value");
		if (wire_yaml_key_is(key, "from")) {
			t->from_line = wire_yaml_line(e);
			rc = scalar(c, e, "from:", &t->from);
		} else if (wire_yaml_key_is(key, "key")) {
			t->key_line = wire_yaml_line(e);
			rc = scalar(c, e, "key:", &t->key);
		} else if (wire_yaml_key_is(key, "where")) {
			t->where_line = wire_yaml_line(e);
			rc = scalar(c, e, "where:", &t->where);
		} else if (wire_yaml_key_is(key, "columns")) {
			rc = parse_columns(c, t, &cap, e);
		} else if (wire_yaml_key_is(key, "lookup")) {
			rc = parse_lookups(c, t, &cap, e);
		} else if (wire_yaml_key_is(key, "default")) {
			rc = parse_defaults(c, t, &cap, e);
		} else {
			rc = tm_yaml_bad(c, key, "unknown key in table '%s' (expected from:, key:, "
					 "where:, columns:, lookup:, default:)", t->name);
		}
		if (rc < 0)
			return rc;
	}
	if (!t->from)
		return tm_yaml_bad(c, k, "table '%s' has no from: (a source table or query)",
				   t->name);
	if (!t->ncols)
		return tm_yaml_bad(c, k, "table '%s' maps no column", t->name);
	t->from_sql = is_query(t->from);
	return 0;
}

static struct fy_node *tables_node(struct wire_yaml *y)
{
	struct fy_node *root = y->doc ? fy_document_root(y->doc) : NULL;

	if (!root || fy_node_get_type(root) != FYNT_MAPPING)
		return NULL;
	return fy_node_mapping_lookup_by_string(root, "tables", FY_NT);
}

int copy_relmap_is(const char *path, struct ferry_error *err)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	int rc;

	if ((rc = tm_yaml_load(path, &text, &y, err)) == 0)
		rc = tables_node(&y) != NULL;
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}

int copy_relmap_load(const char *path, struct relmap **out, struct ferry_error *err)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct tm_mapfile c = { path, err };
	struct fy_node *tabs, *root;
	struct fy_node_pair *p;
	struct relmap *m = NULL;
	void *it = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	if ((rc = tm_yaml_load(path, &text, &y, err)) < 0)
		goto out;
	if (!(tabs = tables_node(&y))) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "map '%s' has no top-level tables:", path);
		goto out;
	}
	root = fy_document_root(y.doc);
	while ((p = fy_node_mapping_iterate(root, &it)) != NULL)
		if (!wire_yaml_key_is(fy_node_pair_key(p), "tables")) {
			rc = tm_yaml_bad(&c, fy_node_pair_key(p), "unknown top-level key in a map "
					 "with tables: (a relational map has only tables:)");
			goto out;
		}
	if (fy_node_get_type(tabs) != FYNT_MAPPING || !fy_node_mapping_item_count(tabs)) {
		rc = tm_yaml_bad(&c, tabs, "tables: must map target table names to their specs");
		goto out;
	}
	if (!(m = ferry_calloc(1, sizeof(*m))) || !(m->path = ferry_strdup(path))) {
		rc = nomem(&c);
		goto out;
	}
	c.path = m->path;
	ferry_hash128_hex(text.buf, text.len, m->digest);
	it = NULL;
	while ((p = fy_node_mapping_iterate(tabs, &it)) != NULL) {
		struct relmap_table *t;
		size_t i;

		if (FERRY_GROW(m->t, cap, m->n + 1) < 0) {
			rc = nomem(&c);
			goto out;
		}
		t = &m->t[m->n++];
		memset(t, 0, sizeof(*t));
		if ((rc = parse_table(&c, t, fy_node_pair_key(p), fy_node_pair_value(p))) < 0)
			goto out;
		for (i = 0; i + 1 < m->n; i++)
			if (!strcmp(m->t[i].name, t->name)) {
				rc = tm_yaml_bad(&c, fy_node_pair_key(p), "table '%s' is given twice "
						 "(line %d)", t->name, m->t[i].line);
				goto out;
			}
	}
	/* once the array stops moving */
	for (cap = 0; cap < m->n; cap++)
		pthread_mutex_init(&m->t[cap].lock, NULL);
	m->locks = 1;
	*out = m;
	m = NULL;
	rc = 0;
out:
	copy_relmap_free(m);
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}
