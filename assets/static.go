package assets

import (
	"encoding/base64"
	"fmt"
	"regexp"
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
// The list must be what CheckStatic accepts.
func (s *Set) ServedElsewhere(list []Static) (*Set, error) {
	if err := checkStatic(s, list); err != nil {
		return nil, err
	}
	out := *s
	out.byName, out.byURL = map[string]*Asset{}, map[string]*Asset{}
	for _, st := range list {
		a := &Asset{Name: st.Name, URL: st.URL, Integrity: st.Integrity, Type: st.Type}
		out.byName[a.Name], out.byURL[a.URL] = a, a
	}
	out.pages = parseLater(&out, nil)
	return &out, nil
}

// CheckStatic says whether list names this build's static files as
// ServedElsewhere needs them: every file the build has (its scripts and
// styles, whose messages the pages carry), each with the build's own hashed
// URL and integrity (a page would otherwise load a file that was not
// uploaded, or refuse it for its integrity), plus the decryptor, which the
// Worker's build does not hold; nothing else, and each entry well formed.
// It reads only the static files, not the pages: the Worker calls it at its
// start, to refuse a stale list before it serves anything.
func CheckStatic(list []Static) error {
	s, err := embeddedFiles()
	if err != nil {
		return err
	}
	return checkStatic(s, list)
}

// staticURL is a hashed URL path as Load makes them.
var staticURL = regexp.MustCompile(`^/static/[A-Za-z0-9_-]+\.[0-9a-f]{12}\.[a-z0-9]+$`)

func checkStatic(s *Set, list []Static) error {
	listed := map[string]bool{}
	for _, st := range list {
		sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(st.Integrity, "sha384-"))
		if !staticURL.MatchString(st.URL) || !strings.HasPrefix(st.Integrity, "sha384-") || err != nil || len(sum) != 48 || st.Type == "" {
			return fmt.Errorf("static files: %+v is not a complete entry", st)
		}
		own := s.byName[st.Name]
		switch {
		case own == nil && st.Name != decryptor:
			return fmt.Errorf("static files: %s is not a file of this build", st.Name)
		case own != nil && (own.URL != st.URL || own.Integrity != st.Integrity):
			return fmt.Errorf("static files: %s is %s here but %s where they are served: the uploaded files are not this build's (run `make worker` and deploy both)", st.Name, own.URL, st.URL)
		case listed[st.Name]:
			return fmt.Errorf("static files: %s listed twice", st.Name)
		}
		listed[st.Name] = true
	}
	var missing []string
	for name := range s.byName {
		if !listed[name] {
			missing = append(missing, name)
		}
	}
	if !listed[decryptor] && s.byName[decryptor] == nil {
		missing = append(missing, decryptor)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("static files: not listed: %s", strings.Join(missing, ", "))
	}
	return nil
}

// decryptor is the browser decryptor's file name.
const decryptor = "waxseal.wasm"

// HasDecryptor reports whether s holds the decryptor (a build made after
// `make wasm`).
func (s *Set) HasDecryptor() bool { return s.byName[decryptor] != nil }
