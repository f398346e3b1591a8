/*
 * test_influx_source.c - the InfluxDB 1.x point source
 * (tsmap/sources/influx/) against the influxd tests/services started: what is written as line protocol
 * comes back from discover/plan/read as exactly the same points (every
 * escape, every type, missing fields, several series), chunk boundaries and
 * start/end filters hold, fields whose type differs between shard groups
 * arrive with their stored types, and unreachable servers, unknown
 * databases and a connection cut in the middle of a chunk fail clearly.
 * Skips (exit 77) when FERRY_INFLUX_URL is not in the services env.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/lineproto.h"
#include "ferry/buf.h"
#include "ferry/url.h"
#include "services_env.h"
#include "tsmap/tsmap.h"

extern const struct tm_source_ops ifx_source_ops;

#define HOUR INT64_C(3600000000000)

static const char *influx;    /* http://127.0.0.1:PORT */
static int dbseq;

/* ------------------------------------------------------------- HTTP helpers */

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	assert_int_equal(ferry_buf_add(ud, p, s * n), 0);
	return s * n;
}

static long http_post(const char *path, const char *body, size_t n, struct ferry_buf *out)
{
	CURL *h = curl_easy_init();
	char url[512];
	long code = 0;

	snprintf(url, sizeof(url), "%s%s", influx, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)n);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static void influxql(const char *q)
{
	struct ferry_buf out = FERRY_BUF_INIT;
	CURL *h = curl_easy_init();
	char *e = curl_easy_escape(h, q, 0);
	char body[2048];

	snprintf(body, sizeof(body), "q=%s", e);
	curl_free(e);
	curl_easy_cleanup(h);
	if (http_post("/query", body, strlen(body), &out) != 200 || strstr(out.buf, "\"error\""))
		fail_msg("%s: %s", q, out.buf);
	ferry_buf_release(&out);
}

/* A fresh database; extra goes after CREATE DATABASE name. */
static void new_db(char *name, size_t cap, const char *extra)
{
	char q[512];

	snprintf(name, cap, "ifxt_%d_%d_%d", (int)getpid(), dbseq++, rand() % 100000);
	snprintf(q, sizeof(q), "CREATE DATABASE \"%s\" %s", name, extra ? extra : "");
	influxql(q);
}

/* Into retention policy rp, or the default one when rp is NULL. */
static void write_lp_rp(const char *db, const char *rp, const char *text)
{
	struct ferry_buf out = FERRY_BUF_INIT;
	char path[256];
	long code;

	snprintf(path, sizeof(path), "/write?db=%s&precision=ns%s%s", db, rp ? "&rp=" : "",
		 rp ? rp : "");
	code = http_post(path, text, strlen(text), &out);
	if (code != 204)
		fail_msg("write to %s: HTTP %ld: %s", db, code, out.buf);
	ferry_buf_release(&out);
}

static void write_lp(const char *db, const char *text)
{
	write_lp_rp(db, NULL, text);
}

/* ------------------------------------------------------ points as strings */

static int cmp_tag(const void *a, const void *b)
{
	const struct lp_tag *x = a, *y = b;
	size_t n = x->key.n < y->key.n ? x->key.n : y->key.n;
	int c = memcmp(x->key.p, y->key.p, n);

	return c ? c : (x->key.n > y->key.n) - (x->key.n < y->key.n);
}

static int cmp_field(const void *a, const void *b)
{
	const struct lp_field *x = a, *y = b;
	size_t n = x->key.n < y->key.n ? x->key.n : y->key.n;
	int c = memcmp(x->key.p, y->key.p, n);

	return c ? c : (x->key.n > y->key.n) - (x->key.n < y->key.n);
}

/* One line per point, tags and fields sorted, every value with its type. */
static char *canon(struct lp_str m, const struct lp_tag *tags, size_t nt,
		   const struct lp_field *fields, size_t nf, int64_t t)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct lp_tag tg[64];
	struct lp_field fl[64];
	size_t i;

	assert_true(nt <= 64 && nf <= 64);
	if (nt)  /* tags may be NULL when there are none */
		memcpy(tg, tags, nt * sizeof(*tg));
	if (nf)
		memcpy(fl, fields, nf * sizeof(*fl));
	qsort(tg, nt, sizeof(*tg), cmp_tag);
	qsort(fl, nf, sizeof(*fl), cmp_field);
	assert_int_equal(ferry_buf_addf(&b, "[%.*s]", (int)m.n, m.p), 0);
	for (i = 0; i < nt; i++)
		assert_int_equal(ferry_buf_addf(&b, " T[%.*s]=[%.*s]", (int)tg[i].key.n, tg[i].key.p,
			       (int)tg[i].val.n, tg[i].val.p), 0);
	for (i = 0; i < nf; i++) {
		assert_int_equal(ferry_buf_addf(&b, " F[%.*s]=", (int)fl[i].key.n, fl[i].key.p), 0);
		switch (fl[i].type) {
		case LP_FLOAT: assert_int_equal(ferry_buf_addf(&b, "float:%.17g", fl[i].v.f), 0); break;
		case LP_INT: assert_int_equal(ferry_buf_addf(&b, "int:%" PRId64, fl[i].v.i), 0); break;
		case LP_UINT: assert_int_equal(ferry_buf_addf(&b, "uint:%" PRIu64, fl[i].v.u), 0); break;
		case LP_BOOL: assert_int_equal(ferry_buf_addf(&b, "bool:%d", fl[i].v.b), 0); break;
		case LP_STRING:
			assert_int_equal(ferry_buf_addf(&b, "str:%zu:", fl[i].v.s.n), 0);
			assert_int_equal(ferry_buf_add(&b, fl[i].v.s.p, fl[i].v.s.n), 0);
			break;
		}
	}
	assert_int_equal(ferry_buf_addf(&b, " @%" PRId64, t), 0);
	return ferry_buf_detach(&b, NULL);
}

struct plist {
	char **v;
	size_t n, cap;
	int64_t *keys;
};

static void plist_add(struct plist *l, char *s, int64_t key)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		l->keys = realloc(l->keys, l->cap * sizeof(*l->keys));
	}
	l->keys[l->n] = key;
	l->v[l->n++] = s;
}

