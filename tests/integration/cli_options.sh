#!/usr/bin/env bash
# cli_options.sh - the promises every command makes about its options and
# exit codes, as one table of cases run against the real servers (README,
# "Exit codes" and "Options every command takes"):
#   - a usage or configuration error exits 2 in every command: unknown
#     option, missing value, unknown URL scheme, an endpoint that is no URL,
#     a bad map or recipe file, a --include/--exclude that matches nothing;
#   - -q and -v work before and after the command, and -q leaves stdout
#     empty when all went well;
#   - --opt=value works for every option taking a value;
#   - --json prints exactly one JSON document on stdout with "exit_code"
#     equal to the exit code, and "error" when it failed, also for usage
#     errors and failures.
# Each case is a line: WANT_RC OUT ARGS...  where OUT is
#   json   stdout is one JSON document whose exit_code is WANT_RC (and has
#          "error" when WANT_RC is 1 or 2)
#   empty  stdout is empty
#   any    stdout is not checked
#   ARGS are shell words (variables expanded) given to ferry.
source "$(dirname "$0")/lib.sh"
t_init cli_options

# ---- fixtures -----------------------------------------------------------
sqlite3 src.db <<'EOF'
CREATE TABLE states(state_id INTEGER PRIMARY KEY, entity_id TEXT, state TEXT);
CREATE TABLE events(event_id INTEGER PRIMARY KEY, event_type TEXT);
INSERT INTO states VALUES (1, 'sensor.a', '1.5'), (2, 'sensor.b', 'on');
INSERT INTO events VALUES (1, 'state_changed');
EOF
SRC="sqlite://$T/src.db"
# a database per copy that succeeds, so that no run resumes another's job
PG1=$(new_db cli_opts1)
PG2=$(new_db cli_opts2)
PG3=$(new_db cli_opts3)
PG4=$(new_db cli_opts4)
"$FERRY" copy --progress none "$SRC" "$PG4" >/dev/null   # what verify checks
BAD_PG="postgres://postgres@127.0.0.1:1/nope?connect_timeout=2"
PG5=$(new_db cli_opts5)                                    # differs from src
"$FERRY" copy --progress none "$SRC" "$PG5" >/dev/null
pg_q "$PG5" "DELETE FROM states WHERE state_id = 2"

printf 'm,entity_id=sensor.a value=1 1700000000000000000\n' > points.lp
printf 'target: [\n' > broken.yaml               # not YAML
printf 'target: t\n' > nocolumns.yaml             # YAML, not a map

mkdir -p mig plain
printf -- '-- migrate:up\nCREATE TABLE t(a int);\n-- migrate:down\nDROP TABLE t;\n' > mig/0001_t.sql
mkdir -p badmig
printf -- '-- migrate:up\nSELECT no_such_function();\n-- migrate:down\nSELECT 1;\n' > badmig/0001_bad.sql
printf 'requests\n' > plain/requirements.txt
printf 'name: [\n' > broken-recipe.yaml
DB="sqlite:$T/app.db"

