# The two commands of the Quick start, and a few helpers around them.
#   make demo   install, build, start the sandboxes and the hub, print the portal address
#   make test   install, build, run every test through ctest
#   make test SANITIZE=1   the same with AddressSanitizer and UndefinedBehaviorSanitizer
#   make acceptance-runall  the by-hand acceptance of "Run all in order" on the full demo seeds
BUILD ?= build
JOBS ?= 2
ifeq ($(SANITIZE),1)
BUILD := build-sanitize
CMAKE_FLAGS += -DPLEXUS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
endif

.PHONY: all deps build test demo bench acceptance-runall clean format

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

demo: build
	@scripts/demo $(BUILD)

bench: build
	@echo "benchmarks are run by hand; see docs/performance.md"

# "Run all in order" on a fresh demo with the demo's full seeds, in Chromium, at the sandboxes'
# real rate limits: 15 minutes and more, so by hand; `make test` runs the same test on
# sandboxes seeded small (tests/browser/README.md).
acceptance-runall: build
	tests/browser/runall.sh --plexus $(BUILD)/bin/plexus --plugin-dir $(BUILD)/plugins --artifacts $(BUILD)/browser-artifacts/runall

clean:
	rm -rf build build-sanitize

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h')
