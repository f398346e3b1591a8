/*
 * store_influx.c - the InfluxDB 1.x sink of the relay: line protocol over
 * HTTP with libcurl (one easy handle per store, its connection kept alive
 * between writes), and the /query pass-through.
 *
 * A write posts the records to /write?db=&rp=&precision=ns, the records
 * of one database and retention policy in one body, gzip'd unless the
 * server is on loopback (the influx:// URL's gzip= decides, as for the
 * source: tm_influx_url).  influxd's answers:
 *   204          written
 *   400          some lines refused (partial write, field type conflict,
 *                unable to parse): influxd has kept the good ones, but does
 *                not say which lines it dropped, so each record is sent
 *                again alone, and a refused one line by line; influxd
 *                overwrites a point with the same series and time, so a
 *                line sent twice is stored once
 *   404          database not found: influxd 1.x does not create databases
 *                on /write, so every point of the record is refused with
 *                that reason (dead letters, not a retry forever); the same
 *                for a 500 "retention policy not found" (influxd 1.6)
 *   401, 403     the URL's credentials: FERRY_ECONN (a configuration
 *                problem that the operator fixes; the spool keeps the data)
 *   413          body too large: the records again one by one
 *   5xx, no answer, a timeout: FERRY_ECONN
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/url.h"
#include "relay/store.h"
#include "tsmap/tsmap.h"

#define IFX_TIMEOUT_S 30          /* a write or query that takes longer: down */
#define IFX_CONNECT_S 5
#define IFX_ERRBODY_MAX 65536     /* bytes kept of an error answer */
#define IFX_ANSWER_MAX (256u << 20)  /* a /query answer passed through, at most */
#define IFX_DB_REFRESH_S 3        /* SHOW DATABASES again after a miss, at most this often */

/* One curl handle and its buffers, used by one thread at a time. */
struct hconn {
	pthread_mutex_t lock;
	CURL *h;
	struct ferry_buf gz, ans, url;
	char cerr[CURL_ERROR_SIZE];
	size_t ans_max;
	int lock_made;
};

/* Writes go through w; /ping, /query and SHOW DATABASES through q, so
 * that the HTTP threads of the relay never wait behind a write. */
struct relay_ifx {
	struct tm_influx_url u;
	struct hconn w, q;
	struct ferry_buf body;
	char **dbs;                   /* SHOW DATABASES, cached (under q.lock) */
	size_t ndbs;
	time_t dbs_at;                /* when asked; 0 never */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void dbs_free(struct relay_ifx *x)
{
	size_t i;

	for (i = 0; i < x->ndbs; i++)
		ferry_free(x->dbs[i]);
	ferry_free(x->dbs);
	x->dbs = NULL;
	x->ndbs = 0;
}

static int hconn_init(struct hconn *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->lock_made = 1;
	return (c->h = curl_easy_init()) != NULL ? 0 : FERRY_ENOMEM;
}

static void hconn_release(struct hconn *c)
{
	if (!c->lock_made)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	ferry_buf_release(&c->gz);
	ferry_buf_release(&c->ans);
	ferry_buf_release(&c->url);
	pthread_mutex_destroy(&c->lock);
}

void relay_ifx_close(struct relay_ifx *x)
{
	if (!x)
		return;
	hconn_release(&x->w);
	hconn_release(&x->q);
	tm_influx_url_release(&x->u);
	ferry_buf_release(&x->body);
	dbs_free(x);
	ferry_free(x);
}

int relay_ifx_open(const char *url, struct relay_ifx **out, struct ferry_error *err)
{
	struct relay_ifx *x = ferry_calloc(1, sizeof(*x));
	ferry_url *u = NULL;
	int rc;

	*out = NULL;
	if (!x)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pthread_once(&curl_once, curl_setup);
	if ((rc = ferry_url_parse(url, &u, err)) < 0 || (rc = tm_influx_url(u, &x->u, err)) < 0)
		goto fail;
	if (hconn_init(&x->w) < 0 || hconn_init(&x->q) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "cannot start a curl handle");
		goto fail;
	}
	ferry_url_free(u);
	*out = x;
	return 0;
fail:
	ferry_url_free(u);
	relay_ifx_close(x);
	return rc;
}

/* ------------------------------------------------------------ http */

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct hconn *c = ud;
	size_t n = size * nmemb;

	if (c->ans.len + n > c->ans_max)
		return 0;   /* curl fails the transfer: CURLE_WRITE_ERROR */
	return ferry_buf_add(&c->ans, data, n) < 0 ? 0 : n;
}

