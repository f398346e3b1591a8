#!/usr/bin/env bash
# readme_examples.sh - every command example of README.md that no other test
# runs, run here in the README's own shape, only the URLs and paths adapted
# to the test servers and $T (the README's section is named above each
# block); and the promises about the command line itself:
#   - `ferry --help`, `ferry help`, `ferry help CMD` and every command's
#     `--help` exit 0, and each help lists exactly the long options the
#     command's getopt table (src/cli/cmd_*.c) accepts;
#   - `ferry migrate SUB` takes the options its help lists, and refuses
#     (exit 2) the ones it does not;
#   - a source file that does not exist is a configuration error (exit 2)
#     naming the file; -vv before the command is -vv after it; `--` ends
#     the options.
# Which test runs each of the other examples: see the table in the final
# report of issue 16 (copy_*.sh, verify.sh, ts_copy.sh, migrate_*.sh,
# generate.sh, rewrite_fixtures.sh, cli_options.sh, clear_errors.sh).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
t_init readme_examples

# ---- ferry --help, ferry help, every command's --help ------------------------
t_run "$FERRY" --help
assert_eq "ferry --help exits 0" "$T_RC" 0
assert_contains "ferry --help lists the commands" "$T_OUT" "migrate"
t_run "$FERRY" help
assert_eq "ferry help exits 0" "$T_RC" 0
assert_contains "ferry help is the usage" "$T_OUT" "usage: ferry"
t_run "$FERRY" help copy
assert_eq "ferry help copy exits 0" "$T_RC" 0
assert_contains "ferry help copy is copy's help" "$T_OUT" "usage: ferry copy"
t_run "$FERRY" help nosuchcommand
assert_eq "ferry help NOSUCH is a usage error" "$T_RC" 2
assert_contains "ferry help NOSUCH names it" "$T_ERR" "'nosuchcommand' is not a ferry command"
t_run "$FERRY" --version
assert_eq "ferry --version exits 0" "$T_RC" 0

# The long options of each command's getopt table, from its source (with
# the shared CLI_COMMON_LONGOPTS / CLI_TS_LONGOPTS of cli.h), one a line.
table_opts() {
	python3 - "$FERRY_SRC/src/cli" "$1" <<'PY'
import re, sys
d, cmd = sys.argv[1], sys.argv[2]
src = open(f"{d}/cmd_{cmd}.c").read()
hdr = open(f"{d}/cli.h").read()
def names(text):
    return re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument', text)
m = re.search(r'longopts\[\]\s*=\s*\{(.*?)\n\t\};', src, re.S)
body = m.group(1)
opts = names(body)
for macro in ("CLI_COMMON_LONGOPTS", "CLI_TS_LONGOPTS"):
    if macro in body:
        mm = re.search(r'#define ' + macro + r'(.*?)\n(?!\t)', hdr, re.S)
        opts += names(mm.group(1))
print("\n".join(sorted(set(opts))))
PY
}
# The --options a help text names, one a line.
help_opts() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | sed 's/^--//'; }

for cmd in copy verify generate rewrite migrate cutover relay; do
	t_run "$FERRY" "$cmd" --help
	assert_eq "ferry $cmd --help exits 0" "$T_RC" 0
	help="$T_OUT"
	if [[ $cmd == migrate ]]; then
		# the subcommands' help pages together list every option
		for sub in status plan up down new baseline repair validate; do
			t_run "$FERRY" migrate "$sub" --help
			assert_eq "ferry migrate $sub --help exits 0" "$T_RC" 0
			help+=$'\n'"$T_OUT"
		done
	fi
	assert_eq "ferry $cmd --help lists exactly the options it accepts" \
		"$(printf '%s\n' "$help" | help_opts | grep -vx version)" "$(table_opts "$cmd")"
done

