package keyserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/internal/address"
)

// Service is the key server's core. HTTP handlers (keyserver/httpapi) and tests
// call it directly.
type Service struct {
	cfg     Config
	store   Store
	keys    keyring
	gateway tokenSet
	admin   tokenSet
	log     *slog.Logger
	now     func() time.Time

	perIP, perEmail, codesPerEmail, ceremoniesPerIP *limiter
	codesPerDay, guessesPerDay                      *limiter
	repliesPerAccount                               *limiter // replies.go
	prefixLocks, noPasswordLocks                    *failureLocks
	background                                      afterAnswer
	posted                                          *postedHold // nil when disabled
	postGate                                        *postGate
	// wa is nil when the public URL cannot be a WebAuthn relying party (an IP).
	wa *webauthn.WebAuthn

	metrics   metrics
	dummyHash func() string
	// kick, if set, is called after mail is queued so the sender need not wait for
	// its next poll.
	kick func()
}

// New returns a Service over store.
func New(cfg Config, store Store) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	gw, err := parseTokenSet(cfg.GatewayTokens)
	if err != nil {
		return nil, fmt.Errorf("gateway tokens: %w", err)
	}
	ad, err := parseTokenSet(cfg.AdminTokens)
	if err != nil {
		return nil, fmt.Errorf("admin tokens: %w", err)
	}
	wa, err := newWebAuthn(cfg.PublicURL)
	if err != nil {
		cfg.Logger.Warn("passkeys are off", "err", err)
		wa = nil
	}
	var posted *postedHold
	if cfg.PostedHoldBytes > 0 {
		posted = newPostedHold(cfg.PostedHoldBytes, cfg.PostedHoldTTL, cfg.Now)
	}
	svc := &Service{
		wa:              wa,
		posted:          posted,
		postGate:        newPostGate(cfg),
		ceremoniesPerIP: newLimiter("ceremonies/ip", cfg.CeremoniesPerIP, store, cfg.Now),
		dummyHash:       sync.OnceValue(func() string { return hashPassword("waxseal timing equaliser", cfg.Argon2) }),
		cfg:             cfg,
		store:           store,
		keys:            newKeyring(cfg.MasterKey),
		gateway:         gw,
		admin:           ad,
		log:             cfg.Logger,
		now:             cfg.Now,
		perIP:           newLimiter("signin/ip", cfg.SignInPerIP, store, cfg.Now),
		perEmail:        newLimiter("signin/email", cfg.SignInPerEmail, store, cfg.Now),
		codesPerEmail:   newLimiter("codes/email", cfg.CodesPerEmail, store, cfg.Now),
		codesPerDay:     newLimiter("codes/day", cfg.CodesPerDay, store, cfg.Now),
		guessesPerDay:   newLimiter("guesses/day", cfg.CodeGuessesPerDay, store, cfg.Now),
		prefixLocks:     newFailureLocks("lock/prefix", cfg.LockoutAfter, cfg.LockoutMax, store),
		noPasswordLocks: newFailureLocks("lock/nopassword", accountLockFactor*cfg.LockoutAfter, cfg.LockoutMax, store),
	}
	svc.repliesPerAccount = newLimiter("replies/account", cfg.RepliesPerAccount, store, cfg.Now)
	return svc, nil
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Logger is where the service logs.
func (s *Service) Logger() *slog.Logger { return s.log }

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if _, err := s.store.OutboxDepth(ctx); err != nil {
		return fmt.Errorf("store not ready: %w", err)
	}
	return nil
}

// StorageFull counts a request that failed because the store's disk is full.
func (s *Service) StorageFull() { s.metrics.storageFull.Add(1) }

// OnMailQueued sets a function called whenever mail is added to the outbox.
func (s *Service) OnMailQueued(kick func()) { s.kick = kick }

// Config returns the effective configuration (with defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// ValidGatewayToken and ValidAdminToken check bearer tokens in constant time.
func (s *Service) ValidGatewayToken(t string) bool { return s.gateway.valid(t) }
func (s *Service) ValidAdminToken(t string) bool   { return s.admin.valid(t) }

