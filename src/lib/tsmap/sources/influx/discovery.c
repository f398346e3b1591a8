/*
 * discovery.c - what an InfluxDB database holds: measurements, tag keys,
 * field keys and their types, point counts and first/last times (queried
 * on a few threads), and the shard group boundaries that chunks of a
 * measurement with a field of two types must not cross.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "tsmap/sources/influx/influx_int.h"

int ifx_add_window(struct ferry_buf *q, const struct ifx *ix, int and_)
{
	int rc = 0;

	if (ix->o.has_start)
		rc = ferry_buf_addf(q, " %s time >= %" PRId64, and_ ? "AND" : "WHERE",
				    ix->o.start_ns);
	if (rc == 0 && ix->o.has_end)
		rc = ferry_buf_addf(q, " %s time < %" PRId64, and_ || ix->o.has_start ?
				    "AND" : "WHERE", ix->o.end_ns);
	return rc;
}

static unsigned type_bit(const struct mp_val *v)
{
	static const struct { const char *n; enum lp_ftype t; } map[] = {
		{ "float", LP_FLOAT }, { "integer", LP_INT }, { "unsigned", LP_UINT },
		{ "string", LP_STRING }, { "boolean", LP_BOOL },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (mp_key_is(v, map[i].n))
			return TM_TYPE_BIT(map[i].t);
	return 0;
}

static int field_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	const struct ifx *ix = c->ix;
	struct tm_schema *sch = c->ud;
	const struct mp_val *k = ifx_cell(s, cells, "fieldKey"), *t = ifx_cell(s, cells, "fieldType");
	struct tm_measurement *m;
	unsigned bit;

	if (!k || !t || k->t != MP_STR || t->t != MP_STR)
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: SHOW FIELD KEYS without fieldKey/fieldType",
			ix->where);
	if (!(bit = type_bit(t)))
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"field '%.*s' of measurement '%.*s' has type '%.*s', which ferry does not know",
			(int)k->len, k->s, (int)s->name.n, s->name.p, (int)t->len, t->s);
	if (!(m = tm_schema_measurement(sch, s->name.p, s->name.n)) ||
	    tm_measurement_add_field(m, k->s, k->len, bit) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int tag_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err)
{
	struct tm_schema *sch = c->ud;
	const struct mp_val *k = ifx_cell(s, cells, "tagKey");
	int i = tm_schema_find(sch, s->name.p, s->name.n);

	/* Tag keys come from the database-wide index: keep those of
	 * measurements that have fields in this retention policy. */
	if (i < 0 || !k || k->t != MP_STR)
		return 0;
	if (tm_measurement_add_tag(&sch->m[i], k->s, k->len) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int count_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	struct tm_schema *sch = c->ud;
	int i = tm_schema_find(sch, s->name.p, s->name.n);
	size_t j;

	(void)err;
	if (i < 0)
		return 0;
	/* Points with a value in any field: at least the largest count_<f>.
	 * Field values: the sum. */
	for (j = 1; j < s->ncols; j++)
		if (cells[j].t == MP_INT && cells[j].v.i > 0) {
			if (cells[j].v.i > sch->m[i].points)
				sch->m[i].points = cells[j].v.i;
			if (cells[j].v.i <= INT64_MAX - sch->m[i].values)
				sch->m[i].values += cells[j].v.i;
		}
	return 0;
}

struct time_ctx {
	int64_t t;
	int have;
};

static int time_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		    struct ferry_error *err)
{
	struct time_ctx *tc = c->ud;

	(void)err;
	if (s->ncols && cells[0].t == MP_INT) {
		tc->t = cells[0].v.i;
		tc->have = 1;
	}
	return 0;
}

/*
 * The time of the first (desc = 0) or last point of measurement m.  One
 * column per field and kind of type: "f"::float also gives integers (cast)
 * but "f"::string only strings and "f"::boolean only booleans, and a plain
 * SELECT * would drop the values of a field's less favoured types.
 */
