package envelope

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

var update = flag.Bool("update", false, "regenerate envelope/testdata/vectors")

// expectations maps each vector's "expect:" line to the error opening must return.
var expectations = map[string]error{
	"success":             nil,
	"wrong key":           ErrWrongKey,
	"header modified":     ErrHeaderModified,
	"chunk out of order":  ErrOutOfOrder,
	"chunk modified":      ErrChunkModified,
	"truncated":           ErrTruncated,
	"appended":            ErrAppended,
	"last flag missing":   ErrLastFlagMissing,
	"last flag early":     ErrLastFlagEarly,
	"bad base64":          ErrBadBase64,
	"not an envelope":     ErrNotEnvelope,
	"unsupported version": ErrUnsupportedVersion,
	"malformed":           ErrMalformed,
}

// A vector file is a few "name: value" lines, a blank line, and the file to open:
//
//	expect: success
//	server key: <k_srv, base64url>
//	payload sha256: <hex, for success>
//	comment: <free text>
//	online: yes <the file says its ciphertext is stored online, §7.5; absent: no>
type vector struct {
	expect, serverKey, payloadSHA256, comment string
	online                                    bool
	file                                      []byte
}

func readVector(path string) (*vector, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, file, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%s: no blank line after the header lines", path)
	}
	v := &vector{file: file}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		switch name {
		case "expect":
			v.expect = value
		case "server key":
			v.serverKey = value
		case "payload sha256":
			v.payloadSHA256 = value
		case "comment":
			v.comment = value
		case "online":
			if value != "yes" {
				return nil, fmt.Errorf("%s: online %q, want yes or no line", path, value)
			}
			v.online = true
		default:
			return nil, fmt.Errorf("%s: unknown line %q", path, name)
		}
	}
	if _, known := expectations[v.expect]; !known {
		return nil, fmt.Errorf("%s: unknown expect %q", path, v.expect)
	}
	return v, nil
}

func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	paths, err := filepath.Glob("testdata/vectors/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vectors found: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			v, err := readVector(path)
			if err != nil {
				t.Fatal(err)
			}
			seen[v.expect] = true
			want := expectations[v.expect]
			msg, err := openVector(v)
			if !errors.Is(err, want) || (want == nil && err != nil) {
				t.Fatalf("expect: %s; got error %v", v.expect, err)
			}
			if f, err := ParseHTML(v.file); err == nil && f.Online != v.online {
				t.Errorf("online = %v, want %v", f.Online, v.online)
			}
			if want == nil {
				sum := sha256.Sum256(msg)
				if hex.EncodeToString(sum[:]) != v.payloadSHA256 {
					t.Fatalf("payload sha256 = %x, want %s", sum, v.payloadSHA256)
				}
			}
		})
	}
	for expect := range expectations {
		if !seen[expect] {
			t.Errorf("no vector has expect: %s", expect)
		}
	}
}

func openVector(v *vector) ([]byte, error) {
	f, err := ParseHTML(v.file)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(v.serverKey)
	if err != nil {
		return nil, err
	}
	return f.Open(k)
}

