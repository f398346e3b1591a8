#!/usr/bin/env bash
# ts_edges.sh - the smaller promises of issue 16 for time-series sources,
# each against PostgreSQL:
# - narrow numeric_value holds every integer a double holds exactly
#   (2^53+2, 2^60, -2^63), not only those up to 2^53;
# - --start/--end take RFC 3339 with nanoseconds, as InfluxDB writes them,
#   in copy and in verify;
# - a directory source reads only its extensions, each file once (links,
#   loops), says what it skipped, and its rejects name their file;
# - NaN/Inf is one rule everywhere: that value is a reject, the other
#   values of the point or row load (lp and IoTDB CSV);
# - an influx_inspect export of several databases is refused (exit 2),
#   naming them, unless ?db=NAME picks one;
# - a map column naming a tag no point has is a warning.
source "$(dirname "$0")/lib.sh"
t_init ts_edges

# ---- narrow: integers a double holds exactly --------------------------------
cat >"$T/ints.lp" <<'EOF'
m,entity_id=x a=9007199254740994i,b=1152921504606846976i,c=-9223372036854775808i,d=9007199254740993i,e=9223372036854775807i 1000000000
EOF
u1=$(new_db ts_edges_ints)
t_run "$FERRY" copy -q "lp://$T/ints.lp" "$u1"
assert_eq "ints copy exit code" "$T_RC" 0
assert_eq "numeric_value for 2^53+2, 2^60, -2^63; none for 2^53+1, 2^63-1" \
	"$(pg_q "$u1" "select string_agg(field || '=' || coalesce(numeric_value::text, '-'), ' ' order by field) from telemetry_data")" \
	"a=9.007199254740994e+15 b=1.152921504606847e+18 c=-9.223372036854776e+18 d=- e=-"

# ---- --start/--end with nanoseconds ---------------------------------------------
printf 'n,entity_id=x v=1 1704067200123456788\nn,entity_id=x v=2 1704067200123456789\nn,entity_id=x v=3 1704067200123456790\n' >"$T/ns.lp"
u2=$(new_db ts_edges_ns)
t_run "$FERRY" copy -q --keep-ns --start 2024-01-01T00:00:00.123456789Z \
	--end 2024-01-01T00:00:00.12345679Z "lp://$T/ns.lp" "$u2"
assert_eq "--start/--end with nanoseconds: exit 0" "$T_RC" 0
assert_eq "--start/--end with nanoseconds: exactly the point between" \
	"$(pg_q "$u2" "select string_agg(time_ns || ':' || numeric_value, ' ') from telemetry_data")" \
	"1704067200123456789:2"
t_run "$FERRY" verify -q --keep-ns --start 2024-01-01T00:00:00.123456789Z \
	--end 2024-01-01T00:00:00.12345679Z "lp://$T/ns.lp" "$u2"
assert_eq "verify with --start/--end in nanoseconds: equal" "$T_RC" 0

# ---- a directory of line protocol ------------------------------------------------
mkdir -p "$T/lpdir/sub"
printf 'a,entity_id=x v=1 1000000000\na,entity_id=x v=2 2000000000\n' >"$T/lpdir/a.lp"
printf 'b,entity_id=y v=1 1000000000\nb,entity_id=y v= 2000000000\n' >"$T/lpdir/sub/b.lp"
printf 'c,entity_id=z v=1 1000000000\n' | gzip >"$T/lpdir/c.lp.gz"
printf 'u,entity_id=q v=1,big=18446744073709551615u 3000000000\n' >"$T/lpdir/sub/u.lp"
printf 'notes v=1 1\n' >"$T/lpdir/notes.txt"
ln -s "$T/lpdir" "$T/lpdir/sub/loop"
ln -s "$T/lpdir/a.lp" "$T/lpdir/sub/again.lp"
ln -s "$T/lpdir/gone.lp" "$T/lpdir/dangling.lp"
u3=$(new_db ts_edges_dir)
t_run "$FERRY" copy --rejects "$T/rej3" "lp://$T/lpdir" "$u3"
assert_eq "lp directory: exit 3 (a bad line, a bad value)" "$T_RC" 3
assert_eq "lp directory: each file once, only .lp and .lp.gz" \
	"$(pg_q "$u3" "select string_agg(measurement || numeric_value, ' ' order by measurement, numeric_value) from telemetry_data")" \
	"a1 a2 b1 c1 u1"
rej=$(cat "$T/rej3/rejects.ndjson")
assert_contains "lp directory: the reject names its file" "$rej" '"key":{"file":"sub/b.lp","line":2}'
assert_contains "lp directory: a value's reject names its file too" "$rej" \
	'"key":{"file":"sub/u.lp","line":1},"column":"","reason":"unsigned value 18446744073709551615' 
