/*
 * http.c - the relay's HTTP front (libmicrohttpd): it answers as influxd
 * 1.8 answers, so that Telegraf, Home Assistant and device firmware keep
 * working when the relay takes influxd's place.
 *
 *   POST /write               InfluxDB 1.x; db rp precision u p
 *   POST /api/v2/write        InfluxDB 2.x compatibility; org bucket precision
 *   POST /api/v1/telemetry    device API: X-API-Key, a JSON body
 *   GET|POST /query           passed through to the InfluxDB store
 *   GET|HEAD /ping            204 (?verbose=true: 200 and the version)
 *   GET /health /ready /metrics /stats
 *   GET / /api/status         the status page and its document (status.c)
 *
 * A request's life: the first call of the access handler sees the headers
 * only; everything a header decides (route, auth, database, precision, a
 * Content-Length over the limit) is answered there, before a byte of the
 * body is read (libmicrohttpd then closes the connection instead of reading
 * the body).  The body is collected into a ferry_buf capped at max_body,
 * inflated on the way when it is gzip (the cap is on the decoded bytes, so
 * a small gzip bomb is a 413, not a full memory).  The last call, once the
 * whole body is in, does the work and queues the answer.  A client that
 * goes away before that never reaches the last call: the completion
 * callback frees the request and nothing was written.
 *
 * Threads: a pool of cfg->threads libmicrohttpd threads (epoll); a
 * handler blocks its thread while relay.c commits the write (a group
 * commit of a few ms), so the pool size bounds the writes in flight.
 *
 * Answers (http_answer.c): every one carries X-Influxdb-Version "1.8.10-ferry" (influxd 1.8's
 * API, and who is answering), X-Influxdb-Build OSS, and X-Request-Id and
 * Request-Id (the client's, else a random UUID).  Errors: a JSON body
 * {"error":"..."} ({"code","message"} on /api/v2/write) and
 * X-InfluxDB-Error with the message's first 1024 bytes; a 401 carries
 * WWW-Authenticate: Basic realm="InfluxDB" instead, as influxd's does.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "relay/http_int.h"

static int metrics_on(const struct relay_http *h)
{
	return h->cfg.metrics != NULL;
}

static void count(struct relay_http *h, int counter, uint64_t n)
{
	if (metrics_on(h) && n)
		relay_metrics_add(h->cfg.metrics, counter, n);
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}


/* ------------------------------------------------------------ body */

/* Add n bytes of the decoded body; over the cap: too_big, the rest is
 * read and dropped (the answer is given once the client has sent it). */
static void body_add(struct relay_req *r, const char *p, size_t n)
{
	if (r->too_big || !n)
		return;
	if (ferry_buf_add(&r->body, p, n) < 0)
		r->too_big = 1;   /* ETOOBIG; ENOMEM is told apart at the end */
}

static void body_gunzip(struct relay_req *r, const char *p, size_t n)
{
	char out[16384];
	int zr;

	if (r->gz_err[0] || r->too_big)
		return;
	if (!r->gz_init) {
		memset(&r->z, 0, sizeof(r->z));
		if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK) {
			snprintf(r->gz_err, sizeof(r->gz_err), "out of memory");
			return;
		}
		r->gz_init = 1;
	}
	r->z.next_in = (Bytef *)(uintptr_t)p;
	r->z.avail_in = (uInt)n;
	while (r->z.avail_in && !r->too_big) {
		if (r->gz_done) {
			/* another gzip member after the first (gzip -c a b) */
			if (inflateReset(&r->z) != Z_OK) {
				snprintf(r->gz_err, sizeof(r->gz_err), "gzip: cannot restart the stream");
				return;
			}
			r->gz_done = 0;
		}
		uInt before = r->z.avail_in;

		r->z.next_out = (Bytef *)out;
		r->z.avail_out = sizeof(out);
		zr = inflate(&r->z, Z_NO_FLUSH);
		body_add(r, out, sizeof(out) - r->z.avail_out);
		if (zr == Z_STREAM_END) {
			r->gz_done = 1;
		} else if (zr == Z_BUF_ERROR && r->z.avail_in == before &&
			   r->z.avail_out == sizeof(out)) {
			/* no progress with input and room left: never loop on it */
			snprintf(r->gz_err, sizeof(r->gz_err), "gzip: invalid compressed data");
			return;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			snprintf(r->gz_err, sizeof(r->gz_err), "gzip: %s",
				 r->z.msg ? r->z.msg : "invalid compressed data");
			return;
		}
	}
}

