/*
 * source.c - the InfluxDB source's handle: open (URL, credentials, the
 * database and retention policy checked against SHOW answers), close,
 * identity, and its point source ops table (ifx_source_ops), which the
 * connector layer wraps into the influx: connector
 * (src/lib/connectors/points.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "tsmap/sources/influx/influx_int.h"

/* ---------------------------------------------------------------- open */

struct names {
	struct ferry_buf list;   /* "a, b, c" for messages */
	const char *want;
	int found;
	char *dflt;              /* retention policies: the default one */
};

static int names_add(struct names *nm, const struct mp_val *v)
{
	if (nm->want && strlen(nm->want) == v->len && !memcmp(nm->want, v->s, v->len))
		nm->found = 1;
	if (nm->list.len && ferry_buf_addstr(&nm->list, ", ") < 0)
		return FERRY_ENOMEM;
	return ferry_buf_add(&nm->list, v->s, v->len);
}

static int db_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		  struct ferry_error *err)
{
	const struct mp_val *v = ifx_cell(s, cells, "name");

	if (v && v->t == MP_STR && names_add(c->ud, v) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int rp_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		  struct ferry_error *err)
{
	struct names *nm = c->ud;
	const struct mp_val *v = ifx_cell(s, cells, "name"), *d = ifx_cell(s, cells, "default");

	if (!v || v->t != MP_STR)
		return 0;
	if (names_add(nm, v) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (d && d->t == MP_BOOL
 && d->v.b && !nm->dflt &&
	    !(nm->dflt = ferry_strndup(v->s, v->len)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static void ifx_close(void *s)
{
	struct ifx *ix = s;

	if (!ix)
		return;
	ferry_free(ix->base);
	ferry_free(ix->where);
	ferry_free(ix->db);
	ferry_free(ix->rp);
	ferry_free(ix->user);
	ferry_free(ix->pass);
	tm_schema_release(&ix->sch);
	ferry_free(ix->meas);
	ferry_free(ix->bounds);
	ferry_free(ix->order_tag);
	ifx_carry_free(ix);
	ferry_free(ix);
}

static int is_loopback(const char *host)
{
	return !strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) ||
	       !strcmp(host, "::1");
}

static int truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		     !strcasecmp(v, "on"));
}

void tm_influx_url_release(struct tm_influx_url *u)
{
	ferry_free(u->base);
	ferry_free(u->where);
	ferry_free(u->db);
	ferry_free(u->rp);
	ferry_free(u->user);
	ferry_free(u->pass);
	ferry_free(u->org);
	ferry_free(u->token);
	memset(u, 0, sizeof(*u));
}

int tm_influx_url(const ferry_url *url, struct tm_influx_url *out, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT, w = FERRY_BUF_INIT;
	const char *db, *rp, *u, *p, *ssl, *gz, *org, *bucket, *token;
	int port, rc = 0;

	memset(out, 0, sizeof(*out));
	db = url->path ? url->path : "";
	while (*db == '/')
		db++;
	org = ferry_url_param(url, "org");
	bucket = ferry_url_param(url, "bucket");
	token = ferry_url_param(url, "token");
	if (org || bucket || token) {   /* InfluxDB 2.x */
		out->v2 = 1;
		if (bucket && *bucket)
			db = bucket;
		if (!org || !*org || !*db || !url->host || !*url->host)
			return ferry_error_set(err, FERRY_EINVAL,
				"InfluxDB 2.x URL needs a host, an org and a bucket: "
				"influx://host[:port]/?org=ORG&bucket=BUCKET&token=TOKEN");
	}
	if (!url->host || !*url->host || !*db)
		return ferry_error_set(err, FERRY_EINVAL,
			"influx URL needs a host and a database: "
			"influx://[user[:password]@]host[:port]/DATABASE[?rp=POLICY&ssl=1]");
	if (!out->v2 && strchr(db, '/'))
		return ferry_error_set(err, FERRY_EINVAL,
			"influx URL path '%s' is not a database name: "
			"influx://host[:port]/DATABASE[?rp=POLICY] (give the retention policy as ?rp=)",
			db);
	rp = ferry_url_param(url, "rp");
	u = ferry_url_param(url, "u");
	p = ferry_url_param(url, "p");
	ssl = ferry_url_param(url, "ssl");
	gz = ferry_url_param(url, "gzip");
	port = url->port ? url->port : IFX_DEFAULT_PORT;
	/* gzip costs InfluxDB about as much CPU as the query itself (a 6 MB
	 * answer: 0.15-0.23 s plain, 0.31-0.45 s gzip'd); worth it over a
	 * network, not over loopback */
	out->gzip = gz ? truthy(gz) : !is_loopback(url->host);
	rc |= ferry_buf_addf(&w, strchr(url->host, ':') ? "[%s]:%d" : "%s:%d", url->host, port);
	rc |= ferry_buf_addf(&b, "%s://%s", truthy(ssl) ? "https" : "http", w.buf ? w.buf : "");
	out->base = ferry_buf_detach(&b, NULL);
	out->where = ferry_buf_detach(&w, NULL);
	out->db = ferry_strdup(db);
	if (rp && !out->v2)   /* 2.x has buckets, not policies */
		out->rp = ferry_strdup(rp);
	if (u || url->user)
		out->user = ferry_strdup(u ? u : url->user);
	if (p || url->password)
		out->pass = ferry_strdup(p ? p : url->password);
	if (org)
		out->org = ferry_strdup(org);
	if (token)
		out->token = ferry_strdup(token);
	if (rc < 0 || !out->base || !out->where || !out->db || (rp && !out->v2 && !out->rp) ||
	    (org && !out->org) || (token && !out->token) ||
	    ((u || url->user) && !out->user) || ((p || url->password) && !out->pass)) {
		ferry_buf_release(&b);
		ferry_buf_release(&w);
		tm_influx_url_release(out);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* A number of what from the environment variable name, lo to hi; def
 * when it is not set, or (with a warning) not such a number. */
static size_t env_num(const char *name, size_t def, unsigned long long lo,
		      unsigned long long hi, const char *what)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v)
		return def;
	n = strtoull(v, &end, 10);
	if (*v && !*end && n >= lo && n <= hi)
		return (size_t)n;
	ferry_warn("ignoring %s='%s': give a number of %s from %llu to %llu", name, v, what, lo,
		   hi);
	return def;
}

static int ifx_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	struct ifx *ix = NULL;
	struct names nm;
	struct ferry_buf q = FERRY_BUF_INIT;
	struct tm_influx_url iu;
	const char *rp;
	int rc;

	memset(&nm, 0, sizeof(nm));
	ferry_buf_init(&nm.list, 0);
	if ((rc = tm_influx_url(url, &iu, err)) < 0)
		return rc;
	if (iu.v2) {
		tm_influx_url_release(&iu);
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"ferry reads InfluxDB over the 1.x /query API: give "
			"influx://host[:port]/DATABASE, not a 2.x org and bucket");
	}
	rp = ferry_url_param(url, "rp");
	if (!(ix = ferry_calloc(1, sizeof(*ix)))) {
		tm_influx_url_release(&iu);
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* the URL's strings move into the handle */
	ix->base = iu.base;
	ix->where = iu.where;
	ix->db = iu.db;
	ix->user = iu.user;
	ix->pass = iu.pass;
	ix->gzip = iu.gzip;
	ferry_free(iu.rp);   /* set below from the answer of SHOW RETENTION POLICIES */
	if (o)
		ix->o = *o;
	if (ix->o.order_tag && !(ix->order_tag = ferry_strdup(ix->o.order_tag))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	ix->o.order_tag = ix->order_tag;
	ix->whole_max = env_num("FERRY_INFLUX_ANSWER_MAX", IFX_WHOLE_MAX, 1, IFX_OBJECT_MAX,
				"bytes");
	ix->ahead_max = env_num("FERRY_INFLUX_AHEAD_MAX", IFX_AHEAD_BYTES, 0, IFX_OBJECT_MAX,
				"bytes");
	ix->max_queries = env_num("FERRY_INFLUX_MAX_QUERIES", IFX_MAX_ITEMS, 1,
				  (unsigned long long)IFX_MAX_ITEMS * 100, "queries");
	/* Reachable, credentials accepted, the database exists. */
	nm.want = ix->db;
	if ((rc = ifx_query_rows(ix, "SHOW DATABASES", db_row, &nm, NULL, err)) < 0)
		goto out;
	if (!nm.found) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"database '%s' not found on %s (it has: %s)", ix->db, ix->where,
			nm.list.len ? nm.list.buf : "no databases");
		goto out;
	}
	ferry_buf_clear(&nm.list);
	nm.found = 0;
	nm.want = rp;
	if ((rc = ferry_buf_addstr(&q, "SHOW RETENTION POLICIES ON ")) < 0 ||
	    (rc = ifx_add_ident(&q, ix->db, strlen(ix->db))) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = ifx_query_rows(ix, q.buf, rp_row, &nm, NULL, err)) < 0)
		goto out;
	if (rp && !nm.found) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"retention policy '%s' not found in database '%s' on %s (it has: %s)",
			rp, ix->db, ix->where, nm.list.len ? nm.list.buf : "none");
		goto out;
	}
	if (!rp && !nm.dflt) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"database '%s' on %s has no default retention policy: name one with ?rp= (it has: %s)",
			ix->db, ix->where, nm.list.len ? nm.list.buf : "none");
		goto out;
	}
	ix->rp_default = nm.dflt && (!rp || !strcmp(rp, nm.dflt));
	if (!(ix->rp = ferry_strdup(rp ? rp : nm.dflt))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	*out = ix;
	ix = NULL;
	rc = 0;
out:
	ifx_close(ix);
	ferry_free(nm.dflt);
	ferry_buf_release(&nm.list);
	ferry_buf_release(&q);
	return rc;
}

