package kdf

import (
	"encoding/hex"
	"testing"
)

// TestDerive pins the derivation to values computed independently (Python's
// hashlib/hmac, RFC 5869 by hand), so the WebCrypto and Go implementations, which
// both run this test, cannot drift together.
func TestDerive(t *testing.T) {
	var srv, env [32]byte
	var id [16]byte
	for i := range srv {
		srv[i], env[i] = byte(i), byte(0x80+i)
	}
	for i := range id {
		id[i] = byte(0xf0 + i)
	}
	k, err := Derive(&srv, &env, &id, []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(k.KEK[:]), wantKEK; got != want {
		t.Errorf("KEK = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(k.Check[:]), wantCheck; got != want {
		t.Errorf("check = %s, want %s", got, want)
	}
	other, err := Derive(&srv, &env, &id, []byte(`{"v":1} `))
	if err != nil {
		t.Fatal(err)
	}
	if other.KEK == k.KEK || other.Check != k.Check {
		t.Error("a changed header must change the KEK and only the KEK")
	}
}

// TestCopyKey pins k_copy the same way (Python's hmac, RFC 5869 by hand).
func TestCopyKey(t *testing.T) {
	var srv, env [32]byte
	var id [16]byte
	for i := range srv {
		srv[i], env[i] = byte(i), byte(0x80+i)
	}
	for i := range id {
		id[i] = byte(0xf0 + i)
	}
	k, err := CopyKey(&srv, &env, &id)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(k[:]); got != wantCopy {
		t.Errorf("k_copy = %s, want %s", got, wantCopy)
	}
	env[0] ^= 1
	if other, _ := CopyKey(&srv, &env, &id); other == k {
		t.Error("k_copy does not depend on k_env")
	}
}

const (
	wantCopy  = "729e6a6d021172ded96fdb02b3bb29fb0165a01f3863a259846f5350dd78de2d"
	wantKEK   = "9504f8316b102b70e4dff83e61f36172f38a95687a00f5c6d6d80ec7969b9a6d"
	wantCheck = "2bd11c3377d0ef5679c12889d3a03a1f"
)
