package keyserver

import (
	"context"
	"errors"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// Store is everything the key server keeps: one role interface per kind of
// record (below), each with its part of the contract. Each method is one short,
// atomic transaction, so that a SQL database (Cloudflare D1 later) can implement
// it with a statement or a batch; no method holds a transaction open across
// calls. Every implementation must pass the contract suite in
// keyserver/storetest (storetest.Run, or per role storetest.RunEnvelopes and so
// on).
//
// Methods that change an envelope or an account take the audit events describing
// the change and append them in the same transaction: a change is never recorded
// without its audit record, nor the reverse.
type Store interface {
	EnvelopeStore
	CiphertextStore
	AccountStore
	CodeStore
	SessionStore
	CeremonyStore
	InviteStore
	OutboxStore
	AuditStore
	ThreadStore
	ReplyStore    // replies.go
	DeliveryStore // delivery.go

	// Shared state of the nodes on one database (shared.go).
	LimitStore
	CeremonyCapStore
	OutboxLeaseStore
	LeaderStore
	SessionAccountStore // sessionaccount.go

	// Close releases the store.
	Close() error
}

// EnvelopeStore keeps envelopes: their records, key material and "open online"
// payloads.
type EnvelopeStore interface {
	// PutEnvelopes registers a batch atomically, with the "open online" ciphertext of
	// those that have one. Registering an id again with the same KeyCheck is a no-op
	// for that envelope (gateways retry); with another KeyCheck the whole batch fails
	// with ErrConflict and nothing is stored.
	PutEnvelopes(ctx context.Context, envs []NewEnvelope, events []AuditEvent) error
	// Envelope returns one envelope, or ErrNotFound.
	Envelope(ctx context.Context, id envelope.ID) (EnvelopeRecord, error)
	// UpdateEnvelope reads the envelope, lets fn change it, and writes it back with
	// the events fn returns, in one transaction, returning the record as written. If
	// fn returns an error nothing is written and that error is returned. ErrNotFound
	// if there is no such envelope. If fn clears HasPayload, the stored payload is
	// deleted in the same transaction. fn may be called more than once (stores may
	// batch concurrent updates and retry one alone); it must not have other effects.
	UpdateEnvelope(ctx context.Context, id envelope.ID, fn func(*EnvelopeRecord) ([]AuditEvent, error)) (EnvelopeRecord, error)
	// ListEnvelopes returns envelopes matching q, newest first; envelopes created
	// at the same instant by id, greatest first, so that q.After pages exactly.
	ListEnvelopes(ctx context.Context, q EnvelopeQuery) ([]EnvelopeRecord, error)
	// ExpiredEnvelopes lists up to limit envelopes whose Expires is before now and
	// whose keys have not yet been destroyed.
	ExpiredEnvelopes(ctx context.Context, now time.Time, limit int) ([]envelope.ID, error)
	// Payload returns the stored ciphertext fields for "open online", or ErrNotFound:
	// the online blob, assembled from its head and the shared ciphertext when the
	// envelope references one (see CiphertextStore).
	Payload(ctx context.Context, id envelope.ID) ([]byte, error)
}

// CiphertextStore keeps shared ciphertexts: a message sealed for several
// recipients has one ciphertext, uploaded once and stored once, under its
// SHA-256. An envelope referencing one (EnvelopeRecord.Ciphertext) stores only
// the head of its online blob (magic, header, key block) as its payload; Payload
// returns that head followed by the shared ciphertext.
//
// PutEnvelopes fails the whole batch, storing nothing, with an error wrapping
// ErrNotFound if a new envelope references a ciphertext that is not stored; each
// new envelope referencing one counts as a reference (a repeated registration
// does not count again). When UpdateEnvelope clears HasPayload of an envelope
// holding a reference, the reference goes, and the ciphertext is deleted in the
// same transaction once no envelope references it. fn may not change Ciphertext.
type CiphertextStore interface {
	// PutCiphertext stores data under sum, its SHA-256, uploaded at now; the caller
	// has checked the hash. Storing it again is a no-op, except that an
	// unreferenced ciphertext's upload time becomes now (a gateway about to
	// register envelopes against it must not see it swept meanwhile).
	//
	// It may return before the ciphertext is stored, leaving it to be written
	// with the next writes (boltstore does: an upload is useless until a
	// registration references it, so it need not wait for a commit, an fsync,
	// of its own). It is stored no later than any write begun after it returned,
	// which sees it (PutEnvelopes, DeleteUnreferencedCiphertexts); once such a
	// write returns, reads see it too. If storing it fails, nothing is stored,
	// and PutEnvelopes referencing it fails with ErrNotFound. data must not
	// change afterwards.
	PutCiphertext(ctx context.Context, sum [32]byte, data []byte, now time.Time) error
	// Ciphertext returns a shared ciphertext, or ErrNotFound.
	Ciphertext(ctx context.Context, sum [32]byte) ([]byte, error)
	// DeleteUnreferencedCiphertexts deletes, and counts, the ciphertexts that no
	// envelope references and that were uploaded before t: uploads whose
	// registration never came (the gateway failed or gave up).
	DeleteUnreferencedCiphertexts(ctx context.Context, t time.Time) (int, error)
}

// AccountStore keeps accounts and the passkeys (credentials) they hold.
type AccountStore interface {
	// CreateAccount stores a new account; ErrConflict if the email, or the id of
	// one of its credentials, is taken.
	CreateAccount(ctx context.Context, a Account, events []AuditEvent) error
	// Account returns an account by id, or ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)
	// AccountByEmail returns an account by normalized email, or ErrNotFound.
	AccountByEmail(ctx context.Context, email string) (Account, error)
	// UpdateAccount is UpdateEnvelope for accounts. fn must not change the email.
	// If fn adds a credential whose id another account holds, nothing is written
	// and the error wraps ErrConflict. If fn takes the administrator role from
	// the last account that has it, nothing is written and the error is
	// ErrLastAdmin, checked in the same transaction as the change.
	UpdateAccount(ctx context.Context, id string, fn func(*Account) ([]AuditEvent, error)) (Account, error)
	// AccountByCredential returns the account holding the passkey with this
	// credential id, or ErrNotFound. A passkey sign-in names only its credential.
	AccountByCredential(ctx context.Context, credentialID []byte) (Account, error)
	// DeleteAccount removes an account, its sessions and its credentials; the
	// last administrator's account is not removed (ErrLastAdmin, as UpdateAccount).
	DeleteAccount(ctx context.Context, id string, events []AuditEvent) error
	// ListAccounts returns all accounts, ordered by email.
	ListAccounts(ctx context.Context) ([]Account, error)
}

// CodeStore keeps the codes mailed for registration, sign-in and password
// resets.
type CodeStore interface {
	// PutCode stores a code, replacing any earlier one for the same email and purpose.
	PutCode(ctx context.Context, c Code) error
	// UpdateCode is UpdateEnvelope for codes, keyed by email and purpose.
	UpdateCode(ctx context.Context, email string, purpose CodePurpose, fn func(*Code) error) (Code, error)
	// DeleteCode removes a code; no error if there is none.
	DeleteCode(ctx context.Context, email string, purpose CodePurpose) error
}

// SessionStore keeps browser sessions, and sweeps what expired.
type SessionStore interface {
	// PutSession stores a session under its token hash.
	PutSession(ctx context.Context, s Session) error
	// Session returns a session by token hash, or ErrNotFound.
	Session(ctx context.Context, tokenHash []byte) (Session, error)
	// TouchSession sets LastSeen; ErrNotFound if the session is gone.
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	// DeleteSession removes one session; no error if there is none.
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteAccountSessions removes every session of an account but the one with
	// token hash except (nil: all of them; sign out everywhere, password reset,
	// a removed passkey or password) and returns how many it removed.
	DeleteAccountSessions(ctx context.Context, accountID string, except []byte) (int, error)
	// DeleteSessionsBefore removes sessions last seen before t, and codes,
	// ceremonies and invites that expired before t, and returns how many sessions
	// went.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error)
}

// CeremonyStore keeps WebAuthn ceremonies in progress.
type CeremonyStore interface {
	// PutCeremony stores a WebAuthn ceremony in progress under its id.
	PutCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony removes a ceremony and returns it: each is used at most once,
	// whatever its outcome. ErrNotFound if there is none, or if it expired at or
	// before now (an expired one may be left for DeleteSessionsBefore to remove:
	// it can never be taken again either way).
	TakeCeremony(ctx context.Context, id string, now time.Time) (Ceremony, error)
}

// InviteStore keeps administrator enrolment invites.
type InviteStore interface {
	// PutInvite stores an administrator enrolment invite with its audit events.
	PutInvite(ctx context.Context, inv Invite, events []AuditEvent) error
	// Invite returns the invite with this token hash without using it up, or
	// ErrNotFound if there is none or it expired at or before now.
	Invite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error)
	// TakeInvite removes an unexpired invite and returns it (single use), or
	// ErrNotFound, as Invite.
	TakeInvite(ctx context.Context, tokenHash []byte, now time.Time) (Invite, error)
	// TakeInviteCreateAccount is TakeInvite and CreateAccount in one transaction:
	// either the invite is used up and the account a exists (with events
	// appended), or nothing is written. An enrolment refused at the last step (a
	// credential or address taken meanwhile) leaves the invite for another try.
	// ErrNotFound if the invite is gone or expired; ErrConflict as CreateAccount.
	TakeInviteCreateAccount(ctx context.Context, tokenHash []byte, now time.Time, a Account, events []AuditEvent) error
	// TakeInviteUpdateAccount is TakeInvite and UpdateAccount in one transaction,
	// in the same way: ErrNotFound if the invite or the account is gone; fn's
	// error, or one wrapping ErrConflict, and nothing is written.
	TakeInviteUpdateAccount(ctx context.Context, tokenHash []byte, now time.Time, id string, fn func(*Account) ([]AuditEvent, error)) (Account, error)
}

