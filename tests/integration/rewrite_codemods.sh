#!/usr/bin/env bash
# rewrite_codemods.sh - recipe codemods end to end: `ferry rewrite` on the
# fixture services tests/data/rewrite/codemod-aliases (asyncio-mqtt ->
# aiomqtt, client_id -> identifier in every import spelling, the cases it
# must not touch) and tests/data/rewrite/paho-v1 (paho-mqtt 1.x -> 2.x:
# CallbackAPIVersion inserted).  Dry-run diffs, the rewrite, the fixtures'
# own tests (paho-v1's talk to the Mosquitto of tests/services), idempotence
# and rollback.sh restoring every file byte-exact (cmp).
#
# paho-mqtt 2.x: Debian bookworm ships 1.6.1 (used before the rewrite);
# after it the tests run against tests/data/vendor/paho-mqtt-2.1.0.
source "$(dirname "$0")/lib.sh"
t_init rewrite_codemods
t_need mqtt

FIX=$FERRY_SRC/tests/data/rewrite
PAHO2=$FERRY_SRC/tests/data/vendor/paho-mqtt-2.1.0
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
if $PY -m pytest --version >/dev/null 2>&1; then
	RUN="$PY -m pytest tests/ -q -p no:cacheprovider"
else
	RUN="$PY -m unittest discover -s tests -t ."
fi
PAHO2_RUN="PYTHONPATH=$PAHO2 $RUN"

fresh() { rm -rf "${T:?}/$1"; cp -r "$FIX/$1" "$T/$1"; }
# Every file of the fixture back byte for byte (cmp), and no other file
# but the backup and Python caches.
same_as_fixture() {
	local f rc=0
	diff <(cd "$FIX/$1" && find . -type f | sort) \
		<(cd "$T/$1" && find . \( -name '.ferry-backup-*' -o -name __pycache__ \
			-o -name .pytest_cache \) -prune -o -type f -print | sort) || rc=1
	while IFS= read -r -d '' f; do
		cmp "$FIX/$1/$f" "$T/$1/$f" || rc=1
	done < <(cd "$FIX/$1" && find . -type f -print0)
	return $rc
}

# ---- aiomqtt: keyword rename through aliases --------------------------------
fresh codemod-aliases
cd "$T/codemod-aliases" || exit 1
t_run bash -c "$RUN"
check "codemod-aliases: tests pass before (asyncio-mqtt stub)" [ "$T_RC" -eq 0 ]
cd "$T" || exit 1
t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt --dry-run codemod-aliases
assert_eq "dry run exits 1 (changes pending)" "$T_RC" 1
check "dry run writes nothing" same_as_fixture codemod-aliases
assert_contains "diff: plain import" "$T_OUT" \
	$'-    return asyncio_mqtt.Client(host, client_id="plain")\n+    return aiomqtt.Client(host, identifier="plain")'
assert_contains "diff: import aiomqtt as am, comment kept" "$T_OUT" \
	$'-        client_id="aliased",  # keep this comment\n+        identifier="aliased",  # keep this comment'
assert_contains "diff: from-import alias, other class inside untouched" "$T_OUT" \
	'+    return C(host, identifier=f"from-{host}", will=VendorClient(client_id="will"))'
assert_not_contains "other class not touched" "$T_OUT" '+    return VendorClient(identifier'
assert_not_contains "strings and comments not touched" "$T_OUT" '+NOTE'
assert_not_contains "shadowed name not touched" "$T_OUT" 'identifier="shadowed"'
assert_not_contains "call through a variable not touched" "$T_OUT" 'identifier="variable"'
assert_contains "summary: codemod count" "$T_OUT" \
	'[DRY] src/plant/mqtt.py: aiomqtt.Client(client_id=) -> identifier= (3 calls)'
assert_contains "warning: **kwargs with file:line" "$T_OUT" \
	"[WARN] src/plant/mqtt.py:32: aiomqtt.Client(...) gets '**' keyword arguments"
assert_contains "warning: getattr with file:line" "$T_OUT" \
	'[WARN] src/plant/mqtt.py:36: getattr() on aiomqtt'
assert_contains "warning: class handed around" "$T_OUT" \
	'[WARN] src/plant/legacy.py:4: aiomqtt.Client is used here without a call'
assert_contains "warning: rebound name" "$T_OUT" \
	"[WARN] src/plant/legacy.py:8: 'Client' is imported from aiomqtt.Client but also rebound"
