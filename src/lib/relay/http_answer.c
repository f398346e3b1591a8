/*
 * http_answer.c - the answers of the relay's HTTP front in influxd's form:
 * the headers every answer carries (X-Influxdb-Version "1.8.10-ferry",
 * X-Influxdb-Build OSS, X-Request-Id and Request-Id), error bodies
 * ({"error":..} or, on /api/v2/write, {"code":..,"message":..}) with
 * X-InfluxDB-Error, and influxd's ways of sending credentials.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "model/value.h"
#include "relay/http_int.h"

#define RELAY_ERR_HEADER_MAX 1024

void relay_answer_init(struct relay_answer *a)
{
	a->status = 0;
	a->content_type[0] = '\0';
	ferry_buf_init(&a->body, 0);
}

void relay_answer_release(struct relay_answer *a)
{
	ferry_buf_release(&a->body);
	a->status = 0;
	a->content_type[0] = '\0';
}

/* ------------------------------------------------------------ answers */

/* The client's request id if it sent a usable one, else a random UUID. */
void relay_http_request_id(struct MHD_Connection *c, struct relay_req *r)
{
	const char *id = relay_http_header(c, "X-Request-Id");
	unsigned char b[16];
	size_t i;

	if (!id || !*id)
		id = relay_http_header(c, "Request-Id");
	if (id && *id && strlen(id) < sizeof(r->rid)) {
		for (i = 0; id[i]; i++)
			if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
				break;
		if (!id[i]) {
			strcpy(r->rid, id);
			return;
		}
	}
	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* no entropy yet (early boot): unique enough for a log key */
		struct timespec t;
		static unsigned long seq;

		clock_gettime(CLOCK_REALTIME, &t);
		memcpy(b, &t, sizeof(b) < sizeof(t) ? sizeof(b) : sizeof(t));
		b[15] ^= (unsigned char)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
	snprintf(r->rid, sizeof(r->rid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

/* The headers every answer has. */
void relay_http_headers(struct MHD_Response *resp, const struct relay_req *r)
{
	MHD_add_response_header(resp, "X-Influxdb-Version", RELAY_HTTP_VERSION);
	MHD_add_response_header(resp, "X-Influxdb-Build", "OSS");
	MHD_add_response_header(resp, "X-Request-Id", r->rid);
	MHD_add_response_header(resp, "Request-Id", r->rid);
}

/* Queue status with body (copied) and the headers every answer has. */
enum MHD_Result relay_http_send(struct MHD_Connection *c, struct relay_req *r, int status,
				   const char *ctype, const char *body, size_t n,
				   const char *errmsg)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	resp = MHD_create_response_from_buffer(n, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	relay_http_headers(resp, r);
	if (ctype && *ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == 401) {
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"InfluxDB\"");
	} else if (errmsg) {
		/* a header value: one line, at most 1024 bytes (influxd's cut) */
		char hv[RELAY_ERR_HEADER_MAX + 1];
		size_t i;

		for (i = 0; errmsg[i] && i < RELAY_ERR_HEADER_MAX; i++)
			hv[i] = (unsigned char)errmsg[i] < 0x20 || errmsg[i] == 0x7f ? ' ' : errmsg[i];
		hv[i] = '\0';
		MHD_add_response_header(resp, "X-InfluxDB-Error", hv);
	}
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static const char *v2_code(int status)
{
	switch (status) {
	case 400: return "invalid";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not found";
	case 405: return "method not allowed";
	case 413: return "request too large";
	case 503: return "unavailable";
	default: return "internal error";
	}
}

/* An error answer: {"error":msg} (v2: {"code":..,"message":msg}). */
enum MHD_Result relay_http_error(struct MHD_Connection *c, struct relay_req *r, int status,
				  const char *fmt, ...)
{
	struct ferry_buf msg = FERRY_BUF_INIT, js = FERRY_BUF_INIT;
	enum MHD_Result ok;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ferry_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	/* a message names what the client sent (a database, a store's answer):
	 * text, so that the JSON body and the header stay text */
	if (msg.buf)
		val_utf8_scrub(msg.buf, msg.len);
	if (r->v2)
		rc |= ferry_buf_addf(&js, "{\"code\":\"%s\",\"message\":", v2_code(status));
	else
		rc |= ferry_buf_addstr(&js, "{\"error\":");
	rc |= ferry_buf_addjson(&js, msg.buf, msg.len);
	rc |= ferry_buf_addstr(&js, "}\n");
	if (rc)
		ok = relay_http_send(c, r, 500, "text/plain", "out of memory\n", 14, "out of memory");
	else
		ok = relay_http_send(c, r, status, "application/json", js.buf, js.len, msg.buf);
	ferry_buf_release(&msg);
	ferry_buf_release(&js);
	return ok;
}

enum MHD_Result relay_http_text(struct MHD_Connection *c, struct relay_req *r, int status,
				 const char *ctype, const char *s)
{
	return relay_http_send(c, r, status, ctype, s, strlen(s), NULL);
}

/* ------------------------------------------------------------ auth */

static int same(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), i;
	unsigned char d = na != nb;

	/* no early exit on the first difference: the time taken does not
	 * tell how much of a guessed password was right */
	for (i = 0; i < na && i < nb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return !d;
}

/*
 * influxd's parseCredentials: u and p in the query (both non-empty), else
 * "Authorization: Token user:pass", else Basic.  0 when auth is off or the
 * credentials are the configured ones, else the 401 was queued (*done).
 */
int relay_http_auth(struct MHD_Connection *c, struct relay_req *r, enum MHD_Result *done)
{
	const struct relay_http_cfg *cfg = &r->h->cfg;
	const char *u = relay_http_arg(c, "u"), *p = relay_http_arg(c, "p"), *az;
	char *bu = NULL, *bp = NULL, tok[512];
	int ok;

	if (!cfg->auth_user)
		return 0;
	if (!(u && *u && p && *p)) {
		u = p = NULL;
		az = relay_http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
		if (az && !strncmp(az, "Token ", 6) && strchr(az + 6, ':') &&
		    !strchr(az + 6, ' ') && strlen(az + 6) < sizeof(tok)) {
			strcpy(tok, az + 6);
			u = tok;
			*strchr(tok, ':') = '\0';
			p = tok + strlen(tok) + 1;
		} else if (az && !strncmp(az, "Bearer ", 7)) {
			*done = relay_http_error(c, r, 401, "bearer auth disabled: the relay takes Basic, u/p or Token user:password");
			return 1;
		} else if (az && (bu = MHD_basic_auth_get_username_password(c, &bp))) {
			u = bu;
			p = bp ? bp : "";
		}
	}
	if (!u) {
		*done = relay_http_error(c, r, 401, "unable to parse authentication credentials");
		return 1;
	}
	if (!*u) {
		ok = 0;
		*done = relay_http_error(c, r, 401, "username required");
	} else {
		ok = same(u, cfg->auth_user) &
		     same(p, cfg->auth_password ? cfg->auth_password : "");
		if (!ok)
			*done = relay_http_error(c, r, 401, "authorization failed");
	}
	if (bu)
		MHD_free(bu);
	if (bp)
		MHD_free(bp);
	return !ok;
}
