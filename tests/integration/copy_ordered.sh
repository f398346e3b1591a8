#!/usr/bin/env bash
# A table whose target gets an index led by a text column is loaded in
# that index's order, chunk after chunk, sorted by ferry from a rowid scan
# (or, without a temporary directory, read through the index by several
# readers): the target must equal a copy in key ranges (--key-order, one
# job), rejects included, after kill -9 and resume too; the rows must sit
# in the heap in the index's order; tables that cannot be ordered fall
# back to key ranges.
source "$(dirname "$0")/lib.sh"
t_init copy_ordered
# tables under 200000 rows are not ordered: these are smaller
export FERRY_TUNE_SMALL_TABLE=1000

sqlite3 src.db <<'SQL'
CREATE TABLE readings(id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, ts REAL NOT NULL, v REAL, s TEXT);
CREATE INDEX ix_readings_entity_ts ON readings(entity_id, ts);
-- nullable text column: cannot order a read, loads in key ranges
CREATE TABLE notes(id INTEGER PRIMARY KEY, who TEXT, body TEXT);
CREATE INDEX ix_notes_who ON notes(who);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO readings SELECT i, 'sensor.' || (i * 7919 % 23), 1700000000 + (i / 3),
  CASE WHEN i % 5 = 0 THEN i ELSE i * 0.25 END,
  CASE WHEN i % 997 = 0 THEN CAST(x'ff' AS TEXT) ELSE 's' || i END FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO notes SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'u' || (i % 9) END, 'b' || i FROM n;
SQL
src="sqlite://$T/src.db"
sums() {
	pg_q "$1" "SELECT 'readings', count(*), md5(string_agg(r::text, '|' ORDER BY id)) FROM readings r;
		SELECT 'notes', count(*), md5(string_agg(n::text, '|' ORDER BY id)) FROM notes n;
		SELECT 'idx', count(*) FROM pg_indexes WHERE schemaname = 'public';
		SELECT 'next', nextval(pg_get_serial_sequence('readings', 'id'))"
}

ref=$(new_db ordered_ref)
t_run "$FERRY" copy -q --key-order -j 1 --rejects "$T/rej_ref" --json "$src" "$ref"
assert_eq "reference (key ranges, one job) exit code (rejects)" "$T_RC" 3
assert_contains "--key-order: no table ordered" "$T_OUT" '"order": null'
want=$(sums "$ref")
echo "$want"

url=$(new_db ordered_par)
t_run "$FERRY" copy -q -j 3 --chunk-rows 7000 --batch-rows 500 --rejects "$T/rej_par" --json "$src" "$url"
assert_eq "ordered copy exit code" "$T_RC" 3
assert_contains "readings loaded in its index's order" "$T_OUT" '"order": "ix_readings_entity_ts"'
assert_eq "ordered copy == key-range copy" "$(sums "$url")" "$want"
assert_eq "ordered reject file == key-range reject file" \
	"$(sort "$T/rej_par/rejects.ndjson")" "$(sort "$T/rej_ref/rejects.ndjson")"
assert_eq "the nullable-text table fell back to key ranges" \
	"$(pg_q "$url" "SELECT count(*) FROM ferry.progress WHERE stream = 'notes' AND key_lo IS NOT NULL")" 0
assert_eq "readings was cut at index keys" \
	"$(pg_q "$url" "SELECT count(*) > 5 FROM ferry.progress WHERE stream = 'readings' AND key_lo IS NOT NULL")" t
# in the heap, rows follow the index; free space PostgreSQL reuses may
# put a few rows early, never more than a handful
viol=$(pg_q "$url" "SELECT count(*) FROM (SELECT entity_id, ts, lag(entity_id) OVER w pe, lag(ts) OVER w pt
	FROM readings WINDOW w AS (ORDER BY ctid)) s WHERE (entity_id, ts) < (pe, pt)")
echo "rows out of index order in the heap: $viol"
check "heap in index order (at most 1% out of place)" test "$viol" -le 600
ref_viol=$(pg_q "$ref" "SELECT count(*) FROM (SELECT entity_id, ts, lag(entity_id) OVER w pe, lag(ts) OVER w pt
	FROM readings WINDOW w AS (ORDER BY ctid)) s WHERE (entity_id, ts) < (pe, pt)")
