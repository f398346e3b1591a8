/*
 * write.c - the one InfluxDB write path (tm_ifx_writer_*, tsmap.h), used
 * by `ferry copy` into influx:// and by the relay's InfluxDB sink: line
 * protocol POSTed over one keep-alive libcurl handle to
 *   1.x  /write?db=&rp=&precision=ns          (Basic auth from the URL)
 *   2.x  /api/v2/write?org=&bucket=&precision=ns  ("Authorization: Token X")
 * gzip'd unless the host is loopback (the URL's gzip= decides, as for the
 * source's answers: tm_influx_url).  The answers:
 *   204          written
 *   400, 422     lines refused: 1.x partial write, field type conflict,
 *                unable to parse (influxd keeps the good lines of the
 *                body); 2.x rejects a whole body on a 400 and keeps the
 *                good lines on a 422.  Neither says which lines, so the
 *                units are sent again by halves and a refused unit line
 *                by line: a line sent twice is stored once (one point per
 *                series and time), so whatever was kept does not double
 *   413          body too large: by halves as well (a line alone that is
 *                still too large is refused)
 *   404          database, bucket or (2.x) org not found, and 1.x's 500
 *                "retention policy not found": FERRY_ENOTFOUND (influxd
 *                never creates them on a write)
 *   401, 403     the URL's credentials: FERRY_ECONN (an operator fixes
 *                the URL; the caller keeps the points)
 *   429, 503     2.x busy: FERRY_ECONN, its Retry-After in the message
 *   5xx, no answer, a timeout: FERRY_ECONN
 * The same handle also asks SHOW DATABASES / GET /api/v2/buckets, makes
 * databases and buckets, and carries the relay's /query pass-through
 * (tm_ifx_request), so there is one owner of InfluxDB's HTTP plumbing.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "tsmap/sources/influx/influx_int.h"
#include "wire/lineproto.h"

#define IFX_W_TIMEOUT_S 30        /* a request that takes longer: down */
#define IFX_W_CONNECT_S 5
#define IFX_W_WHY 512             /* bytes kept of influxd's reason */
#define IFX_W_ANSWER_MAX (16u << 20)  /* SHOW DATABASES and the like, at most */

struct tm_ifx_writer {
	struct tm_influx_url u;
	CURL *h;
	struct ferry_buf gz, ans, url, path, msg;
	char cerr[CURL_ERROR_SIZE];
	size_t ans_max;
	long retry_after;             /* the last answer's Retry-After (s), -1 none */
	char *auth;                   /* 2.x: "Authorization: Token X" */
	size_t *uoff, *loff;          /* unit and line starts of a write, + end */
	size_t ucap, lcap;
	long missing_st;              /* the last FERRY_ENOTFOUND: influxd's status */
	char missing[256];            /* and its words */
};

/* ------------------------------------------------------------ open */

void tm_ifx_writer_close(struct tm_ifx_writer *w)
{
	if (!w)
		return;
	if (w->h)
		curl_easy_cleanup(w->h);
	ferry_buf_release(&w->gz);
	ferry_buf_release(&w->ans);
	ferry_buf_release(&w->url);
	ferry_buf_release(&w->path);
	ferry_buf_release(&w->msg);
	tm_influx_url_release(&w->u);
	ferry_free(w->auth);
	ferry_free(w->uoff);
	ferry_free(w->loff);
	ferry_free(w);
}

int tm_ifx_writer_open(const ferry_url *url, struct tm_ifx_writer **out,
		       struct ferry_error *err)
{
	struct tm_ifx_writer *w = ferry_calloc(1, sizeof(*w));
	struct ferry_buf a = FERRY_BUF_INIT;
	int rc;

	*out = NULL;
	if (!w)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	ifx_curl_global();
	if ((rc = tm_influx_url(url, &w->u, err)) < 0)
		goto fail;
	if (w->u.v2 && w->u.token) {
		if (ferry_buf_addf(&a, "Authorization: Token %s", w->u.token) < 0 ||
		    !(w->auth = ferry_buf_detach(&a, NULL))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (!(w->h = curl_easy_init())) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "cannot start a curl handle");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	ferry_buf_release(&a);
	tm_ifx_writer_close(w);
	return rc;
}

const char *tm_ifx_writer_db(const struct tm_ifx_writer *w)
{
	return w->u.db;
}

const char *tm_ifx_writer_rp(const struct tm_ifx_writer *w)
{
	return w->u.rp;
}

/* ------------------------------------------------------------ http */

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct tm_ifx_writer *w = ud;
	size_t n = size * nmemb;

