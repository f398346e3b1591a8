/*
 * test_relay_mqtt.c - the MQTT codec (src/lib/wire/mqtt.c) and the relay's
 * MQTT map (src/lib/relay/mqtt_map.c): packets encode and parse back, a
 * stream cut anywhere asks for more, malformed packets and oversized
 * PUBLISH heads are told apart; map files load or fail naming the line;
 * each payload format gives the line protocol an HTTP /write would, and
 * each kind of bad message is a reject with its reason; the record of
 * what was taken per topic (mqtt_seen.c) skips what it should, forgets an
 * undone batch, and reads back after a restart and a torn write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "relay/mqtt_int.h"
#include "wire/mqtt.h"

#define NOW 1700000000123456789LL

/* ------------------------------------------------------------ codec */

static void test_publish_roundtrip(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct mqtt_pkt pk;
	const char *why = NULL;
	char big[300];
	size_t cut;
	long k;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(mqtt_publish(&b, "a/b", 3, big, sizeof(big), 1, 1, 1, 77), 0);
	/* every prefix is incomplete, never malformed */
	for (cut = 0; cut < b.len; cut++)
		assert_int_equal(mqtt_parse(b.buf, cut, 0, &pk, &why), MQTT_MORE);
	k = mqtt_parse(b.buf, b.len, 0, &pk, &why);
	assert_int_equal(k, (long)b.len);
	assert_int_equal(pk.type, MQTT_PUBLISH);
	assert_int_equal(pk.qos, 1);
	assert_int_equal(pk.dup, 1);
	assert_int_equal(pk.retain, 1);
	assert_int_equal(pk.id, 77);
	assert_int_equal(pk.topic_len, 3);
	assert_memory_equal(pk.topic, "a/b", 3);
	assert_int_equal(pk.payload_len, sizeof(big));
	/* over the limit: the head, for a reject */
	k = mqtt_parse(b.buf, 20, 100, &pk, &why);
	assert_int_equal(k, MQTT_TOOBIG);
	assert_int_equal(pk.id, 77);
	assert_int_equal(pk.total, b.len);
	assert_int_equal(pk.payload_len, sizeof(big));
	assert_null(pk.payload);
	ferry_buf_release(&b);
}

static void test_acks_and_errors(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct mqtt_pkt pk;
	const char *why = NULL;
	static const unsigned char connack[] = { 0x20, 2, 1, 0 }, suback[] = { 0x90, 4, 0, 1, 1, 0x80 },
		bad_qos[] = { 0x36, 5, 0, 1, 'a', 0, 1 }, wild[] = { 0x30, 4, 0, 2, 'a', '#' },
		pubrel_flags[] = { 0x60, 2, 0, 1 }, five[] = { 0x30, 0xff, 0xff, 0xff, 0xff, 1 },
		connect[] = { 0x10, 0 }, nul[] = { 0x30, 4, 0, 2, 'a', 0 };

	(void)state;
	assert_int_equal(mqtt_ack(&b, MQTT_PUBREL, 513), 0);
	assert_int_equal(b.len, 4);
	assert_int_equal((unsigned char)b.buf[0], 0x62);
	assert_int_equal(mqtt_parse(b.buf, b.len, 0, &pk, &why), 4);
	assert_int_equal(pk.type, MQTT_PUBREL);
	assert_int_equal(pk.id, 513);
	assert_int_equal(mqtt_parse(connack, 4, 0, &pk, &why), 4);
	assert_int_equal(pk.session_present, 1);
	assert_int_equal(pk.rc, 0);
	assert_int_equal(mqtt_parse(suback, 6, 0, &pk, &why), 6);
	assert_int_equal(pk.ncodes, 2);
	assert_int_equal(pk.codes[1], MQTT_SUBACK_FAIL);
	assert_int_equal(mqtt_parse(bad_qos, sizeof(bad_qos), 0, &pk, &why), MQTT_BAD);
	assert_int_equal(mqtt_parse(wild, sizeof(wild), 0, &pk, &why), MQTT_BAD);
	assert_int_equal(mqtt_parse(nul, sizeof(nul), 0, &pk, &why), MQTT_BAD);
	assert_int_equal(mqtt_parse(pubrel_flags, 4, 0, &pk, &why), MQTT_BAD);
	assert_int_equal(mqtt_parse(five, sizeof(five), 0, &pk, &why), MQTT_BAD);
	assert_int_equal(mqtt_parse(connect, 2, 0, &pk, &why), MQTT_BAD);
	assert_string_equal(why, "a packet type a server does not send");
	ferry_buf_clear(&b);
	/* CONNECT: protocol "MQTT" level 4, clean session 0, user and password */
	assert_int_equal(mqtt_connect(&b, "id", "u", "p", 30, 0), 0);
	assert_int_equal(b.len, 2 + 10 + 4 + 3 + 3);
	assert_memory_equal(b.buf + 2, "\0\4MQTT\4\xc0\0\x1e\0\2id\0\1u\0\1p", 20);
	ferry_buf_clear(&b);
	{
		const char *f[] = { "a/+", "b/#" };
		int q[] = { 1, 2 };

		assert_int_equal(mqtt_subscribe(&b, 9, f, q, 2), 0);
		assert_memory_equal(b.buf, "\x82\x0e\0\x09\0\3a/+\1\0\3b/#\2", 16);
	}
	ferry_buf_release(&b);
}

