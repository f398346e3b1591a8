#!/usr/bin/env bash
# A relational map (--map with tables:) over a PostgreSQL source: the
# inverter bridge's old schema, kept in PostgreSQL, reshaped into the new
# application's schema by the example map in PostgreSQL's dialect
# (to_timestamp instead of SQLite's datetime(.., 'unixepoch')); copy,
# verify --map, a changed row found, kill -9 and rerun giving the same
# target.
source "$(dirname "$0")/lib.sh"
t_init pg_source_map

ex="$FERRY_SRC/examples/maps/inverter-bridge"
src=$(new_db pgmap_src)
pg_q "$src" "$(cat "$ex/old-schema.sql")
INSERT INTO readings
SELECT row_number() OVER (ORDER BY i, port), (ARRAY['HM1500-A1', 'HM800-B2', 'HM300-C3', 'HMS2000-D4'])[i % 4 + 1],
  port, round((random() * 400)::numeric, 2), round((random() * 40)::numeric, 2),
  round((random() * 50)::numeric, 3), 1700000000 + i * 60
FROM generate_series(0, 11999) i, generate_series(0, 2) port;
INSERT INTO config VALUES ('mqtt_host', 'broker.local'), ('interval', '60');" >/dev/null
sed "s/datetime(\([a-z_]*\), 'unixepoch')/to_timestamp(\1)/" "$ex/map.yaml" > map.yaml
check "the map is in PostgreSQL's dialect" grep -q "to_timestamp(first_ts)" map.yaml

newdb() {  # a database with the new application's schema
	local u
	u=$(new_db "$1")
	pg_q "$u" "$(cat "$ex/schema.sql")" >/dev/null
	echo "$u"
}
content() { bridge_content "$1"; }   # lib.sh

url=$(newdb pgmap_a)
t_run "$FERRY" copy -q --chunk-rows 5000 "$src" "$url" --map map.yaml
assert_eq "copy --map from PostgreSQL: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_ERR"
assert_eq "inverters" "$(pg_q "$url" "SELECT string_agg(serial || ':' || model || ':' || first_seen, ' ' ORDER BY id) FROM inverters")" \
	"HM1500-A1:unknown:2023-11-14 22:13:20+00 HM800-B2:unknown:2023-11-14 22:14:20+00 HM300-C3:unknown:2023-11-14 22:15:20+00 HMS2000-D4:unknown:2023-11-14 22:16:20+00"
assert_eq "rows per table" "$(pg_q "$url" "SELECT (SELECT count(*) FROM inverter_data) || ',' || (SELECT count(*) FROM port_data) || ',' || (SELECT count(*) FROM config)")" \
	"12000,24000,2"
assert_eq "Wh -> kWh, epoch -> timestamptz, exactly" \
	"$(pg_q "$src" "SELECT (energy / 1000.0)::float8 FROM readings WHERE serial = 'HM800-B2' AND port = 0 AND ts = 1700000060")" \
	"$(pg_q "$url" "SELECT energy_kwh FROM inverter_data d JOIN inverters i ON i.id = d.inverter_id
		WHERE i.serial = 'HM800-B2' AND d.time = to_timestamp(1700000060)")"
want=$(content "$url")
t_run "$FERRY" verify "$src" "$url" --map map.yaml
assert_eq "verify --map: equal" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
pg_q "$url" "UPDATE port_data SET voltage_v = 0 WHERE id = 100" >/dev/null
t_run "$FERRY" verify "$src" "$url" --map map.yaml
assert_eq "verify --map: a changed row is a difference" "$T_RC" 1
assert_contains "names the table" "$T_OUT" "port_data"

# kill -9 and rerun: the same target
url=$(newdb pgmap_kill)
# while the table slow_gate exists, each row into port_data takes 10 ms,
# so the kill lands inside a COPY however fast the machine is
pg_q "$url" "CREATE TABLE slow_gate ();
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF to_regclass('public.slow_gate') IS NOT NULL THEN PERFORM pg_sleep(0.01); END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER slow_row BEFORE INSERT ON port_data FOR EACH ROW EXECUTE FUNCTION slow_row();" >/dev/null
"$FERRY" copy -q --chunk-rows 2000 "$src" "$url" --map map.yaml >/dev/null 2>&1 &
pid=$!
check "a COPY was running" pg_wait "$url" "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY %'"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pg_q "$url" "DROP TABLE slow_gate" >/dev/null
kill_at_delays "0.2 0.4 0.8 1.5 3" "$FERRY" copy -q --chunk-rows 2000 "$src" "$url" --map map.yaml
t_run "$FERRY" copy -q --chunk-rows 2000 "$src" "$url" --map map.yaml
assert_eq "rerun after kills: exit code" "$T_RC" 0
assert_eq "killed and resumed == uninterrupted" "$(content "$url")" "$want"

# a key that is not an integer: a clear error naming it
sed 's/key: first_id .*/key: serial/' map.yaml > badkey.yaml
url=$(newdb pgmap_bad)
t_run "$FERRY" copy -q "$src" "$url" --map badkey.yaml
assert_eq "a text key is refused" "$T_RC" 1
assert_contains "names the key" "$T_ERR" "key 'serial' is text, not an integer"

t_done
