#!/usr/bin/env bash
# migrate_failed_state.sh - after a failed `ferry migrate up`, the output,
# the error and --json say exactly what state the target is in (issue 16,
# item 9), checked against the database itself, on real PostgreSQL and
# SQLite:
#   - a no-transaction SQL step failing half-way is half-applied (dirty):
#     which statements took effect, nothing claimed rolled back, the
#     earlier steps of the run still applied, the next commands named
#   - a failed CREATE INDEX CONCURRENTLY leaves an invalid index: dirty
#   - a no-transaction step whose first statement fails changed nothing:
#     failed (not dirty), the run rolled back, "as before" is true
#   - an executable step whose backward also fails: dirty, no rollback
#   - a SQL step without --db is refused before anything runs
#   - a no-transaction down that fails half-way says it is half-reverted
source "$(dirname "$0")/lib.sh"
t_init migrate_failed_state
t_need pg

# sql -- FORMAT: a migration file's text (\n escapes; it starts with "--")
# shellcheck disable=SC2059 # the format is the text, on purpose
sql() { printf "$@"; }
jq_state() { python3 -c "import json,sys; d=json.load(open('$T/last.out')); s=d.get('state',{}); print($1)"; }

# ---- PostgreSQL: a no-transaction step fails at its third statement ----------
url=$(new_db migrate_failed_state)
mkdir -p pg/migrations
sql -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > pg/migrations/0001_a.sql
sql -- '-- migrate:up\nCREATE TABLE b (x int);\n-- migrate:down\nDROP TABLE b;\n' > pg/migrations/0002_b.sql
sql -- '-- migrate:up transaction:false\nCREATE TABLE c (x int);\nCREATE INDEX c_x ON c (x);\nINSERT INTO nosuch VALUES (1);\nCREATE TABLE d (x int);\n-- migrate:down\nDROP TABLE c;\n' > pg/migrations/0003_c.sql
sql -- '-- migrate:up\nCREATE TABLE e (x int);\n-- migrate:down\nDROP TABLE e;\n' > pg/migrations/0004_e.sql
t_run "$FERRY" migrate up --dir pg/migrations --db "$url" --json
assert_eq "half-way failure exits 1" "$T_RC" 1
tables=$(pg_q "$url" "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'ferry_migrations'")
assert_eq "the database really holds a, b and c (nothing rolled back)" "$tables" "a,b,c"
assert_eq "journal: 0003 dirty" "$(pg_q "$url" "SELECT outcome FROM ferry_migrations WHERE version = '0003' ORDER BY applied_at DESC LIMIT 1")" dirty
assert_eq "no false 'as before'" "$(grep -c 'the target is as before' "$T/last.err" || true)" 0
assert_contains "error names the half-applied step" "$T_ERR" "'0003_c' is half-applied (statement 3 of 4 failed after statements 1-2 took effect"
assert_contains "error says what stays applied" "$T_ERR" "still applied from this run: 0001_a, 0002_b"
assert_contains "error says what to do" "$T_ERR" "run 'ferry migrate repair'"
assert_contains "progress shows the state block" "$T_ERR" "half-applied (journal: dirty): 0003_c"
assert_contains "progress lists what never ran" "$T_ERR" "not run: 0004_e"
assert_eq "json: failed step" "$(jq_state "s['failed_step'], s['failed_step_outcome']")" "0003_c dirty"
assert_eq "json: still applied" "$(jq_state "','.join(s['still_applied'])")" "0001_a,0002_b"
assert_eq "json: rolled back" "$(jq_state "len(s['rolled_back'])")" 0
assert_eq "json: not run" "$(jq_state "','.join(s['not_run'])")" "0004_e"
assert_eq "json: statements done" "$(jq_state "s['statements_done']")" 2
assert_eq "json: as_before" "$(jq_state "s['as_before']")" False
assert_contains "json: next" "$(jq_state "s['next']")" "ferry migrate repair"
# the advice works: undo by hand, repair, up
pg_q "$url" "DROP TABLE c" >/dev/null
sed -i 's/^INSERT INTO nosuch.*$//' pg/migrations/0003_c.sql
t_run "$FERRY" migrate repair --dir pg/migrations --db "$url"
assert_eq "repair" "$T_RC" 0
t_run "$FERRY" migrate up --dir pg/migrations --db "$url"
assert_eq "up after repair" "$T_RC" 0

# ---- PostgreSQL: a failed CREATE INDEX CONCURRENTLY leaves an invalid index -----
sql -- '-- migrate:up transaction:false\nCREATE UNIQUE INDEX CONCURRENTLY a_x ON a (x);\n-- migrate:down\nDROP INDEX a_x;\n' > pg/migrations/0005_uniq.sql
pg_q "$url" "INSERT INTO a VALUES (1), (1)" >/dev/null
t_run "$FERRY" migrate up --dir pg/migrations --db "$url"
assert_eq "failed concurrent index exits 1" "$T_RC" 1
assert_eq "the invalid index is really there" \
	"$(pg_q "$url" "SELECT count(*) FROM pg_index WHERE indexrelid = 'a_x'::regclass AND NOT indisvalid")" 1