/* ------------------------------------------------------------ map */

static struct relay_mqtt_map *load(const char *yaml, struct ferry_error *err)
{
	char path[] = "/tmp/test_relay_mqtt_XXXXXX";
	struct relay_mqtt_map *m = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	if (relay_mqtt_map_load(path, &m, err) < 0)
		m = NULL;
	unlink(path);
	return m;
}

static const char map_yaml[] =
	"database: ha\n"
	"max-payload: 100\n"
	"subscriptions:\n"
	"  - name: states\n"
	"    topic: homeassistant/{domain}/{entity_id}/state\n"
	"    measurement: \"{domain}.{entity_id}\"\n"
	"  - name: attrs\n"
	"    topic: homeassistant/{domain}/{entity_id}/{attribute}\n"
	"    format: json\n"
	"    measurement: \"{domain}.{entity_id}\"\n"
	"    field: \"{attribute}\"\n"
	"    tags: [entity_id]\n"
	"  - name: dev\n"
	"    topic: devices/dev-{id}/telemetry\n"
	"    format: json\n"
	"    measurement: telemetry\n"
	"    tag-keys: [unit]\n"
	"    time: ts\n"
	"  - name: lp\n"
	"    topic: telegraf/#\n"
	"    format: lp\n"
	"    precision: s\n"
	"  - name: api\n"
	"    topic: api/{d}\n"
	"    format: telemetry\n"
	"    measurement: telemetry\n"
	"    device: \"{d}\"\n";

/* Map topic/payload: 0 and the line protocol in lp, or 1 and why. */
static int msg(struct relay_mqtt_map *m, const char *topic, const char *payload, char *lp,
	       size_t cap, char *why)
{
	struct relay_points pts;
	int si = relay_mqtt_map_find(m, topic, strlen(topic)), rc;

	if (si < 0) {
		snprintf(why, 300, "no subscription");
		return 2;
	}
	relay_points_init(&pts);
	rc = relay_mqtt_map_message(m, si, topic, strlen(topic), payload, strlen(payload), NOW,
				    &pts, why, 300);
	assert_true(rc >= 0);
	snprintf(lp, cap, "%.*s", (int)pts.lp.len, pts.lp.buf);
	relay_points_release(&pts);
	return rc;
}