static int edge_time(const struct ifx *ix, const struct tm_measurement *m, int desc,
		     struct time_ctx *tc, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	const unsigned num = TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_UINT);
	size_t k;
	int rc = ferry_buf_addstr(&q, "SELECT ");

	for (k = 0; k < m->nfields && rc == 0; k++) {
		const struct tm_field_info *f = &m->fields[k];
		unsigned nt = f->types & num;
		const char *casts[3];
		size_t t, nc = 0;

		if (nt)
			casts[nc++] = nt == TM_TYPE_BIT(LP_INT) ? "integer" :
				nt == TM_TYPE_BIT(LP_UINT) ? "unsigned" : "float";
		if (f->types & TM_TYPE_BIT(LP_STRING))
			casts[nc++] = "string";
		if (f->types & TM_TYPE_BIT(LP_BOOL))
			casts[nc++] = "boolean";
		for (t = 0; t < nc && rc == 0; t++) {
			if (q.len > 7)
				rc = ferry_buf_addstr(&q, ", ");
			if (rc == 0)
				rc = ifx_add_ident(&q, f->name, strlen(f->name));
			if (rc == 0)
				rc = ferry_buf_addf(&q, "::%s", casts[t]);
		}
	}
	if (rc == 0)
		rc = ferry_buf_addstr(&q, " FROM ");
	if (rc == 0)
		rc = ifx_add_meas(&q, ix, m->name);
	if (rc == 0)
		rc = ifx_add_window(&q, ix, 0);
	if (rc == 0)
		rc = ferry_buf_addstr(&q, desc ? " ORDER BY time DESC LIMIT 1" : " LIMIT 1");
	if (rc < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	tc->have = 0;
	rc = ifx_query_rows(ix, q.buf, time_row, tc, NULL, err);
	if (rc < 0)
		ferry_error_prefix(err, "cannot find the %s point of measurement '%s'",
				   desc ? "last" : "first", m->name);
out:
	ferry_buf_release(&q);
	return rc;
}

#define IFX_STAT_THREADS 4   /* first/last queries at once (discovery) */

/* The count query or the first/last queries of a share of the
 * measurements, on one thread of ifx_stats(). */
struct stat_job {
	const struct ifx *ix;
	struct tm_schema *sch;
	struct ifx_meas *meas;
	const char *count_q;      /* this thread counts; else it takes edges */
	_Atomic size_t *next;     /* the next measurement to take */
	_Atomic int *stop;
	int rc;
	struct ferry_error err;
};

static void *stat_main(void *arg)
{
	struct stat_job *j = arg;
	size_t i;

	if (j->count_q) {
		j->rc = ifx_query_rows(j->ix, j->count_q, count_row, j->sch, "cannot count points",
				   &j->err);
	} else {
		while (!atomic_load(j->stop) && (i = atomic_fetch_add(j->next, 1)) < j->sch->n) {
			struct time_ctx a, b;

			if ((j->rc = edge_time(j->ix, &j->sch->m[i], 0, &a, &j->err)) < 0 ||
			    (j->rc = edge_time(j->ix, &j->sch->m[i], 1, &b, &j->err)) < 0)
				break;
			j->meas[i].have = a.have && b.have;
			j->meas[i].first = a.t;
			j->meas[i].last = b.t;
		}
	}
	if (j->rc < 0)
		atomic_store(j->stop, 1);
	return NULL;
}

/* Whether field f of a measurement is counted by a query over names[0..n)
 * (sorted). */
static int counted(const char *const *names, size_t n, const char *f)
{
	return bsearch(&f, names, n, sizeof(*names), ferry_strp_cmp) != NULL;
}

/*
 * The count query: count(*) over every measurement costs InfluxDB a
 * decode of every value, and strings cost most (bench/influx, 2M points
 * with a float and two string fields each: 0.55 s, the floats alone 0.17
 * s; Home Assistant writes each attribute as a string field).  A point
 * count is only an estimate for the plan (the largest count of a field),
 * so it counts the fields that are a number or a boolean somewhere
 * (*names, sorted, *n of them; borrowed from sch) and, with count_rest,
 * the measurements that leaves at 0 with count(*).  No field of that kind
 * anywhere: count(*).  A measurement whose points mostly hold strings
 * only counts low: its chunks come out larger than planned, and an
 * answer over the whole-answer limit is read a field at a time; slower,
 * never a point less.
 */
