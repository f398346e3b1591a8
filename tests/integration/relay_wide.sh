#!/usr/bin/env bash
# relay_wide.sh - `ferry relay --layout wide` writes the rows `ferry copy
# lp:// --layout wide` writes for the same lines: a table per measurement,
# grown live (a new measurement, tag or field), rows of a key merged across
# writes (a later field joins the row, a repeated point's last value wins);
# and `ferry verify --layout wide` finds InfluxDB and PostgreSQL equal.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_wide
t_need pg
t_need influx

relay_services
relay_start --layout wide

: >"$T/all.lp"
w() {   # one write through the relay; its lines are kept for the copy
	local code
	printf '%s\n' "$@" >"$T/w.lp"
	cat "$T/w.lp" >>"$T/all.lp"
	code=$(curl -sS -o "$T/w.out" -w '%{http_code}' -XPOST \
		"$RURL/write?db=home_assistant" --data-binary @"$T/w.lp")
	assert_eq "write of $1: 204" "$code" 204
}

T0=1700000000000000000
T1=1700000001000000000
T2=1700000002000000000
w "cpu,host=a usage=1.5,idle=10i $T0" \
  "cpu,host=b usage=2.5 $T0" \
  "mem,host=a used=100i $T0"
# a field that comes later for a key: a new column, merged into the row
w "cpu,host=a temp=40.5 $T0"
# a tag some points have: a new key column ('' for the rows without it)
w "cpu,host=a,region=eu usage=3.5 $T1" \
  "cpu usage=9 $T2"
# a repeated point: its last value wins; and twice in one write
w "mem,host=a used=200i $T0"
w "mem,host=b used=1i,free=5i $T1" \
  "mem,host=b used=2i $T1" \
  "cpu,host=b usage=7.25,idle=3i $T0"
check "spool drained" relay_drained

assert_eq "cpu: rows merged by key" \
	"$(pg_q "$PGURL" "SELECT host, region, usage, idle, temp FROM cpu ORDER BY time, host")" \
"a||1.5|10|40.5
b||7.25|3|
a|eu|3.5||
||9||"
assert_eq "mem: last value of each field wins" \
	"$(pg_q "$PGURL" "SELECT host, used, free FROM mem ORDER BY time, host")" \
"a|200|
b|2|5"
assert_eq "cpu's primary key has the tag added later" \
	"$(pg_q "$PGURL" "SELECT string_agg(a.attname, ',' ORDER BY k.o) FROM pg_constraint c,
		unnest(c.conkey) WITH ORDINALITY k(n, o), pg_attribute a
		WHERE c.conrelid = 'cpu'::regclass AND c.contype = 'p'
		AND a.attrelid = c.conrelid AND a.attnum = k.n")" "time,host,region"

