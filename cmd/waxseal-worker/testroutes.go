//go:build js && wasm

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall/js"
	"time"

	"github.com/syumai/workers/cloudflare/r2"

	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/internal/workerserve"
)

// routeD1Batch adds POST /_worker/d1batch (test routes only): it runs
// d1batch's cases against the DB binding in a scratch table and reports each
// outcome, for worker/d1batch.test.mjs to check under wrangler's local D1.
func routeD1Batch(mux *http.ServeMux, env js.Value) {
	type S = d1batch.Statement
	mux.HandleFunc("POST /_worker/d1batch", func(w http.ResponseWriter, r *http.Request) {
		db := env.Get("DB")
		out := map[string]any{}
		step := func(name string, stmts ...S) []d1batch.Result {
			res, err := d1batch.Batch(r.Context(), db, stmts)
			if err != nil {
				out[name] = map[string]any{"error": err.Error(), "guard": errors.Is(err, d1batch.ErrGuard)}
				return nil
			}
			out[name] = "ok"
			return res
		}
		const at = "2026-12-04T15:04:05.123456789Z"
		step("setup", d1batch.Setup(), S{SQL: "DROP TABLE IF EXISTS d1batch_test"},
			S{SQL: "CREATE TABLE d1batch_test (k TEXT PRIMARY KEY, v INTEGER NOT NULL, at TEXT NOT NULL, b BLOB)"})
		step("insert", S{SQL: "INSERT INTO d1batch_test (k, v, at, b) VALUES (?, ?, ?, ?)", Args: []any{"a", 1, at, []byte{0, 1, 255}}},
			S{SQL: "INSERT INTO d1batch_test (k, v, at) VALUES (?, ?, ?)", Args: []any{"b", int64(1), at}})
		// The second statement breaks the primary key: the first must not stay.
		step("atomic", S{SQL: "UPDATE d1batch_test SET v = 5 WHERE k = ?", Args: []any{"a"}},
			S{SQL: "INSERT INTO d1batch_test (k, v, at) VALUES (?, ?, ?)", Args: []any{"b", 9, at}})
		bump := S{SQL: "UPDATE d1batch_test SET v = v + 1 WHERE k = ? AND v = ?", Args: []any{"a", 1}}
		step("guard_ok", bump, d1batch.Guard())
		step("guard_conflict", bump, d1batch.Guard()) // v is 2 now: the guard fails
		step("unsafe_int", S{SQL: "SELECT ?", Args: []any{int64(1) << 60}})
		if res := step("read", S{SQL: "SELECT k, v, at, hex(b) AS b FROM d1batch_test ORDER BY k"},
			S{SQL: "SELECT count(*) AS n FROM " + d1batch.GuardTable}); res != nil {
			out["rows"], out["guard_rows"] = res[0].Rows, res[1].Rows
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// routeR2 adds PUT /_worker/r2 and GET /_worker/r2/{key} (test routes only):
// a body stored in the CIPHERTEXTS bucket under its SHA-256 through
// syumai/workers' r2 package, and read back, for worker/r2.test.mjs.
func routeR2(mux *http.ServeMux) {
	mux.HandleFunc("PUT /_worker/r2", func(w http.ResponseWriter, r *http.Request) {
		bucket, err := r2.NewBucket("CIPHERTEXTS")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		key := hex.EncodeToString(sum[:])
		if _, err := bucket.Put(key, io.NopCloser(bytes.NewReader(body)), nil); err != nil {
			http.Error(w, "r2 put: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"key": key, "size": len(body)})
	})
	mux.HandleFunc("GET /_worker/r2/{key}", func(w http.ResponseWriter, r *http.Request) {
		bucket, err := r2.NewBucket("CIPHERTEXTS")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		obj, err := bucket.Get(r.PathValue("key"))
		if err != nil {
			http.Error(w, "r2 get: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if obj == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, obj.Body)
	})
}

// routeProfile adds the profiling routes (test routes only): GET
// /_worker/stats answers the D1 calls (d1batch.Stats) and the requests' time
// in Go (workerserve.Stats) since the last ?reset=1; POST
// /_worker/d1ping?n=N runs N one-statement batches (SELECT 1) one after
// another and answers their mean time, D1's own round trip under wrangler.
func routeProfile(mux *http.ServeMux, env js.Value) {
	d1batch.CountCalls(true)
	workerserve.CountRequests(true)
	mux.HandleFunc("GET /_worker/stats", func(w http.ResponseWriter, r *http.Request) {
		reset := r.URL.Query().Get("reset") == "1"
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		// The entry's io loops (worker/entry.mjs requestIO): how often one
		// continued in another request's context and its rescue timer
		// brought it back, and how often a rescue timer woke Go for a timer
		// whose own had been dropped with its request (watchGoTimer). Never
		// reset: they count from the program's start.
		io := map[string]int{}
		if st := js.Global().Get("waxsealIOStats"); st.Type() == js.TypeObject {
			io["lost"], io["rescued"], io["woken"] = st.Get("lost").Int(), st.Get("rescued").Int(), st.Get("woken").Int()
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"d1": d1batch.ReadStats(reset), "serve": workerserve.ReadStats(reset), "io": io})
	})
	mux.HandleFunc("POST /_worker/d1ping", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		n = min(max(n, 1), 1000)
		db := env.Get("DB")
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if _, err := d1batch.Batch(r.Context(), db, []d1batch.Statement{{SQL: "SELECT 1 AS one"}}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"n": n, "mean_ms": float64(time.Since(t0).Microseconds()) / 1000 / float64(n)})
	})
}
