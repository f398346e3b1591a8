#!/usr/bin/env bash
# copy_points_rejects.sh - each reject once in the reject file, whatever
# stops a copy and however often it is run again (adversarial finds on
# eb49761):
#   - into a point store (here lp:// -> lp://, whose chunks are recorded
#     one by one, like InfluxDB's): kill -9 at random moments and a rerun
#     lost the lines of chunks recorded done (still in stdio's buffer) and
#     glued the rerun's first line to a line cut short; a stop by the error
#     budget, or a worker's failure under -j, listed the failed chunks'
#     lines twice after the rerun; the summary counted a failed chunk's
#     rejects the file did not have;
#   - into PostgreSQL: a stop by the error budget kept its rejects in the
#     file (they roll back with the chunk), but a rerun that stopped again
#     appended them to the earlier run's, and --json's "rejected" left them
#     out; --rollback-on-abort made no file at all.
source "$(dirname "$0")/lib.sh"
t_init copy_points_rejects

"$FERRY" generate --format lp --rows 60000 --entities 20 --seed 11 -q -o "$T/ha.lp"
awk '{ print } NR % 500 == 0 { print "W,entity_id=broken value= " NR }' "$T/ha.lp" >"$T/bad.lp"
nbad=$(grep -c broken "$T/bad.lp")
SRC="lp://$T/bad.lp?chunk_bytes=32k"

# lines,unique lines,lines that are not JSON of the reject file
rej_lines() {
	python3 - "$1" <<-'EOF'
		import json, sys
		try:
		    lines = open(sys.argv[1]).read().splitlines()
		except FileNotFoundError:
		    lines = []
		bad = 0
		for l in lines:
		    try:
		        json.loads(l)
		    except ValueError:
		        bad += 1
		print("%d,%d,%d" % (len(lines), len(set(lines)), bad))
	EOF
}
json_rejected() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["rejected"])' "$1"; }

# ---- kill -9 at random moments, then the same command again ---------------
for j in 1 4 4 1 4; do
	rm -rf "$T/rej" "$T/out.lp"
	d=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 0.4 }')
	"$FERRY" copy -q -j "$j" --rejects "$T/rej" "$SRC" "lp://$T/out.lp" >/dev/null 2>&1 &
	pid=$!
	sleep "$d"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	t_run "$FERRY" copy -q -j "$j" --rejects "$T/rej" "$SRC" "lp://$T/out.lp"
	# 0: the killed run had finished (the job is complete)
	check "kill -9 after ${d}s (-j $j), rerun: exit 3 (the bad lines) or 0" \
		test "$T_RC" = 3 -o "$T_RC" = 0
	assert_eq "kill -9 after ${d}s (-j $j), rerun: every bad line once, all JSON" \
		"$(rej_lines "$T/rej/rejects.ndjson")" "$nbad,$nbad,0"
done
assert_eq "the output equals the good lines" "$(grep -vc '^#' "$T/out.lp")" "$(grep -c . "$T/ha.lp")"

# ---- the error budget stops it, a rerun with none completes -------------
for j in 1 4; do
	rm -rf "$T/rej" "$T/out.lp"
	"$FERRY" copy -q --json -j "$j" --max-errors 5 --rejects "$T/rej" "$SRC" "lp://$T/out.lp" \
		>"$T/budget.json" 2>/dev/null || true
	n=$(json_rejected "$T/budget.json")
	check "-j $j --max-errors 5: stopped past 5" test "$n" -gt 5
	assert_eq "-j $j --max-errors 5: the file has the rejects counted" \
		"$(rej_lines "$T/rej/rejects.ndjson")" "$n,$n,0"
	t_run "$FERRY" copy -q --json -j "$j" --rejects "$T/rej" "$SRC" "lp://$T/out.lp"
	assert_eq "-j $j rerun without a budget: exit 3" "$T_RC" 3
	assert_eq "-j $j rerun without a budget: every bad line once" \
		"$(rej_lines "$T/rej/rejects.ndjson")" "$nbad,$nbad,0"
done