# the dry-run diff is exactly what the rewrite writes
sed -n '/^--- /,$p' "$T/last.out" | grep -v '^\[' | grep -v '^[0-9]* director' >aliases.diff
rm -rf patched && mkdir patched && cp -r "$FIX/codemod-aliases" patched/
check "dry-run diff applies" patch -s -p0 -d patched -i "$T/aliases.diff"
t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt --test-cmd "$RUN" codemod-aliases
assert_eq "rewrite with the fixture's tests exits 0" "$T_RC" 0
assert_contains "tests passed, with their count" "$T_OUT" " tests, $RUN ("
check "result equals the patched dry-run diff" \
	diff -r -x '.ferry-backup-*' patched/codemod-aliases codemod-aliases
t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt --dry-run codemod-aliases
assert_eq "dry run after the rewrite: nothing pending" "$T_RC" 0
bk=$(ls -d codemod-aliases/.ferry-backup-*)
check "rollback.sh runs" "$bk/rollback.sh"
check "rollback restores every file byte-exact" same_as_fixture codemod-aliases

# ---- paho-mqtt 1 -> 2 --------------------------------------------------------
fresh paho-v1
cd "$T/paho-v1" || exit 1
t_run bash -c "$RUN"
check "paho-v1: tests pass on Debian's paho-mqtt $($PY -c 'import paho.mqtt as m; print(m.__version__)')" [ "$T_RC" -eq 0 ]
assert_contains "paho-v1: broker round trip ran" "$T_OUT" "4 passed"
t_run bash -c "$PAHO2_RUN"
check "paho-v1 unmigrated fails on paho-mqtt 2.1.0 (the tests can fail)" [ "$T_RC" -ne 0 ]
assert_contains "  ... because Client() needs a callback API version" "$T_OUT" \
	"Unsupported callback API version"
cd "$T" || exit 1
t_run "$FERRY" rewrite --recipe paho-mqtt-1-to-2 --dry-run paho-v1
assert_eq "paho dry run exits 1" "$T_RC" 1
check "paho dry run writes nothing" same_as_fixture paho-v1
assert_contains "diff: requirement" "$T_OUT" $'-paho-mqtt==1.6.1  # MQTT client\n+paho-mqtt>=2.1.0,<3  # MQTT client'
assert_contains "diff: import paho.mqtt.client as mqtt" "$T_OUT" \
	'+    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id, clean_session=True)'
assert_contains "diff: from-import alias spelled with the module alias" "$T_OUT" \
	'+    client = PahoClient(mqtt.CallbackAPIVersion.VERSION1, client_id="telemetry-sub", protocol=MQTTv311)'
assert_not_contains "paho: string untouched" "$T_OUT" '+BANNER'
t_run "$FERRY" rewrite --recipe paho-mqtt-1-to-2 --test-cmd "$PAHO2_RUN" paho-v1
assert_eq "paho rewrite with tests on paho-mqtt 2.1.0 exits 0" "$T_RC" 0
assert_contains "paho: tests passed, with their count" "$T_OUT" "[OK] tests passed: 4 tests, $PAHO2_RUN ("
cd "$T/paho-v1" || exit 1
t_run bash -c "$PAHO2_RUN"
assert_contains "paho: migrated round trip on 2.1.0" "$T_OUT" "4 passed"
cd "$T" || exit 1
t_run "$FERRY" rewrite --recipe paho-mqtt-1-to-2 --no-test paho-v1
assert_eq "paho: second run exits 0" "$T_RC" 0
assert_contains "paho: second run: already migrated" "$T_OUT" "already migrated"
bk=$(ls -d paho-v1/.ferry-backup-*)
check "paho: one backup" [ "$(echo "$bk" | wc -l)" -eq 1 ]
check "paho: rollback.sh runs" "$bk/rollback.sh"
check "paho: rollback restores every file byte-exact" same_as_fixture paho-v1

# VERSION2: callbacks reported with file:line, never edited
fresh paho-v1
t_run "$FERRY" rewrite --recipe paho-mqtt-1-to-2-callbacks-v2 --dry-run paho-v1
assert_contains "v2: VERSION2 inserted" "$T_OUT" \
	'+    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id, clean_session=True)'
assert_contains "v2: on_connect warning" "$T_OUT" \
	'[WARN] src/telemetry/mqtt.py:40: paho-mqtt 2.x VERSION2: on_connect(client, userdata, flags, reason_code, properties)'
assert_contains "v2: on_subscribe warning" "$T_OUT" \
	'[WARN] src/telemetry/mqtt.py:48: paho-mqtt 2.x VERSION2: on_subscribe('
assert_contains "v2: on_publish warning" "$T_OUT" \
	'[WARN] src/telemetry/mqtt.py:41: paho-mqtt 2.x VERSION2: on_publish('
assert_not_contains "v2: on_message did not change" "$T_OUT" 'mqtt.py:49'

t_done