# ---- the cases ------------------------------------------------------------
cases=$(cat <<'EOF'
# unknown options, in every command
2 any   copy --bogus $SRC $PG1
2 any   copy -x $SRC $PG1
2 any   verify --bogus $SRC $PG4
2 any   generate --bogus -o x.db
2 any   rewrite --bogus --recipe asyncio-mqtt-to-aiomqtt plain
2 any   migrate status --bogus --dir mig
2 any   migrate up --bogus --dir mig
2 any   migrate new x --bogus --dir mig
2 any   -x copy $SRC $PG1
2 any   nosuchcommand
2 any   migrate nosuchcommand
2 any   copy --json=yes $SRC $PG1
# a missing value or argument
2 any   copy --schema
2 any   copy -j
2 any   copy $SRC
2 any   verify --include
2 any   generate -o
2 any   rewrite --recipe
2 any   rewrite --recipe asyncio-mqtt-to-aiomqtt
2 any   migrate up --db
2 any   migrate new
# configuration: endpoints, maps, recipes
2 any   copy nosuch://x $PG1
2 any   copy $SRC nosuch://x
2 any   copy not-a-url $PG1
2 any   copy sqlite: $PG1
2 any   verify nosuch://x $PG4
2 any   migrate status --db nosuch://x --dir mig
2 any   copy --map broken.yaml lp://$T/points.lp $PG1
2 any   copy --map nocolumns.yaml lp://$T/points.lp $PG1
2 any   copy --map missing.yaml lp://$T/points.lp $PG1
2 any   verify --map broken.yaml lp://$T/points.lp $PG4
2 any   copy --layout sideways lp://$T/points.lp $PG1
2 any   rewrite --recipe $T/missing.yaml plain
2 any   rewrite --recipe $T/broken-recipe.yaml plain
2 any   migrate status --dir nosuchdir
# a filter that matches nothing compares and copies nothing: usage error
2 any   copy --include staets $SRC $PG1
2 any   copy --exclude evnts $SRC $PG1
2 any   verify --include staets $SRC $PG4
2 any   verify --exclude 'tmp_*' $SRC $PG4
2 json  verify --json --include=staets $SRC $PG4
2 json  copy --include staets --json $SRC $PG1
# --json: one document, with exit_code, on success and on every failure
2 json  copy --json --bogus $SRC $PG1
2 json  copy --bogus --json $SRC $PG1
2 json  copy --json --schema
2 json  copy --json nosuch://x $PG1
1 json  copy --json $SRC $BAD_PG
2 json  verify --json nosuch://x $PG4
2 json  verify --json $SRC
0 json  verify --json $SRC $PG4
1 json  verify --json $SRC $PG5
1 json  migrate up --json --dir badmig --db sqlite:$T/bad.db
0 json  generate --json --rows=5 -o gen.db
2 json  generate --json --rows=5 -o -
2 json  generate --json --bogus
1 json  generate --json --rows=5 -o $T/src.db/gen.db
0 json  rewrite --json --recipe asyncio-mqtt-to-aiomqtt plain
1 json  rewrite --json --dry-run --recipe asyncio-mqtt-to-aiomqtt $FERRY_SRC/tests/data/rewrite/requirements-only
2 json  rewrite --json --recipe $T/missing.yaml plain
2 json  rewrite --json plain
0 json  migrate new --json y --dir newmig
0 json  migrate status --json --dir mig --db $DB
0 json  migrate plan --json --dir mig --db $DB
2 json  migrate status --json --db nosuch://x --dir mig
2 json  migrate up --json --bogus
2 json  migrate nosuchcommand --json
2 json  migrate up --json --dir nosuchdir
2 json  nosuchcommand --json
2 json  --json -x copy
0 json  --json generate --rows=5 -o gen2.db
# --opt=value for options that take a value
0 any   copy --include=states --schema=s1 --jobs=1 --batch-rows=10 --progress=none $SRC $PG1
0 any   verify --include=states --chunk-rows=1 --jobs=1 --progress=none $SRC $PG4
0 any   generate --rows=5 --format=csv --seed=3 --output=gen.csv
0 any   rewrite --recipe=asyncio-mqtt-to-aiomqtt --test-timeout=5 --dry-run plain
0 any   migrate status --dir=mig --db=$DB --lock-timeout=5
# -q and -v before and after the command; -q: nothing on stdout
0 empty -q copy --progress none $SRC $PG2
0 empty copy -q --include states $SRC $PG3
0 empty -q verify $SRC $PG4
0 empty verify -q $SRC $PG4
0 empty -q generate --rows 5 -o q.db
0 empty generate -q --rows 5 -o q.db
0 empty -q rewrite --recipe asyncio-mqtt-to-aiomqtt plain
0 empty rewrite -q --recipe asyncio-mqtt-to-aiomqtt plain
0 empty -q migrate up --dir mig --db $DB
0 empty migrate down -q --dir mig --db $DB
0 empty migrate up --dir mig --db $DB --quiet
0 empty -q migrate status --dir mig --db $DB
0 empty migrate -q status --dir mig --db $DB
2 json  migrate --json nosuchcommand
0 any   copy -v --include events --job ev --progress none $SRC $PG3
0 any   verify -v $SRC $PG4
0 any   migrate status -v --dir mig --db $DB
0 any   generate -v --rows 5 -o v.db
0 any   rewrite -v --recipe asyncio-mqtt-to-aiomqtt plain
EOF
)

is_json() {  # stdin is one JSON object with exit_code == $1 ("error" if 1 or 2)
	python3 -c '
import json, sys
d = json.load(sys.stdin)
want = int(sys.argv[1])
assert isinstance(d, dict), "not an object"
assert d.get("exit_code") == want, "exit_code %r, want %d" % (d.get("exit_code"), want)
assert want not in (1, 2) or isinstance(d.get("error"), str), "no error member"
' "$1"
}

n=0
while read -r want out rest; do
	[[ -z "$want" || "$want" == \#* ]] && continue
	n=$((n + 1))
	eval "args=($rest)"
	t_run "$FERRY" "${args[@]}"
	desc="ferry $rest"
	if [[ "$T_RC" != "$want" ]]; then
		fail "$desc: exit $T_RC, want $want"
		_t_say "    stdout: ${T_OUT:0:400}"
		_t_say "    stderr: ${T_ERR:0:400}"
		continue
	fi
	case $out in
	json)
		if printf '%s' "$T_OUT" | is_json "$want" 2>"$T/json.err"; then
			pass "$desc: exit $want, JSON"
		else
			fail "$desc: exit $want but stdout is not its JSON document: $(tail -1 "$T/json.err")"
			_t_say "    stdout: ${T_OUT:0:400}"
		fi ;;
	empty)
		if [[ -z "$T_OUT" ]]; then
			pass "$desc: exit $want, quiet"
		else
			fail "$desc: -q but stdout has: ${T_OUT:0:200}"
		fi ;;
	*)
		pass "$desc: exit $want" ;;
	esac
done <<< "$cases"

# usage errors say what to fix: the pattern, and what tables there are
t_run "$FERRY" verify --include staets "$SRC" "$PG4"
assert_contains "no-match names the pattern" "$T_ERR" "--include 'staets' matches no table"
assert_contains "no-match lists the tables" "$T_ERR" "states, events"
t_run "$FERRY" copy --bogus "$SRC" "$PG1"
assert_contains "unknown option named" "$T_ERR" "unknown option '--bogus'"
# the README's example of a usage error as JSON
t_run "$FERRY" copy --json --bogus "$SRC" "$PG1"
assert_eq "usage error document" "$(printf '%s' "$T_OUT" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')" \
	'{"command": "copy", "error": "unknown option '"'--bogus'"'", "exit_code": 2}'
# nothing was copied by the cases that failed
assert_eq "no table from failed copies" \
	"$(pg_q "$PG1" "SELECT count(*) FROM pg_tables WHERE tablename IN ('states', 'events') AND schemaname = 'public'")" 0
assert_eq "--opt=value copy wrote its schema" "$(pg_q "$PG1" 'SELECT count(*) FROM s1.states')" 2
echo "# $n cases"
t_done
