/*
 * test_relay_metrics.c - the relay's metrics: the Prometheus text is parsed
 * strictly (every sample line "name{labels} value", # TYPE before a
 * family's samples, histogram buckets cumulative and monotone with +Inf
 * equal to _count), the JSON carries the same numbers, and adds from many
 * threads sum exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>

#include <cmocka.h>
#include <jansson.h>

#include "ferry/buf.h"
#include "relay/relay_int.h"

/* ---- a strict reader of the text exposition format ---- */

struct sample {
	char name[128];
	char labels[256];   /* inside the braces, as written */
	double value;
};

struct expo {
	struct sample s[512];
	size_t n;
	char typed[64][128];   /* family names in TYPE order */
	char types[64][16];
	size_t ntyped;
};

static const char *family_type(const struct expo *x, const char *family)
{
	size_t i;

	for (i = 0; i < x->ntyped; i++)
		if (!strcmp(x->typed[i], family))
			return x->types[i];
	return NULL;
}

/* The family a sample belongs to: histograms' _bucket/_sum/_count suffixes
 * belong to the histogram's own name. */
static const char *sample_type(const struct expo *x, const char *name, char *fam, size_t cap)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	const char *t;
	size_t i, n = strlen(name);

	snprintf(fam, cap, "%s", name);
	if ((t = family_type(x, fam)) != NULL)
		return t;
	for (i = 0; i < 3; i++) {
		size_t sl = strlen(sfx[i]);

		if (n > sl && !strcmp(name + n - sl, sfx[i])) {
			snprintf(fam, cap, "%.*s", (int)(n - sl), name);
			if ((t = family_type(x, fam)) != NULL && !strcmp(t, "histogram"))
				return t;
		}
	}
	return NULL;
}

static int valid_name(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
		      (i && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

/* labels: name="value" pairs separated by ',' with no trailing comma */
static int valid_labels(const char *s)
{
	while (*s) {
		const char *eq = strchr(s, '=');

		if (!eq || !valid_name(s, (size_t)(eq - s)) || eq[1] != '"')
			return 0;
		s = eq + 2;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			s++;
		}
		if (*s != '"')
			return 0;
		s++;
		if (*s == ',') {
			s++;
			if (!*s)
				return 0;
		} else if (*s) {
			return 0;
		}
	}
	return 1;
}

static void parse_expo(const char *text, struct expo *x)
{
	const char *p = text;

	memset(x, 0, sizeof(*x));
	assert_true(*text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[512], fam[128];
		size_t len;

		assert_non_null(nl);
		len = (size_t)(nl - p);
		assert_true(len > 0 && len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (!strncmp(line, "# HELP ", 7))
			continue;
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[128], type[16];

			assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
				    !strcmp(type, "histogram"));
			assert_null(family_type(x, name));  /* one TYPE per family */
			assert_true(x->ntyped < 64);
			strcpy(x->typed[x->ntyped], name);
			strcpy(x->types[x->ntyped++], type);
			continue;
		}
		assert_true(line[0] != '#');
		{
			struct sample *s = &x->s[x->n];
			char *sp = strrchr(line, ' '), *end, *brace;
			const char *t;

			assert_true(x->n < 512);
			assert_non_null(sp);
			*sp = '\0';
			s->value = strtod(sp + 1, &end);
			assert_true(end != sp + 1 && *end == '\0');
			if ((brace = strchr(line, '{')) != NULL) {
				size_t ll = strlen(line);

				assert_int_equal(line[ll - 1], '}');
				line[ll - 1] = '\0';
				*brace = '\0';
				assert_true(valid_labels(brace + 1));
				snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(sizeof(s->labels) - 1),
				 brace + 1);
			}
			assert_true(valid_name(line, strlen(line)));
			assert_true(!strncmp(line, "ferry_relay_", 12));
			snprintf(s->name, sizeof(s->name), "%.*s", (int)(sizeof(s->name) - 1), line);
			/* TYPE came before the sample */
			t = sample_type(x, s->name, fam, sizeof(fam));
			if (!t)
				fail_msg("sample '%s' before its # TYPE", s->name);
			if (!strcmp(t, "counter"))
				assert_true(strlen(fam) > 6 && !strcmp(fam + strlen(fam) - 6, "_total"));
			x->n++;
		}
	}
}

