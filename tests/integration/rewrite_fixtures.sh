#!/usr/bin/env bash
# rewrite_fixtures.sh - drive `ferry rewrite` over copies of the fixture
# service trees in tests/data/rewrite: diffs, real writes, byte-exact
# restores (rollback.sh and automatic), idempotence, --json, bad inputs.
# Helpers in rewrite_lib.sh (no lib.sh); prints "N passed, M failed".
set -u

# shellcheck source=tests/integration/rewrite_lib.sh
. "$(dirname "$0")/rewrite_lib.sh" rewrite

rm -rf "$TMP"
mkdir -p "$TMP"
cd "$TMP" || exit 1

if command -v pytest >/dev/null 2>&1; then
	TEST="pytest tests/ -q -p no:cacheprovider"
else
	echo "# pytest not installed: fixture tests run as shell checks"
	TEST=""
fi
testcmd() {  # test command for a fixture: pytest, or its shell equivalent
	if [ -n "$TEST" ]; then echo "$TEST"; else
		case $1 in
		tests-fail) echo "grep -q asyncio-mqtt requirements.txt" ;;
		*) echo "true" ;;
		esac
	fi
}

# --- dry run over all four: a diff, exit 1, nothing written ------------
for c in client-code requirements-only already-migrated tests-fail; do fresh $c; done
before=$(snap client-code)
"$FERRY_BIN" rewrite --recipe $RECIPE --dry-run client-code requirements-only \
	already-migrated tests-fail >dry.out 2>dry.err
check "dry-run exits 1 when changes are pending" [ $? -eq 1 ]
check "dry-run writes nothing" [ "$before" = "$(snap client-code)" ]
check "dry-run shows the requirement change" \
	grep -qx -- '+aiomqtt\[websockets\]==2.4.0 ; python_version >= "3.8"  # MQTT client' dry.out
check "dry-run shows the import change" grep -qx -- '+from aiomqtt.exceptions import MqttCodeError' dry.out
check "summary line for requirements" grep -qx -- '\[DRY\] requirements.txt: Asyncio_MQTT -> aiomqtt==2.4.0' dry.out
check "already-migrated is skipped" grep -q 'already migrated' dry.out
check "API warning with file:line" \
	grep -q '^\[WARN\] src/sensor_bridge/mqtt.py:29: aiomqtt 2.x removed filtered_messages' dry.out
check "no backup on dry-run" [ -z "$(ls -d client-code/.ferry-backup-* 2>/dev/null)" ]
# the dry-run diff applies with patch(1) and gives what the real run writes
rm -rf patched && mkdir patched && cp -r client-code patched/
(cd patched && sed -n '/^--- client-code\//,/^\[DRY\]/p' ../dry.out | grep -v '^\[DRY\]' |
	sed '/^== /,$d' | patch -s -p0) >/dev/null 2>&1
check "dry-run diff applies with patch -p0" [ $? -eq 0 ]

"$FERRY_BIN" rewrite --recipe $RECIPE --dry-run already-migrated >/dev/null 2>&1
check "dry-run exits 0 when nothing would change" [ $? -eq 0 ]

