#!/usr/bin/env bash
# ts_influx_target.sh - ferry copy INTO InfluxDB (influx://) and into a
# line-protocol file (lp://), against a private influxd of its own (it is
# stopped mid-copy): an lp file into a database made by --create-db; names
# with escapes read and written as influxd reads them; a missing database
# without the flag is exit 2 naming it; InfluxDB ->
# InfluxDB (a second database) equal point for point, and through a map
# (examples/maps/ha-per-domain.yaml), a failed cast a reject naming the rule,
# --max-errors; kill -9 and rerun resumes to the same
# points; a field type conflict with data already in the target rejects
# those points with InfluxDB's reason while the others land; influxd
# stopped mid-copy is exit 1 naming the rerun, which then completes; the
# InfluxDB source restarted mid-copy into PostgreSQL is waited for; an
# lp:// target read back into InfluxDB is the same database, and a killed
# lp:// copy resumes to the same file; InfluxDB 2.x's /api/v2/write
# (influx2_fake.py: no 2.x server on the test machines).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init ts_influx_target
t_need influx

# private servers (influxd is stopped mid-copy below): SVC, IPORT, IURL,
# PGURL (the --state database), PY
relay_services
IFX="influx://127.0.0.1:$IPORT"
PGSTATE=$PGURL

iq() {  # iq DB QUERY
	curl -sS -XPOST "$IURL/query" --data-urlencode "db=$1" --data-urlencode "q=$2"
}
iwrite() {  # iwrite DB FILE
	local code
	code=$(curl -sS -o "$T/write.out" -w '%{http_code}' -XPOST \
		"$IURL/write?db=$1&precision=ns" --data-binary "@$2")
	[[ $code == 204 ]] || { cat "$T/write.out" >&2; return 1; }
}
# every point of a database, one canonical line each (measurement, tags
# sorted, time, fields sorted), sorted; read in chunked answers
idump() {
	"$PY" - "$IURL" "$1" <<-'EOF'
	import json, sys, urllib.parse, urllib.request
	base, db = sys.argv[1], sys.argv[2]
	def query(q):
	    data = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ns", "chunked": "true",
	                                   "chunk_size": "5000"}).encode()
	    with urllib.request.urlopen(base + "/query", data) as r:
	        for line in r:
	            if line.strip():
	                yield json.loads(line)
	meas = []
	for a in query("SHOW MEASUREMENTS"):
	    for res in a.get("results", []):
	        for s in res.get("series", []):
	            meas += [v[0] for v in s["values"]]
	out = []
	for m in meas:
	    q = 'SELECT * FROM "%s" GROUP BY *' % m.replace('\\', '\\\\').replace('"', '\\"')
	    for a in query(q):
	        for res in a.get("results", []):
	            if "error" in res:
	                sys.exit(res["error"])
	            for s in res.get("series", []):
	                tags = ",".join("%s=%s" % kv for kv in sorted(s.get("tags", {}).items()) if kv[1] != "")
	                cols = s["columns"]
	                for v in s["values"]:
	                    f = ",".join("%s=%r" % (c, x) for c, x in sorted(zip(cols[1:], v[1:])) if x is not None)
	                    out.append("%s|%s|%d|%s" % (s["name"], tags, v[0], f))
	out.sort()
	print("\n".join(out))
	EOF
}
npoints() { idump "$1" | grep -c . || true; }
digest() { idump "$1" | md5sum | cut -d' ' -f1; }
# a database checked more than once: dumped once ($T/DB.dump), each check
# reads the file (a dump of the 120000 points is seconds)
dumpto() { idump "$1" >"$T/$1.dump"; }

