/*
 * prescan.c - the copy planner's pre-scan: a SQLite column's declared
 * type is a wish, so before a table is created ferry reads the values of
 * the columns whose type they could contradict (dates that are not, JSON
 * that does not parse, varchar values longer than declared, columns
 * without a declared type) and decides the target type from what is
 * there, with a warning.  Tables are scanned side by side, each reader on
 * its own connection, when there are several and the cores for them: the
 * server waits meanwhile (bench/run's appdb: 40 tables, two DATETIME
 * columns each).  The decisions are made table by table in order, so the
 * warnings come out as a serial scan gives them.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/registry.h"
#include "model/value.h"

struct scan_col {
	int kind;        /* SCAN_* */
	int col;         /* batch column */
	unsigned classes;/* 1 << FERRY_V_* seen */
	int64_t nonnull, bad;
	size_t maxchars;
	int has_tz;
	int blob_utf8_bad;
	int int_inexact;   /* an integer a double cannot hold exactly */
	int real_special;  /* a real numeric cannot hold: ±Infinity, NaN, -0 */
};

struct scan_state {
	struct scan_col *cols;
	size_t n;
};

static int scan_batch(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct scan_state *ss = ud;
	size_t r, k;

	for (k = 0; k < ss->n; k++) {
		struct scan_col *sc = &ss->cols[k];

		for (r = 0; r < b->nrows; r++) {
			const struct ferry_cell *c = ferry_batch_cell(b, r, (size_t)sc->col);
			/* a cell's bytes only where it has some: an integer's
			 * value is no offset into the arena (INT64_MIN made the
			 * pointer overflow) */
			const char *s = c->kind == FERRY_V_TEXT || c->kind == FERRY_V_BLOB ?
					ferry_cell_bytes(b, c) : NULL, *why;
			int64_t us;
			int32_t days;
			int tz, v;

			if (c->kind == FERRY_V_NULL)
				continue;
			sc->classes |= 1u << c->kind;
			sc->nonnull++;
			switch (sc->kind) {
			case SCAN_DATE:
				if (c->kind != FERRY_V_TEXT || !val_parse_date(s, c->len, &days))
					sc->bad++;
				break;
			case SCAN_TIMESTAMP:
				if (c->kind != FERRY_V_TEXT ||
				    !val_parse_timestamp(s, c->len, &us, &tz, 1))
					sc->bad++;
				else if (tz)
					sc->has_tz = 1;
				break;
			case SCAN_JSON:
				if (c->kind != FERRY_V_TEXT || !val_json_ok(s, c->len, 1))
					sc->bad++;
				break;
			case SCAN_BOOL:
				if (!((c->kind == FERRY_V_INT && (c->v.i == 0 || c->v.i == 1)) ||
				      (c->kind == FERRY_V_TEXT && val_parse_bool(s, c->len, &v))))
					sc->bad++;
				break;
			case SCAN_UUID:
				if (!((c->kind == FERRY_V_BLOB && c->len == 16) ||
				      (c->kind == FERRY_V_TEXT && (c->len == 36 || c->len == 32))))
					sc->bad++;
				break;
			case SCAN_VARCHAR:
				/* a value of no more bytes than the longest so far has
				 * no more characters either */
				if ((c->kind == FERRY_V_TEXT || c->kind == FERRY_V_BLOB) &&
				    c->len > sc->maxchars) {
					size_t i, n = 0;

					for (i = 0; i < c->len; i++)
						if (((unsigned char)s[i] & 0xC0) != 0x80)
							n++;
					if (n > sc->maxchars)
						sc->maxchars = n;
				}
				break;
			case SCAN_UNTYPED:
			case SCAN_NUMERIC:
				if (c->kind == FERRY_V_BLOB && !val_utf8_ok(s, c->len, &why))
					sc->blob_utf8_bad = 1;
				if (c->kind == FERRY_V_INT && !val_int_fits_double(c->v.i))
					sc->int_inexact = 1;
				if (c->kind == FERRY_V_REAL &&
				    (!isfinite(c->v.d) || (c->v.d == 0 && signbit(c->v.d))))
					sc->real_special = 1;
				if (sc->kind == SCAN_NUMERIC &&
				    (c->kind == FERRY_V_TEXT || c->kind == FERRY_V_BLOB))
					sc->bad++;
				break;
			}
		}
	}
	return 0;
}

