#!/usr/bin/env bash
# relay_pmap.sh - `ferry relay --map FILE` with a point map: the relay's
# PostgreSQL rows (narrow, then wide) are the rows `ferry copy lp:// --map`
# writes for the same lines; a point the map refuses is a dead letter
# with the map's reason while its neighbours are written; InfluxDB gets
# the points as the client wrote them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_pmap
t_need pg
t_need influx

cat >"$T/map.yaml" <<'EOF'
points:
  - from: {measurement: "%", tags: {domain: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}", unit: "%"}
    fields:
      value: {cast: int}
  - from: "*.*"
    drop: true
  - from: {measurement: "*", tags: {domain: "*", entity_id: "*"}}
    to: "{tag.domain}"
    drop_tags: "*"
    tags: {entity_id: "{tag.entity_id}", unit: "{measurement}"}
    fields:
      friendly_name_str: {from: tag.friendly_name}
EOF
cat >"$T/all.lp" <<'EOF'
W,domain=sensor,entity_id=inverter value=1523.5,friendly_name_str="Inverter" 1700000000000000000
binary_sensor.door,domain=binary_sensor,entity_id=door state="on" 1700000000000000000
°C,domain=climate,entity_id=living,friendly_name=Living value=21.5,temperature=22 1700000000000000000
%,domain=sensor,entity_id=battery value=87 1700000000000000000
cpu,host=a usage=3 1700000000000000000
W,domain=sensor,entity_id=inverter value=1600,friendly_name_str="Inverter" 1700000060000000000
EOF
BAD='%,domain=sensor,entity_id=battery value=87.5 1700000060000000000'

relay_services
for layout in narrow wide; do
	relay_stop 2>/dev/null || true
	pg_q "postgres://postgres@127.0.0.1:$PGPORT/postgres" "DROP DATABASE IF EXISTS relay" >/dev/null
	pg_q "postgres://postgres@127.0.0.1:$PGPORT/postgres" "CREATE DATABASE relay" >/dev/null
	relay_start --layout "$layout" --map "$T/map.yaml"
	code=$(curl -sS -o "$T/w.out" -w '%{http_code}' -XPOST \
		"$RURL/write?db=home_assistant" --data-binary @"$T/all.lp")
	assert_eq "$layout: write 204" "$code" 204
	code=$(curl -sS -o "$T/w.out" -w '%{http_code}' -XPOST \
		"$RURL/write?db=home_assistant" --data-binary "$BAD
cpu,host=b usage=4 1700000060000000000")
	assert_eq "$layout: a write with a point the map refuses: 204 (the primary took it)" "$code" 204
	check "$layout: spool drained" relay_drained
	t_run "$FERRY" copy -q "lp://$T/all.lp" "$PGURL" --layout "$layout" --map "$T/map.yaml" \
		--schema c
	assert_eq "$layout: ferry copy through the map" "$T_RC" 0
	if [[ $layout == narrow ]]; then
		tables="telemetry_data"
	else
		tables="sensor climate cpu"
	fi
	for tb in $tables; do
		cols=$(pg_q "$PGURL" "SELECT string_agg(quote_ident(column_name), ',' ORDER BY column_name)
			FROM information_schema.columns WHERE table_schema = 'c' AND table_name = '$tb'")
		# the relay also has the neighbour of the refused point (cpu,host=b)
		assert_eq "$layout $tb: copy's rows minus the relay's" "$(pg_q "$PGURL" \
			"SELECT count(*) FROM (SELECT $cols FROM c.$tb EXCEPT ALL
			 SELECT $cols FROM public.$tb) x")" 0
	done
	assert_eq "$layout: the relay has copy's rows and the refused point's neighbour" \
		"$(pg_q "$PGURL" "SELECT (SELECT count(*) FROM public.${tables%% *}) -
			(SELECT count(*) FROM c.${tables%% *})")" \
		"$([[ $layout == narrow ]] && echo 1 || echo 0)"
	if [[ $layout == narrow ]]; then
		dropped="SELECT count(*) FROM telemetry_data WHERE measurement LIKE 'binary%'"
	else
		dropped="SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'binary%'"
	fi
	assert_eq "$layout: the dropped points are not in PostgreSQL" "$(pg_q "$PGURL" "$dropped")" 0
	dl="$(sed -n 's/^FERRY_RELAY_SPOOL_DIR=//p' "$SVC/env")/dead-letters.ndjson"
	assert_contains "$layout: the dead letter has the map's reason" "$(cat "$dl" 2>&1)" \
		"field 'value' value '87.5' cannot be cast to int exactly"
done
assert_eq "InfluxDB has the points as written" \
	"$(ifx_q 'SELECT count("value") FROM "%"' | grep -o '"values":\[\[[^]]*' | grep -o '[0-9]*$')" 2

t_done
