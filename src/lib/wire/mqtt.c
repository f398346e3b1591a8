/*
 * mqtt.c - the MQTT 3.1.1 client-side codec (mqtt.h).  Every packet is a
 * fixed header (type << 4 | flags, then the remaining length as 1-4
 * base-128 digits, least significant first) and a body; strings are a
 * 16-bit big-endian length and UTF-8 bytes.  The parser checks what the
 * OASIS standard makes a server check before sending (fixed flags, lengths
 * that add up, UTF-8 topics without wildcards or NUL, QoS 3 refused), so
 * a malformed stream is a clean error, never a read past the input.
 */
#include <string.h>

#include "ferry/error.h"
#include "model/value.h"
#include "wire/mqtt.h"

#define MQTT_MAX_REMAINING 268435455u   /* four length digits */

/* The remaining length at p[0..n): its value and how many bytes it took
 * (0: not all here, -1: five digits or a non-minimal form). */
static int get_len(const unsigned char *p, size_t n, size_t *len)
{
	size_t v = 0, mul = 1;
	int i;

	for (i = 0; i < 4; i++) {
		if ((size_t)i >= n)
			return 0;
		v += (size_t)(p[i] & 0x7f) * mul;
		if (!(p[i] & 0x80)) {
			/* a last digit 0 after others would be a longer form of a
			 * smaller length: never what an encoder writes */
			if (i && !p[i])
				return -1;
			*len = v;
			return i + 1;
		}
		mul *= 128;
	}
	return -1;
}

static int get_u16(const unsigned char **p, const unsigned char *end, uint16_t *v)
{
	if (end - *p < 2)
		return -1;
	*v = (uint16_t)((*p)[0] << 8 | (*p)[1]);
	*p += 2;
	return 0;
}

/* A PUBLISH's variable header from *q: flags, topic, packet id. */
static int publish_head(const unsigned char **q, const unsigned char *end, int flags,
			struct mqtt_pkt *pkt, const char **why)
{
	uint16_t tl;
	const char *bad;

	pkt->dup = (flags >> 3) & 1;
	pkt->qos = (flags >> 1) & 3;
	pkt->retain = flags & 1;
	if (pkt->qos == 3 || (pkt->qos == 0 && pkt->dup)) {
		*why = "PUBLISH with a bad QoS or DUP flag";
		return -1;
	}
	if (get_u16(q, end, &tl) < 0 || (size_t)(end - *q) < tl || !tl) {
		*why = "PUBLISH with a bad topic length";
		return -1;
	}
	pkt->topic = (const char *)*q;
	pkt->topic_len = tl;
	if (!val_utf8_ok(pkt->topic, tl, &bad) || memchr(*q, '+', tl) || memchr(*q, '#', tl)) {
		*why = "PUBLISH topic that is not UTF-8 or has a wildcard";
		return -1;
	}
	*q += tl;
	if (pkt->qos && (get_u16(q, end, &pkt->id) < 0 || !pkt->id)) {
		*why = "PUBLISH without a packet identifier";
		return -1;
	}
	return 0;
}

long mqtt_parse(const void *data, size_t n, size_t max_len, struct mqtt_pkt *pkt,
		const char **why)
{
	const unsigned char *p = data, *q, *end;
	size_t len;
	int k, flags;

	if (!n)
		return MQTT_MORE;
	if (!max_len || max_len > MQTT_MAX_REMAINING + 5)
		max_len = MQTT_MAX_REMAINING + 5;
	k = get_len(p + 1, n - 1, &len);
	if (k < 0) {
		*why = "bad remaining length";
		return MQTT_BAD;
	}
	if (!k)
		return MQTT_MORE;
	memset(pkt, 0, sizeof(*pkt));
	pkt->type = p[0] >> 4;
	pkt->total = len + 1 + (size_t)k;
	flags = p[0] & 0x0f;
	q = p + 1 + k;
	if (pkt->total > max_len) {
		if (pkt->type != MQTT_PUBLISH) {
			*why = "packet larger than the limit";
			return MQTT_BAD;
		}
		/* the head is enough to refuse it: the topic and packet id */
		end = p + (n < pkt->total ? n : pkt->total);
		if (publish_head(&q, end, flags, pkt, why) < 0)
			return end == p + pkt->total || end - q >= 65537 + 2 ? MQTT_BAD : MQTT_MORE;
		pkt->payload = NULL;
		pkt->payload_len = pkt->total - (size_t)(q - p);
		return MQTT_TOOBIG;
	}
	if (n < pkt->total)
		return MQTT_MORE;
	end = q + len;
	switch (pkt->type) {
	case MQTT_CONNACK:
		if (flags || len != 2 || (q[0] & 0xfe)) {
			*why = "malformed CONNACK";
			return MQTT_BAD;
		}
		pkt->session_present = q[0] & 1;
		pkt->rc = q[1];
		break;
	case MQTT_PUBLISH:
		if (publish_head(&q, end, flags, pkt, why) < 0)
			return MQTT_BAD;
		pkt->payload = q;
		pkt->payload_len = (size_t)(end - q);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		if (flags != (pkt->type == MQTT_PUBREL ? 2 : 0) || len != 2) {
			*why = "malformed acknowledgement";
			return MQTT_BAD;
		}
		get_u16(&q, end, &pkt->id);
		break;
	case MQTT_SUBACK:
		if (flags || len < 3 || get_u16(&q, end, &pkt->id) < 0) {
			*why = "malformed SUBACK";
			return MQTT_BAD;
		}
		pkt->codes = q;
		pkt->ncodes = (size_t)(end - q);
		for (; q < end; q++)
			if (*q > 2 && *q != MQTT_SUBACK_FAIL) {
				*why = "SUBACK with a bad return code";
				return MQTT_BAD;
			}
		break;
	case MQTT_PINGRESP:
		if (flags || len) {
			*why = "malformed PINGRESP";
			return MQTT_BAD;
		}
		break;
	default:
		*why = "a packet type a server does not send";
		return MQTT_BAD;
	}
	return (long)(len + 1 + (size_t)k);
}

