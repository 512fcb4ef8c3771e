package envelope

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Version is the envelope format version this package writes and reads.
const Version = 1

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

func (h *Header) marshal() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(h)
}

func (h *Header) validate() error {
	if h.Version != Version {
		return fmt.Errorf("%w %d", ErrUnsupportedVersion, h.Version)
	}
	if h.ID.IsZero() {
		return fmt.Errorf("%w: header has no id", ErrMalformed)
	}
	if _, err := Origin(h.KeyServer); err != nil {
		return fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Size < 0 {
		return fmt.Errorf("%w: header: negative size %d", ErrMalformed, h.Size)
	}
	if h.Created.IsZero() {
		return fmt.Errorf("%w: header has no creation time", ErrMalformed)
	}
	for name, v := range map[string]string{"from": h.From, "to": h.To, "subject": h.Subject} {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%w: header %s contains a line break or NUL", ErrMalformed, name)
		}
	}
	return nil
}

func parseHeader(b []byte) (*Header, error) {
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: header is not valid JSON: %v", ErrMalformed, err)
	}
	if h.Version != Version {
		return nil, fmt.Errorf("%w %d", ErrUnsupportedVersion, h.Version)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	return &h, nil
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
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	switch {
	case scheme == "https":
	case scheme == "http" && isLoopback(host):
	default:
		return "", fmt.Errorf("key server %.80q: want https (http only for localhost)", s)
	}
	origin := scheme + "://" + strings.ToLower(u.Host)
	return origin, nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