static void body_take(struct relay_req *r, const char *p, size_t n)
{
	if (r->gz)
		body_gunzip(r, p, n);
	else
		body_add(r, p, n);
}

/* After the last byte: 0, or the answer for a body that cannot be used
 * was queued (*done). */
static int body_check(struct MHD_Connection *c, struct relay_req *r, enum MHD_Result *done)
{
	if (r->too_big) {
		if (ferry_buf_error(&r->body) == FERRY_ENOMEM)
			*done = relay_http_error(c, r, 500, "out of memory");
		else
			*done = relay_http_error(c, r, 413, "http: request body too large");
		return 1;
	}
	if (r->gz && !r->gz_err[0] && r->gz_init && !r->gz_done)
		snprintf(r->gz_err, sizeof(r->gz_err), "gzip: unexpected EOF");
	if (r->gz_err[0]) {
		*done = relay_http_error(c, r, 400, "%s", r->gz_err);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ routes */

static enum relay_route route_of(const char *url, const char *method, int *allowed)
{
	static const struct {
		const char *path, *methods;
		enum relay_route r;
	} t[] = {
		{ "/write", "POST", RELAY_R_WRITE },
		{ "/api/v2/write", "POST", RELAY_R_WRITE2 },
		{ "/api/v1/telemetry", "POST", RELAY_R_TELEMETRY },
		{ "/query", "GET POST", RELAY_R_QUERY },
		{ "/ping", "GET HEAD", RELAY_R_PING },
		{ "/health", "GET HEAD", RELAY_R_HEALTH },
		{ "/ready", "GET HEAD", RELAY_R_READY },
		{ "/metrics", "GET HEAD", RELAY_R_METRICS },
		{ "/stats", "GET HEAD", RELAY_R_STATS },
		{ "/", "GET HEAD", RELAY_R_PAGE },
		{ "/status.js", "GET HEAD", RELAY_R_PAGE },
		{ "/status.css", "GET HEAD", RELAY_R_PAGE },
		{ "/api/status", "GET HEAD", RELAY_R_STATUS },
	};
	size_t i, ml = strlen(method);

	*allowed = 0;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *m = t[i].methods, *e;

		if (strcmp(url, t[i].path))
			continue;
		for (; *m; m = *e ? e + 1 : e) {
			e = strchr(m, ' ');
			if (!e)
				e = m + strlen(m);
			if ((size_t)(e - m) == ml && !strncmp(m, method, ml))
				*allowed = 1;
		}
		return t[i].r;
	}
	return RELAY_R_NONE;
}

/* The checks a write's headers decide (auth, database, precision, size):
 * 0 to read the body, else the answer was queued (*done). */
static int write_headers(struct MHD_Connection *c, struct relay_req *r, enum MHD_Result *done)
{
	struct relay_http *h = r->h;
	const char *db, *prec = relay_http_arg(c, "precision");

	if (relay_http_auth(c, r, done))
		return 1;
	if (r->route == RELAY_R_WRITE2) {
		const char *b = relay_http_arg(c, "bucket");

		if (!b || !*b) {
			*done = relay_http_error(c, r, 400, "bucket is required");
			return 1;
		}
		/* "db/rp" or "db": as influxd 1.8 maps a bucket */
		db = b;
	} else {
		db = relay_http_arg(c, "db");
	}
	if (!db || !*db) {
		*done = relay_http_error(c, r, 400, "database is required");
		return 1;
	}
	if (r->route == RELAY_R_WRITE2 && strchr(db, '/')) {
		char d[256];
		size_t k = (size_t)(strchr(db, '/') - db);

		if (k >= sizeof(d)) {
			*done = relay_http_error(c, r, 400, "bucket name too long");
			return 1;
		}
		memcpy(d, db, k);
		d[k] = '\0';
		if (h->ops->has_db && !h->ops->has_db(h->ud, d)) {
			*done = relay_http_error(c, r, 404, "database not found: \"%s\"", d);
			return 1;
		}
	} else if (h->ops->has_db && !h->ops->has_db(h->ud, db)) {
		*done = relay_http_error(c, r, 404, "database not found: \"%s\"", db);
		return 1;
	}
	r->prec = LP_PREC_NS;
	if (prec && *prec) {
		int bad = lp_precision_parse(prec, &r->prec) < 0;

		/* the 2.x API knows ns us ms s only; 1.x /write knows n ns u
		 * ms s m h and refuses the rest, "us" too (influxd 1.8's
		 * serveWriteV1; 1.6 took it, and any other word, for ns: taken
		 * for microseconds here, the two stores were 1000x apart) */
		if (r->route == RELAY_R_WRITE2 && (r->prec == LP_PREC_M || r->prec == LP_PREC_H))
			bad = 1;
		if (r->route != RELAY_R_WRITE2 && !strcmp(prec, "us"))
			bad = 1;
		if (bad) {
			*done = relay_http_error(c, r, 400, "invalid precision \"%s\" (use %s)", prec,
					   r->route == RELAY_R_WRITE2 ? "ns, us, ms or s" :
					   "n, u, ms, s, m or h");
			return 1;
		}
	}
	return 0;
}

static int telemetry_headers(struct MHD_Connection *c, struct relay_req *r, enum MHD_Result *done)
{
	struct relay_http *h = r->h;
	const char *key = relay_http_header(c, "X-API-Key");
	int k;

	if (!key || !*key) {
		*done = relay_http_error(c, r, 401, "an X-API-Key header is required");
		return 1;
	}
	k = h->ops->device ? h->ops->device(h->ud, key, r->device, sizeof(r->device)) : -1;
	if (k == 0) {
		*done = relay_http_error(c, r, 401, "unknown API key");
		return 1;
	}
	if (k < 0) {
		*done = relay_http_error(c, r, 503, "cannot look up the API key now: the device table cannot be read; try again");
		return 1;
	}
	return 0;
}

/* The answer of a write once the points are checked (both write APIs and
 * the device API): ops->write, then influxd's wording. */
static enum MHD_Result do_write(struct MHD_Connection *c, struct relay_req *r, const char *db,
				const char *rp, struct relay_points *pts)
{
	struct relay_http *h = r->h;
	struct relay_answer ans;
	enum MHD_Result ok;
	int st;

	count(h, RELAY_C_POINTS_RECEIVED, pts->npoints);
	count(h, RELAY_C_REJECTS, pts->nrejected);
	if (!pts->npoints) {
		/* influxd: an empty batch is a 204 (Home Assistant's start-up
		 * check writes one); only bad lines: 400 with the first reason */
		if (pts->nrejected)
			return relay_http_error(c, r, 400, "%s", pts->why);
		return relay_http_send(c, r, 204, NULL, "", 0, NULL);
	}
	relay_answer_init(&ans);
	/* 0: the status is in ans (relay.c); an op may also return it */
	st = h->ops->write(h->ud, db, rp, pts, &ans);
	if (st == 0)
		st = ans.status;
	if (st >= 200 && st < 300) {
		if (pts->nrejected)
			ok = relay_http_error(c, r, 400, "partial write: %s dropped=%zu", pts->why,
					pts->nrejected);
		else
			ok = relay_http_send(c, r, 204, NULL, "", 0, NULL);
	} else {
		const char *m = ans.body.len ? ans.body.buf :
				st == 404 ? "database not found" :
				st == 503 ? "the relay cannot take writes now; try again" :
				st == 400 ? "bad request" : "internal error";

		if (st < 400 || st > 599)
			st = 500;
		if (st >= 500)
			count(h, RELAY_C_WRITE_ERRORS, 1);
		ok = relay_http_error(c, r, st, "%s", m);
	}
	relay_answer_release(&ans);
	return ok;
}

static enum MHD_Result finish_write(struct MHD_Connection *c, struct relay_req *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_points pts;
	char dbb[256];
	const char *db, *rp;
	enum MHD_Result ok;

	if (r->route == RELAY_R_WRITE2) {
		const char *b = relay_http_arg(c, "bucket"), *sl = strchr(b, '/');

		snprintf(dbb, sizeof(dbb), "%.*s", sl ? (int)(sl - b) : (int)strlen(b), b);
		db = dbb;
		rp = sl ? sl + 1 : "";
	} else {
		db = relay_http_arg(c, "db");
		rp = relay_http_arg(c, "rp");
		if (!rp)
			rp = "";
	}
	relay_points_init(&pts);
	if (relay_ingest_lp(r->body.buf, r->body.len, r->prec, now_ns(), &pts, &err) < 0)
		ok = relay_http_error(c, r, 500, "%s", err.msg);
	else
		ok = do_write(c, r, db, rp, &pts);
	relay_points_release(&pts);
	return ok;
}

static enum MHD_Result finish_telemetry(struct MHD_Connection *c, struct relay_req *r)
{
	struct relay_http *h = r->h;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_points pts;
	const char *db = relay_http_arg(c, "db");
	enum MHD_Result ok;
	int rc;

	relay_points_init(&pts);
	rc = relay_ingest_telemetry(r->body.buf, r->body.len,
				    h->cfg.telemetry_measurement ? h->cfg.telemetry_measurement :
				    "telemetry", r->device, now_ns(), &pts, &err);
	if (rc == FERRY_EPARSE) {
		count(h, RELAY_C_REJECTS, 1);
		ok = relay_http_error(c, r, 400, "%s", err.msg);
	} else if (rc < 0) {
		ok = relay_http_error(c, r, 500, "%s", err.msg);
	} else {
		/* no ?db=: "" for the relay's own database */
		ok = do_write(c, r, db ? db : "", "", &pts);
	}
	relay_points_release(&pts);
	return ok;
}

/* The query string as the client sent it, re-encoded from the arguments
 * libmicrohttpd decoded. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *k,
			       const char *v)
{
	struct ferry_buf *b = cls;
	const char *s;
	int i, rc = 0;

	(void)kind;
	if (b->len)
		rc |= ferry_buf_addch(b, '&');
	for (i = 0; i < 2; i++) {
		if (i && !v)
			break;
		if (i)
			rc |= ferry_buf_addch(b, '=');
		for (s = i ? v : k; *s; s++) {
			unsigned char ch = (unsigned char)*s;

			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
				rc |= ferry_buf_addch(b, ch);
			else
				rc |= ferry_buf_addf(b, "%%%02X", ch);
		}
	}
	return rc ? MHD_NO : MHD_YES;
}

static enum MHD_Result finish_query(struct MHD_Connection *c, struct relay_req *r, const char *method)
{
	struct relay_http *h = r->h;
	struct ferry_buf qs = FERRY_BUF_INIT;
	struct relay_answer ans;
	struct relay_query q;
	enum MHD_Result ok;
	int rc;

	relay_answer_init(&ans);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &qs);
	if (ferry_buf_error(&qs)) {
		ok = relay_http_error(c, r, 500, "out of memory");
		goto out;
	}
	if (!h->ops->query) {
		ok = relay_http_error(c, r, 502, "no InfluxDB behind the relay to pass /query to");
		goto out;
	}
	/* the Accept header too: influxd answers CSV or MessagePack for it */
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.query = qs.buf;
	q.body = r->body.buf;
	q.n = r->body.len;
	q.content_type = relay_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	q.accept = relay_http_header(c, MHD_HTTP_HEADER_ACCEPT);
	rc = h->ops->query(h->ud, &q, &ans);
	if (rc < 0) {
		ok = relay_http_error(c, r, 502, "cannot pass /query to InfluxDB%s%s", ans.body.len ? ": " : "",
				ans.body.len ? ans.body.buf : " (it cannot be reached)");
		goto out;
	}
	ok = relay_http_send(c, r, ans.status ? ans.status : 200,
			 ans.content_type[0] ? ans.content_type : "application/json",
			 ans.body.buf, ans.body.len, NULL);
out:
	relay_answer_release(&ans);
	ferry_buf_release(&qs);
	return ok;
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, struct relay_req *r, int prom)
{
	struct relay_http *h = r->h;
	struct relay_gauges g;
	struct ferry_buf out = FERRY_BUF_INIT;
	enum MHD_Result ok;
	int rc;

	if (!metrics_on(h))
		return relay_http_error(c, r, 503, "metrics are not enabled in this relay");
	memset(&g, 0, sizeof(g));
	if (h->ops->gauges)
		h->ops->gauges(h->ud, &g);
	rc = prom ? relay_metrics_prometheus(h->cfg.metrics, &g, &out) :
		    relay_metrics_json(h->cfg.metrics, &g, &out);
	if (rc < 0 || ferry_buf_error(&out))
		ok = relay_http_error(c, r, 500, "out of memory");
	else
		ok = relay_http_send(c, r, 200, prom ? "text/plain; version=0.0.4; charset=utf-8" :
				 "application/json", out.buf, out.len, NULL);
	ferry_buf_release(&out);
	return ok;
}

