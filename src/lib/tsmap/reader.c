/*
 * reader.c - a point source read through a layout: the tables of the
 * layout (tm_reader_catalog), their chunk ordinals (tm_reader_key_range)
 * and the rows of a range of chunks (tm_reader_read), which it reads from
 * the source and turns from points into rows.  The connector layer wraps
 * it into a row-store connector (src/lib/connectors/points.c), so this
 * file knows nothing of connectors.  Discovery, the chunk plan and the
 * layout are made once per process and source URL and shared by every
 * reader of it (the copy's workers each open one), so the plan cannot
 * differ between them and a remote source is asked once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "tsmap/tm_int.h"

#define TM_MIN_BATCH 256

struct tm_shared {
	struct tm_shared *next;
	char *key;
	int refs;
	ferry_url *url;          /* the options borrow from it */
	struct tm_opts o;
	struct tm_schema sch;
	struct tm_chunk *ck;
	size_t nck;
	struct tm_layout lay;
	_Atomic uint64_t ns_cut;
	_Atomic uint64_t points;   /* read by this process: tags checked only then */
};

struct tm_reader {
	const struct tm_source_ops *sops;
	void *s;
	struct tm_shared *sh;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tm_shared *cache;

static void shared_free(struct tm_shared *sh)
{
	if (!sh)
		return;
	tm_layout_release(&sh->lay);
	tm_chunks_free(sh->ck);
	tm_schema_release(&sh->sch);
	ferry_url_free(sh->url);
	ferry_free(sh->key);
	ferry_free(sh);
}

static int shared_make(const struct tm_source_ops *sops, void *s, const ferry_url *url,
		       struct tm_shared **out, struct ferry_error *err)
{
	struct tm_shared *sh = ferry_calloc(1, sizeof(*sh));
	int rc;

	if (!sh)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (!(sh->key = ferry_strdup(url->raw))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = ferry_url_parse(url->raw, &sh->url, err)) < 0 ||
	    (rc = tm_opts_from_url(sh->url, &sh->o, err)) < 0)
		goto fail;
	if ((rc = sops->discover(s, &sh->sch, err)) < 0)
		goto fail;
	if ((rc = sops->plan(s, &sh->sch, &sh->ck, &sh->nck, err)) < 0)
		goto fail;
	if ((rc = tm_layout_build(&sh->lay, &sh->o, &sh->sch, sh->ck, sh->nck, err)) < 0)
		goto fail;
	*out = sh;
	return 0;
fail:
	shared_free(sh);
	return rc;
}

int tm_reader_open(const struct tm_source_ops *sops, const ferry_url *url,
		   struct tm_reader **out, struct ferry_error *err)
{
	struct tm_reader *c;
	struct tm_shared *sh;
	struct tm_opts o;
	int rc;

