/*
 * test_pmap.c - point maps (tsmap/pmap.c, pmap_apply.c): every rule key,
 * exact and inexact casts, templates, a point per field, tag <-> field
 * moves, drop, only_named, bad files with their lines, unmatched rules,
 * and the schema of mapped points.  Points are written as line protocol
 * in and out, so an expectation reads like what InfluxDB would store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/alloc.h"
#include "tsmap/tm_int.h"

static char path[64];
static struct ferry_buf out = FERRY_BUF_INIT;
static char why[512];
static struct ferry_error err = FERRY_ERROR_INIT;

static void write_map(const char *yaml)
{
	FILE *f;
	int fd;

	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/test_pmap-XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		close(fd);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);
}

static int load(const char *yaml, struct tm_pmap **m)
{
	write_map(yaml);
	memset(&err, 0, sizeof(err));
	return tm_pmap_load(path, m, &err);
}

/* The point being mapped: a point out that keeps its series_id must have
 * its measurement and tags (rows trust equal ids to mean equal series). */
static const struct tm_point *in_point;

static int same_str(struct lp_str a, struct lp_str b)
{
	return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n));
}

static int collect(const struct tm_point *p, void *ud, struct ferry_error *e)
{
	struct ferry_buf one = FERRY_BUF_INIT;
	size_t i;

	(void)ud;
	(void)e;
	if (p->series_id) {
		assert_int_equal(p->series_id, in_point->series_id);
		assert_true(same_str(p->measurement, in_point->measurement));
		assert_int_equal(p->ntags, in_point->ntags);
		for (i = 0; i < p->ntags; i++)
			assert_true(same_str(p->tags[i].key, in_point->tags[i].key) &&
				    same_str(p->tags[i].val, in_point->tags[i].val));
	}
	assert_int_equal(tm_point_lp(p, NULL, &one), 0);
	assert_int_equal(ferry_buf_add(&out, one.buf, one.len), 0);
	assert_int_equal(ferry_buf_addch(&out, '\n'), 0);
	ferry_buf_release(&one);
	return 0;
}

/* Map each line (a '\n'-separated list) through m; out gets the points
 * (time 1), why the last refusal; returns the refusals. */
static int apply_lines(struct tm_pmap *m, const char *lines, size_t *emitted_total)
{
	struct tm_pmap_run *run;
	struct lp_scratch sc;
	const char *s = lines;
	int refused = 0;

	lp_scratch_init(&sc);
	assert_int_equal(tm_pmap_run_new(m, &run), 0);
	ferry_buf_clear(&out);
	why[0] = 0;
	*emitted_total = 0;
	while (*s) {
		const char *e = strchr(s, '\n'), *w;
		size_t n = e ? (size_t)(e - s) : strlen(s), emitted = 9;
		struct lp_point lp;
		struct tm_point p;
		int rc;

		assert_int_equal(lp_parse_line(s, n, &lp, &sc, &w), LP_POINT);
		p = (struct tm_point){ lp.measurement, lp.tags, lp.ntags, lp.fields, lp.nfields,
				       1, 7, NULL, 42, 0 };
		in_point = &p;
		rc = tm_pmap_apply(run, &p, collect, NULL, &emitted, why, sizeof(why), &err);
		assert_true(rc == 0 || rc == 1);
		if (rc == 1) {
			refused++;
			assert_int_equal(emitted, 0);
		}
		*emitted_total += emitted;
		s += n + (e ? 1 : 0);
	}
	tm_pmap_run_free(run);
	lp_scratch_release(&sc);
	return refused;
}

/* One map, one input: the points out ("" when none). */
static const char *map1(const char *yaml, const char *lines)
{
	struct tm_pmap *m = NULL;
	size_t n;

	assert_int_equal(load(yaml, &m), 0);
	apply_lines(m, lines, &n);
	tm_pmap_free(m);
	assert_int_equal(ferry_buf_addch(&out, 0), 0);
	return out.buf;
}

static void test_passthrough_and_to(void **st)
{
	(void)st;
	assert_string_equal(map1("points:\n  - from: W\n    to: power\n",
				 "W,entity_id=a value=1.5\n%,entity_id=b value=3i"),
			    "power,entity_id=a value=1.5 1\n%,entity_id=b value=3i 1\n");
	assert_string_equal(map1("points:\n  - from: \"*\"\n    to: \"{tag.domain}_{measurement}\"\n",
				 "W,domain=sensor value=1"),
			    "sensor_W,domain=sensor value=1 1\n");
	/* the first matching rule wins */
	assert_string_equal(map1("points:\n  - from: \"W*\"\n    to: a\n  - from: W\n    to: b\n",
				 "Wh value=1"), "a value=1 1\n");
}

