//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"

	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/envelope/unseal"
	"github.com/waxseal/waxseal/wasm/message"
)

//	waxseal.sealReply(draft, replyPublicKey: string[, copyKeys]) -> Promise<Uint8Array | {reply, copyKey}>
//
// draft is {subject, text, quote, attribution: strings (all optional),
// attachments: [{name: string, contentType: string, data: Uint8Array}]}. The
// result is a Reply v1 (docs/FORMAT.md §13) for the key server to store. The page
// gives no addresses: the gateway sets them. With copyKeys, {id, envKey,
// serverKey: strings} of the envelope replied to, the result is {reply,
// copyKey}: copyKey is the wrap of the reply's box key under the envelope's
// k_copy (§13.5), with which the recipient's page opens the reply later
// (openReplyCopy).
func sealReply(args []js.Value) (any, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return nil, errors.New("draft: want an object")
	}
	key, err := keyArg(args, 1, "replyPublicKey")
	if err != nil {
		return nil, err
	}
	d := args[0]
	str := func(name string) (string, error) {
		v := d.Get(name)
		switch v.Type() {
		case js.TypeUndefined, js.TypeNull:
			return "", nil
		case js.TypeString:
			return v.String(), nil
		}
		return "", errors.New("draft." + name + ": want a string")
	}
	var draft compose.Draft
	for _, f := range []struct {
		name string
		dst  *string
	}{{"subject", &draft.Subject}, {"text", &draft.Text}, {"quote", &draft.Quote}, {"attribution", &draft.Attribution}} {
		if *f.dst, err = str(f.name); err != nil {
			return nil, err
		}
	}
	if atts := d.Get("attachments"); atts.Type() == js.TypeObject {
		total := 0
		for i := 0; i < atts.Length(); i++ {
			a := atts.Index(i)
			data := a.Get("data")
			if a.Type() != js.TypeObject || data.Type() != js.TypeObject || data.Get("byteLength").Type() != js.TypeNumber {
				return nil, errors.New("draft.attachments: want {name, contentType, data: Uint8Array}")
			}
			n := data.Get("byteLength").Int()
			if total += n; total > compose.MaxMessage {
				return nil, compose.ErrTooLarge // before copying it all into Go
			}
			b := make([]byte, n)
			js.CopyBytesToGo(b, data)
			name, ct := a.Get("name"), a.Get("contentType")
			att := compose.Attachment{Data: b}
			if name.Type() == js.TypeString {
				att.Name = name.String()
			}
			if ct.Type() == js.TypeString {
				att.ContentType = ct.String()
			}
			draft.Attachments = append(draft.Attachments, att)
		}
	}
	msg, err := compose.Build(&draft, browserRandom{})
	if err != nil {
		return nil, err
	}
	var copyKey *[32]byte
	if len(args) > 2 && args[2].Type() == js.TypeObject {
		k, err := copyKeyArg(args[2])
		if err != nil {
			return nil, err
		}
		copyKey = &k
	}
	pub := [32]byte(key)
	if copyKey == nil {
		sealed, err := compose.Seal(msg, &pub, browserRandom{})
		if err != nil {
			return nil, err
		}
		return uint8Array(sealed), nil
	}
	sealed, wrap, err := compose.SealWithCopy(msg, &pub, copyKey, browserRandom{})
	clear(msg)
	if err != nil {
		return nil, err
	}
	res := object()
	res.Set("reply", uint8Array(sealed))
	res.Set("copyKey", uint8Array(wrap))
	return res, nil
}

// copyKeyArg derives k_copy from {id, envKey, serverKey}.
func copyKeyArg(v js.Value) ([32]byte, error) {
	var s [3]string
	for i, name := range []string{"id", "envKey", "serverKey"} {
		f := v.Get(name)
		if f.Type() != js.TypeString {
			return [32]byte{}, errors.New("copyKeys." + name + ": want a string")
		}
		s[i] = f.String()
	}
	id, err := unseal.ParseID(s[0])
	if err != nil {
		return [32]byte{}, errors.New("copyKeys.id: " + err.Error())
	}
	env, err := unseal.ParseKey(s[1])
	if err != nil {
		return [32]byte{}, errors.New("copyKeys.envKey: " + err.Error())
	}
	srv, err := unseal.ParseKey(s[2])
	if err != nil {
		return [32]byte{}, errors.New("copyKeys.serverKey: " + err.Error())
	}
	k, err := unseal.ReplyCopyKey(id, env, srv)
	return [32]byte(k), err
}

//	waxseal.openReplyCopy(copy: Uint8Array, copyKeys) -> Promise<{original: Uint8Array, message}>
//
// opens the recipient's copy of a reply (§13.5: the wrap, then the sealed reply)
// with {id, envKey, serverKey} of the envelope replied to; message is as open's.
func openReplyCopy(args []js.Value) (any, error) {
	sealed, err := bytesArg(args, 0, "copy")
	if err != nil {
		return nil, err
	}
	if len(args) < 2 || args[1].Type() != js.TypeObject {
		return nil, errors.New("copyKeys: want {id, envKey, serverKey}")
	}
	key, err := copyKeyArg(args[1])
	if err != nil {
		return nil, err
	}
	raw, err := compose.OpenCopy(sealed, &key)
	if err != nil {
		return nil, err
	}
	msg, err := message.Parse(raw, message.Options{Charset: decodeWithTextDecoder})
	if err != nil {
		msg = &message.Message{Problems: []string{err.Error()}}
	}
	res := object()
	res.Set("original", uint8Array(raw))
	res.Set("message", messageValue(msg))
	return res, nil
}

// browserRandom reads crypto.getRandomValues, as Go's own crypto/rand does on
// js/wasm (through wasm_exec.js's runtime.getRandomData); called directly
// because crypto/rand would link more than the decryptor can afford.
type browserRandom struct{}

func (browserRandom) Read(p []byte) (int, error) {
	c := js.Global().Get("crypto")
	if c.Type() != js.TypeObject {
		return 0, errors.New("crypto.getRandomValues is not available")
	}
	for off := 0; off < len(p); off += 65536 { // getRandomValues' limit per call
		n := min(65536, len(p)-off)
		a := js.Global().Get("Uint8Array").New(n)
		c.Call("getRandomValues", a)
		js.CopyBytesToGo(p[off:off+n], a)
	}
	return len(p), nil
}
