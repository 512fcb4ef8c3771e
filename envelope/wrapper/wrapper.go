// Package wrapper writes the mail that carries a waxseal envelope to its recipient:
// a short notice and the envelope attached as securedoc_YYYYMMDDTHHMMSS.html.
// It is apart from package envelope so that the browser decryptor, which only opens
// envelopes, does not link a mail writer.
package wrapper

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
)

// Options shape the wrapper mail that carries an envelope to its recipient.
type Options struct {
	// Online adds the "open online" link (KEYSERVER/e/ID#k=K_ENV) to the notice, for
	// phones and webmail that cannot open HTML attachments. Set it only when the
	// ciphertext was stored at the key server.
	Online bool
	// MessageID is the Message-ID header without angle brackets; a random one on the
	// key server's host is made when empty.
	MessageID string
	// Date is the Date header; the envelope's creation time when zero.
	Date time.Time
	// Reply adds ReplySentence to the notice: set it where recipients can reply
	// securely (the organisation has a reply key), so that a patient does not
	// press Reply in their mail client and write to the sender in plaintext.
	Reply bool
	// ReplyTo, if set, is the Reply-To header: where a reply from the mail
	// client goes instead of the sender (for example a monitored address whose
	// auto-answer explains secure reply).
	ReplyTo *mail.Address
	// From, if set, is the mail's From instead of the envelope's sender: the
	// organisation's system sender for what it sends on someone else's behalf
	// (a recipient's secure reply), whose own domain's DMARC policy would have
	// the receiving provider refuse mail From: them sent by the organisation's
	// servers. The notice still names the envelope's sender.
	From *mail.Address
	// Brand is the organisation's: its name, help desk and footer end the
	// notice, and securedoc.html shows them with its logo. nil: none.
	Brand *brand.Brand
	// Say, if set, says the notice's sentences in the organisation's language:
	// a message catalog's lookup (locale.Locale.T: an id, then name/value
	// pairs for its {{.Name}} slots). nil: English, as English says.
	Say func(id string, args ...any) string
	// Words are securedoc.html's sentences in the same language; nil: English.
	Words *envelope.Words
}

// English are the notice's sentences without a catalog, by catalog id; the
// shipped English catalog says the same (a test keeps them equal).
var English = map[string]string{
	"wrapper.received":      "You have received a secure message from {{.From}}.",
	"wrapper.subject":       "Subject",
	"wrapper.open_file":     "To read it, open the attached file {{.File}} and select {{.Open}}.",
	"wrapper.open":          "Open",
	"wrapper.save_first":    "For best results, save the file first, then open it in a web browser.",
	"wrapper.online_before": "If the attachment does not open (for example on a phone),",
	"wrapper.online_link":   "open the message online",
	"wrapper.reply":         ReplySentence,
	"wrapper.signin":        "You sign in on {{.URL}}. The first time, you register with your name and a code sent to this address.",
	"wrapper.no_password":   "The attachment never asks for your password.",
	"brand.help_desk":       brand.WordHelpDesk,
	"brand.privacy":         brand.WordPrivacy,
}

// english says id from English, filling {{.Name}} slots from args.
func english(id string, args ...any) string {
	s, ok := English[id]
	if !ok {
		return id
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{{."+fmt.Sprint(args[i])+"}}", fmt.Sprint(args[i+1]))
	}
	return s
}

// ReplySentence is what the notice says about replying when Options.Reply is set.
const ReplySentence = "To reply securely, open the message and select Reply."

