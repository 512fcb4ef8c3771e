package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// mail has every field set but ID, which the store assigns.
func mail(n int, nextAttempt time.Time) keyserver.OutboxMail {
	return keyserver.OutboxMail{
		From:        "waxseal@example.com",
		To:          []string{fmt.Sprintf("r%d@example.org", n), "cc@example.org"},
		Message:     []byte(fmt.Sprintf("From: waxseal@example.com\r\nSubject: %d\r\n\r\nbody\r\n", n)),
		Created:     at(-time.Hour + time.Duration(n)*time.Second),
		Attempts:    n,
		NextAttempt: nextAttempt,
		LastError:   fmt.Sprintf("451 try again %d", n),
	}
}

func enqueue(t *testing.T, s keyserver.Store, m keyserver.OutboxMail) keyserver.OutboxMail {
	t.Helper()
	id, err := s.EnqueueMail(t.Context(), m)
	noErr(t, "EnqueueMail", err)
	m.ID = id
	return m
}

func depth(t *testing.T, s keyserver.Store) int {
	t.Helper()
	n, err := s.OutboxDepth(t.Context())
	noErr(t, "OutboxDepth", err)
	return n
}

func testOutbox(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	if n := depth(t, s); n != 0 {
		t.Errorf("OutboxDepth of an empty store = %d", n)
	}
	var mails []keyserver.OutboxMail
	for i := range 5 {
		m := enqueue(t, s, mail(i+1, at(0)))
		if i > 0 && m.ID <= mails[i-1].ID {
			t.Errorf("EnqueueMail: id %d after %d, want increasing", m.ID, mails[i-1].ID)
		}
		mails = append(mails, m)
	}
	if n := depth(t, s); n != 5 {
		t.Errorf("OutboxDepth = %d, want 5", n)
	}
	due, err := s.DueMail(ctx, at(0), 10)
	noErr(t, "DueMail", err)
	equal(t, "DueMail", due, mails)

	// A failed attempt is retried later.
	retry := mails[1]
	retry.Attempts++
	retry.NextAttempt = at(time.Hour)
	retry.LastError = "421 busy"
	noErr(t, "UpdateMail", s.UpdateMail(ctx, retry))
	due, err = s.DueMail(ctx, at(0), 10)
	noErr(t, "DueMail", err)
	equal(t, "DueMail after a retry was put off", due, []keyserver.OutboxMail{mails[0], mails[2], mails[3], mails[4]})
	due, err = s.DueMail(ctx, at(time.Hour), 10)
	noErr(t, "DueMail", err)
	equal(t, "DueMail when the retry is due", due, []keyserver.OutboxMail{mails[0], retry, mails[2], mails[3], mails[4]})

	noErr(t, "DeleteMail", s.DeleteMail(ctx, mails[0].ID))
	noErr(t, "DeleteMail", s.DeleteMail(ctx, mails[3].ID))
	noErr(t, "DeleteMail again", s.DeleteMail(ctx, mails[3].ID))
	if n := depth(t, s); n != 3 {
		t.Errorf("OutboxDepth = %d, want 3", n)
	}
	due, err = s.DueMail(ctx, at(2*time.Hour), 10)
	noErr(t, "DueMail", err)
	equal(t, "DueMail after deletes", due, []keyserver.OutboxMail{retry, mails[2], mails[4]})

	wantErr(t, "UpdateMail of a deleted mail", s.UpdateMail(ctx, mails[0]), keyserver.ErrNotFound)
	if n := depth(t, s); n != 3 {
		t.Errorf("OutboxDepth after UpdateMail of a deleted mail = %d, want 3", n)
	}

	// Ids are not reused.
	m := enqueue(t, s, mail(9, at(0)))
	if m.ID <= mails[4].ID {
		t.Errorf("EnqueueMail after deletes: id %d, want above %d", m.ID, mails[4].ID)
	}
}

func testDueMail(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	now := at(0)
	// Enqueue order differs from NextAttempt order: oldest first means the order
	// mail was enqueued.
	m1 := enqueue(t, s, mail(1, at(-time.Minute)))
	enqueue(t, s, mail(2, at(time.Nanosecond))) // due a nanosecond too late
	m3 := enqueue(t, s, mail(3, at(-time.Hour)))
	m4 := enqueue(t, s, mail(4, now))
	m5 := enqueue(t, s, mail(5, at(-2*time.Hour)))

	due, err := s.DueMail(ctx, now, 100)
	noErr(t, "DueMail", err)
	equal(t, "DueMail", due, []keyserver.OutboxMail{m1, m3, m4, m5})
	due, err = s.DueMail(ctx, now, 2)
	noErr(t, "DueMail limit 2", err)
	equal(t, "DueMail limit 2", due, []keyserver.OutboxMail{m1, m3})
	due, err = s.DueMail(ctx, at(-90*time.Minute), 100)
	noErr(t, "DueMail earlier", err)
	equal(t, "DueMail earlier", due, []keyserver.OutboxMail{m5})
}
