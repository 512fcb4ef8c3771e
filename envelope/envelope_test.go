package envelope

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/internal/testmsg"
)

const testKeyServer = "https://keys.example.org"

func testHeader(to string) Header {
	return Header{
		KeyServer: testKeyServer,
		From:      "Dr. Alice Example <alice@hospital.example>",
		To:        to,
		Subject:   "Lab results",
		Created:   time.Date(2026, 11, 22, 13, 9, 59, 0, time.UTC),
		Expires:   time.Date(2026, 12, 22, 13, 9, 59, 0, time.UTC),
	}
}

// sealHTML seals msg for one recipient and renders the securedoc.html file.
func sealHTML(t testing.TB, msg []byte) ([]byte, Keys) {
	t.Helper()
	p, ct := EncryptPayload(msg)
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := env.WriteHTML(&file, keys.Env, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	return file.Bytes(), keys
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTripHTML(t *testing.T) {
	for _, m := range testmsg.All() {
		msg := m.Bytes
		t.Run(m.Name, func(t *testing.T) {
			file, keys := sealHTML(t, msg)
			if err := check7bit(file); err != nil {
				t.Fatalf("file is not 7bit-safe: %v", err)
			}
			f, err := ParseHTML(file)
			if err != nil {
				t.Fatal(err)
			}
			if f.EnvKey != keys.Env {
				t.Fatal("k_env read from the file differs from the one sealed")
			}
			got, err := f.Open(keys.Server)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("opened %d bytes, want the %d original bytes", len(got), len(msg))
			}
		})
	}
}

func TestRoundTripStreaming(t *testing.T) {
	for _, m := range testmsg.All() {
		msg := m.Bytes
		t.Run(m.Name, func(t *testing.T) {
			// Feed the writer in odd-sized pieces to cross chunk boundaries anywhere.
			var ct bytes.Buffer
			pw := NewPayloadWriter(&ct)
			for rest := msg; len(rest) > 0; {
				n := min(len(rest), 1+mathrand.IntN(100_000))
				if _, err := pw.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			p := pw.Payload()
			if int64(ct.Len()) != p.CiphertextSize() {
				t.Fatalf("ciphertext is %d bytes, CiphertextSize says %d", ct.Len(), p.CiphertextSize())
			}
			env, keys, err := p.Seal(testHeader("bob@patient.example"))
			if err != nil {
				t.Fatal(err)
			}
			// The in-memory and streaming paths must produce interchangeable ciphertext.
			q, err := env.Unwrap(keys)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(q.NewReader(bytes.NewReader(ct.Bytes())))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("streamed %d bytes, want the %d original bytes", len(got), len(msg))
			}
			mem, err := q.Decrypt(ct.Bytes())
			if err != nil || !bytes.Equal(mem, msg) {
				t.Fatalf("in-memory decrypt of streamed ciphertext: %v", err)
			}
		})
	}
}

func TestManyRecipientsShareOnePayload(t *testing.T) {
	msg := randomBytes(200 << 10)
	p, ct := EncryptPayload(msg)
	seen := map[ID]bool{}
	var envs []*Envelope
	var keys []Keys
	for i := range 50 {
		env, k, err := p.Seal(testHeader(fmt.Sprintf("r%d@example.net", i)))
		if err != nil {
			t.Fatal(err)
		}
		if seen[env.Header.ID] {
			t.Fatalf("id %s issued twice", env.Header.ID)
		}
		seen[env.Header.ID] = true
		envs, keys = append(envs, env), append(keys, k)
	}
	for i, env := range envs {
		q, err := env.Unwrap(keys[i])
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if got, err := q.Decrypt(ct); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("recipient %d: decrypt: %v", i, err)
		}
		// Another recipient's keys never open this envelope.
		other := keys[(i+1)%len(keys)]
		if _, err := env.Unwrap(other); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("recipient %d opened with recipient %d's keys: %v", i, (i+1)%len(keys), err)
		}
	}
}