check "the key-range copy is not (the check can fail)" test "$ref_viol" -gt 10000
# the ordered table's two builds run side by side without parallel
# workers; the other table's, and the key-range copy's, keep them
nw="SELECT string_agg(split_part(sql, ' ON ', 2) || ':' || (sql LIKE 'SET LOCAL max_parallel_maintenance_workers TO 0; %'),
	' ' ORDER BY split_part(sql, ' ON ', 2)) FROM ferry.steps WHERE stage = 1"
assert_eq "builds without workers: the ordered table's only" "$(pg_q "$url" "$nw")" \
	'"public"."notes" ("id"):false "public"."notes" ("who"):false "public"."readings" ("entity_id", "ts"):true "public"."readings" ("id"):true'
assert_eq "builds without workers: none in the key-range copy" "$(pg_q "$ref" "$nw")" \
	'"public"."notes" ("id"):false "public"."notes" ("who"):false "public"."readings" ("entity_id", "ts"):false "public"."readings" ("id"):false'

# ferry sorts an ordered table itself (rowid scan into a temporary file);
# without a usable temporary directory it reads through the index: the
# same target either way
url=$(new_db ordered_spill)
t_run "$FERRY" -v copy -q -j 2 --chunk-rows 7000 --rejects "$T/rej_spill" "$src" "$url"
assert_eq "sorted by ferry: exit code" "$T_RC" 3
assert_contains "sorted by ferry: says so" "$T_ERR" "read in rowid order into a temporary file"
assert_eq "sorted by ferry == key-range copy" "$(sums "$url")" "$want"
url=$(new_db ordered_noscratch)
TMPDIR=$T/no/such/dir t_run "$FERRY" copy -q -j 2 --chunk-rows 7000 --rejects "$T/rej_idx" "$src" "$url"
assert_eq "no temporary directory: exit code" "$T_RC" 3
assert_contains "no temporary directory: warns" "$T_ERR" "reading it through index 'ix_readings_entity_ts' instead"
assert_eq "read through the index == key-range copy" "$(sums "$url")" "$want"
assert_eq "read through the index: reject file" \
	"$(sort "$T/rej_idx/rejects.ndjson")" "$(sort "$T/rej_ref/rejects.ndjson")"
viol=$(pg_q "$url" "SELECT count(*) FROM (SELECT entity_id, ts, lag(entity_id) OVER w pe, lag(ts) OVER w pt
	FROM readings WINDOW w AS (ORDER BY ctid)) s WHERE (entity_id, ts) < (pe, pt)")
check "read through the index: heap in index order" test "$viol" -le 600
# a temporary file that fills up (a 1 MB file size limit, SIGXFSZ ignored
# so the write fails with EFBIG) is no reason to stop either
url=$(new_db ordered_full)
t_run bash -c 'trap "" XFSZ; ulimit -f 1000; exec "$@"' _ \
	"$FERRY" copy -q -j 2 --chunk-rows 7000 --rejects "$T/rej_full" "$src" "$url"
assert_eq "temporary file full: exit code" "$T_RC" 3
assert_contains "temporary file full: warns" "$T_ERR" "cannot write a temporary file"
assert_eq "temporary file full: read through the index == key-range copy" "$(sums "$url")" "$want"
# kill -9 at growing delays, resume: the same target
url=$(new_db ordered_kill)
kill_at_delays "0.02 0.04 0.06 0.08 0.1 0.15 0.2 0.3 0.4 0.5 0.7 1 1.5 2 3 5 10" \
	"$FERRY" copy -q -j 2 --chunk-rows 4000 --rejects "$T/rej_kill" "$src" "$url"
check "killed at least three times" test "$KILLS" -ge 3
t_run "$FERRY" copy -q -j 2 --chunk-rows 4000 --rejects "$T/rej_kill" "$src" "$url"
assert_eq "final run after kills" "$T_RC" 3
assert_eq "killed and resumed == key-range copy" "$(sums "$url")" "$want"
assert_eq "reject file after kills == key-range reject file" \
	"$(sort "$T/rej_kill/rejects.ndjson")" "$(sort "$T/rej_ref/rejects.ndjson")"
assert_eq "every ordered chunk done once" \
	"$(pg_q "$url" "SELECT count(*) FILTER (WHERE state <> 'done'), sum(rows_read) FROM ferry.progress WHERE stream = 'readings'")" "0|60000"
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "ferry verify: identical" "$T_RC" 0

t_done
