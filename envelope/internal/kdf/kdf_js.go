//go:build js && wasm

package kdf

import (
	"errors"
	"syscall/js"
)

// derive runs in a goroutine of its own (the decryptor never calls it from a
// js.FuncOf callback), so waiting on WebCrypto's Promises lets the event loop run.
func derive(serverKey, envKey *[32]byte, id *[16]byte, header []byte) (Keys, error) {
	subtle := js.Global().Get("crypto").Get("subtle")
	if subtle.IsUndefined() {
		return Keys{}, errors.New("this browser offers no WebCrypto here (is the page served over https?)")
	}
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, serverKey[:]...)
	ikm = append(ikm, envKey[:]...)
	key, err := await(subtle.Call("importKey", "raw", bytes(ikm), "HKDF", false, array("deriveBits")))
	if err != nil {
		return Keys{}, err
	}
	sum, err := await(subtle.Call("digest", "SHA-256", bytes(header)))
	if err != nil {
		return Keys{}, err
	}
	info := bytes(append([]byte(KEKInfo), goBytes(sum)...))
	var k Keys
	kek, err := await(subtle.Call("deriveBits", params(id, info), key, 8*len(k.KEK)))
	if err != nil {
		return Keys{}, err
	}
	check, err := await(subtle.Call("deriveBits", params(id, bytes([]byte(CheckInfo))), key, 8*CheckSize))
	if err != nil {
		return Keys{}, err
	}
	copy(k.KEK[:], goBytes(kek))
	copy(k.Check[:], goBytes(check))
	return k, nil
}

func copyKey(serverKey, envKey *[32]byte, id *[16]byte) ([32]byte, error) {
	subtle := js.Global().Get("crypto").Get("subtle")
	if subtle.IsUndefined() {
		return [32]byte{}, errors.New("this browser offers no WebCrypto here (is the page served over https?)")
	}
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, serverKey[:]...)
	ikm = append(ikm, envKey[:]...)
	key, err := await(subtle.Call("importKey", "raw", bytes(ikm), "HKDF", false, array("deriveBits")))
	if err != nil {
		return [32]byte{}, err
	}
	k, err := await(subtle.Call("deriveBits", params(id, bytes([]byte(CopyInfo))), key, 256))
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(goBytes(k)), nil
}

func params(salt *[16]byte, info js.Value) js.Value {
	p := js.Global().Get("Object").New()
	p.Set("name", "HKDF")
	p.Set("hash", "SHA-256")
	p.Set("salt", bytes(salt[:]))
	p.Set("info", info)
	return p
}

func array(items ...any) js.Value { return js.Global().Get("Array").New(items...) }

func bytes(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// goBytes copies an ArrayBuffer out of JavaScript.
func goBytes(buf js.Value) []byte {
	a := js.Global().Get("Uint8Array").New(buf)
	b := make([]byte, a.Get("byteLength").Int())
	js.CopyBytesToGo(b, a)
	return b
}

func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer onOK.Release()
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: errors.New("WebCrypto: " + args[0].Call("toString").String())}
		return nil
	})
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	r := <-done
	return r.v, r.err
}