/* The source's declared type of cp ("" when none). */
static const char *decl_of(const struct table_plan *tp, const struct col_plan *cp)
{
	size_t i;

	for (i = 0; i < tp->src->ncols; i++)
		if (!strcmp(tp->src->cols[i].name, cp->src_name) && tp->src->cols[i].decl_type)
			return tp->src->cols[i].decl_type;
	return "";
}

/* The type the stored values themselves ask for. */
static void type_from_classes(struct col_plan *cp, const struct scan_col *sc)
{
	unsigned c = sc->classes;
	unsigned I = 1u << FERRY_V_INT, R = 1u << FERRY_V_REAL,
		 B = 1u << FERRY_V_BLOB;

	if (c == I)
		plan_col_type(cp, FERRY_T_INT64, -1);
	else if (c && !(c & ~(I | R)))   /* numeric holds both exactly, but
					    * not a real's ±Infinity, NaN or -0:
					    * then the integer is the reject */
		plan_col_type(cp, sc->int_inexact && !sc->real_special ? FERRY_T_NUMERIC :
			      FERRY_T_FLOAT64, -1);
	else if (c & B)
		plan_col_type(cp, (c == B || sc->blob_utf8_bad) ? FERRY_T_BYTES : FERRY_T_TEXT, -1);
	else
		plan_col_type(cp, FERRY_T_TEXT, -1);
}

static void decide(struct plan *pl, struct table_plan *tp, struct col_plan *cp,
		   const struct scan_col *sc)
{
	const char *was = cp->type_sql ? cp->type_sql : "";
	char old[64];

	snprintf(old, sizeof(old), "%s", was);
	switch (sc->kind) {
	case SCAN_DATE:
	case SCAN_TIMESTAMP:
		/* mostly not dates: the column is something else (a few bad
		 * ones among dates are rejects, accounted for, in a typed column) */
		if (sc->nonnull && sc->bad == sc->nonnull) {
			type_from_classes(cp, sc);
			plan_strv_pushf(&pl->warnings,
				"column '%s.%s' is declared %s but none of its values is a date/time: copied as %s",
				tp->src->name, cp->src_name, decl_of(tp, cp), cp->type_sql);
		} else if (sc->bad > sc->nonnull / 2) {
			type_from_classes(cp, sc);
			plan_strv_pushf(&pl->warnings,
				"column '%s.%s' is declared %s but %lld of its %lld values are not dates/times: copied as %s",
				tp->src->name, cp->src_name, decl_of(tp, cp), (long long)sc->bad,
				(long long)sc->nonnull, cp->type_sql);
		} else {
			if (sc->kind == SCAN_TIMESTAMP && sc->has_tz)
				plan_col_type(cp, FERRY_T_TIMESTAMPTZ, -1);
			if (sc->bad)
				plan_strv_pushf(&pl->warnings,
					"column '%s.%s': %lld of %lld values are not valid dates/times and will be rejected",
					tp->src->name, cp->src_name, (long long)sc->bad,
					(long long)sc->nonnull);
		}
		break;
	case SCAN_JSON:
	case SCAN_BOOL:
	case SCAN_UUID:
		if (sc->bad) {
			if (sc->kind == SCAN_JSON)
				plan_col_type(cp, FERRY_T_TEXT, -1);
			else
				type_from_classes(cp, sc);
			plan_strv_pushf(&pl->warnings,
				"column '%s.%s': %lld values are not valid %s: copied as %s",
				tp->src->name, cp->src_name, (long long)sc->bad, old, cp->type_sql);
		}
		break;
	case SCAN_VARCHAR:
		if (sc->maxchars > (size_t)cp->typmod) {
			plan_col_type(cp, FERRY_T_TEXT, -1);
			plan_strv_pushf(&pl->warnings,
				"column '%s.%s' is declared %s but holds values of %zu characters: copied as text",
				tp->src->name, cp->src_name, old, sc->maxchars);
		}
		break;
	case SCAN_UNTYPED:
		if (sc->classes)
			type_from_classes(cp, sc);
		else
			plan_col_type(cp, FERRY_T_TEXT, -1);
		break;
	case SCAN_NUMERIC:
		if (sc->bad) {
			const char *decl = decl_of(tp, cp);

			type_from_classes(cp, sc);
			plan_strv_pushf(&pl->warnings,
				"column '%s.%s' is declared %s, which SQLite stores as a number when "
				"the value is one, but %lld of its %lld values are not: copied as %s",
				tp->src->name, cp->src_name, decl, (long long)sc->bad,
				(long long)sc->nonnull, cp->type_sql);
		}
		break;
	}
}

