/*
 * point.c - a struct tm_point as one line of line protocol, its tags
 * sorted by key: the order InfluxDB keeps a series key in, so that a
 * point is the same line whichever order a source or a point map gave
 * the tags in (the relay's InfluxDB sink writes mapped points with it).
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "tsmap/tsmap.h"

static int tag_cmp(const void *a, const void *b)
{
	const struct lp_str *x = &((const struct lp_tag *)a)->key;
	const struct lp_str *y = &((const struct lp_tag *)b)->key;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

int tm_point_write(struct ferry_buf *b, const struct tm_point *p, struct lp_tag **tags,
		   size_t *cap)
{
	struct lp_point lp;
	size_t i;

	memset(&lp, 0, sizeof(lp));
	lp.measurement = p->measurement;
	lp.tags = (struct lp_tag *)p->tags;
	lp.ntags = p->ntags;
	for (i = 1; i < p->ntags && tag_cmp(&p->tags[i - 1], &p->tags[i]) < 0; i++)
		;
	if (p->ntags > 1 && i < p->ntags) {   /* not sorted yet: a sorted copy */
		if (*cap < p->ntags) {
			struct lp_tag *t = ferry_realloc(*tags, p->ntags * sizeof(*t));

			if (!t)
				return FERRY_ENOMEM;
			*tags = t;
			*cap = p->ntags;
		}
		memcpy(*tags, p->tags, p->ntags * sizeof(**tags));
		qsort(*tags, p->ntags, sizeof(**tags), tag_cmp);
		lp.tags = *tags;
	}
	lp.fields = (struct lp_field *)p->fields;
	lp.nfields = p->nfields;
	lp.has_ts = 1;
	lp.ts = p->time_ns;
	return lp_point_write(b, &lp);
}
