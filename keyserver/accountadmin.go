package keyserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/waxseal/waxseal/keyserver/api"
)

// The administrators' account tools: end an account's sessions, remove its
// password or passkeys (so that the person signs in with an emailed code and
// sets up a new way in), and remove an administrator, never the last.

// Audited account tools.
const (
	ActionAccountSessionsEnd AuditAction = "account.sessions_end"
	ActionAdminRemove        AuditAction = "admin.remove"
	ActionAccountDisable     AuditAction = "account.disable"
	ActionAccountEnable      AuditAction = "account.enable"
)

// SignInWay names a way in an administrator can remove from an account.
type SignInWay string

// The removable ways in.
const (
	WayPassword SignInWay = "password"
	WayPasskeys SignInWay = "passkeys" // every passkey of the account
)

// ErrLastAdmin refuses a change that would leave no administrator (nobody
// could invite another). The store checks it in the transaction that takes the
// role away or deletes the account, so that two removals at once, on one key
// server or on several sharing a database, cannot both pass.
var ErrLastAdmin = (&Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "This is the last administrator: invite another before removing this one."}).With("refusal.last_admin")

// EndAccountSessions signs an account out everywhere, for an administrator, and
// returns how many sessions ended.
func (s *Service) EndAccountSessions(ctx context.Context, caller Caller, id string) (int, error) {
	if err := s.requireAdmin(caller); err != nil {
		return 0, err
	}
	if _, err := s.adminAccount(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.store.DeleteAccountSessions(ctx, id, nil)
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", id, err)
	}
	s.audit(ctx, AuditEvent{Time: s.now(), Actor: caller.actor(), Action: ActionAccountSessionsEnd, Account: id,
		ClientIP: caller.IP, Detail: fmt.Sprintf("%d sessions", n)})
	return n, nil
}

// RemoveSignInWay removes an account's password or all its passkeys, for an
// administrator, and ends its sessions: the person then signs in with a code
// mailed to their address and sets up a new password or passkey.
func (s *Service) RemoveSignInWay(ctx context.Context, caller Caller, id string, way SignInWay) (Account, error) {
	if err := s.requireAdmin(caller); err != nil {
		return Account{}, err
	}
	now := s.now()
	a, err := s.store.UpdateAccount(ctx, id, func(a *Account) ([]AuditEvent, error) {
		ev := AuditEvent{Time: now, Actor: caller.actor(), Account: id, ClientIP: caller.IP, Detail: "by an administrator"}
		switch way {
		case WayPassword:
			if a.PasswordHash == "" {
				return nil, ErrBadRequest.With("refusal.no_password")
			}
			a.PasswordHash = ""
			ev.Action = ActionAccountPasswordRemove
		case WayPasskeys:
			if len(a.Credentials) == 0 {
				return nil, ErrBadRequest.With("refusal.no_passkey")
			}
			ev.Detail = fmt.Sprintf("%d passkeys, by an administrator", len(a.Credentials))
			a.Credentials = nil
			ev.Action = ActionPasskeyRemove
		default:
			return nil, ErrBadRequest.With("refusal.way_in", "Way", fmt.Sprintf("%.20q", way))
		}
		return []AuditEvent{ev}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrBadRequest.With("refusal.no_account")
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Account{}, e
		}
		return Account{}, fmt.Errorf("remove %s of %s: %w", way, id, err)
	}
	// A session signed in with what was removed must not outlive it.
	if _, err := s.store.DeleteAccountSessions(ctx, id, nil); err != nil {
		return a, fmt.Errorf("end sessions of %s: %w", id, err)
	}
	return a, nil
}

// Administrators lists the administrator accounts.
func (s *Service) Administrators(ctx context.Context, caller Caller) ([]Account, error) {
	accs, err := s.ListAccounts(ctx, caller)
	if err != nil {
		return nil, err
	}
	var admins []Account
	for _, a := range accs {
		if a.Role == RoleAdmin {
			admins = append(admins, a)
		}
	}
	return admins, nil
}

// RemoveAdministrator takes an account's administrator rights away (it keeps
// the role its address gives it: a sender's) and ends its sessions. The last
// administrator cannot be removed: nobody could invite another.
func (s *Service) RemoveAdministrator(ctx context.Context, caller Caller, id string) (Account, error) {
	if err := s.requireAdmin(caller); err != nil {
		return Account{}, err
	}
	now := s.now()
	a, err := s.store.UpdateAccount(ctx, id, func(a *Account) ([]AuditEvent, error) {
		if a.Role != RoleAdmin {
			return nil, ErrBadRequest.With("refusal.no_admin")
		}
		a.Role = s.roleFor(a.Email)
		return []AuditEvent{{Time: now, Actor: caller.actor(), Action: ActionAdminRemove, Account: id, ClientIP: caller.IP}}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrBadRequest.With("refusal.no_admin")
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Account{}, e
		}
		return Account{}, fmt.Errorf("remove administrator %s: %w", id, err)
	}
	if _, err := s.store.DeleteAccountSessions(ctx, id, nil); err != nil {
		return a, fmt.Errorf("end sessions of %s: %w", id, err)
	}
	return a, nil
}

// adminAccount is an account an administrator names, or a clear refusal.
func (s *Service) adminAccount(ctx context.Context, id string) (Account, error) {
	a, err := s.store.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrBadRequest.With("refusal.no_account")
	}
	if err != nil {
		return Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// ErrAccountDisabled refuses a disabled account's sign-ins and sessions.
var ErrAccountDisabled = (&Error{http.StatusForbidden, api.CodeAccountDisabled, "This account is disabled. Ask the organisation that sent you the message.", 0, nil}).With("refusal.account_disabled")

// SetAccountDisabled disables an account (its sessions end, and it cannot sign
// in) or enables it again, for an administrator. An administrator's account is
// not disabled: remove its administrator rights first, so that the last
// administrator cannot be shut out.
func (s *Service) SetAccountDisabled(ctx context.Context, caller Caller, id string, disabled bool) (Account, error) {
	if err := s.requireAdmin(caller); err != nil {
		return Account{}, err
	}
	now := s.now()
	a, err := s.store.UpdateAccount(ctx, id, func(a *Account) ([]AuditEvent, error) {
		if disabled && a.Role == RoleAdmin {
			return nil, ErrBadRequest.With("refusal.admin_disable")
		}
		action := ActionAccountEnable
		if disabled {
			action = ActionAccountDisable
		}
		a.Disabled = disabled
		return []AuditEvent{{Time: now, Actor: caller.actor(), Action: action, Account: id, ClientIP: caller.IP}}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrBadRequest.With("refusal.no_account")
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Account{}, e
		}
		return Account{}, fmt.Errorf("disable %s: %w", id, err)
	}
	if disabled {
		if _, err := s.store.DeleteAccountSessions(ctx, id, nil); err != nil {
			return a, fmt.Errorf("end sessions of %s: %w", id, err)
		}
	}
	return a, nil
}
