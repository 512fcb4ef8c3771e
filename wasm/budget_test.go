//go:build !(js && wasm)

package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// heavy are packages the decryptor must not link: each adds tens to hundreds of
// kilobytes (gzip) to a module every recipient downloads. unseal and message are
// written to do without them; kdf asks WebCrypto for SHA-256 and HKDF.
var heavy = []string{
	"fmt", "os", "time", "encoding/json", "encoding/hex", "net/url", "net/netip",
	"mime", "mime/multipart", "net/mail", "net/textproto",
	"crypto/rand", "crypto/sha256", "crypto/hkdf", "math/big",
	// Replies are sealed by envelope/reply/compose, which does without these.
	"crypto/ecdh", "golang.org/x/crypto/curve25519", "golang.org/x/crypto/nacl/box", "golang.org/x/crypto/blake2b",
}

// TestLeanDependencies runs natively: it needs the go command, which Node has not.
func TestLeanDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	for _, h := range heavy {
		if deps[h] {
			t.Errorf("the decryptor depends on %s", h)
		}
	}
}

// sizeBudget is in brotli bytes, what browsers download (the server sends the
// precompressed .br): 600 KB is the budget for the decryptor with reply
// sealing (576 KB when sealing was added; docs/BENCHMARKS.md). gzip is logged.
const sizeBudget = 600_000

// TestSizeBudget builds the decryptor as `make wasm` does and checks its brotli size.
func TestSizeBudget(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "waxseal.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", wasm, ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	var gz, br bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(raw)
	w.Close()
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	bw.Write(raw)
	bw.Close()
	t.Logf("decryptor: %d bytes, %d gzip, %d brotli", len(raw), gz.Len(), br.Len())
	if br.Len() > sizeBudget {
		t.Errorf("decryptor is %d bytes brotli, over the budget of %d: what did it start linking?", br.Len(), sizeBudget)
	}
}
