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
# CHECKPOINT), then the kernel's dirty pages; with BENCH_PROBE=1 it
# then takes a cpu_probe (below).
timed() {
	local name=$1 t0 t1 rc
	shift
	if [[ -n "${PGBASE:-}" ]]; then
		psql -XAtq -d "$PGBASE/postgres" -c CHECKPOINT >/dev/null 2>&1 || true
	fi
	sync
	[[ "$BENCH_PROBE" == 1 ]] && PROBES+=("$(cpu_probe)")
	t0=$(date +%s.%N)
	T0=$t0   # the start, for a caller that times a part of the run
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

# pg_warm_wal: have the PostgreSQL server of $PGBASE write about 1 GB of
# WAL and throw it away, before the first timed run.  A fresh cluster
# makes each 16 MB WAL file the first time it needs it, zero-filled (1 GB
# of zeros: 1.2 s of the writing backend's time here), and recycles the
# files after a checkpoint; so whichever run came first paid for them
# all.  It was always ferry: bench/influx's first round of ferry loaded
# in 14.0-15.6 s against 10.5-13.5 s in its later rounds (2026-12-05,
# three runs; pg_wal held 2 files before and 65 after).  BENCH_WARM_ROWS
# (default 4000000: the 1 GB) is for a smoke run of a few thousand rows
# (tests/integration/readme_examples.sh), which has no WAL worth warming.
pg_warm_wal() {
	[[ -n "${PGBASE:-}" ]] || return 0
	psql -XAtq -v ON_ERROR_STOP=1 -d "$PGBASE/postgres" \
		-c "CREATE TABLE ferry_bench_warm_wal AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, ${BENCH_WARM_ROWS:-4000000}) g" \
		-c "DROP TABLE ferry_bench_warm_wal" -c CHECKPOINT >/dev/null
}

# cpu_probe: the median seconds of 5 runs of one fixed loop of arithmetic
# (about 0.1 s each): how fast this machine runs the same work now.  On a
# virtual machine whose host is busy it moves a lot: 0.076-0.146 s for
# single runs within a minute, on an otherwise idle machine (2026-12-05).
# BENCH_PROBE_LOOP (default 3000000) is the loop's length, for a smoke run
# (readme_examples.sh: 14 probes of 5 loops were 8 s of its bench/run).
cpu_probe() {
	local i t0 t1
	for ((i = 0; i < 5; i++)); do
		t0=$(date +%s.%N)
		awk -v n="${BENCH_PROBE_LOOP:-3000000}" 'BEGIN { for (i = 0; i < n; i++) s += i * i }'
		t1=$(date +%s.%N)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
	done | sort -n | sed -n 3p
}

# When BENCH_PROBE is 1, timed runs cpu_probe before each run's clock
# starts and keeps its result in PROBES; probe_note says how much it
# moved over the runs, and probe_unsteady whether that voids the run.
BENCH_PROBE=${BENCH_PROBE:-0}
PROBES=()
PROBE_MAX_SPREAD=1.25

# probe_spread: the slowest probe over the fastest, e.g. 1.18
probe_spread() {
	printf '%s\n' "${PROBES[@]}" | awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 }
		END { if (NR && lo > 0) printf "%.2f", hi / lo; else print "?" }'
}

# probe_unsteady: true when the probes moved by more than PROBE_MAX_SPREAD
probe_unsteady() {
	((${#PROBES[@]} > 1)) || return 1
	awk -v s="$(probe_spread)" -v m="$PROBE_MAX_SPREAD" 'BEGIN { exit !(s > m) }'
}

# probe_note: one line for the record
probe_note() {
	((${#PROBES[@]} > 0)) || return 0
	local lo hi
	lo=$(printf '%s\n' "${PROBES[@]}" | sort -n | head -n 1)
	hi=$(printf '%s\n' "${PROBES[@]}" | sort -n | tail -n 1)
	printf -- '- machine speed: a fixed loop (bench/lib.sh cpu_probe) took %s-%s s before the %d timed runs, %sx apart (%s)\n' \
		"$lo" "$hi" "${#PROBES[@]}" "$(probe_spread)" \
		"$(probe_unsteady && echo "over ${PROBE_MAX_SPREAD}x: unsteady, the run is void" ||
			echo "at most ${PROBE_MAX_SPREAD}x: steady")"
}