# --- real run on client code: tests pass, strings untouched -------------
"$FERRY_BIN" rewrite --recipe $RECIPE --test-cmd "$(testcmd client-code)" client-code >run.out 2>run.err
check "rewrite of client-code succeeds" [ $? -eq 0 ]
check "result equals the patched dry-run diff" diff -r -x '.ferry-backup-*' -x .pytest_cache patched/client-code client-code
check "requirements pinned" grep -qx 'paho-mqtt==2.1.0 ; python_version >= "3.8"  # required by aiomqtt 2.x' client-code/requirements.txt
check "continuation with --hash kept" grep -qx '    --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000' client-code/requirements.txt
check "pyproject array rewritten" grep -qx '    "aiomqtt==2.4.0",  # MQTT' client-code/pyproject.toml
check "pyproject multi-line string untouched" grep -qx '\[not-a-table\] asyncio-mqtt is mentioned here and must stay"""' client-code/pyproject.toml
check "strings untouched" grep -qx 'BANNER = "built on asyncio_mqtt"' client-code/src/sensor_bridge/mqtt.py
check "f-string untouched" grep -qxF "TEMPLATE = f\"{BANNER} via {'asyncio_mqtt'!r}\"" client-code/src/sensor_bridge/mqtt.py
check "comment untouched" grep -qx '# Client wrapper around asyncio_mqtt (see the asyncio_mqtt docs).' client-code/src/sensor_bridge/mqtt.py
check "longer identifier untouched" grep -qx 'def my_asyncio_mqtt_helper():' client-code/src/sensor_bridge/mqtt.py
check "attribute use rewritten" grep -qx '    return aiomqtt.Client(hostname=host, identifier="bridge-1")' client-code/src/sensor_bridge/mqtt.py
bk=$(ls -d client-code/.ferry-backup-$RECIPE-* 2>/dev/null | head -1)
check "backup directory with rollback.sh" [ -x "$bk/rollback.sh" ]

# idempotence: a second run changes nothing
after=$(snap client-code)
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test client-code >run2.out 2>&1
check "second run exits 0" [ $? -eq 0 ]
check "second run says already migrated" grep -q 'already migrated' run2.out
check "second run changes nothing" [ "$after" = "$(snap client-code)" ]
check "second run makes no new backup" [ "$(ls -d client-code/.ferry-backup-* | wc -l)" -eq 1 ]
"$FERRY_BIN" rewrite --recipe $RECIPE --dry-run client-code >/dev/null 2>&1
check "dry-run after the rewrite exits 0" [ $? -eq 0 ]

# rollback.sh restores byte for byte
sh "$bk/rollback.sh" >/dev/null
check "rollback.sh restores every file byte-exact" [ "$before" = "$(snap client-code)" ]

# --- requirements only, via the recipe file and the default test cmd ---
before=$(snap requirements-only)
"$FERRY_BIN" rewrite --recipe "$FERRY_SRC/examples/recipes/$RECIPE.yaml" \
	--test-cmd "$(testcmd requirements-only)" requirements-only >ro.out 2>&1
check "requirements-only succeeds with the recipe file" [ $? -eq 0 ]
check "CRLF kept in requirements.txt" [ "$(grep -c $'\r$' requirements-only/requirements.txt)" -eq 4 ]
check "paho pin warning for constraints" grep -q "constraints.txt:2: 'paho-mqtt==1.6.1' kept" ro.out
sh requirements-only/.ferry-backup-*/rollback.sh >/dev/null
check "requirements-only rollback byte-exact" [ "$before" = "$(snap requirements-only)" ]

# --- tests fail after the change: automatic restore ----------------------
before=$(snap tests-fail)
"$FERRY_BIN" rewrite --recipe $RECIPE --test-cmd "$(testcmd tests-fail)" tests-fail >tf.out 2>tf.err
check "failing tests make the run exit 1" [ $? -eq 1 ]
check "automatic restore is byte-exact" [ "$before" = "$(snap tests-fail)" ]
check "failure is reported" grep -q 'tests failed with exit status' tf.out
check "no backup left after automatic restore" [ -z "$(ls -d tests-fail/.ferry-backup-* 2>/dev/null)" ]
"$FERRY_BIN" rewrite --recipe $RECIPE --test-cmd "$(testcmd tests-fail)" \
	--keep-on-test-failure tests-fail >/dev/null 2>&1
check "--keep-on-test-failure exits 1" [ $? -eq 1 ]
check "--keep-on-test-failure keeps the change" grep -q aiomqtt tests-fail/requirements.txt
sh tests-fail/.ferry-backup-*/rollback.sh >/dev/null
check "rollback.sh after kept failure byte-exact" [ "$before" = "$(snap tests-fail)" ]

