/*
 * test_tsmap.c - the telemetry mapping: layouts, the map file, the row
 * builder and the connector adapter, driven by a point source that reads
 * line protocol held in memory (the real sources have their own tests;
 * this one pins down what points become).
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
#include "ferry/registry.h"
#include "ferry/tsmap.h"
#include "connectors/points.h"
#include "tsmap/tm_int.h"

/* ---- an in-memory line-protocol source: one chunk per half ---- */

static const char *mem_text;

struct memsrc {
	const char *text;
	struct tm_source_opts o;
};

static int mem_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	struct memsrc *m = calloc(1, sizeof(*m));

	(void)url;
	(void)err;
	m->text = mem_text;
	m->o = *o;
	*out = m;
	return 0;
}

static void mem_close(void *s)
{
	free(s);
}

typedef int (*line_fn)(void *ud, const char *line, size_t n, int64_t lineno, struct ferry_error *err);

static int each_line(const char *text, size_t lo, size_t hi, int64_t line0, line_fn fn, void *ud,
		     struct ferry_error *err)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *line;
	size_t n;
	uint64_t ln;
	int rc;

	cur.lineno = (uint64_t)line0;
	while (lp_next_line(text + lo, hi - lo, &cur, 1, &line, &n, &ln))
		if ((rc = fn(ud, line, n, (int64_t)ln, err)) != 0)
			return rc;
	return 0;
}

static int disc_line(void *ud, const char *line, size_t n, int64_t lineno, struct ferry_error *err)
{
	struct tm_schema *s = ud;
	struct lp_scratch sc;
	struct lp_point pt;
	const char *why;
	size_t i;

	(void)lineno;
	(void)err;
	lp_scratch_init(&sc);
	if (lp_parse_line(line, n, &pt, &sc, &why) == LP_POINT) {
		struct tm_measurement *m = tm_schema_measurement(s, pt.measurement.p, pt.measurement.n);

		for (i = 0; i < pt.ntags; i++)
			tm_measurement_add_tag(m, pt.tags[i].key.p, pt.tags[i].key.n);
		for (i = 0; i < pt.nfields; i++)
			tm_measurement_add_field(m, pt.fields[i].key.p, pt.fields[i].key.n,
						 TM_TYPE_BIT(pt.fields[i].type));
	}
	lp_scratch_release(&sc);
	return 0;
}

static int mem_discover(void *s, struct tm_schema *out, struct ferry_error *err)
{
	struct memsrc *m = s;

	memset(out, 0, sizeof(*out));
	out->typed = 1;
	return each_line(m->text, 0, strlen(m->text), 1, disc_line, out, err);
}

static int mem_plan(void *s, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
		    struct ferry_error *err)
{
	struct memsrc *m = s;
	size_t len = strlen(m->text), mid = len / 2;
	struct tm_chunk *c = calloc(2, sizeof(*c));
	int64_t line = 1;
	size_t i;

	(void)sch;
	(void)err;
	while (mid < len && m->text[mid - 1] != '\n')
		mid++;
	for (i = 0; i < mid; i++)
		line += m->text[i] == '\n';
	c[0].measurement = c[1].measurement = -1;
	c[0].off_hi = mid;
	c[0].line0 = 1;
	c[1].off_lo = mid;
	c[1].off_hi = len;
	c[1].line0 = line;
	c[0].est = c[1].est = -1;
	*out = c;
	*n = 2;
	return 0;
}

struct rdctx {
	const struct tm_schema *sch;
	int only;
	tm_point_fn fn;
	tm_reject_fn rej;
	void *ud;
};

/* When set, the mem source gives its points series ids as the InfluxDB
 * source does: the id of the line before for the same measurement and
 * tags as written there, else a new one. */
static int mem_ids;

static int read_line(void *ud, const char *line, size_t n, int64_t lineno, struct ferry_error *err)
{
	static char prev[256];
	static uint64_t id;
	struct rdctx *r = ud;
	struct lp_scratch sc;
	struct lp_point pt;
	struct tm_point tp;
	const char *why;
	int k, rc = 0;

	lp_scratch_init(&sc);
	k = lp_parse_line(line, n, &pt, &sc, &why);
	if (k < 0) {
		rc = r->rej(r->ud, lineno, why, line, n, err);
	} else if (k == LP_POINT) {
		memset(&tp, 0, sizeof(tp));
		tp.measurement = pt.measurement;
		tp.tags = pt.tags;
		tp.ntags = pt.ntags;
		tp.fields = pt.fields;
		tp.nfields = pt.nfields;
		tp.time_ns = pt.ts;
		tp.key = lineno;
		if (mem_ids) {
			size_t sk = strcspn(line, " ");

			assert_true(sk < sizeof(prev));
			if (strlen(prev) != sk || memcmp(prev, line, sk)) {
				memcpy(prev, line, sk);
				prev[sk] = '\0';
				id++;
			}
			tp.series_id = id;
		}
		if (r->only < 0 || tm_schema_find(r->sch, pt.measurement.p, pt.measurement.n) == r->only)
			rc = r->fn(&tp, r->ud, err);
	}
	lp_scratch_release(&sc);
	return rc;
}

