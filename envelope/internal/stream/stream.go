// Package stream implements the chunked payload encryption of waxseal envelopes:
// a STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár) over nacl/secretbox,
// in the manner of age's internal/stream.
//
// The plaintext is cut into chunks of ChunkSize bytes (the last one may be shorter,
// and is empty only when the whole plaintext is). Chunk i is sealed with the 24-byte
// nonce
//
//	[15]byte{0} || uint64be(i) || flag
//
// where flag is 0x01 on the last chunk and 0x00 on every other. A counter in the nonce
// makes reordering detectable; the flag makes truncation at a chunk boundary and
// appending after the end detectable even without knowing the plaintext size.
package stream

import (
	"encoding/binary"
	"errors"
	"io"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/waxseal/waxseal/envelope/internal/detail"
)

// ChunkSize is the plaintext size of every chunk but the last.
const ChunkSize = 64 << 10

// Overhead is what secretbox adds to each chunk.
const Overhead = secretbox.Overhead

const encChunkSize = ChunkSize + Overhead

// maxDiagnoseChunks bounds the work spent explaining a failure: a chunk that fails
// is tried at every other position to tell "reordered" from "modified".
const maxDiagnoseChunks = 1 << 14

// Errors a Reader or Open can return. They describe what happened to the ciphertext
// as precisely as the cryptography allows.
var (
	ErrTruncated       = errors.New("payload is truncated")
	ErrAppended        = errors.New("data appended after the last chunk")
	ErrOutOfOrder      = errors.New("payload chunk out of order")
	ErrModified        = errors.New("payload chunk modified")
	ErrLastFlagMissing = errors.New("last chunk is not marked as last")
	ErrLastFlagEarly   = errors.New("chunk marked as last before the end")
)

// Key is a 256-bit secretbox key.
type Key = [32]byte

// ChunkCount is how many chunks a plaintext of size bytes is cut into.
func ChunkCount(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + ChunkSize - 1) / ChunkSize
}

// CiphertextSize is the exact ciphertext length for a plaintext of size bytes.
func CiphertextSize(size int64) int64 {
	return size + ChunkCount(size)*Overhead
}

func nonce(counter int64, last bool) *[24]byte {
	var n [24]byte
	binary.BigEndian.PutUint64(n[15:23], uint64(counter))
	if last {
		n[23] = 1
	}
	return &n
}

// Seal encrypts plaintext in one call, appending the ciphertext to dst. It is the
// fast path for messages already in memory; Writer produces the same bytes.
func Seal(dst, plaintext []byte, key *Key) []byte {
	size := int64(len(plaintext))
	n := ChunkCount(size)
	if need := int(CiphertextSize(size)); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	for i := int64(0); i < n; i++ {
		end := min((i+1)*ChunkSize, size)
		dst = secretbox.Seal(dst, plaintext[i*ChunkSize:end], nonce(i, i == n-1), key)
	}
	return dst
}

// Open decrypts a whole ciphertext whose plaintext is expected to be size bytes long
// (a value the caller has authenticated, such as the envelope header's), appending
// the plaintext to dst.
func Open(dst, ciphertext []byte, key *Key, size int64) ([]byte, error) {
	if err := checkLength(int64(len(ciphertext)), size); err != nil {
		return nil, err
	}
	if need := int(size); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	n := ChunkCount(size)
	for i := int64(0); i < n; i++ {
		end := min((i+1)*encChunkSize, int64(len(ciphertext)))
		chunk := ciphertext[i*encChunkSize : end]
		out, ok := secretbox.Open(dst, chunk, nonce(i, i == n-1), key)
		if !ok {
			return nil, diagnose(chunk, key, i, n)
		}
		dst = out
	}
	return dst, nil
}

func checkLength(got, size int64) error {
	if size < 0 {
		return errors.New("invalid payload size " + detail.Int(size))
	}
	want := CiphertextSize(size)
	switch {
	case got < want:
		return detail.Wrap(ErrTruncated, detail.Int(got), " of ", detail.Int(want), " ciphertext bytes present")
	case got > want:
		return detail.Wrap(ErrAppended, detail.Int(got-want), " bytes past the expected ", detail.Int(want))
	}
	return nil
}

