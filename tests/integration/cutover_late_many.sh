#!/usr/bin/env bash
# cutover_late_many.sh - blue-green and immediate into PostgreSQL's narrow
# table find late points (stamped before T0, written to the old store alone
# after the backfill read them) by the old store's counts per measurement
# and day against a snapshot taken as the backfill began
# (cutover_repair.c).  Here the counts' own limits (adversarial finds):
#   - influxd with a max-row-limit (here 100) under the measurements (130):
#     SHOW MEASUREMENTS was cut at it and the rest never counted (a late
#     point of one made the verify fail for ever; one after an immediate
#     switch was lost); the counts' answers of 1000 days are cut too
#     (asked again in halves);
#   - a backlog of 1001 days: more than 1000 changed days were not copied
#     but the snapshot moved past them (lost at the switch).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_late_many
t_need pg
t_need influx

export FERRY_INFLUX_MAX_ROW_LIMIT=100
rw() {
	curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
		--data-binary "$1"
}
late_in() {   # the points of series $1 in PostgreSQL
	pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = '$1'"
}

cutover_setup 200
H=$(($(date +%s) - 3 * 3600))
for ((i = 0; i < 130; i++)); do
	printf 'M%04d,entity_id=sensor.m%d f=1 %d000000000\n' $i $i $((H - i * 60))
done >"$T/m.lp"
curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary @"$T/m.lp"
assert_contains "influxd cuts SHOW MEASUREMENTS at 100" "$(ifx_q 'SHOW MEASUREMENTS')" '"partial":true'
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --strategy immediate --chunk-time 30d
assert_eq "prepare" "$T_RC" 0
relay_start
for step in backfill validate; do
	t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
	assert_eq "-> $step" "$T_RC" 0
done
assert_eq "the snapshot counted every measurement" \
	"$(pg_q "$PGURL" "SELECT count(DISTINCT m) FROM ferry.cutover_old_days WHERE m LIKE 'M%'")" 130
T0=$(pg_q "$PGURL" "SELECT extract(epoch FROM t0)::bigint FROM ferry.cutover_plan")
assert_eq "a late point of M0120 through the relay: 204" \
	"$(rw "M0120,entity_id=sensor.late1 f=5 $((T0 - 100))000000000")" 204
# a backlog of 1001 days, one point a day, through the relay
for ((k = 1; k <= 1001; k++)); do
	printf 'A,entity_id=sensor.archive v=%d %d000000000\n' $k $((T0 - k * 86400))
done >"$T/arch.lp"
assert_eq "a 1001-day backlog through the relay: 204" \
	"$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" --data-binary @"$T/arch.lp")" 204
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
assert_eq "-> switchover" "$T_RC" 0
assert_contains "the verify passes after the copies" "$T_OUT" "pass   verify"
assert_eq "M0120's late point is in the new store" "$(late_in sensor.late1)" 1
assert_eq "the whole backlog is in the new store" "$(late_in sensor.archive)" 1001
# after the switch, in the old store alone (as if just before it)
curl -sS -f -XPOST "$IURL/write?db=home_assistant" \
	--data-binary "M0125,entity_id=sensor.late2 f=5 $((T0 - 100))000000000"
for ((k = 1; k <= 1001; k++)); do
	printf 'B,entity_id=sensor.archive2 v=%d %d000000000\n' $k $((T0 - k * 86400))
done >"$T/arch2.lp"
curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary @"$T/arch2.lp"
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
assert_eq "-> cleanup" "$T_RC" 0
assert_contains "the catch-up copied them" "$T_OUT" "1002 missing or changed rows of"
assert_eq "M0125's late point is in the new store" "$(late_in sensor.late2)" 1
assert_eq "the second backlog is in the new store" "$(late_in sensor.archive2)" 1001
assert_eq "no row doubled" \
	"$(pg_q "$PGURL" "SELECT count(*) - count(DISTINCT (series, measurement, field, time)) FROM telemetry_data")" 0
relay_stop
t_done
