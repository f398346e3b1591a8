#!/usr/bin/env bash
# -j auto (the default) decides the streams and the index builds from the
# cores, where the server runs and the tables (src/lib/copy/tune.c), and
# says so: whatever it decides, the target must equal a serial copy
# (-j 1): rows, rejects, keys, indexes, foreign keys and their validity,
# identities.  FERRY_TUNE_CORES plays a bigger machine, where the ramp
# starts one stream and may add more while the copy runs; killed and
# resumed, the same.
source "$(dirname "$0")/lib.sh"
t_init copy_auto

# the recorder (foreign keys, blobs, several tables), a table loaded in
# the order of its text-led index, rows that are rejected
t_run "$FERRY" generate -q --format recorder --rows 30000 --seed 3 -o rec.db
assert_eq "generate recorder" "$T_RC" 0
t_run "$FERRY" generate -q --rows 40000 --seed 3 -o flat.db
assert_eq "generate flat" "$T_RC" 0
sqlite3 rec.db <<'SQL'
ATTACH 'flat.db' AS f;
CREATE TABLE telemetry (id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, ts REAL NOT NULL,
  value REAL, state TEXT, attributes TEXT);
INSERT INTO telemetry SELECT * FROM f.telemetry;
CREATE INDEX telemetry_entity_id_ts ON telemetry (entity_id, ts);
CREATE TABLE counts (id INTEGER PRIMARY KEY, n INTEGER);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
INSERT INTO counts SELECT i, CASE WHEN i % 500 = 0 THEN 'many' ELSE i END FROM c;
SQL
src="sqlite://$T/rec.db"

# every table's rows in key order, the keys, indexes and constraints, the
# identities' next values
sums() {
	local t
	for t in $(sqlite3 "$T/rec.db" "SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' ORDER BY name"); do
		pg_q "$1" "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))
			FROM \"$t\" x"
	done
	pg_q "$1" "SELECT conrelid::regclass, conname, contype, convalidated, pg_get_constraintdef(oid)
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2;
		SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname;
		SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
}

ref=$(new_db auto_ref)
t_run "$FERRY" copy -q -j 1 --rejects "$T/rej_ref" --json "$src" "$ref"
assert_eq "serial copy (-j 1) exit code (rejects)" "$T_RC" 3
assert_contains "-j 1 says it was set" "$T_OUT" '"jobs 1: set with -j'
want=$(sums "$ref")
check "the reference has foreign keys" grep -q 'FOREIGN KEY' <<<"$want"

# like_serial WHAT DB VAR=VALUE... -- COPY-OPTIONS...: copy with -j auto
# into a new database DB with those variables set; the exit code, the
# target and the reject file must be the serial copy's (T_OUT: the JSON)
like_serial() {
	local what=$1 db=$2 vars=()
	shift 2
	while [[ $1 != -- ]]; do vars+=("$1"); shift; done
	shift
	url=$(new_db "$db")
	t_run env "${vars[@]}" "$FERRY" copy -q "$@" --rejects "$T/rej_$db" --json "$src" "$url"
	assert_eq "$what: exit code (rejects)" "$T_RC" 3
	assert_eq "$what == serial copy" "$(sums "$url")" "$want"
	assert_eq "$what: reject file == serial copy's" \
		"$(sort "$T/rej_$db/rejects.ndjson")" "$(sort "$T/rej_ref/rejects.ndjson")"
}

# the defaults, on this machine: a server on this host
like_serial "default" auto_default --
assert_contains "default: says where the server runs" "$T_OUT" 'server on this host'
assert_contains "default: says how the indexes are built" "$T_OUT" 'index builds'
t_run "$FERRY" verify -q "$src" "$url"
assert_eq "default: ferry verify: identical" "$T_RC" 0

# two cores shared with the server: one stream
like_serial "2 cores" auto_two FERRY_TUNE_CORES=2 -- -j auto
assert_contains "2 cores: one stream, and why" "$T_OUT" \
	'jobs 1: server on this host, 2 cores: one stream'
assert_contains "2 cores: tables of 40000 rows count as small: builds side by side" "$T_OUT" \
	'index builds up to 2 side by side: 9 tables'

# rows spread over several big tables (here: over 20000 rows), 2 cores
# shared with the server: two streams, smaller batches
like_serial "2 cores, two big tables" auto_two_big FERRY_TUNE_CORES=2 FERRY_TUNE_SMALL_TABLE=20000 -- -j auto
assert_contains "2 cores, two big tables: two streams, and why" "$T_OUT" \
	'jobs 2: server on this host, 2 cores, 2 tables of 20000 rows or more: two streams'

