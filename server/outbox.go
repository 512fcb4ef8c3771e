package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server/policy"
)

// RemoteOutbox is a key server's outbox reached over its API, for a
// mailer.Drainer in the gateway: the drainer keeps its backoff and give-up rules,
// the key server its leases. Use it for key servers that cannot send mail.
type RemoteOutbox struct {
	c     *client.Client
	lease time.Duration

	mu     sync.Mutex
	leases map[uint64]string
}

var _ mailer.Outbox = (*RemoteOutbox)(nil)

// NewRemoteOutbox leases mail for lease at a time (default 2 minutes): longer
// than a batch takes to send.
func NewRemoteOutbox(c *client.Client, lease time.Duration) *RemoteOutbox {
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	return &RemoteOutbox{c: c, lease: lease, leases: map[uint64]string{}}
}

// DueMail leases due mail.
func (o *RemoteOutbox) DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error) {
	leased, err := o.c.LeaseMail(ctx, limit, o.lease)
	if err != nil {
		return nil, fmt.Errorf("lease outbox mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]keyserver.OutboxMail, len(leased))
	for i, m := range leased {
		o.leases[m.ID] = m.Lease
		out[i] = keyserver.OutboxMail(m.OutboxMail)
	}
	return out, nil
}

func (o *RemoteOutbox) take(id uint64) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.leases[id]
	delete(o.leases, id)
	return l
}

// UpdateMail reports a failed attempt.
func (o *RemoteOutbox) UpdateMail(ctx context.Context, m keyserver.OutboxMail) error {
	return o.c.MailRetry(ctx, m.ID, o.take(m.ID), m.Attempts, m.NextAttempt, m.LastError)
}

// DeleteMail reports a mail sent or given up.
func (o *RemoteOutbox) DeleteMail(ctx context.Context, id uint64) error {
	return o.c.MailDone(ctx, id, o.take(id))
}

// OutboxDepth asks the key server.
func (o *RemoteOutbox) OutboxDepth(ctx context.Context) (int, error) { return o.c.OutboxDepth(ctx) }

// OutboxSender sends the key server's mail through the gateway's relay (and its
// plaintext check), for a mailer.Drainer over a RemoteOutbox.
func (g *Gateway) OutboxSender() mailer.Sender { return outboxSender{g} }

type outboxSender struct{ g *Gateway }

func (s outboxSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	// Codes and receipts to a forced-TLS or secure-channel domain go over TLS too.
	requireTLS := false
	for _, d := range s.g.policy.Decide(from, to, "").Decisions {
		requireTLS = requireTLS || d.Action == policy.TLS
	}
	return s.g.relay(ctx, delivery{from: from, to: to, msg: msg, requireTLS: requireTLS, kind: kindOutbox})
}
