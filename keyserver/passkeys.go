package keyserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// newWebAuthn configures WebAuthn from the public URL: its host is the relying
// party id and its origin the only origin accepted, so an assertion made for any
// other site (a phishing copy of this one) never verifies. Browsers refuse an IP
// address as a relying party id, so a server reached by IP has no passkeys.
func newWebAuthn(publicURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil, fmt.Errorf("public url %s: passkeys need a domain name (such as localhost), not an IP address", publicURL)
	}
	return webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: host,
		RPOrigins:     []string{publicURL},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
}

// passkeyUser is an account as go-webauthn sees it.
type passkeyUser struct {
	a     *Account
	creds []webauthn.Credential
}

func newPasskeyUser(a *Account) (*passkeyUser, error) {
	u := &passkeyUser{a: a}
	for _, c := range a.Credentials {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Raw, &wc); err != nil {
			return nil, fmt.Errorf("account %s: credential record: %w", a.ID, err)
		}
		u.creds = append(u.creds, wc)
	}
	return u, nil
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.a.UserHandle }
func (u *passkeyUser) WebAuthnName() string                       { return u.a.Email }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }
func (u *passkeyUser) WebAuthnDisplayName() string {
	if n := strings.TrimSpace(u.a.FirstName + " " + u.a.LastName); n != "" {
		return n
	}
	return u.a.Email
}

// CeremonyStart is what a browser needs to run a WebAuthn ceremony: the options for
// navigator.credentials (as PublicKeyCredential.parse…OptionsFromJSON reads them)
// and the id it sends back with the answer.
type CeremonyStart struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

// PasskeyView is a passkey as its owner sees it.
type PasskeyView struct {
	ID       string    `json:"id"` // base64url credential id
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Backup   bool      `json:"backup"` // synced (for example through a password manager)
}

func viewPasskey(c Credential) PasskeyView {
	return PasskeyView{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, Created: c.Created, LastUsed: c.LastUsed, Backup: c.Backup}
}

func (s *Service) passkeys() (*webauthn.WebAuthn, error) {
	if s.wa == nil {
		return nil, ErrPasskeysUnavailable
	}
	return s.wa, nil
}

// startCeremony stores the library's session data under a fresh random id.
func (s *Service) startCeremony(ctx context.Context, c Ceremony, data *webauthn.SessionData, options any) (*CeremonyStart, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("ceremony data: %w", err)
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("ceremony options: %w", err)
	}
	c.ID = randomHex(16)
	c.Expires = s.now().Add(s.cfg.CeremonyTTL)
	c.Data = raw
	if err := s.store.PutCeremonyCapped(ctx, c, s.cfg.MaxCeremonies, s.now()); errors.Is(err, ErrCapReached) {
		e := ErrRateLimited.With("refusal.passkey_busy")
		e.RetryAfter = time.Minute
		s.log.WarnContext(ctx, "passkey ceremonies at their limit", "max", s.cfg.MaxCeremonies)
		return nil, e
	} else if err != nil {
		return nil, fmt.Errorf("store ceremony: %w", err)
	}
	return &CeremonyStart{Ceremony: c.ID, Options: opts}, nil
}

// takeCeremony uses up a ceremony of the given kind: a second answer to the same
// challenge (a replay) finds nothing.
func (s *Service) takeCeremony(ctx context.Context, id string, kind CeremonyKind) (Ceremony, *webauthn.SessionData, error) {
	c, err := s.store.TakeCeremony(ctx, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return c, nil, ErrCeremonyExpired
	} else if err != nil {
		return c, nil, fmt.Errorf("ceremony: %w", err)
	}
	if c.Kind != kind {
		return c, nil, ErrCeremonyExpired
	}
	var data webauthn.SessionData
	if err := json.Unmarshal(c.Data, &data); err != nil {
		return c, nil, fmt.Errorf("ceremony %s data: %w", c.ID, err)
	}
	return c, &data, nil
}

func cleanPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if utf8.RuneCountInString(name) > 60 || !utf8.ValidString(name) || strings.ContainsAny(name, "\r\n\x00") {
		return "", ErrBadRequest.With("refusal.passkey_name")
	}
	return name, nil
}

