#!/usr/bin/env bash
# ferry copy sqlite -> postgres: every catalog shape and type mapping,
# checked by querying the real target.
source "$(dirname "$0")/lib.sh"
t_init copy_shapes

long1=col_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_one
long2=col_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_two
longt=tbl_$(printf 'b%.0s' $(seq 57))   # 61 bytes: its key names need 66
sqlite3 src.db <<EOF
CREATE TABLE meta(metadata_id INTEGER PRIMARY KEY, entity_id VARCHAR(255) NOT NULL UNIQUE);
CREATE TABLE events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  meta_id INTEGER NOT NULL REFERENCES meta(metadata_id) ON DELETE CASCADE,
  ts FLOAT NOT NULL,
  big BIGINT,
  small SMALLINT DEFAULT 0,
  r REAL,
  price NUMERIC(10,2),
  amount DECIMAL(20,6),
  label VARCHAR(8) DEFAULT 'none',
  note TEXT,
  payload BLOB,
  flag BOOLEAN DEFAULT 1,
  day DATE,
  at DATETIME DEFAULT CURRENT_TIMESTAMP,
  at_tz TIMESTAMP,
  attrs JSON,
  created_epoch INTEGER DEFAULT (strftime('%s','now')),
  created_text TEXT DEFAULT (datetime('now')),
  made DATE DEFAULT (date('now')),
  untyped,
  odd_default TEXT DEFAULT (random())
);
CREATE INDEX ix_events_meta_ts ON events(meta_id, ts DESC);
CREATE INDEX ix_events_partial ON events(label) WHERE label <> 'none';
CREATE INDEX ix_events_expr ON events(lower(note));
CREATE UNIQUE INDEX ux_events_big ON events(big);
CREATE TABLE pairs(a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE plain(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE "select"("from" INTEGER PRIMARY KEY, "order" TEXT, "group" INTEGER);
CREATE TABLE "it's; DROP TABLE meta; --"(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE wide($long1 INTEGER, $long2 INTEGER);
CREATE TABLE plain_pkey(x INTEGER PRIMARY KEY);
CREATE TABLE $longt(id INTEGER PRIMARY KEY, u TEXT UNIQUE);
INSERT INTO $longt VALUES (1, 'a'), (2, 'b');
CREATE VIEW recent AS SELECT id, ts FROM events WHERE ts > 0;
INSERT INTO meta VALUES (1, 'sensor.power'), (2, 'sensor.temperature');
INSERT INTO events(id, meta_id, ts, big, r, price, amount, label, note, payload, flag, day, at, at_tz, attrs, untyped)
VALUES
 (1, 1, 1700000000.123456, 9223372036854775807, 0.1, 12.34, 123456.000001, 'a', 'Hello', x'00ff10', 1, '2024-02-29', '2024-02-29 23:59:59.999999', '2024-01-01T00:00:00Z', '{"unit":"W","v":[1,2.5,null]}', 1),
 (2, 1, 1700000001.0, -9223372036854775808, 1e308, -0.5, 0, 'bbbbbbbb', 'ÄÖÜ ✓ 🚀', x'', 0, '1970-01-01', '1999-12-31 23:59:59', '2024-01-01 02:00:00+02:00', '[]', 2),
 (3, 2, 5e-324, NULL, 1.0/3.0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3),
 (10, 2, 1.0000000000000002, 42, 0.30000000000000004, 99999999.99, -0.000001, 'none', 'x', NULL, 'true', '2000-01-01', '2000-01-01 00:00:00', NULL, '"s"', 4);
DELETE FROM events WHERE id = 10;
INSERT INTO events(id, meta_id, ts) VALUES (7, 2, 7.5);
INSERT INTO pairs VALUES (1, 'x', 0.5), (1, 'y', 1.5), (2, 'x', 2.5);
INSERT INTO plain(v) VALUES ('a'), ('b'), ('c');
INSERT INTO "select" VALUES (1, 'asc', 2);
INSERT INTO "it's; DROP TABLE meta; --" VALUES (1, 'data');
INSERT INTO wide VALUES (1, 2);
EOF
url=$(new_db copy_shapes)
t_run "$FERRY" copy --progress none "sqlite://$T/src.db" "$url"
assert_eq "exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }

q() { pg_q "$url" "$1"; }
coltype() { q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '$1'::regclass AND attname = '$2'"; }

# types
assert_eq "INTEGER PRIMARY KEY -> bigint" "$(coltype events id)" bigint
assert_eq "FLOAT -> double precision" "$(coltype events ts)" "double precision"
assert_eq "REAL -> double precision (not real)" "$(coltype events r)" "double precision"
assert_eq "SMALLINT -> bigint (SQLite never enforced its range)" "$(coltype events small)" bigint
assert_eq "NUMERIC(10,2)" "$(coltype events price)" "numeric(10,2)"
assert_eq "DECIMAL(20,6)" "$(coltype events amount)" "numeric(20,6)"
assert_eq "VARCHAR(8)" "$(coltype events label)" "character varying(8)"
assert_eq "TEXT" "$(coltype events note)" text
assert_eq "BLOB -> bytea" "$(coltype events payload)" bytea
assert_eq "BOOLEAN" "$(coltype events flag)" boolean
assert_eq "DATE" "$(coltype events day)" date
assert_eq "DATETIME -> timestamp" "$(coltype events at)" "timestamp without time zone"
assert_eq "TIMESTAMP with offsets -> timestamptz" "$(coltype events at_tz)" "timestamp with time zone"
assert_eq "JSON -> jsonb" "$(coltype events attrs)" jsonb
assert_eq "untyped integers -> bigint" "$(coltype events untyped)" bigint
assert_eq "NOT NULL kept" "$(q "SELECT attnotnull FROM pg_attribute WHERE attrelid='events'::regclass AND attname='ts'")" t

# exact values
assert_eq "row count" "$(q 'SELECT count(*) FROM events')" 4
assert_eq "double bits of 0.1" "$(q 'SELECT float8send(r) FROM events WHERE id=1')" '\x3fb999999999999a'
assert_eq "double bits of 1e308" "$(q 'SELECT float8send(r) FROM events WHERE id=2')" '\x7fe1ccf385ebc8a0'
assert_eq "double bits of 1/3" "$(q 'SELECT float8send(r) FROM events WHERE id=3')" '\x3fd5555555555555'
assert_eq "denormal 5e-324" "$(q 'SELECT float8send(ts) FROM events WHERE id=3')" '\x0000000000000001'
assert_eq "microsecond epoch float" "$(q 'SELECT float8send(ts) FROM events WHERE id=1')" \
	"$(python3 -c 'import struct;print("\\x"+struct.pack(">d",1700000000.123456).hex())')"
assert_eq "int64 max" "$(q 'SELECT big FROM events WHERE id=1')" 9223372036854775807
assert_eq "int64 min" "$(q 'SELECT big FROM events WHERE id=2')" -9223372036854775808
assert_eq "numeric" "$(q 'SELECT price::text || amount::text FROM events WHERE id=1')" "12.34123456.000001"
assert_eq "utf-8 text" "$(q 'SELECT note FROM events WHERE id=2')" "ÄÖÜ ✓ 🚀"
assert_eq "blob bytes" "$(q "SELECT encode(payload, 'hex') FROM events WHERE id=1")" 00ff10
assert_eq "empty blob stays empty, not null" "$(q 'SELECT payload IS NOT NULL AND length(payload) = 0 FROM events WHERE id=2')" t
assert_eq "booleans" "$(q "SELECT string_agg(flag::text, ',' ORDER BY id) FROM events")" "true,false,true"
assert_eq "date" "$(q 'SELECT day FROM events WHERE id=1')" 2024-02-29
assert_eq "timestamp microseconds" "$(q 'SELECT at FROM events WHERE id=1')" "2024-02-29 23:59:59.999999"
assert_eq "timestamptz offset applied" "$(q "SELECT to_char(at_tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM events WHERE id=2")" "2024-01-01 00:00:00"
assert_eq "jsonb" "$(q "SELECT attrs->>'unit' FROM events WHERE id=1")" W
assert_eq "nulls stay null" "$(q 'SELECT count(*) FROM events WHERE id=3 AND big IS NULL AND price IS NULL AND note IS NULL AND attrs IS NULL')" 1

# defaults
def() { q "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid=d.adrelid AND a.attnum=d.adnum WHERE d.adrelid='$1'::regclass AND a.attname='$2'"; }
assert_eq "literal default" "$(def events small)" 0
assert_eq "string default" "$(def events label)" "'none'::character varying"
assert_eq "boolean default from 1" "$(def events flag)" true
assert_eq "CURRENT_TIMESTAMP default: UTC's wall clock (timestamp without time zone)" "$(def events at)" "(now() AT TIME ZONE 'UTC'::text)"
assert_contains "strftime('%s','now') default" "$(def events created_epoch)" "EXTRACT(epoch FROM now())"
assert_contains "datetime('now') into text default" "$(def events created_text)" "to_char"
assert_eq "date('now') default: UTC's date" "$(def events made)" "((now() AT TIME ZONE 'UTC'::text))::date"
assert_eq "untranslatable default dropped" "$(def events odd_default)" ""
assert_contains "dropped default reported" "$T_OUT" "default of 'events.odd_default' (random()) cannot be translated"

# keys and indexes
assert_eq "primary key" "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid='events'::regclass AND contype='p'")" "PRIMARY KEY (id)"
assert_eq "composite primary key (WITHOUT ROWID)" "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid='pairs'::regclass AND contype='p'")" "PRIMARY KEY (a, b)"
assert_eq "UNIQUE constraint" "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid='meta'::regclass AND contype='u'")" "UNIQUE (entity_id)"
assert_contains "foreign key with ON DELETE" "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid='events'::regclass AND contype='f'")" "REFERENCES meta(metadata_id) ON DELETE CASCADE"
assert_eq "foreign key validated" "$(q "SELECT convalidated FROM pg_constraint WHERE conrelid='events'::regclass AND contype='f'")" t
assert_contains "multi-column DESC index" "$(q "SELECT indexdef FROM pg_indexes WHERE indexname='ix_events_meta_ts'")" "(meta_id, ts DESC)"
assert_contains "partial index" "$(q "SELECT indexdef FROM pg_indexes WHERE indexname='ix_events_partial'")" "WHERE ((label)::text <> 'none'::text)"
assert_contains "expression index" "$(q "SELECT indexdef FROM pg_indexes WHERE indexname='ix_events_expr'")" "lower(note)"
assert_contains "unique index" "$(q "SELECT indexdef FROM pg_indexes WHERE indexname='ux_events_big'")" "CREATE UNIQUE INDEX"
# keys are built as unique indexes, then attached: PostgreSQL's own names
assert_eq "primary key named as PostgreSQL names it" "$(q "SELECT conname FROM pg_constraint WHERE conrelid='events'::regclass AND contype='p'")" events_pkey
assert_eq "unique constraint named as PostgreSQL names it" "$(q "SELECT conname FROM pg_constraint WHERE conrelid='meta'::regclass AND contype='u'")" meta_entity_id_key
assert_eq "key index belongs to its constraint" "$(q "SELECT count(*) FROM pg_constraint c JOIN pg_class i ON i.oid = c.conindid WHERE c.conrelid='events'::regclass AND c.contype='p' AND i.relname='events_pkey'")" 1
plainpk=$(q "SELECT conname FROM pg_constraint WHERE conrelid='plain'::regclass AND contype='p'")
assert_contains "primary key whose name a table has: another name" "$plainpk" plain_pkey_
assert_eq "the table plain_pkey is copied" "$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid='plain_pkey'::regclass AND contype='p'")" "PRIMARY KEY (x)"
assert_eq "long table: primary key and unique constraint" "$(q "SELECT string_agg(pg_get_constraintdef(oid), ' ' ORDER BY contype) FROM pg_constraint WHERE conrelid='$longt'::regclass")" "PRIMARY KEY (id) UNIQUE (u)"
assert_eq "long table: key names fit in 63 bytes" "$(q "SELECT count(*) FROM pg_constraint WHERE conrelid='$longt'::regclass AND octet_length(conname) <= 63 AND conname LIKE 'tbl_bbb%'")" 2
assert_not_contains "no key step skipped" "$T_OUT" "skipped 'ALTER"
assert_not_contains "no key build skipped" "$T_OUT" "skipped 'CREATE"

