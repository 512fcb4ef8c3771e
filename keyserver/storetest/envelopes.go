package storetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// record is an envelope as first registered: key present, never opened.
func record(sender, recipient string, created time.Time) keyserver.EnvelopeRecord {
	return keyserver.EnvelopeRecord{
		ID:         envelope.NewID(),
		Sender:     sender,
		Recipient:  recipient,
		Subject:    "Subject " + created.Format(time.RFC3339Nano),
		Created:    created,
		WrappedKey: randBytes(48),
		KeyCheck:   randBytes(32),
	}
}

// fullRecord has every field set.
func fullRecord() keyserver.EnvelopeRecord {
	r := record("alice@example.com", "bob@example.org", at(0))
	r.Subject = "Résumé ✉ \"quoted\" <tag>"
	r.Expires = at(30 * 24 * time.Hour)
	r.HasPayload = true
	r.Revoked = at(2 * time.Hour)
	r.Expired = at(3 * time.Hour)
	r.Locked = true
	r.LockReason = "too many opens"
	r.FirstOpen = at(time.Hour + 7)
	r.Releases = 7
	r.LastOpen = at(2*time.Hour + 9)
	r.Size = 7_654_321
	r.Attachments = []string{"results.pdf", "Résumé <script>alert(1)</script>.docx", "名前.txt"}
	r.ReplyContext = randBytes(80)
	return r
}

func firstAttachments(list []keyserver.EnvelopeRecord) []string {
	if len(list) == 0 {
		return nil
	}
	return list[0].Attachments
}

// event is an audit event with every field set.
func event(action keyserver.AuditAction, n int) keyserver.AuditEvent {
	return keyserver.AuditEvent{
		Time:     at(time.Duration(n) * time.Millisecond),
		Actor:    "account:0123456789abcdef0123456789abcdef",
		Action:   action,
		Envelope: fmt.Sprintf("%032x", n),
		Account:  "0123456789abcdef0123456789abcdef",
		ClientIP: "192.0.2.7",
		Detail:   fmt.Sprintf("detail %d", n),
	}
}

func register(t *testing.T, s keyserver.Store, recs ...keyserver.EnvelopeRecord) {
	t.Helper()
	var envs []keyserver.NewEnvelope
	for _, r := range recs {
		envs = append(envs, keyserver.NewEnvelope{Record: r})
	}
	noErr(t, "PutEnvelopes", s.PutEnvelopes(t.Context(), envs, []keyserver.AuditEvent{event("envelope.register", 0)}))
}

func getEnvelope(t *testing.T, s keyserver.Store, id envelope.ID) keyserver.EnvelopeRecord {
	t.Helper()
	r, err := s.Envelope(t.Context(), id)
	noErr(t, "Envelope", err)
	return r
}

func testEnvelopeRoundTrip(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	full := fullRecord()
	payload := randBytes(100_000)
	bare := record("carol@example.com", "dave@example.net", at(time.Minute))
	err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: full, Payload: payload}, {Record: bare}}, nil)
	noErr(t, "PutEnvelopes", err)

	equal(t, "full envelope", getEnvelope(t, s, full.ID), full)
	// A caller changing what it was given changes nothing stored (a store
	// that remembers decoded records must hand out copies).
	mine := getEnvelope(t, s, full.ID)
	mine.Attachments[0] = "changed.pdf"
	equal(t, "full envelope after its reader changed its copy", getEnvelope(t, s, full.ID), full)
	list, err := s.ListEnvelopes(ctx, keyserver.EnvelopeQuery{Sender: full.Sender})
	noErr(t, "ListEnvelopes", err)
	if len(list) != 1 || !slices.Equal(list[0].Attachments, full.Attachments) {
		t.Errorf("ListEnvelopes: %d envelopes, attachments %q, want %q", len(list), firstAttachments(list), full.Attachments)
	}
	got := getEnvelope(t, s, bare.ID)
	equal(t, "bare envelope", got, bare)
	for name, tm := range map[string]time.Time{"Expires": got.Expires, "Revoked": got.Revoked, "Expired": got.Expired, "FirstOpen": got.FirstOpen, "LastOpen": got.LastOpen} {
		if !tm.IsZero() {
			t.Errorf("bare envelope: %s = %v, want zero", name, tm)
		}
	}

	p, err := s.Payload(ctx, full.ID)
	noErr(t, "Payload", err)
	if !bytes.Equal(p, payload) {
		t.Errorf("Payload: got %d bytes, not the %d stored", len(p), len(payload))
	}
	_, err = s.Payload(ctx, bare.ID)
	wantErr(t, "Payload of an envelope without one", err, keyserver.ErrNotFound)
	_, err = s.Payload(ctx, envelope.NewID())
	wantErr(t, "Payload of an unknown envelope", err, keyserver.ErrNotFound)
	_, err = s.Envelope(ctx, envelope.NewID())
	wantErr(t, "Envelope unknown", err, keyserver.ErrNotFound)
}

