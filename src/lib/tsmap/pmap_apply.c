/*
 * pmap_apply.c - a point through a point map (rules loaded by pmap.c):
 * the first matching rule turns it into zero, one, or (to: with {field})
 * one point per field; the schema those points have.
 *
 * Casts are exact or refuse the point: float -> int only when integral
 * and in range, int -> float only when a double holds it, a string ->
 * number only when the whole string is the number, bool from true/false/
 * 1/0.  A refused point is the caller's reject, never a silently changed
 * value.
 *
 * A run builds the points it hands on in its own memory: names and
 * values are first staged as offsets into one arena (which may move as it
 * grows), then resolved into pointers just before each point is emitted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/alloc.h"
#include "model/value.h"
#include "tsmap/pmap_int.h"

/* A staged string: p, or (p NULL) the arena's bytes at off. */
struct ps {
	const char *p;
	size_t off, n;
};

struct stag {
	struct ps k, v;
};

/* A staged field: f's type and value, but a string's bytes in s. */
struct sfield {
	struct ps k;
	struct lp_field f;
	struct ps s;
};

struct tm_pmap_run {
	const struct tm_pmap *m;
	struct ferry_buf arena;
	struct stag *st;
	size_t nst, cst;
	struct sfield *sf;
	size_t nsf, csf;
	struct lp_tag *ot;
	size_t cot;
	struct lp_field *of;
	size_t cof;
	unsigned char *used;  /* per source field: a rule took it */
	size_t cused;
};

int tm_pmap_run_new(const struct tm_pmap *m, struct tm_pmap_run **out)
{
	if (!(*out = ferry_calloc(1, sizeof(**out))))
		return FERRY_ENOMEM;
	(*out)->m = m;
	return 0;
}

void tm_pmap_run_free(struct tm_pmap_run *r)
{
	if (!r)
		return;
	ferry_buf_release(&r->arena);
	ferry_free(r->st);
	ferry_free(r->sf);
	ferry_free(r->ot);
	ferry_free(r->of);
	ferry_free(r->used);
	ferry_free(r);
}

static struct ps ext(struct lp_str s)
{
	return (struct ps){ s.p, 0, s.n };
}

static struct lp_str res(const struct tm_pmap_run *r, struct ps s)
{
	return (struct lp_str){ s.p ? s.p : r->arena.buf + s.off, s.n };
}

static int lp_eq(struct lp_str a, const char *b)
{
	return a.n == strlen(b) && !memcmp(a.p, b, a.n);
}

/* The index of key among n elements of `stride` bytes that start with
 * their struct lp_str key (struct lp_tag, lp_field), or -1. */
static int find_key(const void *arr, size_t n, size_t stride, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lp_eq(*(const struct lp_str *)(const void *)((const char *)arr + i * stride), key))
			return (int)i;
	return -1;
}

static int ptag(const struct tm_point *p, const char *key)
{
	return find_key(p->tags, p->ntags, sizeof(*p->tags), key);
}

static int pfield(const struct tm_point *p, const char *key)
{
	return find_key(p->fields, p->nfields, sizeof(*p->fields), key);
}

static int rule_matches(const struct pm_rule *ru, const struct tm_point *p)
{
	size_t i;
	int t;

	if (!tm_glob_any(ru->mglob, p->measurement.p, p->measurement.n))
		return 0;
	for (i = 0; i < ru->nconds; i++)
		if ((t = ptag(p, ru->conds[i].key)) < 0 ||
		    !tm_glob_any(ru->conds[i].globs, p->tags[t].val.p, p->tags[t].val.n))
			return 0;
	return 1;
}