# ---- two jobs in one --rejects DIR: A stopped, B runs, A resumes ----------
# (A's resume filtered B's file by A's done chunks and took it over: B's
# lines were lost; one job name into two targets likewise)
awk '{ print } NR % 700 == 0 { print "X,entity_id=bbb value= " NR }' "$T/ha.lp" >"$T/bad2.lp"
nB=$(grep -c bbb "$T/bad2.lp")
rm -rf "$T/rej"
# rejects of A (broken) and of B (bbb) in files, each line once: "A,B"
ab() {
	python3 - "$@" <<-'EOF'
		import base64, json, sys
		a = b = 0
		seen = set()
		for f in sys.argv[1:]:
		    try:
		        lines = open(f).read().splitlines()
		    except FileNotFoundError:
		        continue
		    for l in lines:
		        if l in seen:
		            continue
		        seen.add(l)
		        v = base64.b64decode(json.loads(l)["value_base64"] or "").decode()
		        a += "broken" in v
		        b += "bbb" in v
		print("%d,%d" % (a, b))
	EOF
}
A=(-q -j 1 --job A --rejects "$T/rej" "$SRC" "lp://$T/outA.lp")
t_run "$FERRY" copy --max-errors 5 "${A[@]}"
assert_eq "job A stopped by the budget" "$T_RC" 1
t_run "$FERRY" copy -q -j 1 --job B --rejects "$T/rej" "lp://$T/bad2.lp?chunk_bytes=32k" "lp://$T/outB.lp"
assert_eq "job B: exit 3" "$T_RC" 3
t_run "$FERRY" copy "${A[@]}"
assert_eq "job A resumed: exit 3" "$T_RC" 3
assert_eq "job A's file: its rejects, none of B's" "$(ab "$T/rej/rejects.ndjson")" "$nbad,0"
assert_eq "job A's file: no line twice" "$(rej_lines "$T/rej/rejects.ndjson")" "$nbad,$nbad,0"
assert_eq "every reject of B still in the directory" "$(ab "$T"/rej/rejects-B*.ndjson)" "0,$nB"

# ---- an edited file: an editor left the last newline off --------------
rm -rf "$T/rej" "$T/outA.lp"
t_run "$FERRY" copy --max-errors 20 "${A[@]}"
kept=$(python3 - "$T/rej/rejects.ndjson" "$T"/rej/state-*.json <<-'EOF'
	import json, sys
	done = set()
	for l in open(sys.argv[2]):
	    d = json.loads(l)
	    if "done" in d:
	        done.add(d["done"])
	keep = [l for l in open(sys.argv[1]).read().splitlines() if json.loads(l)["chunk"] in done]
	open(sys.argv[1], "w").write("\n".join(keep))
	print(len(keep))
EOF
)
check "edited file: lines of done chunks kept ($kept)" test "$kept" -gt 1
t_run "$FERRY" copy "${A[@]}"
assert_eq "edited file, resumed: every reject once" "$(rej_lines "$T/rej/rejects.ndjson")" "$nbad,$nbad,0"

# ---- PostgreSQL: stopped by the budget again and again, then through ----
t_need pg
sqlite3 "$T/nul.db" "CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
	INSERT INTO s SELECT i, CASE WHEN i % 250 = 0 THEN CAST(X'6f6e006f6666' AS TEXT) ELSE 'ok' END FROM n;"
url=$(new_db points_rejects)
for k in 1 2 3; do
	t_run "$FERRY" copy -q --json -j 4 --chunk-rows 500 --job nul --max-errors 0 \
		--rejects "$T/rej-pg" "sqlite://$T/nul.db" "$url"
	assert_eq "PostgreSQL, budget stop $k: exit 1" "$T_RC" 1
	n=$(json_rejected "$T/last.out")
	check "PostgreSQL, budget stop $k: rejects counted" test "$n" -ge 1
	assert_eq "PostgreSQL, budget stop $k: the file has them once, as counted" \
		"$(rej_lines "$T/rej-pg/rejects.ndjson")" "$n,$n,0"
done
t_run "$FERRY" copy -q --json -j 4 --chunk-rows 500 --job nul --rejects "$T/rej-pg" \
	"sqlite://$T/nul.db" "$url"
assert_eq "PostgreSQL, rerun without a budget: exit 3" "$T_RC" 3
assert_eq "PostgreSQL, rerun without a budget: all 20 once" "$(rej_lines "$T/rej-pg/rejects.ndjson")" "20,20,0"
url=$(new_db points_rejects_rb)
t_run "$FERRY" copy -q --json --max-errors 0 --rollback-on-abort --rejects "$T/rej-rb" \
	"sqlite://$T/nul.db" "$url"
assert_eq "--rollback-on-abort: exit 1" "$T_RC" 1
check "--rollback-on-abort: the reject that stopped it is in the file" \
	grep -q '"rowid":250' "$T/rej-rb/rejects.ndjson"
t_done
