#!/usr/bin/env bash
# migrate_rewrite.sh - `.rewrite.yaml` steps in `ferry migrate` (project
# only, no database): a reference file naming a built-in recipe and an
# inline recipe in a version folder; plan/--dry-run show the rewrite's
# diff; a later failing step rolls the rewrite back byte for byte
# (sha256); `down` in a later process restores from the recorded backup;
# a recipe's failing test fails the step; a missing record fails `down`
# with a pointer to the backup.
set -u
source "$(dirname "$0")/migrate_lib.sh" migrate_rewrite
fails() { local desc=$1; shift; "$@" >"$T/out" 2>&1; local got=$?
	if [ "$got" != 0 ]; then ok "$desc"; else bad "$desc (exit 0, want failure)"; fi; }
hasre() { if grep -qE -- "$1" "$T/out"; then ok "$2"; else bad "$2 (no /$1/)"; fi; }
fhas() { if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3 (no '$2' in $1)"; fi; }
# every file outside .ferry/ and migrations/ (rewrite backups included)
filehashes() { (cd "$1" && find . -path ./.ferry -prune -o -path ./migrations -prune -o -type f -print | sort | xargs -r sha256sum); }
unset DATABASE_URL

mkproject() {
	rm -rf "$1"; mkdir -p "$1/src" "$1/migrations"
	printf 'asyncio-mqtt==0.16.1\nrequests==2.31.0\n' > "$1/requirements.txt"
	cat > "$1/src/app.py" <<'PY'
import asyncio_mqtt
from asyncio_mqtt import Client

BANNER = "this service used asyncio_mqtt before"


async def main():
    async with asyncio_mqtt.Client("broker") as c:
        await c.publish("t", b"x")
PY
	chmod 640 "$1/src/app.py"
	printf 'a\n' > "$1/config.txt"
	cat > "$1/migrations/0001_config.py" <<'PY'
from pathlib import Path
MIGRATION_INFO = {"description": "append b to config.txt"}
def migrate_forward(root: Path) -> bool:
    p = root / "config.txt"
    p.write_text(p.read_text() + "b\n")
    return True
def migrate_backward(root: Path) -> bool:
    p = root / "config.txt"
    p.write_text(p.read_text().replace("b\n", "", 1))
    return True
PY
	printf '# swap asyncio-mqtt for aiomqtt (built-in recipe), no tests\nrecipe: asyncio-mqtt-to-aiomqtt\ntest: ""\n' \
		> "$1/migrations/0002_swap_mqtt.rewrite.yaml"
}

# ---- a later failing step reverts the rewrite byte for byte -------------------
P=$T/proj
mkproject "$P"
cat > "$P/migrations/0003_fail.sh" <<'SH'
#!/bin/sh
[ "$1" = forward ] && { echo "boom" >&2; exit 1; }
exit 0
SH
chmod +x "$P/migrations/0003_fail.sh"
cd "$P"
before=$(filehashes "$P")
run 0 "status lists the rewrite step" "$FERRY" migrate status
hasre "pending +0002_swap_mqtt +rewrite" "rewrite step is pending"
hasnt "skipped" "rewrite step not skipped"
run 0 "plan" "$FERRY" migrate plan
has "rewrite . with recipe 'asyncio-mqtt-to-aiomqtt'" "plan names the recipe"
has "-asyncio-mqtt==0.16.1" "plan diff removes asyncio-mqtt"
has "+aiomqtt==2.4.0" "plan diff adds aiomqtt"
has "+paho-mqtt==2.1.0" "plan diff adds paho-mqtt"
has "+import aiomqtt" "plan diff renames the import"
has "+++ ./src/app.py" "plan diff is a unified diff per file"
has "restore the files from the backup recorded in" "plan shows the rollback"
run 0 "up --dry-run" "$FERRY" migrate up --dry-run
has "+aiomqtt==2.4.0" "dry run shows the diff"
eq "$(filehashes "$P")" "$before" "dry run changed nothing"
fails "up with a failing third step fails" "$FERRY" migrate up
has "-> 0002_swap_mqtt ... ok" "rewrite step ran"
has "<- 0002_swap_mqtt ... ok" "rewrite step rolled back"
has "<- 0001_config ... ok" "python step rolled back"
eq "$(filehashes "$P")" "$before" "every file byte-identical after the rollback (sha256)"
eq "$(stat -c %a src/app.py)" "640" "mode kept"
eq "$(ls -d .ferry-backup-* 2>/dev/null | wc -l)" "0" "rewrite backup removed after the restore"
run 0 "status after the rollback" "$FERRY" migrate status
hasre "pending +0002_swap_mqtt +rewrite" "rewrite step pending again"

# ---- without the failing step: up, status, down 1 in a later process ----------
rm "$P/migrations/0003_fail.sh"
run 0 "up" "$FERRY" migrate up
has "-> 0002_swap_mqtt ... ok" "rewrite step applied"
fhas requirements.txt "aiomqtt==2.4.0" "requirements: aiomqtt pinned"
fhas requirements.txt "paho-mqtt==2.1.0" "requirements: paho-mqtt added"
fhas requirements.txt "requests==2.31.0" "requirements: other lines kept"
if grep -q "asyncio-mqtt" requirements.txt; then bad "asyncio-mqtt gone"; else ok "asyncio-mqtt gone"; fi
fhas src/app.py "import aiomqtt" "import renamed"
fhas src/app.py "from aiomqtt import Client" "from-import renamed"
fhas src/app.py "async with aiomqtt.Client" "attribute chain renamed"
fhas src/app.py 'BANNER = "this service used asyncio_mqtt before"' "string untouched"
[ -f .ferry/rewrite/0002.backup ] && ok "backup recorded" || bad "backup recorded"
bdir=$(sed -n 's/^backup //p' .ferry/rewrite/0002.backup)
[ -x "$bdir/rollback.sh" ] && ok "rollback.sh beside the backup" || bad "rollback.sh beside the backup"
eq "$(grep '"version":"0002"' .ferry/migrations.jsonl | tail -1 | grep -c '"name":"swap_mqtt","kind":"rewrite","checksum":"[0-9a-f]\{32\}".*"outcome":"applied"')" "1" "journal row with a checksum"
run 0 "status" "$FERRY" migrate status
hasre "applied +0002_swap_mqtt +rewrite" "status shows the rewrite applied"
run 0 "plan for down" "$FERRY" migrate down --dry-run
has "restore the files from '$bdir'" "down plan names the backup"
run 0 "down 1" "$FERRY" migrate down 1
has "<- 0002_swap_mqtt ... ok" "rewrite step reverted"
eq "$(sha256sum requirements.txt src/app.py)" "$(echo "$before" | grep -E 'requirements.txt|src/app.py' | sed 's#  \./#  #')" "down restores byte-exact"
fhas config.txt "b" "the python step stays applied"
[ -e .ferry/rewrite/0002.backup ] && bad "record removed" || ok "record removed"
[ -e "$bdir" ] && bad "backup removed after down" || ok "backup removed after down"
run 0 "status after down" "$FERRY" migrate status
hasre "pending +0002_swap_mqtt +rewrite" "rewrite step pending after down"
run 0 "up again" "$FERRY" migrate up
fhas requirements.txt "aiomqtt==2.4.0" "re-applied"

# ---- changing an applied .rewrite.yaml is drift -------------------------------
echo "# edited" >> migrations/0002_swap_mqtt.rewrite.yaml
fails "validate detects a changed rewrite step" "$FERRY" migrate validate
sed -i '/^# edited$/d' migrations/0002_swap_mqtt.rewrite.yaml
run 0 "validate after undoing the edit" "$FERRY" migrate validate

# ---- down without a record fails and says where to look -----------------------
rm .ferry/rewrite/0002.backup
fails "down without the record fails" "$FERRY" migrate down 1
has "no record of the rewrite's backup" "message says the record is missing"
has ".ferry-backup-*" "message says where the backup is"
fhas requirements.txt "aiomqtt==2.4.0" "nothing restored without a record"

# ---- inline recipe in a version folder; its test command decides ---------------
Q=$T/proj2
mkproject "$Q"
rm "$Q/migrations/0002_swap_mqtt.rewrite.yaml" "$Q/migrations/0001_config.py"
mkdir -p "$Q/migrations/v0.1.0_to_v0.2.0"
cat > "$Q/migrations/v0.1.0_to_v0.2.0/002_swap_mqtt.rewrite.yaml" <<'YAML'
name: swap
requirements:
  replace:
    - package: asyncio-mqtt
      with: aiomqtt
      pin: "==2.4.0"
python:
  files: ["src/**/*.py"]
  rename:
    - module: asyncio_mqtt
      to: aiomqtt
tests:
  command: grep -q nosuchthing requirements.txt
YAML
cd "$Q"
before=$(filehashes "$Q")
fails "up with a failing recipe test fails" "$FERRY" migrate up
has "tests failed with exit status 1" "test failure reported"
eq "$(filehashes "$Q")" "$before" "files restored after the failed test (sha256)"
run 0 "status after the failed test" "$FERRY" migrate status
has "0 dirty" "a failed test leaves nothing dirty"
hasre "failed +v0.1.0_to_v0.2.0/002_swap_mqtt +rewrite" "the step is recorded as failed"
sed -i 's/nosuchthing/aiomqtt==2.4.0/' migrations/v0.1.0_to_v0.2.0/002_swap_mqtt.rewrite.yaml
run 0 "up with a passing recipe test" "$FERRY" migrate up
fhas requirements.txt "aiomqtt==2.4.0" "inline recipe applied"
fhas src/app.py "import aiomqtt" "inline recipe renamed the import"
[ -f .ferry/rewrite/v0.1.0_to_v0.2.0__002.backup ] && ok "version-folder record" || bad "version-folder record"
run 0 "down" "$FERRY" migrate down 1
eq "$(filehashes "$Q")" "$before" "down restores the version-folder rewrite"

# ---- a declaration the rewrite cannot reach fails the step, nothing written --
S=$T/proj4
mkproject "$S"
printf 'from setuptools import setup\nV = "0.16.1"\nsetup(install_requires=["asyncio-mqtt==" + V])\n' > "$S/setup.py"
cd "$S"
before=$(filehashes "$S")
fails "up with a computed setup.py list fails" "$FERRY" migrate up
has "setup.py:3: 'asyncio-mqtt' is declared in a computed expression" "names the declaration left"
eq "$(filehashes "$S")" "$before" "partial rewrite step wrote nothing"

# ---- bad step files fail loudly ----------------------------------------------
R=$T/proj3
mkproject "$R"
printf 'recipe: no-such-recipe\n' > "$R/migrations/0002_swap_mqtt.rewrite.yaml"
cd "$R"
fails "unknown built-in recipe fails" "$FERRY" migrate status
has "no built-in recipe 'no-such-recipe'" "names the recipe"
printf 'recipe: asyncio-mqtt-to-aiomqtt\ntests: none\n' > "$R/migrations/0002_swap_mqtt.rewrite.yaml"
fails "unknown key in a reference file fails" "$FERRY" migrate status
has "expected 'recipe: NAME' or 'test: COMMAND'" "says what is allowed"

cd /
rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