static const struct sample *find(const struct expo *x, const char *name, const char *labels)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (!strcmp(x->s[i].name, name) && !strcmp(x->s[i].labels, labels))
			return &x->s[i];
	return NULL;
}

static double val(const struct expo *x, const char *name, const char *labels)
{
	const struct sample *s = find(x, name, labels);

	if (!s)
		fail_msg("no sample %s{%s}", name, labels);
	return s->value;
}

/* Buckets of name with the other labels pre ("" or 'store="old",kind="x",'),
 * cumulative and monotone, +Inf == _count.  Returns the count. */
static double check_hist(const struct expo *x, const char *name, const char *pre)
{
	static const char *const le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025",
					  "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
					  "10", "+Inf" };
	char bname[160], lab[256], tail[256];
	double prev = 0, v = 0;
	size_t i, nb = 0;

	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (i = 0; i < 14; i++) {
		snprintf(lab, sizeof(lab), "%sle=\"%s\"", pre, le[i]);
		v = val(x, bname, lab);
		assert_true(v >= prev);
		prev = v;
	}
	for (i = 0; i < x->n; i++)   /* no other buckets */
		if (!strcmp(x->s[i].name, bname) && !strncmp(x->s[i].labels, pre, strlen(pre)))
			nb++;
	assert_int_equal(nb, 14);
	snprintf(tail, sizeof(tail), "%.*s", pre[0] ? (int)strlen(pre) - 1 : 0, pre);
	snprintf(bname, sizeof(bname), "%s_count", name);
	assert_true(val(x, bname, tail) == v);
	snprintf(bname, sizeof(bname), "%s_sum", name);
	(void)val(x, bname, tail);
	return v;
}

static struct relay_gauges gauges(void)
{
	struct relay_gauges g;

	memset(&g, 0, sizeof(g));
	g.phase = FERRY_PHASE_DUAL;
	g.ready = 1;
	g.spool_bytes = 1234;
	g.spool_records = 7;
	g.replay_lag_s = 1.5;
	g.store_kind[RELAY_OLD] = "influx";
	g.store_kind[RELAY_NEW] = "postgres";
	g.store_up[RELAY_OLD] = 1;
	g.store_up[RELAY_NEW] = 0;
	return g;
}

#define OLDL "store=\"old\",kind=\"influx\""
#define NEWL "store=\"new\",kind=\"postgres\""