# migrate: each subcommand takes the options its own help lists (on its
# usage line, or under "common options", which `new` has not), and refuses
# the others: an option silently ignored would be a promise broken
mig_src="$FERRY_SRC/src/cli/cmd_migrate.c"
for sub in status plan up down new baseline repair validate; do
	subhelp=$("$FERRY" migrate "$sub" --help)
	usage_line=$(sed -n 1p <<<"$subhelp")
	common=$(sed -n '/^common options:/,$p' <<<"$subhelp")
	for opt in $(table_opts migrate); do
		case $opt in help | dir | quiet | verbose | json) continue ;; esac
		listed=0
		if grep -qE -- "--$opt([^a-z-]|\$)" <<<"$usage_line" ||
			{ [[ $sub != new ]] && grep -qE -- "^  --$opt([^a-z-]|\$)" <<<"$common"; }; then
			listed=1
		fi
		arg="--$opt"
		grep -qE "\"$opt\", required_argument" "$mig_src" && arg="--$opt=1"
		t_run "$FERRY" migrate "$sub" "$arg" --help
		if [[ $listed -eq 1 ]]; then
			assert_eq "migrate $sub takes $arg (its help lists it)" "$T_RC" 0
		else
			assert_eq "migrate $sub refuses $arg (its help does not list it)" "$T_RC" 2
		fi
	done
done

# ---- "Exit codes": a source file that does not exist is exit 2 ----------------
for src in sqlite:missing.db lp:missing.lp "csv://$T/missing/"; do
	t_run "$FERRY" copy "$src" "$FERRY_PG_URL"
	assert_eq "copy from a missing $src exits 2" "$T_RC" 2
	assert_contains "copy from a missing $src names it" "$T_ERR" "missing"
done
t_run "$FERRY" verify sqlite:typo.db "$FERRY_PG_URL"
assert_eq "verify from a missing sqlite file exits 2" "$T_RC" 2
assert_contains "verify names the missing file" "$T_ERR" "typo.db"
check "copy and verify created no sqlite file" test ! -e typo.db -a ! -e missing.db

# ---- "Options every command takes" ----------------------------------------------
mkdir -p migrations
printf -- '-- migrate:up\nCREATE TABLE t(a int);\n-- migrate:down\nDROP TABLE t;\n' > migrations/0001_t.sql
t_run "$FERRY" -q migrate up --db "sqlite:$T/q1.db"
assert_eq "ferry -q migrate up" "$T_RC:$T_OUT" "0:"
t_run "$FERRY" migrate up -q --db "sqlite:$T/q2.db"
assert_eq "ferry migrate up -q is the same" "$T_RC:$T_OUT" "0:"
t_run "$FERRY" -vv migrate status --db "sqlite:$T/q1.db"
assert_eq "ferry -vv before the command" "$T_RC" 0
t_run "$FERRY" migrate status -vv --db "sqlite:$T/q1.db"
assert_eq "-vv after the command" "$T_RC" 0
t_run "$FERRY" migrate -vv status --db "sqlite:$T/q1.db"
assert_eq "-vv between migrate and its subcommand" "$T_RC" 0
t_run "$FERRY" migrate -qv status --db "sqlite:$T/q1.db"
assert_eq "-qv between migrate and its subcommand: quiet" "$T_RC:$T_OUT" "0:"
t_run "$FERRY" -vv copy
assert_eq "ferry -vv copy: -vv taken, the missing operands are the usage error" "$T_RC" 2
assert_contains "ferry -vv copy names the missing operands" "$T_ERR" "expected SRC and DST"
t_run "$FERRY" --json copy --bogus x y
json_sorted() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'; }
assert_eq "the README's usage error document" "$(printf '%s' "$T_OUT" | json_sorted)" \
	"$(printf '%s' '{"command": "copy", "exit_code": 2, "error": "unknown option '"'"'--bogus'"'"'"}' | json_sorted)"

# ---- "ferry copy": the example, the Citus recipe, a conninfo target -----------
# sqlite:///var/lib/hass/home-assistant_v2.db postgres://ha:secret@db:5432/ha:
# an absolute path, a URL with a password (trust auth ignores it)
mkdir -p var/lib/hass
"$FERRY_SRC/tests/data/make-ha-recorder.sh" "$T/var/lib/hass/home-assistant_v2.db" 2000 >/dev/null
ha_db=$(new_db readme_ha)
ha_url="postgres://$FERRY_PG_USER:secret@$FERRY_PG_HOST:$FERRY_PG_PORT/${ha_db##*/}"
t_run "$FERRY" copy "sqlite:///$T/var/lib/hass/home-assistant_v2.db" "$ha_url"
assert_eq "README copy example" "$T_RC" 0
assert_eq "README copy example: states" "$(pg_q "$ha_db" 'SELECT count(*) FROM states')" \
	"$(sqlite3 "$T/var/lib/hass/home-assistant_v2.db" 'SELECT count(*) FROM states')"
