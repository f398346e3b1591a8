#!/usr/bin/env bash
# relay_ha.sh - Home Assistant's InfluxDB integration (simulated by the real
# python3-influxdb client it uses) writes through `ferry relay` while the
# phase is moved by hand through every phase and back: every write is
# acknowledged, the stores hold the same points as `ferry verify` shows, no
# row is doubled; and the relay answers bad input as influxd does (curl).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_ha
t_need pg
t_need influx

relay_services
relay_start

# ---- influxd's answers, as clients rely on them
code=$(curl -sS -o /dev/null -D "$T/ping.h" -w '%{http_code}' "$RURL/ping")
assert_eq "/ping" "$code" 204
assert_contains "/ping has X-Influxdb-Version" "$(cat "$T/ping.h")" "X-Influxdb-Version"
code=$(curl -sS -o /dev/null -w '%{http_code}' -I "$RURL/ping")
assert_eq "HEAD /ping" "$code" 204
assert_eq "/health" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/health")" 200
assert_eq "/ready" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/ready")" 200

# Home Assistant's start-up check is write_points([]): it must not raise
t_run client "$T/acked-a" --empty-first --batches 6 --size 100 --tag a
assert_eq "HA client in dual: every batch acknowledged" "$T_OUT" "acked=6 failed=0"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_contains "cutover status says dual" "$T_OUT" '"dual"'

check "spool drained" relay_drained
assert_eq "dual: InfluxDB has the points" "$(ifx_points)" 600
assert_eq "dual: PostgreSQL has the points" "$(pg_points)" 600
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL"
assert_eq "dual: ferry verify finds the stores equal" "$T_RC" 0

# dual: a line influxd refuses with a 400 that quotes it whole (a 70 KB
# series key): the answer was over the writer's 64 KB and InfluxDB counted
# as down: 503 for a write whose good lines InfluxDB had stored, for good
now=$(date +%s)
$PY -c "import sys; n = sys.argv[1]
print('bigm,entity_id=sensor.big level=1 %s000012000' % n)
print('bigm,entity_id=' + 'z' * 71680 + ' level=2 %s000013000' % n)
print('bigm,entity_id=sensor.big level=3 %s000014000' % n)" "$now" >"$T/big.lp"
code=$(curl -sS -o "$T/big.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/big.lp")
assert_eq "a 70 KB series key among good lines: 400" "$code" 400
assert_contains "a partial write" "$(cat "$T/big.out")" "partial write"
check "spool drained" relay_drained
assert_eq "the good lines in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT string_agg(numeric_value::text, ',' ORDER BY time) FROM telemetry_data WHERE measurement = 'bigm'")" "1,3"
assert_contains "and in InfluxDB" "$(ifx_q "SELECT count(level) FROM bigm")" ',2]'

# dual: a field type conflict only InfluxDB can find: influxd's partial
# write, worded once (it was "partial write: partial write: ... dropped=1
# dropped=1"); and a field given twice, which influxd takes as its last value
printf 'cf,entity_id=a level=1 %s000021000\n' "$now" >"$T/cf1.lp"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/cf1.lp")
assert_eq "a float field: 204" "$code" 204
printf 'cf,entity_id=a level="s" %s000022000\ncf,entity_id=a level=2,level=5 %s000023000\n' "$now" "$now" >"$T/cf2.lp"
code=$(curl -sS -o "$T/cf2.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/cf2.lp")
assert_eq "then a string for it, and a field given twice: 400" "$code" 400
assert_contains "influxd's partial write" "$(cat "$T/cf2.out")" 'partial write: field type conflict: input field \"level\" on measurement \"cf\" is type string, already exists as type float dropped=1"}'
assert_not_contains "worded once" "$(cat "$T/cf2.out")" "partial write: partial write"
check "spool drained" relay_drained
assert_eq "PostgreSQL: the first value and the last of the field given twice" \
	"$(pg_q "$PGURL" "SELECT string_agg(numeric_value::text, ',' ORDER BY time) FROM telemetry_data WHERE measurement = 'cf'")" "1,5"
