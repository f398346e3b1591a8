#!/usr/bin/env bash
# relay_mqtt.sh - `ferry relay --mqtt` against real Mosquitto, influxd and
# PostgreSQL: Home Assistant statestream-shaped and JSON device publishers
# land in both stores (through a phase change); every kind of bad input is
# a dead letter with its topic and reason while good messages go on;
# retained messages are taken once (also across the relay's restart); kill -9 of the relay and a broker
# restart while a paho publisher sends N QoS 1 messages: every message the
# publisher got a PUBACK for is in both stores, and the only duplicates
# are redeliveries the relay counted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_mqtt
t_need pg
t_need influx
t_need mqtt
command -v mosquitto_pub >/dev/null || t_skip "mosquitto_pub is not installed (make deps)"
$PY -c 'import paho.mqtt' 2>/dev/null || t_skip "python3-paho-mqtt is not installed (make deps)"

N=${FERRY_MQTT_TEST_N:-100000}

relay_services mqtt
SVC_ROOT=$(sed -n 's/^FERRY_SERVICES_ROOT=//p' "$SVC/env")
pub() { mosquitto_pub -p "$MPORT" -q 1 "$@"; }

cat >"$T/map.yaml" <<EOF
database: home_assistant
max-payload: 2KiB
subscriptions:
  - name: ha-states
    topic: homeassistant/{domain}/{entity_id}/state
    format: value
    measurement: "{domain}.{entity_id}"
    tags: [domain, entity_id]
  - name: ha-attributes
    topic: homeassistant/{domain}/{entity_id}/{attribute}
    format: json
    measurement: "{domain}.{entity_id}"
    field: "{attribute}"
    tags: [domain, entity_id]
  - name: devices
    topic: devices/{device_id}/telemetry
    format: json
    measurement: telemetry
    tags: [device_id]
    tag-keys: [unit]
    time: ts
  - name: plant
    topic: plant/dev-{id}/temp
    format: value
    measurement: plant
  - name: best-effort
    topic: fast/{id}
    qos: 0
    format: value
    measurement: fast
  - name: loadgen
    topic: loadgen/{device_id}/telemetry
    format: json
    measurement: loadgen
    time: ts
EOF

# a retained state before the relay runs: taken once at its start, although
# both ha-states and ha-attributes match it
pub -r -t homeassistant/sensor/porch/state -m 11.5
relay_start --mqtt "mqtt://127.0.0.1:$MPORT" --mqtt-map "$T/map.yaml" --mqtt-client-id relay-test

