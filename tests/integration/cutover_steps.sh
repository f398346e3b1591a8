#!/usr/bin/env bash
# cutover_steps.sh - `ferry cutover` from prepare to cleanup and back, against
# a real InfluxDB (old), PostgreSQL (new) and `ferry relay`, while a Home
# Assistant-like writer (the python3-influxdb client HA uses) writes through
# the relay the whole time: a gate that fails refuses the advance with its
# reason; kill -9 of `advance` during the backfill, and the rerun resumes
# the copy; two advances at once, one wins; the stores verified equal where
# both are written; no acknowledged point lost, none doubled.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_steps
t_need pg
t_need influx
# gate NAME: "state figure" of a gate in the status document
gate() {
	t_run "$FERRY" cutover status --db "$PGURL" --json
	$PY -c '
import json, sys
d = json.loads(sys.stdin.read())["cutover"]
for g in d["gates"]:
    if g["name"] == sys.argv[1]:
        print(g["state"], g["figure"])' "$1" <<<"$T_OUT"
}
# a session holding a lock until unlock (psql's statement sleeps)
hold() {
	PGAPPNAME=cutover_hold psql -XAtq -d "$PGURL" -c "$1; SELECT pg_sleep(600)" >/dev/null 2>&1 &
	wait_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'cutover_hold' AND wait_event = 'PgSleep'"
}
unhold() {
	pg_q "$PGURL" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cutover_hold'" >/dev/null
}

relay_services
OLD="influx://ha:s3cret@127.0.0.1:$IPORT/home_assistant"

# ---- history in the old store: the last hours of a Home Assistant's sensors
"$FERRY" generate --format lp --rows 40000 --entities 20 --seed 3 \
	--start $(($(date +%s) - 9 * 3600)) -q -o "$T/history.lp"
# and one point PostgreSQL cannot hold (a NUL byte in a string): influxd
# keeps it, the backfill rejects it
printf 'W,entity_id=sensor.nul state="a\x00b" %s000000000\n' $(($(date +%s) - 8 * 3600)) >>"$T/history.lp"
split -l 5000 "$T/history.lp" "$T/hist."
for p in "$T"/hist.*; do
	curl -sS -XPOST "$IURL/write?db=home_assistant" --data-binary @"$p"
