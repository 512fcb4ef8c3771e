package policy

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// SubjectCase is one row of testdata/subjects.txt.
type SubjectCase struct {
	Action     Action // Envelope ("seal") or Plain
	Raw, Shown string
}

// ReadSubjectTable reads the subject table (see its header). It is in a _test
// file of this package, and server's test reads the same file with its own
// copy of this parser, so the gateway is held to the very same table.
func ReadSubjectTable(t testing.TB, path string) []SubjectCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []SubjectCase
	for n, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("%s:%d: want 3 tab-separated fields", path, n+1)
		}
		raw, err1 := strconv.Unquote(f[1])
		shown, err2 := strconv.Unquote(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s:%d: fields must be Go string literals", path, n+1)
		}
		c := SubjectCase{Raw: raw, Shown: shown}
		switch f[0] {
		case "seal":
			c.Action = Envelope
		case "plain":
			c.Action = Plain
		default:
			t.Fatalf("%s:%d: action %q", path, n+1, f[0])
		}
		out = append(out, c)
	}
	return out
}
