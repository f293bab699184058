# Hotline: `make run` starts the service on the embedded example config,
# `make test` installs what the tests need and runs every test.

GO        ?= go
GOBIN     := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
# The module proxy here refuses @latest: every tool is pinned.
MINIO_VERSION       := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.7.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_TIMEOUT ?= 45m
# The version stamped into the binary (hotline version, hotline_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test deps apt-deps go-tools lint unit bench soak fuzz clean compose-secrets bpf

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hotline ./cmd/hotline

## run: Hotline on deploy/hotline.example.yaml, loopback only, no other server needed.
run: build
	./bin/hotline -config deploy/hotline.example.yaml

## deps: install the real peers and tools the tests use, when missing.
deps: apt-deps go-tools

apt-deps:
	@missing=""; \
	command -v sipp >/dev/null 2>&1 || missing="$$missing sip-tester"; \
	command -v baresip >/dev/null 2>&1 || missing="$$missing baresip-core"; \
	command -v linphonec >/dev/null 2>&1 || missing="$$missing linphone-cli"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v clang-14 >/dev/null 2>&1 || missing="$$missing clang-14"; \
	test -f /usr/include/bpf/bpf_helpers.h || missing="$$missing libbpf-dev"; \
	{ command -v kamailio || test -x /usr/sbin/kamailio; } >/dev/null 2>&1 || missing="$$missing kamailio"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@for t in sipp baresip linphonec prometheus promtool systemd-analyze redis-server clang-14; do command -v $$t >/dev/null || { echo "$$t still missing after install" >&2; exit 1; }; done
	@{ command -v kamailio || test -x /usr/sbin/kamailio; } >/dev/null || { echo "kamailio still missing after install" >&2; exit 1; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { echo "postgresql (initdb) still missing after install" >&2; exit 1; }
	@# internal/pgtest runs PostgreSQL as the "postgres" user when the tests run as root (PostgreSQL refuses root).
	@[ "$$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 || { echo "running as root and the postgres user is missing (the postgresql package creates it)" >&2; exit 1; }

go-tools:
	@command -v staticcheck >/dev/null 2>&1 || { echo "installing staticcheck $(STATICCHECK_VERSION)"; GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	@command -v minio >/dev/null 2>&1 || { echo "installing minio $(MINIO_VERSION) (takes a few minutes the first time)"; GOFLAGS= $(GO) install github.com/minio/minio@$(MINIO_VERSION); }

## lint: gofmt, go vet (also for 32-bit x86: the syscall numbers and
## sizes differ there), staticcheck.
lint: go-tools
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=386 $(GO) vet ./...
	staticcheck ./...

## test: everything: lint, unit and end-to-end tests with the race
## detector, then every benchmark once (not timed: one that no longer runs
## fails here rather than when someone measures with it; about a minute).
test: deps lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 ./...

## unit: only the fast tests (no real peers).
unit:
	$(GO) test -short -count=1 ./...

## bench: capacity of this machine (issues 6 and 15): builds and starts
## Hotline (file backend, then MinIO), the Go generator's agents and
## callers, then SIPp's (bench/sipp), all on loopback, and writes
## bench/results/<date>-<host>[-BENCH_NAME].md. < 20 min; BENCH_QUICK=1
## for a 6-8 min run; then three nodes behind Kamailio sharing Redis
## against one (issue 13; at most 8 min more, 4 quick); then the CPU of
## a monitored call and of a transfer (issue 11; at most 4 min, 2 quick).
## BENCH_PARTS=go, sipp, cluster or xfer measures one part only.
BENCH_QUICK ?=
BENCH_NAME ?=
BENCH_PARTS ?= go,sipp,cluster,xfer
bench: go-tools apt-deps
	$(GO) build -o bin/hotline-load ./cmd/hotline-load
	BENCH_QUICK=$(BENCH_QUICK) BENCH_NAME=$(BENCH_NAME) bin/hotline-load bench -parts $(BENCH_PARTS) -out bench/results

## soak: steady, varied load on Hotline (issue 7): builds Hotline and the
## driver, runs calls with hang-ups, unanswered offers, abandons and hold
## re-INVITEs for SOAK_DURATION (30m; SOAK_QUICK=1: 3m) on loopback, checks
## goroutines, descriptors, RTP ports and memory return to their baseline and
## that no call record or recording was lost; writes
## bench/results/<date>-<host>-soak.md and fails when a check does.
SOAK_QUICK ?=
SOAK_DURATION ?=
soak:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hotline ./cmd/hotline
	$(GO) build -o bin/hotline-load ./cmd/hotline-load
	SOAK_QUICK=$(SOAK_QUICK) SOAK_DURATION=$(SOAK_DURATION) bin/hotline-load soak -hotline bin/hotline -out bench/results

## fuzz: run every fuzz target for FUZZTIME each (their seed corpora and
## any crashers found, in testdata/fuzz, also run in `make test`).
FUZZTIME ?= 30s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$dir $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

## compose-secrets: random secrets for deploy/docker-compose.yml in
## deploy/secrets/ (git-ignored, mode 700; the files 644 so the containers'
## non-root users can read them), kept when they exist.
compose-secrets:
	@umask 077; mkdir -p deploy/secrets; chmod 700 deploy/secrets; \
	for s in grafana_admin_password hotline_api_token minio_root_password postgres_password; do \
		f=deploy/secrets/$$s; \
		if [ ! -s $$f ]; then head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > $$f; echo "made $$f"; fi; \
		chmod 644 $$f; \
	done

## bpf: rebuild the kernel relay's BPF object (committed) from its C source;
## BPF_OUT writes it elsewhere (the krelay tests check the committed one).
BPF_OUT ?= relay_bpfel.o
bpf:
	cd sip/media/krelay && clang-14 -O2 -g -target bpf -fdebug-compilation-dir=. \
		-I/usr/include/$$(uname -m)-linux-gnu -c bpf/relay.bpf.c -o $(BPF_OUT)

clean:
	rm -rf bin
