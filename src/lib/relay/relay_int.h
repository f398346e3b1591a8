/*
 * relay_int.h - the parts of `ferry relay` and how they fit (prefix relay_).
 *
 *   http.c       libmicrohttpd front: /write /api/v2/write /api/v1/telemetry
 *                /ping /query /health /ready /metrics /stats; answers as
 *                influxd does (status codes, headers, error bodies); gzip,
 *                body limit, auth; calls the struct relay_http_ops below
 *   ingest.c     a /write body -> struct relay_points (tm_check_record: the
 *                same checks as `ferry copy lp://`)
 *   telemetry.c  a device API JSON body -> struct relay_points
 *   store_pg.c   PostgreSQL sink: points -> rows by the copy layout (tsmap
 *                live mapper), COPY, spool position in the same transaction
 *   store_influx.c  InfluxDB sink: records through tsmap's one write path
 *                (tm_ifx_write), and the /query pass-through (tm_ifx_request)
 *   spool.c      the durable append-only log of the secondary's writes,
 *                dead letters
 *   phase.c      ferry.cutover (the phase), LISTEN/NOTIFY, relay heartbeats
 *   devices.c    X-API-Key -> device id (a table in the new database)
 *   metrics.c    counters and histograms; Prometheus text and JSON
 *   status.c     the status page (GET /, its files built in) and
 *                /api/status: the metrics and the cached cutover report
 *   config.c     YAML file and FERRY_RELAY_* environment into the options
 *   relay.c      the write path and the ack rule: primary (group commit) +
 *                spool, then 204; the replay thread; phase changes
 *   mqtt.c, mqtt_map.c  MQTT subscriptions into the same write path
 *                (mqtt_int.h)
 *
 * Threads: libmicrohttpd's pool calls the http ops concurrently; relay.c
 * serialises each store behind its own committer thread, so a struct
 * relay_store is only ever used by one thread at a time.  The spool is
 * appended to by many threads and read by one.
 */
#ifndef FERRY_RELAY_INT_H
#define FERRY_RELAY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/relay.h"
#include "wire/lineproto.h"

/* ------------------------------------------------------------ points */

/* One client write after the checks: the points it keeps, as line
 * protocol, one record per line, each ending in '\n' and each with a
 * timestamp in nanoseconds (lp_parse_line() of a line gives back the
 * point the client sent).  This text is what every later stage takes:
 * the primary store, the spool record, the replay into the secondary. */
struct relay_points {
	struct ferry_buf lp;
	size_t npoints;
	size_t nrejected;       /* lines refused by the checks */
	char why[512];          /* the first refusal, worded as influxd does:
				 * "unable to parse 'LINE': REASON" (LINE cut to
				 * 64 bytes) */
};

void relay_points_init(struct relay_points *p);
void relay_points_release(struct relay_points *p);
void relay_points_clear(struct relay_points *p);

/* Parse and check a /write body (decoded) as `ferry copy lp://` checks a
 * file: the good points to out, the bad lines counted with the first
 * reason.  precision is the request's; a point without a timestamp gets
 * now_ns (influxd assigns the server's time).  0, or FERRY_ENOMEM. */
int relay_ingest_lp(const char *body, size_t n, enum lp_precision precision,
		    int64_t now_ns, struct relay_points *out, struct ferry_error *err);

/* A device API body ({"data":{...},"metadata":{...},"timestamp":...}) as
 * one point of measurement, tag device_id=device, the data as fields,
 * metadata as tags.  0, FERRY_EPARSE with err saying what is wrong and
 * where (a 400), or FERRY_ENOMEM. */
int relay_ingest_telemetry(const char *json, size_t n, const char *measurement,
			   const char *device, int64_t now_ns, struct relay_points *out,
			   struct ferry_error *err);

/* A JSON time as the device API takes "timestamp" (a number: seconds,
 * ms, us or ns by its size; a string: RFC 3339) in ns: 1, 0 when out of
 * range or not a time, -1 when v is neither a number nor a string. */
struct json_t;
int relay_json_time(struct json_t *v, int64_t *ns);

/* ------------------------------------------------------------ stores */

/* One write as the stores take it (a request's points, or a spool record). */
struct relay_rec {
	uint64_t seq;           /* spool sequence number; 0 for a primary write */
	const char *db;         /* InfluxDB database of the write */
	const char *rp;         /* retention policy, "" for the default */
	const char *lp;         /* records as in struct relay_points.lp */
	size_t n;
	size_t npoints;
	/* set by relay_store_write(): points the store refused as bad input
	 * (0: all written), the first reason, and, when bad is not NULL,
	 * the refused lines appended to it */
	size_t nbad;
	char why[256];
	struct ferry_buf *bad;
	/* InfluxDB has no such database or retention policy: influxd's
	 * status (404, 500), every point is in bad, why is influxd's reason
	 * (a primary answers with both, as influxd does, not with a partial
	 * write); 0 otherwise */
	int missing;
};

