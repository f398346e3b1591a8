/*
 * points.c - ferry verify into InfluxDB: a point source (influx://, lp://,
 * csv://), through a point map when --map names one, against the points an
 * InfluxDB target holds now.  verify.c hands over when the target is
 * influx://.
 *
 *   both sides opened as point sources (tm_source_ops; the target is read
 *   as an influx:// source too), discovered and planned
 *     -> windows: time cut at multiples of W ns since 1970 (--chunk-time,
 *        or whole hours aiming at PV_WINDOW_VALUES values); the same data
 *        gives the same windows, and --sample picks some by --seed
 *     -> per window: every field value of either side becomes a canonical
 *        record (series = measurement and sorted tags, field, typed value,
 *        time_ns) hashed with XXH3; per series the count, sum and xor of
 *        the hashes (struct vf_sum), so the order of reading never counts
 *        (the target is read on a second thread into a set of its own,
 *        added into the compared one after: both sides' queries at once)
 *     -> a window whose series differ is read again keeping only the
 *        first differing series of each measurement (by series key), to
 *        name its first differing value (by time, then field).
 *
 * InfluxDB keeps one value per series, field and time, the last written.
 * The target never has two; the source may (a file that writes a point
 * twice, a map that makes two series one), so its values are first kept
 * in a table by (series, field, time) where a later one replaces the
 * earlier (in read order, the order a copy writes them), and only then
 * summed.  An InfluxDB source is read window by window, so memory is one
 * window's values and series; a file cannot be read by time, so it is
 * read whole once and all its values are held (24 bytes each in a table
 * kept at most half full), as the wide layout merges a file's measurement
 * in memory.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/registry.h"
#include "ferry/url.h"
#include "ferry/verify.h"
#include "model/value.h"
#include "tsmap/tsmap.h"
#include "verify/verify_int.h"

#define PV_WINDOW_VALUES 400000     /* the default window aims at this many values */
#define PV_HOUR_NS INT64_C(3600000000000)
#define PV_MAX_WINDOWS 10000000

/* One series in one window. */
struct pv_ser {
	int64_t win;
	uint64_t h;               /* hash of (win, key) */
	size_t key, klen;         /* its key "meas,k=v,..." (line protocol) in arena */
	size_t m, mlen;           /* the measurement's name in arena */
	int tab;                  /* index into pv_run.tabs, -1: filtered out,
				   * -2: not asked (the target's own set) */
	int chosen;               /* naming read: keep its values */
	struct vf_sum s, d;
};

/* One source value, kept until the window is summed: a later one with
 * the same (series, field, time) replaces it. */
struct pv_val {
	uint32_t ser;             /* series index + 1; 0: empty slot */
	uint32_t fld;
	int64_t t;
	uint64_t h;
};

/* Series by (window, key): open addressing of their index + 1. */
struct pv_sset {
	struct pv_ser *ser;
	size_t n, cap;
	uint32_t *idx;
	size_t idxcap;
	struct ferry_buf arena;
};

struct pv_fld {
	size_t off, len;          /* in pv_run.farena */
	uint64_t h;
};

/* A value of a chosen series, for naming the first difference. */
struct pv_rec {
	uint32_t ser;
	int side;                 /* 0 source, 1 target */
	size_t seq;
	size_t f, flen;           /* field name in recs_text */
	size_t v;                 /* value text (NUL-ended) in recs_text */
	int64_t t;
	uint64_t h;
};

struct pv_side {
	const struct tm_source_ops *ops;
	void *h;
	struct tm_schema sch;
	struct tm_chunk *ck;
	size_t nck;
	int is_file;              /* chunks are byte ranges, not time */
	char *shown;              /* the URL redacted, for messages */
};

struct pv_tab {
	char *name;
	struct ferry_verify_table st;
};

struct pv_run {
	const struct ferry_verify_opts *o;
	struct pv_side src, dst;
	struct tm_pmap *map;
	struct tm_pmap_run *mrun;
	int64_t w;                /* window size, ns */
	const int64_t *wins;      /* the windows of this batch, sorted */
	size_t nwins;
	int naming;               /* the naming read: collect chosen series' values */
	/* per batch: the series compared (S), the target's while it is read
	 * on its own thread (T, then added into S) */
	struct pv_sset S, T;
	struct pv_fld *fld;
	size_t nfld, capfld;
	uint32_t *fidx;
	size_t fidxcap;
	struct pv_val *val;       /* open addressing */
	size_t nval, capval;
	struct ferry_buf farena;  /* field names */
	struct pv_rec *recs;
	size_t nrecs, caprecs;
	struct ferry_buf recs_text;
	int64_t rejected;
	ferry_progress *progress; /* target values read */
	struct pv_tab *tabs;
	size_t ntabs, captabs;
	char **skip;              /* measurements --include/--exclude leave out */
	size_t nskip, capskip;
	struct ferry_verify_result *res;
};

/* One side's reading: the scratch of its thread. */
struct pv_ctx {
	struct pv_run *r;
	int side;                 /* 0 source, 1 target */
	struct pv_sset *ss;       /* where its series go */
	struct ferry_buf key, rec;
	struct lp_tag *tags;
	size_t capt;
	uint64_t ticks;
};

/* [*lo, *hi) of window k, clamped to the int64 range. */
static void win_span(int64_t w, int64_t k, int64_t *lo, int64_t *hi)
{
	__int128 a = (__int128)k * w, b = a + w;

	*lo = a < INT64_MIN ? INT64_MIN : (int64_t)a;
	*hi = b > INT64_MAX ? INT64_MAX : (int64_t)b;
}