# sequences: AUTOINCREMENT goes past the highest id ever handed out (10),
# a plain rowid alias past the highest id
assert_eq "identity after AUTOINCREMENT" "$(q "INSERT INTO events(meta_id, ts) VALUES (1, 1) RETURNING id")" 11
assert_eq "identity on rowid alias without AUTOINCREMENT" "$(q "INSERT INTO plain(v) VALUES ('d') RETURNING id")" 4

# identifiers
assert_eq "reserved words as names" "$(q 'SELECT "order" || "group" FROM "select"')" asc2
assert_eq "hostile table name is data" "$(q "SELECT v FROM \"it's; DROP TABLE meta; --\"")" data
assert_eq "meta survived" "$(q 'SELECT count(*) FROM meta')" 2
n1=$(q "SELECT count(*) FROM pg_attribute WHERE attrelid='wide'::regclass AND attnum > 0")
assert_eq "two long columns stay two columns" "$n1" 2
names=$(q "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid='wide'::regclass AND attnum > 0")
assert_eq "long names shortened to 63 bytes" "$(echo "$names" | tr ',' '\n' | awk '{ if (length($0) != 63) bad=1 } END { print bad+0 }')" 0
assert_contains "shortening printed" "$T_OUT" "column 'wide.$long1' -> '"
assert_eq "values under shortened names" "$(q 'SELECT * FROM wide')" "1|2"

