#!/usr/bin/env bash
# ts_pmap.sh - point maps (--map FILE with points:) before the PostgreSQL
# layouts: Home-Assistant-shaped points from a line-protocol file and from
# the real influxd are mapped to a measurement per domain and land in the
# narrow and the wide layout; ferry verify through the map finds them
# equal; a value a cast cannot convert exactly is a reject naming its line
# while the rest loads; a rule that matches nothing is a warning naming
# its line; the example map does what it says.
source "$(dirname "$0")/lib.sh"
t_init ts_pmap

cat >"$T/ha.lp" <<'EOF'
W,domain=sensor,entity_id=inverter value=1523.5,friendly_name_str="Inverter" 1700000000000000000
W,domain=sensor,entity_id=inverter value=1600,friendly_name_str="Inverter" 1700000060000000000
binary_sensor.door,domain=binary_sensor,entity_id=door state="on" 1700000000000000000
°C,domain=climate,entity_id=living,friendly_name=Living value=21.5,temperature=22 1700000000000000000
%,domain=sensor,entity_id=battery value=87 1700000000000000000
%,domain=sensor,entity_id=battery value=87.5 1700000060000000000
cpu,host=a usage=3 1700000000000000000
EOF
cat >"$T/map.yaml" <<'EOF'
points:
  # a battery level is a whole percentage: 87.5 cannot be one
  - from: {measurement: "%", tags: {domain: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}", unit: "%"}
    fields:
      value: {cast: int}
  - from: kWh
    to: energy
  - from: {measurement: "*.*", tags: {domain: "*", entity_id: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}"}
  - from: {measurement: "*", tags: {domain: "*", entity_id: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}", unit: "{measurement}"}
    fields:
      friendly_name_str: {from: tag.friendly_name}
EOF
narrow_dump() {
	pg_q "$1" "select string_agg(concat_ws('|', time, series, measurement, field,
		numeric_value, integer_value, text_value, boolean_value, tags::text), E'\\n'
		order by time, series, measurement, field) from telemetry_data"
}

# ---- lp:// -> narrow through the map ------------------------------------------
u1=$(new_db ts_pmap_narrow)
t_run "$FERRY" copy --rejects "$T/rej" --map "$T/map.yaml" "lp://$T/ha.lp" "$u1"
assert_eq "copy exit code (a reject)" "$T_RC" 3
assert_eq "one row per field of the mapped points" \
	"$(pg_q "$u1" 'select count(*) from telemetry_data')" 10
assert_eq "measurements are domains; other points unchanged" \
	"$(pg_q "$u1" "select string_agg(distinct measurement, ',' order by measurement) from telemetry_data")" \
	"binary_sensor,climate,cpu,sensor"
assert_eq "unit tag from the measurement, entity_id kept, domain dropped" \
	"$(pg_q "$u1" "select tags::text from telemetry_data where field = 'value' and numeric_value = 1523.5")" \
	'{"unit": "W", "entity_id": "inverter"}'
assert_eq "a tag moved to a field" \
	"$(pg_q "$u1" "select text_value from telemetry_data where measurement = 'climate' and field = 'friendly_name_str'")" \
	"Living"
assert_eq "the cast made an integer" \
	"$(pg_q "$u1" "select integer_value from telemetry_data where series = 'battery'")" 87
assert_eq "one reject" "$(wc -l <"$T/rej/rejects.ndjson")" 1
rej=$(cat "$T/rej/rejects.ndjson")
assert_contains "the reject names line 6" "$rej" '"key":{"line":6}'
assert_contains "the reject says why, with the rule's line" "$rej" \
	"map.yaml:3: field 'value' value '87.5' cannot be cast to int exactly"
assert_contains "the unmatched rule is a warning with its line" "$T_OUT$T_ERR" \
	"map $T/map.yaml:9: rule from 'kWh' matched no point"
assert_not_contains "matched rules are not warned about" "$T_OUT$T_ERR" "rule from '%"
t_run "$FERRY" verify --map "$T/map.yaml" "lp://$T/ha.lp" "$u1"
assert_eq "verify lp -> pg narrow through the map" "$T_RC" 0
pg_q "$u1" "update telemetry_data set integer_value = 86 where series = 'battery'" >/dev/null
t_run "$FERRY" verify --map "$T/map.yaml" "lp://$T/ha.lp" "$u1"
assert_eq "verify through the map finds a changed value" "$T_RC" 1

# the map's content is in the resume fingerprint: an edited map is another job
t_run "$FERRY" copy -q --rejects "$T/rej" --map "$T/map.yaml" "lp://$T/ha.lp" "$u1"
assert_contains "rerun with the same map: the job is complete" "$T_OUT$T_ERR" "already complete"
cp "$T/map.yaml" "$T/map.yaml.orig"
sed -i 's/cast: int/cast: float/' "$T/map.yaml"
t_run "$FERRY" copy -q --rejects "$T/rej" --map "$T/map.yaml" "lp://$T/ha.lp" "$u1"
assert_eq "rerun with an edited map: refused" "$T_RC" 2
assert_contains "rerun with an edited map: says why" "$T_ERR" "other options"
mv "$T/map.yaml.orig" "$T/map.yaml"

# ---- lp:// -> wide through the map --------------------------------------------
u2=$(new_db ts_pmap_wide)
t_run "$FERRY" copy --rejects "$T/rej2" --layout wide --map "$T/map.yaml" "lp://$T/ha.lp" "$u2"
assert_eq "wide copy exit code (a reject)" "$T_RC" 3
assert_eq "a table per domain" \
	"$(pg_q "$u2" "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'public'")" \
	"binary_sensor,climate,cpu,sensor"
assert_eq "sensor's columns: the mapped tags and fields" \
	"$(pg_q "$u2" "select string_agg(column_name || ':' || data_type, ',' order by column_name) from information_schema.columns where table_name = 'sensor'")" \
	"entity_id:text,friendly_name_str:text,time:timestamp with time zone,unit:text,value:double precision"
assert_eq "sensor rows" \
	"$(pg_q "$u2" "select string_agg(entity_id || '/' || unit || '/' || value, ',' order by entity_id, time) from sensor")" \
	"battery/%/87,inverter/W/1523.5,inverter/W/1600"
assert_contains "wide: the reject names line 6" "$(cat "$T/rej2/rejects.ndjson")" '"key":{"line":6}'
t_run "$FERRY" verify --layout wide --map "$T/map.yaml" "lp://$T/ha.lp" "$u2"
assert_eq "verify lp -> pg wide through the map" "$T_RC" 0

# ---- influx:// -> narrow through the map: the same rows ------------------------
if [[ -n "${FERRY_INFLUX_URL:-}" ]]; then
	IURL="http://127.0.0.1:$FERRY_INFLUX_PORT"
	db=ferry_pmap_$RANDOM$RANDOM
	curl -sS -XPOST "$IURL/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
	code=$(curl -sS -o "$T/write.out" -w '%{http_code}' -XPOST \
		"$IURL/write?db=$db&precision=ns" --data-binary "@$T/ha.lp")
	assert_eq "influx write" "$code" 204
	u3=$(new_db ts_pmap_influx)
	t_run "$FERRY" copy --rejects "$T/rej3" --map "$T/map.yaml" \
		"influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u3"
	assert_eq "influx copy exit code (a reject)" "$T_RC" 3
	pg_q "$u1" "update telemetry_data set integer_value = 87 where series = 'battery'" >/dev/null
	assert_eq "influx and lp give the same mapped rows" "$(narrow_dump "$u3")" "$(narrow_dump "$u1")"
	assert_contains "influx: the reject says why" "$(cat "$T/rej3/rejects.ndjson")" \
		"value '87.5' cannot be cast to int exactly"
	t_run "$FERRY" verify --map "$T/map.yaml" "influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u3"
	assert_eq "verify influx -> pg through the map" "$T_RC" 0
	u4=$(new_db ts_pmap_influx_wide)
	t_run "$FERRY" copy -q --layout wide --map "$T/map.yaml" \
		"influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u4"
	assert_eq "influx wide copy exit code (a reject)" "$T_RC" 3
	assert_eq "influx wide: sensor rows" \
		"$(pg_q "$u4" "select string_agg(entity_id || '/' || unit || '/' || value, ',' order by entity_id, time) from sensor")" \
		"battery/%/87,inverter/W/1523.5,inverter/W/1600"
	t_run "$FERRY" verify --layout wide --map "$T/map.yaml" \
		"influx://127.0.0.1:$FERRY_INFLUX_PORT/$db" "$u4"
	assert_eq "verify influx -> pg wide through the map" "$T_RC" 0
fi

# ---- the example map ------------------------------------------------------------
u5=$(new_db ts_pmap_example)
t_run "$FERRY" copy -q --layout wide --map "$FERRY_SRC/examples/maps/ha-per-domain.yaml" \
	"lp://$T/ha.lp" "$u5"
assert_eq "example map copy" "$T_RC" 0
assert_eq "example: a table per domain" \
	"$(pg_q "$u5" "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'public'")" \
	"binary_sensor,climate,cpu,sensor"
assert_eq "example: climate keeps its attribute fields, unit as a tag" \
	"$(pg_q "$u5" "select entity_id || '/' || unit || '/' || value || '/' || temperature || '/' || friendly_name_str from climate")" \
	"living/°C/21.5/22/Living"

# ---- points: and a table map in one file: the points first, then the table ------
u7=$(new_db ts_pmap_table)
pg_q "$u7" "CREATE TABLE t (ts timestamptz, name text, num double precision)" >/dev/null
cat >"$T/both.yaml" <<'EOF'
points:
  - from: {measurement: "*", tags: {domain: "*"}}
    to: "{tag.domain}"
    fields:
      value: {scale: 2}
target: t
columns:
  ts: time
  name: "{measurement}.{field}"
  num: value.numeric
include:
  field: [value]
EOF
t_run "$FERRY" copy -q --map "$T/both.yaml" "lp://$T/ha.lp" "$u7"
assert_eq "points then table map: exit code" "$T_RC" 0
assert_eq "points then table map: rows" \
	"$(pg_q "$u7" "SELECT string_agg(name || '=' || num, ',' ORDER BY ts, name, num) FROM t")" \
	"climate.value=43,sensor.value=174,sensor.value=3047,sensor.value=175,sensor.value=3200"

# ---- a bad map: the file and line ---------------------------------------------------
printf 'points:\n  - from: W\n    colour: red\n' >"$T/bad.yaml"
u6=$(new_db ts_pmap_bad)
t_run "$FERRY" copy --map "$T/bad.yaml" "lp://$T/ha.lp" "$u6"
assert_eq "bad map: usage error" "$T_RC" 2
assert_contains "bad map: names the file, line and key" "$T_ERR" \
	"map '$T/bad.yaml' line 3: unknown key 'colour'"

t_done
