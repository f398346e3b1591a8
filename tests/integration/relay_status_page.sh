#!/usr/bin/env bash
# relay_status_page.sh - the relay's status page (GET /) in headless
# Chromium (Debian's chromium) against a real relay, InfluxDB and
# PostgreSQL: the page's script fills the phase, the cutover step and the
# gates from /api/status (asserted on elements only the script fills, so a
# broken script fails), and after `ferry cutover prepare`, `advance`,
# `rollback` and `set-phase` a new load shows the new step and phase; a
# script error, a CSP refusal or any console message fails; /api/status
# read with python has the gates and the stores; however many requests
# come, the cutover database is read at most once a second; with the
# database down the page says so and keeps the live figures; a relay
# without a cutover database says that.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/relay_lib.sh"
t_init relay_status_page
t_need pg
t_need influx
command -v chromium >/dev/null ||
	t_skip "no chromium (Debian's chromium: scripts/deps.txt, make deps)"

# api EXPR: a python expression over d, the /api/status document
api() {
	curl -sS "$RURL/api/status" | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}
# wait_api EXPR: until EXPR is True (max 30 s)
wait_api() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ "$(api "$1" 2>/dev/null)" == True ]] && return 0
		sleep 0.1
	done
	_t_say "/api/status never had $1: $(curl -sS "$RURL/api/status")" >&2
	return 1
}

relay_services
OLD="influx://127.0.0.1:$IPORT/home_assistant"
relay_start

# ---- the files, served from the binary, and their headers
curl -sS -D "$T/h" -o "$T/static.html" "$RURL/"
hdr=$(tr -d '\r' <"$T/h")
assert_contains "GET / is 200" "$hdr" "HTTP/1.1 200"
assert_contains "GET / is HTML" "$hdr" "Content-Type: text/html; charset=utf-8"
assert_contains "a CSP that allows only the relay itself" "$hdr" \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"
assert_contains "the page is never sniffed" "$hdr" "X-Content-Type-Options: nosniff"
assert_contains "the page links its script" "$(cat "$T/static.html")" '<script src="/status.js"'
check "no resource from elsewhere" bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '$T/static.html'"
assert_contains "the phase is empty until the script runs" \
	"$(cat "$T/static.html")" '<div id="phase" class="big">-</div>'
assert_eq "/status.js" "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$RURL/status.js")" \
	"200 text/javascript; charset=utf-8"
assert_eq "/status.css" "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$RURL/status.css")" \
	"200 text/css; charset=utf-8"
assert_eq "/api/status" "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$RURL/api/status")" \
	"200 application/json"
assert_eq "another path: 404" "$(curl -sS -o /dev/null -w '%{http_code}' "$RURL/status.txt")" 404
assert_eq "POST /: 405" "$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$RURL/")" 405

# ---- no plan yet: the relay's phase (ferry.cutover), no step
check "chromium loads the page" page "$RURL/"
page_ok "no plan"
assert_eq "the script filled the phase" "$(dom phase)" dual
assert_eq "no step" "$(dom step)" "none planned"
assert_contains "it says why" "$(dom cutover-note)" "no cutover is planned"
assert_eq "both stores listed" "$(dom stores rows | cut -d'|' -f1-3 | tr '\n' ' ')" \
	"old|influx|up:pass new|postgres|up:pass "

# ---- prepare: step prepare, relays old-only, its gates
t_run "$FERRY" cutover prepare --db "$PGURL" --old "$OLD" --by alice
assert_eq "prepare exits 0" "$T_RC" 0
check "the relay follows to old-only and the report has the plan" \
	wait_api 'd["relay"]["phase"] == "old-only" and (d["cutover"] or {}).get("step") == "prepare"'
check "chromium loads the page" page "$RURL/"
page_ok "prepare"
assert_eq "phase after prepare" "$(dom phase)" old-only
assert_eq "step after prepare" "$(dom step)" prepare
assert_contains "the steps, prepare current" "$(dom steps)" "preparedual-writebackfill"
gates=$(dom gates rows)
echo "$gates" | sed 's/^/# gate: /'
assert_eq "the prepare gates, as ferry cutover status has them" \
	"$(cut -d'|' -f1 <<<"$gates" | tr '\n' ' ')" \
	"$("$FERRY" cutover status --db "$PGURL" --json | $PY -c '
import json, sys
print(" ".join(g["name"] for g in json.load(sys.stdin)["cutover"]["gates"]), end=" ")')"
echo "$gates" >"$T/gates.txt"
assert_eq "each gate with its state (pass, fail or pending) and its figure" \
	"$(awk -F'|' '$2 !~ /^(pass:pass|fail:fail|pending:pending)$/ || $3 == ""' "$T/gates.txt")" ""
assert_contains "the relay is listed" "$(dom relays rows)" "127.0.0.1:$RPORT"
assert_contains "the log shows prepare by alice" "$(dom log rows)" "|alice|prepare|"

# ---- points through the relay, then advance to dual-write
for i in 1 2 3 4 5; do
	curl -sS -XPOST "$RURL/write?db=home_assistant" \
		--data-binary "W,entity_id=sensor.page_$i value=$i" >/dev/null