# views: reported and skipped; created with --views
assert_contains "view reported" "$T_OUT" "view 'recent' skipped"
assert_eq "view not created" "$(q "SELECT count(*) FROM pg_views WHERE viewname='recent'")" 0
url2=$(new_db copy_shapes_views)
t_run "$FERRY" copy -q --views "sqlite://$T/src.db" "$url2"
assert_eq "--views exit code" "$T_RC" 0
assert_eq "--views created the view" "$(pg_q "$url2" 'SELECT count(*) FROM recent')" 4

# deterministic shortening: a second run gives the same names
names2=$(pg_q "$url2" "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid='wide'::regclass AND attnum > 0")
assert_eq "shortened names deterministic" "$names2" "$names"

# --json summary
url3=$(new_db copy_shapes_json)
t_run "$FERRY" copy -q --json "sqlite://$T/src.db" "$url3"
assert_eq "--json exit code" "$T_RC" 0
assert_eq "--json parses, totals" "$(printf '%s' "$T_OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["written"], len(d["tables"]), sorted(d["phases"]))')" \
	"ok 17 9 ['constraints', 'data', 'indexes', 'schema', 'sequences']"
# foreign keys: added NOT VALID, then validated side by side; rows that
# break one (SQLite with foreign keys off) leave it NOT VALID, with a
# warning naming the statement that validates it, and the others valid;
# a composite key and a key named past 63 bytes keep working
sqlite3 "$T/fk.db" <<'EOF2'
CREATE TABLE parent (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT NOT NULL, UNIQUE (a, b));
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id),
	pa INTEGER, pb TEXT, FOREIGN KEY (pa, pb) REFERENCES parent (a, b));
