#!/usr/bin/env bash
# relay_influx_map.sh - `ferry relay --old influx://.../home_assistant --new
# influx://.../ha_v2 --map examples/maps/ha-per-domain.yaml --cutover-db postgres://`:
# Home Assistant's client (python3-influxdb) writes through the relay in
# dual; the old database keeps the points as written, the new one (a
# second influxd) has them in the per-domain layout with equal values; a
# cast the map refuses is a dead letter with the map's reason while the
# old store has the point; kill -9 of the relay mid-stream while the new
# influxd is down loses nothing acknowledged (the spool replays it, mapped);
# the phase lives in the --cutover-db PostgreSQL database and moves with `ferry
# cutover set-phase --db` (dual -> new-primary -> dual); `ferry verify
# --map` finds both databases equal through the map, and then the points
# refused on purpose.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_influx_map
t_need pg
t_need influx

relay_services
# the new store: a second influxd of its own (stop-influx stops it alone)
SVC2="$T/svc2"
if ! "$FERRY_SRC/tests/services" start "$SVC2" influx >"$T/svc2.log" 2>&1; then
	cat "$T/svc2.log" >&2
	exit 1
fi
T_OWN_SVC+=("$SVC2")
IPORT2=$(sed -n 's/^FERRY_INFLUX_PORT=//p' "$SVC2/env")
curl -sS -XPOST "http://127.0.0.1:$IPORT2/query" --data-urlencode 'q=CREATE DATABASE ha_v2' >/dev/null
NEW="influx://127.0.0.1:$IPORT2/ha_v2"

# the example map, after one rule of our own with a cast (events of a
# counter are integers)
{
	echo "points:"
	cat <<'YAML'
  - from: {measurement: events, tags: {domain: "*", entity_id: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}", unit: "{measurement}"}
    fields:
      value: {cast: int}
YAML
	sed '1,/^points:/d' "$FERRY_SRC/examples/maps/ha-per-domain.yaml"
} >"$T/map.yaml"

# the points of domain sensor of an InfluxDB database, one line each:
# "entity_id unit time_ns value friendly_name_str"; old: the unit is the
# measurement (Home Assistant's layout), new: a tag of measurement sensor
cat >"$T/dump.py" <<'PY'
import json, sys, urllib.parse, urllib.request
port, db, layout = sys.argv[1], sys.argv[2], sys.argv[3]
q = urllib.parse.urlencode({"db": db, "epoch": "ns", "chunked": "true", "chunk_size": "500",
                            "q": "SELECT * FROM /.*/ GROUP BY *"})
out = []
with urllib.request.urlopen("http://127.0.0.1:%s/query?%s" % (port, q)) as r:
    for line in r:
        if not line.strip():
            continue
        for res in json.loads(line).get("results", []):
            if "error" in res:
                sys.exit("query: " + res["error"])
            for s in res.get("series", []) or []:
                tags = s.get("tags", {})
                if layout == "old":
                    if tags.get("domain") != "sensor":
                        continue
                    unit = s["name"]
                    if set(k for k in tags if tags[k]) != {"domain", "entity_id"}:
                        sys.exit("old: unexpected tags %r" % tags)
                else:
                    if s["name"] != "sensor":
                        continue
                    unit = tags.get("unit", "")
                    if set(k for k in tags if tags[k]) != {"entity_id", "unit"}:
                        sys.exit("new: unexpected tags %r" % tags)
                cols = s["columns"]
                for v in s["values"]:
                    row = dict(zip(cols, v))
                    out.append("%s %s %d %r %s" % (tags["entity_id"], unit, row["time"],
                                                   row.get("value"),
                                                   row.get("friendly_name_str")))
for l in sorted(out):
    print(l)
PY
dump_old() { $PY "$T/dump.py" "$IPORT" home_assistant old; }
dump_new() { $PY "$T/dump.py" "$IPORT2" ha_v2 new; }
# the old and the new database hold the same sensor points, through the map
same_both() {
	dump_old >"$T/old.txt" && dump_new >"$T/new.txt" && [[ -s "$T/old.txt" ]] &&
		diff "$T/old.txt" "$T/new.txt" >&2
}
# every acknowledged point of file $1 is in the new database
acked_in_new() {
	dump_new >"$T/new.txt" || return 1
	awk '{print $1, $3}' "$T/new.txt" | sort -u >"$T/new.keys"
	awk '{print $1, $2}' "$1" | sort -u >"$T/acked.keys"
	[[ -s "$T/acked.keys" ]] && ! comm -23 "$T/acked.keys" "$T/new.keys" | grep . >&2
}
measurements() {
	curl -sS -XPOST "http://127.0.0.1:$1/query?db=$2" --data-urlencode 'q=SHOW MEASUREMENTS' |
		$PY -c 'import json,sys; d=json.load(sys.stdin)
print(" ".join(v[0] for s in d["results"][0].get("series", []) for v in s["values"]))'
}

# bad input: a table map for an InfluxDB store, --cutover-db twice, --db with a URL
printf 'target: readings\ncolumns:\n  time: time\n' >"$T/table-map.yaml"
t_run "$FERRY" relay --listen 127.0.0.1:0 --old "influx://127.0.0.1:$IPORT/home_assistant" \
	--new "$NEW" --map "$T/table-map.yaml" --spool "$T/spool-x"
assert_eq "a table map for an InfluxDB new store: exit 2" "$T_RC" 2
assert_contains "it says the map has no points:" "$T_ERR" "has no points: rules"
t_run "$FERRY" relay --old "influx://127.0.0.1:$IPORT/home_assistant" --new "$NEW" \
	--spool "$T/spool-x" --cutover-db "$PGURL" --cutover-db "${PGURL}2"
assert_eq "--cutover-db twice: exit 2" "$T_RC" 2
assert_contains "it names both" "$T_ERR" "--cutover-db given twice"
t_run "$FERRY" relay --old "influx://127.0.0.1:$IPORT/home_assistant" --new "$NEW" \
	--spool "$T/spool-x" --db "$PGURL"
assert_eq "--db with a postgres:// URL: exit 2" "$T_RC" 2
assert_contains "it points to --cutover-db" "$T_ERR" "--cutover-db URL"
FERRY_RELAY_CUTOVER_DB=home_assistant t_run "$FERRY" relay --old "influx://127.0.0.1:$IPORT/home_assistant" \
	--new "$NEW" --spool "$T/spool-x"
assert_eq "FERRY_RELAY_CUTOVER_DB not a postgres:// URL: exit 2" "$T_RC" 2
assert_contains "it names the variable" "$T_ERR" "FERRY_RELAY_CUTOVER_DB"

relay_start --new "$NEW" --map "$T/map.yaml" --cutover-db "$PGURL"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_contains "the phase lives in the --db database: dual" "$T_OUT" '"dual"'

# ---- dual: Home Assistant's client, both layouts
t_run client "$T/acked-a" --empty-first --batches 6 --size 100 --tag a
assert_eq "HA client in dual: every batch acknowledged" "$T_OUT" "acked=6 failed=0"
check "spool drained" relay_drained
assert_eq "old database: Home Assistant's layout (a measurement per unit)" \
	"$(measurements "$IPORT" home_assistant)" "W °C"
assert_eq "new database: a measurement per domain" "$(measurements "$IPORT2" ha_v2)" "sensor"
assert_eq "the client's database is not made on the new server" \
	"$(curl -sS -XPOST "http://127.0.0.1:$IPORT2/query" --data-urlencode 'q=SHOW DATABASES' |
		grep -c '"home_assistant"' || true)" 0
