package reply

import (
	"bufio"
	"bytes"
	"crypto/rand"
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

	"golang.org/x/crypto/chacha20"

	"github.com/waxseal/waxseal/envelope/reply/compose"
)

var update = flag.Bool("update", false, "regenerate envelope/testdata/reply")

const vectorDir = "../testdata/reply"

// expectations maps a reply vector's "expect:" line to Open's error.
var expectations = map[string]error{
	"success":             nil,
	"not opened":          ErrNoKey,
	"not a reply":         ErrNotReply,
	"unsupported version": ErrUnsupported,
}

type vector struct {
	expect, messageSHA256, comment string
	keys                           []KeyPair
	sealed                         []byte
}

// A vector file is "name: value" lines, a blank line and the sealed bytes in
// standard base64 on one line (FORMAT.md "Reply v1" and "Reply copy", test
// vectors). readVectorFile hands each line to field and returns the sealed bytes.
func readVectorFile(path string, field func(name, value string) error) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%s: no blank line after the header lines", path)
	}
	sealed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		if err := field(name, value); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
	}
	return sealed, nil
}

func readVector(path string) (*vector, error) {
	v := &vector{}
	sealed, err := readVectorFile(path, func(name, value string) error {
		switch name {
		case "expect":
			v.expect = value
		case "private key":
			priv, err := DecodeKey(value)
			if err != nil {
				return err
			}
			kp, err := FromPrivate(priv)
			if err != nil {
				return err
			}
			v.keys = append(v.keys, kp)
		case "message sha256":
			v.messageSHA256 = value
		case "comment":
			v.comment = value
		default:
			return fmt.Errorf("unknown line")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.sealed = sealed
	if _, known := expectations[v.expect]; !known {
		return nil, fmt.Errorf("%s: unknown expect %q", path, v.expect)
	}
	return v, nil
}

func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	paths, err := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reply vectors: %v", err)
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
			msg, err := Open(v.sealed, v.keys)
			if !errors.Is(err, want) || (want == nil && err != nil) {
				t.Fatalf("expect: %s; got %v", v.expect, err)
			}
			if want == nil {
				if sum := sha256.Sum256(msg); hex.EncodeToString(sum[:]) != v.messageSHA256 {
					t.Fatalf("message sha256 %x, want %s", sum, v.messageSHA256)
				}
			}
		})
	}
	for e := range expectations {
		if !seen[e] {
			t.Errorf("no reply vector has expect: %s", e)
		}
	}
}

// detRand is a deterministic randomness source so -update writes the same vectors.
type detRand struct{ c *chacha20.Cipher }

func newDetRand(seed byte) *detRand {
	c, _ := chacha20.NewUnauthenticatedCipher(bytes.Repeat([]byte{seed}, 32), make([]byte, 12))
	return &detRand{c}
}

func (r *detRand) Read(p []byte) (int, error) {
	clear(p)
	r.c.XORKeyStream(p, p)
	return len(p), nil
}

func detKey(seed byte) KeyPair {
	var priv [32]byte
	newDetRand(seed).Read(priv[:])
	kp, err := FromPrivate(priv)
	if err != nil {
		panic(err)
	}
	return kp
}