# ---- a Home Assistant database in the private influxd ----------------------
"$FERRY" generate --format lp --rows 120000 --entities 20 --seed 11 -q -o "$T/ha.lp"
want=$(grep -c . "$T/ha.lp")
iq x "CREATE DATABASE ha" >/dev/null
split -l 10000 "$T/ha.lp" "$T/ha.part."
for p in "$T"/ha.part.*; do iwrite ha "$p"; done
dumpto ha
assert_eq "source database: every generated point" "$(grep -c . "$T/ha.dump" || true)" "$want"
src_digest=$(md5sum <"$T/ha.dump" | cut -d' ' -f1)

# ---- a missing database without --create-db: exit 2 -------------------------
t_run "$FERRY" copy -q "lp://$T/ha.lp" "$IFX/fromlp"
assert_eq "missing database: exit 2" "$T_RC" 2
assert_contains "missing database: named" "$T_ERR" "'fromlp'"
assert_contains "missing database: the flag named" "$T_ERR" "--create-db"

# ---- lp file -> InfluxDB with --create-db -------------------------------------
t_run "$FERRY" copy -q --json --create-db -j 2 "lp://$T/ha.lp?chunk_bytes=1M" "$IFX/fromlp"
assert_eq "lp -> influx: exit 0" "$T_RC" 0
assert_contains "lp -> influx: points written" "$T_OUT" "\"written\": $want"
assert_eq "lp -> influx: the same points as written by curl" "$(digest fromlp)" "$src_digest"

# ---- names with escapes: read as influxd reads them, written so that it
# reads back the same names (ferry kept the backslash of 'm\=x', 'e4\"'
# and 'f\"k', so verify said DIFFERENT; and wrote the field key 'a\"b'
# as 'a\"b', which influxd reads as 'a"b')
cat >"$T/esc.lp" <<'EOF'
m\=x,t=v f=1i 1000
e4\" v=1 1000
c\,p\ u,k\,1\=\ x=v\,1\=\ y f=1i 1000
n,a\"b=v\"w,t=a\\\,b f\"k=1i,a\\"b=2i,a\\\,b=3i 1000
EOF
iq x "CREATE DATABASE escd" >/dev/null
iwrite escd "$T/esc.lp"
t_run "$FERRY" verify -q "lp://$T/esc.lp" "$IFX/escd"
assert_eq "escapes: the file verifies against what influxd made of it" "$T_RC" 0
t_run "$FERRY" copy -q --create-db "lp://$T/esc.lp" "$IFX/escf"
assert_eq "escapes: lp -> influx exit 0" "$T_RC" 0
assert_eq "escapes: lp -> influx, the points curl wrote" "$(idump escf)" "$(idump escd)"
t_run "$FERRY" copy -q --create-db "$IFX/escd" "$IFX/escc"
assert_eq "escapes: influx -> influx exit 0" "$T_RC" 0
assert_eq "escapes: influx -> influx, the same names" "$(idump escc)" "$(idump escd)"

# ---- a point written twice in a file: the later line wins, as with influx
# -import, whatever -j (workers that wrote their chunks as they read them
# let an earlier line land last: 30 of 20000 with -j 2)
"$PY" - "$T/twice.lp" <<-'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(4000):
        t = 1700000000000000000 + i * 1000
        f.write('race,id=s%d v=1,pad="%s" %d\n' % (i % 7, "x" * 40, t))
        f.write('race,id=s%d v=2,pad="%s" %d\n' % (i % 7, "y" * 40, t))
EOF
t_run "$FERRY" copy -q --create-db -j 3 "lp://$T/twice.lp?chunk_bytes=2K" \
	"$IFX/twice"
assert_eq "point twice, -j 3: exit 0" "$T_RC" 0
assert_contains "point twice, -j 3: every point's later value" \
	"$(iq twice 'SELECT count(v) FROM race WHERE v = 2')" '"count"],"values":[["1970-01-01T00:00:00Z",4000]]'
assert_not_contains "point twice, -j 3: no earlier value kept" \
	"$(iq twice 'SELECT count(v) FROM race WHERE v = 1')" '"count"'

