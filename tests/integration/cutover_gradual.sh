#!/usr/bin/env bash
# cutover_gradual.sh - `ferry cutover --strategy gradual` against a real
# InfluxDB (old), PostgreSQL (new) and `ferry relay`, while the
# python3-influxdb client HA uses writes through the relay the whole time
# (each of its batches has points of two waves).  Three waves: a series
# group (entity_id=sensor.live_[0-4]), a measurement (W: the other live
# series and W's history), the rest.  Up to validate as dual-write; then
# one wave per advance, each with its gates: a switched wave's points go
# to the new store first (acknowledged with the old InfluxDB down) while
# an unswitched wave is still written old first (refused with it down); a
# relay restarted between waves follows each wave's phase; rollback takes
# the last wave back; cleanup only after every wave switched and soaked;
# and back.  Both stores verified equal where both are written, every
# acknowledged point in PostgreSQL, no row doubled.  Then the automatic
# rollback of a gradual cutover: every wave back to dual, the reason logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_gradual
t_need pg
t_need influx

# the waves of the plan, in order
waves() {
	pg_q "$PGURL" "SELECT string_agg(phase, ',' ORDER BY n) FROM ferry.cutover_waves"
}
# the relay that reported last follows the waves $1 (its heartbeat)
relay_waves() {
	wait_sql "SELECT coalesce(waves, '') = '$1' FROM ferry.relays ORDER BY last_seen DESC LIMIT 1"
}
# the relay's answer to a write of line protocol $1
lp_code() {
	curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" --data-binary "$1"
}
ifx_count() {  # points of series $1 at ns $2 in InfluxDB
	ifx_q "SELECT count(\"value\") FROM /.*/ WHERE \"entity_id\" = '$1' AND time = $2" | $PY -c '
import json, sys
print(sum(s["values"][0][1] for r in json.load(sys.stdin)["results"] for s in r.get("series", [])))'
}
pg_count() {   # rows of series $1 at ns $2 in PostgreSQL
	pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = '$1' AND time = timestamptz 'epoch' + ($2 / 1000) * interval '1 microsecond'"
}
# With the old InfluxDB down: a point of each wave in $1 ("1 2 3": the
# switched ones) is acknowledged and in PostgreSQL at once; of the others
# refused (503, the old store is their primary).  Then InfluxDB back, the
# spool drains into it: both stores have the acknowledged points.
routing() {
	local sw=" $1 " ts w code want series line
	writer_stop
	check "spool drained" relay_drained
	"$FERRY_SRC/tests/services" stop-influx "$SVC" >>"$T/svc.log" 2>&1
	ts=$(($(date +%s) * 1000000000 + RANDOM))
	for w in 1 2 3; do
		case $w in
		1) series=sensor.live_2; line="W,domain=sensor,entity_id=$series value=1 $ts" ;;
		2) series=sensor.live_7; line="W,domain=sensor,entity_id=$series value=2 $ts" ;;
		3) series=sensor.probe; line="°C,domain=sensor,entity_id=$series value=3 $ts" ;;
		esac
		code=$(lp_code "$line")
		if [[ $sw == *" $w "* ]]; then
			assert_eq "$2: wave $w switched: acknowledged with the old store down" "$code" 204
			assert_eq "$2: wave $w: in the new store at once" "$(pg_count "$series" "$ts")" 1
			echo "$series $ts" >>"$T/acked"
		else
			assert_eq "$2: wave $w in dual: refused with the old store down" "$code" 503
			assert_eq "$2: wave $w: not in the new store" "$(pg_count "$series" "$ts")" 0
		fi
	done
	check "$2: the old store's copies wait in the spool" test "$(relay_stat spool_records)" -gt 0
	"$FERRY_SRC/tests/services" start-influx "$SVC" >>"$T/svc.log" 2>&1
	check "$2: spool drained into the old store" relay_drained
	for w in 1 2 3; do
		[[ $sw == *" $w "* ]] || continue
		case $w in 1) series=sensor.live_2 ;; 2) series=sensor.live_7 ;; 3) series=sensor.probe ;; esac
		assert_eq "$2: wave $w's point reached the old store from the spool" "$(ifx_count "$series" "$ts")" 1
	done
	writer_start
}
# both stores equal (the writer paused), every acknowledged point there
equal() {
	writer_stop
	check "spool drained" relay_drained
	t_run "$FERRY" verify "$OLD" "$PGURL"
	assert_eq "$1: both stores equal" "$T_RC" 0
	[[ $T_RC == 0 ]] || { tail -5 <<<"$T_OUT"; tail -5 <<<"$T_ERR"; }
	no_loss "$1"
	writer_start
}

