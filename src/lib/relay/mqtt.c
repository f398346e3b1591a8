/*
 * mqtt.c - `ferry relay --mqtt`: subscribe to a broker and write what
 * arrives through the relay's own write path, with the ack rule of HTTP.
 *
 *   broker --PUBLISH--> this thread: mqtt_map (relay_ingest_lp's checks)
 *     -> a batch of messages -> cfg.write (relay.c's op_write: phase,
 *        primary commit, spool append + fsync) -> PUBACK / PUBREC
 *
 * Why not libmosquitto: a QoS 1/2 message may be acknowledged only once
 * the primary committed it and the secondary's copy is spooled (DESIGN.md,
 * the ack rule).  libmosquitto 2.0.11 (lib/handle_publish.c) sends PUBACK
 * *before* it calls on_message, and PUBREC on receipt, keeping a QoS 2
 * message in memory until PUBREL; no release (the 2.0 branch, and
 * upstream issues #118 and #2884 are open) lets the application defer
 * the acknowledgement.  A crash between the PUBACK and our commit would
 * lose a message the broker counts as delivered.  So the relay speaks
 * MQTT 3.1.1 itself (wire/mqtt.c, a pure codec, fuzzed), which is small
 * for a subscriber: CONNECT, SUBSCRIBE, PUBLISH in, the acks, PINGREQ.
 * mqtts:// is the same over TLS (mqtt_tls.c, OpenSSL): the client polls
 * the socket itself either way.
 *
 * Session: clean session 0 and a fixed client id (--mqtt-client-id), so
 * the broker keeps our subscriptions and every unacknowledged QoS 1/2
 * message while the relay is down, and sends them again (DUP) after a
 * reconnect or restart: those are the only duplicates, and they are
 * counted (redeliveries).  Messages are taken in batches: what arrived
 * together (up to BATCH_MSGS) is one write, i.e. one primary commit and
 * one spool fsync (the relay groups these further with HTTP writes), and
 * then every message of the batch is acknowledged in order.  A write that
 * fails (503: primary down, spool full) acknowledges nothing: the
 * connection is closed and the broker sends the batch again after the
 * reconnect (backoff 0.1 s doubling to 30 s).  A message the map refuses
 * is a dead letter (DIR/dead-letters.ndjson, fsync'd) and then
 * acknowledged: bad input never blocks the ones behind it.
 *
 * Retained messages: every start of the relay subscribes again (the map
 * may have changed), and the broker then sends every retained message
 * again; a resubscribe after the broker lost our session does too, and
 * overlapping filters get one copy each.  mqtt_seen.c records, per topic,
 * the payload of the retained message taken and of the last message
 * taken, after the batch is durable, in the spool directory: a retained
 * message whose payload the topic already had is acknowledged and not
 * taken (retained_skipped); a changed one is taken (retained).
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "relay/mqtt_int.h"
#include "wire/mqtt.h"

#define KEEPALIVE_S 30
#define BATCH_MSGS 2000
#define BATCH_BYTES (4u << 20)
#define BACKOFF_MAX_MS 30000
#define IO_TIMEOUT_MS 10000
#define DEAD_LETTER_MAX 4096       /* payload bytes kept in a dead letter */

struct ack {
	uint8_t type;               /* MQTT_PUBACK or MQTT_PUBREC */
	uint16_t id;
};

struct relay_mqtt {
	struct relay_mqtt_cfg cfg;
	ferry_url *url;
	char client_id[128];
	char where[300];            /* host:port for messages */
	struct relay_mqtt_map *map;
	pthread_t th;
	int started;
	_Atomic int stop;
	_Atomic int connected;
	_Atomic uint64_t reconnects, unmatched, store_refused;
	int wake[2];                /* a byte here ends a poll (stop) */
	struct relay_mqtt_conn conn;
	short rwant;                /* what the last read that got nothing waits for */
	struct relay_mqtt_tls *tls; /* mqtts://, else NULL */
	struct relay_mqtt_seen *seen;
	const char *password;
	int port;
	pthread_mutex_t emu;        /* guards error: /stats reads it */
	char error[512];            /* why the last connection ended or failed */
	struct ferry_buf in, out;
	size_t skip;                /* bytes of a refused oversized packet still to drop */
	struct relay_points pts;    /* the batch */
	struct ack *acks;
	size_t nacks, capacks, nmsgs;
	int subscribed;             /* this process subscribed once */
	int progressed;             /* a batch was acknowledged since the last reconnect */
	int64_t up_ms;              /* when the last CONNACK came */
	uint16_t next_id;
	int64_t last_send_ms, ping_sent_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait up to ms for fd (events) or a stop: 1 ready, 0 timeout or stop. */
static int wait_fd(struct relay_mqtt *q, int fd, short events, int ms)
{
	struct pollfd p[2] = { { fd, events, 0 }, { q->wake[0], POLLIN, 0 } };
	int rc;

	if (atomic_load(&q->stop))
		return 0;
	do
		rc = poll(p, 2, ms);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0 || (p[1].revents & POLLIN))
		return 0;
	return 1;
}

