/*
 * mqtt.h - an MQTT 3.1.1 codec for the client side (prefix mqtt_): pure,
 * no I/O.  Encoders append the packets a client sends (CONNECT,
 * SUBSCRIBE, PUBLISH, PUBACK/PUBREC/PUBREL/PUBCOMP, PINGREQ, DISCONNECT)
 * to a struct ferry_buf; mqtt_parse() reads one packet a server sends
 * (CONNACK, PUBLISH, the four acks, SUBACK, UNSUBACK, PINGRESP) from a
 * byte range and tells "not all here yet" from "not MQTT".
 *
 * Why ferry has its own: the relay may acknowledge a QoS 1/2 message only
 * after the stores have it (relay/mqtt.c says why libmosquitto cannot).
 * Fuzzed through tests/fuzz/fuzz_mqtt.c.
 *
 * Ownership: the pointers of a struct mqtt_pkt point into the caller's
 * input and die with it.
 */
#ifndef FERRY_WIRE_MQTT_H
#define FERRY_WIRE_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"

enum mqtt_type {
	MQTT_CONNECT = 1, MQTT_CONNACK, MQTT_PUBLISH, MQTT_PUBACK, MQTT_PUBREC,
	MQTT_PUBREL, MQTT_PUBCOMP, MQTT_SUBSCRIBE, MQTT_SUBACK, MQTT_UNSUBSCRIBE,
	MQTT_UNSUBACK, MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT
};

#define MQTT_MORE 0          /* mqtt_parse: the packet is not complete yet */
#define MQTT_BAD (-1)        /* mqtt_parse: not a valid packet from a server */
#define MQTT_TOOBIG (-2)     /* mqtt_parse: a PUBLISH over the limit (head only) */
#define MQTT_SUBACK_FAIL 0x80

struct mqtt_pkt {
	int type;                    /* enum mqtt_type */
	/* PUBLISH */
	int qos, dup, retain;
	const char *topic;           /* UTF-8, no NUL, no wildcard; not terminated */
	size_t topic_len;
	const unsigned char *payload;
	size_t payload_len;
	/* PUBLISH with QoS > 0, the acks, SUBACK, UNSUBACK */
	uint16_t id;
	/* CONNACK */
	int session_present;
	int rc;                      /* CONNACK return code, 0 accepted */
	/* SUBACK: one granted QoS (or MQTT_SUBACK_FAIL) per filter */
	const unsigned char *codes;
	size_t ncodes;
	size_t total;                /* bytes of the whole packet */
};

/* One packet at p[0..n): its length in bytes (> 0) with pkt filled;
 * MQTT_MORE when p holds only part of it; MQTT_BAD with *why (a static
 * string) for a packet a server must not send, a malformed one, or one
 * other than PUBLISH longer than max_len bytes (0: the protocol's 256 MB).
 * A PUBLISH longer than max_len is MQTT_TOOBIG once its head (topic,
 * packet id) is in p: pkt has them, payload NULL, payload_len and total
 * the sizes, so the caller can refuse it, skip its bytes and go on. */
long mqtt_parse(const void *p, size_t n, size_t max_len, struct mqtt_pkt *pkt,
		const char **why);

/* CONNECT (protocol level 4).  user/password may be NULL; keepalive in
 * seconds; clean 0 asks the server to keep the session. */
int mqtt_connect(struct ferry_buf *b, const char *client_id, const char *user,
		 const char *password, unsigned keepalive, int clean);
/* SUBSCRIBE of n filters, each with its maximum QoS. */
int mqtt_subscribe(struct ferry_buf *b, uint16_t id, const char *const *filters,
		   const int *qos, size_t n);
/* PUBLISH; id is ignored for QoS 0. */
int mqtt_publish(struct ferry_buf *b, const char *topic, size_t topic_len,
		 const void *payload, size_t n, int qos, int retain, int dup, uint16_t id);
/* PUBACK, PUBREC, PUBREL or PUBCOMP of packet id. */
int mqtt_ack(struct ferry_buf *b, int type, uint16_t id);
/* PINGREQ or DISCONNECT. */
int mqtt_simple(struct ferry_buf *b, int type);

#endif
