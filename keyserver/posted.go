package keyserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// Posted envelopes: the form of a securedoc.html file carries the ciphertext as
// base64 text. Echoing it back inside the open page made the browser parse a 14 MB
// page and decode 14 MB of base64 before any script ran (1.1 s of the 2.4 s a 10 MB
// message took to open). Instead the key server holds the decoded envelope for a
// few minutes under a random name, and the page fetches it as binary, in the form
// of an "open online" blob (docs/FORMAT.md §8), which holds no k_env: the key
// server still cannot open it.
//
// The hold is in memory, per process, and bounded. When it is full, or disabled,
// or the envelope is no longer held (another replica, a restart, too late), the
// page falls back: the open page then carries the fields as before, or asks for the
// attachment to be opened again.

// postedHold keeps recently posted envelopes, oldest evicted first.
type postedHold struct {
	mu    sync.Mutex
	max   int64
	ttl   time.Duration
	now   func() time.Time
	used  int64
	items map[string]*postedItem
	order []string // tokens, oldest first
}

type postedItem struct {
	id      envelope.ID
	blob    []byte
	expires time.Time
}

func newPostedHold(max int64, ttl time.Duration, now func() time.Time) *postedHold {
	return &postedHold{max: max, ttl: ttl, now: now, items: map[string]*postedItem{}}
}

// put holds blob for envelope id and returns its token, or "" when the hold is
// disabled or blob alone is larger than it.
func (p *postedHold) put(id envelope.ID, blob []byte) string {
	if p == nil || int64(len(blob)) > p.max {
		return ""
	}
	var raw [16]byte
	rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	for p.used+int64(len(blob)) > p.max && len(p.order) > 0 {
		p.dropOldest()
	}
	p.items[token] = &postedItem{id: id, blob: blob, expires: now.Add(p.ttl)}
	p.order = append(p.order, token)
	p.used += int64(len(blob))
	return token
}

// get returns the blob held for id under token. A token names one envelope: it
// does not open another envelope's blob.
func (p *postedHold) get(id envelope.ID, token string) ([]byte, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(p.now())
	it, ok := p.items[token]
	if !ok || it.id != id {
		return nil, false
	}
	return it.blob, true
}

// expire drops the envelopes held too long; they are the oldest, as every
// envelope is held for the same time.
func (p *postedHold) expire(now time.Time) {
	for len(p.order) > 0 && !now.Before(p.items[p.order[0]].expires) {
		p.dropOldest()
	}
}

func (p *postedHold) dropOldest() {
	token := p.order[0]
	p.used -= int64(len(p.items[token].blob))
	delete(p.items, token)
	p.order = p.order[1:]
}

// HoldPosted checks a posted envelope's fields and holds it for the open page to
// fetch. It returns the token for PostedEnvelope, or "" when the envelope is not
// held (the hold is full or disabled) and the page must carry the fields itself.
// The fields must be an envelope for id.
func (s *Service) HoldPosted(ctx context.Context, id envelope.ID, header, key, payload []byte) (string, error) {
	f, err := envelope.ParseForm(header, key, payload, envelope.Key{})
	if err != nil {
		return "", ErrBadRequest.with("The attachment's data is incomplete or damaged: %v.", err)
	}
	if f.Header.ID != id {
		return "", ErrBadRequest.with("The attachment's data belongs to another message.")
	}
	if s.posted == nil {
		return "", nil
	}
	var blob bytes.Buffer
	blob.Grow(len(f.Ciphertext) + len(f.HeaderJSON) + 128)
	if err := f.WriteOnline(&blob, bytes.NewReader(f.Ciphertext)); err != nil {
		return "", err
	}
	return s.posted.put(id, blob.Bytes()), nil
}

// PostedEnvelope returns an envelope held by HoldPosted, as an "open online" blob.
func (s *Service) PostedEnvelope(ctx context.Context, id envelope.ID, token string) ([]byte, error) {
	blob, ok := s.posted.get(id, token)
	if !ok {
		return nil, ErrNotHeld
	}
	return blob, nil
}