# --- hanging tests: --test-timeout ------------------------------------
start=$(date +%s)
"$FERRY_BIN" rewrite --recipe $RECIPE --test-cmd "sleep 60" --test-timeout 2 tests-fail >hang.out 2>&1
rc=$?
check "hanging tests are killed (exit 1)" [ $rc -eq 1 ]
check "hanging tests stop within the timeout" [ $(( $(date +%s) - start )) -lt 20 ]
check "timeout is reported" grep -q 'timed out' hang.out
check "timeout restores byte-exact" [ "$before" = "$(snap tests-fail)" ]

# --- --json --------------------------------------------------------------
fresh client-code
"$FERRY_BIN" rewrite --recipe $RECIPE --json --dry-run client-code already-migrated >j.out 2>/dev/null
check "--json exits 1 on pending changes" [ $? -eq 1 ]
check "--json output parses" python3 -m json.tool j.out >/dev/null
check "--json has statuses" python3 -c '
import json, sys
d = json.load(open("j.out"))
st = [x["status"] for x in d["directories"]]
assert st == ["pending", "already-migrated"], st
assert d["directories"][0]["files"][0]["file"] == "pyproject.toml"
assert any("filtered_messages" in w for w in d["directories"][0]["warnings"])
'

# --- bad input: nothing written, clear messages --------------------------
fresh client-code
printf 'import asyncio_mqtt\n\0\1\2' > client-code/src/sensor_bridge/blob.py
before=$(snap client-code)
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test client-code >bin.out 2>&1
check "binary source fails the directory" [ $? -eq 1 ]
check "binary source is named" grep -q "blob.py'.*binary" bin.out
check "binary source: nothing written" [ "$before" = "$(snap client-code)" ]
rm client-code/src/sensor_bridge/blob.py
printf '# caf\xe9\nimport asyncio_mqtt\n' > client-code/src/sensor_bridge/latin.py
before=$(snap client-code)
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test client-code >enc.out 2>&1
check "non-UTF-8 source fails" [ $? -eq 1 ]
check "non-UTF-8 source is named with its line" grep -q "latin.py'.*not valid UTF-8 at line 1" enc.out
check "non-UTF-8 source: nothing written" [ "$before" = "$(snap client-code)" ]
rm client-code/src/sensor_bridge/latin.py

mkdir -p notaservice/src
"$FERRY_BIN" rewrite --recipe $RECIPE notaservice client-code --no-test >ns.out 2>&1
check "non-service dir is skipped, the batch succeeds (exit 0)" [ $? -eq 0 ]
check "non-service dir message" grep -q "^\[SKIP\] 'notaservice' does not look like a service" ns.out
check "non-service dir in the table" grep -qE '^notaservice +skipped: not a service' ns.out
check "other directories still run" grep -q '^\[OK\] requirements.txt: Asyncio_MQTT -> aiomqtt==2.4.0' ns.out

if command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	fresh tests-fail
	chmod -R a+rX "$TMP"
	chmod 000 tests-fail/src/legacy/__init__.py
	before=$(snap tests-fail)
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$FERRY_BIN" rewrite --recipe $RECIPE --no-test tests-fail >ur.out 2>&1
	check "unreadable file fails" [ $? -eq 1 ]
	check "unreadable file is named" grep -q "cannot read '.*__init__.py': Permission denied" ur.out
	chmod 644 tests-fail/src/legacy/__init__.py
	check "unreadable file: nothing written" [ "$before" = "$(snap tests-fail)" ]
else
	echo "# skipped unreadable-file case (needs root and setpriv)"
fi

# --- usage errors: exit 2 ------------------------------------------------
"$FERRY_BIN" rewrite client-code >/dev/null 2>&1
check "missing --recipe exits 2" [ $? -eq 2 ]
"$FERRY_BIN" rewrite --recipe nope client-code >/dev/null 2>u.err
check "unknown recipe exits 2" [ $? -eq 2 ]
check "unknown recipe message" grep -q "no recipe file or built-in recipe named 'nope'" u.err
"$FERRY_BIN" rewrite --help | grep -q -- '--test-timeout'
check "--help documents the options" [ $? -eq 0 ]

cd / && rm -rf "$TMP"
echo "$pass passed, $failn failed"
[ "$failn" -eq 0 ]
