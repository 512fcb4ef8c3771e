package storetest

import (
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

var sessionAccountTests = []testCase{
	{"SessionAccount", testSessionAccount},
}

// RunSessionAccount runs the contract of keyserver.SessionAccountStore.
func RunSessionAccount(t *testing.T, open func(t *testing.T) keyserver.Store) {
	run(t, open, sessionAccountTests)
}

func testSessionAccount(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := account("zoe@example.org")
	noErr(t, "CreateAccount", s.CreateAccount(ctx, a, nil))
	sess := session(a.ID, at(0))
	noErr(t, "PutSession", s.PutSession(ctx, sess))
	gotSess, gotAcct, err := s.SessionAccount(ctx, sess.TokenHash)
	noErr(t, "SessionAccount", err)
	equal(t, "session", gotSess, sess)
	equal(t, "account", gotAcct, &a)

	// Every read is afresh: a change is seen at once.
	noErr(t, "TouchSession", s.TouchSession(ctx, sess.TokenHash, at(time.Minute)))
	_, err = s.UpdateAccount(ctx, a.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
		a.Disabled = true
		return nil, nil
	})
	noErr(t, "UpdateAccount", err)
	gotSess, gotAcct, err = s.SessionAccount(ctx, sess.TokenHash)
	noErr(t, "SessionAccount", err)
	if !gotSess.LastSeen.Equal(at(time.Minute)) || gotAcct == nil || !gotAcct.Disabled {
		t.Errorf("after a touch and a disable: %+v, %+v", gotSess, gotAcct)
	}

	// A session whose account is gone comes back without one.
	ghost := session("ffffffffffffffffffffffffffffffff", at(0))
	noErr(t, "PutSession", s.PutSession(ctx, ghost))
	gotSess, gotAcct, err = s.SessionAccount(ctx, ghost.TokenHash)
	noErr(t, "SessionAccount of a ghost", err)
	equal(t, "ghost session", gotSess, ghost)
	if gotAcct != nil {
		t.Errorf("a session of no account came back with %+v", gotAcct)
	}

	_, _, err = s.SessionAccount(ctx, randBytes(32))
	wantErr(t, "SessionAccount unknown", err, keyserver.ErrNotFound)
	noErr(t, "DeleteSession", s.DeleteSession(ctx, sess.TokenHash))
	_, _, err = s.SessionAccount(ctx, sess.TokenHash)
	wantErr(t, "SessionAccount deleted", err, keyserver.ErrNotFound)
}
