/*
 * pmap.c - point maps: the `points:` rules of a map file, loaded once
 * (this file) and applied per point by each thread's run (pmap_apply.c).
 *
 *   points:
 *     - from: {measurement: "°C", tags: {domain: sensor}}   # or "GLOB"
 *       to: "{tag.domain}"            # {measurement} {tag.NAME} {field}
 *       tags: {unit: "{measurement}"} # new tag -> template (or literal)
 *       drop_tags: [source]           # "*": every tag of the point
 *       fields:                       # new field -> source
 *         temp: value
 *         temp_f: {from: value, cast: float, scale: 1.8, offset: 32}
 *         name: {from: tag.friendly_name}
 *       field_tags: {device: device_str}   # tag <- field (moved)
 *       only_named: false             # drop the fields not named above
 *       drop: false                   # leave the point behind
 *
 * The first rule whose from matches wins; a point no rule matches passes
 * unchanged.  Every error names the file and the line of what is wrong.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "tsmap/pmap_int.h"

static void tpl_release(struct pm_tpl *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		ferry_free(t->p[i].s);
	ferry_free(t->p);
	ferry_free(t->text);
	memset(t, 0, sizeof(*t));
}

static void rule_release(struct pm_rule *r)
{
	size_t i;

	ferry_free(r->from_text);
	tm_strs_free(r->mglob);
	for (i = 0; i < r->nconds; i++) {
		ferry_free(r->conds[i].key);
		tm_strs_free(r->conds[i].globs);
	}
	ferry_free(r->conds);
	tpl_release(&r->to);
	for (i = 0; i < r->ntags; i++) {
		ferry_free(r->tags[i].name);
		tpl_release(&r->tags[i].tpl);
	}
	ferry_free(r->tags);
	tm_strs_free(r->drop_tags);
	for (i = 0; i < r->nfields; i++) {
		ferry_free(r->fields[i].name);
		ferry_free(r->fields[i].src);
	}
	ferry_free(r->fields);
	for (i = 0; i < r->nftags; i++) {
		ferry_free(r->ftags[i].tag);
		ferry_free(r->ftags[i].field);
	}
	ferry_free(r->ftags);
}

void tm_pmap_free(struct tm_pmap *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		rule_release(&m->r[i]);
	ferry_free(m->r);
	ferry_free(m->path);
	ferry_free(m);
}

const char *tm_pmap_digest(const struct tm_pmap *m)
{
	return m->digest;
}

static int nomem(struct tm_mapfile *c)
{
	return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
}

/* A template: literal text with {measurement}, {tag.NAME}, {field}. */
static int tpl_parse(struct tm_mapfile *c, struct fy_node *n, const char *what,
		     struct pm_tpl *t)
{
	const char *s, *e;

	if (!n || fy_node_get_type(n) != FYNT_SCALAR)
		return tm_yaml_bad(c, n, "%s: expected a text (a template with {measurement}, "
				   "{tag.NAME} or {field})", what);
	if (!(t->text = wire_yaml_str(n)))
		return nomem(c);
	for (s = t->text; *s; s = e) {
		struct pm_part pt = { PM_LIT, NULL, 0 };

		if (*s == '{') {
			if (!(e = strchr(s, '}')))
				return tm_yaml_bad(c, n, "%s: '{' without '}' in '%s'", what, t->text);
			e++;
			if (e - s == 13 && !strncmp(s, "{measurement}", 13)) {
				pt.kind = PM_MEAS;
			} else if (e - s == 7 && !strncmp(s, "{field}", 7)) {
				pt.kind = PM_FIELD;
				t->uses_field = 1;
			} else if (e - s > 6 && !strncmp(s, "{tag.", 5)) {
				pt.kind = PM_TAG;
				pt.n = (size_t)(e - s - 6);
				if (!(pt.s = ferry_strndup(s + 5, pt.n)))
					return nomem(c);
				t->uses_tag = 1;
			} else {
				return tm_yaml_bad(c, n, "%s: unknown placeholder '%.*s' in '%s': use "
						   "{measurement}, {tag.NAME} or {field}", what,
						   (int)(e - s), s, t->text);
			}
		} else {
			e = strchr(s, '{');
			if (!e)
				e = s + strlen(s);
			pt.n = (size_t)(e - s);
			if (!(pt.s = ferry_strndup(s, pt.n)))
				return nomem(c);
		}
		if (ferry_array_grow((void **)&t->p, &t->cap, t->n + 1, sizeof(*t->p)) < 0) {
			ferry_free(pt.s);
			return nomem(c);
		}
		t->p[t->n++] = pt;
	}
	return 0;
}