static int count_query(const struct ifx *ix, const struct tm_schema *sch, struct ferry_buf *q,
		       const char ***names, size_t *n)
{
	const unsigned str = TM_TYPE_BIT(LP_STRING);
	const char **v = NULL;
	size_t i, k, cap = 0, nv = 0, u = 0;
	int rc = 0;

	for (i = 0; i < sch->n && rc == 0; i++)
		for (k = 0; k < sch->m[i].nfields && rc == 0; k++)
			if ((sch->m[i].fields[k].types & ~str) != 0 &&
			    (rc = FERRY_GROW(v, cap, nv + 1)) == 0)
				v[nv++] = sch->m[i].fields[k].name;
	if (rc == 0 && nv) {
		qsort(v, nv, sizeof(*v), ferry_strp_cmp);
		for (i = 0; i < nv; i++)
			if (!u || strcmp(v[u - 1], v[i]))
				v[u++] = v[i];
	}
	if (rc == 0)
		rc = ferry_buf_addstr(q, "SELECT ");
	for (i = 0; i < u && rc == 0; i++) {
		rc = ferry_buf_addstr(q, i ? ", count(" : "count(");
		if (rc == 0)
			rc = ifx_add_ident(q, v[i], strlen(v[i]));
		if (rc == 0)
			rc = ferry_buf_addch(q, ')');
	}
	if (rc == 0 && !u)
		rc = ferry_buf_addstr(q, "count(*)");
	if (rc == 0)
		rc = ferry_buf_addstr(q, " FROM ");
	if (rc == 0)
		rc = ifx_add_dbrp(q, ix);
	if (rc == 0)
		rc = ferry_buf_addstr(q, "./.*/");
	if (rc == 0)
		rc = ifx_add_window(q, ix, 0);
	if (rc == 0) {
		*names = v;
		*n = u;
	} else {
		ferry_free(v);
	}
	return rc;
}

/*
 * After count_query over names[0..n) (n > 0): count(*) of the
 * measurements that have fields, a point (meas[].have: in the window, if
 * one is given) and no count (only strings, or only strings in the
 * window), so that none with points looks empty to the plan; the others'
 * values gain a value per point for each field not counted (an estimate:
 * the plan's rows of the narrow layout).
 */
static int count_rest(const struct ifx *ix, struct tm_schema *sch, const struct ifx_meas *meas,
		      const char *const *names, size_t n, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	size_t i, k, left = 0;
	int rc = 0;

	for (i = 0; i < sch->n && n; i++) {
		struct tm_measurement *m = &sch->m[i];
		int64_t rest = 0;

		if (m->nfields && m->points <= 0 && meas[i].have) {
			rc = ferry_buf_addstr(&q, left++ ? ", " : "SELECT count(*) FROM ");
			if (rc == 0)
				rc = ifx_add_meas(&q, ix, m->name);
			if (rc < 0) {
				rc = ferry_error_set(err, rc, "out of memory");
				goto out;
			}
			continue;
		}
		for (k = 0; k < m->nfields; k++)
			rest += !counted(names, n, m->fields[k].name);
		if (m->points > 0 && rest > 0 && m->points <= (INT64_MAX - m->values) / rest)
			m->values += m->points * rest;
	}
	if (left && (rc = ifx_add_window(&q, ix, 0)) < 0)
		rc = ferry_error_set(err, rc, "out of memory");
	else if (left)
		rc = ifx_query_rows(ix, q.buf, count_row, sch, "cannot count points", err);
out:
	ferry_buf_release(&q);
	return rc;
}

/*
 * Counts (into sch->m[].points and .values) and first/last times (into
 * meas[]).  The count is one query over every measurement (count_query,
 * then count_rest); the times are two per measurement.  They run side by side, the times on
 * IFX_STAT_THREADS threads: a database of 600 measurements spent 4.2 s
 * here one query after another.  count_row writes a measurement's counts,
 * the time queries read its name and fields: different members.
 */
