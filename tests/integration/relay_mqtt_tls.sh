#!/usr/bin/env bash
# relay_mqtt_tls.sh - `ferry relay --mqtt mqtts://...` against a real
# Mosquitto with TLS listeners (tests/services, FERRY_MQTT_TLS=1: a CA and
# certificates made by the openssl CLI): messages published over TLS land
# in PostgreSQL; user and password (from the environment) are checked;
# a wrong CA, the system store (which does not know the test CA), a
# certificate for another host name and a plain port are refused with
# the broker and OpenSSL's reason in the relay's /stats; a listener that
# requires a client certificate takes --mqtt-cert/--mqtt-key;
# --mqtt-insecure connects and is warned about.  And retained messages
# are taken once across relay restarts: the same retained state is not
# stored again, a changed one is.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_mqtt_tls
t_need pg
t_need influx
t_need mqtt
for c in openssl mosquitto_pub mosquitto_passwd; do
	command -v "$c" >/dev/null || t_skip "$c is not installed (make deps)"
done

export FERRY_MQTT_TLS=1
relay_services mqtt
unset FERRY_MQTT_TLS
envof() { sed -n "s/^$1=//p" "$SVC/env"; }
TD=$(envof FERRY_MQTT_TLS_DIR)
TPORT=$(envof FERRY_MQTT_TLS_PORT)      # user ferry, password s3cret
CPORT=$(envof FERRY_MQTT_TLS_CERT_PORT) # a client certificate required
WPORT=$(envof FERRY_MQTT_TLS_WRONG_PORT) # a certificate for broker.invalid
SPOOL="$(envof FERRY_SERVICES_ROOT)/relay/spool"
tpub() { mosquitto_pub -h 127.0.0.1 -p "$TPORT" --cafile "$TD/ca.crt" -u ferry -P s3cret -q 1 "$@"; }

cat >"$T/map.yaml" <<EOF
database: home_assistant
subscriptions:
  - name: ha-states
    topic: homeassistant/{domain}/{entity_id}/state
    format: value
    measurement: "{domain}.{entity_id}"
    tags: [domain, entity_id]
  - name: devices
    topic: devices/{device_id}/telemetry
    format: json
    measurement: telemetry
    tags: [device_id]
    time: ts
EOF

