package storetest

import (
	"fmt"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// auditLog reads the whole audit log, checking its chain.
func auditLog(t *testing.T, s keyserver.Store) []keyserver.AuditRecord {
	t.Helper()
	var (
		log []keyserver.AuditRecord
		v   keyserver.AuditVerifier
	)
	err := s.Audit(t.Context(), 1, func(r keyserver.AuditRecord) (bool, error) {
		log = append(log, r)
		return true, v.Check(r)
	})
	noErr(t, "Audit", err)
	if v.Count != uint64(len(log)) {
		t.Fatalf("AuditVerifier counted %d of %d records", v.Count, len(log))
	}
	return log
}

func testAudit(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	if n := len(auditLog(t, s)); n != 0 {
		t.Fatalf("empty store has %d audit records", n)
	}
	noErr(t, "AppendAudit nothing", s.AppendAudit(ctx, nil))
	if n := len(auditLog(t, s)); n != 0 {
		t.Fatalf("AppendAudit(nil) appended %d records", n)
	}

	var want []keyserver.AuditEvent
	events := func(actions ...keyserver.AuditAction) []keyserver.AuditEvent {
		var evs []keyserver.AuditEvent
		for _, a := range actions {
			ev := event(a, len(want))
			if len(want)%2 == 1 {
				ev.Time = ev.Time.UTC() // zones mixed in one log
			}
			want = append(want, ev)
			evs = append(evs, ev)
		}
		return evs
	}
	env := record("alice@example.com", "bob@example.org", at(0))
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: env}}, events("envelope.register", "envelope.register.detail")))
	noErr(t, "AppendAudit", s.AppendAudit(ctx, events("signin.fail")))
	_, err := s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Releases++
		return events("key.release"), nil
	})
	noErr(t, "UpdateEnvelope", err)
	_, err = s.UpdateEnvelope(ctx, env.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Releases++
		return nil, nil // a change with no event to log
	})
	noErr(t, "UpdateEnvelope without events", err)
	acc := account("zoe@example.com")
	noErr(t, "CreateAccount", s.CreateAccount(ctx, acc, events("account.create")))
	_, err = s.UpdateAccount(ctx, acc.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
		a.FailedSignIns++
		return events("signin.fail", "account.lock"), nil
	})
	noErr(t, "UpdateAccount", err)
	noErr(t, "AppendAudit", s.AppendAudit(ctx, events("admin.read", "admin.read", "admin.export")))
	noErr(t, "DeleteAccount", s.DeleteAccount(ctx, acc.ID, events("account.delete")))

	log := auditLog(t, s)
	if len(log) != len(want) {
		t.Fatalf("audit has %d records, want %d", len(log), len(want))
	}
	for i, r := range log {
		if r.Seq != uint64(i+1) {
			t.Errorf("audit record %d has seq %d", i+1, r.Seq)
		}
		equal(t, fmt.Sprintf("audit record %d", i+1), r.AuditEvent, want[i])
	}
}

func testAuditFrom(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	const total = 700 // beyond any small page or chunk size a store reads by
	for i := 0; i < total; i += 100 {
		var evs []keyserver.AuditEvent
		for j := range 100 {
			evs = append(evs, event("admin.read", i+j))
		}
		noErr(t, "AppendAudit", s.AppendAudit(ctx, evs))
	}
	if n := len(auditLog(t, s)); n != total {
		t.Fatalf("audit has %d records, want %d", n, total)
	}

	// read returns the seqs Audit passes from from, stopping after max.
	read := func(from uint64, max int) []uint64 {
		t.Helper()
		var seqs []uint64
		err := s.Audit(ctx, from, func(r keyserver.AuditRecord) (bool, error) {
			if len(seqs) == max {
				t.Fatalf("Audit from %d: fn called after it returned false", from)
			}
			seqs = append(seqs, r.Seq)
			equal(t, fmt.Sprintf("audit record %d", r.Seq), r.AuditEvent, event("admin.read", int(r.Seq)-1))
			return len(seqs) < max, nil
		})
		noErr(t, fmt.Sprintf("Audit from %d", from), err)
		for i := range seqs {
			if seqs[i] != seqs[0]+uint64(i) {
				t.Fatalf("Audit from %d: seq %d after %d", from, seqs[i], seqs[i-1])
			}
		}
		return seqs
	}
	check := func(from uint64, max int, first uint64, n int) {
		t.Helper()
		seqs := read(from, max)
		if len(seqs) != n || n > 0 && seqs[0] != first {
			t.Errorf("Audit from %d, stopping after %d: got %d records from %v, want %d from %d", from, max, len(seqs), seqs[:min(1, len(seqs))], n, first)
		}
	}
	check(0, total+1, 1, total)
	check(1, total+1, 1, total)
	check(300, total+1, 300, total-299)
	check(total, total+1, total, 1)
	check(total+1, total+1, 0, 0)
	check(1, 5, 1, 5)
	for _, stop := range []int{1, 255, 256, 257, 512, total - 1} {
		check(2, stop, 2, stop)
	}

	calls := 0
	err := s.Audit(ctx, 10, func(r keyserver.AuditRecord) (bool, error) {
		calls++
		if r.Seq == 12 {
			return true, fmt.Errorf("at 12: %w", errFn)
		}
		return true, nil
	})
	wantErr(t, "Audit with fn failing", err, errFn)
	if calls != 3 {
		t.Errorf("Audit went on after fn failed: %d calls, want 3", calls)
	}
}