# mqtt_stat SUB KEY: a counter of subscription SUB from /stats
mqtt_stat() { relay_stat "mqtt.subscriptions.$1.$2"; }
# ifx_count QUERY: the count a SELECT count(..) gives, 0 for no series
ifx_count() {
	ifx_q "$1" | $PY -c 'import json,sys
r = json.load(sys.stdin)["results"][0]
print(r["series"][0]["values"][0][1] if r.get("series") else 0)'
}
pg_rows() { pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE $1"; }
# for wait_for, which runs them again and again (a "$(..)" argument would
# be read once)
rows_is() { [[ "$(pg_rows "$1")" == "$2" ]]; }
rows_ge() { (($(pg_rows "$1") >= $2)); }
ifx_is() { [[ "$(ifx_count "$1")" == "$2" ]]; }

check "the relay is connected to the broker" wait_for connected mqtt_connected
check "the retained state is taken" wait_for retained stat_ge mqtt.subscriptions.ha-states.retained 1

# ---- Home Assistant statestream and JSON devices
pub -t homeassistant/sensor/living_temp/state -m 21.5
pub -t homeassistant/sensor/living_temp/unit_of_measurement -m '"°C"'
pub -t homeassistant/sensor/living_temp/friendly_name -m '"Living room"'
pub -t homeassistant/switch/lamp/state -m on
pub -t homeassistant/binary_sensor/door/state -m true
pub -q 2 -t homeassistant/sensor/living_temp/state -m 21.75
pub -t devices/b7-0042/telemetry -m '{"temperature": 21.5, "humidity": 40, "unit": "C", "ts": 1700000000}'
pub -t devices/b7-0043/telemetry -m '{"temperature": 19, "ok": true, "tags": [1, 2], "ts": "2023-11-14T22:13:21Z"}'
mosquitto_pub -p "$MPORT" -q 0 -t fast/f1 -m 7
check "the good messages are in PostgreSQL" wait_for rows rows_ge true 13
check "and the spool replayed into PostgreSQL" relay_drained
assert_eq "the retained state once (two filters match it)" \
	"$(pg_rows "series = 'porch'")" 1
assert_eq "the states (value, QoS 1 and 2)" \
	"$(pg_q "$PGURL" "SELECT string_agg(numeric_value::text, ',' ORDER BY time) FROM telemetry_data WHERE measurement = 'sensor.living_temp' AND field = 'value'")" \
	"21.5,21.75"
assert_eq "an attribute is a field of the entity" \
	"$(pg_q "$PGURL" "SELECT text_value FROM telemetry_data WHERE field = 'unit_of_measurement'")" "°C"
assert_eq "a string state" \
	"$(pg_q "$PGURL" "SELECT text_value FROM telemetry_data WHERE measurement = 'switch.lamp'")" on
assert_eq "a boolean state" \
	"$(pg_q "$PGURL" "SELECT boolean_value FROM telemetry_data WHERE measurement = 'binary_sensor.door'")" t
assert_eq "a device reading: fields, tags from the topic and the payload, time from ts" \
	"$(pg_q "$PGURL" "SELECT field || '=' || numeric_value || ' ' || (tags->>'device_id') || ' ' || (tags->>'unit') || ' ' || extract(epoch FROM time) FROM telemetry_data WHERE measurement = 'telemetry' AND tags->>'device_id' = 'b7-0042' ORDER BY field")" \
	"humidity=40 b7-0042 C 1700000000.000000
temperature=21.5 b7-0042 C 1700000000.000000"
assert_eq "an RFC 3339 time, an array as its JSON text" \
	"$(pg_q "$PGURL" "SELECT text_value || ' ' || extract(epoch FROM time) FROM telemetry_data WHERE field = 'tags'")" \
	"[1,2] 1700000001.000000"
assert_eq "InfluxDB has the same device points" \
	"$(ifx_count 'SELECT count(temperature) FROM telemetry')" 2
assert_eq "a QoS 0 message is counted as best effort" "$(mqtt_stat best-effort qos0)" 1
# the retained state came twice (once per matching filter), taken once
assert_eq "messages of ha-states" "$(mqtt_stat ha-states messages)" 6
assert_eq "the second copy of the retained state is skipped" "$(mqtt_stat ha-states retained_skipped)" 1
assert_eq "points of devices" "$(mqtt_stat devices points)" 2

# ---- bad input: each a dead letter with topic and reason, nothing blocked
DL="$SVC_ROOT/relay/spool/dead-letters.ndjson"
printf '\xff\xfe\x01' | pub -t devices/bad1/telemetry -s
pub -t devices/bad2/telemetry -m '{"temperature": 21.5,'
pub -t devices/bad3/telemetry -m '{"temperature": 21.5, "inner": {"a": 1}}'
pub -t plant/x/temp -m 20
head -c 4096 /dev/zero | tr '\0' 7 | pub -t devices/bad5/telemetry -s
pub -t homeassistant/sensor/living_temp/state -m unavailable
pub -t devices/good/telemetry -m '{"temperature": 1, "ts": 1700000100}'
check "a good message after the bad ones is stored" wait_for good \
	rows_is "tags->>'device_id' = 'good'" 1
dl=$(cat "$DL")
assert_contains "not UTF-8: dead letter" "$dl" "topic 'devices/bad1/telemetry': payload is not UTF-8 text"
assert_contains "bad JSON: dead letter" "$dl" "topic 'devices/bad2/telemetry': payload is not JSON"
assert_contains "nested object: dead letter" "$dl" "topic 'devices/bad3/telemetry': key 'inner' holds a nested object"
assert_contains "unmatched topic: dead letter" "$dl" "topic 'plant/x/temp': topic does not match the pattern of subscription 'plant'"
assert_contains "oversized payload: dead letter" "$dl" "topic 'devices/bad5/telemetry': payload of 4096 bytes is over max-payload (2048)"
assert_contains "number turned string: dead letter" "$dl" "topic 'homeassistant/sensor/living_temp/state': field 'value' of this topic was a number and is now a string"
assert_eq "rejects of devices" "$(mqtt_stat devices rejects)" 4
assert_eq "rejects of plant" "$(mqtt_stat plant rejects)" 1
assert_eq "rejects of ha-states" "$(mqtt_stat ha-states rejects)" 1
assert_eq "no bad device landed" "$(pg_rows "tags->>'device_id' LIKE 'bad%'")" 0
metrics=$(curl -sS "$RURL/metrics")
assert_contains "/metrics: per subscription" "$metrics" 'ferry_relay_mqtt_rejects_total{subscription="devices"} 4'
assert_contains "/metrics: redeliveries" "$metrics" 'ferry_relay_mqtt_redeliveries_total{subscription="devices"} 0'

# ---- a phase change: new-primary, the messages still land in both
t_run "$FERRY" cutover set-phase new-primary --db "$PGURL"
check "the relay follows to new-primary" relay_phase_is new-primary
pub -t devices/after/telemetry -m '{"temperature": 2, "ts": 1700000200}'
check "new-primary: in PostgreSQL" wait_for after rows_is "tags->>'device_id' = 'after'" 1
# PostgreSQL commits before the spool append: wait for InfluxDB itself
check "new-primary: replayed into InfluxDB" wait_for replayed \
	ifx_is "SELECT count(temperature) FROM telemetry WHERE device_id = 'after'" 1
t_run "$FERRY" cutover set-phase dual --db "$PGURL"
check "back to dual" relay_phase_is dual

# ---- bench/relay_mqtt's publisher (ferry-loadgen --mqtt): 4 connections,
# one device each, land in both stores
LG="$(dirname "$FERRY")/ferry-loadgen"
t_run "$LG" --mqtt "mqtt://127.0.0.1:$MPORT" --topic 'loadgen/d{client}/telemetry' --clients 4 \
	--points 1000 --inflight 100 --acked "$T/lg-acked" --client-id-prefix relay-test-lg \
	--start-us 1705000000000000
assert_eq "ferry-loadgen --mqtt: every message acknowledged by the broker" "$T_RC" 0
assert_contains "ferry-loadgen --mqtt: its JSON counts them" "$T_OUT" '"acked":1000,'
check "ferry-loadgen --mqtt: in PostgreSQL" wait_for lg \
	rows_is "measurement = 'loadgen' AND field = 'seq'" 1000
check "ferry-loadgen --mqtt: in InfluxDB" wait_for lg-ifx ifx_is "SELECT count(seq) FROM loadgen" 1000
assert_eq "ferry-loadgen --mqtt: the acknowledged sequence numbers are the stored ones" \
	"$(sort -n "$T/lg-acked" | md5sum)" \
	"$(pg_q "$PGURL" "SELECT numeric_value::bigint FROM telemetry_data WHERE measurement = 'loadgen' AND field = 'seq' ORDER BY 1" | md5sum)"
assert_eq "ferry-loadgen --mqtt: a device per connection, times from ts" \
	"$(pg_q "$PGURL" "SELECT count(DISTINCT tags->>'device_id') || ' ' || extract(epoch FROM min(time)) || ' ' || count(DISTINCT time) FROM telemetry_data WHERE measurement = 'loadgen' AND field = 'temperature'")" \
	"4 1705000000.000000 1000"

# ---- the primary (InfluxDB) down: nothing acknowledged, nothing lost
"$FERRY_SRC/tests/services" stop-influx "$SVC"
pub -t devices/pdown/telemetry -m '{"temperature": 3, "ts": 1700000300}'
check "primary down: the write fails and the relay reconnects" wait_for refused \
	stat_ge mqtt.reconnects 1
assert_eq "primary down: nothing in PostgreSQL" "$(pg_rows "tags->>'device_id' = 'pdown'")" 0
"$FERRY_SRC/tests/services" start-influx "$SVC"
check "primary back: the broker's redelivery lands in InfluxDB" wait_for pback \
	ifx_is "SELECT count(temperature) FROM telemetry WHERE device_id = 'pdown'" 1
check "and in PostgreSQL" wait_for pback-pg rows_is "tags->>'device_id' = 'pdown'" 1
check "the redelivery is counted" stat_ge mqtt.subscriptions.devices.redeliveries 1

# ---- kill -9 of the relay and a broker restart under a QoS 1 stream.
# The publisher finishes while the relay is down (the broker queues for
# the persistent session), so the broker restart falls into the relay's
# backlog and the publisher never sends a message twice itself: every
# duplicate in the stores is then one the broker redelivered to the relay.
$PY "$FERRY_SRC/tests/integration/mqtt_publisher.py" "$MPORT" "$N" "$T/acked" \
	--start-us 1710000000000000 >"$T/publisher.out" 2>&1 &
PUB=$!
check "the stream reaches the relay" wait_for stream stat_ge mqtt.subscriptions.devices.messages $((N / 5))
relay_stop KILL
t_run wait "$PUB"
assert_eq "the publisher got a PUBACK for every message" "$(cat "$T/publisher.out")" "acked=$N of $N"
relay_start --mqtt "mqtt://127.0.0.1:$MPORT" --mqtt-map "$T/map.yaml" --mqtt-client-id relay-test
check "the session resumes after the restart" wait_for resumed stat_ge mqtt.subscriptions.devices.messages $((N / 5))
"$FERRY_SRC/tests/services" stop-mqtt "$SVC"
"$FERRY_SRC/tests/services" start-mqtt "$SVC"
seqs_is() { [[ "$(seqs)" == "$1" ]]; }
seqs() { pg_q "$PGURL" "SELECT count(DISTINCT numeric_value) FROM telemetry_data WHERE measurement = 'telemetry' AND field = 'seq'"; }
# a restored broker sends its whole queue again (DUP): allow for it
WAIT_S=600 check "every message reaches the stores" wait_for all seqs_is "$N"
cp "$SVC_ROOT/relay/relay.log" "$SVC_ROOT/mqtt/mosquitto.log" "$T/" 2>/dev/null || true
check "the spool drains" relay_drained
missing=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$PGURL" <<-EOF
	CREATE TEMP TABLE acked (seq float8);
	\copy acked FROM '$T/acked'
	SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM telemetry_data t
	  WHERE t.measurement = 'telemetry' AND t.field = 'seq' AND t.numeric_value = a.seq
	    AND t.time = to_timestamp(0) + (1710000000000000 + a.seq) * interval '1 microsecond');
EOF
)
assert_eq "every acknowledged message is in PostgreSQL (with its time)" "$missing" 0
assert_eq "every acknowledged message is in InfluxDB" \
	"$(ifx_count "SELECT count(seq) FROM telemetry WHERE time >= 1710000000000000000")" "$N"
dups=$(pg_q "$PGURL" "SELECT count(*) - count(DISTINCT numeric_value) FROM telemetry_data WHERE measurement = 'telemetry' AND field = 'seq'")
redel=$(mqtt_stat devices redeliveries)
_t_say "# $N messages: $dups duplicate rows in PostgreSQL, $redel redeliveries counted"
check "duplicates only from counted redeliveries ($dups <= $redel)" test "$dups" -le "$redel"
check "the broker restart was a reconnect" stat_ge mqtt.reconnects 1
check "the relay is connected again" wait_for reconnected mqtt_connected
assert_eq "the retained state once: not again after the relay's restart (kill -9) nor the broker's" \
	"$(pg_rows "series = 'porch'")" 1

relay_stop
t_done
