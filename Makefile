# nfsgw — the commands every developer and CI use.
GO        ?= go
# pacific: go-ceph's build tag for Debian 12's Ceph 16.2 (see docs/cephfs.md
# for newer Ceph). noceph is added when libcephfs' headers, or tcmalloc's
# (cephll links it), are missing and cannot be installed, so the
# local-directory gateway still builds instead of failing to link.
GO_TAGS   ?= pacific $(shell test -e /usr/include/cephfs/libcephfs.h -a -e /usr/include/gperftools/tcmalloc.h || echo noceph)
BIN       := bin
PKGS      := ./...
LISTEN    ?= 127.0.0.1:2049
DATA      ?= ./data
STATE     ?= ./state
LEASE     ?= 10
# The version nfsgw --version and nfsgwctl status report.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

.PHONY: manifests helm-check test-k8s image bench-cluster-exports all build run test test-unit test-e2e deps deps-build ceph-up ceph-down lint fuzz bench bench-ceph bench-vs-ganesha pynfs clean

all: build

build: deps-build
	$(GO) build -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/nfsgw ./cmd/nfsgw
	$(GO) build -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/nfsgwctl ./cmd/nfsgwctl

## run: serve ./data at /export on 127.0.0.1:2049 (local directory backend),
## admin API on nfsgw's default unix socket (nfsgwctl needs no flags).
run: build
	NFSGW_BIN=$(BIN)/nfsgw LISTEN=$(LISTEN) DATA=$(DATA) STATE=$(STATE) LEASE=$(LEASE) scripts/dev-run.sh

## deps: install what the tests need from Debian's packages.
deps:
	scripts/deps.sh test

deps-build:
	@scripts/deps.sh build || echo "deps: libcephfs-dev missing: building without CephFS support"

CEPH_DIR ?= /tmp/nfsgw-ceph-dev

## ceph-up / ceph-down: a throwaway Ceph cluster for development
## (eval "$$(scripts/ceph-dev.sh env $(CEPH_DIR))" to use it).
ceph-up:
	scripts/ceph-dev.sh up $(CEPH_DIR)
	@scripts/ceph-dev.sh env $(CEPH_DIR)
	@scripts/ceph-dev.sh quickstart $(CEPH_DIR)

ceph-down:
	scripts/ceph-dev.sh down $(CEPH_DIR)

## test: every test, unit and end-to-end, with a throwaway Ceph cluster that
## is started first and always stopped: the whole suite (e2e on the local
## backend), then the end-to-end tests again with every export on CephFS.
test: deps build
	$(GO) vet -tags '$(GO_TAGS)' $(PKGS)
	NFSGW_BIN=$(CURDIR)/$(BIN)/nfsgw scripts/with-ceph.sh sh -c '\
	  $(GO) test -tags "$(GO_TAGS)" -race -count=1 -timeout 15m $(PKGS) && \
	  $(GO) test -tags "$(GO_TAGS)" -count=1 -run Model ./grace/ && \
	  NFSGW_E2E_BACKEND=ceph $(GO) test -tags "$(GO_TAGS)" -race -count=1 -timeout 10m ./e2e/'

test-unit:
	$(GO) test -tags '$(GO_TAGS)' -race -count=1 $$($(GO) list ./... | grep -v /e2e)

test-e2e: deps build
	NFSGW_BIN=$(CURDIR)/$(BIN)/nfsgw $(GO) test -tags '$(GO_TAGS)' -race -count=1 -v ./e2e/

## test-e2e-ceph: the end-to-end tests on CephFS (set CEPH_CONF for a running
## cluster, e.g. after make ceph-up, or one is started for the run).
test-e2e-ceph: deps build
	NFSGW_BIN=$(CURDIR)/$(BIN)/nfsgw NFSGW_E2E_BACKEND=ceph sh -c 'if [ -n "$$CEPH_CONF" ]; then exec "$$@"; else exec scripts/with-ceph.sh "$$@"; fi' - \
	  $(GO) test -tags '$(GO_TAGS)' -race -count=1 -v ./e2e/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet -tags '$(GO_TAGS)' $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck -tags '$(GO_TAGS)' $(PKGS); else echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; fi