assert_contains "summary per table" "$T_OUT" "total"
assert_contains "summary per phase" "$T_OUT" "phases:"
# "Passwords in URLs are shown as *** in every message"
t_run "$FERRY" copy "sqlite:///$T/var/lib/hass/home-assistant_v2.db" \
	"postgres://ha:secret@127.0.0.1:1/ha?connect_timeout=2"
assert_eq "unreachable target fails" "$T_RC" 1
# shellcheck disable=SC2016 # $1 is bash -c's
check "the password is never printed" bash -c '! grep -q secret <<<"$1"' _ "$T_OUT$T_ERR"
assert_contains "the password is shown as ***" "$T_ERR" "***"
# ferry verify sqlite:///var/lib/hass/home-assistant_v2.db postgres://ha@db/ha
t_run "$FERRY" verify "sqlite:///$T/var/lib/hass/home-assistant_v2.db" \
	"postgres://$FERRY_PG_USER@$FERRY_PG_HOST:$FERRY_PG_PORT/${ha_db##*/}"
assert_eq "README verify example" "$T_RC" 0
# the target as a libpq keyword/value string: "host=db port=5432 user=ha dbname=ha"
kv_db=$(new_db readme_kv)
t_run "$FERRY" copy -q "sqlite:///$T/var/lib/hass/home-assistant_v2.db" \
	"host=$FERRY_PG_HOST port=$FERRY_PG_PORT user=$FERRY_PG_USER dbname=${kv_db##*/}"
assert_eq "copy into a conninfo string" "$T_RC" 0
# --create-db: the target database does not exist yet
cdb="readme_created_$RANDOM$RANDOM"
t_run "$FERRY" copy -q --create-db "sqlite:///$T/var/lib/hass/home-assistant_v2.db" \
	"postgres://$FERRY_PG_USER@$FERRY_PG_HOST:$FERRY_PG_PORT/$cdb"
assert_eq "copy --create-db" "$T_RC" 0
assert_eq "--create-db made the database" \
	"$(pg_q "postgres://$FERRY_PG_USER@$FERRY_PG_HOST:$FERRY_PG_PORT/$cdb" 'SELECT count(*) > 0 FROM states')" t
pg_q "$FERRY_PG_URL" "DROP DATABASE \"$cdb\"" >/dev/null

# ---- "ferry generate": its three examples ----------------------------------------
# (fewer rows and days than the README's; the options are the same)
t_run "$FERRY" generate --entities 50 --rows 10000 --pattern mixed --seed 1 -o telemetry.db
assert_eq "generate example 1" "$T_RC" 0
assert_eq "generate example 1: rows" "$(sqlite3 telemetry.db 'SELECT count(*) FROM telemetry')" 10000
t_run "$FERRY" generate --duration 1d --format recorder -o home-assistant_v2.db
assert_eq "generate example 2" "$T_RC" 0
check "generate example 2: a recorder database" test "$(sqlite3 home-assistant_v2.db 'SELECT count(*) FROM states')" -gt 0

# ---- "ferry migrate": the up example, new, baseline, read-only commands ----------
P=$T/project
mkdir -p "$P/migrations/v0.1.0_to_v0.2.0"
cd "$P" || exit 1
printf -- '-- migrate:up\nCREATE TABLE readings (id integer PRIMARY KEY, value real);\nALTER TABLE readings ADD COLUMN unit text;\n-- migrate:down\nDROP TABLE readings;\n' \
	> migrations/0001_add_unit.sql
