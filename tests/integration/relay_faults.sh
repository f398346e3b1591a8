#!/usr/bin/env bash
# relay_faults.sh - `ferry relay` under the faults of a real migration, each
# against real influxd and PostgreSQL, with the python client Home Assistant
# uses: the secondary down (writes go on, the spool replays, the stores end
# equal), the primary down (503, nothing acknowledged), kill -9 of the relay
# under load (every acknowledged point in both stores after the restart,
# none doubled), PostgreSQL restarted mid-load, a full spool (503, /ready
# fails, nothing dropped), and a write the secondary refuses (dead letter,
# the spool goes on).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_faults
t_need pg
t_need influx

relay_services
relay_start

# every acknowledged point of an acked file is in PostgreSQL (exactly once,
# see pg_doubled) and in InfluxDB
acked_in_both() {
	local f=$1 want missing
	want=$(wc -l <"$f")
	missing=$(psql -XAtq -v ON_ERROR_STOP=1 -d "$PGURL" <<-EOF
		CREATE TEMP TABLE acked (series text, ns bigint, v float8);
		\copy acked FROM '$f' WITH (FORMAT text, DELIMITER ' ')
		SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM telemetry_data t
		  WHERE t.series = a.series AND t.field = 'value'
		    AND t.time = to_timestamp(0) + (a.ns / 1000) * interval '1 microsecond'
		    AND t.numeric_value = a.v);
	EOF
	)
	[[ "$missing" == 0 ]] || { _t_say "$missing of $want acknowledged points are not in PostgreSQL" >&2; return 1; }
}

# ---- the secondary (new PostgreSQL) down for a while: writes go on
"$FERRY_SRC/tests/services" stop-pg "$SVC" fast
t_run client "$T/acked-down" --batches 8 --size 100 --tag sd
assert_eq "secondary down: every write acknowledged" "$T_OUT" "acked=8 failed=0"
assert_eq "secondary down: /ready still 200" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" 200
assert_eq "secondary down: /health 200" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/health")" 200
check "secondary down: the spool holds the writes" test "$(relay_stat spool_records)" -gt 0
"$FERRY_SRC/tests/services" start-pg "$SVC"
check "the spool replays once PostgreSQL is back" relay_drained
assert_eq "both stores equal after the replay (InfluxDB)" "$(ifx_points)" 800
assert_eq "both stores equal after the replay (PostgreSQL)" "$(pg_points)" 800
check "every acknowledged point is in PostgreSQL" acked_in_both "$T/acked-down"
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL"
assert_eq "ferry verify: equal" "$T_RC" 0

# ---- the primary (InfluxDB) down: 503, nothing acknowledged, nothing spooled
"$FERRY_SRC/tests/services" stop-influx "$SVC"
code=$(curl -sS -o "$T/p503.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'W,entity_id=sensor.pd value=1 1700000009000000000')
assert_eq "primary down: 503" "$code" 503
t_run client "$T/acked-pd" --batches 3 --size 10 --tag pd --start-ns 1700000008000000000
assert_eq "primary down: the client is told (nothing acknowledged)" "$T_OUT" "acked=0 failed=3"
assert_eq "primary down: /ready fails" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" 503
"$FERRY_SRC/tests/services" start-influx "$SVC"
ready_again() {  # /ready turns 200 with no write in between (a load balancer sends none)
	local i
	for ((i = 0; i < 100; i++)); do
		[[ "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" == 200 ]] && return 0
		sleep 0.1
	done
	return 1
}
check "primary back: /ready recovers without a write" ready_again
check "spool drained" relay_drained
assert_eq "primary down: nothing of it reached PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series LIKE 'sensor.pd%'")" 0
t_run client "$T/acked-pu" --batches 2 --size 10 --tag pu --start-ns 1700000007000000000
assert_eq "primary back: writes acknowledged again" "$T_OUT" "acked=2 failed=0"

# ---- kill -9 of the relay under load: nothing acknowledged is lost or doubled
client "$T/acked-kill" --batches 150 --size 100 --tag k --start-ns 1700000010000000000 --retry \
	>"$T/kill-client.out" 2>&1 &
