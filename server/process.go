package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/wrapper"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server/policy"
	"github.com/waxseal/waxseal/server/spool"
)

// Kinds of delivery, for logs and non-delivery notices.
const (
	kindOriginal = "original" // the message as it was sent (plain or required TLS)
	kindEnvelope = "envelope" // a wrapper mail carrying one recipient's envelope
	kindNotice   = "notice"   // a confirmation or notice to the sender
	kindOutbox   = "keyserver"
)

// delivery is one message for the next hop. Every delivery, whatever made it,
// goes out through Gateway.relay and its plaintext check.
type delivery struct {
	from       string
	to         []string
	msg        []byte
	requireTLS bool
	kind       string
	notify     string // where a non-delivery notice goes; "" for none
	subject    string // for that notice, without trigger
	// keys, when the message was sealed, is the registration of its envelopes'
	// keys: no copy of the message is taken by the next hop before it succeeded.
	keys *registration
}

// registration is a batch registration with the key server under way. Its
// outcome is nil or the *SMTPError to answer.
type registration struct {
	done chan struct{}
	err  error
}

// wait returns the registration's outcome, or ctx's error if ctx ends first.
func (r *registration) wait(ctx context.Context) error {
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// plan is a message made ready: every delivery built, keys registered or being
// registered (keys).
type plan struct {
	in         *Inbound
	parsed     *parsed
	result     policy.Result
	deliveries []delivery    // required-TLS first, see deliver
	sealed     []string      // recipients who got an envelope
	keys       *registration // the envelopes' registration, under way; nil if none
	sender     string        // who is told: the MAIL FROM of an internal sender, else ""
}

// Process handles one message: it returns nil once every copy is relayed or
// spooled (the SMTP 250), or the *SMTPError to answer. A message refused for its
// content (too large, unreadable) is also bounced to an internal sender.
func (g *Gateway) Process(ctx context.Context, in *Inbound) error {
	if in.ID == "" {
		in.ID = newID()
	}
	log := g.log.With("id", in.ID)
	wait := time.NewTimer(g.cfg.BusyWait)
	defer wait.Stop()
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	case <-wait.C:
		log.WarnContext(ctx, "busy: message not taken", "from", in.From)
		return tempFail([3]int{4, 3, 2}, "The gateway is busy; nothing was sent, try again later")
	case <-ctx.Done():
		return tempFail([3]int{4, 3, 2}, "The gateway is shutting down; nothing was sent, try again later")
	}
	p, err := g.prepare(ctx, in)
	if err != nil {
		var rej *rejection
		if errors.As(err, &rej) {
			log.WarnContext(ctx, "message refused", "from", in.From, "recipients", len(in.To), "reason", rej.reason)
			g.bounce(ctx, in, rej)
			return &SMTPError{rej.code, rej.enhanced, rej.reason}
		}
		log.ErrorContext(ctx, "message not taken", "from", in.From, "error", err)
		return err
	}
	return g.deliver(ctx, p)
}

