//go:build js && wasm

// Package workerserve serves an http.Handler to the JavaScript of a Cloudflare
// Worker, one Go instance for many requests.
//
// syumai/workers v0.32.0's Serve can answer only one request per Go instance
// (its done channel is closed after the first response, so a second request
// panics with "close of closed channel"), and the generated worker.mjs starts a
// new instance for every request: about 50 key-server requests a second. Here
// the worker entry (worker/entry.mjs) starts the Go program once per isolate
// and calls the function Serve publishes for every request; it starts a new
// instance only if the program has exited.
//
// The protocol with the entry is plain values, so neither side depends on the
// other's internals: the entry sets globalThis.context = {env, ctx, binding}
// before starting Go (the same global syumai/workers' D1 and R2 packages read
// the bindings from); Serve sets binding.serve and then calls binding.ready().
// binding.serve(method, url, headers, body, io, reply) takes the request's
// method, URL, headers as one string of names and values each on a line of
// their own (name, value, name, value, ...), body as a Uint8Array (or null),
// the request's io function (internal/jsio; or null), and reply, which Go
// calls once with (status, headers as the same kind of string, body as a
// Uint8Array or null). Strings and callbacks, rather than arrays of pairs and
// a Promise made in Go: each JavaScript value Go holds is a Go object with a
// finalizer (with the D1 batch's JSON and one callback a call, about 6% less
// CPU a key release: docs/BENCHMARKS.md, Workers).
package workerserve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/waxseal/waxseal/internal/jsio"
)

// MaxBody bounds a request body. The entry reads the whole body before handing
// it to Go; Workers themselves cap request bodies at 100 MB (500 MB on paid
// plans), and the key server's largest legitimate body is a stored ciphertext.
const MaxBody = 64 << 20

// Serve publishes h to the worker entry and blocks for the life of the
// program. Requests run one goroutine each; Go on js/wasm runs one at a time.
func Serve(h http.Handler, log *slog.Logger) {
	binding := js.Global().Get("context").Get("binding")
	if binding.IsUndefined() {
		panic("workerserve: globalThis.context.binding is not set: start this program from worker/entry.mjs")
	}
	serve := js.FuncOf(func(_ js.Value, args []js.Value) any {
		// Copy everything out of JavaScript before returning: the handler runs
		// in a goroutine after this callback, which must not block.
		counted := counting.Load()
		var t0 time.Time
		if counted {
			t0 = time.Now()
		}
		if len(args) == 0 || args[len(args)-1].Type() != js.TypeFunction {
			// No way to answer: the entry is not this package's protocol.
			panic(fmt.Sprintf("workerserve: serve takes 6 arguments, the last a function; got %d", len(args)))
		}
		reply := args[len(args)-1]
		if len(args) != 6 {
			replyWith(reply, errorResponse(http.StatusInternalServerError, fmt.Sprintf("workerserve: serve takes 6 arguments, got %d", len(args))))
			return nil
		}
		req, err := toRequest(args[:5])
		if err != nil {
			replyWith(reply, errorResponse(http.StatusBadRequest, err.Error()))
			return nil
		}
		go func() {
			if !counted {
				replyWith(reply, run(h, req, log))
				return
			}
			t1 := time.Now()
			res := run(h, req, log)
			t2 := time.Now()
			replyWith(reply, res)
			count(t0, t1, t2)
		}()
		return nil
	})
	binding.Set("serve", serve)
	binding.Call("ready")
	select {}
}

