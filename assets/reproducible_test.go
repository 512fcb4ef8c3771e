package assets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The decryptor the key server serves must be checkable: built with the
// Makefile's flags from the same source, it has the same bytes anywhere. The
// second build stands in for another machine: another checkout path, an empty
// build cache, another GOPATH-free environment.
func TestDecryptorBuildReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the decryptor twice, once with an empty cache")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^WASM_FLAGS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no WASM_FLAGS in the Makefile")
	}
	flags := shellWords(string(m[1]))
	for _, want := range []string{"-trimpath", "-buildvcs=false"} {
		if !contains(flags, want) {
			t.Fatalf("WASM_FLAGS %q lack %s", flags, want)
		}
	}

	// The other checkout: the packages the decryptor is made of, elsewhere.
	other := t.TempDir()
	list := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./wasm")
	list.Dir, list.Env = root, append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	copyFile(t, filepath.Join(root, "go.mod"), filepath.Join(other, "go.mod"))
	copyFile(t, filepath.Join(root, "go.sum"), filepath.Join(other, "go.sum"))
	for _, dir := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(root, dir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
				copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(other, rel, e.Name()))
			}
		}
	}

	build := func(dir string, env ...string) []byte {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "waxseal.wasm")
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", dst, "./wasm")...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOFLAGS="), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build in %s: %v\n%s", dir, err, out)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := build(root)
	b := build(other, "GOCACHE="+t.TempDir())
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds of the decryptor differ (%d and %d bytes)", len(a), len(b))
	}
}

// shellWords splits make's flag text as the shell would for these flags:
// spaces separate words, single quotes group.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
