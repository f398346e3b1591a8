#!/usr/bin/env bash
# relay_same_id_restart.sh - a relay stopped cleanly (SIGTERM) and started
# again with the same relay_id, as a container restarts it: the same host
# name (a container's is its id, or a pod's name), the same pid (the
# entrypoint's: 1, or 2 under a shell) and the same --spool volume.
# relay_id is host:pid:spool, so the new process finds its own row with
# stopped_at set by its clean stop, and f6f5a6a's report (phase.c) takes
# that for a let-go by `ferry cutover forget-relay` and logs an error
# telling the operator to verify the stores.  Nothing was let go: the
# log has no forget-relay.
#
# Expected: no "was let go" error after a clean restart; the error only
# after a real forget-relay.  Needs unshare(1) and root (a pid namespace
# gives the relay the same pid on each start).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_same_id_restart
t_need pg
t_need influx
[[ $(id -u) == 0 ]] && command -v unshare >/dev/null || t_skip "needs root and unshare for a pid namespace"

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NS=""
ns_start() {   # the relay as pid 2 of a new pid namespace (sh is pid 1)
	setsid unshare --pid --fork --mount-proc sh -c "'$FERRY' relay --listen 127.0.0.1:$PORT \
		--old '$OLD' --new '$PGURL' --spool '$T/spool'; true" >>"$T/relay.log" 2>&1 </dev/null &
	NS=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ping") == 204 ]] && return 0
		sleep 0.1
	done
	return 1
}
ns_term() {    # SIGTERM to the relay (the child of the namespace's sh)
	local sh rel
	sh=$(pgrep -P "$NS" sh || true)
	rel=$(pgrep -P "$sh" ferry || true)
	[[ -n $rel ]] && kill -TERM "$rel"
	wait "$NS" 2>/dev/null || true
	NS=""
}
trap 'rc=$?; [[ -n $NS ]] && { kill -9 -- -$NS 2>/dev/null || true; }; (exit $rc); _t_on_exit' EXIT

t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 1s
assert_eq "prepare" "$T_RC" 0
if ns_start; then pass "the relay starts"; else fail "the relay starts"; fi
check "it reports" wait_sql "SELECT count(*) = 1 FROM ferry.relays WHERE stopped_at IS NULL"
id1=$(pg_q "$PGURL" "SELECT relay_id FROM ferry.relays")
ns_term
assert_eq "a clean stop says so" "$(pg_q "$PGURL" "SELECT stopped_at IS NOT NULL FROM ferry.relays WHERE relay_id = '$id1'")" t
if ns_start; then pass "the relay starts again"; else fail "the relay starts again"; fi
check "it reports again" wait_sql "SELECT count(*) = 1 FROM ferry.relays WHERE stopped_at IS NULL AND last_seen > now() - interval '5 seconds'"
assert_eq "the same relay_id (host:pid:spool)" "$(pg_q "$PGURL" "SELECT string_agg(relay_id, ',') FROM ferry.relays")" "$id1"
assert_eq "nobody let it go" "$(pg_q "$PGURL" "SELECT count(*) FROM ferry.cutover_log WHERE action = 'forget-relay'")" 0
sleep 1
assert_not_contains "no 'let go by forget-relay' error after a clean restart" "$(cat "$T/relay.log")" "was let go at"
ns_term
t_done