static void sleep_or_stop(struct relay_mqtt *q, int ms)
{
	struct pollfd p = { q->wake[0], POLLIN, 0 };

	if (!atomic_load(&q->stop))
		poll(&p, 1, ms);
}

/* Why the connection ended or could not be made, for /stats ("" when up). */
static void set_error(struct relay_mqtt *q, const char *why)
{
	pthread_mutex_lock(&q->emu);
	snprintf(q->error, sizeof(q->error), "%s", why);
	pthread_mutex_unlock(&q->emu);
}

/* ---- socket ------------------------------------------------------------------- */

static int dial(struct relay_mqtt *q, char *why, size_t cap)
{
	struct addrinfo hints, *res = NULL, *a;
	char port[16];
	int fd = -1, rc;
	int64_t t0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", q->port);
	if ((rc = getaddrinfo(q->url->host, port, &hints, &res))) {
		snprintf(why, cap, "cannot resolve '%s': %s", q->url->host, gai_strerror(rc));
		return -1;
	}
	for (a = res; a && fd < 0; a = a->ai_next) {
		int err = 0;
		socklen_t el = sizeof(err);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS)
			err = errno;
		else if (!wait_fd(q, fd, POLLOUT, IO_TIMEOUT_MS))
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			snprintf(why, cap, "cannot connect to %s: %s", q->where, strerror(err));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	q->conn.fd = fd;
	if (fd < 0)
		return -1;
	/* mqtts://: the TLS handshake, polled as the rest */
	for (t0 = mono_ms();;) {
		int64_t left = IO_TIMEOUT_MS - (mono_ms() - t0);

		rc = relay_mqtt_conn_handshake(q->tls, &q->conn, q->where, why, cap);
		if (rc != 0)
			return rc > 0 ? 0 : -1;
		if (left <= 0 || !wait_fd(q, fd, q->conn.want, (int)left)) {
			snprintf(why, cap, "TLS handshake with %s: no answer within %d s", q->where,
				 IO_TIMEOUT_MS / 1000);
			return -1;
		}
	}
}

/* Send q->out whole. */
static int flush_out(struct relay_mqtt *q, char *why, size_t cap)
{
	size_t off = 0;

	while (off < q->out.len) {
		long w = relay_mqtt_conn_write(&q->conn, q->out.buf + off, q->out.len - off,
					       q->where, why, cap);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0)
			return -1;
		if (!wait_fd(q, q->conn.fd, q->conn.want, IO_TIMEOUT_MS)) {
			snprintf(why, cap, "cannot send to %s: timed out", q->where);
			return -1;
		}
	}
	ferry_buf_clear(&q->out);
	q->last_send_ms = mono_ms();
	return 0;
}

/* Read what is there (at most 64 KiB): >0 bytes, 0 none now, -1 closed. */
static int read_some(struct relay_mqtt *q, char *why, size_t cap)
{
	long r;

	if (ferry_buf_grow(&q->in, 65536) < 0) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	r = relay_mqtt_conn_read(&q->conn, q->in.buf + q->in.len, 65536, q->where, why, cap);
	if (r > 0) {
		/* the buffer grew above: len + r fits */
		if (ferry_buf_setlen(&q->in, q->in.len + (size_t)r) < 0)
			return -1;
		q->rwant = POLLIN;
		return 1;
	}
	/* TLS may have to send before it can read on (a key update) */
	q->rwant = q->conn.want;
	return r < 0 ? -1 : 0;
}