// prepare parses, decides, and (for triggered mail) seals and registers. Nothing
// is relayed yet: an error here leaves nothing behind but registered keys for
// envelopes that were never sent.
func (g *Gateway) prepare(ctx context.Context, in *Inbound) (*plan, error) {
	if int64(len(in.Data)) > g.cfg.MaxMessageBytes {
		return nil, &rejection{552, [3]int{5, 3, 4}, fmt.Sprintf("The message is larger than the limit of %s", formatSize(g.cfg.MaxMessageBytes))}
	}
	// The subject decides whether the body must be readable: decide as soon as
	// the header is read.
	var res policy.Result
	pm, err := parseMessage(in.Data, g.cfg.MaxAttachmentBytes, func(subject string) bool {
		res = g.policy.Decide(in.From, in.To, subject)
		return res.Triggered
	})
	if err != nil {
		return nil, err
	}
	p := &plan{in: in, parsed: pm, result: res}
	if in.From != "" && g.policy.Internal(in.From) {
		p.sender = in.From
	}

	var plain, secure, seal []string
	for _, d := range res.Decisions {
		switch d.Action {
		case policy.Plain:
			plain = append(plain, d.Recipient)
		case policy.TLS:
			secure = append(secure, d.Recipient)
		case policy.Envelope:
			seal = append(seal, d.Recipient)
		}
	}
	// Bcc recipients never show in anyone's header; a client that left a Bcc
	// field in would tell everyone.
	original := stripHeader(in.Data, "Bcc")
	if len(secure) > 0 {
		p.deliveries = append(p.deliveries, delivery{from: in.From, to: secure, msg: g.traced(in, original), requireTLS: true,
			kind: kindOriginal, notify: p.sender, subject: res.Clean})
	}
	if len(plain) > 0 {
		p.deliveries = append(p.deliveries, delivery{from: in.From, to: plain, msg: g.traced(in, original),
			kind: kindOriginal, notify: p.sender, subject: res.Clean})
	}
	if len(seal) > 0 {
		sealed, keys, err := g.seal(ctx, in, pm, res.Clean, original, seal, p.sender)
		if err != nil {
			return nil, err
		}
		p.deliveries = append(p.deliveries, sealed...)
		p.sealed = seal
		p.keys = keys
		// Every copy waits for the keys, the originals too: when registration
		// fails the answer is 451 and nothing at all has gone.
		for i := range p.deliveries {
			p.deliveries[i].keys = keys
		}
	}
	return p, nil
}

// traced prepends the Received trace header: the only change a relayed message
// gets.
func (g *Gateway) traced(in *Inbound, msg []byte) []byte {
	proto := in.Protocol
	if proto == "" {
		proto = "ESMTP"
	}
	helo := printable(in.HELO, 100)
	h := fmt.Sprintf("Received: from %s (%s)\r\n\tby %s (waxseal) with %s id %s;\r\n\t%s\r\n",
		strings.ReplaceAll(helo, " ", "_"), in.Client, g.cfg.Hostname, proto, in.ID, g.cfg.Now().Format(time.RFC1123Z))
	out := make([]byte, 0, len(h)+len(msg))
	return append(append(out, h...), msg...)
}