// generateVectors writes a fresh set of vectors (go test ./envelope -run
// TestVectors -update). Tampered vectors are made the way an attacker would: by
// editing a valid file, or with the payload key, by sealing chunks differently.
func generateVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, expect, comment string, f *File, serverKey Key, msg []byte) {
		t.Helper()
		writeVector(t, dir, name, expect, comment, f, serverKey, msg)
	}
	seal := func(msg []byte) (*File, Keys, *Payload) { return sealVector(t, msg) }
	generateOnlineVector(t, dir)
	short := []byte("From: alice@hospital.example\r\nSubject: results\r\n\r\nHello Bob.\r\n")
	twoChunks := bytes.Repeat([]byte("0123456789abcdef"), (64<<10+300)/16)
	threeChunks := randomBytes(128<<10 + 20)

	f, keys, p := seal(short)
	write("success-short", "success", "one chunk", f, keys.Server, short)
	write("wrong-key", "wrong key", "server key of another envelope", f, newKey(), nil)

	g := *f
	g.HeaderJSON = bytes.Replace(f.HeaderJSON, []byte(`"bob@`), []byte(`"rob@`), 1)
	write("header-modified", "header modified", "recipient changed in the header JSON", &g, keys.Server, nil)

	g = *f
	g.Ciphertext = bytes.Clone(f.Ciphertext)
	g.Ciphertext[len(g.Ciphertext)-3] ^= 0x01
	write("chunk-modified", "chunk modified", "one bit flipped in the only chunk", &g, keys.Server, nil)

	f2, keys2, p2 := seal(twoChunks)
	write("success-two-chunks", "success", "64 KiB + 304 bytes: two chunks", f2, keys2.Server, twoChunks)
	g = *f2
	g.Ciphertext = f2.Ciphertext[:64<<10+secretbox.Overhead]
	write("truncated", "truncated", "second (last) chunk removed", &g, keys2.Server, nil)

	g = *f
	g.Ciphertext = append(bytes.Clone(f.Ciphertext), sealChunk(p, []byte("more"), 1, true)...)
	write("appended", "appended", "a second chunk, sealed with the payload key, after the last", &g, keys.Server, nil)

	g = *f
	g.Ciphertext = sealChunk(p, short, 0, false)
	write("last-flag-missing", "last flag missing", "the only chunk sealed without the last flag", &g, keys.Server, nil)

	g = *f2
	g.Ciphertext = append(sealChunk(p2, twoChunks[:64<<10], 0, true), f2.Ciphertext[64<<10+secretbox.Overhead:]...)
	write("last-flag-early", "last flag early", "the first of two chunks sealed with the last flag", &g, keys2.Server, nil)

	empty, keysEmpty, _ := seal(nil)
	write("success-empty", "success", "an empty message: one empty chunk", empty, keysEmpty.Server, []byte{})
	exact := bytes.Repeat([]byte("waxseal!"), (64<<10)/8)
	fExact, keysExact, _ := seal(exact)
	write("success-64KiB", "success", "exactly 64 KiB: one full chunk, no empty chunk after it", fExact, keysExact.Server, exact)

	g = *f
	g.KeyBlock = f.KeyBlock[:60]
	write("malformed-key-block", "malformed", "a key block of 60 bytes", &g, keys.Server, nil)

	g = *f
	g.HeaderJSON = bytes.Replace(f.HeaderJSON, []byte(`{"v":1,`), []byte(`{"v":2,`), 1)
	write("unsupported-header-version", "unsupported version", "the header says v 2 (the version field says 1)", &g, keys.Server, nil)

	f3, keys3, _ := seal(threeChunks)
	g = *f3
	n := 64<<10 + secretbox.Overhead
	g.Ciphertext = append(append(bytes.Clone(f3.Ciphertext[n:2*n]), f3.Ciphertext[:n]...), f3.Ciphertext[2*n:]...)
	write("chunk-out-of-order", "chunk out of order", "chunks 0 and 1 swapped", &g, keys3.Server, nil)

	var b bytes.Buffer
	if err := f.WriteHTML(&b, f.EnvKey, bytes.NewReader(f.Ciphertext)); err != nil {
		t.Fatal(err)
	}
	raw := b.String()
	writeRaw := func(name, expect, comment, file string) {
		t.Helper()
		content := fmt.Sprintf("expect: %s\nserver key: %s\ncomment: %s\n\n%s", expect, EncodeKey(keys.Server), comment, file)
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	payloadB64 := base64.StdEncoding.EncodeToString(f.Ciphertext)
	writeRaw("bad-base64", "bad base64", "a '*' inside the payload field",
		strings.Replace(raw, payloadB64[:8], payloadB64[:4]+"*"+payloadB64[5:8], 1))
	writeRaw("unsupported-version", "unsupported version", "version field says 2",
		strings.Replace(raw, `name="version" value="1"`, `name="version" value="2"`, 1))
	writeRaw("not-an-envelope", "not an envelope", "an ordinary web page",
		"<!DOCTYPE html>\r\n<html><body><form action=\"https://keys.example.org/open\"><button>Open</button></form></body></html>\r\n")
	writeRaw("malformed-action", "malformed", "the form posts to another envelope id than the header's",
		strings.Replace(raw, "/open/"+f.Header.ID.String(), "/open/"+NewID().String(), 1))
	writeRaw("malformed-fragment", "malformed", "the k_env in the action's fragment is 42 characters",
		strings.Replace(raw, "#k="+EncodeKey(f.EnvKey), "#k="+EncodeKey(f.EnvKey)[:42], 1))
}

func writeVector(t *testing.T, dir, name, expect, comment string, f *File, serverKey Key, msg []byte) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\nserver key: %s\n", expect, EncodeKey(serverKey))
	if expect == "success" {
		fmt.Fprintf(&b, "payload sha256: %x\n", sha256.Sum256(msg))
	}
	if f.Online {
		b.WriteString("online: yes\n")
	}
	fmt.Fprintf(&b, "comment: %s\n\n", comment)
	if err := f.WriteHTML(&b, f.EnvKey, bytes.NewReader(f.Ciphertext)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sealVector(t *testing.T, msg []byte) (*File, Keys, *Payload) {
	p, ct := EncryptPayload(msg)
	h := testHeader("bob@patient.example")
	h.Subject = "Vector: caf\u00e9 <b>results</b>"
	env, keys, err := p.Seal(h)
	if err != nil {
		t.Fatal(err)
	}
	return &File{Envelope: *env, EnvKey: keys.Env, Ciphertext: ct}, keys, p
}

// generateOnlineVector writes success-online: a file whose ciphertext is also
// stored at the key server, with §7.5's script and its CSP line.
func generateOnlineVector(t *testing.T, dir string) {
	msg := []byte("From: alice@hospital.example\r\nSubject: results\r\n\r\nHello Bob, online too.\r\n")
	f, keys, _ := sealVector(t, msg)
	f.Online = true
	writeVector(t, dir, "success-online", "success", "the ciphertext is also stored online: Open goes there first where JavaScript runs", f, keys.Server, msg)
}

// sealChunk seals one STREAM chunk with a payload key, as only someone holding that
// key could: it builds the vectors that prove the flag and counter are checked.
func sealChunk(p *Payload, plain []byte, counter byte, last bool) []byte {
	var nonce [24]byte
	nonce[22] = counter
	if last {
		nonce[23] = 1
	}
	k := [32]byte(p.key)
	return secretbox.Seal(nil, plain, &nonce, &k)
}
