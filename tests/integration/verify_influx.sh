#!/usr/bin/env bash
# ferry verify into InfluxDB against the real influxd: two databases
# written with the same points verify equal; one changed value, one
# missing point and one extra point are each named (measurement, tags,
# field, time, both values) with exit 1; --sample 50 checks half the time
# windows and says so; an lp:// file with a point written twice verifies
# against what InfluxDB kept (the last write); through a point map (--map)
# the mapped points written by hand verify equal, and one changed is named.
source "$(dirname "$0")/lib.sh"
t_init verify_influx
t_need influx

IURL="http://127.0.0.1:$FERRY_INFLUX_PORT"
newdb() {  # newdb NAME: a fresh database
	local db=$1_$RANDOM$RANDOM
	curl -sS -XPOST "$IURL/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
	echo "$db"
}
iwrite() {  # iwrite DB FILE  (POST /write, ns precision)
	local code
	code=$(curl -sS -o "$T/write.out" -w '%{http_code}' -XPOST \
		"$IURL/write?db=$1&precision=ns" --data-binary "@$2")
	[[ $code == 204 ]] || { cat "$T/write.out" >&2; return 1; }
}
I() { echo "influx://127.0.0.1:$FERRY_INFLUX_PORT/$1"; }

# 6 hours of HA-style points every 20 minutes from 2023-11-14T22:00:00Z:
# three measurements, several series, every field type; --chunk-time 1h
# cuts them into 6 windows
t0=1699999200000000000
step=1200000000000
{
	for ((k = 0; k < 18; k++)); do
		t=$((t0 + k * step))
		echo "W,domain=sensor,entity_id=sensor.inverter_power,friendly_name=Inverter\\ power value=$((1500 + k)).5 $t"
		echo "W,domain=sensor,entity_id=sensor.fridge_power value=$((80 + k % 3)).25,device_class_str=\"power\" $t"
		echo "°C,domain=sensor,entity_id=sensor.küche value=21.$k $t"
		echo "switch,domain=switch,entity_id=switch.heater state=\"$([[ $((k % 2)) -eq 0 ]] && echo on || echo off)\",on=$([[ $((k % 2)) -eq 0 ]] && echo true || echo false),count=${k}i $t"
	done
} >"$T/points.lp"
npoints=$(wc -l <"$T/points.lp")

a=$(newdb vfa)
b=$(newdb vfb)
iwrite "$a" "$T/points.lp"
iwrite "$b" "$T/points.lp"
V=("$FERRY" verify --progress none --chunk-time 1h)

# ---- influx -> influx: equal ------------------------------------------------
t_run "${V[@]}" "$(I "$a")" "$(I "$b")"
assert_eq "same points: exit 0" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }
assert_contains "says equal" "$T_OUT" "equal ("
# values (a row each): W 18*2 + 18 (device_class_str), °C 18, switch 18*3
assert_contains "W: 6 windows, 54 values each side" "$T_OUT" "W              6           54           54         0         0"
assert_contains "switch: 54 values" "$T_OUT" "switch         6           54           54         0         0"
t_run "${V[@]}" --json "$(I "$a")" "$(I "$b")"
assert_eq "--json: exit 0" "$T_RC" 0
assert_eq "--json: equal, 6 windows, 144 values" \
	"$(jq -r '[.equal, .chunks, .checked, .source_rows, .target_rows] | @tsv' <<<"$T_OUT")" \
	"true	6	6	126	126"

# ---- one changed value ------------------------------------------------------
c=$(newdb vfc)
iwrite "$c" "$T/points.lp"
t5=$((t0 + 5 * step))
echo "W,domain=sensor,entity_id=sensor.fridge_power value=99.5 $t5" >"$T/chg.lp"
iwrite "$c" "$T/chg.lp"     # last write wins: the value is replaced
t_run "${V[@]}" "$(I "$a")" "$(I "$c")"
assert_eq "changed value: exit 1" "$T_RC" 1
assert_contains "changed value: measurement, window, counts, field, both values, the point" "$T_OUT" \
	"differs: table 'W' time 2023-11-14T23:00:00Z..2023-11-15T00:00:00Z: source 9 rows, target 9 rows; first difference: field 'value' differs: source 82.25, target 99.5: W,domain=sensor,entity_id=sensor.fridge_power value=82.25 2023-11-14T23:40:00Z"