struct relay_store;

/* Open a store by URL (postgres://, influx://) as the old or the new
 * store (which: RELAY_OLD, RELAY_NEW).  For PostgreSQL, ts gives the
 * layout of the rows (as `ferry copy`, a map's points: first), and the
 * layout's tables are created when missing (the same DDL as ferry copy).
 * An InfluxDB new store writes into the database of its URL, each point
 * through ts's point map (ts->map's points:, NULL ts: none); an InfluxDB
 * old store takes the client's lines unchanged into the database each
 * record names.  A store that is down at open is not an error: the handle
 * connects when first used. */
int relay_store_open(const char *url, int which, const struct ferry_ts_opts *ts,
		     struct relay_store **out, struct ferry_error *err);
void relay_store_close(struct relay_store *s);
/* "postgres" or "influx", for metrics and messages. */
const char *relay_store_kind(const struct relay_store *s);

/*
 * Write recs[0..n) in one go.  Returns 0 when every record was handled:
 * each is written whole, or its nbad points were refused as bad input
 * (a value the target type cannot take, a field type conflict, a map
 * that has no column for it) and the rest written.  Returns FERRY_ECONN
 * when the store cannot take writes now (down, restarting, a timeout):
 * then nothing is written to PostgreSQL (the transaction rolled back) and
 * anything InfluxDB kept is harmless to write again (same series and
 * time: overwritten).  Other negative codes: a bug or out of memory.
 * spool_id not NULL (PostgreSQL only): the largest seq of recs is stored
 * for spool_id in ferry.relay_spool in the same transaction as the rows.
 */
int relay_store_write(struct relay_store *s, struct relay_rec *recs, size_t n,
		      const char *spool_id, struct ferry_error *err);
/* PostgreSQL: the seq stored for spool_id (0 when none); InfluxDB: 0. */
int relay_store_position(struct relay_store *s, const char *spool_id, uint64_t *seq,
			 struct ferry_error *err);
/* Can the store take writes now (a cheap round trip)?  1, 0. */
int relay_store_ping(struct relay_store *s);
/* Does the InfluxDB store have database db?  1, 0, or FERRY_ECONN. */
int relay_store_has_db(struct relay_store *s, const char *db, struct ferry_error *err);

/* The answer to a passed-through request (or any request). */
struct relay_answer {
	int status;                 /* HTTP status */
	char content_type[128];
	struct ferry_buf body;
};

/* A client's /query, passed to InfluxDB as it came. */
struct relay_query {
	const char *method;         /* GET, POST */
	const char *query;          /* the query string, without '?' */
	const char *body;           /* NULL: none */
	size_t n;
	const char *content_type;   /* the body's; NULL: none */
	const char *accept;         /* the client's Accept (application/csv,
				     * application/x-msgpack); NULL: none */
};

/* /query to an InfluxDB store; the answer as influxd gave it.  FERRY_ECONN
 * when it cannot be reached. */
int relay_influx_query(struct relay_store *s, const struct relay_query *q,
		       struct relay_answer *ans, struct ferry_error *err);

/* ------------------------------------------------------------ spool */

/*
 * DIR/ holds segment files of records, a position file and
 * dead-letters.ndjson.  A record is appended whole or not at all (a torn
 * tail after a crash is cut off at open); appenders share fsyncs (group
 * commit); sequence numbers start at 1 and are never reused, also across
 * restarts.  The total of unreplayed bytes is capped.
 */
struct relay_spool;

struct relay_spool_stats {
	uint64_t bytes;             /* unreplayed records' bytes on disk */
	uint64_t records;           /* unreplayed records */
	uint64_t last_seq;          /* of the last append, 0 none */
	uint64_t acked;             /* position given to relay_spool_ack() */
	int64_t oldest_ns;          /* append time of the oldest unreplayed record, 0 none */
	uint64_t dead_letters;      /* lines in dead-letters.ndjson written by this process */
};

/* Open or create the spool in dir (created when missing).  max_bytes caps
 * the unreplayed bytes. */
int relay_spool_open(const char *dir, uint64_t max_bytes, struct relay_spool **out,
		     struct ferry_error *err);
void relay_spool_close(struct relay_spool *s);
/* A stable id of this spool directory (made at creation): the key of its
 * position in ferry.relay_spool. */
