#!/usr/bin/env bash
# relay_late_deadlock.sh - two relays in dual (behind one load balancer)
# replaying late points of overlapping minutes at once: each replay
# transaction ends with store_position's INSERT INTO ferry.relay_late
# ... SELECT DISTINCT m, mi FROM unnest(...) ON CONFLICT DO NOTHING,
# whose rows come in the order of a hash aggregate (not sorted), so two
# transactions can take the (measurement, minute) keys in opposite
# orders: "deadlock detected", the replay batch rolled back, retried
# after a second, and counted as a failed write to the new store (the
# error-rate-new gate).  Probabilistic (about one in a few hundred
# batches here); a few rounds with fresh minutes.
#
# Expected: no deadlock (the keys inserted in one order, e.g. ORDER BY).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_late_deadlock
t_need pg
t_need influx

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BPORT=$(free_port)
B=""
trap 'rc=$?; [[ -n $B ]] && { kill -9 "$B" 2>/dev/null; wait "$B" 2>/dev/null; }; (exit $rc); _t_on_exit' EXIT
relay_start
"$FERRY" relay --listen "127.0.0.1:$BPORT" --old "$OLD" --new "$PGURL" --spool "$T/spool-b" >>"$T/relay-b.log" 2>&1 &
B=$!
relay_set_phase dual
check "relay B follows to dual" wait_sql "SELECT count(*) = 2 FROM ferry.relays WHERE phase = 'dual' AND last_seen > now() - interval '20 seconds'"

cat >"$T/storm.py" <<'PYEOF'
import random, sys, time, urllib.request, base64
port, seed, n, ago = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(seed)
now = int(time.time())
auth = "Basic " + base64.b64encode(b"root:root").decode()
bad = 0
for b in range(n):
    lines = []
    for i in range(r.randrange(50, 400)):
        m = r.choice(["W", "kWh", "%"])
        t = now - ago - r.randrange(0, 10 * 86400)
        lines.append("%s,entity_id=sensor.storm%d value=%d %d%09d" % (m, r.randrange(50), r.randrange(1000), t, r.randrange(10**9)))
    req = urllib.request.Request("http://127.0.0.1:%d/write?db=home_assistant" % port,
                                 data="\n".join(lines).encode(), headers={"Authorization": auth})
    try:
        urllib.request.urlopen(req).read()
    except Exception as e:
        bad += 1
print("port %d: %d batches, %d failed" % (port, n, bad))
PYEOF
alog=$(sed -n 's/^FERRY_RELAY_LOG=//p' "$SVC/env")
deadlocks() { cat "$alog" "$T/relay-b.log" | grep -c "deadlock detected" || true; }
for round in 1 2 3; do
	ago=$((round * 20 * 86400))
	$PY "$T/storm.py" "$RPORT" $((round * 2)) 300 $ago &
	p1=$!
	$PY "$T/storm.py" "$BPORT" $((round * 2 + 1)) 300 $ago &
	p2=$!
	wait $p1 $p2
	check "round $round: both spools replayed" \
		wait_sql "SELECT count(*) = 2 FROM ferry.relays WHERE spool_records = 0 AND last_seen > now() - interval '12 seconds'"
	[[ $(deadlocks) -gt 0 ]] && break
done
grep -h "deadlock detected" "$alog" "$T/relay-b.log" | head -2 || true
assert_eq "no deadlock between the relays' ferry.relay_late inserts" "$(deadlocks)" 0
kill -TERM "$B"; wait "$B" 2>/dev/null || true; B=""

# A sink opening on tables that exist (a relay starting, or `ferry cutover
# advance` reading the old store's points into the seam) ran its set-up
# DDL in one transaction: ALTER TABLE ferry.relay_spool (ACCESS
# EXCLUSIVE), then CREATE INDEX IF NOT EXISTS on ferry.relay_seen
# (SHARE), taken even when nothing was missing.  A relay's write holds
# relay_seen and then wants relay_spool: "deadlock detected" (cutover_steps'
# backfill failed so twice).  Here a transaction shaped like that write
# holds relay_seen while relay C starts, then wants relay_spool.
CPORT=$(free_port)
psql -XAtq -d "$PGURL" -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "INSERT INTO ferry.relay_seen (h) VALUES ('deadlock-probe')" -c "SELECT pg_sleep(3)" \
	-c "UPDATE ferry.relay_spool SET seq = seq WHERE false" -c "ROLLBACK" >"$T/probe.out" 2>&1 &
probe=$!
sleep 1
"$FERRY" relay --listen "127.0.0.1:$CPORT" --old "$OLD" --new "$PGURL" --spool "$T/spool-c" >>"$T/relay-c.log" 2>&1 &
B=$!
prc=0
wait "$probe" || prc=$?
assert_eq "a write's transaction beside a starting relay: no deadlock" "$prc" 0
assert_not_contains "(what it said)" "$(cat "$T/probe.out")" "deadlock"
check "relay C is ready" wait_for "relay C" curl -sSf "http://127.0.0.1:$CPORT/ready"
assert_not_contains "relay C's set-up: no deadlock" "$(cat "$T/relay-c.log")" "deadlock"
kill -TERM "$B"; wait "$B" 2>/dev/null || true; B=""
relay_stop
t_done
