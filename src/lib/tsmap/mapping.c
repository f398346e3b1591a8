/*
 * mapping.c - from points to rows: the narrow and wide layouts, a user's
 * map file, and the row builder the point reader (reader.c) calls per point.
 *
 * narrow (default): one row per field in telemetry_data(time, series,
 *   measurement, field, numeric_value, integer_value, text_value,
 *   boolean_value, tags).  A float goes to numeric_value; an integer to
 *   integer_value, and to numeric_value too when a double holds it
 *   exactly (|i| <= 2^53, and beyond that e.g. 2^60), so averages
 *   over a field whose type changed between shards still see every
 *   value.
 * wide: one table per measurement, a text column per tag ('' when a
 *   point lacks it, as InfluxQL treats it) and a typed column per field.
 *   A field seen with several types gets the type that holds all of them
 *   exactly (integer+float: double precision, an integer it cannot hold
 *   is a reject; integer+unsigned: numeric; anything with string or
 *   boolean: text) and the choice is reported.  A field named like a tag
 *   becomes "<name>_field", reported too.
 * map: one row per field into the user's table; columns say where their
 *   value comes from (time, tag.X, tags, "{measurement}.{field}",
 *   value.numeric/.integer/.text/.boolean, value, value.json, ...).  The
 *   target's own types decide, and a value that does not fit is a reject.
 *   A field that no column can take is a reject too, never dropped.
 *
 * Times: timestamptz keeps microseconds; nanoseconds are floored and the
 * points that had any are counted; keep_ns adds time_ns bigint.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "model/value.h"
#include "tsmap/tm_int.h"
#include "wire/lineproto.h"
#include "wire/yaml.h"

#define PG_EPOCH_US 946684800000000LL  /* 2000-01-01 - 1970-01-01 */


/* ---- layouts -------------------------------------------------------------- */

void tm_layout_release(struct tm_layout *l)
{
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		struct tm_table *t = &l->t[i];

		ferry_free(t->name);
		for (k = 0; k < t->ncols; k++) {
			ferry_free(t->cols[k].name);
			ferry_free(t->cols[k].arg);
		}
		ferry_free(t->cols);
		tm_strs_free(t->inc_m);
		tm_strs_free(t->exc_m);
		tm_strs_free(t->inc_f);
		tm_strs_free(t->exc_f);
		ferry_free(t->chunks);
	}
	ferry_free(l->t);
	for (i = 0; i < l->nnotes; i++)
		ferry_free(l->notes[i]);
	ferry_free(l->notes);
	memset(l, 0, sizeof(*l));
}

static int note(struct tm_layout *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int note(struct tm_layout *l, const char *fmt, ...)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	char **v;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ferry_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	v = rc < 0 ? NULL : ferry_realloc(l->notes, (l->nnotes + 1) * sizeof(*v));
	if (!v) {
		ferry_buf_release(&b);
		return FERRY_ENOMEM;
	}
	l->notes = v;
	v[l->nnotes++] = ferry_buf_detach(&b, NULL);
	return 0;
}

struct tm_table *tm_layout_add_table(struct tm_layout *l, const char *name)
{
	struct tm_table *t = ferry_realloc(l->t, (l->n + 1) * sizeof(*t));

	if (!t)
		return NULL;
	l->t = t;
	t = &l->t[l->n];
	memset(t, 0, sizeof(*t));
	t->measurement = -1;
	if (!(t->name = ferry_strdup(name)))
		return NULL;
	l->n++;
	return t;
}

int tm_table_add_col(struct tm_table *t, const char *name, int from, const char *arg,
		     int type, int notnull)
{
	struct tm_col *c = ferry_realloc(t->cols, (t->ncols + 1) * sizeof(*c));

	if (!c)
		return FERRY_ENOMEM;
	t->cols = c;
	c = &t->cols[t->ncols];
	memset(c, 0, sizeof(*c));
	c->name = ferry_strdup(name);
	c->arg = arg ? ferry_strdup(arg) : NULL;
	c->from = from;
	c->type = type;
	c->notnull = notnull;
	if (!c->name || (arg && !c->arg))
		return FERRY_ENOMEM;
	t->ncols++;
	return 0;
}

int tm_table_col(const struct tm_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return (int)i;
	return -1;
}

static const char *type_word(unsigned types)
{
	static char buf[64];

	buf[0] = 0;
	if (types & TM_TYPE_BIT(LP_FLOAT))
		strcat(buf, "float/");
	if (types & TM_TYPE_BIT(LP_INT))
		strcat(buf, "integer/");
	if (types & TM_TYPE_BIT(LP_UINT))
		strcat(buf, "unsigned/");
	if (types & TM_TYPE_BIT(LP_STRING))
		strcat(buf, "string/");
	if (types & TM_TYPE_BIT(LP_BOOL))
		strcat(buf, "boolean/");
	if (buf[0])
		buf[strlen(buf) - 1] = 0;
	return buf;
}

int tm_wide_type(unsigned types)
{
	const unsigned F = TM_TYPE_BIT(LP_FLOAT), I = TM_TYPE_BIT(LP_INT),
		       U = TM_TYPE_BIT(LP_UINT), S = TM_TYPE_BIT(LP_STRING),
		       B = TM_TYPE_BIT(LP_BOOL);

	if (!types || (types & S) || ((types & B) && (types & ~B)))
		return FERRY_T_TEXT;
	if (types == B)
		return FERRY_T_BOOL;
	if (types & F)
		return FERRY_T_FLOAT64;
	if (types & U)
		return FERRY_T_NUMERIC;
	(void)I;
	return FERRY_T_INT64;
}

unsigned tm_wide_types_of(int t)
{
	switch (t) {
	case FERRY_T_INT64: return TM_TYPE_BIT(LP_INT);
	case FERRY_T_FLOAT64: return TM_TYPE_BIT(LP_FLOAT);
	case FERRY_T_NUMERIC: return TM_TYPE_BIT(LP_UINT);
	case FERRY_T_BOOL: return TM_TYPE_BIT(LP_BOOL);
	case FERRY_T_TEXT: return TM_TYPE_BIT(LP_STRING);
	default: return 0;
	}
}

/* Field values per point of measurement m (every measurement when m < 0),
 * as far as the source counted them; 1 when it did not. */
