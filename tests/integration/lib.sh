# shellcheck shell=bash disable=SC2034
# (SC2034: T_RC, T_OUT, T_ERR, T are for the sourcing test)
# tests/integration/lib.sh — sourced by the shell integration tests.
#
# A test looks like:
#
#   source "$(dirname "$0")/lib.sh"
#   t_init copy_basic                 # strict mode, env, fresh $T, cd "$T"
#   url=$(new_db copy_basic)          # a fresh empty PostgreSQL database
#   t_run "$FERRY" copy "sqlite://$T/in.db" "$url"
#   assert_eq "exit code" "$T_RC" 0
#   assert_eq "rows" "$(pg_q "$url" 'select count(*) from states')" 60000
#   check "table exists" pg_q "$url" 'select 1 from states limit 1'
#   t_done                            # prints "N passed, M failed", exits 0/1
#
# The servers were started by tests/services (the ctest "services" fixture);
# their addresses come from $FERRY_SERVICES_ENV (see tests/services for keys).
# A test may run alone: `cd build && ctest -R sh_NAME` starts the servers.
#
# Functions:
#   t_init NAME                 strict mode; source $FERRY_SERVICES_ENV (exported);
#                               T=$FERRY_TEST_TMP/NAME emptied and made; cd "$T";
#                               export FERRY=$FERRY_BIN
#   t_skip REASON               print why and exit 77 (ctest reports "Skipped")
#   t_need influx|mqtt          t_skip unless that server was started
#   new_db NAME                 create database NAME_<random>, echo its URL
#   pg_q URL SQL                run SQL with psql -XAtq -v ON_ERROR_STOP=1, echo output
#   pg_wait URL SQL             poll SQL every 0.1 s until it returns t (max 60 s)
#   pg_hold URL APP SQL         a psql session (application_name APP) that runs SQL
#                               (a BEGIN and what takes a lock) and then sits idle
#                               in that transaction, as a user's forgotten psql
#                               does, until pg_hold_end; HOLD_PID is its backend
#   pg_hold_end [SQL]           send SQL (default COMMIT) and close that session
#   wait_text FILE TEXT         poll FILE every 0.1 s until it holds TEXT (max 120 s)
#   t_run CMD...                run CMD without aborting: T_RC (exit code),
#                               T_OUT / T_ERR (stdout / stderr text), also
#                               kept in $T/last.out and $T/last.err
#   check DESC CMD...           pass if CMD exits 0, else fail (its output is shown)
#   assert_eq DESC GOT WANT     pass if GOT == WANT, else fail showing both
#   assert_contains DESC TEXT NEEDLE   pass if NEEDLE occurs in TEXT
#   pass DESC / fail DESC       count a result by hand
#   t_own_pg                    start a private PostgreSQL for this test alone
#                               (for tests that stop or kill it: never stop the
#                               shared one, other tests run against it at the
#                               same time); sets OWN_SVC (its tests/services DIR),
#                               OWN_PG_URL, OWN_PG_PORT; stopped when the test ends.
#                               Kill it: tests/services stop-pg "$OWN_SVC" immediate
#   bridge_content URL          md5 of an inverter-bridge target (examples/maps)
#   t_done                      print "N passed, M failed", exit 1 if any failed
#                               (or if nothing was checked)
# An unexpected error (set -e) ends the test as one more failure, with the line.

T_PASS=0
T_FAIL=0
T_NAME=""
T_DONE=0

_t_say() { printf '%s\n' "$*"; }

pass() {
	T_PASS=$((T_PASS + 1))
	_t_say "ok   - $1"
}

fail() {
	T_FAIL=$((T_FAIL + 1))
	_t_say "FAIL - $1"
}

T_OWN_SVC=()

_t_cleanup() {
	local d
	for d in "${T_OWN_SVC[@]}"; do
		"$FERRY_SRC/tests/services" stop "$d" || true
	done
	T_OWN_SVC=()
}

