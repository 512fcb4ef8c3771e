// Package keyserver is the waxseal key service: it holds each envelope's k_srv
// (wrapped under a master key kept outside the database), registers and signs in
// recipients, releases a key only to the envelope's own recipient, lets
// administrators revoke, lock and expire keys, and records all of it in a
// hash-chained audit log.
//
// Service is the core that tests call directly; every method that acts for
// someone takes a Caller right after its context. The HTTP API
// (keyserver/httpapi) is a thin layer over it, and its wire types are in
// keyserver/api. Storage is behind the Store interface, composed of one role
// interface per kind of record (bbolt in keyserver/boltstore; the contract in
// keyserver/storetest).
package keyserver