	if (w->ans.len + n > w->ans_max) {
		long st = 0;

		/* an error's answer is a message: its first ans_max bytes are
		 * kept (influxd's 400 quotes a refused line whole: a 70 KB
		 * series key made InfluxDB look unreachable, and the relay
		 * answered 503 to a write InfluxDB had partly stored) */
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &st);
		if (st < 300)
			return 0;   /* curl fails the transfer: CURLE_WRITE_ERROR */
		if (ferry_buf_add(&w->ans, data, w->ans_max - w->ans.len) < 0)
			return 0;
		return n;
	}
	return ferry_buf_add(&w->ans, data, n) < 0 ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct tm_ifx_writer *w = ud;
	size_t n = size * nmemb;

	if (n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
		char num[32];
		size_t k = n - 12 < sizeof(num) - 1 ? n - 12 : sizeof(num) - 1;

		memcpy(num, data + 12, k);
		num[k] = '\0';
		w->retry_after = strtol(num, NULL, 10);
	}
	return n;
}

static int gzip_body(struct ferry_buf *gz, const char *p, size_t n)
{
	z_stream z;
	uLong bound;
	int zr;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return FERRY_ENOMEM;
	bound = deflateBound(&z, (uLong)n) + 64;
	ferry_buf_clear(gz);
	if (ferry_buf_grow(gz, bound) < 0) {
		deflateEnd(&z);
		return FERRY_ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)gz->buf;
	z.avail_out = (uInt)bound;
	zr = deflate(&z, Z_FINISH);
	if (ferry_buf_setlen(gz, z.total_out) < 0)
		zr = Z_BUF_ERROR;
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : FERRY_ENOMEM;
}

static int add_header(struct curl_slist **hdr, const char *line)
{
	struct curl_slist *h2 = curl_slist_append(*hdr, line);

	if (!h2)
		return FERRY_ENOMEM;
	*hdr = h2;
	return 0;
}

/*
 * One request rq through the keep-alive handle, its body gzip'd when gzip;
 * the answer in w->ans (at most rq->max bytes), the status in *status,
 * its content type in ctype_out (ctcap bytes; NULL: not wanted).  0,
 * FERRY_ETOOBIG (answer over max) or FERRY_ECONN when no answer came.
 */
