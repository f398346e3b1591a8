#!/usr/bin/env bash
# cutover_seam_mintime.sh - a point stamped at InfluxDB's earliest time
# (-9223372036854775806 ns, 1677-09-21T00:12:43.145224194Z: influxd
# keeps it, the relay acknowledges it, PostgreSQL holds it) written in
# dual: the relay records its minute (-153722868) in ferry.relay_late,
# and the seam's LATE_RANGES computes min(minute) * 60000000000 in
# bigint, which is below -2^63: "cannot read ferry.relay_late: bigint
# out of range", and the backfill gate fails on every advance until the
# plan is aborted (prepare empties ferry.relay_late).
#
# Expected: the backfill gate passes, the point once in PostgreSQL, the
# verify passes.
#
# The plan's --chunk-time 1m then spans 1677 to T0: 1.8e8 pieces a
# series, and the backfill's series-order plan refused it (more than
# 1,000,000 queries) with "advance again resumes it", which no advance
# did.  Expected: the pieces without points are left out (one count per
# measurement), so it plans; capped below what 1m needs
# (FERRY_INFLUX_MAX_QUERIES), the gate names a --chunk-time that fits and
# the exact command that gives the plan it, which then passes.
#
# Then abort and prepare again on the same new store: the rows the
# aborted plan wrote (its backfill, the relay in dual) stayed in
# telemetry_data, and the new backfill wrote them again (verify failed
# "extra in target", no hint).  Expected: prepare refuses, naming the
# table and --truncate; prepare --truncate empties it, and the new plan
# ends with nothing doubled and the verify equal.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_seam_mintime
t_need pg
t_need influx

cutover_setup 2000
cutover_to_t0 --soak 1s --chunk-time 1m
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.min value=1 -9223372036854775806")
assert_eq "a point at InfluxDB's earliest time through the relay: 204" "$code" 204
check "in PostgreSQL once (the relay)" \
	wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.min'"
FERRY_INFLUX_MAX_QUERIES=100 t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "--chunk-time 1m, capped at 100 queries: the backfill gate refuses (3)" "$T_RC" 3
assert_contains "it says the plan's --chunk-time is the matter" "$T_OUT" \
	"fail   backfill             job cutover-backfill cannot run with this plan's --chunk-time 1m: "
assert_not_contains "not that another advance helps" "$T_OUT" "advance again resumes it"
cmd=$(grep -o "ferry cutover advance --db $PGURL --chunk-time [0-9a-z]*\$" <<<"$T_OUT" || true)
check "it gives the exact command" test -n "$cmd"
t_run "$FERRY" ${cmd#ferry } --progress none
assert_eq "backfill -> validate" "$T_RC" 0
assert_contains "the plan's --chunk-time changed" "$T_OUT" "the plan's --chunk-time ${cmd##* }, was 1m"
assert_eq "logged" "$(pg_q "$PGURL" "SELECT count(*) FROM ferry.cutover_log WHERE action = 'chunk-time'")" 1
assert_not_contains "no bigint overflow in the seam" "$T_OUT" "out of range"
assert_eq "the point once in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.min'")" 1
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_contains "verify equal" "$T_OUT" "pass   verify"

# ---- abort, and a new plan on the same new store
t_run "$FERRY" cutover abort --db "$PGURL"
assert_eq "abort" "$T_RC" 0
assert_contains "it says what a new plan needs" "$T_OUT" "prepare --truncate empties its table"
check "the relay follows to old-only" relay_phase_is old-only
rows=$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data")
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 1s
assert_eq "prepare over the aborted plan's rows: refused (1)" "$T_RC" 1
assert_contains "it names the table and how many rows" "$T_ERR" "table 'telemetry_data' holds $rows rows already"
assert_contains "and what to do" "$T_ERR" "prepare again with --truncate"
assert_eq "the plan stays aborted" "$(pg_q "$PGURL" "SELECT status FROM ferry.cutover_plan")" aborted
assert_eq "nothing emptied" "$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data")" "$rows"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 1s --truncate
assert_eq "prepare --truncate" "$T_RC" 0
assert_contains "it says it emptied the table" "$T_OUT" "table telemetry_data emptied of its $rows rows"
assert_eq "the log says who" "$(pg_q "$PGURL" "SELECT note FROM ferry.cutover_log WHERE action = 'prepare' ORDER BY id DESC LIMIT 1")" \
	"table telemetry_data emptied of its $rows rows (prepare --truncate)"
for step in dual-write backfill validate; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
	assert_eq "the new plan: -> $step" "$T_RC" 0
done
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_contains "the new plan: verify equal" "$T_OUT" "pass   verify"
assert_eq "the new plan: nothing doubled" "$(pg_doubled)" 0
assert_eq "the new plan: the point once" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.min'")" 1
relay_stop
t_done