static int mem_read(void *s, const struct tm_schema *sch, const struct tm_chunk *ck, int only,
		    tm_point_fn fn, tm_reject_fn rej, void *ud, struct ferry_error *err)
{
	struct memsrc *m = s;
	struct rdctx r = { sch, only, fn, rej, ud };

	return each_line(m->text, ck->off_lo, ck->off_hi, ck->line0, read_line, &r, err);
}

static const struct tm_source_ops mem_ops = {
	.name = "mem",
	.open = mem_open,
	.close = mem_close,
	.discover = mem_discover,
	.plan = mem_plan,
	.read = mem_read,
};

/* ---- helpers ---- */

struct got {
	struct ferry_batch all;
	int64_t rejects;
	char reasons[1024];
	char columns[256];       /* each reject's column, then '|' */
	int64_t reject_keys[16];
};

static int collect(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct got *g = ud;
	size_t r, c;

	(void)err;
	for (r = 0; r < b->nrows; r++) {
		size_t row = g->all.nrows;

		assert_true(row < g->all.cap);
		for (c = 0; c < b->ncols; c++) {
			struct ferry_cell *src = ferry_batch_cell(b, r, c);
			struct ferry_cell *dst = ferry_batch_cell(&g->all, row, c);

			if (src->kind == FERRY_V_TEXT || src->kind == FERRY_V_BLOB) {
				ferry_cell_set_bytes(&g->all, dst, src->kind, ferry_cell_bytes(b, src),
						     src->len);
				dst->flags = src->flags;
			} else
				*dst = *src;
		}
		g->all.keys[row] = b->keys[r];
		g->all.nrows++;
	}
	return 0;
}

static int on_rej(void *ud, int64_t key, const char *column, const char *reason,
		  const void *raw, size_t n, struct ferry_error *err)
{
	struct got *g = ud;

	(void)raw;
	(void)n;
	(void)err;
	if (g->rejects < 16)
		g->reject_keys[g->rejects] = key;
	g->rejects++;
	strncat(g->reasons, reason, sizeof(g->reasons) - strlen(g->reasons) - 2);
	strcat(g->reasons, "|");
	strncat(g->columns, column ? column : "(null)", sizeof(g->columns) - strlen(g->columns) - 2);
	strcat(g->columns, "|");
	return 0;
}

static ferry_conn *open_mem(const char *text, const char *query)
{
	char url[512];
	ferry_url *u;
	ferry_conn *c = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	static int n;

	mem_text = text;
	/* a distinct URL per test: the adapter shares plans per URL */
	snprintf(url, sizeof(url), "mem:///t%d%s%s", n++, query ? "?" : "", query ? query : "");
	assert_int_equal(ferry_url_parse(url, &u, &err), 0);
	if (pt_conn_open(&mem_ops, u, FERRY_OPEN_READONLY, &c, &err) < 0)
		fail_msg("%s", err.msg);
	ferry_url_free(u);
	return c;
}

static void read_table(ferry_conn *c, const struct ferry_table *t, int has_range, int64_t lo,
		       int64_t hi, struct got *g)
{
	struct ferry_read_spec rs;
	struct ferry_error err = FERRY_ERROR_INIT;

	memset(g, 0, sizeof(*g));
	assert_int_equal(ferry_batch_init(&g->all, t->ncols, 256), 0);
	memset(&rs, 0, sizeof(rs));
	rs.table = t;
	rs.has_range = has_range;
	rs.lo = lo;
	rs.hi = hi;
	rs.batch_rows = 3;  /* several batches */
	rs.reject = on_rej;
	rs.reject_ud = g;
	if (pt_conn_read(c, &rs, collect, g, &err) < 0)
		fail_msg("%s", err.msg);
}

static const char *text_at(struct got *g, size_t row, size_t col)
{
	static char buf[512];
	struct ferry_cell *c = ferry_batch_cell(&g->all, row, col);

	if (c->kind == FERRY_V_NULL)
		return "NULL";
	if (c->kind == FERRY_V_INT)
		snprintf(buf, sizeof(buf), "i:%lld", (long long)c->v.i);
	else if (c->kind == FERRY_V_REAL)
		snprintf(buf, sizeof(buf), "d:%.17g", c->v.d);
	else
		snprintf(buf, sizeof(buf), "%.*s", (int)c->len, ferry_cell_bytes(&g->all, c));
	return buf;
}

/* ---- tests ---- */

