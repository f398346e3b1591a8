/*
 * status.c - the relay's status page: GET / (status.html, status.js,
 * status.css from this directory, built into the binary by
 * cmake/embed.cmake) and GET /api/status, the one document the page polls:
 *
 *   {"time": ms since 1970 (the relay's clock),
 *    "version": "1.8.10-ferry",
 *    "relay": what /stats answers (metrics.c: the counters, the gauges,
 *             the latency percentiles; the page turns counters into rates),
 *    "cutover_db": false when the relay has no PostgreSQL (no cutover),
 *    "cutover": what `ferry cutover status --json` shows (the plan, the
 *               current step's gates, the relays, the log), or null,
 *    "cutover_note": why it is null, or null,
 *    "cutover_error": the last read's failure, or null (the report shown
 *                     is then the last one read),
 *    "cutover_age_seconds": how old the report is, or null,
 *    "cutover_reads": reads of the report since the relay started (at most
 *                     one a second, however many pages poll)}
 *
 * The report costs a connection and a few queries (the gates read the
 * relays' heartbeats): a thread of its own reads it, at most once a
 * second (less often when a read is slow: the pause is five times the
 * read's duration), and only while somebody polls (a request in the last
 * WATCH_S).  A request never talks to the database: it copies the last
 * report.  One that finds the report older than STALE_S and a read due
 * (nobody looked for a while) waits up to WAIT_S for the thread's fresh
 * read, so that a page opened after a pause does not show a step long
 * gone.
 *
 * The page's Content-Security-Policy allows only the relay itself (no
 * inline script or style, no other origin): what the page prints comes
 * from the database and the stores' error messages, and status.js puts
 * it in with textContent only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/alloc.h"
#include "relay/http_int.h"

#include "relay_status_css.h"
#include "relay_status_html.h"
#include "relay_status_js.h"

#define WATCH_S 10.0   /* read the report while polled this recently */
#define STALE_S 3.0    /* older: a request waits for a fresh one */
#define WAIT_S 2.0     /* at most this long */
#define GAP_MIN_S 1.0  /* between reads */
#define GAP_MAX_S 30.0

struct relay_status {
	char *db;                /* NULL: no cutover database */
	pthread_mutex_t mu;
	pthread_cond_t want;     /* to the thread: a request came */
	pthread_cond_t fresh;    /* to the requests: a read finished */
	char *doc;               /* the last report read, NULL: none (or no plan) */
	int has_plan;
	char error[FERRY_ERRMSG_MAX]; /* the last read's failure, "" none */
	uint64_t reads;          /* reads finished */
	uint64_t answered;       /* of those, the ones the database answered */
	double read_at;          /* when the last read finished (monotonic s) */
	double asked_at;         /* when the last request came, 0 never */
	double gap;              /* pause between reads */
	int stop;
	pthread_t th;
	int started;
};

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct timespec at(double s)
{
	struct timespec t;

	t.tv_sec = (time_t)s;
	t.tv_nsec = (long)((s - (double)t.tv_sec) * 1e9);
	return t;
}

/* ---- the reader ---------------------------------------------------------------- */