static int parse_from(struct tm_mapfile *c, struct pm_rule *r, struct fy_node *n)
{
	struct fy_node_pair *p, *q;
	struct fy_node *tags = NULL, *meas = NULL;
	void *it = NULL;
	int rc;

	if (n && fy_node_get_type(n) == FYNT_SCALAR) {
		meas = n;
	} else if (n && fy_node_get_type(n) == FYNT_MAPPING) {
		while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
			struct fy_node *k = fy_node_pair_key(p);

			if (wire_yaml_key_is(k, "measurement"))
				meas = fy_node_pair_value(p);
			else if (wire_yaml_key_is(k, "tags"))
				tags = fy_node_pair_value(p);
			else
				return tm_yaml_bad(c, k, "from: unknown key '%s': use measurement, "
						   "tags", fy_node_get_scalar0(k) ?
						   fy_node_get_scalar0(k) : "");
		}
	} else {
		return tm_yaml_bad(c, n, "from: expected a measurement name or glob, or "
				   "{measurement: GLOB, tags: {TAG: GLOB}}");
	}
	if (meas && fy_node_get_type(meas) != FYNT_SCALAR)
		return tm_yaml_bad(c, meas, "from: measurement: expected a name or glob");
	if (!(r->mglob = ferry_calloc(2, sizeof(char *))) ||
	    !(r->mglob[0] = meas ? wire_yaml_str(meas) : ferry_strdup("*")))
		return nomem(c);
	if (!tags)
		return (r->from_text = ferry_strdup(r->mglob[0])) ? 0 : nomem(c);
	if (fy_node_get_type(tags) != FYNT_MAPPING)
		return tm_yaml_bad(c, tags, "from: tags: expected TAG: GLOB (or a list of globs)");
	r->conds = ferry_calloc((size_t)fy_node_mapping_item_count(tags) + 1, sizeof(*r->conds));
	if (!r->conds)
		return nomem(c);
	it = NULL;
	while ((q = fy_node_mapping_iterate(tags, &it)) != NULL) {
		struct pm_cond *cd = &r->conds[r->nconds];

		if (!(cd->key = wire_yaml_str(fy_node_pair_key(q))))
			return tm_yaml_bad(c, fy_node_pair_key(q), "from: tags: expected a tag name");
		r->nconds++;
		if ((rc = tm_yaml_list(c, fy_node_pair_value(q), &cd->globs)) < 0)
			return rc;
	}
	{
		struct ferry_buf b = FERRY_BUF_INIT;
		size_t i, k;
		int e = ferry_buf_addstr(&b, r->mglob[0]);

		for (i = 0; i < r->nconds && e == 0; i++) {
			e |= ferry_buf_addf(&b, "%s%s=", i ? "," : " with ", r->conds[i].key);
			for (k = 0; r->conds[i].globs[k] && e == 0; k++)
				e |= ferry_buf_addf(&b, "%s%s", k ? "|" : "", r->conds[i].globs[k]);
		}
		if (e < 0 || !(r->from_text = ferry_buf_detach(&b, NULL))) {
			ferry_buf_release(&b);
			return nomem(c);
		}
	}
	return 0;
}

static const char *const cast_names[] = { "", "int", "float", "string", "bool" };

