#!/usr/bin/env bash
# durable_commits.sh - what ferry reports done survives a crash of
# PostgreSQL right after, on a server whose commits are asynchronous
# (tests/services runs with synchronous_commit off, as many a Raspberry Pi
# does): `ferry migrate up` (a SQL step with its journal row, an executable
# step whose effect is outside the database) and `ferry cutover set-phase`.
# The server's WAL writer waits 10 s here, so an asynchronous commit sits in
# shared memory until a synchronous one flushes it; an immediate stop loses
# it.  (copy_resume.sh checks the same of `ferry copy`.)  The private
# server runs nothing else: any synchronous commit of another client would
# flush these too.
source "$(dirname "$0")/lib.sh"
t_init durable_commits
t_own_pg

pg_q "$OWN_PG_URL" "ALTER SYSTEM SET wal_writer_delay = '10s'; SELECT pg_reload_conf()" >/dev/null
assert_eq "the server commits asynchronously" \
	"$(pg_q "$OWN_PG_URL" "SHOW synchronous_commit")" off
crash() { "$FERRY_SRC/tests/services" restart-pg "$OWN_SVC" immediate >/dev/null 2>&1; }
base=${OWN_PG_URL%/*}

# ---- migrate up: a SQL step and an executable step, then a crash
pg_q "$OWN_PG_URL" "CREATE DATABASE mig" >/dev/null
mkdir -p "$T/proj/migrations"
printf 'CREATE TABLE rooms (id int PRIMARY KEY);\nINSERT INTO rooms VALUES (1);\n' \
	>"$T/proj/migrations/0001_rooms.up.sql"
printf 'DROP TABLE rooms;\n' >"$T/proj/migrations/0001_rooms.down.sql"
cat >"$T/proj/migrations/0002_marker.sh" <<'EOF'
#!/bin/sh
# an effect outside the database: run twice, it would count 2
case "$1" in
forward) echo x >>"$2/marker" ;;
backward) rm -f "$2/marker" ;;
esac
EOF
chmod +x "$T/proj/migrations/0002_marker.sh"
t_run "$FERRY" migrate up --root "$T/proj" --dir "$T/proj/migrations" --db "$base/mig"
assert_eq "migrate up: exit code" "$T_RC" 0
crash
assert_eq "after a crash: the SQL step's table is there" \
	"$(pg_q "$base/mig" "SELECT count(*) FROM rooms" 2>&1)" 1
assert_eq "after a crash: the journal has both steps applied" \
	"$(pg_q "$base/mig" "SELECT string_agg(version || ' ' || outcome, ', ' ORDER BY version) FROM ferry_migrations" 2>&1)" \
	"0001 applied, 0002 applied"
t_run "$FERRY" migrate up --root "$T/proj" --dir "$T/proj/migrations" --db "$base/mig"
assert_eq "after a crash: up again has nothing to do" "$T_RC" 0
assert_eq "after a crash: the executable step ran once" "$(wc -l <"$T/proj/marker")" 1

# ---- cutover set-phase, then a crash
pg_q "$OWN_PG_URL" "CREATE DATABASE cut" >/dev/null
t_run "$FERRY" cutover set-phase dual --db "$base/cut"
assert_eq "set-phase dual: exit code" "$T_RC" 0
crash
t_run "$FERRY" cutover status --db "$base/cut" --json
assert_eq "after a crash: the phase set is kept" \
	"$(printf '%s' "$T_OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("phase"))' 2>&1)" dual

pg_q "$OWN_PG_URL" "ALTER SYSTEM RESET wal_writer_delay; SELECT pg_reload_conf()" >/dev/null
t_done
