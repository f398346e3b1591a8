#!/usr/bin/env bash
# cutover_faults.sh - the faults of a cutover in switchover (new-primary),
# against a real InfluxDB (old), PostgreSQL (new) and `ferry relay`, while
# the python3-influxdb client HA uses writes through the relay throughout:
#   - the relay killed (kill -9) in switchover: restarted, it follows the
#     stored phase, and nothing it acknowledged is lost;
#   - the new store failing its writes (a trigger raising an error: the
#     cutover database stays reachable): the relay rolls the cutover back
#     to validate (dual) by itself, logged with its figures, shown by status;
#   - the new PostgreSQL stopped (the cutover database with it): the relay
#     goes to dual on its own, acknowledges writes again from the old store
#     and its spool, and records the rollback when the database is back;
#   - through all of it every acknowledged point ends in both stores.
# (A gate that fails and two advances at once: cutover_steps.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_faults
t_need pg
t_need influx
acked_n() { sort -u "$T/acked" 2>/dev/null | wc -l; }
acked_grows() {  # acked_grows: at least 50 more acknowledged points (max 60 s)
	local i from
	from=$(acked_n)
	for ((i = 0; i < 600; i++)); do
		(($(acked_n) >= from + 50)) && return 0
		sleep 0.1
	done
	return 1
}
phase_is() {  # phase_is PHASE [SECONDS]: the relay's /stats says PHASE
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		[[ "$(relay_stat phase 2>/dev/null)" == "$1" ]] && return 0
		sleep 0.1
	done
	_t_say "the relay is not in $1: $(curl -sS "$RURL/stats")" >&2
	return 1
}

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
"$FERRY" generate --format lp --rows 3000 --entities 5 --seed 5 \
	--start $(($(date +%s) - 3 * 3600)) -q -o "$T/history.lp"
curl -sS -XPOST "$IURL/write?db=home_assistant" --data-binary @"$T/history.lp"

# ---- the rollback options
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --rollback-threshold 0
assert_eq "--rollback-threshold 0: 2" "$T_RC" 2
assert_contains "it says what a share is" "$T_ERR" "percentage above 0 and up to 100"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --rollback-window 2h
assert_eq "--rollback-window 2h: 2" "$T_RC" 2
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --rollback-min-writes x
assert_eq "--rollback-min-writes x: 2" "$T_RC" 2
# a table name PostgreSQL would cut: the copy makes it shortened (name_hash),
# the gates looked for the cut name and the plan never left prepare
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --table "$(printf 'T%.0s' $(seq 1 64))"
assert_eq "a --table of 64 bytes: 2" "$T_RC" 2
assert_contains "it says PostgreSQL keeps 63 bytes" "$T_ERR" "keeps 63 bytes of a table name"
t_run "$FERRY" cutover advance --db "$PGURL" --rollback-window 10s
assert_eq "--rollback-window is for prepare: 2" "$T_RC" 2
t_run "$FERRY" cutover --help
assert_contains "--help names --rollback-threshold" "$T_OUT" "--rollback-threshold PCT"

t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 1h --chunk-time 1h \
	--rollback-threshold 5% --rollback-window 20s --rollback-min-writes 20 --sample-every 3
assert_eq "prepare exits 0" "$T_RC" 0
assert_eq "the limits are in the plan" \
	"$(pg_q "$PGURL" "SELECT rollback_threshold || ' ' || rollback_window_s || ' ' || rollback_min_writes FROM ferry.cutover_plan")" \
	"0.05 20 20"
relay_start
check "the relay is in old-only" phase_is old-only
cp "$FERRY_SRC/tests/integration/cutover_writer.py" "$T/writer.py"
$PY "$T/writer.py" "$RPORT" "$T/acked" "$T/stop" >"$T/writer.out" 2>"$T/writer.err" &
writer=$!
check "the writer is acknowledged" acked_grows
for step in dual-write backfill validate; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
	assert_eq "-> $step" "$T_RC" 0
done

# ---- live consistency: the relay samples its writes in dual; a sampled
# point that differs in the new store refuses the advance
check "the relay sampled points in dual" \
	wait_sql "SELECT count(*) >= 5 FROM ferry.cutover_samples s JOIN ferry.relay_spool p USING (spool_id) WHERE s.seq <= p.seq"
assert_eq "a sample is a point the relay wrote" \
	"$(pg_q "$PGURL" "SELECT bool_and(line LIKE 'W,%' AND measurement = 'W' AND line LIKE '% ' || time_ns) FROM ferry.cutover_samples")" t
spoil="UPDATE telemetry_data t SET numeric_value = numeric_value + 1000 FROM (SELECT measurement, time_ns FROM ferry.cutover_samples ORDER BY id LIMIT 1) s WHERE t.measurement = s.measurement AND t.time = timestamptz 'epoch' + s.time_ns / 1000 * interval '1 microsecond' AND t.series = 'sensor.live_0'"
pg_q "$PGURL" "$spoil" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "a sampled point differs: advance refused" "$T_RC" 3
assert_contains "the live-consistency gate fails" "$T_OUT" "fail   live-consistency"
assert_contains "with its figure and the differing row" "$T_OUT" "sampled points differ between the stores (1), threshold 0.1%; "
assert_contains "naming the value the new store holds" "$T_OUT" "new store only: "
pg_q "$PGURL" "${spoil/+ 1000/- 1000}" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
assert_eq "-> switchover" "$T_RC" 0
assert_contains "the live-consistency gate passes" "$T_OUT" "pass   live-consistency"
assert_contains "with 0 differing" "$T_OUT" "0.00% of "
assert_eq "the scratch table is gone" "$(pg_q "$PGURL" "SELECT to_regclass('ferry_cutover_check') IS NULL")" t
check "the relay is in new-primary" phase_is new-primary
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status shows the rollback limits" "$T_OUT" \
	"automatic at 5% failed writes to the new store over 20 s (at least 20 writes)"

