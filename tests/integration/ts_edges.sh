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
# - a map column naming a tag no point has is a warning;
# - a gzip file that ends early, has a corrupt block or a bad CRC, or
#   bytes after its data, is read up to the break (every complete line
#   before it loads, the cut line is the reject naming the break, exit 3),
#   alone or in a directory, into PostgreSQL or an lp:// file, with -j 1
#   and -j 3 and small chunks, after kill -9 and a resume; verify agrees;
#   zero padding and several members (cat a.gz b.gz) read whole.
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
# csv:// reads plain files: a gzip'd one is named, not read as binary noise
gzip -c "$T/csvdir/deeper/iot.csv" >"$T/iot.csv.gz"
t_run "$FERRY" copy -q "csv://$T/iot.csv.gz" "$u5"
assert_eq "csv gzip'd: refused, a usage error" "$T_RC" 2
assert_contains "csv gzip'd: says what to do" "$T_ERR" \
	"cannot read '$T/iot.csv.gz' as csv: it is gzip-compressed, and csv:// reads uncompressed CSV (gunzip it first"
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

# ---- a broken gzip file: read up to the break ----------------------------------------
# one field per line, so rows == lines; the expected counts come from
# Python's zlib, not from ferry
G="$T/gz"
mkdir -p "$G/dir/sub"
python3 - "$G" <<'PY'
import random, sys, zlib
d = sys.argv[1]
random.seed(16)
lines = [f"g,entity_id=sensor.e{i % 23} value={random.randint(0, 10**9) / 64} {1700000000000000000 + i * 1000003}\n"
         for i in range(60000)]
data = "".join(lines).encode()

def gz(b, flush_at=None):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    if flush_at is None:
        return c.compress(b) + c.flush(), None
    out = c.compress(b[:flush_at]) + c.flush(zlib.Z_FULL_FLUSH)
    return out + c.compress(b[flush_at:]) + c.flush(), len(out)

def save(name, b):
    open(f"{d}/{name}", "wb").write(b)

def complete(b):   # the complete lines zlib inflates of b, member after member
    out = b""
    while b:
        z = zlib.decompressobj(31)
        out += z.decompress(b)
        b = z.unused_data
    return out.count(b"\n")

