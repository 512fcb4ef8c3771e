// Package assets holds the key server's web files: pages, style, the open page's
// script, wasm_exec.js and the browser decryptor. Static files are served under
// content-hashed names with immutable caching and Subresource Integrity, and in
// the best compression the browser accepts.
package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/waxseal/waxseal/locale"
)

// Asset is one static file.
type Asset struct {
	Name      string // e.g. "app.js"
	URL       string // e.g. "/static/app.3f2a1b0c.js"
	Integrity string // "sha384-…", for <script integrity> and fetch()
	Type      string
	raw, br   []byte
	// gz is made on first use: a Worker, whose static files Cloudflare
	// serves (ServedElsewhere), never uses it, and each of its isolates
	// would otherwise compress every script at its start.
	gz     func() []byte
	served bool // false: the bytes are served by someone else (ServedElsewhere)
}

// Set is the static files, indexed by name and by hashed URL path.
type Set struct {
	byName map[string]*Asset
	byURL  map[string]*Asset
	// pages are the page templates, parsed once per language (a page's words
	// come from its language's catalog through the template function t),
	// when first rendered: a Set only passed on to Branded or ServedElsewhere,
	// which make their own, is never parsed (on a Worker's isolate, a parse is
	// tens of milliseconds of its first page).
	pages   func() (map[string]*template.Template, error)
	locales *locale.Catalogs
	// scriptKeys are, by page (a file in web/), the ids (without "js.") of
	// the messages its scripts name: what its data-strings carries.
	scriptKeys map[string]map[string]bool
}

// Load reads the embedded files. Precompressed siblings (NAME.gz, NAME.br, made by
// `make wasm`) are used as they are; other files are gzipped when first served.
func Load() (*Set, error) {
	static, err := embeddedFiles()
	if err != nil {
		return nil, err
	}
	s := &Set{byName: maps.Clone(static.byName), byURL: maps.Clone(static.byURL)}
	if s.locales, err = locale.Load(""); err != nil {
		return nil, err
	}
	if s.scriptKeys, err = pageScriptKeys(); err != nil {
		return nil, err
	}
	s.pages = parseLater(s, nil)
	return s, nil
}

// parseLater parses the pages of s with brand b on first use, once.
func parseLater(s *Set, b *pageBrand) func() (map[string]*template.Template, error) {
	return sync.OnceValues(func() (map[string]*template.Template, error) { return parseAll(s, b) })
}

// embeddedFiles are the static files, read and hashed once: the Worker checks
// its list of them at start (CheckStatic) and loads them again on its first
// page (Load). Their Assets never change; each Set has its own maps.
var embeddedFiles = sync.OnceValues(loadFiles)

// loadFiles is Load's static files, without the pages.
func loadFiles() (*Set, error) {
	s := &Set{byName: map[string]*Asset{}, byURL: map[string]*Asset{}}
	err := fs.WalkDir(files, "web/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") || strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".sum") {
			return err
		}
		raw, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		sum := sha256.Sum256(raw)
		ext := path.Ext(name)
		a := &Asset{
			Name:      name,
			URL:       "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
			Integrity: integrity(raw),
			Type:      typeOf(ext),
			raw:       raw,
			served:    true,
		}
		a.br, _ = files.ReadFile(p + ".br")
		if gz, err := files.ReadFile(p + ".gz"); err == nil {
			a.gz = func() []byte { return gz }
		} else {
			a.gz = sync.OnceValue(func() []byte { return gzipBytes(raw) })
		}
		s.byName[name] = a
		s.byURL[a.URL] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseAll parses the pages of s in each of its languages.
func parseAll(s *Set, b *pageBrand) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, l := range s.locales.Languages() {
		t, err := parsePages(s, b, l)
		if err != nil {
			return nil, fmt.Errorf("pages in %s: %w", l.Code(), err)
		}
		out[l.Code()] = t
	}
	return out, nil
}

