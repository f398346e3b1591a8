#!/usr/bin/env bash
# Nothing lost, nothing doubled: kill -9 a copy again and again, restart
# PostgreSQL under it, run several workers on one job; each time the
# target must equal an uninterrupted copy (independent SQL checksums).
# Also: changed source refused, error budget + --rollback-on-abort.
source "$(dirname "$0")/lib.sh"
t_init copy_resume

sqlite3 src.db <<'EOF'
PRAGMA journal_mode=WAL;
CREATE TABLE meta(id INTEGER PRIMARY KEY, entity_id TEXT UNIQUE NOT NULL);
CREATE TABLE states(id INTEGER PRIMARY KEY, meta_id INTEGER REFERENCES meta(id), ts REAL, v REAL, s TEXT);
CREATE INDEX ix_states_meta_ts ON states(meta_id, ts);
CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
INSERT INTO meta SELECT value, 'sensor.s' || value FROM generate_series(1, 50);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO states SELECT i, 1 + i % 50, 1700000000 + i * 0.1, i * 0.37, CASE WHEN i % 1000 = 7 THEN CAST(x'ff' AS TEXT) ELSE 'v' || i END FROM n;
INSERT INTO kv SELECT 'k' || value, randomblob(16) FROM generate_series(1, 2000);
EOF
src="sqlite://$T/src.db"
# an independent checksum of a table's content, by its key order
sums() {
	pg_q "$1" "SELECT 'meta', count(*), md5(string_agg(m::text, '|' ORDER BY id)) FROM meta m;
		SELECT 'states', count(*), md5(string_agg(s::text, '|' ORDER BY id)) FROM states s;
		SELECT 'kv', count(*), md5(string_agg(k::text, '|' ORDER BY k)) FROM kv k;
		SELECT 'idx', count(*) FROM pg_indexes WHERE schemaname = 'public';
		SELECT 'fk', count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated;
		SELECT 'next', nextval(pg_get_serial_sequence('states', 'id'))"
}

ref=$(new_db resume_ref)
t_run "$FERRY" copy -q -j 1 --chunk-rows 10000 --rejects "$T/rej_ref" "$src" "$ref"
assert_eq "reference copy (one job) exit code (300 rejects)" "$T_RC" 3
want=$(sums "$ref")
echo "$want"

# parallel and chunked differently: the same target, the same rejects
url=$(new_db resume_parallel)
t_run "$FERRY" copy -q -j 4 --chunk-rows 7000 --batch-rows 999 --rejects "$T/rej_par" "$src" "$url"
assert_eq "parallel copy exit code" "$T_RC" 3
assert_eq "4 jobs, other chunks == 1 job" "$(sums "$url")" "$want"
assert_eq "parallel reject file == serial" "$(cat "$T/rej_par/rejects.ndjson")" "$(cat "$T/rej_ref/rejects.ndjson")"

# kill -9 on purpose inside a COPY, and during the post-load steps
url=$(new_db resume_targeted)
wait_for() {  # wait_for SQL: poll until it returns t (max ~20 s)
	local i
	for ((i = 0; i < 2000; i++)); do
		[[ "$(pg_q "$url" "$1" 2>/dev/null || true)" == t ]] && return 0
		sleep 0.01
	done
	return 1
}
"$FERRY" copy -q --chunk-rows 10000 --rejects "$T/rej_tk" "$src" "$url" >/dev/null 2>&1 &
pid=$!
check "a COPY was running" wait_for "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'COPY %'"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
assert_eq "killed inside a COPY: no chunk half-committed" \
	"$(pg_q "$url" "SELECT (SELECT count(*) FROM states) = coalesce((SELECT sum(rows_written) FROM ferry.progress WHERE state = 'done' AND stream = 'states'), 0)")" t
# autovacuum stays off on the tables ferry created until the post-load
# steps are done: a VACUUM of a loaded table made each build wait 1 s
relopts() { pg_q "$url" "SELECT coalesce(string_agg(DISTINCT array_to_string(reloptions, ','), ';'), '-') FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"; }
assert_eq "killed inside a COPY: autovacuum off on the created tables" "$(relopts)" \
	"autovacuum_enabled=off"
