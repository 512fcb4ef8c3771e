package keyserver

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/internal/address"
	"github.com/waxseal/waxseal/keyserver/api"
)

// Secure replies (DESIGN.md flow 5; docs/FORMAT.md §13). A recipient's browser
// seals a reply to the organisation's reply public key; the key server stores the
// sealed bytes for the gateway, which alone can open them, and keeps only
// metadata (who, when, which kind, how large) once the gateway took it.

// Audit actions of replies: metadata only, never content.
const (
	ActionReplyStore   AuditAction = "reply.store"
	ActionReplyDeny    AuditAction = "reply.deny"
	ActionReplyDeliver AuditAction = "reply.deliver"
	ActionReplyFail    AuditAction = "reply.fail"
	// ActionReplyDrop: an envelope's replies deleted with it (revoked or
	// expired), pending ones included.
	ActionReplyDrop AuditAction = "reply.drop"
)

// Forward policies (Config.ReplyForward), as the gateway's `forward`.
const (
	ForwardNone         = "none"
	ForwardOrganisation = "organisation"
	ForwardAny          = "any"
)

// Reply kinds, as the page asks for them.
const (
	ReplyKindReply   = "reply"
	ReplyKindAll     = "all"
	ReplyKindForward = "forward"
)

// ReplyStore is the store's role for replies; every Store implements it
// (storetest: testReplies).
type ReplyStore interface {
	// PutReply stores a new reply with its audit events; ErrConflict if the id
	// is taken.
	PutReply(ctx context.Context, r StoredReply, events []AuditEvent) error
	// DueReplies returns up to limit replies still pending (neither delivered
	// nor failed) whose NextAttempt is not after now, oldest first.
	DueReplies(ctx context.Context, now time.Time, limit int) ([]StoredReply, error)
	// UpdateReply is UpdateEnvelope for replies; ErrNotFound if there is none.
	UpdateReply(ctx context.Context, id string, fn func(*StoredReply) ([]AuditEvent, error)) (StoredReply, error)
	// RepliesOf lists an envelope's replies, oldest first (those created at
	// the same instant in any order).
	RepliesOf(ctx context.Context, env envelope.ID) ([]StoredReply, error)
	// RepliesOfEnvelopes lists the replies of each of envs, oldest first, by
	// envelope (those without replies absent), in one read, and without
	// their ciphertexts (Sealed and LeaseHash nil): a page of sent items.
	RepliesOfEnvelopes(ctx context.Context, envs []envelope.ID) (map[envelope.ID][]StoredReply, error)
	// DeleteRepliesOf removes an envelope's replies with the events, and
	// returns how many went.
	DeleteRepliesOf(ctx context.Context, env envelope.ID, events []AuditEvent) (int, error)
	// StaleReplyEnvelopes lists up to limit (<= 0: all) envelopes that still
	// have replies stored although their key is destroyed (revoked or
	// expired: WrappedKey empty) or their record is gone, in any order: the
	// sweep deletes those replies, so that none outlives its envelope even
	// when the deletion at revocation or expiry did not happen (a crash
	// between the two, or records from before it did).
	StaleReplyEnvelopes(ctx context.Context, limit int) ([]envelope.ID, error)
}

// StoredReply is one recipient's reply to one envelope.
type StoredReply struct {
	ID       string      `json:"id"` // random, 32 hex digits
	Envelope envelope.ID `json:"envelope"`
	Account  string      `json:"account"`
	// From is the account's verified address and Name its registered name: the
	// gateway's From, never the browser's.
	From      string    `json:"from"`
	Name      string    `json:"name,omitempty"`
	Kind      string    `json:"kind"`
	ForwardTo string    `json:"forward_to,omitempty"`
	Created   time.Time `json:"created"`
	Size      int       `json:"size"`
	// Sealed is the Reply v1 ciphertext, dropped once delivered or failed
	// unless the reply has a CopyKey.
	Sealed []byte `json:"sealed,omitempty"`
	// CopyKey is the wrap of the reply's box key under k_copy, a key derived
	// from both halves of the envelope's key, which the key server cannot
	// derive (FORMAT.md §13.5): with it the recipient's page opens Sealed, the
	// recipient's copy. A reply with one keeps Sealed after delivery, until
	// the envelope's replies are swept.
	CopyKey []byte `json:"copy_key,omitempty"`
	// NextAttempt is when a lease ends (zero: due); LeaseHash the SHA-256 of
	// the lease token a gateway reports with.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LeaseHash   []byte    `json:"lease_hash,omitempty"`
	Delivered   time.Time `json:"delivered,omitzero"`
	Failed      time.Time `json:"failed,omitzero"`
	Reason      string    `json:"reason,omitempty"`
}

