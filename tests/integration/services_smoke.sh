#!/usr/bin/env bash
# The servers tests/services started answer, and lib.sh's helpers work.
source "$(dirname "$0")/lib.sh"
t_init services_smoke

assert_eq "postgres answers select 1" "$(pg_q "$FERRY_PG_URL" 'select 1')" 1
assert_eq "postgres listens where the env says" \
	"$(pg_q "$FERRY_PG_URL" 'show port')" "$FERRY_PG_PORT"
assert_eq "fsync is off for test speed" "$(pg_q "$FERRY_PG_URL" 'show fsync')" off
assert_eq "server encoding is UTF8" "$(pg_q "$FERRY_PG_URL" 'show server_encoding')" UTF8

a=$(new_db smoke)
b=$(new_db smoke)
check "new_db gives distinct databases" test "$a" != "$b"
assert_contains "new_db URL names the server" "$a" "postgres://postgres@127.0.0.1:$FERRY_PG_PORT/smoke_"
assert_eq "new database exists and answers" "$(pg_q "$a" 'select current_database()')" "${a##*/}"
assert_eq "new database has no user tables" \
	"$(pg_q "$a" "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
	              where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')")" 0
pg_q "$a" 'create table t (x int); insert into t values (1), (2)'
assert_eq "pg_q runs several statements" "$(pg_q "$a" 'select sum(x) from t')" 3
check "database b does not see a's table" bash -c '! psql -XAtq -d "$1" -c "select 1 from t" 2>/dev/null' _ "$b"

t_run psql -XAtq -v ON_ERROR_STOP=1 -d "$a" -c 'select * from no_such_table'
check "t_run records a failing command's exit code" test "$T_RC" -ne 0
assert_contains "t_run captures stderr" "$T_ERR" 'no_such_table'

if [[ -n "${FERRY_INFLUX_URL:-}" ]]; then
	assert_eq "influxdb /ping answers 204" \
		"$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$FERRY_INFLUX_URL/ping")" 204
	curl -sf --max-time 10 -XPOST "$FERRY_INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE smoke' >/dev/null
	assert_eq "influxdb accepts a line-protocol write" \
		"$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -XPOST \
			"$FERRY_INFLUX_URL/write?db=smoke&precision=s" \
			--data-binary 'power,entity_id=sensor.x value=12.5 1700000000')" 204
	assert_contains "influxdb returns the point" \
		"$(curl -s --max-time 10 -G "$FERRY_INFLUX_URL/query" --data-urlencode db=smoke \
			--data-urlencode epoch=s --data-urlencode 'q=SELECT value FROM power')" '[1700000000,12.5]'
else
	_t_say "# influxdb not started: skipping its checks"
fi

if [[ -n "${FERRY_MQTT_PORT:-}" ]] && command -v mosquitto_sub >/dev/null; then
	topic="ferry/smoke/$$"
	# The subscriber waits for exactly one message (-C 1) for at most 10 s;
	# publish repeatedly until it has subscribed and got one.
	timeout 10 mosquitto_sub -h "$FERRY_MQTT_HOST" -p "$FERRY_MQTT_PORT" -t "$topic" -C 1 \
		>"$T/mqtt.out" 2>"$T/mqtt.err" &
	sub=$!
	for _ in $(seq 1 50); do
		timeout 5 mosquitto_pub -h "$FERRY_MQTT_HOST" -p "$FERRY_MQTT_PORT" -t "$topic" \
			-m 'hello 42' 2>>"$T/mqtt.err" || true
		kill -0 "$sub" 2>/dev/null || break
		sleep 0.2
	done
	rc=0
	wait "$sub" || rc=$?
	assert_eq "mosquitto_sub exit code" "$rc" 0
	assert_eq "mosquitto round trip" "$(head -n 1 "$T/mqtt.out")" 'hello 42'
else
	_t_say "# mosquitto not started: skipping its checks"
fi

t_done