/* Wait up to ms for input: 1 to read (TLS may hold it already), 0 not. */
static int wait_input(struct relay_mqtt *q, int ms)
{
	if (relay_mqtt_conn_pending(&q->conn))
		return 1;
	return wait_fd(q, q->conn.fd, q->rwant, ms);
}

/* ---- messages ------------------------------------------------------------------ */

static int add_ack(struct relay_mqtt *q, int type, uint16_t id)
{
	if (FERRY_GROW(q->acks, q->capacks, q->nacks + 1) < 0)
		return FERRY_ENOMEM;
	q->acks[q->nacks].type = (uint8_t)type;
	q->acks[q->nacks].id = id;
	q->nacks++;
	return 0;
}

static void dead_letter(struct relay_mqtt *q, const struct mqtt_pkt *pk, const char *why)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char reason[1200];
	const char *db = relay_mqtt_map_db(q->map);

	snprintf(reason, sizeof(reason), "topic '%.*s': %s", (int)(pk->topic_len > 512 ? 512 :
		 pk->topic_len), pk->topic, why);
	ferry_warn("relay: mqtt message refused: %s", reason);
	if (q->cfg.spool &&
	    relay_spool_dead_letter(q->cfg.spool, 0, "mqtt", db ? db : q->cfg.default_db, reason,
				    pk->payload ? (const char *)pk->payload : "",
				    pk->payload ? (pk->payload_len > DEAD_LETTER_MAX ?
						   DEAD_LETTER_MAX : pk->payload_len) : 0,
				    &err) < 0)
		ferry_log(FERRY_LOG_ERROR, "relay: cannot write a dead letter: %s", err.msg);
}

/* A PUBLISH into the batch (or refused), its ack queued. */
static int take_publish(struct relay_mqtt *q, const struct mqtt_pkt *pk)
{
	struct relay_mqtt_counts *c = NULL;
	char why[600];
	int si = relay_mqtt_map_find(q->map, pk->topic, pk->topic_len), rc = 0;

	if (si >= 0) {
		c = relay_mqtt_map_counts(q->map, (size_t)si);
		atomic_fetch_add(&c->messages, 1);
		if (pk->dup)
			atomic_fetch_add(&c->redeliveries, 1);
		if (!pk->qos)
			atomic_fetch_add(&c->qos0, 1);
	}
	if (si < 0) {
		/* a filter of an older map, kept by the broker in our session */
		atomic_fetch_add(&q->unmatched, 1);
		dead_letter(q, pk, "no subscription of the map matches the topic");
	} else if (pk->retain && pk->payload &&
		   relay_mqtt_seen_has(q->seen, pk->topic, pk->topic_len, pk->payload,
				       pk->payload_len)) {
		atomic_fetch_add(&c->retained_skipped, 1);
	} else {
		size_t before = q->pts.npoints;

		if (pk->retain)
			atomic_fetch_add(&c->retained, 1);
		rc = relay_mqtt_map_message(q->map, si, pk->topic, pk->topic_len, pk->payload,
					    pk->payload_len, wall_ns(), &q->pts, why, sizeof(why));
		if (rc == 1) {
			atomic_fetch_add(&c->rejects, 1);
			dead_letter(q, pk, why);
		} else if (rc == 0) {
			atomic_fetch_add(&c->points, q->pts.npoints - before);
		} else {
			return rc;
		}
	}
	/* recorded (once the batch is durable) whether taken or refused: a
	 * retained dead letter is not refused again at every start */
	if (pk->payload)
		relay_mqtt_seen_add(q->seen, pk->topic, pk->topic_len, pk->payload,
				    pk->payload_len, pk->retain);
	q->nmsgs++;
	if (pk->qos)
		return add_ack(q, pk->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pk->id);
	return 0;
}

/*
 * Write the batch through the relay's write path, then acknowledge it.
 * -1 (nothing acknowledged, the caller reconnects) when the write was not
 * accepted.  The point counts were added when the messages were mapped:
 * they say what was taken, the store counters what was committed.
 */