/* Answers that need no body: on the first call. */
static enum MHD_Result serve_now(struct MHD_Connection *c, struct relay_req *r)
{
	struct relay_http *h = r->h;
	const char *v;

	switch (r->route) {
	case RELAY_R_PING:
		v = relay_http_arg(c, "verbose");
		if (v && *v && strcmp(v, "0") && strcmp(v, "false"))
			return relay_http_text(c, r, 200, "application/json",
					 "{\"version\":\"" RELAY_HTTP_VERSION "\"}\n");
		return relay_http_send(c, r, 204, NULL, "", 0, NULL);
	case RELAY_R_HEALTH:
		/* liveness: a store outage must not fail it (a restart would
		 * not help and would drop the spool's replay) */
		return relay_http_text(c, r, 200, "application/json",
				 "{\"name\":\"ferry-relay\",\"message\":\"ready for queries and writes\","
				 "\"status\":\"pass\",\"checks\":[],\"version\":\"" RELAY_HTTP_VERSION "\"}\n");
	case RELAY_R_READY:
		if (h->ops->ready && h->ops->ready(h->ud))
			return relay_http_text(c, r, 200, "application/json", "{\"status\":\"ready\"}\n");
		return relay_http_text(c, r, 503, "application/json", "{\"status\":\"not ready\"}\n");
	case RELAY_R_METRICS:
		return serve_metrics(c, r, 1);
	case RELAY_R_STATS:
		return serve_metrics(c, r, 0);
	default:
		return relay_http_error(c, r, 500, "internal error: route %d", (int)r->route);
	}
}