int ifx_stats(const struct ifx *ix, struct tm_schema *sch, struct ifx_meas *meas,
	      struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	struct stat_job job[IFX_STAT_THREADS + 1];
	pthread_t th[IFX_STAT_THREADS + 1];
	_Atomic size_t next = 0;
	_Atomic int stop = 0;
	const char **names = NULL;
	size_t i, n, started = 0, nnames = 0;
	int rc;

	if ((rc = count_query(ix, sch, &q, &names, &nnames)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	for (i = 0; i < sch->n; i++)
		sch->m[i].points = sch->m[i].values = 0;
	n = 1 + (sch->n < IFX_STAT_THREADS ? sch->n : IFX_STAT_THREADS);
	for (i = 0; i < n; i++) {
		memset(&job[i], 0, sizeof(job[i]));
		job[i].ix = ix;
		job[i].sch = sch;
		job[i].meas = meas;
		job[i].count_q = i == 0 ? q.buf : NULL;
		job[i].next = &next;
		job[i].stop = &stop;
	}
	for (started = 1; started < n; started++)
		if (pthread_create(&th[started], NULL, stat_main, &job[started]) != 0)
			break;
	stat_main(&job[0]);   /* the count, on this thread */
	for (i = started; i < n; i++)   /* jobs whose thread did not start */
		stat_main(&job[i]);
	for (i = 1; i < started; i++)
		pthread_join(th[i], NULL);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		if (job[i].rc < 0) {
			rc = job[i].rc;
			*err = job[i].err;
		}
	if (rc == 0)
		rc = count_rest(ix, sch, meas, names, nnames, err);
out:
	ferry_free(names);
	ferry_buf_release(&q);
	return rc;
}

static int qsort_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct shard_ctx {
	struct ifx *ix;
	size_t cap;
};

static int shard_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	struct shard_ctx *sc = c->ud;
	struct ifx *ix = sc->ix;
	const struct mp_val *db = ifx_cell(s, cells, "database"), *rp = ifx_cell(s, cells, "retention_policy");
	const struct mp_val *tv[2] = { ifx_cell(s, cells, "start_time"), ifx_cell(s, cells, "end_time") };
	int k;

	if (!db || !rp || !mp_key_is(db, ix->db) || !mp_key_is(rp, ix->rp))
		return 0;
	for (k = 0; k < 2; k++) {
		int64_t t;

		if (!tv[k])
			continue;
		if (tv[k]->t == MP_INT)
			t = tv[k]->v.i;
		/* the length and bounds are the ones the strptime/timegm
		 * reading had (under 64 bytes; whole seconds -9223372036 to
		 * 9223372035) */
		else if (tv[k]->t != MP_STR || tv[k]->len >= 64 ||
			 val_parse_time_ns_mode(tv[k]->s, tv[k]->len, IFX_TIME_MODE, &t) < 0 ||
			 t < -9223372036000000000LL || t > 9223372035999999999LL)
			return ferry_error_set(err, FERRY_EIO,
				"invalid answer from InfluxDB at %s: SHOW SHARDS time is not RFC 3339",
				ix->where);
		if (FERRY_GROW(ix->bounds, sc->cap, ix->nbounds + 1))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		ix->bounds[ix->nbounds++] = t;
	}
	return 0;
}

struct sgd_ctx {
	const char *rp;
	int64_t ns;               /* the policy's shard group duration; 0: not seen */
};

static int sgd_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err)
{
	struct sgd_ctx *g = c->ud;
	const struct mp_val *v = ifx_cell(s, cells, "name"), *d = ifx_cell(s, cells, "shardGroupDuration");

	(void)err;
	/* a Go duration ("168h0m0s"); -1 when it is not one */
	if (v && mp_key_is(v, g->rp) && d && d->t == MP_STR &&
	    val_parse_duration_mode(d->s, d->len, VAL_DUR_GO, &g->ns) < 0)
		g->ns = -1;
	return 0;
}

/*
 * SHOW SHARDS needs an admin user.  For anyone else, the shard groups'
 * bounds follow from the policy's shard group duration: InfluxDB starts a
 * group at a point's time truncated to a multiple of it, counted from Go's
 * zero time (0001-01-01, 62135596800 s before 1970).  Every such multiple
 * in the span of a measurement with a field of several types is a bound.
 * Exact unless the duration was changed after data was written, which the
 * warning says.
 */
static int shards_from_duration(struct ifx *ix, const struct ifx_meas *meas, size_t nm,
				struct shard_ctx *sc, struct ferry_error *err)
{
	const __int128 zero = (__int128)62135596800LL * 1000000000LL;
	struct sgd_ctx g = { ix->rp, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	size_t i;
	int rc;