# ---- InfluxDB -> InfluxDB (a second database), no map -------------------------
t_run "$FERRY" copy -q --create-db -j 3 --chunk-time 6h "$IFX/ha" "$IFX/copy1"
assert_eq "influx -> influx: exit 0" "$T_RC" 0
assert_eq "influx -> influx: equal" "$(digest copy1)" "$src_digest"
# a rerun of the finished job writes nothing again
t_run "$FERRY" copy --json --create-db -j 3 --chunk-time 6h "$IFX/ha" "$IFX/copy1"
assert_eq "rerun of a done job: exit 0" "$T_RC" 0
assert_contains "rerun of a done job: nothing read" "$T_OUT" '"read": 0'
# its summary says what its totals count (it claimed they included the
# points earlier runs wrote, and showed 0)
t_run "$FERRY" copy --progress none --create-db -j 3 --chunk-time 6h "$IFX/ha" "$IFX/copy1"
assert_contains "rerun of a done job: the totals are this run's" "$T_OUT" "the totals count this run"
# another source state for the same job is refused, as the row copy does
t_run "$FERRY" copy -q --create-db --chunk-time 2h "$IFX/ha" "$IFX/copy1"
assert_eq "other options, same job: exit 2" "$T_RC" 2
assert_contains "other options, same job: --restart named" "$T_ERR" "--restart"

# ---- through a map: a measurement per domain ----------------------------------
cat >"$T/map.yaml" <<'EOF'
points:
  - from: {measurement: "*", tags: {domain: sensor}}
    to: "{tag.domain}"
    tags: {unit: "{measurement}"}
    drop_tags: [domain]
  - from: no_such_measurement
    drop: true
EOF
t_run "$FERRY" copy -q --create-db --map "$T/map.yaml" "$IFX/ha" "$IFX/mapped"
assert_eq "through the map: exit 0" "$T_RC" 0
assert_contains "through the map: a rule that matched nothing is named with its line" \
	"$T_OUT$T_ERR" "map.yaml:6: rule from 'no_such_measurement' matched no point"
sensors=$(grep -c 'domain=sensor' "$T/ha.lp" || true)
dumpto mapped
assert_eq "through the map: every sensor point in 'sensor'" \
	"$(grep -c '^sensor|' "$T/mapped.dump" || true)" "$sensors"
assert_eq "through the map: the others unchanged" \
	"$(grep -vc '^sensor|' "$T/mapped.dump" || true)" "$((want - sensors))"
assert_eq "through the map: no domain tag left on sensor points" \
	"$(grep '^sensor|' "$T/mapped.dump" | grep -c 'domain=' || true)" 0
assert_eq "through the map: the unit as a tag" \
	"$(grep '^sensor|' "$T/mapped.dump" | grep -c 'unit=' || true)" "$sensors"

# the example map: a measurement per domain, entity_id and unit the only tags
t_run "$FERRY" copy -q --create-db -j 2 --map "$FERRY_SRC/examples/maps/ha-per-domain.yaml" \
	"$IFX/ha" "$IFX/ha_v2"
assert_eq "ha-per-domain: exit 0" "$T_RC" 0
dumpto ha_v2
assert_eq "ha-per-domain: every point" "$(grep -c . "$T/ha_v2.dump" || true)" "$want"
assert_eq "ha-per-domain: the domains are the measurements" \
	"$(cut -d'|' -f1 "$T/ha_v2.dump" | sort -u | tr '\n' ' ')" \
	"$(grep -o 'domain=[a-z_]*' "$T/ha.lp" | cut -d= -f2 | sort -u | tr '\n' ' ')"
assert_eq "ha-per-domain: no tag but entity_id and unit" \
	"$(cut -d'|' -f2 "$T/ha_v2.dump" | tr ',' '\n' | cut -d= -f1 | sort -u | tr '\n' ' ')" \
	"entity_id unit "

# drop: true leaves points behind, counted per measurement
cat >"$T/drop.yaml" <<'EOF'
points:
  - from: "%"
    drop: true
