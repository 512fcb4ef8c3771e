package keyserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
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
// The hold is in memory, per process, bounded, and fair between clients (put).
// When the envelope is not held (the hold is disabled, or it is larger than the
// hold) or no longer held (another replica, a restart, too late), the page falls
// back: the open page then carries the fields as before, or asks for the
// attachment to be opened again.

// postedHold keeps recently posted envelopes. When it is full, a client (address
// prefix) adding one evicts its own oldest envelopes first, then those of clients
// that hold more than it would; if that is not enough room, the new envelope is
// not held (its page carries it instead). So a flood, from one address or from
// many, never evicts the envelope of someone who posted less: everyone else's
// stay until they expire.
type postedHold struct {
	mu     sync.Mutex
	max    int64
	ttl    time.Duration
	now    func() time.Time
	used   int64
	items  map[string]*postedItem
	order  []string         // tokens, oldest first
	byUser map[string]int64 // bytes held per client
}

type postedItem struct {
	id      envelope.ID
	client  string
	blob    []byte
	expires time.Time
}

func newPostedHold(max int64, ttl time.Duration, now func() time.Time) *postedHold {
	return &postedHold{max: max, ttl: ttl, now: now, items: map[string]*postedItem{}, byUser: map[string]int64{}}
}

// put holds blob for envelope id, posted by client, and returns its token, or ""
// when the hold is disabled or blob alone is larger than it. A blob counts as
// the memory it holds (its capacity).
func (p *postedHold) put(id envelope.ID, client string, blob []byte) string {
	if p == nil || int64(cap(blob)) > p.max {
		return ""
	}
	var raw [16]byte
	rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	size := int64(cap(blob))
	if !p.makeRoom(client, size) {
		return ""
	}
	p.items[token] = &postedItem{id: id, client: client, blob: blob, expires: now.Add(p.ttl)}
	p.order = append(p.order, token)
	p.used += int64(cap(blob))
	p.byUser[client] += int64(cap(blob))
	return token
}

// makeRoom evicts for size more bytes from client, as put describes, or says
// false, evicting nothing, when that would take someone else's share.
func (p *postedHold) makeRoom(client string, size int64) bool {
	need := p.used + size - p.max
	if need <= 0 {
		return true
	}
	// What may go: client's own envelopes, then those of clients holding more
	// than client will, oldest first.
	after := p.byUser[client] + size
	var free int64
	var victims []int
	for _, own := range []bool{true, false} {
		for i, t := range p.order {
			it := p.items[t]
			if (it.client == client) == own && (own || p.byUser[it.client] > after) && free < need {
				victims = append(victims, i)
				free += int64(cap(it.blob))
			}
		}
	}
	if free < need {
		return false
	}
	slices.Sort(victims)
	for k := len(victims) - 1; k >= 0; k-- {
		p.drop(victims[k])
	}
	return true
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

func (p *postedHold) dropOldest() { p.drop(0) }

func (p *postedHold) drop(i int) {
	token := p.order[i]
	it := p.items[token]
	p.used -= int64(cap(it.blob))
	if p.byUser[it.client] -= int64(cap(it.blob)); p.byUser[it.client] <= 0 {
		delete(p.byUser, it.client)
	}
	delete(p.items, token)
	p.order = append(p.order[:i], p.order[i+1:]...)
}

// PostedEnvelope returns an envelope held by HoldPosted, as an "open online" blob.
func (s *Service) PostedEnvelope(ctx context.Context, id envelope.ID, token string) ([]byte, error) {
	blob, ok := s.posted.get(id, token)
	if !ok {
		return nil, ErrNotHeld
	}
	return blob, nil
}