static const char ha_text[] =
	"# DML\n"
	"# CONTEXT-DATABASE: home\n"
	"W,domain=sensor,entity_id=sensor.inverter_power,friendly_name=Inverter\\ power "
	"value=1523.5,state=\"on\",ok=true,count=7i 1700000000000000123\n"
	"%,domain=sensor,entity_id=sensor.humidity value=41 1700000000000000000\n"
	"bad line without fields\n"
	"cpu,host=b,dc=x usage=0.5 1700000001000000000\n";

/*
 * The rows a table should get, for progress and ETA: a row per field
 * value in the narrow layout (the chunk's est_values when the source gave
 * it, else its points times the schema's values per point), a row per
 * point in the wide one.
 */
static void test_row_estimates(void **state)
{
	static char m0[] = "a", m1[] = "b";
	struct tm_measurement m[2] = { { m0, NULL, 0, NULL, 0, 100, 300 },
				       { m1, NULL, 0, NULL, 0, 100, 100 } };
	struct tm_schema sch = { m, 2, 1 };
	struct tm_chunk ck[3];
	struct tm_opts o;
	struct tm_layout l;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	memset(ck, 0, sizeof(ck));
	memset(&o, 0, sizeof(o));
	o.table = "telemetry_data";
	ck[0].measurement = 0;   /* 3 values a point */
	ck[0].est = 10;
	ck[1].measurement = -1;  /* 2 a point over both */
	ck[1].est = 50;
	ck[2].measurement = 1;   /* the source knows better */
	ck[2].est = 40;
	ck[2].est_values = 7;
	o.layout = "narrow";
	assert_int_equal(tm_layout_build(&l, &o, &sch, ck, 3, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.t[0].est, 30 + 100 + 7);
	tm_layout_release(&l);
	o.layout = "wide";
	assert_int_equal(tm_layout_build(&l, &o, &sch, ck, 3, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.t[0].est, 10 + 50);
	assert_int_equal(l.t[1].est, 50 + 40);
	tm_layout_release(&l);
	/* values not counted: a row per point */
	m[0].values = m[1].values = -1;
	o.layout = "narrow";
	assert_int_equal(tm_layout_build(&l, &o, &sch, ck, 2, &err), 0);
	assert_int_equal(l.t[0].est, 10 + 50);
	tm_layout_release(&l);
}

/*
 * Wide: PostgreSQL names are UTF-8, InfluxDB keeps other bytes in tag keys
 * (older versions in measurement and field names too).  CREATE TABLE with
 * such a name failed and the copy stopped; now each byte that is not
 * UTF-8 is written \xNN in the name, the column still reads the bytes
 * InfluxDB has (arg), and a note says so.
 */
static void test_wide_names_not_utf8(void **state)
{
	static char mn[] = "m\xff", t0[] = "b\xff" "ad", t1[] = "ok", f0[] = "b\xff" "ad",
		    f1[] = "v\xe2\x82", f2[] = "w\xc3\xa9";
	char *tags[2] = { t0, t1 };
	struct tm_field_info fi[3] = { { f0, TM_TYPE_BIT(LP_FLOAT) }, { f1, TM_TYPE_BIT(LP_INT) },
				      { f2, TM_TYPE_BIT(LP_FLOAT) } };
	struct tm_measurement m = { mn, tags, 2, fi, 3, 10, 30 };
	struct tm_schema sch = { &m, 1, 1 };
	struct tm_chunk ck;
	struct tm_opts o;
	struct tm_layout l;
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct tm_table *t;

	(void)state;
	memset(&ck, 0, sizeof(ck));
	memset(&o, 0, sizeof(o));
	o.layout = "wide";
	assert_int_equal(tm_layout_build(&l, &o, &sch, &ck, 1, &err), 0);
	assert_int_equal(l.n, 1);
	t = &l.t[0];
	assert_string_equal(t->name, "m\\xFF");
	assert_int_equal(t->ncols, 6);   /* time, 2 tags, 3 fields */
	assert_string_equal(t->cols[1].name, "b\\xFFad");
	assert_string_equal(t->cols[1].arg, t0);
	assert_int_equal(t->cols[1].from, TF_TAG);
	assert_string_equal(t->cols[2].name, "ok");
	/* the field named like the tag, after the same rewriting */
	assert_string_equal(t->cols[3].name, "b\\xFFad_field");
	assert_string_equal(t->cols[3].arg, f0);
	/* a cut sequence: its bytes one by one; UTF-8 as it is */
	assert_string_equal(t->cols[4].name, "v\\xE2\\x82");
	assert_string_equal(t->cols[4].arg, f1);
	assert_string_equal(t->cols[5].name, "w\xc3\xa9");
	/* the measurement, the tag key, the field key twice (not UTF-8, and
	 * named like the tag), the other field key */
	assert_int_equal(l.nnotes, 5);
	assert_non_null(strstr(l.notes[0], "measurement 'm\\xFF' is not UTF-8"));
	assert_non_null(strstr(l.notes[1], "tag key 'b\\xFFad' is not UTF-8"));
	tm_layout_release(&l);
}

/* The text a measurement that is not UTF-8 gets can be another's own
 * name: each table a name of its own (one CREATE TABLE each). */
static void test_wide_names_collide(void **state)
{
	static char m0[] = "m\\xFF", m1[] = "m\\xFF_2", m2[] = "m\xff", f[] = "v";
	struct tm_field_info fi[1] = { { f, TM_TYPE_BIT(LP_FLOAT) } };
	struct tm_measurement m[3] = { { m0, NULL, 0, fi, 1, 1, 1 }, { m1, NULL, 0, fi, 1, 1, 1 },
				       { m2, NULL, 0, fi, 1, 1, 1 } };
	struct tm_schema sch = { m, 3, 1 };
	struct tm_chunk ck;
	struct tm_opts o;
	struct tm_layout l;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	memset(&ck, 0, sizeof(ck));
	memset(&o, 0, sizeof(o));
	o.layout = "wide";
	assert_int_equal(tm_layout_build(&l, &o, &sch, &ck, 1, &err), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.t[0].name, "m\\xFF");
	assert_string_equal(l.t[1].name, "m\\xFF_2");
	assert_string_equal(l.t[2].name, "m\\xFF_3");
	assert_int_equal(l.t[2].measurement, 2);
	assert_int_equal(l.nnotes, 1);
	assert_non_null(strstr(l.notes[0], "measurement 'm\\xFF' is not UTF-8"));
	assert_non_null(strstr(l.notes[0], "its table is named 'm\\xFF_3'"));
	tm_layout_release(&l);
}

static void test_narrow_catalog(void **state)
{
	ferry_conn *c = open_mem(ha_text, NULL);
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct ferry_table *t;
	int64_t lo, hi, count;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	assert_int_equal(cat->ntables, 1);
	t = &cat->tables[0];
	assert_string_equal(t->name, "telemetry_data");
	assert_int_equal(t->ncols, 9);
	assert_string_equal(t->cols[0].name, "time");
	assert_int_equal(t->cols[0].type, FERRY_T_TIMESTAMPTZ);
	assert_true(t->cols[0].notnull);
	assert_string_equal(t->cols[8].name, "tags");
	assert_int_equal(t->cols[8].type, FERRY_T_JSONB);
	assert_int_equal(t->nidx, 2);
	assert_int_equal(t->idx[0].nparts, 2);
	assert_string_equal(t->idx[0].cols[0], "series");
	assert_true(t->idx[0].desc[1]);
	assert_int_equal(t->idx[1].nparts, 4);
	assert_string_equal(t->key_label, "line");
	assert_int_equal(pt_conn_key_range(c, t, &lo, &hi, &count, &err), 0);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 1);
	assert_true(count >= 2);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}

static void test_narrow_rows(void **state)
{
	ferry_conn *c = open_mem(ha_text, NULL);
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf notes = FERRY_BUF_INIT;
	struct got g;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	read_table(c, &cat->tables[0], 0, 0, 0, &g);
	/* 4 fields + 1 + 1, the bad line rejected with its line number */
	assert_int_equal(g.all.nrows, 6);
	assert_int_equal(g.rejects, 1);
	assert_int_equal(g.reject_keys[0], 5);
	/* row 0: value=1523.5 of W at ...123 ns -> floored microseconds */
	assert_string_equal(text_at(&g, 0, 0), "i:753315200000000");
	assert_string_equal(text_at(&g, 0, 1), "sensor.inverter_power");
	assert_string_equal(text_at(&g, 0, 2), "W");
	assert_string_equal(text_at(&g, 0, 3), "value");
	assert_string_equal(text_at(&g, 0, 4), "d:1523.5");
	assert_string_equal(text_at(&g, 0, 5), "NULL");
	assert_string_equal(text_at(&g, 0, 8),
		"{\"domain\":\"sensor\",\"entity_id\":\"sensor.inverter_power\","
		"\"friendly_name\":\"Inverter power\"}");
	assert_string_equal(text_at(&g, 1, 3), "state");
	assert_string_equal(text_at(&g, 1, 6), "on");
	assert_string_equal(text_at(&g, 1, 4), "NULL");
	assert_string_equal(text_at(&g, 2, 7), "i:1");
	/* an integer: integer_value, and numeric_value since a double holds it */
	assert_string_equal(text_at(&g, 3, 5), "i:7");
	assert_string_equal(text_at(&g, 3, 4), "d:7");
	assert_int_equal(g.all.keys[3], 3);
	/* no entity_id: the canonical series key, tags sorted */
	assert_string_equal(text_at(&g, 5, 1), "cpu,dc=x,host=b");
	assert_string_equal(text_at(&g, 5, 8), "{\"dc\":\"x\",\"host\":\"b\"}");
	/* the nanoseconds of the first point were reported */
	assert_int_equal(pt_conn_notes(c, &notes), 0);
	assert_non_null(strstr(notes.buf, "1 points had nanoseconds"));
	ferry_buf_release(&notes);
	ferry_batch_release(&g.all);
	/* each chunk alone: together the same rows */
	{
		size_t n0;

		read_table(c, &cat->tables[0], 1, 0, 0, &g);
		n0 = g.all.nrows;
		assert_string_equal(text_at(&g, 0, 2), "W");
		ferry_batch_release(&g.all);
		read_table(c, &cat->tables[0], 1, 1, 1, &g);
		assert_true(g.all.nrows >= 1);
		assert_int_equal(n0 + g.all.nrows, 6);
		assert_string_equal(text_at(&g, g.all.nrows - 1, 2), "cpu");
		ferry_batch_release(&g.all);
	}
	ferry_catalog_free(cat);
	pt_conn_close(c);
}


/* Points with series ids (as the InfluxDB source gives them) make the
 * same rows as without: a series that comes back after another, one
 * that differs only in a tag value of the same length, and two whose
 * tags differ only in order. */
static void test_narrow_series_ids(void **state)
{
	static const char text[] =
		"m,entity_id=a.one,x=1 v=1 1700000000000000000\n"
		"m,entity_id=a.one,x=1 v=2,w=3 1700000001000000000\n"
		"m,entity_id=a.two,x=1 v=4 1700000002000000000\n"
		"m,entity_id=a.one,x=1 v=5 1700000003000000000\n"
		"m,entity_id=a.one,x=2 v=6 1700000004000000000\n"
		"m,x=2,entity_id=a.one v=7 1700000005000000000\n"
		"n,entity_id=a.one,x=2 v=8 1700000006000000000\n"
		"n,entity_id=a.one,x=2 v=9 1700000007000000000\n";
	struct ferry_catalog *cat[2];
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_conn *c[2];
	struct got g[2];
	size_t row, col;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		mem_ids = i;
		c[i] = open_mem(text, NULL);
		assert_int_equal(pt_conn_describe(c[i], NULL, &cat[i], &err), 0);
		read_table(c[i], &cat[i]->tables[0], 0, 0, 0, &g[i]);
	}
	mem_ids = 0;
	assert_int_equal(g[0].all.nrows, 9);
	assert_int_equal(g[1].all.nrows, 9);
	for (row = 0; row < 9; row++)
		for (col = 0; col < g[0].all.ncols; col++) {
			char want[512];

			snprintf(want, sizeof(want), "%s", text_at(&g[0], row, col));
			assert_string_equal(text_at(&g[1], row, col), want);
		}
	assert_string_equal(text_at(&g[1], 3, 1), "a.two");
	assert_string_equal(text_at(&g[1], 4, 8), "{\"entity_id\":\"a.one\",\"x\":\"1\"}");
	assert_string_equal(text_at(&g[1], 5, 8), "{\"entity_id\":\"a.one\",\"x\":\"2\"}");
	assert_string_equal(text_at(&g[1], 7, 2), "n");
	for (i = 0; i < 2; i++) {
		ferry_batch_release(&g[i].all);
		ferry_catalog_free(cat[i]);
		pt_conn_close(c[i]);
	}
}


