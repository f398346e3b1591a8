/*
 * relay.c - the write path of `ferry relay` and its ack rule.
 *
 *   client --HTTP--> http.c --checked points--> relay_write()
 *        -> committer of the primary store (group commit) --committed-->
 *        -> spool append of the secondary's copy (fsync, group commit)
 *        -> 204
 *   replay thread: spool --in order--> secondary store, position with the rows
 *   phase thread: ferry.cutover (LISTEN/NOTIFY) -> which store is primary;
 *                 the automatic rollback (below)
 *
 * The ack rule (DESIGN.md): a write is answered 204 only after the primary
 * committed it and the secondary's copy is fsync'd in the spool.  The
 * primary is written first: a crash between the two leaves a write the
 * client was not told about, which it sends again; the primary takes it
 * again (InfluxDB overwrites the same series and time), and the
 * secondary gets it once, from the spool.  The secondary is only ever fed
 * from the spool, in order, by one thread, so a store that is down delays
 * its copy and never the client.  The spool's room is checked before the
 * primary is written, so a full spool refuses a write (503) instead of
 * committing it to one store only.
 *
 * Each store has two handles: one for its committer (primary writes) and
 * one for the replay thread (secondary writes), because a phase change
 * turns the secondary into the primary while its spool still drains.  A
 * struct relay_store is used by one thread only.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "ferry/registry.h"
#include "ferry/url.h"
#include "model/value.h"
#include "relay/mqtt_int.h"
#include "relay/relay_int.h"

#define SPOOL_MAX_DEFAULT (UINT64_C(1) << 30)
#define REPLAY_BATCH_BYTES (4u << 20)   /* spool bytes per replay write */
#define REPLAY_MAX_RECS 4096
#define GROUP_MAX 256                   /* requests per primary write */
#define HEARTBEAT_S 10
#define ERRWIN_S 3600                   /* the longest rollback window */
#define SAMPLE_PER_MIN 60               /* samples of a relay per minute, at most */
#define SAMPLE_QUEUE 64                 /* taken, not yet recorded */

/*
 * Automatic rollback.  In new-primary every client write the new store
 * fails is answered 5xx (the ack rule: nothing is acknowledged that the
 * primary did not commit), and counted here by second.  When the share of
 * failed writes over the plan's window reaches its threshold (after at
 * least its minimum of writes), the phase thread moves this relay to
 * dual at once, on its own: the old store becomes the primary again and
 * the new one is fed from the spool, so writes are acknowledged again.
 * Then it records the rollback in the cutover database (the plan back to
 * validate, every relay to dual, a log row with the figures); when that
 * database is down (it is usually the new store itself) the relay stays
 * in dual and records it as soon as the database answers, before it
 * follows the stored phase again.
 */
struct errwin {
	pthread_mutex_t mu;
	struct { int64_t s; uint64_t w, e; } b[ERRWIN_S];
};

/*
 * Live consistency.  In dual (while the plan is in a step of dual) one
 * write in the plan's sample_every, at most SAMPLE_PER_MIN a minute, has
 * its first point kept with the spool record that carries the new store's
 * copy; the phase thread records them in ferry.cutover_samples, and the
 * live-consistency gate reads them back from both stores once the replay
 * passed that record.
 */
struct samples {
	pthread_mutex_t mu;
	struct relay_sample q[SAMPLE_QUEUE];
	size_t n;
	uint64_t writes;              /* in dual, since the relay started */
	int64_t minute;
	int in_minute;
	_Atomic int every;            /* the plan's; 0: not sampling */
};

/* One request waiting for its primary write. */
struct pending {
	struct relay_rec rec;
	struct ferry_buf bad;
	int done;
	int rc;
	char msg[FERRY_ERRMSG_MAX];
	struct pending *next;
};

/* Serialises the primary writes to one store. */
struct committer {
	struct relay *R;
	int which;                    /* RELAY_OLD, RELAY_NEW */
	struct relay_store *st;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct pending *head, *tail;
	size_t queued;
	int stop;
	pthread_t th;
	int started;
};

