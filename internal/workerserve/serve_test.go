//go:build js && wasm

package workerserve

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall/js"
	"testing"
)

func uint8Array(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

func headers(pairs ...[2]string) js.Value {
	a := js.Global().Get("Array").New()
	for _, p := range pairs {
		a.Call("push", js.ValueOf([]any{p[0], p[1]}))
	}
	return a
}

func TestToRequest(t *testing.T) {
	body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	req, err := toRequest([]js.Value{
		js.ValueOf("PUT"), js.ValueOf("https://keys.example/api/v1/x?a=1&b=%C3%A9"),
		headers([2]string{"X-Two", "one"}, [2]string{"X-Two", "two"}, [2]string{"CF-Connecting-IP", "2001:db8::7"}),
		uint8Array(body),
	})
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "PUT" || req.URL.Path != "/api/v1/x" || req.URL.RawQuery != "a=1&b=%C3%A9" || req.Host != "keys.example" {
		t.Errorf("request line: %s %s (host %q)", req.Method, req.URL, req.Host)
	}
	if got := req.Header.Values("X-Two"); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("X-Two = %q, want [one two]", got)
	}
	if req.RemoteAddr != "[2001:db8::7]:0" {
		t.Errorf("RemoteAddr = %q, want the CF-Connecting-IP address", req.RemoteAddr)
	}
	got, _ := io.ReadAll(req.Body)
	if !bytes.Equal(got, body) {
		t.Errorf("body: got %d bytes, want %d", len(got), len(body))
	}
}

func TestToRequestWithoutClientAddressOrBody(t *testing.T) {
	req, err := toRequest([]js.Value{js.ValueOf("GET"), js.ValueOf("http://localhost:8787/"),
		headers([2]string{"CF-Connecting-IP", "not an address"}), js.Null()})
	if err != nil {
		t.Fatal(err)
	}
	if req.RemoteAddr != "127.0.0.1:0" {
		t.Errorf("RemoteAddr = %q, want 127.0.0.1:0", req.RemoteAddr)
	}
	if got, _ := io.ReadAll(req.Body); len(got) != 0 {
		t.Errorf("body = %q, want none", got)
	}
}

func TestToRequestRefusesLargeBody(t *testing.T) {
	// Only the length is read before the refusal: a plain object stands in for
	// a Uint8Array of that length.
	big := js.Global().Get("Object").New()
	big.Set("length", MaxBody+1)
	_, err := toRequest([]js.Value{js.ValueOf("POST"), js.ValueOf("http://localhost/"), headers(), big})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("err = %v, want the body refused as over the limit", err)
	}
	if _, err := toRequest([]js.Value{js.ValueOf("GET")}); err == nil {
		t.Fatal("toRequest accepted one argument")
	}
}

func TestRunRecoversFromPanic(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	req, _ := http.NewRequest("GET", "http://localhost/boom", nil)
	res := run(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), req, log)
	if res.status != http.StatusInternalServerError || res.body.String() != "internal error\n" {
		t.Errorf("after a panic: %d %q, want 500 internal error", res.status, res.body.String())
	}
	res = run(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), req, log)
	if res.status != http.StatusOK {
		t.Errorf("a handler that writes nothing: status %d, want 200", res.status)
	}
}

func TestToJSResponse(t *testing.T) {
	r := &response{status: http.StatusCreated, header: http.Header{"Set-Cookie": {"a=1", "b=2"}}}
	r.body.WriteString("hello")
	v := toJSResponse(r)
	if v.Get("status").Int() != http.StatusCreated {
		t.Errorf("status = %d", v.Get("status").Int())
	}
	h := v.Get("headers")
	var cookies []string
	for i := 0; i < h.Length(); i++ {
		if h.Index(i).Index(0).String() == "Set-Cookie" {
			cookies = append(cookies, h.Index(i).Index(1).String())
		}
	}
	if len(cookies) != 2 || cookies[0] != "a=1" || cookies[1] != "b=2" {
		t.Errorf("Set-Cookie pairs = %q, want [a=1 b=2]", cookies)
	}
	b := make([]byte, v.Get("body").Length())
	js.CopyBytesToGo(b, v.Get("body"))
	if string(b) != "hello" {
		t.Errorf("body = %q", b)
	}
	if empty := toJSResponse(&response{status: http.StatusNoContent, header: http.Header{}}); !empty.Get("body").IsNull() {
		t.Error("an empty body should be null")
	}
}