assert_contains "changed value: one differing window in all" "$T_OUT" "total          6          126          126         0         1"
assert_contains "changed value: DIFFERENT" "$T_OUT" "DIFFERENT"
t_run "${V[@]}" --json "$(I "$a")" "$(I "$c")"
assert_eq "--json names it" \
	"$(jq -r '.differences[0] | [.table, .column, .range, .first_row] | @tsv' <<<"$T_OUT")" \
	"W	value	time 2023-11-14T23:00:00Z..2023-11-15T00:00:00Z	W,domain=sensor,entity_id=sensor.fridge_power value=82.25 2023-11-14T23:40:00Z"

# ---- one missing point (all its fields) ----------------------------------------
m=$(newdb vfm)
t7=$((t0 + 7 * step))
grep -v "^switch.* $t7\$" "$T/points.lp" >"$T/missing.lp"
check "one line left out" test "$(wc -l <"$T/missing.lp")" -eq $((npoints - 1))
iwrite "$m" "$T/missing.lp"
t_run "${V[@]}" "$(I "$a")" "$(I "$m")"
assert_eq "missing point: exit 1" "$T_RC" 1
assert_contains "missing point named: the first of its fields" "$T_OUT" \
	"differs: table 'switch' time 2023-11-15T00:00:00Z..2023-11-15T01:00:00Z: source 9 rows, target 6 rows; first difference: missing in target: switch,domain=switch,entity_id=switch.heater count=7i 2023-11-15T00:20:00Z"

# ---- one extra point ----------------------------------------------------------
x=$(newdb vfx)
iwrite "$x" "$T/points.lp"
echo "°C,domain=sensor,entity_id=sensor.küche value=-0.5 $((t0 + 3 * step + 1))" >"$T/extra.lp"
iwrite "$x" "$T/extra.lp"
t_run "${V[@]}" "$(I "$a")" "$(I "$x")"
assert_eq "extra point: exit 1" "$T_RC" 1
assert_contains "extra point named, to the nanosecond" "$T_OUT" \
	"differs: table '°C' time 2023-11-14T23:00:00Z..2023-11-15T00:00:00Z: source 3 rows, target 4 rows; first difference: extra in target: °C,domain=sensor,entity_id=sensor.küche value=-0.5 2023-11-14T23:00:00.000000001Z"

# ---- --sample 50 --------------------------------------------------------------
t_run "${V[@]}" --sample 50 --seed 7 "$(I "$a")" "$(I "$b")"
assert_eq "--sample 50: exit 0" "$T_RC" 0
assert_contains "--sample 50 says how much it checked" "$T_OUT" "sampled 3 of 6 chunks"
t_run "${V[@]}" --sample 50 --seed 7 --json "$(I "$a")" "$(I "$b")"
assert_eq "--sample 50: 3 of 6 windows, fewer values, both sides the same" \
	"$(jq -r '[.chunks, .checked, .source_rows < 126, .source_rows == .target_rows] | @tsv' <<<"$T_OUT")" \
	"6	3	true	true"
# a sample finds a difference only in the windows it reads: with every
# seed picking 3 of 6, some seed picks the changed window and some not
found=0 missed=0
for seed in 1 2 3 4 5 6 7 8; do
	t_run "${V[@]}" --sample 50 --seed $seed -q "$(I "$a")" "$(I "$c")"
	case $T_RC in 0) missed=1 ;; 1) found=1 ;; *) echo "$T_ERR" ;; esac
done
assert_eq "--sample: the seed decides which windows are read" "$found$missed" 11

# ---- lp:// -> influx: a point written twice, the last write kept -----------------
{
	cat "$T/points.lp"
	echo "W,domain=sensor,entity_id=sensor.fridge_power value=1.5 $t5"
	echo "W,entity_id=sensor.fridge_power,domain=sensor value=82.25 $t5"
} >"$T/dup.lp"
t_run "${V[@]}" "lp://$T/dup.lp" "$(I "$a")"
assert_eq "lp file with a point written twice (tags in another order): exit 0" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }
t_run "${V[@]}" "lp://$T/dup.lp" "$(I "$c")"
assert_eq "lp file against the changed value: exit 1" "$T_RC" 1
assert_contains "lp file: the last write of the file is what is compared" "$T_OUT" \
	"field 'value' differs: source 82.25, target 99.5"
t_run "${V[@]}" "lp://$T/points.lp" "$(I "$x")"
assert_contains "lp file: extra in target" "$T_OUT" "extra in target: °C,domain=sensor,entity_id=sensor.küche value=-0.5"
t_run "$FERRY" verify --progress none "lp://$T/points.lp" "$(I "$a")"
assert_eq "lp file, default windows: exit 0" "$T_RC" 0

