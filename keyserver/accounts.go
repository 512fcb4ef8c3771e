package keyserver

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope"
)

// SignedIn is a new session: the token goes into the cookie.
type SignedIn struct {
	Token   string
	Account Account
	Setup   bool         // the account still needs a passkey or a password
	Method  SignInMethod // how it signed in (Session.Method)
}

func cleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00<>") {
		return "", ErrBadRequest.With("refusal.name_required")
	}
	return s, nil
}

// limit applies a rate limit and turns a refusal into a clear error.
func limit(ctx context.Context, l *limiter, key string) error {
	ok, wait, err := l.allow(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		e := ErrRateLimited.With("refusal.wait", "Wait", wait)
		e.RetryAfter = wait
		return e
	}
	return nil
}

func (s *Service) roleFor(email string) Role {
	if inDomains(email, s.cfg.OrgDomains) {
		return RoleSender
	}
	return RoleRecipient
}

// StartRegistration mails a code to the recipient address of the envelope the
// person is trying to open (registering proves they receive mail there) and returns
// that address.
func (s *Service) StartRegistration(ctx context.Context, caller Caller, envID envelope.ID, firstName, lastName string) (string, error) {
	ip := caller.IP
	first, err := cleanName(firstName)
	if err != nil {
		return "", err
	}
	last, err := cleanName(lastName)
	if err != nil {
		return "", err
	}
	rec, err := s.store.Envelope(ctx, envID)
	if errors.Is(err, ErrNotFound) {
		return "", ErrUnknownEnvelope
	} else if err != nil {
		return "", fmt.Errorf("start registration: %w", err)
	}
	email := rec.Recipient
	return email, s.mailRegistrationCode(ctx, email, first, last, ip)
}

// mailRegistrationCode mails a registration code, within the per-client and
// per-address limits. An address that has an account already gets one too, and
// the same answer: the code then signs that account in (createAccount), so the
// answer does not tell anyone who is registered here.
func (s *Service) mailRegistrationCode(ctx context.Context, email, first, last, ip string) error {
	if err := limit(ctx, s.perIP, ip); err != nil {
		return err
	}
	if err := s.limitCodes(ctx, email); err != nil {
		return err
	}
	return s.sendCode(ctx, email, CodeRegister, first, last)
}

// limitCodes applies the limits on codes mailed to one address: a few at once,
// and a daily allowance (docs/THREAT_MODEL.md has the arithmetic).
func (s *Service) limitCodes(ctx context.Context, email string) error {
	if err := limit(ctx, s.codesPerEmail, email); err != nil {
		return err
	}
	if err := limit(ctx, s.codesPerDay, email); err != nil {
		e := ErrRateLimited.With("refusal.codes_today")
		e.RetryAfter = err.(*Error).RetryAfter
		return e
	}
	return nil
}

// StartSenderRegistration mails a registration code to an address at one of the
// organisation's own domains: senders have no envelope to start from, and reach
// their sent items with the same kind of account.
func (s *Service) StartSenderRegistration(ctx context.Context, caller Caller, email, firstName, lastName string) (string, error) {
	ip := caller.IP
	first, err := cleanName(firstName)
	if err != nil {
		return "", err
	}
	last, err := cleanName(lastName)
	if err != nil {
		return "", err
	}
	if email, err = NormalizeAddress(email); err != nil {
		return "", ErrBadRequest.With("refusal.valid_email")
	}
	if s.roleFor(email) != RoleSender {
		return "", ErrForbidden.With("refusal.org_only_register")
	}
	return email, s.mailRegistrationCode(ctx, email, first, last, ip)
}

func (s *Service) sendCode(ctx context.Context, email string, purpose CodePurpose, first, last string) error {
	code := newCode()
	err := s.store.PutCode(ctx, Code{Email: email, Purpose: purpose, MAC: s.keys.codeMAC(purpose, email, code),
		Expires: s.now().Add(s.cfg.CodeTTL), FirstName: first, LastName: last})
	if err != nil {
		return fmt.Errorf("store %s code: %w", purpose, err)
	}
	return s.queueCode(ctx, email, purpose, code)
}