// NormalizeAddress reduces an address (with or without a display name) to the
// addr-spec that identities are compared by: internal/address's rule, the
// gateway's too (ASCII letters folded, nothing else mapped; mixed scripts and
// characters that stand for others refused).
func NormalizeAddress(s string) (string, error) {
	return address.Normalize(s)
}

// Registration is one envelope a gateway registers.
type Registration struct {
	ID envelope.ID
	// Sender is the message's From: header (the envelope header's "from").
	Sender string
	// Submitter is who submitted the message to the gateway; "" from a gateway
	// older than this field, when Sender (the header From) is taken for it.
	Submitter string
	Recipient string
	Subject   string
	Created   time.Time
	Expires   time.Time
	ServerKey envelope.Key
	Payload   []byte // optional "open online" fields
	// Ciphertext, if set, is the SHA-256 of the message's uploaded ciphertext
	// (PutCiphertext), and Payload only the head of the online blob.
	Ciphertext []byte
	// ReplyContext is sealed for the gateway (replies.go); stored as is.
	ReplyContext []byte
	// Message names the message (api.Registration.Message): at most
	// MaxMessageName printable ASCII characters.
	Message string
	Size    int64 // the message's bytes (the envelope header's size); 0: not given
	// Attachments are the message's attachment names (api.Registration.Attachments);
	// see ValidateAttachmentNames.
	Attachments []string
}

// MaxMessageName bounds a registration's message name.
const MaxMessageName = 100

// RegisterEnvelopes stores a batch of envelopes: all or none. Repeating a
// registration is harmless; reusing an id with another key is refused.
func (s *Service) RegisterEnvelopes(ctx context.Context, caller Caller, regs []Registration) error {
	clientIP := caller.IP
	if len(regs) == 0 {
		return ErrBadRequest.With("refusal.no_envelopes")
	}
	now := s.now()
	news := make([]NewEnvelope, 0, len(regs))
	events := make([]AuditEvent, 0, len(regs))
	for i, r := range regs {
		if r.ID.IsZero() {
			return ErrBadRequest.With("refusal.envelope_no_id", "N", i)
		}
		sender, headerFrom, err := senderOf(r)
		if err != nil {
			return ErrBadRequest.With("refusal.envelope_detail", "ID", r.ID, "Detail", err)
		}
		rcpt, err := NormalizeAddress(r.Recipient)
		if err != nil {
			return ErrBadRequest.With("refusal.envelope_recipient", "ID", r.ID, "Detail", err)
		}
		if int64(len(r.Payload)) > s.cfg.MaxPayloadBytes {
			return ErrBadRequest.With("refusal.envelope_payload", "ID", r.ID, "Size", len(r.Payload), "Max", s.cfg.MaxPayloadBytes)
		}
		if r.ServerKey == (envelope.Key{}) {
			return ErrBadRequest.With("refusal.envelope_no_key", "ID", r.ID)
		}
		if r.Ciphertext != nil {
			if len(r.Ciphertext) != sha256.Size {
				return ErrBadRequest.With("refusal.envelope_hash", "ID", r.ID, "Size", len(r.Ciphertext), "Want", sha256.Size)
			}
			if err := checkOnlineHead(r.ID, r.Payload); err != nil {
				return ErrBadRequest.With("refusal.envelope_online_head", "ID", r.ID, "Detail", err)
			}
		}
		created := r.Created
		if created.IsZero() {
			created = now
		}
		rec := EnvelopeRecord{
			ID:         r.ID,
			Sender:     sender,
			HeaderFrom: headerFrom,
			Recipient:  rcpt,
			Subject:    r.Subject,
			Created:    created.UTC(),
			Expires:    r.Expires.UTC(),
			WrappedKey: s.keys.wrapServerKey(r.ID, r.ServerKey),
			KeyCheck:   s.keys.keyCheck(r.ID, r.ServerKey),
			HasPayload: len(r.Payload) > 0,
			Ciphertext: r.Ciphertext,
		}
		if r.Expires.IsZero() {
			rec.Expires = time.Time{}
		}
		rec.ReplyContext = r.ReplyContext
		if len(r.Message) > MaxMessageName || strings.IndexFunc(r.Message, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
			return ErrBadRequest.With("refusal.envelope_message_name", "ID", r.ID, "Max", MaxMessageName)
		}
		rec.Message = r.Message
		if r.Size < 0 {
			return ErrBadRequest.With("refusal.envelope_size_negative", "ID", r.ID, "Size", r.Size)
		}
		rec.Size = r.Size
		if err := ValidateAttachmentNames(r.Attachments); err != nil {
			return ErrBadRequest.With("refusal.envelope_detail", "ID", r.ID, "Detail", err)
		}
		if len(r.Attachments) > 0 {
			rec.Attachments = slices.Clone(r.Attachments)
		}
		news = append(news, NewEnvelope{Record: rec, Payload: r.Payload})
		events = append(events, AuditEvent{Time: now, Actor: "gateway", Action: ActionEnvelopeRegister,
			Envelope: r.ID.String(), ClientIP: clientIP, Detail: "sender " + sender + " recipient " + rcpt})
	}
	if err := s.store.PutEnvelopes(ctx, news, events); err != nil {
		if errors.Is(err, ErrConflict) {
			return ErrConflictKey
		}
		if errors.Is(err, ErrNotFound) {
			// The only thing a registration refers to: a shared ciphertext.
			return ErrUnknownCiphertext
		}
		return fmt.Errorf("register %d envelopes: %w", len(regs), err)
	}
	s.metrics.registered.Add(int64(len(regs)))
	s.log.InfoContext(ctx, "envelopes registered", "count", len(regs), "client_ip", clientIP)
	return nil
}