done
t_run "$FERRY" cutover advance --db "$PGURL" --wait --timeout 60s --by bob
assert_eq "advance to dual-write exits 0" "$T_RC" 0
check "the relay follows to dual and the report to dual-write" \
	wait_api 'd["relay"]["phase"] == "dual" and (d["cutover"] or {}).get("step") == "dual-write"'
check "chromium loads the page" page "$RURL/"
page_ok "dual-write"
assert_eq "phase after advance" "$(dom phase)" dual
assert_eq "step after advance" "$(dom step)" dual-write
assert_contains "its gate" "$(dom gates rows)" "relays-dual|"
assert_contains "the log shows the advance by bob" "$(dom log rows)" "|bob|advance|"
assert_contains "the write latency table" "$(dom latency rows)" "writes into old (influx)|5:num|"
check "points/s of both stores plotted" test "$(dom @chart-points:data-plotted)" -ge 2

# /api/status read by a program: the gates, the stores, the live figures
assert_eq "api: the step's gates" \
	"$(api '" ".join(g["name"] + "=" + g["state"] for g in d["cutover"]["gates"]) != "" and all(set(g) >= {"name", "state", "figure"} for g in d["cutover"]["gates"])')" True
assert_eq "api: relays-dual among them" \
	"$(api '[g["name"] for g in d["cutover"]["gates"]]')" "['relays-dual']"
assert_eq "api: the stores" \
	"$(api 'd["relay"]["stores"]["old"]["kind"] + " " + d["relay"]["stores"]["new"]["kind"]')" \
	"influx postgres"
assert_eq "api: the old store wrote the 5 points" \
	"$(api 'd["relay"]["stores"]["old"]["points_written"]')" 5
assert_eq "api: percentiles as /stats has them" \
	"$(api 'sorted(d["relay"]["stores"]["old"]["write_duration_seconds"])')" \
	"['count', 'p50', 'p95', 'p99', 'sum']"
assert_eq "api: the spool's figures" \
	"$(api '"spool_records" in d["relay"] and "replay_lag_seconds" in d["relay"]')" True
assert_eq "api: the cutover database is there" "$(api 'd["cutover_db"], d["cutover_error"]')" \
	"(True, None)"

# ---- rollback, then set-phase by hand: each shows on a new load
t_run "$FERRY" cutover rollback --db "$PGURL"
assert_eq "rollback exits 0" "$T_RC" 0
check "back at prepare" \
	wait_api 'd["relay"]["phase"] == "old-only" and (d["cutover"] or {}).get("step") == "prepare"'
check "chromium loads the page" page "$RURL/"
page_ok "rollback"
assert_eq "phase after rollback" "$(dom phase)" old-only
assert_eq "step after rollback" "$(dom step)" prepare
t_run "$FERRY" cutover set-phase new-primary --db "$PGURL"
assert_eq "set-phase exits 0" "$T_RC" 0
check "the relay follows set-phase" wait_api 'd["relay"]["phase"] == "new-primary"'
check "chromium loads the page" page "$RURL/"
page_ok "set-phase"
assert_eq "phase after set-phase" "$(dom phase)" new-primary
t_run "$FERRY" cutover set-phase old-only --db "$PGURL"

# ---- many requests, few reads: the database is read at most once a second
r0=$(api 'd["cutover_reads"]')
s0=$(date +%s.%N)
for ((i = 0; i < 200; i++)); do
	curl -sS -o /dev/null "$RURL/api/status" &
	((i % 10 == 9)) && wait
done
wait
r1=$(api 'd["cutover_reads"]')
s1=$(date +%s.%N)
echo "# 201 requests in $($PY -c "print(round($s1 - $s0, 2))") s: $((r1 - r0)) reads of the cutover"
check "at most one read a second (and one more at each end)" \
	$PY -c "import sys; sys.exit(0 if $r1 - $r0 <= ($s1 - $s0) + 2 else 1)"

# ---- the cutover database goes down: the page says so, the live figures stay
"$FERRY_SRC/tests/services" stop-pg "$SVC" immediate >/dev/null
check "the report says it cannot read" wait_api 'd["cutover_error"] is not None'
check "chromium loads the page" page "$RURL/"
page_ok "database down"
assert_eq "the phase stays" "$(dom phase)" old-only
assert_contains "the page says the cutover cannot be read" "$(dom cutover-note)" \
	"cannot read the cutover now"
assert_eq "the last report read is still shown" "$(dom step)" prepare

# ---- a relay without PostgreSQL: no cutover database, live figures only
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$FERRY" relay --listen "127.0.0.1:$port" --old "$OLD" --phase old-only >"$T/relay2.log" 2>&1 &
relay2=$!
up2() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping")" == 204 ]] && return 0
		sleep 0.1
	done
	return 1
}
check "a relay with the old store only starts" up2
check "chromium loads the page" page "http://127.0.0.1:$port/"
page_ok "no cutover database"
assert_eq "its phase" "$(dom phase)" old-only
assert_eq "no cutover database" "$(dom step)" "no cutover database"
assert_contains "it says so" "$(dom cutover-note)" "live figures only"
assert_eq "one store listed" "$(dom stores rows | cut -d'|' -f1-2)" "old|influx"
kill "$relay2"
wait "$relay2" 2>/dev/null || true

t_done
