package keyserver

import (
	"net/http"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// Error is a refusal the key server explains to the person in front of it: a stable
// code for programs, a sentence for people, and the HTTP status it maps to.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // for rate limits and lockouts
	say        *Msg          // the catalog message With gave it (refusal.go)
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match on the code, so a refusal with a specific message (a lock
// reason, a retry time) still matches its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The refusals. Release refusals are distinct so a recipient learns what happened
// and what to do, without learning anything about envelopes that are not theirs.
var (
	ErrUnknownEnvelope = &Error{http.StatusNotFound, api.CodeUnknown, "There is no such secure message. Check that you used the whole link or the attachment you received.", 0, nil}
	ErrNotYours        = &Error{http.StatusForbidden, api.CodeNotYours, "This secure message was sent to another address. Sign out, then sign in with the address it was sent to.", 0, nil}
	ErrLocked          = &Error{http.StatusLocked, api.CodeLocked, "The sender's organisation has locked this message.", 0, nil}
	ErrRevoked         = &Error{http.StatusGone, api.CodeRevoked, "The sender's organisation has withdrawn this message. It can no longer be opened; ask the sender to send it again if you still need it.", 0, nil}
	ErrExpired         = &Error{http.StatusGone, api.CodeExpired, "This secure message has expired and can no longer be opened. Ask the sender to send it again if you still need it.", 0, nil}

	ErrSignInRequired  = &Error{http.StatusUnauthorized, api.CodeSigninRequired, "Please sign in.", 0, nil}
	ErrSetupRequired   = &Error{http.StatusForbidden, api.CodeSetupRequired, "Finish registering first: create a passkey or choose a password.", 0, nil}
	ErrBadCredentials  = &Error{http.StatusUnauthorized, api.CodeBadCredentials, "The email address or password is not correct. If you signed up with a passkey, use \u201cSign in with a passkey\u201d, or sign in with an emailed code.", 0, nil}
	ErrBadCode         = &Error{http.StatusBadRequest, api.CodeBadCode, "That code is not correct.", 0, nil}
	ErrCodeExpired     = &Error{http.StatusBadRequest, api.CodeCodeExpired, "That code has expired or was already used. Ask for a new one.", 0, nil}
	ErrRateLimited     = &Error{http.StatusTooManyRequests, api.CodeRateLimited, "Too many attempts. Please wait and try again.", 0, nil}
	ErrAccountLocked   = &Error{http.StatusTooManyRequests, api.CodeAccountLocked, "Too many failed sign-ins for this account. Please wait and try again, or sign in with an emailed code.", 0, nil}
	ErrAccountExpired  = &Error{http.StatusUnauthorized, api.CodeAccountExpired, "Your account expired because it was not used for a long time. Please register again.", 0, nil}
	ErrAlreadyRegister = &Error{http.StatusConflict, api.CodeAlreadyRegistered, "You already have an account for this address. Please sign in.", 0, nil}
	ErrWeakPassword    = &Error{http.StatusBadRequest, api.CodeWeakPassword, "Choose a password of at least 10 characters.", 0, nil}
	ErrBadRequest      = &Error{http.StatusBadRequest, api.CodeBadRequest, "The request is not valid.", 0, nil}
	ErrForbidden       = &Error{http.StatusForbidden, api.CodeForbidden, "This request is not allowed.", 0, nil}
	ErrConflictKey     = &Error{http.StatusConflict, api.CodeConflict, "An envelope with this id is already registered with another key.", 0, nil}
	// ErrOutOfStorage: the store's disk is full. Nothing was stored; the gateway
	// keeps the message and tries again (451 4.3.1), and the key server recovers
	// by itself once there is space again.
	ErrOutOfStorage = &Error{http.StatusInsufficientStorage, api.CodeOutOfStorage, "The key server is out of storage: nothing was stored. Try again later.", time.Minute, nil}
	ErrNotHeld      = &Error{http.StatusNotFound, api.CodeNotHeld, "This message is no longer held here. Open the securedoc attachment from your email again and select Open.", 0, nil}

	ErrPasskeysUnavailable = &Error{http.StatusServiceUnavailable, api.CodePasskeysUnavailable, "Passkeys are not available on this server: its public URL must use a domain name, not an IP address.", 0, nil}
	ErrCeremonyExpired     = &Error{http.StatusBadRequest, api.CodeCeremonyExpired, "That passkey request expired or was already used. Please try again.", 0, nil}
	ErrPasskeyFailed       = &Error{http.StatusBadRequest, api.CodePasskeyFailed, "The passkey could not be verified. Please try again, or sign in another way.", 0, nil}
	ErrPasskeyUnknown      = &Error{http.StatusUnauthorized, api.CodePasskeyUnknown, "This passkey is not registered here (it may have been removed). Sign in another way, then add a passkey again.", 0, nil}
	ErrPasskeyCloned       = &Error{http.StatusUnauthorized, api.CodePasskeyCloned, "This passkey was not accepted: its signature counter went backwards, so it may have been copied. Sign in another way, and remove it from your account.", 0, nil}
	ErrPasskeyExists       = &Error{http.StatusConflict, api.CodePasskeyExists, "This passkey is already registered.", 0, nil}
	ErrNoSuchPasskey       = &Error{http.StatusNotFound, api.CodeNoSuchPasskey, "There is no such passkey on your account.", 0, nil}
	ErrLastWayIn           = &Error{http.StatusConflict, api.CodeLastWayIn, "This is the last way to sign in to your account: add another passkey or a password before removing it.", 0, nil}
	ErrPasskeyRequired     = &Error{http.StatusForbidden, api.CodePasskeyRequired, "Administrators must sign in with a passkey. Sign out, then sign in with your administrator passkey.", 0, nil}
	ErrInviteInvalid       = &Error{http.StatusBadRequest, api.CodeInviteInvalid, "This enrolment link is not valid: it expired or was already used. Ask an administrator for a new one.", 0, nil}
)
