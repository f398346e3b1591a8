#!/usr/bin/env bash
# migrate_pg.sh - `ferry migrate` against a real PostgreSQL (from
# tests/services): up/down/status, CREATE INDEX CONCURRENTLY outside a
# transaction, two concurrent runs under the advisory lock, a failure in the
# middle compared by pg_dump before/after, drift, baseline, --test-cmd,
# pg_dump backups and password redaction.
set -u
source "$(dirname "$0")/migrate_lib.sh" migrate_pg

if [ -n "${FERRY_SERVICES_ENV:-}" ] && [ -f "$FERRY_SERVICES_ENV" ]; then
	set -a; . "$FERRY_SERVICES_ENV"; set +a
fi
if [ -z "${FERRY_PG_URL:-}" ] || ! psql "$FERRY_PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
	bad "PostgreSQL from tests/services is reachable (FERRY_PG_URL='${FERRY_PG_URL:-}')"
	echo "$pass passed, $fail failed"
	exit 1
fi
base=${FERRY_PG_URL%/*}
mkdb() { psql "$FERRY_PG_URL" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null; echo "$base/$1"; }
q() { psql "$1" -qAtc "$2"; }
# schema and rows of everything but the journal (\restrict lines carry a random key)
pgdump() { pg_dump --no-owner -T 'ferry_migrations*' "$1" | grep -v -e '^--' -e '^$' -e '^\\restrict' -e '^\\unrestrict'; }
jcount() { q "$1" "SELECT count(*) FROM ferry_migrations WHERE version='$2' AND outcome='$3'"; }
suffix=$$
export PGOPTIONS='-c client_min_messages=warning'

# ---- up / status / down, no-transaction step -------------------------------------
P=$T/basic; mkdir -p "$P/migrations"; cd "$P"
DB=$(mkdb ferry_mig_basic_$suffix)
cat > migrations/0001_create_rooms.sql <<'SQL'
-- migrate:up
CREATE TABLE rooms (id serial PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION room_count() RETURNS bigint AS $$ SELECT count(*) FROM rooms; $$ LANGUAGE sql;
INSERT INTO rooms (name) VALUES ('kitchen'), ('garage');
-- migrate:down
DROP FUNCTION room_count();
DROP TABLE rooms;
SQL
printf 'ALTER TABLE rooms ADD COLUMN floor int;\n' > migrations/0002_floor.up.sql
printf 'ALTER TABLE rooms DROP COLUMN floor;\n' > migrations/0002_floor.down.sql
cat > migrations/0003_index.sql <<'SQL'
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY rooms_name_idx ON rooms (name);
-- migrate:down
DROP INDEX CONCURRENTLY rooms_name_idx;
SQL
run 0 "plan" "$FERRY" migrate plan --db "$DB"
has "0003_index (sql, no transaction)" "plan marks the no-transaction step"
run 0 "up" "$FERRY" migrate up --db "$DB"
has "-> 0003_index ... ok" "CREATE INDEX CONCURRENTLY ran outside a transaction"
eq "$(q "$DB" 'SELECT room_count()')" "2" "dollar-quoted function created"
eq "$(q "$DB" "SELECT count(*) FROM pg_indexes WHERE indexname='rooms_name_idx'")" "1" "index exists"
run 0 "status" "$FERRY" migrate status --db "$DB"
has "applied  0003_index" "status applied"
has "3 applied, 0 pending" "status counts"
run 0 "down 1 (concurrent index drop)" "$FERRY" migrate down --db "$DB"
eq "$(q "$DB" "SELECT count(*) FROM pg_indexes WHERE indexname='rooms_name_idx'")" "0" "index dropped"
run 0 "down --to 0001" "$FERRY" migrate down --to 0001 --db "$DB"
eq "$(q "$DB" "SELECT count(*) FROM information_schema.columns WHERE table_name='rooms' AND column_name='floor'")" "0" "column dropped"
eq "$(jcount "$DB" 0002 reverted)" "1" "journal reverted row"
run 0 "up again" "$FERRY" migrate up --db "$DB"

# ---- passwords never printed ----------------------------------------------------------
SECRETDB=$(echo "$DB" | sed 's|://postgres@|://postgres:sekrit99@|')
run 0 "status with a password in the URL" "$FERRY" migrate status --json --db "$SECRETDB"
hasnt "sekrit99" "password redacted"
BADDB=$(echo "$base" | sed 's|://postgres@|://postgres:sekrit99@|')/no_such_db_$suffix
run 1 "connection failure" "$FERRY" migrate status --db "$BADDB"
hasnt "sekrit99" "password redacted in connection errors"
has "check --db or DATABASE_URL" "connection error says what to do"

# ---- drift ------------------------------------------------------------------------------
echo "-- a later edit" >> migrations/0002_floor.down.sql
run 1 "changed down file is drift and blocks up" "$FERRY" migrate up --db "$DB"
has "changed after it was applied" "drift message"
run 0 "validate --accept" "$FERRY" migrate validate --accept --db "$DB"
run 0 "validate clean" "$FERRY" migrate validate --db "$DB"

# ---- concurrency: two runs, pg_sleep, one applies ------------------------------------------
P=$T/conc; mkdir -p "$P/migrations"; cd "$P"
DB=$(mkdb ferry_mig_conc_$suffix)
printf -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > migrations/0001_a.sql
printf -- '-- migrate:up\nSELECT pg_sleep(2);\nCREATE TABLE b (x int);\n-- migrate:down\nDROP TABLE b;\n' > migrations/0002_slow.sql
printf -- '-- migrate:up\nCREATE TABLE c (x int);\n-- migrate:down\nDROP TABLE c;\n' > migrations/0003_c.sql
"$FERRY" migrate up --db "$DB" > "$T/c1" 2>&1 & p1=$!
"$FERRY" migrate up --db "$DB" > "$T/c2" 2>&1 & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
eq "$r1$r2" "00" "both concurrent runs succeed"
for v in 0001 0002 0003; do eq "$(jcount "$DB" $v applied)" "1" "journal: $v applied exactly once"; done
cat "$T/c1" "$T/c2" > "$T/out"
has "waiting for the migration lock" "the other run waited"
has "already up to date" "the other run applied nothing"
"$FERRY" migrate down 2 --db "$DB" >/dev/null 2>&1
"$FERRY" migrate up --db "$DB" > "$T/c1" 2>&1 & p1=$!
sleep 0.7
run 1 "a run that cannot get the lock in time fails cleanly" "$FERRY" migrate up --db "$DB" --lock-timeout 0.5
has "another 'ferry migrate' run holds the lock" "lock message"
wait $p1; eq "$?" "0" "the lock holder finished"
eq "$(jcount "$DB" 0002 applied)" "2" "journal: one apply per run that held the lock"

# ---- failure in the middle: pg_dump before == after -------------------------------------------
P=$T/middle; mkdir -p "$P/migrations"; cd "$P"
DB=$(mkdb ferry_mig_mid_$suffix)
q "$DB" "CREATE TABLE readings (ts timestamptz, v double precision); INSERT INTO readings VALUES ('2024-01-01', 20.5), ('2024-01-02', 21.25);"
cat > migrations/0001_unit.sql <<'SQL'
-- migrate:up
ALTER TABLE readings ADD COLUMN unit text;
UPDATE readings SET unit = 'C';
-- migrate:down
ALTER TABLE readings DROP COLUMN unit;
SQL
cat > migrations/0002_devices.sql <<'SQL'
-- migrate:up
CREATE TABLE devices (id bigserial PRIMARY KEY, name text UNIQUE);
INSERT INTO devices (name) VALUES ('inverter');
-- migrate:down
DROP TABLE devices;
SQL
cat > migrations/0003_broken.sql <<'SQL'
-- migrate:up
CREATE TABLE half (x int);
INSERT INTO devices (name) VALUES ('inverter');
-- migrate:down
DROP TABLE half;
SQL
cat > migrations/0004_never.sql <<'SQL'
-- migrate:up
CREATE TABLE never (x int);
-- migrate:down
DROP TABLE never;
SQL
pgdump "$DB" > "$T/before.sql"
run 1 "step 3 of 4 fails" "$FERRY" migrate up --db "$DB"
has "duplicate key value" "database error shown"
has "sqlstate 23505" "SQLSTATE shown"
has "<- 0001_unit ... ok" "earlier steps reverted"
hasnt "0004_never ..." "step 4 never ran"
pgdump "$DB" > "$T/after.sql"
if cmp -s "$T/before.sql" "$T/after.sql"; then ok "pg_dump identical before and after"; else bad "pg_dump differs"; diff "$T/before.sql" "$T/after.sql" | head -20; fi
eq "$(jcount "$DB" 0003 failed)" "1" "journal: failed attempt with error"
eq "$(q "$DB" "SELECT error IS NOT NULL FROM ferry_migrations WHERE version='0003'")" "t" "journal keeps the error"

# ---- --test-cmd failure rolls back ------------------------------------------------------------
sed -i "s/INSERT INTO devices (name) VALUES ('inverter');//" migrations/0003_broken.sql
run 1 "--test-cmd failure rolls back" "$FERRY" migrate up --db "$DB" --test-cmd "psql '$DB' -qAtc 'SELECT 1/0'"
has "division by zero" "test output shown"
pgdump "$DB" > "$T/after2.sql"
if cmp -s "$T/before.sql" "$T/after2.sql"; then ok "test-cmd rollback restored the database"; else bad "test-cmd rollback left changes"; fi

# ---- backup with pg_dump -----------------------------------------------------------------------
run 0 "up --backup" "$FERRY" migrate up --backup --db "$DB"
has "database.dump" "pg_dump backup listed"
has "restore: pg_restore" "restore command printed"

# ---- the password never reaches a command line ------------------------------------------------------
# A role with a password owns its own database; a fake pg_dump first in
# PATH records its argv, its /proc cmdline and the names (not values) of
# its environment, then runs the real one.  (tests/services trusts local
# connections, so the password is not checked, only kept off argv.)
role=ferry_pw_$suffix pw="S3cr3t-pw-$suffix"
psql "$FERRY_PG_URL" -qc "DROP DATABASE IF EXISTS ferry_mig_pw_$suffix" -c "DROP ROLE IF EXISTS $role" \
	-c "CREATE ROLE $role LOGIN PASSWORD '$pw'" -c "CREATE DATABASE ferry_mig_pw_$suffix OWNER $role" >/dev/null
psql "$base/ferry_mig_pw_$suffix" -qc "SET ROLE $role; CREATE TABLE before_run (id int)" >/dev/null
hostport=${base#*://}; hostport=${hostport##*@}
PWDB="postgres://$role:$pw@$hostport/ferry_mig_pw_$suffix?application_name=ferry_pw_test"
real_pg_dump=$(command -v pg_dump)
mkdir -p "$T/fakebin"
cat > "$T/fakebin/pg_dump" <<SH
#!/bin/sh
{ printf 'argv:'; for a in "\$@"; do printf ' [%s]' "\$a"; done; echo
  printf 'cmdline: '; tr '\\0' ' ' < /proc/\$\$/cmdline; echo
  env | cut -d= -f1 | sed 's/^/env: /'; } >> "$T/pg_dump.log"
exec "$real_pg_dump" "\$@"
SH
chmod +x "$T/fakebin/pg_dump"
P=$T/pw; mkdir -p "$P/migrations"; cd "$P"
echo "CREATE TABLE t (id int);" > migrations/0001_t.up.sql
echo "DROP TABLE t;" > migrations/0001_t.down.sql
run 0 "up --backup as a role with a password" env PATH="$T/fakebin:$PATH" "$FERRY" migrate up --backup --db "$PWDB"
has "database.dump" "pg_dump backup taken"
hasnt "$pw" "password not printed"
[ -s "$T/pg_dump.log" ] && ok "pg_dump wrapper ran" || bad "pg_dump wrapper ran"
if grep -qF -- "$pw" "$T/pg_dump.log"; then bad "password absent from pg_dump's argv and cmdline"; else ok "password absent from pg_dump's argv and cmdline"; fi
if grep -q '^env: PGPASSWORD$' "$T/pg_dump.log"; then ok "password passed in PGPASSWORD"; else bad "password passed in PGPASSWORD"; fi
if grep -qF "user='$role'" "$T/pg_dump.log"; then ok "pg_dump connects as the role"; else bad "pg_dump connects as the role"; fi
if grep -qF "application_name='ferry_pw_test'" "$T/pg_dump.log"; then ok "other URL parameters kept"; else bad "other URL parameters kept"; fi
dump=$(ls .ferry/backups/*/database.dump 2>/dev/null | head -1)
if [ -n "$dump" ] && pg_restore -l "$dump" 2>/dev/null | grep -q 'TABLE public before_run'; then ok "the dump holds the table"; else bad "the dump holds the table"; fi
cd /; psql "$FERRY_PG_URL" -qc "DROP DATABASE IF EXISTS ferry_mig_pw_$suffix" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1

# ---- baseline --------------------------------------------------------------------------------------
P=$T/baseline; mkdir -p "$P"; cp -r "$T/middle/migrations" "$P/"; cd "$P"
DB=$(mkdb ferry_mig_base_$suffix)
q "$DB" "CREATE TABLE readings (ts timestamptz, v double precision, unit text); CREATE TABLE devices (id bigserial PRIMARY KEY, name text UNIQUE);"
run 0 "baseline 0002" "$FERRY" migrate baseline 0002 --db "$DB"
run 0 "up after baseline" "$FERRY" migrate up --db "$DB"
has "applying 2 migrations" "only post-baseline steps ran"
eq "$(jcount "$DB" 0001 baseline)" "1" "journal: baseline row"

cd /
for d in basic conc mid base; do psql "$FERRY_PG_URL" -qc "DROP DATABASE IF EXISTS ferry_mig_${d}_$suffix" >/dev/null 2>&1; done
rm -rf "$T"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