static void plist_free(struct plist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The points of an LP text, as lp_parse_line reads them. */
/* One string per field of each point (split) or per point. */
static void add_point(struct plist *out, struct lp_str m, const struct lp_tag *tags, size_t nt,
		      const struct lp_field *fields, size_t nf, int64_t t, int64_t key, int split)
{
	size_t i;

	if (!split) {
		plist_add(out, canon(m, tags, nt, fields, nf, t), key);
		return;
	}
	for (i = 0; i < nf; i++)
		plist_add(out, canon(m, tags, nt, &fields[i], 1, t), key);
}

static void parse_text_split(const char *text, struct plist *out, int split)
{
	struct lp_scratch sc;
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *line, *why;
	size_t n;
	uint64_t ln;

	lp_scratch_init(&sc);
	while (lp_next_line(text, strlen(text), &cur, 1, &line, &n, &ln)) {
		struct lp_point pt;
		int k = lp_parse_line(line, n, &pt, &sc, &why);

		if (k < 0)
			fail_msg("test data line %" PRIu64 ": %s", ln, why);
		if (k == LP_POINT)
			add_point(out, pt.measurement, pt.tags, pt.ntags, pt.fields, pt.nfields, pt.ts,
				  0, split);
	}
	lp_scratch_release(&sc);
}

static void parse_text(const char *text, struct plist *out)
{
	parse_text_split(text, out, 0);
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	(void)err;
	plist_add(ud, canon(p->measurement, p->tags, p->ntags, p->fields, p->nfields, p->time_ns),
		  p->key);
	return 0;
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	(void)ud; (void)raw; (void)n; (void)err;
	fail_msg("unexpected reject at %" PRId64 ": %s", key, reason);
	return -1;
}

struct src {
	void *s;
	struct tm_schema sch;
	struct tm_chunk *ck;
	size_t nck;
};

static int src_open(const char *db, const char *query, const struct tm_source_opts *o,
		    void **out, struct ferry_error *err)
{
	char u[512];
	ferry_url *url = NULL;
	int rc;

	snprintf(u, sizeof(u), "influx://127.0.0.1:%s/%s%s", svc_get("FERRY_INFLUX_PORT"), db,
		 query ? query : "");
	assert_int_equal(ferry_url_parse(u, &url, err), 0);
	rc = ifx_source_ops.open(url, o, out, err);
	ferry_url_free(url);
	return rc;
}

static void src_load(struct src *s, const char *db, const struct tm_source_opts *o)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	memset(s, 0, sizeof(*s));
	if (src_open(db, NULL, o, &s->s, &err) < 0 ||
	    ifx_source_ops.discover(s->s, &s->sch, &err) < 0 ||
	    ifx_source_ops.plan(s->s, &s->sch, &s->ck, &s->nck, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s->sch.typed, 1);
}

static void src_done(struct src *s)
{
	tm_chunks_free(s->ck);
	tm_schema_release(&s->sch);
	ifx_source_ops.close(s->s);
}

/* db read in series order (order_tag k): planned into one chunk of at
 * least min_items items, and that chunk read into out. */
static void series_read(struct src *d, const char *db, size_t min_items, struct plist *out)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o;

	memset(&o, 0, sizeof(o));
	o.order_tag = "k";
	src_load(d, db, &o);
	assert_int_equal(d->nck, 1);
	assert_true(d->ck[0].nitems >= min_items);
	if (ifx_source_ops.read(d->s, NULL, &d->ck[0], -1, on_point, on_reject, out, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Every point of every chunk; checks keys count 0,1,2.. within a chunk and
 * that every point lies in its chunk. */
static void read_all(struct src *s, struct plist *out)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	size_t i, j;

	for (i = 0; i < s->nck; i++) {
		size_t before = out->n;

		if (ifx_source_ops.read(s->s, NULL, &s->ck[i], -1, on_point, on_reject, out, &err) < 0)
			fail_msg("%s", err.msg);
		for (j = before; j < out->n; j++) {
			const char *at = strrchr(out->v[j], '@');
			int64_t t = strtoll(at + 1, NULL, 10);

			assert_int_equal(out->keys[j], (int64_t)(j - before));
			assert_true(t >= s->ck[i].t_lo && t < s->ck[i].t_hi);
		}
	}
}

static void assert_same(struct plist *want, struct plist *got)
{
	size_t i;

	qsort(want->v, want->n, sizeof(char *), cmp_str);
	qsort(got->v, got->n, sizeof(char *), cmp_str);
	for (i = 0; i < want->n && i < got->n; i++)
		if (strcmp(want->v[i], got->v[i]))
			fail_msg("point %zu differs:\n want %s\n got  %s", i, want->v[i], got->v[i]);
	assert_int_equal(got->n, want->n);
}

/* ------------------------------------------------------------------ tests */

static const char *const escapes_lp =
	"plain,host=a,region=eu value=1.5,count=3i,ok=true,name=\"x\" 1000\n"
	"plain,host=a,region=eu value=2,count=-4i 2000\n"
	"plain,host=b value=-1.5E-3,ok=F 1500\n"
	"plain,host=b count=9223372036854775807i,big=-9223372036854775808i 2500\n"
	"plain,region=us value=1e10,exp=1.25e-300,neg=-0.0 3000\n"
	"plain,host=a,region=eu name=\"\" 4000\n"
	"plain ok=TRUE,value=123456789.125 5000\n"
	"comma\\,space\\ eq=m,tag\\,k\\ e\\=y=v\\,a\\ l\\=ue fi\\,e\\ l\\=d=1i 100\n"
	"a\"quote\\back,q=\"v\" s=\"quote \\\" back \\\\ nl\nafter\ttab\" 200\n"
	"\xe6\xb8\xa9\xe5\xba\xa6,\xc3\xbc=\xc3\xa4 \xe2\x82\xac=2.5,s=\"\xf0\x9f\x98\x80\" 300\n"
	"same,x=tagval x=7i,y=1 400\n"
	"same,x=other y=2 500\n"
	"same y=3 600\n";

static void escapes_and_types(void **state)
{
	struct plist want = { 0 }, got = { 0 };
	struct src s;
	char db[64];
	int i;

	(void)state;
	new_db(db, sizeof(db), NULL);
	write_lp(db, escapes_lp);
	parse_text(escapes_lp, &want);
	src_load(&s, db, NULL);

	/* discover: sorted names, tag keys, field types */
	assert_int_equal(s.sch.n, 5);
	assert_string_equal(s.sch.m[0].name, "a\"quote\\back");
	assert_string_equal(s.sch.m[1].name, "comma,space eq=m");
	assert_string_equal(s.sch.m[2].name, "plain");
	assert_string_equal(s.sch.m[3].name, "same");
	assert_string_equal(s.sch.m[4].name, "\xe6\xb8\xa9\xe5\xba\xa6");
	assert_int_equal(s.sch.m[1].ntags, 1);
	assert_string_equal(s.sch.m[1].tags[0], "tag,k e=y");
	assert_string_equal(s.sch.m[1].fields[0].name, "fi,e l=d");
	assert_int_equal(s.sch.m[2].ntags, 2);
	assert_string_equal(s.sch.m[2].tags[0], "host");
	assert_string_equal(s.sch.m[2].tags[1], "region");
	{
		const struct tm_measurement *m = &s.sch.m[2];
		static const char *const names[] = { "big", "count", "exp", "name", "neg", "ok", "value" };
		static const unsigned types[] = { TM_TYPE_BIT(LP_INT), TM_TYPE_BIT(LP_INT),
			TM_TYPE_BIT(LP_FLOAT), TM_TYPE_BIT(LP_STRING), TM_TYPE_BIT(LP_FLOAT),
			TM_TYPE_BIT(LP_BOOL), TM_TYPE_BIT(LP_FLOAT) };

		assert_int_equal(m->nfields, 7);
		for (i = 0; i < 7; i++) {
			assert_string_equal(m->fields[i].name, names[i]);
			assert_int_equal(m->fields[i].types, types[i]);
		}
		/* an estimate: the largest count of one field */
		assert_true(m->points >= 5 && m->points <= 7);
	}
	assert_string_equal(s.sch.m[3].tags[0], "x");      /* tag and field both 'x' */
	assert_string_equal(s.sch.m[3].fields[0].name, "x");

	read_all(&s, &got);
	assert_same(&want, &got);

	/* the same calls again, in the same order */
	{
		struct plist again = { 0 }, first = { 0 };

		read_all(&s, &first);
		read_all(&s, &again);
		assert_int_equal(first.n, again.n);
		for (i = 0; i < (int)first.n; i++)
			assert_string_equal(first.v[i], again.v[i]);
		plist_free(&first);
		plist_free(&again);
	}
	plist_free(&want);
	plist_free(&got);
	src_done(&s);
}

/* A point exactly at t_hi belongs to the next chunk; start/end filter. */
static void chunks_and_filters(void **state)
{
	struct tm_source_opts o;
	struct plist got = { 0 };
	struct src s;
	char db[64], text[1024];
	size_t i;

	(void)state;
	new_db(db, sizeof(db), NULL);
	snprintf(text, sizeof(text),
		 "m v=1 %" PRId64 "\nm v=2 %" PRId64 "\nm v=3 %" PRId64 "\nm v=4 %" PRId64
		 "\nm v=5 %" PRId64 "\n",
		 10 * HOUR, 11 * HOUR - 1, 11 * HOUR, 12 * HOUR, 13 * HOUR + 5);
	write_lp(db, text);

	memset(&o, 0, sizeof(o));
	o.chunk_ns = HOUR;
	src_load(&s, db, &o);
	assert_int_equal(s.nck, 4);
	assert_int_equal(s.ck[0].t_lo, 10 * HOUR);
	assert_int_equal(s.ck[0].t_hi, 11 * HOUR);
	assert_int_equal(s.ck[3].t_lo, 13 * HOUR);
	assert_int_equal(s.ck[3].t_hi, 13 * HOUR + 6);       /* last + 1 */
	for (i = 0; i < s.nck; i++) {
		assert_int_equal(s.ck[i].measurement, 0);
		assert_int_equal(s.ck[i].has_time, 1);
	}
	read_all(&s, &got);
	assert_int_equal(got.n, 5);
	assert_int_equal(got.keys[0], 0);
	assert_int_equal(got.keys[1], 1);   /* 11h-1 in the first chunk */
	assert_int_equal(got.keys[2], 0);   /* 11h starts the second */
	plist_free(&got);
	src_done(&s);

	/* default chunk size: whole hours, one chunk for this sparse data */
	src_load(&s, db, NULL);
	assert_true(s.nck >= 1);
	for (i = 0; i + 1 < s.nck; i++)
		assert_int_equal(s.ck[i].t_hi % HOUR, 0);
	src_done(&s);

	memset(&o, 0, sizeof(o));
	o.has_start = o.has_end = 1;
	o.start_ns = 11 * HOUR - 1;
	o.end_ns = 12 * HOUR;
	src_load(&s, db, &o);
	read_all(&s, &got);
	assert_int_equal(got.n, 2);        /* 11h-1 and 11h; 12h is excluded */
	qsort(got.v, got.n, sizeof(char *), cmp_str);
	assert_non_null(strstr(got.v[0], "float:2 @"));
	assert_non_null(strstr(got.v[1], "float:3 @"));
	plist_free(&got);
	src_done(&s);
}

/* Write text a line per request. */
static void write_lines(const char *db, const char *rp, const char *text)
{
	const char *line = text, *nl;

	while ((nl = strchr(line, '\n'))) {
		char one[256];

		snprintf(one, sizeof(one), "%.*s\n", (int)(nl - line + 1), line);
		write_lp_rp(db, rp, one);
		line = nl + 1;
	}
}

/* One field stored as float, integer, string and boolean in four shard
 * groups (1 h shards): every value arrives with its own type. */
static void type_conflict_across_shards(void **state)
{
	struct plist want = { 0 }, got = { 0 };
	struct src s;
	char db[64], text[1024];

	(void)state;
	new_db(db, sizeof(db), "WITH SHARD DURATION 1h");
	snprintf(text, sizeof(text),
		 "c,k=a f=1.5,g=1 %" PRId64 "\n"
		 "c,k=a f=2 %" PRId64 "\n"
		 "c,k=a f=9007199254740993i,g=2 %" PRId64 "\n"
		 "c,k=b f=-7i %" PRId64 "\n"
		 "c,k=a f=\"s\" %" PRId64 "\n"
		 "c,k=b f=true,g=3 %" PRId64 "\n",
		 HOUR / 2, HOUR / 2 + 1, HOUR + 10, HOUR + 20, 2 * HOUR + 1, 3 * HOUR + 1);
	/* one write per shard: a batch with a conflicting type is refused whole */
	write_lines(db, NULL, text);
	parse_text(text, &want);
	src_load(&s, db, NULL);
	assert_int_equal(s.sch.n, 1);
	assert_int_equal(s.sch.m[0].fields[0].types,
			 TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_STRING) |
			 TM_TYPE_BIT(LP_BOOL));
	assert_true(s.nck >= 4);   /* never across a shard group */
	read_all(&s, &got);
	assert_same(&want, &got);
	plist_free(&want);
	plist_free(&got);
	src_done(&s);
}

/*
 * A retention policy that is not the default: its field keys are listed a
 * measurement at a time (the default one's in one query), with every type
 * of every shard, and measurements of other policies stay out.
 */
static void other_retention_policy(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct plist want = { 0 }, got = { 0 };
	struct tm_schema def = { NULL, 0, 0 };
	struct src s;
	char db[64], text[512], q[256];
	void *h = NULL;

	(void)state;
	new_db(db, sizeof(db), "WITH SHARD DURATION 1h");
	snprintf(q, sizeof(q), "CREATE RETENTION POLICY \"other\" ON \"%s\" DURATION 0s "
		 "REPLICATION 1 SHARD DURATION 1h", db);
	influxql(q);
	write_lp(db, "only_default v=1i 5\nc,k=a f=1 5\n");
	snprintf(text, sizeof(text),
		 "c,k=a f=1.5,g=1 %" PRId64 "\n"
		 "c,k=a f=9007199254740993i %" PRId64 "\n"
		 "c,k=b f=\"s\" %" PRId64 "\n"
		 "only_other,k=x b=true %" PRId64 "\n",
		 HOUR / 2, HOUR + 10, 2 * HOUR + 1, 3 * HOUR + 1);
	write_lines(db, "other", text);
	parse_text(text, &want);

	memset(&s, 0, sizeof(s));
	if (src_open(db, "?rp=other", NULL, &s.s, &err) < 0 ||
	    ifx_source_ops.discover(s.s, &s.sch, &err) < 0 ||
	    ifx_source_ops.plan(s.s, &s.sch, &s.ck, &s.nck, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s.sch.n, 2);
	assert_string_equal(s.sch.m[0].name, "c");
	assert_string_equal(s.sch.m[1].name, "only_other");
	assert_string_equal(s.sch.m[0].fields[0].name, "f");
	assert_int_equal(s.sch.m[0].fields[0].types,
			 TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_STRING));
	assert_int_equal(s.sch.m[1].fields[0].types, TM_TYPE_BIT(LP_BOOL));
	read_all(&s, &got);
	assert_same(&want, &got);
	plist_free(&want);
	plist_free(&got);
	src_done(&s);

	/* the default policy, named or not: its own measurements only */
	assert_int_equal(src_open(db, "?rp=autogen", NULL, &h, &err), 0);
	assert_int_equal(ifx_source_ops.discover(h, &def, &err), 0);
	assert_int_equal(def.n, 2);
	assert_string_equal(def.m[0].name, "c");
	assert_int_equal(def.m[0].fields[0].types, TM_TYPE_BIT(LP_FLOAT));
	assert_string_equal(def.m[1].name, "only_default");
	tm_schema_release(&def);
	ifx_source_ops.close(h);
}

/*
 * Chunks in series order (order_tag, the narrow layout's): one query per
 * series and piece of time, the points handed on one field at a time,
 * fields bytewise, newest first; the same values as the time chunks, the
 * fields of several types too, and no piece across a shard group.
 */
static void series_order(void **state)
{
	struct plist want = { 0 }, got = { 0 };
	struct tm_source_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct src s;
	char db[64], text[1024];
	size_t i, j, k;

	(void)state;
	new_db(db, sizeof(db), "WITH SHARD DURATION 1h");
	snprintf(text, sizeof(text),
		 "c,k=b f=1.5,g=1 %" PRId64 "\n"
		 "c,k=a f=2,g=5 %" PRId64 "\n"
		 "c,k=a f=9007199254740993i,g=2 %" PRId64 "\n"
		 "c,k=b f=-7i %" PRId64 "\n"
		 "c,k=a f=\"s\" %" PRId64 "\n"
		 "c,k=b\\ x f=true,g=3 %" PRId64 "\n"
		 "c g=4 %" PRId64 "\n"
		 "d,k=it's f=1 %" PRId64 "\n",
		 HOUR / 2, HOUR / 2 + 1, HOUR + 10, HOUR + 20, 2 * HOUR + 1, 3 * HOUR + 1,
		 3 * HOUR + 2, (int64_t)10);
	write_lines(db, NULL, text);
	parse_text_split(text, &want, 1);
	memset(&o, 0, sizeof(o));
	o.order_tag = "k";
	src_load(&s, db, &o);
	assert_true(s.nck >= 1);
	for (i = 0; i < s.nck; i++) {
		size_t before = got.n;

		assert_true(s.ck[i].nitems > 0);
		for (k = 0; k < s.ck[i].nitems; k++)   /* c has a field of several types */
			if (!strcmp(s.sch.m[s.ck[i].items[k].measurement].name, "c"))
				assert_true(s.ck[i].items[k].t_hi - s.ck[i].items[k].t_lo <= HOUR);
		if (ifx_source_ops.read(s.s, NULL, &s.ck[i], -1, on_point, on_reject, &got, &err) < 0)
			fail_msg("%s", err.msg);
		for (j = before; j < got.n; j++)
			assert_int_equal(got.keys[j], (int64_t)(j - before));
	}
	/* in order: k=a's pieces newest first, each field by field (f, g)
	 * newest first; then k=b, k=b x; the points without k (their series
	 * starts "c,"), and d's last */
	assert_true(got.n == want.n);
	assert_string_equal(got.v[0], "[c] T[k]=[a] F[f]=str:1:s @7200000000001");
	assert_string_equal(got.v[1], "[c] T[k]=[a] F[f]=int:9007199254740993 @3600000000010");
	assert_string_equal(got.v[2], "[c] T[k]=[a] F[g]=float:2 @3600000000010");
	assert_string_equal(got.v[got.n - 2], "[c] F[g]=float:4 @10800000000002");
	assert_string_equal(got.v[got.n - 1], "[d] T[k]=[it's] F[f]=float:1 @10");
	assert_same(&want, &got);
	plist_free(&want);
	plist_free(&got);
	src_done(&s);
}


/*
 * Series order with tag values that are not UTF-8: InfluxDB keeps such
 * bytes, but "k"::tag = 'v' with them in v matches nothing, and every
 * point of such a series was left out without a word.  They are read
 * with the points without the tag (and the transform rejects them,
 * naming the bytes); a UTF-8 value holding a real U+FFFD, which the
 * same query matches, is read once, by its own unit.  Whole and within
 * --start/--end (counted per tag value).
 */
static void series_order_not_utf8(void **state)
{
	static const char text[] =
		"c,k=ok f=1 1000\n"
		"c,k=bad\xff\xfe f=2 2000\n"
		"c,k=bad\xff\xfe f=3,g=4 3000\n"
		"c,k=x\xef\xbf\xbdy f=5 4000\n"
		"c,k=caf\xc3\xa9 f=6 5000\n"
		"c f=7 6000\n"
		"d,k=\xc3 f=8 7000\n";
	char db[64];
	int w;

	(void)state;
	new_db(db, sizeof(db), NULL);
	write_lines(db, NULL, text);
	for (w = 0; w < 2; w++) {
		struct plist want = { 0 }, got = { 0 };
		struct ferry_error err = FERRY_ERROR_INIT;
		struct tm_source_opts o;
		struct src s;
		size_t i;

		parse_text_split(text, &want, 1);
		memset(&o, 0, sizeof(o));
		o.order_tag = "k";
		if (w) {
			o.has_start = o.has_end = 1;
			o.start_ns = 0;
			o.end_ns = 10000;
		}
		src_load(&s, db, &o);
		for (i = 0; i < s.nck; i++)
			if (ifx_source_ops.read(s.s, NULL, &s.ck[i], -1, on_point, on_reject, &got,
						&err) < 0)
				fail_msg("%s", err.msg);
		assert_int_equal(got.n, 8);   /* a point a field */
		assert_same(&want, &got);
		plist_free(&want);
		plist_free(&got);
		src_done(&s);
	}
}

static void errors(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_url *url = NULL;
	void *s = NULL;
	char db[64];

	(void)state;
	new_db(db, sizeof(db), NULL);
	/* unknown database: names what exists */
	assert_int_equal(src_open("no_such_db", NULL, NULL, &s, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "database 'no_such_db' not found on 127.0.0.1:"));
	assert_non_null(strstr(err.msg, db));
	ferry_error_clear(&err);
	/* unknown retention policy */
	assert_int_equal(src_open(db, "?rp=nope", NULL, &s, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "retention policy 'nope' not found"));
	ferry_error_clear(&err);
	/* no database in the URL */
	assert_int_equal(ferry_url_parse("influx://127.0.0.1:8086/", &url, &err), 0);
	assert_int_equal(ifx_source_ops.open(url, NULL, &s, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "influx://[user[:password]@]host[:port]/DATABASE"));
	ferry_url_free(url);
	ferry_error_clear(&err);
	/* nobody listens on port 1; the password never shows */
	assert_int_equal(ferry_url_parse("influx://u:secretpw@127.0.0.1:1/db", &url, &err), 0);
	assert_int_equal(ifx_source_ops.open(url, NULL, &s, &err), FERRY_ECONN);
	assert_non_null(strstr(err.msg, "cannot reach InfluxDB at 127.0.0.1:1: "));
	assert_null(strstr(err.msg, "secretpw"));
	ferry_url_free(url);
}

/* The measurement named n in sch. */
static const struct tm_measurement *meas_of(const struct tm_schema *sch, const char *n)
{
	size_t i;

	for (i = 0; i < sch->n; i++)
		if (!strcmp(sch->m[i].name, n))
			return &sch->m[i];
	fail_msg("no measurement '%s'", n);
	return NULL;
}

/*
 * Discovery counts the fields that are numbers or booleans, and again with
 * count(*) the measurements that count nothing so (strings only, or only
 * strings in the window): none with points may look empty to a plan, which
 * leaves such a unit out of a window (plan.c units_of).  "late" has its
 * float before the window and a string inside it.
 */
static void counts_without_strings(void **state)
{
	struct plist want = { 0 }, got = { 0 };
	struct tm_source_opts o;
	struct src s;
	const struct tm_measurement *m;
	char db[64], text[1024];
	int round;

	(void)state;
	new_db(db, sizeof(db), NULL);
	snprintf(text, sizeof(text),
		 "strs s=\"a\",t=\"b\" %" PRId64 "\n"
		 "strs s=\"c\" %" PRId64 "\n"
		 "strs,k=x s=\"d\",t=\"e\" %" PRId64 "\n"
		 "mixed,k=x value=1,state=\"1\",attr=\"w\" %" PRId64 "\n"
		 "mixed,k=x value=2,state=\"2\",attr=\"w\" %" PRId64 "\n"
		 "mixed,k=y state=\"unavailable\",attr=\"w\" %" PRId64 "\n"
		 "late value=5 %" PRId64 "\n"
		 "late state=\"on\" %" PRId64 "\n"
		 "tagged,value=a other=\"x\" %" PRId64 "\n"
		 "tagged,value=b n=1i %" PRId64 "\n"
		 "onlytag,value=z s=\"q\" %" PRId64 "\n",
		 HOUR + 1, 2 * HOUR, 2 * HOUR + 5, HOUR + 2, 2 * HOUR + 1, 2 * HOUR + 2,
		 HOUR + 3, 2 * HOUR + 3, 2 * HOUR + 6, 2 * HOUR + 7, 2 * HOUR + 8);
	write_lp(db, text);
	src_load(&s, db, NULL);
	m = meas_of(&s.sch, "strs");        /* count(*): exact */
	assert_int_equal(m->points, 3);     /* the largest count of one field */
	assert_int_equal(m->values, 5);
	m = meas_of(&s.sch, "mixed");       /* value counted, the strings estimated */
	assert_int_equal(m->points, 2);     /* today's estimate: 3 have a point */
	assert_int_equal(m->values, 2 + 2 * 2);
	m = meas_of(&s.sch, "late");
	assert_int_equal(m->points, 1);
	/* "value" is a tag there: count("value") counts nothing in them */
	assert_int_equal(meas_of(&s.sch, "tagged")->points, 1);
	assert_int_equal(meas_of(&s.sch, "onlytag")->points, 1);
	src_done(&s);

	/* a window from 1.5 h: late's float is out, its string in */
	memset(&o, 0, sizeof(o));
	o.has_start = 1;
	o.start_ns = HOUR + HOUR / 2;
	src_load(&s, db, &o);
	assert_int_equal(meas_of(&s.sch, "late")->points, 1);
	assert_int_equal(meas_of(&s.sch, "strs")->points, 2);
	src_done(&s);

	/* every point in the window comes, by time (whole points) and in
	 * series order (field by field) */
	for (round = 0; round < 2; round++) {
		static const char *const in_window =
			"strs s=\"c\" 7200000000000\n"
			"strs,k=x s=\"d\",t=\"e\" 7200000000005\n"
			"mixed,k=x value=2,state=\"2\",attr=\"w\" 7200000000001\n"
			"mixed,k=y state=\"unavailable\",attr=\"w\" 7200000000002\n"
			"late state=\"on\" 7200000000003\n"
			"tagged,value=a other=\"x\" 7200000000006\n"
			"tagged,value=b n=1i 7200000000007\n"
			"onlytag,value=z s=\"q\" 7200000000008\n";
		struct ferry_error err = FERRY_ERROR_INIT;
		size_t i;

		parse_text_split(in_window, &want, round);
		o.order_tag = round ? "k" : NULL;
		src_load(&s, db, &o);
		for (i = 0; i < s.nck; i++)
			if (ifx_source_ops.read(s.s, NULL, &s.ck[i], -1, on_point, on_reject, &got,
						&err) < 0)
				fail_msg("%s", err.msg);
		assert_same(&want, &got);
		plist_free(&want);
		plist_free(&got);
		src_done(&s);
	}
	plist_free(&want);
}

/* ---------------------------------------------- a connection cut mid-read */

/* A TCP proxy to influxd that closes both sides once `budget` response
 * bytes have passed (budget < 0: no limit). */
static int proxy_fd = -1, proxy_port;
static _Atomic long proxy_budget = -1;

static void *proxy_conn(void *arg)
{
	int c = (int)(intptr_t)arg, u = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	char buf[16384];

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(svc_get("FERRY_INFLUX_PORT")));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(u, (struct sockaddr *)&a, sizeof(a)) == 0) {
		struct pollfd p[2] = { { c, POLLIN, 0 }, { u, POLLIN, 0 } };

		for (;;) {
			ssize_t n;

			if (poll(p, 2, -1) < 0)
				break;
			if (p[0].revents) {
				if ((n = read(c, buf, sizeof(buf))) <= 0 || write(u, buf, n) != n)
					break;
			}
			if (p[1].revents) {
				long b = atomic_load(&proxy_budget), take;

				if ((n = read(u, buf, sizeof(buf))) <= 0)
					break;
				/* taken from the budget before the client has
				 * the bytes: a test that reads it after a read
				 * sees every byte counted */
				do {
					b = atomic_load(&proxy_budget);
					take = b >= 0 && n > b ? b : n;
				} while (b >= 0 &&
					 !atomic_compare_exchange_weak(&proxy_budget, &b, b - take));
				n = take;
				if (n > 0 && write(c, buf, n) != n)
					break;
				if (b >= 0 && b - take <= 0)
					break;
			}
		}
	}
	close(u);
	close(c);
	return NULL;
}