error_has() { [[ "$(relay_stat mqtt.error)" == *"$1"* ]]; }
pg_rows() { pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE $1"; }
rows_is() { [[ "$(pg_rows "$1")" == "$2" ]]; }
relay_log() { cat "$(envof FERRY_SERVICES_ROOT)/relay/relay.log"; }
# refused DESC NEEDLE ARGS...: a relay with these --mqtt options does not
# connect, and says why in /stats
refused() {
	local desc=$1 needle=$2
	shift 2
	relay_start --mqtt-map "$T/map.yaml" "$@"
	check "$desc" wait_for "$desc" error_has "$needle"
	assert_eq "$desc: not connected" "$(relay_stat mqtt.connected)" False
	_t_say "# $desc: $(relay_stat mqtt.error)"
	relay_stop
}

# ---- TLS, user and password (the password from the environment), and a
# retained state published before the relay's first start
tpub -r -t homeassistant/sensor/porch/state -m 11.5
GOOD=(--mqtt "mqtts://ferry@127.0.0.1:$TPORT" --mqtt-cafile "$TD/ca.crt"
	--mqtt-map "$T/map.yaml" --mqtt-client-id tls-test)
FERRY_RELAY_MQTT_PASSWORD=s3cret relay_start "${GOOD[@]}"
check "the relay connects over TLS with user and password" wait_for connected mqtt_connected
assert_contains "the log says TLS" "$(relay_log)" "over TLS as 'tls-test'"
tpub -t devices/t1/telemetry -m '{"temperature": 21.5, "ts": 1700000000}'
check "a message published over TLS lands in PostgreSQL" wait_for t1 \
	rows_is "tags->>'device_id' = 't1'" 1
check "the retained state is taken" wait_for porch rows_is "series = 'porch'" 1
check "the record of what was taken is in the spool directory" test -s "$SPOOL/mqtt-seen"
relay_stop

# ---- retained messages across restarts: the same state not again ...
FERRY_RELAY_MQTT_PASSWORD=s3cret relay_start "${GOOD[@]}"
check "restarted: connected" wait_for connected mqtt_connected
check "restarted: the retained state comes again and is skipped" wait_for skipped \
	stat_ge mqtt.subscriptions.ha-states.retained_skipped 1
tpub -t devices/t2/telemetry -m '{"temperature": 22, "ts": 1700000001}'
check "restarted: a live message lands" wait_for t2 rows_is "tags->>'device_id' = 't2'" 1
assert_eq "restarted: the retained state is stored once" "$(pg_rows "series = 'porch'")" 1
assert_eq "restarted: retained taken" "$(relay_stat mqtt.subscriptions.ha-states.retained)" 0
# a state published retained while the relay runs comes live (RETAIN 0)
# now and retained at the next start: one row
tpub -r -t homeassistant/sensor/hall/state -m 19.5
check "a live retained state lands" wait_for hall rows_is "series = 'hall'" 1
relay_stop
# ... a changed one is taken.  QoS 0: the broker queues a QoS 1 message for
# the relay's session, which would bring it live (RETAIN 0) and leave the
# retained copy after the SUBSCRIBE nothing new
mosquitto_pub -h 127.0.0.1 -p "$TPORT" --cafile "$TD/ca.crt" -u ferry -P s3cret -q 0 \
	-r -t homeassistant/sensor/porch/state -m 12
FERRY_RELAY_MQTT_PASSWORD=s3cret relay_start "${GOOD[@]}"
check "a changed retained state is taken after a restart" wait_for changed \
	rows_is "series = 'porch'" 2
check "the live retained state is skipped after the restart" wait_for hall-skipped \
	stat_ge mqtt.subscriptions.ha-states.retained_skipped 1
tpub -t devices/t3/telemetry -m '{"temperature": 23, "ts": 1700000002}'
check "a live message after them lands" wait_for t3 rows_is "tags->>'device_id' = 't3'" 1
assert_eq "the live retained state once" "$(pg_rows "series = 'hall'")" 1
assert_eq "the porch states: 11.5 and 12" \
	"$(pg_q "$PGURL" "SELECT string_agg(numeric_value::text, ',' ORDER BY time) FROM telemetry_data WHERE series = 'porch'")" \
	"11.5,12"
assert_eq "the changed retained state was taken as retained" \
	"$(relay_stat mqtt.subscriptions.ha-states.retained)" 1
relay_stop

# ---- refusals, each with the broker and the reason
refused "a wrong password is refused" "MQTT broker 127.0.0.1:$TPORT refused the connection: not authorized" \
	--mqtt "mqtts://ferry:wrong@127.0.0.1:$TPORT" --mqtt-cafile "$TD/ca.crt" --mqtt-client-id tls-bad
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj "/CN=another CA" -keyout "$T/other-ca.key" -out "$T/other-ca.crt" 2>/dev/null
refused "a broker certificate of another CA is refused" \
	"TLS handshake with MQTT broker localhost:$TPORT failed: certificate verify failed: unable to get local issuer certificate" \
	--mqtt "mqtts://ferry:s3cret@localhost:$TPORT" --mqtt-cafile "$T/other-ca.crt" --mqtt-client-id tls-bad
refused "without --mqtt-cafile the system store is used (it does not know the test CA)" \
	"certificate verify failed: unable to get local issuer certificate (give the CA" \
	--mqtt "mqtts://ferry:s3cret@localhost:$TPORT" --mqtt-client-id tls-bad
refused "a certificate for another host name is refused" \
	"TLS handshake with MQTT broker localhost:$WPORT failed: certificate verify failed: hostname mismatch" \
	--mqtt "mqtts://localhost:$WPORT" --mqtt-cafile "$TD/ca.crt" --mqtt-client-id tls-bad
refused "... and for another address" "certificate verify failed: IP address mismatch" \
	--mqtt "mqtts://127.0.0.1:$WPORT" --mqtt-cafile "$TD/ca.crt" --mqtt-client-id tls-bad
refused "mqtts:// to a plain port is refused" "(is that port TLS?" \
	--mqtt "mqtts://127.0.0.1:$MPORT" --mqtt-cafile "$TD/ca.crt" --mqtt-client-id tls-bad
refused "a listener that requires a client certificate refuses none" "certificate required" \
	--mqtt "mqtts://localhost:$CPORT" --mqtt-cafile "$TD/ca.crt" --mqtt-client-id tls-bad

# ---- --mqtt-insecure: connects to the wrong host name, loudly warned
relay_start --mqtt "mqtts://localhost:$WPORT" --mqtt-insecure --mqtt-map "$T/map.yaml" \
	--mqtt-client-id tls-insecure
check "--mqtt-insecure connects" wait_for insecure mqtt_connected
assert_contains "--mqtt-insecure is warned about" "$(relay_log)" \
	"--mqtt-insecure: the certificate and the host name of localhost:$WPORT are NOT checked"
relay_stop

# ---- a client certificate; the TLS options from the environment and a
# config file this time (the options above came from the command line)
printf 'mqtt-cert: %s\nmqtt-key: %s\n' "$TD/client.crt" "$TD/client.key" >"$T/relay.yaml"
FERRY_RELAY_MQTT_CAFILE="$TD/ca.crt" relay_start --mqtt "mqtts://localhost:$CPORT" \
	--config "$T/relay.yaml" --mqtt-map "$T/map.yaml" --mqtt-client-id tls-cert
check "the relay connects with a client certificate" wait_for cert mqtt_connected
mosquitto_pub -h localhost -p "$CPORT" --cafile "$TD/ca.crt" --cert "$TD/client.crt" \
	--key "$TD/client.key" -q 1 -t devices/c1/telemetry -m '{"temperature": 5, "ts": 1700000010}'
check "a message through the client certificate listener lands" wait_for c1 \
	rows_is "tags->>'device_id' = 'c1'" 1
relay_stop

# ---- options that cannot work: exit 2 before anything starts
bad() {
	t_run "$FERRY" relay --old "influx://127.0.0.1:$IPORT/home_assistant" --new "$PGURL" --spool "$T/spool-bad" \
		--listen 127.0.0.1:1 --mqtt-map "$T/map.yaml" "$@"
	assert_eq "$1 $2 ...: exit 2" "$T_RC" 2
}
bad --mqtt "mqtt://127.0.0.1:$MPORT" --mqtt-cafile "$TD/ca.crt"
assert_contains "TLS options need mqtts://" "$T_ERR" "--mqtt-cafile is for TLS: give an mqtts:// URL"
bad --mqtt "mqtts://127.0.0.1:$TPORT" --mqtt-cafile "$T/none.crt"
assert_contains "a missing CA file is named" "$T_ERR" "--mqtt-cafile '$T/none.crt': cannot read it"
bad --mqtt "mqtts://127.0.0.1:$TPORT" --mqtt-cafile "$T/map.yaml"
assert_contains "a CA file without a certificate" "$T_ERR" "--mqtt-cafile '$T/map.yaml': no CA certificate (PEM) in it"
bad --mqtt "mqtts://127.0.0.1:$TPORT" --mqtt-cert "$TD/client.crt"
assert_contains "--mqtt-cert without --mqtt-key" "$T_ERR" "--mqtt-cert and --mqtt-key go together"
bad --mqtt "mqtts://127.0.0.1:$TPORT" --mqtt-cert "$TD/client.crt" --mqtt-key "$TD/server.key"
assert_contains "a key of another certificate" "$T_ERR" "not the key of the --mqtt-cert certificate"
FERRY_RELAY_MQTT_PASSWORD=x bad --mqtt "mqtts://127.0.0.1:$TPORT"
assert_contains "a password without a user" "$T_ERR" "the URL has no user"

t_done