# ---- through a point map: the mapped points written by hand ---------------------
cat >"$T/map.yaml" <<'EOF_MAP'
points:
  - from: W
    to: "{tag.domain}"
    tags: {unit: "{measurement}"}
    drop_tags: [domain, friendly_name]
    fields:
      power_mw: {from: value, scale: 1000}
  - from: switch
    to: switch_state
    fields:
      n: {from: count, cast: float}
    only_named: true
  - from: "°C"
    fields:
      t: {from: value, cast: int}
    only_named: true
  - from: "kWh"
    drop: true
EOF_MAP
# W: value -> power_mw (x1000), other fields kept, measurement = the
# domain, unit tag; switch: count -> n as a float, the rest dropped; °C:
# only 21.0 casts to an integer exactly, the other 17 are refused
{
	for ((k = 0; k < 18; k++)); do
		t=$((t0 + k * step))
		echo "sensor,entity_id=sensor.inverter_power,unit=W power_mw=$(((1500 + k) * 1000 + 500)) $t"
		echo "sensor,entity_id=sensor.fridge_power,unit=W power_mw=$(((80 + k % 3) * 1000 + 250)),device_class_str=\"power\" $t"
		echo "switch_state,domain=switch,entity_id=switch.heater n=$k $t"
	done
	echo "°C,domain=sensor,entity_id=sensor.küche t=21i $t0"
} >"$T/mapped.lp"
mp=$(newdb vfmap)
iwrite "$mp" "$T/mapped.lp"
t_run "${V[@]}" --map "$T/map.yaml" "$(I "$a")" "$(I "$mp")"
assert_eq "through the map: exit 0" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }
assert_contains "through the map: the casts the map refuses are rejected, not differences" \
	"$T_OUT" "17 source rows are rejected at copy"
assert_contains "through the map: a rule that matched nothing is a warning with its line" "$T_ERR" \
	"map.yaml:17: rule from 'kWh' matched no point"
assert_contains "through the map: compared as the target's measurements" "$T_OUT" \
	"sensor               6           54           54         0         0"
t_run "${V[@]}" --map "$T/map.yaml" "lp://$T/dup.lp" "$(I "$mp")"
assert_eq "lp file through the map: exit 0" "$T_RC" 0
echo "switch_state,domain=switch,entity_id=switch.heater n=99 $t7" >"$T/mchg.lp"
iwrite "$mp" "$T/mchg.lp"
t_run "${V[@]}" --map "$T/map.yaml" "$(I "$a")" "$(I "$mp")"
assert_eq "through the map, one value changed: exit 1" "$T_RC" 1
assert_contains "through the map: the changed value named in the target's terms" "$T_OUT" \
	"differs: table 'switch_state' time 2023-11-15T00:00:00Z..2023-11-15T01:00:00Z: source 3 rows, target 3 rows; first difference: field 'n' differs: source 7, target 99: switch_state,domain=switch,entity_id=switch.heater n=7 2023-11-15T00:20:00Z"
# without the map the same databases differ everywhere
t_run "${V[@]}" -q "$(I "$a")" "$(I "$mp")"
assert_eq "without the map: exit 1" "$T_RC" 1
printf 'target: telemetry_data\ncolumns:\n  timestamp: time\n' >"$T/table.yaml"
t_run "${V[@]}" --map "$T/table.yaml" "$(I "$a")" "$(I "$mp")"
assert_eq "a table map into InfluxDB: usage error" "$T_RC" 2
assert_contains "a table map: says it needs points:" "$T_ERR" "has no top-level 'points:' list"

# ---- --include / --exclude: globs on the measurements ---------------------------
t_run "${V[@]}" --include 'sw*' --include '°C' "$(I "$a")" "$(I "$c")"
assert_eq "--include leaves the changed W out: exit 0" "$T_RC" 0
assert_not_contains "--include: no W" "$T_OUT" "W "
t_run "${V[@]}" --exclude '°C' "$(I "$a")" "$(I "$x")"
assert_eq "--exclude leaves the extra °C point out: exit 0" "$T_RC" 0
t_run "${V[@]}" --include 'nomatch*' "$(I "$a")" "$(I "$b")"
assert_eq "--include matching nothing: usage error" "$T_RC" 2
assert_contains "--include matching nothing: says so" "$T_ERR" "--include matches no measurement"

# ---- bad input --------------------------------------------------------------
t_run "${V[@]}" "$(I "$a")" "$(I nosuchdb)"
assert_eq "target database missing: exit 1" "$T_RC" 1
assert_contains "target database missing: named" "$T_ERR" "database 'nosuchdb' not found"
t_run "${V[@]}" --layout wide "$(I "$a")" "$(I "$b")"
assert_eq "--layout into InfluxDB: usage error" "$T_RC" 2

t_done
