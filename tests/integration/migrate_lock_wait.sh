#!/usr/bin/env bash
# ferry migrate and another session's lock: an ALTER TABLE behind a
# transaction left idle (a psql that read the table).  1. with
# --statement-lock-timeout the step gives up: the error names the step,
# the lock and the holder, the run is rolled back, the journal says
# failed; once the holder is gone a rerun applies it.  2. without it the
# step waits and, after 5 s, the holder is named under the step's line
# (and in --json's "warnings"); it goes on when the holder ends.  3. the
# option's usage errors.  4. the set-up before the first step (reading the
# journal table, --backup's pg_dump) gives up at the timeout too.  Nothing
# is timed: the holder stays until the message is there (polled, 120 s at
# most).
source "$(dirname "$0")/lib.sh"
t_init migrate_lock_wait

url=$(new_db migrate_lock_wait)
mkdir migrations
cat >migrations/0001_rooms.sql <<'SQL'
-- migrate:up
CREATE TABLE rooms (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO rooms VALUES (1, 'kitchen'), (2, 'garage');
-- migrate:down
DROP TABLE rooms;
SQL
printf 'ALTER TABLE rooms ADD COLUMN floor int;\n' >migrations/0002_floor.up.sql
printf 'ALTER TABLE rooms DROP COLUMN floor;\n' >migrations/0002_floor.down.sql
printf 'ALTER TABLE rooms ADD COLUMN area real;\n' >migrations/0003_area.up.sql
printf 'ALTER TABLE rooms DROP COLUMN area;\n' >migrations/0003_area.down.sql
t_run "$FERRY" migrate up --db "$url" --to 0001
assert_eq "0001 applied" "$T_RC" 0
has_col() {
	pg_q "$url" "SELECT count(*) FROM information_schema.columns WHERE table_name = 'rooms' AND column_name = '$1'"
}
last_outcome() {
	pg_q "$url" "SELECT outcome FROM ferry_migrations WHERE version = '$1' ORDER BY id DESC LIMIT 1"
}

# 1. --statement-lock-timeout: the step gives up and is rolled back
pg_hold "$url" ferry_test_reader "BEGIN; SELECT count(*) FROM rooms;"
t_run "$FERRY" migrate up --db "$url" --statement-lock-timeout 3s
assert_eq "timed out: exit code" "$T_RC" 1
assert_contains "the error names the step, the lock and the holder" "$T_ERR" \
	"'0002_floor' waited 3 s (--statement-lock-timeout) for a lock on table 'rooms' (ALTER TABLE) held by pid $HOLD_PID (application 'ferry_test_reader', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
assert_contains "and what to do" "$T_ERR" "and gave up: end that session or wait for it to finish"
assert_contains "the run was rolled back" "$T_ERR" "the target is as before"
assert_contains "the step's line says it failed" "$T_OUT" "-> 0002_floor ... FAILED"
assert_eq "the journal: failed, not applied" "$(last_outcome 0002)" failed
assert_eq "no column" "$(has_col floor)" 0
assert_contains "0003 never ran" "$T_OUT" "not run: 0003_area"
assert_not_contains "0003 never started" "$T_OUT" "-> 0003_area"
t_run "$FERRY" migrate status --db "$url"
assert_contains "status: failed" "$T_OUT" "failed   0002_floor"
assert_contains "status: the error" "$T_OUT" "for a lock on table 'rooms' (ALTER TABLE) held by pid $HOLD_PID"
pg_hold_end
t_run "$FERRY" migrate up --db "$url" --statement-lock-timeout 3s --to 0002
assert_eq "holder gone: the rerun applies it" "$T_RC" 0
assert_eq "the journal: applied" "$(last_outcome 0002)" applied
assert_eq "the column" "$(has_col floor)" 1

# 2. no timeout: the step waits, the holder is named, and it goes on
pg_hold "$url" ferry_test_reader "BEGIN; SELECT count(*) FROM rooms;"
"$FERRY" migrate up --json --db "$url" >"$T/2.json" 2>"$T/2.err" &
pid=$!
check "the wait is said" wait_text "$T/2.err" "waiting "
err=$(cat "$T/2.err")
assert_contains "under the step, it names the lock and the holder" "$err" \
	"-> 0003_area ... "$'\n'"   waiting "
assert_contains "the lock and the holder" "$err" \
	"for a lock on table 'rooms' (ALTER TABLE) held by pid $HOLD_PID (application 'ferry_test_reader', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
assert_contains "and what to do" "$err" "): end that session or migrate waits on"
assert_eq "still waiting: not applied" "$(has_col area)" 0
pg_hold_end
rc=0
wait "$pid" || rc=$?
assert_eq "released: applied" "$rc" 0
assert_contains "the step's line again, with its result" "$(cat "$T/2.err")" "-> 0003_area ... ok"
assert_eq "the column" "$(has_col area)" 1
assert_eq "the journal: applied" "$(last_outcome 0003)" applied
assert_eq "--json: the wait is a warning naming the holder" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["exit_code"], sum("(ALTER TABLE) held by pid "+sys.argv[2] in w for w in d.get("warnings", [])))' "$T/2.json" "$HOLD_PID")" "0 1"

