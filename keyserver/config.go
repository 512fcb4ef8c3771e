package keyserver

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/locale"
)

// Config is everything a Service needs; cmd/waxseal fills it from the config file.
type Config struct {
	// PublicURL is the origin recipients use, such as https://keys.example.org. It
	// decides the cookie name and flags and which Origin headers are accepted.
	PublicURL string
	// MasterKey wraps every k_srv at rest. It lives in a file outside the database.
	MasterKey [MasterKeySize]byte
	// GatewayTokens and AdminTokens are hashes of the bearer tokens (HashToken).
	GatewayTokens []string
	AdminTokens   []string
	// MailFrom is the From of codes and receipts: the organisation's one sender
	// identity for system mail, which the gateway uses too (docs/DEPLOY.md).
	MailFrom string
	// Brand is the organisation's name, logo, colour and help desk, shown on
	// every page and at the end of every mail; nil: none.
	Brand *brand.Brand
	// Locales are the message catalogs of pages and mail (package locale); nil:
	// the shipped ones. DefaultLanguage is the organisation's language, for
	// people whose browser asks for none offered (default "en").
	Locales         *locale.Catalogs
	DefaultLanguage string
	// TimeZone is the organisation's, for times in mail (default UTC).
	TimeZone *time.Location
	// OrgDomains are the organisation's own mail domains: their accounts are senders.
	OrgDomains []string
	// NoPasswords says this server does not use passwords (the Worker, where an
	// argon2id hash costs 67–250 ms of CPU): the pages offer no password field
	// and say nothing of passwords; sign-in is by passkey or emailed code. The
	// password routes themselves are refused by the Worker in front.
	NoPasswords bool
	// TrustProxy takes the client address from X-Forwarded-For (behind a proxy).
	TrustProxy bool

	CodeTTL        time.Duration // default 10 minutes
	CodeAttempts   int           // default 5
	SessionIdle    time.Duration // default 30 minutes
	SessionMax     time.Duration // default 12 hours
	AccountMaxIdle time.Duration // default 365 days
	MinPasswordLen int           // default 10
	Argon2         Argon2Params
	LockoutAfter   int           // consecutive failures before backoff, default 5
	LockoutMax     time.Duration // longest backoff, default 1 hour
	SignInPerIP    RateLimit     // default 20, then 1 per 6s
	SignInPerEmail RateLimit     // default 10, then 1 per 30s
	CodesPerEmail  RateLimit     // codes mailed to one address: default 5, then 1 per 2 min
	// CodesPerDay and CodeGuessesPerDay are the daily allowances per address of
	// codes mailed (default 20, then 1 per 72 min) and of wrong codes tried, over
	// all its codes (default 10, then 1 per 144 min); docs/THREAT_MODEL.md.
	CodesPerDay       RateLimit
	CodeGuessesPerDay RateLimit
	SweepInterval     time.Duration // expiry sweeper, default 1 minute
	MaxPayloadBytes   int64         // per stored envelope payload and per uploaded ciphertext, default 20 MB
	// PostedHoldBytes bounds the memory holding envelopes posted by securedoc.html
	// files until their open page fetches them (posted.go): default 64 MB; negative
	// disables the hold, and pages then carry the posted fields themselves.
	PostedHoldBytes int64
	PostedHoldTTL   time.Duration // default 15 minutes
	// PostsInFlight and PostBytesInFlight bound the securedoc.html form posts read
	// at once (postedform.go): default 16 posts and 80 MB of request bodies (a post
	// of unknown length counts as the largest allowed). A client (IPv4 /24, IPv6
	// /64) may have PostsPerClient posts (default 2) and half the bytes in flight.
	PostsInFlight     int
	PostBytesInFlight int64
	PostsPerClient    int
	CeremonyTTL       time.Duration // how long a passkey prompt may take, default 5 minutes
	CeremoniesPerIP   RateLimit     // passkey ceremonies begun per client: default 60, then 1 per second
	RepliesPerAccount RateLimit     // secure replies stored per account: default 20, then 1 per 3 minutes
	// MaxCeremonies bounds the passkey ceremonies in progress at once, from all
	// clients together (each is a stored record for CeremonyTTL): default 10,000.
	MaxCeremonies int

	// Node names this key server node in its metrics (a node="…" label) and
	// logs, when several share one database; "" adds no label.
	Node string

	Logger *slog.Logger
	Now    func() time.Time

	// ReplyPublicKey is the organisation's reply public key (unpadded
	// base64url, envelope/reply), which the message page seals replies to; ""
	// turns secure replies off in the page. ReplyForward is the gateway's
	// forward policy ("none", "organisation", "any"; default "organisation"),
	// so that the page offers Forward only where it is allowed.
	ReplyPublicKey string
	ReplyForward   string
	// ForwardDomains are the organisation's own domains for the forward
	// policy "organisation" (the gateway's internal_domains); default
	// OrgDomains.
	ForwardDomains []string
}

