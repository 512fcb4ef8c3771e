//go:build js && wasm

// Command wasm is the browser decryptor: thin syscall/js glue over package envelope
// (the cryptography) and package message (reading the decrypted mail for display).
// It installs globalThis.waxseal with functions that return Promises; the work runs
// in goroutines, never inside the js.FuncOf callback, so the page's event loop is
// never blocked waiting for Go.
//
//	waxseal.inspect(file: Uint8Array) -> Promise<header object>
//	waxseal.open(file: Uint8Array, serverKey: string) -> Promise<Opened>
//	waxseal.openForm({header, key, payload}: strings, envKey: string, serverKey: string) -> Promise<Opened>
//	waxseal.openOnline(blob: Uint8Array, envKey: string, serverKey: string) -> Promise<Opened>
//	waxseal.openParts({header, key, ciphertext}: Uint8Arrays, envKey: string, serverKey: string) -> Promise<Opened>
//
// openParts is openForm with the base64 already decoded by the browser, which does
// it natively and many times faster than Go compiled to WebAssembly.
//
// Opened is {header, original: Uint8Array, message, decryptMs}, where message is
// {subject, from, to, cc, replyTo: [{name, email}], date (ms since 1970, or null),
// dateRaw, messageId, text, html, attachments: [{filename, contentType, contentId,
// inline, data: Uint8Array}], problems: [string]}.
//
// Errors reject the Promise with an Error whose message is the envelope error's.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/wasm/message"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", envelope.Version)
	api.Set("inspect", promised(inspect))
	api.Set("open", promised(open))
	api.Set("openForm", promised(openForm))
	api.Set("openOnline", promised(openOnline))
	api.Set("openParts", promised(openParts))
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

// keyArgs reads the (envKey, serverKey) arguments every open function ends with.
func keyArgs(args []js.Value) (env, srv envelope.Key, err error) {
	if env, err = keyArg(args, 1, "envKey"); err != nil {
		return env, srv, err
	}
	srv, err = keyArg(args, 2, "serverKey")
	return env, srv, err
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
	start := time.Now()
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
	return opened(f, srv, start)
}

func openForm(args []js.Value) (any, error) {
	start := time.Now()
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
	env, srv, err := keyArgs(args)
	if err != nil {
		return nil, err
	}
	f, err := envelope.ParseForm(fields[0], fields[1], fields[2], env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

func openParts(args []js.Value) (any, error) {
	start := time.Now()
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return nil, errors.New("parts: want {header, key, ciphertext}")
	}
	var parts [3][]byte
	for i, name := range []string{"header", "key", "ciphertext"} {
		b, err := bytesArg([]js.Value{args[0].Get(name)}, 0, "parts."+name)
		if err != nil {
			return nil, err
		}
		parts[i] = b
	}
	env, srv, err := keyArgs(args)
	if err != nil {
		return nil, err
	}
	f, err := envelope.NewFile(parts[0], parts[1], parts[2], env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

func openOnline(args []js.Value) (any, error) {
	start := time.Now()
	blob, err := bytesArg(args, 0, "blob")
	if err != nil {
		return nil, err
	}
	env, srv, err := keyArgs(args)
	if err != nil {
		return nil, err
	}
	f, err := envelope.ParseOnline(blob, env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

// opened decrypts f and reads the message. decryptMs covers decoding the envelope
// (from start, before parsing) and decrypting it, not reading the mail.
func opened(f *envelope.File, srv envelope.Key, start time.Time) (any, error) {
	raw, err := f.Open(srv)
	if err != nil {
		return nil, err
	}
	decryptMs := float64(time.Since(start).Microseconds()) / 1000
	h, err := headerValue(f.HeaderJSON)
	if err != nil {
		return nil, err
	}
	msg, err := message.Parse(raw, message.Options{Charset: decodeWithTextDecoder})
	if err != nil {
		// Nothing to show (an empty message): the original is still offered.
		msg = &message.Message{Problems: []string{err.Error()}}
	}
	res := object()
	res.Set("header", h)
	res.Set("original", uint8Array(raw))
	res.Set("message", messageValue(msg))
	res.Set("decryptMs", decryptMs)
	return res, nil
}

func object() js.Value { return js.Global().Get("Object").New() }

func uint8Array(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

func addresses(list []message.Address) js.Value {
	arr := js.Global().Get("Array").New(len(list))
	for i, a := range list {
		o := object()
		o.Set("name", a.Name)
		o.Set("email", a.Email)
		arr.SetIndex(i, o)
	}
	return arr
}

func messageValue(m *message.Message) js.Value {
	o := object()
	o.Set("subject", m.Subject)
	o.Set("from", addresses(m.From))
	o.Set("to", addresses(m.To))
	o.Set("cc", addresses(m.Cc))
	o.Set("replyTo", addresses(m.ReplyTo))
	if m.Date.IsZero() {
		o.Set("date", js.Null())
	} else {
		o.Set("date", float64(m.Date.UnixMilli()))
	}
	o.Set("dateRaw", m.DateRaw)
	o.Set("messageId", m.MessageID)
	o.Set("text", m.Text)
	o.Set("html", m.HTML)
	atts := js.Global().Get("Array").New(len(m.Attachments))
	for i, a := range m.Attachments {
		ao := object()
		ao.Set("filename", a.Filename)
		ao.Set("contentType", a.ContentType)
		ao.Set("contentId", a.ContentID)
		ao.Set("inline", a.Inline)
		ao.Set("data", uint8Array(a.Data))
		atts.SetIndex(i, ao)
	}
	o.Set("attachments", atts)
	problems := js.Global().Get("Array").New(len(m.Problems))
	for i, p := range m.Problems {
		problems.SetIndex(i, p)
	}
	o.Set("problems", problems)
	return o
}

// decodeWithTextDecoder decodes a charset the Go standard library does not know with
// the browser's TextDecoder, which knows them all, instead of shipping the tables.
func decodeWithTextDecoder(charset string, b []byte) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("charset %q: %v", charset, r)
		}
	}()
	dec := js.Global().Get("TextDecoder").New(charset)
	return dec.Call("decode", uint8Array(b)).String(), nil
}
