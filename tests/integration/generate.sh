#!/usr/bin/env bash
# tests/integration/generate.sh — ferry generate: every format writes the
# requested rows, the same seed gives the same bytes, the sqlite schema is
# the documented one, line protocol parses, and a generated 200k-row
# database copies into PostgreSQL with matching counts.
source "$(dirname "$0")/lib.sh"
t_init generate

# ------------------------------------------------------------ row counts
for fmt in sqlite recorder lp csv; do
	t_run "$FERRY" generate -q --rows 20000 --seed 5 --format "$fmt" -o "a.$fmt"
	assert_eq "$fmt: exit code" "$T_RC" 0
	t_run "$FERRY" generate -q --rows 20000 --seed 5 --format "$fmt" -o "b.$fmt"
	assert_eq "$fmt: same seed, same sha256" "$(sha256sum <"a.$fmt")" "$(sha256sum <"b.$fmt")"
done
assert_eq "sqlite rows" "$(sqlite3 a.sqlite 'select count(*) from telemetry')" 20000
assert_eq "recorder states" "$(sqlite3 a.recorder 'select count(*) from states')" 20000
assert_eq "lp lines" "$(wc -l <a.lp)" 20000
assert_eq "csv lines (header + rows)" "$(wc -l <a.csv)" 20001

t_run "$FERRY" generate -q --rows 20000 --seed 6 --format lp -o c.lp
check "another seed, other bytes" test "$(sha256sum <a.lp)" != "$(sha256sum <c.lp)"

# stdout is the same stream as a file
"$FERRY" generate -q --rows 20000 --seed 5 --format csv -o - >stdout.csv
assert_eq "-o - writes the same csv" "$(sha256sum <stdout.csv)" "$(sha256sum <a.csv)"

for p in high-frequency periodic burst sparse mixed; do
	t_run "$FERRY" generate -q --rows 5000 --pattern "$p" --format csv -o "$p.csv"
	assert_eq "pattern $p: rows" "$(($(wc -l <"$p.csv") - 1))" 5000
done

# --duration stops at start + duration
t_run "$FERRY" generate -q --duration 2h --pattern periodic --entities 10 \
	--start 2024-06-01T00:00:00Z --format csv -o dur.csv
assert_eq "duration: exit code" "$T_RC" 0
assert_eq "duration: last row before 02:00" \
	"$(tail -n +2 dur.csv | cut -d, -f1 | sort | tail -1 | cut -c1-13)" "2024-06-01T01"
n=$(($(wc -l <dur.csv) - 1))
# 10 entities every 30-60 s for 2 h: 1200..2400 rows
check "duration: row count $n plausible" test "$n" -ge 1150 -a "$n" -le 2450

# ------------------------------------------------------------ sqlite schema
assert_eq "sqlite schema" "$(sqlite3 a.sqlite .schema)" \
'CREATE TABLE IF NOT EXISTS "telemetry" (id INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, ts REAL NOT NULL, value REAL, state TEXT, attributes TEXT);
CREATE INDEX "telemetry_entity_id_ts" ON "telemetry" (entity_id, ts);'
assert_eq "sqlite: on/off rows have a state and no value" \
	"$(sqlite3 a.sqlite "select count(*) from telemetry where (state is null) = (value is null) or state not in ('on','off')")" 0
assert_eq "sqlite: attributes are JSON with a friendly_name" \
	"$(sqlite3 a.sqlite "select count(*) from telemetry where json_extract(attributes, '$.friendly_name') is null")" 0
assert_eq "sqlite: per-entity timestamps strictly increase" \
	"$(sqlite3 a.sqlite 'select count(*) from (select ts - lag(ts) over (partition by entity_id order by id) d from telemetry) where d <= 0')" 0
assert_eq "sqlite: units" \
	"$(sqlite3 a.sqlite "select group_concat(u, ' ') from (select distinct json_extract(attributes, '$.unit_of_measurement') u from telemetry where u is not null order by u)")" \
	"% W °C"
t_run "$FERRY" generate -q --rows 10 --table readings -o t.db
assert_eq "--table names the table" "$(sqlite3 t.db 'select count(*) from readings')" 10
t_run "$FERRY" generate -q --rows 10 --table 'bad name' -o t2.db
assert_eq "--table with a bad name: usage error" "$T_RC" 2
check "--table with a bad name leaves no file" test ! -e t2.db

# ------------------------------------------------------------ recorder
assert_eq "recorder: tables" \
	"$(sqlite3 a.recorder "select group_concat(name, ' ') from (select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name)")" \
	"recorder_runs schema_changes state_attributes states states_meta statistics statistics_meta"
assert_eq "recorder: no dangling references" "$(sqlite3 a.recorder 'PRAGMA foreign_key_check' | wc -l)" 0
assert_eq "recorder: old_state_id chains each entity" \
	"$(sqlite3 a.recorder 'select count(*) from states s join states o on o.state_id = s.old_state_id where o.metadata_id != s.metadata_id or o.last_updated_ts >= s.last_updated_ts')" 0