// seal encrypts the message once, seals an envelope per recipient, starts
// registering all keys in one call, and writes each recipient's wrapper mail. It
// returns the registration still under way: the caller must not let any copy
// be taken by the next hop before it succeeded (see relay).
func (g *Gateway) seal(ctx context.Context, in *Inbound, pm *parsed, subject string, msg []byte, rcpts []string, notify string) ([]delivery, *registration, error) {
	from := pm.from
	if from == nil && in.From != "" {
		from = &mail.Address{Address: in.From}
	}
	if from == nil {
		return nil, nil, unparseable("it has neither a From header nor a sender address to seal it from")
	}
	var ct bytes.Buffer
	ct.Grow(len(msg) + len(msg)/1024 + 1024)
	pw := envelope.NewPayloadWriter(&ct)
	if _, err := pw.Write(msg); err != nil {
		return nil, nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := pw.Close(); err != nil {
		return nil, nil, fmt.Errorf("encrypt: %w", err)
	}
	payload := pw.Payload()

	now := g.cfg.Now()
	type one struct {
		env  *envelope.Envelope
		keys envelope.Keys
	}
	all := make([]one, 0, len(rcpts))
	regs := make([]client.Registration, 0, len(rcpts))
	for _, rcpt := range rcpts {
		h := envelope.Header{KeyServer: g.cfg.KeyServerURL, From: formatAddress(from), To: rcpt, Subject: subject,
			Created: now, Expires: now.Add(g.cfg.Expires)}
		env, keys, err := payload.Seal(h)
		if err != nil {
			return nil, nil, unparseable("cannot seal it for %s (%v)", rcpt, err)
		}
		all = append(all, one{env, keys})
		reg := client.Registration{Envelope: env, ServerKey: keys.Server}
		if g.cfg.Online {
			// One ciphertext for every envelope: uploaded and stored once.
			reg.Ciphertext = ct.Bytes()
		}
		regs = append(regs, reg)
	}

	// The key server registers the batch (an upload and a commit or two) while
	// the wrapper mails are written and then transferred to the next hop; none
	// is taken by the next hop (its end of data is withheld) before the keys are
	// held. See deliver.
	rctx, cancel := context.WithTimeout(ctx, g.cfg.RegisterTimeout)
	keys := &registration{done: make(chan struct{})}
	go func() {
		defer close(keys.done)
		defer cancel()
		err := g.cfg.KeyServer.RegisterEnvelopes(rctx, regs)
		if err == nil {
			return
		}
		g.log.ErrorContext(ctx, "key registration failed", "id", in.ID, "envelopes", len(regs), "error", err)
		if rctx.Err() != nil && ctx.Err() == nil {
			keys.err = tempFail([3]int{4, 4, 3}, "The key server did not answer within %s; nothing was sent, try again later", g.cfg.RegisterTimeout)
			return
		}
		keys.err = tempFail([3]int{4, 3, 0}, "The key server could not register the message's keys; nothing was sent, try again later")
	}()

	out := make([]delivery, 0, len(all))
	for _, s := range all {
		var w bytes.Buffer
		// base64 in 128-character lines is 4/3 × 130/128 of the ciphertext; the
		// page and the notice fit in the rest (HTMLSize would render it all twice).
		w.Grow(ct.Len()/96*130 + 32<<10)
		if err := wrapper.Write(&w, s.env, s.keys.Env, bytes.NewReader(ct.Bytes()), wrapper.Options{Online: g.cfg.Online, Date: now}); err != nil {
			cancel()
			<-keys.done // registered or not, the message goes nowhere
			return nil, nil, fmt.Errorf("wrapper mail: %w", err)
		}
		out = append(out, delivery{from: in.From, to: []string{s.env.Header.To}, msg: w.Bytes(), kind: kindEnvelope,
			notify: notify, subject: subject})
	}
	return out, keys, nil
}

func formatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}

// deliver relays every delivery of a plan. Copies the next hop does not take go
// to the spool; the answer is 250 once all are relayed or spooled.
func (g *Gateway) deliver(ctx context.Context, p *plan) error {
	log := g.log.With("id", p.in.ID)
	relayed := 0
	var temporary, permanent []failedDelivery
	for _, d := range p.deliveries {
		err := g.relay(ctx, d)
		if err == nil {
			relayed++
			log.InfoContext(ctx, "relayed", "kind", d.kind, "from", d.from, "to", d.to, "tls_required", d.requireTLS)
			continue
		}
		// Before a failed copy is spooled (and later sent without waiting) or
		// reported, the keys must be held. If they are not, this copy was withheld
		// before its end of data, and none went before it: each waits for them.
		if kerr := p.keys.wait(ctx); kerr != nil {
			log.WarnContext(ctx, "nothing relayed: keys not registered", "error", kerr)
			if ctx.Err() != nil {
				return tempFail([3]int{4, 3, 2}, "The gateway is shutting down; nothing was sent, try again later")
			}
			return kerr
		}
		log.WarnContext(ctx, "relay failed", "kind", d.kind, "to", d.to, "tls_required", d.requireTLS, "error", err)
		// Required-TLS copies go first, so when TLS cannot be had nothing else
		// has left yet and the client can keep the whole message: the fault is in
		// configuration, and its queue is where an operator looks.
		if d.requireTLS && isTLSFailure(err) && relayed == 0 {
			return tempFail([3]int{4, 7, 10}, "TLS to the next hop failed, and it is required for %s; nothing was sent (%v)", strings.Join(d.to, ", "), err)
		}
		if errors.Is(err, errPlaintextRefused) {
			return tempFail([3]int{4, 3, 0}, "Internal error: the gateway refused to send a protected message unprotected; nothing was sent")
		}
		f := failedDelivery{d, err}
		if mailer.IsPermanent(err) {
			permanent = append(permanent, f)
		} else {
			temporary = append(temporary, f)
		}
	}
	// Every copy either waited for the keys or failed and then waited above;
	// this only covers a plan that somehow had no copy to relay.
	if err := p.keys.wait(ctx); err != nil {
		return err
	}
	if relayed == 0 && len(temporary) == 0 && len(permanent) > 0 {
		// Nothing left: the client bounces it with the next hop's words.
		return &SMTPError{554, [3]int{5, 0, 0}, fmt.Sprintf("The next hop refused the message: %v", permanent[0].err)}
	}
	if len(temporary) > 0 {
		if g.cfg.Spool == nil && relayed == 0 {
			return tempFail([3]int{4, 4, 1}, "The next hop is not reachable; nothing was sent, try again later (%v)", temporary[0].err)
		}
		for _, f := range temporary {
			if err := g.spool(f.d, f.err); err != nil {
				log.ErrorContext(ctx, "spool failed", "to", f.d.to, "error", err)
				// The client will send it all again: duplicates for what was
				// relayed, but nothing lost.
				return tempFail([3]int{4, 3, 0}, "The gateway could not queue the message; try again later")
			}
			log.InfoContext(ctx, "spooled", "kind", f.d.kind, "to", f.d.to)
		}
		g.Kick()
	}
	for _, f := range permanent {
		g.notifyFailure(ctx, f.d, f.err.Error())
	}
	if len(p.sealed) > 0 && p.sender != "" {
		g.confirm(ctx, p)
	}
	return nil
}

