/*
 * store_influx.c - the InfluxDB sink of the relay, on the one InfluxDB
 * write path (tm_ifx_writer_*, tsmap/sources/influx/write.c): the records
 * of one database and retention policy go to tm_ifx_write() in one body,
 * each record a unit, so the lines influxd refuses (found by halving the
 * records, then line by line) land in their record's nbad/why/bad.
 *
 * A database or retention policy that does not exist (FERRY_ENOTFOUND:
 * influxd 1.x never creates one on a write) refuses every point of those
 * records with that reason: dead letters, not a retry forever.  Every
 * other failure (FERRY_ECONN: down, 5xx, credentials) leaves the records
 * untouched for the spool to send again.
 *
 * The new store (relay_ifx_open's is_new) writes into the database of its
 * URL (ha_v2 of influx://host/ha_v2) whatever database the client named,
 * and, given a point map (a map file's points:), writes each client line
 * as the points the map makes of it (map_group): the same map, casts and
 * rejects as `ferry copy` into InfluxDB, lines as tm_point_write() makes
 * them.  There each client line is a unit of tm_ifx_write, so a mapped
 * line influxd refuses is a refusal of the client line it came from, and
 * a record's refused lines (bad) stay the client's, which the relay takes
 * out of the other store's copy.  The old store writes the client's lines
 * unchanged into the database each record names.
 *
 * Two writers on the same URL: writes go through w; /ping, SHOW DATABASES
 * and the /query pass-through through q, so that the HTTP threads of the
 * relay never wait behind a write.  Each is used under its own lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/url.h"
#include "relay/store.h"
#include "tsmap/tsmap.h"

#define IFX_ANSWER_MAX (256u << 20)  /* a /query answer passed through, at most */

/* A client line of a mapped write. */
struct mline {
	size_t rec;                   /* its record */
	const char *p;
	size_t n;
	int bad;                      /* refused: by the map or by influxd */
};

struct relay_ifx {
	struct tm_ifx_writer *w, *q;
	int is_new;                   /* into the URL's database, through map */
	struct tm_pmap *map;          /* NULL: the lines as they are */
	struct tm_pmap_run *run;
	struct tm_check chk;
	struct mline *ml;             /* map_group: the lines of the group */
	size_t nml, mlcap;
	size_t cur;                   /* the line being mapped */
	struct relay_rec *recs;       /* of the write in progress */
	struct lp_tag *tags;          /* tm_point_write's sorted tags */
	size_t tcap;
	pthread_mutex_t wlock, qlock;
	struct ferry_buf body;        /* the records of one database and policy */
	size_t *units;                /* where each record starts in body */
	size_t ucap;
	size_t *blen, *glen;          /* recs[i].bad->len before the write, and
				       * before the write of its group */
	size_t bcap, gcap;
};

void relay_ifx_close(struct relay_ifx *x)
{
	if (!x)
		return;
	tm_ifx_writer_close(x->w);
	tm_ifx_writer_close(x->q);
	tm_pmap_run_free(x->run);
	tm_pmap_free(x->map);
	tm_check_release(&x->chk);
	ferry_free(x->ml);
	ferry_free(x->tags);
	pthread_mutex_destroy(&x->wlock);
	pthread_mutex_destroy(&x->qlock);
	ferry_buf_release(&x->body);
	ferry_free(x->units);
	ferry_free(x->blen);
	ferry_free(x->glen);
	ferry_free(x);
}

/* The point map of path for the new store: a file without points: is a
 * table map, which only PostgreSQL has tables for. */
