#!/usr/bin/env bash
# relay_partition.sh - relays the cutover cannot see, against a real
# InfluxDB (old), PostgreSQL (new) and two `ferry relay`s, relay B reaching
# PostgreSQL through a TCP forwarder (tcp_forward.py) that is killed and
# started again:
#   - B cut off from the cutover database keeps acknowledging writes in
#     old-only; the cutover must not record T0 without it (the points it
#     acknowledges after T0 would be in the old store only): the
#     relays-dual gate names it until it is back and follows dual;
#   - a relay stopped with SIGTERM says so (ferry.relays.stopped_at) and
#     holds nothing; one killed (kill -9) and started again on its spool
#     replaces its old row;
#   - a relay stopped with records its spool has not replayed holds the
#     spool-drained gate until it runs again and replays them.
# Being silent for long is pretended by moving B's last_seen back (the
# gates count a relay live for 30 s, and hold for a silent one until it
# runs again, says it stopped or is let go by forget-relay); a relay let
# go while only cut off says so in its log when it reports again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_partition
t_need pg
t_need influx
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
FWD=""
fwd_start() {
	# the file goes first: the background job truncates it only when it
	# runs, and the check below could read the last forwarder's line
	rm -f "$T/fwd.out"
	$PY "$FERRY_SRC/tests/integration/tcp_forward.py" "$FPORT" "$PGPORT" >"$T/fwd.out" 2>&1 &
	FWD=$!
	check "the forwarder listens" wait_for_file "$T/fwd.out"
}
wait_grep() { local i; for ((i = 0; i < 300; i++)); do grep -q "$1" "$2" && return 0; sleep 0.1; done; return 1; }
wait_for_file() { local i; for ((i = 0; i < 100; i++)); do [[ -s $1 ]] && return 0; sleep 0.1; done; return 1; }
B=""
b_start() {
	"$FERRY" relay --listen "127.0.0.1:$BPORT" --old "$OLD" \
		--new "postgres://postgres@127.0.0.1:$FPORT/relay" --spool "$T/spool-b" \
		>>"$T/relay-b.log" 2>&1 &
	B=$!
	check "relay B answers" wait_ping "$BPORT"
}
wait_ping() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ping") == 204 ]] && return 0
		sleep 0.1
	done
	return 1
}
b_write() {  # b_write TAG: one point through relay B, its HTTP status
	curl -sS -o /dev/null -w '%{http_code}' -XPOST "http://127.0.0.1:$BPORT/write?db=home_assistant" \
		--data-binary "W,entity_id=sensor.b_$1 value=1 $(date +%s%N)"
}
b_row() { echo "listen = '127.0.0.1:$BPORT' AND spool_id IS NOT NULL"; }
cleanup_b() {
	local p
	for p in $B $FWD; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	B="" FWD=""
}
# relay B and the forwarder go with the test, however it ends (lib.sh's
# own EXIT trap, which stops the servers, runs after with the exit code)
trap 'rc=$?; cleanup_b; (exit $rc); _t_on_exit' EXIT

cutover_setup 2000
FPORT=$(free_port)
BPORT=$(free_port)
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --soak 2s --chunk-time 1h
assert_eq "prepare" "$T_RC" 0
relay_start
fwd_start
b_start
check "both relays report" wait_sql "SELECT count(*) = 2 FROM ferry.relays WHERE stopped_at IS NULL"
assert_eq "relay B's row has its spool" "$(pg_q "$PGURL" "SELECT count(*) FROM ferry.relays WHERE $(b_row)")" 1

# ---- B cut off from PostgreSQL: it still acknowledges, in old-only
kill -9 "$FWD"
wait "$FWD" 2>/dev/null || true
assert_eq "B cut off: a write is acknowledged (old-only)" "$(b_write cut1)" 204
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '60 seconds' WHERE $(b_row)" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "prepare -> dual-write (B is not live)" "$T_RC" 0
check "relay A follows to dual" relay_phase_is dual
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '60 seconds' WHERE $(b_row)" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "dual-write -> backfill refused while B is silent" "$T_RC" 3
assert_contains "relays-dual fails" "$T_OUT" "fail   relays-dual"
assert_contains "it names the silent relay and its phase" "$T_OUT" "(old-only, last seen "
assert_contains "and says what to do" "$T_OUT" "start it again (or stop it: it then says so), or, if it will not run again, ferry cutover forget-relay ID"
assert_eq "no T0 recorded" "$(pg_q "$PGURL" "SELECT t0 IS NULL FROM ferry.cutover_plan")" t
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status: B not live" "$T_OUT" "old-only (not live), "
# silent for long: still held (until 2026-12-06 it was let go after 10
# minutes, and T0 was recorded while it acknowledged old-only)
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '3 hours' WHERE $(b_row)" >/dev/null
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_eq "B silent for 3 h: not live" \
	"$($PY -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for r in d["cutover"]["relays"] if r["live"]))' <<<"$T_OUT")" 1
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "B silent for 3 h: dual-write -> backfill still refused" "$T_RC" 3
assert_contains "it names B, silent for 3 h" "$T_OUT" "(old-only, last seen 108"
assert_contains "and how to let it go" "$T_OUT" "if it will not run again, ferry cutover forget-relay ID"
assert_eq "still no T0" "$(pg_q "$PGURL" "SELECT t0 IS NULL FROM ferry.cutover_plan")" t
t_run "$FERRY" cutover status --db "$PGURL" --json
assert_eq "status lists B, silent for 3 h (it holds the gates)" \
	"$($PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["cutover"]["relays"]))' <<<"$T_OUT")" 2