/* The cells made of a series' names and tags say they are UTF-8 without
 * NUL when they are (checked once a series), so that the transform does
 * not check them a row at a time; a series with a bad byte anywhere in
 * its measurement or tags gets no such cell, nor does a string value. */
static void test_narrow_text_checked(void **state)
{
	static const char text[] =
		"m,entity_id=a.one,x=1 v=1,s=\"t\" 1700000000000000000\n"
		"m,entity_id=a.one,x=\xff v=2 1700000001000000000\n"
		"m\xc3,entity_id=a.one,x=1 v=3 1700000002000000000\n"
		"m,entity_id=a.one,x=1 \xc3\x28=4 1700000003000000000\n"
		"m,entity_id=a.one,x=1 v=5 1700000004000000000\n";
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_conn *c;
	struct got g;
	size_t row, col;

	(void)state;
	c = open_mem(text, NULL);
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	read_table(c, &cat->tables[0], 0, 0, 0, &g);
	assert_int_equal(g.all.nrows, 6);
	for (row = 0; row < 6; row++) {
		/* series, measurement, field, tags */
		static const size_t cols[] = { 1, 2, 3, 8 };
		int want_series = row == 0 || row == 1 || row == 4 || row == 5;

		for (col = 0; col < 4; col++) {
			const struct ferry_cell *cl = ferry_batch_cell(&g.all, row, cols[col]);
			int want = cols[col] == 3 ? row != 4 : want_series;

			assert_int_equal(cl->kind, FERRY_V_TEXT);
			assert_int_equal(!!(cl->flags & FERRY_CELL_TEXT_OK), want);
		}
	}
	/* a string value: the transform checks it */
	assert_string_equal(text_at(&g, 1, 6), "t");
	assert_int_equal(ferry_batch_cell(&g.all, 1, 6)->flags & FERRY_CELL_TEXT_OK, 0);
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}