	if ((rc = ferry_buf_addstr(&q, "SHOW RETENTION POLICIES ON ")) < 0 ||
	    (rc = ifx_add_ident(&q, ix->db, strlen(ix->db))) < 0) {
		ferry_buf_release(&q);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = ifx_query_rows(ix, q.buf, sgd_row, &g, "cannot read the retention policies", err);
	ferry_buf_release(&q);
	if (rc < 0)
		return rc;
	if (g.ns < 3600000000000LL)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"cannot find the shard groups of %s.%s: SHOW SHARDS needs an admin user, "
			"and the policy's shard duration is not known; give an admin user",
			ix->db, ix->rp);
	ferry_warn("InfluxDB user is not an admin, so SHOW SHARDS is refused: measurements with "
		   "a field of several types are cut at every %lld h, the shard duration of "
		   "%s.%s; if that duration was changed after data was written, a value of a "
		   "less favoured type may be lost: give an admin user to be sure",
		   (long long)(g.ns / 3600000000000LL), ix->db, ix->rp);
	for (i = 0; i < nm; i++) {
		__int128 t, end;

		if (!meas[i].conflict || !meas[i].have)
			continue;
		/* (t + zero) a multiple of ns, from at or before first */
		t = (__int128)meas[i].first + zero;
		t = t - ((t % g.ns) + g.ns) % g.ns - zero;
		end = (__int128)meas[i].last + g.ns;
		for (; t <= end; t += g.ns) {
			if (ix->nbounds >= IFX_MAX_BOUNDS)
				return ferry_error_set(err, FERRY_EINVAL,
					"more than %d shard groups in %s.%s", IFX_MAX_BOUNDS,
					ix->db, ix->rp);
			if (FERRY_GROW(ix->bounds, sc->cap, ix->nbounds + 1))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ix->bounds[ix->nbounds++] = (int64_t)t;
		}
	}
	return 0;
}

static int load_shards(struct ifx *ix, const struct ifx_meas *meas, size_t nm,
		       struct ferry_error *err)
{
	struct shard_ctx sc = { ix, 0 };
	size_t i, n = 0;
	int rc;

	ferry_free(ix->bounds);
	ix->bounds = NULL;
	ix->nbounds = 0;
	rc = ifx_query_rows(ix, "SHOW SHARDS", shard_row, &sc,
			"cannot list the shard groups (needed for fields with several types)", err);
	if (rc == FERRY_ECONN && !strcmp(err->origin, "http 403")) {
		ferry_error_clear(err);
		ix->nbounds = 0;
		rc = shards_from_duration(ix, meas, nm, &sc, err);
	}
	if (rc < 0)
		return rc;
	qsort(ix->bounds, ix->nbounds, sizeof(*ix->bounds), qsort_i64);
	for (i = 0; i < ix->nbounds; i++)
		if (n == 0 || ix->bounds[n - 1] != ix->bounds[i])
			ix->bounds[n++] = ix->bounds[i];
	ix->nbounds = n;
	return 0;
}

int ifx_schema_copy(const struct tm_schema *from, const struct ifx_meas *only,
		    struct tm_schema *to)
{
	size_t i, k;