# four more silent relays: the gate names three and counts the rest
for k in 1 2 3 4; do
	pg_q "$PGURL" "INSERT INTO ferry.relays (relay_id, listen, last_seen, phase) VALUES ('zz-gone:$k:x', '', now() - interval '2 hours', 'old-only')" >/dev/null
done
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_contains "the gate names three silent relays and counts the others" "$T_OUT" "s ago) and 2 more (ferry cutover status lists them)"
pg_q "$PGURL" "DELETE FROM ferry.relays WHERE relay_id LIKE 'zz-gone:%'" >/dev/null

# ---- B back: it follows dual, and the gate passes with both
assert_eq "still cut off: acknowledged" "$(b_write cut2)" 204
fwd_start
check "B follows to dual once it reaches the database" \
	wait_sql "SELECT count(*) = 1 FROM ferry.relays WHERE $(b_row) AND phase = 'dual' AND last_seen > now() - interval '5 seconds'"
t_run "$FERRY" cutover advance --db "$PGURL" --progress none --wait --timeout 60s
assert_eq "dual-write -> backfill with B back" "$T_RC" 0
assert_contains "2 of 2 relays in dual" "$T_OUT" "2 of 2 live relays in dual"
assert_eq "T0 is B's switch (the later one)" \
	"$(pg_q "$PGURL" "SELECT t0 = (SELECT phase_since FROM ferry.relays WHERE $(b_row)) FROM ferry.cutover_plan")" t

# ---- the new store fails its writes: B's spool keeps them; B stopped (TERM)
pg_q "$PGURL" "CREATE FUNCTION fail_writes() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'the disk is on fire'; END \$\$;
CREATE TRIGGER fail_writes BEFORE INSERT ON telemetry_data FOR EACH STATEMENT EXECUTE FUNCTION fail_writes()" >/dev/null
assert_eq "B in dual, the new store failing: acknowledged (spooled)" "$(b_write spooled)" 204
kill -TERM "$B"
wait "$B" 2>/dev/null || true
B=""
assert_eq "B says it stopped, with the records its spool keeps" \
	"$(pg_q "$PGURL" "SELECT stopped_at IS NOT NULL AND spool_records > 0 FROM ferry.relays WHERE $(b_row)")" t
t_run "$FERRY" cutover status --db "$PGURL"
assert_contains "status: B stopped" "$T_OUT" "(stopped)"
pg_q "$PGURL" "DROP TRIGGER fail_writes ON telemetry_data" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "backfill -> validate (B stopped holds no phase gate)" "$T_RC" 0
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "validate -> switchover refused: B's spool" "$T_RC" 3
assert_contains "spool-drained names B's records" "$T_OUT" "may be in the spool of a relay that is not running"
b_start
check "B started again on its spool replays it" \
	wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.b_spooled'"
check "B's old row is replaced (one live row of two on its spool)" \
	wait_sql "SELECT count(*) FILTER (WHERE stopped_at IS NULL) = 1 AND count(*) = 2 FROM ferry.relays WHERE $(b_row)"

# ---- B cut off in dual, spooling, then killed: its last report said 0
# records, but it is not running and said nothing at its end
kill -9 "$FWD"
wait "$FWD" 2>/dev/null || true
assert_eq "B cut off in dual: acknowledged (spooled)" "$(b_write killed)" 204
kill -9 "$B"
wait "$B" 2>/dev/null || true
B=""
fwd_start
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '60 seconds' WHERE $(b_row) AND stopped_at IS NULL" >/dev/null
t_run "$FERRY" cutover advance --db "$PGURL" --progress none
assert_eq "validate -> switchover refused: the killed B's spool" "$T_RC" 3
assert_contains "spool-drained names the killed B" "$T_OUT" "may be in the spool of a relay that is not running"
b_start
check "B started again replays what it spooled cut off" \
	wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.b_killed'"