/* A table's plan digest: the same plan gives the same one; chunks that
 * read other points give another, though the count of chunks and the
 * estimates stay the same (a resumed job finds chunk N by number). */
static void test_plan_digest(void **state)
{
	static const char a[] = "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\n";
	static const char b[] = "m v=1 1\nm v=22222222 2\nm v=3 3\nm v=4 4\n";
	struct ferry_error err = FERRY_ERROR_INIT;
	const char *texts[3] = { a, a, b };
	char digest[3][32];
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		ferry_conn *c = open_mem(texts[i], NULL);
		struct ferry_catalog *cat;
		const char *d;

		assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
		d = cat->tables[0].plan_digest;
		assert_non_null(d);
		assert_int_equal(strlen(d), 16);
		assert_int_equal(strspn(d, "0123456789abcdef"), 16);
		snprintf(digest[i], sizeof(digest[i]), "%s", d);
		ferry_catalog_free(cat);
		pt_conn_close(c);
	}
	assert_string_equal(digest[0], digest[1]);
	assert_string_not_equal(digest[0], digest[2]);
}

static void test_narrow_notes(void **state)
{
	ferry_conn *c = open_mem("m,x=1 x=1,v=1 1\nm v=2i 2\n", NULL);
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	int conflict = 0, both = 0;
	size_t i;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	for (i = 0; i < cat->nnotes; i++) {
		conflict |= strstr(cat->notes[i], "field 'v' is float/integer") != NULL;
		both |= strstr(cat->notes[i], "'x' is both a tag and a field") != NULL;
	}
	assert_true(conflict);
	assert_true(both);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}

