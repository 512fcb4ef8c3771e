package assets

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The Worker's pages name the files its static assets serve exactly as
// `waxseal serve`'s do, and it serves none of them itself.
func TestServedElsewhere(t *testing.T) {
	full, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	// As in the Worker's build: no decryptor of its own, one in the list.
	set := withoutDecryptor(full)
	list := append(set.Statics(), fakeDecryptor)
	// CheckStatic reads this build's own files, with the decryptor when
	// `make wasm` made one (go test may run before it).
	own := full.Statics()
	if !full.HasDecryptor() {
		own = append(own, fakeDecryptor)
	}
	if err := CheckStatic(own); err != nil {
		t.Fatalf("CheckStatic of this build's list: %v", err)
	}
	stale := own
	stale[0].URL = "/static/stale.000000000000.js"
	if err := CheckStatic(stale); err == nil || !strings.Contains(err.Error(), "the uploaded files are not this build's") {
		t.Fatalf("CheckStatic of a stale list: %v", err)
	}
	elsewhere, err := set.ServedElsewhere(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		a := elsewhere.Get(st.Name)
		if a == nil || a.URL != st.URL || a.Integrity != st.Integrity || a.Type != st.Type {
			t.Errorf("%s: %+v, want %+v", st.Name, a, st)
		}
		rec := httptest.NewRecorder()
		elsewhere.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, st.URL, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: served with %d, want 404 (someone else serves it)", st.URL, rec.Code)
		}
	}
	var page strings.Builder
	if err := elsewhere.Execute(&page, "en", "open.html", map[string]any{"Mode": "online", "ID": "x"}); err != nil {
		t.Fatal(err)
	}
	dec := elsewhere.Get("waxseal.wasm")
	if !strings.Contains(page.String(), `data-wasm="`+dec.URL+`" data-wasm-integrity="`+dec.Integrity+`"`) {
		t.Errorf("the open page does not load the listed decryptor %s:\n%s", dec.URL, page.String())
	}
	// The set it came from is unchanged.
	rec := httptest.NewRecorder()
	app := full.Get("app.js")
	full.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, app.URL, nil))
	if rec.Code != http.StatusOK {
		t.Errorf("the original set: %s served with %d", app.URL, rec.Code)
	}
}

func TestServedElsewhereRefuses(t *testing.T) {
	full, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	set := withoutDecryptor(full)
	base := func() []Static { return append(set.Statics(), fakeDecryptor) }
	at := func(l []Static, name string) *Static {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
		t.Fatalf("%s not listed", name)
		return nil
	}
	for _, c := range []struct {
		name   string
		change func([]Static) []Static
		want   string
	}{
		{"another build's script", func(l []Static) []Static {
			at(l, "app.js").URL = "/static/app.000000000000.js"
			return l
		}, "static files: app.js is " + set.Get("app.js").URL + " here but /static/app.000000000000.js where they are served"},
		{"another integrity", func(l []Static) []Static {
			at(l, "style.css").Integrity = fakeDecryptor.Integrity
			return l
		}, "static files: style.css is"},
		{"a file the build does not have", func(l []Static) []Static {
			return append(l, Static{Name: "logo", URL: "/static/logo.0123456789ab.svg", Integrity: fakeDecryptor.Integrity, Type: "image/svg+xml"})
		}, "static files: logo is not a file of this build"},
		{"an escaped dot-dot", func(l []Static) []Static {
			at(l, "waxseal.wasm").URL = "/static/%2e%2e/admin"
			return l
		}, "is not a complete entry"},
		{"an integrity of the wrong length", func(l []Static) []Static {
			at(l, "waxseal.wasm").Integrity = "sha384-AAAA"
			return l
		}, "is not a complete entry"},
		{"a script left out", without("console.js"), "static files: not listed: console.js"},
		{"no decryptor", without("waxseal.wasm"), "static files: not listed: waxseal.wasm"}, // once
		{"listed twice", func(l []Static) []Static { return append(l, *at(l, "api.js")) }, "static files: api.js listed twice"},
		{"outside /static/", func(l []Static) []Static {
			at(l, "waxseal.wasm").URL = "/static/../admin"
			return l
		}, "is not a complete entry"},
		{"no integrity", func(l []Static) []Static {
			at(l, "waxseal.wasm").Integrity = ""
			return l
		}, "is not a complete entry"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := set.ServedElsewhere(c.change(base()))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Count(err.Error(), "waxseal.wasm") > 1 {
				t.Errorf("err = %v: names the decryptor twice", err)
			}
		})
	}
}

// without returns a change that leaves the file called name out of a list.
func without(name string) func([]Static) []Static {
	return func(l []Static) []Static {
		out := l[:0]
		for _, x := range l {
			if x.Name != name {
				out = append(out, x)
			}
		}
		return out
	}
}

// fakeDecryptor is a list's entry for a decryptor the build does not hold.
var fakeDecryptor = Static{Name: "waxseal.wasm", URL: "/static/waxseal.0123456789ab.wasm",
	Integrity: "sha384-" + strings.Repeat("A", 64), Type: "application/wasm"}

// withoutDecryptor is s as the Worker's build has it.
func withoutDecryptor(s *Set) *Set {
	out := *s
	out.byName, out.byURL = maps.Clone(s.byName), maps.Clone(s.byURL)
	if a := out.byName[decryptor]; a != nil {
		delete(out.byName, decryptor)
		delete(out.byURL, a.URL)
	}
	return &out
}