assert_contains "InfluxDB: the same" "$(ifx_q "SELECT level FROM cf")" ',1],["'
assert_contains "InfluxDB: the last value" "$(ifx_q "SELECT level FROM cf")" ',5]]'

# dual: a retention policy InfluxDB does not have: influxd's 500 and words
# (it was a 400 partial write naming where the relay's InfluxDB is)
code=$(curl -sS -o "$T/rp.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant&rp=nope" --data-binary @"$T/cf1.lp")
assert_eq "an unknown rp=: 500, as influxd" "$code" 500
assert_eq "in influxd's words" "$(cat "$T/rp.out")" '{"error":"retention policy not found: nope"}'

# dual: NUL bytes and bytes that are not UTF-8 in names and string values,
# which influxd 1.x stores (204): the relay answered 400 and the points
# were lost to both stores.  Now InfluxDB has them, and PostgreSQL, whose
# text cannot hold them, refuses them point by point: dead letters that
# keep the exact bytes (lp_base64), the good point of the write in both
spool=$(sed -n 's/^FERRY_RELAY_SPOOL_DIR=//p' "$SVC/env")
dl_before=0
[[ -f "$spool/dead-letters.ndjson" ]] && dl_before=$(wc -l <"$spool/dead-letters.ndjson")
printf 'bytes,entity_id=nul\x00tag lvl=1 %s000031000\nbytes,entity_id=s txt="a\x00b" %s000032000\nbytes,entity_id=s txt="c\xffd" %s000033000\nbytes,entity_id=ok lvl=4 %s000034000\n' \
	"$now" "$now" "$now" "$now" >"$T/bytes.lp"
code=$(curl -sS -o "$T/bytes.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/bytes.lp")
assert_eq "NUL bytes and invalid UTF-8: 204, as influxd" "$code" 204
check "spool drained" relay_drained
assert_contains "InfluxDB has the NUL byte of the string" "$(ifx_q "SELECT txt FROM bytes")" '"a\u0000b"'
assert_contains "and the string with a byte that is not UTF-8" "$(ifx_q "SELECT txt FROM bytes")" '"c\ufffdd"'
assert_contains "and the point of the tag with a NUL byte" "$(ifx_q "SELECT lvl FROM bytes")" ',1]'
assert_eq "PostgreSQL has the good point only" \
	"$(pg_q "$PGURL" "SELECT string_agg(series || '=' || coalesce(numeric_value::text, text_value), ',') FROM telemetry_data WHERE measurement = 'bytes'")" "ok=4"
assert_eq "one dead letter for the write" "$(( $(wc -l <"$spool/dead-letters.ndjson") - dl_before ))" 1
assert_eq "with the first reason and the three lines' exact bytes" "$(tail -n 1 "$spool/dead-letters.ndjson" | $PY -c '
import base64, json, sys
d = json.loads(sys.stdin.read())
want = b"".join(open(sys.argv[1], "rb").readlines()[:3])
print(d["reason"], base64.b64decode(d["lp_base64"]) == want)' "$T/bytes.lp")" "column 'series': NUL byte in text True"

# ---- by hand to new-primary: PostgreSQL first, InfluxDB through the spool
t_run "$FERRY" cutover set-phase new-primary --db "$PGURL"
assert_eq "set-phase new-primary" "$T_RC" 0
check "the relay follows within seconds" relay_phase_is new-primary
t_run client "$T/acked-b" --batches 6 --size 100 --tag b --start-ns 1700000001000000000
assert_eq "HA client in new-primary" "$T_OUT" "acked=6 failed=0"
check "spool drained" relay_drained
assert_eq "new-primary: InfluxDB has every point" "$(ifx_points)" 1200
assert_eq "new-primary: PostgreSQL has every point" "$(pg_points)" 1200
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL"
assert_eq "new-primary: ferry verify finds the stores equal" "$T_RC" 0

# ---- bad input among good lines: influxd's partial write, the good kept in both
now=$(date +%s)
printf 'W,entity_id=sensor.p_1,domain=sensor value=1 %s\nW,entity_id=sensor.p_2 value= %s\nW,entity_id=sensor.p_3,domain=sensor value=3 %s\n' \
	"${now}000000001" "${now}000000002" "${now}000000003" >"$T/partial.lp"