static int flush_batch(struct relay_mqtt *q, char *why, size_t cap)
{
	struct relay_answer ans;
	size_t i;
	int rc = 0;

	if (!q->nmsgs)
		return 0;
	if (q->pts.npoints) {
		const char *db = relay_mqtt_map_db(q->map);

		relay_answer_init(&ans);
		q->pts.nrejected = 0;
		q->cfg.write(q->cfg.ud, db ? db : q->cfg.default_db, relay_mqtt_map_rp(q->map),
			     &q->pts, &ans);
		if (ans.status == 400 && q->pts.nrejected) {
			/* the primary refused some points as bad input (a field type
			 * conflict): as HTTP's partial write, the rest is stored */
			atomic_fetch_add(&q->store_refused, q->pts.nrejected);
			ferry_warn("relay: the primary store refused %zu MQTT point(s): %s",
				   q->pts.nrejected, q->pts.why);
			if (q->cfg.spool) {
				struct ferry_error err = FERRY_ERROR_INIT;

				relay_spool_dead_letter(q->cfg.spool, 0, "mqtt", db ? db :
							q->cfg.default_db, q->pts.why, "", 0, &err);
			}
		} else if (ans.status != 204) {
			snprintf(why, cap, "cannot write %zu MQTT message(s) (HTTP %d: %.*s); "
				 "not acknowledged: the broker sends them again", q->nmsgs,
				 ans.status, (int)(ans.body.len > 300 ? 300 : ans.body.len),
				 ans.body.buf);
			rc = -1;
		}
		relay_answer_release(&ans);
	}
	for (i = 0; !rc && i < q->nacks; i++)
		if (mqtt_ack(&q->out, q->acks[i].type, q->acks[i].id) < 0)
			rc = -1, snprintf(why, cap, "out of memory");
	relay_points_clear(&q->pts);
	q->nacks = 0;
	q->nmsgs = 0;
	if (rc) {
		relay_mqtt_seen_drop(q->seen);
		return rc;
	}
	/* durable now (or refused for good): a retained message of the batch
	 * is not taken again */
	relay_mqtt_seen_commit(q->seen);
	q->progressed = 1;
	return flush_out(q, why, cap);
}

/* Every complete packet in q->in.  -1 on a protocol error or a lost
 * connection (why set). */
static int take_packets(struct relay_mqtt *q, int *suback, char *why, size_t cap)
{
	size_t off = 0, max = relay_mqtt_map_max_payload(q->map) + 65536 + 16;
	int rc = 0;

	while (!rc && off < q->in.len) {
		struct mqtt_pkt pk;
		const char *bad = "";
		long k;

		if (q->skip) {
			size_t d = q->in.len - off < q->skip ? q->in.len - off : q->skip;

			off += d;
			q->skip -= d;
			continue;
		}
		k = mqtt_parse(q->in.buf + off, q->in.len - off, max, &pk, &bad);
		if (k == MQTT_MORE)
			break;
		if (k == MQTT_TOOBIG) {
			/* refused from its head; its bytes are dropped as they come */
			size_t have = q->in.len - off;

			if ((rc = take_publish(q, &pk)) < 0)
				break;
			off += have < pk.total ? have : pk.total;
			q->skip = have < pk.total ? pk.total - have : 0;
			continue;
		}
		if (k < 0) {
			snprintf(why, cap, "protocol error from %s: %s", q->where, bad);
			return -1;
		}
		switch (pk.type) {
		case MQTT_PUBLISH:
			rc = take_publish(q, &pk);
			break;
		case MQTT_PUBREL:
			/* its PUBREC went out after the write: done */
			rc = mqtt_ack(&q->out, MQTT_PUBCOMP, pk.id);
			break;
		case MQTT_PINGRESP:
			q->ping_sent_ms = 0;
			break;
		case MQTT_SUBACK: {
			size_t i;

			*suback = 1;
			for (i = 0; i < pk.ncodes && i < relay_mqtt_map_count(q->map); i++)
				if (pk.codes[i] == MQTT_SUBACK_FAIL)
					ferry_log(FERRY_LOG_ERROR, "relay: %s refused the subscription "
						  "'%s' (%s)", q->where, relay_mqtt_map_name(q->map, i),
						  relay_mqtt_map_filter(q->map, i));
			break;
		}
		case MQTT_PUBACK:
		case MQTT_PUBREC:
		case MQTT_PUBCOMP:
		case MQTT_UNSUBACK:
			break;    /* we publish nothing */
		default:
			snprintf(why, cap, "protocol error from %s: unexpected packet type %d",
				 q->where, pk.type);
			return -1;
		}
		off += (size_t)k;
	}
	if (rc < 0) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	if (off) {
		memmove(q->in.buf, q->in.buf + off, q->in.len - off);
		if (ferry_buf_setlen(&q->in, q->in.len - off) < 0)
			return -1;
	}
	return 0;
}

