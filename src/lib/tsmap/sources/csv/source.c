/*
 * source.c - the csv:// source's handle: open (a file or a directory, the
 * URL's parameters), close, plan, read, identity, notes, and its point
 * source ops table (csv_source_ops), which the connector layer wraps into
 * the csv: connector (src/lib/connectors/points.c).
 */
#include <dirent.h>
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
#include "ferry/hash.h"
#include "tsmap/sources/csv/csv_int.h"

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct cfile *)a)->path, ((const struct cfile *)b)->path);
}

static int add_file(struct csv_src *s, const char *path, const struct stat *st,
		    size_t *cap)
{
	struct cfile *f;

	if (FERRY_GROW(s->files, *cap, s->nfiles + 1) < 0)
		return FERRY_ENOMEM;
	f = &s->files[s->nfiles];
	memset(f, 0, sizeof(*f));
	if (!(f->path = ferry_strdup(path)))
		return FERRY_ENOMEM;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	s->nfiles++;
	return 0;
}

static void src_close(void *v)
{
	struct csv_src *s = v;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nfiles; i++)
		csv_file_release(&s->files[i]);
	ferry_free(s->files);
	ferry_free(s->root);
	tm_walk_release(&s->walk);
	ferry_free(s->measurement);
	ferry_free(s->timecol);
	for (i = 0; i < s->ntags; i++)
		ferry_free(s->tags[i]);
	ferry_free(s->tags);
	tm_schema_release(&s->sch);
	ferry_free(s->cells);
	ferry_free(s->scratch);
	ferry_free(s->fields);
	ferry_free(s->tagv);
	ferry_free(s->rowkinds);
	ferry_free(s);
}

