package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/httpapi"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/locale"
)

func cmdKeyserver(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keyserver", "keyserver --config FILE [--listen ADDR]", stderr)
	cfgPath := fs.String("config", "", "path to waxseal.toml (required)")
	listen := fs.String("listen", "", "listen address (default: the config's listen)")
	fc, err := parseConfigFlags(fs, cfgPath, args)
	if err != nil {
		return err
	}
	if *listen != "" {
		fc.Listen = *listen
	}
	return runKeyServer(ctx, fc, stderr, func(ctx context.Context, addr net.Addr) error {
		fmt.Fprintf(stdout, "keyserver listening on http://%s (public URL %s)\n", addr, fc.PublicURL)
		return nil
	})
}

// runKeyServer runs a key server until SIGTERM or an interrupt, logging JSON to
// logs. Once it listens, ready is called; an error from ready stops the server.
func runKeyServer(ctx context.Context, fc *fileConfig, logs io.Writer, ready func(context.Context, net.Addr) error) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	ks, err := openKeyServer(fc, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		return err
	}
	defer ks.close()
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- ks.serve(ctx, ln) }()
	if err := ready(ctx, ln.Addr()); err != nil {
		stop()
		<-errc
		return err
	}
	return <-errc
}

// keyServerProcess is a running key server: service, store, mail drainer, sweeper.
type keyServerProcess struct {
	svc     *keyserver.Service
	store   keyserver.Store
	drainer *mailer.Drainer
	log     *slog.Logger
}

func openKeyServer(fc *fileConfig, log *slog.Logger) (*keyServerProcess, error) {
	// The brand first: an unreadable colour or a refused logo stops start-up
	// with the setting's name, before anything is opened.
	b, err := fc.loadBrand()
	if err != nil {
		return nil, err
	}
	from, err := fc.systemSender()
	if err != nil {
		return nil, err
	}
	master, err := keyserver.LoadMasterKey(fc.path(fc.MasterKeyFile))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(fc.path(fc.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := openStore(context.Background(), fc, false, log)
	if err != nil {
		return nil, err
	}
	node, holdBytes := nodeSettings(fc)
	if holdBytes < 0 && fc.Limits.PostedHoldMB >= 0 {
		log.Info("posted-envelope hold off on PostgreSQL: pages carry posted envelopes themselves ([store] node_hold = true behind a sticky load balancer)", "node", node)
	}
	locales, err := locale.Load(filepath.Join(fc.path(fc.DataDir), "locales"))
	if err != nil {
		return nil, err
	}
	tz := time.UTC
	if fc.TimeZone != "" {
		if tz, err = time.LoadLocation(fc.TimeZone); err != nil {
			return nil, fmt.Errorf("time_zone: %w", err)
		}
	}
	svc, err := keyserver.New(keyserver.Config{
		Locales:           locales,
		DefaultLanguage:   fc.DefaultLanguage,
		TimeZone:          tz,
		Node:              node,
		PublicURL:         fc.PublicURL,
		MasterKey:         master,
		GatewayTokens:     fc.Tokens.Gateway,
		AdminTokens:       fc.Tokens.Admin,
		MailFrom:          from,
		Brand:             b,
		OrgDomains:        fc.OrgDomains,
		TrustProxy:        fc.TrustProxy,
		CodeTTL:           fc.Limits.CodeTTL.Duration,
		SessionIdle:       fc.Limits.SessionIdle.Duration,
		SessionMax:        fc.Limits.SessionMax.Duration,
		AccountMaxIdle:    fc.Limits.AccountMaxIdle.Duration,
		PostedHoldBytes:   holdBytes,
		PostsInFlight:     fc.Limits.PostsInFlight,
		PostBytesInFlight: fc.Limits.PostMBInFlight << 20,
		PostsPerClient:    fc.Limits.PostsPerClient,
		SweepInterval:     fc.Limits.SweepInterval.Duration,
		Logger:            log,
		ReplyPublicKey:    fc.ReplyPublicKey,
		ReplyForward:      fc.replyForward(),
		ForwardDomains:    fc.forwardDomains(),
	}, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Bounds resident memory under floods of securedoc.html posts
		// (docs/BENCHMARKS.md); GOMEMLIMIT overrides it.
		debug.SetMemoryLimit(svc.MemoryBudget())
	}
	sender, err := newSender(fc)
	if err != nil {
		st.Close()
		return nil, err
	}
	drainer := mailer.NewDrainer(st, sender, mailer.DrainerConfig{
		Interval: fc.Mail.Interval.Duration,
		Logger:   log,
		OnGiveUp: func(m keyserver.OutboxMail, err error) {
			st.AppendAudit(context.Background(), []keyserver.AuditEvent{{Time: time.Now(), Actor: "system",
				Action: "mail.give_up", Detail: fmt.Sprintf("outbox mail %d to %d recipient(s): %v", m.ID, len(m.To), err)}})
		},
	})
	svc.OnMailQueued(drainer.Kick)
	return &keyServerProcess{svc: svc, store: st, drainer: drainer, log: log}, nil
}

func newSender(fc *fileConfig) (mailer.Sender, error) {
	switch fc.Mail.Mode {
	case "dir":
		return mailer.NewDir(fc.path(fc.Mail.Dir))
	case "smtp":
		return mailer.NewSMTP(mailer.SMTPConfig{Host: fc.Mail.SMTPHost, Port: fc.Mail.SMTPPort, TLS: mailer.TLSMode(fc.Mail.SMTPTLS),
			Username: fc.Mail.SMTPUsername, Password: fc.Mail.SMTPPassword})
	}
	return nil, fmt.Errorf("mail mode %q: want dir or smtp", fc.Mail.Mode)
}

// serve runs the HTTP server, the mail drainer and the sweeper until ctx ends, then
// shuts down gracefully.
func (p *keyServerProcess) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           httpapi.New(p.svc),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	// The store is closed once serve returns, so the drainer and the sweeper must
	// have stopped by then: a sweep or an outbox update cut off by Close loses its
	// work. The deferred cancel runs first, for when Serve fails on its own.
	var workers sync.WaitGroup
	defer workers.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One node of those on a database sweeps and drains the outbox at a time
	// (on bbolt and SQLite, one process serves the database: it always leads).
	workers.Go(func() {
		p.svc.RunAsLeader(ctx, leaderInterval, func(ctx context.Context) {
			var lead sync.WaitGroup
			lead.Go(func() { p.drainer.Run(ctx) })
			lead.Go(func() { p.svc.RunSweeper(ctx) })
			lead.Wait()
		})
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// leaderInterval is how often a node tries to take the lead, and the leader
// checks it still has it: a dead leader's work is taken over within about this.
const leaderInterval = 5 * time.Second

// nodeSettings returns the node's name and the posted hold's size ([store]
// node and node_hold): on PostgreSQL the node is named after the host unless
// named, and the hold is off unless node_hold is set.
func nodeSettings(fc *fileConfig) (string, int64) {
	hold := fc.Limits.PostedHoldMB << 20
	sc := storeConfig{}
	if fc.Store != nil {
		sc = *fc.Store
	}
	node := sc.Node
	if sc.Driver == "postgres" {
		if node == "" {
			node, _ = os.Hostname()
		}
		if !sc.NodeHold {
			hold = -1
		}
	}
	return node, hold
}

// close closes the store once the codes being mailed are written.
func (p *keyServerProcess) close() {
	p.svc.Wait()
	p.store.Close()
}
