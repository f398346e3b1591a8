/*
 * schema.c - what a point source knows before reading: measurements with
 * their tag keys and field keys/types, kept sorted so that every plan and
 * every table built from it is the same for the same data.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "tsmap/tsmap.h"

void tm_chunks_free(struct tm_chunk *c)
{
	if (c)
		ferry_free(c[0].pool);
	ferry_free(c);
}

void tm_schema_release(struct tm_schema *s)
{
	size_t i, k;

	for (i = 0; i < s->n; i++) {
		struct tm_measurement *m = &s->m[i];

		ferry_free(m->name);
		for (k = 0; k < m->ntags; k++)
			ferry_free(m->tags[k]);
		ferry_free(m->tags);
		for (k = 0; k < m->nfields; k++)
			ferry_free(m->fields[k].name);
		ferry_free(m->fields);
	}
	ferry_free(s->m);
	memset(s, 0, sizeof(*s));
}

/* Compare a counted string with a C string bytewise, shorter first on a tie. */
static int cmpn(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* Binary search over elements of `stride` bytes that start with a char *
 * name: the position of name, or where it would go (*found = 0). */
static size_t lower_bound(const void *arr, size_t cnt, size_t stride, const char *name,
			  size_t n, int *found)
{
	size_t lo = 0, hi = cnt;

	*found = 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *e = *(char *const *)((const char *)arr + mid * stride);
		int c = cmpn(name, n, e);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int tm_schema_find(const struct tm_schema *s, const char *name, size_t n)
{
	int found;
	size_t at = lower_bound(s->m, s->n, sizeof(*s->m), name, n, &found);

	return found ? (int)at : -1;
}

struct tm_measurement *tm_schema_measurement(struct tm_schema *s, const char *name,
					     size_t n)
{
	int found;
	size_t at = lower_bound(s->m, s->n, sizeof(*s->m), name, n, &found);
	struct tm_measurement *m;

	if (found)
		return &s->m[at];
	m = ferry_realloc(s->m, (s->n + 1) * sizeof(*m));
	if (!m)
		return NULL;
	s->m = m;
	memmove(&m[at + 1], &m[at], (s->n - at) * sizeof(*m));
	memset(&m[at], 0, sizeof(*m));
	m[at].points = -1;
	m[at].values = -1;
	if (!(m[at].name = ferry_strndup(name, n))) {
		memmove(&m[at], &m[at + 1], (s->n - at) * sizeof(*m));
		return NULL;
	}
	s->n++;
	return &m[at];
}

int tm_measurement_add_tag(struct tm_measurement *m, const char *key, size_t n)
{
	int found;
	size_t at = lower_bound(m->tags, m->ntags, sizeof(*m->tags), key, n, &found);
	char **t, *d;

	if (found)
		return 0;
	if (!(d = ferry_strndup(key, n)))
		return FERRY_ENOMEM;
	t = ferry_realloc(m->tags, (m->ntags + 1) * sizeof(*t));
	if (!t) {
		ferry_free(d);
		return FERRY_ENOMEM;
	}
	m->tags = t;
	memmove(&t[at + 1], &t[at], (m->ntags - at) * sizeof(*t));
	t[at] = d;
	m->ntags++;
	return 0;
}

int tm_measurement_add_field(struct tm_measurement *m, const char *key, size_t n,
			     unsigned types)
{
	int found;
	size_t at = lower_bound(m->fields, m->nfields, sizeof(*m->fields), key, n, &found);
	struct tm_field_info *f;
	char *d;

	if (found) {
		m->fields[at].types |= types;
		return 0;
	}
	if (!(d = ferry_strndup(key, n)))
		return FERRY_ENOMEM;
	f = ferry_realloc(m->fields, (m->nfields + 1) * sizeof(*f));
	if (!f) {
		ferry_free(d);
		return FERRY_ENOMEM;
	}
	m->fields = f;
	memmove(&f[at + 1], &f[at], (m->nfields - at) * sizeof(*f));
	f[at].name = d;
	f[at].types = types;
	m->nfields++;
	return 0;
}

int tm_schema_merge(struct tm_schema *s, const struct tm_measurement *m)
{
	struct tm_measurement *o = tm_schema_measurement(s, m->name, strlen(m->name));
	size_t k;

	if (!o)
		return FERRY_ENOMEM;
	for (k = 0; k < m->ntags; k++)
		if (tm_measurement_add_tag(o, m->tags[k], strlen(m->tags[k])) < 0)
			return FERRY_ENOMEM;
	for (k = 0; k < m->nfields; k++)
		if (tm_measurement_add_field(o, m->fields[k].name, strlen(m->fields[k].name),
					     m->fields[k].types) < 0)
			return FERRY_ENOMEM;
	return 0;
}