// verificationFailed reports why a WebAuthn answer did not verify, in the log and
// the audit record, and answers with one sentence for people.
func (s *Service) verificationFailed(ctx context.Context, actor, accountID, ip, what string, err error) error {
	detail := err.Error()
	var perr *protocol.Error
	if errors.As(err, &perr) {
		detail = perr.Details
		if perr.DevInfo != "" {
			detail += ": " + perr.DevInfo
		}
	}
	s.metrics.signInFailures.Add(1)
	s.audit(ctx, AuditEvent{Time: s.now(), Actor: actor, Action: ActionSignInFail, Account: accountID, ClientIP: ip, Detail: what + ": " + detail})
	s.log.InfoContext(ctx, "passkey not verified", "what", what, "detail", detail, "client_ip", ip)
	return ErrPasskeyFailed
}

// adminNeedsPasskey refuses to change an administrator's ways in from a session
// that was not signed in with a passkey. An emailed code or a password is weaker
// than the passkey that makes someone an administrator: with either, an attacker
// could otherwise add their own passkey and sign in as the administrator with it,
// or rename and remove the real ones. A new device of an administrator gets its
// passkey through a fresh enrolment link instead.
func adminNeedsPasskey(a *Account, passkeySession bool) error {
	if a.Role == RoleAdmin && !passkeySession {
		return ErrPasskeyRequired.With("refusal.admin_passkey_change")
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey to the signed-in account (also
// the way a new registration is finished). The ceremony is bound to this session;
// the account's passkeys are excluded, so an authenticator that holds one already
// says so instead of making a second.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, caller Caller) (*CeremonyStart, error) {
	sess, ip := caller.Session, caller.IP
	if sess == nil {
		return nil, ErrSignInRequired
	}
	wa, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.ceremoniesPerIP, ip); err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, sess.AccountID)
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := adminNeedsPasskey(&a, sess.Method == SignInPasskey); err != nil {
		return nil, err
	}
	return s.beginRegistration(ctx, wa, &a, Ceremony{Kind: CeremonyRegister, AccountID: a.ID, SessionHash: sess.TokenHash})
}

func (s *Service) beginRegistration(ctx context.Context, wa *webauthn.WebAuthn, a *Account, c Ceremony) (*CeremonyStart, error) {
	u, err := newPasskeyUser(a)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(u.creds))
	for i, c := range u.creds {
		exclude[i] = c.Descriptor()
	}
	creation, data, err := wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.startCeremony(ctx, c, data, creation.Response)
}

// FinishPasskeyRegistration verifies the browser's answer and adds the passkey. A
// session still in setup (a registration after the emailed code) is complete.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, caller Caller, ceremonyID, name string, response []byte) (PasskeyView, error) {
	sess, ip := caller.Session, caller.IP
	if sess == nil {
		return PasskeyView{}, ErrSignInRequired
	}
	wa, err := s.passkeys()
	if err != nil {
		return PasskeyView{}, err
	}
	name, err = cleanPasskeyName(name)
	if err != nil {
		return PasskeyView{}, err
	}
	c, data, err := s.takeCeremony(ctx, ceremonyID, CeremonyRegister)
	if err != nil {
		return PasskeyView{}, err
	}
	if c.AccountID != sess.AccountID || !bytes.Equal(c.SessionHash, sess.TokenHash) {
		return PasskeyView{}, ErrCeremonyExpired
	}
	a, err := s.store.Account(ctx, sess.AccountID)
	if err != nil {
		return PasskeyView{}, fmt.Errorf("finish passkey registration: %w", err)
	}
	passkeySession := sess.Method == SignInPasskey
	if err := adminNeedsPasskey(&a, passkeySession); err != nil {
		return PasskeyView{}, err
	}
	cred, err := s.createCredential(ctx, wa, &a, data, name, response, ip)
	if err != nil {
		return PasskeyView{}, err
	}
	if err := s.addCredential(ctx, a.ID, cred, ip, passkeySession); err != nil {
		return PasskeyView{}, err
	}
	if sess.Setup {
		sess.Setup = false
		if err := s.store.PutSession(ctx, *sess); err != nil {
			return PasskeyView{}, fmt.Errorf("finish setup: %w", err)
		}
	}
	return viewPasskey(cred), nil
}