	if ((rc = tm_opts_from_url(url, &o, err)) < 0)
		return rc;
	if (!(c = ferry_calloc(1, sizeof(*c))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	c->sops = sops;
	if ((rc = sops->open(url, &o.src, &c->s, err)) < 0) {
		ferry_free(c);
		return rc;
	}
	pthread_mutex_lock(&cache_lock);
	for (sh = cache; sh; sh = sh->next)
		if (!strcmp(sh->key, url->raw))
			break;
	if (!sh) {
		if ((rc = shared_make(sops, c->s, url, &sh, err)) == 0) {
			sh->next = cache;
			cache = sh;
		}
	}
	if (sh)
		sh->refs++;
	pthread_mutex_unlock(&cache_lock);
	if (rc < 0) {
		sops->close(c->s);
		ferry_free(c);
		return rc;
	}
	c->sh = sh;
	*out = c;
	return 0;
}

void tm_reader_close(struct tm_reader *c)
{
	struct tm_shared **pp;

	if (!c)
		return;
	c->sops->close(c->s);
	pthread_mutex_lock(&cache_lock);
	if (--c->sh->refs == 0) {
		for (pp = &cache; *pp; pp = &(*pp)->next)
			if (*pp == c->sh) {
				*pp = c->sh->next;
				break;
			}
		shared_free(c->sh);
	}
	pthread_mutex_unlock(&cache_lock);
	ferry_free(c);
}

int tm_reader_catalog(struct tm_reader *c, struct ferry_catalog **out,
		      struct ferry_error *err)
{
	char *const *names = NULL;
	size_t n = 0, i, k;
	int rc;

	if ((rc = tm_layout_catalog(&c->sh->lay, &c->sh->o, out, err)) < 0)
		return rc;
	if (c->sops->files)
		c->sops->files(c->s, &names, &n);
	/* keys of a directory's points name their file (TM_KEY) */
	for (i = 0; n && i < (*out)->ntables; i++) {
		struct ferry_table *t = &(*out)->tables[i];

		if (!(t->key_files = ferry_calloc(n, sizeof(*t->key_files))))
			goto nomem;
		for (k = 0; k < n; k++, t->nkey_files++)
			if (!(t->key_files[k] = ferry_strdup(names[k])))
				goto nomem;
	}
	return 0;
nomem:
	ferry_catalog_free(*out);
	*out = NULL;
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

static const struct tm_table *find_table(const struct tm_shared *sh, const char *name)
{
	size_t i;

	for (i = 0; i < sh->lay.n; i++)
		if (!strcmp(sh->lay.t[i].name, name))
			return &sh->lay.t[i];
	return NULL;
}

int tm_reader_key_range(struct tm_reader *c, const char *table, int64_t *lo, int64_t *hi,
			int64_t *count, struct ferry_error *err)
{
	const struct tm_table *tt = find_table(c->sh, table);

	if (!tt)
		return ferry_error_set(err, FERRY_ENOTFOUND, "no table '%s' in the layout", table);
	*lo = 0;
	*hi = tt->nchunks && !tt->merge_all ? (int64_t)tt->nchunks - 1 : 0;
	*count = tt->nchunks ? (tt->est > (int64_t)tt->nchunks ? tt->est : (int64_t)tt->nchunks) : 0;
	return 0;
}

struct rd {
	struct tm_reader *c;
	const struct tm_read_spec *spec;
	struct tm_rows rows;
	struct ferry_batch b;
	tm_batch_fn fn;
	void *ud;
	int stopped;
	uint64_t points;         /* points read */
	struct tm_merge merge;   /* wide: the points go through it */
	struct tm_merge_sink sink;
};

static int flush(struct rd *r, struct ferry_error *err)
{
	int rc;

	if (!r->b.nrows)
		return 0;
	rc = r->fn(&r->b, r->ud, err);
	ferry_batch_clear(&r->b);
	if (rc > 0)
		r->stopped = 1;
	return rc;
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct rd *r = ud;
	size_t need = r->rows.t->per_point ? 1 : p->nfields;
	int rc;

	r->points++;
	if (r->b.nrows + need > r->b.cap ||
	    (r->spec->batch_bytes && r->b.arena.len >= r->spec->batch_bytes)) {
		if ((rc = flush(r, err)) != 0)
			return rc;
		if (need > r->b.cap) {  /* a point with more fields than a batch has rows */
			size_t ncols = r->b.ncols;

			ferry_batch_release(&r->b);
			if (ferry_batch_init(&r->b, ncols, need) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			r->rows.b = &r->b;
		}
	}
	return tm_rows_add(&r->rows, p, err);
}

static int on_point_merge(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct rd *r = ud;

	return tm_merge_add(&r->merge, p, &r->sink, err);
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	struct rd *r = ud;

	if (!r->spec->reject)
		return ferry_error_set(err, FERRY_EREJECT, "record at %lld: %s", (long long)key,
				       reason);
	return r->spec->reject(r->spec->reject_ud, key, "", reason, raw, n, err);
}

int tm_reader_read(struct tm_reader *c, const struct tm_read_spec *spec, tm_batch_fn fn,
		   void *ud, struct ferry_error *err)
{
	const struct tm_table *t = find_table(c->sh, spec->table);
	struct rd r;
	size_t j, first = 0, last, cap;
	int rc = 0;

	if (!t)
		return ferry_error_set(err, FERRY_ENOTFOUND, "no table '%s' in the layout",
				       spec->table);
	if (!t->nchunks)
		return 0;
	last = t->nchunks - 1;
	if (spec->has_range) {
		if (spec->lo < 0 || spec->hi < spec->lo ||
		    (size_t)spec->hi > (t->merge_all ? 0 : last))
			return ferry_error_set(err, FERRY_EINVAL,
					       "chunk %lld..%lld of table '%s' is not in the plan "
					       "(the source changed? rerun with --restart)",
					       (long long)spec->lo, (long long)spec->hi, t->name);
		if (!t->merge_all) {
			first = (size_t)spec->lo;
			last = (size_t)spec->hi;
		}
	}
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.spec = spec;
	r.fn = fn;
	r.ud = ud;
	cap = spec->batch_rows > TM_MIN_BATCH ? spec->batch_rows : TM_MIN_BATCH;
	if (ferry_batch_init(&r.b, t->ncols, cap) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	r.rows.t = t;
	r.rows.o = &c->sh->o;
	r.rows.b = &r.b;
	r.rows.reject = spec->reject;
	r.rows.reject_ud = spec->reject_ud;
	if (t->per_point) {
		const char *mn = c->sh->sch.m[t->measurement].name;

		r.sink.reject = spec->reject;
		r.sink.ud = spec->reject_ud;
		r.sink.key_label = t->merge_all ? "line" : "point";
		if (tm_merge_init(&r.merge, t, (struct lp_str){ mn, strlen(mn) },
				  c->sh->o.keep_ns) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (j = first; j <= last && rc == 0 && !r.stopped; j++) {
		const struct tm_chunk *ck = &c->sh->ck[t->chunks[j]];

		rc = c->sops->read(c->s, &c->sh->sch, ck, t->per_point ? t->measurement : -1,
				   t->per_point ? on_point_merge : on_point, on_reject, &r, err);
		/* InfluxDB's chunks hold whole keys: hand each one's rows on */
		if (rc == 0 && t->per_point && (!t->merge_all || j == last))
			rc = tm_merge_flush(&r.merge, on_point, &r, err);
		if (rc > 0 || r.stopped) {
			rc = 0;
			break;
		}
	}
	if (rc == 0 && !r.stopped && (rc = flush(&r, err)) > 0)
		rc = 0;
out:
	tm_merge_release(&r.merge);
	atomic_fetch_add(&c->sh->ns_cut, r.rows.ns_cut);
	atomic_fetch_add(&c->sh->points, r.points);
	tm_rows_release(&r.rows);
	ferry_batch_release(&r.b);
	return rc;
}

/* Warnings for map columns whose tag no point had (see tm_col.tag_seen). */
static int tag_notes(const struct tm_layout *l, struct ferry_buf *out)
{
	size_t i, k;
	int rc = 0;

	for (i = 0; i < l->n; i++) {
		const struct tm_table *t = &l->t[i];

		for (k = 0; t->exists && k < t->ncols && rc == 0; k++) {
			const struct tm_col *c = &t->cols[k];
			unsigned seen = atomic_load(&((struct tm_col *)c)->tag_seen), bit = 0;
			const char *s;

			if (c->from == TF_TAG && !(seen & 1u)) {
				rc = ferry_buf_addf(out, "map column '%s': no point had tag '%s', so "
						    "the column got no value (check the tag's name: "
						    "tag keys are case-sensitive)\n", c->name, c->arg);
				continue;
			}
			if (c->from != TF_TEMPLATE)
				continue;
			for (s = c->arg; rc == 0 && (s = strstr(s, "{tag.")) != NULL; bit++) {
				const char *e = strchr(s, '}');

				if (!e)
					break;
				if (bit < 32 && !(seen & (1u << bit)))
					rc = ferry_buf_addf(out, "map column '%s': no point had tag "
							    "'%.*s' of \"%s\", so it was left empty "
							    "(check the tag's name: tag keys are "
							    "case-sensitive)\n", c->name,
							    (int)(e - s - 5), s + 5, c->arg);
				s = e + 1;
			}
		}
	}
	return rc;
}

int tm_reader_notes(struct tm_reader *c, struct ferry_buf *out)
{
	uint64_t cut = atomic_load(&c->sh->ns_cut);
	int e = 0;

	if (cut)
		e |= ferry_buf_addf(out, "%llu points had nanoseconds that timestamptz cannot keep: "
			       "their time was cut to microseconds%s\n", (unsigned long long)cut,
			       c->sh->o.keep_ns ? " (time_ns keeps the exact value)" :
			       "; add --keep-ns to keep the exact value in a time_ns column");
	if (c->sops->notes)
		e |= c->sops->notes(c->s, out);
	if (atomic_load(&c->sh->points))
		e |= tag_notes(&c->sh->lay, out);
	/* InfluxDB keeps one point per series and time; a file may hold
	 * a point twice, and only the wide layout merges by key */
	if (!strcmp(c->sh->o.layout, "narrow") && !c->sops->unique_points)
		e |= ferry_buf_addstr(out, "narrow layout: every line is a row, so a point written "
				 "twice in the source is loaded twice (InfluxDB and --layout "
				 "wide keep the last write of each field)\n");
	return e < 0 ? FERRY_ENOMEM : 0;
}


/* The source's identity when it covers the content (see tm_source_ops),
 * else 1: it cannot say. */
int tm_reader_content_id(struct tm_reader *c, struct ferry_buf *out, struct ferry_error *err)
{
	if (!c->sops->identity || !c->sops->identity_is_content)
		return 1;
	return c->sops->identity(c->s, out, err);
}