// Write writes the wrapper mail for an envelope: From the sender, To the
// recipient, the subject from the header, a short plain and HTML notice, and the
// envelope attached as securedoc_YYYYMMDDTHHMMSS.html (text/html, us-ascii, 7bit).
// Line ends are CRLF, as SMTP wants them; nothing is base64-encoded twice.
func Write(w io.Writer, e *envelope.Envelope, envKey envelope.Key, ciphertext io.Reader, opt Options) error {
	h := &e.Header
	from, err := mail.ParseAddress(h.From)
	if err != nil {
		return fmt.Errorf("wrapper mail for %s: from %q: %w", h.ID, h.From, err)
	}
	if opt.From != nil {
		from = opt.From
	}
	to, err := mail.ParseAddress(h.To)
	if err != nil {
		return fmt.Errorf("wrapper mail for %s: to %q: %w", h.ID, h.To, err)
	}
	host := "waxseal.invalid"
	if u, err := url.Parse(h.KeyServer); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	msgID := opt.MessageID
	if msgID == "" {
		msgID = h.ID.String() + "." + randomToken() + "@" + host
	}
	date := opt.Date
	if date.IsZero() {
		date = h.Created
	}
	mixed := "waxseal-mixed-" + randomToken()
	alt := "waxseal-alt-" + randomToken()

	bw := bufio.NewWriterSize(w, 64<<10)
	header := [][2]string{
		{"From", headerAddress(from)},
		{"To", headerAddress(to)},
		{"Subject", mime.QEncoding.Encode("utf-8", h.Subject)},
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", "<" + msgID + ">"},
	}
	if opt.ReplyTo != nil {
		header = append(header, [2]string{"Reply-To", headerAddress(opt.ReplyTo)})
	}
	header = append(header, [][2]string{
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/mixed; boundary="` + mixed + `"`},
		{"X-Waxseal-Envelope", h.ID.String()},
	}...)
	for _, kv := range header {
		fmt.Fprintf(bw, "%s: %s\r\n", kv[0], foldHeader(kv[0], kv[1]))
	}
	fmt.Fprintf(bw, "\r\nThis is a secure message in MIME format.\r\n")

	online := ""
	if opt.Online {
		online = h.OnlineURL() + "#k=" + envelope.EncodeKey(envKey)
	}
	fmt.Fprintf(bw, "\r\n--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", mixed, alt)
	say := opt.Say
	if say == nil {
		say = english
	}
	text := noticeText(say, h, online, opt.Reply) + opt.Brand.TextFooterIn(say("brand.help_desk"), say("brand.privacy"))
	if err := writeQPPart(bw, alt, "text/plain", text); err != nil {
		return fmt.Errorf("wrapper mail for %s: %w", h.ID, err)
	}
	if err := writeQPPart(bw, alt, "text/html", noticeHTML(say, h, online, opt.Reply, opt.Brand.HTMLFooterIn(say("brand.help_desk"), say("brand.privacy")))); err != nil {
		return fmt.Errorf("wrapper mail for %s: %w", h.ID, err)
	}
	fmt.Fprintf(bw, "--%s--\r\n", alt)

	name := h.FileName()
	fmt.Fprintf(bw, "\r\n--%s\r\n", mixed)
	fmt.Fprintf(bw, "Content-Type: text/html; charset=us-ascii; name=\"%s\"\r\n", name)
	fmt.Fprintf(bw, "Content-Transfer-Encoding: 7bit\r\n")
	fmt.Fprintf(bw, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", name)
	if opt.Online && !e.Online {
		// The link in the notice and the file's script lead to the same copy.
		online := *e
		online.Online = true
		e = &online
	}
	if err := e.WriteLocalHTML(bw, envKey, ciphertext, opt.Brand.Securedoc(), opt.Words); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\r\n--%s--\r\n", mixed)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("wrapper mail for %s: %w", h.ID, err)
	}
	return nil
}

// headerAddress formats an address for a header: "Name" <addr>, or a bare addr.
func headerAddress(a *mail.Address) string {
	if a.Name != "" {
		return a.String()
	}
	return strings.TrimSuffix(strings.TrimPrefix(a.String(), "<"), ">")
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// foldHeader folds long encoded headers at spaces so lines stay under 78 characters
// where they can.
func foldHeader(name, value string) string {
	if len(name)+2+len(value) <= 76 {
		return value
	}
	var sb strings.Builder
	col := len(name) + 2
	for i, word := range strings.Split(value, " ") {
		if i > 0 {
			if col+1+len(word) > 76 {
				sb.WriteString("\r\n ")
				col = 1
			} else {
				sb.WriteByte(' ')
				col++
			}
		}
		sb.WriteString(word)
		col += len(word)
	}
	return sb.String()
}

func writeQPPart(w io.Writer, boundary, contentType, body string) error {
	fmt.Fprintf(w, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, contentType)
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, strings.ReplaceAll(body, "\n", "\r\n")); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n")
	return err
}

func noticeText(say func(string, ...any) string, h *envelope.Header, online string, reply bool) string {
	var sb strings.Builder
	sb.WriteString(say("wrapper.received", "From", h.From) + "\n\n")
	sb.WriteString(say("wrapper.subject") + ": " + h.Subject + "\n\n")
	sb.WriteString(say("wrapper.open_file", "File", h.FileName(), "Open", say("wrapper.open")) + "\n")
	sb.WriteString(say("wrapper.save_first") + "\n")
	if online != "" {
		sb.WriteString("\n" + say("wrapper.online_before") + " " + say("wrapper.online_link") + ":\n" + online + "\n")
	}
	if reply {
		sb.WriteString("\n" + say("wrapper.reply") + "\n")
	}
	sb.WriteString("\n" + say("wrapper.signin", "URL", h.KeyServer) + "\n")
	sb.WriteString(say("wrapper.no_password") + "\n")
	return sb.String()
}

func noticeHTML(say func(string, ...any) string, h *envelope.Header, online string, reply bool, footer string) string {
	e := html.EscapeString
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n")
	sb.WriteString("<p>" + e(say("wrapper.received", "From", h.From)) + "</p>\n")
	sb.WriteString("<p><strong>" + e(say("wrapper.subject")) + ":</strong> " + e(h.Subject) + "</p>\n")
	// The file's name and the button's word in bold: the sentence is escaped
	// with slots in it, then the slots filled with escaped values.
	open := e(say("wrapper.open_file", "File", "\x00file\x00", "Open", "\x00open\x00"))
	open = strings.NewReplacer("\x00file\x00", "<strong>"+e(h.FileName())+"</strong>",
		"\x00open\x00", "<strong>"+e(say("wrapper.open"))+"</strong>").Replace(open)
	sb.WriteString("<p>" + open + "\n")
	sb.WriteString(e(say("wrapper.save_first")) + "</p>\n")
	if online != "" {
		sb.WriteString("<p>" + e(say("wrapper.online_before")) + "\n<a href=\"" + e(online) + "\">" + e(say("wrapper.online_link")) + "</a>.</p>\n")
	}
	if reply {
		sb.WriteString("<p>" + e(say("wrapper.reply")) + "</p>\n")
	}
	sb.WriteString("<p>" + e(say("wrapper.signin", "URL", h.KeyServer)) + "\n")
	sb.WriteString(e(say("wrapper.no_password")) + "</p>\n" + footer + "</body></html>\n")
	return sb.String()
}