func testPutEnvelopesIdempotent(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := record("alice@example.com", "bob@example.org", at(0))
	payload := randBytes(64)
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: withPayload(a), Payload: payload}}, []keyserver.AuditEvent{event("envelope.register", 1)}))

	// A gateway retry: same id and KeyCheck, other details, with a new envelope.
	retry := a
	retry.Subject = "changed"
	retry.WrappedKey = randBytes(48)
	c := record("alice@example.com", "carol@example.org", at(time.Second))
	err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: withPayload(retry), Payload: randBytes(64)}, {Record: c}}, []keyserver.AuditEvent{event("envelope.register", 2)})
	noErr(t, "PutEnvelopes again with the same KeyCheck", err)

	equal(t, "re-registered envelope", getEnvelope(t, s, a.ID), withPayload(a))
	p, err := s.Payload(ctx, a.ID)
	noErr(t, "Payload", err)
	if !bytes.Equal(p, payload) {
		t.Error("re-registration replaced the payload")
	}
	equal(t, "new envelope in the retried batch", getEnvelope(t, s, c.ID), c)
	if n := len(auditLog(t, s)); n != 2 {
		t.Errorf("audit has %d records, want 2 (a retry is still logged)", n)
	}
}

func withPayload(r keyserver.EnvelopeRecord) keyserver.EnvelopeRecord {
	r.HasPayload = true
	return r
}

func testPutEnvelopesConflict(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := record("alice@example.com", "bob@example.org", at(0))
	register(t, s, a)

	other := a
	other.KeyCheck = randBytes(32)
	d := record("alice@example.com", "dave@example.org", at(time.Second))
	err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: withPayload(d), Payload: randBytes(10)}, {Record: other}}, []keyserver.AuditEvent{event("envelope.register", 1)})
	wantErr(t, "PutEnvelopes with another KeyCheck", err, keyserver.ErrConflict)
	equal(t, "envelope after a conflict", getEnvelope(t, s, a.ID), a)

	// Conflicting within one batch.
	e := record("alice@example.com", "erin@example.org", at(2*time.Second))
	e2 := e
	e2.KeyCheck = randBytes(32)
	err = s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: e}, {Record: e2}}, []keyserver.AuditEvent{event("envelope.register", 2)})
	wantErr(t, "PutEnvelopes with an id twice, different KeyChecks", err, keyserver.ErrConflict)

	for _, id := range []envelope.ID{d.ID, e.ID} {
		_, err = s.Envelope(ctx, id)
		wantErr(t, "Envelope from a refused batch", err, keyserver.ErrNotFound)
	}
	_, err = s.Payload(ctx, d.ID)
	wantErr(t, "Payload from a refused batch", err, keyserver.ErrNotFound)
	got, err := s.ListEnvelopes(ctx, keyserver.EnvelopeQuery{})
	noErr(t, "ListEnvelopes", err)
	if len(got) != 1 {
		t.Errorf("ListEnvelopes lists %d envelopes, want 1", len(got))
	}
	if n := len(auditLog(t, s)); n != 1 {
		t.Errorf("audit has %d records, want 1: a refused batch logs nothing", n)
	}
}

