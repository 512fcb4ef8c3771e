package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Action is what happens to one recipient's copy.
type Action string

const (
	// Plain relays the message as it is (internal recipients, untriggered mail).
	Plain Action = "plain"
	// TLS relays the message as it is, over TLS that must succeed: never a
	// plaintext fallback.
	TLS Action = "tls"
	// Envelope seals the message into an envelope of the recipient's own.
	Envelope Action = "envelope"
)

// Config is the routing policy. Domains match themselves and their subdomains,
// without regard to case.
type Config struct {
	InternalDomains      []string
	SecureChannelDomains []string
	ForcedTLSDomains     []string
	Triggers             *Triggers
	// Threads, if set, makes threads sticky: a message answering a sealed one
	// is sealed for its external recipients, trigger or not.
	Threads ThreadStore
	// IDs recognises the gateways' own sealed mail by its Message-ID.
	IDs *IDMinter
	// Content, if set, seals messages whose content matches one of its rules.
	Content *ContentRules
}

// Policy decides per recipient. It is safe for concurrent use.
type Policy struct {
	internal, secureChannel, forcedTLS domainSet
	triggers                           *Triggers
	threads                            ThreadStore
	ids                                *IDMinter
	content                            *ContentRules
}

// New checks cfg. Triggers must be set (an empty rule set is still a set).
func New(cfg Config) (*Policy, error) {
	if cfg.Triggers == nil {
		return nil, fmt.Errorf("policy: no trigger rules")
	}
	p := &Policy{triggers: cfg.Triggers, threads: cfg.Threads, ids: cfg.IDs, content: cfg.Content}
	var err error
	if p.internal, err = newDomainSet("internal_domains", cfg.InternalDomains); err != nil {
		return nil, err
	}
	if p.secureChannel, err = newDomainSet("secure_channel_domains", cfg.SecureChannelDomains); err != nil {
		return nil, err
	}
	if p.forcedTLS, err = newDomainSet("forced_tls_domains", cfg.ForcedTLSDomains); err != nil {
		return nil, err
	}
	return p, nil
}

// Decision is what happens to one recipient, with the reason in words for the
// help desk, and the subject that recipient will see.
type Decision struct {
	Recipient string `json:"recipient"`
	Action    Action `json:"action"`
	Reason    string `json:"reason"`
	Subject   string `json:"subject"`
}

// Result is the decision for a whole message.
type Result struct {
	// Triggered says whether the subject asked for sealing, and Rule which rule.
	Triggered bool
	Rule      string
	// Subject is the decoded subject; Clean is the subject without its trigger,
	// which envelopes and notifications show.
	Subject, Clean string
	// Secure says the message answers a sealed one (sticky threads).
	Secure bool
	// Content names the content rule that sealed the message, if one did.
	Content   *ContentMatch
	Decisions []Decision
}

// Input is a message to decide on: its envelope and the header fields the
// rules read, as written.
type Input struct {
	Sender     string
	Recipients []string
	Subject    string
	// InReplyTo and References name the messages this one answers.
	InReplyTo, References string
	// Message is the whole message, header and body, for the content rules;
	// nil skips them.
	Message []byte
}

// ReasonSecureThread is the reason a reply in a secure conversation is sealed.
const ReasonSecureThread = "reply in a secure conversation"

