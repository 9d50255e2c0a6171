# broadcast: see README.md.
GO       ?= go
BIN      := bin
SERVICES := dispatcher installer sender teamsim demo bench chaos bcast apppackage natsd
DEMO_ARGS ?=

.PHONY: all build demo test test-cluster test-browser screenshots fuzz bench chaos vet fmt clean app-package

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ $(addprefix ./cmd/,$(SERVICES))

## demo: the whole pipeline on this machine against the Teams/Graph simulator.
demo: build
	$(BIN)/demo $(DEMO_ARGS)

## app-package: the Teams app package an admin uploads (TEAMS_APP_ID, BOT_APP_ID, APP_*; see docs/OPERATIONS.md).
APP_PACKAGE ?= $(BIN)/broadcast.zip
app-package: build
	$(BIN)/apppackage -out $(APP_PACKAGE)

## test: unit and integration tests (real NATS JetStream and Redis), again on a Redis Cluster, and the console in chromium.
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) test-cluster
	$(MAKE) test-browser

## test-cluster: the packages that use Redis most, on a three-master Redis Cluster the tests start
## (redis-server --cluster-enabled, redis-cli --cluster create): every script and MULTI must keep to one slot.
REDIS_CLUSTER_PKGS := ./internal/store/ ./internal/engage/ ./internal/console/ ./internal/queue/ ./internal/pipelinetest/
test-cluster:
	REDIS_MODE=cluster REDIS_URL= $(GO) test -race -count=1 -timeout 10m $(REDIS_CLUSTER_PKGS)

## test-browser: the console in Debian's chromium (apt-get install chromium); fails without it.
test-browser:
	$(GO) test -tags browser -count=1 -run TestBrowser ./internal/console/

## screenshots: test-browser, writing its screenshots to docs/console/ (the README shows them).
screenshots:
	UPDATE_SCREENSHOTS=1 $(GO) test -tags browser -count=1 -run TestBrowser ./internal/console/

## fuzz: each fuzz target for FUZZTIME (their seed corpora also run in `make test`).
## A failing input is written to the package's testdata/fuzz/<target>/: commit it with the fix.
FUZZTIME ?= 30s
# Minimising each new input for the default 60 s stalls a short run.
FUZZMINIMIZETIME ?= 5s
FUZZ_TARGETS := \
	./internal/broadcast:FuzzDecodeCreateRequest \
	./internal/broadcast:FuzzDecodeJob \
	./internal/teams:FuzzActivity \
	./internal/teams:FuzzPayloadSize \
	./internal/dispatch:FuzzPrepare \
	./internal/message:FuzzPersonalize \
	./internal/api:FuzzCreate
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg), $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	done

## bench: the benchmark scenarios; writes docs/BENCHMARKS.md (about 40 minutes).
bench: build
	$(BIN)/bench -out docs/BENCHMARKS.md

## chaos: the crash-and-fault suite, long variants (20,000 recipients per scenario; about 20 minutes).
CHAOS_ARGS ?=
chaos: build
	$(BIN)/chaos -md $(BIN)/chaos-summary.md $(CHAOS_ARGS)

vet:
	$(GO) vet ./...
	$(GO) vet -tags browser ./internal/console/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