/* ------------------------------------------------------------ handler */

static enum MHD_Result count_cl(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	(void)value;
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		(*(int *)cls)++;
	return MHD_YES;
}

static enum MHD_Result first_call(struct relay_http *h, struct MHD_Connection *c,
				  const char *url, const char *method, void **con_cls)
{
	struct relay_req *r = ferry_calloc(1, sizeof(*r));
	const char *cl, *ce;
	enum MHD_Result done = MHD_YES;
	int allowed;

	if (!r)
		return MHD_NO;
	*con_cls = r;
	r->h = h;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	ferry_buf_init(&r->body, h->cfg.max_body);
	relay_http_request_id(c, r);
	r->route = route_of(url, method, &allowed);
	r->v2 = r->route == RELAY_R_WRITE2;
	if (r->route == RELAY_R_NONE)
		return relay_http_error(c, r, 404, "404 page not found");
	if (!allowed)
		return relay_http_error(c, r, 405, "method %s not allowed on %s", method, url);
	switch (r->route) {
	case RELAY_R_WRITE:
	case RELAY_R_WRITE2:
		count(h, RELAY_C_REQUESTS, 1);
		if (write_headers(c, r, &done))
			return done;
		break;
	case RELAY_R_TELEMETRY:
		count(h, RELAY_C_REQUESTS, 1);
		if (telemetry_headers(c, r, &done))
			return done;
		break;
	case RELAY_R_QUERY:
		if (relay_http_auth(c, r, &done))
			return done;
		break;
	case RELAY_R_PAGE:
	case RELAY_R_STATUS:
		/* the plan names stores, hosts and commands: with auth on, the
		 * relay's credentials (a browser asks for them: Basic) */
		if (relay_http_auth(c, r, &done))
			return done;
		return r->route == RELAY_R_PAGE ? relay_status_page(c, r, url) :
		       relay_status_api(c, r);
	default:
		return serve_now(c, r);
	}
	/* two lengths: which body is this? (a proxy before the relay may
	 * have taken the other; influxd's Go server refuses it so) */
	{
		int ncl = 0;

		MHD_get_connection_values(c, MHD_HEADER_KIND, count_cl, &ncl);
		if (ncl > 1)
			return relay_http_error(c, r, 400, "http: message cannot contain multiple "
						"Content-Length headers");
	}
	cl = relay_http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && h->cfg.max_body && strtoull(cl, NULL, 10) > h->cfg.max_body)
		return relay_http_error(c, r, 413, "http: request body too large");
	ce = relay_http_header(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (ce && !strcasecmp(ce, "gzip"))
		r->gz = 1;
	else if (ce && *ce && strcasecmp(ce, "identity"))
		return relay_http_error(c, r, 415, "unsupported Content-Encoding \"%s\" (use gzip)", ce);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **con_cls)
{
	struct relay_http *h = cls;
	struct relay_req *r = *con_cls;
	enum MHD_Result done = MHD_YES, ok;

	(void)version;
	if (!r)
		return first_call(h, c, url, method, con_cls);
	if (*upload_size) {
		body_take(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (body_check(c, r, &done))
		return done;
	switch (r->route) {
	case RELAY_R_WRITE:
	case RELAY_R_WRITE2:
		ok = finish_write(c, r);
		break;
	case RELAY_R_TELEMETRY:
		ok = finish_telemetry(c, r);
		break;
	case RELAY_R_QUERY:
		ok = finish_query(c, r, method);
		break;
	default:
		ok = relay_http_error(c, r, 500, "internal error: route %d", (int)r->route);
	}
	if (r->route != RELAY_R_QUERY && metrics_on(h))
		relay_metrics_observe(h->cfg.metrics, -1, since(&r->t0));
	return ok;
}

/* The end of a request, answered or not (a client gone mid-body: it was
 * never handed on, nothing was written). */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct relay_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	if (r->gz_init)
		inflateEnd(&r->z);
	ferry_buf_release(&r->body);
	ferry_free(r);
	*con_cls = NULL;
}

/* ------------------------------------------------------------ daemon */

/* "HOST:PORT", ":PORT", "[V6]:PORT" -> host (empty: every address), port. */
static int split_listen(const char *s, char *host, size_t cap, char *port, size_t pcap)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e || e[1] != ':')
			return -1;
		hl = (size_t)(e - s - 1);
		s++;
		colon = e + 1;
	} else {
		if (!(colon = strrchr(s, ':')))
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl >= cap || strlen(colon + 1) >= pcap || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

int relay_http_start(const struct relay_http_cfg *cfg, const struct relay_http_ops *ops,
		     void *ud, struct relay_http **out, struct ferry_error *err)
{
	struct relay_http *h;
	struct addrinfo hints, *ai = NULL;
	const union MHD_DaemonInfo *di;
	char host[96], port[16];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	unsigned threads;
	long ncpu;
	int rc = 0, e;

	if (!cfg->listen || split_listen(cfg->listen, host, sizeof(host), port, sizeof(port)) < 0)
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid listen address '%s' (use HOST:PORT, :PORT or [IPV6]:PORT)",
				       cfg->listen ? cfg->listen : "");
	if (!ops || !ops->write)
		return ferry_error_set(err, FERRY_EINVAL, "relay http: no write operation given");
	if (!(h = ferry_calloc(1, sizeof(*h))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	h->cfg = *cfg;
	if (!h->cfg.max_body)
		h->cfg.max_body = 25000000;   /* influxd's max-body-size */
	h->ops = ops;
	h->ud = ud;
	snprintf(h->listen, sizeof(h->listen), "%s", cfg->listen);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	threads = cfg->threads > 0 ? (unsigned)cfg->threads : 4 * (unsigned)(ncpu > 0 ? ncpu : 1);
	if (host[0]) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		if ((e = getaddrinfo(host, port, &hints, &ai)) != 0) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "cannot listen on '%s': %s",
					     cfg->listen, gai_strerror(e));
			goto out;
		}
		if (ai->ai_family == AF_INET6)
			flags |= MHD_USE_IPv6;
	}
	errno = 0;
	h->d = MHD_start_daemon(flags, (uint16_t)atoi(port), NULL, NULL, on_request, h,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_THREAD_POOL_SIZE, threads,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
				MHD_OPTION_CONNECTION_TIMEOUT, 120u,
				MHD_OPTION_CONNECTION_LIMIT, 4096u,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
				ai ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END,
				ai ? ai->ai_addr : NULL, MHD_OPTION_END);
	if (!h->d) {
		e = errno;
		rc = ferry_error_set(err, FERRY_EIO,
				     "cannot listen on '%s': %s (is another server using the port? choose another with --listen)",
				     cfg->listen, e ? strerror(e) : "libmicrohttpd could not start");
		goto out;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : atoi(port);
	*out = h;
	h = NULL;
out:
	if (ai)
		freeaddrinfo(ai);
	ferry_free(h);
	return rc;
}

int relay_http_port(const struct relay_http *h)
{
	return h->port;
}

void relay_http_stop(struct relay_http *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);      /* joins the threads: requests in flight end */
	ferry_free(h);
}
