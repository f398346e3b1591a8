/*
 * relmap.c - the copy plan of a relational map, its load order and its
 * lookups (see relmap.h).
 */
#include <ctype.h>
#include <string.h>

#include "copy/relmap.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"

/* ---- lookups: text -> text, open addressing ------------------------------ */

struct rm_entry {
	char *key, *val;   /* val NULL: SQL NULL */
	uint64_t h;
};

struct rm_dict {
	struct rm_entry *e;
	size_t n, cap;     /* cap a power of two */
};

static void dict_free(struct rm_dict *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->cap; i++) {
		ferry_free(d->e[i].key);
		ferry_free(d->e[i].val);
	}
	ferry_free(d->e);
	ferry_free(d);
}

static struct rm_entry *dict_slot(const struct rm_dict *d, const char *k, size_t n, uint64_t h)
{
	size_t i = (size_t)h & (d->cap - 1);

	while (d->e[i].key && (d->e[i].h != h || strlen(d->e[i].key) != n ||
			       memcmp(d->e[i].key, k, n)))
		i = (i + 1) & (d->cap - 1);
	return &d->e[i];
}

static int dict_put(struct rm_dict *d, const char *k, const char *v)
{
	struct rm_entry *s;
	size_t n = strlen(k);
	uint64_t h = ferry_hash64(k, n);

	if (2 * (d->n + 1) > d->cap) {
		struct rm_dict g = { NULL, 0, d->cap ? d->cap * 2 : 64 };
		size_t i;

		if (!(g.e = ferry_calloc(g.cap, sizeof(*g.e))))
			return FERRY_ENOMEM;
		for (i = 0; i < d->cap; i++)
			if (d->e[i].key)
				*dict_slot(&g, d->e[i].key, strlen(d->e[i].key), d->e[i].h) = d->e[i];
		ferry_free(d->e);
		d->e = g.e;
		d->cap = g.cap;
	}
	s = dict_slot(d, k, n, h);
	if (s->key) {   /* the last pair wins */
		ferry_free(s->val);
	} else {
		if (!(s->key = ferry_strdup(k)))
			return FERRY_ENOMEM;
		s->h = h;
		d->n++;
	}
	s->val = v ? ferry_strdup(v) : NULL;
	return v && !s->val ? FERRY_ENOMEM : 0;
}

void copy_relmap_free(struct relmap *m)
{
	size_t i, k;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		struct relmap_table *t = &m->t[i];

		for (k = 0; k < t->ncols; k++) {
			ferry_free(t->cols[k].name);
			ferry_free(t->cols[k].expr);
			ferry_free(t->cols[k].type);
		}
		ferry_free(t->cols);
		for (k = 0; k < t->nlookups; k++) {
			ferry_free(t->lookups[k].table);
			ferry_free(t->lookups[k].match);
			ferry_free(t->lookups[k].get);
			dict_free(t->lookups[k].dict);
		}
		ferry_free(t->lookups);
		ferry_free(t->name);
		ferry_free(t->from);
		ferry_free(t->key);
		ferry_free(t->where);
		ferry_free(t->query.exprs);
		ferry_free(t->src.cols);
		ferry_free(t->src.key_label);
		if (m->locks)
			pthread_mutex_destroy(&t->lock);
	}
	ferry_free(m->t);
	ferry_free(m->gate);
	ferry_free(m->path);
	ferry_free(m);
}

/* ---- checking the map against the source ---------------------------------- */

struct probe_ctx {
	const struct relmap_table *t;
	ferry_conn *src;
	const struct ferry_conn_ops *ops;
};

/* Run SELECT (expr) FROM from [WHERE (where)] LIMIT 0 on the source: a
 * missing table or column, or an expression the source refuses, fails
 * here naming its map line rather than in the middle of the load. */