static void *proxy_main(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(proxy_fd, NULL, NULL);
		pthread_t t;

		if (c < 0)
			return NULL;
		pthread_create(&t, NULL, proxy_conn, (void *)(intptr_t)c);
		pthread_detach(t);
	}
}

static void proxy_start(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	pthread_t t;

	proxy_fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(proxy_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(proxy_fd, 16), 0);
	getsockname(proxy_fd, (struct sockaddr *)&a, &len);
	proxy_port = ntohs(a.sin_port);
	pthread_create(&t, NULL, proxy_main, NULL);
	pthread_detach(t);
}

/* FERRY_INFLUX_AHEAD_MAX for the handles opened next (NULL: unset). */
static void ahead_env(const char *ahead)
{
	if (ahead)
		setenv("FERRY_INFLUX_AHEAD_MAX", ahead, 1);
	else
		unsetenv("FERRY_INFLUX_AHEAD_MAX");
}

/* Open db through the proxy (started on first use) with o, discover and
 * plan: *s, *sch, *ck and *nck, for the caller to free. */
static void proxy_load(const char *db, const struct tm_source_opts *o, void **s,
		       struct tm_schema *sch, struct tm_chunk **ck, size_t *nck)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_url *url = NULL;
	char u[256];

	if (proxy_fd < 0)
		proxy_start();
	snprintf(u, sizeof(u), "influx://127.0.0.1:%d/%s", proxy_port, db);
	assert_int_equal(ferry_url_parse(u, &url, &err), 0);
	if (ifx_source_ops.open(url, o, s, &err) < 0 ||
	    ifx_source_ops.discover(*s, sch, &err) < 0 ||
	    ifx_source_ops.plan(*s, sch, ck, nck, &err) < 0)
		fail_msg("%s", err.msg);
	ferry_url_free(url);
}