// createCredential verifies an attestation response against the ceremony and
// returns the passkey to store.
func (s *Service) createCredential(ctx context.Context, wa *webauthn.WebAuthn, a *Account, data *webauthn.SessionData, name string, response []byte, ip string) (Credential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, s.verificationFailed(ctx, a.Email, a.ID, ip, "passkey registration", err)
	}
	u, err := newPasskeyUser(a)
	if err != nil {
		return Credential{}, err
	}
	wc, err := wa.CreateCredential(u, *data, parsed)
	if err != nil {
		return Credential{}, s.verificationFailed(ctx, a.Email, a.ID, ip, "passkey registration", err)
	}
	raw, err := json.Marshal(wc)
	if err != nil {
		return Credential{}, fmt.Errorf("credential record: %w", err)
	}
	now := s.now()
	return Credential{ID: wc.ID, Name: name, PublicKey: wc.PublicKey, SignCount: wc.Authenticator.SignCount,
		Backup: wc.Flags.BackupState, Created: now, Raw: raw}, nil
}

// addCredential stores a new passkey on an account, with its audit record. The
// administrator rule is checked again in the write, against the account as it
// is then.
func (s *Service) addCredential(ctx context.Context, accountID string, cred Credential, ip string, passkeySession bool) error {
	now := s.now()
	var refused error
	_, err := s.store.UpdateAccount(ctx, accountID, func(a *Account) ([]AuditEvent, error) {
		refused = adminNeedsPasskey(a, passkeySession)
		if refused != nil {
			return nil, refused
		}
		for _, c := range a.Credentials {
			if bytes.Equal(c.ID, cred.ID) {
				return nil, ErrPasskeyExists
			}
		}
		a.Credentials = append(a.Credentials, cred)
		return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionPasskeyAdd, Account: a.ID, ClientIP: ip, Detail: cred.Name}}, nil
	})
	switch {
	case refused != nil:
		return refused
	case errors.Is(err, ErrPasskeyExists):
		return ErrPasskeyExists
	case errors.Is(err, ErrConflict):
		return ErrPasskeyExists
	case err != nil:
		return fmt.Errorf("add passkey: %w", err)
	}
	s.log.InfoContext(ctx, "passkey added", "account", accountID)
	return nil
}

// BeginPasskeySignIn starts a sign-in with a discoverable passkey: no address is
// asked for, the authenticator says whose passkey it is.
func (s *Service) BeginPasskeySignIn(ctx context.Context, caller Caller) (*CeremonyStart, error) {
	ip := caller.IP
	wa, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.ceremoniesPerIP, ip); err != nil {
		return nil, err
	}
	assertion, data, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	// Nothing is stored: the session data travels sealed in the ceremony id
	// (signinToken), so no number of clients can fill a server-wide pool and lock
	// others out of passkey sign-in. Single use is enforced where the assertion
	// lands, in its account (spendSignIn).
	token, err := s.keys.sealSignIn(data, s.now().Add(s.cfg.CeremonyTTL))
	if err != nil {
		return nil, err
	}
	opts, err := json.Marshal(assertion.Response)
	if err != nil {
		return nil, fmt.Errorf("ceremony options: %w", err)
	}
	return &CeremonyStart{Ceremony: token, Options: opts}, nil
}

