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
	"unicode/utf8"

	"github.com/waxseal/waxseal/locale"
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

// queueMail puts a message in the durable outbox and wakes the sender; l is
// the mail's language, the brand footer's words included.
func (s *Service) queueMail(ctx context.Context, l *locale.Locale, to, subject, body string) error {
	now := s.now()
	footer := s.cfg.Brand.TextFooterIn(l.T("brand.help_desk"), l.T("brand.privacy"))
	msg := composeMail(s.cfg.MailFrom, to, subject, body+footer, now, s.host())
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
	l := s.mailLocale(ctx, email)
	var subject, intro string
	switch purpose {
	case CodeRegister:
		subject, intro = l.T("mail.code_register_subject"), l.T("mail.code_register_intro")
	case CodeSignIn:
		subject, intro = l.T("mail.code_signin_subject"), l.T("mail.code_signin_intro")
	case CodeReset:
		subject, intro = l.T("mail.code_reset_subject"), l.T("mail.code_reset_intro")
	}
	body := fmt.Sprintf("%s\n\n    %s\n\n%s\n%s\n%s\n",
		intro, code, l.T("mail.code_valid", "Valid", Duration(l, s.cfg.CodeTTL)),
		l.T("mail.code_only_on", "URL", s.cfg.PublicURL), l.T("mail.code_nobody"))
	if err := s.queueMail(ctx, l, email, subject+": "+code, body); err != nil {
		return err
	}
	s.metrics.codesSent.Add(1)
	return nil
}

// Duration says d in l's words: whole minutes, or seconds when it is not a
// whole number of them (plural forms from the catalog).
func Duration(l *locale.Locale, d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return l.T("duration.minutes", "Count", int(d/time.Minute))
	}
	return l.T("duration.seconds", "Count", int(d/time.Second))
}

// queueReceipt tells the sender when their message was first opened, in the
// sender's language, with times in the organisation's time zone.
// Only to the organisation's own addresses: a receipt names the reader and
// the subject.
func (s *Service) queueReceipt(ctx context.Context, rec EnvelopeRecord, reader *Account, at time.Time) error {
	if s.roleFor(rec.Sender) != RoleSender {
		s.log.InfoContext(ctx, "no read receipt: the sender is not at the organisation's domains", "envelope", rec.ID.String())
		return nil
	}
	l := s.Locale(s.cfg.DefaultLanguage)
	if a, err := s.store.AccountByEmail(ctx, rec.Sender); err == nil && a.Language != "" {
		l = s.Locale(a.Language)
	}
	name := strings.TrimSpace(reader.FirstName + " " + reader.LastName)
	if name != "" {
		name = " (" + name + ")"
	}
	tz := s.cfg.TimeZone
	rows := [][2]string{
		{l.T("mail.receipt_recipient"), rec.Recipient + name},
		{l.T("mail.receipt_subject_label"), rec.Subject},
		{l.T("mail.receipt_sent"), l.Date(rec.Created.In(tz))},
		{l.T("mail.receipt_opened_at"), l.Date(at.In(tz))},
		{l.T("mail.receipt_id"), rec.ID.String()},
	}
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r[0]))
	}
	var b strings.Builder
	b.WriteString(l.T("mail.receipt_opened") + "\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s:%s %s\n", r[0], strings.Repeat(" ", width-utf8.RuneCountInString(r[0])), r[1])
	}
	return s.queueMail(ctx, l, rec.Sender, l.T("mail.receipt_subject", "Subject", rec.Subject), b.String())
}