// OutboxStore keeps the mail the key server sends (codes, receipts) until it is
// sent.
type OutboxStore interface {
	// EnqueueMail adds mail to the outbox and returns its id.
	EnqueueMail(ctx context.Context, m OutboxMail) (uint64, error)
	// DueMail returns up to limit outbox mails whose NextAttempt is not after now,
	// oldest first.
	DueMail(ctx context.Context, now time.Time, limit int) ([]OutboxMail, error)
	// UpdateMail replaces an outbox mail (after a failed attempt); ErrNotFound if
	// it is gone. DueMail's "oldest first" is enqueue order.
	UpdateMail(ctx context.Context, m OutboxMail) error
	// DeleteMail removes a delivered (or abandoned) mail; no error if it is gone.
	DeleteMail(ctx context.Context, id uint64) error
	// OutboxDepth counts the mails waiting.
	OutboxDepth(ctx context.Context) (int, error)
}

// AuditStore keeps the hash-chained audit log.
type AuditStore interface {
	// AppendAudit appends events that belong to no other change (sign-in failures,
	// admin reads).
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// Audit calls fn for each audit record in order, from seq onwards, until fn
	// returns false or an error.
	Audit(ctx context.Context, from uint64, fn func(AuditRecord) (bool, error)) error
}

// ThreadStore keeps keyed hashes of the Message-IDs of sealed messages (never
// the ids themselves), so that a reply in a secure conversation is sealed too,
// by whichever gateway it passes (threads.go).
type ThreadStore interface {
	// PutThreadHashes stores hashes until expires; storing one again keeps the
	// later of its expiries.
	PutThreadHashes(ctx context.Context, hashes [][]byte, expires time.Time) error
	// ThreadHashKnown reports whether any of hashes is stored with an expiry
	// after now.
	ThreadHashKnown(ctx context.Context, hashes [][]byte, now time.Time) (bool, error)
	// DeleteThreadHashesBefore removes the hashes whose expiry is at or before t
	// and returns how many went.
	DeleteThreadHashesBefore(ctx context.Context, t time.Time) (int, error)
}

