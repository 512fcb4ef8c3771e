// Package envelope implements the waxseal registered-envelope format, version 1,
// specified in docs/FORMAT.md.
//
// A message is encrypted once under a random payload key (EncryptPayload,
// NewPayloadWriter). Each recipient then gets an Envelope of their own (Payload.Seal):
// a JSON header, and the payload key wrapped under a key derived from two halves,
// k_env, which travels in the recipient's securedoc.html, and k_srv, which only the
// key server holds. The header bytes are bound into that derivation, so a changed
// header makes opening fail.
//
// The package is pure Go without I/O of its own, so that the browser decryptor
// (GOOS=js GOARCH=wasm) and the servers share one implementation.
package envelope
