package keyserver

// Caller is who a service call acts for: where the request came from and who
// signed in, if anyone. The HTTP layer builds one per request (from the client
// address, the session cookie or a bearer token) and passes it right after the
// context to every Service method that acts for someone.
type Caller struct {
	IP string // the client's address
	// Session is the browser session asking, if any: the one kept when removing
	// a way in ends the account's other sessions, and the one a setup or an
	// enrolment continues.
	Session *Session
	Account *Account // the signed-in account; nil for none or an API administrator
	// Method is how Session was signed in. Administrator rights need
	// SignInPasskey.
	Method SignInMethod
	Admin  bool // an API administrator (bearer token)
}

// SessionCaller is the caller of a request made with sess, signed in to a.
func SessionCaller(ip string, sess *Session, a *Account) Caller {
	c := Caller{IP: ip, Session: sess, Account: a}
	if sess != nil {
		c.Method = sess.Method
	}
	return c
}

// isAdmin: an API administrator, or an administrator account signed in with a
// passkey. An administrator who signed in with a password or code has no more
// rights than anyone else.
func (c Caller) isAdmin() bool {
	return c.Admin || (c.Account != nil && c.Account.Role == RoleAdmin && c.passkey())
}

func (c Caller) actor() string {
	switch {
	case c.Account != nil:
		return c.Account.Email
	case c.Admin:
		return "admin"
	}
	return "anonymous"
}

// passkey: the caller's session was signed in with a passkey, which an
// administrator account needs to act as one.
func (c Caller) passkey() bool { return c.Method == SignInPasskey }

// sessionHash is the token hash of the caller's session, or nil.
func (c Caller) sessionHash() []byte {
	if c.Session == nil {
		return nil
	}
	return c.Session.TokenHash
}

// SignInMethod is how a session was signed in.
type SignInMethod string

// The ways in. Administrator rights need SignInPasskey.
const (
	SignInPassword      SignInMethod = "password"
	SignInCode          SignInMethod = "code"
	SignInPasskey       SignInMethod = "passkey"
	SignInRegister      SignInMethod = "register"
	SignInPasswordReset SignInMethod = "password reset"
)

// AuditAction names what an audit record records.
type AuditAction string

// The audited actions.
const (
	ActionEnvelopeRegister      AuditAction = "envelope.register"
	ActionEnvelopeRevoke        AuditAction = "envelope.revoke"
	ActionEnvelopeLock          AuditAction = "envelope.lock"
	ActionEnvelopeUnlock        AuditAction = "envelope.unlock"
	ActionEnvelopeSetExpiry     AuditAction = "envelope.set_expiry"
	ActionEnvelopeExpire        AuditAction = "envelope.expire"
	ActionKeyRelease            AuditAction = "key.release"
	ActionKeyDeny               AuditAction = "key.deny"
	ActionSignIn                AuditAction = "signin"
	ActionSignInFail            AuditAction = "signin.fail"
	ActionCodeFail              AuditAction = "code.fail"
	ActionAccountRegister       AuditAction = "account.register"
	ActionAccountPasswordSet    AuditAction = "account.password_set"
	ActionAccountPasswordReset  AuditAction = "account.password_reset"
	ActionAccountPasswordRemove AuditAction = "account.password_remove"
	ActionAccountDelete         AuditAction = "account.delete"
	ActionAccountExpire         AuditAction = "account.expire"
	ActionPasskeyAdd            AuditAction = "passkey.add"
	ActionPasskeyRename         AuditAction = "passkey.rename"
	ActionPasskeyRemove         AuditAction = "passkey.remove"
	ActionAdminInvite           AuditAction = "admin.invite"
	ActionAdminEnrol            AuditAction = "admin.enrol"
	ActionAdminSignIn           AuditAction = "admin.signin"
	ActionStoreBackup           AuditAction = "store.backup"
)
