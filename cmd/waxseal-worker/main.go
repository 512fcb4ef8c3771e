//go:build js && wasm

// Command waxseal-worker is the key server as a Cloudflare Worker: the same
// keyserver.Service and httpapi handlers as `waxseal serve`, compiled for
// GOOS=js GOARCH=wasm and started by worker/entry.mjs, which keeps one Go
// instance per isolate (internal/workerserve). `make worker` builds it and
// `make worker-dev` runs it under wrangler; docs/DEPLOY.md has the rest.
//
// Configuration comes from the Worker's environment (wrangler.toml [vars] and
// `wrangler secret put`): WAXSEAL_PUBLIC_URL, WAXSEAL_MASTER_KEY (base64, as in
// master.key), WAXSEAL_GATEWAY_TOKENS and WAXSEAL_ADMIN_TOKENS (comma-separated).
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/waxseal/waxseal/assets"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/internal/jsio"
	"github.com/waxseal/waxseal/internal/workerserve"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/d1store"
	"github.com/waxseal/waxseal/keyserver/httpapi"
	"github.com/waxseal/waxseal/locale"
)

func main() {
	log := slog.New(slog.NewTextHandler(workerserve.Console{}, nil))
	env := js.Global().Get("context").Get("env")
	get := func(name string) string {
		v := env.Get(name)
		if v.Type() != js.TypeString {
			return ""
		}
		return v.String()
	}
	mux := http.NewServeMux()
	if get("WAXSEAL_WORKER_TEST_ROUTES") == "1" {
		routeInstance(mux)
		routeD1Batch(mux, env)
		routeR2(mux)
		routeProfile(mux, env)
	}
	ks, svc := keyServer(get, log)
	mux.Handle("/", noPasswords(releaseReadAhead(ks), svc))
	workerserve.Serve(mux, log)
}

// openStore returns the Worker's store over the D1 (DB) and R2 (CIPHERTEXTS)
// bindings, creating its schema on the first start (keyserver/d1store).
func openStore(func(string) string) (keyserver.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d1store.Open(ctx, "DB", "CIPHERTEXTS")
}

// keyServer is the key server's HTTP API and its service, or, if it cannot be
// set up, a handler that says why with 503 on every route (and no service).
func keyServer(get func(string) string, log *slog.Logger) (http.Handler, *keyserver.Service) {
	cfg, err := configFromEnv(get)
	if err != nil {
		return unavailable(err, log), nil
	}
	cfg.Logger = log
	cfg.NoPasswords = true // noPasswords refuses the routes; the pages offer none
	// A stale list of static files would leave every page unable to load its
	// scripts: refuse it before serving anything or sweeping on a Cron.
	static, err := staticFiles()
	if err == nil {
		err = assets.CheckStatic(static)
	}
	if err != nil {
		return unavailable(err, log), nil
	}
	store, err := openStore(get)
	if err != nil {
		return unavailable(err, log), nil
	}
	svc, err := keyserver.New(cfg, store)
	if err != nil {
		return unavailable(err, log), nil
	}
	publishIdle(svc)
	publishScheduled(svc, log)
	return httpapi.New(svc, httpapi.StaticServedElsewhere(static)), svc
}

// staticFiles are the static files the Worker's static assets serve, as
// worker/entry.mjs hands their list over (written by `make worker`).
func staticFiles() ([]assets.Static, error) {
	v := js.Global().Get("context").Get("staticFiles")
	if v.Type() != js.TypeString {
		return nil, errors.New("the list of static files is missing: start this program from worker/entry.mjs, built by `make worker`")
	}
	var list []assets.Static
	if err := json.Unmarshal([]byte(v.String()), &list); err != nil {
		return nil, fmt.Errorf("the list of static files: %w", err)
	}
	return list, nil
}

func unavailable(err error, log *slog.Logger) http.Handler {
	log.Error("key server unavailable", "err", err)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusServiceUnavailable, api.CodeNotReady, err.Error())
	})
}

