#!/usr/bin/env bash
# ferry copy/verify --map with tables: (relational maps): the two examples of
# examples/maps/ into the new applications' own PostgreSQL schemas, verify,
# kill -9 and rerun, and bad input naming the map line.
source "$(dirname "$0")/lib.sh"
t_init copy_relmap
ex="$FERRY_SRC/examples/maps"

# ---- (a) the inverter bridge -------------------------------------------------
sqlite3 "$T/old.db" < "$ex/inverter-bridge/old-schema.sql"
python3 - "$T/old.db" <<'PY'
import random, sqlite3, sys
random.seed(7)
c = sqlite3.connect(sys.argv[1])
rows = []
for i in range(12000):
    s = ['HM1500-A1', 'HM800-B2', 'HM300-C3', 'HMS2000-D4'][i % 4]
    for port in range(3):
        rows.append((s, port, round(random.uniform(0, 400), 2), round(random.uniform(20, 40), 2),
                     round(random.uniform(0, 50), 3), 1700000000 + i * 60))
c.executemany("insert into readings(serial, port, power, voltage, energy, ts) values (?,?,?,?,?,?)", rows)
c.executemany("insert into config values (?, ?)", [('mqtt_host', 'broker.local'), ('interval', '60')])
c.commit()
PY
map="$ex/inverter-bridge/map.yaml"
newdb() {  # a database with the new application's schema
	local u
	u=$(new_db "$1")
	pg_q "$u" "$(cat "$ex/inverter-bridge/schema.sql")" >/dev/null
	echo "$u"
}
# the target's content through the natural keys (ids are the target's own)
dump() {
	pg_q "$1" "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		SELECT i.serial || ',' || d.time || ',' || d.power_w || ',' || d.energy_kwh AS x
		FROM inverter_data d JOIN inverters i ON i.id = d.inverter_id
		UNION ALL SELECT i.serial || ',' || p.port || ',' || p.time || ',' || p.power_w || ',' || p.voltage_v
		FROM port_data p JOIN inverters i ON i.id = p.inverter_id
		UNION ALL SELECT serial || ',' || first_seen || ',' || model FROM inverters
		UNION ALL SELECT key || '=' || value FROM config) q"
}
url=$(newdb relmap_a)
t_run "$FERRY" copy --json "sqlite://$T/old.db" "$url" --map "$map"
assert_eq "inverter bridge: exit code" "$T_RC" 0
assert_contains "json summary names the tables" "$T_OUT" '"target": "port_data"'
assert_eq "inverters" "$(pg_q "$url" "SELECT string_agg(serial || ':' || model, ' ' ORDER BY id) FROM inverters")" \
	"HM1500-A1:unknown HM800-B2:unknown HM300-C3:unknown HMS2000-D4:unknown"
assert_eq "inverter_data rows (port 0)" "$(pg_q "$url" "SELECT count(*) FROM inverter_data")" 12000
assert_eq "port_data rows" "$(pg_q "$url" "SELECT count(*) FROM port_data")" 24000
assert_eq "Wh -> kWh, epoch -> timestamptz" "$(sqlite3 "$T/old.db" "SELECT energy FROM readings WHERE id = 4")" \
	"$(pg_q "$url" "SELECT energy_kwh * 1000 FROM inverter_data d JOIN inverters i ON i.id = d.inverter_id
		WHERE i.serial = 'HM800-B2' AND d.time = to_timestamp(1700000060)")"
assert_eq "foreign keys back and valid" "$(pg_q "$url" "SELECT count(*) FROM pg_constraint
	WHERE contype = 'f' AND convalidated AND conrelid::regclass::text IN ('inverter_data', 'port_data')")" 2
assert_eq "sequence past the max key" "$(pg_q "$url" "SELECT nextval('inverters_id_seq')")" 5
t_run "$FERRY" verify "sqlite://$T/old.db" "$url" --map "$map"
assert_eq "verify: equal" "$T_RC" 0
want=$(dump "$url")
pg_q "$url" "UPDATE port_data SET voltage_v = 0 WHERE id = 100" >/dev/null
t_run "$FERRY" verify "sqlite://$T/old.db" "$url" --map "$map"
assert_eq "verify: a changed row differs" "$T_RC" 1
assert_contains "verify names the table" "$T_OUT" "differs: table 'port_data'"

# kill -9 at growing delays, then a rerun: the same target
url=$(newdb relmap_kill)
kill_at_delays "0.05 0.1 0.15 0.2 0.3 0.4 0.5 0.7 1 2 5" \
	"$FERRY" copy -q -j 2 --chunk-rows 1500 "sqlite://$T/old.db" "$url" --map "$map"
check "killed at least twice" test "$KILLS" -ge 2
t_run "$FERRY" copy -q -j 2 --chunk-rows 1500 "sqlite://$T/old.db" "$url" --map "$map"
assert_eq "rerun after kill -9: exit code" "$T_RC" 0
assert_eq "rerun after kill -9: same target" "$(dump "$url")" "$want"
t_run "$FERRY" verify "sqlite://$T/old.db" "$url" --map "$map"
assert_eq "rerun after kill -9: verify equal" "$T_RC" 0