EOF
t_run "$FERRY" copy -q --json --create-db --map "$T/drop.yaml" "$IFX/ha" "$IFX/dropped"
assert_eq "drop: exit 0" "$T_RC" 0
pct=$(grep -c '^%,' "$T/ha.lp" || true)
assert_contains "drop: counted in the summary" "$T_OUT" "\"dropped\": $pct"
dumpto dropped
assert_eq "drop: none of them written" "$(grep -c '^%|' "$T/dropped.dump" || true)" 0
assert_eq "drop: the others written" "$(grep -c . "$T/dropped.dump" || true)" "$((want - pct))"

# a cast the value does not survive: a reject with the rule's line and the
# point's line, the other points land; --max-errors stops the copy
cat >"$T/cast.yaml" <<'EOF'
points:
  - from: W
    fields:
      value: {from: value, cast: int}
EOF
t_run "$FERRY" copy -q --json --create-db --rejects "$T/rej-cast" --map "$T/cast.yaml" \
	"$IFX/ha" "$IFX/casted"
assert_eq "failed cast: exit 3" "$T_RC" 3
rej=$(cat "$T/rej-cast/rejects.ndjson" 2>/dev/null || true)
assert_contains "failed cast: the rule's line named" "$rej" "cast.yaml:2: field 'value' value"
all_w=$(grep -c '^W,' "$T/ha.lp" || true)
nrej=$(grep -c '"table":"W"' <<<"$rej" || true)
check "failed cast: some W values are not integers" test "$nrej" -gt 0
dumpto casted
assert_eq "failed cast: W landed + refused = all W" \
	"$(( $(grep -c '^W|' "$T/casted.dump" || true) + nrej ))" "$all_w"
assert_eq "failed cast: the other measurements landed" \
	"$(grep -vc '^W|' "$T/casted.dump" || true)" "$((want - all_w))"
t_run "$FERRY" copy -q --create-db --rejects "$T/rej-budget" --max-errors 5 \
	--map "$T/cast.yaml" "$IFX/ha" "$IFX/budget"
assert_eq "--max-errors 5: exit 1" "$T_RC" 1
assert_contains "--max-errors 5: the budget named" "$T_ERR" "error budget"
assert_eq "--max-errors 5: stops at the sixth reject" \
	"$(grep -c . "$T/rej-budget/rejects.ndjson")" 6

# ---- kill -9 mid-copy, then rerun: the same points ------------------------------
kill_at_delays "0.4 0.8 1.5" "$FERRY" copy -q --create-db -j 2 --chunk-time 1h \
	"$IFX/ha" "$IFX/killed"
t_run "$FERRY" copy -q --create-db -j 2 --chunk-time 1h "$IFX/ha" "$IFX/killed"
assert_eq "after kill -9: rerun exit 0" "$T_RC" 0
killed_digest=$(digest killed)
assert_eq "after kill -9: equal to the source" "$killed_digest" "$src_digest"
# once seen under ASan in CI (2026-12-03) and not since in 15 tries: say what differs
if [[ "$killed_digest" != "$src_digest" ]]; then
	echo "rerun: $T_OUT $T_ERR"
	cat "$T/kill.out"
	diff <(idump ha) <(idump killed) | head -n 20
	echo "source points: $(npoints ha), target points: $(npoints killed)"
fi

# the same with the state in PostgreSQL (--state postgres://)
kill_at_delays "0.4 0.8 1.5" "$FERRY" copy -q --create-db -j 2 --chunk-time 1h \
	--state "$PGSTATE" "$IFX/ha" "$IFX/killed_pg"
t_run "$FERRY" copy -q --create-db -j 2 --chunk-time 1h --state "$PGSTATE" "$IFX/ha" \
	"$IFX/killed_pg"
assert_eq "state in PostgreSQL, after kill -9: rerun exit 0" "$T_RC" 0
assert_eq "state in PostgreSQL, after kill -9: equal to the source" "$(digest killed_pg)" \
	"$src_digest"