CREATE TABLE orphans (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
CREATE TABLE a_table_name_long_enough_to_push_its_key_name_past_sixty_three (
	id INTEGER PRIMARY KEY, parent_id_with_a_long_name_too INTEGER REFERENCES parent (id));
INSERT INTO parent VALUES (1, 10, 'x'), (2, 20, 'y');
INSERT INTO child VALUES (1, 1, 10, 'x'), (2, 2, 20, 'y'), (3, NULL, NULL, NULL);
INSERT INTO orphans VALUES (1, 1), (2, 99);
INSERT INTO a_table_name_long_enough_to_push_its_key_name_past_sixty_three VALUES (1, 2);
EOF2
url4=$(new_db copy_shapes_fk)
t_run "$FERRY" copy "sqlite://$T/fk.db" "$url4"
assert_eq "foreign keys: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "foreign keys: valid except the orphaned one" "$(pg_q "$url4" "SELECT string_agg(conrelid::regclass || ':' || pg_get_constraintdef(oid) || ':' || convalidated, ' | ' ORDER BY conrelid::regclass::text, conname)
	FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")" \
	"a_table_name_long_enough_to_push_its_key_name_past_sixty_three:FOREIGN KEY (parent_id_with_a_long_name_too) REFERENCES parent(id):true | child:FOREIGN KEY (pa, pb) REFERENCES parent(a, b):true | child:FOREIGN KEY (parent_id) REFERENCES parent(id):true | orphans:FOREIGN KEY (parent_id) REFERENCES parent(id) NOT VALID:false"
assert_contains "foreign keys: the orphans in a warning" "$T_OUT$T_ERR" "foreign key added NOT VALID because existing rows violate it"
# the tables on both sides of a key are vacuumed before the validations,
# so those read the keys' indexes alone (post.c), and their key columns
# analyzed; the visibility map is set (VACUUM skips a page someone else
# has pinned at that moment, the bgwriter say: these tables have one
# page each, hence any, not all; without the synchronous claim, none)
assert_eq "foreign keys: both sides vacuumed" "$(pg_q "$url4" "SELECT string_agg(relname || ':' || vacuum_count, ' ' ORDER BY relname)
	FROM pg_stat_user_tables WHERE schemaname = 'public'")" \
	"a_table_name_long_enough_to_push_its_key_name_past_sixty_three:1 child:1 orphans:1 parent:1"
assert_eq "foreign keys: the vacuumed tables' visibility map set" "$(pg_q "$url4" "SELECT sum(relallvisible) > 0 FROM pg_class
	WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")" t
assert_eq "foreign keys: key columns analyzed" "$(pg_q "$url4" "SELECT string_agg(tablename || '.' || attname, ' ' ORDER BY tablename, attname) FROM pg_stats WHERE schemaname = 'public' AND tablename IN ('child', 'parent')")" \
	"child.pa child.parent_id child.pb parent.a parent.b parent.id"
assert_contains "foreign keys: the warning says how to validate" "$T_OUT$T_ERR" 'VALIDATE CONSTRAINT "orphans_parent_id_fkey"'
pg_q "$url4" "DELETE FROM orphans WHERE id = 2; ALTER TABLE orphans VALIDATE CONSTRAINT orphans_parent_id_fkey" >/dev/null
assert_eq "foreign keys: valid once the rows are fixed" "$(pg_q "$url4" "SELECT convalidated FROM pg_constraint WHERE conname = 'orphans_parent_id_fkey'")" t

# rows reach ferry as the arguments of an SQL function (sqlite.c
# take_row_fn), which takes at most 127 (SQLITE_LIMIT_FUNCTION_ARG): a
# table of 140 columns is read column by column instead.  Both ways, with
# a rowid and without (WITHOUT ROWID: keys are ordinals), every kind of
# value, NULLs, an empty text and blob: the rows must come out the same.
types=(INTEGER REAL TEXT BLOB)
cols() {  # N: "c1 INTEGER, c2 REAL, ..."
	local i
	for ((i = 1; i <= $1; i++)); do printf '%sc%d %s' "$([[ $i -gt 1 ]] && echo ', ')" "$i" "${types[(i - 1) % 4]}"; done
}
vals() {  # N ROW: one row's values for cols N
	local i r=$2 v
	for ((i = 1; i <= $1; i++)); do
		if (((i + r) % 5 == 0)); then
			v=NULL
		else
			case ${types[(i - 1) % 4]} in
			INTEGER) v=$((i * 1000 + r)) ;;
			REAL) v="$i.5" ;;
			TEXT) v="'t$i-$r é'"; (((i + r) % 7)) || v="''" ;;
			BLOB) v="x'00ff$(printf '%02x' $((i % 256)))'"; (((i + r) % 7)) || v="x''" ;;
			esac
		fi
		printf '%s%s' "$([[ $i -gt 1 ]] && echo ', ')" "$v"
	done
}
{
	for n in 20 140; do
		echo "CREATE TABLE w$n (id INTEGER PRIMARY KEY, $(cols $n));"
		echo "CREATE TABLE k$n (id INTEGER PRIMARY KEY, $(cols $n)) WITHOUT ROWID;"
		for r in 1 2 3 4 5 6 7; do
			echo "INSERT INTO w$n VALUES ($r, $(vals $n $r));"
			echo "INSERT INTO k$n VALUES ($r, $(vals $n $r));"
		done
	done
} | sqlite3 "$T/wide.db"
url5=$(new_db copy_shapes_wide)
t_run "$FERRY" copy -q "sqlite://$T/wide.db" "$url5"
assert_eq "wide tables: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
# each row as SQLite gives it (blobs in hex, reals with one decimal, N for
# NULL), and the same from PostgreSQL
for t in w20 k20 w140 k140; do
	n=${t#?} sel="" psel=""
	for ((i = 1; i <= n; i++)); do
		case ${types[(i - 1) % 4]} in
		INTEGER | TEXT) sel+=", coalesce(c$i, 'N')"; psel+=" || '|' || coalesce(c$i::text, 'N')" ;;
		REAL) sel+=", iif(c$i IS NULL, 'N', printf('%.1f', c$i))"; psel+=" || '|' || coalesce(to_char(c$i, 'FM999990.0'), 'N')" ;;
		BLOB) sel+=", iif(c$i IS NULL, 'N', lower(hex(c$i)))"; psel+=" || '|' || coalesce(encode(c$i, 'hex'), 'N')" ;;
		esac
	done
	want=$(sqlite3 "$T/wide.db" "SELECT id$sel FROM $t ORDER BY id")
	assert_eq "wide tables: $t's 7 rows" "$(pg_q "$url5" "SELECT id::text$psel FROM $t ORDER BY id")" "$want"
