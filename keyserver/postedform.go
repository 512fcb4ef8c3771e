package keyserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/waxseal/waxseal/envelope"
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
	ErrPostsBusy       = &Error{http.StatusServiceUnavailable, "busy", "Too many secure messages are being opened on this server right now. Use the \u201copen online\u201d link in your email, or try again in a minute.", 30 * time.Second}
	ErrPostsBusyClient = &Error{http.StatusTooManyRequests, "busy_client", "Too many secure messages are being opened from your network at once. Wait until they have opened, use the \u201copen online\u201d link in your email, or try again in a minute.", 30 * time.Second}
	ErrPostTooLarge    = &Error{http.StatusRequestEntityTooLarge, "too_large", "The message is larger than this server accepts.", 0}
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

// AdmitPost decides, before the body is read, whether a form post of size bytes
// (-1: unknown) for envelope id from clientIP is read at all. The caller must call
// release once the post's memory is handed to the hold or dropped.
func (s *Service) AdmitPost(ctx context.Context, id envelope.ID, clientIP string, size int64) (release func(), err error) {
	limit := postLimit(s.cfg)
	if size > limit {
		return nil, ErrPostTooLarge.with("The message is larger than this server accepts (%d MB).", limit>>20)
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

// PostedForm is a securedoc.html form as received: the envelope as an "open online"
// blob, which is the only copy of its ciphertext.
type PostedForm struct {
	File  *envelope.File // header and key block; Ciphertext aliases Blob
	Blob  []byte
	Token string // of the held blob; "" when the page must carry the fields
}

// ReceivePosted reads the multipart body of a form post for envelope id (admitted
// by AdmitPost) and holds it for the open page. sizeHint is the body's length, or
// -1. Problems with the form are formProblem sentences for the person.
func (s *Service) ReceivePosted(ctx context.Context, id envelope.ID, clientIP string, body io.Reader, boundary string, sizeHint int64) (*PostedForm, error) {
	limit := postLimit(s.cfg)
	sizeHint = min(sizeHint, limit)
	p, err := readPostedForm(http.MaxBytesReader(nil, io.NopCloser(body), limit), boundary, id, sizeHint)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, formProblem(fmt.Sprintf("The message is larger than this server accepts (%d MB).", limit>>20))
		}
		return nil, err
	}
	if s.posted != nil {
		p.Token = s.posted.put(id, clientPrefix(clientIP), p.Blob)
	}
	return p, nil
}

// Field sizes of an envelope form: the header is JSON of a few KB, the key block
// a fixed handful of bytes; anything larger is not an envelope.
const (
	maxPostedHeader  = 256 << 10
	maxPostedKey     = 4 << 10
	maxPostedVersion = 64
)

var errDamaged = formProblem("The attachment's data is incomplete or damaged.")

// readPostedForm reads the fields version, header, key and payload, in that order
// (the order of securedoc.html's inputs, which browsers keep), and decodes the
// payload straight into the blob it returns. sizeHint is the body's length, or
// -1 when unknown.
func readPostedForm(body io.Reader, boundary string, id envelope.ID, sizeHint int64) (*PostedForm, error) {
	mr := multipart.NewReader(body, boundary)
	var version, header, key []byte
	var out *PostedForm
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, damaged(err)
		}
		name := part.FormName()
		switch name {
		case "version", "header", "key":
			if out != nil {
				return nil, errDamaged // after the payload: not the form's order
			}
			dst, max := &version, maxPostedVersion
			if name == "header" {
				dst, max = &header, maxPostedHeader
			} else if name == "key" {
				dst, max = &key, maxPostedKey
			}
			if *dst != nil {
				return nil, errDamaged // one copy of a field, never two
			}
			b, err := io.ReadAll(io.LimitReader(part, int64(max)+1))
			if err != nil {
				return nil, damaged(err)
			}
			if len(b) > max {
				return nil, errDamaged
			}
			*dst = b
			if name == "version" {
				if err := checkVersion(b); err != nil {
					return nil, err
				}
			}
		case "payload":
			if out != nil || version == nil || header == nil || key == nil {
				if version == nil {
					return nil, formProblem("This is not a waxseal secure message.")
				}
				return nil, errDamaged
			}
			f, err := parsePostedHead(header, key, id)
			if err != nil {
				return nil, err
			}
			// Sized once from the body's length: the decoded payload is at most
			// 3/4 of it. A body of unknown length grows as it comes.
			var blob bytes.Buffer
			blob.Grow(int(max(sizeHint, 0)/4*3) + len(f.HeaderJSON) + len(f.KeyBlock) + 64)
			if err := f.WriteOnline(&blob, bytes.NewReader(nil)); err != nil {
				return nil, err
			}
			head := blob.Len()
			if _, err := blob.ReadFrom(base64.NewDecoder(base64.StdEncoding.Strict(), part)); err != nil {
				return nil, damaged(err)
			}
			if blob.Len() == head {
				return nil, errDamaged
			}
			b := blob.Bytes()
			if cap(b)-len(b) > len(b)/8+64<<10 {
				// Held for minutes: not with the unused room of a buffer that
				// grew by doubling (or a body whose length overstated it).
				b = bytes.Clone(b)
			}
			f.Ciphertext = b[head:]
			out = &PostedForm{File: f, Blob: b}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, damaged(err)
			}
		}
	}
	if version == nil {
		return nil, formProblem("This is not a waxseal secure message.")
	}
	if out == nil {
		return nil, errDamaged
	}
	return out, nil
}

func checkVersion(b []byte) error {
	if strings.TrimSpace(string(b)) != "1" {
		return formProblem("This secure message was made by a newer version than this server understands.")
	}
	return nil
}

// parsePostedHead decodes and checks the header and key fields.
func parsePostedHead(header, key []byte, id envelope.ID) (*envelope.File, error) {
	hb, err := decodeField(header)
	if err != nil {
		return nil, err
	}
	kb, err := decodeField(key)
	if err != nil {
		return nil, err
	}
	f, err := envelope.NewFile(hb, kb, nil, envelope.Key{})
	if err != nil {
		return nil, formProblem(fmt.Sprintf("The attachment's data is incomplete or damaged: %v.", err))
	}
	if f.Header.ID != id {
		return nil, formProblem("The attachment's data belongs to another message.")
	}
	return f, nil
}

func decodeField(b []byte) ([]byte, error) {
	out, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding.Strict(), bytes.NewReader(b)))
	if err != nil || len(out) == 0 {
		return nil, errDamaged
	}
	return out, nil
}

// damaged maps a read error: a body over the limit stays itself (the caller says
// how large), anything else is damage in transit.
func damaged(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return err
	}
	return errDamaged
}
