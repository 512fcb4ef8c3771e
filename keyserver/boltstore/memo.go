package boltstore

import (
	"bytes"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// memoSize bounds each memo; past it, an arbitrary entry makes way for a new one.
const memoSize = 4096

// memo remembers records as decoded, keyed by their bucket key together with the
// exact bytes they were decoded from. A record is taken from the memo only when
// the bytes now stored are those same bytes, so the memo needs no invalidation:
// it only skips decoding, which cost about 20 µs of each release (a session, an
// account and an envelope, each decoded every time).
//
// A record the store writes is remembered as written, which is what decoding its
// bytes gives back up to what the Store contract leaves open (a time's zone and
// monotonic reading, nil versus empty slices), and except for strings that are not
// valid UTF-8, which encoding replaces: those records are not remembered.
//
// Entries are never changed once stored: values go in and come out as deep
// copies (clone), because callers and fns change records' slices in place.
type memo[V any] struct {
	clone func(*V) V

	mu sync.Mutex
	m  map[string]memoEntry[V]
}

type memoEntry[V any] struct {
	data []byte // never changed once stored
	v    V
}

func newMemo[V any](clone func(*V) V) *memo[V] {
	return &memo[V]{clone: clone, m: make(map[string]memoEntry[V])}
}

// get sets *v to the record decoded from data, stored under key, if remembered.
func (c *memo[V]) get(key, data []byte, v *V) bool {
	c.mu.Lock()
	e, ok := c.m[string(key)]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.data, data) {
		return false
	}
	*v = c.clone(&e.v)
	return true
}

// put remembers that data, stored under key, decodes to *v. data must not be
// changed afterwards, nor be bbolt's memory, which lives only as long as its
// transaction.
func (c *memo[V]) put(key, data []byte, v *V) {
	e := memoEntry[V]{data: data, v: c.clone(v)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[string(key)]; !ok && len(c.m) >= memoSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[string(key)] = e
}

// memos are the Store's memos, one per record kind read on every release.
type memos struct {
	envelopes *memo[keyserver.EnvelopeRecord]
	sessions  *memo[keyserver.Session]
	accounts  *memo[keyserver.Account]
}

func newMemos() memos {
	return memos{
		envelopes: newMemo(cloneEnvelope),
		sessions:  newMemo(cloneSession),
		accounts:  newMemo(cloneAccount),
	}
}

// The clone functions copy every slice (TestCloneCoversReferences checks that
// none is missed when a field is added).

func cloneEnvelope(r *keyserver.EnvelopeRecord) keyserver.EnvelopeRecord {
	c := *r
	c.WrappedKey = slices.Clone(r.WrappedKey)
	c.KeyCheck = slices.Clone(r.KeyCheck)
	c.Ciphertext = slices.Clone(r.Ciphertext)
	c.ReplyContext = slices.Clone(r.ReplyContext)
	c.Attachments = slices.Clone(r.Attachments)
	if r.Delivery != nil {
		d := *r.Delivery
		c.Delivery = &d
	}
	return c
}

func cloneSession(s *keyserver.Session) keyserver.Session {
	c := *s
	c.TokenHash = slices.Clone(s.TokenHash)
	return c
}

func cloneAccount(a *keyserver.Account) keyserver.Account {
	c := *a
	c.UserHandle = slices.Clone(a.UserHandle)
	if a.Credentials != nil {
		c.Credentials = make([]keyserver.Credential, len(a.Credentials))
		for i, cr := range a.Credentials {
			cr.ID = slices.Clone(cr.ID)
			cr.PublicKey = slices.Clone(cr.PublicKey)
			cr.Raw = slices.Clone(cr.Raw)
			c.Credentials[i] = cr
		}
	}
	if a.SpentSignIns != nil {
		c.SpentSignIns = make([]keyserver.SpentSignIn, len(a.SpentSignIns))
		for i, sp := range a.SpentSignIns {
			sp.Challenge = slices.Clone(sp.Challenge)
			c.SpentSignIns[i] = sp
		}
	}
	return c
}

// getMemo is get with a memo: it decodes the record under key into v unless c
// remembers what the stored bytes decode to. ok is false if there is none.
func getMemo[V any](c *memo[V], b *bolt.Bucket, key []byte, v *V) (ok bool, err error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if c.get(key, data, v) {
		return true, nil
	}
	if err := decode(key, data, v); err != nil {
		return true, err
	}
	c.put(key, bytes.Clone(data), v)
	return true, nil
}

// putMemo is put with a memo: it stores v as JSON under key and remembers it,
// unless encoding changed one of its strings.
func putMemo[V any](c *memo[V], b *bolt.Bucket, key []byte, v *V) error {
	data, err := encode(key, v)
	if err != nil {
		return err
	}
	if err := b.Put(key, data); err != nil {
		return err
	}
	// encoding/json writes invalid UTF-8 as this escape, and a valid U+FFFD as
	// is; a string holding this text only costs a decode later.
	if !bytes.Contains(data, []byte(`\ufffd`)) {
		c.put(key, data, v)
	}
	return nil
}