type failedDelivery struct {
	d   delivery
	err error
}

func (g *Gateway) spool(d delivery, cause error) error {
	if g.cfg.Spool == nil {
		return errors.New("no spool configured")
	}
	now := g.cfg.Now()
	_, err := g.cfg.Spool.Put(spool.Entry{From: d.from, To: d.to, RequireTLS: d.requireTLS, Kind: d.kind, Notify: d.notify,
		Subject: d.subject, Created: now, Attempts: 1, NextAttempt: now.Add(g.cfg.RetryFirst), LastError: truncate(cause.Error(), 1000)}, d.msg)
	return err
}

// errPlaintextRefused is the last line of defence: it should never be seen.
var errPlaintextRefused = errors.New("refused: the policy requires this message to be sealed for a recipient it was about to go to as it is")

// relay sends one delivery to the next hop. It is the only way out, and before
// anything goes it decides again from the message's own Subject: a copy that the
// policy says must be sealed (or go over TLS) for any of its recipients does not
// leave as it is, whatever bug or fault put it here.
func (g *Gateway) relay(ctx context.Context, d delivery) error {
	if err := g.checkOutgoing(d); err != nil {
		g.log.ErrorContext(ctx, "BUG: outgoing message refused by the plaintext check", "kind", d.kind, "to", d.to, "error", err)
		return err
	}
	if d.keys != nil {
		if gr, ok := g.cfg.Relay.(GatedRelay); ok {
			return gr.SendGated(ctx, d.from, d.to, d.msg, d.requireTLS, d.keys.wait)
		}
		if err := d.keys.wait(ctx); err != nil {
			return err
		}
	}
	return g.cfg.Relay.Send(ctx, d.from, d.to, d.msg, d.requireTLS)
}

func (g *Gateway) checkOutgoing(d delivery) error {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(d.msg)))
	subjects := h.Values("Subject")
	if err != nil || len(subjects) > 1 {
		// Unreadable: only internal recipients may have it.
		for _, r := range d.to {
			if !g.policy.Internal(r) {
				return fmt.Errorf("%w (%s; header unreadable)", errPlaintextRefused, r)
			}
		}
		return nil
	}
	raw := ""
	if len(subjects) == 1 {
		raw = subjects[0]
	}
	for _, dec := range g.policy.Decide(d.from, d.to, raw).Decisions {
		switch {
		case dec.Action == policy.Envelope:
			return fmt.Errorf("%w (%s)", errPlaintextRefused, dec.Recipient)
		case dec.Action == policy.TLS && !d.requireTLS:
			return fmt.Errorf("%w (%s must get it over TLS)", errPlaintextRefused, dec.Recipient)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