// Pending reports whether the gateway has still to deliver r.
func (r *StoredReply) Pending() bool { return r.Delivered.IsZero() && r.Failed.IsZero() }

// MaxReplyContext bounds an envelope's sealed reply context.
const MaxReplyContext = 16 << 10

// Reply limits.
const (
	maxReplyBody   = reply.MaxSealed
	maxReplyReason = 500

	replyLeaseBatch  = 20
	maxReplyForwards = 254 // an address's longest
	// maxReplyBatchBytes bounds the ciphertext of one lease's response.
	maxReplyBatchBytes = 32 << 20
)

var (
	ErrReplyTooLarge     = (&Error{http.StatusRequestEntityTooLarge, api.CodeReplyTooLarge, "The reply is larger than 10 MiB; send smaller attachments.", 0, nil}).With("refusal.reply_too_large")
	ErrNotAReply         = (&Error{http.StatusBadRequest, api.CodeNotAReply, "The request body is not a sealed reply.", 0, nil}).With("refusal.not_a_reply")
	ErrReplyKind         = (&Error{http.StatusBadRequest, api.CodeBadReplyKind, "The reply kind must be reply, all or forward, and a forward needs an address.", 0, nil}).With("refusal.reply_kind")
	ErrForwardNotAllowed = (&Error{http.StatusForbidden, api.CodeForwardNotAllowed, "Your sender's organisation does not allow forwarding its secure messages.", 0, nil}).With("refusal.forward_not_allowed")
	ErrForwardOutside    = (&Error{http.StatusForbidden, api.CodeForwardNotAllowed, "Your sender's organisation allows forwarding its secure messages only to its own addresses.", 0, nil}).With("refusal.forward_outside")
	ErrNotACopy          = (&Error{http.StatusBadRequest, api.CodeNotAReply, "The reply's copy key is not a wrapped reply key.", 0, nil}).With("refusal.not_a_copy")
	ErrNoReplyCopy       = (&Error{http.StatusNotFound, api.CodeNoReplyCopy, "There is no copy of this reply to show.", 0, nil}).With("refusal.no_reply_copy")
	ErrReplyAllLater     = (&Error{http.StatusConflict, api.CodeReplyAllUnavailable, "Reply all is not available for this message: reply to the sender instead.", 0, nil}).With("refusal.reply_all_later")
)

// PostReply stores a sealed reply from the envelope's own signed-in recipient
// while the envelope is neither revoked, locked nor expired, with the wrap of
// its key for the recipient's copy (nil: none; FORMAT.md §13.5). A forward must go where the forward
// policy allows (ReplyForward; the gateway checks it again).
func (s *Service) PostReply(ctx context.Context, caller Caller, id envelope.ID, kind, forwardTo string, sealed, copyKey []byte) (StoredReply, error) {
	if caller.Account == nil {
		return StoredReply{}, ErrSignInRequired
	}
	switch {
	case len(sealed) > maxReplyBody:
		return StoredReply{}, ErrReplyTooLarge
	case len(sealed) < 4+32+16 || !bytes.HasPrefix(sealed, []byte("wxr\x01")):
		return StoredReply{}, ErrNotAReply
	case copyKey != nil && (len(copyKey) != compose.WrapSize || !bytes.HasPrefix(copyKey, []byte(compose.CopyMagic))):
		return StoredReply{}, ErrNotACopy
	}
	switch kind {
	case ReplyKindReply:
		forwardTo = ""
	case ReplyKindAll:
		forwardTo = "" // checked against the envelope below
	case ReplyKindForward:
		if s.cfg.ReplyForward == ForwardNone {
			return StoredReply{}, ErrForwardNotAllowed
		}
		norm, err := address.Normalize(forwardTo)
		if err != nil || len(norm) > maxReplyForwards {
			return StoredReply{}, ErrReplyKind
		}
		if s.cfg.ReplyForward == ForwardOrganisation && !inDomains(norm, s.cfg.ForwardDomains) {
			s.audit(ctx, AuditEvent{Time: s.now(), Actor: caller.Account.Email, Action: ActionReplyDeny, Envelope: id.String(),
				Account: caller.Account.ID, ClientIP: caller.IP, Detail: api.CodeForwardNotAllowed + ", to " + norm})
			return StoredReply{}, ErrForwardOutside
		}
		forwardTo = norm
	default:
		return StoredReply{}, ErrReplyKind
	}
	email := caller.Account.Email
	now := s.now()
	rec, err := s.store.Envelope(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return StoredReply{}, ErrUnknownEnvelope
	}
	if err != nil {
		return StoredReply{}, fmt.Errorf("reply to %s: %w", id, err)
	}
	if denied := s.refusal(&rec, email, now); denied != nil {
		s.audit(ctx, AuditEvent{Time: now, Actor: email, Action: ActionReplyDeny, Envelope: id.String(), Account: caller.Account.ID, ClientIP: caller.IP, Detail: denied.Code})
		return StoredReply{}, denied
	}
	if kind == ReplyKindAll && len(rec.ReplyContext) == 0 {
		// Registered by a gateway that did not send the original's people.
		return StoredReply{}, ErrReplyAllLater
	}
	// Only replies that would be stored count against the account's rate.
	if err := limit(ctx, s.repliesPerAccount, caller.Account.ID); err != nil {
		return StoredReply{}, err
	}
	r := StoredReply{
		ID: randomHex(16), Envelope: id, Account: caller.Account.ID, From: email,
		Name: strings.TrimSpace(caller.Account.FirstName + " " + caller.Account.LastName),
		Kind: kind, ForwardTo: forwardTo, Created: now, Size: len(sealed), Sealed: sealed,
		CopyKey: copyKey,
	}
	detail := fmt.Sprintf("%s, %d bytes", kind, len(sealed))
	if forwardTo != "" {
		detail += ", to " + forwardTo
	}
	err = s.store.PutReply(ctx, r, []AuditEvent{{Time: now, Actor: email, Action: ActionReplyStore, Envelope: id.String(),
		Account: caller.Account.ID, ClientIP: caller.IP, Detail: detail}})
	if err != nil {
		return StoredReply{}, fmt.Errorf("store reply to %s: %w", id, err)
	}
	r.Sealed = nil
	return r, nil
}

