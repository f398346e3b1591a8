#!/usr/bin/env bash
# What SQLite (and line protocol, CSV) allow and PostgreSQL does not:
# keys that collide once typed, columns named like PostgreSQL's system
# columns, STRICT tables' ANY columns; and --cast naming no column.
source "$(dirname "$0")/lib.sh"
t_init copy_pg_limits

# 1. an untyped key holding the integer 1 and the text '1' (two keys in
# SQLite, one in a text column): the key cannot be built, the copy fails
sqlite3 k.db "CREATE TABLE k (id PRIMARY KEY, v);
	INSERT INTO k VALUES (1, 'a'), ('1', 'b'), (2, 'c');
	CREATE TABLE u (a INTEGER PRIMARY KEY, code UNIQUE);
	INSERT INTO u VALUES (1, 1), (2, '1'), (3, 'x');
	CREATE TABLE fine (id INTEGER PRIMARY KEY, v TEXT);
	INSERT INTO fine VALUES (1, 'z');"
url=$(new_db limits_keys)
t_run "$FERRY" copy "sqlite://$T/k.db" "$url"
assert_eq "a key the rows break: exit 1, not 0" "$T_RC" 1
assert_contains "names the primary key and the duplicate" "$T_ERR" 'could not create unique index "k_pkey"'
assert_contains "names the UNIQUE key too" "$T_ERR" 'could not create unique index "u_code_key"'
assert_contains "says why and what to do" "$T_ERR" "the integer 1 and the text '1'"
assert_eq "the job is not done" "$(pg_q "$url" "SELECT state FROM ferry.jobs WHERE job = 'k'")" loading
assert_eq "the other table got its key" \
	"$(pg_q "$url" "SELECT count(*) FROM pg_constraint WHERE conname = 'fine_pkey'")" 1
t_run "$FERRY" copy "sqlite://$T/k.db" "$url"
assert_eq "rerun without a fix: still exit 1" "$T_RC" 1
pg_q "$url" "UPDATE k SET id = '1b' WHERE v = 'b'; DELETE FROM u WHERE a = 2" >/dev/null
t_run "$FERRY" copy "sqlite://$T/k.db" "$url"
assert_eq "rows fixed in the target, rerun: the keys are built" "$T_RC" 0
assert_eq "primary key and unique key exist" \
	"$(pg_q "$url" "SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint WHERE conrelid IN ('k'::regclass, 'u'::regclass)")" \
	"k_pkey u_code_key u_pkey"

# 2. STRICT tables' ANY columns have no affinity: typed by their values
sqlite3 s.db "CREATE TABLE s (id INTEGER PRIMARY KEY, v ANY, w ANY, n ANY) STRICT;
	INSERT INTO s VALUES (1, 1, 'a', 1), (2, 'text', x'00ff', 2), (3, 2.5, 'b', 3);"
url=$(new_db limits_any)
t_run "$FERRY" copy -q "sqlite://$T/s.db" "$url"
assert_eq "STRICT ANY: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_eq "ANY columns typed by their values" \
	"$(pg_q "$url" "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 's'")" \
	"id bigint, v text, w bytea, n bigint"
assert_eq "every value kept" "$(pg_q "$url" "SELECT string_agg(v || '/' || encode(w, 'hex'), ' ' ORDER BY id) FROM s")" "1/61 text/00ff 2.5/62"
t_run "$FERRY" verify -q "sqlite://$T/s.db" "$url"
assert_eq "verify: equal" "$T_RC" 0

# 3. columns named like PostgreSQL system columns get a suffix, printed
sqlite3 x.db "CREATE TABLE readings (id INTEGER PRIMARY KEY, xmin REAL, xmax REAL, ctid TEXT,
		tableoid INT, cmin, cmax, XMIN2 INT);
	CREATE INDEX readings_xmin ON readings (xmin);
	INSERT INTO readings VALUES (1, -3.5, 20.25, 'a', 7, 1, 2, 0);"
