//go:build js && wasm

// Command wasm is the browser decryptor: thin syscall/js glue over package envelope,
// with no cryptography of its own. It installs globalThis.waxseal with functions that
// return Promises; the work runs in goroutines, never inside the js.FuncOf callback,
// so the page's event loop is never blocked waiting for Go.
//
//	waxseal.inspect(file: Uint8Array) -> Promise<header object>
//	waxseal.open(file: Uint8Array, serverKey: string) -> Promise<{header, message: Uint8Array}>
//	waxseal.openForm({header, key, payload}: strings, envKey: string, serverKey: string)
//	    -> Promise<{header, message: Uint8Array}>
//
// Errors reject the Promise with an Error whose message is the envelope error's.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/waxseal/waxseal/envelope"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", envelope.Version)
	api.Set("inspect", promised(inspect))
	api.Set("open", promised(open))
	api.Set("openForm", promised(openForm))
	js.Global().Set("waxseal", api)
	if ready := js.Global().Get("waxsealReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // keep the functions alive
}

// promised wraps f as a JS function returning a Promise. Arguments are copied out of
// JS before the goroutine starts, so the callback returns at once.
func promised(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		handler := js.FuncOf(func(this js.Value, pargs []js.Value) any {
			resolve, reject := pargs[0], pargs[1]
			go func() {
				v, err := safeCall(f, args)
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(v)
			}()
			return nil
		})
		defer handler.Release()
		return js.Global().Get("Promise").New(handler)
	})
}

func safeCall(f func([]js.Value) (any, error), args []js.Value) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("waxseal: %v", r)
		}
	}()
	return f(args)
}

func bytesArg(args []js.Value, i int, name string) ([]byte, error) {
	if len(args) <= i || args[i].Type() != js.TypeObject || args[i].Get("byteLength").Type() != js.TypeNumber {
		return nil, fmt.Errorf("%s: want a Uint8Array", name)
	}
	b := make([]byte, args[i].Get("byteLength").Int())
	js.CopyBytesToGo(b, args[i])
	return b, nil
}

func stringArg(args []js.Value, i int, name string) (string, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("%s: want a string", name)
	}
	return args[i].String(), nil
}

func keyArg(args []js.Value, i int, name string) (envelope.Key, error) {
	s, err := stringArg(args, i, name)
	if err != nil {
		return envelope.Key{}, err
	}
	k, err := envelope.ParseKey(s)
	if err != nil {
		return k, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

func headerValue(h []byte) (js.Value, error) {
	var v any
	if err := json.Unmarshal(h, &v); err != nil {
		return js.Undefined(), err
	}
	return js.Global().Get("JSON").Call("parse", string(h)), nil
}

func inspect(args []js.Value) (any, error) {
	data, err := bytesArg(args, 0, "file")
	if err != nil {
		return nil, err
	}
	f, err := envelope.ParseHTML(data)
	if err != nil {
		return nil, err
	}
	return headerValue(f.HeaderJSON)
}

func open(args []js.Value) (any, error) {
	data, err := bytesArg(args, 0, "file")
	if err != nil {
		return nil, err
	}
	srv, err := keyArg(args, 1, "serverKey")
	if err != nil {
		return nil, err
	}
	f, err := envelope.ParseHTML(data)
	if err != nil {
		return nil, err
	}
	return opened(f, srv)
}

func openForm(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return nil, errors.New("fields: want {header, key, payload}")
	}
	var fields [3][]byte
	for i, name := range []string{"header", "key", "payload"} {
		v := args[0].Get(name)
		if v.Type() != js.TypeString {
			return nil, fmt.Errorf("fields.%s: want a string", name)
		}
		fields[i] = []byte(v.String())
	}
	env, err := keyArg(args, 1, "envKey")
	if err != nil {
		return nil, err
	}
	srv, err := keyArg(args, 2, "serverKey")
	if err != nil {
		return nil, err
	}
	f, err := envelope.ParseForm(fields[0], fields[1], fields[2], env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv)
}

func opened(f *envelope.File, srv envelope.Key) (any, error) {
	msg, err := f.Open(srv)
	if err != nil {
		return nil, err
	}
	h, err := headerValue(f.HeaderJSON)
	if err != nil {
		return nil, err
	}
	out := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(out, msg)
	res := js.Global().Get("Object").New()
	res.Set("header", h)
	res.Set("message", out)
	return res, nil
}