code=$(curl -sS -o "$T/partial.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary @"$T/partial.lp")
assert_eq "a malformed line among good ones: 400" "$code" 400
assert_contains "partial write, influxd's words" "$(cat "$T/partial.out")" "partial write"
assert_contains "dropped=1" "$(cat "$T/partial.out")" "dropped=1"
check "spool drained" relay_drained
assert_eq "the good lines are in InfluxDB" "$(ifx_points)" 1202
assert_eq "the good lines are in PostgreSQL" "$(pg_points)" 1202

# a batch sent again (a client that did not get its 204 retries): one point
# in PostgreSQL too, as InfluxDB keeps one
for v in 1 2; do
	curl -sS -o /dev/null -XPOST "$RURL/write?db=home_assistant" \
		--data-binary "W,entity_id=sensor.again,domain=sensor value=2 ${now}000000004"
done
check "spool drained" relay_drained
assert_eq "a batch written twice is one row in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) || ':' || max(numeric_value) FROM telemetry_data WHERE series = 'sensor.again'")" "1:2"
assert_eq "and one point in InfluxDB" "$(ifx_points)" 1203

# a raw newline inside a string field value is part of the value (influxd
# keeps it): the relay cut lines at every newline, so the rest of the
# string became a point of its own in PostgreSQL (here one that says
# value=99) and the real point was lost, answered 204
forged="W,entity_id=sensor.forged,domain=sensor value=99 ${now}000000005"
printf 'W,entity_id=sensor.nl_1,domain=sensor state="x\n%s\n" %s000000005\n' "$forged" "$now" >"$T/nl.lp"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/nl.lp")
assert_eq "a newline inside a string: 204" "$code" 204
# and in a partial write (the refused line taken out of the body the
# other store gets, and InfluxDB's writer cutting a batch in halves)
printf 'W,entity_id=sensor.nl_2,domain=sensor state="a\n%s\n" %s000000006\nW,entity_id=sensor.nl_3 value= %s000000007\n' \
	"${forged/sensor.forged/sensor.forged2}" "$now" "$now" >"$T/nl2.lp"
code=$(curl -sS -o "$T/nl2.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/nl2.lp")
assert_eq "a newline inside a string, with a malformed line: 400" "$code" 400
assert_contains "dropped=1" "$(cat "$T/nl2.out")" "dropped=1"
check "spool drained" relay_drained
assert_eq "no point made of a string's lines in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series LIKE 'sensor.forged%'")" 0
assert_eq "nor in InfluxDB" "$(ifx_q "SELECT count(value) FROM W WHERE entity_id =~ /forged/" | { grep -c '"values"' || true; })" 0
assert_eq "the strings with their newlines in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT string_agg((text_value = CASE series WHEN 'sensor.nl_1' THEN 'x' ELSE 'a' END
		|| chr(10) || replace('$forged', 'sensor.forged', CASE series WHEN 'sensor.nl_1' THEN 'sensor.forged'
		ELSE 'sensor.forged2' END) || chr(10))::text, ',' ORDER BY series) FROM telemetry_data
		WHERE series IN ('sensor.nl_1', 'sensor.nl_2') AND field = 'state'")" "true,true"
assert_contains "and in InfluxDB" "$(ifx_q "SELECT state FROM W WHERE entity_id = 'sensor.nl_1'")" \
	"\"x\\n$forged\\n\""
assert_eq "the stores agree" "$(pg_points)" "$(ifx_points)"

# InfluxDB 2.x clients: /api/v2/write with a Token, bucket db[/rp]
code=$(curl -sS -o "$T/v2.out" -w '%{http_code}' -XPOST \
	"$RURL/api/v2/write?org=ha&bucket=home_assistant/autogen&precision=s" \
	-H 'Authorization: Token root:root' --data-binary "W,entity_id=sensor.v2,domain=sensor value=5 ${now}")