static int gzip_body(struct hconn *c, const char *p, size_t n)
{
	z_stream z;
	uLong bound;
	int zr;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return FERRY_ENOMEM;
	bound = deflateBound(&z, (uLong)n) + 64;

	ferry_buf_clear(&c->gz);
	if (ferry_buf_grow(&c->gz, bound) < 0) {
		deflateEnd(&z);
		return FERRY_ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)c->gz.buf;
	z.avail_out = (uInt)bound;
	zr = deflate(&z, Z_FINISH);
	if (ferry_buf_setlen(&c->gz, z.total_out) < 0)
		zr = Z_BUF_ERROR;
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : FERRY_ENOMEM;
}

/*
 * One request: method, path and query after the base URL, the body (NULL:
 * none) with its content type, through c (locked by the caller); the
 * answer in c->ans (at most max bytes),
 * the status in *status.  0, or FERRY_ECONN when no answer came.
 */
static int request(struct relay_ifx *x, struct hconn *c, const char *method, const char *pathq,
		   const char *body, size_t n, const char *ctype, int gzip, int auth,
		   size_t max, long *status, char *ctype_out, size_t ctcap,
		   struct ferry_error *err)
{
	struct curl_slist *hdr = NULL, *h2;
	CURLcode cc;
	char line[160];
	int rc = 0;

	ferry_buf_clear(&c->ans);
	ferry_buf_clear(&c->url);
	c->ans_max = max;
	c->cerr[0] = '\0';
	*status = 0;
	if (ferry_buf_addstr(&c->url, x->u.base) < 0 || ferry_buf_addstr(&c->url, pathq) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	curl_easy_reset(c->h);   /* keeps the connection cache */
	curl_easy_setopt(c->h, CURLOPT_URL, c->url.buf);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, (long)IFX_TIMEOUT_S);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, (long)IFX_CONNECT_S);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->cerr);
	curl_easy_setopt(c->h, CURLOPT_ACCEPT_ENCODING, "");
	if (auth && x->u.user) {
		curl_easy_setopt(c->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c->h, CURLOPT_USERNAME, x->u.user);
		curl_easy_setopt(c->h, CURLOPT_PASSWORD, x->u.pass ? x->u.pass : "");
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		if (gzip) {
			if (gzip_body(c, body, n) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			body = c->gz.buf;
			n = c->gz.len;
			if (!(h2 = curl_slist_append(hdr, "Content-Encoding: gzip")))
				goto nomem;
			hdr = h2;
		}
		if (ctype) {
			snprintf(line, sizeof(line), "Content-Type: %.140s", ctype);
			if (!(h2 = curl_slist_append(hdr, line)))
				goto nomem;
			hdr = h2;
		}
		curl_easy_setopt(c->h, CURLOPT_POST, 1L);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
		if (!strcmp(method, "GET"))
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, "GET");
	}
	if (!(h2 = curl_slist_append(hdr, "Expect:")))  /* no 100-continue round trip */
		goto nomem;
	hdr = h2;
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(c->h);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR && c->ans.len + 1 > c->ans_max)
			rc = ferry_error_set(err, FERRY_ETOOBIG, "the answer of %s is over %zu bytes",
					     x->u.where, max);
		else
			rc = ferry_error_set(err, FERRY_ECONN, "cannot reach InfluxDB at %s: %s",
					     x->u.where, c->cerr[0] ? c->cerr : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
	if (ctype_out) {
		char *ct = NULL;

		curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(ctype_out, ctcap, "%s", ct ? ct : "");
	}
out:
	curl_slist_free_all(hdr);
	return rc;
nomem:
	curl_slist_free_all(hdr);
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

/* influxd's {"error":"..."} (else the answer as text), cut to cap bytes. */
static void answer_error(const struct hconn *c, char *out, size_t cap)
{
	json_error_t je;
	json_t *j = json_loadb(c->ans.buf ? c->ans.buf : "", c->ans.len, 0, &je);
	const char *s = j ? json_string_value(json_object_get(j, "error")) : NULL;

	if (s)
		snprintf(out, cap, "%s", s);
	else
		snprintf(out, cap, "%.*s", (int)(c->ans.len > 200 ? 200 : c->ans.len),
			 c->ans.buf ? c->ans.buf : "");
	json_decref(j);
	if (!out[0])
		snprintf(out, cap, "empty answer");
}

/* ------------------------------------------------------------ write */

static void cut_copy(char *dst, size_t cap, const char *src)
{
	size_t l = strlen(src);

	if (l >= cap)
		l = cap - 1;
	memcpy(dst, src, l);
	dst[l] = '\0';
}

enum { WR_OK = 0, WR_BAD, WR_NODB, WR_TOOBIG };

static const char *rec_db(const struct relay_ifx *x, const struct relay_rec *r)
{
	return r->db && *r->db ? r->db : x->u.db;
}

static const char *rec_rp(const struct relay_ifx *x, const struct relay_rec *r)
{
	return r->rp && *r->rp ? r->rp : x->u.rp ? x->u.rp : "";
}

/* POST body to /write for db/rp: WR_OK, WR_BAD (a 400: why set), WR_NODB (a
 * 404), WR_TOOBIG (a 413), or a negative code (FERRY_ECONN: try later). */
static int post(struct relay_ifx *x, const char *db, const char *rp, const char *body,
		size_t n, char *why, size_t wcap, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	char *edb = curl_easy_escape(x->w.h, db, 0), *erp = curl_easy_escape(x->w.h, rp, 0);
	char msg[512];
	long st;
	int rc, e = 0;

	if (!edb || !erp) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	e |= ferry_buf_addf(&q, "/write?db=%s&precision=ns", edb);
	if (*rp)
		e |= ferry_buf_addf(&q, "&rp=%s", erp);
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = request(x, &x->w, "POST", q.buf, body, n, "text/plain; charset=utf-8", x->u.gzip, 1,
			  IFX_ERRBODY_MAX, &st, NULL, 0, err)) < 0)
		goto out;
	if (st == 204 || st == 200) {
		rc = WR_OK;
		goto out;
	}
	answer_error(&x->w, msg, sizeof(msg));
	if (st == 400 || st == 404 ||
	    (st == 500 && !strncmp(msg, "retention policy not found", 26))) {
		cut_copy(why, wcap, msg);
		rc = st == 400 ? WR_BAD : WR_NODB;
	} else if (st == 413) {
		cut_copy(why, wcap, msg);
		rc = WR_TOOBIG;
	} else if (st == 401 || st == 403) {
		rc = ferry_error_set(err, FERRY_ECONN,
			"InfluxDB at %s refused the credentials of the influx:// URL (HTTP %ld: %s); "
			"fix the user and password, the points wait in the spool", x->u.where, st, msg);
	} else {
		rc = ferry_error_set(err, FERRY_ECONN, "InfluxDB at %s cannot take writes now "
				     "(HTTP %ld: %s)", x->u.where, st, msg);
	}