static void test_from_tags(void **st)
{
	const char *y = "points:\n"
			"  - from:\n"
			"      measurement: \"*\"\n"
			"      tags: {domain: [sensor, \"binary_*\"], entity_id: \"k*\"}\n"
			"    to: hit\n";

	(void)st;
	assert_string_equal(map1(y, "W,domain=sensor,entity_id=kitchen value=1\n"
				    "W,domain=binary_sensor,entity_id=k2 value=1\n"
				    "W,domain=light,entity_id=kitchen value=1\n"
				    "W,domain=sensor value=1"),
			    "hit,domain=sensor,entity_id=kitchen value=1 1\n"
			    "hit,domain=binary_sensor,entity_id=k2 value=1 1\n"
			    "W,domain=light,entity_id=kitchen value=1 1\n"
			    "W,domain=sensor value=1 1\n");
}

static void test_tags_and_drop_tags(void **st)
{
	(void)st;
	assert_string_equal(map1("points:\n  - from: W\n    tags: {unit: \"{measurement}\", "
				 "site: home, domain: \"d_{tag.domain}\"}\n    drop_tags: [junk]\n",
				 "W,domain=sensor,junk=x value=1"),
			    "W,domain=d_sensor,unit=W,site=home value=1 1\n");
	assert_string_equal(map1("points:\n  - from: W\n    drop_tags: \"*\"\n    tags: {a: b}\n",
				 "W,domain=sensor,junk=x value=1"), "W,a=b value=1 1\n");
}

static void test_fields(void **st)
{
	(void)st;
	/* a rename takes its source; others keep their name */
	assert_string_equal(map1("points:\n  - from: W\n    fields: {power: value}\n",
				 "W value=1,friendly_name_str=\"x\""),
			    "W friendly_name_str=\"x\",power=1 1\n");
	assert_string_equal(map1("points:\n  - from: W\n    only_named: true\n"
				 "    fields: {power: value}\n",
				 "W value=1,friendly_name_str=\"x\""), "W power=1 1\n");
	/* a tag moved to a field, a field moved to a tag */
	assert_string_equal(map1("points:\n  - from: W\n    fields: {entity: {from: tag.entity_id}}\n"
				 "    field_tags: {name: friendly_name_str, n: count}\n",
				 "W,entity_id=k,domain=sensor value=1,friendly_name_str=\"Kitchen\","
				 "count=3i"),
			    "W,domain=sensor,name=Kitchen,n=3 value=1,entity=\"k\" 1\n");
	/* a named field replaces the point's field of that name only when
	 * the point has its source */
	assert_string_equal(map1("points:\n  - from: W\n"
				 "    fields: {name_str: {from: tag.name}}\n",
				 "W,name=K value=1,name_str=\"x\"\nW value=1,name_str=\"x\""),
			    "W value=1,name_str=\"K\" 1\nW value=1,name_str=\"x\" 1\n");
	/* a source the point lacks gives no field; no field left: no point */
	assert_string_equal(map1("points:\n  - from: W\n    only_named: true\n"
				 "    fields: {power: watts}\n", "W value=1"), "");
	/* a point that keeps no field is not emitted */
	assert_string_equal(map1("points:\n  - from: W\n    field_tags: {v: value}\n", "W value=1"),
			    "");
}

