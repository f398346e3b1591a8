#!/usr/bin/env bash
# tests/data/make-ha-recorder.sh: HA's schema shape, consistent links,
# deterministic output.
source "$(dirname "$0")/lib.sh"
t_init ha_recorder_data
gen="$FERRY_SRC/tests/data/make-ha-recorder.sh"

check "generate 5000 rows" "$gen" "$T/a.db" 5000
check "generate again" "$gen" "$T/b.db" 5000
check "deterministic: byte-identical files" cmp "$T/a.db" "$T/b.db"
q() { sqlite3 "$T/a.db" "$1"; }

assert_eq "tables" "$(q "select group_concat(name, ' ') from (select name from sqlite_master
	where type = 'table' order by name)")" \
	"recorder_runs schema_changes sqlite_sequence state_attributes states states_meta statistics statistics_meta"
assert_eq "states" "$(q 'select count(*) from states')" 5000
assert_eq "entities" "$(q 'select count(*) from states_meta')" 50
assert_eq "entity kinds" "$(q "select group_concat(k || '=' || n, ' ') from (select
	substr(entity_id, 1, instr(entity_id, '.') - 1) k, count(*) n from states_meta group by 1 order by 1)")" \
	"binary_sensor=10 light=8 sensor=24 switch=8"
for ix in ix_states_metadata_id_last_updated_ts ix_states_last_updated_ts ix_states_context_id_bin \
	ix_states_attributes_id ix_states_old_state_id ix_state_attributes_hash ix_states_meta_entity_id \
	ix_statistics_statistic_id_start_ts; do
	assert_eq "index $ix" "$(q "select count(*) from sqlite_master where type = 'index' and name = '$ix'")" 1
done
assert_eq "states column types" "$(q "select group_concat(name || ' ' || type, ', ') from pragma_table_info('states')")" \
	"state_id INTEGER, entity_id CHAR(0), state VARCHAR(255), attributes CHAR(0), event_id SMALLINT, last_changed DATETIME, last_changed_ts FLOAT, last_reported_ts FLOAT, last_updated DATETIME, last_updated_ts FLOAT, old_state_id INTEGER, attributes_id INTEGER, context_id CHAR(0), context_user_id CHAR(0), context_parent_id CHAR(0), origin_idx SMALLINT, context_id_bin BLOB, context_user_id_bin BLOB, context_parent_id_bin BLOB, metadata_id INTEGER"
assert_eq "foreign keys resolve" "$(q 'pragma foreign_key_check')" ""
assert_eq "old_state_id is the previous state of the same entity" "$(q "select count(*) from states s
	where s.old_state_id is not (select max(p.state_id) from states p
	where p.metadata_id = s.metadata_id and p.state_id < s.state_id)")" 0
assert_eq "one chain start per entity" "$(q 'select count(*) from states where old_state_id is null')" 50
assert_eq "time increases along each chain" "$(q 'select count(*) from states s join states p
	on p.state_id = s.old_state_id where p.last_updated_ts >= s.last_updated_ts')" 0
assert_eq "timestamps carry microseconds" "$(q "select count(*) > 4000 from states
	where last_updated_ts * 1000000 % 1000 != 0")" 1
assert_eq "context ids are 16 bytes" "$(q 'select count(*) from states where length(context_id_bin) != 16')" 0
assert_eq "some context ids contain NUL bytes" "$(q "select count(*) > 0 from states where instr(context_id_bin, X'00') > 0")" 1
assert_eq "legacy text columns are NULL" "$(q 'select count(*) from states where entity_id is not null
	or attributes is not null or last_changed is not null or last_updated is not null or context_id is not null')" 0
assert_eq "attributes are valid JSON" "$(q 'select count(*) from state_attributes where not json_valid(shared_attrs)')" 0
assert_contains "units include °C" "$(q "select group_concat(distinct json_extract(shared_attrs, '$.unit_of_measurement')) from state_attributes")" "°C"
assert_eq "states are numbers, on/off or unavailable/unknown" "$(q "select count(*) from states
	where state not in ('on', 'off', 'unavailable', 'unknown')
	and not (state glob '[0-9]*.[0-9]' or state glob '-[0-9]*.[0-9]')")" 0
assert_eq "outdoor temperatures go below zero" "$(q "select count(*) > 0 from states where state glob '-*'")" 1
assert_eq "some unavailable" "$(q "select count(*) > 0 from states where state = 'unavailable'")" 1
assert_eq "statistics unique per (metadata_id, start_ts)" "$(q 'select count(*) - count(distinct metadata_id || ":" || start_ts) from statistics')" 0
assert_eq "statistics rows" "$(q 'select count(*) from statistics')" 18720
assert_eq "WAL mode" "$(q 'pragma journal_mode')" wal

t_run "$gen" "$T/c.db" 0
assert_eq "ROWS=0 is a usage error" "$T_RC" 2
check "no output file on error" test ! -e "$T/c.db"

t_done