_t_on_exit() {
	local rc=$?
	_t_cleanup
	if [[ $T_DONE -eq 0 && $rc -ne 77 ]]; then
		T_FAIL=$((T_FAIL + 1))
		_t_say "FAIL - test '$T_NAME' stopped early (exit $rc) before t_done; see the error above"
		_t_say "$T_PASS passed, $T_FAIL failed"
		exit 1
	fi
}

_t_on_err() {
	local rc=$? line=$1 cmd=$2 i where
	where="${BASH_SOURCE[1]:-?}:$line"
	# the call chain, innermost first, so a failure inside a helper names
	# the test line that called it
	for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
		where+=" <- ${BASH_SOURCE[i + 1]:-?}:${BASH_LINENO[i]}"
	done
	_t_say "error: '$cmd' exited $rc at $where" >&2
}

t_init() {
	set -euo pipefail
	T_NAME=${1:?t_init needs a test name}
	trap _t_on_exit EXIT
	trap '_t_on_err "$LINENO" "$BASH_COMMAND"' ERR
	set -o errtrace
	if [[ -z "${FERRY_SERVICES_ENV:-}" || ! -f "$FERRY_SERVICES_ENV" ]]; then
		_t_say "error: FERRY_SERVICES_ENV ('${FERRY_SERVICES_ENV:-}') is not a file;" \
			"run through ctest (which starts tests/services), or" \
			"'tests/services start DIR' and export FERRY_SERVICES_ENV=DIR/env" >&2
		exit 1
	fi
	set -a
	# shellcheck disable=SC1090
	source "$FERRY_SERVICES_ENV"
	set +a
	: "${FERRY_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
	: "${FERRY_BIN:=$FERRY_SRC/build/ferry}"
	: "${FERRY_TEST_TMP:=$FERRY_SRC/build/test-tmp}"
	export FERRY_SRC FERRY_BIN FERRY_TEST_TMP
	export FERRY="$FERRY_BIN"
	export PGCONNECT_TIMEOUT=10
	# Debian's programs first, the ones scripts/deps.txt installs: a
	# python3 of pyenv ahead of them in PATH is another interpreter (not
	# the one with python3-influxdb) and took 0.39 s a call through its
	# shim (Debian's 0.035 s); psql through Debian's perl wrapper 0.086 s
	# a call, PostgreSQL's own 0.041 s
	PATH="${FERRY_PG_BIN:+$FERRY_PG_BIN:}/usr/bin:/bin:$PATH"
	export PATH
	T="$FERRY_TEST_TMP/$T_NAME"
	rm -rf -- "$T"
	mkdir -p -- "$T"
	export T
	cd "$T"
	_t_say "# $T_NAME (tmp $T)"
}

t_skip() {
	_t_say "skipped: ${1:-no reason given}"
	T_DONE=1
	exit 77
}

t_need() {
	case "$1" in
	influx | influxdb) [[ -n "${FERRY_INFLUX_URL:-}" ]] || t_skip "InfluxDB was not started by tests/services" ;;
	mqtt | mosquitto) [[ -n "${FERRY_MQTT_PORT:-}" ]] || t_skip "Mosquitto was not started by tests/services" ;;
	pg | postgres) [[ -n "${FERRY_PG_URL:-}" ]] || t_skip "PostgreSQL was not started by tests/services" ;;
	*) _t_say "error: t_need: unknown service '$1'" >&2; return 1 ;;
	esac
}