out:
	curl_free(edb);
	curl_free(erp);
	ferry_buf_release(&q);
	return rc;
}

static int add_bad(struct relay_rec *r, const char *line, size_t n, const char *why)
{
	if (!r->nbad++)
		snprintf(r->why, sizeof(r->why), "%s", why);
	if (!r->bad)
		return 0;
	if (ferry_buf_add(r->bad, line, n) < 0 || ferry_buf_addch(r->bad, '\n') < 0)
		return FERRY_ENOMEM;
	return 0;
}

/*
 * Lines [lo, hi) of record r (line i is the bytes off[i]..off[i+1]) after
 * influxd refused some of them: each half is sent again until the refused
 * lines stand alone (influxd has kept the good points of a refused body,
 * and keeps one point per series and time, so a line sent twice is stored
 * once).  k refused lines among n cost about 2k log2(n) requests.
 * refused: this range was just refused with why, do not send it again.
 */
static int bisect(struct relay_ifx *x, struct relay_rec *r, const size_t *off, size_t lo,
		  size_t hi, int refused, char *why, size_t wcap, struct ferry_error *err)
{
	size_t mid, i;
	int rc;

	if (!refused) {
		why[0] = '\0';
		rc = post(x, rec_db(x, r), rec_rp(x, r), r->lp + off[lo], off[hi] - off[lo], why,
			  wcap, err);
		if (rc <= WR_OK)
			return rc;
		if (rc == WR_NODB) {   /* dropped since: every line of the range */
			for (i = lo; i < hi; i++)
				if (add_bad(r, r->lp + off[i], off[i + 1] - off[i] -
					    (r->lp[off[i + 1] - 1] == '\n'), why) < 0)
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			return 0;
		}
	}
	if (hi - lo == 1) {
		if (add_bad(r, r->lp + off[lo], off[hi] - off[lo] - (r->lp[off[hi] - 1] == '\n'),
			    why) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		return 0;
	}
	mid = lo + (hi - lo) / 2;
	if ((rc = bisect(x, r, off, lo, mid, 0, why, wcap, err)) < 0)
		return rc;
	return bisect(x, r, off, mid, hi, 0, why, wcap, err);
}

/* A record influxd refused some of (why): which lines. */
static int by_line(struct relay_ifx *x, struct relay_rec *r, char *why, size_t wcap,
		   struct ferry_error *err)
{
	const char *p = r->lp, *end = r->lp + r->n;
	size_t *off, nl = 0, cap = 64;
	int rc = 0;

	if (!(off = ferry_malloc(cap * sizeof(*off))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t len = e ? (size_t)(e - p) + 1 : (size_t)(end - p);

		if (nl + 2 > cap) {
			size_t *o = ferry_realloc(off, cap * 2 * sizeof(*off));

			if (!o) {
				ferry_free(off);
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			off = o;
			cap *= 2;
		}
		off[nl++] = (size_t)(p - r->lp);
		p += len;
	}
	off[nl] = r->n;
	if (nl)
		rc = bisect(x, r, off, 0, nl, 1, why, wcap, err);
	ferry_free(off);
	return rc;
}

/* Every point of the record refused for one reason (an unknown database). */
static int all_bad(struct relay_rec *r, const char *why, struct ferry_error *err)
{
	const char *p = r->lp, *end = r->lp + r->n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ln = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (ln && add_bad(r, p, ln, why) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		p += ln + 1;
	}
	return 0;
}

/* One record alone, and what to do about its answer. */
static int one_rec(struct relay_ifx *x, struct relay_rec *r, struct ferry_error *err)
{
	char why[256] = "";
	int rc = post(x, rec_db(x, r), rec_rp(x, r), r->lp, r->n, why, sizeof(why), err);

	if (rc == WR_BAD || rc == WR_TOOBIG)
		return by_line(x, r, why, sizeof(why), err);
	if (rc == WR_NODB)
		return all_bad(r, why, err);
	return rc;
}

static int ifx_write(struct relay_ifx *x, struct relay_rec *recs, size_t n,
		     struct ferry_error *err)
{
	size_t i = 0, k, j;
	int rc = 0;

	for (k = 0; k < n; k++) {
		recs[k].nbad = 0;
		recs[k].why[0] = '\0';
	}
	while (i < n && rc >= 0) {
		char why[256] = "";

		/* the records of one database and retention policy, one body */
		ferry_buf_clear(&x->body);
		for (j = i; j < n && !strcmp(rec_db(x, &recs[j]), rec_db(x, &recs[i])) &&
			    !strcmp(rec_rp(x, &recs[j]), rec_rp(x, &recs[i])); j++)
			if (ferry_buf_add(&x->body, recs[j].lp, recs[j].n) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (x->body.len == 0) {
			i = j;
			continue;
		}
		if (j - i == 1) {
			rc = one_rec(x, &recs[i], err);
		} else {
			rc = post(x, rec_db(x, &recs[i]), rec_rp(x, &recs[i]), x->body.buf,
				  x->body.len, why, sizeof(why), err);
			if (rc == WR_NODB) {
				for (k = i, rc = 0; k < j && rc == 0; k++)
					rc = all_bad(&recs[k], why, err);
			} else if (rc == WR_BAD || rc == WR_TOOBIG) {
				/* which lines: each record alone, then line by line */
				for (k = i, rc = 0; k < j && rc == 0; k++)
					rc = one_rec(x, &recs[k], err);
			}
		}
		i = j;
	}
	if (rc < 0)
		for (k = 0; k < n; k++)
			recs[k].nbad = 0;
	return rc < 0 ? rc : 0;
}

int relay_ifx_write(struct relay_ifx *x, struct relay_rec *recs, size_t n,
		    struct ferry_error *err)
{
	int rc;

	pthread_mutex_lock(&x->w.lock);
	rc = ifx_write(x, recs, n, err);
	pthread_mutex_unlock(&x->w.lock);
	return rc;
}

/* ------------------------------------------------------------ the rest */

int relay_ifx_ping(struct relay_ifx *x)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	long st;
	int rc;

	pthread_mutex_lock(&x->q.lock);
	rc = request(x, &x->q, "GET", "/ping", NULL, 0, NULL, 0, 1, IFX_ERRBODY_MAX, &st, NULL, 0,
		     &e);
	pthread_mutex_unlock(&x->q.lock);
	return rc == 0 && (st == 204 || st == 200);
}

static int dbs_load(struct relay_ifx *x, struct ferry_error *err)
{
	json_error_t je;
	json_t *j, *vals;
	char msg[256];
	long st;
	size_t i, nv;
	int rc;

	if ((rc = request(x, &x->q, "GET", "/query?q=SHOW%20DATABASES", NULL, 0, NULL, 0, 1,
			  16u << 20, &st, NULL, 0, err)) < 0)
		return rc == FERRY_ETOOBIG ? FERRY_ECONN : rc;
	if (st != 200) {
		answer_error(&x->q, msg, sizeof(msg));
		return ferry_error_set(err, FERRY_ECONN,
				       "cannot list the databases of InfluxDB at %s (HTTP %ld: %s)",
				       x->u.where, st, msg);
	}
	if (!(j = json_loadb(x->q.ans.buf ? x->q.ans.buf : "", x->q.ans.len, 0, &je)))
		return ferry_error_set(err, FERRY_ECONN, "InfluxDB at %s answered SHOW DATABASES "
				       "with something that is not JSON: %s", x->u.where, je.text);
	vals = json_object_get(json_array_get(json_object_get(json_array_get(
		json_object_get(j, "results"), 0), "series"), 0), "values");
	nv = json_array_size(vals);
	dbs_free(x);
	x->dbs = ferry_calloc(nv + 1, sizeof(char *));
	for (i = 0; x->dbs && i < nv; i++) {
		const char *s = json_string_value(json_array_get(json_array_get(vals, i), 0));

		if (s && !(x->dbs[x->ndbs++] = ferry_strdup(s)))
			break;
	}
	json_decref(j);
	if (!x->dbs || i < nv) {
		dbs_free(x);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	x->dbs_at = time(NULL);
	return 0;
}

static int has_db(struct relay_ifx *x, const char *db, struct ferry_error *err)
{
	size_t i;
	int rc;

	for (i = 0; i < x->ndbs; i++)
		if (!strcmp(x->dbs[i], db))
			return 1;
	/* a miss asks again, at most every few seconds (a database made since) */
	if (x->dbs_at && time(NULL) - x->dbs_at < IFX_DB_REFRESH_S)
		return 0;
	if ((rc = dbs_load(x, err)) < 0)
		return rc;
	for (i = 0; i < x->ndbs; i++)
		if (!strcmp(x->dbs[i], db))
			return 1;
	return 0;
}

int relay_ifx_has_db(struct relay_ifx *x, const char *db, struct ferry_error *err)
{
	int rc;

	pthread_mutex_lock(&x->q.lock);
	rc = has_db(x, db, err);
	pthread_mutex_unlock(&x->q.lock);
	return rc;
}

/* Does the client's query string carry credentials (u= or p=)? */
static int has_creds(const char *q)
{
	const char *p;

	for (p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "u=", 2) || !strncmp(p, "p=", 2))
			return 1;
	return 0;
}

int relay_ifx_query(struct relay_ifx *x, const char *method, const char *query,
		    const char *body, size_t n, const char *content_type,
		    struct relay_answer *ans, struct ferry_error *err)
{
	struct ferry_buf pq = FERRY_BUF_INIT;
	long st;
	int rc;

	if (ferry_buf_addstr(&pq, "/query") < 0 ||
	    (query && *query && (ferry_buf_addch(&pq, '?') < 0 ||
				 ferry_buf_addstr(&pq, query) < 0))) {
		ferry_buf_release(&pq);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&x->q.lock);
	rc = request(x, &x->q, method ? method : "GET", pq.buf, n || (method && !strcmp(method, "POST")) ?
		     (body ? body : "") : NULL, n, content_type, 0, !has_creds(query),
		     IFX_ANSWER_MAX, &st, ans->content_type, sizeof(ans->content_type), err);
	ferry_buf_release(&pq);
	if (rc == 0) {
		ans->status = (int)st;
		ferry_buf_clear(&ans->body);
		if (x->q.ans.len && ferry_buf_add(&ans->body, x->q.ans.buf, x->q.ans.len) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&x->q.lock);
	return rc;
}
