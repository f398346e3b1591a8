/*
 * header.c - a CSV file's header for the csv:// source: IoTDB aligned
 * (Time,root.sg.d.s,...), by device (Time,Device,...) or plain, type
 * suffixes, the time, device, tag and field columns, and the per-read
 * scratch sized to the widest header.
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

static const struct {
	const char *name;
	enum lp_ftype t;
} suffixes[] = {
	{ "BOOLEAN", LP_BOOL }, { "INT32", LP_INT }, { "INT64", LP_INT },
	{ "FLOAT", LP_FLOAT }, { "DOUBLE", LP_FLOAT }, { "TEXT", LP_STRING },
	{ "STRING", LP_STRING },
};

static void strip_suffix(struct col *c, size_t *n)
{
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t k = strlen(suffixes[i].name);

		if (*n > k + 2 && c->name[*n - 1] == ')' && c->name[*n - k - 2] == '(' &&
		    !memcmp(c->name + *n - k - 1, suffixes[i].name, k)) {
			*n -= k + 2;
			c->decl = suffixes[i].t;
			c->declname = suffixes[i].name;
			return;
		}
	}
}

/* Offset of the last '.' outside backquotes in an IoTDB path, or -1. */
static long last_dot(const char *s, size_t n)
{
	long dot = -1;
	size_t i;
	int inq = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '`') {
			if (inq && i + 1 < n && s[i + 1] == '`')
				i++;
			else
				inq = !inq;
		} else if (s[i] == '.' && !inq) {
			dot = (long)i;
		}
	}
	return inq ? -1 : dot;
}

void csv_file_release(struct cfile *f)
{
	size_t i;

	for (i = 0; i < f->ncols; i++) {
		ferry_free(f->cols[i].name);
		ferry_free(f->cols[i].key);
	}
	ferry_free(f->cols);
	for (i = 0; i < f->ngroups; i++) {
		ferry_free(f->groups[i].name);
		ferry_free(f->groups[i].cols);
	}
	ferry_free(f->groups);
	for (i = 0; i < f->ndevs; i++) {
		ferry_free(f->devs[i].name);
		ferry_free(f->devs[i].seen);
	}
	ferry_free(f->devs);
	ferry_free(f->meas);
	ferry_free(f->cuts);
	ferry_free(f->path);
	memset(f, 0, sizeof(*f));
}

/* Forget what a previous header parse or scan left, keep path/size/mtime. */
static void file_reset(struct cfile *f)
{
	struct cfile keep = { 0 };

	keep.path = f->path;
	keep.size = f->size;
	keep.mtime_ns = f->mtime_ns;
	f->path = NULL;
	csv_file_release(f);
	*f = keep;
}