cutover_setup 20000

# ---- usage
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual
assert_eq "gradual without waves: 2" "$T_RC" 2
assert_contains "it says how to give them" "$T_ERR" "--wave SELECTORS"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --wave W
assert_eq "--wave without gradual: 2" "$T_RC" 2
assert_contains "it says so" "$T_ERR" "--wave and --waves are for --strategy gradual"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual --wave '=x'
assert_eq "a selector without a tag: 2" "$T_RC" 2
assert_contains "it names the selector" "$T_ERR" "--wave '=x': selector '=x' names no tag"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual --wave 'a: W' --wave 'a: %'
assert_eq "a wave name twice: 2" "$T_RC" 2
assert_contains "it names the name" "$T_ERR" "wave name 'a' is given twice"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual --wave '*'
assert_eq "one wave of everything: 2" "$T_RC" 2
t_run "$FERRY" cutover --help
assert_contains "--help names --wave" "$T_OUT" "--wave [NAME:]SEL[,SEL...]"

# ---- prepare: three waves, all dual
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual --soak 2s \
	--chunk-time 1h --switch-cmd "touch $T/switched" \
	--waves 'live-a: entity_id=sensor.live_[0-4]; power: W'
assert_eq "gradual: prepare" "$T_RC" 0
assert_eq "the waves are recorded, the rest last" \
	"$(pg_q "$PGURL" "SELECT string_agg(n || ':' || name || ':' || match::text || ':' || phase, ' ' ORDER BY n) FROM ferry.cutover_waves")" \
	'1:live-a:["entity_id=sensor.live_[0-4]"]:dual 2:power:["W"]:dual 3:rest:[]:dual'
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status shows the waves" "$T_OUT" "2 power        dual"
relay_start
check "the relay is in old-only" relay_phase_is old-only
writer_start
check "the writer is acknowledged" acked_grows 0

t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "gradual: prepare -> dual-write" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "gradual: dual-write -> backfill" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "gradual: backfill -> validate" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "gradual: validate -> switchover" "$T_RC" 0
assert_contains "validate's verify for every point" "$T_OUT" "pass   verify"
assert_contains "the first wave switches with the step" "$T_OUT" \
	"moved to switchover: the relays are in dual; wave 1 (live-a) to new-primary: 1 of 3 waves in new-primary"
assert_eq "wave 1 in new-primary, the others dual" "$(waves)" "new-primary,dual,dual"
check "the relay follows the waves" relay_waves "new-primary,dual,dual"
assert_eq "the relay's phase stays dual" "$(relay_stat phase)" dual
check "the switch command waits for the last wave" test ! -e "$T/switched"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_eq "status --json: wave 1's phase" "$(jget cutover.waves.0.phase)" new-primary
assert_eq "status --json: wave 2's name" "$(jget cutover.waves.1.name)" power
assert_eq "status --json: the relay's waves" "$(jget cutover.relays.0.waves)" "new-primary,dual,dual"
assert_eq "the relay's /api/status has the waves" \
	"$(curl -sS "$RURL/api/status" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(",".join(w["phase"] for w in d["cutover"]["waves"]))')" \
	"new-primary,dual,dual"
