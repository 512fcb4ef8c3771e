package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Notices go to internal senders only: they name recipients, subjects and
// attachments, which must not travel in plaintext to an outside address. They
// are plain text (nothing in them is ever interpreted as markup) and sent from
// the null sender, so a notice that cannot be delivered never makes another.

// confirm tells the sender their message went out sealed.
func (g *Gateway) confirm(ctx context.Context, p *plan) {
	now := g.cfg.Now()
	var b strings.Builder
	b.WriteString(g.say("notice.sent_intro") + "\n\n")
	labelled(&b, [][2]string{
		{g.say("notice.subject"), printable(p.result.Clean, 300)},
		{g.say("notice.sent"), g.date(now)},
	})
	b.WriteString("\n")
	switch {
	case p.result.Content != nil && p.result.Content.Notify:
		// The rule's name, never what it matched.
		b.WriteString(g.say("notice.content_rule", "Rule", fmt.Sprintf("%q", printable(p.result.Content.Rule, 100))) + "\n\n")
	case p.result.Secure:
		b.WriteString(g.say("notice.answers_secure") + "\n\n")
	}
	b.WriteString(g.say("notice.recipients") + ":\n")
	for _, d := range p.result.Decisions {
		how := g.say("notice.how_plain")
		switch d.Action {
		case "envelope":
			how = g.say("notice.how_envelope", "URL", g.cfg.KeyServerURL)
		case "tls":
			how = g.say("notice.how_tls")
		}
		switch {
		case p.refused[d.Recipient]:
			how = g.say("notice.how_refused")
		case p.queued[d.Recipient]:
			how += "; " + g.say("notice.how_queued")
		}
		fmt.Fprintf(&b, "  %s: %s\n", printable(d.Recipient, 200), how)
	}
	if len(p.parsed.attachments) > 0 {
		b.WriteString("\n" + g.say("notice.attachments") + ":\n")
		for _, a := range p.parsed.attachments {
			fmt.Fprintf(&b, "  %s\n", a)
		}
	} else {
		b.WriteString("\n" + g.say("notice.attachments") + ": " + g.say("notice.attachments_none") + "\n")
	}
	b.WriteString("\n" + g.say("notice.withdraw", "URL", g.cfg.KeyServerURL) + "\n")
	g.notify(ctx, p.sender, g.say("notice.sent_subject", "Subject", p.result.Clean), b.String(), p.in.ID)
}

// bounce tells an internal sender why their message was refused. It names the
// message by when it came and to whom, never by anything in it (not even the
// subject): a refused message is one the gateway could not read as it should,
// and what it says goes nowhere but back to the sender's own client.
func (g *Gateway) bounce(ctx context.Context, in *Inbound, rej *rejection) {
	if in.From == "" || !g.policy.Internal(in.From) {
		return
	}
	when := g.date(g.cfg.Now())
	var b strings.Builder
	b.WriteString(g.say("notice.not_sent_intro") + "\n\n")
	// The SMTP reply says the reason in English; the sender reads it here in
	// the organisation's language.
	b.WriteString(g.say("notice.reason") + ": " + rej.say(g.cfg.Language) + ".\n\n")
	b.WriteString(g.say("notice.received", "Date", when, "Ref", in.ID) + "\n")
	b.WriteString(g.say("notice.recipients") + ":\n")
	for _, r := range in.To {
		fmt.Fprintf(&b, "  %s\n", printable(r, 200))
	}
	b.WriteString("\n" + g.say("notice.limits", "Message", formatSize(g.cfg.Language, g.cfg.MaxMessageBytes), "Attachment", formatSize(g.cfg.Language, g.cfg.MaxAttachmentBytes)) + "\n")
	b.WriteString(g.say("notice.send_again") + "\n")
	g.notify(ctx, in.From, g.say("notice.not_sent_subject", "Date", when), b.String(), in.ID)
}

// notifyFailure tells the sender a delivery failed for good: err is the last
// attempt's, gaveUp says the retries ran out (rather than a refusal), possibly
// that an attempt may have delivered it after all. The next hop's reply is
// given in its own words (nobody can translate them); anything else is said in
// the catalog's, with the technical detail labelled for whoever looks into it.
func (g *Gateway) notifyFailure(ctx context.Context, d delivery, err error, gaveUp, possibly bool) {
	if d.notify == "" {
		return
	}
	var b strings.Builder
	b.WriteString(g.say("notice.failed_intro") + "\n\n")
	for _, r := range d.to {
		fmt.Fprintf(&b, "  %s\n", printable(r, 200))
	}
	what := g.say("notice.failed_message")
	if d.kind == kindEnvelope {
		what = g.say("notice.failed_envelope")
	}
	b.WriteString("\n")
	labelled(&b, [][2]string{{g.say("notice.subject"), printable(d.subject, 300)}})
	fmt.Fprintf(&b, "\n%s\n", what)
	if gaveUp {
		fmt.Fprintf(&b, "  %s\n", g.say("notice.gave_up", "Duration", g.duration(g.cfg.GiveUpAfter)))
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		fmt.Fprintf(&b, "  %s\n", g.say("notice.hop_said", "Reply", printable(relayReply(err), 1000)))
	} else {
		fmt.Fprintf(&b, "  %s\n  %s: %s\n", g.say("notice.hop_failed"), g.say("notice.technical"), printable(err.Error(), 1000))
	}
	if possibly {
		fmt.Fprintf(&b, "  %s\n", g.say("notice.possibly_delivered"))
	}
	b.WriteString("\n" + g.say("notice.others") + "\n")
	g.notify(ctx, d.notify, g.say("notice.failed_subject", "Subject", d.subject), b.String(), "")
}

// duration says d in the organisation's language: whole hours, else minutes.
func (g *Gateway) duration(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return g.say("duration.hours", "Count", int(d/time.Hour))
	}
	return g.say("duration.minutes", "Count", int(d/time.Minute))
}

func (g *Gateway) notify(ctx context.Context, to, subject, body, ref string) {
	subject = printable(subject, 300)
	msg := g.noticeMessage(to, subject, body+g.cfg.Brand.TextFooterIn(g.say("brand.help_desk"), g.say("brand.privacy")), ref)
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
