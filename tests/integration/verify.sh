#!/usr/bin/env bash
# ferry verify: a faithful copy verifies equal; one changed double (1 ulp),
# one deleted row, one extra row, one changed text byte, one timestamp
# moved by 1 µs each make it exit 1 naming the table, the key range and
# the first differing key; rows rejected at copy are not differences.
source "$(dirname "$0")/lib.sh"
t_init verify

sqlite3 src.db <<'EOF_SQL'
CREATE TABLE readings(id INTEGER PRIMARY KEY, v REAL, ts DATETIME, note TEXT, data BLOB,
                      price NUMERIC(10,2), attrs JSON);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80000)
INSERT INTO readings
SELECT i,
       CASE WHEN i % 7 = 0 THEN NULL WHEN i % 11 = 0 THEN 0.1 ELSE i * 0.1 END,
       printf('2024-01-%02d %02d:%02d:%02d.%06d', 1 + i % 28, i % 24, i % 60, (i / 60) % 60, i % 1000000),
       CASE WHEN i % 13 = 0 THEN NULL WHEN i % 17 = 0 THEN '' ELSE 'Zählerstand ✓ ' || i END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE CAST(printf('%08x', i * 2654435761 % 4294967296) AS BLOB) END,
       (i % 100000) / 100.0,
       CASE WHEN i % 3 = 0 THEN '{"b": 1, "a": [1, 2.50, "x\u00e9"], "b": 2}' ELSE NULL END