# the same lines through ferry copy, into schema c of the same database
t_run "$FERRY" copy "lp://$T/all.lp" "$PGURL" --layout wide --schema c
assert_eq "ferry copy lp:// --layout wide" "$T_RC" 0
for q in "cpu:time, host, region, usage, idle, temp" "mem:time, host, used, free"; do
	tb=${q%%:*} cols=${q#*:}
	assert_eq "$tb: the relay's rows minus copy's" "$(pg_q "$PGURL" \
		"SELECT count(*) FROM (SELECT $cols FROM public.$tb EXCEPT ALL
		 SELECT $cols FROM c.$tb) x")" 0
	assert_eq "$tb: copy's rows minus the relay's" "$(pg_q "$PGURL" \
		"SELECT count(*) FROM (SELECT $cols FROM c.$tb EXCEPT ALL
		 SELECT $cols FROM public.$tb) x")" 0
	assert_eq "$tb: the same column types as copy's" "$(pg_q "$PGURL" \
		"SELECT count(*) FROM information_schema.columns a FULL JOIN
		 (SELECT * FROM information_schema.columns WHERE table_schema = 'c'
		  AND table_name = '$tb') b USING (column_name)
		 WHERE a.table_schema = 'public' AND a.table_name = '$tb'
		 AND a.data_type IS DISTINCT FROM b.data_type")" 0
done
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL" --layout wide
assert_eq "ferry verify --layout wide: equal" "$T_RC" 0
[[ $T_RC -eq 0 ]] || _t_show verify "$T_OUT $T_ERR"

# a field of a type its column cannot take (bigint, and a float comes: copy
# would have made the column double precision) is refused point by point
# with the reason; InfluxDB takes it (another shard), so it is a dead letter
T30=1702592000000000000
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "mem,host=a used=1.5 $T30
cpu,host=c usage=7.5 $T30")
assert_eq "a float for a bigint column: 204 (the primary took it)" "$code" 204
check "spool drained" relay_drained
assert_eq "the refused point is not in PostgreSQL, its neighbour is" \
	"$(pg_q "$PGURL" "SELECT (SELECT count(*) FROM mem WHERE time = to_timestamp(1702592000)),
		(SELECT host || '=' || usage FROM cpu WHERE time = to_timestamp(1702592000))")" "0|c=7.5"
dl="$(sed -n 's/^FERRY_RELAY_SPOOL_DIR=//p' "$SVC/env")/dead-letters.ndjson"
assert_contains "the dead letter says why" "$(cat "$dl" 2>&1)" "column 'used' of table 'mem' is bigint"
assert_not_contains "the dead letter is only the refused point" "$(cat "$dl" 2>&1)" "host=c"

# a table PostgreSQL cannot make (over 1600 columns): its points are
# refused with PostgreSQL's reason, the write's other points are written
big=$(seq -f 'f%g=1i' -s, 1 1700)
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary "huge,host=a $big $T30
cpu,host=e usage=8.5 $T30")
assert_eq "a point of 1700 fields: 204 (the primary took it)" "$code" 204
check "spool drained" relay_drained
assert_eq "its neighbour is in PostgreSQL" \
	"$(pg_q "$PGURL" "SELECT usage FROM cpu WHERE host = 'e'")" "8.5"
assert_contains "the dead letter says PostgreSQL's reason" "$(cat "$dl" 2>&1)" "1600"
assert_contains "the dead letter has the point" "$(cat "$dl" 2>&1)" "huge,host=a"

# names that are not UTF-8 (influxd takes them, so the relay does): their
# points are refused point by point, as the narrow layout refuses them; a
# table named by the text of a byte's escape ("bx\xFF") was made before,
# where a measurement of that very text would have landed too
printf 'bx\xff,host=a v=1 %s\nby,host=a v\xfe=2 %s\nby,h\x00=a v=3 %s\nby,host=b v=4 %s\n' \
	"$T30" "$T30" "$T30" "$T30" >"$T/bytes.lp"
code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary @"$T/bytes.lp")
assert_eq "names that are not UTF-8: 204 (InfluxDB took them)" "$code" 204
check "spool drained" relay_drained
assert_eq "no table of an escaped name, the good point in its table" \
	"$(pg_q "$PGURL" "SELECT (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bx%'),
		(SELECT string_agg(host || '=' || v, ',') FROM by)")" "0|b=4"
assert_contains "the dead letter says why" "$(tail -n 1 "$dl")" \
	"invalid UTF-8 in the measurement: PostgreSQL names are UTF-8 text"

# names PostgreSQL cannot take as they are - a tag key, a field key and a
# measurement over 63 bytes, measurements differing only by case - get the
# names ferry copy gives them (cut, with a hash), and every point lands;
# a second write finds those tables and columns again and grows them
: >"$T/all.lp"
nd=$(wc -l <"$dl")
K=$(printf 'k%.0s' $(seq 70)) FK=$(printf 'f%.0s' $(seq 70)) M=$(printf 'm%.0s' $(seq 70))
w "long2,$K=x,host=a v=1 $T0" \
  "long2,host=b $FK=2i $T0" \
  "$M,host=a v=3 $T0" \
  "wcase,host=a v=4 $T0" \
  "WCase,host=a v=5 $T0"
w "long2,$K=y,host=a v=6,$FK=7i $T1" \
  "$M,host=a,$K=z v=9 $T1" \
  "WCase,host=b v=8 $T1"
check "spool drained" relay_drained
assert_eq "long names and names differing by case: no dead letter" "$(wc -l <"$dl")" "$nd"
assert_eq "wcase and WCase are two tables" \
	"$(pg_q "$PGURL" "SELECT (SELECT string_agg(v::text, ',') FROM wcase),
		(SELECT string_agg(v::text, ',' ORDER BY time) FROM \"WCase\")")" "4|5,8"
t_run "$FERRY" copy "lp://$T/all.lp" "$PGURL" --layout wide --schema c2 --job names
assert_eq "ferry copy lp:// --layout wide of the long names" "$T_RC" 0
[[ $T_RC -eq 0 ]] || _t_show copy "$T_OUT $T_ERR"
tabs=$(pg_q "$PGURL" "SELECT string_agg(table_name, ' ' ORDER BY table_name) FROM
	information_schema.tables WHERE table_schema = 'c2'")
assert_eq "copy's tables" "$tabs" "WCase long2 mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm_$(
	pg_q "$PGURL" "SELECT split_part(table_name, '_', 2) FROM information_schema.tables
		WHERE table_schema = 'c2' AND table_name LIKE 'mmm%'") wcase"
for tb in $tabs; do
	assert_eq "$tb: the relay's rows are copy's, by column name" "$(pg_q "$PGURL" \
		"SELECT count(*) FROM ((SELECT to_jsonb(a) FROM public.\"$tb\" a EXCEPT ALL
		 SELECT to_jsonb(b) FROM c2.\"$tb\" b) UNION ALL (SELECT to_jsonb(b) FROM
		 c2.\"$tb\" b EXCEPT ALL SELECT to_jsonb(a) FROM public.\"$tb\" a)) x")" 0
done
assert_eq "long2 holds 3 rows" "$(pg_q "$PGURL" "SELECT count(*) FROM long2")" 3
t_run "$FERRY" verify "influx://127.0.0.1:$IPORT/home_assistant" "$PGURL" --layout wide \
	--include long2 --include 'mmm*' --include wcase --include WCase
assert_eq "ferry verify --layout wide of the long names: equal" "$T_RC" 0
[[ $T_RC -eq 0 ]] || _t_show verify "$T_OUT $T_ERR"

# the same bytes again after another value of the point are its new value,
# not a retried batch to leave out (InfluxDB keeps the last one written)
T9=1700000009000000000
w "cpu,host=r usage=1 $T9"
w "cpu,host=r usage=2 $T9"
w "cpu,host=r usage=1 $T9"
check "spool drained" relay_drained
assert_eq "v=1, v=2, v=1: PostgreSQL holds the last" \
	"$(pg_q "$PGURL" "SELECT usage FROM cpu WHERE host = 'r'")" 1
assert_contains "and so does InfluxDB" \
	"$(ifx_q "SELECT usage FROM cpu WHERE host = 'r' AND time = $T9")" '"values":[["2023-11-14T22:13:29Z",1]]'

# a restarted relay knows no columns: the tables are extended, not made again
relay_stop
relay_start --layout wide
T3=1700000003000000000
w "cpu,host=d usage=1.25,load=2i $T3" \
  "cpu,host=a,region=eu usage=4.5 $T1"
check "spool drained" relay_drained
assert_eq "after a restart: a new column, '' for a tag the relay has not seen, merged" \
	"$(pg_q "$PGURL" "SELECT host, region, usage, load FROM cpu
		WHERE time IN (to_timestamp(1700000003), to_timestamp(1700000001)) ORDER BY time")" \
"a|eu|4.5|
d||1.25|2"

# ---- a table changed under the running relay (adversarial finds): each
# write first checks the table is the one its plan was made from, else
# plans again.  Before: double -> bigint stored 1.7 as 2 (answered 204),
# text -> double, a dropped column and a dropped table looped for ever and
# held every measurement behind them; and a field named relay_ord (the
# stage's own column) wedged it even across restarts.
ar() {   # write $1 through the relay, wait until the spool drained
	w "$1"
	check "spool drained after $2" relay_drained
}
ar "alt,host=a v=1.5,s=\"x\",b=1i 1700000010000000000" "alt's first point"
pg_q "$PGURL" "ALTER TABLE alt ALTER COLUMN v TYPE bigint" >/dev/null
ar "alt,host=a v=1.7 1700000011000000000" "1.7 into a column altered to bigint"
assert_eq "1.7 is not stored rounded into the bigint column" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM alt WHERE time = to_timestamp(1700000011)")" 0
check "it is a dead letter (refused, kept)" test "$(relay_stat dead_letters)" -ge 1
ar "alt,host=a v=3 1700000012000000000" "3 into it"
assert_eq "3 is stored" "$(pg_q "$PGURL" "SELECT v FROM alt WHERE time = to_timestamp(1700000012)")" 3
pg_q "$PGURL" "ALTER TABLE alt DROP COLUMN b" >/dev/null
ar "alt,host=a b=7i 1700000013000000000" "a point of a dropped column"
assert_eq "the column made again, the point stored" \
	"$(pg_q "$PGURL" "SELECT b FROM alt WHERE time = to_timestamp(1700000013)")" 7
pg_q "$PGURL" "DROP TABLE alt" >/dev/null
ar "alt,host=a v=4 1700000014000000000" "a point of a dropped table"
assert_eq "the table made again, the point stored" "$(pg_q "$PGURL" "SELECT v FROM alt")" 4
ar "ord,host=a relay_ord=7i,v=1 1700000015000000000" "a field named relay_ord"
assert_eq "a field named relay_ord is stored" "$(pg_q "$PGURL" "SELECT relay_ord FROM ord")" 7
ar 'dol,host=a x$ferry0$y=1,z$ferry_sig$=2 1700000015000000000' "fields named with dollar quotes"
assert_eq "fields named with dollar quotes are stored" \
	"$(pg_q "$PGURL" 'SELECT "x$ferry0$y", "z$ferry_sig$" FROM dol')" "1|2"
ar "ord2,host=a relay_ord=1i,relay_ord_1=2i,relay_ord_=3i 1700000015000000000" "fields relay_ord, _1, _"
assert_eq "they are stored" "$(pg_q "$PGURL" "SELECT relay_ord, relay_ord_1, relay_ord_ FROM ord2")" "1|2|3"
ar "cpu,host=z usage=1 1700000016000000000" "another measurement after them"
assert_contains "the relay says it planned again" \
	"$(cat "$(sed -n 's/^FERRY_SERVICES_ROOT=//p' "$SVC/env")/relay/relay.log")" "changed since it was planned"

# a column made wider than the relay typed it takes what it holds (session
# 34's finding: the relay typed a field as it first saw it, for as long as
# it ran, whatever the table had).  Altered under the running relay, as
# the backfill's type stop asks (bigint -> double precision): its floats
# were dead letters ("column 'v' of table 'wid' is bigint") until a
# restart.  Made double precision before the relay started (by the
# backfill, another relay, a run before): an integer first, then floats,
# in one write and in the next, were dead letters for as long as it ran.
# (InfluxDB refuses a type a shard has another of: each type its own week)
W=604800
ar "wid,host=a v=1i 1700000020000000000" "wid's first point (bigint)"
pg_q "$PGURL" "ALTER TABLE wid ALTER COLUMN v TYPE double precision" >/dev/null
dl0=$(relay_stat dead_letters)
ar "wid,host=a v=1.5 $((1700000020 + W))000000000" "a float into the column altered to double precision"
assert_eq "the float is stored" "$(pg_q "$PGURL" "SELECT v FROM wid WHERE time = to_timestamp($((1700000020 + W)))")" 1.5
ar "wid,host=a v=2i $((1700000020 + 2 * W))000000000" "an integer after it"
assert_eq "no dead letter for either" "$(relay_stat dead_letters)" "$dl0"
# a field key of 70 bytes: its column's name is cut to 63 with a hash
LF=$(printf 'f%.0s' {1..70})
ar "lng,host=a $LF=1i 1700000020000000000" "a field of 70 bytes (bigint)"
lcol=$(pg_q "$PGURL" "SELECT attname FROM pg_attribute WHERE attrelid = 'lng'::regclass AND attname LIKE 'fff%'")
pg_q "$PGURL" "ALTER TABLE lng ALTER COLUMN \"$lcol\" TYPE double precision" >/dev/null
ar "lng,host=a $LF=1.5 $((1700000020 + W))000000000" "a float into its cut column altered"
assert_eq "the float is stored in the cut column" \
	"$(pg_q "$PGURL" "SELECT \"$lcol\" FROM lng WHERE time = to_timestamp($((1700000020 + W)))")" 1.5
ar "pre,host=a v=0.5 1700000020000000000" "pre's first point (double precision)"
relay_stop
relay_start --layout wide
w "pre,host=b v=2i $((1700000021 + W))000000000" "pre,host=c v=2.5 $((1700000022 + 2 * W))000000000"
w "pre,host=d v=3.25 $((1700000023 + 3 * W))000000000"
check "spool drained" relay_drained
assert_eq "after a restart, an integer then floats into the double precision column" \
	"$(pg_q "$PGURL" "SELECT host || '=' || v FROM pre ORDER BY time")" "a=0.5
b=2
c=2.5
d=3.25"
assert_eq "no dead letter after the restart" "$(relay_stat dead_letters)" 0
ar "pre,host=e v=true $((1700000024 + 4 * W))000000000" "a boolean into it"
assert_eq "a boolean is still refused" "$(pg_q "$PGURL" "SELECT count(*) FROM pre WHERE host = 'e'")" 0
check "it is a dead letter" test "$(relay_stat dead_letters)" -ge 1

# two relays on one table, an ALTER as the second plans it (helper-75):
# the plan and the signature it is checked against were read one after
# the other, so an ALTER between them left a plan of the old types under
# the new signature: 1.5 stored as 2 (204) in a column altered to bigint,
# and floats refused for good in one altered to double precision (3 of 6
# and 1-3 of 6 tables). Now both are read under a lock the ALTER waits for.
R2PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
R2URL="http://127.0.0.1:$R2PORT"
"$FERRY" relay --listen "127.0.0.1:$R2PORT" --old "influx://127.0.0.1:$IPORT/home_assistant" \
	--new "$PGURL" --spool "$T/spool2" --layout wide >"$T/relay2.log" 2>&1 &
R2=$!
up2() { curl -s -o /dev/null "$R2URL/ping"; }
check "a second relay answers" wait_for "the second relay" up2
w2() { curl -sS -o /dev/null -XPOST "$R2URL/write?db=home_assistant" --data-binary "$1"; }
rw() { curl -sS -o /dev/null -XPOST "$RURL/write?db=home_assistant" --data-binary "$1"; }
bad=""
for k in 1 2 3 4 5 6; do
	rw "nar$k,host=a v=1.5 1700000100000000000"
	relay_drained >/dev/null
	w2 "nar$k,host=b v=2.5 1700000100000000000"
	pg_q "$PGURL" "ALTER TABLE nar$k ALTER COLUMN v TYPE bigint USING floor(v)" >/dev/null
	w2 "nar$k,host=b v=1.5 $((1700000100 + W))000000000"
	rw "wid$k,host=a v=1i 1700000100000000000"
	relay_drained >/dev/null
	w2 "wid$k,host=b v=2i 1700000100000000000"
	pg_q "$PGURL" "ALTER TABLE wid$k ALTER COLUMN v TYPE double precision" >/dev/null
	w2 "wid$k,host=b v=2.5 $((1700000100 + W))000000000"
	w2 "wid$k,host=b v=3.5 $((1700000100 + 2 * W))000000000"
	RURL=$R2URL relay_drained >/dev/null
	# (b's 2.5 lands before the ALTER, floored to 2, or after it, refused)
	got=$(pg_q "$PGURL" "SELECT string_agg(host || '=' || v, ',' ORDER BY time, host) FROM nar$k")
	[[ $got == "a=1,b=2" || $got == "a=1" ]] || bad+=" nar$k:$got"
	got=$(pg_q "$PGURL" "SELECT string_agg(host || '=' || v, ',' ORDER BY time, host) FROM wid$k")
	[[ $got == "a=1,b=2,b=2.5,b=3.5" ]] || bad+=" wid$k:$got"
done
assert_eq "two relays, ALTERs as one plans: no float rounded, none refused for good" "$bad" ""
kill "$R2"
wait "$R2" 2>/dev/null

# --keep-ns: time_ns is in the key, points a nanosecond apart are two rows
relay_stop
pg_q "postgres://postgres@127.0.0.1:$PGPORT/postgres" 'CREATE DATABASE relay_ns' >/dev/null
PGURL="postgres://postgres@127.0.0.1:$PGPORT/relay_ns"
if ! FERRY_RELAY_TEST_PGDB=relay_ns "$FERRY_SRC/tests/services" start-relay "$SVC" \
	--layout wide --keep-ns >>"$T/relay-start.log" 2>&1; then
	cat "$T/relay-start.log" >&2
	exit 1
fi
RPORT=$(sed -n 's/^FERRY_RELAY_PORT=//p' "$SVC/env")
RURL="http://127.0.0.1:$RPORT"
: >"$T/all.lp"
w "ns,host=a v=1 1700000000000000001" \
  "ns,host=a v=2 1700000000000000002"
w "ns,host=a u=5i 1700000000000000002"
check "spool drained" relay_drained
assert_eq "--keep-ns: two rows, the later field merged into its row" \
	"$(pg_q "$PGURL" "SELECT time_ns, v, u FROM ns ORDER BY time_ns")" \
"1700000000000000001|1|
1700000000000000002|2|5"
t_run "$FERRY" copy "lp://$T/all.lp" "$PGURL" --layout wide --keep-ns --schema c
assert_eq "ferry copy lp:// --layout wide --keep-ns" "$T_RC" 0
c="time, time_ns, host, v, u"
assert_eq "--keep-ns: the relay's rows are copy's" "$(pg_q "$PGURL" \
	"SELECT count(*) FROM ((SELECT $c FROM public.ns EXCEPT ALL SELECT $c FROM c.ns)
	 UNION ALL (SELECT $c FROM c.ns EXCEPT ALL SELECT $c FROM public.ns)) x")" 0

relay_stop
t_done
