#!/usr/bin/env bash
# ts_resume_live.sh - `ferry copy influx://... postgres://... --end T` from an
# InfluxDB that is still written: killed (kill -9) mid-copy, points written
# after T meanwhile (to a known series, by a new device, to a new
# measurement), the rerun resumes the job instead of refusing it ("started
# with another source state"), and the result is what a clean copy with the
# same --end gives, and what ferry verify --end T calls equal.
source "$(dirname "$0")/lib.sh"
t_init ts_resume_live
t_need pg
t_need influx
PY=/usr/bin/python3

IDB="live_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
curl -sS -XPOST "$FERRY_INFLUX_URL/query" --data-urlencode "q=CREATE DATABASE $IDB" >/dev/null
SRC="influx://127.0.0.1:$FERRY_INFLUX_PORT/$IDB"
DST=$(new_db resume_live)
CLEAN=$(new_db resume_clean)
ifx_write() {
	curl -sS -f -XPOST "$FERRY_INFLUX_URL/write?db=$IDB" --data-binary @"$1"
}

# history: 20 sensors over about 5 hours, 30000 points; T cuts it after 3 h
start=$(($(date +%s) - 8 * 3600))
"$FERRY" generate --format lp --rows 30000 --entities 20 --seed 7 --start "$start" \
	-q -o "$T/history.lp"
split -l 5000 "$T/history.lp" "$T/hist."
for p in "$T"/hist.*; do ifx_write "$p"; done
end_s=$((start + 3 * 3600))
END="${end_s}000000000"
before=$(curl -sS -XPOST "$FERRY_INFLUX_URL/query?db=$IDB" \
	--data-urlencode "q=SELECT count(*) FROM /.*/ WHERE time < $END" | $PY -c '
import json, sys
print(sum(max(v for v in s["values"][0][1:] if v) for r in json.load(sys.stdin)["results"]
          for s in r.get("series", [])))')
echo "# $before points before --end"
check "history on both sides of --end" test "$before" -gt 1000 -a "$before" -lt 30000

COPY=("$FERRY" copy "$SRC" "$DST" --end "$END" --chunk-time 30m --job live --data-only --progress none)

# ---- the first run, stopped by kill -9 with some chunks committed and one not:
# the target table is held until the job is planned, then one chunk's row
hold() {
	PGAPPNAME=live_hold psql -XAtq -d "$DST" -c "$1; SELECT pg_sleep(600)" >/dev/null 2>&1 &
	wait_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'live_hold' AND wait_event = 'PgSleep'"
}
unhold() {
	pg_q "$DST" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'live_hold%'" >/dev/null
}
wait_sql() { pg_wait "$DST" "$1"; }
"$FERRY" copy "$SRC" "$DST" --end "$END" --schema-only -q
# a row of its own keeps the table's indexes through the load (an empty
# table's are dropped first, which the held lock would stop before planning)
pg_q "$DST" "INSERT INTO telemetry_data (time, series, measurement, field, numeric_value, tags) VALUES (now(), 'marker', 'marker', 'value', 1, '{}')" >/dev/null
hold "LOCK TABLE telemetry_data IN SHARE MODE"
"${COPY[@]}" >"$T/run1.out" 2>&1 &
cp=$!
check "the job is planned" wait_sql "SELECT count(*) > 2 FROM ferry.progress WHERE job = 'live'"
PGAPPNAME=live_hold_row psql -XAtq -d "$DST" -c "SELECT 1 FROM ferry.progress WHERE job = 'live' AND state = 'pending' ORDER BY stream_no, range_lo DESC LIMIT 1 FOR UPDATE SKIP LOCKED; SELECT pg_sleep(600)" >/dev/null 2>&1 &
wait_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'live_hold_row' AND wait_event = 'PgSleep'"
pg_q "$DST" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'live_hold'" >/dev/null
check "chunks committed, one left" wait_sql "SELECT count(*) FILTER (WHERE state = 'done') > 0 AND count(*) FILTER (WHERE state = 'pending') = 1 FROM ferry.progress WHERE job = 'live'"
kill -9 "$cp"
wait "$cp" 2>/dev/null || true
unhold
assert_eq "the job is unfinished" "$(pg_q "$DST" "SELECT state <> 'done' FROM ferry.jobs WHERE job = 'live'")" t

# ---- meanwhile, after --end: more points of a known series, a new device
# (a new tag value), a new measurement, and a point exactly at --end
now_ns=$(($(date +%s) * 1000000000))
{
	for i in $(seq 1 50); do
		echo "W,domain=sensor,entity_id=sensor.new_device value=$i $((now_ns - i * 1000000000))"
		echo "brand_new,entity_id=sensor.other value=$i $((now_ns - i * 1000000000))"
	done
	head -n 3 "$T/history.lp" | sed "s/ [0-9]*\$/ $END/"
	tail -n 200 "$T/history.lp" | $PY -c '
import sys
t = int(sys.argv[1])
for i, l in enumerate(sys.stdin):
    print(l.rstrip("\n").rsplit(" ", 1)[0], t - (i + 1) * 1000)' "$now_ns"
} >"$T/after.lp"
ifx_write "$T/after.lp"

# ---- the rerun resumes, and ends where a clean copy ends
t_run "${COPY[@]}"
pg_q "$DST" "DELETE FROM telemetry_data WHERE series = 'marker'" >/dev/null
assert_eq "the rerun exits 0" "$T_RC" 0
assert_not_contains "no 'another source state'" "$T_ERR" "another source state"
assert_contains "the job was resumed, not restarted" "$T_OUT" "job 'live' resumed"
assert_eq "every chunk done once" \
	"$(pg_q "$DST" "SELECT count(*) FILTER (WHERE state <> 'done') FROM ferry.progress WHERE job = 'live'")" 0
t_run "$FERRY" verify "$SRC" "$DST" --end "$END"
assert_eq "ferry verify --end: equal" "$T_RC" 0
t_run "$FERRY" copy "$SRC" "$CLEAN" --end "$END" --chunk-time 30m --progress none
assert_eq "a clean copy with the same --end" "$T_RC" 0
sum() {
	pg_q "$1" "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT time, series, measurement, field, numeric_value, string_value, tags FROM telemetry_data) t"
}
assert_eq "the resumed copy holds what the clean copy holds" "$(sum "$DST")" "$(sum "$CLEAN")"
assert_eq "nothing at or after --end was copied" \
	"$(pg_q "$DST" "SELECT count(*) FROM telemetry_data WHERE time >= to_timestamp($end_s) OR measurement = 'brand_new' OR series = 'sensor.new_device'")" 0
assert_eq "every point before --end, once" \
	"$(pg_q "$DST" "SELECT count(*) FROM telemetry_data")" "$(pg_q "$CLEAN" "SELECT count(*) FROM telemetry_data")"

# ---- points written before --end do change the source state: refused, as before
echo "W,domain=sensor,entity_id=sensor.late value=1 $((END - 1000000000))" >"$T/late.lp"
ifx_write "$T/late.lp"
t_run "${COPY[@]}"
assert_eq "a point inside the window changes the plan: refused" "$T_RC" 2
assert_contains "with the reason" "$T_ERR" "another source state"
curl -sS -XPOST "$FERRY_INFLUX_URL/query" --data-urlencode "q=DROP DATABASE $IDB" >/dev/null
t_done