static void test_map_formats(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_mqtt_map *m = load(map_yaml, &err);
	char lp[512], why[300];

	(void)state;
	if (!m)
		fail_msg("%s", err.msg);
	assert_int_equal(relay_mqtt_map_count(m), 5);
	assert_string_equal(relay_mqtt_map_filter(m, 0), "homeassistant/+/+/state");
	assert_string_equal(relay_mqtt_map_filter(m, 2), "devices/+/telemetry");
	assert_string_equal(relay_mqtt_map_filter(m, 3), "telegraf/#");
	assert_string_equal(relay_mqtt_map_db(m), "ha");

	assert_int_equal(msg(m, "homeassistant/sensor/t1/state", " 21.5\n", lp, sizeof(lp), why), 0);
	assert_string_equal(lp, "sensor.t1,domain=sensor,entity_id=t1 value=21.5 1700000000123456789\n");
	assert_int_equal(msg(m, "homeassistant/switch/l/state", "on", lp, sizeof(lp), why), 0);
	assert_string_equal(lp, "switch.l,domain=switch,entity_id=l value=\"on\" 1700000000123456789\n");
	assert_int_equal(msg(m, "homeassistant/binary_sensor/d/state", "true", lp, sizeof(lp), why), 0);
	assert_string_equal(lp, "binary_sensor.d,domain=binary_sensor,entity_id=d value=true 1700000000123456789\n");
	/* an attribute: a JSON scalar named by its topic segment */
	assert_int_equal(msg(m, "homeassistant/sensor/t1/unit_of_measurement", "\"\xc2\xb0""C\"", lp,
			     sizeof(lp), why), 0);
	assert_string_equal(lp, "sensor.t1,entity_id=t1 unit_of_measurement=\"\xc2\xb0""C\" 1700000000123456789\n");
	/* JSON device: tag keys, time in seconds, arrays as text */
	assert_int_equal(msg(m, "devices/dev-7/telemetry",
			     "{\"t\": 21, \"unit\": \"C\", \"ts\": 1700000000, \"a\": [1,2], \"n\": null}",
			     lp, sizeof(lp), why), 0);
	assert_string_equal(lp, "telemetry,id=7,unit=C t=21,a=\"[1,2]\" 1700000000000000000\n");
	/* line protocol, precision s */
	assert_int_equal(msg(m, "telegraf/h1/cpu", "cpu,host=h1 usage=3i 1700000000\n", lp,
			     sizeof(lp), why), 0);
	assert_string_equal(lp, "cpu,host=h1 usage=3i 1700000000000000000\n");
	/* the device API's body */
	assert_int_equal(msg(m, "api/b7", "{\"data\": {\"t\": 1}, \"timestamp\": 1700000000}", lp,
			     sizeof(lp), why), 0);
	assert_string_equal(lp, "telemetry,device_id=b7 t=1 1700000000000000000\n");
	relay_mqtt_map_free(m);
}

