# shellcheck shell=bash
# rewrite_lib.sh - what the `ferry rewrite` tests share (sourced by
# rewrite_fixtures.sh and rewrite_decl.sh with their name as $1): the
# fixture paths, ok/bad/check counters, snap (content hashes of a tree
# without backups and test caches) and fresh (a new copy of a fixture).
FERRY_BIN=${FERRY_BIN:-$(pwd)/build/ferry}
FERRY_SRC=${FERRY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TMP=${FERRY_TEST_TMP:-/tmp}/$1.$$
FIX=$FERRY_SRC/tests/data/rewrite
export RECIPE=asyncio-mqtt-to-aiomqtt  # used by the scripts that source this
export PYTHONDONTWRITEBYTECODE=1

pass=0
failn=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { failn=$((failn + 1)); echo "FAIL - $1"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# Content hashes of every file except backups and test caches.
snap() {
	(cd "$1" && find . \( -name '.ferry-backup-*' -o -name .pytest_cache \
		-o -name __pycache__ \) -prune -o -type f -print0 | sort -z |
		xargs -0 sha256sum)
}
fresh() { rm -rf "${TMP:?}/$1"; cp -r "$FIX/$1" "$TMP/$1"; }