## fuzz: a short run of every fuzz target.
# FuzzOpen: minimizing a new 64 KiB input takes up to -fuzzminimizetime (60 s
# by default), during which the exec count stands still.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRecordReader -fuzztime 30s ./gateway/oncrpc/
	$(GO) test -run '^$$' -fuzz FuzzCallHeader -fuzztime 30s ./gateway/oncrpc/
	$(GO) test -run '^$$' -fuzz FuzzCompound -fuzztime 30s ./gateway/compound/
	$(GO) test -run '^$$' -fuzz FuzzFattrRoundTrip -fuzztime 30s ./gateway/nfs4/
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s ./recovery/boltstore/
	$(GO) test -tags '$(GO_TAGS)' -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./recovery/radosstore/
	$(GO) test -run '^$$' -fuzz FuzzParseImport -fuzztime 30s -fuzzminimizetime 2s ./gateway/ganeshaconf/

## bench: Go micro-benchmarks and the loopback load benchmark.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/...
	$(GO) run ./bench/nfsbench -nfsgw $(BIN)/nfsgw

## bench-ceph: nfsgw on CephFS against libcephfs itself (same cluster, same run):
## GETATTR storm, small-file create+write+close, 1 MiB sequential write and read.
## Uses the cluster CEPH_CONF names, or starts a throwaway one.
bench-ceph: build
	GO_TAGS='$(GO_TAGS)' scripts/bench-ceph.sh $(BENCH_CEPH_ARGS)

## bench-vs-ganesha: nfsgw against NFS-Ganesha 4.3 on the same directory, A B A B,
## medians and ratios into docs/benchmarks.md (+ docs/bench/*.png). BENCH_ARGS adds
## flags of bench/vsganesha, e.g. BENCH_ARGS="-rounds 3 -size 4G" or "-backend ceph -ceph-conf C".
BENCH_ARGS ?=
bench-vs-ganesha: build
	scripts/bench-deps.sh
	$(GO) build -o $(BIN)/nfsbench ./bench/nfsbench
	$(GO) run ./bench/vsganesha -nfsgw $(BIN)/nfsgw -nfsgwctl $(BIN)/nfsgwctl -nfsbench $(BIN)/nfsbench -doc docs/benchmarks.md $(BENCH_ARGS)

## pynfs: the NFSv4.1 conformance suite against a fresh local gateway
## (scripts/pynfs.sh --setup first; docs/testing.md has the other groups).
PYNFS_WORK ?= /tmp/nfsgw-pynfs
PYNFS_PORT ?= 20600
pynfs: build
	scripts/pynfs-server.sh start $(PYNFS_WORK) $(PYNFS_PORT)
	scripts/pynfs.sh --minor 1 127.0.0.1:$(PYNFS_PORT)/export; rc=$$?; \
	  scripts/pynfs-server.sh stop $(PYNFS_WORK); exit $$rc

## image: the OCI image archive bin/nfsgw-image.tar, without a registry or a
## daemon, built twice to check it is reproducible (docs/kubernetes.md).
image:
	GO=$(GO) VERSION=$(VERSION) scripts/image.sh $(BIN)/nfsgw-image.tar

## test-k8s: the chart on a real one-node Kubernetes started on this machine
## (scripts/k8s/test.sh): pod restart, scale up, scale down. Not in make
## test: the first run builds Kubernetes (~26 CPU-minutes), later ones take
## a few minutes.
test-k8s:
	GO=$(GO) scripts/k8s/test.sh

## manifests: deploy/nfsgw.yaml, the chart rendered with its defaults (a test
## in make test checks that it is up to date).
manifests:
	$(GO) run ./deploy/render > deploy/nfsgw.yaml

## helm-check: the chart rendered by Helm's own engine equals the project's
## rendering, for every values file (builds Helm's engine; not in make test).
helm-check:
	GO=$(GO) scripts/helm-check.sh

clean:
	rm -rf $(BIN)