# tables over 200000 rows, on 2 cores shared with the server: one loaded in the
# order of its text-led index builds side by side without workers (one
# stream: its chunks go one at a time), the same in key ranges (a key and
# an index) two builds side by side with the server's workers, and with
# its key alone one build at a time; loaded in no index's order and in
# more than one chunk, on two streams
t_run "$FERRY" generate -q --rows 250000 --seed 3 -o big.db
url=$(new_db auto_big_ordered)
FERRY_TUNE_CORES=2 t_run "$FERRY" copy -q --json "sqlite://$T/big.db" "$url"
assert_eq "big ordered table: exit code" "$T_RC" 0
assert_contains "big ordered table: builds side by side without workers" "$T_OUT" \
	'index builds up to 2 side by side, without parallel workers'
assert_contains "big ordered table: one stream (it goes a chunk at a time)" "$T_OUT" \
	'jobs 1: server on this host, 2 cores: one stream'
bigsum=$(pg_q "$url" "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM telemetry t")
nw="SELECT count(*) FILTER (WHERE sql LIKE 'SET LOCAL max_parallel_maintenance_workers TO 0; %'),
	count(*) FROM ferry.steps WHERE stage = 1"
assert_eq "big ordered table: both builds without workers" "$(pg_q "$url" "$nw")" "2|2"
url=$(new_db auto_big_ranges)
FERRY_TUNE_CORES=2 t_run "$FERRY" copy -q --key-order --chunk-rows 100000 --json "sqlite://$T/big.db" "$url"
assert_eq "big table in key ranges: exit code" "$T_RC" 0
assert_contains "big table in key ranges: two streams, and why" "$T_OUT" \
	"jobs 2: server on this host, 2 cores, a table of 250000 rows loaded in no index's order: two streams"
assert_contains "big table in key ranges: its key and its index side by side" "$T_OUT" \
	"index builds up to 2 side by side with the server's defaults: a table of 250000 rows has 2 to build"
assert_eq "big table in key ranges: builds with the server's workers" "$(pg_q "$url" "$nw")" "0|2"
assert_eq "big table: in index order == in key ranges" \
	"$(pg_q "$url" "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM telemetry t")" "$bigsum"
# two sorts that cost (a second index) in key ranges: every build of the
# big table without workers, sorting in a share of the last-level cache
# (FERRY_TUNE_LLC_KB plays its size: 16 MB over 2 builds, halved);
# without a cache size known, or with --maintenance-work-mem, as before
cp "$T/big.db" "$T/big2.db"
sqlite3 "$T/big2.db" "CREATE INDEX telemetry_state_ts ON telemetry (state, ts)"
mw="SELECT count(*) FILTER (WHERE sql LIKE 'SET LOCAL max_parallel_maintenance_workers TO 0; SET LOCAL maintenance_work_mem TO ''4096kB''; %'),
	count(*) FROM ferry.steps WHERE stage = 1"
url=$(new_db auto_big_costly)
FERRY_TUNE_CORES=2 FERRY_TUNE_LLC_KB=16384 t_run "$FERRY" copy -q --key-order --chunk-rows 100000 --json "sqlite://$T/big2.db" "$url"
assert_eq "two costly sorts: exit code" "$T_RC" 0
assert_contains "two costly sorts: cache-sized sorts without workers, and why" "$T_OUT" \
	"index builds up to 2 side by side, those of tables of 200000 rows or more without parallel workers, each sorting in 4096 kB (this host's last-level cache: 16384 kB): a big table has 2 sorts that cost"
assert_eq "two costly sorts: the 3 builds so" "$(pg_q "$url" "$mw")" "3|3"
assert_eq "two costly sorts: the rows of a serial copy" \
	"$(pg_q "$url" "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM telemetry t")" "$bigsum"
assert_eq "two costly sorts: the indexes" \
	"$(pg_q "$url" "SELECT count(*) FROM pg_indexes WHERE tablename = 'telemetry'")" 3
url=$(new_db auto_big_costly_mwm)
FERRY_TUNE_CORES=2 FERRY_TUNE_LLC_KB=16384 t_run "$FERRY" copy -q --maintenance-work-mem 64MB --key-order --chunk-rows 100000 --json "sqlite://$T/big2.db" "$url"
assert_contains "two costly sorts, --maintenance-work-mem: the server's defaults" "$T_OUT" \
	"index builds up to 2 side by side with the server's defaults: a table of 250000 rows has 3 to build"
assert_eq "two costly sorts, --maintenance-work-mem: with the server's workers" "$(pg_q "$url" "$nw")" "0|3"
# its key alone: one build, as the server runs it
cp "$T/big.db" "$T/big1.db"
sqlite3 "$T/big1.db" "SELECT 'DROP INDEX \"' || name || '\";' FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL" |
	sqlite3 "$T/big1.db"
url=$(new_db auto_big_one)
FERRY_TUNE_CORES=2 t_run "$FERRY" copy -q --chunk-rows 100000 --json "sqlite://$T/big1.db" "$url"
assert_eq "big table, one build: exit code" "$T_RC" 0
assert_contains "big table, one build: one at a time" "$T_OUT" \
	"index builds one at a time with the server's defaults: server on this host, 2 cores"
