/*
 * test_csvsrc.c - unit tests for the csv:// point source
 * (src/lib/tsmap/sources/csv/): IoTDB aligned and by-device exports with
 * and without types, ISO and epoch times, backslash and doubled quotes,
 * commas and newlines in text, empty cells, CRLF, BOM, plain CSV with
 * tags, rejects with line numbers, the time and `only` filters, and that
 * any chunking gives the same calls as one chunk.  Prints a throughput
 * figure on a generated file (not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tsmap/sources/csv/csv_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/url.h"

static char dir[256];

static void write_file(const char *name, const char *text, size_t n)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, n, fp), n);
	fclose(fp);
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct ferry_buf *b = ud;
	size_t i;

	(void)err;
	assert_int_equal(ferry_buf_addf(b, "%lld %.*s", (long long)p->key, (int)p->measurement.n,
		       p->measurement.p), 0);
	for (i = 0; i < p->ntags; i++)
		assert_int_equal(ferry_buf_addf(b, ",%.*s=%.*s", (int)p->tags[i].key.n, p->tags[i].key.p,
			       (int)p->tags[i].val.n, p->tags[i].val.p), 0);
	for (i = 0; i < p->nfields; i++) {
		const struct lp_field *f = &p->fields[i];

		assert_int_equal(ferry_buf_addf(b, "%s%.*s=", i ? "," : " ", (int)f->key.n, f->key.p), 0);
		switch (f->type) {
		case LP_FLOAT: assert_int_equal(ferry_buf_addf(b, "%.17gf", f->v.f), 0); break;
		case LP_INT: assert_int_equal(ferry_buf_addf(b, "%lldi", (long long)f->v.i), 0); break;
		case LP_UINT: assert_int_equal(ferry_buf_addf(b, "%lluu", (unsigned long long)f->v.u), 0); break;
		case LP_BOOL: assert_int_equal(ferry_buf_addstr(b, f->v.b ? "T" : "F"), 0); break;
		case LP_STRING:
			assert_int_equal(ferry_buf_addch(b, '<'), 0);
			assert_int_equal(ferry_buf_add(b, f->v.s.p, f->v.s.n), 0);
			assert_int_equal(ferry_buf_addch(b, '>'), 0);
			break;
		}
	}
	assert_int_equal(ferry_buf_addf(b, " %lld\n", (long long)p->time_ns), 0);
	return 0;
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	struct ferry_buf *b = ud;

	(void)err;
	assert_int_equal(ferry_buf_addf(b, "!%lld %s [", (long long)key, reason), 0);
	assert_int_equal(ferry_buf_add(b, raw, n), 0);
	assert_int_equal(ferry_buf_addstr(b, "]\n"), 0);
	return 0;
}

struct run {
	struct tm_schema sch;
	struct ferry_buf out;   /* points and rejects of every chunk, in order */
	struct ferry_buf schema;
	size_t nchunks;
};

static void dump_schema(struct ferry_buf *b, const struct tm_schema *s)
{
	size_t i, k;

	for (i = 0; i < s->n; i++) {
		assert_int_equal(ferry_buf_addf(b, "%s(%lld/%lld):", s->m[i].name, (long long)s->m[i].points,
			       (long long)s->m[i].values), 0);
		for (k = 0; k < s->m[i].ntags; k++)
			assert_int_equal(ferry_buf_addf(b, " #%s", s->m[i].tags[k]), 0);
		for (k = 0; k < s->m[i].nfields; k++)
			assert_int_equal(ferry_buf_addf(b, " %s/%x", s->m[i].fields[k].name, s->m[i].fields[k].types), 0);
		assert_int_equal(ferry_buf_addch(b, '\n'), 0);
	}
}

/* Open url (relative to dir), discover, plan, read every chunk. */
static int run_src(const char *url_tail, const struct tm_source_opts *o0, int only,
		   struct run *r, struct ferry_error *err)
{
	char u[600];
	ferry_url *url = NULL;
	void *s = NULL;
	struct tm_chunk *ck = NULL;
	size_t n = 0, i;
	struct tm_source_opts o = { 0 };
	int rc;