func testUpdateEnvelope(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := record("alice@example.com", "bob@example.org", at(0))
	register(t, s, a)

	want := a
	want.Releases = 1
	want.FirstOpen = at(time.Hour)
	want.Locked = true
	want.LockReason = "admin"
	want.Expires = at(48 * time.Hour)
	ev := event("key.release", 1)
	calls := 0
	got, err := s.UpdateEnvelope(ctx, a.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		calls++
		equal(t, "record passed to fn", *r, a)
		r.Releases++
		r.FirstOpen = want.FirstOpen
		r.Locked, r.LockReason = true, "admin"
		r.Expires = want.Expires
		return []keyserver.AuditEvent{ev}, nil
	})
	noErr(t, "UpdateEnvelope", err)
	if calls == 0 {
		t.Error("fn was not called")
	}
	equal(t, "UpdateEnvelope result", got, want)
	equal(t, "envelope after UpdateEnvelope", getEnvelope(t, s, a.ID), want)
	log := auditLog(t, s)
	if len(log) != 2 {
		t.Fatalf("audit has %d records, want 2", len(log))
	}
	equal(t, "audit event of UpdateEnvelope", log[1].AuditEvent, ev)

	_, err = s.UpdateEnvelope(ctx, envelope.NewID(), func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		t.Error("fn called for an unknown envelope")
		return nil, nil
	})
	wantErr(t, "UpdateEnvelope unknown", err, keyserver.ErrNotFound)
}

func testUpdateEnvelopeFnError(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := withPayload(record("alice@example.com", "bob@example.org", at(0)))
	a.Expires = at(-time.Hour)
	payload := randBytes(32)
	noErr(t, "PutEnvelopes", s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: a, Payload: payload}}, []keyserver.AuditEvent{event("envelope.register", 0)}))

	_, err := s.UpdateEnvelope(ctx, a.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Releases = 99
		r.HasPayload = false
		r.WrappedKey = nil
		r.Sender = "mallory@example.com"
		return []keyserver.AuditEvent{event("key.release", 1)}, fmt.Errorf("refusing: %w", errFn)
	})
	wantErr(t, "UpdateEnvelope with fn failing", err, errFn)

	equal(t, "envelope after fn failed", getEnvelope(t, s, a.ID), a)
	p, err := s.Payload(ctx, a.ID)
	noErr(t, "Payload after fn failed", err)
	if !bytes.Equal(p, payload) {
		t.Error("Payload changed though fn failed")
	}
	if n := len(auditLog(t, s)); n != 1 {
		t.Errorf("audit has %d records, want 1: fn failed", n)
	}
	list, err := s.ListEnvelopes(ctx, keyserver.EnvelopeQuery{Sender: "mallory@example.com"})
	noErr(t, "ListEnvelopes", err)
	if len(list) != 0 {
		t.Error("a failed fn's change of sender reached the sender index")
	}
	expired, err := s.ExpiredEnvelopes(ctx, at(0), 10)
	noErr(t, "ExpiredEnvelopes", err)
	if !slices.Equal(expired, []envelope.ID{a.ID}) {
		t.Errorf("ExpiredEnvelopes = %v, want %v: a failed fn destroyed no key", expired, a.ID)
	}
}

func testUpdateEnvelopeClearsPayload(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := withPayload(record("alice@example.com", "bob@example.org", at(0)))
	b := withPayload(record("alice@example.com", "bob@example.org", at(time.Second)))
	err := s.PutEnvelopes(ctx, []keyserver.NewEnvelope{{Record: a, Payload: randBytes(1 << 20)}, {Record: b, Payload: randBytes(10)}}, nil)
	noErr(t, "PutEnvelopes", err)

	got, err := s.UpdateEnvelope(ctx, a.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.HasPayload = false
		r.WrappedKey = nil
		r.Revoked = at(time.Hour)
		return []keyserver.AuditEvent{event("envelope.revoke", 1)}, nil
	})
	noErr(t, "UpdateEnvelope", err)
	if got.HasPayload || len(got.WrappedKey) != 0 {
		t.Errorf("UpdateEnvelope result keeps HasPayload %t, %d key bytes", got.HasPayload, len(got.WrappedKey))
	}
	_, err = s.Payload(ctx, a.ID)
	wantErr(t, "Payload after HasPayload cleared", err, keyserver.ErrNotFound)
	_, err = s.Payload(ctx, b.ID)
	noErr(t, "Payload of another envelope", err)
}