// FinishPasskeySignIn verifies an assertion and signs its account in. The
// ceremony is used up first, so the same assertion never works twice; a sign
// counter that went backwards (a copied authenticator, per WebAuthn §6.1.1) is
// refused.
func (s *Service) FinishPasskeySignIn(ctx context.Context, caller Caller, ceremonyID string, response []byte) (*SignedIn, error) {
	ip := caller.IP
	wa, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.perIP, ip); err != nil {
		return nil, err
	}
	data, expires, err := s.keys.openSignIn(ceremonyID, s.now())
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, s.verificationFailed(ctx, "anonymous", "", ip, "passkey sign-in", err)
	}
	var acct Account
	// unknown is set when no account holds the credential; broken when the store
	// (or a stored record) failed, which is the server's fault, not the person's.
	var unknown bool
	var broken error
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		a, err := s.store.AccountByCredential(ctx, rawID)
		switch {
		case errors.Is(err, ErrNotFound):
			unknown = true
			return nil, err
		case err != nil:
			broken = err
			return nil, err
		}
		if !bytes.Equal(a.UserHandle, userHandle) {
			return nil, errors.New("user handle does not match the credential's account")
		}
		u, err := newPasskeyUser(&a)
		if err != nil {
			broken = err
			return nil, err
		}
		acct = a
		return u, nil
	}
	_, wc, err := wa.ValidatePasskeyLogin(lookup, *data, parsed)
	switch {
	case broken != nil:
		return nil, fmt.Errorf("passkey sign-in: credential lookup: %w", broken)
	case err != nil && unknown:
		s.verificationFailed(ctx, "anonymous", "", ip, "passkey sign-in", err)
		return nil, ErrPasskeyUnknown
	case err != nil && acct.ID == "":
		return nil, s.verificationFailed(ctx, "anonymous", "", ip, "passkey sign-in", err)
	case err != nil:
		return nil, s.verificationFailed(ctx, acct.Email, acct.ID, ip, "passkey sign-in", err)
	}
	// No per-address limit here: the assertion verified, so this is the account's
	// owner, and the per-address budget is what other people's password guesses
	// use up. The per-client limit above and the ceremony limits still apply.
	// A replay is named as such (it would also trip the sign counter, when the
	// authenticator keeps one); the update below checks again, atomically.
	if err := spendSignIn(&acct, data.Challenge, expires, s.now()); errors.Is(err, ErrCeremonyExpired) {
		s.verificationFailed(ctx, acct.Email, acct.ID, ip, "passkey sign-in", errors.New("the ceremony was used already: a replayed assertion"))
		return nil, ErrCeremonyExpired
	}
	if wc.Authenticator.CloneWarning {
		s.verificationFailed(ctx, acct.Email, acct.ID, ip, "passkey sign-in", errors.New("sign counter did not increase: possibly a cloned authenticator"))
		return nil, ErrPasskeyCloned
	}
	raw, err := json.Marshal(wc)
	if err != nil {
		return nil, fmt.Errorf("credential record: %w", err)
	}
	now := s.now()
	_, err = s.store.UpdateAccount(ctx, acct.ID, func(a *Account) ([]AuditEvent, error) {
		if err := spendSignIn(a, data.Challenge, expires, now); err != nil {
			return nil, err
		}
		for i := range a.Credentials {
			c := &a.Credentials[i]
			if bytes.Equal(c.ID, wc.ID) {
				// The library compared the counter with the account as read before
				// the ceremony; a sign-in that finished meanwhile may have stored a
				// higher one. Compare again here, so that the stored counter never
				// goes backwards and a copy is caught either way (WebAuthn §6.1.1).
				if n := wc.Authenticator.SignCount; (n != 0 || c.SignCount != 0) && n <= c.SignCount {
					return nil, ErrPasskeyCloned
				}
				c.SignCount, c.Backup, c.LastUsed, c.Raw = wc.Authenticator.SignCount, wc.Flags.BackupState, now, raw
				return nil, nil
			}
		}
		return nil, ErrPasskeyUnknown // removed while the ceremony ran
	})
	switch {
	case errors.Is(err, ErrPasskeyUnknown):
		return nil, ErrPasskeyUnknown
	case errors.Is(err, ErrCeremonyExpired):
		s.verificationFailed(ctx, acct.Email, acct.ID, ip, "passkey sign-in", errors.New("the ceremony was used already: a replayed assertion"))
		return nil, ErrCeremonyExpired
	case errors.Is(err, ErrRateLimited):
		return nil, err
	case errors.Is(err, ErrPasskeyCloned):
		s.verificationFailed(ctx, acct.Email, acct.ID, ip, "passkey sign-in", errors.New("sign counter did not increase over the stored one: possibly a cloned authenticator"))
		return nil, ErrPasskeyCloned
	case err != nil:
		return nil, fmt.Errorf("passkey sign-in: %w", err)
	}
	return s.signedIn(ctx, acct, ip, SignInPasskey)
}