static int parse_number(struct tm_mapfile *c, struct fy_node *n, const char *what, double *out)
{
	char *s = wire_yaml_str(n), *end;

	if (!s)
		return tm_yaml_bad(c, n, "%s: expected a number", what);
	*out = strtod(s, &end);
	if (end == s || *end || !(*out == *out) || *out > 1e308 || *out < -1e308) {
		int rc = tm_yaml_bad(c, n, "%s: expected a number, not '%s'", what, s);

		ferry_free(s);
		return rc;
	}
	ferry_free(s);
	return 0;
}

/* fields: NAME: SOURCE  or  NAME: {from: SOURCE, cast: T, scale: X, offset: Y} */
static int parse_field(struct tm_mapfile *c, struct pm_field *f, struct fy_node *v)
{
	struct fy_node *src = NULL;
	struct fy_node_pair *p;
	void *it = NULL;
	size_t i;
	int rc;

	f->line = wire_yaml_line(v);
	if (v && fy_node_get_type(v) == FYNT_SCALAR) {
		src = v;
	} else if (v && fy_node_get_type(v) == FYNT_MAPPING) {
		while ((p = fy_node_mapping_iterate(v, &it)) != NULL) {
			struct fy_node *k = fy_node_pair_key(p), *pv = fy_node_pair_value(p);

			if (wire_yaml_key_is(k, "from")) {
				src = pv;
			} else if (wire_yaml_key_is(k, "cast")) {
				char *s = wire_yaml_str(pv);

				for (i = 1; s && i < sizeof(cast_names) / sizeof(*cast_names); i++)
					if (!strcmp(s, cast_names[i]))
						f->cast = (int)i;
				ferry_free(s);
				if (!f->cast)
					return tm_yaml_bad(c, pv, "field '%s': cast: use int, float, "
							   "string or bool", f->name);
			} else if (wire_yaml_key_is(k, "scale")) {
				if ((rc = parse_number(c, pv, "scale", &f->scale)) < 0)
					return rc;
				f->has_scale = 1;
			} else if (wire_yaml_key_is(k, "offset")) {
				if ((rc = parse_number(c, pv, "offset", &f->offset)) < 0)
					return rc;
				f->has_offset = 1;
			} else {
				return tm_yaml_bad(c, k, "field '%s': unknown key '%s': use from, "
						   "cast, scale, offset", f->name,
						   fy_node_get_scalar0(k) ? fy_node_get_scalar0(k) : "");
			}
		}
		if (!src && !(f->src = ferry_strdup(f->name)))  /* a cast in place */
			return nomem(c);
	} else {
		return tm_yaml_bad(c, v, "field '%s': expected a source field, tag.NAME, or "
				   "{from: SOURCE, cast: TYPE, scale: X, offset: Y}", f->name);
	}
	if (src && (fy_node_get_type(src) != FYNT_SCALAR || !(f->src = wire_yaml_str(src)) ||
		    !f->src[0]))
		return tm_yaml_bad(c, src, "field '%s': from: expected a field or tag.NAME",
				   f->name);
	if (!strncmp(f->src, "tag.", 4) && f->src[4]) {
		memmove(f->src, f->src + 4, strlen(f->src + 4) + 1);
		f->src_tag = 1;
	}
	if ((f->has_scale || f->has_offset) && (f->cast == PM_CAST_STRING ||
						f->cast == PM_CAST_BOOL))
		return tm_yaml_bad(c, v, "field '%s': scale/offset give a number: cast it to "
				   "int or float", f->name);
	if (!f->has_scale)
		f->scale = 1;
	return 0;
}

/*
 * A mapping of NAME: VALUE lines into an array of elements that start
 * with their owned name (struct pm_field, pm_tagmap, pm_ftag): one() reads
 * each value.  what and shape word the error for a wrong node.
 */
