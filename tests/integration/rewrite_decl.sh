#!/usr/bin/env bash
# rewrite_decl.sh - `ferry rewrite` on every declaration format: one batch
# run over the fixture services of tests/data/rewrite (Poetry, Pipfile,
# setup.cfg, setup.py, manifest.json, Dockerfile, PDM/Hatch), their own
# tests run by ferry, the batch table and --json, lock files, the dry-run
# diff against the real run, byte-exact rollback, partial declarations
# (--allow-partial) and bad input that must leave a directory untouched.
# Helpers in rewrite_lib.sh; prints "N passed, M failed".
set -u

# shellcheck source=tests/integration/rewrite_lib.sh
. "$(dirname "$0")/rewrite_lib.sh" rewrite_decl

if ! command -v pytest >/dev/null 2>&1; then
	echo "# pytest is needed: the fixture services test their own declarations"
	exit 77
fi
TEST="pytest tests/ -q -p no:cacheprovider"
PY=/usr/bin/python3
ALL="poetry-only pipfile-svc setupcfg-svc setuppy-svc hass-integration docker-svc pdm-hatch"

rm -rf "$TMP"
mkdir -p "$TMP"
cd "$TMP" || exit 1

# --- dry run over every format: every edit in the diff, nothing written -----
for c in $ALL already-migrated; do fresh $c; done
mkdir notaservice
declare -A before
for c in $ALL; do before[$c]=$(snap $c); done
"$FERRY_BIN" rewrite --recipe $RECIPE --dry-run $ALL >dry.out 2>dry.err
check "dry-run over all formats exits 1 (changes pending)" [ $? -eq 1 ]
same=1
for c in $ALL; do [ "${before[$c]}" = "$(snap $c)" ] || same=0; done
check "dry-run writes nothing" [ $same -eq 1 ]
check "dry-run: Poetry string" grep -qx -- '+aiomqtt = "2.4.0"   # MQTT' dry.out
check "dry-run: Poetry inline table keeps markers" \
	grep -qxF -- "+\"aiomqtt\" = { version = \"2.4.0\", markers = \"sys_platform == 'linux'\" }" dry.out
check "dry-run: Poetry extras" grep -qx -- '+mqtt = \["aiomqtt"\]' dry.out
check "dry-run: Poetry table form" grep -qx -- '+\[tool.poetry.group.bridge.dependencies.aiomqtt\]' dry.out
check "dry-run: Pipfile" grep -qx -- '+aiomqtt = "==2.4.0"' dry.out
check "dry-run: setup.cfg line" grep -qx -- '+    aiomqtt==2.4.0' dry.out
check "dry-run: setup.py list" grep -qx -- '+    "aiomqtt==2.4.0",  # MQTT' dry.out
check "dry-run: manifest.json" grep -qx -- '+    "aiomqtt==2.4.0",' dry.out
check "dry-run: Dockerfile continuation line" \
	grep -qx -- '+        "aiomqtt==2.4.0" "paho-mqtt==2.1.0" \\' dry.out
check "dry-run: Hatch env" grep -qx -- '+dependencies = \["pytest", "aiomqtt==2.4.0"\]' dry.out
check "dry-run: PDM dev-dependencies" grep -qx -- '+    "aiomqtt==2.4.0",  # for the bridge' dry.out
# the dry-run diff applies with patch(1) and gives exactly what the real run writes
rm -rf patched && mkdir patched && for c in $ALL; do cp -r $c patched/; done
grep -v '^\[' dry.out | sed '/^== /d; /^$/,$d' >dry.patch
(cd patched && patch -s -p0 <../dry.patch) >/dev/null 2>&1
check "dry-run diff applies with patch -p0" [ $? -eq 0 ]

# --- one batch run over all of them (plus the skips) ------------------------
"$FERRY_BIN" rewrite --recipe $RECIPE --test-cmd "$TEST" $ALL already-migrated \
	notaservice >run.out 2>run.err
check "batch run exits 0" [ $? -eq 0 ]
[ $? -eq 0 ] || tail -30 run.out run.err
same=1
for c in $ALL; do
	diff -r -x '.ferry-backup-*' -x .pytest_cache "patched/$c" "$c" >/dev/null || same=0
done
check "every file equals the patched dry-run diff" [ $same -eq 1 ]
check "seed-style summary line" grep -qx '\[OK\] Pipfile: asyncio-mqtt -> aiomqtt==2.4.0' run.out
check "tests passed with count and time" \
	grep -qE '^\[OK\] tests passed: 3 tests, pytest tests/ -q -p no:cacheprovider \([0-9.]+ s\)$' run.out
