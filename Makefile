# Kiln: the two commands a user needs are `make run` and `make test`.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DATA ?= ./kiln-data

.PHONY: all deps configure build run test bench bench-search bench-import bench-bundle clean format

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null; \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Builds (Release) and serves FHIR R4 at http://127.0.0.1:8080/fhir with data in ./kiln-data.
run: build
	@exec $(BUILD_DIR)/kiln serve --data $(DATA)

# Builds and runs every test (unit and integration); ends with "N passed, N failed".
test: build
	@scripts/run-tests.sh $(BUILD_DIR)

# Benchmarks (not a CI test): prints requests/s, latencies, RSS and ratios.
bench: build
	@bench/run.sh $(BUILD_DIR)

# Search benchmark over a ~1M-resource Synthea population (long: see bench/README.md).
bench-search: build
	@bench/search.sh $(BUILD_DIR)

# kiln import of a ~1M-resource population, then time to first serve (long: see bench/README.md).
bench-import: build
	@bench/import.sh $(BUILD_DIR)

# Transaction Bundles through HTTP: Synthea patient bundles, 100-entry bundles at 32 connections.
bench-bundle: build
	@bench/bundle.sh $(BUILD_DIR)

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR)