static void test_exposition(void **state)
{
	struct relay_metrics *m;
	struct relay_gauges g = gauges();
	struct ferry_buf b = FERRY_BUF_INIT;
	static struct expo x;

	(void)state;
	assert_int_equal(relay_metrics_new(&m), 0);
	relay_metrics_add(m, RELAY_C_REQUESTS, 3);
	relay_metrics_add(m, RELAY_C_POINTS_RECEIVED, 300);
	relay_metrics_add(m, RELAY_C_REJECTS, 2);
	relay_metrics_add(m, RELAY_C_WRITE_ERRORS, 1);
	relay_metrics_add(m, RELAY_C_DEAD_LETTERS, 4);
	relay_metrics_store_add(m, RELAY_OLD, RELAY_S_POINTS_WRITTEN, 300);
	relay_metrics_store_add(m, RELAY_NEW, RELAY_S_POINTS_WRITTEN, 250);
	relay_metrics_store_add(m, RELAY_OLD, RELAY_S_WRITES, 3);
	relay_metrics_store_add(m, RELAY_NEW, RELAY_S_ERRORS, 5);
	relay_metrics_observe(m, RELAY_OLD, 0.0005);   /* le 0.001 */
	relay_metrics_observe(m, RELAY_OLD, 0.05);     /* le 0.05 exactly */
	relay_metrics_observe(m, RELAY_OLD, 0.07);     /* le 0.1 */
	relay_metrics_observe(m, RELAY_OLD, 60);       /* +Inf only */
	relay_metrics_observe(m, -1, 0.003);
	relay_metrics_observe(m, 7, 1);                /* ignored: no such store */

	assert_int_equal(relay_metrics_prometheus(m, &g, &b), 0);
	parse_expo(b.buf, &x);
	assert_true(val(&x, "ferry_relay_requests_total", "") == 3);
	assert_true(val(&x, "ferry_relay_points_received_total", "") == 300);
	assert_true(val(&x, "ferry_relay_rejects_total", "") == 2);
	assert_true(val(&x, "ferry_relay_write_errors_total", "") == 1);
	assert_true(val(&x, "ferry_relay_dead_letters_total", "") == 4);
	assert_true(val(&x, "ferry_relay_points_written_total", OLDL) == 300);
	assert_true(val(&x, "ferry_relay_points_written_total", NEWL) == 250);
	assert_true(val(&x, "ferry_relay_store_writes_total", OLDL) == 3);
	assert_true(val(&x, "ferry_relay_store_writes_total", NEWL) == 0);
	assert_true(val(&x, "ferry_relay_store_errors_total", NEWL) == 5);
	assert_true(val(&x, "ferry_relay_spool_bytes", "") == 1234);
	assert_true(val(&x, "ferry_relay_spool_records", "") == 7);
	assert_true(val(&x, "ferry_relay_replay_lag_seconds", "") == 1.5);
	assert_true(val(&x, "ferry_relay_ready", "") == 1);
	assert_true(val(&x, "ferry_relay_store_up", OLDL) == 1);
	assert_true(val(&x, "ferry_relay_store_up", NEWL) == 0);
	assert_true(val(&x, "ferry_relay_phase", "phase=\"dual\"") == 1);
	assert_string_equal(family_type(&x, "ferry_relay_write_duration_seconds"), "histogram");
	assert_string_equal(family_type(&x, "ferry_relay_spool_bytes"), "gauge");

	assert_true(check_hist(&x, "ferry_relay_write_duration_seconds", OLDL ",") == 4);
	assert_true(check_hist(&x, "ferry_relay_write_duration_seconds", NEWL ",") == 0);
	assert_true(check_hist(&x, "ferry_relay_request_duration_seconds", "") == 1);
	assert_true(val(&x, "ferry_relay_write_duration_seconds_bucket", OLDL ",le=\"0.001\"") == 1);
	assert_true(val(&x, "ferry_relay_write_duration_seconds_bucket", OLDL ",le=\"0.025\"") == 1);
	assert_true(val(&x, "ferry_relay_write_duration_seconds_bucket", OLDL ",le=\"0.05\"") == 2);
	assert_true(val(&x, "ferry_relay_write_duration_seconds_bucket", OLDL ",le=\"0.1\"") == 3);
	assert_true(val(&x, "ferry_relay_write_duration_seconds_bucket", OLDL ",le=\"10\"") == 3);
	{
		double sum = val(&x, "ferry_relay_write_duration_seconds_sum", OLDL);

		assert_true(sum > 60.1204 && sum < 60.1206);
	}

	/* a store that is absent has no series */
	g.store_kind[RELAY_NEW] = NULL;
	ferry_buf_clear(&b);
	assert_int_equal(relay_metrics_prometheus(m, &g, &b), 0);
	parse_expo(b.buf, &x);
	assert_null(find(&x, "ferry_relay_store_up", NEWL));
	assert_non_null(find(&x, "ferry_relay_store_up", OLDL));

	ferry_buf_release(&b);
	relay_metrics_free(m);
}