static int src_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	struct csv_src *s;
	struct stat st;
	const char *v;
	size_t cap = 0;
	int rc = 0;

	if (url->host && url->host[0])
		return ferry_error_set(err, FERRY_EINVAL,
			"csv URL '%s' names a host: use csv:///abs/path or csv:rel/path",
			url->path);
	if (!url->path || !url->path[0])
		return ferry_error_set(err, FERRY_EINVAL,
			"csv URL has no path: use csv:///abs/path or csv:rel/path");
	if (!(s = ferry_calloc(1, sizeof(*s))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	s->o = *o;
	s->chunk_bytes = o->chunk_bytes ? o->chunk_bytes : CSV_DEFAULT_CHUNK;
	s->limit = CSV_MAX_RECORD;
	s->format = -1;
	s->escape = -1;
	s->prec = o->precision != LP_PREC_NS ? o->precision : LP_PREC_MS;
	if ((v = ferry_url_param(url, "precision")) && lp_precision_parse(v, &s->prec) < 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"invalid precision '%s' in csv URL: use ns, us, ms, s, m or h", v);
		goto out;
	}
	if ((v = ferry_url_param(url, "format"))) {
		if (!strcmp(v, "iotdb"))
			s->format = MODE_ALIGNED;
		else if (!strcmp(v, "plain"))
			s->format = MODE_PLAIN;
		else if (strcmp(v, "auto")) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid format '%s' in csv URL: use auto, iotdb or plain", v);
			goto out;
		}
	}
	if ((v = ferry_url_param(url, "escape"))) {
		if (!strcmp(v, "backslash"))
			s->escape = 1;
		else if (!strcmp(v, "rfc"))
			s->escape = 0;
		else {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid escape '%s' in csv URL: use backslash or rfc", v);
			goto out;
		}
	}
	if ((v = ferry_url_param(url, "max_record"))) {
		char *e;
		unsigned long long m = strtoull(v, &e, 10);

		if (*e || m < 16 || m > ((size_t)1 << 30)) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid max_record '%s' in csv URL: bytes from 16 to 1073741824", v);
			goto out;
		}
		s->limit = (size_t)m;
	}
	if (((v = ferry_url_param(url, "measurement")) && !(s->measurement = ferry_strdup(v))) ||
	    ((v = ferry_url_param(url, "time")) && !(s->timecol = ferry_strdup(v)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (s->measurement && !s->measurement[0]) {
		rc = ferry_error_set(err, FERRY_EINVAL, "empty measurement= in csv URL");
		goto out;
	}
	if ((v = ferry_url_param(url, "tags")) && *v) {
		const char *p = v;

		for (;;) {
			const char *c = strchr(p, ',');
			size_t l = c ? (size_t)(c - p) : strlen(p);
			char **t;

			if (l) {
				if (!(t = ferry_realloc(s->tags, (s->ntags + 1) * sizeof(*t))) ||
				    !(s->tags = t, t[s->ntags] = ferry_strndup(p, l))) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				s->ntags++;
			}
			if (!c)
				break;
			p = c + 1;
		}
	}
	if (stat(url->path, &st) < 0) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "cannot open '%s': %s", url->path,
				     strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		static const char *const exts[] = { ".csv", NULL };
		struct ferry_buf p = FERRY_BUF_INIT;
		size_t i;

		if ((rc = tm_walk(url->path, exts, &s->walk, err)) < 0)
			goto out;
		if (!(s->root = ferry_strdup(url->path))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		s->is_dir = 1;
		for (i = 0; i < s->walk.nfiles && rc == 0; i++) {
			struct stat fst;

			ferry_buf_clear(&p);
			if (ferry_buf_addf(&p, "%s/%s", url->path, s->walk.files[i]) < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			else if (stat(p.buf, &fst) < 0)  /* files[i] is key file i */
				rc = ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", p.buf,
						     strerror(errno));
			else if (add_file(s, p.buf, &fst, &cap) < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		ferry_buf_release(&p);
		if (rc < 0)
			goto out;
		if (!s->nfiles) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND, "no *.csv files under '%s'",
					     url->path);
			goto out;
		}
		qsort(s->files, s->nfiles, sizeof(*s->files), cmp_path);
	} else if (add_file(s, url->path, &st, &cap) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
out:
	if (rc < 0) {
		src_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int src_discover(void *v, struct tm_schema *out, struct ferry_error *err)
{
	struct csv_src *s = v;
	int rc;

	if ((rc = csv_ensure_discovered(s, err)) < 0)
		return rc;
	return csv_build_schema(s, out, err);
}

static int src_plan(void *v, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
		    struct ferry_error *err)
{
	struct csv_src *s = v;
	struct tm_chunk *c = NULL;
	size_t fi, k, cnt = 0, at = 0;
	int rc;

	(void)sch;
	if ((rc = csv_ensure_discovered(s, err)) < 0)
		return rc;
	for (fi = 0; fi < s->nfiles; fi++)
		cnt += s->files[fi].ncuts;
	if (cnt && !(c = ferry_calloc(cnt, sizeof(*c))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];
		double recs = 0, vals = (double)f->values;

		/* field values (narrow rows) per record, from discover()'s scan:
		 * an aligned record holds points of several devices */
		for (k = 0; k < f->ngroups; k++)
			vals += (double)f->groups[k].values;
		for (k = 0; k < f->ndevs; k++)
			vals += (double)f->devs[k].values;
		for (k = 0; k < f->ncuts; k++)
			recs += (double)f->cuts[k].est;
		for (k = 0; k < f->ncuts; k++, at++) {
			c[at].measurement = f->mode == MODE_PLAIN ? f->midx : -1;
			c[at].file = (int)fi;
			c[at].off_lo = f->cuts[k].lo;
			c[at].off_hi = f->cuts[k].hi;
			c[at].line0 = f->cuts[k].line0;
			c[at].est = f->cuts[k].est;
			if (recs > 0)
				c[at].est_values = (int64_t)((double)f->cuts[k].est * vals / recs);
		}
	}
	*out = c;
	*n = cnt;
	return 0;
}

static int src_read(void *v, const struct tm_schema *sch, const struct tm_chunk *ck,
		    int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
		    struct ferry_error *err)
{
	struct csv_src *s = v;
	struct cfile *f;
	struct reader rdr;
	struct rd r;
	const char *rec;
	size_t n;
	int64_t line;
	int toolong, rc;
	uint64_t end;

	(void)sch;  /* each handle discovers the same schema from the same files */
	if ((rc = csv_ensure_discovered(s, err)) < 0)
		return rc;
	if (ck->file < 0 || (size_t)ck->file >= s->nfiles)
		return ferry_error_set(err, FERRY_EINVAL, "csv chunk names file %d of %zu",
				       ck->file, s->nfiles);
	f = &s->files[ck->file];
	if (!f->has_header || ck->off_lo < f->data_off || ck->off_hi > f->size ||
	    ck->off_lo > ck->off_hi)
		return ferry_error_set(err, FERRY_EINVAL,
			"csv chunk [%llu, %llu) does not fit '%s'",
			(unsigned long long)ck->off_lo, (unsigned long long)ck->off_hi, f->path);
	if ((rc = csv_grow_scratch(s, f->ncols, err)) < 0)
		return rc;
	memset(&rdr, 0, sizeof(rdr));
	rdr.s = s;
	rdr.f = f;
	rdr.only = only;
	rdr.fn = fn;
	rdr.rej = rej;
	rdr.ud = ud;
	if ((rc = csv_rd_open(&r, f->path, ck->off_lo, ck->off_hi, ck->line0, s->limit, err)) < 0)
		return rc;
	r.bs = f->bs;
	for (;;) {
		rc = csv_rd_next(&r, f->path, &rec, &n, &line, &toolong, &end, err);
		if (rc <= 0)
			break;
		if ((rc = csv_do_row(&rdr, rec, n, line, toolong, err)) < 0)
			break;
	}
	if (rc < 0 && !err->msg[0])
		ferry_error_set(err, rc, "reading '%s' stopped", f->path);
	if (rc < 0)
		ferry_error_origin(err, "%s:%lld", f->path, (long long)r.line);
	csv_rd_release(&r);
	return rc < 0 ? rc : 0;
}

/* Each file's name, size and a hash of its bytes: a same-size edit whose
 * mtime was put back changes the hash (one more read of the files, about
 * 0.02 s for 57 MB from the page cache). */
static int src_identity(void *v, struct ferry_buf *out, struct ferry_error *err)
{
	struct csv_src *s = v;
	size_t i;

	for (i = 0; i < s->nfiles; i++) {
		ferry_hash_stream *h = ferry_hash_stream_new();
		char hex[33];

		if (!h)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (ferry_hash_stream_file(h, s->files[i].path) < 0) {
			int e = errno;

			ferry_hash_stream_free(h);
			return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					       s->files[i].path, strerror(e));
		}
		ferry_hash_stream_hex(h, hex);
		ferry_hash_stream_free(h);
		if (ferry_buf_addf(out, "%s %llu %s\n", s->files[i].path,
				   (unsigned long long)s->files[i].size, hex) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* The directory's files in key order: s->files (sorted by path, as the
 * walk's names are). */
static void src_files(void *v, char *const **names, size_t *n)
{
	struct csv_src *s = v;

	*names = s->walk.files;
	*n = s->is_dir ? s->walk.nfiles : 0;
}

static int src_notes(void *v, struct ferry_buf *out)
{
	struct csv_src *s = v;

	return s->is_dir ? tm_walk_note(&s->walk, s->root, out) : 0;
}

const struct tm_source_ops csv_source_ops = {
	.name = "csv",
	.open = src_open,
	.close = src_close,
	.discover = src_discover,
	.plan = src_plan,
	.read = src_read,
	.identity = src_identity,
	.identity_is_content = 1,
	.notes = src_notes,
	.files = src_files,
};