const char *relay_spool_id(const struct relay_spool *s);
/* Is there room for n more bytes? 1 or 0 (a hint: append decides). */
int relay_spool_room(struct relay_spool *s, size_t n);
/* Append a record and return once it is on disk (fsync'd), *seq its number.
 * FERRY_ETOOBIG when the cap is reached (nothing written).  Thread-safe. */
int relay_spool_append(struct relay_spool *s, const void *p, size_t n, uint64_t *seq,
		       struct ferry_error *err);

typedef int (*relay_spool_fn)(void *ud, uint64_t seq, const void *p, size_t n,
			      struct ferry_error *err);
/* Records with seq > after, in order, to fn, at most max_bytes of them (at
 * least one); when there is none, wait up to wait_ms for one.  Returns
 * the number delivered (0 after the wait) or a negative code; fn's
 * non-zero return stops and is returned.  One reader at a time. */
int relay_spool_read(struct relay_spool *s, uint64_t after, size_t max_bytes, int wait_ms,
		     relay_spool_fn fn, void *ud, struct ferry_error *err);
/* Records up to seq are in the secondary: their space is freed, and the
 * position is kept in DIR (written now, fsync'd at most every second: it
 * may lag after a crash; PostgreSQL's own position is authoritative). */
int relay_spool_ack(struct relay_spool *s, uint64_t seq, struct ferry_error *err);
/* The position kept in DIR (0 when none). */
uint64_t relay_spool_acked(const struct relay_spool *s);
void relay_spool_stats(struct relay_spool *s, struct relay_spool_stats *st);
/* Append to DIR/dead-letters.ndjson, fsync'd: one JSON object per line
 * {"time":RFC3339,"seq":N,"store":..,"db":..,"reason":..,"lp":..}. */
int relay_spool_dead_letter(struct relay_spool *s, uint64_t seq, const char *store,
			    const char *db, const char *reason, const char *lp, size_t n,
			    struct ferry_error *err);

/* A spool record's payload: which store it is for (RELAY_TO_OLD/NEW), the
 * database, the retention policy and the points.  encode appends to out;
 * decode points into p (borrowed).  0, FERRY_ENOMEM, or FERRY_EPARSE. */
enum { RELAY_TO_OLD = 'o', RELAY_TO_NEW = 'n' };
int relay_rec_encode(struct ferry_buf *out, int to, const char *db, const char *rp,
		     const char *lp, size_t n, size_t npoints);
int relay_rec_decode(const void *p, size_t n, int *to, struct relay_rec *rec);

/* ------------------------------------------------------------ phase */

/* ferry.cutover in a PostgreSQL database: the phase every relay follows. */
struct relay_phase;

/* Connect, create ferry.cutover when missing (with phase initial; an
 * existing phase is kept), LISTEN for changes.  The database being down is
 * an error here (the relay cannot know its phase). */
int relay_phase_open(const char *pg_url, int initial, struct relay_phase **out,
		     struct ferry_error *err);
void relay_phase_close(struct relay_phase *w);
/* The phase as last read (thread-safe). */
int relay_phase_get(const struct relay_phase *w);
/* Wait up to ms for a change (a NOTIFY, or the table re-read every few
 * seconds); reconnect after a lost connection.  1 when the phase changed,
 * 0 when not, negative while the database stays unreachable (the phase is
 * kept).  Call from one thread. */
int relay_phase_poll(struct relay_phase *w, int ms, struct ferry_error *err);
/* What a relay says of itself in ferry.relays (`ferry cutover` reads it). */
#define RELAY_MAX_WAVES 16       /* a gradual cutover's waves, at most */
#define RATE_WINDOW_S 300        /* writes and errors are counted over this */
struct relay_beat {
	const char *relay_id, *listen;
	const char *spool_id;        /* NULL: no spool */
	int phase;                   /* the phase it follows now */
	int64_t phase_since_us;      /* since when (its wall clock, us since 1970) */
	int ready;                   /* /ready would answer 200 */
	int spool_ok;                /* the spool takes writes (open, not full) */
	uint64_t spool_records;
	double lag_s;
	uint64_t writes[2], errors[2];   /* cumulative per store (RELAY_OLD/NEW):
					  * the report turns them into the counts
					  * of the last RATE_WINDOW_S */
	/* gradual: the waves' phases it follows ("new-primary,dual"; NULL
	 * none) and per wave its client writes to the new store as the
	 * primary and the failed ones, cumulative as above */
	const char *waves;
	size_t nwaves;
	uint64_t wave_writes[RELAY_MAX_WAVES], wave_errors[RELAY_MAX_WAVES];
};
/* Heartbeat in ferry.relays.  Same thread as relay_phase_poll.  The rows
 * of earlier processes on the same spool (one relay per spool: they are
 * gone) are marked stopped. */
