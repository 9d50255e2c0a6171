# broadcast: see README.md.
GO       ?= go
BIN      := bin
SERVICES := dispatcher installer sender teamsim demo bench
DEMO_ARGS ?=

.PHONY: all build demo test bench vet fmt clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ $(addprefix ./cmd/,$(SERVICES))

## demo: the whole pipeline on this machine against the Teams/Graph simulator.
demo: build
	$(BIN)/demo $(DEMO_ARGS)

## test: unit and integration tests (real NATS JetStream and Redis).
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

## bench: the benchmark scenarios; writes docs/BENCHMARKS.md (about 25 minutes).
bench: build
	$(BIN)/bench -out docs/BENCHMARKS.md

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
