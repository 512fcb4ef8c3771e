package envelope

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/waxseal/waxseal/envelope/internal/kdf"
	"github.com/waxseal/waxseal/envelope/internal/stream"
	"github.com/waxseal/waxseal/envelope/unseal"
)

// KeyBlockSize is the size of an envelope's key block: a key check value and the
// sealed payload key.
const KeyBlockSize = unseal.KeyBlockSize

// Payload is a message's payload key and plaintext size. A Payload made by
// EncryptPayload or a PayloadWriter seals envelopes; one from Envelope.Unwrap
// decrypts.
type Payload struct {
	key  Key
	size int64
}

// Size is the plaintext size in bytes.
func (p *Payload) Size() int64 { return p.size }

// CiphertextSize is the exact size of the encrypted payload.
func (p *Payload) CiphertextSize() int64 { return stream.CiphertextSize(p.size) }

// EncryptPayload encrypts plaintext under a fresh payload key.
func EncryptPayload(plaintext []byte) (*Payload, []byte) {
	p := &Payload{key: newKey(), size: int64(len(plaintext))}
	k := [32]byte(p.key)
	return p, stream.Seal(nil, plaintext, &k)
}

// PayloadWriter encrypts a payload as it is written, for messages too large to hold
// twice in memory. It buffers one 64 KiB chunk.
type PayloadWriter struct {
	w    *stream.Writer
	p    Payload
	done bool
}

// NewPayloadWriter returns a writer that encrypts under a fresh payload key and writes
// the ciphertext to dst. Call Close, then Payload.
func NewPayloadWriter(dst io.Writer) *PayloadWriter {
	pw := &PayloadWriter{p: Payload{key: newKey()}}
	k := [32]byte(pw.p.key)
	pw.w = stream.NewWriter(dst, &k)
	return pw
}

func (pw *PayloadWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.size += int64(n)
	return n, err
}

// Close writes the last chunk.
func (pw *PayloadWriter) Close() error {
	if err := pw.w.Close(); err != nil {
		return err
	}
	pw.done = true
	return nil
}

// Payload returns the finished payload. It panics before Close, when the size is not
// yet known.
func (pw *PayloadWriter) Payload() *Payload {
	if !pw.done {
		panic("envelope: PayloadWriter.Payload called before Close")
	}
	p := pw.p
	return &p
}

// Envelope is one recipient's envelope without its payload: the header, its exact
// bytes, and the key block. The ciphertext is shared by all recipients of a message
// and kept by the caller.
type Envelope struct {
	Header     Header
	HeaderJSON []byte
	KeyBlock   []byte
	// Online: the ciphertext is also stored at the key server (docs/FORMAT.md
	// §8), so securedoc.html carries the script that, where JavaScript runs,
	// opens the online copy instead of posting the ciphertext (§7.5). It is
	// not part of the header: the page alone changes.
	Online bool
}

// Seal makes a new envelope of the payload for one recipient. It fills in the
// header's version, a fresh id, the size and (if zero) the creation time, and returns
// the envelope with its two new key halves. Sealing many recipients costs one small
// key derivation each: the payload is not touched.
func (p *Payload) Seal(h Header) (*Envelope, Keys, error) {
	h.Version = Version
	h.ID = NewID()
	h.Size = p.size
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	// Whole seconds in UTC: the header is for people, and a stable form keeps the
	// bytes short and predictable.
	h.Created = h.Created.UTC().Truncate(time.Second)
	if !h.Expires.IsZero() {
		h.Expires = h.Expires.UTC().Truncate(time.Second)
	}
	origin, err := Origin(h.KeyServer)
	if err != nil {
		return nil, Keys{}, fmt.Errorf("seal envelope: %w", err)
	}
	h.KeyServer = origin
	hb, err := h.marshal()
	if err != nil {
		return nil, Keys{}, fmt.Errorf("seal envelope: %w", err)
	}
	keys := Keys{Env: newKey(), Server: newKey()}
	srv, env, id := [32]byte(keys.Server), [32]byte(keys.Env), [16]byte(h.ID)
	derived, err := kdf.Derive(&srv, &env, &id, hb)
	if err != nil {
		return nil, Keys{}, fmt.Errorf("seal envelope: %w", err)
	}
	block := make([]byte, 0, KeyBlockSize)
	block = append(block, derived.Check[:]...)
	pk := [32]byte(p.key)
	// A KEK is derived for exactly one header of one random id and seals exactly one
	// message, so the all-zero nonce is never reused under a key.
	block = secretbox.Seal(block, pk[:], new([24]byte), &derived.KEK)
	return &Envelope{Header: h, HeaderJSON: hb, KeyBlock: block}, keys, nil
}

// Unwrap recovers the payload key with both key halves. It tells a wrong key
// (ErrWrongKey) from a header or key block that was changed (ErrHeaderModified).
func (e *Envelope) Unwrap(keys Keys) (*Payload, error) {
	k, err := unseal.Unwrap(e.Header.ID, e.HeaderJSON, e.KeyBlock, keys.Env, keys.Server)
	if err != nil {
		return nil, err
	}
	return &Payload{key: k, size: e.Header.Size}, nil
}

// Decrypt decrypts a whole payload in memory.
func (p *Payload) Decrypt(ciphertext []byte) ([]byte, error) {
	k := [32]byte(p.key)
	// stream.Open checks the length before it allocates: a header claiming a huge size
	// costs nothing unless the ciphertext is that large too.
	out, err := stream.Open(nil, ciphertext, &k, p.size)
	if err != nil {
		return nil, fmt.Errorf("decrypt payload: %w", err)
	}
	return out, nil
}

// NewReader decrypts a payload as it is read. It returns only authenticated bytes,
// but a damaged stream fails part way: callers that must not act on a partial
// message should buffer until io.EOF.
func (p *Payload) NewReader(ciphertext io.Reader) io.Reader {
	k := [32]byte(p.key)
	return stream.NewReader(ciphertext, &k, p.size)
}