static double values_per_point(const struct tm_schema *sch, int m)
{
	double p = 0, v = 0;
	size_t n = sch ? sch->n : 0, i = m < 0 ? 0 : (size_t)m, end = m < 0 ? n : i + 1;

	for (; i < end && i < n; i++)
		if (sch->m[i].points > 0 && sch->m[i].values > 0) {
			p += (double)sch->m[i].points;
			v += (double)sch->m[i].values;
		}
	return p > 0 && v >= p ? v / p : 1;
}

/* The chunks of measurement m (every one when m < 0) and the rows they
 * should give: their points, times the fields of a point when the table
 * has a row per field value. */
int tm_table_chunks(struct tm_table *t, const struct tm_schema *sch, const struct tm_chunk *ck,
		    size_t nck, int m, int per_value)
{
	double est = 0, all = per_value ? values_per_point(sch, -1) : 1;
	size_t i;

	t->chunks = ferry_calloc(nck ? nck : 1, sizeof(*t->chunks));
	if (!t->chunks)
		return FERRY_ENOMEM;
	for (i = 0; i < nck; i++)
		if (m < 0 || ck[i].measurement < 0 || ck[i].measurement == m) {
			t->chunks[t->nchunks++] = i;
			if (per_value && ck[i].est_values > 0)
				est += (double)ck[i].est_values;
			else if (ck[i].est > 0)
				est += (double)ck[i].est * (!per_value ? 1 :
					ck[i].measurement < 0 ? all :
					values_per_point(sch, ck[i].measurement));
		}
	t->est += est < 9e18 ? (int64_t)est : INT64_MAX;
	return 0;
}

static int build_narrow(struct tm_layout *l, const struct tm_opts *o,
			const struct tm_schema *sch, const struct tm_chunk *ck, size_t nck)
{
	struct tm_table *t = tm_layout_add_table(l, o->table);
	size_t i, k, j;
	int rc = 0;

	if (!t)
		return FERRY_ENOMEM;
	/* nothing to resolve in one row per field, but say what happens */
	for (i = 0; sch && i < sch->n; i++) {
		const struct tm_measurement *m = &sch->m[i];

		for (k = 0; k < m->nfields; k++) {
			const struct tm_field_info *f = &m->fields[k];

			if (f->types & (f->types - 1))
				note(l, "measurement '%s': field '%s' is %s in different points "
				     "(shards); each value is kept in the column of its own type",
				     m->name, f->name, type_word(f->types));
			for (j = 0; j < m->ntags; j++)
				if (!strcmp(m->tags[j], f->name))
					note(l, "measurement '%s': '%s' is both a tag and a field; the tag "
					     "is in tags, the field in field/…_value", m->name, f->name);
		}
	}
	rc |= tm_table_add_col(t, "time", TF_TIME, NULL, FERRY_T_TIMESTAMPTZ, 1);
	if (o->keep_ns)
		rc |= tm_table_add_col(t, "time_ns", TF_TIME_NS, NULL, FERRY_T_INT64, 1);
	rc |= tm_table_add_col(t, "series", TF_SERIES, NULL, FERRY_T_TEXT, 1);
	rc |= tm_table_add_col(t, "measurement", TF_MEASUREMENT, NULL, FERRY_T_TEXT, 1);
	rc |= tm_table_add_col(t, "field", TF_FIELD, NULL, FERRY_T_TEXT, 1);
	rc |= tm_table_add_col(t, "numeric_value", TF_NUMERIC, NULL, FERRY_T_FLOAT64, 0);
	rc |= tm_table_add_col(t, "integer_value", TF_INTEGER, NULL, FERRY_T_INT64, 0);
	rc |= tm_table_add_col(t, "text_value", TF_TEXT, NULL, FERRY_T_TEXT, 0);
	rc |= tm_table_add_col(t, "boolean_value", TF_BOOL, NULL, FERRY_T_BOOL, 0);
	rc |= tm_table_add_col(t, "tags", TF_TAGS, NULL, FERRY_T_JSONB, 1);
	if (rc)
		return FERRY_ENOMEM;
	t->value_types = ~0u;
	t->ordered = nck > 0 && ck[0].nitems > 0;
	return tm_table_chunks(t, sch, ck, nck, -1, 1);
}

/* A name PostgreSQL takes, in *out, for an InfluxDB name s: PostgreSQL
 * names are UTF-8, but InfluxDB keeps other bytes in tag keys (and older
 * versions took them in measurement and field names too), and a table
 * or column named by them cannot be made.  Each byte that is not part of
 * valid UTF-8 is written as the text \xNN instead.  1 when the name
 * changed (the caller notes it), 0 when not, FERRY_ENOMEM. */
static int pg_name(struct ferry_buf *out, const char *s)
{
	size_t n = strlen(s), at = 0, k;
	int rc = 0, changed = 0;

	ferry_buf_clear(out);
	while (rc == 0 && at < n) {
		k = val_utf8_prefix(s + at, n - at, 0, NULL);
		rc = ferry_buf_add(out, s + at, k);
		at += k;
		if (rc == 0 && at < n) {
			rc = ferry_buf_addf(out, "\\x%02X", (unsigned char)s[at++]);
			changed = 1;
		}
	}
	return rc < 0 ? FERRY_ENOMEM : changed;
}

/* Wide: the column of tag `tag` (its bytes as InfluxDB has them) of table
 * t, added to t and named by pg_name(): a tag named like a column ferry
 * adds, or like a PostgreSQL system column (xmin), which no table can
 * have, is loaded as "<tag>_tag". */
static int wide_tag(struct tm_layout *l, struct tm_table *t, const char *tag)
{
	struct ferry_buf nb = FERRY_BUF_INIT;
	int rc = pg_name(&nb, tag);

	if (rc == 1)
		rc = note(l, "measurement '%s': tag key '%s' is not UTF-8 (each byte that is "
			  "not is written \\xNN here): its column is named so", t->name, nb.buf);
	if (rc < 0)
		goto out;
	if (tm_table_col(t, nb.buf) < 0 && !ferry_pg_system_column(nb.buf)) {
		rc = tm_table_add_col(t, nb.buf, TF_TAG, tag, FERRY_T_TEXT, 1);
		goto out;
	}
	note(l, "measurement '%s': tag '%s' is named like a %s; it is loaded as '%s_tag'",
	     t->name, nb.buf, tm_table_col(t, nb.buf) >= 0 ? "column ferry adds"
						      : "PostgreSQL system column", nb.buf);
	rc = ferry_buf_addstr(&nb, "_tag");
	if (rc == 0)
		rc = tm_table_add_col(t, nb.buf, TF_TAG, tag, FERRY_T_TEXT, 1);
out:
	ferry_buf_release(&nb);
	return rc;
}

