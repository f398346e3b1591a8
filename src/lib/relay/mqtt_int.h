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
	_Atomic uint64_t retained;      /* retained messages taken at start */
	_Atomic uint64_t retained_skipped;  /* retained ones sent again after a
					     * resubscribe, not taken */
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
	const char *url;          /* mqtt://[user[:password]@]host[:port] */
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

#endif