assert_eq "state in PostgreSQL: every chunk done" \
	"$(pg_q "$PGSTATE" 'select count(*) = max(j.chunks) from ferry.point_chunks c join ferry.point_jobs j using (job)')" t
t_run "$FERRY" copy -q --create-db -j 2 --chunk-time 2h --state "$PGSTATE" "$IFX/ha" \
	"$IFX/killed_pg"
assert_eq "state in PostgreSQL: other options refused (exit 2)" "$T_RC" 2
assert_contains "state in PostgreSQL: other options refused, --restart named" "$T_ERR" "--restart"

# ---- a field type conflict with data already in the target -----------------------
iq x "CREATE DATABASE conflict" >/dev/null
first_w=$(grep -m1 '^W,' "$T/ha.lp" | awk '{print $NF}')
echo "W,entity_id=preexisting value=\"text\" $first_w" >"$T/pre.lp"
iwrite conflict "$T/pre.lp"
t_run "$FERRY" copy -q --json --rejects "$T/rej-conflict" "$IFX/ha" "$IFX/conflict"
assert_eq "type conflict: exit 3 (rejects)" "$T_RC" 3
rej=$(cat "$T/rej-conflict/rejects.ndjson" 2>/dev/null || true)
assert_contains "type conflict: InfluxDB's reason in the rejects" "$rej" "field type conflict"
dumpto conflict
landed_w=$(grep -c '^W|' "$T/conflict.dump" || true)
nrej=$(grep -c 'field type conflict' <<<"$rej" || true)
all_w=$(grep -c '^W,' "$T/ha.lp" || true)
check "type conflict: some W points refused" test "$nrej" -gt 0
assert_eq "type conflict: W points landed + refused = all (plus the one there before)" \
	"$((landed_w + nrej))" "$((all_w + 1))"
assert_eq "type conflict: every other measurement landed" \
	"$(grep -vc '^W|' "$T/conflict.dump" || true)" "$((want - all_w))"
assert_contains "type conflict: counted in the summary" "$T_OUT" "\"rejected\": $nrej"

# ---- influxd stopped mid-copy: exit 1, rerun completes --------------------------
# with a line that is no point every 500 lines: each is one reject line in
# the end, also for the chunk the stop cut short, which the rerun reads
# again (its rejects were written twice before)
state="$T/down.state"
awk '{ print } NR % 500 == 0 { print "W,entity_id=broken value= " NR }' "$T/ha.lp" >"$T/ha_bad.lp"
nbad=$(grep -c 'entity_id=broken' "$T/ha_bad.lp")
"$FERRY" copy -q --create-db -j 1 --retries 2 --state "$state" --rejects "$T/rej-down" \
	"lp://$T/ha_bad.lp?chunk_bytes=64k" "$IFX/down" >"$T/down.out" 2>&1 &
pid=$!
# stop influxd once the first chunks are recorded as done
for ((i = 0; i < 600; i++)); do
	[[ -f "$state" && $(grep -c done "$state") -ge 2 ]] && break
	sleep 0.05
done
"$FERRY_SRC/tests/services" stop-influx "$SVC"
rc=0
wait "$pid" || rc=$?
assert_eq "influxd down mid-copy: exit 1" "$rc" 1
assert_contains "influxd down mid-copy: a rerun resumes" "$(cat "$T/down.out")" "rerun"
"$FERRY_SRC/tests/services" start-influx "$SVC"
t_run "$FERRY" copy -q --create-db -j 1 --state "$state" --rejects "$T/rej-down" \
	"lp://$T/ha_bad.lp?chunk_bytes=64k" "$IFX/down"
assert_eq "influxd back: rerun exit 3 (the bad lines)" "$T_RC" 3
assert_eq "influxd back: equal to the source" "$(digest down)" "$src_digest"
assert_eq "influxd back: every bad line once in the rejects" \
	"$(grep -c . "$T/rej-down/rejects.ndjson"),$(sort -u "$T/rej-down/rejects.ndjson" | grep -c .)" "$nbad,$nbad"