// senderOf is a registration's sender (its submitter, or for an older gateway its
// header From) and the header From to show beside it when that is someone else.
func senderOf(r Registration) (sender, headerFrom string, err error) {
	if r.Submitter == "" {
		sender, err = NormalizeAddress(r.Sender)
		if err != nil {
			return "", "", fmt.Errorf("sender: %w", err)
		}
		return sender, "", nil
	}
	if sender, err = NormalizeAddress(r.Submitter); err != nil {
		return "", "", fmt.Errorf("submitter: %w", err)
	}
	hf, err := NormalizeAddress(r.Sender)
	switch {
	case err != nil:
		// Only shown: an unreadable header From does not hold the message up.
		headerFrom = "(unreadable) " + printableCut(r.Sender, 200)
	case hf != sender:
		headerFrom = hf
	}
	return sender, headerFrom, nil
}

// printableCut drops control characters and cuts s to n runes.
func printableCut(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if n == 0 {
			break
		}
		if unicode.IsControl(r) {
			continue
		}
		b.WriteRune(r)
		n--
	}
	return b.String()
}

// refusal says why rec may not be released now, or nil. Not-yours comes first, so
// that a release tells nobody the state of an envelope that is not theirs (its
// holders learn that from EnvelopeStatus, which passes the recipient's own email).
func (s *Service) refusal(rec *EnvelopeRecord, email string, now time.Time) *Error {
	switch {
	case rec.Recipient != email:
		return ErrNotYours
	case !rec.Revoked.IsZero():
		return ErrRevoked
	case !rec.Expired.IsZero() || (!rec.Expires.IsZero() && !now.Before(rec.Expires)):
		return ErrExpired
	case len(rec.WrappedKey) == 0:
		return ErrRevoked
	case rec.Locked:
		if rec.LockReason != "" {
			return ErrLocked.With("refusal.locked_reason", "Reason", rec.LockReason)
		}
		return ErrLocked
	}
	return nil
}

