#!/usr/bin/env bash
# --data-only into a schema the application made itself (Home Assistant
# creates its PostgreSQL schema, then the user loads the SQLite history):
# foreign keys such as states.old_state_id -> states.state_id point from a
# chunk at rows of later chunks, so ferry takes the foreign keys (and the
# plain indexes of empty tables) off for the load and puts them back after
# it, validated, as recorded steps: an interrupted copy puts them back when
# rerun.
source "$(dirname "$0")/lib.sh"
t_init copy_data_only_fk

"$FERRY_SRC/tests/data/make-ha-recorder.sh" "$T/ha.db" 20000 >/dev/null
src="sqlite://$T/ha.db"

# the application's schema: ferry's own DDL, plus a table of the
# application's own that points at states (not loaded, empty)
app_schema() {
	"$FERRY" copy -q --schema-only --job schema "$src" "$1" >/dev/null
	pg_q "$1" "CREATE TABLE notes (id int PRIMARY KEY, state_id int REFERENCES states (state_id))" >/dev/null
	pg_q "$1" "CREATE INDEX notes_state_id ON notes (state_id)" >/dev/null
}
fks() {  # every foreign key with its validation
	pg_q "$1" "SELECT string_agg(conrelid::regclass || '.' || conname || ':' || convalidated, ' ' ORDER BY conname)
		FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
}
idx() {
	pg_q "$1" "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'"
}
counts() {
	local t out=""
	for t in states_meta state_attributes states statistics_meta statistics; do
		out+="$t=$(pg_q "$1" "SELECT count(*) FROM $t") "
	done
	echo "$out"
}
want_counts=""
for t in states_meta state_attributes states statistics_meta statistics; do
	want_counts+="$t=$(sqlite3 "$T/ha.db" "SELECT count(*) FROM $t") "
done

# 1. chunks side by side, several per table: no chunk waits for another
url=$(new_db fk_load)
app_schema "$url"
want_fks=$(fks "$url")
want_idx=$(idx "$url")
check "the schema has the foreign keys" test -n "$want_fks"
t_run "$FERRY" copy --data-only -j 4 --chunk-rows 1000 --job load "$src" "$url"
assert_eq "data-only into a schema with foreign keys: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "every row loaded" "$(counts "$url")" "$want_counts"
assert_eq "foreign keys back, validated, the application's own too" "$(fks "$url")" "$want_fks"
assert_eq "indexes back" "$(idx "$url")" "$want_idx"
assert_contains "says it took them off" "$T_OUT" "foreign keys from or to the tables loaded into were taken off"
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "verify: equal" "$T_RC" 0

wait_for() {  # wait_for SQL: poll until it returns t (max ~20 s)
	local i
	for ((i = 0; i < 2000; i++)); do
		[[ "$(pg_q "$url" "$1" 2>/dev/null || true)" == t ]] && return 0
		sleep 0.01
	done
	return 1
}

# 2. stopped after the load, before the keys are back (the error budget
# stops it there, as a kill would): the rerun puts them back.  The one
# rejected state leaves its successor's old_state_id without a row: that
# foreign key comes back NOT VALID with a warning, as in a normal copy.
cp "$T/ha.db" "$T/bad.db"
sqlite3 "$T/bad.db" "UPDATE states SET state = CAST(X'6f6e006f6666' AS TEXT) WHERE state_id = 5"
bad="sqlite://$T/bad.db"
url=$(new_db fk_resume)
app_schema "$url"
t_run "$FERRY" copy -q --data-only -j 4 --chunk-rows 1000 --job load --max-errors 0 --rejects "$T/rej" "$bad" "$url"
assert_eq "over the error budget: exit code" "$T_RC" 1
# the reject that went over the budget rolled back with its chunk: the
# file still names it (it did not exist at all before), and says where
assert_contains "over the error budget: the reject file names the row" \
	"$(cat "$T/rej/rejects.ndjson" 2>/dev/null)" '"key":{"rowid":5}'
assert_contains "over the error budget: the error says where it is" "$T_ERR" "$T/rej/rejects.ndjson"
assert_eq "stopped between the load and the restores: no foreign key" "$(fks "$url")" ""
check "the restores are recorded, pending" test "$(pg_q "$url" "SELECT count(*) FROM ferry.steps WHERE job = 'load' AND state = 'pending'")" -gt 0
# kill -9 in the middle of the restores: a session holds a lock that the
# foreign key of notes waits for (the load does not touch notes)
PGAPPNAME=ferry_test_lock psql -XAtq -d "$url" -c "BEGIN" \
	-c "LOCK TABLE notes IN SHARE UPDATE EXCLUSIVE MODE" -c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