# 3. usage
t_run "$FERRY" migrate up --db "$url" --statement-lock-timeout soon
assert_eq "not a duration: exit 2" "$T_RC" 2
assert_contains "not a duration: says so" "$T_ERR" "--statement-lock-timeout wants a duration"
t_run "$FERRY" migrate status --db "$url" --statement-lock-timeout 1s
assert_eq "status does not take it: exit 2" "$T_RC" 2
t_run "$FERRY" migrate down --db "$url" --statement-lock-timeout 500ms
assert_eq "down takes it" "$T_RC" 0
assert_eq "down reverted 0003" "$(has_col area)" 0

# 4. migrate's own set-up before any step waits on locks too: its journal
# table locked by another session (a LOCK TABLE, an ALTER or VACUUM FULL of
# it left in an open transaction).  It waited for ever even with
# --statement-lock-timeout; now reading the journal gives up like a step,
# naming what it read, the lock and the holder, and nothing runs.
# (timeout 120: only so that a run that hangs fails the test, not the suite)
printf 'ALTER TABLE rooms ADD COLUMN note text;\n' >migrations/0004_note.up.sql
printf 'ALTER TABLE rooms DROP COLUMN note;\n' >migrations/0004_note.down.sql
pg_hold "$url" ferry_test_admin "BEGIN; LOCK TABLE ferry_migrations IN ACCESS EXCLUSIVE MODE;"
t_run timeout 120 "$FERRY" migrate up --db "$url" --statement-lock-timeout 3s
assert_eq "journal locked: exit code" "$T_RC" 1
assert_contains "the error names the journal, the lock and the holder" "$T_ERR" \
	"reading the journal table 'ferry_migrations' waited 3 s (--statement-lock-timeout) for a lock on table 'ferry_migrations' (SELECT) held by pid $HOLD_PID (application 'ferry_test_admin', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
assert_contains "and that nothing ran" "$T_ERR" "and gave up: end that session or wait for it to finish; no step ran"
assert_not_contains "0004 never started" "$T_OUT" "-> 0004_note"
t_run timeout 120 "$FERRY" migrate down --db "$url" --statement-lock-timeout 2s
assert_eq "down, journal locked: exit code" "$T_RC" 1
assert_contains "down: the error names the journal" "$T_ERR" \
	"reading the journal table 'ferry_migrations' waited 2 s (--statement-lock-timeout) for a lock on table 'ferry_migrations' (SELECT) held by pid $HOLD_PID"
pg_hold_end
assert_eq "nothing changed: no column" "$(has_col note)" 0
assert_eq "nothing changed: 0003 still reverted" "$(has_col area)" 0
# a --backup's pg_dump waits for the tables' locks before any step: it
# gives up at the timeout as well, and says so (not "install pg_dump")
pg_hold "$url" ferry_test_reader "BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE;"
t_run timeout 120 "$FERRY" migrate up --db "$url" --backup --statement-lock-timeout 2s
assert_eq "pg_dump behind a lock: exit code" "$T_RC" 1
assert_contains "pg_dump behind a lock: the error says what it waited for" "$T_ERR" \
	"cannot back up '"
assert_contains "pg_dump behind a lock: and why it stopped" "$T_ERR" \
	"pg_dump waited 2 s (--statement-lock-timeout) for a lock another session holds and gave up"
assert_not_contains "pg_dump behind a lock: not the advice for a missing pg_dump" "$T_ERR" "install pg_dump"
assert_not_contains "pg_dump behind a lock: 0004 never started" "$T_OUT" "-> 0004_note"
assert_eq "pg_dump behind a lock: no backup of it left (its empty dump)" \
	"$(find . -path '*.ferry/backups/*' | wc -l)" 0
pg_hold_end
t_run "$FERRY" migrate up --db "$url" --statement-lock-timeout 3s
assert_eq "holders gone: applied" "$T_RC" 0
assert_eq "the columns" "$(has_col area)$(has_col note)" 11

t_done