// Errors every Store returns for the same conditions.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// EnvelopeRecord is what the key server knows of one envelope. It never holds k_env,
// so nothing here decrypts a message.
type EnvelopeRecord struct {
	ID envelope.ID `json:"id"`
	// Sender is who submitted the message to the gateway (SMTP AUTH identity,
	// or MAIL FROM from a trusted client network): Sent items, receipts and the
	// sender's revoke right follow it. Normalized address.
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"` // normalized address
	// Message is the gateway's name of the message this envelope is one
	// recipient's copy of (Sent items groups by it); "" from older gateways.
	Message string `json:"message,omitempty"`
	// HeaderFrom is the message's From: header, when its address is not the
	// Sender's: shown as such, never trusted for anything.
	HeaderFrom string    `json:"header_from,omitempty"`
	Subject    string    `json:"subject"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"` // zero: never
	// WrappedKey is k_srv sealed with a key derived from the master key and the id;
	// empty once the key is destroyed (revoked or expired).
	WrappedKey []byte `json:"wrapped_key,omitempty"`
	// KeyCheck identifies k_srv without revealing it (HMAC under the master key), so
	// a repeated registration can be told from a conflicting one.
	KeyCheck   []byte    `json:"key_check,omitempty"`
	HasPayload bool      `json:"has_payload,omitempty"`
	Revoked    time.Time `json:"revoked,omitzero"`
	Expired    time.Time `json:"expired,omitzero"` // when the sweeper destroyed the key
	Locked     bool      `json:"locked,omitempty"`
	LockReason string    `json:"lock_reason,omitempty"`
	FirstOpen  time.Time `json:"first_open,omitzero"`
	Releases   int       `json:"releases,omitempty"`
	// LastOpen is the time of the latest release (Releases counts them).
	LastOpen time.Time `json:"last_open,omitzero"`
	// Size is the message's size in bytes, from the envelope header (which
	// anyone holding the envelope reads); 0 from older gateways.
	Size int64 `json:"size,omitempty"`
	// Attachments are the message's attachment names, for Sent items: only
	// when the organisation's gateway sends them (they are content the key
	// server otherwise never holds; docs/THREAT_MODEL.md). Validated at
	// registration (ValidateAttachmentNames).
	Attachments []string `json:"attachments,omitempty"`
	// Ciphertext is the SHA-256 of the shared ciphertext the online blob ends
	// with, when the payload is only the blob's head (see Store); empty when the
	// payload is the whole blob (older gateways) or there is none.
	Ciphertext []byte `json:"ciphertext,omitempty"`
	// ReplyContext is the original message's Message-ID and visible
	// recipients, sealed by the gateway to the organisation's reply key: the
	// key server stores it for replies and cannot read it (replies.go).
	ReplyContext []byte `json:"reply_context,omitempty"`
	// Delivery is what the next hop did with the wrapper mail, as the gateway
	// last reported it (delivery.go); nil before any report.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// NewEnvelope is an envelope being registered, with its "open online" payload (the
// envelope's form fields as the key server will serve them), if any: the whole
// online blob, or, when Record.Ciphertext names a shared ciphertext, its head.
type NewEnvelope struct {
	Record  EnvelopeRecord
	Payload []byte
}

// EnvelopeQuery filters ListEnvelopes; zero fields match everything.
type EnvelopeQuery struct {
	Sender    string
	Recipient string
	Since     time.Time // Created at or after
	Until     time.Time // Created before
	Limit     int       // 0: no limit
	// After, when set, continues a listing past this envelope (the last of the
	// previous page): only envelopes that come after it in ListEnvelopes' order
	// match, created before it or at the same instant with a smaller id. Paging
	// with it neither skips nor repeats an envelope, even when many were created
	// at the same instant (a batch registration).
	After *EnvelopeCursor
}

// EnvelopeCursor is a position in ListEnvelopes' order: an envelope's Created
// and ID.
type EnvelopeCursor struct {
	Created time.Time
	ID      envelope.ID
}

// CursorOf is the position of rec, to continue a listing after it.
func CursorOf(rec *EnvelopeRecord) *EnvelopeCursor {
	return &EnvelopeCursor{Created: rec.Created, ID: rec.ID}
}

// Role is what an account may do.
type Role string

const (
	RoleRecipient Role = "recipient"
	RoleSender    Role = "sender"
	RoleAdmin     Role = "admin"
)

// Account is a person who signs in. The email is verified before an account exists.
type Account struct {
	ID           string    `json:"id"`    // random, 32 hex digits
	Email        string    `json:"email"` // normalized
	FirstName    string    `json:"first_name"`
	LastName     string    `json:"last_name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"password_hash,omitempty"` // argon2id, PHC string form
	Created      time.Time `json:"created"`
	LastUsed     time.Time `json:"last_used"`
	// UserHandle is the WebAuthn user handle: random, never the email.
	UserHandle  []byte       `json:"user_handle"`
	Credentials []Credential `json:"credentials,omitempty"`
	// FailedSignIns counts consecutive failures; LockedUntil is the backoff.
	FailedSignIns int       `json:"failed_sign_ins,omitempty"`
	LockedUntil   time.Time `json:"locked_until,omitzero"`
	// Disabled refuses every sign-in and session of the account until an
	// administrator enables it again.
	Disabled bool `json:"disabled,omitempty"`
	// SpentSignIns are the passkey sign-in ceremonies this account finished that
	// have not expired yet (signintoken.go).
	SpentSignIns []SpentSignIn `json:"spent_signins,omitempty"`
	// Language is the person's chosen language (a locale code such as "es"),
	// for pages and for the mail sent to them; "": not chosen yet.
	Language string `json:"language,omitempty"`
}

// Credential is a passkey, kept as part of its account. Credential ids are unique
// across accounts (the store indexes them for AccountByCredential).
type Credential struct {
	ID        []byte    `json:"id"`
	Name      string    `json:"name"`
	PublicKey []byte    `json:"public_key"`
	SignCount uint32    `json:"sign_count"`
	Backup    bool      `json:"backup,omitempty"` // backed up (synced) at its last use
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Raw       []byte    `json:"raw,omitempty"` // the library's full credential record (JSON)
}

// CeremonyKind says what a WebAuthn ceremony is for.
type CeremonyKind string

const (
	CeremonyRegister CeremonyKind = "register" // add a passkey to a signed-in account
	CeremonySignIn   CeremonyKind = "signin"   // sign in with a discoverable passkey
	CeremonyEnrol    CeremonyKind = "enrol"    // an invited administrator's first passkey
)

// Ceremony is a WebAuthn ceremony in progress: the library's session data (the
// challenge among it) kept server-side under a random id the browser sends back,
// short-lived and single-use.
type Ceremony struct {
	ID      string       `json:"id"`
	Kind    CeremonyKind `json:"kind"`
	Expires time.Time    `json:"expires"`
	Data    []byte       `json:"data"` // webauthn.SessionData as JSON
	// AccountID and SessionHash bind a registration to the account and the browser
	// session that began it.
	AccountID   string `json:"account_id,omitempty"`
	SessionHash []byte `json:"session_hash,omitempty"`
	// For an enrolment: the invite and the account to be.
	InviteHash []byte `json:"invite_hash,omitempty"`
	Email      string `json:"email,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	UserHandle []byte `json:"user_handle,omitempty"`
}

// Invite lets one person enrol as an administrator with a passkey. Only the
// token's hash is stored; the token travels in the enrolment link.
type Invite struct {
	TokenHash []byte `json:"token_hash"`
	// Email is the address the invite is for: the only one it can enrol. (Older
	// invites without one are refused.)
	Email     string    `json:"email,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by"`
}

// CodePurpose says what an emailed code proves.
type CodePurpose string

const (
	CodeRegister CodePurpose = "register"
	CodeSignIn   CodePurpose = "signin"
	CodeReset    CodePurpose = "reset"
)

// Code is an emailed one-time code, stored only as a MAC.
type Code struct {
	Email    string      `json:"email"`
	Purpose  CodePurpose `json:"purpose"`
	MAC      []byte      `json:"mac"`
	Expires  time.Time   `json:"expires"`
	Attempts int         `json:"attempts"`
	// Registration details held until the code is verified.
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// Session is a signed-in browser. Only the token's hash is stored, so a copy of the
// database holds no usable session.
type Session struct {
	TokenHash []byte    `json:"token_hash"`
	AccountID string    `json:"account_id"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	// Setup marks a session that may only finish registration (add a passkey or
	// set a password).
	Setup bool `json:"setup,omitempty"`
	// Method is how the session was signed in (the SignIn constants).
	// "register", "password reset". Administrator rights need "passkey".
	Method SignInMethod `json:"method,omitempty"`
}

// OutboxMail is a mail waiting to be sent.
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

// AuditEvent is something to record; the store numbers and chains it.
type AuditEvent struct {
	Time     time.Time   `json:"time"`
	Actor    string      `json:"actor"`  // "gateway", "admin", "account:ID", "system", or an email
	Action   AuditAction `json:"action"` // e.g. "envelope.register", "key.release", "signin.fail"
	Envelope string      `json:"envelope,omitempty"`
	Account  string      `json:"account,omitempty"`
	ClientIP string      `json:"client_ip,omitempty"`
	Detail   string      `json:"detail,omitempty"`
}

// AuditRecord is an appended event: numbered from 1, each hash covering the previous
// one, so that editing or deleting any record breaks the chain (see audit.go).
type AuditRecord struct {
	Seq uint64 `json:"seq"`
	AuditEvent
	Prev []byte `json:"prev"` // hash of record Seq-1 (32 zero bytes for the first)
	Hash []byte `json:"hash"`
}