	if (o0)
		o = *o0;
	memset(r, 0, sizeof(*r));
	ferry_buf_init(&r->out, 0);
	ferry_buf_init(&r->schema, 0);
	snprintf(u, sizeof(u), "csv://%s/%s", dir, url_tail);
	if ((rc = ferry_url_parse(u, &url, err)) < 0)
		return rc;
	if ((rc = csv_source_ops.open(url, &o, &s, err)) < 0)
		goto out;
	if ((rc = csv_source_ops.discover(s, &r->sch, err)) < 0)
		goto out;
	assert_int_equal(r->sch.typed, 1);
	dump_schema(&r->schema, &r->sch);
	if ((rc = csv_source_ops.plan(s, &r->sch, &ck, &n, err)) < 0)
		goto out;
	r->nchunks = n;
	{
		/* the chunks' field values add up to the schema's, but for
		 * rounding in each chunk */
		int64_t vals = 0, est = 0;

		for (i = 0; i < r->sch.n; i++)
			vals += r->sch.m[i].values;
		for (i = 0; i < n; i++)
			est += ck[i].est_values;
		assert_true(est <= vals && est + (int64_t)n >= vals);
	}
	for (i = 0; i < n; i++)
		if ((rc = csv_source_ops.read(s, NULL, &ck[i], only, on_point, on_reject, &r->out,
					      err)) < 0)
			goto out;
out:
	tm_chunks_free(ck);
	if (s)
		csv_source_ops.close(s);
	ferry_url_free(url);
	return rc;
}

static void run_release(struct run *r)
{
	tm_schema_release(&r->sch);
	ferry_buf_release(&r->out);
	ferry_buf_release(&r->schema);
}

static void expect(const char *file, const char *text, const char *url_tail,
		   const char *want_points, const char *want_schema)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct run r;
	int rc;

	write_file(file, text, strlen(text));
	rc = run_src(url_tail, NULL, -1, &r, &err);
	if (rc < 0)
		fail_msg("%s: %s", file, err.msg);
	if (strcmp(r.out.buf, want_points))
		fail_msg("%s points:\n--- got\n%s--- want\n%s", file, r.out.buf, want_points);
	if (want_schema && strcmp(r.schema.buf, want_schema))
		fail_msg("%s schema:\n--- got\n%s--- want\n%s", file, r.schema.buf, want_schema);
	run_release(&r);
}

#define T0 1704067200000000000LL  /* 2024-01-01T00:00:00Z */
#define T0S "1704067200000000000"

static void test_aligned_untyped(void **state)
{
	(void)state;
	expect("a1.csv",
	       "Time,root.sg.d1.s1,root.sg.d1.s2,root.sg.d2.s1,root.sg.d2.flag\n"
	       "2024-01-01T08:00:00.000+08:00,1,1.5,\"hi\",true\n"
	       "2024-01-01T00:00:01Z,2,,,\n"
	       "2024-01-01T00:00:02.5Z,,,\"a, \\\"b\\\"\nc\",FALSE\n"
	       "2024-01-01 00:00:03,,2e3,\"x\"\"y\\\\\",\n",
	       "a1.csv",
	       "2 root.sg.d1 s1=1i,s2=1.5f " T0S "\n"
	       "2 root.sg.d2 s1=<hi>,flag=T " T0S "\n"
	       "3 root.sg.d1 s1=2i 1704067201000000000\n"
	       "4 root.sg.d2 s1=<a, \"b\"\nc>,flag=F 1704067202500000000\n"
	       "6 root.sg.d1 s2=2000f 1704067203000000000\n"
	       "6 root.sg.d2 s1=<x\"y\\> 1704067203000000000\n",
	       "root.sg.d1(3/4): s1/4 s2/2\nroot.sg.d2(3/5): flag/20 s1/10\n");
}

