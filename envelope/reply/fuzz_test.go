package reply

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/waxseal/waxseal/envelope/reply/compose"
)

// FuzzOpen: Open never panics, refuses only with its own errors, and what it
// opens has exactly the length the format gives (sealed minus Overhead).
func FuzzOpen(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	for _, p := range paths {
		v, err := readVector(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v.sealed)
	}
	keys := []KeyPair{detKey(1), detKey(2)}
	f.Fuzz(func(t *testing.T, sealed []byte) {
		msg, err := Open(sealed, keys)
		if err != nil {
			if !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrNotReply) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(msg) != len(sealed)-compose.Overhead || !bytes.HasPrefix(sealed, []byte(compose.Magic)) {
			t.Fatalf("opened %d bytes from %d", len(msg), len(sealed))
		}
	})
}

// TestFuzzCorpusIsCommitted keeps the seed corpus in testdata/ so CI replays it.
func TestFuzzCorpusIsCommitted(t *testing.T) {
	entries, err := os.ReadDir("testdata/fuzz/FuzzOpen")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no committed corpus for FuzzOpen: %v", err)
	}
}