static void test_drop(void **st)
{
	struct tm_pmap *m = NULL;
	size_t n;

	(void)st;
	assert_int_equal(load("points:\n  - from: \"*.*\"\n    drop: true\n", &m), 0);
	assert_int_equal(apply_lines(m, "sensor.x value=1\nW value=2", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ferry_buf_addch(&out, 0), 0);
	assert_string_equal(out.buf, "W value=2 1\n");
	tm_pmap_free(m);
}

static void test_per_field(void **st)
{
	(void)st;
	assert_string_equal(map1("points:\n  - from: W\n    to: \"{measurement}_{field}\"\n"
				 "    tags: {f: \"{field}\"}\n",
				 "W,e=a value=1,min=0i"),
			    "W_value,e=a,f=value value=1 1\nW_min,e=a,f=min min=0i 1\n");
}

static int refuse1(const char *yaml, const char *line)
{
	struct tm_pmap *m = NULL;
	size_t n;
	int r;

	assert_int_equal(load(yaml, &m), 0);
	r = apply_lines(m, line, &n);
	tm_pmap_free(m);
	return r;
}

static void test_casts_exact(void **st)
{
	(void)st;
	assert_string_equal(map1("points:\n  - from: W\n    fields:\n"
				 "      a: {from: a, cast: int}\n"
				 "      b: {from: b, cast: int}\n"
				 "      c: {from: c, cast: float}\n"
				 "      d: {from: d, cast: float}\n"
				 "      e: {from: e, cast: bool}\n"
				 "      f: {from: f, cast: bool}\n"
				 "      g: {from: g, cast: string}\n"
				 "      h: {from: h, cast: string}\n"
				 "      i: {cast: int}\n",
				 "W a=2,b=\"-17\",c=9007199254740992i,d=\"2.5\",e=\"TRUE\",f=0i,g=1.5,"
				 "h=t,i=\"1e3\""),
			    "W a=2i,b=-17i,c=9007199254740992,d=2.5,e=true,f=false,g=\"1.5\","
			    "h=\"true\",i=1000i 1\n");
	/* scale and offset: a float; an int cast after them when exact */
	assert_string_equal(map1("points:\n  - from: C\n    to: F\n    fields:\n"
				 "      value: {scale: 1.8, offset: 32}\n"
				 "      half: {from: n, scale: 0.5, cast: int}\n",
				 "C value=20,n=10i"), "F value=68,half=5i 1\n");
}

static void test_casts_inexact(void **st)
{
	static const struct {
		const char *field, *value;
	} bad[] = {
		{ "{from: v, cast: int}", "2.5" },
		{ "{from: v, cast: int}", "1e19" },
		{ "{from: v, cast: int}", "\"12x\"" },
		{ "{from: v, cast: int}", "18446744073709551615u" },
		{ "{from: v, cast: float}", "9007199254740993i" },
		{ "{from: v, cast: float}", "\"1.5 \"" },
		{ "{from: v, cast: float}", "\"nan\"" },
		{ "{from: v, cast: bool}", "\"yes\"" },
		{ "{from: v, cast: bool}", "2i" },
		{ "{from: v, scale: 2}", "\"x\"" },
		{ "{from: v, scale: 2}", "true" },
		{ "{from: v, scale: 0.5, cast: int}", "3i" },
	};
	char y[256], l[128];
	size_t i;

	(void)st;
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(y, sizeof(y), "# a comment\npoints:\n  - from: W\n    fields:\n      x: %s\n",
			 bad[i].field);
		snprintf(l, sizeof(l), "W v=%s", bad[i].value);
		assert_int_equal(refuse1(y, l), 1);
		assert_non_null(strstr(why, path));
		assert_non_null(strstr(why, ":3: "));       /* the rule's line */
		assert_non_null(strstr(why, "field 'x'"));
		if (strstr(bad[i].field, "cast: int") && !strstr(bad[i].field, "scale"))
			assert_non_null(strstr(why, "cast to int"));
	}
	assert_int_equal(refuse1("points:\n  - from: W\n    fields: {x: {from: v, cast: int}}\n",
				 "W v=2.5"), 1);
	assert_non_null(strstr(why, "value '2.5' cannot be cast to int exactly"));
	/* the other points of the input still map */
	assert_int_equal(refuse1("points:\n  - from: W\n    fields: {x: {from: v, cast: int}}\n",
				 "W v=2.5\nW v=3\nV v=2.5"), 1);
	assert_int_equal(ferry_buf_addch(&out, 0), 0);
	assert_string_equal(out.buf, "W x=3i 1\nV v=2.5 1\n");
}

static void test_template_missing_tag(void **st)
{
	(void)st;
	assert_int_equal(refuse1("points:\n  - from: W\n    to: \"{tag.domain}\"\n", "W value=1"), 1);
	assert_non_null(strstr(why, "no tag 'domain'"));
	assert_non_null(strstr(why, ":2: "));
}

static void bad_map(const char *yaml, const char *want, int line)
{
	struct tm_pmap *m = NULL;
	char at[32];

	assert_int_equal(load(yaml, &m), FERRY_EUSAGE);
	assert_null(m);
	if (!strstr(err.msg, want))
		fail_msg("'%s' lacks '%s'", err.msg, want);
	assert_non_null(strstr(err.msg, path));
	snprintf(at, sizeof(at), "line %d", line);
	if (!strstr(err.msg, at))
		fail_msg("'%s' lacks '%s'", err.msg, at);
}

static void test_bad_files(void **st)
{
	struct tm_pmap *m = (struct tm_pmap *)1;

	(void)st;
	bad_map("points:\n  - from: W\n    to: x\n    colour: red\n", "unknown key 'colour'", 4);
	bad_map("points:\n  - from: W\n    to: \"{tags.x}\"\n", "unknown placeholder '{tags.x}'", 3);
	bad_map("points:\n  - from: W\n    fields:\n      a: {from: v, cast: integer}\n",
		"cast: use int", 4);
	bad_map("points:\n  - from: W\n    fields:\n      a: {from: v, scal: 2}\n",
		"unknown key 'scal'", 4);
	bad_map("points:\n  - to: x\n", "needs from:", 2);
	bad_map("points:\n  - from: {measurement: W, tag: {a: b}}\n", "unknown key 'tag'", 2);
	bad_map("points:\n  - from: W\n    only_named: maybe\n", "expected true or false", 3);
	bad_map("points:\n  - from: W\n    tags: {a: \"{field}\"}\n", "uses {field}", 2);
	bad_map("points:\n  - from: W\n\n    to: x: y\n", "cannot parse map", 4);
	bad_map("points:\n  - from: W\n    from: V\n", "duplicate key", 3);
	bad_map("points:\n  - from: W\n    fields:\n      a: {from: v, scale: x}\n",
		"expected a number", 4);
	/* a file without points: is not a point map */
	assert_int_equal(load("target: t\ncolumns: {time: time}\n", &m), 1);
	assert_null(m);
	write_map("x");
	unlink(path);
	assert_int_equal(tm_pmap_load(path, &m, &err), FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "cannot open map"));
}

