/*
 * mqtt_int.h - MQTT ingest of `ferry relay` (prefix relay_mqtt_).
 *
 *   mqtt_map.c  the map file (--mqtt-map): subscriptions, topic patterns
 *               with named segments, payload formats; one message -> the
 *               line protocol of its points, checked by relay_ingest_lp()
 *               (the checks of an HTTP /write), or a reject with a reason
 *   mqtt.c      the client: one thread, its own MQTT 3.1.1 session
 *               (wire/mqtt.c), batches of messages through the relay's
 *               write path (the same function HTTP writes call), then the
 *               acknowledgements; reconnects, metrics
 *   mqtt_tls.c  the byte stream under it: a plain socket or TLS (OpenSSL),
 *               non-blocking, polled by mqtt.c
 *   mqtt_seen.c what was taken, per topic, kept in the spool directory: a
 *               retained message is taken once across relay restarts
 */
#ifndef FERRY_RELAY_MQTT_INT_H
#define FERRY_RELAY_MQTT_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/relay_int.h"

struct json_t;

/* ------------------------------------------------------------ map */

enum { RELAY_MQTT_VALUE, RELAY_MQTT_JSON, RELAY_MQTT_LP, RELAY_MQTT_TELEMETRY };

/* Counters of one subscription (read by /metrics while the client adds). */
struct relay_mqtt_counts {
	_Atomic uint64_t messages;      /* PUBLISH packets it took */
	_Atomic uint64_t points;        /* points they gave, written */
	_Atomic uint64_t rejects;       /* messages refused (dead letters) */
	_Atomic uint64_t redeliveries;  /* PUBLISH with the DUP flag */
	_Atomic uint64_t qos0;          /* QoS 0 messages: best effort */
	_Atomic uint64_t retained;      /* retained messages taken (new payload) */
	_Atomic uint64_t retained_skipped;  /* retained ones whose payload the topic
					     * had (mqtt_seen.c), not taken */
};

struct relay_mqtt_map;

/* Read and check the map file.  FERRY_EUSAGE with err naming the file,
 * the line and what is wrong. */
int relay_mqtt_map_load(const char *path, struct relay_mqtt_map **out, struct ferry_error *err);
void relay_mqtt_map_free(struct relay_mqtt_map *m);
size_t relay_mqtt_map_count(const struct relay_mqtt_map *m);
/* Subscription i: its name, MQTT filter, QoS, counters. */
const char *relay_mqtt_map_name(const struct relay_mqtt_map *m, size_t i);
const char *relay_mqtt_map_filter(const struct relay_mqtt_map *m, size_t i);
int relay_mqtt_map_qos(const struct relay_mqtt_map *m, size_t i);
struct relay_mqtt_counts *relay_mqtt_map_counts(struct relay_mqtt_map *m, size_t i);
/* The database and retention policy the points are written to (NULL:
 * the relay's first database, ""). */
const char *relay_mqtt_map_db(const struct relay_mqtt_map *m);
const char *relay_mqtt_map_rp(const struct relay_mqtt_map *m);
/* Largest payload taken (bigger ones are rejects). */
size_t relay_mqtt_map_max_payload(const struct relay_mqtt_map *m);
/* The subscription whose filter topic matches, or -1. */
int relay_mqtt_map_find(const struct relay_mqtt_map *m, const char *topic, size_t tl);

/*
 * Message topic/payload of subscription sub -> its points appended to out
 * (the format of struct relay_points), received at now_ns.  0, or 1 for a
 * reject with why (cap bytes) saying what is wrong; FERRY_ENOMEM.  The
 * map remembers each topic's value type (number, boolean, string), so a
 * topic whose value changes type is a reject, not a field type conflict
 * in a store.  One thread at a time.
 */
int relay_mqtt_map_message(struct relay_mqtt_map *m, int sub, const char *topic, size_t tl,
			   const void *payload, size_t n, int64_t now_ns,
			   struct relay_points *out, char *why, size_t cap);

/* ------------------------------------------------------------ client */

struct relay_mqtt_cfg {
	const char *url;          /* mqtt[s]://[user[:password]@]host[:port] */
	const char *password;     /* when the URL has a user and no password */
	const char *cafile;       /* mqtts://: CA file or directory (NULL: the system's) */
	const char *cert, *key;   /* mqtts://: client certificate and key (PEM) */
	int insecure;             /* mqtts://: no certificate or host name check */
	const char *spool_dir;    /* where the record of what was taken lives (NULL: none) */
	const char *map_path;
	const char *client_id;    /* NULL: "ferry-relay-" and the host name */
	const char *default_db;   /* when the map names none */
	struct relay_spool *spool;/* dead letters (NULL: logged only) */
	/* the relay's write path: as relay_http_ops.write */
	int (*write)(void *ud, const char *db, const char *rp, struct relay_points *pts,
		     struct relay_answer *ans);
	void *ud;
};

