/*
 * test_lpfile.c - unit tests for the lp:// point source
 * (src/lib/tsmap/sources/lpfile.c) on temp files: every escape and type
 * compared with lp_parse_line(), influx_inspect export headers, CRLF,
 * strings with raw newlines across chunk boundaries, many random files
 * read as many small chunks == one chunk, gzip == plain, directory order,
 * stdin, rejects with line numbers and reasons, the time and measurement
 * filters, type discovery, oversized records, errors, gzip files that
 * end early or are corrupt (read up to the break); and a throughput
 * figure (printed, not asserted) when FERRY_LPFILE_BENCH names a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/url.h"
#include "tsmap/tsmap.h"
#include "lp_text.h"

extern const struct tm_source_ops lpf_source_ops;

static char tmpdir[512];

/* ------------------------------------------------------------ helpers */

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void mkdirs_for(const char *path)
{
	char d[1024];
	char *p;

	snprintf(d, sizeof(d), "%s", path);
	for (p = d + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(d, 0700);
		*p = '/';
	}
}

static void write_file(const char *name, const void *data, size_t n)
{
	char path[1024];
	FILE *f;

	path_of(path, sizeof(path), name);
	mkdirs_for(path);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *name, const void *data, size_t n)
{
	char path[1024];
	gzFile g;

	path_of(path, sizeof(path), name);
	mkdirs_for(path);
	g = gzopen(path, "wb6");
	assert_non_null(g);
	if (n)
		assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
	assert_int_equal(gzclose(g), Z_OK);
}

static struct tm_source_opts opts_default(void)
{
	struct tm_source_opts o;

	memset(&o, 0, sizeof(o));
	return o;
}

/* Open lp:///tmpdir/name (name "-" = stdin); returns the rc. */
static int open_src(const char *name, const char *query, const struct tm_source_opts *o,
		    void **s, struct ferry_error *err)
{
	char url[1200];
	ferry_url *u = NULL;
	int rc;

	if (!strcmp(name, "-"))
		snprintf(url, sizeof(url), "lp:-%s%s", query ? "?" : "", query ? query : "");
	else
		snprintf(url, sizeof(url), "lp://%s/%s%s%s", tmpdir, name, query ? "?" : "",
			 query ? query : "");
	assert_int_equal(ferry_url_parse(url, &u, err), 0);
	rc = lpf_source_ops.open(u, o, s, err);
	ferry_url_free(u);
	return rc;
}

/* Transcript of what a read delivers: one line per call. */
static void dump_point(struct ferry_buf *b, const struct tm_point *p)
{
	assert_int_equal(ferry_buf_addf(b, "P %lld ", (long long)p->key), 0);
	lp_text(b, p->measurement, p->tags, p->ntags, p->fields, p->nfields);
	assert_int_equal(ferry_buf_addf(b, " @%lld\n", (long long)p->time_ns), 0);
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	dump_point(ud, p);
	return 0;
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	struct ferry_buf *b = ud;

	assert_int_equal(ferry_buf_addf(b, "R %lld %s <", (long long)key, reason), 0);
	assert_int_equal(ferry_buf_add(b, raw, n > 200 ? 200 : n), 0);
	assert_int_equal(ferry_buf_addstr(b, ">\n"), 0);
	return 0;
}

static int read_chunk(void *s, const struct tm_chunk *ck, int only, struct ferry_buf *out,
		      struct ferry_error *err)
{
	return lpf_source_ops.read(s, NULL, ck, only, on_point, on_reject, out, err);
}

/* Plan and read every chunk in order into out; checks the chunks tile
 * each file. */
static void read_all(void *s, int only, struct ferry_buf *out, size_t *nchunks)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_chunk *c = NULL;
	size_t n = 0, i;

	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	for (i = 0; i < n; i++) {
		if (i && c[i].file == c[i - 1].file)
			assert_true(c[i].off_lo == c[i - 1].off_hi);
		else
			assert_true(c[i].off_lo == 0 && c[i].line0 == 1);
		assert_true(c[i].off_hi > c[i].off_lo);
		assert_int_equal(c[i].measurement, -1);
		if (read_chunk(s, &c[i], only, out, &err) != 0)
			fail_msg("read: %s", err.msg);
	}
	if (nchunks)
		*nchunks = n;
	tm_chunks_free(c);
}

/* Everything a file gives with the given chunk size, as a transcript. */
static void transcript(const char *name, const char *query, uint64_t chunk_bytes,
		       struct ferry_buf *out, size_t *nchunks)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	void *s = NULL;

	o.chunk_bytes = chunk_bytes;
	if (open_src(name, query, &o, &s, &err) != 0)
		fail_msg("open: %s", err.msg);
	read_all(s, -1, out, nchunks);
	lpf_source_ops.close(s);
}

/* The transcript lp_parse_line itself gives for records (one per
 * element, physical line numbers counted through the records). */
static void expect_records(const char *const *recs, size_t n, struct ferry_buf *out)
{
	struct lp_scratch sc;
	struct lp_point pt;
	int64_t line = 1;
	size_t i;

	lp_scratch_init(&sc);
	for (i = 0; i < n; i++) {
		const char *why, *q;
		int k = lp_parse_line(recs[i], strlen(recs[i]), &pt, &sc, &why);

		if (k == LP_POINT) {
			struct tm_point tp = {
				pt.measurement, pt.tags, pt.ntags, pt.fields, pt.nfields,
				pt.ts, line, NULL, 0, 0
			};

			assert_true(pt.has_ts);
			dump_point(out, &tp);
		} else if (k == FERRY_EREJECT) {
			assert_int_equal(ferry_buf_addf(out, "R %lld %s <%s>\n", (long long)line, why, recs[i]), 0);
		}
		for (q = recs[i]; (q = strchr(q, '\n')); q++)
			line++;
		line++;
	}
	lp_scratch_release(&sc);
}

static void join_records(const char *const *recs, size_t n, const char *nl,
			 struct ferry_buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		assert_int_equal(ferry_buf_addstr(out, recs[i]), 0);
		assert_int_equal(ferry_buf_addstr(out, nl), 0);
	}
}

/* ------------------------------------------------------------- setup */

