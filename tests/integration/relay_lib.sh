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
# pg_doubled              rows stored more than once in PostgreSQL (but sensor.subus)
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
# advance_refused GATE    cutover advance until refused by GATE (max 60 s), a pass/fail
# writer_start [SECS], writer_stop  cutover_writer.py through the relay into
#                         $T/acked (a batch every SECS, default 0.1 s)
#                         (its output appended to $T/writer.out, .err)
# acked_grows N           more than N acknowledged points in $T/acked (max 30 s)
# no_loss WHAT            every acknowledged point in PostgreSQL, no row doubled
# page URL                the status page in headless Chromium (when installed:
#                         command -v chromium); its DOM to $T/dom.html
# dom ID [rows] | @ATTR   status_dom.py on it: an element's text, a table's rows
# page_ok WHAT            the page's script rendered and polled, no error
# cutover_setup ROWS      (again) private services, ROWS of generated history
#                         (the last 12 h, checked to be in the past) in the
#                         InfluxDB; OLD its URL; $T/acked emptied
# cutover_to_t0 [ARGS...] cutover prepare --db PGURL --old OLD ARGS, relay_start,
#                         advance (--wait) to dual-write, then to backfill:
#                         each asserted; T0 the recorded T0 (epoch seconds)

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

# rows of a point twice (sensor.subus, sensor.rtc: two points < 1 us apart,
# both real: cutover_steps.sh; sensor.dup likewise: cutover_strategies.sh)
pg_doubled() {
	pg_q "$PGURL" "SELECT count(*) - count(DISTINCT (series, measurement, field, time)) FROM telemetry_data WHERE series NOT IN ('sensor.subus', 'sensor.rtc', 'sensor.dup')"
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

# advance_refused GATE: `ferry cutover advance` (no --wait) again until it
# is refused (exit 3) with GATE failing, for at most 60 s: the gates
# before GATE passed and GATE was checked.  A gate that fails for good is
# seen at once, where --wait would wait out its --timeout.  T_OUT holds
# the last advance's output (run it without `check`, which runs it in a
# subshell).
advance_refused() {
	local end=$((SECONDS + 60))
	while :; do
		t_run "$FERRY" cutover advance --db "$PGURL" --progress none
		if [[ $T_RC == 3 && "$T_OUT" == *"fail   $1 "* ]]; then
			pass "advance refused by the $1 gate (exit 3)"
			return 0
		fi
		# refused by another gate (exit 3): again; anything else moved
		# the cutover or failed, and another advance would hide it
		[[ $T_RC == 3 ]] || break
		((SECONDS < end)) || break
		sleep 0.5
	done
	fail "advance refused by the $1 gate (within 60 s): exit $T_RC, $T_OUT $T_ERR"
	return 0
}

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

writer_start() {
	rm -f "$T/stop"
	$PY "$FERRY_SRC/tests/integration/cutover_writer.py" "$RPORT" "$T/acked" "$T/stop" ${1:+"$1"} >>"$T/writer.out" 2>>"$T/writer.err" &
	writer=$!
}

writer_stop() {
	touch "$T/stop"
	wait "$writer"
}

acked_grows() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ $(wc -l <"$T/acked" 2>/dev/null || echo 0) -gt $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

no_loss() {
	assert_eq "$1: every acknowledged point is in PostgreSQL" "$(acked_missing_pg "$T/acked")" 0
	assert_eq "$1: no row doubled in PostgreSQL" "$(pg_doubled)" 0
}

cutover_setup() {
	[[ -z "${SVC:-}" ]] || { relay_stop || true; "$FERRY_SRC/tests/services" stop "$SVC" >/dev/null 2>&1 || true; }
	relay_services
	OLD="influx://127.0.0.1:$IPORT/home_assistant"
	"$FERRY" generate --format lp --rows "$1" --entities 10 --seed 5 \
		--start $(($(date +%s) - 12 * 3600)) -q -o "$T/history.lp"
	curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary @"$T/history.lp"
	# all of it in the past: a point stamped after the switch would be
	# neither the backfill's nor the catch-up's
	check "the history is in the past" test "$(ifx_q 'SELECT count("value") FROM /.*/ WHERE time > now()' | { grep -c count || true; })" = 0
	rm -f "$T/acked"
}

cutover_to_t0() {
	t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" "$@"
	assert_eq "prepare" "$T_RC" 0
	relay_start
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "prepare -> dual-write" "$T_RC" 0
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "dual-write -> backfill (T0)" "$T_RC" 0
	T0=$(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan")
}

# page URL: load URL in headless Chromium until its script has polled a
# few times; the DOM after the script to $T/dom.html, the page's console
# lines (script errors, CSP refusals, console.*) to $T/console.txt
page() {
	rm -f "$T/dom.html" "$T/console.txt"
	HOME="$T" timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T/chromium" --enable-logging=stderr --v=0 \
		--virtual-time-budget=6000 --dump-dom "$1" >"$T/dom.html" 2>"$T/chromium.err"
	local rc=$?
	grep -F ':CONSOLE' "$T/chromium.err" >"$T/console.txt" || true
	return $rc
}
dom() { $PY "$FERRY_SRC/tests/integration/status_dom.py" "$T/dom.html" "$@"; }
# page_ok WHAT: the page loaded, its script ran without a complaint
page_ok() {
	assert_eq "$1: the script rendered" "$(dom @data-state)" ok
	check "$1: the script polled again (rates and charts drawn)" \
		test "$(dom @data-polls)" -ge 2
	assert_eq "$1: no script error on the page" "$(dom js-errors)" ""
	check "$1: the charts plotted the polls" test "$(dom @chart-spool:data-plotted)" -ge 1
	assert_eq "$1: nothing in the console" "$(cat "$T/console.txt")" ""
}
