package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// session has every field set.
func session(accountID string, lastSeen time.Time) keyserver.Session {
	return keyserver.Session{
		TokenHash: randBytes(32),
		AccountID: accountID,
		Created:   lastSeen.Add(-time.Hour),
		LastSeen:  lastSeen,
		Setup:     true,
		Method:    "passkey",
	}
}

// code has every field set.
func code(email string, purpose keyserver.CodePurpose, expires time.Time) keyserver.Code {
	return keyserver.Code{
		Email:     email,
		Purpose:   purpose,
		MAC:       randBytes(32),
		Expires:   expires,
		Attempts:  1,
		FirstName: "Zoë",
		LastName:  "O'Brien",
	}
}

var errRead = errors.New("storetest: read only")

// readCode reads a code through UpdateCode, the only way to, with an fn that
// refuses so that nothing is written.
func readCode(t *testing.T, s keyserver.Store, email string, purpose keyserver.CodePurpose) (keyserver.Code, error) {
	t.Helper()
	var c keyserver.Code
	_, err := s.UpdateCode(t.Context(), email, purpose, func(got *keyserver.Code) error {
		c = *got
		return errRead
	})
	if errors.Is(err, errRead) {
		return c, nil
	}
	return keyserver.Code{}, err
}

func testCodes(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	const email = "zoe@example.com"
	reg := code(email, keyserver.CodeRegister, at(10*time.Minute))
	signin := code(email, keyserver.CodeSignIn, at(10*time.Minute))
	noErr(t, "PutCode", s.PutCode(ctx, reg))
	noErr(t, "PutCode", s.PutCode(ctx, signin))
	got, err := readCode(t, s, email, keyserver.CodeRegister)
	noErr(t, "read code", err)
	equal(t, "code", got, reg)

	// Replacing one purpose leaves the other.
	reg2 := code(email, keyserver.CodeRegister, at(20*time.Minute))
	noErr(t, "PutCode replace", s.PutCode(ctx, reg2))
	got, err = readCode(t, s, email, keyserver.CodeRegister)
	noErr(t, "read replaced code", err)
	equal(t, "replaced code", got, reg2)
	got, err = readCode(t, s, email, keyserver.CodeSignIn)
	noErr(t, "read other purpose", err)
	equal(t, "code of another purpose", got, signin)

	want := reg2
	want.Attempts = 2
	got, err = s.UpdateCode(ctx, email, keyserver.CodeRegister, func(c *keyserver.Code) error {
		c.Attempts++
		return nil
	})
	noErr(t, "UpdateCode", err)
	equal(t, "UpdateCode result", got, want)
	got, err = readCode(t, s, email, keyserver.CodeRegister)
	noErr(t, "read updated code", err)
	equal(t, "updated code", got, want)

	_, err = s.UpdateCode(ctx, email, keyserver.CodeRegister, func(c *keyserver.Code) error {
		c.Attempts = 100
		return errFn
	})
	wantErr(t, "UpdateCode with fn failing", err, errFn)
	got, err = readCode(t, s, email, keyserver.CodeRegister)
	noErr(t, "read code after fn failed", err)
	equal(t, "code after fn failed", got, want)

	_, err = s.UpdateCode(ctx, email, keyserver.CodeReset, func(*keyserver.Code) error {
		t.Error("fn called for a missing code")
		return nil
	})
	wantErr(t, "UpdateCode missing", err, keyserver.ErrNotFound)
	_, err = readCode(t, s, "zoe@example.co", keyserver.CodeRegister)
	wantErr(t, "read code of a prefix of the email", err, keyserver.ErrNotFound)

	noErr(t, "DeleteCode", s.DeleteCode(ctx, email, keyserver.CodeRegister))
	_, err = readCode(t, s, email, keyserver.CodeRegister)
	wantErr(t, "read deleted code", err, keyserver.ErrNotFound)
	noErr(t, "DeleteCode again", s.DeleteCode(ctx, email, keyserver.CodeRegister))
	_, err = readCode(t, s, email, keyserver.CodeSignIn)
	noErr(t, "read code of another purpose after DeleteCode", err)
}

func testSessions(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := session("0123456789abcdef0123456789abcdef", at(0))
	noErr(t, "PutSession", s.PutSession(ctx, a))
	got, err := s.Session(ctx, a.TokenHash)
	noErr(t, "Session", err)
	equal(t, "Session", got, a)
	_, err = s.Session(ctx, randBytes(32))
	wantErr(t, "Session unknown", err, keyserver.ErrNotFound)

	noErr(t, "TouchSession", s.TouchSession(ctx, a.TokenHash, at(time.Minute)))
	got, err = s.Session(ctx, a.TokenHash)
	noErr(t, "Session", err)
	want := a
	want.LastSeen = at(time.Minute)
	equal(t, "touched session", got, want)
	wantErr(t, "TouchSession unknown", s.TouchSession(ctx, randBytes(32), at(0)), keyserver.ErrNotFound)

	// PutSession replaces.
	want.Setup = false
	want.Method = "code"
	noErr(t, "PutSession replace", s.PutSession(ctx, want))
	got, err = s.Session(ctx, a.TokenHash)
	noErr(t, "Session", err)
	equal(t, "replaced session", got, want)

	noErr(t, "DeleteSession", s.DeleteSession(ctx, a.TokenHash))
	_, err = s.Session(ctx, a.TokenHash)
	wantErr(t, "Session deleted", err, keyserver.ErrNotFound)
	noErr(t, "DeleteSession again", s.DeleteSession(ctx, a.TokenHash))
	wantErr(t, "TouchSession deleted", s.TouchSession(ctx, a.TokenHash, at(0)), keyserver.ErrNotFound)
}