func testListEnvelopes(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	// "al@x.io" is a prefix of "al@x.io.example": a store must not confuse them.
	const al, al2, bo, cy = "al@x.io", "al@x.io.example", "bo@x.io", "cy@x.io"
	recs := []keyserver.EnvelopeRecord{
		record(al, bo, at(1*time.Hour)),
		record(al, cy, at(2*time.Hour)),
		record(bo, cy, at(3*time.Hour)),
		record(al2, bo, at(4*time.Hour)),
		record(al, bo, at(5*time.Hour)),
		record(cy, al, at(6*time.Hour)),
		record(al, bo, at(5*time.Hour+1)), // a nanosecond after recs[4]
	}
	// Registered out of order, in two batches.
	register(t, s, recs[4], recs[0], recs[6])
	register(t, s, recs[2], recs[5], recs[1], recs[3])

	pick := func(is ...int) []keyserver.EnvelopeRecord {
		var out []keyserver.EnvelopeRecord
		for _, i := range is {
			out = append(out, recs[i])
		}
		return out
	}
	cases := []struct {
		name string
		q    keyserver.EnvelopeQuery
		want []keyserver.EnvelopeRecord
	}{
		{"all", keyserver.EnvelopeQuery{}, pick(5, 6, 4, 3, 2, 1, 0)},
		{"sender", keyserver.EnvelopeQuery{Sender: al}, pick(6, 4, 1, 0)},
		{"sender, longer", keyserver.EnvelopeQuery{Sender: al2}, pick(3)},
		{"recipient", keyserver.EnvelopeQuery{Recipient: bo}, pick(6, 4, 3, 0)},
		{"sender and recipient", keyserver.EnvelopeQuery{Sender: al, Recipient: bo}, pick(6, 4, 0)},
		{"nobody", keyserver.EnvelopeQuery{Sender: "nobody@x.io"}, nil},
		{"since (inclusive)", keyserver.EnvelopeQuery{Since: at(3 * time.Hour)}, pick(5, 6, 4, 3, 2)},
		{"until (exclusive)", keyserver.EnvelopeQuery{Until: at(3 * time.Hour)}, pick(1, 0)},
		{"until between nanoseconds", keyserver.EnvelopeQuery{Until: at(5*time.Hour + 1)}, pick(4, 3, 2, 1, 0)},
		{"since and until", keyserver.EnvelopeQuery{Since: at(2 * time.Hour), Until: at(5 * time.Hour)}, pick(3, 2, 1)},
		{"sender, since, until", keyserver.EnvelopeQuery{Sender: al, Since: at(time.Hour + 1), Until: at(6 * time.Hour)}, pick(6, 4, 1)},
		{"recipient since", keyserver.EnvelopeQuery{Recipient: cy, Since: at(2 * time.Hour).UTC()}, pick(2, 1)},
		{"limit", keyserver.EnvelopeQuery{Limit: 3}, pick(5, 6, 4)},
		{"sender and recipient, limit", keyserver.EnvelopeQuery{Sender: al, Recipient: bo, Limit: 2}, pick(6, 4)},
		{"limit above count", keyserver.EnvelopeQuery{Recipient: cy, Limit: 10}, pick(2, 1)},
		{"empty range", keyserver.EnvelopeQuery{Since: at(5 * time.Hour), Until: at(5 * time.Hour)}, nil},
	}
	for _, c := range cases {
		got, err := s.ListEnvelopes(ctx, c.q)
		noErr(t, "ListEnvelopes "+c.name, err)
		equal(t, "ListEnvelopes "+c.name, got, c.want)
	}
}