/* ---- encoding ---------------------------------------------------------- */

static int put_header(struct ferry_buf *b, int byte0, size_t len)
{
	int e = ferry_buf_addch(b, byte0);

	do {
		int d = (int)(len % 128);

		len /= 128;
		e |= ferry_buf_addch(b, d | (len ? 0x80 : 0));
	} while (len);
	return e;
}

static int put_str(struct ferry_buf *b, const char *s, size_t n)
{
	return ferry_buf_addbe16(b, (uint16_t)n) | ferry_buf_add(b, s, n);
}

static int too_long(size_t n)
{
	return n > 65535;
}

int mqtt_connect(struct ferry_buf *b, const char *client_id, const char *user,
		 const char *password, unsigned keepalive, int clean)
{
	size_t idn = strlen(client_id), un = user ? strlen(user) : 0,
	       pn = password ? strlen(password) : 0, len;
	int flags = clean ? 0x02 : 0, e;

	if (too_long(idn) || too_long(un) || too_long(pn) || keepalive > 65535)
		return FERRY_EINVAL;
	if (user)
		flags |= 0x80;
	if (password)
		flags |= 0x40;
	len = 10 + 2 + idn + (user ? 2 + un : 0) + (password ? 2 + pn : 0);
	e = put_header(b, MQTT_CONNECT << 4, len);
	e |= put_str(b, "MQTT", 4);
	e |= ferry_buf_addch(b, 4);           /* protocol level: 3.1.1 */
	e |= ferry_buf_addch(b, flags);
	e |= ferry_buf_addbe16(b, (uint16_t)keepalive);
	e |= put_str(b, client_id, idn);
	if (user)
		e |= put_str(b, user, un);
	if (password)
		e |= put_str(b, password, pn);
	return e ? ferry_buf_error(b) : 0;
}

int mqtt_subscribe(struct ferry_buf *b, uint16_t id, const char *const *filters,
		   const int *qos, size_t n)
{
	size_t len = 2, i;
	int e;

	if (!n || !id)
		return FERRY_EINVAL;
	for (i = 0; i < n; i++) {
		size_t fl = strlen(filters[i]);

		if (!fl || too_long(fl) || qos[i] < 0 || qos[i] > 2)
			return FERRY_EINVAL;
		len += 2 + fl + 1;
	}
	if (len > MQTT_MAX_REMAINING)
		return FERRY_EINVAL;
	e = put_header(b, MQTT_SUBSCRIBE << 4 | 2, len);
	e |= ferry_buf_addbe16(b, id);
	for (i = 0; i < n; i++) {
		e |= put_str(b, filters[i], strlen(filters[i]));
		e |= ferry_buf_addch(b, qos[i]);
	}
	return e ? ferry_buf_error(b) : 0;
}

int mqtt_publish(struct ferry_buf *b, const char *topic, size_t topic_len,
		 const void *payload, size_t n, int qos, int retain, int dup, uint16_t id)
{
	size_t len = 2 + topic_len + (qos ? 2 : 0) + n;
	int e;

	if (!topic_len || too_long(topic_len) || qos < 0 || qos > 2 || (qos && !id) ||
	    (!qos && dup) || len > MQTT_MAX_REMAINING)
		return FERRY_EINVAL;
	e = put_header(b, MQTT_PUBLISH << 4 | (dup ? 8 : 0) | qos << 1 | (retain ? 1 : 0), len);
	e |= put_str(b, topic, topic_len);
	if (qos)
		e |= ferry_buf_addbe16(b, id);
	e |= ferry_buf_add(b, payload, n);
	return e ? ferry_buf_error(b) : 0;
}

int mqtt_ack(struct ferry_buf *b, int type, uint16_t id)
{
	int e;

	if (type != MQTT_PUBACK && type != MQTT_PUBREC && type != MQTT_PUBREL &&
	    type != MQTT_PUBCOMP)
		return FERRY_EINVAL;
	e = put_header(b, type << 4 | (type == MQTT_PUBREL ? 2 : 0), 2);
	e |= ferry_buf_addbe16(b, id);
	return e ? ferry_buf_error(b) : 0;
}

int mqtt_simple(struct ferry_buf *b, int type)
{
	if (type != MQTT_PINGREQ && type != MQTT_DISCONNECT)
		return FERRY_EINVAL;
	return put_header(b, type << 4, 0) ? ferry_buf_error(b) : 0;
}