// ReplyCopy returns the recipient's copy of one of their own replies to an
// envelope, the wrap of its key and the sealed reply, for their page to open
// (only it can: FORMAT.md §13.5). The copy goes with the envelope: once it is
// revoked, expired (even before the sweep) or locked, the answer is the
// envelope's own refusal (410 revoked or expired, 423 locked), whether or not
// the sweep has deleted the reply yet.
func (s *Service) ReplyCopy(ctx context.Context, caller Caller, id envelope.ID, replyID string) ([]byte, error) {
	if caller.Account == nil {
		return nil, ErrSignInRequired
	}
	now := s.now()
	rec, err := s.store.Envelope(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnknownEnvelope
	}
	if err != nil {
		return nil, fmt.Errorf("reply copy of %s: %w", id, err)
	}
	// Not-yours first, as for a release: only the recipient wrote replies.
	if denied := s.refusal(&rec, caller.Account.Email, now); denied != nil {
		if denied != ErrNotYours {
			s.audit(ctx, AuditEvent{Time: now, Actor: caller.Account.Email, Action: ActionReplyDeny, Envelope: id.String(),
				Account: caller.Account.ID, ClientIP: caller.IP, Detail: "copy: " + denied.Code})
		}
		return nil, denied
	}
	all, err := s.store.RepliesOf(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", id, err)
	}
	for _, r := range all {
		if r.ID != replyID {
			continue
		}
		if r.Account != caller.Account.ID {
			return nil, ErrNotYours
		}
		if len(r.CopyKey) == 0 || len(r.Sealed) == 0 {
			return nil, ErrNoReplyCopy
		}
		return append(r.CopyKey, r.Sealed...), nil
	}
	return nil, ErrNoReplyCopy
}

// Replies lists the recipient's own replies to an envelope (without ciphertext).
func (s *Service) Replies(ctx context.Context, caller Caller, id envelope.ID) ([]StoredReply, error) {
	if caller.Account == nil {
		return nil, ErrSignInRequired
	}
	rec, err := s.store.Envelope(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnknownEnvelope
	}
	if err != nil {
		return nil, err
	}
	if rec.Recipient != caller.Account.Email && !s.mayManage(caller, &rec) {
		return nil, ErrNotYours
	}
	all, err := s.store.RepliesOf(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", id, err)
	}
	out := []StoredReply{}
	for _, r := range all {
		if r.Account == caller.Account.ID || s.mayManage(caller, &rec) {
			r.Sealed, r.LeaseHash = nil, nil
			out = append(out, r)
		}
	}
	return out, nil
}