assert_contains "lp directory: says it skipped notes.txt" "$T_ERR$T_OUT" "notes.txt (not .lp or .lp.gz)"
assert_contains "lp directory: says it skipped the loop" "$T_ERR$T_OUT" "sub/loop (a link to a directory above it)"
assert_contains "lp directory: says it skipped the second link" "$T_ERR$T_OUT" "sub/again.lp (already read as a.lp)"
assert_contains "lp directory: says it skipped a link to nothing" "$T_ERR$T_OUT" "dangling.lp (a link to nothing"

# wide: two points of two files that differ below the microsecond
mkdir -p "$T/nsdir"
printf 'm f=1 1000\n' >"$T/nsdir/a.lp"
printf 'm f=2 1001\n' >"$T/nsdir/b.lp"
u3w=$(new_db ts_edges_dir_wide)
t_run "$FERRY" copy -q --layout wide --rejects "$T/rej3w" "lp://$T/nsdir" "$u3w"
assert_eq "wide from a directory: exit 3" "$T_RC" 3
rej=$(cat "$T/rej3w/rejects.ndjson")
assert_contains "wide from a directory: the reject names its file" "$rej" '"key":{"file":"b.lp","line":1}'
assert_contains "wide from a directory: and the other point's" "$rej" \
	"point at 1001 ns differs from the one at 1000 ns (file 'a.lp' line 1)"
# a value the target's column refuses (the copy's own check) names its file
u3m=$(new_db ts_edges_dir_map)
pg_q "$u3m" "create table readings (ts timestamptz, device integer, v double precision)" >/dev/null
printf 'target: readings\ncolumns:\n  ts: time\n  device: tag.entity_id\n  v: value.numeric\n' >"$T/intmap.yaml"
t_run "$FERRY" copy -q --map "$T/intmap.yaml" --rejects "$T/rej3m" "lp://$T/lpdir" "$u3m"
assert_eq "map from a directory, values the column refuses: exit 3" "$T_RC" 3
assert_contains "map from a directory: the copy's reject names its file" "$(cat "$T/rej3m/rejects.ndjson")" \
	'"key":{"file":"sub/u.lp","line":1},"column":"device"' 

# ---- NaN/Inf: the value is the reject, the rest loads ------------------------------
printf 'w,entity_id=x v=NaN,ok=1 1000000000\nw,entity_id=x v=-Inf 2000000000\nw,entity_id=x v=3 3000000000\n' >"$T/nan.lp"
u4=$(new_db ts_edges_nan)
t_run "$FERRY" copy -q --rejects "$T/rej4" "lp://$T/nan.lp" "$u4"
assert_eq "lp NaN: exit 3" "$T_RC" 3
assert_eq "lp NaN: the other field of the point loads" \
	"$(pg_q "$u4" "select string_agg(field || numeric_value, ' ' order by time) from telemetry_data")" "ok1 v3"
rej=$(cat "$T/rej4/rejects.ndjson")
assert_contains "lp NaN: the value's reject names it" "$rej" "field 'v' value 'NaN'"
assert_contains "lp Inf alone: the line is a reject" "$rej" "no finite field value (field 'v' value '-Inf')"
mkdir -p "$T/csvdir/deeper"
printf 'Time,root.sg.d1.temp,root.sg.d1.hum\n1000,21.5,40\n2000,NaN,41\n3000,22.5,42\n' >"$T/csvdir/deeper/iot.csv"
printf 'not a csv\n' >"$T/csvdir/readme.md"
ln -s "$T/csvdir" "$T/csvdir/deeper/loop"
u5=$(new_db ts_edges_csv)
t_run "$FERRY" copy --rejects "$T/rej5" "csv://$T/csvdir" "$u5"
assert_eq "csv NaN: exit 3" "$T_RC" 3
assert_eq "csv NaN: the row's other value loads; each file once despite the loop" \
	"$(pg_q "$u5" "select string_agg(field || numeric_value, ' ' order by time, field) from telemetry_data")" \
	"hum40 temp21.5 hum41 hum42 temp22.5"
rej=$(cat "$T/rej5/rejects.ndjson")
assert_contains "csv NaN: the reject names the file" "$rej" '"key":{"file":"deeper/iot.csv","line":3}'
assert_contains "csv NaN: and column and value" "$rej" \
	"left out (the row's other values load): column 'root.sg.d1.temp' value 'NaN' is not a finite number"