/* Wide: the column of field `name` (of these types; its bytes as InfluxDB
 * has them) of table t, added to t, named by pg_name() and typed by
 * tm_wide_type(); a name taken by a tag or column, or a system column's,
 * gets "_field" until it is free. */
static int wide_field(struct tm_layout *l, struct tm_table *t, const char *name, unsigned types)
{
	struct ferry_buf nb = FERRY_BUF_INIT;
	int ty = tm_wide_type(types), rc, taken;
	size_t base;

	rc = pg_name(&nb, name);
	if (rc == 1)
		rc = note(l, "measurement '%s': field key '%s' is not UTF-8 (each byte that is "
			  "not is written \\xNN here)", t->name, nb.buf);
	base = nb.len;
	taken = tm_table_col(t, nb.buf) >= 0;
	/* a failed add grows nothing: stop, or this loops forever */
	while (rc == 0 && (tm_table_col(t, nb.buf) >= 0 || ferry_pg_system_column(nb.buf)))
		rc = ferry_buf_addstr(&nb, "_field");
	if (rc < 0) {
		ferry_buf_release(&nb);
		return rc;
	}
	if (nb.len != base)
		note(l, "measurement '%s': field '%.*s' has the name of %s; it is loaded as '%s'",
		     t->name, (int)base, nb.buf, taken ? "a tag or column"
						       : "a PostgreSQL system column", nb.buf);
	if (types & (types - 1))
		note(l, "measurement '%s': field '%.*s' is %s in different points (shards); "
		     "column '%s' is %s", t->name, (int)base, nb.buf, type_word(types), nb.buf,
		     ferry_type_name(ty));
	rc = tm_table_add_col(t, nb.buf, TF_WIDE_FIELD, name, ty, 0);
	ferry_buf_release(&nb);
	if (rc == 0)
		t->cols[t->ncols - 1].ftypes = types;
	return rc;
}

/* Wide: the table name pg_name() wrote for a measurement that is not
 * UTF-8 can be another measurement's own name (the text "m\xFF"), or one
 * an earlier measurement took: "_2", "_3" ... until it is free of both. */
static int wide_free_name(const struct tm_layout *l, const struct tm_schema *sch,
			  struct ferry_buf *nb)
{
	size_t base = nb->len, i;
	int taken = 1, n = 1, rc = 0;

	while (rc == 0 && taken) {
		taken = 0;
		for (i = 0; i < sch->n && !taken; i++)
			taken = !strcmp(sch->m[i].name, nb->buf);
		for (i = 0; i < l->n && !taken; i++)
			taken = !strcmp(l->t[i].name, nb->buf);
		if (taken && (rc = ferry_buf_setlen(nb, base)) == 0)
			rc = ferry_buf_addf(nb, "_%d", ++n);
	}
	return rc < 0 ? FERRY_ENOMEM : 0;
}

static int build_wide(struct tm_layout *l, const struct tm_opts *o,
		      const struct tm_schema *sch, const struct tm_chunk *ck, size_t nck)
{
	size_t i, k;
	int rc;

	for (i = 0; i < sch->n; i++) {
		const struct tm_measurement *m = &sch->m[i];
		struct ferry_buf nb = FERRY_BUF_INIT;
		struct tm_table *t = NULL;

		if ((rc = pg_name(&nb, m->name)) == 1) {
			size_t base = nb.len;

			if ((rc = wide_free_name(l, sch, &nb)) == 0)
				rc = note(l, "measurement '%.*s' is not UTF-8 (each byte that is not "
					  "is written \\xNN here); its table is named '%s'", (int)base,
					  nb.buf, nb.buf);
		}
		if (rc == 0)
			t = tm_layout_add_table(l, nb.buf);
		ferry_buf_release(&nb);
		if (!t)
			return FERRY_ENOMEM;
		t->per_point = 1;
		t->measurement = (int)i;
		if ((rc = tm_table_add_col(t, "time", TF_TIME, NULL, FERRY_T_TIMESTAMPTZ, 1)) < 0)
			return rc;
		if (o->keep_ns && (rc = tm_table_add_col(t, "time_ns", TF_TIME_NS, NULL, FERRY_T_INT64, 1)) < 0)
			return rc;
		for (k = 0; k < m->ntags; k++)
			if ((rc = wide_tag(l, t, m->tags[k])) < 0)
				return rc;
		for (k = 0; k < m->nfields; k++)
			if ((rc = wide_field(l, t, m->fields[k].name, m->fields[k].types)) < 0)
				return rc;
		if ((rc = tm_table_chunks(t, sch, ck, nck, (int)i, 0)) < 0)
			return rc;
		/* a chunk of a file holds any points, and a key's fields may be
		 * in several (influx_inspect export writes a field at a time);
		 * InfluxDB's chunks are time ranges of one measurement, so a
		 * key is in one of them */
		for (k = 0; k < t->nchunks; k++)
			if (!ck[t->chunks[k]].has_time)
				t->merge_all = 1;
		if (m->points > 0 && t->est <= 0)
			t->est = m->points;
	}
	return 0;
}

/* Live, wide (see tm_int.h). */
static int lp_is(struct lp_str a, const char *b)
{
	return a.n == strlen(b) && !memcmp(a.p, b, a.n);
}

static int wide_find(const struct tm_table *t, int from, struct lp_str key)
{
	size_t k;

	for (k = 0; k < t->ncols; k++)
		if (t->cols[k].from == from && t->cols[k].arg && lp_is(key, t->cols[k].arg))
			return (int)k;
	return -1;
}

/* 1 with why set when a name of p is not UTF-8 text (a NUL byte, bytes
 * that are not UTF-8: the relay takes them, as influxd does). */
static int names_not_text(const struct tm_point *p, char *why, size_t nwhy)
{
	const char *w, *what = NULL;
	size_t i;

	if (!val_utf8_ok(p->measurement.p, p->measurement.n, &w))
		what = "the measurement";
	for (i = 0; !what && i < p->ntags; i++)
		if (!val_utf8_ok(p->tags[i].key.p, p->tags[i].key.n, &w))
			what = "a tag key";
	for (i = 0; !what && i < p->nfields; i++)
		if (!val_utf8_ok(p->fields[i].key.p, p->fields[i].key.n, &w))
			what = "a field key";
	if (!what)
		return 0;
	snprintf(why, nwhy, "%s in %s: PostgreSQL names are UTF-8 text", w, what);
	return 1;
}