// Passkeys lists the signed-in account's passkeys.
func (s *Service) Passkeys(ctx context.Context, caller Caller) ([]PasskeyView, error) {
	if caller.Account == nil {
		return nil, ErrSignInRequired
	}
	a, err := s.store.Account(ctx, caller.Account.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	views := make([]PasskeyView, len(a.Credentials))
	for i, c := range a.Credentials {
		views[i] = viewPasskey(c)
	}
	return views, nil
}

func parseCredentialID(id string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) == 0 {
		return nil, ErrNoSuchPasskey
	}
	return b, nil
}

// RenamePasskey names one of the signed-in account's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, caller Caller, id, name string) (PasskeyView, error) {
	if caller.Account == nil {
		return PasskeyView{}, ErrSignInRequired
	}
	credID, err := parseCredentialID(id)
	if err != nil {
		return PasskeyView{}, err
	}
	if name, err = cleanPasskeyName(name); err != nil {
		return PasskeyView{}, err
	}
	now := s.now()
	var out Credential
	var refused error
	_, err = s.store.UpdateAccount(ctx, caller.Account.ID, func(a *Account) ([]AuditEvent, error) {
		if refused = adminNeedsPasskey(a, caller.passkey()); refused != nil {
			return nil, refused
		}
		for i := range a.Credentials {
			if bytes.Equal(a.Credentials[i].ID, credID) {
				a.Credentials[i].Name = name
				out = a.Credentials[i]
				return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionPasskeyRename, Account: a.ID, ClientIP: caller.IP, Detail: name}}, nil
			}
		}
		return nil, ErrNoSuchPasskey
	})
	if refused != nil {
		return PasskeyView{}, refused
	}
	if err != nil {
		if errors.Is(err, ErrNoSuchPasskey) {
			return PasskeyView{}, ErrNoSuchPasskey
		}
		return PasskeyView{}, fmt.Errorf("rename passkey: %w", err)
	}
	return viewPasskey(out), nil
}

// lastWayIn says why an account may not lose a way to sign in, or nil: a person
// keeps at least one passkey or a password, and an administrator a passkey.
func lastWayIn(a *Account) error {
	switch {
	case a.Role == RoleAdmin && len(a.Credentials) == 0:
		return ErrLastWayIn.With("refusal.admin_last_passkey")
	case a.PasswordHash == "" && len(a.Credentials) == 0:
		return ErrLastWayIn
	}
	return nil
}

// RemovePasskey removes one of the signed-in account's passkeys, unless it is the
// last way in.
func (s *Service) RemovePasskey(ctx context.Context, caller Caller, id string) error {
	if caller.Account == nil {
		return ErrSignInRequired
	}
	credID, err := parseCredentialID(id)
	if err != nil {
		return err
	}
	now := s.now()
	var refused error
	_, err = s.store.UpdateAccount(ctx, caller.Account.ID, func(a *Account) ([]AuditEvent, error) {
		if refused = adminNeedsPasskey(a, caller.passkey()); refused != nil {
			return nil, refused
		}
		for i, c := range a.Credentials {
			if bytes.Equal(c.ID, credID) {
				a.Credentials = append(a.Credentials[:i:i], a.Credentials[i+1:]...)
				if refused = lastWayIn(a); refused != nil {
					return nil, refused
				}
				return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionPasskeyRemove, Account: a.ID, ClientIP: caller.IP, Detail: c.Name}}, nil
			}
		}
		refused = ErrNoSuchPasskey
		return nil, refused
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	return s.endOtherSessions(ctx, caller, "passkey removed")
}

