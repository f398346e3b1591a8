/*
 * live.c - the layout of `ferry copy` for points that arrive one at a time
 * (the relay's PostgreSQL sink).  The options are struct ferry_ts_opts, as
 * for a copy; they become the same struct tm_opts that reader.c reads from
 * a source URL (tm_opts_from_url), and the table and its rows come from
 * the same builders (tm_layout_build, tm_layout_catalog, tm_rows_add), so
 * a live row is the row the backfill writes for the same point.
 *
 * narrow (one row per field, whatever the measurement) and a map file
 * (the user's table) are one table known up front.  The wide layout makes
 * a table per measurement with a column per tag and field seen in the
 * whole source, which a stream of points cannot know: live it grows as
 * points arrive (tm_wide_grow in mapping.c, with build_wide's names and
 * types), and tm_live_route() tells the caller which table a point goes
 * to and how many columns it has now, so that the caller can create the
 * table or add the columns before it writes the point's row.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/tsmap.h"
#include "tsmap/tm_int.h"

struct tm_live {
	struct tm_opts o;
	struct tm_layout lay;
	struct tm_rows rows;
	char *table, *map, *series_tag;   /* the options' strings, owned */
	struct tm_pmap *pm;               /* the map file's points: rules, or NULL */
	const char **names;
	int *types;
};

void tm_live_close(struct tm_live *l)
{
	if (!l)
		return;
	tm_rows_release(&l->rows);
	tm_layout_release(&l->lay);
	tm_pmap_free(l->pm);
	ferry_free(l->table);
	ferry_free(l->map);
	ferry_free(l->series_tag);
	ferry_free(l->names);
	ferry_free(l->types);
	ferry_free(l);
}

static char *dup_or_null(const char *s, int *e)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = ferry_strdup(s)))
		*e = 1;
	return d;
}

int tm_live_open(const struct ferry_ts_opts *t, struct tm_live **out, struct ferry_error *err)
{
	struct tm_live *l = ferry_calloc(1, sizeof(*l));
	struct tm_opts *o;
	const struct tm_table *tb;
	size_t k;
	int rc = 0, e = 0;

	*out = NULL;
	if (!l)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	o = &l->o;
	/* the defaults of tm_opts_from_url(), from the struct instead of a URL */
	l->table = dup_or_null(t ? t->table : NULL, &e);
	l->map = dup_or_null(t ? t->map : NULL, &e);
	l->series_tag = dup_or_null(t ? t->series_tag : NULL, &e);
	if (e) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	o->layout = t && t->layout ? t->layout : "narrow";
	o->map_path = l->map;
	/* as tm_opts_from_url: a table map is its own layout, a point map
	 * maps the points before --layout's */
	if (l->map) {
		int tab;

		if ((rc = tm_map_kinds(l->map, &o->has_points, &tab, err)) < 0)
			goto fail;
		if (!(t && t->layout)) {
			o->layout = tab || !o->has_points ? "map" : "narrow";
		} else if (tab && strcmp(o->layout, "map")) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "map '%s' loads into its target: "
					     "table, so --layout %s does not apply", l->map,
					     o->layout);
			goto fail;
		}
		if (o->has_points && (rc = tm_pmap_load(l->map, &l->pm, err)) < 0)
			goto fail;
	}
	o->table = l->table ? l->table : "telemetry_data";
	o->series_tag = l->series_tag;
	o->keep_ns = t ? t->keep_ns : 0;
	o->src.precision = LP_PREC_NS;
	if (!strcmp(o->layout, "wide")) {
		o->layout = "wide";   /* t's string dies; no table until a point comes */
		l->rows.o = o;
		*out = l;
		return 0;
	}
	if (strcmp(o->layout, "narrow") && strcmp(o->layout, "map")) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "unknown layout '%s': use narrow, wide, or --map FILE", o->layout);
		goto fail;
	}
	if (!strcmp(o->layout, "map") && !o->map_path) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "the map layout needs --map FILE");
		goto fail;
	}
	o->layout = !strcmp(o->layout, "map") ? "map" : "narrow";  /* t's string dies */
	if ((rc = tm_layout_build(&l->lay, o, NULL, NULL, 0, err)) < 0)
		goto fail;
	if (l->lay.n != 1) {
		rc = ferry_error_set(err, FERRY_EINVAL, "the live layout has %zu tables, not one",
				     l->lay.n);
		goto fail;
	}
	tb = &l->lay.t[0];
	l->names = ferry_calloc(tb->ncols ? tb->ncols : 1, sizeof(*l->names));
	l->types = ferry_calloc(tb->ncols ? tb->ncols : 1, sizeof(*l->types));
	if (!l->names || !l->types) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	for (k = 0; k < tb->ncols; k++) {
		l->names[k] = tb->cols[k].name;
		l->types[k] = tb->cols[k].type;
	}
	l->rows.t = tb;
	l->rows.o = o;
	*out = l;
	return 0;
