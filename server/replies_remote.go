package server

import (
	"context"
	"net/mail"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
)

// RemoteReplies is the key server's reply queue over its API: the ReplySource
// of a gateway's ReplyDeliverer.
type RemoteReplies struct{ c *client.Client }

var (
	_ ReplySource   = RemoteReplies{}
	_ ReplyReporter = RemoteReplies{}
)

// NewRemoteReplies uses c, which holds the gateway token.
func NewRemoteReplies(c *client.Client) RemoteReplies { return RemoteReplies{c} }

// LeaseReplies leases a batch in one round trip.
func (r RemoteReplies) LeaseReplies(ctx context.Context, limit int, lease time.Duration) ([]PendingReply, error) {
	leased, err := r.c.LeaseReplies(ctx, limit, lease)
	if err != nil {
		return nil, err
	}
	out := make([]PendingReply, len(leased))
	for i, l := range leased {
		out[i] = PendingReply{
			ID: l.ID, Lease: l.Lease, EnvelopeID: l.Envelope.String(), Kind: l.Kind, ForwardTo: l.ForwardTo,
			From:     mail.Address{Name: l.Name, Address: l.From},
			Original: ReplyOriginal{From: l.OriginalSender, Subject: l.OriginalSubject},
			Context:  l.Context,
			Sealed:   l.Sealed,
		}
	}
	return out, nil
}

// AckReply reports a reply delivered.
func (r RemoteReplies) AckReply(ctx context.Context, id, lease string) error {
	return r.c.ReplyDone(ctx, id, lease)
}

// FailReply reports a reply that can never be delivered.
func (r RemoteReplies) FailReply(ctx context.Context, id, lease, reason string) error {
	return r.c.ReplyFailed(ctx, id, lease, reason)
}

// ReportReplies reports a batch in one round trip.
func (r RemoteReplies) ReportReplies(ctx context.Context, reports []ReplyReport) ([]string, error) {
	rs := make([]keyserver.ReplyReport, len(reports))
	for i, x := range reports {
		rs[i] = keyserver.ReplyReport{ID: x.ID, Lease: x.Lease, Reason: x.Reason}
	}
	return r.c.ReportReplies(ctx, rs)
}