struct relay_mqtt;

/* Check the URL and the map, start the client thread (which connects and
 * reconnects by itself: a broker that is down is not an error here). */
int relay_mqtt_start(const struct relay_mqtt_cfg *cfg, struct relay_mqtt **out,
		     struct ferry_error *err);
/* Stop: the batch in hand is written and acknowledged, then DISCONNECT. */
void relay_mqtt_stop(struct relay_mqtt *q);
/* Per subscription counters as Prometheus text (ferry_relay_mqtt_*). */
int relay_mqtt_prometheus(struct relay_mqtt *q, struct ferry_buf *out);
/* The same as a JSON object {"connected":..,"subscriptions":{NAME:{...}}}. */
struct json_t *relay_mqtt_json(struct relay_mqtt *q);

/* ------------------------------------------------------------ transport */

struct relay_mqtt_tls_opts {
	const char *cafile, *cert, *key;
	int insecure;
};

struct relay_mqtt_tls;

/* A TLS context for the broker host (a name or an address): the CAs, the
 * client certificate.  FERRY_EUSAGE naming the option, the file and
 * OpenSSL's reason. */
int relay_mqtt_tls_new(const struct relay_mqtt_tls_opts *o, const char *host,
		       struct relay_mqtt_tls **out, struct ferry_error *err);
void relay_mqtt_tls_free(struct relay_mqtt_tls *t);

/* One connection: a connected non-blocking socket, TLS on it or not. */
struct relay_mqtt_conn {
	int fd;
	void *ssl;        /* SSL *, NULL for plain mqtt:// */
	short want;       /* after a 0 below: POLLIN or POLLOUT to wait for */
	int failed;       /* a fatal TLS error happened */
};

/* One step of the TLS handshake (t NULL: nothing to do): 1 done, 0 call
 * again once c->want is ready, -1 failed (why names where and the reason:
 * "certificate verify failed: hostname mismatch"). */
int relay_mqtt_conn_handshake(struct relay_mqtt_tls *t, struct relay_mqtt_conn *c,
			      const char *where, char *why, size_t cap);
/* >0 bytes moved, 0 none now (wait for c->want), -1 closed or failed (why). */
long relay_mqtt_conn_read(struct relay_mqtt_conn *c, void *buf, size_t n, const char *where,
			  char *why, size_t cap);
long relay_mqtt_conn_write(struct relay_mqtt_conn *c, const void *buf, size_t n,
			   const char *where, char *why, size_t cap);
/* 1 when bytes were read from the socket and not yet returned (TLS
 * records): the socket may be empty, so do not poll, read. */
int relay_mqtt_conn_pending(const struct relay_mqtt_conn *c);
/* Close (TLS: close_notify first, best effort); fd -1 after. */
void relay_mqtt_conn_close(struct relay_mqtt_conn *c);

/* ------------------------------------------------------------ seen */

struct relay_mqtt_seen;

/* The record in dir/mqtt-seen (dir NULL: in memory only), read when it
 * exists.  FERRY_EIO naming the file. */
int relay_mqtt_seen_open(const char *dir, struct relay_mqtt_seen **out,
			 struct ferry_error *err);
/* Was this payload taken on this topic before (as the retained message of
 * an earlier start, or as the last message the topic had)?  1: a
 * retained message that is not taken again. */
int relay_mqtt_seen_has(struct relay_mqtt_seen *s, const char *topic, size_t tl,
			const void *payload, size_t n);
/* A message of the batch in hand was taken (retained or not): pending
 * until relay_mqtt_seen_commit(), which records the batch's messages once
 * the batch is durable, or relay_mqtt_seen_drop(), which forgets them (the
 * write failed: the broker sends them again). */
void relay_mqtt_seen_add(struct relay_mqtt_seen *s, const char *topic, size_t tl,
			 const void *payload, size_t n, int retained);
void relay_mqtt_seen_commit(struct relay_mqtt_seen *s);
void relay_mqtt_seen_drop(struct relay_mqtt_seen *s);
/* Write the record whole (fsync'd) and free. */
void relay_mqtt_seen_close(struct relay_mqtt_seen *s);

#endif
