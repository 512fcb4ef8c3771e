package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// Notices go to internal senders only: they name recipients, subjects and
// attachments, which must not travel in plaintext to an outside address. They
// are plain text (nothing in them is ever interpreted as markup) and sent from
// the null sender, so a notice that cannot be delivered never makes another.

// confirm tells the sender their message went out sealed.
func (g *Gateway) confirm(ctx context.Context, p *plan) {
	now := g.cfg.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "Your message was sent securely.\n\n")
	fmt.Fprintf(&b, "Subject:  %s\n", printable(p.result.Clean, 300))
	fmt.Fprintf(&b, "Sent:     %s\n\n", now.Format(envelope.DateLayout))
	switch {
	case p.result.Content != nil && p.result.Content.Notify:
		// The rule's name, never what it matched.
		fmt.Fprintf(&b, "It had no trigger in its subject, but it matched the content rule %q, so it was sealed.\n\n", printable(p.result.Content.Rule, 100))
	case p.result.Secure:
		fmt.Fprintf(&b, "It answers a message that was sent securely, so it was sealed too.\n\n")
	}
	b.WriteString("Recipients:\n")
	for _, d := range p.result.Decisions {
		how := "delivered as it is"
		switch d.Action {
		case "envelope":
			how = "secure envelope; they sign in on " + g.cfg.KeyServerURL + " to read it"
		case "tls":
			how = "delivered as it is over an encrypted connection"
		}
		switch {
		case p.refused[d.Recipient]:
			how = "NOT DELIVERED: the next hop refused it (see the separate notice)"
		case p.queued[d.Recipient]:
			how += "; queued, as the next hop did not take it yet: it is retried automatically"
		}
		fmt.Fprintf(&b, "  %s: %s\n", printable(d.Recipient, 200), how)
	}
	if len(p.parsed.attachments) > 0 {
		b.WriteString("\nAttachments:\n")
		for _, a := range p.parsed.attachments {
			fmt.Fprintf(&b, "  %s\n", a)
		}
	} else {
		b.WriteString("\nAttachments: none\n")
	}
	fmt.Fprintf(&b, "\nEach recipient has their own envelope. To withdraw one, revoke it under Sent items\n"+
		"(%s/sent, signed in with this address), or ask your administrator.\n", g.cfg.KeyServerURL)
	g.notify(ctx, p.sender, "Sent securely: "+p.result.Clean, b.String(), p.in.ID)
}

// bounce tells an internal sender why their message was refused. It names the
// message by when it came and to whom, never by anything in it (not even the
// subject): a refused message is one the gateway could not read as it should,
// and what it says goes nowhere but back to the sender's own client.
func (g *Gateway) bounce(ctx context.Context, in *Inbound, rej *rejection) {
	if in.From == "" || !g.policy.Internal(in.From) {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your message was not sent to anyone.\n\n")
	fmt.Fprintf(&b, "Reason: %s.\n\n", rej.reason)
	fmt.Fprintf(&b, "Received: %s (reference %s)\n", g.cfg.Now().Format(envelope.DateLayout), in.ID)
	fmt.Fprintf(&b, "Recipients:\n")
	for _, r := range in.To {
		fmt.Fprintf(&b, "  %s\n", printable(r, 200))
	}
	fmt.Fprintf(&b, "\nLimits: %s per message, %s per attachment.\n", formatSize(g.cfg.MaxMessageBytes), formatSize(g.cfg.MaxAttachmentBytes))
	b.WriteString("Please change the message and send it again.\n")
	g.notify(ctx, in.From, "Not sent: your message of "+g.cfg.Now().Format(envelope.DateLayout), b.String(), in.ID)
}

// notifyFailure tells the sender a delivery failed for good.
func (g *Gateway) notifyFailure(ctx context.Context, d delivery, reason string) {
	if d.notify == "" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your message could not be delivered to:\n\n")
	for _, r := range d.to {
		fmt.Fprintf(&b, "  %s\n", printable(r, 200))
	}
	what := "The message"
	if d.kind == kindEnvelope {
		what = "The secure envelope"
	}
	fmt.Fprintf(&b, "\nSubject:  %s\n\n%s was refused or could not be handed on:\n  %s\n", printable(d.subject, 300), what, printable(reason, 1000))
	b.WriteString("\nOther recipients, if any, are not affected.\n")
	g.notify(ctx, d.notify, "Delivery failed: "+d.subject, b.String(), "")
}

func (g *Gateway) notify(ctx context.Context, to, subject, body, ref string) {
	subject = printable(subject, 300)
	msg := g.noticeMessage(to, subject, body+g.cfg.Brand.TextFooter(), ref)
	d := delivery{from: "", to: []string{to}, msg: msg, kind: kindNotice}
	if err := g.relay(ctx, d); err != nil {
		g.log.WarnContext(ctx, "notice not relayed", "to", to, "error", err)
		if err := g.spool(d, err); err != nil {
			g.log.ErrorContext(ctx, "notice lost", "to", to, "error", err)
		}
	}
}

func (g *Gateway) noticeMessage(to, subject, body, ref string) []byte {
	var b bytes.Buffer
	now := g.cfg.Now()
	// Parsed and written again: a name that is not ASCII ("Clínica") must be
	// an RFC 2047 encoded word, as the configured string need not be.
	fmt.Fprintf(&b, "From: %s\r\n", g.notifyFrom.String())
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", newID()+newID(), g.cfg.Hostname)
	if ref != "" {
		fmt.Fprintf(&b, "X-Waxseal-Ref: %s\r\n", ref)
	}
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	io.WriteString(qp, strings.ReplaceAll(body, "\n", "\r\n"))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
