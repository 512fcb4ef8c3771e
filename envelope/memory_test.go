package envelope

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	r.rng.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestStreamingMemoryIsBounded proves the streaming paths stay small for a 10 MB
// message: sealing, writing the securedoc.html file, and decrypting each allocate a
// fixed few hundred KiB in total, not an amount that grows with the message. (The
// in-memory paths, EncryptPayload and File.Open, hold the message and its ciphertext.)
func TestStreamingMemoryIsBounded(t *testing.T) {
	const size = 10 << 20
	const limit = 1 << 20 // total bytes allocated, far below the 10 MB message
	seed := [32]byte{1}

	var ct bytes.Buffer
	ct.Grow(size + 4096)
	var p *Payload
	sealAlloc := allocated(func() {
		pw := NewPayloadWriter(&ct)
		if _, err := io.Copy(pw, &patternReader{rand.NewChaCha8(seed), size}); err != nil {
			t.Fatal(err)
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		p = pw.Payload()
	})
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		t.Fatal(err)
	}
	writeAlloc := allocated(func() {
		if err := env.WriteHTML(io.Discard, keys.Env, bytes.NewReader(ct.Bytes())); err != nil {
			t.Fatal(err)
		}
	})
	q, err := env.Unwrap(keys)
	if err != nil {
		t.Fatal(err)
	}
	h := &hashWriter{}
	openAlloc := allocated(func() {
		if _, err := io.Copy(h, q.NewReader(bytes.NewReader(ct.Bytes()))); err != nil {
			t.Fatal(err)
		}
	})
	want := &hashWriter{}
	io.Copy(want, &patternReader{rand.NewChaCha8(seed), size})
	if h.n != size || h.sum != want.sum {
		t.Fatalf("streamed plaintext differs from the original (%d bytes)", h.n)
	}
	t.Logf("allocated for 10 MB: seal %d KiB, write HTML %d KiB, open %d KiB", sealAlloc>>10, writeAlloc>>10, openAlloc>>10)
	for name, n := range map[string]uint64{"seal": sealAlloc, "write HTML": writeAlloc, "open": openAlloc} {
		if n > limit {
			t.Errorf("%s allocated %d bytes for a 10 MB message, want at most %d", name, n, limit)
		}
	}
}

// hashWriter folds what it is given into a cheap checksum without keeping it.
type hashWriter struct {
	n   int64
	sum uint64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		h.sum = h.sum*1099511628211 ^ uint64(b)
	}
	h.n += int64(len(p))
	return len(p), nil
}