# new_db NAME: database names are lower-case [a-z0-9_], at most 63 bytes.
new_db() {
	local base db rnd
	# shellcheck disable=SC2018,SC2019 # ASCII on purpose: a database name
	base=$(printf '%s' "${1:?new_db needs a name}" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' '_')
	base=${base:0:40}
	rnd=$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')
	db="${base}_${rnd}"
	psql -XAtq -v ON_ERROR_STOP=1 -d "$FERRY_PG_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
	printf 'postgres://%s@%s:%s/%s\n' "$FERRY_PG_USER" "$FERRY_PG_HOST" "$FERRY_PG_PORT" "$db"
}

pg_wait() {
	local url=${1:?pg_wait needs a URL} sql=${2:?pg_wait needs SQL} i
	for ((i = 0; i < 600; i++)); do
		[[ "$(pg_q "$url" "$sql" 2>/dev/null || true)" == t ]] && return 0
		sleep 0.1
	done
	return 1
}

# pg_watch_copy URL: start a watcher in the background (its pid in
# WATCH_PID) that ends, status 0, as soon as a COPY runs in URL's database,
# or status 1 after 60 s; it returns once the watcher is polling, so start
# the client after it.  It polls inside the server every 5 ms: polling
# from here, a psql every 0.1 s, missed the whole COPY phase of a short
# copy on a loaded machine.
pg_watch_copy() {
	local url=${1:?pg_watch_copy needs a URL}
	PGAPPNAME=ferry-test-watch psql -XAtq -v ON_ERROR_STOP=1 -d "$url" -c "DO \$\$
BEGIN
	FOR i IN 1..12000 LOOP
		PERFORM pg_stat_clear_snapshot();
		IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			   AND state = 'active' AND query LIKE 'COPY %') THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	RAISE EXCEPTION 'no COPY ran in 60 s';
END \$\$" >/dev/null 2>&1 &
	WATCH_PID=$!
	pg_wait "$url" "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'ferry-test-watch' AND state = 'active'"
}

# pg_hold URL APP SQL: psql reads its statements from a fifo this shell
# keeps open, so the session stays (and its transaction with it) until
# pg_hold_end; a test that stops early closes the fifo when its shell
# exits, and psql ends with it, releasing the lock.
pg_hold() {
	local url=${1:?pg_hold needs a URL} app=${2:?pg_hold needs an application name}
	local sql=${3:?pg_hold needs SQL}
	rm -f "$T/hold.fifo"
	mkfifo "$T/hold.fifo"
	PGAPPNAME=$app psql -XAtq -v ON_ERROR_STOP=1 -d "$url" <"$T/hold.fifo" >"$T/hold.out" 2>&1 &
	HOLD_PSQL=$!
	exec {HOLD_FD}>"$T/hold.fifo"
	printf '%s\n' "$sql" >&"$HOLD_FD"
	pg_wait "$url" "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND application_name = '$app' AND state = 'idle in transaction'"
	HOLD_PID=$(pg_q "$url" "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = '$app'")
}

pg_hold_end() {
	# \q: a command started meanwhile holds the fifo open too, so psql
	# would see no end of its input
	printf '%s\n\\q\n' "${1:-COMMIT;}" >&"$HOLD_FD"
	exec {HOLD_FD}>&-
	wait "$HOLD_PSQL" || true
	rm -f "$T/hold.fifo"
}