static void test_keep_ns_series_tag(void **state)
{
	ferry_conn *c = open_mem("m,dev=d1,entity_id=e value=1 -1\n",
				 "keep_ns=1&series_tag=dev&table=tele");
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct got g;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	assert_string_equal(cat->tables[0].name, "tele");
	assert_string_equal(cat->tables[0].cols[1].name, "time_ns");
	read_table(c, &cat->tables[0], 0, 0, 0, &g);
	assert_int_equal(g.all.nrows, 1);
	/* -1 ns floors to the microsecond before 1970 */
	assert_string_equal(text_at(&g, 0, 0), "i:-946684800000001");
	assert_string_equal(text_at(&g, 0, 1), "i:-1");
	assert_string_equal(text_at(&g, 0, 2), "d1");
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}

static void test_wide(void **state)
{
	ferry_conn *c = open_mem("power,host=a v=1,n=2i,host=\"x\" 1000\n"
				 "power,host=b v=2i,s=\"t\" 2000\n"
				 "temp,room=k c=21.5 3000\n"
				 "power v=3 4000\n",
				 "layout=wide");
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct ferry_table *t;
	struct got g;
	size_t i;
	int found_conflict = 0, found_rename = 0;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	assert_int_equal(cat->ntables, 2);
	t = &cat->tables[0];
	assert_string_equal(t->name, "power");
	/* time, host (tag), host_field, n, s, v */
	assert_int_equal(t->ncols, 6);
	assert_string_equal(t->cols[1].name, "host");
	assert_int_equal(t->cols[1].pk_pos, 2);
	assert_int_equal(t->cols[0].pk_pos, 1);
	assert_string_equal(t->cols[2].name, "host_field");
	assert_int_equal(t->cols[3].type, FERRY_T_INT64);
	assert_int_equal(t->cols[4].type, FERRY_T_TEXT);
	assert_string_equal(t->cols[5].name, "v");
	assert_int_equal(t->cols[5].type, FERRY_T_FLOAT64);
	for (i = 0; i < cat->nnotes; i++) {
		found_conflict |= strstr(cat->notes[i], "'v' is float/integer") != NULL;
		found_rename |= strstr(cat->notes[i], "loaded as 'host_field'") != NULL;
	}
	assert_true(found_conflict);
	assert_true(found_rename);
	read_table(c, t, 0, 0, 0, &g);
	assert_int_equal(g.all.nrows, 3);
	assert_string_equal(text_at(&g, 0, 1), "a");
	assert_string_equal(text_at(&g, 0, 2), "x");
	assert_string_equal(text_at(&g, 0, 3), "i:2");
	assert_string_equal(text_at(&g, 0, 5), "d:1");
	assert_string_equal(text_at(&g, 1, 5), "i:2");   /* the transform makes it a double */
	assert_string_equal(text_at(&g, 1, 4), "t");
	assert_string_equal(text_at(&g, 2, 1), "");      /* a missing tag is '' */
	assert_string_equal(text_at(&g, 2, 3), "NULL");
	ferry_batch_release(&g.all);
	read_table(c, &cat->tables[1], 0, 0, 0, &g);
	assert_int_equal(g.all.nrows, 1);
	assert_string_equal(text_at(&g, 0, 2), "d:21.5");
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}

