package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// The contracts of the shared state (keyserver/shared.go). Rate limits keep
// times to the millisecond, so their tests use whole milliseconds.
var (
	limitTests = []testCase{
		{"TakeToken", testTakeToken},
		{"TakeTokenConcurrent", testTakeTokenConcurrent},
		{"Failures", testFailures},
		{"DeleteIdleLimits", testDeleteIdleLimits},
	}
	ceremonyCapTests = []testCase{
		{"CeremonyCap", testCeremonyCap},
		{"CeremonyCapConcurrent", testCeremonyCapConcurrent},
	}
	leaseTests = []testCase{
		{"LeaseMail", testLeaseMail},
		{"LeaseMailConcurrent", testLeaseMailConcurrent},
	}
	leaderTests = []testCase{
		{"Leader", testLeader},
	}
)

// RunLimits runs the contract of keyserver.LimitStore.
func RunLimits(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, limitTests) }

// RunCeremonyCap runs the contract of keyserver.CeremonyCapStore.
func RunCeremonyCap(t *testing.T, open func(t *testing.T) keyserver.Store) {
	run(t, open, ceremonyCapTests)
}

// RunLeases runs the contract of keyserver.OutboxLeaseStore.
func RunLeases(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, leaseTests) }

// RunLeader runs the contract of keyserver.LeaderStore within one store; a
// store shared by processes tests them across stores itself (sqlstore does).
func RunLeader(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, leaderTests) }

// msBase is base in whole milliseconds.
var msBase = base.Truncate(time.Millisecond)

func msAt(d time.Duration) time.Time { return msBase.Add(d) }