static int parse_named(struct tm_mapfile *c, struct fy_node *n, const char *what,
		       const char *shape, void **arr, size_t *cnt, size_t elem,
		       int (*one)(struct tm_mapfile *c, void *el, struct fy_node *v))
{
	struct fy_node_pair *p;
	void *it = NULL;
	int rc;

	if (!n || fy_node_get_type(n) != FYNT_MAPPING)
		return tm_yaml_bad(c, n, "%s: expected %s lines", what, shape);
	if (!(*arr = ferry_calloc((size_t)fy_node_mapping_item_count(n) + 1, elem)))
		return nomem(c);
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		char *el = (char *)*arr + *cnt * elem;
		char **name = (char **)(void *)el;

		*name = wire_yaml_str(fy_node_pair_key(p));
		(*cnt)++;   /* freed with the rule, even when it is refused */
		if (!*name || !(*name)[0])
			return tm_yaml_bad(c, fy_node_pair_key(p), "%s: expected a name", what);
		if ((rc = one(c, el, fy_node_pair_value(p))) < 0)
			return rc;
	}
	return 0;
}

static int one_field(struct tm_mapfile *c, void *el, struct fy_node *v)
{
	return parse_field(c, el, v);
}

static int one_tag(struct tm_mapfile *c, void *el, struct fy_node *v)
{
	return tpl_parse(c, v, "tags", &((struct pm_tagmap *)el)->tpl);
}

static int one_ftag(struct tm_mapfile *c, void *el, struct fy_node *v)
{
	struct pm_ftag *t = el;

	if (!(t->field = wire_yaml_str(v)) || !t->field[0])
		return tm_yaml_bad(c, v, "field_tags: '%s': expected the field to move", t->tag);
	return 0;
}

static int parse_bool(struct tm_mapfile *c, struct fy_node *n, const char *what, int *out)
{
	const char *s;
	size_t len;

	s = n && fy_node_get_type(n) == FYNT_SCALAR ? fy_node_get_scalar(n, &len) : NULL;
	if (s && ((len == 4 && !strncmp(s, "true", 4)) || (len == 3 && !strncmp(s, "yes", 3))))
		*out = 1;
	else if (s && ((len == 5 && !strncmp(s, "false", 5)) || (len == 2 && !strncmp(s, "no", 2))))
		*out = 0;
	else
		return tm_yaml_bad(c, n, "%s: expected true or false", what);
	return 0;
}

static int parse_rule(struct tm_mapfile *c, struct pm_rule *r, struct fy_node *n)
{
	struct fy_node_pair *p;
	struct fy_node *from = NULL;
	void *it = NULL;
	size_t i;
	int rc = 0;

	if (!n || fy_node_get_type(n) != FYNT_MAPPING || !fy_node_mapping_item_count(n))
		return tm_yaml_bad(c, n, "points: each rule is a mapping with from: and what to do");
	r->line = wire_yaml_line(n);
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL && rc == 0) {
		struct fy_node *k = fy_node_pair_key(p), *v = fy_node_pair_value(p);

		if (wire_yaml_key_is(k, "from")) {
			from = v ? v : k;
		} else if (wire_yaml_key_is(k, "to")) {
			rc = tpl_parse(c, v, "to", &r->to);
			r->has_to = 1;
		} else if (wire_yaml_key_is(k, "tags")) {
			rc = parse_named(c, v, "tags", "NEW_TAG: TEMPLATE", (void **)&r->tags,
					 &r->ntags, sizeof(*r->tags), one_tag);
		} else if (wire_yaml_key_is(k, "drop_tags")) {
			if (!v)
				return tm_yaml_bad(c, k, "drop_tags: expected a list of tags, or \"*\"");
			rc = tm_yaml_list(c, v, &r->drop_tags);
			for (i = 0; rc == 0 && r->drop_tags[i]; i++)
				if (!strcmp(r->drop_tags[i], "*"))
					r->drop_all = 1;
		} else if (wire_yaml_key_is(k, "fields")) {
			rc = parse_named(c, v, "fields", "NEW_FIELD: SOURCE", (void **)&r->fields,
					 &r->nfields, sizeof(*r->fields), one_field);
		} else if (wire_yaml_key_is(k, "field_tags")) {
			rc = parse_named(c, v, "field_tags", "NEW_TAG: FIELD", (void **)&r->ftags,
					 &r->nftags, sizeof(*r->ftags), one_ftag);
		} else if (wire_yaml_key_is(k, "only_named")) {
			rc = parse_bool(c, v, "only_named", &r->only_named);
		} else if (wire_yaml_key_is(k, "drop")) {
			rc = parse_bool(c, v, "drop", &r->drop);
		} else {
			rc = tm_yaml_bad(c, k, "unknown key '%s' in a points rule: use from, to, tags, "
					 "drop_tags, fields, field_tags, only_named, drop",
					 fy_node_get_scalar0(k) ? fy_node_get_scalar0(k) : "");
		}
	}
	if (rc < 0)
		return rc;
	if (!from)
		return tm_yaml_bad(c, n, "a points rule needs from: (a measurement name or glob; "
				   "\"*\" for every point)");
	if ((rc = parse_from(c, r, from)) < 0)
		return rc;
	r->per_field = r->has_to && r->to.uses_field;
	for (i = 0; i < r->ntags; i++)
		if (r->tags[i].tpl.uses_field && !r->per_field)
			return tm_yaml_bad(c, n, "tags: '%s' uses {field}, which only a rule whose "
					   "to: has {field} (a point per field) knows", r->tags[i].name);
	return 0;
}

