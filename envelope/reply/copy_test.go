package reply

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/envelope/unseal"
)

// The recipient's copy of a reply (FORMAT.md "Reply v1", the recipient's copy).

const copyVectorDir = "../testdata/reply-copy"

var copyExpectations = map[string]error{
	"success":             nil,
	"not opened":          compose.ErrCopyNotOpened,
	"not a copy":          compose.ErrNotCopy,
	"unsupported version": compose.ErrCopyUnsupported,
}

type copyVector struct {
	expect, messageSHA256 string
	id                    unseal.ID
	envKey, serverKey     unseal.Key
	sealed                []byte
}

func readCopyVector(path string) (*copyVector, error) {
	v := &copyVector{}
	sealed, err := readVectorFile(path, func(name, value string) (err error) {
		switch name {
		case "expect":
			v.expect = value
		case "id":
			v.id, err = unseal.ParseID(value)
		case "env key":
			v.envKey, err = unseal.ParseKey(value)
		case "server key":
			v.serverKey, err = unseal.ParseKey(value)
		case "message sha256":
			v.messageSHA256 = value
		case "comment":
		default:
			err = fmt.Errorf("unknown line")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	v.sealed = sealed
	if _, known := copyExpectations[v.expect]; !known {
		return nil, fmt.Errorf("%s: unknown expect %q", path, v.expect)
	}
	return v, nil
}

func TestCopyVectors(t *testing.T) {
	if *update {
		generateCopyVectors(t)
	}
	paths, err := filepath.Glob(filepath.Join(copyVectorDir, "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reply copy vectors: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			v, err := readCopyVector(path)
			if err != nil {
				t.Fatal(err)
			}
			seen[v.expect] = true
			k, err := unseal.ReplyCopyKey(v.id, v.envKey, v.serverKey)
			if err != nil {
				t.Fatal(err)
			}
			key := [32]byte(k)
			msg, err := compose.OpenCopy(v.sealed, &key)
			want := copyExpectations[v.expect]
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
	for e := range copyExpectations {
		if !seen[e] {
			t.Errorf("no reply copy vector has expect: %s", e)
		}
	}
}

func generateCopyVectors(t *testing.T) {
	var id unseal.ID
	var env, srv, otherEnv unseal.Key
	newDetRand(20).Read(id[:])
	newDetRand(21).Read(env[:])
	newDetRand(22).Read(srv[:])
	newDetRand(23).Read(otherEnv[:])
	attachment := make([]byte, 1000)
	newDetRand(9).Read(attachment)
	msg, err := compose.Build(&compose.Draft{
		Subject:     "Re: Your results",
		Text:        "Thank you, see the form attached.",
		Attribution: "Dr Jones wrote:",
		Quote:       "Your results are fine.",
		Attachments: []compose.Attachment{{Name: "form.pdf", ContentType: "application/pdf", Data: attachment}},
	}, newDetRand(24))
	if err != nil {
		t.Fatal(err)
	}
	replyKey := detKey(1)
	seal := func(m []byte, envKey unseal.Key, seed byte) []byte {
		k, err := unseal.ReplyCopyKey(id, envKey, srv)
		if err != nil {
			t.Fatal(err)
		}
		key := [32]byte(k)
		sealed, wrap, err := compose.SealWithCopy(m, &replyKey.Public, &key, newDetRand(seed))
		if err != nil {
			t.Fatal(err)
		}
		// The gateway's half opens the same reply.
		if got, err := Open(sealed, []KeyPair{replyKey}); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("the reply inside a copy does not open: %v", err)
		}
		return append(wrap, sealed...)
	}
	good := seal(msg, env, 25)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	w := compose.WrapSize
	vectors := []struct {
		name, expect, comment string
		msg, sealed           []byte
	}{
		{"success-attachment", "success", "a reply with a quote and an attachment", msg, good},
		{"success-empty", "success", "an empty message", []byte{}, seal(nil, env, 26)},
		{"wrong-key", "not opened", "wrapped under another k_env's k_copy", nil, seal(msg, otherEnv, 27)},
		{"modified-wrap-nonce", "not opened", "one bit of the wrap's nonce flipped", nil, flip(good, 4+3)},
		{"modified-wrap-tag", "not opened", "one bit of the wrap's Poly1305 tag flipped", nil, flip(good, 4+24)},
		{"modified-wrapped-key", "not opened", "one bit of the wrapped k flipped", nil, flip(good, 4+24+16+5)},
		{"modified-reply-ephemeral-key", "not opened", "one bit of the reply's ephemeral public key flipped (its nonce changes)", nil, flip(good, w+4+5)},
		{"modified-reply-ciphertext", "not opened", "one bit of the reply's ciphertext flipped", nil, flip(good, len(good)-100)},
		{"modified-reply-magic", "not opened", "the reply inside does not start with wxr 0x01", nil, flip(good, w+1)},
		{"swapped-reply", "not opened", "the wrap of one reply before another reply", nil, append(bytes.Clone(good[:w]), seal(msg, env, 28)[w:]...)},
		{"truncated", "not opened", "the last byte removed", nil, good[:len(good)-1]},
		{"too-short", "not opened", "a wrap and 40 bytes: shorter than a reply's ephemeral key and tag", nil, good[:w+40]},
		{"not-a-copy", "not a copy", "a sealed reply's magic (wxr) instead of wxk", nil, append([]byte("wxr\x01"), good[4:]...)},
		{"unsupported-version", "unsupported version", "version byte 2", nil, append([]byte("wxk\x02"), good[4:]...)},
	}
	if err := os.MkdirAll(copyVectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		var b strings.Builder
		fmt.Fprintf(&b, "expect: %s\nid: %s\nenv key: %s\nserver key: %s\n", v.expect, id, unseal.EncodeKey(env), unseal.EncodeKey(srv))
		if v.expect == "success" {
			sum := sha256.Sum256(v.msg)
			fmt.Fprintf(&b, "message sha256: %x\n", sum)
		}
		fmt.Fprintf(&b, "comment: %s\n\n%s\n", v.comment, base64.StdEncoding.EncodeToString(v.sealed))
		if err := os.WriteFile(filepath.Join(copyVectorDir, v.name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopyRoundTrip: a copy opens with the keys of its envelope only, and
// never with what the key server holds alone; its reply opens for the gateway.
func TestCopyRoundTrip(t *testing.T) {
	var id, otherID unseal.ID
	var env, srv unseal.Key
	rand.Read(id[:])
	rand.Read(otherID[:])
	rand.Read(env[:])
	rand.Read(srv[:])
	k, _ := unseal.ReplyCopyKey(id, env, srv)
	key := [32]byte(k)
	msg := []byte("Subject: Re: hi\r\n\r\ncopy-canary\r\n")
	pub := detKey(1)
	reply, wrap, err := compose.SealWithCopy(msg, &pub.Public, &key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed := append(wrap, reply...)
	if len(wrap) != compose.WrapSize {
		t.Fatalf("wrap of %d bytes", len(wrap))
	}
	if bytes.Contains(sealed, []byte("copy-canary")) {
		t.Fatal("copy holds the plaintext")
	}
	if got, err := compose.OpenCopy(sealed, &key); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("OpenCopy: %q, %v", got, err)
	}
	if got, err := Open(reply, []KeyPair{pub}); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the gateway's Open: %q, %v", got, err)
	}
	for name, keys := range map[string][3]any{
		"another envelope's id": {otherID, env, srv},
		"k_srv alone":           {id, unseal.Key{}, srv},
		"k_env alone":           {id, env, unseal.Key{}},
	} {
		k, _ := unseal.ReplyCopyKey(keys[0].(unseal.ID), keys[1].(unseal.Key), keys[2].(unseal.Key))
		wrong := [32]byte(k)
		if _, err := compose.OpenCopy(sealed, &wrong); !errors.Is(err, compose.ErrCopyNotOpened) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := compose.SealWithCopy(make([]byte, compose.MaxMessage+1), &pub.Public, &key, rand.Reader); !errors.Is(err, compose.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := compose.OpenCopy(make([]byte, compose.MaxCopy+1), &key); !errors.Is(err, compose.ErrCopyTooLarge) {
		t.Errorf("open too large: %v", err)
	}
}
