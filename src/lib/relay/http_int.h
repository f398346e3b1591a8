/*
 * http_int.h - what the two files of the relay's HTTP front share
 * (http.c: the daemon, bodies, routes; http_answer.c: the answers in
 * influxd's form, request ids, credentials).
 */
#ifndef FERRY_RELAY_HTTP_INT_H
#define FERRY_RELAY_HTTP_INT_H

#include <time.h>

#include <microhttpd.h>
#include <zlib.h>

#include "relay/relay_int.h"

#define RELAY_HTTP_VERSION "1.8.10-ferry"

struct relay_http {
	struct MHD_Daemon *d;
	struct relay_http_cfg cfg;     /* strings borrowed from the caller */
	const struct relay_http_ops *ops;
	void *ud;
	char listen[128];
	int port;
};

enum relay_route {
	RELAY_R_NONE = 0, RELAY_R_WRITE, RELAY_R_WRITE2, RELAY_R_TELEMETRY, RELAY_R_QUERY,
	RELAY_R_PING, RELAY_R_HEALTH, RELAY_R_READY, RELAY_R_METRICS, RELAY_R_STATS,
	RELAY_R_PAGE, RELAY_R_STATUS
};

/* One request, from its headers to its answer (the connection's con_cls). */
struct relay_req {
	struct relay_http *h;
	enum relay_route route;
	int v2;                 /* errors as {"code","message"} */
	struct ferry_buf body;  /* decoded, capped at max_body */
	int too_big;
	int gz;                 /* Content-Encoding: gzip */
	int gz_init, gz_done;
	z_stream z;
	char gz_err[160];
	enum lp_precision prec;
	char device[256];
	char rid[96];
	struct timespec t0;
};

static inline const char *relay_http_arg(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static inline const char *relay_http_header(struct MHD_Connection *c, const char *k)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, k);
}

/* The client's X-Request-Id (or Request-Id) if usable, else a random UUID. */
void relay_http_request_id(struct MHD_Connection *c, struct relay_req *r);
/* The headers every answer has (version, build, request ids). */
void relay_http_headers(struct MHD_Response *resp, const struct relay_req *r);
/* Queue status with body (copied) and the headers every answer has;
 * errmsg not NULL: X-InfluxDB-Error (a 401: WWW-Authenticate instead). */
enum MHD_Result relay_http_send(struct MHD_Connection *c, struct relay_req *r, int status,
				const char *ctype, const char *body, size_t n,
				const char *errmsg);
/* An error answer: {"error":msg}, or {"code","message"} when r->v2. */
enum MHD_Result relay_http_error(struct MHD_Connection *c, struct relay_req *r, int status,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
enum MHD_Result relay_http_text(struct MHD_Connection *c, struct relay_req *r, int status,
				const char *ctype, const char *s);
/* influxd's credentials (u/p, Token user:pass, Basic) against the
 * configured ones: 0 when auth is off or they match, else 1 with the 401
 * queued (*done). */
int relay_http_auth(struct MHD_Connection *c, struct relay_req *r, enum MHD_Result *done);

/* status.c: the status page's files (GET /, /status.js, /status.css) and
 * GET /api/status, the document the page polls. */
enum MHD_Result relay_status_page(struct MHD_Connection *c, struct relay_req *r,
				  const char *url);
enum MHD_Result relay_status_api(struct MHD_Connection *c, struct relay_req *r);

#endif