// ReleaseKey returns k_srv to the envelope's own signed-in recipient. The checks and
// the release count happen in one store transaction, so a revoke that has returned
// is never followed by a release. The first release queues a read receipt.
func (s *Service) ReleaseKey(ctx context.Context, caller Caller, id envelope.ID) (envelope.Key, error) {
	if caller.Account == nil {
		return envelope.Key{}, ErrSignInRequired
	}
	email := caller.Account.Email
	now := s.now()
	var denied *Error
	rec, err := s.store.UpdateEnvelope(ctx, id, func(rec *EnvelopeRecord) ([]AuditEvent, error) {
		denied = s.refusal(rec, email, now)
		if denied != nil {
			return nil, denied
		}
		rec.Releases++
		if rec.FirstOpen.IsZero() {
			rec.FirstOpen = now
		}
		rec.LastOpen = now
		return []AuditEvent{{Time: now, Actor: email, Action: ActionKeyRelease, Envelope: id.String(),
			Account: caller.Account.ID, ClientIP: caller.IP}}, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		s.metrics.denied(ErrUnknownEnvelope.Code)
		return envelope.Key{}, ErrUnknownEnvelope
	case denied != nil && errors.Is(err, denied):
		s.metrics.denied(denied.Code)
		s.audit(ctx, AuditEvent{Time: now, Actor: email, Action: ActionKeyDeny, Envelope: id.String(),
			Account: caller.Account.ID, ClientIP: caller.IP, Detail: denied.Code})
		return envelope.Key{}, denied
	case err != nil:
		return envelope.Key{}, fmt.Errorf("release key %s: %w", id, err)
	}
	k, err := s.keys.unwrapServerKey(id, rec.WrappedKey)
	if err != nil {
		return envelope.Key{}, fmt.Errorf("release key %s: %w", id, err)
	}
	s.metrics.releases.Add(1)
	if rec.Releases == 1 {
		if err := s.queueReceipt(ctx, rec, caller.Account, now); err != nil {
			// The recipient has the key; a lost receipt must not take it back.
			s.log.ErrorContext(ctx, "queue read receipt", "envelope", id.String(), "err", err)
		}
	}
	return k, nil
}

// audit appends events that belong to no other change; a failure is logged, not
// returned, because the caller's answer does not depend on it.
func (s *Service) audit(ctx context.Context, events ...AuditEvent) {
	if err := s.store.AppendAudit(ctx, events); err != nil {
		s.log.ErrorContext(ctx, "append audit", "action", events[0].Action, "err", err)
	}
}

// Envelope returns an envelope's record for an administrator or its sender.
func (s *Service) Envelope(ctx context.Context, caller Caller, id envelope.ID) (EnvelopeRecord, error) {
	rec, err := s.store.Envelope(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return rec, ErrUnknownEnvelope
	}
	if err != nil {
		return rec, fmt.Errorf("envelope %s: %w", id, err)
	}
	if !s.mayManage(caller, &rec) {
		if err := s.requireAdmin(caller); errors.Is(err, ErrPasskeyRequired) {
			return EnvelopeRecord{}, err
		}
		return EnvelopeRecord{}, ErrUnknownEnvelope
	}
	return rec, nil
}

// mayManage: administrators manage every envelope, senders their own.
func (s *Service) mayManage(caller Caller, rec *EnvelopeRecord) bool {
	if caller.isAdmin() {
		return true
	}
	return caller.Account != nil && (caller.Account.Role == RoleSender || caller.Account.Role == RoleAdmin) && caller.Account.Email == rec.Sender
}

// SentEnvelopes lists what the signed-in sender sent, newest first.
func (s *Service) SentEnvelopes(ctx context.Context, caller Caller, limit int) ([]EnvelopeRecord, error) {
	if caller.Account == nil {
		return nil, ErrSignInRequired
	}
	if caller.Account.Role == RoleRecipient {
		return nil, ErrForbidden.With("refusal.sent_items_org")
	}
	recs, err := s.store.ListEnvelopes(ctx, EnvelopeQuery{Sender: caller.Account.Email, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("sent envelopes: %w", err)
	}
	return recs, nil
}

// ListEnvelopes lists envelopes for an administrator.
func (s *Service) ListEnvelopes(ctx context.Context, caller Caller, q EnvelopeQuery) ([]EnvelopeRecord, error) {
	if err := s.requireAdmin(caller); err != nil {
		return nil, err
	}
	for _, a := range []*string{&q.Sender, &q.Recipient} {
		if *a != "" {
			n, err := NormalizeAddress(*a)
			if err != nil {
				return nil, addressRefusal(err)
			}
			*a = n
		}
	}
	recs, err := s.store.ListEnvelopes(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list envelopes: %w", err)
	}
	return recs, nil
}

// manage applies an administrative change to an envelope with its audit record.
func (s *Service) manage(ctx context.Context, caller Caller, id envelope.ID, action AuditAction, change func(*EnvelopeRecord, time.Time) (string, error)) (EnvelopeRecord, error) {
	now := s.now()
	rec, err := s.store.UpdateEnvelope(ctx, id, func(rec *EnvelopeRecord) ([]AuditEvent, error) {
		if !s.mayManage(caller, rec) {
			if err := s.requireAdmin(caller); errors.Is(err, ErrPasskeyRequired) {
				return nil, err
			}
			return nil, ErrNotFound
		}
		detail, err := change(rec, now)
		if err != nil {
			return nil, err
		}
		return []AuditEvent{{Time: now, Actor: caller.actor(), Action: action, Envelope: id.String(), ClientIP: caller.IP, Detail: detail}}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return rec, ErrUnknownEnvelope
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return rec, e
		}
		return rec, fmt.Errorf("%s %s: %w", action, id, err)
	}
	s.log.InfoContext(ctx, "envelope changed", "action", action, "envelope", id.String(), "actor", caller.actor())
	return rec, nil
}

// destroyKey removes k_srv and any stored payload: irreversible.
func destroyKey(rec *EnvelopeRecord) {
	rec.WrappedKey = nil
	rec.HasPayload = false
}

// Revoke destroys the envelope's server key. When it returns, no release can follow.
// Its replies, and the recipient's copies of them, go with it.
func (s *Service) Revoke(ctx context.Context, caller Caller, id envelope.ID) (EnvelopeRecord, error) {
	rec, err := s.manage(ctx, caller, id, ActionEnvelopeRevoke, func(rec *EnvelopeRecord, now time.Time) (string, error) {
		if rec.Revoked.IsZero() {
			rec.Revoked = now
		}
		destroyKey(rec)
		return "", nil
	})
	if err == nil {
		s.dropRepliesAfter(ctx, id, "revoked")
	}
	return rec, err
}

// Lock refuses releases with a reason the recipient sees, until Unlock.
func (s *Service) Lock(ctx context.Context, caller Caller, id envelope.ID, reason string) (EnvelopeRecord, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 || strings.ContainsAny(reason, "\r\n\x00") {
		return EnvelopeRecord{}, ErrBadRequest.With("refusal.lock_reason_line")
	}
	return s.manage(ctx, caller, id, ActionEnvelopeLock, func(rec *EnvelopeRecord, now time.Time) (string, error) {
		rec.Locked, rec.LockReason = true, reason
		return reason, nil
	})
}

// Unlock lifts a lock.
func (s *Service) Unlock(ctx context.Context, caller Caller, id envelope.ID) (EnvelopeRecord, error) {
	return s.manage(ctx, caller, id, ActionEnvelopeUnlock, func(rec *EnvelopeRecord, now time.Time) (string, error) {
		rec.Locked, rec.LockReason = false, ""
		return "", nil
	})
}

// SetExpiry changes when the envelope expires (zero: never). An envelope whose key
// is already destroyed cannot be revived.
func (s *Service) SetExpiry(ctx context.Context, caller Caller, id envelope.ID, expires time.Time) (EnvelopeRecord, error) {
	return s.manage(ctx, caller, id, ActionEnvelopeSetExpiry, func(rec *EnvelopeRecord, now time.Time) (string, error) {
		if len(rec.WrappedKey) == 0 {
			return "", ErrExpired.With("refusal.key_destroyed")
		}
		rec.Expires = expires.UTC()
		if expires.IsZero() {
			return "never", nil
		}
		return rec.Expires.Format(time.RFC3339), nil
	})
}

// Expire destroys the key now, as the sweeper does when an envelope's time is up.
// Its replies go with it, as with Revoke.
func (s *Service) Expire(ctx context.Context, caller Caller, id envelope.ID) (EnvelopeRecord, error) {
	rec, err := s.manage(ctx, caller, id, ActionEnvelopeExpire, func(rec *EnvelopeRecord, now time.Time) (string, error) {
		if rec.Expired.IsZero() {
			rec.Expired = now
		}
		if rec.Expires.IsZero() || rec.Expires.After(now) {
			rec.Expires = now
		}
		destroyKey(rec)
		return "", nil
	})
	if err == nil {
		s.dropRepliesAfter(ctx, id, "expired")
	}
	return rec, err
}

// Sweep destroys the keys and payloads of envelopes past their expiry and forgets
// stale sessions and codes. It returns how many envelopes it expired.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	for {
		ids, err := s.store.ExpiredEnvelopes(ctx, now, 100)
		if err != nil {
			return n, fmt.Errorf("sweep: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			_, err := s.store.UpdateEnvelope(ctx, id, func(rec *EnvelopeRecord) ([]AuditEvent, error) {
				if len(rec.WrappedKey) == 0 {
					return nil, nil
				}
				rec.Expired = now
				destroyKey(rec)
				return []AuditEvent{{Time: now, Actor: "system", Action: ActionEnvelopeExpire, Envelope: id.String(), Detail: "expiry reached"}}, nil
			})
			if err != nil {
				return n, fmt.Errorf("sweep %s: %w", id, err)
			}
			if err := s.dropReplies(ctx, id, "expired"); err != nil {
				return n, err
			}
			n++
		}
	}
	if err := s.sweepStaleReplies(ctx); err != nil {
		return n, err
	}
	if err := s.sweepCiphertexts(ctx, now); err != nil {
		return n, err
	}
	if _, err := s.store.DeleteSessionsBefore(ctx, now.Add(-s.cfg.SessionIdle)); err != nil {
		return n, fmt.Errorf("sweep sessions: %w", err)
	}
	if err := s.expireAccounts(ctx, now); err != nil {
		return n, err
	}
	if err := s.sweepThreads(ctx, now); err != nil {
		return n, err
	}
	if err := s.sweepLimits(ctx, now); err != nil {
		return n, err
	}
	if n > 0 {
		s.log.InfoContext(ctx, "expired envelopes", "count", n)
	}
	return n, nil
}

