#!/usr/bin/env bash
# ts_influx_auth.sh - an InfluxDB with auth-enabled, as Home Assistant
# setups run it, read by a user with READ on the database only.  Its
# measurement has a field of three types in three 7-day shard groups;
# SHOW SHARDS needs an admin, so the groups' bounds come from the
# policy's shard duration (truncated from Go's zero time: the weeks start
# on Mondays, not on Thursdays like Unix time).  Every value arrives with
# its type, ferry verify agrees, and a wrong password is refused with a
# message that says how to give credentials.
source "$(dirname "$0")/lib.sh"
t_init ts_influx_auth
t_need pg
t_need influx

dir="$T/auth-influx"
if ! FERRY_INFLUX_AUTH=true "$FERRY_SRC/tests/services" start "$dir" influx >"$T/auth.log" 2>&1; then
	cat "$T/auth.log" >&2
	exit 1
fi
T_OWN_SVC+=("$dir")
AURL=$(sed -n 's/^FERRY_INFLUX_URL=//p' "$dir/env")
APORT=$(sed -n 's/^FERRY_INFLUX_PORT=//p' "$dir/env")
aq() {  # aq [curl options] QUERY
	local q=${*: -1}
	curl -sS -XPOST "$AURL/query" "${@:1:$#-1}" --data-urlencode "q=$q"
}
awrite() {  # awrite LINE  (as admin, one line a request: one shard each)
	local code
	code=$(curl -sS -o "$T/write.out" -w '%{http_code}' -u admin:adminpw -XPOST \
		"$AURL/write?db=ha&precision=s" --data-binary "$1")
	[[ $code == 204 ]] || { cat "$T/write.out" >&2; return 1; }
}

# the first user of an auth-enabled influxd may be created without credentials
aq "CREATE USER admin WITH PASSWORD 'adminpw' WITH ALL PRIVILEGES" >/dev/null
aq -u admin:adminpw 'CREATE DATABASE ha WITH SHARD DURATION 7d' >/dev/null
aq -u admin:adminpw "CREATE USER reader WITH PASSWORD 'readpw'" >/dev/null
aq -u admin:adminpw 'GRANT READ ON ha TO reader' >/dev/null
assert_contains "the reader may not list shards" "$(aq -u reader:readpw 'SHOW SHARDS')" "requires admin privilege"
# Sunday 2023-12-31, Monday 2024-01-01 (a new shard group), Monday 2024-01-08
awrite 'W,domain=sensor,entity_id=a value=1.5 1704024000'
awrite 'W,domain=sensor,entity_id=b value=2.5 1704027600'
awrite 'W,domain=sensor,entity_id=a value="on" 1704110400'
awrite 'W,domain=sensor,entity_id=a value=7i 1704715200'

src="influx://reader:readpw@127.0.0.1:$APORT/ha"
url=$(new_db ts_influx_auth)
t_run "$FERRY" copy -q "$src" "$url"
assert_eq "read-only user: copy exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_ERR"
assert_contains "says how the shard groups were found" "$T_ERR" "cut at every 168 h, the shard duration of ha.autogen"
assert_eq "every value with its type" "$(pg_q "$url" "select string_agg(concat_ws('|', series, numeric_value, integer_value, text_value), ',' order by time) from telemetry_data")" \
	"a|1.5,b|2.5,a|on,a|7|7"
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "read-only user: verify equal" "$T_RC" 0

t_run "$FERRY" copy -q "influx://reader:wrong@127.0.0.1:$APORT/ha" "$(new_db ts_influx_auth)"
assert_eq "wrong password: exit code" "$T_RC" 1
assert_contains "wrong password: says so" "$T_ERR" "refused the credentials (HTTP 401"
assert_not_contains "wrong password: not shown" "$T_ERR" "wrong"
t_done
