package server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	nettextproto "net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/internal/durable"
	"github.com/waxseal/waxseal/server/policy"
)

// Reply kinds, as the recipient chose them on the message page.
const (
	ReplyToSender = "reply"
	ReplyToAll    = "all"
	ReplyForward  = "forward"
)

// Forward policies (gateway config `forward`).
const (
	ForwardNone         = "none"
	ForwardOrganisation = "organisation"
	ForwardAny          = "any"
)

// PendingReply is one sealed reply leased from the key server, with the people
// from the key server's record. Nothing in it comes from the browser but Sealed
// (which the key server cannot read) and the kind and forward target it was
// asked for.
type PendingReply struct {
	ID, Lease  string
	EnvelopeID string
	Kind       string // ReplyToSender, ReplyToAll or ReplyForward
	ForwardTo  string // for ReplyForward
	// From is the replying recipient: their verified address and the name they
	// registered.
	From mail.Address
	// Original is the message replied to.
	Original ReplyOriginal
	// Context is the envelope's reply context as the gateway sealed it at
	// registration (nil for envelopes registered without one).
	Context []byte
	Sealed  []byte
}

// ReplyOriginal is what the key server recorded of the original message when the
// gateway registered its envelopes: its Message-ID and visible people. Bcc
// recipients are never in it.
type ReplyOriginal struct {
	MessageID  string
	References []string
	Wrapper    string // the Message-ID of the wrapper mail the recipient got
	Subject    string
	From       string   // the sender's address
	To, Cc     []string // the visible recipients
}

// ReplySource is the key server's queue of sealed replies (the key server's
// client implements it): leases as the outbox has them, so a gateway that dies
// leaves its replies to the next lease, and a reply is acknowledged only once
// the next hop took it or the spool holds it.
type ReplySource interface {
	LeaseReplies(ctx context.Context, limit int, lease time.Duration) ([]PendingReply, error)
	// AckReply reports a reply delivered; FailReply one that never can be (the
	// key server keeps the reason for the recipient's page).
	AckReply(ctx context.Context, id, lease string) error
	FailReply(ctx context.Context, id, lease, reason string) error
}

// ReplyReporter is a ReplySource that takes a whole batch's reports at once:
// the deliverer then reports each batch in one call after delivering it,
// instead of one AckReply or FailReply per reply.
type ReplyReporter interface {
	// ReportReplies reports each reply delivered (Reason "") or given up, and
	// returns the ids whose lease was lost.
	ReportReplies(ctx context.Context, reports []ReplyReport) (lost []string, err error)
}

// ReplyReport is one reply's outcome.
type ReplyReport struct {
	ID, Lease, Reason string
}

// ReplyConfig configures a ReplyDeliverer.
type ReplyConfig struct {
	Source ReplySource
	Keys   []reply.KeyPair // newest first (reply.LoadKeys)
	// Forward is ForwardNone, ForwardOrganisation (default) or ForwardAny.
	Forward string
	// LedgerDir holds one small file per reply being delivered (its Message-ID,
	// then that it was delivered), so a gateway killed between the next hop's
	// 250 and the key server's acknowledgement acknowledges instead of
	// delivering twice, and a retry reuses the Message-ID.
	LedgerDir string
	Batch     int           // replies per lease (default 20)
	Lease     time.Duration // default 2 minutes
	Interval  time.Duration // between polls (default 10s)
}

// ReplyDeliverer delivers recipients' sealed replies (DESIGN.md flow 5).
type ReplyDeliverer struct {
	g   *Gateway
	cfg ReplyConfig
	log *slog.Logger
	// afterDelivered, for tests, runs between the ledger's "delivered" and the
	// acknowledgement: where a crash must not deliver twice.
	afterDelivered func(id string)
}

