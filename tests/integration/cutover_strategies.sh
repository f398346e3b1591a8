#!/usr/bin/env bash
# cutover_strategies.sh - `ferry cutover` with --strategy blue-green and
# immediate, against a real InfluxDB (old), PostgreSQL (new) and `ferry
# relay`, while the python3-influxdb client HA uses writes through the relay
# the whole time: neither writes both stores before the switch (the relays
# stay in old-only through backfill and validate), the points of T0 to the
# switch reach the new store by the catch-up copy, blue-green keeps the old
# store warm (new-primary) and rolls back to it, immediate switches to
# new-only and refuses to go back (gradual: cutover_gradual.sh).
# The query-latency gate of validate: the narrow layout's defaults timed
# on both stores, the user's queries (--query, --queries FILE), a slow
# one refuses the advance.  No acknowledged point lost, none doubled.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_strategies
t_need pg
t_need influx


# ---- usage: gradual without waves, bad queries named
cutover_setup 20000
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual
assert_eq "gradual without waves: 2" "$T_RC" 2
assert_contains "gradual: it asks for the waves" "$T_ERR" "strategy gradual needs its waves"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy immediate --layout wide
assert_eq "immediate with the wide layout: 2" "$T_RC" 2
assert_contains "it says why (its backfill stopped for ever: no table)" "$T_ERR" \
	"--layout wide needs --strategy dual-write or gradual"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --query nosql
assert_eq "--query without =: 2" "$T_RC" 2
assert_contains "it says the form" "$T_ERR" "give NAME=SQL"
printf 'mine:\n  sql: SELECT 1\n  flux: x\n' >"$T/bad.yaml"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --queries "$T/bad.yaml"
assert_eq "--queries with an unknown key: 2" "$T_RC" 2
assert_contains "it names the file, the query and the key" "$T_ERR" "bad.yaml', query 'mine': unknown key 'flux'"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --query a=SELECT\ 1 --query a=SELECT\ 2
assert_eq "a query twice: 2" "$T_RC" 2

# ---- blue-green: old-only until the switch, one step, old warm for rollback
cat >"$T/queries.yaml" <<'EOF2'
live-count:
  sql: SELECT count(*) FROM telemetry_data WHERE series LIKE 'sensor.live_%'
  influxql: SELECT count("value") FROM "W" WHERE "entity_id" =~ /^sensor\.live_/
EOF2
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy blue-green --soak 2s \
	--chunk-time 1h --queries "$T/queries.yaml" --query "rows=SELECT count(*) FROM telemetry_data"
assert_eq "blue-green: prepare" "$T_RC" 0
assert_eq "the queries are recorded" \
	"$(pg_q "$PGURL" "SELECT string_agg(q->>'name', ',' ORDER BY q->>'name') FROM ferry.cutover_plan, jsonb_array_elements(queries) q")" \
	"live-count,rows"