// diagnose explains why chunk i of n failed to open. It runs only on failure, so
// it may try the chunk at other positions.
func diagnose(chunk []byte, key *Key, i, n int64) error {
	last := i == n-1
	if _, ok := secretbox.Open(nil, chunk, nonce(i, !last), key); ok {
		if last {
			return detail.Wrap(ErrLastFlagMissing, "chunk ", detail.Int(i))
		}
		return detail.Wrap(ErrLastFlagEarly, "chunk ", detail.Int(i), " of ", detail.Int(n))
	}
	if n <= maxDiagnoseChunks {
		for j := int64(0); j < n; j++ {
			if j == i {
				continue
			}
			for _, flag := range []bool{false, true} {
				if _, ok := secretbox.Open(nil, chunk, nonce(j, flag), key); ok {
					return detail.Wrap(ErrOutOfOrder, "chunk ", detail.Int(i), " belongs at position ", detail.Int(j))
				}
			}
		}
	}
	return detail.Wrap(ErrModified, "chunk ", detail.Int(i), " failed authentication")
}

// Writer encrypts what is written to it and writes the ciphertext to an underlying
// writer. Close must be called to write the last chunk.
type Writer struct {
	dst     io.Writer
	key     Key
	buf     []byte // plaintext not yet sealed, at most ChunkSize bytes
	out     []byte
	counter int64
	err     error
}

// NewWriter returns a Writer sealing under key. The caller must never reuse key for
// another stream: the nonces repeat from zero.
func NewWriter(dst io.Writer, key *Key) *Writer {
	return &Writer{
		dst: dst,
		key: *key,
		buf: make([]byte, 0, ChunkSize),
		out: make([]byte, 0, encChunkSize),
	}
}

// Write encrypts p. A full chunk is held back until more data arrives, because only
// then is it known not to be the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		n := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

// Close seals the last chunk. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	w.err = errors.New("stream: write after close")
	return nil
}

func (w *Writer) flush(last bool) error {
	w.out = secretbox.Seal(w.out[:0], w.buf, nonce(w.counter, last), &w.key)
	w.counter++
	w.buf = w.buf[:0]
	if _, err := w.dst.Write(w.out); err != nil {
		w.err = detail.Prefix("stream: write chunk", err)
		return w.err
	}
	return nil
}

// Reader decrypts a ciphertext stream whose plaintext is expected to be size bytes
// long. It returns only authenticated plaintext, one chunk at a time; a damaged
// stream ends in an error, possibly after earlier chunks were returned.
type Reader struct {
	src     io.Reader
	key     Key
	size    int64
	n       int64 // number of chunks
	counter int64
	enc     []byte // ciphertext of the current chunk
	dec     []byte // buffer the current chunk opens into
	plain   []byte // authenticated plaintext not yet returned, within dec
	read    int64  // ciphertext bytes consumed
	err     error
}

// NewReader returns a Reader for a stream sealed under key.
func NewReader(src io.Reader, key *Key, size int64) *Reader {
	r := &Reader{src: src, key: *key, size: size, n: ChunkCount(size)}
	if size < 0 {
		r.err = errors.New("invalid payload size " + detail.Int(size))
	}
	return r
}

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next opens the next chunk into r.plain, or returns io.EOF after checking that
// nothing follows the last chunk.
func (r *Reader) next() error {
	if r.counter == r.n {
		var one [1]byte
		k, err := io.ReadFull(r.src, one[:])
		if k > 0 {
			extra, _ := io.Copy(io.Discard, r.src)
			return detail.Wrap(ErrAppended, detail.Int(extra+1), " bytes past the expected ", detail.Int(r.read))
		}
		if err != io.EOF && err != io.ErrUnexpectedEOF {
			return detail.Prefix("stream: read", err)
		}
		return io.EOF
	}
	want := int64(encChunkSize)
	if r.counter == r.n-1 {
		want = CiphertextSize(r.size) - r.counter*encChunkSize
	}
	if r.enc == nil {
		r.enc = make([]byte, encChunkSize)
		r.dec = make([]byte, 0, ChunkSize)
	}
	enc := r.enc[:want]
	k, err := io.ReadFull(r.src, enc)
	r.read += int64(k)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return detail.Wrap(ErrTruncated, detail.Int(r.read), " of ", detail.Int(CiphertextSize(r.size)), " ciphertext bytes present")
	} else if err != nil {
		return detail.Prefix("stream: read", err)
	}
	out, ok := secretbox.Open(r.dec[:0], enc, nonce(r.counter, r.counter == r.n-1), &r.key)
	if !ok {
		return diagnose(enc, &r.key, r.counter, r.n)
	}
	r.counter++
	r.plain = out
	return nil
}