assert_contains "the status page has a table of the waves" "$(curl -sS "$RURL/")" 'id="waves"'
if command -v chromium >/dev/null; then
	page "$RURL/"
	page_ok "the status page"
	assert_contains "the page lists wave 1 in new-primary" "$(dom waves rows)" \
		"1|live-a|entity_id=sensor.live_[0-4]|new-primary:pass|"
	assert_contains "wave 2 in dual" "$(dom waves rows)" "2|power|W|dual|"
	assert_contains "the rest" "$(dom waves rows)" "3|rest|(every point of no other wave)|dual|"
	assert_contains "the relay's waves" "$(dom relays rows)" "dual (waves new-primary,dual,dual)"
fi
n=$(wc -l <"$T/acked")
check "the writer goes on (its batches are of two waves)" acked_grows $((n + 50))
routing "1" "wave 1 switched"

# ---- wave 2: its gates, a rollback of it, again
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "switchover: wave 2" "$T_RC" 0
assert_contains "the gates of the wave" "$T_OUT" "switchover, wave 2 (power) -> new-primary: gates"
assert_contains "the relays follow the waves" "$T_OUT" "pass   relays-waves"
assert_contains "wave 1's error rate" "$T_OUT" "pass   wave-error-rate      wave 1 (live-a): "
assert_contains "the soak of the last wave" "$T_OUT" "since the last wave switched"
assert_contains "the verify of wave 2 (the narrow table holds every measurement)" "$T_OUT" \
	"pass   wave-verify          wave 2 (power), every measurement (the new store's tables hold them together): equal before T0"
assert_contains "it moved the wave" "$T_OUT" "moved wave 2 (power) to new-primary: 2 of 3 waves in new-primary"
assert_eq "waves 1-2 in new-primary" "$(waves)" "new-primary,new-primary,dual"
check "the relay follows" relay_waves "new-primary,new-primary,dual"
t_run "$FERRY" cutover rollback --db "$PGURL" --by carol
assert_eq "rollback of a wave" "$T_RC" 0
assert_contains "the last wave back" "$T_OUT" "rolled back wave 2 (power) to dual: 1 of 3 waves in new-primary"
assert_eq "wave 2 dual again" "$(waves)" "new-primary,dual,dual"
assert_eq "still switchover" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" switchover
check "the relay follows back" relay_waves "new-primary,dual,dual"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "wave 2 again" "$T_RC" 0
check "the relay follows" relay_waves "new-primary,new-primary,dual"

# ---- a relay restarted between waves keeps each wave's phase
writer_stop
before=$(pg_q "$PGURL" "SELECT count(*) FROM ferry.relays")
relay_stop KILL
relay_start
check "the restarted relay reports" wait_sql "SELECT count(*) > $before FROM ferry.relays"
check "restarted, it follows the waves" relay_waves "new-primary,new-primary,dual"
writer_start
routing "1 2" "waves 1-2 switched, after a restart"
equal "waves 1-2 switched"

# ---- the last wave: every point new-primary, the switch command
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
assert_eq "switchover: wave 3" "$T_RC" 0
assert_contains "every wave" "$T_OUT" "moved wave 3 (rest) to new-primary: 3 of 3 waves in new-primary; the relays are in new-primary"
check "the relay's phase is new-primary" relay_phase_is new-primary
check "the switch command ran" test -e "$T/switched"
equal "every wave switched"

# ---- and back: the last wave, then everything to validate; forward again
# (before the old store goes down once more: validate's error-rate-old
# counts its failed writes of the last 5 min)
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "rollback of wave 3" "$T_RC" 0
check "the relay's phase back to dual" relay_phase_is dual
check "it follows the waves" relay_waves "new-primary,new-primary,dual"
t_run "$FERRY" cutover rollback --db "$PGURL" --to validate
assert_eq "rollback to validate" "$T_RC" 0
assert_eq "every wave dual" "$(waves)" "dual,dual,dual"
check "the relay follows no waves" relay_waves ""
# (the old store's 10 failed writes of routing() are 1% of 1000 writes:
# the writer writes faster until validate's error-rate-old passes)
writer_stop
writer_start 0.01
for w in 1 2 3; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
	assert_eq "forward again: wave $w" "$T_RC" 0
	[[ $T_RC == 0 ]] || cat <<<"$T_OUT"