relay_start
check "the relay is in old-only" relay_phase_is old-only
writer_start
check "the writer is acknowledged" acked_grows 0
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "blue-green: prepare -> backfill (no dual-write step)" "$T_RC" 0
assert_contains "it skips dual-write, the relays stay old-only" "$T_OUT" "moved to backfill: the relays are in old-only"
assert_contains "its gates are named for the step it moves to" "$T_OUT" "prepare -> backfill: gates"
assert_eq "T0 is recorded" "$(pg_q "$PGURL" "SELECT t0 IS NOT NULL FROM ferry.cutover_plan")" t
sleep 1
assert_eq "the relay writes only the old store" "$(relay_stat phase)" old-only
# two points 100 ns apart, the same value: equal narrow rows (microseconds);
# the catch-up's removal of rows written twice keeps both (the verify below)
now=$(date +%s)
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.subus value=9 ${now}000000100
W,entity_id=sensor.subus value=9 ${now}000000200")
assert_eq "two points 100 ns apart through the relay: 204" "$code" 204
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "blue-green: backfill -> validate" "$T_RC" 0
assert_contains "the backfill passed" "$T_OUT" "pass   backfill"
assert_eq "nothing from T0 on in the new store yet" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data, ferry.cutover_plan WHERE time >= t0")" 0
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "blue-green: validate -> switchover" "$T_RC" 0
assert_contains "verify passed" "$T_OUT" "pass   verify"
assert_contains "the latency gate passed" "$T_OUT" "pass   query-latency"
assert_contains "the default queries, timed on both stores" "$T_OUT" "latest-per-device p95"
assert_contains "the old store's figure beside it" "$T_OUT" "hourly-avg-week p95"
assert_contains "the user's query from the file, old store too" "$T_OUT" "live-count p95"
assert_contains "the user's --query, no influxql" "$T_OUT" "rows p95"
assert_contains "the old store is timed" "$T_OUT" "(old "
echo "# $(grep query-latency <<<"$T_OUT")"
assert_contains "the switch: new-primary" "$T_OUT" "moved to switchover: the relays are in new-primary"
assert_contains "the catch-up ran at the switch" "$T_OUT" "pass   catchup"
check "the relay follows to new-primary" relay_phase_is new-primary
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status shows the catch-up's result" "$T_OUT" "pass    catchup"
n=$(wc -l <"$T/acked")
check "the writer goes on through the switch" acked_grows "$n"
writer_stop
check "spool drained" relay_drained
t_run "$FERRY" verify "$OLD" "$PGURL"
assert_eq "blue-green after the switch: both stores equal" "$T_RC" 0
[[ $T_RC == 0 ]] || { tail -5 <<<"$T_OUT"; tail -5 <<<"$T_ERR"; }
no_loss "blue-green switched"

# rollback: back to the warm old store (old-only), and forward again
writer_start
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "blue-green: rollback" "$T_RC" 0
assert_contains "back to validate, old-only" "$T_OUT" "rolled back switchover to validate: the relays are in old-only"
check "the relay follows back to old-only" relay_phase_is old-only
n=$(wc -l <"$T/acked")
check "writes go on in old-only" acked_grows $((n + 50))
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "blue-green: forward to switchover again" "$T_RC" 0
assert_contains "a new catch-up" "$T_OUT" "pass   catchup"
check "new-primary again" relay_phase_is new-primary
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "blue-green: switchover -> cleanup" "$T_RC" 0
assert_contains "the soak gate" "$T_OUT" "pass   soak"
check "the relay follows to new-only" relay_phase_is new-only
writer_stop
cat "$T/writer.out"
assert_not_contains "blue-green: the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
check "spool drained" relay_drained
no_loss "blue-green"
assert_eq "the log, in order" \
	"$(pg_q "$PGURL" "SELECT string_agg(action || ':' || step || ':' || phase, ' ' ORDER BY id) FROM ferry.cutover_log WHERE action IN ('prepare', 'advance', 'rollback')")" \
	"prepare:prepare:old-only advance:backfill:old-only advance:validate:old-only advance:switchover:new-primary rollback:validate:old-only advance:switchover:new-primary advance:cleanup:new-only"

# ---- immediate: old-only, then straight to new-only; no way back
cutover_setup 20000
# two points of the history the backfill copies; a late point changes each
# (the same series and time: another value, one field more) below
TC=$(($(date +%s) - 3 * 3600))
curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary "W,entity_id=sensor.changed value=1 ${TC}000000000
W,entity_id=sensor.changed2 value=1 ${TC}000000000
W,entity_id=sensor.dup value=1 ${TC}000000100
W,entity_id=sensor.dup value=2 ${TC}000000200"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy immediate --chunk-time 1h \
	--query "slow=SELECT pg_sleep(0.15)"
