#!/usr/bin/env bash
# clear_errors.sh - the common mistakes of a new user get a message that
# says what is wrong and what to do, and read-only commands change nothing
# (issue 16, items 11 and 12), against real PostgreSQL and SQLite files:
#   - verify into a SQLite target, or with SRC and DST swapped
#   - a missing target database: how to create it, and --create-db on copy
#     and migrate up (a name that needs quoting)
#   - a role without CREATE on the database / schema public: which GRANT
#   - sqlite:///x.db when ./x.db exists: did you mean sqlite:x.db
#   - libpq keyword/value connection strings as copy, verify and migrate
#     targets, passwords masked in messages
#   - migrate status/plan on a missing SQLite file create nothing; a failed
#     copy removes the SQLite target file it created (and only that)
source "$(dirname "$0")/lib.sh"
t_init clear_errors
t_need pg

sqlite3 src.db "CREATE TABLE t (id integer primary key, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b');"
url=$(new_db clear_errors)
t_run "$FERRY" copy -q sqlite:src.db "$url"
assert_eq "copy into a fresh database" "$T_RC" 0

# ---- verify: target must be PostgreSQL, or the SQLite copy of a PostgreSQL source
t_run "$FERRY" verify -q "$url" sqlite:src.db
assert_eq "verify PostgreSQL against a SQLite copy of it compares them" "$T_RC" 0
assert_eq "no SQL error leaks" "$(grep -c 'syntax error' <<<"$T_ERR" || true)" 0
t_run "$FERRY" verify sqlite:src.db sqlite:src.db
assert_eq "verify into SQLite is a usage error" "$T_RC" 2
assert_contains "says the target must be PostgreSQL" "$T_ERR" \
	"cannot verify into sqlite 'sqlite:src.db': the target must be PostgreSQL"
t_run "$FERRY" verify sqlite:nosuch.db "$url"
assert_eq "verify from a missing file is a configuration error" "$T_RC" 2
assert_contains "says the file is missing" "$T_ERR" "cannot open sqlite database 'nosuch.db': it does not exist"
check "verify created no SQLite file" test ! -e nosuch.db

# ---- sqlite:///x.db when ./x.db exists ------------------------------------
# a name no one has at / (an old ferry's migrate status created it there)
rnd=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
rel="ce_rel_$rnd.db"
cp src.db "$rel"
t_run "$FERRY" copy -q "sqlite:///$rel" "$url"
assert_eq "absolute path that does not exist is a usage error" "$T_RC" 2
assert_contains "did you mean the relative path" "$T_ERR" \
	"did you mean sqlite:$rel (relative to the current directory)?"
mkdir -p migrations
printf -- '-- migrate:up\nCREATE TABLE m1 (x int);\n-- migrate:down\nDROP TABLE m1;\n' > migrations/0001_m1.sql
t_run "$FERRY" migrate status --db "sqlite:///$rel"
assert_eq "migrate status with sqlite:///x.db fails" "$T_RC" 2
assert_contains "migrate says did you mean" "$T_ERR" "did you mean sqlite:$rel"
check "no file created at /" test ! -e "/$rel"
t_run "$FERRY" copy -q sqlite:src.db "sqlite:///$rel"
assert_eq "copy to sqlite:///x.db when ./x.db exists is refused" "$T_RC" 2
assert_contains "copy says did you mean" "$T_ERR" "will not create sqlite database '/$rel'; did you mean sqlite:$rel"
assert_eq "and claims no removal" "$(grep -c 'removed' <<<"$T_ERR" || true)" 0
t_run "$FERRY" migrate up --db "sqlite:///$rel"
assert_eq "migrate up with sqlite:///x.db when ./x.db exists is refused" "$T_RC" 2
check "still no file created at /" test ! -e "/$rel"
rm -f "/$rel"  # an old binary would have made it

# ---- read-only migrate commands create no file ----------------------------
for c in status plan "up --dry-run" validate; do
	# shellcheck disable=SC2086 # the subcommand and its flag split on purpose
	t_run "$FERRY" migrate $c --db sqlite:fresh.db
	assert_eq "migrate $c on a missing file reads it as empty" "$T_RC" 0
	assert_contains "migrate $c says the file is missing" "$T_ERR" \
		"SQLite database 'fresh.db' does not exist yet: read as empty"
done
check "no fresh.db created" test ! -e fresh.db
t_run "$FERRY" migrate up --db sqlite:fresh.db
assert_eq "migrate up creates the file" "$T_RC" 0
check "fresh.db exists after up" test -s fresh.db

# ---- a failed copy removes the SQLite file it created, only that ------------
t_run "$FERRY" copy -q --data-only sqlite:src.db sqlite:made.db
assert_eq "copy --data-only into a new SQLite file fails" "$T_RC" 1
check "the target file it created is gone" test ! -e made.db
assert_contains "says it removed it" "$T_ERR" "removed 'made.db', which this run had created"
: > mine.db
t_run "$FERRY" copy -q --data-only sqlite:src.db sqlite:mine.db
assert_eq "copy --data-only into an existing empty file fails" "$T_RC" 1
check "a file that was there stays" test -e mine.db

