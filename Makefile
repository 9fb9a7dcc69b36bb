# ksgw — see README.md. Every target is safe to run on a fresh machine.
GO        ?= go
PKGS      := ./...
# Packages with goroutines and shared state: run under the race detector.
RACE_PKGS := ./internal/proxy/... ./internal/xds/... ./internal/xdsclient/... \
             ./internal/provider/... ./internal/dataplane/... ./internal/controlplane/... \
             ./internal/testing/... ./internal/standalone/...

.PHONY: all build test lint unit race e2e bench-smoke bench quickstart gen fmt

all: build

build:
	$(GO) build -o bin/ksgw ./cmd/ksgw
	$(GO) build -o bin/ksgw-echo ./cmd/ksgw-echo

## test: everything CI runs (lint, unit + golden + fuzz seeds, race, e2e, bench harness smoke).
test: lint unit race bench-smoke
	@echo "make test: all stages passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Unit, golden and end-to-end tests; fuzz targets run their seed corpora here.
unit:
	$(GO) test -count=1 -timeout 20m $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

bench-smoke:
	bench/run.sh --smoke

bench:
	bench/run.sh

## quickstart: the demo backends plus `ksgw standalone` on examples/quickstart.
quickstart:
	examples/quickstart/run.sh

gen:
	hack/gen.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