// NewReplyDeliverer checks cfg and fills in defaults.
func (g *Gateway) NewReplyDeliverer(cfg ReplyConfig) (*ReplyDeliverer, error) {
	if cfg.Source == nil || len(cfg.Keys) == 0 || cfg.LedgerDir == "" {
		return nil, errors.New("reply deliverer: a source, reply keys and a ledger directory are required")
	}
	switch cfg.Forward {
	case "":
		cfg.Forward = ForwardOrganisation
	case ForwardNone, ForwardOrganisation, ForwardAny:
	default:
		return nil, fmt.Errorf("reply deliverer: forward = %q: want none, organisation or any", cfg.Forward)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 20
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if err := os.MkdirAll(cfg.LedgerDir, 0o700); err != nil {
		return nil, fmt.Errorf("reply ledger: %w", err)
	}
	return &ReplyDeliverer{g: g, cfg: cfg, log: g.log.With("part", "replies")}, nil
}

// Run delivers pending replies every Interval until ctx ends.
func (d *ReplyDeliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		for {
			n, err := d.DeliverOnce(ctx)
			if err != nil {
				d.log.WarnContext(ctx, "replies not fetched", "error", err)
			}
			if err != nil || n < d.cfg.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errPermanent marks a reply that can never be delivered.
type errPermanent struct{ reason string }

func (e *errPermanent) Error() string { return e.reason }

// DeliverOnce leases one batch (one key-server round trip), delivers it and
// reports it: in one more round trip for the whole batch when the source is a
// ReplyReporter (the key server), else reply by reply. It returns how many
// replies it leased.
func (d *ReplyDeliverer) DeliverOnce(ctx context.Context) (int, error) {
	batch, err := d.cfg.Source.LeaseReplies(ctx, d.cfg.Batch, d.cfg.Lease)
	if err != nil {
		return 0, fmt.Errorf("lease replies: %w", err)
	}
	reporter, batched := d.cfg.Source.(ReplyReporter)
	var reports []ReplyReport
	for i := range batch {
		r := &batch[i]
		log := d.log.With("reply", r.ID, "envelope", r.EnvelopeID, "kind", r.Kind)
		err := d.deliver(ctx, r)
		var perm *errPermanent
		switch {
		case err == nil && batched:
			reports = append(reports, ReplyReport{ID: r.ID, Lease: r.Lease})
			log.InfoContext(ctx, "reply delivered")
		case err == nil:
			if err := d.cfg.Source.AckReply(ctx, r.ID, r.Lease); err != nil {
				// The ledger says delivered: the next lease acknowledges it.
				log.WarnContext(ctx, "reply delivered, acknowledgement failed", "error", err)
				continue
			}
			d.forget(r.ID)
			log.InfoContext(ctx, "reply delivered")
		case errors.As(err, &perm):
			log.WarnContext(ctx, "reply refused", "reason", perm.reason)
			if batched {
				reports = append(reports, ReplyReport{ID: r.ID, Lease: r.Lease, Reason: perm.reason})
				continue
			}
			if err := d.cfg.Source.FailReply(ctx, r.ID, r.Lease, perm.reason); err != nil {
				log.WarnContext(ctx, "reply refusal not recorded", "error", err)
				continue
			}
			d.forget(r.ID)
		default:
			// Left to the lease: tried again once it runs out.
			log.WarnContext(ctx, "reply not delivered, will retry", "error", err)
		}
	}
	if len(reports) > 0 {
		lost, err := reporter.ReportReplies(ctx, reports)
		if err != nil {
			// The ledger says delivered: the next lease reports them again.
			d.log.WarnContext(ctx, "replies not reported", "count", len(reports), "error", err)
			return len(batch), nil
		}
		for _, x := range reports {
			if slices.Contains(lost, x.ID) {
				d.log.WarnContext(ctx, "reply report refused: lease lost", "reply", x.ID)
				continue
			}
			d.forget(x.ID)
		}
	}
	return len(batch), nil
}

// ledgerEntry is a reply's file in LedgerDir.
type ledgerEntry struct {
	MessageID string `json:"message_id"`
	Delivered bool   `json:"delivered"`
}

func (d *ReplyDeliverer) ledgerPath(id string) (string, error) {
	if id == "" || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return "", &errPermanent{"reply has an invalid id"}
	}
	return filepath.Join(d.cfg.LedgerDir, id+".json"), nil
}

func (d *ReplyDeliverer) readLedger(id string) (ledgerEntry, error) {
	var e ledgerEntry
	path, err := d.ledgerPath(id)
	if err != nil {
		return e, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("reply ledger %s: %w", path, err)
	}
	return e, nil
}

// writeLedger replaces a reply's ledger file atomically and durably.
func (d *ReplyDeliverer) writeLedger(id string, e ledgerEntry) error {
	path, err := d.ledgerPath(id)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	tmp, err := os.CreateTemp(d.cfg.LedgerDir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return durable.SyncDir(d.cfg.LedgerDir)
}

func (d *ReplyDeliverer) forget(id string) {
	if path, err := d.ledgerPath(id); err == nil {
		os.Remove(path)
	}
}

// replyContext is what the gateway seals into each envelope's registration for
// replies to it: the original's threading fields and visible people (never its
// Bcc recipients), and the Message-ID of the wrapper mail the recipient got.
type replyContext struct {
	MessageID  string   `json:"message_id,omitempty"`
	References []string `json:"references,omitempty"`
	WrapperID  string   `json:"wrapper_id,omitempty"`
	To         []string `json:"to,omitempty"`
	Cc         []string `json:"cc,omitempty"`
}

// replyContextOf reads a message's reply context (without the wrapper id).
func (g *Gateway) replyContextOf(pm *parsed) *replyContext {
	if g.cfg.ReplyPublicKey == nil {
		return nil
	}
	rc := &replyContext{}
	if ids := policy.ThreadIDs(pm.header.Get("Message-ID"), ""); len(ids) == 1 {
		rc.MessageID = ids[0]
	}
	rc.References = bracketed(pm.header.Get("References"), 20)
	for _, f := range []struct {
		field string
		dst   *[]string
	}{{"To", &rc.To}, {"Cc", &rc.Cc}} {
		if list, err := addressParser.ParseList(pm.header.Get(f.field)); err == nil {
			for _, a := range list {
				*f.dst = append(*f.dst, a.Address)
			}
		}
	}
	return rc
}

// bracketed lists the <...> ids of a header value in order, the last max.
func bracketed(v string, max int) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		j := strings.IndexByte(v[i+1:], '>')
		if i < 0 || j < 0 {
			break
		}
		if id := strings.TrimSpace(v[i+1 : i+1+j]); id != "" && !strings.ContainsAny(id, "\r\n<> ") {
			out = append(out, id)
		}
		v = v[i+1+j+1:]
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// sealReplyContext seals rc with the envelope's wrapper id to the reply key. A
// failure costs only reply all and threading, so it is logged, not fatal.
func (g *Gateway) sealReplyContext(rc *replyContext, wrapperID, msgID string) []byte {
	if rc == nil {
		return nil
	}
	c := *rc
	c.WrapperID = wrapperID
	b, _ := json.Marshal(c)
	sealed, err := compose.Seal(b, g.cfg.ReplyPublicKey, rand.Reader)
	if err != nil || len(sealed) > 16<<10 {
		g.log.Warn("reply context not sealed: replies to this message cannot reply all", "id", msgID, "error", err, "bytes", len(sealed))
		return nil
	}
	return sealed
}

// withContext fills r.Original from the reply context, if r has one this
// gateway's keys open.
func (d *ReplyDeliverer) withContext(r *PendingReply) {
	if len(r.Context) == 0 {
		return
	}
	b, err := reply.Open(r.Context, d.cfg.Keys)
	var rc replyContext
	if err == nil {
		err = json.Unmarshal(b, &rc)
	}
	if err != nil {
		d.log.Warn("reply context unreadable", "reply", r.ID, "error", err)
		return
	}
	r.Original.MessageID, r.Original.References, r.Original.Wrapper = rc.MessageID, rc.References, rc.WrapperID
	r.Original.To, r.Original.Cc = rc.To, rc.Cc
}

// deliver opens one reply and hands it to the gateway, once.
func (d *ReplyDeliverer) deliver(ctx context.Context, r *PendingReply) error {
	entry, err := d.readLedger(r.ID)
	if err != nil {
		return err
	}
	if entry.Delivered {
		return nil // delivered before a crash or a failed acknowledgement
	}
	d.withContext(r)
	if r.Kind == ReplyToAll && len(r.Context) == 0 {
		return &errPermanent{"the original message's recipients are not known: reply to the sender instead"}
	}
	to, cc, err := d.recipients(r)
	if err != nil {
		return err
	}
	inner, err := reply.Open(r.Sealed, d.cfg.Keys)
	if err != nil {
		return &errPermanent{err.Error()}
	}
	if entry.MessageID == "" {
		entry.MessageID = d.g.policy.NewMessageID(d.g.cfg.Hostname)
		if err := d.writeLedger(r.ID, entry); err != nil {
			return fmt.Errorf("reply ledger: %w", err)
		}
	}
	msg, err := buildReply(r, inner, to, cc, entry.MessageID, d.g.cfg.Now())
	if err != nil {
		return err
	}
	in := &Inbound{
		ID: newID(), From: r.From.Address, To: append(slices.Clone(to), cc...), Data: msg,
		Client: "key server", HELO: "secure-reply", Protocol: "waxseal reply",
		SealExternal: true,
	}
	if err := d.g.Process(ctx, in); err != nil {
		var se *SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return &errPermanent{se.Message}
		}
		return err
	}
	entry.Delivered = true
	if err := d.writeLedger(r.ID, entry); err != nil {
		return fmt.Errorf("reply ledger: %w", err)
	}
	if d.afterDelivered != nil {
		d.afterDelivered(r.ID)
	}
	return nil
}

// recipients are the reply's To and Cc from the key server's record and the
// forward policy, never from the sealed message.
func (d *ReplyDeliverer) recipients(r *PendingReply) (to, cc []string, err error) {
	self := strings.ToLower(r.From.Address)
	if self == "" {
		return nil, nil, &errPermanent{"reply has no verified sender"}
	}
	seen := map[string]bool{self: true}
	add := func(list []string, a string) []string {
		k := strings.ToLower(strings.TrimSpace(a))
		if k == "" || seen[k] {
			return list
		}
		seen[k] = true
		return append(list, a)
	}
	switch r.Kind {
	case ReplyToSender, ReplyToAll:
		to = add(to, r.Original.From)
		if len(to) == 0 {
			return nil, nil, &errPermanent{"the original message has no sender to reply to"}
		}
		if r.Kind == ReplyToAll {
			for _, a := range r.Original.To {
				cc = add(cc, a)
			}
			for _, a := range r.Original.Cc {
				cc = add(cc, a)
			}
		}
	case ReplyForward:
		switch {
		case d.cfg.Forward == ForwardNone:
			return nil, nil, &errPermanent{"forwarding is not allowed by the organisation's policy"}
		case r.ForwardTo == "":
			return nil, nil, &errPermanent{"forward has no recipient"}
		case d.cfg.Forward == ForwardOrganisation && !d.g.policy.Internal(r.ForwardTo):
			return nil, nil, &errPermanent{"forwarding is allowed only to the organisation's own addresses"}
		}
		if _, err := mail.ParseAddress(r.ForwardTo); err != nil {
			return nil, nil, &errPermanent{"forward recipient is not a valid address"}
		}
		to = add(to, r.ForwardTo)
	default:
		return nil, nil, &errPermanent{fmt.Sprintf("unknown reply kind %q", r.Kind)}
	}
	return to, cc, nil
}

// contentFields are the only top-level fields kept from the browser's message
// (docs/FORMAT.md §13.2): content, never addressing.
var contentFields = map[string]bool{
	"Subject": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true, "Content-Language": true,
}

// buildReply writes the message the gateway delivers: the gateway's own
// addressing and threading fields, then the browser's content fields and body.
func buildReply(r *PendingReply, inner []byte, to, cc []string, messageID string, now time.Time) ([]byte, error) {
	br := bufio.NewReader(bytes.NewReader(inner))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, &errPermanent{"the reply's message header is not readable"}
	}
	var b bytes.Buffer
	from := r.From
	b.WriteString("From: " + from.String() + "\r\n")
	b.WriteString("To: " + strings.Join(to, ", ") + "\r\n")
	if len(cc) > 0 {
		b.WriteString("Cc: " + strings.Join(cc, ", ") + "\r\n")
	}
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: <" + messageID + ">\r\n")
	// In-Reply-To names the original (the sender's client threads by it),
	// else the wrapper mail; References end with both.
	valid := func(id string) string {
		if id = strings.Trim(id, "<> "); id == "" || strings.ContainsAny(id, "\r\n<> ") {
			return ""
		}
		return "<" + id + ">"
	}
	var refs []string
	for _, ref := range append(slices.Clone(r.Original.References), r.Original.MessageID, r.Original.Wrapper) {
		if v := valid(ref); v != "" && !slices.Contains(refs, v) {
			refs = append(refs, v)
		}
	}
	if parent := cmp.Or(valid(r.Original.MessageID), valid(r.Original.Wrapper)); parent != "" {
		b.WriteString("In-Reply-To: " + parent + "\r\n")
	}
	if len(refs) > 0 {
		b.WriteString("References: " + strings.Join(refs, " ") + "\r\n")
	}
	hasSubject := false
	for f := h.Fields(); f.Next(); {
		key := nettextproto.CanonicalMIMEHeaderKey(f.Key())
		if !contentFields[key] {
			continue
		}
		raw, err := f.Raw()
		if err != nil || strayLineEnd(raw) {
			return nil, &errPermanent{"the reply's message header is not readable"}
		}
		if key == "Subject" {
			if hasSubject {
				continue
			}
			hasSubject = true
		}
		b.Write(raw)
	}
	if !hasSubject {
		// "Re: " in every language: mail clients thread by stripping it
		// (docs/DEPLOY.md, "Languages").
		b.WriteString("Subject: Re: " + oneLineASCII(r.Original.Subject) + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.Copy(&b, br); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// strayLineEnd reports whether a raw header field (ending in its line end)
// holds a CR or LF that is not part of a CRLF: a mail program that ends lines
// there would read what follows as a field of its own, an address the browser
// wrote (FuzzBuildReply). compose.Build never writes one.
func strayLineEnd(raw []byte) bool {
	for i, c := range raw {
		switch {
		case c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n'):
			return true
		case c == '\n' && (i == 0 || raw[i-1] != '\r'):
			return true
		}
	}
	return false
}

func oneLineASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}