static int subscribe(struct relay_mqtt *q)
{
	size_t n = relay_mqtt_map_count(q->map), i;
	const char **f = ferry_calloc(n, sizeof(*f));
	int *qos = ferry_calloc(n, sizeof(*qos)), rc = FERRY_ENOMEM;

	if (f && qos) {
		for (i = 0; i < n; i++) {
			f[i] = relay_mqtt_map_filter(q->map, i);
			qos[i] = relay_mqtt_map_qos(q->map, i);
		}
		if (!++q->next_id)
			q->next_id = 1;
		rc = mqtt_subscribe(&q->out, q->next_id, f, qos, n);
	}
	ferry_free(f);
	ferry_free(qos);
	return rc;
}

/* One connection, until it ends: 1 when it got as far as CONNACK 0. */
static int session(struct relay_mqtt *q, char *why, size_t cap)
{
	static const char *const refused[] = { "", "unacceptable protocol version",
		"client id rejected", "server unavailable", "bad user name or password",
		"not authorized" };
	struct mqtt_pkt pk;
	const char *bad = "";
	int64_t t0;
	int suback = 0, rc, resub = 0;
	long k;

	ferry_buf_clear(&q->in);
	ferry_buf_clear(&q->out);
	relay_points_clear(&q->pts);
	relay_mqtt_seen_drop(q->seen);
	q->nacks = q->nmsgs = 0;
	q->skip = 0;
	q->ping_sent_ms = 0;
	q->rwant = POLLIN;
	if (dial(q, why, cap) < 0)
		return 0;
	if (mqtt_connect(&q->out, q->client_id, q->url->user, q->password, KEEPALIVE_S,
			 0) < 0 || flush_out(q, why, cap) < 0)
		return 0;
	/* CONNACK */
	for (t0 = mono_ms();;) {
		k = mqtt_parse(q->in.buf, q->in.len, 64, &pk, &bad);
		if (k > 0)
			break;
		if (k < 0 || mono_ms() - t0 > IO_TIMEOUT_MS ||
		    !wait_input(q, IO_TIMEOUT_MS) || read_some(q, why, cap) < 0) {
			if (k < 0 || !why[0])
				snprintf(why, cap, "no CONNACK from %s%s%s", q->where,
					 k < 0 ? ": " : "", k < 0 ? bad : "");
			return 0;
		}
	}
	if (pk.type != MQTT_CONNACK || pk.rc) {
		snprintf(why, cap, "%s refused the connection: %s", q->where,
			 pk.type != MQTT_CONNACK ? "no CONNACK" :
			 pk.rc < 6 ? refused[pk.rc] : "unknown return code");
		return 0;
	}
	memmove(q->in.buf, q->in.buf + k, q->in.len - (size_t)k);
	if (ferry_buf_setlen(&q->in, q->in.len - (size_t)k) < 0)
		return 0;
	atomic_store(&q->connected, 1);
	q->up_ms = mono_ms();
	if (!q->subscribed || !pk.session_present) {
		resub = q->subscribed;
		if (subscribe(q) < 0 || flush_out(q, why, cap) < 0)
			return 1;
		q->subscribed = 1;
	}
	set_error(q, "");
	ferry_info("relay: mqtt connected to %s%s as '%s' (%s)%s", q->where,
		   q->tls ? " over TLS" : "", q->client_id,
		   pk.session_present ? "session resumed" : "new session",
		   resub ? "; subscribed again" : "");
	/* what came with the CONNACK (a resumed session's messages): the
	 * broker waits for their acks, so no more bytes may come to poll for */
	if (q->in.len && (take_packets(q, &suback, why, cap) < 0 || flush_batch(q, why, cap) < 0 ||
			  (q->out.len && flush_out(q, why, cap) < 0)))
		return 1;
	for (;;) {
		int64_t now = mono_ms(), wait;

		if (atomic_load(&q->stop))
			break;
		if (q->ping_sent_ms && now - q->ping_sent_ms > KEEPALIVE_S * 1000) {
			snprintf(why, cap, "%s did not answer a PINGREQ", q->where);
			return 1;
		}
		if (!q->ping_sent_ms && now - q->last_send_ms >= KEEPALIVE_S * 1000 / 2) {
			if (mqtt_simple(&q->out, MQTT_PINGREQ) < 0 || flush_out(q, why, cap) < 0)
				return 1;
			q->ping_sent_ms = now;
		}
		wait = q->last_send_ms + KEEPALIVE_S * 1000 / 2 - now;
		if (q->ping_sent_ms)
			wait = 1000;
		if (!wait_input(q, wait < 10 ? 10 : (int)wait))
			continue;
		/* read what is there now; a batch ends when the socket is drained */
		while ((rc = read_some(q, why, cap)) > 0) {
			if (take_packets(q, &suback, why, cap) < 0)
				return 1;
			if (q->nmsgs >= BATCH_MSGS || q->pts.lp.len >= BATCH_BYTES)
				break;
		}
		if (rc < 0) {
			/* what was read in full is written, not acknowledged: the
			 * broker has it again for the next session */
			return 1;
		}
		if (flush_batch(q, why, cap) < 0 || (q->out.len && flush_out(q, why, cap) < 0))
			return 1;
	}
	/* stopping: write and acknowledge what is in hand, then say goodbye
	 * (the session stays on the broker: clean session 0) */
	if (flush_batch(q, why, cap) == 0 && mqtt_simple(&q->out, MQTT_DISCONNECT) == 0)
		flush_out(q, why, cap);
	return 1;
}

