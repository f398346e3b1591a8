#!/usr/bin/env bash
# A Home-Assistant-recorder-shaped database copied the way a user would,
# then used the way Home Assistant uses it afterwards: inserts without ids.
source "$(dirname "$0")/lib.sh"
t_init copy_ha

"$FERRY_SRC/tests/data/make-ha-recorder.sh" "$T/ha.db" 20000 >/dev/null
url=$(new_db copy_ha)
t_run "$FERRY" copy --progress plain "sqlite://$T/ha.db" "$url"
assert_eq "exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_ERR"
for t in states_meta state_attributes states statistics_meta statistics recorder_runs schema_changes; do
	assert_eq "rows of $t" "$(pg_q "$url" "SELECT count(*) FROM $t")" "$(sqlite3 "$T/ha.db" "SELECT count(*) FROM $t")"
done
# exact floats: the same sum of all timestamps and values on both sides,
# computed from the exact bits
assert_eq "every last_updated_ts bit-exact" \
	"$(pg_q "$url" "SELECT md5(string_agg(float8send(last_updated_ts)::text, '' ORDER BY state_id)) FROM states")" \
	"$(sqlite3 "$T/ha.db" "SELECT state_id, printf('%!.17g', last_updated_ts) FROM states ORDER BY state_id" | python3 -c '
import sys, struct, hashlib
print(hashlib.md5("".join("\\x" + struct.pack(">d", float(l.split("|")[1])).hex() for l in sys.stdin).encode()).hexdigest())')"
assert_eq "context ids (blobs with NUL bytes) intact" \
	"$(pg_q "$url" "SELECT md5(string_agg(encode(context_id_bin, 'hex'), ',' ORDER BY state_id)) FROM states")" \
	"$(sqlite3 "$T/ha.db" "SELECT group_concat(lower(hex(context_id_bin)), ',') FROM (SELECT context_id_bin FROM states ORDER BY state_id)" | tr -d '\n' | md5sum | cut -d' ' -f1)"
# Home Assistant inserts without ids after the migration
max=$(pg_q "$url" 'SELECT max(state_id) FROM states')
new=$(pg_q "$url" "INSERT INTO states (metadata_id, state, last_updated_ts) VALUES (1, 'on', 1800000000.5) RETURNING state_id")
assert_eq "insert without state_id gets max+1" "$new" "$((max + 1))"
new=$(pg_q "$url" "INSERT INTO state_attributes (hash, shared_attrs) VALUES (1, '{}') RETURNING attributes_id")
check "insert without attributes_id works" test -n "$new"
new=$(pg_q "$url" "INSERT INTO statistics (metadata_id, start_ts, mean) VALUES (1, 1900000000, 1.5) RETURNING id")
check "AUTOINCREMENT table keeps counting" test "$new" -gt "$(sqlite3 "$T/ha.db" "SELECT seq FROM sqlite_sequence WHERE name = 'statistics'")"
assert_eq "sqlite_sequence itself is not copied" "$(pg_q "$url" "SELECT count(*) FROM pg_tables WHERE tablename = 'sqlite_sequence'")" 0
assert_eq "HA indexes recreated" "$(pg_q "$url" "SELECT count(*) FROM pg_indexes WHERE indexname IN ('ix_states_metadata_id_last_updated_ts', 'ix_states_last_updated_ts', 'ix_states_context_id_bin', 'ix_state_attributes_hash', 'ix_states_meta_entity_id')")" 5
assert_contains "summary printed" "$T_OUT" "total"
assert_contains "plain progress or summary lines on a non-TTY" "$T_OUT$T_ERR" "states"
t_done