int tm_wide_grow(struct tm_layout *l, const struct tm_opts *o, const struct tm_point *p,
		 size_t *ti, char *why, size_t nwhy)
{
	struct ferry_buf nm = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	struct tm_table *t = NULL;
	size_t i;
	int rc = 0, c;

	*ti = SIZE_MAX;
	/* refused point by point, as the narrow layout's text columns refuse
	 * them: pg_name would write such a name as the text of its escapes,
	 * the table or column of another name written that way */
	if (names_not_text(p, why, nwhy))
		return 1;
	for (i = 0; i < l->n && !t; i++)
		if (lp_is(p->measurement, l->t[i].name))
			t = &l->t[i];
	/* not found as it is: a name build_wide (pg_name) wrote otherwise,
	 * or a new table; per point only then (its names are UTF-8, so the
	 * first look finds a table once it is made) */
	if (!t && (ferry_buf_add(&key, p->measurement.p, p->measurement.n) < 0 ||
		   ferry_buf_addch(&key, 0) < 0 || pg_name(&nm, key.buf) < 0)) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	for (i = 0; i < l->n && !t && nm.len; i++)
		if (!strcmp(nm.buf, l->t[i].name))
			t = &l->t[i];
	/* first pass: a field whose type its column cannot take refuses the
	 * point before anything grows */
	for (i = 0; t && i < p->nfields; i++) {
		const struct lp_field *f = &p->fields[i];
		unsigned bit = TM_TYPE_BIT(f->type), u;
		const struct tm_col *col;

		if ((c = wide_find(t, TF_WIDE_FIELD, f->key)) < 0)
			continue;
		col = &t->cols[c];
		u = col->ftypes | bit;
		if ((col->ftypes & bit) || tm_wide_type(u) == col->type)
			continue;
		char was[64], is[64];  /* type_word() has one buffer */

		*ti = (size_t)(t - l->t);   /* the caller may learn the table's types */
		snprintf(is, sizeof(is), "%s", type_word(bit));
		snprintf(was, sizeof(was), "%s", type_word(col->ftypes));
		snprintf(why, nwhy, "field '%.*s' is %s, but column '%.64s' of table '%.64s' is %s "
			 "(made for the %s values before): write the field as %s, or ALTER the "
			 "column to a type that holds both (the relay takes it)",
			 (int)(f->key.n > 64 ? 64 : f->key.n), f->key.p, is, col->name, t->name,
			 ferry_type_name(col->type), was, was);
		rc = 1;
		goto out;
	}
	if (!t) {
		if (!(t = tm_layout_add_table(l, nm.buf))) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		t->per_point = 1;
		rc = tm_table_add_col(t, "time", TF_TIME, NULL, FERRY_T_TIMESTAMPTZ, 1);
		if (rc == 0 && o->keep_ns)
			rc = tm_table_add_col(t, "time_ns", TF_TIME_NS, NULL, FERRY_T_INT64, 1);
	}
	for (i = 0; i < p->ntags && rc == 0; i++)
		if (wide_find(t, TF_TAG, p->tags[i].key) < 0) {
			ferry_buf_clear(&key);
			if (ferry_buf_add(&key, p->tags[i].key.p, p->tags[i].key.n) < 0 ||
			    ferry_buf_addch(&key, 0) < 0)
				rc = FERRY_ENOMEM;
			else
				rc = wide_tag(l, t, key.buf);
		}
	for (i = 0; i < p->nfields && rc == 0; i++) {
		const struct lp_field *f = &p->fields[i];

		if ((c = wide_find(t, TF_WIDE_FIELD, f->key)) >= 0) {
			t->cols[c].ftypes |= TM_TYPE_BIT(f->type);
			continue;
		}
		ferry_buf_clear(&key);
		if (ferry_buf_add(&key, f->key.p, f->key.n) < 0 || ferry_buf_addch(&key, 0) < 0)
			rc = FERRY_ENOMEM;
		else
			rc = wide_field(l, t, key.buf, TM_TYPE_BIT(f->type));
	}
	*ti = (size_t)(t - l->t);
out:
	ferry_buf_release(&nm);
	ferry_buf_release(&key);
	return rc;
}

int tm_layout_build(struct tm_layout *l, const struct tm_opts *o,
		    const struct tm_schema *sch, const struct tm_chunk *ck, size_t nck,
		    struct ferry_error *err)
{
	int rc;

	memset(l, 0, sizeof(*l));
	if (!strcmp(o->layout, "map"))
		rc = tm_map_load(l, o->map_path, sch, ck, nck, err);
	else if (!strcmp(o->layout, "wide"))
		rc = build_wide(l, o, sch, ck, nck);
	else
		rc = build_narrow(l, o, sch, ck, nck);
	if (rc == FERRY_ENOMEM)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (rc < 0)
		tm_layout_release(l);
	return rc;
}

static int add_index(struct ferry_table *ft, const char *name, const char *const *cols,
		     const int *desc, size_t n)
{
	struct ferry_index *x = ferry_table_add_index(ft);
	size_t i;

	if (!x)
		return FERRY_ENOMEM;
	x->origin = 'c';
	x->name = ferry_strdup(name);
	x->cols = ferry_calloc(n, sizeof(char *));
	x->exprs = ferry_calloc(n, sizeof(char *));
	x->desc = ferry_calloc(n, sizeof(int));
	if (!x->name || !x->cols || !x->exprs || !x->desc)
		return FERRY_ENOMEM;
	x->nparts = n;
	for (i = 0; i < n; i++) {
		if (!(x->cols[i] = ferry_strdup(cols[i])))
			return FERRY_ENOMEM;
		x->desc[i] = desc[i];
	}
	return 0;
}

int tm_layout_catalog(const struct tm_layout *l, const struct tm_opts *o,
		      struct ferry_catalog **out, struct ferry_error *err)
{
	struct ferry_catalog *cat = ferry_catalog_new();
	size_t i, k;
	int rc = 0;

