# Thin front for the README's commands; the build system is CMake.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all ferry deps demo check clean bench

all: ferry

ferry:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

clean:
	rm -rf $(BUILD)