# ---- bad input -----------------------------------------------------------------
bad() {  # bad NAME: copy with $T/NAME.yaml into a fresh database
	local u
	u=$(newdb "relmap_$1")
	t_run "$FERRY" copy "sqlite://$T/old.db" "$u" --map "$T/$1.yaml"
	BAD_URL=$u
}
cat > "$T/col.yaml" <<'Y'
tables:
  inverters:
    from: readings
    columns:
      serial: serail
      first_seen: "datetime(ts, 'unixepoch')"
Y
bad col
assert_eq "missing source column: exit 2" "$T_RC" 2
assert_contains "missing source column: line and column" "$T_ERR" "line 5: table 'inverters': column 'serial' (serail) failed"
assert_contains "missing source column: sqlite says which" "$T_ERR" "no such column: serail"
assert_eq "missing source column: nothing loaded" "$(pg_q "$BAD_URL" "SELECT count(*) FROM inverters")" 0
sed 's/from: readings/from: readingz/; s/serail/serial/' "$T/col.yaml" > "$T/tab.yaml"
bad tab
assert_contains "missing source table" "$T_ERR" "line 3: table 'inverters': source table 'readingz' does not exist"
sed 's/from: readings/from: "SELECT nope FROM readings"/; s/serail/serial/' "$T/col.yaml" > "$T/query.yaml"
bad query
assert_contains "failing query" "$T_ERR" "line 3: table 'inverters': the from: query failed"
sed 's/serail/serial/; s/first_seen:/first_sen:/' "$T/col.yaml" > "$T/tcol.yaml"
bad tcol
assert_contains "missing target column" "$T_ERR" "line 6: target table 'inverters' has no column 'first_sen'"
cat > "$T/cycle.yaml" <<'Y'
tables:
  inverter_data:
    from: readings
    columns: {time: "datetime(ts, 'unixepoch')"}
    lookup:
      inverter_id: {from: serial, in: port_data.port, get: inverter_id}
  port_data:
    from: readings
    columns: {time: "datetime(ts, 'unixepoch')", port: port}
    lookup:
      inverter_id: {from: serial, in: inverter_data.inverter_id, get: inverter_id}
Y
bad cycle
assert_eq "cycle: exit 2" "$T_RC" 2
assert_contains "cycle: names both lookups" "$T_ERR" "'inverter_data' looks up 'port_data' (line 6), 'port_data' looks up 'inverter_data' (line 11)"
t_run "$FERRY" copy "sqlite://$T/old.db" "$BAD_URL" --map "$map" --include inverters
assert_eq "--include with a map: exit 2" "$T_RC" 2
assert_contains "--include with a map: why" "$T_ERR" "do not apply to map"
# a lookup that finds nothing, and values that do not fit: rejects
cat > "$T/rej.yaml" <<'Y'
tables:
  inverters:
    from: "SELECT serial, min(ts) AS t, min(id) AS k FROM readings WHERE serial <> 'HM300-C3' GROUP BY serial"
    key: k
    columns: {serial: serial, first_seen: "datetime(t, 'unixepoch')"}
  port_data:
    from: readings
    where: port > 0
    columns:
      port: "CASE WHEN id = 5 THEN 99999 ELSE port END"
      time: "datetime(ts, 'unixepoch')"
    lookup:
      inverter_id: {from: serial, in: inverters.serial}
Y
bad rej
assert_eq "rejects: exit 3" "$T_RC" 3
rej=$(cat "$T/ferry-rejects/old/rejects.ndjson")
assert_contains "lookup found nothing: the value" "$rej" "no row of 'inverters' has serial = 'HM300-C3'"
assert_contains "lookup found nothing: the map line" "$rej" "rej.yaml line 13"
assert_contains "a value that does not fit: the map line" "$rej" "rej.yaml line 10"
assert_contains "a value that does not fit: the source key" "$rej" '"key":{"rowid":5}'
assert_eq "the other rows loaded" "$(pg_q "$BAD_URL" "SELECT count(*) FROM port_data")" $((24000 - 6000 - 1))
t_run "$FERRY" verify "sqlite://$T/old.db" "$BAD_URL" --map "$T/rej.yaml"
assert_eq "verify counts the rejects, not differences" "$T_RC" 0
assert_contains "verify: rejected at copy" "$T_OUT" "6001"

# an error budget: aborted, the rows stay for a rerun with a larger one
url=$(newdb relmap_budget)
t_run "$FERRY" copy -q "sqlite://$T/old.db" "$url" --map "$T/rej.yaml" --max-error-rate 0.1
assert_eq "over the error budget: exit 1" "$T_RC" 1
assert_contains "over the error budget: says so" "$T_ERR" "exceeds the error budget"
t_run "$FERRY" copy -q "sqlite://$T/old.db" "$url" --map "$T/rej.yaml" --max-error-rate 0.5
assert_eq "a larger budget resumes" "$T_RC" 3
assert_eq "resumed: the same rows" "$(pg_q "$url" "SELECT count(*) FROM port_data")" $((24000 - 6000 - 1))
# --truncate: a copy again from the start into the same tables
t_run "$FERRY" copy -q "sqlite://$T/old.db" "$url" --map "$T/rej.yaml" --truncate
assert_eq "--truncate: exit 3" "$T_RC" 3
assert_eq "--truncate: not doubled" "$(pg_q "$url" "SELECT count(*) FROM port_data")" $((24000 - 6000 - 1))