static int hdr_err(struct cfile *f, struct ferry_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hdr_err(struct cfile *f, struct ferry_error *err, const char *fmt, ...)
{
	char tail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	ferry_error_set(err, FERRY_EPARSE, "invalid csv header in '%s': %s", f->path, tail);
	ferry_error_origin(err, "%s:%lld", f->path, (long long)f->hdr_line);
	return FERRY_EPARSE;
}

int csv_grow_scratch(struct csv_src *s, size_t ncols, struct ferry_error *err)
{
	if (ncols > s->rowcap) {
		struct csv_cell *c = ferry_realloc(s->cells, ncols * sizeof(*c));
		struct lp_field *fl;
		struct lp_tag *tg;
		unsigned *rk;

		if (c)
			s->cells = c;
		fl = c ? ferry_realloc(s->fields, ncols * sizeof(*fl)) : NULL;
		if (fl)
			s->fields = fl;
		tg = fl ? ferry_realloc(s->tagv, ncols * sizeof(*tg)) : NULL;
		if (tg)
			s->tagv = tg;
		rk = tg ? ferry_realloc(s->rowkinds, ncols * sizeof(*rk)) : NULL;
		if (!rk)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		s->rowkinds = rk;
		s->rowcap = s->cellcap = ncols;
	}
	return 0;
}

int csv_grow_text(struct csv_src *s, size_t n, struct ferry_error *err)
{
	if (n + 1 > s->scratchcap) {
		size_t ncap = s->scratchcap ? s->scratchcap : 4096;
		char *b;

		while (ncap < n + 1)
			ncap *= 2;
		if (!(b = ferry_realloc(s->scratch, ncap)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		s->scratch = b;
		s->scratchcap = ncap;
	}
	return 0;
}

static int name_is(const char *a, const char *b)
{
	return !strcasecmp(a, b);
}

/*
 * Read and parse the header of f: its columns, mode and groups, and
 * data_off/data_line.  A file without any record has no header and no
 * data (has_header = 0).
 */
int csv_read_header(struct csv_src *s, struct cfile *f, struct ferry_error *err)
{
	struct rd r;
	const char *rec, *why;
	size_t n, i, k, bad;
	int64_t line;
	int toolong, rc, ncells;
	uint64_t end;
	unsigned char bom[3];
	uint64_t start = 0;

	file_reset(f);
	if ((rc = csv_rd_open(&r, f->path, 0, f->size, 1, s->limit, err)) < 0)
		return rc;
	if (f->size >= 3 && pread(r.fd, bom, 3, 0) == 3 && bom[0] == 0xef && bom[1] == 0xbb &&
	    bom[2] == 0xbf)
		start = 3;
	/* its header would be binary noise ("a NUL byte or invalid UTF-8") */
	if (f->size >= 2 && pread(r.fd, bom, 2, 0) == 2 && bom[0] == 0x1f && bom[1] == 0x8b) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot read '%s' as csv: it is gzip-compressed, and csv:// reads uncompressed "
			"CSV (gunzip it first: gzip -dk '%s')", f->path, f->path);
		goto out;
	}
	r.pos = r.fpos = start;
	r.final = start >= f->size;
	r.bs = 1;
	do {
		rc = csv_rd_next(&r, f->path, &rec, &n, &line, &toolong, &end, err);
		if (rc < 0)
			goto out;
		if (rc == 0) {   /* no header: nothing to read */
			f->has_header = 0;
			f->data_off = f->size;
			f->data_line = r.line;
			rc = 0;
			goto out;
		}
	} while (!toolong && n == 0);   /* blank lines before the header */
	if (toolong) {
		rc = ferry_error_set(err, FERRY_EPARSE,
			"invalid csv header in '%s': longer than %zu bytes", f->path, s->limit);
		goto out;
	}
	f->data_off = end;
	f->data_line = r.line;
	f->hdr_line = line;
	if ((rc = csv_grow_text(s, n, err)) < 0)
		goto out;
	ncells = csv_cells(rec, n, 1, s->scratch, NULL, 0, &why, &bad);
	if (ncells < 0) {
		rc = hdr_err(f, err, "%s", why);
		goto out;
	}
	if ((rc = csv_grow_scratch(s, (size_t)ncells, err)) < 0)
		goto out;
	csv_cells(rec, n, 1, s->scratch, s->cells, (size_t)ncells, &why, &bad);
	if (!(f->cols = ferry_calloc((size_t)ncells, sizeof(*f->cols)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	f->ncols = (size_t)ncells;
	for (i = 0; i < f->ncols; i++) {
		const char *p = s->cells[i].p;
		size_t m = s->cells[i].n;

		csv_trim(&p, &m);
		if (csv_check_text(p, m)) {
			rc = hdr_err(f, err, "column %zu has a NUL byte or invalid UTF-8", i + 1);
			goto out;
		}
		if (!(f->cols[i].name = ferry_strndup(p, m))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!m) {
			rc = hdr_err(f, err, "column %zu has no name", i + 1);
			goto out;
		}
	}
	/* the mode */
	f->mode = MODE_PLAIN;
	if (s->format != MODE_PLAIN && f->ncols >= 2 && name_is(f->cols[0].name, "time")) {
		int allroot = 1;

		for (i = 1; i < f->ncols; i++)
			if (strncmp(f->cols[i].name, "root.", 5))
				allroot = 0;
		if (!strcmp(f->cols[1].name, "Device"))
			f->mode = MODE_BYDEV;
		else if (allroot)
			f->mode = MODE_ALIGNED;
	}
	if (s->format == MODE_ALIGNED && f->mode == MODE_PLAIN) {
		rc = hdr_err(f, err, "format=iotdb needs 'Time,Device,...' or "
			     "'Time,root.path,...' columns");
		goto out;
	}
	f->bs = s->escape >= 0 ? s->escape : f->mode != MODE_PLAIN;
	f->tcol = 0;
	f->dcol = -1;
	if (f->mode == MODE_PLAIN) {
		const char *base;
		size_t bl;

		f->tcol = -1;
		for (i = 0; i < f->ncols && f->tcol < 0; i++)
			if (s->timecol ? !strcmp(f->cols[i].name, s->timecol)
				       : (name_is(f->cols[i].name, "time") ||
					  name_is(f->cols[i].name, "timestamp") ||
					  name_is(f->cols[i].name, "ts")))
				f->tcol = (int)i;
		if (f->tcol < 0) {
			if (s->timecol)
				rc = hdr_err(f, err, "no column '%s' for time=", s->timecol);
			else
				rc = hdr_err(f, err, "no time column (time, timestamp or ts): "
					     "name one with ?time=COLUMN");
			goto out;
		}
		for (i = 0; i < f->ncols; i++)
			f->cols[i].role = (int)i == f->tcol ? ROLE_TIME : ROLE_FIELD;
		for (k = 0; k < s->ntags; k++) {
			for (i = 0; i < f->ncols; i++)
				if (!strcmp(f->cols[i].name, s->tags[k]))
					break;
			if (i == f->ncols || (int)i == f->tcol) {
				rc = hdr_err(f, err, "no tag column '%s' for tags=", s->tags[k]);
				goto out;
			}
			f->cols[i].role = ROLE_TAG;
		}
		if (s->measurement) {
			f->meas = ferry_strdup(s->measurement);
		} else {
			base = strrchr(f->path, '/');
			base = base ? base + 1 : f->path;
			bl = strlen(base);
			if (bl > 4 && !strcasecmp(base + bl - 4, ".csv"))
				bl -= 4;
			f->meas = ferry_strndup(base, bl);
		}
		if (!f->meas) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < f->ncols; i++) {
			struct col *c = &f->cols[i];

			c->keyn = strlen(c->name);
			if (!(c->key = ferry_strdup(c->name))) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		f->cols[0].role = ROLE_TIME;
		if (f->mode == MODE_BYDEV) {
			f->dcol = 1;
			f->cols[1].role = ROLE_DEVICE;
		}
		for (i = 1; i < f->ncols; i++) {
			struct col *c = &f->cols[i];
			size_t m = strlen(c->name);
			const char *key = c->name;
			size_t keyn;

			if (c->role == ROLE_DEVICE)
				continue;
			c->role = ROLE_FIELD;
			strip_suffix(c, &m);
			c->name[m] = 0;   /* messages name the path without its type */
			keyn = m;
			if (f->mode == MODE_ALIGNED) {
				long dot = last_dot(c->name, m);
				struct group *g = NULL;
				int *gc;

				if (dot <= 0 || (size_t)dot + 1 >= m) {
					rc = hdr_err(f, err, "column '%s' is not a device.sensor path",
						     c->name);
					goto out;
				}
				key = c->name + dot + 1;
				keyn = m - (size_t)dot - 1;
				for (k = 0; k < f->ngroups; k++)
					if (f->groups[k].n == (size_t)dot &&
					    !memcmp(f->groups[k].name, c->name, (size_t)dot))
						g = &f->groups[k];
				if (!g) {
					struct group *ng = ferry_realloc(f->groups,
						(f->ngroups + 1) * sizeof(*ng));

					if (!ng) {
						rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
						goto out;
					}
					f->groups = ng;
					g = &ng[f->ngroups];
					memset(g, 0, sizeof(*g));
					if (!(g->name = ferry_strndup(c->name, (size_t)dot))) {
						rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
						goto out;
					}
					g->n = (size_t)dot;
					g->midx = -1;
					f->ngroups++;
				}
				gc = ferry_realloc(g->cols, (g->ncols + 1) * sizeof(*gc));
				if (!gc) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				g->cols = gc;
				gc[g->ncols++] = (int)i;
				c->group = (int)(g - f->groups);
			}
			if (!(c->key = ferry_strndup(key, keyn))) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c->keyn = keyn;
			/* `s.1` -> s.1, `` -> ` */
			if (keyn >= 2 && key[0] == '`' && key[keyn - 1] == '`') {
				size_t a, b = 0;

				for (a = 1; a + 1 < keyn; a++) {
					c->key[b++] = key[a];
					if (key[a] == '`' && key[a + 1] == '`')
						a++;
				}
				c->key[b] = 0;
				c->keyn = b;
			}
			if (!c->keyn) {
				rc = hdr_err(f, err, "column '%s' has an empty sensor name", c->name);
				goto out;
			}
		}
	}
	/* duplicates: the same field (or tag) of the same measurement twice */
	for (i = 0; i < f->ncols; i++)
		for (k = i + 1; k < f->ncols; k++) {
			struct col *a = &f->cols[i], *b = &f->cols[k];

			if (a->role < ROLE_TAG || b->role < ROLE_TAG || a->keyn != b->keyn ||
			    memcmp(a->key, b->key, a->keyn) ||
			    (f->mode == MODE_ALIGNED && a->group != b->group))
				continue;
			rc = hdr_err(f, err, "column '%s' appears twice", b->name);
			goto out;
		}
	for (i = 0, k = 0; i < f->ngroups; i++) {
		f->groups[i].base = k;
		k += f->groups[i].ncols;
	}
	f->has_header = 1;
	rc = 0;
out:
	csv_rd_release(&r);
	return rc;
}
