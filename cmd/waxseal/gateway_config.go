package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server"
	"github.com/waxseal/waxseal/server/policy"
)

// gatewayConfig is waxseal.toml's [gateway] section (docs/DEPLOY.md).
type gatewayConfig struct {
	Listen         []string          `toml:"listen"`
	Hostname       string            `toml:"hostname"`
	ClientNetworks []string          `toml:"client_networks"`
	TLSCert        string            `toml:"tls_cert"`
	TLSKey         string            `toml:"tls_key"`
	Users          map[string]string `toml:"users"`

	// ReplyMarkers and SubjectTags may stand before a trigger prefix without
	// hiding it; a missing list takes the defaults, an empty one none.
	ReplyMarkers *[]string `toml:"reply_markers"`
	SubjectTags  *[]string `toml:"subject_tags"`

	InternalDomains      []string `toml:"internal_domains"`
	SecureChannelDomains []string `toml:"secure_channel_domains"`
	ForcedTLSDomains     []string `toml:"forced_tls_domains"`

	EnvelopeLifetime duration `toml:"envelope_lifetime"`
	Online           *bool    `toml:"online"`
	// SentAttachmentNames registers attachment names for senders' Sent items
	// (server.Config.SentAttachmentNames); off by default.
	SentAttachmentNames  bool   `toml:"sent_attachment_names"`
	SpoolDir             string `toml:"spool_dir"`
	NotifyFrom           string `toml:"notify_from"`
	WrapperReplyTo       string `toml:"wrapper_reply_to"` // Reply-To of wrapper mails; none by default
	DrainKeyServerOutbox bool   `toml:"drain_keyserver_outbox"`
	// ThreadRetention is how long the Message-IDs of sealed messages are
	// remembered, so that replies to them are sealed too; default 400 days.
	ThreadRetention duration `toml:"thread_retention"`

	// Forward is where recipients' secure forwards may go: "none",
	// "organisation" (default: internal domains only) or "any" (sealed).
	Forward string `toml:"forward"`

	Relay struct {
		Host     string `toml:"host"`
		Port     int    `toml:"port"`
		TLS      string `toml:"tls"`
		CAFile   string `toml:"ca_file"`
		Username string `toml:"username"`
		Password string `toml:"password"`
	} `toml:"relay"`

	// Phrases and Prefixes are pointers so that a missing list takes the default
	// and an empty one turns the rule set off.
	Triggers struct {
		Phrases  *[]string `toml:"phrases"`
		Prefixes *[]string `toml:"prefixes"`
	} `toml:"triggers"`

	// Content rules seal mail that carries protected data without a trigger;
	// none by default.
	Content struct {
		MaxScanBytes int64                `toml:"max_scan_bytes"`
		Rules        []policy.ContentRule `toml:"rules"`
	} `toml:"content"`

	Limits struct {
		MaxMessageBytes    int64 `toml:"max_message_bytes"`
		MaxAttachmentBytes int64 `toml:"max_attachment_bytes"`
		MaxRecipients      int   `toml:"max_recipients"`
		MaxConcurrent      int   `toml:"max_concurrent"`
	} `toml:"limits"`

	KeyServer struct {
		URL       string   `toml:"url"`
		Token     string   `toml:"token"`
		TokenFile string   `toml:"token_file"`
		Timeout   duration `toml:"timeout"`
	} `toml:"keyserver"`

	Retry struct {
		First    duration `toml:"first"`
		Max      duration `toml:"max"`
		GiveUp   duration `toml:"give_up"`
		Interval duration `toml:"interval"`
	} `toml:"retry"`
}

// gatewayPolicy builds the routing policy from the config: the gateway and
// `waxseal policy` both get it here, so they cannot disagree.
// threads is the secure-thread store (the key server's thread API) and token
// the gateway token whose key marks the gateways' own Message-IDs; either may
// be empty where nothing is looked up.
func gatewayPolicy(fc *fileConfig, threads policy.ThreadStore, token string) (*policy.Policy, error) {
	gc := fc.Gateway
	phrases, prefixes := policy.DefaultPhrases, policy.DefaultPrefixes
	if gc.Triggers.Phrases != nil {
		phrases = *gc.Triggers.Phrases
	}
	if gc.Triggers.Prefixes != nil {
		prefixes = *gc.Triggers.Prefixes
	}
	markers, tags := policy.DefaultReplyMarkers, policy.DefaultSubjectTags
	if gc.ReplyMarkers != nil {
		markers = *gc.ReplyMarkers
	}
	if gc.SubjectTags != nil {
		tags = *gc.SubjectTags
	}
	tr, err := policy.NewTriggersWith(phrases, prefixes, markers, tags)
	if err != nil {
		return nil, fmt.Errorf("gateway triggers: %w", err)
	}
	content, err := policy.NewContentRules(gc.Content.Rules, gc.Content.MaxScanBytes)
	if err != nil {
		return nil, fmt.Errorf("gateway content: %w", err)
	}
	internal := gc.InternalDomains
	if internal == nil {
		internal = fc.OrgDomains
	}
	p, err := policy.New(policy.Config{InternalDomains: internal, SecureChannelDomains: gc.SecureChannelDomains,
		ForcedTLSDomains: gc.ForcedTLSDomains, Triggers: tr, Threads: threads, IDs: policy.NewIDMinter(token), Content: content})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return p, nil
}

