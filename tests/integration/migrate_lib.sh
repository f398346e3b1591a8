# tests/integration/migrate_lib.sh NAME - sourced by the migrate_*.sh tests:
# $FERRY, a fresh $T, pass/fail counters and the assertions they share.
# run WANT_RC DESC cmd... keeps the output in $T/out for has/hasnt.
FERRY=$(realpath "${FERRY_BIN:-$(dirname "${BASH_SOURCE[0]}")/../../build/ferry}")
TMPROOT=${FERRY_TEST_TMP:-/tmp}
mkdir -p "$TMPROOT"
T=$(mktemp -d "$TMPROOT/${1:?migrate_lib.sh needs the test name}.XXXXXX")
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; [ -f "$T/out" ] && sed 's/^/    | /' "$T/out"; }
run() { local want=$1 desc=$2; shift 2; "$@" >"$T/out" 2>&1; local got=$?
	if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; fi; }
has() { if grep -qF -- "$1" "$T/out"; then ok "$2"; else bad "$2 (no '$1')"; fi; }
hasnt() { if grep -qF -- "$1" "$T/out"; then bad "$2 (found '$1')"; else ok "$2"; fi; }
eq() { if [ "$1" = "$2" ]; then ok "$3"; else bad "$3 ('$1' != '$2')"; fi; }
