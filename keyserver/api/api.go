// Package api holds the key server's wire types: the JSON bodies of its HTTP API
// (docs/API.md) and the stable codes of its refusals. The server (keyserver/httpapi)
// and its clients (keyserver/client) share them; it imports nothing of either.
package api

import (
	"encoding/json"
	"time"
)

// CSRFHeader must accompany every cookie-authenticated state change. A custom header
// cannot be sent cross-origin without a CORS preflight, which the server never
// approves; the Origin check catches the rest.
const CSRFHeader = "X-Waxseal-CSRF"

// ErrorBody is every refusal's body.
type ErrorBody struct {
	Error      string `json:"error"` // one of the Code constants
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after,omitempty"` // seconds; present (maybe 0) when the server asks to wait
}

// Registration is one envelope in a gateway's registration batch.
type Registration struct {
	ID     string `json:"id"`
	Sender string `json:"sender"` // the message's From: header
	// Submitter is who submitted the message to the gateway (optional: older
	// gateways do not send it, and the header From is taken for it).
	Submitter string `json:"submitter,omitempty"`
	// Message names the message the envelope is one recipient's copy of: the
	// same for all its envelopes, another for the next message (Sent items
	// groups by it). Optional: older gateways do not send it.
	Message   string    `json:"message,omitempty"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	ServerKey string    `json:"server_key"`
	Payload   string    `json:"payload,omitempty"` // base64 of the whole online blob (deprecated: one copy per envelope)
	// Instead of Payload: the head of the online blob (base64) and the SHA-256 (hex)
	// of the message's ciphertext, uploaded once for all its envelopes.
	OnlineHead string `json:"online_head,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	// Size is the message's size in bytes as the envelope header gives it
	// (readable by anyone holding the envelope); shown in Sent items.
	Size int64 `json:"size,omitempty"`
	// Attachments are the message's attachment names, for the sender's Sent
	// items; only from gateways whose organisation chose to send them
	// ([gateway] sent_attachment_names): at most 100, each at most 255 bytes
	// of UTF-8 without control characters.
	Attachments []string `json:"attachments,omitempty"`
	// ReplyContext (base64) is the original's Message-ID and visible people,
	// sealed by the gateway to the reply key (FORMAT.md §13.3): opaque here.
	ReplyContext string `json:"reply_context,omitempty"`
}

// RegisterRequest is the body of POST /api/v1/envelopes (or its "envelopes" part).
type RegisterRequest struct {
	Envelopes []Registration `json:"envelopes"`
}