static int probe(struct probe_ctx *pc, const char *expr, int with_where, int line,
		 const char *what, struct ferry_error *err)
{
	const struct relmap_table *t = pc->t;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	int berr = 0, rc;

	berr |= ferry_buf_addstr(&sql, "SELECT (");
	berr |= ferry_buf_addstr(&sql, expr);
	berr |= ferry_buf_addstr(&sql, "\n) FROM ");
	if (t->from_sql) {
		berr |= ferry_buf_addch(&sql, '(');
		berr |= ferry_buf_addstr(&sql, t->from);
		berr |= ferry_buf_addstr(&sql, "\n) AS ferry_q");
	} else {
		berr |= pc->ops->quote_ident(t->from, &sql);
	}
	if (with_where && t->where) {
		berr |= ferry_buf_addstr(&sql, " WHERE (");
		berr |= ferry_buf_addstr(&sql, t->where);
		berr |= ferry_buf_addstr(&sql, "\n)");
	}
	berr |= ferry_buf_addstr(&sql, " LIMIT 0");
	if (berr < 0 || ferry_buf_error(&sql)) {
		ferry_buf_release(&sql);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = pc->ops->query(pc->src, sql.buf, NULL, 0, NULL, NULL, &e);
	ferry_buf_release(&sql);
	if (rc < 0 && rc != FERRY_ECONN)
		return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: table '%s': %s: %s",
				       t->path, line, t->name, what, e.msg);
	if (rc < 0)
		*err = e;
	return rc;
}

static int is_ident(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Build t's source query and table; check it against the source. */
static int build_source(struct relmap_table *t, ferry_conn *src,
			const struct ferry_catalog *scat, struct ferry_error *err)
{
	struct probe_ctx pc = { t, src, ferry_conn_ops_of(src) };
	const struct ferry_table *st = NULL;
	size_t i;
	int rc;

	if (!t->from_sql && !(st = ferry_catalog_find(scat, t->from)))
		return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: table '%s': source "
				       "table '%s' does not exist", t->path, t->from_line, t->name,
				       t->from);
	if ((rc = probe(&pc, "1", 0, t->from_line, t->from_sql ? "the from: query failed" :
			"from: cannot be read", err)) < 0)
		return rc;
	if (t->where && (rc = probe(&pc, "1", 1, t->where_line, "where: failed", err)) < 0)
		return rc;
	if (!t->key && st) {
		size_t npk = 0;
		int pk = -1;

		for (i = 0; i < st->ncols; i++)
			if (st->cols[i].pk_pos) {
				npk++;
				pk = (int)i;
			}
		if ((pc.ops->caps & FERRY_CAP_UNTYPED) && !st->without_rowid) {
			if (!(t->key = ferry_strdup("rowid")))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		} else if (npk == 1 && (st->cols[pk].type == FERRY_T_INT64 ||
					st->cols[pk].type == FERRY_T_INT32 ||
					st->cols[pk].type == FERRY_T_INT16 ||
					strcasestr(st->cols[pk].decl_type, "INT"))) {
			struct ferry_buf q = FERRY_BUF_INIT;

			if (pc.ops->quote_ident(st->cols[pk].name, &q) < 0 ||
			    !(t->key = ferry_buf_detach(&q, NULL))) {
				ferry_buf_release(&q);
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
		}
		t->key_line = t->from_line;
	}
	if (t->key && (rc = probe(&pc, t->key, 0, t->key_line, "key: failed", err)) < 0)
		return rc;
	t->query.exprs = ferry_calloc(t->ncols + 1, sizeof(char *));
	t->src.cols = ferry_calloc(t->ncols + 1, sizeof(*t->src.cols));
	if (!t->query.exprs || !t->src.cols)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < t->ncols; i++) {
		char what[160];

		snprintf(what, sizeof(what), "column '%s' (%.80s) failed", t->cols[i].name,
			 t->cols[i].expr);
		if ((rc = probe(&pc, t->cols[i].expr, 0, t->cols[i].line, what, err)) < 0)
			return rc;
		t->query.exprs[i] = t->cols[i].expr;
		t->src.cols[i].name = t->cols[i].name;
		t->src.cols[i].decl_type = (char *)"";
	}
	t->query.from = t->from;
	t->query.from_sql = t->from_sql;
	t->query.key = t->key;
	t->query.where = t->where;
	t->src.name = t->name;
	t->src.ncols = t->ncols;
	t->src.rowid_alias = -1;
	t->src.seq = -1;
	t->src.without_rowid = t->key == NULL;
	t->src.query = &t->query;
	if (!(t->src.key_label = ferry_strdup(!t->key ? "row" : is_ident(t->key) ? t->key : "key")))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* ---- load order ------------------------------------------------------------ */

static int find_table(const struct relmap *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->t[i].name, name))
			return (int)i;
	return -1;
}