"$FERRY" copy -q --chunk-rows 10000 --rejects "$T/rej_tk" "$src" "$url" >/dev/null 2>&1 &
pid=$!
check "post-load steps were reached" wait_for "SELECT count(*) > 0 FROM ferry.steps"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "steps after the kill: $(pg_q "$url" "SELECT string_agg(state, ',' ORDER BY step) FROM ferry.steps")"
t_run "$FERRY" copy -q --chunk-rows 10000 --rejects "$T/rej_tk" "$src" "$url"
assert_eq "resumed after targeted kills" "$T_RC" 3
assert_eq "targeted kills: target == uninterrupted" "$(sums "$url")" "$want"
assert_eq "resumed to the end: autovacuum back on every created table" "$(relopts)" "-"

# a resumed run counts the rows it wrote apart from the job's totals, and
# its rate is of those rows
url=$(new_db resume_rate)
"$FERRY" copy -q -j 1 --chunk-rows 10000 --rejects "$T/rej_rt" "$src" "$url" >/dev/null 2>&1 &
pid=$!
check "a chunk was committed" wait_for "SELECT count(*) > 0 FROM ferry.progress WHERE state = 'done'"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
before=$(pg_q "$url" "SELECT coalesce(sum(rows_written), 0) FROM ferry.progress WHERE state = 'done'")
echo "rows committed before the kill: $before"
t_run "$FERRY" copy --json --chunk-rows 10000 --rejects "$T/rej_rt" "$src" "$url"
assert_eq "resumed: exit code" "$T_RC" 3
assert_eq "resumed: written this run = the job's rows less those committed before" \
	"$(printf '%s' "$T_OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["resumed"], d["written"] - d["written_this_run"])')" \
	"True $before"
t_run "$FERRY" copy --chunk-rows 10000 --rejects "$T/rej_rt" "$src" "$url"
assert_eq "a done job: no rows written, no rate" "$(printf '%s' "$T_OUT" | grep -c '^rate:' || true)" 0
assert_contains "a done job: totals from earlier runs" "$T_OUT" "totals include the rows earlier runs committed"

# 1. kill -9 at growing delays until a run completes by itself
url=$(new_db resume_kill)
kill_at_delays "0.05 0.1 0.15 0.2 0.25 0.3 0.4 0.5 0.6 0.7 0.8 1.0 1.2 1.5 2 3 5 10" \
	"$FERRY" copy -q --chunk-rows 10000 --rejects "$T/rej_kill" "$src" "$url"
check "killed at least five times" test "$KILLS" -ge 5
t_run "$FERRY" copy -q --chunk-rows 10000 --rejects "$T/rej_kill" "$src" "$url"
assert_eq "final run after kills" "$T_RC" 3
got=$(sums "$url")
assert_eq "killed and resumed == uninterrupted" "$got" "$want"
[[ "$got" == "$want" ]] || { echo "$T_OUT $T_ERR"; pg_q "$url" "SELECT step, stage, state, note, sql FROM ferry.steps ORDER BY step"; }
assert_eq "reject file identical" "$(cat "$T/rej_kill/rejects.ndjson")" "$(cat "$T/rej_ref/rejects.ndjson")"
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "ferry verify calls the killed-and-resumed target identical" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
pg_q "$url" "UPDATE states SET v = v + 1 WHERE id = 123457" >/dev/null
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "ferry verify catches one tampered value" "$T_RC" 1
assert_contains "ferry verify names the tampered key" "$T_OUT" "first difference at key 123457"
assert_eq "every chunk done once" "$(pg_q "$url" "SELECT count(*) FILTER (WHERE state <> 'done'), sum(rows_read) FROM ferry.progress")" "0|302050"

# 2. a changed source is refused while the job is unfinished; --restart starts over
# (the job is left unfinished by an error budget the source's rejects
# exceed, not by a kill after a guessed delay, which a slow machine can
# land before the job exists or a fast one after it has finished)
url=$(new_db resume_changed)
t_run "$FERRY" copy -q --chunk-rows 10000 --max-errors 0 "$src" "$url"
assert_eq "the error budget stops the first run" "$T_RC" 1
check "the first run left its job unfinished" test "$(pg_q "$url" "SELECT count(*) FROM ferry.jobs WHERE state <> 'done'")" = 1
cp src.db src2.db
sqlite3 src2.db "PRAGMA journal_mode=DELETE; INSERT INTO states(meta_id, ts, v, s) VALUES (1, 1, 1, 'new')" >/dev/null
pg_q "$url" "UPDATE ferry.jobs SET source = source" >/dev/null
t_run "$FERRY" copy -q --chunk-rows 10000 --job src "sqlite://$T/src2.db" "$url"
assert_eq "changed source refused" "$T_RC" 2
assert_contains "changed source message" "$T_ERR" "rerun with --restart"
t_run "$FERRY" copy -q --chunk-rows 10000 --job src --restart "sqlite://$T/src2.db" "$url"
assert_eq "--restart exit code" "$T_RC" 3
assert_eq "--restart copied the new source" "$(pg_q "$url" 'SELECT count(*) FROM states')" 299701

