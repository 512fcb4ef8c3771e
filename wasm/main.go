//go:build js && wasm

// Command wasm is the browser decryptor: thin syscall/js glue over package unseal
// (the read side of package envelope: parsing and the cryptography) and package
// message (reading the decrypted mail for display). It links nothing heavier than
// those two do (no fmt, encoding/json or time), which keeps it small; the budget is
// checked by TestSizeBudget.
// It installs globalThis.waxseal with functions that return Promises; the work runs
// in goroutines, never inside the js.FuncOf callback, so the page's event loop is
// never blocked waiting for Go.
//
//	waxseal.inspect(file: Uint8Array) -> Promise<header object>
//	waxseal.open(file: Uint8Array, envKey: string ("" for the file's own), serverKey: string) -> Promise<Opened>
//	waxseal.openForm({header, key, payload}: strings, envKey: string, serverKey: string) -> Promise<Opened>
//	waxseal.openOnline(blob: Uint8Array, envKey: string, serverKey: string) -> Promise<Opened>
//	waxseal.openParts({header, key, ciphertext}: Uint8Arrays, envKey: string, serverKey: string) -> Promise<Opened>
//	waxseal.sealReply(draft, replyPublicKey: string[, copyKeys]) -> Promise<Uint8Array | {reply, copyKey}> (reply.go)
//	waxseal.openReplyCopy(copy: Uint8Array, {id, envKey, serverKey}) -> Promise<{original, message}> (reply.go)
//
// openParts is openForm with the base64 already decoded by the browser, which does
// it natively and many times faster than Go compiled to WebAssembly.
//
// Opened is {header, original: Uint8Array, message, decryptMs}, where message is
// {subject, from, to, cc, replyTo: [{name, email}], date (ms since 1970, or null),
// dateRaw, messageId, text, html, charsetGuessed (bool: text without a charset
// label was read as Latin-1 and may show wrongly), attachments: [{filename,
// contentType, contentId, inline, data: Uint8Array}], problems: [string],
// issues: [{id, part, args}]}.
//
// Errors reject the Promise with an Error whose message is the envelope error's.
package main

import (
	"errors"
	"syscall/js"

	"github.com/waxseal/waxseal/envelope/unseal"
	"github.com/waxseal/waxseal/wasm/message"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", unseal.Version)
	api.Set("inspect", promised(inspect))
	api.Set("open", promised(open))
	api.Set("openForm", promised(openForm))
	api.Set("openOnline", promised(openOnline))
	api.Set("openParts", promised(openParts))
	api.Set("sealReply", promised(sealReply))
	api.Set("openReplyCopy", promised(openReplyCopy))
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
					e := js.Global().Get("Error").New(err.Error())
					// The page says why from its catalog (js.damage_CODE);
					// the message is for the console.
					e.Set("code", errorCode(err))
					reject.Invoke(e)
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

// errorCodes name the envelope's failures for the page.
var errorCodes = []struct {
	err  error
	code string
}{
	{unseal.ErrNotEnvelope, "not_envelope"}, {unseal.ErrUnsupportedVersion, "version"},
	{unseal.ErrMalformed, "malformed"}, {unseal.ErrBadBase64, "malformed"}, {unseal.ErrBadKey, "bad_key"},
	{unseal.ErrWrongKey, "wrong_key"}, {unseal.ErrHeaderModified, "modified"}, {unseal.ErrTruncated, "truncated"},
	{unseal.ErrAppended, "modified"}, {unseal.ErrOutOfOrder, "modified"}, {unseal.ErrChunkModified, "modified"},
	{unseal.ErrLastFlagMissing, "truncated"}, {unseal.ErrLastFlagEarly, "modified"},
}

// errorCode is err's code for the page: one of errorCodes', else "other".
func errorCode(err error) string {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "other"
}

func safeCall(f func([]js.Value) (any, error), args []js.Value) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("waxseal: internal error")
			if e, ok := r.(error); ok {
				err = errors.New("waxseal: " + e.Error())
			} else if s, ok := r.(string); ok {
				err = errors.New("waxseal: " + s)
			}
		}
	}()
	return f(args)
}

func bytesArg(args []js.Value, i int, name string) ([]byte, error) {
	if len(args) <= i || args[i].Type() != js.TypeObject || args[i].Get("byteLength").Type() != js.TypeNumber {
		return nil, errors.New(name + ": want a Uint8Array")
	}
	b := make([]byte, args[i].Get("byteLength").Int())
	js.CopyBytesToGo(b, args[i])
	return b, nil
}

func stringArg(args []js.Value, i int, name string) (string, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return "", errors.New(name + ": want a string")
	}
	return args[i].String(), nil
}

func keyArg(args []js.Value, i int, name string) (unseal.Key, error) {
	s, err := stringArg(args, i, name)
	if err != nil {
		return unseal.Key{}, err
	}
	k, err := unseal.ParseKey(s)
	if err != nil {
		return k, errors.New(name + ": " + err.Error())
	}
	return k, nil
}