	for (i = 0; i < from->n; i++) {
		const struct tm_measurement *a = &from->m[i];
		struct tm_measurement *b;

		if (only && !only[i].have)
			continue;
		if (!(b = tm_schema_measurement(to, a->name, strlen(a->name))))
			return FERRY_ENOMEM;
		b->points = a->points;
		b->values = a->values;
		for (k = 0; k < a->ntags; k++)
			if (tm_measurement_add_tag(b, a->tags[k], strlen(a->tags[k])) < 0)
				return FERRY_ENOMEM;
		for (k = 0; k < a->nfields; k++)
			if (tm_measurement_add_field(b, a->fields[k].name, strlen(a->fields[k].name),
						     a->fields[k].types) < 0)
				return FERRY_ENOMEM;
	}
	to->typed = from->typed;
	return 0;
}

/* q = SHOW <what> KEYS ON "db" FROM "rp" and a regex matching every
 * measurement of the retention policy, or with m, measurement m only. */
static int show_keys(const struct ifx *ix, const char *what, const char *m, struct ferry_buf *q)
{
	int rc;

	ferry_buf_clear(q);
	if ((rc = ferry_buf_addf(q, "SHOW %s KEYS ON ", what)) < 0 ||
	    (rc = ifx_add_ident(q, ix->db, strlen(ix->db))) < 0 ||
	    (rc = ferry_buf_addstr(q, " FROM ")) < 0 ||
	    (rc = ifx_add_ident(q, ix->rp, strlen(ix->rp))) < 0 ||
	    (rc = ferry_buf_addch(q, '.')) < 0)
		return rc;
	return m ? ifx_add_ident(q, m, strlen(m)) : ferry_buf_addstr(q, "/.*/");
}

static int meas_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		    struct ferry_error *err)
{
	const struct mp_val *v = ifx_cell(s, cells, "name");

	if (v && v->t == MP_STR && !tm_schema_measurement(c->ud, v->s, v->len))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/*
 * The field keys and types of every measurement of db.rp, into *sch.
 * InfluxDB 1.6 answers SHOW FIELD KEYS FROM "rp" and the regex .* in time
 * that grows faster than the measurements (42 s for 600 measurements over
 * 15 shards, as Home Assistant writes an entity without a unit to its own
 * measurement; a list of names is slower still), and the form without
 * FROM, which reads the default retention policy, in 0.06 s.  So that
 * form for the default policy, and a query per measurement (10 ms each)
 * for another one.  Both give every type a field has in some shard.
 */
static int field_keys(const struct ifx *ix, struct tm_schema *sch, struct ferry_error *err)
{
	struct tm_schema names = { NULL, 0, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	if (ix->rp_default) {
		if (ferry_buf_addstr(&q, "SHOW FIELD KEYS ON ") < 0 ||
		    ifx_add_ident(&q, ix->db, strlen(ix->db)) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = ifx_query_rows(ix, q.buf, field_row, sch, "cannot list field keys", err);
		goto out;
	}
	if (ferry_buf_addstr(&q, "SHOW MEASUREMENTS ON ") < 0 ||
	    ifx_add_ident(&q, ix->db, strlen(ix->db)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ifx_query_rows(ix, q.buf, meas_row, &names, "cannot list measurements", err)) < 0)
		goto out;
	for (i = 0; i < names.n && rc == 0; i++) {
		if (show_keys(ix, "FIELD", names.m[i].name, &q) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else if ((rc = ifx_query_rows(ix, q.buf, field_row, sch, "cannot list field keys",
					  err)) < 0)
			ferry_error_prefix(err, "measurement '%s'", names.m[i].name);
	}
out:
	tm_schema_release(&names);
	ferry_buf_release(&q);
	return rc;
}

/*
 * With --start/--end, only the measurements with points inside the window
 * (*sch and *meas, side by side): one written only after --end would add
 * a table to the plan, and a copy resumed after it came would be refused
 * as "started with another source state".
 */
static int keep_windowed(struct tm_schema *sch, struct ifx_meas *meas,
			 struct ferry_error *err)
{
	struct tm_schema kept = { NULL, 0, 0 };
	size_t i, n = 0;

	for (i = 0; i < sch->n; i++)
		n += meas[i].have != 0;
	if (n == sch->n)
		return 0;
	if (ifx_schema_copy(sch, meas, &kept) < 0) {
		tm_schema_release(&kept);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	for (i = 0, n = 0; i < sch->n; i++)
		if (meas[i].have)
			meas[n++] = meas[i];
	tm_schema_release(sch);
	*sch = kept;
	return 0;
}

int ifx_discover(void *s, struct tm_schema *out, struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_schema sch = { NULL, 0, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	struct ifx_meas *meas = NULL;
	int rc, conflicts = 0;
	size_t i, k;

	if ((rc = field_keys(ix, &sch, err)) < 0)
		goto out;
	if ((rc = show_keys(ix, "TAG", NULL, &q)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = ifx_query_rows(ix, q.buf, tag_row, &sch, "cannot list tag keys", err)) < 0)
		goto out;
	sch.typed = 1;
	if (sch.n && !(meas = ferry_calloc(sch.n, sizeof(*meas)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ifx_stats(ix, &sch, meas, err)) < 0)
		goto out;
	for (i = 0; i < sch.n; i++)
		for (k = 0; k < sch.m[i].nfields; k++) {
			unsigned t = sch.m[i].fields[k].types;

			if (t & (t - 1)) {
				meas[i].conflict = 1;
				conflicts = 1;
			}
		}
	if (IFX_WINDOWED(ix) && (rc = keep_windowed(&sch, meas, err)) < 0)
		goto out;
	if (conflicts && (rc = load_shards(ix, meas, sch.n, err)) < 0)
		goto out;
	tm_schema_release(&ix->sch);
	ferry_free(ix->meas);
	ix->sch = sch;
	ix->meas = meas;
	meas = NULL;
	memset(&sch, 0, sizeof(sch));
	if ((rc = ifx_schema_copy(&ix->sch, NULL, out)) < 0) {
		tm_schema_release(out);
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	rc = 0;
out:
	tm_schema_release(&sch);
	ferry_free(meas);
	ferry_buf_release(&q);
	return rc;
}