assert_eq "/api/v2/write: 204" "$code" 204
check "spool drained" relay_drained
assert_eq "the v2 point is in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT numeric_value FROM telemetry_data WHERE series = 'sensor.v2'")" 5
assert_contains "and in InfluxDB" "$(ifx_q "SELECT value FROM W WHERE entity_id = 'sensor.v2'")" ',5]'

# precision: 1.x knows u (microseconds), not us: influxd 1.8 answers 400,
# 1.6 took us for nanoseconds; the relay took it for microseconds, 1000x
# apart from the store it dual-writes
code=$(curl -sS -o "$T/us.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant&precision=us" \
	--data-binary "W,entity_id=sensor.us level=1 ${now}000000")
assert_eq "precision=us on /write: 400" "$code" 400
assert_contains "influxd 1.8's words" "$(cat "$T/us.out")" 'invalid precision \"us\" (use n, u, ms, s, m or h)'
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant&precision=u" \
	--data-binary "W,entity_id=sensor.u level=1 ${now}000000")
assert_eq "precision=u: 204" "$code" 204
check "spool drained" relay_drained
assert_eq "precision=u is microseconds in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT extract(epoch FROM time)::bigint FROM telemetry_data WHERE series = 'sensor.u'")" "$now"
assert_contains "and in InfluxDB" "$(curl -sS -XPOST "$IURL/query?db=home_assistant&epoch=s" \
	--data-urlencode "q=SELECT level FROM W WHERE entity_id = 'sensor.u'")" "[$now,1]"

code=$(curl -sS -o "$T/nodb.out" -w '%{http_code}' -XPOST "$RURL/write" --data-binary 'W value=1')
assert_eq "no db: 400" "$code" 400
assert_contains "no db: influxd's message" "$(cat "$T/nodb.out")" "database is required"
code=$(curl -sS -o "$T/unk.out" -w '%{http_code}' -XPOST "$RURL/write?db=nope" --data-binary 'W value=1')
assert_eq "unknown db: 404" "$code" 404
assert_contains "unknown db: influxd's message" "$(cat "$T/unk.out")" 'database not found: \"nope\"'
printf 'W,entity_id=sensor.gz value=7 %s000000009\n' "$now" | gzip >"$T/body.gz"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	-H 'Content-Encoding: gzip' --data-binary @"$T/body.gz")
assert_eq "gzip body: 204" "$code" 204
head -c 20 "$T/body.gz" >"$T/broken.gz"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	-H 'Content-Encoding: gzip' --data-binary @"$T/broken.gz")
assert_eq "broken gzip: 400" "$code" 400
code=$(curl -sS -o "$T/nan.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.nan value=NaN ${now}000000010")
assert_eq "NaN: 400" "$code" 400
printf 'W,entity_id=sensor.\xff value=1 %s000000011\n' "$now" >"$T/utf8.lp"
code=$(curl -sS -o "$T/utf8.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary @"$T/utf8.lp")
assert_eq "new-primary: invalid UTF-8 is PostgreSQL's partial write: 400" "$code" 400
assert_contains "invalid UTF-8 named" "$(cat "$T/utf8.out")" "partial write: column 'series': invalid UTF-8 dropped=1"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant&precision=s" \
	--data-binary 'W,entity_id=sensor.far value=1 99999999999999')
assert_eq "timestamp out of range: 400" "$code" 400
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	-H 'X-Request-Id: abc-123' -D "$T/rid.h" --data-binary '')
assert_eq "empty body: 204" "$code" 204
assert_contains "X-Request-Id echoed" "$(cat "$T/rid.h")" "abc-123"
out=$(curl -sS "$RURL/query" --data-urlencode 'q=SHOW DATABASES')
assert_contains "/query passes through to InfluxDB" "$out" "home_assistant"
out=$(curl -sS -D "$T/csv.h" -H 'Accept: application/csv' "$RURL/query" --data-urlencode 'q=SHOW DATABASES')
assert_contains "/query with Accept: application/csv: influxd's CSV" "$out" "name,tags,name"
assert_contains "as text/csv" "$(cat "$T/csv.h")" "Content-Type: text/csv"
out=$(curl -sS "$RURL/metrics")
assert_contains "/metrics: ferry_relay_ counters" "$out" "ferry_relay_points_written_total"
assert_contains "/metrics: a bucket at 0.05 s" "$out" 'le="0.05"'