static int request(struct tm_ifx_writer *w, const struct tm_ifx_req *rq, int gzip,
		   long *status, char *ctype_out, size_t ctcap, struct ferry_error *err)
{
	const char *method = rq->method ? rq->method : "GET", *body = rq->body;
	const char *ctype = rq->content_type;
	size_t n = rq->n, max = rq->max;
	int own_auth = rq->own_auth;
	struct curl_slist *hdr = NULL;
	char line[160];
	CURLcode cc;
	int rc = 0;

	ferry_buf_clear(&w->ans);
	ferry_buf_clear(&w->url);
	w->ans_max = max;
	w->cerr[0] = '\0';
	w->retry_after = -1;
	*status = 0;
	if (ferry_buf_addstr(&w->url, w->u.base) < 0 || ferry_buf_addstr(&w->url, rq->path) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	curl_easy_reset(w->h);   /* keeps the connection cache */
	curl_easy_setopt(w->h, CURLOPT_URL, w->url.buf);
	curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT, (long)IFX_W_TIMEOUT_S);
	curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT, (long)IFX_W_CONNECT_S);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(w->h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(w->h, CURLOPT_ERRORBUFFER, w->cerr);
	curl_easy_setopt(w->h, CURLOPT_ACCEPT_ENCODING, "");
	if (!own_auth && w->auth && add_header(&hdr, w->auth) < 0)
		goto nomem;
	if (!own_auth && !w->u.v2 && w->u.user) {
		curl_easy_setopt(w->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(w->h, CURLOPT_USERNAME, w->u.user);
		curl_easy_setopt(w->h, CURLOPT_PASSWORD, w->u.pass ? w->u.pass : "");
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(w->h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(w->h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		if (gzip) {
			if (gzip_body(&w->gz, body, n) < 0)
				goto nomem;
			body = w->gz.buf;
			n = w->gz.len;
			if (add_header(&hdr, "Content-Encoding: gzip") < 0)
				goto nomem;
		}
		if (ctype) {
			snprintf(line, sizeof(line), "Content-Type: %.140s", ctype);
			if (add_header(&hdr, line) < 0)
				goto nomem;
		}
		curl_easy_setopt(w->h, CURLOPT_POST, 1L);
		curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
		if (!strcmp(method, "GET"))
			curl_easy_setopt(w->h, CURLOPT_CUSTOMREQUEST, "GET");
	}
	if (rq->accept) {
		snprintf(line, sizeof(line), "Accept: %.140s", rq->accept);
		if (add_header(&hdr, line) < 0)
			goto nomem;
	}
	if (add_header(&hdr, "Expect:") < 0)   /* no 100-continue round trip */
		goto nomem;
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(w->h);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR && w->ans.len + 1 > w->ans_max)
			rc = ferry_error_set(err, FERRY_ETOOBIG, "the answer of InfluxDB at %s is "
					     "over %zu bytes", w->u.where, max);
		else
			rc = ferry_error_set(err, FERRY_ECONN, "cannot reach InfluxDB at %s: %s",
					     w->u.where, w->cerr[0] ? w->cerr : curl_easy_strerror(cc));
		ferry_error_origin(err, "curl %d", (int)cc);
		goto out;
	}
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, status);
	if (ctype_out) {
		char *ct = NULL;

		curl_easy_getinfo(w->h, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(ctype_out, ctcap, "%s", ct ? ct : "");
	}
out:
	curl_slist_free_all(hdr);
	return rc;
nomem:
	curl_slist_free_all(hdr);
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

/* The reason in the last answer (ifx_error_text), in w->msg. */
static const char *answer_msg(struct tm_ifx_writer *w)
{
	ferry_buf_clear(&w->msg);
	if (ifx_error_text(&w->ans, &w->msg) < 0 || !w->msg.buf)
		return "out of memory";
	return w->msg.buf;
}

int tm_ifx_request(struct tm_ifx_writer *w, const struct tm_ifx_req *rq, long *status,
		   char *ctype, size_t cap, struct ferry_buf *ans, struct ferry_error *err)
{
	int rc = request(w, rq, 0, status, ctype, cap, err);

	if (rc < 0)
		return rc;
	ferry_buf_clear(ans);
	if (w->ans.len && ferry_buf_add(ans, w->ans.buf, w->ans.len) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

long tm_ifx_writer_missing(const struct tm_ifx_writer *w, const char **msg)
{
	*msg = w->missing;
	return w->missing_st;
}

int tm_ifx_ping(struct tm_ifx_writer *w)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	long st;

	const struct tm_ifx_req rq = { .path = "/ping", .max = IFX_ERRBODY_MAX };

	return request(w, &rq, 0, &st, NULL, 0, &e) == 0 && (st == 204 || st == 200);
}

/* A refusal of the credentials (401, 403): what to fix. */
static int creds_error(struct tm_ifx_writer *w, long st, struct ferry_error *err)
{
	int rc;

	if (w->u.v2)
		rc = ferry_error_set(err, FERRY_ECONN,
			"InfluxDB at %s refused the token of the influx:// URL (HTTP %ld: %s); "
			"give a token that may write to bucket '%s' as ?token=TOKEN",
			w->u.where, st, answer_msg(w), w->u.db);
	else
		rc = ferry_error_set(err, FERRY_ECONN,
			"InfluxDB at %s refused the credentials of the influx:// URL (HTTP %ld: "
			"%s); fix the user and password (influx://USER:PASSWORD@%s/%s)",
			w->u.where, st, answer_msg(w), w->u.where, w->u.db);
	ferry_error_origin(err, "http %ld", st);
	return rc;
}

/* ------------------------------------------------------------ write */

enum { WR_OK = 0, WR_BAD, WR_TOOBIG };

/* One write: the caller's body, its units, where to tell refusals. */
struct wr {
	struct tm_ifx_writer *w;
	const char *db, *rp, *body;
	tm_ifx_refused_fn fn;
	void *ud;
	char why[IFX_W_WHY];
};

/* /write or /api/v2/write for db/rp in w->path. */
static int write_path(struct tm_ifx_writer *w, const char *db, const char *rp)
{
	char *e1 = NULL, *e2 = NULL, *e3 = NULL;
	int rc = FERRY_ENOMEM;

	ferry_buf_clear(&w->path);
	if (w->u.v2) {
		/* a 1.x database and policy map to bucket "db/rp" (2.x's DBRP
		 * convention), the relay's writes of a policy included */
		struct ferry_buf b = FERRY_BUF_INIT;

		if (ferry_buf_addstr(&b, db) < 0 || (*rp && ferry_buf_addf(&b, "/%s", rp) < 0) ||
		    !(e1 = curl_easy_escape(w->h, w->u.org, 0)) ||
		    !(e2 = curl_easy_escape(w->h, b.buf, 0))) {
			ferry_buf_release(&b);
			goto out;
		}
		ferry_buf_release(&b);
		rc = ferry_buf_addf(&w->path, "/api/v2/write?org=%s&bucket=%s&precision=ns", e1, e2);
	} else {
		if (!(e1 = curl_easy_escape(w->h, db, 0)) || !(e3 = curl_easy_escape(w->h, rp, 0)))
			goto out;
		rc = ferry_buf_addf(&w->path, "/write?db=%s&precision=ns", e1);
		if (rc == 0 && *rp)
			rc = ferry_buf_addf(&w->path, "&rp=%s", e3);
	}
out:
	curl_free(e1);
	curl_free(e2);
	curl_free(e3);
	return rc < 0 ? FERRY_ENOMEM : 0;
}

static void keep_why(struct wr *r, const char *msg)
{
	snprintf(r->why, sizeof(r->why), "%s", msg);
}

/* POST body[lo, hi): WR_OK, WR_BAD (lines refused: r->why), WR_TOOBIG (a
 * 413: r->why), or a negative FERRY_E* (err set). */
static int post(struct wr *r, size_t lo, size_t hi, struct ferry_error *err)
{
	struct tm_ifx_writer *w = r->w;
	const char *msg;
	const struct tm_ifx_req rq = { .method = "POST", .path = w->path.buf,
				       .body = r->body + lo, .n = hi - lo,
				       .content_type = "text/plain; charset=utf-8",
				       .max = IFX_ERRBODY_MAX };
	long st;
	int rc;

	if ((rc = request(w, &rq, w->u.gzip, &st, NULL, 0, err)) < 0)
		return rc == FERRY_ETOOBIG ? (err->code = FERRY_ECONN) : rc;
	if (st == 204 || st == 200)
		return WR_OK;
	msg = answer_msg(w);
	if (st == 400 || st == 422) {
		keep_why(r, msg);
		return WR_BAD;
	}
	if (st == 413) {
		keep_why(r, msg);
		return WR_TOOBIG;
	}
	if (st == 404 || (st == 500 && !strncmp(msg, "retention policy not found", 26))) {
		w->missing_st = st;
		snprintf(w->missing, sizeof(w->missing), "%s", msg);
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "%s (InfluxDB at %s)", msg, w->u.where);
	} else if (st == 401 || st == 403) {
		return creds_error(w, st, err);
	} else if ((st == 429 || st == 503) && w->retry_after >= 0) {
		rc = ferry_error_set(err, FERRY_ECONN, "InfluxDB at %s cannot take writes now (HTTP "
				     "%ld: %s); it asks to retry after %ld s", w->u.where, st, msg,
				     w->retry_after);
	} else {
		rc = ferry_error_set(err, FERRY_ECONN, "InfluxDB at %s cannot take writes now "
				     "(HTTP %ld: %s)", w->u.where, st, msg);
	}
	ferry_error_origin(err, "http %ld", st);
	return rc;
}

/* The reason of one refused line: InfluxDB's answer about the body
 * without its "partial write: " and " dropped=N" (the relay words its own
 * partial write around it, as influxd would; a reject file names lines). */
static const char *line_why(const char *why, char *out, size_t n)
{
	static const char pw[] = "partial write: ";
	const char *p = strstr(why, pw), *d = strstr(why, " dropped="), *e;
	size_t len = strlen(why);

	while (d && (e = strstr(d + 1, " dropped=")) != NULL)
		d = e;
	if (d && d[9] && strspn(d + 9, "0123456789") == strlen(d + 9))
		len = (size_t)(d - why);
	if (!p || (size_t)(p - why) > len)
		snprintf(out, n, "%.*s", (int)len, why);
	else
		snprintf(out, n, "%.*s%.*s", (int)(p - why), why,
			 (int)(len - (size_t)(p - why) - (sizeof(pw) - 1)), p + sizeof(pw) - 1);
	return out;
}

static int refuse(struct wr *r, size_t unit, size_t lo, size_t hi, struct ferry_error *err)
{
	char why[IFX_W_WHY];

	while (hi > lo && (r->body[hi - 1] == '\n' || r->body[hi - 1] == '\r'))
		hi--;
	return r->fn ? r->fn(r->ud, unit, r->body + lo, hi - lo,
			     line_why(r->why, why, sizeof(why)), err) : 0;
}

/* Starts of the non-empty lines of body[lo, hi) into *off, then hi: the
 * count of lines, or FERRY_ENOMEM.  Lines as lp_next_line cuts them: a
 * newline inside a string field value does not end one (split there, a
 * half would be written as a point of its own). */
static long lines_of(const char *body, size_t lo, size_t hi, size_t **off, size_t *cap)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *line;
	size_t nl = 0, n, at = 0;
	uint64_t lineno;

	while (lp_next_line(body + lo, hi - lo, &cur, 1, &line, &n, &lineno)) {
		if (n) {
			if (FERRY_GROW(*off, *cap, nl + 2))
				return FERRY_ENOMEM;
			(*off)[nl++] = lo + at;
		}
		at = cur.off;
	}
	if (FERRY_GROW(*off, *cap, nl + 1))
		return FERRY_ENOMEM;
	(*off)[nl] = hi;
	return (long)nl;
}

static int split_unit(struct wr *r, size_t unit, size_t lo, size_t hi, struct ferry_error *err);

/* Does the line body[lo, hi) carry field f of type ty on measurement m? */
static int line_conflicts(struct lp_scratch *sc, const char *body, size_t lo, size_t hi,
			  const char *m, const char *f, const char *ty)
{
	struct lp_point pt;
	const char *why;
	size_t i;

	while (hi > lo && (body[hi - 1] == '\n' || body[hi - 1] == '\r'))
		hi--;
	if (lp_parse_line(body + lo, hi - lo, &pt, sc, &why) != LP_POINT ||
	    pt.measurement.n != strlen(m) || memcmp(pt.measurement.p, m, pt.measurement.n))
		return 0;
	for (i = 0; i < pt.nfields; i++)
		if (pt.fields[i].key.n == strlen(f) && !memcmp(pt.fields[i].key.p, f, strlen(f)))
			return !strcmp(lp_ftype_name(pt.fields[i].type), ty);
	return 0;
}

/*
 * influxd 1.x answers a body with field type conflicts with a 400
 *   partial write: field type conflict: input field "F" on measurement "M"
 *   is type T, already exists as type U dropped=N
 * having stored every other point of the body.  It names the first
 * conflict only.  When exactly N lines of parts [lo, hi) carry F of type T
 * on M, and the other lines, sent again, are all taken (a line refused
 * once is refused again: types stay), then the N were the refused ones:
 * two requests instead of about 2N log2(lines).  1 when so (the N told),
 * 0 when not (the halving finds them), or a FERRY_E*.  Never for 2.x,
 * which refuses a whole body on a 400.
 */
static int conflict_lines(struct wr *r, const size_t *off, size_t lo, size_t hi, int lines,
			  size_t unit, struct ferry_error *err)
{
	static const char pre[] = "partial write: field type conflict: input field \"";
	char f[256], m[256], ty[16], why[IFX_W_WHY];
	struct lp_scratch sc;
	struct ferry_buf rest = FERRY_BUF_INIT;
	const char *d, *body = r->body;
	size_t i, j, n = 0, want, *loff = NULL, lcap = 0;
	int pass, rc = 0;

	if (r->w->u.v2 || strncmp(r->why, pre, sizeof(pre) - 1) ||
	    sscanf(r->why + sizeof(pre) - 1, "%255[^\"]\" on measurement \"%255[^\"]\" is type %15[a-z]",
		   f, m, ty) != 3 || !(d = strstr(r->why, " dropped=")) ||
	    sscanf(d + 9, "%zu", &want) != 1 || want == 0)
		return 0;
	memcpy(why, r->why, sizeof(why));
	lp_scratch_init(&sc);
	/* pass 0 counts and gathers the rest, pass 1 tells the refused */
	for (pass = 0; pass < 2 && rc == 0; pass++) {
		for (i = lo; i < hi && rc == 0; i++) {
			long nl = 1;

			if (!lines && (nl = lines_of(body, off[i], off[i + 1], &loff, &lcap)) < 0) {
				rc = FERRY_ENOMEM;
				break;
			}
			for (j = 0; j < (size_t)nl && rc == 0; j++) {
				size_t a = lines ? off[i] : loff[j], b = lines ? off[i + 1] : loff[j + 1];

				if (!line_conflicts(&sc, body, a, b, m, f, ty)) {
					if (pass == 0 && ferry_buf_add(&rest, body + a, b - a) < 0)
						rc = FERRY_ENOMEM;
				} else if (pass == 0) {
					n++;
				} else {
					rc = refuse(r, lines ? unit : i, a, b, err);
				}
			}
		}
		if (pass == 1 || rc)
			break;
		if (n != want) {
			rc = 1;   /* not only those: halve */
			break;
		}
		if (!rest.len)
			r->why[d - r->why] = 0;
		else {
			r->body = rest.buf;
			rc = post(r, 0, rest.len, err);
			r->body = body;
			memcpy(r->why, why, sizeof(why));
			/* each refused line's reason: the conflict, not the count */
			r->why[d - r->why] = 0;
			if (rc > WR_OK)
				rc = 1;   /* the rest was not all taken: halve */
		}
	}
	lp_scratch_release(&sc);
	ferry_buf_release(&rest);
	free(loff);
	if (rc == FERRY_ENOMEM)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rc < 0 ? rc : !rc;
}

/*
 * Parts [lo, hi) of off (part i: body[off[i], off[i + 1])) after influxd
 * refused some of them: each half is sent again until the refused parts
 * stand alone.  lines: the parts are lines of unit `unit`, else units.
 * refused: this range was just refused (r->why), do not send it again.
 * k refused lines among n cost about 2k log2(n) requests.
 */
static int halve(struct wr *r, const size_t *off, size_t lo, size_t hi, int lines,
		 size_t unit, int refused, struct ferry_error *err)
{
	size_t mid;
	int rc;

	if (off[lo] == off[hi])   /* an empty unit: nothing to refuse */
		return 0;
	if (!refused && (rc = post(r, off[lo], off[hi], err)) <= WR_OK)
		return rc;
	if ((rc = conflict_lines(r, off, lo, hi, lines, unit, err)) != 0)
		return rc < 0 ? rc : 0;
	if (hi - lo == 1)
		return lines ? refuse(r, unit, off[lo], off[hi], err) :
			       split_unit(r, lo, off[lo], off[hi], err);
	mid = lo + (hi - lo) / 2;
	if ((rc = halve(r, off, lo, mid, lines, unit, 0, err)) < 0)
		return rc;
	return halve(r, off, mid, hi, lines, unit, 0, err);
}

/* Unit body[lo, hi), refused alone (r->why): its lines. */
static int split_unit(struct wr *r, size_t unit, size_t lo, size_t hi, struct ferry_error *err)
{
	struct tm_ifx_writer *w = r->w;
	long nl = lines_of(r->body, lo, hi, &w->loff, &w->lcap);

	if (nl < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (nl == 0)
		return 0;
	if (nl == 1)
		return refuse(r, unit, w->loff[0], w->loff[1], err);
	return halve(r, w->loff, 0, (size_t)nl, 1, unit, 1, err);
}

int tm_ifx_write(struct tm_ifx_writer *w, const char *db, const char *rp, const char *body,
		 size_t n, const size_t *units, size_t nunits, tm_ifx_refused_fn fn, void *ud,
		 struct ferry_error *err)
{
	struct wr r;
	size_t i;
	long nl;
	int rc;

	if (!n)
		return 0;
	memset(&r, 0, sizeof(r));
	r.w = w;
	r.db = db && *db ? db : w->u.db;
	r.rp = rp && *rp ? rp : w->u.rp ? w->u.rp : "";
	r.body = body;
	r.fn = fn;
	r.ud = ud;
	if (write_path(w, r.db, r.rp) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = post(&r, 0, n, err)) <= WR_OK)
		return rc;
	/* refused: the unit starts (every line its own unit when none), + end */
	if (units) {
		if (FERRY_GROW(w->uoff, w->ucap, nunits + 1))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		for (i = 0; i < nunits; i++) {
			if (units[i] > n || (i ? units[i] < units[i - 1] : units[i] != 0))
				return ferry_error_set(err, FERRY_EINVAL, "unit %zu of a write to "
						       "InfluxDB starts at %zu: units must start at "
						       "0 and go up to at most %zu", i, units[i], n);
			w->uoff[i] = units[i];
		}
		w->uoff[nunits] = n;
		return nunits ? halve(&r, w->uoff, 0, nunits, 0, 0, 1, err) : 0;
	}
	if ((nl = lines_of(body, 0, n, &w->uoff, &w->ucap)) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return nl ? halve(&r, w->uoff, 0, (size_t)nl, 0, 0, 1, err) : 0;
}

/* ------------------------------------------------------------ databases */

/* A JSON answer of method path (with a JSON or form body); *st its
 * status.  The caller json_decref()s *out (NULL when not JSON). */
static int ask_json(struct tm_ifx_writer *w, const char *method, const char *path,
		    const char *body, const char *ctype, long *st, json_t **out,
		    struct ferry_error *err)
{
	const struct tm_ifx_req rq = { .method = method, .path = path, .body = body,
				       .n = body ? strlen(body) : 0, .content_type = ctype,
				       .max = IFX_W_ANSWER_MAX };
	int rc = request(w, &rq, 0, st, NULL, 0, err);

	*out = NULL;
	if (rc < 0)
		return rc == FERRY_ETOOBIG ? (err->code = FERRY_ECONN) : rc;
	if (*st == 401 || *st == 403)
		return creds_error(w, *st, err);
	*out = json_loadb(w->ans.buf ? w->ans.buf : "", w->ans.len, 0, NULL);
	return 0;
}

/* One InfluxQL statement (1.x), POSTed; its answer's first result in
 * *out (the caller json_decref()s *whole). */
static int influxql(struct tm_ifx_writer *w, const char *q, json_t **whole, json_t **res,
		    struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	char *eq = curl_easy_escape(w->h, q, 0);
	const char *e;
	long st;
	int rc;

	*whole = *res = NULL;
	if (!eq || ferry_buf_addf(&b, "q=%s", eq) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ask_json(w, "POST", "/query", b.buf, "application/x-www-form-urlencoded", &st,
			   whole, err)) < 0)
		goto out;
	*res = json_array_get(json_object_get(*whole, "results"), 0);
	e = json_string_value(json_object_get(*res, "error"));
	if (st != 200 || !*res || e) {
		rc = ferry_error_set(err, st == 200 || st == 400 ? FERRY_ESQL : FERRY_ECONN,
				     "InfluxDB at %s refused '%s' (HTTP %ld: %s)", w->u.where, q, st,
				     e ? e : answer_msg(w));
		ferry_error_origin(err, "http %ld", st);
	}
out:
	curl_free(eq);
	ferry_buf_release(&b);
	return rc;
}

/* Is name among column 0 of the first result's first series? */
static int in_values(json_t *res, const char *name)
{
	json_t *vals = json_object_get(json_array_get(json_object_get(res, "series"), 0), "values");
	size_t i;

	for (i = 0; i < json_array_size(vals); i++) {
		const char *s = json_string_value(json_array_get(json_array_get(vals, i), 0));

		if (s && !strcmp(s, name))
			return 1;
	}
	return 0;
}

/* 2.x: GET /api/v2/<what>?org=ORG[&name=NAME]; a 404 is in *st. */
static int v2_get(struct tm_ifx_writer *w, const char *what, const char *name, long *st,
		  json_t **out, struct ferry_error *err)
{
	char *eo = curl_easy_escape(w->h, w->u.org, 0);
	char *en = name ? curl_easy_escape(w->h, name, 0) : NULL;
	struct ferry_buf p = FERRY_BUF_INIT;
	int rc;

	*out = NULL;
	if (!eo || (name && !en) || ferry_buf_addf(&p, "/api/v2/%s?org=%s", what, eo) < 0 ||
	    (en && ferry_buf_addf(&p, "&name=%s", en) < 0))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = ask_json(w, "GET", p.buf, NULL, NULL, st, out, err);
	curl_free(eo);
	curl_free(en);
	ferry_buf_release(&p);
	return rc;
}

int tm_ifx_has_db(struct tm_ifx_writer *w, const char *db, struct ferry_error *err)
{
	json_t *j = NULL, *res;
	long st;
	int rc;

	if (w->u.v2) {
		if ((rc = v2_get(w, "buckets", db, &st, &j, err)) < 0)
			return rc;
		if (st == 200 && json_is_array(json_object_get(j, "buckets")))
			rc = json_array_size(json_object_get(j, "buckets")) > 0;
		else if (st == 404)
			rc = 0;
		else
			rc = ferry_error_set(err, FERRY_ECONN, "cannot list the buckets of InfluxDB "
					     "at %s (HTTP %ld: %s)", w->u.where, st, answer_msg(w));
		json_decref(j);
		return rc;
	}
	if ((rc = influxql(w, "SHOW DATABASES", &j, &res, err)) == 0)
		rc = in_values(res, db);
	else if (rc != FERRY_ENOMEM)
		rc = FERRY_ECONN;
	json_decref(j);
	return rc;
}

/* 2.x: the bucket db in the URL's org (no retention: rp has no meaning). */
static int v2_create(struct tm_ifx_writer *w, const char *db, struct ferry_error *err)
{
	json_t *j = NULL, *b = NULL;
	const char *id;
	char *body = NULL;
	long st;
	int rc;

	if ((rc = tm_ifx_has_db(w, db, err)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = v2_get(w, "orgs", NULL, &st, &j, err)) < 0)
		return rc;
	id = json_string_value(json_object_get(json_array_get(json_object_get(j, "orgs"), 0),
					       "id"));
	if (st != 200 || !id) {
		rc = ferry_error_set(err, st == 200 || st == 404 ? FERRY_ENOTFOUND : FERRY_ECONN,
				     "InfluxDB at %s has no organization '%s' (HTTP %ld: %s)",
				     w->u.where, w->u.org, st, st == 200 ? "empty list" :
				     answer_msg(w));
		goto out;
	}
	if (!(b = json_pack("{s:s, s:s, s:[]}", "orgID", id, "name", db, "retentionRules")) ||
	    !(body = json_dumps(b, JSON_COMPACT))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	json_decref(j);
	if ((rc = ask_json(w, "POST", "/api/v2/buckets", body, "application/json", &st, &j,
			   err)) < 0)
		goto out;
	if (st != 201 && st != 200 && st != 422)   /* 422: made meanwhile */
		rc = ferry_error_set(err, FERRY_ESQL, "InfluxDB at %s cannot create bucket '%s' "
				     "(HTTP %ld: %s)", w->u.where, db, st, answer_msg(w));
out:
	free(body);
	json_decref(b);
	json_decref(j);
	return rc;
}

int tm_ifx_create_db(struct tm_ifx_writer *w, const char *db, const char *rp,
		     struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	json_t *j = NULL, *res;
	int rc;

	if (w->u.v2)
		return v2_create(w, db, err);
	if (ferry_buf_addstr(&q, "CREATE DATABASE ") < 0 || ifx_add_ident(&q, db, strlen(db)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = influxql(w, q.buf, &j, &res, err)) < 0 || !rp || !*rp)
		goto out;
	json_decref(j);
	ferry_buf_clear(&q);
	if (ferry_buf_addstr(&q, "SHOW RETENTION POLICIES ON ") < 0 ||
	    ifx_add_ident(&q, db, strlen(db)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* CREATE RETENTION POLICY fails on a policy of the name with other
	 * settings: one that is there is left as it is */
	if ((rc = influxql(w, q.buf, &j, &res, err)) < 0 || in_values(res, rp))
		goto out;
	json_decref(j);
	j = NULL;
	ferry_buf_clear(&q);
	if (ferry_buf_addstr(&q, "CREATE RETENTION POLICY ") < 0 ||
	    ifx_add_ident(&q, rp, strlen(rp)) < 0 || ferry_buf_addstr(&q, " ON ") < 0 ||
	    ifx_add_ident(&q, db, strlen(db)) < 0 ||
	    ferry_buf_addstr(&q, " DURATION INF REPLICATION 1") < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = influxql(w, q.buf, &j, &res, err);
out:
	json_decref(j);
	ferry_buf_release(&q);
	return rc;
}