func (c *Config) setDefaults() error {
	origin, err := envelope.Origin(c.PublicURL)
	if err != nil {
		return fmt.Errorf("public url: %w", err)
	}
	c.PublicURL = origin
	if c.Locales == nil {
		if c.Locales, err = locale.Load(""); err != nil {
			return err
		}
	}
	if c.TimeZone == nil {
		c.TimeZone = time.UTC
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = locale.Default
	}
	if l := c.Locales.Supported(c.DefaultLanguage); l == "" {
		return fmt.Errorf("default_language %q: no catalog for it", c.DefaultLanguage)
	} else {
		c.DefaultLanguage = l
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.CodeTTL, 10*time.Minute)
	def(&c.SessionIdle, 30*time.Minute)
	def(&c.SessionMax, 12*time.Hour)
	def(&c.AccountMaxIdle, 365*24*time.Hour)
	def(&c.LockoutMax, time.Hour)
	def(&c.SweepInterval, time.Minute)
	def(&c.CeremonyTTL, 5*time.Minute)
	if c.RepliesPerAccount == (RateLimit{}) {
		c.RepliesPerAccount = RateLimit{Burst: 20, Every: 3 * time.Minute}
	}
	if c.CeremoniesPerIP == (RateLimit{}) {
		c.CeremoniesPerIP = RateLimit{Burst: 60, Every: time.Second}
	}
	if c.MaxCeremonies == 0 {
		c.MaxCeremonies = 10000
	}
	if c.CodeAttempts == 0 {
		c.CodeAttempts = 5
	}
	if c.MinPasswordLen == 0 {
		c.MinPasswordLen = 10
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	if c.LockoutAfter == 0 {
		c.LockoutAfter = 5
	}
	if c.SignInPerIP == (RateLimit{}) {
		c.SignInPerIP = RateLimit{Burst: 20, Every: 6 * time.Second}
	}
	if c.SignInPerEmail == (RateLimit{}) {
		c.SignInPerEmail = RateLimit{Burst: 10, Every: 30 * time.Second}
	}
	if c.CodesPerEmail == (RateLimit{}) {
		c.CodesPerEmail = RateLimit{Burst: 5, Every: 2 * time.Minute}
	}
	if c.CodesPerDay == (RateLimit{}) {
		c.CodesPerDay = RateLimit{Burst: 20, Every: 72 * time.Minute}
	}
	if c.CodeGuessesPerDay == (RateLimit{}) {
		c.CodeGuessesPerDay = RateLimit{Burst: 10, Every: 144 * time.Minute}
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = 20 << 20
	}
	if c.PostedHoldBytes == 0 {
		c.PostedHoldBytes = 64 << 20
	}
	if c.PostsInFlight == 0 {
		c.PostsInFlight = 16
	}
	if c.PostBytesInFlight == 0 {
		c.PostBytesInFlight = 80 << 20
	}
	if c.PostsPerClient == 0 {
		c.PostsPerClient = 2
	}
	def(&c.PostedHoldTTL, 15*time.Minute)
	switch c.ReplyForward {
	case "":
		c.ReplyForward = ForwardOrganisation
	case ForwardNone, ForwardOrganisation, ForwardAny:
	default:
		return fmt.Errorf("reply forward policy %q: want none, organisation or any", c.ReplyForward)
	}
	if len(c.ForwardDomains) == 0 {
		c.ForwardDomains = c.OrgDomains
	}
	if c.MailFrom == "" {
		u, _ := url.Parse(origin)
		c.MailFrom = "waxseal <noreply@" + u.Hostname() + ">"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