assert_contains "it is reported half-applied" "$T_ERR" "'0005_uniq' is half-applied (its CONCURRENTLY statement failed and left an invalid index behind)"
pg_q "$url" "DROP INDEX a_x; DELETE FROM a" >/dev/null
t_run "$FERRY" migrate repair --dir pg/migrations --db "$url"
t_run "$FERRY" migrate up --dir pg/migrations --db "$url"
assert_eq "up after repair of the index" "$T_RC" 0

# ---- PostgreSQL: a no-transaction down that fails half-way ---------------------
sql -- '-- migrate:up\n-- ferry:no-transaction\nCREATE TABLE f (x int);\nCREATE TABLE g (x int);\n-- migrate:down\nDROP TABLE g;\nDROP TABLE nosuch;\nDROP TABLE f;\n' > pg/migrations/0006_fg.sql
t_run "$FERRY" migrate up --dir pg/migrations --db "$url"
t_run "$FERRY" migrate down --dir pg/migrations --db "$url"
assert_eq "failed down exits 1" "$T_RC" 1
assert_eq "g really dropped, f kept" "$(pg_q "$url" "SELECT string_agg(tablename, ',') FROM pg_tables WHERE tablename IN ('f', 'g')")" f
assert_contains "down says half-reverted" "$T_ERR" "'0006_fg' is half-reverted (journal: dirty)"
assert_contains "down says how far it got" "$T_ERR" "statement 2 of 3 failed after statement 1 took effect"

# ---- SQLite: first statement fails: nothing changed, the run rolls back ----------
mkdir -p sq/migrations
sql -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > sq/migrations/0001_a.sql
sql -- '-- migrate:up\n-- ferry:no-transaction\nINSERT INTO nosuch VALUES (1);\nCREATE TABLE c (x int);\n-- migrate:down\nDROP TABLE c;\n' > sq/migrations/0002_c.sql
t_run "$FERRY" migrate up --dir sq/migrations --db sqlite:sq/app.db --json
assert_eq "first-statement failure exits 1" "$T_RC" 1
assert_eq "journal: 0002 failed, not dirty" "$(sqlite3 sq/app.db "SELECT outcome FROM ferry_migrations WHERE version = '0002'")" failed
assert_eq "0001 really rolled back" "$(sqlite3 sq/app.db "SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'c')")" 0
assert_contains "as before, truly" "$T_ERR" "1 applied step rolled back, the target is as before"
assert_eq "json: as_before" "$(jq_state "s['as_before'], ','.join(s['rolled_back'])")" "True 0001_a"

# ---- SQLite: a trigger body (semicolons inside) then a failure -------------------
sql -- '-- migrate:up\n-- ferry:no-transaction\nCREATE TABLE c (x int);\nCREATE TRIGGER tr AFTER INSERT ON c BEGIN SELECT 1; SELECT 2; END;\nINSERT INTO nosuch VALUES (1);\n-- migrate:down\nDROP TABLE c;\n' > sq/migrations/0002_c.sql
t_run "$FERRY" migrate repair --dir sq/migrations --db sqlite:sq/app.db
t_run "$FERRY" migrate up --dir sq/migrations --db sqlite:sq/app.db
assert_eq "SQLite half-way failure exits 1" "$T_RC" 1
assert_eq "table and trigger really there" "$(sqlite3 sq/app.db "SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'c', 'tr')")" 3
assert_contains "SQLite: statement 3 failed after 1-2" "$T_ERR" "statement 3 failed after statements 1-2 took effect"
assert_contains "SQLite: 0001 still applied" "$T_ERR" "still applied from this run: 0001_a"

# ---- an executable step whose backward fails too --------------------------------
mkdir -p ex/migrations
sql -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > ex/migrations/0001_a.sql
# shellcheck disable=SC2016 # $1 and $2 are the step's own arguments
sql '#!/bin/sh\ncase $1 in forward) touch "$2/made"; exit 1;; backward) exit 1;; esac\n' > ex/migrations/0002_x.sh
chmod +x ex/migrations/0002_x.sh
t_run "$FERRY" migrate up --dir ex/migrations --root ex --db sqlite:ex/app.db
assert_eq "exec failure exits 1" "$T_RC" 1
check "its change is really still there" test -e ex/made
assert_contains "exec: half-applied" "$T_ERR" "'0002_x' is half-applied (it failed and undoing it with its backward call failed too)"
assert_eq "exec: no false 'as before'" "$(grep -c 'as before' "$T/last.err" || true)" 0

# ---- a SQL step without a database: refused before anything runs -----------------
mkdir -p nodb/migrations
# shellcheck disable=SC2016 # $2 is the step's own argument
sql '#!/bin/sh\ntouch "$2/ran"\n' > nodb/migrations/0001_x.sh
chmod +x nodb/migrations/0001_x.sh
sql -- '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n' > nodb/migrations/0002_a.sql
t_run env -u DATABASE_URL "$FERRY" migrate up --dir nodb/migrations --root nodb
assert_eq "SQL step without --db is a usage error" "$T_RC" 2
assert_contains "says nothing was run" "$T_ERR" "'0002_a' is a SQL step but no database was given, so nothing was run"
check "the executable step before it did not run" test ! -e nodb/ran

t_done
