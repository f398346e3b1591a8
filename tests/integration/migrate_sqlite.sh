#!/usr/bin/env bash
# migrate_sqlite.sh - `ferry migrate` against a real SQLite file: up, down,
# status, plan/dry-run, drift and validate --accept, baseline, repair,
# a failure in the middle of a run (database and files compared before and
# after), two concurrent runs, executable steps, --test-cmd, new and --json.
set -u
source "$(dirname "$0")/migrate_lib.sh" migrate_sqlite
# every table but the journal, schema and rows
dbdump() { local t; for t in $(sqlite3 "$1" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT IN ('ferry_migrations','sqlite_sequence') ORDER BY name"); do sqlite3 "$1" ".dump $t"; done; }
# project files, not the journal/backups, the migrations or the database
filehashes() { (cd "$1" && find . -path ./.ferry -prune -o -path ./migrations -prune -o -type f ! -name 'app.db*' -print | sort | xargs -r sha256sum); }
jcount() { sqlite3 "$1" "SELECT count(*) FROM ferry_migrations WHERE version='$2' AND outcome='$3'"; }

# ---- basic up / status / down ---------------------------------------------
P=$T/basic; mkdir -p "$P/migrations"; cd "$P"
cat > migrations/0001_create_rooms.sql <<'SQL'
-- migrate:up
CREATE TABLE rooms (id integer primary key, name text);
INSERT INTO rooms VALUES (1, 'kitchen');
-- migrate:down
DROP TABLE rooms;
SQL
printf 'CREATE TABLE sensors (id int, room int);\r\n' > migrations/0002_add_sensors.up.sql
printf 'DROP TABLE sensors;\n' > migrations/0002_add_sensors.down.sql
cat > migrations/0003_drop_legacy.sql <<'SQL'
-- migrate:up
CREATE TABLE legacy (x int);
DROP TABLE legacy;
-- migrate:down
SQL
DB="sqlite:$P/app.db"
# read-only commands never create the file (a mistyped path would otherwise
# leave an empty database behind): they read a missing one as empty, say so
for c in status plan "up --dry-run" "down --dry-run" validate; do
	run 0 "$c on a missing file" "$FERRY" migrate $c --db "$DB"
	has "SQLite database '$P/app.db' does not exist yet: read as empty" "$c says the file is missing"
done
run 0 "status on a missing file" "$FERRY" migrate status --db "$DB"
has "pending  0001_create_rooms" "status on a missing file lists every migration pending"
eq "$(ls "$P"/app.db* 2>/dev/null | wc -l)" "0" "read-only commands created no file"
touch "$P/app.db"   # an empty file is an empty database: preview on it
run 0 "status on a fresh database" "$FERRY" migrate status --db "$DB"
has "pending  0001_create_rooms" "status lists pending migrations"
run 0 "plan" "$FERRY" migrate plan --db "$DB"
has "CREATE TABLE rooms (id integer primary key, name text);" "plan prints the SQL"
has "rollback plan" "plan prints the rollback plan"
has "warning: line 2: DROP TABLE" "plan flags DROP TABLE without a backup"
run 0 "up --dry-run" "$FERRY" migrate up --dry-run --db "$DB"
has "2. 0002_add_sensors" "dry-run lists the ordered steps"
eq "$(sqlite3 app.db "SELECT count(*) FROM sqlite_master WHERE name IN ('rooms','ferry_migrations')")" "0" "dry-run changed nothing"
run 0 "up --to 0002" "$FERRY" migrate up --to 0002 --db "$DB"
has "-> 0001_create_rooms ... ok" "progress line per step"
has "2 migrations applied" "summary"
eq "$(sqlite3 app.db 'SELECT name FROM rooms')" "kitchen" "step 1 ran"
DATABASE_URL=$DB run 0 "up via DATABASE_URL" "$FERRY" migrate up
has "-> 0003_drop_legacy ... ok" "only the pending step ran"
run 0 "up again is up to date" "$FERRY" migrate up --db "$DB"
has "already up to date" "up to date message"
run 0 "status --json" sh -c "'$FERRY' migrate status --json --db '$DB' | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"counts\"][\"applied\"], d[\"migrations\"][0][\"state\"])'"
has "3 applied" "json status counts"
run 0 "down 2" "$FERRY" migrate down 2 --db "$DB"
has "<- 0002_add_sensors ... ok" "down reverts newest first"
eq "$(sqlite3 app.db "SELECT count(*) FROM sqlite_master WHERE name='sensors'")" "0" "down dropped sensors"
run 0 "down --to 0" "$FERRY" migrate down --to 0 --db "$DB"
eq "$(sqlite3 app.db "SELECT count(*) FROM sqlite_master WHERE name='rooms'")" "0" "down --to 0 reverted everything"
eq "$(jcount app.db 0001 applied)" "1" "journal keeps history (applied row)"
eq "$(jcount app.db 0001 reverted)" "1" "journal keeps history (reverted row)"
run 2 "down with a bad count is a usage error" "$FERRY" migrate down abc --db "$DB"
run 2 "up --to unknown version is a usage error" "$FERRY" migrate up --to v9.9.9x --db "$DB"

# ---- drift and validate --accept ------------------------------------------------
run 0 "up for drift" "$FERRY" migrate up --db "$DB"
printf -- '-- migrate:up\r\nCREATE TABLE rooms (id integer primary key, name text);\r\nINSERT INTO rooms VALUES (1, '"'"'kitchen'"'"');\r\n-- migrate:down\r\nDROP TABLE rooms;\r\n' > migrations/0001_create_rooms.sql
printf '\xef\xbb\xbf' | cat - migrations/0002_add_sensors.down.sql > x && mv x migrations/0002_add_sensors.down.sql
run 0 "CRLF and BOM are not drift" "$FERRY" migrate validate --db "$DB"
echo "-- changed" >> migrations/0002_add_sensors.up.sql
run 0 "status shows drift" "$FERRY" migrate status --db "$DB"
has "drifted  0002_add_sensors" "drifted state"
printf 'CREATE TABLE late (x int);\n' > migrations/0004_late.sql
run 1 "drift blocks up" "$FERRY" migrate up --db "$DB"
has "changed after it was applied" "drift message says what happened"
has "validate --accept" "drift message says what to do"
run 1 "validate reports drift" "$FERRY" migrate validate --db "$DB"
run 0 "validate --accept" "$FERRY" migrate validate --accept --db "$DB"
run 0 "up after accept" "$FERRY" migrate up --db "$DB"
has "-> 0004_late ... ok" "pending step applied after accept"
rm migrations/0004_late.sql
run 0 "status with a vanished applied file" "$FERRY" migrate status --db "$DB"
has "missing" "missing applied file reported"

# ---- baseline ------------------------------------------------------------------
P=$T/baseline; mkdir -p "$P"; cp -r "$T/basic/migrations" "$P/"; cd "$P"
rm -f migrations/0004_late.sql
sqlite3 old.db "CREATE TABLE rooms (id integer primary key, name text); CREATE TABLE sensors (id int, room int);"
run 0 "baseline 0002" "$FERRY" migrate baseline 0002 --db sqlite:old.db
has "2 migrations marked as applied" "baseline summary"
run 0 "up after baseline" "$FERRY" migrate up --db sqlite:old.db
has "applying 1 migration" "only the post-baseline step runs"
run 2 "baseline of an unknown version" "$FERRY" migrate baseline 0099x --db sqlite:old.db

# ---- failure in the middle: everything back as before ---------------------------
P=$T/middle; mkdir -p "$P/migrations" "$P/etc"; cd "$P"
echo 'mqtt_host: broker.local' > etc/bridge.yaml
sqlite3 app.db "CREATE TABLE readings (ts int, v real); INSERT INTO readings VALUES (1, 20.5), (2, 21.0);"
cat > migrations/0001_add_unit.sql <<'SQL'
-- migrate:up
ALTER TABLE readings ADD COLUMN unit text;
UPDATE readings SET unit = 'C';
-- migrate:down
ALTER TABLE readings DROP COLUMN unit;
SQL
cat > migrations/0002_bridge_config.sh <<'SH'
#!/bin/sh
set -e
case "$1" in
forward) echo 'unit: C' >> "$2/etc/bridge.yaml" ;;
backward) grep -v '^unit: C$' "$2/etc/bridge.yaml" > "$2/etc/bridge.yaml.tmp"; mv "$2/etc/bridge.yaml.tmp" "$2/etc/bridge.yaml" ;;
esac
SH
chmod +x migrations/0002_bridge_config.sh
cat > migrations/0003_broken.sql <<'SQL'
-- migrate:up
CREATE TABLE half_done (x int);
INSERT INTO no_such_table VALUES (1);
-- migrate:down
DROP TABLE half_done;
SQL
cat > migrations/0004_never.sql <<'SQL'
-- migrate:up
CREATE TABLE never (x int);
-- migrate:down
DROP TABLE never;
SQL
dbdump app.db > "$T/before.sql"; filehashes "$P" > "$T/before.files"
run 1 "step 3 of 4 fails" "$FERRY" migrate up --db sqlite:app.db --root "$P"
has "-> 0003_broken ... FAILED" "failing step reported"
has "no such table: no_such_table" "the database error is shown"
has "<- 0002_bridge_config ... ok" "step 2 reverted"
has "<- 0001_add_unit ... ok" "step 1 reverted"
has "the target is as before" "summary says the target is as before"
hasnt "0004_never ..." "step 4 never ran"
dbdump app.db > "$T/after.sql"; filehashes "$P" > "$T/after.files"
if cmp -s "$T/before.sql" "$T/after.sql"; then ok "database schema and data identical"; else bad "database differs"; diff "$T/before.sql" "$T/after.sql"; fi
if cmp -s "$T/before.files" "$T/after.files"; then ok "project files identical"; else bad "files differ"; diff "$T/before.files" "$T/after.files"; fi
eq "$(jcount app.db 0003 failed)" "1" "journal: failed attempt"
eq "$(jcount app.db 0001 rolled_back)" "1" "journal: rolled_back"
run 0 "status after a failed run" "$FERRY" migrate status --db sqlite:app.db
has "failed   0003_broken" "status shows the failed step"