cat > migrations/0002_bridge_config <<'SH'
#!/bin/sh
# forward ROOT / backward ROOT
case $1 in
forward) printf 'url: mqtt://broker:1883\n' > "$2/bridge.yaml" ;;
backward) rm -f "$2/bridge.yaml" ;;
esac
SH
chmod +x migrations/0002_bridge_config
cat > migrations/v0.1.0_to_v0.2.0/001_update_mcp_configs.py <<'PY'
from pathlib import Path
MIGRATION_INFO = {
    "version_from": "0.1.0", "version_to": "0.2.0",
    "description": "MQTT host/port become a url",
    "breaking_changes": [], "estimated_duration_seconds": 1,
    "requires_restart": ["mqtt-bridge"],
    "backup_required": False,
}
def migrate_forward(project_root: Path) -> bool:
    (Path(project_root) / "mcp.yaml").write_text("mqtt: {url: mqtt://broker:1883}\n")
    return True
def migrate_backward(project_root: Path) -> bool:
    (Path(project_root) / "mcp.yaml").unlink()
    return True
PY
printf '#!/bin/sh\ntest -f bridge.yaml && test -f mcp.yaml\n' > smoke.sh
chmod +x smoke.sh
# status, plan, validate on a file that does not exist: read as empty, no file
for c in status plan validate "up --dry-run"; do
	# shellcheck disable=SC2086 # the subcommand and its flag split on purpose
	t_run "$FERRY" migrate $c --db sqlite:app.db
	assert_eq "migrate $c on a missing file" "$T_RC" 0
	assert_contains "migrate $c says the file does not exist yet" "$T_ERR" "does not exist yet: read as empty"
done
check "read-only commands created no app.db" test ! -e app.db
t_run "$FERRY" migrate up --db sqlite:app.db --test-cmd ./smoke.sh
assert_eq "README migrate up example" "$T_RC" 0
for line in "applying 3 migrations to sqlite:app.db" "-> 0001_add_unit ... ok" \
	"-> 0002_bridge_config ... ok" "-> v0.1.0_to_v0.2.0/001_update_mcp_configs ... ok" \
	"-> test: ./smoke.sh ... ok" "3 migrations applied in" "restart required: mqtt-bridge"; do
	assert_contains "migrate up prints '$line'" "$T_OUT" "$line"
done
t_run "$FERRY" migrate new add_rooms
assert_eq "migrate new add_rooms" "$T_RC" 0
check "new: 0002 would clash with 0002_bridge_config: 0003_add_rooms.sql" test -f migrations/0003_add_rooms.sql
check "new: up and down sections" grep -q -- '-- migrate:down' migrations/0003_add_rooms.sql
t_run "$FERRY" migrate new add_rooms_exec --exec
check "new --exec: an executable .sh" test -x migrations/0004_add_rooms_exec.sh
rm migrations/0003_add_rooms.sql migrations/0004_add_rooms_exec.sh
t_run "$FERRY" migrate status --db sqlite:app.db
assert_eq "migrate status" "$T_RC" 0
assert_contains "status: applied" "$T_OUT" "applied"
# ferry migrate baseline V: a database with the schema, no journal
mkdir -p "$T/base/migrations"
cd "$T/base" || exit 1
for i in 1 2 3 4 5; do
	printf -- '-- migrate:up\nCREATE TABLE t%d(a int);\n-- migrate:down\nDROP TABLE t%d;\n' "$i" "$i" \
		> "migrations/000${i}_t$i.sql"
done
sqlite3 app.db 'CREATE TABLE t1(a int); CREATE TABLE t2(a int); CREATE TABLE t3(a int); CREATE TABLE t4(a int);'
t_run "$FERRY" migrate baseline 0004 --db sqlite:app.db
assert_eq "migrate baseline 0004" "$T_RC" 0
t_run "$FERRY" migrate up --db sqlite:app.db
assert_eq "up after baseline" "$T_RC" 0
assert_contains "up after baseline runs only 0005" "$T_OUT" "1 migration applied"
# ferry migrate repair [--as-applied]: a half-applied (dirty) step finished by hand
printf -- '-- ferry:no-transaction\n-- migrate:up\nCREATE TABLE t6(a int);\nSELECT no_such_function();\n-- migrate:down\nDROP TABLE t6;\n' \
	> migrations/0006_t6.sql