cpid=$!
for ((i = 0; i < 600; i++)); do
	[[ -s "$T/acked-kill" && $(wc -l <"$T/acked-kill") -ge 3000 ]] && break
	sleep 0.05
done
relay_stop KILL
sleep 0.5
relay_start
wait "$cpid"
assert_eq "kill -9: the client got every batch acknowledged in the end" "$(cat "$T/kill-client.out")" "acked=150 failed=0"
check "spool drained after the restart" relay_drained
check "kill -9: every acknowledged point is in PostgreSQL" acked_in_both "$T/acked-kill"
assert_eq "kill -9: no row doubled in PostgreSQL" "$(pg_doubled)" 0
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL"
assert_eq "kill -9: ferry verify: equal" "$T_RC" 0

# ---- PostgreSQL restarted mid-load
client "$T/acked-pgr" --batches 60 --size 100 --tag r --start-ns 1700000020000000000 --retry \
	>"$T/pgr-client.out" 2>&1 &
cpid=$!
for ((i = 0; i < 600; i++)); do
	[[ -s "$T/acked-pgr" && $(wc -l <"$T/acked-pgr") -ge 1000 ]] && break
	sleep 0.05
done
"$FERRY_SRC/tests/services" restart-pg "$SVC" immediate
wait "$cpid"
assert_eq "PostgreSQL restart: every batch acknowledged" "$(cat "$T/pgr-client.out")" "acked=60 failed=0"
check "spool drained" relay_drained
check "PostgreSQL restart: every acknowledged point is there" acked_in_both "$T/acked-pgr"
assert_eq "PostgreSQL restart: no row doubled" "$(pg_doubled)" 0

# ---- a write the secondary refuses: dead letter, the spool goes on
t_run "$FERRY" cutover set-phase new-primary --db "$PGURL"
check "phase new-primary" relay_phase_is new-primary
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'W,entity_id=sensor.conflict value=1 1700000030000000000')
assert_eq "a float value: 204" "$code" 204
# PostgreSQL (narrow) takes a string for the same field; InfluxDB refuses it
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'W,entity_id=sensor.conflict value="on" 1700000030000001000')
assert_eq "a string value of the same field: 204 (the primary took it)" "$code" 204
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'W,entity_id=sensor.after value=2 1700000030000002000')
assert_eq "a later write: 204" "$code" 204
check "spool drained" relay_drained
dl="$(sed -n 's/^FERRY_RELAY_SPOOL_DIR=//p' "$SVC/env")/dead-letters.ndjson"
check "dead-letters.ndjson exists" test -s "$dl"
assert_contains "the dead letter has the point and the reason" "$(cat "$dl")" "sensor.conflict"
assert_contains "the dead letter says why" "$(cat "$dl")" "conflict"
assert_eq "the spool went on: the later point reached InfluxDB" \
	"$(ifx_q "SELECT count(value) FROM W WHERE entity_id = 'sensor.after'" | grep -c '"count"')" 1

# ---- a full spool: 503, /ready fails, nothing dropped
t_run "$FERRY" cutover set-phase dual --db "$PGURL"
check "phase dual" relay_phase_is dual
relay_stop
relay_start --spool-max 300000
"$FERRY_SRC/tests/services" stop-pg "$SVC" fast
full=0
for ((b = 0; b < 200; b++)); do
	body=$($PY -c "
import sys
b = int(sys.argv[1])
for i in range(100):
    print('W,entity_id=sensor.full_%d value=%d %d' % (i % 10, b * 100 + i, 1700000040000000000 + (b * 100 + i) * 1000))" "$b")
	code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary "$body")
	if [[ $code == 503 ]]; then full=1; break; fi
	[[ $code == 204 ]] || { fail "spool filling: unexpected $code"; break; }
done
assert_eq "a full spool answers 503" "$full" 1
assert_eq "a full spool fails /ready" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" 503
"$FERRY_SRC/tests/services" start-pg "$SVC"
check "the full spool drains" relay_drained
assert_eq "/ready again" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" 200
assert_eq "every acknowledged point of the full spool is in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series LIKE 'sensor.full%'")" $((b * 100))
assert_eq "no row doubled" "$(pg_doubled)" 0
relay_stop
t_done
