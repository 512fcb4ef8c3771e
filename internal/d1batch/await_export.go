//go:build js && wasm

package d1batch

import (
	"context"
	"syscall/js"
)

// Await waits for a JavaScript promise (an R2 call, say) with ctx; like
// Batch, it must run on a goroutine of its own, never in a js.FuncOf callback.
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	t := start()
	v, err := await(ctx, p)
	if !since(&stats.await, t).IsZero() {
		stats.awaits.Add(1)
	}
	return v, err
}
