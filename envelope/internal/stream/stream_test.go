package stream

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func testKey() *Key {
	var k Key
	rand.Read(k[:])
	return &k
}

func TestCiphertextSize(t *testing.T) {
	for _, tt := range []struct{ size, want int64 }{
		{0, 16}, {1, 17}, {ChunkSize, ChunkSize + 16}, {ChunkSize + 1, ChunkSize + 1 + 32}, {10 << 20, 10<<20 + 160*16},
	} {
		if got := CiphertextSize(tt.size); got != tt.want {
			t.Errorf("CiphertextSize(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

// TestWriterMatchesSeal checks that the streaming writer and the one-call Seal write
// identical bytes, including the rule that a full last chunk is not followed by an
// empty one.
func TestWriterMatchesSeal(t *testing.T) {
	key := testKey()
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize} {
		plain := make([]byte, n)
		rand.Read(plain)
		var buf bytes.Buffer
		w := NewWriter(&buf, key)
		for rest := plain; len(rest) > 0; {
			k := min(len(rest), 1000)
			w.Write(rest[:k])
			rest = rest[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := Seal(nil, plain, key); !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("size %d: writer and Seal differ", n)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write after close succeeded")
		}
	}
}

func TestReaderStopsOnReadError(t *testing.T) {
	key := testKey()
	ct := Seal(nil, make([]byte, 2*ChunkSize), key)
	boom := errors.New("disk gone")
	r := NewReader(io.MultiReader(bytes.NewReader(ct[:100]), &errReader{boom}), key, 2*ChunkSize)
	if _, err := io.ReadAll(r); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// FuzzRoundTrip: every plaintext survives Seal then Open and the streaming pair.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint16(1))
	f.Add([]byte("hello"), uint16(3))
	f.Fuzz(func(t *testing.T, plain []byte, step uint16) {
		key := testKey()
		ct := Seal(nil, plain, key)
		got, err := Open(nil, ct, key, int64(len(plain)))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open: %v", err)
		}
		r := NewReader(bytes.NewReader(ct), key, int64(len(plain)))
		buf := make([]byte, int(step)%7000+1)
		var out []byte
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(out, plain) {
			t.Fatal("streamed plaintext differs")
		}
	})
}

// FuzzOpen: arbitrary ciphertext under a fixed key never opens and never panics.
func FuzzOpen(f *testing.F) {
	var key Key
	f.Add(Seal(nil, []byte("seed"), &key)[1:], int64(4))
	f.Add([]byte{}, int64(0))
	f.Add(make([]byte, 40), int64(-1))
	f.Fuzz(func(t *testing.T, ct []byte, size int64) {
		size %= 1 << 20
		if _, err := Open(nil, ct, &key, size); err == nil {
			t.Fatal("forged ciphertext opened")
		}
		if _, err := io.ReadAll(NewReader(bytes.NewReader(ct), &key, size)); err == nil {
			t.Fatal("forged ciphertext streamed")
		}
	})
}
