package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

func unhex(t *testing.T, s string) [32]byte {
	t.Helper()
	var k [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hex %q", s)
	}
	copy(k[:], b)
	return k
}

// TestX25519 checks the local X25519 against RFC 7748 §5.2 and §6.1 and against
// x/crypto on random inputs.
func TestX25519(t *testing.T) {
	for _, v := range []struct{ scalar, u, out string }{
		{"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"}, // u with the top bit set: ignored
		{"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "0900000000000000000000000000000000000000000000000000000000000000", "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"},
		{"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"},
	} {
		s, u := unhex(t, v.scalar), unhex(t, v.u)
		if got := x25519(&s, &u); hex.EncodeToString(got[:]) != v.out {
			t.Errorf("x25519(%s, %s) = %x, want %s", v.scalar, v.u, got, v.out)
		}
	}
	for i := 0; i < 200; i++ {
		var s, u [32]byte
		rand.Read(s[:])
		rand.Read(u[:])
		if i%2 == 0 {
			u = basePoint
		}
		want, err := curve25519.X25519(s[:], u[:])
		if err != nil {
			continue // low order: x/crypto refuses, Seal checks for the zero result itself
		}
		if got := x25519(&s, &u); !bytes.Equal(got[:], want) {
			t.Fatalf("x25519(%x, %x) = %x, x/crypto says %x", s, u, got, want)
		}
	}
}

// TestNonceHash checks the one-block BLAKE2b-192 against x/crypto/blake2b.
func TestNonceHash(t *testing.T) {
	for i := 0; i < 100; i++ {
		var a, b [32]byte
		rand.Read(a[:])
		rand.Read(b[:])
		h, _ := blake2b.New(24, nil)
		h.Write(a[:])
		h.Write(b[:])
		if got := nonceHash(&a, &b); !bytes.Equal(got[:], h.Sum(nil)) {
			t.Fatalf("nonceHash(%x, %x) = %x, want %x", a, b, got, h.Sum(nil))
		}
	}
}

// TestSealOpensWithBox: what Seal writes after the magic is a NaCl sealed box
// that x/crypto's box.OpenAnonymous opens, and a modified byte anywhere is refused.
func TestSealOpensWithBox(t *testing.T) {
	pub, priv, _ := box.GenerateKey(rand.Reader)
	for _, n := range []int{0, 1, 100, 70000} {
		msg := make([]byte, n)
		rand.Read(msg)
		sealed, err := Seal(msg, pub, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if string(sealed[:4]) != Magic || len(sealed) != n+Overhead {
			t.Fatalf("sealed %d bytes: prefix %q, length %d", n, sealed[:4], len(sealed))
		}
		got, ok := box.OpenAnonymous(nil, sealed[4:], pub, priv)
		if !ok || !bytes.Equal(got, msg) {
			t.Fatalf("box.OpenAnonymous of %d bytes: ok=%v", n, ok)
		}
		sealed[4+len(sealed[4:])/2] ^= 1
		if _, ok := box.OpenAnonymous(nil, sealed[4:], pub, priv); ok {
			t.Fatalf("a modified reply of %d bytes opened", n)
		}
	}
	if p := PublicKey(priv); p != *pub {
		t.Fatalf("PublicKey = %x, want %x", p, *pub)
	}
}

func TestSealRefusals(t *testing.T) {
	pub, _, _ := box.GenerateKey(rand.Reader)
	if _, err := Seal(make([]byte, MaxMessage+1), pub, rand.Reader); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	var zero [32]byte
	if _, err := Seal([]byte("x"), &zero, rand.Reader); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("zero public key: %v", err)
	}
	if _, err := Seal([]byte("x"), pub, bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "no randomness") {
		t.Errorf("no randomness: %v", err)
	}
}

// TestBuild reads Build's message back with the standard library's parsers:
// the subject, the text with the quote below it, and the attachments' exact
// bytes and names.
func TestBuild(t *testing.T) {
	pdf := make([]byte, 100_003)
	rand.Read(pdf)
	d := &Draft{
		Subject:     "Re: Ergebnisse für Müller\r\nBcc: evil@example.org",
		Text:        "Thank you.\nSee attached.",
		Attribution: "On 3 Dec 2026, Dr Jones wrote:",
		Quote:       "Your results\n\nare fine.",
		Attachments: []Attachment{
			{Name: "Befund März.pdf", ContentType: "application/pdf", Data: pdf},
			{Name: "a\"b;c.txt", ContentType: "text/plain\r\nX: y", Data: []byte("hello")},
		},
	}
	raw, err := Build(d, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Header["Bcc"]) != 0 || len(m.Header["X"]) != 0 {
		t.Fatalf("a header was injected: %v", m.Header)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != "Re: Ergebnisse für Müller  Bcc: evil@example.org" {
		t.Fatalf("subject %q, %v", subject, err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Fatalf("part transfer encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, p), append(bodies, b)
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	wantText := "Thank you.\r\nSee attached.\r\n\r\nOn 3 Dec 2026, Dr Jones wrote:\r\n> Your results\r\n>\r\n> are fine.\r\n"
	if string(bodies[0]) != wantText {
		t.Errorf("text %q, want %q", bodies[0], wantText)
	}
	if parts[1].FileName() != "Befund März.pdf" || !bytes.Equal(bodies[1], pdf) || parts[1].Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("attachment 1: %q %q, %d bytes equal=%v", parts[1].FileName(), parts[1].Header.Get("Content-Type"), len(bodies[1]), bytes.Equal(bodies[1], pdf))
	}
	if parts[2].FileName() != "a\"b;c.txt" || string(bodies[2]) != "hello" || parts[2].Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("attachment 2: %q %q %q", parts[2].FileName(), parts[2].Header.Get("Content-Type"), bodies[2])
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Fatalf("line of %d characters: %q", len(line), line[:40])
		}
	}
	if _, err := Build(&Draft{Text: "\xff"}, rand.Reader); !errors.Is(err, ErrBadDraft) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := Build(&Draft{Attachments: []Attachment{{Name: "big", Data: make([]byte, MaxMessage)}}}, rand.Reader); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}