// EnvelopeView is an envelope as the API shows it: no key material.
type EnvelopeView struct {
	ID     string `json:"id"`
	Sender string `json:"sender"`
	// HeaderFrom is the message's From: header when it names someone else
	// than the sender who submitted it.
	HeaderFrom string    `json:"header_from,omitempty"`
	Recipient  string    `json:"recipient"`
	Subject    string    `json:"subject"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	State      string    `json:"state"` // active, locked, revoked, expired
	LockReason string    `json:"lock_reason,omitempty"`
	FirstOpen  time.Time `json:"first_open,omitzero"`
	Releases   int       `json:"releases"`
	Online     bool      `json:"online"`

	LastOpen time.Time `json:"last_open,omitzero"` // the latest release
	Size     int64     `json:"size,omitempty"`     // the message's bytes, when the gateway gave them
	// Attachments are the message's attachment names, when the gateway gave
	// them (Registration.Attachments).
	Attachments []string `json:"attachments,omitempty"`
	// Delivery is what the next hop did with the wrapper mail (delivery.go);
	// absent until the gateway reports it.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// SentMessage is one message in a sender's Sent items (GET /api/v1/sent,
// "messages"): the envelopes the gateway registered for its recipients.
type SentMessage struct {
	Subject    string         `json:"subject"`
	Created    time.Time      `json:"created"`
	Recipients []EnvelopeView `json:"recipients"`
	// Attachments are the message's attachment names, when its gateway
	// registered them (every copy carries the same).
	Attachments []string `json:"attachments,omitempty"`
}

// EnvelopeQuery filters the administrators' envelope list (GET
// /api/v1/admin/envelopes); zero fields match everything.
type EnvelopeQuery struct {
	Sender    string
	Recipient string
	Since     time.Time // Created at or after
	Until     time.Time // Created before
	Limit     int       // 0: no limit
	State     string    // active, locked, revoked, expired, opened, unopened, delivered, queued, refused
	Subject   string    // words of the subject, in any case
}

// AccountView is an account as the API shows it: no password hash or credentials.
type AccountView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Role      string    `json:"role"` // recipient, sender, admin
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	Password  bool      `json:"password"`
	Passkeys  int       `json:"passkeys"`
	Locked    bool      `json:"locked,omitempty"`
	Disabled  bool      `json:"disabled,omitempty"` // an administrator disabled it

	// PasskeysLastUsed is the latest sign-in with any of the passkeys.
	PasskeysLastUsed time.Time `json:"passkeys_last_used,omitzero"`
}

// MaxThreadIDs bounds the Message-IDs of one thread call.
const MaxThreadIDs = 100

// ThreadRequest is the body of both thread calls.
type ThreadRequest struct {
	MessageIDs []string `json:"message_ids"`
	TTLSeconds int64    `json:"ttl_seconds,omitempty"`
}

// MaxLanguageAddresses bounds the addresses of one language lookup.
const MaxLanguageAddresses = 500

// LanguagesRequest asks for the saved languages of recipients (gateway token):
// what the gateway writes to each of them (the wrapper mail, securedoc.html)
// speaks it.
type LanguagesRequest struct {
	Addresses []string `json:"addresses"`
}

// LanguagesResponse maps each asked address (as it was asked) that has an
// account with a saved language to that language's code; others are absent.
type LanguagesResponse struct {
	Languages map[string]string `json:"languages"`
}

// OutboxMail is a mail of the key server's outbox, as leased to a drainer.
type OutboxMail struct {
	ID          uint64    `json:"id"`
	From        string    `json:"from"`
	To          []string  `json:"to"`
	Message     []byte    `json:"message"` // complete RFC 5322 message, CRLF line ends
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
}

// LeasedMail is an outbox mail leased to a drainer, with the lease to report with.
type LeasedMail struct {
	OutboxMail
	Lease string `json:"lease"`
}

// BulkRequest is the body of POST /api/v1/admin/envelopes/bulk: revoke or lock
// one page of the envelopes of a sender, of a recipient, or created in a time
// range (at least one of these is required).
type BulkRequest struct {
	Action    string    `json:"action"` // revoke, lock
	Sender    string    `json:"sender,omitempty"`
	Recipient string    `json:"recipient,omitempty"`
	Since     time.Time `json:"since,omitzero"`   // created at or after
	Until     time.Time `json:"until,omitzero"`   // created before
	Reason    string    `json:"reason,omitempty"` // lock: the reason the recipients see
	// DryRun counts the page without changing anything.
	DryRun bool `json:"dry_run,omitempty"`
	// Cursor is the previous page's Next; empty for the first page.
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"` // envelopes per page; 0 or above 500: 500
}

// BulkResult answers a BulkRequest: one page.
type BulkResult struct {
	Matched int `json:"matched"` // envelopes selected in this page
	// Changed counts those changed (dry run: that would be), one audit record
	// each; the others already were revoked, or locked with this reason.
	Changed int `json:"changed"`
	// Next continues with the next page; empty when no envelope is left.
	Next string `json:"next,omitempty"`
}

// Stats answers GET /api/v1/admin/stats: the last days, counted from the audit
// log, newest last.
type Stats struct {
	Days        []DayStats     `json:"days"`
	OutboxDepth int            `json:"outbox_depth"`
	Denials     map[string]int `json:"denials"` // refused releases by reason (error code)
	// StillQueued counts envelopes whose latest delivery report in the window
	// is "queued": the gateway is still retrying them.
	StillQueued int `json:"still_queued"`
}

// DayStats is one UTC day of Stats.
type DayStats struct {
	Day     string `json:"day"` // YYYY-MM-DD
	Sealed  int    `json:"sealed"`
	Opened  int    `json:"opened"` // envelopes, each once a day
	Revoked int    `json:"revoked"`
	Expired int    `json:"expired"`
	Failed  int    `json:"failed"` // refused releases
	// Envelopes whose wrapper mail the next hop refused for good (or the
	// gateway gave up on), and those it did not take at once: delivery
	// reports, each envelope once a day.
	Undelivered int `json:"undelivered"`
	Queued      int `json:"queued"`
}

// AuditPage answers GET /api/v1/admin/audit/search: audit records (as the
// export writes them), oldest first, and where to continue (from=Next), if
// anywhere.
type AuditPage struct {
	Records []json.RawMessage `json:"records"`
	Next    uint64            `json:"next,omitempty"`
}

// EnvelopeOpen is EnvelopeStatus.State for an envelope that may be opened.
const EnvelopeOpen = "open"

// EnvelopeStatus is the answer of GET /api/v1/envelopes/{id}/status, asked by the
// open page before anyone signs in.
type EnvelopeStatus struct {
	// State is EnvelopeOpen, or the refusal's code: "revoked", "locked", "expired".
	State               string    `json:"state"`
	Message             string    `json:"message,omitempty"` // a refusal's sentence, a lock's reason in it
	Expires             time.Time `json:"expires,omitzero"`
	RecipientHasAccount bool      `json:"recipient_has_account"`
}