t_run "$FERRY" cutover advance --db "$PGURL" --progress none --wait --timeout 60s
assert_eq "validate -> switchover" "$T_RC" 0
assert_contains "spool drained" "$T_OUT" "pass   spool-drained"

# ---- A killed (kill -9) and started again: its old row is replaced
relay_stop KILL
relay_start
check "A's old row is marked stopped by its successor" \
	wait_sql "SELECT count(*) FILTER (WHERE stopped_at IS NULL) = 1 AND count(*) = 2 FROM ferry.relays WHERE listen = '127.0.0.1:$RPORT'"

# ---- forget-relay: a relay that will not run again is let go by hand
live_a=$(pg_q "$PGURL" "SELECT relay_id FROM ferry.relays WHERE listen = '127.0.0.1:$RPORT' AND stopped_at IS NULL")
t_run "$FERRY" cutover forget-relay "$live_a" --db "$PGURL"
assert_eq "forget-relay of a running relay: 1" "$T_RC" 1
assert_contains "it says to stop it" "$T_ERR" "it is running; stop it (SIGTERM) instead"
t_run "$FERRY" cutover forget-relay nosuch:1:x --db "$PGURL"
assert_eq "forget-relay of no such relay: 1" "$T_RC" 1
assert_contains "it says where to look" "$T_ERR" "no relay 'nosuch:1:x' in ferry.relays"
pg_q "$PGURL" "UPDATE ferry.relays SET spool_records = 3, stopped_at = NULL, last_seen = now() - interval '60 seconds' WHERE listen = '127.0.0.1:$RPORT' AND relay_id <> '$live_a'" >/dev/null
old_a=$(pg_q "$PGURL" "SELECT relay_id FROM ferry.relays WHERE listen = '127.0.0.1:$RPORT' AND relay_id <> '$live_a'")
t_run "$FERRY" cutover forget-relay "$old_a" --db "$PGURL" --by carol --json
assert_eq "forget-relay of a silent relay: 0" "$T_RC" 0
assert_eq "it says how many records were given up" "$(jget records_given_up)" 3
assert_eq "the row is stopped, no records" \
	"$(pg_q "$PGURL" "SELECT stopped_at IS NOT NULL AND spool_records = 0 FROM ferry.relays WHERE relay_id = '$old_a'")" t
assert_eq "it is logged" \
	"$(pg_q "$PGURL" "SELECT action || ' by ' || changed_by FROM ferry.cutover_log ORDER BY id DESC LIMIT 1")" "forget-relay by carol"

# ---- a relay let go by hand while only cut off comes back: it reports
# again (the gates count it) and its log says what the let-go may have cost
kill -9 "$FWD"
wait "$FWD" 2>/dev/null || true
live_b=$(pg_q "$PGURL" "SELECT relay_id FROM ferry.relays WHERE $(b_row) AND stopped_at IS NULL")
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '60 seconds' WHERE relay_id = '$live_b'" >/dev/null
t_run "$FERRY" cutover forget-relay "$live_b" --db "$PGURL"
assert_eq "forget-relay of the cut-off B: 0" "$T_RC" 0
fwd_start
check "B reports again: its row is live" \
	wait_sql "SELECT count(*) = 1 FROM ferry.relays WHERE relay_id = '$live_b' AND stopped_at IS NULL AND last_seen > now() - interval '5 seconds'"
check "B's log says it was let go and how to compare the stores" \
	grep -q "relay: $live_b was let go at .* (ferry cutover forget-relay) while it could not report (last report .*ferry verify OLD NEW --start " "$T/relay-b.log"
# the same, but the let-go B is killed and started again on its spool (a
# new process, a new id): the new one says it
kill -9 "$FWD"
wait "$FWD" 2>/dev/null || true
pg_q "$PGURL" "UPDATE ferry.relays SET last_seen = now() - interval '60 seconds' WHERE relay_id = '$live_b'" >/dev/null
t_run "$FERRY" cutover forget-relay "$live_b" --db "$PGURL"
assert_eq "forget-relay of the cut-off B again: 0" "$T_RC" 0
kill -9 "$B"
wait "$B" 2>/dev/null || true
fwd_start
b_start
check "the new B says the relay it replaces on its spool was let go" \
	wait_grep "the relay this one replaces on its spool, $live_b (let go at .*, last report .*), was let go by ferry cutover forget-relay" "$T/relay-b.log"

# every point B acknowledged is in both stores
for tag in cut1 cut2 spooled killed; do
	assert_eq "B's $tag point in InfluxDB" \
		"$(ifx_q "SELECT count(\"value\") FROM W WHERE entity_id = 'sensor.b_$tag'" | grep -c '"count"')" 1
	check "B's $tag point in PostgreSQL" \
		wait_sql "SELECT count(*) = 1 FROM telemetry_data WHERE series = 'sensor.b_$tag'"
done
cleanup_b
t_done