int relay_phase_report(struct relay_phase *w, const struct relay_beat *b,
		       struct ferry_error *err);
/* At a relay's end (nothing more acknowledged): its row marked stopped,
 * with the spool records it leaves for its next start. */
int relay_phase_stopped(struct relay_phase *w, const char *relay_id, uint64_t spool_records,
			struct ferry_error *err);

/* Automatic rollback (ferry.cutover_plan's rollback_* columns): on when
 * the phase last read is new-primary and a plan is in switchover. */
struct relay_rb_limits {
	int on;
	double threshold;            /* a fraction of the writes */
	double window_s;
	int min_writes;
	int sample_every;            /* dual: sample 1 in this many writes; 0 off */
};
/* As last read (same thread as relay_phase_poll). */
void relay_phase_limits(const struct relay_phase *w, struct relay_rb_limits *out);
/* A point a relay wrote in dual, for the live consistency gate. */
struct relay_sample {
	char db[128];
	char measurement[256];
	int64_t time_ns;
	uint64_t seq;                /* its spool record (the new store's copy) */
	int64_t sampled_us;          /* wall clock */
	char *line;                  /* the point as line protocol */
};
/* Record samples in ferry.cutover_samples (one transaction). */
int relay_phase_samples(struct relay_phase *w, const char *relay_id, const char *spool_id,
			const struct relay_sample *s, size_t n, struct ferry_error *err);
/* Move the cutover back from switchover to validate (the relays to dual)
 * in one transaction conditional on the plan still being in switchover
 * and the phase new-primary: *moved 1 when this call did it, 0 when the
 * cutover is elsewhere (another relay won, an operator moved it).  by,
 * why (a sentence) and figures (a JSON object) go to
 * ferry.cutover_plan.auto_rollback and the log row; decided_us (wall
 * clock) is when the relay decided, which is earlier than the record when
 * the database was down meanwhile.  FERRY_ECONN while it is unreachable. */
int relay_phase_rollback(struct relay_phase *w, const char *by, const char *why,
			 const char *figures, int64_t decided_us, int *moved,
			 struct ferry_error *err);

/* ------------------------------------------------------------ waves */

/* A gradual cutover's waves (waves.c): each with its selectors and the
 * phase its points follow (dual or new-primary); the last takes the rest. */
struct relay_wave {
	char name[64];
	char **sel;                  /* "GLOB" (measurement) or "TAG=GLOB" */
	size_t nsel;
	int phase;
};
struct relay_waves {
	size_t n;
	struct relay_wave w[RELAY_MAX_WAVES];
};
/* 0, or -1 with why: selector sel is not one. */
int relay_wave_sel_check(const char *sel, char *why, size_t n);
/* Append a wave (match: a JSON array of selectors); -1 when full, out of
 * memory or match is not an array of strings. */
int relay_waves_add(struct relay_waves *ws, const char *name, const char *match, int phase);
void relay_waves_free(struct relay_waves *ws);
/* The index of pt's wave. */
size_t relay_waves_of(const struct relay_waves *ws, const struct lp_point *pt);
/* A write's lines split by their wave's phase: [0] dual, [1] new-primary,
 * with the points of each and a bit per wave that has points in it. */
struct relay_wave_split {
	struct ferry_buf lp[2];
	size_t npoints[2];
	unsigned waves[2];
};
int relay_waves_split(const struct relay_waves *ws, const char *lp, size_t n,
		      struct relay_wave_split *out);
/* "new-primary,dual,dual": the phases by wave ("" for none). */
void relay_waves_sig(const struct relay_waves *ws, char *buf, size_t n);
/* The waves last read when they changed since the last call (1; *out
 * NULL: none, the relay follows the one phase), else 0.  The caller owns
 * *out.  Same thread as relay_phase_poll. */
int relay_phase_waves(struct relay_phase *w, struct relay_waves **out);

/* ------------------------------------------------------------ devices */

struct relay_devices;
/* X-API-Key -> device id from opts' table in the PostgreSQL database url;
 * answers are cached for a few seconds. */
int relay_devices_open(const char *pg_url, const struct ferry_relay_opts *o,
		       struct relay_devices **out, struct ferry_error *err);
void relay_devices_close(struct relay_devices *d);
/* 1 and the id in out (cap bytes), 0 for an unknown key, FERRY_ECONN when
 * the database cannot be asked.  Thread-safe. */
int relay_devices_lookup(struct relay_devices *d, const char *key, char *out, size_t cap,
			 struct ferry_error *err);