url=$(new_db limits_names)
t_run "$FERRY" copy "sqlite://$T/x.db" "$url"
assert_eq "system column names from SQLite: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_contains "the mapping is printed" "$T_OUT" "column 'readings.xmin' -> 'xmin_col'"
assert_eq "renamed columns" \
	"$(pg_q "$url" "SELECT string_agg(column_name, ' ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'readings'")" \
	"id xmin_col xmax_col ctid_col tableoid_col cmin_col cmax_col XMIN2"
assert_eq "values" "$(pg_q "$url" "SELECT xmin_col, xmax_col, ctid_col, tableoid_col FROM readings")" "-3.5|20.25|a|7"
check "the index is on the renamed column" pg_q "$url" "SELECT 1/(count(*))::int FROM pg_indexes WHERE indexname = 'readings_xmin' AND indexdef LIKE '%(xmin_col)%'"
t_run "$FERRY" verify -q "sqlite://$T/x.db" "$url"
assert_eq "verify maps the renamed columns: equal" "$T_RC" 0
t_run "$FERRY" copy -q --truncate --job again "sqlite://$T/x.db" "$url"
assert_eq "loading into the renamed table again (--truncate)" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"

printf 'weather,xmin=a,site=s1 xmax=3.5,t=1 1700000000000000000\nweather,xmin=b,site=s2 xmax=4.5,ctid=2i 1700000001000000000\n' >w.lp
t_run "$FERRY" copy --layout wide "lp://$T/w.lp" "$url"
assert_eq "system column names from line protocol (wide): exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_contains "the tag's new name is printed" "$T_OUT" "tag 'xmin' is named like a PostgreSQL system column; it is loaded as 'xmin_tag'"
assert_contains "the field's new name is printed" "$T_OUT" "field 'xmax' has the name of a PostgreSQL system column; it is loaded as 'xmax_field'"
assert_eq "wide columns" \
	"$(pg_q "$url" "SELECT string_agg(column_name, ' ' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'weather'")" \
	"ctid_field site t time xmax_field xmin_tag"
assert_eq "wide values" "$(pg_q "$url" "SELECT string_agg(xmin_tag || ':' || xmax_field || ':' || coalesce(ctid_field::text, '-'), ' ' ORDER BY time) FROM weather")" "a:3.5:- b:4.5:2"
t_run "$FERRY" verify -q --layout wide "lp://$T/w.lp" "$url"
assert_eq "verify of the wide lp copy: equal" "$T_RC" 0

printf 'time,xmin,ctid,v\n2024-01-01T00:00:00Z,1.5,2,3\n2024-01-01T00:00:01Z,2.5,3,4\n' >plain.csv
t_run "$FERRY" copy --layout wide "csv://$T/plain.csv" "$url"
assert_eq "system column names from CSV headers (wide): exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_contains "the CSV column's new name is printed" "$T_OUT" "field 'xmin' has the name of a PostgreSQL system column; it is loaded as 'xmin_field'"
assert_eq "CSV values" "$(pg_q "$url" "SELECT string_agg(xmin_field || ':' || ctid_field || ':' || v, ' ' ORDER BY time) FROM plain")" "1.5:2:3 2.5:3:4"

# 3b. names a copy must make up: a column over 63 bytes, a column named like
# the suffixed name of a system column (xmin_col beside xmin, either order).
# verify, --data-only and --truncate find the columns by the names the copy
# gave them; a --data-only rerun keeps the job's tables (it dropped them)
E=$(printf 'e%.0s' $(seq 70))
sqlite3 n.db "CREATE TABLE a (id INTEGER PRIMARY KEY, $E TEXT, xmin_col INT, xmin INT);
	INSERT INTO a VALUES (1, 'p', 10, 20), (2, 'q', 11, 21);
	CREATE TABLE b (id INTEGER PRIMARY KEY, xmin INT, xmin_col INT, ctid TEXT, ctid_col TEXT);
	INSERT INTO b VALUES (1, 30, 40, 'c1', 'd1'), (2, 31, 41, 'c2', 'd2');"
url=$(new_db limits_made_names)
t_run "$FERRY" copy "sqlite://$T/n.db" "$url"
assert_eq "made-up names: exit code" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
assert_contains "the renamed list names the source column (xmin after xmin_col)" "$T_OUT" "column 'a.xmin' -> 'xmin_col_"
assert_contains "the renamed list names the source column (xmin_col after xmin)" "$T_OUT" "column 'b.xmin_col' -> 'xmin_col_"
assert_contains "b.xmin is xmin_col" "$T_OUT" "column 'b.xmin' -> 'xmin_col' (a PostgreSQL system column's name)"
assert_eq "values under the made-up names" \
	"$(pg_q "$url" "SELECT string_agg(to_jsonb(a)::text, ' ' ORDER BY id) FROM a")" \
	"$(pg_q "$url" "SELECT string_agg(jsonb_build_object('id', id, '${E:0:54}_' || '$(
		pg_q "$url" "SELECT split_part(column_name, '_', 2) FROM information_schema.columns
			WHERE table_name = 'a' AND column_name LIKE 'eee%'")', e, 'xmin_col', xc,
		'xmin_col_$(pg_q "$url" "SELECT split_part(column_name, '_', 3) FROM information_schema.columns
			WHERE table_name = 'a' AND column_name LIKE 'xmin_col_%'")', x)::text, ' ' ORDER BY id)
		FROM (VALUES (1, 'p', 10, 20), (2, 'q', 11, 21)) v(id, e, xc, x)")"
assert_eq "b: xmin's values in xmin_col" "$(pg_q "$url" "SELECT string_agg(xmin_col::text, ',' ORDER BY id) FROM b")" "30,31"
t_run "$FERRY" verify -q "sqlite://$T/n.db" "$url"
assert_eq "verify finds the made-up names: equal" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
pg_q "$url" "UPDATE b SET xmin_col = 99 WHERE id = 2" >/dev/null
t_run "$FERRY" verify -q "sqlite://$T/n.db" "$url"
assert_eq "verify compares xmin with xmin_col: a changed value is a difference" "$T_RC" 1
assert_contains "the difference is b.xmin's" "$T_OUT" "column 'xmin' differs: source 31, target 99"
t_run "$FERRY" copy -q --data-only --truncate "sqlite://$T/n.db" "$url"
assert_eq "--data-only --truncate rerun into the made-up names" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
t_run "$FERRY" copy -q --data-only --restart "sqlite://$T/n.db" "$url"
assert_eq "--data-only --restart rerun" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"
t_run "$FERRY" verify -q "sqlite://$T/n.db" "$url"
assert_eq "after the --data-only reruns: equal (no table dropped, no row twice)" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT $T_ERR"

# 4. --cast naming no column is a usage error, not ignored
url=$(new_db limits_cast)
t_run "$FERRY" copy -q --cast 'readings.xmn=text' "sqlite://$T/x.db" "$url"
assert_eq "--cast of a missing column: exit 2" "$T_RC" 2
assert_contains "names the column and lists the table's" "$T_ERR" "table 'readings' has no column 'xmn' (its columns: id, xmin"
t_run "$FERRY" copy -q --cast 'reading.xmin=text' "sqlite://$T/x.db" "$url"
assert_eq "--cast of a missing table: exit 2" "$T_RC" 2
assert_contains "names the table" "$T_ERR" "the source has no table 'reading'"
assert_eq "nothing was created" "$(pg_q "$url" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0
t_run "$FERRY" copy -q --cast 'readings.xmin=text' "sqlite://$T/x.db" "$url"
assert_eq "--cast of a present column still works" "$T_RC" 0
assert_eq "cast applied" "$(pg_q "$url" "SELECT data_type FROM information_schema.columns WHERE table_name = 'readings' AND column_name = 'xmin_col'")" text
t_done