# 3. PostgreSQL restarted mid-copy: ferry reconnects and finishes, or a rerun does
t_own_pg
own=$(psql -XAtq -d "$OWN_PG_URL" -c "CREATE DATABASE resume_restart" >/dev/null && echo "${OWN_PG_URL%/*}/resume_restart")
"$FERRY" copy -q --chunk-rows 5000 --rejects "$T/rej_rs" "$src" "$own" >"$T/rs.out" 2>&1 &
pid=$!
sleep 0.5
"$FERRY_SRC/tests/services" restart-pg "$OWN_SVC" immediate >/dev/null 2>&1
wait "$pid" && rc=0 || rc=$?
echo "copy across a restart exited $rc"
cat "$T/rs.out" | tail -5
if [[ $rc -ne 3 ]]; then
	t_run "$FERRY" copy -q --chunk-rows 5000 --rejects "$T/rej_rs" "$src" "$own"
	rc=$T_RC
fi
assert_eq "copy across a PostgreSQL restart completes" "$rc" 3
assert_eq "restart: target == uninterrupted" "$(sums "$own")" "$want"

# 3a. exit 0 means durable: the server's commits are asynchronous here
# (tests/services) and its WAL writer now waits 10 s, so what ferry
# committed last sits in shared memory until a synchronous commit flushes
# it; PostgreSQL crashing right after ferry exits keeps every row, key and
# the job's end
pg_q "$OWN_PG_URL" "ALTER SYSTEM SET wal_writer_delay = '10s'; SELECT pg_reload_conf()" >/dev/null
own=$(psql -XAtq -d "$OWN_PG_URL" -c "CREATE DATABASE resume_durable" >/dev/null && echo "${OWN_PG_URL%/*}/resume_durable")
t_run "$FERRY" copy -q --chunk-rows 5000 "$src" "$own"
assert_eq "durable: copy exit code" "$T_RC" 3
"$FERRY_SRC/tests/services" restart-pg "$OWN_SVC" immediate >/dev/null 2>&1
assert_eq "durable: after a crash, target == uninterrupted" "$(sums "$own")" "$want"
assert_eq "durable: after a crash, the job is done" "$(pg_q "$own" "SELECT state FROM ferry.jobs")" done
pg_q "$OWN_PG_URL" "ALTER SYSTEM RESET wal_writer_delay; SELECT pg_reload_conf()" >/dev/null

# 3b. a chunk's commit lost after every worker ran out of chunks (chunks
# commit with synchronous_commit off; a crash can undo one): the waiting
# run copies it again instead of waiting for a worker that does not exist
url=$(new_db resume_lost)
t_run "$FERRY" copy -q --chunk-rows 10000 --job lost --rejects "$T/rej_lost" "$src" "$url"
sid=$(pg_q "$url" "SELECT stream_no FROM ferry.progress WHERE job = 'lost' AND stream = 'states' LIMIT 1")
read -r xlo xhi < <(pg_q "$url" "SELECT range_lo, range_hi FROM ferry.progress WHERE job = 'lost' AND stream_no = $sid ORDER BY range_lo LIMIT 1" | tr '|' ' ')
read -r ylo yhi < <(pg_q "$url" "SELECT range_lo, range_hi FROM ferry.progress WHERE job = 'lost' AND stream_no = $sid ORDER BY range_lo DESC LIMIT 1" | tr '|' ' ')
undo() {  # the rows, rejects and done mark of chunk LO..HI, as a lost commit leaves them
	echo "DELETE FROM states WHERE id BETWEEN $1 AND $2;
	DELETE FROM ferry.rejects WHERE job = 'lost' AND stream_no = $sid AND range_lo = $1;
	UPDATE ferry.progress SET state = 'pending', rows_read = NULL, rows_written = NULL,
		rows_rejected = NULL, bytes = NULL, hash = NULL WHERE job = 'lost' AND stream_no = $sid AND range_lo = $1;"
}
pg_q "$url" "$(undo "$xlo" "$xhi") $(undo "$ylo" "$yhi") UPDATE ferry.jobs SET state = 'loading' WHERE job = 'lost'" >/dev/null
# another session holds chunk X, so the run copies Y, then waits for X;
# once Y is done (and the run's workers have run out of chunks), that
# session loses Y's commit again and lets go of X
PGAPPNAME=ferry_hold psql -XAtq -v ON_ERROR_STOP=1 -d "$url" >"$T/hold.out" 2>&1 <<EOF &
BEGIN;
SELECT 1 FROM ferry.progress WHERE job = 'lost' AND stream_no = $sid AND range_lo = $xlo FOR UPDATE;
DO \$\$ BEGIN
	FOR i IN 1..6000 LOOP
		EXIT WHEN (SELECT state FROM ferry.progress WHERE job = 'lost' AND stream_no = $sid
			   AND range_lo = $ylo) = 'done';
		PERFORM pg_sleep(0.01);
	END LOOP;