/* ------------------------------------------------------------ metrics */

enum relay_counter {
	RELAY_C_REQUESTS = 0,       /* write requests received */
	RELAY_C_POINTS_RECEIVED,    /* points in them that passed the checks */
	RELAY_C_REJECTS,            /* lines refused by the checks */
	RELAY_C_WRITE_ERRORS,       /* writes answered 5xx */
	RELAY_C_DEAD_LETTERS,
	RELAY_C_N
};
enum relay_store_counter {
	RELAY_S_POINTS_WRITTEN = 0, /* per store: points it committed */
	RELAY_S_WRITES,             /* per store: writes (requests or replay batches) */
	RELAY_S_ERRORS,             /* per store: failed writes */
	RELAY_S_N
};

struct relay_metrics;

int relay_metrics_new(struct relay_metrics **out);
void relay_metrics_free(struct relay_metrics *m);
void relay_metrics_add(struct relay_metrics *m, int counter, uint64_t n);
/* store: RELAY_OLD (0) or RELAY_NEW (1). */
enum { RELAY_OLD = 0, RELAY_NEW = 1 };
void relay_metrics_store_add(struct relay_metrics *m, int store, int counter, uint64_t n);
/* A store counter's value now. */
uint64_t relay_metrics_store_get(struct relay_metrics *m, int store, int counter);
/* A write's latency into store, and a request's (store -1). */
void relay_metrics_observe(struct relay_metrics *m, int store, double seconds);

/* The gauges relay.c knows at render time. */
struct relay_gauges {
	int phase;
	int ready;
	uint64_t spool_bytes, spool_records;
	double replay_lag_s;
	const char *store_kind[2];  /* "influx", "postgres", NULL when absent */
	int store_up[2];
	struct relay_mqtt *mqtt;    /* MQTT ingest (mqtt_int.h), NULL when off */
};
/* Prometheus text exposition (ferry_relay_ prefix). */
int relay_metrics_prometheus(struct relay_metrics *m, const struct relay_gauges *g,
			     struct ferry_buf *out);
/* The same as one JSON object, with "phase" as its name. */
int relay_metrics_json(struct relay_metrics *m, const struct relay_gauges *g,
		       struct ferry_buf *out);

/* ------------------------------------------------------------ status */

/* The cutover report the status page shows (status.c), read from the
 * cutover database by a thread of its own: at most once a second, only
 * while somebody polls /api/status, never by a request. */
struct relay_status;
/* pg_url: the cutover database (NULL: none; the page says so).  Starts
 * the reading thread. */
int relay_status_open(const char *pg_url, struct relay_status **out, struct ferry_error *err);
void relay_status_close(struct relay_status *s);

/* ------------------------------------------------------------ http */

/* What http.c asks relay.c.  Each may be called from any pool thread. */
struct relay_http_ops {
	/* The checked points of a write to db/rp: answer 204, or 400
	 * (ans->body the message), 404, 503, 500.  pts->nrejected > 0 makes a
	 * 2xx a 400 partial write (http.c words it). */
	int (*write)(void *ud, const char *db, const char *rp, struct relay_points *pts,
		     struct relay_answer *ans);
	/* /query pass-through; 0 with ans filled, or a negative code (502). */
	int (*query)(void *ud, const struct relay_query *q, struct relay_answer *ans);
	/* API key -> device id: 1 found, 0 unknown (401), negative: 503. */
	int (*device)(void *ud, const char *key, char *id, size_t cap);
	/* Does /write accept db?  1, 0 (404). */
	int (*has_db)(void *ud, const char *db);
	int (*ready)(void *ud);
	void (*gauges)(void *ud, struct relay_gauges *g);
};

struct relay_http_cfg {
	const char *listen;          /* HOST:PORT, ":PORT" */
	size_t max_body;
	int threads;
	const char *auth_user, *auth_password;   /* NULL: auth off */
	const char *telemetry_measurement;
	struct relay_metrics *metrics;
	struct relay_status *status;  /* /api/status's cutover report; NULL: none */
};

struct relay_http;
/* Bind and start serving; the port is taken when this returns. */
int relay_http_start(const struct relay_http_cfg *cfg, const struct relay_http_ops *ops,
		     void *ud, struct relay_http **out, struct ferry_error *err);
/* The port it listens on (the one the system chose for port 0). */
int relay_http_port(const struct relay_http *h);
/* Stop accepting, finish the requests in flight, free. */
void relay_http_stop(struct relay_http *h);

void relay_answer_init(struct relay_answer *a);
void relay_answer_release(struct relay_answer *a);

#endif
