package envelope

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope/unseal"
)

// Version is the envelope format version this package writes and reads.
const Version = unseal.Version

// Header describes an envelope. Its exact JSON bytes are embedded in the envelope and
// bound into the key derivation, so every field is authenticated once the envelope
// opens — and unauthenticated before that. It holds no body and no attachment names:
// they are only in the encrypted payload.
type Header struct {
	Version   int       `json:"v"`
	ID        ID        `json:"id"`
	KeyServer string    `json:"keyserver"` // origin: scheme://host[:port]
	From      string    `json:"from"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Size      int64     `json:"size"` // plaintext bytes of the payload
}

// OpenURL is where the envelope's form posts to, without the key fragment.
func (h *Header) OpenURL() string { return h.KeyServer + "/open/" + h.ID.String() }

// OnlineURL is the "open online" address, without the key fragment: the key server
// serves the ciphertext it stored for the envelope.
func (h *Header) OnlineURL() string { return h.KeyServer + "/e/" + h.ID.String() }

// FileName is the attachment name of the envelope, from its creation time.
func (h *Header) FileName() string {
	return "securedoc_" + h.Created.UTC().Format("20060102T150405") + ".html"
}

// marshal writes the header's JSON and reads it back with the reader, so that a
// writer can never produce a header that readers refuse.
func (h *Header) marshal() ([]byte, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if _, err := unseal.ParseHeader(b); err != nil {
		return nil, err
	}
	return b, nil
}

// parseHeader reads a header with package unseal's reader, the one every reader
// of the format uses, and gives it times.
func parseHeader(b []byte) (*Header, error) {
	u, err := unseal.ParseHeader(b)
	if err != nil {
		return nil, err
	}
	return fromUnsealed(u)
}

func fromUnsealed(u *unseal.Header) (*Header, error) {
	h := &Header{Version: u.Version, ID: u.ID, KeyServer: u.KeyServer, From: u.From, To: u.To, Subject: u.Subject, Size: u.Size}
	var err error
	// unseal checked the form (and the calendar), so these cannot fail; they are
	// checked all the same rather than trusted.
	if h.Created, err = time.Parse(time.RFC3339, u.Created); err != nil {
		return nil, fmt.Errorf("%w: header: created: %v", ErrMalformed, err)
	}
	if u.Expires != "" {
		if h.Expires, err = time.Parse(time.RFC3339, u.Expires); err != nil {
			return nil, fmt.Errorf("%w: header: expires: %v", ErrMalformed, err)
		}
	}
	return h, nil
}

// Origin checks that s names a key server origin and returns it in canonical form
// (lowercase scheme and host, no trailing slash). It must be https, except for
// loopback hosts, which may use http for development.
func Origin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("key server %.80q: %v", s, err)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("key server %.80q: want scheme://host[:port] and nothing else", s)
	}
	origin := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
	// The rules themselves (https, or http for loopback) are the reader's.
	if err := unseal.CheckOrigin(origin); err != nil {
		return "", err
	}
	return origin, nil
}