END \$\$;
SELECT pg_sleep(1);
$(undo "$ylo" "$yhi")
COMMIT;
EOF
hold=$!
check "another session holds a chunk" wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'ferry_hold' AND query LIKE 'DO%')"
timeout 120 "$FERRY" copy --progress plain --chunk-rows 10000 --job lost --rejects "$T/rej_lost" "$src" "$url" >"$T/lost.out" 2>&1 &
pid=$!
wait "$hold" || echo "holder: $(cat "$T/hold.out")"
wait "$pid" && rc=0 || rc=$?
assert_eq "lost commit: the waiting run finishes" "$rc" 3
assert_contains "lost commit: reported" "$(cat "$T/lost.out")" "no worker holds them"
assert_eq "lost commit: target == uninterrupted" "$(sums "$url")" "$want"
assert_eq "lost commit: reject file identical" "$(cat "$T/rej_lost/rejects.ndjson")" "$(cat "$T/rej_ref/rejects.ndjson")"

# 4. three workers share one job
url=$(new_db resume_workers)
pids=()
for i in 1 2 3; do
	"$FERRY" copy -q --worker -j 1 --chunk-rows 10000 --rejects "$T/rej_w" "$src" "$url" >"$T/w$i.out" 2>&1 &
	pids+=($!)
done
wrc=0
for p in "${pids[@]}"; do wait "$p" || { r=$?; [[ $r -eq 3 ]] || wrc=$r; }; done
assert_eq "workers exit codes" "$wrc" 0
assert_eq "workers: target == single process" "$(sums "$url")" "$want"
# each worker writes the shared reject file through its own temp file
# (one name for all: a worker renamed another's away and failed)
assert_eq "workers: reject file == single process" "$(cat "$T/rej_w/rejects.ndjson")" "$(cat "$T/rej_ref/rejects.ndjson")"
# (job: the name of the job whose file it is)
assert_eq "workers: no temp file left" "$(ls "$T/rej_w" | tr '\n' ' ')" "job rejects.ndjson "
assert_eq "workers shared the chunks" "$(pg_q "$url" "SELECT count(DISTINCT worker) > 1 FROM ferry.progress")" t

# 5. error budget
url=$(new_db resume_budget)
t_run "$FERRY" copy -q --max-error-rate 0.0005 "$src" "$url"
assert_eq "budget exceeded exit code" "$T_RC" 1
assert_contains "budget message" "$T_ERR" "exceeds the error budget"
url=$(new_db resume_budget_rb)
t_run "$FERRY" copy -q --max-errors 10 --rollback-on-abort "$src" "$url"
assert_eq "--rollback-on-abort exit code" "$T_RC" 1
assert_eq "--rollback-on-abort dropped the tables" "$(pg_q "$url" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0
assert_eq "--rollback-on-abort forgot the job" "$(pg_q "$url" "SELECT count(*) FROM ferry.jobs")" 0
# into an existing table: only the job's rows go
url=$(new_db resume_budget_existing)
pg_q "$url" "CREATE TABLE states(id bigint PRIMARY KEY, meta_id bigint, ts float8, v float8, s text); INSERT INTO states VALUES (900000, 1, 1, 1, 'mine')"
t_run "$FERRY" copy -q --data-only --include states --max-errors 10 --rollback-on-abort "$src" "$url"
assert_eq "data-only abort exit code" "$T_RC" 1
assert_eq "data-only rollback kept the table's own rows only" "$(pg_q "$url" "SELECT string_agg(s, ',') FROM states")" mine

# 6. --snapshot reads a consistent copy and cleans up after itself
url=$(new_db resume_snapshot)
t_run env TMPDIR="$T" "$FERRY" copy -q --snapshot "$src" "$url"
assert_eq "--snapshot exit code" "$T_RC" 3
assert_eq "--snapshot left no temp file" "$(ls "$T" | grep -c ferry-snapshot || true)" 0
assert_eq "--snapshot content" "$(sums "$url")" "$want"
t_done