static void test_aligned_typed_crlf_bom(void **state)
{
	(void)state;
	/* types from the header: 5 is a DOUBLE, "7" is TEXT, epoch ms */
	expect("a2.csv",
	       "\xef\xbb\xbfTime,root.sg.`d-1`.s1(DOUBLE),root.sg.`d-1`.`s.2`(TEXT),root.sg.d2.b(BOOLEAN),root.sg.d2.i(INT32)\r\n"
	       "1704067200000,5,7,true,-3\r\n"
	       "\r\n"
	       "1704067200001,,\"\",,\r\n",
	       "a2.csv",
	       "2 root.sg.`d-1` s1=5f,s.2=<7> " T0S "\n"
	       "2 root.sg.d2 b=T,i=-3i " T0S "\n"
	       "4 root.sg.`d-1` s.2=<> 1704067200001000000\n",
	       "root.sg.`d-1`(2/3): s.2/10 s1/2\nroot.sg.d2(1/2): b/20 i/4\n");
}

static void test_bydevice(void **state)
{
	(void)state;
	expect("b1.csv",
	       "Time,Device,s1(INT64),s2\n"
	       "1,root.sg.d1,10,\"on\"\n"
	       "2,root.sg.d2,,\"off\"\n"
	       "3,root.sg.d1,11,\n"
	       "4,root.sg.d2,,\n",
	       "b1.csv?precision=s",
	       "2 root.sg.d1 s1=10i,s2=<on> 1000000000\n"
	       "3 root.sg.d2 s2=<off> 2000000000\n"
	       "4 root.sg.d1 s1=11i 3000000000\n",
	       "root.sg.d1(2/3): s1/4 s2/10\nroot.sg.d2(1/1): s2/10\n");
}

static void test_plain_tags(void **state)
{
	(void)state;
	/* plain: quotes are syntax, so "12" is a number; backslashes literal */
	expect("home.csv",
	       "ts,entity,room,value,state\n"
	       "2024-01-01T00:00:00Z,sensor.a,kitchen,\"12\",C:\\dir\\\n"
	       "2024-01-01T00:00:01Z,sensor.b,,3.5,\"say \"\"hi\"\"\"\n"
	       "2024-01-01T00:00:02Z,sensor.c,hall,,\n",
	       "home.csv?tags=entity,room",
	       "2 home,entity=sensor.a,room=kitchen value=12f,state=<C:\\dir\\> " T0S "\n"
	       "3 home,entity=sensor.b value=3.5f,state=<say \"hi\"> 1704067201000000000\n",
	       "home(2/4): #entity #room state/10 value/2\n");
	expect("p2.csv", "when,v\n5,1\n", "p2.csv?time=when&measurement=m&precision=us",
	       "2 m v=1i 5000\n", "m(1/1): v/4\n");
}

static void test_rejects(void **state)
{
	(void)state;
	expect("r1.csv",
	       "Time,root.sg.d1.s1(INT64),root.sg.d1.s2\n"
	       "1,1,a\n"
	       "2,x,b\n"
	       "abc,3,c\n"
	       "4,4\n"
	       "5,5,\"bad\xff\"\n",
	       "r1.csv",
	       "2 root.sg.d1 s1=1i,s2=<a> 1000000\n"
	       /* a value that is none of its column's: it alone is left out */
	       "!3 left out (the row's other values load): value 'x' in column "
	       "'root.sg.d1.s1' is not an INT64 [2,x,b]\n"
	       "3 root.sg.d1 s2=<b> 2000000\n"
	       "!4 invalid time 'abc' [abc,3,c]\n"
	       "!5 wrong number of columns: 2, header has 3 [4,4]\n"
	       "!6 left out (the row's other values load): invalid UTF-8 in column "
	       "'root.sg.d1.s2' [5,5,\"bad\xff\"]\n"
	       "6 root.sg.d1 s1=5i 5000000\n",
	       NULL);
}

