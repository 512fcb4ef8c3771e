// Package server is the sending gateway: the SMTP service an organisation's MTA
// hands outbound mail to. Per recipient it relays the message as it is, relays it
// over TLS that must succeed, or seals it into an envelope of the recipient's own
// (registering the keys with the key server in one batch), then tells the sender.
//
// A 250 is given only once every copy was accepted by the next hop or lies in the
// durable spool; a triggered message never leaves in plaintext for an external
// recipient: every message passes one check (Gateway.relay) that re-reads its own
// Subject and refuses what the policy says must be sealed.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"os"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/locale"
	"github.com/waxseal/waxseal/server/policy"
	"github.com/waxseal/waxseal/server/spool"
)

// Registrar registers envelope keys with the key server; *client.Client is one.
type Registrar interface {
	RegisterEnvelopes(ctx context.Context, regs []client.Registration) error
}

// LanguageLookup tells the recipients' saved languages (*client.Client is
// one). A Registrar that is one is asked, beside the registration, in which
// language to write each recipient's wrapper mail and securedoc.html; one
// that is not gets them in the organisation's default language.
type LanguageLookup interface {
	SavedLanguages(ctx context.Context, addrs []string) (map[string]string, error)
}

// Defaults.
const (
	DefaultMaxMessageBytes    = 10 << 20
	DefaultMaxAttachmentBytes = 15 << 19 // 7.5 MB
	DefaultRegisterTimeout    = 20 * time.Second
	DefaultExpires            = 30 * 24 * time.Hour
	DefaultMaxRecipients      = 500
)

// DefaultHostname is the name a gateway gives when none is configured: the
// system's host name.
func DefaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// Config configures a Gateway. Zero fields take the defaults given.
type Config struct {
	// Hostname is the gateway's name in its greeting and Received headers;
	// default DefaultHostname(). (The relay has its own, RelayConfig.HELOName.)
	Hostname string
	// ClientNetworks may submit without authenticating (the MTA that hands mail
	// over). Others must authenticate with Users, if any are configured, and are
	// refused otherwise.
	ClientNetworks []netip.Prefix
	// Users holds SMTP AUTH PLAIN credentials: user name → "sha256:" + hex
	// SHA-256 of the password. AUTH is offered only over TLS.
	Users map[string]string
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config

	Relay  Relay
	Policy *policy.Policy
	// KeyServer registers envelopes; KeyServerURL is the key server's public
	// origin, written into every envelope.
	KeyServer       Registrar
	KeyServerURL    string
	RegisterTimeout time.Duration
	// Expires is how long an envelope can be opened; default 30 days.
	Expires time.Duration
	// Online also stores each envelope's ciphertext at the key server, for the
	// "open online" link in the notice.
	Online bool
	// SentAttachmentNames also registers the message's attachment names, which
	// the sender's Sent items then show. Off by default: the names are content
	// (docs/THREAT_MODEL.md), and the key server otherwise holds none. When on,
	// the body is walked before registration rather than during it.
	SentAttachmentNames bool
	// Threads, if set, remembers the Message-IDs of every sealed message (the
	// original's and its wrapper mails'), for ThreadTTL (0: the key server's
	// default), so that replies to them are sealed too; the policy's
	// ThreadStore looks them up. Nothing sealed leaves before they are held.
	Threads   ThreadRecorder
	ThreadTTL time.Duration

	MaxMessageBytes    int64
	MaxAttachmentBytes int64
	MaxRecipients      int
	// MaxConcurrent bounds the messages processed at once (default 8): a 10 MB
	// message to ten recipients takes a few hundred MB while it is sealed. A
	// message that finds no slot within BusyWait (default 2m) gets a 451.
	MaxConcurrent int
	BusyWait      time.Duration
	// RelayConcurrency bounds the copies of one message relayed at once
	// (default 10): 20 recipients on a next hop that takes a minute per copy
	// keep the client waiting two minutes, not twenty.
	RelayConcurrency int
	// ShutdownGrace is how long, once Serve's context ends, messages in progress
	// may take to finish (default 1m); then what they wait for is cancelled.
	ShutdownGrace time.Duration

	// Spool keeps deliveries the next hop did not take at once. Without one a
	// relay failure is answered 451 and the client keeps the message.
	Spool *spool.Spool
	// Retries: first wait, doubled up to the maximum; given up (with a
	// non-delivery notice to the sender) after GiveUpAfter. Defaults 30s, 1h, 48h;
	// the spool is looked at every RetryInterval (default 5s).
	RetryFirst, RetryMax, GiveUpAfter, RetryInterval time.Duration

	// ReplyPublicKey, if set, is the organisation's reply public key: every
	// envelope's registration then carries its reply context, sealed to it
	// (replies.go), so that recipients can reply all and replies thread.
	ReplyPublicKey *[32]byte

	// WrapperReplyTo, if set, is the Reply-To of every wrapper mail (an RFC 5322
	// address, "Name <addr>" or addr): where a recipient's reply from their mail
	// client goes instead of the sender, in plaintext (docs/DEPLOY.md).
	WrapperReplyTo string

	// NotifyFrom is the From of confirmations and notices: the organisation's
	// one sender identity for system mail, which the key server uses too
	// (docs/DEPLOY.md); default "waxseal <postmaster@HOSTNAME>".
	NotifyFrom string

	// Brand is the organisation's: its name, help desk and footer end every
	// notice and wrapper mail, and securedoc.html shows them with its logo.
	Brand *brand.Brand

	// Language is the organisation's default language (default_language):
	// notices to senders speak it, and so do wrapper mails and securedoc.html
	// for a recipient without a saved language. nil: the shipped English.
	Language *locale.Locale
	// Locales are the catalogs a recipient's saved language is looked up in
	// (with data_dir/locales' additions); nil: the shipped ones.
	Locales *locale.Catalogs
	// TimeZone is the zone notices write times in (time_zone); nil: UTC.
	TimeZone *time.Location

	Logger *slog.Logger
	Now    func() time.Time
}