static void *reader_main(void *arg)
{
	struct relay_status *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct ferry_error err = FERRY_ERROR_INIT;
		double now = mono(), t;
		char *doc = NULL;
		int rc;

		if (!(s->asked_at > 0 && now - s->asked_at < WATCH_S)) {
			/* nobody looks: sleep until a request wakes us */
			struct timespec ts = at(now + 60);

			pthread_cond_timedwait(&s->want, &s->mu, &ts);
			continue;
		}
		if (s->reads && now - s->read_at < s->gap) {
			struct timespec ts = at(s->read_at + s->gap);

			pthread_cond_timedwait(&s->want, &s->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		t = mono();
		rc = ferry_cutover_report(s->db, &doc, &err);
		t = mono() - t;
		pthread_mutex_lock(&s->mu);
		if (rc < 0) {
			snprintf(s->error, sizeof(s->error), "%s", err.msg[0] ? err.msg :
				 "cannot read the cutover");
		} else {
			s->error[0] = '\0';
			ferry_free(s->doc);
			s->doc = doc;       /* NULL: no plan */
			s->has_plan = doc != NULL;
			s->answered++;
			doc = NULL;
		}
		ferry_free(doc);
		s->reads++;
		s->read_at = mono();
		s->gap = t * 5 < GAP_MIN_S ? GAP_MIN_S : t * 5 > GAP_MAX_S ? GAP_MAX_S : t * 5;
		pthread_cond_broadcast(&s->fresh);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int relay_status_open(const char *pg_url, struct relay_status **out, struct ferry_error *err)
{
	struct relay_status *s = ferry_calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int e;

	if (!s || (pg_url && !(s->db = ferry_strdup(pg_url)))) {
		ferry_free(s);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	s->gap = GAP_MIN_S;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->want, &ca);
	pthread_cond_init(&s->fresh, &ca);
	pthread_condattr_destroy(&ca);
	if (s->db) {
		if ((e = pthread_create(&s->th, NULL, reader_main, s))) {
			relay_status_close(s);
			return ferry_error_set(err, FERRY_EIO, "cannot start the status page's "
					       "thread: %s", strerror(e));
		}
		s->started = 1;
	}
	*out = s;
	return 0;
}

void relay_status_close(struct relay_status *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_broadcast(&s->want);
		pthread_cond_broadcast(&s->fresh);
		pthread_mutex_unlock(&s->mu);
		/* a read in flight ends within libpq's connect timeout */
		pthread_join(s->th, NULL);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->want);
	pthread_cond_destroy(&s->fresh);
	ferry_free(s->doc);
	ferry_free(s->db);
	ferry_free(s);
}

/* ---- the page -------------------------------------------------------------------- */

enum MHD_Result relay_status_page(struct MHD_Connection *c, struct relay_req *r,
				  const char *url)
{
	static const struct {
		const char *url, *ctype;
		const unsigned char *p;
		size_t n;
	} files[] = {
		{ "/", "text/html; charset=utf-8", relay_status_html, sizeof(relay_status_html) },
		{ "/status.js", "text/javascript; charset=utf-8", relay_status_js,
		  sizeof(relay_status_js) },
		{ "/status.css", "text/css; charset=utf-8", relay_status_css,
		  sizeof(relay_status_css) },
	};
	struct MHD_Response *resp;
	enum MHD_Result ok;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(url, files[i].url))
			break;
	if (i == sizeof(files) / sizeof(files[0]))
		return relay_http_error(c, r, 404, "404 page not found");
	/* built in: served from where it lies, never copied */
	resp = MHD_create_response_from_buffer(files[i].n, (void *)(uintptr_t)files[i].p,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	relay_http_headers(resp, r);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, files[i].ctype);
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self'; "
				"connect-src 'self'; img-src 'self'; base-uri 'none'; "
				"form-action 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	/* a relay upgraded in place serves its own page at once */
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* ---- /api/status ------------------------------------------------------------------ */

/* Take the report (a copy) for a request: see the top of the file. */
static void report_take(struct relay_status *s, struct ferry_buf *out)
{
	double now = mono();
	int e = 0;

	pthread_mutex_lock(&s->mu);
	s->asked_at = now;
	/* a read is due anyway (past the pause) and the copy is old: nobody
	 * polled for a while; wait for the read (one for every waiter) */
	if (!s->reads || (now - s->read_at > STALE_S && now - s->read_at >= s->gap)) {
		uint64_t n = s->reads;
		struct timespec ts = at(now + WAIT_S);

		pthread_cond_signal(&s->want);
		while (s->reads == n && !s->stop)
			if (pthread_cond_timedwait(&s->fresh, &s->mu, &ts) == ETIMEDOUT)
				break;
	} else if (now - s->read_at >= s->gap) {
		pthread_cond_signal(&s->want);
	}
	if (!s->answered) {
		e |= ferry_buf_addstr(out, ",\"cutover\":null,\"cutover_note\":"
				      "\"the cutover database has not answered yet\"");
	} else {
		e |= ferry_buf_addstr(out, ",\"cutover\":");
		e |= ferry_buf_addstr(out, s->doc ? s->doc : "null");
		e |= ferry_buf_addstr(out, ",\"cutover_note\":");
		e |= ferry_buf_addstr(out, s->has_plan ? "null" :
				      "\"no cutover is planned in this database (ferry cutover "
				      "prepare); the relays follow ferry.cutover's phase\"");
	}
	e |= ferry_buf_addstr(out, ",\"cutover_error\":");
	if (s->error[0])
		e |= ferry_buf_addjson(out, s->error, strlen(s->error));
	else
		e |= ferry_buf_addstr(out, "null");
	if (s->reads)
		e |= ferry_buf_addf(out, ",\"cutover_age_seconds\":%.1f", mono() - s->read_at);
	else
		e |= ferry_buf_addstr(out, ",\"cutover_age_seconds\":null");
	e |= ferry_buf_addf(out, ",\"cutover_reads\":%llu", (unsigned long long)s->reads);
	pthread_mutex_unlock(&s->mu);
	(void)e;   /* sticky: the caller checks the buffer */
}

enum MHD_Result relay_status_api(struct MHD_Connection *c, struct relay_req *r)
{
	struct relay_http *h = r->h;
	struct ferry_buf out = FERRY_BUF_INIT;
	struct relay_gauges g;
	struct MHD_Response *resp;
	struct timespec now;
	enum MHD_Result ok;
	int e = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	e |= ferry_buf_addf(&out, "{\"time\":%lld,\"version\":\"" RELAY_HTTP_VERSION "\","
			    "\"relay\":", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	if (h->cfg.metrics) {
		memset(&g, 0, sizeof(g));
		if (h->ops->gauges)
			h->ops->gauges(h->ud, &g);
		e |= relay_metrics_json(h->cfg.metrics, &g, &out);
	} else {
		e |= ferry_buf_addstr(&out, "null");
	}
	e |= ferry_buf_addf(&out, ",\"cutover_db\":%s",
			    h->cfg.status && h->cfg.status->db ? "true" : "false");
	if (h->cfg.status && h->cfg.status->db)
		report_take(h->cfg.status, &out);
	else
		e |= ferry_buf_addstr(&out, ",\"cutover\":null,\"cutover_note\":\"this relay has "
				      "no PostgreSQL store, so no cutover database: live figures "
				      "only\",\"cutover_error\":null,\"cutover_age_seconds\":null,"
				      "\"cutover_reads\":0");
	e |= ferry_buf_addstr(&out, "}\n");
	if (e || ferry_buf_error(&out)) {
		ferry_buf_release(&out);
		return relay_http_error(c, r, 500, "out of memory");
	}
	resp = MHD_create_response_from_buffer(out.len, out.buf, MHD_RESPMEM_MUST_COPY);
	ferry_buf_release(&out);
	if (!resp)
		return MHD_NO;
	relay_http_headers(resp, r);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ok;
}