static void *client_main(void *arg)
{
	struct relay_mqtt *q = arg;
	int backoff = 100, was_up = 1;

	while (!atomic_load(&q->stop)) {
		char why[1024] = "";
		int up = session(q, why, sizeof(why));

		relay_mqtt_conn_close(&q->conn);
		atomic_store(&q->connected, 0);
		set_error(q, why[0] ? why : up ? "connection lost" : "");
		if (atomic_load(&q->stop))
			break;
		/* a connection that took messages (or lived a minute) starts the
		 * backoff again; one whose writes fail (the primary down) does
		 * not, or the relay would reconnect every 0.1 s for as long as
		 * the store is down */
		if (up && (q->progressed || mono_ms() - q->up_ms > 60000))
			backoff = 100;
		q->progressed = 0;
		atomic_fetch_add(&q->reconnects, 1);
		if (up || was_up)
			ferry_warn("relay: mqtt: %s; reconnecting (backoff from %d ms)",
				   why[0] ? why : "connection lost", backoff);
		else
			ferry_debug("relay: mqtt: %s; retrying in %d ms", why, backoff);
		was_up = up;
		sleep_or_stop(q, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* ---- start, stop ------------------------------------------------------------------ */

/* The port, the password, and for mqtts:// the TLS context. */
static int start_tls(struct relay_mqtt *q, const struct relay_mqtt_cfg *cfg,
		     struct ferry_error *err)
{
	struct relay_mqtt_tls_opts to = { cfg->cafile, cfg->cert, cfg->key, cfg->insecure };
	int tls = !strcmp(q->url->scheme, "mqtts");

	q->port = q->url->port ? q->url->port : tls ? 8883 : 1883;
	/* a password outside the URL: not in `ps`, not in the config file */
	q->password = q->url->password ? q->url->password : q->url->user ? cfg->password : NULL;
	if (cfg->password && !q->url->user)
		return ferry_error_set(err, FERRY_EUSAGE, "--mqtt: a password is given "
				       "(FERRY_RELAY_MQTT_PASSWORD, mqtt-password) but the URL "
				       "has no user: mqtt[s]://USER@HOST");
	if (!tls) {
		if (cfg->cafile || cfg->cert || cfg->key || cfg->insecure)
			return ferry_error_set(err, FERRY_EUSAGE, "--mqtt-%s is for TLS: give an "
					       "mqtts:// URL", cfg->cafile ? "cafile" :
					       cfg->cert ? "cert" : cfg->key ? "key" : "insecure");
		return 0;
	}
	if (cfg->insecure)
		ferry_warn("relay: --mqtt-insecure: the certificate and the host name of %s:%d "
			   "are NOT checked; anyone on the path can read and change the "
			   "messages and see the password. Use --mqtt-cafile instead",
			   q->url->host, q->port);
	return relay_mqtt_tls_new(&to, q->url->host, &q->tls, err);
}

static void free_client(struct relay_mqtt *q)
{
	if (q->wake[0] >= 0)
		close(q->wake[0]);
	if (q->wake[1] >= 0)
		close(q->wake[1]);
	relay_mqtt_map_free(q->map);
	ferry_url_free(q->url);
	ferry_buf_release(&q->in);
	ferry_buf_release(&q->out);
	relay_points_release(&q->pts);
	ferry_free(q->acks);
	relay_mqtt_tls_free(q->tls);
	relay_mqtt_seen_close(q->seen);
	pthread_mutex_destroy(&q->emu);
	ferry_free(q);
}

int relay_mqtt_start(const struct relay_mqtt_cfg *cfg, struct relay_mqtt **out,
		     struct ferry_error *err)
{
	struct relay_mqtt *q = ferry_calloc(1, sizeof(*q));
	char host[64] = "";
	int rc;

	if (!q)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	q->cfg = *cfg;
	q->conn.fd = q->wake[0] = q->wake[1] = -1;
	pthread_mutex_init(&q->emu, NULL);
	ferry_buf_init(&q->in, 0);
	ferry_buf_init(&q->out, 0);
	relay_points_init(&q->pts);
	if ((rc = ferry_url_parse(cfg->url, &q->url, err)) < 0) {
		ferry_error_prefix(err, "--mqtt");
		goto fail;
	}
	if ((strcmp(q->url->scheme, "mqtt") && strcmp(q->url->scheme, "mqtts")) ||
	    !q->url->host || !q->url->host[0] ||
	    (q->url->path && q->url->path[0] && strcmp(q->url->path, "/"))) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--mqtt: expected mqtt://[USER[:PASSWORD]@]"
				     "HOST[:PORT] (default port 1883) or mqtts://... (TLS, "
				     "default port 8883)");
		goto fail;
	}
	if ((rc = start_tls(q, cfg, err)) < 0)
		goto fail;
	if (!cfg->map_path) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--mqtt needs --mqtt-map FILE: the "
				     "subscriptions and how their messages become points "
				     "(examples/mqtt/)");
		goto fail;
	}
	if ((rc = relay_mqtt_map_load(cfg->map_path, &q->map, err)) < 0)
		goto fail;
	gethostname(host, sizeof(host) - 1);
	snprintf(q->client_id, sizeof(q->client_id), "%s",
		 cfg->client_id ? cfg->client_id : "");
	if (!cfg->client_id)
		snprintf(q->client_id, sizeof(q->client_id), "ferry-relay-%s", host);
	if (!q->client_id[0] || strlen(q->client_id) > 23 * 4) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--mqtt-client-id: give 1 to 92 characters "
				     "(the broker keeps the session under this id)");
		goto fail;
	}
	snprintf(q->where, sizeof(q->where), "MQTT broker %s:%d", q->url->host, q->port);
	if ((rc = relay_mqtt_seen_open(cfg->spool_dir, &q->seen, err)) < 0)
		goto fail;
	if (pipe(q->wake) < 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&q->th, NULL, client_main, q)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot start the MQTT thread");
		goto fail;
	}
	q->started = 1;
	*out = q;
	return 0;