static int count_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	(void)p; (void)err;
	++*(long *)ud;
	return 0;
}

static void cut_mid_chunk(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_schema sch = { NULL, 0, 0 };
	struct tm_chunk *ck = NULL;
	struct ferry_buf text = FERRY_BUF_INIT;
	char db[64];
	size_t nck, i;
	long seen = 0;
	void *s = NULL;
	int rc;

	(void)state;
	new_db(db, sizeof(db), NULL);
	for (i = 0; i < 30000; i++)
		assert_int_equal(ferry_buf_addf(&text, "cut,s=%zu v=%zu.5,w=\"%zu\" %zu\n", i % 7, i, i, 1000 + i), 0);
	write_lp(db, text.buf);
	ferry_buf_release(&text);
	proxy_load(db, NULL, &s, &sch, &ck, &nck);
	assert_int_equal(nck, 1);
	proxy_budget = 200000;      /* well inside the answer (~1.3 MB) */
	rc = ifx_source_ops.read(s, NULL, &ck[0], -1, count_point, on_reject, &seen, &err);
	proxy_budget = -1;
	assert_true(rc == FERRY_ECONN || rc == FERRY_EIO);
	if (!strstr(err.msg, "cannot read measurement 'cut' from 1970-01-01T00:00:00.000001000Z to"))
		fail_msg("%s", err.msg);
	assert_non_null(strstr(err.msg, "cannot read measurement 'cut' from 1970-01-01T00:00:00.000001000Z to"));
	assert_true(seen < 30000);
	/* and a full read through the proxy still works */
	seen = 0;
	ferry_error_clear(&err);
	assert_int_equal(ifx_source_ops.read(s, NULL, &ck[0], -1, count_point, on_reject, &seen, &err), 0);
	assert_int_equal(seen, 30000);
	tm_chunks_free(ck);
	tm_schema_release(&sch);
	ifx_source_ops.close(s);
}