struct relay {
	const struct ferry_relay_opts *o;
	const char *url[2];
	int has[2];
	_Atomic int phase;
	_Atomic long writing[4];      /* writes in progress, by the phase they took */
	_Atomic int phase_stop;       /* the phase thread ends (before MQTT stops) */
	int fixed_phase;              /* no PostgreSQL to hold it */
	struct committer cm[2];
	struct relay_store *rs[2];    /* the replay thread's handles */
	struct relay_store *qs;       /* /query pass-through (old InfluxDB) */
	pthread_mutex_t qmu;
	struct relay_spool *spool;
	struct relay_phase *ph;
	struct relay_devices *dev;
	struct relay_metrics *metrics;
	struct relay_status *status;  /* the status page's cutover report */
	_Atomic int up[2];            /* last write to the store worked */
	_Atomic int stop;
	_Atomic int64_t probe_ms;     /* last probe of a primary that was down */
	pthread_t replay_th, phase_th;
	int replay_started, phase_started;
	char **dbs;                   /* databases /write accepts */
	size_t ndbs;
	char relay_id[160];
	uint64_t window_us;
	struct relay_mqtt *mqtt;      /* MQTT ingest, NULL when off */
	struct errwin ew;             /* the new store's primary writes */
	struct samples sm;
	/* gradual: the waves the phase thread last took (NULL: the one
	 * phase), read by every write under wmu; per wave the client writes
	 * to the new store as the primary, and the failed ones */
	pthread_rwlock_t wmu;
	struct relay_waves *waves;
	_Atomic uint64_t wave_w[RELAY_MAX_WAVES], wave_e[RELAY_MAX_WAVES];
	/* a rollback decided and not yet recorded (phase thread only) */
	int rb_pending;
	int64_t rb_decided_us;
	char rb_why[512], rb_fig[512];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void errwin_add(struct errwin *w, int failed)
{
	int64_t s = (int64_t)now_s();

	pthread_mutex_lock(&w->mu);
	if (w->b[s % ERRWIN_S].s != s) {
		w->b[s % ERRWIN_S].s = s;
		w->b[s % ERRWIN_S].w = w->b[s % ERRWIN_S].e = 0;
	}
	w->b[s % ERRWIN_S].w++;
	w->b[s % ERRWIN_S].e += failed != 0;
	pthread_mutex_unlock(&w->mu);
}

/* Writes and failures of the last window_s seconds (this one included). */
static void errwin_sum(struct errwin *w, double window_s, uint64_t *writes, uint64_t *errors)
{
	int64_t s = (int64_t)now_s(), k, n = (int64_t)(window_s + 0.999);

	*writes = *errors = 0;
	if (n > ERRWIN_S)
		n = ERRWIN_S;
	if (n > s + 1)
		n = s + 1;     /* the monotonic clock counts from boot */
	pthread_mutex_lock(&w->mu);
	for (k = 0; k < n; k++)
		if (w->b[(s - k) % ERRWIN_S].s == s - k) {
			*writes += w->b[(s - k) % ERRWIN_S].w;
			*errors += w->b[(s - k) % ERRWIN_S].e;
		}
	pthread_mutex_unlock(&w->mu);
}

static void errwin_reset(struct errwin *w)
{
	pthread_mutex_lock(&w->mu);
	memset(w->b, 0, sizeof(w->b));
	pthread_mutex_unlock(&w->mu);
}

/* Keep the first point of a write the spool's record seq carries (dual). */
static void sample(struct relay *R, const char *db, const char *lp, size_t n, uint64_t seq)
{
	struct samples *sm = &R->sm;
	int every = atomic_load(&sm->every), take;
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *why = NULL, *first = lp;
	uint64_t lineno;
	struct lp_scratch scr;
	struct lp_point pt;
	struct relay_sample x;

	if (every <= 0)
		return;
	pthread_mutex_lock(&sm->mu);
	take = ++sm->writes % (uint64_t)every == 0 && sm->n < SAMPLE_QUEUE;
	if (take && (int64_t)(now_s() / 60) != sm->minute) {
		sm->minute = (int64_t)(now_s() / 60);
		sm->in_minute = 0;
	}
	take = take && sm->in_minute < SAMPLE_PER_MIN;
	sm->in_minute += take;
	pthread_mutex_unlock(&sm->mu);
	if (!take)
		return;
	memset(&x, 0, sizeof(x));
	if (!lp_next_line(lp, n, &cur, 1, &first, &n, &lineno))
		n = 0;
	lp = first;
	lp_scratch_init(&scr);
	/* a sample is recorded in PostgreSQL: text it can hold (the relay
	 * takes NUL bytes and invalid UTF-8 as influxd does) */
	if (lp_parse_line(lp, n, &pt, &scr, &why) == LP_POINT && pt.has_ts &&
	    pt.measurement.n < sizeof(x.measurement) && val_utf8_ok(lp, n, &why) &&
	    (x.line = ferry_malloc(n + 1))) {
		memcpy(x.line, lp, n);
		x.line[n] = '\0';
		memcpy(x.measurement, pt.measurement.p, pt.measurement.n);
		snprintf(x.db, sizeof(x.db), "%s", db);
		x.time_ns = pt.ts;     /* the relay's lines are in ns */
		x.seq = seq;
		x.sampled_us = wall_ns() / 1000;
		pthread_mutex_lock(&sm->mu);
		if (sm->n < SAMPLE_QUEUE) {
			sm->q[sm->n++] = x;
			x.line = NULL;
		}
		pthread_mutex_unlock(&sm->mu);
	}
	ferry_free(x.line);
	lp_scratch_release(&scr);
}

/* Record what sample() kept (phase thread). */
static void samples_flush(struct relay *R)
{
	struct relay_sample q[SAMPLE_QUEUE];
	struct ferry_error err = FERRY_ERROR_INIT;
	size_t n, i;

	pthread_mutex_lock(&R->sm.mu);
	n = R->sm.n;
	memcpy(q, R->sm.q, n * sizeof(q[0]));
	R->sm.n = 0;
	pthread_mutex_unlock(&R->sm.mu);
	if (n && relay_phase_samples(R->ph, R->relay_id, relay_spool_id(R->spool), q, n,
				     &err) < 0)
		ferry_debug("relay: %zu live consistency sample(s) not recorded: %s", n, err.msg);
	for (i = 0; i < n; i++)
		ferry_free(q[i].line);
}

/* The store a phase writes first, and the one it spools for (-1: none). */
static int primary_of(int phase)
{
	return phase == FERRY_PHASE_OLD_ONLY || phase == FERRY_PHASE_DUAL ? RELAY_OLD : RELAY_NEW;
}

static int secondary_of(int phase)
{
	return phase == FERRY_PHASE_DUAL ? RELAY_NEW :
	       phase == FERRY_PHASE_NEW_PRIMARY ? RELAY_OLD : -1;
}

static const char *which_name(int which)
{
	return which == RELAY_OLD ? "old" : "new";
}

/* ------------------------------------------------------------ committers */

static void set_up(struct relay *R, int which, int up)
{
	int was = atomic_exchange(&R->up[which], up);

	if (was != up)
		ferry_log(up ? FERRY_LOG_INFO : FERRY_LOG_WARN, "relay: %s store (%s) is %s",
			  which_name(which), R->cm[which].st ? relay_store_kind(R->cm[which].st) : "?",
			  up ? "up again" : "down");
}

/* Take what is queued, waiting up to the window for more while it is small. */
static struct pending *take_group(struct committer *c, size_t *n)
{
	struct pending *g, *p;
	size_t k = 0;

	while (!c->head && !c->stop)
		pthread_cond_wait(&c->work, &c->mu);
	if (!c->head)
		return NULL;
	if (c->R->window_us && c->queued < 2 && !c->stop) {
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += (long)(c->R->window_us * 1000);
		dl.tv_sec += dl.tv_nsec / 1000000000;
		dl.tv_nsec %= 1000000000;
		while (c->queued < GROUP_MAX && !c->stop &&
		       pthread_cond_timedwait(&c->work, &c->mu, &dl) == 0)
			;
	}
	g = c->head;
	for (p = g; p && k + 1 < GROUP_MAX && p->next; p = p->next)
		k++;
	/* p is the last of the group */
	c->head = p->next;
	if (!c->head)
		c->tail = NULL;
	p->next = NULL;
	c->queued -= k + 1;
	*n = k + 1;
	return g;
}

static void *committer_main(void *arg)
{
	struct committer *c = arg;
	struct relay *R = c->R;
	struct relay_rec *recs = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct ferry_error err = FERRY_ERROR_INIT;
		struct pending *g, *p;
		size_t n, i;
		double t0;
		int rc;

		if (!(g = take_group(c, &n)))
			break;
		pthread_mutex_unlock(&c->mu);
		if (n > cap) {
			struct relay_rec *nr = ferry_realloc(recs, n * sizeof(*recs));

			if (nr) {
				recs = nr;
				cap = n;
			}
		}
		t0 = now_s();
		if (n > cap) {
			rc = ferry_error_set(&err, FERRY_ENOMEM, "out of memory");
		} else {
			for (p = g, i = 0; p; p = p->next, i++) {
				recs[i] = p->rec;
				recs[i].bad = &p->bad;
			}
			rc = relay_store_write(c->st, recs, n, NULL, &err);
		}
		relay_metrics_observe(R->metrics, c->which, now_s() - t0);
		relay_metrics_store_add(R->metrics, c->which, RELAY_S_WRITES, 1);
		if (rc == FERRY_ECONN)
			set_up(R, c->which, 0);
		else if (rc == 0)
			set_up(R, c->which, 1);
		if (rc < 0) {
			relay_metrics_store_add(R->metrics, c->which, RELAY_S_ERRORS, 1);
			ferry_debug("relay: write to the %s store failed: %s", which_name(c->which),
				    err.msg);
		}
		pthread_mutex_lock(&c->mu);
		for (p = g, i = 0; p; p = p->next, i++) {
			p->rc = rc;
			if (rc == 0) {
				p->rec.nbad = recs[i].nbad;
				p->rec.missing = recs[i].missing;
				memcpy(p->rec.why, recs[i].why, sizeof(p->rec.why));
				relay_metrics_store_add(R->metrics, c->which, RELAY_S_POINTS_WRITTEN,
							p->rec.npoints - p->rec.nbad);
			} else {
				snprintf(p->msg, sizeof(p->msg), "%s", err.msg);
			}
			p->done = 1;
		}
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->mu);
	ferry_free(recs);
	return NULL;
}