static void test_json(void **state)
{
	struct relay_metrics *m;
	struct relay_gauges g = gauges();
	struct ferry_buf b = FERRY_BUF_INIT;
	json_t *root, *o, *h;
	json_error_t je;
	int i;

	(void)state;
	assert_int_equal(relay_metrics_new(&m), 0);
	relay_metrics_add(m, RELAY_C_REQUESTS, 11);
	relay_metrics_store_add(m, RELAY_NEW, RELAY_S_POINTS_WRITTEN, 42);
	/* 100 observations: 90 at 2 ms (bucket le 0.0025), 10 at 0.3 s (le 0.5) */
	for (i = 0; i < 90; i++)
		relay_metrics_observe(m, RELAY_NEW, 0.002);
	for (i = 0; i < 10; i++)
		relay_metrics_observe(m, RELAY_NEW, 0.3);
	assert_int_equal(relay_metrics_json(m, &g, &b), 0);
	root = json_loads(b.buf, 0, &je);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "phase")), "dual");
	assert_int_equal(json_integer_value(json_object_get(root, "requests")), 11);
	assert_true(json_is_true(json_object_get(root, "ready")));
	assert_int_equal(json_integer_value(json_object_get(root, "spool_records")), 7);
	assert_int_equal(json_integer_value(json_object_get(root, "spool_bytes")), 1234);
	assert_true(json_real_value(json_object_get(root, "replay_lag_seconds")) == 1.5);
	o = json_object_get(json_object_get(root, "stores"), "new");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "postgres");
	assert_int_equal(json_integer_value(json_object_get(o, "points_written")), 42);
	assert_true(json_is_false(json_object_get(o, "up")));
	h = json_object_get(o, "write_duration_seconds");
	assert_int_equal(json_integer_value(json_object_get(h, "count")), 100);
	assert_true(fabs(json_real_value(json_object_get(h, "sum")) - 3.18) < 1e-6);
	/* p50: inside (0.001, 0.0025]; p95 and p99 inside (0.25, 0.5] */
	assert_true(json_real_value(json_object_get(h, "p50")) > 0.001 &&
		    json_real_value(json_object_get(h, "p50")) <= 0.0025);
	assert_true(json_real_value(json_object_get(h, "p95")) > 0.25 &&
		    json_real_value(json_object_get(h, "p95")) <= 0.5);
	assert_true(json_real_value(json_object_get(h, "p99")) >
		    json_real_value(json_object_get(h, "p95")));
	/* no requests observed: no estimate */
	h = json_object_get(root, "request_duration_seconds");
	assert_int_equal(json_integer_value(json_object_get(h, "count")), 0);
	assert_true(json_is_null(json_object_get(h, "p50")));
	json_decref(root);
	ferry_buf_release(&b);
	relay_metrics_free(m);
}

/* ---- many threads ---- */

#define NTHREADS 8
#define NITER 20000

static void *hammer(void *arg)
{
	struct relay_metrics *m = arg;
	int i;

	for (i = 0; i < NITER; i++) {
		relay_metrics_add(m, RELAY_C_REQUESTS, 1);
		relay_metrics_add(m, RELAY_C_POINTS_RECEIVED, 3);
		relay_metrics_store_add(m, i & 1 ? RELAY_NEW : RELAY_OLD, RELAY_S_WRITES, 1);
		relay_metrics_observe(m, -1, (i % 7) * 0.01);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct relay_metrics *m;
	struct relay_gauges g = gauges();
	struct ferry_buf b = FERRY_BUF_INIT;
	pthread_t t[NTHREADS];
	static struct expo x;
	int i;

	(void)state;
	assert_int_equal(relay_metrics_new(&m), 0);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(relay_metrics_prometheus(m, &g, &b), 0);
	parse_expo(b.buf, &x);
	assert_true(val(&x, "ferry_relay_requests_total", "") == NTHREADS * NITER);
	assert_true(val(&x, "ferry_relay_points_received_total", "") == 3.0 * NTHREADS * NITER);
	assert_true(val(&x, "ferry_relay_store_writes_total", OLDL) == NTHREADS * NITER / 2);
	assert_true(val(&x, "ferry_relay_store_writes_total", NEWL) == NTHREADS * NITER / 2);
	assert_true(check_hist(&x, "ferry_relay_request_duration_seconds", "") ==
		    NTHREADS * NITER);
	ferry_buf_release(&b);
	relay_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