func testTakeToken(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	rate := keyserver.RateLimit{Burst: 3, Every: 10 * time.Second}
	take := func(key string, at time.Time) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := s.TakeToken(ctx, key, rate, at)
		noErr(t, "TakeToken", err)
		return ok, wait
	}
	avail := func(key string, at time.Time) bool {
		t.Helper()
		ok, err := s.TokenAvailable(ctx, key, rate, at)
		noErr(t, "TokenAvailable", err)
		return ok
	}
	if !avail("a", msAt(0)) {
		t.Error("a new bucket has no token")
	}
	for i := range 3 {
		if ok, _ := take("a", msAt(0)); !ok {
			t.Fatalf("take %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := take("a", msAt(0))
	if ok || wait != 10*time.Second {
		t.Errorf("fourth take: ok %v, wait %v; want refused, wait 10s", ok, wait)
	}
	if avail("a", msAt(0)) {
		t.Error("an empty bucket has a token available")
	}
	// Another key has its own bucket.
	if ok, _ := take("b", msAt(0)); !ok {
		t.Error("another key's bucket was emptied too")
	}
	// One token comes back every 10 s: not a millisecond sooner.
	ok, wait = take("a", msAt(10*time.Second-time.Millisecond))
	if ok || wait != time.Millisecond {
		t.Errorf("take 1 ms early: ok %v, wait %v; want refused, wait 1ms", ok, wait)
	}
	if !avail("a", msAt(10*time.Second)) {
		t.Error("no token available after 10 s")
	}
	if ok, _ := take("a", msAt(10*time.Second)); !ok {
		t.Error("take after 10 s refused")
	}
	if ok, _ := take("a", msAt(10*time.Second)); ok {
		t.Error("took two tokens after 10 s")
	}
	// A long pause refills the bucket to its burst, no further.
	for i := range 3 {
		if ok, _ := take("a", msAt(time.Hour)); !ok {
			t.Fatalf("take %d after an hour refused", i+1)
		}
	}
	if ok, _ := take("a", msAt(time.Hour)); ok {
		t.Error("the bucket held more than its burst after an hour")
	}
}

func testTakeTokenConcurrent(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	rate := keyserver.RateLimit{Burst: 5, Every: time.Minute}
	var taken sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 20 {
		taken.Go(func() {
			ok, _, err := s.TakeToken(ctx, "shared", rate, msAt(0))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	taken.Wait()
	if n != 5 {
		t.Errorf("20 concurrent takes from a burst of 5 took %d", n)
	}
}

func testFailures(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	n, last, err := s.Failures(ctx, "k")
	noErr(t, "Failures", err)
	if n != 0 || !last.IsZero() {
		t.Errorf("no failures: got %d, %v", n, last)
	}
	for i := 1; i <= 3; i++ {
		got, err := s.AddFailure(ctx, "k", at(time.Duration(i)*time.Second))
		noErr(t, "AddFailure", err)
		if got != i {
			t.Errorf("AddFailure %d returned %d", i, got)
		}
	}
	if _, err := s.AddFailure(ctx, "other", at(0)); err != nil {
		t.Fatal(err)
	}
	n, last, err = s.Failures(ctx, "k")
	noErr(t, "Failures", err)
	if n != 3 || !last.Equal(at(3*time.Second)) {
		t.Errorf("Failures = %d, %v; want 3, %v", n, last, at(3*time.Second))
	}
	noErr(t, "ResetFailures", s.ResetFailures(ctx, "k"))
	noErr(t, "ResetFailures again", s.ResetFailures(ctx, "k"))
	n, _, err = s.Failures(ctx, "k")
	noErr(t, "Failures", err)
	if n != 0 {
		t.Errorf("after a reset: %d failures", n)
	}
	if n, _, _ := s.Failures(ctx, "other"); n != 1 {
		t.Errorf("a reset of k reset other too: %d", n)
	}
	// Concurrent failures are each counted.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := s.AddFailure(ctx, "k", at(time.Minute)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _, _ := s.Failures(ctx, "k"); n != 10 {
		t.Errorf("10 concurrent failures counted %d", n)
	}
}

func testDeleteIdleLimits(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	rate := keyserver.RateLimit{Burst: 2, Every: time.Minute}
	for _, key := range []string{"full", "busy", "busy"} {
		at := msAt(0)
		if key == "busy" {
			at = msAt(10 * time.Minute)
		}
		if _, _, err := s.TakeToken(ctx, key, rate, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		key string
		at  time.Time
	}{{"old", at(0)}, {"recent", at(time.Hour)}} {
		if _, err := s.AddFailure(ctx, f.key, f.at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteIdleLimits(ctx, msAt(11*time.Minute), at(30*time.Minute))
	noErr(t, "DeleteIdleLimits", err)
	if n != 2 {
		t.Errorf("DeleteIdleLimits removed %d, want 2 (a full bucket, an old failure count)", n)
	}
	// "busy" was taken twice at 10 min: at 11 min it has one token, not two.
	if ok, _, _ := s.TakeToken(ctx, "busy", rate, msAt(11*time.Minute)); !ok {
		t.Error("busy: no token at 11 min")
	}
	if ok, _, _ := s.TakeToken(ctx, "busy", rate, msAt(11*time.Minute)); ok {
		t.Error("busy's bucket was forgotten while not full")
	}
	if n, _, _ := s.Failures(ctx, "old"); n != 0 {
		t.Error("an old failure count was kept")
	}
	if n, _, _ := s.Failures(ctx, "recent"); n != 1 {
		t.Error("a recent failure count was removed")
	}
}

func capCeremony(id string, expires time.Time) keyserver.Ceremony {
	return keyserver.Ceremony{ID: id, Kind: keyserver.CeremonySignIn, Expires: expires, Data: []byte(`{"challenge":"x"}`)}
}

func testCeremonyCap(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	noErr(t, "c1", s.PutCeremonyCapped(ctx, capCeremony("c1", at(time.Minute)), 2, at(0)))
	noErr(t, "c2", s.PutCeremonyCapped(ctx, capCeremony("c2", at(5*time.Minute)), 2, at(0)))
	wantErr(t, "c3 over the cap", s.PutCeremonyCapped(ctx, capCeremony("c3", at(5*time.Minute)), 2, at(0)), keyserver.ErrCapReached)
	if _, err := s.TakeCeremony(ctx, "c3", at(0)); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("a refused ceremony was stored: %v", err)
	}
	// Taking one makes room.
	if _, err := s.TakeCeremony(ctx, "c2", at(0)); err != nil {
		t.Fatal(err)
	}
	noErr(t, "c3 after a take", s.PutCeremonyCapped(ctx, capCeremony("c3", at(5*time.Minute)), 2, at(0)))
	wantErr(t, "c4 over the cap", s.PutCeremonyCapped(ctx, capCeremony("c4", at(5*time.Minute)), 2, at(0)), keyserver.ErrCapReached)
	// An expired one does not count, swept or not.
	noErr(t, "c4 once c1 expired", s.PutCeremonyCapped(ctx, capCeremony("c4", at(5*time.Minute)), 2, at(time.Minute)))
	got, err := s.TakeCeremony(ctx, "c4", at(time.Minute))
	noErr(t, "take c4", err)
	equal(t, "c4", got, capCeremony("c4", at(5*time.Minute)))
}

func testCeremonyCapConcurrent(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range 12 {
		wg.Go(func() {
			err := s.PutCeremonyCapped(ctx, capCeremony(fmt.Sprintf("c%d", i), at(time.Minute)), 5, at(0))
			switch {
			case err == nil:
				mu.Lock()
				stored++
				mu.Unlock()
			case !errors.Is(err, keyserver.ErrCapReached):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if stored != 5 {
		t.Errorf("12 concurrent ceremonies under a cap of 5: %d stored", stored)
	}
}

func enqueueDue(t *testing.T, s keyserver.Store, n int, due time.Time) []uint64 {
	t.Helper()
	var ids []uint64
	for i := range n {
		id, err := s.EnqueueMail(t.Context(), keyserver.OutboxMail{From: "keys@hospital.example", To: []string{fmt.Sprintf("r%d@example.org", i)},
			Message: []byte("Subject: code\r\n\r\n123456\r\n"), Created: at(0), NextAttempt: due})
		noErr(t, "EnqueueMail", err)
		ids = append(ids, id)
	}
	return ids
}

func leasedIDs(ms []keyserver.OutboxMail) []uint64 {
	var ids []uint64
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func testLeaseMail(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	ids := enqueueDue(t, s, 3, at(0))
	until := at(time.Minute)
	a, err := s.LeaseMail(ctx, at(0), until, "tok-a", 2)
	noErr(t, "LeaseMail a", err)
	equal(t, "lease a", leasedIDs(a), ids[:2])
	if len(a) > 0 && !a[0].NextAttempt.Equal(at(0)) {
		t.Errorf("a leased mail comes back as it was before the lease: next attempt %v", a[0].NextAttempt)
	}
	b, err := s.LeaseMail(ctx, at(0), until, "tok-b", 10)
	noErr(t, "LeaseMail b", err)
	equal(t, "lease b (the rest)", leasedIDs(b), ids[2:])
	due, err := s.DueMail(ctx, at(0), 0)
	noErr(t, "DueMail", err)
	if len(due) != 0 {
		t.Errorf("leased mails are due: %v", leasedIDs(due))
	}
	// Only the lease's token, before its end, reports.
	wantErr(t, "delete under another lease", s.DeleteLeasedMail(ctx, ids[0], "tok-b", at(time.Second)), keyserver.ErrNotFound)
	wantErr(t, "delete after the lease ended", s.DeleteLeasedMail(ctx, ids[0], "tok-a", at(time.Minute+time.Nanosecond)), keyserver.ErrNotFound)
	noErr(t, "delete under its lease", s.DeleteLeasedMail(ctx, ids[0], "tok-a", at(time.Minute)))
	wantErr(t, "delete again", s.DeleteLeasedMail(ctx, ids[0], "tok-a", at(time.Second)), keyserver.ErrNotFound)
	next := at(10 * time.Minute)
	noErr(t, "retry", s.RetryLeasedMail(ctx, ids[1], "tok-a", at(time.Second), 3, next, "421 busy"))
	wantErr(t, "retry again (the lease ended)", s.RetryLeasedMail(ctx, ids[1], "tok-a", at(time.Second), 4, next, "x"), keyserver.ErrNotFound)
	wantErr(t, "delete after a retry", s.DeleteLeasedMail(ctx, ids[1], "tok-a", at(time.Second)), keyserver.ErrNotFound)
	due, err = s.DueMail(ctx, next, 0)
	noErr(t, "DueMail", err)
	if len(due) != 2 || due[0].ID != ids[1] || due[0].Attempts != 3 || due[0].LastError != "421 busy" || !due[0].NextAttempt.Equal(next) {
		t.Errorf("after a retry: %+v", due)
	}
	// A lease that ran out is taken by the next, and the old token is refused.
	c, err := s.LeaseMail(ctx, at(2*time.Minute), at(5*time.Minute), "tok-c", 10)
	noErr(t, "LeaseMail c", err)
	equal(t, "lease c", leasedIDs(c), ids[2:])
	wantErr(t, "report under the lost lease", s.DeleteLeasedMail(ctx, ids[2], "tok-b", at(time.Second)), keyserver.ErrNotFound)
	noErr(t, "report under the new lease", s.DeleteLeasedMail(ctx, ids[2], "tok-c", at(3*time.Minute)))
	if n, err := s.OutboxDepth(ctx); err != nil || n != 1 {
		t.Errorf("outbox depth %d, %v; want 1", n, err)
	}
}

func testLeaseMailConcurrent(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	enqueueDue(t, s, 20, at(0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]int{}
	for i := range 8 {
		wg.Go(func() {
			ms, err := s.LeaseMail(ctx, at(0), at(time.Minute), fmt.Sprintf("tok-%d", i), 5)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, m := range ms {
				seen[m.ID]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("8 drainers of 5 leased %d of 20 mails", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("mail %d leased %d times", id, n)
		}
	}
}

func testLeader(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	l, ok, err := s.TryLead(ctx)
	noErr(t, "TryLead", err)
	if !ok {
		t.Fatal("TryLead on a fresh store: not the leader")
	}
	if _, ok, err := s.TryLead(ctx); err != nil || ok {
		t.Fatalf("a second TryLead while held: ok %v, %v", ok, err)
	}
	noErr(t, "Check", l.Check(ctx))
	l.Release()
	l.Release() // twice is harmless
	l2, ok, err := s.TryLead(ctx)
	noErr(t, "TryLead after Release", err)
	if !ok {
		t.Fatal("TryLead after Release: not the leader")
	}
	l2.Release()
}