// expireAccounts deletes accounts unused for longer than AccountMaxIdle: their
// people register again, proving their address anew.
func (s *Service) expireAccounts(ctx context.Context, now time.Time) error {
	accs, err := s.store.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("sweep accounts: %w", err)
	}
	for _, a := range accs {
		if now.Sub(a.LastUsed) <= s.cfg.AccountMaxIdle {
			continue
		}
		err := s.store.DeleteAccount(ctx, a.ID, []AuditEvent{{Time: now, Actor: "system", Action: ActionAccountExpire,
			Account: a.ID, Detail: "unused since " + a.LastUsed.Format(time.DateOnly)}})
		switch {
		case errors.Is(err, ErrLastAdmin):
			// The store keeps the last administrator (without one nobody can
			// manage the service); the others are still swept.
			s.log.WarnContext(ctx, "idle account kept: the last administrator", "account", a.ID, "last_used", a.LastUsed)
		case err != nil && !errors.Is(err, ErrNotFound):
			return fmt.Errorf("expire account %s: %w", a.ID, err)
		}
	}
	return nil
}

// RunSweeper sweeps every SweepInterval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Payload returns the stored "open online" fields of an envelope. Anyone holding
// the link may fetch them: they are ciphertext, useless without both key halves.
func (s *Service) Payload(ctx context.Context, id envelope.ID) ([]byte, error) {
	b, err := s.store.Payload(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnknownEnvelope
	}
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	return b, nil
}
