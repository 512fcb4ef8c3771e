//go:build js && wasm

package d1batch

import (
	"context"
	"syscall/js"

	"github.com/waxseal/waxseal/internal/jsio"
)

// Call calls target[method](args...), which returns a Promise (an R2 call,
// say), in the request's context (jsio.Call), and waits for it or for ctx.
// Like Batch, it must run on a goroutine of its own, never in a js.FuncOf
// callback.
func Call(ctx context.Context, target js.Value, method string, args ...any) (js.Value, error) {
	t := start()
	v, err := jsio.Call(ctx, target, method, args...)
	if !since(&stats.await, t).IsZero() {
		stats.awaits.Add(1)
	}
	return v, err
}