/* Does table a wait for table b (a lookup in b, or with fks, a foreign
 * key of a's target table to b)?  *line: the lookup's map line. */
static int waits_for(const struct relmap *m, size_t a, size_t b, const struct ferry_catalog *tcat,
		     int fks, int *line)
{
	const struct relmap_table *t = &m->t[a];
	const struct ferry_table *tt;
	size_t k;

	if (a == b)
		return 0;
	for (k = 0; k < t->nlookups; k++)
		if (!strcmp(t->lookups[k].table, m->t[b].name)) {
			*line = t->lookups[k].line;
			return 1;
		}
	if (fks && tcat && (tt = ferry_catalog_find(tcat, t->name)) != NULL)
		for (k = 0; k < tt->nfks; k++)
			if (!strcmp(tt->fks[k].ref_table, m->t[b].name)) {
				*line = t->line;
				return 1;
			}
	return 0;
}

/* Levels: 0 for a table that waits for none, else one more than the
 * highest it waits for.  Lookups and foreign keys order the tables; a
 * cycle through foreign keys alone is allowed (they are off during the
 * load), one of lookups is an error naming their lines. */
static int order(struct relmap *m, const struct ferry_catalog *tcat, struct ferry_error *err)
{
	size_t i, j, done = 0, pass;
	int *lvl = ferry_calloc(m->n + 1, sizeof(int)), line;
	struct relmap_table *sorted;
	int rc = 0;

	if (!lvl)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (pass = 0; pass < 2; pass++) {
		int fks = pass == 0;

		for (i = 0; i < m->n; i++)
			lvl[i] = -1;
		for (done = 0;;) {
			size_t before = done;

			for (i = 0; i < m->n; i++) {
				int l = 0, ready = 1;

				if (lvl[i] >= 0)
					continue;
				for (j = 0; j < m->n && ready; j++)
					if (waits_for(m, i, j, tcat, fks, &line)) {
						if (lvl[j] < 0)
							ready = 0;
						else if (lvl[j] + 1 > l)
							l = lvl[j] + 1;
					}
				if (ready) {
					lvl[i] = l;
					done++;
				}
			}
			if (done == m->n || done == before)
				break;
		}
		if (done == m->n)
			break;
	}
	if (done < m->n) {
		struct ferry_buf b = FERRY_BUF_INIT;

		for (i = 0; i < m->n; i++) {
			if (lvl[i] >= 0)
				continue;
			for (j = 0; j < m->n; j++)
				if (lvl[j] < 0 && waits_for(m, i, j, tcat, 0, &line))
					(void)!ferry_buf_addf(&b, "%s'%s' looks up '%s' (line %d)",
							      b.len ? ", " : "", m->t[i].name,
							      m->t[j].name, line);
		}
		rc = ferry_error_set(err, FERRY_EUSAGE, "map '%s': the lookups make a cycle, no "
				     "table of it can load first: %s", m->path, b.buf ? b.buf : "");
		ferry_buf_release(&b);
		ferry_free(lvl);
		return rc;
	}
	if (!(sorted = ferry_calloc(m->n, sizeof(*sorted)))) {
		ferry_free(lvl);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* by level, the map's order within one (a stable pass per level);
	 * the tables' own query pointers move with them (fixed below) */
	{
		size_t k = 0;
		int l;

		for (l = 0; k < m->n; l++)
			for (i = 0; i < m->n; i++)
				if (lvl[i] == l) {
					sorted[k] = m->t[i];
					sorted[k++].level = l;
				}
	}
	/* a mutex is not moved: a new one at the new place (none is held) */
	for (i = 0; i < m->n; i++)
		pthread_mutex_destroy(&m->t[i].lock);
	ferry_free(m->t);
	m->t = sorted;
	for (i = 0; i < m->n; i++) {
		m->t[i].src.query = &m->t[i].query;
		pthread_mutex_init(&m->t[i].lock, NULL);
	}
	ferry_free(lvl);
	return 0;
}

/* SQL on ferry.progress p (checkpoint.c's claim): a chunk of a table of
 * level L waits until no chunk of a lower level is pending. */
static int make_gate(struct relmap *m, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i, first = 0;
	int berr = 0, any = 0;

	berr |= ferry_buf_addstr(&b, "NOT EXISTS (SELECT 1 FROM ferry.progress g WHERE g.job = "
				 "p.job AND g.state = 'pending' AND g.stream_no < CASE p.stream_no");
	for (i = 0; i < m->n; i++) {
		if (i && m->t[i].level != m->t[i - 1].level)
			first = i;
		if (first) {
			berr |= ferry_buf_addf(&b, " WHEN %zu THEN %zu", i, first);
			any = 1;
		}
	}
	berr |= ferry_buf_addstr(&b, " ELSE 0 END)");
	if (berr < 0 || ferry_buf_error(&b)) {
		ferry_buf_release(&b);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (any)
		m->gate = ferry_buf_detach(&b, NULL);
	ferry_buf_release(&b);
	return 0;
}

/* ---- the plan ------------------------------------------------------------- */

/* A column's type in a table the map creates: type:, else the source
 * column's when the expression names one of a from: table, else text. */
static int created_type(struct plan *pl, const struct relmap_table *t, const struct relmap_col *mc,
			struct col_plan *cp, const struct ferry_catalog *scat,
			struct ferry_error *err)
{
	const struct ferry_table *st = t->from_sql ? NULL : ferry_catalog_find(scat, t->from);
	int ty, c;
	int32_t tm;

	if (mc->type) {
		if (plan_parse_type_sql(mc->type, &ty, &tm) < 0 || ty == FERRY_T_UNKNOWN)
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: column '%s.%s': "
					       "type '%s' is not one ferry can load", t->path, mc->line,
					       t->name, mc->name, mc->type);
		plan_col_type(cp, ty, tm);
		return 0;
	}
	if (st && (c = ferry_table_find_column(st, mc->expr)) >= 0) {
		if (st->cols[c].type != FERRY_T_UNKNOWN)
			plan_col_type(cp, st->cols[c].type, st->cols[c].typmod);
		else
			plan_col_decl(cp, st->cols[c].decl_type);
		if (cp->type == FERRY_T_BYTES && !st->cols[c].decl_type[0])
			plan_col_type(cp, FERRY_T_TEXT, -1);
		return 0;
	}
	plan_col_type(cp, FERRY_T_TEXT, -1);
	plan_strv_pushf(&pl->warnings, "map %s line %d: column '%s.%s' is created as text: give "
			"it a type: ({expr: ..., type: ...}) to have another", t->path, mc->line,
			t->name, mc->name);
	return 0;
}

static int plan_one(struct plan *pl, struct table_plan *tp, struct relmap_table *t,
		    const struct ferry_catalog *scat, const struct ferry_table *target,
		    const struct relmap *m, struct ferry_error *err)
{
	size_t i;
	int rc;

	tp->src = &t->src;
	tp->map = t;
	tp->exists = target != NULL;
	if (!(tp->dst_name = ferry_strdup(t->name)) ||
	    !(tp->cols = ferry_calloc(t->ncols + 1, sizeof(*tp->cols))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	tp->ncols = t->ncols;
	for (i = 0; i < t->ncols; i++) {
		struct relmap_col *mc = &t->cols[i];
		struct col_plan *cp = &tp->cols[i];

		cp->src_name = mc->name;
		cp->typmod = -1;
		cp->map_line = mc->line;
		if (!(cp->dst_name = ferry_strdup(mc->name)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (target) {
			int tc = ferry_table_find_column(target, mc->name), ty;
			int32_t tm;

			if (tc < 0)
				return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: target "
						       "table '%s' has no column '%s'", t->path,
						       mc->line, t->name, mc->name);
			if (target->cols[tc].type == FERRY_T_UNKNOWN)
				return ferry_error_set(err, FERRY_EUNSUPPORTED, "map '%s' line %d: "
						       "column '%s.%s': target type '%s' is not "
						       "supported yet", t->path, mc->line, t->name,
						       mc->name, target->cols[tc].type_sql);
			if (plan_parse_type_sql(target->cols[tc].type_sql, &ty, &tm) < 0)
				ty = target->cols[tc].type, tm = -1;
			plan_col_type(cp, target->cols[tc].type, ty == target->cols[tc].type ? tm : -1);
			cp->notnull = target->cols[tc].notnull;
		} else if ((rc = created_type(pl, t, mc, cp, scat, err)) < 0) {
			return rc;
		}
		if (!cp->type_sql)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* a NOT NULL column the map leaves to a default it lacks fails every
	 * row: say so now */
	for (i = 0; target && i < target->ncols; i++) {
		const struct ferry_column *c = &target->cols[i];
		size_t k;

		for (k = 0; k < t->ncols && strcmp(t->cols[k].name, c->name); k++)
			;
		if (k == t->ncols && c->notnull && !c->default_sql && !c->identity && !c->hidden)
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: table '%s': "
					       "column '%s' is NOT NULL without a default: map it "
					       "under columns: or default:", t->path, t->line, t->name,
					       c->name);
	}
	/* lookups: the table and columns must exist in the target (or be
	 * created by the map) */
	for (i = 0; i < t->nlookups; i++) {
		struct relmap_lookup *lk = &t->lookups[i];
		const struct ferry_table *lt = NULL;
		int in_map = find_table(m, lk->table) >= 0;
		size_t k;

		for (k = 0; k < t->ncols; k++)
			if (t->cols[k].lookup == (int)i)
				lk->col = k;
		if (!in_map && !(lt = m->tcat ? ferry_catalog_find(m->tcat, lk->table) : NULL))
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: lookup in table "
					       "'%s', which neither the target nor the map has",
					       t->path, lk->line, lk->table);
		if (!lt && m->tcat)
			lt = ferry_catalog_find(m->tcat, lk->table);
		if (!lk->get && lt) {
			for (k = 0; k < lt->ncols && lt->cols[k].pk_pos != 1; k++)
				;
			if (k < lt->ncols)
				lk->get = ferry_strdup(lt->cols[k].name);
		}
		if (!lk->get)
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: lookup in '%s': "
					       "give get: (the column whose value to take; '%s' has "
					       "no primary key to default to)", t->path, lk->line,
					       lk->table, lk->table);
		if (lt && (ferry_table_find_column(lt, lk->match) < 0 ||
			   ferry_table_find_column(lt, lk->get) < 0))
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: lookup: target "
					       "table '%s' has no column '%s'", t->path, lk->line,
					       lk->table, ferry_table_find_column(lt, lk->match) < 0 ?
					       lk->match : lk->get);
	}
	return 0;
}

int copy_relmap_plan(struct plan *pl, struct relmap *m, ferry_conn *src,
		const struct ferry_catalog *scat, const struct ferry_catalog *tcat,
		const char *schema, int verify, struct ferry_error *err)
{
	const struct ferry_conn_ops *sops = ferry_conn_ops_of(src);
	size_t i;
	int rc;

	(void)schema;
	memset(pl, 0, sizeof(*pl));
	if (!(sops->caps & FERRY_CAP_QUERY) || !sops->query || !sops->quote_ident)
		return ferry_error_set(err, FERRY_EUSAGE, "map '%s' has tables: (a relational map), "
				       "which reads its source with queries: %s sources cannot run "
				       "them yet", m->path, sops->name);
	m->tcat = tcat;
	for (i = 0; i < m->n; i++)
		if ((rc = build_source(&m->t[i], src, scat, err)) < 0)
			return rc;
	if ((rc = order(m, tcat, err)) < 0 || (rc = make_gate(m, err)) < 0)
		return rc;
	if (!(pl->tables = ferry_calloc(m->n + 1, sizeof(*pl->tables))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < m->n; i++) {
		const struct ferry_table *target = tcat ? ferry_catalog_find(tcat, m->t[i].name) : NULL;

		if (verify && !target)
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' line %d: target table "
					       "'%s' does not exist", m->path, m->t[i].line,
					       m->t[i].name);
		pl->ntables++;
		if ((rc = plan_one(pl, &pl->tables[i], &m->t[i], scat, target, m, err)) < 0)
			return rc;
		pl->tables[i].index = (int)i;
	}
	return 0;
}

/* ---- lookups at load time ---------------------------------------------------- */

struct load_ud {
	struct rm_dict *d;
};

static int put_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct load_ud *l = ud;

	if (ncols < 2 || !vals[0])
		return 0;  /* a NULL is never looked up */
	if (dict_put(l->d, vals[0], vals[1]) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

int copy_relmap_lookups(struct relmap_table *t, ferry_conn *dst, const char *schema,
			struct ferry_error *err)
{
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	size_t i;
	int rc = 0;

	if (!t->nlookups)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nlookups && !t->loaded && rc == 0; i++) {
		struct relmap_lookup *lk = &t->lookups[i];
		struct ferry_buf sql = FERRY_BUF_INIT;
		struct load_ud l;
		int berr = 0;

		dict_free(lk->dict);
		if (!(lk->dict = ferry_calloc(1, sizeof(*lk->dict)))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		l.d = lk->dict;
		berr |= ferry_buf_addstr(&sql, "SELECT ");
		berr |= ops->quote_ident(lk->match, &sql);
		berr |= ferry_buf_addstr(&sql, ", ");
		berr |= ops->quote_ident(lk->get, &sql);
		berr |= ferry_buf_addstr(&sql, " FROM ");
		if (schema && (ops->caps & FERRY_CAP_SCHEMAS)) {
			berr |= ops->quote_ident(schema, &sql);
			berr |= ferry_buf_addch(&sql, '.');
		}
		berr |= ops->quote_ident(lk->table, &sql);
		if (berr < 0 || ferry_buf_error(&sql))
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else if ((rc = ops->query(dst, sql.buf, NULL, 0, put_row, &l, err)) < 0)
			ferry_error_prefix(err, "map '%s' line %d: lookup in '%s.%s'", t->path,
					   lk->line, lk->table, lk->match);
		else
			ferry_debug("lookup %s.%s -> %s: %zu pairs", lk->table, lk->match, lk->get,
				    lk->dict->n);
		ferry_buf_release(&sql);
	}
	if (rc == 0)
		t->loaded = 1;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* The text a value is looked up by: as the target prints it. */
static int cell_text(const struct ferry_batch *b, const struct ferry_cell *c, struct ferry_buf *o)
{
	ferry_buf_clear(o);
	switch (c->kind) {
	case FERRY_V_INT:
		return ferry_buf_addf(o, "%lld", (long long)c->v.i);
	case FERRY_V_REAL:
		return ferry_buf_addf(o, "%.17g", c->v.d);
	default:
		return ferry_buf_add(o, ferry_cell_bytes(b, c), c->len);
	}
}

int copy_relmap_apply(const struct relmap_table *t, const struct table_plan *tp,
		 struct ferry_batch *b, struct rejects *rej, struct ferry_error *err)
{
	struct ferry_buf k = FERRY_BUF_INIT;
	size_t r, i;
	int rejected = 0, rc = 0;

	for (r = 0; r < b->nrows && rc == 0; r++) {
		if (b->skip[r])
			continue;
		for (i = 0; i < t->nlookups; i++) {
			const struct relmap_lookup *lk = &t->lookups[i];
			struct ferry_cell *c = ferry_batch_cell(b, r, lk->col);
			struct rm_entry *e;

			if (c->kind == FERRY_V_NULL)
				continue;
			if (lk->dict && !lk->dict->cap)
				goto miss;
			if (!lk->dict || cell_text(b, c, &k) < 0 || ferry_buf_error(&k)) {
				rc = ferry_error_set(err, lk->dict ? FERRY_ENOMEM : FERRY_EINVAL,
						     lk->dict ? "out of memory" :
						     "lookups of table '%s' were not read", t->name);
				break;
			}
			e = dict_slot(lk->dict, k.buf ? k.buf : "", k.len,
				      ferry_hash64(k.buf ? k.buf : "", k.len));
			if (e->key) {
				if (!e->val)
					c->kind = FERRY_V_NULL;
				else if ((rc = ferry_cell_set_bytes(b, c, FERRY_V_TEXT, e->val,
								    strlen(e->val))) < 0)
					rc = ferry_error_set(err, rc, "out of memory");
				continue;
			}
miss:
			{
				char key[512], reason[400];

				xf_key_json(tp->src, b->keys[r], key, sizeof(key));
				snprintf(reason, sizeof(reason), "lookup found nothing: no row of "
					 "'%s' has %s = '%.100s' (map %s line %d)", lk->table,
					 lk->match, k.buf ? k.buf : "", t->path, lk->line);
				if ((rc = rej_add(rej, tp->src->name, key, t->cols[lk->col].name,
						  reason, c->kind, k.buf ? k.buf : "", k.len, err)) < 0)
					break;
			}
			b->skip[r] = 1;
			b->nskipped++;
			rejected++;
			break;
		}
	}
	ferry_buf_release(&k);
	return rc < 0 ? rc : rejected;
}