// parsePages parses the page templates of s; brand is what their shared header
// and footer show (nil: no brand). The brand does not change while the server
// runs, so its parts (web/brand.html) are rendered once here and put into the
// pages as fixed text: a page with a brand costs what one without does
// (BenchmarkPageRender).
func parsePages(s *Set, b *pageBrand, l *locale.Locale) (*template.Template, error) {
	// The scripts' strings do not change while the server runs: JSON once per
	// page, and once more as a server without passwords says them.
	all := l.Strings("js.")
	noPw := stringsWithoutPasswords(all)
	js, jsNoPw := map[string]string{}, map[string]string{}
	for page, keys := range s.scriptKeys {
		var err error
		if js[page], err = scriptStrings(all, keys); err != nil {
			return nil, err
		}
		if jsNoPw[page], err = scriptStrings(noPw, keys); err != nil {
			return nil, err
		}
	}
	parse := func() (*template.Template, error) {
		t := template.New("").Funcs(template.FuncMap{
			"asset": func(name string) *Asset { return s.byName[name] },
			"brand": func() *pageBrand { return b },
			// t is the page's language's message id (with name/value pairs
			// for a message's {{.Name}}s); lang that language, languages all
			// offered, for the language switcher.
			"t":         l.T,
			"lang":      func() *locale.Locale { return l },
			"languages": s.locales.Languages,
		})
		return t, parseLocalized(t, l, js, jsNoPw)
	}
	if b == nil {
		return parse()
	}
	parts, err := parse()
	if err != nil {
		return nil, err
	}
	render := func(name string, arg any) (string, error) {
		var out strings.Builder
		err := parts.ExecuteTemplate(&out, name, arg)
		return out.String(), err
	}
	head, err := render("brand-head-src", nil)
	if err != nil {
		return nil, err
	}
	footer, err := render("brand-footer-src", nil)
	if err != nil {
		return nil, err
	}
	// The mark holds each page's own words: rendered around a placeholder,
	// which the page's template fills.
	const placeholder = "WAXSEAL-BRAND-LABEL"
	mark, err := render("brand-mark-src", placeholder)
	if err != nil {
		return nil, err
	}
	before, after, ok := strings.Cut(mark, placeholder)
	if !ok {
		return nil, errors.New("web/brand.html: brand-mark-src does not show its label")
	}
	pages, err := parse()
	if err != nil {
		return nil, err
	}
	// Rendered HTML holds no NUL (brand texts refuse control characters), so
	// these delimiters cannot occur in it.
	const dl, dr = "\x00[", "]\x00"
	for name, src := range map[string]string{
		"brand-head":   head,
		"brand-footer": footer,
		"brand-mark":   before + dl + "." + dr + after,
		"brand-title":  " \u2013 " + html.EscapeString(b.Name),
	} {
		if _, err := pages.New(name).Delims(dl, dr).Parse(src); err != nil {
			return nil, fmt.Errorf("brand %s: %w", name, err)
		}
	}
	return pages, nil
}

// plainT is a catalog call without arguments in a page template.
var plainT = regexp.MustCompile(`\{\{t "([A-Za-z0-9_.]+)"\}\}`)

// parseLocalized parses web/*.html into t with each plain {{t "id"}} already
// replaced by its message in l, escaped for HTML (text or a quoted attribute,
// the only places the pages use it), and {{strings}} by the strings of the
// page's scripts (js, JSON, by page) likewise, {{strings_nopw}} by those of a
// server without passwords (jsNoPw): a message costs a page render nothing.
// Calls with arguments (plurals) stay calls.
func parseLocalized(t *template.Template, l *locale.Locale, js, jsNoPw map[string]string) error {
	names, err := fs.Glob(files, "web/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		src, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		text := plainT.ReplaceAllStringFunc(string(src), func(call string) string {
			return html.EscapeString(l.T(plainT.FindStringSubmatch(call)[1]))
		})
		page := path.Base(name)
		if strings.Contains(text, "{{strings") && js[page] == "" {
			return fmt.Errorf("%s: data-strings, but no scripts", name)
		}
		text = strings.ReplaceAll(text, "{{strings_noreply}}", html.EscapeString(js[page+noReply]))
		text = strings.ReplaceAll(text, "{{strings_nopw_noreply}}", html.EscapeString(jsNoPw[page+noReply]))
		text = strings.ReplaceAll(text, "{{strings}}", html.EscapeString(js[page]))
		text = strings.ReplaceAll(text, "{{strings_nopw}}", html.EscapeString(jsNoPw[page]))
		if _, err := t.New(page).Parse(text); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// pageScript finds the scripts a page template loads ({{with asset "x.js"}}),
// and whether it loads one only when secure replies are on ({{if .Reply}}
// before it).
var pageScript = regexp.MustCompile(`(\{\{if \.Reply\}\})?\{\{with asset "([A-Za-z0-9_.-]+\.js)"\}\}`)

// noReply names a page's script strings without those of the scripts it
// loads only when secure replies are on ({{strings_noreply}}).
const noReply = " noreply"

// scriptLiteral finds a script's string literals that could be a message id.
var scriptLiteral = regexp.MustCompile(`"([a-z][a-z0-9_]*)"|'([a-z][a-z0-9_]*)'`)