/* -------------------------------------------------------------- identity */

/* Per measurement: points counted and first/last time, inside --start/
 * --end when given.  Changes when points are added or deleted there (not
 * when a point is overwritten in place, nor by points outside the window). */
static int ifx_identity(void *s, struct ferry_buf *out, struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_schema sch = { NULL, 0, 0 };
	struct ifx_meas *meas = NULL;
	size_t i;
	int rc;

	if (!ix->meas) {          /* not discovered yet */
		struct tm_schema tmp = { NULL, 0, 0 };

		rc = ifx_discover(ix, &tmp, err);
		tm_schema_release(&tmp);
		if (rc < 0)
			return rc;
	}
	if ((rc = ifx_schema_copy(&ix->sch, NULL, &sch)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if (sch.n && !(meas = ferry_calloc(sch.n, sizeof(*meas)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ifx_stats(ix, &sch, meas, err)) < 0)
		goto out;
	rc = ferry_buf_addf(out, "influx %s/%s.%s", ix->where, ix->db, ix->rp);
	for (i = 0; i < sch.n && rc == 0; i++)
		rc = ferry_buf_addf(out, " %s:%" PRId64 ":%" PRId64 ":%" PRId64, sch.m[i].name,
				    sch.m[i].points, meas[i].have ? meas[i].first : 0,
				    meas[i].have ? meas[i].last : 0);
	if (rc < 0)
		rc = ferry_error_set(err, rc, "out of memory");
out:
	tm_schema_release(&sch);
	ferry_free(meas);
	return rc;
}

const struct tm_source_ops ifx_source_ops = {
	.name = "influx",
	.open = ifx_open,
	.close = ifx_close,
	.discover = ifx_discover,
	.plan = ifx_plan,
	.read = ifx_read,
	.next_chunk = ifx_next_chunk,
	.identity = ifx_identity,
	.unique_points = 1,
};
