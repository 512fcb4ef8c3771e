package locale

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestShippedCatalogsAreComplete fails on a key one shipped language has and
// another lacks, and on a key nothing uses. A key is used when the source
// names it: Go code and page templates by its full id ("open.title"), the page
// scripts by the rest of a js. id ("code_sent", as the strings reach them),
// error.CODE through the refusal's code (keyserver.Error.MessageKey) and
// month.N through Date.
func TestShippedCatalogsAreComplete(t *testing.T) {
	ids, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "es", "de"} {
		if len(ids[lang]) == 0 {
			t.Fatalf("no %s catalog", lang)
		}
	}
	have := map[string]map[string]bool{}
	all := map[string]bool{}
	for lang, list := range ids {
		have[lang] = map[string]bool{}
		for _, id := range list {
			have[lang][id] = true
			all[id] = true
		}
	}
	for id := range all {
		for lang := range ids {
			if !have[lang][id] {
				t.Errorf("the %s catalog lacks %q", lang, id)
			}
		}
	}

	var goSrc, jsSrc strings.Builder
	root := ".."
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".go"), strings.HasSuffix(p, ".html"):
			b, _ := os.ReadFile(p)
			goSrc.Write(b)
		case strings.HasSuffix(p, ".js") && strings.Contains(filepath.ToSlash(p), "web/static/"):
			b, _ := os.ReadFile(p)
			jsSrc.Write(b)
		}
		return nil
	})
	codes, err := os.ReadFile("../keyserver/api/codes.go")
	if err != nil {
		t.Fatal(err)
	}
	month := regexp.MustCompile(`^month\.([1-9]|1[0-2])$`)
	for id := range all {
		var used bool
		// A script's string or a refusal's sentence ending _nopw is its
		// base's wording on a server without passwords (assets and httpapi
		// put it in the base's place): used where its base is.
		base, nopw := strings.CutSuffix(id, "_nopw")
		if nopw && (strings.HasPrefix(id, "js.") || strings.HasPrefix(id, "error.")) {
			if !all[base] {
				t.Errorf("%q has no %q to stand in for", id, base)
			}
			id = base
		}
		switch {
		case strings.HasPrefix(id, "js."):
			used = strings.Contains(jsSrc.String(), `"`+strings.TrimPrefix(id, "js.")+`"`)
		case strings.HasPrefix(id, "error."):
			used = strings.Contains(string(codes), `"`+strings.TrimPrefix(id, "error.")+`"`)
		case month.MatchString(id), id == "language.name", id == "date.time":
			used = true // Date, Name
		default:
			used = strings.Contains(goSrc.String(), `"`+id+`"`)
		}
		if !used {
			t.Errorf("%q is in the catalogs but nothing uses it", id)
		}
	}
}

// TestNoKeyTwice fails on a message id that two shipped files of one language
// both define: one of them silently wins (the last file read), so the other
// is text nobody sees.
func TestNoKeyTwice(t *testing.T) {
	entries, err := fs.Glob(shipped, "catalog/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{} // language and id: the file
	b := newBundle()
	for _, p := range entries {
		data, err := shipped.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := b.ParseMessageFileBytes(data, path(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mf.Messages {
			k := LanguageOf(p) + " " + m.ID
			if first, ok := where[k]; ok {
				t.Errorf("%s is in %s and in %s", m.ID, first, p)
			}
			where[k] = p
		}
	}
}