// testListEnvelopesPaged pages with After through envelopes of which many were
// created at the same instant: every envelope comes exactly once, in order.
func testListEnvelopesPaged(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	const al, bo, cy = "al@x.io", "bo@x.io", "cy@x.io"
	var recs []keyserver.EnvelopeRecord
	for i := range 23 {
		created := at(time.Duration(i/8) * time.Hour) // 8, 8 and 7 at one instant
		recipient := bo
		if i%3 == 0 {
			recipient = cy
		}
		recs = append(recs, record(al, recipient, created))
	}
	recs = append(recs, record(bo, cy, at(time.Hour)))
	register(t, s, recs...)

	for _, q := range []keyserver.EnvelopeQuery{
		{},
		{Sender: al},
		{Recipient: cy},
		{Sender: al, Recipient: bo},
		{Sender: al, Since: at(time.Hour), Until: at(2*time.Hour + 1)},
	} {
		all, err := s.ListEnvelopes(ctx, q)
		noErr(t, "ListEnvelopes", err)
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if a.Created.Before(b.Created) || a.Created.Equal(b.Created) && bytes.Compare(a.ID[:], b.ID[:]) < 0 {
				t.Fatalf("ListEnvelopes %+v: %s (%v) listed before %s (%v): want newest first, then greatest id", q, a.ID, a.Created, b.ID, b.Created)
			}
		}
		for _, size := range []int{1, 3, 8} {
			var paged []keyserver.EnvelopeRecord
			pq := q
			pq.Limit = size
			for range len(all) + 1 {
				page, err := s.ListEnvelopes(ctx, pq)
				noErr(t, "ListEnvelopes page", err)
				if len(page) > size {
					t.Fatalf("a page of %d with Limit %d", len(page), size)
				}
				if len(page) == 0 {
					break
				}
				paged = append(paged, page...)
				pq.After = keyserver.CursorOf(&page[len(page)-1])
			}
			equal(t, fmt.Sprintf("ListEnvelopes %+v in pages of %d", q, size), paged, all)
		}
	}
}

func testExpiredEnvelopes(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	now := at(0)
	mk := func(expires time.Time, destroyed bool) keyserver.EnvelopeRecord {
		r := record("alice@example.com", "bob@example.org", at(-48*time.Hour))
		r.Expires = expires
		if destroyed {
			r.WrappedKey = nil
			r.Expired = at(-time.Minute)
		}
		return r
	}
	old := mk(at(-3*time.Hour), false)
	older := mk(at(-5*time.Hour), false)
	recent := mk(at(-time.Nanosecond), false)
	destroyed := mk(at(-4*time.Hour), true)
	exactlyNow := mk(now, false)
	future := mk(at(time.Hour), false)
	never := mk(time.Time{}, false)
	register(t, s, old, destroyed, exactlyNow, future, never, recent, older)

	expired := func(limit int) []envelope.ID {
		t.Helper()
		ids, err := s.ExpiredEnvelopes(ctx, now, limit)
		noErr(t, "ExpiredEnvelopes", err)
		slices.SortFunc(ids, func(a, b envelope.ID) int { return bytes.Compare(a[:], b[:]) })
		return ids
	}
	set := func(rs ...keyserver.EnvelopeRecord) []envelope.ID {
		var ids []envelope.ID
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		slices.SortFunc(ids, func(a, b envelope.ID) int { return bytes.Compare(a[:], b[:]) })
		return ids
	}
	equal(t, "ExpiredEnvelopes", expired(100), set(old, older, recent))
	got := expired(2)
	if len(got) != 2 {
		t.Errorf("ExpiredEnvelopes limit 2: got %d", len(got))
	}
	for _, id := range got {
		if !slices.Contains(set(old, older, recent), id) {
			t.Errorf("ExpiredEnvelopes limit 2: %s is not expired", id)
		}
	}

	// The sweeper destroys a key; an admin makes another envelope expire.
	_, err := s.UpdateEnvelope(ctx, old.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.WrappedKey, r.Expired = nil, now
		return []keyserver.AuditEvent{event("key.expire", 1)}, nil
	})
	noErr(t, "UpdateEnvelope destroy key", err)
	_, err = s.UpdateEnvelope(ctx, never.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Expires = at(-time.Second)
		return nil, nil
	})
	noErr(t, "UpdateEnvelope set Expires", err)
	equal(t, "ExpiredEnvelopes after updates", expired(100), set(older, recent, never))
}