assert_eq "big table, one build: with the server's workers" "$(pg_q "$url" "$nw")" "0|1"
assert_contains "big table, one build: two streams" "$T_OUT" \
	"jobs 2: server on this host, 2 cores, a table of 250000 rows loaded in no index's order"
assert_eq "big table, one build, two streams == in index order" \
	"$(pg_q "$url" "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM telemetry t")" "$bigsum"
# in one chunk (the default 250000 rows), beside a small table's chunk: one
# stream, since its one chunk cannot go side by side
sqlite3 "$T/big1.db" "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO extra VALUES (1, 'a'), (2, 'b')"
url=$(new_db auto_big_one_chunk)
FERRY_TUNE_CORES=2 t_run "$FERRY" copy -q --json "sqlite://$T/big1.db" "$url"
assert_eq "big table in one chunk: exit code" "$T_RC" 0
assert_contains "big table in one chunk: one stream" "$T_OUT" \
	'jobs 1: server on this host, 2 cores: one stream'
# a third index to build, no cache size known: two builds side by side,
# each with the workers
cp "$T/big.db" "$T/big3.db"
sqlite3 "$T/big3.db" "CREATE INDEX ix_telemetry_ts ON telemetry (ts)"
url=$(new_db auto_big_three)
FERRY_TUNE_CORES=2 FERRY_TUNE_LLC_KB=0 t_run "$FERRY" copy -q --key-order --json "sqlite://$T/big3.db" "$url"
assert_eq "big table, three builds: exit code" "$T_RC" 0
assert_contains "big table, three builds: two side by side" "$T_OUT" \
	"index builds up to 2 side by side with the server's defaults: a table of 250000 rows has 3 to build"
assert_eq "big table, three builds: with the server's workers" "$(pg_q "$url" "$nw")" "0|3"

# a bigger machine: up to 4 streams (cores / 2), the ramp starting with
# one; small chunks so that there are many to share
like_serial "8 cores" auto_ramp FERRY_TUNE_CORES=8 -- --chunk-rows 2000 --batch-rows 500
assert_contains "8 cores: up to 4 streams" "$T_OUT" 'jobs up to 4: server on this host, 8 cores'
assert_contains "8 cores: the ramp says what it kept" "$T_OUT" 'streams: '

# the ramp's two ways, on short windows (FERRY_TUNE_RAMP="SECONDS GAIN"):
# any gain is enough (every stream kept), no gain is (the second stream
# finishes its chunk and stops)
like_serial "ramp to 4 streams" auto_all FERRY_TUNE_CORES=8 FERRY_TUNE_RAMP="0.02 0" -- \
	--chunk-rows 1000 --batch-rows 200
# (up to 4: the chunks may run out before the ramp has tried the last one)
check "ramp to 4 streams: kept every stream it tried" grep -Eq '[234] streams kept' <<<"$T_OUT"
assert_not_contains "ramp to 4 streams: gave none back" "$T_OUT" '1 stream kept'
like_serial "second stream given back" auto_back FERRY_TUNE_CORES=8 FERRY_TUNE_RAMP="0.02 1000" -- \
	--chunk-rows 1000 --batch-rows 200
assert_contains "second stream given back: says so" "$T_OUT" '1 stream kept'
assert_contains "second stream given back: after trying 2" "$T_OUT" ', 2: '

# killed at growing delays and resumed, with the ramp: the same target
url=$(new_db auto_kill)
export FERRY_TUNE_CORES=8
kill_at_delays "0.05 0.1 0.2 0.3 0.5 0.8 1.2 2 3 5" \
	"$FERRY" copy -q --chunk-rows 2000 --batch-rows 500 --rejects "$T/rej_kill" "$src" "$url"
check "killed at least twice" test "$KILLS" -ge 2
t_run "$FERRY" copy -q --chunk-rows 2000 --batch-rows 500 --rejects "$T/rej_kill" "$src" "$url"
unset FERRY_TUNE_CORES
assert_eq "after kills: exit code" "$T_RC" 3
assert_eq "killed and resumed (ramp) == serial copy" "$(sums "$url")" "$want"
assert_eq "after kills: every chunk done once" \
	"$(pg_q "$url" "SELECT count(*) FILTER (WHERE state <> 'done') FROM ferry.progress")" 0

# -j takes a number or auto
url=$(new_db auto_usage)
t_run "$FERRY" copy -q -j many "$src" "$url"
assert_eq "-j many: usage error" "$T_RC" 2
assert_contains "-j many: names the value" "$T_ERR" "invalid number 'many'"
t_run "$FERRY" copy --help
assert_contains "--help shows -j auto" "$T_OUT" '--jobs N|auto'

t_done