/*
 * Series order through the proxy: six series, one item each, streamed
 * or fetched ahead of the reader.  Cut halfway through the bytes of a
 * whole read, the read fails naming the measurement, after handing on
 * whole fields of whole items only (each item's answer is one message of
 * 3000 rows: a streamed item's first field goes on when its message is
 * whole, its second once the answer ends; a fetched answer goes on once
 * whole); read again, every point comes, in the same order as without
 * the proxy.  Run with the default look-ahead (every item streamed) and
 * with FERRY_INFLUX_AHEAD_MAX=0 (the first item streamed, then the next
 * item only fetched ahead), which must not change a point.
 */
static void series_order_cut_one(const char *ahead)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o;
	struct ferry_buf text = FERRY_BUF_INIT;
	struct plist direct = { 0 }, got = { 0 };
	struct src d;
	struct tm_schema sch = { NULL, 0, 0 };
	struct tm_chunk *ck = NULL;
	char db[64];
	size_t nck = 0, i;
	long seen = 0, whole;
	void *s = NULL;
	int rc;

	ahead_env(ahead);
	new_db(db, sizeof(db), NULL);
	for (i = 0; i < 18000; i++)
		assert_int_equal(ferry_buf_addf(&text, "so,k=%c v=%zu.25,w=\"%zu-%zu\" %zu\n",
						(int)('a' + i % 6), i, i, i * 7, 1000 + i), 0);
	write_lp(db, text.buf);
	ferry_buf_release(&text);
	series_read(&d, db, 6, &direct);
	memset(&o, 0, sizeof(o));
	o.order_tag = "k";
	assert_int_equal(direct.n, 36000);
	src_done(&d);

	proxy_load(db, &o, &s, &sch, &ck, &nck);
	assert_int_equal(nck, 1);
	proxy_budget = 1L << 40;    /* counts the bytes of a whole read */
	assert_int_equal(ifx_source_ops.read(s, NULL, &ck[0], -1, count_point, on_reject, &seen,
					     &err), 0);
	whole = (1L << 40) - atomic_load(&proxy_budget);
	assert_int_equal(seen, 36000);
	seen = 0;
	proxy_budget = whole / 2;
	rc = ifx_source_ops.read(s, NULL, &ck[0], -1, count_point, on_reject, &seen, &err);
	proxy_budget = -1;
	if (rc != FERRY_ECONN && rc != FERRY_EIO)
		fail_msg("cut at %ld of %ld bytes: rc %d, %s, %ld points", whole / 2, whole, rc,
			 err.msg, seen);
	if (!strstr(err.msg, "cannot read measurement 'so'"))
		fail_msg("%s", err.msg);
	/* whole fields of whole items only: 3000 points each */
	assert_true(seen > 0 && seen < 36000);
	assert_int_equal(seen % 3000, 0);
	ferry_error_clear(&err);
	if (ifx_source_ops.read(s, NULL, &ck[0], -1, on_point, on_reject, &got, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(got.n, direct.n);
	for (i = 0; i < got.n; i++) {
		assert_string_equal(got.v[i], direct.v[i]);
		assert_int_equal(got.keys[i], (int64_t)i);
	}
	plist_free(&direct);
	plist_free(&got);
	tm_chunks_free(ck);
	tm_schema_release(&sch);
	ifx_source_ops.close(s);
	ahead_env(NULL);
}

static void series_order_cut(void **state)
{
	(void)state;
	series_order_cut_one(NULL);
	series_order_cut_one("0");
}

/* Read chunk ck of s into out (keys must count from 0), with next as the
 * hint for the read after it; the read's return code. */
static int read_hinted(void *s, const struct tm_chunk *ck, const struct tm_chunk *next,
		       struct plist *out, struct ferry_error *err)
{
	size_t before = out->n, j;
	int rc;

	ifx_source_ops.next_chunk(s, next);
	rc = ifx_source_ops.read(s, NULL, ck, -1, on_point, on_reject, out, err);
	for (j = before; rc == 0 && j < out->n; j++)
		assert_int_equal(out->keys[j], (int64_t)(j - before));
	return rc;
}

static void assert_same_order(const struct plist *want, size_t w0, const struct plist *got,
			      size_t g0, size_t n)
{
	size_t i;

	assert_true(want->n >= w0 + n && got->n == g0 + n);
	for (i = 0; i < n; i++)
		assert_string_equal(got->v[g0 + i], want->v[w0 + i]);
}

/*
 * Series order, a chunk per item (--chunk-time): told the chunk it reads
 * next (next_chunk), the reader fetches that chunk's first answer while it
 * reads the one before.  Through the proxy: every chunk read with the
 * hint gives what a plain read gives; with the proxy then passing nothing,
 * the hinted chunk still reads whole (its answer was at hand) and the one
 * after it fails (nothing was); a hint for another chunk than the one read
 * next, or one whose query InfluxDB refuses, changes nothing read.  With
 * the default look-ahead and with FERRY_INFLUX_AHEAD_MAX=0 (the carry is
 * then the item after the last one, fetched once the reader is on it).
 */
static void series_order_carry_one(const char *ahead)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o;
	struct ferry_buf text = FERRY_BUF_INIT;
	struct plist direct = { 0 }, got = { 0 };
	struct src d;
	struct tm_schema sch = { NULL, 0, 0 };
	struct tm_chunk *ck = NULL, bad;
	struct tm_item bad_item;
	size_t *at = NULL, nck = 0, i;
	char db[64];
	void *s = NULL;
	int rc;

	ahead_env(ahead);
	new_db(db, sizeof(db), NULL);
	for (i = 0; i < 2400; i++)
		assert_int_equal(ferry_buf_addf(&text, "cy,k=%c v=%zu.5,w=\"%zu\" %" PRId64 "\n",
						(int)('a' + i % 4), i, i,
						(int64_t)(i % 3) * HOUR + (int64_t)i), 0);
	write_lp(db, text.buf);
	ferry_buf_release(&text);
	memset(&o, 0, sizeof(o));
	o.order_tag = "k";
	o.chunk_ns = HOUR;
	src_load(&d, db, &o);
	/* 4 series and the points without k (none) x 3 hours, an item each */
	assert_int_equal(d.nck, 15);
	assert_non_null(at = calloc(d.nck + 1, sizeof(*at)));
	for (i = 0; i < d.nck; i++) {
		assert_int_equal(d.ck[i].nitems, 1);
		at[i] = direct.n;
		if (ifx_source_ops.read(d.s, NULL, &d.ck[i], -1, on_point, on_reject, &direct,
					&err) < 0)
			fail_msg("%s", err.msg);
	}
	at[d.nck] = direct.n;
	assert_int_equal(direct.n, 4800);
	src_done(&d);

	proxy_load(db, &o, &s, &sch, &ck, &nck);
	assert_int_equal(nck, 15);

	/* every chunk in order, each told the next */
	for (i = 0; i < nck; i++) {
		size_t g0 = got.n;

		if (read_hinted(s, &ck[i], i + 1 < nck ? &ck[i + 1] : NULL, &got, &err) < 0)
			fail_msg("chunk %zu: %s", i, err.msg);
		assert_same_order(&direct, at[i], &got, g0, at[i + 1] - at[i]);
	}

	/* chunk 1's answer comes with chunk 0's read: it reads with the
	 * server out of reach, and chunk 2 does not */
	plist_free(&got);
	assert_int_equal(read_hinted(s, &ck[0], &ck[1], &got, &err), 0);
	proxy_budget = 0;
	assert_int_equal(read_hinted(s, &ck[1], NULL, &got, &err), 0);
	assert_same_order(&direct, at[1], &got, at[1] - at[0], at[2] - at[1]);
	rc = read_hinted(s, &ck[2], NULL, &got, &err);
	assert_true(rc == FERRY_ECONN || rc == FERRY_EIO);
	ferry_error_clear(&err);
	proxy_budget = -1;

	/* a chunk that came as a carry fetches the next one's in turn */
	plist_free(&got);
	assert_int_equal(read_hinted(s, &ck[0], &ck[1], &got, &err), 0);
	assert_int_equal(read_hinted(s, &ck[1], &ck[2], &got, &err), 0);
	proxy_budget = 0;
	assert_int_equal(read_hinted(s, &ck[2], NULL, &got, &err), 0);
	assert_same_order(&direct, at[2], &got, at[2] - at[0], at[3] - at[2]);
	proxy_budget = -1;

	/* told chunk 1, then reading chunk 3: chunk 3 as it is, and nothing of
	 * chunk 1 kept */
	plist_free(&got);
	assert_int_equal(read_hinted(s, &ck[0], &ck[1], &got, &err), 0);
	assert_int_equal(read_hinted(s, &ck[3], NULL, &got, &err), 0);
	assert_same_order(&direct, at[3], &got, at[1] - at[0], at[4] - at[3]);
	proxy_budget = 0;
	rc = read_hinted(s, &ck[1], NULL, &got, &err);
	assert_true(rc == FERRY_ECONN || rc == FERRY_EIO);
	ferry_error_clear(&err);
	proxy_budget = -1;

	/* a next chunk InfluxDB refuses (its condition does not parse): the
	 * read before it is not hurt, and the next read asks again */
	bad_item = ck[1].items[0];
	bad_item.where = "\"k\"::tag = ";
	bad = ck[1];
	bad.items = &bad_item;
	plist_free(&got);
	assert_int_equal(read_hinted(s, &ck[0], &bad, &got, &err), 0);
	assert_same_order(&direct, at[0], &got, 0, at[1] - at[0]);
	assert_int_equal(read_hinted(s, &ck[1], NULL, &got, &err), 0);
	assert_same_order(&direct, at[1], &got, at[1] - at[0], at[2] - at[1]);

	/* a carry left unread goes with the handle */
	assert_int_equal(read_hinted(s, &ck[0], &ck[1], &got, &err), 0);
	free(at);
	plist_free(&direct);
	plist_free(&got);
	tm_chunks_free(ck);
	tm_schema_release(&sch);
	ifx_source_ops.close(s);
	ahead_env(NULL);
}