// testListEnvelopesOverDays checks ListEnvelopes against a model (filter, sort
// newest first then greatest id, page, limit) on envelopes spread over months,
// with some at UTC midnight and a nanosecond either side of it, some before
// 1970, and queries whose bounds fall on those instants: a store that
// partitions its indexes by time must not lose or repeat one at a boundary.
func testListEnvelopesOverDays(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	rng := mrand.New(mrand.NewPCG(1, 2))
	senders := []string{"al@x.io", "al@x.io.example", "bo@x.io"}
	recipients := []string{"cy@x.io", "di@x.io", "ed@x.io", "bo@x.io"}
	midnight := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	var instants []time.Time
	for d := -40; d <= 40; d += 3 {
		day := midnight.AddDate(0, 0, d)
		instants = append(instants, day, day.Add(-1), day.Add(1), day.Add(13*time.Hour+time.Duration(rng.IntN(3600))*time.Second))
	}
	instants = append(instants,
		time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1960, 6, 1, 12, 0, 0, 0, time.FixedZone("EST", -5*3600)), at(0))
	var recs []keyserver.EnvelopeRecord
	for i := range 150 {
		created := instants[rng.IntN(len(instants))]
		if i%5 == 0 {
			created = created.In(base.Location()) // the same instant in another zone
		}
		recs = append(recs, record(senders[rng.IntN(len(senders))], recipients[rng.IntN(len(recipients))], created))
	}
	register(t, s, recs[:70]...)
	register(t, s, recs[70:]...)

	newestFirst := func(a, b keyserver.EnvelopeRecord) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	}
	model := func(q keyserver.EnvelopeQuery) []keyserver.EnvelopeRecord {
		var out []keyserver.EnvelopeRecord
		for _, r := range recs {
			switch {
			case q.Sender != "" && r.Sender != q.Sender,
				q.Recipient != "" && r.Recipient != q.Recipient,
				!q.Since.IsZero() && r.Created.Before(q.Since),
				!q.Until.IsZero() && !r.Created.Before(q.Until),
				q.After != nil && newestFirst(keyserver.EnvelopeRecord{Created: q.After.Created, ID: q.After.ID}, r) >= 0:
				continue
			}
			out = append(out, r)
		}
		slices.SortFunc(out, newestFirst)
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return out
	}
	pickAddr := func(addrs []string) string {
		switch n := rng.IntN(len(addrs) + 2); {
		case n < len(addrs):
			return addrs[n]
		case n == len(addrs):
			return "nobody@x.io"
		}
		return ""
	}
	pickTime := func() time.Time {
		if rng.IntN(3) == 0 {
			return time.Time{}
		}
		return instants[rng.IntN(len(instants))].Add(time.Duration(rng.IntN(3)-1) * time.Nanosecond)
	}
	for i := range 150 {
		q := keyserver.EnvelopeQuery{
			Sender: pickAddr(senders), Recipient: pickAddr(recipients),
			Since: pickTime(), Until: pickTime(), Limit: []int{0, 1, 4, 25}[rng.IntN(4)],
		}
		if rng.IntN(2) == 0 {
			q.After = keyserver.CursorOf(&recs[rng.IntN(len(recs))])
		}
		got, err := s.ListEnvelopes(ctx, q)
		noErr(t, "ListEnvelopes", err)
		if want := model(q); !slices.EqualFunc(got, want, func(a, b keyserver.EnvelopeRecord) bool { return a.ID == b.ID }) {
			t.Fatalf("query %d, ListEnvelopes(%+v):\n got %d: %v\nwant %d: %v", i, q, len(got), ids(got), len(want), ids(want))
		}
	}
}

func ids(recs []keyserver.EnvelopeRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID.String()[:6]+"@"+r.Created.UTC().Format(time.RFC3339Nano))
	}
	return out
}