lockpid=$!
check "the lock is held" wait_for "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'ferry_test_lock' AND query LIKE '%pg_sleep%'"
"$FERRY" copy -q --data-only -j 4 --chunk-rows 1000 --job load --rejects "$T/rej" "$bad" "$url" >/dev/null 2>&1 &
pid=$!
check "a restore waits for the lock" wait_for "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'notes'"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pg_q "$url" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
wait "$lockpid" 2>/dev/null || true
echo "after the kill: steps $(pg_q "$url" "SELECT string_agg(state, ',' ORDER BY step) FROM ferry.steps WHERE job = 'load'")"
check "killed between the restores: some are still pending" test "$(pg_q "$url" "SELECT count(*) FROM ferry.steps WHERE job = 'load' AND state = 'pending' AND step >= 1000000")" -gt 0
t_run "$FERRY" copy --data-only -j 4 --chunk-rows 1000 --job load --rejects "$T/rej" "$bad" "$url"
assert_eq "rerun: completes with the reject" "$T_RC" 3
assert_eq "rerun: the reject once in the file" "$(grep -c . "$T/rej/rejects.ndjson")" 1
[[ $T_RC -eq 3 ]] || echo "$T_OUT $T_ERR"
assert_eq "rerun: foreign keys back (the orphaned one NOT VALID)" "$(fks "$url")" \
	"$(sed 's/states.states_old_state_id_fkey:true/states.states_old_state_id_fkey:false/' <<<"$want_fks")"
assert_contains "rerun: the orphans are named in a warning" "$T_OUT" "foreign key added NOT VALID"
assert_eq "rerun: indexes back" "$(idx "$url")" "$want_idx"
assert_eq "rerun: the job is done" "$(pg_q "$url" "SELECT state FROM ferry.jobs WHERE job = 'load'")" done

# 3. kill -9 once the job is recorded (the keys are off), then rerun
url=$(new_db fk_kill)
app_schema "$url"
"$FERRY" copy -q --data-only -j 4 --chunk-rows 500 --job load "$src" "$url" >/dev/null 2>&1 &
pid=$!
check "the job was recorded" wait_for "SELECT count(*) > 0 FROM ferry.steps WHERE job = 'load'"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "after the kill: foreign keys '$(fks "$url")', steps $(pg_q "$url" "SELECT string_agg(state, ',' ORDER BY step) FROM ferry.steps WHERE job = 'load'")"
t_run "$FERRY" copy -q --data-only -j 4 --chunk-rows 500 --job load "$src" "$url"
assert_eq "killed and rerun: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "killed and rerun: every row" "$(counts "$url")" "$want_counts"
assert_eq "killed and rerun: foreign keys back, validated" "$(fks "$url")" "$want_fks"
assert_eq "killed and rerun: indexes back" "$(idx "$url")" "$want_idx"

# 4. --restart of a job stopped with its keys off puts them back first
url=$(new_db fk_restart)
app_schema "$url"
t_run "$FERRY" copy -q --data-only -j 4 --chunk-rows 1000 --job load --max-errors 0 --rejects "$T/rej2" "$bad" "$url"
assert_eq "restart case: stopped by the budget" "$T_RC" 1
pg_q "$url" "TRUNCATE states, states_meta, state_attributes, statistics, statistics_meta, recorder_runs, schema_changes" >/dev/null
t_run "$FERRY" copy -q --data-only -j 4 --chunk-rows 1000 --job load --restart "$src" "$url"
assert_eq "restart: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "restart: foreign keys back, validated" "$(fks "$url")" "$want_fks"
assert_eq "restart: indexes back" "$(idx "$url")" "$want_idx"
assert_eq "restart: every row" "$(counts "$url")" "$want_counts"
# 5. the README's recipe with the default job names: --schema-only, then
# --data-only (the schema job is '<name>-schema', so the load is its own job)
url=$(new_db fk_recipe)
t_run "$FERRY" copy -q --schema-only "$src" "$url"
assert_eq "recipe: --schema-only" "$T_RC" 0
assert_eq "recipe: the schema job's name" "$(pg_q "$url" "SELECT string_agg(job, ' ') FROM ferry.jobs")" ha-schema
t_run "$FERRY" copy -q --data-only -j 4 --chunk-rows 1000 "$src" "$url"
assert_eq "recipe: --data-only" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "recipe: every row" "$(counts "$url")" "$want_counts"
check "recipe: foreign keys back" test "$(pg_q "$url" "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated AND connamespace = 'public'::regnamespace")" -eq 4
t_done