fail:
	free_client(q);
	return rc;
}

void relay_mqtt_stop(struct relay_mqtt *q)
{
	if (!q)
		return;
	atomic_store(&q->stop, 1);
	if (q->wake[1] >= 0 && write(q->wake[1], "x", 1) < 0)
		ferry_debug("relay: mqtt: cannot wake the client: %s", strerror(errno));
	if (q->started)
		pthread_join(q->th, NULL);
	relay_mqtt_conn_close(&q->conn);
	free_client(q);
}

/* ---- metrics ------------------------------------------------------------------------ */

static const struct {
	const char *name, *json, *help;
	size_t off;
} counters[] = {
	{ "ferry_relay_mqtt_messages_total", "messages", "MQTT messages received.",
	  offsetof(struct relay_mqtt_counts, messages) },
	{ "ferry_relay_mqtt_points_total", "points", "Points MQTT messages gave.",
	  offsetof(struct relay_mqtt_counts, points) },
	{ "ferry_relay_mqtt_rejects_total", "rejects",
	  "MQTT messages refused (dead letters).", offsetof(struct relay_mqtt_counts, rejects) },
	{ "ferry_relay_mqtt_redeliveries_total", "redeliveries",
	  "MQTT messages the broker sent again (DUP).",
	  offsetof(struct relay_mqtt_counts, redeliveries) },
	{ "ferry_relay_mqtt_best_effort_total", "qos0",
	  "QoS 0 MQTT messages (best effort, never acknowledged).",
	  offsetof(struct relay_mqtt_counts, qos0) },
	{ "ferry_relay_mqtt_retained_total", "retained",
	  "Retained MQTT messages taken (a payload new to the topic).",
	  offsetof(struct relay_mqtt_counts, retained) },
	{ "ferry_relay_mqtt_retained_skipped_total", "retained_skipped",
	  "Retained MQTT messages whose payload the topic already had (a restart, a "
	  "resubscribe, overlapping filters), not taken.",
	  offsetof(struct relay_mqtt_counts, retained_skipped) },
};