static int load_map(struct relay_ifx *x, const char *path, struct ferry_error *err)
{
	int rc = tm_pmap_load(path, &x->map, err);

	if (rc == 1)
		return ferry_error_set(err, FERRY_EUSAGE, "map '%s' has no points: rules: an "
				       "InfluxDB store takes a point map (target:/columns: are "
				       "for a PostgreSQL store)", path);
	if (rc < 0)
		return rc;
	if (tm_pmap_run_new(x->map, &x->run) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

int relay_ifx_open(const char *url, int is_new, const char *map, struct relay_ifx **out,
		   struct ferry_error *err)
{
	struct relay_ifx *x = ferry_calloc(1, sizeof(*x));
	ferry_url *u = NULL;
	int rc;

	*out = NULL;
	if (!x)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pthread_mutex_init(&x->wlock, NULL);
	pthread_mutex_init(&x->qlock, NULL);
	/* the records were checked (nanosecond timestamps): parsed again */
	tm_check_init(&x->chk, LP_PREC_NS);
	x->chk.bytes_ok = 1;   /* as the relay took them (ingest.c) */
	x->is_new = is_new;
	if ((rc = ferry_url_parse(url, &u, err)) < 0 ||
	    (rc = tm_ifx_writer_open(u, &x->w, err)) < 0 ||
	    (rc = tm_ifx_writer_open(u, &x->q, err)) < 0 ||
	    (is_new && map && (rc = load_map(x, map, err)) < 0)) {
		ferry_url_free(u);
		relay_ifx_close(x);
		return rc;
	}
	ferry_url_free(u);
	*out = x;
	return 0;
}

/* ------------------------------------------------------------ write */

/* The new store's own database: its URL's, when it names one. */
static int own_db(const struct relay_ifx *x)
{
	const char *db = tm_ifx_writer_db(x->w);

	return x->is_new && db && *db;
}

static const char *rec_db(const struct relay_ifx *x, const struct relay_rec *r)
{
	return !own_db(x) && r->db && *r->db ? r->db : tm_ifx_writer_db(x->w);
}

static const char *rec_rp(const struct relay_ifx *x, const struct relay_rec *r)
{
	const char *rp = tm_ifx_writer_rp(x->w);

	return !own_db(x) && r->rp && *r->rp ? r->rp : rp ? rp : "";
}

static int add_bad(struct relay_rec *r, const char *line, size_t n, const char *why)
{
	if (!r->nbad++) {
		size_t l = strnlen(why, sizeof(r->why) - 1);

		memcpy(r->why, why, l);
		r->why[l] = '\0';
	}
	if (!r->bad)
		return 0;
	if (ferry_buf_add(r->bad, line, n) < 0 || ferry_buf_addch(r->bad, '\n') < 0)
		return FERRY_ENOMEM;
	return 0;
}

/* tm_ifx_refused_fn: unit k is record recs[k] of the body. */
static int on_refused(void *ud, size_t unit, const char *line, size_t n, const char *why,
		      struct ferry_error *err)
{
	struct relay_rec *recs = ud;

	if (add_bad(&recs[unit], line, n, why) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* Every point of the record refused for one reason (an unknown database). */
static int all_bad(struct relay_rec *r, const char *why, struct ferry_error *err)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *line;
	size_t ln;
	uint64_t lineno;

	/* its lines as the stores cut them (a newline inside a string is
	 * not the end of one) */
	while (lp_next_line(r->lp, r->n, &cur, 1, &line, &ln, &lineno))
		if (ln && add_bad(r, line, ln, why) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* What records [i, j) were told undone: nothing refused, their bad lines
 * gone back to len[] (in reverse order: records may share one buffer, so
 * len[] must be taken when [i, j) began, after what came before). */
static void undo_bad(struct relay_rec *recs, size_t i, size_t j, const size_t *len)
{
	while (j-- > i) {
		recs[j].nbad = 0;
		recs[j].why[0] = '\0';
		/* shorter than it is: cannot fail */
		if (recs[j].bad && ferry_buf_setlen(recs[j].bad, len[j]) < 0)
			recs[j].bad->len = len[j];
	}
}

/* Records [i, j) of one database and retention policy, one write. */
static int write_group(struct relay_ifx *x, struct relay_rec *recs, size_t i, size_t j,
		       struct ferry_error *err)
{
	const char *msg;
	size_t k;
	long st;
	int rc;

	ferry_buf_clear(&x->body);
	if (FERRY_GROW(x->units, x->ucap, j - i) || FERRY_GROW(x->glen, x->gcap, j))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (k = i; k < j; k++) {
		x->glen[k] = recs[k].bad ? recs[k].bad->len : 0;
		x->units[k - i] = x->body.len;
		if (ferry_buf_add(&x->body, recs[k].lp, recs[k].n) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		/* tm_ifx_write wants each record to end its last line */
		if (recs[k].n && recs[k].lp[recs[k].n - 1] != '\n' &&
		    ferry_buf_addch(&x->body, '\n') < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = tm_ifx_write(x->w, rec_db(x, &recs[i]), rec_rp(x, &recs[i]), x->body.buf,
			  x->body.len, x->units, j - i, on_refused, recs + i, err);
	if (rc != FERRY_ENOTFOUND)
		return rc;
	/* dropped or never made: every point of these records, even those
	 * told refused before it went (halving) */
	undo_bad(recs, i, j, x->glen);
	st = tm_ifx_writer_missing(x->w, &msg);
	for (k = i, rc = 0; k < j && rc == 0; k++) {
		recs[k].missing = (int)st;
		rc = all_bad(&recs[k], msg, err);
	}
	return rc;
}

/* ------------------------------------------------------------ mapped */

/* Client line l refused (the first reason of its record is its why). */
static void line_bad(struct relay_ifx *x, size_t l, const char *why)
{
	struct relay_rec *r = &x->recs[x->ml[l].rec];

	if (!r->why[0])
		snprintf(r->why, sizeof(r->why), "%.255s", why);
	x->ml[l].bad = 1;
}

/* tm_point_fn: a point the map made of line x->cur, a line of the body. */
static int map_emit(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct relay_ifx *x = ud;
	size_t at = x->body.len;
	int rc = tm_point_write(&x->body, p, &x->tags, &x->tcap);

	if (rc == FERRY_EINVAL) {   /* a name line protocol cannot hold */
		x->body.len = at;
		line_bad(x, x->cur, "the point map made a point line protocol cannot write "
			 "(an empty name)");
		return 0;
	}
	if (rc < 0 || ferry_buf_addch(&x->body, '\n') < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* tm_ifx_refused_fn: unit k is client line k of the group. */
static int on_refused_line(void *ud, size_t unit, const char *line, size_t n, const char *why,
			   struct ferry_error *err)
{
	(void)line, (void)n, (void)err;
	line_bad(ud, unit, why);
	return 0;
}

/* Records [i, j) through the point map: each client line becomes the
 * lines of the points it maps to (none when a rule drops it), one unit. */
static int map_group(struct relay_ifx *x, struct relay_rec *recs, size_t i, size_t j,
		     struct ferry_error *err)
{
	size_t k, l, emitted;
	int rc = 0;

	ferry_buf_clear(&x->body);
	x->recs = recs;
	x->nml = 0;
	for (k = i; k < j; k++) {
		struct lp_cursor cur = LP_CURSOR_INIT;
		const char *line;
		size_t len;
		uint64_t lineno;

		/* a newline inside a string field value is part of its line */
		while (lp_next_line(recs[k].lp, recs[k].n, &cur, 1, &line, &len, &lineno)) {
			if (!len)
				continue;
			if (FERRY_GROW(x->ml, x->mlcap, x->nml + 1) ||
			    FERRY_GROW(x->units, x->ucap, x->nml + 1))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			x->ml[x->nml] = (struct mline){ k, line, len, 0 };
			x->units[x->nml++] = x->body.len;
		}
	}
	for (l = 0; l < x->nml; l++) {
		const char *why = NULL;
		struct tm_point tp;
		char mwhy[320];

		x->cur = l;
		x->units[l] = x->body.len;
		rc = tm_check_record(&x->chk, x->ml[l].p, x->ml[l].n, &tp, &why);
		if (rc == FERRY_ENOMEM)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == TM_CHECK_REJECT)   /* the relay checked it: not expected */
			line_bad(x, l, why);
		if (rc != TM_CHECK_POINT)
			continue;
		rc = tm_pmap_apply(x->run, &tp, map_emit, x, &emitted, mwhy, sizeof(mwhy), err);
		if (rc < 0)
			return rc;
		if (rc == 1)
			line_bad(x, l, mwhy);
	}
	rc = x->body.len ? tm_ifx_write(x->w, rec_db(x, &recs[i]), rec_rp(x, &recs[i]),
					x->body.buf, x->body.len, x->units, x->nml,
					on_refused_line, x, err) : 0;
	if (rc == FERRY_ENOTFOUND) {
		/* dropped or never made: every point of these records */
		const char *msg;
		long st = tm_ifx_writer_missing(x->w, &msg);

		for (k = i; k < j; k++) {
			recs[k].why[0] = '\0';
			recs[k].missing = (int)st;
		}
		for (l = 0; l < x->nml; l++)
			line_bad(x, l, msg);
		rc = 0;
	}
	if (rc < 0)
		return rc;
	/* the client's lines, in order: what the relay leaves out of the
	 * other store's copy, and the dead letter's lines */
	for (l = 0; l < x->nml; l++) {
		struct relay_rec *r = &recs[x->ml[l].rec];

		if (!x->ml[l].bad)
			continue;
		r->nbad++;
		if (r->bad && (ferry_buf_add(r->bad, x->ml[l].p, x->ml[l].n) < 0 ||
			       ferry_buf_addch(r->bad, '\n') < 0))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

static int ifx_write(struct relay_ifx *x, struct relay_rec *recs, size_t n,
		     struct ferry_error *err)
{
	size_t i = 0, j, k;
	int rc = 0;

	if (FERRY_GROW(x->blen, x->bcap, n + 1))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (k = 0; k < n; k++) {
		recs[k].nbad = 0;
		recs[k].missing = 0;
		recs[k].why[0] = '\0';
		x->blen[k] = recs[k].bad ? recs[k].bad->len : 0;
	}
	while (i < n && rc >= 0) {
		for (j = i; j < n && !strcmp(rec_db(x, &recs[j]), rec_db(x, &recs[i])) &&
			    !strcmp(rec_rp(x, &recs[j]), rec_rp(x, &recs[i])); j++)
			;
		rc = x->run ? map_group(x, recs, i, j, err) : write_group(x, recs, i, j, err);
		i = j;
	}
	if (rc < 0)
		undo_bad(recs, 0, n, x->blen);
	return rc < 0 ? rc : 0;
}

int relay_ifx_write(struct relay_ifx *x, struct relay_rec *recs, size_t n,
		    struct ferry_error *err)
{
	int rc;

	pthread_mutex_lock(&x->wlock);
	rc = ifx_write(x, recs, n, err);
	pthread_mutex_unlock(&x->wlock);
	return rc;
}

/* ------------------------------------------------------------ the rest */

int relay_ifx_ping(struct relay_ifx *x)
{
	int up;

	pthread_mutex_lock(&x->qlock);
	up = tm_ifx_ping(x->q);
	pthread_mutex_unlock(&x->qlock);
	return up;
}

int relay_ifx_has_db(struct relay_ifx *x, const char *db, struct ferry_error *err)
{
	int rc;

	pthread_mutex_lock(&x->qlock);
	rc = tm_ifx_has_db(x->q, db, err);
	pthread_mutex_unlock(&x->qlock);
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

int relay_ifx_query(struct relay_ifx *x, const struct relay_query *q,
		    struct relay_answer *ans, struct ferry_error *err)
{
	struct ferry_buf pq = FERRY_BUF_INIT;
	struct tm_ifx_req rq;
	long st;
	int rc, post = q->method && !strcmp(q->method, "POST");

	if (ferry_buf_addstr(&pq, "/query") < 0 ||
	    (q->query && *q->query && (ferry_buf_addch(&pq, '?') < 0 ||
				       ferry_buf_addstr(&pq, q->query) < 0))) {
		ferry_buf_release(&pq);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = q->method;
	rq.path = pq.buf;
	rq.body = q->n || post ? (q->body ? q->body : "") : NULL;
	rq.n = q->n;
	rq.content_type = q->content_type;
	rq.accept = q->accept;
	rq.own_auth = has_creds(q->query);
	rq.max = IFX_ANSWER_MAX;
	pthread_mutex_lock(&x->qlock);
	rc = tm_ifx_request(x->q, &rq, &st, ans->content_type, sizeof(ans->content_type),
			    &ans->body, err);
	pthread_mutex_unlock(&x->qlock);
	ferry_buf_release(&pq);
	if (rc == 0)
		ans->status = (int)st;
	return rc;
}