check "table row: migrated with its tests" grep -qE '^poetry-only +migrated +2  3 passed \(' run.out
check "table row: already migrated" grep -qE '^already-migrated +already migrated ' run.out
check "table row: skipped: not a service" grep -qE '^notaservice +skipped: not a service ' run.out
check "table counts" grep -qx '9 directories: 7 migrated, 1 already migrated, 1 skipped: not a service' run.out
check "poetry.lock named with its command" \
	grep -qx "\[LOCK\] poetry.lock pins the old package: regenerate it with 'poetry lock --no-update'" run.out
check "Pipfile.lock named with its command" \
	grep -qx "\[LOCK\] Pipfile.lock pins the old package: regenerate it with 'pipenv lock'" run.out
check "Poetry-only service: no declaration of asyncio-mqtt left" \
	bash -c "! grep -rniE 'asyncio[-_.]mqtt' poetry-only/pyproject.toml poetry-only/src"
check "Dockerfile comment kept" grep -qx '# asyncio-mqtt is installed below' docker-svc/Dockerfile

# rollback.sh restores each byte-exact
same=1
for c in $ALL; do
	bk=$(ls -d $c/.ferry-backup-$RECIPE-* | head -1)
	sh "$bk/rollback.sh" >/dev/null || same=0
	for f in $(sed -n 's/^M //p' "$bk/manifest.txt"); do
		cmp -s "$FIX/$c/$f" "$c/$f" || { same=0; echo "# $c/$f differs"; }
	done
	[ "${before[$c]}" = "$(snap $c)" ] || same=0
done
check "rollback.sh restores every format byte-exact (cmp)" [ $same -eq 1 ]

# --- --json: parsed, with results, summary, locks ---------------------------
for c in poetry-only setuppy-svc; do fresh $c; done
cat > setuppy-svc/setup.py <<'EOF'
from setuptools import setup

V = "0.16.1"
setup(name="pump", install_requires=["aiohttp", "asyncio-mqtt==" + V])
EOF
"$FERRY_BIN" rewrite --recipe $RECIPE --json --test-cmd "$TEST" poetry-only \
	setuppy-svc notaservice >j.out 2>j.err
check "--json exits 1 (a partial directory)" [ $? -eq 1 ]
check "--json parses, with results, summary and locks" $PY -c '
import json
d = json.load(open("j.out"))
r = {x["dir"]: x for x in d["directories"]}
assert r["poetry-only"]["result"] == "migrated", r["poetry-only"]
assert r["poetry-only"]["tests"]["count"] == 3
assert r["poetry-only"]["locks"] == [{"file": "poetry.lock", "command": "poetry lock --no-update"}]
assert r["setuppy-svc"]["result"] == "failed-partial"
assert r["setuppy-svc"]["partial"][0].startswith("setup.py:4: ")
assert r["notaservice"]["result"] == "not-a-service"
assert all({"partial", "locks", "warnings", "files"} <= set(x) for x in d["directories"])
s = d["summary"]
assert s["migrated"] == 1 and s["failed-partial"] == 1 and s["not-a-service"] == 1, s
assert d["exit_code"] == 1 and "error" in d
'

# --- partial: fails the directory unless --allow-partial --------------------
fresh setuppy-svc
cat > setuppy-svc/setup.py <<'EOF'
from setuptools import setup

V = "0.16.1"
setup(name="pump", install_requires=["aiohttp", "asyncio-mqtt==" + V])
EOF
b=$(snap setuppy-svc)
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test setuppy-svc >p.out 2>&1
check "partial declaration fails the directory (exit 1)" [ $? -eq 1 ]
check "partial names file:line" grep -qx "\[PARTIAL\] setup.py:4: 'asyncio-mqtt' is declared in a computed expression; replace it by 'aiomqtt' by hand" p.out
check "partial: table says failed: partial" grep -qE '^setuppy-svc +failed: partial ' p.out
check "partial: nothing written" [ "$b" = "$(snap setuppy-svc)" ]
check "partial: no backup" [ -z "$(ls -d setuppy-svc/.ferry-backup-* 2>/dev/null)" ]
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test --allow-partial setuppy-svc >ap.out 2>&1
check "--allow-partial writes the rest (exit 0)" [ $? -eq 0 ]
check "--allow-partial: imports rewritten" grep -qx 'import aiomqtt.client' setuppy-svc/src/pump/__init__.py
check "--allow-partial: setup.py never half edited" cmp -s setuppy-svc/setup.py "$TMP/setuppy-svc/setup.py"
check "--allow-partial: table says migrated, partial" grep -qE '^setuppy-svc +migrated, partial ' ap.out
sh setuppy-svc/.ferry-backup-*/rollback.sh >/dev/null
check "--allow-partial: rollback byte-exact" [ "$b" = "$(snap setuppy-svc)" ]

