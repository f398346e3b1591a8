/*
 * discover.c - the csv:// source's scan: every row of every file once, to
 * infer each column's type and to cut record-aligned chunks about every
 * chunk_bytes; then the schema of what was seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "tsmap/sources/csv/csv_int.h"

static enum lp_ftype infer(unsigned k)
{
	if (k & K_TEXT)
		return LP_STRING;
	if (k & K_BOOL)
		return (k & (K_INT | K_FLOAT | K_SPECIAL)) ? LP_STRING : LP_BOOL;
	if (k & (K_FLOAT | K_SPECIAL))
		return LP_FLOAT;
	if (k & K_INT)
		return LP_INT;
	return 0;
}

/* Scan one file: header, kinds per column, devices, points, chunk cuts. */
static int scan_file(struct csv_src *s, struct cfile *f, struct ferry_error *err)
{
	struct reader rdr;
	struct rd r;
	const char *rec;
	size_t n, i;
	int64_t line, est = 0;
	int toolong, rc;
	uint64_t end, lo, cap = 0;

	if ((rc = csv_read_header(s, f, err)) < 0)
		return rc;
	if (!f->has_header)
		return 0;
	if ((rc = csv_grow_scratch(s, f->ncols, err)) < 0)
		return rc;
	memset(&rdr, 0, sizeof(rdr));
	rdr.s = s;
	rdr.f = f;
	rdr.discover = 1;
	rdr.only = -1;
	if ((rc = csv_rd_open(&r, f->path, f->data_off, f->size, f->data_line, s->limit, err)) < 0)
		return rc;
	r.bs = f->bs;
	lo = f->data_off;
	line = f->data_line;
	{
		int64_t lo_line = f->data_line;

		for (;;) {
			int64_t recline;

			rc = csv_rd_next(&r, f->path, &rec, &n, &recline, &toolong, &end, err);
			if (rc < 0)
				goto out;
			if (rc == 0)
				break;
			est++;
			if ((rc = csv_do_row(&rdr, rec, n, recline, toolong, err)) < 0)
				goto out;
			if (end - lo >= s->chunk_bytes || end >= f->size) {
				if (FERRY_GROW(f->cuts, cap, f->ncuts + 1) < 0) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				f->cuts[f->ncuts].lo = lo;
				f->cuts[f->ncuts].hi = end;
				f->cuts[f->ncuts].line0 = lo_line;
				f->cuts[f->ncuts].est = est;
				f->ncuts++;
				lo = end;
				lo_line = r.line;
				est = 0;
			}
		}
		(void)line;
	}
	for (i = 0; i < f->ncols; i++) {
		struct col *c = &f->cols[i];

		if (c->role == ROLE_FIELD)
			c->type = c->decl ? c->decl : infer(c->kinds);
	}
	rc = 0;
out:
	csv_rd_release(&r);
	return rc;
}

static int add_field(struct tm_measurement *m, const struct col *c)
{
	return tm_measurement_add_field(m, c->key, c->keyn, TM_TYPE_BIT(c->type));
}

static void add_points(struct tm_measurement *m, int64_t pts, int64_t vals)
{
	if (m->points < 0)
		m->points = 0;
	if (m->values < 0)
		m->values = 0;
	m->points += pts;
	m->values += vals;
}

/* The schema of everything scanned. */
int csv_build_schema(struct csv_src *s, struct tm_schema *out, struct ferry_error *err)
{
	struct tm_schema sch = { 0 };
	size_t fi, i, k;
	int rc = 0;

	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];
		struct tm_measurement *m;

		if (!f->has_header)
			continue;
		if (f->mode == MODE_ALIGNED) {
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];
				int any = 0;

				for (k = 0; k < g->ncols; k++)
					any |= f->cols[g->cols[k]].kinds != 0;
				if (!any)
					continue;
				if (!(m = tm_schema_measurement(&sch, g->name, g->n)))
					goto nomem;
				add_points(m, g->points, g->values);
				for (k = 0; k < g->ncols; k++)
					if (f->cols[g->cols[k]].kinds &&
					    add_field(m, &f->cols[g->cols[k]]) < 0)
						goto nomem;
			}
		} else if (f->mode == MODE_BYDEV) {
			for (i = 0; i < f->ndevs; i++) {
				struct dev *d = &f->devs[i];

				if (!d->points)
					continue;
				if (!(m = tm_schema_measurement(&sch, d->name, d->n)))
					goto nomem;
				add_points(m, d->points, d->values);
				for (k = 0; k < f->ncols; k++)
					if (d->seen[k] && add_field(m, &f->cols[k]) < 0)
						goto nomem;
			}
		} else {
			if (!f->points)
				continue;
			if (!(m = tm_schema_measurement(&sch, f->meas, strlen(f->meas))))
				goto nomem;
			add_points(m, f->points, f->values);
			for (k = 0; k < f->ncols; k++) {
				struct col *c = &f->cols[k];

				if (!c->kinds)
					continue;
				if (c->role == ROLE_TAG &&
				    tm_measurement_add_tag(m, c->key, c->keyn) < 0)
					goto nomem;
				if (c->role == ROLE_FIELD && add_field(m, c) < 0)
					goto nomem;
			}
		}
	}
	sch.typed = 1;
	*out = sch;
	return 0;
nomem:
	tm_schema_release(&sch);
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rc;
}

int csv_ensure_discovered(struct csv_src *s, struct ferry_error *err)
{
	size_t fi, i;
	int rc;

	if (s->discovered)
		return 0;
	for (fi = 0; fi < s->nfiles; fi++)
		if ((rc = scan_file(s, &s->files[fi], err)) < 0)
			return rc;
	tm_schema_release(&s->sch);
	if ((rc = csv_build_schema(s, &s->sch, err)) < 0)
		return rc;
	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];

		for (i = 0; i < f->ngroups; i++)
			f->groups[i].midx = tm_schema_find(&s->sch, f->groups[i].name,
							   f->groups[i].n);
		f->midx = f->meas ? tm_schema_find(&s->sch, f->meas, strlen(f->meas)) : -1;
	}
	s->discovered = 1;
	return 0;
}