// gatewayToken reads the gateway token from the config or its file.
func (fc *fileConfig) gatewayToken() (string, error) {
	gc := fc.Gateway
	if gc.KeyServer.Token != "" {
		return gc.KeyServer.Token, nil
	}
	if gc.KeyServer.TokenFile == "" {
		return "", errors.New("gateway: set keyserver.token or keyserver.token_file")
	}
	b, err := os.ReadFile(fc.path(gc.KeyServer.TokenFile))
	if err != nil {
		return "", fmt.Errorf("gateway token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// gatewayServerConfig turns the [gateway] section into server.Config, all but
// the relay, key server client and spool, which the caller opens.
func gatewayServerConfig(fc *fileConfig) (server.Config, error) {
	gc := fc.Gateway
	var cfg server.Config
	pol, err := gatewayPolicy(fc, nil, "")
	if err != nil {
		return cfg, err
	}
	origin, err := envelope.Origin(fc.PublicURL)
	if err != nil {
		return cfg, fmt.Errorf("public_url: %w", err)
	}
	b, err := fc.loadBrand()
	if err != nil {
		return cfg, err
	}
	from, err := fc.systemSender()
	if err != nil {
		return cfg, err
	}
	locales, lang, tz, err := fc.orgLanguage()
	if err != nil {
		return cfg, err
	}
	cfg = server.Config{
		Hostname:            gc.Hostname,
		Users:               gc.Users,
		Policy:              pol,
		KeyServerURL:        origin,
		RegisterTimeout:     gc.KeyServer.Timeout.Duration,
		Expires:             gc.EnvelopeLifetime.Duration,
		Online:              gc.Online == nil || *gc.Online,
		SentAttachmentNames: gc.SentAttachmentNames,
		MaxMessageBytes:     gc.Limits.MaxMessageBytes,
		MaxAttachmentBytes:  gc.Limits.MaxAttachmentBytes,
		MaxRecipients:       gc.Limits.MaxRecipients,
		MaxConcurrent:       gc.Limits.MaxConcurrent,
		RetryFirst:          gc.Retry.First.Duration,
		RetryMax:            gc.Retry.Max.Duration,
		GiveUpAfter:         gc.Retry.GiveUp.Duration,
		RetryInterval:       gc.Retry.Interval.Duration,
		NotifyFrom:          from,
		Brand:               b,
		Language:            lang,
		Locales:             locales,
		TimeZone:            tz,
		WrapperReplyTo:      gc.WrapperReplyTo,
		ThreadTTL:           gc.ThreadRetention.Duration,
	}
	nets := gc.ClientNetworks
	if nets == nil {
		nets = []string{"127.0.0.0/8", "::1/128"}
	}
	for _, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			if a, aerr := netip.ParseAddr(n); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return cfg, fmt.Errorf("gateway client_networks: %q: %w", n, err)
			}
		}
		cfg.ClientNetworks = append(cfg.ClientNetworks, p.Masked())
	}
	for u, h := range gc.Users {
		if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
			return cfg, fmt.Errorf("gateway users: %s: want \"sha256:\" and 64 hex digits", u)
		}
	}
	if (gc.TLSCert == "") != (gc.TLSKey == "") {
		return cfg, errors.New("gateway: tls_cert and tls_key go together")
	}
	if gc.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(fc.path(gc.TLSCert), fc.path(gc.TLSKey))
		if err != nil {
			return cfg, fmt.Errorf("gateway TLS certificate: %w", err)
		}
		cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

