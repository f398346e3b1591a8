/*
 * catalog.c - tables, columns, keys, indexes and views of a store, as
 * connectors describe them and the planner translates them.
 */
#include <string.h>
#include <strings.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "ferry/model.h"

struct ferry_catalog *ferry_catalog_new(void)
{
	return ferry_calloc(1, sizeof(struct ferry_catalog));
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		ferry_free(v[i]);
	ferry_free(v);
}

static void table_release(struct ferry_table *t)
{
	size_t i;

	ferry_free(t->name);
	ferry_free(t->key_label);
	for (i = 0; i < t->nkey_files; i++)
		ferry_free(t->key_files[i]);
	ferry_free(t->key_files);
	ferry_free(t->chunk_order);
	ferry_free(t->plan_digest);
	ferry_free(t->sql);
	for (i = 0; i < t->ncols; i++) {
		ferry_free(t->cols[i].name);
		ferry_free(t->cols[i].decl_type);
		ferry_free(t->cols[i].default_sql);
		ferry_free(t->cols[i].type_sql);
	}
	ferry_free(t->cols);
	for (i = 0; i < t->nidx; i++) {
		struct ferry_index *x = &t->idx[i];

		ferry_free(x->name);
		free_strv(x->cols, x->nparts);
		free_strv(x->exprs, x->nparts);
		ferry_free(x->desc);
		ferry_free(x->where);
		ferry_free(x->sql);
	}
	ferry_free(t->idx);
	for (i = 0; i < t->nfks; i++) {
		struct ferry_fk *f = &t->fks[i];

		free_strv(f->from, f->ncols);
		free_strv(f->to, f->ncols);
		ferry_free(f->ref_table);
		ferry_free(f->on_update);
		ferry_free(f->on_delete);
	}
	ferry_free(t->fks);
}

void ferry_catalog_free(struct ferry_catalog *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->ntables; i++)
		table_release(&c->tables[i]);
	ferry_free(c->tables);
	for (i = 0; i < c->nviews; i++) {
		ferry_free(c->views[i].name);
		ferry_free(c->views[i].sql);
	}
	ferry_free(c->views);
	for (i = 0; i < c->nnotes; i++)
		ferry_free(c->notes[i]);
	ferry_free(c->notes);
	ferry_free(c);
}

int ferry_catalog_add_note(struct ferry_catalog *c, const char *note)
{
	char **v = ferry_realloc(c->notes, (c->nnotes + 1) * sizeof(*v));

	if (!v)
		return FERRY_ENOMEM;
	c->notes = v;
	if (!(v[c->nnotes] = ferry_strdup(note)))
		return FERRY_ENOMEM;
	c->nnotes++;
	return 0;
}

/* Arrays grow one element at a time: catalogs are small and built once. */
static void *append(void **arr, size_t *n, size_t elem)
{
	char *p = ferry_realloc(*arr, (*n + 1) * elem);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + *n * elem, 0, elem);
	return p + (*n)++ * elem;
}

struct ferry_table *ferry_catalog_add_table(struct ferry_catalog *c)
{
	struct ferry_table *t = append((void **)&c->tables, &c->ntables,
				       sizeof(*t));

	if (t) {
		t->rowid_alias = -1;
		t->seq = -1;
	}
	return t;
}

struct ferry_view *ferry_catalog_add_view(struct ferry_catalog *c)
{
	return append((void **)&c->views, &c->nviews, sizeof(struct ferry_view));
}

struct ferry_column *ferry_table_add_column(struct ferry_table *t)
{
	struct ferry_column *col = append((void **)&t->cols, &t->ncols,
					  sizeof(*col));

	if (col)
		col->typmod = -1;
	return col;
}

struct ferry_index *ferry_table_add_index(struct ferry_table *t)
{
	return append((void **)&t->idx, &t->nidx, sizeof(struct ferry_index));
}

struct ferry_fk *ferry_table_add_fk(struct ferry_table *t)
{
	return append((void **)&t->fks, &t->nfks, sizeof(struct ferry_fk));
}

int ferry_index_add_part(struct ferry_index *x, char *col, char *expr, int desc)
{
	char **c = NULL, **e = NULL;
	int *d = NULL;

	/* out of memory upstream: a part with neither would pass for a column */
	if ((col || expr) && (c = ferry_realloc(x->cols, (x->nparts + 1) * sizeof(*c))))
		x->cols = c;
	if (c && (e = ferry_realloc(x->exprs, (x->nparts + 1) * sizeof(*e))))
		x->exprs = e;
	if (e && (d = ferry_realloc(x->desc, (x->nparts + 1) * sizeof(*d))))
		x->desc = d;
	if (!d) {
		ferry_free(col);
		ferry_free(expr);
		return FERRY_ENOMEM;
	}
	c[x->nparts] = col;
	e[x->nparts] = expr;
	d[x->nparts] = desc;
	x->nparts++;
	return 0;
}

int ferry_fk_add_column(struct ferry_fk *fk, char *from, char *to)
{
	char **f = NULL, **t = NULL;

	if (from && (f = ferry_realloc(fk->from, (fk->ncols + 1) * sizeof(*f))))
		fk->from = f;
	if (f && (t = ferry_realloc(fk->to, (fk->ncols + 1) * sizeof(*t))))
		fk->to = t;
	if (!t) {
		ferry_free(from);
		ferry_free(to);
		return FERRY_ENOMEM;
	}
	f[fk->ncols] = from;
	t[fk->ncols] = to;
	fk->ncols++;
	return 0;
}

struct ferry_table *ferry_catalog_find_exact(const struct ferry_catalog *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ntables; i++)
		if (!strcmp(c->tables[i].name, name))
			return &c->tables[i];
	return NULL;
}

struct ferry_table *ferry_catalog_target(const struct ferry_catalog *tcat,
					 const struct ferry_catalog *scat, const char *name)
{
	return scat->exact_names ? ferry_catalog_find_exact(tcat, name)
				 : ferry_catalog_find(tcat, name);
}

struct ferry_table *ferry_catalog_find(const struct ferry_catalog *c,
				       const char *name)
{
	struct ferry_table *t = ferry_catalog_find_exact(c, name);
	size_t i;

	if (t)
		return t;
	for (i = 0; i < c->ntables; i++)
		if (!strcasecmp(c->tables[i].name, name))
			return &c->tables[i];
	return NULL;
}

int ferry_table_find_column(const struct ferry_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return (int)i;
	for (i = 0; i < t->ncols; i++)
		if (!strcasecmp(t->cols[i].name, name))
			return (int)i;
	return -1;
}

int ferry_pg_system_column(const char *name)
{
	static const char *const sys[] = { "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid" };
	size_t i;

	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (!strcmp(name, sys[i]))
			return 1;
	return 0;
}