assert_eq "old database: every point" "$(ifx_points)" 600
check "new database: the same points, values and fields, tags entity_id and unit" same_both
assert_eq "600 points compared" "$(wc -l <"$T/new.txt")" 600

# ---- kill -9 of the relay mid-stream with the new influxd down
"$FERRY_SRC/tests/services" stop-influx "$SVC2"
client "$T/acked-k" --batches 40 --size 50 --tag k --start-ns 1700000010000000000 --retry \
	>"$T/k-client.out" 2>&1 &
cpid=$!
for ((i = 0; i < 600; i++)); do
	[[ -s "$T/acked-k" && $(wc -l <"$T/acked-k") -ge 500 ]] && break
	sleep 0.05
done
spooled=$(relay_stat spool_records)
relay_stop KILL
check "the relay is killed with writes spooled for the new store ($spooled)" \
	test "$spooled" -gt 0
relay_start --new "$NEW" --map "$T/map.yaml" --cutover-db "$PGURL"
wait "$cpid"
assert_eq "kill -9: the client got every batch acknowledged in the end" \
	"$(cat "$T/k-client.out")" "acked=40 failed=0"
"$FERRY_SRC/tests/services" start-influx "$SVC2"
check "spool drained into the new influxd once it is back" relay_drained
check "kill -9: every acknowledged point is in the new database, mapped" acked_in_new "$T/acked-k"
check "kill -9: old and new hold the same points" same_both
assert_eq "2600 points compared" "$(wc -l <"$T/new.txt")" 2600

