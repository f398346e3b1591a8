# shellcheck shell=bash
# tests/integration/relay_lib.sh - sourced by the relay tests after lib.sh.
#
# relay_services [mqtt]   private PostgreSQL + InfluxDB (+ Mosquitto) for this
#                         test (the relay tests stop and kill them; never the
#                         shared ones); sets SVC, PGPORT, IPORT, IURL (http),
#                         MPORT (mqtt), creates the InfluxDB database
#                         home_assistant and the PostgreSQL database relay (PGURL)
# relay_start [ARGS...]   tests/services start-relay; sets RPORT, RURL
# relay_stop [TERM|KILL]
# ifx_q QUERY             POST /query to the InfluxDB (db home_assistant), JSON out
# ifx_points              points stored in InfluxDB (count of "value")
# pg_points               points in PostgreSQL (rows of field 'value')
# pg_doubled              rows stored more than once in PostgreSQL
# relay_stat KEY          a number from the relay's /stats
# wait_for DESC CMD...    until CMD succeeds (max WAIT_S, default 60 s); else
#                         say so with the relay's /stats
# stat_ge KEY N           relay_stat KEY >= N
# mqtt_connected          /stats says the relay is connected to the broker
# relay_drained           wait until the relay's spool is empty (max 120 s)
# relay_phase_is PHASE    wait until /stats says PHASE (max 10 s)
# relay_set_phase PHASE [URL]  ferry cutover set-phase PHASE --db URL (default
#                         PGURL), asserted, and the relay following it
# client ARGS...          relay_client.py against the relay (HA's python client)
# acked_some              wait until $T/acked (cutover_writer.py's) has a line (max 30 s)
# jget PATH               a member of the JSON document in $T_OUT ("a.b.0.c")
# wait_sql SQL            poll PGURL until SQL returns t (max 90 s)
# acked_missing_pg FILE   acknowledged points ("series time_ns" lines of
#                         cutover_writer.py) missing in PostgreSQL's narrow table

PY=/usr/bin/python3

relay_services() {
	SVC="$T/svc"
	if ! "$FERRY_SRC/tests/services" start "$SVC" pg influx "$@" >"$T/svc.log" 2>&1; then
		cat "$T/svc.log" >&2
		return 1
	fi
	T_OWN_SVC+=("$SVC")
	PGPORT=$(sed -n 's/^FERRY_PG_PORT=//p' "$SVC/env")
	IPORT=$(sed -n 's/^FERRY_INFLUX_PORT=//p' "$SVC/env")
	IURL="http://127.0.0.1:$IPORT"
	MPORT=$(sed -n 's/^FERRY_MQTT_PORT=//p' "$SVC/env")
	psql -XAtq -d "postgres://postgres@127.0.0.1:$PGPORT/postgres" -c 'CREATE DATABASE relay' >/dev/null
	PGURL="postgres://postgres@127.0.0.1:$PGPORT/relay"
	curl -sS -XPOST "$IURL/query" --data-urlencode 'q=CREATE DATABASE home_assistant' >/dev/null
	export SVC PGPORT IPORT IURL PGURL MPORT
}

relay_start() {
	if ! FERRY_RELAY_TEST_PGDB=relay "$FERRY_SRC/tests/services" start-relay "$SVC" "$@" \
		>>"$T/relay-start.log" 2>&1; then
		cat "$T/relay-start.log" >&2
		return 1
	fi
	RPORT=$(sed -n 's/^FERRY_RELAY_PORT=//p' "$SVC/env")
	RURL="http://127.0.0.1:$RPORT"
	export RPORT RURL
}

relay_stop() {
	"$FERRY_SRC/tests/services" stop-relay "$SVC" "${1:-TERM}"
}

ifx_q() {
	curl -sS -XPOST "$IURL/query?db=home_assistant" --data-urlencode "q=$1"
}

ifx_points() {
	ifx_q 'SELECT count("value") FROM /.*/' | $PY -c '
import json, sys
d = json.load(sys.stdin)
n = 0
for r in d.get("results", []):
    for s in r.get("series", []) or []:
        n += s["values"][0][1]
print(n)'
}

pg_points() {
	pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE field = 'value'"
}

pg_doubled() {
	pg_q "$PGURL" "SELECT count(*) - count(DISTINCT (series, measurement, field, time)) FROM telemetry_data"
}

relay_stat() {
	curl -sS "$RURL/stats" | $PY -c '
import json, sys
d = json.load(sys.stdin)
k = sys.argv[1]
v = d
for part in k.split("."):
    v = v[part]
print(v)' "$1"
}

wait_for() {
	local desc=$1 i
	shift
	for ((i = 0; i < ${WAIT_S:-60} * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	_t_say "waited ${WAIT_S:-60} s for: $desc ($(curl -sS "$RURL/stats"))" >&2
	return 1
}

stat_ge() { (($(relay_stat "$1") >= $2)); }

mqtt_connected() { [[ "$(relay_stat mqtt.connected)" == True ]]; }

relay_drained() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[[ "$(relay_stat spool_records 2>/dev/null)" == 0 ]] && return 0
		sleep 0.1
	done
	_t_say "the relay's spool did not drain in 120 s: $(curl -sS "$RURL/stats")" >&2
	return 1
}

relay_phase_is() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ "$(relay_stat phase 2>/dev/null)" == "$1" ]] && return 0
		sleep 0.1
	done
	_t_say "the relay did not follow to phase $1: $(curl -sS "$RURL/stats")" >&2
	return 1
}

relay_set_phase() {
	t_run "$FERRY" cutover set-phase "$1" --db "${2:-$PGURL}"
	assert_eq "set-phase $1" "$T_RC" 0
	check "the relay follows to $1" relay_phase_is "$1"
}

client() {
	$PY "$FERRY_SRC/tests/integration/relay_client.py" "$RPORT" home_assistant "$@"
}

jget() {
	$PY -c '
import json, sys
v = json.loads(sys.stdin.read())
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1" <<<"$T_OUT"
}

wait_sql() {
	local i
	for ((i = 0; i < 900; i++)); do
		[[ "$(pg_q "$PGURL" "$1" 2>/dev/null || true)" == t ]] && return 0
		sleep 0.1
	done
	return 1
}

acked_missing_pg() {
	sort -u "$1" | awk '{ printf "%s\t%s\n", $1, $2 }' >"$1.tsv"
	psql -XAtq -d "$PGURL" -c "DROP TABLE IF EXISTS acked" -c "CREATE TABLE acked (series text, ns bigint)" \
		-c "\\copy acked FROM '$1.tsv'" >/dev/null
	pg_q "$PGURL" "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM telemetry_data t WHERE t.series = a.series AND t.time = timestamptz 'epoch' + (a.ns / 1000) * interval '1 microsecond')"
}

acked_some() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -s "$T/acked" ]] && return 0
		sleep 0.1
	done
	return 1
}