// endOtherSessions signs out every session of p's account but p's own, after a
// way in was removed: a session that a stolen passkey or a guessed password
// opened must not outlive the credential (a session does not record how it was
// opened, so all the others go). The caller's session stays.
func (s *Service) endOtherSessions(ctx context.Context, caller Caller, why string) error {
	n, err := s.store.DeleteAccountSessions(ctx, caller.Account.ID, caller.sessionHash())
	if err != nil {
		return fmt.Errorf("%s: end other sessions: %w", why, err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "other sessions ended", "account", caller.Account.ID, "why", why, "sessions", n)
	}
	return nil
}

// RemovePassword removes the signed-in account's password, unless it is the last
// way in.
func (s *Service) RemovePassword(ctx context.Context, caller Caller) error {
	if caller.Account == nil {
		return ErrSignInRequired
	}
	now := s.now()
	var refused error
	_, err := s.store.UpdateAccount(ctx, caller.Account.ID, func(a *Account) ([]AuditEvent, error) {
		if refused = adminNeedsPasskey(a, caller.passkey()); refused != nil {
			return nil, refused
		}
		if a.PasswordHash == "" {
			refused = ErrBadRequest.With("refusal.no_password")
			return nil, refused
		}
		a.PasswordHash = ""
		if refused = lastWayIn(a); refused != nil {
			return nil, refused
		}
		return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionAccountPasswordRemove, Account: a.ID, ClientIP: caller.IP}}, nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("remove password: %w", err)
	}
	return s.endOtherSessions(ctx, caller, "password removed")
}

// --- administrators ---

// AdminInviteTTL is how long an enrolment link works.
const AdminInviteTTL = 72 * time.Hour

// NewAdminInvite makes an invite for email and returns it with its token; only
// the token's hash is in the invite. `waxseal init` stores one directly, before
// any server runs. The invite must name an address at one of the organisation's
// own domains (orgDomains): an invite is the only thing between its holder and
// an administrator's rights, so it enrols only the address it names, and never
// an outside one (a patient's, whose messages the new account could then read).
func NewAdminInvite(email, createdBy string, orgDomains []string, now time.Time) (Invite, string, error) {
	email, err := CheckAdminAddress(email, orgDomains)
	if err != nil {
		return Invite{}, "", err
	}
	token, hash := newToken()
	return Invite{TokenHash: hash, Email: email, Created: now, Expires: now.Add(AdminInviteTTL), CreatedBy: createdBy}, token, nil
}

// CheckAdminAddress normalizes the address of an administrator to be and checks
// that it belongs to one of the organisation's domains.
func CheckAdminAddress(email string, orgDomains []string) (string, error) {
	if strings.TrimSpace(email) == "" {
		return "", ErrBadRequest.With("refusal.invite_address")
	}
	email, err := NormalizeAddress(email)
	if err != nil {
		return "", addressRefusal(err)
	}
	if !inDomains(email, orgDomains) {
		if len(orgDomains) == 0 {
			return "", ErrBadRequest.With("refusal.admin_no_domains")
		}
		return "", ErrBadRequest.With("refusal.admin_domain", "Domains", strings.Join(orgDomains, ", "), "Email", email)
	}
	return email, nil
}

// inDomains says whether a normalized address is at one of domains.
func inDomains(email string, domains []string) bool {
	_, domain, _ := strings.Cut(email, "@")
	for _, d := range domains {
		if strings.EqualFold(domain, d) {
			return true
		}
	}
	return false
}

// EnrolmentURL is the link an invited administrator opens. The token is in the
// fragment, so it reaches no server log; the page posts it.
func EnrolmentURL(publicURL, token string) string {
	return strings.TrimSuffix(publicURL, "/") + "/admin/enrol#t=" + token
}

