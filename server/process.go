package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/wrapper"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/locale"
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
	// keys together with the check of its body: no copy of the message is taken
	// by the next hop before both succeeded.
	keys *registration
	// envelope is the id of the envelope a wrapper mail carries: its
	// delivery state goes to the key server (deliveryreports.go).
	envelope string
}

// registration is work under way that copies wait for before their end of
// data: a batch registration with the key server, or that and the body check
// (sealJob.ready). Its outcome is nil, the *SMTPError to answer, or the
// *rejection of the body.
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
	// The recipients whose copy the next hop has not taken: refused for good, or
	// spooled to be retried. The confirmation says so.
	refused, queued map[string]bool
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
	if err == nil {
		// A sealed message's body is checked during delivery: a rejection
		// may come from there too, before any copy was taken.
		err = g.deliver(ctx, p)
	}
	var rej *rejection
	if errors.As(err, &rej) {
		log.WarnContext(ctx, "message refused", "from", in.From, "recipients", len(in.To), "reason", rej.reason)
		g.bounce(ctx, in, rej)
		return &SMTPError{rej.code, rej.enhanced, rej.reason}
	}
	if err != nil && p == nil {
		log.ErrorContext(ctx, "message not taken", "from", in.From, "error", err)
	}
	return err
}

// prepare parses, decides, and (for triggered mail) seals and registers. Nothing
// is relayed yet: an error here leaves nothing behind but registered keys for
// envelopes that were never sent.
func (g *Gateway) prepare(ctx context.Context, in *Inbound) (*plan, error) {
	if int64(len(in.Data)) > g.cfg.MaxMessageBytes {
		return nil, g.oversize(int64(len(in.Data)))
	}
	pm, body, err := readHeader(in.Data)
	if err != nil {
		return nil, err
	}
	// A thread lookup at the key server is bounded like a registration.
	ectx, cancel := context.WithTimeout(ctx, g.cfg.RegisterTimeout)
	res, err := g.policy.Evaluate(ectx, policy.Input{Sender: in.From, Recipients: in.To, Subject: pm.rawSubject,
		InReplyTo: pm.header.Get("In-Reply-To"), References: pm.header.Get("References"), Message: in.Data})
	cancel()
	if err != nil {
		// A reply whose thread cannot be checked might belong to a secure
		// conversation: it waits rather than leave in plaintext.
		g.log.ErrorContext(ctx, "secure thread lookup failed", "id", in.ID, "error", err)
		return nil, tempFail([3]int{4, 3, 0}, "The key server could not be asked whether this message answers a secure one; nothing was sent, try again later")
	}
	if in.SealExternal {
		for i, d := range res.Decisions {
			if d.Action == policy.Plain && !g.policy.Internal(d.Recipient) {
				res.Decisions[i].Action, res.Decisions[i].Reason = policy.Envelope, "external recipient of a secure reply"
			}
		}
	}
	p := &plan{in: in, parsed: pm, result: res}
	if in.Submitter == "" && in.From != "" {
		in.Submitter = in.From // a caller of Process that did not say
	}
	if in.Submitter != "" && g.policy.Internal(in.Submitter) {
		p.sender = in.Submitter
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

	// Registration is what a sealed message waits for longest, and it does not
	// depend on the body check: it starts first. Should the check refuse the
	// message, the registered keys belong to envelopes that are never sent, whose
	// k_env never left this process, so they open nothing.
	var sj *sealJob
	bodyChecked := false
	if len(seal) > 0 && g.cfg.SentAttachmentNames {
		// The names registered for Sent items come from the body: with them,
		// the check goes first (and a refused message registers nothing).
		if err := pm.checkBody(body, g.cfg.MaxAttachmentBytes, res.Triggered); err != nil {
			return nil, err
		}
		bodyChecked = true
	}
	if len(seal) > 0 {
		if sj, err = g.seal(ctx, in, pm, res.Clean, original, seal); err != nil {
			return nil, err
		}
	} else if err := pm.checkBody(body, g.cfg.MaxAttachmentBytes, res.Triggered); err != nil {
		return nil, err
	}

	if len(secure) > 0 {
		p.deliveries = append(p.deliveries, delivery{from: in.From, to: secure, msg: g.traced(in, original), requireTLS: true,
			kind: kindOriginal, notify: p.sender, subject: res.Clean})
	}
	if len(plain) > 0 {
		p.deliveries = append(p.deliveries, delivery{from: in.From, to: plain, msg: g.traced(in, original),
			kind: kindOriginal, notify: p.sender, subject: res.Clean})
	}
	if sj != nil {
		opt := func(l *locale.Locale) wrapper.Options {
			o := g.wrapperOptions(l)
			if in.SealExternal {
				o = g.onBehalf(l, pm.from, o)
			}
			return o
		}
		sealed, err := sj.wrappers(in, p.sender, g.locale, opt)
		if in.SealExternal && err == nil {
			// Bounces of what goes out on the recipient's behalf come back to
			// the organisation, whose domain sent it (SPF).
			for i := range sealed {
				sealed[i].from = g.notifyFrom.Address
			}
		}
		if err != nil {
			sj.abandon() // registered or not, the message goes nowhere
			return nil, err
		}
		p.deliveries = append(p.deliveries, sealed...)
		p.sealed = seal
		// The body is checked while the copies travel, and like the keys it
		// holds back their end of data: every copy waits for both, the originals
		// too, so when either fails nothing at all has gone.
		p.keys = sj.ready(func() error {
			if bodyChecked {
				return nil
			}
			return pm.checkBody(body, g.cfg.MaxAttachmentBytes, res.Triggered)
		})
		for i := range p.deliveries {
			p.deliveries[i].keys = p.keys
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

// sealJob is a message encrypted once and sealed for each recipient, its keys
// being registered.
type sealJob struct {
	ct      []byte // the ciphertext, shared by every envelope
	subject string
	now     time.Time
	envs    []sealedEnvelope
	keys    *registration // under way
	cancel  context.CancelFunc
	// langs delivers the recipients' saved languages (address → code, nil
	// when unknown), asked beside the registration.
	langs chan map[string]string
	log   *slog.Logger
}

type sealedEnvelope struct {
	env   *envelope.Envelope
	keys  envelope.Keys
	msgID string // the wrapper mail's Message-ID, remembered as a secure thread's
}

// seal encrypts the message once, seals an envelope per recipient, and starts
// registering all keys in one call. The registration is still under way when it
// returns: the caller must not let any copy be taken by the next hop before it
// succeeded (see relay), and must call abandon if the message goes nowhere.
func (g *Gateway) seal(ctx context.Context, in *Inbound, pm *parsed, subject string, msg []byte, rcpts []string) (*sealJob, error) {
	from := pm.from
	if from == nil && in.From != "" {
		from = &mail.Address{Address: in.From}
	}
	if from == nil {
		return nil, unparseable("reject.no_sender")
	}
	// The message is in memory already: its ciphertext is one allocation of
	// exactly its size.
	payload, ct := envelope.EncryptPayload(msg)

	sj := &sealJob{ct: ct, subject: subject, now: g.cfg.Now(), envs: make([]sealedEnvelope, 0, len(rcpts)), log: g.log.With("id", in.ID)}
	regs := make([]client.Registration, 0, len(rcpts))
	rc := g.replyContextOf(pm)
	var names []string
	if g.cfg.SentAttachmentNames {
		names = sentAttachmentNames(pm.attachments)
	}
	for _, rcpt := range rcpts {
		h := envelope.Header{KeyServer: g.cfg.KeyServerURL, From: formatAddress(from), To: rcpt, Subject: subject,
			Created: sj.now, Expires: sj.now.Add(g.cfg.Expires)}
		env, keys, err := payload.Seal(h)
		if err != nil {
			return nil, unparseable("reject.seal", "Recipient", rcpt, "Detail", err)
		}
		sj.envs = append(sj.envs, sealedEnvelope{env, keys, g.policy.NewMessageID(g.cfg.Hostname)})
		reg := client.Registration{Envelope: env, ServerKey: keys.Server, Submitter: in.Submitter, Message: in.ID, Attachments: names}
		reg.ReplyContext = g.sealReplyContext(rc, sj.envs[len(sj.envs)-1].msgID, in.ID)
		if g.cfg.Online {
			// One ciphertext for every envelope: uploaded and stored once.
			reg.Ciphertext = ct
		}
		regs = append(regs, reg)
	}

	// The key server registers the batch (an upload and a commit or two) while
	// the body is checked, the wrapper mails are written and then transferred to
	// the next hop; none is taken by the next hop (its end of data is withheld)
	// before the keys are held. See deliver.
	sj.langs = g.savedLanguages(ctx, in.ID, rcpts)
	rctx, cancel := context.WithTimeout(ctx, g.cfg.RegisterTimeout)
	sj.cancel = cancel
	sj.keys = &registration{done: make(chan struct{})}
	go func() {
		defer close(sj.keys.done)
		defer cancel()
		// The thread's ids are remembered beside the registration, and like
		// it before any copy is taken: a reply must find them.
		threadErr := make(chan error, 1)
		go func() { threadErr <- g.rememberThread(rctx, pm, sj) }()
		err := g.cfg.KeyServer.RegisterEnvelopes(rctx, regs)
		if terr := <-threadErr; err == nil && terr != nil {
			err = terr
		}
		if err == nil {
			return
		}
		if ctx.Err() == nil && errors.Is(context.Cause(rctx), context.Canceled) {
			sj.keys.err = context.Canceled // abandoned: nobody waits for the answer
			return
		}
		g.log.ErrorContext(ctx, "key registration failed", "id", in.ID, "envelopes", len(regs), "error", err)
		if rctx.Err() != nil && ctx.Err() == nil {
			sj.keys.err = tempFail([3]int{4, 4, 3}, "The key server did not answer within %s; nothing was sent, try again later", g.cfg.RegisterTimeout)
			return
		}
		if errors.Is(err, client.ErrOutOfStorage) {
			// RFC 3463 X.3.1: mail system full. Said as such, so that the
			// operator looks at the key server's disk, not at this message.
			sj.keys.err = tempFail([3]int{4, 3, 1}, "key server out of storage; nothing was sent, try again later")
			return
		}
		sj.keys.err = tempFail([3]int{4, 3, 0}, "The key server could not register the message's keys; nothing was sent, try again later")
	}()
	return sj, nil
}

// savedLanguages asks the key server, beside the registration rather than
// after it, for the recipients' saved languages: the wrapper mails are
// written and sent to the next hop while the keys are still being registered
// (and, online, the ciphertext uploaded), so waiting for the registration's
// answer would put the whole transfer after it. The lookup is small and
// answers first. When it fails, or the key server cannot tell, the mails
// speak the organisation's default language: the message still goes.
func (g *Gateway) savedLanguages(ctx context.Context, id string, rcpts []string) chan map[string]string {
	out := make(chan map[string]string, 1)
	ll, ok := g.cfg.KeyServer.(LanguageLookup)
	if !ok {
		out <- nil
		return out
	}
	go func() {
		lctx, cancel := context.WithTimeout(ctx, g.cfg.RegisterTimeout)
		defer cancel()
		langs, err := ll.SavedLanguages(lctx, rcpts)
		if err != nil {
			g.log.WarnContext(ctx, "recipients' languages unknown: the default language is used", "id", id, "error", err)
		}
		out <- langs
	}()
	return out
}

// rememberThread records the Message-IDs of a sealed message: its own and its
// wrapper mails'.
func (g *Gateway) rememberThread(ctx context.Context, pm *parsed, sj *sealJob) error {
	if g.cfg.Threads == nil {
		return nil
	}
	ids := make([]string, 0, len(sj.envs)+1)
	ids = append(ids, policy.ThreadIDs(pm.header.Get("Message-ID"), "")...)
	for _, e := range sj.envs {
		ids = append(ids, e.msgID)
	}
	for len(ids) > 0 {
		n := min(len(ids), 100)
		if err := g.cfg.Threads.RememberThread(ctx, ids[:n], g.cfg.ThreadTTL); err != nil {
			return fmt.Errorf("remember secure thread: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// abandon stops the registration of a message that goes nowhere and waits for
// it to end. A nil job has nothing to abandon.
func (sj *sealJob) abandon() {
	if sj == nil {
		return
	}
	sj.cancel()
	<-sj.keys.done
}

// ready runs check beside the registration and returns what the copies wait
// for: the registration's outcome, or check's error (a *rejection), which
// abandons the registration.
func (sj *sealJob) ready(check func() error) *registration {
	r := &registration{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := sj.safely(check); err != nil {
			sj.abandon()
			r.err = err
			return
		}
		<-sj.keys.done
		r.err = sj.keys.err
	}()
	return r
}

// safely runs check, which reads untrusted input outside the SMTP session's
// goroutine (whose panics go-smtp would have contained): a panic refuses this
// message, not every session in the process.
func (sj *sealJob) safely(check func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			sj.log.Error("BUG: panic while checking a message", "panic", v, "stack", string(debug.Stack()))
			err = unparseable("reject.internal")
		}
	}()
	return check()
}

// wrapperOptions are the gateway's settings for every wrapper mail: the
// open-online link, the secure-reply sentence where recipients can reply (a
// reply key is configured) and the organisation's Reply-To.
func (g *Gateway) wrapperOptions(l *locale.Locale) wrapper.Options {
	return wrapper.Options{Online: g.cfg.Online, Reply: g.cfg.ReplyPublicKey != nil, ReplyTo: g.wrapperReplyTo, Brand: g.cfg.Brand,
		Say: l.T, Words: g.words[l.Code()]}
}

// onBehalf is the wrapper mail's From and Reply-To for what the gateway sends
// outside on someone else's behalf: a recipient's secure reply to the original's
// external people. Mail From: their own address (say a gmail.com one) sent by
// the organisation's servers fails their domain's DMARC and is refused or
// filed as spam, so the From is the organisation's one system sender
// (NotifyFrom: [brand] mail_from) under the person's name, "Bob Patient via
// Hospital" (the brand's name, else the sender's display name), as mailing
// lists do;
// Reply-To is the organisation's wrapper_reply_to if it set one, else the
// person, so that a reply from the mail client reaches who wrote
// (docs/DEPLOY.md, "Secure replies and DMARC").
func (g *Gateway) onBehalf(l *locale.Locale, person *mail.Address, opt wrapper.Options) wrapper.Options {
	if person == nil {
		return opt
	}
	who := strings.TrimSpace(printable(person.Name, 100))
	if who == "" {
		who = person.Address
	}
	org := ""
	if g.cfg.Brand != nil {
		org = strings.TrimSpace(printable(g.cfg.Brand.Name, 100))
	}
	if org == "" {
		org = strings.TrimSpace(g.notifyFrom.Name)
	}
	if org == "" {
		_, org, _ = strings.Cut(g.notifyFrom.Address, "@")
	}
	opt.From = &mail.Address{Name: l.T("notice.via", "Who", who, "Org", org), Address: g.notifyFrom.Address}
	if opt.ReplyTo == nil {
		opt.ReplyTo = &mail.Address{Name: person.Name, Address: person.Address}
	}
	return opt
}

// wrappers writes each recipient's wrapper mail, one per recipient, with
// base's settings in the recipient's language (lang of their saved language:
// the saved one, else the default).
func (sj *sealJob) wrappers(in *Inbound, notify string, lang func(code string) *locale.Locale, base func(*locale.Locale) wrapper.Options) ([]delivery, error) {
	out := make([]delivery, 0, len(sj.envs))
	saved := <-sj.langs
	opts := map[*locale.Locale]wrapper.Options{}
	for _, s := range sj.envs {
		var w bytes.Buffer
		// base64 in 128-character lines is 4/3 × 130/128 of the ciphertext; the
		// page and the notice fit in the rest (HTMLSize would render it all twice).
		w.Grow(len(sj.ct)/96*130 + 32<<10)
		l := lang(saved[s.env.Header.To])
		opt, ok := opts[l]
		if !ok {
			opt = base(l)
			opts[l] = opt
		}
		opt.Date, opt.MessageID = sj.now, s.msgID
		if err := wrapper.Write(&w, s.env, s.keys.Env, bytes.NewReader(sj.ct), opt); err != nil {
			return nil, fmt.Errorf("wrapper mail: %w", err)
		}
		out = append(out, delivery{from: in.From, to: []string{s.env.Header.To}, msg: w.Bytes(), kind: kindEnvelope,
			notify: notify, subject: sj.subject, envelope: s.env.Header.ID.String()})
	}
	return out, nil
}

// formatAddress writes the sender as people read it: the display name decoded
// (UTF-8, quoted), never RFC 2047 encoded words, since every place it is shown
// (the wrapper mail's text, securedoc.html, the key server's pages) shows the
// envelope header's From as it is; each escapes it for its own format.
func formatAddress(a *mail.Address) string {
	// The address as RFC 5322 writes it: a local part with blanks or
	// specials is quoted ("<\"a b\"@x>"), so the wrapper mail can be written.
	angle := (&mail.Address{Address: a.Address}).String()
	name := strings.TrimSpace(printable(a.Name, 200))
	if name == "" {
		if angle == "<"+a.Address+">" {
			return a.Address
		}
		return angle
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `" ` + angle
}

// deliver relays every delivery of a plan. Copies the next hop does not take go
// to the spool; the answer is 250 once all are relayed or spooled.
func (g *Gateway) deliver(ctx context.Context, p *plan) error {
	log := g.log.With("id", p.in.ID)
	relayed := 0
	var temporary, permanent []failedDelivery
	var delivered []*api.DeliveryReport
	// outcome records one copy's result; a non-nil return is the answer to give
	// at once.
	outcome := func(d delivery, err error) error {
		if err == nil {
			relayed++
			delivered = append(delivered, g.deliveryReport(d, keyserver.DeliveryDelivered, nil))
			log.InfoContext(ctx, "relayed", "kind", d.kind, "from", d.from, "to", d.to, "tls_required", d.requireTLS)
			return nil
		}
		// Before a failed copy is spooled (and later sent without waiting) or
		// reported, the keys must be held and the body accepted. If not, this copy
		// was withheld before its end of data, and none went before it: each waits
		// for them.
		if kerr := p.keys.wait(ctx); kerr != nil {
			log.WarnContext(ctx, "nothing relayed: keys not registered or body refused", "error", kerr)
			if ctx.Err() != nil {
				return tempFail([3]int{4, 3, 2}, "The gateway is shutting down; nothing was sent, try again later")
			}
			return kerr
		}
		log.WarnContext(ctx, "relay failed", "kind", d.kind, "to", d.to, "tls_required", d.requireTLS,
			"possibly_delivered", mailer.IsUncertain(err), "error", err)
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
		return nil
	}
	// The required-TLS copies first, alone (see above); then the others at once,
	// so that the client's wait is about one next-hop round trip, not one per
	// recipient (Postfix gives a content filter 600 s for everything).
	n := 0
	for n < len(p.deliveries) && p.deliveries[n].requireTLS {
		if err := outcome(p.deliveries[n], g.relay(ctx, p.deliveries[n])); err != nil {
			return err
		}
		n++
	}
	rest := p.deliveries[n:]
	for i, err := range g.relayAll(ctx, rest) {
		if err := outcome(rest[i], err); err != nil {
			return err
		}
	}
	// Every copy either waited for the keys or failed and then waited above;
	// this only covers a plan that somehow had no copy to relay.
	if err := p.keys.wait(ctx); err != nil {
		return err
	}
	if relayed == 0 && len(temporary) == 0 && len(permanent) > 0 {
		// Nothing left: the client bounces it with the next hop's words. The
		// envelopes are registered, so Sent items say why they never arrived.
		var refused []*api.DeliveryReport
		for _, f := range permanent {
			refused = append(refused, g.deliveryReport(f.d, keyserver.DeliveryRefused, f.err))
		}
		g.queueReports(ctx, refused)
		return &SMTPError{554, [3]int{5, 0, 0}, fmt.Sprintf("The next hop refused the message: %v", permanent[0].err)}
	}
	if len(temporary) > 0 {
		if g.cfg.Spool == nil && relayed == 0 {
			for _, f := range temporary {
				if mailer.IsUncertain(f.err) {
					// Nowhere to record it but here: the client sends it again.
					log.ErrorContext(ctx, "possibly delivered, and no spool to record it in: the client will send it again", "kind", f.d.kind, "to", f.d.to)
				}
			}
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
	p.refused, p.queued = map[string]bool{}, map[string]bool{}
	reports := delivered
	for _, f := range temporary {
		for _, r := range f.d.to {
			p.queued[r] = true
		}
		reports = append(reports, g.deliveryReport(f.d, keyserver.DeliveryQueued, f.err))
	}
	for _, f := range permanent {
		g.notifyFailure(ctx, f.d, f.err, false, mailer.IsUncertain(f.err))
		for _, r := range f.d.to {
			p.refused[r] = true
		}
		reports = append(reports, g.deliveryReport(f.d, keyserver.DeliveryRefused, f.err))
	}
	g.queueReports(ctx, reports)
	// Confirm what went out sealed, or is on its way: not a message whose
	// every envelope was refused, which the failure notices tell.
	if p.sender != "" && slices.ContainsFunc(p.sealed, func(r string) bool { return !p.refused[r] }) {
		g.confirm(ctx, p)
	}
	return nil
}

// relayAll relays ds at once, at most RelayConcurrency at a time, and returns
// each one's outcome.
func (g *Gateway) relayAll(ctx context.Context, ds []delivery) []error {
	errs := make([]error, len(ds))
	sem := make(chan struct{}, g.cfg.RelayConcurrency)
	var wg sync.WaitGroup
	for i, d := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = g.relay(ctx, d)
		})
	}
	wg.Wait()
	return errs
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
		Subject: d.subject, Envelope: d.envelope, Created: now, Attempts: 1, NextAttempt: now.Add(g.cfg.RetryFirst), LastError: truncate(cause.Error(), 1000),
		PossiblyDelivered: mailer.IsUncertain(cause)}, d.msg)
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