# ---- the phase, by hand, in the --db database: the new store primary, and back
relay_set_phase new-primary
t_run client "$T/acked-b" --batches 4 --size 100 --tag b --start-ns 1700000020000000000
assert_eq "HA client in new-primary: every batch acknowledged" "$T_OUT" "acked=4 failed=0"
check "spool drained" relay_drained
check "new-primary: old and new hold the same points" same_both
relay_set_phase dual   # a rollback
t_run client "$T/acked-c" --batches 2 --size 100 --tag c --start-ns 1700000030000000000
assert_eq "HA client in dual again" "$T_OUT" "acked=2 failed=0"
check "spool drained" relay_drained
check "dual again: old and new hold the same points" same_both
assert_eq "3200 points compared" "$(wc -l <"$T/new.txt")" 3200
# the whole history compared through the map by `ferry verify`
t_run "$FERRY" verify --map "$T/map.yaml" "influx://127.0.0.1:$IPORT/home_assistant" "$NEW"
assert_eq "ferry verify --map: old and new equal through the map" "$T_RC" 0

# ---- a cast the map refuses: a dead letter; the old store has the point
code=$(curl -sS -o "$T/w.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'events,domain=counter,entity_id=clicks value=2.5 1700000000000000000
events,domain=counter,entity_id=clicks value=3 1700000001000000000')
assert_eq "a write the map half refuses: 204 (the old store, primary, took it)" "$code" 204
check "spool drained" relay_drained
dl="$(sed -n 's/^FERRY_RELAY_SPOOL_DIR=//p' "$SVC/env")/dead-letters.ndjson"
assert_contains "the dead letter has the map's reason" "$(cat "$dl" 2>&1)" \
	"field 'value' value '2.5' cannot be cast to int exactly"
assert_contains "the dead letter has the client's line" "$(cat "$dl" 2>&1)" \
	'events,domain=counter,entity_id=clicks value=2.5 1700000000000000000'
assert_eq "the old store has both points" \
	"$(ifx_q 'SELECT count("value") FROM events' | grep -o '"values":\[\[[^]]*' | grep -o '[0-9]*$')" 2
assert_eq "the new store has the neighbour, cast to int, in the domain's measurement" \
	"$(curl -sS -XPOST "http://127.0.0.1:$IPORT2/query?db=ha_v2&epoch=ns" \
		--data-urlencode 'q=SELECT value FROM counter WHERE entity_id = '"'clicks'"' AND unit = '"'events'"'' |
		grep -o '"values":\[\[[^]]*')" '"values":[[1700000001000000000,3'

# ---- a mapped point influxd refuses (a field type conflict in ha_v2): a
# dead letter with influxd's reason and the client's line (the same shard
# group: InfluxDB 1.x types a field per shard), the neighbour (another
# measurement) written; the old store has both
curl -sS -XPOST "http://127.0.0.1:$IPORT2/write?db=ha_v2" \
	--data-binary 'switch,entity_id=conflict,unit=W value="on" 1699999999000000000'
code=$(curl -sS -o "$T/w.out" -w '%{http_code}' -XPOST "$RURL/write?db=home_assistant" \
	--data-binary 'W,domain=switch,entity_id=conflict value=1 1700000000000000000
W,domain=light,entity_id=fine value=2 1700000000000000000')
assert_eq "a write the new store half refuses: 204" "$code" 204
check "spool drained" relay_drained
assert_contains "the dead letter has influxd's reason" "$(cat "$dl" 2>&1)" "field type conflict"
assert_contains "the dead letter has the client's line, not the mapped one" "$(cat "$dl" 2>&1)" \
	'W,domain=switch,entity_id=conflict value=1 1700000000000000000'
assert_eq "the neighbour is in the new store" \
	"$(curl -sS -XPOST "http://127.0.0.1:$IPORT2/query?db=ha_v2" \
		--data-urlencode 'q=SELECT count(value) FROM light WHERE entity_id = '"'fine'"'' |
		grep -o '"values":\[\[[^]]*' | grep -o '[0-9]*$')" 1
assert_eq "the old store has both" \
	"$(ifx_q 'SELECT count("value") FROM "W" WHERE "domain" = '"'switch'"' OR "domain" = '"'light'"'' |
		grep -o '"values":\[\[[^]]*' | grep -o '[0-9]*$')" 2

t_run "$FERRY" verify --map "$T/map.yaml" "influx://127.0.0.1:$IPORT/home_assistant" "$NEW"
assert_eq "ferry verify --map: the refused points differ" "$T_RC" 1
assert_contains "it names the refused cast's measurement" "$T_OUT$T_ERR" "counter"
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_contains "cutover status: dual" "$T_OUT" '"dual"'

t_done
