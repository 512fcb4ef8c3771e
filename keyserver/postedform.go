package keyserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/api"
)

// Posts of securedoc.html forms need no sign-in and may each be about 27 MB, so
// they are the cheapest way to make the key server spend memory. Three defences:
//
//   - admission (postGate): before the body is read, the id must be registered and
//     the request must fit the requests and bytes in flight allowed per client
//     (address prefix) and in total; refusals are a page that points to the
//     "open online" link;
//   - streaming (readPostedForm): the fields are read in the order the form sends
//     them, and the payload is decoded from base64 straight into the held blob, so
//     a post costs one copy of its ciphertext, not five;
//   - fairness (postedHold): a full hold makes room only from the poster's own
//     envelopes or those of clients holding more, so a flood never evicts the
//     envelope of someone who posted less.

// ErrPostsBusy and ErrPostsBusyClient refuse a post when too many are in flight.
var (
	ErrPostsBusy       = (&Error{http.StatusServiceUnavailable, api.CodeBusy, "Too many secure messages are being opened on this server right now. Use the \u201copen online\u201d link in your email, or try again in a minute.", 30 * time.Second, nil}).With("refusal.posts_busy")
	ErrPostsBusyClient = (&Error{http.StatusTooManyRequests, api.CodeBusyClient, "Too many secure messages are being opened from your network at once. Wait until they have opened, use the \u201copen online\u201d link in your email, or try again in a minute.", 30 * time.Second, nil}).With("refusal.posts_busy_client")
	ErrPostTooLarge    = (&Error{http.StatusRequestEntityTooLarge, api.CodeTooLarge, "The message is larger than this server accepts.", 0, nil}).With("refusal.post_too_large_plain")
)

// postGate counts the posts in flight, per client and in total.
type postGate struct {
	maxRequests, maxClientRequests int
	maxBytes, maxClientBytes       int64

	mu       sync.Mutex
	requests int
	bytes    int64
	clients  map[string]*postUse
}

type postUse struct {
	requests int
	bytes    int64
}

// newPostGate: a client may have half the bytes in flight, and always room for
// one post of the largest size.
func newPostGate(cfg Config) *postGate {
	largest := postLimit(cfg)
	return &postGate{
		maxRequests: cfg.PostsInFlight, maxClientRequests: cfg.PostsPerClient,
		maxBytes: max(cfg.PostBytesInFlight, largest), maxClientBytes: max(cfg.PostBytesInFlight/2, largest),
		clients: map[string]*postUse{},
	}
}

// admit reserves n bytes for one post from client, or refuses it.
func (g *postGate) admit(client string, n int64) (release func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.clients[client]
	if u == nil {
		u = &postUse{}
	}
	if u.requests+1 > g.maxClientRequests || u.bytes+n > g.maxClientBytes {
		return nil, ErrPostsBusyClient
	}
	if g.requests+1 > g.maxRequests || g.bytes+n > g.maxBytes {
		return nil, ErrPostsBusy
	}
	g.clients[client] = u
	u.requests++
	u.bytes += n
	g.requests++
	g.bytes += n
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			u.requests--
			u.bytes -= n
			g.requests--
			g.bytes -= n
			if u.requests == 0 {
				delete(g.clients, client)
			}
		})
	}, nil
}

// MemoryBudget is a soft memory limit for a process running this service (the
// Go runtime's, debug.SetMemoryLimit): room for the posted hold and the posts in
// flight, whose garbage would otherwise let the heap grow to twice their size
// before the collector runs, and 128 MB for everything else.
func (s *Service) MemoryBudget() int64 {
	return max(s.cfg.PostedHoldBytes, 0) + s.postGate.maxBytes*3/4 + 128<<20
}

// postLimit is the largest body a securedoc.html form post may have: the payload
// limit in base64, with room for line breaks and the other fields.
func postLimit(cfg Config) int64 { return cfg.MaxPayloadBytes*4/3 + 1<<20 }

// PostLimit is the largest body a securedoc.html form post may have.
func (s *Service) PostLimit() int64 { return postLimit(s.cfg) }

// AdmitPost decides, before the body is read, whether a form post of size bytes
// (-1: unknown) for envelope id from clientIP is read at all. The caller must call
// release once the post's memory is handed to the hold or dropped.
func (s *Service) AdmitPost(ctx context.Context, caller Caller, id envelope.ID, size int64) (release func(), err error) {
	clientIP := caller.IP
	limit := postLimit(s.cfg)
	if size > limit {
		return nil, ErrPostTooLarge.With("refusal.post_too_large", "MB", limit>>20)
	}
	if _, err := s.store.Envelope(ctx, id); errors.Is(err, ErrNotFound) {
		return nil, ErrUnknownEnvelope
	} else if err != nil {
		return nil, fmt.Errorf("posted envelope %s: %w", id, err)
	}
	if size < 0 {
		size = limit
	}
	release, err = s.postGate.admit(clientPrefix(clientIP), size)
	if err != nil {
		s.metrics.denied("posts_busy")
		return nil, err
	}
	return release, nil
}

// HoldPosted holds blob, the "open online" blob of envelope id read from a form
// post that AdmitPost admitted, for its open page, and returns its token, or ""
// when it is not held (the hold is disabled, or the blob is larger than it): the
// page must then carry the fields.
func (s *Service) HoldPosted(ctx context.Context, caller Caller, id envelope.ID, blob []byte) string {
	if s.posted == nil {
		return ""
	}
	return s.posted.put(id, clientPrefix(caller.IP), blob)
}