static void series_order_carry(void **state)
{
	(void)state;
	series_order_carry_one(NULL);
	series_order_carry_one("0");
}

/*
 * Series order, a chunk that starts without its first answer at hand: the
 * reader streams the first items newest first (struct ifx_hold) until the
 * thread takes over.  Unit a: one series of three pieces (InfluxDB sends
 * 10000 rows a message), a sparse field, a string field; unit b: two
 * series.  Streamed, a series' points come field by field (bytewise),
 * each newest first, as an answer taken whole gives them; a unit's series
 * come last first (InfluxDB's order for ORDER BY time DESC).  Read again
 * as the next chunk's carry, unit a comes whole, in the same order, and b
 * streamed again.  With the look-ahead at 0 the thread takes over after
 * unit a's first piece, and fetches unit b whole (InfluxDB sends it as a
 * message per series, all but the last "partial": not cut): its series
 * first first.  With answers capped below a series' size, the held rows
 * go on in parts: the same points; capped below a piece's, each piece's
 * fields go on in turn.
 */
/* Field f of series (k, z)'s rows [lo, hi), newest first. */
static void streamed_rows(struct plist *want, const char *k, int z, int lo, int hi, int f)
{
	static const char *const fields[] = { "f", "g", "s" };
	struct lp_tag tg[2];
	struct lp_field fl;
	char zs[8], sv[32];
	int i;

	snprintf(zs, sizeof(zs), "%d", z);
	tg[0].key.p = "k"; tg[0].key.n = 1; tg[0].val.p = k; tg[0].val.n = strlen(k);
	tg[1].key.p = "z"; tg[1].key.n = 1; tg[1].val.p = zs; tg[1].val.n = strlen(zs);
	for (i = hi - 1; i >= lo; i--) {
		fl.key.p = fields[f];
		fl.key.n = 1;
		if (f == 0) {
			fl.type = LP_FLOAT;
			fl.v.f = i + 0.5;
		} else if (f == 1) {
			if (i % 3)
				continue;
			fl.type = LP_INT;
			fl.v.i = i;
		} else {
			snprintf(sv, sizeof(sv), "v%d", i * z);
			fl.type = LP_STRING;
			fl.v.s.p = sv;
			fl.v.s.n = strlen(sv);
		}
		plist_add(want, canon((struct lp_str){ "st", 2 }, tg, 2, &fl, 1,
				      1000000 + (int64_t)i * 10 + z), 0);
	}
}

