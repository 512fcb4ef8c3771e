package mailer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

const (
	// TLSNone sends in plaintext; only for a relay on the same host or network.
	TLSNone TLSMode = "none"
	// TLSStartTLS upgrades a plaintext connection and fails if the server does not
	// offer STARTTLS, so that a stripped capability never leaks a code.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (submissions port 465).
	TLSImplicit TLSMode = "tls"
)

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host string
	// Port defaults to 25 for TLSNone, 587 for TLSStartTLS and 465 for TLSImplicit.
	Port int
	// TLS defaults to TLSStartTLS.
	TLS TLSMode
	// Username and Password, if Username is set, authenticate with AUTH PLAIN.
	// They are refused with TLSNone: PLAIN sends the password as it is.
	Username string
	Password string
	// HELOName is the name given in EHLO; default "localhost". With TLSStartTLS
	// go-smtp v0.25.1 always says "localhost" in the plaintext EHLO before the
	// upgrade; HELOName is used for the EHLO inside TLS, which is the one that
	// counts.
	HELOName string
	// Timeout bounds one whole Send, connection to QUIT; default 30s. It is not
	// used when Phases is set.
	Timeout time.Duration
	// Phases, if set, bounds each phase of a transaction on its own instead (RFC
	// 5321 §4.5.3.2), with no bound on the whole: a relay must wait long for the
	// reply to its end of data, or a slow next hop gets the message twice.
	Phases *PhaseTimeouts
	// TLSConfig overrides the TLS settings (tests use it to trust a self-signed
	// certificate). ServerName defaults to Host.
	TLSConfig *tls.Config
}

// PhaseTimeouts are the waits of one SMTP transaction. Zero fields take
// RFCTimeouts' values.
type PhaseTimeouts struct {
	// Connect bounds the TCP connection (and an implicit TLS handshake).
	Connect time.Duration
	// Command bounds the greeting and each command's reply (EHLO, STARTTLS,
	// AUTH, MAIL, RCPT, DATA), RFC 5321's 5 minutes.
	Command time.Duration
	// DataBlock bounds each write of the message's data: 3 minutes.
	DataBlock time.Duration
	// FinalReply bounds the wait for the reply to the end of data: 10 minutes,
	// during which the next hop may be delivering or filtering the message.
	FinalReply time.Duration
}

// RFCTimeouts are RFC 5321 §4.5.3.2's minimum timeouts (connection: 2 minutes).
var RFCTimeouts = PhaseTimeouts{Connect: 2 * time.Minute, Command: 5 * time.Minute, DataBlock: 3 * time.Minute,
	FinalReply: 10 * time.Minute}

// SMTP sends each message over its own connection to one SMTP server. The key
// server sends little mail, so a connection pool would only add failure modes.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	tls  *tls.Config
}

var _ Sender = (*SMTP)(nil)

// NewSMTP checks cfg and fills in defaults. Configuration mistakes are reported
// here rather than at Send, where they would look like a fault of each message.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp config: no host")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	defaultPort := 0
	switch cfg.TLS {
	case TLSNone:
		defaultPort = 25
	case TLSStartTLS:
		defaultPort = 587
	case TLSImplicit:
		defaultPort = 465
	default:
		return nil, fmt.Errorf("smtp config: TLS mode %q is not none, starttls or tls", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = defaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp config: bad port %d", cfg.Port)
	}
	if cfg.Username != "" && cfg.TLS == TLSNone {
		return nil, errors.New("smtp config: refusing to send a password without TLS")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("smtp config: password without username")
	}
	if cfg.HELOName == "" {
		cfg.HELOName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Phases != nil {
		p := *cfg.Phases
		p.Connect = cmp.Or(p.Connect, RFCTimeouts.Connect)
		p.Command = cmp.Or(p.Command, RFCTimeouts.Command)
		p.DataBlock = cmp.Or(p.DataBlock, RFCTimeouts.DataBlock)
		p.FinalReply = cmp.Or(p.FinalReply, RFCTimeouts.FinalReply)
		cfg.Phases = &p
	}
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		// go-smtp only fills in ServerName when it dials itself; we dial, so
		// without this the certificate would be checked against no name at all.
		tc.ServerName = cfg.Host
	}
	return &SMTP{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tls:  tc,
	}, nil
}

// Send delivers msg (a complete message with CRLF line ends) in one SMTP
// transaction. Errors wrap *PermanentError when the server refused the message
// itself with a 5xx reply.
// Addr is the server's host:port, after the defaults were applied.
func (s *SMTP) Addr() string { return s.addr }

func (s *SMTP) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return s.SendGated(ctx, from, to, msg, nil)
}

