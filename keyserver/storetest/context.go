package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

func testCancelledContext(t *testing.T, s keyserver.Store) {
	env := record("alice@example.com", "bob@example.org", at(0))
	register(t, s, env)
	acc := createAccount(t, s, "zoe@example.com")
	sess := session(acc.ID, at(0))
	noErr(t, "PutSession", s.PutSession(t.Context(), sess))
	before := len(auditLog(t, s))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"PutEnvelopes": func() error {
			return s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: record("a@x.io", "b@x.io", at(0))}}, []keyserver.AuditEvent{event("x", 0)})
		},
		"Envelope": func() error { _, err := s.Envelope(ctx, env.ID); return err },
		"UpdateEnvelope": func() error {
			_, err := s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
				r.Releases++
				return []keyserver.AuditEvent{event("x", 0)}, nil
			})
			return err
		},
		"ListEnvelopes":    func() error { _, err := s.ListEnvelopes(ctx, keyserver.EnvelopeQuery{}); return err },
		"ExpiredEnvelopes": func() error { _, err := s.ExpiredEnvelopes(ctx, at(0), 1); return err },
		"Payload":          func() error { _, err := s.Payload(ctx, env.ID); return err },
		"CreateAccount": func() error {
			return s.CreateAccount(ctx, account("new@example.com"), []keyserver.AuditEvent{event("x", 0)})
		},
		"Account":        func() error { _, err := s.Account(ctx, acc.ID); return err },
		"AccountByEmail": func() error { _, err := s.AccountByEmail(ctx, acc.Email); return err },
		"UpdateAccount": func() error {
			_, err := s.UpdateAccount(ctx, acc.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
				a.FailedSignIns++
				return []keyserver.AuditEvent{event("x", 0)}, nil
			})
			return err
		},
		"DeleteAccount": func() error { return s.DeleteAccount(ctx, acc.ID, []keyserver.AuditEvent{event("x", 0)}) },
		"ListAccounts":  func() error { _, err := s.ListAccounts(ctx); return err },
		"PutCode":       func() error { return s.PutCode(ctx, code(acc.Email, keyserver.CodeReset, at(0))) },
		"UpdateCode": func() error {
			_, err := s.UpdateCode(ctx, acc.Email, keyserver.CodeReset, func(*keyserver.Code) error { return nil })
			return err
		},
		"DeleteCode":            func() error { return s.DeleteCode(ctx, acc.Email, keyserver.CodeReset) },
		"PutSession":            func() error { return s.PutSession(ctx, session(acc.ID, at(0))) },
		"Session":               func() error { _, err := s.Session(ctx, sess.TokenHash); return err },
		"TouchSession":          func() error { return s.TouchSession(ctx, sess.TokenHash, at(time.Hour)) },
		"DeleteSession":         func() error { return s.DeleteSession(ctx, sess.TokenHash) },
		"DeleteAccountSessions": func() error { _, err := s.DeleteAccountSessions(ctx, acc.ID, nil); return err },
		"AccountByCredential":   func() error { _, err := s.AccountByCredential(ctx, acc.Credentials[0].ID); return err },
		"PutCeremony":           func() error { return s.PutCeremony(ctx, ceremony(at(time.Minute))) },
		"TakeCeremony":          func() error { _, err := s.TakeCeremony(ctx, "x", at(0)); return err },
		"PutInvite": func() error {
			return s.PutInvite(ctx, invite("x@example.com", at(time.Hour)), []keyserver.AuditEvent{event("x", 0)})
		},
		"Invite":     func() error { _, err := s.Invite(ctx, randBytes(32), at(0)); return err },
		"TakeInvite": func() error { _, err := s.TakeInvite(ctx, randBytes(32), at(0)); return err },
		"TakeInviteCreateAccount": func() error {
			return s.TakeInviteCreateAccount(ctx, randBytes(32), at(0), account("new@example.com"), []keyserver.AuditEvent{event("x", 0)})
		},
		"TakeInviteUpdateAccount": func() error {
			_, err := s.TakeInviteUpdateAccount(ctx, randBytes(32), at(0), acc.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
				a.Role = keyserver.RoleAdmin
				return []keyserver.AuditEvent{event("x", 0)}, nil
			})
			return err
		},
		"DeleteSessionsBefore": func() error { _, err := s.DeleteSessionsBefore(ctx, at(time.Hour)); return err },
		"EnqueueMail":          func() error { _, err := s.EnqueueMail(ctx, mail(1, at(0))); return err },
		"DueMail":              func() error { _, err := s.DueMail(ctx, at(0), 1); return err },
		"UpdateMail":           func() error { return s.UpdateMail(ctx, mail(1, at(0))) },
		"DeleteMail":           func() error { return s.DeleteMail(ctx, 1) },
		"OutboxDepth":          func() error { _, err := s.OutboxDepth(ctx); return err },
		"AppendAudit":          func() error { return s.AppendAudit(ctx, []keyserver.AuditEvent{event("x", 0)}) },
		"Audit": func() error {
			return s.Audit(ctx, 1, func(keyserver.AuditRecord) (bool, error) { return true, nil })
		},
		"PutCiphertext": func() error { return s.PutCiphertext(ctx, [32]byte{1}, []byte("x"), at(0)) },
		"Ciphertext":    func() error { _, err := s.Ciphertext(ctx, [32]byte{1}); return err },
		"DeleteUnreferencedCiphertexts": func() error {
			_, err := s.DeleteUnreferencedCiphertexts(ctx, at(time.Hour))
			return err
		},
	}
	for name, call := range calls {
		wantErr(t, name+" with a cancelled context", call(), context.Canceled)
	}

	// Nothing changed.
	equal(t, "envelope", getEnvelope(t, s, env.ID), env)
	got, err := s.Session(t.Context(), sess.TokenHash)
	noErr(t, "Session", err)
	equal(t, "session", got, sess)
	if n := depth(t, s); n != 0 {
		t.Errorf("OutboxDepth = %d, want 0", n)
	}
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("audit has %d records, want %d", n, before)
	}
	accs, err := s.ListAccounts(t.Context())
	noErr(t, "ListAccounts", err)
	equal(t, "accounts", accs, []keyserver.Account{acc})
}