# ---- a rerun over changed content is refused, not skipped: a file edited
# since (the state's fingerprint did not see its bytes: "1 chunk done by
# an earlier run", exit 0, none of the new points), and stdin twice
head -n 100 "$T/ha.lp" >"$T/day.lp"
t_run "$FERRY" copy -q --create-db --rejects "$T/rej-day" "lp://$T/day.lp" "$IFX/day"
assert_eq "changed file: the first copy" "$T_RC" 0
sed -n 101,200p "$T/ha.lp" >"$T/day.lp"
t_run "$FERRY" copy -q --rejects "$T/rej-day" "lp://$T/day.lp" "$IFX/day"
assert_eq "changed file: the rerun is refused (exit 2)" "$T_RC" 2
assert_contains "changed file: the source changed" "$T_ERR" "the source changed"
t_run "$FERRY" copy -q --rejects "$T/rej-day" --restart "lp://$T/day.lp" "$IFX/day"
assert_eq "changed file: --restart copies it" "$T_RC" 0
assert_eq "changed file: both days' points are there" "$(npoints day)" 200
t_run bash -c '"$1" copy -q --create-db --rejects "$2" lp:- "$3" <"$4"' _ "$FERRY" "$T/rej-in" \
	"$IFX/stdin" "$T/day.lp"
assert_eq "stdin: the first input" "$T_RC" 0
t_run bash -c '"$1" copy -q --rejects "$2" lp:- "$3" <"$4"' _ "$FERRY" "$T/rej-in" \
	"$IFX/stdin" "$T/ha.lp"
assert_eq "stdin: a second input into the done job: exit 2" "$T_RC" 2
assert_contains "stdin: says what to do" "$T_ERR" "--job"

# ---- the InfluxDB source restarted mid-copy into PostgreSQL: the copy
# claims the chunk again once influxd is back and completes, and says the
# source went away (it said "lost the target connection", attempt 1 each
# time, with PostgreSQL up throughout)
psql -XAtq -d "postgres://postgres@127.0.0.1:$PGPORT/postgres" -c 'CREATE DATABASE srcdown' >/dev/null
sd="postgres://postgres@127.0.0.1:$PGPORT/srcdown"
"$FERRY" copy -q -j 1 --chunk-time 1h "$IFX/ha" "$sd" >"$T/srcdown.out" 2>&1 &
pid=$!
for ((i = 0; i < 600; i++)); do
	[[ $(psql -XAtq -d "$sd" -c "SELECT count(*) FROM ferry.progress WHERE state = 'done'" 2>/dev/null || echo 0) -ge 2 ]] && break
	sleep 0.05
done
"$FERRY_SRC/tests/services" stop-influx "$SVC"
# influxd comes back once the copy said it lost it (or ended without)
for ((i = 0; i < 300; i++)); do
	grep -q "lost the source" "$T/srcdown.out" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
"$FERRY_SRC/tests/services" start-influx "$SVC"
rc=0
wait "$pid" || rc=$?
assert_eq "source restarted mid-copy: exit 0" "$rc" 0
assert_contains "source restarted mid-copy: the warning names the source" \
	"$(cat "$T/srcdown.out")" "lost the source"
assert_not_contains "source restarted mid-copy: not the target" "$(cat "$T/srcdown.out")" \
	"lost the target"
t_run "$FERRY" verify "$IFX/ha" "$sd"
assert_eq "source restarted mid-copy: verify equal" "$T_RC" 0

