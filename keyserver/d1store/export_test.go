//go:build js && wasm

package d1store

import (
	"context"

	"github.com/waxseal/waxseal/internal/d1batch"
)

// SetSweepPaging sets the orphan sweep's page size and pages per run, for a
// test; the returned func restores them.
func SetSweepPaging(size, pages int) func() {
	oldSize, oldPages := sweepPageSize, sweepPages
	sweepPageSize, sweepPages = size, pages
	return func() { sweepPageSize, sweepPages = oldSize, oldPages }
}

// PutObject stores an R2 object with no row: an orphan.
func (s *Store) PutObject(key string, data []byte) error {
	return s.r2Put(context.Background(), key, data)
}

// HasObject reports whether R2 holds key.
func (s *Store) HasObject(key string) (bool, error) {
	o, err := d1batch.Call(context.Background(), s.r2, "head", key)
	return err == nil && !o.IsNull() && !o.IsUndefined(), err
}

// PayloadKey is payloadKey, for a test.
var PayloadKey = payloadKey

// MaxRowBytes and InlinePayload are the limits, for a test.
const MaxRowBytes, InlinePayload = maxRowBytes, inlinePayload
