/*
 * rows.c - the csv:// source's records: a byte range of one file read in
 * blocks of CSV_BLOCK (a record never longer than the limit), and one
 * record turned into points (or rejected whole, or counted by discover).
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

void csv_rd_release(struct rd *r)
{
	if (r->fd >= 0)
		close(r->fd);
	ferry_free(r->buf);
	r->fd = -1;
	r->buf = NULL;
}

int csv_rd_open(struct rd *r, const char *path, uint64_t lo, uint64_t hi, int64_t line,
		size_t limit, struct ferry_error *err)
{
	memset(r, 0, sizeof(*r));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", path,
				       strerror(errno));
	r->pos = r->fpos = lo;
	r->hi = hi;
	r->line = line;
	r->limit = limit;
	r->final = lo >= hi;
	return 0;
}

/* Read more bytes behind buf[off..len). */
static int rd_fill(struct rd *r, const char *path, struct ferry_error *err)
{
	size_t want, keep = r->len - r->off;
	ssize_t got;

	if (r->off) {
		memmove(r->buf, r->buf + r->off, keep);
		r->pos += r->off;
		r->len = keep;
		r->off = 0;
	}
	if (r->cap - r->len < CSV_BLOCK / 2) {
		size_t ncap = r->cap ? r->cap * 2 : 2 * CSV_BLOCK;
		char *nb;

		if (ncap > r->limit + 2 * CSV_BLOCK)
			ncap = r->limit + 2 * CSV_BLOCK;
		if (ncap <= r->cap)
			return ferry_error_set(err, FERRY_EIO, "internal: csv buffer full");
		if (!(nb = ferry_realloc(r->buf, ncap)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		r->buf = nb;
		r->cap = ncap;
	}
	want = r->cap - r->len;
	if (want > r->hi - r->fpos)
		want = (size_t)(r->hi - r->fpos);
	do
		got = pread(r->fd, r->buf + r->len, want, (off_t)r->fpos);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path,
				       strerror(errno));
	if (got == 0 && want)
		return ferry_error_set(err, FERRY_EIO,
			"cannot read '%s': file shrank while reading (offset %llu)", path,
			(unsigned long long)r->fpos);
	r->len += (size_t)got;
	r->fpos += (uint64_t)got;
	r->final = r->fpos >= r->hi;
	return 0;
}

/*
 * The next record: 1 with *rec and *n (pointing into the buffer), *line,
 * *toolong and *end_off (file offset after it); 0 at the end of the
 * range; < 0 on error.  An over-long record comes back as its first
 * CSV_RAW_HEAD bytes only.
 */
int csv_rd_next(struct rd *r, const char *path, const char **rec, size_t *n,
		int64_t *line, int *toolong, uint64_t *end_off, struct ferry_error *err)
{
	struct csv_rec cr;
	int rc;

	for (;;) {
		if (r->off >= r->len && r->final)
			return 0;
		rc = r->off < r->len
			? csv_split(r->buf, r->len, r->off, r->final, r->bs, r->limit, &cr)
			: CSV_MORE;
		if (rc == CSV_REC) {
			*rec = r->buf + cr.off;
			*n = cr.toolong && cr.n > CSV_RAW_HEAD ? CSV_RAW_HEAD : cr.n;
			*toolong = cr.toolong;
			*line = r->line;
			r->line += (int64_t)cr.nl + (r->buf[cr.next - 1] == '\n');
			r->off = cr.next;
			*end_off = r->pos + cr.next;
			return 1;
		}
		if (rc == CSV_SKIP) {
			/* a line longer than the buffer: keep its head, drop the
			 * rest up to and including its newline */
			size_t hn = r->len - r->off < CSV_RAW_HEAD ? r->len - r->off : CSV_RAW_HEAD;
			const char *nlp = NULL;

			memcpy(r->head, r->buf + r->off, hn);
			r->off = r->len;
			while (!r->final) {
				if ((rc = rd_fill(r, path, err)) < 0)
					return rc;
				if ((nlp = memchr(r->buf, '\n', r->len))) {
					r->off = (size_t)(nlp - r->buf) + 1;
					break;
				}
				r->off = r->len;
			}
			*rec = r->head;
			*n = hn;
			*toolong = 1;
			*line = r->line;
			r->line += nlp != NULL;
			*end_off = r->pos + r->off;
			return 1;
		}
		if ((rc = rd_fill(r, path, err)) < 0)
			return rc;
	}
}

/* ---- rows ----------------------------------------------------------------- */

/* Find or add a by-device entry (sorted by name; last one cached by caller). */
static int dev_get(struct cfile *f, const char *p, size_t n, struct dev **out)
{
	size_t lo = 0, hi = f->ndevs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct dev *d = &f->devs[mid];
		int c = memcmp(p, d->name, n < d->n ? n : d->n);

		if (!c)
			c = n < d->n ? -1 : n > d->n;
		if (!c) {
			*out = d;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (FERRY_GROW(f->devs, f->devcap, f->ndevs + 1) < 0)
		return FERRY_ENOMEM;
	memmove(&f->devs[lo + 1], &f->devs[lo], (f->ndevs - lo) * sizeof(*f->devs));
	memset(&f->devs[lo], 0, sizeof(*f->devs));
	f->devs[lo].name = ferry_strndup(p, n);
	f->devs[lo].seen = ferry_calloc(f->ncols ? f->ncols : 1, 1);
	if (!f->devs[lo].name || !f->devs[lo].seen) {
		ferry_free(f->devs[lo].name);
		ferry_free(f->devs[lo].seen);
		memmove(&f->devs[lo], &f->devs[lo + 1], (f->ndevs - lo) * sizeof(*f->devs));
		return FERRY_ENOMEM;
	}
	f->devs[lo].n = n;
	f->ndevs++;
	*out = &f->devs[lo];
	return 0;
}

static const char *type_name(const struct col *c)
{
	if (c->declname)
		return c->declname;
	switch (c->type) {
	case LP_INT: return "INT64";
	case LP_FLOAT: return "DOUBLE";
	case LP_BOOL: return "BOOLEAN";
	default: return "TEXT";
	}
}

/* A reject reason that quotes a value: at most 64 bytes of it, printable. */
static void quote_val(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i, k = 0, max = n > 64 ? 64 : n;
	int bad;

	/* cut at a character boundary */
	while (max < n && max > 0 && ((unsigned char)p[max] & 0xc0) == 0x80)
		max--;
	bad = csv_check_text(p, max) != 0;
	for (i = 0; i < max && k + 4 < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		dst[k++] = c < 0x20 || c == 0x7f || (bad && c >= 0x80) ? '?' : (char)c;
	}
	if (max < n && k + 4 < cap) {
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	dst[k] = 0;
}

/* Convert cell v to field fl of column c's final type: 0; 1 when the value
 * is NaN/Inf, FERRY_EREJECT when it is not one of the type (why names the
 * column and value: that value is left out of its row, csv_do_row). */
static int convert(const struct col *c, const struct csv_cell *v, struct lp_field *fl,
		   char *why, size_t whycap)
{
	const char *p = v->p;
	size_t n = v->n;
	char q[96];
	int r;

	fl->key.p = c->key;
	fl->key.n = c->keyn;
	fl->type = c->type;
	if (c->type == LP_STRING) {
		fl->v.s.p = p;
		fl->v.s.n = n;
		return 0;
	}
	csv_trim(&p, &n);
	switch (c->type) {
	case LP_INT:
		if (csv_parse_i64(p, n, &fl->v.i) == 0 &&
		    !(c->declname && !strcmp(c->declname, "INT32") &&
		      (fl->v.i < INT32_MIN || fl->v.i > INT32_MAX)))
			return 0;
		break;
	case LP_FLOAT:
		r = csv_parse_double(p, n, &fl->v.f);
		if (r == 0)
			return 0;
		if (r == -2) {
			quote_val(q, sizeof(q), v->p, v->n);
			snprintf(why, whycap, "column '%s' value '%s' is not a finite number",
				 c->name, q);
			return 1;
		}
		break;
	case LP_BOOL:
		if (!csv_parse_bool(p, n, &fl->v.b))
			return 0;
		break;
	default:
		break;
	}
	quote_val(q, sizeof(q), v->p, v->n);
	snprintf(why, whycap, "value '%s' in column '%s' is not %s %s", q, c->name,
		 c->type == LP_INT ? "an" : "a", type_name(c));
	return FERRY_EREJECT;
}

static int cell_empty(const struct cfile *f, const struct col *c, const struct csv_cell *v)
{
	if (v->n)
		return 0;
	/* a quoted empty cell is text in IoTDB files (so an inferred column
	 * holding one is a string column): an empty string */
	return !(v->quoted && f->mode != MODE_PLAIN && (c->decl == LP_STRING || !c->decl));
}

/* The key of a record at line: a directory's files each count their
 * lines from 1, so the file is in the key (TM_KEY). */
static int64_t row_key(const struct reader *rdr, int64_t line)
{
	return rdr->s->is_dir ? TM_KEY(rdr->f - rdr->s->files, line) : line;
}

/* Reject record rec (or values of it) for why. */
static int reject_row(struct reader *rdr, const char *why, const char *rec, size_t n,
		      int64_t line, struct ferry_error *err)
{
	int rc = rdr->rej(rdr->ud, row_key(rdr, line), why, rec, n, err);

	return rc ? (rc < 0 ? rc : FERRY_EABORT) : 0;
}

/*
 * One record: reject it, skip it, or (read) deliver its points / (discover)
 * count them.  Returns 0, or < 0 to stop.
 */
int csv_do_row(struct reader *rdr, const char *rec, size_t n, int64_t line, int toolong,
	       struct ferry_error *err)
{
	struct csv_src *s = rdr->s;
	struct cfile *f = rdr->f;
	char why[512], dropped[512];
	const char *w;
	size_t i, bad, nf = 0, nt = 0, ndropped = 0;
	int ncells, rc, any = 0;
	int64_t t;
	struct csv_cell *cells = s->cells;
	const struct csv_cell *dcell = NULL;
	struct lp_field *dst;

	why[0] = 0;
	dropped[0] = 0;
	if (toolong) {
		snprintf(why, sizeof(why), "record longer than %zu bytes (max_record=)",
			 s->limit);
		goto reject;
	}
	if (!n)
		return 0;   /* blank line */
	if ((rc = csv_grow_text(s, n, err)) < 0)
		return rc;
	ncells = csv_cells(rec, n, f->bs, s->scratch, cells, f->ncols, &w, &bad);
	if (ncells < 0) {
		snprintf(why, sizeof(why), "%s in column '%s'", w,
			 bad < f->ncols ? f->cols[bad].name : "(extra)");
		goto reject;
	}
	if ((size_t)ncells != f->ncols) {
		snprintf(why, sizeof(why), "wrong number of columns: %d, header has %zu", ncells,
			 f->ncols);
		goto reject;
	}
	{
		const struct csv_cell *tc = &cells[f->tcol];
		char q[96];

		if (!tc->n) {
			snprintf(why, sizeof(why), "missing time in column '%s'",
				 f->cols[f->tcol].name);
			goto reject;
		}
		if (csv_time_parse(tc->p, tc->n, s->prec, &t) < 0) {
			quote_val(q, sizeof(q), tc->p, tc->n);
			snprintf(why, sizeof(why), "invalid time '%s'", q);
			goto reject;
		}
	}
	if ((s->o.has_start && t < s->o.start_ns) || (s->o.has_end && t >= s->o.end_ns))
		return 0;
	if (f->dcol >= 0) {
		dcell = &cells[f->dcol];
		if (!dcell->n) {
			snprintf(why, sizeof(why), "missing device in column 'Device'");
			goto reject;
		}
	}
	/* check every cell before anything is delivered */
	for (i = 0; i < f->ngroups; i++)
		f->groups[i].cnt = 0;
	for (i = 0; i < f->ncols; i++) {
		struct col *c = &f->cols[i];
		const struct csv_cell *v = &cells[i];
		int bad8, left = 0;

		s->rowkinds[i] = 0;
		if (c->role == ROLE_TIME || (c->role != ROLE_DEVICE && cell_empty(f, c, v)))
			continue;
		if ((bad8 = csv_check_text(v->p, v->n))) {
			snprintf(why, sizeof(why), "%s in column '%s'",
				 bad8 == 1 ? "NUL byte" : "invalid UTF-8", c->name);
			if (c->role != ROLE_FIELD)
				goto reject;   /* a tag or device names the series */
			left = 1;
		}
		if (c->role == ROLE_TAG)
			s->rowkinds[i] = K_PRESENT;
		if (c->role != ROLE_FIELD)
			continue;
		if (!left && rdr->discover && !c->decl) {
			s->rowkinds[i] = csv_classify(v->p, v->n, f->mode != MODE_PLAIN, v->quoted);
			continue;
		}
		if (!left) {
			if (rdr->discover)
				c->type = c->decl;
			if (f->mode == MODE_ALIGNED) {
				struct group *g = &f->groups[c->group];

				dst = &s->fields[g->base + g->cnt++];
			} else {
				dst = &s->fields[nf];
			}
			left = convert(c, v, dst, why, sizeof(why)) != 0;
			if (left && f->mode == MODE_ALIGNED)
				f->groups[c->group].cnt--;
		}
		if (left) {
			/* a value that cannot be one (NaN, not a number, bad text):
			 * it alone is a reject, the row's other values load, as a
			 * NaN in line protocol */
			size_t len = strlen(dropped);

			/* a long list is cut: the first values say enough */
			if (len < sizeof(dropped) - 1 &&
			    snprintf(dropped + len, sizeof(dropped) - len, "%s%s",
				     len ? "; " : "", why) < 0)
				dropped[len] = '\0';
			/* reported by the read of the value's measurement */
			if (rdr->only < 0 ||
			    (f->mode == MODE_ALIGNED && f->groups[c->group].midx == rdr->only) ||
			    (f->mode == MODE_BYDEV && dcell &&
			     tm_schema_find(&s->sch, dcell->p, dcell->n) == rdr->only) ||
			    (f->mode == MODE_PLAIN && f->midx == rdr->only))
				ndropped++;
			continue;
		}
		s->rowkinds[i] = K_PRESENT;
		nf++;
	}
	if (ndropped && !rdr->discover && rdr->rej) {
		if (snprintf(why, sizeof(why), "left out (the row's other values load): %s",
			     dropped) < 0)
			why[0] = '\0';
		if ((rc = reject_row(rdr, why, rec, n, line, err)) != 0)
			return rc;
	}
	if (rdr->discover) {
		/* accepted: remember what it held */
		if (f->mode == MODE_ALIGNED) {
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];
				size_t k, has = 0;

				for (k = 0; k < g->ncols; k++)
					has += s->rowkinds[g->cols[k]] != 0;
				g->points += has != 0;
				g->values += (int64_t)has;
			}
			any = 1;
		} else {
			struct dev *d = NULL;
			int64_t vals = 0;

			for (i = 0; i < f->ncols; i++)
				if (f->cols[i].role == ROLE_FIELD && s->rowkinds[i])
					vals++;
			any = vals > 0;
			if (f->mode == MODE_BYDEV) {
				if (rdr->lastdev && rdr->lastdev->n == dcell->n &&
				    !memcmp(rdr->lastdev->name, dcell->p, dcell->n))
					d = rdr->lastdev;
				else if (dev_get(f, dcell->p, dcell->n, &d) < 0)
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				rdr->lastdev = d;
				d->points += any;
				d->values += vals;
			} else {
				f->points += any;
				f->values += vals;
			}
			for (i = 0; i < f->ncols && d; i++)
				if (s->rowkinds[i])
					d->seen[i] = 1;
		}
		for (i = 0; i < f->ncols; i++)
			if (f->cols[i].role == ROLE_FIELD || any)
				f->cols[i].kinds |= s->rowkinds[i];
		return 0;
	}
	/* deliver; rowkinds marks the columns converted into fields[] */
	{
		struct tm_point pt;
		int midx;

		pt.time_ns = t;
		pt.key = row_key(rdr, line);
		pt.file = NULL;
		pt.series_id = 0;
		pt.again = 0;
		if (s->is_dir)
			for (pt.file = f->path + strlen(s->root); *pt.file == '/'; pt.file++)
				;
		pt.tags = s->tagv;
		pt.ntags = 0;
		if (f->mode == MODE_ALIGNED) {
			/* devices in header order, each with its fields */
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];

				if (!g->cnt || (rdr->only >= 0 && g->midx != rdr->only))
					continue;
				pt.measurement.p = g->name;
				pt.measurement.n = g->n;
				pt.fields = s->fields + g->base;
				pt.nfields = g->cnt;
				if ((rc = rdr->fn(&pt, rdr->ud, err)))
					return rc < 0 ? rc : FERRY_EABORT;
			}
			return 0;
		}
		if (!nf)
			return 0;
		if (f->mode == MODE_BYDEV) {
			pt.measurement.p = dcell->p;
			pt.measurement.n = dcell->n;
			if (rdr->only >= 0) {
				if (!rdr->lastvalid || rdr->lastn != dcell->n ||
				    memcmp(rdr->lastname, dcell->p, dcell->n)) {
					rdr->lastmidx = tm_schema_find(&s->sch, dcell->p, dcell->n);
					/* cache by name; points into the schema */
					rdr->lastname = rdr->lastmidx >= 0
						? s->sch.m[rdr->lastmidx].name : NULL;
					rdr->lastn = dcell->n;
					rdr->lastvalid = rdr->lastmidx >= 0;
				}
				midx = rdr->lastvalid ? rdr->lastmidx : -1;
				if (midx != rdr->only)
					return 0;
			}
		} else {
			if (rdr->only >= 0 && f->midx != rdr->only)
				return 0;
			pt.measurement.p = f->meas;
			pt.measurement.n = strlen(f->meas);
			for (i = 0; i < f->ncols; i++) {
				struct col *c = &f->cols[i];

				if (c->role != ROLE_TAG || !cells[i].n)
					continue;
				s->tagv[nt].key.p = c->key;
				s->tagv[nt].key.n = c->keyn;
				s->tagv[nt].val.p = cells[i].p;
				s->tagv[nt].val.n = cells[i].n;
				nt++;
			}
			pt.ntags = nt;
		}
		pt.fields = s->fields;
		pt.nfields = nf;
		rc = rdr->fn(&pt, rdr->ud, err);
		return rc ? (rc < 0 ? rc : FERRY_EABORT) : 0;
	}
reject:
	if (rdr->discover || !rdr->rej)
		return 0;
	return reject_row(rdr, why, rec, n, line, err);
}