/* Read tp's columns to check (those of kinds) into ss, one scan_col
 * each.  Asking SQLite first for each column's count and longest value
 * (to leave out empty columns and varchars that fit) cost more than it
 * saved: that aggregate reads every row too (bench/run's appdb, 40 tables:
 * schema phase 2.1-2.4 s with it, 1.2-1.4 s without). */
static int scan_one(ferry_conn *src, struct table_plan *tp, const int *kinds,
		    struct scan_state *ss, struct ferry_error *err)
{
	struct ferry_read_spec spec = { 0 };
	unsigned char *unread;
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < tp->ncols; i++)
		if (kinds[i])
			n++;
	if (!n)
		return 0;
	ss->cols = ferry_calloc(n, sizeof(*ss->cols));
	/* only the scanned columns are read: the recorder's states table has
	 * 20 columns (blobs among them) and 3 to scan */
	unread = ferry_calloc(tp->ncols, 1);
	if (!ss->cols || !unread) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < tp->ncols; i++) {
		unread[i] = !kinds[i];
		if (kinds[i]) {
			ss->cols[ss->n].kind = kinds[i];
			ss->cols[ss->n].col = (int)i;
			ss->n++;
		}
	}
	spec.table = tp->src;
	spec.unread = unread;
	rc = ferry_conn_ops_of(src)->read(src, &spec, scan_batch, ss, err);
	if (rc < 0)
		ferry_error_prefix(err, "cannot pre-scan table '%s'", tp->src->name);
out:
	ferry_free(unread);
	return rc;
}

struct pool {
	struct plan_scan *jobs;
	size_t n;
	atomic_size_t next;
	const char *url;
};

static void *scan_main(void *arg)
{
	struct pool *p = arg;
	ferry_conn *c = NULL;
	struct ferry_error e = FERRY_ERROR_INIT;
	size_t i;

	if (ferry_conn_open(p->url, FERRY_OPEN_READONLY, &c, &e) < 0)
		return NULL;  /* the tables it would have taken wait for the others */
	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct plan_scan *j = &p->jobs[i];

		j->rc = scan_one(c, j->tp, j->kinds, j->state, &j->err);
	}
	ferry_conn_close(c);
	return NULL;
}

int plan_prescan(struct plan *pl, const char *src_url, ferry_conn *src,
		 struct plan_scan *jobs, size_t n, struct ferry_error *err)
{
	struct pool p = { jobs, n, 0, src_url };
	pthread_t th[8];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, k, nth = 0, want;
	int rc = 0;

	for (i = 0; i < n; i++) {
		jobs[i].rc = 0;
		jobs[i].err = (struct ferry_error)FERRY_ERROR_INIT;
		if (!(jobs[i].state = ferry_calloc(1, sizeof(struct scan_state))))
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	want = cores > 1 ? (size_t)cores : 1;
	if (want > n)
		want = n;
	if (want > 8)
		want = 8;
	/* helpers on their own connections (SQLite only: a file every
	 * connection opens cheaply); this thread scans on src meanwhile */
	if (rc == 0 && want > 1 && src_url && !strcmp(ferry_conn_ops_of(src)->name, "sqlite"))
		for (k = 0; k + 1 < want; k++)
			if (pthread_create(&th[nth], NULL, scan_main, &p) == 0)
				nth++;
	while (rc == 0 && (i = atomic_fetch_add(&p.next, 1)) < n)
		jobs[i].rc = scan_one(src, jobs[i].tp, jobs[i].kinds, jobs[i].state, &jobs[i].err);
	for (k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	for (i = 0; rc == 0 && i < n; i++)
		if (jobs[i].rc < 0) {
			*err = jobs[i].err;
			rc = jobs[i].rc;
		}
	return rc;
}

void plan_prescan_decide(struct plan *pl, struct plan_scan *job)
{
	struct scan_state *ss = job->state;
	size_t k;

	for (k = 0; ss && k < ss->n; k++)
		decide(pl, job->tp, &job->tp->cols[ss->cols[k].col], &ss->cols[k]);
}

void plan_prescan_release(struct plan_scan *job)
{
	struct scan_state *ss = job->state;

	if (ss)
		ferry_free(ss->cols);
	ferry_free(ss);
	job->state = NULL;
}
