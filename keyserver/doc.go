// Package keyserver is the waxseal key service: it holds each envelope's k_srv
// (wrapped under a master key kept outside the database), registers and signs in
// recipients, releases a key only to the envelope's own recipient, lets
// administrators revoke, lock and expire keys, and records all of it in a
// hash-chained audit log.
//
// Service is the core that tests call directly; the HTTP API in http.go is a thin
// layer over it. Storage is behind the Store interface (bbolt in keyserver/boltstore).
package keyserver