done
# defaults as SQLite stores them: a hex integer, a real past a double's
# range, a real in an integer column (no faithful default: dropped, told);
# CURRENT_TIMESTAMP / CURRENT_DATE / CURRENT_TIME are UTC in SQLite, so in
# PostgreSQL too, whatever the session's time zone
sqlite3 defs.db "CREATE TABLE defs (id INTEGER PRIMARY KEY, h INTEGER DEFAULT 0x10,
	hn INTEGER DEFAULT -0x10, f REAL DEFAULT 1e400, fu REAL DEFAULT 1e-400,
	i INT DEFAULT 1.5, j INT DEFAULT 2.0,
	ts DATETIME DEFAULT CURRENT_TIMESTAMP, d DATE DEFAULT CURRENT_DATE,
	t TEXT DEFAULT 0x1F, n NUMERIC DEFAULT 0x1F,
	s STRING, tm TIME, ok MONEY);
	CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE UNIQUE, v INT CHECK (v > 0));
	INSERT INTO u VALUES (1, 'Ab', 1);
	INSERT INTO defs (id, i, ts, d, s, tm, ok) VALUES
		(1, 1, '2024-01-01 10:00:00', '2024-01-01', 'abc', '10:30:00', 5),
		(2, 2, '2024-01-02 10:00:00', '2024-01-02', 12, '11:00', 7.5);"