static int win_in(const struct pv_run *r, int64_t k)
{
	size_t lo = 0, hi = r->nwins;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->wins[mid] == k)
			return 1;
		if (r->wins[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- the batch's tables ------------------------------------------------ */

static void sset_clear(struct pv_sset *ss)
{
	ss->n = 0;
	if (ss->idx)
		memset(ss->idx, 0, ss->idxcap * sizeof(*ss->idx));
	ferry_buf_clear(&ss->arena);
}

static void sset_release(struct pv_sset *ss)
{
	ferry_free(ss->ser);
	ferry_free(ss->idx);
	ferry_buf_release(&ss->arena);
}

static void batch_clear(struct pv_run *r)
{
	sset_clear(&r->S);
	sset_clear(&r->T);
	r->nfld = 0;
	if (r->fidx)
		memset(r->fidx, 0, r->fidxcap * sizeof(*r->fidx));
	r->nval = 0;
	if (r->val)
		memset(r->val, 0, r->capval * sizeof(*r->val));
	ferry_buf_clear(&r->farena);
	r->nrecs = 0;
	ferry_buf_clear(&r->recs_text);
}

/* Put entry number v (index + 1) of hash h into a free slot (the index
 * has room: idx_grow first). */
static void idx_put(uint32_t *slot, size_t cap, uint64_t h, uint32_t v)
{
	size_t j;

	for (j = h & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
		;
	slot[j] = v;
}

/* Grow an index of entry numbers to twice its size, rehashed by hash_of. */
static int idx_grow(uint32_t **slot, size_t *cap, size_t n,
		    uint64_t (*hash_of)(const void *, uint32_t), const void *r)
{
	size_t ncap = *cap ? *cap * 2 : 1024, i;
	uint32_t *ns;

	if ((n + 1) * 2 <= *cap)
		return 0;
	if (!(ns = ferry_calloc(ncap, sizeof(*ns))))
		return FERRY_ENOMEM;
	for (i = 0; i < *cap; i++)
		if ((*slot)[i])
			idx_put(ns, ncap, hash_of(r, (*slot)[i] - 1), (*slot)[i]);
	ferry_free(*slot);
	*slot = ns;
	*cap = ncap;
	return 0;
}

static uint64_t ser_hash(const void *ss, uint32_t i)
{
	return ((const struct pv_sset *)ss)->ser[i].h;
}

static uint64_t fld_hash(const void *r, uint32_t i)
{
	return ((const struct pv_run *)r)->fld[i].h;
}

/* *tab: the measurement's table, made when new, or -1 when --include or
 * --exclude leave it out.  0 or FERRY_ENOMEM. */
static int tab_of(struct pv_run *r, const char *m, size_t n, int *tab)
{
	size_t i;
	char *name;

	for (i = 0; i < r->ntabs; i++)
		if (strlen(r->tabs[i].name) == n && !memcmp(r->tabs[i].name, m, n)) {
			*tab = (int)i;
			return 0;
		}
	for (i = 0; i < r->nskip; i++)
		if (strlen(r->skip[i]) == n && !memcmp(r->skip[i], m, n)) {
			*tab = -1;
			return 0;
		}
	if (!(name = ferry_strndup(m, n)))
		return FERRY_ENOMEM;
	if ((r->o->include && r->o->include[0] && !plan_glob_match(r->o->include, name)) ||
	    plan_glob_match(r->o->exclude, name)) {
		if (FERRY_GROW(r->skip, r->capskip, r->nskip + 1) < 0) {
			ferry_free(name);
			return FERRY_ENOMEM;
		}
		r->skip[r->nskip++] = name;
		*tab = -1;
		return 0;
	}
	if (FERRY_GROW(r->tabs, r->captabs, r->ntabs + 1) < 0) {
		ferry_free(name);
		return FERRY_ENOMEM;
	}
	memset(&r->tabs[r->ntabs], 0, sizeof(r->tabs[r->ntabs]));
	r->tabs[r->ntabs].name = name;
	*tab = (int)r->ntabs++;
	return 0;
}

/*
 * The series of key k (klen bytes; measurement m, mlen bytes raw) in
 * window win of set ss: its index (*out), made when new unless the naming
 * read is on (then -1 when not there).  Only the set S asks tab_of (the
 * main thread's), T's series get tab -2.
 */
static int ser_find(struct pv_run *r, struct pv_sset *ss, int64_t win, const char *k,
		    size_t klen, const char *m, size_t mlen, int64_t *out)
{
	uint64_t h = ferry_hash64(k, klen) ^ ((uint64_t)win * UINT64_C(0x9e3779b97f4a7c15));
	size_t j;
	struct pv_ser *s;
	int tab = -2, x = 0;

	if (ss->idxcap)
		for (j = h & (ss->idxcap - 1); ss->idx[j]; j = (j + 1) & (ss->idxcap - 1)) {
			s = &ss->ser[ss->idx[j] - 1];
			if (s->h == h && s->win == win && s->klen == klen &&
			    !memcmp(ss->arena.buf + s->key, k, klen)) {
				*out = ss->idx[j] - 1;
				return 0;
			}
		}
	if (r->naming) {
		*out = -1;
		return 0;
	}
	if (ss == &r->S && tab_of(r, m, mlen, &tab) < 0)
		return FERRY_ENOMEM;
	if (ss->n >= UINT32_MAX - 1)
		return FERRY_ETOOBIG;
	if (FERRY_GROW(ss->ser, ss->cap, ss->n + 1) < 0 ||
	    idx_grow(&ss->idx, &ss->idxcap, ss->n, ser_hash, ss) < 0)
		return FERRY_ENOMEM;
	s = &ss->ser[ss->n];
	memset(s, 0, sizeof(*s));
	s->win = win;
	s->h = h;
	s->tab = tab;
	s->key = ss->arena.len;
	s->klen = klen;
	x |= ferry_buf_add(&ss->arena, k, klen);
	s->m = ss->arena.len;
	s->mlen = mlen;
	x |= ferry_buf_add(&ss->arena, m, mlen);
	if (x < 0)
		return FERRY_ENOMEM;
	idx_put(ss->idx, ss->idxcap, h, (uint32_t)++ss->n);
	*out = (int64_t)ss->n - 1;
	return 0;
}

static int fld_find(struct pv_run *r, const struct lp_str *f, uint32_t *out)
{
	uint64_t h = ferry_hash64(f->p, f->n);
	size_t j;
	struct pv_fld *e;

	if (r->fidxcap)
		for (j = h & (r->fidxcap - 1); r->fidx[j]; j = (j + 1) & (r->fidxcap - 1)) {
			e = &r->fld[r->fidx[j] - 1];
			if (e->h == h && e->len == f->n && !memcmp(r->farena.buf + e->off, f->p, f->n)) {
				*out = r->fidx[j] - 1;
				return 0;
			}
		}
	if (FERRY_GROW(r->fld, r->capfld, r->nfld + 1) < 0 ||
	    idx_grow(&r->fidx, &r->fidxcap, r->nfld, fld_hash, r) < 0)
		return FERRY_ENOMEM;
	e = &r->fld[r->nfld];
	e->off = r->farena.len;
	e->len = f->n;
	e->h = h;
	if (ferry_buf_add(&r->farena, f->p, f->n) < 0)
		return FERRY_ENOMEM;
	idx_put(r->fidx, r->fidxcap, h, (uint32_t)++r->nfld);
	*out = (uint32_t)r->nfld - 1;
	return 0;
}

static uint64_t val_slot(uint32_t ser, uint32_t fld, int64_t t)
{
	uint64_t x = ((uint64_t)ser << 32 | fld) * UINT64_C(0x9e3779b97f4a7c15);

	return x ^ ((uint64_t)t * UINT64_C(0xc2b2ae3d27d4eb4f));
}

/* Keep source value h of (ser, fld, t); a later one replaces it. */
static int val_put(struct pv_run *r, uint32_t ser, uint32_t fld, int64_t t, uint64_t h)
{
	size_t j, i;

	if ((r->nval + 1) * 2 > r->capval) {
		size_t ncap = r->capval ? r->capval * 2 : 4096;
		struct pv_val *nv = ferry_calloc(ncap, sizeof(*nv));

		if (!nv)
			return FERRY_ENOMEM;
		for (i = 0; i < r->capval; i++) {
			const struct pv_val *e = &r->val[i];

			if (!e->ser)
				continue;
			for (j = val_slot(e->ser, e->fld, e->t) & (ncap - 1); nv[j].ser;
			     j = (j + 1) & (ncap - 1))
				;
			nv[j] = *e;
		}
		ferry_free(r->val);
		r->val = nv;
		r->capval = ncap;
	}
	for (j = val_slot(ser + 1, fld, t) & (r->capval - 1); r->val[j].ser;
	     j = (j + 1) & (r->capval - 1))
		if (r->val[j].ser == ser + 1 && r->val[j].fld == fld && r->val[j].t == t) {
			r->val[j].h = h;
			return 0;
		}
	r->val[j].ser = ser + 1;
	r->val[j].fld = fld;
	r->val[j].t = t;
	r->val[j].h = h;
	r->nval++;
	return 0;
}

/* ---- one point --------------------------------------------------------- */

static int tag_cmp(const void *a, const void *b)
{
	const struct lp_tag *x = a, *y = b;
	size_t n = x->key.n < y->key.n ? x->key.n : y->key.n;
	int c = memcmp(x->key.p, y->key.p, n);

	return c ? c : (x->key.n > y->key.n) - (x->key.n < y->key.n);
}

/* The value as line protocol writes it ("1.5", "3i", "\"on\"", "true"). */
static int value_text(const struct lp_field *f, struct ferry_buf *o)
{
	char num[64];

	switch (f->type) {
	case LP_FLOAT:
		val_format_double(f->v.f, num, sizeof(num));
		return ferry_buf_addstr(o, num);
	case LP_INT:
		return ferry_buf_addf(o, "%" PRId64 "i", f->v.i);
	case LP_UINT:
		return ferry_buf_addf(o, "%" PRIu64 "u", f->v.u);
	case LP_STRING:
		return lp_escape_string(o, f->v.s.p, f->v.s.n);
	default:
		return ferry_buf_addstr(o, f->v.b ? "true" : "false");
	}
}

static void put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* The canonical record of one field value of the series in c->key:
 * key, field, type, value, time, each length-prefixed or fixed-size. */
static int record_hash(struct pv_ctx *c, const struct lp_field *f, int64_t t, uint64_t *h)
{
	struct ferry_buf *b = &c->rec;
	unsigned char n8[8];
	uint64_t bits;
	int e = 0;

	ferry_buf_clear(b);
	put_u64(n8, c->key.len);
	e |= ferry_buf_add(b, n8, 8);
	e |= ferry_buf_add(b, c->key.buf, c->key.len);
	put_u64(n8, f->key.n);
	e |= ferry_buf_add(b, n8, 8);
	e |= ferry_buf_add(b, f->key.p, f->key.n);
	e |= ferry_buf_addch(b, (char)f->type);
	switch (f->type) {
	case LP_FLOAT:
		memcpy(&bits, &f->v.f, 8);   /* by its bits: -0.0 is not 0.0 */
		put_u64(n8, bits);
		e |= ferry_buf_add(b, n8, 8);
		break;
	case LP_INT:
		put_u64(n8, (uint64_t)f->v.i);
		e |= ferry_buf_add(b, n8, 8);
		break;
	case LP_UINT:
		put_u64(n8, f->v.u);
		e |= ferry_buf_add(b, n8, 8);
		break;
	case LP_STRING:
		put_u64(n8, f->v.s.n);
		e |= ferry_buf_add(b, n8, 8);
		e |= ferry_buf_add(b, f->v.s.p, f->v.s.n);
		break;
	default:
		e |= ferry_buf_addch(b, f->v.b ? 1 : 0);
	}
	put_u64(n8, (uint64_t)t);
	e |= ferry_buf_add(b, n8, 8);
	if (e < 0)
		return FERRY_ENOMEM;
	*h = ferry_hash64(b->buf, b->len);
	return 0;
}

static int keep_rec(struct pv_run *r, int side, uint32_t ser, const struct lp_field *f,
		    int64_t t, uint64_t h)
{
	struct pv_rec *e;
	int x = 0;

	if (FERRY_GROW(r->recs, r->caprecs, r->nrecs + 1) < 0)
		return FERRY_ENOMEM;
	e = &r->recs[r->nrecs];
	e->ser = ser;
	e->side = side;
	e->seq = r->nrecs;
	e->t = t;
	e->h = h;
	e->f = r->recs_text.len;
	e->flen = f->key.n;
	x |= ferry_buf_add(&r->recs_text, f->key.p, f->key.n);
	e->v = r->recs_text.len;
	x |= value_text(f, &r->recs_text);
	x |= ferry_buf_addch(&r->recs_text, '\0');
	if (x < 0)
		return FERRY_ENOMEM;
	r->nrecs++;
	return 0;
}

/* A point of either side (the source's after the map). */
static int take_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct pv_ctx *c = ud;
	struct pv_run *r = c->r;
	struct pv_ser *sr;
	int64_t win = val_floor_div(p->time_ns, r->w), si;
	size_t i, nt = 0;
	int e = 0, rc;

	/* a file source is read whole; an InfluxDB side only in the batch */
	if (r->nwins && !win_in(r, win) && !(c->side == 0 && r->src.is_file && !r->naming))
		return 0;
	if (FERRY_GROW(c->tags, c->capt, p->ntags + 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < p->ntags; i++)
		if (p->tags[i].val.n)   /* InfluxDB keeps no tag with an empty value */
			c->tags[nt++] = p->tags[i];
	qsort(c->tags, nt, sizeof(*c->tags), tag_cmp);
	ferry_buf_clear(&c->key);
	e |= lp_escape(&c->key, p->measurement.p, p->measurement.n, LP_NAME_MEAS);
	for (i = 0; i < nt; i++) {
		e |= ferry_buf_addch(&c->key, ',');
		e |= lp_escape(&c->key, c->tags[i].key.p, c->tags[i].key.n, LP_NAME_TAG);
		e |= ferry_buf_addch(&c->key, '=');
		e |= lp_escape(&c->key, c->tags[i].val.p, c->tags[i].val.n, LP_NAME_TAG);
	}
	if (e < 0 || ferry_buf_error(&c->key))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = ser_find(r, c->ss, win, c->key.buf, c->key.len, p->measurement.p,
			   p->measurement.n, &si)) < 0)
		return ferry_error_set(err, rc, rc == FERRY_ENOMEM ? "out of memory" :
				       "more than 4 billion series in one window: give a smaller --chunk-time");
	if (c->side == 1 && !r->naming) {
		ferry_progress_add(r->progress, p->nfields, 0);
		if (!(++c->ticks & 1023))
			ferry_progress_tick(r->progress);
	}
	if (si < 0)
		return 0;
	sr = &c->ss->ser[si];
	if (sr->tab == -1 || (r->naming && !sr->chosen))
		return 0;
	for (i = 0; i < p->nfields; i++) {
		const struct lp_field *f = &p->fields[i];
		uint64_t h;
		uint32_t fid;

		if ((rc = record_hash(c, f, p->time_ns, &h)) < 0)
			return ferry_error_set(err, rc, "out of memory");
		if (r->naming)
			rc = keep_rec(r, c->side, (uint32_t)si, f, p->time_ns, h);
		else if (c->side == 1)
			vf_sum_add(&sr->d, h);
		else if ((rc = fld_find(r, &f->key, &fid)) == 0)
			rc = val_put(r, (uint32_t)si, fid, p->time_ns, h);
		if (rc < 0)
			return ferry_error_set(err, rc, "out of memory");
	}
	return 0;
}

/* A source point: through the map, when there is one. */
static int take_src(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct pv_ctx *c = ud;
	struct pv_run *r = c->r;
	char why[256];
	size_t emitted = 0;
	int rc;

	if (!r->map)
		return take_point(p, c, err);
	rc = tm_pmap_apply(r->mrun, p, take_point, c, &emitted, why, sizeof(why), err);
	if (rc == 1) {            /* the copy rejects it too */
		if (!r->naming)
			r->rejected++;
		return 0;
	}
	return rc;
}

static int src_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		      struct ferry_error *err)
{
	struct pv_run *r = ((struct pv_ctx *)ud)->r;

	(void)key;
	(void)reason;
	(void)raw;
	(void)n;
	(void)err;
	if (!r->naming)
		r->rejected++;
	return 0;
}

