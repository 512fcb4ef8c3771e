package envelope

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

// The benchmarks come in pairs with a baseline run in the same process: raw
// nacl/secretbox over the same 10 MB, in one box. Like the envelope API, which hands
// back a new message, the baselines allocate their output. docs/BENCHMARKS.md reports each
// as a ratio to its baseline, since absolute speeds vary from machine to machine and
// run to run. Reproduce with: make bench.

const benchSize = 10 << 20

var benchMsg = randomBytes(benchSize)

func BenchmarkBaselineSecretboxSeal(b *testing.B) {
	var key [32]byte
	var nonce [24]byte
	b.SetBytes(benchSize)
	for b.Loop() {
		secretbox.Seal(nil, benchMsg, &nonce, &key)
	}
}

func BenchmarkBaselineSecretboxOpen(b *testing.B) {
	var key [32]byte
	var nonce [24]byte
	box := secretbox.Seal(nil, benchMsg, &nonce, &key)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, ok := secretbox.Open(nil, box, &nonce, &key); !ok {
			b.Fatal("open failed")
		}
	}
}

// BenchmarkBaselineBase64SecretboxOpen is the fair baseline for opening a file: the
// same ciphertext carried as base64 in lines, decoded, then opened in one box.
func BenchmarkBaselineBase64SecretboxOpen(b *testing.B) {
	var key [32]byte
	var nonce [24]byte
	box := secretbox.Seal(nil, benchMsg, &nonce, &key)
	lines := []byte(base64Lines(box))
	b.SetBytes(benchSize)
	for b.Loop() {
		raw := make([]byte, len(box))
		n, err := base64.StdEncoding.Decode(raw, lines)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := secretbox.Open(nil, raw[:n], &nonce, &key); !ok {
			b.Fatal("open failed")
		}
	}
}

// BenchmarkSeal seals 10 MB for 1 and for 50 recipients: the payload is encrypted
// once, each recipient costs a key derivation and a 48-byte box.
func BenchmarkSeal(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				p, _ := EncryptPayload(benchMsg)
				for i := range n {
					if _, _, err := p.Seal(testHeader(fmt.Sprintf("r%d@example.net", i))); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkOpen unwraps the payload key and decrypts 10 MB of ciphertext.
func BenchmarkOpen(b *testing.B) {
	p, ct := EncryptPayload(benchMsg)
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		q, err := env.Unwrap(keys)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.Decrypt(ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenHTML adds parsing the securedoc.html file and decoding its base64.
func BenchmarkOpenHTML(b *testing.B) {
	file, keys := sealHTML(b, benchMsg)
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := ParseHTML(file)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Open(keys.Server); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteHTML renders one recipient's file: the per-recipient cost that no
// format can share, since every recipient receives the whole ciphertext.
func BenchmarkWriteHTML(b *testing.B) {
	p, ct := EncryptPayload(benchMsg)
	env, keys, _ := p.Seal(testHeader("bob@patient.example"))
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := env.WriteHTML(io.Discard, keys.Env, bytes.NewReader(ct)); err != nil {
			b.Fatal(err)
		}
	}
}
