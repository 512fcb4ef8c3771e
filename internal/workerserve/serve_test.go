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

// headers is what the entry passes: names and values on lines of their own.
func headers(pairs ...[2]string) js.Value {
	var lines []string
	for _, p := range pairs {
		lines = append(lines, p[0], p[1])
	}
	return js.ValueOf(strings.Join(lines, "\n"))
}

func TestToRequest(t *testing.T) {
	body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)
	req, err := toRequest([]js.Value{
		js.ValueOf("PUT"), js.ValueOf("https://keys.example/api/v1/x?a=1&b=%C3%A9"),
		headers([2]string{"X-Two", "one"}, [2]string{"X-Two", "two"}, [2]string{"CF-Connecting-IP", "2001:db8::7"}),
		uint8Array(body), js.Null(),
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
		headers([2]string{"CF-Connecting-IP", "not an address"}), js.Null(), js.Undefined()})
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
	_, err := toRequest([]js.Value{js.ValueOf("POST"), js.ValueOf("http://localhost/"), headers(), big, js.Null()})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("err = %v, want the body refused as over the limit", err)
	}
	if _, err := toRequest([]js.Value{js.ValueOf("GET")}); err == nil {
		t.Fatal("toRequest accepted one argument")
	}
	if _, err := toRequest([]js.Value{js.ValueOf("GET"), js.ValueOf("http://localhost/"), js.ValueOf("X-One"), js.Null(), js.Null()}); err == nil ||
		!strings.Contains(err.Error(), "not name and value pairs") {
		t.Fatalf("a name without its value: err = %v", err)
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

// replied calls replyWith(r) and returns what reply was called with.
func replied(t *testing.T, r *response) (status int, headers string, body js.Value) {
	t.Helper()
	calls := 0
	reply := js.FuncOf(func(_ js.Value, a []js.Value) any {
		calls++
		status, headers, body = a[0].Int(), a[1].String(), a[2]
		return nil
	})
	defer reply.Release()
	replyWith(reply.Value, r)
	if calls != 1 {
		t.Fatalf("reply called %d times, want once", calls)
	}
	return status, headers, body
}

func TestReplyWith(t *testing.T) {
	r := &response{status: http.StatusCreated, header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Split": {"one\r\ntwo"}}}
	r.body.WriteString("hello")
	status, h, body := replied(t, r)
	if status != http.StatusCreated {
		t.Errorf("status = %d", status)
	}
	lines := strings.Split(h, "\n")
	if len(lines) != 6 {
		t.Fatalf("headers = %q, want 3 name and value pairs", h)
	}
	var cookies []string
	for i := 0; i < len(lines); i += 2 {
		switch lines[i] {
		case "Set-Cookie":
			cookies = append(cookies, lines[i+1])
		case "X-Split":
			if lines[i+1] != "one  two" {
				t.Errorf("X-Split = %q, want its line break made spaces", lines[i+1])
			}
		}
	}
	if len(cookies) != 2 || cookies[0] != "a=1" || cookies[1] != "b=2" {
		t.Errorf("Set-Cookie values = %q, want [a=1 b=2]", cookies)
	}
	b := make([]byte, body.Length())
	js.CopyBytesToGo(b, body)
	if string(b) != "hello" {
		t.Errorf("body = %q", b)
	}
	if _, h, body := replied(t, &response{status: http.StatusNoContent, header: http.Header{}}); !body.IsNull() || h != "" {
		t.Errorf("an empty answer: headers %q, body %v; want none and null", h, body)
	}
}
