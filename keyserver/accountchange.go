package keyserver

import (
	"bytes"
	"fmt"
)

// AccountChange is an account as an UpdateAccount fn left it, with what the
// store must check and index before writing it.
type AccountChange struct {
	Account Account
	// Before are the account's credentials before fn, for the store's
	// credential index; their ids are copies fn cannot have changed.
	Before []Credential
	// LeftAdmin: the account held the administrator role and fn took it away.
	// The store refuses with ErrLastAdmin unless another administrator
	// remains, in the transaction that writes the change.
	LeftAdmin bool
	Events    []AuditEvent
}

// ChangeAccount runs fn on a, the stored account, the same way for every
// store. An error is fn's own refusal, or fn changing the id or email, which
// key the account in every store's indexes; the store then writes nothing.
func ChangeAccount(a Account, fn func(*Account) ([]AuditEvent, error)) (AccountChange, error) {
	id, email := a.ID, a.Email
	ch := AccountChange{Before: make([]Credential, len(a.Credentials))}
	for i, c := range a.Credentials {
		c.ID = bytes.Clone(c.ID)
		ch.Before[i] = c
	}
	wasAdmin := a.Role == RoleAdmin
	events, err := fn(&a)
	ch.Account = a
	if err != nil {
		return ch, err
	}
	if a.ID != id || a.Email != email {
		return ch, fmt.Errorf("update account %s: fn changed the id or email", id)
	}
	ch.LeftAdmin = wasAdmin && a.Role != RoleAdmin
	ch.Events = events
	return ch, nil
}