// InviteAdmin creates a one-time enrolment link for a new administrator.
func (s *Service) InviteAdmin(ctx context.Context, caller Caller, email string) (string, time.Time, error) {
	if err := s.requireAdmin(caller); err != nil {
		return "", time.Time{}, err
	}
	inv, token, err := NewAdminInvite(email, caller.actor(), s.cfg.OrgDomains, s.now())
	if err != nil {
		return "", time.Time{}, err
	}
	err = s.store.PutInvite(ctx, inv, []AuditEvent{{Time: inv.Created, Actor: caller.actor(), Action: ActionAdminInvite, ClientIP: caller.IP, Detail: inv.Email}})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("invite admin: %w", err)
	}
	return EnrolmentURL(s.cfg.PublicURL, token), inv.Expires, nil
}

// EnrolInfo is what the enrolment page shows before the passkey is made.
type EnrolInfo struct {
	Email    string `json:"email"`
	Existing bool   `json:"existing"` // the address has an account already
	// SignedIn: this browser is signed in to that account, which an enrolment
	// into an existing account needs.
	SignedIn bool `json:"signed_in"`
}

// invite returns the unexpired invite for token, refusing any the rules no
// longer allow (one naming no address, made before they were enforced; one whose
// address left the organisation's domains since).
func (s *Service) invite(ctx context.Context, token string) (Invite, error) {
	inv, err := s.store.Invite(ctx, hashToken(token), s.now())
	if errors.Is(err, ErrNotFound) {
		return inv, ErrInviteInvalid
	} else if err != nil {
		return inv, fmt.Errorf("invite: %w", err)
	}
	if inv.Email == "" || !inDomains(inv.Email, s.cfg.OrgDomains) {
		return inv, ErrInviteInvalid.With("refusal.invite_domain")
	}
	return inv, nil
}

// CheckInvite tells the enrolment page about an invite without using it. sess
// is the browser's session, or nil.
func (s *Service) CheckInvite(ctx context.Context, caller Caller, token string) (EnrolInfo, error) {
	sess, ip := caller.Session, caller.IP
	if err := limit(ctx, s.perIP, ip); err != nil {
		return EnrolInfo{}, err
	}
	inv, err := s.invite(ctx, token)
	if err != nil {
		return EnrolInfo{}, err
	}
	info := EnrolInfo{Email: inv.Email}
	a, err := s.store.AccountByEmail(ctx, inv.Email)
	switch {
	case err == nil:
		info.Existing = true
		info.SignedIn = sess != nil && sess.AccountID == a.ID
	case !errors.Is(err, ErrNotFound):
		return EnrolInfo{}, fmt.Errorf("check invite: %w", err)
	}
	return info, nil
}

// errEnrolSignIn refuses an enrolment into an existing account from a browser not
// signed in to it.
var errEnrolSignIn = ErrSignInRequired.With("refusal.enrol_sign_in")

// BeginEnrolment starts making an invited administrator's first passkey, for the
// address the invite names. The invite is checked, not used: a cancelled passkey
// dialog must not waste it. If the address already has an account, the link
// alone proves nothing about who holds it (it may have leaked, or been made for
// the wrong address), so the browser must also be signed in to that account
// (sess), which proves control of its mailbox, password or a passkey; the
// ceremony is bound to that session.
func (s *Service) BeginEnrolment(ctx context.Context, caller Caller, token, firstName, lastName string) (*CeremonyStart, error) {
	sess, ip := caller.Session, caller.IP
	wa, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	if err := limit(ctx, s.perIP, ip); err != nil {
		return nil, err
	}
	if err := limit(ctx, s.ceremoniesPerIP, ip); err != nil {
		return nil, err
	}
	inv, err := s.invite(ctx, token)
	if err != nil {
		return nil, err
	}
	c := Ceremony{Kind: CeremonyEnrol, InviteHash: inv.TokenHash, Email: inv.Email}
	a, err := s.store.AccountByEmail(ctx, c.Email)
	switch {
	case err == nil:
		if sess == nil || sess.AccountID != a.ID {
			return nil, errEnrolSignIn
		}
		c.AccountID, c.SessionHash = a.ID, sess.TokenHash
	case errors.Is(err, ErrNotFound):
		if c.FirstName, err = cleanName(firstName); err != nil {
			return nil, err
		}
		if c.LastName, err = cleanName(lastName); err != nil {
			return nil, err
		}
		c.UserHandle = newUserHandle()
		a = Account{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, UserHandle: c.UserHandle}
	default:
		return nil, fmt.Errorf("begin enrolment: %w", err)
	}
	return s.beginRegistration(ctx, wa, &a, c)
}