	if (!cat)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	cat->exact_names = 1;  /* measurements differ by case */
	for (i = 0; i < l->n && rc == 0; i++) {
		const struct tm_table *t = &l->t[i];
		struct ferry_table *ft = ferry_catalog_add_table(cat);
		int pk = 0;

		if (!ft || !(ft->name = ferry_strdup(t->name)) ||
		    !(ft->key_label = ferry_strdup("line"))) {
			rc = FERRY_ENOMEM;
			break;
		}
		ft->rowid_alias = -1;
		ft->seq = -1;
		ft->nrows_est = t->est;
		for (k = 0; k < t->ncols; k++) {
			const struct tm_col *c = &t->cols[k];
			struct ferry_column *fc = ferry_table_add_column(ft);

			if (!fc || !(fc->name = ferry_strdup(c->name))) {
				rc = FERRY_ENOMEM;
				break;
			}
			fc->type = c->type;
			if (c->from == TF_TIME)  /* cells hold microseconds already */
				fc->type = FERRY_T_TIMESTAMPTZ;
			fc->typmod = -1;
			fc->notnull = c->notnull;
			fc->json_made = c->from == TF_TAGS;
			fc->decl_type = ferry_strdup(c->type == FERRY_T_UNKNOWN ? "" :
						     ferry_type_name(c->type));
			if (c->type != FERRY_T_UNKNOWN)
				fc->type_sql = ferry_strdup(ferry_type_name(c->type));
			/* rows of a key were merged as they were read (merge.c) */
			if (t->per_point && (c->from == TF_TIME || c->from == TF_TIME_NS ||
					     c->from == TF_TAG))
				fc->pk_pos = ++pk;
		}
		if (rc)
			break;
		if (!t->exists && !t->per_point) {
			static const char *const a[] = { "series", "time" };
			static const char *const b[] = { "series", "measurement", "field", "time" };
			static const int da[] = { 0, 1 }, db[] = { 0, 0, 0, 1 };
			struct ferry_buf n1 = FERRY_BUF_INIT, n2 = FERRY_BUF_INIT;

			if (ferry_buf_addf(&n1, "%s_series_time_idx", t->name) < 0 ||
			    ferry_buf_addf(&n2, "%s_series_field_time_idx", t->name) < 0)
				rc = FERRY_ENOMEM;
			if (rc == 0)
				rc = add_index(ft, n1.buf, a, da, 2);
			if (rc == 0)
				rc = add_index(ft, n2.buf, b, db, 4);
			if (rc == 0 && t->ordered && !(ft->chunk_order = ferry_strdup(n2.buf)))
				rc = FERRY_ENOMEM;
			ferry_buf_release(&n1);
			ferry_buf_release(&n2);
		}
	}
	for (i = 0; rc == 0 && i < l->nnotes; i++)
		rc = ferry_catalog_add_note(cat, l->notes[i]);
	(void)o;
	if (rc < 0) {
		ferry_catalog_free(cat);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	*out = cat;
	return 0;
}

/* ---- rows --------------------------------------------------------------------- */

static int str_eq(struct lp_str a, const char *b)
{
	return a.n == strlen(b) && !memcmp(a.p, b, a.n);
}

static const struct lp_tag *find_tag(const struct tm_point *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->ntags; i++)
		if (str_eq(p->tags[i].key, key))
			return &p->tags[i];
	return NULL;
}

/* Tag indices sorted by key (tags are few: insertion sort). */
static void sort_tags(const struct tm_point *p, size_t *ix)
{
	size_t i, j;

	for (i = 0; i < p->ntags; i++) {
		size_t v = i;
		const struct lp_str *kv = &p->tags[v].key;

		for (j = i; j > 0; j--) {
			const struct lp_str *kj = &p->tags[ix[j - 1]].key;
			size_t mn = kj->n < kv->n ? kj->n : kv->n;
			int c = memcmp(kj->p, kv->p, mn);

			if (c < 0 || (c == 0 && kj->n <= kv->n))
				break;
			ix[j] = ix[j - 1];
		}
		ix[j] = v;
	}
}

/* What one point's rows share, made once per point on first use; the
 * buffers are the tm_rows' own, reused from point to point. */
struct point_ctx {
	size_t ix[64];
	size_t *ixp;
	int sorted;
	struct ferry_buf *series, *tags;
	int have_series, have_tags;
	int text_ok;   /* measurement and tags are UTF-8 without NUL */
};

static void pc_sort(struct point_ctx *pc, const struct tm_point *p)
{
	if (pc->sorted)
		return;
	sort_tags(p, pc->ixp);
	pc->sorted = 1;
}

static const char *pc_series(struct tm_rows *r, struct point_ctx *pc, const struct tm_point *p,
			     size_t *n)
{
	const char *key = r->o->series_tag ? r->o->series_tag : "entity_id";
	const struct lp_tag *tg = find_tag(p, key);
	size_t i;

	if (tg && tg->val.n) {
		*n = tg->val.n;
		return tg->val.p;
	}
	if (!pc->have_series) {
		int rc;

		pc_sort(pc, p);
		ferry_buf_clear(pc->series);
		rc = lp_escape(pc->series, p->measurement.p, p->measurement.n, LP_NAME_MEAS);
		for (i = 0; i < p->ntags && rc == 0; i++) {
			const struct lp_tag *t = &p->tags[pc->ixp[i]];

			rc = ferry_buf_addch(pc->series, ',');
			if (rc == 0)
				rc = lp_escape(pc->series, t->key.p, t->key.n, LP_NAME_TAG);
			if (rc == 0)
				rc = ferry_buf_addch(pc->series, '=');
			if (rc == 0)
				rc = lp_escape(pc->series, t->val.p, t->val.n, LP_NAME_TAG);
		}
		if (rc < 0)
			return NULL;   /* out of memory; kept for no other point */
		pc->have_series = 1;
	}
	*n = pc->series->len;
	return pc->series->buf;
}

static const char *pc_tags(struct point_ctx *pc, const struct tm_point *p, size_t *n)
{
	size_t i;

	if (!pc->have_tags) {
		int rc;

		pc_sort(pc, p);
		ferry_buf_clear(pc->tags);
		rc = ferry_buf_addch(pc->tags, '{');
		for (i = 0; i < p->ntags && rc == 0; i++) {
			const struct lp_tag *t = &p->tags[pc->ixp[i]];

			if (i)
				rc = ferry_buf_addch(pc->tags, ',');
			if (rc == 0)
				rc = ferry_buf_addjson(pc->tags, t->key.p, t->key.n);
			if (rc == 0)
				rc = ferry_buf_addch(pc->tags, ':');
			if (rc == 0)
				rc = ferry_buf_addjson(pc->tags, t->val.p, t->val.n);
		}
		if (rc == 0)
			rc = ferry_buf_addch(pc->tags, '}');
		if (rc < 0)
			return NULL;   /* out of memory; kept for no other point */
		pc->have_tags = 1;
	}
	*n = pc->tags->len;
	return pc->tags->buf;
}

