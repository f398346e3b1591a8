#!/usr/bin/env bash
# cutover_influx.sh - `ferry cutover` inside InfluxDB: Home Assistant's
# layout (database home_assistant) moved to the per-domain layout (ha_v2,
# examples/maps/ha-per-domain.yaml) with the plan in PostgreSQL (--db, the
# relay's --cutover-db), while Home Assistant's client (python3-influxdb)
# writes through `ferry relay --old .../home_assistant --new .../ha_v2
# --map` the whole time: prepare --new makes ha_v2; dual-write; the
# backfill is the mapped copy of the history before T0, killed (kill -9)
# with a chunk unfinished and resumed by the rerun; validate's verify
# gate compares through the map (a point ha_v2 has and home_assistant
# has not fails it); switchover, rollback and switchover again; at the end
# ferry verify --map finds both databases equal and every acknowledged
# point is in both.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_influx
t_need pg
t_need influx

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
NEW="influx://127.0.0.1:$IPORT/ha_v2"
MAP="$FERRY_SRC/examples/maps/ha-per-domain.yaml"
# keys DB MEASUREMENT: "entity_id time_ns" of the live writer's points
keys() {
	curl -sS -XPOST "$IURL/query?db=$1&epoch=ns" --data-urlencode \
		"q=SELECT value FROM \"$2\" WHERE entity_id =~ /^sensor\\.live_/ GROUP BY entity_id" |
		$PY -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    for s in r.get("series", []) or []:
        for v in s["values"]:
            print(s["tags"]["entity_id"], v[0])' | sort -u
}
# acked_in DB MEASUREMENT: every acknowledged point is in that database
acked_in() {
	sort -u "$T/acked" >"$T/acked.keys"
	keys "$1" "$2" >"$T/$1.keys"
	[[ -s "$T/acked.keys" ]] && ! comm -23 "$T/acked.keys" "$T/$1.keys" | grep . >&2
}
writer_start() {
	rm -f "$T/stop"
	$PY "$FERRY_SRC/tests/integration/cutover_writer.py" "$RPORT" "$T/acked" "$T/stop" \
		>>"$T/writer.out" 2>>"$T/writer.err" &
	writer=$!
}
writer_stop() {
	touch "$T/stop"
	wait "$writer"
}

# ---- history in the old store, Home Assistant's layout, written in by
# ferry copy (its chunks kept in PostgreSQL: the state tables the backfill
# uses too)
# (all of it in the past: a point stamped after T0 is no backfill's)
"$FERRY" generate --format lp --rows 60000 --entities 20 --seed 5 \
	--start $(($(date +%s) - 12 * 3600)) -q -o "$T/history.lp"
assert_eq "the history ends in the past" \
	"$(awk -v now="$(date +%s)" '$NF / 1e9 > now { n++ } END { print n + 0 }' "$T/history.lp")" 0
t_run "$FERRY" copy -q --state "$PGURL" "lp://$T/history.lp" "$OLD"
assert_eq "the history is written into home_assistant" "$T_RC" 0

# ---- bad input
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --new "mqtt://127.0.0.1/x"
assert_eq "--new neither influx:// nor postgres://: 2" "$T_RC" 2
assert_contains "it names it" "$T_ERR" "--new 'mqtt://127.0.0.1/x'"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --new "$NEW" --layout wide
assert_eq "--layout with an InfluxDB new store: 2" "$T_RC" 2
assert_contains "it says why" "$T_ERR" "--layout is for a PostgreSQL new store"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --new "${PGURL}x"
assert_eq "--new another PostgreSQL: 2" "$T_RC" 2
assert_contains "it says to give it as --db" "$T_ERR" "give the new database as --db"

# ---- prepare: the plan in PostgreSQL, ha_v2 made in InfluxDB
t_run "$FERRY" cutover --help
assert_contains "--help names --new" "$T_OUT" "--new URL"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --new "$NEW" --map "$MAP" \
	--soak 2s --chunk-time 20m --by alice
assert_eq "prepare --new influx:// exits 0" "$T_RC" 0
assert_contains "it made the new database" "$T_OUT" "created database 'ha_v2'"
assert_contains "the schema gate checks the database" "$T_OUT" "database 'ha_v2' exists in the new InfluxDB"
assert_contains "it says where it goes" "$T_OUT" "-> $NEW"
assert_eq "the plan records the new store" \
	"$(pg_q "$PGURL" "SELECT new_url FROM ferry.cutover_plan")" "$NEW"
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status shows the new store" "$T_OUT" "new:         $NEW"

# ---- the relay: old and mapped new, the phase in PostgreSQL; the writer
relay_start --new "$NEW" --map "$MAP" --cutover-db "$PGURL"
check "the relay is in old-only" relay_phase_is old-only
writer_start
check "the writer is acknowledged" acked_some