# ---- --test-cmd failure rolls back -------------------------------------------------
sed -i 's/INSERT INTO no_such_table VALUES (1);//' migrations/0003_broken.sql
run 1 "--test-cmd failure" "$FERRY" migrate up --db sqlite:app.db --root "$P" --test-cmd 'echo smoke test says no; exit 3'
has "smoke test says no" "test output shown"
has "<- 0004_never ... ok" "rollback after the test"
dbdump app.db > "$T/after2.sql"; filehashes "$P" > "$T/after2.files"
if cmp -s "$T/before.sql" "$T/after2.sql" && cmp -s "$T/before.files" "$T/after2.files"; then ok "test-cmd rollback restored db and files"; else bad "test-cmd rollback left changes"; fi
run 0 "--test-cmd success" "$FERRY" migrate up --db sqlite:app.db --root "$P" --test-cmd "sqlite3 '$P/app.db' 'SELECT unit FROM readings' | grep -q C"
eq "$(tail -1 etc/bridge.yaml)" "unit: C" "exec step got forward and the root"

# ---- dirty (non-transactional) failure and repair ----------------------------------
cat > migrations/0005_no_tx.sql <<'SQL'
-- migrate:up
-- ferry:no-transaction
CREATE TABLE partial (x int);
INSERT INTO missing VALUES (1);
-- migrate:down
DROP TABLE partial;
SQL
run 1 "no-transaction step fails half-way" "$FERRY" migrate up --db sqlite:app.db --root "$P"
run 0 "status" "$FERRY" migrate status --db sqlite:app.db
has "dirty    0005_no_tx" "status says dirty"
has "ferry migrate repair" "status says what to do"
run 1 "dirty blocks up" "$FERRY" migrate up --db sqlite:app.db --root "$P"
has "half-applied" "block message"
sqlite3 app.db "DROP TABLE partial"
sed -i 's/INSERT INTO missing VALUES (1);//' migrations/0005_no_tx.sql
run 0 "repair" "$FERRY" migrate repair --db sqlite:app.db
has "recorded as not applied" "repair says what it did"
run 0 "up after repair" "$FERRY" migrate up --db sqlite:app.db --root "$P"
eq "$(sqlite3 app.db "SELECT count(*) FROM sqlite_master WHERE name='partial'")" "1" "repaired step applied"