func TestOpenFailures(t *testing.T) {
	msg := randomBytes(3*64<<10 + 100)
	file, keys := sealHTML(t, msg)
	f, err := ParseHTML(file)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := newKey()
	tests := []struct {
		name   string
		mutate func(f *File, k *Keys)
		want   error
	}{
		{"wrong server key", func(f *File, k *Keys) { k.Server = otherKey }, ErrWrongKey},
		{"wrong env key", func(f *File, k *Keys) { k.Env = otherKey }, ErrWrongKey},
		{"subject changed", func(f *File, k *Keys) {
			f.HeaderJSON = bytes.Replace(f.HeaderJSON, []byte("Lab results"), []byte("Lab resultz"), 1)
		}, ErrHeaderModified},
		{"sealed key changed", func(f *File, k *Keys) { f.KeyBlock[40] ^= 1 }, ErrHeaderModified},
		{"chunk byte flipped", func(f *File, k *Keys) { f.Ciphertext[70_000] ^= 0x80 }, ErrChunkModified},
		{"chunks swapped", func(f *File, k *Keys) {
			c := f.Ciphertext
			n := 64<<10 + 16
			a := bytes.Clone(c[:n])
			copy(c[:n], c[n:2*n])
			copy(c[n:2*n], a)
		}, ErrOutOfOrder},
		{"last chunk dropped", func(f *File, k *Keys) { f.Ciphertext = f.Ciphertext[:3*(64<<10+16)] }, ErrTruncated},
		{"one byte cut", func(f *File, k *Keys) { f.Ciphertext = f.Ciphertext[:len(f.Ciphertext)-1] }, ErrTruncated},
		{"bytes appended", func(f *File, k *Keys) { f.Ciphertext = append(f.Ciphertext, 0) }, ErrAppended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := *f
			g.HeaderJSON = bytes.Clone(f.HeaderJSON)
			g.KeyBlock = bytes.Clone(f.KeyBlock)
			g.Ciphertext = bytes.Clone(f.Ciphertext)
			k := keys
			tt.mutate(&g, &k)
			g.EnvKey = k.Env
			_, err := g.Open(k.Server)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// The streaming reader reports the same failure.
			p, uerr := g.Unwrap(k)
			if uerr != nil {
				if !errors.Is(uerr, tt.want) {
					t.Fatalf("unwrap: got %v, want %v", uerr, tt.want)
				}
				return
			}
			_, err = io.ReadAll(p.NewReader(bytes.NewReader(g.Ciphertext)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("streaming: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHostileHeaderRendersAsText(t *testing.T) {
	p, ct := EncryptPayload([]byte("hi"))
	h := testHeader(`"<img src=x onerror=alert(1)>" <bob@patient.example>`)
	h.Subject = `</textarea><script>alert("x")</script> caf\u00e9 \u202e & <b>`
	h.From = `"Eve <script>" <eve@hospital.example>`
	env, keys, err := p.Seal(h)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := env.WriteHTML(&file, keys.Env, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	s := file.String()
	for _, bad := range []string{"<script", "<img", "</textarea><script", "<b>"} {
		if strings.Contains(s, bad) {
			t.Errorf("rendered file contains raw %q", bad)
		}
	}
	if !strings.Contains(s, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("subject not shown escaped")
	}
	f, err := ParseHTML(file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Subject != h.Subject {
		t.Fatalf("subject after parse = %q, want %q", f.Header.Subject, h.Subject)
	}
	if _, err := f.Open(keys.Server); err != nil {
		t.Fatal(err)
	}
}

func TestOnlineBlob(t *testing.T) {
	msg := randomBytes(100_000)
	p, ct := EncryptPayload(msg)
	env, keys, err := p.Seal(testHeader("bob@patient.example"))
	if err != nil {
		t.Fatal(err)
	}
	var blob bytes.Buffer
	if err := env.WriteOnline(&blob, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob.Bytes(), []byte(EncodeKey(keys.Env))) || bytes.Contains(blob.Bytes(), keys.Env[:]) {
		t.Fatal("online blob holds k_env")
	}
	f, err := ParseOnline(blob.Bytes(), keys.Env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Open(keys.Server)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("online blob does not open: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("waxseal-online-v1\n\x00"), blob.Bytes()[:30], []byte("<html>")} {
		if _, err := ParseOnline(bad, keys.Env); err == nil {
			t.Errorf("ParseOnline(%.20q) succeeded", bad)
		}
	}
}

func FuzzParseOnline(f *testing.F) {
	p, ct := EncryptPayload([]byte("hello"))
	env, _, _ := p.Seal(testHeader("bob@patient.example"))
	var blob bytes.Buffer
	env.WriteOnline(&blob, bytes.NewReader(ct))
	f.Add(blob.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := ParseOnline(data, Key{}); err == nil {
			if _, err := file.Open(Key{}); err == nil {
				t.Fatal("opened with zero keys")
			}
		}
	})
}