# a Poetry git dependency cannot be rewritten: partial, file untouched
fresh poetry-only
sed -i 's|^Asyncio_MQTT = .*|asyncio-mqtt = { git = "https://example.org/asyncio-mqtt.git" }|' poetry-only/pyproject.toml
b=$(snap poetry-only)
"$FERRY_BIN" rewrite --recipe $RECIPE --no-test poetry-only >pg.out 2>&1
check "Poetry git dependency is partial (exit 1)" [ $? -eq 1 ]
check "Poetry git dependency named with its line" \
	grep -q "^\[PARTIAL\] pyproject.toml:11: 'asyncio-mqtt' is a git dependency" pg.out
check "Poetry git dependency: nothing written" [ "$b" = "$(snap poetry-only)" ]

# hashes pinned in a requirements file: named with the command that regenerates them
mkdir -p hashed
printf 'asyncio-mqtt==0.16.1 \\\n    --hash=sha256:%064d\n' 0 >hashed/requirements.txt
"$FERRY_BIN" rewrite --recipe $RECIPE --dry-run hashed >hs.out 2>&1
check "hashed requirements: lock line with pip-compile" grep -qx \
	"\[LOCK\] requirements.txt pins the old package: regenerate it with 'pip-compile --generate-hashes'" hs.out

# --- bad input: a clear message with file and line, directory untouched -----
badcase() {  # name fixture file content expected-message
	local name=$1 fix=$2 file=$3 content=$4 msg=$5 b
	rm -rf "$name"
	cp -r "$FIX/$fix" "$name"
	printf '%s' "$content" >"$name/$file"
	b=$(snap "$name")
	"$FERRY_BIN" rewrite --recipe $RECIPE --no-test "$name" >"$name.out" 2>&1
	check "$name: exit 1" [ $? -eq 1 ]
	check "$name: message names file and line" grep -qF -- "$msg" "$name.out"
	check "$name: directory byte-identical" [ "$b" = "$(snap "$name")" ]
}
# one case per row: name, fixture, file, its new content, the message
bad_cases=(
	toml-string poetry-only pyproject.toml
	$'[tool.poetry.dependencies]\nasyncio-mqtt = "^0.16.1\n'
	"'toml-string/pyproject.toml': line 2: not valid TOML: unterminated string"

	toml-array pdm-hatch pyproject.toml
	$'[project]\nname = "x"\ndependencies = [\n  "asyncio-mqtt",\n'
	"'toml-array/pyproject.toml': line 3: not valid TOML: unterminated array"

	toml-dup poetry-only pyproject.toml
	$'[tool.poetry]\nname = "x"\n\n[tool.poetry]\nversion = "1"\n'
	"'toml-dup/pyproject.toml': line 4: not valid TOML: table [tool.poetry] is defined twice"

	toml-key poetry-only pyproject.toml
	$'[tool.poetry.dependencies]\nasyncio mqtt = "^0.16"\n'
	"'toml-key/pyproject.toml': line 2: not valid TOML: expected '=' after the key"

	pipfile-section pipfile-svc Pipfile
	$'[packages]\nasyncio-mqtt = "*"\n\n[dev-pakages]\npytest = "*"\n'
	"'pipfile-section/Pipfile': line 4: unknown section [dev-pakages] in a Pipfile"

	manifest-json hass-integration custom_components/mqtt_bridge/manifest.json
	$'{\n  "domain": "mqtt_bridge",\n  "requirements": ["asyncio-mqtt==0.16.1",]\n}\n'
	"'manifest-json/custom_components/mqtt_bridge/manifest.json': line 3: not valid JSON"

	setup-computed setuppy-svc setup.py
	$'from setuptools import setup\nsetup(install_requires=[f"asyncio-mqtt=={V}"])\n'
	"[PARTIAL] setup.py:2: 'asyncio-mqtt' is declared in a computed expression"
)
for ((k = 0; k < ${#bad_cases[@]}; k += 5)); do
	badcase "${bad_cases[@]:k:5}"
done

# --- help and usage ----------------------------------------------------------
"$FERRY_BIN" rewrite --help >h.out
check "--help documents --allow-partial" grep -q -- '--allow-partial' h.out
check "--help names the formats" grep -q 'Poetry' h.out
"$FERRY_BIN" rewrite --recipe $RECIPE notaservice >ns.out 2>&1
check "only non-services: exit 1" [ $? -eq 1 ]
check "only non-services: says so" grep -q 'no directory looks like a service' ns.out

cd / && rm -rf "$TMP"
echo "$pass passed, $failn failed"
[ "$failn" -eq 0 ]