// checkCode verifies and consumes a code: single use, expiring, attempt-limited.
func (s *Service) checkCode(ctx context.Context, email string, purpose CodePurpose, code, ip string) (Code, error) {
	if err := limit(ctx, s.perIP, ip); err != nil {
		return Code{}, err
	}
	if ok, err := s.guessesPerDay.available(ctx, email); err != nil {
		return Code{}, err
	} else if !ok {
		e := ErrRateLimited.With("refusal.wrong_codes_today")
		e.RetryAfter = time.Hour
		return Code{}, e
	}
	now := s.now()
	code = strings.TrimSpace(code)
	mac := s.keys.codeMAC(purpose, email, code)
	var verdict error
	c, err := s.store.UpdateCode(ctx, email, purpose, func(c *Code) error {
		verdict = nil
		switch {
		case !now.Before(c.Expires) || c.Attempts >= s.cfg.CodeAttempts:
			verdict = ErrCodeExpired
		case subtle.ConstantTimeCompare(mac, c.MAC) != 1:
			c.Attempts++
			left := s.cfg.CodeAttempts - c.Attempts
			if left <= 0 {
				verdict = ErrCodeExpired.With("refusal.code_last_try")
			} else {
				verdict = ErrBadCode.With("refusal.code_tries_left", "Count", left)
			}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		// A guess all the same: counted like a wrong one, so that an address
		// with no code (no account) answers as one with a code does.
		if _, _, err := s.guessesPerDay.allow(ctx, email); err != nil {
			return Code{}, err
		}
		return Code{}, ErrCodeExpired
	} else if err != nil {
		return Code{}, fmt.Errorf("check code: %w", err)
	}
	if verdict != nil {
		if _, _, err := s.guessesPerDay.allow(ctx, email); err != nil {
			return Code{}, err
		}
		s.metrics.signInFailures.Add(1)
		s.audit(ctx, AuditEvent{Time: now, Actor: email, Action: ActionCodeFail, ClientIP: ip, Detail: string(purpose)})
		return Code{}, verdict
	}
	// Single use: gone before anything is granted on it.
	if err := s.store.DeleteCode(ctx, email, purpose); err != nil {
		return Code{}, fmt.Errorf("consume code: %w", err)
	}
	return c, nil
}

// VerifyRegistration checks the emailed code and creates the account, signed in for
// setup: it can add a passkey or choose a password, nothing else yet.
func (s *Service) VerifyRegistration(ctx context.Context, caller Caller, envID envelope.ID, code string) (*SignedIn, error) {
	ip := caller.IP
	rec, err := s.store.Envelope(ctx, envID)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrUnknownEnvelope
	} else if err != nil {
		return nil, fmt.Errorf("verify registration: %w", err)
	}
	return s.createAccount(ctx, rec.Recipient, code, ip)
}

// VerifySenderRegistration is VerifyRegistration for StartSenderRegistration.
func (s *Service) VerifySenderRegistration(ctx context.Context, caller Caller, email, code string) (*SignedIn, error) {
	ip := caller.IP
	email, err := NormalizeAddress(email)
	if err != nil || s.roleFor(email) != RoleSender {
		return nil, ErrCodeExpired
	}
	return s.createAccount(ctx, email, code, ip)
}

// createAccount checks a registration code and creates the account, signed in
// for setup.
func (s *Service) createAccount(ctx context.Context, email, code, ip string) (*SignedIn, error) {
	c, err := s.checkCode(ctx, email, CodeRegister, code, ip)
	if err != nil {
		return nil, err
	}
	if a, err := s.store.AccountByEmail(ctx, email); err == nil {
		// Registered already: the code proves the mailbox, as a sign-in code does.
		return s.signedIn(ctx, a, ip, SignInCode)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("create account: %w", err)
	}
	now := s.now()
	handle := newUserHandle()
	a := Account{ID: randomHex(16), Email: email, FirstName: c.FirstName, LastName: c.LastName,
		Role: s.roleFor(email), Created: now, LastUsed: now, UserHandle: handle,
		Language: s.cfg.Locales.Supported(requestLanguage(ctx))} // the language they registered in
	err = s.store.CreateAccount(ctx, a, []AuditEvent{{Time: now, Actor: a.Email, Action: ActionAccountRegister, Account: a.ID, ClientIP: ip}})
	if errors.Is(err, ErrConflict) {
		return nil, ErrAlreadyRegister // registered meanwhile, with another code
	} else if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	return s.newSession(ctx, a, true, SignInRegister)
}

// SetPassword sets or replaces the signed-in account's password and completes a
// registration in progress.
func (s *Service) SetPassword(ctx context.Context, caller Caller, password string) error {
	sess := caller.Session
	if sess == nil {
		return ErrSignInRequired
	}
	a, err := s.store.Account(ctx, sess.AccountID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := s.checkPasswordRules(password, a.Email, a.FirstName, a.LastName); err != nil {
		return err
	}
	now := s.now()
	hash := hashPassword(password, s.cfg.Argon2)
	var refused error
	_, err = s.store.UpdateAccount(ctx, sess.AccountID, func(a *Account) ([]AuditEvent, error) {
		if refused = adminNeedsPasskey(a, sess.Method == SignInPasskey); refused != nil {
			return nil, refused
		}
		a.PasswordHash = hash
		a.FailedSignIns, a.LockedUntil = 0, time.Time{}
		return []AuditEvent{{Time: now, Actor: a.Email, Action: ActionAccountPasswordSet, Account: a.ID}}, nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if sess.Setup {
		sess.Setup = false
		if err := s.store.PutSession(ctx, *sess); err != nil {
			return fmt.Errorf("finish setup: %w", err)
		}
	}
	return nil
}

// checkPasswordRules refuses a password with the reason (passwordRefusal);
// personal are the account's email address and names.
func (s *Service) checkPasswordRules(pw string, personal ...string) error {
	if why := passwordProblem(normalizePassword(pw), s.cfg.MinPasswordLen, personal); why != nil {
		return ErrWeakPassword.WithMsg(*why)
	}
	return nil
}

// SignInPassword signs in with email and password, with per-address and per-client
// rate limits and a growing lockout after repeated failures.
func (s *Service) SignInPassword(ctx context.Context, caller Caller, email, password string) (*SignedIn, error) {
	ip := caller.IP
	email, err := NormalizeAddress(email)
	if err != nil {
		return nil, ErrBadCredentials
	}
	if err := limit(ctx, s.perIP, ip); err != nil {
		return nil, err
	}
	if err := limit(ctx, s.perEmail, email); err != nil {
		return nil, err
	}
	now := s.now()
	// Every attempt is counted before it is judged (failureLocks.attempt) and
	// forgotten when it succeeds, so that attempts sent all at once cannot
	// all pass the lock before any of them is counted.
	prefixKey := email + "\x1f" + clientPrefix(ip)
	if wait, ok, err := s.prefixLocks.attempt(ctx, prefixKey, now); err != nil {
		return nil, err
	} else if ok {
		s.failSignIn(ctx, nil, email, ip, "locked for this client")
		return nil, lockedOut(wait)
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if errors.Is(err, ErrNotFound) || a.PasswordHash == "" {
		// An unknown address, or a passkey-only account, answers exactly as an
		// account with a wrong password does (as slowly, and locked after as many
		// failures): telling them apart would tell anyone who tries an address
		// that this person is a patient here. The shared answer says how such
		// people get in.
		why := "unknown address"
		if err == nil {
			why = "no password"
		}
		if wait, ok, err := s.noPasswordLocks.attempt(ctx, email, now); err != nil {
			return nil, err
		} else if ok {
			s.failSignIn(ctx, nil, email, ip, "locked")
			return nil, lockedOut(wait)
		}
		checkPassword(password, s.dummyHash())
		s.failSignIn(ctx, nil, email, ip, why)
		return nil, ErrBadCredentials
	}
	if wait, ok, err := s.countSignIn(ctx, a.ID, now); err != nil {
		return nil, err
	} else if ok {
		s.failSignIn(ctx, nil, email, ip, "locked")
		return nil, lockedOut(wait)
	}
	if !checkPassword(password, a.PasswordHash) {
		s.failSignIn(ctx, &a, email, ip, "bad password")
		return nil, ErrBadCredentials
	}
	if err := s.prefixLocks.reset(ctx, prefixKey); err != nil {
		return nil, err
	}
	return s.signedIn(ctx, a, ip, SignInPassword)
}

// errStillLocked stops countSignIn's update of a locked account.
var errStillLocked = errors.New("account locked")

// countSignIn counts a password attempt against account id before it is
// judged, in the account's transaction, and says how long the account is
// still locked (then nothing is counted): it locks it, for everyone, with a
// doubling backoff once accountLockFactor × LockoutAfter attempts are counted
// (lockout.go: each client prefix is locked out after LockoutAfter). A
// successful sign-in forgets the count (signedIn).
func (s *Service) countSignIn(ctx context.Context, id string, now time.Time) (time.Duration, bool, error) {
	var wait time.Duration
	_, err := s.store.UpdateAccount(ctx, id, func(acc *Account) ([]AuditEvent, error) {
		if now.Before(acc.LockedUntil) {
			wait = acc.LockedUntil.Sub(now)
			return nil, errStillLocked
		}
		acc.FailedSignIns++
		if until := lockoutUntil(acc.FailedSignIns, accountLockFactor*s.cfg.LockoutAfter, s.cfg.LockoutMax, now); !until.IsZero() {
			acc.LockedUntil = until
		}
		return nil, nil
	})
	if errors.Is(err, errStillLocked) {
		return wait, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("count sign-in: %w", err)
	}
	return 0, false, nil
}

// failSignIn records a refused sign-in (counted already, by the lockout's
// attempt or countSignIn) in the audit log, against account a if known.
func (s *Service) failSignIn(ctx context.Context, a *Account, email, ip, why string) {
	s.metrics.signInFailures.Add(1)
	ev := AuditEvent{Time: s.now(), Actor: email, Action: ActionSignInFail, ClientIP: ip, Detail: why}
	if a != nil {
		ev.Account = a.ID
	}
	s.audit(ctx, ev)
}

// signedIn records a successful sign-in, expiring accounts unused for too long.
func (s *Service) signedIn(ctx context.Context, a Account, ip string, method SignInMethod) (*SignedIn, error) {
	now := s.now()
	if now.Sub(a.LastUsed) > s.cfg.AccountMaxIdle {
		err := s.store.DeleteAccount(ctx, a.ID, []AuditEvent{{Time: now, Actor: "system", Action: ActionAccountExpire, Account: a.ID, Detail: "unused since " + a.LastUsed.Format(time.DateOnly)}})
		switch {
		case err == nil:
			return nil, ErrAccountExpired
		case !errors.Is(err, ErrLastAdmin):
			return nil, fmt.Errorf("expire account: %w", err)
		}
		// The last administrator is kept (the store refuses to remove it),
		// and signing in makes it used again.
	}
	a, err := s.store.UpdateAccount(ctx, a.ID, func(acc *Account) ([]AuditEvent, error) {
		acc.FailedSignIns, acc.LockedUntil, acc.LastUsed = 0, time.Time{}, now
		action := ActionSignIn
		if acc.Role == RoleAdmin && method == SignInPasskey {
			action = ActionAdminSignIn
		}
		return []AuditEvent{{Time: now, Actor: acc.Email, Action: action, Account: acc.ID, ClientIP: ip, Detail: string(method)}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	s.metrics.signIns.Add(1)
	return s.newSession(ctx, a, a.PasswordHash == "" && len(a.Credentials) == 0, method)
}

// StartSignInCode mails a sign-in code if the address has an account. The answer
// is the same either way, so it does not reveal who has one.
func (s *Service) StartSignInCode(ctx context.Context, caller Caller, email string) error {
	ip := caller.IP
	return s.startCode(ctx, email, CodeSignIn, ip)
}

// StartPasswordReset mails a reset code ("forgot password"), revealing nothing.
func (s *Service) StartPasswordReset(ctx context.Context, caller Caller, email string) error {
	ip := caller.IP
	return s.startCode(ctx, email, CodeReset, ip)
}

func (s *Service) startCode(ctx context.Context, email string, purpose CodePurpose, ip string) error {
	email, err := NormalizeAddress(email)
	if err != nil {
		return ErrBadRequest.With("refusal.valid_email")
	}
	if err := limit(ctx, s.perIP, ip); err != nil {
		return err
	}
	if err := s.limitCodes(ctx, email); err != nil {
		return err
	}
	// Looking the address up and writing the code and its mail (two synced
	// writes) happen after the answer, which therefore takes as long whether or
	// not the address has an account. Wait waits for this work.
	ctx = context.WithoutCancel(ctx)
	s.background.start()
	go func() {
		defer s.background.done()
		if _, err := s.store.AccountByEmail(ctx, email); errors.Is(err, ErrNotFound) {
			return
		} else if err != nil {
			s.log.ErrorContext(ctx, "mail a code", "purpose", purpose, "err", fmt.Errorf("start %s: %w", purpose, err))
			return
		}
		if err := s.sendCode(ctx, email, purpose, "", ""); err != nil {
			s.log.ErrorContext(ctx, "mail a code", "purpose", purpose, "err", err)
		}
	}()
	return nil
}

// Wait waits for the work done after an answer (codes being mailed). Call it
// before closing the store.
func (s *Service) Wait() { <-s.background.wait() }

// codeRefused is the one answer to a wrong, expired or used code given for an
// address (sign-in, reset): whether a code was ever mailed there would tell who
// has an account, so tries left are not counted out either.
func codeRefused(err error) error {
	if errors.Is(err, ErrBadCode) || errors.Is(err, ErrCodeExpired) {
		return ErrBadCode.With("refusal.code_wrong_or_used")
	}
	return err
}

// VerifySignInCode signs in with an emailed code.
func (s *Service) VerifySignInCode(ctx context.Context, caller Caller, email, code string) (*SignedIn, error) {
	ip := caller.IP
	email, err := NormalizeAddress(email)
	if err != nil {
		return nil, ErrCodeExpired
	}
	if _, err := s.checkCode(ctx, email, CodeSignIn, code, ip); err != nil {
		return nil, codeRefused(err)
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("sign in by code: %w", err)
	}
	return s.signedIn(ctx, a, ip, SignInCode)
}

// ResetPassword sets a new password with an emailed reset code, signs out every
// other session, and signs in.
func (s *Service) ResetPassword(ctx context.Context, caller Caller, email, code, password string) (*SignedIn, error) {
	ip := caller.IP
	email, err := NormalizeAddress(email)
	if err != nil {
		return nil, ErrCodeExpired
	}
	if err := s.checkPasswordRules(password, email); err != nil {
		return nil, err
	}
	if _, err := s.checkCode(ctx, email, CodeReset, code, ip); err != nil {
		return nil, codeRefused(err)
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	if a.Role == RoleAdmin {
		// An administrator's password changes only in a passkey session: a code
		// from a read mailbox must not end the administrator's sessions either.
		return nil, ErrPasskeyRequired.With("refusal.admin_password_passkey")
	}
	if _, err := s.store.DeleteAccountSessions(ctx, a.ID, nil); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	hash := hashPassword(password, s.cfg.Argon2)
	a, err = s.store.UpdateAccount(ctx, a.ID, func(acc *Account) ([]AuditEvent, error) {
		acc.PasswordHash = hash
		return []AuditEvent{{Time: s.now(), Actor: acc.Email, Action: ActionAccountPasswordReset, Account: acc.ID, ClientIP: ip}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	return s.signedIn(ctx, a, ip, SignInPasswordReset)
}

func (s *Service) newSession(ctx context.Context, a Account, setup bool, method SignInMethod) (*SignedIn, error) {
	if a.Disabled {
		return nil, ErrAccountDisabled
	}
	token, hash := newToken()
	now := s.now()
	sess := Session{TokenHash: hash, AccountID: a.ID, Created: now, LastSeen: now, Setup: setup, Method: method}
	if err := s.store.PutSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return &SignedIn{Token: token, Account: a, Setup: setup, Method: method}, nil
}

// Authenticate resolves a session token, enforcing the idle and absolute timeouts.
// It refreshes LastSeen at most once a minute, to keep reads from becoming writes.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, *Account, error) {
	if token == "" {
		return nil, nil, ErrSignInRequired
	}
	hash := hashToken(token)
	sess, acct, err := s.store.SessionAccount(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrSignInRequired
	} else if err != nil {
		return nil, nil, fmt.Errorf("session: %w", err)
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.cfg.SessionIdle || now.Sub(sess.Created) > s.cfg.SessionMax {
		s.store.DeleteSession(ctx, hash)
		return nil, nil, ErrSignInRequired.With("refusal.session_ended")
	}
	if acct == nil {
		s.store.DeleteSession(ctx, hash)
		return nil, nil, ErrSignInRequired
	}
	a := *acct
	if a.Disabled {
		s.store.DeleteSession(ctx, hash)
		return nil, nil, ErrAccountDisabled
	}
	if now.Sub(sess.LastSeen) > time.Minute {
		if err := s.store.TouchSession(ctx, hash, now); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeen = now
	}
	return &sess, &a, nil
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	if err := s.store.DeleteSession(ctx, hashToken(token)); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// ListAccounts is for administrators.
func (s *Service) ListAccounts(ctx context.Context, caller Caller) ([]Account, error) {
	if err := s.requireAdmin(caller); err != nil {
		return nil, err
	}
	accs, err := s.store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return accs, nil
}

// DeleteAccount removes an account (an administrator's decision, or its owner's).
func (s *Service) DeleteAccount(ctx context.Context, caller Caller, id string) error {
	if caller.Account == nil || caller.Account.ID != id {
		if err := s.requireAdmin(caller); err != nil {
			return err
		}
	}
	err := s.store.DeleteAccount(ctx, id, []AuditEvent{{Time: s.now(), Actor: caller.actor(), Action: ActionAccountDelete, Account: id, ClientIP: caller.IP}})
	if errors.Is(err, ErrNotFound) {
		return ErrBadRequest.With("refusal.no_account")
	}
	return err
}

// Audit streams the audit log from seq onwards to fn (administrators only).
func (s *Service) Audit(ctx context.Context, caller Caller, from uint64, fn func(AuditRecord) (bool, error)) error {
	if err := s.requireAdmin(caller); err != nil {
		return err
	}
	return s.store.Audit(ctx, from, fn)
}

// VerifyAuditLog is VerifyAudit of this service's store (administrators only: a
// refusal is an *Error; any other error is the chain's or the store's).
func (s *Service) VerifyAuditLog(ctx context.Context, caller Caller) (uint64, string, error) {
	if err := s.requireAdmin(caller); err != nil {
		return 0, "", err
	}
	return VerifyAudit(ctx, s.store)
}

// VerifyAudit walks the whole audit log, checks the chain, and returns the number
// of records and the last record's hash. The chain proves nothing before the head
// was edited, removed or inserted; an operator who notes the head down (or keeps
// exports) can also tell if records were cut off after it.
func VerifyAudit(ctx context.Context, st Store) (uint64, string, error) {
	var v AuditVerifier
	var head []byte
	err := st.Audit(ctx, 1, func(r AuditRecord) (bool, error) {
		head = r.Hash
		return true, v.Check(r)
	})
	return v.Count, hex.EncodeToString(head), err
}
