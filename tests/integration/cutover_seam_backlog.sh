#!/usr/bin/env bash
# cutover_seam_backlog.sh - the cutover's seam dedupe (cutover_gates.c
# dedupe(), LATE_ROWS_BY_SERIES) with a device that sends two days of
# backlog in dual: one late point a minute, 2880 late minutes of one
# measurement, which 20 other sensors of the history share.  The rows of
# those minutes are found by a join of the (series, measurement, minute)
# keys of the old store's points with the narrow table; with thousands of
# keys PostgreSQL plans it as a merge (or hash) join on (series,
# measurement) with the minute as a join filter, which compares every row
# of a series with every late minute of it: quadratic.  Before cd7dc29
# (the window widened down to the earliest late point, one sort) the
# verify gate's advance took ~2 s here; since, minutes.
#
# Expected: nothing doubled, the verify passes; the validate ->
# switchover advance (its seam repair, the verify) takes seconds (printed,
# not asserted: no timed assertions in tests; with cd7dc29's join it took
# minutes, and `timeout 600` ends a hang).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_seam_backlog
t_need pg
t_need influx

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
DAYS=${SEAM_DAYS:-2}
"$FERRY" generate --format lp --pattern periodic --entities 20 --duration ${DAYS}d --seed 9 \
	--start $(($(date +%s) - DAYS * 86400 - 3600)) -q -o "$T/history.lp"
split -l 50000 "$T/history.lp" "$T/hist."
for p in "$T"/hist.*; do
	curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary @"$p"
done
cutover_to_t0 --soak 1s

# the backlog: a point a minute for DAYS days, up to an hour before T0
start=$((T0 - DAYS * 86400 - 3600))
$PY - "$start" "$DAYS" >"$T/backlog.lp" <<'PYEOF'
import sys
s, days = int(sys.argv[1]), int(sys.argv[2])
for i in range(0, days * 86400, 60):
    print("°C,domain=sensor,entity_id=sensor.backlog value=%.1f %d" % (20 + (i % 100) / 10, (s + i + 7) * 10**9))
PYEOF
nlate=$(wc -l <"$T/backlog.lp")
split -l 5000 "$T/backlog.lp" "$T/bl."
for p in "$T"/bl.*; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" --data-binary @"$p")
	assert_eq "a backlog batch through the relay: 204" "$code" 204
done
check "the relay recorded the late minutes" \
	wait_sql "SELECT count(*) = $nlate FROM ferry.relay_late WHERE measurement = '°C'"

t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "backfill -> validate" "$T_RC" 0
assert_eq "the backlog once in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM telemetry_data WHERE series = 'sensor.backlog' AND field = 'value'")" "$nlate"
assert_eq "no row doubled" "$(pg_doubled)" 0

s=$SECONDS
t_run timeout 600 "$FERRY" cutover advance --db "$PGURL" --wait --timeout 120s --progress none
took=$((SECONDS - s))
assert_eq "validate -> switchover" "$T_RC" 0
assert_contains "verify equal" "$T_OUT" "pass   verify"
echo "# validate -> switchover took $took s"
relay_stop
t_done