assert_eq "immediate: prepare" "$T_RC" 0
# a column of the user's own: the repair below adds rows by the copy's
# columns, the added ones take its default (not every row again)
pg_q "$PGURL" "ALTER TABLE telemetry_data ADD COLUMN note text DEFAULT 'mine'" >/dev/null
relay_start
writer_start
check "the writer is acknowledged" acked_grows 0
for step in backfill validate; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "immediate: -> $step" "$T_RC" 0
	assert_contains "immediate: $step in old-only" "$T_OUT" "moved to $step: the relays are in old-only"
done
# a point stamped an hour before T0 that reaches the relay after the
# backfill read its window (a device's backlog): old-only, so the new
# store misses it; the verify names its window and it is copied again
T0=$(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan")
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.backlog value=7 $((T0 - 3600))000000000")
assert_eq "a late point through the relay after the backfill: 204" "$code" 204
# and one from a device whose clock runs two minutes ahead: stamped after
# the switch, written before it (old-only): past the catch-up's T1
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.ahead value=5 $(($(date +%s) + 120))000000000")
assert_eq "a point stamped two minutes ahead through the relay: 204" "$code" 204
# a late point that changes a value the backfill copied and adds a field:
# before the switch the old store's value replaces the copied one (not a
# second row of the same key beside it, which the verify named for ever)
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.changed value=2,extra=3 ${TC}000000000")
assert_eq "a late point changing a backfilled one through the relay: 204" "$code" 204
# and one of two points 100 ns apart (one narrow key twice without --keep-ns)
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.dup value=3,extra=1 ${TC}000000200")
assert_eq "a late point changing one of two in a microsecond: 204" "$code" 204
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_contains "the verify passes" "$T_OUT" "pass   verify"
assert_contains "after copying the late points' windows again" "$T_OUT" \
	"missing or changed rows of"
assert_contains "five: the backlog's row, two values changed, two fields added" "$T_OUT" \
	"; 5 missing or changed rows of"
assert_eq "the changed point: the old store's value once, its new field" \
	"$(pg_q "$PGURL" "SELECT string_agg(field || '=' || numeric_value || note, ',' ORDER BY field) FROM telemetry_data WHERE series = 'sensor.changed'")" \
	"extra=3mine,value=2mine"
assert_eq "the two points of a microsecond: the one changed, the other kept" \
	"$(pg_q "$PGURL" "SELECT string_agg(field || '=' || numeric_value, ',' ORDER BY field, numeric_value) FROM telemetry_data WHERE series = 'sensor.dup'")" \
	"extra=1,value=1,value=3"
assert_eq "a query over 100 ms: advance refused" "$T_RC" 3
assert_contains "the latency gate fails" "$T_OUT" "fail   query-latency"
assert_contains "with the slow query's figure" "$T_OUT" "slow p95"
# the operator's way is a plan without it; here it is dropped from the plan
pg_q "$PGURL" "UPDATE ferry.cutover_plan SET queries = NULL" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "immediate: validate -> switchover" "$T_RC" 0
assert_contains "the switch: new-only" "$T_OUT" "moved to switchover: the relays are in new-only"
assert_contains "the catch-up ran" "$T_OUT" "pass   catchup"
assert_contains "it added the point of the clock running ahead" "$T_OUT" \
	"1 rows stamped after the switch, written to the old store before it (a clock running ahead), added"
assert_eq "the ahead point is in the new store" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.ahead'")" 1
check "the relay follows to new-only" relay_phase_is new-only
n=$(wc -l <"$T/acked")
check "the writer goes on through the switch" acked_grows $((n + 50))
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "immediate: no rollback after the switch" "$T_RC" 1
assert_contains "it says why" "$T_ERR" "no way back after the switch"
# stamped before T0, in the old store alone after the verify read it (here
# written there directly; through a relay, just before the switch): the
# catch-up's sweep after the switch copies it
curl -sS -f -XPOST "$IURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.backlog value=8 $((T0 - 7200))000000000"
# and beside it, the same measurement and day, one through the relay (new-only
# now: in the new store alone): the day's counts of both stores are equal
# again, but the old store's changed since it was last read
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.backlog2 value=9 $((T0 - 7199))000000000")
assert_eq "a late point through the relay after the switch: 204" "$code" 204
# a late point written to the old store after the switch that changes a
# value: the relays never replace a row (a point written again through
# them is a second row), so a key once in the table is the backfill's
# copy: it takes the old store's value, and the field it adds is added
curl -sS -f -XPOST "$IURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.changed2 value=2,extra=3 ${TC}000000000"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "immediate: switchover -> cleanup (no soak)" "$T_RC" 0
assert_contains "the catch-up copied the late points" "$T_OUT" \
	"3 missing or changed rows of"
assert_eq "both late points in the new store, once" \
	"$(pg_q "$PGURL" "SELECT string_agg(numeric_value::text || note, ',' ORDER BY time) FROM telemetry_data WHERE series LIKE 'sensor.backlog%'")" "8mine,9mine,7mine"
assert_eq "after the switch a changed value takes the old store's, once; the new field added" \
	"$(pg_q "$PGURL" "SELECT string_agg(field || '=' || numeric_value || note, ',' ORDER BY field) FROM telemetry_data WHERE series = 'sensor.changed2'")" \
	"extra=3mine,value=2mine"
assert_not_contains "no soak gate" "$T_OUT" "soak"
assert_contains "relays-new-only gate" "$T_OUT" "pass   relays-new-only"
writer_stop
cat "$T/writer.out"
assert_not_contains "immediate: the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
no_loss "immediate"
t1=$(pg_q "$PGURL" "SELECT (extract(epoch FROM t1) * 1000000000)::bigint FROM ferry.cutover_plan")
# the old store's points before the switch (T1), in the new: the history's
# by count (no relay writes it; but sensor.backlog2, new-only above); the
# live writer's one by one (a batch it
# stamped before T1 that reached the relay after the switch is new-only:
# in PostgreSQL before T1 and rightly not in InfluxDB, so no count of all)
assert_eq "immediate: the old store's history before the switch is in the new" \
	"$(ifx_q "SELECT count(\"value\") FROM /.*/ WHERE time < $t1 AND entity_id !~ /^sensor\.live_/" | $PY -c '
import json, sys
print(sum(s["values"][0][1] for r in json.load(sys.stdin)["results"] for s in r.get("series", [])))')" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data, ferry.cutover_plan WHERE field = 'value' AND time < ferry.cutover_plan.t1 AND series NOT LIKE 'sensor.live\_%' AND series <> 'sensor.backlog2'")"
curl -sS -XPOST "$IURL/query?db=home_assistant&epoch=ns" --data-urlencode \
	"q=SELECT \"value\", \"entity_id\" FROM \"W\" WHERE time < $t1 AND entity_id =~ /^sensor\.live_/" |
	$PY -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    for s in r.get("series", []):
        for t, _, e in s["values"]:
            print(e, t)' >"$T/old-live"
assert_eq "the old store has the live writer's points before the switch" \
	"$([[ $(wc -l <"$T/old-live") -gt 100 ]] && echo yes)" yes
assert_eq "immediate: each of them is in the new" "$(acked_missing_pg "$T/old-live")" 0

# ---- immediate into InfluxDB: a late point after the backfill, its window
# (named by the verify, which compares window by window) written again
cutover_setup 2000
NEW="influx://127.0.0.1:$IPORT/ha_new"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --new "$NEW" --strategy immediate \
	--chunk-time 1h
assert_eq "immediate into InfluxDB: prepare" "$T_RC" 0
relay_start --new "$NEW" --cutover-db "$PGURL"
for step in backfill validate; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "immediate into InfluxDB: -> $step" "$T_RC" 0
done
T0=$(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan")
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.backlog value=7 $((T0 - 3600))000000000")
assert_eq "a late point through the relay after the backfill: 204" "$code" 204
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "immediate into InfluxDB: validate -> switchover" "$T_RC" 0
assert_contains "the verify passes after the late point's window is written again" "$T_OUT" \
	"of 1 window copied again from the old store"
assert_contains "InfluxDB: points written over" "$T_OUT" "points of 1 window"
assert_contains "the new store has the late point" \
	"$(curl -sS -XPOST "$IURL/query?db=ha_new" --data-urlencode \
	'q=SELECT "value" FROM "W" WHERE "entity_id" = '"'sensor.backlog'")" '"values"'
relay_stop

# ---- dual-write into the wide layout: the relays make a measurement's table
# (and its columns) as they write its first point; the backfill makes the
# history's others the same way (keys first, a tag NOT NULL DEFAULT ''), so
# the relays write beside it: here W's table is the relay's (tags domain and
# entity_id) and the history adds friendly_name to it and to its key, which
# the live points go on without
cutover_setup 2000
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --layout wide --chunk-time 1h
assert_eq "wide: prepare" "$T_RC" 0
relay_start --layout wide
writer_start
check "the writer is acknowledged" acked_grows 0
for step in dual-write backfill; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "wide: -> $step" "$T_RC" 0
done
# a point stamped just before T0 that reaches the relay after it (Home
# Assistant's batch): dual, so in both stores, and the backfill reads it
# from the old one too: its key is in the table already (the COPY failed
# on the primary key for ever), and the two merge
T0=$(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan")
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,domain=sensor,entity_id=sensor.late value=4 $((T0 - 2))000000000")
assert_eq "wide: a point stamped before T0 through the relay in dual: 204" "$code" 204
late_in_new() { test "$(pg_q "$PGURL" "SELECT count(*) FROM \"W\" WHERE entity_id = 'sensor.late'")" = 1; }
check "wide: it reached the new store" wait_for "the late point in PostgreSQL" late_in_new
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_eq "wide: -> validate" "$T_RC" 0
[[ $T_RC == 0 ]] || { tail -5 <<<"$T_OUT"; tail -5 <<<"$T_ERR"; }
assert_eq "wide: the late point once" \
	"$(pg_q "$PGURL" "SELECT count(*) || ':' || min(value) FROM \"W\" WHERE entity_id = 'sensor.late'")" "1:4"
assert_contains "the backfill passed" "$T_OUT" "pass   backfill"
measurements=$(ifx_q 'SHOW MEASUREMENTS' | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["results"][0]["series"][0]["values"]))')
assert_eq "wide: a table for every measurement of the history" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")" \
	"$measurements"
assert_eq "W's key has the history's tag too" \
	"$(pg_q "$PGURL" "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.conrelid = 'public.\"W\"'::regclass AND c.contype = 'p'")" \
	"domain,entity_id,friendly_name,time"
n=$(wc -l <"$T/acked")
check "the relay's points without that tag are taken after the backfill" acked_grows $((n + 50))
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "wide: validate -> switchover" "$T_RC" 0
assert_contains "wide: the verify passes" "$T_OUT" "pass   verify"
writer_stop
assert_not_contains "wide: the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
check "spool drained" relay_drained
sort -u "$T/acked" | awk '{ printf "%s\t%s\n", $1, $2 }' >"$T/acked.tsv"
psql -XAtq -d "$PGURL" -c "DROP TABLE IF EXISTS acked" -c "CREATE TABLE acked (series text, ns bigint)" \
	-c "\\copy acked FROM '$T/acked.tsv'" >/dev/null
assert_eq "wide: every acknowledged point is in its table, without friendly_name ('')" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM \"W\" t WHERE t.entity_id = a.series AND t.friendly_name = '' AND t.time = timestamptz 'epoch' + (a.ns / 1000) * interval '1 microsecond')")" 0
t_run "$FERRY" verify "$OLD" "$PGURL" --layout wide
assert_eq "wide after the switch: both stores equal" "$T_RC" 0
[[ $T_RC == 0 ]] || { tail -5 <<<"$T_OUT"; tail -5 <<<"$T_ERR"; }
relay_stop
t_done
