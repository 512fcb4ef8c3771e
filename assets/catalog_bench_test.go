package assets

import (
	"html/template"
	"io"
	"os"
	"testing"
)

// BenchmarkCatalogLookups renders the open page as it is now (every word a
// catalog lookup, in English and in German) beside the same page as it was
// before the catalogs (testdata/before: the templates with their English
// words written in), in the same run. docs/BENCHMARKS.md has the ratio.
func BenchmarkCatalogLookups(b *testing.B) {
	set, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	before, err := template.New("").Funcs(template.FuncMap{
		"asset": func(name string) *Asset { return set.byName[name] },
		"brand": func() *pageBrand { return nil },
	}).ParseFS(os.DirFS("testdata/before"), "*.html")
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]any{
		"Mode": "post", "ID": "abababababababababababababababab", "Held": "held-token", "Fields": nil, "Reply": nil, "Back": "/open/abababababababababababababababab",
		"Limits": map[string]any{"CodeValid": "10 minutes", "PasswordMin": 10},
	}
	b.Run("page=open/before", func(b *testing.B) {
		for b.Loop() {
			if err := before.ExecuteTemplate(io.Discard, "open.html", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, lang := range []string{"en", "de"} {
		b.Run("page=open/catalog="+lang, func(b *testing.B) {
			for b.Loop() {
				if err := set.Execute(io.Discard, lang, "open.html", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
