#!/usr/bin/env bash
# tests/services stop-pg / start-pg / restart-pg: the same server comes back on
# the same port with its data, and a stopped server really refuses connections.
source "$(dirname "$0")/lib.sh"
t_init services_restart
svc="$FERRY_SRC/tests/services"

t_own_pg
check "own server is not the shared one" test "$OWN_PG_PORT" != "$FERRY_PG_PORT"
pg_q "$OWN_PG_URL" 'create table kept (x int); insert into kept select generate_series(1, 1000)'

check "stop-pg (fast)" "$svc" stop-pg "$OWN_SVC"
check "stopped server refuses connections" \
	bash -c '! psql -XAtq -d "$1" -c "select 1" 2>/dev/null' _ "$OWN_PG_URL"
t_run "$svc" status "$OWN_SVC"
assert_eq "status exits 1 while pg is down" "$T_RC" 1
check "stop-pg again is harmless" "$svc" stop-pg "$OWN_SVC"
check "start-pg" "$svc" start-pg "$OWN_SVC"
assert_eq "same port after start-pg" "$(pg_q "$OWN_PG_URL" 'show port')" "$OWN_PG_PORT"
assert_eq "data kept across a fast stop" "$(pg_q "$OWN_PG_URL" 'select count(*) from kept')" 1000

# An immediate stop is a crash for PostgreSQL: it must recover on start.
# (synchronous_commit is off for speed, so make the insert durable first.)
pg_q "$OWN_PG_URL" 'set synchronous_commit = on; insert into kept values (1001)'
check "restart-pg immediate (crash + recovery)" "$svc" restart-pg "$OWN_SVC" immediate
assert_eq "data kept across a crash" "$(pg_q "$OWN_PG_URL" 'select count(*) from kept')" 1001
check "crash recovery happened" grep -q 'not properly shut down' "$(sed -n 's/^FERRY_PG_LOG=//p' "$OWN_SVC/env")"

t_run "$svc" stop-pg "$OWN_SVC" sideways
assert_eq "bad stop mode is an error" "$T_RC" 1
assert_contains "bad stop mode says why" "$T_ERR" "unknown stop mode 'sideways'"

root=$(sed -n 's/^FERRY_SERVICES_ROOT=//p' "$OWN_SVC/env")
check "stop" "$svc" stop "$OWN_SVC"
check "stop removed the temp dir" test ! -e "$root"
check "stop removed env" test ! -e "$OWN_SVC/env"
# (a function, not bash -c: pgrep -f would match that bash's own arguments)
no_process_mentions() { ! pgrep -f -- "$1" >/dev/null; }
check "no server process left" no_process_mentions "$root"
check "second stop exits 0" "$svc" stop "$OWN_SVC"
t_run "$svc" start-pg "$OWN_SVC"
assert_eq "start-pg after stop is an error" "$T_RC" 1
assert_contains "start-pg after stop says what to do" "$T_ERR" "start $OWN_SVC"

t_done
