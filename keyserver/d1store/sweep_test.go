//go:build js && wasm

package d1store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver/d1store"
)

// TestSweepFollowsCursor: the orphan sweep reads the bucket a bounded number
// of pages per run and goes on from its cursor in the next run, so orphans
// past the first page go too, while an object a row names stays.
func TestSweepFollowsCursor(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*d1store.Store)
	defer d1store.SetSweepPaging(2, 1)()
	// Keys that sort before any real SHA-256 hex the other tests left.
	key := func(i int) string { return strings.Repeat("0", 62) + fmt.Sprintf("%02x", i) }
	for i := 1; i <= 5; i++ {
		if err := s.PutObject(key(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Object 3 has a row, uploaded (as D1 says) after the sweep's time.
	var sum3 [32]byte
	sum3[31] = 3
	cut := time.Now().Add(time.Hour)
	if err := s.PutCiphertext(ctx, sum3, []byte{3}, cut.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	present := func() string {
		var b strings.Builder
		for i := 1; i <= 5; i++ {
			ok, err := s.HasObject(key(i))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				fmt.Fprint(&b, i)
			}
		}
		return b.String()
	}
	sweep := func() {
		if _, err := s.DeleteUnreferencedCiphertexts(ctx, cut); err != nil {
			t.Fatal(err)
		}
	}
	sweep() // page 1: objects 1 and 2
	if got := present(); got != "345" {
		t.Fatalf("after one run of one page, objects %q are left, want 345", got)
	}
	sweep() // page 2: 3 (named by its row) and 4
	if got := present(); got != "35" {
		t.Fatalf("after two runs, objects %q are left, want 35", got)
	}
	// The rest of the bucket, from object 5 on, with pages of the usual size.
	d1store.SetSweepPaging(1000, 10)
	for range 5 {
		if present() == "3" {
			return
		}
		sweep()
	}
	t.Fatalf("objects %q are left after 5 more runs, want 3", present())
}