// ThreadRecorder remembers sealed messages' Message-IDs (the key server's
// thread API, keyserver/client).
type ThreadRecorder interface {
	RememberThread(ctx context.Context, ids []string, ttl time.Duration) error
}

// Gateway is the sending gateway. Serve runs its SMTP server; Process handles one
// message, for tests and tools that have it in hand.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	policy *policy.Policy
	kick   chan struct{}
	slots  chan struct{}
	// wrapperReplyTo is Config.WrapperReplyTo parsed; nil when unset.
	wrapperReplyTo *mail.Address
	// notifyFrom is Config.NotifyFrom parsed: the organisation's system sender.
	notifyFrom *mail.Address
	// words are securedoc.html's sentences, by language code.
	words map[string]*envelope.Words
	// reports are delivery states on their way to the key server
	// (deliveryreports.go).
	reports *reportQueue
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Gateway, error) {
	if cfg.Relay == nil {
		return nil, errors.New("gateway: no relay")
	}
	if cfg.Policy == nil {
		return nil, errors.New("gateway: no policy")
	}
	if cfg.KeyServer == nil || cfg.KeyServerURL == "" {
		return nil, errors.New("gateway: no key server")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = DefaultHostname()
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = DefaultRegisterTimeout
	}
	if cfg.Expires <= 0 {
		cfg.Expires = DefaultExpires
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxAttachmentBytes <= 0 {
		cfg.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8
	}
	if cfg.RelayConcurrency <= 0 {
		cfg.RelayConcurrency = 10
	}
	if cfg.BusyWait <= 0 {
		cfg.BusyWait = 2 * time.Minute
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = time.Minute
	}
	if cfg.RetryFirst <= 0 {
		cfg.RetryFirst = 30 * time.Second
	}
	if cfg.RetryMax < cfg.RetryFirst {
		cfg.RetryMax = max(time.Hour, cfg.RetryFirst)
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 48 * time.Hour
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	var replyTo *mail.Address
	if cfg.WrapperReplyTo != "" {
		a, err := mail.ParseAddress(cfg.WrapperReplyTo)
		if err != nil {
			return nil, fmt.Errorf("gateway: wrapper Reply-To %q: %w", cfg.WrapperReplyTo, err)
		}
		replyTo = a
	}
	if cfg.NotifyFrom == "" {
		cfg.NotifyFrom = "waxseal <postmaster@" + cfg.Hostname + ">"
	}
	notifyFrom, err := mail.ParseAddress(cfg.NotifyFrom)
	if err != nil {
		return nil, fmt.Errorf("gateway: notify_from %q: %w", cfg.NotifyFrom, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Locales == nil {
		c, err := locale.Load("")
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		cfg.Locales = c
	}
	if cfg.Language == nil {
		cfg.Language = cfg.Locales.Default()
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, policy: cfg.Policy, kick: make(chan struct{}, 1),
		slots: make(chan struct{}, cfg.MaxConcurrent), wrapperReplyTo: replyTo, notifyFrom: notifyFrom, reports: newReportQueue()}
	g.words = map[string]*envelope.Words{cfg.Language.Code(): g.securedocWords(cfg.Language)}
	for _, l := range cfg.Locales.Languages() {
		if g.words[l.Code()] == nil {
			g.words[l.Code()] = g.securedocWords(l)
		}
	}
	if err := securedocBudget(cfg.Brand, g.words); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return g, nil
}

// securedocBudget refuses a brand that would grow securedoc.html past
// brand.SecuredocBudget in one of the languages the gateway writes it in:
// brand.Load counted the growth in English, and a language's words for "Help
// desk" and "Privacy notice" (shipped, or an organisation's) may be longer.
func securedocBudget(b *brand.Brand, words map[string]*envelope.Words) error {
	sd := b.Securedoc()
	if sd == nil {
		return nil
	}
	for code, w := range words {
		if n := envelope.BrandingSizeIn(sd, w); n > brand.SecuredocBudget {
			return fmt.Errorf("[brand]: securedoc.html in %s would grow by %d bytes with this logo and these texts, more than %d: use a smaller logo or shorter texts", code, n, brand.SecuredocBudget)
		}
	}
	return nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Inbound is one message as received: the SMTP envelope, the data, and where it
// came from (for the Received header).
type Inbound struct {
	ID   string
	From string   // MAIL FROM; "" for the null sender
	To   []string // RCPT TO, without repeats
	// Submitter is who submitted the message: the SMTP AUTH identity when it is
	// an address, else the MAIL FROM (a trusted client network, or a client
	// authenticated as a system, vouches for it). The key server's sender of its
	// envelopes: Sent items, read receipts and the sender's revoke right. ""
	// (the null sender) falls back to the From header.
	Submitter string
	Data      []byte
	// Client and HELO describe the submitting host; Protocol is ESMTP, ESMTPS …
	Client, HELO, Protocol string
	// SealExternal seals the copy of every external recipient the policy would
	// send in plaintext, trigger or not: a recipient's secure reply (replies.go).
	SealExternal bool
}

// SMTPError is a reply for the SMTP client.
type SMTPError struct {
	Code     int
	Enhanced [3]int
	Message  string
}

func (e *SMTPError) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}

func tempFail(enh [3]int, format string, args ...any) *SMTPError {
	return &SMTPError{451, enh, fmt.Sprintf(format, args...)}
}
