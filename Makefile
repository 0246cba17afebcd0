# nfsgw — the commands every developer and CI use.
GO        ?= go
GO_TAGS   ?=
BIN       := bin
PKGS      := ./...
LISTEN    ?= 127.0.0.1:2049
DATA      ?= ./data
STATE     ?= ./state

.PHONY: all build run test test-unit test-e2e deps lint fuzz bench pynfs clean

all: build

build:
	$(GO) build -tags '$(GO_TAGS)' -o $(BIN)/nfsgw ./cmd/nfsgw
	$(GO) build -tags '$(GO_TAGS)' -o $(BIN)/nfsgwctl ./cmd/nfsgwctl

## run: serve ./data at /export on 127.0.0.1:2049 (local directory backend).
run: build
	mkdir -p $(DATA)
	$(BIN)/nfsgw --listen $(LISTEN) --export /export=$(DATA) --state-dir $(STATE)

## deps: install what the tests need from Debian's packages.
deps:
	scripts/deps.sh

## test: every test, unit and end-to-end (the e2e tests start bin/nfsgw).
test: deps build
	$(GO) vet -tags '$(GO_TAGS)' $(PKGS)
	NFSGW_BIN=$(CURDIR)/$(BIN)/nfsgw $(GO) test -tags '$(GO_TAGS)' -race -count=1 -timeout 15m $(PKGS)

test-unit:
	$(GO) test -tags '$(GO_TAGS)' -race -count=1 $$($(GO) list ./... | grep -v /e2e)

test-e2e: deps build
	NFSGW_BIN=$(CURDIR)/$(BIN)/nfsgw $(GO) test -tags '$(GO_TAGS)' -race -count=1 -v ./e2e/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet -tags '$(GO_TAGS)' $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck -tags '$(GO_TAGS)' $(PKGS); else echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; fi

## fuzz: a short run of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRecordReader -fuzztime 30s ./gateway/oncrpc/
	$(GO) test -run '^$$' -fuzz FuzzCallHeader -fuzztime 30s ./gateway/oncrpc/
	$(GO) test -run '^$$' -fuzz FuzzCompound -fuzztime 30s ./gateway/compound/

## bench: Go micro-benchmarks and the loopback load benchmark.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/...
	$(GO) run ./bench/nfsbench -nfsgw $(BIN)/nfsgw

## pynfs: the NFSv4.0/4.1 conformance suite against a fresh local gateway.
pynfs: build
	scripts/pynfs-nfsgw.sh

clean:
	rm -rf $(BIN)