/* Files with NUL need explicit lengths; and quoted newlines with an odd quote. */
static void test_rejects_nul_unterminated(void **state)
{
	static const char text[] =
		"Time,root.sg.d1.s1(INT64),root.sg.d1.s2\n"
		"6,6,\"nul\0\"\n"
		"7,\"open,8\n"
		"8,8,ok\n"
		"9,9,\"unterminated\n"
		"10,10,x\n";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct run r;
	static const char want[] =
		"!2 left out (the row's other values load): NUL byte in column "
		"'root.sg.d1.s2' [6,6,\"nul\0\"]\n"
		"2 root.sg.d1 s1=6i 6000000\n"
		/* the quote opened on line 3 closes on line 5: one record */
		"!3 unexpected text after a quoted value in column 'root.sg.d1.s1' "
		"[7,\"open,8\n8,8,ok\n9,9,\"unterminated]\n"
		"6 root.sg.d1 s1=10i,s2=<x> 10000000\n";

	(void)state;
	write_file("r2.csv", text, sizeof(text) - 1);
	assert_int_equal(run_src("r2.csv", NULL, -1, &r, &err), 0);
	if (r.out.len != sizeof(want) - 1 || memcmp(r.out.buf, want, r.out.len))
		fail_msg("got:\n%s", r.out.buf);
	run_release(&r);
	/* an odd quote at the end: only that line is lost */
	expect("r3.csv", "Time,root.a.b\n1,1\n2,\"x\n3,3\n", "r3.csv",
	       "2 root.a b=1i 1000000\n"
	       "!3 unterminated quoted value in column 'root.a.b' [2,\"x]\n"
	       "4 root.a b=3i 3000000\n", NULL);
}

static void test_toolong_and_nan(void **state)
{
	char big[2000];
	size_t n;

	(void)state;
	n = (size_t)snprintf(big, sizeof(big), "Time,root.a.v,root.a.t\n1,1,x\n2,2,");
	memset(big + n, 'y', 300);
	n += 300;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\n3,NaN,z\n4,4,w\n");
	write_file("t1.csv", big, n);
	{
		struct ferry_error err = FERRY_ERROR_INIT;
		struct run r;

		assert_int_equal(run_src("t1.csv?max_record=100", NULL, -1, &r, &err), 0);
		assert_non_null(strstr(r.out.buf, "2 root.a v=1f,t=<x> 1000000\n"));
		assert_non_null(strstr(r.out.buf, "!3 record longer than 100 bytes"));
		/* NaN: that value is a reject, the row's other values load */
		assert_non_null(strstr(r.out.buf, "4 root.a t=<z> 3000000\n"));
		assert_non_null(strstr(r.out.buf, "!4 left out (the row's other values load): "
				       "column 'root.a.v' value 'NaN' is not a finite number"));
		assert_non_null(strstr(r.out.buf, "5 root.a v=4f,t=<w> 4000000\n"));
		assert_string_equal(r.schema.buf, "root.a(3/6): t/10 v/2\n");
		run_release(&r);
	}
}

static void test_filters(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = { 0 };
	struct run r;
	const char *text = "Time,root.a.x,root.b.y\n1,1,1\n2,2,2\n3,3,\n4,4,4\nbad,0,0\n";

	(void)state;
	write_file("f1.csv", text, strlen(text));
	o.has_start = o.has_end = 1;
	o.start_ns = 2000000;
	o.end_ns = 4000000;
	assert_int_equal(run_src("f1.csv", &o, -1, &r, &err), 0);
	assert_string_equal(r.out.buf,
			    "3 root.a x=2i 2000000\n3 root.b y=2i 2000000\n"
			    "4 root.a x=3i 3000000\n!6 invalid time 'bad' [bad,0,0]\n");
	assert_string_equal(r.schema.buf, "root.a(2/2): x/4\nroot.b(1/1): y/4\n");
	run_release(&r);
	/* only root.b (index 1 in the sorted schema) */
	assert_int_equal(run_src("f1.csv", NULL, 1, &r, &err), 0);
	assert_string_equal(r.out.buf,
			    "2 root.b y=1i 1000000\n3 root.b y=2i 2000000\n"
			    "5 root.b y=4i 4000000\n!6 invalid time 'bad' [bad,0,0]\n");
	run_release(&r);
}

