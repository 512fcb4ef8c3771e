package keyserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// The envelope's status before sign-in: the open page asks it before it asks
// anyone to register or sign in, so that a withdrawn, locked or expired message
// says so first, and so that a recipient without an account is led to register
// rather than to a sign-in form that cannot work for them.
//
// Who may ask: anyone with the envelope id, which only holders of the envelope
// have (the securedoc file, the "open online" link; an online blob, header and
// all, is served to the same id). What it tells them is about this envelope and
// its recipient only, and docs/THREAT_MODEL.md ("What an envelope's holder
// learns") says why that is acceptable. Nothing is counted, released or
// receipted: link scanners may ask too.

// EnvelopeStatus is what the open page learns before sign-in.
type EnvelopeStatus struct {
	// Refusal is why the envelope cannot be opened by anyone now (revoked,
	// locked with its reason, expired), or nil.
	Refusal *Error
	// Expires is when it expires; zero: never.
	Expires time.Time
	// RecipientHasAccount: the recipient's address has an account with a way
	// to sign in (a password or a passkey). An account that never finished
	// registering does not count: registering again is its way in.
	RecipientHasAccount bool
}

// EnvelopeStatus returns the status of envelope id for the open page.
func (s *Service) EnvelopeStatus(ctx context.Context, id envelope.ID) (EnvelopeStatus, error) {
	rec, err := s.store.Envelope(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return EnvelopeStatus{}, ErrUnknownEnvelope
	} else if err != nil {
		return EnvelopeStatus{}, fmt.Errorf("envelope status %s: %w", id, err)
	}
	// The recipient's own refusal order, minus not-yours: the asker is not
	// signed in, and the release still checks everything again.
	st := EnvelopeStatus{Refusal: s.refusal(&rec, rec.Recipient, s.now()), Expires: rec.Expires}
	a, err := s.store.AccountByEmail(ctx, rec.Recipient)
	switch {
	case err == nil:
		st.RecipientHasAccount = a.PasswordHash != "" || len(a.Credentials) > 0
	case !errors.Is(err, ErrNotFound):
		return EnvelopeStatus{}, fmt.Errorf("envelope status %s: %w", id, err)
	}
	return st, nil
}