#define ST_A 25000   /* points of unit a's series */
#define ST_B 12000   /* of each of unit b's two */

static void streamed_want(struct plist *want, const char *k, int z, int n, int f)
{
	streamed_rows(want, k, z, 0, n, f);
}

/* Series (k, z) of n points streamed with every piece (10000 rows, the
 * newest first) held past whole_max: each piece's fields in turn. */
static void streamed_parts(struct plist *want, const char *k, int z, int n)
{
	int hi, f;

	for (hi = n; hi > 0; hi -= 10000)
		for (f = 0; f < 3; f++)
			streamed_rows(want, k, z, hi > 10000 ? hi - 10000 : 0, hi, f);
}

/* order: got's order is streamed's (0), whole's (1), streamed's with
 * every piece held past whole_max (2), or not checked (-1) */
static void series_order_streamed_one(const char *db, const char *ahead, const char *cap,
				      int order)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct plist streamed = { 0 }, whole = { 0 }, got = { 0 }, again = { 0 };
	struct src d;
	size_t i;
	int f, z;

	ahead_env(ahead);
	if (cap)
		setenv("FERRY_INFLUX_ANSWER_MAX", cap, 1);
	for (f = 0; f < 3; f++) {
		streamed_want(&streamed, "a", 1, ST_A, f);
		streamed_want(&whole, "a", 1, ST_A, f);
	}
	for (z = 2; z >= 1; z--)
		for (f = 0; f < 3; f++)
			streamed_want(&streamed, "b", z, ST_B, f);
	for (z = 1; z <= 2; z++)
		for (f = 0; f < 3; f++)
			streamed_want(&whole, "b", z, ST_B, f);
	series_read(&d, db, 2, &got);
	for (i = 0; i < got.n; i++)
		assert_int_equal(got.keys[i], (int64_t)i);
	/* told that it comes next, chunk 0 reads again from a carry */
	assert_int_equal(read_hinted(d.s, &d.ck[0], &d.ck[0], &again, &err), 0);
	plist_free(&again);
	assert_int_equal(read_hinted(d.s, &d.ck[0], NULL, &again, &err), 0);
	if (order == 2) {     /* every piece past whole_max */
		plist_free(&streamed);
		streamed_parts(&streamed, "a", 1, ST_A);
		streamed_parts(&streamed, "b", 2, ST_B);
		streamed_parts(&streamed, "b", 1, ST_B);
		assert_same_order(&streamed, 0, &got, 0, streamed.n);
	} else if (order >= 0) {
		assert_same_order(order ? &whole : &streamed, 0, &got, 0, streamed.n);
		assert_same_order(&streamed, 0, &again, 0, streamed.n);
	}
	assert_same(&whole, &again);
	assert_same(&streamed, &got);
	plist_free(&streamed);
	plist_free(&whole);
	plist_free(&got);
	plist_free(&again);
	src_done(&d);
	unsetenv("FERRY_INFLUX_ANSWER_MAX");
	ahead_env(NULL);
}

