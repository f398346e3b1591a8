#!/usr/bin/env bash
# ts_wide.sh - the wide layout keeps every point InfluxDB keeps, and
# verify agrees with it (issue 16, items 2 and 8):
# - fields of one point spread over an influx_inspect export (one field
#   per line), across chunks of the file, become one row;
# - a point written twice keeps its last value per field, as in InfluxDB;
# - points that differ only below the microsecond are two rows with
#   --keep-ns, and without it the later one is a reject that says why
#   (exit 3), never a silent loss;
# - the summary counts rows of the table, not field values;
# - ferry verify merges the source's rows by key as the copy does: equal
#   after a wide copy of an export, and a changed value is a difference;
# - an InfluxDB source gives the same table as its export;
# - a value its column cannot hold (an integer a float/integer field's
#   double cannot keep, text with a NUL byte from InfluxDB) is a reject
#   of its own line and column, and its row loads with that cell NULL,
#   keeping the fields other lines gave it (the whole merged row was a
#   reject, and verify called the lost row rejected: equal).
source "$(dirname "$0")/lib.sh"
t_init ts_wide
t_need influx

IURL="http://127.0.0.1:$FERRY_INFLUX_PORT"
iq() { curl -sS -XPOST "$IURL/query" --data-urlencode "db=$1" --data-urlencode "q=$2"; }
iwrite() {
	local code
	code=$(curl -sS -o "$T/write.out" -w '%{http_code}' -XPOST \
		"$IURL/write?db=$1&precision=ns" --data-binary "@$2")
	[[ $code == 204 ]] || { cat "$T/write.out" >&2; return 1; }
}
wide_dump() {  # URL TABLE COLS: the table in one line, in key order
	pg_q "$1" "select string_agg(row($3)::text, ' ' order by $3) from \"$2\""
}

# ---- an influx_inspect export: 100 points of 4 fields, a field per line ------
# The four fields of a point are in four far apart parts of the file, and
# --chunk-bytes 2k cuts it into several chunks.  Point 7 is written again
# at the end with new values for two fields: the last write wins.
{
	echo '# DML'
	echo '# CONTEXT-DATABASE: home'
	echo '# CONTEXT-RETENTION-POLICY: autogen'
	for f in power energy state count; do
		for i in $(seq 0 99); do
			e=$((i % 5))
			ts=$((1700000000000000000 + i * 60000000000))
			case $f in
			power) echo "W,entity_id=e$e power=$i.5 $ts" ;;
			energy) echo "W,entity_id=e$e energy=$((i * 10)).25 $ts" ;;
			state) echo "W,entity_id=e$e state=\"s$i\" $ts" ;;
			count) echo "W,entity_id=e$e count=${i}i $ts" ;;
			esac
		done
	done
	echo "W,entity_id=e2 power=700.5 $((1700000000000000000 + 7 * 60000000000))"
	echo "W,entity_id=e2 state=\"x-rewritten\" $((1700000000000000000 + 7 * 60000000000))"
} >"$T/export.lp"
check "the export is several chunks of 2k" test "$(stat -c %s "$T/export.lp")" -gt 8192

u1=$(new_db ts_wide_exp)
t_run "$FERRY" copy --json --chunk-bytes 2k --layout wide "lp://$T/export.lp" "$u1"
assert_eq "export copy exit code" "$T_RC" 0
assert_eq "one row per point" "$(pg_q "$u1" 'select count(*) from "W"')" 100
assert_eq "every field of every point in its row" \
	"$(pg_q "$u1" 'select count(*) from "W" where power is not null and energy is not null and state is not null and count is not null')" 100
assert_eq "point written twice: the last value of each field wins, the others stay" \
	"$(pg_q "$u1" "select concat_ws('|', entity_id, power, energy, state, count) from \"W\" where time = to_timestamp(1700000000 + 7 * 60)")" \
	'e2|700.5|70.25|x-rewritten|7'
summary_written=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["written"])' <<<"$T_OUT")
assert_eq "the summary counts rows, not field values" "$summary_written" 100

# verify reads the source through the same merge: equal
t_run "$FERRY" verify --chunk-bytes 2k --layout wide "lp://$T/export.lp" "$u1"
assert_eq "verify of the wide export copy: equal" "$T_RC" 0
# and a changed value is still found
pg_q "$u1" "update \"W\" set count = 8 where time = to_timestamp(1700000000 + 7 * 60)" >/dev/null
t_run "$FERRY" verify --chunk-bytes 2k --layout wide "lp://$T/export.lp" "$u1"
assert_eq "verify finds a changed value in a merged row" "$T_RC" 1
pg_q "$u1" "update \"W\" set count = 7 where time = to_timestamp(1700000000 + 7 * 60)" >/dev/null

