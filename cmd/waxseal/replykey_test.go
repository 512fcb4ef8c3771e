package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
)

// TestReplyKeyInitAndRotate: init writes a 0600 reply key file whose key matches
// the config's reply_public_key; a rotation adds a key, points the config at it,
// keeps the config's comments, and a reply sealed to the old key still opens.
func TestReplyKeyInitAndRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--public-url", "https://keys.example.org"}, nil, &out, &errb); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	cfgPath := filepath.Join(dir, "waxseal.toml")
	fc, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "reply.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("reply.key: %v %v", fi, err)
	}
	keys, err := reply.LoadKeys(keyFile)
	if err != nil || len(keys) != 1 || reply.EncodeKey(keys[0].Public) != fc.ReplyPublicKey {
		t.Fatalf("reply key %v, config has %q", err, fc.ReplyPublicKey)
	}
	oldPub, _ := reply.DecodeKey(fc.ReplyPublicKey)
	sealedOld, err := compose.Seal([]byte("before the rotation"), &oldPub, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(cfgPath)

	out.Reset()
	if code := run(context.Background(), []string{"admin", "reply-key", "rotate", "--config", cfgPath}, nil, &out, &errb); code != 0 {
		t.Fatalf("rotate: %d %s", code, errb.String())
	}
	fc2, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if fc2.ReplyPublicKey == fc.ReplyPublicKey || !strings.Contains(out.String(), "reply_public_key: "+fc2.ReplyPublicKey) {
		t.Fatalf("rotate printed %q; config key %q (was %q)", out.String(), fc2.ReplyPublicKey, fc.ReplyPublicKey)
	}
	after, _ := os.ReadFile(cfgPath)
	if len(bytes.Split(after, []byte("\n"))) != len(bytes.Split(before, []byte("\n"))) || !bytes.HasPrefix(after, []byte("# waxseal configuration")) {
		t.Fatalf("rotation changed more than one line of the config:\n%s", after)
	}
	keys, err = reply.LoadKeys(keyFile)
	if err != nil || len(keys) != 2 || reply.EncodeKey(keys[0].Public) != fc2.ReplyPublicKey {
		t.Fatalf("after rotation: %d keys, %v", len(keys), err)
	}
	if m, err := reply.Open(sealedOld, keys); err != nil || string(m) != "before the rotation" {
		t.Fatalf("a reply sealed before the rotation: %q %v", m, err)
	}
	if code := run(context.Background(), []string{"admin", "reply-key", "rotate"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--config is required") {
		t.Errorf("rotate without --config: %d %q", code, errb.String())
	}
}
