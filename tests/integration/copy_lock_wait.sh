#!/usr/bin/env bash
# ferry copy waiting on a lock another session holds: once a statement
# has waited 5 s ferry names the holder on the progress output (once per
# holder), goes on when it is released, and the summary keeps it as a
# warning.  1. a COPY into a table an idle transaction holds in SHARE
# mode; 2. an index build behind an open writer transaction (--json -q:
# a warning on stderr, and in the document); 3. ferry verify behind a
# LOCK TABLE; 4. a copy that waits for nothing says nothing.  Nothing is timed: each wait lasts until the
# message is there (polled, 120 s at most).
source "$(dirname "$0")/lib.sh"
t_init copy_lock_wait

sqlite3 src.db <<'EOF'
CREATE TABLE states(state_id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, state TEXT, last_updated_ts FLOAT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO states SELECT i, 'sensor.s' || (i % 7), CAST(i * 0.5 AS TEXT), 1700000000 + i / 10.0 FROM n;
CREATE INDEX ix_states_entity ON states(entity_id, last_updated_ts);
EOF
src="sqlite://$T/src.db"

# 1. the application's table, held by a transaction that locked it in
# SHARE mode (reads go on, writes wait) and went idle
url=$(new_db copy_lock_wait)
url1=$url
pg_q "$url" "CREATE TABLE states(state_id bigint PRIMARY KEY, entity_id text NOT NULL, state text, last_updated_ts double precision)"
pg_hold "$url" ferry_test_holder "BEGIN; LOCK TABLE states IN SHARE MODE;"
"$FERRY" copy --progress plain --data-only "$src" "$url" >"$T/1.out" 2>"$T/1.err" &
pid=$!
check "the wait is said" wait_text "$T/1.err" "copy: waiting "
err=$(cat "$T/1.err")
assert_contains "it names the lock, the statement and the holder" "$err" \
	"for a lock on table 'states' (COPY) held by pid $HOLD_PID (application 'ferry_test_holder', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
assert_contains "and what to do" "$err" "): end that session or it waits on; ferry goes on when it is released"
assert_eq "the copy is still waiting" "$(pg_q "$url" "SELECT count(*) FROM states")" 0
pg_hold_end
rc=0
wait "$pid" || rc=$?
assert_eq "released: the copy completes" "$rc" 0
assert_eq "released: every row" "$(pg_q "$url" "SELECT count(*) FROM states")" 5000
assert_eq "said once" "$(grep -c "waiting .* for a lock" "$T/1.err" || true)" 1
assert_contains "the summary keeps it" "$(cat "$T/1.out")" \
	"waited at least "
assert_contains "the summary names the holder" "$(cat "$T/1.out")" \
	"for a lock on table 'states' (COPY) held by pid $HOLD_PID (application 'ferry_test_holder'"

# 2. an index build behind a writer: the first run is stopped by its error
# budget after it made the table and before any index; a session updates
# the table (a writer, the table's ROW EXCLUSIVE lock) and goes idle; the
# rerun loads the rest (COPY takes the same lock: no wait) and its index
# build (SHARE) waits for the writer
cp src.db bad.db
sqlite3 bad.db "UPDATE states SET state = CAST(X'6f6e006f6666' AS TEXT) WHERE state_id = 5"
url=$(new_db copy_lock_wait_index)
t_run "$FERRY" copy -q --max-errors 0 --rejects "$T/rej" "sqlite://$T/bad.db" "$url"
assert_eq "over the error budget: stopped" "$T_RC" 1
assert_eq "no index yet" "$(pg_q "$url" "SELECT count(*) FROM pg_indexes WHERE tablename = 'states'")" 0
pg_hold "$url" ferry_test_writer "BEGIN; UPDATE states SET state = state WHERE state_id = 0;"
"$FERRY" copy --json -q --rejects "$T/rej" "sqlite://$T/bad.db" "$url" >"$T/2.out" 2>"$T/2.err" &
pid=$!
check "the index build's wait is said (a warning: -q)" wait_text "$T/2.err" "ferry: warning: waiting "
assert_contains "it names the build and the writer" "$(cat "$T/2.err")" \
	"for a lock on table 'states' (CREATE INDEX) held by pid $HOLD_PID (application 'ferry_test_writer', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
check "the rows are in while it waits" test "$(pg_q "$url" "SELECT count(*) FROM states")" -eq 4999
pg_hold_end
rc=0
wait "$pid" || rc=$?
assert_eq "released: the copy completes (one reject)" "$rc" 3
assert_eq "released: the indexes are built" \
	"$(pg_q "$url" "SELECT count(*) FROM pg_indexes WHERE tablename = 'states'")" 2
assert_eq "said once" "$(grep -c "waiting .* for a lock" "$T/2.err" || true)" 1
assert_eq "--json: a warning entry names the holder" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum("(CREATE INDEX) held by pid "+sys.argv[2]+" (application" in w for w in d.get("warnings", [])))' "$T/2.out" "$HOLD_PID")" 1

# 3. ferry verify, its reads behind a LOCK TABLE: said the same way
pg_hold "$url1" ferry_test_locker "BEGIN; LOCK TABLE states IN ACCESS EXCLUSIVE MODE;"
"$FERRY" verify --progress plain "$src" "$url1" >"$T/3.out" 2>"$T/3.err" &
pid=$!
check "verify: the wait is said" wait_text "$T/3.err" "verify: waiting "
assert_contains "verify: it names the lock and the holder" "$(cat "$T/3.err")" \
	"for a lock on table 'states' ("
assert_contains "verify: it names the holder" "$(cat "$T/3.err")" \
	") held by pid $HOLD_PID (application 'ferry_test_locker', user '$FERRY_PG_USER', 127.0.0.1, idle in transaction for "
pg_hold_end
rc=0
wait "$pid" || rc=$?
assert_eq "released: verify finds the copy equal" "$rc" 0

# 4. nothing waits: nothing said, and no statement ran long enough for
# the watch to open its connection (-vv logs when it does)
url=$(new_db copy_lock_wait_none)
t_run "$FERRY" -vv copy --progress plain "$src" "$url"
assert_eq "no wait: exit code" "$T_RC" 0
assert_not_contains "no wait: nothing said" "$T_ERR$T_OUT" "for a lock"
assert_not_contains "no wait: the watch never connected" "$T_ERR" "lock watch:"

t_done