// FinishEnrolment verifies the new passkey, and in one write uses up the invite
// and makes (or upgrades) the account an administrator's, signed in with that
// passkey. sess is the browser's session, or nil; an enrolment into an existing
// account must finish in the session that began it. A refusal at the last step
// (the credential or the address taken meanwhile) leaves the invite usable.
func (s *Service) FinishEnrolment(ctx context.Context, caller Caller, ceremonyID, name string, response []byte) (*SignedIn, error) {
	sess, ip := caller.Session, caller.IP
	wa, err := s.passkeys()
	if err != nil {
		return nil, err
	}
	if name, err = cleanPasskeyName(name); err != nil {
		return nil, err
	}
	c, data, err := s.takeCeremony(ctx, ceremonyID, CeremonyEnrol)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a := Account{ID: randomHex(16), Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Role: RoleAdmin,
		Created: now, LastUsed: now, UserHandle: c.UserHandle}
	if c.AccountID != "" {
		if sess == nil || sess.AccountID != c.AccountID || !bytes.Equal(sess.TokenHash, c.SessionHash) {
			return nil, errEnrolSignIn
		}
		if a, err = s.store.Account(ctx, c.AccountID); err != nil {
			return nil, fmt.Errorf("finish enrolment: %w", err)
		}
	}
	cred, err := s.createCredential(ctx, wa, &a, data, name, response, ip)
	if err != nil {
		return nil, err
	}
	events := func(a *Account) []AuditEvent {
		return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionAdminEnrol, Account: a.ID, ClientIP: ip},
			{Time: now, Actor: a.Email, Action: ActionPasskeyAdd, Account: a.ID, ClientIP: ip, Detail: cred.Name}}
	}
	if c.AccountID == "" {
		a.Credentials = []Credential{cred}
		err = s.store.TakeInviteCreateAccount(ctx, c.InviteHash, now, a, events(&a))
	} else {
		a, err = s.store.TakeInviteUpdateAccount(ctx, c.InviteHash, now, c.AccountID, func(acc *Account) ([]AuditEvent, error) {
			if acc.Email != c.Email {
				return nil, ErrInviteInvalid
			}
			for _, have := range acc.Credentials {
				if bytes.Equal(have.ID, cred.ID) {
					return nil, ErrPasskeyExists
				}
			}
			acc.Credentials = append(acc.Credentials, cred)
			acc.Role = RoleAdmin
			return events(acc), nil
		})
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrInviteInvalid
	case errors.Is(err, ErrInviteInvalid), errors.Is(err, ErrPasskeyExists):
		return nil, err
	case errors.Is(err, ErrConflict):
		// The passkey is another account's, or (for a new account) the address
		// registered while the passkey was made: the enrolment cannot take it over.
		if _, lerr := s.store.AccountByCredential(ctx, cred.ID); lerr == nil {
			return nil, ErrPasskeyExists
		}
		return nil, ErrAlreadyRegister.With("refusal.enrol_race")
	case err != nil:
		return nil, fmt.Errorf("finish enrolment: %w", err)
	}
	s.log.InfoContext(ctx, "administrator enrolled", "account", a.ID)
	return s.newSession(ctx, a, false, SignInPasskey)
}

// RequireAdmin admits API administrators (bearer token) and administrators signed
// in with a passkey; an administrator signed in any other way is told why not.
func (s *Service) RequireAdmin(caller Caller) error { return s.requireAdmin(caller) }

func (s *Service) requireAdmin(caller Caller) error {
	switch {
	case caller.isAdmin():
		return nil
	case caller.Account != nil && caller.Account.Role == RoleAdmin:
		return ErrPasskeyRequired
	}
	return ErrForbidden
}

func newUserHandle() []byte {
	h := make([]byte, 32)
	rand.Read(h)
	return h
}