// SentReplies lists, for the signed-in sender's sent items, the replies to
// each of recs (as SentEnvelopes returned them) by envelope: metadata only
// (who, when, how large, the delivery state), never the ciphertext, which the
// key server cannot read anyway. Envelopes without replies, and any the caller
// may not manage, are left out. One store read for the whole page; the store
// leaves the ciphertexts out.
func (s *Service) SentReplies(ctx context.Context, caller Caller, recs []EnvelopeRecord) (map[envelope.ID][]StoredReply, error) {
	if caller.Account == nil {
		return nil, ErrSignInRequired
	}
	ids := make([]envelope.ID, 0, len(recs))
	for i := range recs {
		if s.mayManage(caller, &recs[i]) {
			ids = append(ids, recs[i].ID)
		}
	}
	if len(ids) == 0 {
		return map[envelope.ID][]StoredReply{}, nil
	}
	out, err := s.store.RepliesOfEnvelopes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("replies of %d envelopes: %w", len(ids), err)
	}
	return out, nil
}

// LeasedReply is a pending reply leased to a gateway, with what the key server
// knows of the original message.
type LeasedReply struct {
	ID        string      `json:"id"`
	Lease     string      `json:"lease"`
	Envelope  envelope.ID `json:"envelope"`
	Kind      string      `json:"kind"`
	ForwardTo string      `json:"forward_to,omitempty"`
	From      string      `json:"from"`
	Name      string      `json:"name,omitempty"`
	// OriginalSender is the original's sender (its Sender); OriginalSubject
	// its subject.
	OriginalSender  string `json:"original_sender"`
	OriginalSubject string `json:"original_subject"`
	// Context is the envelope's ReplyContext, sealed by the gateway.
	Context []byte `json:"context,omitempty"`
	Sealed  []byte `json:"sealed"`
}

// LeaseReplies leases up to limit pending replies to a gateway for d. A
// lease is stored with the reply, so it survives a restart of the key server.
func (s *Service) LeaseReplies(ctx context.Context, caller Caller, limit int, d time.Duration) ([]LeasedReply, error) {
	if limit <= 0 || limit > maxLeaseBatch {
		limit = replyLeaseBatch
	}
	if d <= 0 {
		d = defaultLease
	}
	d = min(max(d, minLease), maxLease)
	now := s.now()
	due, err := s.store.DueReplies(ctx, now, limit)
	if err != nil {
		return nil, fmt.Errorf("lease replies: %w", err)
	}
	out := []LeasedReply{}
	total := 0
	gone := map[envelope.ID]bool{}
	for _, r := range due {
		if gone[r.Envelope] {
			continue
		}
		rec, err := s.store.Envelope(ctx, r.Envelope)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("lease reply %s: envelope %s: %w", r.ID, r.Envelope, err)
		}
		// A reply outlives neither a revocation nor an expiry: one still
		// here (stored in a race with the revoke, or not yet swept) goes now
		// instead of to the gateway.
		if errors.Is(err, ErrNotFound) || replyGone(&rec, now) != "" {
			gone[r.Envelope] = true
			why := "gone" // audited as "N replies, envelope gone"
			if err == nil {
				why = replyGone(&rec, now)
			}
			if err := s.dropReplies(ctx, r.Envelope, why); err != nil {
				return nil, err
			}
			continue
		}
		// A batch is one response: it stops at about 32 MiB of ciphertext.
		if total += r.Size; total > maxReplyBatchBytes && len(out) > 0 {
			break
		}
		tok := r.ID + "." + NewAPIToken()
		leased, err := s.store.UpdateReply(ctx, r.ID, func(r *StoredReply) ([]AuditEvent, error) {
			if !r.Pending() || r.NextAttempt.After(now) {
				return nil, ErrLeaseLost
			}
			r.NextAttempt, r.LeaseHash = now.Add(d), hashToken(tok)
			return nil, nil
		})
		if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lease reply %s: %w", r.ID, err)
		}
		out = append(out, LeasedReply{ID: leased.ID, Lease: tok, Envelope: leased.Envelope, Kind: leased.Kind, ForwardTo: leased.ForwardTo,
			From: leased.From, Name: leased.Name, OriginalSender: rec.Sender, OriginalSubject: rec.Subject, Context: rec.ReplyContext, Sealed: leased.Sealed})
	}
	return out, nil
}

