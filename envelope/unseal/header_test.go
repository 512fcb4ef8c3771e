package unseal

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/envelope/internal/detail"
)

const goodHeader = `{"v":1,"id":"000102030405060708090a0b0c0d0e0f","keyserver":"https://keys.hospital.example","from":"Alice <alice@hospital.example>","to":"bob@patient.example","subject":"Lab results","created":"2026-11-22T13:09:59Z","size":42}`

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader([]byte(goodHeader))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Version: 1, ID: ID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, KeyServer: "https://keys.hospital.example",
		From: "Alice <alice@hospital.example>", To: "bob@patient.example", Subject: "Lab results", Created: "2026-11-22T13:09:59Z", Size: 42}
	if *h != want {
		t.Errorf("got %+v\nwant %+v", *h, want)
	}
}

// TestParseHeaderEdits changes one thing in a good header and checks the outcome:
// "" for success, else text the error must contain.
func TestParseHeaderEdits(t *testing.T) {
	tests := []struct{ name, old, new, want string }{
		{"unknown fields are skipped", `"size":42`, `"size":42,"x":{"a":[1,-2.5e3,true,false,null,"s\u00e9"]},"y":[]`, ""},
		{"whitespace", `{"v":1,`, " {\r\n\t\"v\" : 1 ,", ""},
		{"escapes", `"Lab results"`, `"Lab \"r\u00e9sults\" \ud83d\ude00 \/ \\"`, ""},
		{"expires", `"size":42`, `"size":42,"expires":"2027-02-28T00:00:00Z"`, ""},
		{"version 2", `"v":1`, `"v":2`, "unsupported envelope version: 2"},
		{"version checked first", `"v":1,"id":"000102030405060708090a0b0c0d0e0f"`, `"v":2,"id":"x"`, "unsupported envelope version"},
		{"version as string", `"v":1`, `"v":"1"`, "v: want a number"},
		{"fractional version", `"v":1`, `"v":1.0`, "v: want an integer"},
		{"duplicate field", `"size":42`, `"size":42,"size":1`, `field "size" appears twice`},
		{"null", `"size":42`, `"size":42,"expires":null`, "expires: want a string"},
		{"trailing data", `"size":42}`, `"size":42}{}`, "data after the object"},
		{"trailing comma", `"size":42}`, `"size":42,}`, "name: want a string"},
		{"lone surrogate", `"Lab results"`, `"\ud83d"`, "lone surrogate"},
		{"invalid UTF-8", `"Lab results"`, "\"Lab \xff\"", "invalid UTF-8"},
		{"control character", `"Lab results"`, "\"Lab\tresults\"", "control character"},
		{"line break in subject", `"Lab results"`, `"Lab\nresults"`, "subject contains a line break"},
		{"negative size", `"size":42`, `"size":-1`, "negative size -1"},
		{"huge size", `"size":42`, `"size":99999999999999999999`, "size: out of range"},
		{"leading zero", `"size":42`, `"size":042`, "want ',' or '}'"},
		{"created with offset", `13:09:59Z`, `13:09:59+01:00`, "created"},
		{"created with fraction", `13:09:59Z`, `13:09:59.5Z`, "created"},
		{"31 February", `2026-11-22T`, `2026-02-31T`, "created"},
		{"no created", `,"created":"2026-11-22T13:09:59Z"`, ``, "header: no created"},
		{"no size", `,"size":42`, ``, "header: no size"},
		{"uppercase id", `0a0b0c0d0e0f"`, `0A0B0C0D0E0F"`, "lowercase hex"},
		{"http key server", `https://keys.hospital.example`, `http://keys.hospital.example`, "want https"},
		{"path after the key server", `hospital.example"`, `hospital.example/"`, "want scheme://host"},
		{"deep nesting", `"size":42`, `"size":42,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(goodHeader, tt.old) {
				t.Fatalf("%q is not in the header", tt.old)
			}
			_, err := ParseHeader([]byte(strings.Replace(goodHeader, tt.old, tt.new, 1)))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v, want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			case err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedVersion):
				t.Errorf("error %v is neither ErrMalformed nor ErrUnsupportedVersion", err)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	good := []string{"https://keys.hospital.example", "https://keys.hospital.example:8443", "http://localhost:8080",
		"http://127.0.0.1:9", "http://[::1]:8080", "http://a.localhost", "https://[2001:db8::1]"}
	bad := []string{"", "keys.hospital.example", "https://", "https://Keys.hospital.example", "https://keys.hospital.example/",
		"https://user@keys.hospital.example", "http://keys.hospital.example", "http://127.0.0.256", "http://128.0.0.1",
		"https://keys.hospital.example:0", "https://keys.hospital.example:08443", "https://keys.hospital.example:65536",
		"ftp://keys.hospital.example", "https://[]", "https://[::1", "https://keys.hospital.example?x", "https://keys.hospital.example#x"}
	for _, s := range good {
		if err := CheckOrigin(s); err != nil {
			t.Errorf("CheckOrigin(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := CheckOrigin(s); err == nil {
			t.Errorf("CheckOrigin(%q) = nil, want an error", s)
		}
	}
}

// FuzzParseHeader checks the hand-written reader against encoding/json: whatever it
// accepts, encoding/json reads to the same values.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(goodHeader))
	f.Add([]byte(`{"v":1,"x":[{"y":"\u0041"}],"id":"ff"}`))
	f.Add([]byte(`{"v":1e0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		// Into a map: encoding/json matches struct fields case-insensitively, which
		// the format (and JSON.parse) does not.
		var std map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&std); err != nil {
			t.Fatalf("unseal accepted what encoding/json refuses (%v): %q", err, b)
		}
		str := func(k string) string { s, _ := std[k].(string); return s }
		num := func(k string) string { n, _ := std[k].(json.Number); return string(n) }
		got := []string{detail.Int(h.Version), h.ID.String(), h.KeyServer, h.From, h.To, h.Subject, h.Created, h.Expires, detail.Int(h.Size)}
		want := []string{num("v"), str("id"), str("keyserver"), str("from"), str("to"), str("subject"), str("created"), str("expires"), num("size")}
		if !slices.Equal(got, want) {
			t.Fatalf("unseal read %q, encoding/json %q from %q", got, want, b)
		}
	})
}