static void series_order_streamed(void **state)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	char db[64], g[32];
	int i, z;

	(void)state;
	new_db(db, sizeof(db), NULL);
	for (z = 0; z <= 2; z++)   /* z 0: unit a's series, z=1 */
		for (i = 0; i < (z ? ST_B : ST_A); i++) {
			g[0] = 0;
			if (i % 3 == 0)
				snprintf(g, sizeof(g), ",g=%di", i);
			assert_int_equal(ferry_buf_addf(&text, "st,k=%s,z=%d f=%d.5,s=\"v%d\"%s %d\n",
							z ? "b" : "a", z ? z : 1, i, i * (z ? z : 1),
							g, 1000000 + i * 10 + (z ? z : 1)), 0);
		}
	write_lp(db, text.buf);
	ferry_buf_release(&text);
	series_order_streamed_one(db, NULL, NULL, 0);
	/* the thread takes unit b: whole, a field at a time */
	series_order_streamed_one(db, "0", NULL, 1);
	series_order_streamed_one(db, NULL, "300000", -1);
	series_order_streamed_one(db, NULL, "1", 2);
}

/*
 * Series order, the hand-over inside a big item: ten small units (100
 * points each, about 3 KB an answer) stream past the look-ahead's
 * quarter (16 KB) before a big unit d of two series (12000 points each),
 * then a small unit e of two series.  Handed over on a small item, the
 * thread would fetch d whole while the reader waited for InfluxDB to make
 * all of it: its series first first.  The reader streams d instead (last
 * first), and the thread takes over inside it: e comes whole (first
 * first).
 */
#define HO_SMALL 10
#define HO_PTS 100

/* Unit u's tag value, its series and its points */
static void ho_unit(int u, char *k, size_t kn, int *nz, int *npts)
{
	if (u < HO_SMALL)
		snprintf(k, kn, "c%02d", u);
	else
		snprintf(k, kn, "%s", u == HO_SMALL ? "d" : "e");
	*nz = u < HO_SMALL ? 1 : 2;
	*npts = u == HO_SMALL ? ST_B : HO_PTS;
}

static void series_order_handover(void **state)
{
	struct ferry_buf text = FERRY_BUF_INIT;
	struct plist want = { 0 }, got = { 0 };
	struct src d;
	char db[64], k[8], g[32];
	int u, i, z, f, nz, npts;

	(void)state;
	new_db(db, sizeof(db), NULL);
	for (u = 0; u <= HO_SMALL + 1; u++) {
		ho_unit(u, k, sizeof(k), &nz, &npts);
		for (z = 1; z <= nz; z++)
			for (i = 0; i < npts; i++) {
				g[0] = 0;
				if (i % 3 == 0)
					snprintf(g, sizeof(g), ",g=%di", i);
				assert_int_equal(ferry_buf_addf(&text, "st,k=%s,z=%d f=%d.5,s=\"v%d\"%s %d\n",
								k, z, i, i * z, g, 1000000 + i * 10 + z), 0);
			}
	}
	write_lp(db, text.buf);
	ferry_buf_release(&text);
	for (u = 0; u < HO_SMALL; u++) {
		ho_unit(u, k, sizeof(k), &nz, &npts);
		for (f = 0; f < 3; f++)
			streamed_want(&want, k, 1, npts, f);
	}
	for (z = 2; z >= 1; z--)   /* d streamed: last first */
		for (f = 0; f < 3; f++)
			streamed_want(&want, "d", z, ST_B, f);
	for (z = 1; z <= 2; z++)   /* e whole: first first */
		for (f = 0; f < 3; f++)
			streamed_want(&want, "e", z, HO_PTS, f);
	ahead_env("65536");
	series_read(&d, db, HO_SMALL + 2, &got);
	assert_same_order(&want, 0, &got, 0, want.n);
	plist_free(&want);
	plist_free(&got);
	src_done(&d);
	ahead_env(NULL);
}

/* identity changes when points are added */
static void identity_changes(void **state)
{
	struct ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct src s;
	char db[64];

	(void)state;
	new_db(db, sizeof(db), NULL);
	write_lp(db, "m v=1 10\nm v=2 20\n");
	src_load(&s, db, NULL);
	assert_int_equal(ifx_source_ops.identity(s.s, &a, &err), 0);
	write_lp(db, "m v=3 15\n");
	assert_int_equal(ifx_source_ops.identity(s.s, &b, &err), 0);
	assert_string_not_equal(a.buf, b.buf);
	ferry_buf_release(&a);
	ferry_buf_release(&b);
	src_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_and_types),
		cmocka_unit_test(chunks_and_filters),
		cmocka_unit_test(type_conflict_across_shards),
		cmocka_unit_test(other_retention_policy),
		cmocka_unit_test(series_order),
		cmocka_unit_test(series_order_not_utf8),
		cmocka_unit_test(counts_without_strings),
		cmocka_unit_test(errors),
		cmocka_unit_test(cut_mid_chunk),
		cmocka_unit_test(series_order_cut),
		cmocka_unit_test(series_order_carry),
		cmocka_unit_test(series_order_streamed),
		cmocka_unit_test(series_order_handover),
		cmocka_unit_test(identity_changes),
	};

	if (svc_load() < 0 || !(influx = svc_get("FERRY_INFLUX_URL"))) {
		fprintf(stderr, "test_influx_source: no InfluxDB in the services env, skipping\n");
		return 77;
	}
	srand((unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