func testDeleteAccountSessions(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	// "acct-1" is a prefix of "acct-10": a store must not confuse them.
	var mine []keyserver.Session
	for i := range 3 {
		mine = append(mine, session("acct-1", at(time.Duration(i)*time.Minute)))
	}
	theirs := session("acct-10", at(0))
	moved := session("acct-1", at(0))
	for _, sess := range append(mine, theirs, moved) {
		noErr(t, "PutSession", s.PutSession(ctx, sess))
	}
	// A session stored again under another account belongs to that one only.
	moved.AccountID = "acct-2"
	noErr(t, "PutSession moved", s.PutSession(ctx, moved))

	// All but one (the session of the person who removed a passkey) ...
	n, err := s.DeleteAccountSessions(ctx, "acct-1", mine[1].TokenHash)
	noErr(t, "DeleteAccountSessions but one", err)
	if n != len(mine)-1 {
		t.Errorf("DeleteAccountSessions but one = %d, want %d", n, len(mine)-1)
	}
	for i, sess := range mine {
		_, err := s.Session(ctx, sess.TokenHash)
		if i == 1 {
			noErr(t, "Session kept", err)
		} else {
			wantErr(t, "Session of the account's other sessions", err, keyserver.ErrNotFound)
		}
	}
	// ... then all; another account's session named as the exception changes nothing.
	n, err = s.DeleteAccountSessions(ctx, "acct-1", theirs.TokenHash)
	noErr(t, "DeleteAccountSessions", err)
	if n != 1 {
		t.Errorf("DeleteAccountSessions = %d, want 1", n)
	}
	for _, sess := range mine {
		_, err := s.Session(ctx, sess.TokenHash)
		wantErr(t, "Session of a signed-out account", err, keyserver.ErrNotFound)
	}
	for _, sess := range []keyserver.Session{theirs, moved} {
		got, err := s.Session(ctx, sess.TokenHash)
		noErr(t, "Session of another account", err)
		equal(t, "session of another account", got, sess)
	}
	n, err = s.DeleteAccountSessions(ctx, "acct-1", nil)
	noErr(t, "DeleteAccountSessions again", err)
	if n != 0 {
		t.Errorf("DeleteAccountSessions again = %d, want 0", n)
	}
	n, err = s.DeleteAccountSessions(ctx, "acct-2", nil)
	noErr(t, "DeleteAccountSessions of the moved session's account", err)
	if n != 1 {
		t.Errorf("DeleteAccountSessions acct-2 = %d, want 1", n)
	}
}

func testDeleteSessionsBefore(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	cut := at(0)
	stale := []keyserver.Session{session("a", at(-time.Hour)), session("b", at(-time.Nanosecond))}
	fresh := []keyserver.Session{session("a", cut), session("c", at(time.Hour))}
	touched := session("d", at(-2*time.Hour))
	for _, sess := range append(append(stale, fresh...), touched) {
		noErr(t, "PutSession", s.PutSession(ctx, sess))
	}
	noErr(t, "TouchSession", s.TouchSession(ctx, touched.TokenHash, at(time.Minute)))

	expired := code("x@example.com", keyserver.CodeSignIn, at(-time.Second))
	live := code("x@example.com", keyserver.CodeReset, cut)
	noErr(t, "PutCode", s.PutCode(ctx, expired))
	noErr(t, "PutCode", s.PutCode(ctx, live))

	n, err := s.DeleteSessionsBefore(ctx, cut)
	noErr(t, "DeleteSessionsBefore", err)
	if n != len(stale) {
		t.Errorf("DeleteSessionsBefore = %d, want %d", n, len(stale))
	}
	for _, sess := range stale {
		_, err := s.Session(ctx, sess.TokenHash)
		wantErr(t, "Session last seen before the cut", err, keyserver.ErrNotFound)
	}
	for _, sess := range append(fresh, touched) {
		_, err := s.Session(ctx, sess.TokenHash)
		noErr(t, "Session last seen at or after the cut", err)
	}
	_, err = readCode(t, s, expired.Email, expired.Purpose)
	wantErr(t, "code expired before the cut", err, keyserver.ErrNotFound)
	_, err = readCode(t, s, live.Email, live.Purpose)
	noErr(t, "code expiring at the cut", err)

	// The account index no longer lists the deleted sessions.
	n, err = s.DeleteAccountSessions(ctx, "a", nil)
	noErr(t, "DeleteAccountSessions", err)
	if n != 1 {
		t.Errorf("DeleteAccountSessions after DeleteSessionsBefore = %d, want 1", n)
	}
}