t_run "$FERRY" migrate up --db sqlite:app.db
assert_eq "a no-transaction step failing half-way fails up" "$T_RC" 1
t_run "$FERRY" migrate up --db sqlite:app.db
assert_eq "a dirty step blocks up" "$T_RC" 1
t_run "$FERRY" migrate repair --as-applied --db sqlite:app.db
assert_eq "migrate repair --as-applied" "$T_RC" 0
t_run "$FERRY" migrate up --db sqlite:app.db
assert_eq "up after repair --as-applied" "$T_RC" 0
assert_contains "0006 counts as applied" "$T_OUT" "up to date"
cd "$T"

# ---- "ferry rewrite": both examples, and the README's recipe itself ------------
mkdir -p services
cp -r "$FERRY_SRC/tests/data/rewrite/client-code" services/bridge
cp -r "$FERRY_SRC/tests/data/rewrite/already-migrated" services/done
export PYTHONDONTWRITEBYTECODE=1
t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt --dry-run services/*
assert_eq "rewrite --dry-run: changes pending is exit 1" "$T_RC" 1
assert_contains "rewrite --dry-run prints the diff" "$T_OUT" "aiomqtt==2.4.0"
# "`--` ends them": a directory named like an option
cp -r services/bridge ./-bridge
t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt --dry-run -- -bridge
assert_eq "rewrite ... -- -bridge takes -bridge as a directory" "$T_RC" 1
assert_contains "rewrite ... -- -bridge diffs it" "$T_OUT" "aiomqtt==2.4.0"
# the README's recipe block (abridged) is a recipe that works
awk '/^```yaml$/ { n++; f = (n == 1); next } /^```$/ { f = 0 } f' "$FERRY_SRC/README.md" > readme-recipe.yaml
check "README recipe block found" grep -q '^name: asyncio-mqtt-to-aiomqtt' readme-recipe.yaml
t_run "$FERRY" rewrite --recipe readme-recipe.yaml --dry-run services/bridge
assert_eq "the README's recipe parses and finds the change" "$T_RC" 1
assert_contains "the README's recipe replaces the package" "$T_OUT" "aiomqtt==2.4.0"
if command -v pytest >/dev/null; then
	t_run "$FERRY" rewrite --recipe asyncio-mqtt-to-aiomqtt services/*
	assert_eq "rewrite (do it)" "$T_RC" 0
	[[ $T_RC -eq 0 ]] || echo "$T_OUT$T_ERR" | tail -20
	assert_contains "rewrite: tests passed" "$T_OUT" "tests passed"
	check "rewrite: requirement replaced" grep -qF 'aiomqtt[websockets]==2.4.0' services/bridge/requirements.txt
	check "rewrite: rollback.sh written" bash -c 'ls services/bridge/.ferry-backup-*/rollback.sh'
else
	fail "pytest is needed for the README's rewrite example (the recipe's test command)"
fi

# ---- "Benchmarks": BENCH_ROWS=1000000 bench/run --shapes telemetry,textidx ------
# (2000 rows, and --no-record: a test must not append to bench/RESULTS.md;
# the WAL warm-up and the speed probes made small, bench/lib.sh: at their
# defaults, 1 GB of WAL (8.6 s) and a probe of 5 loops before each timed
# run (14, 8 s) were half of bench/run's 33 s on a loaded 2-core machine)
BENCH_ROWS=2000 BENCH_WARM_ROWS=2000 BENCH_PROBE_LOOP=1000 \
	t_run "$FERRY_SRC/bench/run" --shapes telemetry,textidx --no-record \
	--work "$T/bench"
assert_eq "bench/run exits 0" "$T_RC" 0
assert_contains "bench/run timed ferry" "$T_OUT" "| telemetry | 2000 | ferry |"
# shellcheck disable=SC2016 # $1 is bash -c's
check "bench/run: ferry did not fail" bash -c '! grep -q "| ferry |.*failed" <<<"$1"' _ "$T_OUT"