// releaseReadAhead lets a key release (POST /api/v1/envelopes/ID/key) read
// its envelope in the same D1 round trip as the session that signs it in
// (d1store.WithEnvelopeRead): two round trips a release instead of three.
func releaseReadAhead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/envelopes/"); ok {
				if idText, ok := strings.CutSuffix(rest, "/key"); ok {
					if id, err := envelope.ParseID(idText); err == nil {
						r = r.WithContext(d1store.WithEnvelopeRead(r.Context(), id))
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// passwordPaths are the routes that take or set a password. Hashing one with
// argon2id costs 67–250 ms of CPU in workerd, and Go on js/wasm runs one
// request at a time, so the Worker signs in by passkey and emailed code only.
var passwordPaths = map[string]bool{
	"/api/v1/signin/password":  true,
	"/api/v1/password/forgot":  true,
	"/api/v1/password/reset":   true,
	"/api/v1/account/password": true,
}

// noPasswords answers every password route 403 (refusal.no_passwords), in the
// language the switcher's cookie or Accept-Language asks for (the request is
// refused before anyone's session is looked at), else the default.
func noPasswords(next http.Handler, svc *keyserver.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if passwordPaths[r.URL.Path] {
			l := locale.English()
			if svc != nil {
				code := ""
				if c, err := r.Cookie("waxseal_lang"); err == nil {
					code = svc.Locales().Supported(c.Value)
				}
				if code == "" {
					code = svc.Locales().FromAcceptLanguage(r.Header.Get("Accept-Language"))
				}
				l = svc.Locale(code)
			}
			writeError(w, http.StatusForbidden, api.CodeForbidden, l.T("refusal.no_passwords"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: code, Message: msg})
}

// routeInstance adds the routes the worker tests use to see which Go instance
// answered: GET /_worker/instance gives the instance's random id and how many
// requests it has served; POST /_worker/exit ends the Go program, which the
// entry must notice and replace; POST /_worker/echo describes the request it
// got and answers with two cookies, to check the translation both ways. Only
// with WAXSEAL_WORKER_TEST_ROUTES=1.
func routeInstance(mux *http.ServeMux) {
	var idb [8]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	var served atomic.Int64
	mux.HandleFunc("GET /_worker/instance", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "served": served.Add(1)})
	})
	mux.HandleFunc("POST /_worker/exit", func(http.ResponseWriter, *http.Request) {
		os.Exit(3)
	})
	// POST /_worker/timer?ms=N starts a goroutine that sleeps N ms and answers
	// at once; GET /_worker/timer waits for that goroutine (at most 10 s) and
	// says how long it waited (the client gives up when it likes): a Go timer
	// set during one request, waited on by another after the first has ended.
	var timerMu sync.Mutex
	timerDone := make(chan struct{})
	close(timerDone)
	mux.HandleFunc("POST /_worker/timer", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		done := make(chan struct{})
		timerMu.Lock()
		timerDone = done
		timerMu.Unlock()
		go func() {
			time.Sleep(time.Duration(min(max(ms, 1), 5000)) * time.Millisecond)
			close(done)
		}()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /_worker/timer", func(w http.ResponseWriter, r *http.Request) {
		timerMu.Lock()
		done := timerDone
		timerMu.Unlock()
		t0 := time.Now()
		select {
		case <-done:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"waited_ms": time.Since(t0).Milliseconds()})
	})
	mux.HandleFunc("POST /_worker/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("Set-Cookie", "b=2; Path=/")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"length": len(body), "sha256": hex.EncodeToString(sum[:]),
			"x_test": r.Header.Values("X-Test"), "remote_addr": r.RemoteAddr,
		})
	})
}

// publishIdle sets binding.idle() for worker/entry.mjs: a Promise that settles
// once the work the key server began after its answers is done (a sign-in code
// looked up and mailed after the same 202 for every address). The entry hands
// it to each request's ctx.waitUntil; without it workerd may end that work
// with the request, and the code is never mailed.
func publishIdle(svc *keyserver.Service) {
	idle := js.FuncOf(func(js.Value, []js.Value) any {
		var executor js.Func
		executor = js.FuncOf(func(_ js.Value, args []js.Value) any {
			executor.Release()
			resolve := args[0]
			go func() {
				<-svc.Idle()
				resolve.Invoke()
			}()
			return js.Undefined()
		})
		return js.Global().Get("Promise").New(executor)
	})
	js.Global().Get("context").Get("binding").Set("idle", idle)
}

// publishScheduled sets binding.scheduled(cron) for the entry's scheduled
// handler (the Cron Trigger in wrangler.toml): the expiry sweep `waxseal serve`
// runs every sweep_interval, and a look at the outbox, whose mail the gateway
// drains over the API (a Worker cannot send mail): mail still waiting is
// logged, so that a gateway not draining shows in the Worker's logs.
// binding.scheduled(cron, io) takes the event's io function (internal/jsio);
// the Promise resolves with {expired, outbox} or rejects with the error.
func publishScheduled(svc *keyserver.Service, log *slog.Logger) {
	scheduled := js.FuncOf(func(_ js.Value, args []js.Value) any {
		cron := ""
		if len(args) > 0 && args[0].Type() == js.TypeString {
			cron = args[0].String()
		}
		// The run's D1 and R2 calls start in the scheduled event's own
		// context (internal/jsio), as a request's do.
		base := context.Background()
		if len(args) > 1 {
			base = jsio.WithRequest(base, args[1])
		}
		var executor js.Func
		executor = js.FuncOf(func(_ js.Value, pargs []js.Value) any {
			executor.Release()
			resolve, reject := pargs[0], pargs[1]
			go func() {
				ctx, cancel := context.WithTimeout(base, 5*time.Minute)
				defer cancel()
				n, err := svc.Sweep(ctx)
				if err != nil {
					log.Error("scheduled sweep", "cron", cron, "err", err)
					reject.Invoke(js.Global().Get("Error").New("sweep: " + err.Error()))
					return
				}
				depth, err := svc.OutboxDepth(ctx)
				if err != nil {
					log.Error("scheduled outbox depth", "cron", cron, "err", err)
					depth = -1
				} else if depth > 0 {
					log.Warn("outbox mail waiting for the gateway to drain it", "cron", cron, "depth", depth)
				}
				out := js.Global().Get("Object").New()
				out.Set("expired", n)
				out.Set("outbox", depth)
				resolve.Invoke(out)
			}()
			return js.Undefined()
		})
		return js.Global().Get("Promise").New(executor)
	})
	js.Global().Get("context").Get("binding").Set("scheduled", scheduled)
}
