# waxseal — see README.md. `make run` and `make test` are the two commands a
# newcomer needs; the rest are for development.

GO          ?= go
GOROOT      := $(shell $(GO) env GOROOT)
BIN         := bin/waxseal
TOOLS       := $(CURDIR)/bin/tools
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
WASM        := build/waxseal.wasm
WASM_EXEC   := build/wasm_exec.js
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 6
RUNDIR      := build/run

.PHONY: all build wasm run test test-go test-wasm lint tools bench fuzz clean

all: build wasm

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/waxseal

# The browser decryptor. wasm_exec.js must come from the same toolchain.
wasm:
	@mkdir -p build
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $(WASM) ./wasm
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" $(WASM_EXEC)
	@printf 'wasm: %s bytes, %s gzip\n' "$$(wc -c < $(WASM))" "$$(gzip -9 -c $(WASM) | wc -c)"

# For now (no key server yet): seal the sample message offline for a sample
# recipient, open it again, and show where everything is.
run: build
	@rm -rf $(RUNDIR) && mkdir -p $(RUNDIR)
	@$(BIN) seal --offline --keyserver http://localhost:8080 \
		--from 'Dr. Alice Example <alice@hospital.example>' --to 'bob@patient.example' \
		--out $(RUNDIR) --mail --online < docs/examples/lab-results.eml > $(RUNDIR)/sealed.json
	@id=$$(sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' $(RUNDIR)/sealed.json); \
	 key=$$(sed -n 's/.*"server_key":"\([^"]*\)".*/\1/p' $(RUNDIR)/sealed.json); \
	 $(BIN) open --server-key $$key $(RUNDIR)/$$id.html > $(RUNDIR)/opened.eml; \
	 cmp -s docs/examples/lab-results.eml $(RUNDIR)/opened.eml && same=yes || same=NO; \
	 echo "Sealed docs/examples/lab-results.eml for bob@patient.example:"; \
	 echo "  envelope (open it in a browser):  $(CURDIR)/$(RUNDIR)/$$id.html"; \
	 echo "  wrapper mail as sent:             $(CURDIR)/$(RUNDIR)/$$id.eml"; \
	 echo "  server key (k_srv):               $$key"; \
	 echo "  header:"; $(BIN) inspect $(RUNDIR)/$$id.html | sed 's/^/    /'; \
	 echo "Opened again with the server key: $(RUNDIR)/opened.eml (identical to the original: $$same)"; \
	 echo "Try: $(BIN) open --server-key $$key $(RUNDIR)/$$id.html"

tools: $(STATICCHECK)

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Everything CI runs: formatting, vet, staticcheck, the Go tests (fuzz seed corpora
# included), the envelope and decryptor tests under GOOS=js in Node, and the
# independent JavaScript reader against the test vectors.
test: lint test-go test-wasm

lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm ./envelope/...
	$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) ./wasm

test-go:
	$(GO) test -count=1 ./...

test-wasm: wasm
	PATH="$$PATH:$(GOROOT)/lib/wasm" GOOS=js GOARCH=wasm $(GO) test -count=1 ./envelope/...
	node --test wasm/ envelope/conformance/

bench:
	@mkdir -p build
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./envelope/... | tee build/bench.txt
	$(GO) run ./internal/tools/benchreport < build/bench.txt | tee build/bench.md

# Runs each fuzz target for FUZZTIME. New crashers land in testdata/fuzz, where
# `make test` replays them.
fuzz:
	$(GO) test ./envelope -run '^$$' -fuzz '^FuzzParseHTML$$' -fuzztime $(FUZZTIME)
	$(GO) test ./envelope -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME)
	$(GO) test ./envelope/internal/stream -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./envelope/internal/stream -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin build
