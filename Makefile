# decco — see README.md.
SHELL := /bin/bash
GO ?= go
# Long enough for a cold build of the control-plane binaries (~6 min) plus
# the e2e suites on 2 cores.
TEST_TIMEOUT ?= 40m
FUZZ_TIME ?= 10s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test unit e2e demo cluster lint fuzz bench clean

all: build

## build: compile every command into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: unit tests and e2e tests against the real local control plane
test:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

## unit: only tests that need no control plane (skips the e2e suites)
unit:
	$(GO) test -short ./...

## demo: run decco on a local control plane, apply examples/, show the result
demo:
	$(GO) run ./test/cmd/demo

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz: run each fuzz target for FUZZ_TIME (longer than make test's seed-corpus run)
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZ_TIME) $$pkg || exit 1; \
	  done; \
	done

## bench: benchmarks, reported as ratios and percentiles; writes bench/results.md (see BENCHMARKS.md)
bench:
	cd bench && $(GO) run . -out results.md
	DECCO_BENCH=1 $(GO) test -count=1 -run 'Bench' -v ./sidecar/bench/ | tee -a bench/results.md

clean:
	rm -rf bin/
