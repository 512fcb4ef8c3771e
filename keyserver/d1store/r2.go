//go:build js && wasm

package d1store

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/keyserver"
)

// The R2 calls go through d1batch.Call, as the D1 ones do, so that each
// starts in the Worker request it serves (internal/jsio): syumai/workers' r2
// package starts them in whichever request's event Go is running.

// r2Put stores data under key.
func (s *Store) r2Put(ctx context.Context, key string, data []byte) error {
	b := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(b, data)
	if _, err := d1batch.Call(ctx, s.r2, "put", key, b); err != nil {
		return fmt.Errorf("r2 put %s: %w", key, err)
	}
	return nil
}

// r2Get reads the object under key whole; ErrNotFound if there is none.
func (s *Store) r2Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := d1batch.Call(ctx, s.r2, "get", key)
	if err != nil {
		return nil, fmt.Errorf("r2 get %s: %w", key, err)
	}
	if obj.IsNull() || obj.IsUndefined() {
		return nil, keyserver.ErrNotFound
	}
	buf, err := d1batch.Call(ctx, obj, "arrayBuffer")
	if err != nil {
		return nil, fmt.Errorf("r2 get %s: body: %w", key, err)
	}
	u := js.Global().Get("Uint8Array").New(buf)
	data := make([]byte, u.Length())
	js.CopyBytesToGo(data, u)
	return data, nil
}

// r2Delete deletes the object under key; a failure leaves an orphan for the
// sweep, so it is not returned.
func (s *Store) r2Delete(ctx context.Context, key string) {
	_, _ = d1batch.Call(ctx, s.r2, "delete", key)
}