static void test_header_errors(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct run r;

	(void)state;
	write_file("h1.csv", "a,b\n1,2\n", 8);
	assert_int_equal(run_src("h1.csv", NULL, -1, &r, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "no time column"));
	run_release(&r);
	write_file("h2.csv", "Time,root.a.x,root.a.x(INT64)\n", 30);
	assert_int_equal(run_src("h2.csv", NULL, -1, &r, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "appears twice"));
	run_release(&r);
	write_file("h3.csv", "time,v\n1,1\n", 11);
	assert_int_equal(run_src("h3.csv?tags=nope", NULL, -1, &r, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "'nope'"));
	run_release(&r);
}

static void test_time_parse(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(csv_time_parse("2024-01-01T00:00:00.123456789Z", 30, LP_PREC_MS, &ns), 0);
	assert_int_equal(ns, T0 + 123456789);
	assert_int_equal(csv_time_parse("2024-01-01T08:00:00+0800", 24, LP_PREC_MS, &ns), 0);
	assert_int_equal(ns, T0);
	assert_int_equal(csv_time_parse("1969-12-31T23:59:59.9Z", 22, LP_PREC_MS, &ns), 0);
	assert_int_equal(ns, -100000000);
	assert_int_equal(csv_time_parse("2024-02-30T00:00:00Z", 20, LP_PREC_MS, &ns), FERRY_EREJECT);
	assert_int_equal(csv_time_parse("2024-01-01T00:00:00.1234567891Z", 31, LP_PREC_MS, &ns), FERRY_EREJECT);
	assert_int_equal(csv_time_parse("3000-01-01T00:00:00Z", 20, LP_PREC_MS, &ns), FERRY_EREJECT);
	assert_int_equal(csv_time_parse("-5", 2, LP_PREC_S, &ns), 0);
	assert_int_equal(ns, -5000000000LL);
	assert_int_equal(csv_time_parse("2024-01-01", 10, LP_PREC_MS, &ns), 0);
	assert_int_equal(ns, T0);
}

/* Many chunk sizes give exactly the single-chunk calls. */
static void test_chunking(void **state)
{
	struct ferry_buf t = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = { 0 };
	struct run whole, part;
	uint64_t cb;
	int i;

	(void)state;
	assert_int_equal(ferry_buf_addstr(&t, "Time,root.sg.d1.s1,root.sg.d1.txt,root.sg.d2.s1\r\n"), 0);
	for (i = 0; i < 400; i++) {
		assert_int_equal(ferry_buf_addf(&t, "%d,%d,", 1000 + i, i * 7), 0);
		if (i % 5 == 0)
			assert_int_equal(ferry_buf_addf(&t, "\"multi\nline, %d \\\"q\\\" \"\"\"", i), 0);
		else if (i % 11 == 0)
			assert_int_equal(ferry_buf_addstr(&t, "\"open"), 0);   /* an odd quote: reject */
		assert_int_equal(ferry_buf_addf(&t, ",%s\r\n", i % 3 ? "1.5" : ""), 0);
		if (i % 37 == 0)
			assert_int_equal(ferry_buf_addstr(&t, "bad,row\n"), 0);
	}
	write_file("c1.csv", t.buf, t.len);
	o.chunk_bytes = (uint64_t)t.len * 2;
	assert_int_equal(run_src("c1.csv", &o, -1, &whole, &err), 0);
	assert_int_equal(whole.nchunks, 1);
	assert_non_null(strstr(whole.out.buf, "!"));
	for (cb = 1; cb < 4000; cb = cb * 3 / 2 + 1) {
		o.chunk_bytes = cb;
		assert_int_equal(run_src("c1.csv", &o, -1, &part, &err), 0);
		assert_true(part.nchunks > 1);
		if (strcmp(part.out.buf, whole.out.buf))
			fail_msg("chunk_bytes %llu differs", (unsigned long long)cb);
		assert_string_equal(part.schema.buf, whole.schema.buf);
		run_release(&part);
	}
	run_release(&whole);
	ferry_buf_release(&t);
}