static void test_map_rejects(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_mqtt_map *m = load(map_yaml, &err);
	char lp[512], why[300];

	(void)state;
	assert_non_null(m);
	assert_int_equal(msg(m, "devices/dev-1/telemetry", "\xff\xfe", lp, sizeof(lp), why), 1);
	assert_string_equal(why, "payload is not UTF-8 text (invalid UTF-8)");
	assert_int_equal(msg(m, "devices/dev-1/telemetry", "{\"t\":", lp, sizeof(lp), why), 1);
	assert_non_null(strstr(why, "payload is not JSON"));
	assert_int_equal(msg(m, "devices/dev-1/telemetry", "{\"t\": {\"x\": 1}}", lp, sizeof(lp), why), 1);
	assert_string_equal(why, "key 't' holds a nested object: give its values their own keys");
	assert_int_equal(msg(m, "devices/x/telemetry", "{\"t\": 1}", lp, sizeof(lp), why), 1);
	assert_string_equal(why, "topic does not match the pattern of subscription 'dev' (segment {id})");
	assert_int_equal(msg(m, "devices/dev-1/telemetry",
			     "{\"t\": \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"}",
			     lp, sizeof(lp), why), 1);
	assert_non_null(strstr(why, "is over max-payload (100)"));
	assert_int_equal(msg(m, "devices/dev-1/telemetry", "{\"t\": 1, \"ts\": true}", lp, sizeof(lp), why), 1);
	assert_non_null(strstr(why, "time key 'ts'"));
	assert_int_equal(msg(m, "devices/dev-1/telemetry", "{}", lp, sizeof(lp), why), 1);
	assert_int_equal(msg(m, "telegraf/x", "not lp", lp, sizeof(lp), why), 1);
	assert_non_null(strstr(why, "unable to parse"));
	assert_int_equal(msg(m, "homeassistant/sensor/t1/state", "", lp, sizeof(lp), why), 1);
	/* a number, then a string: refused; the number again is fine */
	assert_int_equal(msg(m, "homeassistant/sensor/t1/state", "1", lp, sizeof(lp), why), 0);
	assert_int_equal(msg(m, "homeassistant/sensor/t1/state", "unavailable", lp, sizeof(lp), why), 1);
	assert_string_equal(why, "field 'value' of this topic was a number and is now a string");
	assert_int_equal(msg(m, "homeassistant/sensor/t1/state", "2", lp, sizeof(lp), why), 0);
	/* another topic keeps its own type */
	assert_int_equal(msg(m, "homeassistant/sensor/t2/state", "unavailable", lp, sizeof(lp), why), 0);
	/* a refused message does not teach a type */
	assert_int_equal(msg(m, "devices/dev-2/telemetry", "{\"v\": \"a\", \"w\": {}}", lp, sizeof(lp), why), 1);
	assert_int_equal(msg(m, "devices/dev-2/telemetry", "{\"v\": 1}", lp, sizeof(lp), why), 0);
	assert_int_equal(msg(m, "elsewhere/x", "1", lp, sizeof(lp), why), 2);
	relay_mqtt_map_free(m);
}

static void test_map_load_errors(void **state)
{
	static const struct { const char *yaml, *want; } cases[] = {
		{ "subscriptions: []\n", "line 1: 'subscriptions' must be a list" },
		{ "subscriptions:\n  - topic: a/{x}\n", "needs 'measurement'" },
		{ "subscriptions:\n  - topic: a/{x}\n    measurement: \"{y}\"\n",
		  "line 2: 'measurement' uses {y}, which the topic does not name" },
		{ "subscriptions:\n  - topic: a/+\n    measurement: m\n",
		  "use {name} for a wildcard segment" },
		{ "subscriptions:\n  - topic: a/#/b\n    measurement: m\n", "must be the last segment" },
		{ "subscriptions:\n  - topic: a\n    measurement: m\n    qos: 3\n",
		  "line 4: 'qos' is 0, 1 or 2, not '3'" },
		{ "subscriptions:\n  - topic: a\n    measurement: m\n    format: xml\n",
		  "unknown format 'xml'" },
		{ "subscriptions:\n  - topic: a\n    measurement: m\n    colour: red\n",
		  "line 4: unknown key 'colour'" },
		{ "subscriptions:\n  - topic: a/{x}\n    measurement: m\n    tags: [y]\n",
		  "tag 'y' is not a {name} of the topic" },
		{ "subscriptions:\n  - topic: a\n    name: \"a b\"\n    measurement: m\n",
		  "subscription name 'a b'" },
		{ "max-payload: lots\nsubscriptions:\n  - topic: a\n    measurement: m\n",
		  "'max-payload' 'lots'" },
		{ "subscriptions:\n  - {topic: a, measurement: m, name: s}\n  - {topic: b, measurement: m, name: s}\n",
		  "two subscriptions are named 's'" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ferry_error err = FERRY_ERROR_INIT;
		struct relay_mqtt_map *m = load(cases[i].yaml, &err);

		if (m)
			fail_msg("case %zu loaded", i);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, cases[i].want);
		assert_non_null(strstr(err.msg, "mqtt map '/tmp/test_relay_mqtt_"));
	}
}

/* ------------------------------------------------------------ seen */