int tm_pmap_load(const char *path, struct tm_pmap **out, struct ferry_error *err)
{
	struct tm_mapfile c = { path, err };
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct fy_node *root, *pts, *e;
	struct tm_pmap *m = NULL;
	void *it = NULL;
	int rc;

	*out = NULL;
	if ((rc = tm_yaml_load(path, &text, &y, err)) < 0)
		goto out;
	root = y.doc ? fy_document_root(y.doc) : NULL;
	if (!root || fy_node_get_type(root) != FYNT_MAPPING ||
	    !(pts = fy_node_mapping_lookup_by_string(root, "points", FY_NT))) {
		rc = 1;
		goto out;
	}
	if (fy_node_get_type(pts) != FYNT_SEQUENCE || !fy_node_sequence_item_count(pts)) {
		rc = tm_yaml_bad(&c, fy_node_get_type(pts) == FYNT_SCALAR ? pts : root,
				 "points: expected a list of rules (- from: ...)");
		goto out;
	}
	if (!(m = ferry_calloc(1, sizeof(*m))) || !(m->path = ferry_strdup(path)) ||
	    !(m->r = ferry_calloc((size_t)fy_node_sequence_item_count(pts), sizeof(*m->r)))) {
		rc = nomem(&c);
		goto out;
	}
	ferry_hash128_hex(text.buf, text.len, m->digest);
	while ((e = fy_node_sequence_iterate(pts, &it)) != NULL) {
		if ((rc = parse_rule(&c, &m->r[m->n++], e)) < 0)
			goto out;
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	tm_pmap_free(m);
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}

int tm_pmap_unmatched(const struct tm_pmap *m, struct ferry_buf *out)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!atomic_load_explicit(&((struct pm_rule *)&m->r[i])->hits,
					  memory_order_relaxed) &&
		    ferry_buf_addf(out, "map %s:%d: rule from '%s' matched no point\n", m->path,
				   m->r[i].line, m->r[i].from_text) < 0)
			return FERRY_ENOMEM;
	return 0;
}

int tm_map_kinds(const char *path, int *points, int *table, struct ferry_error *err)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct fy_node *root;
	int rc;

	*points = *table = 0;
	if ((rc = tm_yaml_load(path, &text, &y, err)) == 0 && y.doc &&
	    (root = fy_document_root(y.doc)) && fy_node_get_type(root) == FYNT_MAPPING) {
		/* ferry copy and verify take a relational map before this */
		if (fy_node_mapping_lookup_by_string(root, "tables", FY_NT))
			rc = ferry_error_set(err, FERRY_EUSAGE, "map '%s' has tables: (a relational "
					     "map, for ferry copy and verify from a SQLite source); "
					     "points take target:/columns: or points:", path);
		*points = fy_node_mapping_lookup_by_string(root, "points", FY_NT) != NULL;
		*table = fy_node_mapping_lookup_by_string(root, "target", FY_NT) != NULL ||
			 fy_node_mapping_lookup_by_string(root, "columns", FY_NT) != NULL;
	}
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}