assert_contains "csv directory: says it skipped readme.md" "$T_ERR$T_OUT" "readme.md (not .csv)"
assert_contains "csv directory: says it skipped the loop" "$T_ERR$T_OUT" "deeper/loop (a link to a directory above it)"
# a value that is not of its declared type: it alone is left out (the
# whole row was a reject: the hum of that second was lost with it)
printf 'Time,root.sg.d2.n(INT64),root.sg.d2.hum\n1000,5,40\n2000,x,41\n' >"$T/typed.csv"
u6=$(new_db ts_edges_csv_typed)
t_run "$FERRY" copy --rejects "$T/rej6" "csv://$T/typed.csv" "$u6"
assert_eq "csv bad INT64: exit 3" "$T_RC" 3
assert_eq "csv bad INT64: the row's other value loads" \
	"$(pg_q "$u6" "select string_agg(field || coalesce(integer_value, numeric_value), ' ' order by time, field) from telemetry_data")" \
	"hum40 n5 hum41"
assert_contains "csv bad INT64: the reject names the column and value" \
	"$(cat "$T/rej6/rejects.ndjson")" "value 'x' in column 'root.sg.d2.n' is not an INT64"

# ---- an export of several databases ----------------------------------------------------
cat >"$T/two.lp" <<'EOF'
# DML
# CONTEXT-DATABASE: home
# CONTEXT-RETENTION-POLICY: autogen
m,entity_id=x v=1 1000000000
# CONTEXT-DATABASE: garage
# CONTEXT-RETENTION-POLICY: autogen
m,entity_id=x v=2 1000000000
EOF
u6=$(new_db ts_edges_twodb)
for cmd in copy verify; do
	t_run "$FERRY" "$cmd" -q "lp://$T/two.lp" "$u6"
	assert_eq "$cmd: an export of two databases: exit 2" "$T_RC" 2
	assert_contains "$cmd: names both databases and what to do" "$T_ERR" \
		"holds points of 2 databases ('home', 'garage'"
	assert_contains "$cmd: says how to pick one" "$T_ERR" "pick one with ?db=NAME"
done
assert_eq "two databases: nothing loaded" "$(pg_q "$u6" "select count(*) from pg_tables where tablename = 'telemetry_data'")" 0
# ?db= picks one, with chunks cut so that none spans two sections
t_run "$FERRY" copy -q --chunk-bytes 1 "lp://$T/two.lp?db=garage" "$u6"
assert_eq "?db=garage: exit 0" "$T_RC" 0
assert_eq "?db=garage: only its points" "$(pg_q "$u6" 'select string_agg(numeric_value::text, $$ $$) from telemetry_data')" 2
t_run "$FERRY" verify -q --chunk-bytes 1 "lp://$T/two.lp?db=garage" "$u6"
assert_eq "verify ?db=garage: equal" "$T_RC" 0
# --chunk-bytes: the sizes of size.h; one that overflows 64 bits is an
# error, not a small chunk
t_run "$FERRY" verify -q --chunk-bytes 1KiB "lp://$T/two.lp?db=garage" "$u6"
assert_eq "--chunk-bytes 1KiB: equal" "$T_RC" 0
for bad in 99999999999999G 0 12XB; do
	t_run "$FERRY" verify -q --chunk-bytes "$bad" "lp://$T/two.lp?db=garage" "$u6"
	assert_eq "--chunk-bytes $bad: exit 2" "$T_RC" 2
	assert_contains "--chunk-bytes $bad: named" "$T_ERR" "invalid --chunk-bytes '$bad'"
done
t_run "$FERRY" copy -q --layout wide "lp://$T/two.lp?db=nope" "$u6"
assert_eq "?db= naming no section: exit 2" "$T_RC" 2
assert_contains "?db= naming no section: says which there are" "$T_ERR" "it has 'home', 'garage'"

# ---- a map naming a tag that no point has -------------------------------------------
u7=$(new_db ts_edges_map)
pg_q "$u7" "create table readings (ts timestamptz, device text, name text, v double precision)" >/dev/null
cat >"$T/map.yaml" <<'EOF'
target: readings
columns:
  ts: time
  device: tag.Entity_ID
  name: "{measurement}.{tag.entity_id}.{tag.room}"
  v: value.numeric
EOF
t_run "$FERRY" copy --map "$T/map.yaml" "lp://$T/lpdir/a.lp" "$u7"
assert_eq "map copy exit code" "$T_RC" 0
assert_contains "map: a tag never seen is a warning" "$T_ERR$T_OUT" "map column 'device': no point had tag 'Entity_ID'"
assert_contains "map: a template's tag never seen is a warning" "$T_ERR$T_OUT" "map column 'name': no point had tag 'room'"
case "$T_ERR$T_OUT" in
*"tag 'entity_id'"*) fail "map: a tag that points have is no warning" ;;
*) pass "map: a tag that points have is no warning" ;;
esac

t_done
