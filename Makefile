# Dialtone — developer and CI entry points. Each target is a thin wrapper; the
# scripts under scripts/ hold the logic.
SHELL := /usr/bin/env bash
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/gotestsum
GOFILES = $(shell git ls-files --cached --others --exclude-standard '*.go')

.PHONY: all tools generate check-generated lint fmt test test-short bench fuzz images run check-modules clean chaos cluster-up cluster-down cluster-status

all: lint test

# Build buf, the protoc plugins and gotestsum from the tools module (module proxy only).
tools: $(TOOLS)
$(TOOLS): tools/go.mod tools/go.sum
	GOWORK=off go -C tools build -o $(BIN)/ tool

# Regenerate Go code from proto/ (committed).
generate: tools
	cd proto && PATH=$(BIN):$$PATH $(BIN)/buf generate

# Fail when the committed generated code differs from a fresh generation.
check-generated: generate
	@git add -N proto/gen >/dev/null 2>&1 || true
	@git diff --exit-code --stat -- proto/gen || { echo "generated code is stale: run 'make generate' and commit" >&2; exit 1; }

# buf lint + format check, gofmt, and per-module GOWORK=off build + vet + tidy.
lint: tools
	cd proto && $(BIN)/buf lint && $(BIN)/buf format -d --exit-code
	@unformatted=$$(gofmt -l $(GOFILES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:" >&2; echo "$$unformatted" >&2; exit 1; fi
	scripts/check-modules.sh

fmt:
	gofmt -w $(GOFILES)
	cd proto && $(BIN)/buf format -w

# Every module's tests with -race; a build error in any module fails the run.
test: tools
	scripts/test.sh

# Quick local loop: no race detector, short mode.
test-short: tools
	scripts/test.sh -short

# Benchmarks: go test -bench in every module, then the scripts under bench/.
bench:
	scripts/bench.sh

# Short fuzzing of every fuzz target (FUZZTIME=10m for the long run).
fuzz:
	scripts/fuzz.sh $${FUZZTIME:-30s}

# OCI images of every service without a Docker daemon (go-containerregistry,
# empty base, static binary, non-root): bin/images/<service>.tar and the OCI
# layout bin/images/oci. REGISTRY and TAG may be set; PUSH=1 pushes.
# deploy/images.sh still builds the same images with a Docker engine.
REGISTRY ?= ghcr.io/dialtone-voip
TAG ?= dev
images:
	go run ./cmd/dialtone-images --out bin/images --registry $(REGISTRY) --tag $(TAG) $(if $(PUSH),--push)

# The whole suite on this machine.
run:
	go run ./cmd/dialtone

# The suite as a cluster on this machine (deploy/local/README.md): 3 NATS
# JetStream nodes, Redis + Sentinel, every service replicated, state in
# deploy/local/state. CLUSTER_FLAGS e.g. --base-port 25000 --lan=false.
# The cluster chaos test alone (5,000 phones, kills NATS, Redis primary,
# replicas; root, network namespaces). make test runs it too;
# DIALTONE_CHAOS_PHONES=500 make chaos for a smaller storm.
chaos:
	cd cmd && CI=true go test ./e2e -run TestChaosClusterStorm -count=1 -v -timeout 30m

cluster-up:
	go run ./cmd/dialtone-cluster up --dir deploy/local/state $(CLUSTER_FLAGS)

cluster-down:
	go run ./cmd/dialtone-cluster down --dir deploy/local/state

cluster-status:
	go run ./cmd/dialtone-cluster status --dir deploy/local/state

check-modules:
	scripts/check-modules.sh

clean:
	rm -rf $(BIN)