// toRequest reads (method, url, headers, body, io) as the entry passes them.
func toRequest(args []js.Value) (*http.Request, error) {
	if len(args) != 5 {
		return nil, fmt.Errorf("workerserve: a request is 5 values, got %d", len(args))
	}
	method, url, headers, body := args[0].String(), args[1].String(), args[2].String(), args[3]
	ctx := jsio.WithRequest(context.Background(), args[4])
	var b []byte
	if body.Truthy() {
		n := body.Get("length").Int()
		if n > MaxBody {
			return nil, fmt.Errorf("request body of %d bytes is over the limit of %d", n, MaxBody)
		}
		b = make([]byte, n)
		js.CopyBytesToGo(b, body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("workerserve: %w", err)
	}
	if headers != "" {
		lines := strings.Split(headers, "\n")
		if len(lines)%2 != 0 {
			return nil, fmt.Errorf("workerserve: headers: %d lines, not name and value pairs", len(lines))
		}
		for i := 0; i < len(lines); i += 2 {
			req.Header.Add(lines[i], lines[i+1])
		}
	}
	req.Host = req.URL.Host
	// Cloudflare sets CF-Connecting-IP to the client's address and overwrites
	// any such header the client sent; the handlers see it as the peer.
	ip := req.Header.Get("CF-Connecting-IP")
	if net.ParseIP(ip) == nil {
		ip = "127.0.0.1"
	}
	req.RemoteAddr = net.JoinHostPort(ip, "0")
	return req, nil
}

// response is a handler's whole answer. Responses are buffered: the key
// server's are small, apart from stored ciphertexts, which a later change
// serves from R2 directly.
type response struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *response) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func errorResponse(status int, msg string) *response {
	r := &response{status: status, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}}
	r.body.WriteString(msg + "\n")
	return r
}

// run calls h as net/http's server would, a panic included: it is logged and
// answered with 500, and the program goes on serving.
func run(h http.Handler, req *http.Request, log *slog.Logger) (res *response) {
	res = &response{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				res = errorResponse(http.StatusInternalServerError, "aborted")
				return
			}
			log.Error("handler panicked", "method", req.Method, "path", req.URL.Path, "panic", p)
			res = errorResponse(http.StatusInternalServerError, "internal error")
		}
	}()
	h.ServeHTTP(res, req)
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	if res.status == 0 {
		res.status = http.StatusOK
	}
	return res
}

// replyWith hands r to the entry's reply function.
func replyWith(reply js.Value, r *response) {
	var h strings.Builder
	for name, values := range r.header {
		for _, v := range values {
			if h.Len() > 0 {
				h.WriteByte('\n')
			}
			// A line break in a name or value would split it; net/http's
			// server makes them spaces too.
			h.WriteString(lineBreaks.Replace(name))
			h.WriteByte('\n')
			h.WriteString(lineBreaks.Replace(v))
		}
	}
	body := js.Null()
	if r.body.Len() > 0 {
		body = js.Global().Get("Uint8Array").New(r.body.Len())
		js.CopyBytesToJS(body, r.body.Bytes())
	}
	reply.Invoke(r.status, h.String(), body)
}

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// Stats is where the requests' time went in Go, for profiling the Worker (a
// test route reads it): Start is from the entry's call to the handler's
// start (copying the request in, and the wait for Go's scheduler), Handler the
// handler itself, Reply copying the response out. Counting is off unless
// CountRequests(true), as d1batch's is: a served request pays no clock reads.
type Stats struct {
	Requests  int64 `json:"requests"`
	StartNs   int64 `json:"start_ns"`
	HandlerNs int64 `json:"handler_ns"`
	ReplyNs   int64 `json:"reply_ns"`
}

var (
	counting atomic.Bool
	stats    struct{ requests, start, handler, reply atomic.Int64 }
)

// CountRequests turns the counting of Stats on or off.
func CountRequests(on bool) { counting.Store(on) }

func count(t0, t1, t2 time.Time) {
	stats.requests.Add(1)
	stats.start.Add(int64(t1.Sub(t0)))
	stats.handler.Add(int64(t2.Sub(t1)))
	stats.reply.Add(int64(time.Since(t2)))
}

// ReadStats returns the counts so far and, if reset, starts them again from 0.
func ReadStats(reset bool) Stats {
	get := func(v *atomic.Int64) int64 {
		if reset {
			return v.Swap(0)
		}
		return v.Load()
	}
	return Stats{Requests: get(&stats.requests), StartNs: get(&stats.start), HandlerNs: get(&stats.handler), ReplyNs: get(&stats.reply)}
}
