package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/internal/address"
)

// Serve runs the SMTP server on ln until ctx ends, then shuts down: sessions in
// the middle of a message get to finish it (for up to ShutdownGrace). Then their
// context ends, so what they still wait for (the key server, the next hop) gives
// up with a temporary failure, and Serve returns once they have.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	// The sessions' lifetime: ctx's values, but it ends only after the grace.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	b := &sessions{g: g, ctx: life}
	defer b.wait()
	defer endLife()
	s := smtp.NewServer(b)
	s.Domain = g.cfg.Hostname
	// SIZE is advertised without a number, and the limit enforced here (MAIL,
	// Data): a client that knows the limit refuses an oversize message itself,
	// in its own words, and the sender's bounce would not name the secure-mail
	// limit. Postfix sends MAIL with SIZE= and bounces with our reply.
	s.MaxMessageBytes = 0
	s.MaxRecipients = g.cfg.MaxRecipients
	s.EnableSMTPUTF8 = true // 8BITMIME is always on in go-smtp
	s.TLSConfig = g.cfg.TLSConfig
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = smtpLogger{g}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("smtp serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		s.Close()
	}
	return nil
}

// sessions is the go-smtp backend of one Serve: it gives each session the
// lifetime context and counts the messages in progress, so Serve can wait for them.
type sessions struct {
	g   *Gateway
	ctx context.Context

	mu      sync.Mutex
	closing bool
	busy    sync.WaitGroup
}

func (b *sessions) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := b.g.NewSession(c)
	if s, ok := s.(*session); ok {
		s.life = b
	}
	return s, err
}

// begin counts a message in; false once Serve is waiting for the last ones.
func (b *sessions) begin() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.busy.Add(1)
	return true
}

func (b *sessions) wait() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.busy.Wait()
}

type smtpLogger struct{ g *Gateway }

func (l smtpLogger) Printf(format string, v ...any) {
	l.g.log.Warn("smtp: " + fmt.Sprintf(format, v...))
}
func (l smtpLogger) Println(v ...any) { l.g.log.Warn("smtp: " + fmt.Sprint(v...)) }

// NewSession is called at EHLO: clients outside the client networks are refused
// unless they can authenticate.
func (g *Gateway) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{g: g, conn: c, helo: c.Hostname()}
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		s.client = ap.Addr().Unmap()
	}
	s.trusted = g.trusted(s.client)
	if !s.trusted && len(g.cfg.Users) == 0 {
		g.log.Warn("connection refused", "client", s.client.String())
		return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("Your address %s may not send through this gateway", s.client)}
	}
	return s, nil
}

func (g *Gateway) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.ClientNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type session struct {
	g       *Gateway
	conn    *smtp.Conn
	client  netip.Addr
	helo    string
	trusted bool
	user    string

	from    string
	hasFrom bool
	size    int64 // SIZE= at MAIL, 0 if not given
	to      []string
	seen    map[string]bool

	life *sessions // nil for a session made without Serve
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if len(s.g.cfg.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || len(s.g.cfg.Users) == 0 {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errAuthFailed
		}
		want, ok := s.g.cfg.Users[username]
		sum := sha256.Sum256([]byte(password))
		got := "sha256:" + hex.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 || !ok {
			s.g.log.Warn("smtp auth failed", "client", s.client.String())
			return errAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

var errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if !s.trusted && s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if strings.ContainsAny(from, "\r\n") {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address"}
	}
	s.from, s.hasFrom = from, true
	s.size = 0
	if opts != nil {
		s.size = opts.Size
	}
	if s.size > s.g.cfg.MaxMessageBytes {
		rej := s.g.oversize(s.size)
		return &smtp.SMTPError{Code: rej.code, EnhancedCode: smtp.EnhancedCode(rej.enhanced), Message: rej.reason}
	}
	s.to, s.seen = nil, map[string]bool{}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.hasFrom {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"}
	}
	if to == "" || strings.ContainsAny(to, "\r\n ") || strings.Count(to, "@") > 1 {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: fmt.Sprintf("Bad recipient address %q", to)}
	}
	// The key server compares addresses by the same rule: what it would refuse
	// is refused here, at once, not answered 451 at every retry of the message.
	key, err := address.Normalize(to)
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address: " + strings.TrimPrefix(err.Error(), address.ErrInvalid.Error()+" ")}
	}
	if !s.seen[key] {
		s.seen[key] = true
		s.to = append(s.to, to)
	}
	return nil
}

func (s *session) Data(r io.Reader) error {
	ctx := context.Background()
	if s.life != nil {
		if !s.life.begin() {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down; nothing was sent, try again later"}
		}
		defer s.life.busy.Done()
		ctx = s.life.ctx
	}
	// A SIZE given at MAIL sizes the buffer at once (go-smtp refused it if over
	// the limit).
	var buf bytes.Buffer
	buf.Grow(int(min(max(s.size, 4<<10), s.g.cfg.MaxMessageBytes) + 4<<10))
	_, err := buf.ReadFrom(io.LimitReader(r, s.g.cfg.MaxMessageBytes+1))
	data := buf.Bytes()
	in := &Inbound{ID: newID(), From: s.from, To: s.to, Data: data, Client: s.client.String(), HELO: s.helo, Protocol: s.protocol(),
		Submitter: s.submitter()}
	if err == nil && int64(len(data)) > s.g.cfg.MaxMessageBytes {
		// Read the rest, only counting, to tell the sender the size; what we
		// have holds the header, enough for the bounce.
		n, cerr := io.Copy(io.Discard, r)
		if cerr != nil {
			return cerr
		}
		rej := s.g.oversize(int64(len(data)) + n)
		s.g.log.Warn("message refused", "id", in.ID, "from", in.From, "reason", rej.reason)
		s.g.bounce(ctx, in, rej)
		return &smtp.SMTPError{Code: rej.code, EnhancedCode: smtp.EnhancedCode(rej.enhanced), Message: rej.reason}
	}
	if err != nil {
		return err
	}
	// The client waits for our answer; it is bounded by the key server and relay
	// timeouts and by the gateway's shutdown, not by the client going away.
	err = s.g.Process(ctx, in)
	var se *SMTPError
	if errors.As(err, &se) {
		return &smtp.SMTPError{Code: se.Code, EnhancedCode: smtp.EnhancedCode(se.Enhanced), Message: se.Message}
	}
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Internal error; nothing was sent, try again later"}
	}
	return nil
}

// submitter is who submits the current message (see Inbound.Submitter): a user
// who authenticated with an address, whatever MAIL FROM says; otherwise MAIL
// FROM, which the client network or system account is trusted to have checked
// (Postfix: reject_sender_login_mismatch).
func (s *session) submitter() string {
	if strings.Contains(s.user, "@") {
		return s.user
	}
	return s.from
}

func (s *session) protocol() string {
	p := "ESMTP"
	if _, ok := s.conn.TLSConnectionState(); ok {
		p += "S"
	}
	if s.user != "" {
		p += "A"
	}
	return p
}

func (s *session) Reset() {
	s.from, s.hasFrom, s.to, s.seen, s.size = "", false, nil, nil, 0
}

func (s *session) Logout() error { return nil }