static int dst_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		      struct ferry_error *err)
{
	(void)ud;
	(void)key;
	(void)raw;
	(void)n;
	return ferry_error_set(err, FERRY_EIO, "a point of the target cannot be read: %s", reason);
}

/* ---- reading ----------------------------------------------------------- */

/* The points of side sd in the batch's windows (a file: all of them). */
static int read_side(struct pv_run *r, struct pv_ctx *cx, struct pv_side *sd,
		     struct ferry_error *err)
{
	int side = cx->side;
	size_t c, k;
	int rc = 0;

	for (c = 0; c < sd->nck && rc == 0; c++) {
		struct tm_chunk piece = sd->ck[c];

		if (sd->is_file || !sd->ck[c].has_time) {
			rc = sd->ops->read(sd->h, &sd->sch, &sd->ck[c], -1,
					   side ? take_point : take_src,
					   side ? dst_reject : src_reject, cx, err);
			continue;
		}
		for (k = 0; k < r->nwins && rc == 0; k++) {
			int64_t lo, hi;

			win_span(r->w, r->wins[k], &lo, &hi);
			piece.t_lo = sd->ck[c].t_lo > lo ? sd->ck[c].t_lo : lo;
			piece.t_hi = sd->ck[c].t_hi < hi ? sd->ck[c].t_hi : hi;
			if (piece.t_lo >= piece.t_hi)
				continue;
			rc = sd->ops->read(sd->h, &sd->sch, &piece, -1, side ? take_point : take_src,
					   side ? dst_reject : src_reject, cx, err);
		}
	}
	if (rc < 0)
		ferry_error_prefix(err, "cannot read the %s '%s'", side ? "target" : "source",
				   sd->shown);
	return rc;
}