whole, _ = gz(data)
save("whole.lp.gz", whole)
cut = whole[:len(whole) * 6 // 10]
save("trunc.lp.gz", cut)
save("dir/sub/trunc.lp.gz", cut)
save("dir/good.lp.gz", gz(data[:len("".join(lines[:500]).encode())])[0])
# a block that cannot inflate (BTYPE 11) where a full flush began one,
# after line 37000: exactly the lines before it load
at = len("".join(lines[:37000]).encode())
flip, off = gz(data, at)
flip = bytearray(flip)
flip[off] |= 0x06
save("flip.lp.gz", bytes(flip))
crc = bytearray(whole)
crc[-8] ^= 0x55          # the CRC only: every byte inflates
save("crc.lp.gz", bytes(crc))
save("pad.lp.gz", whole + bytes(4096))
save("junk.lp.gz", whole + b"not gzip\n")
half = len("".join(lines[:30000]).encode())
two = gz(data[:half])[0] + gz(data[half:])[0]
save("two.lp.gz", two)
save("twocut.lp.gz", two[:len(two) * 8 // 10])
with open(f"{d}/expect", "w") as f:
    print(len(lines), complete(cut), len(cut), 37000, off + 1,
          complete(two[:len(two) * 8 // 10]), len(two) * 8 // 10, len(whole), file=f)
PY
read -r all ntrunc ctrunc nflip cflip ntwocut ctwocut cwhole <"$G/expect"
rejs() { cat "$1/rejects.ndjson" 2>/dev/null || true; }
gzdump() {
	pg_q "$1" "select count(*) || ' ' || md5(string_agg(concat_ws('|', time, series, numeric_value),
		E'\\n' order by time, series)) from telemetry_data"
}

# cut in the middle: -j 1 with one chunk, -j 3 with 64 KiB chunks (the
# break in a later chunk) give the same rows, all lines before the break
gz1=$(new_db ts_edges_gz1)
t_run "$FERRY" copy --rejects "$T/rejgz1" -j 1 "lp://$G/trunc.lp.gz" "$gz1"
assert_eq "gz cut: exit 3 (rejects), not a failure" "$T_RC" 3
assert_eq "gz cut: every complete line before the break loads" \
	"$(pg_q "$gz1" 'select count(*) from telemetry_data')" "$ntrunc"
rej=$(rejs "$T/rejgz1")
assert_eq "gz cut: one reject, the cut line" "$(rejs "$T/rejgz1" | wc -l)" 1
assert_contains "gz cut: the reject is the line after the last whole one" "$rej" \
	"\"key\":{\"line\":$((ntrunc + 1))}"
assert_contains "gz cut: its reason names file and compressed byte" "$rej" \
	"the gzip stream of '$G/trunc.lp.gz' ends early at compressed byte $ctrunc (uncompressed byte "
assert_contains "gz cut: the summary says where it broke" "$T_OUT$T_ERR" \
	"ends early at compressed byte $ctrunc (uncompressed byte"
assert_contains "gz cut: ... and in which line" "$T_OUT$T_ERR" \
	"in line $((ntrunc + 1)): the lines before it are read, line $((ntrunc + 1)) is a reject"
t_run "$FERRY" verify "lp://$G/trunc.lp.gz" "$gz1"
assert_eq "gz cut: verify equal (the cut line counted as the copy counted it)" "$T_RC" 0
assert_contains "gz cut: verify counts the reject" "$T_OUT" "1 source rows are rejected at copy"
gz3=$(new_db ts_edges_gz3)
t_run "$FERRY" copy --rejects "$T/rejgz3" -j 3 --chunk-bytes 64KiB "lp://$G/trunc.lp.gz" "$gz3"
assert_eq "gz cut, -j 3, 64 KiB chunks: exit 3" "$T_RC" 3
assert_contains "gz cut, -j 3: many chunks" "$T_ERR" "chunks planned"
assert_eq "gz cut, -j 3: the same rows as -j 1" "$(gzdump "$gz3")" "$(gzdump "$gz1")"
assert_eq "gz cut, -j 3: the same reject" "$(rejs "$T/rejgz3")" "$rej"
t_run "$FERRY" verify -q -j 3 --chunk-bytes 64KiB "lp://$G/trunc.lp.gz" "$gz3"
assert_eq "gz cut, -j 3: verify equal" "$T_RC" 0

# into an lp:// file: the same points (verify that file against the
# PostgreSQL copy)
t_run "$FERRY" copy -j 3 --chunk-bytes 64KiB --rejects "$T/rejgzf" "lp://$G/trunc.lp.gz" "lp://$T/gz-out.lp"
assert_eq "gz cut into lp://: exit 3" "$T_RC" 3
assert_eq "gz cut into lp://: the complete lines" "$(grep -vc '^#' "$T/gz-out.lp")" "$ntrunc"
assert_contains "gz cut into lp://: the summary says where it broke" "$T_OUT$T_ERR" \
	"ends early at compressed byte $ctrunc (uncompressed byte"
assert_contains "gz cut into lp://: the reject" "$(rejs "$T/rejgzf")" \
	"\"key\":{\"line\":$((ntrunc + 1))},\"column\":\"\",\"reason\":\"the gzip stream of '$G/trunc.lp.gz' ends early"
t_run "$FERRY" verify -q "lp://$T/gz-out.lp" "$gz1"
assert_eq "gz cut into lp://: the file verifies equal to the PostgreSQL copy" "$T_RC" 0

# a corrupt block in the middle (37000 lines before it), a bad CRC (all
# lines inflate), bytes after the data that are not gzip
gzf=$(new_db ts_edges_gzflip)
t_run "$FERRY" copy -q -j 3 --chunk-bytes 64KiB --rejects "$T/rejgzflip" "lp://$G/flip.lp.gz" "$gzf"
assert_eq "gz corrupt block: exit 3" "$T_RC" 3
assert_eq "gz corrupt block: the lines before it load" "$(pg_q "$gzf" 'select count(*) from telemetry_data')" "$nflip"
assert_contains "gz corrupt block: the reject names it" "$(rejs "$T/rejgzflip")" \
	"\"key\":{\"line\":$((nflip + 1))},\"column\":\"\",\"reason\":\"the gzip stream of '$G/flip.lp.gz' is corrupt at compressed byte $cflip (uncompressed byte "
assert_contains "gz corrupt block: the warning says lines may be wrong" "$T_OUT$T_ERR" \
	"may hold wrong bytes that still parse: compare them with another copy of the file"
t_run "$FERRY" verify -q -j 3 --chunk-bytes 64KiB "lp://$G/flip.lp.gz" "$gzf"
assert_eq "gz corrupt block: verify equal" "$T_RC" 0
gzc=$(new_db ts_edges_gzcrc)
t_run "$FERRY" copy -q --rejects "$T/rejgzcrc" "lp://$G/crc.lp.gz" "$gzc"
assert_eq "gz bad CRC: exit 3" "$T_RC" 3
assert_eq "gz bad CRC: every line loads" "$(pg_q "$gzc" 'select count(*) from telemetry_data')" "$all"
assert_contains "gz bad CRC: an empty reject after the last line names it" \
	"$(rejs "$T/rejgzcrc")" \
	"\"key\":{\"line\":$((all + 1))},\"column\":\"\",\"reason\":\"the gzip stream of '$G/crc.lp.gz' is corrupt at compressed byte $((cwhole - 4)) (uncompressed byte"
assert_contains "gz bad CRC: ... incorrect data check" "$(rejs "$T/rejgzcrc")" "incorrect data check"
t_run "$FERRY" verify -q "lp://$G/crc.lp.gz" "$gzc"
assert_eq "gz bad CRC: verify equal" "$T_RC" 0
gzj=$(new_db ts_edges_gzjunk)
t_run "$FERRY" copy -q --rejects "$T/rejgzjunk" "lp://$G/junk.lp.gz" "$gzj"
assert_eq "gz trailing bytes: exit 3" "$T_RC" 3
assert_eq "gz trailing bytes: every line loads" "$(pg_q "$gzj" 'select count(*) from telemetry_data')" "$all"
assert_contains "gz trailing bytes: the reject says what" "$(rejs "$T/rejgzjunk")" \
	"the gzip data of '$G/junk.lp.gz' ends at compressed byte $cwhole (uncompressed byte"
assert_contains "gz trailing bytes: ... and how many" "$(rejs "$T/rejgzjunk")" \
	"and the 9 bytes after it are not gzip"

# zero padding and two members: whole, exit 0
gzp=$(new_db ts_edges_gzpad)
t_run "$FERRY" copy -j 3 --chunk-bytes 64KiB "lp://$G/pad.lp.gz" "$gzp"
assert_eq "gz zero padding: exit 0" "$T_RC" 0
assert_eq "gz zero padding: every line" "$(pg_q "$gzp" 'select count(*) from telemetry_data')" "$all"
assert_contains "gz zero padding: said" "$T_OUT$T_ERR" \
	"the 4096 zero bytes after its gzip data (at compressed byte $cwhole) are padding"
gzm=$(new_db ts_edges_gztwo)
t_run "$FERRY" copy -q -j 3 --chunk-bytes 64KiB "lp://$G/two.lp.gz" "$gzm"
assert_eq "gz two members: exit 0" "$T_RC" 0
assert_eq "gz two members: every line" "$(gzdump "$gzm")" "$(gzdump "$gzp")"
gzmc=$(new_db ts_edges_gztwocut)
t_run "$FERRY" copy -q -j 3 --chunk-bytes 64KiB --rejects "$T/rejgztc" "lp://$G/twocut.lp.gz" "$gzmc"
assert_eq "gz two members, cut in the second: exit 3" "$T_RC" 3
assert_eq "gz two members, cut: the lines before the break" \
	"$(pg_q "$gzmc" 'select count(*) from telemetry_data')" "$ntwocut"
assert_contains "gz two members, cut: the reject" "$(rejs "$T/rejgztc")" \
	"ends early at compressed byte $ctwocut"

# a directory holding a whole and a cut file: the reject names its file
gzd=$(new_db ts_edges_gzdir)
t_run "$FERRY" copy -q -j 3 --chunk-bytes 64KiB --rejects "$T/rejgzdir" "lp://$G/dir" "$gzd"
assert_eq "gz directory: exit 3" "$T_RC" 3
assert_eq "gz directory: the whole file and the cut one's complete lines" \
	"$(pg_q "$gzd" 'select count(*) from telemetry_data')" "$((500 + ntrunc))"
assert_contains "gz directory: the reject names its file and line" "$(rejs "$T/rejgzdir")" \
	"\"key\":{\"file\":\"sub/trunc.lp.gz\",\"line\":$((ntrunc + 1))}"
t_run "$FERRY" verify -q -j 3 --chunk-bytes 64KiB "lp://$G/dir" "$gzd"
assert_eq "gz directory: verify equal" "$T_RC" 0
t_run "$FERRY" copy -q -j 3 --chunk-bytes 64KiB --rejects "$T/rejgzdirf" "lp://$G/dir" "lp://$T/gz-dir.lp"
assert_eq "gz directory into lp://: exit 3" "$T_RC" 3
assert_contains "gz directory into lp://: the reject names its file" "$(rejs "$T/rejgzdirf")" \
	"\"key\":{\"file\":\"sub/trunc.lp.gz\",\"line\":$((ntrunc + 1))}"
t_run "$FERRY" verify -q "lp://$T/gz-dir.lp" "$gzd"
assert_eq "gz directory into lp://: verify equal" "$T_RC" 0

# kill -9 mid-copy and resume (-j 1, then -j 3): the same rows, one reject
for j in 1 3; do
	gzk=$(new_db "ts_edges_gzkill$j")
	kill_at_delays "0.05 0.1 0.15 0.2 0.3 0.4 0.6 1 2 5" \
		"$FERRY" copy -q -j "$j" --chunk-bytes 64KiB --rejects "$T/rejgzk$j" "lp://$G/trunc.lp.gz" "$gzk"
	t_run "$FERRY" copy -q -j "$j" --chunk-bytes 64KiB --rejects "$T/rejgzk$j" "lp://$G/trunc.lp.gz" "$gzk"
	assert_eq "gz cut, -j $j, after $KILLS kill -9: exit 3" "$T_RC" 3
	assert_eq "gz cut, -j $j, after kill -9: the same rows" "$(gzdump "$gzk")" "$(gzdump "$gz1")"
	assert_eq "gz cut, -j $j, after kill -9: one reject" \
		"$(pg_q "$gzk" 'select sum(rows_rejected) from ferry.progress')" 1
	t_run "$FERRY" verify -q -j "$j" --chunk-bytes 64KiB "lp://$G/trunc.lp.gz" "$gzk"
	assert_eq "gz cut, -j $j, after kill -9: verify equal" "$T_RC" 0
done
# the whole file in its place: a changed source (rerun with --restart)
cp "$G/trunc.lp.gz" "$G/swap.lp.gz"
gzs=$(new_db ts_edges_gzswap)
t_run "$FERRY" copy -q "lp://$G/swap.lp.gz" "$gzs"
assert_eq "gz cut, before the swap: exit 3" "$T_RC" 3
cp "$G/whole.lp.gz" "$G/swap.lp.gz"
t_run "$FERRY" copy -q "lp://$G/swap.lp.gz" "$gzs"
assert_eq "gz replaced by the whole file: exit 2" "$T_RC" 2
assert_contains "gz replaced by the whole file: a changed source" "$T_ERR" "the source changed since job"
t_run "$FERRY" copy -q --restart "lp://$G/swap.lp.gz" "$gzs"
assert_eq "gz replaced, --restart: exit 0" "$T_RC" 0
assert_eq "gz replaced, --restart: every line" "$(pg_q "$gzs" 'select count(*) from telemetry_data')" "$all"

t_done