// FinishReply records a leased reply delivered (reason "") or given up, drops
// its ciphertext and audits it. ErrLeaseLost if lease is not the reply's
// current, unexpired lease.
func (s *Service) FinishReply(ctx context.Context, caller Caller, id, lease, reason string) error {
	now := s.now()
	if len(reason) > maxReplyReason {
		reason = reason[:maxReplyReason]
	}
	_, err := s.store.UpdateReply(ctx, id, func(r *StoredReply) ([]AuditEvent, error) {
		if !r.Pending() || lease == "" || subtle.ConstantTimeCompare(r.LeaseHash, hashToken(lease)) != 1 || now.After(r.NextAttempt) {
			return nil, ErrLeaseLost
		}
		if len(r.CopyKey) == 0 {
			r.Sealed = nil // else kept for the recipient's copy
		}
		r.LeaseHash = nil
		ev := AuditEvent{Time: now, Actor: "gateway", Action: ActionReplyDeliver, Envelope: r.Envelope.String(), Account: r.Account, Detail: r.Kind}
		if reason == "" {
			r.Delivered = now
		} else {
			r.Failed, r.Reason = now, reason
			ev.Action, ev.Detail = ActionReplyFail, reason
		}
		return []AuditEvent{ev}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return ErrLeaseLost
	}
	return err
}

// ReplyReport is a gateway's report of one leased reply: delivered (Reason
// "") or given up, and why.
type ReplyReport struct {
	ID     string `json:"id"`
	Lease  string `json:"lease"`
	Reason string `json:"reason,omitempty"`
}

// MaxReplyReports bounds one batch report: a lease's batch at most.
const MaxReplyReports = maxLeaseBatch

// ReportReplies is FinishReply for a whole leased batch, so that delivering a
// batch costs the gateway one round trip after the lease, not one per reply.
// It returns the ids whose lease was lost (each as FinishReply's ErrLeaseLost:
// the gateway's ledger keeps them from being delivered twice).
func (s *Service) ReportReplies(ctx context.Context, caller Caller, reports []ReplyReport) ([]string, error) {
	if len(reports) > MaxReplyReports {
		return nil, ErrBadRequest.With("refusal.replies_many", "Max", MaxReplyReports)
	}
	lost := []string{}
	for _, r := range reports {
		err := s.FinishReply(ctx, caller, r.ID, r.Lease, r.Reason)
		switch {
		case errors.Is(err, ErrLeaseLost):
			lost = append(lost, r.ID)
		case err != nil:
			return nil, fmt.Errorf("report reply %s: %w", r.ID, err)
		}
	}
	return lost, nil
}

// replyGone says why an envelope's replies must go ("revoked", "expired"),
// or "" while they may stay: stored reply ciphertext, and the recipient's copy,
// expire with the envelope (its key destroyed, or its time up before the
// sweep has destroyed it).
func replyGone(rec *EnvelopeRecord, now time.Time) string {
	switch {
	case !rec.Revoked.IsZero():
		return "revoked"
	case !rec.Expired.IsZero() || (!rec.Expires.IsZero() && !now.Before(rec.Expires)) || len(rec.WrappedKey) == 0:
		return "expired"
	}
	return ""
}

// dropReplies deletes an envelope's replies, pending ones included, and their
// copies, and audits how many went (metadata only) and why.
func (s *Service) dropReplies(ctx context.Context, id envelope.ID, why string) error {
	n, err := s.store.DeleteRepliesOf(ctx, id, nil)
	if err != nil {
		return fmt.Errorf("drop replies of %s: %w", id, err)
	}
	if n > 0 {
		s.audit(ctx, AuditEvent{Time: s.now(), Actor: "system", Action: ActionReplyDrop, Envelope: id.String(),
			Detail: fmt.Sprintf("%d replies, envelope %s", n, why)})
	}
	return nil
}

// dropRepliesAfter is dropReplies after a revocation or an expiry that has
// already happened: a failure is logged, not returned, because the envelope
// change stands; the sweep removes what is left (sweepStaleReplies), and
// until then neither a copy nor a lease is served (ReplyCopy, LeaseReplies).
func (s *Service) dropRepliesAfter(ctx context.Context, id envelope.ID, why string) {
	if err := s.dropReplies(ctx, id, why); err != nil {
		s.log.ErrorContext(ctx, "drop replies", "envelope", id.String(), "err", err)
	}
}

// sweepStaleReplies deletes the replies of every envelope whose key is
// destroyed or whose record is gone, in batches of 100.
func (s *Service) sweepStaleReplies(ctx context.Context) error {
	const batch = 100
	for {
		ids, err := s.store.StaleReplyEnvelopes(ctx, batch)
		if err != nil {
			return fmt.Errorf("sweep replies: %w", err)
		}
		for _, id := range ids {
			why := "gone"
			rec, err := s.store.Envelope(ctx, id)
			switch {
			case err == nil:
				if why = replyGone(&rec, s.now()); why == "" {
					why = "expired" // the store saw no key
				}
			case !errors.Is(err, ErrNotFound):
				return fmt.Errorf("sweep replies of %s: %w", id, err)
			}
			if err := s.dropReplies(ctx, id, why); err != nil {
				return err
			}
		}
		if len(ids) < batch {
			return nil
		}
	}
}
