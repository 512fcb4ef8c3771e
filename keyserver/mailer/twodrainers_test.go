package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
)

// sendLog counts the sends of each message, for several senders.
type sendLog struct {
	mu   sync.Mutex
	sent map[string]int
}

// countingSender records its sends in log; its first send waits for hold to
// close, if hold is set, having closed began.
type countingSender struct {
	log         *sendLog
	hold, began chan struct{}
	once        sync.Once
}

func (c *countingSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if c.hold != nil {
		c.once.Do(func() {
			close(c.began)
			<-c.hold
		})
	}
	c.log.mu.Lock()
	c.log.sent[string(msg)]++
	c.log.mu.Unlock()
	return nil
}

// TestTwoDrainersSendOnce: two drainers on one store (two key server nodes
// for a moment, or a leader and its successor) never send a mail twice: while
// one is sending its batch, the other finds none of it due. (Reading the due
// mails instead of leasing them, the second sent the whole batch again.)
func TestTwoDrainersSendOnce(t *testing.T) {
	ctx := t.Context()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "waxseal.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := st.EnqueueMail(ctx, keyserver.OutboxMail{From: "keys@hospital.example", To: []string{"r@example.org"},
			Message: []byte(fmt.Sprintf("Subject: %d\r\n\r\n", i)), Created: now, NextAttempt: now}); err != nil {
			t.Fatal(err)
		}
	}
	log := &sendLog{sent: map[string]int{}}
	slow := &countingSender{log: log, hold: make(chan struct{}), began: make(chan struct{})}
	fast := &countingSender{log: log}
	cfg := DrainerConfig{Batch: 10, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	d1, d2 := NewDrainer(st, slow, cfg), NewDrainer(st, fast, cfg)
	done := make(chan error)
	go func() {
		_, _, err := d1.DrainOnce(ctx)
		done <- err
	}()
	<-slow.began // d1 holds its batch, sending the first mail
	if sentNow, _, err := d2.DrainOnce(ctx); err != nil || sentNow != 0 {
		t.Errorf("the second drainer sent %d mails (%v) while the first held them", sentNow, err)
	}
	close(slow.hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.sent) != 10 {
		t.Errorf("%d of 10 mails sent", len(log.sent))
	}
	for m, n := range log.sent {
		if n != 1 {
			t.Errorf("%q sent %d times", m, n)
		}
	}
	if n, err := st.OutboxDepth(ctx); err != nil || n != 0 {
		t.Errorf("outbox depth %d, %v", n, err)
	}
}
