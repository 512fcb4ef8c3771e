package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// testThreadHashes: a stored hash is known until its expiry and not after;
// storing it again keeps the later expiry; DeleteThreadHashesBefore removes
// exactly the expired ones.
func testThreadHashes(t *testing.T, s keyserver.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	a, b, c := []byte("hash-a-0123456789012345678901234"), []byte("hash-b-0123456789012345678901234"), []byte("hash-c-0123456789012345678901234")
	known := func(at time.Time, hs ...[]byte) bool {
		t.Helper()
		ok, err := s.ThreadHashKnown(ctx, hs, at)
		if err != nil {
			t.Fatalf("ThreadHashKnown: %v", err)
		}
		return ok
	}
	if known(now, a) {
		t.Fatal("empty store knows a hash")
	}
	if err := s.PutThreadHashes(ctx, [][]byte{a, b}, now.Add(time.Hour)); err != nil {
		t.Fatalf("PutThreadHashes: %v", err)
	}
	if !known(now, a) || !known(now, c, b) || known(now, c) {
		t.Fatal("known hashes wrong")
	}
	if known(now.Add(time.Hour), a) {
		t.Error("a hash is known at its expiry")
	}
	// A later expiry extends, an earlier one does not shorten.
	if err := s.PutThreadHashes(ctx, [][]byte{a}, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutThreadHashes(ctx, [][]byte{a}, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !known(now.Add(150*time.Minute), a) || known(now.Add(150*time.Minute), b) {
		t.Error("expiry not extended to the latest")
	}
	n, err := s.DeleteThreadHashesBefore(ctx, now.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteThreadHashesBefore = %d, %v; want 1 (b)", n, err)
	}
	if !known(now, a) || known(now, b) {
		t.Error("the wrong hashes went")
	}
	if n, err := s.DeleteThreadHashesBefore(ctx, now.Add(3*time.Hour)); err != nil || n != 1 {
		t.Errorf("second delete = %d, %v; want 1 (a, at its expiry)", n, err)
	}
	if known(now, a) {
		t.Error("a survived its deletion")
	}
}