static int setup(void **state)
{
	const char *base = getenv("FERRY_TEST_TMP");

	if (base)
		mkdir(base, 0700);
	snprintf(tmpdir, sizeof(tmpdir), "%s/lpfile-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* -------------------------------------------------------------- tests */

static const char *const type_recs[] = {
	"cpu value=1 1",
	"cpu,host=a,region=eu value=1 1700000000000000000",
	"  cpu   v=1   42  ",
	"cpu v=1 -42",
	"cpu a=1,b=2i,c=3u,d=\"x\",e=t 5",
	"cpu a=-1.5E-3,b=-9223372036854775808i,c=18446744073709551615u,d=\"\",e=FALSE 6",
	"c\\,p\\ u v=1 7",
	"c\\=pu v=1 8",
	"c\\\\pu v=1 9",
	"cpu,t\\,k\\=1\\ x=v\\,a\\=l\\ ue f\\,k\\=\\ y=1 10",
	"cpu,t=a\\b f=\"q\\\"uo\\\\te\\d\" 11",
	"cpu s=\"multi\nline\nstring\" 12",
	"cpu s=\"with, commas = and spaces\" 13",
	"m\xc3\xa9t,t\xc3\xa9g=v\xc3\xa4l f\xc3\xbc=\"\xe2\x82\xac\xf0\x9f\x98\x80\" 14",
	"cpu b1=t,b2=T,b3=true,b4=True,b5=TRUE,b6=f,b7=F,b8=false,b9=False 15",
	"cpu f=1e10,g=1.,h=.5,i=0 16",
};

static void test_types_and_escapes(void **state)
{
	struct ferry_buf file = FERRY_BUF_INIT, got = FERRY_BUF_INIT, want = FERRY_BUF_INIT;
	size_t n = sizeof(type_recs) / sizeof(type_recs[0]);

	join_records(type_recs, n, "\n", &file);
	write_file("types.lp", file.buf, file.len);
	expect_records(type_recs, n, &want);
	transcript("types.lp", NULL, 0, &got, NULL);
	assert_string_equal(got.buf, want.buf);

	/* CRLF line ends give the same points */
	ferry_buf_clear(&file);
	ferry_buf_clear(&got);
	join_records(type_recs, n, "\r\n", &file);
	write_file("types-crlf.lp", file.buf, file.len);
	transcript("types-crlf.lp", NULL, 0, &got, NULL);
	assert_string_equal(got.buf, want.buf);
	assert_non_null(strstr(got.buf, "P 12 cpu s:s=<multi\nline\nstring> @12\n"));
	assert_non_null(strstr(got.buf, "P 18 cpu f:f=10000000000,g:f=1,h:f=0.5,i:f=0 @16\n"));
	assert_null(strstr(got.buf, "R "));

	ferry_buf_release(&file);
	ferry_buf_release(&got);
	ferry_buf_release(&want);
}

static void test_export_headers(void **state)
{
	static const char data[] =
		"# INFLUXDB EXPORT: 1677-09-21T00:12:43Z - 2262-04-11T23:47:16Z\n"
		"# DDL\n"
		"CREATE DATABASE home WITH NAME autogen\n"
		"CREATE RETENTION POLICY \"1y\" ON home DURATION 52w REPLICATION 1\n"
		"# DML\n"
		"# CONTEXT-DATABASE:home\n"
		"# CONTEXT-RETENTION-POLICY:autogen\n"
		"# writing tsm data\n"
		"W,domain=sensor,entity_id=kitchen value=21.5 1700000000000000000\n"
		"\n"
		"   \t\n"
		"# writing wal data\n"
		"W,domain=sensor,entity_id=kitchen value=21.75 1700000060000000000\n";
	struct ferry_buf got = FERRY_BUF_INIT;

	write_file("export.lp", data, sizeof(data) - 1);
	transcript("export.lp", NULL, 0, &got, NULL);
	assert_string_equal(got.buf,
		"P 9 W|domain=sensor|entity_id=kitchen value:f=21.5 @1700000000000000000\n"
		"P 13 W|domain=sensor|entity_id=kitchen value:f=21.75 @1700000060000000000\n");
	ferry_buf_release(&got);
}

/* A random record: points with every kind of value (strings with raw
 * newlines, escapes, CR), comments, blank lines and broken records. */
static void random_record(struct ferry_buf *b, unsigned *seed, int64_t ts)
{
	int kind = rand_r(seed) % 20, i, nf;

	if (kind == 0) {
		assert_int_equal(ferry_buf_addstr(b, "# a comment \"with a quote\n"), 0);
		return;
	}
	if (kind == 1) {
		assert_int_equal(ferry_buf_addstr(b, (rand_r(seed) & 1) ? "\n" : "  \r\n"), 0);
		return;
	}
	if (kind == 2) {
		static const char *const bad[] = {
			"cpu\n", "cpu v=\n", ",t=1 v=1 1\n", "cpu v=1 12x\n",
			"cpu v=\"open\n", "cpu v=1i,v=2 3\n", "cpu v=1\n",
			"cpu v=NaN 1\n", "cpu v=\"x\"y 1\n",
		};

		assert_int_equal(ferry_buf_addstr(b, bad[rand_r(seed) % (sizeof(bad) / sizeof(bad[0]))]), 0);
		return;
	}
	assert_int_equal(ferry_buf_addf(b, "m%d", rand_r(seed) % 3), 0);
	if (rand_r(seed) % 4 == 0)
		assert_int_equal(ferry_buf_addstr(b, "\\ x\\,y"), 0);
	for (i = 0; i < rand_r(seed) % 3; i++)
		assert_int_equal(ferry_buf_addf(b, ",t%d=v%d%s", i, rand_r(seed) % 5,
			       (rand_r(seed) % 5) ? "" : "\\ \\=\\,z"), 0);
	assert_int_equal(ferry_buf_addch(b, ' '), 0);
	nf = 1 + rand_r(seed) % 3;
	for (i = 0; i < nf; i++) {
		assert_int_equal(ferry_buf_addf(b, "%sf%d=", i ? "," : "", i), 0);
		switch (rand_r(seed) % 6) {
		case 0: assert_int_equal(ferry_buf_addf(b, "%d.%d", rand_r(seed) % 100, rand_r(seed) % 10), 0); break;
		case 1: assert_int_equal(ferry_buf_addf(b, "%di", rand_r(seed) % 1000 - 500), 0); break;
		case 2: assert_int_equal(ferry_buf_addf(b, "%du", rand_r(seed) % 1000), 0); break;
		case 3: assert_int_equal(ferry_buf_addstr(b, (rand_r(seed) & 1) ? "t" : "false"), 0); break;
		case 4: assert_int_equal(ferry_buf_addstr(b, "\"a \\\"q\\\" b\""), 0); break;
		default: {
			int k, nl = 1 + rand_r(seed) % 4;

			assert_int_equal(ferry_buf_addch(b, '"'), 0);
			for (k = 0; k < nl; k++)
				assert_int_equal(ferry_buf_addf(b, "line %d, x=%d%s\n", k, rand_r(seed) % 9,
					       (rand_r(seed) % 3) ? "" : "\r"), 0);
			assert_int_equal(ferry_buf_addstr(b, "end\""), 0);
		}
		}
	}
	assert_int_equal(ferry_buf_addf(b, " %lld%s\n", (long long)ts, (rand_r(seed) % 5) ? "" : "\r"), 0);
}

static void make_random(struct ferry_buf *b, unsigned seed, int nrec)
{
	int i;

	ferry_buf_clear(b);
	for (i = 0; i < nrec; i++)
		random_record(b, &seed, 1700000000000000000LL + i);
	if (seed & 1)   /* sometimes no newline at the end */
		assert_int_equal(ferry_buf_addstr(b, "last v=1i 99"), 0);
}

static void test_chunks_equal_whole(void **state)
{
	struct ferry_buf file = FERRY_BUF_INIT, one = FERRY_BUF_INIT, many = FERRY_BUF_INIT,
			 gz = FERRY_BUF_INIT;
	unsigned seed;
	size_t total_chunks = 0;

	for (seed = 1; seed <= 150; seed++) {
		size_t n1 = 0, nm = 0, ng = 0;
		uint64_t cb = 16 + seed % 200;

		make_random(&file, seed, 200 + (int)(seed % 100));
		write_file("rand.lp", file.buf, file.len);
		write_gz("rand-gz.lp", file.buf, file.len);
		ferry_buf_clear(&one);
		ferry_buf_clear(&many);
		ferry_buf_clear(&gz);
		transcript("rand.lp", NULL, 0, &one, &n1);
		transcript("rand.lp", NULL, cb, &many, &nm);
		transcript("rand-gz.lp", NULL, cb, &gz, &ng);
		assert_int_equal(n1, 1);
		assert_true(nm > 10);
		assert_int_equal(ng, nm);
		if (strcmp(one.buf, many.buf))
			fail_msg("seed %u chunk_bytes %llu: chunked read differs", seed,
				 (unsigned long long)cb);
		assert_string_equal(gz.buf, one.buf);
		/* the file had some of everything */
		assert_non_null(strstr(one.buf, "R "));
		assert_non_null(strstr(one.buf, ":s=<line 0"));
		total_chunks += nm;
	}
	print_message("    %zu chunks over 150 random files\n", total_chunks);
	ferry_buf_release(&file);
	ferry_buf_release(&one);
	ferry_buf_release(&many);
	ferry_buf_release(&gz);
}

/* Each chunk read alone, twice and out of order, gives its part. */
static void chunk_alone(const char *name, int gz)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf file = FERRY_BUF_INIT, whole = FERRY_BUF_INIT, a = FERRY_BUF_INIT,
			 b = FERRY_BUF_INIT;
	struct tm_source_opts o = opts_default();
	struct tm_chunk *c = NULL;
	size_t n = 0, i;
	void *s = NULL;

	make_random(&file, 77, 400);
	if (gz)
		write_gz(name, file.buf, file.len);
	else
		write_file(name, file.buf, file.len);
	transcript(name, NULL, 0, &whole, NULL);
	o.chunk_bytes = 100;
	assert_int_equal(open_src(name, NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	assert_true(n > 20);
	assert_int_equal(c[n - 1].off_hi, file.len);
	for (i = n; i-- > 0;) {
		ferry_buf_clear(&a);
		ferry_buf_clear(&b);
		assert_int_equal(read_chunk(s, &c[i], -1, &a, &err), 0);
		assert_int_equal(read_chunk(s, &c[i], -1, &b, &err), 0);
		assert_string_equal(a.buf, b.buf);
		/* its transcript is a piece of the whole one */
		if (a.len)
			assert_non_null(strstr(whole.buf, a.buf));
		/* a chunk starts at a record start, so the whole file's records
		 * are cut there: line0 is that record's line */
		if (i && a.len && a.buf[0] == 'P') {
			long long k = strtoll(a.buf + 2, NULL, 10);

			assert_true(k >= c[i].line0);
		}
	}
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	ferry_buf_release(&file);
	ferry_buf_release(&whole);
	ferry_buf_release(&a);
	ferry_buf_release(&b);
}

/* gz: out of order means inflating from the start (gzseek) each time */
static void test_chunk_alone(void **state)
{
	chunk_alone("alone.lp", 0);
	chunk_alone("alone.lp.gz", 1);
}

/* A string with raw newlines that a newline search would cut apart. */
static void test_newlines_across_boundary(void **state)
{
	static const char data[] =
		"a v=1 1\n"
		"a s=\"x\ny\nb v=2 2\nz\" 3\n"
		"a v=3 4\n";
	struct ferry_buf got = FERRY_BUF_INIT, one = FERRY_BUF_INIT;
	size_t n = 0;

	write_file("nl.lp", data, sizeof(data) - 1);
	transcript("nl.lp", NULL, 5, &got, &n);
	transcript("nl.lp", NULL, 0, &one, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(got.buf, "P 1 a v:f=1 @1\n"
			    "P 2 a s:s=<x\ny\nb v=2 2\nz> @3\n"
			    "P 6 a v:f=3 @4\n");
	assert_string_equal(one.buf, got.buf);
	ferry_buf_release(&got);
	ferry_buf_release(&one);
}

static void test_rejects(void **state)
{
	static const char data[] =
		"ok v=1 1\n"                                   /* 1 */
		"broken\n"                                     /* 2 */
		"ok v=2\n"                                     /* 3 */
		"ok,entity_id=\xff\xfe v=3 3\n"                /* 4 */
		"ok v=4 4\n"                                   /* 5 */
		"ok s=\"nul\0here\" 5\n"                       /* 6 */
		"ok v=\"x\" 6\n"                               /* 7 */
		"ok v=1 99999999999999999\n"                   /* 8 */
		"\xc3(bad v=1 7\n"                             /* 9 */
		"ok,k\xed\xa0\x80=1 v=1 8\n"                   /* 10 */
		"ok f\xc0\xaf=1 9\n"                           /* 11 */
		"ok v=\"unterminated 10\n"                     /* 12 */
		"ok v=5 11\n"                                  /* 13 */
		"ok,t=\"\xe2\x82\xac\" v=\"\xe2\x82\" 12\n"    /* 14 */
		"ok v=6 13";                                   /* 15 */
	struct ferry_buf got = FERRY_BUF_INIT;

	write_file("rej.lp", data, sizeof(data) - 1);
	transcript("rej.lp", "precision=s", 0, &got, NULL);
	assert_string_equal(got.buf,
		"P 1 ok v:f=1 @1000000000\n"
		"R 2 missing fields <broken>\n"
		"R 3 missing timestamp <ok v=2>\n"
		"R 4 invalid UTF-8 in tag value of 'entity_id' <ok,entity_id=\xff\xfe v=3 3>\n"
		"P 5 ok v:f=4 @4000000000\n"
		"R 6 NUL byte in string value of field 's' <ok s=\"nul\0here\" 5>\n"
		"P 7 ok v:s=<x> @6000000000\n"
		"R 8 timestamp 99999999999999999 out of range at precision 's' <ok v=1 99999999999999999>\n"
		"R 9 invalid UTF-8 in measurement <\xc3(bad v=1 7>\n"
		"R 10 invalid UTF-8 in tag key 'k\?\?\?' <ok,k\xed\xa0\x80=1 v=1 8>\n"
		"R 11 invalid UTF-8 in field key 'f\?\?' <ok f\xc0\xaf=1 9>\n"
		"R 12 unterminated string for field 'v' <ok v=\"unterminated 10>\n"
		"P 13 ok v:f=5 @11000000000\n"
		"R 14 invalid UTF-8 in string value of field 'v' <ok,t=\"\xe2\x82\xac\" v=\"\xe2\x82\" 12>\n"
		"P 15 ok v:f=6 @13000000000\n");
	ferry_buf_release(&got);
}

static void test_time_filter(void **state)
{
	static const char data[] = "a v=1 10\na v=2 20\nbad\na v=3 30\na v=4 40\n";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf got = FERRY_BUF_INIT;
	void *s = NULL;

	write_file("time.lp", data, sizeof(data) - 1);
	o.has_start = o.has_end = 1;
	o.start_ns = 20;
	o.end_ns = 40;
	assert_int_equal(open_src("time.lp", NULL, &o, &s, &err), 0);
	read_all(s, -1, &got, NULL);
	assert_string_equal(got.buf, "P 2 a v:f=2 @20\nR 3 missing fields <bad>\nP 4 a v:f=3 @30\n");
	lpf_source_ops.close(s);
	ferry_buf_release(&got);
}

static void test_discover_types_and_only(void **state)
{
	static const char data[] =
		"temp,room=k,floor=1 v=1.5 1\n"      /* 1 */
		"temp,room=b v=2i,ok=t 2\n"          /* 2 */
		"hum,room=k rh=40i 3\n"              /* 3 */
		"temp v=\"str\" 4\n"                 /* 4 */
		"temp v=1 bad\n"                     /* 5: reject attributed to temp */
		"zzz v=\n"                           /* 6: no valid zzz: to index 0 */
		"hum rh=41i 6\n"                     /* 7 */
		"hum,a=\xff rh=1i 7\n"               /* 8: reject, hum */
		"temp v=3 99999999999\n";            /* 9: outside the time range */
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct tm_schema sch = { 0 };
	struct ferry_buf all = FERRY_BUF_INIT, b0 = FERRY_BUF_INIT, b1 = FERRY_BUF_INIT;
	const struct tm_measurement *m;
	void *s = NULL;

	write_file("types2.lp", data, sizeof(data) - 1);
	o.need_types = 1;
	o.has_end = 1;
	o.end_ns = 1000;
	assert_int_equal(open_src("types2.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.discover(s, &sch, &err), 0);
	assert_int_equal(sch.typed, 1);
	assert_int_equal(sch.n, 2);
	m = &sch.m[0];
	assert_string_equal(m->name, "hum");
	assert_int_equal(m->points, 2);
	assert_int_equal(m->ntags, 0 + 1);
	assert_string_equal(m->tags[0], "room");
	assert_int_equal(m->nfields, 1);
	assert_int_equal(m->fields[0].types, TM_TYPE_BIT(LP_INT));
	m = &sch.m[1];
	assert_string_equal(m->name, "temp");
	assert_int_equal(m->points, 3);
	assert_int_equal(m->ntags, 2);
	assert_string_equal(m->tags[0], "floor");
	assert_string_equal(m->tags[1], "room");
	assert_int_equal(m->nfields, 2);
	assert_string_equal(m->fields[0].name, "ok");
	assert_int_equal(m->fields[0].types, TM_TYPE_BIT(LP_BOOL));
	assert_string_equal(m->fields[1].name, "v");
	assert_int_equal(m->fields[1].types,
			 TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_STRING));

	read_all(s, -1, &all, NULL);
	read_all(s, 0, &b0, NULL);
	read_all(s, 1, &b1, NULL);
	assert_string_equal(all.buf,
		"P 1 temp|room=k|floor=1 v:f=1.5 @1\n"
		"P 2 temp|room=b v:i=2,ok:b=1 @2\n"
		"P 3 hum|room=k rh:i=40 @3\n"
		"P 4 temp v:s=<str> @4\n"
		"R 5 invalid timestamp 'bad' <temp v=1 bad>\n"
		"R 6 missing field value for field 'v' <zzz v=>\n"
		"P 7 hum rh:i=41 @6\n"
		"R 8 invalid UTF-8 in tag value of 'a' <hum,a=\xff rh=1i 7>\n");
	/* only: each point and each reject once over all measurements */
	assert_string_equal(b0.buf,
		"P 3 hum|room=k rh:i=40 @3\n"
		"R 6 missing field value for field 'v' <zzz v=>\n"
		"P 7 hum rh:i=41 @6\n"
		"R 8 invalid UTF-8 in tag value of 'a' <hum,a=\xff rh=1i 7>\n");
	assert_string_equal(b1.buf,
		"P 1 temp|room=k|floor=1 v:f=1.5 @1\n"
		"P 2 temp|room=b v:i=2,ok:b=1 @2\n"
		"P 4 temp v:s=<str> @4\n"
		"R 5 invalid timestamp 'bad' <temp v=1 bad>\n");
	/* an index that discover did not give */
	{
		struct tm_chunk ck = { .measurement = -1, .off_hi = 10, .line0 = 1, .est = -1 };

		assert_int_equal(read_chunk(s, &ck, 2, &all, &err), FERRY_EINVAL);
	}
	ferry_buf_release(&all);
	ferry_buf_release(&b0);
	ferry_buf_release(&b1);
	tm_schema_release(&sch);
	lpf_source_ops.close(s);
}

static void test_directory(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf got = FERRY_BUF_INIT, id = FERRY_BUF_INIT, want = FERRY_BUF_INIT;
	void *s = NULL;

	write_file("dir/b.lp", "b v=1 2\n", 8);
	write_file("dir/a/z.lp", "az v=1 1\n", 9);
	write_file("dir/a.lp", "a v=1 3\n", 8);
	write_file("dir/.hidden.lp", "hidden v=1 1\n", 13);
	write_file("dir/.git/x.lp", "hidden v=1 1\n", 13);
	write_file("dir/empty.lp", "", 0);
	write_gz("dir/c.lp", "c v=1 4\nc v=2 5\n", 16);
	/* only *.lp and *.lp.gz; each file once, however many links lead to
	 * it, and a link back up the tree (a loop) is not followed again */
	write_file("dir/notes.txt", "x v=1 1\n", 8);
	write_gz("dir/d.lp.gz", "d v=1 6\n", 8);
	{
		char p1[1024], p2[1024];

		snprintf(p1, sizeof(p1), "%s/dir/a/loop", tmpdir);
		snprintf(p2, sizeof(p2), "%s/dir", tmpdir);
		unlink(p1);
		assert_int_equal(symlink(p2, p1), 0);
		snprintf(p1, sizeof(p1), "%s/dir/link.lp", tmpdir);
		snprintf(p2, sizeof(p2), "%s/dir/b.lp", tmpdir);
		unlink(p1);
		assert_int_equal(symlink(p2, p1), 0);
	}
	assert_int_equal(open_src("dir", NULL, &o, &s, &err), 0);
	read_all(s, -1, &got, NULL);
	/* bytewise: "a.lp" < "a/z.lp" ('.' < '/'), gzip found by its magic;
	 * keys are TM_KEY(file, line): file k's line 1 is k << 40 | 1 */
	assert_string_equal(got.buf, "P 1 a v:f=1 @3\nP 1099511627777 az v:f=1 @1\n"
			    "P 2199023255553 b v:f=1 @2\nP 3298534883329 c v:f=1 @4\n"
			    "P 3298534883330 c v:f=2 @5\nP 4398046511105 d v:f=1 @6\n");
	{
		struct ferry_buf nb = FERRY_BUF_INIT;

		assert_int_equal(lpf_source_ops.notes(s, &nb), 0);
		assert_non_null(strstr(nb.buf, "3 files under"));
		assert_non_null(strstr(nb.buf, "a/loop (a link to a directory above it)"));
		assert_non_null(strstr(nb.buf, "link.lp (already read as b.lp)"));
		assert_non_null(strstr(nb.buf, "notes.txt (not .lp or .lp.gz)"));
		ferry_buf_release(&nb);
	}
	assert_int_equal(lpf_source_ops.identity(s, &id, &err), 0);
	assert_int_equal(ferry_buf_addf(&want, "%s/dir/a.lp\t8\t", tmpdir), 0);
	assert_non_null(strstr(id.buf, want.buf));
	assert_true(strstr(id.buf, "/dir/a.lp\t") < strstr(id.buf, "/dir/a/z.lp\t"));
	assert_true(strstr(id.buf, "/dir/a/z.lp\t") < strstr(id.buf, "/dir/b.lp\t"));
	assert_true(strstr(id.buf, "/dir/c.lp\t") < strstr(id.buf, "/dir/empty.lp\t"));
	assert_null(strstr(id.buf, "notes.txt"));
	assert_null(strstr(id.buf, "hidden"));
	assert_null(strstr(id.buf, ".git"));
	lpf_source_ops.close(s);
	ferry_buf_release(&got);
	ferry_buf_release(&id);
	ferry_buf_release(&want);
}

static void test_identity_changes(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT;
	void *s = NULL;

	write_file("id.lp", "a v=1 1\n", 8);
	assert_int_equal(open_src("id.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.identity(s, &a, &err), 0);
	lpf_source_ops.close(s);
	write_file("id.lp", "a v=1 1\na v=2 2\n", 16);
	assert_int_equal(open_src("id.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.identity(s, &b, &err), 0);
	lpf_source_ops.close(s);
	assert_true(a.len > 0);
	assert_string_not_equal(a.buf, b.buf);
	ferry_buf_release(&a);
	ferry_buf_release(&b);
}

/* Run f with fd 0 reading the file name. */
static void with_stdin(const char *name, void (*f)(void))
{
	char path[1024];
	FILE *in;
	int saved = dup(0);

	path_of(path, sizeof(path), name);
	in = fopen(path, "rb");
	assert_non_null(in);
	assert_true(dup2(fileno(in), 0) == 0);
	fclose(in);
	f();
	assert_true(dup2(saved, 0) == 0);
	close(saved);
}

static void stdin_body(void)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct tm_schema sch = { 0 };
	struct ferry_buf got = FERRY_BUF_INIT, id = FERRY_BUF_INIT;
	struct tm_chunk *c = NULL;
	size_t n = 0;
	void *s = NULL;

	o.chunk_bytes = 8;
	assert_int_equal(open_src("-", "precision=ms", &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.discover(s, &sch, &err), 0);
	assert_int_equal(sch.n, 0);
	assert_int_equal(sch.typed, 0);
	assert_int_equal(lpf_source_ops.plan(s, &sch, &c, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].line0, 1);
	assert_int_equal(read_chunk(s, &c[0], -1, &got, &err), 0);
	assert_string_equal(got.buf, "P 1 s v:f=1 @1000000\nR 2 missing fields <bad>\n"
			    "P 3 s v:s=<a\nb> @2000000\n");
	ferry_buf_clear(&got);
	assert_int_equal(read_chunk(s, &c[0], -1, &got, &err), FERRY_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "cannot read stdin twice"));
	assert_int_equal(lpf_source_ops.identity(s, &id, &err), 0);
	assert_int_equal(id.len, 0);
	tm_chunks_free(c);
	lpf_source_ops.close(s);

	/* the types need a second pass, which stdin cannot give */
	o.need_types = 1;
	assert_int_equal(open_src("-", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.discover(s, &sch, &err), FERRY_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "stdin"));
	lpf_source_ops.close(s);
	ferry_buf_release(&got);
	ferry_buf_release(&id);
}

static void test_stdin(void **state)
{
	static const char data[] = "s v=1 1\nbad\ns v=\"a\nb\" 2\n";

	write_file("stdin.lp", data, sizeof(data) - 1);
	write_gz("stdin.lp.gz", data, sizeof(data) - 1);
	with_stdin("stdin.lp", stdin_body);
	with_stdin("stdin.lp.gz", stdin_body);
}

static void test_errors(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	char want[1100];
	ferry_url *u = NULL;
	void *s = NULL;

	assert_int_equal(open_src("nope.lp", NULL, &o, &s, &err), FERRY_EIO);
	snprintf(want, sizeof(want), "cannot open '%s/nope.lp': No such file or directory", tmpdir);
	assert_string_equal(err.msg, want);
	write_file("p.lp", "a v=1 1\n", 8);
	assert_int_equal(open_src("p.lp", "precision=xs", &o, &s, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "invalid precision 'xs'"));

	/* what the URL parser gives the source */
	assert_int_equal(ferry_url_parse("lp:rel/dir/x.lp", &u, &err), 0);
	assert_string_equal(u->path, "rel/dir/x.lp");
	ferry_url_free(u);
	assert_int_equal(ferry_url_parse("lp:-", &u, &err), 0);
	assert_string_equal(u->path, "-");
	ferry_url_free(u);
	assert_int_equal(ferry_url_parse("lp:///abs/x.lp?precision=s", &u, &err), 0);
	assert_string_equal(u->path, "/abs/x.lp");
	ferry_url_free(u);

	/* a truncated gzip file: test_gz_breaks */
}

/* ------------------------------------------------ broken gzip files */

/* What zlib can inflate of gz[0..n), member after member, into out;
 * returns the compressed bytes it took. */
static size_t inflatable(const unsigned char *gz, size_t n, struct ferry_buf *out)
{
	z_stream z;
	unsigned char buf[4096];
	int zr = Z_OK;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)n;
	ferry_buf_clear(out);
	for (;;) {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zr = inflate(&z, Z_NO_FLUSH);
		assert_int_equal(ferry_buf_add(out, buf, sizeof(buf) - z.avail_out), 0);
		if (zr == Z_STREAM_END && z.avail_in && z.next_in[0] == 0x1f) {
			assert_int_equal(inflateReset(&z), Z_OK);
			continue;
		}
		if (zr != Z_OK || (z.avail_out && !z.avail_in))
			break;
	}
	n -= z.avail_in;
	inflateEnd(&z);
	return n;
}

/* data as one gzip member into out (gzip's header, no name); with
 * flush_at, a full flush (a new deflate block, byte-aligned) after that
 * many bytes, *flush_off its compressed offset. */
static void gzip_mem(const char *data, size_t n, size_t flush_at, size_t *flush_off,
		     struct ferry_buf *out)
{
	z_stream z;
	size_t cap = compressBound((uLong)n) + 64;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	ferry_buf_clear(out);
	assert_int_equal(ferry_buf_grow(out, cap), 0);
	z.next_out = (Bytef *)out->buf;
	z.avail_out = (uInt)cap;
	z.next_in = (Bytef *)(uintptr_t)data;
	if (flush_at) {
		z.avail_in = (uInt)flush_at;
		assert_int_equal(deflate(&z, Z_FULL_FLUSH), Z_OK);
		*flush_off = cap - z.avail_out;
	}
	z.avail_in = (uInt)(n - flush_at);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out->len = cap - z.avail_out;
	deflateEnd(&z);
}

/* Plan name and read its chunks (in reverse order when backwards, each
 * chunk's transcript put back in plan order) into out; *cut: the last
 * chunk is a cut one; notes: the source's notes. */
static void read_broken(const char *name, uint64_t cb, int backwards, struct ferry_buf *out,
			int *cut, struct ferry_buf *notes)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf *part;
	struct tm_chunk *c = NULL;
	size_t n = 0, i, k;
	void *s = NULL;

	o.chunk_bytes = cb;
	if (open_src(name, NULL, &o, &s, &err) != 0)
		fail_msg("open: %s", err.msg);
	if (lpf_source_ops.plan(s, NULL, &c, &n, &err) != 0)
		fail_msg("plan: %s", err.msg);
	assert_true(n > 0);
	part = calloc(n, sizeof(*part));
	assert_non_null(part);
	for (i = 0; i < n; i++) {
		if (i && c[i].file == c[i - 1].file)
			assert_true(c[i].off_lo == c[i - 1].off_hi);
		else
			assert_true(c[i].off_lo == 0);
		assert_true(c[i].off_hi >= c[i].off_lo);
		/* only the last chunk is cut, and only a cut one may be empty */
		assert_true(!c[i].cut || i == n - 1);
		assert_true(c[i].off_hi > c[i].off_lo || c[i].cut);
	}
	for (k = 0; k < n; k++) {
		i = backwards ? n - 1 - k : k;
		part[i] = (struct ferry_buf)FERRY_BUF_INIT;
		if (read_chunk(s, &c[i], -1, &part[i], &err) != 0)
			fail_msg("read chunk %zu of %zu: %s", i, n, err.msg);
	}
	ferry_buf_clear(out);
	for (i = 0; i < n; i++) {
		if (part[i].len)
			assert_int_equal(ferry_buf_add(out, part[i].buf, part[i].len), 0);
		ferry_buf_release(&part[i]);
	}
	free(part);
	*cut = c[n - 1].cut;
	if (notes) {
		ferry_buf_clear(notes);
		assert_int_equal(lpf_source_ops.notes(s, notes), 0);
	}
	tm_chunks_free(c);
	lpf_source_ops.close(s);
}

/* The transcript of a broken gz file: every record before the break as
 * the whole file gives it (want), then the cut record's reject, whose
 * reason is what (then ": the rest of the file cannot be read") and whose
 * text is the end of the bytes inflated before the break (plain[0..upto)).
 * The same with small chunks, read in order or backwards. */
static void check_broken(const char *name, const struct ferry_buf *plain, size_t upto,
			 const char *want, const char *what)
{
	static const char rest[] = ": the rest of the file cannot be read <";
	struct ferry_buf got = FERRY_BUF_INIT, other = FERRY_BUF_INIT;
	const char *w, *last, *raw;
	size_t rawn;
	int cut = 0;

	read_broken(name, 0, 0, &got, &cut, NULL);
	assert_true(cut);
	/* the last record is the cut one's reject: "R LINE what..." */
	if (!(w = strstr(got.buf, what)))
		fail_msg("%s: no reject says '%s':\n%s", name, what, got.buf);
	last = w - 1;
	while (last > got.buf && last[-1] >= '0' && last[-1] <= '9')
		last--;
	last -= 2;
	assert_true(last >= got.buf);
	assert_int_equal(strncmp(last, "R ", 2), 0);
	assert_true(last == got.buf || last[-1] == '\n');
	/* everything before it is what the whole file gives first */
	if (strncmp(want, got.buf, (size_t)(last - got.buf)) != 0)
		fail_msg("%s: the records before the break differ from the whole file's", name);
	assert_int_equal(strncmp(w + strlen(what), rest, sizeof(rest) - 1), 0);
	/* its text is the end of what inflated (the transcript keeps 200 bytes) */
	raw = w + strlen(what) + sizeof(rest) - 1;
	rawn = got.len - (size_t)(raw - got.buf) - 2;
	assert_int_equal(strcmp(raw + rawn, ">\n"), 0);
	assert_true(rawn <= upto);
	if (rawn < 200 && memcmp(raw, plain->buf + upto - rawn, rawn) != 0)
		fail_msg("%s: the cut record is not the end of the inflated bytes", name);
	/* chunks of 64 bytes, in order and backwards, give the same */
	read_broken(name, 64, 0, &other, &cut, NULL);
	assert_true(cut);
	assert_string_equal(other.buf, got.buf);
	read_broken(name, 64, 1, &other, &cut, NULL);
	assert_string_equal(other.buf, got.buf);
	ferry_buf_release(&got);
	ferry_buf_release(&other);
}

/* A gz file that ends early or is corrupt is read up to the break. */
static void test_gz_breaks(void **state)
{
	struct ferry_buf file = FERRY_BUF_INIT, gz = FERRY_BUF_INIT, inf = FERRY_BUF_INIT,
			 want = FERRY_BUF_INIT, got = FERRY_BUF_INIT, two = FERRY_BUF_INIT,
			 notes = FERRY_BUF_INIT, what = FERRY_BUF_INIT;
	size_t cuts[] = { 11, 25, 300, 1000, 2345, 0 }, i, took, flush_off = 0, at;
	char path[1024];
	int cut = 0;

	make_random(&file, 42, 600);   /* even seed: ends with a newline */
	write_file("whole.lp", file.buf, file.len);
	transcript("whole.lp", NULL, 0, &want, NULL);
	gzip_mem(file.buf, file.len, 0, NULL, &gz);
	cuts[5] = gz.len - 3;          /* inside the trailer: every byte inflates */
	path_of(path, sizeof(path), "cut.lp.gz");
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		took = inflatable((unsigned char *)gz.buf, cuts[i], &inf);
		assert_int_equal(took, cuts[i]);
		write_file("cut.lp.gz", gz.buf, cuts[i]);
		ferry_buf_clear(&what);
		assert_int_equal(ferry_buf_addf(&what, "the gzip stream of '%s' ends early at "
						"compressed byte %zu (uncompressed byte %zu)", path,
						cuts[i], inf.len), 0);
		check_broken("cut.lp.gz", &file, inf.len, want.buf, what.buf);
	}
	/* the whole data, then a wrong CRC: every record, and an empty reject
	 * after the last line */
	gz.buf[gz.len - 8] ^= 0x55;
	write_file("crc.lp.gz", gz.buf, gz.len);
	read_broken("crc.lp.gz", 0, 0, &got, &cut, &notes);
	assert_true(cut);
	assert_int_equal(strncmp(got.buf, want.buf, want.len), 0);
	assert_non_null(strstr(got.buf + want.len, "(uncompressed byte"));
	assert_non_null(strstr(got.buf + want.len, ": incorrect data check): the rest of the "
			       "file cannot be read <>\n"));
	{
		const char *p;
		int lines = 1;
		char l[128];

		for (p = file.buf; (p = memchr(p, '\n', file.len - (size_t)(p - file.buf))); p++)
			lines++;
		snprintf(l, sizeof(l), "R %d ", lines);
		assert_int_equal(strncmp(got.buf + want.len, l, strlen(l)), 0);
		snprintf(l, sizeof(l), "incorrect data check), in line %d: the lines before it "
			 "are read, line %d is a reject", lines, lines);
		assert_non_null(strstr(notes.buf, l));
	}
	assert_non_null(strstr(notes.buf, "from uncompressed byte 0 on"));
	gz.buf[gz.len - 8] ^= 0x55;

	/* a block that cannot inflate (BTYPE 11) in the middle: exactly the
	 * records before it */
	at = 0;
	{
		const char *p = file.buf;
		int k;

		for (k = 0; k < 300; k++)   /* after a record that ends a line */
			p = strchr(p, '\n') + 1;
		at = (size_t)(p - file.buf);
	}
	gzip_mem(file.buf, file.len, at, &flush_off, &two);
	two.buf[flush_off] |= 0x06;
	write_file("flip.lp.gz", two.buf, two.len);
	took = inflatable((unsigned char *)two.buf, two.len, &inf);
	assert_int_equal(inf.len, at);
	ferry_buf_clear(&what);
	path_of(path, sizeof(path), "flip.lp.gz");
	assert_int_equal(ferry_buf_addf(&what, "the gzip stream of '%s' is corrupt at compressed "
					"byte %zu (uncompressed byte %zu: invalid block type)",
					path, flush_off + 1, at), 0);
	check_broken("flip.lp.gz", &file, at, want.buf, what.buf);

	/* two members (cat a.gz b.gz) read as one file; cut in the second */
	{
		size_t half = 0;
		const char *p = file.buf;
		int k;

		for (k = 0; k < 200; k++)
			p = strchr(p, '\n') + 1;
		half = (size_t)(p - file.buf);
		gzip_mem(file.buf, half, 0, NULL, &two);
		assert_int_equal(ferry_buf_grow(&two, file.len), 0);
		gzip_mem(file.buf + half, file.len - half, 0, NULL, &gz);
		assert_int_equal(ferry_buf_add(&two, gz.buf, gz.len), 0);
		write_file("two.lp.gz", two.buf, two.len);
		read_broken("two.lp.gz", 64, 1, &got, &cut, &notes);
		assert_false(cut);
		assert_string_equal(got.buf, want.buf);
		/* zero padding after it: ignored, and said */
		for (k = 0; k < 1000; k++)
			assert_int_equal(ferry_buf_addch(&two, 0), 0);
		write_file("pad.lp.gz", two.buf, two.len);
		read_broken("pad.lp.gz", 64, 0, &got, &cut, &notes);
		assert_false(cut);
		assert_string_equal(got.buf, want.buf);
		assert_non_null(strstr(notes.buf, "the 1000 zero bytes after its gzip data"));
		/* anything else after it: a break after the last record */
		assert_int_equal(ferry_buf_addstr(&two, "x"), 0);
		write_file("junk.lp.gz", two.buf, two.len);
		ferry_buf_clear(&what);
		path_of(path, sizeof(path), "junk.lp.gz");
		assert_int_equal(ferry_buf_addf(&what, "the gzip data of '%s' ends at compressed "
						"byte %zu (uncompressed byte %zu), and the 1001 "
						"bytes after it are not gzip", path, two.len - 1001,
						file.len), 0);
		read_broken("junk.lp.gz", 0, 0, &got, &cut, &notes);
		assert_true(cut);
		assert_int_equal(strncmp(got.buf, want.buf, want.len), 0);
		assert_non_null(strstr(got.buf + want.len, what.buf));
		/* cut inside the second member's header (on a record
		 * boundary: an empty reject), and inside its data */
		path_of(path, sizeof(path), "cut2.lp.gz");
		two.len -= 1001 + gz.len - 5;
		for (k = 0; k < 2; k++) {
			write_file("cut2.lp.gz", two.buf, two.len);
			took = inflatable((unsigned char *)two.buf, two.len, &inf);
			assert_true(k || inf.len == half);
			ferry_buf_clear(&what);
			assert_int_equal(ferry_buf_addf(&what, "the gzip stream of '%s' ends early at "
							"compressed byte %zu (uncompressed byte %zu)",
							path, two.len, inf.len), 0);
			check_broken("cut2.lp.gz", &file, inf.len, want.buf, what.buf);
			two.len += gz.len / 2;
		}
	}
	/* a gzip header and no more: a break before any byte; an empty
	 * member: nothing, no break */
	write_file("hdr.lp.gz", "\x1f\x8b", 2);
	path_of(path, sizeof(path), "hdr.lp.gz");
	ferry_buf_clear(&what);
	assert_int_equal(ferry_buf_addf(&what, "R 1 the gzip stream of '%s' ends early at "
					"compressed byte 2 (uncompressed byte 0): the rest of "
					"the file cannot be read <>\n", path), 0);
	read_broken("hdr.lp.gz", 0, 0, &got, &cut, NULL);
	assert_true(cut);
	assert_string_equal(got.buf, what.buf);
	write_gz("empty.lp.gz", "", 0);
	transcript("empty.lp.gz", NULL, 0, &got, &i);
	assert_int_equal(i, 0);
	(void)took;
	ferry_buf_release(&file);
	ferry_buf_release(&gz);
	ferry_buf_release(&inf);
	ferry_buf_release(&want);
	ferry_buf_release(&got);
	ferry_buf_release(&two);
	ferry_buf_release(&notes);
	ferry_buf_release(&what);
}

/* A break in a directory names the file; stdin is read up to its break;
 * a file that no longer breaks where the plan says is an error. */
static void test_gz_break_dir_stdin_changed(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf gz = FERRY_BUF_INIT, got = FERRY_BUF_INIT;
	static const char data[] = "a v=1 1\na v=2 2\na v=3 3\n";
	struct tm_chunk *c = NULL;
	size_t n = 0, i;
	void *s = NULL;
	int cut = 0;

	gzip_mem(data, sizeof(data) - 1, 0, NULL, &gz);
	write_file("gzdir/good.lp.gz", gz.buf, gz.len);
	write_file("gzdir/sub/bad.lp.gz", gz.buf, gz.len - 12);   /* inside "a v=3 3" */
	read_broken("gzdir", 0, 0, &got, &cut, NULL);
	assert_true(cut);
	/* file 0 (good) whole, file 1 up to its break, keys name the file */
	assert_non_null(strstr(got.buf, "P 1 a v:f=1 @1\nP 2 a v:f=2 @2\nP 3 a v:f=3 @3\n"
			       "P 1099511627777 a v:f=1 @1\nP 1099511627778 a v:f=2 @2\n"
			       "R 1099511627779 the gzip stream of '"));
	assert_non_null(strstr(got.buf, "gzdir/sub/bad.lp.gz' ends early at compressed byte "));
	assert_non_null(strstr(got.buf, "(uncompressed byte 21): the rest of the file cannot be "
			       "read <a v=3>\n"));

	/* stdin: the same, without a plan that knows the break */
	write_file("gzstdin.lp.gz", gz.buf, gz.len - 12);
	{
		char path[1024];
		FILE *in;
		int saved = dup(0);

		path_of(path, sizeof(path), "gzstdin.lp.gz");
		assert_non_null(in = fopen(path, "rb"));
		assert_true(dup2(fileno(in), 0) == 0);
		fclose(in);
		assert_int_equal(open_src("-", NULL, &o, &s, &err), 0);
		assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
		ferry_buf_clear(&got);
		assert_int_equal(read_chunk(s, &c[0], -1, &got, &err), 0);
		assert_true(dup2(saved, 0) == 0);
		close(saved);
		assert_string_equal(got.buf, "P 1 a v:f=1 @1\nP 2 a v:f=2 @2\nR 3 the gzip stream of "
				    "'<stdin>' ends early at compressed byte 27 (uncompressed "
				    "byte 21): the rest of the file cannot be read <a v=3>\n");
		tm_chunks_free(c);
		lpf_source_ops.close(s);
	}

	/* planned broken, then replaced by the whole file: a bad CRC (the
	 * data ends where the break was), a cut one (it goes on) */
	for (i = 0; i < 2; i++) {
		gz.buf[gz.len - 8] ^= i == 0 ? 0x55 : 0;
		write_file("changed.lp.gz", gz.buf, i == 0 ? gz.len : gz.len - 12);
		gz.buf[gz.len - 8] ^= i == 0 ? 0x55 : 0;
		o.chunk_bytes = 8;
		assert_int_equal(open_src("changed.lp.gz", NULL, &o, &s, &err), 0);
		assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
		assert_true(c[n - 1].cut);
		write_file("changed.lp.gz", gz.buf, gz.len);
		ferry_buf_clear(&got);
		assert_int_equal(read_chunk(s, &c[n - 1], -1, &got, &err), FERRY_EIO);
		assert_non_null(strstr(err.msg, i == 0 ? "the plan expects its gzip data to break at "
				       "byte 24, and it ends there whole (was it changed?" :
				       "break at byte 21, and it goes on (was it changed?"));
		tm_chunks_free(c);
		lpf_source_ops.close(s);
	}
	ferry_buf_release(&gz);
	ferry_buf_release(&got);
}

/* A record over 16 MiB is rejected without stopping the read, and
 * chunks around it agree with one read. */
static void test_oversized(void **state)
{
	struct ferry_buf file = FERRY_BUF_INIT, one = FERRY_BUF_INIT, many = FERRY_BUF_INIT;
	size_t big = ((size_t)16 << 20) + 100, n = 0;
	const char *r;

	assert_int_equal(ferry_buf_addstr(&file, "a v=1 1\nhuge s=\""), 0);
	assert_int_equal(ferry_buf_grow(&file, big + 100), 0);
	memset(file.buf + file.len, 'x', big);
	file.buf[file.len + 1000] = '\n';   /* a raw newline inside: one more line */
	file.len += big;
	assert_int_equal(ferry_buf_addstr(&file, "\" 2\na v=2 3\nhuge2 s=\"\n\n"), 0);
	assert_int_equal(ferry_buf_addstr(&file, "\" 4\na v=3 5\n"), 0);
	write_file("big.lp", file.buf, file.len);
	transcript("big.lp", NULL, 0, &one, NULL);
	transcript("big.lp", NULL, 1 << 20, &many, &n);
	assert_int_equal(n, 2);
	assert_string_equal(one.buf, many.buf);
	r = strstr(one.buf, "R 2 record longer than 16 MiB <huge s=\"xxx");
	assert_non_null(r);
	assert_non_null(strstr(one.buf, "P 1 a v:f=1 @1\n"));
	assert_non_null(strstr(one.buf, "P 4 a v:f=2 @3\n"));
	assert_non_null(strstr(one.buf, "P 5 huge2 s:s=<\n\n> @4\n"));
	assert_non_null(strstr(one.buf, "P 8 a v:f=3 @5\n"));
	ferry_buf_release(&file);
	ferry_buf_release(&one);
	ferry_buf_release(&many);
}

/* The plan counts records; est_values is those times the field values a
 * record holds in the chunk's first records. */
static void test_values_estimate(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct ferry_buf text = FERRY_BUF_INIT;
	struct tm_chunk *c = NULL;
	size_t n = 0, i;
	int64_t recs = 0, vals = 0;
	void *s = NULL;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(ferry_buf_addf(&text, "m,k=%zu a=1,b=2i,c=\"x\" %zu\n", i % 7, i), 0);
	write_file("client.lp", text.buf, text.len);
	ferry_buf_clear(&text);
	assert_int_equal(ferry_buf_addstr(&text, "# DML\n# CONTEXT-DATABASE: db\n"), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(ferry_buf_addf(&text, "m,k=%zu a=1 %zu\n", i % 7, i), 0);
	write_file("export.lp", text.buf, text.len);
	o.chunk_bytes = 4000;
	assert_int_equal(open_src("client.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	assert_true(n > 3);
	for (i = 0; i < n; i++) {
		assert_int_equal(c[i].est_values, 3 * c[i].est);
		recs += c[i].est;
	}
	assert_int_equal(recs, 1000);
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	recs = 0;
	assert_int_equal(open_src("export.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	for (i = 0; i < n; i++) {
		recs += c[i].est;
		vals += c[i].est_values;
	}
	assert_int_equal(recs, 1002);   /* the two comment lines are records */
	assert_true(vals >= 990 && vals <= 1000);
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	/* written measurement by measurement: one field a line, then three;
	 * each chunk is sampled, so the estimate follows both halves */
	ferry_buf_clear(&text);
	for (i = 0; i < 1000; i++)
		assert_int_equal(ferry_buf_addf(&text, "m a=1 %zu\n", i), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(ferry_buf_addf(&text, "n a=1,b=2,c=3 %zu\n", i), 0);
	write_file("halves.lp", text.buf, text.len);
	vals = 0;
	assert_int_equal(open_src("halves.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	assert_true(n > 3);
	for (i = 0; i < n; i++)
		vals += c[i].est_values;
	assert_int_equal(vals, 4000);
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	ferry_buf_release(&text);
}

/* discover(need_types) plans in the same scan: same chunks as plan(). */
static void test_plan_from_discover(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct tm_schema sch = { 0 };
	struct ferry_buf file = FERRY_BUF_INIT;
	struct tm_chunk *c1 = NULL, *c2 = NULL;
	size_t n1 = 0, n2 = 0;
	void *s = NULL;

	make_random(&file, 9, 500);
	write_file("pd.lp", file.buf, file.len);
	o.chunk_bytes = 300;
	assert_int_equal(open_src("pd.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c1, &n1, &err), 0);
	lpf_source_ops.close(s);
	o.need_types = 1;
	assert_int_equal(open_src("pd.lp", NULL, &o, &s, &err), 0);
	assert_int_equal(lpf_source_ops.discover(s, &sch, &err), 0);
	assert_int_equal(sch.n, 7);   /* m0..m2, "m0 x,y".."m2 x,y", last */
	assert_int_equal(lpf_source_ops.plan(s, &sch, &c2, &n2, &err), 0);
	assert_int_equal(n1, n2);
	assert_true(n1 > 5);
	assert_memory_equal(c1, c2, n1 * sizeof(*c1));
	tm_chunks_free(c1);
	tm_chunks_free(c2);
	tm_schema_release(&sch);
	lpf_source_ops.close(s);
	ferry_buf_release(&file);
}

static int count_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	(*(int64_t *)ud)++;
	return 0;
}

static int count_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
			struct ferry_error *err)
{
	return 0;
}

/* Throughput on a file named by FERRY_LPFILE_BENCH (printed only). */
static void test_bench(void **state)
{
	const char *path = getenv("FERRY_LPFILE_BENCH");
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o = opts_default();
	struct tm_chunk *c = NULL;
	struct timespec t0, t1, t2;
	char url[1100];
	ferry_url *u = NULL;
	int64_t points = 0;
	uint64_t bytes = 0;
	size_t n = 0, i;
	void *s = NULL;

	if (!path) {
		skip();
		return;
	}
	snprintf(url, sizeof(url), "lp://%s", path);
	assert_int_equal(ferry_url_parse(url, &u, &err), 0);
	assert_int_equal(lpf_source_ops.open(u, &o, &s, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &c, &n, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < n; i++) {
		bytes += c[i].off_hi - c[i].off_lo;
		assert_int_equal(lpf_source_ops.read(s, NULL, &c[i], -1, count_point, count_reject,
						     &points, &err), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	{
		double tp = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		double tr = (double)(t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9;

		print_message("    %s: %llu bytes (uncompressed), %zu chunks, %lld points\n"
			      "    plan %.2f s (%.0f MB/s), read %.2f s (%.0f MB/s, %.2f M points/s)\n",
			      path, (unsigned long long)bytes, n, (long long)points, tp,
			      bytes / tp / 1e6, tr, bytes / tr / 1e6, points / tr / 1e6);
	}
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	ferry_url_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types_and_escapes),
		cmocka_unit_test(test_export_headers),
		cmocka_unit_test(test_newlines_across_boundary),
		cmocka_unit_test(test_chunks_equal_whole),
		cmocka_unit_test(test_chunk_alone),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_time_filter),
		cmocka_unit_test(test_discover_types_and_only),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_identity_changes),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_gz_breaks),
		cmocka_unit_test(test_gz_break_dir_stdin_changed),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_plan_from_discover),
		cmocka_unit_test(test_values_estimate),
	};
	const struct CMUnitTest bench[] = { cmocka_unit_test(test_bench) };

	if (getenv("FERRY_LPFILE_BENCH"))   /* the figure alone */
		return cmocka_run_group_tests(bench, setup, teardown);

	return cmocka_run_group_tests(tests, setup, teardown);
}