# ---- a relay killed in switchover: restarted, it follows the stored phase
check "written in new-primary" acked_grows
relay_stop KILL
relay_start
check "restarted, it follows new-primary" phase_is new-primary
check "it acknowledges writes again" acked_grows
assert_eq "the cutover stays in switchover" "$(pg_q "$PGURL" "SELECT step FROM ferry.cutover_plan")" switchover

# ---- the new store fails its writes, its database answers: automatic rollback
pg_q "$PGURL" "CREATE FUNCTION fail_writes() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'the disk is on fire'; END \$\$;
CREATE TRIGGER fail_writes BEFORE INSERT ON telemetry_data FOR EACH STATEMENT EXECUTE FUNCTION fail_writes()" >/dev/null
check "the relay rolls back to dual by itself" phase_is dual 60
check "the plan is back at validate" wait_sql "SELECT step = 'validate' FROM ferry.cutover_plan"
assert_eq "the phase is dual for every relay" "$(pg_q "$PGURL" "SELECT phase FROM ferry.cutover")" dual
relay=$(pg_q "$PGURL" "SELECT relay_id FROM ferry.relays ORDER BY last_seen DESC LIMIT 1")
assert_eq "the log names the relay" \
	"$(pg_q "$PGURL" "SELECT action || ' ' || step || ' ' || phase || ' by ' || changed_by FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" \
	"auto-rollback validate dual by $relay"
assert_eq "with the figures" \
	"$(pg_q "$PGURL" "SELECT (gates->>'errors')::int >= 1 AND (gates->>'writes')::int >= 20 AND (gates->>'rate')::float >= 0.05 AND gates->>'relay' = '$relay' FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" t
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status says the cutover was rolled back, by whom" "$T_OUT" "rolled back: automatically at "
assert_contains "and why" "$T_OUT" "writes (" 
assert_contains "the log line" "$T_OUT" "auto-rollback"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_eq "status --json: step" "$(jget cutover.step)" validate
assert_eq "status --json: by" "$(jget cutover.auto_rollback.by)" "$relay"
assert_contains "status --json: why" "$(jget cutover.auto_rollback.why)" "threshold 5%"
check "written in dual although the new store fails" acked_grows
# a second relay deciding later finds the cutover elsewhere: one rollback logged
assert_eq "one automatic rollback logged" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM ferry.cutover_log WHERE action = 'auto-rollback'")" 1
pg_q "$PGURL" "DROP TRIGGER fail_writes ON telemetry_data" >/dev/null
check "the spool drains into the new store" relay_drained

# ---- the new PostgreSQL stopped in new-primary (the cutover database too).
# Back to switchover by hand: the validate gate error-rate-new holds the
# failures above for 5 minutes (the gates are cutover_steps.sh's matter).
pg_q "$PGURL" "UPDATE ferry.cutover_plan SET step = 'switchover', step_since = now()" >/dev/null
relay_set_phase new-primary
check "written in new-primary" acked_grows
"$FERRY_SRC/tests/services" stop-pg "$SVC" >>"$T/svc.log" 2>&1
check "the relay goes to dual on its own" phase_is dual 60
check "written while the new PostgreSQL is down" acked_grows
sleep 6   # the record comes later than the decision: the log says so
"$FERRY_SRC/tests/services" start-pg "$SVC" >>"$T/svc.log" 2>&1
check "the rollback is recorded once the database is back" \
	wait_sql "SELECT count(*) = 2 FROM ferry.cutover_log WHERE action = 'auto-rollback'"
assert_eq "back at validate, dual" "$(pg_q "$PGURL" "SELECT step || ' ' || (SELECT phase FROM ferry.cutover) FROM ferry.cutover_plan")" "validate dual"
assert_contains "the log says it was recorded late" \
	"$(pg_q "$PGURL" "SELECT note FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" "recorded when the cutover database answered again"
check "the relay stays in dual" phase_is dual
check "written after the database came back" acked_grows

# ---- nothing acknowledged lost: every acknowledged point in both stores
touch "$T/stop"
wait "$writer"
cat "$T/writer.out"
check "spool drained" relay_drained
assert_eq "every acknowledged point is in PostgreSQL" "$(acked_missing_pg "$T/acked")" 0
echo "# $(wc -l <"$T/acked.tsv") acknowledged points, $(grep -c 'write failed' "$T/writer.err") failed batches"
curl -sS -XPOST "$IURL/query?db=home_assistant&epoch=ns" --data-urlencode 'q=SELECT "value", entity_id FROM W' >"$T/w.json"
assert_eq "every acknowledged point is in InfluxDB" "$($PY -c '
import json, sys
have = set()
for r in json.load(open(sys.argv[1]))["results"]:
    for s in r.get("series", []) or []:
        for t, v, e in s["values"]:
            have.add((e, t))
missing = 0
for line in open(sys.argv[2]):
    e, t = line.split()
    missing += (e, int(t)) not in have
print(missing)' "$T/w.json" "$T/acked.tsv")" 0
check "acknowledged points were written" test "$(wc -l <"$T/acked.tsv")" -gt 500
assert_eq "no row doubled in PostgreSQL" "$(pg_doubled)" 0
relay_stop
t_done