static void test_directory(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct run r;
	char sub[400];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/dir", dir);
	mkdir(sub, 0700);
	write_file("dir/b.csv", "time,v\n1,2\n", 11);
	write_file("dir/a.csv", "Time,root.x.y\n1,true\n", 21);
	write_file("dir/skip.txt", "nope", 4);
	assert_int_equal(run_src("dir", NULL, -1, &r, &err), 0);
	/* keys name the file: TM_KEY(1, 2) = 1 << 40 | 2 for b.csv's line 2 */
	assert_string_equal(r.out.buf, "2 root.x y=T 1000000\n1099511627778 b v=2i 1000000\n");
	run_release(&r);
}

static int count_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	(void)err;
	((int64_t *)ud)[0] += (int64_t)p->nfields;
	return 0;
}

static int count_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
			struct ferry_error *err)
{
	(void)key, (void)reason, (void)raw, (void)n, (void)err;
	((int64_t *)ud)[1]++;
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Discover and read times of a file: FERRY_CSV_BENCH=path?params to time
 * another file (e.g. `ferry generate --format csv`), else a generated
 * IoTDB export of FERRY_CSV_BENCH_MB (default 20) MB. */
static void test_throughput(void **state)
{
	struct ferry_buf t = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = { 0 };
	const char *ext = getenv("FERRY_CSV_BENCH"), *mbs = getenv("FERRY_CSV_BENCH_MB");
	double mb, t0, t1, t2;
	char u[600];
	ferry_url *url = NULL;
	void *s = NULL;
	struct tm_schema sch = { 0 };
	struct tm_chunk *ck = NULL;
	size_t n = 0, i, want = (size_t)(mbs ? atof(mbs) : 20) * 1000000;
	int64_t cnt[2] = { 0, 0 };
	struct stat st;
	long r;

	(void)state;
	if (ext) {
		snprintf(u, sizeof(u), "csv://%s", ext);
	} else {
		assert_int_equal(ferry_buf_addstr(&t, "Time,root.ha.p.power,root.ha.p.energy,root.ha.s.text,root.ha.s.on\n"), 0);
		for (r = 0; t.len < want; r++)
			assert_int_equal(ferry_buf_addf(&t, "2024-01-01T%02ld:%02ld:%02ld.%03ld+08:00,%ld,%ld.25,\"state %ld\",%s\n",
				       (r / 3600000) % 24, (r / 60000) % 60, (r / 1000) % 60, r % 1000,
				       r, r % 977, r % 13, r % 2 ? "true" : "false"), 0);
		write_file("bench.csv", t.buf, t.len);
		ferry_buf_release(&t);
		snprintf(u, sizeof(u), "csv://%s/bench.csv", dir);
	}
	assert_int_equal(ferry_url_parse(u, &url, &err), 0);
	assert_int_equal(stat(url->path, &st), 0);
	mb = (double)st.st_size / 1e6;
	t0 = now();
	assert_int_equal(csv_source_ops.open(url, &o, &s, &err), 0);
	if (csv_source_ops.discover(s, &sch, &err) < 0)
		fail_msg("%s", err.msg);
	t1 = now();
	assert_int_equal(csv_source_ops.plan(s, &sch, &ck, &n, &err), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(csv_source_ops.read(s, NULL, &ck[i], -1, count_point, count_reject,
						     cnt, &err), 0);
	t2 = now();
	printf("csv: %.1f MB, %zu chunks, %lld values, %lld rejects: discover %.0f MB/s, "
	       "read %.0f MB/s\n", mb, n, (long long)cnt[0], (long long)cnt[1],
	       mb / (t1 - t0), mb / (t2 - t1));
	assert_true(cnt[0] > 0);
	if (!ext)
		assert_int_equal(cnt[1], 0);
	tm_chunks_free(ck);
	tm_schema_release(&sch);
	csv_source_ops.close(s);
	ferry_url_free(url);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_csvsrc.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_aligned_untyped),
		cmocka_unit_test(test_aligned_typed_crlf_bom),
		cmocka_unit_test(test_bydevice),
		cmocka_unit_test(test_plain_tags),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_rejects_nul_unterminated),
		cmocka_unit_test(test_toolong_and_nan),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
