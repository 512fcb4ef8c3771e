//go:build js && wasm

package d1store_test

import (
	"context"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/d1store"
	"github.com/waxseal/waxseal/keyserver/storetest"
)

// These tests run inside workerd, where the D1 and R2 bindings exist: `make
// test-worker` builds this package's test binary for js/wasm and
// worker/d1store.test.mjs runs it through worker/storetest-entry.mjs under
// wrangler dev --local. Every case gets the one local database, emptied.
func open(t *testing.T) keyserver.Store {
	s, err := d1store.Open(context.Background(), "DB", "CIPHERTEXTS")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) { storetest.Run(t, open) }
