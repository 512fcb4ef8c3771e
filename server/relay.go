package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/waxseal/waxseal/keyserver/mailer"
)

// Relay hands a message to the next hop. requireTLS means the connection must be
// encrypted or nothing is sent. Errors wrap *mailer.PermanentError when the next
// hop refused the message for good (5xx); anything else may succeed later.
type Relay interface {
	Send(ctx context.Context, from string, to []string, msg []byte, requireTLS bool) error
}

// RelayConfig is the next hop: usually the MTA's re-injection port (Postfix
// content filter), or a smarthost.
type RelayConfig struct {
	Host string
	Port int
	// TLS is "none" (only for a next hop on the same host or network), "starttls"
	// (required: refuses a server without it) or "tls" (implicit, port 465).
	TLS      mailer.TLSMode
	Username string
	Password string
	// HELOName is the name the gateway gives in EHLO.
	HELOName string
	// TLSConfig sets the trusted roots for the next hop's certificate (tests, a
	// private CA); nil means the system roots.
	TLSConfig *tls.Config
	// Timeouts are the waits of each phase of a transaction; zero fields take
	// RFC 5321's (mailer.RFCTimeouts: 10 minutes for the reply to the end of
	// data). A shorter wait there would make a slow next hop get copies twice.
	Timeouts mailer.PhaseTimeouts
}

// SMTPRelay relays over SMTP with mailer.SMTP: one connection per message.
type SMTPRelay struct {
	plain, secure *mailer.SMTP
}

// NewSMTPRelay checks cfg. Messages that require TLS use STARTTLS, which must
// succeed, on the same next hop when cfg.TLS is "none".
func NewSMTPRelay(cfg RelayConfig) (*SMTPRelay, error) {
	mk := func(mode mailer.TLSMode) (*mailer.SMTP, error) {
		return mailer.NewSMTP(mailer.SMTPConfig{Host: cfg.Host, Port: cfg.Port, TLS: mode, Username: cfg.Username,
			Password: cfg.Password, HELOName: cfg.HELOName, TLSConfig: cfg.TLSConfig, Phases: &cfg.Timeouts})
	}
	if cfg.TLS == "" {
		cfg.TLS = mailer.TLSNone
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	plain, err := mk(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	secureMode := cfg.TLS
	if secureMode == mailer.TLSNone {
		secureMode = mailer.TLSStartTLS
	}
	// A password goes only over TLS: with TLS "none" the plain sender cannot carry
	// one, so the secure one does not either, for symmetry with what was set up.
	secure, err := mk(secureMode)
	if err != nil {
		return nil, fmt.Errorf("relay (TLS required): %w", err)
	}
	return &SMTPRelay{plain: plain, secure: secure}, nil
}

// Send relays one message.
func (r *SMTPRelay) Send(ctx context.Context, from string, to []string, msg []byte, requireTLS bool) error {
	if requireTLS {
		return r.secure.Send(ctx, from, to, msg)
	}
	return r.plain.Send(ctx, from, to, msg)
}

// GatedRelay is a Relay that can transfer a message while something it must wait
// for is still under way: it sends the message up to its end of data, calls
// gate, and ends the data (the moment the next hop takes the message) only if
// gate returns nil; otherwise it abandons the transaction, so that nothing is
// delivered, and returns gate's error. The gateway relays with a gate while the
// key server registers the envelopes' keys.
type GatedRelay interface {
	SendGated(ctx context.Context, from string, to []string, msg []byte, requireTLS bool, gate func(context.Context) error) error
}

// SendGated relays one message, ending its data only once gate returns nil.
func (r *SMTPRelay) SendGated(ctx context.Context, from string, to []string, msg []byte, requireTLS bool, gate func(context.Context) error) error {
	if requireTLS {
		return r.secure.SendGated(ctx, from, to, msg, gate)
	}
	return r.plain.SendGated(ctx, from, to, msg, gate)
}

// isTLSFailure reports whether a relay failed because TLS could not be had: the
// next hop offers no STARTTLS, or the handshake or certificate check failed.
// That is a fault of configuration, not a passing outage.
func isTLSFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ae tls.AlertError
		rh tls.RecordHeaderError
	)
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &ae) || errors.As(err, &rh) {
		return true
	}
	// mailer.SMTP says "smtp setup: starttls: …" when the server offers none; it
	// has no error value of its own for that.
	return strings.Contains(err.Error(), "starttls")
}