static void test_unmatched_and_digest(void **st)
{
	struct tm_pmap *m = NULL;
	struct ferry_buf b = FERRY_BUF_INIT;
	char want[256];
	const char *d;
	size_t n;

	(void)st;
	assert_int_equal(load("points:\n  - from: W\n    to: w\n\n  - from: kWh\n    to: e\n", &m), 0);
	d = tm_pmap_digest(m);
	assert_int_equal(strlen(d), 32);
	assert_int_equal(tm_pmap_unmatched(m, &b), 0);
	assert_non_null(strstr(b.buf, ":2: rule from 'W' matched no point"));
	apply_lines(m, "W value=1", &n);
	ferry_buf_clear(&b);
	assert_int_equal(tm_pmap_unmatched(m, &b), 0);
	assert_int_equal(ferry_buf_addch(&b, 0), 0);
	snprintf(want, sizeof(want), "map %s:5: rule from 'kWh' matched no point\n", path);
	assert_string_equal(b.buf, want);
	tm_pmap_free(m);
	ferry_buf_release(&b);
}

static void test_schema(void **st)
{
	struct tm_schema in, o;
	struct tm_pmap *m = NULL;
	struct tm_measurement *w;

	(void)st;
	memset(&in, 0, sizeof(in));
	w = tm_schema_measurement(&in, "W", 1);
	assert_non_null(w);
	assert_int_equal(tm_measurement_add_tag(w, "entity_id", 9), 0);
	assert_int_equal(tm_measurement_add_tag(w, "junk", 4), 0);
	assert_int_equal(tm_measurement_add_field(w, "value", 5, TM_TYPE_BIT(LP_INT)), 0);
	assert_int_equal(tm_measurement_add_field(w, "name_str", 8, TM_TYPE_BIT(LP_STRING)), 0);
	assert_non_null(tm_schema_measurement(&in, "x.y", 3));
	assert_int_equal(tm_measurement_add_field(&in.m[tm_schema_find(&in, "x.y", 3)], "v", 1,
						  TM_TYPE_BIT(LP_FLOAT)), 0);
	assert_non_null(tm_schema_measurement(&in, "V", 1));
	assert_int_equal(tm_measurement_add_field(&in.m[tm_schema_find(&in, "V", 1)], "v", 1,
						  TM_TYPE_BIT(LP_FLOAT)), 0);
	assert_int_equal(load("points:\n  - from: \"*.*\"\n    drop: true\n"
			      "  - from: W\n    to: power_{field}\n    drop_tags: [junk]\n"
			      "    tags: {unit: \"{measurement}\"}\n"
			      "    fields: {kw: {from: value, scale: 0.001}}\n", &m), 0);
	assert_int_equal(tm_pmap_schema(m, &in, &o, &err), 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.m[0].name, "V");
	assert_string_equal(o.m[1].name, "power_kw");
	assert_int_equal(o.m[1].ntags, 2);
	assert_string_equal(o.m[1].tags[0], "entity_id");
	assert_string_equal(o.m[1].tags[1], "unit");
	assert_int_equal(o.m[1].nfields, 1);
	assert_int_equal(o.m[1].fields[0].types, TM_TYPE_BIT(LP_FLOAT));
	assert_string_equal(o.m[2].name, "power_name_str");
	tm_schema_release(&o);
	tm_pmap_free(m);
	/* a measurement from a tag's value: only the points can say */
	assert_int_equal(load("points:\n  - from: W\n    to: \"{tag.domain}\"\n", &m), 0);
	assert_int_equal(tm_pmap_schema(m, &in, &o, &err), 1);
	tm_pmap_free(m);
	tm_schema_release(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough_and_to),
		cmocka_unit_test(test_from_tags),
		cmocka_unit_test(test_tags_and_drop_tags),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_per_field),
		cmocka_unit_test(test_casts_exact),
		cmocka_unit_test(test_casts_inexact),
		cmocka_unit_test(test_template_missing_tag),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_unmatched_and_digest),
		cmocka_unit_test(test_schema),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	if (path[0])
		unlink(path);
	ferry_buf_release(&out);
	return rc;
}