static int set_text(struct ferry_batch *b, struct ferry_cell *c, const char *s, size_t n)
{
	return ferry_cell_set_bytes(b, c, FERRY_V_TEXT, s, n);
}

/* set_text of text made only of what was checked to be UTF-8 without a
 * NUL byte when ok (and of ASCII): the transform does not look again */
static int set_text_ok(struct ferry_batch *b, struct ferry_cell *c, const char *s, size_t n,
		       int ok)
{
	int rc = ferry_cell_set_bytes(b, c, FERRY_V_TEXT, s, n);

	if (rc == 0 && ok)
		c->flags |= FERRY_CELL_TEXT_OK;
	return rc;
}

/* Is the field name UTF-8 without NUL?  Checked once for a run of the
 * same name (narrow rows come a field at a time). */
static int fkey_ok(struct tm_rows *r, const struct lp_str *k)
{
	const char *why;

	if (r->fkey.len == k->n && (k->n == 0 || !memcmp(r->fkey.buf, k->p, k->n)))
		return r->fkey_ok;
	ferry_buf_clear(&r->fkey);
	if (ferry_buf_add(&r->fkey, k->p, k->n) < 0) {
		ferry_buf_clear(&r->fkey);
		r->fkey_ok = 0;
		return 0;     /* out of memory: the transform checks */
	}
	r->fkey_ok = val_utf8_ok(k->p, k->n, &why);
	return r->fkey_ok;
}

static void set_int(struct ferry_cell *c, int64_t v)
{
	c->kind = FERRY_V_INT;
	c->v.i = v;
}

static void set_real(struct ferry_cell *c, double d)
{
	c->kind = FERRY_V_REAL;
	c->v.d = d;
}

/* A value as text: floats shortest round-trip, booleans true/false. */
static int value_text(struct ferry_batch *b, struct ferry_cell *c, const struct lp_field *f)
{
	char num[64];
	int k;

	switch (f->type) {
	case LP_FLOAT:
		k = val_format_double(f->v.f, num, sizeof(num));
		return set_text(b, c, num, (size_t)k);
	case LP_INT:
		k = snprintf(num, sizeof(num), "%" PRId64, f->v.i);
		return set_text(b, c, num, (size_t)k);
	case LP_UINT:
		k = snprintf(num, sizeof(num), "%" PRIu64, f->v.u);
		return set_text(b, c, num, (size_t)k);
	case LP_BOOL:
		return set_text(b, c, f->v.b ? "true" : "false", f->v.b ? 4 : 5);
	default:
		return set_text(b, c, f->v.s.p, f->v.s.n);
	}
}

/* An unsigned that int64 holds as INT, else its digits (the target
 * column's type decides whether they fit). */
static int set_uint(struct ferry_batch *b, struct ferry_cell *c, uint64_t u)
{
	char num[32];
	int k;

	if (u <= INT64_MAX) {
		set_int(c, (int64_t)u);
		return 0;
	}
	k = snprintf(num, sizeof(num), "%" PRIu64, u);
	return set_text(b, c, num, (size_t)k);
}

/* Note that a point had the tag of bit `bit` of column c (see tag_seen). */
static void saw_tag(const struct tm_col *c, unsigned bit)
{
	_Atomic unsigned *seen = (_Atomic unsigned *)&c->tag_seen;  /* the only mutable part */

	if (bit < 32 && !(atomic_load_explicit(seen, memory_order_relaxed) & (1u << bit)))
		atomic_fetch_or(seen, 1u << bit);
}

static int template_expand(struct tm_rows *r, struct point_ctx *pc, const struct tm_point *p,
			   const struct lp_field *f, const struct tm_col *c, struct ferry_buf *out)
{
	const char *s = c->arg;
	unsigned ntag = 0;

	ferry_buf_clear(out);
	while (*s) {
		const char *e;

		if (*s != '{' || !(e = strchr(s, '}'))) {
			if (ferry_buf_addch(out, *s++) < 0)
				return FERRY_ENOMEM;
			continue;
		}
		if (!strncmp(s, "{measurement}", 13)) {
			if (ferry_buf_add(out, p->measurement.p, p->measurement.n) < 0)
				return FERRY_ENOMEM;
		} else if (!strncmp(s, "{field}", 7)) {
			if (ferry_buf_add(out, f->key.p, f->key.n) < 0)
				return FERRY_ENOMEM;
		} else if (!strncmp(s, "{series}", 8)) {
			size_t n;
			const char *sv = pc_series(r, pc, p, &n);

			if (!sv)
				return FERRY_ENOMEM;

			if (ferry_buf_add(out, sv, n) < 0)
				return FERRY_ENOMEM;
		} else if (!strncmp(s, "{tag.", 5)) {
			char key[256];
			size_t kn = (size_t)(e - s - 5);
			const struct lp_tag *tg;

			if (kn >= sizeof(key))
				kn = sizeof(key) - 1;
			memcpy(key, s + 5, kn);
			key[kn] = 0;
			if ((tg = find_tag(p, key)) != NULL) {
				if (ferry_buf_add(out, tg->val.p, tg->val.n) < 0)
					return FERRY_ENOMEM;
				saw_tag(c, ntag);
			}
			ntag++;
		}
		s = e + 1;
	}
	return 0;
}

int tm_point_lp(const struct tm_point *p, const struct lp_field *only, struct ferry_buf *b)
{
	struct lp_point lp;

	memset(&lp, 0, sizeof(lp));
	lp.measurement = p->measurement;
	lp.tags = (struct lp_tag *)p->tags;
	lp.ntags = p->ntags;
	lp.fields = (struct lp_field *)(only ? only : p->fields);
	lp.nfields = only ? 1 : p->nfields;
	lp.has_ts = 1;
	lp.ts = p->time_ns;
	ferry_buf_clear(b);
	if (lp_point_write(b, &lp) < 0)  /* 0, or out of memory (b is sticky) */
		return ferry_buf_add(b, p->measurement.p, p->measurement.n);
	return 0;
}