func generateVectors(t *testing.T) {
	current, older, other := detKey(1), detKey(2), detKey(3)
	attachment := make([]byte, 1000)
	newDetRand(9).Read(attachment)
	msg, err := compose.Build(&compose.Draft{
		Subject:     "Re: Your results",
		Text:        "Thank you, see the form attached.\nFrom: someone@evil.example (ignored by the gateway)",
		Attribution: "On 3 Dec 2026, Dr Jones wrote:",
		Quote:       "Your results are fine.",
		Attachments: []compose.Attachment{{Name: "form.pdf", ContentType: "application/pdf", Data: attachment}},
	}, newDetRand(4))
	if err != nil {
		t.Fatal(err)
	}
	seal := func(m []byte, kp KeyPair, seed byte) []byte {
		s, err := compose.Seal(m, &kp.Public, newDetRand(seed))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := seal(msg, current, 5)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	type out struct {
		name, expect, comment string
		msg                   []byte
		keys                  []KeyPair
		sealed                []byte
	}
	both := []KeyPair{current, older}
	vectors := []out{
		{"success-short", "success", "a reply with a quote and an attachment", msg, both, good},
		{"success-empty", "success", "an empty message", []byte{}, both, seal(nil, current, 6)},
		{"success-older-key", "success", "sealed to the key before a rotation: the second private key opens it", msg, both, seal(msg, older, 7)},
		{"wrong-key", "not opened", "sealed to a key not listed", nil, both, seal(msg, other, 8)},
		{"modified-ciphertext", "not opened", "one bit of the message's ciphertext flipped", nil, both, flip(good, len(good)-100)},
		{"modified-tag", "not opened", "one bit of the Poly1305 tag flipped", nil, both, flip(good, 4+32)},
		{"modified-ephemeral-key", "not opened", "one bit of the ephemeral public key flipped", nil, both, flip(good, 4+5)},
		{"truncated", "not opened", "the last byte removed", nil, both, good[:len(good)-1]},
		{"too-short", "not opened", "magic and 20 bytes: shorter than the ephemeral key and tag", nil, both, good[:24]},
		{"not-a-reply", "not a reply", "does not start with wxr", nil, both, append([]byte("WXR\x01"), good[4:]...)},
		{"unsupported-version", "unsupported version", "version byte 2", nil, both, append([]byte("wxr\x02"), good[4:]...)},
	}
	for _, v := range vectors {
		var b strings.Builder
		fmt.Fprintf(&b, "expect: %s\n", v.expect)
		for _, k := range v.keys {
			fmt.Fprintf(&b, "private key: %s\n", EncodeKey(k.Private))
		}
		if v.expect == "success" {
			sum := sha256.Sum256(v.msg)
			fmt.Fprintf(&b, "message sha256: %x\n", sum)
		}
		fmt.Fprintf(&b, "comment: %s\n\n%s\n", v.comment, base64.StdEncoding.EncodeToString(v.sealed))
		if err := os.WriteFile(filepath.Join(vectorDir, v.name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRoundTripAndLimits(t *testing.T) {
	kp, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("Subject: hi\r\n\r\nhello\r\n")
	sealed, err := compose.Seal(msg, &kp.Public, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(sealed, []KeyPair{kp})
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	if _, err := Open(sealed, nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("no keys: %v", err)
	}
	if _, err := Open(make([]byte, MaxSealed+1), []KeyPair{kp}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := Open([]byte("wx"), []KeyPair{kp}); !errors.Is(err, ErrNotReply) {
		t.Errorf("two bytes: %v", err)
	}
}

// TestKeyFile: AddKey creates a 0600 file, a rotation appends, LoadKeys returns
// the newest first and both open what was sealed to them.
func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reply.key")
	first, err := AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode().Perm(), err)
	}
	sealedOld, _ := compose.Seal([]byte("old"), &first.Public, rand.Reader)
	second, err := AddKey(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != second || keys[1] != first {
		t.Fatalf("LoadKeys order wrong: %d keys", len(keys))
	}
	sealedNew, _ := compose.Seal([]byte("new"), &second.Public, rand.Reader)
	for want, s := range map[string][]byte{"old": sealedOld, "new": sealedNew} {
		if got, err := Open(s, keys); err != nil || string(got) != want {
			t.Errorf("open %s: %q %v", want, got, err)
		}
	}
	os.Chmod(path, 0o644)
	if _, err := AddKey(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("AddKey to a 0644 file: %v", err)
	}
	os.WriteFile(path, []byte("# only a comment\n"), 0o600)
	if _, err := LoadKeys(path); err == nil || !strings.Contains(err.Error(), "no reply key") {
		t.Errorf("empty key file: %v", err)
	}
	os.WriteFile(path, []byte("bad\n"), 0o600)
	if _, err := LoadKeys(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad key file: %v", err)
	}
}
