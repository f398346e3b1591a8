/*
 * merge.c - the wide layout's one row per key: points that share the
 * table's primary key (time, tags...) become one row, each field taking
 * its last value in read order, as InfluxDB keeps the last write of a
 * field.  influx_inspect export writes one field per line, so a point is
 * spread over many lines, often far apart in the file; exact duplicate
 * lines are the same point written again.
 *
 * The key's time is the column's: microseconds (timestamptz), or with
 * keep_ns the nanoseconds (time_ns is in the key then).  Without keep_ns,
 * two points that differ only below the microsecond would become one row
 * and lose a value: the later one is a reject that says so.
 *
 * A value its column cannot hold as it is (an integer beyond 2^53 in the
 * double precision column of a float/integer field, text with a NUL
 * byte or bytes that are not UTF-8, which InfluxDB keeps) is left out
 * of its row and is a reject of its own, with the line it came from, as
 * lp:// leaves out a NaN: the row's other fields, often from other
 * lines, load.  The transform would refuse the whole row for that cell.
 *
 * Both `ferry copy` and `ferry verify` read a wide table through
 * tm_reader_read(), which feeds every point to this merge and hands on the
 * merged points: the rows verify compares are made by the same code as
 * the rows the copy wrote.  The merged rows are held in memory until the
 * unit is done (a chunk of InfluxDB, whose points of a key never span
 * chunks; a whole measurement of a file source).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "model/value.h"
#include "tsmap/tm_int.h"

struct mval {
	int set;
	enum lp_ftype type;
	int64_t key;            /* the source position (line) of the point that
				 * wrote it: its reject names that line */
	union {
		double f;
		int64_t i;
		uint64_t u;
		int b;
		struct {
			size_t off, n;  /* LP_STRING: bytes in the arena */
		} s;
	} v;
};

struct ment {
	uint64_t h;
	size_t kofs, klen;      /* key bytes in the arena */
	int64_t time_ns;        /* of the first point of the key */
	int64_t key;            /* its source position (line) */
	const char *file;       /* and file (a directory's), or NULL */
};

/* Append n bytes to the arena; their offset in *at. */
static int arena_add(struct tm_merge *m, const void *p, size_t n, size_t *at)
{
	*at = m->arena.len;
	return n ? ferry_buf_add(&m->arena, p, n) : 0;
}

int tm_merge_init(struct tm_merge *m, const struct tm_table *t, struct lp_str measurement,
		  int by_ns)
{
	size_t k;

	memset(m, 0, sizeof(*m));
	m->t = t;
	m->measurement = measurement;
	m->by_ns = by_ns;
	m->tagcol = ferry_calloc(t->ncols + 1, sizeof(*m->tagcol));
	m->fieldcol = ferry_calloc(t->ncols + 1, sizeof(*m->fieldcol));
	if (!m->tagcol || !m->fieldcol)
		return FERRY_ENOMEM;
	for (k = 0; k < t->ncols; k++) {
		if (t->cols[k].from == TF_TAG)
			m->tagcol[m->ntags++] = k;
		else if (t->cols[k].from == TF_WIDE_FIELD)
			m->fieldcol[m->nfields++] = k;
	}
	return 0;
}

void tm_merge_release(struct tm_merge *m)
{
	ferry_free(m->tagcol);
	ferry_free(m->fieldcol);
	ferry_free(m->ents);
	ferry_free(m->vals);
	ferry_free(m->slots);
	ferry_buf_release(&m->arena);
	ferry_buf_release(&m->key);
	memset(m, 0, sizeof(*m));
}

/* Forget the merged points, keep the memory. */
static void merge_clear(struct tm_merge *m)
{
	m->nents = 0;
	if (m->slots)
		memset(m->slots, 0, m->nslots * sizeof(*m->slots));
	ferry_buf_clear(&m->arena);
}

static int lpstr_eq(struct lp_str a, const char *b)
{
	return a.n == strlen(b) && !memcmp(a.p, b, a.n);
}

/* Index of the field column named f (the wide table's fields are in
 * bytewise order of their source names), or -1. */