# ---- a missing target database ---------------------------------------------
base="postgres://$FERRY_PG_USER@$FERRY_PG_HOST:$FERRY_PG_PORT"
missing="ce_missing_$rnd"
t_run "$FERRY" copy -q sqlite:src.db "$base/$missing"
assert_eq "copy into a missing database fails" "$T_RC" 1
assert_contains "says how to create it" "$T_ERR" "create it first: 'createdb $missing'"
assert_contains "offers --create-db" "$T_ERR" "or pass --create-db"
t_run "$FERRY" migrate status --db "$base/$missing"
assert_contains "migrate says how to create it" "$T_ERR" "CREATE DATABASE \"$missing\""
odd="ce new-db $rnd"
oddenc=${odd// /%20}
t_run "$FERRY" copy -q --create-db sqlite:src.db "$base/$oddenc"
assert_eq "copy --create-db" "$T_RC" 0
assert_eq "rows in the created database (quoted name)" \
	"$(pg_q "$base/$oddenc" 'SELECT count(*) FROM t')" 2
t_run "$FERRY" copy -q --create-db --restart sqlite:src.db "$base/$oddenc"
assert_eq "copy --create-db on an existing database" "$T_RC" 0
mdb="ce_mig_$rnd"
t_run "$FERRY" migrate up --create-db --db "$base/$mdb"
assert_eq "migrate up --create-db" "$T_RC" 0
assert_eq "migration ran in the created database" \
	"$(pg_q "$base/$mdb" "SELECT count(*) FROM pg_tables WHERE tablename = 'm1'")" 1
t_run "$FERRY" migrate plan --create-db --db "$base/$mdb"
assert_eq "--create-db is only for migrate up" "$T_RC" 2

# ---- libpq keyword/value connection strings ---------------------------------
kvdb=$(new_db clear_errors_kv)
kvname=${kvdb##*/}
kv="host=$FERRY_PG_HOST port=$FERRY_PG_PORT user=$FERRY_PG_USER dbname=$kvname"
t_run "$FERRY" copy -q sqlite:src.db "$kv"
assert_eq "copy into a key/value conninfo" "$T_RC" 0
assert_eq "rows copied through the conninfo" "$(pg_q "$kvdb" 'SELECT count(*) FROM t')" 2
t_run "$FERRY" verify sqlite:src.db "$kv"
assert_eq "verify with a key/value conninfo" "$T_RC" 0
t_run "$FERRY" migrate up --db "$kv"
assert_eq "migrate up with a key/value conninfo" "$T_RC" 0
t_run "$FERRY" copy -q sqlite:src.db "host=$FERRY_PG_HOST port=$FERRY_PG_PORT user=ce_nobody_$rnd password='s3cr3t word' dbname=$kvname"
assert_eq "a bad role fails" "$T_RC" 1
assert_contains "the message names the target" "$T_ERR" "password=***"
assert_eq "the password is masked" "$(grep -c 's3cr3t' <<<"$T_ERR" || true)" 0

# ---- a role without CREATE: which GRANT -------------------------------------
role="ce_weak_$rnd"
pg_q "$FERRY_PG_URL" "CREATE ROLE $role LOGIN PASSWORD 'weakpw'" >/dev/null
pdb="ce_perm_$rnd"
pg_q "$FERRY_PG_URL" "CREATE DATABASE $pdb" >/dev/null
weak="postgres://$role:weakpw@$FERRY_PG_HOST:$FERRY_PG_PORT/$pdb"
t_run "$FERRY" copy -q sqlite:src.db "$weak"
assert_eq "copy without CREATE on the database fails" "$T_RC" 1
assert_contains "names the database GRANT" "$T_ERR" "GRANT CREATE ON DATABASE \"$pdb\" TO \"$role\""
pg_q "$FERRY_PG_URL" "GRANT CREATE ON DATABASE $pdb TO $role" >/dev/null
t_run "$FERRY" copy -q sqlite:src.db "$weak"
assert_eq "copy without CREATE on schema public fails" "$T_RC" 1
assert_contains "names the schema GRANT" "$T_ERR" "GRANT CREATE ON SCHEMA \"public\" TO \"$role\""
t_run "$FERRY" migrate up --db "$weak"
assert_eq "migrate up without CREATE on public fails" "$T_RC" 1
assert_contains "migrate names the schema GRANT" "$T_ERR" "GRANT CREATE ON SCHEMA \"public\" TO \"$role\""
t_run "$FERRY" copy -q --create-db sqlite:src.db "postgres://$role:weakpw@$FERRY_PG_HOST:$FERRY_PG_PORT/ce_nocreatedb_$rnd"
assert_eq "--create-db without CREATEDB fails" "$T_RC" 1
assert_contains "names ALTER ROLE ... CREATEDB" "$T_ERR" "ALTER ROLE \"$role\" CREATEDB"
pg_q "$base/$pdb" "GRANT CREATE ON SCHEMA public TO $role" >/dev/null
t_run "$FERRY" copy -q sqlite:src.db "$weak"
assert_eq "with both GRANTs the copy works" "$T_RC" 0

# the role is cluster-wide: leave none behind (databases go with the cluster)
pg_q "$FERRY_PG_URL" "DROP DATABASE $pdb; DROP ROLE $role" >/dev/null

t_done
