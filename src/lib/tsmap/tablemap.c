/*
 * tablemap.c - a map file's table part (--map with target: and columns:):
 * the existing table the points go into and where each of its columns
 * takes its value from (mapping.c's row builder then fills them).  The
 * YAML helpers both kinds of map file share are mapfile.c's; the points:
 * rules are pmap.c's.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "tsmap/tm_int.h"
#include "wire/yaml.h"

static int map_filters(struct tm_mapfile *c, struct fy_node *n, int exclude, struct tm_table *t)
{
	void *it = NULL;
	struct fy_node_pair *p;
	int rc;

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return tm_yaml_bad(c, n, "%s: expected 'measurement:' and/or 'field:' lists",
			       exclude ? "exclude" : "include");
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		struct fy_node *k = fy_node_pair_key(p);
		const char *ks;
		size_t kl;

		ks = k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &kl) : NULL;
		if (ks && kl == 11 && !memcmp(ks, "measurement", 11))
			rc = tm_yaml_list(c, fy_node_pair_value(p), exclude ? &t->exc_m : &t->inc_m);
		else if (ks && kl == 5 && !memcmp(ks, "field", 5))
			rc = tm_yaml_list(c, fy_node_pair_value(p), exclude ? &t->exc_f : &t->inc_f);
		else
			rc = tm_yaml_bad(c, k, "unknown filter '%.*s': use measurement or field",
				     ks ? (int)kl : 0, ks ? ks : "");
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const struct {
	const char *src;
	int from;
	unsigned takes;
} map_sources[] = {
	{ "time", TF_TIME, 0 },
	{ "time_ns", TF_TIME_NS, 0 },
	{ "series", TF_SERIES, 0 },
	{ "measurement", TF_MEASUREMENT, 0 },
	{ "field", TF_FIELD, 0 },
	{ "tags", TF_TAGS, 0 },
	{ "value.numeric", TF_NUMERIC, TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_UINT) },
	{ "value.integer", TF_INTEGER, TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_UINT) },
	{ "value.text", TF_TEXT, TM_TYPE_BIT(LP_STRING) },
	{ "value.boolean", TF_BOOL, TM_TYPE_BIT(LP_BOOL) },
	{ "value.json", TF_JSON, ~0u },
	{ "value", TF_VALUE, ~0u },
};

static int map_column(struct tm_mapfile *c, struct tm_table *t, const char *col, struct fy_node *v)
{
	char *s = wire_yaml_str(v);
	size_t i;
	int rc = 0;

	if (!s)
		return fy_node_get_type(v) == FYNT_SCALAR ?
		       ferry_error_set(c->err, FERRY_ENOMEM, "out of memory") :
		       tm_yaml_bad(c, v, "column '%s': expected a value source such as time, "
			       "tag.NAME, tags, value.numeric or \"{measurement}.{field}\"", col);
	if (tm_table_col(t, col) >= 0) {
		rc = tm_yaml_bad(c, v, "column '%s' is mapped twice", col);
		goto out;
	}
	if (!strncmp(s, "tag.", 4) && s[4]) {
		rc = tm_table_add_col(t, col, TF_TAG, s + 4, FERRY_T_UNKNOWN, 0);
		goto out;
	}
	if (strchr(s, '{')) {
		const char *p = s;

		while ((p = strchr(p, '{')) != NULL) {
			const char *e = strchr(p, '}');

			if (!e || !(!strncmp(p, "{measurement}", 13) || !strncmp(p, "{field}", 7) ||
				    !strncmp(p, "{series}", 8) || (!strncmp(p, "{tag.", 5) && e > p + 5))) {
				rc = tm_yaml_bad(c, v, "column '%s': unknown placeholder in '%s': use "
					     "{measurement}, {field}, {series} or {tag.NAME}", col, s);
				goto out;
			}
			p = e + 1;
		}
		rc = tm_table_add_col(t, col, TF_TEMPLATE, s, FERRY_T_UNKNOWN, 0);
		goto out;
	}
	for (i = 0; i < sizeof(map_sources) / sizeof(map_sources[0]); i++)
		if (!strcmp(s, map_sources[i].src)) {
			rc = tm_table_add_col(t, col, map_sources[i].from, NULL, FERRY_T_UNKNOWN, 0);
			t->value_types |= map_sources[i].takes;
			goto out;
		}
	rc = tm_yaml_bad(c, v, "column '%s': unknown value source '%s': use time, time_ns, series, "
		     "measurement, field, tags, tag.NAME, value, value.numeric, value.integer, "
		     "value.text, value.boolean, value.json or a \"{measurement}.{field}\" template",
		     col, s);
out:
	ferry_free(s);
	if (rc == FERRY_ENOMEM)
		rc = ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	return rc;
}

int tm_map_load(struct tm_layout *l, const char *path, const struct tm_schema *sch,
		const struct tm_chunk *ck, size_t nck, struct ferry_error *err)
{
	struct tm_mapfile c = { path, err };
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct fy_node *root, *n;
	struct fy_node_pair *p;
	struct tm_table *t;
	void *it = NULL;
	char *target = NULL;
	int rc = 0;

	if ((rc = tm_yaml_load(path, &text, &y, err)) < 0)
		goto out;
	if (!y.doc || !(root = fy_document_root(y.doc)) ||
	    fy_node_get_type(root) != FYNT_MAPPING) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "cannot parse map '%s': expected YAML with target: and columns:",
				     path);
		goto out;
	}
	if (!(target = wire_yaml_str(fy_node_mapping_lookup_by_string(root, "target", FY_NT)))) {
		rc = tm_yaml_bad(&c, root, "missing 'target: TABLE'");
		goto out;
	}
	if (!(t = tm_layout_add_table(l, target))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	t->exists = 1;
	while ((p = fy_node_mapping_iterate(root, &it)) != NULL) {
		struct fy_node *k = fy_node_pair_key(p);
		const char *ks;
		size_t kl;

		ks = k && fy_node_get_type(k) == FYNT_SCALAR ? fy_node_get_scalar(k, &kl) : NULL;
		if (!ks || !((kl == 6 && !memcmp(ks, "target", 6)) ||
			     (kl == 7 && !memcmp(ks, "columns", 7)) ||
			     (kl == 7 && !memcmp(ks, "include", 7)) ||
			     (kl == 7 && !memcmp(ks, "exclude", 7)) ||
			     (kl == 6 && !memcmp(ks, "points", 6)))) {
			rc = tm_yaml_bad(&c, k, "unknown key '%.*s': use target, columns, include, "
					 "exclude, points",
				     ks ? (int)kl : 0, ks ? ks : "");
			goto out;
		}
	}
	n = fy_node_mapping_lookup_by_string(root, "columns", FY_NT);
	if (!n || fy_node_get_type(n) != FYNT_MAPPING || !fy_node_mapping_item_count(n)) {
		rc = tm_yaml_bad(&c, n ? n : root, "missing 'columns:' (target column: value source)");
		goto out;
	}
	it = NULL;
	while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
		char *col = wire_yaml_str(fy_node_pair_key(p));

		if (!col) {
			rc = tm_yaml_bad(&c, fy_node_pair_key(p), "expected a column name");
			goto out;
		}
		rc = map_column(&c, t, col, fy_node_pair_value(p));
		ferry_free(col);
		if (rc < 0)
			goto out;
	}
	if ((n = fy_node_mapping_lookup_by_string(root, "include", FY_NT)) &&
	    (rc = map_filters(&c, n, 0, t)) < 0)
		goto out;
	if ((n = fy_node_mapping_lookup_by_string(root, "exclude", FY_NT)) &&
	    (rc = map_filters(&c, n, 1, t)) < 0)
		goto out;
	if (!t->value_types) {
		rc = tm_yaml_bad(&c, root, "no column takes the field values: map one to value, "
			     "value.numeric, value.text, ...");
		goto out;
	}
	if ((rc = tm_table_chunks(t, sch, ck, nck, -1, 1)) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	ferry_free(target);
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}
