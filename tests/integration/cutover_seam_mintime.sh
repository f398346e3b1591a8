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
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_seam_mintime
t_need pg
t_need influx

cutover_setup 2000
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 1s
assert_eq "prepare" "$T_RC" 0
relay_start
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_eq "prepare -> dual-write" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_eq "dual-write -> backfill (T0)" "$T_RC" 0
code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "W,entity_id=sensor.min value=1 -9223372036854775806")
assert_eq "a point at InfluxDB's earliest time through the relay: 204" "$code" 204
check "in PostgreSQL once (the relay)" \
	wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.min'"
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "backfill -> validate" "$T_RC" 0
assert_not_contains "no bigint overflow in the seam" "$T_OUT" "out of range"
assert_eq "the point once in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.min'")" 1
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_contains "verify equal" "$T_OUT" "pass   verify"
relay_stop
t_done