wait_text() {
	local file=${1:?wait_text needs a file} text=${2:?wait_text needs the text} i
	for ((i = 0; i < 1200; i++)); do
		grep -qF -- "$text" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

pg_q() {
	local url=${1:?pg_q needs a URL} sql=${2:?pg_q needs SQL}
	psql -XAtq -v ON_ERROR_STOP=1 -d "$url" -f - <<<"$sql"
}

t_run() {
	T_RC=0
	"$@" >"$T/last.out" 2>"$T/last.err" || T_RC=$?
	T_OUT=$(cat "$T/last.out")
	T_ERR=$(cat "$T/last.err")
	# Non-empty output is ignored by these assignments' exit status on purpose.
	return 0
}

_t_show() {
	# indent a (possibly multi-line, possibly long) value for a failure report
	local label=$1 value=$2
	if [[ ${#value} -gt 4000 ]]; then
		value="${value:0:4000}... (${#value} chars)"
	fi
	if [[ "$value" == *$'\n'* ]]; then
		_t_say "       $label:"
		printf '%s\n' "$value" | sed 's/^/         | /'
	else
		_t_say "       $label: '$value'"
	fi
}

# bridge_content URL: the content of the inverter bridge's new schema
# (examples/maps/inverter-bridge) through its natural keys, as one md5
# (ids are the target's own)
bridge_content() {
	pg_q "$1" "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		SELECT i.serial || ',' || d.time || ',' || d.power_w || ',' || d.energy_kwh AS x
		FROM inverter_data d JOIN inverters i ON i.id = d.inverter_id
		UNION ALL SELECT i.serial || ',' || p.port || ',' || p.time || ',' || p.power_w || ',' || p.voltage_v
		FROM port_data p JOIN inverters i ON i.id = p.inverter_id
		UNION ALL SELECT serial || ',' || first_seen || ',' || model FROM inverters
		UNION ALL SELECT key || '=' || value FROM config) q"
}

# kill_at_delays "DELAYS" CMD...: start CMD in the background and kill -9
# it after each delay in turn, until a run ends by itself; KILLS counts
# the kills.  The last run's output is in $T/kill.out.
kill_at_delays() {
	local delays=$1 delay pid
	shift
	KILLS=0
	for delay in $delays; do
		"$@" >"$T/kill.out" 2>&1 &
		pid=$!
		sleep "$delay"
		if kill -9 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			KILLS=$((KILLS + 1))
		else
			wait "$pid" || true
			break
		fi
	done
	echo "killed $KILLS times"
}

check() {
	local desc=${1:?check needs a description}
	shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if [[ $rc -eq 0 ]]; then
		pass "$desc"
	else
		fail "$desc"
		_t_say "       command: $*"
		_t_say "       exit:    $rc"
		[[ -z "$out" ]] || _t_show output "$out"
	fi
	return 0
}

assert_eq() {
	local desc=${1:?assert_eq needs a description} got=$2 want=$3
	if [[ "$got" == "$want" ]]; then
		pass "$desc"
	else
		fail "$desc"
		_t_show got "$got"
		_t_show want "$want"
		# an exit status compared: what the command said on stderr
		if [[ "$got" == "${T_RC:-}" && -n "${T_ERR:-}" ]]; then
			_t_show "its stderr" "$T_ERR"
		fi
	fi
	return 0
}

assert_contains() {
	local desc=${1:?assert_contains needs a description} text=$2 needle=$3
	if [[ "$text" == *"$needle"* ]]; then
		pass "$desc"
	else
		fail "$desc"
		_t_show "text" "$text"
		_t_show "missing" "$needle"
	fi
	return 0
}

assert_not_contains() {
	local desc=${1:?assert_not_contains needs a description} text=$2 needle=$3
	if [[ "$text" != *"$needle"* ]]; then
		pass "$desc"
	else
		fail "$desc"
		_t_show "text" "$text"
		_t_show "unexpected" "$needle"
	fi
	return 0
}

t_own_pg() {
	local dir="$T/own-pg"
	if ! "$FERRY_SRC/tests/services" start "$dir" pg >"$T/own-pg.log" 2>&1; then
		cat "$T/own-pg.log" >&2
		_t_say "error: t_own_pg: could not start a private PostgreSQL" >&2
		return 1
	fi
	T_OWN_SVC+=("$dir")
	OWN_SVC=$dir
	OWN_PG_URL=$(sed -n 's/^FERRY_PG_URL=//p' "$dir/env")
	OWN_PG_PORT=$(sed -n 's/^FERRY_PG_PORT=//p' "$dir/env")
	export OWN_SVC OWN_PG_URL OWN_PG_PORT
}

t_done() {
	T_DONE=1
	trap - EXIT
	_t_cleanup
	if [[ $((T_PASS + T_FAIL)) -eq 0 ]]; then
		_t_say "FAIL - test '$T_NAME' checked nothing"
		T_FAIL=1
	fi
	_t_say "$T_PASS passed, $T_FAIL failed"
	[[ $T_FAIL -eq 0 ]] || exit 1
	exit 0
}