t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "prepare -> dual-write" "$T_RC" 0
check "the relay follows to dual" relay_phase_is dual
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "dual-write -> backfill" "$T_RC" 0
assert_contains "relays-dual passed" "$T_OUT" "pass   relays-dual"

# ---- backfill: the worker marking the last chunk done is held (a trigger
# sleeps), the others finish, kill -9; the rerun resumes
pg_q "$PGURL" "CREATE FUNCTION hold_last() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.job LIKE 'cutover-backfill@%' AND NEW.chunk =
	   (SELECT chunks - 1 FROM ferry.point_jobs WHERE job = NEW.job) THEN
		PERFORM pg_sleep(600);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER hold_last BEFORE INSERT ON ferry.point_chunks FOR EACH ROW EXECUTE FUNCTION hold_last()" >/dev/null
"$FERRY" cutover advance --db "$PGURL" --progress plain >"$T/adv1.out" 2>&1 &
adv=$!
held() {
	pg_wait "$PGURL" "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'INSERT INTO ferry.point_chunks%'" &&
		pg_wait "$PGURL" "SELECT count(*) >= max(j.chunks) - 2 AND max(j.chunks) > 2 FROM ferry.point_jobs j JOIN ferry.point_chunks c USING (job) WHERE job LIKE 'cutover-backfill@%'"
}
# (the workers share the state's connection: one more chunk may wait)
check "the copy wrote every chunk but the held one (or two)" held
kill -9 "$adv"
wait "$adv" 2>/dev/null || true
# the killed command's session sleeps on: ended, then the trigger dropped
pg_q "$PGURL" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'INSERT INTO ferry.point_chunks%'" >/dev/null
pg_q "$PGURL" "DROP TRIGGER hold_last ON ferry.point_chunks" >/dev/null
assert_eq "killed during the backfill: the step stays" \
	"$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" backfill
assert_eq "one or two chunks unfinished" \
	"$(pg_q "$PGURL" "SELECT max(j.chunks) - count(*) BETWEEN 1 AND 2 FROM ferry.point_jobs j JOIN ferry.point_chunks c USING (job) WHERE job LIKE 'cutover-backfill@%'")" t
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "the rerun completes the backfill" "$T_RC" 0
assert_contains "the backfill passed" "$T_OUT" "pass   backfill"
assert_contains "it resumed the job" "$T_OUT" "(resumed)"
assert_contains "it moved to validate" "$T_OUT" "moved to validate"
assert_eq "every chunk done" \
	"$(pg_q "$PGURL" "SELECT max(j.chunks) - count(*) FROM ferry.point_jobs j JOIN ferry.point_chunks c USING (job) WHERE job LIKE 'cutover-backfill@%'")" 0
assert_eq "the history is in ha_v2, a measurement per domain" \
	"$(curl -sS -XPOST "$IURL/query?db=ha_v2" --data-urlencode 'q=SHOW MEASUREMENTS' |
		$PY -c 'import json,sys; d=json.load(sys.stdin)
print(" ".join(v[0] for s in d["results"][0].get("series", []) for v in s["values"]))')" \
	"binary_sensor light sensor switch"

# ---- validate: a point ha_v2 has and home_assistant has not fails the verify
curl -sS -XPOST "$IURL/write?db=ha_v2" --data-binary \
	"sensor,entity_id=intruder,unit=W value=1 $(( ($(date +%s) - 3600) * 1000000000 ))"
advance_refused verify
curl -sS -XPOST "$IURL/query?db=ha_v2" --data-urlencode \
	"q=DROP SERIES FROM sensor WHERE entity_id = 'intruder'" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s
assert_eq "validate -> switchover" "$T_RC" 0
assert_contains "verify equal through the map" "$T_OUT" "pass   verify"
check "the relay follows to new-primary" relay_phase_is new-primary

# ---- and back: rollback to validate (dual), forward again
t_run "$FERRY" cutover rollback --db "$PGURL" --by carol
assert_eq "rollback exits 0" "$T_RC" 0
check "the relay follows back to dual" relay_phase_is dual
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s
assert_eq "validate -> switchover again" "$T_RC" 0
check "new-primary again" relay_phase_is new-primary

# ---- the end: both stores equal through the map, nothing acknowledged lost
writer_stop
cat "$T/writer.out"
assert_not_contains "the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
check "spool drained" relay_drained
t_run "$FERRY" verify --map "$MAP" "$OLD" "$NEW"
assert_eq "ferry verify --map: home_assistant and ha_v2 equal" "$T_RC" 0
[[ "$T_RC" == 0 ]] || printf '%s\n' "$T_OUT" "$T_ERR" >&2
check "every acknowledged point is in home_assistant" acked_in home_assistant W
check "every acknowledged point is in ha_v2" acked_in ha_v2 sensor
check "acknowledged points were written" test "$(sort -u "$T/acked" | wc -l)" -gt 100
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status: the step" "$T_OUT" "step:        switchover"
assert_contains "status: the log has the rollback" "$T_OUT" "rollback"
relay_stop
t_done