# ---- points that differ only below the microsecond --------------------------------
printf 'm f=1 1000\nm f=2 1001\nm f=3 2000\nm f=4 2000\nm,t=a g=5 2000\n' >"$T/ns.lp"
u2=$(new_db ts_wide_ns)
t_run "$FERRY" copy -q --rejects "$T/rej" --layout wide "lp://$T/ns.lp" "$u2"
assert_eq "without --keep-ns: exit 3 (a reject)" "$T_RC" 3
assert_eq "without --keep-ns: the first point and the merged duplicate stay" \
	"$(wide_dump "$u2" m "time, t, f, g")" \
	'("1970-01-01 00:00:00.000001+00","",1,) ("1970-01-01 00:00:00.000002+00","",4,) ("1970-01-01 00:00:00.000002+00",a,,5)'
rej=$(cat "$T/rej/rejects.ndjson")
assert_contains "the reject names its line" "$rej" '"line":2'
assert_contains "the reject says why and what to do" "$rej" 'only below the microsecond'
assert_contains "the reject says --keep-ns" "$rej" '--keep-ns'
t_run "$FERRY" verify --layout wide "lp://$T/ns.lp" "$u2"
assert_eq "verify after the reject: equal (the reject is counted)" "$T_RC" 0

u3=$(new_db ts_wide_keepns)
t_run "$FERRY" copy -q --keep-ns --layout wide "lp://$T/ns.lp" "$u3"
assert_eq "with --keep-ns: exit 0" "$T_RC" 0
assert_eq "with --keep-ns: both points are rows" \
	"$(wide_dump "$u3" m "time_ns, t, f, g")" '(1000,"",1,) (1001,"",2,) (2000,"",4,) (2000,a,,5)'
check "with --keep-ns: time_ns is in the primary key" pg_q "$u3" \
	"select 1 from pg_constraint c where contype = 'p' and conrelid = 'm'::regclass
	 and exists (select 1 from pg_attribute a where a.attrelid = c.conrelid
	             and a.attnum = any (c.conkey) and a.attname = 'time_ns')"
t_run "$FERRY" verify --keep-ns --layout wide "lp://$T/ns.lp" "$u3"
assert_eq "verify with --keep-ns: equal" "$T_RC" 0

# ---- the same from InfluxDB -----------------------------------------------------------
db=ferry_wide_$RANDOM$RANDOM
iq "$db" "CREATE DATABASE $db" >/dev/null
grep -v '^#' "$T/export.lp" >"$T/export.data"
iwrite "$db" "$T/export.data"
u4=$(new_db ts_wide_influx)
t_run "$FERRY" copy -q --layout wide "influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u4"
assert_eq "influx wide copy exit code" "$T_RC" 0
cols="time, entity_id, power, energy, state, count"
assert_eq "influx wide == its export, merged" "$(wide_dump "$u4" W "$cols")" \
	"$(wide_dump "$u1" W "$cols")"
t_run "$FERRY" verify --layout wide "influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u4"
assert_eq "verify influx wide: equal" "$T_RC" 0
# InfluxDB keeps points a nanosecond apart: without --keep-ns, a reject
iwrite "$db" "$T/ns.lp"
u5=$(new_db ts_wide_influx_ns)
t_run "$FERRY" copy -q --include m --rejects "$T/rej5" --layout wide \
	"influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u5"
assert_eq "influx sub-microsecond points without --keep-ns: exit 3" "$T_RC" 3
assert_contains "influx: the reject says why" "$(cat "$T/rej5/rejects.ndjson")" 'only below the microsecond'

# ---- a value its column cannot hold: rejected alone, its row loads --------------
# Column a is double precision (float and integer values).  Line 4's
# integer is beyond 2^53, a double would round it: a reject naming line 4
# and column a, and the row of time 0 (lines 1, 3, 4) loads with temp and
# state.  Line 5's unsigned would round too, and its row has no other
# field: not written.  Line 7 writes line 6's field again: the last write
# is stored, the earlier value was never the point's, no reject.
T0=1700000000000000000
T1=1700000001000000000
{
	echo "w,id=1 temp=21.5 $T0"
	echo "w,id=1 a=1.5 $T1"
	echo "w,id=1 state=\"on\" $T0"
	echo "w,id=1 a=9007199254740993i $T0"
	echo "w,id=2 a=18446744073709551615u $T0"
	echo "w,id=3 a=9007199254740993i $T1"
	echo "w,id=3 a=4i $T1"
} >"$T/cell.lp"
u7=$(new_db ts_wide_cell)
t_run "$FERRY" copy --json --rejects "$T/rej7" --layout wide "lp://$T/cell.lp" "$u7"
assert_eq "a value its column cannot hold: exit 3" "$T_RC" 3
assert_eq "the row keeps its other fields, the value's cell is NULL" \
	"$(wide_dump "$u7" w "time, id, a, state, temp")" \
	'("2023-11-14 22:13:20+00",1,,on,21.5) ("2023-11-14 22:13:21+00",1,1.5,,) ("2023-11-14 22:13:21+00",3,4,,)'
