#!/usr/bin/env bash
# migrate_project.sh - project-only `ferry migrate` (no database): Python
# migration files in version-transition folders (MIGRATION_INFO, backups,
# requires_restart, --restart-cmd), executable steps, ordering v0.9 <
# v0.10, the JSON-lines journal, a failing Python step reverting the run
# (files compared by sha256) and a concurrent run.  Rewrite steps:
# migrate_rewrite.sh.
set -u
source "$(dirname "$0")/migrate_lib.sh" migrate_project
filehashes() { (cd "$1" && find . -path ./.ferry -prune -o -path ./migrations -prune -o -type f -print | sort | xargs -r sha256sum); }
unset DATABASE_URL

P=$T/proj; mkdir -p "$P/migrations/v0.1.0_to_v0.2.0" "$P/migrations/v0.2.0_to_v0.9.0" \
	"$P/migrations/v0.9.0_to_v0.10.0" "$P/config"
cd "$P"
cat > config/mcp.json <<'JSON'
{"servers": {"mqtt": {"host": "broker.local", "port": 1883}}}
JSON
cat > migrations/v0.1.0_to_v0.2.0/001_update_mcp_configs.py <<'PY'
"""Move the MQTT port into a url."""
import json
from pathlib import Path

MIGRATION_INFO = {
    "version_from": "0.1.0",
    "version_to": "0.2.0",
    "description": "MQTT host/port become a url",
    "breaking_changes": ["config/mcp.json: servers.mqtt.url replaces host and port"],
    "estimated_duration_seconds": 1,
    "requires_restart": ["mqtt-bridge"],
    "backup_required": True,
}


def migrate_forward(project_root: Path) -> bool:
    p = project_root / "config" / "mcp.json"
    cfg = json.loads(p.read_text())
    m = cfg["servers"]["mqtt"]
    m["url"] = "mqtt://%s:%d" % (m.pop("host"), m.pop("port"))
    p.write_text(json.dumps(cfg, sort_keys=True) + "\n")
    print("rewrote", p)
    return True


def migrate_backward(project_root: Path) -> bool:
    p = project_root / "config" / "mcp.json"
    cfg = json.loads(p.read_text())
    m = cfg["servers"]["mqtt"]
    host, port = m.pop("url")[len("mqtt://"):].split(":")
    m["host"], m["port"] = host, int(port)
    p.write_text('{"servers": {"mqtt": {"host": "%s", "port": %d}}}\n' % (host, int(port)))
    return True
PY
cat > migrations/v0.2.0_to_v0.9.0/001_order.sh <<'SH'
#!/bin/sh
if [ "$1" = forward ]; then echo v0.9 >> "$2/order.log"; else sed -i '/^v0.9$/d' "$2/order.log"; fi
SH
cat > migrations/v0.9.0_to_v0.10.0/001_order.sh <<'SH'
#!/bin/sh
if [ "$1" = forward ]; then echo v0.10 >> "$2/order.log"; else sed -i '/^v0.10$/d' "$2/order.log"; fi
SH
cat > migrations/v0.9.0_to_v0.10.0/002_restart.py <<'PY'
from pathlib import Path
MIGRATION_INFO = {"version_from": "0.9.0", "version_to": "0.10.0", "description": "x",
                  "breaking_changes": [], "estimated_duration_seconds": 0,
                  "requires_restart": True, "backup_required": False}
def migrate_forward(project_root: Path) -> bool:
    return True
def migrate_backward(project_root: Path) -> bool:
    return True
