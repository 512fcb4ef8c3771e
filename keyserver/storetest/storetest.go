// Package storetest is the contract every keyserver.Store must meet, as a test
// suite: an implementation's own tests call Run, which runs the contract of each
// role of the Store (RunEnvelopes, RunCiphertexts, RunAccounts, RunCodes,
// RunSessions, RunCeremonies, RunInvites, RunOutbox, RunAudit, RunThreads; the
// nodes' shared state in shared.go: RunLimits, RunCeremonyCap, RunLeases,
// RunLeader) and the tests across them (RunWholeStore). One role's tests may
// be run alone while a store is being written, each with a whole store to call.
//
// Times: a store keeps every time.Time to the nanosecond, as an instant. The suite
// compares times with Equal, so a store may return them in another location (UTC,
// say) and without a monotonic clock reading, but may not round them: the key
// server compares Created, Expires and LastSeen against each other, and an audit
// record's hash covers its time, so a rounded time would break the chain. The zero
// time means "never" and must come back zero. Likewise an empty slice may come back
// nil.
//
// Limits: a limit of 0 or less means no limit, as in EnvelopeQuery; the suite only
// passes positive ones.
//
// Beyond store.go, the suite pins: DeleteAccount, UpdateMail and UpdateCode return
// ErrNotFound for what does not exist; DeleteMail, like DeleteSession and
// DeleteCode, does not; DueMail's "oldest first" is enqueue (id) order; an
// idempotent PutEnvelopes still appends its events; a cancelled context fails a
// call with an error wrapping ctx.Err(), before anything is written.
//
// Passkeys: a credential id belongs to at most one account (CreateAccount and
// UpdateAccount refuse a taken one with ErrConflict, and DeleteAccount frees its
// ids); TakeCeremony and TakeInvite hand a record out once, and never one at or
// past its expiry; looking at an invite (Invite) does not use it.
package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// A case is one test of the contract.
type testCase struct {
	name string
	fn   func(*testing.T, keyserver.Store)
}

// The contract, one list per role of keyserver.Store. Each test gets a whole
// store, as a role's contract involves the others (an envelope's change appends
// audit records; deleting an account deletes its sessions).
var (
	envelopeTests = []testCase{
		{"EnvelopeRoundTrip", testEnvelopeRoundTrip},
		{"PutEnvelopesIdempotent", testPutEnvelopesIdempotent},
		{"PutEnvelopesConflict", testPutEnvelopesConflict},
		{"UpdateEnvelope", testUpdateEnvelope},
		{"UpdateEnvelopeFnError", testUpdateEnvelopeFnError},
		{"UpdateEnvelopeClearsPayload", testUpdateEnvelopeClearsPayload},
		{"ListEnvelopes", testListEnvelopes},
		{"ListEnvelopesPaged", testListEnvelopesPaged},
		{"ListEnvelopesOverDays", testListEnvelopesOverDays},
		{"ExpiredEnvelopes", testExpiredEnvelopes},
		{"SetDeliveries", testSetDeliveries}, // delivery.go
	}
	ciphertextTests = []testCase{
		{"CiphertextRoundTrip", testCiphertextRoundTrip},
		{"SharedCiphertext", testSharedCiphertext},
		{"UnknownCiphertext", testUnknownCiphertext},
		{"UpdateEnvelopeKeepsCiphertext", testUpdateEnvelopeKeepsCiphertext},
		{"DeleteUnreferencedCiphertexts", testDeleteUnreferencedCiphertexts},
		{"RegisterRightAfterUpload", testRegisterRightAfterUpload},
	}
	accountTests = []testCase{
		{"Accounts", testAccounts},
		{"AccountConflict", testAccountConflict},
		{"UpdateAccount", testUpdateAccount},
		{"DeleteAccount", testDeleteAccount},
		{"ListAccounts", testListAccounts},
		{"CredentialLookup", testCredentialLookup},
		{"CredentialConflict", testCredentialConflict},
		{"LastAdmin", testLastAdmin},                     // lastadmin.go
		{"ConcurrentLastAdmin", testConcurrentLastAdmin}, // lastadmin.go
	}
	codeTests = []testCase{
		{"Codes", testCodes},
	}
	sessionTests = []testCase{
		{"Sessions", testSessions},
		{"DeleteAccountSessions", testDeleteAccountSessions},
		{"DeleteSessionsBefore", testDeleteSessionsBefore},
	}
	ceremonyTests = []testCase{
		{"Ceremonies", testCeremonies},
		{"CeremonyExpiry", testCeremonyExpiry},
	}
	inviteTests = []testCase{
		{"Invites", testInvites},
		{"TakeInviteCreateAccount", testTakeInviteCreateAccount},
		{"TakeInviteUpdateAccount", testTakeInviteUpdateAccount},
	}
	outboxTests = []testCase{
		{"Outbox", testOutbox},
		{"DueMail", testDueMail},
	}
	auditTests = []testCase{
		{"Audit", testAudit},
		{"AuditFrom", testAuditFrom},
	}
	threadTests = []testCase{
		{"ThreadHashes", testThreadHashes},
		{"Replies", testReplies}, // replies.go
		{"StaleReplyEnvelopes", testStaleReplyEnvelopes},
	}
	// Across the roles: every method honours a cancelled context, and
	// concurrent calls of several roles keep each one's contract.
	wholeStoreTests = []testCase{
		{"CancelledContext", testCancelledContext},
		{"ConcurrentUpdateEnvelope", testConcurrentUpdateEnvelope},
		{"ConcurrentMixed", testConcurrentMixed},
	}
)