#define SEEN(s, t, p) relay_mqtt_seen_has(s, t, strlen(t), p, strlen(p))
#define ADD(s, t, p, r) relay_mqtt_seen_add(s, t, strlen(t), p, strlen(p), r)

static void test_seen(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_mqtt_seen *s = NULL;
	char dir[] = "/tmp/ferry-seen-XXXXXX", path[64];
	FILE *f;
	long size;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mqtt-seen", dir);
	assert_int_equal(relay_mqtt_seen_open(dir, &s, &err), 0);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 0);
	/* pending: seen within the batch (overlapping filters), forgotten when
	 * the batch is not durable */
	ADD(s, "ha/porch", "11.5", 1);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 1);
	relay_mqtt_seen_drop(s);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 0);
	/* committed: the retained payload, then live ones on the topic */
	ADD(s, "ha/porch", "11.5", 1);
	relay_mqtt_seen_commit(s);
	ADD(s, "ha/porch", "12", 0);
	ADD(s, "ha/porch", "13", 0);
	ADD(s, "ha/hall", "19.5", 0);
	relay_mqtt_seen_commit(s);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 1);   /* the retained one */
	assert_int_equal(SEEN(s, "ha/porch", "13"), 1);     /* the last one */
	assert_int_equal(SEEN(s, "ha/porch", "12"), 0);     /* neither */
	assert_int_equal(SEEN(s, "ha/hall", "19.5"), 1);
	assert_int_equal(SEEN(s, "ha/other", "19.5"), 0);
	relay_mqtt_seen_close(s);

	/* a restart reads it back, a torn record at the end is dropped */
	assert_non_null(f = fopen(path, "ab"));
	fputs("torn", f);
	fclose(f);
	assert_int_equal(relay_mqtt_seen_open(dir, &s, &err), 0);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 1);
	assert_int_equal(SEEN(s, "ha/porch", "13"), 1);
	assert_int_equal(SEEN(s, "ha/hall", "19.5"), 1);
	assert_int_equal(SEEN(s, "ha/porch", "12"), 0);
	relay_mqtt_seen_close(s);
	assert_non_null(f = fopen(path, "rb"));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_int_equal((size - 8) % 24, 0);

	/* many changes: the file is rewritten whole, and still reads back */
	assert_int_equal(relay_mqtt_seen_open(dir, &s, &err), 0);
	for (int i = 0; i < 100000; i++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", i);
		ADD(s, "ha/busy", v, 0);
		relay_mqtt_seen_commit(s);
	}
	relay_mqtt_seen_close(s);
	assert_non_null(f = fopen(path, "rb"));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	assert_true(size < 8 + 24 * 70000);
	assert_int_equal(relay_mqtt_seen_open(dir, &s, &err), 0);
	assert_int_equal(SEEN(s, "ha/busy", "99999"), 1);
	assert_int_equal(SEEN(s, "ha/porch", "11.5"), 1);
	relay_mqtt_seen_close(s);

	/* not our file: an error naming it, nothing overwritten */
	assert_non_null(f = fopen(path, "wb"));
	fputs("something else entirely", f);
	fclose(f);
	assert_int_equal(relay_mqtt_seen_open(dir, &s, &err), FERRY_EIO);
	assert_non_null(strstr(err.msg, "is not a record of MQTT topics"));
	assert_non_null(strstr(err.msg, path));
	unlink(path);

	/* no directory: in memory only */
	assert_int_equal(relay_mqtt_seen_open(NULL, &s, &err), 0);
	ADD(s, "t", "p", 1);
	relay_mqtt_seen_commit(s);
	assert_int_equal(SEEN(s, "t", "p"), 1);
	relay_mqtt_seen_close(s);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_roundtrip),
		cmocka_unit_test(test_acks_and_errors),
		cmocka_unit_test(test_map_formats),
		cmocka_unit_test(test_map_rejects),
		cmocka_unit_test(test_map_load_errors),
		cmocka_unit_test(test_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