fail:
	tm_live_close(l);
	return rc;
}

int tm_live_catalog(struct tm_live *l, struct ferry_catalog **out, struct ferry_error *err)
{
	return tm_layout_catalog(&l->lay, &l->o, out, err);
}

const char *tm_live_table(const struct tm_live *l)
{
	return l->lay.t[0].name;
}

size_t tm_live_columns(const struct tm_live *l, const char *const **names, const int **types)
{
	if (names)
		*names = l->names;
	if (types)
		*types = l->types;
	return l->lay.t[0].ncols;
}

int tm_live_rows(struct tm_live *l, const struct tm_point *p, struct ferry_batch *b,
		 tm_row_reject_fn rej, void *ud, struct ferry_error *err)
{
	l->rows.b = b;
	l->rows.reject = rej;
	l->rows.reject_ud = ud;
	return tm_rows_add(&l->rows, p, err);
}

int tm_live_wide(const struct tm_live *l)
{
	return !strcmp(l->o.layout, "wide");
}

size_t tm_live_ntables(const struct tm_live *l)
{
	return l->lay.n;
}

const char *tm_live_table_at(const struct tm_live *l, size_t table)
{
	return l->lay.t[table].name;
}

size_t tm_live_ncols_at(const struct tm_live *l, size_t table)
{
	return l->lay.t[table].ncols;
}

int tm_live_route(struct tm_live *l, const struct tm_point *p, size_t *table, char *why,
		  size_t nwhy, struct ferry_error *err)
{
	int rc;

	*table = 0;
	if (!tm_live_wide(l))
		return 0;
	if ((rc = tm_wide_grow(&l->lay, &l->o, p, table, why, nwhy)) == FERRY_ENOMEM)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rc;
}

int tm_live_adopt_type(struct tm_live *l, size_t table, const char *name, int type)
{
	struct tm_table *t;
	unsigned have = tm_wide_types_of(type);
	int k;

	if (!tm_live_wide(l) || table >= l->lay.n)
		return 0;
	t = &l->lay.t[table];
	if ((k = tm_table_col(t, name)) < 0 || t->cols[k].from != TF_WIDE_FIELD)
		return 0;
	/* only wider (a narrower column refuses, by its conversions, just
	 * the values it cannot hold exactly) */
	if (!have || t->cols[k].type == type || tm_wide_type(t->cols[k].ftypes | have) != type)
		return 0;
	t->cols[k].type = type;
	t->cols[k].ftypes |= have;
	return 1;
}

int tm_live_catalog_at(struct tm_live *l, size_t table, struct ferry_catalog **out,
		       struct ferry_error *err)
{
	/* one table of the layout, without the notes (said when it grew) */
	struct tm_layout one = { &l->lay.t[table], 1, NULL, 0 };

	return tm_layout_catalog(&one, &l->o, out, err);
}

int tm_live_rows_at(struct tm_live *l, size_t table, const struct tm_point *p,
		    struct ferry_batch *b, tm_row_reject_fn rej, void *ud, struct ferry_error *err)
{
	l->rows.t = &l->lay.t[table];   /* the tables move as the layout grows */
	return tm_live_rows(l, p, b, rej, ud, err);
}

const struct tm_pmap *tm_live_pmap(const struct tm_live *l)
{
	return l->pm;
}

int tm_live_user_table(const struct tm_live *l)
{
	return !tm_live_wide(l) && l->lay.n == 1 && l->lay.t[0].exists;
}
