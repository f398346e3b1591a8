#!/usr/bin/env bash
# cutover_wide_names.sh - dual-write into the wide layout when one name is
# a tag in some points and a field in others (InfluxDB keeps both, as x and
# x_1 in a query; Home Assistant's tags_attributes turns an attribute that
# was a field into a tag).  The relays and the backfill grow the same
# tables, each in the order it saw the names, so they could give the name
# one column in two parts (adversarial finds on 70cbb2b):
#   - the history has field battery, the backfill made the table, a live
#     point has tag battery: the relay's "SET DEFAULT ''" on a number
#     failed on every retry and held the spool, every other measurement's
#     points too;
#   - the history has tag x, the backfill made it a key column, a live
#     point has field x: its value went into the key column;
#   - a live point made field z, the history has tag z: the backfill made
#     z part of the key and the relay went on writing the field there.
# Now each refuses the clash by name: the relay leaves those points out
# (refused, the others go on), the backfill stops and says why.
# And a field a relay made bigint from live integers whose history is float
# (another shard): the backfill rejected the history's values and its
# figure offered --max-errors, which lost them; now it stops naming the
# ALTER, which lets it through once done.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init cutover_wide_names
t_need pg
t_need influx

rw() {
	curl -sS -o /dev/null -w '%{http_code}' -u root:root -XPOST "$RURL/write?db=home_assistant" \
		--data-binary "$1"
}
now_ns() { date +%s%N; }   # two writes a second apart or less are two keys

cutover_setup 200
H=$(($(date +%s) - 3 * 3600))
curl -sS -f -XPOST "$IURL/write?db=home_assistant" --data-binary "bat,entity_id=sensor.p value=1,battery=1.5 ${H}000000000
tagx,host=a,x=b value=2 ${H}000000000
tagz,host=a,z=q value=3 ${H}000000000
atyp,host=a v=1.5 $((H - 30 * 86400))000000000
zmany,$(for i in $(seq 1 32); do printf 't%02d=x,' "$i"; done | sed 's/,$//') v=1 ${H}000000000"
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --layout wide --chunk-time 1h
assert_eq "prepare" "$T_RC" 0
relay_start --layout wide
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_eq "-> dual-write" "$T_RC" 0
# a live point makes tagz's table first, with z a field
assert_eq "tagz with field z through the relay: 204" "$(rw "tagz,host=a value=4,z=\"on\" $(now_ns)")" 204
# and atyp's, with v an integer (the history's float is in another shard)
assert_eq "atyp with integer v through the relay: 204" "$(rw "atyp,host=a v=2i $(now_ns)")" 204
tagz_made() { test "$(pg_q "$PGURL" "SELECT (SELECT count(*) FROM tagz) + (SELECT count(*) FROM atyp)")" -ge 2; }
check "the relay made tagz and atyp" wait_for "tagz and atyp in PostgreSQL" tagz_made
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --progress none
assert_eq "-> backfill" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "the backfill stops on atyp's v" "$T_RC" 3
assert_contains "it names the ALTER" "$T_OUT" \
	"table 'atyp' has column 'v' of type bigint (a relay makes it from the points it sees first), but the points here need double precision: ALTER TABLE public.\"atyp\" ALTER COLUMN \"v\" TYPE double precision"
assert_eq "no history value rejected" "$(pg_q "$PGURL" "SELECT count(*) FROM atyp")" 1
pg_q "$PGURL" "ALTER TABLE public.atyp ALTER COLUMN v TYPE double precision" >/dev/null
# a relay not restarted yet: its integer goes in as 3 (its rows went to a
# stage of the table's types, which read the int8 bytes as 1.5e-323)
assert_eq "atyp v=3i through the relay after the ALTER: 204" "$(rw "atyp,host=a v=3i $(now_ns)")" 204
three_in() { test "$(pg_q "$PGURL" "SELECT count(*) FROM atyp WHERE v = 3")" = 1; }
check "the relay's integer stored as 3 in the double column" wait_for "v = 3 in atyp" three_in
assert_eq "no other value" "$(pg_q "$PGURL" "SELECT string_agg(v::text, ',' ORDER BY v) FROM atyp")" "2,3"
relay_stop
relay_start --layout wide
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "the backfill stops on tagz's z" "$T_RC" 3
assert_contains "it names the table and the clash" "$T_OUT" \
	"table 'tagz' has column 'z' out of its key (a field), but the points have 'z' as a tag"
assert_not_contains "not 'advance again resumes it'" "$(grep backfill <<<"$T_OUT")" "resumes it"
assert_eq "tagz's key is untouched" \
	"$(pg_q "$PGURL" "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.conrelid = 'public.tagz'::regclass AND c.contype = 'p'")" \
	"host,time"
# the backfill made bat (battery a field) and tagx (x a tag) before it
# stopped at tagz (tables in the catalog's order)
assert_not_contains "after the ALTER atyp passes (the backfill goes on to tagz)" "$T_OUT" "table 'atyp'"
assert_eq "bat and tagx made by the backfill" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('bat', 'tagx')")" 2
# live points with the other part of each name: refused by the relay, the
# rest of the write goes on
w0=$(pg_q "$PGURL" "SELECT count(*) FROM \"W\"")
assert_eq "bat with tag battery, tagx with field x, and W: 204" \
	"$(rw "bat,entity_id=sensor.p,battery=80 value=5 $(now_ns)
tagx,host=a x=21.5 $(now_ns)
W,domain=sensor,entity_id=sensor.after value=6 $(now_ns)")" 204
w_grew() { test "$(pg_q "$PGURL" "SELECT count(*) FROM \"W\"")" -gt "$w0"; }
check "W's point reaches PostgreSQL (the spool is not held)" wait_for "W's point" w_grew
check "the spool drains" relay_drained
assert_eq "no field value in tagx's key column" \
	"$(pg_q "$PGURL" "SELECT count(*) FROM tagx WHERE x = '21.5'")" 0
assert_eq "bat has no new row" "$(pg_q "$PGURL" "SELECT count(*) FROM bat WHERE value = 5")" 0
check "the relay keeps them as dead letters (refused by the new store)" test "$(relay_stat dead_letters)" -ge 2
ROOT=$(sed -n 's/^FERRY_SERVICES_ROOT=//p' "$SVC/env")
assert_contains "its log names the clash" "$(cat "$ROOT/relay/relay.log" 2>/dev/null || true)" \
	"a tag and a field of one name"
# bat and tagz dropped by hand (made again from the old store's names, in
# which the live points' tag battery is now beside the field): the
# backfill goes on to zmany, whose 32 tags a primary key cannot hold
pg_q "$PGURL" "DROP TABLE bat, tagz" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "the backfill stops on zmany" "$T_RC" 3
assert_contains "it says why, and what to do" "$T_OUT" \
	"table 'zmany' has more tags than a primary key can hold (time and 31 tags: the wide layout keys a row by them); use the narrow layout"
relay_stop
t_done