static uint64_t counter(struct relay_mqtt *q, size_t sub, size_t k)
{
	char *c = (char *)relay_mqtt_map_counts(q->map, sub);

	return atomic_load((_Atomic uint64_t *)(c + counters[k].off));
}

int relay_mqtt_prometheus(struct relay_mqtt *q, struct ferry_buf *out)
{
	size_t k, i, n = relay_mqtt_map_count(q->map);
	int e = 0;

	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		e |= ferry_buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[k].name,
				    counters[k].help, counters[k].name);
		for (i = 0; i < n; i++)
			e |= ferry_buf_addf(out, "%s{subscription=\"%s\"} %llu\n", counters[k].name,
					    relay_mqtt_map_name(q->map, i),
					    (unsigned long long)counter(q, i, k));
	}
	for (k = 0; k < 3; k++) {
		static const char *const name[] = { "unmatched", "store_refused", "reconnects" },
			*const help[] = {
			"MQTT messages no subscription of the map matches (dead letters).",
			"MQTT points the primary store refused as bad input.",
			"Connections to the MQTT broker that ended or failed." };
		_Atomic uint64_t *v[] = { &q->unmatched, &q->store_refused, &q->reconnects };

		e |= ferry_buf_addf(out, "# HELP ferry_relay_mqtt_%s_total %s\n"
				    "# TYPE ferry_relay_mqtt_%s_total counter\n"
				    "ferry_relay_mqtt_%s_total %llu\n", name[k], help[k], name[k],
				    name[k], (unsigned long long)atomic_load(v[k]));
	}
	e |= ferry_buf_addf(out, "# HELP ferry_relay_mqtt_connected 1 while connected to the "
			    "MQTT broker.\n# TYPE ferry_relay_mqtt_connected gauge\n"
			    "ferry_relay_mqtt_connected %d\n", atomic_load(&q->connected) ? 1 : 0);
	return e ? ferry_buf_error(out) : 0;
}

struct json_t *relay_mqtt_json(struct relay_mqtt *q)
{
	json_t *o = json_object(), *subs = json_object();
	size_t k, i, n = relay_mqtt_map_count(q->map);
	int e = !o || !subs;

	for (i = 0; !e && i < n; i++) {
		json_t *s = json_object();

		if (!s) {
			e = 1;
			break;
		}
		for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++)
			e |= json_object_set_new(s, counters[k].json,
						 json_integer((json_int_t)counter(q, i, k)));
		e |= json_object_set_new(subs, relay_mqtt_map_name(q->map, i), s);
	}
	if (!e) {
		e |= json_object_set_new(o, "connected", json_boolean(atomic_load(&q->connected)));
		e |= json_object_set_new(o, "reconnects",
					 json_integer((json_int_t)atomic_load(&q->reconnects)));
		e |= json_object_set_new(o, "unmatched",
					 json_integer((json_int_t)atomic_load(&q->unmatched)));
		e |= json_object_set_new(o, "store_refused",
					 json_integer((json_int_t)atomic_load(&q->store_refused)));
		pthread_mutex_lock(&q->emu);
		e |= json_object_set_new(o, "error", json_string(q->error));
		pthread_mutex_unlock(&q->emu);
		e |= json_object_set(o, "subscriptions", subs);
	}
	json_decref(subs);
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}
