package envelope

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addVectorSeeds seeds a fuzz target with every test vector's file, so the corpus
// that CI replays covers each failure path.
func addVectorSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/vectors/*.txt")
	for _, path := range paths {
		v, err := readVector(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v.file)
	}
	if len(paths) == 0 {
		f.Fatal("no vectors to seed from")
	}
}

// FuzzParseHTML: any input is parsed without panic, and whatever parses survives a
// write and a second parse unchanged.
func FuzzParseHTML(f *testing.F) {
	addVectorSeeds(f)
	f.Add([]byte(formStart + `x">` + fieldPrefix + `version` + fieldSuffix + `1` + fieldEnd))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseHTML(data)
		if err != nil {
			if file != nil {
				t.Fatal("ParseHTML returned a file and an error")
			}
			return
		}
		var out bytes.Buffer
		if err := file.WriteHTML(&out, file.EnvKey, bytes.NewReader(file.Ciphertext)); err != nil {
			// The header parsed, so it must be writable.
			t.Fatalf("parsed file cannot be written: %v", err)
		}
		again, err := ParseHTML(out.Bytes())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if !bytes.Equal(again.HeaderJSON, file.HeaderJSON) || !bytes.Equal(again.KeyBlock, file.KeyBlock) ||
			!bytes.Equal(again.Ciphertext, file.Ciphertext) || again.EnvKey != file.EnvKey {
			t.Fatal("rewritten file parses to different fields")
		}
		// Opening with a key nobody has must fail cleanly.
		if _, err := file.Open(Key{}); err == nil {
			t.Fatal("opened with an all-zero server key")
		}
	})
}

// FuzzOpen: a real envelope with fuzzed ciphertext, header and key block never opens
// to anything but the original, and fails with one of the documented errors.
func FuzzOpen(f *testing.F) {
	msg := []byte("From: alice@hospital.example\r\n\r\nresults\r\n")
	p, ct := EncryptPayload(msg)
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env.HeaderJSON, env.KeyBlock, ct)
	f.Add(env.HeaderJSON, env.KeyBlock, ct[:len(ct)-1])
	f.Add(env.HeaderJSON[1:], env.KeyBlock, ct)
	known := []error{ErrWrongKey, ErrHeaderModified, ErrMalformed, ErrUnsupportedVersion,
		ErrTruncated, ErrAppended, ErrOutOfOrder, ErrChunkModified, ErrLastFlagMissing, ErrLastFlagEarly}
	f.Fuzz(func(t *testing.T, header, keyBlock, ciphertext []byte) {
		h, err := parseHeader(header)
		if err != nil {
			return
		}
		e := &Envelope{Header: *h, HeaderJSON: header, KeyBlock: keyBlock}
		got, err := (&File{Envelope: *e, EnvKey: keys.Env, Ciphertext: ciphertext}).Open(keys.Server)
		if err == nil {
			if !bytes.Equal(header, env.HeaderJSON) || !bytes.Equal(got, msg) {
				t.Fatalf("a modified envelope opened")
			}
			return
		}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("undocumented error: %v", err)
	})
}

func TestFuzzCorpusIsCommitted(t *testing.T) {
	for _, target := range []string{"FuzzParseHTML", "FuzzOpen"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
		if err != nil || len(entries) == 0 {
			t.Errorf("no committed corpus for %s in testdata/fuzz: %v", target, err)
		}
	}
}