# ---- InfluxDB 2.x (/api/v2/write), against tests/integration/influx2_fake.py --
"$PY" "$FERRY_SRC/tests/integration/influx2_fake.py" "$T/fake2.port" >"$T/fake2.log" 2>&1 &
fake=$!
for ((i = 0; i < 100; i++)); do [[ -s "$T/fake2.port" ]] && break; sleep 0.1; done
F2="influx://127.0.0.1:$(cat "$T/fake2.port")/?org=acme&token=s3cret"
printf 'm,host=a v=1 1700000000000000000\nm,host=b v=2i 1700000000000000000\nm,host=a v=3 1700000001000000000\n' \
	>"$T/v2.lp"
t_run "$FERRY" copy -q --json --rejects "$T/rej-v2" "lp://$T/v2.lp" "$F2&bucket=ha"
assert_eq "2.x: exit 3 (a type conflict)" "$T_RC" 3
assert_eq "2.x: the points in the bucket" \
	"$(curl -sS "http://127.0.0.1:$(cat "$T/fake2.port")/fake/points?bucket=ha")" \
	$'m,host=a 1700000000000000000 v=1\nm,host=a 1700000001000000000 v=3'
assert_contains "2.x: the conflict in the rejects" "$(cat "$T/rej-v2/rejects.ndjson")" \
	"field type conflict"
t_run "$FERRY" copy -q "lp://$T/v2.lp" "$F2&bucket=nob"
assert_eq "2.x: a missing bucket is exit 2" "$T_RC" 2
assert_contains "2.x: a missing bucket is named" "$T_ERR" "'nob'"
t_run "$FERRY" copy -q --create-db --rejects "$T/rej-v2b" "lp://$T/v2.lp" "$F2&bucket=nob"
assert_eq "2.x: --create-db makes the bucket (exit 3: the conflict)" "$T_RC" 3
kill "$fake"
wait "$fake" 2>/dev/null || true

# ---- lp:// target: read back into InfluxDB --------------------------------------
t_run "$FERRY" copy -q -j 2 --chunk-time 6h "$IFX/ha" "lp://$T/out.lp"
assert_eq "influx -> lp: exit 0" "$T_RC" 0
assert_eq "influx -> lp: the export header" "$(head -2 "$T/out.lp")" \
	$'# DML\n# CONTEXT-DATABASE: ha'
assert_eq "influx -> lp: every point" "$(grep -vc '^#' "$T/out.lp")" "$want"
t_run "$FERRY" copy -q --create-db "lp://$T/out.lp" "$IFX/back"
assert_eq "lp -> influx: exit 0" "$T_RC" 0
assert_eq "lp round trip: equal to the source" "$(digest back)" "$src_digest"
# kill -9 of an lp:// copy: the file is cut back to the last done chunk
kill_at_delays "0.2 0.4 0.8" "$FERRY" copy -q -j 2 --chunk-time 1h "$IFX/ha" "lp://$T/out2.lp"
t_run "$FERRY" copy -q -j 2 --chunk-time 1h "$IFX/ha" "lp://$T/out2.lp"
assert_eq "lp after kill -9: exit 0" "$T_RC" 0
t_run "$FERRY" copy -q -j 1 --chunk-time 1h "$IFX/ha" "lp://$T/out3.lp"
check "lp after kill -9: the same file as one uninterrupted run" cmp "$T/out2.lp" "$T/out3.lp"
# lp:- writes to stdout (no state, no resume)
"$FERRY" copy -q "$IFX/ha" lp:- >"$T/stdout.lp"
assert_eq "lp:- : every point" "$(grep -vc '^#' "$T/stdout.lp")" "$want"
if command -v influx >/dev/null; then
	iq x "CREATE DATABASE ha" >/dev/null
	influx -host 127.0.0.1 -port "$IPORT" -import -path "$T/out.lp" -precision ns \
		>"$T/import.out" 2>&1 || true
	assert_contains "influx -import reads the file" "$(cat "$T/import.out")" "Failed 0 inserts"
	assert_contains "influx -import: every point" "$(cat "$T/import.out")" "Processed $want inserts"
	assert_eq "influx -import of the same points changes nothing" "$(digest ha)" "$src_digest"
fi

t_done
