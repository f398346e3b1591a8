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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/hash.h"
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
	struct tm_pmap *pm;      /* the map file's points: rules, or NULL */
	struct tm_schema msch;   /* wide through pm: the mapped points' schema */
	struct feed *feeds;      /* ... and which source measurement feeds which */
	size_t nfeeds;
	size_t *owner;           /* ... and per chunk, the first table reading it:
				  * the one that reports a point the map refuses */
	_Atomic uint64_t ns_cut;
	_Atomic uint64_t points;   /* read by this process: tags checked only then */
};

struct tm_reader {
	const struct tm_source_ops *sops;
	void *s;
	struct tm_shared *sh;
};

/* Wide through a point map: source measurement src has points that
 * become measurement out. */
struct feed {
	int src;
	char *out;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tm_shared *cache;

static void shared_free(struct tm_shared *sh)
{
	if (!sh)
		return;
	tm_layout_release(&sh->lay);
	tm_pmap_free(sh->pm);
	tm_schema_release(&sh->msch);
	while (sh->nfeeds)
		ferry_free(sh->feeds[--sh->nfeeds].out);
	ferry_free(sh->feeds);
	ferry_free(sh->owner);
	tm_chunks_free(sh->ck);
	tm_schema_release(&sh->sch);
	ferry_url_free(sh->url);
	ferry_free(sh->key);
	ferry_free(sh);
}

/* ---- wide through a point map: the tables the mapped points need ---- */

static int add_feed(struct tm_shared *sh, int src, const char *out, size_t n)
{
	size_t i;
	struct feed *f;

	for (i = 0; i < sh->nfeeds; i++)
		if (sh->feeds[i].src == src && strlen(sh->feeds[i].out) == n &&
		    !memcmp(sh->feeds[i].out, out, n))
			return 0;
	if (!(f = ferry_realloc(sh->feeds, (sh->nfeeds + 1) * sizeof(*f))))
		return FERRY_ENOMEM;
	sh->feeds = f;
	if (!(f[sh->nfeeds].out = ferry_strndup(out, n)))
		return FERRY_ENOMEM;
	f[sh->nfeeds++].src = src;
	return 0;
}

struct scan {
	struct tm_shared *sh;
	struct tm_pmap_run *run;
	int src;
};

static int scan_mapped(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct scan *sc = ud;
	struct tm_measurement *o;
	size_t k;

	o = tm_schema_measurement(&sc->sh->msch, p->measurement.p, p->measurement.n);
	if (!o || add_feed(sc->sh, sc->src, p->measurement.p, p->measurement.n) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (k = 0; k < p->ntags; k++)
		if (tm_measurement_add_tag(o, p->tags[k].key.p, p->tags[k].key.n) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (k = 0; k < p->nfields; k++)
		if (tm_measurement_add_field(o, p->fields[k].key.p, p->fields[k].key.n,
					     TM_TYPE_BIT(p->fields[k].type)) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int scan_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct scan *sc = ud;
	char why[8];
	size_t n;
	int rc;

	sc->src = tm_schema_find(&sc->sh->sch, p->measurement.p, p->measurement.n);
	rc = tm_pmap_apply(sc->run, p, scan_mapped, sc, &n, why, sizeof(why), err);
	return rc == 1 ? 0 : rc;   /* refused: its table's read rejects it */
}

static int scan_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		       struct ferry_error *err)
{
	(void)ud, (void)key, (void)reason, (void)raw, (void)n, (void)err;
	return 0;
}

/* The schema of the mapped points (sh->msch) and which source
 * measurement feeds which of them: from the source's schema when the
 * map can say (tm_pmap_schema), else a read of every point. */
static int mapped_schema(const struct tm_source_ops *sops, void *s, struct tm_shared *sh,
			 struct ferry_error *err)
{
	struct scan sc = { sh, NULL, -1 };
	size_t i, k;
	int rc = 0;

	sh->msch.typed = sh->sch.typed;
	for (i = 0; i < sh->sch.n && rc == 0; i++) {
		struct tm_schema one = { &sh->sch.m[i], 1, sh->sch.typed }, part;

		if ((rc = tm_pmap_schema(sh->pm, &one, &part, err)) != 0)
			break;
		for (k = 0; k < part.n && rc == 0; k++)
			if ((rc = tm_schema_merge(&sh->msch, &part.m[k])) == 0)
				rc = add_feed(sh, (int)i, part.m[k].name, strlen(part.m[k].name));
		tm_schema_release(&part);
		if (rc < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (rc <= 0)
		return rc;
	/* the map needs the points: read them all once */
	tm_schema_release(&sh->msch);
	sh->msch.typed = 1;
	while (sh->nfeeds)
		ferry_free(sh->feeds[--sh->nfeeds].out);
	if (tm_pmap_run_new(sh->pm, &sc.run) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0, rc = 0; i < sh->nck && rc == 0; i++)
		rc = sops->read(s, &sh->sch, &sh->ck[i], -1, scan_point, scan_reject, &sc, err);
	tm_pmap_run_free(sc.run);
	return rc > 0 ? 0 : rc;
}

/* Each wide table reads the chunks of the source measurements that feed
 * it (all of a chunk that holds any measurement); a table fed by several,
 * or by chunks without a time range, merges all its points as one unit. */
static int wide_chunks(struct tm_shared *sh)
{
	size_t i, j, f;

	if (!(sh->owner = ferry_calloc(sh->nck ? sh->nck : 1, sizeof(*sh->owner))))
		return FERRY_ENOMEM;
	for (j = 0; j < sh->nck; j++)
		sh->owner[j] = SIZE_MAX;
	for (i = 0; i < sh->lay.n; i++) {
		struct tm_table *t = &sh->lay.t[i];
		/* the map's measurement as it makes it: the table's name writes
		 * bytes that are not UTF-8 as \xNN (mapping.c, pg_name) */
		const char *mn = sh->msch.m[t->measurement].name;
		int src = -2;

		t->nchunks = 0;
		t->est = 0;
		t->merge_all = 0;
		for (j = 0; j < sh->nck; j++) {
			const struct tm_chunk *ck = &sh->ck[j];
			int in = ck->measurement < 0;

			for (f = 0; !in && f < sh->nfeeds; f++)
				in = sh->feeds[f].src == ck->measurement &&
				     !strcmp(sh->feeds[f].out, mn);
			if (!in)
				continue;
			t->chunks[t->nchunks++] = j;   /* chunks_for made room for all */
			if (ck->est > 0)
				t->est += ck->est;
			if (!ck->has_time || (src != -2 && src != ck->measurement))
				t->merge_all = 1;
			src = ck->measurement;
			if (sh->owner[j] == SIZE_MAX)
				sh->owner[j] = i;
		}
	}
	return 0;
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
	if (sh->o.map_path && (rc = tm_pmap_load(sh->o.map_path, &sh->pm, err)) < 0)
		goto fail;
	if (sh->pm && !strcmp(sh->o.layout, "wide")) {
		if ((rc = mapped_schema(sops, s, sh, err)) < 0)
			goto fail;
		if ((rc = tm_layout_build(&sh->lay, &sh->o, &sh->msch, sh->ck, sh->nck, err)) < 0)
			goto fail;
		if ((rc = wide_chunks(sh)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto fail;
		}
	} else if ((rc = tm_layout_build(&sh->lay, &sh->o, &sh->sch, sh->ck, sh->nck, err)) < 0) {
		goto fail;
	}
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

static const struct tm_table *find_table(const struct tm_shared *sh, const char *name);

/* A digest of what table t's chunks read, in their order: a resumed job
 * finds chunk N by its number, and the counts the job's fingerprint has
 * (chunks, points) can stay the same while a chunk reads other points,
 * e.g. after a newer ferry plans InfluxDB's series differently.  16 hex
 * digits, or NULL when out of memory. */
static char *plan_digest(const struct tm_shared *sh, const struct tm_table *t)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	char *out = NULL;
	size_t j, k;
	int berr = 0;

	for (j = 0; j < t->nchunks; j++) {
		const struct tm_chunk *ck = &sh->ck[t->chunks[j]];

		berr |= ferry_buf_addf(&b, "c%d:%d:%lld:%lld:%d:%llu:%llu:%lld:%zu|", ck->measurement,
			       ck->has_time, (long long)ck->t_lo, (long long)ck->t_hi, ck->file,
			       (unsigned long long)ck->off_lo, (unsigned long long)ck->off_hi,
			       (long long)ck->line0, ck->nitems);
		if (ck->cut)   /* only then: the digests of whole files stay as they were */
			berr |= ferry_buf_addstr(&b, "cut|");
		for (k = 0; k < ck->nitems; k++) {
			const struct tm_item *it = &ck->items[k];

			berr |= ferry_buf_addf(&b, "i%d:%lld:%lld:", it->measurement,
					       (long long)it->t_lo, (long long)it->t_hi);
			if (it->where)
				berr |= ferry_buf_add(&b, it->where, strlen(it->where) + 1);
		}
	}
	if (berr == 0 && !ferry_buf_error(&b) && (out = ferry_malloc(17)))
		snprintf(out, 17, "%016llx", (unsigned long long)ferry_hash64(b.buf, b.len));
	ferry_buf_release(&b);
	return out;
}

int tm_reader_catalog(struct tm_reader *c, struct ferry_catalog **out,
		      struct ferry_error *err)
{
	char *const *names = NULL;
	size_t n = 0, i, k;
	int rc;

	if ((rc = tm_layout_catalog(&c->sh->lay, &c->sh->o, out, err)) < 0)
		return rc;
	for (i = 0; i < (*out)->ntables; i++) {
		const struct tm_table *tt = find_table(c->sh, (*out)->tables[i].name);

		if (tt && !((*out)->tables[i].plan_digest = plan_digest(c->sh, tt)))
			goto nomem;
	}
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
	/* through a point map: the source's points go to the run, its points
	 * to next (wide: only those of this table's measurement) */
	struct tm_pmap_run *run;
	tm_point_fn next;
	const char *only;
	int report;              /* this table reports the map's refusals */
	struct ferry_buf raw;
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

static int on_mapped(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct rd *r = ud;

	if (r->only && !(p->measurement.n == strlen(r->only) &&
			 !memcmp(p->measurement.p, r->only, p->measurement.n)))
		return 0;
	return r->next(p, ud, err);
}

/* A source point through the map; a point it refuses is a reject with
 * the point's key (line), as a malformed record is. */
static int on_source_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct rd *r = ud;
	char why[512];
	size_t n;
	int rc;

	r->points++;   /* read, whatever the map makes of it (notes) */
	rc = tm_pmap_apply(r->run, p, on_mapped, r, &n, why, sizeof(why), err);
	if (rc != 1)
		return rc;
	if (!r->report)
		return 0;
	if (!r->spec->reject)
		return ferry_error_set(err, FERRY_EREJECT, "point at %lld: %s", (long long)p->key,
				       why);
	if (tm_point_lp(p, NULL, &r->raw) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return r->spec->reject(r->spec->reject_ud, p->key, "", why, r->raw.buf, r->raw.len, err);
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
	if (c->sh->pm && tm_pmap_run_new(c->sh->pm, &r.run) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (t->per_point) {
		const char *mn = (c->sh->pm ? &c->sh->msch : &c->sh->sch)->m[t->measurement].name;

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
		tm_point_fn fn1 = t->per_point ? on_point_merge : on_point;

		if (r.run) {
			r.next = fn1;
			r.only = t->per_point ? (c->sh->pm ? &c->sh->msch : &c->sh->sch)->m[t->measurement].name : NULL;
			r.report = !c->sh->owner || c->sh->owner[t->chunks[j]] == (size_t)(t - c->sh->lay.t);
			fn1 = on_source_point;
		}
		/* the chunk read after it: the next of this range, or of the
		 * table when one stream takes them all */
		if (c->sops->next_chunk)
			c->sops->next_chunk(c->s, j < last ? &c->sh->ck[t->chunks[j + 1]] :
					    spec->then_next && last + 1 < t->nchunks &&
					    !t->merge_all ? &c->sh->ck[t->chunks[last + 1]] : NULL);
		rc = c->sops->read(c->s, &c->sh->sch, ck,
				   t->per_point && !r.run ? t->measurement : -1, fn1,
				   on_reject, &r, err);
		/* InfluxDB's chunks hold whole keys: hand each one's rows on */
		if (rc == 0 && t->per_point && (!t->merge_all || j == last))
			rc = tm_merge_flush(&r.merge, &r.sink, on_point, &r, err);
		if (rc > 0 || r.stopped) {
			rc = 0;
			break;
		}
	}
	if (rc == 0 && !r.stopped && (rc = flush(&r, err)) > 0)
		rc = 0;
out:
	tm_pmap_run_free(r.run);
	ferry_buf_release(&r.raw);
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
	/* only once every chunk was read could a rule be known to match nothing */
	if (c->sh->pm && atomic_load(&c->sh->points))
		e |= tm_pmap_unmatched(c->sh->pm, out);
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
int tm_source_content_id(const struct tm_source_ops *ops, void *h, struct ferry_buf *out,
			 struct ferry_error *err)
{
	if (!ops->identity || !ops->identity_is_content)
		return 1;
	return ops->identity(h, out, err);
}

int tm_reader_content_id(struct tm_reader *c, struct ferry_buf *out, struct ferry_error *err)
{
	return tm_source_content_id(c->sops, c->s, out, err);
}