static long field_index(const struct tm_merge *m, struct lp_str f)
{
	size_t lo = 0, hi = m->nfields;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *nm = m->t->cols[m->fieldcol[mid]].arg;
		size_t nn = strlen(nm), mn = nn < f.n ? nn : f.n;
		int c = memcmp(f.p, nm, mn);

		if (c == 0)
			c = f.n < nn ? -1 : f.n > nn;
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The point's key: its time in the key's unit, then each tag column's
 * value ('' when the point lacks the tag), each with its length in front. */
static int make_key(struct tm_merge *m, const struct tm_point *p, struct ferry_buf *key)
{
	int64_t t = p->time_ns;
	size_t i, k;
	int rc;

	if (!m->by_ns)  /* floor to microseconds, as the time column does */
		t = p->time_ns / 1000 - (p->time_ns % 1000 < 0);
	ferry_buf_clear(key);
	rc = ferry_buf_add(key, &t, sizeof(t));
	for (k = 0; k < m->ntags && rc == 0; k++) {
		const char *tk = m->t->cols[m->tagcol[k]].arg;
		struct lp_str v = { "", 0 };

		for (i = 0; i < p->ntags; i++)
			if (lpstr_eq(p->tags[i].key, tk)) {
				v = p->tags[i].val;
				break;
			}
		rc = ferry_buf_add(key, &v.n, sizeof(v.n));
		if (rc == 0)
			rc = ferry_buf_add(key, v.p, v.n);
	}
	return rc;
}

static int grow_slots(struct tm_merge *m)
{
	size_t n = m->nslots ? m->nslots * 2 : 1024, i;
	size_t *s = ferry_calloc(n, sizeof(*s));

	if (!s)
		return FERRY_ENOMEM;
	for (i = 0; i < m->nents; i++) {
		size_t at = (size_t)m->ents[i].h & (n - 1);

		while (s[at])
			at = (at + 1) & (n - 1);
		s[at] = i + 1;
	}
	ferry_free(m->slots);
	m->slots = s;
	m->nslots = n;
	return 0;
}

/* Reject point p, or only its field `only` (then column names its
 * column), as the record at key. */
static int reject_point(const struct tm_point *p, const struct lp_field *only, int64_t key,
			const char *column, const char *why, const struct tm_merge_sink *sk,
			struct ferry_error *err)
{
	struct ferry_buf raw = FERRY_BUF_INIT;
	int rc;

	if (!sk->reject)
		return ferry_error_set(err, FERRY_EREJECT, "%s", why);
	if (tm_point_lp(p, only, &raw) < 0) {  /* never a cut line as the rejected one */
		ferry_buf_release(&raw);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = sk->reject(sk->ud, key, column, why, raw.buf, raw.len, err);
	ferry_buf_release(&raw);
	return rc < 0 ? rc : 0;
}

/* Reject point p: it would share a row with the point of entry e. */
static int reject_sub_us(const struct tm_point *p, const struct ment *e,
			 const struct tm_merge_sink *sk, struct ferry_error *err)
{
	char why[640];

	snprintf(why, sizeof(why), "point at %" PRId64 " ns differs from the one at %"
		 PRId64 " ns (%s%s%s%s %" PRId64 ") only below the microsecond, and time keeps "
		 "microseconds: add --keep-ns to load both",
		 p->time_ns, e->time_ns, e->file ? "file '" : "", e->file ? e->file : "",
		 e->file ? "' " : "", sk->key_label, TM_KEY_LINE(e->key));
	return reject_point(p, NULL, p->key, "", why, sk, err);
}

int tm_merge_add(struct tm_merge *m, const struct tm_point *p, const struct tm_merge_sink *sk,
		 struct ferry_error *err)
{
	struct ment *e;
	struct mval *v;
	uint64_t h;
	size_t at, i;
	int rc;

	if ((rc = make_key(m, p, &m->key)) < 0)
		goto nomem;
	h = ferry_hash64(m->key.buf, m->key.len);
	if (m->nents * 2 >= m->nslots && (rc = grow_slots(m)) < 0)
		goto nomem;
	at = (size_t)h & (m->nslots - 1);
	for (; m->slots[at]; at = (at + 1) & (m->nslots - 1)) {
		e = &m->ents[m->slots[at] - 1];
		if (e->h == h && e->klen == m->key.len &&
		    !memcmp(m->arena.buf + e->kofs, m->key.buf, e->klen))
			break;
	}
	if (m->slots[at]) {
		e = &m->ents[m->slots[at] - 1];
		if (e->time_ns != p->time_ns)
			return reject_sub_us(p, e, sk, err);
	} else {
		if (m->nents == m->cap) {
			size_t nc = m->cap ? m->cap * 2 : 256;
			struct ment *ne = ferry_realloc(m->ents, nc * sizeof(*ne));
			struct mval *nv;

			if (!ne)
				goto nomem;
			m->ents = ne;
			nv = ferry_realloc(m->vals, nc * (m->nfields ? m->nfields : 1) * sizeof(*nv));
			if (!nv)
				goto nomem;
			m->vals = nv;
			m->cap = nc;
		}
		e = &m->ents[m->nents];
		e->h = h;
		e->time_ns = p->time_ns;
		e->key = p->key;
		e->file = p->file;
		e->klen = m->key.len;
		if ((rc = arena_add(m, m->key.buf, m->key.len, &e->kofs)) < 0)
			goto nomem;
		memset(&m->vals[m->nents * m->nfields], 0, m->nfields * sizeof(*m->vals));
		m->slots[at] = ++m->nents;
	}
	/* last write wins, field by field */
	v = &m->vals[(size_t)(e - m->ents) * m->nfields];
	for (i = 0; i < p->nfields; i++) {
		const struct lp_field *f = &p->fields[i];
		long fi = field_index(m, f->key);

		if (fi < 0)
			continue;   /* not in the catalog: cannot happen for a wide table */
		v[fi].set = 1;
		v[fi].type = f->type;
		v[fi].key = p->key;
		if (f->type == LP_STRING) {
			v[fi].v.s.n = f->v.s.n;
			if ((rc = arena_add(m, f->v.s.p, f->v.s.n, &v[fi].v.s.off)) < 0)
				goto nomem;
		} else if (f->type == LP_FLOAT) {
			v[fi].v.f = f->v.f;
		} else if (f->type == LP_INT) {
			v[fi].v.i = f->v.i;
		} else if (f->type == LP_UINT) {
			v[fi].v.u = f->v.u;
		} else {
			v[fi].v.b = f->v.b;
		}
	}
	return 0;
nomem:
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

/* Value v of field column k as a field of a point. */
static void mval_field(const struct tm_merge *m, size_t k, const struct mval *v,
		       struct lp_field *f)
{
	const char *fk = m->t->cols[m->fieldcol[k]].arg;

	f->key.p = fk;
	f->key.n = strlen(fk);
	f->type = v->type;
	if (f->type == LP_STRING) {
		f->v.s.p = m->arena.buf + v->v.s.off;
		f->v.s.n = v->v.s.n;
	} else if (f->type == LP_FLOAT) {
		f->v.f = v->v.f;
	} else if (f->type == LP_INT) {
		f->v.i = v->v.i;
	} else if (f->type == LP_UINT) {
		f->v.u = v->v.u;
	} else {
		f->v.b = v->v.b;
	}
}

/*
 * Does column c, of the type build_wide() gave it for the field's types
 * (tm_wide_type() in mapping.c), hold f as it is?  That type holds every
 * value of those types exactly but these: an integer a double would
 * round (a float/integer field's double precision column), and text
 * PostgreSQL refuses (a NUL byte, bytes that are not UTF-8: InfluxDB
 * keeps them).  0 with the reason in why[0..n) for those.  Left in the
 * row, the transform (copy/transform.c) refused the whole row for such a
 * cell, and stored an unsigned beyond int64 (its digits) rounded.
 */
static int column_holds(const struct tm_col *c, const struct lp_field *f, char *why, size_t n)
{
	const char *w;

	if (c->type == FERRY_T_FLOAT64 && f->type == LP_INT && !val_int_fits_double(f->v.i))
		snprintf(why, n, "integer %" PRId64 " cannot be stored exactly in %s", f->v.i,
			 ferry_type_name(c->type));
	else if (c->type == FERRY_T_FLOAT64 && f->type == LP_UINT &&
		 !val_uint_fits_double(f->v.u))
		snprintf(why, n, "unsigned integer %" PRIu64 " cannot be stored exactly in %s",
			 f->v.u, ferry_type_name(c->type));
	else if (c->type == FERRY_T_TEXT && f->type == LP_STRING &&
		 !val_utf8_ok(f->v.s.p, f->v.s.n, &w))
		snprintf(why, n, "%s", w);
	else
		return 1;
	return 0;
}

/* Reject the values of entry v's field columns bad[0..nbad), each as
 * the record of its own point; p is the row without them. */
static int reject_values(const struct tm_merge *m, const struct mval *v, const size_t *bad,
			 size_t nbad, const struct tm_point *p, const struct tm_merge_sink *sk,
			 struct ferry_error *err)
{
	size_t j;
	int rc = 0;

	for (j = 0; j < nbad && rc == 0; j++) {
		const struct tm_col *c = &m->t->cols[m->fieldcol[bad[j]]];
		struct lp_field f;
		char why[400];
		size_t wn;

		mval_field(m, bad[j], &v[bad[j]], &f);
		column_holds(c, &f, why, sizeof(why));
		wn = strlen(why);
		if (p->nfields)
			snprintf(why + wn, sizeof(why) - wn, ": left out, column '%.64s' of its row "
				 "is NULL and the row's other fields load", c->name);
		else
			snprintf(why + wn, sizeof(why) - wn, ": left out, and its row is not "
				 "written (it has no other field)");
		rc = reject_point(p, &f, v[bad[j]].key, c->name, why, sk, err);
	}
	return rc;
}

int tm_merge_flush(struct tm_merge *m, const struct tm_merge_sink *sk, tm_point_fn fn,
		   void *ud, struct ferry_error *err)
{
	struct lp_tag *tags = NULL;
	struct lp_field *fields = NULL;
	size_t *bad = NULL;
	size_t i, k;
	int rc = 0;

	if (!m->nents)
		return 0;
	tags = ferry_calloc(m->ntags + 1, sizeof(*tags));
	fields = ferry_calloc(m->nfields + 1, sizeof(*fields));
	bad = ferry_calloc(m->nfields + 1, sizeof(*bad));
	if (!tags || !fields || !bad) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* in the order their keys first came: the order of the source */
	for (i = 0; i < m->nents && rc == 0; i++) {
		const struct ment *e = &m->ents[i];
		const struct mval *v = &m->vals[i * m->nfields];
		const char *kp = m->arena.buf + e->kofs + sizeof(int64_t);
		struct tm_point p;
		size_t nbad = 0;

		memset(&p, 0, sizeof(p));
		p.measurement = m->measurement;
		p.tags = tags;
		p.fields = fields;
		p.time_ns = e->time_ns;
		p.key = e->key;
		p.file = e->file;
		for (k = 0; k < m->ntags; k++) {
			size_t n;

			memcpy(&n, kp, sizeof(n));
			kp += sizeof(n);
			if (n) {  /* '' is how the row says "no such tag" */
				const char *tk = m->t->cols[m->tagcol[k]].arg;

				tags[p.ntags].key.p = tk;
				tags[p.ntags].key.n = strlen(tk);
				tags[p.ntags].val.p = kp;
				tags[p.ntags].val.n = n;
				p.ntags++;
			}
			kp += n;
		}
		for (k = 0; k < m->nfields; k++) {
			if (!v[k].set)
				continue;
			mval_field(m, k, &v[k], &fields[p.nfields]);
			if (!column_holds(&m->t->cols[m->fieldcol[k]], &fields[p.nfields], NULL, 0))
				bad[nbad++] = k;
			else
				p.nfields++;
		}
		if (nbad)
			rc = reject_values(m, v, bad, nbad, &p, sk, err);
		/* a row of no field is no point: its values are all rejects */
		if (rc == 0 && (p.nfields || !nbad))
			rc = fn(&p, ud, err);
	}
	if (rc == 0)
		merge_clear(m);
out:
	ferry_free(bad);
	ferry_free(tags);
	ferry_free(fields);
	return rc;
}
