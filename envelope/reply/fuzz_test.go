package reply

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/envelope/unseal"
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
	for _, target := range []string{"FuzzOpen", "FuzzOpenCopy"} {
		entries, err := os.ReadDir("testdata/fuzz/" + target)
		if err != nil || len(entries) == 0 {
			t.Fatalf("no committed corpus for %s: %v", target, err)
		}
	}
}

// FuzzOpenCopy: OpenCopy never panics, refuses only with its own errors, and
// what it opens is exactly the copy less the wrap and the reply's overhead.
func FuzzOpenCopy(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(copyVectorDir, "*.txt"))
	var key [32]byte
	for _, p := range paths {
		v, err := readCopyVector(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v.sealed)
		k, err := unseal.ReplyCopyKey(v.id, v.envKey, v.serverKey)
		if err != nil {
			f.Fatal(err)
		}
		key = [32]byte(k)
	}
	f.Fuzz(func(t *testing.T, sealed []byte) {
		msg, err := compose.OpenCopy(sealed, &key)
		if err != nil {
			if !errors.Is(err, compose.ErrCopyNotOpened) && !errors.Is(err, compose.ErrNotCopy) && !errors.Is(err, compose.ErrCopyUnsupported) && !errors.Is(err, compose.ErrCopyTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(msg) != len(sealed)-compose.WrapSize-compose.Overhead || !bytes.HasPrefix(sealed, []byte(compose.CopyMagic)) {
			t.Fatalf("opened %d bytes from %d", len(msg), len(sealed))
		}
	})
}