# tables the target lacks are created from the map, typed
cat > "$T/create.yaml" <<'Y'
tables:
  daily_energy:
    from: >
      SELECT serial, date(ts, 'unixepoch') AS day, sum(energy) AS wh, min(id) AS k
      FROM readings WHERE port = 0 GROUP BY serial, day
    key: k
    columns:
      serial: serial
      day: {expr: day, type: date}
      wh: {expr: wh, type: double precision}
  raw:
    from: readings
    columns: {serial: serial, power: power, ts: ts}
    default: {active: true}
Y
url=$(new_db relmap_create)
t_run "$FERRY" copy "sqlite://$T/old.db" "$url" --map "$T/create.yaml"
assert_eq "created tables: exit code" "$T_RC" 0
assert_eq "created tables: types" "$(pg_q "$url" "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attrelid::regclass::text, attnum)
	FROM pg_attribute WHERE attrelid IN ('daily_energy'::regclass, 'raw'::regclass) AND attnum > 0")" \
	"serial text, day date, wh double precision, serial text, power double precision, ts bigint, active text"
assert_contains "created tables: the warning names the line" "$T_OUT$T_ERR" "create.yaml line 8: column 'daily_energy.serial' is created as text"
assert_eq "created tables: rows" "$(pg_q "$url" "SELECT count(*) FROM raw WHERE active = 'true'")" 36000
t_run "$FERRY" verify "sqlite://$T/old.db" "$url" --map "$T/create.yaml"
assert_eq "created tables: verify equal" "$T_RC" 0
# into SQLite
t_run "$FERRY" copy -q "sqlite://$T/old.db" "sqlite://$T/new.db" --map "$T/create.yaml"
assert_eq "into SQLite: exit code" "$T_RC" 0
assert_eq "into SQLite: rows" "$(sqlite3 "$T/new.db" "SELECT count(*) FROM raw")" 36000

# ---- (b) Home Assistant recorder -> telemetry ----------------------------------
"$FERRY_SRC/tests/data/make-ha-recorder.sh" "$T/ha.db" 20000 >/dev/null
hmap="$ex/ha-recorder/map.yaml"
hdb() {
	local u
	u=$(new_db "$1")
	pg_q "$u" "$(cat "$ex/ha-recorder/schema.sql")" >/dev/null
	echo "$u"
}
hdump() {
	pg_q "$1" "SELECT count(*) || ' ' || md5(string_agg(concat_ws(',', time, entity_id, domain, state,
		numeric_value, unit, attributes::text, source), '|' ORDER BY entity_id, time, state)) FROM telemetry"
}
url=$(hdb relmap_ha)
t_run "$FERRY" copy -q "sqlite://$T/ha.db" "$url" --map "$hmap"
assert_eq "recorder: exit code" "$T_RC" 0
assert_eq "recorder: every state but unavailable/unknown" "$(pg_q "$url" "SELECT count(*) FROM telemetry")" \
	"$(sqlite3 "$T/ha.db" "SELECT count(*) FROM states WHERE state NOT IN ('unavailable', 'unknown')")"
assert_eq "recorder: microseconds kept" "$(pg_q "$url" "SELECT extract(epoch FROM time)::numeric(20,6) FROM telemetry ORDER BY id LIMIT 1")" \
	"$(sqlite3 "$T/ha.db" "SELECT printf('%.6f', last_updated_ts) FROM states WHERE state NOT IN ('unavailable', 'unknown') ORDER BY state_id LIMIT 1")"
assert_eq "recorder: domains" "$(pg_q "$url" "SELECT string_agg(DISTINCT domain, ' ' ORDER BY domain) FROM telemetry")" \
	"binary_sensor light sensor switch"
t_run "$FERRY" verify "sqlite://$T/ha.db" "$url" --map "$hmap"
assert_eq "recorder: verify equal" "$T_RC" 0
want=$(hdump "$url")
url=$(hdb relmap_ha_kill)
kill_at_delays "0.05 0.1 0.2 0.3 0.5 1 2 5" \
	"$FERRY" copy -q --chunk-rows 1000 "sqlite://$T/ha.db" "$url" --map "$hmap"
t_run "$FERRY" copy -q --chunk-rows 1000 "sqlite://$T/ha.db" "$url" --map "$hmap"
assert_eq "recorder: rerun after kill -9" "$T_RC" 0
assert_eq "recorder: rerun after kill -9: same target" "$(hdump "$url")" "$want"
t_run "$FERRY" verify "sqlite://$T/ha.db" "$url" --map "$hmap"
assert_eq "recorder: after kill -9: verify equal" "$T_RC" 0
t_done