// keyArgs reads the (envKey, serverKey) arguments every open function ends with.
func keyArgs(args []js.Value) (env, srv unseal.Key, err error) {
	if env, err = keyArg(args, 1, "envKey"); err != nil {
		return env, srv, err
	}
	srv, err = keyArg(args, 2, "serverKey")
	return env, srv, err
}

// headerValue gives the page the header as JSON.parse reads it; unseal has
// already checked the bytes.
func headerValue(h []byte) js.Value {
	return js.Global().Get("JSON").Call("parse", string(h))
}

func inspect(args []js.Value) (any, error) {
	data, err := bytesArg(args, 0, "file")
	if err != nil {
		return nil, err
	}
	f, err := unseal.ParseHTML(data)
	if err != nil {
		return nil, err
	}
	return headerValue(f.HeaderJSON), nil
}

// open takes a whole securedoc.html. Its form's action carries k_env; an envKey
// given as well must be the same key (a page that read it from elsewhere).
func open(args []js.Value) (any, error) {
	start := now()
	data, err := bytesArg(args, 0, "file")
	if err != nil {
		return nil, err
	}
	env, err := stringArg(args, 1, "envKey")
	if err != nil {
		return nil, err
	}
	srv, err := keyArg(args, 2, "serverKey")
	if err != nil {
		return nil, err
	}
	f, err := unseal.ParseHTML(data)
	if err != nil {
		return nil, err
	}
	if env != "" {
		k, err := unseal.ParseKey(env)
		if err != nil {
			return nil, errors.New("envKey: " + err.Error())
		}
		if k != f.EnvKey {
			return nil, errors.New("envKey: not the key in this file")
		}
	}
	return opened(f, srv, start)
}

func openForm(args []js.Value) (any, error) {
	start := now()
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return nil, errors.New("fields: want {header, key, payload}")
	}
	var fields [3][]byte
	for i, name := range []string{"header", "key", "payload"} {
		v := args[0].Get(name)
		if v.Type() != js.TypeString {
			return nil, errors.New("fields." + name + ": want a string")
		}
		fields[i] = []byte(v.String())
	}
	env, srv, err := keyArgs(args)
	if err != nil {
		return nil, err
	}
	f, err := unseal.ParseForm(fields[0], fields[1], fields[2], env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

func openParts(args []js.Value) (any, error) {
	start := now()
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
	f, err := unseal.NewFile(parts[0], parts[1], parts[2], env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

func openOnline(args []js.Value) (any, error) {
	start := now()
	blob, err := bytesArg(args, 0, "blob")
	if err != nil {
		return nil, err
	}
	env, srv, err := keyArgs(args)
	if err != nil {
		return nil, err
	}
	f, err := unseal.ParseOnline(blob, env)
	if err != nil {
		return nil, err
	}
	return opened(f, srv, start)
}

// opened decrypts f and reads the message. decryptMs covers decoding the envelope
// (from start, before parsing) and decrypting it, not reading the mail.
func opened(f *unseal.File, srv unseal.Key, start float64) (any, error) {
	raw, err := f.Open(srv)
	if err != nil {
		return nil, err
	}
	decryptMs := now() - start
	h := headerValue(f.HeaderJSON)
	msg, err := message.Parse(raw, message.Options{Charset: decodeWithTextDecoder})
	if err != nil {
		// Nothing to show (an empty message): the original is still offered.
		msg = &message.Message{Problems: []string{err.Error()}, Issues: []message.Problem{{ID: "unreadable"}}}
	}
	res := object()
	res.Set("header", h)
	res.Set("original", uint8Array(raw))
	res.Set("message", messageValue(msg))
	res.Set("decryptMs", decryptMs)
	return res, nil
}

// now is the page's clock in milliseconds (package time would add 50 KB).
func now() float64 { return js.Global().Get("performance").Call("now").Float() }

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
	if m.HasDate {
		o.Set("date", float64(m.Date))
	} else {
		o.Set("date", js.Null())
	}
	o.Set("dateRaw", m.DateRaw)
	o.Set("messageId", m.MessageID)
	o.Set("text", m.Text)
	o.Set("html", m.HTML)
	o.Set("charsetGuessed", m.CharsetGuessed)
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
	// The same for the reader: {id, part, args}, which the page says from its
	// catalog (the English above is for logs and tests).
	issues := js.Global().Get("Array").New(len(m.Issues))
	for i, p := range m.Issues {
		io := object()
		io.Set("id", p.ID)
		io.Set("part", p.Part)
		args := object()
		for k, v := range p.Args {
			args.Set(k, v)
		}
		io.Set("args", args)
		issues.SetIndex(i, io)
	}
	o.Set("issues", issues)
	return o
}

// decodeWithTextDecoder decodes a charset the Go standard library does not know with
// the browser's TextDecoder, which knows them all, instead of shipping the tables.
func decodeWithTextDecoder(charset string, b []byte) (s string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("charset " + charset + ": not known to this browser")
		}
	}()
	dec := js.Global().Get("TextDecoder").New(charset)
	return dec.Call("decode", uint8Array(b)).String(), nil
}
