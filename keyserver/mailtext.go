package keyserver

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// composeMail builds a plain-text RFC 5322 message with CRLF line ends.
func composeMail(from, to, subject, body string, date time.Time, msgIDHost string) []byte {
	var b bytes.Buffer
	addr := func(s string) string {
		if a, err := mail.ParseAddress(s); err == nil {
			return a.String()
		}
		return s
	}
	fmt.Fprintf(&b, "From: %s\r\n", addr(from))
	fmt.Fprintf(&b, "To: %s\r\n", addr(to))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomHex(16), msgIDHost)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n")
	b.WriteString("Auto-Submitted: auto-generated\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}

func (s *Service) host() string {
	h := strings.TrimPrefix(strings.TrimPrefix(s.cfg.PublicURL, "https://"), "http://")
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return h
}

// queueMail puts a message in the durable outbox and wakes the sender.
func (s *Service) queueMail(ctx context.Context, to, subject, body string) error {
	now := s.now()
	msg := composeMail(s.cfg.MailFrom, to, subject, body+s.cfg.Brand.TextFooter(), now, s.host())
	from := s.cfg.MailFrom
	if a, err := mail.ParseAddress(from); err == nil {
		from = a.Address
	}
	if _, err := s.store.EnqueueMail(ctx, OutboxMail{From: from, To: []string{to}, Message: msg, Created: now, NextAttempt: now}); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	if s.kick != nil {
		s.kick()
	}
	return nil
}

func (s *Service) queueCode(ctx context.Context, email string, purpose CodePurpose, code string) error {
	var subject, intro string
	switch purpose {
	case CodeRegister:
		subject, intro = "Your registration code", "Use this code to confirm your email address and finish registering for secure messages (if you have registered already, it signs you in):"
	case CodeSignIn:
		subject, intro = "Your sign-in code", "Use this code to sign in and read your secure messages:"
	case CodeReset:
		subject, intro = "Your password reset code", "Use this code to choose a new password for your secure message account:"
	}
	body := fmt.Sprintf("%s\n\n    %s\n\nThe code is valid for %d minutes and can be used once.\n"+
		"Enter it only on %s. If you did not ask for it, ignore this mail:\nnobody can sign in without the code.\n",
		intro, code, int(s.cfg.CodeTTL.Minutes()), s.cfg.PublicURL)
	if err := s.queueMail(ctx, email, subject+": "+code, body); err != nil {
		return err
	}
	s.metrics.codesSent.Add(1)
	return nil
}

// queueReceipt tells the sender when their message was first opened.
// Only to the organisation's own addresses: a receipt names the reader and
// the subject.
func (s *Service) queueReceipt(ctx context.Context, rec EnvelopeRecord, reader *Account, at time.Time) error {
	if s.roleFor(rec.Sender) != RoleSender {
		s.log.InfoContext(ctx, "no read receipt: the sender is not at the organisation's domains", "envelope", rec.ID.String())
		return nil
	}
	name := strings.TrimSpace(reader.FirstName + " " + reader.LastName)
	if name != "" {
		name = " (" + name + ")"
	}
	body := fmt.Sprintf("Your secure message was opened.\n\n"+
		"Recipient: %s%s\nSubject:   %s\nSent:      %s\nOpened:    %s\nMessage id: %s\n",
		rec.Recipient, name, rec.Subject, rec.Created.UTC().Format(envelope.DateLayout),
		at.UTC().Format(envelope.DateLayout), rec.ID)
	return s.queueMail(ctx, rec.Sender, "Read: "+rec.Subject, body)
}