url6=$(new_db copy_shapes_defs)
t_run "$FERRY" copy --progress none "sqlite://$T/defs.db" "$url6"
assert_eq "defaults and NUMERIC-affinity types: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }
copy_out=$T_OUT
t_run "$FERRY" verify -q "sqlite://$T/defs.db" "$url6"
assert_eq "defaults and NUMERIC-affinity types: verify equal" "$T_RC" 0
dq() { pg_q "$url6" "$1"; }
ddef() { dq "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid=d.adrelid AND a.attnum=d.adnum WHERE d.adrelid='defs'::regclass AND a.attname='$1'"; }
assert_eq "DEFAULT 0x10 is 16" "$(ddef h)" 16
assert_eq "DEFAULT -0x10 is -16" "$(ddef hn)" "'-16'::integer"
assert_eq "REAL DEFAULT 1e400 is Infinity" "$(ddef f)" "'Infinity'::double precision"
assert_eq "REAL DEFAULT 1e-400 is 0 (SQLite's value; PostgreSQL refused the literal at each insert)" "$(ddef fu)" 0
assert_eq "INT DEFAULT 1.5: none (PostgreSQL would round it)" "$(ddef i)" ""
assert_contains "INT DEFAULT 1.5: told" "$copy_out" "default of 'defs.i' (1.5) cannot be translated"
assert_eq "INT DEFAULT 2.0 is 2" "$(ddef j)" 2
assert_eq "TEXT DEFAULT 0x1F is '31'" "$(ddef t)" "'31'::text"
assert_eq "NUMERIC DEFAULT 0x1F is 31" "$(ddef n)" 31
got=$(PGTZ=Asia/Tokyo psql -XAtq -d "$url6" -c "INSERT INTO defs (id) VALUES (3);
	SELECT h, f, fu, abs(extract(epoch FROM ts - (now() AT TIME ZONE 'UTC'))) < 600,
		d = (now() AT TIME ZONE 'UTC')::date FROM defs WHERE id = 3")
assert_eq "a row of defaults, in a session at UTC+9: 16, Infinity, 0, UTC's time and date" "$got" "16|Infinity|0|t|t"
# type names SQLite gives NUMERIC affinity hold text where a value is no number
assert_eq "STRING holding text -> text" "$(dq "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'defs'::regclass AND attname = 's'")" text
assert_eq "TIME holding text -> text" "$(dq "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'defs'::regclass AND attname = 'tm'")" text
assert_eq "MONEY holding numbers -> numeric" "$(dq "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'defs'::regclass AND attname = 'ok'")" numeric
assert_eq "every value kept" "$(dq "SELECT string_agg(s || '/' || tm || '/' || ok, ' ' ORDER BY id) FROM defs WHERE id < 3")" "abc/10:30:00/5 12/11:00/7.5"
assert_contains "the type change is told" "$copy_out" "column 'defs.s' is declared STRING, which SQLite stores as a number when the value is one, but 1 of its 2 values are not: copied as text"
assert_not_contains "no rejects" "$copy_out" "rows rejected"
assert_contains "CHECK constraints are not copied: told" "$copy_out" "table 'u' has CHECK constraints: they are not copied"
assert_contains "COLLATE NOCASE is lost: told" "$copy_out" "column 'u.name' is COLLATE NOCASE in SQLite: PostgreSQL compares its values byte by byte"

# an untyped column of reals and an integer a double cannot hold (2^53 + 1):
# double precision rejected the integer; numeric holds both exactly
sqlite3 "$T/mixnum.db" "CREATE TABLE m (id INTEGER PRIMARY KEY, v, w);
	INSERT INTO m VALUES (1, 1.5, 1.5), (2, 9007199254740993, 9007199254740992), (3, -9223372036854775808, 0.1)"
url7=$(new_db copy_shapes_mixnum)
t_run "$FERRY" copy -q "sqlite://$T/mixnum.db" "$url7"
assert_eq "reals with a big integer: copied, nothing rejected" "$T_RC" 0
assert_eq "as numeric, each value exact" "$(pg_q "$url7" "SELECT pg_typeof(v)::text || ':' || string_agg(v::text, ',' ORDER BY id) FROM m GROUP BY pg_typeof(v)")" \
	"numeric:1.5,9007199254740993,-9223372036854775808"
assert_eq "reals with integers a double holds stay double precision" \
	"$(pg_q "$url7" "SELECT DISTINCT pg_typeof(w) FROM m")" "double precision"
t_run "$FERRY" verify -q "sqlite://$T/mixnum.db" "$url7"
assert_eq "verify: equal" "$T_RC" 0
# ...but not when a real is one numeric cannot hold (±Infinity, -0): the
# integer is the reject then, as before, and those reals stay whole
sqlite3 "$T/mixinf.db" "CREATE TABLE m (id INTEGER PRIMARY KEY, v);
	INSERT INTO m VALUES (1, 1e999), (2, -0.0), (3, 9007199254740993), (4, 2.5)"
url7b=$(new_db copy_shapes_mixinf)
t_run "$FERRY" copy -q --rejects "$T/rej_mixinf" "sqlite://$T/mixinf.db" "$url7b"
assert_eq "reals with Infinity and a big integer: the integer rejected" "$T_RC" 3
assert_eq "double precision keeps Infinity and -0" \
	"$(pg_q "$url7b" "SELECT pg_typeof(v)::text || ':' || string_agg(v::text, ',' ORDER BY id) FROM m GROUP BY pg_typeof(v)")" \
	"double precision:Infinity,-0,2.5"
# a DATETIME column that mostly holds no dates is text, with a warning (it
# stayed timestamp and most rows were rejects); a few bad among dates stay
# rejects in a timestamp column
sqlite3 "$T/dt.db" "CREATE TABLE dt (id INTEGER PRIMARY KEY, a DATETIME, b DATETIME);
	INSERT INTO dt VALUES (1, 'n/a', '2024-01-01 00:00:00'), (2, 'soon', '2024-01-02 00:00:00'),
		(3, '2024-01-03 00:00:00', '2024-01-03 00:00:00')"
url8=$(new_db copy_shapes_dt)
t_run "$FERRY" copy --progress none "sqlite://$T/dt.db" "$url8"
assert_eq "mostly not dates: no rejects" "$T_RC" 0
assert_contains "told" "$T_ERR$T_OUT" "column 'dt.a' is declared DATETIME but 2 of its 3 values are not dates/times: copied as text"
assert_eq "as text, every value kept" "$(pg_q "$url8" "SELECT pg_typeof(a)::text || ':' || string_agg(a, ',' ORDER BY id) FROM dt GROUP BY pg_typeof(a)")" \
	"text:n/a,soon,2024-01-03 00:00:00"
assert_eq "dates stay timestamp" "$(pg_q "$url8" "SELECT DISTINCT pg_typeof(b) FROM dt")" "timestamp without time zone"
t_done