static int refuse(char *why, size_t nwhy, const struct tm_pmap *m, const struct pm_rule *ru,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(char *why, size_t nwhy, const struct tm_pmap *m, const struct pm_rule *ru,
		  const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!nwhy)
		return 1;
	k = snprintf(why, nwhy, "map %s:%d: ", m->path, ru->line);
	if (k >= 0 && (size_t)k < nwhy) {
		va_start(ap, fmt);
		vsnprintf(why + k, nwhy - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return 1;
}

/* Append a template's text for point p (fkey: the field of a per-field
 * point) to the arena as *out.  1 when it names a tag p lacks (why set). */
static int render(struct tm_pmap_run *r, const struct pm_rule *ru, const struct pm_tpl *t,
		  const char *what, const struct tm_point *p, struct lp_str fkey, struct ps *out,
		  char *why, size_t nwhy)
{
	size_t i, off = r->arena.len;
	int e = 0, k;

	for (i = 0; i < t->n && e == 0; i++) {
		const struct pm_part *pt = &t->p[i];

		switch (pt->kind) {
		case PM_LIT:
			e = ferry_buf_add(&r->arena, pt->s, pt->n);
			break;
		case PM_MEAS:
			e = ferry_buf_add(&r->arena, p->measurement.p, p->measurement.n);
			break;
		case PM_FIELD:
			e = ferry_buf_add(&r->arena, fkey.p, fkey.n);
			break;
		default:
			if ((k = ptag(p, pt->s)) < 0) {
				r->arena.len = off;
				return refuse(why, nwhy, r->m, ru, "%s '%s': the point has no tag '%s'",
					      what, t->text, pt->s);
			}
			e = ferry_buf_add(&r->arena, p->tags[k].val.p, p->tags[k].val.n);
		}
	}
	if (e < 0)
		return FERRY_ENOMEM;
	*out = (struct ps){ NULL, off, r->arena.len - off };
	return 0;
}

/* Set tag k (an empty value removes it: InfluxDB has no empty tags). */
static int set_tag(struct tm_pmap_run *r, struct ps k, struct ps v)
{
	size_t i;
	struct lp_str ks = res(r, k);

	for (i = 0; i < r->nst; i++) {
		struct lp_str o = res(r, r->st[i].k);

		if (o.n == ks.n && !memcmp(o.p, ks.p, ks.n)) {
			r->st[i].v = v;
			return 0;
		}
	}
	if (ferry_array_grow((void **)&r->st, &r->cst, r->nst + 1, sizeof(*r->st)) < 0)
		return FERRY_ENOMEM;
	r->st[r->nst++] = (struct stag){ k, v };
	return 0;
}

static int add_field(struct tm_pmap_run *r, const struct sfield *f)
{
	if (ferry_array_grow((void **)&r->sf, &r->csf, r->nsf + 1, sizeof(*r->sf)) < 0)
		return FERRY_ENOMEM;
	r->sf[r->nsf++] = *f;
	return 0;
}

static struct ps lit(const char *s)
{
	return (struct ps){ s, 0, strlen(s) };
}

/* A value as text into the arena (strings: themselves). */
static int value_text(struct tm_pmap_run *r, const struct sfield *f, struct ps *out)
{
	char num[64];
	int k;

	switch (f->f.type) {
	case LP_FLOAT:
		k = val_format_double(f->f.v.f, num, sizeof(num));
		break;
	case LP_INT:
		k = snprintf(num, sizeof(num), "%" PRId64, f->f.v.i);
		break;
	case LP_UINT:
		k = snprintf(num, sizeof(num), "%" PRIu64, f->f.v.u);
		break;
	case LP_BOOL:
		*out = lit(f->f.v.b ? "true" : "false");
		return 0;
	default:
		*out = f->s;
		return 0;
	}
	*out = (struct ps){ NULL, r->arena.len, (size_t)k };
	return ferry_buf_add(&r->arena, num, (size_t)k) < 0 ? FERRY_ENOMEM : 0;
}

/* s as a whole decimal number: 1 with *i (is_int) or *d set, else 0. */
static int parse_num(struct lp_str s, int *is_int, int64_t *i, double *d)
{
	char tmp[128], *end;
	size_t k;

	if (!s.n || s.n >= sizeof(tmp))
		return 0;
	for (k = 0; k < s.n; k++)
		if (!strchr("0123456789+-.eE", s.p[k]) || !s.p[k])
			return 0;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = 0;
	errno = 0;
	*i = strtoll(tmp, &end, 10);
	if (!*end && errno == 0) {
		*is_int = 1;
		return 1;
	}
	errno = 0;
	*d = strtod(tmp, &end);
	*is_int = 0;
	return !*end && isfinite(*d);
}

static int float_to_int(double d, int64_t *i)
{
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != trunc(d))
		return 0;
	*i = (int64_t)d;
	return 1;
}

/* The field value (or tag text) v through fm's scale/offset and cast.
 * 0, 1 refused (why set), FERRY_ENOMEM. */
static int convert(struct tm_pmap_run *r, const struct pm_rule *ru, const struct pm_field *fm,
		   struct sfield *v, char *why, size_t nwhy)
{
	static const char *const casts[] = { "", "int", "float", "string", "bool" };
	const struct sfield src0 = *v;
	int is_int = 0, ok = 1, done_scale = 0;
	struct ps t;
	struct lp_str ts;
	int64_t i = 0;
	double d = 0;
	struct lp_str s = res(r, v->s);

	if (fm->has_scale || fm->has_offset) {
		switch (v->f.type) {
		case LP_FLOAT:
			d = v->f.v.f;
			break;
		case LP_INT:
			ok = val_int_fits_double(v->f.v.i);
			d = (double)v->f.v.i;
			break;
		case LP_UINT:
			ok = val_uint_fits_double(v->f.v.u);
			d = (double)v->f.v.u;
			break;
		case LP_STRING:
			ok = parse_num(s, &is_int, &i, &d);
			if (ok && is_int) {
				ok = val_int_fits_double(i);
				d = (double)i;
			}
			break;
		default:
			ok = 0;
		}
		if (ok) {
			d = d * fm->scale + fm->offset;
			ok = isfinite(d);
		}
		if (!ok)
			goto bad;
		v->f.type = LP_FLOAT;
		v->f.v.f = d;
		done_scale = 1;
	}
	switch (fm->cast) {
	case PM_CAST_INT:
		if (v->f.type == LP_FLOAT)
			ok = float_to_int(v->f.v.f, &i);
		else if (v->f.type == LP_UINT)
			ok = v->f.v.u <= INT64_MAX && ((i = (int64_t)v->f.v.u), 1);
		else if (v->f.type == LP_BOOL)
			i = v->f.v.b;
		else if (v->f.type == LP_STRING)
			ok = parse_num(s, &is_int, &i, &d) && (is_int || float_to_int(d, &i));
		else
			i = v->f.v.i;
		v->f.type = LP_INT;
		v->f.v.i = i;
		break;
	case PM_CAST_FLOAT:
		if (v->f.type == LP_INT)
			ok = val_int_fits_double(v->f.v.i), d = (double)v->f.v.i;
		else if (v->f.type == LP_UINT)
			ok = val_uint_fits_double(v->f.v.u), d = (double)v->f.v.u;
		else if (v->f.type == LP_BOOL)
			d = v->f.v.b;
		else if (v->f.type == LP_STRING)
			ok = parse_num(s, &is_int, &i, &d) &&
			     (!is_int || (val_int_fits_double(i) && ((d = (double)i), 1)));
		else
			d = v->f.v.f;
		v->f.type = LP_FLOAT;
		v->f.v.f = d;
		break;
	case PM_CAST_STRING:
		if (value_text(r, v, &v->s) < 0)
			return FERRY_ENOMEM;
		v->f.type = LP_STRING;
		break;
	case PM_CAST_BOOL:
		if (v->f.type == LP_STRING) {
			if ((s.n == 4 && !strncasecmp(s.p, "true", 4)) || (s.n == 1 && s.p[0] == '1'))
				v->f.v.b = 1;
			else if ((s.n == 5 && !strncasecmp(s.p, "false", 5)) ||
				 (s.n == 1 && s.p[0] == '0'))
				v->f.v.b = 0;
			else
				ok = 0;
		} else if (v->f.type == LP_INT) {
			ok = v->f.v.i == 0 || v->f.v.i == 1;
			v->f.v.b = v->f.v.i == 1;
		} else if (v->f.type == LP_UINT) {
			ok = v->f.v.u <= 1;
			v->f.v.b = v->f.v.u == 1;
		} else if (v->f.type == LP_FLOAT) {
			ok = v->f.v.f == 0 || v->f.v.f == 1;
			v->f.v.b = v->f.v.f == 1;
		}
		v->f.type = LP_BOOL;
		break;
	}
	if (ok)
		return 0;
bad:
	if (value_text(r, &src0, &t) < 0)
		return FERRY_ENOMEM;
	ts = res(r, t);
	if (fm->cast && (done_scale || !(fm->has_scale || fm->has_offset)))
		return refuse(why, nwhy, r->m, ru, "field '%s' value '%.*s' cannot be cast to %s "
			      "exactly%s", fm->name, ts.n > 64 ? 64 : (int)ts.n, ts.p,
			      casts[fm->cast], done_scale ? " after scale/offset" : "");
	return refuse(why, nwhy, r->m, ru, "field '%s' value '%.*s' cannot be scaled: it is "
		      "not a number a double holds exactly", fm->name, ts.n > 64 ? 64 : (int)ts.n,
		      ts.p);
}

/* Does point p (or, for the schema, measurement im) have fm's source? */
static int has_source(const struct pm_field *fm, const struct tm_point *p,
		      const struct tm_measurement *im)
{
	size_t k;

	if (p)
		return (fm->src_tag ? ptag(p, fm->src) : pfield(p, fm->src)) >= 0;
	if (fm->src_tag) {
		for (k = 0; k < im->ntags; k++)
			if (!strcmp(im->tags[k], fm->src))
				return 1;
		return 0;
	}
	for (k = 0; k < im->nfields; k++)
		if (!strcmp(im->fields[k].name, fm->src))
			return 1;
	return 0;
}

/* Is field key of p (or im) taken by the rule: renamed, cast or moved,
 * or replaced by a named field that has its source? */
static int field_named(const struct pm_rule *ru, struct lp_str key, const struct tm_point *p,
		       const struct tm_measurement *im)
{
	size_t i;

	for (i = 0; i < ru->nfields; i++)
		if ((!ru->fields[i].src_tag && lp_eq(key, ru->fields[i].src)) ||
		    (lp_eq(key, ru->fields[i].name) && has_source(&ru->fields[i], p, im)))
			return 1;
	for (i = 0; i < ru->nftags; i++)
		if (lp_eq(key, ru->ftags[i].field))
			return 1;
	return 0;
}

/* Is the point's tag key left out (drop_tags, or moved to a field)? */
static int tag_dropped(const struct pm_rule *ru, struct lp_str key)
{
	size_t i;

	if (ru->drop_all)
		return 1;
	for (i = 0; ru->drop_tags && ru->drop_tags[i]; i++)
		if (lp_eq(key, ru->drop_tags[i]))
			return 1;
	for (i = 0; i < ru->nfields; i++)
		if (ru->fields[i].src_tag && lp_eq(key, ru->fields[i].src))
			return 1;
	return 0;
}

/* Resolve the staged tags and fields lo..hi into a point and hand it on. */
static int emit(struct tm_pmap_run *r, const struct tm_point *p, struct ps meas, size_t lo,
		size_t hi, tm_point_fn fn, void *ud, size_t *emitted, struct ferry_error *err)
{
	struct tm_point q = *p;
	size_t i, nt = 0, nf = 0;
	int rc;

	if (ferry_array_grow((void **)&r->ot, &r->cot, r->nst + 1, sizeof(*r->ot)) < 0 ||
	    ferry_array_grow((void **)&r->of, &r->cof, hi - lo + 1, sizeof(*r->of)) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < r->nst; i++)
		if (r->st[i].v.n)
			r->ot[nt++] = (struct lp_tag){ res(r, r->st[i].k), res(r, r->st[i].v) };
	for (i = lo; i < hi; i++, nf++) {
		r->of[nf] = r->sf[i].f;
		r->of[nf].key = res(r, r->sf[i].k);
		if (r->sf[i].f.type == LP_STRING)
			r->of[nf].v.s = res(r, r->sf[i].s);
	}
	q.measurement = res(r, meas);
	q.tags = r->ot;
	q.ntags = nt;
	q.series_id = 0;   /* the map's measurement and tags, not the source's */
	q.fields = r->of;
	q.nfields = nf;
	(*emitted)++;
	rc = fn(&q, ud, err);
	return rc;
}

static void field_value(struct sfield *o, const struct lp_field *f)
{
	o->f = *f;
	if (f->type == LP_STRING)
		o->s = ext(f->v.s);
}

int tm_pmap_apply(struct tm_pmap_run *r, const struct tm_point *p, tm_point_fn fn, void *ud,
		  size_t *emitted, char *why, size_t nwhy, struct ferry_error *err)
{
	const struct tm_pmap *m = r->m;
	const struct pm_rule *ru = NULL;
	struct ps meas = ext(p->measurement);
	size_t i, nbase;
	int rc, k;

	*emitted = 0;
	for (i = 0; i < m->n && !ru; i++)
		if (rule_matches(&m->r[i], p))
			ru = &m->r[i];
	if (!ru) {
		*emitted = 1;
		return fn(p, ud, err);
	}
	atomic_fetch_add_explicit(&((struct pm_rule *)ru)->hits, 1, memory_order_relaxed);
	if (ru->drop)
		return 0;
	ferry_buf_clear(&r->arena);
	r->nst = r->nsf = 0;
	if (ferry_array_grow((void **)&r->used, &r->cused, p->nfields + 1, 1) < 0)
		goto nomem;
	/* tags: the point's, less the dropped and moved ones, then the new */
	for (i = 0; i < p->ntags; i++)
		if (!tag_dropped(ru, p->tags[i].key) &&
		    set_tag(r, ext(p->tags[i].key), ext(p->tags[i].val)) < 0)
			goto nomem;
	for (i = 0; i < ru->ntags; i++) {
		struct ps v;

		if (ru->tags[i].tpl.uses_field)
			continue;
		if ((rc = render(r, ru, &ru->tags[i].tpl, "tags", p, (struct lp_str){ "", 0 }, &v,
				 why, nwhy)) != 0)
			goto done;
		if (set_tag(r, lit(ru->tags[i].name), v) < 0)
			goto nomem;
	}
	for (i = 0; i < ru->nftags; i++) {
		struct sfield f;
		struct ps v;

		if ((k = pfield(p, ru->ftags[i].field)) < 0)
			continue;
		memset(&f, 0, sizeof(f));
		field_value(&f, &p->fields[k]);
		if (value_text(r, &f, &v) < 0 || set_tag(r, lit(ru->ftags[i].tag), v) < 0)
			goto nomem;
	}
	/* fields: the point's unless only_named (those a rule names are
	 * taken by it), then the named ones */
	for (i = 0; !ru->only_named && i < p->nfields; i++) {
		struct sfield f;

		if (field_named(ru, p->fields[i].key, p, NULL))
			continue;
		memset(&f, 0, sizeof(f));
		f.k = ext(p->fields[i].key);
		field_value(&f, &p->fields[i]);
		if (add_field(r, &f) < 0)
			goto nomem;
	}
	for (i = 0; i < ru->nfields; i++) {
		const struct pm_field *fm = &ru->fields[i];
		struct sfield f;

		memset(&f, 0, sizeof(f));
		f.k = lit(fm->name);
		if (fm->src_tag) {
			if ((k = ptag(p, fm->src)) < 0)
				continue;
			f.f.type = LP_STRING;
			f.s = ext(p->tags[k].val);
		} else {
			if ((k = pfield(p, fm->src)) < 0)
				continue;
			field_value(&f, &p->fields[k]);
		}
		if ((rc = convert(r, ru, fm, &f, why, nwhy)) != 0)
			goto done;
		if (add_field(r, &f) < 0)
			goto nomem;
	}
	if (!r->nsf)
		return 0;
	if (!ru->per_field) {
		if (ru->has_to &&
		    (rc = render(r, ru, &ru->to, "to", p, (struct lp_str){ "", 0 }, &meas, why,
				 nwhy)) != 0)
			goto done;
		if (!meas.n)
			return refuse(why, nwhy, m, ru, "to '%s' gives an empty measurement",
				      ru->to.text);
		return emit(r, p, meas, 0, r->nsf, fn, ud, emitted, err);
	}
	/* a point per field: a tag a template lacks refuses the point before
	 * any of its points is handed on */
	if ((rc = render(r, ru, &ru->to, "to", p, (struct lp_str){ "", 0 }, &meas, why, nwhy)) != 0)
		goto done;
	for (i = 0; i < ru->ntags; i++)
		if (ru->tags[i].tpl.uses_field &&
		    (rc = render(r, ru, &ru->tags[i].tpl, "tags", p, (struct lp_str){ "", 0 },
				 &meas, why, nwhy)) != 0)
			goto done;
	nbase = r->nst;
	for (i = 0; i < r->nsf; i++) {
		struct lp_str fk = res(r, r->sf[i].k);
		size_t t;

		r->nst = nbase;
		if ((rc = render(r, ru, &ru->to, "to", p, fk, &meas, why, nwhy)) != 0)
			goto done;
		for (t = 0; t < ru->ntags; t++) {
			struct ps v;

			if (!ru->tags[t].tpl.uses_field)
				continue;
			fk = res(r, r->sf[i].k);
			if ((rc = render(r, ru, &ru->tags[t].tpl, "tags", p, fk, &v, why, nwhy)) != 0)
				goto done;
			if (set_tag(r, lit(ru->tags[t].name), v) < 0)
				goto nomem;
		}
		if ((rc = emit(r, p, meas, i, i + 1, fn, ud, emitted, err)) != 0)
			return rc;
	}
	return 0;
done:
	return rc < 0 ? ferry_error_set(err, FERRY_ENOMEM, "out of memory") : rc;
nomem:
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

/* ---- the schema of the mapped points --------------------------------------- */

static unsigned cast_types(const struct pm_field *fm, unsigned in)
{
	static const unsigned bits[] = { 0, TM_TYPE_BIT(LP_INT), TM_TYPE_BIT(LP_FLOAT),
					 TM_TYPE_BIT(LP_STRING), TM_TYPE_BIT(LP_BOOL) };

	if (fm->cast)
		return bits[fm->cast];
	return fm->has_scale || fm->has_offset ? TM_TYPE_BIT(LP_FLOAT) : in;
}

/* The measurement name a rule's to gives for measurement mn (and field
 * fk of a per-field rule); the template uses no tag (checked before). */
static int schema_name(const struct pm_rule *ru, const char *mn, const char *fk,
		       struct ferry_buf *b)
{
	size_t i;
	int e = 0;

	ferry_buf_clear(b);
	if (!ru->has_to)
		return ferry_buf_addstr(b, mn);
	for (i = 0; i < ru->to.n && e == 0; i++)
		e = ferry_buf_addstr(b, ru->to.p[i].kind == PM_LIT ? ru->to.p[i].s :
				     ru->to.p[i].kind == PM_MEAS ? mn : fk);
	return e;
}

/* Add one output measurement's tags and fields (field fk only, or all). */
static int schema_add(const struct pm_rule *ru, const struct tm_measurement *im,
		      struct tm_schema *out, const char *name, const char *only)
{
	struct tm_measurement *om = tm_schema_measurement(out, name, strlen(name));
	size_t i, k;

	if (!om)
		return FERRY_ENOMEM;
	for (i = 0; i < im->ntags; i++)
		if (!tag_dropped(ru, (struct lp_str){ im->tags[i], strlen(im->tags[i]) }) &&
		    tm_measurement_add_tag(om, im->tags[i], strlen(im->tags[i])) < 0)
			return FERRY_ENOMEM;
	for (i = 0; i < ru->ntags; i++)
		if (tm_measurement_add_tag(om, ru->tags[i].name, strlen(ru->tags[i].name)) < 0)
			return FERRY_ENOMEM;
	for (i = 0; i < ru->nftags; i++)
		for (k = 0; k < im->nfields; k++)
			if (!strcmp(im->fields[k].name, ru->ftags[i].field) &&
			    tm_measurement_add_tag(om, ru->ftags[i].tag, strlen(ru->ftags[i].tag)) < 0)
				return FERRY_ENOMEM;
	for (k = 0; !ru->only_named && k < im->nfields; k++) {
		const char *fn = im->fields[k].name;

		if (field_named(ru, (struct lp_str){ fn, strlen(fn) }, NULL, im) ||
		    (only && strcmp(fn, only)))
			continue;
		if (tm_measurement_add_field(om, fn, strlen(fn), im->fields[k].types) < 0)
			return FERRY_ENOMEM;
	}
	for (i = 0; i < ru->nfields; i++) {
		const struct pm_field *fm = &ru->fields[i];
		unsigned types = 0;

		if (only && strcmp(fm->name, only))
			continue;
		if (fm->src_tag) {
			for (k = 0; k < im->ntags; k++)
				if (!strcmp(im->tags[k], fm->src))
					types = TM_TYPE_BIT(LP_STRING);
		} else {
			for (k = 0; k < im->nfields; k++)
				if (!strcmp(im->fields[k].name, fm->src))
					types = im->fields[k].types;
		}
		if (types && tm_measurement_add_field(om, fm->name, strlen(fm->name),
						      cast_types(fm, types)) < 0)
			return FERRY_ENOMEM;
	}
	if (!om->nfields) {   /* no point of it keeps a field: not a measurement */
		size_t at = (size_t)(om - out->m);

		for (i = 0; i < om->ntags; i++)
			ferry_free(om->tags[i]);
		ferry_free(om->tags);
		ferry_free(om->fields);
		ferry_free(om->name);
		memmove(&out->m[at], &out->m[at + 1], (out->n - (size_t)at - 1) * sizeof(*out->m));
		out->n--;
	}
	return 0;
}

/* A per-field rule: a measurement per field the points keep. */
static int schema_per_field(const struct pm_rule *ru, const struct tm_measurement *im,
			    struct tm_schema *out, struct ferry_buf *b)
{
	size_t k;
	int rc;

	for (k = 0; !ru->only_named && k < im->nfields; k++) {
		const char *fn = im->fields[k].name;

		if (field_named(ru, (struct lp_str){ fn, strlen(fn) }, NULL, im))
			continue;
		if ((rc = schema_name(ru, im->name, fn, b)) < 0 ||
		    (rc = schema_add(ru, im, out, b->buf, fn)) < 0)
			return rc;
	}
	for (k = 0; k < ru->nfields; k++) {
		if (!has_source(&ru->fields[k], NULL, im))
			continue;
		if ((rc = schema_name(ru, im->name, ru->fields[k].name, b)) < 0 ||
		    (rc = schema_add(ru, im, out, b->buf, ru->fields[k].name)) < 0)
			return rc;
	}
	return 0;
}

int tm_pmap_schema(const struct tm_pmap *m, const struct tm_schema *in, struct tm_schema *out,
		   struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i, j;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->typed = in->typed;
	for (i = 0; i < in->n && rc == 0; i++) {
		const struct tm_measurement *im = &in->m[i];
		const struct pm_rule *ru = NULL;

		for (j = 0; j < m->n && !ru; j++)
			if (tm_glob_any(m->r[j].mglob, im->name, strlen(im->name)))
				ru = &m->r[j];
		/* which rule a point takes depends on its tags, or its
		 * measurement on a tag's value: only the points can say */
		if (ru && (ru->nconds || ru->to.uses_tag)) {
			rc = 1;
			break;
		}
		if (!ru)
			rc = tm_schema_merge(out, im);
		else if (ru->drop)
			continue;
		else if (ru->per_field)
			rc = schema_per_field(ru, im, out, &b);
		else if ((rc = schema_name(ru, im->name, "", &b)) == 0)
			rc = schema_add(ru, im, out, b.buf, NULL);
	}
	ferry_buf_release(&b);
	if (rc != 0)
		tm_schema_release(out);
	return rc < 0 ? ferry_error_set(err, FERRY_ENOMEM, "out of memory") : rc;
}
