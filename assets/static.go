package assets

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Static is what a page needs to know of a static file served by someone
// else (a Cloudflare Worker's static assets): its name, hashed URL path,
// integrity and type. `make worker` writes the list (internal/tools/workerassets)
// beside the files it uploads, and the Worker reads it back (ServedElsewhere).
type Static struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Integrity string `json:"integrity"`
	Type      string `json:"type"`
}

// Statics lists s's static files as Static, by name.
func (s *Set) Statics() []Static {
	var out []Static
	for _, a := range s.All() {
		out = append(out, Static{Name: a.Name, URL: a.URL, Integrity: a.Integrity, Type: a.Type})
	}
	return out
}

// ServedElsewhere returns a Set whose pages load the static files listed,
// which someone else serves: s serves none of them (ServeHTTP answers 404).
// A file s has itself (the scripts and styles the pages name their messages
// from) must be listed with s's own URL and integrity: a page would otherwise
// load a file that was not uploaded, or refuse it for its integrity. Every
// file of s must be listed, and the decryptor, which the Worker's build does
// not hold, must be.
func (s *Set) ServedElsewhere(list []Static) (*Set, error) {
	out := *s
	out.byName, out.byURL = map[string]*Asset{}, map[string]*Asset{}
	for _, st := range list {
		if st.Name == "" || !strings.HasPrefix(st.URL, "/static/") || path.Clean(st.URL) != st.URL ||
			!strings.HasPrefix(st.Integrity, "sha384-") || st.Type == "" {
			return nil, fmt.Errorf("static files: %+v is not a complete entry", st)
		}
		if own := s.byName[st.Name]; own != nil && (own.URL != st.URL || own.Integrity != st.Integrity) {
			return nil, fmt.Errorf("static files: %s is %s here but %s where they are served: the uploaded files are not this build's (run `make worker` and deploy both)", st.Name, own.URL, st.URL)
		}
		if out.byName[st.Name] != nil {
			return nil, fmt.Errorf("static files: %s listed twice", st.Name)
		}
		a := &Asset{Name: st.Name, URL: st.URL, Integrity: st.Integrity, Type: st.Type}
		out.byName[a.Name], out.byURL[a.URL] = a, a
	}
	var missing []string
	for name := range s.byName {
		if out.byName[name] == nil {
			missing = append(missing, name)
		}
	}
	if out.byName[decryptor] == nil {
		missing = append(missing, decryptor)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("static files: not listed: %s", strings.Join(missing, ", "))
	}
	var err error
	if out.pages, err = parseAll(&out, nil); err != nil {
		return nil, err
	}
	return &out, nil
}

// decryptor is the browser decryptor's file name.
const decryptor = "waxseal.wasm"

// HasDecryptor reports whether s holds the decryptor (a build made after
// `make wasm`).
func (s *Set) HasDecryptor() bool { return s.byName[decryptor] != nil }