// Run runs the whole contract suite: every role's, and the tests across them.
// open must return a new, empty store for each subtest; Run closes it when the
// subtest ends.
func Run(t *testing.T, open func(t *testing.T) keyserver.Store) {
	for _, role := range [][]testCase{envelopeTests, ciphertextTests, accountTests, codeTests, sessionTests,
		ceremonyTests, inviteTests, outboxTests, auditTests, threadTests,
		limitTests, ceremonyCapTests, leaseTests, leaderTests, sessionAccountTests, wholeStoreTests} {
		run(t, open, role)
	}
}

// RunEnvelopes runs the contract of keyserver.EnvelopeStore.
func RunEnvelopes(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, envelopeTests) }

// RunCiphertexts runs the contract of keyserver.CiphertextStore.
func RunCiphertexts(t *testing.T, open func(t *testing.T) keyserver.Store) {
	run(t, open, ciphertextTests)
}

// RunAccounts runs the contract of keyserver.AccountStore.
func RunAccounts(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, accountTests) }

// RunCodes runs the contract of keyserver.CodeStore.
func RunCodes(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, codeTests) }

// RunSessions runs the contract of keyserver.SessionStore.
func RunSessions(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, sessionTests) }

// RunCeremonies runs the contract of keyserver.CeremonyStore.
func RunCeremonies(t *testing.T, open func(t *testing.T) keyserver.Store) {
	run(t, open, ceremonyTests)
}

// RunInvites runs the contract of keyserver.InviteStore.
func RunInvites(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, inviteTests) }

// RunOutbox runs the contract of keyserver.OutboxStore.
func RunOutbox(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, outboxTests) }

// RunAudit runs the contract of keyserver.AuditStore.
func RunAudit(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, auditTests) }

// RunThreads runs the contract of keyserver.ThreadStore.
func RunThreads(t *testing.T, open func(t *testing.T) keyserver.Store) { run(t, open, threadTests) }

// RunWholeStore runs the tests across the roles: cancelled contexts and
// concurrent calls.
func RunWholeStore(t *testing.T, open func(t *testing.T) keyserver.Store) {
	run(t, open, wholeStoreTests)
}

func run(t *testing.T, open func(t *testing.T) keyserver.Store, tests []testCase) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base is the suite's reference time: nanoseconds and a zone that is not UTC, so
// that a store that rounds or mishandles zones fails.
var base = time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.FixedZone("IST", 5*3600+30*60))

func at(d time.Duration) time.Time { return base.Add(d) }

// errFn is what the suite's fns return to check that a caller's error comes back.
var errFn = errors.New("storetest: fn refused")

// equal reports a difference between got and want that the contract does not
// allow (see the package comment).
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(normalized(got), normalized(want)) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func normalized(v any) any {
	if v == nil {
		return nil
	}
	return normalize(reflect.ValueOf(v)).Interface()
}

// normalize returns a deep copy of v with every time in UTC without a monotonic
// reading and every empty slice nil.
func normalize(v reflect.Value) reflect.Value {
	if v.Type() == timeType {
		return reflect.ValueOf(v.Interface().(time.Time).UTC())
	}
	switch v.Kind() {
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			out.Field(i).Set(normalize(v.Field(i)))
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(normalize(v.Elem()))
		return out
	}
	return v
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