done
hist=$(ifx_q 'SELECT count(*) FROM /.*/' | $PY -c '
import json, sys
print(sum(v for r in json.load(sys.stdin)["results"] for s in r.get("series", [])
          for v in s["values"][0][1:] if v))')
echo "# history: $hist field values in InfluxDB"

# ---- usage
t_run "$FERRY" cutover --help
assert_contains "--help names prepare" "$T_OUT" "ferry cutover prepare --db URL --old URL"
assert_contains "--help names the gates" "$T_OUT" "relays-dual"
t_run "$FERRY" cutover prepare --db "$PGURL"
assert_eq "prepare without --old: 2" "$T_RC" 2
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy sideways
assert_eq "an unknown strategy: 2" "$T_RC" 2
assert_contains "it names the strategies" "$T_ERR" "dual-write, immediate, gradual or blue-green"
t_run "$FERRY" cutover advance --db "$PGURL" --to validate
assert_eq "--to is for rollback: 2" "$T_RC" 2
t_run "$FERRY" cutover advance --db "$PGURL"
assert_eq "advance before prepare: 1" "$T_RC" 1
assert_contains "it says what to do" "$T_ERR" "ferry cutover prepare"

# ---- a command that just ended may hold the move lock a moment longer
# (its backend ends after the client): the next one waits for it (a
# prepare right after an advance was refused once under load). Here a
# session holds the lock until prepare has tried for it, then ends.
hold "SELECT pg_advisory_lock(7378707290140276085)"
"$FERRY" cutover advance --db "$PGURL" >"$T/lock.out" 2>&1 &
adv=$!
check "advance tries for the lock held" wait_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock(7378707290140276085)%' AND application_name <> 'cutover_hold'"
unhold
wait "$adv" && rc=0 || rc=$?
assert_eq "once the holder ended, advance got the lock (no plan yet: 1)" "$rc" 1
assert_contains "and said so, not that another command moves the cutover" "$(cat "$T/lock.out")" "no cutover is planned in this database"

# ---- prepare, no relay yet: the relay gates fail, advance is refused
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 2s --chunk-time 30m \
	--switch-cmd "touch $T/switched" --by alice --sample-every 1
assert_eq "prepare exits 0" "$T_RC" 0
assert_contains "prepare shows the schema gate" "$T_OUT" "table telemetry_data exists"
assert_contains "prepare: no relay yet" "$T_OUT" "no relay reported in the last 30 s"
assert_not_contains "the old store's password is not printed" "$T_OUT" "s3cret"
assert_eq "the plan keeps the whole URL for the backfill" \
	"$(pg_q "$PGURL" "SELECT old_url = '$OLD' AND old_shown NOT LIKE '%s3cret%' FROM ferry.cutover_plan")" t
t_run "$FERRY" cutover advance --db "$PGURL" --by bob
assert_eq "advance with a failing gate: 3" "$T_RC" 3
assert_contains "it prints the failing gate with its reason" "$T_OUT" "fail   relays-ready"
assert_contains "it says it stays" "$T_ERR" "stays at prepare"
assert_eq "the refusal is logged with its gates" \
	"$(pg_q "$PGURL" "SELECT action || ' by ' || changed_by || ' ' || (gates @> '[{\"name\":\"relays-ready\",\"state\":\"fail\"}]') FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" \
	"advance-refused by bob true"
t_run "$FERRY" cutover advance --db "$PGURL" --json
assert_eq "--json refusal: 3" "$T_RC" 3
assert_eq "--json refusal: exit_code" "$(jget exit_code)" 3
assert_eq "--json refusal: the step" "$(jget step)" prepare

# ---- the relay comes (it keeps the stored phase, old-only), the writer starts
relay_start
check "the relay is in old-only" relay_phase_is old-only
$PY "$FERRY_SRC/tests/integration/cutover_writer.py" "$RPORT" "$T/acked" "$T/stop" >"$T/writer.out" 2>"$T/writer.err" &
writer=$!
check "the writer is acknowledged" acked_some

t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --by bob
assert_eq "prepare -> dual-write" "$T_RC" 0
assert_contains "the gates passed" "$T_OUT" "pass   relays-ready"
assert_contains "it says where it moved" "$T_OUT" "moved to dual-write: the relays are in dual"
check "the relay follows to dual" relay_phase_is dual

t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "dual-write -> backfill" "$T_RC" 0
assert_contains "relays-dual passed" "$T_OUT" "pass   relays-dual"
t0=$(pg_q "$PGURL" "SELECT t0 IS NOT NULL AND t0 = (SELECT max(phase_since) FROM ferry.relays) FROM ferry.cutover_plan")
assert_eq "T0 is when the relay began dual-writing" "$t0" t
# two points of a series 100 ns apart with the same value, stamped before
# T0 and sent in dual (a late point): equal narrow rows (microseconds),
# both real; the seam repair after the backfill must keep both
late=$(($(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan") - 120))
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.subus value=9 ${late}000000100
W,entity_id=sensor.subus value=9 ${late}000000200")
assert_eq "two points 100 ns apart through the relay: 204" "$code" 204
# and a point 2 h late (a device that was offline): the backfill copies it
# from the old store too, far outside the 10 min before T0
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.late value=5 $((late - 7200))000000000")
assert_eq "a point 2 h late through the relay: 204" "$code" 204
# and two points of a device whose clock is a day behind, 100 ns apart
# with one value (both real): the seam looks at their minute
# (ferry.relay_late) and the 2 h late one's, not at every row since then
# (a clock at 2000 made that the whole table; the backfill's plan would
# refuse this test's --chunk-time 1h for so long a span, and says so)
rtc=$((late - 86400))
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.rtc value=3 ${rtc}000000100
W,entity_id=sensor.rtc value=3 ${rtc}000000200")
assert_eq "two points a day late through the relay: 204" "$code" 204
# a late point of a measurement named q"u{o},x (quoted in the text[] of
# the late minutes)
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'q\"u{o}\,x,entity_id=sensor.odd value=4 '"${rtc}000000000")
assert_eq "a late point of an odd measurement: 204" "$code" 204
check "the relay recorded the late minutes with the rows" \
	wait_sql "SELECT count(*) = 2 FROM ferry.relay_late WHERE measurement = 'W' AND minute IN ($((rtc / 60)), $(((late - 7200) / 60)))"
check "and the odd measurement's" \
	wait_sql "SELECT count(*) = 1 FROM ferry.relay_late WHERE measurement = 'q\"u{o},x' AND minute = $((rtc / 60))"
assert_eq "the seam's lower end stays near T0 (min_on_ns: the points on time only)" \
	"$(pg_q "$PGURL" "SELECT min(min_on_ns) >= (extract(epoch FROM (SELECT t0 FROM ferry.cutover_plan)) - 600) * 1e9 AND bool_and(late_kept) FROM ferry.relay_spool")" t
assert_eq "min_ns still reaches the late points (what an older ferry cutover reads)" \
	"$(pg_q "$PGURL" "SELECT min(min_ns) = ${rtc}000000000 FROM ferry.relay_spool")" t

# ---- backfill: held on a chunk, a second advance is refused, kill -9, rerun resumes
hold "LOCK TABLE telemetry_data IN SHARE MODE"
"$FERRY" cutover advance --db "$PGURL" --progress plain >"$T/adv1.out" 2>&1 &
adv=$!
check "the backfill job exists" wait_sql "SELECT count(*) > 2 FROM ferry.progress WHERE job = 'cutover-backfill'"
t_run "$FERRY" cutover advance --db "$PGURL"
assert_eq "a second advance at the same time: 1" "$T_RC" 1
assert_contains "it is told another one moves the cutover" "$T_ERR" "another ferry cutover command is moving this cutover"
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "a rollback meanwhile is refused too" "$T_RC" 1
# one chunk further on is held; the others are copied, then the copy waits
PGAPPNAME=cutover_hold_row psql -XAtq -d "$PGURL" -c "SELECT 1 FROM ferry.progress WHERE job = 'cutover-backfill' AND state = 'pending' ORDER BY stream_no, range_lo DESC LIMIT 1 FOR UPDATE SKIP LOCKED; SELECT pg_sleep(600)" >/dev/null 2>&1 &
wait_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'cutover_hold_row' AND wait_event = 'PgSleep'"
unhold
check "the copy committed chunks" wait_sql "SELECT count(*) FILTER (WHERE state = 'done') > 0 AND count(*) FILTER (WHERE state = 'pending') = 1 FROM ferry.progress WHERE job = 'cutover-backfill'"
kill -9 "$adv"
wait "$adv" 2>/dev/null || true
pg_q "$PGURL" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cutover_hold_row'" >/dev/null
assert_eq "killed during the backfill: the step stays" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" backfill
assert_eq "the job is unfinished" "$(pg_q "$PGURL" "SELECT state <> 'done' FROM ferry.jobs WHERE job = 'cutover-backfill'")" t
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
# ferry copy resumes the job: the InfluxDB source plans --end T0 by the
# points before T0, which the live writes after T0 do not move
assert_contains "the backfill resumed (not started over)" "$T_OUT" "(resumed)"
# the rerun completes the copy; its one rejected row holds the gate
assert_eq "a rejected row: the backfill gate refuses (3)" "$T_RC" 3
assert_contains "it says how many and where" "$T_OUT" "1 rows rejected (the new store cannot hold them: "
assert_contains "and how to accept them" "$T_OUT" "advance --max-errors N accepts them"
assert_eq "still backfill" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" backfill
t_run "$FERRY" cutover advance --db "$PGURL" --progress none --max-errors 1
assert_eq "--max-errors 1 accepts it" "$T_RC" 0
assert_contains "the backfill passed" "$T_OUT" "pass   backfill"
assert_contains "within the budget" "$T_OUT" "within --max-errors"
assert_contains "it moved to validate" "$T_OUT" "moved to validate"
assert_eq "every chunk copied once" \
	"$(pg_q "$PGURL" "SELECT count(*) FILTER (WHERE state <> 'done') FROM ferry.progress WHERE job = 'cutover-backfill'")" 0

# two more points 100 ns apart, after T0 (a write the relay samples): the
# live-consistency gate reads their microsecond back from the old store
now=$(date +%s)
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.subus value=7 ${now}000000100
W,entity_id=sensor.subus value=7 ${now}000000200")
assert_eq "two points 100 ns apart after T0: 204" "$code" 204

# ---- validate: a row the old store lacks fails the verify gate
pg_q "$PGURL" "INSERT INTO telemetry_data (time, series, measurement, field, numeric_value, tags) VALUES ('2026-10-02', 'sensor.intruder', 'W', 'value', 1, '{}')" >/dev/null
advance_refused verify
assert_contains "with the counts before T0" "$T_OUT" "in the new before T0"
assert_eq "still validate" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" validate
assert_contains "status shows the verify gate's last result" "$(gate verify)" "fail"
pg_q "$PGURL" "DELETE FROM telemetry_data WHERE series = 'sensor.intruder'" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s
assert_eq "validate -> switchover" "$T_RC" 0
assert_contains "verify equal" "$T_OUT" "pass   verify"
assert_contains "live consistency (cutover_faults.sh tests it failing)" "$T_OUT" "pass   live-consistency"
assert_eq "the late point is in PostgreSQL once" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.late'")" 1
assert_eq "the seam kept both points 100 ns apart (one row each)" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.subus' AND numeric_value = 9")" 2
assert_eq "and both points a day late, written by the relay and the backfill" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.rtc' AND numeric_value = 3")" 2
assert_eq "the odd measurement's late point once" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.odd'")" 1
assert_contains "error rates shown" "$T_OUT" "error-rate-new"
check "the relay follows to new-primary" relay_phase_is new-primary
check "the switch command ran" test -e "$T/switched"

# both stores written: equal (the writer paused for the comparison)
touch "$T/stop"
wait "$writer"
check "spool drained" relay_drained
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL"
assert_eq "switchover: the stores are equal" "$T_RC" 0
rm -f "$T/stop"
$PY "$FERRY_SRC/tests/integration/cutover_writer.py" "$RPORT" "$T/acked" "$T/stop" >>"$T/writer.out" 2>>"$T/writer.err" &
writer=$!

# ---- and back: rollback to validate (dual), forward again
t_run "$FERRY" cutover rollback --db "$PGURL" --by carol
assert_eq "rollback exits 0" "$T_RC" 0
assert_contains "rolled back to validate" "$T_OUT" "rolled back switchover to validate: the relays are in dual"
check "the relay follows back to dual" relay_phase_is dual
t_run "$FERRY" cutover rollback --db "$PGURL" --to cleanup
assert_eq "rollback --to a later step: 2" "$T_RC" 2
t_run "$FERRY" cutover rollback --db "$PGURL" --to dual-write
assert_eq "rollback --to dual-write" "$T_RC" 0
# a point stamped 3 h before T0 that reaches the relay now, after the
# backfill: the old store changed before T0 since the backfill job
# ended, and the relay wrote it to both (until 2026-12 the backfill gate
# then refused to resume the job: "abort and prepare again")
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.back value=6 $((late - 3 * 3600))000000000")
assert_eq "a point 3 h late after the backfill: 204" "$code" 204
check "the relay wrote it to PostgreSQL" wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.back'"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "dual-write -> backfill again (the relays never left dual)" "$T_RC" 0
assert_eq "the same T0" "$(pg_q "$PGURL" "SELECT t0 = backfill_t0 FROM ferry.cutover_plan")" t
rm -f "$T/switched"
# the backfill gate runs again: its rejected row is accepted again
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --max-errors 1
assert_eq "-> validate again" "$T_RC" 0
assert_contains "the backfill job, complete, taken as it is" "$T_OUT" "complete since"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 90s --max-errors 1
assert_eq "-> switchover again" "$T_RC" 0
assert_contains "verify equal again" "$T_OUT" "pass   verify"
check "new-primary again" relay_phase_is new-primary
assert_eq "the point late after the backfill is in PostgreSQL once" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.back'")" 1
check "the switch command ran again" test -e "$T/switched"
assert_eq "its run is logged" "$(pg_q "$PGURL" "SELECT count(*) FROM ferry.cutover_log WHERE action = 'switch-cmd'")" 2
assert_eq "its start is logged in the move" "$(pg_q "$PGURL" "SELECT string_agg(action, ' ' ORDER BY id) FROM ferry.cutover_log WHERE id >= (SELECT max(id) FROM ferry.cutover_log WHERE step = 'switchover' AND action = 'advance')")" \
	"advance switch-cmd-start switch-cmd"
# an advance killed while the switch command ran: the move to switchover
# and the command's start committed, its end not logged; the next advance
# runs it before cleanup (it moved on without it: the readers never
# switched), and the soak starts again
pg_q "$PGURL" "DELETE FROM ferry.cutover_log WHERE action = 'switch-cmd' AND id > (SELECT max(id) FROM ferry.cutover_log WHERE step = 'switchover' AND action = 'advance')" >/dev/null
rm -f "$T/switched"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "the interrupted switch command: run, no move yet (exit 3)" "$T_RC" 3
assert_contains "it says so" "$T_OUT" "running it now"
assert_contains "the soak starts again" "$T_OUT" "the soak starts again"
check "the interrupted switch command ran" test -e "$T/switched"
assert_eq "still switchover" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" switchover

# ---- cleanup after the soak: new-only; not reversible
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s
assert_eq "switchover -> cleanup" "$T_RC" 0
assert_contains "the soak gate" "$T_OUT" "pass   soak"
assert_not_contains "the switch command is not run twice" "$T_OUT" "running it now"
check "the relay follows to new-only" relay_phase_is new-only
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "rollback after cleanup: 1" "$T_RC" 1
assert_contains "it says why" "$T_ERR" "not reversible"
t_run "$FERRY" cutover abort --db "$PGURL"
assert_eq "abort after cleanup: 1" "$T_RC" 1
t_run "$FERRY" cutover advance --db "$PGURL"
assert_eq "advance after cleanup: 0, nothing to do" "$T_RC" 0
assert_contains "it says so" "$T_OUT" "cleanup is the last step"

touch "$T/stop"
wait "$writer"
cat "$T/writer.out"
assert_not_contains "the writer had no failed batch" "$(cat "$T/writer.out")" "failed=[1-9]"
check "spool drained" relay_drained
# every acknowledged point is in the new store, once; none of the history is doubled
assert_eq "every acknowledged point is in PostgreSQL" "$(acked_missing_pg "$T/acked")" 0
check "acknowledged points were written" test "$(wc -l <"$T/acked.tsv")" -gt 100
assert_eq "no row doubled in PostgreSQL" "$(pg_doubled)" 0
assert_eq "the history is in PostgreSQL (but the rejected point)" \
	"$(pg_q "$PGURL" "SELECT count(*) >= $hist - 1 FROM telemetry_data WHERE series NOT LIKE 'sensor.live_%'")" t

# ---- status: the whole story
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status: the step" "$T_OUT" "step:        cleanup"
assert_contains "status: the log has the rollback" "$T_OUT" "rollback"
assert_not_contains "status: no password" "$T_OUT" "s3cret"
# how long ago each relay reported, in seconds (it printed "? s ago")
assert_contains "status: the relay's last report" "$(grep -E '^  .*new-only' <<<"$T_OUT" | grep -E ', [0-9]+ s ago,')" "s ago"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_eq "status --json: step" "$(jget cutover.step)" cleanup
assert_eq "status --json: the relay" "$(jget cutover.relays.0.phase)" new-only
assert_eq "the log, in order" \
	"$(pg_q "$PGURL" "SELECT string_agg(action || ':' || step, ' ' ORDER BY id) FROM ferry.cutover_log WHERE action IN ('prepare', 'advance', 'rollback')")" \
	"prepare:prepare advance:dual-write advance:backfill advance:validate advance:switchover rollback:validate rollback:dual-write advance:backfill advance:validate advance:switchover advance:cleanup"
relay_stop
t_done