/* ---- comparing --------------------------------------------------------- */

static const struct pv_run *sort_run;   /* qsort has no context argument */

static int ser_order(const void *a, const void *b)
{
	const struct pv_run *r = sort_run;
	const struct pv_ser *x = &r->S.ser[*(const uint32_t *)a], *y = &r->S.ser[*(const uint32_t *)b];
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c;

	if (x->win != y->win)
		return x->win < y->win ? -1 : 1;
	if (x->tab != y->tab)
		return strcmp(r->tabs[x->tab].name, r->tabs[y->tab].name);
	c = memcmp(r->S.arena.buf + x->key, r->S.arena.buf + y->key, n);
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static int rec_order(const void *a, const void *b)
{
	const struct pv_run *r = sort_run;
	const struct pv_rec *x = a, *y = b;
	size_t n = x->flen < y->flen ? x->flen : y->flen;
	int c;

	if (x->ser != y->ser)
		return x->ser < y->ser ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	c = memcmp(r->recs_text.buf + x->f, r->recs_text.buf + y->f, n);
	if (c || x->flen != y->flen)
		return c ? c : x->flen < y->flen ? -1 : 1;
	if (x->side != y->side)
		return x->side - y->side;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int same_key(const struct pv_run *r, const struct pv_rec *x, const struct pv_rec *y)
{
	return x->ser == y->ser && x->t == y->t && x->flen == y->flen &&
	       !memcmp(r->recs_text.buf + x->f, r->recs_text.buf + y->f, x->flen);
}

/* "meas,tags field=value 2024-01-01T00:00:00Z" */
static int point_text(const struct pv_run *r, const struct pv_rec *e, struct ferry_buf *o)
{
	const struct pv_ser *s = &r->S.ser[e->ser];
	char ts[64];
	int x = 0;

	val_format_timestamp(ts, sizeof(ts), e->t, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z");
	x |= ferry_buf_add(o, r->S.arena.buf + s->key, s->klen);
	x |= ferry_buf_addch(o, ' ');
	x |= lp_escape(o, r->recs_text.buf + e->f, e->flen, LP_NAME_FIELD);
	x |= ferry_buf_addf(o, "=%s %s", r->recs_text.buf + e->v, ts);
	return x;
}

/*
 * The first difference of series ser among the records (sorted): the
 * source's last write of each (time, field) against the target's.
 * *i is where the series starts in recs and moves past it.
 */
static int name_first(struct pv_run *r, size_t *i, struct ferry_verify_diff *d)
{
	uint32_t ser = r->recs[*i].ser;
	const struct pv_rec *sv = NULL, *dv = NULL, *hit_s = NULL, *hit_d = NULL;
	struct ferry_buf m = FERRY_BUF_INIT, row = FERRY_BUF_INIT;
	size_t j = *i;
	int x = 0;

	while (j < r->nrecs && r->recs[j].ser == ser && !hit_s && !hit_d) {
		size_t k = j;

		sv = dv = NULL;
		for (; k < r->nrecs && same_key(r, &r->recs[j], &r->recs[k]); k++)
			if (r->recs[k].side == 0)
				sv = &r->recs[k];      /* the last write wins */
			else
				dv = &r->recs[k];
		j = k;
		if (sv && dv && sv->h == dv->h)
			continue;
		hit_s = sv;
		hit_d = dv;
	}
	while (j < r->nrecs && r->recs[j].ser == ser)
		j++;
	*i = j;
	if (!hit_s && !hit_d) {
		d->what = ferry_strdup("no point named: a second read found this series equal "
				       "(did the source or the target change?)");
		return d->what ? 0 : FERRY_ENOMEM;
	}
	if (hit_s && hit_d) {
		x |= ferry_buf_addf(&m, "field '%.*s' differs: source %s, target %s",
				    (int)hit_s->flen, r->recs_text.buf + hit_s->f,
				    r->recs_text.buf + hit_s->v, r->recs_text.buf + hit_d->v);
		d->column = ferry_strndup(r->recs_text.buf + hit_s->f, hit_s->flen);
		if (!d->column)
			x = -1;
	} else {
		x |= ferry_buf_addstr(&m, hit_s ? "missing in target" : "extra in target");
	}
	x |= point_text(r, hit_s ? hit_s : hit_d, &row);
	if (x < 0 || !(d->what = ferry_buf_detach(&m, NULL)) ||
	    !(d->row = ferry_buf_detach(&row, NULL))) {
		ferry_buf_release(&m);
		ferry_buf_release(&row);
		return FERRY_ENOMEM;
	}
	return 0;
}

static int add_diff(struct pv_run *r, struct ferry_verify_diff *d)
{
	struct ferry_verify_result *res = r->res;
	struct ferry_verify_diff *nd = ferry_realloc(res->diffs, (res->ndiffs + 1) * sizeof(*nd));

	if (!nd)
		return FERRY_ENOMEM;
	res->diffs = nd;
	res->diffs[res->ndiffs++] = *d;
	memset(d, 0, sizeof(*d));
	return 0;
}

static int range_text(const struct pv_run *r, int64_t win, char **out)
{
	char a[64], b[64];
	int64_t lo, hi;
	struct ferry_buf t = FERRY_BUF_INIT;

	win_span(r->w, win, &lo, &hi);
	val_format_timestamp(a, sizeof(a), lo, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z");
	val_format_timestamp(b, sizeof(b), hi, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z");
	if (ferry_buf_addf(&t, "time %s..%s", a, b) < 0) {
		ferry_buf_release(&t);
		return FERRY_ENOMEM;
	}
	*out = ferry_buf_detach(&t, NULL);
	return *out ? 0 : FERRY_ENOMEM;
}

static void diff_release(struct ferry_verify_diff *d)
{
	ferry_free(d->table);
	ferry_free(d->what);
	ferry_free(d->column);
	ferry_free(d->row);
	ferry_free(d->range);
	memset(d, 0, sizeof(*d));
}

/*
 * Sum the kept source values into their series, then compare every
 * series of the batch's windows; a (window, measurement) with a
 * differing series becomes a difference, named by a second read.
 */
static int compare_batch(struct pv_run *r, struct pv_ctx *cs, struct pv_ctx *ct,
			 struct ferry_error *err)
{
	uint32_t *ord = NULL;
	size_t i, n = 0, g, nchosen = 0;
	struct ferry_verify_diff d;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	for (i = 0; i < r->capval; i++)
		if (r->val[i].ser)
			vf_sum_add(&r->S.ser[r->val[i].ser - 1].s, r->val[i].h);
	if (r->S.n && !(ord = ferry_calloc(r->S.n, sizeof(*ord)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < r->S.n; i++)
		if (r->S.ser[i].tab >= 0 && win_in(r, r->S.ser[i].win))
			ord[n++] = (uint32_t)i;
	sort_run = r;
	if (n)
		qsort(ord, n, sizeof(*ord), ser_order);
	/* groups of one window and measurement */
	for (g = 0; g < n;) {
		const struct pv_ser *s0 = &r->S.ser[ord[g]];
		struct ferry_verify_table *st = &r->tabs[s0->tab].st;
		int64_t sr = 0, dr = 0;
		int64_t first = -1;
		size_t e;

		for (e = g; e < n && r->S.ser[ord[e]].win == s0->win &&
			    r->S.ser[ord[e]].tab == s0->tab; e++) {
			const struct pv_ser *s = &r->S.ser[ord[e]];

			sr += (int64_t)s->s.rows;
			dr += (int64_t)s->d.rows;
			if (first < 0 && !vf_sum_eq(&s->s, &s->d))
				first = ord[e];
		}
		st->chunks++;
		st->checked++;
		st->src_rows += sr;
		st->dst_rows += dr;
		if (first >= 0) {
			st->differing++;
			r->S.ser[first].chosen = 1;
			nchosen++;
		}
		g = e;
	}
	if (!nchosen)
		goto out;
	/* the second read: the values of the chosen series */
	r->naming = 1;
	r->nrecs = 0;
	ferry_buf_clear(&r->recs_text);
	cs->ss = ct->ss = &r->S;
	if ((rc = read_side(r, cs, &r->src, err)) < 0 || (rc = read_side(r, ct, &r->dst, err)) < 0)
		goto out;
	sort_run = r;
	if (r->nrecs)
		qsort(r->recs, r->nrecs, sizeof(*r->recs), rec_order);
	for (g = 0; g < n; g++) {
		const struct pv_ser *s = &r->S.ser[ord[g]];
		size_t at = 0, j;

		if (!s->chosen)
			continue;
		while (at < r->nrecs && r->recs[at].ser < ord[g])
			at++;
		d.table = ferry_strdup(r->tabs[s->tab].name);
		if (!d.table || range_text(r, s->win, &d.range) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		/* the window's counts for this measurement */
		for (j = 0; j < n; j++)
			if (r->S.ser[ord[j]].win == s->win && r->S.ser[ord[j]].tab == s->tab) {
				d.src_rows += (int64_t)r->S.ser[ord[j]].s.rows;
				d.dst_rows += (int64_t)r->S.ser[ord[j]].d.rows;
			}
		d.lo_open = d.hi_open = 1;
		d.timed = 1;
		win_span(r->w, s->win, &d.t_lo, &d.t_hi);
		if (at < r->nrecs && r->recs[at].ser == ord[g]) {
			rc = name_first(r, &at, &d);
		} else if (!(d.what = ferry_strdup("no point named: a second read found no "
						  "value of this series (did the source or the target change?)"))) {
			rc = FERRY_ENOMEM;
		}
		if (rc < 0 || (rc = add_diff(r, &d)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	r->naming = 0;
	diff_release(&d);
	ferry_free(ord);
	return rc;
}

/* ---- windows ----------------------------------------------------------- */

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Add the windows side sd's time chunks cover to *v (unsorted). */
static int plan_windows(const struct pv_run *r, const struct pv_side *sd, int64_t **v,
			size_t *n, size_t *cap, struct ferry_error *err)
{
	size_t c;

	for (c = 0; c < sd->nck; c++) {
		int64_t k, k1;

		if (!sd->ck[c].has_time || sd->ck[c].t_lo >= sd->ck[c].t_hi)
			continue;
		k = val_floor_div(sd->ck[c].t_lo, r->w);
		k1 = val_floor_div(sd->ck[c].t_hi - 1, r->w);
		for (; k <= k1; k++) {
			if (*n >= PV_MAX_WINDOWS)
				return ferry_error_set(err, FERRY_EUSAGE,
					"more than %d time windows: give a larger --chunk-time",
					PV_MAX_WINDOWS);
			if (FERRY_GROW(*v, *cap, *n + 1) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			(*v)[(*n)++] = k;
		}
	}
	return 0;
}

static size_t uniq(int64_t *v, size_t n)
{
	size_t i, m = 0;

	if (n)
		qsort(v, n, sizeof(*v), i64_cmp);
	for (i = 0; i < n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	return m;
}

/* --sample: the windows with the smallest hash of (seed, window start),
 * back in time order; *n becomes how many. */
static int sample(const struct pv_run *r, int64_t *v, size_t *n)
{
	const struct ferry_verify_opts *o = r->o;
	size_t want, i;
	struct vf_pick *pk;
	int64_t *all;

	if (!(o->sample_pct > 0 && o->sample_pct < 100) || *n <= 1)
		return 0;
	want = vf_sample_want(*n, o->sample_pct);
	if (!(pk = ferry_calloc(*n, sizeof(*pk))))
		return FERRY_ENOMEM;
	for (i = 0; i < *n; i++) {
		char b[64];
		int64_t lo, hi;
		int len;

		win_span(r->w, v[i], &lo, &hi);
		len = snprintf(b, sizeof(b), "%llu/%lld", (unsigned long long)o->seed, (long long)lo);
		pk[i].score = ferry_hash64(b, (size_t)len);
		pk[i].idx = i;
	}
	qsort(pk, *n, sizeof(*pk), vf_pick_cmp);
	if (!(all = ferry_malloc(*n * sizeof(*all)))) {
		ferry_free(pk);
		return FERRY_ENOMEM;
	}
	memcpy(all, v, *n * sizeof(*all));
	for (i = 0; i < want; i++)
		v[i] = all[pk[i].idx];
	*n = want;
	qsort(v, want, sizeof(*v), i64_cmp);
	ferry_free(all);
	ferry_free(pk);
	return 0;
}

/* The window size: --chunk-time, or whole hours that hold about
 * PV_WINDOW_VALUES values at the sides' average rate. */
static int window_size(struct pv_run *r, const struct tm_source_opts *so, struct ferry_error *err)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN, values = 0, v;
	const struct pv_side *sides[2] = { &r->src, &r->dst };
	__int128 w;
	size_t s, c, i;

	(void)err;
	if (so->chunk_ns > 0) {
		r->w = so->chunk_ns;
		return 0;
	}
	for (s = 0; s < 2; s++) {
		int64_t sv = 0;

		if (sides[s]->is_file)
			continue;
		for (c = 0; c < sides[s]->nck; c++)
			if (sides[s]->ck[c].has_time) {
				if (sides[s]->ck[c].t_lo < lo)
					lo = sides[s]->ck[c].t_lo;
				if (sides[s]->ck[c].t_hi > hi)
					hi = sides[s]->ck[c].t_hi;
			}
		for (i = 0; i < sides[s]->sch.n; i++) {
			v = sides[s]->sch.m[i].values > 0 ? sides[s]->sch.m[i].values :
				sides[s]->sch.m[i].points;
			if (v > 0)
				sv += v;
		}
		if (sv > values)
			values = sv;
	}
	if (lo >= hi || values <= 0) {
		r->w = 24 * PV_HOUR_NS;
		return 0;
	}
	w = ((__int128)hi - lo) * PV_WINDOW_VALUES / values;
	w = (w + PV_HOUR_NS / 2) / PV_HOUR_NS * PV_HOUR_NS;
	if (w < PV_HOUR_NS)
		w = PV_HOUR_NS;
	if (w > INT64_MAX / 4)
		w = INT64_MAX / 4 / PV_HOUR_NS * PV_HOUR_NS;
	r->w = (int64_t)w;
	return 0;
}

/* ---- the run ----------------------------------------------------------- */

static const struct tm_source_ops *ops_of(const char *url)
{
	if (!strncasecmp(url, "influx:", 7))
		return &ifx_source_ops;
	if (!strncasecmp(url, "lp:", 3))
		return &lpf_source_ops;
	if (!strncasecmp(url, "csv:", 4))
		return &csv_source_ops;
	return NULL;
}

static int side_open(struct pv_side *sd, const char *url, const struct tm_source_opts *so,
		     const char *what, struct ferry_error *err)
{
	ferry_url *u = NULL;
	struct ferry_buf red = FERRY_BUF_INIT;
	int rc;

	ferry_url_redact(url, &red);
	sd->shown = ferry_buf_detach(&red, NULL);
	if (!sd->shown)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (!(sd->ops = ops_of(url)))
		return ferry_error_set(err, FERRY_EUSAGE,
			"cannot verify %s '%s' against InfluxDB: the source must be influx://, lp: or csv:",
			what, sd->shown);
	if ((rc = ferry_url_parse(url, &u, err)) < 0)
		goto out;
	if ((rc = sd->ops->open(u, so, &sd->h, err)) < 0 ||
	    (rc = sd->ops->discover(sd->h, &sd->sch, err)) < 0 ||
	    (rc = sd->ops->plan(sd->h, &sd->sch, &sd->ck, &sd->nck, err)) < 0)
		ferry_error_prefix(err, "cannot open the %s '%s'", what, sd->shown);
	sd->is_file = sd->ops != &ifx_source_ops;
out:
	ferry_url_free(u);
	return rc;
}

static void side_close(struct pv_side *sd)
{
	if (sd->h)
		sd->ops->close(sd->h);
	tm_schema_release(&sd->sch);
	tm_chunks_free(sd->ck);
	ferry_free(sd->shown);
	memset(sd, 0, sizeof(*sd));
}

/* The source's options from the command's (--start/--end, --chunk-time,
 * --precision, --chunk-bytes), read as a copy reads them from its URL. */
static int source_opts(const struct ferry_verify_opts *o, struct tm_source_opts *so,
		       struct ferry_error *err)
{
	struct ferry_ts_opts t = o->ts;
	ferry_url *u = NULL;
	char *url = NULL;
	int rc;

	if (t.layout || t.table || t.series_tag || t.keep_ns)
		return ferry_error_set(err, FERRY_EUSAGE,
			"--layout, --table, --series-tag and --keep-ns are for PostgreSQL targets: "
			"verify into InfluxDB compares points (give --map for a point map)");
	t.map = NULL;
	if ((rc = ferry_ts_url(o->src, &t, &url, err)) == 0 &&
	    (rc = ferry_url_parse(url, &u, err)) == 0)
		rc = tm_source_opts_from_url(u, so, err);
	ferry_url_free(u);
	ferry_free(url);
	return rc;
}

struct pv_job {
	struct pv_run *r;
	struct pv_ctx *c;
	int rc;
	struct ferry_error err;
};

static void *target_main(void *arg)
{
	struct pv_job *j = arg;

	j->rc = read_side(j->r, j->c, &j->r->dst, &j->err);
	return NULL;
}

/*
 * One batch: the target's series into T on a second thread while this
 * one reads the source into S (unless src_read: a file, read already),
 * then T added into S and compared.  InfluxDB answers the queries of
 * both sides at once.
 */
static int run_batch(struct pv_run *r, struct pv_ctx *cs, struct pv_ctx *ct, int src_read,
		     struct ferry_error *err)
{
	struct pv_job j;
	pthread_t th;
	size_t i;
	int rc = 0;

	memset(&j, 0, sizeof(j));
	j.r = r;
	j.c = ct;
	cs->ss = &r->S;
	ct->ss = &r->T;
	sset_clear(&r->T);
	if (src_read) {
		target_main(&j);
	} else {
		if (pthread_create(&th, NULL, target_main, &j) != 0)
			return ferry_error_set(err, FERRY_EIO, "cannot start a reader thread");
		rc = read_side(r, cs, &r->src, err);
		pthread_join(th, NULL);
		if (rc < 0)
			return rc;
	}
	if (j.rc < 0) {
		*err = j.err;
		return j.rc;
	}
	for (i = 0; i < r->T.n; i++) {
		const struct pv_ser *t = &r->T.ser[i];
		int64_t si;

		if ((rc = ser_find(r, &r->S, t->win, r->T.arena.buf + t->key, t->klen,
				   r->T.arena.buf + t->m, t->mlen, &si)) < 0)
			return ferry_error_set(err, rc, "out of memory");
		r->S.ser[si].d.rows += t->d.rows;
		r->S.ser[si].d.sum += t->d.sum;
		r->S.ser[si].d.xor ^= t->d.xor;
	}
	return compare_batch(r, cs, ct, err);
}

static void ctx_release(struct pv_ctx *c)
{
	ferry_buf_release(&c->key);
	ferry_buf_release(&c->rec);
	ferry_free(c->tags);
}

int vf_points_run(const struct ferry_verify_opts *o, struct ferry_verify_result **out,
		  struct ferry_error *err)
{
	struct pv_run r;
	struct pv_ctx cs, ct;
	struct tm_source_opts so, dso;
	int64_t *wins = NULL;
	size_t nwins = 0, capw = 0, total, i;
	double start = ferry_now();
	int rc = 0;

	memset(&r, 0, sizeof(r));
	r.o = o;
	memset(&cs, 0, sizeof(cs));
	memset(&ct, 0, sizeof(ct));
	cs.r = ct.r = &r;
	ct.side = 1;
	cs.ss = ct.ss = &r.S;
	ferry_buf_init(&cs.key, 0);
	ferry_buf_init(&cs.rec, 0);
	ferry_buf_init(&ct.key, 0);
	ferry_buf_init(&ct.rec, 0);
	ferry_buf_init(&r.S.arena, 0);
	ferry_buf_init(&r.T.arena, 0);
	ferry_buf_init(&r.farena, 0);
	ferry_buf_init(&r.recs_text, 0);
	if (!(r.res = ferry_calloc(1, sizeof(*r.res)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (o->sample_pct < 0 || o->sample_pct > 100) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--sample must be between 0 and 100");
		goto out;
	}
	if (o->schema) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "--schema is for PostgreSQL targets: an InfluxDB target is one database");
		goto out;
	}
	if ((rc = source_opts(o, &so, err)) < 0)
		goto out;
	if (o->ts.map) {
		rc = tm_pmap_load(o->ts.map, &r.map, err);
		if (rc == 1)
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"map '%s' has no top-level 'points:' list: verify into InfluxDB "
				"compares through a point map", o->ts.map);
		if (rc < 0 || (rc = tm_pmap_run_new(r.map, &r.mrun)) < 0) {
			if (rc == FERRY_ENOMEM)
				ferry_error_set(err, rc, "out of memory");
			goto out;
		}
	}
	/* the target: the same time bounds, InfluxDB's own chunks */
	memset(&dso, 0, sizeof(dso));
	dso.has_start = so.has_start;
	dso.start_ns = so.start_ns;
	dso.has_end = so.has_end;
	dso.end_ns = so.end_ns;
	dso.precision = LP_PREC_NS;
	r.progress = ferry_progress_new(o->progress_out ? o->progress_out : stderr,
					o->progress_mode, "verify", 0);
	if ((rc = side_open(&r.src, o->src, &so, "source", err)) < 0 ||
	    (rc = side_open(&r.dst, o->dst, &dso, "target", err)) < 0)
		goto out;
	if (r.dst.is_file) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot verify into '%s': a point target must be influx://", r.dst.shown);
		goto out;
	}
	if ((rc = window_size(&r, &so, err)) < 0 ||
	    (rc = plan_windows(&r, &r.src, &wins, &nwins, &capw, err)) < 0 ||
	    (rc = plan_windows(&r, &r.dst, &wins, &nwins, &capw, err)) < 0)
		goto out;
	if (r.src.is_file) {
		/* one read of the file, every window; then the windows it had */
		r.nwins = 0;
		if ((rc = read_side(&r, &cs, &r.src, err)) < 0)
			goto out;
		for (i = 0; i < r.S.n; i++) {
			if (FERRY_GROW(wins, capw, nwins + 1) < 0) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			wins[nwins++] = r.S.ser[i].win;
		}
	}
	nwins = uniq(wins, nwins);
	total = nwins;
	if (sample(&r, wins, &nwins) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	r.res->chunks = (int64_t)total;
	r.res->checked = (int64_t)nwins;
	{
		int64_t est = 0;

		for (i = 0; i < r.dst.sch.n; i++)
			est += r.dst.sch.m[i].values > 0 ? r.dst.sch.m[i].values : 0;
		ferry_progress_reset(r.progress, "verify",
				     total ? (uint64_t)((__int128)est * nwins / total) : 0);
	}
	if (r.src.is_file) {
		r.wins = wins;
		r.nwins = nwins;
		if (nwins)
			rc = run_batch(&r, &cs, &ct, 1, err);
	} else {
		for (i = 0; i < nwins && rc == 0; i++) {
			batch_clear(&r);
			r.wins = &wins[i];
			r.nwins = 1;
			rc = run_batch(&r, &cs, &ct, 0, err);
		}
	}
	ferry_progress_done(r.progress);
	if (rc == 0 && !r.ntabs && o->include && o->include[0])
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"--include matches no measurement of the windows compared");
	if (rc == 0 && r.map && nwins == total) {
		/* a rule no point matched is likely a typo (a sample reads
		 * too little to say) */
		struct ferry_buf un = FERRY_BUF_INIT;
		char *line, *next;

		if (tm_pmap_unmatched(r.map, &un) == 0 && un.len)
			for (line = un.buf; *line; line = next) {
				next = strchr(line, '\n');
				if (next)
					*next++ = '\0';
				else
					next = line + strlen(line);
				ferry_warn("%s", line);
			}
		ferry_buf_release(&un);
	}
out:
	if (r.res) {
		struct ferry_verify_result *res = r.res;

		res->tables = ferry_calloc(r.ntabs + 1, sizeof(*res->tables));
		for (i = 0; res->tables && i < r.ntabs; i++) {
			struct ferry_verify_table *t = &res->tables[res->ntables++];

			*t = r.tabs[i].st;
			t->name = r.tabs[i].name;
			t->target = ferry_strdup(r.tabs[i].name);
			r.tabs[i].name = NULL;
			res->src_rows += t->src_rows;
			res->dst_rows += t->dst_rows;
			res->differing += t->differing;
		}
		if (!res->tables && rc == 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		res->rejected = r.rejected;
		res->equal = rc == 0 && res->ndiffs == 0;
		res->seconds = ferry_now() - start;
	}
	for (i = 0; i < r.ntabs; i++)
		ferry_free(r.tabs[i].name);
	ferry_free(r.tabs);
	for (i = 0; i < r.nskip; i++)
		ferry_free(r.skip[i]);
	ferry_free(r.skip);
	ferry_free(wins);
	sset_release(&r.S);
	sset_release(&r.T);
	ferry_free(r.fld);
	ferry_free(r.fidx);
	ferry_free(r.val);
	ferry_free(r.recs);
	ferry_buf_release(&r.farena);
	ctx_release(&cs);
	ctx_release(&ct);
	ferry_buf_release(&r.recs_text);
	side_close(&r.src);
	side_close(&r.dst);
	ferry_progress_free(r.progress);
	tm_pmap_run_free(r.mrun);
	tm_pmap_free(r.map);
	if (out)
		*out = r.res;
	else
		ferry_verify_result_free(r.res);
	return rc;
}
