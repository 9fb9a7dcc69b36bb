# ksgw — see README.md. Every target is safe to run on a fresh machine.
GO        ?= go
PKGS      := ./...
# Packages with goroutines and shared state: run under the race detector.
RACE_PKGS := ./internal/proxy/... ./internal/xds/... ./internal/xdsclient/... \
             ./internal/provider/... ./internal/dataplane/... ./internal/controlplane/... \
             ./internal/testing/... ./internal/standalone/...

# Packages run by `unit`: all but the Kubernetes integration suite, which has
# its own stage (it starts a kube-apiserver; running it beside every other
# package's tests on a small machine would make its timings meaningless).
UNIT_PKGS = $$($(GO) list ./... | grep -v '/test/k8s')
# The real kube-apiserver and etcd of hack/testenv.sh (built once, cached
# outside the repository) for the tests that need an API server. If the
# script fails the variable is empty: those tests then skip, or fail under
# CI=true.
TESTENV = KUBEBUILDER_ASSETS="$${KUBEBUILDER_ASSETS:-$$(hack/testenv.sh)}"

.PHONY: image helm-repo all build test lint unit race k8s e2e bench-smoke bench quickstart gen fmt testenv

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
IMAGE   ?= ghcr.io/ksgw/ksgw:$(VERSION)

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ksgw ./cmd/ksgw
	$(GO) build -o bin/ksgw-echo ./cmd/ksgw-echo

## test: everything CI runs (lint, unit + golden + fuzz seeds + e2e, race, k8s integration, bench harness smoke).
test: lint unit race k8s bench-smoke
	@echo "make test: all stages passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Unit, golden and end-to-end tests; fuzz targets run their seed corpora here.
unit:
	$(TESTENV) $(GO) test -count=1 -timeout 20m $(UNIT_PKGS)

race:
	$(TESTENV) $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

## k8s: `ksgw controller` and proxies against a real kube-apiserver and etcd.
# -v: the suite logs its measurements (route-update latency, splits).
k8s:
	assets=$${KUBEBUILDER_ASSETS:-$$(hack/testenv.sh)} && \
	  KUBEBUILDER_ASSETS=$$assets $(GO) test -count=1 -timeout 15m -v ./test/k8s/...

## testenv: build/install kube-apiserver and etcd; prints KUBEBUILDER_ASSETS.
testenv:
	@hack/testenv.sh --export

## image: container image (needs a Docker/BuildKit engine; not available on our CI machines, unverified).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE) .

## helm-repo: the chart packaged as ksgw and as gateway, with index.yaml, in deploy/helm/repo.
helm-repo:
	hack/helm-repo.sh

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
