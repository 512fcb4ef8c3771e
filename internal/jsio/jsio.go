//go:build js && wasm

// Package jsio makes a Worker's JavaScript I/O calls (D1, R2) in the context
// of the request they serve.
//
// workerd ties every I/O call to the request whose event is running when it
// starts, and drops the answer once that request has ended. Go on js/wasm runs
// a goroutine in whichever JavaScript event happens to be running when it is
// ready: a goroutine woken by another request (a write turn handed over, a
// group commit's outcome) would start its calls in that other request, and
// they would never settle once it answered. So the worker entry hands each
// request an io function (worker/entry.mjs, requestIO) that starts a call from
// that request's own JavaScript, whichever event Go is in (checking that it is
// there first, and coming back on a timer of the request when workerd ran its
// loop elsewhere), and workerserve
// puts it in the request's context; Call uses it. Where there is none (a Go
// test inside workerd, the Cron Trigger), Call starts the call in the current
// event, as before.
package jsio

import (
	"context"
	"errors"
	"syscall/js"
)

type key struct{}

// WithRequest returns ctx carrying the request's io function:
// io(target, method, args, done) calls target[method](...args) from the
// request's own context and settles with done(true, value) or
// done(false, error).
func WithRequest(ctx context.Context, io js.Value) context.Context {
	if io.Type() != js.TypeFunction {
		return ctx
	}
	return context.WithValue(ctx, key{}, io)
}

// Call calls target[method](args...), which returns a Promise, and waits for
// it or for ctx. It must run on a goroutine of its own (a handler's), never
// inside a js.FuncOf callback.
func Call(ctx context.Context, target js.Value, method string, args ...any) (js.Value, error) {
	type outcome struct {
		v   js.Value
		err error
	}
	ch := make(chan outcome, 1)
	settle := func(ok bool, v js.Value) {
		if ok {
			ch <- outcome{v: v}
			return
		}
		msg := "rejected"
		switch {
		case v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString:
			msg = v.Get("message").String()
		case v.Truthy(): // a string or number thrown; not undefined
			msg = v.Call("toString").String()
		}
		ch <- outcome{err: errors.New(msg)}
	}
	// One callback a call, not one each for success and failure: every
	// js.Func is a JavaScript function and a Go finalizer (a key release
	// makes two calls).
	var release func()
	if io, ok := ctx.Value(key{}).(js.Value); ok {
		done := js.FuncOf(func(_ js.Value, a []js.Value) any {
			v := js.Undefined()
			if len(a) > 1 {
				v = a[1]
			}
			settle(len(a) > 0 && a[0].Truthy(), v)
			return nil
		})
		io.Invoke(target, method, js.ValueOf(args), done)
		release = done.Release
	} else {
		// No request's io function (a Go test inside workerd, the Cron
		// Trigger): start the call here.
		onOK := js.FuncOf(func(_ js.Value, a []js.Value) any {
			settle(true, firstArg(a))
			return nil
		})
		onErr := js.FuncOf(func(_ js.Value, a []js.Value) any {
			settle(false, firstArg(a))
			return nil
		})
		target.Call(method, args...).Call("then", onOK, onErr)
		release = func() { onOK.Release(); onErr.Release() }
	}
	select {
	case o := <-ch:
		release()
		return o.v, o.err
	case <-ctx.Done():
		// The callbacks stay referenced: the promise may still settle.
		return js.Value{}, ctx.Err()
	}
}

func firstArg(a []js.Value) js.Value {
	if len(a) == 0 {
		return js.Undefined()
	}
	return a[0]
}
