# bench/lib.sh - helpers the bench scripts share; sourced by bench/run,
# bench/influx and bench/influx_target after they set WORK (where each
# run's output goes) and, when they have a PostgreSQL, PGBASE
# (postgres://user@host:port, no database).

# timed NAME CMD...: run CMD under /usr/bin/time -v, its output in
# $WORK/NAME.{out,err,time}; sets SECS (wall clock) and RSS_MB (peak RSS
# of CMD, or of the largest process of a pipeline it runs); returns its
# status.  Before the clock starts, the previous run's writes are
# finished: the PostgreSQL server's checkpoint (a load of 1 GB of WAL
# leaves one running, and the next run paid for it: bench/run's wide
# shape took 8.9-12.6 s right after a load, 5.7-6.1 s after a
# CHECKPOINT), then the kernel's dirty pages.
timed() {
	local name=$1 t0 t1 rc
	shift
	if [[ -n "${PGBASE:-}" ]]; then
		psql -XAtq -d "$PGBASE/postgres" -c CHECKPOINT >/dev/null 2>&1 || true
	fi
	sync
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
	rc=$?
	t1=$(date +%s.%N)
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$WORK/$name.time" 2>/dev/null)
	[[ -n "$RSS_MB" ]] || RSS_MB="?"
	return $rc
}

# why NAME [STATUS]: one line saying why the run NAME failed
why() {
	local f line
	for f in "$WORK/$1.err" "$WORK/$1.out"; do
		line=$(grep -v -e '^\s*$' -e 'Command exited with non-zero status' "$f" 2>/dev/null |
			grep -i -m1 -e error -e fatal -e failed)
		[[ -n "$line" ]] || line=$(grep -v -e '^\s*$' -e 'Command exited with non-zero status' "$f" 2>/dev/null | tail -n 1)
		if [[ -n "$line" ]]; then
			printf '%s' "${line:0:90}" | tr '|' '/'
			return
		fi
	done
	printf 'exit status %s' "${2:-?}"
}

# iq DB QUERY: an InfluxQL query to $INFLUX (http://host:port), the JSON
# answer on stdout
iq() {
	curl -sS -f -G "$INFLUX/query" --data-urlencode "db=$1" --data-urlencode "q=$2"
}

# median V...: the middle one of the numbers V (of an even count, the
# lower of the two in the middle)
median() {
	printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# times_note SECS...: "median of A s, B s, ..." for more than one time,
# nothing for one
times_note() {
	[[ $# -gt 1 ]] && printf 'median of %s' "$(printf '%s s, ' "$@" | sed 's/, $//')"
	return 0
}