static int cell_for(struct tm_rows *r, struct point_ctx *pc, const struct tm_point *p,
		    const struct lp_field *f, const struct tm_col *c, struct ferry_cell *cell,
		    int64_t us)
{
	struct ferry_batch *b = r->b;
	const char *s;
	size_t n;

	cell->kind = FERRY_V_NULL;
	cell->flags = 0;
	switch (c->from) {
	case TF_TIME:
		set_int(cell, us);
		return 0;
	case TF_TIME_NS:
		set_int(cell, p->time_ns);
		return 0;
	case TF_SERIES:
		if (!(s = pc_series(r, pc, p, &n)))
			return FERRY_ENOMEM;
		return set_text_ok(b, cell, s, n, pc->text_ok);
	case TF_MEASUREMENT:
		return set_text_ok(b, cell, p->measurement.p, p->measurement.n, pc->text_ok);
	case TF_FIELD:
		return set_text_ok(b, cell, f->key.p, f->key.n, fkey_ok(r, &f->key));
	case TF_TAGS:
		if (!(s = pc_tags(pc, p, &n)))
			return FERRY_ENOMEM;
		return set_text_ok(b, cell, s, n, pc->text_ok);
	case TF_TAG: {
		const struct lp_tag *tg = find_tag(p, c->arg);

		if (tg) {
			saw_tag(c, 0);
			return set_text_ok(b, cell, tg->val.p, tg->val.n, pc->text_ok);
		}
		if (r->t->per_point)  /* wide: a missing tag is '' */
			return set_text(b, cell, "", 0);
		return 0;
	}
	case TF_TEMPLATE:
		if (template_expand(r, pc, p, f, c, &r->scratch) < 0)
			return FERRY_ENOMEM;
		return set_text(b, cell, r->scratch.buf, r->scratch.len);
	case TF_NUMERIC:
		if (f->type == LP_FLOAT) {
			set_real(cell, f->v.f);
		} else if (f->type == LP_INT) {
			if (val_int_fits_double(f->v.i))
				set_real(cell, (double)f->v.i);
			else if (r->t->exists)  /* a map: the column decides, or rejects */
				set_int(cell, f->v.i);
		} else if (f->type == LP_UINT) {
			if (val_uint_fits_double(f->v.u))
				set_real(cell, (double)f->v.u);
			else if (r->t->exists)
				return set_uint(b, cell, f->v.u);
		}
		return 0;
	case TF_INTEGER:
		if (f->type == LP_INT)
			set_int(cell, f->v.i);
		else if (f->type == LP_UINT)
			return set_uint(b, cell, f->v.u);
		return 0;
	case TF_TEXT:
		if (f->type == LP_STRING)
			return set_text(b, cell, f->v.s.p, f->v.s.n);
		return 0;
	case TF_BOOL:
		if (f->type == LP_BOOL)
			set_int(cell, f->v.b);
		return 0;
	case TF_VALUE:
		if (f->type == LP_FLOAT)
			set_real(cell, f->v.f);
		else if (f->type == LP_INT)
			set_int(cell, f->v.i);
		else if (f->type == LP_UINT)
			return set_uint(b, cell, f->v.u);
		else
			return value_text(b, cell, f);
		return 0;
	case TF_JSON:
		ferry_buf_clear(&r->scratch);
		if (f->type == LP_STRING) {
			if (ferry_buf_addjson(&r->scratch, f->v.s.p, f->v.s.n) < 0)
				return FERRY_ENOMEM;
		} else {
			struct ferry_cell tmp;

			if (value_text(b, &tmp, f) < 0)
				return FERRY_ENOMEM;
			if (ferry_buf_add(&r->scratch, ferry_cell_bytes(b, &tmp), tmp.len) < 0)
				return FERRY_ENOMEM;

		}
		return set_text(b, cell, r->scratch.buf, r->scratch.len);
	}
	return 0;
}

/* Wide: the value of one field for its column's type. */
static int wide_cell(struct tm_rows *r, const struct tm_col *c, const struct lp_field *f,
		     struct ferry_cell *cell)
{
	cell->kind = FERRY_V_NULL;
	cell->flags = 0;
	if (!f)
		return 0;
	switch (c->type) {
	case FERRY_T_TEXT:
		return value_text(r->b, cell, f);
	case FERRY_T_BOOL:
		set_int(cell, f->v.b);
		return 0;
	case FERRY_T_FLOAT64:
		if (f->type == LP_FLOAT)
			set_real(cell, f->v.f);
		else if (f->type == LP_INT)  /* one a double cannot hold: merge.c left it
					      * out; the relay's transform rejects it */
			set_int(cell, f->v.i);
		else
			return set_uint(r->b, cell, f->v.u);
		return 0;
	default:  /* INT64, NUMERIC */
		if (f->type == LP_INT)
			set_int(cell, f->v.i);
		else
			return set_uint(r->b, cell, f->v.u);
		return 0;
	}
}