PY
chmod +x migrations/*/*.sh
echo "not a step" > migrations/README.md
touch order.log

run 0 "status (project-only)" "$FERRY" migrate status
has "pending  v0.1.0_to_v0.2.0/001_update_mcp_configs  python" "python step discovered"
run 0 "plan" "$FERRY" migrate plan
has "MQTT host/port become a url [backup required]" "plan shows MIGRATION_INFO"
has "migrate_backward(Path('.'))" "plan shows the rollback"
run 0 "up --to v0.2.0" "$FERRY" migrate up --to v0.2.0
has "-> v0.1.0_to_v0.2.0/001_update_mcp_configs ... ok" "python step ran"
has "config/mcp.json" "backup lists the touched file"
has "restart required: mqtt-bridge" "requires_restart printed"
eq "$(python3 -c 'import json;print(json.load(open("config/mcp.json"))["servers"]["mqtt"]["url"])')" "mqtt://broker.local:1883" "config rewritten"
bk=$(ls -d .ferry/backups/*/files | head -1)
eq "$(cat "$bk/config/mcp.json")" '{"servers": {"mqtt": {"host": "broker.local", "port": 1883}}}' "backup holds the original"
[ -f .ferry/migrations.jsonl ] && ok "journal file written" || bad "journal file written"
eq "$(python3 -c 'import json;r=[json.loads(l) for l in open(".ferry/migrations.jsonl")];print(r[-1]["outcome"], r[-1]["kind"])')" "applied python" "journal row"
run 0 "up the rest with --restart-cmd" "$FERRY" migrate up --restart-cmd "echo restarted \$1 >> '$T/restarts.log'"
eq "$(cat order.log | tr '\n' ' ')" "v0.9 v0.10 " "v0.9.0 folder runs before v0.10.0"
eq "$(cat "$T/restarts.log")" "restarted all" "restart command ran per service"
run 0 "down --to v0.2.0" "$FERRY" migrate down --to v0.2.0
has "<- v0.9.0_to_v0.10.0/002_restart ... ok" "down reverts folder steps newest first"
eq "$(cat order.log)" "" "exec backward ran"
run 0 "down the python step" "$FERRY" migrate down
eq "$(cat config/mcp.json)" '{"servers": {"mqtt": {"host": "broker.local", "port": 1883}}}' "python backward restored the config"

# ---- failing Python step reverts the run -------------------------------------------------
cat > migrations/v0.9.0_to_v0.10.0/003_broken.py <<'PY'
from pathlib import Path
MIGRATION_INFO = {"description": "fails", "backup_required": False}
def migrate_forward(project_root: Path) -> bool:
    (project_root / "config" / "partial.txt").write_text("half")
    raise RuntimeError("cannot parse sensors.yaml")
def migrate_backward(project_root: Path) -> bool:
    p = project_root / "config" / "partial.txt"
    if p.exists():
        p.unlink()
    return True
PY
filehashes "$P" > "$T/before"
run 1 "a failing python step fails the run" "$FERRY" migrate up
has "RuntimeError: cannot parse sensors.yaml" "exception reported"
has "undoing the failed step with backward ... ok" "failing step undone"
has "<- v0.1.0_to_v0.2.0/001_update_mcp_configs ... ok" "earlier steps reverted"
filehashes "$P" > "$T/after"
if cmp -s "$T/before" "$T/after"; then ok "project files identical after the failed run"; else bad "files differ"; diff "$T/before" "$T/after"; fi
sed -i 's/raise RuntimeError("cannot parse sensors.yaml")/return False/' migrations/v0.9.0_to_v0.10.0/003_broken.py
run 1 "migrate_forward returning False is a failure" "$FERRY" migrate up
has "migrate_forward returned False" "False reported"
"$FERRY" migrate status --json > "$T/status.json" 2>/dev/null
eq "$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print([m["state"] for m in d["migrations"] if m["name"]=="broken"][0])' "$T/status.json")" "failed" "json status says failed"
rm migrations/v0.9.0_to_v0.10.0/003_broken.py

# ---- concurrent project-only runs -----------------------------------------------------------
printf '#!/bin/sh\n[ "$1" = forward ] && sleep 2\nexit 0\n' > migrations/v0.9.0_to_v0.10.0/004_slow.sh
chmod +x migrations/v0.9.0_to_v0.10.0/004_slow.sh
"$FERRY" migrate up > "$T/c1" 2>&1 & p1=$!
"$FERRY" migrate up > "$T/c2" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
eq "$r1$r2" "00" "two project-only runs both succeed"
eq "$(grep -c '"version":"v0.9.0_to_v0.10.0/004","name":"slow","kind":"exec","checksum":"[0-9a-f]*","applied_at":"[^"]*","duration_ms":[0-9.e+-]*,"outcome":"applied"' .ferry/migrations.jsonl)" "1" "slow step applied once"
eq "$(cat order.log | tr '\n' ' ')" "v0.9 v0.10 " "steps ran once"

# ---- python step in the project exits non-zero without result ----------------------------------
run 2 "usage error for unknown subcommand" "$FERRY" migrate sideways
run 0 "--help per subcommand" "$FERRY" migrate up --help
has "--test-cmd CMD" "up help lists its options"

cd /
rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