/* Queue p for the primary and wait for its write. */
static void commit_wait(struct committer *c, struct pending *p)
{
	pthread_mutex_lock(&c->mu);
	if (c->stop) {
		p->rc = FERRY_ECONN;
		snprintf(p->msg, sizeof(p->msg), "the relay is stopping");
		p->done = 1;
	} else {
		if (c->tail)
			c->tail->next = p;
		else
			c->head = p;
		c->tail = p;
		c->queued++;
		pthread_cond_signal(&c->work);
	}
	while (!p->done)
		pthread_cond_wait(&c->done, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ write path */

static int answer(struct relay_answer *ans, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int answer(struct relay_answer *ans, int status, const char *fmt, ...)
{
	va_list ap;

	ans->status = status;
	ferry_buf_clear(&ans->body);
	if (fmt) {
		va_start(ap, fmt);
		if (ferry_buf_vaddf(&ans->body, fmt, ap) < 0)
			ans->status = 500;
		va_end(ap);
	}
	return 0;
}

/* lp without the lines of bad (which the store appended in lp's order,
 * each with its '\n'), into out.  Lines on both sides as lp_next_line
 * cuts them: a newline inside a string field value is part of its line. */
static int without_bad(const char *lp, size_t n, const struct ferry_buf *bad,
		       struct ferry_buf *out)
{
	struct lp_cursor c = LP_CURSOR_INIT, bc = LP_CURSOR_INIT;
	const char *line, *bline = NULL;
	size_t len, blen = 0, start = 0;
	uint64_t lineno;
	int more = lp_next_line(bad->buf, bad->len, &bc, 1, &bline, &blen, &lineno);

	while (lp_next_line(lp, n, &c, 1, &line, &len, &lineno)) {
		size_t from = start;   /* the line with its newline: lp[from, c.off) */

		start = c.off;
		if (more && len && blen == len && !memcmp(bline, line, len))
			more = lp_next_line(bad->buf, bad->len, &bc, 1, &bline, &blen, &lineno);
		else if (ferry_buf_add(out, lp + from, c.off - from) < 0)
			return FERRY_ENOMEM;
	}
	return 0;
}

/* The points lp[0..n) (npoints of pts, all of one phase) by phase's
 * path: the primary, then the secondary's copy in the spool; ans 204 or
 * why not.  waves: the waves they are of (gradual), counted for the new
 * store as the primary. */
static int write_phase(struct relay *R, int phase, const char *db, const char *rp,
		       const char *lp, size_t n, size_t npoints, unsigned waves,
		       struct relay_points *pts, struct relay_answer *ans)
{
	int pri = primary_of(phase), sec = secondary_of(phase);
	struct ferry_buf rec = FERRY_BUF_INIT, kept = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct pending p;
	uint64_t seq;
	int rc = 0, k;

	if (!R->has[pri])
		return answer(ans, 503, "the %s store of phase '%s' is not configured",
			      which_name(pri), ferry_phase_name(phase));
	if (sec >= 0 && !R->has[sec])
		sec = -1;
	/* full: refuse before the primary has it, or the stores would differ */
	if (sec >= 0 && !relay_spool_room(R->spool, n + 256))
		return answer(ans, 503, "the spool of the %s store is full (%llu bytes): it "
			      "is not taking writes; the relay answers 503 until it drains",
			      which_name(sec), (unsigned long long)R->o->spool_max);
	memset(&p, 0, sizeof(p));
	ferry_buf_init(&p.bad, 0);
	p.rec.db = db;
	p.rec.rp = rp ? rp : "";
	p.rec.lp = lp;
	p.rec.n = n;
	p.rec.npoints = npoints;
	commit_wait(&R->cm[pri], &p);
	if (phase == FERRY_PHASE_NEW_PRIMARY)
		errwin_add(&R->ew, p.rc < 0);
	for (k = 0; waves && k < RELAY_MAX_WAVES && phase == FERRY_PHASE_NEW_PRIMARY; k++)
		if (waves & (1u << k)) {
			atomic_fetch_add(&R->wave_w[k], 1);
			atomic_fetch_add(&R->wave_e[k], p.rc < 0);
		}
	if (p.rc == FERRY_ECONN) {
		answer(ans, 503, "the %s store cannot take writes now: %s", which_name(pri), p.msg);
		goto out;
	}
	if (p.rc < 0) {
		answer(ans, 500, "cannot write to the %s store: %s", which_name(pri), p.msg);
		goto out;
	}
	if (p.rec.missing && p.rec.nbad >= p.rec.npoints) {
		/* influxd's own answer: 404 database not found, 500 retention
		 * policy not found; nothing was written, nothing is spooled */
		answer(ans, p.rec.missing, "%s", p.rec.why);
		goto out;
	}
	if (sec >= 0 && p.rec.nbad < p.rec.npoints) {
		if (p.rec.nbad) {
			if ((rc = without_bad(lp, n, &p.bad, &kept)) < 0) {
				answer(ans, 500, "out of memory");
				goto out;
			}
			lp = kept.buf;
			n = kept.len;
		}
		rc = relay_rec_encode(&rec, sec == RELAY_OLD ? RELAY_TO_OLD : RELAY_TO_NEW, db,
				      p.rec.rp, lp, n, p.rec.npoints - p.rec.nbad);
		if (rc == 0)
			rc = relay_spool_append(R->spool, rec.buf, rec.len, &seq, &err);
		else
			ferry_error_set(&err, rc, "out of memory");
		if (rc < 0) {
			/* the primary has the points: a retry writes them again, the
			 * same series and times, and spools them then */
			ferry_warn("relay: cannot spool a write for the %s store: %s",
				   which_name(sec), err.msg);
			answer(ans, 503, "cannot keep the %s store's copy: %s", which_name(sec),
			       err.msg);
			goto out;
		}
		if (phase == FERRY_PHASE_DUAL)
			sample(R, db, lp, n, seq);
	}
	/* points the primary refused after the checks passed (a field type
	 * conflict): influxd's partial write, worded by http.c, as influxd
	 * words it even when every point was dropped */
	if (p.rec.nbad) {
		if (!pts->nrejected)
			snprintf(pts->why, sizeof(pts->why), "%s", p.rec.why);
		pts->nrejected += p.rec.nbad;
	}
	answer(ans, 204, NULL);
out:
	ferry_buf_release(&p.bad);
	ferry_buf_release(&rec);
	ferry_buf_release(&kept);
	return 0;
}

/*
 * A write.  In a gradual cutover's switchover each point takes the phase
 * of its wave: a write whose points are all of one phase goes that way
 * whole; one with points of both is two writes, the dual points first
 * (the old store primary), then the new-primary ones, and is answered
 * 204 only when both were (the ack rule holds for each part: a retry
 * after a failed second part writes the first again, which the stores
 * take as the same points).
 */
static int op_write(void *ud, const char *db, const char *rp, struct relay_points *pts,
		    struct relay_answer *ans)
{
	struct relay *R = ud;
	struct relay_wave_split sp;
	int phase, g, rc = 0, split = 0;

	if (!pts->npoints)
		return answer(ans, 204, NULL);
	/* counted under the phase it takes, which the phase watcher waits
	 * for before it reports a new one (phase_main) */
	for (;;) {
		phase = atomic_load(&R->phase);
		atomic_fetch_add(&R->writing[phase], 1);
		if (atomic_load(&R->phase) == phase)
			break;
		atomic_fetch_sub(&R->writing[phase], 1);
	}
	if (!db || !*db)   /* the device API names no database: the first one */
		db = R->dbs[0];
	memset(&sp, 0, sizeof(sp));
	pthread_rwlock_rdlock(&R->wmu);
	if (R->waves && (phase == FERRY_PHASE_DUAL || phase == FERRY_PHASE_NEW_PRIMARY)) {
		split = 1;
		rc = relay_waves_split(R->waves, pts->lp.buf, pts->lp.len, &sp);
	}
	pthread_rwlock_unlock(&R->wmu);
	if (rc < 0) {
		answer(ans, 500, "out of memory");
	} else if (!split) {
		write_phase(R, phase, db, rp, pts->lp.buf, pts->lp.len, pts->npoints, 0, pts, ans);
	} else {
		for (g = 0; g < 2; g++) {
			if (!sp.npoints[g])
				continue;
			write_phase(R, g ? FERRY_PHASE_NEW_PRIMARY : FERRY_PHASE_DUAL, db, rp,
				    sp.lp[g].buf, sp.lp[g].len, sp.npoints[g], sp.waves[g], pts,
				    ans);
			if (ans->status != 204)
				break;
		}
	}
	ferry_buf_release(&sp.lp[0]);
	ferry_buf_release(&sp.lp[1]);
	atomic_fetch_sub(&R->writing[phase], 1);
	return 0;
}

static int op_query(void *ud, const struct relay_query *q, struct relay_answer *ans)
{
	struct relay *R = ud;
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc;

	if (!R->qs)
		return answer(ans, 404, "/query is passed to the old InfluxDB, and there is none");
	pthread_mutex_lock(&R->qmu);
	rc = relay_influx_query(R->qs, q, ans, &err);
	pthread_mutex_unlock(&R->qmu);
	if (rc < 0)
		return answer(ans, 502, "cannot pass /query to the old InfluxDB: %s", err.msg);
	return 0;
}

static int op_device(void *ud, const char *key, char *id, size_t cap)
{
	struct relay *R = ud;
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc;

	if (!R->dev)
		return 0;
	rc = relay_devices_lookup(R->dev, key, id, cap, &err);
	if (rc < 0)
		ferry_warn("relay: cannot look up a device key: %s", err.msg);
	return rc;
}

static int op_has_db(void *ud, const char *db)
{
	struct relay *R = ud;
	size_t i;

	for (i = 0; i < R->ndbs; i++)
		if (!strcmp(R->dbs[i], db))
			return 1;
	return 0;
}

static int op_ready(void *ud)
{
	struct relay *R = ud;
	int phase = atomic_load(&R->phase);
	int pri = primary_of(phase), sec = secondary_of(phase);

	if (!R->has[pri])
		return 0;
	/* a primary that was down is asked again (at most once a second):
	 * behind a load balancer a relay that is not ready gets no writes,
	 * so a failed write alone would never make it ready again */
	if (!atomic_load(&R->up[pri])) {
		int64_t now = (int64_t)(now_s() * 1000), last = atomic_load(&R->probe_ms);

		if (now - last < 1000 || !atomic_compare_exchange_strong(&R->probe_ms, &last, now) ||
		    !relay_store_ping(R->cm[pri].st))
			return 0;
		set_up(R, pri, 1);
	}
	/* room for a big write (a Telegraf batch), or a quarter of a small spool */
	return sec < 0 || !R->has[sec] ||
	       relay_spool_room(R->spool, R->o->spool_max && R->o->spool_max < (4u << 20) ?
				       (size_t)(R->o->spool_max / 4) : (1u << 20));
}

static void op_gauges(void *ud, struct relay_gauges *g)
{
	struct relay *R = ud;
	struct relay_spool_stats st;
	int i;

	memset(g, 0, sizeof(*g));
	g->phase = atomic_load(&R->phase);
	g->ready = op_ready(R);
	if (R->spool) {
		relay_spool_stats(R->spool, &st);
		g->spool_bytes = st.bytes;
		g->spool_records = st.records;
		if (st.records && st.oldest_ns)
			g->replay_lag_s = (double)(wall_ns() - st.oldest_ns) / 1e9;
	}
	for (i = 0; i < 2; i++) {
		g->store_kind[i] = R->has[i] ? relay_store_kind(R->cm[i].st) : NULL;
		g->store_up[i] = R->has[i] && atomic_load(&R->up[i]);
	}
	g->mqtt = R->mqtt;
}

static const struct relay_http_ops http_ops = {
	.write = op_write,
	.query = op_query,
	.device = op_device,
	.has_db = op_has_db,
	.ready = op_ready,
	.gauges = op_gauges,
};

/* ------------------------------------------------------------ replay */

struct replay_batch {
	struct relay_rec recs[REPLAY_MAX_RECS];
	int to[REPLAY_MAX_RECS];
	struct ferry_buf bad[REPLAY_MAX_RECS];
	void *copies[REPLAY_MAX_RECS];   /* each record's bytes (decode points in) */
	size_t n;
	uint64_t last;
};

static int on_spooled(void *ud, uint64_t seq, const void *p, size_t n, struct ferry_error *err)
{
	struct replay_batch *b = ud;
	void *copy;

	if (b->n == REPLAY_MAX_RECS)
		return 1;
	if (!(copy = ferry_malloc(n ? n : 1)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	memcpy(copy, p, n);
	b->copies[b->n] = copy;
	b->last = seq;
	memset(&b->recs[b->n], 0, sizeof(b->recs[b->n]));
	if (relay_rec_decode(copy, n, &b->to[b->n], &b->recs[b->n]) < 0) {
		/* the spool's checksum passed: this is not ours; keep it aside */
		b->to[b->n] = 0;
		b->recs[b->n].lp = copy;
		b->recs[b->n].n = n;
	}
	b->recs[b->n].seq = seq;
	b->n++;
	return 0;
}

static void batch_clear(struct replay_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		ferry_free(b->copies[i]);
		ferry_buf_clear(&b->bad[i]);
	}
	b->n = 0;
}

/* Write recs[lo..hi) (one destination) until the store takes them. */
static int replay_run(struct relay *R, struct replay_batch *b, size_t lo, size_t hi,
		      uint64_t *pg_pos)
{
	int which = b->to[lo] == RELAY_TO_OLD ? RELAY_OLD : RELAY_NEW;
	struct relay_store *st = R->rs[which];
	const char *spool_id = relay_spool_id(R->spool);
	size_t i, first = lo;
	int backoff = 100, rc;

	/* PostgreSQL already committed what its position covers */
	while (first < hi && b->recs[first].seq <= pg_pos[which])
		first++;
	if (first == hi)
		return 0;
	for (i = first; i < hi; i++)
		b->recs[i].bad = &b->bad[i];
	while (!atomic_load(&R->stop)) {
		struct ferry_error err = FERRY_ERROR_INIT;
		double t0 = now_s();

		rc = relay_store_write(st, b->recs + first, hi - first, spool_id, &err);
		relay_metrics_observe(R->metrics, which, now_s() - t0);
		relay_metrics_store_add(R->metrics, which, RELAY_S_WRITES, 1);
		if (rc == 0) {
			set_up(R, which, 1);
			break;
		}
		relay_metrics_store_add(R->metrics, which, RELAY_S_ERRORS, 1);
		if (rc != FERRY_ECONN)
			ferry_warn("relay: replay into the %s store failed: %s; retrying",
				   which_name(which), err.msg);
		else
			set_up(R, which, 0);
		sleep_ms(backoff);
		if (backoff < 2000)
			backoff *= 2;
	}
	if (atomic_load(&R->stop))
		return 1;
	for (i = first; i < hi; i++) {
		struct relay_rec *r = &b->recs[i];
		struct ferry_error err = FERRY_ERROR_INIT;

		relay_metrics_store_add(R->metrics, which, RELAY_S_POINTS_WRITTEN,
					r->npoints - r->nbad);
		if (!r->nbad)
			continue;
		relay_metrics_add(R->metrics, RELAY_C_DEAD_LETTERS, r->nbad);
		ferry_warn("relay: the %s store refused %zu point(s) of spool record %llu: %s; "
			   "kept in %s/dead-letters.ndjson", which_name(which), r->nbad,
			   (unsigned long long)r->seq, r->why, R->o->spool_dir);
		if (relay_spool_dead_letter(R->spool, r->seq, relay_store_kind(st), r->db, r->why,
					    b->bad[i].len ? b->bad[i].buf : r->lp,
					    b->bad[i].len ? b->bad[i].len : r->n, &err) < 0)
			ferry_log(FERRY_LOG_ERROR, "relay: cannot write a dead letter: %s", err.msg);
	}
	pg_pos[which] = b->recs[hi - 1].seq;
	return 0;
}

static void *replay_main(void *arg)
{
	struct relay *R = arg;
	struct replay_batch *b = ferry_calloc(1, sizeof(*b));
	uint64_t pos, pg_pos[2] = { 0, 0 };
	int which, k;

	if (!b) {
		ferry_log(FERRY_LOG_ERROR, "relay: out of memory: the spool is not replayed");
		return NULL;
	}
	for (k = 0; k < REPLAY_MAX_RECS; k++)
		ferry_buf_init(&b->bad[k], 0);
	pos = relay_spool_acked(R->spool);
	/* the PostgreSQL position is authoritative: it committed with the rows */
	for (which = 0; which < 2; which++)
		while (R->has[which] && !atomic_load(&R->stop)) {
			struct ferry_error err = FERRY_ERROR_INIT;

			if (relay_store_position(R->rs[which], relay_spool_id(R->spool),
						 &pg_pos[which], &err) == 0)
				break;
			ferry_debug("relay: cannot read the spool position: %s", err.msg);
			sleep_ms(500);
		}
	while (!atomic_load(&R->stop)) {
		struct ferry_error err = FERRY_ERROR_INIT;
		size_t i, lo;
		int rc;

		rc = relay_spool_read(R->spool, pos, REPLAY_BATCH_BYTES, 200, on_spooled, b, &err);
		if (rc < 0) {
			ferry_log(FERRY_LOG_ERROR, "relay: cannot read the spool: %s", err.msg);
			batch_clear(b);
			sleep_ms(1000);
			continue;
		}
		if (!b->n)
			continue;
		for (lo = 0, i = 1; i <= b->n; i++) {
			if (i < b->n && b->to[i] == b->to[lo])
				continue;
			if (!b->to[lo]) {
				struct ferry_error e2 = FERRY_ERROR_INIT;

				relay_metrics_add(R->metrics, RELAY_C_DEAD_LETTERS, 1);
				ferry_warn("relay: spool record %llu is not a write; kept as a dead letter",
					   (unsigned long long)b->recs[lo].seq);
				if (relay_spool_dead_letter(R->spool, b->recs[lo].seq, "?", "",
							    "undecodable spool record",
							    b->recs[lo].lp, b->recs[lo].n, &e2) < 0)
					ferry_log(FERRY_LOG_ERROR, "relay: cannot write a dead letter: %s",
						  e2.msg);
				lo = i;
				continue;
			}
			which = b->to[lo] == RELAY_TO_OLD ? RELAY_OLD : RELAY_NEW;
			if (!R->has[which]) {
				ferry_warn("relay: spool records for the %s store, which is not "
					   "configured, are skipped", which_name(which));
			} else if (replay_run(R, b, lo, i, pg_pos)) {
				break;   /* stopping: not acked, replayed next start */
			}
			lo = i;
		}
		if (atomic_load(&R->stop) && lo < b->n) {
			batch_clear(b);
			break;
		}
		pos = b->last;
		batch_clear(b);
		if (relay_spool_ack(R->spool, pos, &err) < 0)
			ferry_warn("relay: cannot record the spool position: %s", err.msg);
	}
	for (k = 0; k < REPLAY_MAX_RECS; k++)
		ferry_buf_release(&b->bad[k]);
	ferry_free(b);
	return NULL;
}

/* ------------------------------------------------------------ phase */

/* This relay's heartbeat: what `ferry cutover` gates on. */
static void beat(struct relay *R, int64_t phase_since_us)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_gauges g;
	struct relay_beat b;
	char sig[RELAY_MAX_WAVES * 12 + 1];
	int i;

	op_gauges(R, &g);
	memset(&b, 0, sizeof(b));
	b.relay_id = R->relay_id;
	b.listen = R->o->listen ? R->o->listen : "";
	b.spool_id = R->spool ? relay_spool_id(R->spool) : NULL;
	b.phase = g.phase;
	b.phase_since_us = phase_since_us;
	b.ready = g.ready;
	b.spool_ok = R->spool && relay_spool_room(R->spool, 1);
	b.spool_records = g.spool_records;
	b.lag_s = g.replay_lag_s;
	for (i = 0; i < 2; i++) {
		b.writes[i] = relay_metrics_store_get(R->metrics, i, RELAY_S_WRITES);
		b.errors[i] = relay_metrics_store_get(R->metrics, i, RELAY_S_ERRORS);
	}
	/* the phase thread alone changes R->waves: no lock to read it here */
	relay_waves_sig(R->waves, sig, sizeof(sig));
	b.waves = sig;
	b.nwaves = R->waves ? R->waves->n : 0;
	for (i = 0; i < RELAY_MAX_WAVES; i++) {
		b.wave_writes[i] = atomic_load(&R->wave_w[i]);
		b.wave_errors[i] = atomic_load(&R->wave_e[i]);
	}
	if (relay_phase_report(R->ph, &b, &err) < 0)
		ferry_debug("relay: heartbeat: %s", err.msg);
}

/* Is a wave in new-primary?  (Phase thread.) */
static int waves_np(const struct relay *R)
{
	size_t i;

	for (i = 0; R->waves && i < R->waves->n; i++)
		if (R->waves->w[i].phase == FERRY_PHASE_NEW_PRIMARY)
			return 1;
	return 0;
}

/* Follow the waves the phase thread read (gradual), or none. */
static void waves_take(struct relay *R, struct relay_waves *ws)
{
	struct relay_waves *old;
	char was[RELAY_MAX_WAVES * 12 + 1], now[RELAY_MAX_WAVES * 12 + 1];

	relay_waves_sig(R->waves, was, sizeof(was));
	relay_waves_sig(ws, now, sizeof(now));
	pthread_rwlock_wrlock(&R->wmu);
	old = R->waves;
	R->waves = ws;
	pthread_rwlock_unlock(&R->wmu);
	relay_waves_free(old);
	if (strcmp(was, now))
		ferry_info("relay: waves %s -> %s", *was ? was : "none", *now ? now : "none");
}

/* In new-primary (or a wave of it): has the new store failed enough
 * writes to go back to dual?  Then move this relay now, every wave with
 * it, and keep the rollback to record. */
static int rollback_due(struct relay *R)
{
	struct relay_rb_limits lim;
	uint64_t w, e;
	double rate;
	char t[64];

	if (R->rb_pending ||
	    (atomic_load(&R->phase) != FERRY_PHASE_NEW_PRIMARY && !waves_np(R)))
		return 0;
	relay_phase_limits(R->ph, &lim);
	if (!lim.on)
		return 0;
	errwin_sum(&R->ew, lim.window_s, &w, &e);
	rate = w ? (double)e / (double)w : 0;
	if (w < (uint64_t)lim.min_writes || rate < lim.threshold)
		return 0;
	R->rb_pending = 1;
	R->rb_decided_us = wall_ns() / 1000;
	snprintf(R->rb_why, sizeof(R->rb_why), "the new store failed %llu of %llu writes "
		 "(%.1f%%) in the last %g s, threshold %g%%", (unsigned long long)e,
		 (unsigned long long)w, rate * 100, lim.window_s, lim.threshold * 100);
	snprintf(t, sizeof(t), "%.6f", rate);
	snprintf(R->rb_fig, sizeof(R->rb_fig), "{\"relay\": \"%s\", \"writes\": %llu, "
		 "\"errors\": %llu, \"rate\": %s, \"threshold\": %g, \"window_seconds\": %g, "
		 "\"min_writes\": %d}", R->relay_id, (unsigned long long)w,
		 (unsigned long long)e, t, lim.threshold, lim.window_s, lim.min_writes);
	atomic_store(&R->phase, FERRY_PHASE_DUAL);
	waves_take(R, NULL);
	ferry_warn("relay: automatic rollback: %s: this relay writes dual now (the old store "
		   "first); recording it in the cutover", R->rb_why);
	return 1;
}

/* Record the rollback decided: 1 when done (recorded, or the cutover is
 * no longer in switchover), 0 while the database cannot be asked. */
static int rollback_record(struct relay *R, int *warned)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char why[sizeof(R->rb_why) + 160];
	int64_t late = wall_ns() / 1000 - R->rb_decided_us;
	int moved = 0, rc;

	snprintf(why, sizeof(why), "%s%s", R->rb_why, late > 5000000 ?
		 "; decided earlier (decided_at), recorded when the cutover database "
		 "answered again: the relay wrote dual meanwhile" : "");
	rc = relay_phase_rollback(R->ph, R->relay_id, why, R->rb_fig, R->rb_decided_us, &moved,
				  &err);
	if (rc < 0) {
		if (!*warned)
			ferry_warn("relay: cannot record the automatic rollback yet (staying in "
				   "dual): %s", err.msg);
		*warned = 1;
		return 0;
	}
	if (moved)
		ferry_info("relay: automatic rollback recorded: the cutover is back at validate, "
			   "every relay in dual");
	else
		ferry_info("relay: the cutover had left switchover already (another relay's "
			   "rollback, or an operator): following the stored phase %s",
			   ferry_phase_name(relay_phase_get(R->ph)));
	R->rb_pending = 0;
	*warned = 0;
	return 1;
}

/* End the phase thread: its heartbeat reads the MQTT client's counters
 * (op_gauges), so it goes before MQTT stops (TSan saw the heartbeat read
 * R->mqtt while the main thread stopped it). */
static void phase_thread_stop(struct relay *R)
{
	atomic_store(&R->phase_stop, 1);
	if (R->phase_started)
		pthread_join(R->phase_th, NULL);
	R->phase_started = 0;
}

/* Wait until no write that took phase ph is in progress (at most 30 s). */
static void drain_phase(struct relay *R, int ph)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	for (i = 0; i < 30000 && atomic_load(&R->writing[ph]) > 0; i++)
		nanosleep(&ts, NULL);
	if (atomic_load(&R->writing[ph]) > 0)
		ferry_warn("relay: %ld writes of phase %s still in progress after 30 s",
			   atomic_load(&R->writing[ph]), ferry_phase_name(ph));
}

static void *phase_main(void *arg)
{
	struct relay *R = arg;
	time_t last_beat = 0;
	int64_t since_us = wall_ns() / 1000;
	int down = 0, warned = 0;

	while (!atomic_load(&R->stop) && !atomic_load(&R->phase_stop)) {
		struct ferry_error err = FERRY_ERROR_INIT;
		int rc = relay_phase_poll(R->ph, 500, &err), ph;

		if (R->rb_pending && rc >= 0)
			rollback_record(R, &warned);
		ph = relay_phase_get(R->ph);
		/* a rollback not yet recorded keeps dual, whatever is stored */
		if (!R->rb_pending && ph != atomic_load(&R->phase)) {
			int was = atomic_exchange(&R->phase, ph);

			/* from now on every write takes the new phase's path; the
			 * writes that took the old one finish first (at most 30 s):
			 * the moment after is the one the cutover's T0 and T1 are
			 * made of, and its catch-up copy must find every point
			 * written the old way.  Seen: a batch in flight under
			 * old-only reached the old store after the relay reported
			 * new-only, and the catch-up that started at once missed
			 * it.  Told at once. */
			drain_phase(R, was);
			since_us = wall_ns() / 1000;
			last_beat = 0;
			if (ph == FERRY_PHASE_NEW_PRIMARY)
				errwin_reset(&R->ew);
			ferry_info("relay: phase %s -> %s", ferry_phase_name(was),
				   ferry_phase_name(ph));
		} else if (rc < 0 && !down) {
			ferry_warn("relay: cannot follow the phase (kept %s): %s",
				   ferry_phase_name(atomic_load(&R->phase)), err.msg);
		}
		if (!R->rb_pending) {
			struct relay_waves *ws;

			if (relay_phase_waves(R->ph, &ws)) {
				int np = waves_np(R);

				waves_take(R, ws);
				last_beat = 0;
				/* a first wave in new-primary: count its writes afresh */
				if (!np && waves_np(R))
					errwin_reset(&R->ew);
			}
		}
		down = rc < 0;
		{
			struct relay_rb_limits lim;

			relay_phase_limits(R->ph, &lim);
			atomic_store(&R->sm.every, atomic_load(&R->phase) == FERRY_PHASE_DUAL &&
				     R->spool ? lim.sample_every : 0);
		}
		if (!down)
			samples_flush(R);
		if (rollback_due(R)) {
			since_us = wall_ns() / 1000;
			last_beat = 0;
			if (!down)
				rollback_record(R, &warned);
		}
		if (!down && time(NULL) - last_beat >= HEARTBEAT_S) {
			beat(R, since_us);
			last_beat = time(NULL);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ run */

static int is_row_store(const char *url)
{
	return url && (ferry_conn_url_caps(url) & FERRY_CAP_WRITE);
}

/* The databases /write accepts: the option, else the InfluxDB URL's. */
static int pick_dbs(struct relay *R, struct ferry_error *err)
{
	const char *const *d = R->o->databases;
	const char *one = "home_assistant";
	ferry_url *u = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!d) {
		for (i = 0; i < 2 && !u; i++)
			if (R->url[i] && !is_row_store(R->url[i]) &&
			    ferry_url_parse(R->url[i], &u, NULL) == 0 && !(u->path && u->path[0] &&
									  strcmp(u->path, "/"))) {
				ferry_url_free(u);
				u = NULL;
			}
		if (u)
			one = u->path + (u->path[0] == '/');
	}
	while (d && d[n])
		n++;
	if (!d)
		n = 1;
	if (!(R->dbs = ferry_calloc(n, sizeof(char *))))
		rc = FERRY_ENOMEM;
	for (i = 0; rc == 0 && i < n; i++)
		if (!(R->dbs[i] = ferry_strdup(d ? d[i] : one)))
			rc = FERRY_ENOMEM;
	R->ndbs = i;
	ferry_url_free(u);
	if (rc)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int start_committer(struct relay *R, int which, struct ferry_error *err)
{
	struct committer *c = &R->cm[which];

	c->R = R;
	c->which = which;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	if (pthread_create(&c->th, NULL, committer_main, c))
		return ferry_error_set(err, FERRY_EIO, "cannot start a thread: %s", strerror(errno));
	c->started = 1;
	return 0;
}

static void stop_committer(struct committer *c)
{
	if (!c->started)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->done);
	c->started = 0;
}

static void relay_teardown(struct relay *R)
{
	size_t i;

	atomic_store(&R->stop, 1);
	if (R->replay_started)
		pthread_join(R->replay_th, NULL);
	if (R->phase_started)
		pthread_join(R->phase_th, NULL);
	for (i = 0; i < 2; i++) {
		stop_committer(&R->cm[i]);
		if (R->cm[i].st)
			relay_store_close(R->cm[i].st);
		if (R->rs[i])
			relay_store_close(R->rs[i]);
	}
	if (R->qs)
		relay_store_close(R->qs);
	pthread_mutex_destroy(&R->qmu);
	pthread_mutex_destroy(&R->ew.mu);
	relay_waves_free(R->waves);
	pthread_rwlock_destroy(&R->wmu);
	for (i = 0; i < R->sm.n; i++)
		ferry_free(R->sm.q[i].line);
	pthread_mutex_destroy(&R->sm.mu);
	if (R->ph) {
		/* nothing is acknowledged any more: the cutover need not wait
		 * for this relay, only for the records its spool keeps */
		struct ferry_error err = FERRY_ERROR_INIT;
		struct relay_spool_stats st;

		memset(&st, 0, sizeof(st));
		if (R->spool)
			relay_spool_stats(R->spool, &st);
		if (*R->relay_id &&
		    relay_phase_stopped(R->ph, R->relay_id, st.records, &err) < 0)
			ferry_warn("relay: cannot record that it stopped in ferry.relays: %s",
				   err.msg);
		relay_phase_close(R->ph);
	}
	if (R->dev)
		relay_devices_close(R->dev);
	if (R->spool)
		relay_spool_close(R->spool);
	if (R->metrics)
		relay_metrics_free(R->metrics);
	if (R->status)
		relay_status_close(R->status);
	for (i = 0; i < R->ndbs; i++)
		ferry_free(R->dbs[i]);
	ferry_free(R->dbs);
}

static int open_all(struct relay *R, struct ferry_error *err)
{
	const struct ferry_relay_opts *o = R->o;
	const char *pg = NULL;
	int phase = FERRY_PHASE_DUAL, i, rc;

	if (o->phase && ferry_phase_parse(o->phase, &phase) < 0)
		return ferry_error_set(err, FERRY_EUSAGE, "unknown phase '%s': use old-only, dual, "
				       "new-primary or new-only", o->phase);
	if (!o->old_url && !o->new_url)
		return ferry_error_set(err, FERRY_EUSAGE, "ferry relay needs --old URL and --new URL "
				       "(the store clients write to today, and the next one)");
	if (o->cutover_db && !ferry_relay_is_pg_url(o->cutover_db))
		return ferry_error_set(err, FERRY_EUSAGE, "invalid --db '%s': the cutover phase "
				       "lives in PostgreSQL: give a postgres:// URL", o->cutover_db);
	R->url[RELAY_OLD] = o->old_url;
	R->url[RELAY_NEW] = o->new_url;
	if (o->old_url && o->new_url && !o->spool_dir)
		return ferry_error_set(err, FERRY_EUSAGE, "ferry relay needs --spool DIR: the "
				       "secondary store's copy of every write is kept there until "
				       "it is written");
	if ((rc = relay_metrics_new(&R->metrics)) < 0)
		return ferry_error_set(err, rc, "out of memory");
	if ((rc = pick_dbs(R, err)) < 0)
		return rc;
	for (i = 0; i < 2; i++) {
		if (!R->url[i])
			continue;
		R->has[i] = 1;
		if ((rc = relay_store_open(R->url[i], i, &o->ts, &R->cm[i].st, err)) < 0 ||
		    (rc = relay_store_open(R->url[i], i, &o->ts, &R->rs[i], err)) < 0) {
			ferry_error_prefix(err, "%s store", which_name(i));
			return rc;
		}
		atomic_store(&R->up[i], relay_store_ping(R->cm[i].st));
	}
	if (R->url[RELAY_OLD] && !is_row_store(R->url[RELAY_OLD]) &&
	    (rc = relay_store_open(R->url[RELAY_OLD], RELAY_OLD, &o->ts, &R->qs, err)) < 0)
		return rc;
	if (o->spool_dir &&
	    (rc = relay_spool_open(o->spool_dir, o->spool_max ? o->spool_max : SPOOL_MAX_DEFAULT,
				   &R->spool, err)) < 0)
		return rc;
	/* the phase: where --db says, else in the PostgreSQL store */
	pg = o->cutover_db ? o->cutover_db : is_row_store(o->new_url) ? o->new_url :
	     is_row_store(o->old_url) ? o->old_url : NULL;
	atomic_store(&R->phase, phase);
	if (pg) {
		if ((rc = relay_phase_open(pg, phase, &R->ph, err)) < 0) {
			ferry_error_prefix(err, "cannot read the cutover phase");
			return rc;
		}
		atomic_store(&R->phase, relay_phase_get(R->ph));
		if (is_row_store(o->new_url) &&
		    (rc = relay_devices_open(o->new_url, o, &R->dev, err)) < 0)
			return rc;
	} else {
		R->fixed_phase = 1;
	}
	/* the status page reads the cutover where the phase lives */
	return relay_status_open(pg, &R->status, err);
}

int ferry_relay_run(const struct ferry_relay_opts *o, struct ferry_error *err)
{
	struct relay R;
	struct relay_http_cfg hc;
	struct relay_http *h = NULL;
	sigset_t set, old;
	char host[64] = "";
	int sig = 0, rc, i;

	memset(&R, 0, sizeof(R));
	R.o = o;
	R.window_us = o->commit_window_us > 0 ? (uint64_t)o->commit_window_us :
		      o->commit_window_us < 0 ? 0 : 2000;
	pthread_mutex_init(&R.qmu, NULL);
	pthread_mutex_init(&R.ew.mu, NULL);
	pthread_mutex_init(&R.sm.mu, NULL);
	pthread_rwlock_init(&R.wmu, NULL);
	/* the signals go to sigwait() below, never to a worker thread */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if ((rc = open_all(&R, err)) < 0)
		goto out;
	gethostname(host, sizeof(host) - 1);
	snprintf(R.relay_id, sizeof(R.relay_id), "%s:%d:%s", host, (int)getpid(),
		 R.spool ? relay_spool_id(R.spool) : "-");
	for (i = 0; i < 2; i++)
		if (R.has[i] && (rc = start_committer(&R, i, err)) < 0)
			goto out;
	if (R.spool) {
		if (pthread_create(&R.replay_th, NULL, replay_main, &R)) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start a thread");
			goto out;
		}
		R.replay_started = 1;
	}
	if (o->mqtt_url || o->mqtt_map) {
		/* MQTT messages take the write path of /write: op_write.  Started
		 * before the threads that read R.mqtt (the phase beat and the
		 * HTTP server's gauges). */
		struct relay_mqtt_cfg mc = {
			.url = o->mqtt_url, .map_path = o->mqtt_map,
			.client_id = o->mqtt_client_id, .default_db = R.dbs[0],
			.spool = R.spool, .write = op_write, .ud = &R,
			.password = o->mqtt_password, .cafile = o->mqtt_cafile,
			.cert = o->mqtt_cert, .key = o->mqtt_key, .insecure = o->mqtt_insecure,
			.spool_dir = o->spool_dir,
		};

		if (!o->mqtt_url) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "--mqtt-map needs --mqtt URL");
			goto out;
		}
		if ((rc = relay_mqtt_start(&mc, &R.mqtt, err)) < 0)
			goto out;
	}
	if (R.ph) {
		if (pthread_create(&R.phase_th, NULL, phase_main, &R)) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start a thread");
			goto out;
		}
		R.phase_started = 1;
	}
	memset(&hc, 0, sizeof(hc));
	hc.listen = o->listen ? o->listen : ":8086";
	hc.max_body = o->max_body ? o->max_body : 25000000;
	hc.threads = o->threads;
	hc.auth_user = o->auth_user;
	hc.auth_password = o->auth_password;
	hc.telemetry_measurement = o->telemetry_measurement ? o->telemetry_measurement :
				   "telemetry";
	hc.metrics = R.metrics;
	hc.status = R.status;
	if ((rc = relay_http_start(&hc, &http_ops, &R, &h, err)) < 0)
		goto out;
	ferry_info("relay: listening on %s, phase %s%s, old %s, new %s", hc.listen,
		   ferry_phase_name(atomic_load(&R.phase)), R.fixed_phase ? " (fixed)" : "",
		   R.has[RELAY_OLD] ? relay_store_kind(R.cm[RELAY_OLD].st) : "none",
		   R.has[RELAY_NEW] ? relay_store_kind(R.cm[RELAY_NEW].st) : "none");
	while (sig != SIGINT && sig != SIGTERM)
		if (sigwait(&set, &sig))
			break;
	ferry_info("relay: stopping (signal %d): finishing the writes in flight", sig);
	/* HTTP first: /metrics reads the MQTT counters; MQTT's last batch
	 * still needs the committers, which teardown stops */
	relay_http_stop(h);
	h = NULL;
	phase_thread_stop(&R);
	relay_mqtt_stop(R.mqtt);
	R.mqtt = NULL;
	rc = 0;
out:
	if (h)
		relay_http_stop(h);
	phase_thread_stop(&R);
	relay_mqtt_stop(R.mqtt);
	relay_teardown(&R);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