/*
 * Wide: a merged value its column cannot hold (an integer or unsigned a
 * float/integer field's double would round, text that is not UTF-8) is
 * left out of its row and rejected alone, with the line that wrote it
 * and its column; the row keeps the fields of its other lines.  A row
 * left without a field is not handed on; a value written again later is
 * replaced, never rejected.  The file's two chunks are merged as one.
 */
static void test_wide_cell_rejects(void **state)
{
	ferry_conn *c = open_mem("w,id=1 temp=21.5 1000\n"
				 "w,id=1 a=1.5 2000\n"
				 "w,id=1 s=\"b\xff\" 1000\n"
				 "w,id=1 a=9007199254740993i 1000\n"
				 "w,id=2 a=18446744073709551615u 1000\n"
				 "w,id=3 a=9007199254740993i 2000\n"
				 "w,id=3 a=4i 2000\n",
				 "layout=wide");
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct ferry_table *t;
	struct got g;

	(void)state;
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	t = &cat->tables[0];
	assert_int_equal(t->ncols, 5);   /* time, id, a, s, temp */
	assert_string_equal(t->cols[2].name, "a");
	assert_int_equal(t->cols[2].type, FERRY_T_FLOAT64);
	assert_string_equal(t->cols[3].name, "s");
	assert_int_equal(t->cols[3].type, FERRY_T_TEXT);
	read_table(c, t, 0, 0, 0, &g);
	assert_int_equal(g.all.nrows, 3);
	assert_string_equal(text_at(&g, 0, 1), "1");
	assert_string_equal(text_at(&g, 0, 2), "NULL");
	assert_string_equal(text_at(&g, 0, 3), "NULL");
	assert_string_equal(text_at(&g, 0, 4), "d:21.5");
	assert_int_equal(g.all.keys[0], 1);        /* the row's first line */
	assert_string_equal(text_at(&g, 1, 2), "d:1.5");
	assert_string_equal(text_at(&g, 2, 1), "3");
	assert_string_equal(text_at(&g, 2, 2), "i:4");
	assert_int_equal(g.rejects, 3);
	assert_int_equal(g.reject_keys[0], 4);     /* each value's own line */
	assert_int_equal(g.reject_keys[1], 3);
	assert_int_equal(g.reject_keys[2], 5);
	assert_string_equal(g.columns, "a|s|a|");
	assert_non_null(strstr(g.reasons, "integer 9007199254740993 cannot be stored exactly in "
				   "double precision: left out, column 'a' of its row is NULL"));
	assert_non_null(strstr(g.reasons, "unsigned integer 18446744073709551615 cannot be "
				   "stored exactly in double precision: left out, and its row is "
				   "not written"));
	assert_null(strstr(g.reasons, "9007199254740993 cannot be stored exactly in double "
				  "precision: left out, and"));
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
	pt_conn_close(c);
}