# ---- the device API: X-API-Key resolved by a table of the new database
pg_q "$PGURL" "CREATE TABLE devices (api_key text PRIMARY KEY, device_id text NOT NULL);
INSERT INTO devices VALUES ('k-123', 'boiler-7')" >/dev/null
code=$(curl -sS -o "$T/tel.out" -w '%{http_code}' -XPOST "$RURL/api/v1/telemetry" \
	-H 'X-API-Key: k-123' -H 'Content-Type: application/json' \
	--data-binary '{"data":{"temperature":61.5,"pump":{"on":true}},"metadata":{"site":"cellar"},"timestamp":1700000005}')
assert_eq "device API with a known key: 204" "$code" 204
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/api/v1/telemetry" \
	-H 'X-API-Key: nope' --data-binary '{"data":{"temperature":1}}')
assert_eq "device API with an unknown key: 401" "$code" 401
code=$(curl -sS -o "$T/telbad.out" -w '%{http_code}' -XPOST "$RURL/api/v1/telemetry" \
	-H 'X-API-Key: k-123' --data-binary '{"data":{"temperature":')
assert_eq "device API with malformed JSON: 400" "$code" 400
check "spool drained" relay_drained
assert_eq "the device's point is in PostgreSQL, under its device id" \
	"$(pg_q "$PGURL" "SELECT numeric_value FROM telemetry_data WHERE measurement = 'telemetry' AND field = 'temperature' AND tags->>'device_id' = 'boiler-7' AND tags->>'site' = 'cellar'")" 61.5
assert_contains "and in InfluxDB" "$(ifx_q "SELECT temperature FROM telemetry WHERE device_id = 'boiler-7'")" "61.5"

# ---- new-only: InfluxDB no longer written; and back (reversible)
check "spool drained" relay_drained
t_run "$FERRY" cutover set-phase new-only --db "$PGURL"
check "the relay follows to new-only" relay_phase_is new-only
before_i=$(ifx_points)
t_run client "$T/acked-c" --batches 2 --size 50 --tag c --start-ns 1700000002000000000
assert_eq "HA client in new-only" "$T_OUT" "acked=2 failed=0"
assert_eq "new-only: PostgreSQL has the new points" "$(pg_points)" $((1205 + 100))
assert_eq "new-only: InfluxDB does not" "$(ifx_points)" "$before_i"
t_run "$FERRY" cutover set-phase old-only --db "$PGURL"
check "back to old-only" relay_phase_is old-only
t_run client "$T/acked-d" --batches 2 --size 50 --tag d --start-ns 1700000003000000000
assert_eq "HA client in old-only" "$T_OUT" "acked=2 failed=0"
assert_eq "old-only: InfluxDB has them" "$(ifx_points)" $((before_i + 100))
assert_eq "old-only: PostgreSQL does not" "$(pg_points)" $((1205 + 100))
assert_eq "no row doubled in PostgreSQL" "$(pg_doubled)" 0
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_contains "status after the round trip" "$T_OUT" '"old-only"'

# ---- credentials: with --auth, HA's default root:root is refused as influxd does
relay_stop
relay_start --auth root:secret
code=$(curl -sS -o /dev/null -D "$T/auth.h" -w '%{http_code}' -XPOST -u root:root \
	"$RURL/write?db=home_assistant" --data-binary "W,entity_id=sensor.a value=1 ${now}000000012")
assert_eq "wrong credentials: 401" "$code" 401
assert_contains "WWW-Authenticate" "$(cat "$T/auth.h")" 'Basic realm="InfluxDB"'
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST -u root:secret \
	"$RURL/write?db=home_assistant" --data-binary "W,entity_id=sensor.a value=1 ${now}000000012")
assert_eq "right credentials: 204" "$code" 204
relay_stop
t_done
