# Thin front for the README's commands; the build system is CMake.
#   make          build build/ferry
#   make deps     install missing Debian packages (scripts/deps.txt)
#   make check    deps, build, then every test (ctest starts and stops the
#                 test servers itself; see tests/services)
#   make bench    build, then bench/run: the matrix of 5 generated table shapes,
#                 ferry's defaults vs -j 1/-j N, pgloader, sqlite3|psql and the
#                 server-side binary COPY + builds (BENCH_ARGS=..., BENCH_ROWS=...)
#   make bench-influx  build, then bench/influx: ferry copy influx:// vs the server-side
#                 limit, curl's raw export and a Python influxdb+psycopg2 script (BENCH_ARGS=...)
#   make check-tsan  the relay's tests and the InfluxDB reader's (threads) under ThreadSanitizer
#   make check-release  compile everything as a Release build (-O3), no tests run
#   make bench-relay   build, then bench/relay: ferry relay under Home Assistant
#                 and Telegraf write load vs each store's own ingest and a
#                 Python Flask dual-writer (BENCH_ARGS=..., sizes: BENCH_* env)
#   make demo     deps, build, then copy a Home-Assistant-like SQLite database
#                 into a private PostgreSQL (scripts/demo; stop: scripts/demo stop)
BUILD ?= build
JOBS ?= $(shell nproc)
# One test more than the 2 cores of the CI machine: most tests wait (for a
# relay's heartbeat, a lock, a server) more than they compute.  2026-12-07
# on a shared 2-core machine: make check's tests 421 s at -j 2, 278 s at
# -j 3 (the tests' summed time the same, 840 s and 832 s); check-tsan's
# 183 s and 136 s; check-asan's, whose ferry computes more, 471 s and 435 s.
CTEST_JOBS ?= 3

.PHONY: all ferry deps demo check check-asan check-release check-tsan fuzz clean bench bench-influx bench-relay

all: ferry

ferry:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

deps:
	scripts/install-deps

# Sequential on purpose: with make -j, prerequisites would race.
check:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory ferry
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# but for the two static checks (the sources' includes, the objects' symbol
# names), which make check ran and which no sanitizer changes.
check-asan:
	@test -f build-asan/CMakeCache.txt || cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j $(CTEST_JOBS) -E '^(layers|symbols)$$'

# Compile only, as CMake's Release (-O3 -DNDEBUG): GCC's flow analysis
# at -O3 sees more than at RelWithDebInfo's -O2, and -Werror turns a
# maybe-uninitialized it finds there into a failed build that make check
# never saw.  About 40 s of CPU; nothing runs.
check-release:
	@test -f build-release/CMakeCache.txt || cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release -j $(JOBS)

# The relay's tests (its threads: HTTP pool, committers, spool, replay,
# phase) and the InfluxDB source's (its read-ahead thread) under
# ThreadSanitizer; suppressions for uninstrumented libraries in
# tests/tsan.supp.
check-tsan:
	@test -f build-tsan/CMakeCache.txt || cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DFERRY_TSAN=ON
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" ctest --output-on-failure -j $(CTEST_JOBS) -R 'relay|services_|influx_source'

# Every libFuzzer harness for FUZZ_SECONDS (default 10) each.
FUZZ_SECONDS ?= 10
fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)

demo:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory ferry
	scripts/demo

bench:
	$(MAKE) --no-print-directory ferry
	bench/run $(BENCH_ARGS)

bench-influx:
	$(MAKE) --no-print-directory ferry
	bench/influx $(BENCH_ARGS)

bench-relay:
	$(MAKE) --no-print-directory ferry
	bench/relay $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)