# ---- concurrency: two runs, one applies -------------------------------------------
P=$T/conc; mkdir -p "$P/migrations"; cd "$P"
printf -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > migrations/0001_a.sql
printf '#!/bin/sh\nsleep 2\n' > migrations/0002_slow.sh; chmod +x migrations/0002_slow.sh
printf -- '-- migrate:up\nCREATE TABLE c (x int);\n-- migrate:down\nDROP TABLE c;\n' > migrations/0003_c.sql
"$FERRY" migrate up --db sqlite:app.db > "$T/c1" 2>&1 & p1=$!
"$FERRY" migrate up --db sqlite:app.db > "$T/c2" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
eq "$r1$r2" "00" "both concurrent runs succeed (one waits)"
eq "$(sqlite3 app.db "SELECT count(*) FROM ferry_migrations WHERE outcome='applied'")" "3" "each migration applied exactly once"
cat "$T/c1" "$T/c2" > "$T/out"
has "waiting for the migration lock" "the second run waited for the lock"
has "already up to date" "the second run found nothing to do"
"$FERRY" migrate down 3 --db sqlite:app.db >/dev/null 2>&1
"$FERRY" migrate up --db sqlite:app.db > "$T/c1" 2>&1 & p1=$!
sleep 0.5
run 1 "short --lock-timeout fails cleanly" "$FERRY" migrate up --db sqlite:app.db --lock-timeout 0.5
has "holds the lock" "lock message"
wait $p1
eq "$(jcount app.db 0002 applied)" "2" "journal: 0002 applied once per run (two runs total)"

# ---- backup --------------------------------------------------------------------------
run 0 "down for backup" "$FERRY" migrate down --db sqlite:app.db
run 0 "up --backup" "$FERRY" migrate up --backup --db sqlite:app.db
has "database.sqlite" "backup listed"
has "restore: cp" "restore command printed"
bk=$(ls -d .ferry/backups/*/database.sqlite | tail -1)
eq "$(sqlite3 "$bk" "SELECT count(*) FROM sqlite_master WHERE name='c'")" "0" "backup holds the state before the run"

# ---- new -------------------------------------------------------------------------------
P=$T/new; mkdir -p "$P"; cd "$P"
run 0 "new --sql" "$FERRY" migrate new "Add Rooms"
has "migrations/0001_add_rooms.sql" "new numbers and names the file"
run 0 "new --exec" "$FERRY" migrate new fix_perms --exec
[ -x migrations/0002_fix_perms.sh ] && ok "new --exec is executable" || bad "new --exec is executable"
run 0 "new --python" "$FERRY" migrate new convert --python
run 0 "generated templates run" "$FERRY" migrate up --db sqlite:app.db
has "3 migrations applied" "all three templates apply"

cd /
rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