static int reject_field(struct tm_rows *r, const struct tm_point *p, const struct lp_field *f,
			const char *why, struct ferry_error *err)
{
	struct ferry_buf raw = FERRY_BUF_INIT;
	int rc;

	if (!r->reject)
		return ferry_error_set(err, FERRY_EREJECT, "%s", why);
	if (tm_point_lp(p, f, &raw) < 0) {  /* never a cut line as the rejected one */
		ferry_buf_release(&raw);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = r->reject(
r->reject_ud, p->key, "", why, raw.buf, raw.len, err);
	ferry_buf_release(&raw);
	return rc < 0 ? rc : 0;
}

/* Append n bytes with their length in front: parts that cannot run into
 * each other, whatever bytes they hold. */
static int add_part(struct ferry_buf *b, const char *s, size_t n)
{
	int rc = ferry_buf_add(b, &n, sizeof(n));

	return rc < 0 ? rc : ferry_buf_add(b, s, n);
}

/* Is the part at *at in key (length in front) equal to s[0..n)?  Moves
 * *at past it. */
static int part_is(const struct ferry_buf *key, size_t *at, const char *s, size_t n)
{
	size_t len;

	if (key->len - *at < sizeof(len))
		return 0;
	memcpy(&len, key->buf + *at, sizeof(len));
	*at += sizeof(len);
	if (len != n || key->len - *at < n || memcmp(key->buf + *at, s, n))
		return 0;
	*at += n;
	return 1;
}

/* Are p's measurement, tag keys and tag values UTF-8 without NUL? */
static int parts_text_ok(const struct tm_point *p)
{
	const char *why;
	size_t i;

	if (!val_utf8_ok(p->measurement.p, p->measurement.n, &why))
		return 0;
	for (i = 0; i < p->ntags; i++)
		if (!val_utf8_ok(p->tags[i].key.p, p->tags[i].key.n, &why) ||
		    !val_utf8_ok(p->tags[i].val.p, p->tags[i].val.n, &why))
			return 0;
	return 1;
}

/* Does p have the measurement and tags of the point before?  Points of a
 * series come in a row (field by field, even), and its series key and
 * tags JSON need not be made again.  r->prev holds the point before's
 * parts, each with its length in front (NUL bytes in tag values cannot
 * make two tag sets look alike); it is written again only on a change.
 * A point whose source gave it the series_id of the point before is the
 * same series without a look (comparing was 7 % of ferry's instructions
 * on InfluxDB's narrow rows, a point per field value).  Whether the parts
 * are UTF-8 without NUL is checked once a series too (prev_text_ok): the
 * cells made of them say so, and the transform does not check them again
 * a row at a time (10 % of ferry's instructions there). */
static int same_series(struct tm_rows *r, const struct tm_point *p)
{
	size_t i, at = 0;
	int same, rc;

	if (p->series_id && p->series_id == r->prev_id && r->prev.len > 0)
		return 1;
	same = r->prev.len > 0 && part_is(&r->prev, &at, p->measurement.p, p->measurement.n);
	for (i = 0; same && i < p->ntags; i++)
		same = part_is(&r->prev, &at, p->tags[i].key.p, p->tags[i].key.n) &&
		       part_is(&r->prev, &at, p->tags[i].val.p, p->tags[i].val.n);
	if (same && at == r->prev.len) {
		r->prev_id = p->series_id;
		return 1;
	}
	ferry_buf_clear(&r->prev);
	rc = add_part(&r->prev, p->measurement.p, p->measurement.n);
	for (i = 0; i < p->ntags && rc == 0; i++) {
		rc = add_part(&r->prev, p->tags[i].key.p, p->tags[i].key.n);
		if (rc == 0)
			rc = add_part(&r->prev, p->tags[i].val.p, p->tags[i].val.n);
	}
	if (rc < 0)
		ferry_buf_clear(&r->prev);   /* never equal to a cut key */
	r->prev_id = rc < 0 ? 0 : p->series_id;
	r->prev_text_ok = rc == 0 && parts_text_ok(p);
	return 0;
}

int tm_rows_add(struct tm_rows *r, const struct tm_point *p, struct ferry_error *err)
{
	const struct tm_table *t = r->t;
	struct ferry_batch *b = r->b;
	struct point_ctx pc;
	int64_t us;
	size_t i, k;
	int rc = 0;

	if (t->inc_m && !tm_glob_any(t->inc_m, p->measurement.p, p->measurement.n))
		return 0;
	if (t->exc_m && tm_glob_any(t->exc_m, p->measurement.p, p->measurement.n))
		return 0;
	pc.sorted = pc.have_series = pc.have_tags = 0;
	pc.series = &r->series;
	pc.tags = &r->tags;
	if (same_series(r, p)) {
		pc.have_series = r->have_series;
		pc.have_tags = r->have_tags;
	}
	pc.text_ok = r->prev.len > 0 && r->prev_text_ok;
	pc.ixp = pc.ix;
	if (p->ntags > sizeof(pc.ix) / sizeof(pc.ix[0]) &&
	    !(pc.ixp = ferry_malloc(p->ntags * sizeof(size_t))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	/* floor to microseconds: -1 ns is 1969-12-31T23:59:59.999999 */
	us = p->time_ns / 1000 - (p->time_ns % 1000 < 0);
	if (p->time_ns % 1000 && !p->again)   /* a point once, not once a field */
		r->ns_cut++;
	us -= PG_EPOCH_US;
	if (t->per_point) {
		size_t row = b->nrows;

		for (k = 0; k < t->ncols && rc == 0; k++) {
			const struct tm_col *c = &t->cols[k];
			struct ferry_cell *cell = ferry_batch_cell(b, row, k);

			if (c->from == TF_WIDE_FIELD) {
				const struct lp_field *f = NULL;

				for (i = 0; i < p->nfields; i++)
					if (str_eq(p->fields[i].key, c->arg)) {
						f = &p->fields[i];
						break;
					}
				rc = wide_cell(r, c, f, cell);
			} else {
				rc = cell_for(r, &pc, p, p->fields, c, cell, us);
			}
		}
		if (rc == 0) {
			b->keys[row] = p->key;
			b->skip[row] = 0;
			b->nrows++;
		}
		goto out;
	}
	for (i = 0; i < p->nfields && rc == 0; i++) {
		const struct lp_field *f = &p->fields[i];
		size_t row = b->nrows;

		if (t->inc_f && !tm_glob_any(t->inc_f, f->key.p, f->key.n))
			continue;
		if (t->exc_f && tm_glob_any(t->exc_f, f->key.p, f->key.n))
			continue;
		if (!(t->value_types & TM_TYPE_BIT(f->type))) {
			char why[200];

			snprintf(why, sizeof(why), "field '%.*s' is %s and no column of the map "
				 "takes %s values", (int)(f->key.n > 64 ? 64 : f->key.n), f->key.p,
				 lp_ftype_name(f->type), lp_ftype_name(f->type));
			rc = reject_field(r, p, f, why, err);
			continue;
		}
		if (!t->exists && f->type == LP_UINT && f->v.u > INT64_MAX) {
			char why[200];

			snprintf(why, sizeof(why), "unsigned value %" PRIu64 " of field '%.*s' "
				 "does not fit integer_value (bigint)", f->v.u,
				 (int)(f->key.n > 64 ? 64 : f->key.n), f->key.p);
			rc = reject_field(r, p, f, why, err);
			continue;
		}
		for (k = 0; k < t->ncols && rc == 0; k++)
			rc = cell_for(r, &pc, p, f, &t->cols[k], ferry_batch_cell(b, row, k), us);
		if (rc == 0) {
			b->keys[row] = p->key;
			b->skip[row] = 0;
			b->nrows++;
		}
	}
out:
	r->have_series = pc.have_series;
	r->have_tags = pc.have_tags;
	if (pc.ixp != pc.ix)
		ferry_free(pc.ixp);
	if (rc == FERRY_ENOMEM)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rc;
}

void tm_rows_release(struct tm_rows *r)
{
	ferry_buf_release(&r->scratch);
	ferry_buf_release(&r->series);
	ferry_buf_release(&r->tags);
	ferry_buf_release(&r->prev);
	ferry_buf_release(&r->fkey);
}
