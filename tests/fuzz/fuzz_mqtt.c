/*
 * fuzz_mqtt.c - the MQTT 3.1.1 codec (src/lib/wire/mqtt.c) on any bytes:
 * the relay reads what a broker sends, so mqtt_parse must refuse garbage
 * without reading past the input, and a PUBLISH or acknowledgement it
 * accepts must encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "wire/mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct mqtt_pkt pkt;
	const char *why = NULL;
	/* a copy of exactly n bytes, so ASan sees any read past the end */
	uint8_t *p = ferry_malloc(n ? n : 1);
	size_t off = 0;
	long k;

	if (!p)
		return 0;
	memcpy(p, data, n);
	while (off < n && (k = mqtt_parse(p + off, n - off, 1 << 20, &pkt, &why)) > 0) {
		int rc = 1;

		ferry_buf_clear(&b);
		if (pkt.type == MQTT_PUBLISH)
			rc = mqtt_publish(&b, pkt.topic, pkt.topic_len, pkt.payload, pkt.payload_len,
					  pkt.qos, pkt.retain, pkt.dup, pkt.id);
		else if (pkt.type >= MQTT_PUBACK && pkt.type <= MQTT_PUBCOMP)
			rc = mqtt_ack(&b, pkt.type, pkt.id);
		if (rc == 0 && (b.len != (size_t)k || memcmp(b.buf, p + off, b.len)))
			abort();
		if (rc < 0)
			abort();
		off += (size_t)k;
	}
	ferry_buf_release(&b);
	ferry_free(p);
	return 0;
}