// SendGated is Send, except that once the whole message is written it calls gate
// (if not nil) and ends the data, which is when the next hop takes the message,
// only if gate returns nil. Otherwise it drops the connection without ending the
// data, so the next hop discards what it got, and returns gate's error. It lets a
// caller overlap the transfer with work the message may not be accepted before
// (the gateway's key registration).
func (s *SMTP) SendGated(ctx context.Context, from string, to []string, msg []byte, gate func(context.Context) error) error {
	if err := checkEnvelope(from, to, msg); err != nil {
		return err
	}
	var cancel context.CancelFunc
	if s.cfg.Phases == nil {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", s.addr, err)
	}
	var bc *blockConn
	if s.cfg.Phases != nil {
		bc = &blockConn{Conn: conn}
		conn = bc
	}
	// go-smtp takes no context; closing the connection is what unblocks it when
	// ctx ends (cancelled, or Timeout reached).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := s.open(conn)
	if err != nil {
		conn.Close()
		return s.fail(ctx, "setup", err, false)
	}
	defer c.Close()

	if err := s.transact(ctx, c, bc, from, to, msg, gate); err != nil {
		return err
	}
	// The message is accepted: a failed QUIT must not turn into a retry, which
	// would deliver it twice.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	if s.cfg.Phases != nil {
		d.Timeout = s.cfg.Phases.Connect
	}
	if s.cfg.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// open greets the server, sets up TLS and authenticates. Nothing in the message
// has been sent yet, so whatever fails here says nothing about the message.
func (s *SMTP) open(conn net.Conn) (*smtp.Client, error) {
	var c *smtp.Client
	if s.cfg.TLS == TLSStartTLS {
		var err error
		// Fails, having sent only EHLO, when the server offers no STARTTLS.
		c, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = s.cfg.Timeout
	if p := s.cfg.Phases; p != nil {
		c.CommandTimeout = p.Command
		// go-smtp waits SubmissionTimeout for the reply to the end of data.
		c.SubmissionTimeout = p.FinalReply
	}
	// After STARTTLS this is the EHLO inside TLS, and the handshake happens here.
	if err := c.Hello(s.cfg.HELOName); err != nil {
		c.Close()
		return nil, fmt.Errorf("hello: %w", err)
	}
	if s.cfg.Username == "" {
		return c, nil
	}
	if _, ok := c.TLSConnectionState(); !ok {
		c.Close()
		return nil, errors.New("auth: connection is not encrypted")
	}
	if !c.SupportsAuth(sasl.Plain) {
		c.Close()
		return nil, errors.New("auth: server does not offer AUTH PLAIN")
	}
	if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	return c, nil
}

// transact runs one mail transaction; bc, if not nil, is the connection under
// c (beneath TLS, if any), whose writes it bounds while the data is written.
func (s *SMTP) transact(ctx context.Context, c *smtp.Client, bc *blockConn, from string, to []string, msg []byte, gate func(context.Context) error) error {
	var opts *smtp.MailOptions
	if !isASCII(from) || !allASCII(to) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, opts); err != nil {
		return s.fail(ctx, "MAIL FROM", err, true)
	}
	for i, addr := range to {
		if err := c.Rcpt(addr, nil); err != nil {
			// The address is left out: errors end up in logs and the outbox.
			return s.fail(ctx, fmt.Sprintf("RCPT TO (recipient %d of %d)", i+1, len(to)), err, true)
		}
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(ctx, "DATA", err, true)
	}
	if bc != nil {
		bc.setBlockTimeout(s.cfg.Phases.DataBlock)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return s.fail(ctx, "DATA", err, true)
	}
	if gate != nil {
		if err := gate(ctx); err != nil {
			// No w.Close: that would end the data. Send's deferred Close drops
			// the connection instead, and the next hop discards the message.
			return fmt.Errorf("message withheld before its end of data: %w", err)
		}
	}
	// Close flushes the rest of the data and the end-of-data mark, still under
	// the block timeout, then waits for the reply under go-smtp's own deadline
	// (SubmissionTimeout, the FinalReply wait).
	err = w.Close()
	if bc != nil {
		bc.setBlockTimeout(0)
	}
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			// The end of data may have reached the next hop, which may have taken
			// the message: no reply is not a refusal.
			return &UncertainError{s.fail(ctx, "end of DATA (no reply)", err, false)}
		}
		return s.fail(ctx, "DATA", err, true)
	}
	return nil
}

// blockConn bounds each write on its own while the message's data is written
// (RFC 5321's data block timeout): go-smtp sets no deadline for those writes.
type blockConn struct {
	net.Conn
	mu    sync.Mutex
	block time.Duration
}

func (c *blockConn) setBlockTimeout(d time.Duration) {
	c.mu.Lock()
	c.block = d
	c.mu.Unlock()
	if d == 0 {
		c.Conn.SetWriteDeadline(time.Time{})
	}
}

func (c *blockConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := c.block
	c.mu.Unlock()
	if d > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(d))
	}
	return c.Conn.Write(b)
}

// fail wraps err with the stage it happened in and classifies it. Only a 5xx
// reply to the message itself (MAIL, RCPT, DATA) is permanent: a 5xx during
// greeting, STARTTLS or AUTH comes from configuration (a wrong password, a
// server that will not relay), and giving up every queued mail over it would lose
// mail that fixing the configuration would still deliver.
func (s *SMTP) fail(ctx context.Context, stage string, err error, aboutMessage bool) error {
	if ctx.Err() != nil {
		// The error is "use of closed connection"; say why it was closed.
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// go-smtp's per-command deadline, set to the same Timeout, fired just
		// before ctx's own timer did.
		err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	err = fmt.Errorf("smtp %s: %w", stage, err)
	var se *smtp.SMTPError
	if aboutMessage && errors.As(err, &se) && se.Code >= 500 && se.Code <= 599 && se.Code != 530 {
		// 530 "authentication required" is a configuration fault, see above.
		return &PermanentError{err}
	}
	return err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