# ---- "Time-series sources": the five examples ----------------------------------
# (the layouts themselves are ts_copy.sh's; here the command shapes)
if [[ -z "${FERRY_INFLUX_URL:-}" ]]; then
	echo "# InfluxDB was not started: the time-series examples are left out"
	t_done
fi
IURL="http://127.0.0.1:$FERRY_INFLUX_PORT"
idb="readme_$RANDOM$RANDOM"
curl -sS -XPOST "$IURL/query" --data-urlencode "q=CREATE DATABASE $idb" >/dev/null
# ferry generate --rows 100000 --format lp -o - | curl --data-binary @- 'http://influx:8086/write?db=ha'
"$FERRY" generate --rows 1000 --format lp -o - | curl -sS -o write.out -w '%{http_code}' \
	--data-binary @- "$IURL/write?db=$idb" > write.code
assert_eq "generate | curl /write: InfluxDB took the lines" "$(cat write.code)" 204
# ferry copy influx://user:pw@influx:8086/homeassistant?rp=autogen postgres://db/iot
# (this influxd has no auth: it ignores the user and password)
iot1=$(new_db readme_iot1)
t_run "$FERRY" copy "influx://user:pw@127.0.0.1:$FERRY_INFLUX_PORT/$idb?rp=autogen" "$iot1"
assert_eq "copy influx://user:pw@host/db?rp=autogen" "$T_RC" 0
check "influx rows arrived" test "$(pg_q "$iot1" 'SELECT count(*) FROM telemetry_data')" -gt 0
# ferry verify influx://influx:8086/homeassistant postgres://db/iot
t_run "$FERRY" verify "influx://127.0.0.1:$FERRY_INFLUX_PORT/$idb" "$iot1"
assert_eq "verify influx://host/db" "$T_RC" 0
# ferry verify influx://old:8086/home_assistant influx://new:8086/home_assistant
idb2="readme_$RANDOM$RANDOM"
curl -sS -XPOST "$IURL/query" --data-urlencode "q=CREATE DATABASE $idb2" >/dev/null
"$FERRY" generate --rows 1000 --format lp -o - | curl -sS -o write.out -w '%{http_code}' \
	--data-binary @- "$IURL/write?db=$idb2" > write.code
assert_eq "the same points into a second database" "$(cat write.code)" 204
t_run "$FERRY" verify "influx://127.0.0.1:$FERRY_INFLUX_PORT/$idb" \
	"influx://127.0.0.1:$FERRY_INFLUX_PORT/$idb2"
assert_eq "verify influx://old/db influx://new/db" "$T_RC" 0
# ferry copy lp:///backups/export.lp.gz postgres://db/iot
mkdir -p backups
"$FERRY" generate -q --rows 1000 --format lp -o backups/export.lp
gzip backups/export.lp
iot2=$(new_db readme_iot2)
t_run "$FERRY" copy "lp://$T/backups/export.lp.gz" "$iot2"
assert_eq "copy lp:///path.lp.gz" "$T_RC" 0
# ferry copy lp:- postgres://db/iot < points.lp
zcat backups/export.lp.gz > points.lp
iot3=$(new_db readme_iot3)
t_run "$FERRY" copy lp:- "$iot3" < points.lp
assert_eq "copy lp:- < points.lp" "$T_RC" 0
assert_eq "the .gz and stdin give the same rows" \
	"$(pg_q "$iot3" 'SELECT count(*) FROM telemetry_data')" "$(pg_q "$iot2" 'SELECT count(*) FROM telemetry_data')"
# ferry copy csv:///exports/iotdb/ postgres://db/iot (IoTDB export-csv, aligned)
mkdir -p exports/iotdb
printf 'Time,root.sg.d1.s1,root.sg.d1.s2\n1700000000000,1.5,7\n1700000001000,2.5,8\n' > exports/iotdb/dump0.csv
iot4=$(new_db readme_iot4)
t_run "$FERRY" copy "csv://$T/exports/iotdb/" "$iot4"
assert_eq "copy csv:///dir/" "$T_RC" 0
assert_eq "IoTDB values arrived" "$(pg_q "$iot4" 'SELECT count(*) FROM telemetry_data')" 4

t_done