// Evaluate decides for each recipient of a message: the subject's triggers,
// and the thread it belongs to. The gateway and `waxseal policy` both call it.
// An error (the thread store did not answer) means no decision could be made:
// the gateway answers with a temporary failure rather than guess.
func (p *Policy) Evaluate(ctx context.Context, in Input) (Result, error) {
	r := p.Decide(in.Sender, in.Recipients, in.Subject)
	if r.Triggered || !slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Action == Plain && !p.Internal(d.Recipient) }) {
		return r, nil // nothing a thread could change
	}
	seal := func(reason string) {
		for i, d := range r.Decisions {
			if d.Action == Plain && !p.Internal(d.Recipient) {
				r.Decisions[i].Action, r.Decisions[i].Reason = Envelope, "external recipient, "+reason
			}
		}
	}
	ids := ThreadIDs(in.InReplyTo, in.References)
	secure := slices.ContainsFunc(ids, p.ids.Recognises)
	if !secure && p.threads != nil && len(ids) > 0 {
		var err error
		if secure, err = p.threads.ThreadSealed(ctx, ids); err != nil {
			return r, fmt.Errorf("secure thread lookup: %w", err)
		}
	}
	if secure {
		r.Secure = true
		seal(ReasonSecureThread)
		return r, nil
	}
	if in.Message != nil {
		if m := p.content.Scan(in.Subject, in.Message); m != nil {
			r.Content = m
			seal(fmt.Sprintf("content rule %q", m.Rule))
		}
	}
	return r, nil
}

// NewMessageID returns a Message-ID (without angle brackets) for a sealed
// message the gateway writes, recognised as part of a secure conversation.
func (p *Policy) NewMessageID(host string) string { return p.ids.New(host) }

// Internal reports whether addr is in an internal domain (or has no domain, and
// so is delivered locally by the MTA).
func (p *Policy) Internal(addr string) bool {
	d := domainOf(addr)
	return d == "" || p.internal.has(d)
}

// Decide decides for each recipient of a message from sender whose Subject header
// is rawSubject (as written, RFC 2047 encoded words allowed). Recipients keep
// their order; the caller removes repeats.
func (p *Policy) Decide(sender string, recipients []string, rawSubject string) Result {
	subject := DecodeSubject(rawSubject)
	m := p.triggers.MatchRaw(rawSubject)
	r := Result{Triggered: m.Triggered, Rule: m.Rule, Subject: subject, Clean: m.Subject}
	for _, rcpt := range recipients {
		r.Decisions = append(r.Decisions, p.decide(rcpt, m, subject))
	}
	return r
}

func (p *Policy) decide(rcpt string, m Match, subject string) Decision {
	d := Decision{Recipient: rcpt, Subject: subject}
	dom := domainOf(rcpt)
	switch {
	case dom == "":
		d.Action, d.Reason = Plain, "no domain: delivered locally by the mail system"
	case p.internal.has(dom):
		d.Action, d.Reason = Plain, fmt.Sprintf("internal domain %s: never sealed", p.internal.match(dom))
	case p.secureChannel.has(dom):
		d.Action, d.Reason = TLS, fmt.Sprintf("secure-channel domain %s: relayed unchanged over required TLS", p.secureChannel.match(dom))
	case p.forcedTLS.has(dom):
		d.Action, d.Reason = TLS, fmt.Sprintf("forced-TLS domain %s: relayed unchanged over required TLS", p.forcedTLS.match(dom))
	case m.Triggered:
		d.Action, d.Reason, d.Subject = Envelope, "external recipient, subject triggered by "+m.Rule, m.Subject
	default:
		d.Action, d.Reason = Plain, "external recipient, no trigger in the subject"
	}
	return d
}

// domainOf returns the lowercase domain of an address, "" if it has none.
func domainOf(addr string) string {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
}

// domainSet matches a domain and its subdomains.
type domainSet []string

func newDomainSet(name string, list []string) (domainSet, error) {
	var s domainSet
	for _, d := range list {
		d = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "."), ".")
		if d == "" || strings.ContainsAny(d, "@ \t") {
			return nil, fmt.Errorf("%s: %q is not a domain", name, d)
		}
		s = append(s, d)
	}
	return s, nil
}

func (s domainSet) match(dom string) string {
	for _, d := range s {
		if dom == d || strings.HasSuffix(dom, "."+d) {
			return d
		}
	}
	return ""
}

func (s domainSet) has(dom string) bool { return s.match(dom) != "" }