// pageScriptKeys finds, for each page in web/, the message ids its scripts
// name: every string literal of a script the page loads is taken for an id
// (the scripts write each id whole, as a literal, even where a map or a
// ternary chooses it: TestScriptKeysAreLiterals), and the page ships the
// catalog's js.* messages of those ids only, not the whole catalog's (18–21
// KB, more than half of the open page). A literal that is no id costs
// nothing: it matches no message.
func pageScriptKeys() (map[string]map[string]bool, error) {
	names, err := fs.Glob(files, "web/*.html")
	if err != nil {
		return nil, err
	}
	literals := map[string]map[string]bool{} // by script
	out := map[string]map[string]bool{}
	for _, name := range names {
		src, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		scripts := pageScript.FindAllStringSubmatch(string(src), -1)
		if len(scripts) == 0 {
			continue
		}
		keys, always := map[string]bool{}, map[string]bool{}
		for _, m := range scripts {
			script := m[2]
			if script == "wasm_exec.js" {
				continue // Go's WebAssembly runtime: it shows no one anything
			}
			if literals[script] == nil {
				js, err := files.ReadFile("web/static/" + script)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				literals[script] = map[string]bool{}
				for _, lit := range scriptLiteral.FindAllStringSubmatch(string(js), -1) {
					literals[script][lit[1]+lit[2]] = true
				}
			}
			maps.Copy(keys, literals[script])
			if m[1] == "" {
				maps.Copy(always, literals[script])
			}
		}
		out[path.Base(name)] = keys
		out[path.Base(name)+noReply] = always
	}
	return out, nil
}

// scriptStrings is the JSON of the messages of all (ids without "js.") that
// keys names.
func scriptStrings(all map[string]string, keys map[string]bool) (string, error) {
	out := map[string]string{}
	for id := range keys {
		if s, ok := all[id]; ok {
			out[id] = s
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// stringsWithoutPasswords are the scripts' strings (ids without "js.") as a
// server that does not use passwords (the Worker) says them: a string with a
// sibling ID_nopw is said as that sibling, and one whose id names a password
// (password, _pw) and has no such sibling belongs to a password form or
// action those pages do not have, so it is left out. The pages then carry no
// word of passwords, not even in strings their scripts never show.
func stringsWithoutPasswords(all map[string]string) map[string]string {
	out := make(map[string]string, len(all))
	for id, s := range all {
		if strings.HasSuffix(id, noPwSuffix) {
			continue
		}
		if alt, ok := all[id+noPwSuffix]; ok {
			out[id] = alt
		} else if !namesPassword(id) {
			out[id] = s
		}
	}
	return out
}

// noPwSuffix ends the id of a message's wording for a server without passwords.
const noPwSuffix = "_nopw"

func namesPassword(id string) bool {
	return strings.Contains(id, "password") || strings.HasSuffix(id, "_pw")
}

// typeOf is a static file's Content-Type, by its extension.
func typeOf(ext string) string {
	if ext == ".wasm" {
		return "application/wasm"
	}
	return mime.TypeByExtension(ext)
}

func gzipBytes(raw []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	return b.Bytes()
}

func integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// All returns every static file, by name.
func (s *Set) All() []*Asset {
	out := make([]*Asset, 0, len(s.byName))
	for _, a := range s.byName {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ByURL returns the asset served at the URL path p (/static/NAME.HASH.EXT), or nil.
func (s *Set) ByURL(p string) *Asset { return s.byURL[p] }

// Raw is the file's content as embedded. What a key server serves must be these
// bytes, in whatever encoding (waxseal admin check-assets).
func (a *Asset) Raw() []byte { return a.raw }

// Get returns the asset called name, or nil (the decryptor is missing from a build
// made without `make wasm`).
func (s *Set) Get(name string) *Asset { return s.byName[name] }

// ServeHTTP serves /static/NAME.HASH.EXT. A hashed name never changes content, so
// it may be cached for a year without revalidation.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s.byURL[r.URL.Path]
	if !ok || !a.served {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.Type)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	if a.Type == "image/svg+xml" {
		// A logo opened on its own is a document: nothing in it may run or load.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	body := a.raw
	switch accept := r.Header.Get("Accept-Encoding"); {
	case a.br != nil && acceptsEncoding(accept, "br"):
		h.Set("Content-Encoding", "br")
		body = a.br
	case acceptsEncoding(accept, "gzip"):
		h.Set("Content-Encoding", "gzip")
		body = a.gz()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// acceptsEncoding reports whether an Accept-Encoding header allows enc (any q
// other than 0).
func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}

// Locales are the languages the pages are in.
func (s *Set) Locales() *locale.Catalogs { return s.locales }

// pagesIn are the pages in language lang, or in English when it is not offered.
func (s *Set) pagesIn(lang string) (*template.Template, error) {
	pages, err := s.pages()
	if err != nil {
		return nil, err
	}
	if t, ok := pages[lang]; ok {
		return t, nil
	}
	return pages[locale.Default], nil
}

// Execute runs the page template called name (a file in web/) in language lang
// into w.
func (s *Set) Execute(w io.Writer, lang, name string, data any) error {
	t, err := s.pagesIn(lang)
	if err != nil {
		return err
	}
	return t.ExecuteTemplate(w, name, data)
}

// Render writes the page called name (a file in web/) in language lang with data.
func (s *Set) Render(w http.ResponseWriter, status int, lang, name string, data any) error {
	t, err := s.pagesIn(lang)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return err
	}
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(b.Bytes())
	return err
}
