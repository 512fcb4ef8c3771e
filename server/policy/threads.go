package policy

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// ThreadStore remembers the Message-IDs of sealed messages: the key server's
// thread API (keyserver/client), shared by every gateway.
type ThreadStore interface {
	// ThreadSealed reports whether any of ids is the Message-ID of a sealed
	// message.
	ThreadSealed(ctx context.Context, ids []string) (bool, error)
}

// MaxThreadIDs bounds the Message-IDs of In-Reply-To and References that are
// looked up for one message (the key server takes at most 100 per call).
const MaxThreadIDs = 50

// ThreadIDs returns the Message-IDs a message answers, from its In-Reply-To
// and References header values, without angle brackets and at most
// MaxThreadIDs: In-Reply-To's, then the thread's root (References' first, the
// message that began it), then References from the newest back.
func ThreadIDs(inReplyTo, references string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && len(out) < MaxThreadIDs && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range msgIDs(inReplyTo) {
		add(id)
	}
	refs := msgIDs(references)
	if len(refs) > 0 {
		add(refs[0])
	}
	for i := len(refs) - 1; i > 0; i-- {
		add(refs[i])
	}
	return out
}

// msgIDs lists the <...> ids in a header value; a value with none (a client
// that dropped the brackets) is split at blanks.
func msgIDs(v string) []string {
	v = unfold(v)
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	if len(out) == 0 {
		out = strings.Fields(v)
	}
	return out
}

// IDMinter makes and recognises the Message-IDs of the gateways' own sealed
// mail (wrapper mails, and replies the gateway delivers): a random part and a
// MAC of it under a key all the gateways of an installation share, so an
// answer naming one is recognised as part of a secure conversation even
// before (or without) the key server's answer. A nil *IDMinter recognises
// nothing and makes plain random ids.
type IDMinter struct{ key []byte }

// NewIDMinter derives the minting key from a secret the gateways share (the
// gateway token).
func NewIDMinter(secret string) *IDMinter {
	if secret == "" {
		return nil
	}
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, "waxseal secure thread message-id", 32)
	if err != nil {
		panic(err)
	}
	return &IDMinter{key: k}
}

const idPrefix = "ws1."

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func (m *IDMinter) tag(random string) string {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(random))
	return strings.ToLower(b32.EncodeToString(h.Sum(nil)[:10]))
}

// New returns a Message-ID (without angle brackets) at host.
func (m *IDMinter) New(host string) string {
	var r [15]byte
	rand.Read(r[:])
	random := strings.ToLower(b32.EncodeToString(r[:]))
	if m == nil {
		return random + "@" + host
	}
	return idPrefix + random + "." + m.tag(random) + "@" + host
}

// Recognises reports whether id (brackets allowed) is one New made with this
// key.
func (m *IDMinter) Recognises(id string) bool {
	if m == nil {
		return false
	}
	id = strings.Trim(strings.TrimSpace(id), "<>")
	local, _, ok := strings.Cut(id, "@")
	if !ok || !strings.HasPrefix(local, idPrefix) {
		return false
	}
	random, tag, ok := strings.Cut(local[len(idPrefix):], ".")
	return ok && hmac.Equal([]byte(tag), []byte(m.tag(random)))
}