done
writer_stop
writer_start
assert_eq "every wave new-primary" "$(waves)" "new-primary,new-primary,new-primary"
check "new-primary again" relay_phase_is new-primary
routing "1 2 3" "every wave switched"
equal "every wave switched, again"

# ---- cleanup after the soak
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "switchover -> cleanup" "$T_RC" 0
assert_contains "every relay new-primary" "$T_OUT" "pass   relays-new-primary"
assert_contains "the soak" "$T_OUT" "pass   soak"
check "the relay follows to new-only" relay_phase_is new-only
n=$(wc -l <"$T/acked")
check "writes go on in new-only" acked_grows $((n + 50))
writer_stop
cat "$T/writer.out"
assert_not_contains "the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
check "spool drained" relay_drained
no_loss "gradual"
check "acknowledged points were written" test "$(wc -l <"$T/acked.tsv")" -gt 100
assert_eq "the log, in order" \
	"$(pg_q "$PGURL" "SELECT string_agg(action || ':' || step || ':' || phase, ' ' ORDER BY id) FROM ferry.cutover_log WHERE action IN ('prepare', 'advance', 'rollback', 'advance-wave', 'rollback-wave')")" \
	"prepare:prepare:old-only advance:dual-write:dual advance:backfill:dual advance:validate:dual advance:switchover:dual advance-wave:switchover:dual rollback-wave:switchover:dual advance-wave:switchover:dual advance-wave:switchover:new-primary rollback-wave:switchover:dual rollback:validate:dual advance:switchover:dual advance-wave:switchover:dual advance-wave:switchover:new-primary advance:cleanup:new-only"
assert_eq "each wave's move is noted" \
	"$(pg_q "$PGURL" "SELECT note FROM ferry.cutover_log WHERE action = 'rollback-wave' AND changed_by = 'carol'")" \
	"wave 2 (power) to dual: 1 of 3 waves in new-primary"
relay_stop

# ---- automatic rollback: every wave back to dual, the reason recorded
cutover_setup 2000
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy gradual --soak 1h \
	--wave 'entity_id=sensor.live_[0-4]' --rollback-window 20s --rollback-min-writes 20
assert_eq "gradual: prepare (unnamed waves)" "$T_RC" 0
assert_eq "named by their place" "$(pg_q "$PGURL" "SELECT string_agg(name, ',' ORDER BY n) FROM ferry.cutover_waves")" "wave-1,rest"
relay_start
writer_start
check "the writer is acknowledged" acked_grows 0
for step in dual-write backfill validate switchover; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --progress none
	assert_eq "-> $step" "$T_RC" 0
done
check "the relay follows wave 1" relay_waves "new-primary,dual"
pg_q "$PGURL" "CREATE FUNCTION fail_writes() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'the disk is on fire'; END \$\$;
CREATE TRIGGER fail_writes BEFORE INSERT ON telemetry_data FOR EACH STATEMENT EXECUTE FUNCTION fail_writes()" >/dev/null
check "the plan is back at validate" wait_sql "SELECT step = 'validate' FROM ferry.cutover_plan"
assert_eq "every wave dual" "$(waves)" "dual,dual"
assert_eq "the log says why" \
	"$(pg_q "$PGURL" "SELECT action || ' ' || step || ' ' || phase || ' ' || (note LIKE 'the new store failed % writes %threshold 5%') FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" \
	"auto-rollback validate dual true"
check "the relay follows no waves" relay_waves ""
pg_q "$PGURL" "DROP TRIGGER fail_writes ON telemetry_data" >/dev/null
n=$(wc -l <"$T/acked")
check "writes are acknowledged again (dual)" acked_grows $((n + 50))
writer_stop
check "spool drained" relay_drained
no_loss "after the automatic rollback"
relay_stop
t_done