// gatewayRelay opens the next hop from [gateway.relay].
func gatewayRelay(fc *fileConfig, heloName string) (*server.SMTPRelay, error) {
	r := fc.Gateway.Relay
	if r.Host == "" {
		return nil, errors.New("gateway: relay.host is required (the MTA's re-injection port or a smarthost)")
	}
	rc := server.RelayConfig{Host: r.Host, Port: r.Port, TLS: mailer.TLSMode(r.TLS), Username: r.Username, Password: r.Password, HELOName: heloName}
	if r.CAFile != "" {
		pem, err := os.ReadFile(fc.path(r.CAFile))
		if err != nil {
			return nil, fmt.Errorf("gateway relay ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway relay ca_file %s: no certificates", r.CAFile)
		}
		rc.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return server.NewSMTPRelay(rc)
}

// gatewayListen is where the gateway listens; default the content-filter port.
func (gc *gatewayConfig) listen() []string {
	if len(gc.Listen) == 0 {
		return []string{"127.0.0.1:10025"}
	}
	return gc.Listen
}

// gatewaySection is the commented [gateway] section `waxseal init` writes: TOML
// encoders cannot write comments, and an operator needs them here most.
func gatewaySection(orgDomains []string) string {
	internal := "[]"
	if len(orgDomains) > 0 {
		internal = `["` + strings.Join(orgDomains, `", "`) + `"]`
	}
	return `
# The sending gateway (waxseal gateway, or waxseal serve): SMTP in from your MTA,
# seals triggered mail, relays everything back out. docs/DEPLOY.md shows Postfix.
[gateway]
listen = ["127.0.0.1:10025"]             # Postfix content_filter = waxseal:[127.0.0.1]:10025
client_networks = ["127.0.0.1/32", "::1/128"]  # may submit without AUTH
# hostname = "gateway.hospital.example"  # greeting, Received headers and EHLO to the next hop; default: the host name
# tls_cert = "gateway.crt"               # enables STARTTLS
# tls_key = "gateway.key"
# users = { mta = "sha256:<hex SHA-256 of the password>" }  # SMTP AUTH PLAIN, over TLS only
internal_domains = ` + internal + `       # never sealed
secure_channel_domains = []              # relayed as they are over TLS that must succeed
forced_tls_domains = []                  # likewise
envelope_lifetime = "720h0m0s"           # how long an envelope can be opened
online = true                            # store ciphertext for the "open online" link
sent_attachment_names = false            # true: senders' Sent items list attachment names, stored at the key server (docs/THREAT_MODEL.md)
spool_dir = "spool"                      # what the next hop did not take yet (fsync'd)
# wrapper_reply_to = "Secure Mail <secure-reply@hospital.example>"  # Reply-To of wrapper mails; default none (docs/DEPLOY.md)
drain_keyserver_outbox = false           # true when the key server cannot send mail (Workers)
thread_retention = "9600h0m0s"           # 400 days: replies to a sealed message are sealed too
forward = "organisation"                 # secure forwards by recipients: none | organisation | any
# Reply/forward markers and tags before a trigger prefix do not hide it ("Re: PHI: x").
# Markers: any case, optional counter ("RE[2]:"); tags: literal, "[*]" = any [bracketed tag].
# reply_markers = ["Re", "Fwd", "Fw", "AW", "WG", "SV", "VS", "RV", "TR", "Antw", "Doorst", "Odp", "回复", "转发", "回覆", "轉寄"]
# subject_tags = ["[EXTERNAL]", "[EXT]", "*EXTERNAL*", "[*]"]

[gateway.relay]                          # the next hop: Postfix's re-injection port
host = "127.0.0.1"
port = 10026
tls = "none"                             # none | starttls (required) | tls; forced-TLS mail always requires STARTTLS
# ca_file = "relay-ca.pem"
# username = ""
# password = ""

[gateway.triggers]                       # an empty list turns a rule set off
phrases = ["send secure"]                # anywhere, any case, words joined or spaced
prefixes = ["ePHI:", "PHI:", "Secure:"]  # at the start, any case, space after the colon optional

# Content rules (off until you add one) seal mail without a trigger when its subject,
# text or HTML body or a text/* attachment holds protected data. The sender's
# confirmation names the rule (seal_and_notify), never what it matched.
# [[gateway.content.rules]]
# name = "SSN"
# kind = "ssn"                           # US Social Security number, valid ranges only
# action = "seal_and_notify"             # or "seal"
# [[gateway.content.rules]]
# name = "NPI"
# kind = "npi"                           # 10 digits, Luhn check over the 80840 prefix
# [[gateway.content.rules]]
# name = "MRN"
# kind = "regex"
# pattern = '\bMR[0-9]{7}\b'           # your MRN format (RE2 syntax)
# keywords = ["MRN", "DOB"]              # only with one of these within 40 characters
# near = 40

[gateway.limits]
max_message_bytes = 10485760             # 10 MB
max_attachment_bytes = 7864320           # 7.5 MB
max_recipients = 500
max_concurrent = 8                       # messages sealed at once; more wait, then get a 451

[gateway.keyserver]
# url = "http://127.0.0.1:8080"          # where the gateway calls the API; default public_url
token_file = "gateway.token"             # the gateway token (or token = "...")
timeout = "20s"                          # slower than this: 451, nothing sent

[gateway.retry]
first = "30s"                            # doubled after each failure
max = "1h0m0s"
give_up = "48h0m0s"                      # then a non-delivery notice to the sender
interval = "5s"
`
}