assert_eq "recorder: one first state per entity" \
	"$(sqlite3 a.recorder 'select count(*) = count(distinct metadata_id) from states where old_state_id is null')" 1
check "recorder: hourly statistics" test "$(sqlite3 a.recorder 'select count(*) from statistics')" -gt 0

# ------------------------------------------------------------ line protocol
cat >lpcheck.py <<'PY'
import re, sys
# measurement(,tag=value)* field=value(,field=value)* timestamp
esc = r'(?:[^\\, =]|\\[\\, =])+'
line_re = re.compile(r'^(?P<m>(?:[^\\, ]|\\[, ])+)(?P<tags>(?:,' + esc + '=' + esc + ')*) '
                     r'(?P<fields>.+) (?P<ts>\d{19})$')
field_re = re.compile(r'(' + esc + r')=("(?:[^"\\]|\\.)*"|-?\d+\.\d+)(,|$)')
n = 0
units = {'W', '°C', '%'}
prev = {}
seen_escape = False
for line in open(sys.argv[1], encoding='utf-8'):
    n += 1
    m = line_re.match(line.rstrip('\n'))
    if not m:
        sys.exit(f'line {n} does not parse: {line!r}')
    tags = dict(re.findall(r',(' + esc + ')=(' + esc + ')', m['tags']))
    if list(tags) != ['domain', 'entity_id', 'friendly_name']:
        sys.exit(f'line {n}: tags {list(tags)}')
    if '\\,' in tags['friendly_name'] or '\\=' in tags['friendly_name']:
        seen_escape = True
    fields, pos, f = {}, 0, m['fields']
    while pos < len(f):
        fm = field_re.match(f, pos)
        if not fm:
            sys.exit(f'line {n}: fields do not parse at {f[pos:]!r}')
        fields[fm[1]] = fm[2]
        pos = fm.end()
    if 'value' not in fields or fields['value'].startswith('"'):
        sys.exit(f'line {n}: no float value field')
    meas = m['m']
    if meas not in units and meas != tags['domain'] + '.' + tags['entity_id']:
        sys.exit(f'line {n}: measurement {meas!r} is neither a unit nor the entity id')
    if meas not in units and fields.get('state') not in ('"on"', '"off"'):
        sys.exit(f'line {n}: on/off entity without state field')
    key = (tags['domain'], tags['entity_id'])
    ts = int(m['ts'])
    if key in prev and ts <= prev[key]:
        sys.exit(f'line {n}: time goes back for {key}')
    prev[key] = ts
if not seen_escape:
    sys.exit('no friendly_name needed escaping (expected "Loft, Upstairs" / "Rack U=42")')
print(n, len(prev))
PY
t_run python3 lpcheck.py a.lp
assert_eq "lp parses (lines, entities)" "$T_OUT" "20000 50"
assert_contains "lp escapes spaces in tags" "$(head -c 200000 a.lp)" 'friendly_name=Living\ Room\ Power'

# ------------------------------------------------------------ usage errors
t_run "$FERRY" generate --rows 10
assert_eq "no -o: usage error" "$T_RC" 2
t_run "$FERRY" generate --rows 10 --duration 1d -o x.db
assert_eq "--rows and --duration: usage error" "$T_RC" 2
t_run "$FERRY" generate --pattern nope -o x.db
assert_eq "unknown pattern: usage error" "$T_RC" 2
t_run "$FERRY" generate --format sqlite -o -
assert_eq "sqlite to stdout: usage error" "$T_RC" 2
assert_contains "sqlite to stdout: says why" "$T_ERR" "cannot write format 'sqlite' to stdout"
t_run "$FERRY" generate --help
assert_contains "--help" "$T_OUT" "usage: ferry generate"

# ------------------------------------------------------------ copy to PostgreSQL
t_run "$FERRY" generate -q --rows 200000 --seed 11 -o big.db
assert_eq "200k generate: exit code" "$T_RC" 0
url=$(new_db generate_copy)
t_run "$FERRY" copy -q "sqlite://$T/big.db" "$url"
assert_eq "copy: exit code" "$T_RC" 0
assert_eq "copy: rows" "$(pg_q "$url" 'select count(*) from telemetry')" 200000
assert_eq "copy: on/off rows" "$(pg_q "$url" "select count(*) from telemetry where state in ('on','off')")" \
	"$(sqlite3 big.db "select count(*) from telemetry where state in ('on','off')")"
assert_eq "copy: value sum" "$(pg_q "$url" 'select round(sum(value)::numeric, 1) from telemetry')" \
	"$(sqlite3 big.db 'select printf("%.1f", sum(value)) from telemetry')"

t_done