FROM n;
CREATE TABLE pairs(k TEXT PRIMARY KEY, n INTEGER, d REAL) WITHOUT ROWID;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO pairs SELECT 'k' || i, i, i / 3.0 FROM n;
CREATE TABLE dups(v TEXT, n INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO dups SELECT CASE WHEN i <= 2000 THEN 'same' ELSE 'd' || i END,
                        CASE WHEN i <= 2000 THEN 1 ELSE i END FROM n;
CREATE TABLE bad(id INTEGER PRIMARY KEY, n INTEGER, s TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO bad SELECT i, CASE WHEN i % 4000 = 0 THEN 'not a number' ELSE i END, 's' || i FROM n;
EOF_SQL
url=$(new_db verify)
t_run "$FERRY" copy -q --rejects "$T/rej" "sqlite://$T/src.db" "$url"
assert_eq "copy completes with the 5 rejected rows" "$T_RC" 3
q() { pg_q "$url" "$1"; }
# readings in 4 chunks, each more than one read batch (VF_BATCH_ROWS,
# 10000, src/lib/verify/verify.c), as pairs' one chunk; bad and dups one
# chunk each (200000 rows in chunks of 50000 until 2026-12-07: the same
# paths, 2.5 times the rows)
V=("$FERRY" verify --progress none --chunk-rows 20000 "sqlite://$T/src.db" "$url")

t_run "${V[@]}"
assert_eq "faithful copy: exit 0" "$T_RC" 0
[[ $T_RC -eq 0 ]] || { echo "$T_OUT"; echo "$T_ERR"; }
assert_contains "says equal" "$T_OUT" "equal ("
assert_contains "rejected rows counted, not differences" "$T_OUT" "5 source rows are rejected at copy"
assert_contains "readings cut in 4 chunks" "$T_OUT" "readings         4        80000        80000         0         0"

q "CREATE SCHEMA bak; CREATE TABLE bak.r AS SELECT * FROM readings WHERE id IN (77, 49383, 64000)"

# 1. one double, one ulp
orig=$(q "SELECT float8send(v) FROM readings WHERE id = 49383")
q "UPDATE readings SET v = v * (1 + 2^(-52)::float8) WHERE id = 49383"
check "the double changed by one ulp" test "$(q "SELECT float8send(v) FROM readings WHERE id = 49383")" != "$orig"
t_run "${V[@]}"
assert_eq "1 ulp: exit 1" "$T_RC" 1
assert_contains "1 ulp: table, range and key" "$T_OUT" \
	"differs: table 'readings' keys 40001..60000: source 20000 rows, target 20000 rows; first difference at key 49383: column 'v' differs"
assert_contains "1 ulp: DIFFERENT" "$T_OUT" "DIFFERENT"
q "UPDATE readings r SET v = b.v FROM bak.r b WHERE r.id = b.id AND r.id = 49383"
assert_eq "restored" "$(q "SELECT float8send(v) FROM readings WHERE id = 49383")" "$orig"

# 2. one row deleted
q "DELETE FROM readings WHERE id = 77"
t_run "${V[@]}"
assert_eq "deleted row: exit 1" "$T_RC" 1
assert_contains "deleted row: open first range and key" "$T_OUT" \
	"differs: table 'readings' keys ..20000: source 20000 rows, target 19999 rows; first difference at key 77: missing in target"
t_run "${V[@]}" --json
assert_eq "--json: exit 1" "$T_RC" 1
got=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
d = r["differences"]
print(r["equal"], len(d), d[0]["table"], d[0]["lo"], d[0]["hi"], d[0]["first_key"], d[0]["what"], d[0]["source_rows"], d[0]["target_rows"])
' "$T/last.out")
assert_eq "--json lists the differing chunk" "$got" "False 1 readings None 20000 77 missing in target 20000 19999"
q "INSERT INTO readings SELECT * FROM bak.r WHERE id = 77"

# 3. one extra row past the source's last key
q "INSERT INTO readings(id, v) VALUES (100000, 1.5)"
t_run "${V[@]}"
assert_eq "extra row: exit 1" "$T_RC" 1
assert_contains "extra row: open last range and key" "$T_OUT" \
	"differs: table 'readings' keys 60001..: source 20000 rows, target 20001 rows; first difference at key 100000: extra in target"
q "DELETE FROM readings WHERE id = 100000"

# 4. one text byte
q "UPDATE readings SET note = overlay(note placing 'z' from 1 for 1) WHERE id = 64000"
t_run "${V[@]}"
assert_eq "text byte: exit 1" "$T_RC" 1
assert_contains "text byte: key and column" "$T_OUT" \
	"keys 60001..: source 20000 rows, target 20000 rows; first difference at key 64000: column 'note' differs: source \"Zählerstand ✓ 64000\", target \"zählerstand ✓ 64000\""
q "UPDATE readings r SET note = b.note FROM bak.r b WHERE r.id = b.id AND r.id = 64000"

# 5. one timestamp, one microsecond
q "UPDATE readings SET ts = ts + interval '1 microsecond' WHERE id = 5"
t_run "${V[@]}"
assert_eq "1 µs: exit 1" "$T_RC" 1
assert_contains "1 µs: key and column" "$T_OUT" "keys ..20000: source 20000 rows, target 20000 rows; first difference at key 5: column 'ts' differs"
q "UPDATE readings SET ts = ts - interval '1 microsecond' WHERE id = 5"

# 6. a WITHOUT ROWID table: one chunk, compared as a multiset
q "UPDATE pairs SET d = d + 1 WHERE k = 'k4242'"
t_run "${V[@]}"
assert_eq "without rowid: exit 1" "$T_RC" 1
assert_contains "without rowid: table named" "$T_OUT" "differs: table 'pairs' all rows: source 20000 rows, target 20000 rows; first difference: "
assert_contains "without rowid: the row named by its columns" "$T_OUT" 'k="k4242"'
q "UPDATE pairs SET d = d - 1 WHERE k = 'k4242'"

# 6b. no rowid alias, 2000 equal rows: one of them gone is named, by count
q "DELETE FROM dups WHERE ctid = (SELECT ctid FROM dups WHERE v = 'same' LIMIT 1)"
t_run "${V[@]}" --json
assert_eq "equal rows: exit 1" "$T_RC" 1
got=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["differences"]
print(len(d), d[0]["table"], d[0]["source_rows"], d[0]["target_rows"], d[0]["first_key"], d[0]["what"], d[0]["first_row"])
' "$T/last.out")
assert_eq "equal rows: --json names the row" "$got" '1 dups 3000 2999 None missing in target v="same", n=1'
q "INSERT INTO dups VALUES ('same', 1)"

# everything restored: equal again
t_run "${V[@]}"
assert_eq "restored target: exit 0" "$T_RC" 0
[[ $T_RC -eq 0 ]] || echo "$T_OUT"

# 7. --sample: half of readings' 4 chunks, at least one of the others
t_run "${V[@]}" --sample 50 --seed 7 --json
assert_eq "--sample 50: exit 0" "$T_RC" 0
got=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["checked"], r["chunks"], [(t["table"], t["checked"]) for t in r["tables"]])
' "$T/last.out")
assert_eq "--sample 50 checks 5 of 7 chunks" "$got" "5 7 [('readings', 2), ('pairs', 1), ('dups', 1), ('bad', 1)]"
t_run "${V[@]}" --sample 50 --seed 7
assert_contains "--sample reports the sampled count" "$T_OUT" "sampled 5 of 7 chunks"
t_run "${V[@]}" --sample 150
assert_eq "--sample 150 is a usage error" "$T_RC" 2

# 8. a table missing in the target is a difference
q "ALTER TABLE bad RENAME TO bad2"
t_run "${V[@]}"
assert_eq "missing table: exit 1" "$T_RC" 1
assert_contains "missing table named" "$T_OUT" "differs: table 'bad': table missing in target"
q "ALTER TABLE bad2 RENAME TO bad"
t_done
