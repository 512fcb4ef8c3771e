//go:build !(js && wasm)

package kdf

import (
	"crypto/hkdf"
	"crypto/sha256"
)

func derive(serverKey, envKey *[32]byte, id *[16]byte, header []byte) (Keys, error) {
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, serverKey[:]...)
	ikm = append(ikm, envKey[:]...)
	prk, err := hkdf.Extract(sha256.New, ikm, id[:])
	if err != nil {
		return Keys{}, err
	}
	sum := sha256.Sum256(header)
	kek, err := hkdf.Expand(sha256.New, prk, KEKInfo+string(sum[:]), 32)
	if err != nil {
		return Keys{}, err
	}
	check, err := hkdf.Expand(sha256.New, prk, CheckInfo, CheckSize)
	if err != nil {
		return Keys{}, err
	}
	return Keys{KEK: [32]byte(kek), Check: [CheckSize]byte(check)}, nil
}

func copyKey(serverKey, envKey *[32]byte, id *[16]byte) ([32]byte, error) {
	ikm := make([]byte, 0, 64)
	ikm = append(ikm, serverKey[:]...)
	ikm = append(ikm, envKey[:]...)
	k, err := hkdf.Key(sha256.New, ikm, id[:], CopyInfo, 32)
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(k), nil
}
