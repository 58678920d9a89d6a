# decco — see README.md.
SHELL := /bin/bash
GO ?= go
# Long enough for a cold build of the control-plane binaries (~10 min) plus
# the e2e suites on 2 cores.
TEST_TIMEOUT ?= 40m
# How long each fuzz target runs: briefly in make test, longer in make fuzz.
# make test counts inputs rather than time: Go 1.26's fuzz coordinator can
# fail a timed run at its deadline with "context deadline exceeded" and no
# crasher (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline.
FUZZ_SHORT ?= 1000x
FUZZ_TIME ?= 1m
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build images test unit demo lint fuzz fuzz-short fuzz-run bench bench-scale clean

all: build

## build: compile every command into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## images: the manager, sidecar and CNI images as archives in bin/images, built
## without a container engine (build/oci); IMAGE_TAG names them
IMAGE_TAG ?= dev
images:
	$(GO) run ./build/images -out bin/images -tag $(IMAGE_TAG)

## test: install the Debian packages the tests need (hack/deps.sh), run unit
## tests and e2e tests against the real local control plane, list the tests
## a missing component skipped, then each fuzz target for FUZZ_SHORT
## (DECCO_LONG=1 adds the long tests, as CI does)
test:
	@hack/deps.sh
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	  rc=0; DECCO_MISSING_LOG=$$log $(GO) test -timeout $(TEST_TIMEOUT) ./... || rc=$$?; \
	  hack/missing-summary.sh "$$log"; exit $$rc
	$(MAKE) --no-print-directory fuzz-short

## unit: only tests that need no control plane (skips the e2e suites)
unit:
	$(GO) test -short ./...

## demo: run decco with running pods on a local node (root, Linux: the chart,
## Traefik as the gateway, examples/ with test images, one HTTPS request and one
## mutual-TLS exchange through it); elsewhere on a control plane alone, saying why
demo:
	$(GO) run ./test/cmd/demo

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Fuzz targets as "dir:FuzzName", found in the test sources rather than with
# go test -list, which would run the e2e packages' TestMain (and start a
# control plane) just to list them.
FUZZ_TARGETS = $(shell grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' --exclude-dir=bench --exclude-dir=tools . | sed 's|/[^/]*_test.go:func |:|' | sort -u)

## fuzz: run each fuzz target for FUZZ_TIME, from its committed seed corpus
fuzz:
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(FUZZ_TIME)

## fuzz-short: run each fuzz target for FUZZ_SHORT (part of make test)
fuzz-short:
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(FUZZ_SHORT)

fuzz-run:
	@test -n "$(FUZZ_TARGETS)" || { echo "no fuzz targets found"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
	  dir=$${t%%:*}; f=$${t##*:}; \
	  echo "== fuzz $$dir $$f for $(FUZZ_FOR)"; \
	  $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZ_FOR) $$dir || exit 1; \
	done

## bench: benchmarks, reported as ratios and percentiles; writes bench/results.md (see BENCHMARKS.md)
bench:
	cd bench && $(GO) run . -spaces 100,1000 -out results.md
	DECCO_BENCH=1 $(GO) test -count=1 -run 'Bench' -v ./sidecar/bench/ | tee -a bench/results.md

## bench-scale: the reconciler's cost per space from 100 to 10,000 spaces
## (5 Services each, over 20 projects; SCALE_PROJECT_SIZE=N gives every N
## spaces a project of their own); long (about 20 minutes on 2 cores), so not
## part of make bench; writes bench/results-scale.md
SCALE_SPACES ?= 100,1000,3000,10000
SCALE_PROJECT_SIZE ?= 0
bench-scale:
	cd bench && $(GO) run . -only reconciler -spaces $(SCALE_SPACES) -project-size $(SCALE_PROJECT_SIZE) -out results-scale.md

clean:
	rm -rf bin/