static char *write_map(const char *yaml)
{
	char *path = strdup("/tmp/ferry-test-map-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	return path;
}

static void test_map(void **state)
{
	char *path = write_map(
		"target: telemetry_data\n"
		"columns:\n"
		"  timestamp: time\n"
		"  device_id: tag.device_id\n"
		"  measurement_name: \"{measurement}.{field}\"\n"
		"  numeric_value: value.numeric\n"
		"  boolean_value: value.boolean\n"
		"  metadata: tags\n"
		"include:\n"
		"  measurement: [\"W\", \"°C\"]\n");
	char q[256];
	ferry_conn *c;
	struct ferry_catalog *cat;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct got g;

	(void)state;
	snprintf(q, sizeof(q), "map=%s", path);
	c = open_mem("W,device_id=12 value=5.5,on=true 1000\n"
		     "°C,device_id=13 value=21i,label=\"x\" 2000\n"
		     "%,device_id=14 value=40 3000\n", q);
	assert_int_equal(pt_conn_describe(c, NULL, &cat, &err), 0);
	assert_int_equal(cat->ntables, 1);
	assert_string_equal(cat->tables[0].name, "telemetry_data");
	assert_int_equal(cat->tables[0].nidx, 0);
	read_table(c, &cat->tables[0], 0, 0, 0, &g);
	/* W: 2 rows; °C: value + the string field 'label' is a reject; % excluded */
	assert_int_equal(g.all.nrows, 3);
	assert_int_equal(g.rejects, 1);
	assert_non_null(strstr(g.reasons, "field 'label' is string"));
	assert_string_equal(text_at(&g, 0, 1), "12");
	assert_string_equal(text_at(&g, 0, 2), "W.value");
	assert_string_equal(text_at(&g, 0, 3), "d:5.5");
	assert_string_equal(text_at(&g, 1, 2), "W.on");
	assert_string_equal(text_at(&g, 1, 3), "NULL");
	assert_string_equal(text_at(&g, 1, 4), "i:1");
	assert_string_equal(text_at(&g, 2, 2), "°C.value");
	assert_string_equal(text_at(&g, 2, 3), "d:21");
	assert_string_equal(text_at(&g, 2, 5), "{\"device_id\":\"13\"}");
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
	pt_conn_close(c);
	unlink(path);
	free(path);
}

static void test_map_errors(void **state)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "columns:\n  a: time\n", "missing 'target: TABLE'" },
		{ "target: t\n", "missing 'columns:'" },
		{ "target: t\ncolumns:\n  a: time\n", "no column takes the field values" },
		{ "target: t\ncolumns:\n  a: value.nope\n", "line 3: column 'a': unknown value source 'value.nope'" },
		{ "target: t\ncolumns:\n  a: \"{meas}\"\n", "unknown placeholder" },
		{ "target: t\ncolumns:\n  a: value\ncolour: red\n", "unknown key 'colour'" },
		{ "target: t\ncolumns:\n  a: value\ninclude:\n  tag: [x]\n", "unknown filter 'tag'" },
		{ "target: t\ncolumns: [\n", "cannot parse map" },
		{ "target: \x89\n", "cannot read map" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = write_map(cases[i].yaml);
		char q[256];
		ferry_url *u;
		ferry_conn *c = NULL;
		struct ferry_error err = FERRY_ERROR_INIT;

		snprintf(q, sizeof(q), "mem:///e%zu?map=%s", i, path);
		mem_text = "m v=1 1\n";
		assert_int_equal(ferry_url_parse(q, &u, &err), 0);
		assert_true(pt_conn_open(&mem_ops, u, FERRY_OPEN_READONLY, &c, &err) < 0);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("case %zu: '%s' does not contain '%s'", i, err.msg, cases[i].want);
		ferry_url_free(u);
		unlink(path);
		free(path);
	}
}

static void test_options(void **state)
{
	struct ferry_ts_opts t;
	struct ferry_error err = FERRY_ERROR_INIT;
	char *out = NULL;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(ferry_ts_url("lp:///x.lp", &t, &out, &err), 0);
	assert_string_equal(out, "lp:///x.lp");
	ferry_free(out);
	t.layout = "wide";
	t.start = "2024-01-01T00:00:00Z";
	t.series_tag = "a b&c";
	assert_int_equal(ferry_ts_url("influx://h:1/db?rp=x", &t, &out, &err), 0);
	assert_string_equal(out, "influx://h:1/db?rp=x&layout=wide&series_tag=a%20b%26c"
				 "&start=2024-01-01T00:00:00Z");
	ferry_free(out);
	assert_true(ferry_ts_url("sqlite:x.db", &t, &out, &err) < 0);
}

/* Out of memory at the n-th allocation, for each n until none fails: an
 * error every time, never a URL cut short (it would read another source). */
static void test_options_out_of_memory(void **state)
{
	struct ferry_ts_opts t;
	struct ferry_error err = FERRY_ERROR_INIT;
	char *out = NULL;
	long n;
	int rc = -1;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.layout = "wide";
	t.start = "2024-01-01T00:00:00Z";
	t.end = "2024-02-01T00:00:00Z";
	t.series_tag = "a b&c with a long name to grow the buffer more than once";
	t.chunk_time = "1h";
	t.precision = "ms";
	for (n = 1; n < 1000; n++) {
		ferry_alloc_fail_after(n);
		rc = ferry_ts_url("influx://h:1/db?rp=x", &t, &out, &err);
		ferry_alloc_fail_after(0);
		if (rc == 0)
			break;
		assert_int_equal(rc, FERRY_ENOMEM);
		assert_null(out);
	}
	assert_int_equal(rc, 0);
	assert_true(n > 1);  /* some failures did happen */
	assert_string_equal(out, "influx://h:1/db?rp=x&layout=wide&series_tag=a%20b%26c%20with"
			    "%20a%20long%20name%20to%20grow%20the%20buffer%20more%20than%20once"
			    "&start=2024-01-01T00:00:00Z&end=2024-02-01T00:00:00Z&chunk_time=1h"
			    "&precision=ms");
	ferry_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_narrow_catalog),
		cmocka_unit_test(test_row_estimates),
		cmocka_unit_test(test_wide_names_not_utf8),
		cmocka_unit_test(test_wide_names_collide),
		cmocka_unit_test(test_narrow_rows),
		cmocka_unit_test(test_narrow_notes),
		cmocka_unit_test(test_narrow_series_ids),
		cmocka_unit_test(test_narrow_text_checked),
		cmocka_unit_test(test_plan_digest),
		cmocka_unit_test(test_keep_ns_series_tag),
		cmocka_unit_test(test_wide),
		cmocka_unit_test(test_wide_cell_rejects),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_map_errors),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_options_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