summary=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["written"], d["rejected"])' <<<"$T_OUT")
assert_eq "summary: 3 rows written, 2 values rejected" "$summary" "3 2"
rej=$(cat "$T/rej7/rejects.ndjson")
assert_eq "one reject per value" "$(wc -l <"$T/rej7/rejects.ndjson")" 2
assert_contains "the reject names the value's own line and its column" "$rej" \
	'"key":{"line":4},"column":"a","reason":"integer 9007199254740993 cannot be stored exactly in double precision: left out'
assert_contains "the reject says the row's other fields load" "$rej" "the row's other fields load"
assert_contains "an unsigned a double would round is a reject (it was stored rounded)" "$rej" \
	'"key":{"line":5},"column":"a","reason":"unsigned integer 18446744073709551615 cannot be stored exactly in double precision'
assert_contains "a row with no other field is not written" "$rej" 'its row is not written'
t_run "$FERRY" verify --layout wide "lp://$T/cell.lp" "$u7"
assert_eq "verify after the value rejects: equal" "$T_RC" 0
# table, chunks, source rows, target rows, rejected, differ
assert_contains "verify compares the rows and counts the rejected values" \
	"$(tr -s ' ' <<<"$T_OUT")" "w 1 3 3 2 0"
pg_q "$u7" "delete from w where time = to_timestamp(1700000000) and id = '1'" >/dev/null
t_run "$FERRY" verify --layout wide "lp://$T/cell.lp" "$u7"
assert_eq "verify finds the row lost, not hidden as rejected" "$T_RC" 1
# InfluxDB: a string with a NUL byte beside another field of its point,
# and a field that is float in one shard and integer in another
db2=ferry_wide_cell_$RANDOM$RANDOM
iq "$db2" "CREATE DATABASE $db2" >/dev/null
printf 'w2,id=1 s="a\x00b",temp=2.5 %s\nw2,id=1 a=1.5 %s\n' "$T0" "$T0" >"$T/cell1.data"
printf 'w2,id=1 a=9007199254740993i,temp=3.5 %s\n' "$((T0 + 8 * 86400 * 1000000000))" >"$T/cell2.data"
iwrite "$db2" "$T/cell1.data"
iwrite "$db2" "$T/cell2.data"   # 8 days on: another shard, where a is an integer
u8=$(new_db ts_wide_cell_influx)
t_run "$FERRY" copy -q --rejects "$T/rej8" --layout wide \
	"influx://127.0.0.1:$FERRY_INFLUX_PORT/$db2" "$u8"
assert_eq "influx: values their columns cannot hold: exit 3" "$T_RC" 3
assert_eq "influx: each row keeps its other fields" \
	"$(wide_dump "$u8" w2 "time, id, a, s, temp")" \
	'("2023-11-14 22:13:20+00",1,1.5,,2.5) ("2023-11-22 22:13:20+00",1,,,3.5)'
rej=$(cat "$T/rej8/rejects.ndjson")
assert_contains "influx: the NUL byte is a reject of column s" "$rej" '"column":"s","reason":"NUL byte in text: left out'
assert_contains "influx: the integer is a reject of column a" "$rej" '"column":"a","reason":"integer 9007199254740993'
t_run "$FERRY" verify --layout wide "influx://127.0.0.1:$FERRY_INFLUX_PORT/$db2" "$u8"
assert_eq "influx: verify after the value rejects: equal" "$T_RC" 0
assert_contains "influx: verify counts the rejected values" "$T_OUT" "2 source rows are rejected at copy"

# ---- narrow keeps every line, and says so --------------------------------------------
u6=$(new_db ts_narrow_dup)
t_run "$FERRY" copy --layout narrow "lp://$T/ns.lp" "$u6"
assert_eq "narrow copy exit code" "$T_RC" 0
assert_eq "narrow: a row per line" "$(pg_q "$u6" 'select count(*) from telemetry_data')" 5
assert_contains "narrow: the summary says every line is a row" "$T_ERR$T_OUT" 'every line is a row'

t_done
