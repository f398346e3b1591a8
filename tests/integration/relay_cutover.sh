#!/usr/bin/env bash
# relay_cutover.sh - `ferry cutover set-phase` and `ferry cutover status`
# by hand: the round trip in text and --json, the log of every move, the
# exit codes of a bad phase (2), a missing --db (2), a database without a
# cutover (1) and one that cannot be reached (1).
source "$(dirname "$0")/lib.sh"
t_init relay_cutover
url=$(new_db relay_cutover)
# jget KEY: member KEY of the JSON document in $T_OUT
jget() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1" <<<"$T_OUT"; }

t_run "$FERRY" cutover --help
assert_eq "--help exits 0" "$T_RC" 0
assert_contains "--help names set-phase" "$T_OUT" "set-phase PHASE --db URL"
t_run "$FERRY" cutover set-phase --help
assert_eq "set-phase --help exits 0" "$T_RC" 0

# ---- no cutover yet: status fails, says what to do
t_run "$FERRY" cutover status --db "$url"
assert_eq "status without ferry.cutover exits 1" "$T_RC" 1
assert_contains "status says what to do" "$T_ERR" "ferry cutover set-phase"
t_run "$FERRY" cutover status --db "$url" --json
assert_eq "status --json without ferry.cutover exits 1" "$T_RC" 1
assert_eq "its JSON has exit_code 1" "$(jget exit_code)" 1

# ---- round trip
t_run "$FERRY" cutover set-phase dual --db "$url" --by alice
assert_eq "set-phase dual exits 0" "$T_RC" 0
assert_contains "set-phase says so" "$T_OUT" "phase is now dual"
t_run "$FERRY" cutover status --db "$url" --json
assert_eq "status --json exits 0" "$T_RC" 0
assert_eq "status: phase" "$(jget phase)" dual
assert_eq "status: changed_by" "$(jget changed_by)" alice
assert_eq "status: relays" "$(jget relays)" 0
assert_eq "status: exit_code" "$(jget exit_code)" 0
check "status: changed_at is RFC 3339" grep -Eq \
	'"changed_at": "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"' <<<"$T_OUT"

t_run "$FERRY" cutover set-phase new-primary --db "$url" --json --by bob
assert_eq "set-phase --json exits 0" "$T_RC" 0
assert_eq "set-phase --json: phase" "$(jget phase)" new-primary
t_run "$FERRY" cutover status --db "$url"
assert_contains "status text: phase" "$T_OUT" "phase:       new-primary"
assert_contains "status text: by bob" "$T_OUT" "by bob"
# back is allowed: that is how a cutover is rolled back
t_run "$FERRY" cutover set-phase dual --db "$url"
assert_eq "set-phase back to dual exits 0" "$T_RC" 0
assert_eq "the log has every move" \
	"$(pg_q "$url" "select string_agg(coalesce(previous, '-') || '>' || phase, ' ' order by id) from ferry.cutover_log")" \
	"->dual dual>new-primary new-primary>dual"
t_run env DATABASE_URL="$url" "$FERRY" cutover status --json
assert_eq "status from DATABASE_URL" "$(jget phase)" dual

# ---- usage errors: 2, nothing changed
t_run "$FERRY" cutover set-phase half --db "$url"
assert_eq "a bad phase exits 2" "$T_RC" 2
assert_contains "it names the phases" "$T_ERR" "old-only, dual, new-primary or new-only"
t_run "$FERRY" cutover set-phase half --db "$url" --json
assert_eq "a bad phase with --json exits 2" "$T_RC" 2
assert_eq "its JSON has exit_code 2" "$(jget exit_code)" 2
t_run "$FERRY" cutover set-phase --db "$url"
assert_eq "no phase exits 2" "$T_RC" 2
t_run env -u DATABASE_URL "$FERRY" cutover status
assert_eq "no --db exits 2" "$T_RC" 2
t_run "$FERRY" cutover sideways --db "$url"
assert_eq "an unknown cutover command exits 2" "$T_RC" 2
t_run "$FERRY" cutover rollback --db "$url"
assert_eq "rollback without a plan exits 1" "$T_RC" 1
assert_contains "it says what to do" "$T_ERR" "ferry cutover prepare"
t_run "$FERRY" cutover status --db "$url" --by x
assert_eq "--by is only for set-phase" "$T_RC" 2
assert_eq "the phase is unchanged" "$(pg_q "$url" "select phase from ferry.cutover")" dual

# ---- unreachable: 1
t_run "$FERRY" cutover set-phase dual --db "postgres://postgres@127.0.0.1:1/nowhere"
assert_eq "an unreachable database exits 1" "$T_RC" 1
assert_contains "it says it cannot connect" "$T_ERR" "cannot connect"

t_done
